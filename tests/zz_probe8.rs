//! Probe 8: observability (the one observer, its tracing and OpenTelemetry
//! backends): documented events emitted once, bounded attributes, no
//! credential in any log line, span field or metric attribute.
#![cfg(all(feature = "tracing", feature = "opentelemetry"))]

mod support;

#[path = "support/captured_logs.rs"]
mod captured_logs;
#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::metrics::Metrics;
use tower_api_errors::quota::QuotaLayer;
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy};
use tracing_subscriber::fmt::format::FmtSpan;

/// An SDK over an in-memory exporter.
fn sdk() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (provider, exporter)
}

/// Every data point: (metric, sorted "k=v" attributes, count or value).
fn points(
    provider: &SdkMeterProvider,
    exporter: &InMemoryMetricExporter,
) -> Vec<(String, BTreeMap<String, String>, u64)> {
    provider.force_flush().unwrap();
    let batches = exporter.get_finished_metrics().unwrap();
    let Some(batch) = batches.last() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for metric in batch.scope_metrics().flat_map(|s| s.metrics()) {
        let name = metric.name().to_owned();
        let attrs = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    out.push((name.clone(), attrs(&mut p.attributes()), p.count()));
                }
            }
            AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    out.push((name.clone(), attrs(&mut p.attributes()), p.count()));
                }
            }
            AggregatedMetrics::U64(MetricData::Sum(s)) => {
                for p in s.data_points() {
                    out.push((name.clone(), attrs(&mut p.attributes()), p.value()));
                }
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    out
}

fn total(
    points: &[(String, BTreeMap<String, String>, u64)],
    metric: &str,
    attrs: &[(&str, &str)],
) -> u64 {
    points
        .iter()
        .filter(|(m, a, _)| {
            m == metric
                && attrs
                    .iter()
                    .all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, n)| n)
        .sum()
}

// ---------------------------------------------------------------------------
// Hedges: sent, won, cancelled.
// ---------------------------------------------------------------------------

/// `hedge_cancelled` is documented as "another attempt answered first, or
/// the call was dropped" (src/observe/mod.rs:234-235, the events table).
/// A caller that gives up (a timeout above the hedge layer) while the
/// first attempt and its hedge are both in flight drops both: one hedge
/// sent, one cancelled.
// FAILS: dropping a hedged call with its hedge in flight reports no hedge_cancelled (no Drop in hedge::ResponseFuture)
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

/// The hedge answers first: one sent, one won, none cancelled (the first
/// attempt is dropped, but it is not a hedge).
#[tokio::test(start_paused = true)]
async fn a_hedge_that_answers_first_counts_sent_and_won_once_each() {
    let (provider, exporter) = sdk();
    let n = Arc::new(AtomicU32::new(0));
    let counter = n.clone();
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            let ms = if first { 5_000 } else { 10 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
        }
    });
    let client = HedgeLayer::fixed(Duration::from_millis(50))
        .no_budget()
        .metrics(Metrics::from_provider(&provider))
        .layer(upstream);
    client
        .oneshot(scripted::get("http://api.test/v1/items"))
        .await
        .unwrap();
    let points = points(&provider, &exporter);
    let h = "tower_api_errors.hedges";
    let e = "tower_api_errors.hedge.event";
    assert_eq!(
        [
            total(&points, h, &[(e, "sent")]),
            total(&points, h, &[(e, "won")]),
            total(&points, h, &[(e, "cancelled")])
        ],
        [1, 1, 0],
        "{points:?}"
    );
}

// ---------------------------------------------------------------------------
// Quota holds.
// ---------------------------------------------------------------------------

/// `tower_api_errors.quota.holds` is documented as a `{request}` counter,
/// "each request a quota gate held before sending" (src/metrics/mod.rs:
/// the table). Requests queued behind a spent window of one request each
/// are held; each request counts once, however many times the store
/// makes it wait again.
// FAILS: quota.holds counts every re-hold of the same request (4 queued requests -> 10 holds), not each held request once
#[tokio::test(start_paused = true)]
async fn quota_holds_count_each_held_request_once() {
    let (provider, exporter) = sdk();
    let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
    let upstream = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(scripted::reply(
            200,
            &[
                ("x-ratelimit-limit", "1"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "2"),
            ],
            "{}",
        ))
    });
    let quota = QuotaLayer::new()
        .max_wait(Duration::from_secs(60))
        .metrics(Metrics::from_provider(&provider));
    let client = quota.layer(upstream);
    // Learns the spent window.
    client
        .clone()
        .oneshot(scripted::get("http://api.test/x"))
        .await
        .unwrap();
    let calls: Vec<_> = (0..4)
        .map(|i| {
            client
                .clone()
                .oneshot(scripted::get(&format!("http://api.test/x/{i}")))
        })
        .collect();
    for result in futures_join(calls).await {
        result.unwrap();
    }
    let points = points(&provider, &exporter);
    let holds = total(&points, "tower_api_errors.quota.holds", &[]);
    let waits = total(
        &points,
        "tower_api_errors.waits",
        &[("tower_api_errors.wait.source", "quota")],
    );
    let log = logs.text();
    let held_events = log.matches("quota_held").count();
    assert!(holds >= 1, "{points:?}");
    assert_eq!(
        holds, 4,
        "4 held requests; waits {waits}, quota_held events {held_events}\n{log}"
    );
}

/// Joins futures on the current task, in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<Option<std::pin::Pin<Box<F>>>> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

// ---------------------------------------------------------------------------
// OpenTelemetry conventions on the attempt span.
// ---------------------------------------------------------------------------

/// OpenTelemetry's HTTP span conventions (semconv, "Name"): the span name
/// is `{method}` "if the method represents the original method known to
/// the instrumentation. In other cases (when `{http.request.method}` is set
/// to `_OTHER`), `{method}` MUST be `HTTP`"; and `http.request.method_original`
/// is conditionally required "if and only if it's different than
/// `http.request.method`". The crate promises conformant client spans for
/// tracing-opentelemetry (src/lib.rs:172-175).
// FAILS: a PURGE attempt span is named otel.name="_OTHER" (semconv: "HTTP") and has no http.request.method_original
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

// ---------------------------------------------------------------------------
// Cardinality.
// ---------------------------------------------------------------------------

/// 2,000 calls, each with a distinct custom method and path and query: the
/// metrics stay a handful of series (method `_OTHER`, host and port only).
#[tokio::test(start_paused = true)]
async fn distinct_methods_paths_and_queries_do_not_make_series() {
    let (provider, exporter) = sdk();
    let n = Arc::new(AtomicU32::new(0));
    let counter = n.clone();
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        let status = [200, 503, 404, 429][(i % 4) as usize];
        async move {
            Ok::<_, std::convert::Infallible>(scripted::reply(
                status,
                &[("retry-after", "0")],
                &format!(r#"{{"error": {{"code": "E{i}", "message": "m{i}"}}}}"#),
            ))
        }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(
            scripted::exact().max_attempts(2).metrics(Metrics::from_provider(&provider)),
        ))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    for i in 0..2_000 {
        let request = Request::builder()
            .method(format!("FOO{i}").as_str())
            .uri(format!("http://api.test/v1/users/{i}/items?cursor={i}&key=k{i}"))
            .header("idempotency-key", format!("idem-{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let _ = client.clone().oneshot(request).await;
    }
    let points = points(&provider, &exporter);
    let series: BTreeSet<String> = points
        .iter()
        .map(|(m, a, _)| format!("{m} {a:?}"))
        .collect();
    assert!(series.len() < 60, "{} series: {series:#?}", series.len());
    for (_, attrs, _) in &points {
        for (k, v) in attrs {
            assert!(!v.contains("FOO") && !v.contains('/') && !v.starts_with('E'), "{k}={v}");
        }
    }
}

// ---------------------------------------------------------------------------
// Secrets: every span field and event at TRACE, every metric attribute,
// across failure scenarios through the whole stack.
// ---------------------------------------------------------------------------

use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::ApiErrorsLayer;

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
                format!(r#"{{"error": {{"code": "{code}", "message": "{echo}", "details": [{{"reason": "{token}"}}]}}}}"#)
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
                    &[("retry-after", "1"), ("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")],
                    &json(&key),
                ),
                // A body that is no JSON at all, echoing everything.
                "/garbage" if n <= 2 => scripted::reply(500, &[("content-type", "text/plain")], &format!("<html>oops {echo}")),
                // Truncated JSON.
                "/truncated" if n <= 2 => scripted::reply(503, &[("content-type", "application/json")], &format!(r#"{{"error": {{"code": "{token}", "mess"#)),
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
        "/auth", "/throttle", "/throttle", "/garbage", "/truncated", "/down", "/down", "/down",
        "/down", "/slow",
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

// ---------------------------------------------------------------------------
// One `finished` per call, attempts and stop reasons; failure storms.
// ---------------------------------------------------------------------------

/// Lines of `log` whose message is `event` (a field-less match on the
/// event name after the target).
fn count_events(log: &str, event: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!("tower_api_errors::telemetry: {event}")))
        .count()
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
        0 | 1 | 2 => scripted::reply(503, &[], r#"{"error": "down"}"#),
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
    assert!(log.contains("finished outcome=\"success\" attempts=1"), "{log}");
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
            Ok::<_, std::convert::Infallible>(builder.body(Full::new(Bytes::from(body))).unwrap())
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

// ---------------------------------------------------------------------------
// Hedged calls and the retry layer's per-call records.
// ---------------------------------------------------------------------------

/// The `finished` event is "each logical request's outcome" (src/lib.rs:
/// the tracing table) and `tower_api_errors.call.duration` with
/// `error.type` is how "error rate by kind" is read (src/metrics/mod.rs,
/// "Answering the questions"). A hedged call whose first attempt fails
/// (a 503, so the hedge goes at once) and whose hedge succeeds is one
/// logical request that succeeded: the caller gets the 200.
// FAILS: the retry layer under the hedge records each hedge attempt as its own call: a WARN finished outcome="failure" and a failed call.duration for a call the caller saw succeed
#[tokio::test(start_paused = true)]
async fn a_hedged_call_that_succeeds_records_no_failed_call() {
    let (provider, exporter) = sdk();
    let (logs, _guard) = captured_logs::capture(FmtSpan::NONE);
    let scripted = scripted::Scripted::new();
    let upstream = scripted.service(|n| match n {
        0 => scripted::reply(503, &[], r#"{"error": "down"}"#),
        _ => scripted::reply(200, &[], "{}"),
    });
    let client = ServiceBuilder::new()
        .layer(HedgeLayer::fixed(Duration::from_secs(1)).no_budget())
        .layer(RetryLayer::new(
            scripted::exact().metrics(Metrics::from_provider(&provider)),
        ))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let response = client
        .oneshot(scripted::get("http://api.test/v1/items"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(scripted.count(), 2, "the first attempt and its hedge");

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
    assert_eq!(total(&points, c, &[]), 1, "one call: {points:?}");
}

// ---------------------------------------------------------------------------
// Wait sources.
// ---------------------------------------------------------------------------

/// `tower_api_errors.wait.source` = `retry_after` is "A server's explicit
/// hint: `Retry-After`, `retry-after-ms`, gRPC pushback, or a body's
/// `retry_after`" (src/observe/otel/instruments.rs, `WaitSource::RetryAfter`),
/// and "time waited on rate limits" is read as the `retry_after` and
/// `rate_limit` waits (src/metrics/mod.rs). A breaker that opened on its
/// own count (the server sent no hint) and whose break the retry layer
/// waits out is no server hint and no rate limit (`cooldown` is "a
/// cooldown after a failure told the client to stay away").
// FAILS: the retry layer waits out a self-timed breaker break as wait.source="retry_after" (and logs hint="retry-after") though the server never sent one
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
    assert!(log.contains("retrying attempt=3"), "the break was waited out: {log}");
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
    assert!(!log.contains("hint=\"retry-after\""), "{log}");
}
