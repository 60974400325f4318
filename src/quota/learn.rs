//! What a response teaches: its windows and a cooldown, read once.

use super::{Observation, WindowReport};
use crate::hints::{teaches_quota, HintSource, RateLimitInfo, ResponseHints, RetryHint};
use crate::{ApiError, ErrorKind};
use http::{HeaderMap, StatusCode};
use std::time::{Duration, SystemTime};

/// A 429 that names no wait and no exhausted window, or a zero one, still
/// holds its scope this long: the server said "too many", and sending at
/// once only earns another. (A zero wait is a vendor's whole seconds
/// truncated in the window's last second: answered at once, a fleet drew
/// hundreds of 429s a second until the reset.)
pub(crate) const BARE_429_COOLDOWN: Duration = Duration::from_secs(1);

/// What a response (success or failure without a parse layer) teaches.
pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap) -> Observation {
    let (limited, throttled) = throttle(status, headers);
    // Unless a header could carry a window or a hint (the hints' family
    // table says which), nothing is read: one pass over the names.
    if !throttled && !headers.keys().any(|name| teaches_quota(name.as_str())) {
        return Observation::new();
    }
    let hints = ResponseHints::read(headers, SystemTime::now());
    let hint = hints.retry_hint_when_limited().filter(|_| throttled);
    let observation = of_windows(hints.policies().iter().copied());
    let info = hints.rate_limit();
    cooldown(observation, (limited, throttled), info.as_ref(), hint)
}

/// What a typed failure teaches: its hints already merge headers and body.
pub(crate) fn from_error(error: &ApiError) -> Observation {
    // Every window the failure announced, named as a success's are (so
    // both teach the same windows), from the reading the error kept: no
    // header is parsed again.
    let info = error.rate_limit().filter(|_| error.policies().is_empty());
    let window = info.map(|i| WindowReport::new(None, i.limit(), i.remaining(), i.reset(), None));
    let observation = of_windows(error.policies().iter().copied().chain(window));
    // A rate limit in disguise (GitHub's 403 with `Retry-After`, a throttle
    // sent as 400, gRPC's RESOURCE_EXHAUSTED) holds its scope as a 429
    // does, and gRPC's UNAVAILABLE throttles as a 503: the parse layer
    // named them.
    let limited = error.kind() == ErrorKind::RateLimited;
    let unavailable = error.kind() == ErrorKind::Unavailable;
    let throttled = limited || unavailable || is_throttle(error.status());
    let (info, hint) = (error.rate_limit(), error.retry_hint());
    cooldown(observation, (limited, throttled), info, hint)
}

/// An observation of `windows`, and nothing else yet.
fn of_windows(windows: impl Iterator<Item = WindowReport>) -> Observation {
    windows.fold(Observation::new(), Observation::with_window)
}

fn is_throttle(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// Whether a response is a rate limit (a 429) and whether it throttles (a
/// 429 or a 503). With the `grpc` feature, a trailers-only gRPC status
/// on a 200 stands for them by its kind, as a typed failure's does
/// (`RESOURCE_EXHAUSTED` is gRPC's 429, `UNAVAILABLE` its 503, their wait
/// the pushback: gRFC A6).
fn throttle(status: StatusCode, headers: &HeaderMap) -> (bool, bool) {
    #[cfg(feature = "grpc")]
    if status == StatusCode::OK {
        let kind = crate::grpc::trailers_only_kind(status, headers);
        let limited = kind == Some(ErrorKind::RateLimited);
        return (limited, limited || kind == Some(ErrorKind::Unavailable));
    }
    #[cfg(not(feature = "grpc"))]
    let _ = headers;
    let limited = status == StatusCode::TOO_MANY_REQUESTS;
    (limited, is_throttle(status))
}

/// The cooldown a rate limit (`limited`) or an outage (a 503: `throttled`
/// alone) teaches.
fn cooldown(
    mut observation: Observation,
    (limited, throttled): (bool, bool),
    info: Option<&RateLimitInfo>,
    hint: Option<RetryHint>,
) -> Observation {
    if !throttled {
        return observation;
    }
    if limited {
        observation = observation.rate_limited();
    }
    let untold = limited && info.is_none_or(|info| info.remaining().is_none());
    let wait = match hint.filter(|hint| !hint.delay().is_zero()) {
        // An exhausted window's reset is learned as the window; an
        // explicit wait (or a body's) holds the whole scope, and so does a
        // 429's reset whose window says nothing left (no window learned).
        Some(hint) if untold || hint.source() != HintSource::RateLimitReset => Some(hint.delay()),
        Some(_) => None,
        None => {
            let reset = info.and_then(|info| info.reset().filter(|_| info.is_exhausted()));
            let bare = limited && reset.is_none_or(|reset| reset.is_zero());
            bare.then_some(BARE_429_COOLDOWN)
        }
    };
    wait.map_or(observation, |wait| observation.with_cooldown(wait))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_error;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_typed_failure_teaches_every_window_as_a_success_would() {
        // IETF draft (httpapi-ratelimit-headers): a burst and a daily policy.
        let headers = headers(&[
            (
                "ratelimit-policy",
                r#""burst";q=100;w=60, "daily";q=1000;w=86400"#,
            ),
            ("ratelimit", r#""burst";r=0;t=30, "daily";r=400;t=3600"#),
        ]);
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        let typed = from_error(&error);
        let raw = from_response(StatusCode::TOO_MANY_REQUESTS, &headers);
        assert_eq!(typed.windows().len(), 2);
        assert_eq!(typed.windows(), raw.windows());
        assert_eq!(typed.cooldown(), raw.cooldown());
    }

    #[test]
    fn reads_windows_and_cooldowns_from_real_payloads() {
        // Rows: (source, status, headers, limit, remaining, reset s, cooldown s)
        type Row<'a> = (
            &'a str,
            u16,
            Vec<(&'a str, &'a str)>,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<u64>,
        );
        let rows: Vec<Row<'_>> = vec![
            // seeds/004 (Mira "Per-Minute Limit" 429): X-RateLimit-* with Retry-After.
            (
                "004 per-minute 429",
                429,
                vec![
                    ("x-ratelimit-limit", "60"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "45"),
                    ("retry-after", "45"),
                ],
                Some(60),
                Some(0),
                Some(45),
                Some(45),
            ),
            // GitHub REST docs, a success with its window.
            (
                "github success",
                200,
                vec![
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "4999"),
                    ("x-ratelimit-reset", "30"),
                    ("x-ratelimit-used", "1"),
                ],
                Some(5000),
                Some(4999),
                Some(30),
                None,
            ),
            // IETF draft-ietf-httpapi-ratelimit-headers-09 §5 example.
            (
                "ietf",
                200,
                vec![
                    ("ratelimit-policy", "\"default\";q=100;w=10"),
                    ("ratelimit", "\"default\";r=50;t=5"),
                ],
                Some(100),
                Some(50),
                Some(5),
                None,
            ),
            // A 503 with retry-after-ms (OpenAI, Anthropic SDKs honour it).
            (
                "503 ms",
                503,
                vec![("retry-after-ms", "1500")],
                None,
                None,
                None,
                None,
            ),
            // An exhausted window on a 429 without Retry-After: the window holds, no extra cooldown.
            (
                "429 reset only",
                429,
                vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "7")],
                None,
                Some(0),
                Some(7),
                None,
            ),
            // A bare 429: the default cooldown.
            ("bare 429", 429, vec![], None, None, None, Some(1)),
            // A vendor that truncates its whole seconds, in the window's
            // last second: a zero wait holds as a bare 429 does.
            (
                "429 wait 0",
                429,
                vec![("retry-after", "0")],
                None,
                None,
                None,
                Some(1),
            ),
            (
                "429 reset 0",
                429,
                vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "0")],
                None,
                Some(0),
                Some(0),
                Some(1),
            ),
            // A success with unrelated headers teaches nothing.
            (
                "plain",
                200,
                vec![
                    ("content-type", "application/json"),
                    ("x-request-id", "abc"),
                ],
                None,
                None,
                None,
                None,
            ),
        ];
        for (source, status, pairs, limit, remaining, reset, cooldown) in rows {
            let observation =
                from_response(StatusCode::from_u16(status).unwrap(), &headers(&pairs));
            let window = observation.windows().first();
            assert_eq!(window.and_then(|w| w.limit()), limit, "{source}");
            assert_eq!(window.and_then(|w| w.remaining()), remaining, "{source}");
            assert_eq!(
                window.and_then(|w| w.reset()).map(|r| r.as_secs()),
                reset,
                "{source}"
            );
            let expected = match source {
                "503 ms" => Some(Duration::from_millis(1500)),
                _ => cooldown.map(Duration::from_secs),
            };
            assert_eq!(observation.cooldown(), expected, "{source}");
        }
    }

    #[test]
    fn every_policy_is_a_window() {
        // IETF draft-ietf-httpapi-ratelimit-headers-09 §5.3: a burst and a daily policy.
        let observation = from_response(
            StatusCode::OK,
            &headers(&[
                (
                    "ratelimit-policy",
                    "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400",
                ),
                ("ratelimit", "\"burst\";r=99;t=30, \"daily\";r=0;t=3600"),
            ]),
        );
        let windows = observation.windows();
        assert_eq!(windows.len(), 2, "{observation:?}");
        assert_eq!(windows[0].name(), Some("burst"));
        assert_eq!(
            (windows[1].remaining(), windows[1].reset()),
            (Some(0), Some(Duration::from_secs(3600)))
        );
        // OpenAI: requests draw 1, tokens draw the cost.
        let observation = from_response(
            StatusCode::OK,
            &headers(&[
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-limit-tokens", "150000"),
                ("x-ratelimit-remaining-tokens", "149984"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
        );
        let counts: Vec<bool> = observation
            .windows()
            .iter()
            .map(crate::quota::store::window::counts_cost)
            .collect();
        assert_eq!(counts, [false, true]);
    }

    /// A rate limit the parse layer named although its status is not 429
    /// holds the scope as a 429 does: GitHub's 403 with `Retry-After` (its
    /// secondary limit, REST docs "Rate limits for the REST API"), and
    /// without one (the message names it: the bare 429's hold). A plain
    /// 403 teaches nothing.
    #[test]
    fn a_rate_limit_in_disguise_holds_its_scope() {
        let body = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        type Row<'a> = (&'a [(&'a str, &'a str)], &'a [u8], Option<u64>);
        let rows: [Row<'_>; 3] = [
            (&[("retry-after", "30")], body, Some(30)),
            (&[], body, Some(1)),
            (
                &[],
                br#"{"message":"Must have admin rights to Repository."}"#,
                None,
            ),
        ];
        for (pairs, body, cooldown) in rows {
            let error = parse_error(StatusCode::FORBIDDEN, &headers(pairs), body);
            let observation = from_error(&error);
            assert_eq!(observation.cooldown(), cooldown.map(Duration::from_secs));
            assert_eq!(observation.is_rate_limited(), cooldown.is_some());
        }
    }

    #[test]
    fn a_typed_error_teaches_its_body_hint() {
        // seeds/002: {"error": {"code": ..., "message": ..., "retry_after": ...}}
        let body = br#"{"error": {"code": 429, "message": "Rate limited", "retry_after": 2.5}}"#;
        let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
        assert_eq!(
            from_error(&error).cooldown(),
            Some(Duration::from_millis(2500))
        );
    }
}
