//! The success-path cost of `RetryLayer`, against the bare service and
//! against `tower::retry::Retry` with an equivalent trivial policy, in the
//! same run.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::{ready, Ready};
use tower::retry::Policy;
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};

/// Retry 5xx up to twice, as tower users write it by hand.
#[derive(Clone)]
struct ServerErrors(u32);

impl<B> Policy<Request<Full<Bytes>>, Response<B>, Infallible> for ServerErrors {
    type Future = Ready<()>;
    fn retry(
        &mut self,
        _: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, Infallible>,
    ) -> Option<Self::Future> {
        match result {
            Ok(response) if response.status().is_server_error() && self.0 > 0 => {
                self.0 -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }
    fn clone_request(&mut self, req: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(req.body().clone());
        *clone.method_mut() = req.method().clone();
        *clone.uri_mut() = req.uri().clone();
        *clone.headers_mut() = req.headers().clone();
        Some(clone)
    }
}

fn request() -> Request<Full<Bytes>> {
    Request::get("http://api.test/items?page=2")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn success_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("retry/success_path");
    group.bench_function("bare service (baseline)", |b| {
        let ok = service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        b.to_async(&runtime).iter(|| ok.oneshot(request()))
    });
    group.bench_function("tower::retry::Retry (hand-written policy)", |b| {
        let ok = service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let service = tower::retry::RetryLayer::new(ServerErrors(2)).layer(ok);
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(request()))
    });
    group.bench_function("RetryLayer (default policy)", |b| {
        let ok = service_fn(|_req: Request<_>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let service = RetryLayer::new(RetryPolicy::default()).layer(ok);
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(request()))
    });
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
