//! `cargo run --example metrics --features opentelemetry`
//!
//! The demo's scenarios (`examples/demo.rs`: the five vendors' error
//! pages, served on 127.0.0.1) through the full pipeline with
//! OpenTelemetry metrics recorded into an SDK with an in-memory exporter,
//! then the three numbers a dashboard would show: the error rate by kind,
//! attempts per call, and time waited by source. Every figure is read
//! from the exported metrics, not from the responses.
#![allow(dead_code)] // `tests/metrics.rs` includes this file for `run`.

// Standalone, the example brings the loopback helpers the demo uses from
// the crate root (the demo's own copy is private to it); included by
// `tests/metrics.rs`, it uses that crate's copy.
#[cfg(not(test))]
#[allow(clippy::duplicate_mod)]
#[path = "../tests/support/mod.rs"]
mod support;

#[path = "demo.rs"]
mod demo;

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::collections::BTreeMap;
use tower_api_errors::metrics::Metrics;

/// One exported data point, flattened.
#[derive(Debug, Clone)]
pub struct Point {
    /// The metric's name.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// `histogram (f64)`, `histogram (u64)` or `counter (u64)`, as the
    /// metrics table names them.
    pub instrument: &'static str,
    /// Attribute key -> value, printed.
    pub attributes: BTreeMap<String, String>,
    /// Histogram: observations; counter: the value.
    pub count: u64,
    /// Histogram: their sum; counter: the value.
    pub sum: f64,
    /// Histogram bucket boundaries.
    pub bounds: Vec<f64>,
}

/// Flattens what the exporter holds (cumulative: the last batch is all).
pub fn points(batches: &[ResourceMetrics]) -> Vec<Point> {
    let Some(batch) = batches.last() else {
        return Vec::new();
    };
    let mut points = Vec::new();
    for metric in batch.scope_metrics().flat_map(|scope| scope.metrics()) {
        let point = |instrument, attributes: BTreeMap<String, String>, count, sum, bounds| Point {
            metric: metric.name().to_owned(),
            unit: metric.unit().to_owned(),
            instrument,
            attributes,
            count,
            sum,
            bounds,
        };
        let attrs = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    points.push(point(
                        "histogram (f64)",
                        attrs(&mut p.attributes()),
                        p.count(),
                        p.sum(),
                        p.bounds().collect(),
                    ));
                }
            }
            AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    points.push(point(
                        "histogram (u64)",
                        attrs(&mut p.attributes()),
                        p.count(),
                        p.sum() as f64,
                        p.bounds().collect(),
                    ));
                }
            }
            AggregatedMetrics::U64(MetricData::Sum(s)) => {
                for p in s.data_points() {
                    points.push(point(
                        "counter (u64)",
                        attrs(&mut p.attributes()),
                        p.value(),
                        p.value() as f64,
                        Vec::new(),
                    ));
                }
            }
            _ => points.push(point("other", BTreeMap::new(), 0, 0.0, Vec::new())),
        }
    }
    points
}

/// An SDK meter provider exporting into memory, and the exporter.
pub fn sdk() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (provider, exporter)
}

/// What the dashboard would show.
#[derive(Debug, Default)]
pub struct Summary {
    /// Logical calls.
    pub calls: u64,
    /// Failed calls by `error.type`.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Attempts over all calls.
    pub attempts: u64,
    /// Waits by `tower_api_errors.wait.source`: (count, seconds).
    pub waits_by_source: BTreeMap<String, (u64, f64)>,
}

impl Summary {
    /// Reads the summary from exported points.
    pub fn from_points(points: &[Point]) -> Summary {
        let mut summary = Summary::default();
        for point in points {
            match point.metric.as_str() {
                "tower_api_errors.call.duration" => {
                    summary.calls += point.count;
                    if let Some(kind) = point.attributes.get("error.type") {
                        *summary.failures_by_kind.entry(kind.clone()).or_default() += point.count;
                    }
                }
                "tower_api_errors.call.attempts" => summary.attempts += point.sum as u64,
                "tower_api_errors.wait.duration" => {
                    let source = point.attributes["tower_api_errors.wait.source"].clone();
                    let entry = summary.waits_by_source.entry(source).or_default();
                    entry.0 += point.count;
                    entry.1 += point.sum;
                }
                _ => {}
            }
        }
        summary
    }
}

/// Runs the demo's scenarios with metrics; returns the demo's rows and
/// every exported point.
pub async fn run() -> (Vec<demo::Row>, Vec<Point>) {
    let (provider, exporter) = sdk();
    let metrics = Metrics::from_provider(&provider).error_codes(["VERSION_OUTDATED"]);
    let rows = demo::run_with(demo::policy().metrics(metrics)).await;
    provider.force_flush().expect("flush");
    let points = points(&exporter.get_finished_metrics().expect("metrics"));
    provider.shutdown().expect("shutdown");
    (rows, points)
}

#[tokio::main]
async fn main() {
    let (rows, points) = run().await;
    let summary = Summary::from_points(&points);
    println!("{} calls ({} scenarios)\n", summary.calls, rows.len());

    println!("error rate by kind (error.type on tower_api_errors.call.duration)");
    for (kind, count) in &summary.failures_by_kind {
        println!(
            "  {kind:<18} {count:>3}  {:>5.1}%",
            100.0 * *count as f64 / summary.calls as f64
        );
    }
    let failed: u64 = summary.failures_by_kind.values().sum();
    println!(
        "  {:<18} {failed:>3}  {:>5.1}%\n",
        "all failures",
        100.0 * failed as f64 / summary.calls as f64
    );

    println!(
        "attempts per call (tower_api_errors.call.attempts): {:.2} ({} attempts)\n",
        summary.attempts as f64 / summary.calls as f64,
        summary.attempts
    );

    println!("time waited by source (tower_api_errors.wait.duration)");
    for (source, (count, seconds)) in &summary.waits_by_source {
        println!("  {source:<12} {count:>3} waits  {seconds:>6.2} s");
    }

    println!("\nevery metric exported:");
    let mut names: Vec<&str> = points.iter().map(|p| p.metric.as_str()).collect();
    names.dedup();
    for name in names {
        println!("  {name}");
    }
}
