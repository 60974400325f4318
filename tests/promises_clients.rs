//! The clients' promises, pinned against real servers on loopback:
//! `ReqwestClient`, `ApiErrorsMiddleware` (reqwest-middleware) and
//! hyper-util's legacy client under the stack. What reaches the wire
//! (framing, methods, odd URLs, repeated headers, redirects followed and
//! then retried), what a failure costs (unsafe methods, timeouts,
//! `https_only`, failing uploads, endless error bodies), the state a
//! middleware client shares across its calls (quota, breaker, hedge
//! latencies, concurrency), one-line errors of hostile bodies and gRPC
//! messages, no secret in logs or metrics through the adapters, and
//! streamed uploads sent again whole (after an early 401, a 401 then a
//! 503, reqwest's timeout). (Curated from the probe-clients and
//! probe-replay probes; each test names its promise.)
#![cfg(all(
    feature = "reqwest-middleware",
    feature = "hyper-util",
    feature = "grpc",
    feature = "tracing",
    feature = "opentelemetry"
))]

mod support;

#[path = "support/captured_logs.rs"]
mod captured_logs;
#[path = "support/exported.rs"]
mod exported;
#[path = "support/full_stack.rs"]
mod full_stack;
#[allow(dead_code)] // The suites share it; each uses its own part.
#[path = "support/idp.rs"]
mod idp;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{body_bytes, bounded, response, serve, Frames, ServerBody};
use tower::{Layer, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::reqwest::{
    reqwest_error, ApiErrorsMiddleware, MiddlewareErrorExt, ReqwestClient,
};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind, QuotaLayer, RetryPolicy, StopReason};

// ------------------------------------------------------------ helpers

/// One request as a test server saw it, its body read in full.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type Hits = Arc<Mutex<Vec<Hit>>>;

/// A server answering the `n`-th request (from 0) with `answer(n, hit)`,
/// recording every request.
async fn server<F>(answer: F) -> (String, Hits)
where
    F: Fn(usize, &Hit) -> Response<ServerBody> + Clone + Send + Sync + 'static,
{
    let hits: Hits = Arc::default();
    let log = hits.clone();
    let addr = serve(move |request: Request<Incoming>| {
        let log = log.clone();
        let answer = answer.clone();
        async move {
            let (parts, body) = request.into_parts();
            let hit = Hit {
                path: parts.uri.path().to_owned(),
                headers: parts.headers,
                body: body_bytes(body).await,
            };
            let n = {
                let mut log = log.lock().unwrap();
                log.push(hit.clone());
                log.len() - 1
            };
            answer(n, &hit)
        }
    })
    .await;
    (format!("http://{addr}"), hits)
}

/// A server that takes every request, records its path, and never answers.
async fn hanging() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = paths.clone();
    let addr = serve(move |request: Request<Incoming>| {
        log.lock().unwrap().push(request.uri().path().to_owned());
        std::future::pending::<Response<ServerBody>>()
    })
    .await;
    (addr, paths)
}

/// A server that answers 503 to the first request on each path and 200
/// (the path) to the rest.
async fn unavailable_once_per_path() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let log = seen.clone();
    let (base, _hits) = server(move |_, hit| {
        let n = {
            let mut map = log.lock().unwrap();
            let count = map.entry(hit.path.clone()).or_default();
            *count += 1;
            *count
        };
        if n == 1 {
            response(503, &[], "")
        } else {
            response(200, &[], hit.path.clone())
        }
    })
    .await;
    (base, seen)
}

fn quick() -> RetryPolicy {
    support::quick_exact()
}

/// The stack over `ReqwestClient`.
fn reqwest_stack(
    policy: RetryPolicy,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<reqwest::Body>,
    Error = Error,
    Future: Send,
> + Clone {
    ApiErrorsLayer::new()
        .retry(policy)
        .layer(ReqwestClient::new(reqwest::Client::new()))
}

/// A reqwest-middleware client with ours over `layer`.
fn middleware_with<L>(layer: L) -> reqwest_middleware::ClientWithMiddleware
where
    ApiErrorsMiddleware<L>: reqwest_middleware::Middleware,
{
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::with_layer(layer))
        .build()
}

fn middleware(policy: RetryPolicy) -> reqwest_middleware::ClientWithMiddleware {
    middleware_with(ApiErrorsLayer::new().retry(policy))
}

fn hits_len(hits: &Hits) -> usize {
    hits.lock().unwrap().len()
}

/// A request's `Content-Length` and `Transfer-Encoding`, as sent.
fn framing(hit: &Hit) -> (Option<String>, Option<String>) {
    let get = |name: &str| {
        hit.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (get("content-length"), get("transfer-encoding"))
}

// ------------------------------------------------------------ the wire

/// `reqwest` module docs (`ReqwestClient` is thin: "reqwest's own ...
/// `http` conversions do the work"): a GET, a POST of bytes and an empty
/// POST are framed on the wire (`Content-Length`, `Transfer-Encoding`)
/// through `ReqwestClient` and the middleware as plain reqwest frames them.
#[tokio::test]
async fn bodies_are_framed_as_plain_reqwest_frames_them() {
    for (method, body) in [("GET", ""), ("POST", "hello"), ("POST", "")] {
        let (base, hits) = server(|_, _| response(200, &[], "ok")).await;
        let m = http::Method::from_bytes(method.as_bytes()).unwrap();
        reqwest::Client::new()
            .request(m.clone(), format!("{base}/plain"))
            .body(body)
            .send()
            .await
            .unwrap();
        let request = Request::builder()
            .method(m.clone())
            .uri(format!("{base}/adapter"))
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        reqwest_stack(quick()).oneshot(request).await.unwrap();
        middleware(quick())
            .request(m, format!("{base}/middleware"))
            .body(body)
            .send()
            .await
            .unwrap();
        let hits = hits.lock().unwrap();
        let plain = framing(&hits[0]);
        assert_eq!(framing(&hits[1]), plain, "ReqwestClient, {method} {body:?}");
        assert_eq!(framing(&hits[2]), plain, "middleware, {method} {body:?}");
        assert!(hits.iter().all(|h| h.body == body), "{method} {body:?}");
    }
}

/// CHANGELOG [Unreleased] Fixed ("a streamed body of known length keeps
/// its `Content-Length`") and `reqwest` module docs ("an upload is sent
/// again on a retry"): through the middleware, a sized stream goes with
/// `Content-Length: 6` on its first send and on its retry, whole each time.
#[tokio::test]
async fn a_sized_stream_through_the_middleware_keeps_its_length_on_every_send() {
    let (base, hits) = server(|n, _| match n {
        0 => response(503, &[], ""),
        _ => response(200, &[], "ok"),
    })
    .await;
    let body = reqwest::Body::wrap(Frames::<Infallible>::sized(&["ab", "cd", "ef"]));
    let send = middleware(quick())
        .put(format!("{base}/x"))
        .body(body)
        .send();
    let answer = bounded("streamed put", send).await.unwrap();
    assert_eq!(answer.status(), 200);
    let hits = hits.lock().unwrap();
    assert_eq!(hits.len(), 2);
    for hit in hits.iter() {
        assert_eq!(hit.body, "abcdef");
        assert_eq!(
            framing(hit),
            (Some("6".to_owned()), None),
            "{:?}",
            hit.headers
        );
    }
}

/// SECURITY.md ("Never retries an unsafe request without consent") and RFC
/// 9110 §9.2.2: through `ReqwestClient` and the middleware, a 503 is resent
/// for GET, HEAD, OPTIONS, PUT, DELETE and TRACE, never for POST or PATCH.
#[tokio::test]
async fn idempotent_methods_are_retried_unsafe_ones_not_through_both_adapters() {
    let expected = [
        ("GET", 3),
        ("HEAD", 3),
        ("OPTIONS", 3),
        ("PUT", 3),
        ("DELETE", 3),
        ("TRACE", 3),
        ("POST", 1),
        ("PATCH", 1),
    ];
    let (base, hits) = server(|_, _| response(503, &[], "")).await;
    for via_middleware in [false, true] {
        for (method, sends) in expected {
            let before = hits_len(&hits);
            let m = http::Method::from_bytes(method.as_bytes()).unwrap();
            let failed = if via_middleware {
                let send = middleware(quick().max_attempts(3))
                    .request(m, format!("{base}/m"))
                    .send();
                send.await.is_err()
            } else {
                let request = Request::builder()
                    .method(m)
                    .uri(format!("{base}/m"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                reqwest_stack(quick().max_attempts(3))
                    .oneshot(request)
                    .await
                    .is_err()
            };
            assert!(failed, "{method}, middleware: {via_middleware}");
            let sent = hits_len(&hits) - before;
            assert_eq!(sent, sends, "{method}, middleware: {via_middleware}");
        }
    }
}

/// CHANGELOG [Unreleased] Added (reqwest-middleware: "the stack's
/// `http::Request` gets the URI parsed from the URL's text, as reqwest's
/// conversion makes it"): odd URLs (escapes, a fragment, dot segments,
/// non-ASCII, an empty query, an IPv6 literal) reach the wire with the same
/// request target and `Host` through the middleware and `ReqwestClient` as
/// plain reqwest sends them.
#[tokio::test]
async fn odd_urls_reach_the_wire_as_plain_reqwest_sends_them() {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut servers = Vec::new();
    for at in ["127.0.0.1:0", "[::1]:0"] {
        let log = seen.clone();
        let addr = support::serve_at(at, move |request: Request<Incoming>| {
            let host = request
                .headers()
                .get("host")
                .map(|v| v.to_str().unwrap().to_owned());
            log.lock()
                .unwrap()
                .push((request.uri().to_string(), host.unwrap_or_default()));
            async { Ok::<_, Infallible>(response(200, &[], "ok")) }
        })
        .await;
        servers.push(addr);
    }
    for addr in servers {
        for tail in [
            "/a%20b/%C3%BC?q=%C3%A4+x&&y=%2F#frag",
            "/p/../q/./r?",
            "/ü/ä?x=ö y",
            "?only=query",
        ] {
            let url = format!("http://{addr}{tail}");
            reqwest::Client::new()
                .get(url.clone())
                .send()
                .await
                .unwrap();
            middleware(quick()).get(url.clone()).send().await.unwrap();
            let parsed = reqwest::Url::parse(&url).unwrap();
            let request = Request::get(parsed.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap();
            reqwest_stack(quick()).oneshot(request).await.unwrap();
            let seen = std::mem::take(&mut *seen.lock().unwrap());
            assert_eq!(seen.len(), 3, "{url}");
            assert_eq!(seen[1], seen[0], "middleware, {url}");
            assert_eq!(seen[2], seen[0], "ReqwestClient, {url}");
        }
    }
}

/// CHANGELOG [Unreleased] Added (reqwest-middleware: each attempt goes
/// below "with the attempt's method, headers, version and body"): repeated
/// header values in their order, the caller's content type, the auth
/// layer's credential and the body are on every send of a retried call,
/// through the middleware and `ReqwestClient`.
#[tokio::test]
async fn repeated_headers_survive_every_send_through_both_adapters() {
    let (base, hits) = server(|n, _| match n % 2 {
        0 => response(503, &[], ""),
        _ => response(200, &[], "ok"),
    })
    .await;
    let token = Credential::new("tok_static").unwrap();
    let layer = ApiErrorsLayer::new()
        .retry(quick())
        .auth(AuthLayer::new(StaticToken::new(token)));
    middleware_with(layer.clone())
        .put(format!("{base}/a"))
        .header("x-tag", "one")
        .header("x-tag", "two")
        .header("content-type", "application/merge-patch+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let request = Request::put(format!("{base}/b"))
        .header("x-tag", "one")
        .header("x-tag", "two")
        .header("content-type", "application/merge-patch+json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let client = layer.layer(ReqwestClient::new(reqwest::Client::new()));
    client.oneshot(request).await.unwrap();
    let hits = hits.lock().unwrap();
    assert_eq!(hits.len(), 4);
    for hit in hits.iter() {
        let tags: Vec<_> = hit
            .headers
            .get_all("x-tag")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(tags, ["one", "two"], "{}", hit.path);
        assert_eq!(hit.headers["content-type"], "application/merge-patch+json");
        assert_eq!(hit.headers["authorization"], "Bearer tok_static");
        assert_eq!(hit.body, "{}");
    }
}

/// A redirect loop is not retried: no resend heals it (go-retryablehttp
/// does not retry "stopped after 10 redirects", nor failsafe-go). Each
/// attempt followed reqwest's ten redirects: 33 sends for three attempts,
/// through both adapters; now 11, one attempt, typed.
#[tokio::test]
async fn a_redirect_loop_is_not_retried_through_either_adapter() {
    let looping = || server(|_, _| response(302, &[("location", "/loop")], ""));
    let (base, via_client) = looping().await;
    let request = Request::get(format!("{base}/loop"))
        .body(Full::default())
        .unwrap();
    let error = reqwest_stack(quick()).oneshot(request).await.unwrap_err();
    assert!(error.transport().is_some(), "{error:?}");
    assert_eq!(error.retries().attempts(), 1, "{error}");
    let (base, via_middleware) = looping().await;
    let error = middleware(quick()).get(format!("{base}/loop")).send().await;
    assert!(error.is_err());
    assert_eq!((hits_len(&via_client), hits_len(&via_middleware)), (11, 11));
}

/// `ReqwestClient` docs ("Redirects that keep the body": a body in memory
/// is followed as plain reqwest follows it) and the retry policy's
/// `Idempotency-Key`: a keyed POST redirected 307 whose target then
/// answers 503 once is followed by reqwest and retried by ours, whole each
/// time: /old, /new, /old, /new, then 200, through both adapters.
#[tokio::test]
async fn a_redirected_keyed_post_is_followed_then_retried_through_both_adapters() {
    let redirect_then_503_once = || {
        server(|n, hit| {
            if hit.path == "/old" {
                response(307, &[("location", "/new")], "")
            } else if n == 1 {
                response(503, &[], "")
            } else {
                response(200, &[], hit.body.clone())
            }
        })
    };
    let (base, via_middleware) = redirect_then_503_once().await;
    let answer = middleware(quick())
        .post(format!("{base}/old"))
        .header("idempotency-key", "k-2")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "payload");
    let (base, via_client) = redirect_then_503_once().await;
    let request = Request::post(format!("{base}/old"))
        .header("idempotency-key", "k-3")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let answer = reqwest_stack(quick()).oneshot(request).await.unwrap();
    assert_eq!(answer.status(), 200);
    for (name, hits) in [
        ("middleware", via_middleware),
        ("ReqwestClient", via_client),
    ] {
        let hits = hits.lock().unwrap();
        let paths: Vec<_> = hits.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["/old", "/new", "/old", "/new"], "{name}");
        assert!(hits.iter().all(|h| h.body == "payload"), "{name}");
    }
}

// ------------------------------------------------------------ what a failure costs

/// SECURITY.md ("Never retries an unsafe request without consent") and
/// `reqwest` module docs ("Transport errors": a client timeout "bounds each
/// attempt and is retried like any transport failure of an idempotent
/// request"): through the middleware, an unkeyed POST that timed out is
/// sent once; a GET is sent three times, its error a reqwest timeout.
#[tokio::test]
async fn a_timed_out_unkeyed_post_through_the_middleware_is_sent_once() {
    let (addr, paths) = hanging().await;
    let reqwest = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest)
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new().retry(quick().max_attempts(3)),
        ))
        .build();
    let post = client.post(format!("http://{addr}/post")).body("{}").send();
    let error = bounded("post", post).await.unwrap_err();
    let typed = error.typed_error().expect("typed");
    assert!(
        reqwest_error(typed).is_some_and(|e| e.is_timeout()),
        "{typed}"
    );
    assert_eq!(typed.retries().attempts(), 1, "{typed}");
    let error = bounded("get", client.get(format!("http://{addr}/get")).send())
        .await
        .unwrap_err();
    let typed = error.typed_error().expect("typed");
    assert_eq!(typed.retries().attempts(), 3, "{typed}");
    assert!(
        reqwest_error(typed).is_some_and(|e| e.is_timeout()),
        "{typed}"
    );
    // Counted after the GET's three timeouts: any late resend of the POST
    // has reached the server by now.
    let paths = paths.lock().unwrap();
    assert_eq!(
        paths.iter().filter(|p| *p == "/post").count(),
        1,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| *p == "/get").count(),
        3,
        "{paths:?}"
    );
}

/// CHANGELOG [Unreleased] Added (reqwest-middleware: each attempt keeps the
/// caller's "per-request settings such as a timeout"): a per-request
/// timeout on a POST whose body is in memory cuts a server that never
/// answers, and the typed error is reqwest's timeout.
#[tokio::test]
async fn a_per_request_timeout_with_a_body_in_memory_cuts_a_hang() {
    let (addr, paths) = hanging().await;
    let send = middleware(quick().max_attempts(1))
        .post(format!("http://{addr}/x"))
        .timeout(Duration::from_millis(200))
        .body("payload")
        .send();
    let error = bounded("per-request timeout", send).await.unwrap_err();
    let typed = error.typed_error().expect("typed");
    assert!(
        reqwest_error(typed).is_some_and(|e| e.is_timeout()),
        "{typed}"
    );
    assert_eq!(paths.lock().unwrap().len(), 1);
}

/// README ("What is here", `retry`: transport errors are retried, "never a
/// certificate or URL-scheme failure") and `src/retry/mod.rs`: an http URL
/// through a client built `https_only` fails after one attempt, nothing
/// sent, through `ReqwestClient` and the middleware.
#[tokio::test]
async fn an_https_only_client_refuses_http_once_not_retried() {
    let (base, hits) = server(|_, _| response(200, &[], "ok")).await;
    let https_only = || reqwest::Client::builder().https_only(true).build().unwrap();
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(3))
        .layer(ReqwestClient::new(https_only()));
    let request = Request::get(format!("{base}/a"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(error.retries().attempts(), 1, "{error}");
    let mw = reqwest_middleware::ClientBuilder::new(https_only())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new().retry(quick().max_attempts(3)),
        ))
        .build();
    let error = mw.get(format!("{base}/b")).send().await.unwrap_err();
    let typed = error.typed_error().expect("typed");
    assert_eq!(typed.retries().attempts(), 1, "{typed}");
    assert_eq!(hits_len(&hits), 0);
}

/// `ReplayBody` docs (src/replay.rs: "Nor is a body whose own stream
/// failed", `StopReason::BodyFailed`): a caller's upload failing midway is
/// not sent again, even for a PUT, through `ReqwestClient` and hyper-util.
#[tokio::test]
async fn an_upload_failing_midway_is_not_resent_through_reqwest_client_and_hyper_util() {
    let (base, hits) = server(|_, _| response(503, &[], "")).await;
    let failing = || {
        Frames::<std::io::Error>::new(vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"ab"))),
            Err(std::io::Error::other("disk gone")),
        ])
    };
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(3))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let request = Request::put(format!("{base}/a")).body(failing()).unwrap();
    let error = bounded("reqwest upload", client.oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(error.retries().attempts(), 1, "{error}");
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyFailed),
        "{error}"
    );
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(3))
        .client(support::client::<ReplayBody<Frames<std::io::Error>>>());
    let request = Request::put(format!("{base}/b")).body(failing()).unwrap();
    let error = bounded("hyper upload", client.oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(error.retries().attempts(), 1, "{error}");
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyFailed),
        "{error}"
    );
    assert!(hits_len(&hits) <= 2);
}

/// A raw server answering each request with `head`, then a chunked body
/// that never ends.
async fn endless(head: &'static str) -> SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                if !support::read_request(&mut stream, &mut seen).await {
                    return;
                }
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
                while stream.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    addr
}

/// SECURITY.md ("Bounded memory per request": an error body is read up to
/// a cap, 64 KiB, "never beyond"): a 500 whose body never ends comes back
/// as the typed 500, its `Display` bounded, through `ReqwestClient`, the
/// middleware and hyper-util.
#[tokio::test]
async fn an_endless_error_body_ends_typed_and_bounded_through_every_client() {
    let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
    let addr = endless(head).await;
    let get = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let error = bounded(
        "reqwest",
        reqwest_stack(quick().max_attempts(2)).oneshot(get("/a")),
    )
    .await
    .unwrap_err();
    assert_eq!(error.api().expect("typed").status(), 500);
    assert!(error.to_string().len() < 4096);
    let send = middleware(quick().max_attempts(2))
        .get(format!("http://{addr}/b"))
        .send();
    let error = bounded("middleware", send).await.unwrap_err();
    let api = error.api_error().expect("typed");
    assert_eq!(api.status(), 500);
    assert!(api.to_string().len() < 4096);
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(2))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let error = bounded("hyper-util", client.oneshot(get("/c")))
        .await
        .unwrap_err();
    assert_eq!(error.api().expect("typed").status(), 500);
    assert!(error.to_string().len() < 4096);
}

/// A server answering 200 (`content_type`) with "first;" at once and
/// "rest" only once the test opens `gate`: a client or layer that buffered
/// a success would never hand the first part over.
async fn gated(content_type: &'static str) -> (SocketAddr, Arc<tokio::sync::Notify>) {
    use http_body_util::BodyExt;
    let gate = Arc::new(tokio::sync::Notify::new());
    let opened = gate.clone();
    let addr = serve(move |_request: Request<Incoming>| {
        let opened = opened.clone();
        async move {
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            tokio::spawn(async move {
                let _ = tx
                    .send(Ok(http_body::Frame::data(Bytes::from("first;"))))
                    .await;
                opened.notified().await;
                let _ = tx
                    .send(Ok(http_body::Frame::data(Bytes::from("rest"))))
                    .await;
            });
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            let body: ServerBody = http_body_util::StreamBody::new(stream).boxed();
            let answer = Response::builder().header("content-type", content_type);
            answer.body(body).unwrap()
        }
    })
    .await;
    (addr, gate)
}

/// `ReqwestClient` and the module docs ("A success: the body untouched"):
/// a success is streamed through, never buffered, through both adapters,
/// a JSON one included (only the opt-in `SuccessPeekLayer` reads a
/// success): its first part reaches the caller before the server sends
/// the rest.
#[tokio::test]
async fn a_success_streams_through_both_adapters_unbuffered() {
    use http_body_util::BodyExt;
    for content_type in ["application/octet-stream", "application/json"] {
        let (addr, gate) = gated(content_type).await;
        let client = reqwest_stack(quick());
        let request = Request::get(format!("http://{addr}/dl"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = bounded("reqwest", client.oneshot(request)).await.unwrap();
        let mut body = response.into_body();
        let first = bounded("first", body.frame()).await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first;", "{content_type}");
        gate.notify_one();
        let rest = bounded("rest", body.collect()).await.unwrap().to_bytes();
        assert_eq!(rest, "rest");

        let (addr, gate) = gated(content_type).await;
        let send = middleware(quick()).get(format!("http://{addr}/dl")).send();
        let mut response = bounded("middleware", send).await.unwrap();
        let first = bounded("first", response.chunk()).await.unwrap();
        assert_eq!(first.unwrap(), "first;", "{content_type}");
        gate.notify_one();
        let rest = bounded("rest", response.chunk()).await.unwrap();
        assert_eq!(rest.unwrap(), "rest");
    }
}

// ------------------------------------------------------------ state shared across middleware calls

/// `ApiErrorsMiddleware` docs ("Clone": clones "share the retry budget, the
/// credential and the quota store, as the layer's clones do"): a spent
/// window learned from one call's `X-RateLimit-*` holds the next call,
/// which is refused typed without being sent.
#[tokio::test]
async fn a_spent_window_learned_by_one_middleware_call_holds_the_next() {
    let spent = [
        ("x-ratelimit-limit", "1"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1000"),
    ];
    let (base, hits) = server(move |_, _| response(200, &spent, "ok")).await;
    let client = middleware_with(
        ApiErrorsLayer::new()
            .retry(quick())
            .quota(QuotaLayer::new().max_wait(Duration::from_millis(100))),
    );
    client.get(format!("{base}/a")).send().await.unwrap();
    let error = bounded("held", client.get(format!("{base}/a")).send())
        .await
        .unwrap_err();
    assert!(error.typed_error().is_some(), "{error}");
    assert_eq!(
        hits_len(&hits),
        1,
        "the second call was sent into a spent window"
    );
}

/// `ApiErrorsMiddleware::with_layer` (the stack "configured as you like")
/// and the breaker docs (an open breaker refuses calls without sending
/// them): failures of earlier middleware calls open the breaker, and the
/// next call is refused with nothing sent.
#[tokio::test]
async fn the_breaker_opened_by_earlier_middleware_calls_refuses_the_next() {
    let (base, hits) = server(|_, _| response(500, &[], "down")).await;
    let breaker = CircuitBreakerLayer::new()
        .minimum_calls(3)
        .failure_rate(0.5);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new()
                .retry(quick().max_attempts(1))
                .breaker(breaker),
        ))
        .build();
    for _ in 0..3 {
        client.get(format!("{base}/a")).send().await.unwrap_err();
    }
    assert_eq!(hits_len(&hits), 3);
    let error = client.get(format!("{base}/a")).send().await.unwrap_err();
    assert!(error.typed_error().is_some(), "{error}");
    assert_eq!(hits_len(&hits), 3, "sent through an open breaker: {error}");
}

/// A server that holds its `held`-th request (from 0) until the `Notify`
/// fires, then answers `held_text`, and answers every other at once with
/// `other_text`; with the count of requests it received.
async fn holding(
    held: usize,
    held_text: &'static str,
    other_text: &'static str,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<tokio::sync::Notify>) {
    let release = Arc::new(tokio::sync::Notify::new());
    let hold = release.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let addr = serve(move |_request: Request<Incoming>| {
        let hold = hold.clone();
        let n = seen.fetch_add(1, SeqCst);
        async move {
            if n == held {
                hold.notified().await;
                response(200, &[], held_text)
            } else {
                response(200, &[], other_text)
            }
        }
    })
    .await;
    (addr, count, release)
}

/// `hedge` module docs ("when it has not answered after a delay, sends it
/// again; the first final answer wins"): through the middleware, a GET
/// whose first attempt the server holds is answered by its hedge.
#[tokio::test]
async fn a_hedge_through_the_middleware_answers_a_held_get() {
    let (addr, count, release) = holding(0, "first", "hedge").await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new()
                .retry(quick())
                .hedge(HedgeLayer::fixed(Duration::from_millis(50))),
        ))
        .build();
    let answer = bounded("hedge", client.get(format!("http://{addr}/a")).send())
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "hedge");
    assert_eq!(count.load(SeqCst), 2);
    release.notify_waiters();
}

/// `hedge` module docs (the delay "learned per authority as a percentile
/// of its answers' latencies"): through the middleware, the latencies of
/// earlier calls are learned, and a later call the server holds is hedged.
#[tokio::test]
async fn percentile_hedging_learns_across_middleware_calls() {
    let (addr, count, release) = holding(5, "held", "fast").await;
    let hedge = HedgeLayer::percentile(0.9)
        .learning(5, Duration::from_millis(20))
        .no_budget();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new().retry(quick()).hedge(hedge),
        ))
        .build();
    for _ in 0..5 {
        let answer = client.get(format!("http://{addr}/a")).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "fast");
    }
    // Unhedged, the sixth call would wait for the release (a hang).
    let held = bounded(
        "the held call",
        client.get(format!("http://{addr}/a")).send(),
    )
    .await;
    release.notify_waiters();
    assert_eq!(held.unwrap().text().await.unwrap(), "fast");
    assert_eq!(count.load(SeqCst), 7);
}

/// SECURITY.md ("Every request ends in exactly one outcome") and
/// `ApiErrorsMiddleware` docs ("Clone"): concurrent calls through one
/// middleware client, each answered 503 then 200 on its own path, all
/// succeed, each sent exactly twice (no attempt crosses calls).
#[tokio::test]
async fn concurrent_middleware_calls_are_each_retried_once() {
    let (base, seen) = unavailable_once_per_path().await;
    let client = middleware(quick().no_budget());
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let send = client.get(format!("{base}/p{i}")).send();
            tokio::spawn(async move { send.await.unwrap().text().await.unwrap() })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let text = bounded("a concurrent call", call).await.unwrap();
        assert_eq!(text, format!("/p{i}"));
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 16);
    assert!(seen.values().all(|n| *n == 2), "{seen:?}");
}

// ------------------------------------------------------------ hostile text

/// `ApiError` docs (src/error/api.rs: "Its `Display` is one line"): line
/// breaks (`\n`, `\r\n`, U+2028, U+0085) in a server's message, code, field
/// names and problem details never make a second line, through
/// `ReqwestClient`.
#[tokio::test]
async fn a_hostile_error_body_displays_on_one_line() {
    let bodies: &[&'static str] = &[
        r#"{"error": {"message": "line one\nline two\r\nthree", "code": "C\nD"}}"#,
        r#"{"error": "bad\u2028thing", "error_description": "x\u0085y"}"#,
        r#"{"errors": [{"field": "na\nme", "message": "is\nrequired"}], "message": "Validation\nfailed"}"#,
        r#"{"type": "https://e.x/p", "title": "Out\nof credit", "detail": "Your\r\nbalance"}"#,
    ];
    let json = [("content-type", "application/json")];
    let (base, _hits) = server(move |n, _| response(400, &json, bodies[n % bodies.len()])).await;
    for i in 0..bodies.len() {
        let request = Request::get(format!("{base}/{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let error = reqwest_stack(quick()).oneshot(request).await.unwrap_err();
        assert_eq!(error.api().expect("typed").status(), 400);
        let text = error.to_string();
        assert!(
            !text.contains(['\n', '\r', '\u{2028}', '\u{85}']),
            "body {i}: {text:?}"
        );
    }
}

/// SECURITY.md ("No panic, hang or overflow on hostile input"), `ApiError`
/// docs ("Its `Display` is one line") and `grpc::into_status` (the error's
/// "one-line `Display`" as the message): a trailers-only `grpc-message`
/// with broken or long percent-encoding, or encoded line breaks, is read
/// without a panic, keeps its code, and prints on one line.
#[test]
fn a_hostile_grpc_message_is_read_on_one_line_without_a_panic() {
    let long = "%41".repeat(20_000);
    let messages = [
        "%",
        "%F",
        "%FF%FE%FD",
        "%C3",
        long.as_str(),
        "abc%zz%",
        "no%0Asuch%0D%0Aorder",
    ];
    for message in messages {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/grpc".parse().unwrap());
        headers.insert("grpc-status", "14".parse().unwrap());
        headers.insert("grpc-message", message.parse().unwrap());
        let error = tower_api_errors::parse_error(http::StatusCode::OK, &headers, b"");
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{message:.40}");
        let text = error.to_string();
        assert!(!text.contains(['\n', '\r']), "{text:?}");
        assert_eq!(tonic::Status::from(&error).code(), tonic::Code::Unavailable);
        let status = tower_api_errors::grpc::into_status(Error::Api(error));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            !status.message().contains(['\n', '\r']),
            "{:?}",
            status.message()
        );
    }
}

// ------------------------------------------------------------ secrets in logs and metrics

const SECRET: &str = "sk_live_PROBEsecret123";

/// SECURITY.md ("No credentials in errors or logs": URIs "always printed
/// redacted", no header recorded): a 401 renewed, a 503 echoing the new
/// credential, then a 404 through the middleware, and a 404 through
/// `ReqwestClient` to a URL with userinfo, leave neither the URLs' secrets
/// nor a credential in the logs or in a metric point.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_in_logs_or_metrics_through_both_adapters() {
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    let (provider, exporter) = exported::sdk();
    let metrics = tower_api_errors::metrics::Metrics::from_provider(&provider);
    let (base, hits) = server(|n, hit| {
        let auth = hit
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        let auth = auth.unwrap_or_default();
        let json = [("content-type", "application/json")];
        match n {
            0 => response(
                401,
                &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                "",
            ),
            1 => response(503, &json, format!(r#"{{"error": "echo {auth}"}}"#)),
            _ => response(
                404,
                &json,
                format!(r#"{{"error": {{"message": "no {auth}"}}}}"#),
            ),
        }
    })
    .await;
    let source = support::Rotating::new(Duration::ZERO);
    let layer = ApiErrorsLayer::new()
        .retry(quick().metrics(metrics.clone()))
        .auth(AuthLayer::new(source.clone()))
        .quota(QuotaLayer::new().metrics(metrics.clone()));
    // Query secrets; the auth layer's credential renewed after the 401
    // (userinfo would make reqwest send its own `Authorization`).
    let url = format!("{base}/v1/x?api_key={SECRET}&token={SECRET}");
    let error = middleware_with(layer.clone())
        .get(url.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.api_error().expect("typed").status(), 404, "{error}");
    assert_eq!(source.refreshes.load(SeqCst), 1);
    assert_eq!(
        hits.lock().unwrap()[1].headers["authorization"],
        "Bearer tok_new"
    );
    // Userinfo and query secrets, through `ReqwestClient`.
    let url = url.replace("http://", &format!("http://user:{SECRET}@"));
    let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    let client = layer.layer(ReqwestClient::new(reqwest::Client::new()));
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(error.api().expect("typed").status(), 404, "{error}");
    let text = logs.text();
    assert!(!text.is_empty(), "no logs captured");
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        !text.contains("tok_old") && !text.contains("tok_new"),
        "{text}"
    );
    let points = format!("{:?}", exported::points(&provider, &exporter));
    assert!(points.len() > 2, "no metric points: {points}");
    assert!(!points.contains(SECRET), "{points}");
    assert!(!points.contains("tok_"), "{points}");
}

/// A middleware below ours that wraps reqwest's error under a context
/// naming the URL (`.context(format!("GET {url} failed"))`).
struct ContextWithUrl;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for ContextWithUrl {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url().clone();
        next.run(req, extensions).await.map_err(|e| match e {
            reqwest_middleware::Error::Reqwest(e) => reqwest_middleware::Error::Middleware(
                anyhow::Error::new(e).context(format!("GET {url} failed")),
            ),
            other => other,
        })
    }
}

/// SECURITY.md ("No credentials in errors or logs") and CHANGELOG Fixed
/// (a `reqwest::Error` that a middleware below wraps "never prints the
/// credentials"): a refused connection, retried, whose error a middleware
/// below wraps under a context naming the URL, leaves the URL's query
/// credential out of our logs.
#[tokio::test(flavor = "current_thread")]
async fn a_url_in_a_context_below_never_reaches_our_logs() {
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    let port = support::refused_addr().port();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new().retry(quick().max_attempts(2)),
        ))
        .with(ContextWithUrl)
        .build();
    let error = client
        .get(format!("http://127.0.0.1:{port}/v1?access_token=at_leak1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.typed_error().expect("typed").retries().attempts(), 2);
    let text = logs.text();
    assert!(!text.is_empty(), "no logs captured");
    assert!(!text.contains("at_leak1"), "{text}");
}

// ------------------------------------------------------------ streamed uploads sent again through the adapters
//
// A streamed request body sent again through `ReqwestClient` and the
// middleware: after a 401 answered while the stream is still being
// produced, after a 401 then a 503, and after reqwest's own timeout cut
// an attempt. (Curated from the probe-replay probes.)

/// `text` as a stream of one-byte frames of unknown length.
fn one_byte_frames(text: &'static str) -> Frames<std::io::Error> {
    Frames::new(
        text.as_bytes()
            .chunks(1)
            .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect(),
    )
}

/// `auth` module docs (src/auth/mod.rs, table: "the re-send carries the
/// identical body: a `ReplayBody` copy") and `ReplayBody` docs (a copy
/// "goes on reading the original where the last attempt left it"): a 401
/// answered after the first chunk of an upload still being produced is
/// re-sent with the renewed credential, that chunk replayed and the rest
/// sent as it comes, through hyper-util and `ReqwestClient`.
#[tokio::test]
async fn an_early_401_on_a_live_stream_is_resent_whole_through_both_clients() {
    use http_body::Frame;
    use http_body_util::BodyExt;
    type Chunk = Result<Frame<Bytes>, std::io::Error>;
    /// Each send's `Authorization` and the body it carried.
    type Sends = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;
    for via_reqwest in [false, true] {
        let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let sends: Sends = Arc::default();
        let log = sends.clone();
        let addr = serve(move |req: Request<Incoming>| {
            let (log, arrived_tx) = (log.clone(), arrived_tx.clone());
            async move {
                let auth = req.headers().get("authorization").cloned();
                let auth = auth.map(|v| v.to_str().unwrap().to_owned());
                let mut body = req.into_body();
                let first = body.frame().await.and_then(|f| f.ok());
                let first = first.and_then(|f| f.into_data().ok()).unwrap_or_default();
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push((auth, first.clone()));
                    log.len() - 1
                };
                let _ = arrived_tx.send(n);
                if n == 0 {
                    let challenge = ("www-authenticate", "Bearer error=\"invalid_token\"");
                    return response(401, &[challenge], "");
                }
                let rest = body_bytes(body).await;
                log.lock().unwrap()[n].1 = [first, rest].concat().into();
                response(200, &[], "ok")
            }
        })
        .await;
        let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(16);
        let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        tx.send(Ok(Frame::data(Bytes::from_static(b"one,"))))
            .await
            .unwrap();
        let layer = ApiErrorsLayer::new()
            .retry(quick())
            .auth(AuthLayer::from_arc(support::Rotating::new(Duration::ZERO)));
        let request = Request::post(format!("http://{addr}/x"))
            .body(body)
            .unwrap();
        let call: tokio::task::JoinHandle<Result<u16, Error>> = if via_reqwest {
            let client = layer.layer(ReqwestClient::new(reqwest::Client::new()));
            tokio::spawn(async move { client.oneshot(request).await.map(|r| r.status().as_u16()) })
        } else {
            let client = layer.client(support::client::<ReplayBody<_>>());
            tokio::spawn(async move { client.oneshot(request).await.map(|r| r.status().as_u16()) })
        };
        assert_eq!(bounded("refused", arrived.recv()).await, Some(0));
        assert_eq!(bounded("re-sent", arrived.recv()).await, Some(1));
        for chunk in ["two,", "three"] {
            tx.send(Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))))
                .await
                .unwrap();
        }
        drop(tx);
        let status = bounded("early 401", call).await.unwrap().unwrap();
        assert_eq!(status, 200, "reqwest: {via_reqwest}");
        let sends = sends.lock().unwrap().clone();
        assert_eq!(sends.len(), 2, "reqwest: {via_reqwest}");
        assert_eq!(sends[0].0.as_deref(), Some("Bearer tok_old"));
        assert_eq!(sends[1].0.as_deref(), Some("Bearer tok_new"));
        assert_eq!(sends[1].1, "one,two,three", "reqwest: {via_reqwest}");
    }
}

/// `reqwest` module docs ("an upload is sent again on a retry") and
/// `auth` module docs (the re-send carries the credential once, renewed):
/// through the middleware, a streamed keyed POST refused 401, then
/// answered 503, goes out three times whole, each with one
/// `Authorization` and one `Idempotency-Key`.
#[tokio::test]
async fn a_streamed_keyed_post_through_the_middleware_is_resent_whole_with_one_credential() {
    let (base, hits) = server(|n, _| match n {
        0 => response(401, &[], ""),
        1 => response(503, &[], ""),
        _ => response(200, &[], "ok"),
    })
    .await;
    let client = middleware_with(
        ApiErrorsLayer::new()
            .retry(quick())
            .auth(AuthLayer::from_arc(support::Rotating::new(Duration::ZERO))),
    );
    let send = client
        .post(format!("{base}/x"))
        .header("idempotency-key", "k")
        .body(reqwest::Body::wrap(one_byte_frames("middleware streamed")))
        .send();
    let answer = bounded("middleware stream", send).await.unwrap();
    assert_eq!(answer.status(), 200);
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 3);
    let auths: Vec<Vec<_>> = hits
        .iter()
        .map(|h| h.headers.get_all("authorization").iter().cloned().collect())
        .collect();
    assert_eq!(
        auths,
        [
            vec!["Bearer tok_old"],
            vec!["Bearer tok_new"],
            vec!["Bearer tok_new"]
        ]
    );
    for hit in &hits {
        assert_eq!(hit.body, "middleware streamed");
        assert_eq!(hit.headers.get_all("idempotency-key").iter().count(), 1);
    }
}

/// `reqwest` module docs ("Transport errors": a timeout set on the
/// `reqwest::Client` "bounds each attempt and is retried like any transport
/// failure of an idempotent request") and `ReplayBody` docs: a PUT whose
/// streamed body the server read whole before hanging is cut by reqwest's
/// timeout and retried, the retry carrying the whole body.
#[tokio::test]
async fn a_reqwest_timeout_cuts_an_attempt_and_the_retry_sends_the_whole_stream() {
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let log = bodies.clone();
    let addr = serve(move |req: Request<Incoming>| {
        let log = log.clone();
        async move {
            let body = body_bytes(req.into_body()).await;
            let n = {
                let mut log = log.lock().unwrap();
                log.push(body);
                log.len()
            };
            if n == 1 {
                // Read whole, then never answered.
                std::future::pending::<()>().await;
            }
            response(200, &[], "ok")
        }
    })
    .await;
    let reqwest = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .layer(ReqwestClient::new(reqwest));
    let request = Request::put(format!("http://{addr}/x"))
        .body(one_byte_frames("timed out once"))
        .unwrap();
    let answer = bounded("reqwest timeout", client.oneshot(request))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies, ["timed out once", "timed out once"]);
}

// ------------------------------------------------------------ the full stack through the adapters

/// Curated from a probe of the layers together (branch probe-mix): the
/// full stack (`ApiErrorsLayer` with retry, breaker, auth, quota and a
/// hedge) through `ReqwestClient` and `ApiErrorsMiddleware` against a
/// scripted vendor on loopback, as over hyper-util: one `Retry-After` seen
/// by three layers is one wait; a 429 on the hedge leaves the first
/// attempt to answer; a slow first attempt is overtaken by its hedge.
mod in_the_full_stack {
    use super::middleware_with;
    use crate::full_stack::{
        after, breaker, exact, get, hedge_after, hyper_stack, layers, learned_hedge, now, source,
        warm, Layers, Vendor, MS, NEVER, S, WARM,
    };
    use crate::idp;
    use crate::support::{bounded, response};
    use tokio::time::Instant;
    use tower::Layer;
    use tower_api_errors::auth::AuthLayer;
    use tower_api_errors::reqwest::ReqwestClient;
    use tower_api_errors::stack::ApiErrors;

    /// The full stack over `ReqwestClient`.
    fn over_reqwest(layers: Layers) -> ApiErrors<ReqwestClient, Layers> {
        layers.layer(ReqwestClient::new(reqwest::Client::new()))
    }

    /// src/reqwest/mod.rs (the stack around a `reqwest::Client`, and as a
    /// middleware) with breaker, quota and retry docs (one `Retry-After`
    /// seen by the three layers is one wait; `promises_breaker_and_hedge.rs`
    /// pins it over hyper-util): a 503 with `Retry-After: 2` through both
    /// reqwest adapters is waited once, 2 s, and the retry answered.
    #[tokio::test(start_paused = true)]
    async fn reqwest_and_middleware_wait_one_retry_after_once() {
        for adapter in ["reqwest", "middleware"] {
            let vendor = Vendor::start(|n, _| match n {
                0 => now(503, &[("retry-after", "2")]),
                _ => now(200, &[]),
            })
            .await;
            let idp = source(|_| idp::ok("tok-2"));
            let layers = layers(exact(), AuthLayer::new(idp), breaker(1), learned_hedge());
            let url = vendor.url("/v1/items");
            let started = Instant::now();
            let status = match adapter {
                "reqwest" => get(&over_reqwest(layers), &url)
                    .await
                    .map(|r| r.status())
                    .map_err(|e| e.to_string()),
                _ => middleware_with(layers)
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status())
                    .map_err(|e| e.to_string()),
            };
            assert_eq!(status, Ok(http::StatusCode::OK), "{adapter}");
            assert_eq!(started.elapsed(), S(2), "{adapter}");
            assert_eq!(vendor.count(), 2, "{adapter}");
        }
    }

    /// src/reqwest/mod.rs (the stack around a `reqwest::Client`, and as a
    /// middleware) with hedge docs (a `Retry-After` on either attempt
    /// "stops further hedges for the call", cancelling nothing): a 429 on
    /// the hedge while the first attempt is on its way to a 200, through
    /// both reqwest adapters: the 200, at 300 ms.
    #[tokio::test(start_paused = true)]
    async fn reqwest_and_middleware_a_429_on_the_hedge_leaves_the_first_to_answer() {
        for adapter in ["reqwest", "middleware"] {
            let vendor = Vendor::start(|n, _| match n {
                0 => after(300, 200, &[]),
                _ => now(429, &[("retry-after", "1")]),
            })
            .await;
            let idp = source(|_| idp::ok("tok-2"));
            let layers = layers(exact(), AuthLayer::new(idp), breaker(10), hedge_after(50));
            let url = vendor.url("/v1/items");
            let (status, took) = match adapter {
                "reqwest" => {
                    let client = over_reqwest(layers);
                    warm(&client, &vendor).await;
                    let started = Instant::now();
                    let status = get(&client, &url)
                        .await
                        .map(|r| r.status())
                        .map_err(|e| e.to_string());
                    (status, started.elapsed())
                }
                _ => {
                    let client = middleware_with(layers);
                    client.get(vendor.url(WARM)).send().await.unwrap();
                    let started = Instant::now();
                    let sent = client.get(&url).send().await;
                    (
                        sent.map(|r| r.status()).map_err(|e| e.to_string()),
                        started.elapsed(),
                    )
                }
            };
            assert_eq!(status, Ok(http::StatusCode::OK), "{adapter}");
            assert_eq!(took, MS(300), "{adapter}");
            assert_eq!(vendor.count(), 2, "{adapter}");
        }
    }

    /// Hedge docs ("when it has not answered after a delay, sends it again;
    /// the first final answer wins") and README (`.hedge(..)` added to
    /// `ApiErrorsLayer` over each client of "the one line, for each client"):
    /// a GET whose first attempt the server never answers, and whose hedge,
    /// due at 50 ms, is answered at once: the hedge's 200 is the call's
    /// answer over hyper-util and through both reqwest adapters. (Real time:
    /// under the paused clock, the hedge's new connection through reqwest
    /// lets the clock jump ahead of it. The first attempt never answers, so
    /// no assertion depends on how fast the machine is.)
    #[tokio::test]
    async fn over_every_client_a_slow_first_attempt_is_overtaken_by_its_hedge() {
        for adapter in ["hyper-util", "reqwest", "middleware"] {
            let vendor = Vendor::start(|n, _| match n {
                0 => (NEVER, response(200, &[], "")),
                _ => now(200, &[]),
            })
            .await;
            let idp = source(|_| idp::ok("tok-2"));
            let layers = layers(exact(), AuthLayer::new(idp), breaker(10), hedge_after(50));
            let url = vendor.url("/v1/items");
            let status = match adapter {
                "hyper-util" => {
                    let client = hyper_stack(layers);
                    warm(&client, &vendor).await;
                    let sent = bounded(adapter, get(&client, &url)).await;
                    sent.map(|r| r.status()).map_err(|e| e.to_string())
                }
                "reqwest" => {
                    let client = over_reqwest(layers);
                    warm(&client, &vendor).await;
                    let sent = bounded(adapter, get(&client, &url)).await;
                    sent.map(|r| r.status()).map_err(|e| e.to_string())
                }
                _ => {
                    let client = middleware_with(layers);
                    client.get(vendor.url(WARM)).send().await.unwrap();
                    let sent = bounded(adapter, client.get(&url).send()).await;
                    sent.map(|r| r.status()).map_err(|e| e.to_string())
                }
            };
            assert_eq!(status, Ok(http::StatusCode::OK), "{adapter}");
            assert_eq!(
                vendor.count(),
                2,
                "{adapter}: the hedge was sent: {:?}",
                vendor.hits()
            );
        }
    }
}
