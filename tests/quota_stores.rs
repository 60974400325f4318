//! One table of cases, run against every store: `MemoryStore`, and
//! `RedisStore` on a real `redis-server` (started here, feature `redis`).
//! Both call the same window algorithm; these rows hold them to the same
//! decisions through the public `QuotaStore` trait.
//!
//! The rows need no time to pass (Redis's clock cannot be paused): a wait
//! is checked to be the one the row taught, less the little time the row
//! itself took (and within [`CLOCKS`] of it, for the ledger's clock).
//!
//! The last section drives `QuotaLayer` itself over the in-memory store,
//! in one process under paused time: `max_wait`'s boundary, scopes by
//! authority, refusals, cooldowns confirmed by one request, callers that
//! give up, pacing, the cold-start hold, readiness, and a silent vendor
//! learned through `ApiErrorsLayer`.

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

#[path = "support/full_stack.rs"]
mod full_stack;
#[allow(dead_code)] // The suites share it; each uses its own part.
#[path = "support/idp.rs"]
mod idp;
#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use scripted::{get, held_after, reply, send, Scripted};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::quota::{
    Grant, MemoryStore, Observation, Permit, QuotaLayer, QuotaStore, ScopeKey, WindowReport,
};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind};

const MAX: Duration = Duration::from_secs(7200);
/// How far the ledger's clock (Redis's `TIME`, mapped onto this process's
/// clock with the round trip's midpoint) may put a window's end.
const CLOCKS: Duration = Duration::from_millis(100);

fn window(name: Option<&str>, limit: u64, remaining: u64, reset_secs: u64) -> WindowReport {
    let reset = Some(Duration::from_secs(reset_secs));
    WindowReport::new(name, Some(limit), Some(remaining), reset, None)
}

/// What a row expects of one acquisition.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Go,
    /// A wait of this long (less up to a second the row took).
    Wait(Duration),
    /// Refused at once: the cost alone is more than this window limit.
    Exceeds(u64),
}

/// One row: what the first answer taught, then acquisitions (cost, expected).
struct Row {
    name: &'static str,
    taught: Observation,
    steps: Vec<(u64, Expect)>,
}

fn rows() -> Vec<Row> {
    use Expect::{Exceeds, Go, Wait};
    let secs = Duration::from_secs;
    vec![
        Row {
            // GitHub-style: 3 left of 100, reset in 10 s; permits in flight count.
            name: "counts in flight against the reported remaining",
            taught: Observation::new().with_window(window(None, 100, 3, 10)),
            steps: vec![(1, Go), (1, Go), (1, Go), (1, Wait(secs(10)))],
        },
        Row {
            // IETF draft §5.3: a burst and a daily policy; the spent daily binds.
            name: "the tightest of several policies binds",
            taught: Observation::new()
                .with_window(window(Some("burst"), 10, 5, 1))
                .with_window(window(Some("daily"), 1000, 0, 3000)),
            steps: vec![(1, Wait(secs(3000)))],
        },
        Row {
            // A 429 with Retry-After: 5 holds the whole scope.
            name: "a cooldown holds the scope",
            taught: Observation::new().with_cooldown(secs(5)),
            steps: vec![(1, Wait(secs(5)))],
        },
        Row {
            // OpenAI-style: requests draw 1, tokens draw the cost.
            name: "costs count in the windows that count them",
            taught: Observation::new()
                .with_window(window(Some("requests"), 100, 50, 60))
                .with_window(window(Some("tokens"), 10_000, 1_000, 60)),
            steps: vec![(600, Go), (600, Wait(secs(60))), (300, Go)],
        },
        Row {
            // A prompt larger than a tokens-per-minute limit (OpenAI and
            // Anthropic answer it 429 whenever it is sent): no wait helps,
            // so it is not held; a request that fits still goes.
            name: "a cost over a window's whole limit is refused at once",
            taught: Observation::new()
                .with_window(window(Some("requests"), 100, 50, 60))
                .with_window(window(Some("tokens"), 10_000, 10_000, 60)),
            steps: vec![(10_001, Exceeds(10_000)), (10_000, Go), (1, Wait(secs(60)))],
        },
        Row {
            // A vendor of 1 s windows that truncates its delta seconds says
            // reset 0 all through them: a window ending within the second.
            name: "a reset of 0 ends the window within the second",
            taught: Observation::new().with_window(window(None, 100, 1, 0)),
            steps: vec![(1, Go), (1, Wait(secs(1)))],
        },
        Row {
            name: "a spent window waits for its reset",
            taught: Observation::new().with_window(window(None, 60, 0, 45)),
            steps: vec![(1, Wait(secs(45))), (1, Wait(secs(45)))],
        },
    ]
}

fn go(grant: Grant) -> Option<Permit> {
    match grant {
        Grant::Go { permit, .. } => Some(permit),
        _ => None,
    }
}

/// Runs every row against `store`; `label` names the store in failures.
async fn run_rows(store: &dyn QuotaStore, label: &str) {
    for (index, row) in rows().into_iter().enumerate() {
        let scope = ScopeKey::new(&format!("row{index}.example"), None);
        let first = go(store.acquire(scope, 1, MAX).await)
            .unwrap_or_else(|| panic!("{label}: {}: nothing learned, yet held", row.name));
        store.settle(first, &row.taught).await;
        let mut held = Vec::new();
        for (step, (cost, expect)) in row.steps.iter().enumerate() {
            let grant = store.acquire(scope, *cost, MAX).await;
            let at = format!("{label}: {}: step {step}: {grant:?}", row.name);
            match (expect, grant) {
                (Expect::Go, Grant::Go { permit, .. }) => held.push(permit),
                (Expect::Wait(expected), Grant::Wait(wait)) => {
                    assert!(wait <= *expected + CLOCKS, "{at}");
                    assert!(wait + Duration::from_secs(1) > *expected, "{at}");
                }
                (Expect::Exceeds(expected), Grant::Exceeds { limit, .. }) => {
                    assert_eq!(limit, *expected, "{at}");
                }
                _ => panic!("{at}: expected {expect:?}"),
            }
        }
        for permit in held {
            store.release(permit);
        }
    }
}

/// A scope that keeps [`MAX_WINDOWS`](tower_api_errors::quota::MAX_WINDOWS)
/// roomy policies still learns one a later answer says is spent, and it
/// binds (src/quota/mod.rs: "a burst and a daily policy are kept side by
/// side and the tightest binds"; IETF RateLimit draft §5.3). It was
/// ignored for want of a free slot: one answer naming four policies
/// blinded the scope for good.
async fn a_fifth_policy_spent_later_binds(store: &dyn QuotaStore, label: &str) {
    let scope = ScopeKey::new("fifth.example", None);
    let roomy = ["a", "b", "c", "d"]
        .into_iter()
        .fold(Observation::new(), |o, name| {
            o.with_window(window(Some(name), 100, 90, 50))
        });
    let spent = Observation::new().with_window(window(Some("e"), 10, 0, 20));
    for taught in [roomy, spent] {
        let permit = go(store.acquire(scope, 1, MAX).await).expect(label);
        store.settle(permit, &taught).await;
    }
    let grant = store.acquire(scope, 1, MAX).await;
    let Grant::Wait(wait) = grant else {
        panic!("{label}: sent into policy e, announced spent: {grant:?}")
    };
    let expected = Duration::from_secs(20);
    assert!(
        wait <= expected + CLOCKS && wait + Duration::from_secs(1) > expected,
        "{label}: {wait:?}"
    );
}

/// A window that shrinks (99 of 100 left for 60 s, then an answer to a
/// request sent after it: 0 of 3 left, reset in 20 s; or GitHub's `core`
/// hour, then a spent `search` minute, unpartitioned) binds until its
/// reset: src/quota/mod.rs, "At zero, a request is held until the reset";
/// only an answer of "the window before" may be disregarded. An earlier
/// reset was taken for a late answer: the next requests went at once, and
/// each drew a 429.
async fn a_window_that_shrinks_binds(store: &dyn QuotaStore, label: &str) {
    for (host, wide, spent) in [
        ("shrinks.example", (100, 99, 60), (3, 0, 20)),
        ("gh.example", (5000, 4999, 3600), (30, 0, 20)),
    ] {
        let scope = ScopeKey::new(host, None);
        for (limit, left, reset) in [wide, spent] {
            let permit = go(store.acquire(scope, 1, MAX).await).expect(label);
            let taught = Observation::new().with_window(window(None, limit, left, reset));
            store.settle(permit, &taught).await;
        }
        let grant = store.acquire(scope, 1, MAX).await;
        let Grant::Wait(wait) = grant else {
            panic!("{label}: {host}: sent into the spent window: {grant:?}")
        };
        let expected = Duration::from_secs(20);
        let near = wait <= expected + CLOCKS && wait + Duration::from_secs(1) > expected;
        assert!(near, "{label}: {host}: {wait:?}");
    }
}

/// A permit whose request was sent and then dropped unanswered (a caller's
/// timeout) stays spent: the vendor counted it. Given back as unused, it
/// let the fleet send one request past the window per caller that gave up
/// (`QuotaStore::release`, `Permit::is_sent`). A permit never sent still
/// comes back.
async fn a_permit_sent_then_dropped_stays_spent(store: &dyn QuotaStore, label: &str) {
    let scope = ScopeKey::new("dropped.example", None);
    let first = go(store.acquire(scope, 1, MAX).await).expect(label);
    store
        .settle(
            first,
            &Observation::new().with_window(window(None, 100, 3, 10)),
        )
        .await;
    let sent = go(store.acquire(scope, 1, MAX).await).expect(label);
    store.release(sent.sent());
    let unsent = go(store.acquire(scope, 1, MAX).await).expect(label);
    store.release(unsent);
    let mut held = Vec::new();
    for step in 0..2 {
        let grant = store.acquire(scope, 1, MAX).await;
        held.push(go(grant).unwrap_or_else(|| panic!("{label}: step {step}: {grant:?}")));
    }
    let grant = store.acquire(scope, 1, MAX).await;
    assert!(
        matches!(grant, Grant::Wait(_)),
        "{label}: 3 left, one sent: a third go is one past the window: {grant:?}"
    );
    held.into_iter().for_each(|permit| store.release(permit));
}

#[tokio::test]
async fn memory_store() {
    run_rows(&MemoryStore::new(), "MemoryStore").await;
    a_fifth_policy_spent_later_binds(&MemoryStore::new(), "MemoryStore").await;
    a_permit_sent_then_dropped_stays_spent(&MemoryStore::new(), "MemoryStore").await;
    a_window_that_shrinks_binds(&MemoryStore::new(), "MemoryStore").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store() {
    use tower_api_errors::quota::RedisStore;
    let redis = redis_server::RedisServer::start(redis_server::free_port());
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("test:rows:")
        .timeout(Duration::from_secs(2));
    run_rows(&store, "RedisStore").await;
    a_fifth_policy_spent_later_binds(&store, "RedisStore").await;
    a_permit_sent_then_dropped_stays_spent(&store, "RedisStore").await;
    a_window_that_shrinks_binds(&store, "RedisStore").await;
    assert!(!store.is_local(), "every row was shared");
    assert_eq!(store.local_decisions(), 0);
}

/// The same rows on a real three-node Redis Cluster: each scope's ledger is
/// one key in one slot (its digest is the key's hash tag), and the rows'
/// five scopes spread over the nodes.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store() {
    use tower_api_errors::quota::RedisStore;
    let cluster = redis_server::RedisCluster::start().await;
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::open_cluster(&urls)
        .unwrap()
        .prefix("test:cluster:")
        .timeout(Duration::from_secs(2));
    run_rows(&store, "RedisStore (cluster)").await;
    a_permit_sent_then_dropped_stays_spent(&store, "RedisStore (cluster)").await;
    a_window_that_shrinks_binds(&store, "RedisStore (cluster)").await;
    assert!(!store.is_local(), "every row was shared");
    assert_eq!(store.local_decisions(), 0);
    // The ledgers are spread over the nodes' slots, each key whole on one.
    let mut holding = 0;
    for url in cluster.urls() {
        let mut connection = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("test:cluster:*")
            .query_async(&mut connection)
            .await
            .unwrap();
        holding += usize::from(!keys.is_empty());
    }
    assert!(holding >= 2, "five scopes' ledgers on {holding} node(s)");
}

// ---------------------------------------------------------------------------
// The quota layer over the in-memory store, in one process, under paused
// time: max_wait's boundary, scopes by authority, refusals (their wait,
// what they print), cooldowns confirmed by one request, callers that give
// up, pacing, the cold-start hold, and held requests' readiness.
// ---------------------------------------------------------------------------

type Body = Full<Bytes>;

const SPENT_5: &[(&str, &str)] = &[
    ("x-ratelimit-limit", "10"),
    ("x-ratelimit-remaining", "0"),
    ("x-ratelimit-reset", "5"),
];

/// An upstream answering with `answers` in order, the last one repeated.
fn answering<B: Send + 'static>(
    upstream: &Scripted,
    answers: &[(u16, &[(&str, &str)])],
) -> impl tower::Service<Request<B>, Response = Response<Body>, Error = Infallible, Future = impl Send>
       + Clone
       + Send {
    let answers: Vec<(u16, Vec<(String, String)>)> = answers
        .iter()
        .map(|(status, pairs)| {
            let pairs = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string()));
            (*status, pairs.collect())
        })
        .collect();
    upstream.service::<B>(move |n| {
        let (status, pairs) = &answers[n.min(answers.len() - 1)];
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        reply(*status, &pairs, "{}")
    })
}

/// When each request arrived, from the first.
fn arrivals(upstream: &Scripted) -> Vec<Duration> {
    let mut at = vec![Duration::ZERO];
    for wait in upstream.waits() {
        at.push(*at.last().unwrap() + wait);
    }
    at
}

/// The URIs the upstream was sent, in order.
fn uris(upstream: &Scripted) -> Vec<String> {
    let requests = upstream.requests.lock().unwrap();
    requests.iter().map(|parts| parts.uri.to_string()).collect()
}

/// Quota module docs, "Failing fast": a wait of exactly `max_wait` is
/// held; one second more is refused at once, unsent, with the wait.
#[tokio::test(start_paused = true)]
async fn max_wait_is_held_to_its_boundary_and_refused_past_it() {
    for (reset, held) in [(30u64, true), (31, false)] {
        let reset_text = reset.to_string();
        let spent = [
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", reset_text.as_str()),
        ];
        let upstream = Scripted::default();
        let client = QuotaLayer::new()
            .max_wait(Duration::from_secs(30))
            .layer(answering::<Body>(&upstream, &[(200, &spent), (200, &[])]));
        send(&client, "http://api.example/a").await;
        let started = Instant::now();
        let result = client.clone().oneshot(get("http://api.example/b")).await;
        if held {
            assert!(result.is_ok(), "{reset}: {result:?}");
            assert_eq!(started.elapsed(), Duration::from_secs(reset));
        } else {
            let Err(Error::RateLimited(refused)) = result else {
                panic!("{reset}: {result:?}")
            };
            assert_eq!(started.elapsed(), Duration::ZERO);
            assert_eq!(refused.retry_after(), Duration::from_secs(reset));
            assert_eq!(upstream.count(), 1);
        }
    }
}

/// Quota module docs, "Scopes": one scope per authority (host in any case,
/// the scheme's port written or not, never user-info); another port or
/// host is another scope; a relative request's `Host` header names it.
#[tokio::test(start_paused = true)]
async fn one_scope_per_authority_however_it_is_written() {
    let upstream = Scripted::default();
    let client =
        QuotaLayer::new().layer(answering::<Body>(&upstream, &[(200, SPENT_5), (200, &[])]));
    send(&client, "http://api.example/a").await;
    for uri in [
        "http://api.example:8080/x",
        "http://other.example/x",
        "https://api.example:8443/x",
    ] {
        let started = Instant::now();
        send(&client, uri).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "{uri}");
    }
    let started = Instant::now();
    let relative = Request::get("/b")
        .header("host", "API.example")
        .body(Body::default())
        .unwrap();
    client.clone().oneshot(relative).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(5), "Host header");
}

/// The same scope spelled with user-info, case and its port is held, as
/// the plain URI is (quota module docs, "Scopes").
#[tokio::test(start_paused = true)]
async fn user_info_case_and_the_default_port_share_the_scope() {
    let upstream = Scripted::default();
    let client =
        QuotaLayer::new().layer(answering::<Body>(&upstream, &[(200, SPENT_5), (200, &[])]));
    let waited = held_after(
        &client,
        "http://api.example/a",
        "http://user:pw@API.Example:80/y",
    )
    .await;
    assert_eq!(waited, Duration::from_secs(5));
}

/// Quota module docs, "Failing fast": a request held for a window's reset
/// that meets a longer cooldown (a late 429 learned while it waited) is
/// never held past `max_wait` in all, nor sent into the cooldown.
#[tokio::test(start_paused = true)]
async fn a_held_request_is_never_held_past_max_wait_when_a_late_429_extends_it() {
    let sent = Arc::new(Mutex::new(Vec::<String>::new()));
    let vendor = {
        let sent = sent.clone();
        service_fn(move |request: Request<Body>| {
            let path = request.uri().path().to_string();
            sent.lock().unwrap().push(path.clone());
            async move {
                let window = |left: &'static str| {
                    [
                        ("x-ratelimit-limit", "10"),
                        ("x-ratelimit-remaining", left),
                        ("x-ratelimit-reset", "8"),
                    ]
                };
                let response = match path.as_str() {
                    "/probe" => reply(200, &window("2"), "{}"),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        reply(429, &[("retry-after", "60")], "{}")
                    }
                    "/spend" => reply(200, &window("0"), "{}"),
                    _ => reply(200, &[], "{}"),
                };
                Ok::<_, Infallible>(response)
            }
        })
    };
    let client = QuotaLayer::new()
        .max_wait(Duration::from_secs(10))
        .layer(vendor);
    send(&client, "http://api.example/probe").await;
    let slow = tokio::spawn(client.clone().oneshot(get("http://api.example/slow")));
    // The current-thread runtime runs the spawned call up to its sleep.
    tokio::task::yield_now().await;
    send(&client, "http://api.example/spend").await;
    let started = Instant::now();
    let held = client.clone().oneshot(get("http://api.example/held")).await;
    let held_for = started.elapsed();
    assert_eq!(slow.await.unwrap().unwrap().status(), 429);
    let sent = sent.lock().unwrap().clone();
    assert!(held_for <= Duration::from_secs(10), "held {held_for:?}");
    assert!(matches!(held, Err(Error::RateLimited(_))), "{held:?}");
    assert!(!sent.iter().any(|path| path == "/held"), "{sent:?}");
}

/// Quota module docs, "Scopes": partition values are hashed as soon as
/// the closure returns; a refusal shows neither it nor a query secret.
#[tokio::test(start_paused = true)]
async fn a_refusal_prints_no_partition_value_nor_query_secret() {
    let upstream = Scripted::default();
    let client = QuotaLayer::new()
        .partition(|r| {
            let key = r.headers().get("authorization")?;
            Some(key.as_bytes().to_vec())
        })
        .layer(answering::<Body>(
            &upstream,
            &[(429, &[("retry-after", "3600")])],
        ));
    let keyed = || {
        Request::get("http://api.example/x?api_key=QSECRET-123")
            .header("authorization", "Bearer sk-live-TOPSECRET")
            .body(Body::default())
            .unwrap()
    };
    let first = client.clone().oneshot(keyed()).await.unwrap();
    assert_eq!(first.status(), 429);
    let error = client.clone().oneshot(keyed()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let shown = format!("{error} {error:?} {:?}", std::error::Error::source(&error));
    for secret in ["TOPSECRET", "QSECRET"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

/// Quota module docs, "Counting"/"Refills": a window that grows after its
/// reset (limit 2 spent, then 100) holds until the reset only; the bigger
/// window's requests then go at once.
#[tokio::test(start_paused = true)]
async fn a_window_that_grows_after_its_reset_is_not_held_again() {
    let upstream = Scripted::default();
    let spent = [
        ("x-ratelimit-limit", "2"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "5"),
    ];
    let grown = |left: &'static str| {
        [
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", left),
            ("x-ratelimit-reset", "60"),
        ]
    };
    let (a, b, c, d) = (grown("99"), grown("98"), grown("97"), grown("96"));
    let client = QuotaLayer::new().layer(answering::<Body>(
        &upstream,
        &[(200, &spent), (200, &a), (200, &b), (200, &c), (200, &d)],
    ));
    send(&client, "http://api.example/a").await;
    let started = Instant::now();
    for _ in 0..4 {
        send(&client, "http://api.example/b").await;
    }
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

/// `RateLimited::retry_after` docs (when to come back): it counts down;
/// asked 10 s later, a 300 s cooldown frees up in 290 s; nothing is sent.
#[tokio::test(start_paused = true)]
async fn a_refusals_retry_after_counts_down() {
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(answering::<Body>(
        &upstream,
        &[(429, &[("retry-after", "300")])],
    ));
    send(&client, "http://api.example/a").await;
    let refused = client.clone().oneshot(get("http://api.example/b")).await;
    let Err(Error::RateLimited(first)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(first.retry_after(), Duration::from_secs(300));
    tokio::time::advance(Duration::from_secs(10)).await;
    let refused = client.clone().oneshot(get("http://api.example/b")).await;
    let Err(Error::RateLimited(later)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(later.retry_after(), Duration::from_secs(290));
    assert_eq!(upstream.count(), 1);
}

/// Quota module docs, "Refills": a 429's wait ended is confirmed by one
/// request before the others go; when that one draws another 429, the
/// others wait it out: two 429s in all, not one per caller.
#[tokio::test(start_paused = true)]
async fn a_cooldowns_end_is_confirmed_by_one_request() {
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(answering::<Body>(
        &upstream,
        &[
            (429, &[("retry-after", "2")]),
            (429, &[("retry-after", "1")]),
            (200, &[]),
        ],
    ));
    let first = send(&client, "http://api.example/first").await;
    assert_eq!(first.status(), 429);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(
                client
                    .clone()
                    .oneshot(get(&format!("http://api.example/{i}"))),
            )
        })
        .collect();
    let mut throttled = 0;
    for task in tasks {
        throttled += usize::from(task.await.unwrap().unwrap().status() == 429);
    }
    let at = arrivals(&upstream);
    assert_eq!(at.len(), 17, "each call sent once");
    assert_eq!(throttled, 1, "{at:?}");
    assert!(at[1] >= Duration::from_secs(2), "{at:?}");
    assert!(
        at[2..].iter().all(|t| *t >= at[1] + Duration::from_secs(1)),
        "{at:?}"
    );
}

/// Quota module docs, "Holding": a held caller that gives up (its future
/// dropped) is never sent; the others are sent once each, after the
/// cooldown.
#[tokio::test(start_paused = true)]
async fn held_callers_that_give_up_are_never_sent() {
    let upstream = Scripted::default();
    let client = QuotaLayer::new().layer(answering::<Body>(
        &upstream,
        &[(429, &[("retry-after", "2")]), (200, &[])],
    ));
    send(&client, "http://api.example/first").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let call = client
                .clone()
                .oneshot(get(&format!("http://api.example/{i}")));
            tokio::spawn(async move {
                if i % 2 == 0 {
                    tokio::time::timeout(Duration::from_millis(1500), call)
                        .await
                        .is_ok()
                } else {
                    call.await.unwrap().status() == 200
                }
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), i % 2 == 1, "caller {i}");
    }
    let mut sent = uris(&upstream)[1..].to_vec();
    sent.sort();
    let mut expected: Vec<String> = (1..16)
        .step_by(2)
        .map(|i| format!("http://api.example/{i}"))
        .collect();
    expected.sort();
    assert_eq!(sent, expected);
    assert!(arrivals(&upstream)[1..]
        .iter()
        .all(|t| *t >= Duration::from_secs(2)));
}

/// What a [`countdown`] vendor answered: when, and the status.
type Log = Arc<Mutex<Vec<(Duration, u16)>>>;

/// A vendor's window: `limit`, `left` of it at the start, ending at `end`
/// (then a full one of `length`); every answer announces it in
/// `X-RateLimit-*` (reset: delta seconds rounded up, or Unix seconds),
/// and a request into a spent window draws a 429. Answers go to `log`.
fn countdown(
    log: &Log,
    limit: u64,
    left: u64,
    (end, length): (Duration, Duration),
    epoch: bool,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    let started = Instant::now();
    let state = Arc::new(Mutex::new((end, left)));
    let log = log.clone();
    {
        service_fn(move |_request: Request<Body>| {
            let elapsed = started.elapsed();
            let mut state = state.lock().unwrap();
            while elapsed >= state.0 {
                *state = (state.0 + length, limit);
            }
            let spent = state.1 == 0;
            state.1 = state.1.saturating_sub(1);
            let left = state.0 - elapsed;
            let reset = if epoch {
                let at = SystemTime::now() + left;
                at.duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
            } else {
                (left.as_secs() + u64::from(left.subsec_nanos() > 0)).to_string()
            };
            let (limit, remaining) = (limit.to_string(), state.1.to_string());
            let status = if spent { 429 } else { 200 };
            log.lock().unwrap().push((elapsed, status));
            let pairs = [
                ("x-ratelimit-limit", limit.as_str()),
                ("x-ratelimit-remaining", remaining.as_str()),
                ("x-ratelimit-reset", reset.as_str()),
            ];
            let response = reply(status, &pairs, "{}");
            async move { Ok::<_, Infallible>(response) }
        })
    }
}

/// Quota module docs, "Pacing": under a tenth of the limit left, the rest
/// is spread to end before the reset; at zero the next request waits for
/// the reset; no 429.
#[tokio::test(start_paused = true)]
async fn the_last_tenth_is_paced_to_end_before_the_reset() {
    let log = Log::default();
    let fifty = Duration::from_secs(50);
    let vendor = countdown(&log, 100, 6, (fifty, fifty), false);
    let client = QuotaLayer::new().layer(vendor);
    send(&client, "http://api.example/learn").await;
    let started = Instant::now();
    let mut at = Vec::new();
    for i in 0..6 {
        let response = send(&client, &format!("http://api.example/{i}")).await;
        assert_eq!(response.status(), 200, "{:?}", log.lock().unwrap());
        at.push(started.elapsed());
    }
    assert!(
        at[0] < Duration::from_secs(20),
        "spread, not all held: {at:?}"
    );
    assert!(
        at[4] < Duration::from_secs(49),
        "ends before the reset: {at:?}"
    );
    assert!(
        at[5] >= Duration::from_secs(50),
        "the next waits for the reset: {at:?}"
    );
}

/// Quota module docs, "Pacing": a window whose reset is further than
/// `max_wait` (GitHub's hour) is not paced: its last requests go as they
/// come, the next fails fast with when to come back.
#[tokio::test(start_paused = true)]
async fn a_window_past_max_wait_is_not_paced_and_then_fails_fast() {
    let hour = Duration::from_secs(3600);
    let log = Log::default();
    let vendor = countdown(&log, 5000, 4, (hour, hour), true);
    let client = QuotaLayer::new().layer(vendor);
    send(&client, "http://api.example/learn").await;
    let started = Instant::now();
    for i in 0..3 {
        send(&client, &format!("http://api.example/{i}")).await;
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
    let refused = client.clone().oneshot(get("http://api.example/late")).await;
    let Err(Error::RateLimited(refused)) = refused else {
        panic!("{refused:?} {:?}", log.lock().unwrap())
    };
    assert!(
        refused.retry_after() > Duration::from_secs(3500),
        "{:?}",
        refused.retry_after()
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(log.lock().unwrap().len(), 4, "the refused one is not sent");
}

/// Quota module docs, "Cold start" and "Failing fast": the hold while a
/// scope's probe is out (2 s at most) never holds a request past a
/// shorter `max_wait`.
#[tokio::test(start_paused = true)]
async fn the_cold_start_hold_respects_a_short_max_wait() {
    let vendor = service_fn(move |request: Request<Body>| {
        let slow = request.uri().path() == "/probe";
        async move {
            if slow {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok::<_, Infallible>(reply(200, &[], "{}"))
        }
    });
    let client = QuotaLayer::new()
        .max_wait(Duration::from_millis(300))
        .layer(vendor);
    let probe = tokio::spawn(client.clone().oneshot(get("http://api.example/probe")));
    tokio::task::yield_now().await;
    let started = Instant::now();
    let _ = client
        .clone()
        .oneshot(get("http://api.example/second"))
        .await;
    assert!(
        started.elapsed() <= Duration::from_millis(300),
        "held {:?}",
        started.elapsed()
    );
    probe.await.unwrap().unwrap();
}

/// Quota module docs, "Holding, and the inner service's readiness": a held
/// request never sits on a concurrency permit; a caller that keeps its
/// service sends to another scope through `ConcurrencyLimit(1)` at once.
#[tokio::test(start_paused = true)]
async fn a_held_request_holds_no_concurrency_permit() {
    let upstream = Scripted::default();
    let limited = tower::limit::ConcurrencyLimitLayer::new(1)
        .layer(answering::<Body>(&upstream, &[(200, SPENT_5), (200, &[])]));
    let client = QuotaLayer::new().layer(limited);
    send(&client, "http://a.example/learn").await;
    let mut caller = client.clone();
    let held = {
        let ready = caller.ready().await.unwrap();
        tokio::spawn(tower::Service::call(ready, get("http://a.example/held")))
    };
    tokio::task::yield_now().await;
    let started = Instant::now();
    let other = caller.ready().await.unwrap();
    tower::Service::call(other, get("http://b.example/x"))
        .await
        .unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "b.example waited for a.example's hold"
    );
    held.await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

/// Quota module docs, "Vendors that announce nothing" and "Learning" (over
/// a parse layer, from the typed `ApiError`): through `ApiErrorsLayer`, a
/// vendor answering only 429 + `Retry-After` (300 per 10 s) is learned as
/// by the layers alone: after the two windows learning takes, few 429s,
/// most of each window used, and no error surfaces.
#[tokio::test(start_paused = true)]
async fn the_stack_learns_a_silent_vendor() {
    const LIMIT: u64 = 300;
    const WINDOW: Duration = Duration::from_secs(10);
    const WINDOWS: usize = 12;
    let started = Instant::now();
    let tally: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));
    let vendor = {
        let tally = tally.clone();
        service_fn(move |_request: Request<ReplayBody<Body>>| {
            let elapsed = started.elapsed();
            let index = (elapsed.as_nanos() / WINDOW.as_nanos()) as usize;
            let response = {
                let mut tally = tally.lock().unwrap();
                if tally.len() <= index {
                    tally.resize(index + 1, (0, 0));
                }
                if tally[index].0 < LIMIT {
                    tally[index].0 += 1;
                    reply(200, &[], "{}")
                } else {
                    tally[index].1 += 1;
                    let left = WINDOW * (index as u32 + 1) - elapsed;
                    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    let secs = secs.to_string();
                    reply(
                        429,
                        &[("retry-after", &secs)],
                        r#"{"error":"rate limited"}"#,
                    )
                }
            };
            // Latencies of 1 to 9 ms, varied.
            let n = sent.fetch_add(1, SeqCst);
            let latency = Duration::from_millis(1 + n * 7_919 % 9);
            async move {
                tokio::time::sleep(latency).await;
                Ok::<_, Infallible>(response)
            }
        })
    };
    let client = ApiErrorsLayer::new().quota(QuotaLayer::new()).layer(vendor);
    let until = started + WINDOW * WINDOWS as u32;
    let url = "https://api.example.com/v1/items";
    let errors = full_stack::callers_until(&client, 32, url, until).await;
    let tally = tally.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} surfaced, e.g. {:?}",
        errors.len(),
        errors.first()
    );
    let learned = &tally[2..WINDOWS];
    let throttled: u64 = learned.iter().map(|(_, t)| t).sum();
    let used: u64 = learned.iter().map(|(ok, _)| ok).sum();
    assert!(throttled * 4 <= learned.len() as u64, "{tally:?}");
    assert!(used * 100 >= LIMIT * learned.len() as u64 * 90, "{tally:?}");
}

// ---------------------------------------------------------------------------
// The auth layer's sends through the quota layer, in the full stack

/// Curated from a probe of the layers together (branch probe-mix): the
/// full stack (`ApiErrorsLayer` with retry, breaker, auth, quota and a
/// hedge layer) over hyper-util against a scripted vendor on loopback. The
/// auth layer sits above the quota layer, so its re-send after a 401 is a
/// send the quota paces, holds and refuses like any other: under a
/// window, after a 401 that announced the window spent, behind a cold
/// start's probe, and past `max_wait`.
mod in_the_full_stack {
    use crate::full_stack::{
        accepts_tok2, after, at_once, exact, get, learned_hedge, now, outcome, slow_token, source,
        stack, Vendor, MS, S,
    };
    use crate::idp;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::time::Instant;
    use tower_api_errors::auth::{AuthReport, Renewal};
    use tower_api_errors::Error;

    /// Auth docs (src/auth/mod.rs, "Above the quota layer": "the re-send is a
    /// physical send like any other, so it passes the quota gate below too")
    /// and quota docs ("Counting"): a vendor that allows 3 requests per 2 s
    /// window and counts every request, 401s included, announcing its window
    /// on every answer. Six callers at once, all with an expired token: one
    /// refresh for all, every call a success, and not one request past the
    /// vendor's limit (no 429): the re-sends were paced like any send.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_under_a_quota_window_sends_nothing_past_the_limit() {
        /// The vendor's current window (its index, from the start) and the
        /// requests it let through in it; and the requests it refused.
        #[derive(Default)]
        struct Window {
            index: u64,
            used: u64,
            refused: usize,
        }
        let window = Arc::new(Mutex::new(Window::default()));
        let seen = window.clone();
        let origin = Instant::now();
        let vendor = Vendor::start(move |_, hit| {
            let elapsed = origin.elapsed().as_millis() as u64;
            let index = elapsed / 2000;
            let reset = ((index + 1) * 2000 - elapsed).div_ceil(1000).to_string();
            let mut window = seen.lock().unwrap();
            if window.index != index {
                window.index = index;
                window.used = 0;
            }
            if window.used == 3 {
                window.refused += 1;
                let spent = [
                    ("x-ratelimit-limit", "3"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", reset.as_str()),
                    ("retry-after", reset.as_str()),
                ];
                return now(429, &spent);
            }
            window.used += 1;
            let left = (3 - window.used).to_string();
            let headers = [
                ("x-ratelimit-limit", "3"),
                ("x-ratelimit-remaining", left.as_str()),
                ("x-ratelimit-reset", reset.as_str()),
            ];
            now(if accepts_tok2(hit) { 200 } else { 401 }, &headers)
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let client = stack(exact(), &idp, learned_hedge());
        let results = at_once(&client, &vendor.url("/v1/items"), 6).await;
        for (at, result) in &results {
            assert!(matches!(result, Ok(200)), "at {at:?}: {result:?}");
        }
        assert_eq!(idp.refreshes(), 1, "one refresh for the six");
        let refused = window.lock().unwrap().refused;
        assert_eq!(
            refused,
            0,
            "requests past the vendor's limit: {:?}",
            vendor.hits()
        );
    }

    /// Auth docs ("Above the quota layer") and quota docs ("Any other answer
    /// saying 0 left holds until its reset"): the 401 itself announces the
    /// window spent for 3 s; the re-send with the new token is a send like
    /// any other and waits for the reset, and the call still succeeds, with
    /// one refresh.
    #[tokio::test(start_paused = true)]
    async fn an_auth_resend_waits_out_the_window_its_401_announced_spent() {
        let vendor = Vendor::start(|_, hit| {
            if accepts_tok2(hit) {
                now(
                    200,
                    &[
                        ("x-ratelimit-limit", "10"),
                        ("x-ratelimit-remaining", "9"),
                        ("x-ratelimit-reset", "60"),
                    ],
                )
            } else {
                now(
                    401,
                    &[
                        ("x-ratelimit-limit", "10"),
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "3"),
                    ],
                )
            }
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let client = stack(exact(), &idp, learned_hedge());
        let result = get(&client, &vendor.url("/v1/me")).await;
        let response = result
            .as_ref()
            .unwrap_or_else(|_| panic!("{}", outcome(&result)));
        let report = response.extensions().get::<AuthReport>().copied().unwrap();
        assert_eq!(
            (report.sends(), report.renewal()),
            (2, Some(Renewal::Refreshed))
        );
        let hits = vendor.hits();
        assert_eq!(hits.len(), 2);
        assert!(
            hits[1].at >= S(3),
            "the re-send went before the reset: {:?}",
            hits[1].at
        );
        assert!(
            hits[1].at < S(4),
            "the re-send was held too long: {:?}",
            hits[1].at
        );
        assert_eq!(idp.refreshes(), 1);
    }

    /// Auth docs ("the refresh runs in a task of its own ... the requests
    /// still waiting" share it) and quota docs ("Cold start": the scope's
    /// other requests hold until the probe's answer): five callers at once on
    /// a cold scope; the probe's 401 teaches nothing but renews the
    /// credential; the callers held behind it went (or go) with the old one
    /// and are re-sent with the new one, with no second refresh.
    #[tokio::test(start_paused = true)]
    async fn a_cold_start_probe_rejected_401_costs_one_refresh_for_everyone() {
        let vendor =
            Vendor::start(|_, hit| after(20, if accepts_tok2(hit) { 200 } else { 401 }, &[])).await;
        let idp = source(|_| slow_token(MS(100), "tok-2"));
        let client = stack(exact(), &idp, learned_hedge());
        let results = at_once(&client, &vendor.url("/v1/items"), 5).await;
        for (at, result) in &results {
            assert!(matches!(result, Ok(200)), "at {at:?}: {result:?}");
        }
        assert_eq!(idp.refreshes(), 1);
        assert_eq!(vendor.with_token("tok-2"), 5, "{:?}", vendor.hits());
    }

    /// Auth docs (the re-send "passes the quota gate below too") and quota
    /// docs ("A request that would be held longer than `max_wait` ... fails
    /// at once, without being sent"): the 401 says the window is spent for an
    /// hour; the re-send with the new token is refused by the quota at once,
    /// typed (`RateLimited`, an hour), not held, not sent; one refresh.
    #[tokio::test(start_paused = true)]
    async fn an_auth_resend_refused_by_the_quota_ends_at_once_typed() {
        let vendor = Vendor::start(|_, _| {
            now(
                401,
                &[
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "3600"),
                ],
            )
        })
        .await;
        let idp = source(|_| idp::ok("tok-2"));
        let client = stack(exact(), &idp, learned_hedge());
        let started = Instant::now();
        let result = get(&client, &vendor.url("/v1/me")).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "{}", outcome(&result));
        let refused = result.as_ref().err().and_then(Error::rate_limited);
        assert_eq!(
            refused.map(|r| r.retry_after()),
            Some(S(3600)),
            "{}",
            outcome(&result)
        );
        assert_eq!((vendor.count(), idp.refreshes()), (1, 1));
    }
}
