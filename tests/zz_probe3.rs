//! Probe 3: the tower `Service` contract and composition (readiness,
//! cancellation, one outcome per call, body frames through the stack).

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use scripted::{exact, get, reply};
use std::convert::Infallible;
use std::time::Duration;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{QuotaLayer, RetryLayer};
use tower_test::mock;

type Req = Request<ReplayBody<Full<Bytes>>>;

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

async fn next(
    handle: &mut mock::Handle<Req, Response<Full<Bytes>>>,
    within: Duration,
) -> Option<(Req, mock::SendResponse<Response<Full<Bytes>>>)> {
    tokio::time::timeout(within, handle.next_request())
        .await
        .ok()
        .flatten()
}

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
/// clone ready (taking the only permit), calls the quota layer, which holds
/// the request on *another* clone and never calls the ready one: the permit
/// stays reserved by the retry's clone for the whole hold, and the held
/// clone's `poll_ready` waits for it forever. The request hangs until the
/// deadline and ends in a deadline error with no retry sent.
// FAILS: Quota holds on a clone but leaves the caller's ready inner service reserved (ConcurrencyLimit permit): deadlock until the deadline.
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
/// `&mut`). The quota module promises that "a held request never holds
/// the inner service's readiness (a connection, a concurrency permit)
/// while it sleeps"; the caller's ready inner service keeps its permit and
/// the held clone can never get one.
// FAILS: the held request is never sent: the kept service's inner ConcurrencyLimit permit is never released.
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

fn req(uri: &str) -> Req {
    Request::get(uri)
        .body(ReplayBody::new(Full::new(Bytes::new()), 1024))
        .unwrap()
}

/// A request body with trailers: data, then trailers, as an HTTP/2 client
/// sends it (h2 stops polling after the trailers frame; it never sees the
/// final `None`). A retry replays the body: its trailers must come again.
// FAILS: the replay ends after the kept data; the trailers the first attempt streamed are lost.
#[tokio::test]
async fn a_replayed_body_keeps_its_trailers() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(b"hello"))),
        Ok(Frame::trailers(trailers.clone())),
    ];
    let body = StreamBody::new(tokio_stream::iter(frames));
    let mut first = ReplayBody::new(body, 1024);
    let keep = first.replay();
    // The first attempt reads the data and the trailers, then stops (h2).
    let data = first.frame().await.unwrap().unwrap();
    assert_eq!(data.into_data().unwrap(), "hello");
    let sent = first.frame().await.unwrap().unwrap();
    assert_eq!(sent.trailers_ref(), Some(&trailers));
    drop(first);
    // The retry.
    let collected = keep.replay().collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers), "trailers of the replay");
    assert_eq!(collected.to_bytes(), "hello");
}

/// The same when the first attempt read the whole body to its end: the
/// replay sends the trailers too (control).
#[tokio::test]
async fn a_replayed_body_read_to_its_end_keeps_its_trailers() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(b"hello"))),
        Ok(Frame::trailers(trailers.clone())),
    ];
    let body = StreamBody::new(tokio_stream::iter(frames));
    let first = ReplayBody::new(body, 1024);
    let keep = first.replay();
    let one = first.collect().await.unwrap();
    assert_eq!(one.trailers(), Some(&trailers));
    let collected = keep.replay().collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
    assert_eq!(collected.to_bytes(), "hello");
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;
type Handle2 = mock::Handle<Req, Response<Body>>;

fn boxed(status: u16, headers: &[(&str, &str)]) -> Response<Body> {
    reply(status, headers, "")
        .map(|body| body.map_err(|never| match never {}).boxed())
}

/// The capacity check: a new call is admitted at once and answered.
async fn admitted<S>(service: &S, handle: &mut Handle2, what: &str)
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
    tx.send_data(Bytes::from_static(b"{\"error\":")).await.unwrap();
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

/// AuthLayer over `ConcurrencyLimit(1)`, used as tower documents a
/// long-lived service (`ready().await`, then `call`; the service kept, as
/// a tonic-style client keeps its inner service). The first call waits for
/// the first credential, then sends on a clone of the prototype (auth
/// service docs, src/auth/service.rs:28-34) whose `poll_ready` needs the
/// permit that the caller's ready service still holds: never sent.
// FAILS: Auth sends after the credential wait on a clone, leaving the caller's ready inner (its permit) reserved: deadlock.
#[tokio::test(start_paused = true)]
async fn auth_first_call_on_a_kept_service_is_sent() {
    use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(AuthLayer::new(StaticToken::new(Credential::new("k-1").unwrap())))
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
    use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
    let (inner, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(AuthLayer::new(StaticToken::new(Credential::new("k-1").unwrap())))
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

/// The recommended stack, `ApiErrorsLayer` with a quota, over a client
/// behind `Buffer` (bound 1; the crate's docs suggest `Buffer` below the
/// retry layer for clients that are not `Clone`): a retry the quota paces
/// is never sent: the retry's clone holds the buffer's slot while the
/// quota's held clone waits for it.
// FAILS: same cause as retry_over_quota_over_concurrency_limit_sends_the_paced_retry, with Buffer.
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
