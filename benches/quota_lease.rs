//! The quota layer's success path when the fleet's store is Redis and the
//! request is admitted from this process's lease (issue 23's guard: no
//! more than the nothing-learned row of `benches/stack.rs`), in the same
//! run as that row and the bare service.
//!
//! Starts its own `redis-server` on a free port (feature `redis`; see
//! `tests/support/redis_server.rs`). The vendor announces its quota once
//! (a large window, so the lease never runs dry), then answers like the
//! stack bench's unannounced success: the rows compare the admission
//! alone, not the reading of quota headers.
//!
//! `COUNT=<row> ITERS=<n>` runs one row n times without criterion, for
//! instruction counts (`benches/instructions.sh quota_lease 3`).

mod common;
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use bytes::Bytes;
use common::{request, unannounced_response, Mode};
use criterion::Criterion;
use http::Response;
use http_body_util::Full;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{Layer, ServiceExt};
use tower_api_errors::quota::{QuotaLayer, RedisStore};

/// A vendor that announces a large window on its first answer, then
/// announces nothing.
fn vendor<B>() -> impl tower::Service<
    http::Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    let announced = Arc::new(AtomicBool::new(false));
    tower::service_fn(move |_req: http::Request<B>| {
        let first = !announced.swap(true, Ordering::Relaxed);
        async move {
            let mut response = unannounced_response();
            if first {
                let headers = response.headers_mut();
                headers.insert("x-ratelimit-limit", "10000000".parse().unwrap());
                headers.insert("x-ratelimit-remaining", "9999999".parse().unwrap());
                headers.insert("x-ratelimit-reset", "3600".parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        }
    })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mode = Mode::from_env();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("quota_lease/success_path");
    let redis = redis_server::RedisServer::start(redis_server::free_port());
    let mut row = 0;
    macro_rules! bench {
        ($name:expr, $service:expr) => {{
            let service = $service;
            // Outside the measurement: the first answer teaches the
            // window, and the first lease is granted.
            for _ in 0..64 {
                runtime
                    .block_on(service.clone().oneshot(request()))
                    .unwrap();
            }
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
    bench!("bare service, success announcing no quota", vendor());
    bench!(
        "QuotaLayer, MemoryStore, success announcing no quota (window learned once)",
        QuotaLayer::new().layer(vendor())
    );
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("bench:lease:")
        .timeout(Duration::from_secs(1));
    bench!(
        "QuotaLayer, RedisStore, admitted from the lease (window learned once)",
        QuotaLayer::with_store(store.clone()).layer(vendor())
    );
    debug_assert_eq!(row, 3);
    if let Mode::Count { row: 2, iters } = mode {
        eprintln!("redis commands: {} over {iters} requests", store.commands());
    }
    group.finish();
    criterion.final_summary();
}
