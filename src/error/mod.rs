//! The typed errors: [`ApiError`] (the server answered with a failure),
//! [`TransportError`] (no usable answer), the layers' own refusals
//! ([`RateLimited`], [`Unauthorized`], [`CircuitOpen`]), and [`Error`], which is one of them.
//!
//! This module sits below every layer and imports none: the layers build
//! these values, the caller matches on them.

mod auth;
mod circuit;
mod rate_limited;

use crate::hints::{HintSource, RateLimitInfo, RateLimitPolicy, RetryHint};
use crate::redact::RequestContext;
use crate::ErrorKind;
pub use auth::{AuthFailure, AuthReport, Renewal, Unauthorized};
pub(crate) use auth::{Failure, SharedSource};
pub use circuit::CircuitOpen;
use http::StatusCode;
pub use rate_limited::{RateLimited, ScopeKey};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A boxed error, as tower uses for inner services' errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One field that failed validation.
///
/// Stored as one string (the field's name, then the message) and the
/// name's length: 24 bytes plus the text, so that a kept error with a
/// hundred field errors stays small.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldError {
    text: Box<str>,
    field_len: usize,
}

impl FieldError {
    /// A field error: the field's name (or path) and what is wrong with it.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError::from_parts(&field.into(), &message.into())
    }

    /// [`new`](Self::new) from borrowed parts: one allocation of exactly
    /// the text's size (growing the field's string by the message, then
    /// shrinking it to a box, could cost two more).
    pub(crate) fn from_parts(field: &str, message: &str) -> Self {
        let mut text = String::with_capacity(field.len() + message.len());
        text.push_str(field);
        text.push_str(message);
        FieldError {
            text: text.into_boxed_str(),
            field_len: field.len(),
        }
    }

    /// The field's name or path (`"email"`, `"data.attributes.name"`).
    pub fn field(&self) -> &str {
        &self.text[..self.field_len]
    }

    /// What is wrong with the field.
    pub fn message(&self) -> &str {
        &self.text[self.field_len..]
    }

    /// Bytes this field error holds, its own size included.
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.text.len()
    }
}

impl fmt::Debug for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldError")
            .field("field", &self.field())
            .field("message", &self.message())
            .finish()
    }
}

impl FieldError {
    fn scrub(&mut self, scrubber: &crate::redact::Scrubber<'_>) {
        let field = scrubber.scrub(self.field());
        let message = scrubber.scrub(self.message());
        if matches!(field, Cow::Owned(_)) || matches!(message, Cow::Owned(_)) {
            *self = FieldError::new(field.into_owned(), message.into_owned());
        }
    }
}

/// The kept JSON text with echoed secrets replaced, or `None` when there
/// were none. Without escapes in the text, the raw text is scrubbed (what a
/// string holds is then what the text shows), and kept if it still parses;
/// otherwise the value is parsed, scrubbed and written out again.
fn scrub_json_text(text: &[u8], scrubber: &crate::redact::Scrubber<'_>) -> Option<Box<[u8]>> {
    let raw = std::str::from_utf8(text).ok()?;
    if !raw.contains('\\') {
        match scrubber.scrub(raw) {
            Cow::Borrowed(_) => return None,
            Cow::Owned(scrubbed) => {
                if serde_json::from_str::<serde::de::IgnoredAny>(&scrubbed).is_ok() {
                    return Some(scrubbed.into_bytes().into_boxed_slice());
                }
            }
        }
    }
    let mut value: Value = serde_json::from_str(raw).ok()?;
    scrub_value(&mut value, scrubber);
    serde_json::to_vec(&value).ok().map(Vec::into_boxed_slice)
}

/// Scrubs every string of a JSON value, keys included, in place.
fn scrub_value(value: &mut Value, scrubber: &crate::redact::Scrubber<'_>) {
    match value {
        Value::String(text) => {
            if let Cow::Owned(scrubbed) = scrubber.scrub(text) {
                *text = scrubbed;
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| scrub_value(item, scrubber)),
        Value::Object(map) => {
            let scrubbed_keys = map
                .keys()
                .any(|key| matches!(scrubber.scrub(key), Cow::Owned(_)));
            if scrubbed_keys {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    scrub_value(&mut item, scrubber);
                    map.insert(scrubber.scrub(&key).into_owned(), item);
                }
            } else {
                map.values_mut()
                    .for_each(|item| scrub_value(item, scrubber));
            }
        }
        _ => {}
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.message())
    }
}

/// Why the retry layer stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The failure is not one a retry can fix (a 4xx other than 408/429, a
    /// 501, a server's `x-should-retry: false`).
    NotRetryable,
    /// The request is not idempotent (a POST or PATCH without an
    /// `Idempotency-Key`) and may have reached the server.
    NotIdempotent,
    /// The policy's `retry_if` said no.
    ForbiddenByPolicy,
    /// The request body outgrew the replay cap, so it cannot be sent again.
    BodyNotReplayable,
    /// `max_attempts` were made.
    MaxAttempts,
    /// The server asked to wait longer than `max_retry_after`: the caller
    /// decides (the hint is on the error).
    HintTooLong,
    /// The next wait would end past the deadline, or the deadline passed
    /// during an attempt.
    Deadline,
    /// The retry budget shared by the service's clones is spent.
    BudgetExhausted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::NotRetryable => "not retryable",
            StopReason::NotIdempotent => "request not idempotent",
            StopReason::ForbiddenByPolicy => "policy said no",
            StopReason::BodyNotReplayable => "request body too large to replay",
            StopReason::MaxAttempts => "attempts exhausted",
            StopReason::HintTooLong => "server asked to wait longer than max_retry_after",
            StopReason::Deadline => "deadline",
            StopReason::BudgetExhausted => "retry budget exhausted",
        })
    }
}

/// How retries went for the request an error or response belongs to.
///
/// The retry layer puts it on every error it returns, and into the
/// extensions of a response that needed more than one attempt or that it
/// gave up on. Without a retry layer it is one attempt and no wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryReport {
    attempts: u32,
    waited: Duration,
    stopped: Option<StopReason>,
}

impl RetryReport {
    /// A report of `attempts` (the first included) and `waited` in total
    /// between them.
    pub fn new(attempts: u32, waited: Duration) -> Self {
        RetryReport {
            attempts,
            waited,
            stopped: None,
        }
    }

    /// Records why retrying stopped.
    pub fn with_stop(mut self, reason: Option<StopReason>) -> Self {
        self.stopped = reason;
        self
    }

    /// Attempts made, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time spent waiting between attempts.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Why the retry layer stopped, for an outcome that is a failure.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// Why the retry layer gave up, when that is news: every reason but
    /// [`StopReason::NotRetryable`], which is the ordinary fate of a 404
    /// and not worth mentioning. What error messages print.
    pub fn gave_up(&self) -> Option<StopReason> {
        self.stopped
            .filter(|reason| *reason != StopReason::NotRetryable)
    }
}

impl Default for RetryReport {
    fn default() -> Self {
        RetryReport::new(1, Duration::ZERO)
    }
}

/// A failure response from an API, typed.
///
/// Built by [`parse_error`](crate::parse_error) (and so by the
/// [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer)) from the status, the
/// headers and the body, whatever the vendor's error dialect.
///
/// Its `Display` is one line: kind, status, message, code, hint and the
/// request (method and redacted URI). No header is ever recorded, so no
/// credential can appear in it.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::{parse_error, ErrorKind};
///
/// let body = br#"{"error": {"code": 429, "message": "Rate limited", "retry_after": 1.5}}"#;
/// let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
/// assert_eq!(error.kind(), ErrorKind::RateLimited);
/// assert_eq!(error.code(), Some("429"));
/// assert_eq!(error.message(), "Rate limited");
/// assert_eq!(error.retry_after(), Some(std::time::Duration::from_millis(1500)));
/// assert!(error.is_retryable());
/// assert_eq!(error.to_string(), "rate limited (429 Too Many Requests): Rate limited [code 429; retry after 1.5s]");
/// ```
#[derive(Clone)]
pub struct ApiError {
    inner: Box<ApiErrorInner>,
}

// No Debug derive: ApiError's own Debug decides what is shown.
#[derive(Clone)]
struct ApiErrorInner {
    status: StatusCode,
    kind: ErrorKind,
    retryable: bool,
    server_verdict: Option<bool>,
    code: Option<String>,
    message: Cow<'static, str>,
    field_errors: Vec<FieldError>,
    hint: Option<RetryHint>,
    rate_limit: Option<RateLimitInfo>,
    policies: Vec<RateLimitPolicy>,
    details: Option<Arc<LazyJson>>,
    request_id: Option<Box<str>>,
    truncated: bool,
    body_error: Option<std::sync::Arc<BoxError>>,
    request: Option<RequestContext>,
    retries: RetryReport,
    auth: Option<AuthReport>,
}

/// A failure body's JSON text, kept as the bounded bytes that were read and
/// parsed only when [`ApiError::details`] is first called.
///
/// Why not keep the parsed `Value`: a 64 KiB body of small objects parses
/// into ~5.5 MiB of maps and strings, and errors are often kept (queues,
/// logs, retries across jobs). The text costs what was read.
struct LazyJson {
    // A plain box: the text is shared through the `Arc` around it, so a
    // reference-counted `Bytes` would only add its vtable to every drop.
    text: Box<[u8]>,
    parsed: OnceLock<Value>,
}

impl LazyJson {
    fn value(&self) -> &Value {
        // The text parsed once already (that is why it was kept); should
        // it not, `Null` is the answer rather than a panic.
        self.parsed
            .get_or_init(|| serde_json::from_slice(&self.text).unwrap_or(Value::Null))
    }
}

/// The parts of an [`ApiError`], as the parser assembles them.
#[derive(Debug)]
pub(crate) struct ApiErrorParts {
    pub(crate) status: StatusCode,
    pub(crate) kind: ErrorKind,
    pub(crate) retryable: bool,
    pub(crate) server_verdict: Option<bool>,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) field_errors: Vec<FieldError>,
    pub(crate) hint: Option<RetryHint>,
    pub(crate) rate_limit: Option<RateLimitInfo>,
    pub(crate) policies: Vec<RateLimitPolicy>,
    /// The body's JSON text (UTF-8), when it parsed as JSON.
    pub(crate) details: Option<Box<[u8]>>,
    /// The upstream's request id, from the allowlisted headers.
    pub(crate) request_id: Option<Box<str>>,
}

impl ApiError {
    pub(crate) fn from_parts(parts: ApiErrorParts) -> Self {
        let message = match parts.message {
            // Not all whitespace (what `trim().is_empty()` asks, without
            // walking back from the end: the first character decides).
            Some(message) if !message.chars().all(char::is_whitespace) => Cow::Owned(message),
            _ => Cow::Borrowed(parts.status.canonical_reason().unwrap_or("Unknown Status")),
        };
        ApiError {
            inner: Box::new(ApiErrorInner {
                status: parts.status,
                kind: parts.kind,
                retryable: parts.retryable,
                server_verdict: parts.server_verdict,
                code: parts.code,
                message,
                field_errors: parts.field_errors,
                hint: parts.hint,
                rate_limit: parts.rate_limit,
                policies: parts.policies,
                request_id: parts.request_id,
                details: parts.details.map(|text| {
                    Arc::new(LazyJson {
                        text,
                        parsed: OnceLock::new(),
                    })
                }),
                truncated: false,
                body_error: None,
                request: None,
                retries: RetryReport::default(),
                auth: None,
            }),
        }
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// What sort of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The vendor's error code, as a string: `"validation_failed"`,
    /// `"VERSION_OUTDATED"`, `"404"` (numeric codes are stringified),
    /// `"Unauthorized"`.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// The human-readable message. Never empty: when the body has none, the
    /// status's canonical reason (`"Service Unavailable"`).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Fields that failed validation, in the order the body lists them.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.inner.field_errors
    }

    /// How long the server asked to wait before retrying.
    ///
    /// Header hints win over the body's: `retry-after-ms`, `Retry-After`,
    /// `grpc-retry-pushback-ms`, then a body field such as `retry_after`,
    /// then the reset of an exhausted rate-limit window. See
    /// [`retry_hint`](Self::retry_hint) for where it came from.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.hint.map(|hint| hint.delay())
    }

    /// The retry hint with its source.
    pub fn retry_hint(&self) -> Option<RetryHint> {
        self.inner.hint
    }

    /// The server's rate-limit state, from whichever rate-limit headers it sent.
    pub fn rate_limit(&self) -> Option<&RateLimitInfo> {
        self.inner.rate_limit.as_ref()
    }

    /// Every rate-limit window the server announced on this response (its
    /// binding one is [`rate_limit`](Self::rate_limit)), read once with
    /// the rest of its headers: what a quota layer learns from a failure
    /// without parsing the headers again. Empty when it announced none.
    pub fn policies(&self) -> &[RateLimitPolicy] {
        &self.inner.policies
    }

    /// The parsed JSON body, for anything the typed accessors do not cover
    /// (`min_version` and `update_url` of a 426, a vendor's `request_id`).
    ///
    /// The error keeps the body's JSON *text* (at most the bytes read) and
    /// parses it on the first call, then keeps the parsed value: a kept
    /// error stays within about twice the body read until then. Clones
    /// share both. [`details_json`](Self::details_json) gives the text
    /// without parsing.
    pub fn details(&self) -> Option<&Value> {
        self.inner.details.as_deref().map(LazyJson::value)
    }

    /// The body's JSON text (UTF-8, a declared charset already decoded),
    /// when the body was JSON; never parses.
    pub fn details_json(&self) -> Option<&str> {
        let text = &self.inner.details.as_deref()?.text;
        std::str::from_utf8(text).ok()
    }

    /// The upstream's id for this request, as its support desk asks for
    /// it, from the first of these response headers present: `request-id`
    /// (Stripe, Anthropic), `x-request-id` (OpenAI and most others),
    /// `x-github-request-id`, `x-amzn-requestid`, `x-amzn-request-id`,
    /// `x-amz-request-id`, `apigw-requestid` (AWS), `x-ms-request-id`
    /// (Azure), `x-goog-request-id`, `cf-ray` (Cloudflare),
    /// `x-correlation-id`. No other header is ever recorded; a value longer
    /// than 128 bytes or with other than visible ASCII is ignored.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }

    /// The server's explicit retry verdict (`x-should-retry`,
    /// `Stripe-Should-Retry`), when it sent one.
    pub fn server_verdict(&self) -> Option<bool> {
        self.inner.server_verdict
    }

    /// True when the body was not read to its end: it outgrew the cap,
    /// failed mid-stream or stalled. The fields come from what was read.
    pub fn is_truncated(&self) -> bool {
        self.inner.truncated
    }

    /// The request that failed: method and redacted URI, when a layer
    /// recorded it.
    pub fn request(&self) -> Option<&RequestContext> {
        self.inner.request.as_ref()
    }

    /// Attempts made (the first included) and time waited between them.
    pub fn retries(&self) -> RetryReport {
        self.inner.retries
    }

    /// Shorthand for `self.retries().attempts()`.
    pub fn attempts(&self) -> u32 {
        self.inner.retries.attempts()
    }

    /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when this error
    /// answered a request it sent again with a renewed credential.
    pub fn auth_report(&self) -> Option<AuthReport> {
        self.inner.auth
    }

    /// True for [`ErrorKind::RateLimited`].
    pub fn is_rate_limited(&self) -> bool {
        self.inner.kind == ErrorKind::RateLimited
    }

    /// True for [`ErrorKind::Unauthorized`] and [`ErrorKind::Forbidden`].
    pub fn is_auth(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Unauthorized | ErrorKind::Forbidden
        )
    }

    /// True for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }

    pub(crate) fn set_truncated(&mut self, cause: Option<BoxError>) {
        self.inner.truncated = true;
        if let Some(cause) = cause {
            self.inner.body_error = Some(std::sync::Arc::new(cause));
        }
    }

    pub(crate) fn set_request(&mut self, request: Option<RequestContext>) {
        self.inner.request = request;
    }

    pub(crate) fn set_retries(&mut self, retries: RetryReport) {
        self.inner.retries = retries;
    }

    pub(crate) fn set_auth_report(&mut self, report: AuthReport) {
        self.inner.auth = Some(report);
    }

    /// Replaces echoed secrets in everything the body gave: message, code,
    /// field errors and details.
    pub(crate) fn scrub(&mut self, scrubber: &crate::redact::Scrubber<'_>) {
        let inner = &mut *self.inner;
        if let Cow::Owned(text) = scrubber.scrub(&inner.message) {
            inner.message = Cow::Owned(text);
        }
        if let Some(code) = &mut inner.code {
            if let Cow::Owned(text) = scrubber.scrub(code) {
                *code = text;
            }
        }
        for field in &mut inner.field_errors {
            field.scrub(scrubber);
        }
        if let Some(details) = &mut inner.details {
            if let Some(text) = scrub_json_text(&details.text, scrubber) {
                *details = Arc::new(LazyJson {
                    text,
                    parsed: OnceLock::new(),
                });
            }
        }
    }

    /// Adds a body hint where the headers gave none.
    pub(crate) fn merge_body_hint(&mut self, delay: Option<Duration>) {
        if self.inner.hint.is_none() {
            self.inner.hint = delay.map(|delay| RetryHint::new(delay, HintSource::Body));
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        write!(f, "{} ({}): {}", inner.kind, inner.status, inner.message)?;
        let mut notes = Vec::new();
        if let Some(code) = &inner.code {
            notes.push(format!("code {code}"));
        }
        if let Some(id) = &inner.request_id {
            notes.push(format!("request id {id}"));
        }
        if !inner.field_errors.is_empty() {
            let fields: Vec<&str> = inner.field_errors.iter().map(FieldError::field).collect();
            notes.push(format!("fields {}", fields.join(", ")));
        }
        if let Some(hint) = inner.hint {
            notes.push(format!("retry after {:?}", hint.delay()));
        }
        if inner.retries.attempts() > 1 {
            notes.push(format!("after {} attempts", inner.retries.attempts()));
        }
        if let Some(reason) = inner.retries.gave_up() {
            notes.push(format!("gave up: {reason}"));
        }
        if inner.auth.is_some_and(|auth| auth.resent()) {
            notes.push("sent again with a renewed credential".to_owned());
        }
        if inner.truncated {
            notes.push("body truncated".to_owned());
        }
        if !notes.is_empty() {
            write!(f, " [{}]", notes.join("; "))?;
        }
        if let Some(request) = &inner.request {
            write!(f, " ({request})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ApiError")
            .field("status", &inner.status)
            .field("kind", &inner.kind)
            .field("code", &inner.code)
            .field("message", &inner.message)
            .field("field_errors", &inner.field_errors)
            .field("retry_hint", &inner.hint)
            .field("rate_limit", &inner.rate_limit)
            .field("retryable", &inner.retryable)
            .field("truncated", &inner.truncated)
            .field("request", &inner.request)
            .field("retries", &inner.retries)
            .field("request_id", &inner.request_id)
            .field("auth", &inner.auth)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .body_error
            .as_deref()
            .map(|error| &**error as &(dyn std::error::Error + 'static))
    }
}

/// No usable response: the connection failed, the inner service errored, or
/// the request could not be sent again.
///
/// `source()` is the inner service's error, unchanged.
pub struct TransportError {
    source: BoxError,
    request: Option<RequestContext>,
    retries: RetryReport,
    auth: Option<AuthReport>,
}

impl TransportError {
    /// Wraps an inner service's error.
    pub fn new(source: impl Into<BoxError>) -> Self {
        TransportError {
            source: source.into(),
            request: None,
            retries: RetryReport::default(),
            auth: None,
        }
    }

    /// True when the error says the connection was never made, so the
    /// request cannot have reached the server: an `io::Error` of kind
    /// `ConnectionRefused`, `AddrNotAvailable` or `NotConnected` anywhere in
    /// the source chain, or hyper-util's connect error.
    pub fn is_connect(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&*self.source);
        while let Some(error) = next {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::AddrNotAvailable
                        | std::io::ErrorKind::NotConnected
                ) {
                    return true;
                }
            }
            #[cfg(feature = "hyper-util")]
            if let Some(client) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
                if client.is_connect() {
                    return true;
                }
            }
            // Without the `hyper-util` feature, hyper-util's legacy client
            // is recognised by its text: "client error (Connect)".
            #[cfg(not(feature = "hyper-util"))]
            if error.to_string().contains("(Connect)") {
                return true;
            }
            next = error.source();
        }
        false
    }

    /// An attempt cut short by the retry layer's deadline.
    pub(crate) fn deadline_elapsed() -> Self {
        TransportError::new(DeadlineElapsed)
    }

    /// True when a time limit cut the attempt: the retry layer's deadline,
    /// or an outer `tower::timeout::Timeout` / `tokio::time::timeout` whose
    /// error reached us through [`Error::from_boxed`].
    pub fn is_deadline(&self) -> bool {
        self.source.is::<DeadlineElapsed>()
            || self.source.is::<tower::timeout::error::Elapsed>()
            || self.source.is::<tokio::time::error::Elapsed>()
    }

    /// The request that failed, when a layer recorded it.
    pub fn request(&self) -> Option<&RequestContext> {
        self.request.as_ref()
    }

    /// Attempts made and time waited between them.
    pub fn retries(&self) -> RetryReport {
        self.retries
    }

    /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when this error
    /// answered a request it sent again with a renewed credential.
    pub fn auth_report(&self) -> Option<AuthReport> {
        self.auth
    }

    /// The inner service's error.
    pub fn into_source(self) -> BoxError {
        self.source
    }

    pub(crate) fn set_request(&mut self, request: Option<RequestContext>) {
        self.request = request;
    }

    pub(crate) fn set_retries(&mut self, retries: RetryReport) {
        self.retries = retries;
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport error: {}", self.source)?;
        // The causes below, down to the root ("client error (Connect)" says
        // little; "tcp connect error: Connection refused" says what
        // happened). A cause whose text its parent already printed is
        // skipped; the chain is bounded.
        let mut printed = self.source.to_string();
        let mut next = self.source.source();
        for _ in 0..MAX_CAUSES {
            let Some(cause) = next else { break };
            let text = cause.to_string();
            if !text.is_empty() && !printed.contains(&text) {
                write!(f, ": {text}")?;
            }
            printed = text;
            next = cause.source();
        }
        write_outcome(f, self.retries, self.request.as_ref())
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("source", &self.source)
            .field("request", &self.request)
            .field("retries", &self.retries)
            .field("auth", &self.auth)
            .finish()
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The response headers an upstream's request id is read from, in order.
/// The rank of a request id header, most specific first (a `match` on the
/// name: one comparison of lengths, then at most one of bytes).
fn request_id_rank(name: &str) -> Option<usize> {
    Some(match name {
        "request-id" => 0,
        "x-request-id" => 1,
        "x-github-request-id" => 2,
        "x-amzn-requestid" => 3,
        "x-amzn-request-id" => 4,
        "x-amz-request-id" => 5,
        "apigw-requestid" => 6,
        "x-ms-request-id" => 7,
        "x-goog-request-id" => 8,
        "cf-ray" => 9,
        "x-correlation-id" => 10,
        _ => return None,
    })
}

/// The longest request id kept.
const MAX_REQUEST_ID: usize = 128;

/// The upstream's request id (see [`ApiError::request_id`]): one pass over
/// the headers (not a hashed lookup per candidate name), the most specific
/// name's first valid value winning.
pub(crate) fn request_id(headers: &http::HeaderMap) -> Option<Box<str>> {
    let mut best: Option<(usize, &[u8])> = None;
    for (name, value) in headers {
        let Some(rank) = request_id_rank(name.as_str()) else {
            continue;
        };
        if best.is_some_and(|(best, _)| best <= rank) {
            continue;
        }
        let value = value.as_bytes();
        let ok = !value.is_empty() && value.len() <= MAX_REQUEST_ID && is_graphic(value);
        if ok {
            best = Some((rank, value));
        }
    }
    // Visible ASCII only (checked above): valid UTF-8 as it is.
    best.and_then(|(_, value)| std::str::from_utf8(value).ok().map(Box::from))
}

/// Whether every byte is graphic ASCII (`!` to `~`), eight at a time: a
/// request id is checked on every failure.
fn is_graphic(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let words_graphic = words
        .by_ref()
        .all(|word| !crate::words::any_outside(crate::words::word(word), 0x21, 0x7e));
    words_graphic && words.remainder().iter().all(u8::is_ascii_graphic)
}

/// The end of a transport or auth error's one-line `Display`: the attempts
/// and why the retry layer gave up, when that is news, then the request.
pub(crate) fn write_outcome(
    f: &mut fmt::Formatter<'_>,
    retries: RetryReport,
    request: Option<&RequestContext>,
) -> fmt::Result {
    match (retries.attempts(), retries.gave_up()) {
        (1, None) => {}
        (attempts, None) => write!(f, " [after {attempts} attempts]")?,
        (attempts, Some(reason)) => write!(f, " [after {attempts} attempts; gave up: {reason}]")?,
    }
    if let Some(request) = request {
        write!(f, " ({request})")?;
    }
    Ok(())
}

/// Causes printed by a [`TransportError`]'s `Display`, at most.
const MAX_CAUSES: usize = 8;

/// The retry layer's deadline passed while an attempt was in flight.
#[derive(Debug)]
struct DeadlineElapsed;

impl fmt::Display for DeadlineElapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("retry deadline elapsed during the attempt")
    }
}

impl std::error::Error for DeadlineElapsed {}

/// The error of the parse and retry layers: the server's typed failure, or
/// a transport failure. Match on it; no downcasting needed.
///
/// ```
/// use tower_api_errors::{Error, ErrorKind};
///
/// fn describe(error: &Error) -> String {
///     match error {
///         Error::Api(api) if api.is_rate_limited() => format!("slow down: {:?}", api.retry_after()),
///         Error::Api(api) => format!("{}: {}", api.status(), api.message()),
///         Error::Transport(transport) => format!("network: {transport}"),
///         _ => error.to_string(),
///     }
/// }
/// let error = Error::from(tower_api_errors::TransportError::new("connection reset"));
/// assert_eq!(error.kind(), ErrorKind::Transport);
/// assert_eq!(describe(&error), "network: transport error: connection reset");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a failure.
    Api(ApiError),
    /// No usable answer.
    Transport(TransportError),
    /// The [quota layer](crate::quota) refused the request without sending
    /// it: the learned quota frees up later than it may wait.
    RateLimited(RateLimited),
    /// The [`AuthLayer`](crate::auth::AuthLayer) ended the request: no
    /// credential, or a rejected one it could not renew or send again.
    Unauthorized(Unauthorized),
    /// A [circuit breaker](crate::breaker) refused the request without
    /// sending it: the upstream is unwell; it says when to come back.
    CircuitOpen(CircuitOpen),
}

impl Error {
    /// The kind: the API error's, or [`ErrorKind::Transport`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(api) => api.kind(),
            Error::Transport(_) => ErrorKind::Transport,
            Error::RateLimited(_) => ErrorKind::RateLimited,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::CircuitOpen(_) => ErrorKind::Unavailable,
        }
    }

    /// The API error, if the server answered.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The quota layer's refusal, if the request was never sent.
    pub fn rate_limited(&self) -> Option<&RateLimited> {
        match self {
            Error::RateLimited(refused) => Some(refused),
            _ => None,
        }
    }

    /// The circuit breaker's refusal, if the request was never sent.
    pub fn circuit_open(&self) -> Option<&CircuitOpen> {
        match self {
            Error::CircuitOpen(open) => Some(open),
            _ => None,
        }
    }

    /// The API error, by value.
    pub fn into_api(self) -> Option<ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The transport error, if there was no usable answer.
    pub fn transport(&self) -> Option<&TransportError> {
        match self {
            Error::Transport(transport) => Some(transport),
            _ => None,
        }
    }

    /// The auth layer's error, when it ended the request.
    pub fn unauthorized(&self) -> Option<&Unauthorized> {
        match self {
            Error::Unauthorized(unauthorized) => Some(unauthorized),
            _ => None,
        }
    }

    /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when it sent the
    /// request again or ended it.
    pub fn auth_report(&self) -> Option<AuthReport> {
        match self {
            Error::Api(api) => api.auth_report(),
            Error::Transport(transport) => transport.auth_report(),
            Error::Unauthorized(unauthorized) => Some(unauthorized.report()),
            // Refused before the auth layer below could act.
            Error::RateLimited(_) | Error::CircuitOpen(_) => None,
        }
    }

    pub(crate) fn set_auth_report(&mut self, report: AuthReport) {
        match self {
            Error::Api(api) => api.set_auth_report(report),
            Error::Transport(transport) => transport.auth = Some(report),
            Error::Unauthorized(_) | Error::RateLimited(_) | Error::CircuitOpen(_) => {}
        }
    }

    /// Attempts made and time waited between them.
    pub fn retries(&self) -> RetryReport {
        match self {
            Error::Api(api) => api.retries(),
            Error::Transport(transport) => transport.retries(),
            Error::RateLimited(refused) => refused.retries(),
            Error::Unauthorized(unauthorized) => unauthorized.retries(),
            Error::CircuitOpen(open) => open.retries(),
        }
    }

    pub(crate) fn set_retries(&mut self, retries: RetryReport) {
        match self {
            Error::Api(api) => api.set_retries(retries),
            Error::Transport(transport) => transport.set_retries(retries),
            Error::RateLimited(refused) => refused.set_retries(retries),
            Error::Unauthorized(unauthorized) => unauthorized.set_retries(retries),
            Error::CircuitOpen(open) => open.set_retries(retries),
        }
    }

    /// Recovers our error from a boxed one, as `tower::buffer::Buffer`,
    /// `tower::timeout::Timeout` and other generic middleware return it:
    /// our own [`Error`] comes back as it was; an API error found in the
    /// source chain (a `Buffer` worker's shared failure) is cloned out; a
    /// timeout's `Elapsed` becomes a [`TransportError`] that
    /// [`is_deadline`](TransportError::is_deadline); anything else a
    /// [`TransportError`] around it. Also available as `Error::from(boxed)`,
    /// so `?` works on a `BoxError`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    /// use tower_api_errors::{BoxError, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let slow = ServiceBuilder::new()
    ///     .timeout(Duration::from_secs(1))
    ///     .service(service_fn(|_: ()| async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await;
    ///         Ok::<_, Error>(())
    ///     }));
    /// let boxed: BoxError = slow.oneshot(()).await.unwrap_err();
    /// let error = Error::from_boxed(boxed);
    /// assert!(error.transport().unwrap().is_deadline());
    /// # }
    /// ```
    pub fn from_boxed(error: BoxError) -> Self {
        let error = match error.downcast::<Error>() {
            Ok(ours) => return *ours,
            Err(other) => other,
        };
        let mut next: Option<&(dyn std::error::Error + 'static)> = error.source();
        for _ in 0..MAX_CAUSES {
            let Some(cause) = next else { break };
            if let Some(Error::Api(api)) = cause.downcast_ref::<Error>() {
                return Error::Api(api.clone());
            }
            if let Some(api) = cause.downcast_ref::<ApiError>() {
                return Error::Api(api.clone());
            }
            next = cause.source();
        }
        Error::Transport(TransportError::new(error))
    }

    /// Turns an inner service's error into ours: our own `Error` passes
    /// through unchanged (so stacked layers do not nest it), anything else
    /// becomes a [`TransportError`].
    pub(crate) fn from_inner(error: impl Into<BoxError>, request: Option<RequestContext>) -> Self {
        match error.into().downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => {
                let mut transport = TransportError::new(other);
                transport.set_request(request);
                Error::Transport(transport)
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(api) => api.fmt(f),
            Error::Transport(transport) => transport.fmt(f),
            Error::RateLimited(refused) => refused.fmt(f),
            Error::Unauthorized(unauthorized) => unauthorized.fmt(f),
            Error::CircuitOpen(open) => open.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Api(api) => api.source(),
            Error::Transport(transport) => transport.source(),
            Error::RateLimited(refused) => refused.source(),
            Error::Unauthorized(unauthorized) => unauthorized.source(),
            Error::CircuitOpen(open) => open.source(),
        }
    }
}

impl From<BoxError> for Error {
    /// See [`Error::from_boxed`].
    fn from(error: BoxError) -> Self {
        Error::from_boxed(error)
    }
}

impl From<ApiError> for Error {
    fn from(api: ApiError) -> Self {
        Error::Api(api)
    }
}

impl From<Unauthorized> for Error {
    fn from(unauthorized: Unauthorized) -> Self {
        Error::Unauthorized(unauthorized)
    }
}

impl From<TransportError> for Error {
    fn from(transport: TransportError) -> Self {
        Error::Transport(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::is_graphic;

    /// The word-at-a-time check agrees with a byte-at-a-time one on every
    /// byte value at every position of a word and of the remainder.
    #[test]
    fn is_graphic_agrees_with_a_byte_at_a_time_check() {
        for byte in 0u8..=255 {
            for at in 0..19 {
                let mut bytes = vec![b'a'; 19];
                bytes[at] = byte;
                assert_eq!(
                    is_graphic(&bytes),
                    bytes.iter().all(u8::is_ascii_graphic),
                    "{byte:#x} at {at}"
                );
            }
        }
        assert!(is_graphic(b""));
    }
}
