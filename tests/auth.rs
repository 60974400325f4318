//! The auth layer: one single-flight refresh per rejected credential, one
//! re-send with the identical body, typed ends, and no credential in any
//! output. Ordering with `tower_test` mocks and paused time; the wire with
//! real hyper on loopback.

mod support;

use bytes::Bytes;
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{
    AuthFailure, AuthLayer, AuthReport, Credential, Renewal, TokenFuture, TokenSource,
};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy, TpsBudget};
use tower_api_errors::{BoxError, Error, ErrorBodyParseLayer, ErrorKind, RetryReport};
use tower_test::mock;

fn token(secret: &str) -> Credential {
    Credential::new(secret).unwrap()
}

type Refresh = dyn Fn(u32, &Credential) -> Result<Credential, BoxError> + Send + Sync;

/// A token source that counts its calls: `current` gives `first`;
/// `refresh` (the n-th, from 1) answers with `refresh(n, rejected)`, after
/// a permit from `gate` when there is one, and after `delay`.
struct Source {
    first: &'static str,
    refresh: Box<Refresh>,
    gate: Option<Arc<Semaphore>>,
    delay: Duration,
    currents: Arc<AtomicU32>,
    refreshes: Arc<AtomicU32>,
}

impl Source {
    /// `current` gives "t1"; refresh n gives "t{n+1}".
    fn numbered() -> Self {
        Source::new("t1", |n, _| Ok(token(&format!("t{}", n + 1))))
    }

    fn new(
        first: &'static str,
        refresh: impl Fn(u32, &Credential) -> Result<Credential, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Source {
            first,
            refresh: Box::new(refresh),
            gate: None,
            delay: Duration::ZERO,
            currents: Arc::default(),
            refreshes: Arc::default(),
        }
    }

    fn gated(mut self, gate: Arc<Semaphore>) -> Self {
        self.gate = Some(gate);
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn counters(&self) -> (Arc<AtomicU32>, Arc<AtomicU32>) {
        (self.currents.clone(), self.refreshes.clone())
    }
}

impl TokenSource for Source {
    fn current(&self) -> TokenFuture<'_> {
        self.currents.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(token(self.first)) })
    }

    fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            (self.refresh)(n, rejected)
        })
    }
}

fn status<B: Default>(code: u16) -> Response<B> {
    Response::builder().status(code).body(B::default()).unwrap()
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

fn authorization<B>(request: &Request<B>) -> String {
    request.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Every credential the upstream saw, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// An upstream that accepts only `Bearer <valid>`, and records what it saw.
fn upstream_accepting(
    valid: &'static str,
    seen: Seen,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, BoxError>> + Send,
> + Clone
       + Send {
    service_fn(move |request: Request<Full<Bytes>>| {
        let seen = seen.clone();
        async move {
            let credential = authorization(&request);
            let accepted = credential == format!("Bearer {valid}");
            let body = request.into_body().collect().await?.to_bytes();
            seen.lock()
                .unwrap()
                .push(format!("{credential} {}", String::from_utf8_lossy(&body)));
            Ok::<_, BoxError>(if accepted {
                Response::new(Full::new(body))
            } else {
                status(401)
            })
        }
    })
}

/// Yields until `done` holds (a bounded number of times): lets spawned
/// requests run up to their next wait, without sleeping.
async fn settle(done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the requests never got there");
}

/// 200 POSTs with distinct bodies, all sent with the first credential at
/// once; each response must be a 200 sent twice after one refresh. Returns
/// the responses.
async fn two_hundred_rejected_then_resent<S>(client: S) -> Vec<Response<Full<Bytes>>>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let mut requests = JoinSet::new();
    for i in 0..200 {
        let request = Request::post("/items").body(Full::new(Bytes::from(format!("#{i}"))));
        requests.spawn(client.clone().oneshot(request.unwrap()));
    }
    let mut responses = Vec::new();
    while let Some(result) = requests.join_next().await {
        let response = result.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        let report = *response.extensions().get::<AuthReport>().unwrap();
        assert_eq!(
            (report.sends(), report.renewal()),
            (2, Some(Renewal::Refreshed))
        );
        responses.push(response);
    }
    responses
}

/// One first credential, one refresh, and each body sent with t1, then
/// again, the same, with t2.
fn assert_one_refresh_and_identical_resends(
    (currents, refreshes): (Arc<AtomicU32>, Arc<AtomicU32>),
    seen: &Seen,
) {
    assert_eq!(currents.load(Ordering::SeqCst), 1, "one first credential");
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "exactly one refresh");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 400);
    for i in 0..200 {
        assert!(
            seen.contains(&format!("Bearer t1 #{i}")),
            "#{i} was rejected with t1"
        );
        assert!(
            seen.contains(&format!("Bearer t2 #{i}")),
            "#{i} was re-sent with t2, same body"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn two_hundred_requests_rejected_with_one_credential_share_one_refresh() {
    // The refresh takes a (paused) 100 ms: every request is rejected with
    // t1 before it ends.
    let source = Source::numbered().delayed(Duration::from_millis(100));
    let counters = source.counters();
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream_accepting("t2", seen.clone()));
    let responses = two_hundred_rejected_then_resent(client).await;
    for response in responses {
        support::body_bytes(response.into_body()).await;
    }
    assert_one_refresh_and_identical_resends(counters, &seen);
}

#[tokio::test]
async fn a_request_that_sent_an_older_credential_goes_again_without_a_refresh() {
    let (service, mut handle) = mock::pair::<Request<Full<Bytes>>, Response<Full<Bytes>>>();
    handle.allow(100);
    let source = Source::numbered();
    let (_, refreshes) = source.counters();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(service);

    // A and B are both in flight with t1.
    let a = tokio::spawn(client.clone().oneshot(get("/a")));
    let (request_a, answer_a) = handle.next_request().await.unwrap();
    assert_eq!(authorization(&request_a), "Bearer t1");
    let b = tokio::spawn(client.clone().oneshot(get("/b")));
    let (request_b, answer_b) = handle.next_request().await.unwrap();
    assert_eq!(authorization(&request_b), "Bearer t1");

    // B is rejected first: one refresh, B goes again with t2.
    answer_b.send_response(status(401));
    let (again_b, answer) = handle.next_request().await.unwrap();
    assert_eq!(
        (again_b.uri().path(), authorization(&again_b).as_str()),
        ("/b", "Bearer t2")
    );
    answer.send_response(status(200));
    let b = b.await.unwrap().unwrap();
    assert_eq!(
        b.extensions().get::<AuthReport>().unwrap().renewal(),
        Some(Renewal::Refreshed)
    );

    // A's t1 is rejected now: t2 is already current, so no refresh.
    answer_a.send_response(status(401));
    let (again_a, answer) = handle.next_request().await.unwrap();
    assert_eq!(
        (again_a.uri().path(), authorization(&again_a).as_str()),
        ("/a", "Bearer t2")
    );
    answer.send_response(status(200));
    let a = a.await.unwrap().unwrap();
    let report = a.extensions().get::<AuthReport>().unwrap();
    assert_eq!(
        (report.sends(), report.renewal()),
        (2, Some(Renewal::AlreadyRenewed))
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_ends_in_one_typed_error_without_a_loop() {
    let source = Source::new("t1", |_, _| {
        Err("token endpoint answered 400 invalid_client".into())
    });
    let (_, refreshes) = source.counters();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let always_401 = service_fn(move |_: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, BoxError>(status::<Full<Bytes>>(401)) }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(AuthLayer::new(source))
        .service(always_401);

    for round in 1..=2 {
        // Past the failed refresh's backoff (tests/auth_refresh.rs: within it).
        tokio::time::advance(Duration::from_secs(30)).await;
        let error = client.clone().oneshot(get("/me")).await.unwrap_err();
        let Error::Unauthorized(unauthorized) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
        assert_eq!(unauthorized.status(), Some(StatusCode::UNAUTHORIZED));
        let source = std::error::Error::source(&error).unwrap();
        assert_eq!(
            source.to_string(),
            "token endpoint answered 400 invalid_client"
        );
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            error.retries().attempts(),
            1,
            "an Unauthorized is not retried"
        );
        assert_eq!(error.auth_report().unwrap().sends(), 1);
        assert_eq!(
            error.to_string(),
            "unauthorized (401 Unauthorized): the credential was rejected and refreshing it failed: \
             token endpoint answered 400 invalid_client (GET /me)"
        );
        // One send and one refresh per request: no loop.
        assert_eq!(calls.load(Ordering::SeqCst), round);
        assert_eq!(refreshes.load(Ordering::SeqCst), round);
    }
}

#[tokio::test]
async fn a_refresh_that_gives_back_the_rejected_credential_ends_in_one_error() {
    let source = Source::new("t1", |_, rejected| Ok(rejected.clone()));
    let (_, refreshes) = source.counters();
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream_accepting("t2", seen.clone()));

    let error = client.oneshot(get("/me")).await.unwrap_err();
    let unauthorized = error.unauthorized().unwrap();
    assert_eq!(unauthorized.reason(), AuthFailure::SameCredential);
    assert!(std::error::Error::source(unauthorized).is_none());
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer t1 "],
        "sent once, never with the same credential again"
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_second_rejection_after_a_refresh_is_returned_as_it_is() {
    let source = Source::numbered();
    let (_, refreshes) = source.counters();
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream_accepting("never", seen.clone()));

    // A raw client: the 401 response itself.
    let response = client.clone().oneshot(get("/me")).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.extensions().get::<AuthReport>().unwrap().sends(),
        2
    );
    assert_eq!(*seen.lock().unwrap(), ["Bearer t1 ", "Bearer t2 "]);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);

    // Over the parse layer and under the retry layer: the typed 401, once.
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(AuthLayer::new(Source::numbered()))
        .layer(ErrorBodyParseLayer::new())
        .service(service_fn(|_: Request<ReplayBody<Full<Bytes>>>| async {
            let body = r#"{"error": {"code": 401, "message": "Token expired"}}"#;
            Ok::<_, BoxError>(
                Response::builder()
                    .status(401)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
        }));
    let error = client.oneshot(get("/me")).await.unwrap_err();
    let api = error.api().unwrap();
    assert_eq!(
        (api.status(), api.message()),
        (StatusCode::UNAUTHORIZED, "Token expired")
    );
    assert!(api.auth_report().unwrap().resent());
    assert_eq!(error.retries().attempts(), 1);
    assert!(
        error
            .to_string()
            .contains("sent again with a renewed credential"),
        "{error}"
    );
}

/// A 403 (or 400) counts when `WWW-Authenticate` says the token is
/// invalid (RFC 6750 §3.1); a plain 403 is an answer, not a rejection.
#[tokio::test]
async fn invalid_token_challenges_are_rejections_and_plain_403s_are_not() {
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Source::numbered()))
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            let fresh = authorization(&request) == "Bearer t2";
            Ok::<_, BoxError>(match (request.uri().path(), fresh) {
                ("/challenge", false) => Response::builder()
                    .status(403)
                    // RFC 6750 §3's example.
                    .header("www-authenticate", r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#)
                    .body(Full::<Bytes>::default())
                    .unwrap(),
                ("/forbidden", _) => status(403),
                _ => status(200),
            })
        }));
    let response = client.clone().oneshot(get("/challenge")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.extensions().get::<AuthReport>().unwrap().resent());
    let response = client.oneshot(get("/forbidden")).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.extensions().get::<AuthReport>().is_none());

    // Over the parse layer (which keeps no headers): an OAuth2-shaped body
    // whose code is `invalid_token` (RFC 6750 §3.1) counts.
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Source::numbered()))
        .layer(ErrorBodyParseLayer::new())
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            Ok::<_, BoxError>(if authorization(&request) == "Bearer t2" {
                status(200)
            } else {
                let body = r#"{"error": "invalid_token", "error_description": "The access token expired"}"#;
                Response::builder().status(400).body(Full::new(Bytes::from(body))).unwrap()
            })
        }));
    let response = client.oneshot(get("/typed")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.extensions().get::<AuthReport>().unwrap().resent());
}

/// A `grpc-status` header is gRPC's verdict only on a trailers-only
/// response (HTTP 200): on any other status the HTTP status and challenge
/// decide (`rejects_credential`'s docs, "a gRPC trailers-only response
/// (HTTP 200)"), the same for the layer alone and over the parse layer,
/// whose typed error keeps the gRPC status.
#[cfg(feature = "grpc")]
#[tokio::test]
async fn a_grpc_status_on_a_non_200_is_judged_by_the_http_status_alone_and_over_the_parse_layer() {
    // (HTTP status, grpc-status, renewed)
    for (code, grpc, renewed) in [
        (503, "16", false),
        (401, "7", true),
        (401, "0", true),
        (200, "16", true),
        (200, "7", false),
    ] {
        for parse in [false, true] {
            let source = Source::numbered();
            let (_, refreshes) = source.counters();
            let upstream = service_fn(move |_: Request<Full<Bytes>>| async move {
                let response = Response::builder()
                    .status(code)
                    .header("content-type", "application/grpc")
                    .header("grpc-status", grpc);
                Ok::<_, BoxError>(response.body(Full::<Bytes>::default()).unwrap())
            });
            let auth = AuthLayer::new(source);
            let _ = match parse {
                false => ServiceBuilder::new()
                    .layer(auth)
                    .service(upstream)
                    .oneshot(get("/rpc"))
                    .await
                    .map(drop),
                true => ServiceBuilder::new()
                    .layer(auth)
                    .layer(ErrorBodyParseLayer::new())
                    .service(upstream)
                    .oneshot(get("/rpc"))
                    .await
                    .map(drop),
            };
            let renewals = refreshes.load(Ordering::SeqCst);
            assert_eq!(
                renewals,
                u32::from(renewed),
                "HTTP {code}, grpc-status {grpc}, parse layer: {parse}"
            );
        }
    }
}

/// Which answers reject the credential, over a real server on loopback
/// that answers each path the same whatever the token: a rejection is
/// renewed once (one refresh, a re-send rejected again); any other answer
/// is returned as it is, with no refresh. RFC 6750 §3.1: `invalid_token`
/// asks for a new token; `insufficient_scope` says the token is good but
/// lacks a scope, which a refresh does not give, whatever the status
/// (servers send it with a 401 too).
#[tokio::test]
async fn which_challenges_reject_the_credential() {
    // (path, status, WWW-Authenticate, OAuth2 body code, renewed)
    const ROWS: &[(&str, u16, &str, &str, bool)] = &[
        (
            "/expired",
            401,
            r#"Bearer error="invalid_token""#,
            "invalid_token",
            true,
        ),
        ("/bare-401", 401, "", "", true),
        ("/basic-401", 401, r#"Basic realm="api""#, "", true),
        (
            "/scope-401",
            401,
            r#"Bearer realm="api", error="insufficient_scope", scope="admin""#,
            "insufficient_scope",
            false,
        ),
        (
            "/scope-401-unquoted",
            401,
            "Bearer error=insufficient_scope",
            "insufficient_scope",
            false,
        ),
        (
            "/invalid-403",
            403,
            r#"Bearer error="invalid_token""#,
            "invalid_token",
            true,
        ),
        (
            "/scope-403",
            403,
            r#"Bearer error="insufficient_scope""#,
            "insufficient_scope",
            false,
        ),
        ("/plain-403", 403, "", "", false),
        // The challenge alone, the body without the code (Spring
        // Security, most resource servers): the header decides, over the
        // parse layer too.
        (
            "/scope-401-challenge-only",
            401,
            r#"Bearer error="insufficient_scope", scope="admin""#,
            "",
            false,
        ),
        (
            "/invalid-403-challenge-only",
            403,
            r#"Bearer error="invalid_token""#,
            "",
            true,
        ),
        (
            "/request-400",
            400,
            r#"Bearer error="invalid_request""#,
            "invalid_request",
            false,
        ),
    ];
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let row = ROWS.iter().find(|row| row.0 == request.uri().path());
        let &(_, status, challenge, code, _) = row.unwrap();
        let headers: &[(&str, &str)] = match challenge {
            "" => &[],
            challenge => &[("www-authenticate", challenge)],
        };
        let body = match code {
            "" => r#"{"message": "no"}"#.to_owned(),
            code => format!(r#"{{"error": "{code}", "error_description": "no"}}"#),
        };
        support::response(status, headers, body)
    })
    .await;
    for &(path, status, _, _, renewed) in ROWS {
        let uri = format!("http://{addr}{path}");
        // A raw client: the answer as a response, with the challenge.
        let source = Source::numbered();
        let (_, refreshes) = source.counters();
        let client = ServiceBuilder::new()
            .layer(AuthLayer::new(source))
            .service(support::client::<Full<Bytes>>());
        let response = client.oneshot(get(&uri)).await.unwrap();
        let report = response.extensions().get::<AuthReport>();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            report.map(AuthReport::sends),
            renewed.then_some(2),
            "{path}"
        );
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            u32::from(renewed),
            "{path}"
        );

        // Over the parse layer: the challenge it kept decides, else the
        // body's code.
        let source = Source::numbered();
        let (_, refreshes) = source.counters();
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(AuthLayer::new(source))
            .layer(ErrorBodyParseLayer::new())
            .service(support::client::<ReplayBody<Full<Bytes>>>());
        let error = client.oneshot(get(&uri)).await.unwrap_err();
        let api = error.api().unwrap_or_else(|| panic!("{path}: {error}"));
        assert_eq!(api.status(), status, "{path}");
        let report = api.auth_report();
        assert_eq!(report.map(|r| r.sends()), renewed.then_some(2), "{path}");
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            u32::from(renewed),
            "{path}"
        );
    }
}

/// RFC 9110 §11.2: an auth-param's value is a token or a quoted-string;
/// text inside a quoted-string (a realm, an `error_description`) is not a
/// parameter. A 403 that says `error="insufficient_scope"` must not be
/// taken for a rejected credential (RFC 6750 §3.1) because its
/// description, which comes first, mentions `error = invalid_token`; and
/// a 401 whose realm mentions `error=insufficient_scope` while its real
/// `error` is `invalid_token` must be renewed.
#[test]
fn an_error_inside_a_quoted_string_is_not_the_error_parameter() {
    use tower_api_errors::auth::rejects_credential;
    let mut forbidden = http::HeaderMap::new();
    forbidden.insert(
        "www-authenticate",
        r#"Bearer error_description="the token is valid it is not error = invalid_token, but it lacks scope admin", error="insufficient_scope", scope="admin""#
            .parse()
            .unwrap(),
    );
    let mut unauthorized = http::HeaderMap::new();
    unauthorized.insert(
        "www-authenticate",
        r#"Bearer realm="tokens lacking scope x get error=insufficient_scope, others not", error="invalid_token""#
            .parse()
            .unwrap(),
    );
    let verdicts = (
        rejects_credential(StatusCode::FORBIDDEN, &forbidden),
        rejects_credential(StatusCode::UNAUTHORIZED, &unauthorized),
    );
    assert_eq!(
        verdicts,
        (false, true),
        "(403 insufficient_scope renewed?, 401 invalid_token renewed?)"
    );
}

#[tokio::test]
async fn the_re_send_draws_nothing_from_the_retry_budget() {
    // A budget with nothing in it: any retry would be refused.
    let policy = RetryPolicy::default().budget(TpsBudget::new(Duration::from_secs(1), 0, 0.0));
    let seen = Seen::default();
    let upstream = upstream_accepting("t2", seen.clone());
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(AuthLayer::new(Source::numbered()))
        .service(service_fn(
            move |request: Request<ReplayBody<Full<Bytes>>>| {
                let (parts, body) = request.into_parts();
                let mut upstream = upstream.clone();
                async move {
                    let body = Full::new(body.collect().await?.to_bytes());
                    upstream.call(Request::from_parts(parts, body)).await
                }
            },
        ));
    let response = client.oneshot(get("/me")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.extensions().get::<AuthReport>().unwrap().resent());
    assert!(
        response.extensions().get::<RetryReport>().is_none(),
        "one attempt for the retry layer"
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_credential_the_caller_set_is_kept_unless_told_otherwise() {
    let seen = Seen::default();
    let upstream = upstream_accepting("t2", seen.clone());
    let mine = || {
        Request::get("/me")
            .header("authorization", "Bearer mine")
            .body(Full::default())
            .unwrap()
    };

    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Source::numbered()))
        .service(upstream.clone());
    let response = client.oneshot(mine()).await.unwrap();
    assert_eq!(response.status(), 401, "not ours to renew");
    assert_eq!(*seen.lock().unwrap(), ["Bearer mine "]);

    seen.lock().unwrap().clear();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Source::numbered()).override_explicit(true))
        .service(upstream);
    let response = client.oneshot(mine()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(*seen.lock().unwrap(), ["Bearer t1 ", "Bearer t2 "]);
}

#[tokio::test]
async fn an_api_key_header_without_a_scheme() {
    let client = ServiceBuilder::new()
        .layer(
            AuthLayer::new(Source::new("k1", |_, _| Ok(token("k2"))))
                .header(HeaderName::from_static("x-api-key"))
                .no_scheme(),
        )
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            assert!(!request.headers().contains_key("authorization"));
            let key = request.headers()["x-api-key"].clone();
            assert!(key.is_sensitive());
            Ok::<_, BoxError>(status::<Full<Bytes>>(if key == "k2" { 200 } else { 401 }))
        }));
    let response = client.oneshot(get("/me")).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn no_first_credential_means_nothing_is_sent() {
    struct Broken;
    impl TokenSource for Broken {
        fn current(&self) -> TokenFuture<'_> {
            Box::pin(async { Err("credential store unreachable".into()) })
        }
        fn refresh<'a>(&'a self, _: &'a Credential) -> TokenFuture<'a> {
            self.current()
        }
    }
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Broken))
        .service(upstream_accepting("t1", seen.clone()));
    let error = client.oneshot(get("/me")).await.unwrap_err();
    let unauthorized = error.unauthorized().unwrap();
    assert_eq!(
        (unauthorized.reason(), unauthorized.status()),
        (AuthFailure::NoCredential, None)
    );
    assert_eq!(unauthorized.report().sends(), 0);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn cancelling_the_request_that_started_the_refresh_cancels_it_for_no_one() {
    let gate = Arc::new(Semaphore::new(0));
    let source = Source::numbered().gated(gate.clone());
    let (currents, refreshes) = source.counters();
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream_accepting("t2", seen.clone()));

    // A is rejected first and starts the refresh; B joins it.
    let a = tokio::spawn(client.clone().oneshot(get("/a")));
    settle(|| refreshes.load(Ordering::SeqCst) == 1).await;
    let b = tokio::spawn(client.clone().oneshot(get("/b")));
    settle(|| seen.lock().unwrap().len() == 2).await;

    // The caller of A gives up while the refresh is under way.
    a.abort();
    assert!(a.await.unwrap_err().is_cancelled());
    gate.add_permits(1);
    let b = b.await.unwrap().unwrap();
    assert_eq!(b.status(), 200);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);

    // And when every waiting request is gone, the refresh still lands.
    let expiring = Arc::new(Semaphore::new(0));
    let source = Source::numbered().gated(expiring.clone());
    let (_, refreshes) = source.counters();
    seen.lock().unwrap().clear();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream_accepting("t2", seen.clone()));
    let lone = tokio::spawn(client.clone().oneshot(get("/lone")));
    settle(|| refreshes.load(Ordering::SeqCst) == 1).await;
    lone.abort();
    assert!(lone.await.unwrap_err().is_cancelled());
    expiring.add_permits(1);
    // The refresh's task ends on its own; the next request goes with t2 at once.
    let next = client.clone();
    settle(|| expiring.available_permits() == 0).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let response = next.oneshot(get("/next")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.extensions().get::<AuthReport>().is_none(),
        "sent once, with t2"
    );
    assert_eq!(*seen.lock().unwrap(), ["Bearer t1 ", "Bearer t2 "]);
    assert_eq!(
        (
            currents.load(Ordering::SeqCst),
            refreshes.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
}

/// A token source that hangs for ever, and every caller waiting on it gone:
/// the call is not left holding the single-flight slot. It ends at the
/// refresh timeout (10 s) like any failed call, its backoff runs, and the
/// next rejection after it starts a new call that can succeed.
#[tokio::test(start_paused = true)]
async fn a_hanging_refresh_whose_callers_all_gave_up_ends_at_its_timeout() {
    let gate = Arc::new(Semaphore::new(0));
    let source = Source::numbered().gated(gate.clone());
    let (_, refreshes) = source.counters();
    let seen = Seen::default();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream_accepting("t3", seen.clone()));
    let mut callers = JoinSet::new();
    for n in 0..20 {
        callers.spawn(client.clone().oneshot(get(&format!("/{n}"))));
    }
    settle(|| seen.lock().unwrap().len() == 20).await;
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "one call for the 20");
    // Every caller gives up (a timeout of their own, say).
    tokio::time::advance(Duration::from_secs(2)).await;
    callers.abort_all();
    while let Some(ended) = callers.join_next().await {
        assert!(ended.unwrap_err().is_cancelled());
    }
    // Past the refresh timeout: the call's task ends (its failure backed
    // off, 1 s at most); past that backoff, the gate opens.
    tokio::time::advance(Duration::from_secs(9)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    gate.add_permits(1);
    let response = client.clone().oneshot(get("/after")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        2,
        "a new call, not the hung one"
    );
    let report = response.extensions().get::<AuthReport>().unwrap();
    assert_eq!(report.renewal(), Some(Renewal::Refreshed));
}

/// A server on loopback that records what it received: 401 unless the
/// credential is t2, then 201.
async fn recording_server() -> (std::net::SocketAddr, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let addr = support::serve(move |request: Request<hyper::body::Incoming>| {
        let record = record.clone();
        async move {
            let credential = authorization(&request);
            let body = support::body_bytes(request.into_body()).await;
            record
                .lock()
                .unwrap()
                .push(format!("{credential} {}", String::from_utf8_lossy(&body)));
            if credential == "Bearer t2" {
                support::response(201, &[], "created")
            } else {
                support::response(
                    401,
                    &[("www-authenticate", r#"Bearer error="invalid_token""#)],
                    r#"{"error": "invalid_token"}"#,
                )
            }
        }
    })
    .await;
    (addr, seen)
}

#[tokio::test]
async fn a_streamed_post_body_is_re_sent_byte_identical() {
    let (addr, seen) = recording_server().await;

    // Under the retry layer: the auth layer re-sends the retry layer's
    // replay body (a POST without a key: the retry layer would not retry
    // it, but the re-send is not a retry).
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(AuthLayer::new(Source::numbered()))
        .service(support::client::<
            ReplayBody<support::Frames<std::convert::Infallible>>,
        >());
    let body = support::Frames::chunks(&["part-1 ", "part-2 ", "part-3"]);
    let request = Request::post(format!("http://{addr}/upload"))
        .body(body)
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.extensions().get::<AuthReport>().unwrap().sends(),
        2
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "Bearer t1 part-1 part-2 part-3",
            "Bearer t2 part-1 part-2 part-3"
        ]
    );

    // Alone, over a body streamed from another task: wrapped in a
    // ReplayBody by the caller.
    seen.lock().unwrap().clear();
    let (mut sender, body) = http_body_util::channel::Channel::<Bytes, BoxError>::new(1);
    tokio::spawn(async move {
        for chunk in ["alpha ", "beta ", "gamma"] {
            sender
                .send_data(Bytes::from_static(chunk.as_bytes()))
                .await
                .unwrap();
        }
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Source::numbered()))
        .service(support::client::<
            ReplayBody<http_body_util::channel::Channel<Bytes, BoxError>>,
        >());
    let request = Request::post(format!("http://{addr}/upload"))
        .body(ReplayBody::new(body, 1024))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer t1 alpha beta gamma", "Bearer t2 alpha beta gamma"]
    );
}

#[tokio::test]
async fn a_body_too_large_to_replay_is_not_re_sent_and_the_error_says_so() {
    let (addr, seen) = recording_server().await;
    let source = Source::numbered();
    let (_, refreshes) = source.counters();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().max_replay_bytes(4)))
        .layer(AuthLayer::new(source))
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::post(format!("http://{addr}/upload"))
        .body(Full::new(Bytes::from("0123456789")))
        .unwrap();
    let error = client.clone().oneshot(request).await.unwrap_err();
    let unauthorized = error.unauthorized().unwrap();
    assert_eq!(unauthorized.reason(), AuthFailure::BodyNotReplayable);
    assert!(
        error
            .to_string()
            .contains("request body is too large to send again"),
        "{error}"
    );
    assert_eq!(*seen.lock().unwrap(), ["Bearer t1 0123456789"]);

    // The refresh went ahead anyway: the next request goes with t2 at once.
    settle(|| refreshes.load(Ordering::SeqCst) == 1).await;
    let request = Request::post(format!("http://{addr}/upload"))
        .body(Full::new(Bytes::from("0123456789")))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

// Under `ApiErrorsLayer` the auth layer keeps no copy of the request: the
// retry layer's copy serves the re-send after a renewal. The same promises
// hold, checked through that path.

/// `upstream_accepting` under the retry layer (which sends `ReplayBody`).
fn replay_upstream(valid: &'static str, seen: Seen) -> ReplayUpstream {
    let upstream = upstream_accepting(valid, seen);
    tower::util::BoxCloneSyncService::new(service_fn(
        move |request: Request<ReplayBody<Full<Bytes>>>| {
            let (parts, body) = request.into_parts();
            let mut upstream = upstream.clone();
            async move {
                let body = Full::new(body.collect().await?.to_bytes());
                upstream.call(Request::from_parts(parts, body)).await
            }
        },
    ))
}

type ReplayUpstream = tower::util::BoxCloneSyncService<
    Request<ReplayBody<Full<Bytes>>>,
    Response<Full<Bytes>>,
    BoxError,
>;

#[tokio::test(start_paused = true)]
async fn one_layer_stack_two_hundred_rejected_requests_one_refresh_same_bodies() {
    let source = Source::numbered().delayed(Duration::from_millis(100));
    let counters = source.counters();
    let seen = Seen::default();
    // No retry budget at all: the re-sends must draw nothing from it.
    let policy = RetryPolicy::default().budget(TpsBudget::new(Duration::from_secs(1), 0, 0.0));
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(policy)
        .auth(AuthLayer::new(source))
        .client(replay_upstream("t2", seen.clone()));
    for response in two_hundred_rejected_then_resent(client).await {
        assert!(
            response.extensions().get::<RetryReport>().is_none(),
            "one attempt for the retry layer"
        );
    }
    assert_one_refresh_and_identical_resends(counters, &seen);
}

#[tokio::test]
async fn one_layer_stack_a_second_rejection_is_the_answer_and_names_the_request() {
    let seen = Seen::default();
    let source = Source::numbered();
    let (_, refreshes) = source.counters();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .auth(AuthLayer::new(source))
        .client(replay_upstream("never", seen.clone()));
    let error = client.oneshot(get("/me")).await.unwrap_err();
    let api = error.api().expect("the typed 401 of the re-send");
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert!(api.auth_report().unwrap().resent());
    assert_eq!(api.request().unwrap().to_string(), "GET /me");
    assert_eq!(error.retries().attempts(), 1);
    assert_eq!(*seen.lock().unwrap(), ["Bearer t1 ", "Bearer t2 "]);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_layer_stack_typed_ends_name_the_request() {
    // A failed refresh.
    let source = Source::new("t1", |_, _| {
        Err("token endpoint answered 400 invalid_client".into())
    });
    let client = tower_api_errors::ApiErrorsLayer::new()
        .auth(AuthLayer::new(source))
        .client(replay_upstream("t2", Seen::default()));
    let error = client.oneshot(get("/me")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "unauthorized (401 Unauthorized): the credential was rejected and refreshing it failed: \
         token endpoint answered 400 invalid_client (GET /me)"
    );
    assert_eq!(error.auth_report().unwrap().sends(), 1);

    // A body too large to send again: not re-sent, and the error says so.
    let seen = Seen::default();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(RetryPolicy::default().max_replay_bytes(4))
        .auth(AuthLayer::new(Source::numbered()))
        .client(replay_upstream("t2", seen.clone()));
    let request = Request::post("/upload")
        .body(Full::new(Bytes::from("0123456789")))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    let unauthorized = error.unauthorized().unwrap();
    assert_eq!(unauthorized.reason(), AuthFailure::BodyNotReplayable);
    assert_eq!(unauthorized.request().unwrap().to_string(), "POST /upload");
    assert_eq!(*seen.lock().unwrap(), ["Bearer t1 0123456789"]);
}

/// A 503 then a 401: the retry and the renewal each happen once, in that
/// order ("once" is per attempt).
#[tokio::test(start_paused = true)]
async fn one_layer_stack_a_retry_then_a_renewal() {
    let (service, mut handle) =
        mock::pair::<Request<ReplayBody<Full<Bytes>>>, Response<Full<Bytes>>>();
    handle.allow(100);
    let client = tower_api_errors::ApiErrorsLayer::new()
        .auth(AuthLayer::new(Source::numbered()))
        .client(service);
    let call = tokio::spawn(client.oneshot(get("/me")));
    let (first, answer) = handle.next_request().await.unwrap();
    assert_eq!(authorization(&first), "Bearer t1");
    answer.send_response(status(503));
    let (second, answer) = handle.next_request().await.unwrap();
    assert_eq!(authorization(&second), "Bearer t1");
    answer.send_response(status(401));
    let (third, answer) = handle.next_request().await.unwrap();
    assert_eq!(authorization(&third), "Bearer t2");
    answer.send_response(status(200));
    let response = call.await.unwrap().unwrap();
    assert!(response.extensions().get::<AuthReport>().unwrap().resent());
    assert_eq!(
        response
            .extensions()
            .get::<RetryReport>()
            .unwrap()
            .attempts(),
        2,
        "two attempts; the re-send belongs to the second"
    );
}

/// A server on loopback that rejects every credential with a 401 that says
/// "retry" (`x-should-retry: true`, as Stainless-generated APIs send), and
/// counts what it received.
async fn rejecting_server_that_says_retry() -> (std::net::SocketAddr, Arc<AtomicU32>) {
    let sends = Arc::new(AtomicU32::new(0));
    let counter = sends.clone();
    let addr = support::serve(move |_request: Request<hyper::body::Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            support::response(
                401,
                &[
                    ("x-should-retry", "true"),
                    ("content-type", "application/json"),
                ],
                r#"{"error": {"message": "Invalid token", "code": "invalid_token"}}"#,
            )
        }
    })
    .await;
    (addr, sends)
}

/// Issue 24, item 2: when the auth layer's re-send with a renewed
/// credential is rejected again and the server says "retry", the auth
/// promise wins: the retry layer does not retry it: one send and one
/// re-send, nothing more, by hand and in the one-layer stack, over a parse
/// layer and over a raw client. And a token source whose renewed
/// credential the server rejects too is not called once per request: the
/// next calls end at once, typed, while its backoff runs.
#[tokio::test]
async fn a_rejected_re_send_is_not_retried_even_when_the_server_says_retry() {
    type Client = hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        ReplayBody<Full<Bytes>>,
    >;
    type Boxed = tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<()>, Error>;
    fn boxed<S, B>(service: S) -> Boxed
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Error>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        tower::util::BoxCloneSyncService::new(service.map_response(|r| r.map(|_| ())))
    }
    type Build = fn(Client, AuthLayer) -> Boxed;
    let pipelines: [(&str, Build); 3] = [
        ("by hand, over the parse layer", |client, auth| {
            boxed(
                ServiceBuilder::new()
                    .layer(RetryLayer::new(RetryPolicy::default()))
                    .layer(auth)
                    .layer(ErrorBodyParseLayer::new())
                    .service(client),
            )
        }),
        ("by hand, over a raw client", |client, auth| {
            boxed(
                ServiceBuilder::new()
                    .layer(RetryLayer::new(RetryPolicy::default()))
                    .layer(auth)
                    .service(client),
            )
        }),
        ("ApiErrorsLayer", |client, auth| {
            boxed(
                tower_api_errors::ApiErrorsLayer::new()
                    .auth(auth)
                    .client(client),
            )
        }),
    ];
    for (name, build) in pipelines {
        let (addr, sends) = rejecting_server_that_says_retry().await;
        let source = Source::numbered();
        let (_, refreshes) = source.counters();
        let auth = AuthLayer::new(source)
            .refresh_backoff(Duration::from_secs(60), Duration::from_secs(60));
        let client = build(support::client::<ReplayBody<Full<Bytes>>>(), auth);
        {
            let request = get(&format!("http://{addr}/me"));
            let (status, auth, retries) = match client.clone().oneshot(request).await {
                Ok(response) => (
                    response.status(),
                    response.extensions().get::<AuthReport>().copied(),
                    *response.extensions().get::<RetryReport>().unwrap(),
                ),
                Err(error) => (
                    error.api().unwrap().status(),
                    error.auth_report(),
                    error.retries(),
                ),
            };
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
            assert!(auth.unwrap().resent(), "{name}: the re-send was made");
            assert_eq!(retries.attempts(), 1, "{name}: no retry");
            assert_eq!(
                retries.stopped(),
                Some(tower_api_errors::StopReason::NotRetryable),
                "{name}"
            );
            assert_eq!(
                sends.load(Ordering::SeqCst),
                2,
                "{name}: one send, one re-send"
            );
        }
        // Calls 2 to 5: the renewed credential was rejected too, so the
        // next refresh waits its backoff (30-60 s here), and a rejection
        // meanwhile ends at once, typed: one send, no refresh, no re-send.
        for call in 2..=5 {
            let request = get(&format!("http://{addr}/me"));
            let error = client.clone().oneshot(request).await.unwrap_err();
            let unauthorized = error.unauthorized().expect("typed");
            assert_eq!(unauthorized.reason(), AuthFailure::RefreshBackingOff);
            assert_eq!(unauthorized.status(), Some(StatusCode::UNAUTHORIZED));
            assert_eq!(error.retries().attempts(), 1, "{name}: no retry");
            assert_eq!(sends.load(Ordering::SeqCst), call + 1, "{name}");
        }
        assert_eq!(refreshes.load(Ordering::SeqCst), 1, "{name}: one refresh");
    }
}

/// An upstream that rejects every credential with a 401; on `/slow`, it
/// holds the answer to `Bearer t2` for 5 s.
fn rejecting_all() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, BoxError>> + Send,
> + Clone
       + Send {
    service_fn(|request: Request<Full<Bytes>>| async move {
        if request.uri().path() == "/slow" && authorization(&request) == "Bearer t2" {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok::<_, BoxError>(status(401))
    })
}

/// A renewed credential the server rejects too counts as one failed
/// refresh, however many requests it was re-sent with: each round of 50
/// concurrent requests shares one refresh, all 50 re-sends are rejected,
/// and the next round's refresh waits one backoff step (1 s, then 2 s,
/// 4 s: the steps of one failure more per round), not the step of 50
/// failures (30 s).
#[tokio::test(start_paused = true)]
async fn a_renewed_credential_rejected_on_many_re_sends_is_one_failure() {
    let source = Source::numbered();
    let (_, refreshes) = source.counters();
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(rejecting_all());
    for round in 1..=3u32 {
        let mut requests = JoinSet::new();
        for _ in 0..50 {
            requests.spawn(client.clone().oneshot(get("/me")));
        }
        for answer in requests.join_all().await {
            let response = answer.unwrap_or_else(|error| panic!("round {round}: {error}"));
            assert_eq!(response.status(), 401);
            let report = response.extensions().get::<AuthReport>().unwrap();
            assert_eq!(report.sends(), 2, "round {round}: sent again, once");
        }
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            round,
            "one refresh a round"
        );
        // The longest step after `round` failures in a row.
        tokio::time::advance(Duration::from_secs(1 << (round - 1)) + Duration::from_millis(1))
            .await;
    }
}

/// The answer to a re-send with an older credential says nothing of the
/// current one: a late rejection of t2's re-send must not end t3's
/// backoff (a rejection with t3 meanwhile ends at once, not in a refresh).
#[tokio::test(start_paused = true)]
async fn a_late_rejection_of_an_older_re_send_keeps_the_current_backoff() {
    let source = Source::numbered();
    let (_, refreshes) = source.counters();
    let client = ServiceBuilder::new()
        .layer(
            AuthLayer::new(source)
                .refresh_backoff(Duration::from_secs(60), Duration::from_secs(60)),
        )
        .service(rejecting_all());
    // t1 rejected, refreshed to t2; the re-send with t2 is held 5 s.
    let slow = tokio::spawn(client.clone().oneshot(get("/slow")));
    settle(|| refreshes.load(Ordering::SeqCst) == 1).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // t2 rejected, refreshed to t3, and t3 rejected on its re-send: t3's
    // refresh is backed off (30-60 s).
    let response = client.clone().oneshot(get("/fast")).await.unwrap();
    assert_eq!(
        response.extensions().get::<AuthReport>().unwrap().sends(),
        2
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 2);
    let backing_off = |error: Error| error.unauthorized().map(|u| u.reason());
    let error = client.clone().oneshot(get("/fast")).await.unwrap_err();
    assert_eq!(backing_off(error), Some(AuthFailure::RefreshBackingOff));
    // t2's re-send is rejected, late.
    assert_eq!(slow.await.unwrap().unwrap().status(), 401);
    let error = client.clone().oneshot(get("/fast")).await.unwrap_err();
    assert_eq!(backing_off(error), Some(AuthFailure::RefreshBackingOff));
    assert_eq!(refreshes.load(Ordering::SeqCst), 2, "t3's backoff holds");
}
