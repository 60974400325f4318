//! `parse_error` on arbitrary status, headers and body: it must never
//! panic, and what it returns must stay bounded.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_api_errors::parse_error;

/// Header names the parsers read: the fuzzer picks them by index.
const NAMES: &[&str] = &[
    "retry-after", "retry-after-ms", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "x-ratelimit-reset-after", "ratelimit", "ratelimit-policy", "content-type", "x-should-retry",
    "grpc-status", "grpc-message", "grpc-retry-pushback-ms", "grpc-status-details-bin",
];

fuzz_target!(|input: (u16, Vec<(u8, Vec<u8>)>, Vec<u8>)| {
    let (status, headers, body) = input;
    let status = StatusCode::from_u16(100 + status % 500).unwrap();
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            map.append(HeaderName::from_static(NAMES[name as usize % NAMES.len()]), value);
        }
    }
    let error = parse_error(status, &map, &body);
    assert!(!error.message().is_empty());
    assert!(error.message().chars().count() <= 1025);
    assert!(error.field_errors().len() <= 100);
    assert!(error.code().is_none_or(|code| code.chars().count() <= 129));
    // Kept details are the body's text, never more than the body read (or
    // twice it, once a declared single-byte charset is transcoded).
    assert!(error.details_json().is_none_or(|text| text.len() <= 2 * body.len()));
    let _ = error.details();
    let _ = error.to_string();
});
