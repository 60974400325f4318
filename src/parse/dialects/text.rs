//! Anything that is not a JSON error object: an excerpt of the text.

use super::super::extract::{first_human_text, one_line, text, MAX_CODE_CHARS};
use super::super::{Dialect, DialectInput, ErrorFields};
use super::markup::{decode_entities, element_text, first_sentence, text_of};
use crate::hints::closing_quote;

/// Longest excerpt, in characters.
const MAX_EXCERPT_CHARS: usize = 256;

/// The last resort, so that the message is never lost and never a megabyte:
/// HTML from a proxy (its `<title>`, else its text with tags stripped), XML
/// (`<Code>` and `<Message>` elements, as S3 sends; a problem+xml's
/// `<type>` and `<detail>`, as problem+json's are read; else the first text
/// that reads as a sentence: never the tags' names), a JSON string, or
/// plain text, with whitespace collapsed and the length bounded. Invalid
/// UTF-8 is replaced, not rejected. An empty body gives nothing (the
/// message falls back to the status's reason).
///
/// JSON that no dialect recognised is never dumped as the message: the
/// message is the status's reason and the first human-readable string in
/// the document (`"Bad Request: Something went wrong"`), or the reason
/// alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainText;

impl Dialect for PlainText {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        if let Some(json) = input.json() {
            // A JSON string is a message; other JSON no dialect knew is shown as text.
            let shown = || with_reason(input, first_human_text(json).as_deref());
            return Some(ErrorFields::new().message(text(json).unwrap_or_else(shown)));
        }
        let raw = String::from_utf8_lossy(input.body());
        let trimmed = Some(raw.trim_start_matches('\u{feff}').trim()).filter(|t| !t.is_empty())?;
        let mut fields = ErrorFields::new();
        if trimmed.starts_with('<') {
            // RFC 9457 Appendix B's problem+xml (namespace `urn:ietf:rfc:7807`)
            // reads as problem+json: `type` is the code, `detail` the message.
            let problem = trimmed.contains("urn:ietf:rfc:7807");
            let code = element_text(trimmed, if problem { "type" } else { "Code" });
            let code = code.filter(|code| code != "about:blank");
            let first = if problem { "detail" } else { "Message" };
            let message = [first, "message", "Description", "title", "TITLE"]
                .iter()
                .find_map(|name| element_text(trimmed, name))
                .or_else(|| {
                    // XML: a sentence from between the tags, not their names.
                    (trimmed.starts_with("<?xml") || !is_html(trimmed))
                        .then(|| first_sentence(trimmed, MAX_TEXT_RUNS))
                        .flatten()
                })
                .unwrap_or_else(|| text_of(trimmed));
            fields.code = code.map(|code| one_line(&code, MAX_CODE_CHARS));
            // (Decoded once already: `&amp;lt;` stays `&lt;`.)
            let message = one_line(&message, MAX_EXCERPT_CHARS);
            fields.message = Some(message).filter(|m| !m.is_empty());
        } else if trimmed.starts_with(['{', '[']) {
            // JSON cut short (by the cap) or malformed: never dumped.
            fields.message = Some(with_reason(input, first_human_literal(trimmed)));
        } else {
            fields.message = Some(excerpt(trimmed));
        }
        Some(fields)
    }
}

/// The first string literal in malformed JSON that reads as human text (a
/// letter and a space), escapes left as they are; an unterminated last
/// literal counts. At most [`MAX_TEXT_RUNS`] literals are read.
fn first_human_literal(json: &str) -> Option<&str> {
    let mut rest = json;
    for _ in 0..MAX_TEXT_RUNS {
        let open = rest.find('"')?;
        let body = &rest[open + 1..];
        let end = closing_quote(body.as_bytes()).unwrap_or(body.len());
        let literal = &body[..end];
        if literal.contains(' ') && literal.chars().any(char::is_alphabetic) {
            return Some(literal);
        }
        rest = body.get(end + 1..)?;
    }
    None
}

/// Most text runs between tags read to find a sentence in XML.
const MAX_TEXT_RUNS: usize = 256;

/// The status's reason, then the human text found in the body, if any,
/// as an excerpt.
fn with_reason(input: &DialectInput<'_>, found: Option<&str>) -> String {
    let reason = input.status().canonical_reason().unwrap_or("Error");
    excerpt(&found.map_or_else(|| reason.to_owned(), |found| format!("{reason}: {found}")))
}

fn excerpt(text: &str) -> String {
    one_line(&decode_entities(text), MAX_EXCERPT_CHARS)
}

/// HTML rather than XML: a doctype or an `<html>` element at the start.
fn is_html(markup: &str) -> bool {
    let head = markup.as_bytes().get(..15).unwrap_or(markup.as_bytes());
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.starts_with("<!doctype") || head.starts_with("<html") || head.starts_with("<head")
}
