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
#[cfg(feature = "opentelemetry")]
#[path = "support/exported.rs"]
mod exported;
#[path = "support/scripted.rs"]
mod scripted;

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
    // The first attempt's span closes when it ends, before the retry's
    // wait (OTel: a client span lasts as long as its request), not at the
    // resend: the `retrying` event comes after it.
    let at = |found: &dyn Fn(&str) -> bool| log.lines().position(found);
    let retrying = at(&|l| l.contains(" retrying attempt=1")).expect("retrying");
    let closed = at(&|l| l.contains("api_attempt{") && l.contains(": close "));
    assert!(closed.is_some_and(|closed| closed < retrying), "{log}");
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

/// Before: the `SuccessPeekLayer`'s `api_error` event logged a failure
/// inside a success unscrubbed: here its code, the request's bearer token
/// echoed (SECURITY.md: "No credentials in errors or logs").
#[tokio::test(flavor = "current_thread")]
async fn the_peek_layers_event_logs_no_echoed_credential() {
    use tower::service_fn;
    use tower_api_errors::parse::SuccessPeekLayer;
    let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
    let upstream = service_fn(|req: Request<()>| async move {
        let token = req.headers()["authorization"].to_str().unwrap()[7..].to_owned();
        let body = format!(r#"{{"ok":false,"error":"{token}"}}"#);
        Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap(),
        )
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let request = Request::get("https://slack.test/api/auth.test")
        .header("authorization", format!("Bearer {}", SECRETS[5]))
        .body(())
        .unwrap();
    let Err(tower_api_errors::Error::Api(error)) = client.oneshot(request).await else {
        panic!("ok false is an API error")
    };
    assert_eq!(error.code(), Some("REDACTED"));
    let text = logs.text();
    assert!(text.contains("api_error"), "the event was logged: {text}");
    assert!(!text.contains(SECRETS[5]), "{text}");
}

/// A server quoting the password of the request's `Authorization: Basic`
/// as it decoded it, with `tracing` and metrics on: before, the
/// `api_error` event logged it (in the code it quoted it in); now it is
/// in no log line, no metric's attributes and no text of the error.
#[cfg(feature = "opentelemetry")]
#[tokio::test(flavor = "current_thread")]
async fn a_basic_password_quoted_back_is_in_no_log_line_or_metric() {
    use tower_api_errors::ApiErrorsLayer;
    let (provider, exporter) = exported::sdk();
    let metrics = tower_api_errors::metrics::Metrics::from_provider(&provider);
    let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
    let addr = support::quoting_basic_server().await;
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().metrics(metrics))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let request = support::get_me_with_basic(addr, "Basic", "alice:s3cr3t-pass");
    let error = client.oneshot(request).await.unwrap_err();
    let log = logs.text();
    assert!(log.contains("E_BAD_PASSWORD:REDACTED"), "{log}");
    let points = exported::points(&provider, &exporter);
    assert!(!points.is_empty(), "the call was measured");
    let details = error.api().map(|api| format!("{:?}", api.details()));
    let shown = format!(
        "{log} {points:?} {} {details:?}",
        support::error_text(&error)
    );
    assert!(!shown.contains("s3cr3t-pass"), "{shown}");
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

/// Both backends at once: hedges dropped and won, each call finished
/// once, wait sources, and no secret anywhere across the stack (probe 8).
#[cfg(feature = "opentelemetry")]
mod observed {
    use super::scripted;
    use crate::captured_logs;
    use crate::exported::{count_events, points, sdk, total};
    use crate::support;
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
    use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
    use tower_api_errors::breaker::CircuitBreakerLayer;
    use tower_api_errors::hedge::HedgeLayer;
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ApiErrorsLayer, ErrorBodyParseLayer, RetryLayer};
    use tracing_subscriber::fmt::format::FmtSpan;

    /// `hedge_cancelled` is documented as "another attempt answered first, or
    /// the call was dropped" (src/observe/mod.rs:234-235, the events table).
    /// A caller that gives up (a timeout above the hedge layer) while the
    /// first attempt and its hedge are both in flight drops both: one hedge
    /// sent, one cancelled.
    #[tokio::test(start_paused = true)]
    async fn a_hedged_call_dropped_with_its_hedge_in_flight_counts_the_hedge_cancelled() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let upstream = service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
            std::future::pending::<()>().await;
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let client = HedgeLayer::fixed(Duration::from_millis(50))
            .no_budget()
            .metrics(Metrics::from_provider(&provider))
            .layer(upstream);
        let call = client.oneshot(scripted::get("http://api.test/v1/items"));
        assert!(tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .is_err());

        let points = points(&provider, &exporter);
        let h = "tower_api_errors.hedges";
        let e = "tower_api_errors.hedge.event";
        assert_eq!(total(&points, h, &[(e, "sent")]), 1, "{points:?}");
        let log = logs.text();
        assert!(log.contains("hedge_sent"), "{log}");
        assert_eq!(
            (
                total(&points, h, &[(e, "cancelled")]),
                log.matches("hedge_cancelled").count()
            ),
            (1, 1),
            "the dropped hedge: {points:?}\n{log}"
        );
    }

    /// The `finished` event is "each logical request's outcome" (src/lib.rs:
    /// the tracing table) and `tower_api_errors.call.duration` with
    /// `error.type` is how "error rate by kind" is read (src/metrics/mod.rs,
    /// "Answering the questions"). A hedged call whose first attempt fails
    /// (a 503, before the hedge is due: the retry layer below retries it,
    /// and owns the call, src/hedge/mod.rs "Placement") and whose second
    /// attempt succeeds is one logical request that succeeded: the caller
    /// gets the 200, and the call's record counts both attempts.
    #[tokio::test(start_paused = true)]
    async fn a_hedged_call_that_succeeds_records_no_failed_call() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let scripted = scripted::Scripted::new();
        let upstream = scripted.service(|n| match n {
            0 => scripted::reply(503, &[], r#"{"error": "down"}"#),
            _ => scripted::reply(200, &[], "{}"),
        });
        let metrics = Metrics::from_provider(&provider);
        let client = ServiceBuilder::new()
            // The hedge layer records a hedged call's call metrics: the same
            // handle as the retry layer's.
            .layer(
                HedgeLayer::fixed(Duration::from_secs(1))
                    .no_budget()
                    .metrics(metrics.clone()),
            )
            .layer(RetryLayer::new(scripted::exact().metrics(metrics)))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        let response = client
            .oneshot(scripted::get("http://api.test/v1/items"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(scripted.count(), 2, "the first attempt and its retry");

        let points = points(&provider, &exporter);
        let c = "tower_api_errors.call.duration";
        let failed: u64 = points
            .iter()
            .filter(|(m, a, _)| m == c && a.contains_key("error.type"))
            .map(|(_, _, n)| n)
            .sum();
        let log = logs.text();
        assert_eq!(
            (failed, log.matches("outcome=\"failure\"").count()),
            (0, 0),
            "one logical request, which succeeded: {points:?}\n{log}"
        );
        assert_eq!(count_events(&log, "finished"), 1, "{log}");
        assert!(
            log.contains("finished outcome=\"success\" attempts=2"),
            "{log}"
        );
        assert_eq!(total(&points, c, &[]), 1, "one call: {points:?}");
        // Each attempt is still recorded, the losing 503 as a failure.
        let a = "http.client.request.duration";
        assert_eq!(total(&points, a, &[]), 2, "{points:?}");
        assert_eq!(
            total(&points, a, &[("http.response.status_code", "503")]),
            1
        );
    }

    /// Each logical call ends in one `finished` event and one
    /// `tower_api_errors.call.duration` record, whatever its attempts; the
    /// attempts field and the attempts histogram agree.
    #[tokio::test(start_paused = true)]
    async fn each_call_finishes_once_with_its_attempts_and_stop_reason() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let scripted = scripted::Scripted::new();
        let upstream = scripted.service(|n| match n % 4 {
            0..=2 => scripted::reply(503, &[], r#"{"error": "down"}"#),
            _ => scripted::reply(200, &[], "{}"),
        });
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                scripted::exact()
                    .max_attempts(3)
                    .metrics(Metrics::from_provider(&provider)),
            ))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        // Call 1: 503, 503, 503 -> max_attempts. Call 2: 200.
        assert!(client
            .clone()
            .oneshot(scripted::get("http://api.test/a"))
            .await
            .is_err());
        client
            .clone()
            .oneshot(scripted::get("http://api.test/a"))
            .await
            .unwrap();
        let log = logs.text();
        assert_eq!(count_events(&log, "finished"), 2, "{log}");
        assert_eq!(count_events(&log, "retrying"), 2, "{log}");
        assert!(
            log.contains("finished outcome=\"failure\" attempts=3"),
            "{log}"
        );
        assert!(
            log.contains("finished outcome=\"success\" attempts=1"),
            "{log}"
        );
        let points = points(&provider, &exporter);
        assert_eq!(total(&points, "tower_api_errors.call.duration", &[]), 2);
        assert_eq!(
            total(
                &points,
                "tower_api_errors.call.duration",
                &[("tower_api_errors.stop_reason", "max_attempts")]
            ),
            1
        );
        assert_eq!(total(&points, "http.client.request.duration", &[]), 4);
    }

    /// `tower_api_errors.wait.source` = `retry_after` is "A server's explicit
    /// hint: `Retry-After`, `retry-after-ms`, gRPC pushback, or a body's
    /// `retry_after`" (src/observe/otel/instruments.rs, `WaitSource::RetryAfter`),
    /// and "time waited on rate limits" is read as the `retry_after` and
    /// `rate_limit` waits (src/metrics/mod.rs). A breaker that opened on its
    /// own count (the server sent no hint) and whose break the retry layer
    /// waits out is no server hint and no rate limit (`cooldown` is "a
    /// cooldown after a failure told the client to stay away").
    #[tokio::test(start_paused = true)]
    async fn waiting_out_a_self_timed_breaker_break_is_not_a_server_retry_after() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let scripted = scripted::Scripted::new();
        // Down twice (no hint anywhere), then up.
        let upstream = scripted.service(|n| match n {
            0 | 1 => scripted::reply(503, &[], r#"{"error": "down"}"#),
            _ => scripted::reply(200, &[], "{}"),
        });
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                scripted::exact()
                    .max_attempts(5)
                    .metrics(Metrics::from_provider(&provider)),
            ))
            .layer(CircuitBreakerLayer::new().minimum_calls(2))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        client
            .oneshot(scripted::get("http://api.test/v1/items"))
            .await
            .unwrap();
        let log = logs.text();
        assert!(
            log.contains("retrying attempt=3"),
            "the break was waited out: {log}"
        );
        let points = points(&provider, &exporter);
        let w = "tower_api_errors.waits";
        let s = "tower_api_errors.wait.source";
        assert_eq!(
            (
                total(&points, w, &[(s, "retry_after")]),
                total(&points, w, &[(s, "rate_limit")])
            ),
            (0, 0),
            "no server hint, no rate limit: {points:?}\n{log}"
        );
        assert_eq!(total(&points, w, &[(s, "cooldown")]), 1, "{points:?}");
        assert!(!log.contains("hint=\"retry-after\""), "{log}");
        assert!(log.contains("hint=\"cooldown\""), "{log}");
    }

    /// Hands out `tk-s3cr3t-1`, then `tk-s3cr3t-2` on refresh...
    #[derive(Default)]
    struct Rotating(AtomicU32);

    impl TokenSource for Rotating {
        fn current(&self) -> TokenFuture<'_> {
            self.next()
        }
        fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
            self.next()
        }
    }

    impl Rotating {
        fn next(&self) -> TokenFuture<'_> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move { Ok(Credential::new(&format!("tk-s3cr3t-{n}")).unwrap()) })
        }
    }

    const SWEEP_SECRETS: &[&str] = &[
        "tk-s3cr3t",
        "userpw-s3cr3t",
        "amzsig-s3cr3t",
        "amzcred-s3cr3t",
        "amztok-s3cr3t",
        "sassig-s3cr3t",
        "qkey-s3cr3t",
        "qtoken-s3cr3t",
        "xapikey-s3cr3t",
        "cookie-s3cr3t",
        "s3cr3t",
    ];

    type Body2 = ReplayBody<ReplayBody<Full<Bytes>>>;

    #[tokio::test(start_paused = true)]
    async fn no_secret_in_any_span_event_or_metric_across_failure_scenarios() {
        let (provider, exporter) = sdk();
        let metrics = Metrics::from_provider(&provider).error_codes(["E_ALLOWED"]);
        let (logs, _guard) = captured_logs::capture(FmtSpan::FULL);
        let seen: Arc<std::sync::Mutex<BTreeMap<String, u32>>> = Arc::default();
        let counter = seen.clone();
        let upstream = service_fn(move |req: Request<Body2>| {
            let path = req.uri().path().to_owned();
            let n = {
                let mut seen = counter.lock().unwrap();
                let n = seen.entry(path.clone()).or_default();
                *n += 1;
                *n
            };
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let key = req
                .headers()
                .get("x-api-key")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let token = auth.trim_start_matches("Bearer ").to_owned();
            let query = req.uri().query().unwrap_or("").to_owned();
            async move {
                let echo = format!(r#"{auth} {key} {query} {token}"#).replace('"', "");
                let json = |code: &str| {
                    format!(
                        r#"{{"error": {{"code": "{code}", "message": "{echo}", "details": [{{"reason": "{token}"}}]}}}}"#
                    )
                };
                let response = match path.as_str() {
                    // 401 while the first credential is sent, with it echoed.
                    "/auth" if token.ends_with("-1") => scripted::reply(
                        401,
                        &[("www-authenticate", r#"Bearer error="invalid_token""#)],
                        &json(&format!("invalid_token_{token}")),
                    ),
                    // 429 with a rate-limit window, once, then a spent window.
                    "/throttle" if n == 1 => scripted::reply(
                        429,
                        &[
                            ("retry-after", "1"),
                            ("x-ratelimit-limit", "10"),
                            ("x-ratelimit-remaining", "0"),
                            ("x-ratelimit-reset", "1"),
                        ],
                        &json(&key),
                    ),
                    // A body that is no JSON at all, echoing everything.
                    "/garbage" if n <= 2 => scripted::reply(
                        500,
                        &[("content-type", "text/plain")],
                        &format!("<html>oops {echo}"),
                    ),
                    // Truncated JSON.
                    "/truncated" if n <= 2 => scripted::reply(
                        503,
                        &[("content-type", "application/json")],
                        &format!(r#"{{"error": {{"code": "{token}", "mess"#),
                    ),
                    // Always down: the breaker opens.
                    "/down" => scripted::reply(502, &[], &json(&query)),
                    // Slow first answer: the hedge goes.
                    "/slow" => {
                        if n == 1 {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        scripted::reply(200, &[], "{}")
                    }
                    _ => scripted::reply(200, &[], "{}"),
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let stack = ApiErrorsLayer::new()
            .retry(scripted::exact().metrics(metrics.clone()))
            .auth(AuthLayer::new(Rotating::default()).metrics(metrics.clone()))
            .quota(QuotaLayer::new().metrics(metrics.clone()))
            .breaker(
                CircuitBreakerLayer::new()
                    .minimum_calls(3)
                    .metrics(metrics.clone()),
            )
            .hedge(
                HedgeLayer::fixed(Duration::from_millis(100))
                    .no_budget()
                    .metrics(metrics.clone()),
            )
            .client(upstream);
        let mut outputs = Vec::new();
        for path in [
            "/auth",
            "/throttle",
            "/throttle",
            "/garbage",
            "/truncated",
            "/slow",
            "/down",
            "/down",
            "/down",
            "/down",
        ] {
            let uri = format!(
                "https://user:userpw-s3cr3t@api.test{path}?X-Amz-Signature=amzsig-s3cr3t&X-Amz-Credential=amzcred-s3cr3t\
                 &X-Amz-Security-Token=amztok-s3cr3t&sig=sassig-s3cr3t&key=qkey-s3cr3t&token=qtoken-s3cr3t&page=2"
            );
            let request = Request::get(uri)
                .header("x-api-key", "xapikey-s3cr3t")
                .header("cookie", "session=cookie-s3cr3t")
                .body(Full::new(Bytes::new()))
                .unwrap();
            match stack.clone().oneshot(request).await {
                Ok(response) => outputs.push(format!("{:?}", response.status())),
                Err(error) => outputs.push(support::error_text(&error)),
            }
        }
        let log = logs.text();
        // The scenarios happened.
        for event in [
            "credential_rejected",
            "credential_installed",
            "retrying",
            "api_error",
            "breaker_opened",
            "hedge_sent",
            "finished",
        ] {
            assert!(log.contains(event), "{event} missing:\n{log}");
        }
        let points = points(&provider, &exporter);
        let attrs: Vec<String> = points
            .iter()
            .flat_map(|(_, a, _)| a.iter().map(|(k, v)| format!("{k}={v}")))
            .collect();
        for secret in SWEEP_SECRETS {
            for line in log.lines() {
                assert!(!line.contains(secret), "{secret} in log: {line}");
            }
            for attr in &attrs {
                assert!(!attr.contains(secret), "{secret} in attribute {attr}");
            }
            for output in &outputs {
                assert!(!output.contains(secret), "{secret} in output {output}");
            }
        }
    }
}

/// OpenTelemetry's span name for an unknown method, and a failure storm
/// (probe 8).
mod conventions_and_storms {
    use super::scripted;
    use crate::captured_logs;
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use tower::{service_fn, ServiceBuilder, ServiceExt};
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy};
    use tracing_subscriber::fmt::format::FmtSpan;

    /// OpenTelemetry's HTTP span conventions (semconv, "Name"): the span name
    /// is `{method}` "if the method represents the original method known to
    /// the instrumentation. In other cases (when `{http.request.method}` is set
    /// to `_OTHER`), `{method}` MUST be `HTTP`"; and `http.request.method_original`
    /// is conditionally required "if and only if it's different than
    /// `http.request.method`". The crate promises conformant client spans for
    /// tracing-opentelemetry (src/lib.rs:172-175).
    #[tokio::test(start_paused = true)]
    async fn an_unknown_method_names_its_attempt_span_http_and_keeps_the_original() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let upstream = service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
            Ok::<_, std::convert::Infallible>(scripted::reply(200, &[], "{}"))
        });
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        let request = Request::builder()
            .method("PURGE")
            .uri("http://api.test/v1/items")
            .body(Full::new(Bytes::new()))
            .unwrap();
        client.oneshot(request).await.unwrap();
        let log = logs.text();
        let attempt = log
            .lines()
            .find(|l| l.contains("api_attempt{") && l.contains(": close"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(
            attempt.contains("http.request.method=\"_OTHER\""),
            "{attempt}"
        );
        assert!(attempt.contains("otel.name=\"HTTP\""), "{attempt}");
        assert!(
            attempt.contains("http.request.method_original=\"PURGE\""),
            "{attempt}"
        );
    }

    /// A storm of 10,000 failures: a constant number of events per call (no
    /// event per byte of body or per header), and huge bodies with thousands
    /// of headers log exactly what small ones do.
    #[tokio::test(start_paused = true)]
    async fn a_failure_storm_logs_a_constant_number_of_lines_per_call() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let big = Arc::new(AtomicU32::new(0));
        let flag = big.clone();
        let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
            let big = flag.load(Ordering::SeqCst) == 1;
            async move {
                let mut builder = Response::builder().status(503);
                let body = if big {
                    for i in 0..2_000 {
                        builder = builder.header(format!("x-h{i}"), "v");
                    }
                    format!(
                        r#"{{"error": {{"code": "BUSY", "message": "{}"}}, "errors": [{}]}}"#,
                        "m".repeat(1 << 20),
                        vec![r#"{"field": "a", "message": "b"}"#; 5_000].join(",")
                    )
                } else {
                    r#"{"error": {"code": "BUSY", "message": "m"}}"#.to_owned()
                };
                Ok::<_, std::convert::Infallible>(
                    builder.body(Full::new(Bytes::from(body))).unwrap(),
                )
            }
        });
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(scripted::exact().max_attempts(1)))
            .layer(ErrorBodyParseLayer::new())
            .layer(tower_api_errors::StatusClassifierLayer::new())
            .service(upstream);
        const CALLS: usize = 10_000;
        for _ in 0..CALLS {
            let _ = client
                .clone()
                .oneshot(scripted::get("http://api.test/storm"))
                .await;
        }
        let small = logs.text().lines().count();
        assert_eq!(small % CALLS, 0, "lines {small} for {CALLS} calls");
        let per_call = small / CALLS;
        assert!(per_call <= 4, "{per_call} lines a call");
        big.store(1, Ordering::SeqCst);
        for _ in 0..10 {
            let _ = client
                .clone()
                .oneshot(scripted::get("http://api.test/storm"))
                .await;
        }
        let text = logs.text();
        let all = text.lines().count();
        assert_eq!(all - small, 10 * per_call, "{}", &text[text.len() - 2000..]);
        assert!(text.len() < 400 * all, "a line stays short");
    }
}

/// What is recorded as an HTTP request, and where (probe `observe`).
#[cfg(feature = "opentelemetry")]
mod requests_sent {
    use super::scripted;
    use crate::captured_logs::{self, Captured};
    use crate::exported::{points, sdk, total};
    use std::time::Duration;
    use tower::{Layer, ServiceBuilder, ServiceExt};
    use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
    use tower_api_errors::breaker::CircuitBreakerLayer;
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ApiErrorsLayer, ErrorBodyParseLayer, RetryLayer};
    use tracing_subscriber::fmt::format::FmtSpan;

    const ATTEMPT: &str = "http.client.request.duration";
    const CALL: &str = "tower_api_errors.call.duration";
    type Body = ReplayBody<http_body_util::Full<bytes::Bytes>>;

    /// The `api_attempt` spans closed: (client spans, spans of attempts
    /// never sent, marked `otel.kind="internal"`).
    fn attempt_spans(logs: &Captured) -> (usize, usize) {
        let text = logs.text();
        let closed: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(":api_attempt{") && l.contains(": close "))
            .collect();
        let unsent = closed
            .iter()
            .filter(|l| l.contains("otel.kind=\"internal\""))
            .count();
        (closed.len() - unsent, unsent)
    }

    /// An attempt dropped while the quota holds it, unsent, is no HTTP
    /// client span either: `otel.kind="internal"` (src/context/mod.rs,
    /// "An attempt dropped before it was sent"; tests/metrics.rs,
    /// `dropped`, for its metrics).
    #[tokio::test(start_paused = true)]
    async fn an_attempt_dropped_while_held_is_not_a_client_span() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let client = ApiErrorsLayer::new()
            .retry(scripted::exact())
            .quota(QuotaLayer::new())
            .layer(tower::service_fn(|_: http::Request<Body>| async {
                let spent = &[
                    ("x-ratelimit-limit", "1"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "10"),
                ];
                Ok::<_, tower::BoxError>(scripted::reply(200, spent, "{}"))
            }));
        let get = || scripted::get("http://api.test/x");
        client.clone().oneshot(get()).await.unwrap();
        let held = tokio::time::timeout(Duration::from_secs(3), client.oneshot(get()));
        assert!(held.await.is_err());
        assert_eq!(attempt_spans(&logs), (1, 1), "{}", logs.text());
        // Its `finished` event counts the attempts sent: none (it said 1,
        // where the call's metrics said 0; tests/metrics.rs, `dropped`).
        let finished = finished(&logs);
        assert!(
            finished[1].contains("outcome=\"cancelled\" attempts=0"),
            "{finished:?}"
        );
    }

    /// The `finished` event lines.
    fn finished(logs: &Captured) -> Vec<String> {
        let text = logs.text();
        let lines = text.lines().filter(|l| l.contains("telemetry: finished"));
        lines.map(str::to_owned).collect()
    }

    /// A call that ends counts the attempts it sent in its `finished`
    /// event, as its report and metrics do (`RetryReport::attempts`;
    /// tests/metrics.rs, `attempts_sent`): a retry the quota layer refused
    /// is not one, nor an attempt it held until the call's deadline, which
    /// is no HTTP client span either. Both were counted.
    #[tokio::test(start_paused = true)]
    async fn the_finished_event_counts_the_attempts_sent() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let upstream = |status: u16| {
            tower::service_fn(move |_: http::Request<Body>| async move {
                let spent = &[
                    ("retry-after", "1"),
                    ("x-ratelimit-limit", "1"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "60"),
                ];
                Ok::<_, tower::BoxError>(scripted::reply(status, spent, "{}"))
            })
        };
        let get = || scripted::get("http://api.test/x");
        let refusing = ServiceBuilder::new()
            .layer(RetryLayer::new(scripted::exact()))
            .layer(QuotaLayer::new().max_wait(Duration::from_secs(1)))
            .service(upstream(503));
        let error = refusing.oneshot(get()).await.unwrap_err();
        assert!(error.rate_limited().is_some(), "{error}");
        let holding = ServiceBuilder::new()
            .layer(RetryLayer::new(
                scripted::exact().deadline(Duration::from_secs(3)),
            ))
            .layer(QuotaLayer::new())
            .service(upstream(200));
        holding.clone().oneshot(get()).await.unwrap();
        let error = holding.oneshot(get()).await.unwrap_err();
        assert_eq!(
            error.kind(),
            tower_api_errors::ErrorKind::Transport,
            "{error}"
        );
        let finished = finished(&logs);
        assert_eq!(finished.len(), 3, "{finished:?}");
        let failed = |attempts| format!("outcome=\"failure\" attempts={attempts}");
        assert!(finished[0].contains(&failed(1)), "{finished:?}");
        assert!(finished[2].contains(&failed(0)), "{finished:?}");
        // The 503, the refused retry, the success, the held attempt.
        assert_eq!(attempt_spans(&logs), (2, 2), "{}", logs.text());
    }

    /// `http.client.request.duration` is the "Duration of each HTTP
    /// request sent (each attempt)" (src/metrics/mod.rs, the table), and
    /// `api_attempt` an OTel HTTP client span (src/lib.rs): a quota
    /// gate's local refusal sends nothing, so it is neither; the call is
    /// still recorded.
    #[tokio::test(start_paused = true)]
    async fn a_quota_refusal_is_not_an_http_request() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let scripted = scripted::Scripted::new();
        let spent = [
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "60"),
            ("retry-after", "60"),
        ];
        let metrics = Metrics::from_provider(&provider);
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                scripted::exact().max_attempts(1).metrics(metrics.clone()),
            ))
            .layer(
                QuotaLayer::new()
                    .max_wait(Duration::from_secs(1))
                    .metrics(metrics),
            )
            .layer(ErrorBodyParseLayer::new())
            .service(scripted.service(move |_| scripted::reply(429, &spent, "")));
        for _ in 0..2 {
            let call = client.clone().oneshot(scripted::get("http://api.test/x"));
            assert!(call.await.is_err());
        }
        assert_eq!(scripted.count(), 1, "the second call was refused locally");
        let points = points(&provider, &exporter);
        assert_eq!(total(&points, ATTEMPT, &[]), 1, "{points:?}");
        assert_eq!(total(&points, CALL, &[]), 2, "{points:?}");
        assert_eq!(attempt_spans(&logs), (1, 1), "{}", logs.text());
    }

    /// The same for a circuit breaker's refusals, in the stack.
    #[tokio::test(start_paused = true)]
    async fn a_breaker_refusal_is_not_an_http_request() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let scripted = scripted::Scripted::new();
        let metrics = Metrics::from_provider(&provider);
        let client = ApiErrorsLayer::new()
            .retry(scripted::exact().max_attempts(1).metrics(metrics.clone()))
            .breaker(
                CircuitBreakerLayer::new()
                    .minimum_calls(2)
                    .failure_rate(0.5)
                    .metrics(metrics),
            )
            .layer(scripted.service::<Body>(|_| scripted::reply(500, &[], "")));
        for _ in 0..5 {
            let call = client.clone().oneshot(scripted::get("http://api.test/x"));
            assert!(call.await.is_err());
        }
        let sent = scripted.count();
        assert!(sent < 5, "the breaker opened: {sent}");
        let points = points(&provider, &exporter);
        assert_eq!(total(&points, ATTEMPT, &[]), sent as u64, "{points:?}");
        assert_eq!(total(&points, CALL, &[]), 5, "{points:?}");
        assert_eq!(attempt_spans(&logs), (sent, 5 - sent), "{}", logs.text());
    }

    /// The auth layer ends a request before sending it (its token source
    /// fails): nothing went on the wire.
    #[tokio::test(start_paused = true)]
    async fn an_auth_failure_before_sending_is_not_an_http_request() {
        struct Down;
        impl TokenSource for Down {
            fn current(&self) -> TokenFuture<'_> {
                Box::pin(async { Err("idp down".into()) })
            }
            fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
                self.current()
            }
        }
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let scripted = scripted::Scripted::new();
        let metrics = Metrics::from_provider(&provider);
        let client = ApiErrorsLayer::new()
            .retry(scripted::exact().max_attempts(1).metrics(metrics.clone()))
            .auth(AuthLayer::new(Down).metrics(metrics))
            .layer(scripted.service::<Body>(|_| scripted::reply(200, &[], "")));
        let error = client
            .oneshot(scripted::get("http://api.test/x"))
            .await
            .unwrap_err();
        assert_eq!(scripted.count(), 0, "{error:?}");
        let points = points(&provider, &exporter);
        assert_eq!(total(&points, ATTEMPT, &[]), 0, "{points:?}");
        assert_eq!(total(&points, CALL, &[]), 1, "{points:?}");
        assert_eq!(attempt_spans(&logs), (0, 1), "{}", logs.text());
    }

    /// Spans, events and metrics agree on `server.address` ("decided
    /// here, so the two always agree", src/observe/mod.rs): an IPv6
    /// literal without its brackets, as OpenTelemetry has it.
    #[tokio::test(start_paused = true)]
    async fn span_and_metric_agree_on_an_ipv6_server_address() {
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let scripted = scripted::Scripted::new();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(
                scripted::exact().metrics(Metrics::from_provider(&provider)),
            ))
            .service(scripted.service(|_| scripted::reply(200, &[], "")));
        let call = client.oneshot(scripted::get("http://[2001:db8::1]:8080/x"));
        call.await.unwrap();
        let uri = "http://[2001:db8::1]:8080/x".parse().unwrap();
        tower_api_errors::observe::Observer::new().breaker_opened(&uri, Duration::from_secs(1));
        let points = points(&provider, &exporter);
        let address = [("server.address", "2001:db8::1")];
        assert_eq!(total(&points, ATTEMPT, &address), 1, "{points:?}");
        let text = logs.text();
        assert!(!text.contains("address=\"["), "{text}");
        assert!(
            text.contains("breaker_opened address=\"2001:db8::1\""),
            "{text}"
        );
        let close = text.lines().find(|l| l.contains(":api_attempt{")).unwrap();
        assert_eq!(close.matches("server.address=\"2001:db8::1\"").count(), 2);
    }

    /// `credential_rejected`'s `renewal` takes only the values the
    /// tracing table lists (src/lib.rs): a refresh, then a rejection
    /// while the failed refresh's backoff runs.
    #[tokio::test(start_paused = true)]
    async fn credential_rejected_renewal_values_are_the_documented_ones() {
        struct FirstOnly;
        impl TokenSource for FirstOnly {
            fn current(&self) -> TokenFuture<'_> {
                Box::pin(async { Ok(Credential::new("tok-1").unwrap()) })
            }
            fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
                Box::pin(async { Err("idp down".into()) })
            }
        }
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let scripted = scripted::Scripted::new();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(scripted::exact()))
            .layer(AuthLayer::new(FirstOnly))
            .layer(ErrorBodyParseLayer::new())
            .service(scripted.service::<Body>(|_| scripted::reply(401, &[], "")));
        for _ in 0..2 {
            let call = client.clone().oneshot(scripted::get("http://api.test/x"));
            assert!(call.await.is_err());
        }
        let row = include_str!("../src/lib.rs")
            .lines()
            .find(|l| l.contains("| event `credential_rejected`"))
            .unwrap();
        let text = logs.text();
        let values: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split("renewal=\"").nth(1))
            .filter_map(|v| v.split('"').next())
            .collect();
        assert_eq!(values, ["refresh", "backing_off"], "{text}");
        for value in values {
            assert!(
                row.contains(&format!("`{value}`")),
                "{value} undocumented: {row}"
            );
        }
    }

    /// One `api_attempt` per attempt of the retry layer (src/lib.rs, the
    /// tracing table): the auth layer's re-send after a 401 is a second
    /// request sent within the same attempt, as in the metrics (one
    /// `http.client.request.duration` point).
    #[tokio::test(start_paused = true)]
    async fn an_auth_resend_is_part_of_its_attempt_span() {
        #[derive(Default)]
        struct Rotating(std::sync::atomic::AtomicU32);
        impl TokenSource for Rotating {
            fn current(&self) -> TokenFuture<'_> {
                let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                Box::pin(async move { Ok(Credential::new(&format!("tok-{n}")).unwrap()) })
            }
            fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
                self.current()
            }
        }
        let (provider, exporter) = sdk();
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let scripted = scripted::Scripted::new();
        let client = ApiErrorsLayer::new()
            .retry(scripted::exact().metrics(Metrics::from_provider(&provider)))
            .auth(AuthLayer::new(Rotating::default()))
            .layer(scripted.service::<Body>(|n| scripted::reply([401, 200][n.min(1)], &[], "")));
        let call = client.oneshot(scripted::get("http://api.test/x"));
        assert_eq!(call.await.unwrap().status(), 200);
        assert_eq!(scripted.count(), 2, "the request and its re-send");
        let points = points(&provider, &exporter);
        assert_eq!(total(&points, ATTEMPT, &[]), 1, "{points:?}");
        assert_eq!(attempt_spans(&logs), (1, 0), "{}", logs.text());
        let row = include_str!("../src/lib.rs")
            .lines()
            .find(|l| l.contains("| span `api_attempt`"))
            .unwrap();
        assert!(
            row.contains("re-send below is part of its attempt"),
            "{row}"
        );
    }
}

/// One logical request, one `api_request` span and one `finished` event,
/// however it ends: hedged, or dropped by its caller (probe `observe`).
mod one_request {
    use super::scripted::{delayed, exact, get, Answer};
    use crate::captured_logs::{self, Captured};
    use bytes::Bytes;
    use http_body_util::Full;
    use std::time::Duration;
    use tower::{Layer, ServiceBuilder, ServiceExt};
    use tower_api_errors::hedge::HedgeLayer;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ApiErrorsLayer, ErrorBodyParseLayer, RetryLayer};
    use tracing_subscriber::fmt::format::FmtSpan;

    type Body = ReplayBody<Full<Bytes>>;

    /// (`api_request` spans closed, `api_attempt` spans closed, the
    /// `finished` event lines).
    fn seen(logs: &Captured) -> (usize, usize, Vec<String>) {
        let text = logs.text();
        let closed = |l: &&str| l.contains(": close ");
        let attempts = text
            .lines()
            .filter(closed)
            .filter(|l| l.contains(":api_attempt{"));
        let requests = text
            .lines()
            .filter(closed)
            .filter(|l| !l.contains(":api_attempt{"));
        let finished = text.lines().filter(|l| l.contains("telemetry: finished"));
        let finished = finished.map(str::to_owned).collect();
        (requests.count(), attempts.count(), finished)
    }

    /// src/lib.rs, the tracing table: "span `api_request` (retry layer, one
    /// per logical request)". A hedged call is one logical request: its
    /// two attempts, each through the retry layer below the hedge layer,
    /// are two `api_attempt`s of one `api_request`, which holds the
    /// call's one `finished` event too.
    #[tokio::test(start_paused = true)]
    async fn a_hedged_call_has_one_request_span() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let client = ApiErrorsLayer::new()
            .retry(exact())
            .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget())
            .layer(delayed::<ReplayBody<Body>>(&Default::default(), |n| {
                let slow = [Duration::from_secs(5), Duration::from_millis(10)];
                (Some(slow[n.min(1)]), 200, &[])
            }));
        client.oneshot(get("http://api.test/x")).await.unwrap();
        let (requests, attempts, finished) = seen(&logs);
        assert_eq!(
            (requests, attempts, finished.len()),
            (1, 2, 1),
            "{}",
            logs.text()
        );
        assert!(finished[0].contains("api_request{"), "{finished:?}");
        assert!(finished[0].contains("attempts=2"), "{finished:?}");
    }

    /// The same without a hedge: one span for the retry layer alone and
    /// for the stack, retried or not.
    #[tokio::test(start_paused = true)]
    async fn a_retried_call_has_one_request_span_alone_and_in_the_stack() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let answer = |n: usize| (Some(Duration::ZERO), [503, 200][n.min(1)], &[][..]);
        let alone = ServiceBuilder::new()
            .layer(RetryLayer::new(exact()))
            .layer(ErrorBodyParseLayer::new())
            .service(delayed(&Default::default(), answer));
        alone.oneshot(get("http://api.test/x")).await.unwrap();
        assert_eq!(seen(&logs).0, 1);
        let stack = ApiErrorsLayer::new()
            .retry(exact())
            .layer(delayed::<Body>(&Default::default(), answer));
        stack.oneshot(get("http://api.test/x")).await.unwrap();
        let (requests, attempts, finished) = seen(&logs);
        assert_eq!(
            (requests, attempts, finished.len()),
            (2, 4, 2),
            "{}",
            logs.text()
        );
    }

    /// A call through the retry layer over `answer`, dropped after 3 s:
    /// one request span, one attempt span, one `finished` event (outcome
    /// `cancelled`, one attempt); the attempt span's close line.
    async fn dropped(answer: fn(usize) -> Answer) -> String {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(exact()))
            .layer(ErrorBodyParseLayer::new())
            .service(delayed(&Default::default(), answer));
        let call = client.oneshot(get("http://api.test/x"));
        let cut = tokio::time::timeout(Duration::from_secs(3), call).await;
        assert!(cut.is_err());
        let (requests, attempts, finished) = seen(&logs);
        let text = logs.text();
        assert_eq!((requests, attempts, finished.len()), (1, 1, 1), "{text}");
        let cancelled = "outcome=\"cancelled\" attempts=1";
        assert!(finished[0].contains(cancelled), "{finished:?}");
        let closed = |l: &&str| l.contains(":api_attempt{") && l.contains(": close ");
        text.lines().find(closed).unwrap().to_owned()
    }

    /// A call its caller dropped is still "each logical request's outcome"
    /// (src/lib.rs, the `finished` row), as in the metrics
    /// (tests/metrics.rs, `dropped`): one `finished` event, outcome
    /// `cancelled`, and the attempt cut in flight says so.
    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_mid_attempt_finishes_cancelled() {
        let attempt = dropped(|_| (None, 200, &[])).await;
        assert!(attempt.contains("error.type=\"cancelled\""), "{attempt}");
        let row = include_str!("../src/lib.rs")
            .lines()
            .find(|l| l.contains("| event `finished`"))
            .unwrap();
        assert!(row.contains("`outcome` `cancelled`"), "{row}");
    }

    /// Dropped while waiting to retry: the attempt had ended (its own
    /// failure stays on its span), the call is cancelled.
    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_mid_wait_finishes_cancelled() {
        let attempt = dropped(|_| (Some(Duration::ZERO), 503, &[("retry-after", "10")])).await;
        assert!(attempt.contains("error.type=\"unavailable\""), "{attempt}");
    }

    /// The caller gives up 3 s into a 10 s wait: the `finished` event's
    /// `waited_ms` is the 3 s waited (it said the 10 s planned, more than
    /// the whole call lasted), as `tower_api_errors.wait.duration` (tests/metrics.rs,
    /// `cut_short`).
    #[tokio::test(start_paused = true)]
    async fn a_wait_cut_short_is_logged_as_waited() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(exact()))
            .layer(ErrorBodyParseLayer::new())
            .service(delayed(&Default::default(), |_| {
                (Some(Duration::ZERO), 503, &[("retry-after", "10")])
            }));
        let call = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .is_err());
        let finished = seen(&logs).2;
        assert_eq!(finished.len(), 1, "{}", logs.text());
        let cut = "outcome=\"cancelled\" attempts=1 waited_ms=3000";
        assert!(finished[0].ends_with(cut), "{finished:?}");
    }

    /// A hedged call dropped with both attempts in flight: one `finished`
    /// (the hedge layer's), in the call's one span; both attempts
    /// cancelled.
    #[tokio::test(start_paused = true)]
    async fn a_hedged_call_dropped_finishes_cancelled_once() {
        let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
        let client = ApiErrorsLayer::new()
            .retry(exact())
            .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget())
            .layer(delayed::<ReplayBody<Body>>(&Default::default(), |_| {
                (None, 200, &[])
            }));
        let call = client.oneshot(get("http://api.test/x"));
        assert!(tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .is_err());
        let (requests, attempts, finished) = seen(&logs);
        assert_eq!(
            (requests, attempts, finished.len()),
            (1, 2, 1),
            "{}",
            logs.text()
        );
        assert!(
            finished[0].contains("outcome=\"cancelled\" attempts=2"),
            "{finished:?}"
        );
        assert!(finished[0].contains("api_request{"), "{finished:?}");
        let cancelled = logs.text().matches("error.type=\"cancelled\"").count();
        assert_eq!(cancelled, 2, "{}", logs.text());
    }
}

/// hyper's low-level client (`hyper::client::conn`) sends origin-form
/// requests: a URI `/path` and a `Host` header. OpenTelemetry's HTTP
/// client span (semantic-conventions docs/http/http-spans.md, notes on
/// `server.address` and `server.port`): outside absolute-form, they
/// "SHOULD match the host component [port component] of the `Host`
/// header"; both are Required, on the spans and on
/// `http.client.request.duration`. `url.full` "SHOULD capture the absolute
/// URL when it [...] can be reconstructed", its scheme unknown here: the
/// same page's example `//localhost`. An IPv6 literal without brackets.
#[cfg(feature = "opentelemetry")]
mod origin_form {
    use crate::captured_logs;
    use crate::exported::{points, sdk, total};
    use bytes::Bytes;
    use http::Request;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use std::sync::Arc;
    use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
    use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};
    use tracing_subscriber::fmt::format::FmtSpan;

    #[tokio::test(flavor = "current_thread")]
    async fn server_and_url_come_from_the_host_header() {
        let addr =
            crate::support::serve(|_| async { crate::support::response(200, &[], "{}") }).await;
        let port = addr.port().to_string();
        let here = format!("127.0.0.1:{port}");
        // (Host, server.address, server.port, url.full's authority)
        let rows = [
            (
                here.as_str(),
                "127.0.0.1",
                Some(port.as_str()),
                here.as_str(),
            ),
            ("[::1]:8080", "::1", Some("8080"), "[::1]:8080"),
            ("API.test", "API.test", None, "API.test"),
            // No user-info in a `Host` (RFC 9110 §7.2); one sent anyway is
            // shown nowhere.
            (
                "u:s3cr3t-pass@api.test:8080",
                "api.test",
                Some("8080"),
                "api.test:8080",
            ),
        ];
        for (host, address, port, authority) in rows {
            let (provider, exporter) = sdk();
            let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (sender, connection) = hyper::client::conn::http1::handshake::<
                _,
                ReplayBody<Full<Bytes>>,
            >(TokioIo::new(stream))
            .await
            .unwrap();
            tokio::spawn(connection);
            let sender = Arc::new(tokio::sync::Mutex::new(sender));
            let conn = service_fn(move |request| {
                let sender = sender.clone();
                async move {
                    let mut sender = sender.lock().await;
                    sender.ready().await?;
                    Ok::<_, BoxError>(sender.send_request(request).await?)
                }
            });
            let policy = RetryPolicy::default().metrics(Metrics::from_provider(&provider));
            let client = ServiceBuilder::new()
                .layer(RetryLayer::new(policy))
                .layer(ErrorBodyParseLayer::new())
                .layer(StatusClassifierLayer::new())
                .service(conn);
            let request = Request::get("/v1/things?api_key=s3cr3t-key")
                .header("host", host)
                .body(Full::new(Bytes::new()))
                .unwrap();
            client.oneshot(request).await.unwrap();

            let points = points(&provider, &exporter);
            let attempt = points
                .iter()
                .find(|(metric, ..)| metric == "http.client.request.duration")
                .unwrap_or_else(|| panic!("{host}: {points:?}"));
            let attrs = &attempt.1;
            assert_eq!(
                attrs.get("server.address").map(String::as_str),
                Some(address),
                "{host}"
            );
            assert_eq!(attrs.get("server.port").map(String::as_str), port, "{host}");
            let duration = [("server.address", address)];
            assert_eq!(
                total(&points, "tower_api_errors.call.duration", &duration),
                1,
                "{host}"
            );

            let text = logs.text();
            let url = format!("url.full=//{authority}/v1/things?api_key=REDACTED");
            let mut expected = vec![format!("server.address=\"{address}\""), url];
            expected.extend(port.map(|port| format!("server.port={port}")));
            // The attempt's closing line shows its parent's fields too.
            let closing = |attempt: bool| {
                let line = text
                    .lines()
                    .find(|l| l.contains(": close ") && l.contains(":api_attempt{") == attempt);
                line.unwrap_or_else(|| panic!("{host}: {text}")).to_owned()
            };
            for (span, times) in [(closing(false), 1), (closing(true), 2)] {
                for field in &expected {
                    assert_eq!(
                        span.matches(field.as_str()).count(),
                        times,
                        "{host}: {field} in {span}"
                    );
                }
                assert!(port.is_some() || !span.contains("server.port"), "{span}");
            }
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!format!("{points:?}").contains("s3cr3t"), "{points:?}");
        }
    }
}
