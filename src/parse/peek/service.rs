//! [`SuccessPeek`].

use super::layer::PeekConfig;
use super::{PeekBody, PeekFuture};
use crate::error::BoxError;
use crate::parse::naming::Kept;
use crate::Error;
use http::{Request, Response};
use http_body::Body;
use std::fmt;
use std::sync::Arc;
use tower::Service;

/// The service of [`SuccessPeekLayer`](super::SuccessPeekLayer).
#[derive(Clone)]
pub struct SuccessPeek<S> {
    inner: S,
    config: Arc<PeekConfig>,
}

debug_fields!([S: fmt::Debug] SuccessPeek<S> (&self) {
    inner: self.inner,
    ..
});

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SuccessPeek<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
{
    type Response = Response<PeekBody<ResBody>>;
    type Error = Error;
    type Future = PeekFuture<S::Future, ResBody>;

    poll_inner_ready!();

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // As the parse layer: the call's context, or a record of our own
        // (with the fingerprints that scrub a failure's echoes).
        let kept = Kept::of(&request);
        PeekFuture::new(self.inner.call(request), self.config.clone(), kept)
    }
}

impl<S> SuccessPeek<S> {
    pub(super) fn new(inner: S, config: Arc<PeekConfig>) -> Self {
        SuccessPeek { inner, config }
    }
}
