//! The `error` of a response's `WWW-Authenticate` challenges (RFC 6750
//! §3): what the auth layer renews on, and what an
//! [`ApiError`](crate::ApiError) keeps of them.

use http::header::WWW_AUTHENTICATE;
use http::HeaderMap;

/// The first `error` auth-param of `headers`' `WWW-Authenticate` values
/// (quoted or not, the name in any case), unquoted: RFC 6750's
/// `invalid_token`, `insufficient_scope`, `invalid_request`. One pass over
/// each value; a value whose quote is not closed has none.
pub(crate) fn challenge_error(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(WWW_AUTHENTICATE).iter();
    values.find_map(|value| error_param(value.as_bytes()))
}

/// The value of the first `error=` auth-param in one `WWW-Authenticate`
/// value. The value is walked as challenges and auth-params (RFC 9110
/// §11.2): a name, `=`, and a token or a quoted-string (§5.6.4), whose
/// text (a realm, an `error_description` that mentions `error=...`) is
/// skipped whole, `\` escapes included, never read as a parameter.
/// Linear (each byte is looked at once, the spaces around an `=` twice
/// at most) and without allocation.
fn error_param(value: &[u8]) -> Option<&str> {
    let mut at = 0;
    while let Some(&byte) = value.get(at) {
        if matches!(byte, b' ' | b'\t' | b',') {
            at += 1;
            continue;
        }
        if byte == b'"' {
            // A quoted-string where no parameter's value goes (malformed):
            // its text is no parameter either.
            at = param_value(value, at)?.1;
            continue;
        }
        // A scheme, a token68, or a parameter's name (empty before a
        // stray `=`).
        let start = at;
        let ends = |b: &u8| matches!(b, b' ' | b'\t' | b',' | b'=' | b'"');
        at += value[at..].iter().take_while(|b| !ends(b)).count();
        let equals = skip_spaces(value, at);
        if value.get(equals) != Some(&b'=') {
            continue;
        }
        let (found, next) = param_value(value, skip_spaces(value, equals + 1))?;
        if value[start..at].eq_ignore_ascii_case(b"error") {
            return std::str::from_utf8(found).ok();
        }
        at = next;
    }
    None
}

/// The first index from `at` that is not a space or a tab.
fn skip_spaces(value: &[u8], at: usize) -> usize {
    let rest = value.get(at..).unwrap_or_default();
    at + rest.len() - rest.trim_ascii_start().len()
}

/// The auth-param value starting at `at`, unquoted (escapes left as they
/// are: no error code holds one), and the index after it. `None` for a
/// quoted-string that is not closed: the rest of the value cannot be
/// told apart from its text.
fn param_value(value: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = value.get(at..).unwrap_or_default();
    if rest.first() != Some(&b'"') {
        let end = memchr::memchr3(b' ', b'\t', b',', rest).unwrap_or(rest.len());
        return Some((&rest[..end], at + end));
    }
    let end = 1 + closing_quote(&rest[1..])?;
    Some((&rest[1..end], at + end + 1))
}

/// Where the quoted string `text` starts (after its opening quote) is
/// closed: the index of the first quote no backslash escapes (a
/// quoted-pair, RFC 9110 §5.6.4, or a JSON escape: the escaped byte, a
/// quote among them, is text). `None` when no quote closes it.
pub(crate) fn closing_quote(text: &[u8]) -> Option<usize> {
    let mut escaped = false;
    text.iter().position(|&byte| {
        let closes = byte == b'"' && !escaped;
        escaped = byte == b'\\' && !escaped;
        closes
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn www_authenticate_values() {
        // Rows: RFC 6750 §3 examples, and variants seen in the wild.
        let table: &[(&str, Option<&str>)] = &[
            // RFC 6750 §3: the expired-token example.
            (
                r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
                Some("invalid_token"),
            ),
            (r#"Bearer error="invalid_token""#, Some("invalid_token")),
            (r#"Bearer error=invalid_token"#, Some("invalid_token")),
            (r#"Bearer ERROR = "invalid_token""#, Some("invalid_token")),
            (
                r#"Bearer realm="a",error="invalid_token""#,
                Some("invalid_token"),
            ),
            (
                r#"Bearer error=invalid_token, scope="a""#,
                Some("invalid_token"),
            ),
            // RFC 6750 §3: no error code, and other codes.
            (r#"Bearer realm="example""#, None),
            (
                r#"Bearer error="insufficient_scope", scope="read""#,
                Some("insufficient_scope"),
            ),
            (r#"Bearer error="invalid_request""#, Some("invalid_request")),
            // Look-alikes: another parameter's name or value.
            (r#"Bearer error_description="invalid_token""#, None),
            (r#"Bearer xerror="invalid_token""#, None),
            (
                r#"Bearer error="invalid_token_type""#,
                Some("invalid_token_type"),
            ),
            (r#"Bearer error=invalid_tokens"#, Some("invalid_tokens")),
            (r#"Bearer error="invalid_token"#, None),
            ("", None),
            ("error", None),
            ("error=", Some("")),
            // RFC 9110 §11.2: text inside a quoted-string is no parameter.
            (
                r#"Bearer error_description="it is not error = invalid_token", error="insufficient_scope""#,
                Some("insufficient_scope"),
            ),
            (
                r#"Bearer realm="error=insufficient_scope, others", error="invalid_token""#,
                Some("invalid_token"),
            ),
            // A quoted-pair: an escaped quote does not end the string.
            (
                r#"Bearer realm="say \"hi\", error=invalid_token", error="insufficient_scope""#,
                Some("insufficient_scope"),
            ),
            (
                r#"Bearer realm="a\\", error=invalid_token"#,
                Some("invalid_token"),
            ),
            (r#"Bearer realm="unclosed, error=invalid_token"#, None),
            // A token68 with its padding, then a challenge with an error.
            (
                r#"Basic YWxhZGRpbg==, Bearer error=invalid_token"#,
                Some("invalid_token"),
            ),
            (r#"Bearer "stray error=x", error=y"#, Some("y")),
        ];
        for (value, expected) in table {
            assert_eq!(error_param(value.as_bytes()), *expected, "{value}");
        }
    }

    #[test]
    fn the_first_value_with_an_error_wins() {
        let mut headers = HeaderMap::new();
        assert_eq!(challenge_error(&headers), None);
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        let bearer = HeaderValue::from_static("Bearer error=\"invalid_token\"");
        headers.append(WWW_AUTHENTICATE, bearer);
        assert_eq!(challenge_error(&headers), Some("invalid_token"));
    }

    #[test]
    fn long_values_are_linear() {
        let value = "error ".repeat(20_000) + "=x";
        assert_eq!(error_param(value.as_bytes()), Some("x"));
        let value = "error_x ".repeat(20_000);
        assert_eq!(error_param(value.as_bytes()), None);
        let value = format!("realm=\"{}\", error=x", "\\\" error=y ".repeat(20_000));
        assert_eq!(error_param(value.as_bytes()), Some("x"));
    }
}
