//! The [`GrpcStatus`] dialect (feature `grpc`): the gRPC module reads the
//! status, message and rich details from the headers; this turns what it
//! read into the fields every dialect gives. Defined in and documented by
//! [`crate::grpc`].

use super::super::extract::{one_line, MAX_CODE_CHARS, MAX_MESSAGE_CHARS};
use super::super::{BodyVerdict, Dialect, DialectInput, ErrorFields};

pub use crate::grpc::GrpcStatus;

impl Dialect for GrpcStatus {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let status = GrpcStatus::read(input.headers())?;
        // Bounded as the dialects bound what they read from a body.
        let code = |text: &str| one_line(text, MAX_CODE_CHARS);
        // The `ErrorInfo` reason, more specific than the status code's name.
        let reason = status.reason.as_deref();
        let named = reason.map_or_else(|| status.code.to_owned(), code);
        let mut fields = ErrorFields::new().code(named);
        fields.message = status.message;
        fields.retry_after = status.retry_after;
        for (field, description) in &status.violations {
            fields = fields.field_error(code(field), one_line(description, MAX_MESSAGE_CHARS));
        }
        Some(fields.judged(status.quota_failure.then_some(BodyVerdict::RateLimited)))
    }
}
