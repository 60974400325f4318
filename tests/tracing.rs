//! The `tracing` feature: a span per request and events with stable field
//! names, and never a credential in a log line, a `Display`, a `Debug` or a
//! source chain.
#![cfg(feature = "tracing")]

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::sync::{Arc, Mutex};
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{Backoff, ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

#[path = "support/captured_logs.rs"]
mod captured_logs;

use tracing_subscriber::fmt::format::FmtSpan;

const SECRETS: &[&str] = &[
    "s3cr3t-bearer",
    "s3cr3t-cookie",
    "s3cr3t-proxy",
    "s3cr3t-pass",
    "s3cr3t-key",
    "s3cr3t-token",
];

#[tokio::test]
async fn events_have_stable_fields_and_no_secrets() {
    let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);

    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let addr = support::serve(move |_request| {
        let counter = counter.clone();
        async move {
            let call = {
                let mut calls = counter.lock().unwrap();
                *calls += 1;
                *calls
            };
            if call == 1 {
                support::response(503, &[("retry-after-ms", "1")], r#"{"error": {"code": "BUSY", "message": "try again"}}"#)
            } else {
                support::response(429, &[("retry-after", "3600")], r#"{"error": "Rate Limit Exceeded", "message": "Hourly request limit exceeded"}"#)
            }
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().backoff(
            Backoff::exponential(
                std::time::Duration::from_millis(1),
                2.0,
                std::time::Duration::from_millis(10),
            ),
        )))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());

    let request = Request::get(format!(
        "http://user:s3cr3t-pass@{addr}/v1/things?api_key=s3cr3t-key&token=s3cr3t-token&page=2"
    ))
    .header("authorization", "Bearer s3cr3t-bearer")
    .header("cookie", "session=s3cr3t-cookie")
    .header("proxy-authorization", "Basic s3cr3t-proxy")
    .body(Full::new(Bytes::from_static(b"{}")))
    .unwrap();
    let error = client.oneshot(request).await.unwrap_err();

    let log = logs.text();
    // The span and the events, with their stable fields.
    assert!(log.contains("api_request{method=GET uri=http://"), "{log}");
    assert!(
        log.contains("api_key=REDACTED&token=REDACTED&page=2"),
        "{log}"
    );
    assert!(
        log.contains("classified status=503 kind=\"unavailable\" retryable=true"),
        "{log}"
    );
    assert!(
        log.contains("api_error status=503 kind=\"unavailable\" code=\"BUSY\""),
        "{log}"
    );
    assert!(
        log.contains(
            "retrying attempt=1 kind=\"unavailable\" status=503 delay_ms=1 hint=\"retry-after-ms\""
        ),
        "{log}"
    );
    assert!(
        log.contains("finished outcome=\"failure\" attempts=2"),
        "{log}"
    );
    assert!(
        log.contains("stopped=\"server asked to wait longer than max_retry_after\""),
        "{log}"
    );

    // Nothing anywhere shows a credential.
    let mut texts = vec![log, error.to_string(), format!("{error:?}")];
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
        source = e.source();
    }
    for text in &texts {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} leaked into: {text}");
        }
    }
}

/// The request span and one span per attempt carry OpenTelemetry's
/// attribute names (so `tracing-opentelemetry` exports conformant client
/// spans), with `http.request.resend_count` on resends only, and the URL
/// redacted.
#[tokio::test]
async fn spans_carry_opentelemetry_attribute_names() {
    let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);

    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let addr = support::serve(move |_request| {
        let counter = counter.clone();
        async move {
            let first = {
                let mut calls = counter.lock().unwrap();
                *calls += 1;
                *calls == 1
            };
            if first {
                support::response(503, &[("retry-after", "0")], r#"{"error": "busy"}"#)
            } else {
                support::response(200, &[], "{}")
            }
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::get(format!(
        "http://user:s3cr3t-pass@{addr}/v1/things?api_key=s3cr3t-key&page=2"
    ))
    .header("authorization", "Bearer s3cr3t-bearer")
    .body(Full::new(Bytes::from_static(b"{}")))
    .unwrap();
    client.oneshot(request).await.unwrap();

    let log = logs.text();
    let port = addr.port();
    let url = format!("url.full=http://127.0.0.1:{port}/v1/things?api_key=REDACTED&page=2");
    // The request span: the old fields, then OTel's.
    let request_span = format!(
        "api_request{{method=GET uri=http://127.0.0.1:{port}/v1/things?api_key=REDACTED&page=2 \
         http.request.method=\"GET\" server.address=\"127.0.0.1\" server.port={port} {url}}}"
    );
    assert!(log.contains(&request_span), "{log}");
    // Two attempt spans, closed with their outcome.
    let closes: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("api_attempt{") && line.contains(": close "))
        .collect();
    assert_eq!(closes.len(), 2, "{log}");
    let attempt = |line: &str, fields: &[&str]| {
        for field in fields {
            assert!(line.contains(field), "{field} not in {line}");
        }
    };
    let common = [
        "otel.kind=\"client\"",
        "otel.name=\"GET\"",
        "http.request.method=\"GET\"",
        "server.address=\"127.0.0.1\"",
        &format!("server.port={port}"),
        &url,
    ];
    attempt(closes[0], &common);
    attempt(
        closes[0],
        &[
            "http.response.status_code=503",
            "error.type=\"unavailable\"",
        ],
    );
    assert!(!closes[0].contains("resend_count"), "{}", closes[0]);
    attempt(closes[1], &common);
    attempt(
        closes[1],
        &[
            "http.request.resend_count=1",
            "http.response.status_code=200",
        ],
    );
    assert!(!closes[1].contains("error.type"), "{}", closes[1]);
    // The inner layers' events happen inside the attempt's span.
    assert!(
        log.lines()
            .any(|l| l.contains("api_attempt{") && l.contains("classified status=503")),
        "{log}"
    );
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} leaked into: {log}");
    }
}

/// The resilience layers' events (a circuit breaker's transitions, hedged
/// requests) go through the one observer: stable names and fields, the
/// server's host and port only (never userinfo, path or query).
#[test]
fn resilience_events_have_stable_names_and_show_only_the_server() {
    use std::time::Duration;
    use tower_api_errors::observe::Observer;

    let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
    let observer = Observer::new();
    let uri: http::Uri =
        "https://user:s3cr3t-pass@api.example.com:8443/v1/things?api_key=s3cr3t-key"
            .parse()
            .unwrap();
    observer.breaker_opened(&uri, Duration::from_secs(30));
    observer.breaker_half_open(&uri);
    observer.breaker_closed(&uri);
    observer.breaker_fleet_opened(&uri, Duration::from_secs(3));
    observer.hedge_sent(&http::Method::GET, &uri, Duration::from_millis(40));
    observer.hedge_won(&http::Method::GET, &uri);
    observer.hedge_cancelled(&http::Method::GET, &uri);

    let log = logs.text();
    for expected in [
        "WARN tower_api_errors::telemetry: breaker_opened address=\"api.example.com\" port=8443 open_ms=30000",
        "INFO tower_api_errors::telemetry: breaker_half_open address=\"api.example.com\" port=8443",
        "INFO tower_api_errors::telemetry: breaker_closed address=\"api.example.com\" port=8443",
        "WARN tower_api_errors::telemetry: breaker_fleet_opened address=\"api.example.com\" port=8443 open_ms=3000",
        "hedge_sent method=\"GET\" address=\"api.example.com\" port=8443 after_ms=40",
        "hedge_won method=\"GET\" address=\"api.example.com\" port=8443",
        "hedge_cancelled method=\"GET\" address=\"api.example.com\" port=8443",
    ] {
        assert!(log.contains(expected), "{expected} not in: {log}");
    }
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} leaked into: {log}");
    }
}
