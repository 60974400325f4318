//! Composing a custom policy from the pieces, against an in-house API:
//!
//! - a user `Dialect` for its error shape `{"fault": {"id", "text", "wait_ms"}}`,
//!   including its own retry hint;
//! - classifier overrides: 404 on `/exists` is an answer, not a failure, and
//!   this API's 409 ("record locked") is worth retrying;
//! - `retry_if`: never retry anything under `/payments`, whatever the server says;
//! - an `on_retry` hook that logs each retry.
//!
//! `cargo run --example custom_policy`.
#![allow(dead_code)] // `tests/examples.rs` includes this file for `run`.

// Standalone, the example brings the shared loopback helpers; included by
// `tests/examples.rs`, it uses that crate's copy.
#[cfg(not(test))]
#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::classify::{Classification, ClassifyExt, DefaultClassifier};
use tower_api_errors::parse::{Dialect, DialectInput, ErrorFields};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, RetryReport, StatusClassifierLayer};

/// The in-house error shape.
struct Fault;

impl Dialect for Fault {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let fault = input.json()?.get("fault")?;
        let mut fields = ErrorFields::new()
            .code(fault.get("id")?.as_str()?)
            .message(fault.get("text")?.as_str()?);
        if let Some(ms) = fault.get("wait_ms").and_then(|v| v.as_u64()) {
            fields = fields.retry_after(Duration::from_millis(ms));
        }
        Some(fields)
    }
}

/// Outcome of one call: the status or error line, and the attempts.
pub type Outcome = (String, u32);

/// Runs three calls; returns their outcomes and the retry log.
pub async fn run() -> (Vec<(&'static str, Outcome)>, Vec<String>) {
    let locked_calls = Arc::new(Mutex::new(0u32));
    let counter = locked_calls.clone();
    let addr = crate::support::serve(move |request| {
        let counter = counter.clone();
        async move {
            match request.uri().path() {
                "/exists/42" => crate::support::response(404, &[], ""),
                "/records/7" => {
                    let call = {
                        let mut calls = counter.lock().unwrap();
                        *calls += 1;
                        *calls
                    };
                    if call <= 2 {
                        crate::support::response(409, &[], r#"{"fault": {"id": "LOCKED", "text": "record 7 is locked by a batch job", "wait_ms": 200}}"#)
                    } else {
                        crate::support::response(200, &[], r#"{"id": 7}"#)
                    }
                }
                _ => crate::support::response(503, &[], r#"{"fault": {"id": "PSP_DOWN", "text": "payment provider unavailable"}}"#),
            }
        }
    })
    .await;

    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook_log = log.clone();
    let policy = RetryPolicy::default()
        .retry_if(|ctx| ctx.uri().path().starts_with("/payments").then_some(false))
        .on_retry(move |event| {
            hook_log.lock().unwrap().push(format!(
                "retry after attempt {} ({}, {:?}): waiting {:?} ({})",
                event.attempt(),
                event.kind(),
                event.status(),
                event.delay(),
                event
                    .hint()
                    .map_or("backoff".to_owned(), |source| format!("hint from {source}")),
            ))
        });
    let classifier = DefaultClassifier::new().refine(|status, _headers, verdict| match verdict {
        Classification::Failure(failure) if status == StatusCode::CONFLICT => {
            Classification::Failure(failure.with_retryable(true))
        }
        other => other,
    });
    // A classifier sees status and headers, not the request: a per-status
    // override goes on the client that makes existence checks, where a 404
    // is an answer.
    let existence =
        DefaultClassifier::new().with_status(StatusCode::NOT_FOUND, Classification::Success);
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy.clone()))
        .layer(ErrorBodyParseLayer::new().dialect(Fault))
        .layer(StatusClassifierLayer::new().classifier(classifier))
        .service(crate::support::client::<ReplayBody<Full<Bytes>>>());
    let existence_client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new().classifier(existence))
        .service(crate::support::client::<ReplayBody<Full<Bytes>>>());

    let call = |method: Method, path: &str| {
        Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("idempotency-key", "k-1")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let describe = |result: Result<http::Response<hyper::body::Incoming>, Error>| match result {
        Ok(response) => {
            let attempts = response
                .extensions()
                .get::<RetryReport>()
                .map_or(1, RetryReport::attempts);
            (format!("ok {}", response.status().as_u16()), attempts)
        }
        Err(error) => (error.to_string(), error.retries().attempts()),
    };

    let mut outcomes = Vec::new();
    outcomes.push((
        "GET /exists/42",
        describe(
            existence_client
                .oneshot(call(Method::GET, "/exists/42"))
                .await,
        ),
    ));
    outcomes.push((
        "GET /records/7",
        describe(
            client
                .clone()
                .oneshot(call(Method::GET, "/records/7"))
                .await,
        ),
    ));
    outcomes.push((
        "POST /payments",
        describe(client.oneshot(call(Method::POST, "/payments")).await),
    ));
    let log = log.lock().unwrap().clone();
    (outcomes, log)
}

#[tokio::main]
async fn main() {
    let (outcomes, log) = run().await;
    for line in &log {
        println!("[on_retry] {line}");
    }
    for (call, (outcome, attempts)) in outcomes {
        println!("{call:<16} attempts {attempts}: {outcome}");
    }
}
