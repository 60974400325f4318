//! A small gRPC service for tests and examples, written by hand so that no
//! `protoc` is needed: prost messages and tonic's server and client glue.
#![allow(dead_code, unreachable_pub)]

use http::uri::PathAndQuery;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

/// `message EchoRequest { string scenario = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    #[prost(string, tag = "1")]
    pub scenario: String,
}

/// `message EchoReply { string message = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

pub const SAY: PathAndQuery = PathAndQuery::from_static("/demo.Echo/Say");
pub const STREAM: PathAndQuery = PathAndQuery::from_static("/demo.Echo/Stream");

/// The service: answers by scenario name and counts calls per scenario.
#[derive(Clone, Default)]
pub struct Echo {
    pub calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl Echo {
    pub fn calls(&self, scenario: &str) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .get(scenario)
            .copied()
            .unwrap_or(0)
    }

    fn count(&self, scenario: &str) -> u32 {
        let mut calls = self.calls.lock().unwrap();
        let count = calls.entry(scenario.to_owned()).or_default();
        *count += 1;
        *count
    }
}

fn with_pushback(code: Code, message: &str, pushback: &'static str) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert("grpc-retry-pushback-ms", pushback.parse().unwrap());
    Status::with_metadata(code, message, metadata)
}

/// The credential the `authenticated` scenario accepts.
pub const ACCEPTED: &str = "Bearer tok_new";

/// What `Say` answers to the `call`-th request of `scenario`, sent with
/// the `authorization` metadata `credential`.
fn answer(scenario: &str, call: u32, credential: Option<&str>) -> Result<EchoReply, Status> {
    let reply = |message: &str| {
        Ok(EchoReply {
            message: message.to_owned(),
        })
    };
    match scenario {
        "ok" => reply("hello"),
        "flaky" if call <= 2 => Err(Status::unavailable("backend restarting")),
        "flaky" => reply("recovered"),
        "exhausted" if call == 1 => Err(with_pushback(
            Code::ResourceExhausted,
            "quota: 10 rps",
            "250",
        )),
        "exhausted" => reply("quota refilled"),
        "pushback-negative" => Err(with_pushback(
            Code::Unavailable,
            "draining, go elsewhere",
            "-1",
        )),
        "denied" => Err(Status::permission_denied("caller lacks echo.say")),
        "unauthenticated" => Err(Status::unauthenticated("token expired")),
        // As a server's auth interceptor answers: a trailers-only
        // UNAUTHENTICATED to any credential but the one it accepts.
        "authenticated" if credential == Some(ACCEPTED) => reply("welcome"),
        "authenticated" => Err(Status::unauthenticated("invalid token")),
        "missing" => Err(Status::not_found("no such echo")),
        "invalid" => Err(Status::invalid_argument(
            "scenario must be lowercase: ÉCHO 100%",
        )),
        "exists" => Err(Status::already_exists("echo already exists")),
        "precondition" => Err(Status::failed_precondition("echo is archived")),
        "deadline" => Err(Status::deadline_exceeded("too slow")),
        // A server quoting the credential it refuses: in its message, and
        // in rich details (a field violation, an `ErrorInfo`'s metadata).
        "echo-credential" => Err(echoing(credential.unwrap_or_default())),
        _ => Err(Status::unimplemented("unknown scenario")),
    }
}

/// An UNAUTHENTICATED status quoting `credential` as a tonic server
/// writes one (`grpc-message` percent-encoded, details in
/// `grpc-status-details-bin`): the token without its scheme, a `Basic`
/// one as it decoded it (`user:password`).
fn echoing(credential: &str) -> Status {
    use base64::Engine;
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
    let (scheme, token) = credential.split_once(' ').unwrap_or(("", credential));
    let quoted = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(token);
        String::from_utf8(decoded.unwrap()).unwrap()
    } else {
        token.to_owned()
    };
    let violation = FieldViolation::new("authorization", format!("not valid: {quoted}"));
    let mut details = ErrorDetails::with_bad_request(vec![violation]);
    let metadata = [("credential".to_owned(), quoted.clone())];
    details.set_error_info("CREDENTIAL_INVALID", "echo.test", metadata);
    let message = format!("invalid credential — {quoted}");
    Status::with_error_details(Code::Unauthenticated, message, details)
}

/// `Say`, as a tower service over tonic requests.
#[derive(Clone)]
struct Say(Echo);

impl tower::Service<tonic::Request<EchoRequest>> for Say {
    type Response = tonic::Response<EchoReply>;
    type Error = Status;
    type Future = std::future::Ready<Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<EchoRequest>) -> Self::Future {
        let credential = request.metadata().get("authorization").cloned();
        let credential = credential.as_ref().and_then(|value| value.to_str().ok());
        let scenario = request.into_inner().scenario;
        let call = self.0.count(&scenario);
        std::future::ready(answer(&scenario, call, credential).map(tonic::Response::new))
    }
}

/// `Stream`: one message, then a failure in the trailers.
#[derive(Clone)]
struct StreamThenFail(Echo);

type ReplyStream = tokio_stream::Iter<std::vec::IntoIter<Result<EchoReply, Status>>>;

impl tonic::server::ServerStreamingService<EchoRequest> for StreamThenFail {
    type Response = EchoReply;
    type ResponseStream = ReplyStream;
    type Future = std::future::Ready<Result<tonic::Response<ReplyStream>, Status>>;

    fn call(&mut self, request: tonic::Request<EchoRequest>) -> Self::Future {
        self.0.count(&request.into_inner().scenario);
        let items = vec![
            Ok(EchoReply {
                message: "first".into(),
            }),
            Err(Status::unavailable("lost the backend mid-stream")),
        ];
        std::future::ready(Ok(tonic::Response::new(tokio_stream::iter(items))))
    }
}

impl tonic::server::NamedService for Echo {
    const NAME: &'static str = "demo.Echo";
}

impl tower::Service<http::Request<Body>> for Echo {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let echo = self.clone();
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<EchoReply, EchoRequest>::default());
            let response = match request.uri().path() {
                "/demo.Echo/Say" => grpc.unary(Say(echo), request).await,
                "/demo.Echo/Stream" => grpc.server_streaming(StreamThenFail(echo), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok(response)
        })
    }
}

/// Serves `echo` with tonic on 127.0.0.1 (port 0).
pub async fn serve(echo: Echo) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(echo)
            .serve_with_incoming(incoming),
    );
    addr
}

/// Serves a fresh `Echo` and connects a tonic `Channel` to it.
pub async fn start() -> (Echo, tonic::transport::Channel) {
    let echo = Echo::default();
    let addr = serve(echo.clone()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (echo, channel)
}

/// The codec for calls to `Say` and `Stream`.
pub fn codec() -> ProstCodec<EchoRequest, EchoReply> {
    ProstCodec::default()
}

/// One length-prefixed gRPC message (gRPC over HTTP/2: an uncompressed
/// flag byte, a 4-byte big-endian length, the message).
pub fn frame(message: &impl prost::Message) -> bytes::Bytes {
    use bytes::BufMut;
    let bytes = message.encode_to_vec();
    let mut frame = bytes::BytesMut::with_capacity(5 + bytes.len());
    frame.put_u8(0);
    frame.put_u32(bytes.len() as u32);
    frame.put_slice(&bytes);
    frame.freeze()
}

/// A raw `Say` call of one message to `base`, with `grpc-timeout:
/// timeout`, as a tonic client sends it.
pub fn raw_say(base: &str, timeout: &str) -> http::Request<Body> {
    let message = frame(&EchoRequest {
        scenario: "a".into(),
    });
    http::Request::post(format!("{base}/demo.Echo/Say"))
        .header("grpc-timeout", timeout)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::new(http_body_util::Full::new(message)))
        .unwrap()
}
