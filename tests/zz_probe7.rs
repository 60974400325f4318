//! Probe 7: the fleet quota store (`RedisStore`) on a real `redis-server`
//! under faults: Redis restarted empty, slow, refusing; its keys; a member
//! killed; many scopes.
#![cfg(feature = "redis")]

#[path = "support/captured_logs.rs"]
mod captured_logs;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use redis_server::{free_port, RedisServer};
use scripted::within;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{client, response, serve, ServerBody};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_api_errors::quota::{
    Grant, Observation, Permit, QuotaLayer, QuotaStore, RedisStore, ScopeKey, WindowReport,
};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn rt_current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A vendor enforcing `limit` per fixed `window`, announcing it in
/// `X-RateLimit-*` (reset in delta seconds, rounded up); 429 when spent.
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
            if std::env::var_os("P7_TRACE").is_some() {
                eprintln!("429 at {elapsed:?} (window {index})");
            }
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

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn keyed(addr: SocketAddr, key: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/items"))
        .header("x-api-key", key)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn admin(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn scan_all(connection: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// The calls of `command` (e.g. `evalsha`) Redis counted, from
/// `INFO commandstats`: (calls, failed + rejected).
async fn command_stats(
    connection: &mut redis::aio::MultiplexedConnection,
    command: &str,
) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info.lines().find(|l| l.starts_with(&prefix)) else {
        return (0, 0);
    };
    let field = |name: &str| {
        line[prefix.len()..]
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        field("calls"),
        field("failed_calls") + field("rejected_calls"),
    )
}

// ---------------------------------------------------------------------------
// Keys: TTL, hash tag, prefix, no partition value.
// ---------------------------------------------------------------------------

/// Every key the store writes has a TTL, lies under the prefix, carries its
/// scope's digest as a `{hash tag}`, and neither key, field nor value holds
/// a partition value (an API key).
#[test]
fn every_key_has_a_ttl_a_hash_tag_the_prefix_and_no_partition_value() {
    within(Duration::from_secs(20), rt, || async {
        let redis = RedisServer::start(free_port());
        let vendor = Vendor::new(1_000, Duration::from_secs(60));
        let addr = vendor.serve().await;
        let store = RedisStore::open(&redis.url())
            .unwrap()
            .prefix("p7:keys:")
            .timeout(Duration::from_secs(1));
        let service = QuotaLayer::with_store(store.clone())
            .partition(|request| {
                request
                    .headers()
                    .get("x-api-key")
                    .map(|key| key.as_bytes().to_vec())
            })
            .layer(client::<Full<Bytes>>());
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let service = service.clone();
                tokio::spawn(async move {
                    for _ in 0..3 {
                        let key = format!("sk-SECRET-{i:04}");
                        let answer = service.clone().oneshot(keyed(addr, &key)).await.unwrap();
                        assert_eq!(answer.status(), 200);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(!store.is_local());
        let mut connection = admin(&redis).await;
        let keys = scan_all(&mut connection).await;
        assert_eq!(keys.len(), 50, "one ledger per partition: {keys:?}");
        for key in &keys {
            assert!(key.starts_with("p7:keys:{"), "{key}");
            let tag = &key["p7:keys:".len()..];
            assert!(
                tag.len() == 18
                    && tag.ends_with('}')
                    && tag[1..17].bytes().all(|b| b.is_ascii_hexdigit()),
                "{key}"
            );
            let ttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert!(ttl > 0, "{key} has no TTL ({ttl})");
            let fields: Vec<String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            let text = format!("{key} {fields:?}");
            assert!(!text.contains("SECRET"), "{text}");
            assert!(!text.contains("sk-"), "{text}");
        }
    });
}

// ---------------------------------------------------------------------------
// Redis restarted empty mid-run.
// ---------------------------------------------------------------------------

/// Two members (two stores) with 3 workers each against a vendor of 15
/// per 2 s; after `restart_at`, Redis is killed and an empty one started
/// on the same port. Returns (ok, other statuses, errors, throttled,
/// received, is_local at the end, ledger exists at the end).
async fn fleet_across_a_restart(restart: bool) -> (u64, u64, u64, u64, u64, bool, bool) {
    fleet_run(FleetRun {
        restart,
        limit: 15,
        members: 2,
        late_start: Duration::ZERO,
        run: Duration::from_secs(9),
    })
    .await
}

#[derive(Clone, Copy)]
struct FleetRun {
    restart: bool,
    limit: u64,
    members: usize,
    /// How far into the vendor's first window the fleet starts.
    late_start: Duration,
    run: Duration,
}

async fn fleet_run(spec: FleetRun) -> (u64, u64, u64, u64, u64, bool, bool) {
    let FleetRun {
        restart,
        limit,
        members,
        late_start,
        run,
    } = spec;
    let port = free_port();
    let mut redis = Some(RedisServer::start(port));
    let url = redis.as_ref().unwrap().url();
    let vendor = Vendor::new(limit, Duration::from_secs(2));
    let addr = vendor.serve().await;
    tokio::time::sleep(late_start.saturating_sub(vendor.started.elapsed())).await;
    let stores: Vec<RedisStore> = (0..members)
        .map(|_| {
            RedisStore::open(&url)
                .unwrap()
                .prefix("p7:restart:")
                .timeout(Duration::from_millis(100))
        })
        .collect();
    let ok = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + run;
    let mut tasks = Vec::new();
    for store in &stores {
        let service = QuotaLayer::with_store(store.clone())
            .max_wait(Duration::from_secs(20))
            .layer(client::<Full<Bytes>>());
        for _ in 0..(6 / members) {
            let (service, ok, other, errors) =
                (service.clone(), ok.clone(), other.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    match service.clone().oneshot(get(addr)).await {
                        Ok(answer) if answer.status() == 200 => ok.fetch_add(1, Ordering::SeqCst),
                        Ok(_) => other.fetch_add(1, Ordering::SeqCst),
                        Err(error) => {
                            eprintln!("error at {:?}: {error:?}", Instant::now() - (end - run));
                            errors.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            }));
        }
    }
    if std::env::var_os("P7_TRACE").is_some() {
        let url = url.clone();
        let key = stores[0].key(ScopeKey::new(&addr.to_string(), None));
        let t0 = std::time::SystemTime::now() - vendor.started.elapsed();
        let t0 = t0
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        tokio::spawn(async move {
            let mut last = String::new();
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let Ok(client) = redis::Client::open(url.as_str()) else {
                    continue;
                };
                let Ok(mut c) = client.get_multiplexed_async_connection().await else {
                    continue;
                };
                let Ok(fields): Result<Vec<(String, String)>, _> =
                    redis::cmd("HGETALL").arg(&key).query_async(&mut c).await
                else {
                    continue;
                };
                let rel = |v: &str| {
                    v.parse::<i64>()
                        .map(|v| {
                            if v > 1_000_000_000 {
                                (v - t0).to_string()
                            } else {
                                v.to_string()
                            }
                        })
                        .unwrap_or(v.to_owned())
                };
                let text: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.split(':').map(|p| rel(p)).collect::<Vec<_>>().join(":")
                        )
                    })
                    .collect();
                let text = text.join(" ");
                if text != last {
                    eprintln!("ledger: {text}");
                    last = text;
                }
            }
        });
    }
    if restart {
        tokio::time::sleep(Duration::from_millis(3_300)).await;
        redis.as_mut().unwrap().kill();
        redis = Some(RedisServer::start(port));
        if std::env::var_os("P7_TRACE").is_some() {
            eprintln!("restarted at {:?}", vendor.started.elapsed());
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut connection = admin(redis.as_ref().unwrap()).await;
    let key = stores[0].key(ScopeKey::new(&addr.to_string(), None));
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    (
        ok.load(Ordering::SeqCst),
        other.load(Ordering::SeqCst),
        errors.load(Ordering::SeqCst),
        vendor.throttled.load(Ordering::SeqCst),
        vendor.received.load(Ordering::SeqCst),
        stores.iter().any(RedisStore::is_local),
        exists,
    )
}

/// A Redis killed and restarted empty on the same port mid-run (3.3 s into
/// a 9 s run of two members against 15 per 2 s): sharing resumes on the
/// same address, every request ends once, and the fleet does not burst
/// past the vendor's window: at most the one 429 per process a refill
/// confirmation is documented to cost (a run without the restart draws 0
/// in most runs, 2 at most).
// FAILS: (in 4 of 6 runs) 3-5 429s: the cautious shares round up (8 + 8 of 15) and, after the restart, a lease window guessed from the new ledger's partial first window ends ~160 ms before the vendor's reset and re-leases a stale `remaining` (10) in the same vendor window.
#[test]
fn redis_restarted_empty_mid_run_resumes_sharing_without_a_burst() {
    within(Duration::from_secs(20), rt, || async {
        let restarted = fleet_across_a_restart(true).await;
        eprintln!("restarted {restarted:?}");
        let (ok, other, errors, throttled, received, local, exists) = restarted;
        assert_eq!(errors, 0, "no request lost");
        assert_eq!(ok + other, received, "each sent once");
        assert!(!local && exists, "sharing resumed on the same address");
        assert!(throttled <= 2, "a burst past the window: {throttled} 429s");
    });
}

// ---------------------------------------------------------------------------
// Redis slow: CLIENT PAUSE past the store's timeout.
// ---------------------------------------------------------------------------

/// Redis paused (every client's commands held 1.5 s) while a process sends
/// steadily: requests fall back on the cautious share and none waits much
/// longer than the renewal's documented bound (250 ms at the default
/// 50 ms timeout, twice at most), and sharing resumes after.
#[test]
fn a_paused_redis_falls_back_and_no_request_waits_past_the_bound() {
    within(Duration::from_secs(20), rt, || async {
        let redis = RedisServer::start(free_port());
        let vendor = Vendor::new(100_000, Duration::from_secs(60));
        let addr = vendor.serve().await;
        let store = RedisStore::open(&redis.url()).unwrap().prefix("p7:slow:");
        let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
        // Warm: the scope is known and leased.
        for _ in 0..20 {
            let answer = service.clone().oneshot(get(addr)).await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        assert!(!store.is_local());
        let mut connection = admin(&redis).await;
        let () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1_500)
            .arg("ALL")
            .query_async(&mut connection)
            .await
            .unwrap();
        let paused = Instant::now();
        let slowest = Arc::new(Mutex::new(Duration::ZERO));
        let sent = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (service, slowest, sent) = (service.clone(), slowest.clone(), sent.clone());
                tokio::spawn(async move {
                    while paused.elapsed() < Duration::from_millis(3_000) {
                        let started = Instant::now();
                        let answer = service.clone().oneshot(get(addr)).await.unwrap();
                        assert_eq!(answer.status(), 200);
                        sent.fetch_add(1, Ordering::SeqCst);
                        let took = started.elapsed();
                        let mut slowest = slowest.lock().unwrap();
                        *slowest = (*slowest).max(took);
                    }
                })
            })
            .collect();
        let mut went_local = false;
        while paused.elapsed() < Duration::from_millis(3_000) {
            went_local |= store.is_local();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        let slowest = *slowest.lock().unwrap();
        eprintln!(
            "slowest {slowest:?}, sent {}, local decisions {}, commands {}",
            sent.load(Ordering::SeqCst),
            store.local_decisions(),
            store.commands()
        );
        assert!(went_local, "the pause was noticed");
        assert!(slowest < Duration::from_millis(600), "slowest {slowest:?}");
        // Sharing resumes after the pause.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.is_local() {
            let answer = service.clone().oneshot(get(addr)).await.unwrap();
            assert_eq!(answer.status(), 200);
            assert!(Instant::now() < deadline, "sharing did not resume");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

// ---------------------------------------------------------------------------
// Redis refusing: NOSCRIPT, OOM, NOAUTH.
// ---------------------------------------------------------------------------

/// SCRIPT FLUSH mid-run: the next call reloads the script once, and the
/// fleet goes on sharing; no storm of reloads.
#[test]
fn script_flush_mid_run_costs_one_reload_not_a_storm() {
    within(Duration::from_secs(20), rt, || async {
        let redis = RedisServer::start(free_port());
        let vendor = Vendor::new(100_000, Duration::from_secs(60));
        let addr = vendor.serve().await;
        let store = RedisStore::open(&redis.url()).unwrap().prefix("p7:flush:");
        let service = QuotaLayer::with_store(store.clone())
            .partition(|request| {
                request
                    .headers()
                    .get("x-api-key")
                    .map(|key| key.as_bytes().to_vec())
            })
            .layer(client::<Full<Bytes>>());
        let mut connection = admin(&redis).await;
        let send_round = |round: usize| {
            let service = service.clone();
            async move {
                let tasks: Vec<_> = (0..20)
                    .map(|i| {
                        let service = service.clone();
                        tokio::spawn(async move {
                            for _ in 0..5 {
                                let key = format!("k{i}");
                                let answer =
                                    service.clone().oneshot(keyed(addr, &key)).await.unwrap();
                                assert_eq!(answer.status(), 200, "round {round}");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            }
        };
        send_round(0).await;
        for flush in 0..5 {
            let () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut connection)
                .await
                .unwrap();
            send_round(flush + 1).await;
            // Lapse the leases so each scope renews.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (evalsha, evalsha_failed) = command_stats(&mut connection, "evalsha").await;
        let (eval, _) = command_stats(&mut connection, "eval").await;
        let (load, _) = command_stats(&mut connection, "script|load").await;
        eprintln!(
            "evalsha {evalsha} (failed {evalsha_failed}), eval {eval}, script load {load}, \
             commands {}, local {}",
            store.commands(),
            store.is_local()
        );
        assert!(
            evalsha_failed + eval + load <= 5 * 20 + 5,
            "reloads: evalsha failed {evalsha_failed}, eval {eval}, load {load}"
        );
    });
}

/// `maxmemory 1` with `noeviction`: Redis refuses every write that grows
/// memory (OOM). The store must not keep writing new ledgers into it
/// (documented: a Redis that fails is a fallback to the cautious share).
/// The CAS script deletes the key before its HSET: a script that already
/// wrote is let through Redis's OOM check, so new keys are created anyway.
// FAILS: the CAS script's DEL-before-HSET bypasses Redis's OOM guard: 20 new ledger keys are written into a Redis at maxmemory, the store never falls back.
#[test]
fn an_out_of_memory_redis_gets_no_new_ledgers() {
    within(Duration::from_secs(20), rt, || async {
        let redis = RedisServer::start(free_port());
        let vendor = Vendor::new(100_000, Duration::from_secs(60));
        let addr = vendor.serve().await;
        let store = RedisStore::open(&redis.url())
            .unwrap()
            .prefix("p7:oom:")
            .timeout(Duration::from_millis(200));
        let service = QuotaLayer::with_store(store.clone())
            .partition(|request| {
                request
                    .headers()
                    .get("x-api-key")
                    .map(|key| key.as_bytes().to_vec())
            })
            .layer(client::<Full<Bytes>>());
        let answer = service.clone().oneshot(keyed(addr, "first")).await.unwrap();
        assert_eq!(answer.status(), 200);
        let mut connection = admin(&redis).await;
        for (name, value) in [("maxmemory-policy", "noeviction"), ("maxmemory", "1")] {
            let () = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query_async(&mut connection)
                .await
                .unwrap();
        }
        // Redis refuses a plain write now.
        let refused: redis::RedisResult<()> = redis::cmd("SET")
            .arg("p7:oom:probe")
            .arg("x")
            .query_async(&mut connection)
            .await;
        assert!(refused.is_err(), "OOM is on");
        let keys_before = scan_all(&mut connection).await.len();
        for i in 0..20 {
            let key = format!("tenant-{i}");
            let answer = service.clone().oneshot(keyed(addr, &key)).await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        let keys_after = scan_all(&mut connection).await.len();
        eprintln!(
            "OOM: keys {keys_before} -> {keys_after}, local {}, commands {}",
            store.is_local(),
            store.commands()
        );
        assert_eq!(
            keys_after,
            keys_before,
            "new ledgers written into a Redis at maxmemory (noeviction); local {}",
            store.is_local()
        );
    });
}

/// The password changes and the store's connection is killed: every
/// reconnect is refused (WRONGPASS / NOAUTH). The store falls back, does
/// not reconnect in a storm, and its log line holds no password of its URL.
#[test]
fn a_redis_whose_password_changed_is_a_quiet_fallback() {
    within(Duration::from_secs(20), rt_current, || async {
        let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::NONE);
        let redis = RedisServer::start(free_port());
        let vendor = Vendor::new(100_000, Duration::from_secs(60));
        let addr = vendor.serve().await;
        // Connected before any password: stays authenticated throughout.
        let mut connection = admin(&redis).await;
        let set_password = |connection: &mut redis::aio::MultiplexedConnection, pw: &str| {
            let mut connection = connection.clone();
            let pw = pw.to_owned();
            async move {
                let () = redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("requirepass")
                    .arg(pw)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
            }
        };
        set_password(&mut connection, "pw-SECRET-one").await;
        let url = format!("redis://:pw-SECRET-one@127.0.0.1:{}/", redis.port);
        let store = RedisStore::open(&url).unwrap().prefix("p7:auth:");
        let service = QuotaLayer::with_store(store.clone()).layer(client::<Full<Bytes>>());
        for _ in 0..10 {
            let answer = service.clone().oneshot(get(addr)).await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        assert!(!store.is_local(), "the password was right");
        set_password(&mut connection, "pw-other").await;
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut connection)
            .await
            .unwrap();
        let connections = |connection: &mut redis::aio::MultiplexedConnection| {
            let mut connection = connection.clone();
            async move {
                let info: String = redis::cmd("INFO")
                    .arg("stats")
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                info.lines()
                    .find_map(|l| l.strip_prefix("total_connections_received:"))
                    .unwrap()
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            }
        };
        let connections_before = connections(&mut connection).await;
        let before = store.commands();
        let started = Instant::now();
        let mut sent = 0;
        let mut slowest = Duration::ZERO;
        while started.elapsed() < Duration::from_secs(3) {
            let one = Instant::now();
            let answer = service.clone().oneshot(get(addr)).await.unwrap();
            assert_eq!(answer.status(), 200);
            slowest = slowest.max(one.elapsed());
            sent += 1;
        }
        let opened = connections(&mut connection).await - connections_before;
        let during = store.commands() - before;
        eprintln!(
            "auth: {sent} requests, {during} commands, {opened} connections, local {}, slowest {slowest:?}",
            store.is_local()
        );
        let text = logs.text();
        eprintln!("logs: {text}");
        assert!(store.is_local());
        assert!(during <= 8, "{during} commands");
        assert!(opened <= 16, "{opened} connections in 3 s");
        assert!(slowest < Duration::from_secs(1), "{slowest:?}");
        assert!(text.contains("quota_store_local"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    });
}

// ---------------------------------------------------------------------------
// A member killed.
// ---------------------------------------------------------------------------

// FAILS: B is held to the window's end (47 s) with `hold_until = lease_end` though A's 9 unused units return to the ledger at 10 s (a new member C gets them at once).
/// Member A leases units it never uses, then its process dies (the store
/// dropped). B, which wants more than its share, gets A's units within
/// two lease intervals (10 s), as documented.
#[test]
fn a_dead_members_unused_lease_comes_back_within_two_lease_intervals() {
    within(Duration::from_secs(20), rt, || async {
        let redis = RedisServer::start(free_port());
        let open = || {
            RedisStore::open(&redis.url())
                .unwrap()
                .prefix("p7:dead:")
                .timeout(Duration::from_secs(2))
        };
        let (a, b) = (open(), open());
        let scope = ScopeKey::new("api.test", None);
        let max = Duration::from_secs(120);
        // 20 a minute, all left.
        let window = WindowReport::new(
            None,
            Some(20),
            Some(20),
            Some(Duration::from_secs(60)),
            None,
        );
        let unheld = Permit::new(scope, 1, false, 0);
        a.settle(unheld, &Observation::new().with_window(window))
            .await;
        let Grant::Go { permit, .. } = b.acquire(scope, 1, max).await else {
            panic!("B's first")
        };
        b.release(permit);
        // A takes its share and holds the permits (in flight when it dies).
        let mut a_taken = Vec::new();
        loop {
            match a.acquire(scope, 1, max).await {
                Grant::Go { permit, .. } => a_taken.push(permit),
                Grant::Wait(_) => break,
                other => panic!("{other:?}"),
            }
        }
        // A gives back all but one, unused (never sent), then dies.
        for permit in a_taken.drain(1..) {
            a.release(permit);
        }
        let a_count = 1;
        drop(a);
        let started = Instant::now();
        let mut b_taken = 0;
        let mut last_wait = Duration::ZERO;
        while started.elapsed() < Duration::from_secs(13) && b_taken < 20 - a_count {
            match b.acquire(scope, 1, max).await {
                Grant::Go { .. } => b_taken += 1,
                Grant::Wait(wait) => {
                    last_wait = wait;
                    tokio::time::sleep(wait.min(Duration::from_millis(500))).await
                }
                other => panic!("{other:?}"),
            }
        }
        // (Diagnostic: a member that asks now finds A's units back in the ledger.)
        let c = open();
        let mut c_taken = 0;
        while let Grant::Go { .. } = c.acquire(scope, 1, max).await {
            c_taken += 1;
        }
        eprintln!(
            "B took {b_taken} in {:?} (last wait {last_wait:?}); a new member C then took {c_taken}",
            started.elapsed()
        );
        assert!(
            b_taken >= 20 - a_count - 1,
            "B got {b_taken} of the {} A left unused, within 13 s (last wait {last_wait:?})",
            20 - a_count
        );
    });
}

// ---------------------------------------------------------------------------
// Many scopes.
// ---------------------------------------------------------------------------

/// 1,000 partitions on one store: after every scope is learned, steady
/// traffic costs few Redis commands per request.
#[test]
fn a_thousand_scopes_cost_few_commands_per_request_in_steady_state() {
    within(Duration::from_secs(30), rt, || async {
        let redis = RedisServer::start(free_port());
        let vendor = Vendor::new(1_000_000, Duration::from_secs(60));
        let addr = vendor.serve().await;
        let store = RedisStore::open(&redis.url())
            .unwrap()
            .prefix("p7:many:")
            .timeout(Duration::from_secs(1));
        let service = QuotaLayer::with_store(store.clone())
            .partition(|request| {
                request
                    .headers()
                    .get("x-api-key")
                    .map(|key| key.as_bytes().to_vec())
            })
            .layer(client::<Full<Bytes>>());
        let round = |each: usize| {
            let service = service.clone();
            async move {
                let tasks: Vec<_> = (0..1_000)
                    .map(|i| {
                        let service = service.clone();
                        tokio::spawn(async move {
                            for _ in 0..each {
                                let key = format!("tenant-{i}");
                                let answer =
                                    service.clone().oneshot(keyed(addr, &key)).await.unwrap();
                                assert_eq!(answer.status(), 200);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            }
        };
        let started = Instant::now();
        round(2).await;
        let warm = store.commands();
        eprintln!("warm-up: {warm} commands in {:?}", started.elapsed());
        let received = vendor.received.load(Ordering::SeqCst);
        let started = Instant::now();
        round(10).await;
        let steady = store.commands() - warm;
        let requests = vendor.received.load(Ordering::SeqCst) - received;
        eprintln!(
            "steady: {steady} commands for {requests} requests in {:?}",
            started.elapsed()
        );
        assert!(!store.is_local());
        assert!(
            steady as f64 / requests as f64 <= 0.2,
            "{steady} commands for {requests} requests"
        );
    });
}

// ---------------------------------------------------------------------------
// The cautious share while Redis is down.
// ---------------------------------------------------------------------------

// FAILS: each member's fallback share is limit.div_ceil(members) = 2: the fleet admits 8 in a window of 6.
/// Four members share a window of 6 (per 1.5 s); Redis dies; in the next
/// window each falls back on "the last known limit divided by the last
/// known members". A cautious share of a fleet adds up to the limit at
/// most: here it is ceil(6 / 4) = 2 each, 8 of 6.
#[test]
fn the_fleets_cautious_shares_add_up_to_no_more_than_the_limit() {
    within(Duration::from_secs(20), rt, || async {
        let mut redis = RedisServer::start(free_port());
        let stores: Vec<RedisStore> = (0..4)
            .map(|_| {
                RedisStore::open(&redis.url())
                    .unwrap()
                    .prefix("p7:share:")
                    .timeout(Duration::from_millis(200))
            })
            .collect();
        let scope = ScopeKey::new("api.test", None);
        let max = Duration::from_secs(120);
        let window = WindowReport::new(
            None,
            Some(6),
            Some(6),
            Some(Duration::from_millis(1_500)),
            None,
        );
        // A cold start: store 0 probes, the others join while it does;
        // its answer's window is held while the fleet joins, then leased
        // in fair shares, each member knowing that the fleet has four.
        let Grant::Go { permit, .. } = stores[0].acquire(scope, 1, max).await else {
            panic!("the probe")
        };
        for store in &stores[1..] {
            assert!(matches!(store.acquire(scope, 1, max).await, Grant::Wait(_)));
        }
        stores[0]
            .settle(permit, &Observation::new().with_window(window))
            .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        for store in &stores {
            while let Grant::Go { .. } = store.acquire(scope, 1, max).await {}
        }
        assert!(stores.iter().all(|s| !s.is_local()));
        redis.kill();
        // The next window (its reset unknown: nothing answered in it yet).
        tokio::time::sleep(Duration::from_millis(1_700)).await;
        let mut granted = Vec::new();
        for store in &stores {
            let mut n = 0;
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(1_000) {
                match store.acquire(scope, 1, max).await {
                    Grant::Go { .. } => n += 1,
                    Grant::Wait(wait) => {
                        tokio::time::sleep(wait.min(Duration::from_millis(100))).await
                    }
                    other => panic!("{other:?}"),
                }
            }
            granted.push(n);
        }
        eprintln!(
            "granted in the window after Redis died: {granted:?}, local {:?}",
            stores.iter().map(RedisStore::is_local).collect::<Vec<_>>()
        );
        assert!(stores.iter().all(RedisStore::is_local));
        let total: u64 = granted.iter().sum();
        assert!(
            total <= 6,
            "the fleet's cautious shares: {granted:?} = {total} of 6"
        );
    });
}
