//! Classify every response: is it a failure, of what kind, may it be
//! retried, and when.
//!
//! [`StatusClassifierLayer`] wraps any `Service<http::Request<B>>` and stamps
//! a [`Classification`] into each response's extensions. It looks at the
//! status and headers only: the body streams through untouched, and errors
//! of the inner service pass through unchanged. The layers above it (body
//! parsing, retries) read the stamp instead of classifying again.
//!
//! The [`DefaultClassifier`] follows what the vendors' error pages agree on:
//! retry 408, 429 and every 5xx that waiting can heal (500, 502, 503, 504,
//! Cloudflare's 52x, Anthropic's 529, ...), never other 4xx, never 501, 505,
//! 506, 508, 510 or 511; honour `Retry-After` on 413; honour rate limits
//! sent as 403; let the server's `x-should-retry` decide.
//!
//! # The default
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::classify::{Classification, StatusClassifierLayer};
//! use tower_api_errors::ErrorKind;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|_req: Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(
//!         Response::builder().status(503).header("retry-after", "2").body(()).unwrap(),
//!     )
//! });
//! let service = StatusClassifierLayer::new().layer(upstream);
//!
//! let response = service.oneshot(Request::new(())).await.unwrap();
//! let verdict = response.extensions().get::<Classification>().unwrap();
//! assert_eq!(verdict.kind(), Some(ErrorKind::Unavailable));
//! assert!(verdict.is_retryable());
//! assert_eq!(verdict.retry_hint().unwrap().delay(), std::time::Duration::from_secs(2));
//! # }
//! ```
//!
//! # Customised
//!
//! Per-status overrides and refinements compose with the default
//! ([`ClassifyExt`]); a closure can replace it ([`classify_fn`]).
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::classify::{
//!     Classification, ClassifyExt, DefaultClassifier, Failure, StatusClassifierLayer,
//! };
//! use tower_api_errors::ErrorKind;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // An existence check: 404 means "no", which is an answer, not a failure.
//! // And this upstream's 500s are deterministic bugs: never retry them.
//! let classifier = DefaultClassifier::new()
//!     .with_status(StatusCode::NOT_FOUND, Classification::Success)
//!     .refine(|status, _headers, verdict| match verdict {
//!         Classification::Failure(f) if status == StatusCode::INTERNAL_SERVER_ERROR => {
//!             Classification::Failure(f.with_retryable(false))
//!         }
//!         other => other,
//!     });
//! let layer = StatusClassifierLayer::new().classifier(classifier);
//!
//! for (status, success, retryable) in [(404, true, false), (500, false, false), (502, false, true)] {
//!     let upstream = service_fn(move |_req: Request<()>| async move {
//!         Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(()).unwrap())
//!     });
//!     let response = layer.layer(upstream).oneshot(Request::new(())).await.unwrap();
//!     let verdict = response.extensions().get::<Classification>().unwrap();
//!     assert_eq!(verdict.is_success(), success, "{status}");
//!     assert_eq!(verdict.is_retryable(), retryable, "{status}");
//! }
//! # }
//! ```
//!
//! # With tower-http's `TraceLayer` (features `tower-http-07`, `tower-http-06`)
//!
//! Our classifiers are tower-http classifiers too, so logs and retries agree
//! on what a failure is. tower-http is not a dependency unless asked for:
//! feature `tower-http-07` implements its 0.7 `ClassifyResponse`,
//! `tower-http-06` its 0.6 one (reqwest 0.12 and many axum apps are still
//! on 0.6), and both may be on at once.
//!
//! ```
//! # #[cfg(feature = "tower-http-07")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use http::{Request, Response};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_http::classify::SharedClassifier;
//! use tower_http::trace::TraceLayer;
//! use tower_api_errors::classify::{DefaultClassifier, StatusClassifierLayer};
//!
//! let service = ServiceBuilder::new()
//!     // Logs a 429 as a failure ("rate limited (retryable, ...)"), where
//!     // tower-http's default for HTTP would only count 5xx.
//!     .layer(TraceLayer::new(SharedClassifier::new(DefaultClassifier::new())))
//!     .layer(StatusClassifierLayer::new())
//!     .service(service_fn(|_req: Request<String>| async {
//!         Ok::<_, std::convert::Infallible>(
//!             Response::builder().status(429).body(String::new()).unwrap(),
//!         )
//!     }));
//! let response = service.oneshot(Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), 429);
//! # }
//! # #[cfg(not(feature = "tower-http-07"))] fn main() {}
//! ```

mod future;
mod layer;
mod service;
#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
mod tower_http;

pub use crate::classification::{
    classify_fn, Classification, Classify, ClassifyExt, ClassifyFn, DefaultClassifier, Failure,
    Refine, WithStatus,
};
pub use future::ResponseFuture;
pub use layer::StatusClassifierLayer;
pub use service::StatusClassifier;
