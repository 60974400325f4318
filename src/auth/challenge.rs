//! When a response rejects the credential: 401, or a 400 or 403 whose
//! `WWW-Authenticate` says `error="invalid_token"` (RFC 6750 §3.1).

use crate::ApiError;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, StatusCode};

/// True when a response of `status` and `headers` rejects the credential.
pub(crate) fn rejects(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED
        || (matches!(status, StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN)
            && headers
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .any(|value| says_invalid_token(value.as_bytes())))
}

/// True when a typed error rejects the credential. The parse layer keeps no
/// headers, so a 400 or 403 counts when its body's code is `invalid_token`
/// (RFC 6750's error code, as OAuth2-shaped bodies carry it).
pub(crate) fn rejects_api(error: &ApiError) -> bool {
    error.status() == StatusCode::UNAUTHORIZED
        || (matches!(
            error.status(),
            StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN
        ) && error.code() == Some("invalid_token"))
}

/// True when a `WWW-Authenticate` value has the auth-param
/// `error=invalid_token` (quoted or not, the name in any case). One pass:
/// each candidate's look-ahead ends before the next candidate starts.
fn says_invalid_token(value: &[u8]) -> bool {
    const NAME: &[u8] = b"error";
    const WANTED: &[u8] = b"invalid_token";
    let mut i = 0;
    while i + NAME.len() <= value.len() {
        let starts_param = i == 0 || matches!(value[i - 1], b' ' | b'\t' | b',');
        if !(starts_param && value[i..i + NAME.len()].eq_ignore_ascii_case(NAME)) {
            i += 1;
            continue;
        }
        let mut j = skip_space(value, i + NAME.len());
        i += NAME.len();
        if value.get(j) != Some(&b'=') {
            continue;
        }
        j = skip_space(value, j + 1);
        let quoted = value.get(j) == Some(&b'"');
        if quoted {
            j += 1;
        }
        if value.len() >= j + WANTED.len() && value[j..j + WANTED.len()] == *WANTED {
            let end = j + WANTED.len();
            let closed = if quoted {
                value.get(end) == Some(&b'"')
            } else {
                matches!(value.get(end), None | Some(b' ' | b'\t' | b','))
            };
            if closed {
                return true;
            }
        }
        i = i.max(j);
    }
    false
}

fn skip_space(value: &[u8], mut at: usize) -> usize {
    while matches!(value.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn www_authenticate_values() {
        // Rows: RFC 6750 §3 examples, and variants seen in the wild.
        let table: &[(&str, bool)] = &[
            // RFC 6750 §3: the expired-token example.
            (
                r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
                true,
            ),
            (r#"Bearer error="invalid_token""#, true),
            (r#"Bearer error=invalid_token"#, true),
            (r#"Bearer ERROR = "invalid_token""#, true),
            (r#"Bearer realm="a",error="invalid_token""#, true),
            // RFC 6750 §3: no error code, and other codes.
            (r#"Bearer realm="example""#, false),
            (r#"Bearer error="insufficient_scope", scope="read""#, false),
            (r#"Bearer error="invalid_request""#, false),
            // Look-alikes: another parameter's name or value.
            (r#"Bearer error_description="invalid_token""#, false),
            (r#"Bearer xerror="invalid_token""#, false),
            (r#"Bearer error="invalid_token_type""#, false),
            (r#"Bearer error=invalid_tokens"#, false),
            ("", false),
            ("error", false),
            ("error=", false),
        ];
        for (value, expected) in table {
            assert_eq!(says_invalid_token(value.as_bytes()), *expected, "{value}");
        }
    }

    #[test]
    fn statuses() {
        let mut headers = HeaderMap::new();
        assert!(rejects(StatusCode::UNAUTHORIZED, &headers));
        assert!(!rejects(StatusCode::FORBIDDEN, &headers));
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        assert!(rejects(StatusCode::FORBIDDEN, &headers));
        assert!(rejects(StatusCode::BAD_REQUEST, &headers));
        assert!(!rejects(StatusCode::NOT_FOUND, &headers));
        assert!(!rejects(StatusCode::OK, &headers));
    }

    #[test]
    fn long_values_are_linear() {
        let value = "error ".repeat(20_000) + "=x";
        assert!(!says_invalid_token(value.as_bytes()));
    }
}
