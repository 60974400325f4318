//! Issue 23's cold start on one process's `MemoryStore`: until a scope's
//! limit is known, one request probes it and the others hold, for a
//! bounded time, until its answer teaches the window (then they go in the
//! window's terms), teaches nothing (the scope is open: not held again),
//! or never comes (dropped or unanswered: another probes).
//!
//! The vendor is an in-process service on tokio's paused clock, not a
//! loopback server: with real sockets, the paused clock advances to the
//! held workers' next recheck whenever the runtime waits on the socket,
//! so how much virtual time a round trip takes would depend on the
//! machine's load. Here every send time and answer time is exact.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_api_errors::quota::QuotaLayer;

/// How long the vendor takes to answer.
const LATENCY: Duration = Duration::from_millis(5);
/// What the vendor announces: `X-RateLimit-*` of 10 per 1 s, or nothing.
#[derive(Clone, Copy, Debug)]
enum Vendor {
    TenPerSecond,
    Silent,
}

/// What the vendor saw: each request's arrival (ms since the start) and
/// whether it was refused (429).
type Log = Arc<Mutex<Vec<(u64, bool)>>>;

/// The vendor's answer at `elapsed`: fixed 1 s windows of 10 (a spent one
/// answers 429 and `Retry-After`), announced or not.
fn answer(vendor: Vendor, log: &Log, elapsed: Duration) -> Response<Full<Bytes>> {
    let mut log = log.lock().unwrap();
    let second = elapsed.as_secs();
    let in_window = log
        .iter()
        .filter(|(at, refused)| at / 1_000 == second && !refused);
    let used = in_window.count() as u64;
    let refused = matches!(vendor, Vendor::TenPerSecond) && used >= 10;
    log.push((elapsed.as_millis() as u64, refused));
    let mut response = Response::builder().status(if refused { 429 } else { 200 });
    if let Vendor::TenPerSecond = vendor {
        let left = Duration::from_secs(second + 1) - elapsed;
        let reset = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let remaining = 10 - (used + 1).min(10);
        response = response
            .header("x-ratelimit-limit", "10")
            .header("x-ratelimit-remaining", remaining.to_string())
            .header("x-ratelimit-reset", reset.to_string());
        if refused {
            response = response.header("retry-after", reset.to_string());
        }
    }
    response.body(Full::new(Bytes::from_static(b"{}"))).unwrap()
}

/// `workers` callers, each sending one request after another through the
/// quota layer for `span`, against `vendor`; what the vendor saw. The
/// first request sent is answered after `first` instead of [`LATENCY`]
/// (or fails, when `fails`); a caller drops a request after `timeout`.
async fn run(
    vendor: Vendor,
    workers: usize,
    span: Duration,
    first: (Duration, bool),
    timeout: Duration,
) -> Vec<(u64, bool)> {
    let log = Log::default();
    let started = Instant::now();
    let service = {
        let log = log.clone();
        service_fn(move |_request: Request<Full<Bytes>>| {
            let response = answer(vendor, &log, started.elapsed());
            let is_first = log.lock().unwrap().len() == 1;
            let (latency, fails) = if is_first { first } else { (LATENCY, false) };
            async move {
                tokio::time::sleep(latency).await;
                match fails {
                    true => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
                    false => Ok(response),
                }
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(QuotaLayer::new())
        .service(service);
    let until = started + span;
    let workers: Vec<_> = (0..workers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                while Instant::now() < until {
                    let request = Request::get("https://api.example.com/v1/items")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let sent = client.clone().oneshot(request);
                    let deadline = until.min(Instant::now() + timeout);
                    let _ = tokio::time::timeout_at(deadline, sent).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    log
}

const ANSWERED: (Duration, bool) = (LATENCY, false);
const NEVER: Duration = Duration::from_secs(3600);

/// 64 workers against 10 per 1 s: one request before the first answer,
/// no 429 in the first window (or any); every window used.
#[tokio::test(start_paused = true)]
async fn one_probe_then_the_window() {
    let log = run(
        Vendor::TenPerSecond,
        64,
        Duration::from_secs(3),
        ANSWERED,
        NEVER,
    )
    .await;
    let before_answer = log
        .iter()
        .filter(|(at, _)| *at < LATENCY.as_millis() as u64);
    assert_eq!(before_answer.count(), 1, "{log:?}");
    for second in 0..3 {
        let window = log.iter().filter(|(at, _)| at / 1_000 == second);
        let (sent, refused) = window.fold((0, 0), |(n, r), (_, no)| (n + 1, r + u64::from(*no)));
        assert_eq!(refused, 0, "window {second}: {log:?}");
        assert!(sent >= 9, "window {second} used: {sent}");
    }
}

/// Checks that one caller alone sends (one request after another) until
/// `released` ms, its second request at `second` ms (the first probe's
/// end), and that the 63 others all go at `released`.
fn held_until(log: &[(u64, bool)], second: u64, released: u64, name: &str) {
    assert_eq!(log[0].0, 0, "{name}: the probe");
    assert_eq!(log[1].0, second, "{name}: the second request");
    let before = log.iter().filter(|(at, _)| *at < released).count() as u64;
    let alone = 1 + (released - second) / LATENCY.as_millis() as u64;
    assert_eq!(
        before, alone,
        "{name}: one caller alone until {released} ms"
    );
    let at = log.iter().filter(|(at, _)| *at == released).count();
    assert!(at >= 63, "{name}: {at} went at {released} ms");
}

/// A vendor that announces nothing: the others hold on the probe until
/// their first recheck (50 ms), then none is held again; one sequential
/// caller is never held.
#[tokio::test(start_paused = true)]
async fn a_silent_vendor_is_held_for_its_probe_only() {
    let span = Duration::from_secs(1);
    let log = run(Vendor::Silent, 64, span, ANSWERED, NEVER).await;
    held_until(&log, 5, 50, "silent");
    // From there, every worker sends every 5 ms.
    assert_eq!(log.len(), 200 + 63 * 190, "never held again");
    let alone = run(Vendor::Silent, 1, span, ANSWERED, NEVER).await;
    assert_eq!(alone.len(), 200, "a sequential caller: no added latency");
}

/// The probe's hold ends however the probe ends: an error (an answer that
/// taught nothing: the scope opens), its caller dropping it (another
/// probes at once), or no answer within the probe's 2 s (another probes
/// then). The others go at their first recheck after the scope opened.
#[tokio::test(start_paused = true)]
async fn a_probe_that_fails_is_dropped_or_hangs_holds_no_longer() {
    // (the first request's answer, each caller's timeout, when the second
    // request arrives, when the others go)
    let rows = [
        ("fails", (LATENCY, true), NEVER, 5, 50),
        (
            "dropped at 1 s",
            (NEVER, false),
            Duration::from_secs(1),
            1_000,
            1_050,
        ),
        ("unanswered", (NEVER, false), NEVER, 2_000, 2_050),
    ];
    for (name, first, timeout, second, released) in rows {
        let log = run(Vendor::Silent, 64, Duration::from_secs(3), first, timeout).await;
        held_until(&log, second, released, name);
    }
}
