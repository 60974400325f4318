//! The auth layer's reading of a rejection (status + `WWW-Authenticate`)
//! on arbitrary headers: never a panic; a 401 rejects unless it says
//! `insufficient_scope`.
#![no_main]

use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_api_errors::auth::rejects_credential;

fuzz_target!(|input: (u16, Vec<Vec<u8>>)| {
    let (status, values) = input;
    let status = StatusCode::from_u16(100 + status % 500).unwrap();
    let mut headers = HeaderMap::new();
    for value in values {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            headers.append(http::header::WWW_AUTHENTICATE, value);
        }
    }
    let rejected = rejects_credential(status, &headers);
    // A 401 rejects unless a challenge says `insufficient_scope`.
    let scope = headers.iter().any(|(_, v)| v.as_bytes().windows(18).any(|w| w == b"insufficient_scope"));
    if status == StatusCode::UNAUTHORIZED && !scope {
        assert!(rejected);
    }
});
