//! Turn failure bodies into a typed [`ApiError`](crate::ApiError), whatever
//! the vendor's error dialect.
//!
//! [`ErrorBodyParseLayer`] leaves successes untouched: the response, body
//! and all, passes through without buffering or allocation. A failure (as
//! the [`Classification`](crate::classify::Classification) stamp below it
//! says, or the classifier's verdict when there is none) has its body read
//! **up to a cap** (64 KiB by default) and **for a bounded time** (10 s), and
//! becomes `Err(Error::Api(ApiError))`. A body that outgrows the cap, fails
//! mid-stream or stalls still yields a typed error, marked
//! [`is_truncated`](crate::ApiError::is_truncated), from what was read.
//!
//! # Dialects
//!
//! The body is parsed as JSON once; then [`Dialect`]s are tried in order,
//! yours first, and the first that recognises the body wins:
//!
//! | dialect | shape |
//! |---|---|
//! | [`ProblemDetails`] | RFC 9457 `application/problem+json` |
//! | [`NestedError`] | `{"error": {"code", "message", "status", "details", ...}}` |
//! | [`OAuth2Error`] | `{"error": "code", "error_description", "validation_errors"}` |
//! | [`ErrorsList`] | top-level `errors` (arrays, field maps, strings), FastAPI `detail` lists |
//! | [`FlatError`] | top-level `message`, `detail`, `error`, `code`, ... |
//! | [`PlainText`] | HTML, XML, text: a bounded excerpt |
//!
//! Human text wins the message; a type name or identifier becomes the code
//! (`{"error": "Payment Required", "message": "Insufficient balance"}` gives
//! message "Insufficient balance" and code "Payment Required"). A body's
//! `retry_after` (seconds), `retry_after_ms` or Google `RetryInfo` is the
//! hint when no header gave one.
//!
//! Bad input is never fatal: malformed or deeply nested JSON (serde_json's
//! recursion limit), invalid UTF-8 and binary garbage all fall through to
//! [`PlainText`]; messages are made one line and bounded to 1024
//! characters; field errors to 100.
//!
//! # The default
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|req: Request<()>| async move {
//!     let response = match req.uri().path() {
//!         "/ok" => Response::new(Full::new(Bytes::from_static(b"{\"id\": 1}"))),
//!         _ => Response::builder().status(422).body(Full::new(Bytes::from_static(
//!             br#"{"error": "validation_failed", "error_description": "Validation failed",
//!                 "validation_errors": [{"field": "email", "message": "Invalid email format"}]}"#,
//!         ))).unwrap(),
//!     };
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//! let client = ServiceBuilder::new().layer(ErrorBodyParseLayer::new()).service(upstream);
//!
//! // Successes pass through untouched.
//! let ok = client.clone().oneshot(Request::get("/ok").body(()).unwrap()).await.unwrap();
//! assert_eq!(ok.status(), 200);
//!
//! // Failures are typed.
//! let Err(Error::Api(error)) = client.oneshot(Request::post("/members").body(()).unwrap()).await else {
//!     panic!("expected an API error");
//! };
//! assert_eq!(error.kind(), ErrorKind::Validation);
//! assert_eq!(error.code(), Some("validation_failed"));
//! assert_eq!(error.field_errors()[0].field(), "email");
//! assert_eq!(error.request().unwrap().to_string(), "POST /members");
//! # }
//! ```
//!
//! # Customised: an in-house dialect, a smaller cap
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::parse::{Dialect, DialectInput, ErrorFields};
//! use tower_api_errors::{Error, ErrorBodyParseLayer};
//!
//! /// Our gateway answers `{"fault": {"id": "...", "text": "..."}}`.
//! struct GatewayFault;
//!
//! impl Dialect for GatewayFault {
//!     fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
//!         let fault = input.json()?.get("fault")?;
//!         Some(ErrorFields::new().code(fault.get("id")?.as_str()?).message(fault.get("text")?.as_str()?))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|_req: Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(503).body(Full::new(Bytes::from_static(
//!         br#"{"fault": {"id": "GW-17", "text": "Backend pool drained"}}"#,
//!     ))).unwrap())
//! });
//! let client = ServiceBuilder::new()
//!     .layer(ErrorBodyParseLayer::new().dialect(GatewayFault).max_body_bytes(4096))
//!     .service(upstream);
//! let Err(Error::Api(error)) = client.oneshot(Request::new(())).await else { panic!() };
//! assert_eq!(error.code(), Some("GW-17"));
//! assert_eq!(error.message(), "Backend pool drained");
//! assert!(error.is_retryable());
//! # }
//! ```

mod charset;
mod dialect;
pub mod dialects;
mod extract;
mod future;
mod layer;
mod parser;
mod service;
mod verdict;

pub use dialect::{Dialect, DialectInput, ErrorFields};
pub use dialects::{ErrorsList, FlatError, NestedError, OAuth2Error, PlainText, ProblemDetails};
pub use future::ResponseFuture;
pub use layer::{ErrorBodyParseLayer, DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY};
pub use parser::{parse_error, ErrorParser};
pub use service::ErrorBodyParse;
pub use verdict::BodyVerdict;

/// A code from outside the body (a gRPC detail), bounded as the dialects bound theirs.
#[cfg(feature = "grpc")]
pub(crate) fn bounded_code(text: &str) -> String {
    extract::one_line(text, extract::MAX_CODE_CHARS)
}

/// A message from outside the body, bounded as the dialects bound theirs.
#[cfg(feature = "grpc")]
pub(crate) fn bounded_message(text: &str) -> String {
    extract::one_line(text, extract::MAX_MESSAGE_CHARS)
}
