//! The success-path cost of `StatusClassifierLayer`, against the bare
//! service in the same run, and the classifier alone on failures.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Request, Response, StatusCode};
use std::convert::Infallible;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_api_errors::classify::{Classify, DefaultClassifier};
use tower_api_errors::StatusClassifierLayer;

fn ok_service(
) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future = impl Send> + Clone
{
    service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) })
}

fn success_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("classify/success_path");
    group.bench_function("bare service (baseline)", |b| {
        let service = ok_service();
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(Request::new(())));
    });
    group.bench_function("StatusClassifierLayer", |b| {
        let service = StatusClassifierLayer::new().layer(ok_service());
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(Request::new(())));
    });
    group.finish();
}

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
    group.finish();
}

criterion_group!(benches, success_path, classifier_alone);
criterion_main!(benches);
