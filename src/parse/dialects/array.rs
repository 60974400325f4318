//! A top-level JSON array of errors (Salesforce).

use super::super::extract::{
    and_more, code_in, field_errors, message_in, one_line, text, CODE_KEYS, MAX_CODE_CHARS,
    MAX_FIELD_ERRORS, MAX_VISITED, MESSAGE_KEYS,
};
use super::super::{Dialect, DialectInput, ErrorFields};
use crate::FieldError;
use serde_json::Value;

/// A top-level array of error objects, as Salesforce sends for every error:
/// `[{"message": "...", "errorCode": "INVALID_FIELD", "fields": ["Name"]}]`,
/// or an array of strings; Bitfinex's one error as a triple, `["error",
/// 10020, "limit: invalid"]` (code and message).
///
/// The message and code are the first entry's (with "(and N more)" when
/// there are several); each entry's `fields` (a list of names) gives field
/// errors with that entry's message, as do entries that name their field.
/// At most 1024 entries are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorArray;

impl Dialect for ErrorArray {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let items = input.json()?.as_array()?;
        let (message, code, len) = match items.as_slice() {
            // Bitfinex: one error as a triple, `["error", 10020, "limit: invalid"]`.
            [Value::String(tag), Value::Number(number), message @ Value::String(_)]
                if tag == "error" =>
            {
                (text(message), Some(number.to_string()), 1)
            }
            [Value::Object(entry), ..] => (
                message_in(entry, MESSAGE_KEYS),
                code_in(entry, CODE_KEYS),
                items.len(),
            ),
            [other, ..] => (text(other), None, items.len()),
            [] => return None,
        };
        message.as_ref().or(code.as_ref())?;
        let message = message.map(|message| and_more(message, len));
        let entries = items.iter().take(MAX_VISITED).filter_map(Value::as_object);
        let named = entries.filter_map(|entry| Some((entry, entry.get("fields")?.as_array()?)));
        let mut errors: Vec<FieldError> = named
            .flat_map(|(entry, names)| {
                let what =
                    message_in(entry, MESSAGE_KEYS).unwrap_or_else(|| "is invalid".to_owned());
                let names = names.iter().take(MAX_FIELD_ERRORS).filter_map(text);
                names
                    .map(move |name| FieldError::new(one_line(&name, MAX_CODE_CHARS), what.clone()))
            })
            .take(MAX_FIELD_ERRORS)
            .collect();
        if errors.is_empty() {
            errors = field_errors(input.json()?);
        }
        Some(ErrorFields::of(code, message, errors))
    }
}
