//! When a response rejects the credential: 401, or a 400 or 403 whose
//! `WWW-Authenticate` says `error="invalid_token"` (RFC 6750 §3.1); never
//! one that says `error="insufficient_scope"`.

use crate::ApiError;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, StatusCode};

/// True when a response of `status` and `headers` rejects the credential
/// it was sent with: a 401, or a 400 or 403 whose `WWW-Authenticate` has
/// `error="invalid_token"` (RFC 6750 §3.1). A 401 whose `WWW-Authenticate`
/// has `error="insufficient_scope"` does not: the token is good but lacks
/// a scope (RFC 6750 §3.1 says 403; servers send 401 too), and a refresh
/// would not give it. What [`AuthLayer`](super::AuthLayer) renews on;
/// public for clients that renew by hand. One pass over each
/// `WWW-Authenticate` value.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::auth::rejects_credential;
///
/// let mut headers = HeaderMap::new();
/// assert!(rejects_credential(StatusCode::UNAUTHORIZED, &headers));
/// assert!(!rejects_credential(StatusCode::FORBIDDEN, &headers));
/// headers.insert("www-authenticate", r#"Bearer realm="example", error="invalid_token""#.parse().unwrap());
/// assert!(rejects_credential(StatusCode::FORBIDDEN, &headers));
/// headers.insert("www-authenticate", r#"Bearer error="insufficient_scope""#.parse().unwrap());
/// assert!(!rejects_credential(StatusCode::UNAUTHORIZED, &headers));
/// ```
pub fn rejects_credential(status: StatusCode, headers: &HeaderMap) -> bool {
    let says = |code: &[u8]| {
        let mut values = headers.get_all(WWW_AUTHENTICATE).iter();
        values.any(|value| says_error(value.as_bytes(), code))
    };
    rejects(status, says)
}

/// True when a typed error rejects the credential. The parse layer keeps no
/// headers, so its body's code (RFC 6750's error code, as OAuth2-shaped
/// bodies carry it) stands for the challenge's.
pub(crate) fn rejects_api(error: &ApiError) -> bool {
    rejects(error.status(), |code| {
        error.code().map(str::as_bytes) == Some(code)
    })
}

/// A 401 unless it `says` `insufficient_scope`; a 400 or 403 when it says
/// `invalid_token`.
fn rejects(status: StatusCode, says: impl Fn(&[u8]) -> bool) -> bool {
    match status {
        StatusCode::UNAUTHORIZED => !says(b"insufficient_scope"),
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => says(b"invalid_token"),
        _ => false,
    }
}

/// True when a `WWW-Authenticate` value has the auth-param `error=<wanted>`
/// (quoted or not, the name in any case). One pass: each candidate's
/// look-ahead ends before the next candidate starts.
fn says_error(value: &[u8], wanted: &[u8]) -> bool {
    const NAME: &[u8] = b"error";
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
        j += usize::from(quoted);
        let end = j + wanted.len();
        let closed = match value.get(end) {
            next if quoted => next == Some(&b'"'),
            next => matches!(next, None | Some(b' ' | b'\t' | b',')),
        };
        if closed && value.get(j..end) == Some(wanted) {
            return true;
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
            assert_eq!(
                says_error(value.as_bytes(), b"invalid_token"),
                *expected,
                "{value}"
            );
        }
    }

    #[test]
    fn statuses() {
        let mut headers = HeaderMap::new();
        assert!(rejects_credential(StatusCode::UNAUTHORIZED, &headers));
        assert!(!rejects_credential(StatusCode::FORBIDDEN, &headers));
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        assert!(rejects_credential(StatusCode::FORBIDDEN, &headers));
        assert!(rejects_credential(StatusCode::BAD_REQUEST, &headers));
        assert!(!rejects_credential(StatusCode::NOT_FOUND, &headers));
        assert!(!rejects_credential(StatusCode::OK, &headers));
        // RFC 6750 §3.1: a token lacking a scope is not renewed, whatever
        // the status; a 401 that says nothing, or something else, is.
        let mut scope = HeaderMap::new();
        scope.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"insufficient_scope\", scope=\"a b\""),
        );
        assert!(!rejects_credential(StatusCode::UNAUTHORIZED, &scope));
        assert!(!rejects_credential(StatusCode::FORBIDDEN, &scope));
        scope.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_request\""),
        );
        assert!(rejects_credential(StatusCode::UNAUTHORIZED, &scope));
        assert!(says_error(
            b"Bearer error=insufficient_scope",
            b"insufficient_scope"
        ));
    }

    #[test]
    fn long_values_are_linear() {
        let value = "error ".repeat(20_000) + "=x";
        assert!(!says_error(value.as_bytes(), b"invalid_token"));
    }
}
