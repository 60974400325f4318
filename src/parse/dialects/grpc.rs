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
        if let Some(message) = status.message {
            fields = fields.message(message);
        }
        if let Some(reason) = &status.reason {
            fields = fields.code(bounded_code(reason));
        }
        if let Some(delay) = status.retry_after {
            fields = fields.retry_after(delay);
        }
        for (field, description) in &status.violations {
            fields = fields.field_error(bounded_code(field), bounded_message(description));
        }
        if status.quota_failure {
            fields = fields.verdict(BodyVerdict::RateLimited);
        }
        Some(fields)
    }
}
