//! The auth layer with `tracing` on: no credential in any log line,
//! `Display`, `Debug` or source chain, even when the token source's own
//! error quotes the token. Alone in its binary: tracing caches each
//! callsite's interest process-wide, and tests in other threads hitting
//! the same callsites without a subscriber would make this one miss events.
#![cfg(feature = "tracing")]

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{BoxError, ErrorBodyParseLayer};

/// `current` gives t1-s3cr3t; `refresh` answers with the function.
struct Source(fn(&Credential) -> Result<Credential, BoxError>);

impl TokenSource for Source {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Ok(Credential::new("t1-s3cr3t")?) })
    }

    fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
        Box::pin(async move { (self.0)(rejected) })
    }
}

/// A server on loopback: 401 with RFC 6750's challenge unless the
/// credential is t2, then 201.
async fn server() -> std::net::SocketAddr {
    support::serve(|request: Request<hyper::body::Incoming>| async move {
        if request.headers()["authorization"] == "Bearer t2" {
            support::response(201, &[], "created")
        } else {
            support::response(
                401,
                &[("www-authenticate", r#"Bearer error="invalid_token""#)],
                r#"{"error": "invalid_token"}"#,
            )
        }
    })
    .await
}

/// With `tracing` on, nothing shows a credential: not the logs, not the
/// errors, not their chains, even when the token source's own error
/// message contains the token (it is withheld).
#[tokio::test]
async fn no_credential_in_any_output() {
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::NONE);

    let addr = server().await;
    let mut outputs = Vec::new();
    // A source that renews once (t1-s3cr3t to t2), and one whose refresh
    // error quotes the rejected token.
    let renewing = Source(|_| Ok(Credential::new("t2")?));
    let leaky = Source(|rejected| {
        Err(format!(
            "refresh refused for {}",
            String::from_utf8_lossy(rejected.expose_secret())
        )
        .into())
    });
    for source in [renewing, leaky] {
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(AuthLayer::new(source))
            .layer(ErrorBodyParseLayer::new())
            .service(support::client::<ReplayBody<Full<Bytes>>>());
        let request = Request::get(format!("http://{addr}/me"))
            .body(Full::default())
            .unwrap();
        match client.oneshot(request).await {
            Ok(response) => outputs.push(format!("{response:?}")),
            Err(error) => {
                if let Some(unauthorized) = error.unauthorized() {
                    let source = std::error::Error::source(unauthorized).unwrap();
                    assert!(source.to_string().contains("withheld"), "{source}");
                }
                let mut next: Option<&dyn std::error::Error> = Some(&error);
                while let Some(e) = next {
                    outputs.push(format!("{e} {e:?}"));
                    next = e.source();
                }
            }
        }
    }
    let log = logs.text();
    assert!(
        log.contains("credential_rejected status=401 renewal=\"refresh\""),
        "{log}"
    );
    assert!(log.contains("credential_installed generation=2"), "{log}");
    assert!(log.contains("credential_refresh_failed"), "{log}");
    assert!(log.contains("unauthorized reason="), "{log}");
    outputs.push(log);
    for output in &outputs {
        for secret in ["t1-s3cr3t", "Bearer t2", "s3cr3t"] {
            assert!(!output.contains(secret), "{secret} leaked into: {output}");
        }
    }
}

/// `current` gives zq0-...; refresh n gives zqn-...; counts the refreshes.
#[derive(Default)]
struct Numbered(std::sync::atomic::AtomicU32);

impl TokenSource for Numbered {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Ok(Credential::new("zq0-s3cr3t-credential-0123456789")?) })
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Box::pin(async move {
            Ok(Credential::new(&format!(
                "zq{n}-s3cr3t-credential-0123456789"
            ))?)
        })
    }
}

/// An API whose 401 body echoes the bearer token it was sent in the error
/// code. The house rule: never a credential in a log line. The parse
/// layer logs its `api_error` event (with the `code`) before the auth
/// layer above scrubs what it returns, so it scrubs the credential the
/// request carried itself: under a retry layer (whose recorded copy never
/// held the auth layer's credential) and with the auth layer alone (whose
/// copy holds the first credential, not the renewed one of the re-send).
#[tokio::test]
async fn an_echoed_credential_never_reaches_the_log_through_the_parse_layer() {
    use std::sync::Arc;
    use tower::service_fn;
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::NONE);
    for with_retry in [true, false] {
        let api = service_fn(|request: Request<ReplayBody<Full<Bytes>>>| async move {
            let sent = request.headers()["authorization"].to_str().unwrap();
            let echoed = sent.trim_start_matches("Bearer ");
            let body =
                format!(r#"{{"error": {{"code": "{echoed}", "message": "Invalid token"}}}}"#);
            let response = http::Response::builder()
                .status(401)
                .body(Full::new(Bytes::from(body)));
            Ok::<_, std::convert::Infallible>(response.unwrap())
        });
        let source = Arc::new(Numbered::default());
        let auth = AuthLayer::new(source.clone());
        let request = Request::get("http://api.test/me");
        let error = if with_retry {
            ServiceBuilder::new()
                .layer(RetryLayer::new(RetryPolicy::default()))
                .layer(auth)
                .layer(ErrorBodyParseLayer::new())
                .service(api)
                .oneshot(request.body(Full::default()).unwrap())
                .await
                .unwrap_err()
        } else {
            let body = ReplayBody::new(Full::default(), 1024);
            ServiceBuilder::new()
                .layer(auth)
                .layer(ErrorBodyParseLayer::new())
                .service(api)
                .oneshot(request.body(body).unwrap())
                .await
                .unwrap_err()
        };
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("s3cr3t"), "in the error: {shown}");
        assert_eq!(source.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
    let log = logs.text();
    // Both stacks' first sends carried zq0-..., their re-sends zq1-...:
    // four api_error events, their codes scrubbed.
    let codes: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("api_error"))
        .filter_map(|line| line.split("code=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(codes.len(), 4, "{log}");
    assert!(
        codes.iter().all(|code| !code.contains("s3cr3t")),
        "credentials in the log's api_error codes: {codes:?}"
    );
    assert!(!log.contains("s3cr3t"), "{log}");
}

#[path = "support/captured_logs.rs"]
mod captured_logs;
