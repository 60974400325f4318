//! The retry budget and deadline as documented, error typing over a real
//! client, and tower-http 0.7's TraceLayer driven by our classifier.
#[path = "support/full_stack.rs"]
mod full_stack;
#[allow(dead_code)] // The suites share it; each uses its own part.
#[path = "support/idp.rs"]
mod idp;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::hints::HintSource;
use tower_api_errors::retry::{
    Backoff, Decision, Jitter, Policy, ReplayBody, RetryBudget, RetryContext, RetryLayer,
    RetryOverride, RetryPolicy,
};
use tower_api_errors::{BoxError, Error, ErrorBodyParseLayer, ErrorKind, RetryReport, StopReason};

type Body = Full<Bytes>;
type Req = Request<ReplayBody<Body>>;

fn exact() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(
            Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(20))
                .jitter(Jitter::None),
        )
        .no_budget()
}

fn reply(status: u16, headers: &[(&str, &str)]) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

fn get() -> Request<Body> {
    Request::get("http://api.test/items")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// An upstream answering every request with `status` and `headers`, counting sends.
fn always(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
) -> (
    impl tower::Service<
            Req,
            Response = Response<Body>,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send,
    Arc<AtomicU32>,
) {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let service = service_fn(move |_req: Req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::convert::Infallible>(reply(status, headers)) }
    });
    (service, sent)
}

/// RetryBudget: clones of the service share one account; the floor of
/// 1 retry/s over 10 s allows exactly 10 retries in that window.
#[tokio::test(start_paused = true)]
async fn the_retry_budget_floor_is_shared_by_every_clone_of_the_service() {
    let (upstream, sent) = always(503, &[]);
    let policy = exact().budget(RetryBudget::new(Duration::from_secs(10), 1, 0.0));
    let client = RetryLayer::new(policy).layer(upstream);
    let mut exhausted = 0;
    for _ in 0..30 {
        let response = client.clone().oneshot(get()).await.unwrap();
        let report = response.extensions().get::<RetryReport>().unwrap();
        if report.stopped() == Some(StopReason::BudgetExhausted) {
            exhausted += 1;
        }
    }
    assert_eq!(
        sent.load(Ordering::SeqCst),
        30 + 10,
        "10 retries over all clones"
    );
    assert_eq!(exhausted, 25, "5 calls used 2 retries each, the rest none");
}

/// RetryBudget: with no floor, retries are a share of recent requests.
#[tokio::test(start_paused = true)]
async fn the_retry_budget_percentage_bounds_retries_to_a_share_of_calls() {
    let (upstream, sent) = always(503, &[]);
    let policy = exact().budget(RetryBudget::new(Duration::from_secs(10), 0, 0.5));
    let client = RetryLayer::new(policy).layer(upstream);
    for _ in 0..20 {
        client.clone().oneshot(get()).await.unwrap();
    }
    let retries = sent.load(Ordering::SeqCst) - 20;
    assert!((8..=10).contains(&retries), "50 % of 20 calls: {retries}");
}

/// RetryBudget (src/budget.rs, "How it counts"): on the same traffic, it
/// allows what `TpsBudget` with the same settings allows, give or take the
/// share of one batch of 64 requests; after a burst and a quiet spell, no
/// more (it used to credit part of the burst to the quiet spell: 36
/// retries where `TpsBudget` allowed 0).
#[tokio::test(start_paused = true)]
async fn the_retry_budget_allows_what_tps_budget_allows_on_the_same_traffic() {
    use tower::retry::budget::{Budget, TpsBudget};
    // (traffic, floor, steps of (requests, then a pause in ms, times),
    // retries allowed over and under TpsBudget's)
    type Row = (&'static str, u32, &'static [(u32, u64, u32)], usize, usize);
    let rows: &[Row] = &[
        ("a burst, then a quiet 50 s", 0, &[(1000, 50_000, 1)], 0, 0),
        ("a burst, then a quiet 9 s", 0, &[(1000, 9_000, 1)], 0, 0),
        // The first 64th of the outage spreads its batch over the minute.
        (
            "a burst, a quiet minute, 100 calls",
            1,
            &[(1000, 60_000, 1), (100, 0, 1)],
            0,
            3,
        ),
        // At a slot's start, the window is 9 s long, TpsBudget's 10 s.
        ("100/s for a minute", 0, &[(1, 10, 6000)], 0, 21),
        ("5/s for a minute", 0, &[(1, 200, 300)], 0, 2),
        // The one case it allows more: 63 requests, then the 64th after a
        // quiet spell spreads them over it.
        (
            "63 requests, a quiet 50 s, one more",
            0,
            &[(63, 50_000, 1), (1, 0, 1)],
            2,
            0,
        ),
    ];
    for &(traffic, floor, steps, over, under) in rows {
        let ours = RetryBudget::new(Duration::from_secs(10), floor, 0.2);
        let tps = TpsBudget::new(Duration::from_secs(10), floor, 0.2);
        let (a, b) = (ours.withdraw(), tps.withdraw());
        assert_eq!(a, b, "{traffic}");
        for &(requests, pause, times) in steps {
            for _ in 0..times {
                for _ in 0..requests {
                    ours.deposit();
                    tps.deposit();
                }
                tokio::time::advance(Duration::from_millis(pause)).await;
            }
        }
        let ours = (0..1000).filter(|_| ours.withdraw()).count();
        let tps = (0..1000).filter(|_| tps.withdraw()).count();
        assert!(
            ours <= tps + over && ours + under >= tps,
            "{traffic}: RetryBudget allows {ours} retries, TpsBudget {tps}"
        );
    }
}

/// src/retry/mod.rs: "a failing upstream sees at most ~1.2× its normal
/// load from us". 1000 calls, a quiet minute, then 100 calls into an
/// outage at once: `RetryBudget::default()` sends no more than
/// `TpsBudget::new(10 s, 1, 0.2)` (100 + 10 + 20); it used to send 159.
#[tokio::test(start_paused = true)]
async fn an_outage_after_a_quiet_minute_sees_no_more_than_tps_budget_allows() {
    async fn sends(budget: impl tower::retry::budget::Budget + Send + Sync + 'static) -> u32 {
        let (down, sent) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let (is_down, counter) = (down.clone(), sent.clone());
        let upstream = service_fn(move |_req: Req| {
            let status = if is_down.load(Ordering::SeqCst) == 1 {
                503
            } else {
                200
            };
            counter.fetch_add(u32::from(status == 503), Ordering::SeqCst);
            async move { Ok::<_, std::convert::Infallible>(reply(status, &[])) }
        });
        let client = RetryLayer::new(exact().budget(budget)).layer(upstream);
        for _ in 0..1000 {
            client.clone().oneshot(get()).await.unwrap();
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        down.store(1, Ordering::SeqCst);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..100 {
            calls.spawn(client.clone().oneshot(get()));
        }
        while let Some(call) = calls.join_next().await {
            call.unwrap().unwrap();
        }
        sent.load(Ordering::SeqCst)
    }
    let tps = sends(tower::retry::budget::TpsBudget::new(
        Duration::from_secs(10),
        1,
        0.2,
    ))
    .await;
    let ours = sends(RetryBudget::default()).await;
    assert_eq!(tps, 130);
    assert!(
        ours <= tps,
        "RetryBudget::default() sent {ours}, TpsBudget {tps}"
    );
}

/// A per-request deadline shorter than the policy's cuts a hanging attempt.
#[tokio::test(start_paused = true)]
async fn a_request_deadline_override_cuts_a_hanging_attempt() {
    let upstream =
        service_fn(|_req: Req| std::future::pending::<Result<Response<Body>, BoxError>>());
    let client = RetryLayer::new(exact()).layer(upstream);
    let mut request = get();
    request
        .extensions_mut()
        .insert(RetryOverride::new().deadline(Duration::from_secs(2)));
    let started = Instant::now();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert!(error.transport().unwrap().is_deadline());
    assert_eq!(error.kind(), ErrorKind::Transport);
    let report = error.retries();
    assert_eq!(
        (report.attempts(), report.stopped()),
        (1, Some(StopReason::Deadline))
    );
}

/// `RetryOverride::no_deadline` lifts the policy's deadline for one request.
#[tokio::test(start_paused = true)]
async fn a_request_no_deadline_override_lifts_the_policy_deadline() {
    let upstream =
        service_fn(|_req: Req| std::future::pending::<Result<Response<Body>, BoxError>>());
    let client = RetryLayer::new(exact().deadline(Duration::from_secs(5))).layer(upstream);
    let mut request = get();
    request
        .extensions_mut()
        .insert(RetryOverride::new().no_deadline());
    let outcome =
        tokio::time::timeout(Duration::from_secs(1000), client.clone().oneshot(request)).await;
    assert!(outcome.is_err(), "still running after 1000 s: {outcome:?}");
    // Without the override, the policy's 5 s hold.
    let started = Instant::now();
    let error = client.oneshot(get()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(error.transport().unwrap().is_deadline());
}

/// The default deadline (150 s) bounds the whole call, not each attempt:
/// a 100 s hint waited out, then a hanging attempt is cut at 150 s.
#[tokio::test(start_paused = true)]
async fn the_default_deadline_counts_from_the_call_not_from_the_attempt() {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |_req: Req| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                Ok::<_, BoxError>(reply(503, &[("retry-after", "100")]))
            } else {
                std::future::pending().await
            }
        }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().no_budget()))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = Instant::now();
    let error = client.oneshot(get()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(150));
    assert!(error.transport().unwrap().is_deadline());
    let report = error.retries();
    assert_eq!(
        (report.attempts(), report.waited(), report.stopped()),
        (2, Duration::from_secs(100), Some(StopReason::Deadline))
    );
}

/// `on_retry`: exactly one event per retry, and its delay is what was waited.
#[tokio::test(start_paused = true)]
async fn on_retry_sees_one_event_per_retry_with_the_delay_waited() {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |_req: Req| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok::<_, std::convert::Infallible>(match call {
                0 => reply(503, &[]),
                1 => reply(429, &[("retry-after", "3")]),
                2 => reply(502, &[]),
                _ => reply(200, &[]),
            })
        }
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    // The default backoff, with full jitter: the delays are random.
    let policy = RetryPolicy::default()
        .max_attempts(4)
        .no_budget()
        .on_retry(move |event| {
            seen.lock().unwrap().push((
                event.attempt(),
                event.delay(),
                event.kind(),
                event.status().map(|s| s.as_u16()),
                event.hint(),
            ));
        });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = Instant::now();
    let response = client.oneshot(get()).await.unwrap();
    let elapsed = started.elapsed();
    let report = *response.extensions().get::<RetryReport>().unwrap();
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 3, "{events:?}");
    let attempts: Vec<_> = events.iter().map(|e| e.0).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(
        events.iter().map(|e| (e.2, e.3)).collect::<Vec<_>>(),
        [
            (ErrorKind::Unavailable, Some(503)),
            (ErrorKind::RateLimited, Some(429)),
            (ErrorKind::BadGateway, Some(502)),
        ]
    );
    assert_eq!(
        (events[1].1, events[1].4),
        (Duration::from_secs(3), Some(HintSource::RetryAfter))
    );
    assert_eq!((events[0].4, events[2].4), (None, None));
    let total: Duration = events.iter().map(|e| e.1).sum();
    // tokio's timer rounds each sleep up to the millisecond.
    assert!(
        elapsed >= total && elapsed - total < Duration::from_millis(3),
        "the events' delays are what was waited: {total:?} vs {elapsed:?}"
    );
    assert_eq!((report.attempts(), report.waited()), (4, total));
}

/// `max_retry_after`: a hint of exactly the cap is waited; one longer fails
/// at once with the hint on the error.
#[tokio::test(start_paused = true)]
async fn max_retry_after_waits_the_cap_and_refuses_longer() {
    let policy = exact()
        .max_retry_after(Duration::from_secs(10))
        .max_attempts(2);
    let (upstream, sent) = always(429, &[("retry-after", "10")]);
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy.clone()))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = Instant::now();
    let error = client.oneshot(get()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert_eq!(error.retries().stopped(), Some(StopReason::MaxAttempts));

    let (upstream, sent) = always(429, &[("retry-after", "11")]);
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = Instant::now();
    let error = client.oneshot(get()).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    let api = error.api().unwrap();
    assert_eq!(api.retry_after(), Some(Duration::from_secs(11)));
    assert!(api.is_retryable());
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let report = error.retries();
    assert_eq!(
        (report.attempts(), report.waited(), report.stopped()),
        (1, Duration::ZERO, Some(StopReason::HintTooLong))
    );
}

/// `retry_if` forcing a retry still draws on the budget; forbidding one
/// stops with `ForbiddenByPolicy`.
#[tokio::test(start_paused = true)]
async fn retry_if_forces_within_the_budget_and_forbids() {
    let (upstream, sent) = always(400, &[]);
    let policy = exact()
        .budget(RetryBudget::new(Duration::from_secs(10), 0, 0.0))
        .retry_if(|_| Some(true));
    let client = RetryLayer::new(policy).layer(upstream);
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(
        response
            .extensions()
            .get::<RetryReport>()
            .unwrap()
            .stopped(),
        Some(StopReason::BudgetExhausted)
    );

    let (upstream, sent) = always(503, &[]);
    let client = RetryLayer::new(exact().retry_if(|_| Some(false))).layer(upstream);
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(
        response
            .extensions()
            .get::<RetryReport>()
            .unwrap()
            .stopped(),
        Some(StopReason::ForbiddenByPolicy)
    );
}

/// A real hyper-util client to a closed port: a connect error, retried
/// even for a POST (it never left), typed, with the io error in its chain.
#[tokio::test]
async fn a_refused_connection_is_a_typed_retried_transport_error() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let inner = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Body>>();
    let policy = RetryPolicy::default()
        .backoff(
            Backoff::exponential(Duration::from_millis(1), 2.0, Duration::from_millis(5))
                .jitter(Jitter::None),
        )
        .no_budget();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .service(inner);
    let request = Request::post(format!(
        "http://127.0.0.1:{port}/orders?api_key=sk_secret_value"
    ))
    .body(Full::new(Bytes::from_static(b"{}")))
    .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    let transport = error.transport().unwrap();
    assert!(transport.is_connect(), "{error:?}");
    assert!(!transport.is_deadline());
    let report = error.retries();
    assert_eq!(
        (report.attempts(), report.stopped()),
        (3, Some(StopReason::MaxAttempts)),
        "{error}"
    );
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut refused = false;
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        cause = current.source();
    }
    assert!(refused, "the io error is in the source chain: {error:?}");
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains("sk_secret_value"), "{printed}");
    // Through a BoxError and back, nothing is lost.
    let boxed: BoxError = Box::new(error);
    let back = Error::from_boxed(boxed);
    assert!(back.transport().unwrap().is_connect());
    assert_eq!(back.retries().attempts(), 3);
}

/// tower-http 0.7's TraceLayer, classified by our DefaultClassifier: the
/// failure callback sees our `Failure` for a 503, a 429's hint, and nothing
/// for a 200.
#[cfg(all(feature = "tower-http-07", feature = "tracing"))]
#[tokio::test]
async fn tower_http_07_trace_layer_reports_our_failures() {
    use tower_api_errors::classify::{DefaultClassifier, Failure};
    use tower_http::classify::SharedClassifier;
    use tower_http::trace::TraceLayer;
    let failures = Arc::new(Mutex::new(Vec::<Failure>::new()));
    let seen = failures.clone();
    let upstream = service_fn(|req: Request<Body>| async move {
        let response = match req.uri().path() {
            "/down" => reply(503, &[]),
            "/slow" => reply(429, &[("retry-after", "7")]),
            "/gone" => reply(501, &[]),
            _ => reply(200, &[]),
        };
        Ok::<_, std::convert::Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(
            TraceLayer::new(SharedClassifier::new(DefaultClassifier::new())).on_failure(
                move |failure: Failure, _latency: Duration, _span: &tracing::Span| {
                    seen.lock().unwrap().push(failure);
                },
            ),
        )
        .service(upstream);
    for path in ["/ok", "/down", "/slow", "/gone"] {
        let request = Request::get(path).body(Full::new(Bytes::new())).unwrap();
        service.clone().oneshot(request).await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!(
        failures
            .iter()
            .map(|f| (f.kind(), f.is_retryable()))
            .collect::<Vec<_>>(),
        [
            (ErrorKind::Unavailable, true),
            (ErrorKind::RateLimited, true),
            (ErrorKind::Other, false),
        ]
    );
    assert_eq!(
        failures[1].retry_hint().map(|h| h.delay()),
        Some(Duration::from_secs(7))
    );
}

/// Retry docs: "a wait that would end past the deadline is not started:
/// the caller gets the error at once". A wait ending at the deadline (or
/// within the timer's 1 ms of it) fires with it, and the deadline wins: no
/// attempt could follow, so it is not started either, and the caller has
/// the 503 at once. (It was: the caller waited the 5 s, then got a
/// transport error "the call's deadline elapsed", with no attempt
/// sent.) A wait ending a tick before the deadline is followed by its
/// attempt.
#[tokio::test(start_paused = true)]
async fn a_wait_that_ends_at_the_deadline_is_not_started() {
    // (the 503's hint, attempts sent, time waited)
    let rows = [
        (("retry-after", "5"), 1, Duration::ZERO),
        (("retry-after-ms", "4998"), 2, Duration::from_millis(4998)),
    ];
    for (hint, sends, waited) in rows {
        let headers: &'static [(&str, &str)] = Box::leak(Box::new([hint]));
        let (upstream, sent) = always(503, headers);
        let client = RetryLayer::new(exact().deadline(Duration::from_secs(5))).layer(upstream);
        let started = Instant::now();
        let response = client.oneshot(get()).await.unwrap();
        assert_eq!(response.status(), 503, "{headers:?}");
        let report = response.extensions().get::<RetryReport>().copied();
        let stopped = report.and_then(|report| report.stopped());
        assert_eq!(stopped, Some(StopReason::Deadline), "{headers:?}");
        assert_eq!(sent.load(Ordering::SeqCst), sends, "{headers:?}");
        assert!(
            started.elapsed() - waited < Duration::from_millis(2),
            "{headers:?}"
        );
    }
}

/// A policy of the user's own that waits 5 s under its own 5 s deadline.
#[derive(Clone)]
struct FiveSecondsTwice;

impl Policy for FiveSecondsTwice {
    fn decide(&self, context: &RetryContext<'_>) -> Decision {
        match context.attempts() {
            1 => Decision::retry_after(Duration::from_secs(5)),
            _ => Decision::stop(StopReason::MaxAttempts),
        }
    }

    fn deadline(&self) -> Option<Duration> {
        Some(Duration::from_secs(5))
    }
}

/// The same boundary under a policy of the user's own: the layer keeps the
/// deadline's promise, whatever the policy decides ("the layer ... bounds
/// the call by the policy's deadline"): the wait is not started, and the
/// 503 is the caller's at once.
#[tokio::test(start_paused = true)]
async fn a_custom_policys_wait_that_ends_at_its_deadline_is_not_started() {
    let (upstream, sent) = always(503, &[]);
    let client = RetryLayer::new(FiveSecondsTwice).layer(upstream);
    let started = Instant::now();
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 503);
    let report = response.extensions().get::<RetryReport>().copied();
    assert_eq!(report.and_then(|r| r.stopped()), Some(StopReason::Deadline));
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

fn stopped(response: &Response<Body>) -> Option<StopReason> {
    response
        .extensions()
        .get::<RetryReport>()
        .and_then(|report| report.stopped())
}

/// A policy of the user's own whose wait is "forever" (a delay computed
/// from an unchecked number, say `Duration::from_secs(u64::MAX)`).
#[derive(Clone)]
struct WaitForever;

impl Policy for WaitForever {
    fn decide(&self, context: &RetryContext<'_>) -> Decision {
        match context.attempts() {
            1 => Decision::retry_after(Duration::MAX),
            _ => Decision::stop(StopReason::MaxAttempts),
        }
    }
}

/// The layer promises it "bounds the call by the policy's deadline" and
/// starts no wait the deadline would cut: a wait of `Duration::MAX` under
/// the default 150 s deadline is not started; the 503 is the caller's at
/// once, with `StopReason::Deadline`. House rule: never a panic.
#[tokio::test(start_paused = true)]
async fn a_custom_policys_endless_wait_is_a_deadline_stop_not_a_panic() {
    let (upstream, sent) = always(503, &[]);
    let client = RetryLayer::new(WaitForever).layer(upstream);
    let started = Instant::now();
    let handle = tokio::spawn(async move { client.oneshot(get()).await });
    let response = handle.await.expect("the retry layer panicked").unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(stopped(&response), Some(StopReason::Deadline));
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// The same through `RetryPolicy`: a backoff whose cap is `Duration::MAX`
/// ("uncapped"; `Backoff::exponential` documents its panics, and this is
/// not one of them), under the default deadline.
#[tokio::test(start_paused = true)]
async fn an_uncapped_backoff_under_the_default_deadline_is_a_deadline_stop_not_a_panic() {
    let (upstream, sent) = always(503, &[]);
    let policy = RetryPolicy::default()
        .no_budget()
        .backoff(Backoff::exponential(Duration::MAX, 1.0, Duration::MAX).jitter(Jitter::None));
    let client = RetryLayer::new(policy).layer(upstream);
    let handle = tokio::spawn(async move { client.oneshot(get()).await });
    let response = handle.await.expect("the retry policy panicked").unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(stopped(&response), Some(StopReason::Deadline));
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

/// delta-seconds is 1*DIGIT (RFC 9110 §10.2.3): leading zeros are digits.
#[tokio::test(start_paused = true)]
async fn retry_after_with_leading_zeros_is_waited_exactly() {
    let (upstream, sent) = always(503, &[("retry-after", "007")]);
    let policy = RetryPolicy::default().no_budget().max_attempts(2);
    let client = RetryLayer::new(policy).layer(upstream);
    let started = Instant::now();
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(7));
}

/// A policy of the user's own that bounds a call by its own clock, as
/// `RetryContext::elapsed` invites ("Time since the call's clock started
/// (its first wait)"), with the layer's deadline off.
#[derive(Clone)]
struct ThreeSecondsOfRetries;

impl Policy for ThreeSecondsOfRetries {
    fn decide(&self, context: &RetryContext<'_>) -> Decision {
        if context.elapsed() >= Duration::from_secs(3) {
            Decision::stop(StopReason::Deadline)
        } else if context.attempts() >= 20 {
            // A safety net for this test only.
            Decision::stop(StopReason::MaxAttempts)
        } else {
            Decision::retry_after(Duration::from_secs(1))
        }
    }

    fn deadline(&self) -> Option<Duration> {
        None
    }
}

/// After three 1 s waits, three seconds have passed since the first wait
/// began: `elapsed()` must say so, whether or not the layer has a deadline.
#[tokio::test(start_paused = true)]
async fn elapsed_counts_without_a_deadline_too() {
    let (upstream, sent) = always(503, &[]);
    let client = RetryLayer::new(ThreeSecondsOfRetries).layer(upstream);
    let started = Instant::now();
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(
        (
            stopped(&response),
            sent.load(Ordering::SeqCst),
            started.elapsed()
        ),
        (Some(StopReason::Deadline), 4, Duration::from_secs(3))
    );
}

/// The same through `RetryPolicy::no_deadline` and a `retry_if` that reads
/// the clock (the `RetryContext` the docs hand to `retry_if`).
#[tokio::test(start_paused = true)]
async fn retry_if_sees_elapsed_time_under_no_deadline() {
    let (upstream, sent) = always(503, &[("retry-after", "1")]);
    let policy = RetryPolicy::default()
        .no_budget()
        .no_deadline()
        .max_attempts(10)
        .retry_if(|ctx| (ctx.elapsed() >= Duration::from_secs(3)).then_some(false));
    let client = RetryLayer::new(policy).layer(upstream);
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(
        (stopped(&response), sent.load(Ordering::SeqCst)),
        (Some(StopReason::ForbiddenByPolicy), 4)
    );
}

/// A budget that is always spent: any retry that draws on it stops.
struct Spent;

impl tower::retry::budget::Budget for Spent {
    fn deposit(&self) {}
    fn withdraw(&self) -> bool {
        false
    }
}

/// Retry over a quota layer that learns the same 429: the retry waits the
/// hint once (the quota, having learned the same wait, holds the retry no
/// longer), and the paced retry draws nothing from the (spent) budget.
#[tokio::test(start_paused = true)]
async fn a_429_waited_through_the_quota_layer_is_waited_once_and_costs_no_budget() {
    use tower::ServiceBuilder;
    use tower_api_errors::{ErrorBodyParseLayer, QuotaLayer};
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |_req: Req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let response = if n == 0 {
            reply(429, &[("retry-after", "2")])
        } else {
            reply(200, &[])
        };
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().budget(Spent)))
        .layer(QuotaLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = Instant::now();
    let response = client.oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

/// A service that answers 503 and then fails to get ready again (its
/// connection pool closed, say).
#[derive(Clone)]
struct ReadyOnce(Arc<AtomicU32>);

impl tower::Service<Req> for ReadyOnce {
    type Response = Response<Body>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Response<Body>, std::io::Error>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(match self.0.load(Ordering::SeqCst) {
            0 => Ok(()),
            _ => Err(std::io::Error::other("pool closed")),
        })
    }
    fn call(&mut self, _: Req) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(reply(503, &[])))
    }
}

/// `RetryReport::stopped`: "Why the retry layer stopped, for an outcome
/// that is a failure" (src/error/report.rs:89). A retry whose service
/// fails to get ready ends the call in a failure: the report should name
/// why it stopped.
#[tokio::test(start_paused = true)]
async fn a_retry_whose_service_fails_to_get_ready_says_why_it_stopped() {
    let sent = Arc::new(AtomicU32::new(0));
    let client = RetryLayer::new(RetryPolicy::default().no_budget()).layer(ReadyOnce(sent.clone()));
    let error = client.oneshot(get()).await.unwrap_err();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(error.retries().attempts(), 1);
    assert_eq!(error.retries().stopped(), Some(StopReason::ServiceFailed));
}

// ------------------------------------------------------------ the full stack

/// Curated from a probe of the layers together (branch probe-mix): the
/// deadline in the full stack (`ApiErrorsLayer` with retry, breaker,
/// auth, quota and a hedge layer) over hyper-util against a scripted
/// vendor on loopback: a half-open probe that hangs and the callers held
/// behind it.
mod in_the_full_stack {
    use crate::full_stack::{
        breaker, exact, get, hyper_stack, layers, learned_hedge, now, outcome, source, Vendor,
        NEVER, S,
    };
    use crate::idp;
    use crate::support::response;
    use tokio::time::Instant;
    use tower_api_errors::auth::AuthLayer;
    use tower_api_errors::StopReason;

    /// Breaker docs ("One probe at a time": "the others are told to come
    /// back a little later"; "a counted failure (a cut by the retry layer's
    /// deadline too) reopens it") and retry docs (an attempt still running
    /// at the deadline "is cut short"): the half-open probe hangs; it and a
    /// caller held behind it each end within their 2 s deadline, typed; the
    /// cut reopened the breaker (10 s, doubled), after which a probe
    /// succeeds.
    #[tokio::test(start_paused = true)]
    async fn callers_behind_a_hanging_probe_end_by_their_deadline() {
        let vendor = Vendor::start(|n, _| match n {
            0..=1 => now(503, &[]),
            2 => (NEVER, response(200, &[], "")),
            _ => now(200, &[]),
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let client = hyper_stack(layers(
            exact().max_attempts(1).deadline(S(2)),
            AuthLayer::new(idp),
            breaker(2),
            learned_hedge(),
        ));
        let url = vendor.url("/v1/items");
        for _ in 0..2 {
            get(&client, &url).await.unwrap_err();
        }
        tokio::time::advance(S(5)).await;
        let started = Instant::now();
        let probe = tokio::spawn({
            let (client, url) = (client.clone(), url.clone());
            async move {
                (
                    get(&client, &url).await.map(|r| r.status()),
                    started.elapsed(),
                )
            }
        });
        tokio::task::yield_now().await;
        let behind = get(&client, &url).await;
        assert!(
            started.elapsed() <= S(2),
            "behind: {:?} {}",
            started.elapsed(),
            outcome(&behind)
        );
        assert!(behind.is_err());
        let (probe, took) = probe.await.unwrap();
        assert!(took <= S(2), "the probe ended at {took:?}");
        assert!(probe.unwrap_err().retries().stopped() == Some(StopReason::Deadline));
        tokio::time::advance(S(11)).await;
        let after = get(&client, &url).await;
        assert!(after.is_ok(), "{}", outcome(&after));
    }
}
