//! [`RateLimitInfo`]: limit, remaining and reset from whichever rate-limit
//! headers a server sends.

use super::ResponseHints;
use http::HeaderMap;
use std::cmp::Reverse;
use std::time::{Duration, SystemTime};

/// A server's rate-limit state as its response headers describe it: the
/// binding window (the most restrictive of those announced: fewest
/// remaining, then longest reset).
///
/// Every family of the [module docs](super#header-families) is read
/// (IETF `RateLimit`/`RateLimit-Policy` in both draft forms, `RateLimit-*`,
/// `X-RateLimit-*`, `X-Rate-Limit-*`, OpenAI's, Anthropic's, Linear's and
/// HubSpot's per-window headers, Fastly's, Shopify's call limit);
/// [`ResponseHints::policies`](super::ResponseHints::policies)
/// lists each window on its own.
///
/// **Reset values** are read by size, because vendors disagree: below 10⁹
/// it is delta seconds (`45`); from 10⁹ up it is a Unix timestamp in seconds
/// (`1699999999`, GitHub); from 10¹² up, a Unix timestamp in milliseconds.
/// A delta of 10⁹ seconds would be 31 years, so no real value is misread.
/// Go-style durations (`6m0s`, `20ms`, OpenAI) and RFC 3339 times
/// (`2024-09-03T16:47:48Z`, Anthropic) are read too. Timestamps in the
/// past mean zero. Timestamps are read against the response's `Date`
/// when present (see [`ResponseHints`](super::ResponseHints)).
///
/// Garbage and negative values are ignored field by field; huge ones
/// saturate (`u64::MAX` for counts, [`MAX_HINT`](super::MAX_HINT) for resets).
///
/// ```
/// use http::{HeaderMap, HeaderName};
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_api_errors::hints::RateLimitInfo;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ratelimit-limit", "60".parse().unwrap());
/// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
/// headers.insert("x-ratelimit-reset", "1699999999".parse().unwrap());
/// let now = UNIX_EPOCH + Duration::from_secs(1_699_999_954);
///
/// let info = RateLimitInfo::from_headers(&headers, now).unwrap();
/// assert_eq!(info.limit(), Some(60));
/// assert_eq!(info.remaining(), Some(0));
/// assert_eq!(info.reset(), Some(Duration::from_secs(45)));
/// assert!(info.is_exhausted());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RateLimitInfo {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<Duration>,
}

impl RateLimitInfo {
    /// Builds the state from its parts (for tests and custom parsers).
    pub fn new(limit: Option<u64>, remaining: Option<u64>, reset: Option<Duration>) -> Self {
        RateLimitInfo {
            limit,
            remaining,
            reset,
        }
    }

    /// Reads the rate-limit headers of a response, relative to `now`; `None`
    /// when no family yields a single readable value. Built on
    /// [`ResponseHints::read`](super::ResponseHints::read): when you need more
    /// than this, read the hints once and ask them.
    pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Self> {
        ResponseHints::read(headers, now).rate_limit()
    }

    field_getters! {
        /// Requests allowed in the current window.
        pub fn limit -> Option<u64>;

        /// Requests left in the current window.
        pub fn remaining -> Option<u64>;

        /// Time until the window resets.
        pub fn reset -> Option<Duration>;

        /// True when the server says nothing is left (`remaining == 0`).
        pub fn is_exhausted -> bool { remaining == Some(0) }
    }

    /// Orders by restrictiveness: fewer remaining first, then longer reset.
    pub(crate) fn more_restrictive(self, other: Self) -> Self {
        // Of equals, `self` (the one kept so far).
        std::cmp::min_by_key(self, other, |info| {
            (info.remaining.unwrap_or(u64::MAX), Reverse(info.reset))
        })
    }
}
