//! Reading HTML and XML without a parser: tags stripped, a handful of
//! entities decoded, elements found by local name. Every function here is
//! linear in its input: each `<` is looked at once, and a matched element's
//! closing tag is searched once.

/// Most bytes of text [`strip_tags`] produces before it stops.
pub(crate) const MAX_STRIPPED: usize = 64 * 1024;

/// Text with tags, comments, scripts and styles removed.
pub(crate) fn strip_tags(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len().min(4096));
    let mut rest = markup;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tag = &rest[open..];
        if !is_inline(tag) {
            out.push(' ');
        }
        let end = ["<script", "<style", "<!--"]
            .iter()
            .zip(["</script>", "</style>", "-->"])
            // Compared as bytes: slicing the str could split a character.
            .find(|(start, _)| {
                tag.as_bytes()
                    .get(..start.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(start.as_bytes()))
            })
            .map_or(">", |(_, end)| end);
        let Some(at) = tag.find(end) else {
            return out;
        };
        rest = &tag[at + end.len()..];
        if out.len() > MAX_STRIPPED {
            return out;
        }
    }
    out.push_str(rest);
    out
}

/// True for a tag that does not break text (`<a>`, `<b>`, `</em>`...), so
/// that "your <a>quota</a>." stays "your quota.".
fn is_inline(tag: &str) -> bool {
    const INLINE: &[&[u8]] = &[
        b"a", b"b", b"i", b"u", b"em", b"strong", b"span", b"code", b"small", b"sub", b"sup",
        b"abbr", b"q", b"s", b"mark",
    ];
    let bytes = tag.as_bytes();
    let start = if bytes.get(1) == Some(&b'/') { 2 } else { 1 };
    let head = bytes.get(start..).unwrap_or_default();
    let head = &head[..head.len().min(8)];
    let len = head
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    INLINE.iter().any(|k| k.eq_ignore_ascii_case(&head[..len]))
}

/// The handful of entities error pages use.
pub(crate) fn decode_entities(text: &str) -> String {
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

/// True when `text` carries markup worth stripping: a closing tag, a
/// self-closing tag or a `<br>`. A lone `<` ("a < b", "<id>") is text.
pub(crate) fn has_markup(text: &str) -> bool {
    text.contains('<')
        && (text.contains("</")
            || text.contains("/>")
            || text
                .as_bytes()
                .windows(3)
                .any(|w| w.eq_ignore_ascii_case(b"<br")))
}

/// `text` with markup stripped and entities decoded, when it has markup.
pub(crate) fn without_markup(text: String) -> String {
    if has_markup(&text) {
        decode_entities(&strip_tags(&text))
    } else {
        text
    }
}

/// An element found by [`element`]: its qualified name and raw content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) content: &'a str,
    /// Where the element ends in the searched text (after its closing tag).
    pub(crate) end: usize,
}

/// The first element whose local name (the part after any `prefix:`) is
/// `local`, compared exactly: `<Code>`, `<s:Code>`, `<title lang="en">`,
/// not `<CodeBlock>`. `None` when there is none, or its closing tag is
/// missing. Linear: each `<` is looked at once, and the closing tag is
/// searched once.
pub(crate) fn element<'a>(markup: &'a str, local: &str) -> Option<Element<'a>> {
    let mut at = 0;
    while let Some(found) = markup[at..].find('<') {
        let start = at + found + 1;
        let name_len = markup[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '/' | '<'))
            .unwrap_or(markup.len() - start);
        let name_end = start + name_len;
        let qname = &markup[start..name_end];
        at = name_end.max(start);
        if qname.is_empty() || qname.rsplit(':').next() != Some(local) {
            continue;
        }
        let open_end = name_end + markup[name_end..].find('>')?;
        if markup[..open_end].ends_with('/') {
            return Some(Element {
                content: "",
                end: open_end + 1,
            });
        }
        let content_start = open_end + 1;
        let close = format!("</{qname}>");
        let length = markup[content_start..].find(&close)?;
        return Some(Element {
            content: &markup[content_start..content_start + length],
            end: content_start + length + close.len(),
        });
    }
    None
}

/// The content of the first element named `local`, tags stripped and
/// entities decoded; `None` when missing or blank.
pub(crate) fn element_text(markup: &str, local: &str) -> Option<String> {
    let content = decode_entities(&strip_tags(element(markup, local)?.content));
    (!content.trim().is_empty()).then_some(content)
}

/// The last element named `local` among siblings and their descendants,
/// read left to right (a SOAP 1.2 fault's innermost `Subcode/Value`).
/// At most `limit` elements are read.
pub(crate) fn last_element<'a>(markup: &'a str, local: &str, limit: usize) -> Option<&'a str> {
    let mut last = None;
    let mut rest = markup;
    for _ in 0..limit {
        let Some(found) = element(rest, local) else {
            break;
        };
        last = Some(found.content);
        rest = &rest[found.end..];
    }
    last
}

/// The first text between tags that reads as a sentence (a letter and a
/// space), tags' names never included; at most `limit` text runs read.
pub(crate) fn first_sentence(markup: &str, limit: usize) -> Option<String> {
    markup
        .split(['<', '>'])
        .skip(2) // before the first `<`, and the first tag's inside
        .step_by(2)
        .take(limit)
        .map(str::trim)
        .find(|run| run.contains(' ') && run.chars().any(char::is_alphabetic))
        .map(decode_entities)
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
        assert_eq!(strip_tags("unterminated <tag"), "unterminated  ");
    }

    #[test]
    fn finds_elements_by_local_name() {
        let xml = "<s:Envelope><s:Body><s:Fault><faultcode>s:Client</faultcode></s:Fault></s:Body></s:Envelope>";
        assert_eq!(element(xml, "faultcode").unwrap().content, "s:Client");
        assert_eq!(
            element(xml, "Fault").unwrap().content,
            "<faultcode>s:Client</faultcode>"
        );
        assert_eq!(
            element_text("<Error><Code>NoSuchKey</Code></Error>", "Code").as_deref(),
            Some("NoSuchKey")
        );
        assert!(element("<CodeBlock>x</CodeBlock>", "Code").is_none());
        assert!(element("<Code>never closed", "Code").is_none());
        assert_eq!(element("<Code/>", "Code").unwrap().content, "");
        assert_eq!(
            last_element("<V>a</V><S><V>b</V><S><V>c</V></S></S>", "V", 8),
            Some("c")
        );
        assert_eq!(
            first_sentence("<r><id>42</id><t>Out of stock now</t></r>", 10).as_deref(),
            Some("Out of stock now")
        );
    }

    /// Found by the `parse_error_is_total_and_bounded` property: a tag whose
    /// first bytes are a multi-byte character.
    #[test]
    fn a_tag_starting_with_a_wide_character_does_not_panic() {
        assert_eq!(strip_tags("<{\"\u{202e}f>x").trim(), "x");
        assert_eq!(strip_tags("<\u{202e}"), " ");
        assert!(element("<\u{202e}x>", "x").is_none());
    }

    #[test]
    fn markup_in_messages() {
        assert!(has_markup("<p>Invalid <b>token</b></p>"));
        assert!(has_markup("line one<br>line two"));
        assert!(!has_markup("a < b and c > d"));
        assert_eq!(
            without_markup("<p>Invalid &amp; <b>expired</b></p>".to_owned())
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["Invalid", "&", "expired"]
        );
    }
}
