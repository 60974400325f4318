//! The default classifier's verdict for every status 100..=599, against the
//! table documented on `ErrorKind::from_status` and `DefaultClassifier`.

use http::{HeaderMap, StatusCode};
use tower_api_errors::classify::{Classify, DefaultClassifier};
use tower_api_errors::ErrorKind;

/// The documented table, written out independently of the implementation:
/// (status, kind, retryable) for every status named explicitly.
const NAMED: &[(u16, ErrorKind, bool)] = &[
    (400, ErrorKind::BadRequest, false),
    (401, ErrorKind::Unauthorized, false),
    (402, ErrorKind::PaymentRequired, false),
    (403, ErrorKind::Forbidden, false),
    (404, ErrorKind::NotFound, false),
    (408, ErrorKind::Timeout, true),
    (409, ErrorKind::Conflict, false),
    (422, ErrorKind::Validation, false),
    (426, ErrorKind::UpgradeRequired, false),
    (429, ErrorKind::RateLimited, true),
    (500, ErrorKind::Server, true),
    (501, ErrorKind::Other, false),
    (502, ErrorKind::BadGateway, true),
    (503, ErrorKind::Unavailable, true),
    (504, ErrorKind::Timeout, true),
    (505, ErrorKind::Other, false),
    // RFC 2295 §8.1: "an internal configuration error".
    (506, ErrorKind::Other, false),
    // RFC 4918 §11.5: temporary lack of storage.
    (507, ErrorKind::Unavailable, true),
    // RFC 5842 §7.2: an infinite loop; a retry loops again.
    (508, ErrorKind::Other, false),
    // cPanel / Apache "Bandwidth Limit Exceeded": until the allowance resets.
    (509, ErrorKind::Unavailable, true),
    // RFC 2774 §7: the request needs an extension.
    (510, ErrorKind::Other, false),
    // RFC 6585 §6: a captive portal wants a login.
    (511, ErrorKind::Other, false),
    // Cloudflare, "Troubleshooting Cloudflare 5XX errors"
    // (developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/).
    (520, ErrorKind::BadGateway, true),
    (521, ErrorKind::BadGateway, true),
    (522, ErrorKind::Timeout, true),
    (523, ErrorKind::BadGateway, true),
    (524, ErrorKind::Timeout, true),
    (525, ErrorKind::BadGateway, true),
    (526, ErrorKind::BadGateway, true),
    // Anthropic, "Errors" (docs.anthropic.com/en/api/errors): 529
    // overloaded_error, "the API is temporarily overloaded".
    (529, ErrorKind::Unavailable, true),
    // Cloudflare: 530 accompanies a 1xxx origin error (e.g. 1016 origin DNS).
    (530, ErrorKind::BadGateway, true),
    // Network read / connect timeout behind some proxies.
    (598, ErrorKind::Timeout, true),
    (599, ErrorKind::Timeout, true),
];

/// Statuses not named in the table: every other 5xx is a server failure
/// that waiting may heal; every other 4xx is the client's to fix.
fn unnamed(code: u16) -> (ErrorKind, bool) {
    if code >= 500 {
        (ErrorKind::Server, true)
    } else {
        (ErrorKind::Other, false)
    }
}

#[test]
fn every_status_from_100_to_599() {
    let classifier = DefaultClassifier::new();
    let headers = HeaderMap::new();
    for code in 100..=599u16 {
        let status = StatusCode::from_u16(code).unwrap();
        let verdict = classifier.classify(status, &headers);
        let expected = match code {
            100..=399 => None,
            _ => Some(
                NAMED
                    .iter()
                    .find(|(named, _, _)| *named == code)
                    .map(|&(_, kind, retryable)| (kind, retryable))
                    .unwrap_or_else(|| unnamed(code)),
            ),
        };
        match expected {
            None => assert!(verdict.is_success(), "{code} should be a success"),
            Some((kind, retryable)) => {
                assert_eq!(verdict.kind(), Some(kind), "{code} kind");
                assert_eq!(verdict.is_retryable(), retryable, "{code} retryable");
                assert_eq!(
                    ErrorKind::from_status(status),
                    Some(kind),
                    "{code} from_status"
                );
            }
        }
    }
}

/// The seed pages' status tables, row by row.
#[test]
fn seed_status_tables() {
    let rows: &[(u16, Option<ErrorKind>)] = &[
        (200, None),
        (201, None),
        (204, None),
        (400, Some(ErrorKind::BadRequest)),
        (401, Some(ErrorKind::Unauthorized)),
        (402, Some(ErrorKind::PaymentRequired)),
        (403, Some(ErrorKind::Forbidden)),
        (404, Some(ErrorKind::NotFound)),
        (409, Some(ErrorKind::Conflict)),
        (422, Some(ErrorKind::Validation)),
        (426, Some(ErrorKind::UpgradeRequired)),
        (429, Some(ErrorKind::RateLimited)),
        (500, Some(ErrorKind::Server)),
        (502, Some(ErrorKind::BadGateway)),
        (503, Some(ErrorKind::Unavailable)),
    ];
    for &(code, kind) in rows {
        let verdict = DefaultClassifier::new()
            .classify(StatusCode::from_u16(code).unwrap(), &HeaderMap::new());
        assert_eq!(verdict.kind(), kind, "{code}");
    }
}

/// Header name/value pairs, as a table row holds them.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn headers(pairs: Pairs<'_>) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
        .collect()
}

#[test]
fn header_aware_rules() {
    // (status, headers, kind, retryable)
    let rows: &[(u16, Pairs<'_>, ErrorKind, bool)] = &[
        // GitHub primary rate limit: 403 with an exhausted window.
        (
            403,
            &[
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1699999999"),
            ],
            ErrorKind::RateLimited,
            true,
        ),
        // GitHub secondary rate limit: 403 with Retry-After.
        (403, &[("retry-after", "60")], ErrorKind::RateLimited, true),
        // A 400 with an exhausted IETF window.
        (
            400,
            &[("ratelimit", "\"default\";r=0;t=30")],
            ErrorKind::RateLimited,
            true,
        ),
        // A 403 with a window that still has room is a plain 403.
        (
            403,
            &[("x-ratelimit-remaining", "12")],
            ErrorKind::Forbidden,
            false,
        ),
        // A 404 with Retry-After stays a 404.
        (404, &[("retry-after", "60")], ErrorKind::NotFound, false),
        // The server's explicit verdict wins, both ways.
        (
            409,
            &[("x-should-retry", "true")],
            ErrorKind::Conflict,
            true,
        ),
        (
            500,
            &[("x-should-retry", "false")],
            ErrorKind::Server,
            false,
        ),
        (
            503,
            &[("stripe-should-retry", "FALSE")],
            ErrorKind::Unavailable,
            false,
        ),
        (
            400,
            &[("stripe-should-retry", "true")],
            ErrorKind::BadRequest,
            true,
        ),
        // Garbage verdicts are ignored.
        (
            503,
            &[("x-should-retry", "maybe")],
            ErrorKind::Unavailable,
            true,
        ),
        // RFC 9110 §15.5.14: a 413 with Retry-After is temporary.
        (413, &[("retry-after", "30")], ErrorKind::Other, true),
        (413, &[("retry-after-ms", "1500")], ErrorKind::Other, true),
        (413, &[], ErrorKind::Other, false),
        (413, &[("retry-after", "soon")], ErrorKind::Other, false),
        // Anthropic's 529 with the server's word.
        (
            529,
            &[("x-should-retry", "true")],
            ErrorKind::Unavailable,
            true,
        ),
        // A 4xx of no kind of its own with Retry-After or an exhausted
        // window is a rate limit (Binance's 418 IP ban, Twitter's old 420
        // "Enhance Your Calm"); without either it stays `Other`.
        (418, &[("retry-after", "120")], ErrorKind::RateLimited, true),
        (418, &[], ErrorKind::Other, false),
        (
            420,
            &[("x-ratelimit-remaining", "0")],
            ErrorKind::RateLimited,
            true,
        ),
        // A 501 stays final, Retry-After or not.
        (501, &[("retry-after", "5")], ErrorKind::Other, false),
    ];
    for (code, pairs, kind, retryable) in rows {
        let verdict = DefaultClassifier::new()
            .classify(StatusCode::from_u16(*code).unwrap(), &headers(pairs));
        assert_eq!(verdict.kind(), Some(*kind), "{code} {pairs:?}");
        assert_eq!(verdict.is_retryable(), *retryable, "{code} {pairs:?}");
    }
}

#[test]
fn success_never_carries_a_hint() {
    let verdict =
        DefaultClassifier::new().classify(StatusCode::OK, &headers(&[("retry-after", "5")]));
    assert!(verdict.is_success());
    assert_eq!(verdict.retry_hint(), None);
}

#[test]
fn retry_after_is_the_hint_on_429_503_and_413() {
    for code in [413, 429, 503] {
        let verdict = DefaultClassifier::new().classify(
            StatusCode::from_u16(code).unwrap(),
            &headers(&[("retry-after", "7")]),
        );
        assert_eq!(
            verdict.retry_hint().map(|h| h.delay()),
            Some(std::time::Duration::from_secs(7)),
            "{code}"
        );
        assert!(verdict.is_retryable(), "{code}");
    }
}

/// A 429 whose window reset is known but whose `remaining` is absent
/// still waits for that reset; a window with room left is no reason to.
#[test]
fn a_429_waits_for_a_known_reset_without_remaining() {
    use std::time::Duration;
    let rows: &[(u16, Pairs<'_>, Option<Duration>)] = &[
        (
            429,
            &[("x-ratelimit-reset-after", "12")],
            Some(Duration::from_secs(12)),
        ),
        (
            429,
            &[("ratelimit", "\"default\";t=20")],
            Some(Duration::from_secs(20)),
        ),
        (
            429,
            &[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", "12")],
            None,
        ),
        // Not rate limited: a reset alone is not a hint.
        (503, &[("x-ratelimit-reset-after", "12")], None),
        // A disguised rate limit (GitHub's 403 with Retry-After) counts.
        (
            403,
            &[("retry-after", "x"), ("x-ratelimit-reset-after", "12")],
            Some(Duration::from_secs(12)),
        ),
    ];
    for (code, pairs, expected) in rows {
        let verdict = DefaultClassifier::new()
            .classify(StatusCode::from_u16(*code).unwrap(), &headers(pairs));
        assert_eq!(
            verdict.retry_hint().map(|h| h.delay()),
            *expected,
            "{code} {pairs:?}"
        );
    }
}

/// `classify_with_hints` gives the same verdict as `classify`.
#[test]
fn classify_with_hints_agrees() {
    use tower_api_errors::hints::ResponseHints;
    let samples: &[Pairs<'_>] = &[
        &[],
        &[("retry-after", "3")],
        &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "9")],
        &[("x-should-retry", "false")],
    ];
    let classifier = DefaultClassifier::new();
    for code in [200, 400, 403, 413, 429, 500, 501, 503, 529] {
        for pairs in samples {
            let map = headers(pairs);
            let status = StatusCode::from_u16(code).unwrap();
            let hints = ResponseHints::read(&map, std::time::SystemTime::now());
            assert_eq!(
                classifier.classify_with_hints(status, &map, &hints),
                classifier.classify(status, &map),
                "{code} {pairs:?}"
            );
        }
    }
}
