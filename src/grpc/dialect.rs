//! The [`GrpcStatus`] dialect (feature `grpc`): trailers-only gRPC
//! failures and their rich details. Re-exported from [`crate::grpc`].

use crate::classify::grpc::{code_name, decode_grpc_message, grpc_status};
use crate::parse::{Dialect, DialectInput, ErrorFields};
use http::{HeaderMap, HeaderName};

const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

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
/// `None` for anything else. The `base64` crate (already in every tonic
/// build), set to accept either padding.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{
        general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig,
    };
    use base64::Engine;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
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
}
