//! End to end over loopback: a hyper server and a hyper-util client, many
//! concurrent requests, the bare client against the full stack, in the same
//! run. Throughput is requests per second of wall time.

#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

/// Requests per iteration, and how many are in flight at once.
const REQUESTS: usize = 512;
const CONCURRENCY: usize = 32;

/// Sends `REQUESTS` GETs through `client`, `CONCURRENCY` at a time.
async fn batch<S>(client: S, addr: SocketAddr)
where
    S: Service<Request<Full<Bytes>>> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: std::fmt::Debug + Send,
{
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        workers.spawn(async move {
            for _ in 0..REQUESTS / CONCURRENCY {
                let request = Request::get(format!("http://{addr}/items"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                client.clone().oneshot(request).await.unwrap();
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
}

fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(support::serve(|_request| async {
        support::response(200, &[], r#"{"id": 1}"#)
    }));
    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.sample_size(20);

    let bare = support::client::<Full<Bytes>>();
    group.bench_function("bare hyper-util client (baseline)", |b| {
        b.to_async(&runtime).iter(|| batch(bare.clone(), addr))
    });
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    group.bench_function("full stack", |b| {
        b.to_async(&runtime).iter(|| batch(stack.clone(), addr))
    });
    group.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
