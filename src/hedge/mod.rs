//! Hedged requests: a second attempt of a slow idempotent call; the first
//! success wins.
//!
//! [`HedgeLayer`] sends an idempotent call (`GET`, `HEAD`, `OPTIONS`,
//! `TRACE`, `PUT`, `DELETE`, or any request with an `Idempotency-Key`)
//! once, and when it has not answered after a delay, sends it again; the
//! first final answer wins, and the other attempt is dropped (cancelled).
//! The delay is [fixed](HedgeLayer::fixed), or [learned](HedgeLayer::percentile)
//! per scope as a percentile of its answers' latencies (p95: a call
//! slower than 95 % of them is hedged), in bounded memory. This cuts the
//! long tail: a call that happens to hit a slow server or a lost packet is
//! answered by its twin.
//!
//! Scopes are the breaker's: the authority by default, or a
//! [`partition`](HedgeLayer::partition) of it (a tenant, a GitHub
//! resource). Each scope learns its own latency percentile and its own
//! cooldowns (below): partitioned by tenant, tenant A's 429 holds no
//! hedge of tenant B's. Split the breaker or the quota by a partition and
//! give the hedge layer the same one (see [the stack](crate::stack)).
//!
//! # Limits, and why
//!
//! - **A budget.** Hedges draw on a [`RetryBudget`] (each hedgeable call
//!   deposits one, each hedge withdraws one, and a hedge never sent gives
//!   it back: refused below, by the breaker or the quota, still held there
//!   when its call ended, or given up before its send; tower's `Budget`
//!   has no refund, so a budget of your own keeps it spent): 10 % of
//!   recent calls plus
//!   1 hedge a second by default. Give the layer a clone of the retry policy's budget and
//!   retries and hedges share one; in [`ApiErrorsLayer`](crate::ApiErrorsLayer)
//!   they do unless the layer was given a budget of its own. An empty budget stops new hedges; it
//!   never cancels an attempt already in flight.
//! - **The server's word.** Each answer's own hints are learned per scope:
//!   while a `Retry-After`, a gRPC pushback or a 429 asks the scope to
//!   wait, and while any rate-limit window it announces has less than 10 %
//!   of its own limit left (OpenAI's tokens as much as its requests; until
//!   its reset; when it names none, until an answer shows headroom again),
//!   no hedge is sent (a hedge spends quota twice). As the quota layer
//!   reads a window, the fewest left wins: the late answer of a request
//!   sent before the short one came does not lift it, unless it names a
//!   later reset (a new window). A call's hints are learned from its
//!   final answer: inside [`ApiErrorsLayer`](crate::ApiErrorsLayer), a 429
//!   the retry layer below waited out teaches the cooldown only when that
//!   call ends, so without a quota layer a hedge of another call may go
//!   during it (with the quota layer below, a hedge is held like any
//!   send). A refusal from a layer below (an open breaker, a quota's
//!   fail-fast) stops its own call's hedges only: it teaches the scope
//!   nothing, as that layer keeps its own scope (a partition, maybe) and
//!   refuses or holds each hedge itself. A pushback or
//!   `Retry-After` on either attempt stops further hedges for the call, and
//!   so does the server's "do not retry" (`x-should-retry: false`, a
//!   negative gRPC pushback): as gRFC A6 says, that is no fatal status, so
//!   it cancels nothing, and an attempt in flight may still answer.
//! - **Holds below.** The delay is the server's latency, not the stack's:
//!   while the first attempt is held below before its send (the auth
//!   layer waiting for a credential or a blocking refresh, the quota layer
//!   for its window, its pacing or its fleet's lease), a hedge would wait
//!   behind the same hold and go out with it, an extra request for
//!   nothing. Those layers say so through [`Holds`], on the first attempt;
//!   no hedge is sent while it is held, and once it is sent, its hedge is
//!   due a delay after the send, and its latency (what a learned delay
//!   learns) runs from the send. A hedge itself held below is not timed
//!   again: it was sent.
//! - **Bodies.** The body is replayed through a [`ReplayBody`](crate::retry::ReplayBody),
//!   kept up to [`max_replay_bytes`](HedgeLayer::max_replay_bytes). One of
//!   known length that fits (a `Full`) is kept before the first attempt is
//!   sent, so a first attempt still connecting is hedged too; a body too
//!   large to keep, or still streaming when the hedge is due, is not
//!   hedged (two attempts cannot read one stream).
//! - **Failures.** As gRPC A6's hedging policy: a failure another try may
//!   fix (a 503 without a hint, a trailers-only gRPC `UNAVAILABLE` with
//!   feature `grpc`, a reset connection) sends the hedge at once, if it was
//!   not sent yet; a failure that cannot be fixed (a 404) is the call's
//!   answer. The call ends with the last failure when no attempt succeeds.
//!   Over a raw client, a response is classified as the retry layer
//!   classifies it (a classifier's stamp, else the default classifier).
//!
//! # Placement: hedging or retries for a call, not both
//!
//! ```text
//! HedgeLayer -> RetryLayer -> CircuitBreakerLayer -> AuthLayer -> QuotaLayer -> ErrorBodyParseLayer -> client
//! ```
//!
//! As in gRPC A6, a call is hedged or retried, never both at once: two
//! strategies multiplying each other's extra load is how a slowdown
//! becomes an outage. The hedge layer sits **above** the retry layer and
//! marks every attempt of a call it hedges with [`Hedged`], a public
//! extension the [`RetryPolicy`](crate::retry::RetryPolicy) honours:
//! whichever starts the call's second attempt first owns its further
//! attempts. A first attempt that fails before its hedge is sent (a 429
//! or 503 with `Retry-After`, a 502) is retried by the retry layer as any
//! call, and the hedge layer then sends no hedge; once the hedge is out,
//! neither attempt is retried. A marked attempt is not counted as a new
//! request in the budget (the hedge layer counted the call). A call
//! that is not hedged (not idempotent; or no hedge now: a cooldown, no
//! headroom, too little learned yet) goes through unmarked, and the retry
//! layer retries it as usual. Each attempt still passes the breaker, auth
//! and quota layers below, so a hedge is paced and counted like any send.
//! Below a retry layer it would hedge each retry, so there it does not
//! hedge at all: it sees the [`CallContext`](crate::context::CallContext)
//! the retry layer enters around each send, and passes calls through
//! (`tests/hedge.rs` pins it). Keep it above.
//!
//! # A fixed delay
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::hedge::{HedgeLayer, Hedged};
//! use tower_api_errors::retry::ReplayBody;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let sent = Arc::new(AtomicU32::new(0));
//! let counter = sent.clone();
//! // The first attempt takes 2 s, any other 10 ms.
//! let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
//!     let attempt = req.extensions().get::<Hedged>().unwrap().attempt();
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let slow = if attempt == 1 { 2000 } else { 10 };
//!         tokio::time::sleep(Duration::from_millis(slow)).await;
//!         Ok::<_, std::convert::Infallible>(Response::new(format!("attempt {attempt}")))
//!     }
//! });
//! let client = HedgeLayer::fixed(Duration::from_millis(50)).layer(upstream);
//! let started = tokio::time::Instant::now();
//! let response = client.oneshot(Request::get("http://api.example/").body(Full::new(Bytes::new())).unwrap()).await.unwrap();
//! assert_eq!(response.into_body(), "attempt 2", "the hedge won");
//! assert_eq!(started.elapsed(), Duration::from_millis(60));
//! assert_eq!(sent.load(Ordering::SeqCst), 2);
//! # }
//! ```
//!
//! # A learned delay, a shared budget, and the retry layer below
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::hedge::{HedgeLayer, Hedged, RetryBudget};
//! use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
//! use tower_api_errors::ErrorBodyParseLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // Answers take 20 ms, but the 31st call's first attempt takes 1 s.
//! let firsts = Arc::new(AtomicU32::new(0));
//! let counter = firsts.clone();
//! let upstream = service_fn(move |req: Request<ReplayBody<ReplayBody<Full<Bytes>>>>| {
//!     let first = req.extensions().get::<Hedged>().map_or(true, |mark| !mark.is_hedge());
//!     let n = if first { counter.fetch_add(1, Ordering::SeqCst) } else { u32::MAX };
//!     async move {
//!         let millis = if n == 30 { 1000 } else { 20 };
//!         tokio::time::sleep(Duration::from_millis(millis)).await;
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
//!     }
//! });
//! // One budget for retries and hedges.
//! let budget = RetryBudget::default();
//! let client = ServiceBuilder::new()
//!     .layer(HedgeLayer::percentile(0.95).budget(budget.clone()))
//!     .layer(RetryLayer::new(RetryPolicy::default().budget(budget)))
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(upstream);
//! // 30 answers teach the scope its p95 (20 ms, to its histogram bucket).
//! for _ in 0..30 {
//!     client.clone().oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap();
//! }
//! let started = tokio::time::Instant::now();
//! client.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap();
//! let took = started.elapsed();
//! assert!(took < Duration::from_millis(50), "hedged at ~p95, answered 20 ms later: {took:?}");
//! # }
//! ```

mod future;
mod layer;
mod learn;
mod service;

pub use crate::budget::RetryBudget;
pub use crate::hedged::{Claim, ClaimedBy, Hedged, HoldGuard, Holds};
pub use future::ResponseFuture;
pub use layer::HedgeLayer;
pub use service::Hedge;
