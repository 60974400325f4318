//! The circuit breaker and hedging, against real loopback hyper servers
//! with injected faults, in real time (about 20 s):
//!
//! 1. **A vendor down for 5 s** that answers 503 with `Retry-After: 3`; a
//!    call every 20 ms for 12 s through the breaker. When was the first
//!    probe sent after the opening, how soon after the vendor came back
//!    did calls succeed again, and how fast (and unsent) were the refusals?
//! 2. **A vendor that only rate limits**: half its answers are 429 with
//!    `Retry-After` and quota headers. Did the breaker ever open?
//! 3. **A long tail**: 2 % of responses take 1 s, the rest 5 ms; 16 workers
//!    make 2,000 calls, without and then with `HedgeLayer::percentile(0.95)`;
//!    the server announces a quota of 2,500 per 10 s and answers 429 past it.
//!
//! `cargo run --release --example resilience`; the table is in
//! `BENCHMARKS.md` ("Circuit breaking and hedging").

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{Error, ErrorBodyParseLayer};

type Body = Full<Bytes>;

/// Serves `handler` on 127.0.0.1 (port 0).
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = handler(req);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn respond(status: u16, headers: &[(&str, String)]) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(Bytes::from_static(b"{}"))).unwrap()
}

fn get(addr: SocketAddr) -> Request<Body> {
    Request::get(format!("http://{addr}/v1/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

/// Experiment 1's figures.
struct Down {
    opened_at: Duration,
    first_probe: Duration,
    recovered: Duration,
    refused: usize,
    sent_while_open: usize,
    refusal_p50: Duration,
    refusal_p99: Duration,
}

async fn down_vendor() -> Down {
    const DOWN: Duration = Duration::from_secs(5);
    let start = Instant::now();
    let sends = Arc::new(Mutex::new(Vec::new()));
    let log = sends.clone();
    let addr = serve(move |_req| {
        let at = start.elapsed();
        log.lock().unwrap().push(at);
        async move {
            match at < DOWN {
                true => respond(503, &[("retry-after", "3".into())]),
                false => respond(200, &[]),
            }
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
    let (mut opened_at, mut recovered, mut refusals) = (None, None, Vec::new());
    // When the last failure before the first refusal was answered: the
    // moment the breaker opened.
    let mut last_failure = Duration::ZERO;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while start.elapsed() < Duration::from_secs(12) {
        tick.tick().await;
        let began = Instant::now();
        match client.clone().oneshot(get(addr)).await {
            Err(Error::CircuitOpen(_)) => {
                refusals.push(began.elapsed());
                opened_at.get_or_insert(last_failure);
            }
            Ok(_) if began - start >= DOWN => {
                recovered.get_or_insert(began - start);
            }
            Ok(_) => {}
            Err(_) => last_failure = start.elapsed(),
        }
    }
    let opened_at = opened_at.expect("it opened");
    let sends = sends.lock().unwrap();
    let while_open: Vec<_> = sends.iter().filter(|at| **at > opened_at).collect();
    let recovered = recovered.expect("it recovered");
    Down {
        opened_at,
        first_probe: *while_open[0],
        recovered,
        refused: refusals.len(),
        sent_while_open: while_open.iter().filter(|at| ***at < recovered).count(),
        refusal_p50: quantile(&mut refusals, 0.5),
        refusal_p99: quantile(&mut refusals, 0.99),
    }
}

/// Experiment 2: calls made, refusals by the breaker, 429s seen.
async fn rate_limiting_vendor() -> (u64, u64, u64) {
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let addr = serve(move |_req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut headers = vec![
                ("x-ratelimit-limit", "100".to_string()),
                ("x-ratelimit-remaining", (100 - (n % 100)).to_string()),
                ("x-ratelimit-reset", "30".to_string()),
            ];
            if n.is_multiple_of(2) {
                headers.push(("retry-after", "1".into()));
                respond(429, &headers)
            } else {
                respond(200, &headers)
            }
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
    let (mut refused, mut limited) = (0, 0);
    for _ in 0..500 {
        match client.clone().oneshot(get(addr)).await {
            Err(Error::CircuitOpen(_)) => refused += 1,
            Err(error) if error.api().is_some_and(|api| api.is_rate_limited()) => limited += 1,
            _ => {}
        }
    }
    (served.load(Ordering::SeqCst), refused, limited)
}

/// What the long-tail server counted.
#[derive(Default)]
struct Tail {
    requests: AtomicU64,
    throttled: AtomicU64,
    window: Mutex<(u64, u64)>,
}

const QUOTA: u64 = 2_500;
const CALLS: usize = 2_000;
const WORKERS: usize = 16;

async fn long_tail_server(tail: Arc<Tail>) -> SocketAddr {
    let start = Instant::now();
    serve(move |_req| {
        let tail = tail.clone();
        async move {
            let n = tail.requests.fetch_add(1, Ordering::SeqCst);
            let used = {
                let mut window = tail.window.lock().unwrap();
                let now = start.elapsed().as_secs() / 10;
                if window.0 != now {
                    *window = (now, 0);
                }
                window.1 += 1;
                window.1
            };
            if used > QUOTA {
                tail.throttled.fetch_add(1, Ordering::SeqCst);
                return respond(429, &[("retry-after", "1".into())]);
            }
            // A seeded 2 %: the same request index is always slow.
            let slow = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32 & 0xffff < 0xffff / 50;
            let delay = if slow { 1000 } else { 5 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let reset = 10 - start.elapsed().as_secs() % 10;
            let headers = [
                ("x-ratelimit-limit", QUOTA.to_string()),
                ("x-ratelimit-remaining", (QUOTA - used).to_string()),
                ("x-ratelimit-reset", reset.to_string()),
            ];
            respond(200, &headers)
        }
    })
    .await
}

/// `CALLS` GETs by `WORKERS` workers: every call's latency.
async fn drive<S>(client: S, addr: SocketAddr) -> Vec<Duration>
where
    S: Service<Request<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
{
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for _ in 0..CALLS / WORKERS {
                    let began = Instant::now();
                    let _ = client.clone().oneshot(get(addr)).await;
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(CALLS);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all
}

/// One long-tail run's figures: p50, p99, extra requests, 429s.
struct TailRun {
    p50: Duration,
    p99: Duration,
    extra: u64,
    throttled: u64,
}

async fn long_tail(hedged: bool) -> TailRun {
    let tail = Arc::new(Tail::default());
    let addr = long_tail_server(tail.clone()).await;
    let mut latencies = if hedged {
        let client = ServiceBuilder::new()
            .layer(HedgeLayer::percentile(0.95))
            .layer(ErrorBodyParseLayer::new())
            .service(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Body>>());
        drive(client, addr).await
    } else {
        let client = ServiceBuilder::new()
            .layer(ErrorBodyParseLayer::new())
            .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
        drive(client, addr).await
    };
    TailRun {
        p50: quantile(&mut latencies, 0.5),
        p99: quantile(&mut latencies, 0.99),
        extra: tail.requests.load(Ordering::SeqCst) - CALLS as u64,
        throttled: tail.throttled.load(Ordering::SeqCst),
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn us(duration: Duration) -> String {
    format!("{} µs", duration.as_micros())
}

#[tokio::main]
async fn main() {
    let down = down_vendor().await;
    println!("1. vendor down 0-5 s, 503 + Retry-After: 3; a call every 20 ms");
    println!("| opened | first send after opening | recovered (vendor back at 5 s) | refused | sent while open (probes) | refusal p50 / p99 |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} (+{}) | {} (+{} after the vendor) | {} | {} | {} / {} |",
        ms(down.opened_at),
        ms(down.first_probe),
        ms(down.first_probe - down.opened_at),
        ms(down.recovered),
        ms(down.recovered - Duration::from_secs(5)),
        down.refused,
        down.sent_while_open,
        us(down.refusal_p50),
        us(down.refusal_p99),
    );

    let (served, refused, limited) = rate_limiting_vendor().await;
    println!(
        "\n2. vendor that only rate limits (every other answer 429 + Retry-After + quota headers)"
    );
    println!("| calls | sent | 429s | refused by the breaker |");
    println!("|---|---|---|---|");
    println!("| 500 | {served} | {limited} | {refused} |");

    let before = long_tail(false).await;
    let after = long_tail(true).await;
    println!("\n3. long tail: 2 % of answers 1 s, the rest 5 ms; {CALLS} calls, {WORKERS} workers");
    println!("| client | p50 | p99 | extra requests | 429s |");
    println!("|---|---|---|---|---|");
    for (name, run) in [
        ("no hedging", &before),
        ("HedgeLayer::percentile(0.95)", &after),
    ] {
        println!(
            "| {name} | {} | {} | {} ({:.1} %) | {} |",
            ms(run.p50),
            ms(run.p99),
            run.extra,
            run.extra as f64 * 100.0 / CALLS as f64,
            run.throttled,
        );
    }
    let cut = 1.0 - after.p99.as_secs_f64() / before.p99.as_secs_f64();
    println!("p99 cut by {:.0} %", cut * 100.0);
}
