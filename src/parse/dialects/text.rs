//! Anything that is not a JSON error object: an excerpt of the text.

use super::super::extract::{one_line, text};
use super::super::{Dialect, DialectInput, ErrorFields};

/// Longest excerpt, in characters.
const MAX_EXCERPT_CHARS: usize = 256;

/// The last resort, so that the message is never lost and never a megabyte:
/// HTML from a proxy (its `<title>`, else its text with tags stripped), XML
/// (`<Code>` and `<Message>` elements, as S3 sends), a JSON string, or plain
/// text, with whitespace collapsed and the length bounded. Invalid UTF-8 is
/// replaced, not rejected. An empty body gives nothing (the message falls
/// back to the status's reason).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainText;

impl Dialect for PlainText {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        if let Some(json) = input.json() {
            // A JSON string is a message; other JSON no dialect knew is shown as text.
            if let Some(message) = text(json) {
                return Some(ErrorFields::new().message(message));
            }
        }
        let raw = String::from_utf8_lossy(input.body());
        let trimmed = raw.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            return None;
        }
        let mut fields = ErrorFields::new();
        if trimmed.starts_with('<') {
            let code = element_text(trimmed, "Code");
            let message = element_text(trimmed, "Message")
                .or_else(|| element_text(trimmed, "title"))
                .or_else(|| element_text(trimmed, "TITLE"))
                .unwrap_or_else(|| strip_tags(trimmed));
            fields.set_code(code.map(|code| one_line(&code, 128)));
            fields.set_message(Some(excerpt(&message)).filter(|m| !m.is_empty()));
        } else {
            fields.set_message(Some(excerpt(trimmed)));
        }
        Some(fields)
    }
}

fn excerpt(text: &str) -> String {
    one_line(&decode_entities(text), MAX_EXCERPT_CHARS)
}

/// The text inside the first `<name ...>...</name>`, tags inside stripped.
fn element_text(markup: &str, name: &str) -> Option<String> {
    let open = format!("<{name}");
    let mut search = 0;
    while let Some(found) = markup[search..].find(&open) {
        let start = search + found;
        let after_name = start + open.len();
        // `<Code>` or `<title lang="en">`, not `<CodeBlock>`.
        match markup[after_name..].chars().next() {
            Some('>') | Some(' ') => {
                let content_start = after_name + markup[after_name..].find('>')? + 1;
                let end = markup[content_start..].find(&format!("</{name}>"))?;
                let content = strip_tags(&markup[content_start..content_start + end]);
                return (!content.trim().is_empty()).then_some(content);
            }
            _ => search = after_name,
        }
    }
    None
}

/// Text with tags, comments, scripts and styles removed.
fn strip_tags(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len().min(4096));
    let mut rest = markup;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = &rest[open..];
        let skip_to = ["<script", "<style", "<!--"]
            .iter()
            .zip(["</script>", "</style>", "-->"])
            // Compared as bytes: slicing the str could split a character.
            .find(|(start, _)| {
                tag.as_bytes()
                    .get(..start.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(start.as_bytes()))
            })
            .map(|(_, end)| end);
        let end = match skip_to {
            Some(end) => tag.find(end).map(|at| at + end.len()),
            None => tag.find('>').map(|at| at + 1),
        };
        match end {
            Some(end) => rest = &tag[end..],
            None => return out,
        }
        if out.len() > 64 * 1024 {
            return out;
        }
    }
    out.push_str(rest);
    out
}

/// The handful of entities error pages use.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup() {
        assert_eq!(
            strip_tags("<p>a</p><script>x()</script>b<!-- c -->d")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["a", "b", "d"]
        );
        assert_eq!(
            element_text("<Error><Code>NoSuchKey</Code></Error>", "Code").as_deref(),
            Some("NoSuchKey")
        );
        assert_eq!(element_text("<CodeBlock>x</CodeBlock>", "Code"), None);
        assert_eq!(strip_tags("unterminated <tag"), "unterminated  ");
    }

    /// Found by the `parse_error_is_total_and_bounded` property: a tag whose
    /// first bytes are a multi-byte character.
    #[test]
    fn a_tag_starting_with_a_wide_character_does_not_panic() {
        assert_eq!(strip_tags("<{\"\u{202e}f>x").trim(), "x");
        assert_eq!(strip_tags("<\u{202e}"), " ");
    }
}
