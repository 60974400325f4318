//! [`ErrorBodyParse`].

use super::layer::ParseConfig;
use super::naming::Kept;
use super::{Dialect, ResponseFuture};
use crate::classification::{Classify, DefaultClassifier};
use crate::error::BoxError;
use crate::Error;
use http::{Request, Response};
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
pub struct ErrorBodyParse<S, C = DefaultClassifier> {
    inner: S,
    config: ParseConfig<C>,
}

impl<S> ErrorBodyParse<S> {
    /// Wraps `inner` with the default configuration (see
    /// [`ErrorBodyParseLayer::new`](super::ErrorBodyParseLayer::new)).
    pub fn new(inner: S) -> Self {
        ErrorBodyParse::from_config(inner, ParseConfig::default())
    }
}

impl<S, C> ErrorBodyParse<S, C> {
    pub(crate) fn from_config(inner: S, config: ParseConfig<C>) -> Self {
        ErrorBodyParse { inner, config }
    }

    parse_setters!();

    /// See [`ErrorBodyParseLayer::dialect`](super::ErrorBodyParseLayer::dialect).
    pub fn dialect(self, dialect: impl Dialect) -> Self {
        let parser = self.config.failure.parser.clone().dialect(dialect);
        self.parser(parser)
    }

    /// See [`ErrorBodyParseLayer::classifier`](super::ErrorBodyParseLayer::classifier).
    pub fn classifier<C2: Classify + Clone>(self, classifier: C2) -> ErrorBodyParse<S, C2> {
        ErrorBodyParse::from_config(self.inner, self.config.with_classifier(classifier))
    }

    inner_service_accessors!();
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorBodyParse<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body,
    ResBody::Error: Into<BoxError>,
    C: Classify + Clone,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S::Future, ResBody, C>;

    poll_inner_ready!();

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The call's context from a layer above, or a record of our own.
        let kept = Kept::of(&request);
        ResponseFuture::new(self.inner.call(request), self.config.clone(), kept)
    }
}
