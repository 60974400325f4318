//! The [`Dialect`] trait: one small parser per error-body shape.

use super::BodyVerdict;
use crate::FieldError;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use std::time::Duration;

/// Reads one shape of error body.
///
/// The parser tries dialects in order (user dialects before the built-in
/// ones) and takes the first that recognises the body. A dialect returns
/// `None` for a body it does not recognise; it never fails.
///
/// The JSON is parsed once, before any dialect runs, and handed over as
/// [`DialectInput::json`]; a dialect for a non-JSON format reads
/// [`DialectInput::body`].
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::parse::{Dialect, DialectInput, ErrorFields, ErrorParser};
///
/// /// Our in-house shape: {"fault": {"id": "...", "text": "..."}}
/// struct Fault;
///
/// impl Dialect for Fault {
///     fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
///         let fault = input.json()?.get("fault")?;
///         Some(
///             ErrorFields::new()
///                 .code(fault.get("id")?.as_str()?)
///                 .message(fault.get("text")?.as_str()?),
///         )
///     }
/// }
///
/// let parser = ErrorParser::new().dialect(Fault);
/// let body = br#"{"fault": {"id": "E42", "text": "Quota gone"}}"#;
/// let error = parser.parse(StatusCode::FORBIDDEN, &HeaderMap::new(), body);
/// assert_eq!(error.code(), Some("E42"));
/// assert_eq!(error.message(), "Quota gone");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an error-body `Dialect`",
    label = "not a `Dialect`",
    note = "implement `Dialect` for a type of yours: `fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields>`; a dialect must be `Send + Sync + 'static`"
)]
pub trait Dialect: Send + Sync + 'static {
    /// Reads the body, or returns `None` when it is not this dialect's shape.
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields>;
}

/// What a [`Dialect`] gets to read: the response's status and headers, the
/// body bytes (up to the cap), and the body as JSON when it is JSON.
#[derive(Debug, Clone, Copy)]
pub struct DialectInput<'a> {
    status: StatusCode,
    headers: &'a HeaderMap,
    body: &'a [u8],
    json: Option<&'a Value>,
    // Looked up once: several dialects ask for it.
    content_type: Option<&'a str>,
    // Which of the keys that tell dialects apart the root object has,
    // found in one pass over its keys: a dialect whose keys are absent
    // turns the body away without a lookup.
    root_keys: RootKeys,
}

/// The root object keys that the built-in dialects are told apart by, as
/// bits: one pass over the object's keys, then each dialect's "is this
/// mine?" is a mask test instead of map lookups (each a string compare
/// per tree level).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RootKeys(u32);

impl RootKeys {
    pub(crate) const ERROR: u32 = 1 << 0;
    pub(crate) const ERRORS: u32 = 1 << 1;
    pub(crate) const ERROR_MESSAGES: u32 = 1 << 2;
    pub(crate) const DETAIL: u32 = 1 << 3;
    pub(crate) const TITLE: u32 = 1 << 4;
    pub(crate) const TYPE: u32 = 1 << 5;
    pub(crate) const STATUS: u32 = 1 << 6;
    pub(crate) const ERROR_DESCRIPTION: u32 = 1 << 7;
    pub(crate) const VALIDATION_ERRORS: u32 = 1 << 8;
    pub(crate) const ERROR_SUMMARY: u32 = 1 << 9;
    pub(crate) const ODATA_ERROR: u32 = 1 << 10;
    pub(crate) const JSONRPC: u32 = 1 << 11;
    /// `error` holds an object: the nested, OData and tagged-union shapes
    /// all need one, and a flat body's string `error` turns them away.
    pub(crate) const ERROR_OBJECT: u32 = 1 << 12;
    pub(crate) const DETAILS: u32 = 1 << 13;
    /// `innererror` or `innerError`.
    pub(crate) const INNER_ERROR: u32 = 1 << 14;
    pub(crate) const ERROR_CAUSES: u32 = 1 << 15;
    /// A member that may hold the body's retry hint: any key starting
    /// with `retry`, `extensions` (Shopify's GraphQL query cost),
    /// `parameters` (Telegram's `retry_after`) or `estimated_time` (Hugging
    /// Face's model loading).
    pub(crate) const RETRY: u32 = 1 << 16;

    fn of(json: Option<&Value>) -> Self {
        let keys = json.and_then(Value::as_object).into_iter().flatten();
        RootKeys(keys.fold(0, |bits, (key, value)| bits | Self::bit(key, value)))
    }

    /// A root member's bit.
    fn bit(key: &str, value: &Value) -> u32 {
        match key {
            "error" if value.is_object() => Self::ERROR | Self::ERROR_OBJECT,
            "error" => Self::ERROR,
            "detail" if value.is_object() => Self::DETAIL | Self::ERROR_OBJECT,
            "detail" => Self::DETAIL,
            "title" => Self::TITLE,
            "type" => Self::TYPE,
            "error_description" => Self::ERROR_DESCRIPTION,
            "errors" | "Errors" | "Fault" => Self::ERRORS,
            "errorMessages" | "tppMessages" | "reasons" => Self::ERROR_MESSAGES,
            "status" if value.is_object() => Self::STATUS | Self::ERROR_OBJECT,
            "requestError" if value.is_object() => Self::ERROR_OBJECT,
            "status" => Self::STATUS,
            "validation_errors" => Self::VALIDATION_ERRORS,
            "error_summary" => Self::ERROR_SUMMARY,
            "odata.error" => Self::ODATA_ERROR,
            "jsonrpc" => Self::JSONRPC,
            "details" => Self::DETAILS,
            "innererror" | "innerError" => Self::INNER_ERROR,
            "errorCauses" => Self::ERROR_CAUSES,
            "extensions" | "parameters" | "estimated_time" => Self::RETRY,
            key if key.starts_with("retry") => Self::RETRY,
            _ => 0,
        }
    }
}

impl<'a> DialectInput<'a> {
    /// Builds an input (for testing a dialect on its own).
    pub fn new(
        status: StatusCode,
        headers: &'a HeaderMap,
        body: &'a [u8],
        json: Option<&'a Value>,
    ) -> Self {
        DialectInput {
            status,
            headers,
            body,
            json,
            content_type: essence(headers),
            root_keys: RootKeys::of(json),
        }
    }

    field_getters! {
        /// The response status.
        pub fn status -> StatusCode;

        /// The response headers.
        pub fn headers -> &'a HeaderMap;

        /// The body bytes, up to the cap.
        pub fn body -> &'a [u8];

        /// The body as JSON, when it parsed as JSON.
        pub fn json -> Option<&'a Value>;

        /// The `Content-Type` essence as sent (`"application/problem+json"`),
        /// without parameters. Media types are case-insensitive: compare with
        /// `eq_ignore_ascii_case`.
        pub fn content_type -> Option<&'a str>;
    }

    /// Whether the root object has any of `keys` ([`RootKeys`] bits).
    pub(crate) fn has_any(&self, keys: u32) -> bool {
        self.root_keys.0 & keys != 0
    }

    /// The root object, when it has any of `keys` ([`RootKeys`] bits): a
    /// dialect's first question, answered by a mask test.
    pub(crate) fn object_with(&self, keys: u32) -> Option<&'a Map<String, Value>> {
        self.json.filter(|_| self.has_any(keys))?.as_object()
    }
}

/// The `Content-Type` essence as sent, without parameters.
pub(crate) fn essence(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    // `to_str` let through visible ASCII and tabs only, so ASCII trimming is
    // `trim`'s, without decoding characters.
    let end = memchr::memchr(b';', value.as_bytes());
    Some(value[..end.unwrap_or(value.len())].trim_ascii())
}

/// What a [`Dialect`] read from a body. Every part is optional; the parser
/// fills the gaps (the message falls back to the status's reason).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) field_errors: Vec<FieldError>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) verdict: Option<BodyVerdict>,
}

impl ErrorFields {
    /// Nothing read yet.
    pub fn new() -> Self {
        ErrorFields::default()
    }

    /// What most dialects read: a code, a message and field errors.
    pub(crate) fn of(
        code: Option<String>,
        message: Option<String>,
        field_errors: Vec<FieldError>,
    ) -> Self {
        ErrorFields {
            code,
            message,
            field_errors,
            ..ErrorFields::default()
        }
    }

    config_setters! {
        self;

        /// Sets the vendor's error code.
        pub fn code(code: impl Into<String>) |f| f.code = Some(code.into());

        /// Sets the human-readable message.
        pub fn message(message: impl Into<String>) |f| f.message = Some(message.into());

        /// Adds a field error.
        pub fn field_error(field: impl Into<String>, message: impl Into<String>) |f| {
            f.field_errors.push(FieldError::new(field, message))
        };

        /// Sets the body's retry hint.
        pub fn retry_after(delay: Duration) |f| f.retry_after = Some(delay);

        /// Sets what the body says about retrying (see [`BodyVerdict`]); without
        /// one, the parser looks the code up in [`BodyVerdict::for_code`]'s table.
        pub fn verdict(verdict: BodyVerdict) |f| f.verdict = Some(verdict);

        /// [`verdict`](Self::verdict) when the body gave one: the
        /// dialects' last step.
        pub(crate) fn judged(verdict: Option<BodyVerdict>) |f| f.verdict = verdict;
    }

    field_getters! {
        /// The body verdict set so far.
        pub fn get_verdict -> Option<BodyVerdict> { verdict }

        /// The code read so far.
        pub fn get_code -> Option<&str> { code.as_deref() }

        /// The message read so far.
        pub fn get_message -> Option<&str> { message.as_deref() }

        /// The field errors read so far.
        pub fn get_field_errors -> &[FieldError] { &field_errors }

        /// The body's retry hint, if read.
        pub fn get_retry_after -> Option<Duration> { retry_after }
    }
}
