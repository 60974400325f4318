//! [`Call`]: what the retry layer records of one logical call, in both
//! backends: the request's span and one span per attempt (tracing), the
//! call's and each attempt's metrics (OpenTelemetry).

use super::Observer;
use crate::hints::HintSource;
use crate::{ErrorKind, RetryReport};
use http::{HeaderMap, Method, StatusCode, Uri};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The span of one logical request through the retry layer (without
/// `tracing`, a span is nothing).
#[derive(Debug, Clone)]
pub(crate) struct Span(#[cfg(feature = "tracing")] tracing::Span);

/// The request span a hedged call's attempts share, on each of them (the
/// hedge layer puts it there, empty): the first retry layer below to see
/// one opens it, the others find it, so a hedged call is one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedSpan(Arc<OnceLock<Span>>);

impl Span {
    /// The request's span (`api_request`, at INFO): a hedged call's own
    /// ([`SharedSpan`], taken off the request), else a new one.
    pub(crate) fn request(parts: &mut http::request::Parts, hedged: bool) -> Span {
        let to = (&parts.method, &parts.uri, &parts.headers);
        #[cfg(feature = "tracing")]
        let open = || Span(super::trace::request_span(to));
        #[cfg(not(feature = "tracing"))]
        let open = || Span();
        match hedged.then(|| parts.extensions.remove::<SharedSpan>()) {
            Some(Some(shared)) => shared.0.get_or_init(open).clone(),
            _ => open(),
        }
    }

    /// Enters the span for the duration of a poll (until the guard
    /// returned is dropped).
    pub(crate) fn enter(&self) -> impl Sized + '_ {
        #[cfg(feature = "tracing")]
        return self.0.enter();
    }
}

/// How an attempt or a call failed, as far as spans and metrics go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    pub(crate) kind: ErrorKind,
    /// The vendor's code; recorded by metrics only when allowlisted.
    pub(crate) code: Option<&'a str>,
    /// A quota layer's local refusal (it records its own fail-fast).
    pub(crate) refused: bool,
    /// Nothing was sent (a local refusal, no credential): not an HTTP
    /// request, so no attempt metric, and its span is no client span.
    pub(crate) unsent: bool,
}

impl<'a> Failure<'a> {
    /// A failure of `kind`, with the vendor's `code`, `refused` by a quota
    /// layer, `unsent` (see the fields): the one literal of the three
    /// places that record one.
    pub(crate) fn new(kind: ErrorKind, code: Option<&'a str>, refused: bool, unsent: bool) -> Self {
        Failure {
            kind,
            code,
            refused,
            unsent,
        }
    }
}

/// What the retry layer records of each attempt and call: the
/// per-attempt span (feature `tracing`) and OpenTelemetry metrics (feature
/// `opentelemetry`, when the observer has them). Without either feature it
/// is nothing, and every call compiles away.
#[derive(Debug)]
pub(crate) struct Call {
    #[cfg(feature = "opentelemetry")]
    metrics: super::otel::Call,
    #[cfg(feature = "tracing")]
    attempt: tracing::Span,
    /// An attempt of a hedged call: the hedge layer above records the
    /// call ([`HedgedCall`]), this only the attempt.
    #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
    hedged: bool,
}

impl Call {
    /// The first attempt is about to be sent, in `request`'s span;
    /// `hedged`: it is one of a hedged call's attempts.
    #[inline]
    pub(crate) fn start(
        observer: &Observer,
        request: &Span,
        to: (&Method, &Uri, &HeaderMap),
        hedged: bool,
    ) -> Call {
        Call {
            #[cfg(feature = "opentelemetry")]
            metrics: super::otel::Call::start(observer, to, (true, !hedged)),
            #[cfg(feature = "tracing")]
            attempt: super::trace::attempt_span(&request.0, to, 0),
            #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
            hedged,
        }
    }

    /// Enters the current attempt's span while it is sent or polled.
    #[inline]
    pub(crate) fn enter(&self) -> impl Sized + '_ {
        #[cfg(feature = "tracing")]
        return self.attempt.enter();
    }

    /// Attempt number `attempt` failed and will be retried after `delay`
    /// (`hint`: the server's word it waits on, if any): tracing `retrying`
    /// {attempt, kind, status, delay_ms, hint}, at INFO.
    #[inline]
    pub(crate) fn retrying(
        &mut self,
        attempt: u32,
        status: Option<StatusCode>,
        failure: Failure<'_>,
        delay: Duration,
        hint: Option<HintSource>,
    ) {
        #[cfg(feature = "tracing")]
        {
            super::trace::attempt_ended(&self.attempt, status, Some(failure));
            // (Closed now: its duration is the attempt's, not the wait's.)
            self.attempt = tracing::Span::none();
            tracing::info!(
                target: super::trace::TARGET,
                attempt,
                kind = failure.kind.as_str(),
                status = status.map(|s| s.as_u16()),
                delay_ms = delay.as_millis() as u64,
                hint = hint.map(|h| h.to_string()),
                "retrying"
            );
        }
        #[cfg(feature = "opentelemetry")]
        self.metrics.retrying(status, failure, delay, hint);
    }

    /// Resend number `resends` (1 for the first retry) is about to be sent.
    #[inline]
    pub(crate) fn resend(&mut self, request: &Span, to: (&Method, &Uri, &HeaderMap), resends: u32) {
        #[cfg(feature = "tracing")]
        {
            self.attempt = super::trace::attempt_span(&request.0, to, resends);
        }
        #[cfg(feature = "opentelemetry")]
        self.metrics.resend();
    }

    /// The call was dropped before its end (`in_flight`: during an
    /// attempt; `unsent`, one a layer below held, never sent), after
    /// `report` (its attempts, those sent): the attempt's span, the
    /// call's `finished` event and its metrics say `cancelled`; an attempt
    /// never sent is no HTTP request (its span `internal`).
    pub(crate) fn dropped(&mut self, report: &RetryReport, in_flight: bool, unsent: bool) {
        #[cfg(feature = "tracing")]
        {
            self.attempt
                .record("error.type", in_flight.then_some("cancelled"));
            if unsent {
                self.attempt.record("otel.kind", "internal");
            }
            if !self.hedged {
                super::trace::finished(report, None);
            }
        }
        #[cfg(feature = "opentelemetry")]
        self.metrics.dropped(report.attempts(), unsent);
    }

    /// The call ends with `report`: a success (`failure` is `None`) or a
    /// failure. A hedged call's attempt ends only the attempt: the call
    /// is the hedge layer's to report, once, whichever attempt wins.
    #[inline]
    pub(crate) fn finished(
        &mut self,
        report: &RetryReport,
        status: Option<StatusCode>,
        failure: Option<Failure<'_>>,
    ) {
        #[cfg(feature = "tracing")]
        {
            super::trace::attempt_ended(&self.attempt, status, failure);
            if !self.hedged {
                super::trace::finished(report, Some((status, failure.map(|f| f.kind))));
            }
        }
        #[cfg(feature = "opentelemetry")]
        match self.hedged {
            true => self.metrics.attempt_ended(status, failure),
            false => self.metrics.finished(report, status, failure),
        }
    }
}

/// What the hedge layer records of a hedged call, whose attempts the
/// retry layer below records each: the call's `finished` event and call
/// metrics, once, with the answer the caller gets; in the request span
/// its attempts share ([`SharedSpan`]; taken at the end).
#[derive(Debug)]
pub(crate) struct HedgedCall {
    #[cfg(feature = "opentelemetry")]
    metrics: super::otel::Call,
    // Without `tracing` there is no span to share: nothing is put on the
    // request (an extension is an allocation).
    #[cfg(feature = "tracing")]
    span: Option<SharedSpan>,
}

impl HedgedCall {
    /// The call's first attempt (`parts`, given the shared span) is being
    /// sent.
    pub(crate) fn start(observer: &Observer, parts: &mut http::request::Parts) -> HedgedCall {
        let to = (&parts.method, &parts.uri, &parts.headers);
        #[cfg(feature = "tracing")]
        let span = SharedSpan::default();
        #[cfg(feature = "tracing")]
        parts.extensions.insert(span.clone());
        HedgedCall {
            #[cfg(feature = "opentelemetry")]
            metrics: super::otel::Call::start(observer, to, (false, true)),
            #[cfg(feature = "tracing")]
            span: Some(span),
        }
    }

    /// The call ends with `report` (its attempts, why it stopped), a
    /// success (`failure` is `None`) or a failure; `None`: it was dropped
    /// before its end (`cancelled`), `report.attempts()` sent. Once.
    pub(crate) fn finished(&mut self, report: &RetryReport, end: Option<End<'_>>) {
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span.take() {
            let _entered = span.0.get().map(Span::enter);
            super::trace::finished(report, end.map(|(status, f)| (status, f.map(|f| f.kind))));
        }
        #[cfg(feature = "opentelemetry")]
        match end {
            Some((status, failure)) => self.metrics.finished(report, status, failure),
            None => self.metrics.dropped(report.attempts(), false),
        }
    }
}

/// How a call ended: its status, if any, and its failure, if it failed.
pub(crate) type End<'a> = (Option<StatusCode>, Option<Failure<'a>>);

/// `server.address` and `server.port`, for spans and metrics alike: the
/// host the request names (its URI's, else its `Host` header's, as
/// [`crate::scope::authority`] rules), an IPv6 literal without its
/// brackets, as OpenTelemetry has it; never userinfo, path or query; its
/// port, or its scheme's default.
pub(crate) fn server<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> (Option<&'a str>, Option<u16>) {
    let (host, port) = crate::scope::split_port(crate::scope::authority(uri, headers));
    let host = std::str::from_utf8(host).unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.or_else(|| crate::scope::default_port(uri));
    ((!host.is_empty()).then_some(host), port)
}

/// `http.request.method` (spans and metrics): OpenTelemetry's rule, the
/// known methods by name and any other as `_OTHER` (a custom method is
/// unbounded).
pub(crate) fn method_name(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    let known = KNOWN.into_iter().find(|known| *known == method.as_str());
    known.unwrap_or("_OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spans and metrics give a URI without a port its scheme's: the same
    /// for both (spans gave none to `ws`/`wss` before).
    #[test]
    fn a_uri_without_a_port_has_its_schemes() {
        for (uri, port) in [
            ("https://api.test/v1", Some(443)),
            ("wss://api.test/stream", Some(443)),
            ("http://api.test/v1", Some(80)),
            ("ws://api.test/stream", Some(80)),
            ("ftp://api.test/file", None),
            ("/v1/items", None),
        ] {
            assert_eq!(
                crate::scope::default_port(&uri.parse().unwrap()),
                port,
                "{uri}"
            );
        }
    }

    #[test]
    fn servers_are_the_host_and_port_of_the_uri() {
        for (uri, expected) in [
            ("http://api.test/x", (Some("api.test"), Some(80))),
            ("https://api.test:8443/x", (Some("api.test"), Some(8443))),
            (
                "https://u:p@api.test:8443/x?k=v",
                (Some("api.test"), Some(8443)),
            ),
            ("http://[::1]:8080/", (Some("::1"), Some(8080))),
            ("https://[2001:db8::1]/", (Some("2001:db8::1"), Some(443))),
            ("/relative", (None, None)),
        ] {
            assert_eq!(
                server(&uri.parse().unwrap(), &HeaderMap::new()),
                expected,
                "{uri}"
            );
        }
        // An origin-form URI (hyper's `client::conn`): the `Host` header's
        // server (OpenTelemetry's HTTP client span, `server.address` and
        // `server.port`), never its user-info; an absolute URI's own wins.
        for (uri, host, expected) in [
            ("/x", "api.test:8080", (Some("api.test"), Some(8080))),
            ("/x", "[::1]:8080", (Some("::1"), Some(8080))),
            ("/x", "u:p@api.test", (Some("api.test"), None)),
            ("/x", "", (None, None)),
            (
                "https://api.test/x",
                "other.test:1",
                (Some("api.test"), Some(443)),
            ),
        ] {
            let headers = HeaderMap::from_iter([(http::header::HOST, host.parse().unwrap())]);
            assert_eq!(server(&uri.parse().unwrap(), &headers), expected, "{host}");
        }
    }
}
