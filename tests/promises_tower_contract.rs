//! Promises of the tower contract and composition: every public layer as
//! a `tower::Service` under tower's rules (readiness, errors, drops,
//! extensions, streaming, the readiness of re-sends), beside tower's
//! `Buffer`, `ConcurrencyLimit`, `RateLimit`, `Timeout`, `LoadShed` and
//! `BoxCloneService`, tower-http's layers, hyper-util over HTTP/1 and h2,
//! reqwest, axum, and (feature `grpc`) a real tonic `Channel`; and what a
//! failure storm leaves in memory. (Brought in from probes of the crate's
//! promises and of the tower contract.)
#![allow(clippy::type_complexity)]

#[cfg(feature = "grpc")]
#[path = "support/echo.rs"]
mod echo;
#[allow(dead_code)] // Only `Idp`, `ok` and `numbered` are used here.
#[path = "support/idp.rs"]
mod idp;
#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use scripted::{exact, get, reply, Scripted};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, StaticToken};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{
    ApiErrorsLayer, Error, ErrorBodyParseLayer, QuotaLayer, RetryLayer, StatusClassifierLayer,
};

type Rb = ReplayBody<Full<Bytes>>;
type Rb2 = ReplayBody<ReplayBody<Full<Bytes>>>;

#[derive(Clone, Debug, PartialEq)]
struct Marker(u32);

/// The `Marker`s of the requests that reached it, as `recording` saw them.
type Seen = Arc<Mutex<Vec<Option<Marker>>>>;

/// `inner` behind a recorder of each request's `Marker` (what the layers
/// above sent down), and what it recorded.
fn recording<B, S>(
    inner: S,
) -> (
    tower::util::MapRequest<S, impl FnMut(Request<B>) -> Request<B> + Clone>,
    Seen,
) {
    let seen = Seen::default();
    let record = seen.clone();
    let recorder = move |request: Request<B>| {
        let marker = request.extensions().get::<Marker>().cloned();
        record.lock().unwrap().push(marker);
        request
    };
    (tower::util::MapRequest::new(inner, recorder), seen)
}

fn token() -> StaticToken {
    StaticToken::new(Credential::new("sk_live_probe_secret_0123456789").unwrap())
}

fn full_layer() -> ApiErrorsLayer<
    AuthLayer,
    QuotaLayer,
    tower_api_errors::classify::DefaultClassifier,
    CircuitBreakerLayer,
    HedgeLayer,
> {
    ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(token()))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_secs(5)))
}

// ---------------------------------------------------------------------
// Bounds a user needs: Clone, Send, Sync, 'static; a Send future.
// ---------------------------------------------------------------------

fn assert_user_bounds<S, R>(_: &S)
where
    S: Service<R> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Send + Sync + 'static,
{
}

/// The full stack over hyper-util, and each layer alone, is `Clone + Send +
/// Sync + 'static` with a `Send` future and error: what `tokio::spawn`,
/// axum state and `tower::buffer::Buffer` need (README, "Use it with
/// hyper-util").
#[tokio::test]
async fn full_stack_over_hyper_util_has_the_bounds_users_need() {
    let client = support::client::<Rb2>();
    let service = full_layer().client(client);
    assert_user_bounds::<_, Request<Full<Bytes>>>(&service);
    let client = support::client::<Rb>();
    let service = ApiErrorsLayer::new().client(client);
    assert_user_bounds::<_, Request<Full<Bytes>>>(&service);
    // Each layer alone.
    let client = support::client::<Full<Bytes>>();
    assert_user_bounds::<_, Request<Full<Bytes>>>(&AuthLayer::new(token()).layer(client.clone()));
    assert_user_bounds::<_, Request<Full<Bytes>>>(&QuotaLayer::new().layer(client.clone()));
    assert_user_bounds::<_, Request<Full<Bytes>>>(
        &CircuitBreakerLayer::new().layer(client.clone()),
    );
    assert_user_bounds::<_, Request<Full<Bytes>>>(
        &ErrorBodyParseLayer::new().layer(client.clone()),
    );
    assert_user_bounds::<_, Request<Full<Bytes>>>(&StatusClassifierLayer::new().layer(client));
}

/// The full stack kept in axum state (`State<AppState>`) serves a real
/// request through a real server (examples/axum_outbound.rs).
#[tokio::test]
async fn full_stack_in_axum_state_serves_a_real_request() {
    use axum::extract::State;
    use axum::routing::get as axum_get;
    let upstream =
        support::serve(|_req| async { support::response(200, &[], "upstream-ok") }).await;
    type Upstream = tower_api_errors::ApiErrors<
        hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Rb2>,
        ApiErrorsLayer<
            AuthLayer,
            QuotaLayer,
            tower_api_errors::classify::DefaultClassifier,
            CircuitBreakerLayer,
            HedgeLayer,
        >,
    >;
    #[derive(Clone)]
    struct AppState {
        upstream: Upstream,
        uri: String,
    }
    async fn handler(State(state): State<AppState>) -> String {
        let response = state
            .upstream
            .oneshot(
                Request::get(&state.uri)
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        String::from_utf8(support::body_bytes(response.into_body()).await.to_vec()).unwrap()
    }
    let state = AppState {
        upstream: full_layer().client(support::client::<Rb2>()),
        uri: format!("http://{upstream}/x"),
    };
    let app: axum::Router = axum::Router::new()
        .route("/", axum_get(handler))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let body = reqwest::get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "upstream-ok");
}

// ---------------------------------------------------------------------
// Request extensions reach the client on every send.
// ---------------------------------------------------------------------

/// A request's extensions reach every send the full stack makes: the
/// first, the retry after a 503, the auth layer's re-send after a 401
/// (`RetryPolicy` docs: a re-send is the request rebuilt, extensions
/// included).
#[tokio::test(start_paused = true)]
async fn request_extensions_reach_every_send_through_the_full_stack() {
    let count = Arc::new(AtomicUsize::new(0));
    let n = count.clone();
    let upstream = tower::service_fn(move |_req: Request<Rb2>| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok::<_, Infallible>(match i {
                0 => reply(503, &[], ""),
                1 => reply(
                    401,
                    &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                    "",
                ),
                _ => reply(200, &[], "ok"),
            })
        }
    });
    let source = support::Rotating::new(Duration::ZERO);
    let layer = ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(source))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_secs(30)));
    let (upstream, seen) = recording(upstream);
    let service = layer.layer(upstream);
    let mut request = get("http://api.example/v1/items");
    request.extensions_mut().insert(Marker(7));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(
        seen.iter().all(|m| m.as_ref() == Some(&Marker(7))),
        "{seen:?}"
    );
}

/// Each re-sending layer alone keeps the request's extensions on its own
/// re-sends: the retry's, the auth layer's after a 401, both of the
/// hedge's attempts.
#[tokio::test(start_paused = true)]
async fn request_extensions_survive_each_layer_alone() {
    // Retry alone.
    let scripted = Scripted::new();
    let (inner, seen) = recording::<Rb, _>(scripted.service(|n| {
        if n == 0 {
            reply(503, &[], "")
        } else {
            reply(200, &[], "")
        }
    }));
    let service = RetryLayer::new(exact()).layer(inner);
    let mut request = get("http://api.example/");
    request.extensions_mut().insert(Marker(1));
    service.oneshot(request).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(Marker(1)), Some(Marker(1))]
    );

    // Auth alone, its re-send after a 401.
    let scripted = Scripted::new();
    let (inner, seen) = recording::<Rb, _>(scripted.service(|n| {
        if n == 0 {
            reply(401, &[], "")
        } else {
            reply(200, &[], "")
        }
    }));
    let service = AuthLayer::new(support::Rotating::new(Duration::ZERO)).layer(inner);
    let mut request = get("http://api.example/");
    request.extensions_mut().insert(Marker(2));
    let request = request.map(|b| ReplayBody::new(b, 64 * 1024));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(Marker(2)), Some(Marker(2))]
    );

    // Hedge alone: both attempts.
    let n = Arc::new(AtomicUsize::new(0));
    let (inner, seen) = recording(tower::service_fn(move |_r: Request<Rb>| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        async move {
            if i == 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok::<_, Infallible>(reply(200, &[], ""))
        }
    }));
    let service = HedgeLayer::fixed(Duration::from_millis(100))
        .no_budget()
        .layer(inner);
    let mut request = get("http://api.example/");
    request.extensions_mut().insert(Marker(3));
    service.oneshot(request).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(Marker(3)), Some(Marker(3))]
    );
}

// ---------------------------------------------------------------------
// Response extensions and the body type are kept on success.
// ---------------------------------------------------------------------

/// A success comes back as the client gave it, extensions included
/// (parse module docs: "a success goes up as it came"), also after a
/// retry, from the attempt that succeeded.
#[tokio::test(start_paused = true)]
async fn response_extensions_survive_the_full_stack_on_success() {
    let upstream = tower::service_fn(|_req: Request<Rb2>| async {
        let mut response = reply(200, &[], "ok");
        response.extensions_mut().insert(Marker(42));
        Ok::<_, Infallible>(response)
    });
    let service = full_layer().layer(upstream);
    let response = service.oneshot(get("http://api.example/")).await.unwrap();
    assert_eq!(response.extensions().get::<Marker>(), Some(&Marker(42)));
    // And after a retry.
    let n = Arc::new(AtomicUsize::new(0));
    let upstream = tower::service_fn(move |_req: Request<Rb2>| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut response = if i == 0 {
                reply(503, &[], "")
            } else {
                reply(200, &[], "ok")
            };
            response.extensions_mut().insert(Marker(i as u32));
            Ok::<_, Infallible>(response)
        }
    });
    let service = full_layer().layer(upstream);
    let response = service.oneshot(get("http://api.example/")).await.unwrap();
    assert_eq!(response.extensions().get::<Marker>(), Some(&Marker(1)));
}

/// A server that sends its headers and first chunk, then holds the rest
/// until `release` is notified.
async fn streaming_server(release: Arc<tokio::sync::Notify>, status: u16) -> std::net::SocketAddr {
    support::serve(move |_req| {
        let release = release.clone();
        async move {
            let (mut tx, body) =
                http_body_util::channel::Channel::<Bytes, support::BoxError>::new(4);
            tokio::spawn(async move {
                tx.send_data(Bytes::from_static(b"first")).await.ok();
                release.notified().await;
                tx.send_data(Bytes::from_static(b"rest")).await.ok();
            });
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body.boxed())
                .unwrap()
        }
    })
    .await
}

/// A success body streams through the full stack over HTTP/1 and h2: the
/// headers and first chunk arrive while the server still holds the rest
/// (parse module docs: successes pass "without buffering").
#[tokio::test]
async fn a_success_body_is_streamed_through_the_full_stack_over_h1_and_h2() {
    for h2 in [false, true] {
        let release = Arc::new(tokio::sync::Notify::new());
        let addr = streaming_server(release.clone(), 200).await;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(h2)
                .build_http::<Rb2>();
        let service = full_layer().client(client);
        let request = get(&format!("http://{addr}/stream"));
        let response = tokio::time::timeout(Duration::from_secs(5), service.oneshot(request))
            .await
            .expect("headers arrive before the body ends")
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("first chunk streams")
            .unwrap()
            .unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        release.notify_one();
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, "rest", "h2={h2}");
    }
}

// ---------------------------------------------------------------------
// Real servers, HTTP/1 and h2: a retried call over hyper-util.
// ---------------------------------------------------------------------

/// A retried PUT over hyper-util, HTTP/1 and h2 prior knowledge, sends its
/// body whole on every attempt and ends with the server's success.
#[tokio::test]
async fn h1_and_h2_prior_knowledge_retry_over_hyper_util() {
    for h2 in [false, true] {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let addr = support::serve(move |req| {
            let i = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, "payload");
                if i < 2 {
                    support::response(503, &[("retry-after", "0")], "{\"error\":\"down\"}")
                } else {
                    support::response(200, &[], "ok")
                }
            }
        })
        .await;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(h2)
                .build_http::<Rb>();
        let service = ApiErrorsLayer::new()
            .retry(support::quick_exact())
            .client(client);
        let request = Request::put(format!("http://{addr}/x"))
            .body(Full::new(Bytes::from_static(b"payload")))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(hits.load(Ordering::SeqCst), 3, "h2={h2}");
    }
}

// ---------------------------------------------------------------------
// poll_ready then drop: readiness reserved, then given back.
// ---------------------------------------------------------------------

async fn reserve_then_drop_then_call<S>(service: S, what: &str)
where
    S: Service<Request<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let mut reserved = service.clone();
    std::future::poll_fn(|cx| reserved.poll_ready(cx))
        .await
        .unwrap();
    drop(reserved);
    let call = service.clone().oneshot(get("http://api.example/"));
    let result = tokio::time::timeout(Duration::from_secs(60), call).await;
    assert!(
        result.is_ok(),
        "{what}: the dropped reservation was not given back"
    );
    // And a reservation kept while another clone is called: pending, then
    // ready once the kept one is dropped.
    let mut kept = service.clone();
    std::future::poll_fn(|cx| kept.poll_ready(cx))
        .await
        .unwrap();
    let mut other = service.clone();
    let mut other_ready = poll_ready_once(&mut other);
    assert!(
        !other_ready(),
        "{what}: ConcurrencyLimit(1) lets two reserve"
    );
    drop(kept);
    assert!(
        other_ready(),
        "{what}: not ready after the reservation dropped"
    );
}

fn poll_ready_once<'a, S, R>(service: &'a mut S) -> impl FnMut() -> bool + 'a
where
    S: Service<R>,
    S::Error: std::fmt::Debug,
{
    move || {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        matches!(service.poll_ready(&mut cx), std::task::Poll::Ready(Ok(())))
    }
}

fn ok_service<B>(
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Clone
       + Send {
    tower::service_fn(|_req: Request<B>| async { Ok::<_, Infallible>(reply(200, &[], "")) })
}

/// tower's `Service` contract: `poll_ready` may reserve capacity, and a
/// service dropped after it gives it back. Each layer over a
/// `ConcurrencyLimit(1)`: a dropped reservation frees the permit, and a
/// kept one holds it (another clone is pending) until dropped.
#[tokio::test(start_paused = true)]
async fn a_dropped_reservation_is_given_back_through_every_layer() {
    let limit = ConcurrencyLimitLayer::new(1);
    reserve_then_drop_then_call(
        RetryLayer::new(exact()).layer(limit.layer(ok_service::<Rb>())),
        "retry",
    )
    .await;
    reserve_then_drop_then_call(
        ErrorBodyParseLayer::new().layer(limit.layer(ok_service())),
        "parse",
    )
    .await;
    reserve_then_drop_then_call(
        AuthLayer::new(token()).layer(limit.layer(ok_service())),
        "auth",
    )
    .await;
    reserve_then_drop_then_call(QuotaLayer::new().layer(limit.layer(ok_service())), "quota").await;
    reserve_then_drop_then_call(
        CircuitBreakerLayer::new().layer(limit.layer(ok_service())),
        "breaker",
    )
    .await;
    reserve_then_drop_then_call(
        HedgeLayer::fixed(Duration::from_millis(10)).layer(limit.layer(ok_service::<Rb>())),
        "hedge",
    )
    .await;
    reserve_then_drop_then_call(
        StatusClassifierLayer::new().layer(limit.layer(ok_service())),
        "classify",
    )
    .await;
    reserve_then_drop_then_call(full_layer().layer(limit.layer(ok_service::<Rb2>())), "full").await;
}

// ---------------------------------------------------------------------
// An inner poll_ready error: typed, its source kept, once.
// ---------------------------------------------------------------------

#[derive(Debug)]
struct NotReady;
impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("backend not ready")
    }
}
impl std::error::Error for NotReady {}

#[derive(Clone)]
struct FailsReady;
impl<B> Service<Request<B>> for FailsReady {
    type Response = Response<Full<Bytes>>;
    type Error = NotReady;
    type Future = std::future::Ready<Result<Self::Response, NotReady>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), NotReady>> {
        std::task::Poll::Ready(Err(NotReady))
    }
    fn call(&mut self, _: Request<B>) -> Self::Future {
        panic!("called after a poll_ready error")
    }
}

fn has_source<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// An inner `poll_ready` error reaches the caller as a transport error
/// with the original error in its source chain, through every layer and
/// the full stack; `call` is never made after it.
#[tokio::test]
async fn an_inner_poll_ready_error_reaches_the_caller_with_its_source() {
    async fn check<S>(service: S, what: &str)
    where
        S: Service<Request<Full<Bytes>>, Error = Error>,
        S::Response: std::fmt::Debug,
    {
        let error = service
            .oneshot(get("http://api.example/"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Transport(_)), "{what}: {error:?}");
        assert!(
            has_source::<NotReady>(&error),
            "{what}: source lost: {error:?}"
        );
    }
    check(RetryLayer::new(exact()).layer(FailsReady), "retry").await;
    check(ErrorBodyParseLayer::new().layer(FailsReady), "parse").await;
    check(AuthLayer::new(token()).layer(FailsReady), "auth").await;
    check(QuotaLayer::new().layer(FailsReady), "quota").await;
    check(CircuitBreakerLayer::new().layer(FailsReady), "breaker").await;
    check(
        HedgeLayer::fixed(Duration::from_millis(1)).layer(FailsReady),
        "hedge",
    )
    .await;
    check(full_layer().layer(FailsReady), "full").await;
}

// ---------------------------------------------------------------------
// tower's Buffer, Timeout, LoadShed around and inside.
// ---------------------------------------------------------------------

/// `tower::buffer::Buffer` over the full stack: forty concurrent calls,
/// each retried once, all answered.
#[tokio::test(start_paused = true)]
async fn buffer_over_the_full_stack_answers_every_call_once() {
    // The first attempt of every path fails, the retry succeeds.
    let failed: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    let upstream = tower::service_fn(move |req: Request<Rb2>| {
        let first = failed.lock().unwrap().insert(req.uri().path().to_owned());
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, Infallible>(if first {
                reply(503, &[], "")
            } else {
                reply(200, &[], "")
            })
        }
    });
    let service = tower::buffer::Buffer::new(full_layer().layer(upstream), 4);
    let mut calls = Vec::new();
    for i in 0..40 {
        let s = service.clone();
        calls.push(tokio::spawn(async move {
            s.oneshot(get(&format!("http://api.example/{i}"))).await
        }));
    }
    let mut ok = 0;
    for call in calls {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        ok += 1;
    }
    assert_eq!(ok, 40);
}

/// A `tower::timeout::Timeout` above the stack ends the call with its
/// `Elapsed`, and no attempt is sent after it (the dropped call's retry
/// loop is gone).
#[tokio::test(start_paused = true)]
async fn a_timeout_above_ends_the_call_and_no_attempt_follows() {
    let scripted = Scripted::new();
    let upstream = scripted.service(|_| reply(503, &[], ""));
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(1200))
        .layer(full_layer())
        .service(upstream);
    let error = service
        .oneshot(get("http://api.example/"))
        .await
        .unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error:?}");
    let sent = scripted.count();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        scripted.count(),
        sent,
        "an attempt was sent after the caller's timeout"
    );
}

/// A `Timeout` below the retry layer: the GET's timed-out attempt is
/// retried (retry module docs: transport errors of idempotent requests),
/// the POST's is not, and its `Elapsed` stays in the source chain.
#[tokio::test(start_paused = true)]
async fn a_timeout_below_retry_is_retried_for_a_get_and_not_for_a_post() {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let upstream = tower::service_fn(move |_req: Request<Rb>| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if i == 0 {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok::<_, Infallible>(reply(200, &[], ""))
        }
    });
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .timeout(Duration::from_secs(1))
        .service(upstream);
    let response = service
        .clone()
        .oneshot(get("http://api.example/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(n.load(Ordering::SeqCst), 2);
    n.store(0, Ordering::SeqCst);
    let post = Request::post("http://api.example/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = service.oneshot(post).await.unwrap_err();
    assert!(
        has_source::<tower::timeout::error::Elapsed>(&error),
        "{error:?}"
    );
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "a POST was re-sent after a timeout"
    );
}

/// tower's `LoadShed` over `ConcurrencyLimit(1)` above the full stack
/// sheds a second call with `Overloaded` while the first holds the
/// permit; the first completes and the capacity is back.
#[tokio::test(start_paused = true)]
async fn load_shed_above_the_full_stack_sheds_and_the_first_call_completes() {
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<()>();
    let upstream = tower::service_fn(move |_req: Request<Rb2>| {
        let mut gate = gate_rx.clone();
        let _ = arrived_tx.send(());
        async move {
            gate.wait_for(|open| *open).await.unwrap();
            Ok::<_, Infallible>(reply(200, &[], ""))
        }
    });
    let service = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .layer(full_layer())
        .service(upstream);
    let first = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
    // The first call is at the upstream: it holds the only permit.
    arrived.recv().await.unwrap();
    let second = service.clone().oneshot(get("http://api.example/b")).await;
    let error = second.unwrap_err();
    assert!(
        error.is::<tower::load_shed::error::Overloaded>(),
        "{error:?}"
    );
    gate_tx.send(true).unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    // Capacity is back.
    service.oneshot(get("http://api.example/c")).await.unwrap();
}

// ---------------------------------------------------------------------
// A header set between retry and parse (tower-http): echo scrubbing
// still covers it.
// ---------------------------------------------------------------------

/// A credential that tower-http's `SetRequestHeaderLayer` sets below the
/// retry layer, echoed by the server, is scrubbed from the error (redact
/// module docs: the parse layer fingerprints the request it sends).
#[tokio::test]
async fn a_credential_set_by_tower_http_below_retry_is_scrubbed_from_errors() {
    use tower_http::set_header::SetRequestHeaderLayer;
    let secret = "xk_live_between_layers_7f3a9c2e";
    let addr = support::serve(move |req| async move {
        let key = req
            .headers()
            .get("x-api-key")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        support::response(
            400,
            &[("content-type", "application/json")],
            format!(
                "{{\"error\":{{\"code\":\"bad_key\",\"message\":\"API key {key} is invalid\"}}}}"
            ),
        )
    })
    .await;
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(SetRequestHeaderLayer::overriding(
            http::HeaderName::from_static("x-api-key"),
            http::HeaderValue::from_static(secret),
        ))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Rb>());
    let error = service
        .oneshot(get(&format!("http://{addr}/v1")))
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?} {}", support::error_text(&error));
    assert!(matches!(error, Error::Api(_)), "{shown}");
    assert!(!shown.contains(secret), "the credential leaked: {shown}");
}

// ---------------------------------------------------------------------
// A breaker refusal inside the retry layer: retried once the circuit
// allows.
// ---------------------------------------------------------------------

type MReq = Request<Rb>;

/// The next request a tower-test mock receives (of any request type), or
/// `None` after `within`.
async fn next<Q>(
    handle: &mut tower_test::mock::Handle<Q, Response<Full<Bytes>>>,
    within: Duration,
) -> Option<(Q, tower_test::mock::SendResponse<Response<Full<Bytes>>>)> {
    tokio::time::timeout(within, handle.next_request())
        .await
        .ok()
        .flatten()
}

/// Opens `breaker`'s circuit for api.example for 2 s (a 503 with
/// `Retry-After: 2`, one call is enough).
async fn open_for_two_seconds(breaker: &CircuitBreakerLayer) {
    let opener = breaker.layer(tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(reply(503, &[("retry-after", "2")], ""))
    }));
    let _ = opener.oneshot(get("http://api.example/open")).await;
}

/// A call refused by an open circuit is retried once the circuit allows
/// (breaker module docs: "the retry layer then treats the refusal like a
/// server's hint: it waits when the time to come back fits"): sent after
/// the 2 s opening, and answered.
#[tokio::test(start_paused = true)]
async fn a_breaker_refusal_is_retried_and_sent_once_the_circuit_allows() {
    let breaker = CircuitBreakerLayer::new().minimum_calls(1);
    open_for_two_seconds(&breaker).await;
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = ApiErrorsLayer::new()
        .retry(exact())
        .breaker(breaker)
        .client(ConcurrencyLimitLayer::new(1).layer(inner));
    let started = tokio::time::Instant::now();
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
    let (request, send) = next(&mut handle, Duration::from_secs(25))
        .await
        .expect("sent");
    assert_eq!(request.uri().path(), "/a");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "sent when the circuit allowed"
    );
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

// ---------------------------------------------------------------------
// Memory under a failure storm: live bytes, counted per thread (the
// storm runs on a current-thread runtime, so everything it allocates and
// frees is on this thread).
// ---------------------------------------------------------------------

mod live {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    pub struct Live;
    thread_local! {
        static NET: Cell<i64> = const { Cell::new(0) };
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }
    unsafe impl GlobalAlloc for Live {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = NET.try_with(|n| n.set(n.get() + layout.size() as i64));
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _ = NET.try_with(|n| n.set(n.get() - layout.size() as i64));
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
            let _ = NET.try_with(|n| n.set(n.get() + new as i64 - layout.size() as i64));
            unsafe { System.realloc(ptr, layout, new) }
        }
    }
    /// Live bytes allocated by this thread.
    pub fn net() -> i64 {
        NET.with(Cell::get)
    }
    /// Allocations made by this thread so far.
    pub fn allocations() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }
}

#[global_allocator]
static GLOBAL: live::Live = live::Live;

async fn storm<S>(service: &S, from: usize, to: usize, hosts: bool)
where
    S: Service<Request<Full<Bytes>>, Error = Error> + Clone,
{
    for i in from..to {
        let uri = match hosts {
            true => format!("http://h{i:06}.example/v1?api_key=k{i:06}"),
            false => format!("http://one.example/v1/{i}"),
        };
        let result = service.clone().oneshot(get(&uri)).await;
        assert!(result.is_err());
    }
}

fn storm_service(
) -> impl Service<Request<Full<Bytes>>, Error = Error, Response = Response<Full<Bytes>>> + Clone {
    let upstream = tower::service_fn(|_req: Request<Rb2>| async {
        Ok::<_, Infallible>(reply(
            503,
            &[
                ("content-type", "application/json"),
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "50"),
                ("x-ratelimit-reset", "30"),
            ],
            "{\"error\":{\"code\":\"down\",\"message\":\"try later\"}}",
        ))
    });
    ApiErrorsLayer::new()
        .retry(support::quick_exact().max_attempts(2).no_budget())
        .auth(AuthLayer::new(token()))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::percentile(0.95))
        .layer(upstream)
}

/// Every per-scope map is bounded (breaker, quota and hedge docs; README
/// "Bounds"): past 20,000 distinct failing authorities (every map full),
/// 10,000 more grow live memory by less than 512 KiB.
#[test]
fn a_failure_storm_over_many_authorities_grows_memory_boundedly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = storm_service();
        storm(&service, 0, 20_000, true).await;
        let after_warmup = live::net();
        storm(&service, 20_000, 30_000, true).await;
        let after = live::net();
        let growth = after - after_warmup;
        assert!(
            growth < 512 * 1024,
            "grew {growth} B over 10,000 failing calls past every cap"
        );
    });
}

/// 10,000 failing calls on one authority keep nothing per call: live
/// memory grows by less than 256 KiB.
#[test]
fn a_failure_storm_on_one_authority_grows_memory_boundedly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = storm_service();
        storm(&service, 0, 2_000, false).await;
        let after_warmup = live::net();
        storm(&service, 2_000, 12_000, false).await;
        let growth = live::net() - after_warmup;
        assert!(
            growth < 256 * 1024,
            "grew {growth} B over 10,000 failing calls"
        );
    });
}

// ---------------------------------------------------------------------
// The layers that judge responses themselves (breaker, hedge): a stamp
// from below, and the default classifier.
// ---------------------------------------------------------------------

fn a_503_is_an_answer() -> impl tower_api_errors::classify::Classify + Clone + Send + Sync + 'static
{
    use tower_api_errors::classify::{Classification, ClassifyExt, DefaultClassifier};
    DefaultClassifier::new().with_status(
        http::StatusCode::SERVICE_UNAVAILABLE,
        Classification::Success,
    )
}

/// A `StatusClassifierLayer` stamp innermost is read by every layer above
/// (classify module docs): a 503 it calls a success is neither retried,
/// nor counted by the breaker, nor hedged; twenty calls, twenty sends.
#[tokio::test(start_paused = true)]
async fn a_stamp_from_below_is_read_by_every_layer_above() {
    use tower_api_errors::classify::StatusClassifierLayer as Stamp;
    let scripted = Scripted::new();
    let upstream = scripted.service(|_| reply(503, &[], ""));
    let service = ServiceBuilder::new()
        .layer(HedgeLayer::fixed(Duration::from_secs(10)).no_budget())
        .layer(RetryLayer::new(exact()))
        .layer(CircuitBreakerLayer::new().minimum_calls(5))
        .layer(ErrorBodyParseLayer::new())
        .layer(Stamp::new().classifier(a_503_is_an_answer()))
        .service(upstream);
    for i in 0..20 {
        let outcome = service.clone().oneshot(get("http://api.example/")).await;
        assert!(outcome.is_ok(), "call {i}: {outcome:?}");
    }
    assert_eq!(scripted.count(), 20);
}

/// With the default classifier the breaker opens on 503s (breaker module
/// docs), in `ApiErrorsLayer` and alone over a raw client: the
/// counterpart of the stamp test above.
#[tokio::test(start_paused = true)]
async fn the_breaker_opens_on_503s_in_the_stack_and_alone() {
    let scripted = Scripted::new();
    let upstream = scripted.service(|_| reply(503, &[], "{\"result\":\"no\"}"));
    let stack = ApiErrorsLayer::new()
        .retry(exact().max_attempts(1))
        .breaker(CircuitBreakerLayer::new().minimum_calls(5))
        .layer(upstream);
    let scripted_alone = Scripted::new();
    let alone = CircuitBreakerLayer::new()
        .minimum_calls(5)
        .layer(scripted_alone.service(|_| reply(503, &[], "")));
    let (mut stack_open, mut alone_open) = (false, false);
    for _ in 0..20 {
        if let Err(Error::CircuitOpen(_)) = stack.clone().oneshot(get("http://api.example/")).await
        {
            stack_open = true;
        }
        if let Err(Error::CircuitOpen(_)) = alone.clone().oneshot(get("http://api.example/")).await
        {
            alone_open = true;
        }
    }
    assert!(stack_open, "in the stack: sent {}", scripted.count());
    assert!(alone_open, "alone: sent {}", scripted_alone.count());
    assert!(scripted.count() < 20 && scripted_alone.count() < 20);
}

// ---------------------------------------------------------------------
// Futures dropped at every await point of the full stack: the capacity
// below comes back.
// ---------------------------------------------------------------------

type FReq = Request<Rb2>;
type FHandle = tower_test::mock::Handle<FReq, Response<Full<Bytes>>>;

async fn admitted_full<S>(service: &S, handle: &mut FHandle, host: &str, what: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let call = tokio::spawn(
        service
            .clone()
            .oneshot(get(&format!("http://{host}/check"))),
    );
    let Ok(Some((_, send))) =
        tokio::time::timeout(Duration::from_secs(20), handle.next_request()).await
    else {
        panic!("{what}: a new call was not admitted (capacity leaked)");
    };
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200, "{what}");
}

/// Dropping a full-stack call at every await point gives back the
/// capacity below (`ConcurrencyLimit(2)`): during the credential's load,
/// mid-hedge-race with both permits taken, during the quota's hold; the
/// spent scope still sends once its window resets.
#[tokio::test(start_paused = true)]
async fn dropping_a_full_stack_call_mid_race_mid_hold_mid_auth_leaves_full_capacity() {
    let (inner, mut handle) = tower_test::mock::pair::<FReq, Response<Full<Bytes>>>();
    let source = support::Rotating::new(Duration::from_secs(3));
    let service = ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(source))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget())
        .layer(ConcurrencyLimitLayer::new(2).layer(inner));

    // 1. During the first credential's load (3 s).
    let call = tokio::spawn(service.clone().oneshot(get("http://a.example/1")));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!call.is_finished());
    call.abort();
    let _ = call.await;
    admitted_full(
        &service,
        &mut handle,
        "a.example",
        "dropped during the credential's load",
    )
    .await;

    // 2. During the race: both attempts in flight, both permits taken
    // (the scope warmed first: the quota's cold-start probe answered).
    admitted_full(&service, &mut handle, "b.example", "warm-up").await;
    let call = tokio::spawn(service.clone().oneshot(get("http://b.example/2")));
    let (_, _first) = handle.next_request().await.unwrap();
    let (_, _second) = tokio::time::timeout(Duration::from_secs(1), handle.next_request())
        .await
        .expect("the hedge is sent after 100 ms")
        .unwrap();
    call.abort();
    let _ = call.await;
    admitted_full(&service, &mut handle, "b.example", "dropped mid-race (1)").await;
    admitted_full(&service, &mut handle, "b.example", "dropped mid-race (2)").await;

    // 3. During the quota's hold: c.example spent, reset in 5 s.
    let call = tokio::spawn(service.clone().oneshot(get("http://c.example/3")));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(reply(
        200,
        &[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "5"),
        ],
        "",
    ));
    call.await.unwrap().unwrap();
    let held = tokio::spawn(service.clone().oneshot(get("http://c.example/held")));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!held.is_finished(), "held by the quota");
    held.abort();
    let _ = held.await;
    admitted_full(
        &service,
        &mut handle,
        "d.example",
        "dropped during the hold (1)",
    )
    .await;
    admitted_full(
        &service,
        &mut handle,
        "d.example",
        "dropped during the hold (2)",
    )
    .await;
    // The spent scope still sends once its window resets, once.
    let later = tokio::spawn(service.clone().oneshot(get("http://c.example/later")));
    let (request, send) = tokio::time::timeout(Duration::from_secs(20), handle.next_request())
        .await
        .expect("sent after the reset")
        .unwrap();
    assert_eq!(request.uri().path(), "/later");
    send.send_response(reply(200, &[], ""));
    later.await.unwrap().unwrap();
}

// ---------------------------------------------------------------------
// tower-http's TraceLayer driven by our classifier, around the stack.
// ---------------------------------------------------------------------

/// tower-http 0.7's `TraceLayer` driven by our classifier (feature
/// `tower-http-07`) around the full stack: a success after a retry is no
/// failure; a call ending in an error is one.
#[cfg(all(feature = "tower-http-07", feature = "tracing"))]
#[tokio::test(start_paused = true)]
async fn tower_http_trace_layer_with_our_classifier_around_the_full_stack() {
    use tower_http::classify::SharedClassifier;
    use tower_http::trace::TraceLayer;
    let scripted = Scripted::new();
    let upstream = scripted.service(|n| {
        if n == 0 {
            reply(503, &[], "")
        } else {
            reply(200, &[], "ok")
        }
    });
    let failures = Arc::new(AtomicUsize::new(0));
    let counted = failures.clone();
    let service = ServiceBuilder::new()
        .layer(
            TraceLayer::new(SharedClassifier::new(
                tower_api_errors::classify::DefaultClassifier::new(),
            ))
            .on_failure(
                move |_f: tower_api_errors::classify::Failure, _: Duration, _: &tracing::Span| {
                    counted.fetch_add(1, Ordering::SeqCst);
                },
            ),
        )
        .layer(full_layer())
        .service(upstream);
    let response = service
        .clone()
        .oneshot(get("http://api.example/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(support::body_bytes(response.into_body()).await, "ok");
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    // A call that ends in an error is one failure.
    let scripted = Scripted::new();
    let upstream = scripted.service(|_| reply(404, &[], ""));
    let failures2 = Arc::new(AtomicUsize::new(0));
    let counted = failures2.clone();
    let service = ServiceBuilder::new()
        .layer(
            TraceLayer::new(SharedClassifier::new(
                tower_api_errors::classify::DefaultClassifier::new(),
            ))
            .on_failure(
                move |_f: tower_api_errors::classify::Failure, _: Duration, _: &tracing::Span| {
                    counted.fetch_add(1, Ordering::SeqCst);
                },
            ),
        )
        .layer(full_layer())
        .service(upstream);
    let Err(error) = service.oneshot(get("http://api.example/")).await else {
        panic!("a 404 succeeded")
    };
    assert!(matches!(error, Error::Api(_)));
    assert_eq!(failures2.load(Ordering::SeqCst), 1);
}

async fn hedge_sent_over(limit: Option<usize>, auth: bool, quota: bool) -> bool {
    let (inner, mut handle) = tower_test::mock::pair::<FReq, Response<Full<Bytes>>>();
    let inner = tower::util::BoxCloneSyncService::new(
        ServiceBuilder::new()
            .option_layer(limit.map(ConcurrencyLimitLayer::new))
            .service(inner),
    );
    let layer = ApiErrorsLayer::new().retry(exact());
    let hedge = HedgeLayer::fixed(Duration::from_millis(100)).no_budget();
    type Boxed =
        tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, Error>;
    let service: Boxed = match (auth, quota) {
        (true, true) => Boxed::new(
            layer
                .auth(AuthLayer::new(token()))
                .quota(QuotaLayer::new())
                .hedge(hedge)
                .layer(inner),
        ),
        (true, false) => Boxed::new(
            layer
                .auth(AuthLayer::new(token()))
                .hedge(hedge)
                .layer(inner),
        ),
        (false, true) => Boxed::new(layer.quota(QuotaLayer::new()).hedge(hedge).layer(inner)),
        (false, false) => Boxed::new(layer.hedge(hedge).layer(inner)),
    };
    // A first call answered at once: the scope is known (the quota's
    // cold-start probe answered, nothing announced).
    let warm = tokio::spawn(service.clone().oneshot(get("http://b.example/1")));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(reply(200, &[], ""));
    warm.await.unwrap().unwrap();
    let call = tokio::spawn(service.clone().oneshot(get("http://b.example/2")));
    let (_, _first) = handle.next_request().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await;
    call.abort();
    second.is_ok()
}

/// The hedge is sent after its delay whatever sits below it: with or
/// without a `ConcurrencyLimit`, auth and quota layers (hedge module
/// docs).
#[tokio::test(start_paused = true)]
async fn the_hedge_is_sent_after_its_delay_whatever_sits_below() {
    let mut report = Vec::new();
    for limit in [None, Some(2)] {
        for auth in [false, true] {
            for quota in [false, true] {
                report.push((
                    limit,
                    auth,
                    quota,
                    hedge_sent_over(limit, auth, quota).await,
                ));
            }
        }
    }
    assert!(
        report.iter().all(|r| r.3),
        "(limit, auth, quota, hedge sent): {report:?}"
    );
}

// ---------------------------------------------------------------------
// SuccessPeekLayer: a peeked success given back as it came.
// ---------------------------------------------------------------------

/// A success `SuccessPeekLayer` peeked at comes back as it came (parse
/// module docs: "byte for byte"): its extensions, bytes and trailers, and
/// a body that fails mid-peek still fails, after its bytes.
#[tokio::test]
async fn a_peeked_success_keeps_its_extensions_bytes_trailers_and_error() {
    use tower_api_errors::parse::SuccessPeekLayer;
    // Extensions and trailers.
    let upstream = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, support::BoxError>::new(4);
        tokio::spawn(async move {
            tx.send_data(Bytes::from_static(b"{\"ok\": true,"))
                .await
                .ok();
            tx.send_data(Bytes::from_static(b" \"n\": 1}")).await.ok();
            let mut trailers = http::HeaderMap::new();
            trailers.insert("x-checksum", http::HeaderValue::from_static("abc"));
            tx.send_trailers(trailers).await.ok();
        });
        let mut response = Response::builder()
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        response.extensions_mut().insert(Marker(9));
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let response = service.oneshot(get("http://api.example/")).await.unwrap();
    assert_eq!(
        response.extensions().get::<Marker>(),
        Some(&Marker(9)),
        "extension lost"
    );
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    assert_eq!(collected.to_bytes(), "{\"ok\": true, \"n\": 1}");
    assert_eq!(
        trailers
            .and_then(|t| t.get("x-checksum").cloned())
            .as_ref()
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("abc".to_owned()),
        "trailers lost"
    );

    // A body that fails mid-peek: given back with its bytes and its error.
    let upstream = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, support::BoxError>::new(4);
        tokio::spawn(async move {
            tx.send_data(Bytes::from_static(b"{\"ok\": tr")).await.ok();
            tx.abort("upstream reset".into());
        });
        let response = Response::builder()
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let response = service.oneshot(get("http://api.example/")).await.unwrap();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes.extend_from_slice(&frame.into_data().unwrap_or_default()),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert_eq!(bytes, b"{\"ok\": tr");
    assert!(failed, "the body's error was swallowed");
}

// ---------------------------------------------------------------------
// Hedging over hyper-util, HTTP/1 and h2, against a real server: one
// answer; the loser is cancelled at the server.
// ---------------------------------------------------------------------

struct OnDrop(Option<tokio::sync::oneshot::Sender<()>>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A hedged call over hyper-util, HTTP/1 and h2, against a real server:
/// one answer (the hedge's), and the losing attempt is cancelled at the
/// server (hedge module docs: "the other attempt is dropped (cancelled)").
#[tokio::test]
async fn a_hedged_call_over_hyper_util_has_one_answer_and_the_loser_is_cancelled() {
    for h2 in [false, true] {
        let (cancelled_tx, cancelled_rx) = tokio::sync::oneshot::channel::<()>();
        let cancelled_tx = Arc::new(Mutex::new(Some(cancelled_tx)));
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let addr = support::serve(move |req| {
            let i = counter.fetch_add(1, Ordering::SeqCst);
            let guard = OnDrop(if i == 1 {
                cancelled_tx.lock().unwrap().take()
            } else {
                None
            });
            async move {
                let _guard = guard;
                // The warm-up (0) answers; the hedged call's first attempt
                // (1) never does; its hedge (2) answers.
                if i == 1 {
                    std::future::pending::<()>().await;
                }
                support::response(
                    200,
                    &[("x-attempt", &i.to_string())],
                    format!("answer {i} to {}", req.uri().path()),
                )
            }
        })
        .await;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(h2)
                .build_http::<Rb2>();
        let service = ApiErrorsLayer::new()
            .retry(exact())
            .quota(QuotaLayer::new())
            .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
            .client(client);
        let warm = service
            .clone()
            .oneshot(get(&format!("http://{addr}/warm")))
            .await
            .unwrap();
        assert_eq!(warm.status(), 200);
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            service
                .clone()
                .oneshot(get(&format!("http://{addr}/hedged"))),
        )
        .await
        .expect("the hedge answers")
        .unwrap();
        assert_eq!(response.headers()["x-attempt"], "2", "h2={h2}");
        let body = support::body_bytes(response.into_body()).await;
        assert_eq!(body, "answer 2 to /hedged");
        tokio::time::timeout(Duration::from_secs(10), cancelled_rx)
            .await
            .expect("the loser was not cancelled at the server")
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 3, "h2={h2}");
    }
}

// ---------------------------------------------------------------------
// The reqwest adapters: a success streams through the stack.
// ---------------------------------------------------------------------

/// A success body streams through the stack over `ReqwestClient` and
/// `ApiErrorsMiddleware` (reqwest module docs): headers and the first
/// chunk arrive while the server holds the rest.
#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn a_success_body_streams_through_the_stack_over_reqwest_and_reqwest_middleware() {
    let release = Arc::new(tokio::sync::Notify::new());
    let addr = streaming_server(release.clone(), 200).await;
    let service = full_layer().layer(tower_api_errors::reqwest::ReqwestClient::new(
        reqwest::Client::new(),
    ));
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        service.oneshot(get(&format!("http://{addr}/s"))),
    )
    .await
    .expect("headers arrive before the body ends (reqwest)")
    .unwrap();
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("first chunk streams (reqwest)")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    release.notify_one();
    assert_eq!(body.collect().await.unwrap().to_bytes(), "rest");

    let release = Arc::new(tokio::sync::Notify::new());
    let addr = streaming_server(release.clone(), 200).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tower_api_errors::reqwest::ApiErrorsMiddleware::new())
        .build();
    let mut response = tokio::time::timeout(
        Duration::from_secs(5),
        client.get(format!("http://{addr}/s")).send(),
    )
    .await
    .expect("headers arrive before the body ends (middleware)")
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .expect("first chunk streams (middleware)")
        .unwrap()
        .unwrap();
    assert_eq!(first, "first");
    release.notify_one();
    assert_eq!(response.bytes().await.unwrap(), "rest");
}

/// Work per call does not grow once every scope map is full and each new
/// authority evicts (no rebuild or copy of a map per call), counted as
/// allocations, which are deterministic on a current-thread runtime
/// (elapsed times are not): 2,000 calls to new authorities with the maps
/// full allocate no more than 2,000 calls made while they filled, plus a
/// quarter.
#[test]
fn a_storm_of_new_authorities_allocates_no_more_per_call_when_the_maps_are_full() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = storm_service();
        let before = live::allocations();
        storm(&service, 0, 2_000, true).await;
        let filling = live::allocations() - before;
        storm(&service, 2_000, 20_000, true).await;
        let before = live::allocations();
        storm(&service, 20_000, 22_000, true).await;
        let full = live::allocations() - before;
        assert!(
            full <= filling + filling / 4,
            "2,000 calls allocated {filling} times while the maps filled, {full} once full"
        );
    });
}

/// tower-http 0.6's `TraceLayer` takes our classifier too (feature
/// `tower-http-06`), around the full stack.
#[cfg(feature = "tower-http-06")]
#[tokio::test(start_paused = true)]
async fn tower_http_06_trace_layer_with_our_classifier_around_the_stack() {
    use tower_http_06::classify::SharedClassifier;
    use tower_http_06::trace::TraceLayer;
    let scripted = Scripted::new();
    let upstream = scripted.service(|_| reply(200, &[], "ok"));
    let service = ServiceBuilder::new()
        .layer(TraceLayer::new(SharedClassifier::new(
            tower_api_errors::classify::DefaultClassifier::new(),
        )))
        .layer(full_layer())
        .service(upstream);
    let response = service.oneshot(get("http://api.example/")).await.unwrap();
    assert_eq!(support::body_bytes(response.into_body()).await, "ok");
}

// ---------------------------------------------------------------------
// Debug of the layers, services and futures never prints a credential.
// ---------------------------------------------------------------------

/// `Debug` of the layers, services and in-flight futures never prints a
/// credential: the token source's, userinfo, a query key or a header's
/// (redact module docs).
#[tokio::test(start_paused = true)]
async fn debug_of_layers_services_and_futures_never_prints_the_credential() {
    let secret = "sk_live_probe_secret_0123456789";
    let layer = full_layer();
    let shown_layer = format!("{layer:?} {:?} {:?}", AuthLayer::new(token()), token());
    assert!(!shown_layer.contains(secret), "{shown_layer}");
    let upstream = tower::service_fn(|_req: Request<Rb2>| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, Infallible>(reply(200, &[], ""))
    });
    let mut service = layer.layer(upstream);
    // A call made: the credential is cached now.
    service
        .clone()
        .oneshot(get("http://api.example/"))
        .await
        .unwrap();
    let shown = format!("{service:?} {service:#?}");
    assert!(!shown.contains(secret), "service Debug: {shown}");
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let mut request = get("http://user:pa55w0rd@api.example/?api_key=k_9876543210");
    request.headers_mut().insert(
        "x-api-key",
        http::HeaderValue::from_static("xk_header_secret_555"),
    );
    let future = service.call(request);
    let shown = format!("{future:?} {future:#?}");
    for s in [secret, "pa55w0rd", "k_9876543210", "xk_header_secret_555"] {
        assert!(!shown.contains(s), "future Debug shows {s}: {shown}");
    }
    future.await.unwrap();
}

// ---------------------------------------------------------------------
// A streamed request body reaches the server as it is produced, not
// buffered up front, through the full stack (hedge included), h1 and h2.
// ---------------------------------------------------------------------

/// A streamed request body reaches the server as it is produced, not
/// buffered up front (`ReplayBody` docs), through the full stack, hedge
/// included, PUT and POST, HTTP/1 and h2.
#[tokio::test]
async fn a_streamed_request_body_is_sent_as_it_is_produced_through_the_full_stack() {
    type Chan = http_body_util::channel::Channel<Bytes, support::BoxError>;
    for h2 in [false, true] {
        for method in [http::Method::PUT, http::Method::POST] {
            let (got_first_tx, got_first_rx) = tokio::sync::oneshot::channel::<()>();
            let got_first_tx = Arc::new(Mutex::new(Some(got_first_tx)));
            let addr = support::serve(move |req| {
                let got_first_tx = got_first_tx.clone();
                async move {
                    let mut body = req.into_body();
                    let mut all = Vec::new();
                    while let Some(frame) = body.frame().await {
                        let frame = frame.unwrap();
                        if let Some(data) = frame.data_ref() {
                            all.extend_from_slice(data);
                            if let Some(tx) = got_first_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    support::response(200, &[], all)
                }
            })
            .await;
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .http2_only(h2)
                    .build_http::<ReplayBody<ReplayBody<Chan>>>();
            let service = ApiErrorsLayer::new()
                .retry(exact())
                .auth(AuthLayer::new(token()))
                .quota(QuotaLayer::new())
                .breaker(CircuitBreakerLayer::new())
                .hedge(HedgeLayer::fixed(Duration::from_millis(20)).no_budget())
                .client(client);
            let (mut tx, body) = Chan::new(1);
            let request = Request::builder()
                .method(method.clone())
                .uri(format!("http://{addr}/upload"))
                .body(body)
                .unwrap();
            let call = tokio::spawn(service.oneshot(request));
            tx.send_data(Bytes::from_static(b"first-")).await.unwrap();
            tokio::time::timeout(Duration::from_secs(10), got_first_rx)
                .await
                .unwrap_or_else(|_| panic!("h2={h2} {method}: the first chunk was held back"))
                .unwrap();
            tx.send_data(Bytes::from_static(b"rest")).await.unwrap();
            drop(tx);
            let response = tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("answered")
                .unwrap()
                .unwrap();
            assert_eq!(
                support::body_bytes(response.into_body()).await,
                "first-rest",
                "h2={h2} {method}"
            );
        }
    }
}

// ---------------------------------------------------------------------
// The auth layer's credential, echoed by a hostile server in its error
// body, never reaches the error: alone, in the stack, on the hedge's
// attempt, in a header of its own.
// ---------------------------------------------------------------------

/// The auth layer's credential, echoed by a hostile server in its body
/// and headers, never reaches the error: alone, in a header of its own,
/// in the full stack (redact module docs).
#[tokio::test]
async fn an_echoed_auth_credential_is_scrubbed_alone_and_in_every_stack() {
    let secret = "sk_live_probe_secret_0123456789";
    let addr = support::serve(|req| async move {
        let auth = req
            .headers()
            .get("authorization")
            .or_else(|| req.headers().get("x-api-key"))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let attempt = req.uri().path().to_owned();
        support::response(
            400,
            &[("content-type", "application/json"), ("x-echo", &auth)],
            format!("{{\"error\":{{\"code\":\"bad\",\"message\":\"credential {auth} refused at {attempt}\",\"details\":[\"{auth}\"]}}}}"),
        )
    })
    .await;
    let uri = format!("http://{addr}/v1");
    let mut shown = Vec::new();
    // Alone: AuthLayer -> ErrorBodyParseLayer -> client.
    let alone = ServiceBuilder::new()
        .layer(AuthLayer::new(token()))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>());
    let error = alone.oneshot(get(&uri)).await.unwrap_err();
    shown.push((
        "alone",
        format!("{error} | {error:?} | {}", support::error_text(&error)),
    ));
    // Alone, in a header of its own, no scheme.
    let alone = ServiceBuilder::new()
        .layer(
            AuthLayer::new(token())
                .header(http::HeaderName::from_static("x-api-key"))
                .no_scheme(),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>());
    let error = alone.oneshot(get(&uri)).await.unwrap_err();
    shown.push((
        "alone x-api-key",
        format!("{error} | {error:?} | {}", support::error_text(&error)),
    ));
    // The full stack.
    let error = full_layer()
        .client(support::client::<Rb2>())
        .oneshot(get(&uri))
        .await
        .unwrap_err();
    shown.push((
        "full",
        format!("{error} | {error:?} | {}", support::error_text(&error)),
    ));
    // The stack with the credential in its own header.
    let error = ApiErrorsLayer::new()
        .auth(
            AuthLayer::new(token())
                .header(http::HeaderName::from_static("x-api-key"))
                .no_scheme(),
        )
        .client(support::client::<Rb>())
        .oneshot(get(&uri))
        .await
        .unwrap_err();
    shown.push((
        "stack x-api-key",
        format!("{error} | {error:?} | {}", support::error_text(&error)),
    ));
    if let Error::Api(api) = &error {
        shown.push(("details", format!("{:?}", api.details())));
    }
    for (what, text) in &shown {
        assert!(
            !text.contains(secret),
            "{what}: the credential leaked: {text}"
        );
        assert!(
            !text.contains("0123456789"),
            "{what}: part of the credential leaked: {text}"
        );
    }
}

// ---------------------------------------------------------------------
// No background task left: after a mix of successes, failures, hedges,
// refreshes and dropped calls, and the service dropped, the runtime has
// no task of ours alive.
// ---------------------------------------------------------------------

/// No task of ours outlives the stack: after successes, failures, hedges,
/// refreshes and aborted calls, and the service dropped, the runtime has
/// no task alive.
#[tokio::test(start_paused = true)]
async fn no_background_task_is_left_after_the_stack_is_dropped() {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let upstream = tower::service_fn(move |req: Request<Rb2>| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        let fresh = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == "Bearer tok_new");
        async move {
            if i % 7 == 3 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok::<_, Infallible>(match i % 5 {
                0 if !fresh => reply(401, &[], ""),
                1 => reply(503, &[], ""),
                2 => reply(
                    200,
                    &[
                        ("x-ratelimit-limit", "100"),
                        ("x-ratelimit-remaining", "90"),
                        ("x-ratelimit-reset", "10"),
                    ],
                    "",
                ),
                _ => reply(200, &[], ""),
            })
        }
    });
    let service = ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(support::Rotating::new(
            Duration::from_millis(10),
        )))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_millis(500)).no_budget())
        .layer(upstream);
    let mut calls = Vec::new();
    for i in 0..60 {
        calls.push(tokio::spawn(
            service
                .clone()
                .oneshot(get(&format!("http://h{}.example/{i}", i % 4))),
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, call) in calls.iter().enumerate() {
        if i % 6 == 0 {
            call.abort();
        }
    }
    for call in calls {
        let _ = call.await;
    }
    drop(service);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let alive = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert_eq!(alive, 0, "{alive} tasks left alive");
}

// ---------------------------------------------------------------------
// A hedged call dropped: both attempts cancelled at the server.
// ---------------------------------------------------------------------

/// A call dropped with a hedge in flight (as a `Timeout` above drops it
/// when it fires) cancels both attempts at the server: the hedge's
/// attempts are futures it owns (hedge module docs: "the other attempt is
/// dropped (cancelled)"), and dropping the call drops both.
/// Ordered by the server: the call is dropped once both attempts arrived.
#[tokio::test]
async fn a_dropped_hedged_call_cancels_both_attempts_at_the_server() {
    let (arrived_tx, mut arrived_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (dropped_tx, mut dropped_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = support::serve(move |_req| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        let (arrived_tx, dropped_tx) = (arrived_tx.clone(), dropped_tx.clone());
        async move {
            if i == 0 {
                return support::response(200, &[], "warm");
            }
            struct Guard(usize, tokio::sync::mpsc::UnboundedSender<usize>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    let _ = self.1.send(self.0);
                }
            }
            let _guard = Guard(i, dropped_tx);
            let _ = arrived_tx.send(i);
            std::future::pending::<()>().await;
            unreachable!()
        }
    })
    .await;
    let service = ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
        .client(support::client::<Rb2>());
    service
        .clone()
        .oneshot(get(&format!("http://{addr}/warm")))
        .await
        .unwrap();
    let call = service.oneshot(get(&format!("http://{addr}/slow")));
    let both_arrived = async {
        let mut arrived = vec![
            arrived_rx.recv().await.unwrap(),
            arrived_rx.recv().await.unwrap(),
        ];
        arrived.sort();
        arrived
    };
    let arrived = tokio::select! {
        outcome = call => panic!("the call ended before its hedge was sent: {outcome:?}"),
        arrived = support::bounded("both attempts at the server", both_arrived) => arrived,
    };
    assert_eq!(arrived, vec![1, 2]);
    let mut dropped = Vec::new();
    for _ in 0..2 {
        let got =
            support::bounded("an attempt left running at the server", dropped_rx.recv()).await;
        dropped.push(got.unwrap());
    }
    dropped.sort();
    assert_eq!(dropped, vec![1, 2]);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------
// Readiness of the re-sends, an inner `poll_ready` failing mid-call, and
// tower's `Buffer`, `ConcurrencyLimit`, `RateLimit`, `Timeout` and
// `BoxCloneService` beside the layers' own re-sends (brought in from the
// probe-tower session): a re-send waits for the readiness of the clone it
// goes on, a readiness failure ends the call typed with its source,
// tower's middleware below still bounds every send, and a call dropped
// while its re-send waits for a permit leaves the permit free.
// ---------------------------------------------------------------------

/// The `Authorization` a request carries ("" if none).
fn bearer<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A GET of `path` on api.example in a body the auth layer alone can
/// replay (below no retry layer, nothing else wraps it).
fn replayable(path: &str) -> MReq {
    get(&format!("http://api.example{path}")).map(|body| ReplayBody::new(body, 1024))
}

/// `Retry`'s docs ("# Clone", src/retry/service.rs): a retry goes through
/// a clone of the inner service "and drives that clone's `poll_ready`
/// before it sends" — with the inner service unready, no retry is sent.
#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_readiness_of_the_clone_it_is_sent_on() {
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    handle.allow(1);
    let service = RetryLayer::new(exact()).layer(inner);
    let call = tokio::spawn(service.oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    send.send_response(reply(503, &[("retry-after", "1")], ""));
    // No readiness left (tower-test's mock would panic on a call without it).
    let early = next(&mut handle, Duration::from_secs(5)).await;
    assert!(early.is_none(), "a retry was sent on an unready service");
    handle.allow(1);
    let (_, send) = next(&mut handle, Duration::from_secs(1))
        .await
        .expect("the retry, once the service is ready");
    send.send_response(reply(200, &[], "ok"));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// `Auth`'s docs ("# Clone", src/auth/service.rs): "a re-send after a
/// renewal goes through a clone of the inner service ... and drives that
/// clone's `poll_ready` first" — with the inner service unready, the
/// renewed re-send waits.
#[tokio::test(start_paused = true)]
async fn the_auth_resend_waits_for_the_readiness_of_the_clone_it_is_sent_on() {
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    handle.allow(1);
    let service = AuthLayer::new(idp::numbered()).layer(inner);
    let call = tokio::spawn(service.oneshot(replayable("/a")));
    let (request, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bearer(&request), "Bearer tok-1");
    send.send_response(reply(401, &[], ""));
    let early = next(&mut handle, Duration::from_secs(5)).await;
    assert!(early.is_none(), "a re-send on an unready service");
    handle.allow(1);
    let (request, send) = next(&mut handle, Duration::from_secs(1))
        .await
        .expect("the re-send, once the service is ready");
    assert_eq!(bearer(&request), "Bearer tok-2");
    send.send_response(reply(200, &[], "ok"));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// `StopReason::ServiceFailed` (src/error/report.rs: "the error is its
/// failure"): the clone a retry goes on failing its `poll_ready` after
/// the first send ends the call typed, the inner error in its source chain.
#[tokio::test(start_paused = true)]
async fn a_poll_ready_failure_before_a_retry_ends_the_call_with_its_source() {
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = RetryLayer::new(exact()).layer(inner);
    let call = tokio::spawn(service.oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    handle.send_error(NotReady);
    send.send_response(reply(503, &[], ""));
    let error = call.await.unwrap().unwrap_err();
    assert!(has_source::<NotReady>(&error), "source lost: {error:?}");
    assert_eq!(error.retries().attempts(), 1, "{error:?}");
    let stopped = error.retries().stopped();
    assert_eq!(stopped, Some(tower_api_errors::StopReason::ServiceFailed));
}

/// The same for the auth layer's re-send (src/auth/service.rs, "# Clone":
/// it drives the clone's `poll_ready` first): its failure after a 401 ends
/// the call with the inner error in its source chain, not a hang or a panic.
#[tokio::test(start_paused = true)]
async fn a_poll_ready_failure_before_the_auth_resend_ends_the_call_with_its_source() {
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = AuthLayer::new(idp::numbered()).layer(inner);
    let call = tokio::spawn(service.oneshot(replayable("/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    handle.send_error(NotReady);
    send.send_response(reply(401, &[], ""));
    let error = call.await.unwrap().unwrap_err();
    assert!(has_source::<NotReady>(&error), "source lost: {error:?}");
    assert!(next(&mut handle, Duration::from_secs(5)).await.is_none());
}

/// The crate docs' pitfall table (src/lib.rs, "When it does not compile":
/// `ServiceBuilder::buffer(n)` below the retry layer): retries through
/// `Buffer(1)` over `ConcurrencyLimit(1)`, eight calls each failing once,
/// are every one answered, each path sent exactly twice.
#[tokio::test(start_paused = true)]
async fn retries_through_a_buffer_over_a_concurrency_limit_answer_every_call_once() {
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .buffer(1)
        .concurrency_limit(1)
        .service(inner);
    let calls: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(
                service
                    .clone()
                    .oneshot(get(&format!("http://api.example/{i}"))),
            )
        })
        .collect();
    let mut sends = std::collections::HashMap::<String, u32>::new();
    for _ in 0..16 {
        let (request, send) = next(&mut handle, Duration::from_secs(30))
            .await
            .expect("every send arrives");
        let n = sends.entry(request.uri().path().to_owned()).or_default();
        *n += 1;
        send.send_response(reply(if *n == 1 { 503 } else { 200 }, &[], ""));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert!(sends.values().all(|n| *n == 2), "{sends:?}");
    assert!(next(&mut handle, Duration::from_secs(5)).await.is_none());
}

/// The same table's other fix (`BoxCloneService`, which is `Send` but not
/// `Sync`): the full stack over one, itself boxed as one and spawned,
/// retries a 503 and answers.
#[tokio::test(start_paused = true)]
async fn the_full_stack_over_and_as_a_box_clone_service_retries() {
    let (inner, mut handle) = tower_test::mock::pair::<FReq, Response<Full<Bytes>>>();
    let inner = tower::util::BoxCloneService::new(inner);
    let service = tower::util::BoxCloneService::new(full_layer().layer(inner));
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    send.send_response(reply(503, &[], ""));
    let (_, send) = next(&mut handle, Duration::from_secs(5))
        .await
        .expect("the retry");
    send.send_response(reply(200, &[], ""));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// `Retry`'s docs ("# Clone": every retry goes through a clone of the
/// service below, after its `poll_ready`): below a `Buffer`, tower's
/// `RateLimit(1 per s)` paces the retries too — three calls failing once,
/// six sends, none closer than 1 s to the one before.
#[tokio::test(start_paused = true)]
async fn retries_below_a_buffered_rate_limit_keep_its_pace() {
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .buffer(16)
        .rate_limit(1, Duration::from_secs(1))
        .service(inner);
    let calls: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(
                service
                    .clone()
                    .oneshot(get(&format!("http://api.example/{i}"))),
            )
        })
        .collect();
    let mut at = Vec::new();
    let mut sends = std::collections::HashMap::<String, u32>::new();
    for _ in 0..6 {
        let (request, send) = next(&mut handle, Duration::from_secs(30))
            .await
            .expect("a send");
        at.push(tokio::time::Instant::now());
        let n = sends.entry(request.uri().path().to_owned()).or_default();
        *n += 1;
        let status = if *n == 1 { 503 } else { 200 };
        send.send_response(reply(status, &[("retry-after", "0")], ""));
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert!(sends.values().all(|n| *n == 2), "{sends:?}");
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_secs(1), "sends {gap:?} apart");
    }
}

/// The auth module's pitfall table (src/auth/mod.rs: one refresh per
/// rejected credential, "single-flight"): a per-attempt `Timeout` between
/// the retry and the auth layer cuts an attempt waiting on a 3 s renewal;
/// the retry joins the same renewal: one refresh, and the call succeeds.
#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_over_a_slow_renewal_costs_one_refresh() {
    let source = idp::Idp::new(|_, rejected| match rejected {
        None => idp::ok("tok-1"),
        Some(_) => Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(Credential::new("tok-2")?)
        }),
    });
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .timeout(Duration::from_secs(2))
        .layer(AuthLayer::new(source.clone()))
        .service(inner);
    let call = tokio::spawn(service.oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    send.send_response(reply(401, &[], ""));
    // The retry may go with tok-1 while the renewal runs (new sends use the
    // current credential until it is replaced); a 401 to it joins the
    // renewal in flight.
    let mut sent = Vec::new();
    loop {
        let (request, send) = next(&mut handle, Duration::from_secs(10))
            .await
            .expect("a send with the renewed credential");
        sent.push(bearer(&request));
        if bearer(&request) == "Bearer tok-2" {
            send.send_response(reply(200, &[], ""));
            break;
        }
        send.send_response(reply(401, &[], ""));
        assert!(sent.len() < 4, "{sent:?}");
    }
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
    assert_eq!(source.refreshes(), 1, "{sent:?}");
}

/// Hedge docs (src/hedge/mod.rs: "the first final answer wins"; a hedge
/// passes the layers below like any send): hedge and retry over
/// `ConcurrencyLimit(1)`, the hedge waiting for the permit while the first
/// attempt's 503 is retried — two sends, one answer, and the permit whole
/// again afterwards.
#[tokio::test(start_paused = true)]
async fn a_hedge_and_a_retry_competing_for_one_permit_end_the_call_once() {
    let (inner, mut handle) = tower_test::mock::pair::<FReq, Response<Full<Bytes>>>();
    let layer = ApiErrorsLayer::new()
        .retry(exact())
        .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget());
    let service = layer.layer(ConcurrencyLimitLayer::new(1).layer(inner));
    let call = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
    let (_, send) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    // Past the hedge's delay: the hedge waits for the only permit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    send.send_response(reply(503, &[], ""));
    let (_, send) = next(&mut handle, Duration::from_secs(10))
        .await
        .expect("a second send (the retry or the hedge)");
    send.send_response(reply(200, &[], ""));
    let result = support::bounded("the call", call).await.unwrap();
    assert_eq!(result.unwrap().status(), 200);
    let third = next(&mut handle, Duration::from_secs(5)).await;
    assert!(third.is_none(), "a third send");
    let again = tokio::spawn(service.clone().oneshot(get("http://api.example/b")));
    let (_, send) = next(&mut handle, Duration::from_secs(1))
        .await
        .expect("admitted: the permit is back");
    send.send_response(reply(200, &[], ""));
    assert_eq!(again.await.unwrap().unwrap().status(), 200);
}

/// tower's `Service` contract (a dropped future gives back what it holds)
/// and `Auth`'s docs ("# Clone": the re-send drives its clone's
/// `poll_ready`): the auth layer alone over `ConcurrencyLimit(1)`, a call
/// dropped while its renewed re-send waits for the permit another call
/// holds is never sent, and the permit is free for the next call.
#[tokio::test(start_paused = true)]
async fn an_auth_call_dropped_while_its_resend_waits_for_the_permit_leaves_it_free() {
    // Each credential load (the first, then the renewal) takes a permit.
    let gate = Arc::new(tokio::sync::Semaphore::new(1));
    let loads = gate.clone();
    let source = idp::Idp::new(move |n, _| {
        let gate = loads.clone();
        Box::pin(async move {
            gate.acquire().await.unwrap().forget();
            Ok(Credential::new(&format!("tok-{n}"))?)
        })
    });
    let (inner, mut handle) = tower_test::mock::pair::<MReq, Response<Full<Bytes>>>();
    let service = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .concurrency_limit(1)
        .service(inner);
    let call = tokio::spawn(service.clone().oneshot(replayable("/dropped")));
    let (_, rejected) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    // Another call queues for the only permit; the renewal may go ahead.
    let holder = tokio::spawn(service.clone().oneshot(replayable("/holder")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.add_permits(1);
    rejected.send_response(reply(401, &[], ""));
    let (held, send_holder) = next(&mut handle, Duration::from_secs(1)).await.unwrap();
    assert_eq!(held.uri().path(), "/holder");
    // The dropped call's re-send now waits for the permit the holder has.
    tokio::time::sleep(Duration::from_millis(10)).await;
    call.abort();
    let _ = call.await;
    send_holder.send_response(reply(200, &[], ""));
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
    let check = tokio::spawn(service.clone().oneshot(replayable("/check")));
    let Some((request, send)) = next(&mut handle, Duration::from_secs(1)).await else {
        panic!("the permit leaked with the dropped call");
    };
    assert_eq!(request.uri().path(), "/check", "the dropped call was sent");
    assert_eq!(bearer(&request), "Bearer tok-2");
    send.send_response(reply(200, &[], ""));
    assert_eq!(check.await.unwrap().unwrap().status(), 200);
}

// ---------------------------------------------------------------------
// gRPC through a real tonic `Channel` (brought in from the probe-tower
// session): a re-send's `grpc-timeout` stays a valid one, a call answered
// with headers is committed, a client stream answered early is sent again
// whole (by the retry and the auth layer), the crate's own quota refusal
// reaches a tonic caller with its code, and a refused connection is
// retried for a call that is a POST.
// ---------------------------------------------------------------------

#[cfg(feature = "grpc")]
mod grpc {
    use super::{bearer, echo, idp, support};
    use bytes::Bytes;
    use echo::{EchoReply, EchoRequest};
    use http::{HeaderMap, Request, Response};
    use http_body::Frame;
    use http_body_util::BodyExt;
    use hyper::body::Incoming;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use support::{BoxError, Frames, ServerBody};
    use tonic::transport::{Channel, Endpoint};
    use tonic::Code;
    use tower::{Layer, ServiceExt};
    use tower_api_errors::auth::AuthLayer;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ApiErrorsLayer, QuotaLayer, RetryPolicy};

    /// The README's tonic line: `$layer` around `$channel`, its errors
    /// `tonic::Status`es, under a tonic client.
    macro_rules! readme_line {
        ($layer:expr, $channel:expr) => {
            tonic::client::Grpc::new(
                $layer
                    .layer($channel.map_request(to_body))
                    .map_err(tower_api_errors::grpc::into_status),
            )
        };
    }

    /// Streams three messages through the tonic `$client` to a server
    /// (`answering_early`) that answers once it has read the first: `m0`,
    /// then, once `$first_read` fires, `m1` and `m2`. Asserts the call's
    /// reply ("got all") and gives the three messages' frames, in order.
    macro_rules! three_messages {
        ($client:expr, $first_read:expr) => {{
            let mut client = $client;
            client.ready().await.unwrap();
            let message = |i: u32| EchoRequest {
                scenario: format!("m{i}"),
            };
            let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(8);
            tx.send(message(0)).await.unwrap();
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            let call = tokio::spawn(async move {
                let request = tonic::Request::new(stream);
                client
                    .client_streaming(request, echo::SAY, echo::codec())
                    .await
            });
            support::bounded("the first message read", $first_read.notified()).await;
            tx.send(message(1)).await.unwrap();
            tx.send(message(2)).await.unwrap();
            drop(tx);
            let reply = support::bounded("the call", call).await.unwrap();
            assert_eq!(reply.unwrap().into_inner().message, "got all");
            (0..3)
                .flat_map(|i| echo::frame(&message(i)).to_vec())
                .collect::<Vec<u8>>()
        }};
    }

    /// Each request's headers and body, as a test server saw them.
    type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

    /// A server on loopback recording each request (headers, whole body)
    /// and answering the `n`-th (from 0) with `answer(n)`.
    async fn recording<F>(answer: F) -> (String, Seen)
    where
        F: Fn(usize) -> Response<ServerBody> + Send + Sync + 'static,
    {
        let seen = Seen::default();
        let record = seen.clone();
        let answer = Arc::new(answer);
        let addr = support::serve(move |request: Request<Incoming>| {
            let (record, answer) = (record.clone(), answer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes());
                let n = {
                    let mut seen = record.lock().unwrap();
                    seen.push((parts.headers, body.unwrap_or_default()));
                    seen.len() - 1
                };
                answer(n)
            }
        })
        .await;
        (format!("http://{addr}"), seen)
    }

    /// A server on loopback for a client-streaming call: the first call
    /// reads one message, signals `first_read`, and fails trailers-only
    /// with `code`; every later one records its credential and whole body
    /// and answers `OK`.
    async fn answering_early(
        code: u32,
        first_read: Arc<tokio::sync::Notify>,
    ) -> (String, Arc<Mutex<Vec<(String, Bytes)>>>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let addr = support::serve(move |request: Request<Incoming>| {
            let (calls, record, first_read) = (calls.clone(), record.clone(), first_read.clone());
            async move {
                let token = bearer(&request);
                let mut body = request.into_body();
                if calls.fetch_add(1, SeqCst) == 0 {
                    let _ = body.frame().await;
                    first_read.notify_one();
                    return trailers_only(code, "try again", &[]);
                }
                let whole = body.collect().await.unwrap().to_bytes();
                record.lock().unwrap().push((token, whole));
                grpc_ok("got all")
            }
        })
        .await;
        (format!("http://{addr}"), seen)
    }

    /// A trailers-only gRPC answer: `code`, `message`, and `extra` headers.
    fn trailers_only(code: u32, message: &str, extra: &[(&str, &str)]) -> Response<ServerBody> {
        let code = code.to_string();
        let mut headers = vec![
            ("content-type", "application/grpc"),
            ("grpc-status", code.as_str()),
            ("grpc-message", message),
        ];
        headers.extend_from_slice(extra);
        support::response(200, &headers, Bytes::new())
    }

    /// A gRPC answer with headers: one `EchoReply` per text, then `trailers`.
    fn answered(texts: &[&str], trailers: &[(&'static str, &'static str)]) -> Response<ServerBody> {
        let mut frames: Vec<Result<Frame<Bytes>, BoxError>> = texts
            .iter()
            .map(|text| {
                let reply = EchoReply {
                    message: (*text).into(),
                };
                Ok(Frame::data(echo::frame(&reply)))
            })
            .collect();
        let mut map = HeaderMap::new();
        for (name, value) in trailers {
            map.insert(*name, value.parse().unwrap());
        }
        frames.push(Ok(Frame::trailers(map)));
        let mut answer = Response::new(Frames::<BoxError>::new(frames).boxed());
        answer
            .headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        answer
    }

    /// A gRPC `OK` answer carrying `text`.
    fn grpc_ok(text: &str) -> Response<ServerBody> {
        answered(&[text], &[("grpc-status", "0")])
    }

    /// A tonic `Channel` connected to `base`.
    async fn channel(base: &str) -> Channel {
        let endpoint = Endpoint::from_shared(base.to_owned()).unwrap();
        endpoint.connect().await.unwrap()
    }

    /// The README's `map_request`: the retry layer's replayable body as tonic's.
    fn to_body(request: Request<ReplayBody<tonic::body::Body>>) -> Request<tonic::body::Body> {
        request.map(tonic::body::Body::new)
    }

    /// Quick exact backoff, and retries on (every gRPC call is a POST).
    fn quick() -> RetryPolicy {
        support::quick_exact().retry_non_idempotent(true)
    }

    fn say(scenario: &str) -> tonic::Request<EchoRequest> {
        tonic::Request::new(EchoRequest {
            scenario: scenario.into(),
        })
    }

    /// src/grpc/mod.rs: each re-send "carries the time left" of the call's
    /// `grpc-timeout`; gRPC over HTTP/2: "TimeoutValue → {positive integer
    /// as ASCII string of at most 8 digits}". From the largest a client may
    /// send down to an hour, the re-send's value is still a valid one.
    #[tokio::test]
    async fn a_resend_of_the_largest_grpc_timeout_carries_a_valid_one() {
        for timeout in ["99999999H", "99999999S", "99999999m", "1H"] {
            let (base, seen) = recording(|n| match n {
                0 => trailers_only(14, "x", &[]),
                _ => grpc_ok("ok"),
            })
            .await;
            let stack = ApiErrorsLayer::new()
                .retry(quick())
                .layer(channel(&base).await.map_request(to_body));
            let call = stack.oneshot(echo::raw_say(&base, timeout));
            let response = support::bounded("the call", call).await.unwrap();
            assert_eq!(response.status(), 200);
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2, "{timeout}: retried once");
            for (headers, _) in seen.iter() {
                let value = headers["grpc-timeout"].to_str().unwrap();
                let (digits, unit) = value.split_at(value.len() - 1);
                let valid = (1..=8).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && "HMSmun".contains(unit);
                assert!(valid, "{timeout}: sent grpc-timeout {value}");
            }
        }
    }

    /// src/grpc/mod.rs (only trailers-only responses are classified) and
    /// gRFC A6 (a call is committed once response headers arrive): headers,
    /// no message, then `UNAVAILABLE` in the trailers of a server stream —
    /// one send, and the caller gets `UNAVAILABLE`.
    #[tokio::test]
    async fn a_server_stream_failing_in_its_trailers_without_messages_is_not_retried() {
        let trailers = [("grpc-status", "14"), ("grpc-message", "gone")];
        let (base, seen) = recording(move |_| answered(&[], &trailers)).await;
        let mut client = readme_line!(ApiErrorsLayer::new().retry(quick()), channel(&base).await);
        client.ready().await.unwrap();
        let call = client.server_streaming(say("a"), echo::STREAM, echo::codec());
        let status = match support::bounded("the call", call).await {
            Ok(response) => response.into_inner().message().await.unwrap_err(),
            Err(status) => status,
        };
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "a committed call was retried"
        );
    }

    /// `ReplayBody`'s docs (src/replay.rs: a retry's copy "goes on reading
    /// the original where the last attempt left it (the server may have
    /// answered before reading everything)"): a client stream answered
    /// trailers-only `UNAVAILABLE` after its first message, while the
    /// client still streams, is sent again whole and in order.
    #[tokio::test]
    async fn a_client_stream_answered_early_is_retried_whole() {
        let first_read = Arc::new(tokio::sync::Notify::new());
        let (base, seen) = answering_early(14, first_read.clone()).await;
        let client = readme_line!(ApiErrorsLayer::new().retry(quick()), channel(&base).await);
        let expected = three_messages!(client, first_read);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "one re-send");
        assert_eq!(seen[0].1.to_vec(), expected);
    }

    /// The same for the auth layer (src/grpc/mod.rs: it "renews the
    /// credential on `UNAUTHENTICATED` ... and sends again, once"): a client
    /// stream rejected after its first message is sent again whole, with the
    /// renewed credential.
    #[tokio::test]
    async fn a_client_stream_rejected_early_is_resent_whole_with_the_new_credential() {
        let first_read = Arc::new(tokio::sync::Notify::new());
        let (base, seen) = answering_early(16, first_read.clone()).await;
        let layer = ApiErrorsLayer::new()
            .retry(quick())
            .auth(AuthLayer::new(idp::numbered()));
        let expected = three_messages!(readme_line!(layer, channel(&base).await), first_read);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "one re-send");
        assert_eq!(seen[0].0, "Bearer tok-2");
        assert_eq!(seen[0].1.to_vec(), expected);
    }

    /// `into_status` (src/grpc/convert.rs: "the crate's own ... quota
    /// refusal" would reach a tonic caller as `UNKNOWN`; here its kind's
    /// code): a scope held for a 10 min pushback refuses the next call
    /// without sending it, and the caller gets `RESOURCE_EXHAUSTED`.
    #[tokio::test]
    async fn a_quota_refusal_reaches_a_tonic_caller_as_resource_exhausted() {
        let pushback = [("grpc-retry-pushback-ms", "600000")];
        let (base, seen) = recording(move |_| trailers_only(8, "quota", &pushback)).await;
        let layer = ApiErrorsLayer::new()
            .retry(quick())
            .quota(QuotaLayer::new());
        let mut client = readme_line!(layer, channel(&base).await);
        client.ready().await.unwrap();
        let call = client.unary(say("a"), echo::SAY, echo::codec());
        let status = support::bounded("the first call", call).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        client.ready().await.unwrap();
        let call = client.unary(say("a"), echo::SAY, echo::codec());
        let status = support::bounded("the refused call", call)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert_eq!(seen.lock().unwrap().len(), 1, "the refused call was sent");
    }

    /// README, "What is here": the retry layer retries "connect errors" (a
    /// request never sent, safe even for a POST). A gRPC call (a POST)
    /// through a lazily connected `Channel` to a port that refuses
    /// connections is tried the default three times.
    #[tokio::test]
    async fn a_refused_grpc_connection_is_retried_as_a_connect_error() {
        let base = format!("http://{}", support::refused_addr());
        let channel = Endpoint::from_shared(base.clone()).unwrap().connect_lazy();
        let stack = ApiErrorsLayer::new()
            .retry(support::quick_exact())
            .layer(channel.map_request(to_body));
        let call = stack.oneshot(echo::raw_say(&base, "10S"));
        let error = support::bounded("the call", call).await.unwrap_err();
        assert_eq!(error.retries().attempts(), 3, "{error}");
    }
}

// ---------------------------------------------------------------------
// Probes: composition users write (session probe-tower).
// ---------------------------------------------------------------------
mod composed {
    use super::*;

    /// `Buffer` above the full stack over an upstream that always fails
    /// (503s; a connection reset for one path in ten): sixty concurrent
    /// callers each end in exactly one error, recovered as our typed
    /// `Error` by `Error::from_boxed` (its docs: as `Buffer` boxes it),
    /// each within the retry layer's 150 s deadline (retry module docs:
    /// "the whole logical request"), however the breaker opens meanwhile.
    #[tokio::test(start_paused = true)]
    async fn buffer_over_a_failing_stack_gives_every_caller_one_typed_error() {
        let n = Arc::new(AtomicUsize::new(0));
        let counter = n.clone();
        let upstream = tower::service_fn(move |req: Request<Rb2>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let reset = req.uri().path().ends_with('1');
            async move {
                if reset {
                    Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
                } else {
                    Ok::<_, std::io::Error>(reply(503, &[], ""))
                }
            }
        });
        let service = tower::buffer::Buffer::new(full_layer().layer(upstream), 3);
        let start = tokio::time::Instant::now();
        let mut calls = Vec::new();
        for i in 0..60 {
            let s = service.clone();
            calls.push(tokio::spawn(async move {
                let outcome = s.oneshot(get(&format!("http://api.example/{i}"))).await;
                (outcome, start.elapsed())
            }));
        }
        for (i, call) in calls.into_iter().enumerate() {
            let (outcome, took) = call.await.unwrap();
            assert!(took <= Duration::from_secs(150), "call {i} took {took:?}");
            match Error::from_boxed(outcome.unwrap_err()) {
                Error::Api(api) => assert_eq!(api.status(), 503, "call {i}"),
                Error::Transport(_) | Error::CircuitOpen(_) => {}
                other => panic!("call {i}: {other:?}"),
            }
        }
        // The breaker, open, kept some calls from being sent at all.
        assert!(n.load(Ordering::SeqCst) >= 1);
    }

    /// The stack on a multi-thread runtime, driven by `call_all` over a
    /// `ConcurrencyLimit(2)` below: every request answered once, in order,
    /// each first 503 retried, and a 404 (not retried) one typed error
    /// item that does not end the stream. (Eight requests: a retry each
    /// stays within the default budget, 20 % + 1/s over 10 s.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn call_all_on_a_multi_thread_runtime_answers_every_request_once() {
        use tokio_stream::StreamExt;
        let failed: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let upstream = tower::service_fn(move |req: Request<Rb>| {
            let missing = req.uri().path() == "/3";
            let first = failed.lock().unwrap().insert(req.uri().path().to_owned());
            async move {
                Ok::<_, Infallible>(if missing {
                    reply(404, &[], "")
                } else if first {
                    reply(503, &[("retry-after", "0")], "")
                } else {
                    reply(200, &[], "")
                })
            }
        });
        let service = ApiErrorsLayer::new()
            .retry(support::quick_exact())
            .layer(ConcurrencyLimitLayer::new(2).layer(upstream));
        let requests = tokio_stream::iter((0..8).map(|i| get(&format!("http://api.example/{i}"))));
        let answers: Vec<_> =
            support::bounded("call_all", service.call_all(requests).collect::<Vec<_>>()).await;
        assert_eq!(answers.len(), 8);
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Err(Error::Api(api)) if i == 3 => assert_eq!(api.status(), 404),
                Ok(response) if i != 3 => assert_eq!(response.status(), 200, "{i}"),
                other => panic!("{i}: {other:?}"),
            }
        }
    }

    /// `option_layer` (tower's `Either`) of our parse layer composes: on,
    /// a 503 ends as our typed error; off, it passes through as a response.
    /// (`Either` needs one request, response and error type on both sides:
    /// the upstream's error made ours, which our layers pass through
    /// unchanged. The retry layer changes the request body to a
    /// `ReplayBody`, so it fits `option_layer` only over a service that
    /// takes both bodies.)
    #[tokio::test(start_paused = true)]
    async fn option_layer_of_our_parse_layer_composes_either_way() {
        for on in [true, false] {
            let scripted = Scripted::new();
            let upstream = scripted.service(|_| reply(503, &[], ""));
            let service = ServiceBuilder::new()
                .option_layer(on.then(ErrorBodyParseLayer::new))
                .map_err(|e: Infallible| -> Error { match e {} })
                .service(upstream);
            let outcome = service.oneshot(get("http://api.example/")).await;
            match (on, outcome) {
                (true, Err(Error::Api(api))) => assert_eq!(api.status(), 503),
                (false, Ok(response)) => assert_eq!(response.status(), 503),
                (on, other) => panic!("on: {on}: {other:?}"),
            }
        }
    }

    /// The whole stack boxed as a `BoxCloneSyncService` (what axum `State`
    /// needs: `Clone + Send + Sync + 'static`) still retries.
    #[tokio::test(start_paused = true)]
    async fn the_full_stack_as_a_box_clone_sync_service_retries() {
        let scripted = Scripted::new();
        let upstream = scripted.service(|n| reply(if n == 0 { 503 } else { 200 }, &[], ""));
        let service = tower::util::BoxCloneSyncService::new(full_layer().layer(upstream));
        assert_user_bounds::<_, Request<Full<Bytes>>>(&service);
        let response = service.oneshot(get("http://api.example/")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(scripted.count(), 2);
    }

    /// `LoadShed` above a quota hold: the quota layer holds in the call's
    /// future, not in `poll_ready` (quota module docs, "Holding"), so the
    /// held call is not shed; it is sent once the window resets.
    #[tokio::test(start_paused = true)]
    async fn load_shed_above_a_quota_hold_waits_and_does_not_shed() {
        let scripted = Scripted::new();
        // The first answer says the window is spent for 2 s.
        let upstream = scripted.service(|n| {
            if n == 0 {
                reply(
                    200,
                    &[("ratelimit-remaining", "0"), ("ratelimit-reset", "2")],
                    "",
                )
            } else {
                reply(200, &[], "")
            }
        });
        let service = ServiceBuilder::new()
            .load_shed()
            .layer(
                ApiErrorsLayer::new()
                    .retry(exact())
                    .quota(QuotaLayer::new()),
            )
            .service(upstream);
        service
            .clone()
            .oneshot(get("http://api.example/a"))
            .await
            .unwrap();
        let start = tokio::time::Instant::now();
        let second = service.oneshot(get("http://api.example/b")).await;
        assert_eq!(second.unwrap().status(), 200);
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(scripted.count(), 2);
    }

    /// tower's own `tower::retry::Retry` above our retry layer: each outer
    /// attempt runs our whole retry loop, so attempts multiply, as the
    /// retry module docs ("Bringing your own `tower::retry::Policy`") say:
    /// 2 outer x 3 inner = 6 sends.
    #[tokio::test(start_paused = true)]
    async fn towers_retry_above_ours_multiplies_attempts() {
        #[derive(Clone)]
        struct Twice(usize);
        impl<E> tower::retry::Policy<Request<Full<Bytes>>, Response<Full<Bytes>>, E> for Twice {
            type Future = std::future::Ready<()>;
            fn retry(
                &mut self,
                _: &mut Request<Full<Bytes>>,
                result: &mut Result<Response<Full<Bytes>>, E>,
            ) -> Option<Self::Future> {
                let failed = match result {
                    Ok(response) => response.status().is_server_error(),
                    Err(_) => true,
                };
                if failed && self.0 > 0 {
                    self.0 -= 1;
                    Some(std::future::ready(()))
                } else {
                    None
                }
            }
            fn clone_request(&mut self, r: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
                let mut c = Request::new(r.body().clone());
                *c.uri_mut() = r.uri().clone();
                *c.method_mut() = r.method().clone();
                Some(c)
            }
        }
        let scripted = Scripted::new();
        let upstream = scripted.service(|_| reply(503, &[], ""));
        let service = ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(Twice(1)))
            .layer(RetryLayer::new(exact()))
            .service(upstream);
        let response = service.oneshot(get("http://api.example/")).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(scripted.count(), 6);
    }

    /// `call` without `poll_ready` first breaks tower's contract
    /// ("`poll_ready` must be called first", `tower::Service::call` docs):
    /// the stack does not hide it, the `ConcurrencyLimit` below panics
    /// with tower's own message rather than sending past its limit.
    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "poll_ready must be called first")]
    async fn call_without_poll_ready_over_a_concurrency_limit_panics_as_tower_does() {
        let scripted = Scripted::new();
        let upstream = scripted.service(|_| reply(200, &[], ""));
        let mut service = ApiErrorsLayer::new()
            .retry(exact())
            .layer(ConcurrencyLimitLayer::new(1).layer(upstream));
        let _ = service.call(get("http://api.example/")).await;
    }

    /// A `BoxError` boundary between our layers (a user's `map_err` into
    /// `BoxError`, or a `tower::buffer::Buffer` over the parse layer), the
    /// whole erased as a `BoxCloneSyncService`:
    /// the retry layer above still sees our typed error (`Error` docs:
    /// "our own `Error` passes through unchanged"), so the 503's
    /// `Retry-After: 2` is honoured (RFC 9110 section 10.2.3) and the retry
    /// is sent 2 s later; the caller gets a success.
    #[tokio::test(start_paused = true)]
    async fn our_error_through_a_box_error_boundary_keeps_its_retry_hint() {
        type Erased = tower::util::BoxCloneSyncService<
            Request<Rb>,
            Response<Full<Bytes>>,
            tower_api_errors::BoxError,
        >;
        for buffered in [false, true] {
            // (A `service_fn`: `Buffer` needs a nameable `Future`.)
            let arrivals: Arc<Mutex<Vec<tokio::time::Instant>>> = Arc::default();
            let seen = arrivals.clone();
            let upstream = tower::service_fn(move |_: Request<Rb>| {
                let mut seen = seen.lock().unwrap();
                seen.push(tokio::time::Instant::now());
                let first = seen.len() == 1;
                std::future::ready(Ok::<_, Infallible>(if first {
                    reply(503, &[("retry-after", "2")], "")
                } else {
                    reply(200, &[], "")
                }))
            });
            let parse = ErrorBodyParseLayer::new().layer(upstream);
            let erased = if buffered {
                Erased::new(tower::buffer::Buffer::new(parse, 4))
            } else {
                Erased::new(parse.map_err(tower_api_errors::BoxError::from))
            };
            let service = RetryLayer::new(exact()).layer(erased);
            let response = service.oneshot(get("http://api.example/")).await.unwrap();
            assert_eq!(response.status(), 200, "buffered: {buffered}");
            let arrivals = arrivals.lock().unwrap();
            assert_eq!(arrivals.len(), 2, "buffered: {buffered}");
            let wait = arrivals[1] - arrivals[0];
            assert_eq!(wait, Duration::from_secs(2), "buffered: {buffered}");
        }
    }

    /// What users write: an axum app on a multi-thread runtime whose
    /// `State` holds the full stack, boxed as a `BoxCloneSyncService` over
    /// `Buffer` and a `ConcurrencyLimit(4)` below, over hyper-util to a real
    /// loopback upstream that answers 503 to the first request of a few
    /// paths. Sixty concurrent requests to the app each get the upstream's
    /// success, once (no hang, no lost call).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn axum_state_with_a_boxed_buffered_stack_answers_every_request() {
        use axum::extract::{Path, State};
        use axum::routing::get as axum_get;
        type Client = tower::util::BoxCloneSyncService<
            Request<Full<Bytes>>,
            Response<hyper::body::Incoming>,
            Error,
        >;
        let failed: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let upstream = support::serve(move |req| {
            let path = req.uri().path().to_owned();
            let first = path.ends_with('7') && failed.lock().unwrap().insert(path.clone());
            async move {
                if first {
                    support::response(503, &[("retry-after", "0")], "")
                } else {
                    support::response(200, &[], path)
                }
            }
        })
        .await;
        let stack = ApiErrorsLayer::new()
            .retry(support::quick_exact())
            .auth(AuthLayer::new(token()))
            .quota(QuotaLayer::new())
            .breaker(CircuitBreakerLayer::new())
            .hedge(HedgeLayer::fixed(Duration::from_secs(5)))
            .layer(ConcurrencyLimitLayer::new(4).layer(support::client::<Rb2>()));
        let buffered = tower::buffer::Buffer::new(stack, 16).map_err(Error::from_boxed);
        #[derive(Clone)]
        struct AppState {
            client: Client,
            base: String,
        }
        async fn handler(State(state): State<AppState>, Path(n): Path<u32>) -> String {
            let uri = format!("{}/{n}", state.base);
            let request = Request::get(uri).body(Full::new(Bytes::new())).unwrap();
            let response = state.client.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            String::from_utf8(support::body_bytes(response.into_body()).await.to_vec()).unwrap()
        }
        let state = AppState {
            client: Client::new(buffered),
            base: format!("http://{upstream}"),
        };
        let app: axum::Router = axum::Router::new()
            .route("/{n}", axum_get(handler))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::new();
        let mut calls = Vec::new();
        for n in 0..60u32 {
            let http = http.clone();
            calls.push(tokio::spawn(async move {
                let response = http.get(format!("http://{addr}/{n}")).send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            }));
        }
        for (n, call) in calls.into_iter().enumerate() {
            let (status, body) = support::bounded("an app call", call).await.unwrap();
            assert_eq!((status.as_u16(), body), (200, format!("/{n}")));
        }
    }

    /// Backpressure from below: with a `ConcurrencyLimit(1)` under the
    /// stack held by a first call, the stack's `poll_ready` is pending
    /// (macros: "the inner service's readiness"), so a `LoadShed` above
    /// sheds the second call with `Overloaded` and sends nothing; the
    /// first call then completes. For the full stack and each layer alone.
    #[tokio::test(start_paused = true)]
    async fn backpressure_of_a_concurrency_limit_below_reaches_a_load_shed_above() {
        async fn shed<B: Send + 'static, L>(layer: L, what: &str)
        where
            L: Layer<
                tower::limit::ConcurrencyLimit<
                    tower::util::BoxCloneSyncService<Request<B>, Response<Full<Bytes>>, Infallible>,
                >,
            >,
            L::Service: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>>
                + Clone
                + Send
                + 'static,
            <L::Service as Service<Request<Full<Bytes>>>>::Error: Into<tower_api_errors::BoxError>,
            <L::Service as Service<Request<Full<Bytes>>>>::Future: Send,
        {
            let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
            let sent = Arc::new(AtomicUsize::new(0));
            let count = sent.clone();
            let upstream = tower::util::BoxCloneSyncService::new(tower::service_fn(
                move |_req: Request<B>| {
                    let mut gate = gate_rx.clone();
                    count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        gate.wait_for(|open| *open).await.unwrap();
                        Ok::<_, Infallible>(reply(200, &[], ""))
                    }
                },
            ));
            let service = ServiceBuilder::new()
                .load_shed()
                .layer(layer)
                .layer(ConcurrencyLimitLayer::new(1))
                .service(upstream);
            let first = tokio::spawn(service.clone().oneshot(get("http://api.example/a")));
            while sent.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            let error = service
                .clone()
                .oneshot(get("http://api.example/b"))
                .await
                .unwrap_err();
            assert!(
                error.is::<tower::load_shed::error::Overloaded>(),
                "{what}: {error:?}"
            );
            assert_eq!(
                sent.load(Ordering::SeqCst),
                1,
                "{what}: the shed call was sent"
            );
            gate_tx.send(true).unwrap();
            assert_eq!(first.await.unwrap().unwrap().status(), 200, "{what}");
        }
        shed::<Rb2, _>(full_layer(), "full stack").await;
        shed::<Rb, _>(RetryLayer::new(exact()), "retry").await;
        shed::<Full<Bytes>, _>(AuthLayer::new(token()), "auth").await;
        shed::<Full<Bytes>, _>(QuotaLayer::new(), "quota").await;
        shed::<Full<Bytes>, _>(CircuitBreakerLayer::new(), "breaker").await;
        shed::<Rb, _>(HedgeLayer::fixed(Duration::from_secs(5)), "hedge").await;
        shed::<Full<Bytes>, _>(ErrorBodyParseLayer::new(), "parse").await;
    }

    /// An upstream whose `poll_ready` fails (a pool that cannot connect),
    /// under the full stack, under a `Buffer` with thirty callers: the
    /// `Buffer` worker fails once and every caller ends with one error (no
    /// hang), typed as our transport error by `Error::from_boxed`, with the
    /// upstream's `io::Error` in its source chain (tower's `Buffer` docs: a
    /// failed worker's error is shared with every caller).
    #[tokio::test(start_paused = true)]
    async fn a_failing_poll_ready_under_a_buffer_ends_every_caller_once() {
        #[derive(Clone)]
        struct Unreachable;
        impl<B> Service<Request<B>> for Unreachable {
            type Response = Response<Full<Bytes>>;
            type Error = std::io::Error;
            type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
            fn poll_ready(
                &mut self,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), Self::Error>> {
                let refused = std::io::ErrorKind::ConnectionRefused;
                std::task::Poll::Ready(Err(refused.into()))
            }
            fn call(&mut self, _: Request<B>) -> Self::Future {
                panic!("called after a failed poll_ready")
            }
        }
        let service = tower::buffer::Buffer::new(full_layer().layer(Unreachable), 4);
        let mut calls = Vec::new();
        for i in 0..30 {
            let s = service.clone();
            calls.push(tokio::spawn(async move {
                s.oneshot(get(&format!("http://api.example/{i}"))).await
            }));
        }
        for (i, call) in calls.into_iter().enumerate() {
            let outcome = support::bounded("a buffered call", call).await.unwrap();
            let error = Error::from_boxed(outcome.unwrap_err());
            assert!(error.transport().is_some(), "call {i}: {error:?}");
            assert!(has_source::<std::io::Error>(&error), "call {i}: {error:?}");
        }
    }

    /// tower-http's `TraceLayer` between our layers (tracing each attempt):
    /// above the parse layer (its body wrapped) and below it (the parse
    /// layer reads a `trace::ResponseBody`), the 503's `Retry-After: 1` is
    /// honoured and the retry's 200 reaches the caller, body intact.
    #[tokio::test(start_paused = true)]
    async fn tower_http_trace_layer_between_our_layers_keeps_retrying() {
        use tower_http::trace::TraceLayer;
        fn upstream(
            scripted: &Scripted,
        ) -> impl Service<
            Request<Rb>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
            Future = impl Send,
        > + Clone
               + Send {
            scripted.service(|n| match n {
                0 => reply(503, &[("retry-after", "1")], ""),
                _ => reply(200, &[], "done"),
            })
        }
        let above = Scripted::new();
        let service = ServiceBuilder::new()
            .layer(RetryLayer::new(exact()))
            .layer(TraceLayer::new_for_http())
            .layer(ErrorBodyParseLayer::new())
            .service(upstream(&above));
        let response = service.oneshot(get("http://api.example/")).await.unwrap();
        let body = support::body_bytes(response.into_body()).await;
        assert_eq!(&body[..], b"done");
        assert_eq!(
            above.waits(),
            vec![Duration::from_secs(1)],
            "trace above parse"
        );

        let below = Scripted::new();
        let service = ServiceBuilder::new()
            .layer(RetryLayer::new(exact()))
            .layer(ErrorBodyParseLayer::new())
            .layer(TraceLayer::new_for_http())
            .service(upstream(&below));
        let response = service.oneshot(get("http://api.example/")).await.unwrap();
        let body = support::body_bytes(response.into_body()).await;
        assert_eq!(&body[..], b"done");
        assert_eq!(
            below.waits(),
            vec![Duration::from_secs(1)],
            "trace below parse"
        );
    }

    /// A `Buffer(1)` below the hedge layer (its clones share one worker):
    /// the hedge is still sent after its delay (hedge module docs) while
    /// the first attempt is unanswered, the first answer ends the call
    /// once, and the buffer's slot is free for the next call.
    #[tokio::test(start_paused = true)]
    async fn the_hedge_is_sent_over_a_buffer_of_one() {
        let (inner, mut handle) = tower_test::mock::pair::<FReq, Response<Full<Bytes>>>();
        let service = ApiErrorsLayer::new()
            .retry(exact())
            .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget())
            .layer(tower::buffer::Buffer::new(inner, 1));
        let warm = tokio::spawn(service.clone().oneshot(get("http://b.example/1")));
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(reply(200, &[], ""));
        warm.await.unwrap().unwrap();
        let call = tokio::spawn(service.clone().oneshot(get("http://b.example/2")));
        let (_, _first) = handle.next_request().await.unwrap();
        let (_, hedge) = support::bounded("the hedge", handle.next_request())
            .await
            .unwrap();
        hedge.send_response(reply(200, &[], "hedge"));
        let response = support::bounded("the hedged call", call)
            .await
            .unwrap()
            .unwrap();
        let body = support::body_bytes(response.into_body()).await;
        assert_eq!(&body[..], b"hedge");
        let next = tokio::spawn(service.oneshot(get("http://b.example/3")));
        let (_, send) = support::bounded("the next call", handle.next_request())
            .await
            .unwrap();
        send.send_response(reply(200, &[], ""));
        next.await.unwrap().unwrap();
    }
}
