//! The success-path cost of `RetryLayer`, against the bare service and
//! against `tower::retry::Retry` with an equivalent hand-written policy, in
//! the same run. (`benches/stack.rs` compares every layer and the stack.)

mod common;

use common::{ok_service, request, ServerErrorsPolicy};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{Layer, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};

fn success_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("retry/success_path");
    let bare = ok_service();
    group.bench_function("bare service (baseline)", |b| {
        b.to_async(&runtime).iter(|| bare.oneshot(request()))
    });
    let tower_retry =
        tower::retry::RetryLayer::new(ServerErrorsPolicy::with_budget()).layer(ok_service());
    group.bench_function("tower::retry::Retry (hand-written policy, budget)", |b| {
        b.to_async(&runtime)
            .iter(|| tower_retry.clone().oneshot(request()))
    });
    let ours = RetryLayer::new(RetryPolicy::default()).layer(ok_service());
    group.bench_function("RetryLayer (default policy)", |b| {
        b.to_async(&runtime)
            .iter(|| ours.clone().oneshot(request()))
    });
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
