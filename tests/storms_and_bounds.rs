//! Memory and work under failure storms and hostile scale: every
//! per-scope map stays within its bound (a webhook sender's 40,000
//! authorities), every call of a 10,000-call storm ends once with nothing
//! left behind, and hostile headers, bodies and reset values cost linear
//! work and never a panic, an overflow or a wait past the documented caps.
#![allow(clippy::type_complexity)]

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use scripted::within;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::hints::ResponseHints;
use tower_api_errors::quota::{
    Grant, MemoryStore, Observation, Permit, QuotaLayer, QuotaStore, ScopeKey, WindowReport,
};
use tower_api_errors::{parse_error, ApiErrorsLayer, RetryPolicy};

// ---------------------------------------------------------------------------
// A per-thread live-bytes counter (a current-thread runtime keeps every
// allocation of a test on its thread).

struct Live;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the count is a thread-local Cell.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|n| n.set(n.get() + layout.size() as isize));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|n| n.set(n.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LIVE.try_with(|n| n.set(n.get() - layout.size() as isize + new_size as isize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Full<Bytes>> {
    scripted::reply(status, headers, body)
}

/// An upstream generic in its request body, answering `make()` and
/// counting its sends.
fn upstream<B: Send + 'static>(
    sent: Arc<AtomicUsize>,
    make: impl Fn() -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Clone
       + Send {
    service_fn(move |_req: Request<B>| {
        sent.fetch_add(1, Ordering::Relaxed);
        let response = make();
        async move { Ok::<_, Infallible>(response) }
    })
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

fn breaker_scopes(layer: &CircuitBreakerLayer) -> usize {
    let debug = format!("{layer:?}");
    let at = debug.find("scopes: ").expect(&debug) + "scopes: ".len();
    debug[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------
// 1. A webhook sender: 40,000 distinct authorities through the whole stack.

/// Every per-scope map (quota store, breaker circuits, hedge latencies)
/// stays within its documented bound, and live memory stops growing once
/// the maps are full (16K quota scopes, 4096 circuits, 1024 latencies).
#[test]
fn forty_thousand_authorities_keep_every_map_bounded() {
    within(Duration::from_secs(240), paused, || async {
        let store = MemoryStore::new();
        let breaker = CircuitBreakerLayer::new();
        let sent = Arc::new(AtomicUsize::new(0));
        let stack = ApiErrorsLayer::new()
            .quota(QuotaLayer::with_store(store.clone()))
            .breaker(breaker.clone())
            .hedge(HedgeLayer::percentile(0.95));
        // A window with an hour to run: no scope is ever "spent".
        let client = stack.layer(upstream(sent.clone(), || {
            reply(
                200,
                &[
                    ("x-ratelimit-limit", "1000"),
                    ("x-ratelimit-remaining", "900"),
                    ("x-ratelimit-reset", "3600"),
                ],
                "{}",
            )
        }));
        const N: usize = 40_000;
        let mut marks = Vec::new();
        for i in 0..N {
            let uri = format!("http://h{i}.hooks.example/deliver");
            let response = client.clone().oneshot(get(&uri)).await;
            assert!(response.is_ok(), "{i}: {:?}", response.err());
            // (Time moves: windows age, circuits slide.)
            if i % 100 == 0 {
                tokio::time::advance(Duration::from_millis(1)).await;
            }
            if (i + 1) % 10_000 == 0 {
                marks.push(live());
            }
        }
        assert_eq!(sent.load(Ordering::Relaxed), N);
        assert!(store.len() <= 16 * 1024, "quota scopes: {}", store.len());
        let circuits = breaker_scopes(&breaker);
        assert!(circuits <= 4096, "breaker scopes: {circuits}");
        // Growth after the first 20,000 (every map full by then).
        let growth = marks[3] - marks[1];
        assert!(
            growth < 1 << 20,
            "live memory grew {growth} bytes: {marks:?}"
        );
    });
}

// ---------------------------------------------------------------------------
// 2. Failure storms: 10,000 concurrent failing calls.

/// Sends `n` concurrent calls through the recommended stack (quota and
/// breaker too) into `make`'s answers; returns the sends, and how many
/// calls ended in an error and in a success.
async fn storm_once<F>(make: F, n: usize) -> (usize, usize, usize)
where
    F: Fn() -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
{
    let sent = Arc::new(AtomicUsize::new(0));
    let stack = ApiErrorsLayer::new()
        .retry(RetryPolicy::default())
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new());
    let client = stack.layer(upstream(sent.clone(), make));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = client.clone();
        tasks.spawn(async move { client.oneshot(get("http://api.example/v1/x")).await });
    }
    let (mut errors, mut oks) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("no task panics") {
            Ok(_) => oks += 1,
            Err(_) => errors += 1,
        }
    }
    (sent.load(Ordering::Relaxed), errors, oks)
}

/// Two storms in a row: what the second leaves allocated beyond what the
/// first left (the runtime's own one-time growth excluded) is ~nothing.
async fn storm<F>(make: F, n: usize) -> (usize, usize, usize, isize)
where
    F: Fn() -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
{
    let first = storm_once(make.clone(), n).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let before = live();
    let second = storm_once(make, n).await;
    let leaked = live() - before;
    assert_eq!(first, second, "the two storms went alike");
    (second.0, second.1, second.2, leaked)
}

/// 10,000 concurrent calls into a 503 that says "come back in 30 s": each
/// ends exactly once, in a bounded time, with a typed error; no task is
/// left alive, and nothing stays allocated per call.
#[test]
fn a_storm_of_503_with_retry_after_ends_every_call_once() {
    within(Duration::from_secs(120), paused, || async {
        let (sent, errors, oks, leaked) = storm(
            || reply(503, &[("retry-after", "30")], r#"{"error":"down"}"#),
            10_000,
        )
        .await;
        eprintln!("503 storm: sent {sent}, errors {errors}, oks {oks}, leaked {leaked}");
        assert_eq!((errors, oks), (10_000, 0));
        // The quota holds the scope for 30 s after the first 503: far fewer
        // sends than calls.
        assert!(sent < 10_000, "sent {sent}");
        let alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        assert_eq!(alive, 0, "tasks left alive");
        assert!(leaked < 64 << 10, "{leaked} bytes left after the storm");
    });
}

/// The same with a 429 whose window resets a day away: every call fails
/// fast (RateLimited, unsent after the first) and nothing is left behind.
#[test]
fn a_storm_of_429_with_a_far_reset_fails_fast_and_sends_little() {
    within(Duration::from_secs(120), paused, || async {
        let started = tokio::time::Instant::now();
        let (sent, errors, oks, leaked) = storm(
            || {
                reply(
                    429,
                    &[
                        ("x-ratelimit-limit", "100"),
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "86400"),
                    ],
                    r#"{"error":"slow down"}"#,
                )
            },
            10_000,
        )
        .await;
        eprintln!("429 storm: sent {sent}, errors {errors}, oks {oks}, leaked {leaked}");
        assert_eq!((errors, oks), (10_000, 0));
        assert!(sent <= 16, "sent {sent} into a spent day");
        assert!(
            started.elapsed() < Duration::from_secs(3600 + 150),
            "{:?}",
            started.elapsed()
        );
        assert!(leaked < 64 << 10, "{leaked} bytes left after the storm");
    });
}

// ---------------------------------------------------------------------------
// 3. Hostile headers.
/// A 64 KiB `Retry-After` of digits saturates; one of garbage is ignored;
/// neither panics nor waits past MAX_HINT.
#[test]
fn a_64_kib_retry_after_saturates_or_is_ignored() {
    let now = SystemTime::now();
    for value in [
        "9".repeat(64 << 10),
        "-".repeat(64 << 10),
        "1e308".to_owned(),
        "NaN".to_owned(),
    ] {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_str(&value).unwrap());
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&value).unwrap());
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let hints = ResponseHints::read(&h, now);
        if let Some(hint) = hints.retry_hint() {
            assert!(hint.delay() <= tower_api_errors::hints::MAX_HINT);
        }
        let error = parse_error(StatusCode::SERVICE_UNAVAILABLE, &h, b"{}");
        assert!(error
            .retry_after()
            .is_none_or(|d| d <= tower_api_errors::hints::MAX_HINT));
    }
}

// ---------------------------------------------------------------------------
// 4. Hostile bodies.
/// A `grpc-status-details-bin` of 1 MiB: no panic, at most 100 field errors kept.
#[cfg(feature = "grpc")]
#[test]
fn a_mib_of_grpc_details_is_bounded() {
    use base64::Engine;
    let build = |n: usize| {
        // A google.rpc.Status whose details repeat a BadRequest field violation.
        let violation = {
            let mut v = vec![0x0a, 3, b'f', b'l', b'd', 0x12, 3, b'b', b'a', b'd'];
            let mut out = vec![0x0a, v.len() as u8];
            out.append(&mut v);
            out
        };
        let bad_request: Vec<u8> = violation.repeat(n);
        let type_url = b"type.googleapis.com/google.rpc.BadRequest";
        let mut any = vec![0x0a, type_url.len() as u8];
        any.extend_from_slice(type_url);
        any.push(0x12);
        let mut len = bad_request.len();
        while len >= 0x80 {
            any.push((len as u8) | 0x80);
            len >>= 7;
        }
        any.push(len as u8);
        any.extend_from_slice(&bad_request);
        let mut status = vec![0x08, 3, 0x12, 1, b'm', 0x1a];
        let mut len = any.len();
        while len >= 0x80 {
            status.push((len as u8) | 0x80);
            len >>= 7;
        }
        status.push(len as u8);
        status.extend_from_slice(&any);
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&status);
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/grpc"));
        h.insert("grpc-status", HeaderValue::from_static("3"));
        h.insert("grpc-message", HeaderValue::from_static("bad"));
        h.insert(
            "grpc-status-details-bin",
            HeaderValue::from_str(&encoded).unwrap(),
        );
        (h, Vec::new())
    };
    let (h, b) = build(90_000); // ~1 MiB of protobuf
    let error = parse_error(StatusCode::OK, &h, &b);
    assert!(
        error.field_errors().len() <= 100,
        "{}",
        error.field_errors().len()
    );
}

// ---------------------------------------------------------------------------
// 5. MemoryStore and the quota layer with hostile values.

#[test]
fn memory_store_with_hostile_numbers_never_panics_or_overflows() {
    within(Duration::from_secs(30), paused, || async {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("hostile.example", None);
        let windows = [
            WindowReport::new(
                Some("a"),
                Some(u64::MAX),
                Some(u64::MAX),
                Some(Duration::MAX),
                Some(Duration::MAX),
            ),
            WindowReport::new(
                Some("b"),
                Some(0),
                Some(u64::MAX),
                Some(Duration::ZERO),
                None,
            ),
            WindowReport::new(None, Some(u64::MAX), Some(0), Some(Duration::MAX), None),
            WindowReport::new(Some("requests"), None, Some(0), None, Some(Duration::ZERO)),
        ];
        let observation = windows
            .iter()
            .fold(Observation::new(), |o, w| o.with_window(*w))
            .with_cooldown(Duration::MAX)
            .rate_limited();
        for cost in [0, 1, u64::MAX] {
            let grant = store.acquire(scope, cost, Duration::MAX).await;
            if let Grant::Go { permit, .. } = grant {
                store.settle(permit, &observation).await;
            } else {
                store
                    .settle(Permit::new(scope, cost, false, 0), &observation)
                    .await;
            }
            let again = store.acquire(scope, cost, Duration::MAX).await;
            if let Grant::Go { permit, .. } = again {
                store.release(permit);
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    });
}

/// The quota layer with hostile reset values: no panic, and a request is
/// never held longer than `max_wait`.
#[test]
fn quota_layer_with_hostile_resets_never_waits_past_max_wait() {
    within(Duration::from_secs(60), paused, || async {
        for reset in [
            "18446744073709551615",
            "-1",
            "1e308",
            "NaN",
            "99999999999999999999999999999",
            "0",
            "1.5",
            "-9223372036854775808",
        ] {
            let reset = reset.to_owned();
            let sent = Arc::new(AtomicUsize::new(0));
            let r = reset.clone();
            let client = QuotaLayer::new()
                .max_wait(Duration::from_secs(5))
                .layer(upstream(sent.clone(), move || {
                    reply(
                        429,
                        &[
                            ("x-ratelimit-limit", "10"),
                            ("x-ratelimit-remaining", "0"),
                            ("x-ratelimit-reset", &r),
                            ("retry-after", &r),
                            ("ratelimit", &format!("\"d\";r=0;t={r}")),
                            ("ratelimit-policy", &format!("\"d\";q=10;w={r}")),
                        ],
                        &format!("{{\"retry_after\": {r}}}"),
                    )
                }));
            for _ in 0..3 {
                let started = tokio::time::Instant::now();
                let _ = client
                    .clone()
                    .oneshot(Request::get("http://q.example/").body(()).unwrap())
                    .await;
                assert!(
                    started.elapsed() <= Duration::from_secs(5) + Duration::from_millis(50),
                    "{reset}: held {:?}",
                    started.elapsed()
                );
            }
        }
    });
}
