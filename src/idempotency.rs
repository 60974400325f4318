//! Which requests may be sent twice: the one rule the retry and hedge
//! layers both follow (RFC 9110 §9.2.2, and the `Idempotency-Key` header
//! that vendors dedupe by). Re-exported from [`retry`](crate::retry).

use http::{HeaderMap, HeaderName, Method};

/// The header that makes any request safe to retry: the server dedupes by it.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// True for requests that may be sent twice: `GET`, `HEAD`, `OPTIONS`,
/// `TRACE`, `PUT`, `DELETE` (RFC 9110 §9.2.2), or any request carrying an
/// `Idempotency-Key` header with a key in it (an empty or blank value, or
/// an empty sf-string `""`, names nothing to dedupe by).
///
/// ```
/// use http::{HeaderMap, HeaderValue, Method};
/// use tower_api_errors::retry::is_idempotent;
///
/// let mut headers = HeaderMap::new();
/// assert!(is_idempotent(&Method::PUT, &headers));
/// assert!(!is_idempotent(&Method::POST, &headers));
/// headers.insert("idempotency-key", HeaderValue::from_static("order-42"));
/// assert!(is_idempotent(&Method::POST, &headers));
/// ```
pub fn is_idempotent(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || headers
        .get(IDEMPOTENCY_KEY)
        .is_some_and(|key| !matches!(key.as_bytes().trim_ascii(), b"" | b"\"\""))
}
