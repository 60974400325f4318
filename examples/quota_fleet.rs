//! A fleet of client processes against one quota: with and without the
//! quota layer, with the quota shared through Redis, and the faults a
//! fleet meets (a cold start, a vendor that announces nothing, a process
//! killed, Redis stopped).
//!
//! A loopback vendor enforces 300 requests per 10 s window (fixed windows,
//! one API key), announces the window in its headers (`X-RateLimit-*`, the
//! IETF `RateLimit` / `RateLimit-Policy` fields, or nothing at all) and
//! answers 429 + `Retry-After` when it is spent. A fleet of client
//! **processes** (this binary, re-executed) x workers sends as fast as it
//! is allowed for a fixed time; the vendor counts each window's successes
//! per process (a request names its process in `x-client`).
//!
//! Scenarios (rows): 4 x 32 with `MemoryStore` and with `RedisStore`
//! (both header families); one process of 128 workers with `MemoryStore`;
//! 8 x 64 cold start, with and without quota
//! headers; a vendor without quota headers; one process killed at 15 s;
//! Redis stopped from 12 s to 22 s.
//! `RedisStore` rows need `redis-server` on the PATH (started here on a
//! free port).
//!
//! `cargo run --release --features redis --example quota_fleet [-- --quick | --windows N] [-- --only NAME]`
//! (`QUOTA_FLEET_LIMIT=50 QUOTA_FLEET_WINDOW=5` for another quota,
//! `QUOTA_FLEET_BUCKET=1` for a token-bucket vendor,
//! `QUOTA_FLEET_RESET_EPOCH=1` for resets in Unix seconds, as GitHub sends,
//! `QUOTA_FLEET_RESET_FLOOR=1` for delta seconds truncated, not rounded up)
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::quota::{MemoryStore, QuotaLayer, RedisStore};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy};

/// The vendor's quota: `QUOTA_FLEET_LIMIT` requests (300 by default) per
/// `QUOTA_FLEET_WINDOW` seconds (10), so that the mechanisms can be tried
/// on other quotas than the one they are usually measured on.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
static LIMIT: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| env_or("QUOTA_FLEET_LIMIT", 300));
static WINDOW: std::sync::LazyLock<Duration> =
    std::sync::LazyLock::new(|| Duration::from_secs(env_or("QUOTA_FLEET_WINDOW", 10)));
/// With `QUOTA_FLEET_RESET_EPOCH=1`, `X-RateLimit-Reset` is the reset's
/// Unix time in seconds (GitHub's form), not delta seconds.
static RESET_EPOCH: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("QUOTA_FLEET_RESET_EPOCH").is_some());
static RESET_FLOOR: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("QUOTA_FLEET_RESET_FLOOR").is_some());
const CHILD: &str = "QUOTA_FLEET_CHILD";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the vendor announces.
#[derive(Clone, Copy, PartialEq)]
enum Headers {
    XRateLimit,
    Ietf,
    Nothing,
}

/// One vendor window's figures.
#[derive(Clone, Default)]
struct WindowStats {
    received: u64,
    throttled: u64,
    /// Successes per client process.
    successes: Vec<u64>,
}

/// The vendor: fixed windows from `start` (Unix ms), or with
/// `QUOTA_FLEET_BUCKET=1` a token bucket (`LIMIT` tokens, refilled at
/// `LIMIT` per `WINDOW`, as Stripe's and Shopify's limits work): its 429s'
/// `Retry-After` is the time to the next token, and its headers announce
/// the tokens left and the time until the bucket is full.
struct Vendor {
    headers: Headers,
    /// The token bucket's tokens and when they were counted (Unix ms).
    bucket: Option<Mutex<(f64, u64)>>,
    start: u64,
    windows: Mutex<Vec<WindowStats>>,
}

impl Vendor {
    fn answer(&self, client: usize) -> Response<Full<Bytes>> {
        let elapsed = unix_ms().saturating_sub(self.start);
        let window_ms = WINDOW.as_millis() as u64;
        let index = (elapsed / window_ms) as usize;
        // Delta seconds to the reset, rounded up (never announces it
        // early), or down with `QUOTA_FLEET_RESET_FLOOR=1` (0 in a window's
        // last second, as vendors that truncate send).
        let to_reset = (index as u64 + 1) * window_ms - elapsed;
        let reset =
            to_reset.div_ceil(1000) - u64::from(*RESET_FLOOR && !to_reset.is_multiple_of(1000));
        let mut windows = self.windows.lock().unwrap();
        if windows.len() <= index {
            windows.resize(index + 1, WindowStats::default());
        }
        let stats = &mut windows[index];
        stats.received += 1;
        let used: u64 = stats.successes.iter().sum();
        let (mut spent, mut remaining, mut reset) = (used >= *LIMIT, 0, reset);
        if let Some(bucket) = &self.bucket {
            let rate = *LIMIT as f64 / window_ms as f64;
            let mut bucket = bucket.lock().unwrap();
            let now = unix_ms();
            let tokens = (bucket.0 + (now - bucket.1) as f64 * rate).min(*LIMIT as f64);
            spent = tokens < 1.0;
            *bucket = (tokens - f64::from(u8::from(!spent)), now);
            remaining = bucket.0 as u64;
            let wanted = if spent {
                1.0 - bucket.0
            } else {
                *LIMIT as f64 - bucket.0
            };
            reset = (wanted / rate / 1000.0).ceil() as u64;
        }
        if spent {
            stats.throttled += 1;
        } else {
            if stats.successes.len() <= client {
                stats.successes.resize(client + 1, 0);
            }
            stats.successes[client] += 1;
        }
        if self.bucket.is_none() {
            remaining = *LIMIT - used - u64::from(!spent);
        }
        drop(windows);
        let mut response = Response::builder();
        match self.headers {
            Headers::Ietf => {
                response = response
                    .header(
                        "ratelimit-policy",
                        format!("\"default\";q={};w={}", *LIMIT, WINDOW.as_secs()),
                    )
                    .header("ratelimit", format!("\"default\";r={remaining};t={reset}"));
            }
            Headers::XRateLimit => {
                response = response
                    .header("x-ratelimit-limit", *LIMIT)
                    .header("x-ratelimit-remaining", remaining)
                    .header(
                        "x-ratelimit-reset",
                        reset + u64::from(*RESET_EPOCH) * unix_ms() / 1000,
                    );
            }
            Headers::Nothing => {}
        }
        if spent {
            // seeds/004's 429 body.
            return response
                .status(429)
                .header("retry-after", reset)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(
                    br#"{"error": "Rate Limit Exceeded", "message": "Too many requests per minute"}"#,
                )))
                .unwrap();
        }
        response.body(Full::new(Bytes::from_static(b"{}"))).unwrap()
    }
}

async fn serve(vendor: Arc<Vendor>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let vendor = vendor.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let client = request
                        .headers()
                        .get("x-client")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(0);
                    let answer = vendor.answer(client);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// One client process: `mode vendor redis deadline_ms workers client`;
/// prints its figures.
async fn child(spec: &str) {
    let parts: Vec<&str> = spec.split(' ').collect();
    let [mode, vendor, redis, deadline, workers, client] = parts.as_slice() else {
        panic!("bad spec {spec}")
    };
    let deadline: u64 = deadline.parse().unwrap();
    let http = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let shared = (*mode == "redis").then(|| {
        RedisStore::open(redis)
            .unwrap()
            .prefix(&format!("fleet:{deadline}:"))
    });
    let quota = match (*mode, &shared) {
        ("retry", _) => None,
        ("memory", _) => Some(QuotaLayer::with_store(MemoryStore::new())),
        ("redis", Some(store)) => Some(QuotaLayer::with_store(store.clone())),
        (other, _) => panic!("unknown mode {other}"),
    };
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .option_layer(quota)
        .layer(ErrorBodyParseLayer::new())
        .service(http)
        .boxed_clone();
    let results = Arc::new(Mutex::new((0u64, 0u64, Vec::new())));
    let until =
        tokio::time::Instant::now() + Duration::from_millis(deadline.saturating_sub(unix_ms()));
    let workers: Vec<_> = (0..workers.parse::<usize>().unwrap())
        .map(|_| {
            let (service, results) = (service.clone(), results.clone());
            let url = format!("http://{vendor}/items");
            let client = client.to_string();
            tokio::spawn(async move {
                loop {
                    let request = Request::get(&url)
                        .header("x-client", &client)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let started = tokio::time::Instant::now();
                    let outcome = tokio::select! {
                        outcome = service.clone().oneshot(request) => outcome,
                        // Requests still running (held) at the end are dropped: cancelled, not failed.
                        _ = tokio::time::sleep_until(until) => return,
                    };
                    let ok = match outcome {
                        Ok(response) if response.status() == 200 => {
                            let _ = response.into_body().collect().await;
                            true
                        }
                        _ => false,
                    };
                    let latency = started.elapsed().as_micros() as u64;
                    let mut results = results.lock().unwrap();
                    if ok {
                        results.0 += 1;
                    } else {
                        results.1 += 1;
                    }
                    results.2.push(latency);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let commands = shared.as_ref().map_or(0, RedisStore::commands);
    if let Some(store) = shared {
        eprintln!("local decisions: {}", store.local_decisions());
    }
    let results = results.lock().unwrap();
    let latencies: Vec<String> = results.2.iter().map(u64::to_string).collect();
    println!("COMMANDS {commands}");
    println!("FLEET {} {} {}", results.0, results.1, latencies.join(","));
}

/// A `redis-server` of our own, on a fixed port, without persistence.
struct RedisServer(std::process::Child, u16);

impl RedisServer {
    fn free_port() -> Option<u16> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        Some(listener.local_addr().ok()?.port())
    }

    fn start(port: u16) -> Option<RedisServer> {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut lines = BufReader::new(child.stdout.take()?).lines();
        let ready = lines
            .by_ref()
            .take(200)
            .map_while(Result::ok)
            .any(|l| l.contains("Ready to accept connections"));
        std::thread::spawn(move || lines.for_each(drop));
        ready.then_some(RedisServer(child, port))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.1)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scenario: the fleet, the vendor, and what goes wrong.
struct Scenario {
    name: &'static str,
    mode: &'static str,
    headers: Headers,
    processes: usize,
    workers: usize,
    /// Kill process 0 this long into the run.
    kill_at: Option<Duration>,
    /// Stop Redis for this span of the run.
    redis_down: Option<(Duration, Duration)>,
    /// The fleet starts this far into a vendor window (as any fleet does
    /// against a vendor whose windows follow its own clock); the run then
    /// covers that window's rest and `windows` whole ones.
    late_by: Duration,
}

/// One row's figures.
struct Row {
    windows: Vec<WindowStats>,
    errors: u64,
    latencies: Vec<u64>,
    commands: u64,
    processes: usize,
}

impl Row {
    fn print(&self, scenario: &Scenario) {
        let received: u64 = self.windows.iter().map(|w| w.received).sum();
        let throttled: u64 = self.windows.iter().map(|w| w.throttled).sum();
        let per_1000 = throttled as f64 * 1000.0 / received.max(1) as f64;
        let mut per_process = vec![0u64; self.processes];
        for window in &self.windows {
            for (process, count) in window.successes.iter().enumerate() {
                per_process[process.min(self.processes - 1)] += count;
            }
        }
        // A killed process is left out of fairness.
        let skip = usize::from(scenario.kill_at.is_some());
        let alive = &per_process[skip..];
        let used: u64 = per_process.iter().sum();
        let fairness = match (alive.iter().min(), alive.iter().max()) {
            (Some(min), Some(max)) if *max > 0 => *min as f64 / *max as f64,
            _ => 0.0,
        };
        let mut latencies = self.latencies.clone();
        latencies.sort_unstable();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |us| *us as f64 / 1000.0)
        };
        let capacity = *LIMIT * self.windows.len() as u64;
        println!(
            "| {} | {} | {:.1} | {} | {:.1} % | {:.2} | {:.3} | {:.1} ms | {:.1} ms |",
            scenario.name,
            received,
            per_1000,
            self.errors,
            used as f64 * 100.0 / capacity.max(1) as f64,
            fairness,
            self.commands as f64 / received.max(1) as f64,
            pct(0.5),
            pct(0.99),
        );
        for (index, window) in self.windows.iter().enumerate() {
            println!(
                "|   window {index} | {} | {:.1} | | {} | | | | |  successes per process {:?}",
                window.received,
                window.throttled as f64 * 1000.0 / window.received.max(1) as f64,
                window.successes.iter().sum::<u64>(),
                window.successes,
            );
        }
    }
}

async fn run_row(scenario: &Scenario, windows: u64, redis: &mut Option<RedisServer>) -> Row {
    // Start on a fixed offset of the wall clock, with a moment for the
    // children to start: the run covers exactly `windows` vendor windows.
    let start = unix_ms() + 300;
    let late_by = scenario.late_by.as_millis() as u64;
    let windows = windows + u64::from(late_by > 0);
    let deadline = start - late_by + windows * WINDOW.as_millis() as u64;
    let bucket = std::env::var_os("QUOTA_FLEET_BUCKET")
        .map(|_| Mutex::new((*LIMIT as f64, start - late_by)));
    let vendor = Arc::new(Vendor {
        headers: scenario.headers,
        bucket,
        start: start - late_by,
        windows: Mutex::new(Vec::new()),
    });
    let addr = serve(vendor.clone()).await;
    let url = redis.as_ref().map_or_else(String::new, RedisServer::url);
    let port = redis.as_ref().map_or(0, |r| r.1);
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(unix_ms()))).await;
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..scenario.processes)
        .map(|client| {
            let spec = format!(
                "{} {addr} {url} {deadline} {} {client}",
                scenario.mode, scenario.workers
            );
            tokio::process::Command::new(&exe)
                .env(CHILD, spec)
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    let began = tokio::time::Instant::now();
    if let Some(at) = scenario.kill_at {
        tokio::time::sleep_until(began + at).await;
        children[0].start_kill().unwrap();
    }
    if let Some((from, to)) = scenario.redis_down {
        tokio::time::sleep_until(began + from).await;
        *redis = None;
        tokio::time::sleep_until(began + to).await;
        *redis = RedisServer::start(port);
    }
    let mut row = Row {
        windows: Vec::new(),
        errors: 0,
        latencies: Vec::new(),
        commands: 0,
        processes: scenario.processes,
    };
    for child in children {
        let output = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        row.commands += stdout
            .lines()
            .find_map(|l| l.strip_prefix("COMMANDS "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("FLEET ")) else {
            continue; // the killed process
        };
        let mut fields = line.splitn(3, ' ');
        let _ok: u64 = fields.next().unwrap().parse().unwrap();
        row.errors += fields.next().unwrap().parse::<u64>().unwrap();
        row.latencies.extend(
            fields
                .next()
                .unwrap_or("")
                .split(',')
                .filter_map(|n| n.parse::<u64>().ok()),
        );
    }
    let mut stats = vendor.windows.lock().unwrap().clone();
    stats.truncate(windows as usize);
    row.windows = stats;
    row
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let only = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let windows = match args.iter().position(|arg| arg == "--windows") {
        Some(i) => args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(3),
        None if quick => 1,
        None => 3,
    };
    let mut redis = RedisServer::free_port().and_then(RedisServer::start);
    if redis.is_none() {
        eprintln!("redis-server not found (apt-get install redis-server): the RedisStore rows are skipped");
    }
    let base = |name, mode, headers, processes, workers| Scenario {
        name,
        mode,
        headers,
        processes,
        workers,
        kill_at: None,
        redis_down: None,
        late_by: Duration::ZERO,
    };
    use Headers::{Ietf, Nothing, XRateLimit};
    let scenarios = vec![
        base(
            "4 x 32, MemoryStore (X-RateLimit)",
            "memory",
            XRateLimit,
            4,
            32,
        ),
        base(
            "4 x 32, RedisStore (X-RateLimit)",
            "redis",
            XRateLimit,
            4,
            32,
        ),
        base("4 x 32, RedisStore (IETF RateLimit)", "redis", Ietf, 4, 32),
        base(
            "8 x 64 cold start, RedisStore (X-RateLimit)",
            "redis",
            XRateLimit,
            8,
            64,
        ),
        base(
            "8 x 64 cold start, RedisStore (no quota headers)",
            "redis",
            Nothing,
            8,
            64,
        ),
        base(
            "1 x 128, MemoryStore (X-RateLimit)",
            "memory",
            XRateLimit,
            1,
            128,
        ),
        base(
            "1 x 128, MemoryStore (no quota headers)",
            "memory",
            Nothing,
            1,
            128,
        ),
        base(
            "4 x 32, MemoryStore (no quota headers)",
            "memory",
            Nothing,
            4,
            32,
        ),
        base(
            "4 x 32, RedisStore (no quota headers)",
            "redis",
            Nothing,
            4,
            32,
        ),
        Scenario {
            late_by: Duration::from_secs(6),
            ..base(
                "4 x 32, RedisStore (no quota headers, 6 s into a window)",
                "redis",
                Nothing,
                4,
                32,
            )
        },
        Scenario {
            kill_at: Some(Duration::from_secs(15)),
            ..base(
                "4 x 32, one process killed at 15 s, RedisStore",
                "redis",
                XRateLimit,
                4,
                32,
            )
        },
        Scenario {
            redis_down: Some((Duration::from_secs(12), Duration::from_secs(22))),
            ..base(
                "4 x 32, Redis stopped 12-22 s, RedisStore",
                "redis",
                XRateLimit,
                4,
                32,
            )
        },
    ];
    println!(
        "{} s per row; vendor: {} requests per {} s window\n",
        windows * WINDOW.as_secs(),
        *LIMIT,
        WINDOW.as_secs()
    );
    println!("| scenario | requests received | 429s per 1,000 | errors surfaced | quota used | fairness (min/max) | Redis commands per request | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for scenario in &scenarios {
        let wanted = only.as_deref().is_none_or(|o| scenario.name.contains(o));
        if !wanted || (scenario.mode == "redis" && redis.is_none()) {
            continue;
        }
        // Every row starts on an empty Redis (its own key prefix too).
        run_row(scenario, windows, &mut redis).await.print(scenario);
    }
}
