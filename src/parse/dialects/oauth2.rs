//! OAuth 2.0-shaped errors (RFC 6749 §5.2): `error` + `error_description`.

use super::super::dialect::RootKeys;
use super::super::extract::{code, field_errors, text};
use super::super::{Dialect, DialectInput, ErrorFields};

/// OAuth 2.0-shaped errors: `{"error": "invalid_token", "error_description":
/// "..."}`, as seed 003 uses for every error, with its extensions:
/// `validation_errors` (`[{"field", "message"}]`) and `retry_after`.
///
/// Recognised by a string `error` beside `error_description` or
/// `validation_errors`. The code is `error`, the message
/// `error_description`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuth2Error;

impl Dialect for OAuth2Error {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        // The mask test is the `error_description` or `validation_errors`
        // member's presence.
        let object =
            input.object_with(RootKeys::ERROR_DESCRIPTION | RootKeys::VALIDATION_ERRORS)?;
        let error = object.get("error").filter(|v| v.is_string())?;
        let (code, message) = (code(error), object.get("error_description").and_then(text));
        let listed = object.get("validation_errors").map(field_errors);
        Some(ErrorFields::of(code, message, listed.unwrap_or_default()))
    }
}
