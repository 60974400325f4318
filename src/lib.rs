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
//!            request ──────────────────────────────────────────────────────────────────────►
//! caller ─► [Hedge] ─► Retry ─► [Breaker] ─► [Auth] ─► [Quota] ─► ErrorBodyParse ─► client
//!            ◄────────────────────────────────────────────────────────────────────── response
//! ```
//!
//! [`ApiErrorsLayer`] is this pipeline (the bracketed layers when you add
//! them), built from the public layers and nothing else: the same layers
//! stacked with `ServiceBuilder` behave the same. Why this order: every
//! retry carries the current credential (auth inside retry); every
//! physical send, the auth re-send included, passes the quota gate (quota
//! inside auth); the breaker sees each attempt's outcome (inside retry) and
//! a call it refuses is never sent; hedging and retrying are two strategies
//! for one call (gRPC A6) and share one budget. See [`auth`], [`quota`],
//! [`breaker`] and [`hedge`].
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
//! - [`quota`]: [`QuotaLayer`] learns the quota the server announces and
//!   holds requests until it allows them, per process or, with
//!   `RedisStore` (feature `redis`), across a fleet.
//! - [`auth`]: [`AuthLayer`] sets a credential from a
//!   [`TokenSource`](auth::TokenSource) on every request and, on a 401,
//!   refreshes it once (single-flight) and sends the request again.
//! - [`redact`]: credentials never reach an error or a log line.
//! - [`context`]: the per-call [`CallContext`](context::CallContext),
//!   the contract between the layers: recorded once by the retry layer,
//!   found by the layers below (the auth layer's re-send is rebuilt from
//!   it); a layer used alone builds what it needs itself.
//! - [`breaker`]: [`CircuitBreakerLayer`](breaker::CircuitBreakerLayer)
//!   fails fast while an upstream is unwell (never for a rate limit), and
//!   times its probe by the server's `Retry-After`.
//! - [`hedge`]: [`HedgeLayer`](hedge::HedgeLayer) sends a second attempt of
//!   a slow idempotent call, within the retry budget and the quota.
//! - [`observe`]: the one observer (tracing and OpenTelemetry backends).
//! - `grpc` (feature `grpc`): `grpc-status` classification and pushback.
//!
//! - [`stack`]: [`ApiErrorsLayer`], the recommended stack in one layer,
//!   and [`ApiErrors`], the name of the service it makes.
//!
//! The default [`ApiErrorsLayer`] is `RetryLayer -> ErrorBodyParseLayer ->
//! client`: both classify for themselves with the default table, so
//! [`StatusClassifierLayer`]'s stamp is only for those who need the
//! verdict on every response (it goes below, next to the client).
//!
//! Every layer works alone too: the classifier over any client; the parse
//! layer without a classifier (it classifies with the default table); the
//! retry layer over a raw client (it classifies responses itself) or over
//! the parse layer (it reads the typed error, whose hints merge headers and
//! body).
//!
//! # Quick start
//!
//! The whole pipeline around an upstream that fails once with a rate limit,
//! then answers. (With a real client, the inner service is
//! `hyper_util::client::legacy::Client<_, ReplayBody<B>>`; see
//! `examples/demo.rs`.)
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::auth::{Credential, StaticToken};
//! use tower_api_errors::retry::ReplayBody;
//! use tower_api_errors::{
//!     AuthLayer, Error, ErrorBodyParseLayer, ErrorKind, RetryLayer, RetryPolicy, RetryReport, StatusClassifierLayer,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
//!     assert_eq!(req.headers()["authorization"], "Bearer sk_demo");
//!     let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
//!     async move {
//!         let response = match (first, req.uri().path()) {
//!             (_, "/missing") => Response::builder().status(404)
//!                 .body(Full::new(Bytes::from_static(br#"{"error": {"code": 404, "message": "Resource not found"}}"#))),
//!             (true, _) => Response::builder().status(429).header("retry-after", "1")
//!                 .body(Full::new(Bytes::from_static(br#"{"error": "Rate Limit Exceeded", "message": "Too many requests per minute"}"#))),
//!             (false, _) => Response::builder().body(Full::new(Bytes::from_static(b"{}"))),
//!         };
//!         Ok::<_, std::convert::Infallible>(response.unwrap())
//!     }
//! });
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(AuthLayer::new(StaticToken::new(Credential::new("sk_demo").unwrap())))
//!     .layer(ErrorBodyParseLayer::new())
//!     .layer(StatusClassifierLayer::new())
//!     .service(upstream);
//!
//! // The 429 is waited out (1 s, as the server said), then retried.
//! let ok = client.clone().oneshot(Request::get("/items").body(Full::new(Bytes::new())).unwrap()).await.unwrap();
//! assert_eq!(ok.extensions().get::<RetryReport>().unwrap().attempts(), 2);
//!
//! // A 404 is not retried; it arrives typed.
//! let request = Request::get("/missing").body(Full::new(Bytes::new())).unwrap();
//! let Err(Error::Api(error)) = client.oneshot(request).await else { panic!() };
//! assert_eq!((error.kind(), error.code(), error.message()), (ErrorKind::NotFound, Some("404"), "Resource not found"));
//! # }
//! ```
//!
//! # The one line with a real client
//!
//! The client's request body type is `ReplayBody<B>`: the retry layer sends
//! it, so that a retry can resend a streamed body.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use tower_api_errors::{retry::ReplayBody, ApiErrorsLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let client = ApiErrorsLayer::new()
//!     .client(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>());
//! # let _ = client;
//! # }
//! ```
//!
//! # When it does not compile
//!
//! The four mistakes everyone makes once, what rustc says, and the fix
//! (each message is kept honest by a `trybuild` test in `tests/ui/`):
//!
//! | you wrote | rustc says | fix |
//! |---|---|---|
//! | a client built with `build_http::<Full<Bytes>>()` under the retry layer | "`Client<…>` cannot be the client under the retry layer: it does not take `http::Request<ReplayBody<_>>`" (through [`ApiErrorsLayer::client`]; a bare `RetryLayer` can only say that `Retry<…>` is not a `Service`) | `build_http::<ReplayBody<Full<Bytes>>>()` |
//! | `RetryLayer` over a `BoxService` or another service that is not `Clone` | "`RetryLayer` needs a `Clone` service to retry on, and `…` is not `Clone`" | `ServiceBuilder::buffer(n)` below the retry layer, or `BoxCloneService` |
//! | a closure passed to `.classifier(..)` | "`{closure}` is not a response classifier (`Classify`)" | [`classify::classify_fn`], or the [`ClassifyExt`](classify::ClassifyExt) combinators |
//! | a closure passed to `.dialect(..)` | "`{closure}` is not an error-body `Dialect`" | implement [`parse::Dialect`] for a type of yours |
//!
//! The typed error also comes back through middleware that boxes errors
//! (`Buffer`, `Timeout`): [`Error::from_boxed`], or `?` into [`Error`].
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `grpc` | [`grpc`]: `grpc-status` of trailers-only responses as kinds, `grpc-message` decoding, the `GrpcStatus` dialect, `tonic::Status` from errors |
//! | `tracing` | a span per request and one per attempt, and events, below |
//! | `opentelemetry` | [`metrics`]: OpenTelemetry metrics (error rate by kind, attempts per call, waits by source, budget refusals, fail-fast), opted into with [`RetryPolicy::metrics`]; [the table of every metric][metrics-table] |
//! | `redis` | `quota::RedisStore`: learned quotas shared by a fleet of processes |
//! | `tower-http-07`, `tower-http-06` | our classifiers as tower-http 0.7 / 0.6 `ClassifyResponse`s (`TraceLayer` and friends) |
//! | `hyper-util` | hyper-util's connect errors recognised by type rather than by their text |
//!
//! # Tracing (feature `tracing`)
//!
//! Names and fields are stable. Values are statuses, kinds, codes, counts
//! and durations: never a header, never a body, and URIs only redacted.
//! The spans carry OpenTelemetry's HTTP client attribute names too, so
//! that `tracing-opentelemetry` exports conformant client spans (one per
//! attempt) under one span per logical call.
//!
//! | what | level | fields |
//! |---|---|---|
//! | span `api_request` (retry layer, one per logical request: a hedged call's attempts, each through a retry layer below the hedge layer, share one) | INFO | `method`, `uri`; OpenTelemetry's `http.request.method`, `server.address`, `server.port`, `url.full` (redacted) |
//! | span `api_attempt` (retry layer, a child of `api_request`, one per attempt the retry layer makes; an auth layer's re-send below is part of its attempt, as in the metrics) | INFO | `otel.kind` (`client`; `internal` once an attempt ends with nothing sent: refused below, by a quota or a breaker, or no credential), `otel.name` (the method; `HTTP` for one that is not standard), `http.request.method`, `http.request.method_original` (a method that is not standard), `server.address`, `server.port`, `url.full` (redacted), `http.request.resend_count` (resends only); when the attempt ends: `http.response.status_code`, `error.type` (failures: the kind in snake case; `cancelled`: the call was dropped during the attempt) |
//! | event `classified` (classifier layer) | TRACE | `status`, `kind`, `retryable` |
//! | event `api_error` (parse layer, each failure body read) | DEBUG | `status`, `kind`, `code`, `retryable`, `truncated` |
//! | event `retrying` (before each retry's wait) | INFO | `attempt`, `kind`, `status`, `delay_ms`, `hint` |
//! | event `finished` (each logical request's outcome, once, in its `api_request`; a hedged one's from the hedge layer; `outcome` `cancelled`: its caller dropped it before its end) | DEBUG on success, WARN on failure, INFO when cancelled | `outcome`, `attempts`, `waited_ms`, `status`, `kind`, `stopped` |
//! | event `quota_held` (quota layer holds a request: each wait) | DEBUG | `scope` (a digest), `delay_ms`, `reason` |
//! | event `quota_refused` (refused without sending) | WARN | `scope`, `retry_after_ms` |
//! | event `quota_store_local` / `quota_store_shared` (Redis failed / answers again; once each) | WARN / INFO | `error` |
//! | event `credential_rejected` (auth layer, before renewing) | INFO | `status`, `renewal` (`refresh`; `already_renewed`; `backing_off`: the backoff after a failed refresh runs, none is tried) |
//! | event `credential_installed` (auth layer, a new credential) | INFO | `generation` |
//! | event `credential_refresh_failed` (auth layer) | WARN | `reason` |
//! | event `unauthorized` (auth layer, each request it ends) | WARN | `reason` |
//!
//! An `api_attempt` span is opened as the attempt is handed to the layers
//! below, before they decide: the events they emit on the way (a quota
//! hold, a credential rejected) are its children, and an OpenTelemetry
//! propagator below finds it current. So an attempt that a breaker, a
//! quota gate or a missing credential ends before anything is sent has
//! one too, ended as `otel.kind` `internal` with its `error.type`: only
//! `client` spans are HTTP requests sent, as only those are counted in
//! `http.client.request.duration`.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Links to items of features that are off (`cargo doc` without them) go to
// their docs.rs pages, which are built with every feature.
#![cfg_attr(
    feature = "opentelemetry",
    doc = "",
    doc = "[metrics-table]: metrics#the-metrics"
)]
#![cfg_attr(
    not(feature = "opentelemetry"),
    doc = "",
    doc = "[`metrics`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/metrics/index.html",
    doc = "[metrics-table]: https://docs.rs/tower-api-errors/latest/tower_api_errors/metrics/index.html#the-metrics",
    doc = "[`RetryPolicy::metrics`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/retry/struct.RetryPolicy.html#method.metrics"
)]
#![cfg_attr(
    not(feature = "grpc"),
    doc = "",
    doc = "[`grpc`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/grpc/index.html"
)]

#[macro_use]
mod macros;

pub mod auth;
pub mod breaker;
mod budget;
mod classification;
pub mod classify;
pub mod context;
mod error;
pub mod fleet;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod hedge;
mod hedged;
pub mod hints;
mod idempotency;
mod kind;
#[cfg(feature = "opentelemetry")]
pub mod metrics;
pub mod observe;
pub mod parse;
mod problem;
mod prototype;
pub mod quota;
pub mod redact;
mod replay;
#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod retry;
mod scope;
pub mod stack;

/// The README's Rust snippets, compiled and run as doctests so that they
/// stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use auth::AuthLayer;
pub use classify::StatusClassifierLayer;
pub use error::{
    ApiError, BoxError, CircuitOpen, Error, FieldError, RetryReport, StopReason, TransportError,
};
pub use kind::ErrorKind;
pub use parse::{parse_error, ErrorBodyParseLayer};
pub use quota::QuotaLayer;
pub use retry::{RetryLayer, RetryPolicy};
pub use stack::{ApiErrors, ApiErrorsLayer, ServiceBuilderExt};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A mutex's guard, poisoned or not: every lock in the crate guards state
/// that each update leaves whole (plain numbers, a single push or flag), so
/// a panic elsewhere while holding it leaves the state usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
