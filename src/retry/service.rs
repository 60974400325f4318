//! [`Retry`].

use super::{Policy, ReplayBody, ResponseFuture, RetryPolicy};
use crate::error::BoxError;
use crate::prototype::Prototype;
use crate::Error;
use http::{Request, Response};
use std::sync::Arc;
use tower::Service;

/// Retries failed requests as its [`Policy`] says ([`RetryPolicy`] by
/// default).
///
/// The inner service receives requests whose body is a [`ReplayBody`] of
/// the caller's body, so that a retry can send it again.
///
/// It reads failures in either form: an `Err(Error::Api(_))` from an
/// [`ErrorBodyParse`](crate::parse::ErrorBodyParse) inside it (whose hints
/// already merge headers and body), or a failure response straight from a
/// client (classified by a stamp from a
/// [`StatusClassifier`](crate::classify::StatusClassifier) inside it, or by
/// the [`DefaultClassifier`](crate::classify::DefaultClassifier)).
///
/// # Clone
/// Clones the inner service; clones share the policy's budget. The
/// service must be `Clone`: the first attempt goes through the service the
/// caller made ready, in place; a retry goes through a clone of the inner
/// service as it was at this layer's first call (shared by this service's
/// clones, so no clone of the client is made per request), and drives that
/// clone's `poll_ready` before it sends. Clones of a client share its
/// connections and configuration, so both send the same way.
///
/// It records each call's [`CallContext`](crate::context::CallContext)
/// (its copy of the request, which its retries are built from) and enters
/// it while it calls the service below, so that the layers below find it
/// (see [the contract](crate::context)).
pub struct Retry<S, P = RetryPolicy> {
    inner: S,
    // One reference count per call (and per clone of this service) for
    // all a request needs of the layer: its policy and prototype.
    shared: Arc<Shared<S, P>>,
}

impl<S: Clone, P> Clone for Retry<S, P> {
    fn clone(&self) -> Self {
        Retry {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

debug_fields!([S: std::fmt::Debug, P: std::fmt::Debug] Retry<S, P> (&self) {
    inner: self.inner,
    policy: self.shared.policy,
});

/// What a [`Retry`] and its clones share, and each of its response futures
/// holds a count of.
pub(crate) struct Shared<S, P> {
    pub(crate) policy: P,
    // What retries send through.
    pub(crate) prototype: Prototype<S>,
}

impl<S, P> Retry<S, P> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: S, policy: P) -> Self {
        Retry {
            inner,
            shared: Arc::new(Shared {
                policy,
                prototype: Prototype::default(),
            }),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.shared.policy
    }

    inner_service_accessors!();
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for Retry<S, P>
where
    S: Service<Request<ReplayBody<ReqBody>>, Response = Response<ResBody>> + Clone,
    P: Policy,
    S::Error: Into<BoxError>,
    ReqBody: http_body::Body + Unpin,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S, ReqBody, P>;

    poll_inner_ready!();

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The first attempt goes through the service the caller made
        // ready; further sends through clones of the prototype, made
        // only when one is needed (see `Prototype`).
        self.shared.prototype.keep(&self.inner);
        ResponseFuture::start(&mut self.inner, self.shared.clone(), request)
    }
}
