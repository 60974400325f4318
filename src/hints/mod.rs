//! Retry hints from response headers: how long a server asks us to wait,
//! what its rate limits are, and whether it says to retry at all.
//!
//! Every parser here is total: garbage, negative and non-ASCII values are
//! ignored, dates in the past mean zero, and absurd values saturate at
//! [`MAX_HINT`], so no header can panic, overflow or make a client sleep
//! for centuries. Parsers that depend on the clock take `now` so they can be
//! tested; pass [`SystemTime::now()`].
//!
//! # The merged hint
//!
//! [`retry_hint`] picks the one delay a retry should honour, in this order:
//!
//! 1. `retry-after-ms`, then `Retry-After` (seconds or HTTP-date), see [`retry_after`];
//! 2. `grpc-retry-pushback-ms` (gRFC A6), see [`grpc_pushback`];
//! 3. the rate-limit reset, but only when the window is exhausted
//!    (`remaining == 0`), see [`RateLimitInfo`].
//!
//! A body's `retry_after` field (read by the parse layer) comes after the
//! headers: a header is the HTTP-standard place for the hint.
//!
//! ```
//! use http::HeaderMap;
//! use std::time::{Duration, SystemTime};
//! use tower_api_errors::hints::{retry_hint, HintSource};
//!
//! // A GitHub-style exhausted window, with no Retry-After: wait for the reset.
//! let mut headers = HeaderMap::new();
//! headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
//! headers.insert("x-ratelimit-reset", "30".parse().unwrap());
//! let hint = retry_hint(&headers, SystemTime::now()).unwrap();
//! assert_eq!(hint.delay(), Duration::from_secs(30));
//! assert_eq!(hint.source(), HintSource::RateLimitReset);
//!
//! // Retry-After takes precedence.
//! headers.insert("retry-after", "2".parse().unwrap());
//! let hint = retry_hint(&headers, SystemTime::now()).unwrap();
//! assert_eq!(hint.delay(), Duration::from_secs(2));
//! assert_eq!(hint.source(), HintSource::RetryAfter);
//! ```

mod number;
mod rate_limit;
mod retry_after;
mod structured;
mod verdict;

pub use rate_limit::RateLimitInfo;
pub use retry_after::{parse_retry_after, retry_after};
pub use verdict::{grpc_pushback, should_retry, GrpcPushback};

use http::HeaderMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The longest hint any parser returns: 366 days. Larger values saturate
/// here, which keeps them monotone (a larger header never gives a shorter
/// hint) while keeping `Instant + hint` far from overflow.
pub const MAX_HINT: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// A delay the server asked for, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryHint {
    delay: Duration,
    source: HintSource,
}

impl RetryHint {
    /// A hint of `delay` (saturated at [`MAX_HINT`]) from `source`.
    pub fn new(delay: Duration, source: HintSource) -> Self {
        RetryHint {
            delay: delay.min(MAX_HINT),
            source,
        }
    }

    /// How long to wait before trying again.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Which header or field the delay came from.
    pub fn source(&self) -> HintSource {
        self.source
    }
}

impl fmt::Display for RetryHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (from {})", self.delay, self.source)
    }
}

/// Where a [`RetryHint`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HintSource {
    /// The `Retry-After` header (seconds or HTTP-date).
    RetryAfter,
    /// The `retry-after-ms` header.
    RetryAfterMs,
    /// `grpc-retry-pushback-ms`.
    GrpcPushback,
    /// The reset of an exhausted rate-limit window.
    RateLimitReset,
    /// A `retry_after` (or similar) field of the error body.
    Body,
}

impl fmt::Display for HintSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HintSource::RetryAfter => "retry-after",
            HintSource::RetryAfterMs => "retry-after-ms",
            HintSource::GrpcPushback => "grpc-retry-pushback-ms",
            HintSource::RateLimitReset => "rate-limit reset",
            HintSource::Body => "body",
        })
    }
}

/// The one delay a retry should honour, from a response's headers; see the
/// [module docs](self) for the precedence.
pub fn retry_hint(headers: &HeaderMap, now: SystemTime) -> Option<RetryHint> {
    explicit_hint(headers, now).or_else(|| reset_hint(&RateLimitInfo::from_headers(headers, now)?))
}

/// The hints a server states outright: `retry-after-ms`, `Retry-After`,
/// `grpc-retry-pushback-ms`, in that order.
pub(crate) fn explicit_hint(headers: &HeaderMap, now: SystemTime) -> Option<RetryHint> {
    if headers.is_empty() {
        return None;
    }
    if let Some(delay) = retry_after::retry_after_ms(headers) {
        return Some(RetryHint::new(delay, HintSource::RetryAfterMs));
    }
    if let Some(delay) = retry_after(headers, now) {
        return Some(RetryHint::new(delay, HintSource::RetryAfter));
    }
    match grpc_pushback(headers) {
        Some(GrpcPushback::After(delay)) => Some(RetryHint::new(delay, HintSource::GrpcPushback)),
        _ => None,
    }
}

/// The reset of an exhausted rate-limit window, as a hint.
pub(crate) fn reset_hint(limits: &RateLimitInfo) -> Option<RetryHint> {
    match (limits.is_exhausted(), limits.reset()) {
        (true, Some(reset)) => Some(RetryHint::new(reset, HintSource::RateLimitReset)),
        _ => None,
    }
}
