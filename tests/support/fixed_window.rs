//! A vendor's fixed rate-limit window, for the fleet suites: `limit`
//! requests per fixed window of `length` from its start; a spent window
//! answers 429 with `Retry-After`. Announced, each answer says so in
//! `X-RateLimit-*` headers (reset as delta seconds, rounded up); else a
//! 429's `Retry-After` is all it says, as many vendors do.

use crate::support::{response, ServerBody};
use http::Response;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct FixedWindow {
    /// The current window's index and its count.
    state: Mutex<(u64, u64)>,
    pub started: Instant,
    limit: u64,
    length: Duration,
    announce: bool,
}

impl FixedWindow {
    pub fn new(limit: u64, length: Duration, announce: bool) -> FixedWindow {
        let (state, started) = (Mutex::new((0, 0)), Instant::now());
        FixedWindow {
            state,
            started,
            limit,
            length,
            announce,
        }
    }

    /// The answer to a request arriving now, and whether it was refused.
    pub fn answer(&self) -> (Response<ServerBody>, bool) {
        let elapsed = self.started.elapsed();
        let index = (elapsed.as_nanos() / self.length.as_nanos()) as u64;
        let reset = self.length * (index as u32 + 1) - elapsed;
        let reset = (reset.as_secs() + u64::from(reset.subsec_nanos() > 0)).to_string();
        let mut state = self.state.lock().unwrap();
        if state.0 != index {
            *state = (index, 0);
        }
        let spent = state.1 >= self.limit;
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
        (response(status, &headers, body), spent)
    }
}
