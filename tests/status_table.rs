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
];

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
                    .unwrap_or((ErrorKind::Other, false)),
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
