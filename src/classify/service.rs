//! [`StatusClassifier`].

use super::{Classify, DefaultClassifier, ResponseFuture};
use http::{Request, Response};
use std::task::{Context, Poll};
use tower::Service;

/// Stamps a [`Classification`](super::Classification) into the extensions
/// of every response of the inner service; a failure also carries the
/// [`ResponseHints`](crate::hints::ResponseHints) read for it (when the
/// classifier hands its reading back, as the default one does), which the
/// parse layer above reuses instead of reading the headers again.
///
/// The stamp costs three allocations per response (`http::Extensions`
/// boxes each value, and allocates its map on a response that has none).
/// The recommended stack does not need it: the parse and retry layers
/// classify for themselves with the same default table. Use this layer
/// when something needs the verdict on every response (a layer or handler
/// of yours, or a custom classifier the layers above should all follow).
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
        StatusClassifier::with_classifier(inner, DefaultClassifier::new())
    }
}

impl<S, C> StatusClassifier<S, C> {
    pub(crate) fn with_classifier(inner: S, classifier: C) -> Self {
        StatusClassifier { inner, classifier }
    }

    /// Replaces the classifier.
    pub fn classifier<C2: Classify + Clone>(self, classifier: C2) -> StatusClassifier<S, C2> {
        StatusClassifier::with_classifier(self.inner, classifier)
    }

    inner_service_accessors!();
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
