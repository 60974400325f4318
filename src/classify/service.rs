//! [`StatusClassifier`].

use super::{Classify, DefaultClassifier, ResponseFuture};
use http::{Request, Response};
use std::task::{Context, Poll};
use tower::Service;

/// Stamps a [`Classification`](super::Classification) into the extensions
/// of every response of the inner service.
///
/// It never touches or buffers the body, works for any request and response
/// body types, and passes the inner service's errors through unchanged.
///
/// # Clone
/// Cloning clones the inner service and the classifier.
#[derive(Debug, Clone)]
pub struct StatusClassifier<S, C = DefaultClassifier> {
    inner: S,
    classifier: C,
}

impl<S> StatusClassifier<S> {
    /// Wraps `inner` with the [`DefaultClassifier`].
    pub fn new(inner: S) -> Self {
        StatusClassifier {
            inner,
            classifier: DefaultClassifier::new(),
        }
    }
}

impl<S, C> StatusClassifier<S, C> {
    pub(crate) fn with_classifier(inner: S, classifier: C) -> Self {
        StatusClassifier { inner, classifier }
    }

    /// Replaces the classifier.
    pub fn classifier<C2: Classify + Clone>(self, classifier: C2) -> StatusClassifier<S, C2> {
        StatusClassifier {
            inner: self.inner,
            classifier,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for StatusClassifier<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: Classify + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), self.classifier.clone())
    }
}
