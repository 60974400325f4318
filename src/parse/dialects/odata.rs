//! OData errors: v2/v3's `{lang, value}` messages and `odata.error`.

use super::super::dialect::RootKeys;
use super::super::extract::{code_in, field_errors, nested_code, text};
use super::super::{Dialect, DialectInput, ErrorFields};
use serde_json::Value;

/// OData errors in the shapes that differ from the common nested one:
///
/// - OData v2 and v3 (verbose JSON, SAP Gateway, SharePoint):
///   `{"error": {"code": "...", "message": {"lang": "en-US", "value": "..."},
///   "innererror": {...}}}`;
/// - OData v3 JSON light: the same under `"odata.error"`.
///
/// The message is `message.value` (or a string `message`); the code the
/// deepest `innererror` code, else `code` (an empty code is none). Field
/// errors come from `details` (`target`) and SAP's
/// `innererror.errordetails` (`propertyref`). OData v4
/// (`{"error": {"code", "message", "target", "details", "innererror"}}`)
/// is read by [`NestedError`](super::NestedError).
#[derive(Debug, Clone, Copy, Default)]
pub struct ODataError;

impl Dialect for ODataError {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let root = input.object_with(RootKeys::ODATA_ERROR | RootKeys::ERROR_OBJECT)?;
        let (error, light) = match root.get("odata.error") {
            Some(error) => (error.as_object()?, true),
            None => (root.get("error")?.as_object()?, false),
        };
        let message = match error.get("message")? {
            Value::Object(localized) => localized.get("value").and_then(text),
            message if light => text(message),
            _ => return None,
        };
        let code = nested_code(error).or_else(|| code_in(error, &["code"]));
        let sap = error.get("innererror").and_then(|i| i.get("errordetails"));
        let lists = [error.get("details"), sap].into_iter().flatten();
        let errors = lists.flat_map(field_errors).collect();
        Some(ErrorFields::of(code, message, errors))
    }
}
