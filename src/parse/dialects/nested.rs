//! `{"error": {...}}`: an error object under `error`.

use super::super::dialect::RootKeys;
use super::super::extract::{
    code, code_in, field_errors_under, is_number, message_in, named_field, nested_code, substitute,
    with_causes, MESSAGE_KEYS,
};
use super::super::{BodyVerdict, Dialect, DialectInput, ErrorFields};
use serde_json::{Map, Value};

/// An error object under `error` (or under `status`, or an object `detail`
/// as FastAPI's `HTTPException` sends ElevenLabs' errors, when it holds a
/// message, as CoinGecko's and CoinMarketCap's `{"status": {"error_code",
/// "error_message"}}`, or GSMA OneAPI's `{"requestError":
/// {"serviceException" | "policyException": {"messageId", "text",
/// "variables"}}}`, whose `messageId` is the code and whose `text` has its
/// `%1`, `%2`... filled from `variables`): seed 002's `{"error": {"code": 404 |
/// "VERSION_OUTDATED", "message", "retry_after", ...}}`, Google and Azure's
/// `{"error": {"code", "message", "status", "details": [...]}}`, OpenAI,
/// Stripe and Anthropic's `{"error": {"type", "code", "message", "param"}}`.
///
/// The code prefers a string over a number, because a numeric `code` in
/// these bodies usually repeats the HTTP status while a string names the
/// error: a string `code`, then `status` (Google's `"RESOURCE_EXHAUSTED"`),
/// then `type`, then the numeric `code` stringified (`"404"`), then a
/// numeric `id` (SurveyMonkey's `"1014"`). Field errors
/// come from `details` (Google's `BadRequest.fieldViolations`, Azure's
/// `target`, Hetzner Cloud's `fields`), `errors` (Google's older
/// `{"location", "message"}` list), Recurly's `params`, Bitbucket Cloud's
/// `fields` map and Stripe's `param` (Razorpay's `field`); a list of plain
/// strings under `errors` (PagerDuty's) adds its first to the message. When codes
/// nest, the most specific wins: the deepest `innererror` code (Azure,
/// OData v4), a Google `ErrorInfo.reason` in `details` or an older
/// `errors[].reason`. A `google.rpc.QuotaFailure` in `details` marks a
/// quota ([`BodyVerdict::RateLimited`]); Facebook's
/// `is_transient: true` is [`BodyVerdict::Transient`], and
/// [`BodyVerdict::Throttled`] with its rate-limit codes (4, 17, 32, 613).
/// Everything else in the object (a 426's `min_version`
/// and `update_url`) is in [`ApiError::details`](crate::ApiError::details).
#[derive(Debug, Clone, Copy, Default)]
pub struct NestedError;

impl Dialect for NestedError {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let root = input.object_with(RootKeys::ERROR_OBJECT)?;
        // CoinGecko and CoinMarketCap nest it under `status`: read when it
        // holds a message (another `status` object is data); GSMA OneAPI
        // under `requestError`, as a service or a policy exception.
        let [error, status, request] = ["error", "status", "requestError"].map(|key| root.get(key));
        // FastAPI's `HTTPException` with an object `detail` (ElevenLabs).
        let status = root.get("detail").filter(|d| d.is_object()).or(status);
        let exception = ["serviceException", "policyException"];
        let one_api = request.and_then(|r| exception.iter().find_map(|key| r.get(*key)));
        let in_status = error.is_none() && one_api.is_none();
        let error = error.or(one_api).or(status)?.as_object()?;
        let message = message_in(error, MESSAGE_KEYS).or_else(|| {
            // Google's older shape keeps the text in `errors[0].message`.
            let first = error.get("errors")?.as_array()?.first()?.as_object()?;
            message_in(first, MESSAGE_KEYS)
        });
        // Qdrant's `ErrorResponse` describes its error in `status.error`.
        let message = message.or_else(|| in_status.then(|| message_in(error, &["error"]))?);
        if in_status && message.is_none() {
            return None;
        }
        let variables = one_api.and_then(|_| error.get("variables"));
        // PagerDuty's `errors`, plain strings, say what its generic message does not.
        let causes = error.get("errors");
        let message = message.map(|text| with_causes(substitute(text, variables), causes));
        let string_code = [
            "code",
            "status",
            "type",
            "error_code",
            "errorCode",
            "reason",
        ]
        .iter()
        .find_map(|key| error.get(*key).filter(|v| v.is_string()).and_then(code));
        let message_id = one_api.and_then(|_| error.get("messageId")).and_then(code);
        let code = message_id
            .or_else(|| nested_code(error))
            .or(string_code)
            .or_else(|| code_in(error, &["code", "error_code", "status"]))
            // SurveyMonkey's `id` ("1014") is its error code; a word or a
            // UUID there names the occurrence.
            .or_else(|| error.get("id").and_then(code).filter(|id| is_number(id)));
        let mut errors = field_errors_under(error, &["details", "errors", "params", "fields"]);
        errors.extend(named_field(error, message.as_deref()));
        let fields = ErrorFields::of(code, message, errors);
        Some(fields.judged(transient_verdict(error).or_else(|| google_rpc_verdict(error))))
    }
}

/// Facebook's Graph API marks errors that a retry may fix with
/// `is_transient`; its throttles are codes 4 (application), 17 (user), 32
/// (page) and 613 (custom rate limit).
fn transient_verdict(error: &Map<String, Value>) -> Option<BodyVerdict> {
    let transient = error.get("is_transient")?.as_bool()?;
    let verdict = match error.get("code").and_then(Value::as_i64) {
        Some(4 | 17 | 32 | 613) => BodyVerdict::Throttled,
        _ => BodyVerdict::Transient,
    };
    transient.then_some(verdict)
}

/// A `google.rpc.QuotaFailure` among JSON-transcoded `details` (each with
/// its `@type`) marks a quota. (`RetryInfo` is read as the body's hint,
/// `ErrorInfo.reason` as the code, `BadRequest` as field errors.)
fn google_rpc_verdict(error: &Map<String, Value>) -> Option<BodyVerdict> {
    let quota = error
        .get("details")?
        .as_array()?
        .iter()
        .take(super::super::extract::MAX_VISITED)
        .filter_map(|detail| detail.get("@type")?.as_str())
        .any(|kind| kind.ends_with("google.rpc.QuotaFailure"));
    quota.then_some(BodyVerdict::RateLimited)
}
