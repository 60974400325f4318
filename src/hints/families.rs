//! The one table of header families: every header the hints read, what it
//! holds, how its reset reads, and where its format is written down.
//!
//! The reader's name lookup ([`slot`]), the bit mask of the families a
//! response carries, what the quota layer may learn from
//! ([`teaches_quota`]) and the header-family table of the
//! [module docs](super#header-families) (checked by a test) all derive from
//! [`FAMILIES`]. Adding a family of limit / remaining / reset headers is
//! one row here.

use std::sync::LazyLock;
use ResetFormat::{Millis, Moment, Seconds};

/// How a reset header reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetFormat {
    /// Delta seconds only (`1.5`).
    Seconds,
    /// Delta milliseconds only (`15000`).
    Millis,
    /// Delta seconds, Unix seconds or Unix milliseconds (told apart by
    /// size), a Go duration (`6m0s`), an RFC 3339 time or an HTTP-date.
    Moment,
}

/// How an explicit wait reads, and which hint it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitFormat {
    /// `Retry-After`: delta seconds or an HTTP-date.
    SecondsOrDate,
    /// Milliseconds (`retry-after-ms`), ahead of `Retry-After`.
    Millis,
    /// gRFC A6 pushback: milliseconds, or negative for "do not retry".
    Pushback,
    /// A `Retry-After` in nanoseconds (Aevo's `X-Retry-After`; a number
    /// below 10^6 is seconds): one more `Retry-After` field, the longest
    /// of which is waited.
    Nanos,
}

/// What the headers of one family are.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Headers {
    /// One window from separate limit, remaining and reset headers.
    Window {
        /// The window's name (`requests`, `tokens`), or `None`.
        name: Option<&'static str>,
        /// The limit header, under any of these names.
        limit: &'static [&'static str],
        remaining: &'static str,
        /// Reset headers in order of preference (at most [`MAX_RESETS`]):
        /// the first readable one wins.
        resets: &'static [(&'static str, ResetFormat)],
    },
    /// The IETF structured fields: the state (`RateLimit`) and the
    /// policies (`RateLimit-Policy`).
    Structured {
        state: &'static str,
        policy: &'static str,
    },
    /// One header holding `used/limit`, no reset, under any of these
    /// names.
    UsedOfLimit(&'static [&'static str]),
    /// An explicit wait, under any of these names.
    Wait(&'static [&'static str], WaitFormat),
    /// The server's `true` / `false` retry verdict, under any of these
    /// names (`false` wins).
    Verdict(&'static [&'static str]),
}

/// One family of headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Family {
    /// The header names (lower case, as `http` stores them) and what each
    /// holds.
    pub(crate) headers: Headers,
    /// Where the format is specified or documented, then ` | ` and a value
    /// as sent: the docs table's two columns.
    #[cfg_attr(not(test), allow(dead_code))] // read by the docs-table test
    pub(crate) doc: &'static str,
}

/// Reset headers one window family may have.
pub(crate) const MAX_RESETS: usize = 2;

/// Values kept per family while reading: limit, remaining, the resets.
pub(crate) const VALUES: usize = 2 + MAX_RESETS;

/// A window family from its parts (as [`Headers::Window`]'s) and its `doc`:
/// one table row on few lines.
macro_rules! window {
    ($name:expr, $limit:expr, $remaining:expr, $resets:expr, $doc:expr) => {
        Family {
            headers: Headers::Window {
                name: $name,
                limit: $limit,
                remaining: $remaining,
                resets: $resets,
            },
            doc: $doc,
        }
    };
}

/// A window named `{name}` whose headers are `{prefix}{name}-limit`,
/// `-remaining` and `-reset` (any [`Moment`]), documented by `doc`.
macro_rules! per_name {
    ($prefix:literal, $name:literal, $doc:expr) => {
        window! { Some($name), &[concat!($prefix, $name, "-limit")], concat!($prefix, $name, "-remaining"),
        &[(concat!($prefix, $name, "-reset"), Moment)], $doc }
    };
}

const ANTHROPIC: &str = "Anthropic rate-limit docs | `50` / `0` / `2024-09-03T16:47:48Z`";
const LINEAR: &str = "Linear rate-limiting docs (`complexity` in points; reset in Unix ms); RapidAPI (`requests`, reset in seconds) | `5000` / `4999` / `1700003600000`";

/// Every header family read, in the order windows are reported (see
/// [`ResponseHints::policies`](super::ResponseHints::policies)).
pub(crate) const FAMILIES: &[Family] = &[
    Family { headers: Headers::Wait(&["retry-after", "x-ratelimit-retry-after"], WaitFormat::SecondsOrDate),
        doc: "RFC 9110 §10.2.3; MailerLite (`X-RateLimit-Retry-After`) | `120`, `Sun, 06 Nov 1994 08:49:37 GMT`; leniently `... UTC`, `... +0000`, no weekday, RFC 3339" },
    Family { headers: Headers::Wait(&["x-retry-after"], WaitFormat::Nanos),
        doc: "Aevo API, Rate Limits (\"the number of nanoseconds to wait\") | `4406000000`; below 10^6, seconds (`30`)" },
    Family { headers: Headers::Wait(&["retry-after-ms", "x-ms-retry-after-ms"], WaitFormat::Millis),
        doc: "OpenAI SDKs; Azure OpenAI (`x-ms-`) | `1500`" },
    Family { headers: Headers::Wait(&["grpc-retry-pushback-ms"], WaitFormat::Pushback),
        doc: "gRFC A6 | `250`; negative: do not retry" },
    Family { headers: Headers::Structured { state: "ratelimit", policy: "ratelimit-policy" },
        doc: "IETF draft-ietf-httpapi-ratelimit-headers-09+; the older single-field drafts | `\"burst\";r=0;t=30` + `\"burst\";q=100;w=60`; older: `limit=100, remaining=0, reset=30`" },
    window! { None, &["ratelimit-limit", "ratelimit-dailylimit"], "ratelimit-remaining",
        &[("ratelimit-reset", Moment), ("ratelimit-resettime", Moment)],
        "IETF draft-ietf-httpapi-ratelimit-headers-00 to -06; GitLab (`-ResetTime`, an HTTP-date), Yelp (`-DailyLimit`, `-ResetTime`) | `10, 10;w=1` / `0` / `7`" },
    window! { None, &["x-ratelimit-limit", "x-ratelimit-total", "x-ratelimit-max"], "x-ratelimit-remaining",
        &[("x-ratelimit-reset-after", Seconds), ("x-ratelimit-reset", Moment)],
        "GitHub REST docs, Discord (`-Reset-After`), Freshdesk (`-Total`), HighLevel (`-Max`), Brave Search (one value per policy), most APIs | `60` / `0` / `1699999999`; `1, 15000` / `1, 1000` / `1, 1419704`" },
    window! { None, &["x-rate-limit-limit", "x-rate-limit"], "x-rate-limit-remaining", &[("x-rate-limit-reset", Moment)],
        "Okta, X API v2; Zendesk (`X-Rate-Limit`, no reset) | `600` / `0` / `1609459200`" },
    window! { Some("requests"), &["x-ratelimit-limit-requests"], "x-ratelimit-remaining-requests",
        &[("x-ratelimit-reset-requests", Moment)], "OpenAI rate-limit docs | `60` / `59` / `1s`" },
    window! { Some("tokens"), &["x-ratelimit-limit-tokens"], "x-ratelimit-remaining-tokens",
        &[("x-ratelimit-reset-tokens", Moment)], "OpenAI rate-limit docs | `150000` / `0` / `6m0s`" },
    per_name!("anthropic-ratelimit-", "requests", ANTHROPIC),
    per_name!("anthropic-ratelimit-", "tokens", ANTHROPIC),
    per_name!("anthropic-ratelimit-", "input-tokens", ANTHROPIC),
    per_name!("anthropic-ratelimit-", "output-tokens", ANTHROPIC),
    per_name!("x-ratelimit-", "requests", LINEAR),
    per_name!("x-ratelimit-", "complexity", LINEAR),
    window! { Some("daily"), &["x-ratelimit-limit-daily"], "x-ratelimit-daily-remaining", &[],
        "HighLevel API rate limits (per day, beside `X-RateLimit-Max` per `-Interval-Milliseconds`) | `200000` / `199999`" },
    window! { Some("daily"), &["x-hubspot-ratelimit-daily"], "x-hubspot-ratelimit-daily-remaining", &[],
        "HubSpot API usage guidelines (resets at the account's midnight) | `500000` / `499999`" },
    window! { Some("interval"), &["x-hubspot-ratelimit-max"], "x-hubspot-ratelimit-remaining", &[("x-hubspot-ratelimit-interval-milliseconds", Millis)],
        "HubSpot API usage guidelines (a rolling window: its `-Interval-Milliseconds`, read as the reset, is the latest a spent request ages out) | `100` / `99` / `10000`" },
    window! { Some("secondly"), &["x-hubspot-ratelimit-secondly"], "x-hubspot-ratelimit-secondly-remaining", &[],
        "HubSpot developer changelog 2018-11-06 (per second) | `10` / `9`" },
    window! { None, &[], "fastly-ratelimit-remaining", &[("fastly-ratelimit-reset", Moment)],
        "Fastly API reference, Rate limiting (no limit header; reset in Unix seconds) | `999` / `1452032384`" },
    window! { None, &["x-sentry-rate-limit-limit"], "x-sentry-rate-limit-remaining", &[("x-sentry-rate-limit-reset", Moment)],
        "Sentry API, Rate Limits (reset in Unix seconds) | `40` / `0` / `1700000005`" },
    window! { Some("secondly"), &["x-contentful-ratelimit-second-limit"], "x-contentful-ratelimit-second-remaining",
        &[("x-contentful-ratelimit-reset", Seconds)],
        "Contentful API rate limits (reset: seconds until a request is allowed) | `10` / `0` / `1`" },
    window! { None, &["x-rate-limit-requests-quota"], "x-rate-limit-requests-left", &[("x-rate-limit-time-reset-ms", Millis)],
        "BigCommerce API rate limits (reset in milliseconds) | `150` / `0` / `15000`" },
    window! { None, &["x-bapi-limit"], "x-bapi-limit-status", &[("x-bapi-limit-reset-timestamp", Moment)],
        "Bybit v5 rate-limit rules (reset in Unix ms) | `100` / `99` / `1672738134824`" },
    window! { None, &["x-sib-ratelimit-limit"], "x-sib-ratelimit-remaining", &[("x-sib-ratelimit-reset", Seconds)],
        "Brevo rate limit headers (reset: seconds remaining) | `1000` / `999` / `3`" },
    window! { None, &["gw-ratelimit-limit"], "gw-ratelimit-remaining", &[("gw-ratelimit-reset", Millis)],
        "KuCoin rate limit, Request Header (reset: a countdown in ms) | `500` / `300` / `1489`" },
    Family { headers: Headers::UsedOfLimit(&["x-shopify-shop-api-call-limit", "x-gorgias-account-api-call-limit"]),
        doc: "Shopify REST Admin API; Gorgias rate limits | `39/40` (used/limit)" },
    Family { headers: Headers::UsedOfLimit(&["sforce-limit-info"]),
        doc: "Salesforce REST API, Limit Info Header (the first, daily, `api-usage`) | `api-usage=10018/100000; api-bursts=1/750`" },
    Family { headers: Headers::Verdict(&["x-should-retry", "stripe-should-retry"]),
        doc: "OpenAI and Anthropic SDKs; Stripe docs | `true`, `false`" },
];

/// The set of families a response carries, one bit per row of [`FAMILIES`].
pub(crate) type FamilyMask = u32;

const _: () = assert!(FAMILIES.len() <= FamilyMask::BITS as usize);

/// What one header holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Value `i` of a window family: 0 its limit, 1 its remaining, 2 and
    /// on its resets in order; `used/limit` is value 0.
    Value(u8),
    /// `RateLimit`, a line of the structured state.
    State,
    /// `RateLimit-Policy`, a line of the structured policies.
    Policy,
    /// An explicit wait.
    Wait(WaitFormat),
    /// A retry verdict.
    Verdict,
}

/// Where a header goes when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A reference-clock header: the response's `Date` (0), or a cache's
    /// `Age` (1), the time it held the response since that `Date`.
    Clock(u8),
    /// A header of `FAMILIES[family]`.
    Family { family: u8, role: Role },
}

/// The reference-clock headers, beside the families.
const CLOCK: [(&str, Slot); 2] = [("date", Slot::Clock(0)), ("age", Slot::Clock(1))];

/// Calls `each(name, role)` for every header of `headers`.
fn each_header(headers: Headers, mut each: impl FnMut(&'static str, Role)) {
    match headers {
        Headers::Window {
            limit,
            remaining,
            resets,
            ..
        } => {
            limit.iter().for_each(|name| each(name, Role::Value(0)));
            each(remaining, Role::Value(1));
            for (i, (name, _)) in resets.iter().enumerate() {
                each(name, Role::Value(2 + i as u8));
            }
        }
        Headers::Structured { state, policy } => {
            each(state, Role::State);
            each(policy, Role::Policy);
        }
        Headers::UsedOfLimit(names) => names.iter().for_each(|n| each(n, Role::Value(0))),
        Headers::Wait(names, format) => names.iter().for_each(|n| each(n, Role::Wait(format))),
        Headers::Verdict(names) => names.iter().for_each(|n| each(n, Role::Verdict)),
    }
}

/// Every header name the reader knows and where it goes, by the name's
/// length: a name is compared only with the few of its size.
static BY_LENGTH: LazyLock<Vec<Vec<(&'static str, Slot)>>> = LazyLock::new(|| {
    let mut by_length: Vec<Vec<_>> = Vec::new();
    let mut add = |name: &'static str, slot| {
        if by_length.len() <= name.len() {
            by_length.resize(name.len() + 1, Vec::new());
        }
        by_length[name.len()].push((name, slot));
    };
    CLOCK.into_iter().for_each(|(name, slot)| add(name, slot));
    for (f, family) in FAMILIES.iter().enumerate() {
        if let Headers::Window { resets, .. } = family.headers {
            assert!(resets.len() <= MAX_RESETS, "too many reset headers");
        }
        each_header(family.headers, |name, role| {
            let family = f as u8;
            add(name, Slot::Family { family, role })
        });
    }
    by_length
});

/// What a header holds, by its lower-case name (as `http` stores it);
/// `None` for the headers the hints do not read.
pub(crate) fn slot(name: &str) -> Option<Slot> {
    let same_length = BY_LENGTH.get(name.len())?;
    let (_, slot) = same_length.iter().find(|(known, _)| *known == name)?;
    Some(*slot)
}

/// Whether a header (lower-case name) may teach the quota layer a window
/// or a wait: any of [`FAMILIES`] but the server's verdict. The quota
/// skips reading responses with none.
pub(crate) fn teaches_quota(name: &str) -> bool {
    matches!(slot(name), Some(Slot::Family { role, .. }) if role != Role::Verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: Headers) -> Vec<(&'static str, Role)> {
        let mut out = Vec::new();
        each_header(headers, |name, role| out.push((name, role)));
        out
    }

    /// The docs' header-family table, as [`FAMILIES`] says it.
    fn docs_table() -> String {
        let code = |names: &[&str]| {
            names
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut table = String::from(
            "| headers | source | example | gives | teaches the quota |\n|---|---|---|---|---|\n",
        );
        for family in FAMILIES {
            let all: Vec<&str> = names(family.headers).iter().map(|(n, _)| *n).collect();
            let gives = match family.headers {
                Headers::Window { name: None, .. } => "one window, unnamed".to_owned(),
                Headers::Window {
                    name: Some(name), ..
                } => format!("one window, `{name}`"),
                Headers::Structured { .. } => {
                    "one window per policy, named (`q`, `w`, `r`, `t`); older: one, unnamed"
                        .to_owned()
                }
                Headers::UsedOfLimit(_) => "one window, unnamed, no reset".to_owned(),
                Headers::Wait(..) => "an explicit wait".to_owned(),
                Headers::Verdict(_) => "the server's verdict".to_owned(),
            };
            let teaches = match family.headers {
                Headers::Verdict(_) => "no",
                _ => "yes",
            };
            table += &format!(
                "| {} | {} | {gives} | {teaches} |\n",
                code(&all),
                family.doc
            );
        }
        table
    }

    /// The module docs' table is this table: edit the rows, then paste
    /// what this test prints.
    #[test]
    fn the_docs_table_is_this_table() {
        let docs: String = include_str!("mod.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! "))
            .filter(|line| line.starts_with('|'))
            .map(|line| format!("{line}\n"))
            .collect();
        let expected = docs_table();
        assert_eq!(
            docs,
            expected,
            "src/hints/mod.rs's table should read:\n{}",
            expected
                .lines()
                .map(|line| format!("//! {line}\n"))
                .collect::<String>()
        );
    }

    /// Every name once, in lower case, found by `slot` as the table says.
    #[test]
    fn every_name_is_found_once() {
        let mut seen = std::collections::HashSet::new();
        for (name, known) in BY_LENGTH.iter().flatten() {
            assert!(seen.insert(*name), "{name} twice");
            assert_eq!(*name, name.to_ascii_lowercase());
            assert_eq!(slot(name), Some(*known), "{name}");
        }
        for (f, family) in FAMILIES.iter().enumerate() {
            for (name, role) in names(family.headers) {
                let family = f as u8;
                assert_eq!(slot(name), Some(Slot::Family { family, role }));
            }
        }
        for name in [
            "",
            "content-type",
            "x-ratelimit",
            "ratelimit-limits",
            "Date",
        ] {
            assert_eq!(slot(name), None, "{name}");
        }
        assert_eq!(slot(&"x".repeat(10_000)), None);
    }

    #[test]
    fn what_teaches_the_quota() {
        for name in [
            "x-ratelimit-remaining",
            "ratelimit",
            "retry-after",
            "x-ms-retry-after-ms",
            "anthropic-ratelimit-output-tokens-reset",
            "x-shopify-shop-api-call-limit",
            "grpc-retry-pushback-ms",
        ] {
            assert!(teaches_quota(name), "{name}");
        }
        for name in [
            "date",
            "age",
            "x-should-retry",
            "content-type",
            "x-ratelimit-used",
        ] {
            assert!(!teaches_quota(name), "{name}");
        }
    }
}
