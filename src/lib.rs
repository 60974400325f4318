//! Tower middleware for client-side API errors.
//!
//! Every serious API documents its errors the same way: status codes with
//! meanings, a JSON error body in one of a few dialects, `429` with
//! `Retry-After` and rate-limit headers, and "retry 5xx and 429 with
//! exponential backoff, never other 4xx". This crate turns that into layers
//! that stack around **any** `tower::Service<http::Request<B>>`: a hyper-util
//! client, a tonic `Channel`, or anything else.
//!
//! ```text
//!             request ─────────────────────────────────────────────►
//! caller ─► RetryLayer ─► ErrorBodyParseLayer ─► StatusClassifierLayer ─► inner Service
//!             ◄───────────────────────────────────────────── response
//! ```
//!
//! - [`classify`]: [`StatusClassifierLayer`] stamps a
//!   [`Classification`](classify::Classification) (kind, retryable, hint)
//!   into every response.
//! - [`hints`]: `Retry-After` (seconds and all three HTTP-date formats),
//!   `retry-after-ms`, rate-limit headers of every common family, and the
//!   server's explicit retry verdicts.
//! - [`parse`]: [`ErrorBodyParseLayer`] turns failure bodies into a typed
//!   [`ApiError`] for every common error dialect; [`parse_error`] is the
//!   same as a plain function.
//! - [`retry`]: [`RetryLayer`] and [`RetryPolicy`] honour server hints,
//!   back off with jitter, respect idempotency, replay streamed request
//!   bodies and bound the extra load with a shared budget.
//! - [`redact`]: credentials never reach an error or a log line.
//! - `grpc` (feature `grpc`): `grpc-status` classification and pushback.
//!
//! # Quick start
//!
//! ```
//! use http::{Request, Response};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::{classify::Classification, ErrorKind, StatusClassifierLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let client = ServiceBuilder::new()
//!     .layer(StatusClassifierLayer::new())
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(Response::builder().status(429).body(()).unwrap())
//!     }));
//! let response = client.oneshot(Request::new(())).await.unwrap();
//! let verdict = response.extensions().get::<Classification>().unwrap();
//! assert_eq!(verdict.kind(), Some(ErrorKind::RateLimited));
//! assert!(verdict.is_retryable());
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
mod error;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
pub mod hints;
mod kind;
pub mod parse;
mod percent;
pub mod redact;
pub mod retry;
mod telemetry;

pub use classify::StatusClassifierLayer;
pub use error::{ApiError, BoxError, Error, FieldError, RetryReport, StopReason, TransportError};
pub use kind::ErrorKind;
pub use parse::{parse_error, ErrorBodyParseLayer};
pub use retry::{RetryLayer, RetryPolicy};
