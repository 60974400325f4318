//! Fail fast while an upstream is unwell; listen to it about when to
//! come back.
//!
//! [`CircuitBreakerLayer`] keeps one breaker per scope (the authority by
//! default, or a [`partition`](CircuitBreakerLayer::partition) of it) and
//! counts, over a sliding window, the calls whose failure means the
//! upstream is unwell: 5xx of the kinds [`DEFAULT_COUNTED`] lists
//! (unavailable, bad gateway, server errors, timeouts: an attempt the
//! retry layer's deadline cuts is one) and transport failures. When at
//! least [`minimum_calls`](CircuitBreakerLayer::minimum_calls) were made
//! and at least [`failure_rate`](CircuitBreakerLayer::failure_rate) of
//! them failed, it opens: calls then fail at once, **without being
//! sent**, with [`Error::CircuitOpen`](crate::Error::CircuitOpen), which
//! says when to come back. (At once, that is, once the service below is
//! ready, as for every tower layer: the refusal is decided at `call`,
//! where the scope is known, and readiness passes through, so put a
//! concurrency limit or a `Buffer` above the stack, not below it.)
//!
//! # What it does differently, and why
//!
//! - **"Slow down" is not "down".** A 429, any other 4xx, and a request a
//!   layer below refused without sending (quota, auth) never count: a
//!   vendor that only rate limits is answering, and cutting it off would
//!   turn a pacing problem into an outage. (The quota layer paces it.)
//! - **The probe keeps the server's clock.** When a counted failure
//!   carried `Retry-After`, `retry-after-ms` or a gRPC pushback (a failure
//!   still in the window), the breaker stays open exactly that long: no
//!   probe before the time the server named (a zero wait on the failure
//!   that opens it, `Retry-After: 0`, names now: the next call probes). Without one, the break is 5 s, doubling with each
//!   opening in a row (a failed probe reopens) up to 60 s.
//! - **One probe at a time.** When the break is over, one call goes
//!   through; the others are told to come back a little later. An answer
//!   closes the breaker; a counted failure (a cut by the retry layer's
//!   deadline too) reopens it; a probe the caller dropped before its
//!   answer (its own timeout) frees the place for the next.
//! - **The server's word is the fleet's.** With the quota's store
//!   ([`shared`](CircuitBreakerLayer::shared): a
//!   [`MemoryStore`](crate::quota::MemoryStore), or a `RedisStore` with
//!   feature `redis`), an opening the server timed (`Retry-After` on a
//!   503) is published as "this scope is open until T" (wall clock), and
//!   every process's breaker for the scope fails fast until T, then
//!   probes. Failure counts, and breaks the breaker timed itself, stay
//!   local: one process's bad luck is not the fleet's evidence. Each
//!   process learns the fleet's openings off the request's path (Redis is
//!   read in the background, at most every 250 ms a scope), so a request
//!   never waits for the store, and a store that is down leaves each
//!   breaker to its own counts. See [`fleet`](crate::fleet). A request
//!   that names no server (neither its URI nor a `Host` header: a tonic
//!   `Channel`'s, whose origin the channel adds below our layers) is one
//!   scope of its layer's, never shared: give the client its origin
//!   (`tonic::client::Grpc::with_origin`, or the generated client's
//!   `with_origin`) for a breaker per server and a shared one.
//!
//! # Stack order, and why
//!
//! ```text
//! HedgeLayer -> RetryLayer -> CircuitBreakerLayer -> AuthLayer -> QuotaLayer -> ErrorBodyParseLayer -> client
//! ```
//!
//! Inside the retry layer, so that it sees each attempt's outcome and a
//! call it refuses is never sent; the retry layer then treats the refusal
//! like a server's hint: it waits when the time to come back fits its
//! `max_retry_after` and deadline, and otherwise fails fast with it.
//! Outside the parse layer, so that failures arrive typed with their body
//! hints (over a raw client it classifies the status and headers itself,
//! as the retry layer does: a trailers-only gRPC status with feature
//! `grpc` is counted like an HTTP one).
//!
//! # Cost
//!
//! A closed breaker costs two short lock-and-lookups and two clock reads
//! a call, and no allocation (`tests/breaker.rs` counts). Scopes are
//! bounded (4096): idle closed circuits make room, and a scope that finds
//! no room goes untracked rather than refused. A [`shared`](CircuitBreakerLayer::shared)
//! breaker also looks at its store's local view each call: one atomic
//! load for a `MemoryStore` that never saw an opening, a lock and a lookup
//! otherwise; never a round trip (a `RedisStore` reads Redis in the
//! background at most every 250 ms a scope).
//!
//! # The default
//!
//! ```
//! use http::{Request, Response};
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::breaker::CircuitBreakerLayer;
//! use tower_api_errors::Error;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A vendor that is down and says to come back in 30 s.
//! let upstream = service_fn(|_req: Request<()>| async {
//!     let response = Response::builder().status(503).header("retry-after", "30").body(()).unwrap();
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//! let client = CircuitBreakerLayer::new().layer(upstream);
//! for _ in 0..10 {
//!     let response = client.clone().oneshot(Request::get("http://api.example/").body(()).unwrap()).await.unwrap();
//!     assert_eq!(response.status(), 503);
//! }
//! // Ten failures of ten calls: open, for as long as the server asked.
//! let Err(Error::CircuitOpen(open)) = client.clone().oneshot(Request::get("http://api.example/").body(()).unwrap()).await else { panic!() };
//! assert_eq!(open.retry_after(), Duration::from_secs(30));
//! assert!(open.is_server_signalled());
//! // Another authority has its own breaker.
//! assert!(client.oneshot(Request::get("http://other.example/").body(()).unwrap()).await.is_ok());
//! # }
//! ```
//!
//! # A fleet
//!
//! Two processes (here two layers, each with its own circuits) share the
//! openings a server signalled through one store:
//!
//! ```
//! use http::{Request, Response};
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::breaker::CircuitBreakerLayer;
//! use tower_api_errors::quota::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let sent = Arc::new(AtomicU32::new(0));
//! let counter = sent.clone();
//! let upstream = service_fn(move |_req: Request<()>| {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     let response = Response::builder().status(503).header("retry-after", "30").body(()).unwrap();
//!     async { Ok::<_, std::convert::Infallible>(response) }
//! });
//! let store = MemoryStore::new(); // a fleet: a RedisStore (feature `redis`)
//! let a = CircuitBreakerLayer::new().minimum_calls(2).shared(store.clone()).layer(upstream.clone());
//! let b = CircuitBreakerLayer::new().shared(store).layer(upstream);
//! let get = || Request::get("http://api.example/").body(()).unwrap();
//! for _ in 0..2 {
//!     assert_eq!(a.clone().oneshot(get()).await.unwrap().status(), 503);
//! }
//! // B never saw a failure; it fails fast, unsent, until the server's time.
//! let open = b.oneshot(get()).await.unwrap_err();
//! assert!(open.circuit_open().unwrap().is_server_signalled());
//! assert_eq!(sent.load(Ordering::SeqCst), 2);
//! # }
//! ```
//!
//! # Customised, under the retry layer
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::breaker::CircuitBreakerLayer;
//! use tower_api_errors::retry::{Backoff, Jitter, ReplayBody, RetryLayer, RetryPolicy};
//! use tower_api_errors::{ErrorBodyParseLayer, ErrorKind};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let sent = Arc::new(AtomicU32::new(0));
//! let counter = sent.clone();
//! // Down for the first 4 sends (no hint), well after.
//! let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
//!     let n = counter.fetch_add(1, Ordering::SeqCst);
//!     let status = if n < 4 { 502 } else { 200 };
//!     async move { Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(Full::new(Bytes::new())).unwrap()) }
//! });
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(
//!         RetryPolicy::default()
//!             .max_attempts(5)
//!             .backoff(Backoff::exponential(Duration::from_millis(100), 1.0, Duration::from_millis(100)).jitter(Jitter::None)),
//!     ))
//!     .layer(
//!         CircuitBreakerLayer::new()
//!             .minimum_calls(4)
//!             .failure_rate(0.75)
//!             .break_duration(Duration::from_secs(2), Duration::from_secs(30))
//!             .count([ErrorKind::BadGateway, ErrorKind::Unavailable]),
//!     )
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(upstream);
//! // The first call's four sends fail (4 of 4 calls, at 0.3 s the last):
//! // the breaker opens for 2 s. Its next attempt is refused unsent, which
//! // uses up no attempt: it waits out the break like a hint, and is the
//! // probe, at 2.3 s.
//! let started = tokio::time::Instant::now();
//! let response = client.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(sent.load(Ordering::SeqCst), 5, "nothing sent while open");
//! assert_eq!(started.elapsed(), Duration::from_millis(2300), "no probe before 2.3 s");
//! # }
//! ```

mod future;
mod layer;
mod service;
mod state;

pub use crate::scope::ScopeRequest;
pub use future::ResponseFuture;
pub use layer::{CircuitBreakerLayer, DEFAULT_COUNTED};
pub use service::CircuitBreaker;

use state::Transition;

/// Reports a transition: opened, a probe let through, closed.
fn observe(observer: &crate::observe::Observer, transition: Option<(Transition, http::Uri)>) {
    match transition {
        None => {}
        Some((Transition::Opened { until, .. }, uri)) => observer.breaker_opened(&uri, until),
        Some((Transition::Probe, uri)) => observer.breaker_half_open(&uri),
        Some((Transition::Closed, uri)) => observer.breaker_closed(&uri),
        Some((Transition::Learned { until }, uri)) => observer.breaker_fleet_opened(&uri, until),
    }
}
