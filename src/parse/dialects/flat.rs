//! Flat error objects: message and code as top-level members.

use super::super::dialect::RootKeys;
use super::super::extract::{
    code, code_in, field_errors, field_errors_under, is_identifier, is_number, message_in,
    named_field, nested_code, one_line, substitute, text, CODE_KEYS, FALLBACK_CODE_KEYS,
    MAX_CODE_CHARS, MAX_FIELD_ERRORS, MAX_VISITED, MESSAGE_KEYS,
};
use super::super::{Dialect, DialectInput, ErrorFields};
use crate::FieldError;
use serde_json::{Map, Value};

/// A flat error object, the catch-all for JSON objects:
///
/// - seed 000's `{"error": "Human-readable"}`;
/// - seed 004's `{"error": "Payment Required", "message": "Insufficient balance"}`,
///   and the Spring/NestJS/Fastify defaults of the same shape;
/// - Kraken's list `{"error": ["EAPI:Rate limit exceeded"]}`, read as
///   one string;
/// - `{"message": ...}` (GitHub, Mailgun), `{"detail": ...}` (Django REST),
///   `{"code", "message"}` (Twilio), `{"id", "message"}` (Heroku),
///   `{"__type", "message"}` (AWS),
///   `{"errorCode", "errorSummary"}` (Okta), `{"message", "parameters"}`
///   (Adobe Commerce: `%1`... filled in), `{"name", "message",
///   "details"}` (PayPal), `{"ok": false, "error": "invalid_auth"}` (Slack),
///   `{"status", "err"}` (Figma), `{"status": "error", "message",
///   "errorType" | "category"}` (HubSpot), `{"sys": {"type": "Error", "id"},
///   "message"}` (Contentful: `sys.id` is the code), `{"status": "0",
///   "message": "NOTOK", "result": "Max rate limit reached"}` (Etherscan:
///   the cause in `result`, the status word the code), `{"Type",
///   "Message", "Elements"}` (Xero: the first `ValidationErrors` message);
/// - GitLab's `message` object: `{"message": {"error": "..."}}`, or a map
///   of fields (and embedded entities) to messages, `{"message": {"bio":
///   ["is too long"]}}`, which gives field errors and, from the first, the
///   message (`"bio: is too long"`).
///
/// Human text wins the message; a type name becomes the code (a category,
/// HubSpot's `category` or `errorType`, or Heroku's `id`, only when nothing
/// else does), and the most
/// specific code wins when codes nest (PayPal's `details[].issue`, a string
/// `reason` over a numeric `code` as Kubernetes' `Status` has, Supabase
/// Auth's `error_code`, Appwrite's `type` beside a `code` that is the
/// status). Field
/// errors come from a `details` list or map of fields to lists (Zendesk's
/// `{"requester": [{"description"}]}`), Kubernetes' `details.causes`,
/// Okta's `errorCauses` (whose `"login: already exists"` summaries name
/// their field), Kustom's `validation_errors`, WordPress's `data.params`
/// PocketBase's `data` (fields to `{"code", "message"}`), Box's
/// `context_info.errors` and a `param` or
/// `field` naming the one field at fault. A string
/// `error` is the code when another member holds the message or when it
/// reads as an identifier (`invalid_auth`), and the message otherwise
/// (`"Invalid API token provided"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatError;

impl Dialect for FlatError {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let object = input.json()?.as_object()?;
        // Adobe Commerce fills its message's `%1`... from `parameters`.
        let parameters = object.get("parameters");
        let mut message = message_in(object, MESSAGE_KEYS).map(|text| substitute(text, parameters));
        // Codes nest only under these keys (a mask test, not four lookups).
        let nests = input.has_any(RootKeys::INNER_ERROR | RootKeys::DETAILS | RootKeys::ERRORS);
        let mut code = nests
            .then(|| nested_code(object))
            .flatten()
            .or_else(|| code_in(object, CODE_KEYS))
            .or_else(|| sys_code(object))
            .or_else(|| code_in(object, FALLBACK_CODE_KEYS));
        // A numeric code repeats the status; a string `error_code`
        // (Supabase Auth's) or `reason` (Kubernetes') names the error, and a
        // `type` does beside a code that is the status itself (Appwrite's
        // `user_invalid_credentials`: a code other than the status, as
        // Mistral's `1300`, says more than its `type`).
        if code.as_deref().is_some_and(is_number) {
            let is_status = code.as_deref() == Some(input.status().as_str());
            let type_too = is_status.then_some("type");
            let mut keys = ["error_code", "reason"].into_iter().chain(type_too);
            code = keys.find_map(|key| identifier(object, key)).or(code);
        }
        // Kraken lists its errors: `{"error": ["EAPI:Rate limit exceeded"]}`.
        if let Some(error) = message_in(object, &["error"]) {
            if message.is_some() || is_identifier(&error) {
                // A type name ("Payment Required") or an identifier: the code,
                // unless a more specific code member already gave one.
                code = code.or(Some(error));
            } else {
                message = Some(error);
            }
        }
        // An envelope whose `status` is `0` names its cause in `result`,
        // Xero's validation failure in its `Elements`.
        if let Some(cause) = hidden_cause(object, message.as_deref()) {
            code = code.or(message.take());
            message = Some(cause);
        }
        // GitLab nests the message: its text under `error`, or (validation)
        // a map of fields and embedded entities to messages, the first of
        // which says it.
        let mut errors = Vec::new();
        if let Some(nested) = object.get("message").filter(|m| m.is_object()) {
            message = message
                .or_else(|| nested.get("error").and_then(text))
                .or_else(|| {
                    errors = field_errors(nested);
                    let first = errors.first()?;
                    Some(format!("{}: {}", first.field(), first.message()))
                });
        }
        message.as_ref().or(code.as_ref())?;
        // WordPress REST's `rest_invalid_param`: `{"code", "message", "data":
        // {"status": 400, "params": {"status": "status is not one of ..."}}}`.
        // Box's `context_info` holds, per endpoint, `errors`: `[{"reason",
        // "name", "message"}]`; Kubernetes' `Status` its `details.causes`.
        let data = |at| input.json().and_then(|json| json.pointer(at));
        let wordpress = data("/data/status").and(data("/data/params"));
        let causes = data("/details/causes");
        let lists = [wordpress, data("/context_info/errors"), causes];
        errors.extend(lists.into_iter().flatten().flat_map(field_errors));
        errors.extend(keyed_errors(data("/data")));
        errors.extend(named_field(object, message.as_deref()));
        if input.has_any(RootKeys::DETAILS | RootKeys::ERROR_CAUSES | RootKeys::VALIDATION_ERRORS) {
            let lists = ["details", "errorCauses", "validation_errors"];
            errors.extend(field_errors_under(object, &lists));
            if let Some(causes) = object.get("errorCauses").and_then(Value::as_array) {
                errors.extend(summary_field_errors(causes));
            }
        }
        errors.truncate(MAX_FIELD_ERRORS);
        Some(ErrorFields::of(code, message, errors))
    }
}

/// The cause of an Etherscan-style failure: "an API call that encounters
/// an error will return 0 as its status code and display the cause of the
/// error under the result field" (docs.etherscan.io, "Common Error
/// Messages"; the explorers built on its API answer alike), `message`
/// being a status word: `{"status": "0", "message": "NOTOK", "result":
/// "Max rate limit reached"}`. That word becomes the code. Or Xero's
/// first validation error: its `ValidationException`'s `Message` says only
/// "A validation exception occurred", the causes are in
/// `Elements[].ValidationErrors[].Message` (developer.xero.com, "HTTP
/// response codes and errors").
fn hidden_cause(object: &Map<String, Value>, word: Option<&str>) -> Option<String> {
    let elements = object.get("Elements").and_then(Value::as_array).into_iter();
    let first = |e: &Value| e.pointer("/ValidationErrors/0/Message").and_then(text);
    // `"0"` or `0`: a code reads both alike.
    let zero = object.get("status").and_then(code).as_deref() == Some("0");
    let gate = |_: &&Value| zero && word.is_some_and(is_identifier);
    let result = object.get("result").filter(gate).and_then(text);
    let xero = elements.flatten().take(MAX_VISITED).find_map(first);
    xero.or(result.filter(|cause| !is_number(cause)))
}

/// A member that reads as an identifier, other than the generic word
/// `error` (Box's and Anthropic's `type`).
fn identifier(object: &Map<String, Value>, key: &str) -> Option<String> {
    let found = object.get(key).and_then(text)?;
    (is_identifier(&found) && found != "error").then_some(found)
}

/// PocketBase's `data`, a map of fields to `{"code", "message"}` errors
/// (pocketbase.io/docs/api-records: create's 400).
fn keyed_errors(data: Option<&Value>) -> impl Iterator<Item = FieldError> + '_ {
    let fields = data.and_then(Value::as_object).into_iter().flatten();
    fields.take(MAX_VISITED).filter_map(|(field, error)| {
        let message = error.get("code").and(error.get("message")).and_then(text)?;
        Some(FieldError::new(one_line(field, MAX_CODE_CHARS), message))
    })
}

/// Contentful's code: `{"sys": {"type": "Error", "id": "RateLimitExceeded"}}`
/// (any other `sys` describes a resource).
fn sys_code(object: &Map<String, Value>) -> Option<String> {
    let sys = object.get("sys")?;
    (sys.get("type")? == "Error").then(|| sys.get("id").and_then(code))?
}

/// Okta's `errorCauses`: `[{"errorSummary": "login: An object with this
/// field already exists"}]`, whose field is the summary's prefix when it
/// reads as a name.
fn summary_field_errors(causes: &[Value]) -> Vec<FieldError> {
    causes
        .iter()
        .take(MAX_VISITED)
        .filter_map(|cause| {
            let object = cause.as_object()?;
            if object.contains_key("field") {
                return None; // read by `field_errors` already
            }
            let summary = object.get("errorSummary").and_then(text)?;
            let (field, message) = summary.split_once(": ")?;
            let named = !field.is_empty()
                && field.len() <= MAX_CODE_CHARS
                && field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
            named.then(|| FieldError::new(one_line(field, MAX_CODE_CHARS), message.to_owned()))
        })
        .take(MAX_FIELD_ERRORS)
        .collect()
}
