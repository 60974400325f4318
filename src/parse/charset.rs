//! A body's declared charset: what the dialects read is UTF-8.
//!
//! A UTF-8 byte-order mark is dropped. A body declared ISO-8859-1 (or its
//! aliases, or windows-1252) by its `Content-Type` charset or by an XML
//! declaration's `encoding` is transcoded, byte by byte, as the WHATWG
//! Encoding Standard reads those labels (windows-1252). Anything else is
//! read as UTF-8, invalid sequences replaced by U+FFFD, as its UTF-8
//! decode does (unless that more than doubles the body). A body
//! with a `Content-Encoding` (gzip, br, ...) that is not UTF-8 is still
//! compressed, not text: it is read as empty. One pass over the body; the
//! declaration is looked for in the first 256 bytes.

use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::HeaderMap;
use std::borrow::Cow;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Where an XML declaration's `encoding` is looked for.
const MAX_DECLARATION: usize = 256;

/// The body as UTF-8 bytes, borrowed when nothing needs decoding.
pub(crate) fn decode<'a>(headers: &HeaderMap, body: &'a [u8]) -> Cow<'a, [u8]> {
    let body = body.strip_prefix(BOM).unwrap_or(body);
    if body.is_ascii() {
        return Cow::Borrowed(body);
    }
    // Still in a content coding (gzip, br, ...: RFC 9110 §8.4): not text.
    let coded = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|coding| !coding.as_bytes().eq_ignore_ascii_case(b"identity"));
    if coded && std::str::from_utf8(body).is_err() {
        return Cow::Borrowed(&[]);
    }
    if !declares_latin1(headers, body) {
        // Invalid sequences replaced (U+FFFD), as the WHATWG's UTF-8 decode
        // does: a JSON body with a stray Latin-1 byte still parses. Not
        // when that would more than double it (most of it is not text):
        // the bound on what an error keeps of its body holds.
        return match String::from_utf8_lossy(body) {
            Cow::Owned(text) if text.len() <= 2 * body.len() => Cow::Owned(text.into_bytes()),
            _ => Cow::Borrowed(body),
        };
    }
    let mut out = String::with_capacity(body.len() + body.len() / 2);
    out.extend(body.iter().map(|&byte| windows_1252(byte)));
    Cow::Owned(out.into_bytes())
}

fn is_latin1_label(label: &str) -> bool {
    // The WHATWG Encoding Standard's labels of windows-1252, which it
    // reads ISO-8859-1 and ASCII as.
    const LABELS: &[&str] = &[
        "ansi_x3.4-1968",
        "ascii",
        "cp1252",
        "cp819",
        "csisolatin1",
        "ibm819",
        "iso-8859-1",
        "iso-ir-100",
        "iso8859-1",
        "iso88591",
        "iso_8859-1",
        "iso_8859-1:1987",
        "l1",
        "latin1",
        "us-ascii",
        "windows-1252",
        "x-cp1252",
    ];
    let label = label.trim().trim_matches(['"', '\'']);
    LABELS.iter().any(|known| known.eq_ignore_ascii_case(label))
}

fn declares_latin1(headers: &HeaderMap, body: &[u8]) -> bool {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mut params = value.unwrap_or_default().split(';').skip(1);
    let header = params.find_map(|param| {
        let (name, label) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then_some(label)
    });
    if let Some(label) = header {
        return is_latin1_label(label);
    }
    // `<?xml version="1.0" encoding="ISO-8859-1"?>`
    let head = &body[..body.len().min(MAX_DECLARATION)];
    let Some(rest) = head.strip_prefix(b"<?xml") else {
        return false;
    };
    let end = memchr::memchr(b'>', rest).unwrap_or(rest.len());
    // (XML 1.0 §2.8 allows spaces around the `=`.)
    String::from_utf8_lossy(&rest[..end])
        .split_once("encoding")
        .and_then(|(_, rest)| {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let quote = rest.chars().next()?;
            rest[quote.len_utf8()..].split(quote).next()
        })
        .is_some_and(is_latin1_label)
}

/// A byte as windows-1252 reads it (ISO-8859-1 but for 0x80-0x9F).
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9f => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// Every WHATWG label of windows-1252, and an XML declaration with
    /// spaces around its `=` (XML 1.0 §2.8).
    #[test]
    fn every_latin1_label_and_a_spaced_declaration() {
        for label in [
            "CP819",
            "csISOLatin1",
            "iso-ir-100",
            "ISO_8859-1:1987",
            "x-cp1252",
        ] {
            assert!(is_latin1_label(label), "{label}");
        }
        assert!(!is_latin1_label("utf-8"));
        let xml = b"<?xml version = \"1.0\" encoding = 'ISO-8859-1' ?><a>caf\xe9</a>";
        assert!(declares_latin1(&HeaderMap::new(), xml));
    }

    #[test]
    fn decodes_declared_latin1() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=ISO-8859-1"),
        );
        assert_eq!(&*decode(&headers, b"caf\xe9"), "café".as_bytes());
        assert_eq!(&*decode(&headers, b"\x80"), "€".as_bytes());
        let xml = b"<?xml version='1.0' encoding='iso-8859-1'?><a>\xe9</a>";
        assert_eq!(
            &*decode(&HeaderMap::new(), xml),
            "<?xml version='1.0' encoding='iso-8859-1'?><a>é</a>".as_bytes()
        );
        // Undeclared: invalid UTF-8 replaced, as the WHATWG's UTF-8 decode
        // does; unless most of it is invalid (not text), then as it came.
        assert_eq!(
            &*decode(&HeaderMap::new(), b"caf\xe9"),
            "caf\u{fffd}".as_bytes()
        );
        assert_eq!(&*decode(&HeaderMap::new(), b"a\xff\xfe"), b"a\xff\xfe");
        assert_eq!(&*decode(&HeaderMap::new(), b"\xef\xbb\xbf{}"), b"{}");
    }
}
