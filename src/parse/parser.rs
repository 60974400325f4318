//! [`ErrorParser`] and [`parse_error`]: status, headers and body to an
//! [`ApiError`].

use super::dialects::BUILT_IN;
use super::extract;
use super::{Dialect, DialectInput, ErrorFields};
use crate::classify::{Classification, DefaultClassifier, Failure};
use crate::error::ApiErrorParts;
use crate::hints::ResponseHints;
use crate::{ApiError, ErrorKind};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

/// Turns a failure response into an [`ApiError`], with the built-in
/// dialects and the [`DefaultClassifier`].
///
/// The pure function under [`ErrorBodyParseLayer`](super::ErrorBodyParseLayer),
/// public so that clients that are not Tower services can use it too. It
/// never fails and never panics: a body no dialect recognises still gives
/// an error whose message is an excerpt of it, or the status's reason.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::{parse_error, ErrorKind};
///
/// let body = br#"{"error": "Payment Required", "message": "Insufficient balance"}"#;
/// let error = parse_error(StatusCode::PAYMENT_REQUIRED, &HeaderMap::new(), body);
/// assert_eq!(error.kind(), ErrorKind::PaymentRequired);
/// assert_eq!(error.code(), Some("Payment Required"));
/// assert_eq!(error.message(), "Insufficient balance");
/// ```
pub fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    // One parser for every call: no allocation just to hold no user dialects.
    static DEFAULT: OnceLock<ErrorParser> = OnceLock::new();
    DEFAULT
        .get_or_init(ErrorParser::new)
        .parse(status, headers, body)
}

/// A configurable [`parse_error`]: user [`Dialect`]s are tried before the
/// built-in ones, in the order they were added.
///
/// # Clone
/// Cheap: the dialects are shared behind an `Arc`.
#[derive(Clone)]
pub struct ErrorParser {
    dialects: Arc<[Arc<dyn Dialect>]>,
}

impl fmt::Debug for ErrorParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorParser")
            .field("user_dialects", &self.dialects.len())
            .finish()
    }
}

impl Default for ErrorParser {
    fn default() -> Self {
        ErrorParser {
            dialects: Arc::new([]),
        }
    }
}

impl ErrorParser {
    /// A parser with the built-in dialects only.
    pub fn new() -> Self {
        ErrorParser::default()
    }

    /// Adds a dialect, tried after the user dialects added before it and
    /// before every built-in one.
    pub fn dialect(mut self, dialect: impl Dialect) -> Self {
        let mut dialects: Vec<Arc<dyn Dialect>> = self.dialects.iter().cloned().collect();
        dialects.push(Arc::new(dialect));
        self.dialects = dialects.into();
        self
    }

    /// Parses a response classified by the [`DefaultClassifier`]. The
    /// headers are read once, for the verdict and the error alike.
    pub fn parse(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
        let hints = ResponseHints::read(headers, SystemTime::now());
        let verdict = DefaultClassifier::new().classify_with_hints(status, headers, &hints);
        self.parse_read(status, headers, body, verdict, &hints)
    }

    /// Parses a response whose classification is already known (stamped by
    /// a classifier below, or from a custom one).
    pub fn parse_classified(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        verdict: Classification,
    ) -> ApiError {
        let hints = ResponseHints::read(headers, SystemTime::now());
        self.parse_read(status, headers, body, verdict, &hints)
    }

    /// [`parse_classified`](Self::parse_classified) for a response whose
    /// headers were already read into `hints` ([`ResponseHints::read`] on
    /// the same `headers`): the one reading per response that the layers
    /// share. The error's rate-limit window and policies come from `hints`.
    pub fn parse_read(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        verdict: Classification,
        hints: &ResponseHints,
    ) -> ApiError {
        // A success handed to the parser is still reported, as `Other`.
        let failure = verdict
            .failure()
            .copied()
            .unwrap_or_else(|| Failure::new(ErrorKind::Other).with_retryable(false));
        let body_text = strip_bom(body);
        let json: Option<Value> = serde_json::from_slice(body_text).ok();
        let input = DialectInput::new(status, headers, body_text, json.as_ref());
        let fields = self
            .dialects
            .iter()
            .map(|dialect| &**dialect)
            .chain(BUILT_IN.iter().copied())
            .find_map(|dialect| dialect.parse(&input))
            .unwrap_or_default();
        let body_hint = fields
            .retry_after
            .or_else(|| json.as_ref().and_then(extract::retry_after));
        let ErrorFields {
            code,
            message,
            field_errors,
            ..
        } = fields;
        let mut error = ApiError::from_parts(ApiErrorParts {
            status,
            kind: failure.kind(),
            retryable: failure.is_retryable(),
            server_verdict: failure.server_verdict(),
            // Built-in dialects already bound what they return; user dialects
            // may not, so bound again, without a copy when there is no need.
            code: code.map(|code| extract::bounded(code, extract::MAX_CODE_CHARS)),
            message: message.map(|message| extract::bounded(message, extract::MAX_MESSAGE_CHARS)),
            field_errors,
            hint: failure.retry_hint(),
            rate_limit: hints.rate_limit(),
            policies: hints.policies().to_vec(),
            details: json,
        });
        error.merge_body_hint(body_hint);
        error
    }
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body)
}
