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
/// value. Linear: each byte is looked at as a name's start once, and the
/// spaces after an `error` name once.
fn error_param(value: &[u8]) -> Option<&str> {
    let at_param = |i: usize| i == 0 || matches!(value[i - 1], b' ' | b'\t' | b',');
    let mut params = (0..value.len()).filter_map(|i| {
        if !(at_param(i) && value.get(i..i + 5)?.eq_ignore_ascii_case(b"error")) {
            return None;
        }
        // `error_description` and the like have no `=` here.
        value[i + 5..].trim_ascii_start().strip_prefix(b"=")
    });
    let rest = params.next()?.trim_ascii_start();
    let found = match rest.strip_prefix(b"\"") {
        Some(quoted) => &quoted[..memchr::memchr(b'"', quoted)?],
        None => rest.split(|&b| matches!(b, b' ' | b'\t' | b',')).next()?,
    };
    std::str::from_utf8(found).ok()
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
    }
}
