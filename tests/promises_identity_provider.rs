//! Promises of the auth layer when the identity provider fails, pinned
//! where no other suite pins them: refreshes that hang, answer late or
//! fail for many callers at once; the documented backoff table; one layer
//! shared by two services; `WWW-Authenticate` grammar (RFC 9110 §11);
//! 401s answered with a scope error in the body only; credentials (the
//! caller's own, the layer's, a source error's percent-encoded quote, a
//! failed refresh ahead's quote) never printed; and the layer inside
//! `ApiErrorsLayer` with retry, breaker and hedge, and over reqwest.
//! Curated from the probe branch `probe-auth`.

#[path = "support/idp.rs"]
mod idp;
#[path = "support/scripted.rs"]
mod scripted;
mod support;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use idp::{err, numbered, ok, Idp};
use scripted::{get, reply};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{rejects_credential, AuthFailure, AuthLayer, Credential};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::stack::ApiErrorsLayer;
use tower_api_errors::{BoxError, Error};

const SECOND: Duration = Duration::from_secs(1);

/// The first credential, then every refresh fails with `text`.
fn down_after_first(text: &'static str) -> Arc<Idp> {
    Idp::new(move |n, _| if n == 1 { ok("tok-1") } else { err(text) })
}

type Seen = Arc<Mutex<Vec<String>>>;

/// An in-memory upstream (any request body: plain under the auth layer
/// alone, `ReplayBody` under `ApiErrorsLayer`) recording each request's
/// `Authorization`; `answer(authorization)` decides the reply.
fn upstream<B: Send + 'static>(
    seen: Seen,
    answer: impl Fn(&str) -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Clone
       + Send {
    service_fn(move |req: Request<B>| {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        seen.lock().unwrap().push(auth.clone());
        let answer = answer(&auth);
        async move { Ok::<_, Infallible>(answer) }
    })
}

/// Everything an error prints: Display, Debug, pretty Debug, source chain.
fn text(error: &Error) -> String {
    format!(
        "{error} | {error:?} | {error:#?} | {}",
        support::error_text(error)
    )
}

fn unauthorized(result: Result<Response<Full<Bytes>>, Error>) -> AuthFailure {
    match result {
        Err(Error::Unauthorized(u)) => u.reason(),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn www(value: &str) -> HeaderMap {
    support::headers(&[("www-authenticate", value)])
}

// ------------------------------------------------ challenges

/// `rejects_credential` (src/auth/challenge.rs) reads `error` as RFC 9110
/// §11.2 defines an auth-param: a case-insensitive name, BWS around `=`,
/// a token or quoted-string value, in any challenge of a list (§11.6.1).
#[test]
fn challenge_auth_params_follow_the_rfc_9110_grammar() {
    let cases = [
        (401, r#"Bearer error = "insufficient_scope""#, false),
        (403, r#"Bearer realm="x", error ="invalid_token""#, true),
        (403, "Bearer error=invalid_token", true),
        (403, r#"Bearer Error="invalid_token""#, true),
        (
            401,
            r#"Basic realm="a", Bearer realm="b", error="insufficient_scope""#,
            false,
        ),
    ];
    for (status, challenge, rejects) in cases {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(
            rejects_credential(status, &www(challenge)),
            rejects,
            "{status} {challenge}"
        );
    }
}

/// src/auth/mod.rs (module docs): without a challenge, "the body's error
/// code stands for it": a 401 whose OAuth2 body says `insufficient_scope`
/// is answered, not renewed, inside `ApiErrorsLayer`.
#[tokio::test(start_paused = true)]
async fn a_401_with_insufficient_scope_in_the_body_only_is_not_renewed_in_the_stack() {
    let idp = numbered();
    let seen = Seen::default();
    let svc = ApiErrorsLayer::new()
        .auth(AuthLayer::new(idp.clone()))
        .client(upstream(seen.clone(), |_| {
            reply(
                401,
                &[("content-type", "application/json")],
                r#"{"error":"insufficient_scope"}"#,
            )
        }));
    let error = svc.oneshot(get("/x")).await.unwrap_err();
    assert!(matches!(error, Error::Api(_)), "{error}");
    assert_eq!(idp.calls(), 1, "no refresh");
    assert_eq!(seen.lock().unwrap().len(), 1, "no re-send");
}

// ------------------------------------------------ single flight

/// src/auth/layer.rs (`AuthLayer`): clones, and every service they make,
/// share one credential cache and one single-flight refresh.
#[tokio::test(start_paused = true)]
async fn two_services_from_one_layer_share_one_refresh() {
    let idp = numbered();
    let layer = AuthLayer::new(idp.clone());
    let seen = Seen::default();
    let answer = |a: &str| reply(if a == "Bearer tok-2" { 200 } else { 401 }, &[], "");
    let a = tower::Layer::layer(&layer, upstream(seen.clone(), answer));
    let b = tower::Layer::layer(&layer.clone(), upstream(seen.clone(), answer));
    let (ra, rb) = tokio::join!(a.oneshot(get("/a")), b.oneshot(get("/b")));
    assert_eq!(ra.unwrap().status(), 200);
    assert_eq!(rb.unwrap().status(), 200);
    assert_eq!(idp.calls(), 2, "one load, one refresh");
}

/// src/auth/mod.rs (table, "a token endpoint that is down"): a failed
/// refresh is shared: every request rejected with that credential, or
/// waiting on the refresh, gets its failure; the source is called once.
#[tokio::test(start_paused = true)]
async fn callers_waiting_on_one_failing_refresh_all_get_its_failure() {
    let idp = Idp::new(|n, _| match n {
        1 => ok("tok-1"),
        _ => Box::pin(async {
            tokio::time::sleep(SECOND).await;
            Err::<Credential, BoxError>("idp 500".into())
        }),
    });
    let seen = Seen::default();
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(upstream(seen.clone(), |_| reply(401, &[], "")));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        set.spawn(svc.clone().oneshot(get("/x")));
    }
    while let Some(result) = set.join_next().await {
        assert_eq!(unauthorized(result.unwrap()), AuthFailure::RefreshFailed);
    }
    assert_eq!(idp.calls(), 2, "one load, one refresh");
    assert_eq!(seen.lock().unwrap().len(), 20, "no re-send");
}

// ------------------------------------------------ hanging, slow, backoff

/// `AuthLayer::refresh_timeout` and `refresh_backoff` (src/auth/layer.rs):
/// a refresh that hangs ends at the timeout, typed, its source tokio's
/// `Elapsed`, saying when the next is tried; within the backoff a
/// rejection ends at once without a call; after it the source is called.
#[tokio::test(start_paused = true)]
async fn a_hanging_refresh_times_out_typed_and_is_backed_off() {
    let idp = Idp::new(|n, _| match n {
        1 => ok("tok-1"),
        2 => Box::pin(std::future::pending()),
        n => ok(&format!("tok-{n}")),
    });
    let layer = AuthLayer::new(idp.clone())
        .refresh_timeout(2 * SECOND)
        .refresh_backoff(4 * SECOND, 4 * SECOND);
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(upstream(Seen::default(), |a| {
            reply(if a == "Bearer tok-3" { 200 } else { 401 }, &[], "")
        }));
    let started = tokio::time::Instant::now();
    let error = svc.clone().oneshot(get("/x")).await.unwrap_err();
    let Error::Unauthorized(u) = &error else {
        panic!("{error}")
    };
    assert_eq!(u.reason(), AuthFailure::RefreshFailed);
    let waited = started.elapsed();
    assert!((2 * SECOND..3 * SECOND).contains(&waited), "{waited:?}");
    let source = std::error::Error::source(u).expect("a source");
    assert!(
        source
            .downcast_ref::<tokio::time::error::Elapsed>()
            .is_some(),
        "{source:?}"
    );
    assert_eq!(u.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(u.report().sends(), 1);
    let retry_after = u.retry_after().expect("says when");
    assert!(
        (2 * SECOND..=4 * SECOND).contains(&retry_after),
        "{retry_after:?}"
    );

    let within = svc.clone().oneshot(get("/x")).await;
    assert_eq!(unauthorized(within), AuthFailure::RefreshBackingOff);
    assert_eq!(idp.calls(), 2);

    tokio::time::sleep(4 * SECOND).await;
    let after = svc.clone().oneshot(get("/x")).await.unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(idp.calls(), 3);
}

/// `AuthLayer::refresh_timeout`: a call that takes longer "fails like any
/// failed refresh": the credential it hands back late is not installed.
#[tokio::test(start_paused = true)]
async fn a_slow_refresh_answering_after_the_timeout_is_not_installed() {
    let idp = Idp::new(|n, _| match n {
        1 => ok("tok-1"),
        2 => Box::pin(async {
            tokio::time::sleep(5 * SECOND).await;
            Ok(Credential::new("tok-late").unwrap())
        }),
        n => ok(&format!("tok-{n}")),
    });
    let layer = AuthLayer::new(idp.clone())
        .refresh_timeout(2 * SECOND)
        .refresh_backoff(SECOND, SECOND);
    let seen = Seen::default();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(upstream(seen.clone(), |a| {
            reply(if a == "Bearer tok-1" { 401 } else { 200 }, &[], "")
        }));
    let first = svc.clone().oneshot(get("/x")).await;
    assert_eq!(unauthorized(first), AuthFailure::RefreshFailed);
    tokio::time::sleep(10 * SECOND).await;
    // tok-1 is still current: rejected, refreshed (call 3), re-sent.
    let r = svc.clone().oneshot(get("/x")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(idp.calls(), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer tok-1", "Bearer tok-1", "Bearer tok-3"]
    );
}

/// src/auth/source.rs (`TokenSource`, "When the token endpoint fails"):
/// after the n-th consecutive failure a wait between half and all of
/// min(30 s, 1 s × 2^(n-1)); the source is called once per step.
#[tokio::test(start_paused = true)]
async fn the_backoff_steps_follow_the_documented_table() {
    let idp = down_after_first("idp down");
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(upstream(Seen::default(), |_| reply(401, &[], "")));
    for (step, ceiling) in [1u64, 2, 4, 8, 16, 30, 30].into_iter().enumerate() {
        let error = svc.clone().oneshot(get("/x")).await.unwrap_err();
        let Error::Unauthorized(u) = &error else {
            panic!("{error}")
        };
        assert_eq!(u.reason(), AuthFailure::RefreshFailed, "step {step}");
        let wait = u.retry_after().unwrap();
        let ceiling = Duration::from_secs(ceiling);
        assert!(
            wait >= ceiling / 2 - Duration::from_millis(1) && wait <= ceiling,
            "step {step}: {wait:?}"
        );
        assert_eq!(idp.calls(), 2 + step as u32);
        // Halfway through: still backing off, no call.
        tokio::time::advance(wait / 2).await;
        let halfway = svc.clone().oneshot(get("/x")).await;
        assert_eq!(unauthorized(halfway), AuthFailure::RefreshBackingOff);
        assert_eq!(idp.calls(), 2 + step as u32);
        tokio::time::advance(wait - wait / 2 + Duration::from_millis(1)).await;
    }
}

/// `Credential::expires_in` with `TokenSource` ("Refreshed before it
/// expires"): lifetimes beyond the clock's reach, or none at all, neither
/// panic nor refresh in a loop.
#[tokio::test(start_paused = true)]
async fn extreme_expiries_do_not_panic_or_loop() {
    for life in [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 4),
        Duration::from_secs(100 * 365 * 86400),
        Duration::ZERO,
        Duration::from_millis(999),
    ] {
        let idp = Idp::new(move |n, _| {
            let credential = Credential::new(&format!("tok-{n}"))
                .unwrap()
                .expires_in(life);
            Box::pin(async move { Ok(credential) })
        });
        let svc = ServiceBuilder::new()
            .layer(AuthLayer::new(idp.clone()))
            .service(upstream(Seen::default(), |_| reply(200, &[], "")));
        for _ in 0..5 {
            assert_eq!(svc.clone().oneshot(get("/x")).await.unwrap().status(), 200);
            tokio::time::advance(SECOND).await;
        }
        assert!(idp.calls() <= 2, "{life:?}: {}", idp.calls());
    }
}

// ------------------------------------------------ credentials never print

/// SECURITY.md ("No credentials in errors or logs", Echoes): the parse
/// layer scrubs the request's own credentials; a caller's own bearer
/// token, passed through the auth layer untouched, echoed in a 401 body.
#[tokio::test(start_paused = true)]
async fn a_callers_own_credential_echoed_never_prints_in_the_stack() {
    let idp = numbered();
    let svc = ApiErrorsLayer::new()
        .auth(AuthLayer::new(idp.clone()))
        .client(upstream(Seen::default(), |a| {
            let body = format!(
                r#"{{"error":"invalid_token","error_description":"token {} is expired"}}"#,
                a.trim_start_matches("Bearer ")
            );
            reply(401, &[("content-type", "application/json")], &body)
        }));
    let mut req = get("/x");
    req.headers_mut()
        .insert("authorization", "Bearer caller-secret-77".parse().unwrap());
    let error = svc.oneshot(req).await.unwrap_err();
    let printed = text(&error);
    assert!(printed.contains("is expired"), "{printed}");
    assert!(!printed.contains("caller-secret-77"), "{printed}");
    assert_eq!(idp.calls(), 0, "not the layer's to load or renew");
}

/// SECURITY.md (Echoes, "credential-named headers"): with an `x-api-key`
/// auth layer, neither a caller's own key nor the layer's key, echoed in
/// a 401 body, prints.
#[tokio::test(start_paused = true)]
async fn a_callers_own_api_key_echoed_never_prints_in_the_stack() {
    let idp = Idp::new(|n, _| ok(&format!("key-00000{n}")));
    let svc = ApiErrorsLayer::new()
        .auth(
            AuthLayer::new(idp.clone())
                .header(http::HeaderName::from_static("x-api-key"))
                .no_scheme(),
        )
        .client(service_fn(|req: Request<ReplayBody<Full<Bytes>>>| {
            let key = req.headers()["x-api-key"].to_str().unwrap().to_owned();
            let body = format!(r#"{{"message":"Invalid API key: {key}"}}"#);
            async move {
                Ok::<_, Infallible>(reply(401, &[("content-type", "application/json")], &body))
            }
        }));
    let mut req = get("/x");
    req.headers_mut()
        .insert("x-api-key", "caller-key-55".parse().unwrap());
    let printed = text(&svc.clone().oneshot(req).await.unwrap_err());
    assert!(printed.contains("Invalid API key"), "{printed}");
    assert!(!printed.contains("caller-key-55"), "{printed}");
    let printed = text(&svc.oneshot(get("/y")).await.unwrap_err());
    assert!(printed.contains("Invalid API key"), "{printed}");
    assert!(
        !printed.contains("key-000001") && !printed.contains("key-000002"),
        "{printed}"
    );
}

/// SECURITY.md (Echoes: "a value with `+`, `/` or `=` takes two, raw and
/// form-encoded"): a token source error quoting the rejected credential
/// percent-encoded is withheld.
#[tokio::test(start_paused = true)]
async fn a_source_error_quoting_the_credential_url_encoded_is_withheld() {
    let idp = Idp::new(|n, rejected| match n {
        1 => ok("a/b+c=d"),
        _ => {
            let encoded = rejected
                .unwrap()
                .replace('/', "%2F")
                .replace('+', "%2B")
                .replace('=', "%3D");
            err(&format!("POST /token?assertion={encoded} failed"))
        }
    });
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(upstream(Seen::default(), |_| reply(401, &[], "")));
    let error = svc.oneshot(get("/x")).await.unwrap_err();
    assert_eq!(idp.calls(), 2, "the refresh ran and failed");
    let printed = text(&error);
    assert!(printed.contains("withheld"), "{printed}");
    assert!(
        !printed.contains("a%2Fb%2Bc%3Dd") && !printed.contains("a/b+c=d"),
        "{printed}"
    );
}

/// src/auth/mod.rs (table, "the token ends up in a log line"): token
/// source errors are checked; a failed refresh ahead quoting the
/// credential it renews surfaces in no later error.
#[tokio::test(start_paused = true)]
async fn a_refresh_ahead_failure_quoting_the_credential_never_prints() {
    let idp = Idp::new(|n, rejected| match n {
        1 => {
            let credential = Credential::new("tok-ahead-1")
                .unwrap()
                .expires_in(Duration::from_secs(100));
            Box::pin(async move { Ok(credential) })
        }
        _ => err(&format!("refresh of {} refused", rejected.unwrap())),
    });
    let expired = Arc::new(AtomicU32::new(0));
    let server_clock = expired.clone();
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(idp.clone()))
        .service(upstream(Seen::default(), move |a| {
            let valid = a == "Bearer tok-ahead-1" && server_clock.load(SeqCst) == 0;
            reply(if valid { 200 } else { 401 }, &[], "")
        }));
    assert_eq!(svc.clone().oneshot(get("/x")).await.unwrap().status(), 200);
    // Past 4/5 of the life: the refresh ahead starts, and fails.
    tokio::time::advance(Duration::from_secs(85)).await;
    assert_eq!(svc.clone().oneshot(get("/x")).await.unwrap().status(), 200);
    tokio::task::yield_now().await;
    assert!(idp.calls() >= 2, "the refresh ahead ran");
    // Expired: the server rejects it now; the renewal fails.
    tokio::time::advance(Duration::from_secs(30)).await;
    expired.store(1, SeqCst);
    let error = svc.clone().oneshot(get("/x")).await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized(_)), "{error}");
    let printed = text(&error);
    assert!(printed.contains("withheld"), "{printed}");
    assert!(!printed.contains("tok-ahead-1"), "{printed}");
}

// ------------------------------------------------ inside ApiErrorsLayer

/// src/breaker/mod.rs ("Slow down" is not "down"): a request a layer
/// below refused without sending (auth) never counts: a run of
/// Unauthorized leaves the breaker closed.
#[tokio::test(start_paused = true)]
async fn auth_refusals_do_not_open_the_breaker() {
    let idp = down_after_first("idp down");
    let accepting = Arc::new(AtomicU32::new(0));
    let flag = accepting.clone();
    let svc = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .breaker(tower_api_errors::breaker::CircuitBreakerLayer::new().minimum_calls(2))
        .auth(AuthLayer::new(idp.clone()))
        .client(upstream(Seen::default(), move |_| {
            reply(if flag.load(SeqCst) == 1 { 200 } else { 401 }, &[], "")
        }));
    for _ in 0..10 {
        let error = svc
            .clone()
            .oneshot(get("http://api.test/x"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Unauthorized(_)), "{error}");
    }
    accepting.store(1, SeqCst);
    let r = svc.clone().oneshot(get("http://api.test/x")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// src/auth/mod.rs (table, "the auth retry eats the transient-retry
/// budget") with the IdP down: a 401 saying "retry" (`x-should-retry`,
/// `Retry-After`) is sent once, ends in one typed error, one refresh.
#[tokio::test(start_paused = true)]
async fn a_401_saying_retry_with_the_idp_down_is_sent_once() {
    let idp = down_after_first("idp down");
    let seen = Seen::default();
    let svc = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .auth(AuthLayer::new(idp.clone()))
        .client(upstream(seen.clone(), |_| {
            reply(
                401,
                &[("x-should-retry", "true"), ("retry-after", "1")],
                r#"{"error":{"message":"expired"}}"#,
            )
        }));
    let result = svc.oneshot(get("http://api.test/x")).await;
    assert_eq!(unauthorized(result), AuthFailure::RefreshFailed);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(idp.calls(), 2);
}

/// src/auth/mod.rs ("Where it goes in the stack": inside `RetryLayer`,
/// every attempt passes the auth layer): a re-send answered 503 is retried
/// with the renewed credential, without a second refresh.
#[tokio::test(start_paused = true)]
async fn a_resend_answered_503_is_retried_with_the_renewed_credential() {
    let idp = numbered();
    let seen = Seen::default();
    let count = Arc::new(AtomicU32::new(0));
    let sends = count.clone();
    let svc = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .auth(AuthLayer::new(idp.clone()))
        .client(upstream(seen.clone(), move |a| {
            let n = sends.fetch_add(1, SeqCst);
            match (a, n) {
                ("Bearer tok-1", _) => reply(401, &[], ""),
                (_, 1) => reply(503, &[], ""),
                _ => reply(200, &[], ""),
            }
        }));
    let r = svc.oneshot(get("http://api.test/x")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(idp.calls(), 2);
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]
    );
}

/// src/auth/mod.rs (table, "a token endpoint that is down"): a hedged GET
/// whose copies are both rejected while the IdP is down ends once, typed,
/// with one refresh and at most two sends.
#[tokio::test(start_paused = true)]
async fn a_hedged_call_with_the_idp_down_ends_once() {
    let idp = Idp::new(|n, _| match n {
        1 => ok("tok-1"),
        _ => Box::pin(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Err::<Credential, BoxError>("idp down".into())
        }),
    });
    let seen = Seen::default();
    let log = seen.clone();
    let api = service_fn(move |req: Request<ReplayBody<ReplayBody<Full<Bytes>>>>| {
        let a = req.headers()["authorization"].to_str().unwrap().to_owned();
        log.lock().unwrap().push(a);
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, Infallible>(reply(401, &[], ""))
        }
    });
    let svc = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .hedge(tower_api_errors::hedge::HedgeLayer::fixed(
            Duration::from_millis(100),
        ))
        .auth(AuthLayer::new(idp.clone()))
        .client(api);
    let error = svc.oneshot(get("http://api.test/x")).await.unwrap_err();
    assert!(matches!(&error, Error::Unauthorized(_)), "{error}");
    assert_eq!(idp.calls(), 2);
    let seen = seen.lock().unwrap();
    assert!((1..=2).contains(&seen.len()), "{seen:?}");
}

// ------------------------------------------------ real servers

/// RFC 9110 §15.4 (on a followed redirect, consider removing
/// `Authorization`), as reqwest's redirect policy does it, through
/// `ReqwestClient`: a cross-host redirect does not carry the layer's
/// `Authorization`.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn reqwest_cross_host_redirect_drops_the_layers_authorization() {
    use support::{response, serve};
    use tower::Layer as _;
    let seen = Seen::default();
    let log = seen.clone();
    let target = serve(move |req: Request<hyper::body::Incoming>| {
        let a = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        log.lock().unwrap().push(a);
        async move { response(200, &[], "ok") }
    })
    .await;
    let origin = serve(move |_req: Request<hyper::body::Incoming>| {
        let location = format!("http://localhost:{}/landed", target.port());
        async move { response(302, &[("location", location.as_str())], "") }
    })
    .await;
    let client = ApiErrorsLayer::new()
        .auth(AuthLayer::new(numbered()))
        .layer(tower_api_errors::reqwest::ReqwestClient::new(
            reqwest::Client::new(),
        ));
    let r = client
        .oneshot(get(&format!("http://{origin}/start")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(*seen.lock().unwrap(), [String::new()]);
}
