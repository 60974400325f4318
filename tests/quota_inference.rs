//! A vendor that announces nothing, met by one process on the default
//! store (`MemoryStore`): only 429s with `Retry-After`, as many vendors
//! send (issue 23's "vendors that announce nothing"). The process learns
//! the limit from the successes counted between two 429s, and the window
//! from the time between their waits' ends, then paces the windows that
//! follow: after the two windows it needs to learn, no 429.
//!
//! Time is tokio's, paused: the vendor's fixed windows and the workers'
//! send times are exact, and the run takes no wall-clock time.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_api_errors::quota::QuotaLayer;
use tower_api_errors::{RetryLayer, RetryPolicy};

const LIMIT: u64 = 300;
const WINDOW: Duration = Duration::from_secs(10);
const WINDOWS: usize = 12;

/// Per vendor window (or second): (successes, refusals).
type Tally = Arc<Mutex<Vec<(u64, u64)>>>;

/// The vendor's answer at `elapsed` since its start: fixed windows of
/// `LIMIT`, a spent one answers 429 with `Retry-After` (whole seconds to
/// its end, rounded up, RFC 9110 §10.2.3) and nothing else.
fn answer(tally: &Tally, elapsed: Duration) -> Response<Full<Bytes>> {
    let index = (elapsed.as_nanos() / WINDOW.as_nanos()) as usize;
    let mut tally = tally.lock().unwrap();
    if tally.len() <= index {
        tally.resize(index + 1, (0, 0));
    }
    if tally[index].0 < LIMIT {
        tally[index].0 += 1;
        return Response::new(Full::new(Bytes::from_static(b"{}")));
    }
    tally[index].1 += 1;
    let left = WINDOW * (index as u32 + 1) - elapsed;
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    Response::builder()
        .status(429)
        .header("retry-after", secs.to_string())
        .body(Full::new(Bytes::from_static(
            b"{\"error\":\"rate limited\"}",
        )))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_process_learns_a_vendor_that_announces_nothing() {
    // Few workers spend a window slowly, many draw a 429 each at its end.
    for workers in [4, 16, 64] {
        let tally = run(workers, WINDOW * WINDOWS as u32, answer).await;
        let label = format!("{workers} workers: {tally:?}");
        // Window 0 is spent before its 429 teaches anything, window 1 is
        // counted to its 429: from window 2 on, the learned pace holds. It
        // may draw a 429 where the margin grows back to the limit.
        let learned = &tally[2..WINDOWS];
        let throttled: u64 = learned.iter().map(|(_, throttled)| throttled).sum();
        assert!(throttled * 4 <= learned.len() as u64, "{label}");
        let used: u64 = learned.iter().map(|(ok, _)| ok).sum();
        assert!(used * 100 >= LIMIT * learned.len() as u64 * 90, "{label}");
    }
}

/// A vendor that allows as much as it is sent, but is briefly overloaded
/// three times (at 1 s, 3 s and 5 s it answers 503 with `Retry-After: 1`
/// for 5 ms); tallied per second: (successes, 503s).
fn overloaded(tally: &Tally, elapsed: Duration) -> Response<Full<Bytes>> {
    let second = elapsed.as_secs() as usize;
    let mut tally = tally.lock().unwrap();
    if tally.len() <= second {
        tally.resize(second + 1, (0, 0));
    }
    if second % 2 == 1 && second < 6 && elapsed.subsec_millis() < 5 {
        tally[second].1 += 1;
        return Response::builder()
            .status(503)
            .header("retry-after", "1")
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    tally[second].0 += 1;
    Response::new(Full::new(Bytes::from_static(b"{}")))
}

/// A 503's wait is an outage's, not a rate limit's: the answers between
/// two 503s are no window's limit, and nothing is paced after them.
#[tokio::test(start_paused = true)]
async fn outages_teach_no_window() {
    let tally = run(16, Duration::from_secs(9), overloaded).await;
    assert!(
        tally[1].1 > 0 && tally[3].1 > 0 && tally[5].1 > 0,
        "{tally:?}"
    );
    // 16 workers, a request each 5 ms on average: 3,200 a second, unpaced.
    for second in 6..9 {
        assert!(tally[second].0 >= 3_100, "second {second}: {tally:?}");
    }
}

/// `workers` callers, each sending one request after another through the
/// README's retry and quota layers, for `span`; the vendor's tally. Every
/// request ends in a success.
async fn run(
    workers: usize,
    span: Duration,
    answer: fn(&Tally, Duration) -> Response<Full<Bytes>>,
) -> Vec<(u64, u64)> {
    let tally = Tally::default();
    let started = Instant::now();
    let vendor = {
        let tally = tally.clone();
        let sent = Arc::new(AtomicU64::new(0));
        service_fn(move |_request: Request<_>| {
            // Decided on arrival, answered 1-9 ms later: answers come back
            // in another order than the vendor counted them, as over a
            // network (some of a window's successes after its first 429).
            let response = answer(&tally, started.elapsed());
            let n = sent.fetch_add(1, Ordering::Relaxed);
            let latency = Duration::from_millis(1 + n * 7_919 % 9);
            async move {
                tokio::time::sleep(latency).await;
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(QuotaLayer::new())
        .service(vendor);
    let until = started + span;
    let errors = Arc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..workers)
        .map(|_| {
            let (client, errors) = (client.clone(), errors.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let request = Request::get("https://api.example.com/v1/items")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let sent = client.clone().oneshot(request);
                    match tokio::time::timeout_at(until, sent).await {
                        Ok(Ok(response)) if response.status() == 200 => {}
                        Ok(_) => *errors.lock().unwrap() += 1,
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let tally = tally.lock().unwrap().clone();
    assert_eq!(*errors.lock().unwrap(), 0, "no error surfaced: {tally:?}");
    tally
}
