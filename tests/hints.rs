//! Header-hint formats, one row per real-world value, plus hostile ones.

use http::{HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_api_errors::hints::{
    grpc_pushback, parse_retry_after, retry_after, retry_hint, should_retry, GrpcPushback,
    HintSource, RateLimitInfo, MAX_HINT,
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
