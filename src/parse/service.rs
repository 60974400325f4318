//! [`ErrorBodyParse`].

use super::layer::ParseConfig;
use super::{Dialect, NamesRequests, Naming, ResponseFuture};
use crate::classify::{Classify, DefaultClassifier};
use crate::error::BoxError;
use crate::Error;
use http::{Request, Response};
use std::marker::PhantomData;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;

/// Leaves successful responses untouched and turns failures into
/// `Err(Error::Api(ApiError))`, reading at most a capped number of bytes of
/// the body, for at most a bounded time.
///
/// Errors of the inner service become [`Error::Transport`] (an inner
/// [`Error`] from a stacked layer passes through as it is).
///
/// # Clone
/// Clones the inner service; the configuration is shared.
#[derive(Debug, Clone)]
pub struct ErrorBodyParse<S, C = DefaultClassifier, N = NamesRequests> {
    inner: S,
    config: ParseConfig<C>,
    naming: PhantomData<fn() -> N>,
}

impl<S> ErrorBodyParse<S> {
    /// Wraps `inner` with the default configuration (see
    /// [`ErrorBodyParseLayer::new`](super::ErrorBodyParseLayer::new)).
    pub fn new(inner: S) -> Self {
        ErrorBodyParse::from_config(inner, ParseConfig::default())
    }
}

impl<S, C, N> ErrorBodyParse<S, C, N> {
    pub(crate) fn from_config(inner: S, config: ParseConfig<C>) -> Self {
        ErrorBodyParse {
            inner,
            config,
            naming: PhantomData,
        }
    }

    /// See [`ErrorBodyParseLayer::max_body_bytes`](super::ErrorBodyParseLayer::max_body_bytes).
    ///
    /// # Panics
    /// When `bytes` is zero.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.config = self.config.max_body_bytes(bytes);
        self
    }

    /// See [`ErrorBodyParseLayer::body_timeout`](super::ErrorBodyParseLayer::body_timeout).
    ///
    /// # Panics
    /// When `timeout` is zero.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.body_timeout(timeout);
        self
    }

    /// See [`ErrorBodyParseLayer::dialect`](super::ErrorBodyParseLayer::dialect).
    pub fn dialect(mut self, dialect: impl Dialect) -> Self {
        self.config = self.config.dialect(dialect);
        self
    }

    /// See [`ErrorBodyParseLayer::classifier`](super::ErrorBodyParseLayer::classifier).
    pub fn classifier<C2: Classify + Clone>(self, classifier: C2) -> ErrorBodyParse<S, C2, N> {
        ErrorBodyParse {
            inner: self.inner,
            config: self.config.with_classifier(classifier),
            naming: PhantomData,
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

impl<S, C, N, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorBodyParse<S, C, N>
where
    N: Naming,
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body,
    ResBody::Error: Into<BoxError>,
    C: Classify + Clone,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S::Future, ResBody, C, N>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| Error::from_inner(error, None))
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Nothing under `ApiErrorsLayer` (`NamedAbove`): the retry layer
        // above keeps the request.
        let kept = N::keep(&request);
        ResponseFuture::new(self.inner.call(request), self.config.clone(), kept)
    }
}
