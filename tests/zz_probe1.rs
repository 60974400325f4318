//! Probe 1: identity providers that fail, seen by a demanding user of the
//! auth layer (token endpoints that hang, answer late, say when to come
//! back; storms; challenges; credentials in outputs).

#[path = "support/scripted.rs"]
mod scripted;

#[cfg(feature = "tracing")]
#[path = "support/captured_logs.rs"]
mod captured_logs;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use scripted::{get, reply, within, Scripted};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::retry::{ReplayBody, RetryLayer};
use tower_api_errors::{BoxError, Error, ErrorBodyParseLayer};

fn token(secret: &str) -> Credential {
    Credential::new(secret).unwrap()
}

/// `current` gives "t1"; refresh n (from 1) answers `refresh(n)` after
/// `delay`. Counts its calls and records when each refresh started.
struct Idp {
    first: &'static str,
    refresh: Box<dyn Fn(u32) -> Result<Credential, BoxError> + Send + Sync>,
    delay: Duration,
    currents: AtomicU32,
    refreshes: AtomicU32,
    calls: Mutex<Vec<Instant>>,
}

impl Idp {
    fn new(
        refresh: impl Fn(u32) -> Result<Credential, BoxError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Idp::delayed(Duration::ZERO, refresh)
    }

    fn delayed(
        delay: Duration,
        refresh: impl Fn(u32) -> Result<Credential, BoxError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Idp {
            first: "t1",
            refresh: Box::new(refresh),
            delay,
            currents: AtomicU32::new(0),
            refreshes: AtomicU32::new(0),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// The same, whose first credential is `first`.
    fn first(self: Arc<Self>, first: &'static str) -> Arc<Self> {
        let mut idp = Arc::into_inner(self).unwrap();
        idp.first = first;
        Arc::new(idp)
    }

    fn refreshes(&self) -> u32 {
        self.refreshes.load(SeqCst)
    }
}

impl TokenSource for Idp {
    fn current(&self) -> TokenFuture<'_> {
        self.currents.fetch_add(1, SeqCst);
        Box::pin(async { Ok(token(self.first)) })
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let n = self.refreshes.fetch_add(1, SeqCst) + 1;
        self.calls.lock().unwrap().push(Instant::now());
        Box::pin(async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            (self.refresh)(n)
        })
    }
}

fn authorization<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

use tower_api_errors::stack::ApiErrorsLayer as ApiErrorsLayerAlias;

// ---------------------------------------------------------------------
// Known issue, measured: a credential that expires during a quota hold
// ---------------------------------------------------------------------

/// Known issue (not a new find): the auth layer sits above the quota layer,
/// so a request takes its credential before the quota holds it. A window
/// spent until 115 s holds 5 requests made at 1 s; their credential (valid
/// 100 s, refreshed ahead at 80 s only when a request passes the auth
/// layer after that point) expires during the hold. Measured: what they
/// are sent with, how many 401s and refreshes it costs, how they end.
#[test]
fn known_issue_measured_a_credential_expiring_during_a_quota_hold() {
    within(
        Duration::from_secs(60),
        || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap()
        },
        || async {
            use tower_api_errors::QuotaLayer;
            let origin = Instant::now();
            let lifetime = Duration::from_secs(100);
            let source = Idp::new(move |n| Ok(token(&format!("t{}", n + 1)).expires_in(lifetime)));
            // t1's expiry: on the source's first call.
            struct Timed(Arc<Idp>);
            impl TokenSource for Timed {
                fn current(&self) -> TokenFuture<'_> {
                    Box::pin(async { Ok(token("t1").expires_in(Duration::from_secs(100))) })
                }
                fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
                    self.0.refresh(rejected)
                }
            }
            let log: Arc<Mutex<Vec<(u64, String, u16)>>> = Arc::default();
            let seen = log.clone();
            let api = service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
                let at = origin.elapsed().as_secs();
                let sent = authorization(&request);
                // t1 lives until 100 s, t2 from its issue on.
                let valid = match sent.as_str() {
                    "Bearer t1" => at < 100,
                    "Bearer t2" => true,
                    _ => false,
                };
                let (status, remaining) = if !valid {
                    (401, "0")
                } else if at < 100 {
                    (200, "0")
                } else {
                    (200, "4")
                };
                let reset = 115u64.saturating_sub(at).max(1).to_string();
                seen.lock().unwrap().push((at, sent, status));
                let headers = [
                    ("x-ratelimit-limit", "5"),
                    ("x-ratelimit-remaining", remaining),
                    ("x-ratelimit-reset", reset.as_str()),
                ];
                let response = reply(status, &headers, "{}");
                async move { Ok::<_, Infallible>(response) }
            });
            let client = ApiErrorsLayerAlias::new()
                .auth(AuthLayer::new(Timed(source.clone())))
                .quota(QuotaLayer::new())
                .layer(api);
            client
                .clone()
                .oneshot(get("http://api.test/0"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut calls = tokio::task::JoinSet::new();
            for i in 1..=5 {
                let client = client.clone();
                calls.spawn(async move {
                    let outcome = client.oneshot(get(&format!("http://api.test/{i}"))).await;
                    (
                        origin.elapsed().as_secs(),
                        outcome
                            .map(|r| r.status().as_u16())
                            .map_err(|e| e.to_string()),
                    )
                });
            }
            let mut ends = Vec::new();
            while let Some(end) = calls.join_next().await {
                ends.push(end.unwrap());
            }
            let log = log.lock().unwrap().clone();
            let rejected = log.iter().filter(|(_, _, status)| *status == 401).count();
            eprintln!("sends (s, credential, status): {log:?}");
            eprintln!("ends (s, outcome): {ends:?}");
            eprintln!("401s: {rejected}, refreshes: {}", source.refreshes());
            assert_eq!(ends.len(), 5, "each held request ends once");
            assert!(source.refreshes() <= 1, "one refresh at most");
        },
    );
}

// ---------------------------------------------------------------------
// A refresh spawned on a runtime that is no longer driven
// ---------------------------------------------------------------------

/// A client shared by two runtimes (a sync caller's per-thread
/// current-thread runtime, driven only inside its `block_on`): the refresh
/// is spawned, and its `refresh_timeout` timed, on the runtime of the
/// request that started it. That caller gives up and its runtime goes
/// idle (alive, not driven); a request on another runtime rejected with
/// the same credential joins that refresh and waits for it. The module
/// docs: "each call to the token source is bounded (10 s;
/// refresh_timeout): past it, the call fails like any failed refresh";
/// the house rule: never a hang.
// FAILS: the joined refresh (and its timeout) live on the idle runtime: the other runtime's request waits for ever (5 s here, refresh_timeout 1 s)
#[test]
fn a_refresh_left_on_an_idle_runtime_does_not_hold_another_runtimes_requests() {
    let idp = Idp::delayed(Duration::from_millis(200), |_| Ok(token("t2")));
    let api = service_fn(|request: Request<Full<Bytes>>| async move {
        let status = if authorization(&request) == "Bearer t2" {
            200
        } else {
            401
        };
        Ok::<_, Infallible>(reply(status, &[], "{}"))
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::from_arc(idp.clone()).refresh_timeout(Duration::from_secs(1)))
        .service(api);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    // Runtime A: t1 loaded, rejected, the refresh started; the caller
    // gives up after 50 ms. A stays alive, idle.
    let idle = runtime();
    let first = client.clone();
    idle.block_on(async move {
        let gave_up =
            tokio::time::timeout(Duration::from_millis(50), first.oneshot(get("/a"))).await;
        assert!(gave_up.is_err(), "the refresh takes 200 ms");
    });
    assert_eq!(idp.refreshes(), 1);
    within(Duration::from_secs(20), runtime, move || async move {
        let outcome = tokio::time::timeout(Duration::from_secs(5), client.oneshot(get("/b"))).await;
        let outcome = outcome.map(|result| result.map(|r| r.status()).map_err(|e| e.to_string()));
        assert!(
            outcome.is_ok(),
            "a request on runtime B still waits after 5 s for a refresh of 200 ms (refresh_timeout 1 s) left on idle runtime A"
        );
    });
    drop(idle);
}
