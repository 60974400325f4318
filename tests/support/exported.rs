//! What an in-memory OpenTelemetry exporter collected, flattened for
//! tests that count points (feature `opentelemetry`).
#![allow(dead_code)]

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::collections::BTreeMap;

/// An SDK over an in-memory exporter.
pub fn sdk() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (provider, exporter)
}

/// Every data point: (metric, sorted "k=v" attributes, count or value).
pub fn points(
    provider: &SdkMeterProvider,
    exporter: &InMemoryMetricExporter,
) -> Vec<(String, BTreeMap<String, String>, u64)> {
    provider.force_flush().unwrap();
    let batches = exporter.get_finished_metrics().unwrap();
    let Some(batch) = batches.last() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for metric in batch.scope_metrics().flat_map(|s| s.metrics()) {
        let name = metric.name().to_owned();
        let attrs = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    out.push((name.clone(), attrs(&mut p.attributes()), p.count()));
                }
            }
            AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    out.push((name.clone(), attrs(&mut p.attributes()), p.count()));
                }
            }
            AggregatedMetrics::U64(MetricData::Sum(s)) => {
                for p in s.data_points() {
                    out.push((name.clone(), attrs(&mut p.attributes()), p.value()));
                }
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    out
}

pub fn total(
    points: &[(String, BTreeMap<String, String>, u64)],
    metric: &str,
    attrs: &[(&str, &str)],
) -> u64 {
    points
        .iter()
        .filter(|(m, a, _)| {
            m == metric
                && attrs
                    .iter()
                    .all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, n)| n)
        .sum()
}

/// Lines of `log` whose message is `event` (a field-less match on the
/// event name after the target).
pub fn count_events(log: &str, event: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!("tower_api_errors::telemetry: {event}")))
        .count()
}
