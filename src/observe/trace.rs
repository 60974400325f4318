//! The `tracing` backend (feature `tracing`): the spans the crate opens,
//! and the events several places emit, with stable names and fields (an
//! event emitted from one place, the observer's, is written there, on
//! [`TARGET`]).
//!
//! Values are statuses, kinds, codes, counts, durations and digests:
//! never headers, never bodies, and URIs only redacted.

use super::call::{method_name, server, Failure};
use crate::redact::RedactedUri;
use crate::{ErrorKind, RetryReport};
use http::{HeaderMap, Method, StatusCode, Uri};
use std::time::Duration;

/// The target of every span and event (the module they were first emitted
/// from; filters written for it keep working).
pub(super) const TARGET: &str = "tower_api_errors::telemetry";

/// `api_request` {method, uri (redacted)}, at INFO.
pub(super) fn request_span((method, uri, headers): (&Method, &Uri, &HeaderMap)) -> tracing::Span {
    // Field values are only computed when the span is enabled.
    tracing::info_span!(
        target: TARGET,
        "api_request",
        method = %method,
        // Redacted while formatting: nothing is built unless a line is
        // written (tracing evaluates fields for its `log` fallback even
        // with no subscriber).
        uri = %RedactedUri(uri),
        // OpenTelemetry's names, for tracing-opentelemetry.
        http.request.method = method_name(method),
        server.address = server(uri, headers).0,
        server.port = server(uri, headers).1,
        url.full = %FullUrl(uri, headers),
    )
}

/// `api_attempt` {otel.kind, otel.name, http.request.method,
/// http.request.method_original (an `_OTHER` method only), server.address,
/// server.port, url.full (redacted), http.request.resend_count (resends
/// only), http.response.status_code and error.type (when known)}, at INFO,
/// a child of the request's span: one per attempt of the retry layer, as
/// OpenTelemetry's HTTP client spans are per request (an auth layer's
/// re-send below is part of its attempt, as in the metrics).
pub(super) fn attempt_span(
    parent: &tracing::Span,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    resends: u32,
) -> tracing::Span {
    let name = method_name(method);
    // OTel's HTTP span conventions: an `_OTHER` method names the span
    // `HTTP`, and the method itself goes on the span (spans only: on a
    // metric it would be unbounded).
    let other = name == "_OTHER";
    tracing::info_span!(
        target: TARGET,
        parent: parent,
        "api_attempt",
        otel.kind = "client",
        otel.name = if other { "HTTP" } else { name },
        http.request.method = name,
        http.request.method_original = other.then(|| method.as_str()),
        server.address = server(uri, headers).0,
        server.port = server(uri, headers).1,
        url.full = %FullUrl(uri, headers),
        http.request.resend_count = (resends > 0).then_some(resends),
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// `url.full`: the URI redacted; an origin-form one (`/path`, as hyper's
/// `client::conn` sends) after `//` and the server its `Host` header names
/// (OpenTelemetry's HTTP client span: `url.full` "SHOULD capture the
/// absolute URL when it [...] can be reconstructed"; the scheme unknown,
/// as in its example `//localhost`). Built only when a line is written.
struct FullUrl<'a>(&'a Uri, &'a HeaderMap);

impl std::fmt::Display for FullUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let authority = crate::scope::authority(self.0, self.1);
        if self.0.authority().is_none() && !authority.is_empty() {
            write!(f, "//{}", String::from_utf8_lossy(authority))?;
        }
        write!(f, "{}", RedactedUri(self.0))
    }
}

/// Records the attempt's outcome on its span (once: a closed attempt's
/// fields are not overwritten by the call's end); an attempt nothing was
/// sent for becomes `otel.kind` `internal`.
pub(super) fn attempt_ended(
    span: &tracing::Span,
    status: Option<StatusCode>,
    failure: Option<Failure<'_>>,
) {
    if let Some(status) = status {
        span.record("http.response.status_code", status.as_u16());
    }
    if let Some(failure) = failure {
        span.record("error.type", failure.kind.label());
        // Nothing was sent: the span (opened before the layers below
        // decided) is no HTTP client span.
        if failure.unsent {
            span.record("otel.kind", "internal");
        }
    }
}

/// `finished` {outcome, attempts, waited_ms, status, kind, stopped}: at
/// DEBUG for a success, WARN for a failure; `end` `None`, the caller
/// dropped the call: outcome `cancelled`, at INFO.
pub(super) fn finished(report: &RetryReport, end: Option<(Option<StatusCode>, Option<ErrorKind>)>) {
    let (status, failure) = end.unwrap_or_default();
    let (attempts, waited_ms) = (report.attempts(), report.waited().as_millis() as u64);
    let status = status.map(|s| s.as_u16());
    let kind = failure.map(ErrorKind::as_str);
    let stopped = failure
        .and(report.stopped())
        .map(|reason| reason.to_string());
    macro_rules! finished {
        ($level:ident, $outcome:literal) => {
            tracing::$level!(
                target: TARGET,
                outcome = $outcome,
                attempts,
                waited_ms,
                status,
                kind,
                stopped,
                "finished"
            )
        };
    }
    match (end, failure) {
        (None, _) => finished!(info, "cancelled"),
        (_, None) => finished!(debug, "success"),
        _ => finished!(warn, "failure"),
    }
}

/// `breaker_opened` or `breaker_fleet_opened` (`name`, `open_for` given)
/// {address, port, open_ms} at WARN; `breaker_half_open` or
/// `breaker_closed` {address, port} at INFO.
pub(super) fn breaker(name: &'static str, uri: &Uri, open_for: Option<Duration>) {
    let headers = HeaderMap::new();
    let (address, port) = server(uri, &headers);
    match open_for.map(|open_for| open_for.as_millis() as u64) {
        Some(open_ms) => tracing::warn!(target: TARGET, address, port, open_ms, "{name}"),
        None => tracing::info!(target: TARGET, address, port, "{name}"),
    }
}
