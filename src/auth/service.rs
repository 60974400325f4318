//! [`Auth`].

use super::state::Tokens;
use super::{ResendBody, ResponseFuture};
use crate::context::CallContext;
use crate::error::BoxError;
use crate::prototype::Prototype;
use crate::Error;
use http::header::Entry;
use http::{Request, Response};
use std::sync::Arc;
use tower::Service;

/// Sets the credential on every request, and on a rejection (401; a 400 or
/// 403 whose `WWW-Authenticate` says `error="invalid_token"`; not one that
/// says `error="insufficient_scope"` or `"use_dpop_nonce"`) renews it once and sends the request
/// again. See the [module docs](super).
///
/// Errors of the inner service become [`Error::Transport`] (an inner
/// [`Error`] from a stacked layer passes through as it is); the layer's own
/// failures are [`Error::Unauthorized`].
///
/// The header and scheme are set on the [`AuthLayer`](super::AuthLayer)
/// (they shape the credential cache its services share); the service
/// offers the per-request setting.
///
/// # Clone
/// Clones the inner service; clones share the credential cache. The
/// service must be `Clone`: the first send goes through the service the
/// caller made ready, in place; a send after waiting for the first
/// credential, or a re-send after a renewal, goes through a clone of the
/// inner service as it was at this layer's first call (shared by this
/// service's clones) and drives that clone's `poll_ready` first. A
/// request that waits for the first credential gives back the readiness
/// of the service the caller made ready (replaced by a clone), so that a
/// kept service's permit is not what that `poll_ready` waits for.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    // Shared by this service's clones: what sends after a wait or a
    // renewal go through (see `Prototype`).
    prototype: Arc<Prototype<S>>,
    tokens: Arc<Tokens>,
    override_explicit: bool,
}

impl<S> Auth<S> {
    pub(crate) fn from_parts(inner: S, tokens: Arc<Tokens>, override_explicit: bool) -> Self {
        Auth {
            inner,
            prototype: Arc::new(Prototype::default()),
            tokens,
            override_explicit,
        }
    }

    /// See [`AuthLayer::override_explicit`](super::AuthLayer::override_explicit).
    pub fn override_explicit(mut self, override_explicit: bool) -> Self {
        self.override_explicit = override_explicit;
        self
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    ReqBody: ResendBody,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S, ReqBody>;

    poll_inner_ready!();

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The call's context from a layer above (see `crate::context`),
        // taken before the credential goes in: the re-send after a
        // renewal is rebuilt from it, with the renewed credential.
        let found = CallContext::find(&request);
        // One lookup of the credential header: it tells a caller's own
        // credential, and is where the cached one goes.
        let header = self.tokens.format.header.clone();
        let acquired = match request.headers_mut().entry(header) {
            Entry::Occupied(_) if !self.override_explicit => {
                // The caller's own credential: not ours to set or renew.
                return ResponseFuture::passthrough(self.inner.call(request));
            }
            Entry::Occupied(mut held) => self.tokens.acquire().inserted(|value| {
                held.insert(value);
            }),
            Entry::Vacant(slot) => self.tokens.acquire().inserted(|value| {
                slot.insert(value);
            }),
        };
        // The first send goes through the service the caller made ready,
        // in place; a send after a wait or a renewal through a clone of
        // the prototype, made then.
        self.prototype.keep(&self.inner);
        ResponseFuture::start(
            &mut self.inner,
            self.prototype.clone(),
            request,
            self.tokens.clone(),
            found,
            acquired,
        )
    }
}
