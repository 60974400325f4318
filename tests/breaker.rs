//! The circuit breaker against real loopback servers with injected faults
//! (time paused: the servers' outages and the breaker's breaks run on
//! tokio's clock), and its cost on the success path.

mod support;

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::SystemTime;
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::fleet::OpeningStore;
use tower_api_errors::quota::{MemoryStore, ScopeKey};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind, RetryReport, StopReason};

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// When the server received each request, from the test's start.
type Sends = Arc<Mutex<Vec<Duration>>>;

/// A vendor down for `down` from `start`, answering 503 with
/// `Retry-After: 3` meanwhile and 200 after.
async fn down_vendor(start: Instant, down: Duration) -> (SocketAddr, Sends) {
    let sends = Sends::default();
    let log = sends.clone();
    let addr = support::serve(move |_req| {
        let log = log.clone();
        async move {
            let at = start.elapsed();
            log.lock().unwrap().push(at);
            if at < down {
                support::response(503, &[("retry-after", "3")], "down for maintenance")
            } else {
                support::response(200, &[], "{}")
            }
        }
    })
    .await;
    (addr, sends)
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/v1/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// What one call of the drive saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Ok,
    Failed,
    Open,
}

#[tokio::test(start_paused = true)]
async fn a_vendor_down_for_5_s_with_retry_after_3() {
    let start = Instant::now();
    let (addr, sends) = down_vendor(start, Duration::from_secs(5)).await;
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>());

    // A call every 100 ms for 10 s.
    let mut seen = Vec::new();
    let mut refusals = Vec::new();
    for tick in 0..100u32 {
        tokio::time::sleep_until(start + Duration::from_millis(100) * tick).await;
        let before = sends.lock().unwrap().len();
        let wall = std::time::Instant::now();
        let outcome = client.clone().oneshot(get(addr)).await;
        let took = wall.elapsed();
        let sent = sends.lock().unwrap().len() - before;
        let what = match outcome {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                Seen::Ok
            }
            Err(Error::CircuitOpen(open)) => {
                assert_eq!(sent, 0, "refused without a send");
                assert!(open.retry_after() <= Duration::from_secs(3));
                refusals.push(took);
                Seen::Open
            }
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
                Seen::Failed
            }
        };
        seen.push((start.elapsed(), what));
    }

    // The 10 first calls (minimum_calls) failed and opened it.
    assert!(seen[..10].iter().all(|(_, what)| *what == Seen::Failed));
    let opened_at = seen[9].0;
    assert_eq!(seen[10].1, Seen::Open);
    // No send before the Retry-After, then one probe (still down: the
    // server says 3 s again), then none before that Retry-After.
    let sends = sends.lock().unwrap().clone();
    let after_opening: Vec<_> = sends.iter().filter(|at| **at > opened_at).collect();
    assert!(
        *after_opening[0] >= opened_at + Duration::from_secs(3),
        "first probe at {:?}, opened at {opened_at:?}",
        after_opening[0]
    );
    let second = *after_opening[1];
    assert!(second >= *after_opening[0] + Duration::from_secs(3));
    // Recovery within Retry-After + 1 s of the vendor coming back at 5 s.
    let recovered = seen
        .iter()
        .find(|(at, what)| *what == Seen::Ok && *at >= Duration::from_secs(5))
        .map(|(at, _)| *at)
        .expect("recovered");
    assert!(recovered <= Duration::from_secs(5 + 3 + 1), "{recovered:?}");
    assert!(seen
        .iter()
        .filter(|(at, _)| *at > recovered)
        .all(|(_, what)| *what == Seen::Ok));
    // Calls while open failed in well under 1 ms of wall time (the
    // median: a shared test machine may preempt any one call).
    refusals.sort();
    let median = refusals[refusals.len() / 2];
    assert!(median < std::time::Duration::from_millis(1), "{median:?}");
    let refused = seen.iter().filter(|(_, what)| *what == Seen::Open).count();
    assert_eq!(
        refused + sends.len(),
        100,
        "every call sent or refused, once"
    );
}

#[tokio::test(start_paused = true)]
async fn under_retry_an_open_breaker_is_waited_out_like_a_hint() {
    let start = Instant::now();
    let (addr, sends) = down_vendor(start, Duration::from_secs(5)).await;
    // Two stacks over one breaker: a plain one opens it.
    let breaker = CircuitBreakerLayer::new().minimum_calls(4);
    let plain = ServiceBuilder::new()
        .layer(breaker.clone())
        .layer(ErrorBodyParseLayer::new())
        .service(support::client());
    for _ in 0..4 {
        plain.clone().oneshot(get(addr)).await.unwrap_err();
    }
    // A hint longer than the policy may wait: failed fast, unsent.
    let impatient = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::default().max_retry_after(Duration::from_secs(1)),
        ))
        .layer(breaker.clone())
        .layer(ErrorBodyParseLayer::new())
        .service(support::client());
    let error = impatient.oneshot(get(addr)).await.unwrap_err();
    assert_eq!(
        error.circuit_open().unwrap().retry_after(),
        Duration::from_secs(3)
    );
    assert_eq!(error.retries().stopped(), Some(StopReason::HintTooLong));
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The default policy waits the 3 s, probes (503, Retry-After: 3 again),
    // waits, probes again after the vendor is back at 5 s: 200.
    let retried = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(breaker)
        .layer(ErrorBodyParseLayer::new())
        .service(support::client());
    let response = retried.oneshot(get(addr)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    // Two sends (at 3 s and 6 s): the refusal at 0 s sent nothing, and
    // the report, as `max_attempts`, counts sends.
    let report = response.extensions().get::<RetryReport>().unwrap();
    assert_eq!(report.attempts(), 2);
    let secs: Vec<u64> = sends
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(secs, [0, 0, 0, 0, 3, 6], "nothing sent while open");
}

/// Breaker docs (src/breaker/mod.rs:8): timeouts count; the retry
/// policy's deadline is the stack's timeout (src/retry/policy.rs: an
/// attempt still running when it passes "is cut short with a transport
/// error"). In `ApiErrorsLayer`, a vendor that hangs on every call opens
/// the breaker, and a probe the deadline cuts reopens it for twice the
/// break; a call the caller gives up on tells nothing. Attempts the
/// deadline cut once never counted (the retry layer drops them, and a
/// dropped call told nothing): a hanging vendor never opened it, and each
/// call after a break was another probe.
#[tokio::test(start_paused = true)]
async fn in_the_stack_attempts_the_deadline_cuts_are_timeouts() {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let hanging = service_fn(move |_: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>()
    });
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(
            RetryPolicy::default()
                .max_attempts(1)
                .deadline(Duration::from_secs(1)),
        )
        .breaker(CircuitBreakerLayer::new().minimum_calls(3))
        .layer(hanging);
    let call = || {
        client
            .clone()
            .oneshot(Request::new(Full::new(Bytes::new())))
    };
    // The caller's own timeouts, before the deadline: nothing learned.
    for _ in 0..3 {
        let gave_up = tokio::time::timeout(Duration::from_millis(500), call()).await;
        assert!(gave_up.is_err());
    }
    for _ in 0..3 {
        assert_eq!(call().await.unwrap_err().kind(), ErrorKind::Transport);
    }
    assert_eq!(sent.load(Ordering::SeqCst), 6);
    let open = call().await.unwrap_err();
    assert_eq!(
        open.circuit_open().unwrap().retry_after(),
        Duration::from_secs(5)
    );
    // The probe hangs too: cut, it reopens the breaker, for 10 s.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(call().await.unwrap_err().kind(), ErrorKind::Transport);
    let open = call().await.unwrap_err();
    assert_eq!(
        open.circuit_open().unwrap().retry_after(),
        Duration::from_secs(10)
    );
    assert_eq!(sent.load(Ordering::SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn a_vendor_that_only_rate_limits_never_opens_it() {
    let served = Arc::new(AtomicU32::new(0));
    let counter = served.clone();
    let addr = support::serve(move |_req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let remaining = (100 - n.min(100)).to_string();
            let headers = [
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", remaining.as_str()),
                ("x-ratelimit-reset", "30"),
            ];
            if n.is_multiple_of(2) {
                let mut limited = headers.to_vec();
                limited.push(("retry-after", "1"));
                support::response(429, &limited, r#"{"error":"rate limited"}"#)
            } else {
                support::response(200, &headers, "{}")
            }
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new().minimum_calls(5))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client());
    for _ in 0..200 {
        match client.clone().oneshot(get(addr)).await {
            Ok(_) => {}
            Err(error) => assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}"),
        }
    }
    assert_eq!(served.load(Ordering::SeqCst), 200, "every call was sent");
}

/// Breaker docs (src/breaker/mod.rs "What it does differently": "a
/// request a layer below refused without sending (quota, auth) never
/// count[s]: a vendor that only rate limits is answering") and issue 26's
/// target ("Rate-limiting vendor: the breaker never opens"). The vendor
/// announces its window spent (`remaining: 0`, reset in 5 s); the quota
/// layer below the breaker holds the calls that follow for the reset, and
/// the retry layer's 1 s deadline cuts them there, nothing sent. They are
/// no timeouts of the upstream: the breaker stays closed and, once the
/// window resets, calls are sent. (Before the fix: each cut counted as a
/// timeout, and the second call was refused "upstream failing".)
#[tokio::test(start_paused = true)]
async fn calls_cut_while_the_quota_holds_them_never_open_it() {
    let served = Arc::new(AtomicU32::new(0));
    let counter = served.clone();
    let addr = support::serve(move |_req| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        let remaining = if first { "0" } else { "99" };
        let headers = [
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", "5"),
        ];
        async move { support::response(200, &headers, "{}") }
    })
    .await;
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(RetryPolicy::default().deadline(Duration::from_secs(1)))
        .quota(tower_api_errors::QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new().minimum_calls(2))
        .layer(support::client());
    client.clone().oneshot(get(addr)).await.unwrap();
    for _ in 0..3 {
        let error = client.clone().oneshot(get(addr)).await.unwrap_err();
        assert!(error.circuit_open().is_none(), "{error}");
        assert_eq!(error.retries().attempts(), 0, "held unsent: {error}");
    }
    assert_eq!(served.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_reset = client.clone().oneshot(get(addr)).await;
    assert_eq!(after_reset.unwrap().status(), 200);
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn transport_failures_open_it_and_a_dropped_probe_frees_its_place() {
    let addr = support::refused_addr();
    let client = ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new()
                .minimum_calls(3)
                .break_duration(Duration::from_secs(1), Duration::from_secs(8)),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(support::client());
    for _ in 0..3 {
        let error = client.clone().oneshot(get(addr)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transport);
    }
    let open = client.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(
        open.circuit_open().unwrap().retry_after(),
        Duration::from_secs(1)
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    // The probe, dropped before its answer: the next call probes.
    let probe = client.clone().oneshot(get(addr));
    drop(probe);
    let mut ready = client.clone();
    let probe = ServiceExt::ready(&mut ready).await.unwrap().call(get(addr));
    drop(probe);
    let failed_probe = client.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(failed_probe.kind(), ErrorKind::Transport, "{failed_probe}");
    // It failed: open again, for twice the break.
    let open = client.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(
        open.circuit_open().unwrap().retry_after(),
        Duration::from_secs(2)
    );
    assert!(!open.circuit_open().unwrap().is_server_signalled());
}

/// A vendor that always answers `status` with `headers`; counts sends.
async fn always(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
) -> (SocketAddr, Arc<AtomicU32>) {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let addr = support::serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { support::response(status, headers, "{}") }
    })
    .await;
    (addr, sent)
}

/// A process of a fleet: its own breaker (its own circuits and counts),
/// sharing openings through `store`.
fn process(
    store: &MemoryStore,
    minimum_calls: u32,
) -> impl Service<Request<Full<Bytes>>, Response = Response<hyper::body::Incoming>, Error = Error> + Clone
{
    ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new()
                .minimum_calls(minimum_calls)
                .shared(store.clone()),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>())
}

/// Issue 26's fleet: an opening the server signalled (503, `Retry-After:
/// 3`) in one process is shared through the quota's store; the other
/// process fails fast, without sending, until the time the server named,
/// and then probes. Its probe's answer (`Retry-After: 10` now) reopens it,
/// and that later opening reaches the first.
#[tokio::test(start_paused = true)]
async fn a_signalled_opening_is_shared_by_the_fleet() {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let addr = support::serve(move |_req| {
        let wait = match counter.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => "3",
            _ => "10",
        };
        async move { support::response(503, &[("retry-after", wait)], "down") }
    })
    .await;
    let sends = || sent.load(Ordering::SeqCst);
    let store = MemoryStore::new();
    let (a, b) = (process(&store, 2), process(&store, 10));
    for _ in 0..2 {
        let error = a.clone().oneshot(get(addr)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    }
    // B never saw a failure, and fails fast for what is left of the 3 s.
    let error = b.clone().oneshot(get(addr)).await.unwrap_err();
    let open = error.circuit_open().expect("open from the fleet");
    assert!(open.is_server_signalled());
    assert!(open.retry_after() <= Duration::from_secs(3));
    assert!(
        open.retry_after() > Duration::from_millis(2_900),
        "{:?}",
        open.retry_after()
    );
    tokio::time::advance(open.retry_after() - Duration::from_millis(10)).await;
    let error = b.clone().oneshot(get(addr)).await.unwrap_err();
    assert!(error.circuit_open().is_some(), "{error}");
    assert_eq!(sends(), 2, "B sent nothing while open");
    // At the server's time, B probes (and the vendor is still down).
    tokio::time::advance(Duration::from_millis(10)).await;
    let probe = b.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(probe.kind(), ErrorKind::Unavailable, "{probe}");
    assert_eq!(sends(), 3, "one probe");
    // Its Retry-After reopened B for 10 s, and A learns that opening.
    let error = b.clone().oneshot(get(addr)).await.unwrap_err();
    assert!(error.circuit_open().unwrap().retry_after() > Duration::from_secs(9));
    tokio::time::advance(Duration::from_secs(1)).await;
    let error = a.clone().oneshot(get(addr)).await.unwrap_err();
    let open = error.circuit_open().expect("A learned B's opening");
    assert!(
        open.retry_after() > Duration::from_secs(8),
        "{:?}",
        open.retry_after()
    );
    assert_eq!(sends(), 3);
}

/// A request that names no server (a tonic `Channel`'s, whose origin is
/// added below our layers: `/pkg.Svc/Method`, no `Host`) is no scope of
/// the fleet's: a server's signalled opening (503, `Retry-After: 30`) in
/// one process does not refuse another process's calls, which may go to
/// another server (before, every such request was one fleet scope).
#[tokio::test(start_paused = true)]
async fn an_opening_of_a_request_naming_no_server_stays_in_its_process() {
    let upstream = |status: u16| {
        service_fn(move |_request: Request<Full<Bytes>>| async move {
            let response = Response::builder()
                .status(status)
                .header("retry-after", "30");
            Ok::<_, Infallible>(response.body(Full::new(Bytes::new())).unwrap())
        })
    };
    let store = MemoryStore::new();
    let breaker = |minimum_calls| {
        let layer = CircuitBreakerLayer::new().minimum_calls(minimum_calls);
        layer.shared(store.clone())
    };
    let (a, b) = (
        breaker(2).layer(upstream(503)),
        breaker(10).layer(upstream(200)),
    );
    let call = || {
        Request::post("/pkg.Svc/Method")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(a.clone().oneshot(call()).await.unwrap().status(), 503);
    }
    let refused = a.clone().oneshot(call()).await.unwrap_err();
    assert!(refused.circuit_open().is_some(), "A opened: {refused}");
    let answer = b
        .clone()
        .oneshot(call())
        .await
        .map(|answer| answer.status());
    assert_eq!(answer.ok(), Some(http::StatusCode::OK), "B's call went");
}

/// What is not the server's word stays in its process: a failure-rate
/// opening (502s without a hint) is not shared, and a 429 with
/// `Retry-After` never opens a breaker at all.
#[tokio::test(start_paused = true)]
async fn local_counts_and_rate_limits_are_not_shared() {
    let store = MemoryStore::new();
    let (unwell, unwell_sent) = always(502, &[]).await;
    let (a, b) = (process(&store, 2), process(&store, 10));
    for _ in 0..2 {
        a.clone().oneshot(get(unwell)).await.unwrap_err();
    }
    let open = a.clone().oneshot(get(unwell)).await.unwrap_err();
    assert!(!open.circuit_open().expect("A opened").is_server_signalled());
    let error = b.clone().oneshot(get(unwell)).await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::BadGateway,
        "B was not told: {error}"
    );
    assert_eq!(unwell_sent.load(Ordering::SeqCst), 3);

    let (limiting, limited_sent) = always(429, &[("retry-after", "3")]).await;
    for _ in 0..20 {
        for process in [&a, &b] {
            let error = process.clone().oneshot(get(limiting)).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}");
        }
    }
    assert_eq!(
        limited_sent.load(Ordering::SeqCst),
        40,
        "every call was sent"
    );
}

/// Allocations made while polling `future` to completion on this thread.
fn allocations_of<F: Future>(future: F) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut future = std::pin::pin!(future);
    runtime.block_on(async {});
    counting::start();
    runtime.block_on(future.as_mut());
    counting::stop()
}

#[test]
fn a_closed_breaker_adds_no_allocation() {
    let ok = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    });
    let request = || {
        Request::get("https://api.example.com/v1/items?page=2")
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let count = |service: &dyn Fn() -> u64| service();
    let baseline = count(&|| {
        let request = request();
        allocations_of(async move {
            let _ = ok.oneshot(request).await;
        })
    });
    let breaker = CircuitBreakerLayer::new().layer(ok);
    // The first call of a scope makes its circuit; the steady state is
    // what is counted.
    allocations_of(breaker.clone().oneshot(request()));
    let with_breaker = count(&|| {
        let request = request();
        let service = breaker.clone();
        allocations_of(async move {
            let _ = service.oneshot(request).await;
        })
    });
    assert_eq!(with_breaker, baseline, "a closed breaker allocates nothing");
    // Shared with a fleet's store, too.
    let store = MemoryStore::new();
    store.publish(ScopeKey::new("other.example", None), SystemTime::now());
    let shared = CircuitBreakerLayer::new().shared(store).layer(ok);
    allocations_of(shared.clone().oneshot(request()));
    let with_shared = count(&|| {
        let request = request();
        let service = shared.clone();
        allocations_of(async move {
            let _ = service.oneshot(request).await;
        })
    });
    assert_eq!(with_shared, baseline, "a shared closed breaker neither");
}

/// Openings, probes and closings reach the one observer: here its
/// OpenTelemetry backend, read back from an in-memory exporter.
#[cfg(feature = "opentelemetry")]
#[tokio::test(start_paused = true)]
async fn transitions_are_recorded_as_metrics() {
    let reader = support::MetricsReader::new();
    let start = Instant::now();
    let (addr, _) = down_vendor(start, Duration::from_secs(1)).await;
    let client = ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new()
                .minimum_calls(2)
                .metrics(reader.metrics()),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(support::client());
    for _ in 0..2 {
        client.clone().oneshot(get(addr)).await.unwrap_err();
    }
    tokio::time::advance(Duration::from_secs(3)).await;
    client.clone().oneshot(get(addr)).await.unwrap();

    let states = reader.counter_points(
        "tower_api_errors.breaker.transitions",
        "tower_api_errors.breaker.state",
    );
    assert_eq!(states, ["closed 1", "half_open 1", "open 1"]);
}

/// An opening learned from the fleet reaches the one observer: the
/// transitions counter, state `open`, origin `fleet`.
#[cfg(feature = "opentelemetry")]
#[tokio::test(start_paused = true)]
async fn a_fleet_opening_is_recorded_as_a_metric() {
    let reader = support::MetricsReader::new();
    let (addr, _) = down_vendor(Instant::now(), Duration::from_secs(60)).await;
    let store = MemoryStore::new();
    let a = process(&store, 2);
    for _ in 0..2 {
        a.clone().oneshot(get(addr)).await.unwrap_err();
    }
    let b = CircuitBreakerLayer::new()
        .shared(store)
        .metrics(reader.metrics())
        .layer(support::client::<Full<Bytes>>());
    b.oneshot(get(addr))
        .await
        .unwrap_err()
        .circuit_open()
        .unwrap();
    let points =
        |attribute| reader.counter_points("tower_api_errors.breaker.transitions", attribute);
    assert_eq!(points("tower_api_errors.breaker.state"), ["open 1"]);
    assert_eq!(points("tower_api_errors.breaker.origin"), ["fleet 1"]);
}

/// The layer, its service and its future are what a stack needs them to
/// be: `Send + Sync + Clone` layers and services, `Send` futures.
#[test]
fn types_are_send_sync_and_clone() {
    fn layer<T: Send + Sync + Clone>() {}
    fn future<T: Send>() {}
    type Client = hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >;
    layer::<CircuitBreakerLayer>();
    layer::<tower_api_errors::breaker::CircuitBreaker<Client>>();
    future::<
        <tower_api_errors::breaker::CircuitBreaker<Client> as Service<Request<Full<Bytes>>>>::Future,
    >();
    layer::<tower_api_errors::CircuitOpen>();
}

/// Peers' circuit-breaker scenarios (Polly v8, failsafe-go, Envoy outlier
/// detection, gRFC A6), on `service_fn` upstreams with paused time.
mod peer_scenarios {
    use crate::scripted::{self, reply, Scripted};
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{service_fn, Layer, ServiceExt};
    use tower_api_errors::breaker::{CircuitBreaker, CircuitBreakerLayer};

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    fn get() -> Request<Full<Bytes>> {
        scripted::get("http://api.test/v1/things")
    }

    /// Breaker docs (src/breaker/mod.rs:6-9, 51-53): it counts "5xx of
    /// the kinds DEFAULT_COUNTED lists (unavailable, ...)" and "over a raw
    /// client it reads the status and headers itself"; a gRPC pushback
    /// times the break (mod.rs:21-24). With the `grpc` feature a
    /// trailers-only UNAVAILABLE is classified "exactly like an HTTP
    /// status" (src/grpc/mod.rs:3-8), and the retry layer over a raw client
    /// retries it (tests/peer_retry_suites.rs grpc rows, bare stack). The
    /// breaker over the same raw client counts it too (it once read the
    /// HTTP status only: a gRPC backend that was down never opened it).
    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn over_a_raw_grpc_client_counts_trailers_only_unavailable() {
        let sent = Arc::new(AtomicU32::new(0));
        let counter = sent.clone();
        let upstream = service_fn(move |_req: Request<()>| {
            counter.fetch_add(1, SeqCst);
            let response = Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .header("grpc-status", "14")
                .header("grpc-retry-pushback-ms", "3000")
                .body(())
                .unwrap();
            async { Ok::<_, Infallible>(response) }
        });
        let breaker = CircuitBreakerLayer::new().minimum_calls(2).layer(upstream);
        let call = || {
            Request::post("http://grpc.test/pkg.Svc/Get")
                .body(())
                .unwrap()
        };
        for _ in 0..2 {
            breaker.clone().oneshot(call()).await.unwrap();
        }
        let third = breaker.clone().oneshot(call()).await;
        let open = third.as_ref().err().and_then(|e| e.circuit_open());
        assert!(
            open.is_some(),
            "two UNAVAILABLE of two calls (pushback 3 s) did not open it: {:?}",
            third.map(|r| r.status())
        );
        assert_eq!(open.unwrap().retry_after(), S(3));
        assert_eq!(sent.load(SeqCst), 2);
    }

    /// Over the parse layer, a trailers-only UNAVAILABLE with a 3 s
    /// pushback opens the breaker for exactly 3 s, signalled (the probe
    /// keeps the server's clock); INVALID_ARGUMENT and RESOURCE_EXHAUSTED
    /// (A6: "avoids conflating server failure with responses to malformed
    /// requests") never count.
    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn over_the_parse_layer_follows_grpc_statuses() {
        use tower::ServiceBuilder;
        use tower_api_errors::{ErrorBodyParseLayer, ErrorKind};

        fn grpc(code: &'static str, pushback: Option<&'static str>) -> Response<Full<Bytes>> {
            let mut headers = vec![("content-type", "application/grpc"), ("grpc-status", code)];
            if let Some(ms) = pushback {
                headers.push(("grpc-retry-pushback-ms", ms));
            }
            reply(200, &headers, "")
        }
        let call = || {
            Request::post("http://grpc.test/pkg.Svc/Get")
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        // Neither a malformed request nor a rate limit ever opens it.
        for code in ["3", "8"] {
            let upstream = Scripted::new();
            let client = ServiceBuilder::new()
                .layer(CircuitBreakerLayer::new().minimum_calls(2))
                .layer(ErrorBodyParseLayer::new())
                .service(upstream.service(move |_| grpc(code, Some("3000"))));
            for _ in 0..20 {
                let error = client.clone().oneshot(call()).await.unwrap_err();
                assert!(error.circuit_open().is_none(), "code {code}: {error}");
            }
            assert_eq!(upstream.count(), 20, "code {code}");
        }
        // UNAVAILABLE with a pushback: open for exactly the pushback.
        let upstream = Scripted::new();
        let client = ServiceBuilder::new()
            .layer(CircuitBreakerLayer::new().minimum_calls(2))
            .layer(ErrorBodyParseLayer::new())
            .service(upstream.service(|n| match n {
                0 | 1 => grpc("14", Some("3000")),
                _ => grpc("0", None),
            }));
        for _ in 0..2 {
            let error = client.clone().oneshot(call()).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Unavailable);
        }
        let error = client.clone().oneshot(call()).await.unwrap_err();
        let open = error.circuit_open().expect("open");
        assert_eq!(open.retry_after(), S(3));
        assert!(open.is_server_signalled());
        tokio::time::advance(MS(2_999)).await;
        assert!(client
            .clone()
            .oneshot(call())
            .await
            .unwrap_err()
            .circuit_open()
            .is_some());
        tokio::time::advance(MS(1)).await;
        client.clone().oneshot(call()).await.unwrap();
        assert_eq!(upstream.count(), 3, "one probe, at the server's time");
    }

    /// Polly v8 `BreakDurationGenerator` / Envoy outlier detection (ejection
    /// time = base × ejections, capped at max_ejection_time), as our docs put
    /// it (src/breaker/layer.rs:146-149): "doubled with each opening in a row
    /// (a failed probe reopens), up to `max`. A circuit that stayed closed a
    /// whole window starts again from `base`."
    #[tokio::test(start_paused = true)]
    async fn break_grows_in_a_row_and_starts_over_after_a_closed_window() {
        let down = Arc::new(AtomicBool::new(true));
        let flag = down.clone();
        let sent = Arc::new(AtomicU32::new(0));
        let counter = sent.clone();
        let upstream = service_fn(move |_req: Request<()>| {
            counter.fetch_add(1, SeqCst);
            let status = if flag.load(SeqCst) { 502 } else { 200 };
            let response = Response::builder().status(status).body(()).unwrap();
            async move { Ok::<_, Infallible>(response) }
        });
        let breaker = CircuitBreakerLayer::new()
            .minimum_calls(2)
            .failure_rate(1.0)
            .window(S(10))
            .break_duration(S(1), S(4))
            .layer(upstream);
        let call = || Request::get("http://api.test/").body(()).unwrap();
        let refused_for = |breaker: &CircuitBreaker<_>| {
            let breaker = breaker.clone();
            async move {
                let error = breaker.oneshot(call()).await.unwrap_err();
                error.circuit_open().expect("refused").retry_after()
            }
        };
        for _ in 0..2 {
            breaker.clone().oneshot(call()).await.unwrap();
        }
        let mut breaks = vec![refused_for(&breaker).await];
        // Three failed probes: 2 s, 4 s, 4 s (the cap).
        for _ in 0..3 {
            tokio::time::advance(*breaks.last().unwrap()).await;
            assert_eq!(breaker.clone().oneshot(call()).await.unwrap().status(), 502);
            breaks.push(refused_for(&breaker).await);
        }
        assert_eq!(breaks, [S(1), S(2), S(4), S(4)]);
        // A probe succeeds: closed.
        down.store(false, SeqCst);
        tokio::time::advance(S(4)).await;
        breaker.clone().oneshot(call()).await.unwrap();
        // Closed a whole window, then down again: from the base once more.
        tokio::time::advance(S(11)).await;
        down.store(true, SeqCst);
        for _ in 0..2 {
            breaker.clone().oneshot(call()).await.unwrap();
        }
        assert_eq!(refused_for(&breaker).await, S(1), "starts over from base");
    }

    /// Polly v8 `CircuitBreakerResilienceStrategyTests` / failsafe-go
    /// `TestShouldRejectExecutionsWhenOpen`: the failure ratio is measured over
    /// the sampling window with a minimum throughput; successes dilute it, and
    /// failures older than the window no longer count. Here through the layer,
    /// on a real clock (paused): 4 failures among 10 calls (rate 0.4 < 0.5)
    /// do not open it; the window slides past them and 5 failures of 5 do.
    #[tokio::test(start_paused = true)]
    async fn failure_ratio_minimum_throughput_and_sliding_window() {
        let upstream = Scripted::new();
        // 0..10: S S F S F S F S F S (never half); then everything fails.
        let service = upstream.service(|n| match n {
            2 | 4 | 6 | 8 => reply(503, &[], ""),
            0 | 1 | 3 | 5 | 7 | 9 => reply(200, &[], ""),
            _ => reply(503, &[], ""),
        });
        let breaker = CircuitBreakerLayer::new()
            .minimum_calls(5)
            .failure_rate(0.5)
            .layer(service);
        for _ in 0..10 {
            breaker.clone().oneshot(get()).await.unwrap();
            tokio::time::advance(MS(100)).await;
        }
        // 4 of 10: closed. Past the window, the old calls are gone.
        tokio::time::advance(S(11)).await;
        for i in 0..4 {
            let response = breaker.clone().oneshot(get()).await.unwrap();
            assert_eq!(response.status(), 503, "call {i}: under the minimum");
        }
        // The fifth failure of five: opens.
        breaker.clone().oneshot(get()).await.unwrap();
        let error = breaker.clone().oneshot(get()).await.unwrap_err();
        assert_eq!(error.circuit_open().unwrap().retry_after(), S(5));
        assert_eq!(upstream.count(), 15);
    }

    /// Breaker docs (src/breaker/mod.rs:9-11): "When at least minimum_calls
    /// were made and at least failure_rate of them failed, it opens: calls
    /// then fail at once" — whatever the last call was (Resilience4j checks
    /// after every recorded call). With the defaults (10 calls, rate 0.5),
    /// nine 503s then a 200 is 9 of 10: the 11th call fails unsent. It once
    /// went, the rate being looked at only when a failure arrived.
    #[tokio::test(start_paused = true)]
    async fn the_rate_met_on_a_success_opens_it() {
        let upstream = Scripted::new();
        let service = upstream.service(|n| reply(if n < 9 { 503 } else { 200 }, &[], ""));
        let breaker = CircuitBreakerLayer::new().layer(service);
        for _ in 0..10 {
            breaker.clone().oneshot(get()).await.unwrap();
        }
        let error = breaker.clone().oneshot(get()).await.unwrap_err();
        assert!(error.circuit_open().is_some(), "{error}");
        assert_eq!(upstream.count(), 10, "the 11th call was not sent");
    }
}

/// A herd of 20 calls through the README's stack into an outage (503,
/// `Retry-After: 3`) that ends after 1 s, the recovered upstream taking
/// 1 s per answer. With a breaker, most retries meet its refusals while
/// its probe is out ("come back in 250 ms"): never sent, they draw
/// nothing from the retry budget and are no attempts, so the breaker
/// fails no more calls than the stack without it (where the budget
/// refuses some of the 503s' retries). Before, they drew on both: 19 of
/// 20 failed with the breaker, 6 without.
#[tokio::test(start_paused = true)]
async fn a_breakers_refusals_spend_neither_the_retry_budget_nor_attempts() {
    async fn failures(breaker: Option<CircuitBreakerLayer>) -> (usize, Vec<String>) {
        let start = Instant::now();
        let upstream = service_fn(move |_: Request<_>| {
            let up = start.elapsed() >= Duration::from_secs(1);
            async move {
                let (status, takes) = match up {
                    true => (200, 1000),
                    false => (503, 20),
                };
                tokio::time::sleep(Duration::from_millis(takes)).await;
                let response = Response::builder()
                    .status(status)
                    .header("retry-after", "3");
                Ok::<_, Infallible>(response.body(Full::new(Bytes::new())).unwrap())
            }
        });
        let layer = tower_api_errors::ApiErrorsLayer::new();
        let client = match breaker {
            Some(breaker) => layer.breaker(breaker).layer(upstream).boxed_clone(),
            None => layer.layer(upstream).boxed_clone(),
        };
        let calls: Vec<_> = (0..20)
            .map(|_| tokio::spawn(client.clone().oneshot(get(([127, 0, 0, 1], 9).into()))))
            .collect();
        let mut failed = Vec::new();
        for call in calls {
            if let Err(error) = call.await.unwrap() {
                failed.push(error.to_string());
            }
        }
        (failed.len(), failed)
    }
    let (without, _) = failures(None).await;
    let (with, errors) = failures(Some(CircuitBreakerLayer::new())).await;
    assert!(without < 20, "{without}");
    assert!(
        with <= without,
        "{with} failed with it, {without} without: {errors:?}"
    );
}

/// What the breaker counts and what it gives back, beside tower's own
/// layers and the stack's classifier. Found by a probe of the tower
/// contract.
mod beside_tower {
    use crate::scripted::{exact, get, reply, Scripted};
    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::Full;
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::{Layer, Service, ServiceBuilder, ServiceExt};
    use tower_api_errors::breaker::CircuitBreakerLayer;
    use tower_api_errors::classify::{Classification, Classify, ClassifyExt, DefaultClassifier};
    use tower_api_errors::retry::{ReplayBody, RetryLayer};
    use tower_api_errors::{ApiErrorsLayer, Error, ErrorBodyParseLayer};

    /// Opens `breaker`'s circuit for api.example for 2 s (a 503 with
    /// `Retry-After: 2`).
    async fn open_for_two_seconds(breaker: &CircuitBreakerLayer) {
        let opener = breaker.layer(tower::service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(reply(503, &[("retry-after", "2")], ""))
        }));
        let _ = opener.oneshot(get("http://api.example/open")).await;
    }

    fn answers_503() -> impl Classify + Clone + Send + Sync + 'static {
        let classifier = DefaultClassifier::new();
        classifier.with_status(StatusCode::SERVICE_UNAVAILABLE, Classification::Success)
    }

    /// tower lets a caller keep a service it made ready; a refusal gives
    /// back the readiness it took below (here a `ConcurrencyLimit(1)`
    /// permit), as the quota layer's does. Kept, it made the retry's
    /// clone wait for it until the deadline (150 s), never sending the
    /// retry the 2 s opening allowed.
    #[tokio::test(start_paused = true)]
    async fn a_refusal_gives_back_the_readiness_it_took_below() {
        type Req = Request<ReplayBody<Full<Bytes>>>;
        let breaker = CircuitBreakerLayer::new().minimum_calls(1);
        open_for_two_seconds(&breaker).await;
        let (inner, mut handle) = tower_test::mock::pair::<Req, Response<Full<Bytes>>>();
        let mut service = ServiceBuilder::new()
            .layer(RetryLayer::new(exact()))
            .layer(breaker)
            .concurrency_limit(1)
            .service(inner);
        let started = tokio::time::Instant::now();
        let call = service
            .ready()
            .await
            .unwrap()
            .call(get("http://api.example/a"));
        let call = tokio::spawn(call);
        let next = tokio::time::timeout(Duration::from_secs(25), handle.next_request());
        let (_, send) = next.await.expect("the retry is sent").unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        send.send_response(reply(200, &[], ""));
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }

    /// The breaker counts what the stack's classifier calls a failure:
    /// over a parse layer (or in `ApiErrorsLayer`) told a 503 is an
    /// answer, twenty 503s open nothing (they opened it at the fifth).
    #[tokio::test(start_paused = true)]
    async fn it_never_opens_on_what_the_stacks_classifier_calls_a_success() {
        let scripted = Scripted::new();
        let alone = ServiceBuilder::new()
            .layer(CircuitBreakerLayer::new().minimum_calls(5))
            .layer(ErrorBodyParseLayer::new().classifier(answers_503()))
            .service(scripted.service::<Full<Bytes>>(|_| reply(503, &[], "{}")));
        let stack = ApiErrorsLayer::new()
            .retry(exact())
            .classifier(answers_503())
            .breaker(CircuitBreakerLayer::new().minimum_calls(5))
            .layer(scripted.service::<ReplayBody<Full<Bytes>>>(|_| reply(503, &[], "{}")));
        for _ in 0..20 {
            let response = alone.clone().oneshot(get("http://api.example/")).await;
            assert_eq!(response.unwrap().status(), 503);
            let response = stack.clone().oneshot(get("http://api.example/")).await;
            assert_eq!(response.unwrap().status(), 503);
        }
        assert_eq!(scripted.count(), 40);
    }

    /// A request a `LoadShed` below shed was never sent: it tells nothing
    /// of the upstream (breaker module docs), and opens nothing.
    #[tokio::test(start_paused = true)]
    async fn requests_shed_below_never_open_it() {
        let upstream = tower::service_fn(|_req: Request<Full<Bytes>>| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, Infallible>(reply(200, &[], ""))
        });
        let service = ServiceBuilder::new()
            .layer(CircuitBreakerLayer::new().minimum_calls(5))
            .load_shed()
            .concurrency_limit(1)
            .service(upstream);
        let calls: Vec<_> = (0..20)
            .map(|_| tokio::spawn(service.clone().oneshot(get("http://api.example/"))))
            .collect();
        let mut shed = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(_) => {}
                Err(Error::Transport(_)) => shed += 1,
                Err(error) => panic!("{error:?}"),
            }
        }
        assert!(shed >= 5, "{shed} shed");
        let next = service.oneshot(get("http://api.example/")).await;
        assert!(next.is_ok(), "after {shed} requests shed: {next:?}");
    }

    /// The caller's own request bodies failing mid-upload (hyper's "error
    /// from user's Body stream") say nothing of a healthy upstream
    /// (recognised by type with feature `hyper-util` or `reqwest`).
    #[cfg(any(feature = "hyper-util", feature = "reqwest"))]
    #[tokio::test]
    async fn the_callers_failing_bodies_never_open_it() {
        type Chan = http_body_util::channel::Channel<Bytes, crate::support::BoxError>;
        let addr = crate::support::serve(|req| async move {
            let _ = http_body_util::BodyExt::collect(req.into_body()).await;
            crate::support::response(200, &[], "ok")
        })
        .await;
        let service = CircuitBreakerLayer::new()
            .minimum_calls(5)
            .layer(crate::support::client::<Chan>());
        for i in 0..10 {
            let (mut tx, body) = Chan::new(1);
            let request = Request::put(format!("http://{addr}/upload/{i}")).body(body);
            let call = tokio::spawn(service.clone().oneshot(request.unwrap()));
            tx.send_data(Bytes::from_static(b"partial")).await.unwrap();
            tx.abort("the caller's file read failed".into());
            let outcome = call.await.unwrap();
            assert!(matches!(outcome, Err(Error::Transport(_))), "{outcome:?}");
        }
        let (tx, body) = Chan::new(1);
        drop(tx);
        let request = Request::get(format!("http://{addr}/health")).body(body);
        let healthy = service.oneshot(request.unwrap()).await;
        assert!(healthy.is_ok(), "{healthy:?}");
    }
}
