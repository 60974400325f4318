//! The stack as a `reqwest_middleware::Middleware` (feature
//! `reqwest-middleware`), against a real hyper server on loopback; and what
//! it does beside reqwest-retry.

mod support;

use bytes::Bytes;
use http::Request;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{error_text, response, serve};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::reqwest::{ApiErrorsMiddleware, MiddlewareErrorExt, SentTwice};
use tower_api_errors::retry::Backoff;
use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind, QuotaLayer, RetryPolicy, RetryReport};

/// A server answering each request with the next of `answers` (the last
/// repeats), counting requests.
async fn counting(answers: &'static [(u16, &'static str)]) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    let addr = serve(move |request: Request<hyper::body::Incoming>| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let auth_ok = request
            .headers()
            .get("authorization")
            .is_none_or(|v| v == "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc");
        async move {
            let (status, body) = answers[n.min(answers.len() - 1)];
            let status = if auth_ok { status } else { 400 };
            response(status, &[("content-type", "application/json")], body)
        }
    })
    .await;
    (format!("http://{addr}"), calls)
}

fn ours() -> ApiErrorsMiddleware {
    ApiErrorsMiddleware::with_layer(ApiErrorsLayer::new().retry(RetryPolicy::default().backoff(
        Backoff::exponential(Duration::from_millis(1), 2.0, Duration::from_millis(4)),
    )))
}

fn theirs() -> RetryTransientMiddleware<ExponentialBackoff> {
    RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(Duration::from_millis(1), Duration::from_millis(4))
            .build_with_max_retries(2),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn one_with_gives_an_existing_client_retry_parse_auth_and_quota() {
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#), (200, r#"{"id": 1}"#)]).await;
    let token = Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
    let client: ClientWithMiddleware = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new()
                .retry(RetryPolicy::default().backoff(Backoff::exponential(
                    Duration::from_millis(1),
                    2.0,
                    Duration::from_millis(4),
                )))
                .auth(AuthLayer::new(StaticToken::new(token)))
                .quota(QuotaLayer::new()),
        ))
        .build();
    let url = format!("{base}/v1/members/1");
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // reqwest's http conversion drops the URL; the middleware keeps it.
    assert_eq!(response.url().as_str(), url);
    assert_eq!(response.text().await.unwrap(), r#"{"id": 1}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_typed_error_is_reached_from_reqwest_middleware_error() {
    let (base, calls) = counting(&[(
        404,
        r#"{"error": {"code": 404, "message": "User not found"}}"#,
    )])
    .await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!("{base}/v1/users/404"))
        .send()
        .await
        .unwrap_err();
    let api = error.api_error().expect("a typed API error");
    assert_eq!(api.kind(), ErrorKind::NotFound);
    assert_eq!(api.message(), "User not found");
    assert!(matches!(error.typed_error(), Some(Error::Api(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_posted_body_is_sent_and_replayed() {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = bodies.clone();
    let addr = serve(move |request: Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let body = support::body_bytes(request.into_body()).await;
            let n = {
                let mut log = log.lock().unwrap();
                log.push(body);
                log.len()
            };
            let status = if n == 1 { 503 } else { 201 };
            response(status, &[], "{}")
        }
    })
    .await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let response = client
        .post(format!("http://{addr}/v1/posts"))
        .header("idempotency-key", "post-5c1e")
        .body("{\"name\": \"Ada\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // The retry layer's report rides in the response's extensions (src/retry/
    // mod.rs), reachable from the `reqwest::Response` as from an `http` one.
    let report = response.extensions().get::<RetryReport>().copied();
    assert_eq!(report.map(|report| report.attempts()), Some(2));
    let bodies = bodies.lock().unwrap();
    assert_eq!(
        *bodies,
        [
            Bytes::from("{\"name\": \"Ada\"}"),
            Bytes::from("{\"name\": \"Ada\"}")
        ]
    );
}

/// Per-request retry settings are a request extension
/// (`tower_api_errors::retry::RetryOverride`); reqwest-middleware users
/// attach one with `with_extension`, and our stack hears it as it would on
/// an `http::Request`: a POST the API dedupes is retried, a GET told not to
/// be retried is sent once (each against a 503, then 200).
#[tokio::test]
async fn a_retry_override_attached_with_with_extension_is_heard() {
    use tower_api_errors::retry::RetryOverride;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let (base, calls) = counting(&[(503, "{}"), (200, "{}")]).await;
    let request = client.post(format!("{base}/v1/charges")).body("{}");
    let override_ = RetryOverride::new().idempotent(true);
    let response = request.with_extension(override_).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the POST marked idempotent is retried"
    );

    let (base, calls) = counting(&[(503, "{}"), (200, "{}")]).await;
    let request = client.get(format!("{base}/v1/charges"));
    let response = request.with_extension(RetryOverride::no_retries()).send();
    let error = response.await.unwrap_err();
    assert_eq!(error.api_error().unwrap().status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn reqwest_retry_above_ours_does_not_multiply_attempts() {
    // Its default strategy calls a middleware's error fatal, and our
    // failures are middleware errors: ours retries, theirs does not.
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(theirs())
        .with(ours())
        .build();
    let error = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "3 of ours, not 3 x 3");
    // Its `RetryError::Error` wraps ours transparently: our Display, but
    // not our type, comes through.
    assert!(
        error
            .to_string()
            .contains("unavailable (503 Service Unavailable)"),
        "{error}"
    );
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

/// A middleware above ours that sends every call through the rest of the
/// chain twice, as a retry middleware does after a failure.
struct SendsTwice;

#[async_trait::async_trait]
impl Middleware for SendsTwice {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().unwrap();
        let _ = next.clone().run(request, extensions).await;
        next.run(again, extensions).await
    }
}

#[tokio::test]
async fn a_second_send_from_a_retrying_middleware_above_is_refused() {
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(SendsTwice)
        .with(ours())
        .build();
    let error = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert_refused_as_sent_twice(&error);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the first call's 3 attempts, nothing more"
    );
}

#[tokio::test]
async fn reqwest_retry_below_ours_cannot_resend_so_never_multiplies() {
    // Each attempt goes down the chain with a streamed body (the replay
    // copy): reqwest-retry cannot clone it, and refuses before sending.
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(ours())
        .with(theirs())
        .build();
    let error = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not cloneable"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn reqwest_retry_below_ours_with_a_body_in_memory_never_multiplies() {
    // A body given in memory goes down as bytes reqwest can clone (for its
    // redirects): reqwest-retry clones and sends it again; its answer (a
    // 503) is one we would retry, and our retry is refused, not sent: none
    // of our attempts is added to its three.
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(ours())
        .with(theirs())
        .build();
    let error = client
        .put(format!("{base}/v1/things/1"))
        .body(r#"{"name": "Ada"}"#)
        .send()
        .await
        .unwrap_err();
    assert_refused_as_sent_twice(&error);
    assert!(error_text(&error).contains("a middleware below"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "3 of theirs, not 3 x 3");
}

/// reqwest-retry below ours that sends again and gets an answer: the
/// answer is the caller's (the server acted on it), and none of our
/// attempts is added (module docs, "reqwest-retry below ours").
#[tokio::test]
async fn reqwest_retry_below_ours_keeps_the_answer_it_got() {
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#), (201, "{}")]).await;
    let client = ClientBuilder::new(client())
        .with(ours())
        .with(theirs())
        .build();
    let response = client
        .post(format!("{base}/v1/orders"))
        .body(r#"{"qty": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A middleware below ours that clones each attempt once (to read or sign
/// its body, as request signers do) and sends the attempt itself: nothing
/// is sent twice, so the server's answer is the caller's and our retries
/// go on (`src/reqwest/mod.rs`, "reqwest-retry below ours": a middleware
/// below that sends again is what is refused).
#[tokio::test]
async fn a_middleware_below_that_only_clones_keeps_the_answer_and_our_retries() {
    struct Signer;
    #[async_trait::async_trait]
    impl Middleware for Signer {
        async fn handle(
            &self,
            mut request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let copy = request.try_clone().unwrap();
            let length = copy.body().and_then(|b| b.as_bytes()).unwrap().len();
            request.headers_mut().insert("x-body-length", length.into());
            next.run(request, extensions).await
        }
    }
    let signed = || {
        ClientBuilder::new(client())
            .with(ours())
            .with(Signer)
            .build()
    };
    let (base, calls) = counting(&[(201, "{}")]).await;
    let post = signed()
        .post(format!("{base}/v1/orders"))
        .body(r#"{"qty": 1}"#);
    assert_eq!(post.send().await.unwrap().status(), 201);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#), (200, "{}")]).await;
    let put = signed()
        .put(format!("{base}/v1/things/1"))
        .body(r#"{"name": "Ada"}"#);
    assert_eq!(put.send().await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry of ours");
}

/// Middlewares below ours that clone an attempt, at once, more than once
/// (a signer that hashes the body and then logs it; a signer and a
/// logger, each cloning once) and send it once: nothing is sent twice,
/// so our retry goes on (`SentTwice` docs: refused "once a middleware
/// below sent one again"; `src/reqwest/mod.rs`, "reqwest-retry below
/// ours").
#[tokio::test]
async fn middlewares_below_that_clone_twice_without_resending_keep_our_retries() {
    struct Clones(usize);
    #[async_trait::async_trait]
    impl Middleware for Clones {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            for _ in 0..self.0 {
                drop(request.try_clone().unwrap());
            }
            next.run(request, extensions).await
        }
    }
    for below in [vec![Clones(2)], vec![Clones(1), Clones(1)]] {
        let (base, calls) = counting(&[(503, r#"{"error": "down"}"#), (200, "{}")]).await;
        let client = below
            .into_iter()
            .fold(ClientBuilder::new(client()).with(ours()), |chain, m| {
                chain.with(m)
            })
            .build();
        let put = client.put(format!("{base}/v1/things/1")).body("{}");
        assert_eq!(put.send().await.unwrap().status(), 200);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry of ours");
    }
}

/// reqwest-retry below ours sends our first attempt three times; our
/// retry is refused with `SentTwice`, nothing sent, and that refusal ends
/// the call: not retried in turn (`src/reqwest/mod.rs`: "a further attempt
/// of ours is refused with SentTwice, nothing sent"), so it spends none of
/// the budget that "bounds the extra load on a failing upstream" (README):
/// a healthy call on the same policy afterwards still gets its retry.
#[tokio::test]
async fn a_sent_twice_refusal_below_ends_the_call_and_spares_the_budget() {
    let policy = RetryPolicy::default()
        .backoff(Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(4),
        ))
        .max_attempts(10);
    let misconfigured = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new().retry(policy.clone()),
        ))
        .with(theirs())
        .build();
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    for _ in 0..2 {
        let put = misconfigured.put(format!("{base}/v1/things/1")).body("{}");
        let error = put.send().await.unwrap_err();
        assert_refused_as_sent_twice(&error);
        // Our first attempt (their three sends), and the refused one; the
        // refusal names the call, as every error of ours does.
        assert!(error.to_string().contains("(PUT http://"), "{error}");
        assert_eq!(
            error.typed_error().unwrap().retries().attempts(),
            2,
            "{error}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "3 of theirs per call, none of ours"
    );
    let healthy = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new().retry(policy),
        ))
        .build();
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#), (200, "{}")]).await;
    let response = healthy.get(format!("{base}/v1/things/1")).send().await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A middleware below whose own error text names the URL (a context
/// around reqwest's error or around reqwest-retry's, or a message of its
/// own that carries reqwest's text): the caller's Display, Debug and
/// source chain never hold the URL's credentials (SECURITY.md: "URIs are
/// recorded for context but always printed redacted"), and reqwest's
/// error, when kept, stays reachable (`src/reqwest/mod.rs`, "Transport
/// errors": `reqwest_error`, `is_connect`).
#[tokio::test]
async fn a_middleware_below_naming_the_url_never_prints_its_credentials() {
    struct Names(u8);
    #[async_trait::async_trait]
    impl Middleware for Names {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let url = request.url().clone();
            let result = next.run(request, extensions).await;
            result.map_err(|e| match (e, self.0) {
                (reqwest_middleware::Error::Reqwest(e), 0) => {
                    reqwest_middleware::Error::Middleware(
                        anyhow::Error::new(e).context(format!("GET {url} failed")),
                    )
                }
                (reqwest_middleware::Error::Reqwest(e), 1) => {
                    let err = reqwest_middleware::Error::Reqwest(e);
                    let retried = reqwest_retry::RetryError::WithRetries { retries: 1, err };
                    let context = format!("GET {url} failed");
                    reqwest_middleware::Error::Middleware(
                        anyhow::Error::new(retried).context(context),
                    )
                }
                (e, _) => reqwest_middleware::Error::Middleware(anyhow::anyhow!("GET {url}: {e}")),
            })
        }
    }
    let port = support::refused_addr().port();
    for mode in 0..3 {
        let client = ClientBuilder::new(client())
            .with(ours())
            .with(Names(mode))
            .build();
        let url = format!("http://user:hunter2pw@127.0.0.1:{port}/v1?access_token=at_leak1");
        let error = client.get(url).send().await.unwrap_err();
        let text = format!(
            "{error} {error:?} {error:#} {error:#?} {}",
            error_text(&error)
        );
        assert!(text.contains("127.0.0.1"), "{text}");
        for secret in ["hunter2pw", "at_leak1"] {
            assert!(!text.contains(secret), "mode {mode}: {secret} in {text}");
        }
        // (A message of its own keeps reqwest's text, not its error.)
        let typed = error.typed_error().unwrap();
        let connect = typed.transport().unwrap().is_connect();
        assert_eq!(connect, mode < 2, "mode {mode}: {error}");
        if mode == 0 {
            let reqwest = tower_api_errors::reqwest::reqwest_error(typed).expect("reqwest's error");
            assert!(reqwest.is_connect());
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_typed_connect_error() {
    let port = support::refused_addr().port();
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    // reqwest-middleware's own helpers read only its `Reqwest` variant
    // (src/reqwest/mod.rs docs): the typed error is where to ask.
    assert!(!error.is_connect() && error.url().is_none());
    let typed = error.typed_error().unwrap();
    assert!(typed.transport().unwrap().is_connect(), "{error}");
    assert!(tower_api_errors::reqwest::reqwest_error(typed)
        .unwrap()
        .is_connect());
    assert_eq!(typed.retries().attempts(), 3);
}

/// The failure's text, its sources' included, never prints the request's
/// userinfo or credential-like query values (reqwest prints its URL in
/// its errors).
#[tokio::test]
async fn a_failure_never_prints_the_request_credentials() {
    let port = support::refused_addr().port();
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!(
            "http://user:hunter2pw@127.0.0.1:{port}/v1?api_key=sk_live_leak1&page=2"
        ))
        .send()
        .await
        .unwrap_err();
    let text = support::error_text(&error);
    for secret in ["hunter2pw", "sk_live_leak1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(
        error
            .typed_error()
            .unwrap()
            .transport()
            .unwrap()
            .is_connect(),
        "{text}"
    );
}

/// A middleware below ours that wraps reqwest's error in its own (an
/// anyhow error, with a context, a `reqwest_middleware::Error` in one, or
/// an error of its own with reqwest's as its source, as reqwest-retry's):
/// the URL in reqwest's error text is redacted all the same
/// (`src/reqwest/mod.rs`, "Transport errors"; README: no credentials in
/// errors).
#[tokio::test]
async fn a_reqwest_error_a_middleware_below_wraps_never_prints_the_credentials() {
    type Wrap = fn(reqwest::Error) -> anyhow::Error;
    struct Wrapping(Wrap);
    #[async_trait::async_trait]
    impl Middleware for Wrapping {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            next.run(request, extensions).await.map_err(|e| match e {
                reqwest_middleware::Error::Reqwest(e) => {
                    reqwest_middleware::Error::Middleware((self.0)(e))
                }
                other => other,
            })
        }
    }
    let port = support::refused_addr().port();
    let wraps: [Wrap; 5] = [
        |e| anyhow::Error::new(e),
        |e| anyhow::Error::new(e).context("outbound call"),
        |e| anyhow::Error::new(reqwest_middleware::Error::Reqwest(e)).context("outbound call"),
        |e| {
            let inner = reqwest_middleware::Error::Middleware(anyhow::Error::new(e));
            anyhow::Error::new(inner)
        },
        // reqwest-retry's: reqwest's error as another error's source.
        |e| {
            let err = reqwest_middleware::Error::Reqwest(e);
            anyhow::Error::new(reqwest_retry::RetryError::WithRetries { retries: 2, err })
        },
    ];
    for wrap in wraps {
        let client = ClientBuilder::new(client())
            .with(ours())
            .with(Wrapping(wrap))
            .build();
        let error = client
            .get(format!(
                "http://user:hunter2pw@127.0.0.1:{port}/v1?access_token=at_leak1"
            ))
            .send()
            .await
            .unwrap_err();
        let text = format!("{} {error:?}", support::error_text(&error));
        assert!(text.contains("127.0.0.1"), "{text}");
        for secret in ["hunter2pw", "at_leak1"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[tokio::test]
async fn middleware_extensions_reach_below_and_back_to_the_caller() {
    #[derive(Clone, Debug, PartialEq)]
    struct Seen(u32);
    struct Marks;
    #[async_trait::async_trait]
    impl Middleware for Marks {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let seen = extensions.get::<Seen>().map_or(1, |s| s.0 + 1);
            extensions.insert(Seen(seen));
            next.run(request, extensions).await
        }
    }
    let (base, _) = counting(&[(503, "{}"), (200, "{}")]).await;
    let client = ClientBuilder::new(client())
        .with(ours())
        .with(Marks)
        .build();
    let mut extensions = http::Extensions::new();
    extensions.insert(Seen(10));
    let request = client.get(format!("{base}/")).build().unwrap();
    let response = client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        extensions.get::<Seen>(),
        Some(&Seen(12)),
        "the first attempt sees the caller's, each later one the last one's"
    );
}

/// One attempt as the middleware below ours received it: method, URL,
/// `Authorization`, whether a per-request timeout is set.
type Seen = (String, String, Option<String>, bool);

/// What the middleware below ours received, per attempt.
#[derive(Clone, Default)]
struct Below(Arc<std::sync::Mutex<Vec<Seen>>>);

#[async_trait::async_trait]
impl Middleware for Below {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let auth = request.headers().get("authorization");
        self.0.lock().unwrap().push((
            request.method().to_string(),
            request.url().to_string(),
            auth.map(|value| value.to_str().unwrap().to_owned()),
            request.timeout().is_some(),
        ));
        next.run(request, extensions).await
    }
}

#[tokio::test]
async fn the_request_below_is_the_callers_with_our_credential_and_its_timeout() {
    let (base, calls) = counting(&[(503, "{}"), (200, "{}")]).await;
    let below = Below::default();
    let layer = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().backoff(Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(4),
        )))
        .auth(AuthLayer::new(StaticToken::new(
            Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap(),
        )));
    let client = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::with_layer(layer))
        .with(below.clone())
        .build();
    let url = format!("{base}/v1/items?page=2&q=caf%C3%A9#frag");
    let response = client
        .put(&url)
        .timeout(Duration::from_secs(30))
        .header("x-request-id", "req_1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A fragment is never sent; the rest is as given.
    let without_fragment = |url: &str| {
        let mut url = reqwest::Url::parse(url).unwrap();
        url.set_fragment(None);
        url
    };
    let sent = without_fragment(&url);
    let seen = below.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (method, url, auth, timeout) in seen {
        assert_eq!(method, "PUT");
        assert_eq!(without_fragment(&url), sent);
        assert_eq!(
            auth.as_deref(),
            Some("Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
        );
        assert!(timeout, "the caller's per-request timeout reaches reqwest");
    }
}

#[tokio::test(start_paused = true)]
async fn a_per_request_timeout_set_with_reqwest_still_cuts_a_hanging_upstream() {
    let addr = serve(|_request: Request<hyper::body::Incoming>| std::future::pending()).await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!("http://{addr}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    let typed = error.typed_error().unwrap();
    assert!(
        tower_api_errors::reqwest::reqwest_error(typed)
            .unwrap()
            .is_timeout(),
        "{error}"
    );
}

#[tokio::test]
async fn a_layer_that_rewrites_the_uri_is_heard_below() {
    let (base, calls) = counting(&[(200, "{}")]).await;
    let below = Below::default();
    // A layer of the caller's inside the middleware's stack, moving every
    // call to another path: the request below follows it.
    let stack = tower::ServiceBuilder::new()
        .layer(ApiErrorsLayer::new())
        .map_request(
            |mut request: http::Request<tower_api_errors::retry::ReplayBody<reqwest::Body>>| {
                let uri = request.uri().to_string().replace("/v1/", "/v2/");
                *request.uri_mut() = uri.parse().unwrap();
                request
            },
        )
        .into_inner();
    let client = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::with_layer(stack))
        .with(below.clone())
        .build();
    let response = client
        .get(format!("{base}/v1/items?page=2"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let seen = below.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, format!("{base}/v2/items?page=2"));
    assert!(seen[0].3, "the caller's per-request timeout goes along");
}

#[tokio::test]
async fn a_url_too_long_for_http_is_reqwests_own_builder_error() {
    let (base, calls) = counting(&[(200, "{}")]).await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    // `http::Uri` holds at most 64 KiB; reqwest's `Url` holds more.
    let long = format!("{base}/{}", "a".repeat(70_000));
    let error = client.get(long).send().await.unwrap_err();
    match error {
        reqwest_middleware::Error::Reqwest(error) => assert!(error.is_builder(), "{error:?}"),
        other => panic!("not reqwest's error: {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing sent");
}

/// A middleware that gives up on the call below after 100 ms (its own
/// timeout, dropping it midway) and sends it once more.
struct TimesOutAndSendsAgain;

#[async_trait::async_trait]
impl Middleware for TimesOutAndSendsAgain {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().unwrap();
        let first = next.clone().run(request, extensions);
        let dropped = tokio::time::timeout(Duration::from_millis(100), first).await;
        assert!(dropped.is_err(), "the upstream hangs");
        next.run(again, extensions).await
    }
}

#[tokio::test]
async fn a_send_again_after_dropping_the_first_midway_is_refused() {
    let addr = serve(|_request: Request<hyper::body::Incoming>| std::future::pending()).await;
    let client = ClientBuilder::new(client())
        .with(TimesOutAndSendsAgain)
        .with(ours())
        .build();
    // Bounded: sent again, the call would hang with the upstream.
    let send = client.get(format!("http://{addr}/slow")).send();
    let error = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("refused at once, not sent again")
        .unwrap_err();
    assert_refused_as_sent_twice(&error);
}

/// The call was refused by our middleware as a second send ([`SentTwice`]).
fn assert_refused_as_sent_twice(error: &reqwest_middleware::Error) {
    let transport = error
        .typed_error()
        .unwrap()
        .transport()
        .expect("the refusal");
    assert!(
        std::error::Error::source(transport)
            .unwrap()
            .is::<SentTwice>(),
        "{error}"
    );
}

/// A reqwest user's scenarios (probe 6): one `.with(...)` on a real
/// client; redirects, redaction, the replay cap, what the caller reads,
/// the caller's extensions.
mod user_scenarios {
    use super::support::{body_bytes, error_text, redirecting, response, serve, Frames};
    use bytes::Bytes;
    use http::Request;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tower::{Layer, ServiceExt};
    use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
    use tower_api_errors::reqwest::{ApiErrorsMiddleware, MiddlewareErrorExt, ReqwestClient};
    use tower_api_errors::{ApiErrorsLayer, ErrorKind};

    use super::support::{bounded, quick_exact as quick, Rotating};

    /// The same through `ApiErrorsMiddleware`: `ClientWithMiddleware` with a
    /// bytes body (which reqwest can clone) follows a 307 without the
    /// middleware; with it, it must still.
    #[tokio::test]
    async fn middleware_307_of_a_put_with_a_body_is_followed_like_reqwest_does() {
        for status in [302u16, 307] {
            let (addr, seen) = redirecting(status, |_| "/new".to_owned()).await;
            let bare = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
            let plain = bare
                .put(format!("http://{addr}/old"))
                .body("{\"name\": \"Ada\"}")
                .send()
                .await
                .unwrap();
            assert_eq!(plain.status(), 200, "without our middleware: followed");

            let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(ApiErrorsMiddleware::with_layer(
                    ApiErrorsLayer::new().retry(quick()),
                ))
                .build();
            let response = bounded(
                "put",
                client
                    .put(format!("http://{addr}/old"))
                    .body("{\"name\": \"Ada\"}")
                    .send(),
            )
            .await
            .unwrap();
            assert_eq!(response.status(), 200, "the {status} was not followed");
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 4);
            assert_eq!((&*seen[3].0, &*seen[3].1), ("PUT", "/new"));
            assert_eq!(seen[3].5, "{\"name\": \"Ada\"}");
        }
    }

    /// A 302 of a GET (no body) is followed through both adapters, and a
    /// cross-host redirect (127.0.0.1 -> localhost) does not carry the
    /// `Authorization` our `AuthLayer` set (reqwest strips it on a cross-host
    /// hop, as RFC 9110 §15.4 recommends; the stack must not re-add it).
    #[tokio::test]
    async fn redirects_of_a_get_are_followed_and_cross_host_drops_our_bearer() {
        let (addr, seen) = redirecting(302, |host: &str| {
            let port = host.rsplit(':').next().unwrap().to_owned();
            format!("http://localhost:{port}/new")
        })
        .await;
        let token = || Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .auth(AuthLayer::new(StaticToken::new(token())))
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let request = Request::get(format!("http://{addr}/old"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = bounded("get", client.oneshot(request)).await.unwrap();
        assert_eq!(response.status(), 200);

        let middleware = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ApiErrorsMiddleware::with_layer(
                ApiErrorsLayer::new()
                    .retry(quick())
                    .auth(AuthLayer::new(StaticToken::new(token()))),
            ))
            .build();
        let response = bounded("get", middleware.get(format!("http://{addr}/old")).send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        // The URL the caller sees is the final one.
        assert!(
            response.url().as_str().contains("localhost"),
            "{}",
            response.url()
        );

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4, "{seen:?}");
        for pair in seen.chunks(2) {
            assert_eq!(pair[0].1, "/old");
            assert_eq!(pair[0].3, "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc");
            assert_eq!(pair[1].1, "/new");
            assert!(pair[1].2.starts_with("localhost"), "{:?}", pair[1]);
            assert_eq!(pair[1].3, "", "the bearer went to another host");
        }
    }

    /// A bearer token and an API key in the query never print, through either
    /// adapter, for an API error (401) and a transport error.
    #[tokio::test]
    async fn credentials_never_print_in_api_or_transport_errors() {
        let addr = serve(|request: Request<Incoming>| async move {
            // Echoes everything it was given.
            let text = format!(
                "{{\"error\": \"bad key {} {}\"}}",
                request.uri(),
                request
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap())
                    .unwrap_or("")
            );
            response(401, &[("content-type", "application/json")], text)
        })
        .await;
        let token = Credential::new("tok_SECRET_bearer_9f8e").unwrap();
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .auth(AuthLayer::new(StaticToken::new(token.clone())))
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let request = Request::get(format!("http://{addr}/v1/x?key=AIzaSECRETkey123&page=1"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let error = bounded("get", client.oneshot(request)).await.unwrap_err();
        let text = error_text(&error);
        for secret in ["tok_SECRET_bearer_9f8e", "AIzaSECRETkey123"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }

        let middleware = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ApiErrorsMiddleware::with_layer(
                ApiErrorsLayer::new()
                    .retry(quick())
                    .auth(AuthLayer::new(StaticToken::new(token))),
            ))
            .build();
        let error = bounded(
            "get",
            middleware
                .get(format!("http://{addr}/v1/x?key=AIzaSECRETkey123&page=1"))
                .send(),
        )
        .await
        .unwrap_err();
        let text = format!("{error} {error:?} {}", error_text(&error));
        for secret in ["tok_SECRET_bearer_9f8e", "AIzaSECRETkey123"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(
            error.typed_error().unwrap().kind(),
            ErrorKind::Unauthorized,
            "{error}"
        );
    }

    /// auth docs (src/auth/mod.rs:20): "a body too large to replay is not
    /// re-sent, and the error says so (AuthFailure::BodyNotReplayable)".
    /// Through the middleware, a streamed body over the replay cap answered
    /// 401: sent once, whole, and the typed error says why.
    #[tokio::test]
    async fn middleware_401_with_a_body_over_the_replay_cap_is_not_resent() {
        let lengths = Arc::new(Mutex::new(Vec::<usize>::new()));
        let log = lengths.clone();
        let addr = serve(move |request: Request<Incoming>| {
            let log = log.clone();
            async move {
                let n = body_bytes(request.into_body()).await.len();
                log.lock().unwrap().push(n);
                response(
                    401,
                    &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                    "{}",
                )
            }
        })
        .await;
        let source = Rotating::new(std::time::Duration::ZERO);
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ApiErrorsMiddleware::with_layer(
                ApiErrorsLayer::new()
                    .retry(quick().max_replay_bytes(1024))
                    .auth(AuthLayer::new(source.clone())),
            ))
            .build();
        let k: &'static str = Box::leak("y".repeat(1024).into_boxed_str());
        let body = reqwest::Body::wrap(Frames::<Infallible>::chunks(&[k, k, k, k]));
        let error = bounded(
            "put",
            client
                .put(format!("http://{addr}/v1/blob"))
                .body(body)
                .send(),
        )
        .await
        .unwrap_err();
        assert_eq!(*lengths.lock().unwrap(), vec![4096], "sent once, whole");
        let typed = error.typed_error().expect("typed");
        assert_eq!(typed.kind(), ErrorKind::Unauthorized, "{typed}");
        assert!(
            format!("{typed:?}").contains("BodyNotReplayable"),
            "{typed:?}"
        );
    }

    /// One `.with(...)` on an existing client: what a caller reads off the
    /// `reqwest::Response` (status, headers, content length, version, URL,
    /// remote address) is what the bare client gives.
    #[tokio::test]
    async fn middleware_response_reads_like_the_bare_clients() {
        let addr = serve(|_request: Request<Incoming>| async move {
            response(
                200,
                &[("x-id", "7"), ("content-type", "text/plain")],
                "hello",
            )
        })
        .await;
        let bare = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
        let ours = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(ApiErrorsMiddleware::new())
            .build();
        let url = format!("http://{addr}/v1/x?page=2");
        let a = bare.get(&url).send().await.unwrap();
        let b = ours.get(&url).send().await.unwrap();
        assert_eq!(a.status(), b.status());
        assert_eq!(a.version(), b.version());
        assert_eq!(a.url(), b.url());
        assert_eq!(a.headers().get("x-id"), b.headers().get("x-id"));
        assert_eq!(a.content_length(), b.content_length(), "content_length");
        assert_eq!(a.remote_addr(), b.remote_addr(), "remote_addr");
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    }

    /// Debug of the middleware and of the stack, after a call cached the
    /// credential, never prints it.
    #[tokio::test]
    async fn debug_of_the_stack_never_prints_the_cached_credential() {
        let addr =
            serve(|_request: Request<Incoming>| async move { response(200, &[], "ok") }).await;
        let token = Credential::new("tok_DEBUG_secret_77").unwrap();
        let middleware = ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new().auth(AuthLayer::new(StaticToken::new(token.clone()))),
        );
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(middleware.clone())
            .build();
        client.get(format!("http://{addr}/")).send().await.unwrap();
        let stack = ApiErrorsLayer::new()
            .auth(AuthLayer::new(StaticToken::new(token)))
            .layer(ReqwestClient::new(reqwest::Client::new()));
        stack
            .clone()
            .oneshot(
                Request::get(format!("http://{addr}/"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let text = format!("{middleware:?} {client:?} {stack:?}");
        assert!(!text.contains("tok_DEBUG_secret_77"), "{text}");
    }

    /// reqwest-middleware hands each middleware the call's `&mut Extensions`;
    /// what a middleware above ours put there is its own. One that gives up on
    /// the call below (its own timeout, dropping our future midway) and then
    /// reads its entry back must still find it (module docs: "Each attempt
    /// goes down the rest of the chain ... with its own copy of the call's
    /// extensions"; the caller's map is not ours to empty).
    #[tokio::test]
    async fn a_middleware_above_keeps_its_extensions_when_it_drops_the_call_midway() {
        #[derive(Clone, Debug, PartialEq)]
        struct Mine(&'static str);
        struct TimesOut(Arc<Mutex<Option<Option<Mine>>>>);
        #[async_trait::async_trait]
        impl reqwest_middleware::Middleware for TimesOut {
            async fn handle(
                &self,
                request: reqwest::Request,
                extensions: &mut http::Extensions,
                next: reqwest_middleware::Next<'_>,
            ) -> reqwest_middleware::Result<reqwest::Response> {
                extensions.insert(Mine("span-42"));
                let outcome =
                    tokio::time::timeout(Duration::from_millis(100), next.run(request, extensions))
                        .await;
                *self.0.lock().unwrap() = Some(extensions.get::<Mine>().cloned());
                match outcome {
                    Ok(result) => result,
                    Err(_) => Err(reqwest_middleware::Error::Middleware(anyhow::anyhow!(
                        "timed out"
                    ))),
                }
            }
        }
        let addr = serve(|_request: Request<Incoming>| std::future::pending()).await;
        let found = Arc::new(Mutex::new(None));
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(TimesOut(found.clone()))
            .with(ApiErrorsMiddleware::new())
            .build();
        let _ = bounded("get", client.get(format!("http://{addr}/slow")).send()).await;
        assert_eq!(
            *found.lock().unwrap(),
            Some(Some(Mine("span-42"))),
            "the entry a middleware above put in its own map vanished"
        );
    }
}
