//! Memory and work under failure storms and hostile scale: every
//! per-scope map stays within its bound (a webhook sender's 40,000
//! authorities), every call of a 10,000-call storm ends once with nothing
//! left behind, and hostile headers, bodies and reset values cost linear
//! work and never a panic, an overflow or a wait past the documented caps.
//! Past their bounds too: cooldowns, policy names, open circuits and
//! openings; hedges and refreshes under storms stay within their budgets,
//! server-chosen values never become metric attributes, and a client
//! dropped mid-refresh or mid-renewal (Redis) leaves nothing running.
#![allow(clippy::type_complexity)]

#[cfg(feature = "opentelemetry")]
#[path = "support/exported.rs"]
mod exported;
#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;
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
use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::breaker::{CircuitBreakerLayer, ScopeRequest};
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::hints::ResponseHints;
use tower_api_errors::quota::{
    Grant, MemoryStore, Observation, Permit, QuotaLayer, QuotaStore, ScopeKey, StoreFuture,
    WindowReport,
};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{parse_error, ApiErrorsLayer, Error, RetryPolicy};

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

/// A body of `n` empty data frames, then one byte.
struct EmptyFrames(usize);

impl http_body::Body for EmptyFrames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let chunk = match self.0 {
            0 => return std::task::Poll::Ready(None),
            1 => Bytes::from_static(b"x"),
            _ => Bytes::new(),
        };
        self.0 -= 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}

/// `ReplayBody` "keeps each chunk it streams ..., up to a cap"
/// (src/replay.rs), README "Bounded memory per request": a byte sent as
/// 100,000 empty data frames (an h2 peer's zero-length DATA frames,
/// forwarded) kept every one, ~4 MB for one byte under a 1 KiB cap, since
/// the cap counts bytes. Empty frames carry nothing and are not kept: the
/// first attempt streams them all, a replay sends the byte alone.
#[test]
fn empty_frames_are_not_kept_for_replay() {
    use http_body_util::BodyExt;
    paused().block_on(async {
        let before = live();
        let mut body = ReplayBody::new(EmptyFrames(100_000), 1024);
        let mut copy = body.replay();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            frame.unwrap();
            frames += 1;
        }
        assert_eq!(frames, 100_000, "the first attempt streams every frame");
        let kept = live() - before;
        assert!(kept < 16 * 1024, "kept {kept} bytes for a 1-byte body");
        let mut replayed = Vec::new();
        while let Some(frame) = copy.frame().await {
            replayed.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(replayed, [Bytes::from_static(b"x")]);
    });
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

/// A store that answers late (a Redis that does not answer, a third
/// party's store across the network): `QuotaLayer::max_wait` ("the longest
/// a request is held for the quota") bounds the wait for its answer too. The
/// request is refused at `max_wait`, typed and not sent, as a wait that does
/// not fit; it was held the store's 10 s, then sent.
#[test]
fn a_store_slower_than_max_wait_holds_no_request_past_it() {
    #[derive(Debug)]
    struct Slow(MemoryStore);
    impl QuotaStore for Slow {
        fn acquire(&self, scope: ScopeKey, cost: u64, max: Duration) -> StoreFuture<Grant> {
            let grant = self.0.acquire(scope, cost, max);
            StoreFuture::boxed(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                grant.await
            })
        }
        fn settle(&self, permit: Permit, observation: &Observation) -> StoreFuture<()> {
            self.0.settle(permit, observation)
        }
        fn release(&self, permit: Permit) {
            self.0.release(permit)
        }
    }
    within(Duration::from_secs(30), paused, || async {
        let sent = Arc::new(AtomicUsize::new(0));
        let client = QuotaLayer::with_store(Slow(MemoryStore::new()))
            .max_wait(Duration::from_millis(200))
            .layer(upstream(sent.clone(), || reply(200, &[], "")));
        let started = tokio::time::Instant::now();
        let answer = client.oneshot(get("http://slow.example/")).await;
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        let Err(Error::RateLimited(refused)) = answer else {
            panic!("not refused: {answer:?}");
        };
        assert_eq!(refused.retry_after(), Duration::from_millis(200));
        assert_eq!(sent.load(Ordering::Relaxed), 0, "refused, not sent");
        // With no bound at all ("as long as it takes"), the store's answer
        // is awaited, and no end past the clock's range is reckoned.
        let client = QuotaLayer::with_store(Slow(MemoryStore::new()))
            .max_wait(Duration::MAX)
            .layer(upstream(sent.clone(), || reply(200, &[], "")));
        let answer = client.oneshot(get("http://slow.example/")).await;
        assert_eq!(answer.unwrap().status(), 200);
        assert_eq!(sent.load(Ordering::Relaxed), 1);
    });
}

// ---------------------------------------------------------------------------
// 6. Per-scope state past its bound: cooldowns, policy names, open
// circuits, openings.

/// Live bytes after every `every` of `n` steps, each `step(i)`.
async fn marked<F, Fut>(n: usize, every: usize, mut step: F) -> Vec<isize>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut marks = Vec::new();
    for i in 0..n {
        step(i).await;
        if i % 100 == 0 {
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        if (i + 1) % every == 0 {
            marks.push(live());
        }
    }
    marks
}

/// Live memory grew by less than `bound` bytes from `marks[from]` to the
/// last mark.
fn assert_flat(marks: &[isize], from: usize, bound: isize) {
    let growth = marks[marks.len() - 1] - marks[from];
    assert!(growth < bound, "live memory grew {growth} bytes: {marks:?}");
}

/// `MemoryStore` is "Bounded: at most 16 384 scopes by default
/// (`max_scopes`); when full, scopes whose windows have all reset are
/// dropped first, then any" (src/quota/store/memory.rs:36): so too when
/// every scope holds a cooldown (a 503 with `Retry-After`) or counts an
/// inferred window (a 429 that announced none). 10,000 hosts into a bound
/// of 1024: the store stays within it and live memory stops growing.
#[test]
fn hosts_cooling_down_or_inferring_stay_within_max_scopes() {
    within(Duration::from_secs(60), paused, || async {
        let store = MemoryStore::new().max_scopes(1024);
        let answers = Arc::new(AtomicUsize::new(0));
        let client =
            QuotaLayer::with_store(store.clone()).layer(upstream(Arc::default(), move || {
                if answers.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                    reply(503, &[("retry-after", "30")], "{}")
                } else {
                    reply(429, &[("retry-after", "7")], "{}")
                }
            }));
        let marks = marked(10_000, 2_000, |i| {
            let client = client.clone();
            async move {
                let uri = format!("http://h{i}.example/x");
                let _ = client.oneshot(get(&uri)).await;
            }
        })
        .await;
        assert!(store.len() <= 1024, "quota scopes: {}", store.len());
        assert_flat(&marks, 1, 128 << 10);
    });
}

/// `MAX_WINDOWS`: "no response can grow a scope" (src/quota/store/mod.rs:42):
/// one scope whose every answer names a new `RateLimit-Policy` (and a new
/// request id) stays one scope of bounded size over 10,000 answers.
#[test]
fn a_new_policy_name_on_every_answer_does_not_grow_the_scope() {
    within(Duration::from_secs(60), paused, || async {
        let store = MemoryStore::new();
        let answers = Arc::new(AtomicUsize::new(0));
        let client =
            QuotaLayer::with_store(store.clone()).layer(upstream(Arc::default(), move || {
                let n = answers.fetch_add(1, Ordering::Relaxed);
                let policy = format!("\"p{n}\";q=100000;w={}", 60 + n % 1000);
                let limit = format!("\"p{n}\";r=99999;t=30");
                let id = format!("req-{n}");
                let headers = [
                    ("ratelimit-policy", policy.as_str()),
                    ("ratelimit", &limit),
                    ("x-request-id", &id),
                ];
                reply(200, &headers, "{}")
            }));
        let marks = marked(10_000, 2_000, |_| {
            let client = client.clone();
            async move {
                client.oneshot(get("http://api.example/v1")).await.unwrap();
            }
        })
        .await;
        assert_eq!(store.len(), 1);
        assert_flat(&marks, 1, 32 << 10);
    });
}

/// The breaker's "Scopes are bounded (4096): idle closed circuits make
/// room, and a scope that finds no room goes untracked rather than
/// refused" (src/breaker/mod.rs:66): 10,000 partition values whose every
/// call fails (each circuit opens, none is idle and closed) keep the
/// circuits within 4096 and live memory from growing.
#[test]
fn ten_thousand_failing_partitions_keep_the_circuits_within_their_bound() {
    within(Duration::from_secs(60), paused, || async {
        let tenant = |r: &ScopeRequest<'_>| {
            r.headers()
                .get("x-tenant")
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let breaker = CircuitBreakerLayer::new()
            .minimum_calls(1)
            .partition(tenant);
        let client = breaker.layer(upstream(Arc::default(), || {
            reply(503, &[("retry-after", "3600")], "{}")
        }));
        let marks = marked(10_000, 2_000, |i| {
            let client = client.clone();
            async move {
                let mut request = get("http://api.example/v1");
                let value = HeaderValue::from_str(&i.to_string()).unwrap();
                request.headers_mut().insert("x-tenant", value);
                let _ = client.oneshot(request).await;
            }
        })
        .await;
        let circuits = breaker_scopes(&breaker);
        assert!(circuits <= 4096, "breaker scopes: {circuits}");
        assert_flat(&marks, 2, 128 << 10);
    });
}

/// `MemoryStore` as the breakers' `OpeningStore`: "bounded like the scopes
/// (`max_scopes`). A new opening is always kept, the server's word"
/// (src/quota/store/memory.rs:318). End to end: five clients' breakers
/// share one store bounded at 1024 and publish 2,000 openings of an hour;
/// a sixth breaker on that store refuses the newest one's host unsent.
#[test]
fn past_the_bound_the_newest_opening_is_still_shared() {
    within(Duration::from_secs(60), paused, || async {
        let store = MemoryStore::new().max_scopes(1024);
        let sent = Arc::new(AtomicUsize::new(0));
        let make = || {
            CircuitBreakerLayer::new()
                .minimum_calls(1)
                .shared(store.clone())
                .layer(upstream(sent.clone(), || {
                    reply(503, &[("retry-after", "3600")], "{}")
                }))
        };
        for c in 0..5 {
            let client = make();
            for i in 0..400 {
                let uri = format!("http://c{c}-h{i}.example/x");
                let _ = client.clone().oneshot(get(&uri)).await;
            }
        }
        assert_eq!(sent.load(Ordering::Relaxed), 2_000);
        let refused = make().oneshot(get("http://c4-h399.example/x")).await;
        assert!(
            matches!(refused, Err(Error::CircuitOpen(_))),
            "the newest opening is not shared: {refused:?}"
        );
        assert_eq!(sent.load(Ordering::Relaxed), 2_000, "sent into the opening");
    });
}

// ---------------------------------------------------------------------------
// 7. Hedges under a storm of slow calls.

/// An upstream answering 200 after a second, counting its sends.
fn slow<B: Send + 'static>(
    sent: Arc<AtomicUsize>,
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Clone
       + Send {
    service_fn(move |_req: Request<B>| {
        sent.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(reply(200, &[], ""))
        }
    })
}

/// 1,000 concurrent calls of `request()` through `client`; every one
/// succeeds.
async fn thousand_calls<S, B>(client: S, request: fn() -> Request<B>)
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: std::fmt::Debug + Send + 'static,
    B: Send + 'static,
{
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        calls.spawn(client.clone().oneshot(request()));
    }
    while let Some(call) = calls.join_next().await {
        call.unwrap().unwrap();
    }
}

/// Hedges "draw on a `RetryBudget` ...: 10 % of recent calls plus 1 hedge
/// a second by default ... in `ApiErrorsLayer` they do [share the retry
/// policy's]" (src/hedge/mod.rs:16): 1,000 slow calls at once send at
/// most 100 + 10 hedges alone, and 200 + 10 (the retry budget's 20 %) in
/// the stack.
#[test]
fn a_storm_of_slow_calls_hedges_within_the_budget() {
    within(Duration::from_secs(60), paused, || async {
        let sent = Arc::new(AtomicUsize::new(0));
        let alone = HedgeLayer::fixed(Duration::from_millis(10)).layer(slow(sent.clone()));
        thousand_calls(alone, || {
            let body = ReplayBody::new(Full::new(Bytes::new()), 1024);
            Request::get("http://api.example/").body(body).unwrap()
        })
        .await;
        let hedges = sent.swap(0, Ordering::Relaxed) - 1_000;
        assert!((1..=110).contains(&hedges), "alone: {hedges} hedges");
        let stack = ApiErrorsLayer::new()
            .hedge(HedgeLayer::fixed(Duration::from_millis(10)))
            .layer(slow(sent.clone()));
        thousand_calls(stack, || get("http://api.example/")).await;
        let hedges = sent.load(Ordering::Relaxed) - 1_000;
        assert!((1..=210).contains(&hedges), "in the stack: {hedges} hedges");
    });
}

// ---------------------------------------------------------------------------
// 8. Auth: a storm at the refresh point, and a client dropped mid-refresh.

/// A token source counting its calls: each credential lasts 100 s and
/// takes 200 ms to come; when `hang`, the first comes at once (without an
/// expiry) and every refresh hangs for ever.
struct Source {
    calls: AtomicUsize,
    hang: bool,
}

impl Source {
    fn new(hang: bool) -> Arc<Source> {
        Arc::new(Source {
            calls: AtomicUsize::new(0),
            hang,
        })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn next(&self) -> TokenFuture<'_> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let credential = Credential::new(&format!("tok-{n}")).unwrap();
            Ok(credential.expires_in(Duration::from_secs(100)))
        })
    }
}

impl TokenSource for Source {
    fn current(&self) -> TokenFuture<'_> {
        if self.hang {
            self.calls.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async { Ok(Credential::new("first").unwrap()) });
        }
        self.next()
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        if self.hang {
            self.calls.fetch_add(1, Ordering::SeqCst);
            return Box::pin(std::future::pending());
        }
        self.next()
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// "Refreshed before it expires": once 4/5 of its life has passed, the
/// credential is refreshed "single-flight, in a task of its own started
/// by the first request past that point. Requests keep using the valid
/// credential meanwhile" (src/auth/source.rs:75): 1,000 concurrent calls
/// at 85 s of a 100 s credential all succeed on one refresh, and once the
/// client is dropped nothing holds the source and no task is left.
#[test]
fn a_storm_at_the_refresh_point_costs_one_refresh() {
    within(Duration::from_secs(60), paused, || async {
        let source = Source::new(false);
        let client =
            AuthLayer::new(source.clone()).layer(upstream(Arc::default(), || reply(200, &[], "")));
        client
            .clone()
            .oneshot(get("http://api.example/"))
            .await
            .unwrap();
        assert_eq!(source.calls(), 1);
        tokio::time::advance(Duration::from_secs(85)).await;
        thousand_calls(client.clone(), || get("http://api.example/")).await;
        assert_eq!(source.calls(), 2, "one refresh ahead of expiry");
        drop(client);
        // The refresh ahead may still be on its way (200 ms).
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
        assert_eq!(Arc::strong_count(&source), 1, "the source is still held");
        assert_eq!(alive_tasks(), 0, "tasks left");
    });
}

/// "Each call to the token source is bounded (10 s;
/// `AuthLayer::refresh_timeout`): past it, the call fails like any failed
/// refresh" (src/auth/mod.rs:28): a refresh that hangs, its one caller
/// and the client dropped while it runs, ends at that bound: no task is
/// left and nothing holds the source.
#[test]
fn a_client_dropped_during_a_hanging_refresh_leaves_nothing_behind() {
    within(Duration::from_secs(60), paused, || async {
        let source = Source::new(true);
        let client = AuthLayer::new(source.clone()).layer(upstream(Arc::default(), || {
            reply(
                401,
                &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                "",
            )
        }));
        let baseline = alive_tasks();
        let call = tokio::spawn(client.clone().oneshot(get("http://api.example/x")));
        // The first credential comes at once, is rejected, the refresh starts.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(source.calls(), 2, "the refresh has not started");
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
        drop(client);
        tokio::time::advance(Duration::from_secs(11)).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(alive_tasks(), baseline, "tasks left after the drop");
        assert_eq!(Arc::strong_count(&source), 1, "the source is still held");
    });
}

// ---------------------------------------------------------------------------
// 9. Metrics: what the server says never becomes an attribute.

/// "Attribute values are bounded by construction ... Vendor error codes
/// come from bodies and are unbounded, so none is recorded unless you
/// list it" (src/metrics/mod.rs:89): 1,000 failing calls, each with its
/// own error code, request id and path, through the whole stack's
/// metrics, give a few attribute sets, none carrying any of them.
#[cfg(feature = "opentelemetry")]
#[test]
fn server_chosen_values_never_grow_the_metric_attributes() {
    within(Duration::from_secs(60), paused, || async {
        let (provider, exporter) = exported::sdk();
        let metrics =
            tower_api_errors::metrics::Metrics::from_provider(&provider).error_codes(["listed"]);
        let answers = Arc::new(AtomicUsize::new(0));
        let client = ApiErrorsLayer::new()
            .retry(
                RetryPolicy::default()
                    .metrics(metrics.clone())
                    .max_attempts(2),
            )
            .quota(QuotaLayer::new().metrics(metrics.clone()))
            .breaker(CircuitBreakerLayer::new().metrics(metrics.clone()))
            .hedge(HedgeLayer::percentile(0.95).metrics(metrics))
            .layer(upstream(Arc::default(), move || {
                let n = answers.fetch_add(1, Ordering::Relaxed);
                let body = format!(r#"{{"error":{{"code":"code-{n}","message":"m{n}"}}}}"#);
                let id = format!("rid-{n}");
                let headers = [
                    ("x-request-id", id.as_str()),
                    ("content-type", "application/json"),
                ];
                reply(if n.is_multiple_of(3) { 400 } else { 404 }, &headers, &body)
            }));
        for i in 0..1_000 {
            let uri = format!("http://api.example/v1/items/{i}?q={i}");
            let _ = client.clone().oneshot(get(&uri)).await;
        }
        let mut sets = std::collections::BTreeSet::new();
        for (metric, attributes, _) in exported::points(&provider, &exporter) {
            for value in attributes.values() {
                assert!(
                    !value.contains("code-") && !value.contains("rid-") && !value.contains("/v1"),
                    "{metric}: a server's value as an attribute: {attributes:?}"
                );
            }
            sets.insert((metric, attributes));
        }
        assert!(sets.len() < 60, "{} attribute sets: {sets:?}", sets.len());
    });
}

// ---------------------------------------------------------------------------
// 10. RedisStore: a storm into one opening, and a client dropped.

#[cfg(feature = "redis")]
fn real() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `RedisStore` as an `OpeningStore`: "Openings are published at once (in
/// the background) and read from a local view, refreshed in the
/// background at most every 250 ms per scope when a request looks: no
/// request waits for Redis" (src/quota/store/redis.rs:1099): 10,000
/// concurrent calls into one failing scope cost a handful of Redis
/// commands, not one per call.
#[cfg(feature = "redis")]
#[test]
fn a_storm_into_one_opening_costs_a_few_redis_commands() {
    within(Duration::from_secs(60), real, || async {
        let redis = redis_server::RedisServer::start(redis_server::free_port());
        let store = tower_api_errors::quota::RedisStore::open(&redis.url()).unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(1));
        let held = gate.clone();
        let client = CircuitBreakerLayer::new()
            .shared(store.clone())
            .layer(service_fn(move |_req: Request<Full<Bytes>>| {
                let held = held.clone();
                async move {
                    // Every call is in flight before any answers.
                    let _permit = held.acquire().await.unwrap();
                    Ok::<_, Infallible>(reply(503, &[("retry-after", "30")], ""))
                }
            }));
        // The connection warmed by one call elsewhere.
        let _ = client.clone().oneshot(get("http://warm.example/")).await;
        gate.acquire().await.unwrap().forget();
        let before = store.commands();
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..10_000 {
            calls.spawn(client.clone().oneshot(get("http://api.example/")));
        }
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1 << 20);
        while calls.join_next().await.is_some() {}
        // Room for the background publishes and reads to be made.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let used = store.commands() - before;
        assert!(used < 50, "{used} Redis commands for a 10,000-call storm");
    });
}

/// Commands the Redis server at `url` has processed.
#[cfg(feature = "redis")]
async fn processed(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis_server::info_number(&mut connection, "stats", "total_commands_processed").await
}

/// `RedisStore`: "Leases, renewed off the request's path. When a lease
/// runs low ... a background task renews it" (src/quota/store/redis.rs:100),
/// each renewal bounded (a second for a connection or a reply): once the
/// client and every store are dropped, the renewals in flight end, no task
/// is left and Redis hears nothing more (but our own `INFO`).
#[cfg(feature = "redis")]
#[test]
fn a_dropped_redis_client_leaves_no_task_and_no_redis_call() {
    within(Duration::from_secs(60), real, || async {
        let redis = redis_server::RedisServer::start(redis_server::free_port());
        let url = redis.url();
        let store = tower_api_errors::quota::RedisStore::open(&url).unwrap();
        let answers = Arc::new(AtomicUsize::new(0));
        let client = ApiErrorsLayer::new()
            .quota(QuotaLayer::with_store(store.clone()))
            .breaker(CircuitBreakerLayer::new().shared(store.clone()))
            .layer(upstream(Arc::default(), move || {
                if answers.fetch_add(1, Ordering::Relaxed) % 5 == 4 {
                    return reply(503, &[("retry-after", "1")], "");
                }
                let window = [
                    ("x-ratelimit-limit", "100000"),
                    ("x-ratelimit-remaining", "99000"),
                    ("x-ratelimit-reset", "60"),
                ];
                reply(200, &window, "")
            }));
        drop(store);
        let baseline = alive_tasks();
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..400 {
            let uri = format!("http://h{}.example/", i % 20);
            calls.spawn(client.clone().oneshot(get(&uri)));
        }
        while calls.join_next().await.is_some() {}
        drop(client);
        // Past the bound of the renewals in flight.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let alive = alive_tasks();
        let before = processed(&url).await;
        // Longer than a lease renewal's period (4 s leases renewed at 40 % left).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = processed(&url).await;
        assert_eq!(
            after - before,
            1,
            "Redis called after the client was dropped"
        );
        assert!(alive <= baseline, "{alive} tasks alive, {baseline} before");
    });
}
