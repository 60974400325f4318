//! [`Hedge`].

use super::future::{Call, ResponseFuture, Spare};
use super::layer::Config;
use crate::context::CallContext;
use crate::error::BoxError;
use crate::hedged::{Claim, Hedged, Holds};
use crate::idempotency::may_send_twice;
use crate::prototype::Prototype;
use crate::replay::ReplayBody;
use crate::scope::ScopeRequest;
use crate::Error;
use http::{Request, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::Service;

/// Sends a second attempt of an idempotent call that is slow to answer;
/// the first success wins and the other attempt is dropped. Built by
/// [`HedgeLayer`](super::HedgeLayer).
///
/// The inner service receives requests whose body is a [`ReplayBody`] of
/// the caller's, so that the hedge can send it again.
///
/// # Clone
/// Clones the inner service; clones share the budget and what was
/// learned. The service must be `Clone`: the first attempt goes through
/// the service the caller made ready, in place; a hedge goes through a
/// clone of the inner service as it was at the first call (shared by this
/// service's clones), made ready before it sends. Clones of a client share
/// its connections, so both send the same way.
#[derive(Debug, Clone)]
pub struct Hedge<S> {
    inner: S,
    config: Arc<Config>,
    prototype: Arc<Prototype<S>>,
}

impl<S> Hedge<S> {
    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Hedge {
            inner,
            config,
            prototype: Arc::default(),
        }
    }

    inner_service_accessors!();
}

impl<S, B, ResBody> Service<Request<B>> for Hedge<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S, B>;

    poll_inner_ready!();

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let config = &self.config;
        let key = crate::scope::key(&ScopeRequest::new(&request), config.partition.as_deref());
        let (mut parts, body) = request.into_parts();
        let started = Instant::now();
        let call = Call {
            config: config.clone(),
            prototype: self.prototype.clone(),
            key,
            started,
            target: None,
        };
        // Not to be sent twice (not idempotent, or its `RetryOverride`
        // says so), or no hedge for it now (too little learned, a
        // cooldown, no quota headroom): one attempt, unmarked, so that a
        // retry layer below treats it as any other call.
        // Under a retry layer (a call context is entered: the retry layer
        // records one around each send), each retry would be hedged, the
        // two strategies multiplying: gRPC A6 allows one per call, so this
        // layer then passes calls through unhedged.
        let hedgeable = may_send_twice(&parts) && !CallContext::is_entered();
        let delay = hedgeable.then(|| config.scopes.delay(key, &config.delay, started));
        let Some(delay) = delay.flatten() else {
            let body = ReplayBody::new(body, 0);
            let first = self.inner.call(Request::from_parts(parts, body));
            return ResponseFuture::single(first, call);
        };
        if let Some(budget) = &config.budget {
            budget.deposit();
        }
        parts.extensions.insert(Hedged::new(1));
        // Who sends the second attempt first, the hedge or a retry layer
        // below, owns the call's further attempts.
        let claim = Claim::default();
        parts.extensions.insert(claim.clone());
        let body = ReplayBody::new(body, config.max_replay);
        // A small body of known length is kept before the first attempt
        // reads it: a first attempt still connecting is hedged too.
        body.read_ahead();
        let call = call.naming(&mut parts);
        let template = CallContext::of_parts(&parts);
        // On the first attempt only (after the hedge's template is
        // taken): a layer below that holds it before its send says so.
        let holds = Holds::default();
        parts.extensions.insert(holds.clone());
        let delay = delay.min(MAX_DELAY);
        let spare = Spare {
            template,
            body: body.replay(),
            service: None,
            claim,
            holds,
            delay,
        };
        self.prototype.keep(&self.inner);
        let first = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::hedged(first, call, spare, started + delay)
    }
}

/// A delay past this is no hedge worth arming.
const MAX_DELAY: Duration = Duration::from_secs(3600);
