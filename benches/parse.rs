//! Parse time per dialect on typical bodies WITH the headers such a
//! response carries (content-type, date, a request id, rate-limit headers
//! where the vendor sends them), against a plain
//! `serde_json::from_slice::<Value>` of the same bytes (the floor), in the
//! same run. (`benches/stack.rs` has the layer's success path.)
//!
//! `COUNT=<row> ITERS=<n>` runs one row n times without criterion, for
//! instruction counts (`benches/instructions.sh parse 16`): even rows are
//! the floor, odd rows `parse_error`.

mod common;

use common::Mode;
use criterion::{black_box, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tower_api_errors::parse_error;

const DATE: (&str, &str) = ("date", "Mon, 23 Nov 2026 21:00:00 GMT");
const JSON: (&str, &str) = ("content-type", "application/json");
const REQUEST_ID: (&str, &str) = ("x-request-id", "req_8f3c2a1b9d7e4f60");

/// (dialect, status, headers, body): one typical response per dialect.
#[allow(clippy::type_complexity)]
const RESPONSES: &[(&str, u16, &[(&str, &str)], &str)] = &[
    // Seed 000 (Mighty Networks): a flat error string.
    ("flat error string", 401, &[JSON, DATE, REQUEST_ID], r#"{"error": "Invalid API token provided"}"#),
    // Seed 004: `{"error": "Type", "message": ...}`, and its documented
    // 429 with X-RateLimit-* and Retry-After.
    ("flat error + message", 402, &[JSON, DATE, REQUEST_ID], r#"{"error": "Payment Required", "message": "Insufficient balance"}"#),
    ("rate limited (seed 004)", 429, &[JSON, DATE, REQUEST_ID, ("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1699999999"), ("retry-after", "45")], r#"{"error": "RateLimitExceeded", "message": "Too many requests"}"#),
    // Seed 002: nested `{"error": {"code", "message", ...}}`.
    ("nested", 426, &[JSON, DATE, REQUEST_ID], r#"{"error": {"code": "VERSION_OUTDATED", "message": "Client version a.0.9-1 is no longer supported", "client_version": "a.0.9-1", "min_version": "a.1.0-1", "server_version": "a.1.0-1", "update_url": "https://example.com/update"}}"#),
    // Seed 003: OAuth2 with validation errors.
    ("oauth2 + validation", 400, &[JSON, DATE, REQUEST_ID], r#"{"error": "validation_failed", "error_description": "Validation failed", "validation_errors": [{"field": "name", "message": "Name is required"}, {"field": "email", "message": "Invalid email format"}]}"#),
    // RFC 9457 problem details (its own media type).
    ("problem details", 422, &[("content-type", "application/problem+json"), DATE, REQUEST_ID], r##"{"type":"https://example.net/validation-error","title":"Your request is not valid.","errors":[{"detail":"must be a positive integer","pointer":"#/age"},{"detail":"must be 'green', 'red' or 'blue'","pointer":"#/profile/color"}]}"##),
    // Cloudflare's v4 API: an `errors` list, and its ray id.
    ("errors list", 400, &[JSON, DATE, ("cf-ray", "8c2f4a1b3d5e6f70-FRA")], r#"{"success":false,"errors":[{"code":7003,"message":"Could not route to /zones/abc, perhaps your object identifier is invalid?"},{"code":7000,"message":"No route for that URI"}],"messages":[],"result":null}"#),
    // An nginx proxy's HTML page.
    ("html", 502, &[("content-type", "text/html"), DATE, ("server", "nginx")], "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
];

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    map
}

fn main() {
    let mode = Mode::from_env();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("parse/dialect");
    for (i, (name, status, pairs, body)) in RESPONSES.iter().enumerate() {
        let status = StatusCode::from_u16(*status).unwrap();
        let headers = headers(pairs);
        let floor = || serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).ok();
        let ours = || parse_error(status, black_box(&headers), black_box(body.as_bytes()));
        match mode {
            Mode::Criterion => {
                group.bench_function(BenchmarkId::new("serde_json Value (floor)", name), |b| {
                    b.iter(floor)
                });
                group.bench_function(BenchmarkId::new("parse_error", name), |b| b.iter(ours));
            }
            Mode::Count { row, iters } if row == 2 * i => {
                eprintln!("row {row}: floor, {name}");
                for _ in 0..iters {
                    black_box(floor());
                }
            }
            Mode::Count { row, iters } if row == 2 * i + 1 => {
                eprintln!("row {row}: parse_error, {name}");
                for _ in 0..iters {
                    black_box(ours());
                }
            }
            Mode::Count { .. } => {}
        }
    }
    group.finish();
    if let Mode::Criterion = mode {
        criterion.final_summary();
    }
}
