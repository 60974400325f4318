//! [`RateLimitInfo`]: limit, remaining and reset from whichever rate-limit
//! headers a server sends.

use super::number::{parse_count, parse_reset, parse_seconds};
use super::structured::{parse_list, Member};
use super::MAX_HINT;
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// A server's rate-limit state as its response headers describe it.
///
/// Read from the first of these header families present, in this order
/// (newest standard first):
///
/// 1. IETF `RateLimit` / `RateLimit-Policy` structured fields (draft 9 and
///    later): `RateLimit: "default";r=0;t=30`, with the limit taken from the
///    policy of the same name (`RateLimit-Policy: "default";q=100;w=60`).
///    When several policies are listed, the most restrictive wins (fewest
///    remaining, then longest reset).
/// 2. The older draft's trio `RateLimit-Limit`, `RateLimit-Remaining`,
///    `RateLimit-Reset`.
/// 3. `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
///    (GitHub, Twitter/X, Discord, most vendors), with
///    `X-RateLimit-Reset-After` (delta seconds, Discord) preferred over
///    `X-RateLimit-Reset` when both are present: a delta needs no clock
///    agreement.
/// 4. OpenAI-style per-resource headers `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`;
///    the more restrictive of the two resources wins.
///
/// **Reset values** are read by size, because vendors disagree: below 10⁹
/// it is delta seconds (`45`); from 10⁹ up it is a Unix timestamp in seconds
/// (`1699999999`, GitHub); from 10¹² up, a Unix timestamp in milliseconds.
/// A delta of 10⁹ seconds would be 31 years, so no real value is misread.
/// Go-style durations (`6m0s`, `20ms`, OpenAI) are read too. Timestamps in
/// the past mean zero.
///
/// Garbage and negative values are ignored field by field; huge ones
/// saturate (`u64::MAX` for counts, [`MAX_HINT`](super::MAX_HINT) for resets).
///
/// ```
/// use http::HeaderMap;
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
    /// when no family above yields a single readable value.
    pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Self> {
        ietf_structured(headers)
            .or_else(|| trio(headers, "ratelimit-", now))
            .or_else(|| trio(headers, "x-ratelimit-", now))
            .or_else(|| per_resource(headers, now))
    }

    /// Requests allowed in the current window.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Requests left in the current window.
    pub fn remaining(&self) -> Option<u64> {
        self.remaining
    }

    /// Time until the window resets.
    pub fn reset(&self) -> Option<Duration> {
        self.reset
    }

    /// True when the server says nothing is left (`remaining == 0`).
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset.is_none()
    }

    fn non_empty(self) -> Option<Self> {
        (!self.is_empty()).then_some(self)
    }

    /// Orders by restrictiveness: fewer remaining first, then longer reset.
    fn more_restrictive(self, other: Self) -> Self {
        let key = |info: &Self| {
            (
                info.remaining.unwrap_or(u64::MAX),
                std::cmp::Reverse(info.reset),
            )
        };
        if key(&other) < key(&self) {
            other
        } else {
            self
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// The first integer of a field such as `RateLimit-Limit: 10, 10;w=1, 1000;w=3600`.
fn leading_count(text: &str) -> Option<u64> {
    parse_count(text.split([',', ';']).next()?)
}

fn ietf_structured(headers: &HeaderMap) -> Option<RateLimitInfo> {
    let field = header_str(headers, "ratelimit")?;
    let policies: Vec<Member<'_>> = header_str(headers, "ratelimit-policy")
        .map(parse_list)
        .unwrap_or_default();
    parse_list(field)
        .iter()
        .map(|member| {
            let limit = policies
                .iter()
                .find(|policy| policy.name == member.name)
                .and_then(|policy| policy.param("q"));
            RateLimitInfo::new(
                limit,
                member.param("r"),
                member
                    .param("t")
                    .map(|t| Duration::from_secs(t).min(MAX_HINT)),
            )
        })
        .filter(|info| !info.is_empty())
        .reduce(RateLimitInfo::more_restrictive)
}

fn trio(headers: &HeaderMap, prefix: &str, now: SystemTime) -> Option<RateLimitInfo> {
    let get = |suffix: &str| header_str(headers, &format!("{prefix}{suffix}"));
    let reset_after = get("reset-after").and_then(parse_seconds);
    RateLimitInfo::new(
        get("limit").and_then(leading_count),
        get("remaining").and_then(leading_count),
        reset_after.or_else(|| get("reset").and_then(|text| parse_reset(text, now))),
    )
    .non_empty()
}

fn per_resource(headers: &HeaderMap, now: SystemTime) -> Option<RateLimitInfo> {
    ["requests", "tokens"]
        .into_iter()
        .filter_map(|resource| {
            let get = |what: &str| header_str(headers, &format!("x-ratelimit-{what}-{resource}"));
            RateLimitInfo::new(
                get("limit").and_then(parse_count),
                get("remaining").and_then(parse_count),
                get("reset").and_then(|text| parse_reset(text, now)),
            )
            .non_empty()
        })
        .reduce(RateLimitInfo::more_restrictive)
}
