//! Every header-hint parser on arbitrary header values: never a panic,
//! never past `MAX_HINT`.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};
use tower_api_errors::hints::{grpc_pushback, parse_retry_after, retry_hint, should_retry, RateLimitInfo, MAX_HINT};

const NAMES: &[&str] = &[
    "retry-after", "retry-after-ms", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "x-ratelimit-reset-after", "ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining",
    "ratelimit-reset", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "x-should-retry",
    "stripe-should-retry", "grpc-retry-pushback-ms", "grpc-status",
];

fuzz_target!(|input: (u32, Vec<(u8, Vec<u8>)>)| {
    let (now_secs, headers) = input;
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(now_secs));
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            if let Some(delay) = parse_retry_after(&value, now) {
                assert!(delay <= MAX_HINT);
            }
            map.append(HeaderName::from_static(NAMES[name as usize % NAMES.len()]), value);
        }
    }
    if let Some(hint) = retry_hint(&map, now) {
        assert!(hint.delay() <= MAX_HINT);
    }
    if let Some(info) = RateLimitInfo::from_headers(&map, now) {
        assert!(info.reset().map_or(true, |reset| reset <= MAX_HINT));
    }
    let _ = grpc_pushback(&map);
    let _ = should_retry(&map);
    let _ = tower_api_errors::grpc::classify_trailers_only(&map);
});
