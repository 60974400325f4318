//! `cargo run --example reqwest_client --features reqwest`
//!
//! The demo's scenarios (the embedded loopback API of `examples/demo.rs`)
//! sent through the whole stack around a `reqwest::Client`, built in one
//! line:
//!
//! ```text
//! ApiErrorsLayer (retry, auth, quota, parse) -> ReqwestClient -> reqwest::Client
//! ```
//!
//! No network is needed; it takes a few seconds.

// The demo's server, and the loopback helpers it uses from the crate
// root (the demo loads its own copy too).
#[allow(clippy::duplicate_mod)]
#[path = "../tests/support/mod.rs"]
mod support;

#[path = "demo.rs"]
mod demo;

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::reqwest::ReqwestClient;
use tower_api_errors::{ApiErrorsLayer, Error, QuotaLayer, RetryReport};

#[tokio::main]
async fn main() {
    let started = std::time::Instant::now();
    let (addr, seen) = demo::serve().await;
    let token = Credential::new("sk_demo_secret").expect("a valid token");

    // The whole stack, one line: retry, auth, quota (one scope per
    // endpoint, so that the daily limit of one does not hold the others),
    // and parse, around a reqwest client.
    let client = ApiErrorsLayer::new()
        .retry(demo::policy())
        .auth(AuthLayer::new(StaticToken::new(token)))
        .quota(QuotaLayer::new().partition(|r| HeaderValue::from_str(r.uri().path()).ok()))
        .layer(ReqwestClient::new(reqwest::Client::new()));

    println!(
        "{:<22} {:>8} {:>8} {:>7}  outcome",
        "scenario", "attempts", "waited", "served"
    );
    println!("{}", "-".repeat(94));
    let mut shown = None;
    for scenario in demo::SCENARIOS {
        let mut request = Request::builder()
            .method(scenario.method.clone())
            .uri(format!(
                "http://{addr}{}?api_key=sk_demo_secret",
                scenario.path
            ));
        if let Some(key) = scenario.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Full::new(Bytes::from_static(b"{}"))).unwrap();
        let (report, outcome) = match client.clone().oneshot(request).await {
            Ok(response) => {
                let report = response.extensions().get::<RetryReport>().copied();
                (
                    report.unwrap_or_default(),
                    format!("ok {}", response.status().as_u16()),
                )
            }
            Err(error) => {
                let line = match &error {
                    Error::Api(api) => format!(
                        "{} {}: {}",
                        api.status().as_u16(),
                        api.kind(),
                        api.message()
                    ),
                    other => format!("{other}"),
                };
                let report = error.retries();
                shown.get_or_insert(error);
                (report, line)
            }
        };
        let served = seen
            .lock()
            .unwrap()
            .get(scenario.path)
            .copied()
            .unwrap_or(0);
        println!(
            "{:<22} {:>8} {:>8} {:>7}  {outcome}",
            scenario.name,
            report.attempts(),
            format!("{:.1}s", report.waited().as_secs_f64()),
            served,
        );
    }
    println!(
        "\n{} scenarios in {:.1}s.",
        demo::SCENARIOS.len(),
        started.elapsed().as_secs_f64()
    );
    // The token went out as `Authorization: Bearer` and in the query; an
    // error's Display shows neither.
    if let Some(error) = shown {
        println!("An error as Display prints it:\n  {error}");
    }
}
