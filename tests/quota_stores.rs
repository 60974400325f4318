//! One table of cases, run against every store: `MemoryStore`, and
//! `RedisStore` on a real `redis-server` (started here, feature `redis`).
//! Both call the same window algorithm; these rows hold them to the same
//! decisions through the public `QuotaStore` trait.
//!
//! The rows need no time to pass (Redis's clock cannot be paused): a wait
//! is checked to be the one the row taught, less the little time the row
//! itself took (and within [`CLOCKS`] of it, for the ledger's clock).

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;
use tower_api_errors::quota::{
    Grant, MemoryStore, Observation, Permit, QuotaStore, ScopeKey, WindowReport,
};

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
