//! Promises of the fleet quota (`RedisStore`) that no other suite pins,
//! against real `redis-server`s (single node and a three-node cluster, on
//! free loopback ports, from `support/redis_server.rs`), real hyper
//! vendors on loopback and several stores on one Redis (each store is a
//! member of the fleet, as a process is): a lease's steady state costs few
//! Redis calls and is renewed on the documented schedule, cold start (one probe inside the full
//! stack, a probe's lock dies with its process, a cold request refused at
//! `max_wait`), vendors that announce nothing (the fleet's 16 in flight,
//! learning), a fleet-wide cooldown, Redis faults (SIGSTOP,
//! CLIENT KILL, a cold NOSCRIPT), Redis Cluster (fair shares, one slot per
//! scope, down at start, killed or frozen mid-run), credentials and
//! hostile keys, hostile vendor numbers, and the full stack surfacing no
//! error (issue 23.4).
//!
//! Curated from branch probe-fleet (`tests/probe_probe_fleet.rs`). The
//! five defects that probe found have their own tests in
//! `tests/quota_redis.rs`, `tests/quota_stores.rs` and
//! `tests/storms_and_bounds.rs`. Redis's clock cannot be paused: these
//! tests run in real time, as `tests/quota_redis.rs` does; they wait for
//! what they observe (an arrival, a store's command count), never a
//! guessed time, except where a span of time is the subject (a lease's
//! renewal interval, a run across windows, an in-flight bound over time).
//!
//! Needs `redis-server` and `redis-cli` on the PATH (see
//! `support/redis_server.rs`: no silent skip).
#![cfg(feature = "redis")]

#[cfg(feature = "tracing")]
#[path = "support/captured_logs.rs"]
mod captured_logs;
#[path = "support/fixed_window.rs"]
mod fixed_window;
#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use bytes::Bytes;
use fixed_window::FixedWindow;
use http::Request;
use http_body_util::Full;
use redis_server::{admin, command_stats, free_port, info_number, RedisCluster, RedisServer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{bounded, client, response, serve};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_api_errors::quota::{
    Grant, Observation, Permit, QuotaLayer, QuotaStore, RedisStore, ScopeKey, WindowReport,
};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::ApiErrorsLayer;

// ---------------------------------------------------------------------------
// Vendors and helpers.
// ---------------------------------------------------------------------------

/// A vendor enforcing `limit` per fixed `window`; announces it in
/// `X-RateLimit-*` when `announce`, else answers only 429 + Retry-After.
/// Every arrival is logged (its instant) and counted in `arrivals`, which
/// tests wait on.
#[derive(Clone)]
struct Vendor {
    window: Arc<FixedWindow>,
    arrivals: Arc<tokio::sync::watch::Sender<u64>>,
    arrived_at: Arc<Mutex<Vec<std::time::Instant>>>,
    /// Each request (but the first `free`) is held until this is open.
    gate: Arc<tokio::sync::watch::Sender<bool>>,
    free: u64,
}

impl Vendor {
    fn new(limit: u64, window: Duration, announce: bool) -> Vendor {
        Vendor {
            window: Arc::new(FixedWindow::new(limit, window, announce)),
            arrivals: Arc::new(tokio::sync::watch::channel(0).0),
            arrived_at: Arc::default(),
            gate: Arc::new(tokio::sync::watch::channel(true).0),
            free: u64::MAX,
        }
    }

    /// Holds every request after the first `free` until [`Vendor::open`].
    fn gated(mut self, free: u64) -> Vendor {
        self.gate.send_replace(false);
        self.free = free;
        self
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }

    fn received(&self) -> u64 {
        *self.arrivals.borrow()
    }

    /// Waits until `n` requests have arrived.
    async fn arrived(&self, n: u64) {
        let mut arrivals = self.arrivals.subscribe();
        bounded("arrivals at the vendor", arrivals.wait_for(|got| *got >= n))
            .await
            .unwrap();
    }

    async fn serve(&self) -> SocketAddr {
        let vendor = self.clone();
        serve(move |_request| {
            let vendor = vendor.clone();
            async move {
                vendor
                    .arrived_at
                    .lock()
                    .unwrap()
                    .push(std::time::Instant::now());
                let mut n = 0;
                vendor.arrivals.send_modify(|got| {
                    n = *got;
                    *got += 1;
                });
                if n >= vendor.free {
                    let mut gate = vendor.gate.subscribe();
                    let _ = gate.wait_for(|open| *open).await;
                }
                vendor.window.answer()
            }
        })
        .await
    }
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A member on `url` under `prefix`, with a 1 s timeout (a loaded test
/// machine's Redis is not taken for a failing one).
fn store_on(url: &str, prefix: &str) -> RedisStore {
    RedisStore::open(url)
        .unwrap()
        .prefix(prefix)
        .timeout(Duration::from_secs(1))
}

/// A member with the default timeout (50 ms), for the fault tests: a
/// frozen Redis costs a request the fallback's bound, not a second.
fn fault_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::open(url).unwrap().prefix(prefix)
}

async fn redis_pid(url: &str) -> u32 {
    let pid = info_number(&mut admin(url).await, "server", "process_id").await;
    u32::try_from(pid).unwrap()
}

/// Sends `sig` (`STOP`, `CONT`) to a redis-server this test started.
fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// From `INFO commandstats`: the calls of the script commands
/// (`evalsha`, `eval`, `script`), and `evalsha`'s failed calls.
async fn script_calls(url: &str) -> (u64, u64) {
    let mut connection = admin(url).await;
    let mut calls = 0;
    for name in ["eval", "script|load", "script", "evalsha_ro", "eval_ro"] {
        calls += command_stats(&mut connection, name).await.0;
    }
    let (evalsha, failed) = command_stats(&mut connection, "evalsha").await;
    (calls + evalsha, failed)
}

fn a_minute_of(limit: u64) -> WindowReport {
    WindowReport::new(
        None,
        Some(limit),
        Some(limit),
        Some(Duration::from_secs(60)),
        None,
    )
}

/// Teaches the ledger a window of `limit` a minute through `a`, and lets
/// `b` join (its first permit, held while the fleet joins, handed back).
async fn two_members_on(a: &RedisStore, b: &RedisStore, scope: ScopeKey, limit: u64) {
    let unheld = Permit::new(scope, 1, false, 0);
    a.settle(unheld, &Observation::new().with_window(a_minute_of(limit)))
        .await;
    let started = Instant::now();
    loop {
        match b.acquire(scope, 1, Duration::from_secs(120)).await {
            Grant::Go { permit, .. } => return b.release(permit),
            Grant::Wait(wait) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
            }
            other => panic!("a first permit: {other:?}"),
        }
    }
}

/// Takes permits of `scope` until the store says wait.
async fn take_all(store: &RedisStore, scope: ScopeKey) -> Vec<Permit> {
    let mut taken = Vec::new();
    loop {
        match store.acquire(scope, 1, Duration::from_secs(120)).await {
            Grant::Go { permit, .. } => taken.push(permit),
            Grant::Wait(_) => return taken,
            other => panic!("{other:?}"),
        }
    }
}

/// Polls `condition` (a store's or a server's observable state) until it
/// holds, 10 s at most.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One task per element of `workers` calls it until `run` has passed since
/// `started`; returns each outcome but a 200 (a status or an error).
async fn drive<F, Fut>(workers: Vec<F>, started: std::time::Instant, run: Duration) -> Vec<String>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<u16, String>> + Send,
{
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for call in workers {
        let failures = failures.clone();
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < run {
                match call().await {
                    Ok(200) => {}
                    Ok(status) => failures.lock().unwrap().push(format!("status {status}")),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        }));
    }
    for task in tasks {
        bounded("a worker", task).await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    failures
}

/// `members` members of the README's full stack (`ApiErrorsLayer` with
/// `.quota(QuotaLayer::with_store(..))`) on `redis`, `workers` callers
/// each, sending to `addr` for `run`: what surfaced (anything but a 200).
async fn full_stack_fleet(
    redis: &RedisServer,
    prefix: &str,
    addr: SocketAddr,
    members: usize,
    workers: usize,
    run: Duration,
) -> Vec<String> {
    let started = std::time::Instant::now();
    let mut calls = Vec::new();
    for _ in 0..members {
        let service = ApiErrorsLayer::new()
            .quota(QuotaLayer::with_store(store_on(&redis.url(), prefix)))
            .layer(client::<ReplayBody<Full<Bytes>>>());
        for _ in 0..workers {
            let service = service.clone();
            calls.push(move || {
                let service = service.clone();
                async move {
                    service
                        .oneshot(get(addr))
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| e.to_string())
                }
            });
        }
    }
    drive(calls, started, run).await
}

// ---------------------------------------------------------------------------
// 1. Leases: no Redis round trip per request in steady state.
// ---------------------------------------------------------------------------

/// `RedisStore` docs, "No round trip per request" (CHANGELOG, issue 23.1):
/// two members, 6 callers each, on one scope with a roomy window: the
/// script calls Redis counts (and the stores' own count) stay under 0.2
/// per request once the leases are taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_costs_few_redis_calls_per_request() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(100_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let stores: Vec<RedisStore> = (0..2)
        .map(|_| store_on(&redis.url(), "fleet:steady:"))
        .collect();
    let services: Vec<_> = stores
        .iter()
        .map(|s| QuotaLayer::with_store(s.clone()).layer(client::<Full<Bytes>>()))
        .collect();
    // Warm-up: learned and leased.
    for service in &services {
        for _ in 0..20 {
            let r = service.clone().oneshot(get(addr)).await.unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let before: u64 = stores.iter().map(RedisStore::commands).sum();
    let (calls_before, _) = script_calls(&redis.url()).await;
    let mut tasks = Vec::new();
    for service in &services {
        for _ in 0..6 {
            let service = service.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..100 {
                    let r = service.clone().oneshot(get(addr)).await.unwrap();
                    assert_eq!(r.status(), 200);
                }
            }));
        }
    }
    for task in tasks {
        bounded("a worker", task).await.unwrap();
    }
    let sent = 2 * 6 * 100;
    let commands = stores.iter().map(RedisStore::commands).sum::<u64>() - before;
    let (calls, _) = script_calls(&redis.url()).await;
    let calls = calls - calls_before;
    assert!(
        commands * 5 <= sent,
        "{commands} store commands for {sent} requests"
    );
    assert!(
        calls * 5 <= sent,
        "{calls} script calls for {sent} requests"
    );
    assert_eq!(vendor.window.throttled.load(Ordering::SeqCst), 0);
}

/// `RedisStore` docs, "Leases, renewed off the request's path ... 40 % of
/// its 5 s left" (the ledger's `LEASE_TTL`): a lightly used lease is
/// renewed every 3 s (5 s less the 2 s left), not per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lightly_used_lease_is_renewed_at_forty_percent_of_its_five_seconds() {
    let redis = RedisServer::start(free_port());
    let store = store_on(&redis.url(), "fleet:renew:");
    let scope = ScopeKey::new("api.test", None);
    let unheld = Permit::new(scope, 1, false, 0);
    store
        .settle(
            unheld,
            &Observation::new().with_window(a_minute_of(100_000)),
        )
        .await;
    let mut seen = store.commands();
    let started = Instant::now();
    let mut renewals = Vec::new();
    while started.elapsed() < Duration::from_millis(10_500) {
        if let Grant::Go { permit, .. } = store.acquire(scope, 1, Duration::from_secs(1)).await {
            store.settle(permit, &Observation::new()).await;
        }
        let now = store.commands();
        if now != seen {
            renewals.push(started.elapsed().as_millis());
            seen = now;
        }
        // A light user: a request each 20 ms.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // (Past the first second: the first lease and the fleet's join.)
    let steady: Vec<u128> = renewals
        .iter()
        .filter(|at| **at > 1_000)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert!(steady.len() >= 2, "renewals at {renewals:?} ms");
    assert!(
        steady.iter().all(|g| (2_700..=3_400).contains(g)),
        "renewals at {renewals:?} ms: not every 3 s (40 % of a 5 s lease left)"
    );
}

// ---------------------------------------------------------------------------
// 2. Cold start.
// ---------------------------------------------------------------------------

/// `quota` module docs, "Cold start" (a fleet's requests hold on the
/// probe, "as a fleet's do on `RedisStore`"), inside `ApiErrorsLayer`: a
/// cold fleet of 3 members x 6 callers sends one probe while it is
/// unanswered, every member held and asking again meanwhile; the held
/// requests are neither refused nor retried into the vendor: all end 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_api_errors_layer_a_cold_fleet_sends_one_probe() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true).gated(0);
    let addr = vendor.serve().await;
    let stores: Vec<RedisStore> = (0..3)
        .map(|_| store_on(&redis.url(), "fleet:stackcold:"))
        .collect();
    let mut tasks = Vec::new();
    for store in &stores {
        let service = ApiErrorsLayer::new()
            .quota(QuotaLayer::with_store(store.clone()))
            .layer(client::<ReplayBody<Full<Bytes>>>());
        for _ in 0..6 {
            let service = service.clone();
            tasks.push(tokio::spawn(async move {
                service
                    .oneshot(get(addr))
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string())
            }));
        }
    }
    vendor.arrived(1).await;
    // Every member has asked the ledger, been held, and asked again (a
    // first question is a read of Redis's clock and one script call).
    until("every member held and asking again", || {
        stores.iter().all(|s| s.commands() >= 4)
    })
    .await;
    let during = vendor.received();
    vendor.open();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(bounded("a caller", task).await.unwrap());
    }
    assert_eq!(during, 1, "one probe for the fleet");
    assert!(outcomes.iter().all(|o| o == &Ok(200)), "{outcomes:?}");
    assert_eq!(vendor.received(), 18, "none retried or sent twice");
}

/// `RedisStore` docs, "Cold start ... one process holds a 2 s probe": the
/// member holding it dies (its store dropped, its probe never settled):
/// another member's request goes within the probe's 2 s (+ slack).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_holder_that_dies_holds_the_fleet_two_seconds_at_most() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let a = store_on(&redis.url(), "fleet:dies:");
    let b = store_on(&redis.url(), "fleet:dies:");
    let scope = ScopeKey::new(&addr.to_string(), None);
    let Grant::Go { permit, .. } = a.acquire(scope, 1, Duration::from_secs(120)).await else {
        panic!("A probes")
    };
    assert!(permit.is_held(), "the probe is counted");
    drop(a);
    let service = QuotaLayer::with_store(b).layer(client::<Full<Bytes>>());
    let started = Instant::now();
    let r = bounded("B's request", service.oneshot(get(addr)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 200);
    assert!(took < Duration::from_millis(2_600), "held {took:?}");
}

/// `quota` module docs, "Cold start" ("a probe dropped unanswered lets
/// another go at once"), within one member on `RedisStore`: its own probe
/// dropped by its caller, the member's next request goes at once, not
/// after the probe's 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_probe_lets_the_same_member_go_at_once() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true).gated(0);
    let addr = vendor.serve().await;
    let service = QuotaLayer::with_store(store_on(&redis.url(), "fleet:dropsame:"))
        .layer(client::<Full<Bytes>>());
    let probe = tokio::spawn(service.clone().oneshot(get(addr)));
    vendor.arrived(1).await;
    probe.abort();
    let _ = probe.await;
    vendor.open();
    let started = Instant::now();
    let r = bounded("the next request", service.oneshot(get(addr)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 200);
    assert!(
        took < Duration::from_millis(500),
        "held {took:?} after its own probe was dropped"
    );
}

/// `RedisStore` docs, "Cold start ... the others hold theirs until its
/// answer teaches the window (bounded by `max_wait`)": while A's probe is
/// out, B's requests with a `max_wait` of 300 ms are refused
/// (`RateLimited`, not sent) within it; the vendor sees the probe alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_fleet_holds_no_request_past_max_wait() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true).gated(0);
    let addr = vendor.serve().await;
    let service_a = QuotaLayer::with_store(store_on(&redis.url(), "fleet:coldmax:"))
        .layer(client::<Full<Bytes>>());
    let service_b = QuotaLayer::with_store(store_on(&redis.url(), "fleet:coldmax:"))
        .max_wait(Duration::from_millis(300))
        .layer(client::<Full<Bytes>>());
    let probe = tokio::spawn(service_a.oneshot(get(addr)));
    vendor.arrived(1).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let r = bounded("B", service_b.clone().oneshot(get(addr))).await;
        slowest = slowest.max(started.elapsed());
        assert!(
            matches!(r, Err(tower_api_errors::Error::RateLimited(_))),
            "not sent: {r:?}"
        );
    }
    vendor.open();
    bounded("the probe", probe).await.unwrap().unwrap();
    assert!(
        slowest < Duration::from_millis(450),
        "held {slowest:?} past 300 ms"
    );
    assert_eq!(vendor.received(), 1);
}

/// README "Security" (`redact`: "userinfo and credential-like query
/// parameters never reach errors or logs"): a fleet's quota refusal (a
/// cold scope, `max_wait` 0) prints none of the request's secrets in its
/// `Display`, `Debug` or source chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_refusal_prints_no_credential() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true).gated(0);
    let addr = vendor.serve().await;
    let probe = tokio::spawn(
        QuotaLayer::with_store(store_on(&redis.url(), "fleet:refuse:"))
            .layer(client::<Full<Bytes>>())
            .oneshot(get(addr)),
    );
    vendor.arrived(1).await;
    let service = QuotaLayer::with_store(store_on(&redis.url(), "fleet:refuse:"))
        .max_wait(Duration::ZERO)
        .layer(client::<Full<Bytes>>());
    let request = Request::get(format!(
        "http://user:pw-SECRET@{addr}/items?api_key=key-SECRET&access_token=tok-SECRET"
    ))
    .body(Full::new(Bytes::new()))
    .unwrap();
    let r = bounded("B", service.oneshot(request)).await;
    vendor.open();
    let _ = probe.await;
    let Err(e) = r else {
        panic!("refused expected")
    };
    assert!(
        matches!(e, tower_api_errors::Error::RateLimited(_)),
        "{e:?}"
    );
    let text = format!("{e} {e:?} {}", support::error_text(&e));
    assert!(!text.contains("SECRET"), "{text}");
}

/// `quota` module docs, "Cold start" ("a caller that sends one request
/// after another waits for nothing"), on `RedisStore`: a sequential caller
/// on a fresh fleet is never held (not the join's 300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequential_caller_on_a_cold_fleet_waits_for_nothing() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let service =
        QuotaLayer::with_store(store_on(&redis.url(), "fleet:seq:")).layer(client::<Full<Bytes>>());
    let mut took = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
        took.push(started.elapsed().as_millis());
    }
    assert!(took.iter().all(|t| *t < 150), "held: {took:?} ms");
}

// ---------------------------------------------------------------------------
// 3. Vendors that announce nothing, and a fleet's cooldown.
// ---------------------------------------------------------------------------

/// `quota` module docs, "Scopes" ("until a 429 teaches a limit, the fleet
/// keeps at most 16 requests in flight (fair shares ...; more as answers
/// come back or time passes)"; CHANGELOG, issue 23): 2 members x 24
/// callers, the vendor answers the probe (announcing nothing) then holds
/// every request: the k-th held arrival comes no sooner than 16 + one per
/// 100 ms allow (+ 2), and the 16 do go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_vendor_sees_at_most_sixteen_in_flight_from_the_fleet() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000_000, Duration::from_secs(60), false).gated(1);
    let addr = vendor.serve().await;
    let stores: Vec<RedisStore> = (0..2)
        .map(|_| store_on(&redis.url(), "fleet:silent:"))
        .collect();
    let first = QuotaLayer::with_store(stores[0].clone()).layer(client::<Full<Bytes>>());
    assert_eq!(first.oneshot(get(addr)).await.unwrap().status(), 200);
    let opened = std::time::Instant::now();
    let mut tasks = Vec::new();
    for store in &stores {
        let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
        for _ in 0..24 {
            let service = service.clone();
            tasks.push(tokio::spawn(service.oneshot(get(addr))));
        }
    }
    vendor.arrived(1 + 16).await;
    // The span observed: 600 ms of the allowance's growth.
    tokio::time::sleep(Duration::from_millis(600).saturating_sub(opened.elapsed())).await;
    let arrivals: Vec<u128> = vendor.arrived_at.lock().unwrap()[1..]
        .iter()
        .map(|at| at.saturating_duration_since(opened).as_millis())
        .collect();
    vendor.open();
    for task in tasks {
        let _ = bounded("a caller", task).await.unwrap();
    }
    for (k, at) in arrivals.iter().enumerate() {
        let (in_flight, allowed) = (k as u128 + 1, 16 + at / 100 + 2);
        assert!(
            in_flight <= allowed,
            "{in_flight} in flight at {at} ms (allowed {allowed})"
        );
    }
}

/// `quota` module docs, "Scopes" (the ledger infers a window from a
/// 429's wait and paces the fleet), CHANGELOG issue 23.3: a vendor of 40
/// per 2 s that answers only 429 + `Retry-After`, 2 members x 8 callers
/// for 8 s: after the first two windows the fleet uses the window (40+
/// successes in 3 s) with at most 3 % 429s, and nothing else surfaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_vendor_is_learned_by_the_fleet() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(40, Duration::from_secs(2), false);
    let addr = vendor.serve().await;
    let (late_ok, late_429) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = std::time::Instant::now();
    let mut calls = Vec::new();
    for _ in 0..2 {
        let service = QuotaLayer::with_store(store_on(&redis.url(), "fleet:silentlearn:"))
            .layer(client::<Full<Bytes>>());
        for _ in 0..8 {
            let (service, late_ok, late_429) = (service.clone(), late_ok.clone(), late_429.clone());
            calls.push(move || {
                let (service, late_ok, late_429) =
                    (service.clone(), late_ok.clone(), late_429.clone());
                async move {
                    let status = service
                        .oneshot(get(addr))
                        .await
                        .map_err(|e| e.to_string())?
                        .status()
                        .as_u16();
                    if started.elapsed() > Duration::from_secs(5) {
                        let counter = if status == 429 { &late_429 } else { &late_ok };
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(if status == 429 { 200 } else { status })
                }
            });
        }
    }
    let surfaced = drive(calls, started, Duration::from_secs(8)).await;
    assert!(surfaced.is_empty(), "{surfaced:?}");
    let (ok, throttled) = (
        late_ok.load(Ordering::SeqCst),
        late_429.load(Ordering::SeqCst),
    );
    assert!(
        ok >= 40,
        "{ok} successes in the last 3 s of a 40 per 2 s vendor"
    );
    assert!(
        throttled * 100 <= 3 * (ok + throttled) + 100,
        "{throttled} 429s of {}",
        ok + throttled
    );
}

/// `quota` module docs, "Refills" ("a 429's wait ended ... is confirmed by
/// one request before the others go ... in a fleet, one per process") and
/// `RedisStore` ("A cooldown is the whole fleet's at once"): A's probe
/// draws a 429 with `Retry-After: 2`; B's 8 callers send nothing until the
/// wait ends, then one goes alone (its answer takes 150 ms) before the
/// others, and every one ends 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_holds_the_whole_fleet_and_its_end_is_confirmed_by_one_request() {
    let redis = RedisServer::start(free_port());
    let started = std::time::Instant::now();
    let log = Arc::new(Mutex::new(Vec::<u128>::new()));
    let arrivals = log.clone();
    let addr = serve(move |_r| {
        let arrivals = arrivals.clone();
        async move {
            let at = started.elapsed();
            arrivals.lock().unwrap().push(at.as_millis());
            if at < Duration::from_millis(2_000) {
                let spent = [
                    ("retry-after", "2"),
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "2"),
                ];
                return response(429, &spent, "spent");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            let ok = [
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "90"),
                ("x-ratelimit-reset", "60"),
            ];
            response(200, &ok, "ok")
        }
    })
    .await;
    let service_a = QuotaLayer::with_store(store_on(&redis.url(), "fleet:cool:"))
        .layer(client::<Full<Bytes>>());
    let service_b = QuotaLayer::with_store(store_on(&redis.url(), "fleet:cool:"))
        .layer(client::<Full<Bytes>>());
    assert_eq!(service_a.oneshot(get(addr)).await.unwrap().status(), 429);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let service = service_b.clone();
        tasks.push(tokio::spawn(async move {
            service
                .oneshot(get(addr))
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(bounded("B", task).await.unwrap());
    }
    let log = log.lock().unwrap().clone();
    let after: Vec<u128> = log[1..].to_vec();
    let early = after.iter().filter(|at| **at < 2_000).count();
    assert_eq!(
        early, 0,
        "B sent {early} during the fleet's cooldown: {log:?}"
    );
    assert!(outcomes.iter().all(|o| o == &Ok(200)), "{outcomes:?}");
    let together = after.iter().filter(|at| **at < after[0] + 100).count();
    assert_eq!(
        together, 1,
        "{together} of B's requests went at the wait's end together: {after:?}"
    );
}

// ---------------------------------------------------------------------------
// 4. The full stack on a fleet (issue 23.4).
// ---------------------------------------------------------------------------

/// CHANGELOG "Budget (issue 23.4)" with README "Running a fleet with
/// `RedisStore`": the README's stack on 2 members x 12 callers against a
/// vendor of 30 per 2 s that announces its window: every call ends 200 (a
/// request the quota places is never refused or surfaced as a 429).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_stack_on_a_fleet_surfaces_no_error() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(30, Duration::from_secs(2), true);
    let addr = vendor.serve().await;
    let surfaced =
        full_stack_fleet(&redis, "fleet:stack:", addr, 2, 12, Duration::from_secs(5)).await;
    assert!(
        surfaced.is_empty(),
        "{} surfaced: {:?}",
        surfaced.len(),
        &surfaced[..surfaced.len().min(3)]
    );
}

/// The same for a vendor that announces nothing (only 429 +
/// `Retry-After`, 40 per 2 s), 2 members x 8 callers: each 429 is waited
/// out within the retry's bounds; no error surfaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_stack_on_a_fleet_surfaces_no_error_from_a_silent_vendor() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(40, Duration::from_secs(2), false);
    let addr = vendor.serve().await;
    let surfaced = full_stack_fleet(
        &redis,
        "fleet:stacksilent:",
        addr,
        2,
        8,
        Duration::from_secs(7),
    )
    .await;
    assert!(
        surfaced.is_empty(),
        "{} surfaced: {:?}",
        surfaced.len(),
        &surfaced[..surfaced.len().min(3)]
    );
}

// ---------------------------------------------------------------------------
// 5. Redis faults.
// ---------------------------------------------------------------------------

/// `RedisStore` docs, "When Redis fails" (a cautious share, "No request is
/// lost ... or sent twice", "shares again when Redis answers"): Redis
/// frozen (SIGSTOP) for 2.5 s mid-run under 2 members x 8 callers against
/// 40 per 2 s: the members fall back, the fleet draws at most 4 429s
/// across the freeze, and sharing resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_across_a_frozen_redis_draws_few_429s() {
    let redis = RedisServer::start(free_port());
    let pid = redis_pid(&redis.url()).await;
    let vendor = Vendor::new(40, Duration::from_secs(2), true);
    let addr = vendor.serve().await;
    let stores: Vec<RedisStore> = (0..2)
        .map(|_| fault_store(&redis.url(), "fleet:fleetstop:"))
        .collect();
    let started = std::time::Instant::now();
    let mut calls = Vec::new();
    for store in &stores {
        let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
        for _ in 0..8 {
            let service = service.clone();
            calls.push(move || {
                let service = service.clone();
                async move {
                    service
                        .oneshot(get(addr))
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| e.to_string())
                }
            });
        }
    }
    let run = tokio::spawn(drive(calls, started, Duration::from_secs(8)));
    // The freeze: from 3 s (the window learned and shared) for 2.5 s.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(started.elapsed())).await;
    let before = vendor.window.throttled.load(Ordering::SeqCst);
    signal(pid, "STOP");
    let frozen = Instant::now();
    let mut went_local = false;
    while frozen.elapsed() < Duration::from_millis(2_500) {
        went_local |= stores.iter().any(RedisStore::is_local);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(pid, "CONT");
    let surfaced = bounded("the run", run).await.unwrap();
    // (What surfaced is the vendor's 429s and refusals at max_wait.)
    let across = vendor.window.throttled.load(Ordering::SeqCst) - before;
    assert!(went_local, "the members fell back while Redis was frozen");
    assert!(across <= 4, "{across} 429s across the freeze");
    drop(surfaced);
    assert!(stores.iter().all(|s| !s.is_local()), "sharing resumed");
}

/// `RedisStore` docs, "When Redis fails ... shares again when it
/// answers": the store's connections killed (`CLIENT KILL`) every 700 ms
/// mid-run: it reconnects, no request fails or waits past the fallback's
/// bound, and it shares again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_is_reconnected_quietly() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(100_000_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let store = fault_store(&redis.url(), "fleet:ckill:");
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    let mut connection = admin(&redis.url()).await;
    let mut slowest = Duration::ZERO;
    let run = Instant::now();
    let (mut kills, mut killed) = (0, 0);
    while run.elapsed() < Duration::from_secs(4) {
        let started = Instant::now();
        let r = bounded("a request", service.clone().oneshot(get(addr))).await;
        assert_eq!(r.unwrap().status(), 200);
        slowest = slowest.max(started.elapsed());
        if run.elapsed() > Duration::from_millis(kills * 700 + 300) {
            let clients: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("SKIPME")
                .arg("yes")
                .arg("TYPE")
                .arg("normal")
                .query_async(&mut connection)
                .await
                .unwrap();
            killed += clients;
            kills += 1;
        }
    }
    // Shared again: the store's next commands reach Redis.
    let commands = store.commands();
    let again = Instant::now();
    while (store.is_local() || store.commands() == commands)
        && again.elapsed() < Duration::from_secs(8)
    {
        let r = service.clone().oneshot(get(addr)).await.unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shared = !store.is_local() && store.commands() > commands;
    assert!(
        killed >= 2,
        "{killed} connections killed in {kills} kills: reconnected once at least"
    );
    assert!(slowest < Duration::from_millis(600), "slowest {slowest:?}");
    assert!(shared, "sharing resumed");
}

/// `RedisStore` docs, "The ledger ... a version compare-and-set script"
/// (CHANGELOG: scripts loaded once per connection, no NOSCRIPT storm): a
/// cold fleet of 4 members x 8 callers on a fresh Redis: at most one
/// failed `EVALSHA` (NOSCRIPT) per member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_fleet_loads_its_script_without_a_noscript_storm() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(10_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let service = QuotaLayer::with_store(store_on(&redis.url(), "fleet:noscript:"))
            .layer(client::<Full<Bytes>>());
        for _ in 0..8 {
            let service = service.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..3 {
                    let r = service.clone().oneshot(get(addr)).await.unwrap();
                    assert_eq!(r.status(), 200);
                }
            }));
        }
    }
    for task in tasks {
        bounded("a worker", task).await.unwrap();
    }
    let (calls, failed) = script_calls(&redis.url()).await;
    assert!(calls > 0, "the fleet used its script");
    assert!(
        failed <= 4,
        "{failed} failed EVALSHA (NOSCRIPT) for 4 members"
    );
}

/// `RedisStore` docs, "every key has a TTL" and "When Redis fails" (a
/// hostile vendor is not a Redis failure): a 429 with an absurd
/// `Retry-After` and reset (`u64::MAX` seconds) holds its scope, yet its
/// ledger key still expires, and the store keeps sharing its other scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_keeps_the_ledger_expiring_and_the_store_shared() {
    let redis = RedisServer::start(free_port());
    let hostile = serve(|_r| async {
        let absurd = [
            ("retry-after", "18446744073709551615"),
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "18446744073709551615"),
        ];
        response(429, &absurd, "no")
    })
    .await;
    let vendor = Vendor::new(100_000, Duration::from_secs(60), true);
    let fine = vendor.serve().await;
    let store = fault_store(&redis.url(), "fleet:absurd:");
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    let first = bounded("hostile", service.clone().oneshot(get(hostile))).await;
    assert_eq!(first.unwrap().status(), 429);
    let second = bounded("hostile again", service.clone().oneshot(get(hostile))).await;
    assert!(
        matches!(second, Err(tower_api_errors::Error::RateLimited(_))),
        "held: {:?}",
        second.map(|r| r.status())
    );
    let mut local_seen = false;
    for _ in 0..50 {
        let r = bounded("fine", service.clone().oneshot(get(fine))).await;
        assert_eq!(r.unwrap().status(), 200);
        local_seen |= store.is_local();
    }
    let mut connection = admin(&redis.url()).await;
    let key = store.key(ScopeKey::new(&hostile.to_string(), None));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(pttl > 0 || pttl == -2, "the ledger key has no TTL ({pttl})");
    assert!(
        !local_seen && !store.is_local(),
        "one hostile scope put the whole store in local mode"
    );
}

/// `RedisStore` docs, "No request is lost, held beyond `max_wait`" and
/// `quota` module docs (hostile numbers saturate): a vendor's absurd
/// numbers (`u64::MAX` limits and resets, limit 0, remaining above the
/// limit, floats, negatives, IETF fields at `u64::MAX`) through two
/// members: no panic in the crate (its renewal tasks included), every
/// request answered within `max_wait` (+ slack), and neither member falls
/// back (its own ledger is not "nonsense" to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_vendor_numbers_cause_no_panic_and_no_hang() {
    static PANICS: AtomicU64 = AtomicU64::new(0);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // (The crate's own panics only: other tests' asserts panic too.)
        if info
            .location()
            .is_some_and(|l| l.file().starts_with("src/"))
        {
            PANICS.fetch_add(1, Ordering::SeqCst);
        }
        hook(info);
    }));
    let redis = RedisServer::start(free_port());
    let max = u64::MAX.to_string();
    let (limit, remaining, reset) = (
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    );
    let sets: Vec<Vec<(&'static str, String)>> = vec![
        vec![
            (limit, max.clone()),
            (remaining, max.clone()),
            (reset, max.clone()),
        ],
        vec![
            (limit, max.clone()),
            (remaining, "5".into()),
            (reset, "1".into()),
        ],
        vec![
            (limit, "0".into()),
            (remaining, "0".into()),
            (reset, "1".into()),
        ],
        vec![
            (limit, "10".into()),
            (remaining, max.clone()),
            (reset, "2".into()),
        ],
        vec![
            (limit, "1e30".into()),
            (remaining, "-5".into()),
            (reset, "9999999999999".into()),
        ],
        vec![
            ("ratelimit-policy", format!("\"a\";q={max};w={max}")),
            ("ratelimit", format!("\"a\";r={max};t={max}")),
        ],
        vec![
            ("ratelimit-policy", "\"a\";q=1;w=0".into()),
            ("ratelimit", "\"a\";r=0;t=0".into()),
        ],
        vec![
            (limit, "100".into()),
            (remaining, "50".into()),
            (reset, "1".into()),
            ("retry-after", max.clone()),
        ],
    ];
    for (i, set) in sets.into_iter().enumerate() {
        let set = Arc::new(set);
        let addr = serve(move |_r| {
            let set = set.clone();
            async move {
                let headers: Vec<(&str, &str)> =
                    set.iter().map(|(k, v)| (*k, v.as_str())).collect();
                response(200, &headers, "ok")
            }
        })
        .await;
        let prefix = format!("fleet:hostile{i}:");
        let services: Vec<_> = (0..2)
            .map(|_| {
                let store = fault_store(&redis.url(), &prefix);
                let service = QuotaLayer::with_store(store.clone())
                    .max_wait(Duration::from_millis(500))
                    .layer(client::<Full<Bytes>>());
                (store, service)
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for _ in 0..4 {
            for (_, service) in &services {
                let started = Instant::now();
                let _ = bounded("a request", service.clone().oneshot(get(addr))).await;
                slowest = slowest.max(started.elapsed());
            }
        }
        assert!(
            slowest < Duration::from_millis(800),
            "set {i}: slowest {slowest:?}"
        );
        assert!(
            services.iter().all(|(s, _)| !s.is_local()),
            "set {i}: fell back to local on its own ledger"
        );
    }
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a panic in the crate (see stderr)"
    );
}

/// `RedisStore` docs ("key `prefix` + `{digest}`"), README "Running a
/// fleet" ("Keys hold digests and numbers only, never a partition value in
/// clear"): hostile partition values (60 kB, braces that would make a hash
/// tag of their own, a tab, empty) and a hostile `Host`: every key is the
/// prefix, a 16-hex digest in braces and `:opening` at most, has a TTL, and
/// no key, field or value holds a value in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_partitions_make_bounded_keys_without_the_value() {
    let redis = RedisServer::start(free_port());
    let vendor = Vendor::new(1_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let service = QuotaLayer::with_store(store_on(&redis.url(), "fleet:keys:"))
        .partition(|r| r.headers().get("x-api-key").map(|v| v.as_bytes().to_vec()))
        .layer(client::<Full<Bytes>>());
    let long = "sk-live-SECRETSECRET".repeat(3_000);
    for value in [
        long.as_str(),
        "}{sk-live-BRACES}{",
        "{sk-live-TAG}",
        "sk-live-TAB\tx",
        "",
    ] {
        let request = Request::get(format!("http://{addr}/items"))
            .header("x-api-key", value)
            .header("host", "user:sk-live-HOSTPW@evil{tag}.example")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = bounded("a request", service.clone().oneshot(request)).await;
        assert_eq!(r.unwrap().status(), 200);
    }
    let mut connection = admin(&redis.url()).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(keys.len() >= 5, "a ledger per partition: {keys:?}");
    for key in &keys {
        assert!(!key.contains("sk-live"), "{key}");
        assert!(
            key.len() <= "fleet:keys:".len() + 18 + ":opening".len(),
            "{key}"
        );
        let rest = key.strip_prefix("fleet:keys:{").expect("prefix and tag");
        assert!(
            rest[..16].chars().all(|c| c.is_ascii_hexdigit()) && rest[16..].starts_with('}'),
            "{key}"
        );
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has no TTL");
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        for (f, v) in fields {
            assert!(!f.contains("sk-live") && !v.contains("sk-live"), "{f}={v}");
        }
    }
}

/// `fleet` (the breaker's `OpeningStore` on `RedisStore`): an opening
/// published by one member is learned by another; one far in the future
/// (a hundred years: a hostile server's wait) is kept, not wrapped or
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_far_in_the_future_is_shared_not_lost() {
    use tower_api_errors::fleet::OpeningStore;
    let redis = RedisServer::start(free_port());
    let a = store_on(&redis.url(), "fleet:open:");
    let b = store_on(&redis.url(), "fleet:open:");
    let scope = ScopeKey::new("api.test", None);
    let far = std::time::SystemTime::now() + Duration::from_secs(100 * 365 * 86_400);
    a.publish(scope, far);
    // (B reads the fleet's opening at most every 250 ms.)
    let mut learned = None;
    until("B learns A's opening", || {
        learned = b.opening(scope);
        learned.is_some()
    })
    .await;
    let day_on = std::time::SystemTime::now() + Duration::from_secs(86_400);
    assert!(learned.is_some_and(|at| at > day_on), "{learned:?}");
}

// ---------------------------------------------------------------------------
// 6. Redis Cluster.
// ---------------------------------------------------------------------------

fn cluster_store(urls: &[String], prefix: &str) -> RedisStore {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    RedisStore::open_cluster(&urls).unwrap().prefix(prefix)
}

/// `RedisStore::open_cluster` ("Each scope's ledger is one key, in one
/// slot") with the README's fair shares: two members on a real three-node
/// cluster share a learned window of 10 as on one Redis, 5 each, and stay
/// shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_fleet_shares_a_window_fairly() {
    let cluster = RedisCluster::start().await;
    let member =
        || cluster_store(&cluster.urls(), "fleet:cluster:").timeout(Duration::from_secs(2));
    let (a, b) = (member(), member());
    let scope = ScopeKey::new("api.test", None);
    two_members_on(&a, &b, scope, 10).await;
    let a_taken = take_all(&a, scope).await;
    let b_taken = take_all(&b, scope).await;
    assert!(!a.is_local() && !b.is_local(), "shared on the cluster");
    assert_eq!((a_taken.len(), b_taken.len()), (5, 5));
}

/// `RedisStore` docs ("one Redis hash per scope, key `prefix` +
/// `{digest}`: one hash slot, so Redis Cluster works") and the breaker's
/// opening "in its ledger's hash slot": a scope's ledger and opening keys
/// are in one slot (the digest's), another scope's in another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_keys_of_one_scope_share_a_slot() {
    use tower_api_errors::fleet::OpeningStore;
    let cluster = RedisCluster::start().await;
    let store = cluster_store(&cluster.urls(), "fleet:slot:");
    let scope = ScopeKey::new("api.test", None);
    let unheld = Permit::new(scope, 1, false, 0);
    store
        .settle(unheld, &Observation::new().with_window(a_minute_of(10)))
        .await;
    store.publish(
        scope,
        std::time::SystemTime::now() + Duration::from_secs(30),
    );
    let mut connection = admin(&cluster.urls()[0]).await;
    let mut slots = Vec::new();
    for key in [store.key(scope), store.opening_key(scope)] {
        let slot: u64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        slots.push(slot);
    }
    let other: u64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(store.key(ScopeKey::new("other.test", None)))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(slots[0], slots[1], "ledger and opening in one slot");
    assert_ne!(slots[0], other, "the digest is the tag");
    assert!(!store.is_local());
}

/// `RedisStore` docs, "When Redis fails ... falls back ... tries Redis
/// again with one attempt at a time ... backing off (250 ms doubling to
/// 2 s)": every node of the cluster killed mid-run: requests keep going
/// (200, none past 600 ms), the store falls back and tries the cluster
/// a dozen times at most in 2 s, not per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_dies_mid_run_is_a_bounded_fallback() {
    let mut cluster = RedisCluster::start().await;
    let vendor = Vendor::new(100_000_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let store = cluster_store(&cluster.urls(), "fleet:clusterdie:");
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    for _ in 0..30 {
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
    }
    assert!(!store.is_local(), "shared on the cluster");
    let commands_warm = store.commands();
    for node in &mut cluster.nodes {
        node.kill();
    }
    let run = Instant::now();
    let (mut slowest, mut sent) = (Duration::ZERO, 0);
    while run.elapsed() < Duration::from_secs(2) {
        let started = Instant::now();
        let r = bounded("a request", service.clone().oneshot(get(addr))).await;
        assert_eq!(r.unwrap().status(), 200);
        slowest = slowest.max(started.elapsed());
        sent += 1;
    }
    assert!(store.is_local());
    assert!(slowest < Duration::from_millis(600), "slowest {slowest:?}");
    let tried = store.commands() - commands_warm;
    assert!(
        tried <= 12,
        "{tried} commands for {sent} requests: once per backoff step"
    );
}

/// The same, the cluster frozen (every node SIGSTOPped: slower than the
/// store's timeout, not refusing): requests keep going within the bound,
/// and the store shares again once the nodes go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_cluster_is_a_bounded_fallback_and_sharing_resumes() {
    let cluster = RedisCluster::start().await;
    let mut pids = Vec::new();
    for url in &cluster.urls() {
        pids.push(redis_pid(url).await);
    }
    let vendor = Vendor::new(100_000_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let store = cluster_store(&cluster.urls(), "fleet:clusterstop:");
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    for _ in 0..30 {
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
    }
    assert!(!store.is_local());
    for pid in &pids {
        signal(*pid, "STOP");
    }
    let run = Instant::now();
    let mut slowest = Duration::ZERO;
    while run.elapsed() < Duration::from_secs(2) {
        let started = Instant::now();
        let r = bounded("a request", service.clone().oneshot(get(addr))).await;
        assert_eq!(r.unwrap().status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let local = store.is_local();
    for pid in &pids {
        signal(*pid, "CONT");
    }
    assert!(local, "fell back while frozen");
    assert!(slowest < Duration::from_millis(600), "slowest {slowest:?}");
    let again = Instant::now();
    while store.is_local() && again.elapsed() < Duration::from_secs(8) {
        assert_eq!(
            service.clone().oneshot(get(addr)).await.unwrap().status(),
            200
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!store.is_local(), "sharing resumed after the freeze");
}

/// `RedisStore::open_cluster`: "Connects on first use (and tries again
/// after a failure): a cluster that is down at start-up is a fallback to
/// local shares, not an error": requests go while it is down; the cluster
/// comes up on those ports, and the store shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_down_at_start_is_shared_once_it_comes_up() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    let vendor = Vendor::new(100_000, Duration::from_secs(60), true);
    let addr = vendor.serve().await;
    let store = cluster_store(&urls, "fleet:clusterlate:");
    let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
    for _ in 0..10 {
        let r = bounded("a request", service.clone().oneshot(get(addr))).await;
        assert_eq!(r.unwrap().status(), 200);
    }
    assert!(store.is_local(), "down at start: local");
    let cluster = RedisCluster::start_on(&ports).await;
    let again = Instant::now();
    while store.is_local() && again.elapsed() < Duration::from_secs(10) {
        let r = bounded("a request", service.clone().oneshot(get(addr))).await;
        assert_eq!(r.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !store.is_local(),
        "sharing never resumed once the cluster came up"
    );
    drop(cluster);
}

/// README "Security" (no credential reaches errors or logs): a cluster
/// URL's password is not in the store's `Debug`, nor in any error or log
/// line when the nodes refuse it (they require another) and the store
/// falls back. (Whether the `quota_store_local` warning reaches this
/// thread's subscriber while other tests run is not asserted: it did not,
/// in parallel runs; `tests/quota_redis.rs` pins it for one node.)
#[cfg(feature = "tracing")]
#[test]
fn a_cluster_password_never_prints() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::NONE);
    runtime.block_on(async {
        let cluster = RedisCluster::start().await;
        for url in cluster.urls() {
            let mut connection = admin(&url).await;
            let () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("requirepass")
                .arg("the-real-one")
                .query_async(&mut connection)
                .await
                .unwrap();
        }
        let urls: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("redis://default:hunter2-secret@127.0.0.1:{}/", n.port))
            .collect();
        let store = cluster_store(&urls, "fleet:cpw:");
        assert!(!format!("{store:?}").contains("hunter2"), "{store:?}");
        let vendor = Vendor::new(1_000, Duration::from_secs(60), true);
        let addr = vendor.serve().await;
        let service = QuotaLayer::with_store(store.clone())
            .max_wait(Duration::from_secs(5))
            .layer(client::<Full<Bytes>>());
        for _ in 0..5 {
            if let Err(e) = bounded("a request", service.clone().oneshot(get(addr))).await {
                assert!(!format!("{e} {e:?}").contains("hunter2"));
            }
        }
        assert!(store.is_local(), "the refusal was noticed");
    });
    let text = logs.text();
    assert!(
        !text.contains("hunter2"),
        "the password in a log line: {text}"
    );
}
