//! OpenTelemetry metrics (feature `opentelemetry`): error rates by kind,
//! attempts per call, time spent waiting and why, and the budget or a
//! quota gate refusing work, as numbers a dashboard can graph. They are
//! the OpenTelemetry backend of the [observer](crate::observe), which
//! every layer reports its events to.
//!
//! The crate depends on the `opentelemetry` API crate only: the
//! application brings the SDK and its exporter (OTLP, Prometheus, stdout),
//! builds a [`Metrics`] from a meter, and hands it to the layers:
//!
//! ```
//! use tower_api_errors::metrics::Metrics;
//! use tower_api_errors::{RetryLayer, RetryPolicy};
//!
//! // After installing the SDK (`opentelemetry::global::set_meter_provider`):
//! let metrics = Metrics::global()
//!     // Vendor codes worth a dashboard line; any other is not recorded.
//!     .error_codes(["rate_limit_exceeded", "VERSION_OUTDATED"]);
//! let layer = RetryLayer::new(RetryPolicy::default().metrics(metrics));
//! assert!(format!("{:?}", layer.policy()).contains("metrics: true"));
//! ```
//!
//! # Names
//!
//! Where OpenTelemetry's [HTTP client conventions] speak, their names:
//! `http.client.request.duration` with `http.request.method`,
//! `server.address`, `server.port`, `http.response.status_code`,
//! `error.type` and `http.request.resend_count`. Everything else (OTel has
//! no convention for retries, waits, budgets or quotas) is ours, under one
//! prefix, [`PREFIX`] (`tower_api_errors.`).
//!
//! `error.type` is the failure's [`ErrorKind`](crate::ErrorKind) in snake
//! case: `bad_request`, `unauthorized`, `payment_required`, `forbidden`,
//! `not_found`, `conflict`, `timeout`, `validation`, `upgrade_required`,
//! `rate_limited`, `server_error`, `bad_gateway`, `unavailable`,
//! `transport`, `other`; and `cancelled` for an attempt or a call dropped
//! before its end (the caller gave up, or another of a hedged call's
//! attempts answered first). It is absent on successes, so "error rate by
//! kind" is `sum by (error.type)` over all calls.
//!
//! # The metrics
//!
//! | metric | instrument | unit | attributes | attributes when they apply | recorded |
//! |---|---|---|---|---|---|
//! | `http.client.request.duration` | histogram (f64) | `s` | `http.request.method`, `server.address`, `server.port` | `http.response.status_code`, `error.type`, `http.request.resend_count`, `tower_api_errors.error.code` | each attempt the retry layer sends (not one refused below, by a quota or a breaker, ended by an auth layer before any send, or dropped while a quota or auth layer held it unsent), when its response head or its error arrives, or the deadline cuts it (an auth layer's re-send below is part of its attempt) |
//! | `tower_api_errors.call.duration` | histogram (f64) | `s` | `http.request.method`, `server.address`, `server.port` | `http.response.status_code`, `error.type`, `tower_api_errors.stop_reason` | each logical call through the retry layer, at its end: attempts and waits included (a hedged call's: the hedge layer's, once, [`HedgeLayer::metrics`](crate::hedge::HedgeLayer::metrics)) |
//! | `tower_api_errors.call.attempts` | histogram (u64) | `{attempt}` | `http.request.method`, `server.address`, `server.port` | `http.response.status_code`, `error.type`, `tower_api_errors.stop_reason` | each logical call, at its end: the attempts it sent, as [`RetryReport::attempts`](crate::RetryReport::attempts) counts them (a hedged call's: the hedge layer's, its attempts and hedge) |
//! | `tower_api_errors.retries` | counter (u64) | `{retry}` | `http.request.method`, `server.address`, `server.port`, `error.type` | `http.response.status_code` | each retry decided, before its wait; `error.type` is the failure retried |
//! | `tower_api_errors.waits` | counter (u64) | `{wait}` | `tower_api_errors.wait.source`, `server.address`, `server.port` | | each wait before a send, when it ends or its caller gives up: `retry_after`, `rate_limit`, `backoff` (retry layer), `quota` (quota layer), `auth` (auth layer), `cooldown` (the retry layer waiting out a breaker's own break, or a layer that can tell a cooldown apart) |
//! | `tower_api_errors.wait.duration` | histogram (f64) | `s` | `tower_api_errors.wait.source`, `server.address`, `server.port` | | with each wait counted above: the time it lasted (a wait its caller gave up on: until then, not its planned length) |
//! | `tower_api_errors.budget.refusals` | counter (u64) | `{retry}` | `http.request.method`, `server.address`, `server.port`, `error.type` | | each retry the retry budget refused |
//! | `tower_api_errors.failed_fast` | counter (u64) | `{request}` | `tower_api_errors.failed_fast.reason`, `http.request.method`, `server.address`, `server.port` | | each request failed without waiting: `hint_too_long`, `deadline` (retry layer), `quota` (quota layer: a refusal, counted once, not again as the retry layer's `hint_too_long`) |
//! | `tower_api_errors.auth.refreshes` | counter (u64) | `{refresh}` | `tower_api_errors.auth.outcome` | | each credential load from the token source (the first included), `success` or `failure` (auth layer, [`AuthLayer::metrics`](crate::auth::AuthLayer::metrics)); one load serves every request waiting for it |
//! | `tower_api_errors.quota.holds` | counter (u64) | `{request}` | `http.request.method`, `server.address`, `server.port` | | each request a quota gate held before sending (quota layer, [`QuotaLayer::metrics`](crate::quota::QuotaLayer::metrics)) |
//! | `tower_api_errors.breaker.transitions` | counter (u64) | `{transition}` | `tower_api_errors.breaker.state`, `server.address`, `server.port` | `tower_api_errors.breaker.origin` | each state a breaker entered: `open`, `half_open`, `closed`; `origin` = `fleet` on an opening learned from the store (breaker layer, [`CircuitBreakerLayer::metrics`](crate::breaker::CircuitBreakerLayer::metrics); the events in [`observe`](crate::observe)) |
//! | `tower_api_errors.hedges` | counter (u64) | `{request}` | `tower_api_errors.hedge.event`, `http.request.method`, `server.address`, `server.port` | | each hedge `sent`, and then `won` or `cancelled` (hedge layer, [`HedgeLayer::metrics`](crate::hedge::HedgeLayer::metrics)) |
//!
//! When the attributes apply:
//! - `server.address` and `server.port`: when the request names its
//!   server: the URI's host (hyper-util's and reqwest's have one), else
//!   the `Host` header's (an origin-form URI, `/path`, as hyper's
//!   `client::conn` sends; a tonic client's has neither unless made with
//!   `with_origin`, as `Grpc::new(channel)` sends a path alone); the port
//!   is the URI's (the `Host` header's), or its scheme's default. The
//!   spans' `url.full` of an origin-form URI is `//host:port/path` (its
//!   scheme unknown).
//! - `http.response.status_code`: when there was a response.
//! - `error.type`: on failures only.
//! - `http.request.resend_count`: on resends only (1 on the first retry).
//! - `tower_api_errors.error.code`: on failures whose vendor code is on
//!   the [`Metrics::error_codes`] allowlist.
//! - `tower_api_errors.stop_reason`: on failed calls, why the retry layer
//!   stopped: `not_retryable`, `not_idempotent`, `forbidden_by_policy`,
//!   `body_not_replayable`, `body_failed`, `max_attempts`, `hint_too_long`,
//!   `deadline`, `budget_exhausted`, `service_failed`.
//!
//! The quota and auth rows are recorded by those layers when given the
//! same handle ([`QuotaLayer::metrics`](crate::quota::QuotaLayer::metrics),
//! [`AuthLayer::metrics`](crate::auth::AuthLayer::metrics)), through the
//! public [`Metrics::record_wait`], [`Metrics::record_failed_fast`],
//! [`Metrics::record_auth_refresh`] and [`Metrics::record_quota_hold`],
//! which your own layers may call too. The quota layer reports every hold
//! as `quota`: its store's answer does not say whether it waits out a
//! window or a cooldown, so `cooldown` is there for a layer that can tell. A test (`tests/metrics.rs`) reads
//! this table and checks every row against what an in-memory exporter
//! collects from a scripted run.
//!
//! Answering the questions:
//! - error rate by kind: `tower_api_errors.call.duration` count by
//!   `error.type` over its total count (per attempt:
//!   `http.client.request.duration`);
//! - attempts per call: `tower_api_errors.call.attempts` (its sum over its
//!   count is the mean);
//! - time waited on rate limits: `tower_api_errors.wait.duration` sum where
//!   `tower_api_errors.wait.source` is `retry_after` or `rate_limit`.
//!
//! # Cardinality and secrets
//!
//! Attribute values are bounded by construction: a method (OTel's rule:
//! a non-standard one is `_OTHER`), the URI's host and port, a status, the
//! crate's own enum names. Never a path, a query, userinfo, a header or a
//! body. Vendor error codes come from bodies and are unbounded, so none is
//! recorded unless you list it ([`Metrics::error_codes`]).
//!
//! # Cost
//!
//! - Feature off: nothing is compiled in.
//! - Feature on, no [`Metrics`] in the policy: one pointer-sized field in
//!   the retry future and a branch per event; no clock read, no
//!   allocation.
//! - With [`Metrics`]: per call, three allocations (the recorder, the
//!   host, the call's attribute list, which every record of the call
//!   reuses), two clock reads on a first-time success (one more per
//!   retry), and three records (attempt duration, call duration, call
//!   attempts); with an SDK, most of the cost is the SDK's aggregation.
//!
//! The measured figures are in the repository's BENCHMARKS.md (section
//! "OpenTelemetry metrics").
//! - Whether an SDK listens is not something the `opentelemetry` API can
//!   tell (instruments have no "enabled" query), so recording is opt-in:
//!   with no SDK installed, leave [`Metrics`] out of the policy rather than
//!   give it no-op instruments.
//!
//! # Example: what an in-memory exporter sees
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use opentelemetry_sdk::metrics::{data::{AggregatedMetrics, MetricData}, InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::metrics::Metrics;
//! use tower_api_errors::retry::ReplayBody;
//! use tower_api_errors::{ErrorBodyParseLayer, RetryLayer, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let exporter = InMemoryMetricExporter::default();
//! let provider = SdkMeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(exporter.clone()).build())
//!     .build();
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! // Down once (503, "retry in 2 s"), then up.
//! let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
//!     let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
//!     async move {
//!         let status = if first { 503 } else { 200 };
//!         Ok::<_, std::convert::Infallible>(
//!             Response::builder().status(status).header("retry-after", "2").body(Full::new(Bytes::new())).unwrap(),
//!         )
//!     }
//! });
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default().metrics(Metrics::from_provider(&provider))))
//!     .layer(ErrorBodyParseLayer::new())
//!     .service(upstream);
//! let request = Request::get("https://api.example.com/v1/items").body(Full::new(Bytes::new())).unwrap();
//! client.oneshot(request).await.unwrap();
//!
//! provider.force_flush().unwrap();
//! let batches = exporter.get_finished_metrics().unwrap();
//! let histogram = |name: &str| {
//!     let metric = batches.iter().flat_map(|b| b.scope_metrics()).flat_map(|s| s.metrics())
//!         .find(|m| m.name() == name).unwrap();
//!     let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else { panic!("{name}") };
//!     h.data_points().map(|p| (p.count(), p.sum())).collect::<Vec<_>>()
//! };
//! // Two attempts (the 503, then the 200 resend), one wait of 2 s on the server's hint.
//! assert_eq!(histogram("tower_api_errors.wait.duration"), [(1, 2.0)]);
//! assert_eq!(histogram("http.client.request.duration").len(), 2);
//! # }
//! ```
//!
//! [HTTP client conventions]: https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#http-client

// The code is the observer's OpenTelemetry backend (`src/observe/otel/`);
// this page is its public face.
pub use crate::observe::otel::*;
