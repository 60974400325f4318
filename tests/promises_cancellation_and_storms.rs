//! Promises under cancellation, backpressure and storms, at await points
//! the other suites do not reach: a first credential load whose callers
//! all left, a hanging first load under the deadline, budget accounting
//! through hedge + retry + auth, calls dropped mid error-body read (the
//! breaker's probe slot, the quota's in-flight places, in memory and in
//! Redis), waits that must not hoard a `ConcurrencyLimit` permit below,
//! hedges against the retry deadline and a `grpc-timeout`, exact sizes of
//! replayed bodies, early answers over reqwest, and reset and 401 storms
//! through the whole stack that end every call once.
#![cfg(all(
    feature = "grpc",
    feature = "hyper-util",
    feature = "redis",
    feature = "reqwest-middleware"
))]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use scripted::{exact, get, reply};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{BoxError, Frames, Rotating};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{ApiErrorsLayer, Error, ErrorBodyParseLayer, QuotaLayer};

/// The body the retry layer sends below itself.
type Rb = ReplayBody<Full<Bytes>>;
/// The body below a hedge layer inside `ApiErrorsLayer`.
type Hb = ReplayBody<Rb>;
/// A body the caller produces as the call goes.
type ChanBody = http_body_util::channel::Channel<Bytes, BoxError>;
/// A response body that may stream forever.
type Streamed = BoxBody<Bytes, BoxError>;

/// A budget that counts what is asked of it, and always allows.
#[derive(Clone, Default)]
struct CountingBudget {
    deposits: Arc<AtomicUsize>,
    withdrawals: Arc<AtomicUsize>,
}

impl tower::retry::budget::Budget for CountingBudget {
    fn deposit(&self) {
        self.deposits.fetch_add(1, Ordering::SeqCst);
    }
    fn withdraw(&self) -> bool {
        self.withdrawals.fetch_add(1, Ordering::SeqCst);
        true
    }
}

/// A source whose every credential the server refuses: `tok_0`, then
/// `tok_1`, `tok_2`, ... on each refresh (counted).
#[derive(Default)]
struct AlwaysRefused {
    refreshes: AtomicUsize,
}

impl TokenSource for AlwaysRefused {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Ok(Credential::new("tok_0")?) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        let credential = Credential::new(&format!("tok_{n}")).unwrap();
        Box::pin(async move { Ok(credential) })
    }
}

/// The request's `Authorization` header, or "".
fn bearer<B>(req: &Request<B>) -> String {
    req.headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// An upstream counting its requests in `sent` and answering each with
/// `answer(n, &request)` (n from 0) after `delay(n)`.
fn counted<B: Send + 'static>(
    sent: &Arc<AtomicUsize>,
    delay: fn(usize) -> Option<Duration>,
    answer: fn(usize, &Request<B>) -> u16,
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
       + Clone {
    let sent = sent.clone();
    tower::service_fn(move |req: Request<B>| {
        let n = sent.fetch_add(1, Ordering::SeqCst);
        let status = answer(n, &req);
        async move {
            match delay(n) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            Ok::<_, BoxError>(reply(status, &[], ""))
        }
    })
}

/// A response with `status` and a body the caller feeds through the
/// returned sender (kept alive by the caller: the body never ends).
fn streamed(
    status: u16,
    capacity: usize,
) -> (
    http_body_util::channel::Sender<Bytes, BoxError>,
    Response<Streamed>,
) {
    let (tx, body) = ChanBody::new(capacity);
    (
        tx,
        Response::builder()
            .status(status)
            .body(body.boxed())
            .unwrap(),
    )
}

// ---------------------------------------------------------------------
// Auth: the first load, a hanging load, the budget, a hedge.
// ---------------------------------------------------------------------

/// An upstream accepting any credential (200), counting its requests.
fn any_credential(
    sent: &Arc<AtomicUsize>,
) -> impl Service<Request<Rb>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
       + Clone {
    counted(sent, |_| Some(Duration::ZERO), |_, _| 200)
}

/// An upstream accepting only the renewed credential (`tok_new`).
fn new_only(
    sent: &Arc<AtomicUsize>,
) -> impl Service<Request<Rb>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
       + Clone {
    counted(
        sent,
        |_| Some(Duration::ZERO),
        |_, req| {
            if bearer(req) == "Bearer tok_new" {
                200
            } else {
                401
            }
        },
    )
}

/// `auth` module docs (one load, **single-flight**, that every waiting
/// request shares): when every caller waiting
/// on the first credential load is dropped, the next caller is not stuck
/// behind the abandoned load; it gets a credential and is sent once.
#[tokio::test(start_paused = true)]
async fn first_callers_all_dropped_mid_load_leave_the_load_to_the_next() {
    let sent = Arc::new(AtomicUsize::new(0));
    let source = Rotating::new(Duration::from_secs(2));
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(AuthLayer::new(source.clone()))
        .service(any_credential(&sent));
    let calls: Vec<_> = (0..50)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://a.example/"))))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for call in &calls {
        assert!(!call.is_finished(), "still loading");
        call.abort();
    }
    for call in calls {
        assert!(call.await.unwrap_err().is_cancelled());
    }
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "nothing sent by the dropped"
    );
    let late = tokio::time::timeout(
        Duration::from_secs(30),
        client.clone().oneshot(get("http://a.example/")),
    )
    .await
    .expect("the next caller is stuck behind the abandoned load");
    assert_eq!(late.unwrap().status(), 200);
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 0);
}

/// `retry` module docs (the deadline bounds "the whole logical request":
/// every attempt and every wait): a first credential load that hangs (past the auth layer's own
/// refresh timeout) is cut at the retry deadline.
#[tokio::test(start_paused = true)]
async fn a_hanging_first_load_is_cut_at_the_retry_deadline() {
    let sent = Arc::new(AtomicUsize::new(0));
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact().deadline(Duration::from_secs(3))))
        .layer(
            AuthLayer::new(Rotating::new(Duration::from_secs(3600)))
                .refresh_timeout(Duration::from_secs(100)),
        )
        .service(any_credential(&sent));
    let started = tokio::time::Instant::now();
    let result = client.oneshot(get("http://a.example/")).await;
    let took = started.elapsed();
    assert!(result.is_err(), "{result:?}");
    assert!(took <= Duration::from_secs(3), "took {took:?}");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
}

/// `auth` module docs (the re-send "counts no attempt and draws nothing
/// from the budget"): after a 401 and a renewal, the call deposits once
/// and withdraws nothing.
#[tokio::test(start_paused = true)]
async fn the_auth_resend_draws_nothing_from_the_budget() {
    let budget = CountingBudget::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact().budget(budget.clone())))
        .layer(AuthLayer::new(Rotating::new(Duration::ZERO)))
        .service(new_only(&sent));
    let response = client.oneshot(get("http://a.example/")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sent.load(Ordering::SeqCst), 2, "the 401, then the re-send");
    assert_eq!(budget.withdrawals.load(Ordering::SeqCst), 0);
    assert_eq!(budget.deposits.load(Ordering::SeqCst), 1);
}

/// `auth` module docs (one single-flight refresh per rejected credential)
/// and `hedge` module docs (the first final answer wins): a hedged call
/// whose two attempts both meet a 401 costs one refresh and has one answer.
#[tokio::test(start_paused = true)]
async fn a_hedged_call_whose_attempts_both_meet_a_401_costs_one_refresh_and_answers_once() {
    let sent = Arc::new(AtomicUsize::new(0));
    let upstream = counted::<Hb>(
        &sent,
        |_| Some(Duration::from_millis(100)),
        |_, req| {
            if bearer(req) == "Bearer tok_new" {
                200
            } else {
                401
            }
        },
    );
    let source = Rotating::new(Duration::from_millis(200));
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(source.clone()))
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
        .layer(upstream);
    let response = client.oneshot(get("http://a.example/")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        (3..=4).contains(&sent),
        "two 401s, then one or two re-sends: {sent}"
    );
}

/// `auth` module docs (one refresh per rejected credential, backed off when
/// the renewal is refused too): waves of calls all meeting 401s, whatever
/// credential they carry, cost a few refreshes and end every call.
#[tokio::test(start_paused = true)]
async fn a_storm_of_401s_with_refused_renewals_costs_few_refreshes_and_ends_every_call() {
    let sent = Arc::new(AtomicUsize::new(0));
    let upstream = counted::<Rb>(&sent, |_| Some(Duration::ZERO), |_, _| 401);
    let source = Arc::new(AlwaysRefused::default());
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(source.clone()))
        .layer(upstream);
    let mut calls = Vec::new();
    for _ in 0..5 {
        calls.extend(
            (0..200).map(|_| tokio::spawn(client.clone().oneshot(get("http://a.example/")))),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for call in calls {
        let result = tokio::time::timeout(Duration::from_secs(300), call)
            .await
            .expect("a call in the 401 storm hung")
            .unwrap();
        match result {
            Ok(response) => assert_eq!(response.status(), 401),
            Err(error) => assert!(
                error.unauthorized().is_some()
                    || error.api().is_some_and(|api| api.status() == 401),
                "{error:?}"
            ),
        }
    }
    let refreshes = source.refreshes.load(Ordering::SeqCst);
    assert!((1..=3).contains(&refreshes), "refreshes: {refreshes}");
    assert!(sent.load(Ordering::SeqCst) <= 2 * 1000);
}

// ---------------------------------------------------------------------
// Budget accounting through hedge and retry.
// ---------------------------------------------------------------------

/// CHANGELOG [Unreleased] Added (`RetryBudget` is `Clone`; a retry policy
/// and a hedge layer share one budget): with both on one budget, each call
/// deposits once, not once per layer, and a success withdraws nothing.
#[tokio::test(start_paused = true)]
async fn a_call_through_hedge_and_retry_on_one_budget_deposits_once() {
    let budget = CountingBudget::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let client = ServiceBuilder::new()
        .layer(HedgeLayer::fixed(Duration::from_secs(5)).budget(budget.clone()))
        .layer(RetryLayer::new(exact().budget(budget.clone())))
        .service(counted::<Hb>(&sent, |_| Some(Duration::ZERO), |_, _| 200));
    for _ in 0..10 {
        let response = client
            .clone()
            .oneshot(get("http://a.example/"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(sent.load(Ordering::SeqCst), 10);
    assert_eq!(budget.deposits.load(Ordering::SeqCst), 10, "each call once");
    assert_eq!(budget.withdrawals.load(Ordering::SeqCst), 0);
}

/// `hedge` module docs (hedges draw on the retry policy's budget in the
/// stack): a hedged call in `ApiErrorsLayer` deposits once and withdraws
/// once, for its one hedge.
#[tokio::test(start_paused = true)]
async fn a_hedged_call_in_api_errors_layer_deposits_once_and_withdraws_once() {
    let budget = CountingBudget::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let upstream = counted::<Hb>(
        &sent,
        |n| Some(Duration::from_millis(if n == 0 { 2000 } else { 10 })),
        |_, _| 200,
    );
    let client = ApiErrorsLayer::new()
        .retry(exact().budget(budget.clone()))
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)))
        .layer(upstream);
    let response = client.oneshot(get("http://a.example/")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert_eq!(budget.deposits.load(Ordering::SeqCst), 1);
    assert_eq!(budget.withdrawals.load(Ordering::SeqCst), 1);
}

/// `hedge` module docs (the hedge is sent after its delay): a call dropped
/// before its hedge was due sends no hedge and withdraws nothing.
#[tokio::test(start_paused = true)]
async fn a_call_dropped_before_its_hedge_withdraws_nothing_and_sends_nothing_more() {
    let budget = CountingBudget::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let upstream = counted::<Hb>(&sent, |_| Some(Duration::from_secs(10)), |_, _| 200);
    let client = ApiErrorsLayer::new()
        .retry(exact().budget(budget.clone()))
        .hedge(HedgeLayer::fixed(Duration::from_secs(1)))
        .layer(upstream);
    let call = tokio::spawn(client.clone().oneshot(get("http://a.example/")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(budget.withdrawals.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------
// Drops: the inner service, the breaker's probe slot, the quota's places.
// ---------------------------------------------------------------------

/// `quota` module docs ("Holding, and the inner service's readiness": a
/// waiting request takes a clone of the inner service, as the retry layer
/// does between attempts): calls dropped mid-backoff through the full
/// stack send nothing more and keep no such clone; dropping the stack
/// drops the inner service.
#[tokio::test(start_paused = true)]
async fn a_call_dropped_mid_backoff_releases_every_clone_of_the_inner_service() {
    let marker = Arc::new(());
    let held = marker.clone();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = tower::service_fn(move |_req: Request<Hb>| {
        let _keep = held.clone();
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, BoxError>(reply(503, &[("retry-after", "5")], "")) }
    });
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(Rotating::new(Duration::ZERO)))
        .breaker(CircuitBreakerLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_secs(1)))
        .layer(upstream);
    let baseline = Arc::strong_count(&marker);
    let calls: Vec<_> = (0..20)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://a.example/"))))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for call in &calls {
        assert!(!call.is_finished(), "backing off");
        call.abort();
    }
    for call in calls {
        let _ = call.await;
    }
    let sent_at_drop = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        sent_at_drop,
        "sent after the drop"
    );
    let kept = Arc::strong_count(&marker);
    assert!(
        kept <= baseline + 3,
        "clones of the inner service leaked: {baseline} -> {kept}"
    );
    drop(client);
    assert_eq!(
        Arc::strong_count(&marker),
        1,
        "the stack dropped, its inner service too"
    );
}

/// CHANGELOG [Unreleased] Added (circuit breaker: "one probe at a time; a
/// dropped probe frees its place"): a probe dropped while the parse layer
/// reads its endless error body frees the slot; the next call is the probe.
#[tokio::test(start_paused = true)]
async fn a_probe_dropped_mid_error_body_read_frees_the_probe_slot() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let keep = bodies.clone();
    let upstream = tower::service_fn(move |_req: Request<()>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let keep = keep.clone();
        async move {
            if n == 2 {
                // The probe: a 503 whose body never ends.
                let (tx, response) = streamed(503, 1);
                keep.lock().unwrap().push(tx);
                return Ok::<_, BoxError>(response);
            }
            let body = Full::new(Bytes::from_static(b"{\"error\":\"down\"}"))
                .map_err(|never| match never {})
                .boxed();
            Ok(Response::builder().status(503).body(body).unwrap())
        }
    });
    let client = ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new()
                .minimum_calls(2)
                .break_duration(Duration::from_secs(5), Duration::from_secs(60)),
        )
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let req = || Request::get("http://a.example/").body(()).unwrap();
    for _ in 0..2 {
        let e = client.clone().oneshot(req()).await.unwrap_err();
        assert!(e.api().is_some(), "{e:?}");
    }
    let open = client.clone().oneshot(req()).await.unwrap_err();
    assert!(open.circuit_open().is_some(), "{open:?}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let probe = tokio::spawn(client.clone().oneshot(req()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!probe.is_finished(), "reading the endless body");
    assert_eq!(sent.load(Ordering::SeqCst), 3);
    probe.abort();
    let _ = probe.await;
    let next = client.clone().oneshot(req()).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        4,
        "the dropped probe kept its slot: {next:?}"
    );
}

/// CHANGELOG [Unreleased] Added (circuit breaker: "a dropped probe frees
/// its place"): a hedged probe dropped by its caller while hanging frees
/// the slot; the next call is sent and answered.
#[tokio::test(start_paused = true)]
async fn a_hedged_probe_dropped_by_its_caller_frees_the_breakers_probe_slot() {
    let sent = Arc::new(AtomicUsize::new(0));
    let upstream = counted::<Hb>(
        &sent,
        |n| (n != 2).then_some(Duration::ZERO),
        |n, _| if n < 2 { 503 } else { 200 },
    );
    let client = ApiErrorsLayer::new()
        .retry(exact().max_attempts(1))
        .breaker(
            CircuitBreakerLayer::new()
                .minimum_calls(2)
                .break_duration(Duration::from_secs(5), Duration::from_secs(60)),
        )
        .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget())
        .layer(upstream);
    for _ in 0..2 {
        let _ = client.clone().oneshot(get("http://a.example/")).await;
    }
    let refused = client
        .clone()
        .oneshot(get("http://a.example/"))
        .await
        .unwrap_err();
    assert!(refused.circuit_open().is_some(), "{refused:?}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The probe hangs; its hedge is refused while the probe is out.
    let probe = tokio::spawn(client.clone().oneshot(get("http://a.example/")));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 3, "the probe alone");
    probe.abort();
    let _ = probe.await;
    let next = tokio::time::timeout(
        Duration::from_secs(30),
        client.clone().oneshot(get("http://a.example/")),
    )
    .await
    .expect("stuck behind the dropped probe");
    assert_eq!(
        next.unwrap().status(),
        200,
        "the dropped probe kept its slot"
    );
}

/// An upstream: `/hang` answers 503 with a body that never ends, and
/// announces on `reading` once the reader above took its first chunk (the
/// call is then mid error-body read); anything else 200.
fn stalled_503_for_hang(
    sent: Arc<AtomicUsize>,
    reading: tokio::sync::mpsc::UnboundedSender<()>,
) -> impl Service<Request<Rb>, Response = Response<Streamed>, Error = BoxError, Future = impl Send> + Clone
{
    tower::service_fn(move |req: Request<Rb>| {
        sent.fetch_add(1, Ordering::SeqCst);
        let hang = req.uri().path() == "/hang";
        let reading = reading.clone();
        async move {
            if hang {
                let (mut tx, response) = streamed(503, 1);
                tokio::spawn(async move {
                    let _ = tx.send_data(Bytes::from_static(b"{\"error\":")).await;
                    // The channel holds one chunk: this send waits for the
                    // reader to take the first.
                    if tx.send_data(Bytes::from_static(b" ")).await.is_ok() {
                        let _ = reading.send(());
                    }
                    std::future::pending::<()>().await;
                    drop(tx);
                });
                return Ok::<_, BoxError>(response);
            }
            let body = Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed();
            Ok(Response::builder().status(200).body(body).unwrap())
        }
    })
}

/// `quota` module docs (an open scope: "at most 16 requests are in
/// flight"): calls dropped while the parse layer reads their error body
/// give their in-flight places back; sixteen new ones go at once.
#[tokio::test(start_paused = true)]
async fn calls_dropped_mid_error_body_read_give_their_in_flight_places_back() {
    let sent = Arc::new(AtomicUsize::new(0));
    let (reading_tx, mut reading) = tokio::sync::mpsc::unbounded_channel();
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().no_budget())
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new().minimum_calls(1000))
        .layer(stalled_503_for_hang(sent.clone(), reading_tx));
    client
        .clone()
        .oneshot(get("http://open.example/"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..17)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://open.example/hang"))))
        .collect();
    for _ in 0..16 {
        reading.recv().await.unwrap();
    }
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "the first 16 went at once"
    );
    assert_eq!(
        sent.load(Ordering::SeqCst),
        1 + 16,
        "16 in flight, the 17th held"
    );
    for call in calls {
        call.abort();
        let _ = call.await;
    }
    let again = tokio::time::Instant::now();
    let calls: Vec<_> = (0..16)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://open.example/hang"))))
        .collect();
    for _ in 0..16 {
        reading.recv().await.unwrap();
    }
    assert_eq!(
        again.elapsed(),
        Duration::ZERO,
        "dropped mid-body-read, the requests kept their in-flight places"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 1 + 16 + 16);
    for call in calls {
        call.abort();
        let _ = call.await;
    }
}

/// README "Running a fleet with `RedisStore`" and `quota` module docs (an
/// open scope's in-flight bound): through a real `redis-server`, requests
/// dropped in flight give their places back; as many new ones go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_open_scopes_in_flight_bound_survives_dropped_requests() {
    let redis = redis_server::RedisServer::start(redis_server::free_port());
    let store = tower_api_errors::quota::RedisStore::open(&redis.url())
        .unwrap()
        .prefix("curate-cancel:");
    let sent = Arc::new(AtomicUsize::new(0));
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let counter = sent.clone();
    let upstream = tower::service_fn(move |req: Request<Rb>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let hang = req.uri().path() == "/hang";
        let arrived = arrived_tx.clone();
        async move {
            if hang {
                let _ = arrived.send(());
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(reply(200, &[], ""))
        }
    });
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().no_budget())
        .quota(QuotaLayer::with_store(store))
        .layer(upstream);
    client
        .clone()
        .oneshot(get("http://open.example/"))
        .await
        .unwrap();
    let calls: Vec<_> = (0..17)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://open.example/hang"))))
        .collect();
    for _ in 0..16 {
        support::bounded("the first 16 in flight", arrived.recv())
            .await
            .unwrap();
    }
    for call in calls {
        call.abort();
        let _ = call.await;
    }
    let calls: Vec<_> = (0..16)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://open.example/hang"))))
        .collect();
    for _ in 0..16 {
        support::bounded(
            "dropped requests leaked their in-flight places",
            arrived.recv(),
        )
        .await
        .unwrap();
    }
    for call in calls {
        call.abort();
        let _ = call.await;
    }
    let sent = sent.load(Ordering::SeqCst);
    assert!(sent <= 1 + 17 + 16, "more than the bound went: {sent}");
}

// ---------------------------------------------------------------------
// No capacity below is hoarded during a wait: a call held (quota),
// backing off (retry) or waiting on a refresh (auth) leaves a
// ConcurrencyLimit's only permit to other calls.
// ---------------------------------------------------------------------

/// An upstream by host and path: `spent.example/warm` spends the window
/// (5 s to its reset), `/busy` is a 503 with `Retry-After: 5`, `/auth`
/// refuses `tok_old`; anything else 200.
fn hol_upstream(
    sent: Arc<AtomicUsize>,
) -> impl Service<Request<Rb>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
       + Clone {
    tower::service_fn(move |req: Request<Rb>| {
        sent.fetch_add(1, Ordering::SeqCst);
        let host = req.uri().host().unwrap_or_default().to_owned();
        let answer = match (host.as_str(), req.uri().path()) {
            ("spent.example", "/warm") => reply(
                200,
                &[
                    ("x-ratelimit-limit", "10"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "5"),
                ],
                "",
            ),
            (_, "/busy") => reply(503, &[("retry-after", "5")], ""),
            (_, "/auth") if bearer(&req) == "Bearer tok_old" => reply(401, &[], ""),
            _ => reply(200, &[], ""),
        };
        async move { Ok::<_, BoxError>(answer) }
    })
}

/// Another call (own credential, another host) through `client` gets the
/// permit below at once.
async fn other_call_is_prompt<S>(client: S, what: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Error>
        + Send
        + 'static,
    S::Future: Send,
{
    let mut other = get("http://free.example/x");
    other.headers_mut().insert(
        "authorization",
        http::HeaderValue::from_static("Bearer explicit"),
    );
    let started = tokio::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), client.oneshot(other))
        .await
        .unwrap_or_else(|_| panic!("{what}: the other call hung"));
    assert_eq!(result.unwrap().status(), 200, "{what}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{what}: the other call waited {took:?} for the permit"
    );
}

/// `quota` module docs ("Holding, and the inner service's readiness": "a
/// held request never sits on a connection or a concurrency permit while
/// it sleeps"): a request held by the quota leaves the only permit below.
#[tokio::test(start_paused = true)]
async fn a_quota_hold_does_not_hoard_the_permit_below() {
    let sent = Arc::new(AtomicUsize::new(0));
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .layer(tower::limit::ConcurrencyLimit::new(
            hol_upstream(sent.clone()),
            1,
        ));
    client
        .clone()
        .oneshot(get("http://spent.example/warm"))
        .await
        .unwrap();
    let held = tokio::spawn(client.clone().oneshot(get("http://spent.example/held")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "held until the reset");
    other_call_is_prompt(client.clone(), "quota hold").await;
    assert_eq!(held.await.unwrap().unwrap().status(), 200);
}

/// `quota` module docs ("Holding, and the inner service's readiness": a
/// waiting request asks for readiness "once the wait is over (as the retry
/// layer does between attempts)"): a call waiting out a `Retry-After`
/// leaves the only permit below.
#[tokio::test(start_paused = true)]
async fn a_retry_backoff_does_not_hoard_the_permit_below() {
    let sent = Arc::new(AtomicUsize::new(0));
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .layer(tower::limit::ConcurrencyLimit::new(
            hol_upstream(sent.clone()),
            1,
        ));
    let waiting = tokio::spawn(client.clone().oneshot(get("http://a.example/busy")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "waiting out the Retry-After");
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    other_call_is_prompt(client.clone(), "retry wait").await;
    waiting.abort();
}

/// CHANGELOG Fixed ("Auth, the first call on a kept ready service": "the
/// caller's ready service now gives its readiness back when the request
/// starts to wait"): a call waiting on the first load or on a refresh
/// leaves the only permit below.
#[tokio::test(start_paused = true)]
async fn a_credential_wait_does_not_hoard_the_permit_below() {
    let sent = Arc::new(AtomicUsize::new(0));
    let stack = || {
        ApiErrorsLayer::new()
            .retry(exact())
            .auth(AuthLayer::new(Rotating::new(Duration::from_secs(3))))
            .layer(tower::limit::ConcurrencyLimit::new(
                hol_upstream(sent.clone()),
                1,
            ))
    };
    // During the first load (3 s).
    let client = stack();
    let loading = tokio::spawn(client.clone().oneshot(get("http://a.example/x")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!loading.is_finished());
    other_call_is_prompt(client.clone(), "first load").await;
    loading.abort();
    // During the refresh after a 401 (3 s load, the 401, 3 s refresh).
    sent.store(0, Ordering::SeqCst);
    let client = stack();
    let waiting = tokio::spawn(client.clone().oneshot(get("http://a.example/auth")));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!waiting.is_finished());
    assert_eq!(sent.load(Ordering::SeqCst), 1, "the 401 came; refreshing");
    other_call_is_prompt(client.clone(), "refresh wait").await;
    assert_eq!(waiting.await.unwrap().unwrap().status(), 200);
}

/// `tower::Service` contract (a `Timeout` above drops the call mid-read)
/// and `parse` module docs (failure bodies read up to a cap): calls cut
/// by a timeout above the stack while the parse layer reads an endless
/// error body over a real connection leave the client working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_above_the_stack_mid_error_body_read_leaves_the_client_working() {
    let addr = support::serve(|req: Request<hyper::body::Incoming>| async move {
        if req.uri().path() == "/ok" {
            return support::response(200, &[], "fine");
        }
        let (mut tx, body) = ChanBody::new(4);
        tokio::spawn(async move {
            let chunk = Bytes::from(vec![b'x'; 8192]);
            loop {
                // The server's simulated slowness: a chunk every 50 ms.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if tx.send_data(chunk.clone()).await.is_err() {
                    return;
                }
            }
        });
        Response::builder()
            .status(500)
            .header("content-type", "text/plain")
            .body(body.boxed())
            .unwrap()
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .breaker(CircuitBreakerLayer::new())
        .client(support::client::<Rb>());
    let timed = tower::timeout::Timeout::new(client.clone(), Duration::from_millis(300));
    for _ in 0..3 {
        let cut = support::bounded(
            "slow body",
            timed.clone().oneshot(get(&format!("http://{addr}/slow"))),
        )
        .await;
        let error = cut.unwrap_err();
        assert!(error.is::<tower::timeout::error::Elapsed>(), "{error:?}");
    }
    let ok = support::bounded(
        "next call",
        client.oneshot(get(&format!("http://{addr}/ok"))),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
}

// ---------------------------------------------------------------------
// Deadlines and hedges.
// ---------------------------------------------------------------------

/// When each request came and its `grpc-timeout`.
type Sends = Arc<Mutex<Vec<(Duration, Option<String>)>>>;

/// An upstream that never answers, recording when each request came (from
/// its creation) and its `grpc-timeout`.
fn hanging_recorder(
    seen: Sends,
) -> impl Service<Request<Hb>, Response = Response<Full<Bytes>>, Error = BoxError, Future = impl Send>
       + Clone {
    let t0 = tokio::time::Instant::now();
    tower::service_fn(move |req: Request<Hb>| {
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_owned());
        seen.lock().unwrap().push((t0.elapsed(), timeout));
        async move {
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(reply(200, &[], ""))
        }
    })
}

/// `retry` module docs (the deadline bounds "the whole logical request",
/// gRFC A6): a call whose hedge went out ends at the deadline,
/// with both attempts sent.
#[tokio::test(start_paused = true)]
async fn a_hedged_call_ends_within_the_retry_deadline() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = ApiErrorsLayer::new()
        .retry(exact().deadline(Duration::from_secs(3)))
        .hedge(HedgeLayer::fixed(Duration::from_secs(2)).no_budget())
        .layer(hanging_recorder(seen.clone()));
    let started = tokio::time::Instant::now();
    let result = client.oneshot(get("http://a.example/")).await;
    let took = started.elapsed();
    assert!(result.is_err());
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the first attempt and its hedge"
    );
    assert!(took <= Duration::from_secs(3), "took {took:?}");
}

/// `retry` module docs (the deadline) and `hedge` module docs: a hedge due after
/// the deadline is never sent; the call ends at the deadline.
#[tokio::test(start_paused = true)]
async fn no_hedge_is_sent_once_the_policy_deadline_has_cut_the_call() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = ApiErrorsLayer::new()
        .retry(exact().deadline(Duration::from_secs(3)))
        .hedge(HedgeLayer::fixed(Duration::from_secs(5)).no_budget())
        .layer(hanging_recorder(seen.clone()));
    let started = tokio::time::Instant::now();
    let result = client.oneshot(get("http://a.example/")).await;
    let took = started.elapsed();
    assert!(result.is_err());
    assert!(took <= Duration::from_secs(3), "took {took:?}");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "sends: {:?}",
        seen.lock().unwrap()
    );
}

/// CHANGELOG [Unreleased] Added (`grpc::grpc_timeout`: the call's deadline
/// is the sooner of `grpc-timeout` and the policy's, gRFC A6): a hedge due
/// after the call's `grpc-timeout` is never sent.
#[tokio::test(start_paused = true)]
async fn no_hedge_is_sent_once_the_calls_grpc_timeout_has_passed() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .hedge(HedgeLayer::fixed(Duration::from_secs(2)).no_budget())
        .layer(hanging_recorder(seen.clone()));
    let request = Request::post("http://a.example/pkg.Svc/Method")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "1S")
        .header("idempotency-key", "k1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let started = tokio::time::Instant::now();
    let result = client.oneshot(request).await;
    let took = started.elapsed();
    assert!(result.is_err());
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "sends: {:?}",
        seen.lock().unwrap()
    );
}

/// `retry` module docs (the deadline bounds "the whole logical request")
/// with `parse::SuccessPeekLayer` in the stack: a success whose JSON body
/// drips a byte a second is given back within the retry deadline.
#[tokio::test(start_paused = true)]
async fn a_dripping_peeked_success_is_bounded_by_the_retry_deadline() {
    let upstream = tower::service_fn(move |_req: Request<Rb>| async move {
        let (mut tx, body) = ChanBody::new(1);
        tokio::spawn(async move {
            if tx
                .send_data(Bytes::from_static(b"{\"ok\": "))
                .await
                .is_err()
            {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if tx.send_data(Bytes::from_static(b" ")).await.is_err() {
                    return;
                }
            }
        });
        Ok::<_, BoxError>(
            Response::builder()
                .header("content-type", "application/json")
                .body(body.boxed())
                .unwrap(),
        )
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact().deadline(Duration::from_secs(3))))
        .layer(tower_api_errors::parse::SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = tokio::time::Instant::now();
    let result = client.oneshot(get("http://a.example/")).await;
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(3),
        "took {took:?}: {:?}",
        result.map(|r| r.status())
    );
}

/// `hedge` module docs (the first final answer wins; the other attempt is
/// dropped): a hedge answering a final 404 while the first attempt is
/// still out ends the call once, with the 404, and nothing more is sent.
#[tokio::test(start_paused = true)]
async fn a_hedged_call_ends_once_with_the_first_final_failure() {
    let sent = Arc::new(AtomicUsize::new(0));
    let upstream = counted::<Hb>(
        &sent,
        |n| Some(Duration::from_millis(if n == 0 { 1000 } else { 10 })),
        |n, _| if n == 0 { 502 } else { 404 },
    );
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)))
        .layer(upstream);
    let error = client.oneshot(get("http://a.example/")).await.unwrap_err();
    assert_eq!(
        error.api().unwrap().status(),
        404,
        "a 404 is the call's answer"
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 2);
}

/// `hedge` module docs ("still streaming when the hedge is due, is not
/// hedged") and `retry` module docs (the deadline): over a real connection, an
/// upload that stalls is cut at the deadline, sent once, not hedged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_cut_at_the_deadline_and_not_hedged() {
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<()>();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let arrived = arrived_tx.clone();
        async move {
            let _ = arrived.send(());
            let bytes = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            support::response(200, &[], bytes)
        }
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().deadline(Duration::from_secs(1)))
        .hedge(HedgeLayer::fixed(Duration::from_millis(100)).no_budget())
        .client(support::client::<ReplayBody<ReplayBody<ChanBody>>>());
    let (mut tx, body) = ChanBody::new(1);
    tx.send_data(Bytes::from_static(b"start")).await.unwrap();
    let started = std::time::Instant::now();
    let result = support::bounded(
        "stalled upload",
        client.oneshot(
            Request::put(format!("http://{addr}/up"))
                .body(body)
                .unwrap(),
        ),
    )
    .await;
    let took = started.elapsed();
    assert!(result.is_err(), "{result:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(tx);
    support::bounded("the first request", arrived.recv())
        .await
        .unwrap();
    assert!(
        arrived.try_recv().is_err(),
        "a body still streaming is not hedged, nor retried"
    );
}

// ---------------------------------------------------------------------
// Replayed bodies: exact sizes, a hedge not sent, early answers.
// ---------------------------------------------------------------------

/// CHANGELOG [Unreleased] Fixed ("a streamed body of known length keeps
/// its `Content-Length`"): every copy of a sized `ReplayBody` (and a copy
/// of a copy, the hedge's over the retry's) says the whole length, whatever
/// an earlier copy read.
#[tokio::test]
async fn every_copy_of_a_sized_body_says_its_whole_length() {
    use http_body::Body as _;
    let body = ReplayBody::new(
        Frames::<Infallible>::sized(&["one,", "two,", "three"]),
        1024,
    );
    assert_eq!(body.size_hint().exact(), Some(13));
    let mut first = body.replay();
    assert_eq!(first.size_hint().exact(), Some(13));
    let _ = first.frame().await;
    assert_eq!(
        first.size_hint().exact(),
        Some(9),
        "what the first copy has left"
    );
    let second = body.replay();
    assert_eq!(
        second.size_hint().exact(),
        Some(13),
        "a retry's copy sends the whole length"
    );
    assert_eq!(
        &second.collect().await.unwrap().to_bytes()[..],
        b"one,two,three"
    );
    let outer = ReplayBody::new(body.replay(), 1024);
    let mut a = outer.replay();
    let _ = a.frame().await;
    let b = outer.replay();
    assert_eq!(b.size_hint().exact(), Some(13));
    assert_eq!(&b.collect().await.unwrap().to_bytes()[..], b"one,two,three");
}

/// CHANGELOG [Unreleased] Fixed (a streamed body of known length keeps its
/// `Content-Length`): over hyper, the retry of a sized body the server
/// answered early goes with `Content-Length: 13` and the whole body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_hyper_a_sized_body_retried_after_an_early_503_has_the_right_content_length() {
    let n = Arc::new(AtomicUsize::new(0));
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let n = n.fetch_add(1, Ordering::SeqCst);
        async move {
            let declared = req
                .headers()
                .get("content-length")
                .map(|v| v.to_str().unwrap().to_owned());
            if n == 0 {
                return support::response(503, &[], "");
            }
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            support::response(
                200,
                &[],
                format!("{declared:?} {}", std::str::from_utf8(&bytes).unwrap()),
            )
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(support::quick_exact()))
        .service(support::client::<ReplayBody<Frames<Infallible>>>());
    let request = Request::put(format!("http://{addr}/up"))
        .body(Frames::<Infallible>::sized(&["one,", "two,", "three"]))
        .unwrap();
    let response = support::bounded("call", client.oneshot(request))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&text[..], b"Some(\"13\") one,two,three");
}

/// CHANGELOG [Unreleased] Added (`hedge::Hedged`: the retry policy does not
/// retry a hedged attempt) and `hedge` module docs (a body still streaming
/// is not hedged): a call not hedged because its body streamed is retried
/// as the retry layer alone would, with its whole body.
#[tokio::test(start_paused = true)]
async fn a_call_not_hedged_because_its_body_streamed_is_still_retried() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = tower::service_fn(move |req: Request<ReplayBody<ReplayBody<ChanBody>>>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let bytes = req
                .into_body()
                .collect()
                .await
                .map_err(|e| BoxError::from(e.to_string()))?
                .to_bytes();
            let status = if n == 0 { 502 } else { 200 };
            Ok::<_, BoxError>(reply(status, &[], std::str::from_utf8(&bytes).unwrap()))
        }
    });
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
        .layer(upstream);
    let (mut tx, body) = ChanBody::new(1);
    let call = client.oneshot(Request::put("http://a.example/up").body(body).unwrap());
    let feed = async move {
        tx.send_data(Bytes::from_static(b"one,")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send_data(Bytes::from_static(b"two")).await.unwrap();
    };
    let (response, ()) = tokio::join!(call, feed);
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        sent.load(Ordering::SeqCst),
        2,
        "the first attempt and one retry"
    );
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&echoed[..], b"one,two");
}

/// `hedge` module docs (only idempotent calls or ones with an
/// `Idempotency-Key` are hedged)
/// and `RetryPolicy::retry_non_idempotent` docs: such a POST through the
/// hedge layer, answered 503 after its first frame, is retried once with
/// its whole body (a copy of a copy).
#[tokio::test(start_paused = true)]
async fn an_unhedged_post_through_the_hedge_is_retried_with_its_whole_body() {
    type Twice = ReplayBody<ReplayBody<Frames<Infallible>>>;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let upstream = tower::service_fn(move |req: Request<Twice>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut body = req.into_body();
            if n == 0 {
                let _first = body.frame().await;
                return Ok::<_, BoxError>(reply(503, &[], ""));
            }
            let bytes = body
                .collect()
                .await
                .map_err(|e| BoxError::from(e.to_string()))?
                .to_bytes();
            Ok(Response::new(Full::new(bytes)))
        }
    });
    let client = ApiErrorsLayer::new()
        .retry(exact().retry_non_idempotent(true))
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
        .layer(upstream);
    let request = Request::post("http://a.example/up")
        .body(Frames::<Infallible>::sized(&["one,", "two,", "three"]))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"one,two,three");
    assert_eq!(sent.load(Ordering::SeqCst), 2);
}

/// A server answering at once, without reading the body, a request with
/// `Bearer tok_old` (for 401) or the first request (for 503), and echoing
/// any other's body; each arrival announced on `arrived`.
async fn early_answer_server(
    first_status: u16,
    arrived: tokio::sync::mpsc::UnboundedSender<String>,
) -> std::net::SocketAddr {
    let n = Arc::new(AtomicUsize::new(0));
    support::serve(move |req: Request<hyper::body::Incoming>| {
        let arrived = arrived.clone();
        let n = n.fetch_add(1, Ordering::SeqCst);
        async move {
            let auth = bearer(&req);
            let _ = arrived.send(auth.clone());
            let reject = if first_status == 401 {
                auth == "Bearer tok_old"
            } else {
                n == 0
            };
            if reject {
                return support::response(first_status, &[], "");
            }
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            support::response(200, &[], bytes)
        }
    })
    .await
}

/// A PUT whose body the caller produces as it goes, answered early with
/// `first_status`: the second request carries the whole body.
async fn streamed_put_after_early_answer<S, B>(first_status: u16, client: S)
where
    B: http_body::Body + Send + 'static,
    B::Error: std::fmt::Debug,
    S: Service<Request<ChanBody>, Response = Response<B>, Error = Error> + Send + 'static,
    S::Future: Send,
{
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let addr = early_answer_server(first_status, arrived_tx).await;
    let (mut tx, body) = ChanBody::new(1);
    let request = Request::put(format!("http://{addr}/up"))
        .body(body)
        .unwrap();
    let call = tokio::spawn(client.oneshot(request));
    tx.send_data(Bytes::from_static(b"one,")).await.unwrap();
    support::bounded("first request", arrived.recv())
        .await
        .unwrap();
    support::bounded("second request", arrived.recv())
        .await
        .unwrap();
    tx.send_data(Bytes::from_static(b"two,")).await.unwrap();
    tx.send_data(Bytes::from_static(b"three")).await.unwrap();
    drop(tx);
    let response = support::bounded("the call", call).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&echoed[..], b"one,two,three");
    assert!(arrived.try_recv().is_err(), "two requests, no more");
}

/// `reqwest` module docs (the stack around a `reqwest::Client`) and `auth`
/// module docs ("The default: `Authorization: Bearer`, renewed once on
/// 401"): over
/// reqwest, a streamed PUT refused early is re-sent with its whole body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_reqwest_an_early_401_is_resent_with_the_whole_streamed_body() {
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .auth(AuthLayer::new(Rotating::new(Duration::ZERO)))
        .layer(tower_api_errors::reqwest::ReqwestClient::new(
            reqwest::Client::new(),
        ));
    streamed_put_after_early_answer(401, client).await;
}

/// `reqwest` module docs and `retry` module docs (bodies replayed through
/// `ReplayBody`): over reqwest, a streamed PUT answered 503 early is
/// retried with its whole body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_reqwest_an_early_503_is_retried_with_the_whole_streamed_body() {
    let client = ApiErrorsLayer::new().retry(support::quick_exact()).layer(
        tower_api_errors::reqwest::ReqwestClient::new(reqwest::Client::new()),
    );
    streamed_put_after_early_answer(503, client).await;
}

// ---------------------------------------------------------------------
// Storms through the whole stack over real servers.
// ---------------------------------------------------------------------

/// `RetryPolicy` docs (default budget: "20 % of recent requests + 1
/// retry/s, over 10 s") and `retry` module docs (the deadline bounds "the
/// whole logical request"): a storm of connection resets
/// through auth, quota and breaker ends every call once, with an error,
/// and retries stay within the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_resets_through_the_full_stack_ends_every_call_once() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = support::serve_fallible(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Err::<Response<support::ServerBody>, _>(std::io::Error::other("reset")) }
    })
    .await;
    // A breaker refusal is waited out up to the deadline: 3 s bounds a call.
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().deadline(Duration::from_secs(3)))
        .auth(AuthLayer::new(Rotating::new(Duration::ZERO)))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new())
        .client(support::client::<Rb>());
    let uri = format!("http://{addr}/x");
    let calls: Vec<_> = (0..200)
        .map(|_| tokio::spawn(client.clone().oneshot(get(&uri))))
        .collect();
    for call in calls {
        let result = support::bounded("a call in a reset storm", call)
            .await
            .unwrap();
        assert!(result.is_err(), "{result:?}");
    }
    let hits = hits.load(Ordering::SeqCst);
    assert!(
        hits <= 200 + 200 / 5 + 10,
        "retries past the budget: {hits} sends"
    );
}

/// CHANGELOG Added (`hedge::HedgeLayer`: "the first final answer wins")
/// and `RetryPolicy` docs (the default budget): over HTTP/2 with two streams in three reset, the
/// full stack with hedging ends every call once, within the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_h2_stream_resets_through_the_full_stack_with_hedging_ends_every_call_once() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = support::serve_fallible(move |_req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n.is_multiple_of(3) {
                // The server's simulated latency.
                tokio::time::sleep(Duration::from_millis(30)).await;
                return Ok(support::response(200, &[], "ok"));
            }
            Err::<Response<support::ServerBody>, _>(std::io::Error::other("reset"))
        }
    })
    .await;
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Hb>();
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().deadline(Duration::from_secs(5)))
        .auth(AuthLayer::new(Rotating::new(Duration::ZERO)))
        .quota(QuotaLayer::new())
        .breaker(CircuitBreakerLayer::new().minimum_calls(100_000))
        .hedge(HedgeLayer::fixed(Duration::from_millis(10)))
        .client(h2);
    let uri = format!("http://{addr}/x");
    let calls: Vec<_> = (0..200)
        .map(|_| tokio::spawn(client.clone().oneshot(get(&uri))))
        .collect();
    let mut answered = 0;
    for call in calls {
        if let Ok(response) = support::bounded("a call in an h2 reset storm", call)
            .await
            .unwrap()
        {
            assert_eq!(response.status(), 200);
            answered += 1;
        }
    }
    assert!(answered > 0, "no call was answered");
    let hits = hits.load(Ordering::SeqCst);
    assert!(hits < 3 * 200, "{hits} sends for 200 calls");
}

/// `reqwest` module docs (`ApiErrorsMiddleware`) and `auth` module docs
/// (one refresh per rejected credential, backed off when refused): through
/// reqwest-middleware, a storm of 401s with refused renewals ends every
/// call once with the 401 or a typed error, for a few refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_middleware_storm_of_401s_ends_every_call_once() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = support::serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            support::response(
                401,
                &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                "{\"error\":\"invalid_token\"}",
            )
        }
    })
    .await;
    let source = Arc::new(AlwaysRefused::default());
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tower_api_errors::reqwest::ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new()
                .retry(support::quick_exact())
                .auth(AuthLayer::new(source.clone())),
        ))
        .build();
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            let url = format!("http://{addr}/x");
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    for call in calls {
        if let Ok(response) = support::bounded("401 storm", call).await.unwrap() {
            assert_eq!(response.status(), 401);
        }
    }
    let refreshes = source.refreshes.load(Ordering::SeqCst);
    assert!((1..=3).contains(&refreshes), "refreshes {refreshes}");
    assert!(
        hits.load(Ordering::SeqCst) <= 2 * 200,
        "{}",
        hits.load(Ordering::SeqCst)
    );
}
