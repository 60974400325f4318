//! The [`Classify`] trait and the [`DefaultClassifier`].

use super::{Classification, Failure};
use crate::hints::{self, RateLimitInfo};
use crate::ErrorKind;
use http::{HeaderMap, StatusCode};
use std::time::SystemTime;

/// Decides what a response is: a success, or a failure of some kind.
///
/// It sees the status and headers only, never the body, so it can run on
/// every response at the cost of a few comparisons. Implement it for new
/// behaviour, or adapt the default with the [`ClassifyExt`](super::ClassifyExt)
/// combinators.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a response classifier (`Classify`)",
    label = "not a `Classify`",
    note = "a closure `|status, headers| -> Classification` becomes one with `tower_api_errors::classify::classify_fn`",
    note = "or adapt the default: `DefaultClassifier::new().with_status(..)` / `.refine(..)` (`ClassifyExt`)"
)]
pub trait Classify {
    /// Classifies a response from its status and headers.
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification;
}

impl<C: Classify + ?Sized> Classify for std::sync::Arc<C> {
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        (**self).classify(status, headers)
    }
}

/// The classifier every layer uses unless told otherwise.
///
/// 1. **Status table**: 1xx, 2xx and 3xx are successes; 4xx and 5xx map to a
///    kind by [`ErrorKind::from_status`]. 408, 429, 500, 502, 503 and 504 are
///    retryable; every other status is not (501 and 505 will not change on a
///    retry; other 4xx are the client's to fix).
/// 2. **Rate limits in disguise**: a 400 or 403 that also carries
///    `Retry-After` or an exhausted rate-limit window (`X-RateLimit-Remaining:
///    0` or any family [`RateLimitInfo`] reads) is [`ErrorKind::RateLimited`]
///    and retryable. GitHub answers rate limits with 403 this way.
/// 3. **The server's word**: `x-should-retry` / `Stripe-Should-Retry`
///    override the retry verdict either way.
/// 4. **Hint**: every failure carries the merged header hint
///    ([`hints::retry_hint`]).
/// 5. **gRPC** (feature `grpc`): a response with a `grpc-status` header (a
///    trailers-only gRPC response) is classified by that status instead; see
///    [`crate::grpc`].
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::classify::{Classify, DefaultClassifier};
/// use tower_api_errors::ErrorKind;
///
/// let classifier = DefaultClassifier::new();
/// let mut headers = HeaderMap::new();
/// assert!(classifier.classify(StatusCode::OK, &headers).is_success());
///
/// let verdict = classifier.classify(StatusCode::NOT_IMPLEMENTED, &headers);
/// assert_eq!(verdict.kind(), Some(ErrorKind::Other));
/// assert!(!verdict.is_retryable());
///
/// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
/// let verdict = classifier.classify(StatusCode::FORBIDDEN, &headers);
/// assert_eq!(verdict.kind(), Some(ErrorKind::RateLimited));
/// assert!(verdict.is_retryable());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier {
    _private: (),
}

impl DefaultClassifier {
    /// The default classifier.
    pub const fn new() -> Self {
        DefaultClassifier { _private: () }
    }
}

/// The statuses the default table retries.
fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

impl Classify for DefaultClassifier {
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        #[cfg(feature = "grpc")]
        if let Some(verdict) = crate::grpc::classify_trailers_only(headers) {
            return verdict;
        }
        // The success path: one range check, no header lookups.
        let Some(mut kind) = ErrorKind::from_status(status) else {
            return Classification::Success;
        };
        let mut retryable = is_retryable_status(status);
        let now = SystemTime::now();
        let explicit = hints::explicit_hint(headers, now);
        let disguise_candidate = matches!(kind, ErrorKind::BadRequest | ErrorKind::Forbidden);
        let has_retry_after = headers.contains_key(http::header::RETRY_AFTER);
        // The rate-limit headers are parsed at most once, and only when
        // something below needs them: the hint (no explicit one) or the
        // disguise check (a 400/403 without `Retry-After`).
        let limits = (explicit.is_none() || (disguise_candidate && !has_retry_after))
            .then(|| RateLimitInfo::from_headers(headers, now))
            .flatten();
        let hint = explicit.or_else(|| limits.as_ref().and_then(hints::reset_hint));
        if disguise_candidate && (has_retry_after || limits.is_some_and(|r| r.is_exhausted())) {
            kind = ErrorKind::RateLimited;
            retryable = true;
        }
        // The server's explicit word overrides the verdict either way.
        Classification::Failure(
            Failure::new(kind)
                .with_retryable(retryable)
                .with_hint(hint)
                .with_server_verdict(hints::should_retry(headers)),
        )
    }
}
