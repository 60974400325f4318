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
/// example), or one `field` named beside the message (Mollie's).
/// Extension members stay available through [`ApiError::details`](crate::ApiError::details).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetails;

impl Dialect for ProblemDetails {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let object = input.json()?.as_object()?;
        const SUFFIX: &str = "problem+json";
        let media_type = input.content_type().is_some_and(|ct| {
            ct.len() >= SUFFIX.len()
                && ct.as_bytes()[ct.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX.as_bytes())
        });
        // Without the media type, the shape needs a text member and a
        // problem member (a mask test before any lookup).
        let may_be_shaped = input.has_any(RootKeys::TITLE | RootKeys::DETAIL)
            && input.has_any(RootKeys::TYPE | RootKeys::STATUS);
        if !(media_type || may_be_shaped) {
            return None;
        }
        let has_text = object.get("title").is_some_and(|v| v.is_string())
            || object.get("detail").is_some_and(|v| v.is_string());
        let has_problem_member =
            object.contains_key("type") || object.get("status").is_some_and(|v| v.is_number());
        let shaped = has_text && has_problem_member && object.get("error").is_none();
        if !(media_type || shaped) {
            return None;
        }
        let message = message_in(object, &["detail", "title"]);
        let code = code_in(object, &["code", "error_code", "errorCode", "type"]);
        let lists = ["errors", "invalid-params", "invalid_params", "violations"];
        let mut errors = field_errors_under(object, &lists);
        errors.extend(named_field(object, message.as_deref()));
        Some(ErrorFields::of(code, message, errors))
    }
}
