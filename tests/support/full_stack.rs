//! The crate's recommended full stack (`ApiErrorsLayer` with retry,
//! breaker, auth, quota, parse and a hedge layer) over hyper-util, and a
//! scripted vendor on loopback that records what reached it: for the
//! suites that pin what happens when the layers meet (curated from the
//! probe branch `probe-mix`). A suite that declares this module declares
//! `support` and `idp` too.
#![allow(dead_code)]

use crate::idp::{self, Idp};
use crate::support::{response, serve, BoxError, ServerBody};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_api_errors::auth::{AuthFailure, AuthLayer, Credential, TokenFuture};
use tower_api_errors::breaker::CircuitBreakerLayer;
use tower_api_errors::classify::DefaultClassifier;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody};
use tower_api_errors::stack::ApiErrors;
use tower_api_errors::{ApiErrorsLayer, Error, QuotaLayer, RetryPolicy};

pub const MS: fn(u64) -> Duration = Duration::from_millis;
pub const S: fn(u64) -> Duration = Duration::from_secs;

pub type Body = Full<Bytes>;
/// The client's request body under the hedge and retry layers.
pub type Twice<B = Body> = ReplayBody<ReplayBody<B>>;
/// The full stack's layer.
pub type Layers =
    ApiErrorsLayer<AuthLayer, QuotaLayer, DefaultClassifier, CircuitBreakerLayer, HedgeLayer>;
/// The full stack over hyper-util.
pub type HyperStack<B = Body> = ApiErrors<Client<HttpConnector, Twice<B>>, Layers>;

// ------------------------------------------------------------------ vendor

/// Server-side delay meaning "never answer".
pub const NEVER: u64 = u64::MAX;
/// A path every vendor answers 200 at once, unrecorded: a first call
/// that takes the quota layer's cold start (its first request probes the
/// scope and holds the others, a hedge included) out of a scenario.
pub const WARM: &str = "/warm";

/// One request as the vendor saw it.
#[derive(Clone, Debug)]
pub struct Hit {
    /// When it arrived (its body read), from the server's start.
    pub at: Duration,
    pub path: String,
    /// Its `authorization` header ("" when none).
    pub auth: String,
    pub body: Bytes,
}

/// A vendor on loopback: answers the `n`-th request (from 0) with
/// `answer(n, hit)`: after how many ms (server side, on tokio's clock),
/// and what.
#[derive(Clone)]
pub struct Vendor {
    pub base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Vendor {
    pub async fn start<F>(answer: F) -> Vendor
    where
        F: Fn(usize, &Hit) -> (u64, Response<ServerBody>) + Send + Sync + 'static,
    {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let log = hits.clone();
        let answer = Arc::new(answer);
        let origin = Instant::now();
        let addr = serve(move |request: Request<Incoming>| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if parts.uri.path() == WARM {
                    return response(200, &[], "{}");
                }
                let auth = parts.headers.get("authorization");
                let hit = Hit {
                    at: origin.elapsed(),
                    path: parts.uri.path().to_owned(),
                    auth: auth.and_then(|v| v.to_str().ok()).unwrap_or("").to_owned(),
                    body,
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(hit.clone());
                    log.len() - 1
                };
                let (delay, answer) = answer(n, &hit);
                if delay == NEVER {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(MS(delay)).await;
                answer
            }
        })
        .await;
        Vendor {
            base: format!("http://{addr}"),
            hits,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// Requests that carried `Bearer {token}`.
    pub fn with_token(&self, token: &str) -> usize {
        let bearer = format!("Bearer {token}");
        self.hits().iter().filter(|hit| hit.auth == bearer).count()
    }
}

/// An answer at once.
pub fn now(status: u16, headers: &[(&str, &str)]) -> (u64, Response<ServerBody>) {
    (0, response(status, headers, body_for(status)))
}

/// An answer after `ms`.
pub fn after(ms: u64, status: u16, headers: &[(&str, &str)]) -> (u64, Response<ServerBody>) {
    (ms, response(status, headers, body_for(status)))
}

fn body_for(status: u16) -> &'static str {
    match status {
        200 => "{}",
        401 => r#"{"error": {"code": "invalid_token", "message": "token expired"}}"#,
        429 => r#"{"error": {"code": "rate_limited", "message": "slow down"}}"#,
        _ => r#"{"error": {"code": "unavailable", "message": "try later"}}"#,
    }
}

/// `tok-2` is good; anything else is rejected.
pub fn accepts_tok2(hit: &Hit) -> bool {
    hit.auth == "Bearer tok-2"
}

// ------------------------------------------------------------------ stack

/// The default policy with exact backoff (100 ms doubling to 1 s) and no
/// budget: waits the tests can reckon.
pub fn exact() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(Backoff::exponential(MS(100), 2.0, S(1)).jitter(Jitter::None))
        .no_budget()
}

/// A breaker that opens after `calls` calls, half of them failed.
pub fn breaker(calls: u32) -> CircuitBreakerLayer {
    CircuitBreakerLayer::new()
        .minimum_calls(calls)
        .failure_rate(0.5)
}

/// The README's learned hedge: no hedge before 20 answers, so none in a
/// short scenario.
pub fn learned_hedge() -> HedgeLayer {
    HedgeLayer::percentile(0.95)
}

/// A hedge after `ms`, without a budget.
pub fn hedge_after(ms: u64) -> HedgeLayer {
    HedgeLayer::fixed(MS(ms)).no_budget()
}

/// The full stack's layer: `[Hedge] -> Retry -> Breaker -> Auth -> Quota
/// -> ErrorBodyParse`.
pub fn layers(
    policy: RetryPolicy,
    auth: AuthLayer,
    breaker: CircuitBreakerLayer,
    hedge: HedgeLayer,
) -> Layers {
    ApiErrorsLayer::new()
        .retry(policy)
        .auth(auth)
        .quota(QuotaLayer::new())
        .breaker(breaker)
        .hedge(hedge)
}

/// The full stack over a hyper-util client.
pub fn hyper_stack<B>(layers: Layers) -> HyperStack<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    layers.layer(crate::support::client::<Twice<B>>())
}

/// The full stack most scenarios build: `policy`, credentials from `idp`,
/// a breaker that opens after 10 calls, and `hedge`.
pub fn stack<B>(policy: RetryPolicy, idp: &Arc<Idp>, hedge: HedgeLayer) -> HyperStack<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    hyper_stack(layers(
        policy,
        AuthLayer::new(idp.clone()),
        breaker(10),
        hedge,
    ))
}

/// The hedged full stack (the [`exact`] policy, a token source that
/// renews to `tok-2`, a breaker after 10 calls, a hedge after `hedge_ms`),
/// [`warm`]ed against `vendor`.
pub async fn warm_hedged_stack(vendor: &Vendor, hedge_ms: u64) -> HyperStack {
    let client = stack(
        exact(),
        &source(|_| idp::ok("tok-2")),
        hedge_after(hedge_ms),
    );
    warm(&client, vendor).await;
    client
}

// ------------------------------------------------------------------ calls

/// A GET of `url` through a clone of `client`.
pub async fn get<S>(client: &S, url: &str) -> Result<S::Response, Error>
where
    S: Service<Request<Body>, Error = Error> + Clone,
{
    client
        .clone()
        .oneshot(Request::get(url).body(Body::new(Bytes::new())).unwrap())
        .await
}

/// A first call through `client`, so that the scope is known to the
/// quota layer (nothing announced: open) before the scenario.
pub async fn warm<S>(client: &S, vendor: &Vendor)
where
    S: Service<Request<Body>, Error = Error> + Clone,
{
    let warmed = get(client, &vendor.url(WARM)).await;
    assert!(warmed.is_ok(), "warm-up failed");
}

/// `callers` callers sending GET `url` through `client`, each as soon as
/// its last call ended, until `until`: what did not end in a 200 (its
/// status, or the error; a call still waiting at `until` is cut, not
/// counted).
pub async fn callers_until<S, B>(
    client: &S,
    callers: usize,
    url: &str,
    until: Instant,
) -> Vec<String>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Error>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    let errors = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (client, errors, url) = (client.clone(), errors.clone(), url.to_owned());
            tokio::spawn(async move {
                while Instant::now() < until {
                    match tokio::time::timeout_at(until, get(&client, &url)).await {
                        Ok(Ok(r)) if r.status() == 200 => {}
                        Ok(Ok(r)) => errors.lock().unwrap().push(r.status().to_string()),
                        Ok(Err(e)) => errors.lock().unwrap().push(e.to_string()),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    errors
}

/// What a call came to, for assertion messages.
pub fn outcome<R>(result: &Result<Response<R>, Error>) -> String {
    match result {
        Ok(response) => format!("ok {}", response.status()),
        Err(error) => format!(
            "err {error} (kind {:?}, {:?})",
            error.kind(),
            error.retries()
        ),
    }
}

/// `n` GETs of `url` at once, each spawned: when each ended (from the
/// start) and how.
pub async fn at_once(
    client: &HyperStack,
    url: &str,
    n: usize,
) -> Vec<(Duration, Result<u16, Error>)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let result = get(&client, &url).await.map(|r| r.status().as_u16());
            (started.elapsed(), result)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

// ------------------------------------------------------------------ identity

/// A token source: `tok-1` first, then each refresh as `refresh(n)` says
/// (`n`: the call's number, from 1, loads and refreshes alike).
pub fn source(refresh: impl Fn(u32) -> TokenFuture<'static> + Send + Sync + 'static) -> Arc<Idp> {
    Idp::new(move |n, rejected| match rejected {
        None => idp::ok("tok-1"),
        Some(_) => refresh(n),
    })
}

/// A token after `delay` on tokio's clock.
pub fn slow_token(delay: Duration, secret: &'static str) -> TokenFuture<'static> {
    Box::pin(async move {
        tokio::time::sleep(delay).await;
        Ok(Credential::new(secret)?)
    })
}

/// The `Unauthorized` reason of `result`, or a panic naming what came.
pub fn auth_failure<R>(result: &Result<Response<R>, Error>) -> AuthFailure {
    match result {
        Err(Error::Unauthorized(unauthorized)) => unauthorized.reason(),
        other => panic!("not an Unauthorized: {}", outcome(other)),
    }
}
