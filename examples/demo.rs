//! The README's main command: `cargo run --example demo`.
//!
//! Starts an embedded hyper server on 127.0.0.1 (port 0) that answers like
//! the vendors' error pages, sends one request per scenario through a
//! hyper-util client wrapped in `StatusClassifierLayer`, and prints what the
//! classifier made of each response. No network is needed.

#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::classify::Classification;
use tower_api_errors::StatusClassifierLayer;

/// Response headers of a scenario.
type Headers = &'static [(&'static str, &'static str)];

/// (path, status, headers, body): what the embedded server answers.
const SCENARIOS: &[(&str, u16, Headers, &str)] = &[
    ("/members/1", 200, &[], r#"{"id":1}"#),
    (
        "/auth",
        401,
        &[],
        r#"{"error":"Invalid API token provided"}"#,
    ),
    (
        "/balance",
        402,
        &[],
        r#"{"error":"Payment Required","message":"Insufficient balance"}"#,
    ),
    (
        "/members/404",
        404,
        &[],
        r#"{"error":{"code":404,"message":"Resource not found"}}"#,
    ),
    (
        "/validate",
        422,
        &[],
        r#"{"error":"Invalid role value. Must be one of: admin, host, member"}"#,
    ),
    (
        "/version",
        426,
        &[],
        r#"{"error":{"code":"VERSION_OUTDATED","message":"Client version a.0.9-1 is no longer supported"}}"#,
    ),
    (
        "/per-minute",
        429,
        &[
            ("retry-after", "45"),
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1699999999"),
        ],
        r#"{"error":"Rate Limit Exceeded","message":"Too many requests per minute"}"#,
    ),
    (
        "/github",
        403,
        &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "60")],
        r#"{"message":"API rate limit exceeded"}"#,
    ),
    (
        "/proxy",
        502,
        &[("content-type", "text/html")],
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    ),
    (
        "/maintenance",
        503,
        &[("retry-after", "2")],
        r#"{"error":"internal_error","error_description":"Down for maintenance"}"#,
    ),
    ("/unimplemented", 501, &[], ""),
    (
        "/stripe",
        409,
        &[("stripe-should-retry", "true")],
        r#"{"error":{"type":"idempotency_error"}}"#,
    ),
];

#[tokio::main]
async fn main() {
    let addr = support::serve(|request| async move {
        let path = request.uri().path().to_owned();
        let (_, status, headers, body) = SCENARIOS
            .iter()
            .find(|(p, ..)| *p == path)
            .copied()
            .unwrap_or(("", 404, &[], "no such scenario"));
        support::response(status, headers, body)
    })
    .await;

    let client = ServiceBuilder::new()
        .layer(StatusClassifierLayer::new())
        .service(support::client::<Empty<Bytes>>());

    println!("embedded API on http://{addr}\n");
    println!(
        "{:<16} {:>6}  {:<17} {:<10} retry hint",
        "scenario", "status", "kind", "retryable"
    );
    println!("{}", "-".repeat(72));
    for (path, ..) in SCENARIOS {
        let request = Request::get(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap();
        let response = client
            .clone()
            .oneshot(request)
            .await
            .expect("loopback request");
        let verdict = response
            .extensions()
            .get::<Classification>()
            .copied()
            .expect("stamped");
        let kind = verdict
            .kind()
            .map_or("success".to_owned(), |kind| kind.to_string());
        let hint = verdict
            .retry_hint()
            .map_or("-".to_owned(), |hint| hint.to_string());
        let retryable = if verdict.is_failure() {
            verdict.is_retryable().to_string()
        } else {
            "-".into()
        };
        println!(
            "{path:<16} {:>6}  {kind:<17} {retryable:<10} {hint}",
            response.status().as_u16()
        );
    }
}
