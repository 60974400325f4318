//! When a response rejects the credential: 401, or a 400 or 403 whose
//! `WWW-Authenticate` says `error="invalid_token"` (RFC 6750 §3.1); never
//! one that says `error="insufficient_scope"` or DPoP's `use_dpop_nonce`.
//! With the `grpc` feature,
//! gRPC's own 401 too: a trailers-only `UNAUTHENTICATED`.

use crate::hints::challenge_error;
use crate::ApiError;
use http::{HeaderMap, StatusCode};

/// True when a response of `status` and `headers` rejects the credential
/// it was sent with: a 401, or a 400 or 403 whose `WWW-Authenticate` has
/// `error="invalid_token"` (RFC 6750 §3.1). A 401 whose `WWW-Authenticate`
/// has `error="insufficient_scope"` does not: the token is good but lacks
/// a scope (RFC 6750 §3.1 says 403; servers send 401 too), and a refresh
/// would not give it. Nor does one with DPoP's `error="use_dpop_nonce"`
/// (RFC 9449 §9): the token is good, the server wants its nonce (sent in
/// `DPoP-Nonce`) in the proof, and the 401 is the caller's to answer with
/// one. With the `grpc` feature, a gRPC trailers-only
/// response (HTTP 200) whose `grpc-status` is `UNAUTHENTICATED` (16) does:
/// gRPC's status codes say it means "the request does not have valid
/// authentication credentials", which is what a server's auth interceptor
/// answers to a token it refuses (`PERMISSION_DENIED`, a token lacking a
/// right, does not). What [`AuthLayer`](super::AuthLayer) renews on;
/// public for clients that renew by hand. One pass over each
/// `WWW-Authenticate` value, up to the first `error` parameter.
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
/// headers.insert("www-authenticate", r#"DPoP error="use_dpop_nonce""#.parse().unwrap());
/// assert!(!rejects_credential(StatusCode::UNAUTHORIZED, &headers));
/// ```
pub fn rejects_credential(status: StatusCode, headers: &HeaderMap) -> bool {
    // gRPC's 401: a trailers-only response whose `grpc-status` is
    // `UNAUTHENTICATED`. (Read for a 200 only: a gRPC failure in the
    // trailers comes after messages the caller has, and is not re-sent.)
    #[cfg(feature = "grpc")]
    if crate::grpc::trailers_only_kind(status, headers) == Some(crate::ErrorKind::Unauthorized) {
        return true;
    }
    rejects(status, || challenge_error(headers))
}

/// True when a typed error rejects the credential: by the challenge it
/// kept ([`ApiError::challenge_error`]), else by its body's code (RFC
/// 6750's error code, as OAuth2-shaped bodies carry it).
pub(crate) fn rejects_api(error: &ApiError) -> bool {
    // gRPC's code for a trailers-only response only (HTTP 200), as
    // `rejects_credential` reads it: otherwise the HTTP status decides.
    #[cfg(feature = "grpc")]
    if let Some(status) = error
        .grpc_status()
        .filter(|_| error.status() == StatusCode::OK)
    {
        return status.code() == tonic::Code::Unauthenticated;
    }
    rejects(error.status(), || error.challenge_error().or(error.code()))
}

/// The `error`s that make a 401 an answer, not a rejection of the
/// credential: the token is good but lacks a scope (RFC 6750 §3.1), or the
/// DPoP proof lacks the server's nonce (RFC 9449 §9).
const ANSWERS: [&str; 2] = ["insufficient_scope", "use_dpop_nonce"];

/// A 401 unless its `error` is one of the [`ANSWERS`]; a 400 or 403 when
/// it is `invalid_token`. (The `error` is read for those only: every
/// response of the success path passes here.)
fn rejects<'a>(status: StatusCode, error: impl FnOnce() -> Option<&'a str>) -> bool {
    match status {
        StatusCode::UNAUTHORIZED => !error().is_some_and(|error| ANSWERS.contains(&error)),
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => error() == Some("invalid_token"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::WWW_AUTHENTICATE;
    use http::HeaderValue;

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
    }

    /// gRPC's 401, and only it: UNAUTHENTICATED (16) in a trailers-only
    /// response; PERMISSION_DENIED (7) is a token lacking a right, and OK
    /// or an unreadable status is no rejection.
    #[cfg(feature = "grpc")]
    #[test]
    fn grpc_statuses() {
        for (status, code, rejects) in [
            (StatusCode::OK, "16", true),
            (StatusCode::OK, "7", false),
            (StatusCode::OK, "0", false),
            (StatusCode::OK, "16x", false),
            // Not a trailers-only gRPC answer: the HTTP status decides.
            (StatusCode::SERVICE_UNAVAILABLE, "16", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-status", HeaderValue::from_static(code));
            assert_eq!(rejects_credential(status, &headers), rejects, "{code}");
        }
    }
}
