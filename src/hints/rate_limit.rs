//! [`RateLimitInfo`]: limit, remaining and reset from whichever rate-limit
//! headers a server sends.

use super::number::{parse_count, parse_reset, parse_seconds};
use super::structured::{parse_list, Member};
use super::MAX_HINT;
use http::{HeaderMap, HeaderName};
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
    /// when no family above yields a single readable value.
    pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Self> {
        if headers.is_empty() {
            return None;
        }
        ietf_structured(headers)
            .or_else(|| family(headers, &OLD_DRAFT, leading_count, now))
            .or_else(|| family(headers, &X_RATELIMIT, leading_count, now))
            .or_else(|| {
                PER_RESOURCE
                    .iter()
                    .filter_map(|names| family(headers, names, parse_count, now))
                    .reduce(RateLimitInfo::more_restrictive)
            })
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

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// The header names of one limit / remaining / reset family.
struct Family {
    limit: HeaderName,
    remaining: HeaderName,
    reset: HeaderName,
    /// A delta-seconds reset, preferred over `reset` (Discord's `Reset-After`).
    reset_after: Option<HeaderName>,
}

// Names are constants so that a lookup costs no allocation and no parsing:
// the classifier runs this on every failure.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const OLD_DRAFT: Family = Family {
    limit: HeaderName::from_static("ratelimit-limit"),
    remaining: HeaderName::from_static("ratelimit-remaining"),
    reset: HeaderName::from_static("ratelimit-reset"),
    reset_after: None,
};
const X_RATELIMIT: Family = Family {
    limit: HeaderName::from_static("x-ratelimit-limit"),
    remaining: HeaderName::from_static("x-ratelimit-remaining"),
    reset: HeaderName::from_static("x-ratelimit-reset"),
    reset_after: Some(HeaderName::from_static("x-ratelimit-reset-after")),
};
const PER_RESOURCE: [Family; 2] = [
    Family {
        limit: HeaderName::from_static("x-ratelimit-limit-requests"),
        remaining: HeaderName::from_static("x-ratelimit-remaining-requests"),
        reset: HeaderName::from_static("x-ratelimit-reset-requests"),
        reset_after: None,
    },
    Family {
        limit: HeaderName::from_static("x-ratelimit-limit-tokens"),
        remaining: HeaderName::from_static("x-ratelimit-remaining-tokens"),
        reset: HeaderName::from_static("x-ratelimit-reset-tokens"),
        reset_after: None,
    },
];

/// The first integer of a field such as `RateLimit-Limit: 10, 10;w=1, 1000;w=3600`.
fn leading_count(text: &str) -> Option<u64> {
    parse_count(text.split([',', ';']).next()?)
}

fn ietf_structured(headers: &HeaderMap) -> Option<RateLimitInfo> {
    let field = header_str(headers, &RATELIMIT)?;
    let policies: Vec<Member<'_>> = header_str(headers, &RATELIMIT_POLICY)
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

/// One family's values; `counts` reads limit and remaining (the older draft
/// allows a policy list after the first number).
fn family(
    headers: &HeaderMap,
    names: &Family,
    counts: fn(&str) -> Option<u64>,
    now: SystemTime,
) -> Option<RateLimitInfo> {
    let reset_after = names
        .reset_after
        .as_ref()
        .and_then(|name| header_str(headers, name))
        .and_then(parse_seconds);
    RateLimitInfo::new(
        header_str(headers, &names.limit).and_then(counts),
        header_str(headers, &names.remaining).and_then(counts),
        reset_after
            .or_else(|| header_str(headers, &names.reset).and_then(|text| parse_reset(text, now))),
    )
    .non_empty()
}
