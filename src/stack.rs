//! The recommended stack as one layer: [`ApiErrorsLayer`].
//!
//! ```text
//! ApiErrorsLayer = [HedgeLayer] -> RetryLayer -> [CircuitBreakerLayer] -> [AuthLayer]
//!                  -> [QuotaLayer] -> ErrorBodyParseLayer -> client
//! ```
//!
//! A plain composition of the public layers, each configurable on its
//! own: the retry policy, the parse layer (its dialects, body cap,
//! classifier), and, when you add them, the hedge, breaker, auth and quota
//! layers. Without
//! them the stack is `Retry<ErrorBodyParse<S>>`: no cost for what is not
//! used. It behaves exactly as the same layers stacked with
//! `ServiceBuilder` in the same order, which is the one the crate's docs
//! argue for: every retry carries the current credential (auth inside
//! retry) and every physical send, the auth re-send included, passes the
//! quota gate (quota inside auth). `StatusClassifierLayer` is not part of
//! it: the parse and retry layers classify for themselves, and the
//! per-response stamp would cost every success three allocations; add it
//! below if something else reads the stamp.
//!
//! **One copy of the request.** The retry layer records each call's
//! [`CallContext`](crate::context::CallContext), its copy of the request;
//! the layers below find it (see [the contract](crate::context)) instead
//! of keeping copies of their own: the auth layer rebuilds its re-send
//! from it, the parse layer names its failures' request and scrubs their
//! echoes from it (unless a layer in between changed the request, as the
//! auth layer does when it sets the credential: then the parse layer keeps
//! its own record).
//!
//! **One partition, set on each layer.** The stack has no partition of
//! its own: the breaker, quota and hedge layers each take one
//! (`.partition(f)`, one signature) and key their state by it. Give all
//! three the same closure (a tenant header, say): a hedge layer left
//! unsplit lets one tenant's 429 or `Retry-After` stop every tenant's
//! hedges, and learns one latency percentile for all of them.
//!
//! [`ApiErrors<S, L>`](ApiErrors) names the service the layer makes, so it
//! can live in a struct or in axum state.
//!
//! # The default
//!
//! ```
//! use bytes::Bytes;
//! use http::Request;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::{connect::HttpConnector, Client};
//! use hyper_util::rt::TokioExecutor;
//! use tower_api_errors::retry::ReplayBody;
//! use tower_api_errors::stack::{ApiErrors, ApiErrorsLayer};
//!
//! // What goes into your struct or axum state:
//! #[derive(Clone)]
//! struct AppState {
//!     upstream: ApiErrors<Client<HttpConnector, ReplayBody<Full<Bytes>>>>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
//! let state = AppState { upstream: ApiErrorsLayer::new().client(client) };
//! # let _ = state.upstream;
//! # }
//! ```
//!
//! # Customised, with auth and quota, through `ServiceBuilder`
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
//! use tower_api_errors::retry::ReplayBody;
//! use tower_api_errors::stack::{ApiErrorsLayer, ServiceBuilderExt};
//! use tower_api_errors::{ErrorBodyParseLayer, QuotaLayer, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let upstream = service_fn(|req: Request<ReplayBody<Full<Bytes>>>| async move {
//!     assert_eq!(req.headers()["authorization"], "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc");
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
//! });
//! let token = Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
//! let client = ServiceBuilder::new()
//!     .api_errors(
//!         ApiErrorsLayer::new()
//!             .retry(RetryPolicy::default().max_attempts(5).deadline(Duration::from_secs(30)))
//!             .parse(ErrorBodyParseLayer::new().max_body_bytes(16 * 1024))
//!             .auth(AuthLayer::new(StaticToken::new(token)))
//!             .quota(QuotaLayer::new()),
//!     )
//!     .service(upstream);
//! let response = client.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```

use crate::classify::{Classify, DefaultClassifier};
use crate::parse::ErrorBodyParse;
use crate::retry::{CloneForRetry, ReplayBody, Retry};
use crate::{AuthLayer, ErrorBodyParseLayer, QuotaLayer, RetryLayer, RetryPolicy};
use http::Request;
use std::any::TypeId;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service, ServiceBuilder};

/// The recommended stack as one layer; see the [module docs](self).
///
/// `A` and `Q` are the auth and quota layers ([`Identity`] until
/// [`auth`](Self::auth) and [`quota`](Self::quota) set them), `C` the
/// classifier of the parse layer.
///
/// # Clone
/// Cheap: clones share the retry budget, the auth layer's credential and
/// the quota layer's store.
#[derive(Debug, Clone)]
pub struct ApiErrorsLayer<
    A = Identity,
    Q = Identity,
    C = DefaultClassifier,
    Br = Identity,
    H = Identity,
> {
    retry: RetryPolicy,
    auth: A,
    quota: Q,
    parse: ErrorBodyParseLayer<C>,
    breaker: Br,
    hedge: H,
}

/// The service an [`ApiErrorsLayer`] `L` makes around `S`: for the default
/// layer, `Retry<ErrorBodyParse<S>>`; with auth and quota,
/// `Retry<Auth<Quota<ErrorBodyParse<S, _>>>>`.
pub type ApiErrors<S, L = ApiErrorsLayer> = <L as Layer<S>>::Service;

impl ApiErrorsLayer {
    /// The default stack: [`RetryPolicy::default`] over
    /// [`ErrorBodyParseLayer::new`], no auth, no quota.
    pub fn new() -> Self {
        ApiErrorsLayer {
            retry: RetryPolicy::default(),
            auth: Identity::new(),
            quota: Identity::new(),
            parse: ErrorBodyParseLayer::new(),
            breaker: Identity::new(),
            hedge: Identity::new(),
        }
    }
}

default_from_new!(ApiErrorsLayer);

/// `layer` with its `field` replaced by `value` (read after `layer` is
/// taken apart into its `fields`, so it may use them), whose type may
/// differ: each builder method below is one such replacement.
macro_rules! with_layer {
    ($layer:expr, [$($fields:ident)*], $field:ident = $value:expr) => {{
        #[allow(unused_variables)]
        let ApiErrorsLayer { $($fields),* } = $layer;
        let $field = $value;
        ApiErrorsLayer { $($fields),* }
    }};
}

impl<A, Q, C, Br, H> ApiErrorsLayer<A, Q, C, Br, H> {
    /// The retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The parse layer (dialects, body cap and timeout, classifier).
    pub fn parse<C2>(self, layer: ErrorBodyParseLayer<C2>) -> ApiErrorsLayer<A, Q, C2, Br, H> {
        with_layer!(self, [retry auth quota parse breaker hedge], parse = layer)
    }

    /// The classifier the parse layer (and so the retry layer above it,
    /// which reads the typed errors) uses.
    pub fn classifier<C2: Classify + Clone>(
        self,
        classifier: C2,
    ) -> ApiErrorsLayer<A, Q, C2, Br, H> {
        with_layer!(self, [retry auth quota parse breaker hedge], parse = parse.classifier(classifier))
    }

    /// Adds an [`AuthLayer`], inside the retry layer.
    pub fn auth(self, layer: AuthLayer) -> ApiErrorsLayer<AuthLayer, Q, C, Br, H> {
        with_layer!(self, [retry auth quota parse breaker hedge], auth = layer)
    }

    /// Adds a [`QuotaLayer`], inside the auth layer.
    pub fn quota(self, layer: QuotaLayer) -> ApiErrorsLayer<A, QuotaLayer, C, Br, H> {
        with_layer!(self, [retry auth quota parse breaker hedge], quota = layer)
    }

    /// Adds a [`CircuitBreakerLayer`](crate::breaker::CircuitBreakerLayer),
    /// inside the retry layer and outside the auth layer: it sees each
    /// attempt's outcome, and a call it refuses is never sent (the retry
    /// layer waits the refusal out like a hint when it fits its limits).
    /// A fleet shares the openings the server signalled when the breaker
    /// is given the quota's store:
    /// `CircuitBreakerLayer::new().shared(store.clone())` beside
    /// `QuotaLayer::with_store(store)` (see [`fleet`](crate::fleet)).
    pub fn breaker(
        self,
        layer: crate::breaker::CircuitBreakerLayer,
    ) -> ApiErrorsLayer<A, Q, C, crate::breaker::CircuitBreakerLayer, H> {
        with_layer!(self, [retry auth quota parse breaker hedge], breaker = layer)
    }

    /// Adds a [`HedgeLayer`](crate::hedge::HedgeLayer), outside the retry
    /// layer (a call is hedged or retried, not both). Hedges draw on the
    /// budget of the retry policy set so far (set [`retry`](Self::retry)
    /// first), unless the hedge layer was given a budget, or none, of its
    /// own. The client then takes `ReplayBody<ReplayBody<B>>` bodies.
    pub fn hedge(
        self,
        layer: crate::hedge::HedgeLayer,
    ) -> ApiErrorsLayer<A, Q, C, Br, crate::hedge::HedgeLayer> {
        with_layer!(self, [retry auth quota parse breaker hedge], hedge = layer.sharing(retry.shared_budget()))
    }

    /// Wraps `client`, checking at compile time what the layer cannot:
    /// that the client takes the [`ReplayBody<B>`] request bodies the retry
    /// layer sends (with hyper-util: `build_http::<ReplayBody<B>>()`). The
    /// same as [`Layer::layer`] otherwise.
    pub fn client<S, B>(&self, client: S) -> ApiErrors<S, Self>
    where
        S: ReplayClient<B>,
        Self: Layer<S>,
    {
        self.layer(client)
    }
}

impl<S, A, Q, C, Br, H> Layer<S> for ApiErrorsLayer<A, Q, C, Br, H>
where
    Q: Layer<ErrorBodyParse<S, C>>,
    A: Layer<Q::Service>,
    Br: Layer<A::Service>,
    Br::Service: CloneForRetry,
    H: Layer<Retry<Br::Service>>,
    C: Classify + Clone + Send + Sync + 'static,
{
    type Service = H::Service;

    /// The layers, stacked as `ServiceBuilder` would stack them; the retry
    /// policy takes the parse layer's classifier, so that both agree on
    /// what a success is.
    fn layer(&self, inner: S) -> Self::Service {
        let mut policy = self.retry.clone();
        // The default classifier is the retry policy's default already.
        if TypeId::of::<C>() != TypeId::of::<DefaultClassifier>() {
            policy = policy.classifier(self.parse.config.classifier.clone());
        }
        ServiceBuilder::new()
            .layer(&self.hedge)
            .layer(RetryLayer::new(policy))
            .layer(&self.breaker)
            .layer(&self.auth)
            .layer(&self.quota)
            .layer(&self.parse)
            .service(inner)
    }
}

/// A client the retry layer can send through: it takes
/// `http::Request<ReplayBody<B>>`. Named so that building the stack over a
/// client of the wrong body type says so.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the client under the retry layer: it does not take `http::Request<ReplayBody<_>>`",
    label = "this client's request body type must be `ReplayBody<B>`",
    note = "the retry layer replays request bodies, so it sends `ReplayBody<B>` where you send `B`",
    note = "with hyper-util, build the client as `Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>()`"
)]
pub trait ReplayClient<B>: Service<Request<ReplayBody<B>>> {}

impl<S, B> ReplayClient<B> for S where S: Service<Request<ReplayBody<B>>> {}

/// A `ServiceBuilder` with an [`ApiErrorsLayer`] added.
pub type WithApiErrors<L, A, Q, C, Br, H> =
    ServiceBuilder<Stack<ApiErrorsLayer<A, Q, C, Br, H>, L>>;

/// [`ApiErrorsLayer`] as a `ServiceBuilder` method, in tower-http's style.
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Adds the recommended stack ([`ApiErrorsLayer`]).
    fn api_errors<A, Q, C, Br, H>(
        self,
        layer: ApiErrorsLayer<A, Q, C, Br, H>,
    ) -> WithApiErrors<L, A, Q, C, Br, H>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn api_errors<A, Q, C, Br, H>(
        self,
        layer: ApiErrorsLayer<A, Q, C, Br, H>,
    ) -> WithApiErrors<L, A, Q, C, Br, H> {
        self.layer(layer)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

#[cfg(test)]
mod resilience_wiring {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use std::time::Duration;
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn the_breaker_and_hedge_builder_methods_compose() {
        let budget = crate::retry::RetryBudget::default();
        let layer = ApiErrorsLayer::new()
            .retry(RetryPolicy::default().budget(budget.clone()))
            .breaker(crate::breaker::CircuitBreakerLayer::new())
            .hedge(crate::hedge::HedgeLayer::fixed(Duration::from_millis(50)).budget(budget));
        let client =
            tower::service_fn(|_req: Request<ReplayBody<ReplayBody<Full<Bytes>>>>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
            });
        let service = layer.layer(client);
        let response = service
            .oneshot(Request::new(Full::new(Bytes::new())))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}
