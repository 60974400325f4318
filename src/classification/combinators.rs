//! Ways to adapt a classifier without forking it: per-status overrides,
//! refinement of another classifier's verdict, and closures.

use super::{Classification, Classify};
use http::{HeaderMap, StatusCode};
use std::fmt;

/// Combinators for every [`Classify`].
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::classify::{Classification, Classify, ClassifyExt, DefaultClassifier, Failure};
/// use tower_api_errors::ErrorKind;
///
/// // An existence check: 404 is an answer, not an error; and this API's
/// // 409 means "try again, a lock is held".
/// let classifier = DefaultClassifier::new()
///     .with_status(StatusCode::NOT_FOUND, Classification::Success)
///     .refine(|status, _headers, verdict| match status {
///         StatusCode::CONFLICT => Classification::Failure(
///             Failure::new(ErrorKind::Conflict).with_retryable(true),
///         ),
///         _ => verdict,
///     });
/// let headers = HeaderMap::new();
/// assert!(classifier.classify(StatusCode::NOT_FOUND, &headers).is_success());
/// assert!(classifier.classify(StatusCode::CONFLICT, &headers).is_retryable());
/// assert!(!classifier.classify(StatusCode::BAD_REQUEST, &headers).is_retryable());
/// ```
pub trait ClassifyExt: Classify + Sized {
    /// Answers `classification` for `status`, and asks `self` otherwise.
    fn with_status(self, status: StatusCode, classification: Classification) -> WithStatus<Self> {
        WithStatus {
            inner: self,
            status,
            classification,
        }
    }

    /// Passes `self`'s verdict through `f`, which may keep or replace it.
    fn refine<F>(self, f: F) -> Refine<Self, F>
    where
        F: Fn(StatusCode, &HeaderMap, Classification) -> Classification,
    {
        Refine { inner: self, f }
    }
}

impl<C: Classify> ClassifyExt for C {}

/// A classifier with one status's answer fixed; see [`ClassifyExt::with_status`].
#[derive(Debug, Clone, Copy)]
pub struct WithStatus<C> {
    inner: C,
    status: StatusCode,
    classification: Classification,
}

impl<C: Classify> Classify for WithStatus<C> {
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        if status == self.status {
            self.classification
        } else {
            self.inner.classify(status, headers)
        }
    }
}

/// A classifier whose verdict passes through a closure; see [`ClassifyExt::refine`].
#[derive(Clone, Copy)]
pub struct Refine<C, F> {
    inner: C,
    f: F,
}

debug_fields!([C: fmt::Debug, F] Refine<C, F> (&self) {
    inner: self.inner,
    ..
});

impl<C, F> Classify for Refine<C, F>
where
    C: Classify,
    F: Fn(StatusCode, &HeaderMap, Classification) -> Classification,
{
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        (self.f)(status, headers, self.inner.classify(status, headers))
    }
}

/// A classifier from a closure over status and headers.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_api_errors::classify::{classify_fn, Classification, Classify, Failure};
/// use tower_api_errors::ErrorKind;
///
/// // Only 5xx are failures, all retryable.
/// let classifier = classify_fn(|status: StatusCode, _: &HeaderMap| {
///     if status.is_server_error() {
///         Classification::Failure(Failure::new(ErrorKind::Server).with_retryable(true))
///     } else {
///         Classification::Success
///     }
/// });
/// assert!(classifier.classify(StatusCode::NOT_FOUND, &HeaderMap::new()).is_success());
/// ```
pub fn classify_fn<F>(f: F) -> ClassifyFn<F>
where
    F: Fn(StatusCode, &HeaderMap) -> Classification,
{
    ClassifyFn { f }
}

/// A classifier from a closure; see [`classify_fn`].
#[derive(Clone, Copy)]
pub struct ClassifyFn<F> {
    f: F,
}

opaque_debug!([F] ClassifyFn<F>);

impl<F> Classify for ClassifyFn<F>
where
    F: Fn(StatusCode, &HeaderMap) -> Classification,
{
    fn classify(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        (self.f)(status, headers)
    }
}
