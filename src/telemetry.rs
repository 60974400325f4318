//! Every span and event the crate emits, in one place (feature `tracing`;
//! without it, each function here is empty and compiles away).
//!
//! Field names are stable. Values are statuses, kinds, codes, counts and
//! durations: never headers, never bodies, and URIs only redacted.

use crate::classify::Classification;
use crate::hints::HintSource;
use crate::{ApiError, ErrorKind, RetryReport};
use http::{Method, StatusCode, Uri};
use std::time::Duration;

/// The span of one logical request through the retry layer.
#[cfg(feature = "tracing")]
#[derive(Debug, Clone)]
pub(crate) struct Span(tracing::Span);

/// Without `tracing`, a span is nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone)]
pub(crate) struct Span;

impl Span {
    /// `api_request` {method, uri (redacted)}, at INFO.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn request(method: &Method, uri: &Uri) -> Span {
        #[cfg(feature = "tracing")]
        {
            // Field values are only computed when the span is enabled.
            Span(tracing::info_span!(
                "api_request",
                method = %method,
                // Redacted while formatting: nothing is built unless a
                // line is written (tracing evaluates fields for its `log`
                // fallback even with no subscriber).
                uri = %crate::redact::RedactedUri(uri),
                // OpenTelemetry's names, for tracing-opentelemetry.
                http.request.method = method_name(method),
                server.address = uri.host(),
                server.port = server_port(uri),
                url.full = %crate::redact::RedactedUri(uri),
            ))
        }
        #[cfg(not(feature = "tracing"))]
        {
            Span
        }
    }

    /// `api_attempt` {otel.kind, otel.name, http.request.method,
    /// server.address, server.port, url.full (redacted),
    /// http.request.resend_count (resends only), http.response.status_code
    /// and error.type (when known)}, at INFO, a child of this span: one
    /// per physical request, as OpenTelemetry's HTTP client spans are.
    #[cfg(feature = "tracing")]
    fn attempt(&self, method: &Method, uri: &Uri, resends: u32) -> tracing::Span {
        let name = method_name(method);
        tracing::info_span!(
            parent: &self.0,
            "api_attempt",
            otel.kind = "client",
            otel.name = name,
            http.request.method = name,
            server.address = uri.host(),
            server.port = server_port(uri),
            url.full = %crate::redact::RedactedUri(uri),
            http.request.resend_count = (resends > 0).then_some(resends),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }

    /// Enters the span for the duration of a poll.
    pub(crate) fn enter(&self) -> impl Drop + '_ {
        #[cfg(feature = "tracing")]
        {
            self.0.enter()
        }
        #[cfg(not(feature = "tracing"))]
        {
            NoGuard
        }
    }
}

/// The URI's port, or its scheme's default.
#[cfg(feature = "tracing")]
fn server_port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}

#[cfg(not(feature = "tracing"))]
struct NoGuard;

#[cfg(not(feature = "tracing"))]
impl Drop for NoGuard {
    fn drop(&mut self) {}
}

/// `classified` {status, kind, retryable}, at TRACE, for every response
/// the classifier layer stamps.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn classified(status: StatusCode, verdict: &Classification) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        status = status.as_u16(),
        kind = verdict.kind().map_or("success", ErrorKind::as_str),
        retryable = verdict.is_retryable(),
        "classified"
    );
}

/// `api_error` {status, kind, code, retryable, truncated}, at DEBUG, for
/// every failure body the parse layer reads.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn api_error(error: &ApiError) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        status = error.status().as_u16(),
        kind = error.kind().as_str(),
        code = error.code(),
        retryable = error.is_retryable(),
        truncated = error.is_truncated(),
        "api_error"
    );
}

/// `retrying` {attempt, kind, status, delay_ms, hint}, at INFO, before
/// each retry's wait.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn retrying(
    attempt: u32,
    kind: ErrorKind,
    status: Option<StatusCode>,
    delay: Duration,
    hint: Option<HintSource>,
) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        attempt,
        kind = kind.as_str(),
        status = status.map(|s| s.as_u16()),
        delay_ms = delay.as_millis() as u64,
        hint = hint.map(|h| h.to_string()),
        "retrying"
    );
}

/// `finished` {outcome, attempts, waited_ms, status, kind, stopped}: at
/// DEBUG for a success, WARN for a failure.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn finished(
    report: &RetryReport,
    status: Option<StatusCode>,
    failure: Option<ErrorKind>,
) {
    #[cfg(feature = "tracing")]
    {
        let status = status.map(|s| s.as_u16());
        let waited_ms = report.waited().as_millis() as u64;
        let stopped = report.stopped().map(|reason| reason.to_string());
        match failure {
            None => tracing::debug!(
                outcome = "success",
                attempts = report.attempts(),
                waited_ms,
                status,
                "finished"
            ),
            Some(kind) => tracing::warn!(
                outcome = "failure",
                attempts = report.attempts(),
                waited_ms,
                status,
                kind = kind.as_str(),
                stopped,
                "finished"
            ),
        }
    }
}

/// How an attempt or a call failed, as far as spans and metrics go.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
pub(crate) struct Failure<'a> {
    pub(crate) kind: ErrorKind,
    /// The vendor's code; recorded by metrics only when allowlisted.
    pub(crate) code: Option<&'a str>,
    /// A quota layer's local refusal (it records its own fail-fast).
    pub(crate) refused: bool,
}

/// The metrics a call is recorded into (feature `opentelemetry`; nothing
/// without it).
#[cfg(feature = "opentelemetry")]
pub(crate) type Metrics = crate::metrics::Metrics;
/// The metrics a call is recorded into (feature `opentelemetry`; nothing
/// without it).
#[cfg(not(feature = "opentelemetry"))]
pub(crate) type Metrics = ();

/// What the retry layer records of each attempt and call: the
/// per-attempt span (feature `tracing`) and OpenTelemetry metrics (feature
/// `opentelemetry`, when the policy has them). Without either feature it
/// is nothing, and every call compiles away.
#[derive(Debug)]
pub(crate) struct Call {
    #[cfg(feature = "opentelemetry")]
    metrics: crate::metrics::Call,
    #[cfg(feature = "tracing")]
    attempt: tracing::Span,
}

// Each feature uses some of the arguments.
#[cfg_attr(
    not(all(feature = "tracing", feature = "opentelemetry")),
    allow(unused_variables)
)]
impl Call {
    /// The first attempt is about to be sent, in `request`'s span.
    #[inline]
    pub(crate) fn start(
        metrics: Option<&Metrics>,
        request: &Span,
        method: &Method,
        uri: &Uri,
    ) -> Call {
        Call {
            #[cfg(feature = "opentelemetry")]
            metrics: crate::metrics::Call::start(metrics, method, uri),
            #[cfg(feature = "tracing")]
            attempt: request.attempt(method, uri, 0),
        }
    }

    /// Enters the current attempt's span while it is sent or polled.
    #[inline]
    pub(crate) fn enter(&self) -> impl Drop + '_ {
        #[cfg(feature = "tracing")]
        {
            self.attempt.enter()
        }
        #[cfg(not(feature = "tracing"))]
        {
            NoGuard
        }
    }

    /// An attempt failed and will be retried after `delay`.
    #[inline]
    pub(crate) fn retrying(
        &mut self,
        status: Option<StatusCode>,
        failure: Failure<'_>,
        delay: Duration,
        hint: Option<HintSource>,
    ) {
        #[cfg(feature = "tracing")]
        attempt_ended(&self.attempt, status, Some(failure));
        #[cfg(feature = "opentelemetry")]
        self.metrics.retrying(status, failure, delay, hint);
    }

    /// Resend number `resends` (1 for the first retry) is about to be sent.
    #[inline]
    pub(crate) fn resend(&mut self, request: &Span, method: &Method, uri: &Uri, resends: u32) {
        #[cfg(feature = "tracing")]
        {
            self.attempt = request.attempt(method, uri, resends);
        }
        #[cfg(feature = "opentelemetry")]
        self.metrics.resend();
    }

    /// The call ends with `report`: a success (`failure` is `None`) or a
    /// failure.
    #[inline]
    pub(crate) fn finished(
        &mut self,
        report: &RetryReport,
        status: Option<StatusCode>,
        failure: Option<Failure<'_>>,
    ) {
        #[cfg(feature = "tracing")]
        attempt_ended(&self.attempt, status, failure);
        #[cfg(feature = "opentelemetry")]
        self.metrics.finished(report, status, failure);
    }
}

/// Records the attempt's outcome on its span (once: a closed attempt's
/// fields are not overwritten by the call's end).
#[cfg(feature = "tracing")]
fn attempt_ended(span: &tracing::Span, status: Option<StatusCode>, failure: Option<Failure<'_>>) {
    if let Some(status) = status {
        span.record("http.response.status_code", status.as_u16());
    }
    if let Some(failure) = failure {
        span.record("error.type", error_type(failure.kind));
    }
}

/// `error.type` (spans and metrics) for a failure of `kind`: the kind in
/// snake case.
#[cfg_attr(
    not(any(feature = "tracing", feature = "opentelemetry")),
    allow(dead_code)
)]
pub(crate) fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadRequest => "bad_request",
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::PaymentRequired => "payment_required",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Validation => "validation",
        ErrorKind::UpgradeRequired => "upgrade_required",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Server => "server_error",
        ErrorKind::BadGateway => "bad_gateway",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Transport => "transport",
        ErrorKind::Other => "other",
    }
}

/// `http.request.method` (spans and metrics): OpenTelemetry's rule, the
/// known methods by name and any other as `_OTHER` (a custom method is
/// unbounded).
#[cfg_attr(
    not(any(feature = "tracing", feature = "opentelemetry")),
    allow(dead_code)
)]
pub(crate) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// `quota_held` {scope, delay_ms, reason}, at DEBUG: the quota layer holds
/// a request (pacing, a spent window, a cooldown). The scope is a digest.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn quota_held(scope: crate::quota::ScopeKey, delay: Duration, reason: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        scope = %scope,
        delay_ms = delay.as_millis() as u64,
        reason,
        "quota_held"
    );
}

/// `quota_refused` {scope, retry_after_ms}, at WARN: refused without sending.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn quota_refused(scope: crate::quota::ScopeKey, retry_after: Duration) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        scope = %scope,
        retry_after_ms = retry_after.as_millis() as u64,
        "quota_refused"
    );
}

/// `quota_store_local` {error}, at WARN, once per outage: the shared store
/// failed (down, slow, garbage) and learned quotas are kept locally.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn quota_store_local(error: &dyn std::fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(error = %error, "quota_store_local");
}

/// `quota_store_shared`, at INFO, once when the shared store answers again.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn quota_store_shared() {
    #[cfg(feature = "tracing")]
    tracing::info!("quota_store_shared");
}

/// `credential_rejected` {status, renewal}, at INFO, when the auth layer
/// renews a rejected credential (`refresh`: a refresh started or joined;
/// `already_renewed`: a newer one was current).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn auth_rejected(status: StatusCode, renewal: crate::auth::Renewal) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        status = status.as_u16(),
        renewal = match renewal {
            crate::auth::Renewal::Refreshed => "refresh",
            crate::auth::Renewal::AlreadyRenewed => "already_renewed",
        },
        "credential_rejected"
    );
}

/// `credential_installed` {generation}, at INFO, when the auth layer's
/// token source gave a new credential. Never the credential.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn auth_credential_installed(generation: u64) {
    #[cfg(feature = "tracing")]
    tracing::info!(generation, "credential_installed");
}

/// `credential_refresh_failed` {reason}, at WARN, when a load of the auth
/// layer's token source failed. Never the source's error text.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn auth_refresh_failed(reason: crate::auth::AuthFailure) {
    #[cfg(feature = "tracing")]
    tracing::warn!(reason = %reason, "credential_refresh_failed");
}

/// `unauthorized` {reason}, at WARN, for each request the auth layer ends.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn auth_failed(reason: crate::auth::AuthFailure) {
    #[cfg(feature = "tracing")]
    tracing::warn!(reason = %reason, "unauthorized");
}
