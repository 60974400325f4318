//! The retry layer's promises about server hints, reports, budgets and
//! request bodies that no other suite pins (curated from the probe-retry
//! session): a hint waited the same over a raw client, the parse layer and
//! `ApiErrorsLayer`; a hint past the deadline or `max_retry_after` failing
//! fast with the hint in every form; the `RetryReport` of a raw client;
//! hostile body hints; successes never retried; every attempt the same
//! request; `RetryOverride`; `on_retry`'s hint source; the budget's refill
//! and its sharing by policy clones; the replay cap's boundary, partly read
//! and unread bodies, and the memory a large upload keeps; and a reset
//! after the request was written, over real loopback servers.

#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use scripted::{exact, reply, Scripted};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_api_errors::hints::HintSource;
use tower_api_errors::retry::{ReplayBody, RetryBudget, RetryLayer, RetryOverride, RetryPolicy};
use tower_api_errors::{ApiErrorsLayer, Error, ErrorBodyParseLayer, RetryReport, StopReason};

type Body = Full<Bytes>;
type Chunks = support::Frames<Infallible>;
/// Header pairs of a scripted answer.
type Pairs = &'static [(&'static str, &'static str)];
/// The request-body bytes each attempt read.
type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

fn req(method: Method, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri("http://api.test/items");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::new(Bytes::from_static(b"payload"))).unwrap()
}

/// Runs `request` through Retry -> Parse -> scripted upstream.
async fn run_parsed(
    policy: RetryPolicy,
    request: Request<Body>,
    script: impl Fn(usize) -> Response<Body> + Clone + Send + Sync + 'static,
) -> (Result<Response<Body>, Error>, Scripted, Duration) {
    let up = Scripted::new();
    let svc = RetryLayer::new(policy)
        .layer(ErrorBodyParseLayer::new().layer(up.service::<ReplayBody<Body>>(script)));
    let started = Instant::now();
    let out = svc.oneshot(request).await;
    (out, up, started.elapsed())
}

/// Runs `request` through Retry -> raw scripted upstream.
async fn run_raw(
    policy: RetryPolicy,
    request: Request<Body>,
    script: impl Fn(usize) -> Response<Body> + Clone + Send + Sync + 'static,
) -> (Response<Body>, Scripted, Duration) {
    let up = Scripted::new();
    let svc = RetryLayer::new(policy).layer(up.service::<ReplayBody<Body>>(script));
    let started = Instant::now();
    let out = svc.oneshot(request).await.unwrap();
    (out, up, started.elapsed())
}

/// Runs `request` through ApiErrorsLayer (with `policy`) -> scripted upstream.
async fn run_stack(
    policy: RetryPolicy,
    request: Request<Body>,
    script: impl Fn(usize) -> Response<Body> + Clone + Send + Sync + 'static,
) -> (Result<Response<Body>, Error>, Scripted, Duration) {
    let up = Scripted::new();
    let svc = ApiErrorsLayer::new()
        .retry(policy)
        .layer(up.service::<ReplayBody<Body>>(script));
    let started = Instant::now();
    let out = svc.oneshot(request).await;
    (out, up, started.elapsed())
}

fn report(resp: &Response<Body>) -> &RetryReport {
    resp.extensions().get::<RetryReport>().unwrap()
}

/// A retry layer over a `service_fn` that records, per attempt, the bytes it
/// read of the request body: `read(n)` says how many frames attempt `n`
/// reads (`usize::MAX`: all); attempt 0 answers 503, the others 200.
fn recording(
    policy: RetryPolicy,
    read: fn(usize) -> usize,
) -> (
    impl tower::Service<Request<Chunks>, Response = Response<Body>, Error = Error>,
    Seen,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let counter = Arc::new(AtomicUsize::new(0));
    let svc =
        RetryLayer::new(policy).layer(tower::service_fn(move |r: Request<ReplayBody<Chunks>>| {
            let s2 = s2.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut body = r.into_body();
                let mut got = Vec::new();
                let mut frames = 0;
                while frames < read(n) {
                    match body.frame().await {
                        Some(Ok(f)) => {
                            if let Ok(d) = f.into_data() {
                                got.extend_from_slice(&d);
                            }
                        }
                        _ => break,
                    }
                    frames += 1;
                }
                s2.lock().unwrap().push(got);
                Ok::<_, Infallible>(reply(if n == 0 { 503 } else { 200 }, &[], ""))
            }
        }));
    (svc, seen)
}

// ------------------------------------------------------ waits and reports

/// Hints are waited exactly and the error's report sums them (src/retry/mod.rs
/// module docs: "its attempts, time waited and StopReason").
#[tokio::test(start_paused = true)]
async fn waits_are_exact_and_the_report_sums_them() {
    let (out, up, elapsed) = run_parsed(exact(), req(Method::GET, &[]), |n| match n {
        0 => reply(503, &[("retry-after", "3")], ""),
        1 => reply(429, &[("retry-after-ms", "1500")], ""),
        _ => reply(503, &[], ""),
    })
    .await;
    let err = out.unwrap_err();
    assert_eq!(
        up.waits(),
        vec![Duration::from_secs(3), Duration::from_millis(1500)]
    );
    assert_eq!(elapsed, Duration::from_millis(4500));
    let r = err.retries();
    assert_eq!(r.attempts(), 3);
    assert_eq!(r.waited(), Duration::from_millis(4500));
    assert_eq!(r.stopped(), Some(StopReason::MaxAttempts));
    assert_eq!(err.api().unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A raw client gets the last response with a RetryReport in its extensions;
/// a Retry-After does not restart the backoff (src/retry/mod.rs module docs).
#[tokio::test(start_paused = true)]
async fn a_raw_client_gets_the_last_response_with_a_report() {
    let (resp, up, elapsed) = run_raw(exact(), req(Method::GET, &[]), |n| match n {
        0 => reply(503, &[("retry-after", "2")], "first"),
        1 => reply(502, &[], "second"),
        _ => reply(500, &[], "third"),
    })
    .await;
    assert_eq!(up.count(), 3);
    assert_eq!(resp.status(), 500);
    // 2 s (the hint), then the backoff's second step (1 s), not its first.
    assert_eq!(elapsed, Duration::from_secs(3));
    let r = report(&resp);
    assert_eq!(r.attempts(), 3);
    assert_eq!(r.waited(), elapsed);
    assert_eq!(r.stopped(), Some(StopReason::MaxAttempts));
}

/// The same hint is waited the same over a raw client, over the parse layer
/// and inside ApiErrorsLayer, in every form the retry module docs list.
#[tokio::test(start_paused = true)]
async fn raw_parsed_and_stack_wait_the_same_hint() {
    const DATE: (&str, &str) = ("date", "Tue, 14 Nov 2023 22:13:20 GMT");
    let rows: &[(u16, Pairs, Duration)] = &[
        (503, &[("retry-after", "3")], Duration::from_secs(3)),
        (
            429,
            &[("retry-after-ms", "1200")],
            Duration::from_millis(1200),
        ),
        (
            503,
            &[DATE, ("retry-after", "Tue, 14 Nov 2023 22:13:24 GMT")],
            Duration::from_secs(4),
        ),
        (
            503,
            &[DATE, ("retry-after", "Tuesday, 14-Nov-23 22:13:24 GMT")],
            Duration::from_secs(4),
        ),
        (
            503,
            &[DATE, ("retry-after", "Tue Nov 14 22:13:24 2023")],
            Duration::from_secs(4),
        ),
        (
            429,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "6")],
            Duration::from_secs(6),
        ),
        (429, &[("x-ratelimit-reset", "6")], Duration::from_secs(6)),
        (
            429,
            &[
                DATE,
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000007"),
            ],
            Duration::from_secs(7),
        ),
        (
            429,
            &[("ratelimit", "\"default\";r=0;t=8")],
            Duration::from_secs(8),
        ),
        (
            429,
            &[("ratelimit", "limit=10, remaining=0, reset=8")],
            Duration::from_secs(8),
        ),
        (
            429,
            &[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1m2s"),
            ],
            Duration::from_secs(62),
        ),
        (
            429,
            &[
                ("retry-after", "2"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "9"),
            ],
            Duration::from_secs(2),
        ),
        (503, &[("retry-after", "  5 ")], Duration::from_secs(5)),
    ];
    for &(status, headers, want) in rows {
        let script = move |n: usize| {
            if n == 0 {
                reply(status, headers, "")
            } else {
                reply(200, &[], "")
            }
        };
        let (_, raw, _) = run_raw(exact(), req(Method::GET, &[]), script).await;
        let (_, parsed, _) = run_parsed(exact(), req(Method::GET, &[]), script).await;
        let (_, stack, _) = run_stack(exact(), req(Method::GET, &[]), script).await;
        assert_eq!(raw.waits(), vec![want], "{status} {headers:?}: raw");
        assert_eq!(parsed.waits(), vec![want], "{status} {headers:?}: parsed");
        assert_eq!(
            stack.waits(),
            vec![want],
            "{status} {headers:?}: ApiErrorsLayer"
        );
    }
}

/// An HTTP-date Retry-After is read against the response's Date even when
/// the server's clock is far ahead of ours (RFC 9110 §10.2.3).
#[tokio::test(start_paused = true)]
async fn a_date_hint_from_a_server_clock_far_ahead_is_its_delta() {
    let (out, up, _) = run_parsed(exact(), req(Method::GET, &[]), |n| {
        if n == 0 {
            reply(
                503,
                &[
                    ("date", "Fri, 01 Jan 2100 00:00:00 GMT"),
                    ("retry-after", "Fri, 01 Jan 2100 00:00:07 GMT"),
                ],
                "",
            )
        } else {
            reply(200, &[], "")
        }
    })
    .await;
    assert_eq!(out.unwrap().status(), 200);
    assert_eq!(up.waits(), vec![Duration::from_secs(7)]);
}

/// The same through a CDN, which adds `Age` to what it serves (`Age: 0` to
/// what it did not cache: Varnish, Fastly): the server's clock reads
/// `Date + Age` (RFC 9111 §4.2.3), over the parse layer and a raw client.
/// Before, any `Age` sent the date to the local clock: 74 years ahead, so
/// the call failed fast (`HintTooLong`) instead of waiting 7 s.
#[tokio::test(start_paused = true)]
async fn a_date_hint_through_a_cdn_is_read_against_the_servers_clock() {
    for (age, wait) in [("0", 7), ("3", 4)] {
        let script = move |n| match n {
            0 => reply(
                503,
                &[
                    ("date", "Fri, 01 Jan 2100 00:00:00 GMT"),
                    ("age", age),
                    ("retry-after", "Fri, 01 Jan 2100 00:00:07 GMT"),
                ],
                "",
            ),
            _ => reply(200, &[], ""),
        };
        let (out, up, _) = run_parsed(exact(), req(Method::GET, &[]), script).await;
        assert_eq!(
            out.map(|r| r.status()).ok(),
            Some(StatusCode::OK),
            "Age {age}"
        );
        assert_eq!(up.waits(), vec![Duration::from_secs(wait)], "Age {age}");
        let (out, up, _) = run_raw(exact(), req(Method::GET, &[]), script).await;
        assert_eq!(out.status(), 200, "Age {age}: raw");
        assert_eq!(
            up.waits(),
            vec![Duration::from_secs(wait)],
            "Age {age}: raw"
        );
    }
}

/// A hint on the last allowed attempt stays on the error, with what was
/// waited before it (src/retry/mod.rs: "the last error with its attempts,
/// time waited").
#[tokio::test(start_paused = true)]
async fn a_hint_on_the_last_attempt_stays_on_the_error() {
    let (out, up, _) = run_parsed(exact().max_attempts(2), req(Method::GET, &[]), |_| {
        reply(503, &[("retry-after", "4")], "")
    })
    .await;
    let err = out.unwrap_err();
    assert_eq!(up.count(), 2);
    assert_eq!(err.retries().stopped(), Some(StopReason::MaxAttempts));
    assert_eq!(err.retries().waited(), Duration::from_secs(4));
    assert_eq!(
        err.api().unwrap().retry_after(),
        Some(Duration::from_secs(4))
    );
}

// ------------------------------------------------------ hints that fail fast

/// A hint longer than max_retry_after fails fast over a raw client too, its
/// report saying HintTooLong (README retry row; src/retry/mod.rs "Why a long
/// hint is not slept on").
#[tokio::test(start_paused = true)]
async fn a_long_hint_fails_fast_over_a_raw_client() {
    let (resp, up, elapsed) = run_raw(exact(), req(Method::GET, &[]), |_| {
        reply(429, &[("retry-after", "86400")], "")
    })
    .await;
    assert_eq!((up.count(), elapsed), (1, Duration::ZERO));
    assert_eq!(resp.status(), 429);
    assert_eq!(report(&resp).stopped(), Some(StopReason::HintTooLong));
}

/// An exhausted window's reset longer than max_retry_after fails fast with
/// the reset as the hint (src/retry/mod.rs: "an exhausted rate-limit window's
/// reset" is a hint; a longer one "fails fast, with the hint on the error").
#[tokio::test(start_paused = true)]
async fn a_long_rate_limit_reset_fails_fast_with_the_hint() {
    let (out, up, elapsed) = run_parsed(exact(), req(Method::GET, &[]), |_| {
        reply(
            429,
            &[("ratelimit", "limit=100, remaining=0, reset=3600")],
            "",
        )
    })
    .await;
    let err = out.unwrap_err();
    assert_eq!((up.count(), elapsed), (1, Duration::ZERO));
    assert_eq!(err.retries().stopped(), Some(StopReason::HintTooLong));
    assert_eq!(
        err.api().unwrap().retry_after(),
        Some(Duration::from_secs(3600))
    );
}

/// A hint within max_retry_after but ending past the deadline is not waited:
/// the error comes at once, with the hint (src/retry/mod.rs "What bounds a
/// request in time": "A wait that would end past the deadline is not started").
#[tokio::test(start_paused = true)]
async fn a_hint_past_the_deadline_fails_fast_with_the_hint() {
    let policy = || exact().deadline(Duration::from_secs(30));
    let script = |_| reply(503, &[("retry-after", "60")], "");
    let (out, up, elapsed) = run_parsed(policy(), req(Method::GET, &[]), script).await;
    let err = out.unwrap_err();
    assert_eq!((up.count(), elapsed), (1, Duration::ZERO));
    assert_eq!(err.retries().stopped(), Some(StopReason::Deadline));
    assert_eq!(
        err.api().unwrap().retry_after(),
        Some(Duration::from_secs(60))
    );

    let (out, up, elapsed) = run_stack(policy(), req(Method::GET, &[]), script).await;
    let err = out.unwrap_err();
    assert_eq!((up.count(), elapsed), (1, Duration::ZERO), "ApiErrorsLayer");
    assert_eq!(
        err.retries().stopped(),
        Some(StopReason::Deadline),
        "ApiErrorsLayer"
    );
    assert_eq!(
        err.api().unwrap().retry_after(),
        Some(Duration::from_secs(60)),
        "ApiErrorsLayer"
    );
}

/// The same over a raw client: the last response at once, its report saying
/// Deadline (src/retry/mod.rs "What bounds a request in time").
#[tokio::test(start_paused = true)]
async fn a_hint_past_the_deadline_over_a_raw_client_is_not_waited() {
    let (resp, up, elapsed) = run_raw(
        exact().deadline(Duration::from_secs(5)),
        req(Method::GET, &[]),
        |_| reply(503, &[("retry-after", "10")], ""),
    )
    .await;
    assert_eq!((up.count(), elapsed), (1, Duration::ZERO));
    assert_eq!(resp.status(), 503);
    assert_eq!(report(&resp).stopped(), Some(StopReason::Deadline));
}

/// Hostile body retry_after values: a negative or non-numeric one is no hint
/// (the backoff waits), a fraction is waited exactly, an absurd one saturates
/// and fails fast; never a panic (src/retry/mod.rs: "a body's retry_after").
#[tokio::test(start_paused = true)]
async fn hostile_body_retry_after_values_in_the_layer() {
    let backoff = vec![Duration::from_millis(500), Duration::from_secs(1)];
    let rows: [(&'static str, Vec<Duration>, StopReason); 4] = [
        (
            r#"{"error":{"message":"x","retry_after":-5}}"#,
            backoff.clone(),
            StopReason::MaxAttempts,
        ),
        (
            r#"{"error":{"message":"x","retry_after":99999999999999999999999}}"#,
            vec![],
            StopReason::HintTooLong,
        ),
        (
            r#"{"error":{"message":"x","retry_after":"NaN"}}"#,
            backoff,
            StopReason::MaxAttempts,
        ),
        (
            r#"{"error":{"message":"x","retry_after":2.5}}"#,
            vec![Duration::from_millis(2500); 2],
            StopReason::MaxAttempts,
        ),
    ];
    for (body, want_waits, stop) in rows {
        let (out, up, _) = run_parsed(exact(), req(Method::GET, &[]), move |_| {
            reply(429, &[("content-type", "application/json")], body)
        })
        .await;
        let err = out.unwrap_err();
        assert_eq!(up.waits(), want_waits, "{body}");
        assert_eq!(err.retries().stopped(), Some(stop), "{body}");
    }
}

// ------------------------------------------------------ what is retried

/// Successes and redirects are never retried, whatever hint or verdict they
/// carry (README retry row: "retries 408/429/5xx").
#[tokio::test(start_paused = true)]
async fn successes_and_redirects_are_never_retried() {
    let rows: [(u16, Pairs); 7] = [
        (200, &[("x-should-retry", "true")]),
        (200, &[("retry-after", "1")]),
        (202, &[("retry-after", "1")]),
        (301, &[("retry-after", "1"), ("location", "/y")]),
        (304, &[]),
        (
            200,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "5")],
        ),
        (200, &[("grpc-retry-pushback-ms", "10")]),
    ];
    for (status, headers) in rows {
        let script = move |_| reply(status, headers, "");
        let (resp, up, _) = run_raw(exact(), req(Method::GET, &[]), script).await;
        assert_eq!(
            (resp.status().as_u16(), up.count()),
            (status, 1),
            "{status} {headers:?} raw"
        );
        let (out, up, _) = run_parsed(exact(), req(Method::GET, &[]), script).await;
        assert_eq!(
            (out.unwrap().status().as_u16(), up.count()),
            (status, 1),
            "{status} {headers:?} parsed"
        );
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Tag(u32);

/// Method, URI, version, headers (repeated ones in order) and extensions are
/// the same on every attempt (src/retry/mod.rs module docs).
#[tokio::test(start_paused = true)]
async fn every_attempt_is_the_same_request() {
    let mut request = req(
        Method::PUT,
        &[("x-a", "1"), ("x-a", "2"), ("idempotency-key", "k")],
    );
    *request.version_mut() = http::Version::HTTP_2;
    *request.uri_mut() = "https://api.test/v1/items?x=1".parse().unwrap();
    request.extensions_mut().insert(Tag(7));
    let (out, up, _) = run_parsed(exact(), request, |n| {
        reply(if n < 2 { 503 } else { 200 }, &[], "")
    })
    .await;
    assert_eq!(out.unwrap().status(), 200);
    let reqs = up.requests.lock().unwrap();
    assert_eq!(reqs.len(), 3);
    for r in reqs.iter() {
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(r.uri, "https://api.test/v1/items?x=1");
        assert_eq!(
            r.headers.get_all("x-a").iter().collect::<Vec<_>>(),
            vec!["1", "2"]
        );
        assert_eq!(r.headers["idempotency-key"], "k");
        assert_eq!(r.extensions.get::<Tag>(), Some(&Tag(7)));
    }
}

/// RetryOverride on one request: idempotent(false) stops a GET's retries,
/// no_retries() sends once, idempotent(true).max_attempts(5) retries a POST
/// five times (src/idempotency.rs RetryOverride docs).
#[tokio::test(start_paused = true)]
async fn a_retry_override_decides_for_its_request() {
    let with = |method: Method, o: RetryOverride| {
        let mut r = req(method, &[]);
        r.extensions_mut().insert(o);
        r
    };
    let (out, up, _) = run_parsed(
        exact(),
        with(Method::GET, RetryOverride::new().idempotent(false)),
        |_| reply(503, &[], ""),
    )
    .await;
    assert_eq!(up.count(), 1);
    assert_eq!(
        out.unwrap_err().retries().stopped(),
        Some(StopReason::NotIdempotent)
    );

    let (_, up, _) = run_parsed(
        exact(),
        with(Method::GET, RetryOverride::no_retries()),
        |_| reply(503, &[], ""),
    )
    .await;
    assert_eq!(up.count(), 1);

    let (_, up, _) = run_parsed(
        exact(),
        with(
            Method::POST,
            RetryOverride::new().idempotent(true).max_attempts(5),
        ),
        |_| reply(503, &[], ""),
    )
    .await;
    assert_eq!(up.count(), 5);
}

/// on_retry: one event per retry, its delay the wait, its hint() the source
/// of a server hint and None for the backoff (src/retry/policy.rs RetryEvent::hint).
#[tokio::test(start_paused = true)]
async fn on_retry_events_carry_the_delay_and_the_hint_source() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let policy = exact().max_attempts(4).on_retry(move |e| {
        e2.lock().unwrap().push((e.attempt(), e.delay(), e.hint()));
    });
    let (out, up, _) = run_parsed(policy, req(Method::GET, &[]), |n| match n {
        0 => reply(503, &[("retry-after", "2")], ""),
        1 => reply(429, &[("retry-after-ms", "250")], ""),
        2 => reply(502, &[], ""),
        _ => reply(200, &[], ""),
    })
    .await;
    assert_eq!(out.unwrap().status(), 200);
    let ev = events.lock().unwrap().clone();
    assert_eq!(up.waits(), ev.iter().map(|e| e.1).collect::<Vec<_>>());
    assert_eq!(
        ev,
        vec![
            (1, Duration::from_secs(2), Some(HintSource::RetryAfter)),
            (
                2,
                Duration::from_millis(250),
                Some(HintSource::RetryAfterMs)
            ),
            // no pushback before it: the backoff's third step
            (3, Duration::from_secs(2), None),
        ]
    );
}

// ------------------------------------------------------ the budget

/// The budget refills: once its window has passed, its floor allows retries
/// again (src/budget.rs RetryBudget::new: a ttl window, a floor per second).
#[tokio::test(start_paused = true)]
async fn the_budget_refills_after_its_window() {
    let policy = exact()
        .budget(RetryBudget::new(Duration::from_secs(10), 1, 0.0))
        .max_attempts(2);
    let up = Scripted::new();
    let svc =
        RetryLayer::new(policy).layer(up.service::<ReplayBody<Body>>(|_| reply(503, &[], "")));
    let mut refused = 0;
    for _ in 0..20 {
        let r = svc.clone().oneshot(req(Method::GET, &[])).await.unwrap();
        if report(&r).stopped() == Some(StopReason::BudgetExhausted) {
            refused += 1;
        }
    }
    assert!(
        refused >= 9,
        "a floor of 1/s over 10 s refused only {refused} of 20"
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    let r = svc.clone().oneshot(req(Method::GET, &[])).await.unwrap();
    assert_eq!(
        report(&r).stopped(),
        Some(StopReason::MaxAttempts),
        "the budget did not refill"
    );
}

/// One budget is shared by clones of a RetryPolicy used in two layers, and
/// by the services one ApiErrorsLayer builds (src/retry/policy.rs
/// RetryPolicy::default: "clone a policy to share one").
#[tokio::test(start_paused = true)]
async fn clones_of_a_policy_share_one_budget_across_layers() {
    let policy = exact()
        .budget(RetryBudget::new(Duration::from_secs(10), 1, 0.0))
        .max_attempts(2);
    let up = Scripted::new();
    let a = RetryLayer::new(policy.clone())
        .layer(up.service::<ReplayBody<Body>>(|_| reply(503, &[], "")));
    let b = RetryLayer::new(policy).layer(up.service::<ReplayBody<Body>>(|_| reply(503, &[], "")));
    for _ in 0..15 {
        let _ = a.clone().oneshot(req(Method::GET, &[])).await.unwrap();
        let _ = b.clone().oneshot(req(Method::GET, &[])).await.unwrap();
    }
    let retries = up.count() - 30;
    assert!(
        retries <= 11,
        "two layers from one policy retried {retries} times; the floor is 10 per 10 s"
    );

    let layer = ApiErrorsLayer::new().retry(exact().max_attempts(2).budget(RetryBudget::new(
        Duration::from_secs(10),
        1,
        0.0,
    )));
    let up = Scripted::new();
    let a = layer.layer(up.service::<ReplayBody<Body>>(|_| reply(503, &[], "")));
    let b = layer.layer(up.service::<ReplayBody<Body>>(|_| reply(503, &[], "")));
    for _ in 0..15 {
        let _ = a.clone().oneshot(req(Method::GET, &[])).await;
        let _ = b.clone().oneshot(req(Method::GET, &[])).await;
    }
    let retries = up.count() - 30;
    assert!(
        retries <= 11,
        "two services from one ApiErrorsLayer retried {retries} times"
    );
}

// ------------------------------------------------------ request bodies

/// The replay cap's boundary: a streamed body of exactly the cap is replayed
/// whole; one byte over is not retried, BodyNotReplayable (RetryPolicy
/// max_replay_bytes docs: "A request whose body outgrows it is not retried").
#[tokio::test(start_paused = true)]
async fn the_replay_cap_boundary() {
    for (cap, retried) in [(10usize, true), (9, false)] {
        let (svc, seen) = recording(exact().max_replay_bytes(cap), |_| usize::MAX);
        let request = Request::get("http://api.test/x")
            .body(Chunks::chunks(&["01234", "56789"]))
            .unwrap();
        let resp = svc.oneshot(request).await.unwrap();
        let seen = seen.lock().unwrap();
        if retried {
            assert_eq!(resp.status(), 200, "cap {cap}");
            assert_eq!(*seen, vec![b"0123456789".to_vec(); 2], "cap {cap}");
        } else {
            assert_eq!(resp.status(), 503, "cap {cap}");
            assert_eq!(seen.len(), 1, "cap {cap}");
            assert_eq!(
                report(&resp).stopped(),
                Some(StopReason::BodyNotReplayable),
                "cap {cap}"
            );
        }
    }
}

/// An attempt that read none or part of the body before failing: the
/// retry sends it whole (src/replay.rs ReplayBody::replay: "starts again from
/// the first byte").
#[tokio::test(start_paused = true)]
async fn a_partly_read_body_is_replayed_whole() {
    let readers: [fn(usize) -> usize; 3] = [
        |n| if n == 0 { 0 } else { usize::MAX },
        |n| if n == 0 { 1 } else { usize::MAX },
        |n| if n == 0 { 2 } else { usize::MAX },
    ];
    for (first, read) in readers.into_iter().enumerate() {
        let (svc, seen) = recording(exact(), read);
        let request = Request::put("http://api.test/x")
            .body(Chunks::chunks(&["abc", "def", "ghi"]))
            .unwrap();
        let resp = svc.oneshot(request).await.unwrap();
        assert_eq!(
            resp.status(),
            200,
            "first attempt read {first} frames: {:?}",
            report(&resp)
        );
        assert_eq!(
            seen.lock().unwrap().last().unwrap(),
            b"abcdefghi",
            "first attempt read {first} frames"
        );
    }
}

/// A body over the cap that the failed attempt never read has not outgrown
/// it: it is re-sent, whole, never truncated (src/replay.rs ReplayBody docs:
/// "rather than send a partial body").
#[tokio::test(start_paused = true)]
async fn an_unread_body_over_the_cap_is_resent_whole() {
    let (svc, seen) = recording(exact().max_replay_bytes(4), |n| {
        if n == 0 {
            0
        } else {
            usize::MAX
        }
    });
    let request = Request::put("http://api.test/x")
        .body(Chunks::chunks(&["abc", "def", "ghi"]))
        .unwrap();
    let resp = svc.oneshot(request).await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", report(&resp));
    assert_eq!(report(&resp).attempts(), 2);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Vec::new(), b"abcdefghi".to_vec()]
    );
}

static LIVE_CHUNKS: AtomicUsize = AtomicUsize::new(0);

/// A chunk that counts itself in LIVE_CHUNKS while alive.
struct Chunk(Vec<u8>);
impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
impl Drop for Chunk {
    fn drop(&mut self) {
        LIVE_CHUNKS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A streamed upload far over the replay cap (4 MiB, cap 64 KiB) is sent
/// once, keeping about the cap in memory, not the whole body (src/retry/mod.rs:
/// "replayed without buffering up front ... up to a cap").
#[tokio::test(start_paused = true)]
async fn a_large_upload_keeps_memory_near_the_cap() {
    type Streamed = http_body_util::StreamBody<
        tokio_stream::wrappers::ReceiverStream<Result<http_body::Frame<Bytes>, Infallible>>,
    >;
    let max_live = Arc::new(AtomicUsize::new(0));
    let m2 = max_live.clone();
    let counter = Arc::new(AtomicUsize::new(0));
    let c2 = counter.clone();
    let svc = RetryLayer::new(exact()).layer(tower::service_fn(
        move |r: Request<ReplayBody<Streamed>>| {
            let m2 = m2.clone();
            c2.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut body = r.into_body();
                let mut total = 0;
                while let Some(Ok(frame)) = body.frame().await {
                    if let Ok(d) = frame.into_data() {
                        total += d.len();
                    }
                    m2.fetch_max(LIVE_CHUNKS.load(Ordering::SeqCst), Ordering::SeqCst);
                }
                assert_eq!(total, 4096 * 1024);
                Ok::<_, Infallible>(reply(503, &[], ""))
            }
        },
    ));
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        for _ in 0..4096 {
            LIVE_CHUNKS.fetch_add(1, Ordering::SeqCst);
            let b = Bytes::from_owner(Chunk(vec![b'x'; 1024]));
            if tx.send(Ok(http_body::Frame::data(b))).await.is_err() {
                return;
            }
        }
    });
    let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let resp = svc
        .oneshot(Request::put("http://api.test/x").body(body).unwrap())
        .await
        .unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    assert_eq!(report(&resp).stopped(), Some(StopReason::BodyNotReplayable));
    let max = max_live.load(Ordering::SeqCst);
    assert!(
        max <= 64 + 8,
        "kept {max} 1 KiB chunks alive while streaming (cap 64 KiB)"
    );
}

// ------------------------------------------------------ real servers

/// A loopback server that drops the connection after reading the first
/// request, then answers 200; counts requests.
async fn drops_the_first() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let addr = support::serve_fallible(move |r: Request<hyper::body::Incoming>| {
        let n = h.fetch_add(1, Ordering::SeqCst);
        async move {
            let _ = r.into_body().collect().await;
            if n == 0 {
                Err::<Response<support::ServerBody>, _>(support::BoxError::from("drop"))
            } else {
                Ok(support::response(200, &[], "ok"))
            }
        }
    })
    .await;
    (addr, hits)
}

/// A connection reset after the request was written, over real hyper: a GET
/// is re-sent, a POST is not (NotIdempotent), a keyed POST is (RFC 9110
/// §9.2.2; README retry row: "other transport errors when idempotent").
#[tokio::test]
async fn a_reset_after_the_request_was_written_get_vs_post() {
    let svc = RetryLayer::new(support::quick_exact())
        .layer(ErrorBodyParseLayer::new().layer(support::client::<ReplayBody<Body>>()));
    let send = |addr: std::net::SocketAddr, method: Method, headers: &[(&str, &str)]| {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{addr}/x"));
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        svc.clone()
            .oneshot(b.body(Full::new(Bytes::from_static(b"pay"))).unwrap())
    };

    let (addr, hits) = drops_the_first().await;
    let r = support::bounded("get", send(addr, Method::GET, &[])).await;
    assert_eq!(r.unwrap().status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let (addr, hits) = drops_the_first().await;
    let err = support::bounded("post", send(addr, Method::POST, &[]))
        .await
        .unwrap_err();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a POST whose request was written must not be re-sent"
    );
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(
        err.retries().stopped(),
        Some(StopReason::NotIdempotent),
        "{err:?}"
    );
    assert_eq!(err.retries().attempts(), 1);

    let (addr, hits) = drops_the_first().await;
    let r = support::bounded(
        "keyed post",
        send(addr, Method::POST, &[("idempotency-key", "abc")]),
    )
    .await;
    assert_eq!(r.unwrap().status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
