//! Tagged-union errors: `error_summary` and `.tag` (Dropbox).

use super::super::dialect::RootKeys;
use super::super::extract::{one_line, text, MAX_CODE_CHARS, MAX_DEPTH, MAX_VISITED};
use super::super::{Dialect, DialectInput, ErrorFields};
use serde_json::{Map, Value};

/// Errors as tagged unions, as Dropbox's API v2 (and other Stone-generated
/// APIs) send them: `{"error_summary": "path/not_found/..", "error":
/// {".tag": "path", "path": {".tag": "not_found"}}, "user_message":
/// {"locale": "en", "text": "..."}}`.
///
/// The code is the path of tags, most general first (`"path/not_found"`);
/// the message `user_message.text` when present, else `error_summary`
/// without its trailing `/..`. Recognised by a string `error_summary`, or
/// an `error` object carrying a `.tag`. The walk follows at most
/// 8 tags.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaggedUnion;

impl Dialect for TaggedUnion {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        let root = input.object_with(RootKeys::ERROR_SUMMARY | RootKeys::ERROR_OBJECT)?;
        let summary = root.get("error_summary").and_then(text);
        let tags = root.get("error").and_then(|e| tag_path(e.as_object()?));
        summary.as_ref().or(tags.as_ref())?;
        let user_message = root
            .get("user_message")
            .and_then(|m| m.get("text").and_then(text).or_else(|| text(m)));
        let summary = summary.map(|s| s.trim_end_matches(['/', '.']).to_owned());
        let message = user_message.or_else(|| summary.clone());
        let code = tags.or(summary).map(|code| one_line(&code, MAX_CODE_CHARS));
        Some(ErrorFields::of(code, message, Vec::new()))
    }
}

/// `a/b/c` from `{".tag": "a", "a": {".tag": "b", "b": {".tag": "c"}}}`; a
/// level without a `.tag` continues through its first member that has one
/// (Dropbox's 429: `{"reason": {".tag": "too_many_requests"}}`).
fn tag_path(mut node: &Map<String, Value>) -> Option<String> {
    let mut path: Vec<&str> = Vec::new();
    for _ in 0..MAX_DEPTH {
        let tag = node.get(".tag").and_then(Value::as_str);
        path.extend(tag);
        let next = match tag {
            Some(tag) => node.get(tag).and_then(Value::as_object),
            None => node
                .values()
                .take(MAX_VISITED)
                .filter_map(Value::as_object)
                .find(|child| child.get(".tag").is_some_and(Value::is_string)),
        };
        let Some(next) = next else { break };
        node = next;
    }
    (!path.is_empty()).then(|| path.join("/"))
}
