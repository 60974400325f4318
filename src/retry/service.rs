//! [`Retry`].

use super::{ReplayBody, ResponseFuture, RetryPolicy};
use crate::error::BoxError;
use crate::Error;
use http::{Request, Response};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use tower::Service;

/// Retries failed requests as its [`RetryPolicy`] says.
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
/// service must be `Clone`: each call takes the ready service into its
/// future (leaving a fresh clone behind, which keeps the readiness it was
/// given for the first attempt) and drives `poll_ready` before each retry.
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    // Shared by this service's clones: what retries send through.
    prototype: Arc<Prototype<S>>,
    policy: RetryPolicy,
    // Set by `ApiErrorsLayer` only, whose parse layer below keeps no copy
    // of the request: this layer names the request in the errors it gets
    // from below and scrubs their echoes of its credentials.
    names_errors: bool,
}

impl<S> Retry<S> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Retry {
            inner,
            prototype: Arc::new(Prototype::default()),
            policy,
            names_errors: false,
        }
    }

    /// Over a parse layer built with `named_above` (see `ApiErrorsLayer`).
    pub(crate) fn naming_errors(inner: S, policy: RetryPolicy) -> Self {
        Retry {
            inner,
            prototype: Arc::new(Prototype::default()),
            policy,
            names_errors: true,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Retry<S>
where
    S: Service<Request<ReplayBody<ReqBody>>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    ReqBody: http_body::Body + Unpin,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| Error::from_inner(error, None))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The first attempt goes through the service the caller made
        // ready; further sends through clones of the prototype, made
        // only when one is needed (see `Prototype`).
        self.prototype.keep(&self.inner);
        ResponseFuture::start(
            &mut self.inner,
            self.prototype.clone(),
            request,
            self.policy.clone(),
            self.names_errors,
        )
    }
}

/// The clone of the inner service that a request's further sends (its
/// retries, the auth layer's re-send) are cloned from, taken at the first
/// call and shared by the layer's clones.
///
/// Tower's `Retry` moves the ready service into every response future and
/// leaves a clone behind: a clone and a drop per request, and a future that
/// carries the whole service (hyper-util's `Client` is ~300 bytes) through
/// every move. Here the first attempt uses the ready service in place, and
/// the future holds a reference count; a retry clones the prototype and
/// drives the clone's own `poll_ready`, as it would have driven the moved
/// one's. Clones of a client share its connections and configuration, so
/// a clone of the prototype and a clone of the service at call time send
/// the same way. (The lock makes the prototype shareable for services that
/// are `Send` but not `Sync`, such as `BoxCloneService`; only a retry takes
/// it.)
pub(crate) struct Prototype<S> {
    service: OnceLock<Mutex<S>>,
}

impl<S> Default for Prototype<S> {
    fn default() -> Self {
        Prototype {
            service: OnceLock::new(),
        }
    }
}

impl<S: Clone> Prototype<S> {
    /// Takes a clone of `service` the first time (one atomic load after).
    pub(crate) fn keep(&self, service: &S) {
        self.service.get_or_init(|| Mutex::new(service.clone()));
    }

    /// A new clone, for a further send.
    pub(crate) fn service(&self) -> S {
        self.service
            .get()
            .expect("kept at the call that made the future")
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S> std::fmt::Debug for Prototype<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prototype")
            .field("kept", &self.service.get().is_some())
            .finish()
    }
}
