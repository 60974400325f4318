//! [`CircuitBreaker`].

use super::future::{ResponseFuture, Ticket};
use super::layer::Config;
use super::state::{Admission, FleetOpening};
use super::CircuitBreakerLayer;
use crate::error::{BoxError, ScopeKey};
use crate::fleet::{unix_ms, OpeningStore};
use crate::redact::RequestContext;
use crate::scope::{self, ScopeRequest};
use crate::{CircuitOpen, Error};
use http::{Request, Response, Uri};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;
use tower::{Layer, Service};

/// What events name a scope by: the request's scheme and authority
/// (never its user-info, path or query).
fn label_of(request: &ScopeRequest<'_>) -> Uri {
    let scheme = request.uri().scheme_str().unwrap_or("http");
    let authority = String::from_utf8_lossy(scope::authority(request.uri(), request.headers()));
    Uri::try_from(format!("{scheme}://{authority}/")).unwrap_or_default()
}

/// The fleet's latest opening of scope `key` in `store` (if shared), and
/// what is left of it.
fn fleet_opening(store: Option<&dyn OpeningStore>, key: u64) -> Option<FleetOpening> {
    let at = store?.opening(ScopeKey::from_u64(key))?;
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    Some((unix_ms(at), left))
}

/// Fails calls at once, without sending them, while its scope's upstream
/// is unwell; lets one probe through when the break is over. Built by
/// [`CircuitBreakerLayer`].
///
/// # Clone
/// Clones the inner service; clones share the circuits.
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> CircuitBreaker<S> {
    /// Wraps `inner` with the defaults (see [`CircuitBreakerLayer::new`]);
    /// the layer's setters configure it otherwise.
    pub fn new(inner: S) -> Self {
        CircuitBreakerLayer::new().layer(inner)
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        CircuitBreaker { inner, config }
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CircuitBreaker<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    poll_inner_ready!();

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        let view = ScopeRequest::new(&request);
        let key = scope::key(&view, config.partition.as_deref());
        let label = || label_of(&view);
        let now = Instant::now();
        // A request that names no server (a tonic `Channel`'s: its origin
        // is added below) is no scope of the fleet's: its openings stay here.
        let named = !scope::authority(view.uri(), view.headers()).is_empty();
        let fleet = fleet_opening(config.fleet.as_deref().filter(|_| named), key);
        let (circuits, thresholds) = (&config.circuits, &config.thresholds);
        let (tracked, admission, transition) = circuits.admit(key, now, fleet, thresholds, label);
        super::observe(&config.observer, transition);
        match admission {
            Admission::Go { probe } => {
                let ticket = tracked.map(|key| Ticket {
                    config: config.clone(),
                    key,
                    probe,
                    admitted: now,
                    named,
                    settled: false,
                });
                ResponseFuture::calling(self.inner.call(request), ticket)
            }
            // Refused: the inner service is not called, and the readiness
            // it granted (a `ConcurrencyLimit` permit, a `Buffer` slot) is
            // given back: a caller that keeps this service would otherwise
            // hold it while the retry's clone waits for it.
            Admission::Refuse {
                after,
                source,
                probing,
            } => {
                crate::prototype::release_readiness(&mut self.inner);
                let context = RequestContext::new(request.method().clone(), request.uri().clone());
                ResponseFuture::refused(CircuitOpen::new(after, source, probing, context))
            }
        }
    }
}
