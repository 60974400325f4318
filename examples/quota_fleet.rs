//! A fleet of client processes against one quota: with and without the
//! quota layer, and with the quota shared through Redis.
//!
//! A loopback vendor enforces 300 requests per 10 s window (fixed windows,
//! one API key), announces the window in its headers (one run with
//! `X-RateLimit-*`, one with the IETF `RateLimit` / `RateLimit-Policy`
//! fields) and answers 429 + `Retry-After` when it is spent. A fleet of 4
//! client **processes** (this binary, re-executed) x 32 workers sends as fast
//! as it is allowed for a fixed time (3 windows; `--quick`: 1 window each).
//!
//! Rows: the retry layer only; `QuotaLayer` + `MemoryStore` (each process
//! learns alone); `QuotaLayer` + `RedisStore` (one learned window for the
//! fleet; needs `redis-server` on the PATH, started here on a free port);
//! and one process alone with `MemoryStore`.
//!
//! `cargo run --release --features redis --example quota_fleet [-- --quick]`
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::quota::{MemoryStore, QuotaLayer, RedisStore};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy};

const LIMIT: u64 = 300;
const WINDOW: Duration = Duration::from_secs(10);
const WORKERS: usize = 32;
const PROCESSES: usize = 4;
const CHILD: &str = "QUOTA_FLEET_CHILD";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The vendor: fixed windows from `start` (Unix ms).
struct Vendor {
    ietf: bool,
    start: u64,
    window: Mutex<(u64, u64)>,
    received: AtomicU64,
    throttled: AtomicU64,
}

impl Vendor {
    fn answer(&self) -> Response<Full<Bytes>> {
        self.received.fetch_add(1, Ordering::Relaxed);
        let elapsed = unix_ms().saturating_sub(self.start);
        let window_ms = WINDOW.as_millis() as u64;
        let index = elapsed / window_ms;
        // Delta seconds to the reset, rounded up (never announces it early).
        let reset = ((index + 1) * window_ms - elapsed).div_ceil(1000);
        let mut window = self.window.lock().unwrap();
        if window.0 != index {
            *window = (index, 0);
        }
        let spent = window.1 >= LIMIT;
        if !spent {
            window.1 += 1;
        }
        let remaining = LIMIT - window.1;
        drop(window);
        let mut response = Response::builder();
        if self.ietf {
            response = response
                .header(
                    "ratelimit-policy",
                    format!("\"default\";q={LIMIT};w={}", WINDOW.as_secs()),
                )
                .header("ratelimit", format!("\"default\";r={remaining};t={reset}"));
        } else {
            response = response
                .header("x-ratelimit-limit", LIMIT)
                .header("x-ratelimit-remaining", remaining)
                .header("x-ratelimit-reset", reset);
        }
        if spent {
            self.throttled.fetch_add(1, Ordering::Relaxed);
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
                let service = hyper::service::service_fn(move |_request| {
                    let answer = vendor.answer();
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

/// One client process: `mode vendor redis deadline_ms`; prints its figures.
async fn child(spec: &str) {
    let parts: Vec<&str> = spec.split(' ').collect();
    let [mode, vendor, redis, deadline] = parts.as_slice() else {
        panic!("bad spec {spec}")
    };
    let deadline: u64 = deadline.parse().unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
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
        .service(client)
        .boxed_clone();
    let results = Arc::new(Mutex::new((0u64, 0u64, Vec::new())));
    // When each success came back (Unix ms): the parent splits them by the
    // vendor's windows, to show how even each window's shares were.
    let success_times = Arc::new(Mutex::new(Vec::new()));
    let until =
        tokio::time::Instant::now() + Duration::from_millis(deadline.saturating_sub(unix_ms()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (service, results) = (service.clone(), results.clone());
            let success_times = success_times.clone();
            let url = format!("http://{vendor}/items");
            tokio::spawn(async move {
                loop {
                    let request = Request::get(&url).body(Full::new(Bytes::new())).unwrap();
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
                    if ok {
                        success_times.lock().unwrap().push(unix_ms());
                    }
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
    if let Some(store) = shared {
        eprintln!("local decisions: {}", store.local_decisions());
    }
    let results = results.lock().unwrap();
    let latencies: Vec<String> = results.2.iter().map(u64::to_string).collect();
    let times: Vec<String> = success_times
        .lock()
        .unwrap()
        .iter()
        .map(u64::to_string)
        .collect();
    println!("TIMES {}", times.join(","));
    println!("FLEET {} {} {}", results.0, results.1, latencies.join(","));
}

/// A `redis-server` of our own, on a free port, without persistence.
struct RedisServer(std::process::Child, u16);

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
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
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One row's figures.
struct Row {
    name: String,
    received: u64,
    throttled: u64,
    errors: u64,
    successes: Vec<u64>,
    latencies: Vec<u64>,
    capacity: u64,
}

impl Row {
    fn print(&self) {
        let per_1000 = self.throttled as f64 * 1000.0 / self.received.max(1) as f64;
        let used: u64 = self.successes.iter().sum();
        let fairness = match (self.successes.iter().min(), self.successes.iter().max()) {
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
        println!(
            "| {} | {} | {:.1} | {} | {:.1} % | {:.2} | {:.1} ms | {:.1} ms |",
            self.name,
            self.received,
            per_1000,
            self.errors,
            used as f64 * 100.0 / self.capacity as f64,
            fairness,
            pct(0.5),
            pct(0.99),
        );
    }
}

async fn run_row(
    name: &str,
    mode: &str,
    ietf: bool,
    processes: usize,
    windows: u64,
    redis: &str,
) -> Row {
    // Start on a window boundary of the wall clock plus a moment for the
    // children to start: the run covers exactly `windows` vendor windows.
    let start = unix_ms() + 300;
    let deadline = start + windows * WINDOW.as_millis() as u64;
    let vendor = Arc::new(Vendor {
        ietf,
        start,
        window: Mutex::new((0, 0)),
        received: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
    });
    let addr = serve(vendor.clone()).await;
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(unix_ms()))).await;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            tokio::process::Command::new(&exe)
                .env(CHILD, format!("{mode} {addr} {redis} {deadline}"))
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    let mut row = Row {
        name: name.to_owned(),
        received: 0,
        throttled: 0,
        errors: 0,
        successes: Vec::new(),
        latencies: Vec::new(),
        capacity: LIMIT * windows,
    };
    // Successes per vendor window, per process.
    let mut per_window = vec![Vec::new(); windows as usize];
    for child in children {
        let output = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut counts = vec![0u64; windows as usize];
        for time in stdout
            .lines()
            .find_map(|l| l.strip_prefix("TIMES "))
            .unwrap_or("")
            .split(',')
            .filter_map(|t| t.parse::<u64>().ok())
        {
            let index = (time.saturating_sub(start) / WINDOW.as_millis() as u64) as usize;
            if let Some(count) = counts.get_mut(index.min(windows as usize - 1)) {
                *count += 1;
            }
        }
        for (window, count) in per_window.iter_mut().zip(counts) {
            window.push(count);
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("FLEET "))
            .expect("a child's figures");
        let mut fields = line.splitn(3, ' ');
        let ok: u64 = fields.next().unwrap().parse().unwrap();
        let errors: u64 = fields.next().unwrap().parse().unwrap();
        row.successes.push(ok);
        row.errors += errors;
        row.latencies.extend(
            fields
                .next()
                .unwrap_or("")
                .split(',')
                .filter_map(|n| n.parse::<u64>().ok()),
        );
    }
    let shown: Vec<String> = per_window
        .iter()
        .enumerate()
        .map(|(i, counts)| format!("window {i}: {counts:?}"))
        .collect();
    eprintln!("{name}: successes per process, {}", shown.join("; "));
    row.received = vendor.received.load(Ordering::Relaxed);
    row.throttled = vendor.throttled.load(Ordering::Relaxed);
    row
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
        return;
    }
    let quick = std::env::args().any(|arg| arg == "--quick");
    let windows = if quick { 1 } else { 3 };
    let redis = RedisServer::start();
    if redis.is_none() {
        eprintln!("redis-server not found (apt-get install redis-server): the RedisStore rows are skipped");
    }
    let redis_url = redis
        .as_ref()
        .map_or_else(String::new, |r| format!("redis://127.0.0.1:{}/", r.1));
    println!(
        "{PROCESSES} processes x {WORKERS} workers, {} s per row; vendor: {LIMIT} requests per {} s window\n",
        windows * WINDOW.as_secs(),
        WINDOW.as_secs()
    );
    println!("| stack (headers) | requests received | 429s per 1,000 | errors surfaced | quota used | fairness (min/max) | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (headers, ietf) in [("X-RateLimit", false), ("IETF RateLimit", true)] {
        let mut rows = vec![
            ("retry layer only", "retry"),
            ("QuotaLayer + MemoryStore", "memory"),
        ];
        if redis.is_some() {
            rows.push(("QuotaLayer + RedisStore", "redis"));
        }
        for (name, mode) in rows {
            run_row(
                &format!("{name} ({headers})"),
                mode,
                ietf,
                PROCESSES,
                windows,
                &redis_url,
            )
            .await
            .print();
        }
    }
    run_row(
        "one process, QuotaLayer + MemoryStore (X-RateLimit)",
        "memory",
        false,
        1,
        windows,
        &redis_url,
    )
    .await
    .print();
}
