//! Pace requests by the quota the server announces; share it across a fleet.
//!
//! Every serious API announces its quota before it runs out
//! (`X-RateLimit-Limit/Remaining/Reset`, the IETF `RateLimit` /
//! `RateLimit-Policy` fields, OpenAI's and Anthropic's per-resource
//! headers). [`QuotaLayer`] learns it from every response (successes and
//! failures alike) and holds each request until the quota allows it, so a
//! client stops sending into 429s instead of retrying into them.
//!
//! - **Learning.** Per scope: every window (policy) the server announced,
//!   with its limit, what is left and when it resets; a burst and a daily
//!   policy are kept side by side and the tightest binds. Resets in
//!   whole seconds are read as the vendor may mean them: a reset of 0
//!   ends the window within the second, not now, and a vendor seen to
//!   truncate (it said "0 left, reset 0") has its resets read a second
//!   later. A 429 or 503
//!   with `Retry-After`, `retry-after-ms` or a body's `retry_after` holds
//!   the **whole scope** for that long, not only the request that got it;
//!   so does gRPC's own (feature `grpc`): a trailers-only
//!   `RESOURCE_EXHAUSTED` or `UNAVAILABLE` with `grpc-retry-pushback-ms`.
//!   Over an [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer), failures
//!   are read from the typed [`ApiError`](crate::ApiError) (whose hint
//!   merges headers and body); successes from their headers, once
//!   ([`ResponseHints`](crate::hints::ResponseHints)).
//! - **Counting.** Permits a request takes are counted from the moment it
//!   is let through until its answer is learned from: the server's
//!   `remaining` does not yet include requests still in flight, so they are
//!   subtracted from it. An older answer arriving late never raises the
//!   count (the fewest remaining in a window wins), and an answer of the
//!   window before (its request went before the window was learned), back
//!   after the new window's first, is not the new one's. Any other answer
//!   saying 0 left holds until its reset, however much earlier than the
//!   window's (a window that shrank, a shorter policy that binds).
//! - **Pacing.** When what is left falls below a tenth of the limit, the
//!   rest is spread over the time to the reset, with jitter, instead of
//!   being sent as a burst that ends the window early and piles every
//!   caller up at its reset. The spread ends a tenth of that time before
//!   the reset (a second at most), so that none lands in the vendor's next
//!   window. At zero, a request is held until the reset. A request paced
//!   before a 429 was learned is held again at its slot, not sent. A
//!   window whose reset is further away than
//!   [`max_wait`](QuotaLayer::max_wait) (GitHub's hour, with the default
//!   120 s) is not paced: its last requests go as they come, and the
//!   requests after them fail fast, rather than each be held up to
//!   `max_wait` for a slot.
//! - **Failing fast.** A request that would be held longer than
//!   [`max_wait`](QuotaLayer::max_wait) (120 s by default, as the retry
//!   policy's `max_retry_after`) fails at once, without being sent, with
//!   [`Error::RateLimited`](crate::Error::RateLimited), which carries when
//!   to come back. The retry layer does not retry it: like a hint longer
//!   than it may wait, the caller decides. So does a request whose store
//!   has not answered by then (a Redis that does not answer).
//!   A request whose [`cost`](QuotaLayer::cost) alone is more than a
//!   window's whole limit (a prompt larger than a tokens-per-minute
//!   limit) fails at once the same way, since no wait would let it go:
//!   [`RateLimited::exceeded_limit`] names that limit.
//! - **Vendors that announce nothing** (only 429s with `Retry-After`):
//!   the answers between two 429s are taken as the limit and the time
//!   between their waits' ends as the window; the windows that follow are
//!   paced at 90 % of it, a margin that shrinks on a 429 and grows back 2
//!   points per window without one. Learning takes the two windows the
//!   429s bound; between the two, at most 16 requests are in flight (more
//!   as answers come back or time passes), so that meeting the limit
//!   again costs few 429s.
//! - **Refills.** A window spent and refilled, an inferred window's reset
//!   (a guess), a window the server gave no reset (a leaky bucket's,
//!   guessed a second: its answer, not its limit, says what is left), or
//!   a 429's wait ended, on this store's clock, is confirmed
//!   by one request before the others go, for a tenth of what held them
//!   at most (a second at most): a reset read early (a vendor that
//!   truncates its whole seconds, a clock ahead of the server's) costs one
//!   429, not one per request held; in a fleet, one per process (one
//!   for the fleet at a guessed reset: its ledger leases one unit).
//! - **Cost.** A request may cost more than 1 ([`cost`](QuotaLayer::cost):
//!   LLM tokens, bytes); windows the server says count requests draw 1
//!   (and Anthropic's `output-tokens`, which the answer spends, not the
//!   prompt), the others the cost (a window whose unit no header names
//!   too), and each answer's own figures replace the estimate.
//! - **One scope per authority.** Every window a host announces holds every
//!   request to it. A vendor that limits resources or routes of one host
//!   apart (GitHub's `x-ratelimit-resource`: `search` 30 a minute beside
//!   `core` 5,000 an hour; Discord's per-route `x-ratelimit-bucket`) needs a
//!   [`partition`](QuotaLayer::partition) by resource or route, or a spent
//!   `search` holds every `core` request until its reset.
//! - **Cold start.** A scope's first request probes it: until its answer,
//!   the scope's other requests hold (asking again after as long as the
//!   probe has been out, every 50 ms at most, 2 s in all; a probe dropped
//!   unanswered lets another go at once), as a
//!   fleet's do on `RedisStore`. Many workers starting together send one
//!   request, not one each into a window they do not know yet; a caller
//!   that sends one request after another waits for nothing.
//! - **Nothing announced.** A scope whose probe's answer announced nothing
//!   is open: until a 429 teaches it a window, its requests go at most 16
//!   in flight (a sixteenth of the answers, or one per 100 ms elapsed,
//!   once that is more), so that the limit, when it comes, meets few of
//!   them; a request takes a shard's lock and no allocation.
//!
//! # Scopes
//!
//! By default requests to one authority (host and port, never user-info;
//! the host in any case, the scheme's own port written or not) share a
//! scope, and within it each policy the server names is its own
//! window. [`partition`](QuotaLayer::partition) splits scopes by a value of
//! the request (an API key, a tenant). Partition values are hashed
//! ([`digest`]) as soon as the closure returns: store keys, log lines and
//! errors show a 16-hex-digit [`ScopeKey`], never the value in clear. The
//! digest is unkeyed and stable, so it hides a random API key, not a
//! guessable tenant name (recovered from the key by hashing guesses): to
//! keep those from whoever reads the Redis keys or the logs, partition by a
//! value derived with a secret of the fleet's own (an HMAC of the name).
//!
//! A request that names no server (neither its URI nor a `Host` header: a
//! tonic `Channel`'s, whose origin the channel adds below our layers) is in
//! the scope of the empty authority, and so is every other such request
//! through the same store: two gRPC services without an origin, sharing a
//! `RedisStore` (feature `redis`), would share one quota. Give
//! each client its origin (`tonic::client::Grpc::with_origin`, or the
//! generated client's `with_origin`), or a partition of its own.
//!
//! A vendor that limits parts of its API apart needs them as scopes of
//! their own, or a spent part holds the others until its reset. GitHub,
//! for one, counts its search API (`x-ratelimit-resource: search`, 30
//! requests a minute; code search, `code_search`, 10) and GraphQL apart
//! from the rest (`core`, 5,000 an hour), by path:
//!
//! ```
//! use tower_api_errors::quota::QuotaLayer;
//!
//! // One scope per GitHub resource (and per token, when one process
//! // calls with several: add the token's value to the key).
//! let quota = QuotaLayer::new().partition(|request| {
//!     let path = request.uri().path();
//!     let resource = match path {
//!         _ if path.starts_with("/search/code") => "code_search",
//!         _ if path.starts_with("/search/") => "search",
//!         "/graphql" => "graphql",
//!         _ => return None, // core: the unpartitioned scope
//!     };
//!     Some(resource)
//! });
//! # let _ = quota;
//! ```
//!
//! # Stack order, and why
//!
//! ```text
//! [HedgeLayer] -> RetryLayer -> [CircuitBreakerLayer] -> AuthLayer -> QuotaLayer -> ErrorBodyParseLayer -> client
//! ```
//!
//! Inside the retry layer, so that every physical send, retries included,
//! passes the same gate and a retry waits for the quota like any request;
//! outside the parse layer, so that failures arrive typed, with their body
//! hints.
//!
//! # Holding, and the inner service's readiness
//!
//! A request let through at once goes to the service the caller made
//! ready. A request that must wait takes a clone of the inner service and
//! only asks that clone for readiness once the wait is over (as the retry
//! layer does between attempts): a held request never sits on a
//! connection or a concurrency permit while it sleeps. The service the
//! caller made ready is swapped for a clone, which gives back what that
//! readiness reserved: a caller that keeps it (a retry layer above, a
//! long-lived client) would otherwise hold the permit or `Buffer` slot the
//! held request's own `poll_ready` waits for. The inner service
//! must therefore be `Clone`, and its clones must share what readiness
//! protects (hyper-util's client, `Buffer` and `ConcurrencyLimit` do).
//!
//! # One process
//!
//! ```
//! use http::{Request, Response};
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::quota::QuotaLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A vendor whose window is spent for the next 5 s (seeds/004's headers).
//! let upstream = service_fn(|_req: Request<()>| async {
//!     let response = Response::builder()
//!         .header("x-ratelimit-limit", "60")
//!         .header("x-ratelimit-remaining", "0")
//!         .header("x-ratelimit-reset", "5")
//!         .body(())
//!         .unwrap();
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//! let client = QuotaLayer::new().layer(upstream);
//!
//! let started = tokio::time::Instant::now();
//! client.clone().oneshot(Request::new(())).await.unwrap();
//! assert_eq!(started.elapsed(), Duration::ZERO, "nothing learned yet: sent at once");
//! client.clone().oneshot(Request::new(())).await.unwrap();
//! assert_eq!(started.elapsed(), Duration::from_secs(5), "held until the window reset");
//! # }
//! ```
//!
//! # Customised: partitions, cost, and failing fast
//!
//! ```
//! use http::{Request, Response};
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_api_errors::quota::QuotaLayer;
//! use tower_api_errors::{Error, ErrorKind};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A daily quota, spent: resets in an hour.
//! let upstream = service_fn(|_req: Request<()>| async {
//!     let response = Response::builder()
//!         .header("ratelimit-policy", "\"daily\";q=1000;w=86400")
//!         .header("ratelimit", "\"daily\";r=0;t=3600")
//!         .body(())
//!         .unwrap();
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//! let client = QuotaLayer::new()
//!     .max_wait(Duration::from_secs(30))
//!     // One quota per API key; the key itself is hashed, never kept.
//!     .partition(|request| request.headers().get("x-api-key").map(|key| key.as_bytes().to_vec()))
//!     // A request's cost, as the vendor counts it (here: a header).
//!     .cost(|request| {
//!         request.headers().get("x-units").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1)
//!     })
//!     .layer(upstream);
//! let keyed = |key: &'static str| Request::builder().header("x-api-key", key).body(()).unwrap();
//!
//! client.clone().oneshot(keyed("sk-one")).await.unwrap();
//! // The same key again: an hour away, longer than max_wait: refused, not sent.
//! let Err(Error::RateLimited(refused)) = client.clone().oneshot(keyed("sk-one")).await else { panic!() };
//! assert_eq!(refused.retry_after(), Duration::from_secs(3600));
//! assert!(!refused.to_string().contains("sk-one"));
//! // Another key has its own quota.
//! assert!(client.clone().oneshot(keyed("sk-two")).await.is_ok());
//! # }
//! ```
//!
//! # A fleet: `RedisStore` (feature `redis`)
//!
//! Processes that share an API key share its quota; each learning alone
//! still sends into the others' usage. With a [`RedisStore`] **the
//! decision is local and the ledger shared**: each process admits from a
//! lease, a slice of the shared window sized by its demand and the scope's
//! active members, with the same window algorithm as [`MemoryStore`] and
//! no Redis round trip per request. A background task renews the lease
//! ahead of running out; Redis keeps the ledger (the fleet's windows and
//! cooldown, units leased, members), one key per scope in one hash slot
//! (Redis Cluster works: `RedisStore::open_cluster`), written by a
//! compare-and-set that holds no rule of its own.
//!
//! - **Cold start**: until the fleet knows a scope's limit, one process
//!   sends one probe request and the others hold theirs until it teaches.
//! - **Vendors that announce nothing**: until a 429 teaches a limit, the
//!   fleet keeps at most 16 requests in flight (fair shares, once it has
//!   joined; more as answers come back or time passes), so that the
//!   limit, when it comes, costs few 429s; then the
//!   ledger infers a window from a 429's wait (what got through before it,
//!   the time between two) and paces the fleet at a margin that shrinks on
//!   a 429 and grows back. A fleet that starts late in a vendor's window
//!   measures its first window short; the next 429, a vendor window on,
//!   teaches the whole.
//! - **Faults**: when Redis is down, slow or answers nonsense, each process
//!   falls back to a cautious share (the last known limit over the last
//!   known members), says so once, tries Redis one call at a time after a
//!   shared backoff, and shares again when it answers.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn fleet() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use tower_api_errors::quota::{QuotaLayer, RedisStore};
//! use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy};
//!
//! let store = RedisStore::open("redis://127.0.0.1:6379/")?
//!     .prefix("billing-api:prod:")
//!     .timeout(Duration::from_millis(30));
//! let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
//!     .build_http::<tower_api_errors::retry::ReplayBody<http_body_util::Full<bytes::Bytes>>>();
//! let _client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(QuotaLayer::with_store(store))
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(client);
//! # Ok(()) }
//! ```
//!
//! `examples/quota_fleet.rs` runs fleets of processes against one vendor
//! quota with each store, and the faults above; its table is in
//! `BENCHMARKS.md`.

// Without the `redis` feature, its store's docs are on docs.rs.
#![cfg_attr(
    not(feature = "redis"),
    doc = "",
    doc = "[`RedisStore`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/quota/struct.RedisStore.html"
)]

mod future;
#[macro_use]
mod layer;
mod learn;
mod scope;
mod service;
mod store;

#[cfg(feature = "redis")]
pub use self::store::redis::{RedisStore, DEFAULT_PREFIX, DEFAULT_TIMEOUT};
pub use crate::error::RateLimited;
pub use future::ResponseFuture;
pub use layer::{QuotaLayer, DEFAULT_MAX_WAIT};
pub use scope::{digest, QuotaRequest};
pub use service::Quota;
pub use store::{
    Grant, MemoryStore, Observation, Permit, QuotaStore, ScopeKey, StoreFuture, WindowReport,
    MAX_WINDOWS,
};
