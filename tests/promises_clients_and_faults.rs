//! The crate's promises as hostile servers, faulty infrastructure and
//! demanding users test them, through the reqwest adapters, the breaker
//! and hedge layers, `RedisStore`, observation and gRPC. Each test names
//! the promise it checks.
#![cfg(all(
    feature = "reqwest-middleware",
    feature = "redis",
    feature = "tracing",
    feature = "grpc",
    feature = "opentelemetry"
))]

mod support;

#[path = "support/captured_logs.rs"]
mod captured_logs;
#[path = "support/echo.rs"]
mod echo;
#[path = "support/redis_server.rs"]
mod redis_server;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use redis_server::{free_port, RedisServer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{error_text, response, serve, Frames};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::{HedgeLayer, Hedged, RetryBudget};
use tower_api_errors::quota::{QuotaLayer, RedisStore};
use tower_api_errors::reqwest::{
    reqwest_error, ApiErrorsMiddleware, MiddlewareErrorExt, ReqwestClient,
};
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody};
use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind, RetryPolicy, StopReason};

// ---------------------------------------------------------------------------
// helpers

/// Fast, jitter-free backoff: tests count attempts, not wait.
fn quick() -> RetryPolicy {
    RetryPolicy::default().backoff(
        Backoff::exponential(Duration::from_millis(1), 2.0, Duration::from_millis(5))
            .jitter(Jitter::None),
    )
}

fn kib() -> &'static str {
    Box::leak("x".repeat(1024).into_boxed_str())
}

/// A wall-clock bound around a future that talks to real sockets.
async fn bounded<F: std::future::Future>(what: &str, limit: Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no outcome within {limit:?} (hang)"),
    }
}

/// A byte-level HTTP/1 server: reads each request (head and a
/// `content-length` body), counts it, writes the scripted bytes for that
/// request's index, and closes the connection.
async fn raw_server(answers: Vec<&'static [u8]>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let index = counter.fetch_add(1, SeqCst);
                let answer = answers[index.min(answers.len() - 1)];
                let _ = stream.write_all(answer).await;
                let _ = stream.flush().await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, seen)
}

// ---------------------------------------------------------------------------
// reqwest adapter and middleware

/// A server that answers 503 to everything and records each request
/// body's length.
async fn unavailable_recording_bodies() -> (SocketAddr, Arc<Mutex<Vec<usize>>>) {
    let seen = Arc::new(Mutex::new(Vec::<usize>::new()));
    let record = seen.clone();
    let addr = serve(move |req: Request<Incoming>| {
        let record = record.clone();
        async move {
            let len = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            record.lock().unwrap().push(len);
            response(503, &[], r#"{"error": "down"}"#)
        }
    })
    .await;
    (addr, seen)
}

/// `retry` module docs: "a body that outgrew the cap is not retried, and
/// the error says so". Through `ReqwestClient`, an idempotent PUT with a
/// streamed body of 8 KiB (cap 1 KiB) answered 503 is sent once.
#[tokio::test]
async fn reqwest_streamed_body_over_the_replay_cap_is_sent_once() {
    let (addr, seen) = unavailable_recording_bodies().await;
    let client = ApiErrorsLayer::new()
        .retry(quick().max_replay_bytes(1024))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    let k = kib();
    let body = Frames::<Infallible>::chunks(&[k, k, k, k, k, k, k, k]);
    let request = Request::put(format!("http://{addr}/upload"))
        .body(body)
        .unwrap();
    let error = bounded("put", Duration::from_secs(10), client.oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(*seen.lock().unwrap(), vec![8192], "sent once, whole");
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyNotReplayable),
        "{error}"
    );
}

/// The same through `ApiErrorsMiddleware`: a streamed reqwest body larger
/// than the replay cap is sent once, and the typed error says why.
#[tokio::test]
async fn middleware_streamed_body_over_the_replay_cap_is_sent_once() {
    let (addr, seen) = unavailable_recording_bodies().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new().retry(quick().max_replay_bytes(1024)),
        ))
        .build();
    let k = kib();
    let body = reqwest::Body::wrap(Frames::<Infallible>::chunks(&[k, k, k, k, k, k, k, k]));
    let error = bounded(
        "put",
        Duration::from_secs(10),
        client
            .put(format!("http://{addr}/upload"))
            .body(body)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(*seen.lock().unwrap(), vec![8192], "sent once, whole");
    let typed = error.typed_error().expect("the crate's error");
    assert_eq!(
        typed.retries().stopped(),
        Some(StopReason::BodyNotReplayable),
        "{typed}"
    );
}

/// SECURITY.md: "Never retries an unsafe request without consent". A
/// reqwest timeout on a POST the server received (and is still working
/// on) must not send it again; the timeout stays reachable by type.
#[tokio::test]
async fn reqwest_timeout_on_an_unkeyed_post_is_not_sent_again() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let addr = serve(move |req: Request<Incoming>| {
        let counter = counter.clone();
        async move {
            let _ = req.into_body().collect().await;
            counter.fetch_add(1, SeqCst);
            std::future::pending::<()>().await;
            unreachable!()
        }
    })
    .await;
    let reqwest = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let client = ApiErrorsLayer::new()
        .retry(quick())
        .layer(ReqwestClient::new(reqwest));
    let request = Request::post(format!("http://{addr}/orders"))
        .body(Full::new(Bytes::from_static(b"{\"amount\": 1}")))
        .unwrap();
    let error = bounded("post", Duration::from_secs(10), client.oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(seen.load(SeqCst), 1, "the POST reached the server once");
    assert!(
        reqwest_error(&error).is_some_and(|e| e.is_timeout()),
        "{error}"
    );
    assert_eq!(error.retries().attempts(), 1, "{error}");
}

/// A connection cut in the middle of a 503's body (content-length 300,
/// 30 bytes sent), or in the middle of the status line: a GET is retried
/// and succeeds; an unkeyed POST is never sent twice; every call ends.
#[tokio::test]
async fn reqwest_connections_cut_mid_answer() {
    const CUT_BODY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 300\r\n\r\n{\"error\": {\"message\": \"par";
    const CUT_HEAD: &[u8] = b"HTTP/1.1 503 Serv";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    for cut in [CUT_BODY, CUT_HEAD] {
        let label = String::from_utf8_lossy(&cut[..17]).into_owned();
        // GET: retried.
        let (addr, seen) = raw_server(vec![cut, OK]).await;
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let request = Request::get(format!("http://{addr}/items"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = bounded("get", Duration::from_secs(10), client.oneshot(request))
            .await
            .unwrap_or_else(|e| panic!("{label}: GET should be retried to the 200: {e}"));
        assert_eq!(response.status(), 200, "{label}");
        assert_eq!(seen.load(SeqCst), 2, "{label}");

        // POST without a key: sent once.
        let (addr, seen) = raw_server(vec![cut, OK]).await;
        let client = ApiErrorsLayer::new()
            .retry(quick())
            .layer(ReqwestClient::new(reqwest::Client::new()));
        let request = Request::post(format!("http://{addr}/orders"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let outcome = bounded("post", Duration::from_secs(10), client.oneshot(request)).await;
        assert!(
            outcome.is_err(),
            "{label}: {:?}",
            outcome.map(|r| r.status())
        );
        assert_eq!(seen.load(SeqCst), 1, "{label}: the POST was sent twice");
    }
}

/// reqwest follows a redirect to a URL carrying a credential in its query
/// (a presigned URL) that then fails: the error never prints the target's
/// credential (reqwest writes URLs into its errors).
#[tokio::test]
async fn reqwest_redirect_targets_never_print_their_credentials() {
    let refused = support::refused_addr();
    let addr = serve(move |req: Request<Incoming>| async move {
        match req.uri().path() {
            // A presigned URL on a host that refuses connections.
            "/download" => response(
                302,
                &[(
                    "location",
                    &format!(
                        "http://u:hunter2@{refused}/blob?X-Amz-Signature=SIGSECRET&token=TOKSECRET&x=1"
                    ),
                )],
                "",
            ),
            // A redirect loop through a credential-bearing URL.
            _ => response(
                302,
                &[("location", "/loop?access_token=LOOPSECRET")],
                "",
            ),
        }
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(1))
        .layer(ReqwestClient::new(reqwest::Client::new()));
    for path in ["/download", "/loop"] {
        let request = Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let error = bounded(
            "redirect",
            Duration::from_secs(10),
            client.clone().oneshot(request),
        )
        .await
        .unwrap_err();
        let text = error_text(&error);
        for secret in ["hunter2", "SIGSECRET", "TOKSECRET", "LOOPSECRET"] {
            assert!(!text.contains(secret), "{path}: {secret} printed: {text}");
        }
    }
}

// ---------------------------------------------------------------------------
// breaker and hedge

fn plain_get() -> Request<()> {
    Request::get("http://api.test/").body(()).unwrap()
}

/// Breaker docs: "When the break is over, one call goes through; the
/// others are told to come back a little later." Ten concurrent callers
/// at the end of the break: exactly one reaches the upstream.
#[tokio::test(start_paused = true)]
async fn breaker_half_open_lets_exactly_one_probe_through() {
    let sent = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let (counter, release) = (sent.clone(), gate.clone());
    let upstream = service_fn(move |_req: Request<()>| {
        let n = counter.fetch_add(1, SeqCst);
        let release = release.clone();
        async move {
            let status = match n {
                0 | 1 => 503,
                2 => {
                    release.notified().await;
                    200
                }
                _ => 200,
            };
            Ok::<_, Infallible>(Response::builder().status(status).body(()).unwrap())
        }
    });
    let breaker = CircuitBreakerLayer::new()
        .minimum_calls(2)
        .failure_rate(1.0)
        .layer(upstream);
    for _ in 0..2 {
        let response = breaker.clone().oneshot(plain_get()).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let refused = breaker.clone().oneshot(plain_get()).await.unwrap_err();
    assert!(refused.circuit_open().is_some(), "{refused}");
    tokio::time::advance(Duration::from_secs(5)).await;
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(breaker.clone().oneshot(plain_get())))
        .collect();
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(sent.load(SeqCst), 3, "one probe while half-open");
    gate.notify_one();
    let (mut ok, mut probing) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                ok += 1;
            }
            Err(error) => {
                let open = error.circuit_open().expect("a refusal");
                assert!(open.is_probing(), "{error}");
                probing += 1;
            }
        }
    }
    assert_eq!((ok, probing), (1, 9));
    // The probe's answer closed it.
    assert_eq!(
        breaker.clone().oneshot(plain_get()).await.unwrap().status(),
        200
    );
    assert_eq!(sent.load(SeqCst), 4);
}

/// Breaker docs, "The server's word is the fleet's": with a shared store,
/// "every process's breaker for the scope fails fast until T, then
/// probes". A process whose own probe was in flight when it learned the
/// fleet's opening, and whose probe is then dropped (a caller's timeout),
/// must keep failing fast until T, not probe again at once.
///
/// (It probed again at once: the dropped probe's settle overwrote the
/// learned opening, which was then not learned again.)
#[tokio::test(start_paused = true)]
async fn a_dropped_probe_does_not_cut_short_a_fleet_opening() {
    use tower_api_errors::quota::MemoryStore;
    let store = MemoryStore::new();
    let b_sent = Arc::new(AtomicUsize::new(0));
    let counter = b_sent.clone();
    // B's upstream: a 503 without a hint, then hangs.
    let upstream_b = service_fn(move |_req: Request<()>| {
        let n = counter.fetch_add(1, SeqCst);
        async move {
            if n > 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::builder().status(503).body(()).unwrap())
        }
    });
    // A's upstream: a 503 asking for 30 s.
    let upstream_a = service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .status(503)
                .header("retry-after", "30")
                .body(())
                .unwrap(),
        )
    });
    let a = CircuitBreakerLayer::new()
        .minimum_calls(1)
        .shared(store.clone())
        .layer(upstream_a);
    let b = CircuitBreakerLayer::new()
        .minimum_calls(1)
        .shared(store)
        .layer(upstream_b);
    // B opens on its own (5 s), then its probe goes out and hangs.
    assert_eq!(b.clone().oneshot(plain_get()).await.unwrap().status(), 503);
    tokio::time::advance(Duration::from_secs(5)).await;
    let mut prober = b.clone();
    prober.ready().await.unwrap();
    let probe = prober.call(plain_get());
    assert_eq!(b_sent.load(SeqCst), 2, "the probe went");
    // A hears the server ask for 30 s, and tells the fleet.
    assert_eq!(a.clone().oneshot(plain_get()).await.unwrap().status(), 503);
    let refused = b.clone().oneshot(plain_get()).await.unwrap_err();
    let open = refused
        .circuit_open()
        .expect("B learned the fleet's opening");
    assert!(open.is_server_signalled(), "{refused}");
    // B's caller gives up on the probe.
    drop(probe);
    tokio::time::advance(Duration::from_secs(1)).await;
    let outcome =
        tokio::time::timeout(Duration::from_secs(1), b.clone().oneshot(plain_get())).await;
    assert_eq!(
        b_sent.load(SeqCst),
        2,
        "B sent again 1 s into the fleet's 30 s opening: {outcome:?}"
    );
}

/// Breaker docs: "A 429, any other 4xx ... never count", whatever the
/// parse layer turns it into: 429s with Retry-After, a GitHub-style 403
/// with an exhausted rate limit and gRPC RESOURCE_EXHAUSTED, 40 of each,
/// never open it; the next call is sent.
#[tokio::test(start_paused = true)]
async fn breaker_never_opens_for_any_form_of_slow_down() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, SeqCst);
        let response = match req.uri().path() {
            "/429" => Response::builder()
                .status(429)
                .header("retry-after", "1")
                .body(Full::new(Bytes::from_static(b"{\"error\": \"slow down\"}"))),
            "/403" => Response::builder()
                .status(403)
                .header("x-ratelimit-limit", "60")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", "1")
                .body(Full::new(Bytes::from_static(
                    b"{\"message\": \"API rate limit exceeded\"}",
                ))),
            "/grpc" => Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .header("grpc-status", "8")
                .header("grpc-message", "quota")
                .body(Full::new(Bytes::new())),
            _ => Response::builder()
                .status(200)
                .body(Full::new(Bytes::new())),
        };
        async move { Ok::<_, Infallible>(response.unwrap()) }
    });
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(1))
        .breaker(CircuitBreakerLayer::new().minimum_calls(5))
        .layer(upstream);
    for path in ["/429", "/403", "/grpc"] {
        for _ in 0..40 {
            let request = Request::get(format!("http://api.test{path}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let error = client.clone().oneshot(request).await.unwrap_err();
            assert!(error.circuit_open().is_none(), "{path}: opened: {error}");
            assert_eq!(error.kind(), ErrorKind::RateLimited, "{path}: {error}");
        }
    }
    let request = Request::get("http://api.test/ok")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(client.oneshot(request).await.unwrap().status(), 200);
    assert_eq!(sent.load(SeqCst), 121);
}

/// Hedge docs: only idempotent calls are hedged (`Idempotency-Key` "with
/// a key in it": an empty or blank value, or `""`, names nothing).
#[tokio::test(start_paused = true)]
async fn hedges_never_resend_unkeyed_posts_patches_or_blank_keys() {
    let rows: [(&str, Option<&str>, usize); 7] = [
        ("POST", None, 1),
        ("PATCH", None, 1),
        ("POST", Some(""), 1),
        ("POST", Some("   "), 1),
        ("POST", Some("\"\""), 1),
        ("POST", Some("order-1"), 2),
        ("GET", None, 2),
    ];
    for (method, key, expected) in rows {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
            counter.fetch_add(1, SeqCst);
            async move {
                // As a client does: the body is sent first.
                req.into_body().collect().await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }
        });
        let hedge = HedgeLayer::fixed(Duration::from_millis(10))
            .no_budget()
            .layer(upstream);
        let mut request = Request::builder()
            .method(method)
            .uri("http://api.test/orders");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Full::new(Bytes::from_static(b"{}"))).unwrap();
        hedge.oneshot(request).await.unwrap();
        assert_eq!(sent.load(SeqCst), expected, "{method} key {key:?}");
    }
}

/// Hedge docs: "the first final answer wins, and the other attempt is
/// dropped (cancelled)"; "The call ends with the last failure when no
/// attempt succeeds." Each call ends exactly once.
#[tokio::test(start_paused = true)]
async fn hedge_first_success_wins_loser_dropped_and_double_failure_ends_once() {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let mark = dropped.clone();
    let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        let attempt = req.extensions().get::<Hedged>().unwrap().attempt();
        let fail = req.uri().path() == "/fail";
        let guard = Guard(mark.clone());
        async move {
            let _guard = guard;
            let wait = if attempt == 1 { 1_000 } else { 5 };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let status = if fail { 503 } else { 200 };
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::from(format!("attempt {attempt}"))))
                    .unwrap(),
            )
        }
    });
    let hedge = HedgeLayer::fixed(Duration::from_millis(10))
        .no_budget()
        .layer(upstream);
    let started = tokio::time::Instant::now();
    let request = Request::get("http://api.test/ok")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = hedge.clone().oneshot(request).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(15));
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "attempt 2"
    );
    assert!(dropped.load(SeqCst), "the slow first attempt was cancelled");

    let started = tokio::time::Instant::now();
    let request = Request::get("http://api.test/fail")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let outcome = hedge.oneshot(request).await;
    let response = outcome.expect("a raw 503 response");
    assert_eq!(response.status(), 503);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(1_000),
        "waited for the last attempt"
    );
}

// ---------------------------------------------------------------------------
// RedisStore

/// A vendor of `limit` requests per 60 s window (fixed, from its start),
/// announced in X-RateLimit-* with the reset as delta seconds; a spent
/// window answers 429.
#[derive(Clone)]
struct Vendor {
    started: std::time::Instant,
    limit: u64,
    used: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    throttled: Arc<AtomicU64>,
}

impl Vendor {
    fn new(limit: u64) -> Self {
        Vendor {
            started: std::time::Instant::now(),
            limit,
            used: Arc::default(),
            received: Arc::default(),
            throttled: Arc::default(),
        }
    }

    fn answer(&self) -> Response<Full<Bytes>> {
        self.received.fetch_add(1, SeqCst);
        let reset = 60u64
            .saturating_sub(self.started.elapsed().as_secs())
            .max(1);
        let used = self.used.fetch_add(1, SeqCst) + 1;
        let limit = self.limit.to_string();
        let reset = reset.to_string();
        let builder = Response::builder()
            .header("x-ratelimit-limit", &limit)
            .header("x-ratelimit-reset", &reset);
        if used > self.limit {
            self.throttled.fetch_add(1, SeqCst);
            return builder
                .status(429)
                .header("x-ratelimit-remaining", "0")
                .header("retry-after", &reset)
                .body(Full::new(Bytes::from_static(b"{\"error\": \"spent\"}")))
                .unwrap();
        }
        builder
            .status(200)
            .header("x-ratelimit-remaining", (self.limit - used).to_string())
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    fn service(
        &self,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + 'static {
        let vendor = self.clone();
        service_fn(move |_req: Request<Full<Bytes>>| {
            let answer = vendor.answer();
            async move { Ok::<_, Infallible>(answer) }
        })
    }
}

fn vendor_get() -> Request<Full<Bytes>> {
    Request::get("http://vendor.test/items")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// RedisStore docs: when Redis fails, "each process carries on with what
/// it learned locally"; "No request is lost, held beyond max_wait, or
/// sent twice". A spent window (learned from the vendor's own headers)
/// stays spent while Redis is down, and after Redis comes back empty:
/// no request reaches the vendor before its reset (no 429 earned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_window_stays_spent_through_a_redis_outage_and_an_empty_restart() {
    let port = free_port();
    let mut redis = RedisServer::start(port);
    let vendor = Vendor::new(3);
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("probe2:restart:")
        .timeout(Duration::from_millis(50));
    let service = QuotaLayer::with_store(store.clone())
        .max_wait(Duration::from_secs(2))
        .layer(vendor.service());
    let call = || {
        let service = service.clone();
        async move {
            bounded(
                "quota call",
                Duration::from_secs(5),
                service.oneshot(vendor_get()),
            )
            .await
        }
    };
    let mut ok = 0;
    loop {
        match call().await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                ok += 1;
                assert!(ok <= 3, "more than the window");
            }
            Err(error) => {
                assert!(error.rate_limited().is_some(), "{error}");
                break;
            }
        }
    }
    assert_eq!(ok, 3, "the window, used whole");
    assert_eq!(vendor.received.load(SeqCst), 3);

    // Redis dies.
    redis.kill();
    let until = std::time::Instant::now() + Duration::from_millis(1_500);
    while std::time::Instant::now() < until {
        let outcome = call().await;
        assert!(
            outcome.is_err(),
            "a spent window let a request go (Redis down)"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        (vendor.received.load(SeqCst), vendor.throttled.load(SeqCst)),
        (3, 0),
        "Redis down: nothing sent into the spent window"
    );

    // Redis comes back, empty.
    let _redis = RedisServer::start(port);
    let until = std::time::Instant::now() + Duration::from_millis(2_500);
    while std::time::Instant::now() < until {
        let _ = call().await;
        tokio::task::yield_now().await;
    }
    assert_eq!(
        (vendor.received.load(SeqCst), vendor.throttled.load(SeqCst)),
        (3, 0),
        "Redis restarted empty: nothing sent into the spent window"
    );
}

/// The same with a fleet of two: a window of 10 shared in fair shares and
/// spent; then Redis dies and comes back empty. The cautious fallback
/// share ("the last known limit divided by the last known members, once
/// per window") must not hand out a fresh share of a window the fleet
/// already spent: the vendor sees no 11th request before its reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_two_sends_nothing_into_its_spent_window_when_redis_fails() {
    let port = free_port();
    let mut redis = RedisServer::start(port);
    let vendor = Vendor::new(10);
    let open = || {
        RedisStore::open(&redis.url())
            .unwrap()
            .prefix("probe2:fleet2:")
            .timeout(Duration::from_millis(50))
    };
    let (a, b) = (open(), open());
    let service_a = QuotaLayer::with_store(a.clone())
        .max_wait(Duration::from_secs(2))
        .layer(vendor.service());
    let service_b = QuotaLayer::with_store(b.clone())
        .max_wait(Duration::from_secs(2))
        .layer(vendor.service());
    async fn call<S>(service: &S) -> Result<S::Response, S::Error>
    where
        S: Service<Request<Full<Bytes>>> + Clone,
    {
        bounded(
            "fleet call",
            Duration::from_secs(5),
            service.clone().oneshot(vendor_get()),
        )
        .await
    }
    let (mut a_done, mut b_done) = (false, false);
    for _ in 0..40 {
        if !a_done {
            a_done = call(&service_a).await.is_err();
        }
        if !b_done {
            b_done = call(&service_b).await.is_err();
        }
        if a_done && b_done {
            break;
        }
    }
    assert!(
        a_done && b_done,
        "both were refused at the end of the window"
    );
    assert_eq!(
        (vendor.received.load(SeqCst), vendor.throttled.load(SeqCst)),
        (10, 0),
        "the window, used whole, no 429"
    );

    redis.kill();
    let until = std::time::Instant::now() + Duration::from_millis(1_500);
    while std::time::Instant::now() < until {
        let _ = call(&service_a).await;
        let _ = call(&service_b).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(
        (vendor.received.load(SeqCst), vendor.throttled.load(SeqCst)),
        (10, 0),
        "Redis down: a fallback share of a spent window was handed out"
    );

    let _redis = RedisServer::start(port);
    let until = std::time::Instant::now() + Duration::from_millis(2_500);
    while std::time::Instant::now() < until {
        let _ = call(&service_a).await;
        let _ = call(&service_b).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(
        (vendor.received.load(SeqCst), vendor.throttled.load(SeqCst)),
        (10, 0),
        "Redis back empty: requests sent into the spent window"
    );
}

/// RedisStore docs: "When Redis is down, slow or answers nonsense, each
/// process carries on"; `timeout`: a renewal may take three timeouts (at
/// least 250 ms) before the store falls back. A Redis that accepts
/// connections and never answers must not hold requests beyond those
/// bounds (a cold scope's first call: the 1 s connection bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_hole_redis_holds_no_request_beyond_its_bounds() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let vendor = Vendor::new(1_000);
    let store = RedisStore::open(&format!("redis://{addr}/"))
        .unwrap()
        .prefix("probe2:hole:")
        .timeout(Duration::from_millis(30));
    let service = QuotaLayer::with_store(store.clone()).layer(vendor.service());
    for i in 0..8 {
        let started = std::time::Instant::now();
        let response = bounded(
            "black hole",
            Duration::from_secs(10),
            service.clone().oneshot(vendor_get()),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        let took = started.elapsed();
        let bound = if i == 0 {
            Duration::from_millis(2_500)
        } else {
            Duration::from_millis(1_500)
        };
        assert!(took < bound, "request {i} held {took:?} by a silent Redis");
    }
    assert!(store.is_local(), "decisions went local");
    assert_eq!(vendor.received.load(SeqCst), 8);
}

/// README: "Keys hold digests and numbers only, never a partition value";
/// the quota's and the breaker's keys and values, after a run with API
/// keys as partitions, userinfo and query secrets in the URI, hold none
/// of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_and_values_never_hold_credentials() {
    const KEYS: [&str; 3] = [
        "sk_live_PARTITIONSECRET_A",
        "sk_live_PARTITIONSECRET_B",
        "sk_live_PARTITIONSECRET_C",
    ];
    let redis = RedisServer::start(free_port());
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("probe2:keys:")
        .timeout(Duration::from_millis(500));
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, SeqCst);
        let down = req.uri().path().starts_with("/down");
        async move {
            let response = if down {
                Response::builder()
                    .status(503)
                    .header("retry-after", "30")
                    .body(Full::new(Bytes::from_static(b"{\"error\": \"down\"}")))
            } else {
                Response::builder()
                    .status(200)
                    .header("x-ratelimit-limit", "100")
                    .header("x-ratelimit-remaining", "90")
                    .header("x-ratelimit-reset", "60")
                    .body(Full::new(Bytes::new()))
            };
            Ok::<_, Infallible>(response.unwrap())
        }
    });
    let quota =
        QuotaLayer::with_store(store.clone()).partition(|r| r.headers().get("x-api-key").cloned());
    let client = ApiErrorsLayer::new()
        .retry(quick().max_attempts(1))
        .breaker(
            CircuitBreakerLayer::new()
                .minimum_calls(1)
                .partition(|r| r.headers().get("x-api-key").cloned())
                .shared(store.clone()),
        )
        .quota(quota)
        .layer(upstream);
    for round in 0..6 {
        for key in KEYS {
            for path in ["/v1/items", "/down"] {
                let uri = format!(
                    "http://alice:hunter2pw@api.test:8080{path}?api_key={key}&token=QUERYTOKEN&page={round}"
                );
                let request = Request::get(uri)
                    .header("x-api-key", key)
                    .header("authorization", format!("Bearer {key}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let _ = bounded(
                    "call",
                    Duration::from_secs(10),
                    client.clone().oneshot(request),
                )
                .await;
            }
        }
        tokio::task::yield_now().await;
    }
    assert!(sent.load(SeqCst) > 0);
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Wait (bounded) for what renewals and publications write.
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..100 {
        keys = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut connection)
            .await
            .unwrap();
        if keys.iter().any(|k| k.ends_with(":opening")) && keys.len() >= 4 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(!keys.is_empty(), "nothing was written to Redis");
    let mut everything = String::new();
    for key in &keys {
        everything.push_str(key);
        everything.push('\n');
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
        match kind.as_str() {
            "hash" => {
                let fields: BTreeMap<String, String> = redis::cmd("HGETALL")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                for (field, value) in fields {
                    everything.push_str(&format!("{field}={value}\n"));
                }
            }
            "string" => {
                let value: String = redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                everything.push_str(&value);
                everything.push('\n');
            }
            other => everything.push_str(&format!("({other})\n")),
        }
    }
    for secret in [
        "PARTITIONSECRET",
        "sk_live",
        "hunter2pw",
        "alice",
        "QUERYTOKEN",
        "Bearer",
        "api.test",
        "/v1",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} in Redis:\n{everything}"
        );
    }
    // Every key is the prefix and a digest.
    for key in &keys {
        assert!(key.starts_with("probe2:keys:{"), "{key}");
    }
    // Three partitions: three scopes each for quota (and openings).
    let scopes: std::collections::BTreeSet<&str> = keys
        .iter()
        .filter_map(|k| k.split('{').nth(1)?.split('}').next())
        .collect();
    assert!(scopes.len() >= 3, "{keys:?}");
}

// ---------------------------------------------------------------------------
// observation: tracing and OpenTelemetry

fn sdk() -> (
    opentelemetry_sdk::metrics::SdkMeterProvider,
    opentelemetry_sdk::metrics::InMemoryMetricExporter,
) {
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (provider, exporter)
}

/// Every (metric, attribute key, attribute value) recorded.
fn attributes(
    exporter: &opentelemetry_sdk::metrics::InMemoryMetricExporter,
) -> Vec<(String, String, String)> {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let batches = exporter.get_finished_metrics().unwrap();
    let mut out = Vec::new();
    let Some(batch) = batches.last() else {
        return out;
    };
    for metric in batch.scope_metrics().flat_map(|scope| scope.metrics()) {
        let name = metric.name().to_owned();
        let mut push = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            for kv in kvs {
                out.push((name.clone(), kv.key.to_string(), kv.value.to_string()));
            }
        };
        match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                h.data_points().for_each(|p| push(&mut p.attributes()))
            }
            AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                h.data_points().for_each(|p| push(&mut p.attributes()))
            }
            AggregatedMetrics::U64(MetricData::Sum(s)) => {
                s.data_points().for_each(|p| push(&mut p.attributes()))
            }
            AggregatedMetrics::F64(MetricData::Sum(s)) => {
                s.data_points().for_each(|p| push(&mut p.attributes()))
            }
            AggregatedMetrics::I64(MetricData::Sum(s)) => {
                s.data_points().for_each(|p| push(&mut p.attributes()))
            }
            _ => {}
        }
    }
    out
}

const BEARER: &str = "sk_live_BEARERSECRET";
const QUERY: &str = "api_key=QKEYSECRET&token=QTOKSECRET&sig=QSIGSECRET&page=2";

/// SECURITY.md / README: no credential, no URI query secret and no
/// userinfo in spans, events, metric attributes or error text; metric
/// attributes of bounded cardinality (no path ids). Every layer of the
/// stack at work: hedge (sent, won), retry, breaker (opened, refusals),
/// auth, quota (a spent window, a refusal), parse.
#[tokio::test(start_paused = true)]
async fn the_full_stack_never_logs_or_records_a_secret_or_an_id() {
    use tracing_subscriber::fmt::format::FmtSpan;
    let (logs, _guard) = captured_logs::capture(FmtSpan::CLOSE);
    let (provider, exporter) = sdk();
    let metrics = tower_api_errors::metrics::Metrics::from_provider(&provider);
    let budget = RetryBudget::default();
    let seen: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let counts = seen.clone();
    let upstream = service_fn(move |req: Request<ReplayBody<ReplayBody<Full<Bytes>>>>| {
        let host = req.uri().host().unwrap_or_default().to_owned();
        let hedge = req
            .extensions()
            .get::<Hedged>()
            .is_some_and(|h| h.is_hedge());
        let n = {
            let mut counts = counts.lock().unwrap();
            let n = counts.entry(host.clone()).or_default();
            *n += 1;
            *n
        };
        async move {
            let reply = |status: u16, headers: &[(&str, &str)], body: &'static str| {
                let mut b = Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(*k, *v);
                }
                b.body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap()
            };
            let response = match host.as_str() {
                "flaky.example.com" if n == 1 => {
                    reply(503, &[], r#"{"error": "QKEYSECRET is down"}"#)
                }
                "slow.example.com" if !hedge => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    reply(200, &[], "{}")
                }
                "down.example.com" => reply(
                    503,
                    &[("retry-after", "1")],
                    r#"{"error": {"message": "maintenance"}}"#,
                ),
                "limited.example.com" => reply(
                    429,
                    &[
                        ("x-ratelimit-limit", "10"),
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "3600"),
                        ("retry-after", "3600"),
                    ],
                    r#"{"error": "daily limit"}"#,
                ),
                _ => reply(200, &[], "{}"),
            };
            Ok::<_, Infallible>(response)
        }
    });
    let client = ApiErrorsLayer::new()
        .retry(quick().metrics(metrics.clone()).budget(budget.clone()))
        .auth(
            AuthLayer::new(StaticToken::new(Credential::new(BEARER).unwrap()))
                .metrics(metrics.clone()),
        )
        .quota(QuotaLayer::new().metrics(metrics.clone()))
        .breaker(
            CircuitBreakerLayer::new()
                .minimum_calls(2)
                .metrics(metrics.clone()),
        )
        .hedge(
            HedgeLayer::fixed(Duration::from_millis(50))
                .budget(budget)
                .metrics(metrics.clone()),
        )
        .layer(upstream);
    let mut errors = String::new();
    let script: [(&str, &str, usize); 5] = [
        ("flaky.example.com", "/v1/users/1234567/profile", 1),
        // Twice: the first call is the quota's cold-start probe, which
        // holds its hedge below (never sent); the second is hedged.
        ("slow.example.com", "/v1/orders/7654321/items", 2),
        ("down.example.com", "/v1/accounts/5555555/balance", 4),
        ("limited.example.com", "/v1/reports/7777777/rows", 2),
        ("ok.example.com", "/v1/tenants/9999999/users/8888888", 1),
    ];
    for (host, path, times) in script {
        for _ in 0..times {
            let uri = format!("https://alice:hunter2pw@{host}{path}?{QUERY}");
            let request = Request::get(uri)
                .header("cookie", "session=COOKIESECRET")
                .body(Full::new(Bytes::new()))
                .unwrap();
            if let Err(error) = client.clone().oneshot(request).await {
                errors.push_str(&error_text(&error));
                errors.push('\n');
            }
        }
    }
    provider.force_flush().unwrap();
    let recorded = attributes(&exporter);
    let logged = logs.text();
    assert!(!recorded.is_empty(), "no metric recorded");
    let hedged = logged.contains("hedge_sent") && logged.contains("hedge_won");
    assert!(hedged, "no hedge sent and won:\n{logged}");
    assert!(logged.contains("breaker"), "no breaker event:\n{logged}");
    assert!(!errors.is_empty());
    for secret in [
        "hunter2pw",
        "alice",
        "QKEYSECRET",
        "QTOKSECRET",
        "QSIGSECRET",
        "BEARERSECRET",
        "COOKIESECRET",
    ] {
        assert!(!logged.contains(secret), "{secret} logged:\n{logged}");
        assert!(!errors.contains(secret), "{secret} in an error:\n{errors}");
        for (metric, key, value) in &recorded {
            assert!(!value.contains(secret), "{metric} {key}={value}");
        }
    }
    for (metric, key, value) in &recorded {
        for id in [
            "1234567", "7654321", "5555555", "7777777", "9999999", "8888888",
        ] {
            assert!(!value.contains(id), "{metric} {key}={value}: a path id");
        }
        assert!(
            !value.contains('/') && !value.contains('?') && !value.contains('='),
            "{metric} {key}={value}: a path or query"
        );
    }
}

/// Every credential a request can carry, and every way a server can echo
/// one, through the recommended stack over real loopback servers: none may
/// reach an error's `Display`/`Debug` (every variant), a tracing line (at
/// TRACE, spans included), a metric attribute, or a key of the shared
/// store. Sources: RFC 6750 §3 (`WWW-Authenticate` with an
/// `error_description`), RFC 6749 §5.2 (a token endpoint's error body),
/// OTel HTTP semconv `url.full` ("MUST NOT contain credentials passed via
/// URL"; `sig` redacted), SECURITY.md.
// One thread: the capture is the thread's, and so are background tasks.
#[tokio::test]
async fn no_credential_escapes_the_stack_on_loopback() {
    use base64::Engine as _;
    use tracing_subscriber::fmt::format::FmtSpan;
    let redis = RedisServer::start(free_port());
    let (logs, _guard) = captured_logs::capture(FmtSpan::NEW | FmtSpan::CLOSE);
    let (provider, exporter) = sdk();
    let metrics = tower_api_errors::metrics::Metrics::from_provider(&provider);
    let basic = base64::engine::general_purpose::STANDARD.encode("proxyuser:PROXYPWSECRET1");
    let proxy = format!("Basic {basic}");
    // The `Host` each request arrived with (semconv's `server.address`
    // for HTTP/1.1 in origin-form).
    let hosts: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = hosts.clone();
    // Echoes what it was sent, as a careless server or a gateway does.
    let echoing = move |request: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let h = |name: &str| {
                let value = request.headers().get(name).map(|v| v.to_str().unwrap());
                value.unwrap_or_default().to_owned()
            };
            seen.lock().unwrap().push(h("host"));
            let (auth, key, cookie) = (h("authorization"), h("x-api-key"), h("cookie"));
            let all = format!(
                "auth {auth} key {key} api-key {} x-auth {} cookie {cookie} proxy {} query {}",
                h("api-key"),
                h("x-auth-token"),
                h("proxy-authorization"),
                request.uri().query().unwrap_or_default(),
            );
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8_lossy(&body).into_owned();
            let token = auth.trim_start_matches("Bearer ");
            match body.is_empty() {
            true => response(
                401,
                &[
                    (
                        "www-authenticate",
                        &format!(r#"Bearer error="invalid_token", error_description="token {token} expired""#),
                    ),
                    ("x-request-id", &key),
                ],
                serde_json::json!({"error": "invalid_token", "error_description": all}).to_string(),
            ),
            // A token endpoint's refusal (RFC 6749 §5.2), quoting its form.
            false => response(
                400,
                &[],
                serde_json::json!({
                    "error": "invalid_grant",
                    "error_description": format!("refresh token refused: {body}"),
                    "access_token": "ATRESPSECRET1",
                    "refresh_token": "RTRESPSECRET1",
                    "id_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJJRFRPS1NFQ1JFVDEifQ.c2lnbmF0dXJlX3NlY3JldA",
                })
                .to_string(),
            ),
        }
        }
    };
    let echo = serve(echoing).await;
    let dropping = support::serve_fallible(|_request: Request<Incoming>| async {
        Err::<Response<support::ServerBody>, _>("dropped")
    })
    .await;
    let down = serve(|_request: Request<Incoming>| async {
        response(503, &[], r#"{"error": {"message": "down"}}"#)
    })
    .await;
    let limited = serve(|_request: Request<Incoming>| async {
        let headers = [
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "3600"),
            ("retry-after", "3600"),
        ];
        response(429, &headers, r#"{"error": "daily limit"}"#)
    })
    .await;
    let store = RedisStore::open(&redis.url()).unwrap();
    let by_key = |r: &tower_api_errors::quota::QuotaRequest<'_>| {
        r.headers().get("x-api-key").map(|v| v.as_bytes().to_vec())
    };
    let client = ApiErrorsLayer::new()
        .retry(
            quick()
                .deadline(Duration::from_secs(1))
                .metrics(metrics.clone()),
        )
        .auth(
            AuthLayer::new(StaticToken::new(Credential::new(BEARER).unwrap()))
                .metrics(metrics.clone()),
        )
        .quota(
            QuotaLayer::with_store(store.clone())
                .partition(by_key)
                .metrics(metrics.clone()),
        )
        .breaker(
            CircuitBreakerLayer::new()
                .minimum_calls(4)
                .shared(store.clone())
                .partition(by_key)
                .metrics(metrics.clone()),
        )
        .hedge(HedgeLayer::fixed(Duration::from_millis(200)).metrics(metrics.clone()))
        .layer(support::client::<ReplayBody<ReplayBody<Full<Bytes>>>>());
    // With the four names semconv's `url.full` says to redact.
    let query = "api_key=QKEYSECRET1&access_token=QATSECRET1&key=QKSECRET1&sig=QSIGSECRET1\
                 &token=QTOKSECRET1&client_secret=QCSSECRET1&AWSAccessKeyId=QAWSSECRET1\
                 &Signature=QSIGNSECRET1&X-Goog-Signature=QGOOGSECRET1&page=2";
    let mut errors = String::new();
    let mut kinds = std::collections::BTreeSet::new();
    let script: [(SocketAddr, &str, bool, usize); 5] = [
        (echo, "/v1/me", false, 1),
        (echo, "/oauth/token", true, 1),
        (dropping, "/v1/items", false, 1),
        (limited, "/v1/reports", false, 2),
        (down, "/v1/accounts", false, 4),
    ];
    for (addr, path, form, times) in script {
        for _ in 0..times {
            let uri = format!("http://alice:hunter2pw@{addr}{path}?{query}");
            let body = match form {
                true => "grant_type=refresh_token&refresh_token=RTFORMSECRET1&client_secret=CSFORMSECRET1",
                false => "",
            };
            let request = Request::builder()
                .method(if form { "POST" } else { "GET" })
                .uri(uri)
                .header("proxy-authorization", &proxy)
                .header("cookie", "theme=dark; session=COOKIESECRET1")
                .header("x-api-key", "XAPIKEYSECRET1")
                .header("api-key", "APIKEYHDRSECRET1")
                .header("x-auth-token", "XAUTHTOKSECRET1")
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap();
            match client.clone().oneshot(request).await {
                Ok(response) => panic!("{path}: {}", response.status()),
                Err(error) => {
                    kinds.insert(match &error {
                        Error::Api(_) => "api",
                        Error::Transport(_) => "transport",
                        Error::RateLimited(_) => "rate_limited",
                        Error::Unauthorized(_) => "unauthorized",
                        Error::CircuitOpen(_) => "circuit_open",
                        _ => "other",
                    });
                    errors.push_str(&error_text(&error));
                    errors.push_str(&format!("{:?}\n", error.retries()));
                }
            }
        }
    }
    // A store whose Redis is down, its URL with a password: the outage is
    // logged (`quota_store_local`), the URL never.
    let dead = format!("redis://:REDISPWSECRET1@127.0.0.1:{}/", free_port());
    let quota = QuotaLayer::with_store(RedisStore::open(&dead).unwrap());
    let ok = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let request = Request::get(format!("http://{echo}/")).body(Full::new(Bytes::new()));
    quota.layer(ok).oneshot(request.unwrap()).await.unwrap();
    provider.force_flush().unwrap();
    let recorded = attributes(&exporter);
    let logged = logs.text();
    let mut redis_keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis_server::admin(&redis.url()).await)
        .await
        .unwrap();
    redis_keys.sort();
    assert_eq!(kinds.len(), 5, "not every variant: {kinds:?}\n{errors}");
    assert!(logged.contains("quota_store_local"), "{logged}");
    assert!(!redis_keys.is_empty(), "nothing shared through Redis");
    let mut leaks = Vec::new();
    for secret in [
        "hunter2pw",
        "QKEYSECRET1",
        "QATSECRET1",
        "QKSECRET1",
        "QSIGSECRET1",
        "QTOKSECRET1",
        "QCSSECRET1",
        "QAWSSECRET1",
        "QSIGNSECRET1",
        "QGOOGSECRET1",
        "BEARERSECRET",
        "PROXYPWSECRET1",
        &basic,
        "COOKIESECRET1",
        "XAPIKEYSECRET1",
        "APIKEYHDRSECRET1",
        "XAUTHTOKSECRET1",
        "RTFORMSECRET1",
        "CSFORMSECRET1",
        "ATRESPSECRET1",
        "RTRESPSECRET1",
        "eyJhbGciOiJIUzI1NiJ9",
        "REDISPWSECRET1",
    ] {
        for (place, text) in [("log", &logged), ("error", &errors)] {
            if text.contains(secret) {
                leaks.push(format!("{secret} in {place}"));
            }
        }
        for (metric, key, value) in &recorded {
            if value.contains(secret) {
                leaks.push(format!("{secret} in {metric} {key}"));
            }
        }
        for key in &redis_keys {
            if key.contains(secret) {
                leaks.push(format!("{secret} in redis key {key}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{leaks:#?}\n--- errors\n{errors}\n--- keys {redis_keys:?}"
    );
    // OTel HTTP client spans, note [2]: `server.address` is the request
    // target's host in absolute-form, else `Host`'s; hyper-util sends the
    // URI's authority as `Host`, and the metric names the same server.
    let echoed = format!("127.0.0.1:{}", echo.port());
    assert!(hosts.lock().unwrap().iter().all(|host| *host == echoed));
    let servers: std::collections::BTreeSet<String> = recorded
        .iter()
        .filter(|(metric, key, _)| {
            metric == "http.client.request.duration" && key.starts_with("server.")
        })
        .map(|(_, key, value)| format!("{key}={value}"))
        .collect();
    let ports = [echo, dropping, down, limited].map(|addr| format!("server.port={}", addr.port()));
    let expected: std::collections::BTreeSet<String> = ports
        .into_iter()
        .chain(["server.address=127.0.0.1".to_owned()])
        .collect();
    assert_eq!(servers, expected);
}

// ---------------------------------------------------------------------------
// gRPC

fn grpc_reply(code: &str, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code)
        .header("grpc-message", "scripted");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

/// gRFC A6: "If the value for pushback is negative or unparseable, then
/// it will be seen as the server asking the client not to retry at all";
/// a valid pushback is waited exactly; a pushback on a status that is not
/// retryable is no reason to retry; garbage in `grpc-status-details-bin`
/// changes nothing.
#[tokio::test(start_paused = true)]
async fn grpc_pushback_and_details_follow_grfc_a6() {
    type Row = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        usize,
        bool,
        Option<u64>,
    );
    let rows: Vec<Row> = vec![
        (
            "14",
            vec![("grpc-retry-pushback-ms", "abc")],
            1,
            false,
            None,
        ),
        (
            "14",
            vec![("grpc-retry-pushback-ms", "1.5")],
            1,
            false,
            None,
        ),
        ("14", vec![("grpc-retry-pushback-ms", "")], 1, false, None),
        ("14", vec![("grpc-retry-pushback-ms", "-5")], 1, false, None),
        ("8", vec![("grpc-retry-pushback-ms", "abc")], 1, false, None),
        ("8", vec![("grpc-retry-pushback-ms", "-1")], 1, false, None),
        ("5", vec![("grpc-retry-pushback-ms", "100")], 1, false, None),
        (
            "14",
            vec![("grpc-retry-pushback-ms", "100")],
            2,
            true,
            Some(100),
        ),
        (
            "8",
            vec![("grpc-retry-pushback-ms", "250")],
            2,
            true,
            Some(250),
        ),
        (
            "14",
            vec![("grpc-status-details-bin", "!!!not base64!!!")],
            2,
            true,
            None,
        ),
        (
            "14",
            vec![("grpc-status-details-bin", "/////wAAAP8=")],
            2,
            true,
            None,
        ),
    ];
    for (code, headers, expected_sends, ok, waited) in rows {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let script = headers.clone();
        let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
            let n = counter.fetch_add(1, SeqCst);
            let response = if n == 0 {
                grpc_reply(code, &script)
            } else {
                grpc_reply("0", &[])
            };
            async move { Ok::<_, Infallible>(response) }
        });
        let client = ApiErrorsLayer::new()
            .retry(quick().retry_non_idempotent(true))
            .layer(upstream);
        let request = Request::post("http://grpc.test/demo.Echo/Say")
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
            .unwrap();
        let started = tokio::time::Instant::now();
        let outcome = client.oneshot(request).await;
        let label = format!("grpc-status {code} {headers:?}");
        assert_eq!(sent.load(SeqCst), expected_sends, "{label}");
        assert_eq!(outcome.is_ok(), ok, "{label}: {:?}", outcome.err());
        if let Some(ms) = waited {
            assert_eq!(started.elapsed(), Duration::from_millis(ms), "{label}");
        }
    }
}
