//! The stack around a [`reqwest::Client`] (feature
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
//! crate's typed [`Error`]. A body in memory goes as its bytes, so that
//! reqwest follows a redirect that keeps the body (307, 308) as it does
//! without us; a stream, which reqwest cannot clone, gets the 3xx response
//! back ([details](ReqwestClient#redirects-that-keep-the-body)).
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
//! `is_timeout()` and the rest. Its URL is redacted as the crate's own
//! errors print theirs ([`redact_uri`](crate::redact::redact_uri)):
//! reqwest writes the URL into its error's `Display` and `Debug`, userinfo
//! and query included. A timeout set on the `reqwest::Client`
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
//!
//! # reqwest-middleware
//!
//! With feature `reqwest-middleware`, [`ApiErrorsMiddleware`] is the same
//! stack as a `reqwest_middleware::Middleware`: an existing
//! `ClientWithMiddleware` gets retry, parse, auth and quota with one
//! `.with(...)`. Each attempt goes down the rest of the chain (the
//! middleware added after it, then the client) with its own copy of the
//! call's extensions. The stack's layers read those extensions too, as
//! they read an `http::Request`'s: a
//! [`RetryOverride`](crate::retry::RetryOverride) attached with
//! `RequestBuilder::with_extension` changes what the retry layer does for
//! that call. A failure is a `reqwest_middleware::Error::Middleware`
//! holding the crate's [`Error`]; [`MiddlewareErrorExt`] reaches it. That
//! variant's own `is_connect()`, `is_timeout()`, `status()` and `url()`
//! answer `false` and `None` whatever happened (reqwest-middleware reads
//! them only off its `Reqwest` variant): ask the typed error instead
//! (`typed_error()`, then [`TransportError::is_connect`](crate::TransportError::is_connect),
//! [`reqwest_error`] for `is_timeout()`, or `api_error()` for the status).
//!
//! ```
//! # async fn start() -> String {
//! #     use hyper::{server::conn::http1, service::service_fn};
//! #     use http_body_util::Full;
//! #     use bytes::Bytes;
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #     let addr = listener.local_addr().unwrap();
//! #     tokio::spawn(async move { loop {
//! #         let (stream, _) = listener.accept().await.unwrap();
//! #         let answer = service_fn(|_: http::Request<hyper::body::Incoming>| async move {
//! #             let response = http::Response::builder().status(429)
//! #                 .header("retry-after", "86400")
//! #                 .header("content-type", "application/json")
//! #                 .body(Full::new(Bytes::from(r#"{"error": {"message": "Daily limit exceeded"}}"#))).unwrap();
//! #             Ok::<_, std::convert::Infallible>(response)
//! #         });
//! #         let io = hyper_util::rt::TokioIo::new(stream);
//! #         tokio::spawn(http1::Builder::new().serve_connection(io, answer));
//! #     }});
//! #     format!("http://{addr}")
//! # }
//! # #[cfg(feature = "reqwest-middleware")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # let base = start().await;
//! use reqwest_middleware::ClientBuilder;
//! use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
//! use tower_api_errors::reqwest::{ApiErrorsMiddleware, MiddlewareErrorExt};
//! use tower_api_errors::{ApiErrorsLayer, ErrorKind, QuotaLayer};
//!
//! let token = Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(ApiErrorsMiddleware::from(
//!         ApiErrorsLayer::new()
//!             .auth(AuthLayer::new(StaticToken::new(token)))
//!             .quota(QuotaLayer::new()),
//!     ))
//!     .build();
//!
//! let error = client.get(format!("{base}/v1/usage")).send().await.unwrap_err();
//! let api = error.api_error().expect("the typed error");
//! assert_eq!(api.kind(), ErrorKind::RateLimited);
//! assert_eq!(api.message(), "Daily limit exceeded");
//! assert_eq!(api.retry_after(), Some(std::time::Duration::from_secs(86400)));
//! # }
//! # #[cfg(not(feature = "reqwest-middleware"))] fn main() {}
//! ```
//!
//! ## Beside reqwest-retry: one of the two retries
//!
//! Both retry; together, their attempts would multiply (three times three
//! is nine sends to an upstream that is already failing), and reqwest-retry
//! knows neither `Retry-After`, the budget nor the deadline. Use ours
//! instead of `RetryTransientMiddleware`. Kept side by side, they do not
//! multiply, whichever comes first:
//!
//! - **reqwest-retry above ours** (`.with(retry).with(ours)`): our failures
//!   reach it as middleware errors, which its default strategy calls fatal,
//!   so it sends nothing again; its `RetryError` wraps ours transparently
//!   (our `Display` comes through, our type does not). A middleware above
//!   that does send the call through again (a custom strategy) finds the
//!   [`ApiErrorsSent`] marker ours left in the call's extensions and is
//!   refused with [`SentTwice`], nothing sent.
//! - **reqwest-retry below ours** (`.with(ours).with(retry)`): an attempt
//!   without a body, or with a streamed one (our replayable copy), is one
//!   it cannot clone: it refuses it ("Request object is not cloneable")
//!   before sending anything. An attempt with a body the caller gave in
//!   memory goes down as bytes reqwest can clone (for its redirects), and
//!   reqwest-retry clones it before each of its sends and waits for each
//!   answer: a clone of one attempt made after it waited below (a second
//!   send) marks the call. The answer it got is the caller's (the server
//!   may have acted on it); a further attempt of ours is refused with
//!   [`SentTwice`], nothing sent, and the refusal ends the call: it is
//!   neither retried nor hedged, and draws nothing more from the retry
//!   budget (its own sends are made, none of ours is added). Middlewares
//!   below that clone an attempt at once, however many times (to read,
//!   sign or log its body), and send it send nothing again. The
//!   misconfiguration shows on the first call that both would retry.
//!
//! `tests/reqwest_middleware.rs` keeps each of these.
#![cfg_attr(
    not(feature = "reqwest-middleware"),
    doc = "",
    doc = "[`ApiErrorsMiddleware`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/reqwest/struct.ApiErrorsMiddleware.html",
    doc = "[`MiddlewareErrorExt`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/reqwest/trait.MiddlewareErrorExt.html",
    doc = "[`ApiErrorsSent`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/reqwest/struct.ApiErrorsSent.html",
    doc = "[`SentTwice`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/reqwest/struct.SentTwice.html"
)]

mod body;
mod client;
#[cfg(feature = "reqwest-middleware")]
mod middleware;

pub use client::{ReqwestClient, ResponseFuture};
#[cfg(feature = "reqwest-middleware")]
pub use middleware::{
    ApiErrorsMiddleware, ApiErrorsSent, Chain, ChainFuture, MiddlewareErrorExt, SentTwice,
};

use crate::Error;

/// `error` with its URL as it may be printed: reqwest writes the URL in
/// its error's `Display` and `Debug`, userinfo and query included, and
/// an error's text ends up in logs. The URL keeps its scheme, host, path
/// and harmless query pairs ([`redact_uri`](crate::redact::redact_uri)).
pub(crate) fn redacted(mut error: ::reqwest::Error) -> ::reqwest::Error {
    redact(&mut error);
    error
}

/// [`redacted`], in place.
pub(crate) fn redact(error: &mut ::reqwest::Error) {
    if let Some(url) = error.url_mut() {
        *url = printable(url);
    }
}

/// `url` as it may be printed (see [`redacted`]).
pub(crate) fn printable(url: &::reqwest::Url) -> ::reqwest::Url {
    let uri = url.as_str().parse::<http::Uri>().ok();
    let redacted = uri.map(|uri| crate::redact::redact_uri(&uri));
    let printable = redacted.and_then(|text| ::reqwest::Url::parse(&text).ok());
    // A URL `http` cannot read: keep only what cannot be secret.
    printable.unwrap_or_else(|| {
        let mut url = url.clone();
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.set_query(None);
        url.set_fragment(None);
        url
    })
}

/// The `reqwest::Error` under one of the crate's errors: the source of its
/// [`TransportError`](crate::TransportError) (or a cause further down),
/// when reqwest failed the send.
pub fn reqwest_error(error: &Error) -> Option<&::reqwest::Error> {
    // Bounded: a cyclic or very long chain stops here.
    crate::error::chain(error.transport()?)
        .take(16)
        .find_map(|cause| cause.downcast_ref())
}
