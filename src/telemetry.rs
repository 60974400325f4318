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
            ))
        }
        #[cfg(not(feature = "tracing"))]
        {
            Span
        }
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

/// What the retry layer records of each call into OpenTelemetry metrics
/// (feature `opentelemetry`; without it, nothing, and it compiles away).
#[cfg(feature = "opentelemetry")]
pub(crate) use crate::metrics::{Call, Failure};

#[cfg(not(feature = "opentelemetry"))]
pub(crate) use no_metrics::{Call, Failure};

#[cfg(not(feature = "opentelemetry"))]
mod no_metrics {
    use crate::hints::HintSource;
    use crate::{ErrorKind, RetryPolicy, RetryReport};
    use http::{Method, StatusCode, Uri};
    use std::time::Duration;

    /// Nothing to record.
    #[derive(Debug)]
    pub(crate) struct Call;

    /// How an attempt or a call failed.
    #[derive(Debug, Clone, Copy)]
    #[allow(dead_code)]
    pub(crate) struct Failure<'a> {
        pub(crate) kind: ErrorKind,
        pub(crate) code: Option<&'a str>,
    }

    impl Call {
        #[inline(always)]
        pub(crate) fn start(_: &RetryPolicy, _: &Method, _: &Uri) -> Call {
            Call
        }

        #[inline(always)]
        pub(crate) fn retrying(
            &mut self,
            _: Option<StatusCode>,
            _: Failure<'_>,
            _: Duration,
            _: Option<HintSource>,
        ) {
        }

        #[inline(always)]
        pub(crate) fn resend(&mut self) {}

        #[inline(always)]
        pub(crate) fn finished(
            &mut self,
            _: &RetryReport,
            _: Option<StatusCode>,
            _: Option<Failure<'_>>,
        ) {
        }
    }
}
