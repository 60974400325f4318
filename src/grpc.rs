//! gRPC status classification (feature `grpc`).
//!
//! A gRPC failure usually arrives as HTTP 200 with a `grpc-status` trailer.
//! When the server fails before sending any message, it sends a
//! *trailers-only* response: `grpc-status` (and `grpc-message`) arrive in
//! the headers, so they can be classified as soon as the response starts,
//! exactly like an HTTP status. [`DefaultClassifier`](crate::classify::DefaultClassifier)
//! does so whenever this feature is on.
//!
//! | gRPC status | kind | retried |
//! |---|---|---|
//! | `OK` (0) | success | |
//! | `INVALID_ARGUMENT` (3), `FAILED_PRECONDITION` (9), `OUT_OF_RANGE` (11) | `BadRequest` | no |
//! | `DEADLINE_EXCEEDED` (4) | `Timeout` | no: the caller's own deadline has passed |
//! | `NOT_FOUND` (5) | `NotFound` | no |
//! | `ALREADY_EXISTS` (6), `ABORTED` (10) | `Conflict` | no |
//! | `PERMISSION_DENIED` (7) | `Forbidden` | no |
//! | `RESOURCE_EXHAUSTED` (8) | `RateLimited` | yes |
//! | `UNAVAILABLE` (14) | `Unavailable` | yes |
//! | `UNAUTHENTICATED` (16) | `Unauthorized` | no |
//! | `UNKNOWN` (2), `INTERNAL` (13), `DATA_LOSS` (15) | `Server` | no |
//! | `CANCELLED` (1), `UNIMPLEMENTED` (12), anything else | `Other` | no |
//!
//! `grpc-retry-pushback-ms` is the hint; a negative or malformed pushback
//! means "do not retry" (gRFC A6).
//!
//! Only trailers-only responses are classified: a call whose response
//! already carried messages has its `grpc-status` in the trailers, is not a
//! failure by its headers, and is never retried.
//!
//! Every gRPC call is an HTTP POST, so the retry layer's default
//! idempotency rule retries none of them. gRFC A6 makes retries an opt-in
//! per service or method: say `retry_non_idempotent(true)` for a service
//! whose methods are safe to repeat, or decide per method with `retry_if`
//! on `ctx.uri().path()`. Around a tonic `Channel`, stack
//! `RetryLayer -> StatusClassifierLayer -> map_request(ReplayBody -> tonic::body::Body)`
//! and let tonic turn the final response into a `Status` (see
//! `examples/tonic_client.rs`); the [`GrpcStatus`] dialect serves stacks
//! that parse errors themselves.
//!
//! ```
//! use http::HeaderMap;
//! use tower_api_errors::grpc::{classify_trailers_only, decode_grpc_message};
//! use tower_api_errors::ErrorKind;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("grpc-status", "14".parse().unwrap());
//! let verdict = classify_trailers_only(&headers).unwrap();
//! assert_eq!(verdict.kind(), Some(ErrorKind::Unavailable));
//! assert!(verdict.is_retryable());
//!
//! headers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
//! assert!(!classify_trailers_only(&headers).unwrap().is_retryable());
//!
//! assert_eq!(decode_grpc_message(b"caf%C3%A9 closed%21"), "café closed!");
//! ```

use crate::classify::{Classification, Failure};
use crate::hints::{grpc_pushback, GrpcPushback, HintSource, RetryHint};
use crate::parse::{Dialect, DialectInput, ErrorFields};
use crate::{ApiError, Error, ErrorKind};
use http::{HeaderMap, HeaderName};

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// The kind and default retry verdict for a gRPC status code.
pub fn kind_for_code(code: u32) -> Option<(ErrorKind, bool)> {
    let kind = match code {
        0 => return None,
        3 | 9 | 11 => ErrorKind::BadRequest,
        4 => ErrorKind::Timeout,
        5 => ErrorKind::NotFound,
        6 | 10 => ErrorKind::Conflict,
        7 => ErrorKind::Forbidden,
        8 => return Some((ErrorKind::RateLimited, true)),
        14 => return Some((ErrorKind::Unavailable, true)),
        16 => ErrorKind::Unauthorized,
        2 | 13 | 15 => ErrorKind::Server,
        _ => ErrorKind::Other,
    };
    Some((kind, false))
}

/// The canonical name of a gRPC status code (`"UNAVAILABLE"`), used as the
/// error's code.
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|index| NAMES.get(index))
        .copied()
        .unwrap_or("UNKNOWN_CODE")
}

/// The `grpc-status` of a header map, when present and numeric.
pub fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    let text = headers.get(GRPC_STATUS)?.to_str().ok()?.trim();
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Classifies a trailers-only response (or a trailer map) by its
/// `grpc-status`; `None` when there is no readable `grpc-status`.
pub fn classify_trailers_only(headers: &HeaderMap) -> Option<Classification> {
    let code = grpc_status(headers)?;
    let Some((kind, retryable)) = kind_for_code(code) else {
        return Some(Classification::Success);
    };
    let mut failure = Failure::new(kind).with_retryable(retryable);
    match grpc_pushback(headers) {
        Some(GrpcPushback::After(delay)) => {
            failure = failure.with_hint(Some(RetryHint::new(delay, HintSource::GrpcPushback)));
        }
        Some(GrpcPushback::DoNotRetry) => failure = failure.with_retryable(false),
        None => {}
    }
    Some(Classification::Failure(failure))
}

/// Percent-decodes a `grpc-message` value (as the gRPC HTTP/2 protocol
/// encodes it); invalid escapes are kept as they are and invalid UTF-8 is
/// replaced, so decoding never fails.
pub fn decode_grpc_message(raw: &[u8]) -> String {
    String::from_utf8_lossy(&crate::percent::percent_decode(raw)).into_owned()
}

/// The dialect of trailers-only gRPC responses: the code is the
/// `grpc-status` name (`"UNAVAILABLE"`), the message the percent-decoded
/// `grpc-message`. With the `grpc` feature it is tried before every other
/// built-in dialect; a response without `grpc-status` is not its business.
///
/// Rich error details (`grpc-status-details-bin`, a `google.rpc.Status`,
/// decoded with the standard `tonic-types` crate) say more, as gRPC's
/// richer error model and Google's AIP-193 define them:
///
/// | detail | becomes |
/// |---|---|
/// | `ErrorInfo` | its `reason` is the code (`"RATE_LIMIT_EXCEEDED"`), which the verdict table reads |
/// | `RetryInfo` | its `retry_delay` is the hint (as the body's; a pushback header wins) |
/// | `BadRequest` | its field violations are the field errors |
/// | `QuotaFailure` | the failure is a quota: [`BodyVerdict::RateLimited`](crate::parse::BodyVerdict) |
///
/// Undecodable details are ignored: the status and message still stand.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatus;

impl Dialect for GrpcStatus {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let code = grpc_status(input.headers())?;
        let mut fields = ErrorFields::new().code(code_name(code));
        if let Some(message) = input.headers().get(GRPC_MESSAGE) {
            fields = fields.message(decode_grpc_message(message.as_bytes()));
        }
        Some(read_status_details(input.headers(), fields))
    }
}

const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// Adds what `grpc-status-details-bin` says to `fields` (see [`GrpcStatus`]):
/// `ErrorInfo.reason` as the code, `RetryInfo` as the hint, `BadRequest`
/// violations as field errors, `QuotaFailure` as a quota verdict.
///
/// Bounded: the header is as long as the HTTP layer allows, decoding
/// (base64, then protobuf) is linear in it, and at most 100 field errors
/// and 128-character codes are kept.
fn read_status_details(headers: &HeaderMap, mut fields: ErrorFields) -> ErrorFields {
    use tonic_types::StatusExt;
    // Decoded here, not by `tonic::Status::from_header_map`: that panics on
    // invalid base64 and copies every header.
    let Some(bytes) = headers
        .get(GRPC_STATUS_DETAILS)
        .and_then(|value| decode_base64(value.as_bytes()))
    else {
        return fields;
    };
    let status = tonic::Status::with_details(tonic::Code::Unknown, "", bytes.into());
    let Ok(details) = status.check_error_details() else {
        return fields;
    };
    if let Some(reason) = details
        .error_info()
        .map(|info| info.reason.trim())
        .filter(|reason| !reason.is_empty())
    {
        fields = fields.code(crate::parse::bounded_code(reason));
    }
    if let Some(delay) = details.retry_info().and_then(|info| info.retry_delay) {
        fields = fields.retry_after(delay.min(crate::hints::MAX_HINT));
    }
    if let Some(bad_request) = details.bad_request() {
        for violation in bad_request.field_violations.iter().take(100) {
            fields = fields.field_error(
                crate::parse::bounded_code(&violation.field),
                crate::parse::bounded_message(&violation.description),
            );
        }
    }
    if details.quota_failure().is_some() {
        fields = fields.verdict(crate::parse::BodyVerdict::RateLimited);
    }
    fields
}

/// Standard base64, padded or not (gRPC's `-bin` headers may be either);
/// `None` for any other byte. Linear, one output allocation.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    fn value(byte: u8) -> Option<u32> {
        Some(u32::from(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let text = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut bits = 0u32;
        for (i, &byte) in chunk.iter().enumerate() {
            bits |= value(byte)? << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

/// The gRPC code for an error kind, for answering a gRPC caller with an
/// upstream's error.
pub fn code_for_kind(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::BadRequest | ErrorKind::Validation => tonic::Code::InvalidArgument,
        ErrorKind::Unauthorized => tonic::Code::Unauthenticated,
        ErrorKind::PaymentRequired | ErrorKind::RateLimited => tonic::Code::ResourceExhausted,
        ErrorKind::Forbidden => tonic::Code::PermissionDenied,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::Conflict => tonic::Code::AlreadyExists,
        ErrorKind::Timeout => tonic::Code::DeadlineExceeded,
        ErrorKind::UpgradeRequired => tonic::Code::FailedPrecondition,
        ErrorKind::Unavailable | ErrorKind::BadGateway | ErrorKind::Transport => {
            tonic::Code::Unavailable
        }
        ErrorKind::Server => tonic::Code::Internal,
        _ => tonic::Code::Unknown,
    }
}

/// An upstream's error as a `tonic::Status` for a gRPC caller: the code
/// from the kind, the error's one-line `Display` (credentials redacted) as
/// the message.
impl From<&ApiError> for tonic::Status {
    fn from(error: &ApiError) -> Self {
        tonic::Status::new(code_for_kind(error.kind()), error.to_string())
    }
}

impl From<&Error> for tonic::Status {
    fn from(error: &Error) -> Self {
        tonic::Status::new(code_for_kind(error.kind()), error.to_string())
    }
}

/// By value, so that a tonic handler can `?` our errors:
///
/// ```
/// async fn handler() -> Result<(), tonic::Status> {
///     let upstream: Result<(), tower_api_errors::Error> =
///         Err(tower_api_errors::TransportError::new("connection reset").into());
///     upstream?;
///     Ok(())
/// }
/// # let status = futures_executor_block_on(handler()).unwrap_err();
/// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// assert_eq!(status.code(), tonic::Code::Unavailable);
/// ```
impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        tonic::Status::from(&error)
    }
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        tonic::Status::from(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_verdict() {
        for code in 0..=20 {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-status", code.to_string().parse().unwrap());
            let verdict = classify_trailers_only(&headers).unwrap();
            assert_eq!(verdict.is_success(), code == 0, "{code}");
            assert_eq!(verdict.is_retryable(), code == 8 || code == 14, "{code}");
        }
    }

    #[test]
    fn decodes_messages_without_failing() {
        assert_eq!(decode_grpc_message(b"plain"), "plain");
        assert_eq!(decode_grpc_message(b"100%"), "100%");
        assert_eq!(decode_grpc_message(b"%4"), "%4");
        assert_eq!(decode_grpc_message(b"%zz"), "%zz");
        assert_eq!(decode_grpc_message(b"%FF"), "\u{FFFD}");
    }

    #[test]
    fn base64_padded_or_not() {
        assert_eq!(decode_base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64(b"aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64(b"").unwrap(), b"");
        assert_eq!(decode_base64(b"a"), None);
        assert_eq!(decode_base64(b"!!!!"), None);
        assert_eq!(decode_base64(b"aG=k"), None);
    }

    #[test]
    fn garbage_status_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", "-1".parse().unwrap());
        assert_eq!(classify_trailers_only(&headers), None);
        headers.insert("grpc-status", "99999999999999".parse().unwrap());
        assert_eq!(classify_trailers_only(&headers), None);
    }
}
