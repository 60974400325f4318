//! Parse time per dialect on typical bodies, against a plain
//! `serde_json::from_slice::<Value>` of the same bytes (the floor), in the
//! same run. (`benches/stack.rs` has the layer's success path.)

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, StatusCode};
use tower_api_errors::parse_error;

/// (dialect, status, body): one typical body per dialect.
const BODIES: &[(&str, u16, &str)] = &[
    ("flat error string", 401, r#"{"error": "Invalid API token provided"}"#),
    ("flat error + message", 402, r#"{"error": "Payment Required", "message": "Insufficient balance"}"#),
    ("nested", 426, r#"{"error": {"code": "VERSION_OUTDATED", "message": "Client version a.0.9-1 is no longer supported", "client_version": "a.0.9-1", "min_version": "a.1.0-1", "server_version": "a.1.0-1", "update_url": "https://example.com/update"}}"#),
    ("oauth2 + validation", 400, r#"{"error": "validation_failed", "error_description": "Validation failed", "validation_errors": [{"field": "name", "message": "Name is required"}, {"field": "email", "message": "Invalid email format"}]}"#),
    ("problem details", 422, r##"{"type":"https://example.net/validation-error","title":"Your request is not valid.","errors":[{"detail":"must be a positive integer","pointer":"#/age"},{"detail":"must be 'green', 'red' or 'blue'","pointer":"#/profile/color"}]}"##),
    ("errors list", 400, r#"{"success":false,"errors":[{"code":7003,"message":"Could not route to /zones/abc, perhaps your object identifier is invalid?"},{"code":7000,"message":"No route for that URI"}],"messages":[],"result":null}"#),
    ("html", 502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
];

fn per_dialect(c: &mut Criterion) {
    let headers = HeaderMap::new();
    let mut group = c.benchmark_group("parse/dialect");
    for (name, status, body) in BODIES {
        let status = StatusCode::from_u16(*status).unwrap();
        group.bench_with_input(
            BenchmarkId::new("serde_json Value (floor)", name),
            body,
            |b, body| {
                b.iter(|| {
                    serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).ok()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("parse_error", name), body, |b, body| {
            b.iter(|| parse_error(status, black_box(&headers), black_box(body.as_bytes())))
        });
    }
    group.finish();
}

criterion_group!(benches, per_dialect);
criterion_main!(benches);
