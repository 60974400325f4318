//! `RedisStore` against a real `redis-server` (started here, on a free
//! loopback port, without persistence), a real hyper vendor on loopback,
//! and several client **processes**: this test binary re-executed in a
//! child mode (`QUOTA_FLEET_CHILD`).
//!
//! Needs `redis-server` on the PATH (see `support/redis_server.rs`).
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use redis_server::{free_port, RedisServer};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{client, response, serve, ServerBody};
use tokio::time::Instant;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::quota::{QuotaLayer, RedisStore, ScopeKey};
use tower_api_errors::{RetryLayer, RetryPolicy};

/// A vendor that enforces `limit` requests per fixed `window` and says so
/// in `X-RateLimit-*` headers (reset as delta seconds, rounded up); a spent
/// window answers 429 with `Retry-After`.
#[derive(Clone)]
struct Vendor {
    state: Arc<Mutex<(u64, u64)>>,
    started: std::time::Instant,
    limit: u64,
    window: Duration,
    received: Arc<AtomicU64>,
    throttled: Arc<AtomicU64>,
}

impl Vendor {
    fn new(limit: u64, window: Duration) -> Vendor {
        Vendor {
            state: Arc::new(Mutex::new((0, 0))),
            started: std::time::Instant::now(),
            limit,
            window,
            received: Arc::default(),
            throttled: Arc::default(),
        }
    }

    fn answer(&self) -> Response<ServerBody> {
        self.received.fetch_add(1, Ordering::SeqCst);
        let elapsed = self.started.elapsed();
        let index = (elapsed.as_nanos() / self.window.as_nanos()) as u64;
        let reset = self.window * (index as u32 + 1) - elapsed;
        let reset_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
        let mut state = self.state.lock().unwrap();
        if state.0 != index {
            *state = (index, 0);
        }
        let (limit, reset) = (self.limit.to_string(), reset_secs.to_string());
        if state.1 >= self.limit {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            return response(
                429,
                &[
                    ("x-ratelimit-limit", &limit),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                    ("retry-after", &reset),
                ],
                "spent",
            );
        }
        state.1 += 1;
        let remaining = (self.limit - state.1).to_string();
        response(
            200,
            &[
                ("x-ratelimit-limit", &limit),
                ("x-ratelimit-remaining", &remaining),
                ("x-ratelimit-reset", &reset),
            ],
            "ok",
        )
    }

    async fn serve(&self) -> SocketAddr {
        let vendor = self.clone();
        serve(move |_request| {
            let answer = vendor.answer();
            async move { answer }
        })
        .await
    }
}

/// Sends `workers` x `each` requests through retry + quota + RedisStore;
/// returns (successes, errors).
async fn run_client(
    redis: &str,
    vendor: SocketAddr,
    workers: usize,
    each: usize,
) -> (u64, u64, u64) {
    // A loaded CI machine can take longer than the default 50 ms; this test
    // is about sharing, the fallback has its own tests.
    let store = RedisStore::open(redis)
        .unwrap()
        .prefix("test:fleet:")
        .timeout(Duration::from_secs(1));
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::default().no_budget().max_attempts(5),
        ))
        .layer(QuotaLayer::with_store(store.clone()))
        .service(client::<tower_api_errors::retry::ReplayBody<Full<Bytes>>>());
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (service, ok, failed) = (service.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                for _ in 0..each {
                    let request = Request::get(format!("http://{vendor}/items"))
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    match service.clone().oneshot(request).await {
                        Ok(response) if response.status() == 200 => {
                            ok.fetch_add(1, Ordering::SeqCst)
                        }
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst),
        store.local_decisions(),
    )
}

/// The child mode: a no-op test unless the parent set `QUOTA_FLEET_CHILD`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_child() {
    let Ok(spec) = std::env::var("QUOTA_FLEET_CHILD") else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let [redis, vendor, workers, each] = parts.as_slice() else {
        panic!("bad child spec {spec}")
    };
    let (ok, failed, local) = run_client(
        redis,
        vendor.parse().unwrap(),
        workers.parse().unwrap(),
        each.parse().unwrap(),
    )
    .await;
    println!("FLEET-RESULT {ok} {failed} {local}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_learned_window() {
    let redis = RedisServer::start(free_port());
    // 20 per 2 s; 3 processes x 4 workers x 5 requests = 60 = three windows.
    let vendor = Vendor::new(20, Duration::from_secs(2));
    let addr = vendor.serve().await;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            tokio::process::Command::new(&exe)
                .args(["--exact", "fleet_child", "--nocapture", "--test-threads=1"])
                .env("QUOTA_FLEET_CHILD", format!("{} {addr} 4 5", redis.url()))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut ok, mut failed, mut local) = (0, 0, 0);
    for child in children {
        let output = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (_, line) = stdout
            .split_once("FLEET-RESULT ")
            .unwrap_or_else(|| panic!("child said: {stdout}"));
        let numbers: Vec<u64> = line
            .split_whitespace()
            .take(3)
            .map(|n| n.parse().unwrap())
            .collect();
        ok += numbers[0];
        failed += numbers[1];
        local += numbers[2];
    }
    let throttled = vendor.throttled.load(Ordering::SeqCst);
    assert_eq!((ok, failed), (60, 0), "every request succeeded, once");
    // The first wave (12 requests) fits the first window; after that the
    // shared window keeps the fleet under the limit.
    assert_eq!(local, 0, "every decision was shared");
    assert!(throttled <= 2, "the vendor answered {throttled} 429s");
    assert_eq!(vendor.received.load(Ordering::SeqCst), 60 + throttled);
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dying_mid_run_falls_back_to_local_and_sharing_resumes() {
    let port = free_port();
    let mut redis = RedisServer::start(port);
    let vendor = Vendor::new(10_000, Duration::from_secs(60));
    let addr = vendor.serve().await;
    let store = RedisStore::open(&redis.url()).unwrap().prefix("test:kill:");
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    let key = store.key(ScopeKey::new(&addr.to_string(), None));
    let mut sent = 0;
    for _ in 0..10 {
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
        sent += 1;
    }
    assert!(!store.is_local());

    redis.kill();
    // Requests are admitted from the local lease without asking Redis: the
    // failure shows at the lease's next renewal (ahead of running out).
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.is_local() {
        let started = Instant::now();
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
        slowest = slowest.max(started.elapsed());
        sent += 1;
        assert!(Instant::now() < deadline, "the failure was never noticed");
    }
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
        slowest = slowest.max(started.elapsed());
        sent += 1;
    }
    assert!(store.is_local(), "decisions went local");
    assert!(
        slowest < Duration::from_secs(5),
        "no request hung on the dead Redis"
    );
    assert_eq!(
        vendor.received.load(Ordering::SeqCst),
        sent,
        "none lost, none sent twice"
    );

    let redis = RedisServer::start(port);
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
        sent += 1;
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        if !store.is_local() && exists {
            break;
        }
        assert!(Instant::now() < deadline, "sharing did not resume");
        tokio::task::yield_now().await;
    }
    assert_eq!(vendor.received.load(Ordering::SeqCst), sent);
    // The key holds digests and numbers only.
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(fields.iter().any(|f| f == "r1"), "{fields:?}");
    // One hash slot per scope: the digest is the key's hash tag.
    assert_eq!(
        key,
        format!("test:kill:{{{}}}", ScopeKey::new(&addr.to_string(), None)),
        "{key}"
    );
    assert_eq!(key.len(), "test:kill:".len() + 16 + 2, "{key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_redis_is_a_local_decision() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(10_000, Duration::from_secs(60));
    let addr = vendor.serve().await;
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("test:garbage:");
    let key = store.key(ScopeKey::new(&addr.to_string(), None));
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Not a hash: every script call on it fails with WRONGTYPE.
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("garbage")
        .query_async(&mut connection)
        .await
        .unwrap();
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    for _ in 0..3 {
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
    }
    assert!(store.is_local());
    assert_eq!(vendor.received.load(Ordering::SeqCst), 3);
}

/// Fair shares: two processes (two stores, two members) on one learned
/// window of 10: while both are asking, neither takes more than 5; the one
/// past its share is told to ask again shortly (not to wait for the
/// reset), and the window is still used whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_a_fleet_get_fair_shares_of_a_window() {
    use tower_api_errors::quota::{Grant, Observation, QuotaStore, WindowReport};
    let redis = RedisServer::start(free_port());
    let open = || {
        RedisStore::open(&redis.url())
            .unwrap()
            .prefix("test:fair:")
            .timeout(Duration::from_secs(2))
    };
    let (a, b) = (open(), open());
    let scope = ScopeKey::new("api.test", None);
    let max = Duration::from_secs(120);
    // The server announced 10 a minute.
    let window = WindowReport::new(
        None,
        Some(10),
        Some(10),
        Some(Duration::from_secs(60)),
        None,
    );
    // A learned it from an answer it had before the fleet knew the scope
    // (no cold start: the window is leased whole at once).
    let unheld = tower_api_errors::quota::Permit::new(scope, 1, false, 0);
    a.settle(unheld, &Observation::new().with_window(window))
        .await;
    // B asks once: two members are active.
    let Grant::Go { permit, .. } = b.acquire(scope, 1, max).await else {
        panic!("B's first")
    };
    b.release(permit);
    let granted = |store: &RedisStore| {
        let store = store.clone();
        async move {
            let mut taken = Vec::new();
            loop {
                match store.acquire(scope, 1, max).await {
                    Grant::Go { permit, .. } => taken.push(permit),
                    Grant::Wait(wait) => return (taken, wait),
                    other => panic!("{other:?}"),
                }
            }
        }
    };
    let (a_taken, a_wait) = granted(&a).await;
    assert_eq!(a_taken.len(), 5, "A stops at its share");
    // (Within a second, and the spread that keeps members' renewals apart.)
    assert!(
        a_wait <= Duration::from_millis(1_050),
        "asks again soon: {a_wait:?}"
    );
    let (b_taken, b_wait) = granted(&b).await;
    assert_eq!(b_taken.len(), 5, "B's share, the rest of the window");
    assert!(
        b_wait > Duration::from_secs(50),
        "the window is spent: wait for its reset ({b_wait:?})"
    );
    assert!(!a.is_local() && !b.is_local());
}

/// Issue 24's discipline, for the store: while Redis is unreachable, one
/// attempt at a time across every scope and clone, spaced by a shared
/// backoff, never one call per request; each process falls back to a
/// cautious share of what it learned (the limit over the last known
/// members), and every request gets an answer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_tried_once_per_backoff_step_not_per_request() {
    use tower_api_errors::quota::{Grant, Observation, QuotaStore, WindowReport};
    // A port nothing listens on.
    let store = RedisStore::open(&format!("redis://127.0.0.1:{}/", free_port()))
        .unwrap()
        .prefix("test:down:");
    let minute = Some(Duration::from_secs(60));
    let scopes: Vec<ScopeKey> = (0..4)
        .map(|i| ScopeKey::new(&format!("api{i}.test"), None))
        .collect();
    for scope in &scopes {
        let window = WindowReport::new(None, Some(1_000), Some(1_000), minute, None);
        let permit = match store.acquire(*scope, 1, Duration::ZERO).await {
            Grant::Go { permit, .. } => permit,
            other => panic!("nothing learned: {other:?}"),
        };
        store
            .settle(permit, &Observation::new().with_window(window))
            .await;
    }
    assert!(store.is_local(), "the failure was noticed");
    let started = Instant::now();
    let (mut asked, mut granted) = (0u64, 0u64);
    while started.elapsed() < Duration::from_millis(1_500) {
        for scope in &scopes {
            let clone = store.clone();
            let call = Instant::now();
            match clone.acquire(*scope, 1, Duration::ZERO).await {
                Grant::Go { permit, .. } => {
                    granted += 1;
                    clone.settle(permit, &Observation::new()).await;
                }
                Grant::Wait(_) => {}
                other => panic!("{other:?}"),
            }
            assert!(
                call.elapsed() < Duration::from_millis(500),
                "answered at once"
            );
            asked += 1;
        }
        tokio::task::yield_now().await;
    }
    assert!(asked > 1_000, "{asked} acquisitions");
    // 4 first lessons, then one attempt per backoff step (250 ms doubling).
    assert!(
        store.commands() <= 4 + 6,
        "{} calls for {asked} acquisitions",
        store.commands()
    );
    // The cautious share: one member known, the whole limit, once per window.
    assert_eq!(granted, 4 * 1_000, "each scope's share, once");
}

/// A cold fleet sends one probe and holds the rest: while A's probe is out,
/// none of B's requests goes, not even those that all ask at once before
/// the ledger has answered B at all (B has not heard from it yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_has_not_heard_from_the_ledger_admits_nothing() {
    use tower_api_errors::quota::{Grant, QuotaStore};
    let redis = RedisServer::start(free_port());
    let open = || {
        RedisStore::open(&redis.url())
            .unwrap()
            .prefix("test:cold:")
            .timeout(Duration::from_secs(2))
    };
    let (a, b) = (open(), open());
    let scope = ScopeKey::new("api.test", None);
    let max = Duration::from_secs(120);
    let Grant::Go { permit: probe, .. } = a.acquire(scope, 1, max).await else {
        panic!("the first member of a cold fleet sends the probe")
    };
    assert!(probe.is_held(), "the probe is counted");
    // B's workers all ask before any of them is answered.
    let asks: Vec<_> = (0..8).map(|_| b.acquire(scope, 1, max)).collect();
    for ask in asks {
        let grant = ask.await;
        assert!(matches!(grant, Grant::Wait(_)), "held: {grant:?}");
    }
    let grant = a.acquire(scope, 1, max).await;
    assert!(matches!(grant, Grant::Wait(_)), "one probe: {grant:?}");
    assert!(!a.is_local() && !b.is_local());
    // One question for B's eight requests (after a read of Redis's clock:
    // nothing is written on B's own).
    assert_eq!(b.commands(), 2);
}

/// A lease's units are its process's: the last tenth of a window (where
/// `MemoryStore` paces) goes without a pacing delay, the ledger keeping
/// the fleet within the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_goes_unpaced() {
    use tower_api_errors::quota::{Grant, Observation, QuotaStore, WindowReport};
    let redis = RedisServer::start(free_port());
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("test:unpaced:")
        .timeout(Duration::from_secs(2));
    let scope = ScopeKey::new("api.test", None);
    let max = Duration::from_secs(120);
    // 3 of 100 left, the reset in 60 s: below the pacing mark.
    let reset = Some(Duration::from_secs(60));
    let window = WindowReport::new(None, Some(100), Some(3), reset, None);
    let unheld = tower_api_errors::quota::Permit::new(scope, 1, false, 0);
    store
        .settle(unheld, &Observation::new().with_window(window))
        .await;
    for n in 0..3 {
        let grant = store.acquire(scope, 1, max).await;
        let Grant::Go { delay, .. } = grant else {
            panic!("the lease has units: {n}: {grant:?}")
        };
        assert_eq!(delay, Duration::ZERO, "no pacing delay");
    }
    assert!(!store.is_local());
}
