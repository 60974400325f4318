//! Issue 26's fleet breaker through `RedisStore`, against a real
//! `redis-server` (started here, on a free loopback port, without
//! persistence) and a real hyper vendor on loopback. Two processes are two
//! stores, each with its own connection, local view and breaker: all they
//! share is Redis. Real time: what is shared is wall-clock.
//!
//! Also: a frozen Redis never delays a breaker call, and the quota and the
//! breaker on one store (inside `ApiErrorsLayer`) share a scope's digest.
//!
//! Needs `redis-server` on the PATH (see `support/redis_server.rs`).
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use redis_server::{admin, free_port, RedisServer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::fleet::OpeningStore;
use tower_api_errors::quota::{RedisStore, ScopeKey};
use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind};

/// A vendor down for good: 503 with `Retry-After: 3`; counts sends.
async fn down_vendor() -> (SocketAddr, Arc<AtomicU32>) {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let addr = support::serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { support::response(503, &[("retry-after", "3")], "down") }
    })
    .await;
    (addr, sent)
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/v1/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A process: a store of its own on `url`, and a breaker sharing through it.
fn process(
    url: &str,
    minimum_calls: u32,
) -> (
    RedisStore,
    impl Service<Request<Full<Bytes>>, Response = Response<hyper::body::Incoming>, Error = Error>
        + Clone,
) {
    let store = RedisStore::open(url).unwrap().prefix("test:breaker:");
    let service = ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new()
                .minimum_calls(minimum_calls)
                .shared(store.clone()),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>());
    (store, service)
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signalled_opening_reaches_another_process_through_redis() {
    let redis = RedisServer::start(free_port());
    let (addr, sent) = down_vendor().await;
    let (store_a, a) = process(&redis.url(), 2);
    let (store_b, b) = process(&redis.url(), 10);
    let scope = ScopeKey::new(&addr.to_string(), None);
    for _ in 0..2 {
        let error = a.clone().oneshot(get(addr)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    }
    let opened = SystemTime::now();

    // In Redis: a number (Unix ms, about 3 s ahead), under the scope's
    // hash tag (the ledger's slot), naming no authority.
    let key = store_a.opening_key(scope);
    assert_eq!(key, format!("test:breaker:{{{scope}}}:opening"));
    assert!(!key.contains("127.0.0.1"));
    let mut connection = admin(&redis.url()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let stored: u64 = loop {
        let value: Option<u64> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        if let Some(value) = value {
            break value;
        }
        assert!(Instant::now() < deadline, "never published");
        tokio::task::yield_now().await;
    };
    let ahead = stored.saturating_sub(unix_ms(opened));
    assert!((2_000..=3_000).contains(&ahead), "{ahead} ms ahead");

    // B's view is refreshed off the request's path: it learns the opening
    // without a send of its own.
    while store_b.opening(scope).is_none() {
        assert!(Instant::now() < deadline, "B never learned it");
        tokio::task::yield_now().await;
    }
    let error = b.clone().oneshot(get(addr)).await.unwrap_err();
    let open = error.circuit_open().expect("B fails fast");
    assert!(open.is_server_signalled());
    assert!(open.retry_after() <= Duration::from_secs(3));
    assert_eq!(sent.load(Ordering::SeqCst), 2, "B sent nothing");

    // At the server's time, B probes: one send, its own 503.
    let come_back = SystemTime::UNIX_EPOCH + Duration::from_millis(stored);
    let wait = come_back
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let probe = b.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(probe.kind(), ErrorKind::Unavailable, "{probe}");
    assert_eq!(sent.load(Ordering::SeqCst), 3);
    assert!(store_a.commands() >= 1 && store_b.commands() >= 1);
}

/// Redis down: each breaker keeps to its own counts, and no call errs or
/// waits because of the store; reads are spaced, not one per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_leaves_each_breaker_to_itself() {
    let (addr, sent) = down_vendor().await;
    let url = format!("redis://127.0.0.1:{}/", free_port());
    let (store, a) = process(&url, 2);
    let mut slowest = Duration::ZERO;
    for call in 0..200 {
        let started = Instant::now();
        let error = a.clone().oneshot(get(addr)).await.unwrap_err();
        slowest = slowest.max(started.elapsed());
        match call {
            0 | 1 => assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}"),
            _ => assert!(error.circuit_open().is_some(), "opened locally: {error}"),
        }
    }
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert!(store.commands() <= 4, "{} calls to Redis", store.commands());
}

/// On a Redis Cluster: an opening is one key, in its scope's slot (the
/// ledger's hash tag), published by one store and read by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openings_are_shared_on_a_redis_cluster() {
    let cluster = redis_server::RedisCluster::start().await;
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let open = || {
        RedisStore::open_cluster(&urls)
            .unwrap()
            .prefix("test:cluster:")
            .timeout(Duration::from_secs(2))
    };
    let (a, b) = (open(), open());
    let until = SystemTime::now() + Duration::from_secs(30);
    let scopes: Vec<ScopeKey> = (0..4)
        .map(|i| ScopeKey::new(&format!("api{i}.test"), None))
        .collect();
    for scope in &scopes {
        a.publish(*scope, until);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for scope in &scopes {
        while b.opening(*scope).map(unix_ms) != Some(unix_ms(until)) {
            assert!(Instant::now() < deadline, "B never learned {scope}");
            tokio::task::yield_now().await;
        }
    }
}

// ---------------------------------------------------------------------------
// A frozen Redis under the breaker's calls, and the quota and the breaker
// on one store inside `ApiErrorsLayer`: one digest per scope, and an
// opening that keeps another process's calls home.
// ---------------------------------------------------------------------------

/// A frozen Redis (SIGSTOP) never delays a breaker call that opens, publishes or reads (`fleet::OpeningStore` docs: "Neither method may wait").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_never_delays_a_breaker_call() {
    let redis = RedisServer::start(free_port());
    let mut connection = admin(&redis.url()).await;
    let pid = redis_server::info_number(&mut connection, "server", "process_id").await;
    let (addr, _sent) = down_vendor().await;
    // A store bound of 2 s: a call that waited for Redis would take that.
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("test:frozen:")
        .timeout(Duration::from_secs(2));
    let a = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new().minimum_calls(2).shared(store))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>());
    // Connected before the freeze.
    let _ = a.clone().oneshot(get(addr)).await;
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    let run = Instant::now();
    let (mut slowest, mut opened) = (Duration::ZERO, false);
    // Past several of the store's reads (one per 250 ms at most).
    while run.elapsed() < Duration::from_millis(1500) {
        let started = Instant::now();
        let outcome = support::bounded("a breaker call", a.clone().oneshot(get(addr))).await;
        slowest = slowest.max(started.elapsed());
        opened |= outcome.is_err_and(|e| e.circuit_open().is_some());
    }
    signal("-CONT");
    assert!(
        opened,
        "the breaker opened (and published) while Redis was frozen"
    );
    assert!(slowest < Duration::from_millis(500), "slowest {slowest:?}");
}

/// In `ApiErrorsLayer`, the quota and the breaker on one store write a scope under one digest, and B keeps home during A's opening (`RedisStore::opening_key` docs: "in its ledger's hash slot").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_and_breaker_on_one_store_share_one_digest_per_scope() {
    use tower_api_errors::quota::QuotaLayer;
    use tower_api_errors::{ApiErrorsLayer, RetryPolicy};
    let redis = RedisServer::start(free_port());
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let addr = support::serve(move |_r| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 3 {
                let window = [
                    ("x-ratelimit-limit", "1000"),
                    ("x-ratelimit-remaining", "990"),
                    ("x-ratelimit-reset", "60"),
                ];
                support::response(200, &window, "ok")
            } else {
                support::response(503, &[("retry-after", "5")], "down")
            }
        }
    })
    .await;
    let stack = |url: &str| {
        let store = RedisStore::open(url).unwrap().prefix("test:both:");
        let layer = ApiErrorsLayer::new()
            .retry(RetryPolicy::default().max_attempts(1))
            .quota(QuotaLayer::with_store(store.clone()).max_wait(Duration::from_secs(1)))
            .breaker(
                CircuitBreakerLayer::new()
                    .minimum_calls(1)
                    .failure_rate(0.1)
                    .shared(store.clone()),
            );
        let client = support::client::<tower_api_errors::retry::ReplayBody<Full<Bytes>>>();
        (store, layer.client(client))
    };
    let request = || {
        Request::get(format!("http://{addr}/v1"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let (store_a, a) = stack(&redis.url());
    for _ in 0..4 {
        let _ = support::bounded("A", a.clone().oneshot(request())).await;
    }
    let scope = ScopeKey::new(&addr.to_string(), None);
    let (ledger, opening) = (store_a.key(scope), store_a.opening_key(scope));
    let mut connection = admin(&redis.url()).await;
    // Both written under the one scope's digest, by the two layers.
    let deadline = Instant::now() + Duration::from_secs(5);
    for key in [&ledger, &opening] {
        loop {
            let exists: bool = redis::cmd("EXISTS")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            if exists {
                break;
            }
            assert!(Instant::now() < deadline, "{key} never written");
            tokio::task::yield_now().await;
        }
    }
    let (store_b, b) = stack(&redis.url());
    while store_b.opening(scope).is_none() {
        assert!(Instant::now() < deadline, "B never learned the opening");
        tokio::task::yield_now().await;
    }
    let before = sent.load(Ordering::SeqCst);
    for _ in 0..5 {
        let error = support::bounded("B", b.clone().oneshot(request()))
            .await
            .unwrap_err();
        assert!(error.circuit_open().is_some(), "B's call went: {error}");
    }
    assert_eq!(
        sent.load(Ordering::SeqCst),
        before,
        "B sent during the opening"
    );
}
