//! Flat error objects: message and code as top-level members.

use super::super::extract::{
    code_in, field_errors, is_identifier, message_in, text, CODE_KEYS, MESSAGE_KEYS,
};
use super::super::{Dialect, DialectInput, ErrorFields};

/// A flat error object, the catch-all for JSON objects:
///
/// - seed 000's `{"error": "Human-readable"}`;
/// - seed 004's `{"error": "Payment Required", "message": "Insufficient balance"}`,
///   and the Spring/NestJS/Fastify defaults of the same shape;
/// - `{"message": ...}` (GitHub, Mailgun), `{"detail": ...}` (Django REST),
///   `{"code", "message"}` (Twilio, Heroku), `{"__type", "message"}` (AWS),
///   `{"errorCode", "errorSummary"}` (Okta), `{"name", "message",
///   "details"}` (PayPal), `{"ok": false, "error": "invalid_auth"}` (Slack).
///
/// Human text wins the message; a type name becomes the code. A string
/// `error` is the code when another member holds the message or when it
/// reads as an identifier (`invalid_auth`), and the message otherwise
/// (`"Invalid API token provided"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatError;

impl Dialect for FlatError {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let object = input.json()?.as_object()?;
        let mut message = message_in(object, MESSAGE_KEYS);
        let mut code = code_in(object, CODE_KEYS);
        if let Some(error) = object.get("error").and_then(text) {
            if message.is_some() || is_identifier(&error) {
                // A type name ("Payment Required") or an identifier: the code,
                // unless a more specific code member already gave one.
                code = code.or(Some(error));
            } else {
                message = Some(error);
            }
        }
        if message.is_none() && code.is_none() {
            return None;
        }
        let mut fields = ErrorFields::new();
        fields.set_message(message);
        fields.set_code(code);
        // Lists only: an object under `details` is data (Kubernetes' Status),
        // not a field map.
        let errors = ["details", "errorCauses"]
            .iter()
            .filter_map(|key| object.get(*key).filter(|v| v.is_array()))
            .flat_map(field_errors)
            .collect();
        fields.set_field_errors(errors);
        Some(fields)
    }
}
