//! The layers around a tonic `Channel`, against a real tonic server on
//! loopback: trailers-only failures are classified by `grpc-status`,
//! UNAVAILABLE and RESOURCE_EXHAUSTED are retried (honouring
//! `grpc-retry-pushback-ms`), a negative pushback and every other code are
//! not. `cargo run --example tonic_client --features grpc`.
#![allow(dead_code)] // `tests/grpc.rs` includes this file for `run`.

#[cfg(not(test))]
#[path = "../tests/support/echo.rs"]
mod echo;

use crate::echo::EchoRequest;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_api_errors::retry::{Backoff, ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::StatusClassifierLayer;

/// One call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The scenario the server plays.
    pub scenario: &'static str,
    /// The reply, or the final status code and message.
    pub result: Result<String, (tonic::Code, String)>,
    /// How many calls the server saw.
    pub server_saw: u32,
    /// The delays the retry layer chose.
    pub waits: Vec<Duration>,
}

/// The scenarios the example runs.
pub const SCENARIOS: &[&str] = &[
    "ok",
    "flaky",
    "exhausted",
    "pushback-negative",
    "denied",
    "unauthenticated",
    "missing",
    "invalid",
    "deadline",
];

/// Runs every scenario through the stack.
pub async fn run() -> Vec<Call> {
    let (echo, channel) = crate::echo::start().await;

    let waits: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let log = waits.clone();
    // Every gRPC call is an HTTP POST, so the default policy would retry
    // none of them. As gRFC A6 asks, retrying is opted into for a service
    // whose methods are safe to repeat; which codes are retried is still
    // the classifier's call (UNAVAILABLE, RESOURCE_EXHAUSTED).
    let policy = RetryPolicy::default()
        .retry_non_idempotent(true)
        .backoff(Backoff::exponential(
            Duration::from_millis(20),
            2.0,
            Duration::from_millis(200),
        ))
        .on_retry(move |event| log.lock().unwrap().push(event.delay()));
    let stack = ServiceBuilder::new()
        // Every failure the caller sees gets its gRPC code, the crate's own
        // (a deadline, a dropped connection) included; tonic alone gives
        // those `UNKNOWN`.
        .map_err(tower_api_errors::grpc::into_status)
        .layer(RetryLayer::new(policy))
        .layer(StatusClassifierLayer::new())
        // The retry layer hands on `ReplayBody<tonic::body::Body>`; a Channel takes tonic's Body.
        .map_request(|request: http::Request<ReplayBody<tonic::body::Body>>| {
            request.map(tonic::body::Body::new)
        })
        .service(channel);
    let mut client = tonic::client::Grpc::new(stack);

    let mut calls = Vec::new();
    for scenario in SCENARIOS {
        waits.lock().unwrap().clear();
        client.ready().await.expect("channel ready");
        let request = tonic::Request::new(EchoRequest {
            scenario: (*scenario).to_owned(),
        });
        let result = client
            .unary(request, crate::echo::SAY, crate::echo::codec())
            .await
            .map(|reply| reply.into_inner().message)
            .map_err(|status| (status.code(), status.message().to_owned()));
        let waits = waits.lock().unwrap().clone();
        calls.push(Call {
            scenario,
            result,
            server_saw: echo.calls(scenario),
            waits,
        });
    }
    calls
}

#[tokio::main]
async fn main() {
    println!("{:<18} {:>6}  {:<12} result", "scenario", "served", "waits");
    for call in run().await {
        let waits: Vec<String> = call
            .waits
            .iter()
            .map(|d| format!("{}ms", d.as_millis()))
            .collect();
        let result = match call.result {
            Ok(message) => format!("ok: {message}"),
            Err((code, message)) => format!("{code:?}: {message}"),
        };
        println!(
            "{:<18} {:>6}  {:<12} {result}",
            call.scenario,
            call.server_saw,
            waits.join(",")
        );
    }
}
