//! The stack as a `reqwest_middleware::Middleware` (feature
//! `reqwest-middleware`), against a real hyper server on loopback; and what
//! it does beside reqwest-retry.

mod support;

use bytes::Bytes;
use http::Request;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{response, serve};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::reqwest::{ApiErrorsMiddleware, MiddlewareErrorExt, SentTwice};
use tower_api_errors::retry::Backoff;
use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind, QuotaLayer, RetryPolicy};

/// A server answering each request with the next of `answers` (the last
/// repeats), counting requests.
async fn counting(answers: &'static [(u16, &'static str)]) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    let addr = serve(move |request: Request<hyper::body::Incoming>| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let auth_ok = request
            .headers()
            .get("authorization")
            .is_none_or(|v| v == "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc");
        async move {
            let (status, body) = answers[n.min(answers.len() - 1)];
            let status = if auth_ok { status } else { 400 };
            response(status, &[("content-type", "application/json")], body)
        }
    })
    .await;
    (format!("http://{addr}"), calls)
}

fn ours() -> ApiErrorsMiddleware {
    ApiErrorsMiddleware::with_layer(ApiErrorsLayer::new().retry(RetryPolicy::default().backoff(
        Backoff::exponential(Duration::from_millis(1), 2.0, Duration::from_millis(4)),
    )))
}

fn theirs() -> RetryTransientMiddleware<ExponentialBackoff> {
    RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(Duration::from_millis(1), Duration::from_millis(4))
            .build_with_max_retries(2),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn one_with_gives_an_existing_client_retry_parse_auth_and_quota() {
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#), (200, r#"{"id": 1}"#)]).await;
    let token = Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
    let client: ClientWithMiddleware = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new()
                .retry(RetryPolicy::default().backoff(Backoff::exponential(
                    Duration::from_millis(1),
                    2.0,
                    Duration::from_millis(4),
                )))
                .auth(AuthLayer::new(StaticToken::new(token)))
                .quota(QuotaLayer::new()),
        ))
        .build();
    let url = format!("{base}/v1/members/1");
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // reqwest's http conversion drops the URL; the middleware keeps it.
    assert_eq!(response.url().as_str(), url);
    assert_eq!(response.text().await.unwrap(), r#"{"id": 1}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_typed_error_is_reached_from_reqwest_middleware_error() {
    let (base, calls) = counting(&[(
        404,
        r#"{"error": {"code": 404, "message": "User not found"}}"#,
    )])
    .await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!("{base}/v1/users/404"))
        .send()
        .await
        .unwrap_err();
    let api = error.api_error().expect("a typed API error");
    assert_eq!(api.kind(), ErrorKind::NotFound);
    assert_eq!(api.message(), "User not found");
    assert!(matches!(error.typed_error(), Some(Error::Api(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_posted_body_is_sent_and_replayed() {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = bodies.clone();
    let addr = serve(move |request: Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let body = support::body_bytes(request.into_body()).await;
            let n = {
                let mut log = log.lock().unwrap();
                log.push(body);
                log.len()
            };
            let status = if n == 1 { 503 } else { 201 };
            response(status, &[], "{}")
        }
    })
    .await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let response = client
        .post(format!("http://{addr}/v1/posts"))
        .header("idempotency-key", "post-5c1e")
        .body("{\"name\": \"Ada\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let bodies = bodies.lock().unwrap();
    assert_eq!(
        *bodies,
        [
            Bytes::from("{\"name\": \"Ada\"}"),
            Bytes::from("{\"name\": \"Ada\"}")
        ]
    );
}

#[tokio::test]
async fn reqwest_retry_above_ours_does_not_multiply_attempts() {
    // Its default strategy calls a middleware's error fatal, and our
    // failures are middleware errors: ours retries, theirs does not.
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(theirs())
        .with(ours())
        .build();
    let error = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "3 of ours, not 3 x 3");
    // Its `RetryError::Error` wraps ours transparently: our Display, but
    // not our type, comes through.
    assert!(
        error
            .to_string()
            .contains("unavailable (503 Service Unavailable)"),
        "{error}"
    );
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

/// A middleware above ours that sends every call through the rest of the
/// chain twice, as a retry middleware does after a failure.
struct SendsTwice;

#[async_trait::async_trait]
impl Middleware for SendsTwice {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().unwrap();
        let _ = next.clone().run(request, extensions).await;
        next.run(again, extensions).await
    }
}

#[tokio::test]
async fn a_second_send_from_a_retrying_middleware_above_is_refused() {
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(SendsTwice)
        .with(ours())
        .build();
    let error = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert_refused_as_sent_twice(&error);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the first call's 3 attempts, nothing more"
    );
}

#[tokio::test]
async fn reqwest_retry_below_ours_cannot_resend_so_never_multiplies() {
    // Each attempt goes down the chain with a streamed body (the replay
    // copy): reqwest-retry cannot clone it, and refuses before sending.
    let (base, calls) = counting(&[(503, r#"{"error": "down"}"#)]).await;
    let client = ClientBuilder::new(client())
        .with(ours())
        .with(theirs())
        .build();
    let error = client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not cloneable"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_refused_connection_is_a_typed_connect_error() {
    let port = support::refused_addr().port();
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    let typed = error.typed_error().unwrap();
    assert!(typed.transport().unwrap().is_connect(), "{error}");
    assert!(tower_api_errors::reqwest::reqwest_error(typed)
        .unwrap()
        .is_connect());
    assert_eq!(typed.retries().attempts(), 3);
}

/// The failure's text, its sources' included, never prints the request's
/// userinfo or credential-like query values (reqwest prints its URL in
/// its errors).
#[tokio::test]
async fn a_failure_never_prints_the_request_credentials() {
    let port = support::refused_addr().port();
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!(
            "http://user:hunter2pw@127.0.0.1:{port}/v1?api_key=sk_live_leak1&page=2"
        ))
        .send()
        .await
        .unwrap_err();
    let text = support::error_text(&error);
    for secret in ["hunter2pw", "sk_live_leak1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(
        error
            .typed_error()
            .unwrap()
            .transport()
            .unwrap()
            .is_connect(),
        "{text}"
    );
}

#[tokio::test]
async fn middleware_extensions_reach_below_and_back_to_the_caller() {
    #[derive(Clone, Debug, PartialEq)]
    struct Seen(u32);
    struct Marks;
    #[async_trait::async_trait]
    impl Middleware for Marks {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let seen = extensions.get::<Seen>().map_or(1, |s| s.0 + 1);
            extensions.insert(Seen(seen));
            next.run(request, extensions).await
        }
    }
    let (base, _) = counting(&[(503, "{}"), (200, "{}")]).await;
    let client = ClientBuilder::new(client())
        .with(ours())
        .with(Marks)
        .build();
    let mut extensions = http::Extensions::new();
    extensions.insert(Seen(10));
    let request = client.get(format!("{base}/")).build().unwrap();
    let response = client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        extensions.get::<Seen>(),
        Some(&Seen(12)),
        "the first attempt sees the caller's, each later one the last one's"
    );
}

/// One attempt as the middleware below ours received it: method, URL,
/// `Authorization`, whether a per-request timeout is set.
type Seen = (String, String, Option<String>, bool);

/// What the middleware below ours received, per attempt.
#[derive(Clone, Default)]
struct Below(Arc<std::sync::Mutex<Vec<Seen>>>);

#[async_trait::async_trait]
impl Middleware for Below {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let auth = request.headers().get("authorization");
        self.0.lock().unwrap().push((
            request.method().to_string(),
            request.url().to_string(),
            auth.map(|value| value.to_str().unwrap().to_owned()),
            request.timeout().is_some(),
        ));
        next.run(request, extensions).await
    }
}

#[tokio::test]
async fn the_request_below_is_the_callers_with_our_credential_and_its_timeout() {
    let (base, calls) = counting(&[(503, "{}"), (200, "{}")]).await;
    let below = Below::default();
    let layer = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().backoff(Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(4),
        )))
        .auth(AuthLayer::new(StaticToken::new(
            Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap(),
        )));
    let client = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::with_layer(layer))
        .with(below.clone())
        .build();
    let url = format!("{base}/v1/items?page=2&q=caf%C3%A9#frag");
    let response = client
        .put(&url)
        .timeout(Duration::from_secs(30))
        .header("x-request-id", "req_1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A fragment is never sent; the rest is as given.
    let without_fragment = |url: &str| {
        let mut url = reqwest::Url::parse(url).unwrap();
        url.set_fragment(None);
        url
    };
    let sent = without_fragment(&url);
    let seen = below.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (method, url, auth, timeout) in seen {
        assert_eq!(method, "PUT");
        assert_eq!(without_fragment(&url), sent);
        assert_eq!(
            auth.as_deref(),
            Some("Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
        );
        assert!(timeout, "the caller's per-request timeout reaches reqwest");
    }
}

#[tokio::test(start_paused = true)]
async fn a_per_request_timeout_set_with_reqwest_still_cuts_a_hanging_upstream() {
    let addr = serve(|_request: Request<hyper::body::Incoming>| std::future::pending()).await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    let error = client
        .get(format!("http://{addr}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    let typed = error.typed_error().unwrap();
    assert!(
        tower_api_errors::reqwest::reqwest_error(typed)
            .unwrap()
            .is_timeout(),
        "{error}"
    );
}

#[tokio::test]
async fn a_layer_that_rewrites_the_uri_is_heard_below() {
    let (base, calls) = counting(&[(200, "{}")]).await;
    let below = Below::default();
    // A layer of the caller's inside the middleware's stack, moving every
    // call to another path: the request below follows it.
    let stack = tower::ServiceBuilder::new()
        .layer(ApiErrorsLayer::new())
        .map_request(
            |mut request: http::Request<tower_api_errors::retry::ReplayBody<reqwest::Body>>| {
                let uri = request.uri().to_string().replace("/v1/", "/v2/");
                *request.uri_mut() = uri.parse().unwrap();
                request
            },
        )
        .into_inner();
    let client = ClientBuilder::new(client())
        .with(ApiErrorsMiddleware::with_layer(stack))
        .with(below.clone())
        .build();
    let response = client
        .get(format!("{base}/v1/items?page=2"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let seen = below.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, format!("{base}/v2/items?page=2"));
    assert!(seen[0].3, "the caller's per-request timeout goes along");
}

#[tokio::test]
async fn a_url_too_long_for_http_is_reqwests_own_builder_error() {
    let (base, calls) = counting(&[(200, "{}")]).await;
    let client = ClientBuilder::new(client()).with(ours()).build();
    // `http::Uri` holds at most 64 KiB; reqwest's `Url` holds more.
    let long = format!("{base}/{}", "a".repeat(70_000));
    let error = client.get(long).send().await.unwrap_err();
    match error {
        reqwest_middleware::Error::Reqwest(error) => assert!(error.is_builder(), "{error:?}"),
        other => panic!("not reqwest's error: {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing sent");
}

/// A middleware that gives up on the call below after 100 ms (its own
/// timeout, dropping it midway) and sends it once more.
struct TimesOutAndSendsAgain;

#[async_trait::async_trait]
impl Middleware for TimesOutAndSendsAgain {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().unwrap();
        let first = next.clone().run(request, extensions);
        let dropped = tokio::time::timeout(Duration::from_millis(100), first).await;
        assert!(dropped.is_err(), "the upstream hangs");
        next.run(again, extensions).await
    }
}

#[tokio::test]
async fn a_send_again_after_dropping_the_first_midway_is_refused() {
    let addr = serve(|_request: Request<hyper::body::Incoming>| std::future::pending()).await;
    let client = ClientBuilder::new(client())
        .with(TimesOutAndSendsAgain)
        .with(ours())
        .build();
    // Bounded: sent again, the call would hang with the upstream.
    let send = client.get(format!("http://{addr}/slow")).send();
    let error = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("refused at once, not sent again")
        .unwrap_err();
    assert_refused_as_sent_twice(&error);
}

/// The call was refused by our middleware as a second send ([`SentTwice`]).
fn assert_refused_as_sent_twice(error: &reqwest_middleware::Error) {
    let transport = error
        .typed_error()
        .unwrap()
        .transport()
        .expect("the refusal");
    assert!(
        std::error::Error::source(transport)
            .unwrap()
            .is::<SentTwice>(),
        "{error}"
    );
}
