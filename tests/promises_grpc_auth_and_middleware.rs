//! The crate's promises through a real tonic `Channel` (the README's tonic
//! line), through `ApiErrorsMiddleware` in a reqwest-middleware chain, and
//! for an auth layer whose identity provider hangs: real servers on
//! loopback. Each test names the promise it checks.
#![cfg(all(feature = "grpc", feature = "reqwest-middleware"))]

#[path = "support/echo.rs"]
mod echo;
#[path = "support/full_stack.rs"]
mod full_stack;
#[allow(dead_code)] // The suites share it; each uses its own part.
#[path = "support/idp.rs"]
mod idp;
mod support;

use bytes::Bytes;
use echo::{EchoReply, EchoRequest};
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{bounded, quick_exact, response, serve, BoxError, Frames, ServerBody};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tower::{Layer, ServiceExt};
use tower_api_errors::auth::{
    AuthFailure, AuthLayer, Credential, StaticToken, TokenFuture, TokenSource,
};
use tower_api_errors::reqwest::{ApiErrorsMiddleware, MiddlewareErrorExt, ReqwestClient};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ApiErrorsLayer, Error, RetryPolicy};

// ------------------------------------------------------------------ servers

/// What a test server saw: each request's headers and body.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

impl Seen {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn body(&self, i: usize) -> Bytes {
        self.0.lock().unwrap()[i].1.clone()
    }
}

/// A server on loopback (HTTP/1 and HTTP/2) that records each request and
/// answers the `n`-th (from 0) with `answer(n, its headers)`.
async fn recording<F>(answer: F) -> (String, Seen)
where
    F: Fn(usize, &HeaderMap) -> Response<ServerBody> + Send + Sync + 'static,
{
    let seen = Seen::default();
    let record = seen.clone();
    let answer = Arc::new(answer);
    let addr = serve(move |request: Request<Incoming>| {
        let (record, answer) = (record.clone(), answer.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes());
            let n = {
                let mut seen = record.0.lock().unwrap();
                seen.push((parts.headers.clone(), body.unwrap_or_default()));
                seen.len() - 1
            };
            answer(n, &parts.headers)
        }
    })
    .await;
    (format!("http://{addr}"), seen)
}

/// A server that takes requests and never answers them.
async fn hanging() -> String {
    let addr = serve(|_request: Request<Incoming>| std::future::pending()).await;
    format!("http://{addr}")
}

/// A trailers-only gRPC answer: `code`, `message` (percent-encoded as
/// gRPC sends it) and the `extra` headers.
fn trailers_only(code: u32, message: &str, extra: &[(&str, &str)]) -> Response<ServerBody> {
    let code = code.to_string();
    let message =
        percent_encoding::utf8_percent_encode(message, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut headers = vec![
        ("content-type", "application/grpc"),
        ("grpc-status", code.as_str()),
        ("grpc-message", message.as_str()),
    ];
    headers.extend_from_slice(extra);
    response(200, &headers, Bytes::new())
}

/// A gRPC answer that carries one `EchoReply`, then `trailers`.
fn answered(text: &str, trailers: &[(&'static str, &'static str)]) -> Response<ServerBody> {
    let reply = EchoReply {
        message: text.into(),
    };
    let mut map = HeaderMap::new();
    for (name, value) in trailers {
        map.insert(*name, value.parse().unwrap());
    }
    let frames = vec![
        Ok(Frame::data(echo::frame(&reply))),
        Ok(Frame::trailers(map)),
    ];
    let body = Frames::<BoxError>::new(frames).boxed();
    let mut answer = Response::new(body);
    answer
        .headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    answer
}

/// A gRPC `OK` answer carrying `text`.
fn grpc_ok(text: &str) -> Response<ServerBody> {
    answered(text, &[("grpc-status", "0")])
}

/// `grpc-status-details-bin` of a status with these rich details.
fn details_bin(details: Vec<tonic_types::ErrorDetail>) -> String {
    use base64::Engine;
    use tonic_types::StatusExt;
    let status = Status::with_error_details_vec(Code::Unknown, "", details);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.details())
}

/// `grpc-status-details-bin` holding one `RetryInfo` of `delay`.
fn retry_info(delay: Duration) -> String {
    let info = tonic_types::RetryInfo::new(Some(delay));
    details_bin(vec![tonic_types::ErrorDetail::from(info)])
}

// ------------------------------------------------------------------ tonic

/// A tonic `Channel` connected to `base`.
async fn channel(base: &str) -> Channel {
    let endpoint = Endpoint::from_shared(base.to_owned()).unwrap();
    endpoint.connect().await.unwrap()
}

/// The README's tonic line: `$layer` around `$channel`, its errors
/// `tonic::Status`es (`grpc::into_status`).
macro_rules! readme_line {
    ($layer:expr, $channel:expr) => {
        $layer
            .layer($channel.map_request(to_body))
            .map_err(tower_api_errors::grpc::into_status)
    };
}

/// The README's `map_request`: the retry layer's replayable body as
/// tonic's.
fn to_body(request: Request<ReplayBody<tonic::body::Body>>) -> Request<tonic::body::Body> {
    request.map(tonic::body::Body::new)
}

/// The README's tonic line with `policy` and no other layer.
async fn plain_line(base: &str, policy: RetryPolicy) -> impl GrpcStack {
    readme_line!(ApiErrorsLayer::new().retry(policy), channel(base).await)
}

/// The README's tonic line with the auth layer over `source`.
async fn auth_line(base: &str, policy: RetryPolicy, source: AuthLayer) -> impl GrpcStack {
    let layer = ApiErrorsLayer::new().retry(policy).auth(source);
    readme_line!(layer, channel(base).await)
}

/// A service a tonic client sends calls through.
trait GrpcStack:
    tonic::client::GrpcService<
        tonic::body::Body,
        ResponseBody: Send + 'static + http_body::Body<Error: Into<BoxError> + Send>,
        Error: Into<BoxError>,
    > + Send
    + 'static
{
}

impl<S> GrpcStack for S where
    S: tonic::client::GrpcService<
            tonic::body::Body,
            ResponseBody: Send + 'static + http_body::Body<Error: Into<BoxError> + Send>,
            Error: Into<BoxError>,
        > + Send
        + 'static
{
}

/// A tonic client over `stack`, ready.
async fn ready<S>(stack: S) -> tonic::client::Grpc<S>
where
    S: GrpcStack,
{
    let mut client = tonic::client::Grpc::new(stack);
    let ready: Result<(), BoxError> = client.ready().await.map_err(Into::into);
    ready.unwrap();
    client
}

/// One unary `Say` call of `request` through `stack`: the reply's text.
async fn say<S>(stack: S, request: tonic::Request<EchoRequest>) -> Result<String, Status>
where
    S: GrpcStack,
{
    let mut client = ready(stack).await;
    let call = client.unary(request, echo::SAY, echo::codec());
    let reply = bounded("the call", call).await?;
    Ok(reply.into_inner().message)
}

/// A request for `scenario`, with `timeout` (`grpc-timeout`) if any.
fn req(scenario: &str, timeout: Option<Duration>) -> tonic::Request<EchoRequest> {
    let mut request = tonic::Request::new(EchoRequest {
        scenario: scenario.into(),
    });
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    request
}

/// A retry policy for gRPC: quick exact backoff, and retries on (every
/// gRPC call is a POST).
fn quick() -> RetryPolicy {
    quick_exact().retry_non_idempotent(true)
}

/// `policy`, and the waits the retry layer chose (`on_retry`).
fn waits_of(policy: RetryPolicy) -> (RetryPolicy, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let record = waits.clone();
    let policy = policy.on_retry(move |event| record.lock().unwrap().push(event.delay()));
    (policy, waits)
}

/// The typed error behind a status (`into_status`: "Either way the typed
/// `Error` is the status's source").
fn typed(status: &Status) -> &Error {
    let source = std::error::Error::source(status).expect("a source");
    source.downcast_ref::<Error>().expect("the typed error")
}

/// Everything a status prints: its message, metadata, `Debug`, and every
/// source's `Display` and `Debug`.
fn printed(status: &Status) -> String {
    let (message, metadata) = (status.message(), status.metadata());
    let chain = support::error_text(status);
    format!("{message} | {metadata:?} | {chain}")
}

/// A gRPC server answering every call trailers-only `code`, echoing the
/// call's `authorization` in its message and in two metadata entries.
async fn echoing_the_credential(code: u32) -> (String, Seen) {
    recording(move |_, headers| {
        let token = headers.get("authorization").map(|v| v.to_str().unwrap());
        let token = token.unwrap_or_default().to_owned();
        let echoed = [("x-echo", token.as_str()), ("x-api-key", token.as_str())];
        trailers_only(code, &format!("token {token} revoked"), &echoed)
    })
    .await
}

/// A gRPC server answering every call trailers-only `UNAUTHENTICATED`.
async fn rejecting_every_credential() -> (String, Seen) {
    recording(|_, _| trailers_only(16, "invalid token", &[])).await
}

/// A gRPC server answering its first call trailers-only `UNAVAILABLE`,
/// every later one `OK` with `text`.
async fn unavailable_once_then_ok(text: &'static str) -> (String, Seen) {
    recording(move |n, _| match n {
        0 => trailers_only(14, "x", &[]),
        _ => grpc_ok(text),
    })
    .await
}

/// A token source whose first credential (`first_load_hangs`) or renewal
/// never comes; the other is `tok_old` at once.
struct Hangs {
    first_load_hangs: bool,
}

impl TokenSource for Hangs {
    fn current(&self) -> TokenFuture<'_> {
        let hangs = self.first_load_hangs;
        Box::pin(async move {
            if hangs {
                std::future::pending::<()>().await;
            }
            Ok(Credential::new("tok_old")?)
        })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        Box::pin(std::future::pending())
    }
}

// ------------------------------------------------------------------ gRPC

/// `src/grpc/dialect.rs:22-28`: a rich `RetryInfo` detail's `retry_delay`
/// "is the hint (as the body's; a pushback header wins)"; with no
/// `grpc-retry-pushback-ms` it is the wait, exactly, before the re-send
/// through a real `Channel`; with one, the pushback's wait is, and a
/// negative pushback ("do not retry", gRFC A6) sends nothing again.
#[tokio::test]
async fn a_retry_info_detail_is_the_wait_unless_a_pushback_says_otherwise() {
    let ms = Duration::from_millis;
    for (pushback, sends, waited) in [
        (None, 2, vec![ms(300)]),
        (Some("100"), 2, vec![ms(100)]),
        (Some("-1"), 1, vec![]),
    ] {
        let details = retry_info(ms(300));
        let (base, seen) = recording(move |n, _| match n {
            0 => {
                let mut extra = vec![("grpc-status-details-bin", details.as_str())];
                extra.extend(pushback.map(|ms| ("grpc-retry-pushback-ms", ms)));
                trailers_only(14, "busy", &extra)
            }
            _ => grpc_ok("ok"),
        })
        .await;
        let (policy, waits) = waits_of(quick());
        let answer = say(plain_line(&base, policy).await, req("a", None)).await;
        assert_eq!(answer.is_ok(), sends == 2, "{pushback:?}: {answer:?}");
        assert_eq!(seen.count(), sends, "{pushback:?}");
        assert_eq!(*waits.lock().unwrap(), waited, "{pushback:?}");
    }
}

/// `RetryPolicy::max_retry_after` (src/retry/policy.rs:291-293): a longer
/// hint "is not slept on: the caller gets the error at once, hint
/// included"; `into_status` (src/grpc/convert.rs:114-115) gives the
/// server's status "as tonic reads it (its code, message, details ...)".
#[tokio::test]
async fn a_retry_info_past_max_retry_after_fails_fast_with_the_servers_status() {
    use tonic_types::StatusExt;
    let details = retry_info(Duration::from_secs(3600));
    let (base, seen) = recording(move |_, _| {
        trailers_only(8, "daily quota", &[("grpc-status-details-bin", &details)])
    })
    .await;
    let policy = quick().max_retry_after(Duration::from_secs(60));
    let started = Instant::now();
    let status = say(plain_line(&base, policy).await, req("a", None)).await;
    let status = status.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "not slept on");
    assert_eq!(seen.count(), 1);
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "daily quota");
    let info = status.get_details_retry_info().expect("RetryInfo kept");
    assert_eq!(info.retry_delay, Some(Duration::from_secs(3600)));
}

/// The status table (src/grpc/mod.rs:10-22): only `RESOURCE_EXHAUSTED`
/// (8) and `UNAVAILABLE` (14) are retried; and the README's line keeps the
/// server's code (src/grpc/mod.rs:38-43). Every code from 1 to 16,
/// trailers-only, through a real `Channel`.
#[tokio::test]
async fn every_code_reaches_the_caller_intact_and_only_8_and_14_are_resent() {
    for code in 1..=16 {
        let (base, seen) = recording(move |_, _| trailers_only(code, "m", &[])).await;
        let stack = plain_line(&base, quick().max_attempts(2)).await;
        let status = say(stack, req("a", None)).await.unwrap_err();
        assert_eq!(status.code(), Code::from(code as i32), "code {code}");
        let sends = if code == 8 || code == 14 { 2 } else { 1 };
        assert_eq!(seen.count(), sends, "code {code}");
    }
}

/// src/grpc/mod.rs:3-7: a trailers-only failure is classified "as soon as
/// the response starts, exactly like an HTTP status" — a server-streaming
/// call answered trailers-only `UNAVAILABLE` is retried, and the caller
/// reads the stream of the answer that succeeded.
#[tokio::test]
async fn a_trailers_only_unavailable_on_a_server_streaming_call_is_retried() {
    let (base, seen) = unavailable_once_then_ok("streamed").await;
    let mut client = ready(plain_line(&base, quick()).await).await;
    let call = client.server_streaming(req("a", None), echo::STREAM, echo::codec());
    let mut stream = bounded("the call", call).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "streamed");
    assert!(stream.message().await.unwrap().is_none());
    assert_eq!(seen.count(), 2);
}

/// `ReqwestClient`/`ReplayBody` (src/reqwest/mod.rs:11-13: "an upload is
/// sent again on a retry"), for gRPC: a client-streaming call's messages,
/// in a body the retry layer replays, go again whole and in order.
#[tokio::test]
async fn a_client_streaming_call_is_replayed_whole_on_a_retry() {
    let (base, seen) = unavailable_once_then_ok("got all").await;
    let mut client = ready(plain_line(&base, quick()).await).await;
    let messages: Vec<EchoRequest> = (0..3)
        .map(|i| EchoRequest {
            scenario: format!("m{i}"),
        })
        .collect();
    let request = tonic::Request::new(tokio_stream::iter(messages.clone()));
    let call = client.client_streaming(request, echo::SAY, echo::codec());
    let reply = bounded("the call", call).await.unwrap();
    assert_eq!(reply.into_inner().message, "got all");
    let expected: Vec<u8> = messages
        .iter()
        .flat_map(|m| echo::frame(m).to_vec())
        .collect();
    assert_eq!(seen.count(), 2);
    assert_eq!(seen.body(0), expected);
    assert_eq!(seen.body(1), expected);
}

/// src/grpc/mod.rs:29-31 ("a call whose response already carried
/// messages ... is never retried") and `ReplayBody` (the copy is made as
/// the body streams, not up front): a bidirectional call whose caller
/// sends each message only after the reply to the previous one, through
/// the README's line with the auth layer, is neither held nor buffered:
/// each reply arrives, and the call ends once, `OK`.
#[tokio::test]
async fn a_bidirectional_ping_pong_call_is_streamed_through_untouched() {
    use tokio_stream::wrappers::ReceiverStream;
    // Echoes each gRPC frame as it arrives (an `EchoRequest` reads as an
    // `EchoReply`: both are one string in field 1), then `OK`.
    let addr = serve(|request: Request<Incoming>| async move {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        tokio::spawn(async move {
            let mut body = request.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if tx.send(Ok(Frame::data(data))).await.is_err() {
                    return;
                }
            }
            let ok = HeaderMap::from_iter([("grpc-status".parse().unwrap(), "0".parse().unwrap())]);
            let _ = tx.send(Ok(Frame::trailers(ok))).await;
        });
        let body = http_body_util::StreamBody::new(ReceiverStream::new(rx)).boxed();
        let answer = Response::builder().header("content-type", "application/grpc");
        answer.body(body).unwrap()
    })
    .await;
    let token = Credential::new("tok_live_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
    let source = AuthLayer::new(StaticToken::new(token));
    let stack = auth_line(&format!("http://{addr}"), quick(), source).await;
    let mut client = ready(stack).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let chat = http::uri::PathAndQuery::from_static("/demo.Echo/Chat");
    let request = tonic::Request::new(ReceiverStream::new(rx));
    let call = client.streaming(request, chat, echo::codec());
    let mut replies = bounded("the call", call).await.unwrap().into_inner();
    for i in 0..3 {
        let scenario = format!("m{i}");
        tx.send(EchoRequest { scenario }).await.unwrap();
        let reply = bounded("a reply", replies.message()).await.unwrap();
        assert_eq!(reply.unwrap().message, format!("m{i}"));
    }
    drop(tx);
    assert!(bounded("the end", replies.message())
        .await
        .unwrap()
        .is_none());
}

/// src/grpc/mod.rs:55-59 (a call's `grpc-timeout` bounds its retries; gRFC
/// A6: the deadline applies to the call, retries included): an `UNAVAILABLE` whose
/// `grpc-retry-pushback-ms` outlasts the call's `grpc-timeout` is not
/// waited on; the caller gets the server's status at once, its rich
/// details intact.
#[tokio::test]
async fn a_pushback_past_the_calls_grpc_timeout_ends_the_call_with_the_servers_status() {
    use tonic_types::StatusExt;
    let info = tonic_types::ErrorInfo::new("DRAINING", "example.com", HashMap::new());
    let details = details_bin(vec![tonic_types::ErrorDetail::from(info)]);
    let (base, seen) = recording(move |_, _| {
        let extra = [
            ("grpc-retry-pushback-ms", "5000"),
            ("grpc-status-details-bin", details.as_str()),
        ];
        trailers_only(14, "draining", &extra)
    })
    .await;
    let started = Instant::now();
    let call = req("a", Some(Duration::from_millis(300)));
    let status = say(plain_line(&base, quick()).await, call)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "not waited on");
    assert_eq!(seen.count(), 1);
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, "draining")
    );
    let info = status.get_details_error_info().expect("ErrorInfo kept");
    assert_eq!(info.reason, "DRAINING");
}

/// `into_status` (src/grpc/convert.rs:114-123): a proxy's 502 without a
/// `grpc-status` is `UNAVAILABLE` (retried, as the table retries a 502),
/// with "the error's one-line `Display`" as the message, not its HTML page.
#[tokio::test]
async fn a_proxys_html_502_is_unavailable_retried_and_its_message_one_line() {
    let page = "<html><head><title>502 Bad Gateway</title></head><body>\
                <center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
    let (base, seen) =
        recording(move |_, _| response(502, &[("content-type", "text/html")], page)).await;
    let status = say(plain_line(&base, quick()).await, req("a", None)).await;
    let status = status.unwrap_err();
    assert_eq!(seen.count(), 3, "the default three attempts");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(!status.message().contains("<html>"), "{}", status.message());
}

/// src/grpc/mod.rs:63-65: the auth layer renews on `UNAUTHENTICATED` "and
/// sends again, once"; the auth module's "Secrets" (src/auth/mod.rs:
/// 97-100): "No error ... holds [a credential]". A server rejecting both
/// credentials and echoing each: the caller gets `UNAUTHENTICATED` after
/// two sends, and nothing it prints holds either credential.
#[tokio::test]
async fn a_renewed_credential_rejected_again_ends_unauthenticated_and_unprinted() {
    let (base, seen) = echoing_the_credential(16).await;
    let source = support::Rotating::new(Duration::ZERO);
    let stack = auth_line(&base, quick(), AuthLayer::new(source.clone())).await;
    let status = say(stack, req("hello", None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(seen.count(), 2, "one send, one re-send");
    assert_eq!(source.refreshes.load(SeqCst), 1);
    let printed = printed(&status);
    for secret in ["tok_old", "tok_new"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}

/// The auth module's "Secrets" (src/auth/mod.rs:97-100) and `into_status`
/// ("credentials redacted", src/grpc/convert.rs:122-123): a server echoing
/// a static credential in its `PERMISSION_DENIED` message and metadata —
/// neither the status's message, its metadata nor its typed source holds it.
#[tokio::test]
async fn a_status_echoing_the_credential_holds_none_of_it() {
    let (base, _) = echoing_the_credential(7).await;
    let token = StaticToken::new(Credential::new("sk_live_SECRET42").unwrap());
    let stack = auth_line(&base, quick(), AuthLayer::new(token)).await;
    let status = say(stack, req("a", None)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let printed = printed(&status);
    assert!(!printed.contains("SECRET42"), "{printed}");
}

/// src/grpc/mod.rs:29-31: "a call whose response already carried messages
/// has its `grpc-status` in the trailers, is not a failure by its headers,
/// and is never retried" — nor renewed: an `UNAUTHENTICATED` in the
/// trailers after a message costs no refresh and no second send.
#[tokio::test]
async fn an_unauthenticated_after_a_message_is_not_renewed() {
    let trailers = [("grpc-status", "16"), ("grpc-message", "expired")];
    let (base, seen) = recording(move |_, _| answered("first", &trailers)).await;
    let source = support::Rotating::new(Duration::ZERO);
    let stack = auth_line(&base, quick(), AuthLayer::new(source.clone())).await;
    let mut client = ready(stack).await;
    let call = client.server_streaming(req("a", None), echo::STREAM, echo::codec());
    let mut stream = bounded("the call", call).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "first");
    assert_eq!(
        stream.message().await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!((seen.count(), source.refreshes.load(SeqCst)), (1, 0));
}

/// `into_status` (src/grpc/convert.rs:119-120): "a call its deadline cut
/// (the call's `grpc-timeout`, ...): `DEADLINE_EXCEEDED`". A call of 200 ms
/// to a server that never answers, through a real `Channel`: whichever
/// timer fires first (the retry layer's deadline or tonic's own
/// `grpc-timeout` timer), the error is a deadline and the status
/// `DEADLINE_EXCEEDED`.
#[tokio::test]
async fn a_calls_grpc_timeout_through_a_real_channel_ends_deadline_exceeded() {
    let base = hanging().await;
    let layer = ApiErrorsLayer::new().retry(quick());
    let stack = layer.layer(channel(&base).await.map_request(to_body));
    let error = bounded("the call", stack.oneshot(echo::raw_say(&base, "200m"))).await;
    let error = error.unwrap_err();
    let cut = error.transport().is_some_and(|cut| cut.is_deadline());
    assert!(cut, "a transport error, a deadline: {error:?}");
    let code = tower_api_errors::grpc::into_status(error).code();
    assert_eq!(code, Code::DeadlineExceeded);
}

/// The same promise (src/grpc/convert.rs:119-120, "the retry policy's
/// deadline"): `RetryPolicy::deadline` cutting a call to a server that
/// never answers reaches the tonic caller as `DEADLINE_EXCEEDED`.
#[tokio::test]
async fn the_policys_deadline_through_a_real_channel_ends_deadline_exceeded() {
    let base = hanging().await;
    let policy = quick().deadline(Duration::from_millis(300));
    let status = say(plain_line(&base, policy).await, req("a", None)).await;
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// `RetryPolicy::deadline` (src/retry/policy.rs:296-299): "With feature
/// `grpc`, a gRPC call's own `grpc-timeout` bounds it too"; here a renewal
/// that never ends: the call ends at its 300 ms, `DEADLINE_EXCEEDED`, with
/// no re-send.
#[tokio::test]
async fn a_renewal_outlasting_the_calls_grpc_timeout_ends_the_call() {
    let (base, seen) = rejecting_every_credential().await;
    let source = AuthLayer::new(Hangs {
        first_load_hangs: false,
    });
    let stack = auth_line(&base, quick(), source).await;
    let started = Instant::now();
    let status = say(stack, req("a", Some(Duration::from_millis(300)))).await;
    let status = status.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(seen.count(), 1, "no re-send past the deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// The auth module's pitfall table (src/auth/mod.rs:24): "a body too large
/// to replay is not re-sent, and the error says so
/// (`AuthFailure::BodyNotReplayable`)" — a gRPC client stream past
/// `max_replay_bytes`, rejected `UNAUTHENTICATED`.
#[tokio::test]
async fn a_client_stream_too_large_to_replay_is_not_resent_and_says_so() {
    let (base, seen) = rejecting_every_credential().await;
    let source = support::Rotating::new(Duration::ZERO);
    let policy = quick().max_replay_bytes(16);
    let stack = auth_line(&base, policy, AuthLayer::new(source)).await;
    let mut client = ready(stack).await;
    let messages: Vec<EchoRequest> = (0..4)
        .map(|i| EchoRequest {
            scenario: format!("message number {i} is long enough"),
        })
        .collect();
    let request = tonic::Request::new(tokio_stream::iter(messages));
    let call = client.client_streaming(request, echo::SAY, echo::codec());
    let status = bounded("the call", call).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(seen.count(), 1);
    let Error::Unauthorized(failure) = typed(&status) else {
        panic!("{status:?}")
    };
    assert_eq!(failure.reason(), AuthFailure::BodyNotReplayable);
}

/// src/grpc/mod.rs:24-25: "a negative or malformed pushback means 'do not
/// retry'"; a longer hint than `max_retry_after` fails fast. A pushback
/// too large for any clock (twenty digits) is sent once and ends at once,
/// `UNAVAILABLE`.
#[tokio::test]
async fn a_pushback_too_large_for_any_clock_fails_fast() {
    let huge = [("grpc-retry-pushback-ms", "99999999999999999999")];
    let (base, seen) = recording(move |_, _| trailers_only(14, "x", &huge)).await;
    let policy = quick().max_retry_after(Duration::from_secs(60));
    let started = Instant::now();
    let status = say(plain_line(&base, policy).await, req("a", None)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(seen.count(), 1);
    assert_eq!(status.unwrap_err().code(), Code::Unavailable);
}

/// `into_status` (src/grpc/convert.rs:107-110 and its example): a transport
/// failure is `UNAVAILABLE` for a tonic caller, not `UNKNOWN` — a refused
/// connection through a lazily connected `Channel`.
#[tokio::test]
async fn a_refused_connection_reaches_a_tonic_caller_as_unavailable() {
    let endpoint = Endpoint::from_shared(format!("http://{}", support::refused_addr()));
    let channel = endpoint.unwrap().connect_lazy();
    let stack = readme_line!(ApiErrorsLayer::new().retry(quick()), channel);
    let status = say(stack, req("a", None)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

// ------------------------------------------------------------------ reqwest-middleware

/// A reqwest-middleware client with ours, retrying with `policy`.
fn middleware_client(policy: RetryPolicy) -> reqwest_middleware::ClientWithMiddleware {
    let ours = ApiErrorsMiddleware::with_layer(ApiErrorsLayer::new().retry(policy));
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ours)
        .build()
}

/// src/reqwest/mod.rs:11-13: request bodies "are the retry layer's
/// replayable copies, streamed ... so an upload is sent again on a retry
/// without being buffered up front" — a streamed, keyed POST through the
/// middleware goes again byte-identical.
#[tokio::test]
async fn a_streamed_keyed_post_through_the_middleware_is_replayed_identically() {
    let (base, seen) = recording(|n, _| match n {
        0 => response(503, &[], "down"),
        _ => response(201, &[], "made"),
    })
    .await;
    let body = reqwest::Body::wrap(Frames::<std::io::Error>::chunks(&[
        "chunk-1;", "chunk-2;", "chunk-3",
    ]));
    let post = middleware_client(quick_exact())
        .post(format!("{base}/x"))
        .header("idempotency-key", "k1")
        .body(body);
    let answer = bounded("the post", post.send()).await.unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(seen.count(), 2);
    assert_eq!(seen.body(0), "chunk-1;chunk-2;chunk-3");
    assert_eq!(seen.body(1), seen.body(0));
}

/// src/reqwest/mod.rs:89-91: "the retry policy's `deadline` bounds the
/// whole call" — through the middleware, to a server that never answers.
#[tokio::test]
async fn the_policys_deadline_bounds_a_middleware_call() {
    let base = hanging().await;
    let client = middleware_client(quick_exact().deadline(Duration::from_millis(300)));
    let started = Instant::now();
    let sent = bounded("the call", client.get(format!("{base}/x")).send()).await;
    assert!(sent.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// `ReplayBody` (src/replay.rs:27-32): the retry layer "gives up rather
/// than send a partial body", and a body "whose own stream failed" is not
/// replayed either: a caller's upload failing midway through the
/// middleware ends after one attempt, typed.
#[tokio::test]
async fn a_callers_upload_failing_midway_through_the_middleware_is_not_retried() {
    let (base, seen) = recording(|_, _| response(200, &[], "ok")).await;
    let frames = vec![
        Ok(Frame::data(Bytes::from_static(b"part"))),
        Err(std::io::Error::other("disk gone")),
    ];
    let body = reqwest::Body::wrap(Frames::new(frames));
    let put = middleware_client(quick_exact())
        .put(format!("{base}/x"))
        .body(body);
    let error = bounded("the put", put.send()).await.unwrap_err();
    let typed = error.typed_error().expect("typed");
    assert_eq!(typed.retries().attempts(), 1, "{typed:?}");
    assert!(seen.count() <= 1);
}

/// A middleware that fails every call with its own error.
struct Failing;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Failing {
    async fn handle(
        &self,
        _: reqwest::Request,
        _: &mut http::Extensions,
        _: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let error = anyhow::anyhow!("signing key missing");
        Err(reqwest_middleware::Error::Middleware(error))
    }
}

/// `redact_below` (src/reqwest/middleware.rs:387-391): a middleware's
/// error from below reaches the caller with its URLs redacted, its own
/// text kept.
#[tokio::test]
async fn a_failing_middleware_below_keeps_its_message() {
    let ours = ApiErrorsMiddleware::with_layer(ApiErrorsLayer::new().retry(quick_exact()));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ours)
        .with(Failing)
        .build();
    let url = format!("http://{}/x", support::refused_addr());
    let error = client.get(url).send().await.unwrap_err();
    let text = format!("{error} {error:?} {}", support::error_text(&error));
    assert!(text.contains("signing key missing"), "{text}");
}

/// One call's outcome as the three clients' tests compare it.
fn outcome<B>(result: Result<Response<B>, Error>) -> String {
    match result {
        Ok(answer) => format!("ok {}", answer.status()),
        Err(error) => typed_outcome(&error),
    }
}

/// A typed failure as the three clients' tests compare it: its kind, its
/// API message and its attempts.
fn typed_outcome(error: &Error) -> String {
    let message = error.api().map(|api| api.message().to_owned());
    let attempts = error.retries().attempts();
    format!("{:?} {message:?} {attempts}", error.kind())
}

/// `url` sent through the stack over hyper-util (0), `ReqwestClient` (1)
/// or `ApiErrorsMiddleware` (2): the outcome.
async fn through(which: usize, url: &str) -> String {
    let layer = ApiErrorsLayer::new().retry(quick_exact());
    let get = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    match which {
        0 => {
            let client = support::client::<ReplayBody<Full<Bytes>>>();
            outcome(layer.client(client).oneshot(get).await)
        }
        1 => {
            let client = ReqwestClient::new(reqwest::Client::new());
            outcome(layer.layer(client).oneshot(get).await)
        }
        _ => match middleware_client(quick_exact()).get(url).send().await {
            Ok(answer) => format!("ok {}", answer.status()),
            Err(error) => typed_outcome(error.typed_error().expect("typed")),
        },
    }
}

/// src/reqwest/mod.rs:1-7 and `ApiErrorsMiddleware` (src/reqwest/
/// middleware.rs:19-22): the same stack around every client. The same
/// server behaviours through hyper-util, `ReqwestClient` and the
/// middleware: the same sends and the same outcome.
#[tokio::test]
async fn hyper_util_reqwest_and_the_middleware_agree() {
    type Script = fn(usize) -> Response<ServerBody>;
    let scripts: [(&str, Script); 5] = [
        ("502 html", |_| {
            let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
            response(502, &[("content-type", "text/html")], page)
        }),
        ("404 json", |_| {
            let json = [("content-type", "application/json")];
            response(404, &json, r#"{"error":"gone"}"#)
        }),
        ("429 then ok", |n| match n {
            0 => response(429, &[("retry-after-ms", "20")], ""),
            _ => response(200, &[], "ok"),
        }),
        ("401", |_| {
            let json = [("content-type", "application/json")];
            response(
                401,
                &json,
                r#"{"error":"invalid_token","error_description":"expired"}"#,
            )
        }),
        ("413 retry-after", |n| match n {
            0 => response(413, &[("retry-after", "0")], "too big"),
            _ => response(200, &[], "ok"),
        }),
    ];
    for (name, script) in scripts {
        let mut row = Vec::new();
        for which in 0..3 {
            let (base, seen) = recording(move |n, _| script(n)).await;
            let outcome = through(which, &format!("{base}/v1/x")).await;
            row.push(format!("{outcome} sends={}", seen.count()));
        }
        assert!(row[0] == row[1] && row[1] == row[2], "{name}: {row:#?}");
    }
}

// ------------------------------------------------------------------ auth

/// `RetryPolicy::deadline` (src/retry/policy.rs:296-298): "The total time
/// for all attempts and waits": a first credential that never loads ends
/// the call at its 300 ms deadline, not at the 10 s refresh timeout, and
/// nothing is sent.
#[tokio::test]
async fn a_first_credential_hanging_past_the_calls_deadline_ends_it_there() {
    let (api, seen) = recording(|_, _| response(200, &[], "ok")).await;
    let auth = AuthLayer::new(Hangs {
        first_load_hangs: true,
    });
    let client = ApiErrorsLayer::new()
        .retry(quick_exact().deadline(Duration::from_millis(300)))
        .auth(auth)
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let get = Request::get(format!("{api}/x"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let started = Instant::now();
    let result = bounded("the call", client.oneshot(get)).await;
    let took = started.elapsed();
    assert!(result.is_err());
    assert!(took < Duration::from_secs(2), "took {took:?}: {result:?}");
    assert_eq!(seen.count(), 0, "nothing sent");
}

// ------------------------------------------------------------------ full stack

/// Curated from a probe of the layers together (branch probe-mix): the
/// README's tonic line with every layer (retry, breaker, auth, quota and a
/// hedge) against a scripted server on loopback: a pushback seen by the
/// breaker, the quota and the retry layer is one wait; an open breaker is
/// waited out within the call; calls are never hedged; fifty calls through
/// a pushback each end once; an identity provider that is down is
/// `UNAUTHENTICATED`. Time is tokio's paused clock, as elapsed time is
/// asserted.
mod in_the_full_stack {
    use super::{channel, grpc_ok, req, trailers_only};
    use crate::echo;
    use crate::full_stack::{
        breaker, exact, hedge_after, layers, learned_hedge, source, Layers, Twice, Vendor, MS, S,
    };
    use crate::idp::{self, Idp};
    use crate::support::{bounded, BoxError};
    use bytes::Bytes;
    use http::Request;
    use tokio::time::Instant;
    use tonic::client::Grpc;
    use tonic::{Code, Status};
    use tower::{Layer, ServiceExt};
    use tower_api_errors::auth::AuthLayer;

    /// The README's `map_request` with a hedge layer in the stack: the
    /// retry layer's replayable copy of the hedge layer's, as tonic's body.
    fn twice_to_body(request: Request<Twice<tonic::body::Body>>) -> Request<tonic::body::Body> {
        request.map(tonic::body::Body::new)
    }

    /// The README's tonic line with every layer, named for its origin (the
    /// quota's and the breaker's scope is the server's authority).
    async fn grpc_client(
        base: &str,
        layers: Layers,
    ) -> Grpc<
        impl tonic::client::GrpcService<
                tonic::body::Body,
                Error: Into<BoxError>,
                Future: Send,
                ResponseBody: http_body::Body<Data = Bytes, Error: Into<BoxError> + Send>
                                  + Send
                                  + 'static,
            > + Clone
            + Send
            + 'static,
    > {
        let channel = channel(base).await.map_request(twice_to_body);
        let stack = layers
            .layer(channel)
            .map_err(tower_api_errors::grpc::into_status);
        Grpc::with_origin(stack, base.parse().unwrap())
    }

    /// One `Say` call through a clone of `client`: the reply's message, or
    /// the status.
    async fn call<T>(client: &Grpc<T>) -> Result<String, Status>
    where
        T: tonic::client::GrpcService<tonic::body::Body> + Clone,
        T::Error: Into<BoxError>,
        T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
        <T::ResponseBody as http_body::Body>::Error: Into<BoxError> + Send,
    {
        let mut client = client.clone();
        client
            .ready()
            .await
            .map_err(|e| Status::unknown(e.into().to_string()))?;
        let reply = client
            .unary(req("a", None), echo::SAY, echo::codec())
            .await?;
        Ok(reply.into_inner().message)
    }

    /// The grpc docs (the retry, quota and breaker layers read a
    /// trailers-only status "as they read its HTTP counterpart"; pushback is
    /// the hint) and gRFC A6 (retries wait the pushback): `UNAVAILABLE` with
    /// `grpc-retry-pushback-ms: 300` opens a one-call breaker and cools the
    /// quota's scope; the retry goes once, at 300 ms, and succeeds.
    #[tokio::test(start_paused = true)]
    async fn grpc_unavailable_with_pushback_is_waited_once() {
        let vendor = Vendor::start(|n, _| match n {
            0 => (
                0,
                trailers_only(14, "refused", &[("grpc-retry-pushback-ms", "300")]),
            ),
            _ => (0, grpc_ok("recovered")),
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let policy = exact().retry_non_idempotent(true);
        let client = grpc_client(
            &vendor.base,
            layers(policy, AuthLayer::new(idp), breaker(1), learned_hedge()),
        )
        .await;
        let started = Instant::now();
        assert_eq!(
            call(&client).await.map_err(|s| s.to_string()),
            Ok("recovered".to_owned())
        );
        assert_eq!(started.elapsed(), MS(300));
        assert_eq!(vendor.count(), 2);
    }

    /// The breaker and grpc docs (`UNAVAILABLE` counts; a refusal is waited
    /// out "like a server's hint" without using an attempt up) through tonic: two
    /// `UNAVAILABLE`s open a two-call breaker; the third attempt is refused,
    /// waits out the 5 s break, and is the probe, answered `OK`: one call,
    /// three sends, done at 5.1 s (the break began at the second failure, at
    /// 100 ms).
    #[tokio::test(start_paused = true)]
    async fn grpc_a_breaker_opened_by_unavailable_is_waited_out_and_probed() {
        let vendor = Vendor::start(|n, _| match n {
            0..=1 => (0, trailers_only(14, "refused", &[])),
            _ => (0, grpc_ok("back")),
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let policy = exact().retry_non_idempotent(true).max_attempts(5);
        let client = grpc_client(
            &vendor.base,
            layers(policy, AuthLayer::new(idp), breaker(2), learned_hedge()),
        )
        .await;
        let started = Instant::now();
        assert_eq!(
            call(&client).await.map_err(|s| s.to_string()),
            Ok("back".to_owned())
        );
        assert_eq!(started.elapsed(), MS(5100));
        assert_eq!(vendor.count(), 3);
    }

    /// The hedge docs (only idempotent calls are hedged; "Every gRPC call is
    /// an HTTP POST") with the hedge layer in the tonic line: a slow call is
    /// sent once, never hedged.
    #[tokio::test(start_paused = true)]
    async fn grpc_calls_are_not_hedged() {
        let vendor = Vendor::start(|_, _| (300, grpc_ok("slow"))).await;
        let idp = source(|_| idp::ok("tok-2"));
        let policy = exact().retry_non_idempotent(true);
        let client = grpc_client(
            &vendor.base,
            layers(policy, AuthLayer::new(idp), breaker(10), hedge_after(50)),
        )
        .await;
        assert_eq!(
            call(&client).await.map_err(|s| s.to_string()),
            Ok("slow".to_owned())
        );
        assert_eq!(vendor.count(), 1);
    }

    /// The README's tonic line under load (quota docs: a held request "never
    /// sits on a connection or a concurrency permit while it sleeps", and a
    /// tonic `Channel` is a `Buffer`): fifty calls at once, the first three
    /// answered `RESOURCE_EXHAUSTED` with a 100 ms pushback, the rest `OK`.
    /// Every call ends once, in `OK` (five attempts each), within a few
    /// pushbacks.
    #[tokio::test(start_paused = true)]
    async fn grpc_fifty_calls_through_a_pushback_each_end_once() {
        let vendor = Vendor::start(|n, _| match n {
            0..=2 => (
                0,
                trailers_only(8, "refused", &[("grpc-retry-pushback-ms", "100")]),
            ),
            _ => (5, grpc_ok("ok")),
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let policy = exact().retry_non_idempotent(true).max_attempts(5);
        let client = grpc_client(
            &vendor.base,
            layers(policy, AuthLayer::new(idp), breaker(10), learned_hedge()),
        )
        .await;
        let started = Instant::now();
        let mut calls = Vec::new();
        for _ in 0..50 {
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                call(&client).await.map_err(|s| s.code())
            }));
        }
        for call in calls {
            let result = bounded("a call", call).await.unwrap();
            assert_eq!(result, Ok("ok".to_owned()));
        }
        assert!(started.elapsed() <= S(2), "{:?}", started.elapsed());
    }

    /// The README's tonic line with `into_status` ("gives the others their
    /// kind's code"): a token source that fails makes an `UNAUTHENTICATED`
    /// status, nothing sent, its message free of the credential; through
    /// every layer.
    #[tokio::test(start_paused = true)]
    async fn grpc_an_identity_provider_down_is_unauthenticated() {
        let vendor = Vendor::start(|_, _| (0, grpc_ok("never"))).await;
        let idp = Idp::new(|_, _| idp::err("token endpoint answered 500"));
        let policy = exact().retry_non_idempotent(true);
        let client = grpc_client(
            &vendor.base,
            layers(policy, AuthLayer::new(idp), breaker(10), learned_hedge()),
        )
        .await;
        let status = call(&client).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status}");
        assert_eq!(vendor.count(), 0);
    }
}
