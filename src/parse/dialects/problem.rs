//! RFC 9457 problem details.

use super::super::dialect::RootKeys;
use super::super::extract::{code_in, field_errors_under, message_in, named_field};
use super::super::{Dialect, DialectInput, ErrorFields};

/// RFC 9457 problem details: `{"type", "title", "status", "detail",
/// "instance", ...extensions}`.
///
/// Recognised by a problem media type (`application/problem+json`, or any
/// `…problem+json`), or, without one, by an object with `title` or
/// `detail` beside `type` or a numeric `status` and no `error` member.
///
/// The message is `detail`, else `title`. The code is an extension `code`
/// (or `error_code`), else the `type` URI unless it is `about:blank`;
/// never `title`, a human summary (RFC 9457 §3.1.3; under `about:blank`
/// the status phrase), no code to read a verdict from. Field errors come
/// from an `errors` list (`{"detail", "pointer"}`, as RFC 9457's own
/// example), an `errors` map (ASP.NET), or `invalid-params` (RFC 7807's
/// example), or one `field` named beside the message (Mollie's). Oracle's
/// REST errors (NetSuite) are problems whose cause is the first entry of
/// `o:errorDetails`: its `detail` is the message, its `o:errorCode` the
/// code.
/// Extension members stay available through [`ApiError::details`](crate::ApiError::details).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetails;

/// A problem's code: an extension's, else its `type` (Oracle's
/// `o:errorCode` first: "the error category in a machine-friendly format").
const CODE_KEYS: &[&str] = &["o:errorCode", "code", "error_code", "errorCode", "type"];

impl Dialect for ProblemDetails {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let json = input.json()?;
        let object = json.as_object()?;
        const SUFFIX: &str = "problem+json";
        let ct = input.content_type().unwrap_or_default();
        let tail = ct.get(ct.len().saturating_sub(SUFFIX.len())..);
        let media_type = tail.is_some_and(|tail| tail.eq_ignore_ascii_case(SUFFIX));
        // Without the media type, the shape needs a text member and a
        // problem member (a mask test before any lookup).
        let may_be_shaped = input.has_any(RootKeys::TITLE | RootKeys::DETAIL)
            && input.has_any(RootKeys::TYPE | RootKeys::STATUS);
        if !(media_type || may_be_shaped) {
            return None;
        }
        // (Indexing a JSON value gives `null` for a missing member.)
        let has_text = json["title"].is_string() || json["detail"].is_string();
        let has_problem_member = object.contains_key("type") || json["status"].is_number();
        let shaped = has_text && has_problem_member && object.get("error").is_none();
        if !(media_type || shaped) {
            return None;
        }
        // Oracle's REST errors (NetSuite) hold the cause in `o:errorDetails`,
        // with its `detail` and its `o:errorCode`.
        let cause = json["o:errorDetails"][0].as_object().unwrap_or(object);
        let message = message_in(cause, &["detail", "title"]);
        let code = code_in(cause, CODE_KEYS);
        let lists = ["errors", "invalid-params", "invalid_params", "violations"];
        let mut errors = field_errors_under(object, &lists);
        errors.extend(named_field(object, message.as_deref()));
        Some(ErrorFields::of(code, message, errors))
    }
}
