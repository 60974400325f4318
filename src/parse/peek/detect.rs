//! [`FailureInSuccess`]: what tells a failure in disguise, and the
//! built-in detectors.

use crate::parse::dialect::RootKeys;
use crate::parse::DialectInput;
use serde_json::Value;

/// Says whether a 2xx body is really a failure. Detectors are strict (a
/// success that merely mentions an error must pass); the body a detector
/// flags is then read by the [`ErrorParser`](crate::parse::ErrorParser)'s dialects like any failure.
pub trait FailureInSuccess: Send + Sync + 'static {
    /// True when this success is a failure in disguise.
    fn is_failure(&self, input: &DialectInput<'_>) -> bool;
}

/// `{"ok": false, "error": "..."}`, as Slack's Web API answers with 200.
#[derive(Debug, Clone, Copy, Default)]
pub struct OkFalse;

impl FailureInSuccess for OkFalse {
    fn is_failure(&self, input: &DialectInput<'_>) -> bool {
        input.json().and_then(|json| json.get("ok")) == Some(&Value::Bool(false))
    }
}

/// A GraphQL response with `errors` and no `data` (null or absent): the
/// request failed as a whole (a partial result, with `data`, is a success).
#[derive(Debug, Clone, Copy, Default)]
pub struct GraphQlErrors;

impl FailureInSuccess for GraphQlErrors {
    fn is_failure(&self, input: &DialectInput<'_>) -> bool {
        input.object_with(RootKeys::ERRORS).is_some_and(|object| {
            let errors = object.get("errors").and_then(Value::as_array);
            let no_data = object.get("data").is_none_or(Value::is_null);
            errors.is_some_and(|errors| !errors.is_empty()) && no_data
        })
    }
}

/// An XML document whose root element is `<Error>`, as S3 sends under 200
/// when a copy or a multipart completion fails after the response started.
#[derive(Debug, Clone, Copy, Default)]
pub struct XmlErrorRoot;

impl FailureInSuccess for XmlErrorRoot {
    fn is_failure(&self, input: &DialectInput<'_>) -> bool {
        let after = xml_root(input.body()).and_then(|root| root.strip_prefix("<Error"));
        after.is_some_and(|after| after.starts_with(['>', ' ', '\n', '\r', '\t']))
    }
}

/// Where an XML document's root element starts: after the declaration,
/// comments and processing instructions. `None` for text that is not
/// UTF-8, or one of those left open.
fn xml_root(body: &[u8]) -> Option<&str> {
    const SKIPPED: [&str; 2] = ["<?", "<!--"];
    let text = std::str::from_utf8(body).ok()?;
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    while let Some(after) = SKIPPED.iter().find_map(|open| rest.strip_prefix(open)) {
        rest = after[after.find('>')? + 1..].trim_start();
    }
    Some(rest)
}
