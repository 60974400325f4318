//! The pipeline around `hyper_util::client::legacy::Client`, uploading a
//! streamed request body that is not `Clone` (chunks from a channel). The
//! embedded server fails the first upload with 503; the retry replays the
//! body byte for byte from what the first attempt kept, without buffering
//! it up front. `cargo run --example hyper_client`.
#![allow(dead_code)] // `tests/examples.rs` includes this file for `run`.

// Standalone, the example brings the shared loopback helpers; included by
// `tests/examples.rs`, it uses that crate's copy.
#[cfg(not(test))]
#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Channel;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Mutex};
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, RetryReport, StatusClassifierLayer};

/// What the upload came to: the response status, the attempts, and every
/// body the server received.
#[derive(Debug)]
pub struct Upload {
    /// The final status.
    pub status: u16,
    /// Attempts made.
    pub attempts: u32,
    /// The bodies the server received, one per attempt.
    pub received: Vec<Bytes>,
}

/// Uploads four chunks through the pipeline to a server that fails once.
pub async fn run() -> Upload {
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let log = received.clone();
    let addr = crate::support::serve(move |request| {
        let log = log.clone();
        async move {
            let body = crate::support::body_bytes(request.into_body()).await;
            let attempt = {
                let mut log = log.lock().unwrap();
                log.push(body);
                log.len()
            };
            match attempt {
                1 => crate::support::response(
                    503,
                    &[("retry-after", "0")],
                    r#"{"error": {"code": 503, "message": "storage node restarting"}}"#,
                ),
                _ => crate::support::response(201, &[], r#"{"stored": true}"#),
            }
        }
    })
    .await;

    // The client's request body type is `ReplayBody<B>` of the caller's `B`.
    let client: Client<_, ReplayBody<Channel<Bytes>>> =
        Client::builder(TokioExecutor::new()).build_http();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(client);

    // A streamed body: chunks produced while the request is in flight.
    let (mut sender, body) = Channel::<Bytes>::new(1);
    tokio::spawn(async move {
        for chunk in ["part-1 ", "part-2 ", "part-3 ", "part-4"] {
            if sender.send_data(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let request = Request::put(format!("http://{addr}/objects/report.txt"))
        .body(body)
        .unwrap();
    let response = service.oneshot(request).await.expect("the retry succeeds");
    let attempts = response
        .extensions()
        .get::<RetryReport>()
        .map_or(1, RetryReport::attempts);
    let received = received.lock().unwrap().clone();
    Upload {
        status: response.status().as_u16(),
        attempts,
        received,
    }
}

#[tokio::main]
async fn main() {
    let upload = run().await;
    for (attempt, body) in upload.received.iter().enumerate() {
        println!(
            "attempt {}: server received {:?}",
            attempt + 1,
            String::from_utf8_lossy(body)
        );
    }
    println!(
        "final status {} after {} attempts",
        upload.status, upload.attempts
    );
}
