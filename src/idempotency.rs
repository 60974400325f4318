//! Which requests may be sent twice: the one rule the retry and hedge
//! layers both follow (RFC 9110 §9.2.2, and the `Idempotency-Key` header
//! that vendors dedupe by), and a request's own word on it
//! ([`RetryOverride`]). Re-exported from [`retry`](crate::retry).

use http::request::Parts;
use http::{HeaderMap, HeaderName, Method};
use std::time::Duration;

/// The header that makes any request safe to retry: the server dedupes by it.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// True for requests that may be sent twice: `GET`, `HEAD`, `OPTIONS`,
/// `TRACE`, `PUT`, `DELETE` (RFC 9110 §9.2.2), or any request carrying an
/// `Idempotency-Key` header with a key in it (an empty or blank value, or
/// an empty sf-string `""`, names nothing to dedupe by), or an
/// `X-Idempotency-Key`, the older name some APIs still take (Go's
/// `net/http` replays a request with either).
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
    ) || [IDEMPOTENCY_KEY.as_str(), "x-idempotency-key"]
        .into_iter()
        .filter_map(|name| headers.get(name))
        .any(|key| !matches!(key.as_bytes().trim_ascii(), b"" | b"\"\""))
}

/// Whether a request may be sent more than once, its own word first: a
/// [`RetryOverride`] that allows one attempt, or says whether it is
/// idempotent; else [`is_idempotent`]. What the hedge layer asks of a
/// request's parts before a second attempt.
pub(crate) fn may_send_twice(parts: &Parts) -> bool {
    let word = parts.extensions.get::<RetryOverride>();
    let idempotent = word.and_then(|word| word.idempotent);
    word.is_none_or(|word| word.max_attempts != Some(1))
        && idempotent.unwrap_or_else(|| is_idempotent(&parts.method, &parts.headers))
}

/// Per-request retry settings, carried as a request **extension**: they
/// change what the [`RetryLayer`](crate::RetryLayer) does for this one
/// request and never go on the wire (unlike a header would). The
/// [`HedgeLayer`](crate::hedge::HedgeLayer) reads its word on sending
/// twice too: a request allowed one attempt, or said not to be
/// idempotent, is never hedged.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryOverride, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let sent = Arc::new(AtomicU32::new(0));
/// let counter = sent.clone();
/// let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
///     counter.fetch_add(1, Ordering::SeqCst);
///     assert!(req.headers().is_empty(), "nothing of the override goes on the wire");
///     async { Ok::<_, std::convert::Infallible>(Response::builder().status(503).body(Full::new(Bytes::new())).unwrap()) }
/// });
/// let client = RetryLayer::new(RetryPolicy::default()).layer(upstream);
///
/// // A health probe that must not be retried:
/// let mut probe = Request::get("/health").body(Full::new(Bytes::new())).unwrap();
/// probe.extensions_mut().insert(RetryOverride::no_retries());
/// let response = client.clone().oneshot(probe).await.unwrap();
/// assert_eq!((response.status().as_u16(), sent.load(Ordering::SeqCst)), (503, 1));
///
/// // A POST this API dedupes by its body: safe to retry.
/// let mut post = Request::post("/orders").body(Full::new(Bytes::from_static(b"{}"))).unwrap();
/// post.extensions_mut().insert(RetryOverride::new().idempotent(true).max_attempts(2));
/// client.oneshot(post).await.unwrap();
/// assert_eq!(sent.load(Ordering::SeqCst), 1 + 2);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOverride {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) deadline: Option<Option<Duration>>,
    pub(crate) idempotent: Option<bool>,
}

impl RetryOverride {
    /// Overrides nothing (a starting point for the setters).
    pub fn new() -> Self {
        RetryOverride::default()
    }

    /// One attempt, no retry, whatever the failure.
    pub fn no_retries() -> Self {
        RetryOverride::new().max_attempts(1)
    }

    config_setters! {
        self;

        /// Total attempts for this request (see
        /// [`RetryPolicy::max_attempts`](crate::RetryPolicy::max_attempts)).
        ///
        /// # Panics
        /// When `attempts` is zero.
        pub fn max_attempts(attempts: u32) |o| {
            assert!(attempts >= 1, "max_attempts must be at least 1");
            o.max_attempts = Some(attempts)
        };

        /// This request's total time (see
        /// [`RetryPolicy::deadline`](crate::RetryPolicy::deadline)).
        ///
        /// # Panics
        /// When `deadline` is zero.
        pub fn deadline(deadline: Duration) |o| {
            assert!(!deadline.is_zero(), "deadline must be longer than zero");
            o.deadline = Some(Some(deadline))
        };

        /// No deadline for this request (a long download, a stream).
        pub fn no_deadline() |o| o.deadline = Some(None);

        /// Whether this request may be sent twice, in place of the method's
        /// rule: `true` for a POST the server dedupes, `false` for a GET with
        /// side effects.
        pub fn idempotent(idempotent: bool) |o| o.idempotent = Some(idempotent);
    }
}
