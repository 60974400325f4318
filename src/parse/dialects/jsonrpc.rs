//! JSON-RPC 2.0 error objects.

use super::super::dialect::RootKeys;
use super::super::extract::{code, field_errors, text, MAX_VISITED};
use super::super::{BodyVerdict, Dialect, DialectInput, ErrorFields};
use serde_json::{Map, Value};

/// JSON-RPC 2.0 errors (<https://www.jsonrpc.org/specification#error_object>):
/// `{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found",
/// "data": ...}, "id": 1}`, alone or the first error of a batch.
///
/// The code is the numeric `code` (`"-32601"`), the message `message`; a
/// string `data` that says more replaces a bare standard message, and a
/// `data` of field entries carries field errors (a map of metadata does
/// not). The reserved request errors (parse error -32700, invalid request
/// -32600, method not found -32601, invalid params -32602) are the
/// caller's fault: [`BodyVerdict::ClientFault`], never retried whatever
/// the status.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonRpcError;

impl Dialect for JsonRpcError {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let response = match input.json()? {
            Value::Object(_) if !input.has_any(RootKeys::JSONRPC) => return None,
            Value::Object(object) => rpc_error(object)?,
            Value::Array(batch) => batch
                .iter()
                .take(MAX_VISITED)
                .filter_map(Value::as_object)
                .find_map(rpc_error)?,
            _ => return None,
        };
        let number = response.get("code").and_then(Value::as_i64);
        // The codes the specification reserves (-32768 to -32000): their
        // messages are generic, so a string `data` is worth adding.
        let standard = number.is_some_and(|code| (-32768..=-32000).contains(&code));
        let data = response.get("data");
        let message = response.get("message").and_then(text);
        let data_text = data.and_then(text);
        let message = match (message, data_text) {
            (Some(message), Some(data)) if standard => Some(format!("{message}: {data}")),
            (Some(message), _) => Some(message),
            (None, data) => data,
        };
        let listed = data.filter(|&data| holds_fields(data)).map(field_errors);
        let code = response.get("code").and_then(code);
        let fields = ErrorFields::of(code, message, listed.unwrap_or_default());
        let malformed = matches!(number, Some(-32700 | -32600 | -32601 | -32602));
        Some(fields.judged(malformed.then_some(BodyVerdict::ClientFault)))
    }
}

/// The error object of a JSON-RPC 2.0 response, if it is one.
fn rpc_error(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    let version = object.get("jsonrpc")?.as_str();
    version.filter(|version| *version == "2.0")?;
    object.get("error")?.as_object()
}

/// Whether `data` holds field entries: a list of them, or a map of fields
/// to messages. A map with numbers, flags or nulls is metadata (Infura's
/// `{"see": url, "current_rps", "allowed_rps", "backoff_seconds"}`).
fn holds_fields(data: &Value) -> bool {
    let message = |value: &Value| value.is_string() || value.is_array() || value.is_object();
    data.is_array() || data.as_object().is_some_and(|m| m.values().all(message))
}
