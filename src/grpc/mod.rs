//! gRPC status classification (feature `grpc`).
//!
//! A gRPC failure usually arrives as HTTP 200 with a `grpc-status` trailer.
//! When the server fails before sending any message, it sends a
//! *trailers-only* response: `grpc-status` (and `grpc-message`) arrive in
//! the headers, so they can be classified as soon as the response starts,
//! exactly like an HTTP status. [`DefaultClassifier`](crate::classify::DefaultClassifier)
//! does so whenever this feature is on.
//!
//! | gRPC status | kind | retried |
//! |---|---|---|
//! | `OK` (0) | success | |
//! | `INVALID_ARGUMENT` (3), `FAILED_PRECONDITION` (9), `OUT_OF_RANGE` (11) | `BadRequest` | no |
//! | `DEADLINE_EXCEEDED` (4) | `Timeout` | no: the caller's own deadline has passed |
//! | `NOT_FOUND` (5) | `NotFound` | no |
//! | `ALREADY_EXISTS` (6), `ABORTED` (10) | `Conflict` | no |
//! | `PERMISSION_DENIED` (7) | `Forbidden` | no |
//! | `RESOURCE_EXHAUSTED` (8) | `RateLimited` | yes |
//! | `UNAVAILABLE` (14) | `Unavailable` | yes |
//! | `UNAUTHENTICATED` (16) | `Unauthorized` | no |
//! | `UNKNOWN` (2), `INTERNAL` (13), `DATA_LOSS` (15) | `Server` | no |
//! | `CANCELLED` (1), `UNIMPLEMENTED` (12), anything else | `Other` | no |
//!
//! `grpc-retry-pushback-ms` is the hint; a negative or malformed pushback
//! means "do not retry" (gRFC A6), and on a status the table retries it is
//! the server's verdict ([`Failure::server_verdict`](crate::classify::Failure::server_verdict)):
//! a hedge then sends no more attempts, but waits for those in flight.
//!
//! Only trailers-only responses are classified: a call whose response
//! already carried messages has its `grpc-status` in the trailers, is not a
//! failure by its headers, and is never retried.
//!
//! Every gRPC call is an HTTP POST, so the retry layer's default
//! idempotency rule retries none of them. gRFC A6 makes retries an opt-in
//! per service or method: say `retry_non_idempotent(true)` for a service
//! whose methods are safe to repeat, or decide per method with `retry_if`
//! on `ctx.uri().path()`. Around a tonic `Channel`, the README's one line
//! (`ApiErrorsLayer` with `map_request(ReplayBody -> tonic::body::Body)`)
//! parses a trailers-only failure with the [`GrpcStatus`] dialect: the
//! typed error carries the server's `tonic::Status` as its source
//! ([`ApiError::grpc_status`](crate::ApiError::grpc_status)), where tonic
//! finds it, so a call fails with the server's code and the
//! [`Error`](crate::Error) is reachable as that status's own source. A
//! stack without the parse layer (`RetryLayer -> StatusClassifierLayer`,
//! `examples/tonic_client.rs`) hands the response on and tonic reads its
//! status itself.
//!
//! The line ends with `.map_err(`[`into_status`]`)`: tonic reads a code
//! only from a `tonic::Status` in the error's source chain, which the
//! crate's own errors (a deadline, a quota refusal) and a failure with no
//! `grpc-status` (a proxy's plain 503) do not carry, so without it they
//! reach a tonic caller as `UNKNOWN`. [`into_status`] keeps the server's
//! status when there is one and gives the others their kind's code
//! ([`code_for_kind`]), the typed error the status's source either way.
//! A call's own timeout (`grpc-timeout`, which tonic sets from
//! `tonic::Request::set_timeout`; read by [`grpc_timeout`]) bounds its
//! retries as [`RetryPolicy::deadline`](crate::RetryPolicy::deadline)
//! does, the sooner of the two (gRFC A6: the deadline applies to the
//! call, retries included), and each re-send, hedge and call the quota
//! layer held carries the time left of it, not the whole, so that the
//! server gives up when the caller does; the auth or quota layer sends
//! none with no time left, and the call ends as the retry layer's
//! deadline ends it (`DEADLINE_EXCEEDED` through [`into_status`]).
//!
//! The other layers read a trailers-only status as they read its HTTP
//! counterpart: the auth layer renews the credential on `UNAUTHENTICATED`
//! (gRPC's 401) and sends again, once; the quota layer holds the whole
//! scope for the pushback of a `RESOURCE_EXHAUSTED` (gRPC's 429) or an
//! `UNAVAILABLE` (its 503); the circuit breaker counts the kinds of the
//! table it counts for HTTP (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, and
//! `UNKNOWN`, `INTERNAL`, `DATA_LOSS` by default), never
//! `RESOURCE_EXHAUSTED`.
//!
//! ```
//! use http::HeaderMap;
//! use tower_api_errors::grpc::{classify_trailers_only, decode_grpc_message};
//! use tower_api_errors::ErrorKind;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("grpc-status", "14".parse().unwrap());
//! let verdict = classify_trailers_only(&headers).unwrap();
//! assert_eq!(verdict.kind(), Some(ErrorKind::Unavailable));
//! assert!(verdict.is_retryable());
//!
//! headers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
//! assert!(!classify_trailers_only(&headers).unwrap().is_retryable());
//!
//! assert_eq!(decode_grpc_message(b"caf%C3%A9 closed%21"), "café closed!");
//! ```
//!
//! A trailers-only failure read by the parse layer's function (the
//! [`GrpcStatus`] dialect is tried first with this feature), then handed
//! to a gRPC caller as a `tonic::Status`:
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use tower_api_errors::grpc::code_for_kind;
//! use tower_api_errors::{parse_error, ErrorKind};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("content-type", "application/grpc".parse().unwrap());
//! headers.insert("grpc-status", "5".parse().unwrap());
//! headers.insert("grpc-message", "no%20such%20order".parse().unwrap());
//! let error = parse_error(StatusCode::OK, &headers, b"");
//! assert_eq!(error.code(), Some("NOT_FOUND"));
//! assert_eq!(error.message(), "no such order");
//!
//! let status = tonic::Status::from(&error);
//! assert_eq!(status.code(), code_for_kind(error.kind()));
//! assert_eq!(code_for_kind(ErrorKind::RateLimited), tonic::Code::ResourceExhausted);
//! ```

mod convert;
mod dialect;
mod status;

pub use convert::{code_for_kind, into_status};
pub use dialect::GrpcStatus;
pub(crate) use dialect::{status_details, status_metadata};
pub use status::{
    classify_trailers_only, code_name, decode_grpc_message, grpc_status, grpc_timeout,
    kind_for_code,
};
pub(crate) use status::{in_time, parse_timeout, trailers_only_kind, with_time_left, GRPC_TIMEOUT};
