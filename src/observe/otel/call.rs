//! [`Call`]: what the retry layer records of one logical call.

use super::attributes::{self as attr, Target};
use super::{FailFast, Metrics, WaitSource};
use crate::hints::HintSource;
use crate::observe::Failure;
use crate::{RetryReport, StopReason};
use http::{HeaderMap, Method, StatusCode, Uri};
use opentelemetry::KeyValue;
use std::time::Duration;
use tokio::time::Instant;

/// The recorder of one logical call: nothing (one pointer, no clock read)
/// unless the observer has [`Metrics`].
#[derive(Debug)]
pub(crate) struct Call(Option<Box<State>>);

#[derive(Debug)]
struct State {
    metrics: Metrics,
    target: Target,
    /// The request's attributes (method, host, port), built once, then
    /// each record's own after them: one allocation per call, not per
    /// record.
    attrs: Vec<KeyValue>,
    base: usize,
    started: Instant,
    attempt_started: Instant,
    resends: u32,
    in_flight: bool,
    /// The retry's wait in progress, recorded when the next attempt is
    /// sent or the call dropped.
    wait: Option<Waiting>,
    /// The call is still to be recorded, here (not a hedged call's
    /// attempt's recorder): a call dropped before its end is recorded
    /// when its owner says so ([`Call::dropped`]).
    open: bool,
}

/// Most attributes a call-scoped record carries.
const MOST_ATTRIBUTES: usize = 7;

impl Call {
    /// The first attempt is being sent; what this records: its attempts
    /// (else a hedged call's retry layers below do), the call (else the
    /// hedge layer above does).
    pub(crate) fn start(
        observer: &crate::observe::Observer,
        to: (&Method, &Uri, &HeaderMap),
        (attempts, call): (bool, bool),
    ) -> Call {
        Call(observer.metrics.as_ref().map(|metrics| {
            let now = Instant::now();
            let target = Target::new(to);
            let mut attrs = Vec::with_capacity(MOST_ATTRIBUTES);
            target.extend_request(&mut attrs);
            Box::new(State {
                metrics: metrics.clone(),
                target,
                base: attrs.len(),
                attrs,
                started: now,
                attempt_started: now,
                resends: 0,
                in_flight: attempts,
                wait: None,
                open: call,
            })
        }))
    }

    /// The call was dropped before its end, `attempts` sent (`unsent`:
    /// with an attempt in flight a layer below held, no HTTP request): the
    /// attempt in flight and the call recorded as `cancelled`, unless
    /// ended. Its owner (the retry or hedge layer's future) says so when
    /// it drops.
    pub(crate) fn dropped(&mut self, attempts: u32, unsent: bool) {
        if let Some(state) = self.0.as_deref_mut() {
            state.in_flight &= !unsent;
            state.cancelled(attempts);
        }
    }

    /// The attempt in flight ended, and not the call (one of a hedged
    /// call's attempts).
    pub(crate) fn attempt_ended(
        &mut self,
        status: Option<StatusCode>,
        failure: Option<Failure<'_>>,
    ) {
        if let Some(state) = self.0.as_deref_mut() {
            state.attempt_ended(status, failure, false);
        }
    }

    /// An attempt failed and will be retried after `delay`.
    pub(crate) fn retrying(
        &mut self,
        status: Option<StatusCode>,
        failure: Failure<'_>,
        delay: Duration,
        hint: Option<HintSource>,
    ) {
        let Some(state) = self.0.as_deref_mut() else {
            return;
        };
        state.attempt_ended(status, Some(failure), false);
        state.record(
            |attrs| {
                attrs.push(attr::error_type(failure.kind));
                attrs.extend(status.map(|status| attr::status(status.as_u16())));
            },
            |metrics, attrs| metrics.inner.retries.add(1, attrs),
        );
        let source = match hint {
            None => WaitSource::Backoff,
            Some(HintSource::RateLimitReset) => WaitSource::RateLimit,
            Some(HintSource::Cooldown) => WaitSource::Cooldown,
            Some(_) => WaitSource::RetryAfter,
        };
        let (metrics, target) = (state.metrics.clone(), state.target.clone());
        state.wait = Some(Waiting(metrics, source, target, Instant::now(), delay));
    }

    /// The next attempt is being sent.
    pub(crate) fn resend(&mut self) {
        if let Some(state) = self.0.as_deref_mut() {
            state.wait = None;
            state.attempt_started = Instant::now();
            state.resends += 1;
            state.in_flight = true;
        }
    }

    /// The call ends with `report`: a success (`failure` is `None`) or a
    /// failure.
    pub(crate) fn finished(
        &mut self,
        report: &RetryReport,
        status: Option<StatusCode>,
        failure: Option<Failure<'_>>,
    ) {
        let Some(state) = self.0.as_deref_mut() else {
            return;
        };
        state.open = false;
        // A wait the deadline ended is recorded now.
        state.wait = None;
        let now = state.attempt_ended(status, failure, false);
        let seconds = now.saturating_duration_since(state.started).as_secs_f64();
        state.record(
            |attrs| {
                attrs.extend(status.map(|status| attr::status(status.as_u16())));
                if let Some(failure) = failure {
                    attrs.push(attr::error_type(failure.kind));
                    attrs.extend(report.stopped().map(attr::stop_reason));
                }
            },
            |metrics, attrs| metrics.call(seconds, report.attempts(), attrs),
        );
        let (metrics, target) = (&state.metrics, &state.target);
        match report.stopped() {
            Some(StopReason::BudgetExhausted) => {
                state.record(
                    |attrs| attrs.extend(failure.map(|f| attr::error_type(f.kind))),
                    |metrics, attrs| metrics.inner.budget_refusals.add(1, attrs),
                );
            }
            // A quota refusal stops as `HintTooLong` here, and the quota
            // layer already counted it as `quota`.
            Some(StopReason::HintTooLong) if !failure.is_some_and(|f| f.refused) => {
                metrics.fail_fast_for(FailFast::HintTooLong, target)
            }
            Some(StopReason::Deadline) => metrics.fail_fast_for(FailFast::Deadline, target),
            _ => {}
        }
    }
}

/// A wait before a send (its metrics, source, request, start and
/// planned length), held while it lasts: `tower_api_errors.waits` and
/// `tower_api_errors.wait.duration` are recorded when it is dropped (it
/// ended, or its caller gave up), with the time waited, at most the
/// length planned (a wait over records as planned, whenever its waiter is
/// woken).
#[derive(Debug)]
pub(crate) struct Waiting(Metrics, WaitSource, Target, Instant, Duration);

impl Waiting {
    /// A wait of `max` at most, for `source`, before sending `to` (method, URI, headers).
    pub(crate) fn new(m: &Metrics, source: WaitSource, to: Target, max: Duration) -> Self {
        Waiting(m.clone(), source, to, Instant::now(), max)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let waited = self.3.elapsed().min(self.4);
        self.0.wait_for(self.1, waited, &self.2);
    }
}

impl State {
    /// Records the attempt in flight and the call (if this records it)
    /// as `cancelled`, after `attempts` sent; nothing once they ended.
    fn cancelled(&mut self, attempts: u32) {
        if !self.in_flight && !self.open {
            return;
        }
        let now = self.attempt_ended(None, None, true);
        if std::mem::take(&mut self.open) {
            let seconds = now.saturating_duration_since(self.started).as_secs_f64();
            self.record(
                |attrs| attrs.push(attr::kv(attr::ERROR_TYPE, "cancelled")),
                |metrics, attrs| metrics.call(seconds, attempts, attrs),
            );
        }
    }

    /// Records with the request's attributes, then those `extra` adds.
    fn record(
        &mut self,
        extra: impl FnOnce(&mut Vec<KeyValue>),
        record: impl FnOnce(&Metrics, &[KeyValue]),
    ) {
        self.attrs.truncate(self.base);
        extra(&mut self.attrs);
        record(&self.metrics, &self.attrs);
    }

    /// Records the attempt in flight, if any and sent (`cancelled`: dropped
    /// before its end); returns the clock reading.
    fn attempt_ended(
        &mut self,
        status: Option<StatusCode>,
        failure: Option<Failure<'_>>,
        cancelled: bool,
    ) -> Instant {
        let now = Instant::now();
        // An attempt never sent is no HTTP request (OTel's HTTP client
        // conventions): neither this metric nor the call counts it.
        if !std::mem::take(&mut self.in_flight) || failure.is_some_and(|f| f.unsent) {
            return now;
        }
        let seconds = now
            .saturating_duration_since(self.attempt_started)
            .as_secs_f64();
        let code = failure.and_then(|failure| self.metrics.allowed_code(failure.code));
        let resends = self.resends;
        self.record(
            |attrs| {
                attrs.extend(status.map(|status| attr::status(status.as_u16())));
                let error = failure.map(|f| attr::error_type(f.kind));
                attrs.extend(error.or(cancelled.then(|| attr::kv(attr::ERROR_TYPE, "cancelled"))));
                attrs.extend(code.map(|code| attr::kv(attr::ERROR_CODE, code)));
                attrs.extend(attr::resend_count(resends));
            },
            |metrics, attrs| metrics.inner.attempt_duration.record(seconds, attrs),
        );
        now
    }
}
