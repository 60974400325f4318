//! Reading HTML and XML without a parser: tags stripped, entities
//! decoded, CDATA sections kept as text, elements found by local name.
//! Every function here is linear in its input: each `<` and `&` is looked
//! at once, and a matched element's closing tag is searched once.

/// Most bytes of text [`text_of`] produces before it stops.
pub(crate) const MAX_STRIPPED: usize = 64 * 1024;

/// The text of `markup`: tags, comments, scripts and styles removed,
/// entities decoded ([`decode_entities`]), a CDATA section's content kept
/// as written (XML 1.0 §2.7: character data, not markup).
pub(crate) fn text_of(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len().min(4096));
    let mut rest = markup;
    while let Some(open) = rest.find('<') {
        if out.len() > MAX_STRIPPED {
            return out;
        }
        decode_into(&mut out, &rest[..open]);
        let tag = &rest[open..];
        if let Some(data) = tag.strip_prefix("<![CDATA[") {
            let length = data.find("]]>").unwrap_or(data.len());
            out.push_str(&data[..length]);
            rest = data.get(length + 3..).unwrap_or_default();
            continue;
        }
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
    }
    if out.len() <= MAX_STRIPPED {
        decode_into(&mut out, rest);
    }
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

/// `text` with its entities decoded: the XML ones (`&lt;` `&gt;` `&amp;`
/// `&quot;` `&apos;`), `&nbsp;`, and numeric character references
/// (`&#34;`, `&#x2F;`; XML 1.0 §4.1, which Go's `html/template` writes for
/// `+`), in one pass, so `&amp;lt;` is `&lt;`; anything else stays as
/// written.
pub(crate) fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    decode_into(&mut out, text);
    out
}

fn decode_into(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let (decoded, length) = entity(&rest[at..]).unwrap_or(('&', 1));
        out.push(decoded);
        rest = &rest[at + length..];
    }
    out.push_str(rest);
}

/// The character of the entity `text` starts with (at its `&`), and the
/// entity's length; `None` when it is none this module decodes. A
/// reference to no character, NUL or a control character is none.
fn entity(text: &str) -> Option<(char, usize)> {
    // The longest decoded, `&#x10FFFF;`, is ten bytes.
    let end = text.bytes().take(11).position(|byte| byte == b';')?;
    let decoded = match &text[1..end] {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        name => {
            let number = name.strip_prefix('#')?;
            let value = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(value).filter(|c| !c.is_control() || c.is_whitespace())?
        }
    };
    Some((decoded, end + 1))
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
        text_of(&text)
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
            let end = open_end + 1;
            return Some(Element { content: "", end });
        }
        let content_start = open_end + 1;
        let close = format!("</{qname}>");
        let length = markup[content_start..].find(&close)?;
        let content = &markup[content_start..content_start + length];
        let end = content_start + length + close.len();
        return Some(Element { content, end });
    }
    None
}

/// The [text](text_of) of the first element named `local`; `None` when
/// missing or blank.
pub(crate) fn element_text(markup: &str, local: &str) -> Option<String> {
    let content = text_of(element(markup, local)?.content);
    (!content.trim().is_empty()).then_some(content)
}

/// The last element named `local` among siblings and their descendants,
/// read left to right (a SOAP 1.2 fault's innermost `Subcode/Value`).
/// At most `limit` elements are read.
pub(crate) fn last_element<'a>(markup: &'a str, local: &str, limit: usize) -> Option<&'a str> {
    let mut rest = markup;
    let contents = std::iter::from_fn(|| {
        let found = element(rest, local)?;
        rest = &rest[found.end..];
        Some(found.content)
    });
    contents.take(limit).last()
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
            text_of("<p>a</p><script>x()</script>b<!-- c -->d")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["a", "b", "d"]
        );
        assert_eq!(text_of("unterminated <tag"), "unterminated  ");
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

    /// XML 1.0 §4.1: numeric character references, decimal and hex, next
    /// to the predefined entities, in one pass; what is no reference to a
    /// character stays as written.
    #[test]
    fn decodes_entities_and_character_references_once() {
        for (text, decoded) in [
            (
                "Header &#34;x-amz-date&#34; &#x2F; value &#43;1",
                "Header \"x-amz-date\" / value +1",
            ),
            (
                "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&#39; e&nbsp;f",
                "a <b> & \"c\" 'd' e f",
            ),
            (
                "&amp;lt; is how &lt; is written",
                "&lt; is how < is written",
            ),
            ("&#X1F600; &#128512;", "\u{1f600} \u{1f600}"),
            (
                "AT&T & &unknown; &#; &#x; &#0; &#1; &#xD800; &#99999999999; &#12",
                "AT&T & &unknown; &#; &#x; &#0; &#1; &#xD800; &#99999999999; &#12",
            ),
            ("&", "&"),
        ] {
            assert_eq!(decode_entities(text), decoded, "{text}");
        }
    }

    /// XML 1.0 §2.7: a CDATA section is character data, kept as written
    /// (its `<` and `&` are no markup, nor entities).
    #[test]
    fn cdata_is_text() {
        let xml = "<Message><![CDATA[a < b & c &amp; d]]></Message>";
        assert_eq!(
            element_text(xml, "Message").as_deref(),
            Some("a < b & c &amp; d")
        );
        assert_eq!(text_of("x <![CDATA[<y>]]> z &amp;"), "x <y> z &");
        assert_eq!(text_of("<![CDATA[never closed"), "never closed");
        // Bounded like any other text (the CDATA branch skipped the bound).
        let many = "<![CDATA[xx]]>".repeat(MAX_STRIPPED);
        assert!(text_of(&many).len() <= MAX_STRIPPED + 2);
    }

    /// Found by the `parse_error_is_total_and_bounded` property: a tag whose
    /// first bytes are a multi-byte character.
    #[test]
    fn a_tag_starting_with_a_wide_character_does_not_panic() {
        assert_eq!(text_of("<{\"\u{202e}f>x").trim(), "x");
        assert_eq!(text_of("<\u{202e}"), " ");
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
