//! Promises of the auth layer when the identity provider (the token
//! source) fails, hangs or misbehaves, and of its 401/403 handling: over
//! real hyper servers on loopback, alone and inside `ApiErrorsLayer`, and
//! over in-memory upstreams under Tokio's paused clock where time is the
//! subject. (Brought in from a probe of the crate's promises.)
//!
//! Each test's doc quotes the promise it checks. Where they live:
//! `TokenSource` in src/auth/source.rs; the `auth` module docs (the
//! pitfall table, "Secrets", "Cost") in src/auth/mod.rs; `AuthLayer`'s
//! setters in src/auth/layer.rs; `rejects_credential` in
//! src/auth/challenge.rs; the response future in src/auth/future.rs;
//! `Unauthorized`, `AuthFailure`, `Renewal` and `AuthReport` in
//! src/error/auth.rs; `RetryPolicy::deadline` in src/retry/policy.rs.
#![allow(clippy::type_complexity)]

#[path = "support/idp.rs"]
mod idp;
#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use idp::{err, hang, numbered, ok, Idp};
use scripted::{get, reply};
use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{response, serve, BoxError, ServerBody};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{
    AuthFailure, AuthLayer, AuthReport, Credential, Renewal, TokenFuture, TokenSource,
};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::stack::ApiErrorsLayer;
use tower_api_errors::Error;

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------- IdP

// ---------------------------------------------------------------- APIs

/// What the API server saw: each request's credential header and body,
/// and their count to wait on.
#[derive(Clone)]
struct Seen {
    log: Arc<Mutex<Vec<(String, Bytes)>>>,
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Seen {
    fn new() -> Self {
        Seen {
            log: Arc::default(),
            count: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
    fn push(&self, what: String, body: Bytes) {
        let mut log = self.log.lock().unwrap();
        log.push((what, body));
        self.count.send_replace(log.len());
    }
    fn all(&self) -> Vec<(String, Bytes)> {
        self.log.lock().unwrap().clone()
    }
    fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
    /// Until the server has seen `n` requests.
    async fn reached(&self, n: usize) {
        let mut count = self.count.subscribe();
        count.wait_for(|seen| *seen >= n).await.unwrap();
    }
}

/// An answer to a refused credential (given without its scheme).
type Reject = Arc<dyn Fn(&str) -> Response<Full<Bytes>> + Send + Sync>;

fn to_server(answer: Response<Full<Bytes>>) -> Response<ServerBody> {
    answer.map(|body| body.map_err(|never| match never {}).boxed())
}

/// A real hyper API: 200 (echoing the body) for a credential in `valid`
/// (read from `header`), else `reject(credential)`.
async fn api(
    valid: Arc<Mutex<HashSet<String>>>,
    header: &'static str,
    reject: Reject,
) -> (SocketAddr, Seen) {
    let seen = Seen::new();
    let log = seen.clone();
    let addr = serve(move |req: Request<hyper::body::Incoming>| {
        let (valid, reject, log) = (valid.clone(), reject.clone(), log.clone());
        async move {
            let auth = req
                .headers()
                .get(header)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let body = support::body_bytes(req.into_body()).await;
            log.push(auth.clone(), body.clone());
            let secret = auth.strip_prefix("Bearer ").unwrap_or(&auth).to_owned();
            if valid.lock().unwrap().contains(&secret) {
                response(200, &[], body)
            } else {
                to_server(reject(&secret))
            }
        }
    })
    .await;
    (addr, seen)
}

fn valid(tokens: &[&str]) -> Arc<Mutex<HashSet<String>>> {
    Arc::new(Mutex::new(tokens.iter().map(|t| t.to_string()).collect()))
}

fn plain_401() -> Reject {
    Arc::new(|_| reply(401, &[], ""))
}

/// An in-memory API: `answer(credential)` (its `Bearer ` cut off).
fn upstream<B: Send + 'static>(
    answer: impl Fn(&str) -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
) -> impl Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(move |req: Request<B>| {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let answer = answer(auth.strip_prefix("Bearer ").unwrap_or(&auth));
        async move { Ok::<_, Infallible>(answer) }
    })
}

fn post(addr: SocketAddr, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/v1/items"))
        .body(Full::new(body.into()))
        .unwrap()
}

type Client =
    tower::util::BoxCloneService<Request<Full<Bytes>>, Response<hyper::body::Incoming>, Error>;

/// The auth layer alone over a hyper-util client, or (`stack`) inside
/// `ApiErrorsLayer` over one.
fn client(stack: bool, auth: AuthLayer) -> Client {
    if stack {
        tower::util::BoxCloneService::new(
            ApiErrorsLayer::new()
                .retry(support::quick_exact().deadline(Duration::from_secs(30)))
                .auth(auth)
                .client(support::client::<ReplayBody<Full<Bytes>>>()),
        )
    } else {
        tower::util::BoxCloneService::new(
            ServiceBuilder::new()
                .layer(auth)
                .service(support::client::<Full<Bytes>>()),
        )
    }
}

/// Everything an error prints: `Display`, `Debug`, pretty `Debug`, and
/// each source's.
fn text(error: &Error) -> String {
    format!(
        "{error} || {error:?} || {error:#?} || {}",
        support::error_text(error)
    )
}

/// Runs every future in a task of its own; their outputs, in order.
async fn join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(support::bounded("join", handle).await.unwrap());
    }
    out
}

// ================================================== the IdP down or hanging

/// `TokenSource` ("When the token endpoint fails"): "A failed first load
/// (`current`) is held off the same way, its failure
/// (`AuthFailure::NoCredential`) the answer to requests meanwhile";
/// `AuthFailure::NoCredential`: "nothing was sent"; `Unauthorized`:
/// "`source` is the token source's error". Alone and in the stack.
#[tokio::test]
async fn idp_error_on_first_load_sends_nothing_and_is_backed_off() {
    for stack in [false, true] {
        let idp = Idp::new(|_, _| err("identity provider answered 500"));
        let (addr, seen) = api(valid(&[]), "authorization", plain_401()).await;
        // A backoff no run outlasts: "one call per backoff step" is exact.
        let auth = AuthLayer::new(idp.clone()).refresh_backoff(HOUR, HOUR);
        for _ in 0..5 {
            let error = client(stack, auth.clone())
                .oneshot(post(addr, "{}"))
                .await
                .unwrap_err();
            let unauthorized = error.unauthorized().unwrap_or_else(|| panic!("{error:?}"));
            assert_eq!(
                unauthorized.reason(),
                AuthFailure::NoCredential,
                "stack={stack}"
            );
            assert_eq!(unauthorized.status(), None, "nothing was sent");
            assert!(
                text(&error).contains("identity provider answered 500"),
                "{}",
                text(&error)
            );
        }
        assert_eq!(
            seen.count(),
            0,
            "stack={stack}: nothing sent without a credential"
        );
        assert_eq!(
            idp.calls(),
            1,
            "stack={stack}: one IdP call per backoff step"
        );
    }
}

/// `AuthLayer::refresh_timeout`: "A call that takes longer fails like any
/// failed refresh: the requests waiting on it end in an `Unauthorized`
/// error whose `source()` is tokio's `Elapsed`" (10 s by default); one
/// call for every waiter (`TokenSource`: "one call at a time per layer").
#[tokio::test(start_paused = true)]
async fn idp_hanging_on_first_load_ends_every_waiter_at_the_timeout() {
    let idp = Idp::new(|_, _| hang());
    let sent = Arc::new(AtomicU32::new(0));
    let counted = sent.clone();
    let api = upstream(move |_| {
        counted.fetch_add(1, SeqCst);
        reply(200, &[], "")
    });
    let auth = AuthLayer::new(idp.clone());
    let started = Instant::now();
    let calls = (0..20).map(|_| {
        let client = ServiceBuilder::new()
            .layer(auth.clone())
            .service(api.clone());
        client.oneshot(get("/x"))
    });
    for result in join_all(calls).await {
        let error = result.unwrap_err();
        let unauthorized = error.unauthorized().unwrap_or_else(|| panic!("{error:?}"));
        assert_eq!(unauthorized.reason(), AuthFailure::NoCredential);
        let source = std::error::Error::source(unauthorized).unwrap();
        assert!(source.is::<tokio::time::error::Elapsed>(), "{source:?}");
    }
    let waited = started.elapsed();
    assert!((10 * SECOND..11 * SECOND).contains(&waited), "{waited:?}");
    assert_eq!(idp.calls(), 1);
    assert_eq!(sent.load(SeqCst), 0);
}

/// A refresh that hangs: every request rejected with the old credential
/// ends at the refresh timeout (`AuthLayer::refresh_timeout`), typed
/// `RefreshFailed`, or `RefreshBackingOff` once the backoff runs, with the
/// 401 that rejected it (`Unauthorized::status`); "one refresh per
/// rejected credential" (`auth` module docs, the pitfall table), nothing
/// re-sent. Alone, then in the stack.
#[tokio::test(start_paused = true)]
async fn idp_hanging_on_refresh_ends_all_rejected_requests_once() {
    let idp = Idp::new(|n, _| if n == 1 { ok("tok-1") } else { hang() });
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = sent.clone();
    let auth = AuthLayer::new(idp.clone());
    let answer = move |secret: &str| {
        log.lock().unwrap().push(secret.to_owned());
        reply(401, &[], "")
    };
    let alone = ServiceBuilder::new()
        .layer(auth.clone())
        .service(upstream(answer.clone()));
    let stacked = ApiErrorsLayer::new()
        .retry(support::quick_exact().deadline(Duration::from_secs(30)))
        .auth(auth)
        .client(upstream(answer));
    let started = Instant::now();
    let mut results = join_all((0..20).map(|_| alone.clone().oneshot(get("/x")))).await;
    let waited = started.elapsed();
    assert!((10 * SECOND..11 * SECOND).contains(&waited), "{waited:?}");
    results.extend(join_all((0..20).map(|_| stacked.clone().oneshot(get("/x")))).await);
    for result in results {
        let error = result.unwrap_err();
        let unauthorized = error.unauthorized().unwrap_or_else(|| panic!("{error:?}"));
        assert!(
            matches!(
                unauthorized.reason(),
                AuthFailure::RefreshFailed | AuthFailure::RefreshBackingOff
            ),
            "{:?}",
            unauthorized.reason()
        );
        assert_eq!(unauthorized.status(), Some(StatusCode::UNAUTHORIZED));
    }
    assert_eq!(
        idp.refreshes(),
        1,
        "one refresh for one rejected credential"
    );
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 40);
    assert!(sent.iter().all(|secret| secret == "tok-1"), "{sent:?}");
}

/// `TokenSource` ("Refreshed before it expires"): "A credential with less
/// than a second left when installed (a JWT `exp` read on a skewed clock)
/// is not refreshed ahead: it is used until rejected, rather than
/// refreshed in a loop." Zero lifetime, an `exp` long past, half a second.
#[tokio::test(start_paused = true)]
async fn idp_handing_out_an_already_expired_credential_is_not_a_refresh_loop() {
    for variant in 0..3 {
        let idp = Idp::new(move |n, _| {
            let credential = Credential::new(&format!("tok-{n}")).unwrap();
            let credential = match variant {
                0 => credential.expires_in(Duration::ZERO),
                1 => credential.expires_at(std::time::UNIX_EPOCH),
                _ => credential.expires_in(Duration::from_millis(500)),
            };
            Box::pin(async move { Ok(credential) })
        });
        let api = upstream(|secret| reply(if secret == "tok-1" { 200 } else { 401 }, &[], ""));
        let client = ServiceBuilder::new()
            .layer(AuthLayer::new(idp.clone()))
            .service(api);
        for _ in 0..30 {
            let response = client.clone().oneshot(get("/x")).await.unwrap();
            assert_eq!(response.status(), 200, "variant {variant}");
            tokio::time::advance(SECOND).await;
        }
        assert_eq!(idp.calls(), 1, "variant {variant}");
    }
}

/// One 401 met by 50 concurrent POSTs over real hyper, alone and in the
/// stack: "one refresh per rejected credential, single-flight", and "the
/// re-send carries the identical body" (`auth` module docs, the pitfall
/// table). Each body goes twice: with `tok-1`, then `tok-2`.
#[tokio::test]
async fn fifty_concurrent_posts_meet_one_401_one_refresh_identical_bodies() {
    for stack in [false, true] {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let idp = {
            let gate = gate.clone();
            Idp::new(move |n, _| {
                let gate = gate.clone();
                Box::pin(async move {
                    if n > 1 {
                        // The refresh waits until every request was rejected.
                        let _permit = gate.acquire().await.unwrap();
                    }
                    Ok(Credential::new(&format!("tok-{n}")).unwrap())
                })
            })
        };
        let tokens = valid(&["tok-1"]);
        let (addr, seen) = api(tokens.clone(), "authorization", plain_401()).await;
        let auth = AuthLayer::new(idp.clone());
        // Load tok-1 first (accepted), then the server revokes it.
        let warm = client(false, auth.clone())
            .oneshot(post(addr, "warm"))
            .await;
        assert_eq!(warm.unwrap().status(), 200);
        *tokens.lock().unwrap() = ["tok-2".to_owned()].into();
        let calls = (0..50).map(|i| {
            let request = post(addr, format!("{{\"n\":{i}}}"));
            client(stack, auth.clone()).oneshot(request)
        });
        let handles: Vec<_> = calls.map(tokio::spawn).collect();
        // Every one of them rejected with tok-1 (the warm-up, and 50).
        support::bounded("all rejected", seen.reached(51)).await;
        gate.add_permits(1000);
        for handle in handles {
            let response = support::bounded("join", handle).await.unwrap();
            let response = response.unwrap_or_else(|e| panic!("stack={stack}: {e:?}"));
            assert_eq!(response.status(), 200, "stack={stack}");
        }
        assert_eq!(
            idp.calls(),
            2,
            "stack={stack}: the first credential and one refresh"
        );
        let all = seen.all();
        for i in 0..50 {
            let body = format!("{{\"n\":{i}}}");
            let sends: Vec<_> = all
                .iter()
                .filter(|(_, b)| b == body.as_bytes())
                .map(|(a, _)| a.clone())
                .collect();
            assert_eq!(
                sends,
                ["Bearer tok-1", "Bearer tok-2"],
                "stack={stack} body {i}"
            );
        }
    }
}

// ------------------------------------------------ challenges, alone vs stack

struct Row {
    name: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    /// Renewed (`Some(true)`), not (`Some(false)`), or only "the same
    /// alone and in the stack" (`None`: no document decides).
    renews: Option<bool>,
}

const GRPC: bool = cfg!(feature = "grpc");

const ROWS: &[Row] = &[
    Row {
        name: "plain 401",
        status: 401,
        headers: &[],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "401 insufficient_scope",
        status: 401,
        headers: &[(
            "www-authenticate",
            r#"Bearer error="insufficient_scope", scope="admin""#,
        )],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "plain 403",
        status: 403,
        headers: &[],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "403 invalid_token",
        status: 403,
        headers: &[("www-authenticate", r#"Bearer error="invalid_token""#)],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "400 invalid_token",
        status: 400,
        headers: &[("www-authenticate", r#"Bearer error="invalid_token""#)],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "403 two lines",
        status: 403,
        headers: &[
            ("www-authenticate", r#"Basic realm="x""#),
            ("www-authenticate", r#"Bearer error="invalid_token""#),
        ],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "403 two challenges one line",
        status: 403,
        headers: &[(
            "www-authenticate",
            r#"Basic realm="x", Bearer error="invalid_token""#,
        )],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "401 token-form insufficient_scope",
        status: 401,
        headers: &[("www-authenticate", "Bearer error=insufficient_scope")],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "401 ERROR= upper case name",
        status: 401,
        headers: &[("www-authenticate", r#"Bearer ERROR="insufficient_scope""#)],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "403 error= inside a quoted realm",
        status: 403,
        headers: &[(
            "www-authenticate",
            r#"Bearer realm="error=\"invalid_token\"""#,
        )],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "401 invalid_token with description",
        status: 401,
        headers: &[(
            "www-authenticate",
            r#"Bearer error="invalid_token", error_description="The access token expired""#,
        )],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "403 invalid_token, JSON body insufficient_scope",
        status: 403,
        headers: &[
            ("www-authenticate", r#"Bearer error="invalid_token""#),
            ("content-type", "application/json"),
        ],
        body: r#"{"error":"insufficient_scope"}"#,
        renews: Some(true),
    },
    Row {
        name: "401 insufficient_scope, JSON body invalid_token",
        status: 401,
        headers: &[
            ("www-authenticate", r#"Bearer error="insufficient_scope""#),
            ("content-type", "application/json"),
        ],
        body: r#"{"error":"invalid_token","error_description":"x"}"#,
        renews: Some(false),
    },
    Row {
        name: "RFC 9110 11.6.1 example",
        status: 401,
        headers: &[(
            "www-authenticate",
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
        )],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "429 invalid_token",
        status: 429,
        headers: &[("www-authenticate", r#"Bearer error="invalid_token""#)],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "407",
        status: 407,
        headers: &[("proxy-authenticate", r#"Bearer error="invalid_token""#)],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "403 DPoP invalid_token",
        status: 403,
        headers: &[(
            "www-authenticate",
            r#"DPoP error="invalid_token", algs="ES256""#,
        )],
        body: "",
        renews: Some(true),
    },
    // RFC 9449 §9: a resource server that wants a DPoP nonce answers 401
    // `DPoP error="use_dpop_nonce"` with a `DPoP-Nonce`: the token is good,
    // the proof needs the nonce, and a new token would be refused alike.
    Row {
        name: "401 DPoP use_dpop_nonce",
        status: 401,
        headers: &[
            (
                "www-authenticate",
                r#"DPoP error="use_dpop_nonce", algs="ES256""#,
            ),
            ("dpop-nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        ],
        body: "",
        renews: Some(false),
    },
    // RFC 6750 §3.1: `insufficient_scope` is a 403; re-authenticating
    // does not give the scope.
    Row {
        name: "403 insufficient_scope",
        status: 403,
        headers: &[("www-authenticate", r#"Bearer error="insufficient_scope""#)],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "401 scope line then invalid_token line",
        status: 401,
        headers: &[
            ("www-authenticate", r#"Bearer error="insufficient_scope""#),
            ("www-authenticate", r#"Bearer error="invalid_token""#),
        ],
        body: "",
        renews: None,
    },
    Row {
        name: "403 unterminated quote",
        status: 403,
        headers: &[("www-authenticate", r#"Bearer error="invalid_token"#)],
        body: "",
        renews: None,
    },
    Row {
        name: "503 grpc-status 16",
        status: 503,
        headers: &[("grpc-status", "16")],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "401 grpc-status 0",
        status: 401,
        headers: &[("grpc-status", "0")],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "401 grpc-status 16",
        status: 401,
        headers: &[("grpc-status", "16")],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "401 application/grpc grpc-status 7",
        status: 401,
        headers: &[("content-type", "application/grpc"), ("grpc-status", "7")],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "401 grpc-status 7",
        status: 401,
        headers: &[("grpc-status", "7")],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "403 invalid_token grpc-status 0",
        status: 403,
        headers: &[
            ("www-authenticate", r#"Bearer error="invalid_token""#),
            ("grpc-status", "0"),
        ],
        body: "",
        renews: Some(true),
    },
    Row {
        name: "200 grpc trailers-only 16",
        status: 200,
        headers: &[("content-type", "application/grpc"), ("grpc-status", "16")],
        body: "",
        renews: Some(GRPC),
    },
    Row {
        name: "200 grpc trailers-only 7",
        status: 200,
        headers: &[("content-type", "application/grpc"), ("grpc-status", "7")],
        body: "",
        renews: Some(false),
    },
    Row {
        name: "401 text body",
        status: 401,
        headers: &[("content-type", "text/plain")],
        body: "Unauthorized",
        renews: Some(true),
    },
    Row {
        name: "401 problem+json insufficient_scope title",
        status: 401,
        headers: &[("content-type", "application/problem+json")],
        body: r#"{"type":"https://example.com/insufficient_scope","title":"insufficient_scope","status":401}"#,
        renews: None,
    },
    Row {
        name: "403 invalid_token error_description mentions insufficient_scope",
        status: 403,
        headers: &[(
            "www-authenticate",
            r#"Bearer error_description="not insufficient_scope", error="invalid_token""#,
        )],
        body: "",
        renews: Some(true),
    },
];

/// The refreshes a rejection of `tok-1` by `row` led to, and the final
/// status (0 for an error without one).
async fn run_row(row: &Row, stack: bool) -> (u32, u16) {
    let idp = numbered();
    let (status, headers, body) = (row.status, row.headers, row.body);
    let reject: Reject = Arc::new(move |_| reply(status, headers, body));
    let (addr, _seen) = api(valid(&["tok-2"]), "authorization", reject).await;
    let result = client(stack, AuthLayer::new(idp.clone()))
        .oneshot(post(addr, "x"))
        .await;
    let status = match result {
        Ok(response) => response.status().as_u16(),
        Err(error) => error
            .api()
            .map(|a| a.status())
            .or_else(|| error.unauthorized().and_then(|u| u.status()))
            .map_or(0, |s| s.as_u16()),
    };
    (idp.refreshes(), status)
}

/// `rejects_credential` (src/auth/challenge.rs): "a 401, or a 400 or 403
/// whose `WWW-Authenticate` has `error="invalid_token"` (RFC 6750 §3.1).
/// A 401 whose `WWW-Authenticate` has `error="insufficient_scope"` does
/// not"; a `grpc-status` is "Read for a 200 only" (gRPC's 401 with the
/// `grpc` feature); challenges parsed per RFC 9110 §11.6.1 (several per
/// line, quoted strings, case-insensitive names). And the `auth` module
/// docs: the rejection "arrives either as a response ... or as
/// `Err(Error::Api(_))` from an `ErrorBodyParseLayer` below: both are
/// handled", so alone and in the stack decide alike.
#[tokio::test]
async fn challenges_renew_as_documented_and_the_same_alone_and_in_the_stack() {
    let mut failures = Vec::new();
    for row in ROWS {
        let (alone_refreshes, alone_status) = support::bounded(row.name, run_row(row, false)).await;
        let (stack_refreshes, stack_status) = support::bounded(row.name, run_row(row, true)).await;
        if alone_refreshes != stack_refreshes {
            failures.push(format!(
                "{}: alone refreshed {alone_refreshes} (status {alone_status}), stack {stack_refreshes} (status {stack_status})",
                row.name
            ));
        }
        if let Some(renews) = row.renews {
            for (how, refreshes, status) in [
                ("alone", alone_refreshes, alone_status),
                ("stack", stack_refreshes, stack_status),
            ] {
                if (refreshes == 1) != renews || (renews && status != 200) {
                    failures.push(format!(
                        "{} {how}: expected renews={renews}, refreshed {refreshes}, status {status}",
                        row.name
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// `rejects_credential`: "One pass over each `WWW-Authenticate` value, up
/// to the first `error` parameter", quoted strings skipped whole (RFC 9110
/// §5.6.4): a 403 with 50 other challenges and tens of KiB of escaped
/// `error=\"insufficient_scope` decoys inside a quoted realm is still read
/// to its real `error="invalid_token"`, and renewed, alone and in the stack.
#[tokio::test]
async fn a_huge_challenge_with_escaped_decoys_renews_on_its_real_error() {
    let decoys = "\\\" error=\\\"insufficient_scope ".repeat(2_000);
    let challenge = format!("Bearer realm=\"{decoys}\", error=\"invalid_token\"");
    let challenge: &'static str = Box::leak(challenge.into_boxed_str());
    let mut lines = vec![("www-authenticate", "Basic realm=\"x\""); 50];
    lines.push(("www-authenticate", challenge));
    let row = Row {
        name: "huge",
        status: 403,
        headers: Box::leak(lines.into_boxed_slice()),
        body: "",
        renews: Some(true),
    };
    for stack in [false, true] {
        let outcome = support::bounded("huge", run_row(&row, stack)).await;
        assert_eq!(outcome, (1, 200), "stack={stack}");
    }
}

/// A challenge with obs-text bytes (RFC 9110 §5.5: a Latin-1 realm) before
/// its `error="invalid_token"`: a 403 renewed (RFC 6750 §3.1), the same
/// alone and in the stack.
#[tokio::test]
async fn a_challenge_with_obs_text_is_read_the_same_alone_and_in_the_stack() {
    for stack in [false, true] {
        let idp = numbered();
        let reject: Reject = Arc::new(|_| {
            let mut answer = reply(403, &[], "");
            let value = b"Bearer realm=\"caf\xe9\", error=\"invalid_token\"";
            let value = http::HeaderValue::from_bytes(value).unwrap();
            answer.headers_mut().insert("www-authenticate", value);
            answer
        });
        let (addr, _) = api(valid(&["tok-2"]), "authorization", reject).await;
        let result = client(stack, AuthLayer::new(idp.clone()))
            .oneshot(post(addr, "x"))
            .await;
        let status = result.map(|r| r.status()).ok();
        assert_eq!(
            (idp.refreshes(), status),
            (1, Some(StatusCode::OK)),
            "stack={stack}"
        );
    }
}

// ------------------------------------------------ secrets

const SECRET_1: &str = "sk_live_FIRSTsecret0123456789";
const SECRET_2: &str = "sk_live_SECONDsecret987654321";

/// A server's refusal that echoes the credential everywhere it can: the
/// challenge's description, a header, and (by `kind`) a JSON message and
/// details, a problem detail, field errors, an HTML page, a JSON-RPC error.
fn echoing(kind: u8) -> Reject {
    Arc::new(move |secret: &str| {
        let challenge =
            format!(r#"Bearer error="invalid_token", error_description="token {secret} expired""#);
        let (content_type, body) = match kind {
            0 => (
                "application/json",
                format!(
                    r#"{{"error": {{"code": "invalid_token {secret}", "message": "Invalid token {secret}", "details": [{{"token": "{secret}"}}]}}}}"#
                ),
            ),
            1 => (
                "application/problem+json",
                format!(
                    r#"{{"type": "about:blank", "title": "Unauthorized {secret}", "status": 401, "detail": "token {secret} revoked", "instance": "/tokens/{secret}", "token": "{secret}"}}"#
                ),
            ),
            2 => (
                "application/json",
                format!(
                    r#"{{"errors": [{{"field": "{secret}", "message": "bad {secret}"}}], "error_description": "{secret}", "error": "invalid_token"}}"#
                ),
            ),
            3 => (
                "text/html",
                format!(
                    "<html><body><h1>401</h1><p>Your token {secret} is invalid</p></body></html>"
                ),
            ),
            _ => (
                "application/json",
                format!(
                    r#"{{"jsonrpc": "2.0", "error": {{"code": -32001, "message": "auth {secret}", "data": {{"token": "{secret}"}}}}, "id": 1}}"#
                ),
            ),
        };
        let mut answer = reply(
            401,
            &[("content-type", content_type), ("x-debug-token", secret)],
            &body,
        );
        let value = http::HeaderValue::from_str(&challenge).unwrap();
        answer.headers_mut().insert("www-authenticate", value);
        answer
    })
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET_1, SECRET_2, "FIRSTsecret", "SECONDsecret"] {
        assert!(!text.contains(secret), "{what}: {secret} in {text}");
    }
}

/// `auth` module docs ("Secrets"): "No error, `Debug` output or tracing
/// event of this layer holds [a credential]". Every credential the layer
/// sent, echoed by the server in every part of its answer, stays out of
/// the error, its typed answer and its rejection: a renewed credential
/// rejected again, and a refresh that fails; under Bearer, a custom
/// scheme, and an API key header without one.
#[tokio::test]
async fn an_echoed_credential_never_prints_through_the_stack() {
    for kind in 0..5u8 {
        for format in 0..3 {
            for refresh_fails in [false, true] {
                let idp = Idp::new(move |n, _| match (n, refresh_fails) {
                    (1, _) => ok(SECRET_1),
                    (_, false) => ok(SECRET_2),
                    (_, true) => err("token endpoint answered 400 invalid_grant"),
                });
                let (auth, header) = match format {
                    0 => (AuthLayer::new(idp.clone()), "authorization"),
                    1 => (AuthLayer::new(idp.clone()).scheme("Token"), "authorization"),
                    _ => (
                        AuthLayer::new(idp.clone())
                            .header(http::HeaderName::from_static("x-api-key"))
                            .no_scheme(),
                        "x-api-key",
                    ),
                };
                let reject: Reject = {
                    let inner = echoing(kind);
                    Arc::new(move |secret: &str| {
                        inner(secret.strip_prefix("Token ").unwrap_or(secret))
                    })
                };
                let (addr, _) = api(valid(&[]), header, reject).await;
                let error = client(true, auth)
                    .oneshot(post(addr, "x"))
                    .await
                    .unwrap_err();
                let what = format!("kind {kind} format {format} refresh_fails {refresh_fails}");
                assert_no_secret(&what, &text(&error));
                if let Some(api) = error.api() {
                    let shown = format!(
                        "{api:?} {} {:?} {:?}",
                        api.message(),
                        api.code(),
                        api.challenge_error()
                    );
                    assert_no_secret(&what, &shown);
                }
                if let Some(rejection) = error.unauthorized().and_then(|u| u.rejection()) {
                    assert_no_secret(&what, &format!("{rejection:?} {}", rejection.message()));
                }
            }
        }
    }
}

/// `auth` module docs ("Secrets"): "No error, `Debug` output ... of this
/// layer holds [a credential]": the layer, its service, a response future
/// mid-flight and the `AuthReport`, with a credential loaded and renewed.
#[tokio::test]
async fn debug_output_of_the_layer_service_and_future_holds_no_credential() {
    let idp = Idp::new(|n, _| ok(&format!("sk_live_DEBUGsecret{n}xyz")));
    let (addr, _) = api(
        valid(&["sk_live_DEBUGsecret2xyz"]),
        "authorization",
        plain_401(),
    )
    .await;
    let auth = AuthLayer::new(idp.clone());
    let mut service = ServiceBuilder::new()
        .layer(auth.clone())
        .service(support::client::<Full<Bytes>>());
    let response = service
        .ready()
        .await
        .unwrap()
        .call(post(addr, "x"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(idp.calls(), 2, "loaded, then renewed");
    let future = service.ready().await.unwrap().call(post(addr, "y"));
    let report = response.extensions().get::<AuthReport>();
    let shown = format!("{auth:?} {service:?} {future:?} {report:?}");
    assert!(!shown.contains("DEBUGsecret"), "{shown}");
    assert_eq!(future.await.unwrap().status(), 200);
}

/// An OAuth2 client-credentials source whose token client is this crate's
/// stack with its own auth layer (HTTP Basic client authentication, RFC
/// 6749 §2.3.1).
struct ClientCredentials {
    endpoint: SocketAddr,
    token_client: tower::util::BoxCloneSyncService<
        Request<Full<Bytes>>,
        Response<hyper::body::Incoming>,
        Error,
    >,
}

impl TokenSource for ClientCredentials {
    fn current(&self) -> TokenFuture<'_> {
        ok("tok-1-APISECRET")
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let client = self.token_client.clone();
        let uri = format!("http://{}/oauth/token", self.endpoint);
        Box::pin(async move {
            let request = Request::post(uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from_static(
                    b"grant_type=client_credentials",
                )))
                .unwrap();
            let response = client.oneshot(request).await?;
            let body = response.into_body().collect().await?.to_bytes();
            Ok(Credential::new(std::str::from_utf8(&body)?)?)
        })
    }
}

/// `auth` module docs ("Secrets"): a credential never prints, and a token
/// source's error quoting one is withheld. The token endpoint refuses the
/// client (401 `invalid_client`) and echoes the Basic header it was sent;
/// the API echoes its credential: the request ends `RefreshFailed`, and
/// neither the client secret nor the API's credential prints.
#[tokio::test]
async fn a_token_endpoint_refusing_the_client_and_echoing_its_secret_prints_neither() {
    const BASIC: &str = "bXktY2xpZW50OkNMSUVOVFNFQ1JFVHh5eg=="; // my-client:CLIENTSECRETxyz
    let endpoint = serve(|req: Request<hyper::body::Incoming>| async move {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        response(
            401,
            &[("content-type", "application/json"), ("www-authenticate", r#"Basic realm="token""#)],
            format!(r#"{{"error": "invalid_client", "error_description": "client authentication failed for {auth}"}}"#),
        )
    })
    .await;
    let basic = tower_api_errors::auth::StaticToken::new(Credential::new(BASIC).unwrap());
    let token_client = tower::util::BoxCloneSyncService::new(
        ApiErrorsLayer::new()
            .retry(support::quick_exact())
            .auth(AuthLayer::new(basic).scheme("Basic"))
            .client(support::client::<ReplayBody<Full<Bytes>>>()),
    );
    let source = ClientCredentials {
        endpoint,
        token_client,
    };
    let (addr, _) = api(valid(&[]), "authorization", echoing(0)).await;
    let error = client(true, AuthLayer::new(source))
        .oneshot(post(addr, "x"))
        .await
        .unwrap_err();
    let shown = text(&error);
    let reason = error.unauthorized().map(|u| u.reason());
    assert_eq!(reason, Some(AuthFailure::RefreshFailed), "{shown}");
    for secret in [BASIC, "CLIENTSECRET", "APISECRET"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[cfg(feature = "tracing")]
#[path = "support/captured_logs.rs"]
mod captured_logs;

/// `auth` module docs ("Secrets"): "No error, `Debug` output or tracing
/// event of this layer holds one." Every event, and every span as it
/// closes, while servers echo the credential (five ways), a renewed one is
/// rejected too, a backoff runs, the IdP's refresh error quotes the
/// rejected credential, and a first load fails.
#[cfg(feature = "tracing")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_credential_in_any_log_line() {
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    for kind in 0..5u8 {
        let idp = Idp::new(move |n, rejected| match (n, rejected) {
            (1, _) => ok(SECRET_1),
            (2, _) => ok(SECRET_2),
            (_, Some(rejected)) => err(&format!("refresh of {rejected} refused")),
            _ => err("no"),
        });
        let echo = echoing(kind);
        let answer = move |secret: &str| echo(secret);
        let stacked = ApiErrorsLayer::new()
            .retry(support::quick_exact())
            .auth(AuthLayer::new(idp.clone()))
            .client(upstream(answer.clone()));
        // SECRET_1 rejected, SECRET_2 rejected on the re-send; rejected
        // again in the backoff; past it, a refresh whose error quotes it.
        let rejected_again = stacked.clone().oneshot(get("/x")).await.unwrap_err();
        let status = rejected_again.api().map(|a| a.status());
        assert_eq!(status, Some(StatusCode::UNAUTHORIZED), "kind {kind}");
        let backing_off = stacked.clone().oneshot(get("/x")).await.unwrap_err();
        let reason = backing_off.unauthorized().map(|u| u.reason());
        assert_eq!(reason, Some(AuthFailure::RefreshBackingOff), "kind {kind}");
        tokio::time::advance(SECOND).await;
        let quoted = stacked.clone().oneshot(get("/x")).await.unwrap_err();
        let reason = quoted.unauthorized().map(|u| u.reason());
        assert_eq!(reason, Some(AuthFailure::RefreshFailed), "kind {kind}");
        assert_eq!(idp.calls(), 3, "kind {kind}");
        let alone = ServiceBuilder::new()
            .layer(AuthLayer::new(idp.clone()))
            .service(upstream(answer));
        let error = alone.oneshot(get("/x")).await.unwrap_err();
        assert_eq!(
            error.unauthorized().map(|u| u.reason()),
            Some(AuthFailure::NoCredential)
        );
    }
    let text = logs.text();
    assert!(text.contains("credential_refresh_failed"), "{text}");
    for secret in [SECRET_1, SECRET_2, "FIRSTsecret", "SECONDsecret"] {
        assert!(!text.contains(secret), "{secret} logged:\n{text}");
    }
}

/// The same ("Secrets": "No ... tracing event of this layer holds one")
/// for a token-exchange source over a real token endpoint whose 400
/// quotes the `subject_token` it was sent, the API echoing it too.
#[cfg(feature = "tracing")]
#[tokio::test(flavor = "current_thread")]
async fn no_credential_in_the_logs_of_a_token_exchange_quoting_it() {
    let (logs, _guard) = captured_logs::capture(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    let endpoint = serve(|req: Request<hyper::body::Incoming>| async move {
        let body = support::body_bytes(req.into_body()).await;
        let body = String::from_utf8_lossy(&body).into_owned();
        let subject = body.split("subject_token=").nth(1).unwrap_or("").to_owned();
        response(
            400,
            &[("content-type", "application/json")],
            format!(r#"{{"error": "invalid_grant", "error_description": "subject_token {subject} revoked"}}"#),
        )
    })
    .await;
    let source = Arc::new(Exchange {
        endpoint,
        calls: AtomicU32::new(0),
    });
    let (addr, _) = api(valid(&[]), "authorization", echoing(0)).await;
    let error = client(true, AuthLayer::from_arc(source.clone()))
        .oneshot(post(addr, "x"))
        .await
        .unwrap_err();
    let reason = error.unauthorized().map(|u| u.reason());
    assert_eq!(reason, Some(AuthFailure::RefreshFailed), "{error:?}");
    assert_eq!(source.calls.load(SeqCst), 2);
    let text = logs.text();
    assert!(text.contains("credential_refresh_failed"), "{text}");
    assert!(!text.contains("SECRETVALUE"), "logged:\n{text}");
}

// ------------------------------------------------ token endpoints over the stack

/// A token-exchange source (RFC 8693: the rejected token goes in the form
/// body) whose token endpoint is called through this crate's own stack.
struct Exchange {
    endpoint: SocketAddr,
    calls: AtomicU32,
}

impl TokenSource for Exchange {
    fn current(&self) -> TokenFuture<'_> {
        self.calls.fetch_add(1, SeqCst);
        ok("tok-1-SECRETVALUE")
    }
    fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
        self.calls.fetch_add(1, SeqCst);
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={}",
            String::from_utf8_lossy(rejected.expose_secret())
        );
        let uri = format!("http://{}/oauth/token", self.endpoint);
        Box::pin(async move {
            let client = ApiErrorsLayer::new().client(support::client::<ReplayBody<Full<Bytes>>>());
            let request = Request::post(uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(form)))
                .unwrap();
            let response = client.oneshot(request).await?;
            let body = response.into_body().collect().await?.to_bytes();
            Ok(Credential::new(std::str::from_utf8(&body)?)?)
        })
    }
}

/// A real token endpoint answering the exchange 429 `Retry-After: 60`,
/// its description quoting the subject token when `quote`: the request
/// ends `RefreshFailed` saying 60 s, nothing printed holds the token, and
/// the next rejection meanwhile is backed off without calling the source.
async fn token_exchange_429(quote: bool) {
    let endpoint = serve(move |req: Request<hyper::body::Incoming>| async move {
        let body = support::body_bytes(req.into_body()).await;
        let body = String::from_utf8_lossy(&body).into_owned();
        let subject = match quote {
            true => body.split("subject_token=").nth(1).unwrap_or("").to_owned(),
            false => "a subject token".to_owned(),
        };
        response(
            429,
            &[("retry-after", "60"), ("content-type", "application/json")],
            format!(r#"{{"error": "slow_down", "error_description": "rate limited exchanging {subject}"}}"#),
        )
    })
    .await;
    let source = Arc::new(Exchange {
        endpoint,
        calls: AtomicU32::new(0),
    });
    let (addr, _) = api(valid(&[]), "authorization", plain_401()).await;
    let client = client(true, AuthLayer::from_arc(source.clone()));
    let error = support::bounded("exchange", client.clone().oneshot(post(addr, "x")))
        .await
        .unwrap_err();
    assert!(!text(&error).contains("SECRETVALUE"), "{}", text(&error));
    let unauthorized = error.unauthorized().unwrap_or_else(|| panic!("{error:?}"));
    assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
    let retry_after = unauthorized.retry_after();
    // Longer than any backoff step (30 s at most): the endpoint's 60 s.
    assert!(
        retry_after.is_some_and(|d| d > 30 * SECOND),
        "asked for 60 s: {retry_after:?}"
    );
    let again = client.oneshot(post(addr, "y")).await.unwrap_err();
    let reason = again.unauthorized().map(|u| u.reason());
    assert_eq!(reason, Some(AuthFailure::RefreshBackingOff), "{again:?}");
    assert_eq!(
        source.calls.load(SeqCst),
        2,
        "not called again before its 60 s"
    );
}

/// `TokenSource` ("When the token endpoint fails"): "A token endpoint that
/// says when to come back is not called before ... (the token endpoint
/// called through `ApiErrorsLayer` ... answered a 429 or 503 with
/// `Retry-After`)", and "A `RetryLayer` it goes through ... starts no wait
/// the timeout would cut": the 60 s hint comes back at once, and holds.
#[tokio::test]
async fn a_token_exchange_endpoints_429_is_not_called_before_its_retry_after() {
    token_exchange_429(false).await;
}

/// The same, the 429's body quoting the rejected token (as many endpoints
/// quote the form they were sent): the error is withheld (`Unauthorized`:
/// "replaced by a note"), its `Retry-After` is still honoured.
#[tokio::test]
async fn a_token_exchange_endpoint_quoting_the_token_in_its_429_is_not_called_before_its_retry_after(
) {
    token_exchange_429(true).await;
}

/// `TokenSource` ("When the token endpoint fails"): a source "on another
/// client hands the failed answer over the same way:
/// `Err(Error::from(parse_error(status, &headers, &body)).into())`", and
/// the endpoint "is not called before" its `Retry-After`: a refresh
/// answered 429 `Retry-After: 60` says 60 s (`Unauthorized::retry_after`),
/// holds the source off for 59 s, and is called again at 60 s.
#[tokio::test(start_paused = true)]
async fn a_refresh_answered_429_with_retry_after_is_not_called_before_it() {
    let idp = Idp::new(|n, _| match n {
        1 => ok("tok-1"),
        2 => {
            let mut headers = http::HeaderMap::new();
            headers.insert("retry-after", http::HeaderValue::from_static("60"));
            let body = br#"{"error": "slow_down", "error_description": "too many exchanges"}"#;
            let limited =
                tower_api_errors::parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, body);
            Box::pin(async move { Err(Error::from(limited).into()) })
        }
        _ => ok("tok-ok"),
    });
    let api = upstream(|secret| reply(if secret == "tok-ok" { 200 } else { 401 }, &[], ""));
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    let error = client.clone().oneshot(get("/x")).await.unwrap_err();
    let unauthorized = error.unauthorized().unwrap();
    assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
    assert_eq!(unauthorized.retry_after(), Some(60 * SECOND));
    assert!(
        text(&error).contains("too many exchanges"),
        "not withheld: {}",
        text(&error)
    );
    tokio::time::advance(59 * SECOND).await;
    let error = client.clone().oneshot(get("/x")).await.unwrap_err();
    assert_eq!(
        error.unauthorized().unwrap().reason(),
        AuthFailure::RefreshBackingOff
    );
    assert_eq!(idp.calls(), 2, "not called again before its Retry-After");
    tokio::time::advance(SECOND).await;
    assert_eq!(client.oneshot(get("/x")).await.unwrap().status(), 200);
    assert_eq!(idp.calls(), 3);
}

// ------------------------------------------------ rotation, replay, recovery

/// `auth` module docs (pitfall table): "a request rejected with an older
/// one than the current just goes again with the current one, no
/// refresh" (`Renewal::AlreadyRenewed`: "A newer credential was already
/// current"). A call in flight across a rotation, over real hyper, alone
/// and in the stack, its body re-sent identical.
#[tokio::test]
async fn a_call_in_flight_across_a_rotation_goes_again_without_a_refresh() {
    for stack in [false, true] {
        let idp = numbered();
        let held = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let valid_now = valid(&["tok-1"]);
        let seen = Seen::new();
        let addr = {
            let (held, release, valid_now, seen) = (
                held.clone(),
                release.clone(),
                valid_now.clone(),
                seen.clone(),
            );
            serve(move |req: Request<hyper::body::Incoming>| {
                let (held, release, valid_now, seen) = (
                    held.clone(),
                    release.clone(),
                    valid_now.clone(),
                    seen.clone(),
                );
                async move {
                    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
                    let path = req.uri().path().to_owned();
                    let body = support::body_bytes(req.into_body()).await;
                    seen.push(format!("{path} {auth}"), body.clone());
                    if path == "/slow" && auth == "Bearer tok-1" {
                        held.notify_one();
                        release.notified().await;
                    }
                    let secret = auth.strip_prefix("Bearer ").unwrap();
                    if valid_now.lock().unwrap().contains(secret) {
                        response(200, &[], body)
                    } else {
                        response(401, &[], "")
                    }
                }
            })
            .await
        };
        let auth = AuthLayer::new(idp.clone());
        let call = |path: &'static str| {
            let request = Request::post(format!("http://{addr}{path}"))
                .body(Full::new(Bytes::from_static(b"payload")))
                .unwrap();
            let sent = client(stack, auth.clone()).oneshot(request);
            async move {
                sent.await
                    .map(|r| (r.status(), r.extensions().get::<AuthReport>().copied()))
            }
        };
        let slow = tokio::spawn(call("/slow"));
        held.notified().await;
        // Rotation: the server drops tok-1; another call renews to tok-2.
        *valid_now.lock().unwrap() = ["tok-2".to_owned()].into();
        let (status, report) = call("/fast").await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(report.map(|r| r.renewal()), Some(Some(Renewal::Refreshed)));
        release.notify_one();
        let (status, report) = support::bounded("slow", slow).await.unwrap().unwrap();
        assert_eq!(status, 200, "stack={stack}");
        let report = report.map(|r| (r.sends(), r.renewal()));
        assert_eq!(
            report,
            Some((2, Some(Renewal::AlreadyRenewed))),
            "stack={stack}"
        );
        assert_eq!(idp.calls(), 2, "stack={stack}: tok-1 and one refresh");
        let slow_sends: Vec<_> = seen
            .all()
            .into_iter()
            .filter(|(k, _)| k.starts_with("/slow"))
            .collect();
        assert_eq!(slow_sends.len(), 2);
        assert!(slow_sends.iter().all(|(_, b)| b == "payload"));
    }
}

/// `auth` module docs: "wrap a streamed body in `ReplayBody::new`
/// yourself", and "the re-send carries the identical body". A server
/// answers 401 at once, before reading the body (and closes): the body,
/// still being written by the caller when the 401 came, is re-sent whole
/// with the new credential, every chunk the caller wrote taken.
#[tokio::test]
async fn a_streamed_body_rejected_before_it_was_read_is_re_sent_whole() {
    let answered = Arc::new(tokio::sync::Notify::new());
    let addr = {
        let answered = answered.clone();
        serve(move |req: Request<hyper::body::Incoming>| {
            let answered = answered.clone();
            async move {
                if req.headers()["authorization"] != "Bearer tok-2" {
                    answered.notify_one();
                    // Not reading the body: the rejection comes first.
                    return response(401, &[("connection", "close")], "");
                }
                let body = support::body_bytes(req.into_body()).await;
                response(200, &[], body)
            }
        })
        .await
    };
    let idp = numbered();
    type Chunked = http_body_util::channel::Channel<Bytes, Infallible>;
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(support::client::<ReplayBody<Chunked>>());
    let (mut sender, body) = Chunked::new(4);
    let request = Request::post(format!("http://{addr}/upload"))
        .body(ReplayBody::new(
            body,
            tower_api_errors::retry::DEFAULT_MAX_REPLAY,
        ))
        .unwrap();
    let writer = {
        let answered = answered.clone();
        tokio::spawn(async move {
            sender
                .send_data(Bytes::from_static(b"chunk-1;"))
                .await
                .unwrap();
            answered.notified().await;
            for chunk in [&b"chunk-2;"[..], b"chunk-3;", b"end"] {
                if sender.send_data(Bytes::from_static(chunk)).await.is_err() {
                    return false;
                }
            }
            true
        })
    };
    let result = support::bounded("upload", client.oneshot(request)).await;
    let wrote_all = support::bounded("writer", writer).await.unwrap();
    let response = result.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(response.status(), 200);
    let echoed = support::body_bytes(response.into_body()).await;
    assert!(wrote_all, "the caller's writes were all taken");
    assert_eq!(echoed, "chunk-1;chunk-2;chunk-3;end");
    assert_eq!(idp.calls(), 2);
}

/// `auth` module docs ("Cost"): the re-send is the same request, rebuilt
/// from "a copy of the request's method, URI,
/// headers and extensions" (alone) or the call's context (in the stack):
/// method, path and query, every header (an `Idempotency-Key`, repeated
/// headers in order) but the credential, which it carries once, renewed.
#[tokio::test]
async fn the_re_send_is_the_same_request_but_for_its_one_renewed_credential() {
    type Line = (String, String, Vec<(String, String)>);
    for stack in [false, true] {
        let seen: Arc<Mutex<Vec<Line>>> = Arc::default();
        let addr = {
            let seen = seen.clone();
            serve(move |req: Request<hyper::body::Incoming>| {
                let seen = seen.clone();
                async move {
                    let headers: Vec<(String, String)> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect();
                    let auth: Vec<_> = req.headers().get_all("authorization").iter().collect();
                    let accepted = auth == ["Bearer tok-2"];
                    seen.lock().unwrap().push((
                        req.method().to_string(),
                        req.uri().to_string(),
                        headers,
                    ));
                    if accepted {
                        response(201, &[], "{}")
                    } else {
                        response(401, &[], "")
                    }
                }
            })
            .await
        };
        let idp = numbered();
        let request = Request::post(format!("http://{addr}/v1/charges?expand[]=customer&x=1"))
            .header("idempotency-key", "key-123")
            .header("content-type", "application/json")
            .header("x-tag", "a")
            .header("x-tag", "b")
            .body(Full::new(Bytes::from_static(b"{\"amount\":1}")))
            .unwrap();
        let response = client(stack, AuthLayer::new(idp.clone()))
            .oneshot(request)
            .await;
        assert_eq!(response.unwrap().status(), 201);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        let but_auth = |line: &Line| {
            let headers: Vec<_> = line
                .2
                .iter()
                .filter(|(k, _)| k != "authorization")
                .cloned()
                .collect();
            (line.0.clone(), line.1.clone(), headers)
        };
        assert_eq!(but_auth(&seen[0]), but_auth(&seen[1]), "stack={stack}");
        let auth = |line: &Line| {
            let values = line.2.iter().filter(|(k, _)| k == "authorization");
            values.map(|(_, v)| v.clone()).collect::<Vec<_>>()
        };
        assert_eq!(auth(&seen[0]), ["Bearer tok-1"]);
        assert_eq!(auth(&seen[1]), ["Bearer tok-2"]);
    }
}

/// `TokenSource` ("When the token endpoint fails"): "So does a renewed
/// credential that the server rejects on its re-send ...: the source is
/// not asked for another before the backoff"; the pitfall table: "a
/// rejection of the re-send is returned as it is", meanwhile "a
/// rejection with it ends at once (`RefreshBackingOff`)", and "Recovery
/// is immediate": past the backoff, the recovered IdP's credential is used.
#[tokio::test(start_paused = true)]
async fn a_rejected_renewal_backs_off_then_the_recovered_idp_is_used() {
    let idp = numbered();
    let accepted = Arc::new(Mutex::new("tok-1".to_owned()));
    let now = accepted.clone();
    let api = upstream(move |secret| {
        reply(
            if *now.lock().unwrap() == secret {
                200
            } else {
                401
            },
            &[],
            "",
        )
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    assert_eq!(
        client.clone().oneshot(get("/a")).await.unwrap().status(),
        200
    );
    *accepted.lock().unwrap() = "tok-3".to_owned();
    // tok-1 rejected, tok-2 handed out and rejected too: the 401 is the answer.
    let second = client.clone().oneshot(get("/b")).await.unwrap();
    assert_eq!(second.status(), 401);
    assert_eq!(
        second.extensions().get::<AuthReport>().map(|r| r.sends()),
        Some(2)
    );
    // Meanwhile: typed, at once, no IdP call.
    for _ in 0..10 {
        let error = client.clone().oneshot(get("/c")).await.unwrap_err();
        let unauthorized = error.unauthorized().unwrap();
        assert_eq!(
            unauthorized.reason(),
            AuthFailure::RefreshBackingOff,
            "{error:?}"
        );
        assert!(unauthorized.retry_after().is_some_and(|d| d <= SECOND));
    }
    assert_eq!(idp.calls(), 2);
    // Past the backoff (at most 1 s for one failure): tok-3, accepted.
    tokio::time::advance(SECOND).await;
    let recovered = client.clone().oneshot(get("/d")).await.unwrap();
    assert_eq!(recovered.status(), 200);
    assert_eq!(idp.calls(), 3);
}

/// `TokenSource`: "Both calls run in a task of their own, so a caller that
/// gives up does not cancel them for the others"; the response future:
/// "Dropping it cancels this request only: a refresh it started goes on in
/// its own task". Every caller (alone and in the stack) drops its request
/// while the renewal runs: the renewal completes once, and the next
/// request is served without another IdP call.
#[tokio::test]
async fn callers_giving_up_during_a_renewal_leave_it_to_complete_once() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    let idp = {
        let (gate, entered) = (gate.clone(), entered.clone());
        Idp::new(move |n, _| {
            let (gate, entered) = (gate.clone(), entered.clone());
            Box::pin(async move {
                if n == 2 {
                    entered.notify_one();
                    let _permit = gate.acquire().await.unwrap();
                }
                Ok(Credential::new(&format!("tok-{n}")).unwrap())
            })
        })
    };
    let tokens = valid(&["tok-1"]);
    let (addr, seen) = api(tokens.clone(), "authorization", plain_401()).await;
    let auth = AuthLayer::new(idp.clone());
    let warm = client(false, auth.clone()).oneshot(post(addr, "w")).await;
    assert_eq!(warm.unwrap().status(), 200);
    *tokens.lock().unwrap() = ["tok-2".to_owned()].into();
    let callers: Vec<_> = (0..20)
        .map(|i| tokio::spawn(client(i % 2 == 1, auth.clone()).oneshot(post(addr, "t"))))
        .collect();
    support::bounded("the renewal starts", entered.notified()).await;
    support::bounded("all rejected", seen.reached(21)).await;
    for caller in &callers {
        caller.abort();
    }
    for caller in callers {
        let _ = caller.await;
    }
    gate.add_permits(1);
    let response =
        support::bounded("after", client(false, auth).oneshot(post(addr, "after"))).await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(idp.calls(), 2, "one renewal for every dropped caller");
}

// ------------------------------------------------ deadlines, clients, expiry

/// `RetryPolicy::deadline`: "The total time for all attempts and waits ...
/// an attempt still running when it passes is cut short": a call waiting
/// on a hanging renewal ends at its 300 ms deadline, not at the 10 s
/// refresh timeout, and the renewal is not started twice.
#[tokio::test(start_paused = true)]
async fn the_callers_deadline_cuts_the_wait_for_a_hanging_renewal() {
    let idp = Idp::new(|n, _| if n == 1 { ok("tok-1") } else { hang() });
    let accepted = Arc::new(Mutex::new(true));
    let accepting = accepted.clone();
    let api = upstream(move |_| reply(if *accepting.lock().unwrap() { 200 } else { 401 }, &[], ""));
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().deadline(Duration::from_millis(300)))
        .auth(AuthLayer::new(idp.clone()))
        .client(api);
    assert_eq!(
        client.clone().oneshot(get("/a")).await.unwrap().status(),
        200
    );
    *accepted.lock().unwrap() = false;
    let started = Instant::now();
    let error = client.clone().oneshot(get("/b")).await.unwrap_err();
    let waited = started.elapsed();
    assert!(waited < SECOND, "waited {waited:?}: {error:?}");
    assert!(
        error.unauthorized().is_none(),
        "cut by the deadline, not the refresh timeout: {error:?}"
    );
    assert_eq!(idp.refreshes(), 1);
}

/// Through reqwest-middleware (`reqwest::ApiErrorsMiddleware`): a 401
/// renews once and the JSON POST body is re-sent identical (`auth` module
/// docs); "A request that carries its own credential header goes through
/// as it is, and is not renewed" (ibid.): the caller's `bearer_auth`,
/// rejected, is answered 401 with no IdP call.
#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn reqwest_middleware_renews_once_and_leaves_the_callers_own_credential() {
    use reqwest_middleware::ClientBuilder;
    use tower_api_errors::reqwest::ApiErrorsMiddleware;
    let idp = numbered();
    let challenge = |_: &str| {
        reply(
            401,
            &[("www-authenticate", r#"Bearer error="invalid_token""#)],
            "",
        )
    };
    let (addr, seen) = api(valid(&["tok-2"]), "authorization", Arc::new(challenge)).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ApiErrorsMiddleware::from(
            ApiErrorsLayer::new()
                .retry(support::quick_exact())
                .auth(AuthLayer::new(idp.clone())),
        ))
        .build();
    let response = client
        .post(format!("http://{addr}/v1/items"))
        .header("content-type", "application/json")
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"name":"x"}"#);
    assert_eq!(idp.calls(), 2);
    let body = Bytes::from_static(br#"{"name":"x"}"#);
    let expected = [
        ("Bearer tok-1".to_owned(), body.clone()),
        ("Bearer tok-2".to_owned(), body),
    ];
    assert_eq!(seen.all(), expected);
    // The caller's own credential, rejected: not the layer's to renew.
    let outcome = client
        .get(format!("http://{addr}/v1/items"))
        .bearer_auth("callers-stale")
        .send()
        .await;
    let status = match outcome {
        Ok(response) => response.status().as_u16(),
        Err(error) => {
            let text = format!("{error} {error:?}");
            assert!(!text.contains("callers-stale"), "{text}");
            let reqwest_middleware::Error::Middleware(error) = error else {
                panic!("{text}")
            };
            let error = error
                .downcast_ref::<Error>()
                .unwrap_or_else(|| panic!("{text}"));
            assert!(error.unauthorized().is_none(), "not renewed: {error:?}");
            error
                .api()
                .unwrap_or_else(|| panic!("{text}"))
                .status()
                .as_u16()
        }
    };
    assert_eq!(status, 401);
    assert_eq!(seen.all().last().unwrap().0, "Bearer callers-stale");
    assert_eq!(idp.calls(), 2, "no renewal of the caller's credential");
}

/// `TokenSource` ("Refreshed before it expires"): a credential that says
/// when it expires is refreshed "once 4/5 of the lifetime it had left when
/// installed has passed ... so a known expiry never costs a 401". 100 s
/// credentials, a request every second for 1000 s: no request is sent
/// with an expired credential, and about one IdP call per 80 s.
#[tokio::test(start_paused = true)]
async fn credentials_of_known_expiry_never_cost_a_401_under_steady_traffic() {
    let issued: Arc<Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let idp = {
        let issued = issued.clone();
        Idp::new(move |n, _| {
            let secret = format!("tok-{n}");
            issued
                .lock()
                .unwrap()
                .insert(secret.clone(), Instant::now() + 100 * SECOND);
            let credential = Credential::new(&secret).unwrap().expires_in(100 * SECOND);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(credential)
            })
        })
    };
    let rejected = Arc::new(AtomicU32::new(0));
    let api = {
        let (issued, rejected) = (issued.clone(), rejected.clone());
        upstream(move |secret| {
            if Instant::now() < issued.lock().unwrap()[secret] {
                reply(200, &[], "")
            } else {
                rejected.fetch_add(1, SeqCst);
                reply(401, &[], "")
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    for _ in 0..1000 {
        let response = client.clone().oneshot(get("/x")).await.unwrap();
        assert_eq!(response.status(), 200);
        tokio::time::advance(Duration::from_millis(997)).await;
    }
    assert_eq!(rejected.load(SeqCst), 0);
    let calls = idp.calls();
    assert!(
        (12..=14).contains(&calls),
        "{calls} IdP calls over 1000 s of 100 s credentials"
    );
}

/// `TokenSource` ("Refreshed before it expires"): "A request made after
/// the expiry, when nothing refreshed the credential in time (an idle
/// client), waits for the refresh rather than send a credential known to
/// have expired"; 20 such requests share that one refresh.
#[tokio::test(start_paused = true)]
async fn after_an_idle_expiry_requests_wait_for_one_refresh_and_never_send_the_expired_credential()
{
    let idp = Idp::new(|n, _| {
        let credential = Credential::new(&format!("tok-{n}"))
            .unwrap()
            .expires_in(60 * SECOND);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(credential)
        })
    });
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = sent.clone();
    let api = upstream(move |secret| {
        log.lock().unwrap().push(secret.to_owned());
        reply(200, &[], "")
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    client.clone().oneshot(get("/x")).await.unwrap();
    tokio::time::advance(HOUR).await;
    for result in join_all((0..20).map(|_| client.clone().oneshot(get("/x")))).await {
        assert_eq!(result.unwrap().status(), 200);
    }
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 21);
    assert_eq!(sent[0], "tok-1");
    assert!(sent[1..].iter().all(|s| s == "tok-2"), "{sent:?}");
    assert_eq!(idp.calls(), 2);
}

/// `TokenSource` ("Refreshed before it expires"): "Requests keep using
/// the valid credential meanwhile"; "if the refresh fails (or a failure's
/// backoff runs), it goes with the old one". A refresh ahead that hangs
/// never holds a request before the expiry, and after it a request waits
/// at most the refresh timeout (10 s).
#[tokio::test(start_paused = true)]
async fn a_hanging_refresh_ahead_never_holds_requests_before_the_expiry() {
    let idp = Idp::new(|n, _| {
        if n > 1 {
            return hang();
        }
        let credential = Credential::new("tok-1").unwrap().expires_in(100 * SECOND);
        Box::pin(async move { Ok(credential) })
    });
    let api = upstream(|secret| {
        assert_eq!(secret, "tok-1");
        reply(200, &[], "")
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    client.clone().oneshot(get("/x")).await.unwrap();
    // Past 4/5 of the life: the refresh ahead starts and hangs.
    tokio::time::advance(85 * SECOND).await;
    for _ in 0..10 {
        let before = Instant::now();
        client.clone().oneshot(get("/x")).await.unwrap();
        assert_eq!(
            before.elapsed(),
            Duration::ZERO,
            "a request before the expiry waited"
        );
        tokio::time::advance(SECOND).await;
    }
    assert_eq!(idp.refreshes(), 1);
    // Past the expiry (the ahead refresh timed out at 95 s; its backoff ran
    // out): a request waits at most one refresh timeout.
    tokio::time::advance(10 * SECOND).await;
    let before = Instant::now();
    client.clone().oneshot(get("/x")).await.unwrap();
    assert!(before.elapsed() <= 11 * SECOND, "{:?}", before.elapsed());
}

/// A caching source (cloud metadata servers, sidecars) hands out its
/// cached token, same bytes and expiry, until 60 s before that expiry,
/// then a new one. 300 s tokens, a request a second for 900 s, the refresh
/// ahead at 240 s gets the new one: `TokenSource`'s "a known expiry never
/// costs a 401" holds, no request fails.
#[tokio::test(start_paused = true)]
async fn a_caching_source_that_renews_a_minute_early_costs_nothing() {
    let lifetime = 300 * SECOND;
    // The expiry of every token issued (the server's view).
    let issued: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(vec![Instant::now() + lifetime]));
    let idp = {
        let issued = issued.clone();
        Idp::new(move |_, _| {
            let now = Instant::now();
            let mut issued = issued.lock().unwrap();
            let mut expires = *issued.last().unwrap();
            if expires - now <= 60 * SECOND {
                expires = now + lifetime;
                issued.push(expires);
            }
            let credential = Credential::new(&format!("tok-{}", issued.len()))
                .unwrap()
                .expires_in(expires - now);
            Box::pin(async move { Ok(credential) })
        })
    };
    let rejected = Arc::new(AtomicU32::new(0));
    let api = {
        let (issued, rejected) = (issued.clone(), rejected.clone());
        upstream(move |secret| {
            let n: usize = secret.strip_prefix("tok-").unwrap().parse().unwrap();
            if Instant::now() < issued.lock().unwrap()[n - 1] {
                reply(200, &[], "")
            } else {
                rejected.fetch_add(1, SeqCst);
                reply(401, &[], "")
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    let mut failed = 0;
    for _ in 0..900 {
        let result = client.clone().oneshot(get("/x")).await;
        if !matches!(result, Ok(ref response) if response.status() == 200) {
            failed += 1;
        }
        tokio::time::advance(SECOND).await;
    }
    assert_eq!(
        (failed, rejected.load(SeqCst)),
        (0, 0),
        "{} IdP calls",
        idp.calls()
    );
    assert!(
        issued.lock().unwrap().len() >= 3,
        "renewed across the 900 s"
    );
}

/// `auth` module docs (`Unauthorized::status`): "a gRPC `UNAUTHENTICATED`
/// arrives on a 200, its code in `rejection`". gRPC's 401 (a trailers-only
/// `UNAUTHENTICATED`) whose refresh fails: `RefreshFailed`, status 200,
/// and in the stack the rejection carries the gRPC code.
#[cfg(feature = "grpc")]
#[tokio::test]
async fn a_grpc_rejection_whose_refresh_fails_is_typed_as_documented() {
    for stack in [false, true] {
        let idp = Idp::new(|n, _| {
            if n == 1 {
                ok("tok-1")
            } else {
                err("token endpoint down")
            }
        });
        let headers = [
            ("content-type", "application/grpc"),
            ("grpc-status", "16"),
            ("grpc-message", "token expired"),
        ];
        let reject: Reject = Arc::new(move |_| reply(200, &headers, ""));
        let (addr, _) = api(valid(&[]), "authorization", reject).await;
        let request = Request::post(format!("http://{addr}/echo.Echo/Say"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
            .unwrap();
        let error = client(stack, AuthLayer::new(idp.clone()))
            .oneshot(request)
            .await
            .unwrap_err();
        let unauthorized = error.unauthorized().unwrap_or_else(|| panic!("{error:?}"));
        assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
        assert_eq!(unauthorized.status(), Some(StatusCode::OK));
        if stack {
            let code = unauthorized
                .rejection()
                .and_then(|r| r.grpc_status())
                .map(|s| s.code());
            assert_eq!(code, Some(tonic::Code::Unauthenticated), "{error:?}");
        }
    }
}

/// `TokenSource` ("When the token endpoint fails"): "A token endpoint that
/// is down gets at most one call per backoff step from each layer, never
/// one per request"; the pitfall table: a renewed credential rejected on
/// its re-send counts as a failed refresh. A server that rejects every
/// credential, met by 1000 requests over 100 s: the backoff steps (1 s
/// doubling to 30 s) allow about a dozen IdP calls; every request ends.
#[tokio::test(start_paused = true)]
async fn a_server_rejecting_every_credential_costs_one_idp_call_per_backoff_step() {
    let idp = numbered();
    let api = upstream(|_| {
        reply(
            401,
            &[("www-authenticate", r#"Bearer error="invalid_token""#)],
            "",
        )
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(api);
    let mut sends = 0;
    for _ in 0..1000 {
        let request = Request::post("/x")
            .body(Full::new(Bytes::from_static(b"p")))
            .unwrap();
        match client.clone().oneshot(request).await {
            Ok(response) => {
                assert_eq!(response.status(), 401);
                sends += response
                    .extensions()
                    .get::<AuthReport>()
                    .map_or(1, |r| r.sends());
            }
            Err(error) => {
                let reason = error.unauthorized().unwrap().reason();
                assert!(
                    matches!(
                        reason,
                        AuthFailure::RefreshBackingOff | AuthFailure::RefreshFailed
                    ),
                    "{reason:?}"
                );
                sends += 1;
            }
        }
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    // Steps of at least 0.5, 1, 2, 4, 8, then 15 s within 100 s: at most a
    // dozen refreshes, plus the first credential.
    let calls = idp.calls();
    assert!(calls <= 14, "{calls} IdP calls for 1000 rejected requests");
    assert!(sends <= 1000 + 14, "{sends} sends");
}

/// `rejects_credential`: a response "of `status` and `headers`" rejects
/// the credential; the head decides. A 401 whose body never ends (the
/// server stalls after the headers) is renewed by the layer alone without
/// reading it: the request ends, 200, with the new credential.
#[tokio::test]
async fn a_401_with_a_body_that_never_ends_is_renewed_at_once_alone() {
    let addr = serve(|req: Request<hyper::body::Incoming>| async move {
        if req.headers()["authorization"] == "Bearer tok-2" {
            return response(200, &[], "ok");
        }
        let stalled = tokio_stream::pending::<Result<http_body::Frame<Bytes>, BoxError>>();
        let stalled = http_body_util::StreamBody::new(stalled);
        Response::builder()
            .status(401)
            .body(stalled.boxed())
            .unwrap()
    })
    .await;
    let idp = numbered();
    let renewed = client(false, AuthLayer::new(idp.clone())).oneshot(post(addr, "x"));
    let response = support::bounded("stalled 401", renewed).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(support::body_bytes(response.into_body()).await, "ok");
    assert_eq!(idp.calls(), 2);
}

/// The pitfall table: "one refresh per rejected credential, single-flight";
/// "a request rejected with an older one than the current just goes again
/// with the current one"; a re-send rejected "is returned as it is, never
/// renewed again". 400 requests on four threads, a server that revokes the
/// current token every 40 accepted requests: every request ends, none is
/// sent more than twice, and the IdP is called about once per revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_across_repeated_revocations_end_once_with_one_refresh_each() {
    let newest: Arc<Mutex<Option<String>>> = Arc::default();
    let revocations = Arc::new(AtomicU32::new(0));
    let idp = {
        let newest = newest.clone();
        Idp::new(move |n, _| {
            let newest = newest.clone();
            Box::pin(async move {
                // The IdP takes a moment: other requests meet the refresh.
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                let secret = format!("tok-{n}");
                *newest.lock().unwrap() = Some(secret.clone());
                Ok(Credential::new(&secret).unwrap())
            })
        })
    };
    let accepted = Arc::new(AtomicU32::new(0));
    let per_body: Arc<Mutex<std::collections::HashMap<Bytes, u32>>> = Arc::default();
    let addr = {
        let (newest, revocations, accepted, per_body) = (
            newest.clone(),
            revocations.clone(),
            accepted.clone(),
            per_body.clone(),
        );
        serve(move |req: Request<hyper::body::Incoming>| {
            let (newest, revocations, accepted, per_body) = (
                newest.clone(),
                revocations.clone(),
                accepted.clone(),
                per_body.clone(),
            );
            async move {
                let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
                let body = support::body_bytes(req.into_body()).await;
                *per_body.lock().unwrap().entry(body.clone()).or_default() += 1;
                let mut newest = newest.lock().unwrap();
                if newest
                    .as_deref()
                    .is_some_and(|n| auth == format!("Bearer {n}"))
                {
                    if accepted.fetch_add(1, SeqCst) % 40 == 39 {
                        *newest = None;
                        revocations.fetch_add(1, SeqCst);
                    }
                    response(200, &[], body)
                } else {
                    response(
                        401,
                        &[("www-authenticate", r#"Bearer error="invalid_token""#)],
                        "",
                    )
                }
            }
        })
        .await
    };
    let auth = AuthLayer::new(idp.clone())
        .refresh_backoff(Duration::from_millis(20), Duration::from_millis(40));
    let requests = (0..400u32).map(|i| {
        let request = Request::post(format!("http://{addr}/x"))
            .body(Full::new(Bytes::from(format!("req-{i}"))))
            .unwrap();
        client(i % 2 == 1, auth.clone()).oneshot(request)
    });
    for result in join_all(requests).await {
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                assert!(matches!(status, 200 | 401), "{status}");
            }
            Err(error) => assert!(
                error.unauthorized().is_some() || error.api().is_some_and(|a| a.status() == 401),
                "{error:?}"
            ),
        }
    }
    let per_body = per_body.lock().unwrap();
    assert_eq!(per_body.len(), 400, "every request sent");
    let most = per_body.values().copied().max().unwrap();
    assert!(most <= 2, "a request was sent {most} times");
    let (calls, revoked) = (idp.calls(), revocations.load(SeqCst));
    assert!(
        calls <= revoked + 2,
        "{calls} IdP calls for {revoked} revocations"
    );
}

/// `AuthLayer::metrics`: "Records credential loads
/// (`tower_api_errors.auth.refreshes`)": the first credential, one failed
/// refresh, then 19 requests in its backoff count nothing.
#[cfg(feature = "opentelemetry")]
#[tokio::test]
async fn the_refresh_metric_counts_loads_not_requests() {
    let reader = support::MetricsReader::new();
    let idp = Idp::new(|n, _| if n == 1 { ok("tok-1") } else { err("down") });
    let (addr, _) = api(valid(&[]), "authorization", plain_401()).await;
    let auth = AuthLayer::new(idp.clone())
        .refresh_backoff(HOUR, HOUR)
        .metrics(reader.metrics());
    for _ in 0..20 {
        let _ = client(false, auth.clone()).oneshot(post(addr, "x")).await;
    }
    assert_eq!(idp.calls(), 2);
    assert_eq!(
        reader.counter_points(
            "tower_api_errors.auth.refreshes",
            "tower_api_errors.auth.outcome"
        ),
        ["failure 1", "success 1"]
    );
}

/// `crate::context`'s contract: "A layer in between that changed the
/// request ... breaks the match, and the layer below builds what it needs
/// itself"; "A layer behaves the same alone and in `ApiErrorsLayer`". A
/// layer between the retry and auth layers that sets an extension and the
/// version: the auth layer's re-send after a 401 went out without either
/// (rebuilt from the retry layer's copy), though alone it kept both.
#[tokio::test(start_paused = true)]
async fn a_resend_keeps_the_extension_and_version_a_layer_between_set() {
    #[derive(Clone, Debug, PartialEq)]
    struct Marker;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let api = tower::service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
        let bearer = request.headers()["authorization"].clone();
        let sent = (
            request.extensions().get::<Marker>().cloned(),
            request.version(),
        );
        log.lock().unwrap().push(sent);
        let status = if bearer == "Bearer tok_new" { 200 } else { 401 };
        async move { Ok::<_, Infallible>(reply(status, &[], "")) }
    });
    let client = ServiceBuilder::new()
        .layer(tower_api_errors::RetryLayer::new(support::quick_exact()))
        .map_request(|mut request: Request<ReplayBody<Full<Bytes>>>| {
            request.extensions_mut().insert(Marker);
            *request.version_mut() = http::Version::HTTP_2;
            request
        })
        .layer(AuthLayer::new(support::Rotating::new(Duration::ZERO)))
        .service(api);
    let answer = client.oneshot(get("http://api.test/x")).await.unwrap();
    assert_eq!(answer.status(), 200);
    let both = (Some(Marker), http::Version::HTTP_2);
    assert_eq!(*seen.lock().unwrap(), [both.clone(), both]);
}
