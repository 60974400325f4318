//! The classifier alone, on a success and on failures with and without
//! rate-limit headers. (`benches/stack.rs` has the layer's success path.)

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, StatusCode};
use tower_api_errors::classify::{Classify, DefaultClassifier};

fn classifier_alone(c: &mut Criterion) {
    let classifier = DefaultClassifier::new();
    let empty = HeaderMap::new();
    let mut limited = HeaderMap::new();
    limited.insert("retry-after", "2".parse().unwrap());
    limited.insert("x-ratelimit-remaining", "0".parse().unwrap());
    limited.insert("x-ratelimit-reset", "1699999999".parse().unwrap());
    let mut group = c.benchmark_group("classify/classifier");
    group.bench_function("200", |b| {
        b.iter(|| classifier.classify(black_box(StatusCode::OK), black_box(&empty)))
    });
    group.bench_function("503 no headers", |b| {
        b.iter(|| {
            classifier.classify(
                black_box(StatusCode::SERVICE_UNAVAILABLE),
                black_box(&empty),
            )
        })
    });
    group.bench_function("429 with rate-limit headers", |b| {
        b.iter(|| {
            classifier.classify(
                black_box(StatusCode::TOO_MANY_REQUESTS),
                black_box(&limited),
            )
        })
    });
    group.bench_function("403 with an exhausted window", |b| {
        b.iter(|| classifier.classify(black_box(StatusCode::FORBIDDEN), black_box(&limited)))
    });
    group.finish();
}

criterion_group!(benches, classifier_alone);
criterion_main!(benches);
