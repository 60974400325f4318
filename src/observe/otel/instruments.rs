//! [`Metrics`]: the instruments, and the recording functions layers call.

use super::attributes::{self as attr, Attrs, Target};
use http::{HeaderMap, Method, Uri};
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};
use std::sync::Arc;
use std::time::Duration;

/// The prefix of every metric and attribute name the crate defines itself
/// (those OpenTelemetry's conventions do not).
pub const PREFIX: &str = "tower_api_errors.";

/// OpenTelemetry's recommended buckets for `http.client.request.duration`,
/// in seconds.
pub const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Buckets of `tower_api_errors.call.duration`: OpenTelemetry's, then on to
/// the default deadline (150 s), since a call includes its waits.
pub const CALL_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
    120.0, 150.0,
];

/// Buckets of `tower_api_errors.wait.duration`, in seconds: from a short
/// backoff to the longest hint honoured by default (120 s) and beyond.
pub const WAIT_DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// Buckets of `tower_api_errors.call.attempts`.
pub const ATTEMPT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// Why a request waited: the `tower_api_errors.wait.source` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitSource {
    /// A server's explicit hint: `Retry-After`, `retry-after-ms`, gRPC
    /// pushback, or a body's `retry_after`.
    RetryAfter,
    /// The reset of an exhausted rate-limit window.
    RateLimit,
    /// The retry layer's backoff, when the server gave no hint.
    Backoff,
    /// A quota gate held the request until its window reopens.
    Quota,
    /// A cooldown after a failure told the client to stay away.
    Cooldown,
    /// A credential refresh the request waited for.
    Auth,
}

impl WaitSource {
    /// The attribute value: `retry_after`, `rate_limit`, `backoff`,
    /// `quota`, `cooldown` or `auth`.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitSource::RetryAfter => "retry_after",
            WaitSource::RateLimit => "rate_limit",
            WaitSource::Backoff => "backoff",
            WaitSource::Quota => "quota",
            WaitSource::Cooldown => "cooldown",
            WaitSource::Auth => "auth",
        }
    }
}

/// Why a request failed without waiting: the
/// `tower_api_errors.failed_fast.reason` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailFast {
    /// The server asked to wait longer than `max_retry_after`.
    HintTooLong,
    /// The deadline ended the request: a wait that would end past it was
    /// not started, or it passed during an attempt or a wait.
    Deadline,
    /// A quota gate refused the request locally.
    Quota,
}

impl FailFast {
    /// The attribute value: `hint_too_long`, `deadline` or `quota`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailFast::HintTooLong => "hint_too_long",
            FailFast::Deadline => "deadline",
            FailFast::Quota => "quota",
        }
    }
}

display_as_str!(WaitSource, FailFast);

/// The crate's OpenTelemetry instruments, created once from a [`Meter`];
/// hand it to the layers ([`RetryPolicy::metrics`](crate::RetryPolicy::metrics)).
///
/// The recording functions are public so that a layer of your own (a
/// rate limiter, a circuit breaker) can record into the same instruments,
/// with the same attributes.
///
/// # Clone
/// Cheap (one `Arc`); clones record into the same instruments.
#[derive(Clone)]
pub struct Metrics {
    pub(super) inner: Arc<Instruments>,
}

/// The instruments; the call recorder (`super::call`) records into the
/// ones that take its attributes as they are.
#[derive(Clone)]
pub(super) struct Instruments {
    pub(super) attempt_duration: Histogram<f64>,
    call_duration: Histogram<f64>,
    call_attempts: Histogram<u64>,
    pub(super) retries: Counter<u64>,
    waits: Counter<u64>,
    wait_duration: Histogram<f64>,
    pub(super) budget_refusals: Counter<u64>,
    failed_fast: Counter<u64>,
    auth_refreshes: Counter<u64>,
    quota_holds: Counter<u64>,
    breaker_transitions: Counter<u64>,
    hedges: Counter<u64>,
    error_codes: Box<[Arc<str>]>,
}

debug_fields!([] Metrics (&self) {
    error_codes: self.inner.error_codes,
    ..
});

/// The [`Instruments`], each `field` bound to an instrument on `meter`
/// (`kind`, a `Meter` method: `u64_counter`, `f64_histogram`, ...) named
/// `name`, in `unit`, with `buckets` when given: one table row an
/// instrument, and no error codes allowed.
macro_rules! instruments {
    ($meter:ident; $($field:ident: $kind:ident($name:literal, $unit:literal, $doc:literal $(, $buckets:expr)?);)*) => {
        Instruments {
            $($field: $meter
                .$kind($name)
                .with_unit($unit)
                .with_description($doc)
                $(.with_boundaries($buckets.to_vec()))?
                .build(),)*
            error_codes: Box::default(),
        }
    };
}

/// The instrumentation scope's name: the crate's.
pub const SCOPE: &str = "tower-api-errors";

impl Metrics {
    /// The instruments, created on `meter`.
    pub fn new(meter: &Meter) -> Self {
        // One row per instrument: its field, kind, name, unit, description
        // and buckets.
        let instruments = instruments! { meter;
            attempt_duration: f64_histogram("http.client.request.duration", "s",
                "Duration of each HTTP request sent (each attempt).", HTTP_DURATION_BUCKETS);
            call_duration: f64_histogram("tower_api_errors.call.duration", "s",
                "Duration of each logical call through the retry layer, attempts and waits included.",
                CALL_DURATION_BUCKETS);
            call_attempts: u64_histogram("tower_api_errors.call.attempts", "{attempt}",
                "Attempts sent by each logical call, the first included.", ATTEMPT_BUCKETS);
            retries: u64_counter("tower_api_errors.retries", "{retry}",
                "Retries decided, by the failure that caused them.");
            waits: u64_counter("tower_api_errors.waits", "{wait}",
                "Waits before a request was sent, by source.");
            wait_duration: f64_histogram("tower_api_errors.wait.duration", "s",
                "Duration of each wait before a request was sent, by source.", WAIT_DURATION_BUCKETS);
            budget_refusals: u64_counter("tower_api_errors.budget.refusals", "{retry}",
                "Retries the retry budget refused.");
            failed_fast: u64_counter("tower_api_errors.failed_fast", "{request}",
                "Requests failed without waiting, by reason.");
            auth_refreshes: u64_counter("tower_api_errors.auth.refreshes", "{refresh}",
                "Credential refreshes, by outcome.");
            quota_holds: u64_counter("tower_api_errors.quota.holds", "{request}",
                "Requests a quota gate held before sending.");
            breaker_transitions: u64_counter("tower_api_errors.breaker.transitions", "{transition}",
                "Circuit breaker state changes, by the state entered.");
            hedges: u64_counter("tower_api_errors.hedges", "{request}",
                "Hedged requests sent, won and cancelled.");
        };
        Metrics {
            inner: Arc::new(instruments),
        }
    }

    /// The instruments on the global meter provider
    /// (`opentelemetry::global`), scope `tower-api-errors` with the crate's
    /// version.
    ///
    /// Call it after the application installed its SDK: a [`Meter`] taken
    /// before that stays a no-op one.
    pub fn global() -> Self {
        Metrics::new(&opentelemetry::global::meter_provider().meter_with_scope(scope()))
    }

    /// The instruments on `provider`'s meter for this crate's scope.
    pub fn from_provider(provider: &impl MeterProvider) -> Self {
        Metrics::new(&provider.meter_with_scope(scope()))
    }

    /// Vendor error codes (as [`ApiError::code`](crate::ApiError::code)
    /// gives them, compared exactly) that may appear as the
    /// `tower_api_errors.error.code` attribute. Codes come from response
    /// bodies and are unbounded, so none is recorded unless listed here.
    pub fn error_codes<I, S>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        Arc::make_mut(&mut self.inner).error_codes = codes.into_iter().map(Into::into).collect();
        self
    }

    /// The allowlisted code equal to `code`, shared (no allocation).
    pub(crate) fn allowed_code(&self, code: Option<&str>) -> Option<Arc<str>> {
        let code = code?;
        let mut allowed = self.inner.error_codes.iter();
        allowed.find(|allowed| &***allowed == code).cloned()
    }

    pub(crate) fn call(&self, seconds: f64, attempts: u32, attrs: &[KeyValue]) {
        self.inner.call_duration.record(seconds, attrs);
        self.inner.call_attempts.record(u64::from(attempts), attrs);
    }

    pub(crate) fn wait_for(&self, source: WaitSource, waited: Duration, target: &Target) {
        let mut attrs = Attrs::<4>::new();
        attrs.push(attr::kv(attr::WAIT_SOURCE, source.as_str()));
        target.push_server(&mut attrs);
        let (inner, attrs) = (&self.inner, attrs.as_slice());
        inner.waits.add(1, attrs);
        inner.wait_duration.record(waited.as_secs_f64(), attrs);
    }

    pub(crate) fn fail_fast_for(&self, reason: FailFast, target: &Target) {
        let mut attrs = Attrs::<4>::new();
        attrs.push(attr::kv(attr::FAILED_FAST_REASON, reason.as_str()));
        target.push_request(&mut attrs);
        self.inner.failed_fast.add(1, attrs.as_slice());
    }

    /// Records a wait of `waited` before sending `method uri`, for
    /// `source` (`tower_api_errors.waits` and
    /// `tower_api_errors.wait.duration`).
    pub fn record_wait(&self, source: WaitSource, waited: Duration, method: &Method, uri: &Uri) {
        let target = Target::new((method, uri, &HeaderMap::new()));
        self.wait_for(source, waited, &target);
    }

    /// Records a request failed without waiting, for `reason`
    /// (`tower_api_errors.failed_fast`).
    pub fn record_failed_fast(&self, reason: FailFast, method: &Method, uri: &Uri) {
        self.fail_fast_for(reason, &Target::new((method, uri, &HeaderMap::new())));
    }

    /// Records a credential load from a token source (the first one
    /// included), and whether it succeeded
    /// (`tower_api_errors.auth.refreshes`). A load serves every request
    /// waiting for it, so it has no request attributes.
    pub fn record_auth_refresh(&self, succeeded: bool) {
        let outcome = if succeeded { "success" } else { "failure" };
        let attrs = [attr::kv(attr::AUTH_OUTCOME, outcome)];
        self.inner.auth_refreshes.add(1, &attrs);
    }

    /// Records a request to `uri` held by a quota gate
    /// (`tower_api_errors.quota.holds`). The wait itself is recorded with
    /// [`record_wait`](Self::record_wait) and [`WaitSource::Quota`].
    pub fn record_quota_hold(&self, method: &Method, uri: &Uri) {
        self.quota_hold_for(&Target::new((method, uri, &HeaderMap::new())));
    }

    pub(crate) fn quota_hold_for(&self, target: &Target) {
        let mut attrs = Attrs::<3>::new();
        target.push_request(&mut attrs);
        self.inner.quota_holds.add(1, attrs.as_slice());
    }

    /// `tower_api_errors.breaker.transitions`: a circuit breaker for
    /// `uri`'s server entered `state` (`open`, `half_open`, `closed`);
    /// `fleet` when it learned the opening from the fleet.
    pub(crate) fn breaker_transition(&self, state: &'static str, uri: &Uri, fleet: bool) {
        let mut attrs = Attrs::<4>::new();
        attrs.push(attr::kv(attr::BREAKER_STATE, state));
        if fleet {
            attrs.push(attr::kv(attr::BREAKER_ORIGIN, "fleet"));
        }
        Target::new((&Method::GET, uri, &HeaderMap::new())).push_server(&mut attrs);
        self.inner.breaker_transitions.add(1, attrs.as_slice());
    }

    /// `tower_api_errors.hedges`: a hedge of `method uri` was `event`
    /// (`sent`, `won`, `cancelled`).
    pub(crate) fn hedge(&self, event: &'static str, method: &Method, uri: &Uri) {
        let mut attrs = Attrs::<4>::new();
        attrs.push(attr::kv(attr::HEDGE_EVENT, event));
        Target::new((method, uri, &HeaderMap::new())).push_request(&mut attrs);
        self.inner.hedges.add(1, attrs.as_slice());
    }
}

/// The crate's instrumentation scope: [`SCOPE`], with the crate's version.
fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}
