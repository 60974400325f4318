//! What OpenTelemetry metrics cost on the success path (the full stack,
//! the benches' typical request), in the same run:
//!
//! - `full stack`: no `Metrics` in the policy (run once without and once
//!   with `--features opentelemetry`: the two must match);
//! - `full stack + Metrics (no-op meter)`: instruments from OTel's
//!   `NoopMeterProvider`, i.e. configured with no SDK installed;
//! - `full stack + Metrics (SDK)`: an `SdkMeterProvider` aggregating in
//!   memory (no export during the run).
//!
//! ```text
//! nice cargo bench --bench metrics
//! nice cargo bench --bench metrics --features opentelemetry
//! ```
//!
//! Instruction counts (stable on a shared machine): set `METRICS_CASE` to
//! a case name (`plain`, `noop`, `sdk`) and `METRICS_ITERS` to a count,
//! run the bench binary under `valgrind --tool=cachegrind`, and take the
//! difference between two counts over the difference in iterations; see
//! BENCHMARKS.md.

mod common;

use common::{ok_service, request};
use criterion::{criterion_group, Criterion};
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ErrorBodyParseLayer, StatusClassifierLayer};

const FEATURE: &str = if cfg!(feature = "opentelemetry") {
    "feature on"
} else {
    "feature off"
};

/// The policies to compare, by case name.
fn policies() -> Vec<(&'static str, String, RetryPolicy)> {
    #[allow(unused_mut)]
    let mut cases = vec![(
        "plain",
        format!("full stack [{FEATURE}]"),
        RetryPolicy::default(),
    )];
    #[cfg(feature = "opentelemetry")]
    {
        use opentelemetry::metrics::{MeterProvider, NoopMeterProvider};
        use tower_api_errors::metrics::Metrics;
        let noop = Metrics::new(&NoopMeterProvider::new().meter("bench"));
        cases.push((
            "noop",
            "full stack + Metrics (no-op meter)".into(),
            RetryPolicy::default().metrics(noop),
        ));
        // Leaked so that the provider (and its reader) outlive the run.
        let provider = Box::leak(Box::new(
            opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                .with_reader(
                    opentelemetry_sdk::metrics::PeriodicReader::builder(
                        opentelemetry_sdk::metrics::InMemoryMetricExporter::default(),
                    )
                    .build(),
                )
                .build(),
        ));
        cases.push((
            "sdk",
            "full stack + Metrics (SDK)".into(),
            RetryPolicy::default().metrics(Metrics::from_provider(&*provider)),
        ));
    }
    cases
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn success_path(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("metrics/success_path");
    for (_, name, policy) in policies() {
        let service = ServiceBuilder::new()
            .layer(RetryLayer::new(policy))
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(ok_service());
        group.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter(|| service.clone().oneshot(request()))
        });
    }
    group.finish();
}

/// `METRICS_CASE` / `METRICS_ITERS`: a fixed number of calls of one case,
/// for an instruction count.
fn count(case: &str, iterations: u64) {
    let runtime = runtime();
    let (_, _, policy) = policies()
        .into_iter()
        .find(|(name, _, _)| *name == case)
        .unwrap_or_else(|| panic!("no case {case} in this build"));
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(ok_service());
    runtime.block_on(async {
        for _ in 0..iterations {
            let response = service.clone().oneshot(request()).await.unwrap();
            std::hint::black_box(response);
        }
    });
}

criterion_group!(benches, success_path);

fn main() {
    if let Ok(case) = std::env::var("METRICS_CASE") {
        let iterations = std::env::var("METRICS_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        count(&case, iterations);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
