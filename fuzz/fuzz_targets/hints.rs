//! Every header-hint parser on arbitrary header values: never a panic,
//! never past `MAX_HINT`, never past the documented bounds, and
//! `ResponseHints` agrees with the free functions built on it.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};
use tower_api_errors::hints::{
    grpc_pushback, parse_retry_after, retry_hint, should_retry, RateLimitInfo, ResponseHints,
    MAX_HINT, MAX_POLICIES, MAX_POLICY_NAME,
};

const NAMES: &[&str] = &[
    "retry-after", "retry-after-ms", "x-ms-retry-after-ms", "x-ratelimit-limit", "x-ratelimit-remaining",
    "x-ratelimit-reset", "x-ratelimit-reset-after", "ratelimit", "ratelimit-policy", "ratelimit-limit",
    "ratelimit-remaining", "ratelimit-reset", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
    "x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-output-tokens-reset", "x-shopify-shop-api-call-limit",
    "x-retry-after", "date", "age", "x-should-retry", "stripe-should-retry", "grpc-retry-pushback-ms", "grpc-status",
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
    let hints = ResponseHints::read(&map, now);
    assert!(hints.policies().len() <= MAX_POLICIES);
    for policy in hints.policies() {
        assert!(policy.name().map_or(true, |name| name.len() <= MAX_POLICY_NAME));
        assert!(policy.reset().map_or(true, |reset| reset <= MAX_HINT));
    }
    if let Some(hint) = hints.retry_hint_when_limited() {
        assert!(hint.delay() <= MAX_HINT);
    }
    assert_eq!(retry_hint(&map, now), hints.retry_hint());
    if let Some(info) = RateLimitInfo::from_headers(&map, now) {
        assert!(info.reset().map_or(true, |reset| reset <= MAX_HINT));
    }
    assert_eq!(should_retry(&map), hints.should_retry());
    let _ = grpc_pushback(&map);
    let _ = tower_api_errors::grpc::classify_trailers_only(&map);
});
