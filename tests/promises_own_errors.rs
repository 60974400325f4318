//! Our own errors through the full stack (quota refusals, auth failures,
//! open circuits), problem details, the axum pattern, and the memory
//! store's bounds.

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use scripted::{reply, Scripted};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::auth::{
    AuthFailure, AuthLayer, Credential, StaticToken, TokenFuture, TokenSource,
};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::quota::MemoryStore;
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::stack::ApiErrorsLayer;
use tower_api_errors::{parse_error, Error, ErrorKind, QuotaLayer, RetryPolicy};

const TOKEN: &str = "sk_live_TOKENSECRET0123456789";
const QUERY_SECRET: &str = "QUERYSECRETzz9876";

fn uri(host: &str) -> String {
    format!("http://{host}/v1/items?api_key={QUERY_SECRET}&page=2")
}

fn get(host: &str) -> Request<Full<Bytes>> {
    Request::get(uri(host))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(1)
        .deadline(Duration::from_secs(60))
}

/// Nothing printable about `error` holds a credential or the query secret.
fn assert_clean(error: &Error, what: &str) {
    for text in [
        format!("{error}"),
        format!("{error:?}"),
        format!("{error:#?}"),
    ] {
        assert!(!text.contains(TOKEN), "{what}: token leaked: {text}");
        assert!(
            !text.contains("TOKENSECRET"),
            "{what}: token leaked: {text}"
        );
        assert!(
            !text.contains(QUERY_SECRET),
            "{what}: query secret leaked: {text}"
        );
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        let text = format!("{inner} {inner:?}");
        assert!(!text.contains(TOKEN), "{what}: source leaked: {text}");
        assert!(
            !text.contains(QUERY_SECRET),
            "{what}: source leaked: {text}"
        );
        source = inner.source();
    }
}

fn assert_request(error: &Error, what: &str) {
    let request = error
        .request_context()
        .unwrap_or_else(|| panic!("{what}: no request recorded: {error:?}"));
    assert_eq!(request.method(), http::Method::GET, "{what}");
    let shown = request.uri();
    assert!(shown.contains("/v1/items"), "{what}: {shown}");
    assert!(!shown.contains(QUERY_SECRET), "{what}: {shown}");
}

trait RequestOf {
    fn request_context(&self) -> Option<&tower_api_errors::redact::RequestContext>;
}

impl RequestOf for Error {
    fn request_context(&self) -> Option<&tower_api_errors::redact::RequestContext> {
        match self {
            Error::Api(e) => e.request(),
            Error::Transport(e) => e.request(),
            Error::RateLimited(e) => e.request(),
            Error::Unauthorized(e) => e.request(),
            Error::CircuitOpen(e) => e.request(),
            _ => None,
        }
    }
}

fn full_stack() -> ApiErrorsLayer<
    AuthLayer,
    QuotaLayer,
    tower_api_errors::classify::DefaultClassifier,
    CircuitBreakerLayer,
> {
    ApiErrorsLayer::new()
        .retry(quick())
        .auth(AuthLayer::new(StaticToken::new(
            Credential::new(TOKEN).unwrap(),
        )))
        .quota(QuotaLayer::new().max_wait(Duration::from_secs(1)))
        .breaker(CircuitBreakerLayer::new())
}

/// A quota refusal through the whole stack: `RateLimited`, not sent, its
/// wait, its request redacted.
#[tokio::test(start_paused = true)]
async fn a_quota_refusal_through_the_full_stack_is_typed_and_clean() {
    let sent = Scripted::new();
    let upstream = sent.service::<ReplayBody<Full<Bytes>>>(move |_| {
        reply(
            429,
            &[
                ("retry-after", "3600"),
                ("content-type", "application/json"),
            ],
            r#"{"error": {"code": "rate_limited", "message": "Slow down"}}"#,
        )
    });
    let client = full_stack().layer(upstream);
    let first = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::RateLimited, "{first}");
    assert!(
        first.api().is_some(),
        "the first is the server's: {first:?}"
    );
    assert_clean(&first, "server 429");
    let error = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert_eq!(sent.count(), 1, "the refusal was sent: {error}");
    let refused = error
        .rate_limited()
        .unwrap_or_else(|| panic!("not a local refusal: {error:?}"));
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let wait = refused.retry_after();
    assert!(
        wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
    // `RetryReport::attempts`: the attempts sent; the refusal is none.
    assert_eq!(error.retries().attempts(), 0, "{:?}", error.retries());
    assert!(error.auth_report().is_none());
    assert_request(&error, "RateLimited");
    assert_clean(&error, "RateLimited");
}

struct Failing;

impl TokenSource for Failing {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Err("identity provider down".into()) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        Box::pin(async { Err("identity provider down".into()) })
    }
}

/// A token source that fails: `Unauthorized`, nothing sent (no attempt
/// counted), request redacted.
#[tokio::test(start_paused = true)]
async fn a_failing_token_source_through_the_full_stack_is_typed_and_clean() {
    let sent = Scripted::new();
    let upstream = sent.service::<ReplayBody<Full<Bytes>>>(move |_| reply(200, &[], "{}"));
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().deadline(Duration::from_secs(60)))
        .auth(AuthLayer::new(Failing))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .layer(upstream);
    let error = client.oneshot(get("api.test")).await.unwrap_err();
    assert_eq!(sent.count(), 0);
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error:?}");
    let unauthorized = error.unauthorized().expect("Unauthorized");
    assert_eq!(unauthorized.reason(), AuthFailure::NoCredential);
    assert_eq!(unauthorized.status(), None);
    assert!(
        unauthorized.report().sends() <= 1,
        "{:?}",
        unauthorized.report()
    );
    assert_eq!(unauthorized.report().renewal(), None);
    assert_eq!(error.retries().attempts(), 0, "{:?}", error.retries());
    assert!(
        format!("{error}").contains("identity provider down"),
        "{error}"
    );
    assert_request(&error, "Unauthorized(NoCredential)");
    assert_clean(&error, "Unauthorized(NoCredential)");
}

/// A rejected API key (server 401 echoing it): `Unauthorized`, status 401,
/// the server's rejection kept, and no key anywhere.
#[tokio::test(start_paused = true)]
async fn a_rejected_static_key_through_the_full_stack_never_prints_it() {
    let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| async move {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        let uri = req.uri().to_string();
        Ok::<_, Infallible>(reply(
            401,
            &[
                ("content-type", "application/json"),
                ("www-authenticate", "Bearer error=\"invalid_token\""),
            ],
            &format!(
                r#"{{"error": {{"code": "invalid_api_key", "message": "Invalid key {auth} for {uri}"}}}}"#
            ),
        ))
    });
    let client = full_stack().layer(upstream);
    let error = client.oneshot(get("api.test")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error:?}");
    let unauthorized = error.unauthorized().expect("Unauthorized");
    assert_eq!(unauthorized.status(), Some(StatusCode::UNAUTHORIZED));
    let rejection = unauthorized.rejection().expect("rejection");
    assert!(!rejection.is_retryable());
    assert!(
        !rejection.message().contains("TOKENSECRET"),
        "{}",
        rejection.message()
    );
    assert!(
        !rejection.message().contains(QUERY_SECRET),
        "{}",
        rejection.message()
    );
    assert_request(&error, "Unauthorized(401)");
    assert_clean(&error, "Unauthorized(401)");
    // Its problem-details form leaks neither.
    let body = problem_body(rejection).await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("TOKENSECRET") && !text.contains(QUERY_SECRET),
        "{text}"
    );
}

/// A failing upstream opens the breaker: `CircuitOpen`, kind Unavailable,
/// nothing sent, a wait, the request redacted.
#[tokio::test(start_paused = true)]
async fn an_open_circuit_through_the_full_stack_is_typed_and_clean() {
    let sent = Scripted::new();
    let upstream = sent.service::<ReplayBody<Full<Bytes>>>(move |_| reply(503, &[], "oops"));
    let client = full_stack().layer(upstream);
    let mut open = None;
    for _ in 0..200 {
        match client.clone().oneshot(get("api.test")).await {
            Err(error) if error.circuit_open().is_some() => {
                open = Some(error);
                break;
            }
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
                assert_clean(&error, "503");
            }
            Ok(_) => panic!("a 503 succeeded"),
        }
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    let error = open.expect("the breaker never opened");
    let before = sent.count();
    let again = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert!(again.circuit_open().is_some(), "{again}");
    assert_eq!(sent.count(), before, "an open circuit sent");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    let circuit = error.circuit_open().unwrap();
    assert!(circuit.retry_after() > Duration::ZERO);
    assert!(!circuit.is_server_signalled());
    assert_eq!(circuit.retry_hint().delay(), circuit.retry_after());
    // The breaker refused it: no attempt sent.
    assert_eq!(error.retries().attempts(), 0, "{:?}", error.retries());
    assert!(error.auth_report().is_none());
    assert_request(&error, "CircuitOpen");
    assert_clean(&error, "CircuitOpen");
}

async fn problem_body(error: &tower_api_errors::ApiError) -> Bytes {
    error
        .to_problem_response()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
}

/// RFC 9457 §3.1: status is the response's; type about:blank; title the
/// status phrase; detail a string. Our own parser reads it back the same.
#[tokio::test]
async fn problem_details_round_trip_and_follow_rfc_9457() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "2".parse().unwrap());
    headers.insert("content-type", "application/problem+json".parse().unwrap());
    let upstream_body = br#"{"type": "https://example.com/probs/out-of-credit",
        "title": "You do not have enough credit.", "status": 403,
        "detail": "Your current balance is 30, but that costs 50.",
        "instance": "/account/12345/msgs/abc", "balance": 30}"#;
    let error = parse_error(StatusCode::FORBIDDEN, &headers, upstream_body);
    let response = error.to_problem_response();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["retry-after"], "2");
    let back_headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "about:blank");
    assert_eq!(problem["title"], "Forbidden");
    assert_eq!(problem["status"], 403);
    assert!(problem["detail"].is_string(), "{problem}");
    assert!(
        problem.get("instance").is_none(),
        "no upstream URI: {problem}"
    );
    let again = parse_error(StatusCode::FORBIDDEN, &back_headers, &body);
    assert_eq!(again.message(), error.message());
    assert_eq!(again.code(), error.code());
    assert_eq!(again.kind(), error.kind());
    assert_eq!(again.retry_after(), error.retry_after());

    // An unknown status keeps its number in `status`.
    let odd = parse_error(
        StatusCode::from_u16(599).unwrap(),
        &HeaderMap::new(),
        br#"{"message": "edge exploded"}"#,
    );
    let body = problem_body(&odd).await;
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 599);
    assert!(problem["title"].is_string());
}

/// The axum pattern: an upstream 500 whose body echoes the key and
/// internal details; the app's client sees our own JSON only.
#[tokio::test(start_paused = true)]
async fn the_axum_pattern_never_passes_an_upstream_body_or_key_on() {
    use axum::response::IntoResponse;
    let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| async move {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        Ok::<_, Infallible>(reply(
            500,
            &[
                ("content-type", "application/json"),
                ("x-should-retry", "false"),
            ],
            &format!(
                r#"{{"error": "internal_error", "error_description": "db at 10.0.0.7 said no to {auth}", "trace": "INTERNALTRACE"}}"#
            ),
        ))
    });
    let client = full_stack().layer(upstream);
    let error = client.oneshot(get("api.test")).await.unwrap_err();
    assert_clean(&error, "upstream 500");
    // The example's mapping: anything but 429/422/404 is our 502 with the status only.
    let response = match &error {
        Error::Api(api) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(serde_json::json!({"error": "upstream failed", "upstream_status": api.status().as_u16()})),
        )
            .into_response(),
        _ => StatusCode::BAD_GATEWAY.into_response(),
    };
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("INTERNALTRACE") && !text.contains("TOKENSECRET"),
        "{text}"
    );
    // And the problem-details form holds the scrubbed message only.
    let api = error.api().expect("api");
    let problem = problem_body(api).await;
    let text = String::from_utf8_lossy(&problem);
    assert!(
        !text.contains("TOKENSECRET") && !text.contains(QUERY_SECRET),
        "{text}"
    );
    assert!(!text.contains("INTERNALTRACE"), "{text}");
}

/// MemoryStore: many distinct authorities stay within `max_scopes`;
/// every request ends once.
#[tokio::test(start_paused = true)]
async fn many_authorities_stay_within_the_scope_bound() {
    let store = MemoryStore::new().max_scopes(512);
    let sent = Scripted::new();
    let upstream = sent.service::<ReplayBody<Full<Bytes>>>(move |_| {
        reply(
            200,
            &[
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "99"),
                ("x-ratelimit-reset", "60"),
            ],
            "{}",
        )
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .quota(QuotaLayer::with_store(store.clone()))
        .breaker(CircuitBreakerLayer::new())
        .layer(upstream);
    let n = 20_000;
    for i in 0..n {
        let response = client
            .clone()
            .oneshot(get(&format!("h{i}.test")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        if i % 1000 == 0 {
            assert!(store.len() <= 512 + 64, "{} scopes after {i}", store.len());
        }
    }
    assert_eq!(sent.count(), n);
    assert!(store.len() <= 512 + 64, "{} scopes", store.len());
    assert!(!store.is_empty());
}

/// The same with partition keys on one authority, default store bound.
#[tokio::test(start_paused = true)]
async fn many_partitions_stay_within_the_default_bound() {
    let store = MemoryStore::new();
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, Infallible>(reply(
            200,
            &[("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "9")],
            "{}",
        ))
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .quota(QuotaLayer::with_store(store.clone()).partition(
            |req: &tower_api_errors::quota::QuotaRequest<'_>| {
                req.headers().get("x-tenant").cloned()
            },
        ))
        .layer(upstream);
    for i in 0..20_000u32 {
        let mut request = get("api.test");
        request
            .headers_mut()
            .insert("x-tenant", format!("tenant-{i}").parse().unwrap());
        client.clone().oneshot(request).await.unwrap();
    }
    assert!(store.len() <= 16 * 1024 + 64, "{} scopes", store.len());
}

/// The breaker counts upstream failures; a token source that fails is
/// not one: every call stays `Unauthorized`, the circuit never opens.
#[tokio::test(start_paused = true)]
async fn a_failing_token_source_never_opens_the_breaker() {
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, Infallible>(reply(200, &[], "{}"))
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .auth(AuthLayer::new(Failing))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new().minimum_calls(5))
        .layer(upstream);
    for i in 0..100 {
        let error = client.clone().oneshot(get("api.test")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unauthorized, "call {i}: {error}");
        tokio::time::advance(Duration::from_millis(50)).await;
    }
}

/// Local quota refusals are not upstream failures either; once the
/// cooldown ends the next call goes through.
#[tokio::test(start_paused = true)]
async fn quota_refusals_never_open_the_breaker() {
    let sent = Scripted::new();
    let upstream = sent.service::<ReplayBody<Full<Bytes>>>(move |n| {
        if n == 0 {
            reply(429, &[("retry-after", "30")], "{}")
        } else {
            reply(200, &[], "{}")
        }
    });
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().deadline(Duration::from_secs(5)))
        .auth(AuthLayer::new(StaticToken::new(
            Credential::new(TOKEN).unwrap(),
        )))
        .quota(QuotaLayer::new().max_wait(Duration::from_secs(1)))
        .breaker(CircuitBreakerLayer::new().minimum_calls(5))
        .layer(upstream);
    let first = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert!(first.api().is_some(), "{first:?}");
    for i in 0..50 {
        let error = client.clone().oneshot(get("api.test")).await.unwrap_err();
        assert!(error.rate_limited().is_some(), "call {i}: {error}");
        assert_eq!(
            error.retries().attempts(),
            0,
            "not retried, nothing sent: {:?}",
            error.retries()
        );
        assert_clean(&error, "RateLimited");
    }
    assert_eq!(sent.count(), 1);
    tokio::time::advance(Duration::from_secs(31)).await;
    let response = client.clone().oneshot(get("api.test")).await;
    assert!(response.is_ok(), "{:?}", response.err());
}

/// Userinfo and several credential-like query names never show in our own
/// errors' request.
#[tokio::test(start_paused = true)]
async fn our_own_errors_redact_userinfo_and_secret_params() {
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, Infallible>(reply(200, &[], "{}"))
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .auth(AuthLayer::new(Failing))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .layer(upstream);
    for query in [
        "access_token",
        "token",
        "key",
        "apikey",
        "client_secret",
        "password",
        "X-Amz-Signature",
        "sig",
    ] {
        let uri = format!("http://bob:PASSWORDzz@api.test/v1/items?{query}={QUERY_SECRET}");
        let request = Request::get(&uri).body(Full::new(Bytes::new())).unwrap();
        let error = client.clone().oneshot(request).await.unwrap_err();
        assert!(error.unauthorized().is_some(), "{error}");
        for text in [format!("{error}"), format!("{error:?}")] {
            assert!(!text.contains("PASSWORDzz"), "{query}: {text}");
            assert!(!text.contains(QUERY_SECRET), "{query}: {text}");
        }
    }
}

/// MemoryStore at a tiny cap under many concurrent scopes whose first
/// answers are slow: every request ends once, the bound holds.
#[tokio::test(start_paused = true)]
async fn a_tiny_scope_cap_under_concurrent_probes_ends_every_request() {
    let store = MemoryStore::new().max_scopes(4);
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, SeqCst);
        let limited = req.uri().host().unwrap_or("").starts_with("h1");
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, Infallible>(if limited {
                reply(429, &[("retry-after", "1")], "{}")
            } else {
                reply(
                    200,
                    &[("x-ratelimit-limit", "5"), ("x-ratelimit-remaining", "4")],
                    "{}",
                )
            })
        }
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .quota(QuotaLayer::with_store(store.clone()))
        .layer(upstream);
    let mut calls = Vec::new();
    for i in 0..2000 {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            client.oneshot(get(&format!("h{}.test", i % 97))).await
        }));
    }
    let all = async {
        let mut ended = 0;
        for call in calls {
            let _ = call.await.unwrap();
            ended += 1;
        }
        ended
    };
    let ended = tokio::time::timeout(Duration::from_secs(600), all)
        .await
        .expect("a request never ended");
    assert_eq!(ended, 2000);
    assert!(store.len() <= 4 + 64, "{} scopes", store.len());
    assert!(sent.load(SeqCst) <= 2000);
}

struct Counting {
    current: AtomicUsize,
    refresh: AtomicUsize,
}

impl TokenSource for Counting {
    fn current(&self) -> TokenFuture<'_> {
        self.current.fetch_add(1, SeqCst);
        Box::pin(async { Ok(Credential::new(TOKEN).unwrap()) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        self.refresh.fetch_add(1, SeqCst);
        Box::pin(async { Err(format!("token endpoint said no to {TOKEN}").into()) })
    }
}

/// A failed refresh: `RefreshFailed` with the backoff as `retry_after`;
/// within it, `RefreshBackingOff` whose source is that failure (withheld,
/// as it quotes the credential) and a shrinking `retry_after`; after it,
/// the source is called again.
#[tokio::test(start_paused = true)]
async fn a_failed_refresh_backs_off_as_its_retry_after_says() {
    let source = Arc::new(Counting {
        current: AtomicUsize::new(0),
        refresh: AtomicUsize::new(0),
    });
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, Infallible>(reply(401, &[], r#"{"error": "invalid_token"}"#))
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .auth(
            AuthLayer::new(source.clone())
                .refresh_backoff(Duration::from_secs(10), Duration::from_secs(60)),
        )
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .layer(upstream);
    let first = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert_clean(&first, "RefreshFailed");
    let unauthorized = first.unauthorized().expect("Unauthorized");
    assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed, "{first}");
    assert_eq!(unauthorized.status(), Some(StatusCode::UNAUTHORIZED));
    let backoff = unauthorized.retry_after().expect("a backoff runs");
    assert!(
        backoff >= Duration::from_secs(5) && backoff <= Duration::from_secs(10),
        "{backoff:?}"
    );
    assert_eq!(source.refresh.load(SeqCst), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    let second = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert_clean(&second, "RefreshBackingOff");
    let backing = second.unauthorized().expect("Unauthorized");
    assert_eq!(backing.reason(), AuthFailure::RefreshBackingOff, "{second}");
    assert!(std::error::Error::source(backing).is_some());
    let left = backing.retry_after().expect("still backing off");
    assert!(
        left <= backoff - Duration::from_secs(2),
        "{left:?} vs {backoff:?}"
    );
    assert_eq!(
        source.refresh.load(SeqCst),
        1,
        "refreshed during the backoff"
    );
    assert_request(&second, "RefreshBackingOff");
    tokio::time::advance(left + Duration::from_millis(1)).await;
    let third = client.clone().oneshot(get("api.test")).await.unwrap_err();
    assert_eq!(source.refresh.load(SeqCst), 2, "{third}");
}

/// A failure inside a 2xx (S3's `200 SlowDown`, Slack's `ok: false`,
/// typed by `SuccessPeekLayer`) keeps status 200; its problem-details
/// response goes out as 502 Bad Gateway. RFC 9457 §4.2.1: an
/// `about:blank` problem "has no additional semantics beyond that of the
/// HTTP status code", so a 200 would tell the app's client that nothing
/// failed. (It went out as `200 OK`, `title: "OK"`.)
#[tokio::test]
async fn a_failure_inside_a_success_is_not_passed_on_as_200_ok() {
    use tower::ServiceBuilder;
    use tower_api_errors::parse::SuccessPeekLayer;
    use tower_api_errors::ErrorBodyParseLayer;
    let upstream = service_fn(move |_req: Request<()>| async move {
        Ok::<_, Infallible>(reply(
            200,
            &[("content-type", "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        ))
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let Err(Error::Api(error)) = client.oneshot(Request::new(())).await else {
        panic!("expected an API error");
    };
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let response = error.to_problem_response();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["title"].as_str()),
        (Some(502), Some("Bad Gateway"))
    );
}

/// An open circuit whose break fits the retry policy is waited out like a
/// hint: the call ends once, and its report counts the attempts and the wait.
#[tokio::test(start_paused = true)]
async fn an_open_circuit_waited_out_reports_its_attempts_and_wait() {
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, Infallible>(reply(503, &[], "oops"))
    });
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .breaker(
            CircuitBreakerLayer::new()
                .minimum_calls(5)
                .break_duration(Duration::from_secs(2), Duration::from_secs(2)),
        )
        .layer(upstream);
    let mut opened = false;
    for _ in 0..50 {
        if client
            .clone()
            .oneshot(get("api.test"))
            .await
            .unwrap_err()
            .circuit_open()
            .is_some()
        {
            opened = true;
            break;
        }
    }
    assert!(opened);
    // The same breaker state is per layer: retry around a fresh call.
    let patient = ApiErrorsLayer::new()
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .deadline(Duration::from_secs(60)),
        )
        .breaker(
            CircuitBreakerLayer::new()
                .minimum_calls(5)
                .break_duration(Duration::from_secs(2), Duration::from_secs(2)),
        )
        .layer(upstream);
    let mut last = None;
    for _ in 0..10 {
        let started = tokio::time::Instant::now();
        let error = patient.clone().oneshot(get("api.test")).await.unwrap_err();
        let took = started.elapsed();
        let report = error.retries();
        assert!(
            report.attempts() >= 1 && report.attempts() <= 3,
            "{report:?}"
        );
        assert!(report.waited() <= took, "{report:?} vs {took:?}");
        assert_clean(&error, "patient");
        last = Some(error);
    }
    let last = last.unwrap();
    assert_eq!(last.kind(), ErrorKind::Unavailable, "{last}");
}
