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

/// A streamed body of known length goes with its `Content-Length`, as
/// bare reqwest sends one it wraps (`reqwest::Body::wrap`), not chunked:
/// presigned uploads (S3, Azure Blob) refuse chunked bodies. Through the
/// adapter alone and through the stack, on each attempt. Before, what the
/// adapter polled first was taken from the hint, and the rest went
/// chunked.
#[tokio::test]
async fn a_streamed_body_of_known_length_keeps_its_content_length() {
    let framing = Arc::new(Mutex::new(Vec::new()));
    let log = framing.clone();
    let addr = serve(move |request: Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let header = |name| {
                request
                    .headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let seen = (header("content-length"), header("transfer-encoding"));
            let first = {
                let mut log = log.lock().unwrap();
                log.push(seen);
                log.len() == 2
            };
            // The stack's first attempt (the second request) fails once.
            response(if first { 503 } else { 200 }, &[], "")
        }
    })
    .await;
    let put = || {
        Request::put(format!("http://{addr}/upload"))
            .body(Frames::<std::convert::Infallible>::sized(&[
                "ab", "cd", "ef",
            ]))
            .unwrap()
    };
    let alone = ReqwestClient::new(reqwest::Client::new());
    assert_eq!(alone.oneshot(put()).await.unwrap().status(), 200);
    let stack = ApiErrorsLayer::new()
        .retry(quick().retry_non_idempotent(true))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    assert_eq!(stack.oneshot(put()).await.unwrap().status(), 200);
    let framing = framing.lock().unwrap();
    assert_eq!(*framing, vec![(Some("6".to_owned()), None); 3]);
}

/// A stream must not be polled again once it has ended (`Stream`: it may
/// panic, as `futures::stream::unfold` does). An empty stream that does
/// not say so up front ended at the adapter's first poll; the adapter
/// then handed it to reqwest, which polled it again.
#[tokio::test]
async fn a_stream_that_ended_is_never_polled_again() {
    struct Once(bool);
    impl http_body::Body for Once {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            assert!(!self.0, "polled again after it ended");
            self.0 = true;
            std::task::Poll::Ready(None)
        }
    }
    let (base, seen) = recording(&[(200, "{}")]).await;
    let client = ReqwestClient::new(reqwest::Client::new());
    let request = Request::post(format!("{base}/upload"))
        .body(Once(false))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(seen.lock().unwrap()[0].3, "");
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

/// A resolver that fails every lookup, counting them (a DNS failure
/// without a network: `ClientBuilder::dns_resolver`).
struct NoSuchHost(Arc<Mutex<u32>>);

impl reqwest::dns::Resolve for NoSuchHost {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        *self.0.lock().unwrap() += 1;
        let failed: support::BoxError = Box::new(std::io::Error::other("no such host"));
        Box::pin(std::future::ready(Err(failed)))
    }
}

/// A refused connection and a failed DNS lookup are both reqwest connect
/// errors (`reqwest::Error::is_connect`): typed, and retried even for a
/// POST, since nothing was sent (module docs, "Transport errors"); the
/// `reqwest::Error`'s own source chain stays whole down to the OS error.
#[tokio::test]
async fn a_refused_connection_or_failed_lookup_is_a_typed_connect_error_retried_for_a_post() {
    let lookups = Arc::new(Mutex::new(0));
    let resolver = Arc::new(NoSuchHost(lookups.clone()));
    let unresolvable = reqwest::Client::builder().dns_resolver(resolver);
    let port = support::refused_addr().port();
    let cases = [
        (
            reqwest::Client::new(),
            format!("http://127.0.0.1:{port}/v1/posts"),
        ),
        (
            unresolvable.build().unwrap(),
            "http://api.example.invalid/v1/posts".into(),
        ),
    ];
    for (reqwest, url) in cases {
        let client = ApiErrorsLayer::new()
            .retry(quick().max_attempts(3))
            .layer(ReqwestClient::new(reqwest));
        let request = Request::post(&url)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let error = client.oneshot(request).await.unwrap_err();
        let transport = error.transport().expect("a transport error");
        assert!(transport.is_connect(), "{error}");
        assert!(reqwest_error(&error).unwrap().is_connect());
        // Never sent, so safe to send again although a POST has no key.
        assert_eq!(error.retries().attempts(), 3, "{url}");
        let os_error =
            std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
                .find_map(|cause| cause.downcast_ref::<std::io::Error>());
        assert!(os_error.is_some(), "the io::Error under {error:?}");
        if url.contains("127.0.0.1") {
            let kind = os_error.unwrap().kind();
            assert_eq!(kind, std::io::ErrorKind::ConnectionRefused);
        }
    }
    assert_eq!(*lookups.lock().unwrap(), 3, "one lookup per attempt");
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

/// A reqwest user's scenarios (probe 6): a real `reqwest::Client` on
/// loopback under the stack; redirects, refresh, deadline, hints, bodiless
/// answers, large successes, failed uploads.
mod user_scenarios {
    use super::support::{body_bytes, redirecting, response, serve, Frames};
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tower::{Layer, ServiceExt};
    use tower_api_errors::auth::AuthLayer;
    use tower_api_errors::reqwest::ReqwestClient;
    use tower_api_errors::{ApiErrorsLayer, ErrorKind, RetryReport, StopReason};

    use super::support::{bounded, quick_exact as quick, Rotating};

    /// `ReqwestClient` docs ("Redirects that keep the body"): reqwest follows
    /// a 307 or 308 of a PUT with a body (RFC 9110 §15.4.8: the method and
    /// body are kept) only when it can clone the body. A plain
    /// `reqwest::Client` follows it; through `ReqwestClient` so does a body
    /// in memory (the stack's copy of a `Full` reaches reqwest as bytes),
    /// while a streamed one comes back as the 3xx, sent once; the same
    /// redirect of a GET is followed.
    #[tokio::test]
    async fn reqwest_client_follows_a_307_that_keeps_a_body_in_memory() {
        const BODY: &str = "{\"name\": \"Ada\"}";
        for status in [307u16, 308] {
            let (addr, seen) = redirecting(status, |_| "/new".to_owned()).await;
            // Plain reqwest: followed, body sent again.
            let plain = reqwest::Client::new()
                .put(format!("http://{addr}/old"))
                .body(BODY)
                .send()
                .await
                .unwrap();
            assert_eq!(plain.status(), 200, "plain reqwest follows the {status}");
            assert_eq!(seen.lock().unwrap().len(), 2);

            let client = ApiErrorsLayer::new()
                .retry(quick())
                .layer(ReqwestClient::new(reqwest::Client::new()));
            let request = Request::put(format!("http://{addr}/old"))
                .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                .unwrap();
            let response = bounded("put", client.clone().oneshot(request));
            let response = response.await.unwrap();
            assert_eq!(response.status(), 200, "a body in memory: followed");
            let streamed = Frames::<Infallible>::chunks(&["{\"name\": ", "\"Ada\"}"]);
            let request = Request::put(format!("http://{addr}/old"))
                .body(streamed)
                .unwrap();
            let stack = ApiErrorsLayer::new().retry(quick());
            let streaming = stack.layer(ReqwestClient::new(reqwest::Client::new()));
            let response = bounded("put", streaming.oneshot(request)).await.unwrap();
            assert_eq!(response.status(), status, "a stream: the 3xx comes back");
            assert_eq!(response.headers()["location"], "/new");

            let request = Request::get(format!("http://{addr}/old"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = bounded("get", client.oneshot(request)).await.unwrap();
            assert_eq!(response.status(), 200, "a GET's {status} is followed");
            let seen = seen.lock().unwrap();
            let paths: Vec<&str> = seen.iter().map(|sent| sent.1.as_str()).collect();
            assert_eq!(
                paths,
                ["/old", "/new", "/old", "/new", "/old", "/old", "/new"]
            );
            for sent in [2, 3, 4] {
                assert_eq!(seen[sent].5, BODY, "the whole body, each time");
            }
        }
    }

    /// README: "on a 401 ... one single-flight refresh per rejected
    /// credential and one re-send with the identical body". Through reqwest,
    /// with a streamed (chunked) POST body and no idempotency key: refreshed
    /// once, re-sent once with the whole body, 201 to the caller.
    #[tokio::test]
    async fn reqwest_401_refresh_resends_a_streamed_post_body_whole() {
        let bodies = Arc::new(Mutex::new(Vec::<(String, Bytes)>::new()));
        let log = bodies.clone();
        let addr = serve(move |request: Request<Incoming>| {
            let log = log.clone();
            async move {
                let auth = request.headers()["authorization"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let body = body_bytes(request.into_body()).await;
                log.lock().unwrap().push((auth.clone(), body));
                if auth == "Bearer tok_new" {
                    response(201, &[], "{}")
                } else {
                    response(
                        401,
                        &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                        r#"{"error": "invalid_token"}"#,
                    )
                }
            }
        })
        .await;
        let source = Rotating::new(Duration::ZERO);
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .auth(AuthLayer::new(source.clone()))
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let body = Frames::<Infallible>::chunks(&["{\"a\": ", "1, ", "\"b\": 2}"]);
        let request = Request::post(format!("http://{addr}/v1/things"))
            .body(body)
            .unwrap();
        let response = bounded("post", client.oneshot(request)).await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(source.refreshes.load(SeqCst), 1);
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 2);
        assert_eq!(
            bodies[0],
            (
                "Bearer tok_old".to_owned(),
                Bytes::from("{\"a\": 1, \"b\": 2}")
            )
        );
        assert_eq!(
            bodies[1],
            (
                "Bearer tok_new".to_owned(),
                Bytes::from("{\"a\": 1, \"b\": 2}")
            )
        );
    }

    /// `reqwest` module docs: "the retry policy's deadline bounds the whole
    /// call"; `RetryPolicy::deadline`: "an attempt still running when it
    /// passes is cut short with a transport error". A reqwest client with no
    /// timeout against a hanging upstream ends at the deadline.
    #[tokio::test]
    async fn the_deadline_cuts_a_hanging_reqwest_attempt() {
        let addr = serve(|_request: Request<Incoming>| std::future::pending()).await;
        let client = ApiErrorsLayer::new()
            .retry(quick().deadline(Duration::from_millis(300)))
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let started = std::time::Instant::now();
        let error = bounded(
            "deadline",
            client.oneshot(
                Request::get(format!("http://{addr}/slow"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            ),
        )
        .await
        .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(error.transport().is_some(), "{error}");
    }

    /// A 503 with `Retry-After: 1` then a 200, through reqwest: waited about
    /// the hint (not the 1-4 ms backoff), two attempts.
    #[tokio::test]
    async fn reqwest_503_retry_after_is_waited_out() {
        let n = Arc::new(AtomicUsize::new(0));
        let count = n.clone();
        let addr = serve(move |_request: Request<Incoming>| {
            let k = count.fetch_add(1, SeqCst);
            async move {
                if k == 0 {
                    response(503, &[("retry-after", "1")], r#"{"error": "busy"}"#)
                } else {
                    response(200, &[], "ok")
                }
            }
        })
        .await;
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let started = std::time::Instant::now();
        let response = bounded(
            "get",
            client.oneshot(
                Request::get(format!("http://{addr}/"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            response
                .extensions()
                .get::<RetryReport>()
                .unwrap()
                .attempts(),
            2
        );
    }

    /// HEAD with a 404 (content-length, no body), 204 and 304: no hang, the
    /// 404 typed, the others passed through as successes with empty bodies;
    /// a HEAD answered 503 is retried (idempotent).
    #[tokio::test]
    async fn bodiless_answers_through_reqwest() {
        let n = Arc::new(AtomicUsize::new(0));
        let count = n.clone();
        let addr = serve(move |request: Request<Incoming>| {
            let k = count.fetch_add(1, SeqCst);
            async move {
                match request.uri().path() {
                    "/missing" => response(
                        404,
                        &[
                            ("content-length", "120"),
                            ("content-type", "application/json"),
                        ],
                        "",
                    ),
                    "/nocontent" => response(204, &[], ""),
                    "/cached" => response(304, &[("etag", "\"v1\"")], ""),
                    _ => {
                        if k.is_multiple_of(2) {
                            response(503, &[], "")
                        } else {
                            response(200, &[("content-length", "9")], "")
                        }
                    }
                }
            }
        })
        .await;
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let call = |method: http::Method, path: &str| {
            let request = Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            bounded("bodiless", client.clone().oneshot(request))
        };
        let error = call(http::Method::HEAD, "/missing").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
        for (path, status) in [("/nocontent", 204), ("/cached", 304)] {
            let response = call(http::Method::GET, path).await.unwrap();
            assert_eq!(response.status(), status);
            assert!(body_bytes(response.into_body()).await.is_empty());
        }
        let before = n.load(SeqCst);
        let response = call(http::Method::HEAD, &format!("/flaky{before}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// A large chunked success passes through byte for byte, streamed.
    #[tokio::test]
    async fn a_large_chunked_success_passes_through_unchanged() {
        let addr = serve(|_request: Request<Incoming>| async move {
            let chunks: Vec<Result<http_body::Frame<Bytes>, super::support::BoxError>> = (0
                ..256u32)
                .map(|i| {
                    Ok(http_body::Frame::data(Bytes::from(vec![
                        (i % 251) as u8;
                        8192
                    ])))
                })
                .collect();
            let body = http_body_util::StreamBody::new(futures_lite_stream(chunks));
            Response::builder().status(200).body(body.boxed()).unwrap()
        })
        .await;
        let client = ApiErrorsLayer::new().layer(ReqwestClient::new(reqwest::Client::new()));
        let response = bounded(
            "get",
            client.oneshot(
                Request::get(format!("http://{addr}/big"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().get("content-length").is_none(),
            "chunked"
        );
        let body = body_bytes(response.into_body()).await;
        assert_eq!(body.len(), 256 * 8192);
        for (i, chunk) in body.chunks(8192).enumerate() {
            assert!(chunk.iter().all(|b| *b == (i % 251) as u8), "chunk {i}");
        }
    }

    fn futures_lite_stream<T: Send + 'static>(
        items: Vec<T>,
    ) -> impl tokio_stream::Stream<Item = T> + Send {
        tokio_stream::iter(items)
    }

    /// A caller's streamed upload that fails half way (its own stream's
    /// error): one typed error, no panic, and the server never receives a
    /// body that ends cleanly but short (a retry replaying the kept prefix
    /// as if it were whole would corrupt the upload).
    #[tokio::test]
    async fn an_upload_stream_that_fails_half_way_is_never_sent_short() {
        let outcomes = Arc::new(Mutex::new(Vec::<Result<usize, String>>::new()));
        let log = outcomes.clone();
        let addr = serve(move |request: Request<Incoming>| {
            let log = log.clone();
            async move {
                let read = request.into_body().collect().await;
                log.lock()
                    .unwrap()
                    .push(read.map(|b| b.to_bytes().len()).map_err(|e| e.to_string()));
                response(503, &[], "{}")
            }
        })
        .await;
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let body = Frames::new(vec![
            Ok(http_body::Frame::data(Bytes::from_static(
                b"{\"part\": 1, ",
            ))),
            Err(std::io::Error::other("disk read failed")),
        ]);
        let request = Request::put(format!("http://{addr}/v1/blob"))
            .body(body)
            .unwrap();
        let error = bounded("put", client.oneshot(request)).await.unwrap_err();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let outcomes = outcomes.lock().unwrap().clone();
        for outcome in &outcomes {
            assert!(
                outcome.is_err(),
                "a short body arrived whole: {outcomes:?} ({error})"
            );
        }
        assert_eq!(error.retries().attempts(), 1, "{error}");
        // Not "too large to replay" (the cap): the body's own stream failed.
        assert_eq!(
            error.retries().stopped(),
            Some(StopReason::BodyFailed),
            "{error}"
        );
        assert_eq!(
            StopReason::BodyFailed.to_string(),
            "request body failed while being sent"
        );
    }
}
