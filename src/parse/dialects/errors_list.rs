//! Top-level lists of errors: `errors` in every common form.

use super::super::dialect::RootKeys;
use super::super::extract::{
    and_more, code, code_in, field_errors, message_in, one_line, text, with_causes,
    FALLBACK_CODE_KEYS, MAX_MESSAGE_CHARS, MESSAGE_KEYS,
};
use super::super::BodyVerdict::{ClientFault, Transient};
use super::super::{Dialect, DialectInput, ErrorFields};
use serde_json::{Map, Value};

/// A top-level list of errors:
///
/// - `errors` as an array of objects: JSON:API (`{"status", "code",
///   "title", "detail", "source"}`), GraphQL (`{"message", "path",
///   "extensions": {"code"}}`), Cloudflare (`{"code": 7003, "message"}`),
///   GitHub (`{"message": "Validation Failed", "errors": [{"field", "code"}]}`),
///   Square, SendGrid, and Weaviate's `{"error": [{"message"}]}`;
/// - `errors` as an object mapping fields to messages (Rails, ASP.NET);
/// - `errors` as a string or an array of strings (Shopify);
/// - FastAPI's `detail` array (`[{"loc", "msg", "type"}]`), Atlassian's
///   `errorMessages`, the Berlin Group's (NextGenPSD2) `tppMessages`
///   (`[{"category", "code", "text"}]`) and Zuora's `reasons` (`[{"code",
///   "message"}]`).
///
/// The message is a top-level `message` when there is one (GitHub), else
/// the first entry's, with "(and N more)" when there are several. The code
/// is a top-level one (Stability AI's `name`), else the first entry's (`code`, an identifier
/// `error` as Companies House sends, eBay's numeric `errorId`, GraphQL's
/// `extensions.code`, FastAPI's `type`, Gusto's `category`), else the body's category
/// (HubSpot's `category`). The first entry's `meta.retryable` (Telnyx)
/// is the body's verdict: `true` [`Transient`](super::super::BodyVerdict::Transient),
/// `false` [`ClientFault`](super::super::BodyVerdict::ClientFault).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsList;

impl Dialect for ErrorsList {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        // `error` too: Weaviate's is a list (read below only when it is one).
        let keys = RootKeys::ERRORS | RootKeys::ERROR_MESSAGES | RootKeys::DETAIL;
        let object = input.object_with(keys | RootKeys::ERROR)?;
        // Mastercard's `{"Errors": {"Error": [...]}}` and QuickBooks'
        // `{"Fault": {"Error": [...]}}` are the same list, wrapped.
        let wrapper = object.get("Errors").or(object.get("Fault"));
        let wrapped = wrapper.and_then(|wrapper| wrapper.get("Error"));
        // Weaviate's `error`, a list of objects (not Kraken's strings), and
        // FastAPI's `detail` list, last.
        let weaviate = object.get("error").filter(|e| e[0].is_object());
        let detail = object.get("detail").filter(|v| v.is_array());
        let list = ["errors", "errorMessages", "tppMessages", "reasons"]
            .iter()
            .map(|key| object.get(*key))
            .chain([wrapped, weaviate, detail])
            .find_map(|list| list.filter(|v| !is_empty(v)))?;

        let entries = list.as_array().map_or(&[][..], Vec::as_slice);
        let first = entries.first().and_then(Value::as_object);

        // Contentstack's `error_message` ("human-readable summary") too.
        let message_keys = [
            "message",
            "Message",
            "error_description",
            "error_message",
            "title",
        ];
        let message = message_in(object, &message_keys)
            .map(|message| with_causes(message, Some(list)))
            .or_else(|| first_message(list, first, entries.len()));

        // Stability AI's `name` (`bad_request`) too.
        let code = code_in(object, &["code", "error_code", "errorCode", "name"])
            .or_else(|| object.get("error").and_then(code))
            .or_else(|| first.and_then(entry_code))
            .or_else(|| code_in(object, FALLBACK_CODE_KEYS));

        let mut errors = field_errors(list);
        // Atlassian pairs `errorMessages` with an `errors` field map.
        if let Some(map) = object.get("errors").filter(|map| !std::ptr::eq(list, *map)) {
            errors.extend(field_errors(map));
        }
        // Telnyx's `meta.retryable` (its Porting API errors): true, the same
        // request can succeed; false, it cannot as sent.
        let retryable = first.and_then(|entry| entry.get("meta")?.get("retryable")?.as_bool());
        let fields = ErrorFields::of(code, message, errors);
        Some(fields.judged(retryable.map(|yes| if yes { Transient } else { ClientFault })))
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(s) => s.trim().is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// The first entry's message (for a list of objects or strings), or a
/// string list's text, or a field map's first "field: message".
fn first_message(list: &Value, first: Option<&Map<String, Value>>, count: usize) -> Option<String> {
    let message = match list {
        Value::String(_) => return text(list),
        Value::Object(map) => {
            let (field, messages) = map.iter().next()?;
            let message = match messages {
                Value::Array(items) => items.iter().find_map(text)?,
                other => text(other)?,
            };
            format!("{field}: {message}")
        }
        Value::Array(items) => match first {
            Some(entry) => message_in(entry, MESSAGE_KEYS).or_else(|| entry_code(entry))?,
            None => items.iter().find_map(text)?,
        },
        _ => return None,
    };
    Some(one_line(&and_more(message, count), MAX_MESSAGE_CHARS))
}

fn entry_code(entry: &Map<String, Value>) -> Option<String> {
    code_in(entry, &["code", "error_code", "errorCode", "error"])
        // eBay's `ErrorDetailV3.errorId`, a number ("a unique code that
        // identifies the particular error condition"); a string `errorId`
        // elsewhere may name the occurrence, not the condition.
        .or_else(|| code(entry.get("errorId").filter(|id| id.is_number())?))
        .or_else(|| code_in(entry.get("extensions")?.as_object()?, &["code"]))
        // Mastercard's `ReasonCode`, Gusto's `category`.
        .or_else(|| code_in(entry, &["ReasonCode", "type", "category", "id"]))
}
