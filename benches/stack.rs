//! The success path, each in the same run: the bare service; the tower /
//! tower-http baseline (hand-written policy, with and without a budget);
//! each of our layers alone; our full stack.

mod common;

use common::{ok_service, request, ServerErrorsPolicy};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

fn success_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("stack/success_path");
    macro_rules! bench {
        ($name:expr, $service:expr) => {{
            let service = $service;
            group.bench_function($name, |b| {
                b.to_async(&runtime)
                    .iter(|| service.clone().oneshot(request()))
            });
        }};
    }
    bench!("bare service (baseline)", ok_service());
    bench!(
        "tower Retry + tower-http classification",
        tower::retry::RetryLayer::new(ServerErrorsPolicy::new()).layer(ok_service())
    );
    bench!(
        "tower Retry + tower-http classification + budget",
        tower::retry::RetryLayer::new(ServerErrorsPolicy::with_budget()).layer(ok_service())
    );
    bench!(
        "StatusClassifierLayer",
        StatusClassifierLayer::new().layer(ok_service())
    );
    bench!(
        "ErrorBodyParseLayer",
        ErrorBodyParseLayer::new().layer(ok_service())
    );
    bench!(
        "RetryLayer",
        RetryLayer::new(RetryPolicy::default()).layer(ok_service())
    );
    bench!(
        "full stack",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(ok_service())
    );
    bench!(
        "full stack without the stamp",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .service(ok_service())
    );
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
