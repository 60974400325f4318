//! The stack around a `reqwest::Client` (feature `reqwest`), against a real
//! hyper server on loopback.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{body_bytes, response, serve, serve_at, Frames};
use tower::{Layer, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::reqwest::{reqwest_error, ReqwestClient};
use tower_api_errors::retry::Backoff;
use tower_api_errors::{
    ApiErrorsLayer, Error, ErrorKind, QuotaLayer, RetryPolicy, RetryReport, StopReason,
};

/// What the server saw: one (method, path, authorization, body) per request.
type Seen = Arc<Mutex<Vec<(String, String, String, Bytes)>>>;

/// A server that answers each request with the next of `answers` (the last
/// repeats), recording what it saw, bodies read in full.
async fn recording(answers: &'static [(u16, &'static str)]) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let addr = serve(move |request: Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body_bytes(body).await;
            let auth = parts
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let n = {
                let mut log = log.lock().unwrap();
                log.push((
                    parts.method.to_string(),
                    parts.uri.path().to_owned(),
                    auth,
                    body,
                ));
                log.len()
            };
            let (status, body) = answers[(n - 1).min(answers.len() - 1)];
            response(status, &[("content-type", "application/json")], body)
        }
    })
    .await;
    (format!("http://{addr}"), seen)
}

fn quick() -> RetryPolicy {
    RetryPolicy::default().backoff(Backoff::exponential(
        Duration::from_millis(1),
        2.0,
        Duration::from_millis(4),
    ))
}

fn get(url: String) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn the_whole_stack_in_one_line() {
    let (base, seen) = recording(&[
        (
            503,
            r#"{"error": {"code": 503, "message": "Module not available"}}"#,
        ),
        (200, r#"{"id": 1}"#),
    ])
    .await;
    let token = Credential::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .auth(AuthLayer::new(StaticToken::new(token)))
        .quota(QuotaLayer::new())
        .layer(ReqwestClient::new(reqwest::Client::new()));

    let response = client
        .oneshot(get(format!("{base}/v1/members/1")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .extensions()
            .get::<RetryReport>()
            .unwrap()
            .attempts(),
        2
    );
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        r#"{"id": 1}"#
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (method, path, auth, body) in seen.iter() {
        assert_eq!((method.as_str(), path.as_str()), ("GET", "/v1/members/1"));
        assert_eq!(auth, "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc");
        assert!(body.is_empty());
    }
}

#[tokio::test]
async fn failures_arrive_typed_with_their_body_parsed() {
    let (base, seen) = recording(&[(
        422,
        r#"{"error": "validation_failed", "error_description": "Validation failed", "validation_errors": [{"field": "email", "message": "Invalid email format"}]}"#,
    )])
    .await;
    let client = ApiErrorsLayer::new().layer(ReqwestClient::new(reqwest::Client::new()));
    let request = Request::put(format!("{base}/v1/users/9?api_key=sk_live_secret"))
        .body(Full::new(Bytes::from_static(b"{\"email\": \"x\"}")))
        .unwrap();
    let Err(Error::Api(error)) = client.oneshot(request).await else {
        panic!("expected a typed error");
    };
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert_eq!(error.message(), "Validation failed");
    assert_eq!(error.field_errors()[0].field(), "email");
    assert_eq!(error.retries().attempts(), 1);
    assert!(!error.to_string().contains("sk_live_secret"), "{error}");
    assert_eq!(seen.lock().unwrap()[0].3, "{\"email\": \"x\"}");
}

#[tokio::test]
async fn a_streamed_body_is_sent_again_in_full_on_a_retry() {
    let (base, seen) = recording(&[(503, r#"{"error": "down"}"#), (201, r#"{"id": 78}"#)]).await;
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let body = Frames::<std::convert::Infallible>::chunks(&["{\"name\": ", "\"Ada\"", "}"]);
    let request = Request::post(format!("{base}/v1/posts"))
        .header("idempotency-key", "post-5c1e")
        .body(body)
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].3, "{\"name\": \"Ada\"}");
    assert_eq!(seen[1].3, "{\"name\": \"Ada\"}");
}

#[tokio::test]
async fn a_post_without_a_key_is_not_sent_twice() {
    let (base, seen) = recording(&[(503, r#"{"error": "down"}"#), (201, "{}")]).await;
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let request = Request::post(format!("{base}/v1/posts"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(error.retries().gave_up(), Some(StopReason::NotIdempotent));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_typed_connect_error_retried_even_for_a_post() {
    let port = support::refused_addr().port();
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(3))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let request = Request::post(format!("http://127.0.0.1:{port}/v1/posts"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    let transport = error.transport().expect("a transport error");
    assert!(transport.is_connect(), "{error}");
    assert!(reqwest_error(&error).unwrap().is_connect());
    // Never sent, so safe to send again although a POST has no key.
    assert_eq!(error.retries().attempts(), 3);
}

/// reqwest prints its URL in its errors' `Display` and `Debug`: userinfo
/// and credential-like query values never reach the caller's logs through
/// it, while reqwest's kind and the host and path stay readable.
#[tokio::test]
async fn a_reqwest_error_never_prints_the_request_credentials() {
    let port = support::refused_addr().port();
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(1))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let uri =
        format!("http://user:hunter2pw@127.0.0.1:{port}/v1/items?api_key=sk_live_leak1&page=2");
    let error = client.oneshot(get(uri)).await.unwrap_err();
    let text = support::error_text(&error);
    for secret in ["hunter2pw", "sk_live_leak1", "user:"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let reqwest = reqwest_error(&error).unwrap();
    assert!(reqwest.is_connect(), "{text}");
    let url = reqwest.url().unwrap().as_str();
    assert!(url.contains("/v1/items") && url.contains("page=2"), "{url}");
}

#[tokio::test]
async fn a_reqwest_timeout_is_reachable_by_type_and_bounds_each_attempt() {
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let addr = serve(move |_request| {
        *count.lock().unwrap() += 1;
        // Never answers: the client's timeout ends each attempt.
        std::future::pending()
    })
    .await;
    let reqwest = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(2))
        .layer(ReqwestClient::new(reqwest));
    let error = client
        .oneshot(get(format!("http://{addr}/slow")))
        .await
        .unwrap_err();
    assert!(reqwest_error(&error).unwrap().is_timeout(), "{error}");
    assert!(!error.transport().unwrap().is_connect());
    assert_eq!(error.retries().attempts(), 2);
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_uri_reqwest_cannot_send_is_a_typed_error_not_a_panic() {
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(1))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let error = client.oneshot(get("/relative".into())).await.unwrap_err();
    assert!(reqwest_error(&error).unwrap().is_builder(), "{error}");
}

/// A server on `addr` answering with what it saw: the request target, and
/// the Host and Authorization headers.
async fn echo(addr: &str) -> std::net::SocketAddr {
    serve_at(addr, |request: Request<hyper::body::Incoming>| async move {
        let header = |name| request.headers().get(name).map(|v| v.as_bytes().to_vec());
        let seen = format!(
            "{} host={:?} authorization={:?}",
            request.uri(),
            header("host"),
            header("authorization"),
        );
        Ok::<_, std::convert::Infallible>(response(200, &[], seen))
    })
    .await
}

#[tokio::test]
async fn uris_arrive_as_reqwest_own_conversion_sends_them_userinfo_never() {
    let v4 = echo("127.0.0.1:0").await;
    let v6 = echo("[::1]:0").await;
    let reqwest = reqwest::Client::new();
    let client = ApiErrorsLayer::new().layer(ReqwestClient::new(reqwest.clone()));
    let uris = [
        format!("http://{v4}/v1/items?page=2&per_page=50"),
        format!("http://{v4}/v1/a%20b/%2F/caf%C3%A9?q=%C3%A9&empty=&x=1+2&y=a%26b"),
        format!("http://{v4}/v1/items?"),
        format!("http://{v4}"),
        format!("http://{v4}/v1/./a/../b?next=/x?y"),
        format!("HTTP://{v4}/V1/Items"),
        format!("http://user:secret@{v4}/v1/items"),
        format!("http://[::1]:{}/v1/items?page=2", v6.port()),
        format!("http://[0:0:0:0:0:0:0:1]:{}/", v6.port()),
    ];
    for uri in uris {
        let ours = client.clone().oneshot(get(uri.clone())).await.unwrap();
        let ours = body_bytes(ours.into_body()).await;
        let request = Request::get(&uri).body(Bytes::new()).unwrap();
        let theirs = reqwest::Request::try_from(request).unwrap();
        let theirs = reqwest
            .execute(theirs)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(ours, theirs, "{uri}");
        let seen = String::from_utf8_lossy(&ours);
        assert!(
            !seen.contains("user") && !seen.contains("secret"),
            "{uri}: {seen}"
        );
    }
}

#[tokio::test]
async fn a_request_carrying_reqwest_settings_keeps_them() {
    // Never answers: only the request's own timeout ends the call.
    let addr = serve(|_request| std::future::pending()).await;
    let url = format!("http://{addr}/slow").parse().unwrap();
    let mut request = reqwest::Request::new(http::Method::GET, url);
    *request.timeout_mut() = Some(Duration::from_millis(50));
    let request = Request::try_from(request).unwrap();
    let call = ReqwestClient::new(reqwest::Client::new()).oneshot(request);
    let error = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the request's own timeout ended the call")
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

#[test]
fn the_client_and_its_stack_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>(_: &T) {}
    let client = ReqwestClient::new(reqwest::Client::new());
    check(&client);
    check(&ApiErrorsLayer::new().layer(client));
}
