//! Retry what is worth retrying, when the server says, without storms.
//!
//! [`RetryLayer`] retries a request when the failure is transient (408,
//! 429, the 5xx that waiting can heal, see
//! [`DefaultClassifier`](crate::classify::DefaultClassifier); connect errors;
//! other transport errors for idempotent requests, an attempt cut by a
//! per-attempt `tower::timeout` below it among them) and never otherwise
//! (other 4xx, 501, 505, 506, 508, 510, 511; a negative
//! `grpc-retry-pushback-ms`; a transport error whose root cause names a
//! certificate or a URL scheme, which no resend heals). It waits what
//! the server asked for (`Retry-After` in seconds or as a date,
//! `retry-after-ms`, a body's `retry_after`, an exhausted rate-limit
//! window's reset, gRPC pushback) exactly, never shorter (a zero wait but a
//! pushback's counts as none); without a hint, an
//! exponential [`Backoff`] with jitter, which starts over from its first
//! step after a retry the server's pushback timed (gRFC A6).
//!
//! It works over a raw client (classifying responses itself; when it gives
//! up, the caller gets the last response, with a [`RetryReport`](crate::RetryReport)
//! in its extensions) and over an [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer)
//! (reading the typed [`ApiError`](crate::ApiError), whose hints merge
//! headers and body; when it gives up, the caller gets the last error with
//! its attempts, time waited and [`StopReason`](crate::StopReason)).
//!
//! Request bodies are replayed without buffering up front ([`ReplayBody`]):
//! the first attempt keeps what it streams, up to a cap; a body that
//! outgrew the cap is not retried, and the error says so. Method, URI,
//! version, headers (an `Idempotency-Key` included) and extensions are the
//! same on every attempt.
//!
//! # Why a budget, and not only a maximum of attempts
//!
//! `max_attempts` bounds one request; it does not bound a fleet. When an
//! upstream is down, every request fails, and three attempts each triple
//! the load on a service that is already failing: the retry storm that
//! turns a blip into an outage. A budget bounds retries to a share of
//! recent traffic (20 % by default, plus a floor of one a second so a
//! quiet client can still retry), shared by every clone of the service, so
//! a failing upstream sees at most ~1.2× its normal load from us (give or
//! take [`RetryBudget`]'s share of 64 requests).
//!
//! # Why a long hint is not slept on
//!
//! A server that says "come back in an hour" (a daily quota) is not asking
//! the request to wait an hour: holding it would hold the caller's task, a
//! connection and maybe a user. A hint longer than
//! [`max_retry_after`](RetryPolicy::max_retry_after) (120 s by default)
//! fails fast, with the hint on the error, and the caller decides. Hints
//! shorter than that are honoured exactly: retrying earlier than the server
//! asked only earns another 429.
//!
//! # What bounds a request in time
//!
//! With the default settings, no request waits unboundedly: a server that
//! never answers, a failure body that drips, a hint that says "come back
//! later" each end within the deadline.
//!
//! | bound | default | what it bounds | set with |
//! |---|---|---|---|
//! | deadline | 150 s | the whole logical request: every attempt (a hanging one is cut), every failure-body read, every wait (backoff, hints, a quota hold) | [`RetryPolicy::deadline`], [`RetryPolicy::no_deadline`] |
//! | longest hint honoured | 120 s | one wait on `Retry-After` and friends; a longer one fails fast with the hint | [`RetryPolicy::max_retry_after`] |
//! | backoff cap | 20 s | one wait without a hint | [`Backoff`] |
//! | attempts | 3 | how many sends | [`RetryPolicy::max_attempts`] |
//! | failure-body read | 10 s, 64 KiB | reading one error body | [`ErrorBodyParseLayer::body_timeout`](crate::ErrorBodyParseLayer::body_timeout) |
//!
//! Why 150 s: the .NET standard resilience pipeline bounds a request at
//! 30 s, Stainless-generated SDKs at 10 minutes. Ours must be able to honour
//! the longest hint it accepts (120 s, enough for any per-minute rate
//! limit, such as a `Retry-After: 45`) and still make the attempts around
//! it, so 120 s + 30 s; a longer bound would only hold a caller on a dead
//! server. A wait that would end past the deadline is not started: the
//! caller gets the error at once ([`StopReason::Deadline`](crate::StopReason)).
//! Nor is one that would end past the deadline of a caller that cuts the
//! call itself, when it polls it within that deadline: the auth layer its
//! token source's call, at its `refresh_timeout` (the caller then has the
//! failure's hint, not a cut wait).
//! The deadline is the retry layer's: a stack without it is bounded by the
//! body timeout for failures only.
//!
//! # The default
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
//! use tower_api_errors::{ErrorBodyParseLayer, RetryReport};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! // An upstream that is down twice, asking for 2 s each time, then recovers.
//! let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
//!     let call = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let response = if call < 2 {
//!             Response::builder().status(503).header("retry-after", "2").body(Full::new(Bytes::new()))
//!         } else {
//!             Response::builder().status(200).body(Full::new(Bytes::from_static(b"ok")))
//!         };
//!         Ok::<_, std::convert::Infallible>(response.unwrap())
//!     }
//! });
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(upstream);
//!
//! let started = tokio::time::Instant::now();
//! let response = client.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(started.elapsed(), Duration::from_secs(4), "waited exactly what the server said");
//! assert_eq!(response.extensions().get::<RetryReport>().unwrap().attempts(), 3);
//! # }
//! ```
//!
//! # Customised
//!
//! ```
//! use http::{Method, StatusCode};
//! use std::time::Duration;
//! use tower_api_errors::retry::{Backoff, Jitter, RetryLayer, RetryPolicy};
//! use tower_api_errors::ErrorKind;
//!
//! let policy = RetryPolicy::default()
//!     .max_attempts(5)
//!     .backoff(Backoff::exponential(Duration::from_millis(100), 3.0, Duration::from_secs(5)).jitter(Jitter::Equal))
//!     .max_retry_after(Duration::from_secs(30))
//!     .deadline(Duration::from_secs(60))
//!     // This API's 409 means "a lock is held, try again"; and never retry
//!     // anything against /payments, whatever the server says.
//!     .retry_if(|ctx| {
//!         if ctx.uri().path().starts_with("/payments") {
//!             Some(false)
//!         } else if ctx.status() == Some(StatusCode::CONFLICT) {
//!             Some(true)
//!         } else {
//!             None
//!         }
//!     })
//!     .on_retry(|event| {
//!         eprintln!("attempt {} failed ({}), retrying in {:?}", event.attempt(), event.kind(), event.delay());
//!     });
//! let _layer = RetryLayer::new(policy);
//! ```
//!
//! # Retries off
//!
//! `ServiceBuilder::option_layer` cannot switch this layer off: the
//! services below it receive `Request<ReplayBody<B>>`, not the caller's
//! `Request<B>`, so the two branches of the `Either` it builds take
//! different requests and do not compile. Keep the layer and set
//! [`RetryPolicy::max_attempts`]`(1)` instead (every error still typed,
//! bounded by the deadline), or [`RetryOverride::no_retries`] in one
//! request's extensions:
//!
//! ```
//! use http::Request;
//! use tower_api_errors::retry::{RetryLayer, RetryOverride, RetryPolicy};
//!
//! let retries = false; // from the caller's configuration
//! let policy = RetryPolicy::default().max_attempts(if retries { 3 } else { 1 });
//! let _layer = RetryLayer::new(policy);
//!
//! // Or, for one request only:
//! let mut request = Request::post("https://api.example/charges").body(()).unwrap();
//! request.extensions_mut().insert(RetryOverride::no_retries());
//! ```
//!
//! # Bringing your own `tower::retry::Policy`
//!
//! The parse layer's typed errors serve tower's own retry middleware just
//! as well; the hint is one method call away. Use it instead of ours, not
//! above it: each attempt of an outer retry is a new call of ours, with
//! its own attempts and deadline, so the attempts multiply (two outer
//! attempts over our default three send six requests).
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::future::{ready, Ready};
//! use tower::retry::{Policy, RetryLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::{Error, ErrorBodyParseLayer};
//!
//! /// Retry rate limits once, ignoring hints (say, a test double's policy).
//! #[derive(Clone)]
//! struct OnceOnRateLimit(bool);
//!
//! impl<B> Policy<Request<Full<Bytes>>, Response<B>, Error> for OnceOnRateLimit {
//!     type Future = Ready<()>;
//!     fn retry(&mut self, _: &mut Request<Full<Bytes>>, result: &mut Result<Response<B>, Error>) -> Option<Self::Future> {
//!         match result {
//!             Err(Error::Api(api)) if api.is_rate_limited() && !self.0 => {
//!                 self.0 = true;
//!                 Some(ready(()))
//!             }
//!             _ => None,
//!         }
//!     }
//!     fn clone_request(&mut self, req: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
//!         let mut clone = Request::new(req.body().clone());
//!         *clone.uri_mut() = req.uri().clone();
//!         *clone.headers_mut() = req.headers().clone();
//!         Some(clone)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(429).body(Full::new(Bytes::new())).unwrap())
//! });
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(OnceOnRateLimit(false)))
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(upstream);
//! let error = client.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap_err();
//! assert!(error.api().unwrap().is_rate_limited());
//! # }
//! ```

mod backoff;
mod future;
mod layer;
mod policy;
mod service;

pub use crate::budget::RetryBudget;
pub use crate::replay::{ReplayBody, DEFAULT_MAX_REPLAY};
pub use backoff::{Backoff, Jitter};
pub use future::ResponseFuture;
pub use layer::{CloneForRetry, RetryLayer};
pub use policy::{
    is_idempotent, Decision, Outcome, Policy, RetryContext, RetryEvent, RetryOverride, RetryPolicy,
    DEFAULT_DEADLINE, IDEMPOTENCY_KEY,
};
pub use service::Retry;
pub use tower::retry::budget::TpsBudget;
