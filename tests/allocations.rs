//! Heap allocations on the success path, counted by a global allocator.
//! Counts are deterministic (times are not), so they can be asserted.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

#[path = "../benches/common/mod.rs"]
mod common;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// Allocations made while polling `future` to completion on this thread.
fn allocations_of<F: Future>(future: F) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut future = std::pin::pin!(future);
    // Warm up thread-locals and the runtime outside the count.
    runtime.block_on(async {});
    counting::start();
    runtime.block_on(future.as_mut());
    counting::stop()
}

fn ok() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    })
}

/// The benches' typical GET: a query and two header values.
fn request() -> Request<Full<Bytes>> {
    common::request()
}

/// Allocations of one request in the steady state: one request first warms
/// up what is set up once per process (tracing's callsite registration,
/// with `--features tracing`), then the request and the service are built
/// outside the count, as a caller would.
fn count<S>(service: S) -> u64
where
    S: Service<Request<Full<Bytes>>> + Clone,
{
    allocations_of(service.clone().oneshot(request()));
    let request = request();
    let service = service.clone();
    allocations_of(async move {
        let _ = service.oneshot(request).await;
    })
}

/// The request copy that replay needs: the header map (its index table and
/// entries) and the two header values that are not `'static` (each
/// promoted to shared storage on its first clone). tower's `Retry` makes
/// the same copy.
const REQUEST_COPY: u64 = 4;
/// The retry layer's copy, the call's `CallContext`, which the layers below
/// find instead of keeping copies of their own: the same header values,
/// the headers kept as one flat list (one allocation) instead of a map's
/// index table and entries (two; the map is built from the list on a
/// failure only), and the shared record that holds them (one).
const OUR_REQUEST_COPY: u64 = 4;
/// The guard (issue 22): no stack allocates more per request than the
/// tower baseline's request copy.
const GUARD: u64 = REQUEST_COPY;
/// The classification stamp: `http::Extensions` boxes its map, allocates its
/// table, and boxes the value.
const STAMP: u64 = 3;

fn retry_ok() -> impl Service<
    Request<tower_api_errors::retry::ReplayBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_req: Request<_>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    })
}

#[test]
fn each_layer_on_the_success_path() {
    assert_eq!(count(ok()), 0, "the baseline");
    assert_eq!(
        count(ErrorBodyParseLayer::new().layer(ok())),
        0,
        "parse: successes pass untouched"
    );
    assert_eq!(
        count(StatusClassifierLayer::new().layer(ok())),
        STAMP,
        "classify: the stamp"
    );
    assert_eq!(
        count(RetryLayer::new(RetryPolicy::default()).layer(retry_ok())),
        OUR_REQUEST_COPY,
        "retry: the request copy"
    );
}

#[test]
fn the_stacks_on_the_success_path() {
    // The hand-written tower baseline: `tower::retry` with tower-http's
    // classification and a `TpsBudget`.
    let baseline =
        tower::retry::RetryLayer::new(common::ServerErrorsPolicy::with_budget()).layer(ok());
    assert_eq!(count(baseline), REQUEST_COPY, "the tower baseline");
    // The recommended stack (retry and parse classify for themselves):
    // nothing beyond the request copy, as the baseline.
    let recommended = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .service(retry_ok());
    assert_eq!(count(recommended.clone()), OUR_REQUEST_COPY);
    assert!(count(recommended) <= GUARD);
    // With the stamp layer too: the stamp on every response.
    let three = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(retry_ok());
    assert_eq!(count(three), OUR_REQUEST_COPY + STAMP);
    // The one-layer stack, the same layers: one copy of the request for
    // all of them.
    let one_layer = tower_api_errors::ApiErrorsLayer::new().layer(retry_ok());
    assert_eq!(count(one_layer.clone()), OUR_REQUEST_COPY);
    assert!(count(one_layer) <= GUARD);
}

/// A closed circuit breaker adds no allocation (issue 26), alone or in the
/// one-layer stack; its scope's state is made by the first call.
#[test]
fn a_closed_breaker_on_the_success_path() {
    use tower_api_errors::breaker::CircuitBreakerLayer;
    assert_eq!(count(CircuitBreakerLayer::new().layer(ok())), 0, "alone");
    let with_breaker = tower_api_errors::ApiErrorsLayer::new()
        .breaker(CircuitBreakerLayer::new())
        .layer(retry_ok());
    assert_eq!(count(with_breaker.clone()), OUR_REQUEST_COPY);
    assert!(count(with_breaker) <= GUARD);
}

/// The same GET without its credential, for stacks whose auth layer adds
/// one.
fn request_without_credential() -> Request<Full<Bytes>> {
    common::request_without_credential()
}

/// With the auth layer (credential cached) and the quota layer (nothing
/// learned): the request copy, and nothing per layer.
#[test]
fn the_full_stack_on_the_success_path() {
    use tower_api_errors::auth::{Credential, StaticToken};
    use tower_api_errors::{ApiErrorsLayer, AuthLayer, QuotaLayer};
    let full = ApiErrorsLayer::new()
        .auth(AuthLayer::new(StaticToken::new(
            Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap(),
        )))
        .quota(QuotaLayer::new())
        .layer(retry_ok());
    // The first request loads the credential and learns nothing (the
    // response announces no quota).
    allocations_of(full.clone().oneshot(request_without_credential()));
    let request = request_without_credential();
    let service = full.clone();
    let counted = allocations_of(async move {
        let _ = service.oneshot(request).await;
    });
    // The request copy: the record (1), its header list (1) and the one
    // header value that is not yet shared (`accept`); the credential the
    // auth layer adds is a clone of its cached value (shared already),
    // inserted into the request's own map without growing it. The auth
    // layer re-sends from the retry layer's record (no copy of its own);
    // the quota and parse layers add nothing.
    assert_eq!(counted, OUR_REQUEST_COPY - 1);
    assert!(counted <= GUARD);
}

/// An attempt that is not answered at once (as every attempt over a network
/// is) arms the deadline's timer: in place, with no allocation of its own.
/// (The attempt's own pending poll allocates in the runtime, with or
/// without a deadline: the counts are compared with each other.)
#[test]
fn the_deadline_timer_is_armed_in_place() {
    let pending_once = service_fn(
        |_req: Request<tower_api_errors::retry::ReplayBody<Full<Bytes>>>| async {
            tokio::task::yield_now().await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        },
    );
    let with = RetryPolicy::default().deadline(tower_api_errors::retry::DEFAULT_DEADLINE);
    let without = RetryPolicy::default().no_deadline();
    assert_eq!(
        count(RetryLayer::new(with).layer(pending_once)),
        count(RetryLayer::new(without).layer(pending_once)),
    );
}
