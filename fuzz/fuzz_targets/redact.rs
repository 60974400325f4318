//! Redaction on arbitrary URIs, request headers and error text: never a
//! panic, and scrubbing never grows text beyond one `REDACTED` per byte.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use tower_api_errors::redact::{is_secret_param, redact_uri, scrub_echoes};

const NAMES: &[&str] = &["authorization", "proxy-authorization", "x-api-key", "cookie", "accept", "x-auth-token"];

fuzz_target!(|input: (String, Vec<(u8, Vec<u8>)>, String)| {
    let (uri, headers, text) = input;
    let _ = is_secret_param(&uri);
    let uri = uri.parse::<Uri>().ok();
    if let Some(uri) = &uri {
        let _ = redact_uri(uri);
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            map.append(HeaderName::from_static(NAMES[name as usize % NAMES.len()]), value);
        }
    }
    let scrubbed = scrub_echoes(&map, uri.as_ref(), &text);
    assert!(scrubbed.len() <= text.len() * 8 + 8);
});
