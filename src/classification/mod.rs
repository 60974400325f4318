//! The classifier table, below every layer: [`Classification`] and
//! [`Failure`] (the verdict on one response), the [`Classify`] trait, the
//! [`DefaultClassifier`] (the status table) and its combinators. The
//! classify, parse, retry, breaker and hedge layers all classify with it;
//! everything here is re-exported from [`classify`](crate::classify), where
//! users find it.

use crate::hints::{ResponseHints, RetryHint};
use crate::ErrorKind;
use http::Response;
use std::fmt;

mod classifier;
mod combinators;

pub(crate) use classifier::{failure, stamp_success};
pub use classifier::{Classify, DefaultClassifier};
pub use combinators::{classify_fn, ClassifyExt, ClassifyFn, Refine, WithStatus};

/// The verdict on a raw response for a layer with no classifier of its own
/// (the breaker, the hedge), read as the retry and parse layers read it by
/// default, so that all agree (a trailers-only gRPC status included): the
/// stamp of a classifier below, else the [`DefaultClassifier`]'s. `hints`
/// is the caller's reading of the same headers, when it has one (they are
/// then not read again). A success without a stamp costs a range check (and
/// with feature `grpc` one header lookup): no allocation.
pub(crate) fn classify_response<B>(
    response: &Response<B>,
    hints: Option<&ResponseHints>,
) -> Classification {
    if let Some(stamp) = response.extensions().get::<Classification>() {
        return *stamp;
    }
    let (status, headers) = (response.status(), response.headers());
    let classifier = DefaultClassifier::new();
    match hints {
        Some(hints) => classifier.classify_with_hints(status, headers, hints),
        None => classifier.classify(status, headers),
    }
}

/// The verdict on one response: a success, or a failure of some kind.
///
/// [`StatusClassifier`](crate::classify::StatusClassifier) stamps it into the
/// response's extensions; the parse and retry layers read it from there (or
/// classify afresh when it is missing).
///
/// ```
/// use tower_api_errors::classify::{Classification, Failure};
/// use tower_api_errors::ErrorKind;
///
/// let verdict = Classification::Failure(Failure::new(ErrorKind::Unavailable));
/// assert!(verdict.is_failure());
/// assert!(verdict.is_retryable());
/// assert_eq!(verdict.kind(), Some(ErrorKind::Unavailable));
/// assert!(!Classification::Success.is_retryable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Classification {
    /// The response is a success (1xx, 2xx, 3xx by default).
    Success,
    /// The response is a failure.
    Failure(Failure),
}

impl Classification {
    /// True for [`Classification::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Classification::Success)
    }

    /// True for [`Classification::Failure`].
    pub fn is_failure(&self) -> bool {
        !self.is_success()
    }

    /// The failure, if this is one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Classification::Success => None,
            Classification::Failure(failure) => Some(failure),
        }
    }

    field_getters! {
        /// The failure's kind; `None` for a success.
        pub fn kind -> Option<ErrorKind> { failure().map(Failure::kind) }

        /// True for a failure that may be retried; a success never is.
        pub fn is_retryable -> bool { failure().is_some_and(Failure::is_retryable) }

        /// The server's retry hint, for a failure that carried one.
        pub fn retry_hint -> Option<RetryHint> { failure().and_then(Failure::retry_hint) }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Classification::Success => f.write_str("success"),
            Classification::Failure(failure) => failure.fmt(f),
        }
    }
}

/// A failed response's kind, retry verdict and retry hint.
///
/// It is also the `FailureClass` when our classifiers drive tower-http's
/// `TraceLayer` (its `Display` is one short line).
///
/// ```
/// use std::time::Duration;
/// use tower_api_errors::classify::Failure;
/// use tower_api_errors::hints::{HintSource, RetryHint};
/// use tower_api_errors::ErrorKind;
///
/// let failure = Failure::new(ErrorKind::RateLimited)
///     .with_hint(Some(RetryHint::new(Duration::from_secs(2), HintSource::RetryAfter)));
/// assert!(failure.is_retryable());
/// assert_eq!(failure.to_string(), "rate limited (retryable, retry after 2s (from retry-after))");
/// assert!(!Failure::new(ErrorKind::NotFound).is_retryable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Failure {
    kind: ErrorKind,
    retryable: bool,
    hint: Option<RetryHint>,
    server_verdict: Option<bool>,
}

impl Failure {
    /// A failure of `kind`, retryable when the kind is
    /// [transient](ErrorKind::is_transient), with no hint.
    pub fn new(kind: ErrorKind) -> Self {
        Failure {
            kind,
            retryable: kind.is_transient(),
            hint: None,
            server_verdict: None,
        }
    }

    config_setters! {
        self;

        /// Records the server's explicit retry verdict (`x-should-retry`,
        /// `Stripe-Should-Retry`), which also sets the retry verdict. A server
        /// that says "retry" vouches that the request is safe to repeat, so the
        /// retry layer honours it even for non-idempotent requests.
        pub fn with_server_verdict(verdict: Option<bool>) |c| {
            c.retryable = verdict.unwrap_or(c.retryable);
            c.server_verdict = verdict;
        };

        /// Sets the retry verdict.
        pub fn with_retryable(retryable: bool) |c| c.retryable = retryable;

        /// Sets the retry hint.
        pub fn with_hint(hint: Option<RetryHint>) |c| c.hint = hint;

        /// Sets the kind, keeping the verdict and hint.
        pub fn with_kind(kind: ErrorKind) |c| c.kind = kind;
    }

    field_getters! {
        /// What sort of failure this is.
        pub fn kind -> ErrorKind;

        /// Whether a retry may succeed.
        pub fn is_retryable -> bool { retryable }

        /// How long the server asked to wait, if it said.
        pub fn retry_hint -> Option<RetryHint> { hint }

        /// The server's explicit retry verdict, when it sent one.
        pub fn server_verdict -> Option<bool>;
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = if self.retryable { "" } else { "not " };
        match self.hint {
            Some(hint) => write!(f, "{} ({not}retryable, retry after {hint})", self.kind),
            None => write!(f, "{} ({not}retryable)", self.kind),
        }
    }
}
