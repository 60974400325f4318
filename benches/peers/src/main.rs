//! What a user would pick instead, on the same loopback server: reqwest with
//! its built-in retry, and reqwest-middleware + reqwest-retry, each against
//! its own bare client; our recommended stack against bare hyper-util, and
//! around reqwest (`ReqwestClient`, and `ApiErrorsMiddleware` on
//! reqwest-middleware) against bare reqwest.
//! Interleaved rounds, order rotated each round, median of per-round ratios.
//!
//! ```sh
//! cd benches/peers && cargo build --release && taskset -c 0 target/release/peers
//! ONLY=5 ROUNDS=1 REQUESTS=4000 valgrind --tool=callgrind target/release/peers   # one client
//! ```
//!
//! Rows (`ONLY=<row>`): 0 bare hyper-util, 1 ours over hyper-util, 2 bare
//! reqwest, 3 reqwest's built-in retry, 4 reqwest-middleware +
//! reqwest-retry, 5 ours over reqwest (`ReqwestClient`), 6
//! `ApiErrorsMiddleware`, 7 `ReqwestClient` alone (the adapter's share).

#[path = "../../common/loopback.rs"]
mod harness;

use harness::tower_sender;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reqwest_middleware::ClientBuilder;
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use tower::Layer;
use tower_api_errors::reqwest::{ApiErrorsMiddleware, ReqwestClient};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::ApiErrorsLayer;

/// The same request as `harness::request`, in reqwest's builder.
macro_rules! reqwest_sender {
    ($client:expr, $url:expr) => {{
        let client = $client;
        let url: String = $url;
        move || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client
                    .get(url)
                    .header("accept", "application/json")
                    .header("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
                    .send()
                    .await
                    .unwrap();
                response.bytes().await.unwrap();
            }
        }
    }};
}

fn main() {
    if harness::serve_if_asked() {
        return;
    }
    let rounds = harness::setting("ROUNDS", 7);
    let total = harness::setting("REQUESTS", 20_000);
    let server = harness::spawn_server();
    let addr = server.addr;
    let url = format!("http://{addr}/v1/items?page=2&per_page=50");
    let runtime = harness::client_runtime();
    let _guard = runtime.enter();

    let hyper_bare = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let ours = ApiErrorsLayer::new()
        .client(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>());
    let reqwest_bare = reqwest::Client::builder().no_proxy().build().unwrap();
    // reqwest's built-in retry: retry 5xx and 429 on this host, with its
    // default budget (20 % extra load).
    let reqwest_retry = reqwest::Client::builder()
        .no_proxy()
        .retry(
            reqwest::retry::for_host("127.0.0.1")
                .max_retries_per_request(2)
                .classify_fn(|req_rep| match req_rep.status() {
                    Some(status) if status.is_server_error() || status.as_u16() == 429 => {
                        req_rep.retryable()
                    }
                    _ => req_rep.success(),
                }),
        )
        .build()
        .unwrap();
    let middleware = ClientBuilder::new(reqwest::Client::builder().no_proxy().build().unwrap())
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(2),
        ))
        .build();

    let ours_reqwest = ApiErrorsLayer::new().layer(ReqwestClient::new(
        reqwest::Client::builder().no_proxy().build().unwrap(),
    ));
    let ours_middleware =
        ClientBuilder::new(reqwest::Client::builder().no_proxy().build().unwrap())
            .with(ApiErrorsMiddleware::new())
            .build();
    // The adapter alone, no layers: what `ReqwestClient` itself adds to
    // bare reqwest, apart from the stack's share.
    let adapter_only = ReqwestClient::new(reqwest::Client::builder().no_proxy().build().unwrap());

    let names = [
        "bare hyper-util client",
        "tower-api-errors: ApiErrorsLayer (retry, parse) over hyper-util",
        "bare reqwest client",
        "reqwest with its built-in retry",
        "reqwest-middleware + reqwest-retry",
        "tower-api-errors: ApiErrorsLayer (retry, parse) over reqwest",
        "tower-api-errors: ApiErrorsMiddleware on reqwest-middleware",
        "tower-api-errors: ReqwestClient alone (no layers)",
    ];
    let baseline_of = [0, 0, 2, 2, 2, 2, 2, 2];
    let n = names.len();
    // `ONLY=<row>` measures one client alone (for a profiler).
    let only = std::env::var("ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let mut results = Vec::new();
    for round in 0..rounds {
        let mut row = vec![0.0; n];
        for k in 0..n {
            let i = (k + round) % n;
            if only.is_some_and(|only| only != i) {
                continue;
            }
            row[i] = match i {
                0 => harness::throughput(&runtime, total, tower_sender!(hyper_bare.clone(), addr)),
                1 => harness::throughput(&runtime, total, tower_sender!(ours.clone(), addr)),
                2 => harness::throughput(
                    &runtime,
                    total,
                    reqwest_sender!(reqwest_bare.clone(), url.clone()),
                ),
                3 => harness::throughput(
                    &runtime,
                    total,
                    reqwest_sender!(reqwest_retry.clone(), url.clone()),
                ),
                4 => harness::throughput(
                    &runtime,
                    total,
                    reqwest_sender!(middleware.clone(), url.clone()),
                ),
                5 => {
                    harness::throughput(&runtime, total, tower_sender!(ours_reqwest.clone(), addr))
                }
                6 => harness::throughput(
                    &runtime,
                    total,
                    reqwest_sender!(ours_middleware.clone(), url.clone()),
                ),
                _ => {
                    harness::throughput(&runtime, total, tower_sender!(adapter_only.clone(), addr))
                }
            };
        }
        results.push(row);
    }
    harness::report(&names, &baseline_of, &results);
}
