//! Headers in which a server says outright whether to retry:
//! `x-should-retry`, `Stripe-Should-Retry` and `grpc-retry-pushback-ms`.

use super::number::parse_millis;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

const X_SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");
const STRIPE_SHOULD_RETRY: HeaderName = HeaderName::from_static("stripe-should-retry");
const GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// The server's explicit retry verdict, if it sent one.
///
/// Reads `x-should-retry` (OpenAI, Anthropic) and `Stripe-Should-Retry`
/// (Stripe): `true` or `false`, case-insensitive. Anything else is ignored.
/// When both are present and disagree, `false` wins: retrying against a
/// server's word risks duplicating work, waiting does not.
///
/// ```
/// use http::HeaderMap;
/// use tower_api_errors::hints::should_retry;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(should_retry(&headers), None);
/// headers.insert("stripe-should-retry", "false".parse().unwrap());
/// assert_eq!(should_retry(&headers), Some(false));
/// ```
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    if headers.is_empty() {
        return None;
    }
    [X_SHOULD_RETRY, STRIPE_SHOULD_RETRY]
        .into_iter()
        .flat_map(|name| headers.get_all(name))
        .filter_map(parse_verdict)
        .reduce(|a, b| a && b)
}

/// One `x-should-retry` / `Stripe-Should-Retry` value.
pub(crate) fn parse_verdict(value: &HeaderValue) -> Option<bool> {
    let text = value.to_str().ok()?.trim();
    let verdict = text.eq_ignore_ascii_case("true");
    (verdict || text.eq_ignore_ascii_case("false")).then_some(verdict)
}

/// A gRPC server's retry pushback (gRFC A6, `grpc-retry-pushback-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrpcPushback {
    /// Retry after this delay, in place of the backoff.
    After(Duration),
    /// The value was negative or malformed (or there were several): gRFC
    /// A6 says not to retry.
    DoNotRetry,
}

/// The `grpc-retry-pushback-ms` verdict of a response, if present.
///
/// ```
/// use http::HeaderMap;
/// use std::time::Duration;
/// use tower_api_errors::hints::{grpc_pushback, GrpcPushback};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("grpc-retry-pushback-ms", "250".parse().unwrap());
/// assert_eq!(grpc_pushback(&headers), Some(GrpcPushback::After(Duration::from_millis(250))));
/// headers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
/// assert_eq!(grpc_pushback(&headers), Some(GrpcPushback::DoNotRetry));
/// // Two values are no one integer: "do not retry" too (as grpc-go).
/// headers.insert("grpc-retry-pushback-ms", "100".parse().unwrap());
/// headers.append("grpc-retry-pushback-ms", "10".parse().unwrap());
/// assert_eq!(grpc_pushback(&headers), Some(GrpcPushback::DoNotRetry));
/// ```
pub fn grpc_pushback(headers: &HeaderMap) -> Option<GrpcPushback> {
    let values = headers.get_all(GRPC_RETRY_PUSHBACK_MS).iter();
    values.fold(None, |kept, value| Some(with_pushback(kept, value)))
}

/// The pushback after one more `grpc-retry-pushback-ms` field, `kept` the
/// fields before it: the first is read; several are no one integer (RFC
/// 9110 §5.3 joins them), which gRFC A6 reads as "do not retry" (as
/// grpc-go does).
pub(crate) fn with_pushback(kept: Option<GrpcPushback>, value: &HeaderValue) -> GrpcPushback {
    if kept.is_some() {
        return GrpcPushback::DoNotRetry;
    }
    let text = value.to_str().ok().filter(|text| !text.contains('.'));
    text.and_then(parse_millis)
        .map_or(GrpcPushback::DoNotRetry, GrpcPushback::After)
}
