//! [`ErrorParser`] and [`parse_error`]: status, headers and body to an
//! [`ApiError`].

use super::dialect::RootKeys;
use super::dialects::markup::without_markup;
use super::dialects::BUILT_IN;
use super::{charset, extract, BodyVerdict, Dialect, DialectInput, ErrorFields};
use crate::classification::{Classification, DefaultClassifier, Failure};
use crate::error::{ApiErrorParts, Reading};
use crate::hints::ResponseHints;
use crate::redact::{RequestSecrets, Scrubber};
use crate::{ApiError, ErrorKind, FieldError};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// Turns a failure response into an [`ApiError`], with the built-in
/// dialects and the [`DefaultClassifier`].
///
/// The pure function under [`ErrorBodyParseLayer`](super::ErrorBodyParseLayer),
/// public so that clients that are not Tower services can use it too. It
/// never fails and never panics: a body no dialect recognises still gives
/// an error whose message is an excerpt of it, or the status's reason. An
/// `X-Amzn-Errortype` header names the code ahead of the body, as the AWS
/// protocols say (`ThrottlingException:http://...` reads `ThrottlingException`).
/// `Bearer`/`Basic`/JWT shapes, and the values of credential-named
/// `name=value` pairs, are scrubbed out of what the body gave, as the
/// layer scrubs them (which knows the request's own secrets too).
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
    let parser = DEFAULT.get_or_init(ErrorParser::new);
    parser.parse(status, headers, body)
}

/// A configurable [`parse_error`]: user [`Dialect`]s are tried before the
/// built-in ones, in the order they were added.
///
/// # Clone
/// Cheap: the dialects are shared behind an `Arc`.
#[derive(Clone, Default)]
pub struct ErrorParser {
    dialects: Arc<[Arc<dyn Dialect>]>,
}

debug_fields!([] ErrorParser (&self) {
    user_dialects: self.dialects.len(),
});

impl ErrorParser {
    /// A parser with the built-in dialects only.
    pub fn new() -> Self {
        ErrorParser::default()
    }

    /// Adds a dialect, tried after the user dialects added before it and
    /// before every built-in one.
    pub fn dialect(mut self, dialect: impl Dialect) -> Self {
        let added: Arc<dyn Dialect> = Arc::new(dialect);
        self.dialects = self.dialects.iter().cloned().chain([added]).collect();
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
        // The layers' scrub, with no request to know secrets of: token
        // shapes; the message and code before they are bounded too (a
        // replacement may be longer than what it replaces).
        let scrubber = Scrubber::new(RequestSecrets::default(), None);
        let mut error = self.read(status, headers, body, verdict, hints, Some(&scrubber));
        error.scrub(&scrubber);
        error
    }

    /// [`parse_read`](Self::parse_read) unscrubbed (`None`), for the layers:
    /// they scrub with the request's secrets too (`Kept::finish`), once.
    pub(crate) fn read(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        verdict: Classification,
        hints: &ResponseHints,
        scrubber: Option<&Scrubber>,
    ) -> ApiError {
        // A success handed to the parser is still reported, as `Other`.
        let other = Failure::new(ErrorKind::Other).with_retryable(false);
        let failure = verdict.failure().copied().unwrap_or(other);
        let (fields, body_hint, details) = self.read_body(status, headers, body);
        let ErrorFields {
            code,
            message,
            mut field_errors,
            verdict: body_verdict,
            ..
        } = fields;
        bound_field_errors(
            &mut field_errors,
            (2 * body.len() + 512)
                .saturating_sub(details.as_ref().map_or(0, |text| text.len()))
                .saturating_sub(message.as_ref().map_or(0, String::len))
                .saturating_sub(code.as_ref().map_or(0, String::len)),
        );
        // Every code and message is bounded here, whoever read it: user
        // dialects may not bound what they return, and a built-in one's
        // trimming can leave an edge space (a tagged-union summary, the
        // tail of an AWS `__type`). Without a copy when there is no need.
        // An AWS error type in `X-Amzn-Errortype` wins, as the AWS protocols say.
        let code = extract::aws_header_type(headers)
            .or(code)
            .map(|code| extract::bounded(scrubbed(code, scrubber), extract::MAX_CODE_CHARS))
            .filter(|code| !code.is_empty());
        let (kind, retryable) =
            kind_and_retry(&failure, body_verdict, code.as_deref(), message.as_deref());
        // A failure sent as a success (Slack's `ok: false`) has "OK" for a
        // reason: its code says more.
        let from_code = || code.clone().filter(|_| status.is_success());
        let message = message
            .map(|text| bounded_message(scrubbed(text, scrubber)))
            .or_else(from_code);
        let mut error = ApiError::from_parts(ApiErrorParts {
            reading: Reading {
                status,
                kind,
                retryable,
                server_verdict: failure.server_verdict(),
                code,
                challenge: crate::hints::challenge_error(headers)
                    .map(|error| extract::bounded(error.to_owned(), extract::MAX_CODE_CHARS)),
                field_errors,
                hint: failure.retry_hint(),
                rate_limit: hints.rate_limit(),
                policies: hints.policies().to_vec(),
                request_id: crate::error::request_id(headers),
            },
            message,
            details,
            #[cfg(feature = "grpc")]
            grpc: crate::grpc::grpc_status(headers).map(|code| {
                let details = crate::grpc::status_details(headers);
                (code, details, crate::grpc::status_metadata(headers))
            }),
        });
        // Nothing structured named a wait: a rate limit's or an outage's
        // message may ("Please try again in 6s.").
        let in_prose = error.retry_after().is_none()
            && matches!(kind, ErrorKind::RateLimited | ErrorKind::Unavailable);
        let body_hint =
            body_hint.or_else(|| in_prose.then(|| extract::prose_wait(error.message()))?);
        error.merge_body_hint(body_hint);
        error
    }

    /// The body decoded, parsed as JSON once and read by the first dialect
    /// that recognises it; its retry hint; and its text, kept when it is
    /// JSON (see `ApiError::details`).
    fn read_body(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> BodyReading {
        let body_text = charset::decode(headers, body);
        let json: Option<Value> = serde_json::from_slice(&body_text).ok();
        let input = DialectInput::new(status, headers, &body_text, json.as_ref());
        let fields = self
            .dialects
            .iter()
            .map(|dialect| &**dialect)
            .chain(BUILT_IN.iter().copied())
            .find_map(|dialect| dialect.parse(&input))
            .unwrap_or_default();
        // The JSON body, when it has any of `keys` at the root.
        let json_with = |keys| json.as_ref().filter(|_| input.has_any(keys));
        let body_hint = fields.retry_after.or_else(|| {
            // The hint is looked for at the root, in an `error` or
            // `parameters` object and a GraphQL error's `extensions`, under
            // `retry…` keys or Google's `details`: a mask test first.
            let keys =
                RootKeys::RETRY | RootKeys::DETAILS | RootKeys::ERROR_OBJECT | RootKeys::ERRORS;
            json_with(keys).and_then(extract::retry_after)
        });
        // An exhausted window's reset in the error object (Vercel's
        // `error.limit`), when the body names no wait.
        let body_hint = body_hint.or_else(|| {
            let reset = json_with(RootKeys::ERROR_OBJECT).and_then(extract::limit_reset)?;
            crate::hints::reset_from(&reset, headers, SystemTime::now())
        });
        // Keep the text, not the parsed value: see `ApiError::details`.
        let details = json.map(|_| body_text.into_owned().into_boxed_slice());
        (fields, body_hint, details)
    }
}

/// What [`ErrorParser::read_body`] found: the fields, the body's retry
/// hint, and its JSON text.
type BodyReading = (ErrorFields, Option<Duration>, Option<Box<[u8]>>);

/// Keeps the field errors that fit in `budget` bytes, in order. With the
/// budget the parser gives (twice the body plus 512 bytes, less the kept
/// text, message and code), a kept error stays within twice the body read
/// plus 1 KiB (the rest is the error's fixed size).
fn bound_field_errors(field_errors: &mut Vec<FieldError>, mut budget: usize) {
    let keep = field_errors
        .iter()
        .take_while(|error| {
            let fits = error.footprint() <= budget;
            budget = budget.saturating_sub(error.footprint());
            fits
        })
        .count();
    field_errors.truncate(keep);
    field_errors.shrink_to_fit();
}

/// The kind and retry verdict: the status's, adjusted by what the body
/// says (its dialect's verdict, else its code's, else its message's; a
/// message naming a daily or monthly quota outranks a code that only says
/// "rate limit"); the server's explicit `x-should-retry` still wins.
fn kind_and_retry(
    failure: &Failure,
    body_verdict: Option<BodyVerdict>,
    code: Option<&str>,
    message: Option<&str>,
) -> (ErrorKind, bool) {
    use BodyVerdict::{RateLimited as Limited, Throttled};
    let limited = failure.kind() == ErrorKind::RateLimited;
    let by_code = body_verdict.or_else(|| code.and_then(BodyVerdict::for_code));
    // No verdict, or a generic rate limit's: the message may say more (a
    // generic code's verdict stands unless the message names a quota).
    let verdict = match by_code {
        None | Some(Throttled | Limited) => message
            .and_then(|message| BodyVerdict::for_message(message, limited || by_code.is_some()))
            .or(by_code),
        specific => specific,
    };
    verdict.map_or((failure.kind(), failure.is_retryable()), |body| {
        let (kind, retryable) = body.apply(failure.kind(), failure.is_retryable());
        (kind, failure.server_verdict().unwrap_or(retryable))
    })
}

/// `text` scrubbed, when there is a scrubber: before it is bounded, as a
/// replacement may be longer than what it replaces.
fn scrubbed(text: String, scrubber: Option<&Scrubber>) -> String {
    match scrubber.map(|scrubber| scrubber.scrub(&text)) {
        Some(Cow::Owned(clean)) => clean,
        _ => text,
    }
}

/// A message as one bounded line without markup. Most messages have no
/// `<` and are one line already: one pass tells, and neither step would
/// change them.
fn bounded_message(message: String) -> String {
    if extract::is_plain_line(&message, extract::MAX_MESSAGE_CHARS) {
        message
    } else {
        extract::bounded(without_markup(message), extract::MAX_MESSAGE_CHARS)
    }
}
