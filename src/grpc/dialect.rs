//! [`GrpcStatus`]: what a trailers-only gRPC response says about its
//! failure (status, message, rich details), read from its headers.

use super::status::{code_name, decode_grpc_message, grpc_status};
use crate::hints::MAX_HINT;
use crate::redact::decode_base64;
use http::{HeaderMap, HeaderName};
use std::time::Duration;

const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// Field violations kept from a `BadRequest` detail, at most.
const MAX_VIOLATIONS: usize = 100;

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
/// | `RetryInfo` | its `retry_delay` is the hint (as the body's; a pushback header wins); a negative or out-of-range one is none |
/// | `BadRequest` | its field violations are the field errors |
/// | `QuotaFailure` | the failure is a quota: [`BodyVerdict::RateLimited`](crate::parse::BodyVerdict) |
///
/// Undecodable details are ignored: the status and message still stand.
/// Codes and messages are bounded as every dialect bounds them, and at most
/// 100 field errors are kept.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::grpc::GrpcStatus;
/// use tower_api_errors::parse::ErrorParser;
/// use tower_api_errors::ErrorKind;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("grpc-status", "8".parse().unwrap());
/// headers.insert("grpc-message", "quota%20exhausted".parse().unwrap());
/// let error = ErrorParser::new().dialect(GrpcStatus).parse(StatusCode::OK, &headers, b"");
/// assert_eq!(error.code(), Some("RESOURCE_EXHAUSTED"));
/// assert_eq!(error.message(), "quota exhausted");
/// assert_eq!(error.kind(), ErrorKind::RateLimited);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatus;

/// What [`GrpcStatus`] reads from a response's headers, as plain data (the
/// parse layer turns it into its fields).
#[derive(Debug, Default)]
pub(crate) struct StatusFields {
    /// The `grpc-status` name.
    pub(crate) code: &'static str,
    /// The decoded `grpc-message`.
    pub(crate) message: Option<String>,
    /// `ErrorInfo.reason`, trimmed and not empty: the better code.
    pub(crate) reason: Option<String>,
    /// `RetryInfo.retry_delay`, at most the longest hint.
    pub(crate) retry_after: Option<Duration>,
    /// `BadRequest` field violations: (field, description).
    pub(crate) violations: Vec<(String, String)>,
    /// A `QuotaFailure` detail was there.
    pub(crate) quota_failure: bool,
}

impl GrpcStatus {
    /// The failure a trailers-only response's headers describe; `None`
    /// without a readable `grpc-status`.
    pub(crate) fn read(headers: &HeaderMap) -> Option<StatusFields> {
        let code = grpc_status(headers)?;
        let mut fields = StatusFields {
            code: code_name(code),
            message: headers
                .get(GRPC_MESSAGE)
                .map(|message| decode_grpc_message(message.as_bytes())),
            ..StatusFields::default()
        };
        read_status_details(headers, &mut fields);
        Some(fields)
    }
}

/// Adds what `grpc-status-details-bin` says to `fields` (see [`GrpcStatus`]).
///
/// Bounded: the header is as long as the HTTP layer allows, decoding
/// (base64, then protobuf) is linear in it, and at most 100 field
/// violations are kept. `None` when there are none, or they do not decode.
fn read_status_details(headers: &HeaderMap, fields: &mut StatusFields) -> Option<()> {
    use prost::Message;
    use tonic_types::{pb, RpcStatusExt};
    let bytes = status_details(headers)?;
    let mut status = pb::Status::decode(&bytes[..]).ok()?;
    // A `RetryInfo` whose delay is negative or out of a Duration's range
    // (protobuf's `duration.proto`) is no hint, and is dropped before
    // tonic-types converts it: prost-types negates a negative one, which
    // overflows for `i64::MIN` seconds (a panic with overflow checks on).
    status.details.retain(|any| {
        let info = || pb::RetryInfo::decode(&any.value[..]).ok()?.retry_delay;
        let delay = (any.type_url == tonic_types::RetryInfo::TYPE_URL).then(info);
        delay.flatten().is_none_or(|d| {
            (0..=315_576_000_000).contains(&d.seconds) && (0..1_000_000_000).contains(&d.nanos)
        })
    });
    let details = status.check_error_details().ok()?;
    fields.reason = details
        .error_info()
        .map(|info| info.reason.trim())
        .filter(|reason| !reason.is_empty())
        .map(str::to_owned);
    fields.retry_after = details
        .retry_info()
        .and_then(|info| info.retry_delay)
        .map(|delay| delay.min(MAX_HINT));
    let violations = details
        .bad_request()
        .map_or(&[][..], |bad| &bad.field_violations);
    let pair = |v: &tonic_types::FieldViolation| (v.field.clone(), v.description.clone());
    fields.violations = violations.iter().take(MAX_VIOLATIONS).map(pair).collect();
    fields.quota_failure = details.quota_failure().is_some();
    Some(())
}

/// What tonic makes a trailers-only failure's status metadata (every
/// header but the status's own three), less any header that may hold a
/// credential (a secret-looking name, a cookie): a `tonic::Status` prints
/// its metadata. Bounded by the response's headers.
pub(crate) fn status_metadata(headers: &HeaderMap) -> HeaderMap {
    const OWN: [&str; 5] = [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "cookie",
        "set-cookie",
    ];
    let kept = headers.iter().filter(|(name, _)| {
        !OWN.contains(&name.as_str()) && !crate::redact::is_secret_name(name.as_str())
    });
    kept.map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// A response's `grpc-status-details-bin`, decoded: the bytes of a
/// `google.rpc.Status`. (Decoded here, not by
/// `tonic::Status::from_header_map`: that panics on invalid base64 and
/// copies every header.)
pub(crate) fn status_details(headers: &HeaderMap) -> Option<Vec<u8>> {
    decode_base64(headers.get(GRPC_STATUS_DETAILS)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn no_status_no_fields() {
        assert!(GrpcStatus::read(&HeaderMap::new()).is_none());
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", "14".parse().unwrap());
        headers.insert("grpc-status-details-bin", "!!not base64".parse().unwrap());
        let fields = GrpcStatus::read(&headers).unwrap();
        assert_eq!(fields.code, "UNAVAILABLE");
        assert!(fields.message.is_none() && fields.reason.is_none());
    }
}
