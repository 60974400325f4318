//! [`ResponseFuture`] of [`StatusClassifier`](super::StatusClassifier).

use super::{Classify, DefaultClassifier};
use http::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// The response future of [`StatusClassifier`](super::StatusClassifier).
    #[derive(Debug)]
    pub struct ResponseFuture<F, C = DefaultClassifier> {
        #[pin]
        inner: F,
        classifier: C,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, classifier: C) -> Self {
        ResponseFuture { inner, classifier }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: Classify,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let (verdict, hints) = this
            .classifier
            .classify_reading(response.status(), response.headers());
        crate::observe::classified(response.status(), verdict.kind(), verdict.is_retryable());
        response.extensions_mut().insert(verdict);
        // A failure also carries the one reading of its headers, for the
        // parse and retry layers above.
        if let Some(hints) = hints {
            response.extensions_mut().insert(hints);
        }
        Poll::Ready(Ok(response))
    }
}
