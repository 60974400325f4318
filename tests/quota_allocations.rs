//! Heap allocations of the quota layer on the success path, counted by a
//! global allocator (counts are deterministic, so they are asserted).

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_api_errors::quota::QuotaLayer;

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

fn allocations_of<F: Future>(runtime: &tokio::runtime::Runtime, future: F) -> u64 {
    let mut future = std::pin::pin!(future);
    counting::start();
    runtime.block_on(future.as_mut());
    counting::stop()
}

fn request() -> Request<Full<Bytes>> {
    Request::get("http://api.test/items?page=2")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A 200 with `headers` (built outside the count: `'static` values).
fn upstream(
    headers: &'static [(&'static str, &'static str)],
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(move |_req: Request<Full<Bytes>>| async move {
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        for (name, value) in headers {
            response
                .headers_mut()
                .insert(*name, http::HeaderValue::from_static(value));
        }
        Ok::<_, Infallible>(response)
    })
}

/// Allocations of one request in the steady state, minus those of the
/// same request to the upstream alone (its response's header map).
fn added<S>(layered: S, bare: impl Service<Request<Full<Bytes>>> + Clone) -> u64
where
    S: Service<Request<Full<Bytes>>> + Clone,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for _ in 0..2 {
        runtime.block_on(async {
            let _ = layered.clone().oneshot(request()).await;
        });
    }
    let (request_a, service) = (request(), layered.clone());
    let with = allocations_of(&runtime, async move {
        let _ = service.oneshot(request_a).await;
    });
    let (request_b, bare) = (request(), bare.clone());
    let without = allocations_of(&runtime, async move {
        let _ = bare.oneshot(request_b).await;
    });
    with - without
}

#[test]
fn nothing_learned_allocates_nothing() {
    // A JSON API's usual headers, none about quotas.
    const PLAIN: &[(&str, &str)] = &[
        ("content-type", "application/json"),
        ("x-request-id", "req_8f2a1c9e7b"),
        ("cache-control", "no-store"),
    ];
    assert_eq!(
        added(QuotaLayer::new().layer(upstream(PLAIN)), upstream(PLAIN)),
        0
    );
}

#[test]
fn a_learned_scope_allocates_only_the_header_reading() {
    // GitHub-style window headers, far from spent: the scope exists after
    // the warm-up, and each answer updates it in place. The one allocation
    // is `ResponseHints`' list of windows.
    const WINDOW: &[(&str, &str)] = &[
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", "4999"),
        ("x-ratelimit-reset", "3600"),
    ];
    assert_eq!(
        added(QuotaLayer::new().layer(upstream(WINDOW)), upstream(WINDOW)),
        1
    );
}
