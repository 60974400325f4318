//! The success path, each in the same run: the bare service; the tower /
//! tower-http baseline (hand-written policy, with and without a budget);
//! each of our layers alone; the recommended stack and the three layers.
//!
//! `COUNT=<row> ITERS=<n>` runs one row n times without criterion, for
//! instruction counts (`benches/instructions.sh stack`).

mod common;

use common::{ok_service, request, request_without_credential, Mode, ServerErrorsPolicy};
use criterion::Criterion;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{Credential, StaticToken};
use tower_api_errors::quota::QuotaLayer;
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ApiErrorsLayer, AuthLayer, ErrorBodyParseLayer, StatusClassifierLayer};
use tower_http::set_header::SetRequestHeaderLayer;

/// `ok_service` without its rate-limit header: a server that announces no
/// quota, so the quota layer learns nothing.
fn unannounced_service<B>() -> impl tower::Service<
    http::Request<B>,
    Response = http::Response<http_body_util::Full<bytes::Bytes>>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Copy {
    tower::service_fn(|_req: http::Request<B>| async {
        Ok::<_, std::convert::Infallible>(common::unannounced_response())
    })
}

/// The benches' success response.
type Success = http::Response<http_body_util::Full<bytes::Bytes>>;

/// A cached bearer token of the same length as the one `request()` carries.
fn auth_layer() -> AuthLayer {
    AuthLayer::new(StaticToken::new(
        Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap(),
    ))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mode = Mode::from_env();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("stack/success_path");
    let mut row = 0;
    macro_rules! bench {
        ($name:expr, $service:expr) => {
            bench!($name, $service, request)
        };
        ($name:expr, $service:expr, $request:expr) => {{
            let service = $service;
            // A first call outside the measurement: an auth layer loads its
            // credential then; every measured call finds it cached.
            runtime
                .block_on(service.clone().oneshot($request()))
                .unwrap();
            match mode {
                Mode::Criterion => {
                    group.bench_function($name, |b| {
                        b.to_async(&runtime)
                            .iter(|| service.clone().oneshot($request()))
                    });
                }
                Mode::Count { row: which, iters } if which == row => {
                    eprintln!("row {row}: {}", $name);
                    for _ in 0..iters {
                        let _ = runtime.block_on(service.clone().oneshot($request()));
                    }
                }
                Mode::Count { .. } => {}
            }
            row += 1;
        }};
    }
    bench!("bare service (baseline)", ok_service());
    bench!(
        "tower Retry + tower-http classification",
        tower::retry::RetryLayer::new(ServerErrorsPolicy::new()).layer(ok_service())
    );
    bench!(
        "tower Retry + tower-http classification + TpsBudget",
        tower::retry::RetryLayer::new(ServerErrorsPolicy::with_budget()).layer(ok_service())
    );
    bench!(
        "StatusClassifierLayer",
        StatusClassifierLayer::new().layer(ok_service())
    );
    bench!(
        "ErrorBodyParseLayer",
        ErrorBodyParseLayer::new().layer(ok_service())
    );
    bench!(
        "RetryLayer",
        RetryLayer::new(RetryPolicy::default()).layer(ok_service())
    );
    bench!(
        "retry, parse stacked by hand (ServiceBuilder)",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .service(ok_service())
    );
    bench!(
        "recommended stack: ApiErrorsLayer (retry, parse)",
        ApiErrorsLayer::new().layer(ok_service())
    );
    bench!(
        "three layers (retry, parse, classify)",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .layer(StatusClassifierLayer::new())
            .service(ok_service())
    );
    // The auth rows send the same request without its `Authorization`
    // header: the auth layer adds it (a cached credential), so the service
    // below sees the same two header values as in the rows above.
    bench!(
        "bare service, request without credential",
        ok_service(),
        request_without_credential
    );
    bench!(
        "AuthLayer (cached credential)",
        auth_layer().layer(ok_service()),
        request_without_credential
    );
    bench!(
        "QuotaLayer (learns the X-RateLimit-Remaining of every success)",
        QuotaLayer::new().layer(ok_service())
    );
    bench!(
        "bare service, success announcing no quota",
        unannounced_service()
    );
    bench!(
        "QuotaLayer, success announcing no quota (nothing learned)",
        QuotaLayer::new().layer(unannounced_service())
    );
    bench!(
        "ApiErrorsLayer with auth (retry, auth, parse)",
        ApiErrorsLayer::new().auth(auth_layer()).layer(ok_service()),
        request_without_credential
    );
    bench!(
        "full stack (retry, auth, quota, parse)",
        ApiErrorsLayer::new()
            .auth(auth_layer())
            .quota(QuotaLayer::new())
            .layer(ok_service()),
        request_without_credential
    );
    // What the target names: auth (credential cached) and quota
    // (nothing learned: the server announces no quota) in the stack.
    bench!(
        "bare service, request without credential, success announcing no quota",
        unannounced_service(),
        request_without_credential
    );
    bench!(
        "full stack (retry, auth, quota, parse), nothing learned",
        ApiErrorsLayer::new()
            .auth(auth_layer())
            .quota(QuotaLayer::new())
            .layer(unannounced_service()),
        request_without_credential
    );
    // What a tower user writes for the same job as the full stack's auth
    // layer (a cached credential): tower-http's `SetRequestHeader` with the
    // credential's `HeaderValue`, inside the baseline's `Retry` (each
    // attempt gets the header; the copy is of the caller's request, as
    // ours is). Against the same bare service as the full stack's
    // nothing-learned row: the like-for-like baseline.
    bench!(
        "baseline + SetRequestHeader (credential), success announcing no quota",
        ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(
                ServerErrorsPolicy::with_budget()
            ))
            .layer(SetRequestHeaderLayer::overriding(
                http::header::AUTHORIZATION,
                // Made from the token at run time, as a user's is (not a
                // static: its clones count references, as ours do).
                http::HeaderValue::try_from(format!(
                    "Bearer {}",
                    "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
                ))
                .unwrap(),
            ))
            .service(unannounced_service()),
        request_without_credential
    );
    // What two layer boundaries cost with no work of their own: retry and
    // parse stacked by hand, without and with two identity `MapResponse`
    // layers between them (where the auth and quota layers go).
    bench!(
        "retry, parse stacked by hand, success announcing no quota",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .service(unannounced_service())
    );
    bench!(
        "the same with two identity MapResponse layers between",
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .map_response(std::convert::identity::<Success>)
            .map_response(std::convert::identity::<Success>)
            .layer(ErrorBodyParseLayer::new())
            .service(unannounced_service())
    );
    // Issue 26's guard: the recommended stack with a closed circuit
    // breaker (and the breaker alone).
    bench!(
        "CircuitBreakerLayer (closed)",
        tower_api_errors::breaker::CircuitBreakerLayer::new().layer(ok_service())
    );
    bench!(
        "recommended stack with a closed breaker (retry, breaker, parse)",
        ApiErrorsLayer::new()
            .breaker(tower_api_errors::breaker::CircuitBreakerLayer::new())
            .layer(ok_service())
    );
    let _ = row;
    group.finish();
    if let Mode::Criterion = mode {
        criterion.final_summary();
    }
}
