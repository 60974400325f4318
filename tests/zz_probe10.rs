//! probe 10: gRPC through a real tonic server and client on loopback.
#![cfg(feature = "grpc")]

#[path = "support/echo.rs"]
mod echo;

use echo::{EchoReply, EchoRequest};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, ServiceExt};
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody, RetryPolicy};
use tower_api_errors::{ApiErrorsLayer, Error};

type Script =
    Arc<dyn Fn(u32, &MetadataMap, &EchoRequest) -> Result<EchoReply, Status> + Send + Sync>;

/// A unary server at `/demo.Echo/Say` answering with `script(n, metadata, request)`.
#[derive(Clone)]
struct Server {
    calls: Arc<AtomicU32>,
    script: Script,
}

struct Say(Server);
impl tower::Service<tonic::Request<EchoRequest>> for Say {
    type Response = tonic::Response<EchoReply>;
    type Error = Status;
    type Future = std::future::Ready<Result<Self::Response, Status>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: tonic::Request<EchoRequest>) -> Self::Future {
        let n = self.0.calls.fetch_add(1, Ordering::SeqCst);
        let (metadata, _, message) = request.into_parts();
        std::future::ready((self.0.script)(n, &metadata, &message).map(tonic::Response::new))
    }
}

impl tonic::server::NamedService for Server {
    const NAME: &'static str = "demo.Echo";
}

impl tower::Service<http::Request<Body>> for Server {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<EchoReply, EchoRequest>::default())
                    .max_decoding_message_size(16 << 20);
            Ok(grpc.unary(Say(server), request).await)
        })
    }
}

async fn start(
    script: impl Fn(u32, &MetadataMap, &EchoRequest) -> Result<EchoReply, Status>
        + Send
        + Sync
        + 'static,
) -> (Arc<AtomicU32>, tonic::transport::Channel) {
    let server = Server {
        calls: Arc::default(),
        script: Arc::new(script),
    };
    let calls = server.calls.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(incoming),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (calls, channel)
}

fn reply(message: &str) -> Result<EchoReply, Status> {
    Ok(EchoReply {
        message: message.to_owned(),
    })
}

/// Fast exact backoff (10 ms, no jitter), retrying POSTs, waits recorded.
fn policy(waits: &Arc<Mutex<Vec<Duration>>>) -> RetryPolicy {
    let log = waits.clone();
    RetryPolicy::default()
        .retry_non_idempotent(true)
        .no_budget()
        .backoff(
            Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_millis(40))
                .jitter(Jitter::None),
        )
        .on_retry(move |event| log.lock().unwrap().push(event.delay()))
}

fn to_body(r: http::Request<ReplayBody<Body>>) -> http::Request<Body> {
    r.map(Body::new)
}
type Stack = tower_api_errors::ApiErrors<
    tower::util::MapRequest<
        tonic::transport::Channel,
        fn(http::Request<ReplayBody<Body>>) -> http::Request<Body>,
    >,
>;

/// The README's tonic line, with `policy`.
fn client(channel: tonic::transport::Channel, policy: RetryPolicy) -> tonic::client::Grpc<Stack> {
    let f: fn(http::Request<ReplayBody<Body>>) -> http::Request<Body> = to_body;
    let stack = ApiErrorsLayer::new()
        .retry(policy)
        .layer(channel.map_request(f));
    tonic::client::Grpc::new(stack).max_decoding_message_size(16 << 20)
}

async fn say(
    grpc: &mut tonic::client::Grpc<Stack>,
    request: tonic::Request<EchoRequest>,
) -> Result<String, Status> {
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    let call = grpc.unary(request, echo::SAY, echo::codec());
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("an answer within 20 s")
        .map(|r| r.into_inner().message)
}

fn req(scenario: &str) -> tonic::Request<EchoRequest> {
    tonic::Request::new(EchoRequest {
        scenario: scenario.into(),
    })
}

fn typed(status: &Status) -> Option<&Error> {
    std::error::Error::source(status).and_then(|s| s.downcast_ref::<Error>())
}

/// The module table (src/grpc/mod.rs:10-22) over a real tonic call:
/// every code reaches the caller intact, retried exactly when the table says.
#[tokio::test]
async fn the_status_table_through_tonic() {
    for (code, retried) in [
        (Code::InvalidArgument, false),
        (Code::FailedPrecondition, false),
        (Code::OutOfRange, false),
        (Code::PermissionDenied, false),
        (Code::AlreadyExists, false),
        (Code::Aborted, false),
        (Code::Unauthenticated, false),
        (Code::Internal, false),
        (Code::DataLoss, false),
        (Code::Cancelled, false),
        (Code::Unimplemented, false),
        (Code::ResourceExhausted, true),
        (Code::Unavailable, true),
    ] {
        let (calls, channel) = start(move |n, _, _| {
            if n == 0 {
                Err(Status::new(code, "first try fails"))
            } else {
                reply("second")
            }
        })
        .await;
        let waits = Arc::default();
        let mut grpc = client(channel, policy(&waits));
        let result = say(&mut grpc, req("x")).await;
        if retried {
            assert_eq!(
                result.map_err(|s| s.to_string()),
                Ok("second".to_owned()),
                "{code:?}"
            );
            assert_eq!(calls.load(Ordering::SeqCst), 2, "{code:?}");
        } else {
            let status = result.unwrap_err();
            assert_eq!(status.code(), code, "{code:?}");
            assert_eq!(status.message(), "first try fails", "{code:?}");
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{code:?}");
        }
    }
}

/// RetryInfo in `grpc-status-details-bin` is the wait (src/grpc/dialect.rs:27).
#[tokio::test]
async fn retry_info_is_the_wait() {
    let (calls, channel) = start(|n, _, _| {
        if n == 0 {
            let details = ErrorDetails::with_retry_info(Some(Duration::from_millis(300)));
            Err(Status::with_error_details(
                Code::Unavailable,
                "come back",
                details,
            ))
        } else {
            reply("ok")
        }
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits));
    assert_eq!(
        say(&mut grpc, req("x")).await.map_err(|s| s.to_string()),
        Ok("ok".to_owned())
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(*waits.lock().unwrap(), [Duration::from_millis(300)]);
}

/// A pushback header wins over RetryInfo (src/grpc/dialect.rs:27).
#[tokio::test]
async fn pushback_wins_over_retry_info() {
    let (_calls, channel) = start(|n, _, _| {
        if n == 0 {
            let details = ErrorDetails::with_retry_info(Some(Duration::from_millis(900)));
            let mut status =
                Status::with_error_details(Code::ResourceExhausted, "slow down", details);
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", "120".parse().unwrap());
            Err(status)
        } else {
            reply("ok")
        }
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits));
    assert_eq!(
        say(&mut grpc, req("x")).await.map_err(|s| s.to_string()),
        Ok("ok".to_owned())
    );
    assert_eq!(*waits.lock().unwrap(), [Duration::from_millis(120)]);
}

/// RESOURCE_EXHAUSTED with QuotaFailure: rate limited, and the caller's
/// status keeps the code and the details.
#[tokio::test]
async fn quota_failure_is_rate_limited_and_keeps_details() {
    let (calls, channel) = start(|_, _, _| {
        let mut details = ErrorDetails::new();
        details.add_quota_failure_violation("project:1", "rpm exceeded");
        Err(Status::with_error_details(
            Code::ResourceExhausted,
            "quota",
            details,
        ))
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits).max_attempts(2));
    let status = say(&mut grpc, req("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let error = typed(&status).expect("typed error");
    assert_eq!(error.kind(), tower_api_errors::ErrorKind::RateLimited);
    assert!(
        status.get_error_details().quota_failure().is_some(),
        "{status:?}"
    );
}

/// Credentials from request metadata `authorization`, echoed by the server
/// in its `grpc-message`, never reach the caller's status (house rule:
/// never credentials in errors).
#[tokio::test]
async fn an_echoed_bearer_token_is_scrubbed_from_the_status() {
    const TOKEN: &str = "ya29.a0AfH6SMBx3kQz7Vs9Lr2TtPqWcN8mYj4";
    let (_calls, channel) = start(|_, metadata, _| {
        let auth = metadata
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        Err(Status::invalid_argument(format!("bad credential: {auth}")))
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits));
    let mut request = req("x");
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let status = say(&mut grpc, request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        !status.message().contains(TOKEN),
        "message: {}",
        status.message()
    );
    assert!(!format!("{status:?}").contains(TOKEN), "{status:?}");
    let error = typed(&status).expect("typed error");
    assert!(!error.to_string().contains(TOKEN), "{error}");
    let inner = error.api().unwrap().grpc_status().unwrap();
    assert!(!inner.message().contains(TOKEN), "{inner:?}");
}

/// The request body (tonic's encoded stream) is replayed whole on a retry.
#[tokio::test]
async fn the_encoded_request_is_replayed_whole() {
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let seen = sizes.clone();
    let (_calls, channel) = start(move |n, _, request| {
        seen.lock().unwrap().push(request.scenario.len());
        if n < 2 {
            Err(Status::unavailable("again"))
        } else {
            reply("ok")
        }
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits));
    let big = "y".repeat(40_000);
    assert_eq!(
        say(&mut grpc, req(&big)).await.map_err(|s| s.to_string()),
        Ok("ok".to_owned())
    );
    assert_eq!(*sizes.lock().unwrap(), [40_000, 40_000, 40_000]);
}

/// A message over the replay cap is not retried, and the error says so.
#[tokio::test]
async fn a_message_over_the_replay_cap_is_not_retried_with_a_typed_error() {
    let (calls, channel) = start(|n, _, _| {
        if n == 0 {
            Err(Status::unavailable("again"))
        } else {
            reply("ok")
        }
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits).max_replay_bytes(1024));
    let status = say(&mut grpc, req(&"z".repeat(100_000))).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(status.code(), Code::Unavailable);
    let error = typed(&status).expect("typed error");
    assert_eq!(
        error.retries().stopped(),
        Some(tower_api_errors::StopReason::BodyNotReplayable),
        "{error}"
    );
}

/// The retry layer's deadline below a pushback: fails fast, not slept on.
#[tokio::test]
async fn a_pushback_past_the_deadline_fails_fast() {
    let (calls, channel) = start(|_, _, _| {
        let mut status = Status::unavailable("busy");
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "5000".parse().unwrap());
        Err(status)
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits).deadline(Duration::from_millis(500)));
    let started = std::time::Instant::now();
    let status = say(&mut grpc, req("x")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// The README stack (parse layer included) over a server-streaming call that
/// fails after one message: the caller gets the message, then the
/// server's status; the call is not retried (src/grpc/mod.rs:29-31).
#[tokio::test]
async fn a_stream_failing_after_a_message_is_not_replayed_through_the_readme_stack() {
    let (echo, channel) = echo::start().await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits));
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(req("stream"), echo::STREAM, echo::codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "first");
    let status = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "lost the backend mid-stream");
    assert_eq!(echo.calls("stream"), 1);
    assert!(waits.lock().unwrap().is_empty());
}

type RawBody =
    http_body_util::combinators::BoxBody<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A raw HTTP/2 server (a proxy in front of a gRPC server, say) answering
/// every request with `answer()`; counts requests.
async fn raw_h2(
    answer: impl Fn() -> http::Response<RawBody> + Send + Sync + Clone + 'static,
) -> (Arc<AtomicU32>, tonic::transport::Channel) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let calls: Arc<AtomicU32> = Arc::default();
    let counted = calls.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let answer = answer.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let response = answer();
                        async move {
                            // read the request to the end
                            let _ = http_body_util::BodyExt::collect(request.into_body()).await;
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (calls, channel)
}

fn full(status: u16, headers: &[(&str, &str)], body: &'static str) -> http::Response<RawBody> {
    use http_body_util::BodyExt;
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(
            http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes()))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap()
}

/// A proxy's plain HTTP error (no `grpc-status`): gRPC's HTTP-to-gRPC
/// mapping (grpc/grpc doc/http-grpc-status-mapping.md), which tonic alone
/// follows, gives 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404
/// UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE. First, plain tonic.
#[tokio::test]
async fn plain_tonic_maps_a_proxys_http_status() {
    for (http_status, code) in [
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (503, Code::Unavailable),
        (429, Code::Unavailable),
        (502, Code::Unavailable),
    ] {
        let (_calls, channel) =
            raw_h2(move || full(http_status, &[("content-type", "text/plain")], "")).await;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let status = grpc
            .unary(req("x"), echo::SAY, echo::codec())
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{http_status}: {status:?}");
    }
}

// FAILS: through the README stack a proxy's plain HTTP error reaches the tonic caller as Code::Unknown, not the mapped code
#[tokio::test]
async fn the_readme_stack_keeps_the_code_of_a_proxys_http_status() {
    for (http_status, code) in [
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (503, Code::Unavailable),
        (429, Code::Unavailable),
        (502, Code::Unavailable),
    ] {
        let (_calls, channel) =
            raw_h2(move || full(http_status, &[("content-type", "text/plain")], "")).await;
        let waits = Arc::default();
        let mut grpc = client(channel, policy(&waits).max_attempts(2));
        let status = say(&mut grpc, req("x")).await.unwrap_err();
        assert_eq!(status.code(), code, "{http_status}: {status:?}");
    }
}

/// Nothing listening: plain tonic says UNAVAILABLE (gRPC's status-codes doc:
/// "the service is currently unavailable ... connection failures");
/// through the README stack the same after its retries.
#[tokio::test]
async fn a_refused_connection_is_unavailable_through_the_readme_stack() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    let mut plain = tonic::client::Grpc::new(endpoint.connect_lazy());
    let plain_status = match plain.ready().await {
        Ok(()) => plain
            .unary(req("x"), echo::SAY, echo::codec())
            .await
            .unwrap_err(),
        Err(e) => Status::from_error(e.into()),
    };
    let waits = Arc::default();
    let mut grpc = client(endpoint.connect_lazy(), policy(&waits).max_attempts(2));
    let status = say(&mut grpc, req("x")).await.unwrap_err();
    assert_eq!(
        (plain_status.code(), status.code()),
        (Code::Unavailable, Code::Unavailable),
        "{plain_status:?} / {status:?}"
    );
}

/// A unary answer whose body breaks after half a message (the stream is
/// reset): one error, no hang, not retried (the answer had started).
#[tokio::test]
async fn a_unary_body_that_breaks_midway_ends_in_one_error_not_retried() {
    use http_body_util::BodyExt;
    let (calls, channel) = raw_h2(|| {
        let chunks: Vec<
            Result<http_body::Frame<bytes::Bytes>, Box<dyn std::error::Error + Send + Sync>>,
        > = vec![
            Ok(http_body::Frame::data(bytes::Bytes::from_static(&[
                0, 0, 0, 0, 50, 10, 3,
            ]))),
            Err("backend died".into()),
        ];
        let body = http_body_util::StreamBody::new(tokio_stream::StreamExt::throttle(
            tokio_stream::iter(chunks),
            Duration::from_millis(200),
        ))
        .boxed();
        http::Response::builder()
            .status(200)
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap()
    })
    .await;
    let mut plain = tonic::client::Grpc::new(channel.clone());
    plain.ready().await.unwrap();
    let plain_status = tokio::time::timeout(
        Duration::from_secs(10),
        plain.unary(req("x"), echo::SAY, echo::codec()),
    )
    .await
    .unwrap()
    .unwrap_err();
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits));
    let status = say(&mut grpc, req("x")).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one call each: {status:?}");
    assert_eq!(
        status.code(),
        plain_status.code(),
        "{plain_status:?} / {status:?}"
    );
}

/// gRFC A6 ("Retry logic ... the overall deadline"): retries happen within
/// the call's deadline, which a tonic caller states as `grpc-timeout`
/// (`Request::set_timeout`). A pushback longer than what is left of it
/// should not be slept on, then re-sent with a fresh `grpc-timeout`.
// FAILS: the retry layer ignores the request's grpc-timeout: it sleeps pushbacks past it and re-sends, the call outlives its deadline ~4x
#[tokio::test]
async fn retries_stay_within_the_calls_grpc_timeout() {
    let (calls, channel) = start(|_, _, _| {
        let mut status = Status::unavailable("busy");
        status
            .metadata_mut()
            .insert("grpc-retry-pushback-ms", "300".parse().unwrap());
        Err(status)
    })
    .await;
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits).max_attempts(4));
    let mut request = req("x");
    request.set_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let status = say(&mut grpc, request).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(500),
        "a 200 ms call took {elapsed:?}, {} attempts, ended {status:?}",
        calls.load(Ordering::SeqCst)
    );
}

/// The retry layer's deadline cuts an attempt that never answers: the
/// caller gets one error, promptly, with the code the crate maps its kind to.
// FAILS: the caller's tonic::Status is Code::Unknown (no tonic::Status in the Error's source chain), not code_for_kind(Transport)=Unavailable
#[tokio::test]
async fn a_retry_deadline_cut_reaches_tonic_with_the_crates_code() {
    // accepts, speaks HTTP/2, never answers
    let (_calls, channel) = {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |_r: http::Request<hyper::body::Incoming>| async {
                            std::future::pending::<()>().await;
                            Ok::<_, Infallible>(http::Response::new(http_body_util::Empty::<
                                bytes::Bytes,
                            >::new(
                            )))
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        ((), channel)
    };
    let waits = Arc::default();
    let mut grpc = client(channel, policy(&waits).deadline(Duration::from_millis(300)));
    let mut request = req("x");
    request.set_timeout(Duration::from_secs(5));
    let started = std::time::Instant::now();
    let status = say(&mut grpc, request).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    // The kind is Transport, as `RetryPolicy::deadline` documents; the code
    // the crate itself maps it to (`code_for_kind`) is UNAVAILABLE. tonic's
    // caller gets UNKNOWN.
    let kind = typed(&status).map(Error::kind).expect("typed error");
    assert_eq!(kind, tower_api_errors::ErrorKind::Transport);
    assert_eq!(
        status.code(),
        tower_api_errors::grpc::code_for_kind(kind),
        "{status:?}"
    );
}
