//! The tower `Service` contract and composition: readiness (a layer that
//! sends later, on a clone, gives back the readiness the caller's service
//! holds), cancellation, one outcome per call, and body frames through the
//! stack.

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use scripted::{exact, get, reply};
use std::convert::Infallible;
use std::time::Duration;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken, TokenFuture, TokenSource};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{QuotaLayer, RetryLayer};
use tower_test::mock;

type Req = Request<ReplayBody<Full<Bytes>>>;
type Handle = mock::Handle<Req, Response<Full<Bytes>>>;

/// GitHub-style window headers: `remaining` of 100 left, resetting in `reset` s.
fn window(status: u16, remaining: u64, reset: u64) -> Response<Full<Bytes>> {
    reply(
        status,
        &[
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", &remaining.to_string()),
            ("x-ratelimit-reset", &reset.to_string()),
        ],
        "",
    )
}

/// The next request the mock receives, or `None` after `within` (the
/// watchdog: a request that is never sent fails the test, not hangs it).
async fn next(
    handle: &mut Handle,
    within: Duration,
) -> Option<(Req, mock::SendResponse<Response<Full<Bytes>>>)> {
    tokio::time::timeout(within, handle.next_request())
        .await
        .ok()
        .flatten()
}

fn req(uri: &str) -> Req {
    Request::get(uri)
        .body(ReplayBody::new(Full::new(Bytes::new()), 1024))
        .unwrap()
}

// Readiness: the quota layer.

/// Control for the next test: RetryLayer -> QuotaLayer -> client. A 500
/// that announces a window with one unit left makes the quota pace the
/// retry; the retry is sent after the pacing.
#[tokio::test(start_paused = true)]
async fn retry_over_quota_sends_the_paced_retry() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(QuotaLayer::new())
        .service(inner);
    let call = tokio::spawn(service.oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    send.send_response(window(500, 1, 50));
    let (_, send) = next(&mut handle, Duration::from_secs(100))
        .await
        .expect("the paced retry is sent");
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// The same with a `ConcurrencyLimit(1)` below (or a `Buffer`, or any
/// client whose readiness is a reservation). The retry layer makes its
/// clone ready (taking the only permit) and keeps it for the whole call;
/// the quota layer holds the request on *another* clone, and gives back
/// the ready one's permit (quota module docs, "Holding, and the inner
/// service's readiness"), which the held clone's `poll_ready` then takes.
/// (Before, the permit stayed reserved for the whole hold and the retry
/// was never sent: a deadline error.)
#[tokio::test(start_paused = true)]
async fn retry_over_quota_over_concurrency_limit_sends_the_paced_retry() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(QuotaLayer::new())
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);
    let call = tokio::spawn(service.oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    send.send_response(window(500, 1, 50));
    let Some((_, send)) = next(&mut handle, Duration::from_secs(100)).await else {
        let error = call.await.unwrap().unwrap_err();
        panic!("the paced retry was never sent; the call ended with: {error}");
    };
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// QuotaLayer alone, used as tower documents a long-lived service:
/// `ready().await` then `call`, the service kept (in a struct, behind
/// `&mut`). The quota layer promises that "a held request never holds the
/// inner service's readiness (a connection, a concurrency permit) while it
/// sleeps" (`Quota`'s docs, "Clone"): the kept service's permit is given
/// back, and the held clone gets it after the hold.
#[tokio::test(start_paused = true)]
async fn a_held_request_on_a_kept_service_is_sent_after_its_hold() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(QuotaLayer::new())
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);
    let first = tokio::spawn(service.clone().oneshot(req("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    // Spent, resets in 5 s.
    send.send_response(window(200, 0, 5));
    first.await.unwrap().unwrap();

    let held = service
        .ready()
        .await
        .unwrap()
        .call(req("http://api.example/b"));
    let held = tokio::spawn(held);
    // `service` stays alive, as a long-lived client does.
    let Some((request, send)) = next(&mut handle, Duration::from_secs(60)).await else {
        panic!("the held request was never sent (60 s after a 5 s hold)");
    };
    assert_eq!(request.uri().path(), "/b");
    send.send_response(reply(200, &[], ""));
    held.await.unwrap().unwrap();
    drop(service);
}

/// A request the quota refuses at once (its wait is past `max_wait`) is
/// never sent: the kept service it was called on gives its permit back,
/// and another clone's request is admitted at once.
#[tokio::test(start_paused = true)]
async fn a_refusal_on_a_kept_service_gives_its_permit_back() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(QuotaLayer::new().max_wait(Duration::from_secs(30)))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);
    let first = tokio::spawn(service.clone().oneshot(req("http://spent.example/")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    // Spent for the next hour.
    send.send_response(window(200, 0, 3600));
    first.await.unwrap().unwrap();

    let refused = service
        .ready()
        .await
        .unwrap()
        .call(req("http://spent.example/"))
        .await
        .unwrap_err();
    assert!(refused.rate_limited().is_some(), "{refused}");
    // `service` stays alive; another scope's request needs the permit.
    let other = tokio::spawn(service.clone().oneshot(req("http://free.example/")));
    let Some((request, send)) = next(&mut handle, Duration::from_secs(1)).await else {
        panic!("the permit stayed with the kept service");
    };
    assert_eq!(request.uri().host(), Some("free.example"));
    send.send_response(reply(200, &[], ""));
    other.await.unwrap().unwrap();
    drop(service);
}

/// The recommended stack, `ApiErrorsLayer` with a quota, over a client
/// behind `Buffer` (bound 1; the crate's docs suggest `Buffer` below the
/// retry layer for clients that are not `Clone`): the retry the quota
/// paces is sent. The retry's clone held the buffer's slot while the
/// quota's held clone waited for it, until the quota gave it back.
#[tokio::test(start_paused = true)]
async fn api_errors_with_quota_over_a_buffer_sends_the_paced_retry() {
    use tower_api_errors::stack::ApiErrorsLayer;
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let buffered = tower::buffer::Buffer::new(inner, 1);
    let service = ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .client(buffered);
    let call = tokio::spawn(service.oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    send.send_response(window(500, 1, 50));
    let Some((_, send)) = next(&mut handle, Duration::from_secs(100)).await else {
        let error = call.await.unwrap().unwrap_err();
        panic!("the paced retry was never sent; the call ended with: {error}");
    };
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

// Readiness: the auth layer.

/// AuthLayer over `ConcurrencyLimit(1)`, used as tower documents a
/// long-lived service (`ready().await`, then `call`; the service kept, as
/// a tonic-style client keeps its inner service). The first call waits for
/// the first credential, then sends on a clone of the prototype (`Auth`'s
/// docs, "Clone") whose `poll_ready` needs the permit: the caller's ready
/// service gave it back when the call began to wait.
#[tokio::test(start_paused = true)]
async fn auth_first_call_on_a_kept_service_is_sent() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(AuthLayer::new(StaticToken::new(
            Credential::new("k-1").unwrap(),
        )))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);
    let call = service
        .ready()
        .await
        .unwrap()
        .call(req("http://api.example/first"));
    let call = tokio::spawn(call);
    let Some((request, send)) = next(&mut handle, Duration::from_secs(30)).await else {
        panic!("the first request was never sent");
    };
    assert_eq!(request.headers()["authorization"], "Bearer k-1");
    send.send_response(reply(200, &[], ""));
    call.await.unwrap().unwrap();
    drop(service);
}

/// The same without the concurrency limit (control: the wait for the
/// first credential itself is short).
#[tokio::test(start_paused = true)]
async fn auth_first_call_on_a_kept_unlimited_service_is_sent() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(AuthLayer::new(StaticToken::new(
            Credential::new("k-1").unwrap(),
        )))
        .service(inner);
    let call = service
        .ready()
        .await
        .unwrap()
        .call(req("http://api.example/first"));
    let call = tokio::spawn(call);
    let (_, send) = next(&mut handle, Duration::from_secs(30)).await.unwrap();
    send.send_response(reply(200, &[], ""));
    call.await.unwrap().unwrap();
    drop(service);
}

/// Hands out "k-1", then "k-2" on a refresh.
struct Renewed;

impl TokenSource for Renewed {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Ok(Credential::new("k-1")?) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        Box::pin(async { Ok(Credential::new("k-2")?) })
    }
}

/// The re-send after a 401, on a kept service over `ConcurrencyLimit(1)`:
/// the first send (with a cached credential) used the caller's ready
/// service, whose permit went with it and came back with the 401; the
/// re-send's clone gets it.
#[tokio::test(start_paused = true)]
async fn auth_resend_after_a_401_on_a_kept_service_is_sent() {
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(AuthLayer::new(Renewed))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);
    // Loads the first credential.
    let warm = tokio::spawn(service.clone().oneshot(req("http://api.example/warm")));
    let (_, send) = next(&mut handle, Duration::from_secs(30)).await.unwrap();
    send.send_response(reply(200, &[], ""));
    warm.await.unwrap().unwrap();

    let call = service
        .ready()
        .await
        .unwrap()
        .call(req("http://api.example/me"));
    let call = tokio::spawn(call);
    let (request, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    assert_eq!(request.headers()["authorization"], "Bearer k-1");
    send.send_response(reply(401, &[], ""));
    let Some((request, send)) = next(&mut handle, Duration::from_secs(30)).await else {
        panic!("the re-send was never sent");
    };
    assert_eq!(request.headers()["authorization"], "Bearer k-2");
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
    drop(service);
}

// Body frames.

/// A body of data then trailers, as a client streams it.
fn with_trailers(
    trailers: &HeaderMap,
) -> ReplayBody<impl http_body::Body<Data = Bytes, Error = Infallible> + Unpin> {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(b"hello"))),
        Ok(Frame::trailers(trailers.clone())),
    ];
    ReplayBody::new(StreamBody::new(tokio_stream::iter(frames)), 1024)
}

fn checksum() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    trailers
}

/// A request body with trailers, read as an HTTP/2 client reads it (h2
/// stops polling after the trailers frame; it never sees the final
/// `None`). Trailers are the last frame: the body is over, and a retry's
/// replay sends them again.
#[tokio::test]
async fn a_replayed_body_keeps_its_trailers() {
    let trailers = checksum();
    let mut first = with_trailers(&trailers);
    let keep = first.replay();
    // The first attempt reads the data and the trailers, then stops (h2).
    let data = first.frame().await.unwrap().unwrap();
    assert_eq!(data.into_data().unwrap(), "hello");
    let sent = first.frame().await.unwrap().unwrap();
    assert_eq!(sent.trailers_ref(), Some(&trailers));
    assert!(first.is_end_stream(), "nothing follows the trailers");
    drop(first);
    // The retry.
    let collected = keep.replay().collect().await.unwrap();
    assert_eq!(
        collected.trailers(),
        Some(&trailers),
        "trailers of the replay"
    );
    assert_eq!(collected.to_bytes(), "hello");
}

/// The same when the first attempt read the whole body to its end: the
/// replay sends the trailers too (control).
#[tokio::test]
async fn a_replayed_body_read_to_its_end_keeps_its_trailers() {
    let trailers = checksum();
    let first = with_trailers(&trailers);
    let keep = first.replay();
    let one = first.collect().await.unwrap();
    assert_eq!(one.trailers(), Some(&trailers));
    let collected = keep.replay().collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
    assert_eq!(collected.to_bytes(), "hello");
}

// Cancellation and faults below the retry layer.

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;
type BoxedHandle = mock::Handle<Req, Response<Body>>;

fn boxed(status: u16, headers: &[(&str, &str)]) -> Response<Body> {
    reply(status, headers, "").map(|body| body.map_err(|never| match never {}).boxed())
}

/// The capacity check: a new call is admitted at once and answered.
async fn admitted<S>(service: &S, handle: &mut BoxedHandle, what: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Body>, Error = tower_api_errors::Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/check")));
    let Ok(Some((_, send))) =
        tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await
    else {
        panic!("{what}: a new call was not admitted (a permit leaked)");
    };
    send.send_response(boxed(200, &[]));
    assert_eq!(call.await.unwrap().unwrap().status(), 200, "{what}");
}

/// Dropping the caller's future at every stage of RetryLayer ->
/// ErrorBodyParseLayer -> ConcurrencyLimit(1): during the attempt, during
/// a retry's wait, during the failure-body read. Each time, the only
/// permit comes back: the next call is admitted at once.
#[tokio::test(start_paused = true)]
async fn dropping_a_call_at_any_stage_leaves_full_capacity() {
    let (inner, mut handle) = mock::pair::<Req, Response<Body>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(tower_api_errors::ErrorBodyParseLayer::new())
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);

    // 1. During the attempt.
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/1")));
    let (_, _send) = handle.next_request().await.unwrap();
    call.abort();
    let _ = call.await;
    admitted(&service, &mut handle, "dropped during the attempt").await;

    // 2. During the retry's wait (a 503, backoff 500 ms).
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/2")));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(boxed(503, &[("retry-after", "30")]));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!call.is_finished());
    call.abort();
    let _ = call.await;
    admitted(&service, &mut handle, "dropped during the retry's wait").await;

    // 3. During the failure-body read (a body that never ends).
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/3")));
    let (_, send) = handle.next_request().await.unwrap();
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, BoxError>::new(1);
    tx.send_data(Bytes::from_static(b"{\"error\":"))
        .await
        .unwrap();
    send.send_response(Response::builder().status(400).body(body.boxed()).unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!call.is_finished());
    call.abort();
    let _ = call.await;
    drop(tx);
    admitted(&service, &mut handle, "dropped during the body read").await;
}

/// A `LoadShed` below the retry layer: its `Overloaded` (the request was
/// never sent) reaches the caller typed through the source chain, and an
/// idempotent GET is retried, as documented for transport errors.
#[tokio::test(start_paused = true)]
async fn an_inner_load_shed_overload_reaches_the_caller_typed() {
    let (inner, mut handle) = mock::pair::<Req, Response<Body>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(tower_api_errors::ErrorBodyParseLayer::new())
        .load_shed()
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);
    // One call holds the only permit.
    let busy = tokio::spawn(service.clone().oneshot(get("http://api.example/busy")));
    let (_, send) = handle.next_request().await.unwrap();
    let started = tokio::time::Instant::now();
    let error = service
        .clone()
        .oneshot(get("http://api.example/shed"))
        .await
        .unwrap_err();
    let source = std::error::Error::source(&error).expect("a source");
    assert!(
        source.is::<tower::load_shed::error::Overloaded>(),
        "typed: {error:?}"
    );
    assert_eq!(error.retries().attempts(), 3, "{error}");
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    send.send_response(boxed(200, &[]));
    busy.await.unwrap().unwrap();
}

/// An outer `Timeout` (boxed error) and an inner one (per attempt): both
/// come back as a deadline `TransportError` through `Error::from_boxed`,
/// and the inner one is retried.
#[tokio::test(start_paused = true)]
async fn timeouts_around_and_inside_keep_their_type() {
    let (inner, mut handle) = mock::pair::<Req, Response<Body>>();
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(60))
        .layer(RetryLayer::new(exact()))
        .layer(tower_api_errors::ErrorBodyParseLayer::new())
        .timeout(Duration::from_secs(2))
        .service(inner);
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/slow")));
    let mut seen = 0;
    while let Ok(Some((_, send))) =
        tokio::time::timeout(Duration::from_secs(100), handle.next_request()).await
    {
        seen += 1;
        std::mem::forget(send);
    }
    let error = tower_api_errors::Error::from_boxed(call.await.unwrap().unwrap_err());
    assert_eq!(seen, 3);
    assert!(error.transport().unwrap().is_deadline(), "{error}");
    assert_eq!(error.retries().attempts(), 3, "{error}");
}
