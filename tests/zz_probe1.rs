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
