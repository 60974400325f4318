//! Hedging against real loopback servers with injected faults (time
//! paused: the servers' delays and the hedge timers run on tokio's clock,
//! so latencies are exact and the runs deterministic).

mod support;

#[cfg(feature = "opentelemetry")]
#[path = "support/exported.rs"]
mod exported;
#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::hedge::{HedgeLayer, RetryBudget};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind, StopReason};

/// SplitMix64: the same request index always gets the same fate.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The server's counts: requests received, and 429s answered; and the
/// quota window (its index and the requests in it).
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    throttled: AtomicU64,
    window: std::sync::Mutex<(u64, u64)>,
}

/// A long-tail server: 2 % of responses take 1 s, the rest 5 ms. With
/// `quota`, it also enforces and announces a window of that many requests
/// per 10 s, answering 429 past it.
async fn long_tail(quota: Option<u64>) -> (SocketAddr, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let seen = counts.clone();
    let start = Instant::now();
    let addr = support::serve(move |_req| {
        let seen = seen.clone();
        async move {
            let n = seen.requests.fetch_add(1, Ordering::SeqCst);
            let mut headers = Vec::new();
            if let Some(quota) = quota {
                let used = {
                    let mut window = seen.window.lock().unwrap();
                    let now = start.elapsed().as_secs() / 10;
                    if window.0 != now {
                        *window = (now, 0);
                    }
                    window.1 += 1;
                    window.1
                };
                if used > quota {
                    seen.throttled.fetch_add(1, Ordering::SeqCst);
                    return support::response(429, &[("retry-after", "1")], "{}");
                }
                let reset = 10 - start.elapsed().as_secs() % 10;
                headers.push(("x-ratelimit-limit", quota.to_string()));
                headers.push(("x-ratelimit-remaining", (quota - used).to_string()));
                headers.push(("x-ratelimit-reset", reset.to_string()));
            }
            let slow = splitmix(n) % 100 < 2;
            let delay = if slow { 1000 } else { 5 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            support::response(200, &headers, "{}")
        }
    })
    .await;
    (addr, counts)
}

/// A client over loopback with `hedge` above the parse layer.
fn hedged(
    hedge: HedgeLayer,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = Error,
> + Clone {
    ServiceBuilder::new()
        .layer(hedge)
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>())
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/v1/items"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies[latencies.len() * 99 / 100]
}

/// `calls` sequential GETs through `client`: their latencies.
async fn drive<S>(client: S, addr: SocketAddr, calls: usize) -> Vec<Duration>
where
    S: Service<Request<Full<Bytes>>, Error = Error> + Clone,
{
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let response = client
            .clone()
            .oneshot(get(addr))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        drop(response);
        latencies.push(started.elapsed());
    }
    latencies
}

const CALLS: usize = 2000;

#[tokio::test(start_paused = true)]
async fn a_long_tail_p99_is_cut_with_few_extra_requests() {
    // Without hedging: the baseline of the same run.
    let (addr, counts) = long_tail(None).await;
    let plain = ServiceBuilder::new()
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<Full<Bytes>>());
    let before = p99(drive(plain, addr, CALLS).await);
    assert_eq!(counts.requests.load(Ordering::SeqCst), CALLS as u64);

    let (addr, counts) = long_tail(None).await;
    let hedged = hedged(HedgeLayer::percentile(0.95));
    let after = p99(drive(hedged, addr, CALLS).await);
    let extra = counts.requests.load(Ordering::SeqCst) - CALLS as u64;
    eprintln!("p99 {before:?} -> {after:?}, {extra} extra requests of {CALLS}");
    assert!(before >= Duration::from_secs(1), "the tail: {before:?}");
    assert!(
        after.as_secs_f64() <= before.as_secs_f64() * 0.6,
        "p99 {before:?} -> {after:?}"
    );
    assert!(
        extra as f64 <= CALLS as f64 * 0.05,
        "{extra} extra requests"
    );
    assert!(extra > 0, "hedges were sent");
}

#[tokio::test(start_paused = true)]
async fn hedges_never_push_a_quota_into_429() {
    // The long tail under a quota of 2000 per 10 s that the calls alone
    // use ~85 % of: hedges are sent (while 10 % is left) and none is
    // answered 429.
    let (addr, counts) = long_tail(Some(2000)).await;
    let hedged = hedged(HedgeLayer::percentile(0.95));
    drive(hedged, addr, CALLS).await;
    assert_eq!(counts.throttled.load(Ordering::SeqCst), 0, "no 429");
    assert!(
        counts.requests.load(Ordering::SeqCst) > CALLS as u64,
        "hedges were sent"
    );
}

#[tokio::test(start_paused = true)]
async fn no_hedge_without_quota_headroom() {
    // Every answer announces 5 of 100 left (under the 10 % a hedge needs);
    // every other call is slow.
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    let addr = support::serve(move |_req| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            let delay = if n.is_multiple_of(2) { 5 } else { 1000 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let headers = [
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "5"),
                ("x-ratelimit-reset", "60"),
            ];
            support::response(200, &headers, "{}")
        }
    })
    .await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(20)).no_budget());
    let latencies = drive(client, addr, 10).await;
    assert_eq!(count.load(Ordering::SeqCst), 10, "not one hedge");
    assert_eq!(
        latencies[1],
        Duration::from_secs(1),
        "a slow call ran its course"
    );
}

/// A server that answers by attempt: the first request of each call (odd
/// count) with `first`, the hedge with `second`.
async fn by_attempt(
    first: (u16, Option<&'static str>, u64),
    second: (u16, Option<&'static str>, u64),
) -> (SocketAddr, Arc<AtomicU32>) {
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    let addr = support::serve(move |_req| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            let (status, retry_after, millis) = if n.is_multiple_of(2) { first } else { second };
            tokio::time::sleep(Duration::from_millis(millis)).await;
            let headers: Vec<(&str, &str)> = retry_after
                .map(|v| ("retry-after", v))
                .into_iter()
                .collect();
            support::response(status, &headers, "{}")
        }
    })
    .await;
    (addr, count)
}

#[tokio::test(start_paused = true)]
async fn the_first_success_wins_and_the_loser_is_cancelled() {
    let (addr, count) = by_attempt((200, None, 1000), (200, None, 5)).await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(20)));
    let started = Instant::now();
    client.oneshot(get(addr)).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(25));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_on_an_attempt_stops_hedging_and_cools_the_scope() {
    // The first attempt: 503 with Retry-After: 2 after 1 ms.
    let (addr, count) = by_attempt((503, Some("2"), 1), (200, None, 1)).await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(20)));
    let error = client.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "no hedge after the server's word"
    );
    // For 2 s the scope is cooling: the next call is sent once, unhedged
    // (the server now answers it with the 200 of an "odd" request after 1 ms).
    client.clone().oneshot(get(addr)).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failure_a_retry_may_fix_sends_the_hedge_at_once() {
    let (addr, count) = by_attempt((502, None, 1), (200, None, 5)).await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(500)));
    let started = Instant::now();
    client.oneshot(get(addr)).await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(6),
        "not after 500 ms"
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// A per-attempt `tower::timeout` below the hedge layer cuts one attempt,
/// not the call: the hedge, sent at 100 ms, answers at 1.05 s, past the
/// first attempt's 1 s timeout (the retry layer over the same timeout
/// retries the attempt it cut). Before, the timeout was the call's
/// answer and the winning hedge was cancelled.
#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_below_does_not_end_the_race() {
    let (addr, count) = by_attempt((200, None, 3_600_000), (200, None, 950)).await;
    let client = ServiceBuilder::new()
        .layer(HedgeLayer::fixed(Duration::from_millis(100)))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(1)))
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let started = Instant::now();
    let answer = client.oneshot(get(addr)).await;
    assert!(answer.is_ok(), "{answer:?} at {:?}", started.elapsed());
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// A failure no resend heals is the call's answer, as for the retry
/// layer: here hyper-util refuses an `https://` URI ("scheme is not
/// http"); before, the hedge went at once and met the same refusal.
#[tokio::test]
async fn a_failure_no_resend_heals_sends_no_hedge() {
    let sends = Arc::new(AtomicU32::new(0));
    let counted = sends.clone();
    let client = ServiceBuilder::new()
        .map_request(move |request: Request<ReplayBody<Full<Bytes>>>| {
            counted.fetch_add(1, Ordering::SeqCst);
            request
        })
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let hedged = tower::Layer::layer(&HedgeLayer::fixed(Duration::from_secs(5)), client);
    let request = Request::get("https://127.0.0.1:9/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = hedged.oneshot(request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    assert_eq!(sends.load(Ordering::SeqCst), 1, "{error}");
}

/// In `ApiErrorsLayer`, hedges draw on the retry policy's budget (issue
/// 26: "hedges draw on the same budget as retries"; the README: "within
/// the retry budget"): with it empty, no hedge goes; with a budget of the
/// hedge layer's own, one does. Before, the hedge layer kept a budget of
/// its own unless given the policy's by hand.
#[tokio::test(start_paused = true)]
async fn in_the_stack_hedges_draw_on_the_retry_budget() {
    for own in [false, true] {
        let sent = Arc::new(AtomicU32::new(0));
        let counted = sent.clone();
        let upstream = tower::service_fn(move |_: Request<ReplayBody<ReplayBody<Full<Bytes>>>>| {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                let takes = if first { 1000 } else { 10 };
                tokio::time::sleep(Duration::from_millis(takes)).await;
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
            }
        });
        let empty = RetryBudget::new(Duration::from_secs(10), 0, 0.0);
        let hedge = HedgeLayer::fixed(Duration::from_millis(50));
        let hedge = if own {
            hedge.budget(RetryBudget::default())
        } else {
            hedge
        };
        let stack = tower_api_errors::ApiErrorsLayer::new()
            .retry(RetryPolicy::default().budget(empty))
            .hedge(hedge);
        let client = tower::Layer::layer(&stack, upstream);
        let request = Request::get("http://api.test/v1/items")
            .body(Full::new(Bytes::new()))
            .unwrap();
        client.oneshot(request).await.unwrap();
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1 + u32::from(own),
            "own: {own}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_sends_no_hedge_and_cancels_nothing() {
    let (addr, count) = by_attempt((200, None, 1000), (200, None, 5)).await;
    let client = hedged(
        HedgeLayer::fixed(Duration::from_millis(20)).budget(RetryBudget::new(
            Duration::from_secs(10),
            0,
            0.0,
        )),
    );
    let started = Instant::now();
    client.oneshot(get(addr)).await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(1000),
        "the first attempt ran out"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn under_hedging_the_retry_layer_retries_only_what_is_not_hedged() {
    // Every request: 502 after 1 ms, no hint.
    let (addr, count) = by_attempt((502, None, 1), (502, None, 1)).await;
    let stack = |hedge: HedgeLayer| {
        ServiceBuilder::new()
            .layer(hedge)
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(ErrorBodyParseLayer::new())
            .service(support::client::<ReplayBody<ReplayBody<Full<Bytes>>>>())
    };
    // A hedged GET whose first attempt fails before its hedge is due: the
    // retry layer starts the second attempt first, so it owns the call
    // (src/hedge/mod.rs "Placement"): retried as any call, no hedge sent.
    let hedged = stack(HedgeLayer::fixed(Duration::from_millis(20)));
    let error = hedged.clone().oneshot(get(addr)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadGateway);
    assert_eq!(error.retries().attempts(), 3, "{error}");
    assert_eq!(error.retries().stopped(), Some(StopReason::MaxAttempts));
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // A GET this layer does not hedge (nothing learned yet): unmarked, so
    // the retry layer retries it as any other call.
    let learning = stack(HedgeLayer::percentile(0.95));
    let error = learning.oneshot(get(addr)).await.unwrap_err();
    assert_eq!(error.retries().attempts(), 3, "{error}");
    assert_eq!(error.retries().stopped(), Some(StopReason::MaxAttempts));
    assert_eq!(count.load(Ordering::SeqCst), 3 + 3);
    // Once the hedge is out, the hedge layer owns the call: two attempts
    // (the first fails at 100 ms, its hedge at 220 ms), neither retried.
    let (addr, count) = by_attempt((502, None, 100), (502, None, 200)).await;
    let error = hedged.oneshot(get(addr)).await.unwrap_err();
    assert_eq!(error.retries().attempts(), 1, "{error}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// gRPC A6, a call "hedged or retried, never both" (src/hedge/mod.rs
/// "Placement"): inside `ApiErrorsLayer`, a GET answered 429 or 503 with
/// `Retry-After: 1` before its hedge is due is retried after the wait, as
/// without `.hedge`, and its hedge, due during the wait, is not sent.
#[tokio::test(start_paused = true)]
async fn a_hint_on_the_first_attempt_is_retried_below_the_hedge_layer() {
    for status in [429, 503] {
        let (addr, count) = by_attempt((status, Some("1"), 1), (200, None, 1)).await;
        let client = tower_api_errors::ApiErrorsLayer::new()
            .hedge(HedgeLayer::fixed(Duration::from_millis(500)))
            .client(support::client::<ReplayBody<ReplayBody<Full<Bytes>>>>());
        let started = Instant::now();
        let response = client.oneshot(get(addr)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(started.elapsed(), Duration::from_millis(1002));
        assert_eq!(count.load(Ordering::SeqCst), 2, "one retry, no hedge");
    }
}

/// Hedges sent, won and cancelled reach the one observer: here its
/// OpenTelemetry backend, read back from an in-memory exporter.
#[cfg(feature = "opentelemetry")]
#[tokio::test(start_paused = true)]
async fn hedges_are_recorded_as_metrics() {
    let reader = support::MetricsReader::new();
    // Every first attempt takes 1 s and every hedge 5 ms: two calls, two
    // hedges sent, both won.
    let (addr, _) = by_attempt((200, None, 1000), (200, None, 5)).await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(20)).metrics(reader.metrics()));
    client.clone().oneshot(get(addr)).await.unwrap();
    client.clone().oneshot(get(addr)).await.unwrap();

    let events = reader.counter_points("tower_api_errors.hedges", "tower_api_errors.hedge.event");
    assert_eq!(events, ["sent 2", "won 2"]);
}

#[tokio::test(start_paused = true)]
async fn a_body_is_replayed_whole_to_the_hedge() {
    // A PUT with a body: the first attempt is slow; each attempt must
    // carry the whole body.
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let body = support::body_bytes(req.into_body()).await;
            let first = {
                let mut seen = seen.lock().unwrap();
                seen.push(body);
                seen.len() == 1
            };
            let delay = if first { 1000 } else { 5 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            support::response(200, &[], "{}")
        }
    })
    .await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(20)));
    let put = Request::put(format!("http://{addr}/v1/items/7"))
        .body(Full::new(Bytes::from_static(b"{\"name\":\"seven\"}")))
        .unwrap();
    let started = Instant::now();
    client.oneshot(put).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(25));
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    assert!(bodies
        .iter()
        .all(|body| &body[..] == b"{\"name\":\"seven\"}"));
}

/// Hedge docs (src/hedge/mod.rs:11, :42): "a call that happens to hit a
/// slow server or a lost packet is answered by its twin"; only a body "too
/// large to keep, or still streaming" is not hedged. A PUT, a DELETE and a
/// keyed POST with a small in-memory body, whose first connect takes 2 s
/// (a lost SYN), are hedged at the delay, as a GET is. They once waited
/// the full 2 s: the body counted as whole only once the first attempt
/// had read it, and a first attempt still connecting had not.
#[tokio::test(start_paused = true)]
async fn a_body_whose_first_attempt_is_still_connecting_is_hedged() {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use tower::Layer;
    let addr = support::serve(|req: Request<hyper::body::Incoming>| async move {
        let body = support::body_bytes(req.into_body()).await;
        support::response(200, &[], format!("len {}", body.len()))
    })
    .await;
    let connects = Arc::new(AtomicU32::new(0));
    let counter = connects.clone();
    let connector = tower::service_fn(move |uri: http::Uri| {
        let slow = counter.fetch_add(1, Ordering::SeqCst) == 0;
        let mut inner = HttpConnector::new();
        Box::pin(async move {
            if slow {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            inner.call(uri).await
        })
    });
    let client = Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build::<_, ReplayBody<Full<Bytes>>>(connector);
    let client = HedgeLayer::fixed(Duration::from_millis(100))
        .no_budget()
        .layer(client);
    for (method, key) in [("PUT", None), ("DELETE", None), ("POST", Some("k-1"))] {
        connects.store(0, Ordering::SeqCst);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}/v1/items/7"));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Full::new(Bytes::from(vec![b'z'; 100])));
        let started = Instant::now();
        let response = client.clone().oneshot(request.unwrap()).await.unwrap();
        let took = started.elapsed();
        let text = support::body_bytes(response.into_body()).await;
        assert_eq!(&text[..], b"len 100", "{method}");
        assert!(
            took < Duration::from_secs(1),
            "{method}: not hedged, {took:?}"
        );
        assert_eq!(connects.load(Ordering::SeqCst), 2, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_without_a_key_is_never_hedged() {
    let (addr, count) = by_attempt((200, None, 1000), (200, None, 5)).await;
    let client = hedged(HedgeLayer::fixed(Duration::from_millis(20)));
    let post = Request::post(format!("http://{addr}/v1/orders"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let started = Instant::now();
    client.oneshot(post).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// A server for two tenants (`x-tenant: a` or `b`): tenant `a` is
/// answered `a_answer` after 1 ms; tenant `b`'s first request takes
/// `b_first` ms, its others 5 ms. Returns the requests of `b` received.
async fn two_tenants(
    a_answer: (u16, Option<&'static str>),
    b_first: u64,
) -> (SocketAddr, Arc<AtomicU32>) {
    let b_count = Arc::new(AtomicU32::new(0));
    let seen = b_count.clone();
    let addr = support::serve(move |req| {
        let tenant_b = req.headers().get("x-tenant").is_some_and(|v| v == "b");
        let n = if tenant_b {
            seen.fetch_add(1, Ordering::SeqCst)
        } else {
            u32::MAX
        };
        async move {
            if !tenant_b {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let headers: Vec<_> = a_answer.1.map(|v| ("retry-after", v)).into_iter().collect();
                return support::response(a_answer.0, &headers, "{}");
            }
            tokio::time::sleep(Duration::from_millis(if n == 0 { b_first } else { 5 })).await;
            support::response(200, &[], "{}")
        }
    })
    .await;
    (addr, b_count)
}

fn tenant_get(addr: SocketAddr, tenant: &str) -> Request<Full<Bytes>> {
    let mut request = get(addr);
    request
        .headers_mut()
        .insert("x-tenant", tenant.parse().unwrap());
    request
}

/// Partitioned by the tenant header, as the breaker's and the quota's
/// `partition`.
fn by_tenant(layer: HedgeLayer) -> HedgeLayer {
    layer.partition(|request| request.headers().get("x-tenant").cloned())
}

/// Issue 26: hedging's cooldown is "learned per scope", and a scope is
/// "the authority by default, or a partition" (hedge module docs, as the
/// breaker's). Tenant A's 429 with `Retry-After` (RFC 9110 §10.2.3, RFC
/// 6585 §4) cools A's scope only when the layer is partitioned by tenant:
/// tenant B's slow call is still hedged. Unpartitioned, as before, the
/// whole authority cools and B's call runs its slow course unhedged.
#[tokio::test(start_paused = true)]
async fn a_tenants_429_cools_only_its_own_partition() {
    for (partitioned, b_sends, b_took) in [(false, 1, 1000), (true, 2, 25)] {
        let (addr, b_count) = two_tenants((429, Some("30")), 1000).await;
        let layer = HedgeLayer::fixed(Duration::from_millis(20)).no_budget();
        let client = hedged(if partitioned { by_tenant(layer) } else { layer });
        let error = client
            .clone()
            .oneshot(tenant_get(addr, "a"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        let started = Instant::now();
        client.clone().oneshot(tenant_get(addr, "b")).await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            took,
            Duration::from_millis(b_took),
            "partitioned: {partitioned}"
        );
        assert_eq!(
            b_count.load(Ordering::SeqCst),
            b_sends,
            "partitioned: {partitioned}"
        );
    }
}

/// Issue 26: "a latency percentile learned per scope". Tenant A's answers
/// teach a p95 (A's own); tenant B has taught nothing yet,
/// so, partitioned, B's slow call is not hedged on A's latencies (fewer
/// than `learning`'s samples in B's scope); unpartitioned it is, at A's p95.
#[tokio::test(start_paused = true)]
async fn one_tenants_latencies_set_no_other_tenants_delay_when_partitioned() {
    for (partitioned, b_sends) in [(false, 2), (true, 1)] {
        let (addr, b_count) = two_tenants((200, None), 1000).await;
        let layer = HedgeLayer::percentile(0.95).no_budget();
        let layer = layer.learning(5, Duration::from_millis(1));
        let client = hedged(if partitioned { by_tenant(layer) } else { layer });
        for _ in 0..10 {
            client.clone().oneshot(tenant_get(addr, "a")).await.unwrap();
        }
        client.clone().oneshot(tenant_get(addr, "b")).await.unwrap();
        assert_eq!(
            b_count.load(Ordering::SeqCst),
            b_sends,
            "partitioned: {partitioned}"
        );
    }
}

/// The layer, its service and its future are what a stack needs them to
/// be: `Send + Sync + Clone` layers and services, `Send` futures.
#[test]
fn types_are_send_sync_and_clone() {
    fn layer<T: Send + Sync + Clone>() {}
    fn future<T: Send>() {}
    type Client = hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        ReplayBody<Full<Bytes>>,
    >;
    type Hedged = tower_api_errors::hedge::Hedge<Client>;
    layer::<HedgeLayer>();
    layer::<Hedged>();
    layer::<RetryBudget>();
    future::<<Hedged as Service<Request<Full<Bytes>>>>::Future>();
}

#[tokio::test(start_paused = true)]
async fn below_a_retry_layer_the_hedge_layer_does_not_hedge() {
    // gRPC A6: hedging or retries for a call, not both. Stacked below a
    // retry layer, the hedge layer would hedge every retry; it passes the
    // call through instead (the first attempt, slow, is the only send).
    let (addr, count) = by_attempt((200, None, 1000), (200, None, 5)).await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(HedgeLayer::fixed(Duration::from_millis(20)))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<ReplayBody<Full<Bytes>>>>());
    let started = Instant::now();
    client.oneshot(get(addr)).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(1000));
    assert_eq!(count.load(Ordering::SeqCst), 1, "no hedge was sent");
}

/// Peers' hedging scenarios (Polly v8 hedging, gRFC A6), on `service_fn`
/// upstreams that answer by attempt, with paused time.
mod peer_scenarios {
    use crate::scripted::{self, reply, Scripted};
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;
    use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
    use tower_api_errors::breaker::CircuitBreakerLayer;
    use tower_api_errors::hedge::{HedgeLayer, Hedged};
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::{ErrorBodyParseLayer, ErrorKind};

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    /// An answer's headers.
    type Headers = &'static [(&'static str, &'static str)];

    /// The server's two ways of saying "do not retry": a negative gRPC
    /// pushback (gRFC A6) and `x-should-retry: false` (OpenAI, Anthropic).
    const DO_NOT_RETRY: [Headers; 2] = [
        &[("grpc-retry-pushback-ms", "-1")],
        &[("x-should-retry", "false")],
    ];

    fn get() -> Request<Full<Bytes>> {
        scripted::get("http://api.test/v1/things")
    }

    /// An upstream for the hedge layer that answers by attempt (1: the
    /// first, 2: the hedge): `(delay, status, headers)`; counts sends.
    fn by_attempt(
        first: (u64, u16, Headers),
        hedge: (u64, u16, Headers),
        sent: Arc<AtomicU32>,
    ) -> impl tower::Service<
        Request<ReplayBody<Full<Bytes>>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send {
        service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
            sent.fetch_add(1, SeqCst);
            let attempt = req.extensions().get::<Hedged>().map_or(1, |h| h.attempt());
            let (millis, status, headers) = if attempt == 1 { first } else { hedge };
            async move {
                tokio::time::sleep(MS(millis)).await;
                Ok::<_, Infallible>(reply(status, headers, &format!("attempt {attempt}")))
            }
        })
    }

    /// An upstream whose every answer announces `window`: the first call
    /// answers at once, the second call's first attempt takes 1 s, any
    /// other send 5 ms; counts sends.
    fn announcing(
        window: Headers,
        sent: Arc<AtomicU32>,
    ) -> impl tower::Service<
        Request<ReplayBody<Full<Bytes>>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send {
        let calls = Arc::new(AtomicU32::new(0));
        service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
            sent.fetch_add(1, SeqCst);
            let first = req
                .extensions()
                .get::<Hedged>()
                .is_none_or(|h| !h.is_hedge());
            let n = if first {
                calls.fetch_add(1, SeqCst)
            } else {
                99
            };
            async move {
                let millis = if n == 1 { 1_000 } else { 5 };
                tokio::time::sleep(MS(millis)).await;
                Ok::<_, Infallible>(reply(200, window, "{}"))
            }
        })
    }

    #[cfg(feature = "grpc")]
    async fn text(response: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Hedge docs (src/hedge/mod.rs:21-23): "while its binding rate-limit
    /// window has less than 10 % left, no hedge is sent (a hedge spends
    /// quota twice)". A vendor that announces `X-RateLimit-Limit: 100` and
    /// `X-RateLimit-Remaining: 1` without a reset header is short of
    /// headroom all the same: the next slow call is not hedged (the window
    /// was once short only "until now", and the hedge went).
    #[tokio::test(start_paused = true)]
    async fn no_headroom_when_the_window_names_no_reset() {
        const SHORT: Headers = &[("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "1")];
        let sent = Arc::new(AtomicU32::new(0));
        let upstream = announcing(SHORT, sent.clone());
        let client = HedgeLayer::fixed(MS(20)).no_budget().layer(upstream);
        client.clone().oneshot(get()).await.unwrap();
        assert_eq!(sent.load(SeqCst), 1);
        // The scope has 1 request of 100 left: no hedge for the slow call.
        client.clone().oneshot(get()).await.unwrap();
        assert_eq!(
            sent.load(SeqCst),
            2,
            "a hedge was sent with 1 of 100 requests left in the window"
        );
    }

    /// The same window with a reset header is honoured (no hedge).
    #[tokio::test(start_paused = true)]
    async fn no_headroom_when_the_window_names_its_reset() {
        const SHORT: Headers = &[
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "1"),
            ("x-ratelimit-reset", "30"),
        ];
        let sent = Arc::new(AtomicU32::new(0));
        let upstream = announcing(SHORT, sent.clone());
        let client = HedgeLayer::fixed(MS(20)).no_budget().layer(upstream);
        client.clone().oneshot(get()).await.unwrap();
        client.clone().oneshot(get()).await.unwrap();
        assert_eq!(sent.load(SeqCst), 2, "no hedge without headroom");
    }

    /// Hedge docs (src/hedge/mod.rs, "The server's word"): no hedge while
    /// any window announced has less than 10 % of its own limit left.
    /// OpenAI's requests window (59 of 60) has the fewest left, but its
    /// tokens window (100 of 150,000: 0.07 %) is the one a hedge would
    /// overdraw: the slow call is not hedged (it was).
    #[tokio::test(start_paused = true)]
    async fn no_headroom_when_any_window_is_short_of_its_own_limit() {
        const OPENAI: Headers = &[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-tokens", "100"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ];
        let sent = Arc::new(AtomicU32::new(0));
        let upstream = announcing(OPENAI, sent.clone());
        let client = HedgeLayer::fixed(MS(20)).no_budget().layer(upstream);
        client.clone().oneshot(get()).await.unwrap();
        client.clone().oneshot(get()).await.unwrap();
        assert_eq!(
            sent.load(SeqCst),
            2,
            "hedged with 0.07 % of the tokens left"
        );
    }

    /// Hedge docs (src/hedge/mod.rs, "The server's word"): no hedge while
    /// the window has less than 10 % left, until its reset; as the quota
    /// layer reads a window, the fewest left wins. An older call's answer
    /// (sent before, answered after: 50 of 100 left) that comes back after
    /// a newer one said 5 of 100 does not lift the short state (it did:
    /// the next slow call was hedged); an answer to a request sent after
    /// the short one came does.
    #[tokio::test(start_paused = true)]
    async fn a_late_answer_of_an_older_call_keeps_the_headroom_short() {
        let sent = Arc::new(AtomicU32::new(0));
        let counter = sent.clone();
        let upstream = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
            counter.fetch_add(1, SeqCst);
            let hedge = req
                .extensions()
                .get::<Hedged>()
                .is_some_and(|h| h.is_hedge());
            let (left, millis) = match req.uri().path() {
                "/old" => ("50", 2_000),
                "/fresh" => ("50", 0),
                "/slow" if !hedge => ("5", 3_000),
                _ => ("5", 0),
            };
            async move {
                tokio::time::sleep(MS(millis)).await;
                let headers = [
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", left),
                    ("x-ratelimit-reset", "60"),
                ];
                Ok::<_, Infallible>(reply(200, &headers, "{}"))
            }
        });
        let client = HedgeLayer::fixed(MS(2_500)).no_budget().layer(upstream);
        let call = |path: &str| {
            let request = scripted::get(&format!("http://api.test{path}"));
            client.clone().oneshot(request)
        };
        let old = tokio::spawn(call("/old"));
        tokio::time::sleep(MS(100)).await;
        call("/new").await.unwrap();
        old.await.unwrap().unwrap();
        call("/slow").await.unwrap();
        assert_eq!(sent.load(SeqCst), 3, "hedged with 5 of 100 left");
        // Sent after the short answer: headroom again, the slow call hedged.
        call("/fresh").await.unwrap();
        call("/slow").await.unwrap();
        assert_eq!(sent.load(SeqCst), 6);
    }

    /// gRFC A6, "Summary of Retry and Hedging Logic", case 4 "Pushback:
    /// Don't retry — Hedging policy: Don't send any more hedged requests"
    /// (unlike case 3, a fatal status: "Cancel previous and pending
    /// hedges"); "Hedged RPCs are returned to the client application when
    /// all outstanding and pending requests have either received a response
    /// or been canceled". Our docs (src/hedge/mod.rs:23-24): "A pushback or
    /// `Retry-After` on either attempt stops further hedges for the call" —
    /// stops, it does not cancel the attempt still running, which here
    /// succeeds. Over the bare layer (the 503 as a response) and over the
    /// parse layer (the 503 as a typed error, not retryable by the server's
    /// verdict) alike; likewise for `x-should-retry: false`.
    #[tokio::test(start_paused = true)]
    async fn a6_do_not_retry_stops_hedges_but_cancels_nothing() {
        for (parsed, headers) in [false, true]
            .into_iter()
            .flat_map(|parsed| DO_NOT_RETRY.map(|headers| (parsed, headers)))
        {
            let sent = Arc::new(AtomicU32::new(0));
            let upstream = by_attempt((1_000, 200, &[]), (5, 503, headers), sent.clone());
            let started = Instant::now();
            let outcome = match parsed {
                false => HedgeLayer::fixed(MS(20))
                    .no_budget()
                    .layer(upstream)
                    .oneshot(get())
                    .await
                    .map(|r| r.status().as_u16()),
                true => ServiceBuilder::new()
                    .layer(HedgeLayer::fixed(MS(20)).no_budget())
                    .layer(ErrorBodyParseLayer::new())
                    .service(upstream)
                    .oneshot(get())
                    .await
                    .map(|r| r.status().as_u16()),
            };
            let took = started.elapsed();
            let case = format!("parsed: {parsed}, {headers:?}");
            assert_eq!(sent.load(SeqCst), 2, "{case}");
            assert_eq!(
                outcome.as_ref().ok(),
                Some(&200),
                "{case}: {outcome:?} after {took:?}: the first attempt was cancelled"
            );
            assert_eq!(took, MS(1_000), "{case}");
        }
    }

    /// The other half of A6 case 4 ("Pushback: Don't retry — Hedging
    /// policy: Don't send any more hedged requests") and of our docs
    /// (src/hedge/mod.rs:23-24, "A pushback ... on either attempt stops
    /// further hedges for the call"): a first attempt that answers 503 with
    /// `grpc-retry-pushback-ms: -1` (or `x-should-retry: false`) before the
    /// hedge is due gets no hedge, over the parse layer and over the bare
    /// hedge layer (where the 503 was once judged "a failure another try
    /// may fix", and the hedge went at once).
    #[tokio::test(start_paused = true)]
    async fn a6_do_not_retry_on_the_first_attempt_sends_no_hedge() {
        for (parsed, headers) in [true, false]
            .into_iter()
            .flat_map(|parsed| DO_NOT_RETRY.map(|headers| (parsed, headers)))
        {
            let sent = Arc::new(AtomicU32::new(0));
            let upstream = by_attempt((5, 503, headers), (5, 200, &[]), sent.clone());
            let status = match parsed {
                false => HedgeLayer::fixed(MS(500))
                    .no_budget()
                    .layer(upstream)
                    .oneshot(get())
                    .await
                    .unwrap()
                    .status(),
                true => ServiceBuilder::new()
                    .layer(HedgeLayer::fixed(MS(500)).no_budget())
                    .layer(ErrorBodyParseLayer::new())
                    .service(upstream)
                    .oneshot(get())
                    .await
                    .unwrap_err()
                    .api()
                    .expect("a typed 503")
                    .status(),
            };
            assert_eq!(
                (sent.load(SeqCst), status.as_u16()),
                (1, 503),
                "parsed: {parsed}, {headers:?}: a hedge was sent after the server said not to retry"
            );
        }
    }

    /// gRFC A6 over gRPC: a trailers-only `UNAVAILABLE` (HTTP 200,
    /// `grpc-status: 14`) is a non-fatal status: "Immediately send next
    /// scheduled hedged request" (case 2), and it never wins over an
    /// attempt still running. Hedge docs (src/hedge/mod.rs:30-33): "As gRPC
    /// A6's hedging policy: a failure another try may fix ... sends the
    /// hedge at once". With the `grpc` feature the crate classifies a
    /// trailers-only status "exactly like an HTTP status"
    /// (src/grpc/mod.rs:3-8), and the hedge layer judges raw responses as
    /// the retry layer classifies them (it once read the HTTP status only).
    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn raw_grpc_unavailable_is_not_a_final_answer() {
        const UNAVAILABLE: Headers = &[
            ("content-type", "application/grpc"),
            ("grpc-status", "14"),
            ("grpc-message", "backend%20down"),
        ];
        // The hedge answers UNAVAILABLE fast; the slow first attempt succeeds.
        let sent = Arc::new(AtomicU32::new(0));
        let upstream = by_attempt((1_000, 200, &[]), (5, 200, UNAVAILABLE), sent.clone());
        let client = HedgeLayer::fixed(MS(20)).no_budget().layer(upstream);
        let response = client.oneshot(get()).await.unwrap();
        let grpc_status = response.headers().get("grpc-status").cloned();
        assert_eq!(
            grpc_status, None,
            "the hedge's UNAVAILABLE won over the first attempt still running"
        );
        assert_eq!(text(response).await, "attempt 1");
    }

    /// The same, the other way round: a first attempt that answers a
    /// trailers-only UNAVAILABLE at once sends the hedge at once (A6 case
    /// 2), as a raw 503 does (`a_failure_a_retry_may_fix_sends_the_hedge_at_once`).
    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn raw_grpc_unavailable_sends_the_hedge_at_once() {
        const UNAVAILABLE: Headers = &[("content-type", "application/grpc"), ("grpc-status", "14")];
        let sent = Arc::new(AtomicU32::new(0));
        let upstream = by_attempt((1, 200, UNAVAILABLE), (5, 200, &[]), sent.clone());
        let client = HedgeLayer::fixed(MS(500)).no_budget().layer(upstream);
        let started = Instant::now();
        let response = client.oneshot(get()).await.unwrap();
        assert_eq!(sent.load(SeqCst), 2, "no hedge after a non-fatal status");
        assert_eq!(text(response).await, "attempt 2");
        assert_eq!(started.elapsed(), MS(6));
    }

    /// A6 case 4 over gRPC: a trailers-only UNAVAILABLE with
    /// `grpc-retry-pushback-ms: -1` on the hedge stops hedging and cancels
    /// nothing, raw or parsed (the pushback is the server's verdict on a
    /// status the table retries, `Failure::server_verdict`).
    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn grpc_do_not_retry_pushback_cancels_nothing() {
        const REFUSED: Headers = &[
            ("content-type", "application/grpc"),
            ("grpc-status", "14"),
            ("grpc-retry-pushback-ms", "-1"),
        ];
        for parsed in [false, true] {
            let sent = Arc::new(AtomicU32::new(0));
            let upstream = by_attempt((1_000, 200, &[]), (5, 200, REFUSED), sent.clone());
            let started = Instant::now();
            let response = match parsed {
                false => HedgeLayer::fixed(MS(20))
                    .no_budget()
                    .layer(upstream)
                    .oneshot(get())
                    .await
                    .unwrap(),
                true => ServiceBuilder::new()
                    .layer(HedgeLayer::fixed(MS(20)).no_budget())
                    .layer(ErrorBodyParseLayer::new())
                    .service(upstream)
                    .oneshot(get())
                    .await
                    .unwrap(),
            };
            assert_eq!(text(response).await, "attempt 1", "parsed: {parsed}");
            assert_eq!(started.elapsed(), MS(1_000), "parsed: {parsed}");
            assert_eq!(sent.load(SeqCst), 2, "parsed: {parsed}");
        }
    }

    /// Over the parse layer, a gRPC UNAVAILABLE is a typed, retryable
    /// failure, and the hedge wins; INVALID_ARGUMENT is fatal (A6 case 3)
    /// and cancels the other attempt.
    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn parsed_grpc_statuses_follow_a6() {
        const UNAVAILABLE: Headers = &[("content-type", "application/grpc"), ("grpc-status", "14")];
        const INVALID: Headers = &[("content-type", "application/grpc"), ("grpc-status", "3")];
        let sent = Arc::new(AtomicU32::new(0));
        let upstream = by_attempt((1, 200, UNAVAILABLE), (5, 200, &[]), sent.clone());
        let client = ServiceBuilder::new()
            .layer(HedgeLayer::fixed(MS(500)).no_budget())
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        let response = client.oneshot(get()).await.unwrap();
        assert_eq!(text(response).await, "attempt 2");
        assert_eq!(sent.load(SeqCst), 2);

        let sent = Arc::new(AtomicU32::new(0));
        let upstream = by_attempt((1_000, 200, &[]), (5, 200, INVALID), sent.clone());
        let client = ServiceBuilder::new()
            .layer(HedgeLayer::fixed(MS(20)).no_budget())
            .layer(ErrorBodyParseLayer::new())
            .service(upstream);
        let started = Instant::now();
        let error = client.oneshot(get()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadRequest, "{error}");
        assert_eq!(
            started.elapsed(),
            MS(25),
            "fatal: the call's answer at once"
        );
    }

    /// Hedge docs: "while a `Retry-After`, a gRPC pushback or a 429 asks
    /// the scope to wait ... no hedge is sent". A breaker below that is
    /// open is such a wait: the first attempt, refused unsent, gets no
    /// hedge (and nothing reaches the upstream).
    #[tokio::test(start_paused = true)]
    async fn over_an_open_breaker_sends_nothing() {
        let upstream = Scripted::new();
        let service = upstream.service(|_| reply(503, &[("retry-after", "30")], ""));
        let client = ServiceBuilder::new()
            .layer(HedgeLayer::fixed(MS(20)).no_budget())
            .layer(CircuitBreakerLayer::new().minimum_calls(2))
            .layer(ErrorBodyParseLayer::new())
            .service(service);
        // Each call: the first attempt fails at once; a 503 with
        // Retry-After stops hedging for the call.
        for _ in 0..2 {
            let error = client.clone().oneshot(get()).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
        }
        assert_eq!(upstream.count(), 2);
        tokio::time::advance(S(1)).await;
        let error = client.clone().oneshot(get()).await.unwrap_err();
        let open = error.circuit_open().expect("refused by the breaker");
        assert_eq!(open.retry_after(), S(29));
        assert_eq!(upstream.count(), 2, "nothing sent while open");
    }
}

/// Hedges sent, won and cancelled, counted once each (probe 8).
#[cfg(feature = "opentelemetry")]
mod counted {
    use super::scripted;
    use crate::exported::{points, sdk, total};
    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{service_fn, Layer, ServiceExt};
    use tower_api_errors::hedge::HedgeLayer;
    use tower_api_errors::metrics::Metrics;
    use tower_api_errors::retry::ReplayBody;

    /// The hedge answers first: one sent, one won, none cancelled (the first
    /// attempt is dropped, but it is not a hedge).
    #[tokio::test(start_paused = true)]
    async fn a_hedge_that_answers_first_counts_sent_and_won_once_each() {
        let (provider, exporter) = sdk();
        let n = Arc::new(AtomicU32::new(0));
        let counter = n.clone();
        let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                let ms = if first { 5_000 } else { 10 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
            }
        });
        let client = HedgeLayer::fixed(Duration::from_millis(50))
            .no_budget()
            .metrics(Metrics::from_provider(&provider))
            .layer(upstream);
        client
            .oneshot(scripted::get("http://api.test/v1/items"))
            .await
            .unwrap();
        let points = points(&provider, &exporter);
        let h = "tower_api_errors.hedges";
        let e = "tower_api_errors.hedge.event";
        assert_eq!(
            [
                total(&points, h, &[(e, "sent")]),
                total(&points, h, &[(e, "won")]),
                total(&points, h, &[(e, "cancelled")])
            ],
            [1, 1, 0],
            "{points:?}"
        );
    }
}

/// gRFC A6: a hedge is an attempt of the same call, under the call's
/// deadline: it carries the time left of the call's `grpc-timeout` when it
/// goes (230 ms of 250, 20 ms in), not the whole of it.
#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn a_hedge_carries_the_time_left_of_the_calls_grpc_timeout() {
    use std::sync::Mutex;
    use tower_api_errors::grpc::grpc_timeout;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let addr = support::serve(move |request| {
        let mut seen = record.lock().unwrap();
        seen.push(grpc_timeout(request.headers()));
        let millis = if seen.len() == 1 { 1000 } else { 5 };
        async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            support::response(200, &[], "{}")
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(HedgeLayer::fixed(Duration::from_millis(20)))
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let (mut parts, body) = get(addr).into_parts();
    parts
        .headers
        .insert("grpc-timeout", "250m".parse().unwrap());
    client
        .oneshot(Request::from_parts(parts, body))
        .await
        .unwrap();
    let timeouts = [250, 230].map(|millis| Some(Duration::from_millis(millis)));
    assert_eq!(*seen.lock().unwrap(), timeouts);
}

/// The hedge reads a response as the retry layer below it classified it
/// (hedge module docs): with a classifier calling a 503 an answer, the
/// retry layer's success is not hedged, alone or in `ApiErrorsLayer`
/// (the 503 was judged by the default classifier, a retryable failure,
/// and hedged at once: two sends for one successful call). Found by a
/// probe of the tower contract.
#[tokio::test(start_paused = true)]
async fn a_success_by_the_stacks_classifier_is_not_hedged() {
    use crate::scripted::{exact, get, reply, Scripted};
    use tower::Layer;
    use tower_api_errors::classify::{Classification, ClassifyExt, DefaultClassifier};
    let answers_503 = || {
        let classifier = DefaultClassifier::new();
        classifier.with_status(
            http::StatusCode::SERVICE_UNAVAILABLE,
            Classification::Success,
        )
    };
    let hedge = || HedgeLayer::fixed(Duration::from_secs(10)).no_budget();
    let scripted = Scripted::new();
    let alone = ServiceBuilder::new()
        .layer(hedge())
        .layer(RetryLayer::new(exact().classifier(answers_503())))
        .service(scripted.service(|_| reply(503, &[], "")));
    let response = alone.oneshot(get("http://api.example/")).await.unwrap();
    assert_eq!((response.status().as_u16(), scripted.count()), (503, 1));
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .classifier(answers_503())
        .hedge(hedge())
        .layer(scripted.service(|_| reply(503, &[], "{}")));
    let response = stack.oneshot(get("http://api.example/")).await.unwrap();
    assert_eq!((response.status().as_u16(), scripted.count()), (503, 2));
}
