//! The README's main command: `cargo run --example demo`.
//!
//! Starts an embedded hyper server on 127.0.0.1 (port 0) that answers like
//! the five vendors' error pages the crate was designed from, then sends
//! one request per scenario through the full pipeline
//!
//! ```text
//! RetryLayer -> ErrorBodyParseLayer -> StatusClassifierLayer -> hyper-util client
//! ```
//!
//! and prints what came back: attempts, time waited, and the outcome or the
//! typed error. No network is needed; it takes a few seconds.
#![allow(dead_code)] // `tests/examples.rs` includes this file for `run`.

// Standalone, the example brings the shared loopback helpers; included by
// `tests/examples.rs`, it uses that crate's copy.
#[cfg(not(test))]
#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{Backoff, ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, RetryReport, StatusClassifierLayer};

/// One scenario: a request, and what the embedded API answers to each
/// attempt (the last answer repeats).
pub struct Scenario {
    /// What the row is called.
    pub name: &'static str,
    /// The request's method.
    pub method: Method,
    /// The request's path.
    pub path: &'static str,
    /// Its `Idempotency-Key`, if any.
    pub idempotency_key: Option<&'static str>,
    answers: &'static [Answer],
}

/// (status, headers, body).
type Answer = (u16, &'static [(&'static str, &'static str)], &'static str);

const RATE_MINUTE: &[(&str, &str)] = &[
    ("retry-after", "1"),
    ("x-ratelimit-limit", "60"),
    ("x-ratelimit-remaining", "0"),
    ("x-ratelimit-reset", "1"),
];
const RATE_DAY: &[(&str, &str)] = &[
    ("retry-after", "86400"),
    ("x-ratelimit-limit", "1000"),
    ("x-ratelimit-remaining", "0"),
];
const HTML: &[(&str, &str)] = &[("content-type", "text/html")];

/// The scenarios, each named by the error style it shows and its case:
/// `flat` (`{"error": "..."}`, optionally with `message`), `nested`
/// (`{"error": {"code", "message"}}`), `OAuth2` (`error` +
/// `error_description`), rate limits, outages and retries of POSTs.
pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "member found", method: Method::GET, path: "/v1/members/1", idempotency_key: None,
        answers: &[(200, &[], r#"{"id": 1, "name": "Ada"}"#)] },
    Scenario { name: "flat: bad token", method: Method::GET, path: "/v1/members", idempotency_key: None,
        answers: &[(401, &[], r#"{"error": "Invalid API token provided"}"#)] },
    Scenario { name: "OAuth2: forbidden", method: Method::DELETE, path: "/v1/projects/7", idempotency_key: None,
        answers: &[(403, &[], r#"{"error": "forbidden", "error_description": "You do not have permission to perform this action"}"#)] },
    Scenario { name: "nested: not found", method: Method::GET, path: "/v1/users/404", idempotency_key: None,
        answers: &[(404, &[], r#"{"error": {"code": 404, "message": "User not found"}}"#)] },
    Scenario { name: "OAuth2: duplicate", method: Method::PUT, path: "/v1/proxies/MyAPI", idempotency_key: None,
        answers: &[(409, &[], r#"{"error": "duplicate_name", "error_description": "API Proxy with name 'MyAPI' already exists"}"#)] },
    Scenario { name: "OAuth2: field errors", method: Method::PUT, path: "/v1/users/9", idempotency_key: None,
        answers: &[(400, &[], r#"{"error": "validation_failed", "error_description": "Validation failed", "validation_errors": [{"field": "name", "message": "Name is required"}, {"field": "email", "message": "Invalid email format"}]}"#)] },
    Scenario { name: "flat: bad role", method: Method::PUT, path: "/v1/members/1/role", idempotency_key: None,
        answers: &[(422, &[], r#"{"error": "Invalid role value. Must be one of: admin, host, member"}"#)] },
    Scenario { name: "nested: upgrade", method: Method::GET, path: "/v1/sync", idempotency_key: None,
        answers: &[(426, &[], r#"{"error": {"code": "VERSION_OUTDATED", "message": "Client version a.0.9-1 is no longer supported", "client_version": "a.0.9-1", "min_version": "a.1.0-1", "server_version": "a.1.0-1", "update_url": "https://example.com/update"}}"#)] },
    Scenario { name: "flat: no balance", method: Method::POST, path: "/v1/verify", idempotency_key: None,
        answers: &[(402, &[], r#"{"error": "Payment Required", "message": "Insufficient balance"}"#)] },
    Scenario { name: "429 per-minute limit", method: Method::GET, path: "/v1/usage", idempotency_key: None,
        answers: &[(429, RATE_MINUTE, r#"{"error": "Rate Limit Exceeded", "message": "Too many requests per minute"}"#), (200, &[], r#"{"used": 12}"#)] },
    Scenario { name: "429 daily limit", method: Method::GET, path: "/v1/usage/daily", idempotency_key: None,
        answers: &[(429, RATE_DAY, r#"{"error": "Rate Limit Exceeded", "message": "Daily request limit exceeded"}"#)] },
    Scenario { name: "429 hint in body", method: Method::GET, path: "/v1/messages", idempotency_key: None,
        answers: &[(429, &[], r#"{"error": {"code": 429, "message": "Rate limited", "retry_after": 0.5}}"#), (200, &[], "[]")] },
    Scenario { name: "503 recovers", method: Method::GET, path: "/v1/modules/voice", idempotency_key: None,
        answers: &[(503, &[], r#"{"error": {"code": 503, "message": "Module not available"}}"#), (503, &[], r#"{"error": {"code": 503, "message": "Module not available"}}"#), (200, &[], r#"{"enabled": true}"#)] },
    Scenario { name: "502 proxy HTML page", method: Method::GET, path: "/v1/health", idempotency_key: None,
        answers: &[(502, HTML, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")] },
    Scenario { name: "POST 503, no key", method: Method::POST, path: "/v1/posts", idempotency_key: None,
        answers: &[(503, &[], r#"{"error": "Service temporarily down"}"#), (201, &[], r#"{"id": 77}"#)] },
    Scenario { name: "POST 503, keyed", method: Method::POST, path: "/v1/posts/keyed", idempotency_key: Some("post-5c1e"),
        answers: &[(503, &[], r#"{"error": "Service temporarily down"}"#), (201, &[], r#"{"id": 78}"#)] },
];

/// What one scenario came to.
#[derive(Debug)]
pub struct Row {
    /// The scenario's name.
    pub name: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// Time waited between attempts.
    pub waited: Duration,
    /// How many requests the server saw for this scenario.
    pub server_saw: u32,
    /// `Ok(status)`, or the typed error.
    pub outcome: Result<u16, Error>,
}

/// Starts the embedded API: each path answers per attempt, as its scenario says.
pub async fn serve() -> (SocketAddr, Arc<Mutex<HashMap<String, u32>>>) {
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counts = seen.clone();
    let addr = crate::support::serve(move |request| {
        let counts = counts.clone();
        async move {
            let path = request.uri().path().to_owned();
            let attempt = {
                let mut counts = counts.lock().unwrap();
                let count = counts.entry(path.clone()).or_default();
                *count += 1;
                *count as usize
            };
            match SCENARIOS.iter().find(|s| s.path == path) {
                Some(scenario) => {
                    let (status, headers, body) =
                        scenario.answers[(attempt - 1).min(scenario.answers.len() - 1)];
                    crate::support::response(status, headers, body)
                }
                None => crate::support::response(404, &[], r#"{"error": "no such scenario"}"#),
            }
        }
    })
    .await;
    (addr, seen)
}

/// The defaults, but a shorter backoff so that the demo is quick.
pub fn policy() -> RetryPolicy {
    RetryPolicy::default().backoff(Backoff::exponential(
        Duration::from_millis(100),
        2.0,
        Duration::from_secs(1),
    ))
}

/// Runs every scenario through the full pipeline.
pub async fn run() -> Vec<Row> {
    run_with(policy()).await
}

/// Runs every scenario through the full pipeline, retrying with `policy`.
pub async fn run_with(policy: RetryPolicy) -> Vec<Row> {
    let (addr, seen) = serve().await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(crate::support::client::<ReplayBody<Full<Bytes>>>());

    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        let mut request = Request::builder()
            .method(scenario.method.clone())
            .uri(format!(
                "http://{addr}{}?api_key=sk_demo_secret",
                scenario.path
            ))
            .header("authorization", "Bearer sk_demo_secret");
        if let Some(key) = scenario.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Full::new(Bytes::from_static(b"{}"))).unwrap();
        let (attempts, waited, outcome) = match client.clone().oneshot(request).await {
            Ok(response) => {
                let report = response
                    .extensions()
                    .get::<RetryReport>()
                    .copied()
                    .unwrap_or_default();
                (
                    report.attempts(),
                    report.waited(),
                    Ok(response.status().as_u16()),
                )
            }
            Err(error) => {
                let report = error.retries();
                (report.attempts(), report.waited(), Err(error))
            }
        };
        let server_saw = seen
            .lock()
            .unwrap()
            .get(scenario.path)
            .copied()
            .unwrap_or(0);
        rows.push(Row {
            name: scenario.name,
            attempts,
            waited,
            server_saw,
            outcome,
        });
    }
    rows
}

fn describe(outcome: &Result<u16, Error>) -> Vec<String> {
    let error = match outcome {
        Ok(status) => return vec![format!("ok {status}")],
        Err(Error::Api(error)) => error,
        Err(other) => return vec![format!("transport: {other}")],
    };
    let mut lines = vec![format!("{} {}", error.status().as_u16(), error.kind())];
    let mut detail = format!("message: {:?}", error.message());
    if let Some(code) = error.code() {
        detail.push_str(&format!(", code: {code:?}"));
    }
    lines.push(detail);
    if !error.field_errors().is_empty() {
        let fields: Vec<String> = error
            .field_errors()
            .iter()
            .map(|f| format!("{} ({})", f.field(), f.message()))
            .collect();
        lines.push(format!("fields: {}", fields.join(", ")));
    }
    if let Some(delay) = error.retry_after() {
        lines.push(format!("retry after: {delay:?}"));
    }
    if let Some(details) = error
        .details()
        .and_then(|d| d.get("error"))
        .filter(|e| e.get("min_version").is_some())
    {
        lines.push(format!(
            "min_version: {}, update_url: {}",
            details["min_version"], details["update_url"]
        ));
    }
    if let Some(reason) = error.retries().gave_up() {
        lines.push(format!("stopped: {reason}"));
    }
    lines
}

#[tokio::main]
async fn main() {
    let started = std::time::Instant::now();
    let rows = run().await;
    println!(
        "{:<22} {:>8} {:>8} {:>7}  outcome",
        "scenario", "attempts", "waited", "served"
    );
    println!("{}", "-".repeat(94));
    for row in &rows {
        let lines = describe(&row.outcome);
        println!(
            "{:<22} {:>8} {:>8} {:>7}  {}",
            row.name,
            row.attempts,
            format!("{:.1}s", row.waited.as_secs_f64()),
            row.server_saw,
            lines[0]
        );
        for line in &lines[1..] {
            println!("{:<49}{line}", "");
        }
    }
    println!(
        "\n{} scenarios in {:.1}s.",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    // Every request carried `Authorization: Bearer sk_demo_secret` and
    // `?api_key=sk_demo_secret`; an error's one-line Display shows neither.
    if let Some(Err(error)) = rows.iter().map(|row| &row.outcome).find(|o| o.is_err()) {
        println!("An error as Display prints it:\n  {error}");
    }
}
