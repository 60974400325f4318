//! The auth layer's success path (credential cached), each in the same
//! run: the bare service; the baseline a user writes by hand (a fixed
//! `Authorization` header set by `MapRequest`, with no refresh at all);
//! the auth layer alone; the full stack without and with it.

mod common;

use common::{ok_service, request};
use criterion::{criterion_group, criterion_main, Criterion};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use tower::util::MapRequestLayer;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{Credential, StaticToken};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{AuthLayer, ErrorBodyParseLayer, StatusClassifierLayer};

fn auth_layer() -> AuthLayer {
    AuthLayer::new(StaticToken::new(
        Credential::new("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl").unwrap(),
    ))
}

fn success_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("auth/success_path");
    macro_rules! bench {
        ($name:expr, $service:expr) => {{
            let service = $service;
            // The first call loads the credential; the loop measures the
            // cached path.
            runtime
                .block_on(service.clone().oneshot(request()))
                .unwrap();
            group.bench_function($name, |b| {
                b.to_async(&runtime)
                    .iter(|| service.clone().oneshot(request()))
            });
        }};
    }
    bench!("bare service (baseline)", ok_service());
    bench!(
        "fixed header by MapRequest (baseline)",
        MapRequestLayer::new(|mut request: Request<_>| {
            let mut value = HeaderValue::from_static(
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl",
            );
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
            request
        })
        .layer(ok_service())
    );
    bench!("AuthLayer", auth_layer().layer(ok_service()));
    bench!(
        "full stack (baseline)",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(ok_service())
    );
    bench!(
        "full stack with AuthLayer",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(auth_layer())
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(ok_service())
    );
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
