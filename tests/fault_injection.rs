//! Fault injection under load, over loopback: a hyper server that, at
//! random but seeded, answers 200, 503 with `Retry-After`, 429 with a body
//! hint, 500 with HTML, truncates bodies, resets connections, stalls, or
//! streams 10 MiB error bodies; 10,000 requests (GET, and POST with and
//! without `Idempotency-Key`) through the full stack, 64 at a time.
//!
//! Asserted: every request ends in exactly one outcome; no request that is
//! not idempotent is ever sent twice without a key (counted by the server);
//! in-flight counters return to zero; memory stays bounded.

mod support;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{Backoff, ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, StatusClassifierLayer};

const REQUESTS: u64 = 10_000;
const CONCURRENCY: u64 = 64;
const SEED: u64 = 0x5eed_f00d;

use support::BoxError;

type Body = BoxBody<Bytes, BoxError>;

/// A small, seeded generator (SplitMix64): the same request id and attempt
/// always get the same fault.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A body that yields `chunks` chunks of `size` bytes, then ends, or fails
/// if `fail` is set; or never yields anything when `stall` is set.
struct Faulty {
    chunks: usize,
    size: usize,
    fail: bool,
    stall: bool,
}

impl http_body::Body for Faulty {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.stall {
            return Poll::Pending;
        }
        if self.chunks == 0 {
            return Poll::Ready(
                self.fail
                    .then(|| Err("injected: connection lost mid-body".into())),
            );
        }
        self.chunks -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'e'; self.size])))))
    }
}

fn full(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(
            Full::new(Bytes::from_static(body.as_bytes()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

fn faulty(status: u16, body: Faulty) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(body.boxed())
        .unwrap()
}

/// What the server saw: attempts per request id, and per (method, keyed).
#[derive(Default)]
struct Seen {
    attempts: HashMap<String, (Method, bool, u32)>,
}

async fn answer(
    request: Request<Incoming>,
    seen: Arc<Mutex<Seen>>,
) -> Result<Response<Body>, BoxError> {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let keyed = request.headers().contains_key("idempotency-key");
    let method = request.method().clone();
    // Read the request body, as a real server would.
    let _ = request.into_body().collect().await;
    let attempt = {
        let mut seen = seen.lock().unwrap();
        let entry = seen
            .attempts
            .entry(id.clone())
            .or_insert((method, keyed, 0));
        entry.2 += 1;
        entry.2
    };
    let roll = splitmix(SEED ^ splitmix(id.parse::<u64>().unwrap_or(0)) ^ u64::from(attempt)) % 100;
    Ok(match roll {
        0..=39 => full(200, &[], r#"{"ok": true}"#),
        40..=54 => full(
            503,
            &[("retry-after", "0")],
            r#"{"error": {"code": 503, "message": "busy"}}"#,
        ),
        55..=64 => full(
            429,
            &[],
            r#"{"error": {"code": 429, "message": "slow down", "retry_after": 0}}"#,
        ),
        65..=72 => full(
            500,
            &[("content-type", "text/html")],
            "<html><title>500 Internal Server Error</title></html>",
        ),
        73..=79 => faulty(
            502,
            Faulty {
                chunks: 1,
                size: 20,
                fail: true,
                stall: false,
            },
        ),
        80..=84 => return Err("injected: reset".into()),
        85..=88 => faulty(
            503,
            Faulty {
                chunks: 0,
                size: 0,
                fail: false,
                stall: true,
            },
        ),
        89..=93 => faulty(
            500,
            Faulty {
                chunks: 160,
                size: 64 * 1024,
                fail: false,
                stall: false,
            },
        ),
        _ => full(
            404,
            &[],
            r#"{"error": "not_found", "error_description": "no such thing"}"#,
        ),
    })
}

/// Peak resident set of this process, in MiB (Linux).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))?
                .to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}

/// Decrements the in-flight count when the call ends, however it ends.
struct InFlight(Arc<AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_under_injected_faults() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = {
        let seen = seen.clone();
        support::serve_fallible(move |request| answer(request, seen.clone())).await
    };

    // Counts calls in flight in the client below the whole stack.
    let in_flight = Arc::new(AtomicI64::new(0));
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<ReplayBody<Full<Bytes>>>();
    let counted = {
        let in_flight = in_flight.clone();
        service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
            in_flight.fetch_add(1, Ordering::SeqCst);
            let guard = InFlight(in_flight.clone());
            let call = client.request(request);
            async move {
                let result = call.await;
                drop(guard);
                result
            }
        })
    };
    let policy = RetryPolicy::default().backoff(Backoff::exponential(
        Duration::from_millis(1),
        2.0,
        Duration::from_millis(10),
    ));
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new().body_timeout(Duration::from_millis(100)))
        .layer(StatusClassifierLayer::new())
        .service(counted);

    let next = Arc::new(AtomicU64::new(0));
    let outcomes = Arc::new(Mutex::new(HashMap::<u64, Result<u16, String>>::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (stack, next, outcomes) = (stack.clone(), next.clone(), outcomes.clone());
        workers.spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::SeqCst);
                if id >= REQUESTS {
                    return;
                }
                let (method, key) = match id % 4 {
                    0 | 1 => (Method::GET, false),
                    2 => (Method::POST, false),
                    _ => (Method::POST, true),
                };
                let mut request = Request::builder()
                    .method(method)
                    .uri(format!("http://{addr}/things/{id}"))
                    .header("x-request-id", id.to_string());
                if key {
                    request = request.header("idempotency-key", format!("key-{id}"));
                }
                let request = request
                    .body(Full::new(Bytes::from(format!(r#"{{"id": {id}}}"#))))
                    .unwrap();
                let outcome = match stack.clone().oneshot(request).await {
                    Ok(response) => Ok(response.status().as_u16()),
                    Err(Error::Api(error)) => Err(format!("api {}", error.status().as_u16())),
                    Err(other) => Err(format!("transport {other}")),
                };
                let previous = outcomes.lock().unwrap().insert(id, outcome);
                assert!(previous.is_none(), "request {id} ended twice");
            }
        });
    }
    let run = async {
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the load test ends in bounded time");

    // Every request ended in exactly one outcome.
    let outcomes = outcomes.lock().unwrap();
    assert_eq!(outcomes.len() as u64, REQUESTS);
    let ok = outcomes.values().filter(|o| o.is_ok()).count();
    let api = outcomes
        .values()
        .filter(|o| o.as_ref().is_err_and(|e| e.starts_with("api")))
        .count();
    let transport = outcomes
        .values()
        .filter(|o| o.as_ref().is_err_and(|e| e.starts_with("transport")))
        .count();
    assert!(
        ok > 0 && api > 0 && transport > 0,
        "ok {ok}, api {api}, transport {transport}"
    );

    // No request that is not idempotent was ever sent twice without a key;
    // keyed ones were retried.
    let seen = seen.lock().unwrap();
    let unkeyed_posts: Vec<u32> = seen
        .attempts
        .values()
        .filter(|(m, k, _)| m == Method::POST && !k)
        .map(|e| e.2)
        .collect();
    assert!(!unkeyed_posts.is_empty());
    assert!(
        unkeyed_posts.iter().all(|n| *n == 1),
        "an unkeyed POST was sent twice"
    );
    assert!(
        seen.attempts
            .values()
            .any(|(m, k, n)| m == Method::POST && *k && *n > 1),
        "keyed POSTs are retried"
    );
    assert!(
        seen.attempts.values().all(|(_, _, n)| *n <= 3),
        "max_attempts holds"
    );

    // In flight: nothing left.
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);

    // Memory stayed bounded: 64 requests at a time, error bodies capped at
    // 64 KiB, against 10 MiB bodies the server offered.
    let peak = peak_rss_mib();
    assert!(peak < 512, "peak RSS {peak} MiB");
    println!("ok {ok}, api errors {api}, transport errors {transport}, peak RSS {peak} MiB");
}
