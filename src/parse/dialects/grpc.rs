//! The [`GrpcStatus`] dialect (feature `grpc`): the gRPC module reads the
//! status, message and rich details from the headers; this turns what it
//! read into the fields every dialect gives. Defined in and documented by
//! [`crate::grpc`].

use crate::parse::{
    bounded_code, bounded_message, BodyVerdict, Dialect, DialectInput, ErrorFields,
};

pub use crate::grpc::GrpcStatus;

impl Dialect for GrpcStatus {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let status = GrpcStatus::read(input.headers())?;
        let mut fields = ErrorFields::new().code(status.code);
        fields.message = status.message;
        if let Some(reason) = &status.reason {
            fields = fields.code(bounded_code(reason));
        }
        fields.retry_after = status.retry_after;
        for (field, description) in &status.violations {
            fields = fields.field_error(bounded_code(field), bounded_message(description));
        }
        fields.verdict = status.quota_failure.then_some(BodyVerdict::RateLimited);
        Some(fields)
    }
}
