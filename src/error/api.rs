//! [`ApiError`]: the server answered with a failure.

use super::field::scrub_json_text;
use super::{AuthReport, BoxError, FieldError, RetryReport};
use crate::hints::{HintSource, RateLimitInfo, RateLimitPolicy, RetryHint};
use crate::redact::RequestContext;
use crate::ErrorKind;
use http::StatusCode;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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
    reading: Reading,
    message: Cow<'static, str>,
    details: Option<Arc<LazyJson>>,
    truncated: bool,
    body_error: Option<std::sync::Arc<BoxError>>,
    request: Option<RequestContext>,
    retries: RetryReport,
    auth: Option<AuthReport>,
    /// What a gRPC failure's status said (see [`ApiError::grpc_status`]).
    #[cfg(feature = "grpc")]
    grpc: Option<GrpcOrigin>,
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
    /// `text`, to be parsed on the first look.
    fn shared(text: Box<[u8]>) -> Arc<Self> {
        let parsed = OnceLock::new();
        Arc::new(LazyJson { text, parsed })
    }

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
    pub(crate) reading: Reading,
    pub(crate) message: Option<String>,
    /// The body's JSON text (UTF-8), when it parsed as JSON.
    pub(crate) details: Option<Box<[u8]>>,
    /// The response's `grpc-status`, when it had one, its decoded
    /// `grpc-status-details-bin`, and the headers its status keeps as
    /// metadata (`grpc::status_metadata`).
    #[cfg(feature = "grpc")]
    pub(crate) grpc: Option<(u32, Option<Vec<u8>>, http::HeaderMap)>,
}

/// What the parser read of the response, kept in the error as it is.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    pub(crate) status: StatusCode,
    pub(crate) kind: ErrorKind,
    pub(crate) retryable: bool,
    pub(crate) server_verdict: Option<bool>,
    pub(crate) code: Option<String>,
    /// The `error` of the response's `WWW-Authenticate` challenge.
    pub(crate) challenge: Option<String>,
    pub(crate) field_errors: Vec<FieldError>,
    pub(crate) hint: Option<RetryHint>,
    pub(crate) rate_limit: Option<RateLimitInfo>,
    pub(crate) policies: Vec<RateLimitPolicy>,
    /// The upstream's request id, from the allowlisted headers.
    pub(crate) request_id: Option<String>,
}

/// A gRPC failure's status code and rich details (a `google.rpc.Status`'s
/// bytes), and the `tonic::Status` made of them on first look.
#[cfg(feature = "grpc")]
#[derive(Clone)]
struct GrpcOrigin {
    code: i32,
    details: Option<bytes::Bytes>,
    metadata: http::HeaderMap,
    status: OnceLock<Arc<tonic::Status>>,
}

impl ApiError {
    pub(crate) fn from_parts(parts: ApiErrorParts) -> Self {
        let reason = parts.reading.status.canonical_reason();
        let message = match parts.message {
            // Not all whitespace (what `trim().is_empty()` asks, without
            // walking back from the end: the first character decides).
            Some(message) if !message.chars().all(char::is_whitespace) => Cow::Owned(message),
            _ => Cow::Borrowed(reason.unwrap_or("Unknown Status")),
        };
        ApiError {
            inner: Box::new(ApiErrorInner {
                reading: parts.reading,
                message,
                details: parts.details.map(LazyJson::shared),
                truncated: false,
                body_error: None,
                request: None,
                retries: RetryReport::default(),
                auth: None,
                #[cfg(feature = "grpc")]
                grpc: parts.grpc.map(|(code, details, metadata)| GrpcOrigin {
                    code: code as i32,
                    details: details.map(Into::into),
                    metadata,
                    status: OnceLock::new(),
                }),
            }),
        }
    }

    field_getters! {
        /// The response status.
        pub fn status -> StatusCode { inner.reading.status }

        /// What sort of failure this is.
        pub fn kind -> ErrorKind { inner.reading.kind }

        /// The vendor's error code, as a string: `"validation_failed"`,
        /// `"VERSION_OUTDATED"`, `"404"` (numeric codes are stringified),
        /// `"Unauthorized"`.
        pub fn code -> Option<&str> { inner.reading.code.as_deref() }

        /// The `error` of the response's `WWW-Authenticate` challenge (RFC
        /// 6750 §3: `invalid_token`, `insufficient_scope`, `invalid_request`),
        /// when it had one: what the [`AuthLayer`](crate::auth::AuthLayer)
        /// above decides by (it renews on `invalid_token`, never on
        /// `insufficient_scope`), whatever [`code`](Self::code) the body gave.
        /// Bounded and scrubbed as the code is.
        ///
        /// ```
        /// use http::{HeaderMap, StatusCode};
        /// use tower_api_errors::parse_error;
        ///
        /// let mut headers = HeaderMap::new();
        /// headers.insert("www-authenticate", r#"Bearer error="insufficient_scope", scope="admin""#.parse().unwrap());
        /// let error = parse_error(StatusCode::UNAUTHORIZED, &headers, br#"{"code": 401, "message": "no"}"#);
        /// assert_eq!((error.code(), error.challenge_error()), (Some("401"), Some("insufficient_scope")));
        /// ```
        pub fn challenge_error -> Option<&str> { inner.reading.challenge.as_deref() }

        /// The human-readable message. Never empty: when the body has none, the
        /// status's canonical reason (`"Service Unavailable"`), or for a failure
        /// sent as a success (Slack's `{"ok": false, "error": "channel_not_found"}`
        /// under a 200), its code.
        pub fn message -> &str { &inner.message }

        /// Fields that failed validation, in the order the body lists them.
        pub fn field_errors -> &[FieldError] { &inner.reading.field_errors }

        /// How long the server asked to wait before retrying.
        ///
        /// Header hints win over the body's: `retry-after-ms`, `Retry-After`,
        /// `grpc-retry-pushback-ms`, then a body field such as `retry_after`,
        /// then the reset of an exhausted rate-limit window. See
        /// [`retry_hint`](Self::retry_hint) for where it came from.
        pub fn retry_after -> Option<Duration> { inner.reading.hint.map(|hint| hint.delay()) }

        /// The retry hint with its source.
        pub fn retry_hint -> Option<RetryHint> { inner.reading.hint }

        /// The server's rate-limit state, from whichever rate-limit headers it sent.
        pub fn rate_limit -> Option<&RateLimitInfo> { inner.reading.rate_limit.as_ref() }

        /// Every rate-limit window the server announced on this response (its
        /// binding one is [`rate_limit`](Self::rate_limit)), read once with
        /// the rest of its headers: what a quota layer learns from a failure
        /// without parsing the headers again. Empty when it announced none.
        pub fn policies -> &[RateLimitPolicy] { &inner.reading.policies }

        /// The parsed JSON body, for anything the typed accessors do not cover
        /// (`min_version` and `update_url` of a 426, a vendor's `request_id`).
        ///
        /// The error keeps the body's JSON *text* (at most the bytes read) and
        /// parses it on the first call, then keeps the parsed value: a kept
        /// error stays within about twice the body read until then. Clones
        /// share both. [`details_json`](Self::details_json) gives the text
        /// without parsing.
        pub fn details -> Option<&Value> { inner.details.as_deref().map(LazyJson::value) }

        /// The body's JSON text (UTF-8, a declared charset already decoded),
        /// when the body was JSON; never parses.
        pub fn details_json -> Option<&str> {
            inner.details.as_deref().and_then(|json| std::str::from_utf8(&json.text).ok())
        }

        /// The upstream's id for this request, as its support desk asks for
        /// it, from the first of these response headers present: `request-id`
        /// (Stripe, Anthropic), `x-request-id` (OpenAI and most others),
        /// `x-github-request-id`, `x-amzn-requestid`, `x-amzn-request-id`,
        /// `x-amz-request-id`, `apigw-requestid` (AWS), `x-ms-request-id`
        /// (Azure), `x-goog-request-id`, `cf-ray` (Cloudflare),
        /// `x-correlation-id`. No other header is ever recorded; a value longer
        /// than 128 bytes or with other than visible ASCII is ignored.
        pub fn request_id -> Option<&str> { inner.reading.request_id.as_deref() }

        /// Whether trying again may succeed.
        pub fn is_retryable -> bool { inner.reading.retryable }

        /// The server's explicit retry verdict (`x-should-retry`,
        /// `Stripe-Should-Retry`; a negative `grpc-retry-pushback-ms` is a
        /// `false`), when it sent one.
        pub fn server_verdict -> Option<bool> { inner.reading.server_verdict }

        /// True when the body was not read to its end: it outgrew the cap,
        /// failed mid-stream or stalled. The fields come from what was read.
        pub fn is_truncated -> bool { inner.truncated }

        /// The request that failed: method and redacted URI, when a layer
        /// recorded it.
        pub fn request -> Option<&RequestContext> { inner.request.as_ref() }

        /// Attempts sent (the first included) and time waited between them.
        pub fn retries -> RetryReport { inner.retries }

        /// Shorthand for `self.retries().attempts()`.
        pub fn attempts -> u32 { inner.retries.attempts() }

        /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when this error
        /// answered a request it sent again with a renewed credential.
        pub fn auth_report -> Option<AuthReport> { inner.auth }

        /// True for [`ErrorKind::RateLimited`].
        pub fn is_rate_limited -> bool { inner.reading.kind == ErrorKind::RateLimited }

        /// True for [`ErrorKind::NotFound`].
        pub fn is_not_found -> bool { inner.reading.kind == ErrorKind::NotFound }
    }

    /// The server's gRPC status, for a failure read from a response's
    /// `grpc-status` (feature `grpc`): its code, the error's message
    /// (decoded and scrubbed), and the rich details the server sent
    /// (`grpc-status-details-bin`, for `tonic_types::StatusExt`; left out
    /// when they echo one of the request's credentials). It is also the
    /// error's [`source`](std::error::Error::source), where tonic looks: a
    /// `tonic::client::Grpc` over the stack answers a call with the
    /// server's code, and the [`Error`](crate::Error) as the status's own
    /// source.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use tower_api_errors::parse_error;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("grpc-status", "9".parse().unwrap());
    /// headers.insert("grpc-message", "bucket%20not%20empty".parse().unwrap());
    /// let error = parse_error(StatusCode::OK, &headers, b"");
    /// let status = error.grpc_status().unwrap();
    /// assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    /// assert_eq!(status.message(), "bucket not empty");
    /// ```
    #[cfg(feature = "grpc")]
    pub fn grpc_status(&self) -> Option<&tonic::Status> {
        let origin = self.inner.grpc.as_ref()?;
        Some(origin.status.get_or_init(|| {
            let details = origin.details.clone().unwrap_or_default();
            let code = origin.code.into();
            let metadata = tonic::metadata::MetadataMap::from_headers(origin.metadata.clone());
            let status =
                tonic::Status::with_details_and_metadata(code, self.message(), details, metadata);
            Arc::new(status)
        }))
    }

    /// True for [`ErrorKind::Unauthorized`] and [`ErrorKind::Forbidden`].
    pub fn is_auth(&self) -> bool {
        matches!(
            self.inner.reading.kind,
            ErrorKind::Unauthorized | ErrorKind::Forbidden
        )
    }

    pub(crate) fn set_truncated(&mut self, cause: Option<BoxError>) {
        self.inner.truncated = true;
        // A cause replaces the one kept, if any.
        self.inner.body_error = cause.map(Arc::new).or(self.inner.body_error.take());
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

    /// Replaces echoed secrets in everything the response gave: message,
    /// code, challenge, request id (a gateway may reflect a request header
    /// as its id), field errors and details.
    pub(crate) fn scrub(&mut self, scrubber: &crate::redact::Scrubber) {
        let inner = &mut *self.inner;
        if let Cow::Owned(text) = scrubber.scrub(&inner.message) {
            inner.message = Cow::Owned(text);
        }
        let reading = &mut inner.reading;
        let texts = reading.code.iter_mut().chain(&mut reading.challenge);
        for code in texts.chain(&mut reading.request_id) {
            if let Cow::Owned(text) = scrubber.scrub(code) {
                *code = text;
            }
        }
        for field in &mut reading.field_errors {
            field.scrub(scrubber);
        }
        let details = inner.details.as_ref();
        if let Some(text) = details.and_then(|json| scrub_json_text(&json.text, scrubber)) {
            // A short credential echoed densely grows the text (each match
            // becomes `REDACTED`): past twice its size, the details go, and
            // the memory bound holds (the parse module's docs).
            let bound = 2 * details.map_or(0, |json| json.text.len());
            inner.details = (text.len() <= bound).then(|| LazyJson::shared(text));
        }
        #[cfg(feature = "grpc")]
        if let Some(origin) = &mut inner.grpc {
            // Opaque bytes: kept only when no credential is found in them.
            let echoes = |bytes: &[u8]| {
                let text = String::from_utf8_lossy(bytes);
                matches!(scrubber.scrub(&text), Cow::Owned(_))
            };
            origin.details.take_if(|details| echoes(details));
            // So are the metadata's values (an echo under a plain name).
            let echoed: Vec<_> = origin
                .metadata
                .iter()
                .filter(|(_, value)| echoes(value.as_bytes()))
                .map(|(name, _)| name.clone())
                .collect();
            for name in echoed {
                origin.metadata.remove(name);
            }
            // A status made before carries what was scrubbed.
            origin.status.take();
        }
    }

    /// Adds a body hint where the headers gave none.
    pub(crate) fn merge_body_hint(&mut self, delay: Option<Duration>) {
        let hint = &mut self.inner.reading.hint;
        *hint = hint.or(delay.map(|delay| RetryHint::new(delay, HintSource::Body)));
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        write!(f, "{} ({}): {}", self.kind(), self.status(), inner.message)?;
        let fields: Vec<&str> = self.field_errors().iter().map(FieldError::field).collect();
        let (retries, attempts) = (inner.retries, inner.retries.attempts());
        let notes: Vec<String> = [
            self.code().map(|code| format!("code {code}")),
            self.request_id().map(|id| format!("request id {id}")),
            (!fields.is_empty()).then(|| format!("fields {}", fields.join(", "))),
            self.retry_after()
                .map(|after| format!("retry after {after:?}")),
            (attempts > 1).then(|| format!("after {attempts} attempts")),
            retries.gave_up().map(|reason| format!("gave up: {reason}")),
            inner
                .auth
                .is_some_and(|auth| auth.resent())
                .then(|| "sent again with a renewed credential".to_owned()),
            inner.truncated.then(|| "body truncated".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect();
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
        let reading = &inner.reading;
        f.debug_struct("ApiError")
            .field("status", &reading.status)
            .field("kind", &reading.kind)
            .field("code", &reading.code)
            .field("challenge_error", &reading.challenge)
            .field("message", &inner.message)
            .field("field_errors", &reading.field_errors)
            .field("retry_hint", &reading.hint)
            .field("rate_limit", &reading.rate_limit)
            .field("retryable", &reading.retryable)
            .field("truncated", &inner.truncated)
            .field("request", &inner.request)
            .field("retries", &inner.retries)
            .field("request_id", &reading.request_id)
            .field("auth", &inner.auth)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        #[cfg(feature = "grpc")]
        if let Some(status) = self.grpc_status() {
            return Some(status);
        }
        Some(&**self.inner.body_error.as_deref()?)
    }
}

/// The response headers an upstream's request id is read from, most
/// specific first.
const REQUEST_ID_HEADERS: [&str; 11] = [
    "request-id",
    "x-request-id",
    "x-github-request-id",
    "x-amzn-requestid",
    "x-amzn-request-id",
    "x-amz-request-id",
    "apigw-requestid",
    "x-ms-request-id",
    "x-goog-request-id",
    "cf-ray",
    "x-correlation-id",
];

/// The longest request id kept.
const MAX_REQUEST_ID: usize = 128;

/// The upstream's request id (see [`ApiError::request_id`]): the first
/// valid value (visible ASCII, at most [`MAX_REQUEST_ID`] bytes) of the
/// most specific header that has one.
pub(crate) fn request_id(headers: &http::HeaderMap) -> Option<String> {
    let rank = |name: &http::HeaderName| REQUEST_ID_HEADERS.iter().position(|k| *k == name);
    let valid = |value: &&http::HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(u8::is_ascii_graphic)
    };
    // One pass over the headers; of equal ranks the first value wins.
    let (_, value) = headers
        .iter()
        .filter_map(|(name, value)| Some((rank(name)?, value)))
        .filter(|(_, value)| valid(value))
        .min_by_key(|(rank, _)| *rank)?;
    // Visible ASCII only: valid UTF-8 as it is.
    value.to_str().ok().map(String::from)
}
