//! The success path, each in the same run: the bare service; the tower /
//! tower-http baseline (hand-written policy, with and without a budget);
//! each of our layers alone; the recommended stack and the three layers.
//!
//! `COUNT=<row> ITERS=<n>` runs one row n times without criterion, for
//! instruction counts (`benches/instructions.sh stack`).

mod common;

use common::{ok_service, request, Mode, ServerErrorsPolicy};
use criterion::Criterion;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mode = Mode::from_env();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("stack/success_path");
    let mut row = 0;
    macro_rules! bench {
        ($name:expr, $service:expr) => {{
            let service = $service;
            match mode {
                Mode::Criterion => {
                    group.bench_function($name, |b| {
                        b.to_async(&runtime)
                            .iter(|| service.clone().oneshot(request()))
                    });
                }
                Mode::Count { row: which, iters } if which == row => {
                    eprintln!("row {row}: {}", $name);
                    for _ in 0..iters {
                        let _ = runtime.block_on(service.clone().oneshot(request()));
                    }
                }
                Mode::Count { .. } => {}
            }
            row += 1;
        }};
    }
    bench!("bare service (baseline)", ok_service());
    bench!(
        "tower Retry + tower-http classification",
        tower::retry::RetryLayer::new(ServerErrorsPolicy::new()).layer(ok_service())
    );
    bench!(
        "tower Retry + tower-http classification + TpsBudget",
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
        "recommended stack (retry, parse)",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .service(ok_service())
    );
    bench!(
        "three layers (retry, parse, classify)",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(ok_service())
    );
    let _ = row;
    group.finish();
    if let Mode::Criterion = mode {
        criterion.final_summary();
    }
}
