//! The [`Classify`] trait and the [`DefaultClassifier`].

use super::{Classification, Failure};
use crate::hints::HintSource::{RetryAfter, RetryAfterMs};
use crate::hints::{GrpcPushback, ResponseHints};
use crate::ErrorKind;
use http::{HeaderMap, Response, StatusCode};
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

    /// Like [`classify`](Self::classify), and also hands back the
    /// response's [`ResponseHints`] when the classifier read them (for a
    /// failure), so that the layers above reuse that one reading instead of
    /// reading the headers again. The default calls `classify` and hands
    /// back nothing (the layers then read the hints of a failure
    /// themselves, once); the [`DefaultClassifier`] hands back its reading.
    fn classify_reading(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> (Classification, Option<ResponseHints>) {
        (self.classify(status, headers), None)
    }
}

impl<C: Classify + ?Sized> Classify for std::sync::Arc<C> {
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        (**self).classify(status, headers)
    }

    fn classify_reading(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> (Classification, Option<ResponseHints>) {
        (**self).classify_reading(status, headers)
    }
}

/// The classifier every layer uses unless told otherwise.
///
/// 1. **Status table**: 1xx, 2xx and 3xx are successes; 4xx and 5xx map to a
///    kind by [`ErrorKind::from_status`]. Retryable: 408, 429, and every 5xx
///    that waiting can heal: 500, 502, 503, 504, 507, 509, Cloudflare's
///    520-526 and 530, Anthropic's 529, 598, 599 and any other non-standard
///    5xx (go-retryablehttp and urllib3 retry these too). Not retryable: 501,
///    505, 506, 508, 510 and 511 (they name a permanent condition: a retry
///    gets the same answer) and every other 4xx (the client's to fix).
/// 2. **`Retry-After` where RFC 9110 gives it meaning**: on a 503 and a 429
///    it is the hint; a 413 that carries a readable `Retry-After` (or
///    `retry-after-ms`) says its condition is temporary (RFC 9110 §15.5.14)
///    and becomes retryable.
/// 3. **Rate limits in disguise**: a 400, a 403 or a 4xx of no kind of its
///    own ([`ErrorKind::Other`], but 413) that also carries `Retry-After` or
///    an exhausted rate-limit window (`X-RateLimit-Remaining: 0` or any
///    family [`ResponseHints`] reads) is [`ErrorKind::RateLimited`] and
///    retryable. GitHub answers rate limits with 403 this way, Binance its
///    IP bans with 418 (the `Retry-After` says until when).
/// 4. **The server's word**: `x-should-retry` / `Stripe-Should-Retry`
///    override the retry verdict either way.
/// 5. **Hint**: every failure carries the merged header hint
///    ([`ResponseHints::retry_hint`]); a rate-limited one waits for its
///    window's known reset even when `remaining` is absent
///    ([`ResponseHints::retry_hint_when_limited`]).
/// 6. **gRPC** (feature `grpc`): a response with a `grpc-status` header (a
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
/// // Anthropic's 529 overloaded_error: retried.
/// let verdict = classifier.classify(StatusCode::from_u16(529).unwrap(), &headers);
/// assert_eq!(verdict.kind(), Some(ErrorKind::Unavailable));
/// assert!(verdict.is_retryable());
///
/// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
/// let verdict = classifier.classify(StatusCode::FORBIDDEN, &headers);
/// assert_eq!(verdict.kind(), Some(ErrorKind::RateLimited));
/// assert!(verdict.is_retryable());
/// ```
///
/// Reading the headers is the costly part of a failure's verdict; a layer
/// that already holds a [`ResponseHints`] for the response passes it to
/// [`classify_with_hints`](Self::classify_with_hints) instead.
#[cfg_attr(
    not(feature = "grpc"),
    doc = "",
    doc = "[`crate::grpc`]: https://docs.rs/tower-api-errors/latest/tower_api_errors/grpc/index.html"
)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier {
    _private: (),
}

impl DefaultClassifier {
    /// The default classifier.
    pub const fn new() -> Self {
        DefaultClassifier { _private: () }
    }

    /// The verdict for a response whose headers were already read into
    /// `hints` (by [`ResponseHints::read`] on the same `headers`): the same
    /// as [`Classify::classify`], without reading the headers again. The
    /// success path does not look at `hints`.
    pub fn classify_with_hints(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        hints: &ResponseHints,
    ) -> Classification {
        settled(status, headers).unwrap_or_else(|kind| failure(status, kind, hints))
    }
}

/// The verdict for a failure of `kind`; also for a failure sent under a
/// 2xx (the success peek's, kind `Other`), whose headers count as an
/// unnamed 4xx's (GitHub GraphQL's rate limits come under 200).
pub(crate) fn failure(
    status: StatusCode,
    mut kind: ErrorKind,
    hints: &ResponseHints,
) -> Classification {
    // The statuses the default table retries: 408, 429 and the 5xx that
    // waiting can heal (see [`DefaultClassifier`]).
    let code = status.as_u16();
    let mut retryable =
        matches!(code, 408 | 429 | 500..=599) && !matches!(code, 501 | 505 | 506 | 508 | 510 | 511);
    // A 4xx (or 2xx) of no kind of its own but 413 (Binance's 418 ban) is one too.
    let unnamed = kind == ErrorKind::Other
        && (status.is_client_error() || status.is_success())
        && code != 413;
    if (unnamed || matches!(kind, ErrorKind::BadRequest | ErrorKind::Forbidden))
        && (hints.saw_retry_after() || hints.rate_limit().is_some_and(|r| r.is_exhausted()))
    {
        kind = ErrorKind::RateLimited;
        retryable = true;
    }
    // RFC 9110 §15.5.14: a 413 with Retry-After is temporary.
    let source = hints.explicit_hint().map(|hint| hint.source());
    let temporary = matches!(source, Some(RetryAfter | RetryAfterMs));
    retryable |= status == StatusCode::PAYLOAD_TOO_LARGE && temporary;
    let hint = if kind == ErrorKind::RateLimited {
        hints.retry_hint_when_limited()
    } else {
        hints.retry_hint()
    };
    // The server's explicit word overrides the verdict either way; a
    // negative or unreadable pushback is a "no" (gRFC A6).
    let refused = hints.grpc_pushback() == Some(GrpcPushback::DoNotRetry);
    let verdict = refused.then_some(false).or(hints.should_retry());
    let failure = Failure::new(kind).with_retryable(retryable).with_hint(hint);
    Classification::Failure(failure.with_server_verdict(verdict))
}

impl Classify for DefaultClassifier {
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        self.classify_reading(status, headers).0
    }

    fn classify_reading(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> (Classification, Option<ResponseHints>) {
        match settled(status, headers) {
            Ok(verdict) => (verdict, None),
            Err(kind) => {
                let hints = ResponseHints::read(headers, SystemTime::now());
                (failure(status, kind, &hints), Some(hints))
            }
        }
    }
}

/// Stamps a response that a classifier other than the default called a
/// success, where the default would call it a failure (a 503 a caller
/// counts as an answer): the layers above that have no classifier of
/// their own (the breaker, the hedge) read the stamp, so every layer of a
/// stack agrees with the classifier it was given. A success the default
/// agrees with, the usual case, costs its range check and is not stamped.
pub(crate) fn stamp_success<B>(response: &mut Response<B>) {
    let settled = settled(response.status(), response.headers());
    let default_fails = !settled.is_ok_and(|verdict| verdict.is_success());
    if default_fails && response.extensions().get::<Classification>().is_none() {
        response.extensions_mut().insert(Classification::Success);
    }
}

/// The default's verdict as far as it needs no hints: `Ok` for a success
/// or a trailers-only gRPC status (feature `grpc`), `Err` with the kind
/// of an HTTP failure, whose hints are still to be read. The success
/// path: one range check, no header lookups (but gRPC's one).
fn settled(status: StatusCode, headers: &HeaderMap) -> Result<Classification, ErrorKind> {
    #[cfg(feature = "grpc")]
    if let Some(verdict) = crate::grpc::classify_trailers_only(headers) {
        return Ok(verdict);
    }
    #[cfg(not(feature = "grpc"))]
    let _ = headers;
    ErrorKind::from_status(status).map_or(Ok(Classification::Success), Err)
}
