//! The stack around a [`reqwest::Client`](::reqwest::Client) (feature
//! `reqwest`), and as a `reqwest_middleware::Middleware` (feature
//! `reqwest-middleware`).
//!
//! ```text
//! ApiErrorsLayer (retry, [auth], [quota], parse) -> ReqwestClient -> reqwest::Client
//! ```
//!
//! [`ReqwestClient`] makes a `reqwest::Client` the `http`-typed service the
//! crate's layers sit on. It is thin: reqwest's own `tower::Service`
//! implementation and its `http` conversions do the work. Request bodies
//! are the retry layer's replayable copies, streamed (`reqwest::Body::wrap`),
//! so an upload is sent again on a retry without being buffered up front;
//! responses come back as `http::Response<reqwest::Body>`, failures as the
//! crate's typed [`Error`].
//!
//! # The whole stack in one line
//!
//! ```
//! use http::Request;
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//! use tower::{Layer, ServiceExt};
//! use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
//! use tower_api_errors::reqwest::ReqwestClient;
//! use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind, QuotaLayer};
//!
//! # async fn start() -> String {
//! #     use hyper::{server::conn::http1, service::service_fn};
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #     let addr = listener.local_addr().unwrap();
//! #     tokio::spawn(async move { loop {
//! #         let (stream, _) = listener.accept().await.unwrap();
//! #         let answer = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
//! #             let (status, body) = match req.uri().path() {
//! #                 "/v1/items" => (200, "[]"),
//! #                 _ => (404, r#"{"error": "no such item"}"#),
//! #             };
//! #             let response = http::Response::builder().status(status)
//! #                 .header("content-type", "application/json")
//! #                 .body(Full::new(Bytes::from(body))).unwrap();
//! #             Ok::<_, std::convert::Infallible>(response)
//! #         });
//! #         let io = hyper_util::rt::TokioIo::new(stream);
//! #         tokio::spawn(http1::Builder::new().serve_connection(io, answer));
//! #     }});
//! #     format!("http://{addr}")
//! # }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # let base = start().await;
//! let token = Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
//! let client = ApiErrorsLayer::new()
//!     .auth(AuthLayer::new(StaticToken::new(token)))
//!     .quota(QuotaLayer::new())
//!     .layer(ReqwestClient::new(reqwest::Client::new()));
//!
//! // A success: the body untouched.
//! let request = Request::get(format!("{base}/v1/items")).body(Full::new(Bytes::new())).unwrap();
//! let response = client.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "[]");
//!
//! // A failure: the typed error, its body parsed.
//! let request = Request::get(format!("{base}/v1/missing")).body(Full::new(Bytes::new())).unwrap();
//! match client.oneshot(request).await {
//!     Err(Error::Api(error)) => {
//!         assert_eq!(error.kind(), ErrorKind::NotFound);
//!         assert_eq!(error.message(), "no such item");
//!     }
//!     other => panic!("expected a typed 404, got {other:?}"),
//! }
//! # }
//! ```
//!
//! # Transport errors
//!
//! A `reqwest::Error` reaches the caller as the source of a
//! [`TransportError`](crate::TransportError). Its
//! [`is_connect`](crate::TransportError::is_connect) knows reqwest's
//! connect errors by type (retried even for a POST: nothing was sent);
//! [`reqwest_error`] reaches the `reqwest::Error` itself, for
//! `is_timeout()` and the rest. A timeout set on the `reqwest::Client`
//! bounds each attempt and is retried like any transport failure of an
//! idempotent request; the retry policy's
//! [`deadline`](crate::RetryPolicy::deadline) bounds the whole call.
//!
//! ```
//! use http::Request;
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use tower::{Layer, ServiceExt};
//! use tower_api_errors::reqwest::{reqwest_error, ReqwestClient};
//! use tower_api_errors::{ApiErrorsLayer, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A port nothing listens on.
//! let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
//! let client = ApiErrorsLayer::new()
//!     .retry(RetryPolicy::default().max_attempts(1))
//!     .layer(ReqwestClient::new(reqwest::Client::new()));
//! let request = Request::get(format!("http://127.0.0.1:{port}/")).body(Full::new(Bytes::new())).unwrap();
//! let error = client.oneshot(request).await.unwrap_err();
//! assert!(error.transport().unwrap().is_connect());
//! assert!(reqwest_error(&error).unwrap().is_connect());
//! # }
//! ```

mod client;
#[cfg(feature = "reqwest-middleware")]
mod middleware;

pub use client::{ReqwestClient, ResponseFuture};
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub use middleware::{
    ApiErrorsMiddleware, ApiErrorsSent, Chain, ChainFuture, MiddlewareErrorExt, SentTwice,
};

use crate::Error;

/// The `reqwest::Error` under one of the crate's errors: the source of its
/// [`TransportError`](crate::TransportError) (or a cause further down),
/// when reqwest failed the send.
pub fn reqwest_error(error: &Error) -> Option<&::reqwest::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = error
        .transport()
        .map(|t| t as &(dyn std::error::Error + 'static));
    // Bounded: a cyclic or very long chain stops here.
    for _ in 0..16 {
        let cause = next?;
        if let Some(reqwest) = cause.downcast_ref::<::reqwest::Error>() {
            return Some(reqwest);
        }
        next = cause.source();
    }
    None
}
