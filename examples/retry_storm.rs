//! Retry storms, simulated: a fleet of 1,000 clients, each sending one
//! request a second, against a server with a fixed capacity (1,500 requests
//! a second, answered at once; beyond that, 503) that goes fully down for
//! ten seconds and comes back. Time is tokio's paused clock, so the run is
//! deterministic but for jitter, and takes a second or two of real time.
//!
//! For each retry policy it reports, during the outage, the attempts per
//! logical request (amplification), and the time from the server's recovery
//! until the success rate of the requests started in a one-second window is
//! back above 99 %.
//!
//! `cargo run --release --example retry_storm`.
#![allow(dead_code)] // `tests/examples.rs` includes this file for `run`.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};

/// The fleet.
pub const CLIENTS: u64 = 1_000;
/// Each client's period between logical requests.
pub const PERIOD: Duration = Duration::from_secs(1);
/// The server's capacity, per 100 ms slot (1,500 requests a second).
pub const CAPACITY_PER_SLOT: u64 = 150;
/// When the server goes down and comes back, from the start.
pub const DOWN: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(20));
/// How long the simulation sends requests.
pub const DURATION: Duration = Duration::from_secs(35);

/// One policy's figures.
#[derive(Debug, Clone)]
pub struct StormRow {
    /// The policy's name.
    pub policy: &'static str,
    /// Attempts per logical request started during the outage.
    pub amplification: f64,
    /// Attempts the server saw at its busiest second after recovery, over its capacity.
    pub peak_load_after_recovery: f64,
    /// Time from recovery until a one-second window of requests succeeds above 99 %.
    pub recovery: Duration,
    /// Every logical request ended in exactly one outcome.
    pub outcomes_accounted: bool,
}

struct Server {
    start: Instant,
    slot: u64,
    served_in_slot: u64,
    /// Attempts received, by second since the start.
    attempts_by_second: Vec<u64>,
}

impl Server {
    fn answer(&mut self) -> u16 {
        let now = self.start.elapsed();
        let second = now.as_secs() as usize;
        if self.attempts_by_second.len() <= second {
            self.attempts_by_second.resize(second + 1, 0);
        }
        self.attempts_by_second[second] += 1;
        if now >= DOWN.0 && now < DOWN.1 {
            return 503;
        }
        let slot = now.as_millis() as u64 / 100;
        if slot != self.slot {
            self.slot = slot;
            self.served_in_slot = 0;
        }
        self.served_in_slot += 1;
        if self.served_in_slot > CAPACITY_PER_SLOT {
            503
        } else {
            200
        }
    }
}

/// One logical request: when it started, how many attempts, and whether it succeeded.
struct Logical {
    started: Duration,
    attempts: u32,
    ok: bool,
}

/// Simulates the fleet under one policy. Must run on a paused clock.
pub async fn simulate(name: &'static str, policy: RetryPolicy) -> StormRow {
    let start = Instant::now();
    let server = Arc::new(Mutex::new(Server {
        start,
        slot: 0,
        served_in_slot: 0,
        attempts_by_second: Vec::new(),
    }));
    let upstream = {
        let server = server.clone();
        service_fn(move |_req: Request<ReplayBody<Empty<Bytes>>>| {
            let status = server.lock().unwrap().answer();
            async move {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(status)
                        .body(Empty::<Bytes>::new())
                        .unwrap(),
                )
            }
        })
    };
    // The fleet's clients are clones of one service: they share its budget.
    let client = RetryLayer::new(policy).layer(upstream);

    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            // Clients are spread evenly over the period.
            tokio::time::sleep(PERIOD * id as u32 / CLIENTS as u32).await;
            let mut ticks = tokio::time::interval(PERIOD);
            let mut requests = Vec::new();
            loop {
                ticks.tick().await;
                let started = start.elapsed();
                if started >= DURATION {
                    break;
                }
                let request = Request::get("http://api.test/").body(Empty::new()).unwrap();
                // Each logical request runs on its own, as a real caller's would.
                let call = tokio::spawn(client.clone().oneshot(request));
                requests.push((started, call));
            }
            let mut done = Vec::new();
            for (started, call) in requests {
                let response = call.await.unwrap().unwrap();
                let attempts = response
                    .extensions()
                    .get::<tower_api_errors::RetryReport>()
                    .map_or(1, |report| report.attempts());
                done.push(Logical {
                    started,
                    attempts,
                    ok: response.status().is_success(),
                });
            }
            done
        }));
    }
    let mut logical = Vec::new();
    for task in tasks {
        logical.extend(task.await.unwrap());
    }

    let in_outage: Vec<&Logical> = logical
        .iter()
        .filter(|l| l.started >= DOWN.0 && l.started < DOWN.1)
        .collect();
    let amplification =
        in_outage.iter().map(|l| f64::from(l.attempts)).sum::<f64>() / in_outage.len() as f64;
    let recovery = (0..)
        .map(|second| DOWN.1 + Duration::from_secs(second))
        .take_while(|window| *window < DURATION)
        .find(|window| {
            let started: Vec<&Logical> = logical
                .iter()
                .filter(|l| l.started >= *window && l.started < *window + PERIOD)
                .collect();
            let ok = started.iter().filter(|l| l.ok).count();
            !started.is_empty() && ok as f64 / started.len() as f64 > 0.99
        })
        .map_or(DURATION - DOWN.1, |window| window - DOWN.1);
    let server = server.lock().unwrap();
    let peak = server
        .attempts_by_second
        .iter()
        .skip(DOWN.1.as_secs() as usize)
        .take(5)
        .copied()
        .max()
        .unwrap_or(0);
    let expected = CLIENTS * DURATION.as_secs();
    StormRow {
        policy: name,
        amplification,
        peak_load_after_recovery: peak as f64 / (CAPACITY_PER_SLOT * 10) as f64,
        recovery,
        outcomes_accounted: logical.len() as u64 == expected,
    }
}

/// The three policies compared.
pub async fn run() -> Vec<StormRow> {
    vec![
        simulate("no retries", RetryPolicy::default().max_attempts(1)).await,
        simulate(
            "naive (3 attempts, no budget)",
            RetryPolicy::default().no_budget(),
        )
        .await,
        simulate("defaults (3 attempts, budget)", RetryPolicy::default()).await,
    ]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let rows = runtime.block_on(run());
    println!(
        "{} clients x 1 req/s; capacity {} req/s; down from {}s to {}s\n",
        CLIENTS,
        CAPACITY_PER_SLOT * 10,
        DOWN.0.as_secs(),
        DOWN.1.as_secs()
    );
    println!(
        "{:<32} {:>14} {:>22} {:>10}",
        "policy", "amplification", "peak load / capacity", "recovery"
    );
    for row in rows {
        println!(
            "{:<32} {:>14.2} {:>22.2} {:>9.0}s",
            row.policy,
            row.amplification,
            row.peak_load_after_recovery,
            row.recovery.as_secs_f64()
        );
    }
}
