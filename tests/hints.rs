//! Header-hint formats, one row per real-world value, plus hostile ones.

use http::{HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_api_errors::hints::{
    grpc_pushback, parse_retry_after, retry_after, retry_hint, should_retry, GrpcPushback,
    HintSource, RateLimitInfo, ResponseHints, MAX_HINT, MAX_POLICIES,
};

/// 1994-11-06 08:48:37 GMT: one minute before RFC 9110's example date.
fn rfc_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(784_111_777 - 60)
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

#[test]
fn retry_after_values() {
    let rows: &[(&[u8], Option<Duration>)] = &[
        // RFC 9110 §5.6.7: the three date formats a recipient must accept.
        (b"Sun, 06 Nov 1994 08:49:37 GMT", secs(60)),
        (b"Sunday, 06-Nov-94 08:49:37 GMT", secs(60)),
        (b"Sun Nov  6 08:49:37 1994", secs(60)),
        // RFC 9110 §10.2.3's examples; five years out saturates at MAX_HINT.
        (b"Fri, 31 Dec 1999 23:59:59 GMT", Some(MAX_HINT)),
        (b"120", secs(120)),
        // Seed 004 and seed 000.
        (b"45", secs(45)),
        (b"60", secs(60)),
        (b"0", secs(0)),
        // Leniencies: surrounding whitespace, a decimal fraction.
        (b" 7 ", secs(7)),
        (b"1.5", Some(Duration::from_millis(1500))),
        // Absurd: saturates.
        (b"999999999999999999999999999999", Some(MAX_HINT)),
        (b"Fri, 31 Dec 9999 23:59:59 GMT", Some(MAX_HINT)),
        // Hostile: ignored.
        (b"-5", None),
        (b"", None),
        (b"   ", None),
        (b"soon", None),
        (b"1e3", None),
        (b"\xff\xfe12", None),
        (b"Sun, 06 Nov 1994 25:49:37 GMT", None),
        (b"Sun, 32 Nov 1994 08:49:37 GMT", None),
        (b"+5", None),
        // Obsolete zones and forms that Python's email.utils (urllib3's
        // Retry-After reader) accepts.
        (b"Sun, 06 Nov 1994 08:49:37 UTC", secs(60)),
        (b"Sun, 06 Nov 1994 08:49:37 UT", secs(60)),
        (b"Sun, 06 Nov 1994 08:49:37 +0000", secs(60)),
        (b"Sun, 06 Nov 1994 10:49:37 +0200", secs(60)),
        (b"Sun, 06 Nov 1994 00:49:37 PST", secs(60)),
        (b"06 Nov 1994 08:49:37 GMT", secs(60)),
        (b"Sun, 6 Nov 94 08:49:37 GMT", secs(60)),
        (b"1994-11-06T08:49:37Z", secs(60)),
        // asctime (RFC 9110 §5.6.7 `date3 = month SP ( 2DIGIT / ( SP
        // DIGIT ) )`) with its day not space-padded or zero-padded, as
        // servers formatting `%b %d` or `%b %-d` send it; email.utils
        // reads both. Before, the unpadded one was refused.
        (b"Sun Nov 6 08:49:37 1994", secs(60)),
        (b"Sun Nov 06 08:49:37 1994", secs(60)),
        (b"Nov 6 08:49:37 1994", secs(60)),
        // Dates before 1970 (which `httpdate` refuses) are in the past:
        // zero (RFC 9110 §10.2.3), not garbage; an RFC 850 year placed
        // more than 50 years on reads a century earlier (1945).
        (b"Sat, 06 Nov 1965 08:49:37 GMT", secs(0)),
        (b"Wed, 31 Dec 1969 23:59:59 GMT", secs(0)),
        (b"Tuesday, 06-Nov-45 08:49:47 GMT", secs(0)),
        (b"Sat Nov  6 08:49:37 1965", secs(0)),
        // Hostile dates: refused, never a panic.
        (b"Sun, 06 Nov 1994 08:49:37 +2500", None),
        (b"Sun, 06 Nov 1994 08:49:37 Mars/Olympus", None),
        (b"Sun, 29 Feb 1994 08:49:37 GMT", None),
        (
            b"Sun, 06 Nov 1994 08:49:37 GMT GMT GMT GMT GMT GMT GMT",
            None,
        ),
    ];
    for (raw, expected) in rows {
        let value = HeaderValue::from_bytes(raw).unwrap();
        assert_eq!(
            parse_retry_after(&value, rfc_now()),
            *expected,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn a_past_date_means_zero() {
    let value = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
    let later = UNIX_EPOCH + Duration::from_secs(900_000_000);
    assert_eq!(parse_retry_after(&value, later), Some(Duration::ZERO));
}

/// Header name/value pairs, as a table row holds them.
type Pairs<'a> = &'a [(&'a str, &'a [u8])];

fn headers(pairs: Pairs<'_>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

#[test]
fn several_retry_after_fields_the_longest_valid_wins() {
    let map = headers(&[
        ("retry-after", b"2"),
        ("retry-after", b"-1"),
        ("retry-after", b"9"),
        ("retry-after", b"x"),
    ]);
    assert_eq!(retry_after(&map, rfc_now()), secs(9));
    let map = headers(&[
        ("retry-after", b"Sun, 06 Nov 1994 08:49:37 GMT"),
        ("retry-after", b"5"),
    ]);
    assert_eq!(retry_after(&map, rfc_now()), secs(60));
}

/// `Retry-After` is a single value (RFC 9110 §10.2.3), not a list; lines a
/// proxy joined into one (RFC 9110 §5.3) read as the lines do: the longest.
/// So `retry-after-ms`. A date holds a comma: a piece that is no delay is
/// read with the next as a date, so joined dates, and a delay joined with
/// a date (a delay of 5 s cut a date's 60 s short: "a client must never
/// retry earlier than any instruction it was given", `retry_after` docs),
/// wait the longest.
#[test]
fn joined_retry_after_lines_read_as_lines() {
    let rows: &[(Pairs<'_>, Option<Duration>)] = &[
        (&[("retry-after", b"2, 9")], secs(9)),
        (&[("retry-after", b"9,2"), ("retry-after", b"4")], secs(9)),
        (&[("retry-after", b"2, x, -1")], secs(2)),
        (
            &[("retry-after-ms", b"1500, 2500")],
            Some(Duration::from_millis(2500)),
        ),
        (
            &[(
                "retry-after",
                b"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:50:37 GMT",
            )],
            secs(120),
        ),
        (
            &[("retry-after", b"5, Sun, 06 Nov 1994 08:49:37 GMT")],
            secs(60),
        ),
        (
            &[("retry-after", b"Sunday, 06-Nov-94 08:49:37 GMT, 90")],
            secs(90),
        ),
        (
            &[("retry-after", b"x, Sun, 06 Nov 1994 08:49:37 GMT, 7")],
            secs(60),
        ),
        (&[("retry-after", b"Sun Nov  6 08:49:37 1994, 5")], secs(60)),
        (&[("retry-after", b", ,")], None),
    ];
    for (pairs, expected) in rows {
        let map = headers(pairs);
        assert_eq!(retry_after(&map, rfc_now()), *expected, "{pairs:?}");
        let hints = ResponseHints::read(&map, rfc_now());
        assert_eq!(
            hints.explicit_hint().map(|hint| hint.delay()),
            *expected,
            "{pairs:?}"
        );
    }
}

/// `retry_after` is the one reading's: a date is read against the
/// response's `Date` (a server whose clock is 30 s ahead of ours asks for
/// 30 s), as [`ResponseHints`] reads it.
#[test]
fn retry_after_reads_a_date_against_the_response_date() {
    let map = headers(&[
        ("date", b"Sun, 06 Nov 1994 08:49:07 GMT"),
        ("retry-after", b"Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    assert_eq!(retry_after(&map, rfc_now()), secs(30));
}

/// A cache's `Age` moves the server's clock on; it does not throw it away.
/// A response received `Age` seconds after the server stamped its `Date`
/// (RFC 9111 §5.1, §4.2.3) arrives when the server's clock reads `Date +
/// Age`. CDNs add `Age` to what they serve, `Age: 0` to what they did not
/// cache (Varnish, Fastly): reading a date against the local clock instead
/// gave a client whose clock runs ahead a wait that ends before the time
/// the server named, which the `ResponseHints` docs rule out.
#[test]
fn a_caches_age_moves_the_servers_clock_on() {
    // 2023-11-14 22:13:20 GMT: the server's `Date` in every row.
    const D: u64 = 1_700_000_000;
    const DATE: (&str, &[u8]) = ("date", b"Tue, 14 Nov 2023 22:13:20 GMT");
    const IN_A_MINUTE: (&str, &[u8]) = ("retry-after", b"Tue, 14 Nov 2023 22:14:20 GMT");
    const SPENT: (&str, &[u8]) = ("x-ratelimit-remaining", b"0");
    const RESET: (&str, &[u8]) = ("x-ratelimit-reset", b"1700000060");
    let rows: &[(&str, Pairs<'_>, u64, Option<Duration>)] = &[
        (
            "through a CDN, our clock 30 s ahead",
            &[DATE, ("age", b"0"), IN_A_MINUTE],
            30,
            secs(60),
        ),
        (
            "an epoch reset through a CDN",
            &[DATE, ("age", b"0"), SPENT, RESET],
            30,
            secs(60),
        ),
        (
            "cached 30 s, our clock right",
            &[DATE, ("age", b"30"), IN_A_MINUTE],
            30,
            secs(30),
        ),
        (
            "cached 30 s, our clock an hour ahead",
            &[DATE, ("age", b"30"), IN_A_MINUTE],
            3_630,
            secs(30),
        ),
        // An `Age` that says nothing: a cache's answer of unknown age, so
        // the local clock, as without a `Date`.
        (
            "an unreadable Age",
            &[DATE, ("age", b"soon"), IN_A_MINUTE],
            30,
            secs(30),
        ),
        // A year-old answer (the most `Age` counts): its date is past.
        (
            "an absurd Age",
            &[DATE, ("age", b"99999999999999999999"), IN_A_MINUTE],
            30,
            secs(0),
        ),
    ];
    for (name, pairs, ahead, expected) in rows {
        let now = UNIX_EPOCH + Duration::from_secs(D + ahead);
        let hint = ResponseHints::read(&headers(pairs), now).retry_hint();
        assert_eq!(hint.map(|hint| hint.delay()), *expected, "{name}");
    }
}

/// RFC 9110 §5.6.7: an RFC 850 date's two-digit year that appears to be
/// more than 50 years in the future is the most recent past year with the
/// same last two digits. Placed against `now`: in November 2075, `75` is
/// 2075 (`httpdate` read 1975, a date in the past: no wait at all).
#[test]
fn an_rfc_850_year_is_placed_against_now() {
    // 2075-11-06 08:48:37 GMT.
    let now = UNIX_EPOCH + Duration::from_secs(3_340_255_717);
    let rows: &[(&[u8], SystemTime, Option<Duration>)] = &[
        (b"Wednesday, 06-Nov-75 08:49:37 GMT", now, secs(60)),
        (b"Sunday, 06-Nov-94 08:49:37 GMT", rfc_now(), secs(60)),
        // 2094 is 19 years after 2075: not more than 50, so a wait (saturated);
        // `httpdate` read 1994, no wait.
        (b"Saturday, 06-Nov-94 08:48:37 GMT", now, Some(MAX_HINT)),
    ];
    for (value, now, expected) in rows {
        let value = HeaderValue::from_bytes(value).unwrap();
        assert_eq!(parse_retry_after(&value, *now), *expected, "{value:?}");
    }
    // The response's own `Date` in RFC 850 form, placed the same way.
    let map = headers(&[
        ("date", b"Wednesday, 06-Nov-75 08:48:37 GMT"),
        ("retry-after", b"Wednesday, 06-Nov-75 08:49:37 GMT"),
    ]);
    assert_eq!(retry_after(&map, now), secs(60));
}

#[test]
fn retry_after_ms_wins_over_retry_after() {
    // OpenAI sends both.
    let map = headers(&[("retry-after", b"2"), ("retry-after-ms", b"1500")]);
    assert_eq!(
        retry_after(&map, rfc_now()),
        Some(Duration::from_millis(1500))
    );
    let map = headers(&[("retry-after", b"2"), ("retry-after-ms", b"-1")]);
    assert_eq!(retry_after(&map, rfc_now()), secs(2));
}

type Row<'a> = (
    &'a str,
    &'a [(&'a str, &'a [u8])],
    Option<(Option<u64>, Option<u64>, Option<Duration>)>,
);

#[test]
fn rate_limit_families() {
    let now = UNIX_EPOCH + Duration::from_secs(1_699_999_954);
    let rows: &[Row<'_>] = &[
        (
            "seed 004",
            &[
                ("x-ratelimit-limit", b"60"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"1699999999"),
            ],
            Some((Some(60), Some(0), secs(45))),
        ),
        (
            "GitHub docs",
            &[
                ("x-ratelimit-limit", b"60"),
                ("x-ratelimit-remaining", b"56"),
                ("x-ratelimit-used", b"4"),
                ("x-ratelimit-reset", b"1372700873"),
            ],
            Some((Some(60), Some(56), secs(0))),
        ),
        (
            "Discord: reset-after wins",
            &[
                ("x-ratelimit-limit", b"5"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"1470173023.123"),
                ("x-ratelimit-reset-after", b"64.57"),
            ],
            Some((Some(5), Some(0), Some(Duration::from_millis(64_570)))),
        ),
        (
            "delta reset",
            &[
                ("x-ratelimit-remaining", b"3"),
                ("x-ratelimit-reset", b"30"),
            ],
            Some((None, Some(3), secs(30))),
        ),
        (
            "epoch millis reset",
            &[("x-ratelimit-reset", b"1699999955000")],
            Some((None, None, secs(1))),
        ),
        (
            "OpenAI per-resource",
            &[
                ("x-ratelimit-limit-requests", b"60"),
                ("x-ratelimit-limit-tokens", b"150000"),
                ("x-ratelimit-remaining-requests", b"59"),
                ("x-ratelimit-remaining-tokens", b"149984"),
                ("x-ratelimit-reset-requests", b"1s"),
                ("x-ratelimit-reset-tokens", b"6m0s"),
            ],
            Some((Some(60), Some(59), secs(1))),
        ),
        (
            "OpenAI tokens exhausted",
            &[
                ("x-ratelimit-remaining-requests", b"59"),
                ("x-ratelimit-remaining-tokens", b"0"),
                ("x-ratelimit-reset-tokens", b"20ms"),
            ],
            Some((None, Some(0), Some(Duration::from_millis(20)))),
        ),
        (
            "IETF draft RateLimit + Policy",
            &[
                (
                    "ratelimit-policy",
                    br#""burst";q=100;w=60,"daily";q=1000;w=86400"#,
                ),
                ("ratelimit", br#""daily";r=50;t=30"#),
            ],
            Some((Some(1000), Some(50), secs(30))),
        ),
        (
            "IETF draft, most restrictive member",
            &[("ratelimit", br#""burst";r=5;t=1, "daily";r=0;t=3600"#)],
            Some((None, Some(0), secs(3600))),
        ),
        (
            // RFC 8941 §4.2.3.2: a repeated parameter overwrites the earlier
            // value (the first was kept: a retry 2 s before the server asked).
            "IETF repeated parameter, the last wins",
            &[("ratelimit", br#""a";r=0;t=5;t=7"#)],
            Some((None, Some(0), secs(7))),
        ),
        (
            "IETF token names",
            &[("ratelimit", b"default;r=0;t=10")],
            Some((None, Some(0), secs(10))),
        ),
        (
            "older draft trio",
            &[
                ("ratelimit-limit", b"10"),
                ("ratelimit-remaining", b"1"),
                ("ratelimit-reset", b"7"),
            ],
            Some((Some(10), Some(1), secs(7))),
        ),
        (
            "older draft with policies",
            &[
                ("ratelimit-limit", b"10, 10;w=1, 50;w=60"),
                ("ratelimit-remaining", b"0"),
                ("ratelimit-reset", b"1"),
            ],
            Some((Some(10), Some(0), secs(1))),
        ),
        (
            "hostile: negative and garbage",
            &[
                ("x-ratelimit-limit", b"-5"),
                ("x-ratelimit-remaining", b"lots"),
                ("x-ratelimit-reset", b""),
            ],
            None,
        ),
        (
            "hostile: non-ASCII",
            &[("x-ratelimit-remaining", b"\xff0")],
            None,
        ),
        (
            "hostile: 30 digits saturate",
            &[
                ("x-ratelimit-limit", b"999999999999999999999999999999"),
                ("x-ratelimit-reset", b"999999999999999999999999999999"),
            ],
            Some((Some(u64::MAX), None, Some(MAX_HINT))),
        ),
        (
            "hostile: IETF negative",
            &[("ratelimit", br#""x";r=-1;t=-5"#)],
            None,
        ),
        ("none", &[("content-type", b"application/json")], None),
    ];
    for (name, pairs, expected) in rows {
        let info = RateLimitInfo::from_headers(&headers(pairs), now);
        let got = info.map(|i| (i.limit(), i.remaining(), i.reset()));
        assert_eq!(got, *expected, "{name}");
    }
}

#[test]
fn merged_hint_precedence() {
    let now = rfc_now();
    let rows: &[(Pairs<'_>, Option<(u64, HintSource)>)] = &[
        (
            &[
                ("retry-after", b"3"),
                ("retry-after-ms", b"2000"),
                ("grpc-retry-pushback-ms", b"1000"),
            ],
            Some((2000, HintSource::RetryAfterMs)),
        ),
        (
            &[("retry-after", b"3"), ("grpc-retry-pushback-ms", b"1000")],
            Some((3000, HintSource::RetryAfter)),
        ),
        (
            &[
                ("grpc-retry-pushback-ms", b"1000"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"9"),
            ],
            Some((1000, HintSource::GrpcPushback)),
        ),
        (
            &[("x-ratelimit-remaining", b"0"), ("x-ratelimit-reset", b"9")],
            Some((9000, HintSource::RateLimitReset)),
        ),
        // A window that is not exhausted is no reason to wait.
        (
            &[("x-ratelimit-remaining", b"4"), ("x-ratelimit-reset", b"9")],
            None,
        ),
        (&[("retry-after", b"-5")], None),
    ];
    for (pairs, expected) in rows {
        let hint =
            retry_hint(&headers(pairs), now).map(|h| (h.delay().as_millis() as u64, h.source()));
        assert_eq!(hint, *expected, "{pairs:?}");
    }
}

#[test]
fn server_verdicts() {
    let rows: &[(Pairs<'_>, Option<bool>)] = &[
        (&[("x-should-retry", b"true")], Some(true)),
        (&[("x-should-retry", b"false")], Some(false)),
        (&[("stripe-should-retry", b"True")], Some(true)),
        (
            &[
                ("x-should-retry", b"true"),
                ("stripe-should-retry", b"false"),
            ],
            Some(false),
        ),
        (&[("x-should-retry", b"yes")], None),
        (&[("x-should-retry", b"")], None),
        (&[], None),
    ];
    for (pairs, expected) in rows {
        assert_eq!(should_retry(&headers(pairs)), *expected, "{pairs:?}");
    }
}

#[test]
fn grpc_pushback_values() {
    let rows: &[(&[u8], GrpcPushback)] = &[
        (b"0", GrpcPushback::After(Duration::ZERO)),
        (b"250", GrpcPushback::After(Duration::from_millis(250))),
        (b"-1", GrpcPushback::DoNotRetry),
        (b"abc", GrpcPushback::DoNotRetry),
        (b"1.5", GrpcPushback::DoNotRetry),
        (b"", GrpcPushback::DoNotRetry),
        (
            b"999999999999999999999999999999",
            GrpcPushback::After(MAX_HINT),
        ),
    ];
    for (raw, expected) in rows {
        let map = headers(&[("grpc-retry-pushback-ms", raw)]);
        assert_eq!(
            grpc_pushback(&map),
            Some(*expected),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(grpc_pushback(&HeaderMap::new()), None);
}

/// One expected window: (name, limit, remaining, reset seconds, window seconds).
type Window<'a> = (
    Option<&'a str>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

type FamilyRow<'a> = (
    &'a str,
    Pairs<'a>,
    &'a [Window<'a>],
    Option<(u64, HintSource)>,
);

/// Every header family `ResponseHints` reads, one row per documented
/// example, then hostile variants. `now` is 2023-11-14 22:13:20 UTC.
#[test]
fn response_hints_families() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let rows: &[FamilyRow<'_>] = &[
        (
            // Okta, "Rate limits overview" / "Rate limit best practices"
            // (developer.okta.com/docs/reference/rl-best-practices/):
            // X-Rate-Limit-Limit, -Remaining, -Reset (Unix seconds).
            "Okta",
            &[
                ("x-rate-limit-limit", b"600"),
                ("x-rate-limit-remaining", b"0"),
                ("x-rate-limit-reset", b"1700000042"),
            ],
            &[(None, Some(600), Some(0), Some(42), None)],
            Some((42_000, HintSource::RateLimitReset)),
        ),
        (
            // X API v2, "Rate limits" (docs.x.com/x-api/fundamentals/rate-limits):
            // x-rate-limit-limit / -remaining / -reset (Unix seconds).
            "X",
            &[
                ("x-rate-limit-limit", b"900"),
                ("x-rate-limit-remaining", b"899"),
                ("x-rate-limit-reset", b"1700000900"),
            ],
            &[(None, Some(900), Some(899), Some(900), None)],
            None,
        ),
        (
            // Anthropic, "Rate limits" (docs.anthropic.com/en/api/rate-limits):
            // anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
            // {limit,remaining,reset}, resets in RFC 3339, retry-after on 429.
            "Anthropic 429",
            &[
                ("retry-after", b"12"),
                ("anthropic-ratelimit-requests-limit", b"1000"),
                ("anthropic-ratelimit-requests-remaining", b"999"),
                ("anthropic-ratelimit-requests-reset", b"2023-11-14T22:13:21Z"),
                ("anthropic-ratelimit-tokens-limit", b"96000"),
                ("anthropic-ratelimit-tokens-remaining", b"0"),
                ("anthropic-ratelimit-tokens-reset", b"2023-11-14T22:13:32Z"),
                ("anthropic-ratelimit-input-tokens-limit", b"80000"),
                ("anthropic-ratelimit-input-tokens-remaining", b"0"),
                ("anthropic-ratelimit-input-tokens-reset", b"2023-11-14T22:13:32Z"),
                ("anthropic-ratelimit-output-tokens-limit", b"16000"),
                ("anthropic-ratelimit-output-tokens-remaining", b"16000"),
                ("anthropic-ratelimit-output-tokens-reset", b"2023-11-14T22:13:20Z"),
            ],
            &[
                (Some("requests"), Some(1000), Some(999), Some(1), None),
                (Some("tokens"), Some(96000), Some(0), Some(12), None),
                (Some("input-tokens"), Some(80000), Some(0), Some(12), None),
                (Some("output-tokens"), Some(16000), Some(16000), Some(0), None),
            ],
            Some((12_000, HintSource::RetryAfter)),
        ),
        (
            // A recorded Anthropic response (tidyllm's test fixture
            // api.anthropic.com/v1/messages-e050b5-POST.R): resets a second
            // before the response's own Date are already past.
            "Anthropic against its Date",
            &[
                ("date", b"Thu, 21 Aug 2025 12:41:00 GMT"),
                ("anthropic-ratelimit-requests-limit", b"1000"),
                ("anthropic-ratelimit-requests-remaining", b"999"),
                ("anthropic-ratelimit-requests-reset", b"2025-08-21T12:40:59Z"),
                ("anthropic-ratelimit-output-tokens-limit", b"16000"),
                ("anthropic-ratelimit-output-tokens-remaining", b"0"),
                ("anthropic-ratelimit-output-tokens-reset", b"2025-08-21T12:41:05Z"),
            ],
            &[
                (Some("requests"), Some(1000), Some(999), Some(0), None),
                (Some("output-tokens"), Some(16000), Some(0), Some(5), None),
            ],
            Some((5_000, HintSource::RateLimitReset)),
        ),
        (
            // Shopify, "API rate limits" (shopify.dev/docs/api/usage/rate-limits):
            // "X-Shopify-Shop-Api-Call-Limit: 32/40", and a 429 carries
            // "Retry-After: 2.0".
            "Shopify",
            &[
                ("x-shopify-shop-api-call-limit", b"40/40"),
                ("retry-after", b"2.0"),
            ],
            &[(None, Some(40), Some(0), None, None)],
            Some((2_000, HintSource::RetryAfter)),
        ),
        (
            "Shopify with room",
            &[("x-shopify-shop-api-call-limit", b"39/40")],
            &[(None, Some(40), Some(1), None, None)],
            None,
        ),
        (
            // draft-ietf-httpapi-ratelimit-headers-07 §5 (the single-field
            // dictionary form): "RateLimit: limit=100, remaining=50, reset=5".
            "older single-field draft",
            &[("ratelimit", b"limit=100, remaining=0, reset=5")],
            &[(None, Some(100), Some(0), Some(5), None)],
            Some((5_000, HintSource::RateLimitReset)),
        ),
        (
            // draft-ietf-httpapi-ratelimit-headers-09 §3.1 / §4.1 examples,
            // with several policies, quota units and a partition key.
            "current draft, several policies",
            &[
                (
                    "ratelimit-policy",
                    br#""burst";q=100;w=60;qu="requests", "daily";q=1000;w=86400;pk=:cHsdsRa894==:"#,
                ),
                ("ratelimit", br#""burst";r=0;t=30;pk=:cHsdsRa894==:"#),
                ("ratelimit", br#""daily";r=900;t=40000"#),
            ],
            &[
                (Some("burst"), Some(100), Some(0), Some(30), Some(60)),
                (Some("daily"), Some(1000), Some(900), Some(40000), Some(86400)),
            ],
            Some((30_000, HintSource::RateLimitReset)),
        ),
        (
            // GitLab.com, "GitLab.com settings" / "User and IP rate limits"
            // (docs.gitlab.com/user/gitlab_com/): RateLimit-Limit, -Observed,
            // -Remaining, -Reset (Unix seconds), -ResetTime (HTTP-date).
            "GitLab",
            &[
                ("ratelimit-limit", b"600"),
                ("ratelimit-observed", b"6"),
                ("ratelimit-remaining", b"594"),
                ("ratelimit-reset", b"1700000060"),
                ("ratelimit-resettime", b"Tue, 14 Nov 2023 22:14:20 GMT"),
            ],
            &[(None, Some(600), Some(594), Some(60), None)],
            None,
        ),
        (
            // The same with RateLimit-ResetTime alone: an HTTP-date.
            "GitLab ResetTime",
            &[
                ("ratelimit-remaining", b"0"),
                ("ratelimit-resettime", b"Tue, 14 Nov 2023 22:14:20 GMT"),
            ],
            &[(None, None, Some(0), Some(60), None)],
            Some((60_000, HintSource::RateLimitReset)),
        ),
        (
            // Jira Cloud, "Rate limiting" (developer.atlassian.com/cloud/jira/platform/rate-limiting/):
            // a 429 with Retry-After, and X-RateLimit-Reset as `yyyy-MM-ddTHH:mmZ`.
            "Jira Cloud 429",
            &[
                ("retry-after", b"5"),
                ("x-ratelimit-limit", b"350"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"2023-11-14T22:14Z"),
                ("x-ratelimit-nearlimit", b"true"),
                ("ratelimit-reason", b"jira-burst-based"),
            ],
            &[(None, Some(350), Some(0), Some(40), None)],
            Some((5_000, HintSource::RetryAfter)),
        ),
        (
            // Reddit API wiki, "Rules" (github.com/reddit-archive/reddit/wiki/API):
            // X-Ratelimit-Used, -Remaining (sent as a decimal), -Reset (seconds).
            "Reddit",
            &[
                ("x-ratelimit-used", b"4"),
                ("x-ratelimit-remaining", b"596.0"),
                ("x-ratelimit-reset", b"371"),
            ],
            &[(None, None, Some(596), Some(371), None)],
            None,
        ),
        (
            // Docker Hub, "Pull usage and limits" (docs.docker.com/docker-hub/usage/pulls/):
            // ratelimit-limit / -remaining with a `w=` window.
            "Docker Hub",
            &[
                ("ratelimit-limit", b"100;w=21600"),
                ("ratelimit-remaining", b"76;w=21600"),
            ],
            &[(None, Some(100), Some(76), None, None)],
            None,
        ),
        (
            // Mastodon, "Rate limits" (docs.joinmastodon.org/api/rate-limits/):
            // X-RateLimit-Reset is an ISO 8601 timestamp with milliseconds.
            "Mastodon",
            &[
                ("x-ratelimit-limit", b"300"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"2023-11-14T22:15:00.000Z"),
            ],
            &[(None, Some(300), Some(0), Some(100), None)],
            Some((100_000, HintSource::RateLimitReset)),
        ),
        (
            // Zendesk, "Requests" (developer.zendesk.com/api-reference/introduction/requests/):
            // "X-Rate-Limit: 700" and "X-Rate-Limit-Remaining: 699".
            "Zendesk",
            &[("x-rate-limit", b"700"), ("x-rate-limit-remaining", b"699")],
            &[(None, Some(700), Some(699), None, None)],
            None,
        ),
        (
            // Salesforce REST API, "Limit Info Header"
            // (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm):
            // the org's API requests in the last 24 hours, used/limit.
            "Salesforce",
            &[("sforce-limit-info", b"api-usage=18/5000")],
            &[(None, Some(5000), Some(4982), None, None)],
            None,
        ),
        (
            // Yelp Places API, "Rate Limiting" (docs.developer.yelp.com/docs/places-rate-limiting):
            // RateLimit-DailyLimit / -Remaining / -ResetTime (ISO 8601), the daily
            // window resetting at midnight UTC.
            "Yelp daily",
            &[
                ("ratelimit-dailylimit", b"500"),
                ("ratelimit-remaining", b"0"),
                ("ratelimit-resourcedailylimit", b"100"),
                ("ratelimit-resourceremaining", b"99"),
                ("ratelimit-resettime", b"2023-11-15T00:00:00+00:00"),
            ],
            &[(None, Some(500), Some(0), Some(6400), None)],
            Some((6_400_000, HintSource::RateLimitReset)),
        ),
        (
            // Cloudflare API, "Rate limits" (developers.cloudflare.com/fundamentals/api/reference/limits/):
            // `Ratelimit: "default";r=50;t=30`, `Ratelimit-Policy: "burst";q=100;w=60`,
            // and `retry-after` once over the limit.
            "Cloudflare",
            &[
                ("ratelimit", br#""default";r=50;t=30"#),
                ("ratelimit-policy", br#""burst";q=100;w=60"#),
            ],
            &[
                (Some("default"), None, Some(50), Some(30), None),
                (Some("burst"), Some(100), None, None, Some(60)),
            ],
            None,
        ),
        (
            // Azure Cosmos DB / Azure OpenAI: "x-ms-retry-after-ms" on 429.
            "Azure",
            &[("x-ms-retry-after-ms", b"1500"), ("retry-after", b"2")],
            &[],
            Some((1_500, HintSource::RetryAfterMs)),
        ),
        (
            // Clock skew: the server's clock is an hour behind ours; its
            // Retry-After date is one minute after its own Date.
            "Retry-After date against Date",
            &[
                ("date", b"Tue, 14 Nov 2023 21:13:20 GMT"),
                ("retry-after", b"Tue, 14 Nov 2023 21:14:20 GMT"),
            ],
            &[],
            Some((60_000, HintSource::RetryAfter)),
        ),
        (
            // The same from a cache that held it 30 s: the server's clock
            // reads Date + Age (RFC 9111 §4.2.3), 30 s before the date.
            // (Before, the local clock: the date was past, no wait.)
            "Retry-After date with Age",
            &[
                ("date", b"Tue, 14 Nov 2023 21:13:20 GMT"),
                ("age", b"30"),
                ("retry-after", b"Tue, 14 Nov 2023 21:14:20 GMT"),
            ],
            &[],
            Some((30_000, HintSource::RetryAfter)),
        ),
        (
            // GitHub's epoch reset against a Date 100 s ahead of our clock.
            "epoch reset against Date",
            &[
                ("date", b"Tue, 14 Nov 2023 22:15:00 GMT"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"1700000160"),
            ],
            &[(None, None, Some(0), Some(60), None)],
            Some((60_000, HintSource::RateLimitReset)),
        ),
        (
            "unreadable Date: the local clock",
            &[
                ("date", b"yesterday"),
                ("x-ratelimit-remaining", b"0"),
                ("x-ratelimit-reset", b"1700000160"),
            ],
            &[(None, None, Some(0), Some(160), None)],
            Some((160_000, HintSource::RateLimitReset)),
        ),
        // Hostile variants.
        (
            "hostile: Shopify garbage",
            &[("x-shopify-shop-api-call-limit", b"40/-1/x")],
            &[],
            None,
        ),
        (
            "hostile: used above limit",
            &[("x-shopify-shop-api-call-limit", b"99/40")],
            &[(None, Some(40), Some(0), None, None)],
            None,
        ),
        (
            "hostile: RFC 3339 out of range",
            &[
                ("anthropic-ratelimit-tokens-remaining", b"0"),
                ("anthropic-ratelimit-tokens-reset", b"2023-02-30T25:61:00Z"),
            ],
            &[(Some("tokens"), None, Some(0), None, None)],
            None,
        ),
        (
            "hostile: far-future RFC 3339 saturates",
            &[
                ("anthropic-ratelimit-tokens-remaining", b"0"),
                ("anthropic-ratelimit-tokens-reset", b"9999-12-31T23:59:59Z"),
            ],
            &[(Some("tokens"), None, Some(0), Some(MAX_HINT.as_secs()), None)],
            Some((MAX_HINT.as_millis() as u64, HintSource::RateLimitReset)),
        ),
        (
            "hostile: structured garbage",
            &[
                ("ratelimit", br#""a;r=0, ;;;, =,"#),
                ("ratelimit-policy", br#"limit=, "b";q=-5;w=1e9"#),
            ],
            &[(Some("b"), None, None, None, None)],
            None,
        ),
        (
            "hostile: Date far in the past",
            &[
                ("date", b"Thu, 01 Jan 1970 00:00:01 GMT"),
                ("retry-after", b"Tue, 14 Nov 2023 22:14:20 GMT"),
            ],
            &[],
            Some((MAX_HINT.as_millis() as u64, HintSource::RetryAfter)),
        ),
    ];
    for (name, pairs, windows, hint) in rows {
        let hints = ResponseHints::read(&headers(pairs), now);
        let got: Vec<Window<'_>> = hints
            .policies()
            .iter()
            .map(|p| {
                (
                    p.name(),
                    p.limit(),
                    p.remaining(),
                    p.reset().map(|r| r.as_secs()),
                    p.window().map(|w| w.as_secs()),
                )
            })
            .collect();
        // A policy with only a name and nothing readable is dropped.
        let expected: Vec<Window<'_>> = windows
            .iter()
            .copied()
            .filter(|w| w.1.is_some() || w.2.is_some() || w.3.is_some() || w.4.is_some())
            .collect();
        assert_eq!(got, expected, "{name}");
        let got_hint = hints
            .retry_hint()
            .map(|h| (h.delay().as_millis() as u64, h.source()));
        assert_eq!(got_hint, *hint, "{name}");
        // The free functions agree with the reading.
        let map = headers(pairs);
        assert_eq!(
            RateLimitInfo::from_headers(&map, now),
            hints.rate_limit(),
            "{name}"
        );
        assert_eq!(retry_hint(&map, now), hints.retry_hint(), "{name}");
        assert_eq!(should_retry(&map), hints.should_retry(), "{name}");
    }
}

/// The binding window is the most restrictive one across families.
#[test]
fn binding_window_across_families() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let map = headers(&[
        ("x-ratelimit-limit", b"5000"),
        ("x-ratelimit-remaining", b"4000"),
        ("ratelimit", br#""hourly";r=0;t=120, "minute";r=0;t=20"#),
        ("x-ratelimit-remaining-tokens", b"3"),
    ]);
    let hints = ResponseHints::read(&map, now);
    let binding = hints.rate_limit().unwrap();
    assert_eq!(binding.remaining(), Some(0));
    assert_eq!(binding.reset(), Some(Duration::from_secs(120)));
    assert_eq!(hints.policies().len(), 4);
}

/// 400 KB of hostile fields: a bounded reading, whatever the shape.
#[test]
fn hostile_400_kb_of_headers() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut map = HeaderMap::new();
    let policies: String = (0..10_000).map(|i| format!("\"p{i}\";q=1;w=1,")).collect();
    let states: String = (0..10_000).map(|i| format!("\"p{i}\";r=0;t=1,")).collect();
    map.append(
        "ratelimit-policy",
        HeaderValue::from_str(&policies).unwrap(),
    );
    map.append("ratelimit", HeaderValue::from_str(&states).unwrap());
    map.append(
        "retry-after",
        HeaderValue::from_str(&"Sun, 06 Nov 1994 ".repeat(5_000)).unwrap(),
    );
    map.append(
        "anthropic-ratelimit-tokens-reset",
        HeaderValue::from_str(&"2024-".repeat(10_000)).unwrap(),
    );
    let bytes: usize = map.iter().map(|(_, v)| v.len()).sum();
    assert!(bytes >= 400_000, "{bytes}");
    let hints = ResponseHints::read(&map, now);
    assert!(hints.policies().len() <= MAX_POLICIES);
    assert_eq!(hints.policies()[0].name(), Some("p0"));
    assert_eq!(hints.policies()[0].limit(), Some(1));
    assert_eq!(hints.explicit_hint(), None);
}
