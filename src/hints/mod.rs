//! Retry hints from response headers: how long a server asks us to wait,
//! what its rate limits are, and whether it says to retry at all.
//!
//! Every parser here is total: garbage, negative and non-ASCII values are
//! ignored, dates in the past mean zero, and absurd values saturate at
//! [`MAX_HINT`], so no header can panic, overflow or make a client sleep
//! for centuries. Parsers that depend on the clock take `now` so they can be
//! tested; pass [`SystemTime::now()`].
//!
//! [`ResponseHints::read`] reads everything below in **one pass** over a
//! response's headers; the free functions ([`retry_hint`],
//! [`RateLimitInfo::from_headers`], [`should_retry`], ...) are built on it
//! or share its parsers, and give the same answers.
//!
//! # The merged hint
//!
//! [`retry_hint`] picks the one delay a retry should honour, in this order:
//!
//! 1. `retry-after-ms` (or Azure's `x-ms-retry-after-ms`), then
//!    `Retry-After` (seconds or a date; Aevo's `X-Retry-After`, in
//!    nanoseconds, is one more of its fields), see [`retry_after`];
//! 2. `grpc-retry-pushback-ms` (gRFC A6), see [`grpc_pushback`];
//! 3. the reset of the binding rate-limit window, but only when it is
//!    exhausted (`remaining == 0`), see [`RateLimitInfo`]. For a 429 the
//!    classifier also waits for a known reset whose `remaining` is absent
//!    ([`ResponseHints::retry_hint_when_limited`]).
//!
//! A body's `retry_after` field (read by the parse layer) comes after the
//! headers: a header is the HTTP-standard place for the hint.
//!
//! # Clock skew
//!
//! Absolute times (a `Retry-After` date, Unix or RFC 3339 resets) are turned
//! into delays against the response's own `Date` header when it has one, so
//! that a client whose clock is off still waits until the time the server
//! named, by the server's clock (never before it). A cache's `Age` moves that
//! clock on: the server's now is `Date + Age` (RFC 9111 §4.2.3).
//!
//! # Header families
//!
//! One table in the crate holds these rows (`src/hints/families.rs`): the
//! reader's name lookup and what the quota layer learns from derive from
//! it, and a test keeps this page equal to it.
//!
//! | headers | source | example | gives | teaches the quota |
//! |---|---|---|---|---|
//! | `retry-after`, `x-ratelimit-retry-after` | RFC 9110 §10.2.3; MailerLite (`X-RateLimit-Retry-After`) | `120`, `Sun, 06 Nov 1994 08:49:37 GMT`; leniently `... UTC`, `... +0000`, no weekday, RFC 3339 | an explicit wait | yes |
//! | `x-retry-after` | Aevo API, Rate Limits ("the number of nanoseconds to wait") | `4406000000`; below 10^6, seconds (`30`) | an explicit wait | yes |
//! | `retry-after-ms`, `x-ms-retry-after-ms` | OpenAI SDKs; Azure OpenAI (`x-ms-`) | `1500` | an explicit wait | yes |
//! | `grpc-retry-pushback-ms` | gRFC A6 | `250`; negative: do not retry | an explicit wait | yes |
//! | `ratelimit`, `ratelimit-policy` | IETF draft-ietf-httpapi-ratelimit-headers-09+; the older single-field drafts | `"burst";r=0;t=30` + `"burst";q=100;w=60`; older: `limit=100, remaining=0, reset=30` | one window per policy, named (`q`, `w`, `r`, `t`); older: one, unnamed | yes |
//! | `ratelimit-limit`, `ratelimit-dailylimit`, `ratelimit-remaining`, `ratelimit-reset`, `ratelimit-resettime` | IETF draft-ietf-httpapi-ratelimit-headers-00 to -06; GitLab (`-ResetTime`, an HTTP-date), Yelp (`-DailyLimit`, `-ResetTime`) | `10, 10;w=1` / `0` / `7` | one window, unnamed | yes |
//! | `x-ratelimit-limit`, `x-ratelimit-total`, `x-ratelimit-max`, `x-ratelimit-remaining`, `x-ratelimit-reset-after`, `x-ratelimit-reset` | GitHub REST docs, Discord (`-Reset-After`), Freshdesk (`-Total`), HighLevel (`-Max`), Brave Search (one value per policy), most APIs | `60` / `0` / `1699999999`; `1, 15000` / `1, 1000` / `1, 1419704` | one window, unnamed | yes |
//! | `x-rate-limit-limit`, `x-rate-limit`, `x-rate-limit-remaining`, `x-rate-limit-reset` | Okta, X API v2; Zendesk (`X-Rate-Limit`, no reset) | `600` / `0` / `1609459200` | one window, unnamed | yes |
//! | `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` | OpenAI rate-limit docs | `60` / `59` / `1s` | one window, `requests` | yes |
//! | `x-ratelimit-limit-tokens`, `x-ratelimit-remaining-tokens`, `x-ratelimit-reset-tokens` | OpenAI rate-limit docs | `150000` / `0` / `6m0s` | one window, `tokens` | yes |
//! | `anthropic-ratelimit-requests-limit`, `anthropic-ratelimit-requests-remaining`, `anthropic-ratelimit-requests-reset` | Anthropic rate-limit docs | `50` / `0` / `2024-09-03T16:47:48Z` | one window, `requests` | yes |
//! | `anthropic-ratelimit-tokens-limit`, `anthropic-ratelimit-tokens-remaining`, `anthropic-ratelimit-tokens-reset` | Anthropic rate-limit docs | `50` / `0` / `2024-09-03T16:47:48Z` | one window, `tokens` | yes |
//! | `anthropic-ratelimit-input-tokens-limit`, `anthropic-ratelimit-input-tokens-remaining`, `anthropic-ratelimit-input-tokens-reset` | Anthropic rate-limit docs | `50` / `0` / `2024-09-03T16:47:48Z` | one window, `input-tokens` | yes |
//! | `anthropic-ratelimit-output-tokens-limit`, `anthropic-ratelimit-output-tokens-remaining`, `anthropic-ratelimit-output-tokens-reset` | Anthropic rate-limit docs | `50` / `0` / `2024-09-03T16:47:48Z` | one window, `output-tokens` | yes |
//! | `x-ratelimit-requests-limit`, `x-ratelimit-requests-remaining`, `x-ratelimit-requests-reset` | Linear rate-limiting docs (`complexity` in points; reset in Unix ms); RapidAPI (`requests`, reset in seconds) | `5000` / `4999` / `1700003600000` | one window, `requests` | yes |
//! | `x-ratelimit-complexity-limit`, `x-ratelimit-complexity-remaining`, `x-ratelimit-complexity-reset` | Linear rate-limiting docs (`complexity` in points; reset in Unix ms); RapidAPI (`requests`, reset in seconds) | `5000` / `4999` / `1700003600000` | one window, `complexity` | yes |
//! | `x-ratelimit-limit-daily`, `x-ratelimit-daily-remaining` | HighLevel API rate limits (per day, beside `X-RateLimit-Max` per `-Interval-Milliseconds`) | `200000` / `199999` | one window, `daily` | yes |
//! | `x-hubspot-ratelimit-daily`, `x-hubspot-ratelimit-daily-remaining` | HubSpot API usage guidelines (resets at the account's midnight) | `500000` / `499999` | one window, `daily` | yes |
//! | `x-hubspot-ratelimit-max`, `x-hubspot-ratelimit-remaining`, `x-hubspot-ratelimit-interval-milliseconds` | HubSpot API usage guidelines (a rolling window: its `-Interval-Milliseconds`, read as the reset, is the latest a spent request ages out) | `100` / `99` / `10000` | one window, `interval` | yes |
//! | `x-hubspot-ratelimit-secondly`, `x-hubspot-ratelimit-secondly-remaining` | HubSpot developer changelog 2018-11-06 (per second) | `10` / `9` | one window, `secondly` | yes |
//! | `fastly-ratelimit-remaining`, `fastly-ratelimit-reset` | Fastly API reference, Rate limiting (no limit header; reset in Unix seconds) | `999` / `1452032384` | one window, unnamed | yes |
//! | `x-sentry-rate-limit-limit`, `x-sentry-rate-limit-remaining`, `x-sentry-rate-limit-reset` | Sentry API, Rate Limits (reset in Unix seconds) | `40` / `0` / `1700000005` | one window, unnamed | yes |
//! | `x-contentful-ratelimit-second-limit`, `x-contentful-ratelimit-second-remaining`, `x-contentful-ratelimit-reset` | Contentful API rate limits (reset: seconds until a request is allowed) | `10` / `0` / `1` | one window, `secondly` | yes |
//! | `x-rate-limit-requests-quota`, `x-rate-limit-requests-left`, `x-rate-limit-time-reset-ms` | BigCommerce API rate limits (reset in milliseconds) | `150` / `0` / `15000` | one window, unnamed | yes |
//! | `x-bapi-limit`, `x-bapi-limit-status`, `x-bapi-limit-reset-timestamp` | Bybit v5 rate-limit rules (reset in Unix ms) | `100` / `99` / `1672738134824` | one window, unnamed | yes |
//! | `x-sib-ratelimit-limit`, `x-sib-ratelimit-remaining`, `x-sib-ratelimit-reset` | Brevo rate limit headers (reset: seconds remaining) | `1000` / `999` / `3` | one window, unnamed | yes |
//! | `gw-ratelimit-limit`, `gw-ratelimit-remaining`, `gw-ratelimit-reset` | KuCoin rate limit, Request Header (reset: a countdown in ms) | `500` / `300` / `1489` | one window, unnamed | yes |
//! | `x-shopify-shop-api-call-limit`, `x-gorgias-account-api-call-limit` | Shopify REST Admin API; Gorgias rate limits | `39/40` (used/limit) | one window, unnamed, no reset | yes |
//! | `sforce-limit-info` | Salesforce REST API, Limit Info Header (the first, daily, `api-usage`) | `api-usage=10018/100000; api-bursts=1/750` | one window, unnamed, no reset | yes |
//! | `x-should-retry`, `stripe-should-retry` | OpenAI and Anthropic SDKs; Stripe docs | `true`, `false` | the server's verdict | no |
//!
//! Every family present is read; [`ResponseHints::rate_limit`] is the most
//! restrictive window of all (fewest remaining, then longest reset).
//!
//! # Bounds
//!
//! Reading is linear in the headers' size: each header is visited once,
//! structured fields are scanned forward once and read for at most 16
//! members each (4 lines), dates are refused past 64 bytes before being
//! looked at, and at most [`MAX_POLICIES`] windows are kept.
//! `SECURITY.md` lists each parser's bound.
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

mod challenge;
mod date;
mod families;
mod number;
mod rate_limit;
mod reading;
mod retry_after;
mod structured;
mod verdict;

pub(crate) use challenge::{challenge_error, closing_quote};
pub(crate) use families::teaches_quota;
pub(crate) use number::parse_go_duration;
pub use rate_limit::RateLimitInfo;
pub(crate) use reading::reset_from;
pub use reading::{QuotaUnit, RateLimitPolicy, ResponseHints, MAX_POLICIES, MAX_POLICY_NAME};
pub use retry_after::{parse_retry_after, retry_after};
pub use verdict::{grpc_pushback, should_retry, GrpcPushback};

use http::HeaderMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The longest hint any parser returns: 366 days. Larger values saturate
/// here, which keeps them monotone (a larger header never gives a shorter
/// hint) while keeping `Instant + hint` far from overflow.
pub const MAX_HINT: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// The longest wait a server may ask for that the layers honour by
/// default: 120 s. The retry policy's `max_retry_after`, the quota's
/// `max_wait` and the auth layer's hold-off after a token endpoint's own
/// wait: longer is a daily quota or a mistake, and the caller's call.
pub(crate) const LONGEST_WAIT: Duration = Duration::from_secs(120);

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

    field_getters! {
        /// How long to wait before trying again.
        pub fn delay -> Duration;

        /// Which header or field the delay came from.
        pub fn source -> HintSource;
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
    /// No server's word: the client's own cooldown after failures (a
    /// circuit breaker's break, [`CircuitOpen::retry_hint`](crate::CircuitOpen::retry_hint)).
    Cooldown,
}

impl fmt::Display for HintSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HintSource::RetryAfter => "retry-after",
            HintSource::RetryAfterMs => "retry-after-ms",
            HintSource::GrpcPushback => "grpc-retry-pushback-ms",
            HintSource::RateLimitReset => "rate-limit reset",
            HintSource::Body => "body",
            HintSource::Cooldown => "cooldown",
        })
    }
}

/// The one delay a retry should honour, from a response's headers; see the
/// [module docs](self) for the precedence. Shorthand for
/// [`ResponseHints::read`] then [`ResponseHints::retry_hint`].
pub fn retry_hint(headers: &HeaderMap, now: SystemTime) -> Option<RetryHint> {
    ResponseHints::read(headers, now).retry_hint()
}
