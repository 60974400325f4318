//! A vendor's fixed rate-limit window, for the fleet suites: `limit`
//! requests per fixed window of `length` from its start; a spent window
//! answers 429 with `Retry-After`. Announced, each answer says so in
//! `X-RateLimit-*` headers (reset as delta seconds, rounded up); else a
//! 429's `Retry-After` is all it says, as many vendors do. It counts the
//! requests it received and those it refused.

use crate::support::{response, serve, ServerBody};
use http::Response;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct FixedWindow {
    /// The current window's index and its count.
    state: Mutex<(u64, u64)>,
    pub started: Instant,
    limit: u64,
    length: Duration,
    announce: bool,
    pub received: AtomicU64,
    pub throttled: AtomicU64,
}

impl FixedWindow {
    pub fn new(limit: u64, length: Duration, announce: bool) -> FixedWindow {
        FixedWindow {
            state: Mutex::new((0, 0)),
            started: Instant::now(),
            limit,
            length,
            announce,
            received: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    /// The answer to a request arriving now, counted.
    pub fn answer(&self) -> Response<ServerBody> {
        self.received.fetch_add(1, SeqCst);
        let elapsed = self.started.elapsed();
        let index = (elapsed.as_nanos() / self.length.as_nanos()) as u64;
        let reset = self.length * (index as u32 + 1) - elapsed;
        let reset = (reset.as_secs() + u64::from(reset.subsec_nanos() > 0)).to_string();
        let mut state = self.state.lock().unwrap();
        if state.0 != index {
            *state = (index, 0);
        }
        let spent = state.1 >= self.limit;
        self.throttled.fetch_add(u64::from(spent), SeqCst);
        state.1 += u64::from(!spent);
        let (limit, remaining) = (self.limit.to_string(), (self.limit - state.1).to_string());
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
