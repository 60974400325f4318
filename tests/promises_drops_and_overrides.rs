//! The crate's promises under cancellation and load: drop safety at
//! every await point, a multi-thread stack under token rotation and a
//! small window, per-request overrides and custom policies, and body
//! decoding edge cases (charsets, proxy pages, stalls).

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use scripted::{get, reply, within};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::auth::{
    AuthLayer, AuthReport, Credential, Renewal, TokenFuture, TokenSource,
};
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::retry::{
    Decision, Policy, ReplayBody, RetryContext, RetryLayer, RetryOverride, RetryPolicy,
};
use tower_api_errors::{
    parse_error, ApiErrorsLayer, Error, ErrorBodyParseLayer, ErrorKind, QuotaLayer, StopReason,
};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

type Body = Full<Bytes>;

/// Lets every task run and timers due at the current instant fire, without
/// moving the paused clock further than `ms`.
async fn settle(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A token source handing out `t1` first, then `t2`, `t3`... on each
/// refresh, each refresh taking `refresh_takes`; counts its calls.
struct Rotating {
    calls: AtomicU32,
    refresh_takes: Duration,
    /// Optional: the issue instant of each token, by its number.
    issued: Mutex<Vec<std::time::Instant>>,
}

impl Rotating {
    fn new(refresh_takes: Duration) -> Arc<Self> {
        Arc::new(Rotating {
            calls: AtomicU32::new(0),
            refresh_takes,
            issued: Mutex::new(Vec::new()),
        })
    }

    fn next(&self) -> (u32, Duration) {
        let n = self.calls.fetch_add(1, SeqCst) + 1;
        self.issued.lock().unwrap().push(std::time::Instant::now());
        (n, self.refresh_takes)
    }
}

impl TokenSource for Rotating {
    fn current(&self) -> TokenFuture<'_> {
        let (n, _) = self.next();
        Box::pin(async move { Ok(Credential::new(&format!("t{n}"))?) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let (n, takes) = self.next();
        Box::pin(async move {
            tokio::time::sleep(takes).await;
            Ok(Credential::new(&format!("t{n}"))?)
        })
    }
}

/// Runs `test` on a multi-thread runtime of `workers` threads, within
/// `real` wall-clock time (see [`within`]).
fn watchdog_mt<F>(real: Duration, workers: usize, test: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let threads = move || {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap()
    };
    within(real, threads, test);
}

// ---------------------------------------------------------------------------
// 1. Cancellation and drop safety
// ---------------------------------------------------------------------------

/// `n` calls of `uri` through `client`, each in a task of its own.
fn spawn_calls<S>(client: &S, n: usize, uri: &str) -> Vec<JoinHandle<Result<S::Response, S::Error>>>
where
    S: tower::Service<Request<Body>> + Clone + Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send,
{
    let call = |_| tokio::spawn(client.clone().oneshot(get(uri)));
    (0..n).map(call).collect()
}

/// Drops every call (its task aborted), and waits until each is gone.
async fn drop_all<T>(calls: Vec<JoinHandle<T>>) {
    for call in calls {
        call.abort();
        let _ = call.await;
    }
}

/// An upstream whose `/hang` requests are counted and never answered; the
/// first request is answered with `first`, every other with `rest`.
fn hanging_upstream<B: Send + 'static>(
    sent: Arc<AtomicU32>,
    first: Response<Body>,
    rest: Response<Body>,
) -> impl tower::Service<
    Request<B>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    let (first, rest) = (Arc::new(first), Arc::new(rest));
    service_fn(move |request: Request<B>| {
        let n = sent.fetch_add(1, SeqCst);
        let hang = request.uri().path() == "/hang";
        let template = if n == 0 { first.clone() } else { rest.clone() };
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            let mut builder = Response::builder().status(template.status());
            for (name, value) in template.headers() {
                builder = builder.header(name, value);
            }
            Ok::<_, Infallible>(builder.body(Full::new(Bytes::new())).unwrap())
        }
    })
}

/// Quota docs: "Permits a request takes are counted from the moment it is
/// let through until its answer is learned from"; the quota future's docs:
/// the permit is "returned to the store exactly once: when the response is
/// learned from, or when the future is dropped". Five requests of a
/// window of five, in flight and then dropped by their callers (through
/// the whole stack: retry, auth, quota, parse), must not keep the window
/// spent past its reset: the first request after it is sent at once, not
/// refused. Until the reset the window stays spent: the vendor counted
/// the five sent (`Permit::is_sent`), so a request then would draw a 429.
#[tokio::test(start_paused = true)]
async fn requests_dropped_in_flight_give_their_window_permits_back() {
    let sent = Arc::new(AtomicU32::new(0));
    let window = |remaining: &str| {
        reply(
            200,
            &[
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", remaining),
                ("x-ratelimit-reset", "60"),
            ],
            "",
        )
    };
    let upstream = hanging_upstream(sent.clone(), window("5"), window("4"));
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().no_budget())
        .auth(AuthLayer::new(tower_api_errors::auth::StaticToken::new(
            Credential::new("k").unwrap(),
        )))
        .quota(QuotaLayer::new().max_wait(Duration::from_secs(30)))
        .layer(upstream);

    client
        .clone()
        .oneshot(get("http://api.example/"))
        .await
        .unwrap();
    let hanging = spawn_calls(&client, 5, "http://api.example/hang");
    settle(1).await;
    assert_eq!(sent.load(SeqCst), 6, "the window's five went");
    // The window is spent by the five in flight: a sixth is refused at once.
    let refused = client.clone().oneshot(get("http://api.example/x")).await;
    assert!(
        matches!(&refused, Err(Error::RateLimited(_))),
        "{refused:?}"
    );
    for call in &hanging {
        call.abort();
    }
    for call in hanging {
        assert!(call.await.unwrap_err().is_cancelled());
    }
    settle(1).await;
    let spent = client.clone().oneshot(get("http://api.example/x")).await;
    assert!(
        matches!(&spent, Err(Error::RateLimited(_))),
        "the five sent were counted by the vendor: {spent:?}"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    let started = Instant::now();
    let again = client.clone().oneshot(get("http://api.example/x")).await;
    assert!(
        again.is_ok(),
        "permits of dropped requests leaked: {again:?}"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(sent.load(SeqCst), 7);
}

/// Quota docs: a scope whose probe announced nothing "is open: ... its
/// requests go at most 16 in flight". Sixteen in flight and a seventeenth
/// held; all dropped: sixteen new ones go at once (the in-flight count is
/// not leaked by the drops, nor by the held one's).
#[tokio::test(start_paused = true)]
async fn an_open_scopes_in_flight_bound_survives_dropped_requests() {
    let sent = Arc::new(AtomicU32::new(0));
    let upstream = hanging_upstream(sent.clone(), reply(200, &[], ""), reply(200, &[], ""));
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().no_budget())
        .quota(QuotaLayer::new())
        .layer(upstream);
    client
        .clone()
        .oneshot(get("http://open.example/"))
        .await
        .unwrap();

    let mut calls: Vec<_> = (0..17)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://open.example/hang"))))
        .collect();
    settle(1).await;
    assert_eq!(sent.load(SeqCst), 1 + 16, "16 in flight, the 17th held");
    for call in calls.drain(..) {
        call.abort();
        let _ = call.await;
    }
    settle(1).await;
    let calls = spawn_calls(&client, 16, "http://open.example/hang");
    settle(1).await;
    assert_eq!(
        sent.load(SeqCst),
        1 + 16 + 16,
        "dropped requests leaked their in-flight count"
    );
    drop_all(calls).await;
}

/// The same through a hedge: each call has two attempts in flight when its
/// caller drops it; both attempts' permits come back.
#[tokio::test(start_paused = true)]
async fn hedged_calls_dropped_with_both_attempts_in_flight_leak_nothing() {
    let sent = Arc::new(AtomicU32::new(0));
    let upstream = hanging_upstream::<ReplayBody<ReplayBody<Body>>>(
        sent.clone(),
        reply(200, &[], ""),
        reply(200, &[], ""),
    );
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().no_budget())
        .quota(QuotaLayer::new())
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
        .layer(upstream);
    client
        .clone()
        .oneshot(get("http://hedge.example/"))
        .await
        .unwrap();

    let calls = spawn_calls(&client, 8, "http://hedge.example/hang");
    settle(60).await;
    assert_eq!(
        sent.load(SeqCst),
        1 + 16,
        "each call and its hedge in flight"
    );
    drop_all(calls).await;
    settle(1).await;
    let calls = spawn_calls(&client, 8, "http://hedge.example/hang");
    settle(60).await;
    assert_eq!(
        sent.load(SeqCst),
        1 + 32,
        "the dropped hedges' permits were not given back"
    );
    drop_all(calls).await;
}

/// Auth docs: "the refresh runs in a task of its own: dropping any
/// request, the first included, does not cancel it". Ten requests rejected
/// with one credential wait on one slow refresh (2 s) through the whole
/// stack; nine of them (the first included) are dropped a second in; the
/// tenth is answered when the refresh ends; later requests use the new
/// credential with no refresh of their own.
#[tokio::test(start_paused = true)]
async fn waiters_dropped_during_a_refresh_leave_it_to_the_others() {
    let source = Rotating::new(Duration::from_secs(2));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let upstream = service_fn(move |request: Request<ReplayBody<Body>>| {
        let auth = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        log.lock().unwrap().push(auth.clone());
        let quota = [
            ("x-ratelimit-limit", "1000"),
            ("x-ratelimit-remaining", "900"),
            ("x-ratelimit-reset", "60"),
        ];
        let response = match auth.as_str() {
            "Bearer t2" => reply(200, &quota, "{}"),
            _ => {
                let mut headers = quota.to_vec();
                headers.push(("www-authenticate", "Bearer error=\"invalid_token\""));
                reply(401, &headers, r#"{"error": "invalid_token"}"#)
            }
        };
        async move { Ok::<_, Infallible>(response) }
    });
    let client = ApiErrorsLayer::new()
        .auth(AuthLayer::from_arc(source.clone()))
        .quota(QuotaLayer::new())
        .layer(upstream);

    let started = Instant::now();
    let mut calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://api.example/"))))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        source.calls.load(SeqCst),
        2,
        "the first credential and one refresh"
    );
    let kept = calls.pop().unwrap();
    for call in calls {
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
    }
    let response = kept.await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let report = response.extensions().get::<AuthReport>().unwrap();
    assert_eq!(report.renewal(), Some(Renewal::Refreshed));

    let later = Instant::now();
    for _ in 0..5 {
        client
            .clone()
            .oneshot(get("http://api.example/"))
            .await
            .unwrap();
    }
    assert_eq!(later.elapsed(), Duration::ZERO);
    assert_eq!(
        source.calls.load(SeqCst),
        2,
        "no refresh after the shared one"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.iter().filter(|a| *a == "Bearer t1").count(), 10);
    assert_eq!(seen.iter().filter(|a| *a == "Bearer t2").count(), 1 + 5);
}

/// Every waiter dropped while the refresh is in flight: the refresh is not
/// wedged; the next request after it ends goes with the new credential, at
/// once, with no second refresh.
#[tokio::test(start_paused = true)]
async fn a_refresh_all_of_whose_waiters_were_dropped_still_installs() {
    let source = Rotating::new(Duration::from_secs(2));
    let upstream = service_fn(move |request: Request<ReplayBody<Body>>| {
        let ok = request.headers()["authorization"] == "Bearer t2";
        let response = if ok {
            reply(200, &[], "{}")
        } else {
            reply(401, &[], r#"{"message": "expired"}"#)
        };
        async move { Ok::<_, Infallible>(response) }
    });
    let client = ApiErrorsLayer::new()
        .auth(AuthLayer::from_arc(source.clone()))
        .quota(QuotaLayer::new())
        .layer(upstream);
    let calls = spawn_calls(&client, 5, "http://api.example/");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop_all(calls).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let response = client
        .clone()
        .oneshot(get("http://api.example/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(
        response.extensions().get::<AuthReport>().is_none(),
        "sent once"
    );
    assert_eq!(source.calls.load(SeqCst), 2);
}

/// Dropped during a `Retry-After` wait (the retry layer) and during a
/// quota hold of the cooldown that wait taught (the quota layer): nothing
/// more is sent for them, and once the wait is over the scope serves new
/// requests at once.
#[tokio::test(start_paused = true)]
async fn calls_dropped_in_a_retry_wait_or_a_quota_hold_send_nothing_more() {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |_request: Request<ReplayBody<Body>>| {
        let n = counter.fetch_add(1, SeqCst);
        let response = if n == 0 {
            reply(429, &[("retry-after", "5")], r#"{"message": "slow down"}"#)
        } else {
            reply(200, &[], "{}")
        };
        async move { Ok::<_, Infallible>(response) }
    });
    let client = ApiErrorsLayer::new()
        .quota(QuotaLayer::new())
        .layer(upstream);
    let waiting = tokio::spawn(client.clone().oneshot(get("http://api.example/a")));
    settle(1).await;
    assert_eq!(sent.load(SeqCst), 1);
    // Held by the quota layer's cooldown (the 429's 5 s).
    let held = spawn_calls(&client, 5, "http://api.example/b");
    tokio::time::sleep(Duration::from_secs(2)).await;
    waiting.abort();
    drop_all(held).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(sent.load(SeqCst), 1, "nothing sent for the dropped calls");
    let started = Instant::now();
    client
        .clone()
        .oneshot(get("http://api.example/c"))
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(sent.load(SeqCst), 2);
}

// ---------------------------------------------------------------------------
// 2. Concurrency on a multi-thread runtime
// ---------------------------------------------------------------------------

/// An API on 8 worker threads: fixed windows of `LIMIT` requests per
/// second (every request counts, 401s included), announced in
/// `X-RateLimit-*` with the reset in whole seconds rounded up; tokens live
/// `TOKEN_LIFE` (longer than any quota hold here) and a stale one is
/// answered 401 `invalid_token`. 640 calls from 64 tasks of 10 calls each
/// through retry -> auth -> quota -> parse: every call ends once and
/// succeeds, the token endpoint is called about once per token lifetime
/// (single flight), and the window is never overrun by more than a
/// refill's confirmation (one 429 per window at most).
///
/// (With a token life shorter than the quota's holds, calls fail: the
/// auth layer sets the credential before the quota layer holds the
/// request, so a request held past its credential's expiry is sent stale,
/// and its re-send, held again, may be too. That follows from the
/// documented order, auth above quota; it is not asserted here.)
#[test]
fn eight_threads_through_auth_and_quota_end_once_with_one_refresh_per_expiry() {
    const LIMIT: u64 = 150;
    const TOKEN_LIFE: Duration = Duration::from_millis(2000);
    watchdog_mt(Duration::from_secs(30), 8, || async {
        let source = Rotating::new(Duration::from_millis(20));
        let epoch = std::time::Instant::now();
        // (window index, count in it), 429s, 401s, sends
        let state = Arc::new(Mutex::new((0u64, 0u64)));
        let (throttled, rejected, sends) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let upstream = {
            let (source, state) = (source.clone(), state.clone());
            let (throttled, rejected, sends) = (throttled.clone(), rejected.clone(), sends.clone());
            service_fn(move |request: Request<ReplayBody<Body>>| {
                sends.fetch_add(1, SeqCst);
                let now = epoch.elapsed();
                let window = now.as_millis() as u64 / 1000;
                let left_ms = 1000 - now.as_millis() as u64 % 1000;
                let count = {
                    let mut state = state.lock().unwrap();
                    if state.0 != window {
                        *state = (window, 0);
                    }
                    state.1 += 1;
                    state.1
                };
                let valid = request.headers()["authorization"]
                    .to_str()
                    .ok()
                    .and_then(|value| value.strip_prefix("Bearer t"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| source.issued.lock().unwrap().get(n - 1).copied())
                    .is_some_and(|issued| issued.elapsed() < TOKEN_LIFE);
                let reset = left_ms.div_ceil(1000).to_string();
                let remaining = LIMIT.saturating_sub(count).to_string();
                let headers = [
                    ("x-ratelimit-limit", LIMIT.to_string()),
                    ("x-ratelimit-remaining", remaining),
                    ("x-ratelimit-reset", reset.clone()),
                ];
                let mut builder = Response::builder();
                for (name, value) in &headers {
                    builder = builder.header(*name, value.as_str());
                }
                let response = if count > LIMIT {
                    throttled.fetch_add(1, SeqCst);
                    builder
                        .status(429)
                        .header("retry-after", reset)
                        .body(Full::new(Bytes::from_static(
                            b"{\"message\": \"slow down\"}",
                        )))
                } else if !valid {
                    rejected.fetch_add(1, SeqCst);
                    builder
                        .status(401)
                        .header("www-authenticate", "Bearer error=\"invalid_token\"")
                        .body(Full::new(Bytes::from_static(
                            b"{\"error\": \"invalid_token\"}",
                        )))
                } else {
                    builder.body(Full::new(Bytes::from_static(b"{}")))
                };
                async move {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    Ok::<_, Infallible>(response.unwrap())
                }
            })
        };
        let client = ApiErrorsLayer::new()
            .auth(AuthLayer::from_arc(source.clone()))
            .quota(QuotaLayer::new())
            .layer(upstream);
        let started = std::time::Instant::now();
        let ended = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (client, ended) = (client.clone(), ended.clone());
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    for _ in 0..10 {
                        let result = client.clone().oneshot(get("http://api.example/v1")).await;
                        ended.fetch_add(1, SeqCst);
                        outcomes.push(result.map(|r| r.status()).map_err(|e| e.to_string()));
                    }
                    outcomes
                })
            })
            .collect();
        let mut failures = Vec::new();
        for task in tasks {
            for outcome in task.await.unwrap() {
                if let Err(error) = outcome {
                    failures.push(error);
                }
            }
        }
        let took = started.elapsed();
        let (throttled, rejected, sends) = (
            throttled.load(SeqCst),
            rejected.load(SeqCst),
            sends.load(SeqCst),
        );
        let refreshes = source.calls.load(SeqCst);
        eprintln!(
            "took {took:?}; sends {sends}, 429s {throttled}, 401s {rejected}, token calls {refreshes}, failures {}",
            failures.len()
        );
        assert_eq!(ended.load(SeqCst), 640, "every call ends once");
        failures.truncate(5);
        assert!(failures.is_empty(), "{failures:?}");
        // One call per token lifetime (and the first), plus one of slack.
        let lifetimes = (took.as_millis() / TOKEN_LIFE.as_millis()) as u32;
        assert!(
            refreshes <= lifetimes + 2,
            "{refreshes} token calls in {took:?}"
        );
        let windows = took.as_secs() + 1;
        assert!(
            throttled <= windows,
            "{throttled} 429s in {windows} windows"
        );
    });
}

// ---------------------------------------------------------------------------
// 3. Per-request overrides and custom policies
// ---------------------------------------------------------------------------

/// `RetryOverride::idempotent(false)`: "Whether this request may be sent
/// twice, in place of the method's rule: ... `false` for a GET with side
/// effects"; `RetryOverride::no_retries()`: "One attempt". Through
/// `ApiErrorsLayer` with a hedge, such a GET must not be sent twice.
#[tokio::test(start_paused = true)]
async fn a_get_marked_not_to_be_sent_twice_is_not_hedged() {
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |_request: Request<ReplayBody<ReplayBody<Body>>>| {
        counter.fetch_add(1, SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(reply(200, &[], "{}"))
        }
    });
    let client = ApiErrorsLayer::new()
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)).no_budget())
        .layer(upstream);

    // A plain GET, slow: hedged.
    client
        .clone()
        .oneshot(get("http://api.example/a"))
        .await
        .unwrap();
    assert_eq!(sent.load(SeqCst), 2, "a plain GET is hedged");

    let mut hedged = Vec::new();
    for (name, with) in [
        ("idempotent(false)", RetryOverride::new().idempotent(false)),
        ("no_retries()", RetryOverride::no_retries()),
    ] {
        let before = sent.load(SeqCst);
        let mut request = get("http://api.example/charge");
        request.extensions_mut().insert(with);
        client.clone().oneshot(request).await.unwrap();
        if sent.load(SeqCst) - before != 1 {
            hedged.push(name);
        }
    }
    assert!(
        hedged.is_empty(),
        "GETs with RetryOverride::{hedged:?} were sent twice (hedged)"
    );
}

/// The `Policy` trait's own example: 503s retried twice, a second apart.
#[derive(Clone)]
struct TwiceOnUnavailable;

impl Policy for TwiceOnUnavailable {
    fn decide(&self, context: &RetryContext<'_>) -> Decision {
        if context.kind() != ErrorKind::Unavailable {
            Decision::stop(StopReason::NotRetryable)
        } else if context.attempts() >= 3 {
            Decision::stop(StopReason::MaxAttempts)
        } else {
            Decision::retry_after(Duration::from_secs(1))
        }
    }
}

/// `Policy` docs: "the layer still replays bodies, bounds the call by the
/// policy's deadline, waits and re-sends; the policy only decides"; retry
/// docs: "a body that outgrew the cap is not retried, and the error says
/// so". With the trait's own example policy, a PUT whose streamed body
/// (160 KiB) outgrew the replay cap (64 KiB) must be sent once: a re-send
/// cannot carry the body again.
#[tokio::test(start_paused = true)]
async fn a_custom_policy_never_resends_a_body_that_was_not_kept() {
    let seen = Arc::new(Mutex::new(Vec::<Result<usize, String>>::new()));
    let log = seen.clone();
    let upstream = service_fn(move |request: Request<ReplayBody<StreamBody<_>>>| {
        let log = log.clone();
        async move {
            let read = request.into_body().collect().await;
            log.lock()
                .unwrap()
                .push(read.map(|b| b.to_bytes().len()).map_err(|e| e.to_string()));
            Ok::<_, Infallible>(reply(503, &[], r#"{"message": "down"}"#))
        }
    });
    let client =
        RetryLayer::new(TwiceOnUnavailable).layer(ErrorBodyParseLayer::new().layer(upstream));
    let chunks = (0..10)
        .map(|_| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(vec![b'x'; 16 * 1024]))));
    let body = StreamBody::new(tokio_stream::iter(chunks.collect::<Vec<_>>()));
    let request = Request::put("http://api.example/upload")
        .body(body)
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        1,
        "re-sent a body that was not kept: {seen:?}; error: {error}"
    );
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyNotReplayable)
    );
}

/// Quota docs, "Cost": "windows counted in requests draw 1, the others the
/// cost". The IETF draft names a policy's unit with `qu` ("requests" is
/// also its default). A request costing 500 tokens against a server that
/// announces a requests policy (99 of 100 left) and a tokens policy (9,000
/// of 10,000 left) fits both: it goes at once.
#[tokio::test(start_paused = true)]
async fn a_cost_draws_only_from_windows_not_counted_in_requests() {
    let upstream = service_fn(|_request: Request<()>| async {
        let response = Response::builder()
            .header(
                "ratelimit-policy",
                r#""burst";q=100;w=60;qu="requests", "llm";q=10000;w=60;qu="tokens""#,
            )
            .header("ratelimit", r#""burst";r=99;t=60, "llm";r=9000;t=60"#)
            .body(())
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let client = QuotaLayer::new()
        .max_wait(Duration::from_secs(30))
        .cost(|_request| 500)
        .layer(upstream);
    client.clone().oneshot(Request::new(())).await.unwrap();
    let started = Instant::now();
    let second = client.clone().oneshot(Request::new(())).await;
    assert!(
        second.is_ok(),
        "a 500-token request drew 500 from a 100-request window: {second:?}"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// Several IETF policies and partitions: for key A, a spent burst policy
/// holds to its own reset (not the daily one's); key B, its own scope,
/// goes at once; what either learned never names the key.
#[tokio::test(start_paused = true)]
async fn several_policies_per_partition_each_bind_on_their_own() {
    let upstream = service_fn(|request: Request<()>| async move {
        let key = request.headers()["x-api-key"].to_str().unwrap().to_owned();
        let burst = if key == "key-a" { 0 } else { 5 };
        let response = Response::builder()
            .header(
                "ratelimit-policy",
                r#""burst";q=10;w=3, "daily";q=1000;w=86400;pk=:a2V5:"#,
            )
            .header(
                "ratelimit",
                format!(r#""burst";r={burst};t=3, "daily";r=900;t=50000"#),
            )
            .body(())
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let client = QuotaLayer::new()
        .partition(|request| {
            request
                .headers()
                .get("x-api-key")
                .map(|v| v.as_bytes().to_vec())
        })
        .layer(upstream);
    let keyed = |key: &'static str| {
        Request::builder()
            .header("x-api-key", key)
            .body(())
            .unwrap()
    };
    client.clone().oneshot(keyed("key-a")).await.unwrap();
    client.clone().oneshot(keyed("key-b")).await.unwrap();
    let started = Instant::now();
    client.clone().oneshot(keyed("key-b")).await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "key B is not held by A's burst"
    );
    client.clone().oneshot(keyed("key-a")).await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "held to the burst reset"
    );
}

/// Auth docs: a 401 whose challenge says `insufficient_scope` "is an
/// answer, not a rejection"; a plain 403 is no rejection either. Through
/// the full stack: no refresh, one send, the server's typed answer.
#[tokio::test(start_paused = true)]
async fn insufficient_scope_and_plain_403_never_refresh_in_the_full_stack() {
    let source = Rotating::new(Duration::ZERO);
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |request: Request<ReplayBody<Body>>| {
        counter.fetch_add(1, SeqCst);
        let response = match request.uri().path() {
            "/scope" => reply(
                401,
                &[(
                    "www-authenticate",
                    r#"Bearer realm="example", error="insufficient_scope", scope="admin""#,
                )],
                r#"{"error": "insufficient_scope", "error_description": "admin scope needed"}"#,
            ),
            _ => reply(403, &[], r#"{"message": "Forbidden"}"#),
        };
        async move { Ok::<_, Infallible>(response) }
    });
    let client = ApiErrorsLayer::new()
        .auth(AuthLayer::from_arc(source.clone()))
        .quota(QuotaLayer::new())
        .layer(upstream);
    for (path, kind) in [
        ("/scope", ErrorKind::Unauthorized),
        ("/forbidden", ErrorKind::Forbidden),
    ] {
        let before = sent.load(SeqCst);
        let error = client
            .clone()
            .oneshot(get(&format!("http://api.example{path}")))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{path}: {error}");
        assert_eq!(sent.load(SeqCst) - before, 1, "{path}: sent once");
        assert!(error.auth_report().is_none_or(|r| r.sends() <= 1), "{path}");
    }
    assert_eq!(
        source.calls.load(SeqCst),
        1,
        "the first credential, no refresh"
    );
}

// ---------------------------------------------------------------------------
// 4. Parse edge cases
// ---------------------------------------------------------------------------

fn parse(status: u16, headers: &[(&str, &str)], body: &[u8]) -> tower_api_errors::ApiError {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    parse_error(StatusCode::from_u16(status).unwrap(), &map, body)
}

/// Parse docs: "a declared ISO-8859-1 or windows-1252 charset, by
/// `Content-Type` or XML declaration, transcoded"; charset docs: "(or its
/// aliases, or windows-1252) ... as the WHATWG Encoding Standard reads
/// those labels". ISO-8859-1's IANA aliases (`ISO_8859-1:1987`, `CP819`,
/// `IBM819`, `csISOLatin1`, `iso-ir-100`) and WHATWG labels (`iso88591`,
/// `x-cp1252`) all name it.
#[test]
fn every_alias_of_iso_8859_1_is_transcoded() {
    let mut missed = Vec::new();
    for label in [
        "ISO-8859-1",
        "latin1",
        "ISO_8859-1:1987",
        "CP819",
        "IBM819",
        "csISOLatin1",
        "iso-ir-100",
        "iso88591",
        "x-cp1252",
    ] {
        let content_type = format!("text/plain; charset={label}");
        let error = parse(400, &[("content-type", &content_type)], b"Caf\xe9 ferm\xe9");
        if !error.message().contains("Caf\u{e9} ferm\u{e9}") {
            missed.push((label, error.message().to_owned()));
        }
    }
    assert!(missed.is_empty(), "not transcoded: {missed:?}");
}

/// XML 1.0 (§2.8, `EncodingDecl ::= S 'encoding' Eq ...`, `Eq ::= S? '=' S?`)
/// allows spaces around the `=`: a SOAP fault declared ISO-8859-1 so is
/// still transcoded.
#[test]
fn an_xml_declaration_with_spaces_around_its_equals_sign_is_honoured() {
    let body = b"<?xml version = \"1.0\" encoding = \"ISO-8859-1\"?>\
<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault>\
<faultcode>soap:Client</faultcode><faultstring>Donn\xe9es invalides</faultstring>\
</soap:Fault></soap:Body></soap:Envelope>";
    let error = parse(500, &[("content-type", "text/xml")], body);
    assert_eq!(error.message(), "Donn\u{e9}es invalides");
    assert_eq!(error.code(), Some("Client"));
}

/// A status, its headers and a body.
type Case<'a> = (u16, &'a [(&'a str, &'a str)], &'a [u8]);

/// Bodies in encodings the docs do not decode (UTF-16 with a BOM, a wrong
/// declared charset) and proxy pages: no panic, one bounded line; a proxy
/// page's title is the message, and its status stays retryable.
#[test]
fn undecoded_charsets_and_proxy_pages_give_one_bounded_line() {
    let mut utf16 = vec![0xff, 0xfe];
    for unit in r#"{"error": {"message": "Quota exceeded"}}"#.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let cloudflare = r#"<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>api.example.com | 524: A timeout occurred</title>
<meta charset="UTF-8" />
<style>body{margin:0;padding:0}.cf-error-details{font-size:15px}</style>
<script>(function(){var a=document.getElementById('cf-footer');})();</script>
</head>
<body>
<div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1 class="inline-block">A timeout occurred</h1>
<span class="code-label">Error code 524</span>
<p>The origin web server timed out responding to this request.</p>
</div></div>
</body>
</html>"#;
    let elb = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n";
    let cases: [Case<'_>; 5] = [
        (
            429,
            &[("content-type", "application/json; charset=utf-16")],
            &utf16,
        ),
        (
            400,
            &[("content-type", "application/json; charset=iso-8859-1")],
            "{\"message\": \"café\"}".as_bytes(),
        ),
        (
            400,
            &[("content-type", "text/plain; charset=shift_jis")],
            b"\x83G\x83\x89\x81[\n\x83G\x83\x89\x81[",
        ),
        (
            524,
            &[("content-type", "text/html; charset=UTF-8")],
            cloudflare.as_bytes(),
        ),
        (504, &[("content-type", "text/html")], elb.as_bytes()),
    ];
    for (status, headers, body) in cases {
        let error = parse(status, headers, body);
        let message = error.message();
        assert!(!message.is_empty(), "{status}");
        assert!(
            !message.contains('\n') && !message.contains('\r'),
            "{status}: {message:?}"
        );
        assert!(message.chars().count() <= 1024, "{status}");
    }
    let error = parse(524, &[("content-type", "text/html")], cloudflare.as_bytes());
    assert!(
        error.message().contains("A timeout occurred"),
        "{:?}",
        error.message()
    );
    assert!(
        !error.message().contains('{'),
        "CSS or script in {:?}",
        error.message()
    );
    assert!(error.is_retryable());
    let error = parse(504, &[("content-type", "text/html")], elb.as_bytes());
    assert_eq!(error.message(), "504 Gateway Time-out");
    assert!(error.is_retryable());
}

/// Parse docs: a failure body is read "for a bounded time (10 s)"; one
/// that "stalls still yields a typed error, marked `is_truncated`, from
/// what was read". Half a JSON body, then nothing: at 10 s, the message
/// from the half that came.
#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_half_way_ends_at_the_read_timeout_with_what_came() {
    use tokio_stream::StreamExt as _;
    let upstream = service_fn(|_request: Request<()>| async {
        let first = tokio_stream::iter([Ok::<_, Infallible>(http_body::Frame::data(
            Bytes::from_static(
                br#"{"error": {"code": "backend_down", "message": "Service temporarily down, ret"#,
            ),
        ))]);
        let body = StreamBody::new(first.chain(tokio_stream::pending()));
        Ok::<_, Infallible>(Response::builder().status(503).body(body).unwrap())
    });
    let client = ErrorBodyParseLayer::new().layer(upstream);
    let started = Instant::now();
    let Err(error) = client.oneshot(Request::new(())).await else {
        panic!("a stalled failure body ended in a success")
    };
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    let api = error.api().expect("a typed error");
    assert!(api.is_truncated());
    assert_eq!(api.kind(), ErrorKind::Unavailable);
    assert!(
        api.message().contains("Service temporarily down"),
        "{:?}",
        api.message()
    );
}
