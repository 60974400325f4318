//! A vendor's fixed rate-limit window, for the fleet suites: `limit`
//! requests per fixed window of `length` from its start; a spent window
//! answers 429 with `Retry-After`. Announced, each answer says so in
//! `X-RateLimit-*` headers (reset as delta seconds, rounded up, or to the
//! millisecond: `precise`); else a 429's `Retry-After` is all it says, as
//! many vendors do. It counts the requests it received and those it
//! refused, and each window's successes.

use crate::support::{response, serve, ServerBody};
use http::Response;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct FixedWindow {
    pub started: Instant,
    limit: u64,
    length: Duration,
    announce: bool,
    /// Resets are announced to the millisecond (`0.734`), not rounded up.
    precise: bool,
    pub received: AtomicU64,
    pub throttled: AtomicU64,
    /// Each window's successes, by its index: its count.
    pub used: Mutex<Vec<u64>>,
}

impl FixedWindow {
    pub fn new(limit: u64, length: Duration, announce: bool) -> FixedWindow {
        FixedWindow {
            started: Instant::now(),
            limit,
            length,
            announce,
            precise: false,
            received: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            used: Mutex::new(Vec::new()),
        }
    }

    /// The same vendor, announcing its resets to the millisecond in
    /// decimal seconds (`X-RateLimit-Reset: 1.5`), as a vendor of windows
    /// shorter than a few seconds may.
    #[allow(dead_code)] // Only some suites' vendors announce them so.
    pub fn precise(self) -> FixedWindow {
        FixedWindow {
            precise: true,
            ..self
        }
    }

    /// The answer to a request arriving now, counted.
    pub fn answer(&self) -> Response<ServerBody> {
        self.received.fetch_add(1, SeqCst);
        let elapsed = self.started.elapsed();
        let index = (elapsed.as_nanos() / self.length.as_nanos()) as u64;
        let reset = self.length * (index as u32 + 1) - elapsed;
        let reset = if self.precise {
            // (Rounded up to the millisecond: never read early.)
            let ms = reset.as_nanos().div_ceil(1_000_000);
            format!("{}.{:03}", ms / 1_000, ms % 1_000)
        } else {
            (reset.as_secs() + u64::from(reset.subsec_nanos() > 0)).to_string()
        };
        let mut used = self.used.lock().unwrap();
        let at = index as usize;
        if used.len() <= at {
            used.resize(at + 1, 0);
        }
        let spent = used[at] >= self.limit;
        self.throttled.fetch_add(u64::from(spent), SeqCst);
        if !spent {
            used[at] += 1;
        }
        let (limit, remaining) = (self.limit.to_string(), (self.limit - used[at]).to_string());
        let mut headers = Vec::new();
        if self.announce {
            headers.push(("x-ratelimit-limit", limit.as_str()));
            headers.push(("x-ratelimit-remaining", remaining.as_str()));
            headers.push(("x-ratelimit-reset", reset.as_str()));
        }
        if spent {
            headers.push(("retry-after", reset.as_str()));
        }
        let (status, body) = if spent { (429, "spent") } else { (200, "ok") };
        response(status, &headers, body)
    }

    /// Serves the window on loopback, answering every request at once.
    #[allow(dead_code)] // A suite whose vendor holds requests serves its own.
    pub async fn serve(self: Arc<Self>) -> SocketAddr {
        serve(move |_request| {
            let answer = self.answer();
            async move { answer }
        })
        .await
    }
}
