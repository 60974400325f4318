//! End to end over loopback: a hyper server in a child process pinned to
//! core 1, a single-threaded hyper-util client pinned to core 0, 64 requests
//! in flight, every body read. The bare client, the recommended stack
//! (`ApiErrorsLayer`), the full stack (with auth and quota) and the
//! recommended stack without its default deadline (its timer) are measured
//! in interleaved rounds (order rotated each round); the figure is the
//! median of the per-round ratios.
//!
//! ```sh
//! taskset -c 0 cargo bench --bench loopback            # ROUNDS=7 REQUESTS=20000
//! ```

#[path = "common/loopback.rs"]
mod harness;

use harness::tower_sender;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_api_errors::auth::{Credential, StaticToken};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ApiErrorsLayer, AuthLayer, QuotaLayer};

fn main() {
    if harness::serve_if_asked() {
        return;
    }
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`)
    // does not: then one short round checks that the bench works.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds = if benching {
        harness::setting("ROUNDS", 7)
    } else {
        1
    };
    let total = if benching {
        harness::setting("REQUESTS", 20_000)
    } else {
        256
    };
    let server = harness::spawn_server();
    let addr = server.addr;
    let runtime = harness::client_runtime();
    let _guard = runtime.enter();

    let bare = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let recommended = ApiErrorsLayer::new()
        .client(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>());
    // Every layer: the auth layer (credential cached) replaces the
    // request's `Authorization`; the quota layer learns the server's
    // `X-RateLimit-*` window (5,000 a window, far from spent: no pacing).
    let full = ApiErrorsLayer::new()
        .auth(
            AuthLayer::new(StaticToken::new(
                Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap(),
            ))
            .override_explicit(true),
        )
        .quota(QuotaLayer::new())
        .client(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>());
    let nodeadline = ApiErrorsLayer::new()
        .retry(tower_api_errors::RetryPolicy::default().no_deadline())
        .client(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>());
    let names = [
        "bare hyper-util client (baseline)",
        "recommended stack: ApiErrorsLayer (retry, parse)",
        "full stack (retry, auth, quota, parse)",
        "ApiErrorsLayer with RetryPolicy::no_deadline()",
    ];
    // `ONLY=<row>`: that client alone, once (for instruction counts:
    // `ONLY=1 REQUESTS=20000 valgrind --tool=callgrind <bench binary>
    // --bench`, the server child not traced).
    let only = std::env::var("ONLY")
        .ok()
        .and_then(|row| row.parse::<usize>().ok());
    let rounds = if only.is_some() { 1 } else { rounds };
    let mut results = Vec::new();
    for round in 0..rounds {
        let mut row = [0.0; 4];
        for k in 0..4 {
            let i = (k + round) % 4;
            if only.is_some_and(|only| only != i) {
                row[i] = 1.0;
                continue;
            }
            row[i] = match i {
                0 => harness::throughput(&runtime, total, tower_sender!(bare.clone(), addr)),
                1 => harness::throughput(&runtime, total, tower_sender!(recommended.clone(), addr)),
                2 => harness::throughput(&runtime, total, tower_sender!(full.clone(), addr)),
                _ => harness::throughput(&runtime, total, tower_sender!(nodeadline.clone(), addr)),
            };
        }
        results.push(row.to_vec());
    }
    harness::report(&names, &[0, 0, 0, 0], &results);
}
