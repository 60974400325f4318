//! The one observer: every event the layers report goes through here,
//! once, and fans out to two backends, each behind its feature:
//!
//! - **tracing** (feature `tracing`): a span per logical request and per
//!   attempt, and events with stable names and fields (`retrying`,
//!   `finished`, `quota_held`, `credential_rejected`, ...), under the target
//!   `tower_api_errors::telemetry`;
//! - **OpenTelemetry** (feature `opentelemetry`): the instruments of
//!   [`metrics`], recorded when the layer was given a
//!   [`Metrics`] handle.
//!
//! With neither feature on, an [`Observer`] is zero-sized and every event
//! compiles to nothing; with `opentelemetry` on and no handle given, an
//! event costs one branch.
//!
//! # Why one observer
//!
//! A layer reports what happened (a retry decided, a request held, a
//! credential rejected) in one call, with plain data: kinds, statuses,
//! durations, hint sources, scope digests, the request's method and URI.
//! What each backend makes of it (a span field, an event, a counter and
//! its attributes) is decided here, so the two always agree, and the
//! observer knows nothing of the layers that call it.
//!
//! # Events for your own layers
//!
//! The events of the resilience layers (a circuit breaker opening, letting
//! a probe through, closing; a hedged request sent, winning, cancelled)
//! are public, so a breaker or hedging layer of your own reports the same
//! spans, events and metrics as ours:
//!
//! | event | tracing (level) | OpenTelemetry |
//! |---|---|---|
//! | [`breaker_opened`](Observer::breaker_opened) | `breaker_opened` {address, port, open_ms} (WARN) | `tower_api_errors.breaker.transitions` {`tower_api_errors.breaker.state` = `open`, server.address, server.port} |
//! | [`breaker_half_open`](Observer::breaker_half_open) | `breaker_half_open` {address, port} (INFO) | the same counter, state `half_open` |
//! | [`breaker_closed`](Observer::breaker_closed) | `breaker_closed` {address, port} (INFO) | the same counter, state `closed` |
//! | [`breaker_fleet_opened`](Observer::breaker_fleet_opened) | `breaker_fleet_opened` {address, port, open_ms} (WARN) | the same counter, state `open`, and `tower_api_errors.breaker.origin` = `fleet` |
//! | [`hedge_sent`](Observer::hedge_sent) | `hedge_sent` {method, address, port, after_ms} (DEBUG) | `tower_api_errors.hedges` {`tower_api_errors.hedge.event` = `sent`, http.request.method, server.address, server.port} |
//! | [`hedge_won`](Observer::hedge_won) | `hedge_won` {...} (DEBUG) | the same counter, event `won` |
//! | [`hedge_cancelled`](Observer::hedge_cancelled) | `hedge_cancelled` {...} (DEBUG) | the same counter, event `cancelled` |
//!
//! Attribute values follow [`metrics`][metrics-secrets]:
//! the URI's host and port only, never its path, query or userinfo.
//!
//! # Examples
//!
//! An observer with no backend handle: events are accepted and cost
//! nothing.
//!
//! ```
//! use std::time::Duration;
//! use tower_api_errors::observe::Observer;
//!
//! let observer = Observer::new();
//! let uri = "https://api.example.com/v1/items".parse().unwrap();
//! observer.breaker_opened(&uri, Duration::from_secs(30));
//! observer.breaker_closed(&uri);
//! assert!(format!("{observer:?}").contains("metrics: false"));
//! ```
//!
//! With OpenTelemetry metrics (feature `opentelemetry`), what an in-memory
//! exporter sees:
//!
//! ```
//! # #[cfg(feature = "opentelemetry")] fn main() {
//! use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
//! use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
//! use std::time::Duration;
//! use tower_api_errors::metrics::Metrics;
//! use tower_api_errors::observe::Observer;
//!
//! let exporter = InMemoryMetricExporter::default();
//! let provider = SdkMeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(exporter.clone()).build())
//!     .build();
//! let observer = Observer::new().metrics(Metrics::from_provider(&provider));
//! let uri = "https://user:pw@api.example.com/v1/items?key=secret".parse().unwrap();
//! observer.hedge_sent(&http::Method::GET, &uri, Duration::from_millis(50));
//! observer.hedge_won(&http::Method::GET, &uri);
//!
//! provider.force_flush().unwrap();
//! let batches = exporter.get_finished_metrics().unwrap();
//! let hedges = batches.iter().flat_map(|b| b.scope_metrics()).flat_map(|s| s.metrics())
//!     .find(|m| m.name() == "tower_api_errors.hedges").unwrap();
//! let AggregatedMetrics::U64(MetricData::Sum(sum)) = hedges.data() else { panic!() };
//! let mut events: Vec<String> = sum.data_points()
//!     .map(|p| {
//!         let event = p.attributes().find(|kv| kv.key.as_str() == "tower_api_errors.hedge.event").unwrap();
//!         let host = p.attributes().find(|kv| kv.key.as_str() == "server.address").unwrap();
//!         format!("{} {} {}", event.value, host.value, p.value())
//!     })
//!     .collect();
//! events.sort();
//! assert_eq!(events, ["sent api.example.com 1", "won api.example.com 1"]);
//! # }
//! # #[cfg(not(feature = "opentelemetry"))] fn main() {}
//! ```
// Links to items of a feature that is off go to their docs.rs pages.
#![cfg_attr(
    feature = "opentelemetry",
    doc = "",
    doc = "[`metrics`]: crate::metrics",
    doc = "[`Metrics`]: crate::metrics::Metrics",
    doc = "[metrics-secrets]: crate::metrics#cardinality-and-secrets"
)]
#![cfg_attr(
    not(feature = "opentelemetry"),
    doc = "",
    doc = "[`metrics`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/metrics/index.html",
    doc = "[`Metrics`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/metrics/struct.Metrics.html",
    doc = "[metrics-secrets]: https://docs.rs/tower-api-errors/latest/tower_api_errors/metrics/index.html#cardinality-and-secrets"
)]
// Each backend uses some of the events' arguments and of the helpers here:
// with one of them off, the rest goes unused.
#![cfg_attr(
    not(all(feature = "tracing", feature = "opentelemetry")),
    allow(unused_variables, dead_code)
)]

mod call;
#[cfg(feature = "opentelemetry")]
pub(crate) mod otel;
#[cfg(feature = "tracing")]
mod trace;

#[cfg(feature = "opentelemetry")]
pub(crate) use call::{method_name, server};
pub(crate) use call::{Call, Failure, HedgedCall, Span};

use crate::error::{AuthFailure, Renewal};
use crate::{ApiError, ErrorKind};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use std::fmt;
use std::time::Duration;

/// The event sink a layer reports to: tracing always (feature `tracing`),
/// OpenTelemetry when it was given [`Metrics`] (feature `opentelemetry`).
///
/// Each method is one event: the layer calls it once, and both backends
/// record it. See [the module docs](self) for the events and their names.
///
/// # Clone
/// Cheap (at most one `Arc`); clones report to the same backends.
#[cfg_attr(
    feature = "opentelemetry",
    doc = "",
    doc = "[`Metrics`]: crate::metrics::Metrics"
)]
#[cfg_attr(
    not(feature = "opentelemetry"),
    doc = "",
    doc = "[`Metrics`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/metrics/struct.Metrics.html"
)]
#[derive(Clone, Default)]
pub struct Observer {
    #[cfg(feature = "opentelemetry")]
    metrics: Option<crate::metrics::Metrics>,
}

debug_fields!([] Observer (&self) {
    metrics: self.has_metrics(),
});

/// An observer that records OpenTelemetry metrics into `metrics` too:
/// `Observer::new().metrics(metrics)`, what each layer's `metrics` setter
/// gives it.
#[cfg(feature = "opentelemetry")]
impl From<crate::metrics::Metrics> for Observer {
    fn from(metrics: crate::metrics::Metrics) -> Self {
        Observer::new().metrics(metrics)
    }
}

impl Observer {
    /// An observer that reports to tracing (feature `tracing`) and to no
    /// metrics.
    pub fn new() -> Self {
        Observer::default()
    }

    /// This observer, recording OpenTelemetry metrics into `metrics` too.
    #[cfg(feature = "opentelemetry")]
    pub fn metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// True when metrics are recorded (and waits are worth timing).
    pub(crate) fn has_metrics(&self) -> bool {
        #[cfg(feature = "opentelemetry")]
        return self.metrics.is_some();
        #[cfg(not(feature = "opentelemetry"))]
        false
    }

    /// The auth layer renews a credential that `status` rejected, or (no
    /// renewal) ends the request while the last failed refresh's backoff
    /// runs (tracing `credential_rejected`).
    pub(crate) fn credential_rejected(&self, status: StatusCode, renewal: Option<Renewal>) {
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: trace::TARGET,
            status = status.as_u16(),
            renewal = match renewal {
                Some(Renewal::Refreshed) => "refresh",
                Some(Renewal::AlreadyRenewed) => "already_renewed",
                // The last refresh failed and its backoff runs.
                None => "backing_off",
            },
            "credential_rejected"
        );
    }

    /// A load from the auth layer's token source ended: the generation of
    /// the credential installed, or why it failed (tracing
    /// `credential_installed` / `credential_refresh_failed`, never the
    /// credential or the source's error text;
    /// `tower_api_errors.auth.refreshes`).
    pub(crate) fn credential_loaded(&self, loaded: Result<u64, AuthFailure>) {
        #[cfg(feature = "tracing")]
        match loaded {
            Ok(generation) => {
                tracing::info!(target: trace::TARGET, generation, "credential_installed")
            }
            Err(reason) => {
                tracing::warn!(target: trace::TARGET, reason = %reason, "credential_refresh_failed")
            }
        }
        #[cfg(feature = "opentelemetry")]
        if let Some(metrics) = &self.metrics {
            metrics.record_auth_refresh(loaded.is_ok());
        }
    }

    /// `to` (method, URI, headers) waits for a credential, as long as the
    /// [`Wait`] returned is held (`tower_api_errors.waits`, source `auth`).
    pub(crate) fn credential_wait(&self, to: (&Method, &Uri, &HeaderMap)) -> Wait {
        #[cfg(feature = "opentelemetry")]
        if let Some(m) = &self.metrics {
            let (source, to) = (otel::WaitSource::Auth, otel::Target::new(to));
            return Some(otel::Waiting::new(m, source, to, Duration::MAX));
        }
        Wait::default()
    }

    /// The auth layer ends a request (tracing `unauthorized`).
    pub(crate) fn unauthorized(&self, reason: AuthFailure) {
        #[cfg(feature = "tracing")]
        tracing::warn!(target: trace::TARGET, reason = %reason, "unauthorized");
    }

    /// A quota gate holds `request` for `delay` (`reason`: `pacing`,
    /// `quota spent`) in the scope with digest `scope` (tracing
    /// `quota_held`; a `quota` wait, each wait, as long as the [`Wait`]
    /// returned is held; `first`, the request's first wait:
    /// `tower_api_errors.quota.holds`, a `{request}` count).
    pub(crate) fn quota_held<B>(
        &self,
        scope: u64,
        delay: Duration,
        reason: &'static str,
        first: bool,
        request: Option<&Request<B>>,
    ) -> Wait {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: trace::TARGET,
            scope = %format_args!("{scope:016x}"),
            delay_ms = delay.as_millis() as u64,
            reason,
            "quota_held"
        );
        #[cfg(feature = "opentelemetry")]
        if let (Some(metrics), Some(request)) = (&self.metrics, request) {
            let target = otel::Target::new((request.method(), request.uri(), request.headers()));
            if first {
                metrics.quota_hold_for(&target);
            }
            let source = otel::WaitSource::Quota;
            return Some(otel::Waiting::new(metrics, source, target, delay));
        }
        Wait::default()
    }

    /// A quota gate refuses `request` without sending it: the scope frees
    /// up in `retry_after` (tracing `quota_refused`;
    /// `tower_api_errors.failed_fast`, reason `quota`).
    pub(crate) fn quota_refused<B>(
        &self,
        scope: u64,
        retry_after: Duration,
        request: Option<&Request<B>>,
    ) {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: trace::TARGET,
            scope = %format_args!("{scope:016x}"),
            retry_after_ms = retry_after.as_millis() as u64,
            "quota_refused"
        );
        #[cfg(feature = "opentelemetry")]
        if let (Some(metrics), Some(request)) = (&self.metrics, request) {
            let target = otel::Target::new((request.method(), request.uri(), request.headers()));
            metrics.fail_fast_for(crate::metrics::FailFast::Quota, &target);
        }
    }

    /// A circuit breaker for `uri`'s server opened: requests to it fail
    /// fast for `open_for`.
    pub fn breaker_opened(&self, uri: &Uri, open_for: Duration) {
        self.breaker("breaker_opened", uri, Some(open_for), false);
    }

    /// A circuit breaker for `uri`'s server opened for `open_for` because
    /// another process of the fleet was told by the server to hold off
    /// that long (see [`fleet`](crate::fleet)).
    pub fn breaker_fleet_opened(&self, uri: &Uri, open_for: Duration) {
        self.breaker("breaker_fleet_opened", uri, Some(open_for), true);
    }

    /// A circuit breaker for `uri`'s server turned half-open: it lets a
    /// probe request through to see whether the server recovered.
    pub fn breaker_half_open(&self, uri: &Uri) {
        self.breaker("breaker_half_open", uri, None, false);
    }

    /// A circuit breaker for `uri`'s server closed: requests flow again.
    pub fn breaker_closed(&self, uri: &Uri) {
        self.breaker("breaker_closed", uri, None, false);
    }

    /// A breaker's event `name` (tracing; the state it entered, for the
    /// metrics: `open` when open for `open_for`, else its name's end);
    /// `fleet`: told by the fleet.
    fn breaker(&self, name: &'static str, uri: &Uri, open_for: Option<Duration>, fleet: bool) {
        #[cfg(feature = "tracing")]
        trace::breaker(name, uri, open_for);
        #[cfg(feature = "opentelemetry")]
        if let Some(metrics) = &self.metrics {
            let state = open_for.map_or(name.trim_start_matches("breaker_"), |_| "open");
            metrics.breaker_transition(state, uri, fleet);
        }
    }

    /// A hedge of `method uri` was sent, `after` the first attempt went
    /// unanswered that long.
    pub fn hedge_sent(&self, method: &Method, uri: &Uri, after: Duration) {
        self.hedge("hedge_sent", method, uri, Some(after));
    }

    /// A hedge of `method uri` answered first: its answer is the call's.
    pub fn hedge_won(&self, method: &Method, uri: &Uri) {
        self.hedge("hedge_won", method, uri, None);
    }

    /// A hedge of `method uri` was cancelled: another attempt answered
    /// first, or the call was dropped.
    pub fn hedge_cancelled(&self, method: &Method, uri: &Uri) {
        self.hedge("hedge_cancelled", method, uri, None);
    }

    /// A hedge's event `name` (tracing; `hedge_` and the metric's
    /// event), `after` the call began (for `hedge_sent`).
    fn hedge(&self, name: &'static str, method: &Method, uri: &Uri, after: Option<Duration>) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: trace::TARGET,
            method = call::method_name(method),
            address = call::server(uri, &HeaderMap::new()).0,
            port = call::server(uri, &HeaderMap::new()).1,
            after_ms = after.map(|after| after.as_millis() as u64),
            "{name}"
        );
        #[cfg(feature = "opentelemetry")]
        if let Some(metrics) = &self.metrics {
            metrics.hedge(name.trim_start_matches("hedge_"), method, uri);
        }
    }
}

/// A wait before a send, which the layer waiting holds (in its future)
/// while it lasts: `tower_api_errors.waits` and
/// `tower_api_errors.wait.duration` are recorded when it is dropped (the
/// wait ended, or the caller gave up), with the time waited, not the time
/// planned (see `otel::Waiting`; the retry layer's are its `Call`'s).
#[cfg(feature = "opentelemetry")]
pub(crate) type Wait = Option<otel::Waiting>;
#[cfg(not(feature = "opentelemetry"))]
pub(crate) type Wait = Option<std::convert::Infallible>;

/// The classifier stamped a verdict on a response (tracing `classified`
/// {status, kind, retryable}, at TRACE).
pub(crate) fn classified(status: StatusCode, kind: Option<ErrorKind>, retryable: bool) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        target: trace::TARGET,
        status = status.as_u16(),
        kind = kind.map_or("success", ErrorKind::as_str),
        retryable,
        "classified"
    );
}

/// A failure body was read into `error` (tracing `api_error` {status,
/// kind, code, retryable, truncated}, at DEBUG).
pub(crate) fn api_error(error: &ApiError) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: trace::TARGET,
        status = error.status().as_u16(),
        kind = error.kind().as_str(),
        code = error.code(),
        retryable = error.is_retryable(),
        truncated = error.is_truncated(),
        "api_error"
    );
}

/// A shared quota store failed (down, slow, garbage) and learned quotas
/// are kept locally: once per outage (tracing `quota_store_local` {error},
/// at WARN).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn store_local(error: &dyn fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: trace::TARGET, error = %error, "quota_store_local");
}

/// The shared quota store answers again (tracing `quota_store_shared`, at
/// INFO).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn store_shared() {
    #[cfg(feature = "tracing")]
    tracing::info!(target: trace::TARGET, "quota_store_shared");
}

#[cfg(feature = "opentelemetry")]
#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    /// Each breaker event is one count of `tower_api_errors.breaker.transitions`
    /// under the state it entered, with the server's host and port only.
    #[test]
    fn breaker_events_count_by_state_entered() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let observer = Observer::new().metrics(crate::metrics::Metrics::from_provider(&provider));
        let uri: Uri = "http://user:pw@api.test:8080/v1/items?key=secret"
            .parse()
            .unwrap();
        observer.breaker_opened(&uri, Duration::from_secs(30));
        observer.breaker_half_open(&uri);
        observer.breaker_opened(&uri, Duration::from_secs(60));
        observer.breaker_half_open(&uri);
        observer.breaker_closed(&uri);
        provider.force_flush().unwrap();

        let batches = exporter.get_finished_metrics().unwrap();
        let metric = batches
            .iter()
            .flat_map(|b| b.scope_metrics())
            .flat_map(|s| s.metrics())
            .find(|m| m.name() == "tower_api_errors.breaker.transitions")
            .expect("the counter was exported");
        let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
            panic!("a u64 counter")
        };
        let mut points: Vec<String> = sum
            .data_points()
            .map(|point| {
                let mut attrs: Vec<String> = point
                    .attributes()
                    .map(|kv| format!("{}={}", kv.key, kv.value))
                    .collect();
                attrs.sort();
                format!("{} {}", attrs.join(" "), point.value())
            })
            .collect();
        points.sort();
        assert_eq!(
            points,
            [
                "server.address=api.test server.port=8080 tower_api_errors.breaker.state=closed 1",
                "server.address=api.test server.port=8080 tower_api_errors.breaker.state=half_open 2",
                "server.address=api.test server.port=8080 tower_api_errors.breaker.state=open 2",
            ]
        );
    }

    #[test]
    fn without_metrics_nothing_is_timed() {
        let observer = Observer::new();
        assert!(!observer.has_metrics());
        assert_eq!(format!("{observer:?}"), "Observer { metrics: false }");
    }
}
