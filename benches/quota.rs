//! The quota layer's cost on the success path with nothing learned (the
//! vendor sends no rate-limit headers): against the same stack without
//! it, in the same run. Responses carry typical headers.

mod common;

use bytes::Bytes;
use common::request;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::quota::QuotaLayer;
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

/// A 200 with the headers a JSON API sends, none of them about quotas.
fn upstream<B>(
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Copy {
    service_fn(|_req: Request<B>| async {
        let response = Response::builder()
            .header("content-type", "application/json; charset=utf-8")
            .header("content-length", "2")
            .header("date", "Mon, 23 Nov 2026 20:00:00 GMT")
            .header("x-request-id", "req_8f2a1c9e7b")
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        Ok::<_, Infallible>(response)
    })
}

fn success_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("quota/success_path_nothing_learned");
    macro_rules! bench {
        ($name:expr, $service:expr) => {{
            let service = $service;
            group.bench_function($name, |b| {
                b.to_async(&runtime)
                    .iter(|| service.clone().oneshot(request()))
            });
        }};
    }
    bench!("bare service (baseline)", upstream());
    bench!("QuotaLayer", QuotaLayer::new().layer(upstream()));
    bench!(
        "full stack (baseline)",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(upstream())
    );
    bench!(
        "full stack + QuotaLayer",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(QuotaLayer::new())
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(upstream())
    );
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
