//! Promises of the auth layer when the identity provider fails, pinned
//! where no other suite pins them: refreshes that hang, answer late or
//! fail for many callers at once; the documented backoff table; one layer
//! shared by two services; `WWW-Authenticate` grammar (RFC 9110 §11);
//! 401s answered with a scope error in the body only; credentials (the
//! caller's own, the layer's, a source error's percent-encoded quote, a
//! failed refresh ahead's quote) never printed; and the layer inside
//! `ApiErrorsLayer` with retry, breaker and hedge, and over reqwest; a
//! token endpoint's wait capped at 120 s, refusals by its own client's
//! breaker or quota honoured, a 5xx storm under concurrent callers.
//! Curated from the probe branch `probe-auth`.

#[path = "support/full_stack.rs"]
mod full_stack;
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

/// `TokenSource` docs ("When the token endpoint fails": the backoff after
/// the n-th *consecutive* failure; "Recovery is immediate") and the auth
/// module's table ("a renewed credential accepted ends the streak"): a
/// streak of failures ends once the credential serves again. The API's
/// auth backend rejects every credential for a while (row 1: while the
/// token endpoint is down too, each refresh fails; row 2: each renewed
/// credential is rejected on its re-send), so the backoff grows to its
/// 15-30 s steps; then the API recovers and the credential serves for an
/// hour, the token source never called. When that credential is rejected
/// and the token endpoint blips once, the backoff is the first step's
/// (0.5-1 s), not the old streak's next: a single blip must not lock every
/// request out for up to 30 s, an hour after the streak. Over a hyper
/// client and a loopback API.
#[tokio::test(start_paused = true)]
async fn a_failure_streak_ends_once_the_credential_serves_again() {
    use std::sync::atomic::AtomicBool;
    for idp_down_in_the_streak in [true, false] {
        let idp_down = Arc::new(AtomicBool::new(idp_down_in_the_streak));
        let down = idp_down.clone();
        let idp = Idp::new(move |n, _| match n {
            1 => ok("tok-1"),
            _ if down.load(SeqCst) => err("token endpoint answered 503"),
            n => ok(&format!("tok-{n}")),
        });
        let rejecting = Arc::new(AtomicBool::new(true));
        let api_rejects = rejecting.clone();
        let addr = support::serve(move |_: Request<hyper::body::Incoming>| {
            let status = if api_rejects.load(SeqCst) { 401 } else { 200 };
            async move { support::response(status, &[], "") }
        })
        .await;
        let client = tower::Layer::layer(
            &AuthLayer::new(idp.clone()),
            support::client::<Full<Bytes>>(),
        );
        let url = format!("http://{addr}/v1/items");
        let send = || client.clone().oneshot(get(&url));
        // The streak, as steady traffic builds it: each request as soon
        // as the last backoff ended.
        let mut longest = Duration::ZERO;
        for _ in 0..12 {
            match send().await {
                Err(Error::Unauthorized(u)) => {
                    let wait = u.retry_after().expect("a backoff runs");
                    longest = longest.max(wait);
                    tokio::time::advance(wait + Duration::from_millis(1)).await;
                }
                other => assert_eq!(other.unwrap().status(), 401, "a rejected re-send"),
            }
        }
        assert!(longest > 8 * SECOND, "a streak: {longest:?}");
        // The API recovers: the current credential serves for an hour.
        rejecting.store(false, SeqCst);
        let calls = idp.calls();
        for _ in 0..60 {
            assert_eq!(send().await.unwrap().status(), 200);
            tokio::time::advance(60 * SECOND).await;
        }
        assert_eq!(idp.calls(), calls, "the token source was not needed");
        // Rejected again, and the token endpoint blips once.
        rejecting.store(true, SeqCst);
        idp_down.store(true, SeqCst);
        let Err(Error::Unauthorized(u)) = send().await else {
            panic!("the refresh failed")
        };
        assert_eq!(u.reason(), AuthFailure::RefreshFailed);
        let wait = u.retry_after().expect("a backoff runs");
        assert!(
            wait <= SECOND,
            "streak in the refreshes: {idp_down_in_the_streak}: the first step, not {wait:?}"
        );
        assert_eq!(idp.calls(), calls + 1);
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

// ------------------------------------------------ the full stack

/// Curated from a probe of the layers together (branch probe-mix): the
/// identity provider failing while the vendor is unwell, through the full
/// stack (`ApiErrorsLayer` with retry, breaker, auth, quota and a hedge)
/// over hyper-util against a scripted vendor on loopback: a refresh that
/// hangs after a 503, failures that spend no retry budget, and a real
/// token endpoint (behind the crate's own stack) that says when to come
/// back, fails, answers garbage or answers late.
mod in_the_full_stack {
    use crate::full_stack::{
        accepts_tok2, auth_failure, breaker, exact, get, hyper_stack, layers, learned_hedge, now,
        outcome, source, Body, Vendor, MS, S,
    };
    use crate::idp;
    use crate::support::{response, serve};
    use bytes::Bytes;
    use http::Request;
    use http_body_util::BodyExt;
    use hyper::body::Incoming;
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;
    use tower::ServiceExt;
    use tower_api_errors::auth::{AuthFailure, AuthLayer, Credential, TokenFuture, TokenSource};
    use tower_api_errors::breaker::CircuitBreakerLayer;
    use tower_api_errors::hedge::RetryBudget;
    use tower_api_errors::retry::ReplayBody;
    use tower_api_errors::stack::ApiErrors;
    use tower_api_errors::{ApiErrorsLayer, Error, ErrorKind};

    /// A token endpoint's answer: after how many ms, the status, the
    /// headers and the body.
    type TokenAnswer = (
        u64,
        u16,
        &'static [(&'static str, &'static str)],
        &'static str,
    );

    /// A token endpoint on loopback: the `n`-th call (from 1) answered by
    /// `answer(n)`.
    async fn token_endpoint(answer: fn(u32) -> TokenAnswer) -> (String, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let addr = serve(move |_request: Request<Incoming>| {
            let n = counter.fetch_add(1, SeqCst) + 1;
            let (delay, status, headers, body) = answer(n);
            async move {
                tokio::time::sleep(MS(delay)).await;
                response(status, headers, body)
            }
        })
        .await;
        (format!("http://{addr}/oauth/token"), calls)
    }

    /// The client a token source calls its token endpoint with: the crate's
    /// default stack (retry and parse) over hyper-util.
    type IdpClient = ApiErrors<Client<HttpConnector, ReplayBody<Body>>>;

    /// A token source over a real token endpoint, its JSON `access_token`
    /// the credential, called through `client` (the crate's default stack,
    /// unless given another). Its errors say what failed, never with what.
    struct HttpTokens<C = IdpClient> {
        method: http::Method,
        url: String,
        client: C,
    }

    impl HttpTokens {
        /// A token endpoint asked with `method` (an OAuth2 token endpoint's
        /// POST, which the stack does not retry; a metadata server's GET).
        fn new(method: http::Method, url: String) -> Arc<HttpTokens> {
            let client = ApiErrorsLayer::new().client(crate::support::client::<ReplayBody<Body>>());
            HttpTokens::with_client(method, url, client)
        }
    }

    impl<C> HttpTokens<C> {
        fn with_client(method: http::Method, url: String, client: C) -> Arc<HttpTokens<C>> {
            Arc::new(HttpTokens {
                method,
                url,
                client,
            })
        }
    }

    impl<C, B> HttpTokens<C>
    where
        C: tower::Service<Request<Body>, Response = http::Response<B>, Error = Error>,
        C: Clone + Send + Sync + 'static,
        C::Future: Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<tower_api_errors::BoxError>,
    {
        fn fetch(&self) -> TokenFuture<'_> {
            Box::pin(async move {
                let request = Request::builder()
                    .method(self.method.clone())
                    .uri(&self.url)
                    .body(Body::new(Bytes::new()))
                    .unwrap();
                let response = self.client.clone().oneshot(request).await?;
                let body = response.into_body().collect().await.map_err(Into::into)?;
                let body = body.to_bytes();
                let json: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|_| "token endpoint answered garbage")?;
                let token = json["access_token"]
                    .as_str()
                    .ok_or("token endpoint: no access_token")?;
                Ok(Credential::new(token)?)
            })
        }
    }

    impl<C, B> TokenSource for HttpTokens<C>
    where
        C: tower::Service<Request<Body>, Response = http::Response<B>, Error = Error>,
        C: Clone + Send + Sync + 'static,
        C::Future: Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<tower_api_errors::BoxError>,
    {
        fn current(&self) -> TokenFuture<'_> {
            self.fetch()
        }
        fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
            self.fetch()
        }
    }

    /// `Error::from_boxed` (src/error/mod.rs: "our own `Error` comes back
    /// as it was; an API error it is, or finds in its source chain, is
    /// cloned out") with the `TokenSource` docs' own composition (the token
    /// endpoint's client built with `ApiErrorsLayer`, its failure handed
    /// over as the source): a real token endpoint refuses the client (RFC
    /// 6749 §5.2: 400 `invalid_client`), so the vendor call ends in
    /// `Unauthorized`, whose source chain holds the token endpoint's
    /// `ApiError`. Boxed by another layer's error type (any middleware, an
    /// application's error with the call's error as its source), it must
    /// not come back as that `ApiError`: the vendor never answered 400, and
    /// the error would name the token endpoint's request as the vendor's.
    #[tokio::test(start_paused = true)]
    async fn a_wrapped_unauthorized_is_not_recovered_as_the_token_endpoints_answer() {
        let (url, calls) = token_endpoint(|n| match n {
            1 => (0, 200, &[], r#"{"access_token": "tok-1"}"#),
            _ => (
                0,
                400,
                &[("content-type", "application/json")],
                r#"{"error": "invalid_client", "error_description": "client authentication failed"}"#,
            ),
        })
        .await;
        let vendor = Vendor::start(|_, _| now(401, &[])).await;
        let auth = AuthLayer::new(HttpTokens::new(http::Method::POST, url));
        let client = hyper_stack(layers(exact(), auth, breaker(1000), learned_hedge()));
        let result = get(&client, &vendor.url("/v1/items")).await;
        assert_eq!(auth_failure(&result), AuthFailure::RefreshFailed);
        assert_eq!(calls.load(SeqCst), 2);
        let error = result.unwrap_err();
        let idp = crate::support::error_text(&error);
        assert!(idp.contains("invalid_client"), "the source says why: {idp}");

        /// An application's error around the call's.
        #[derive(Debug)]
        struct Fetching(Error);
        impl std::fmt::Display for Fetching {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("fetching the items")
            }
        }
        impl std::error::Error for Fetching {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let back = Error::from_boxed(Box::new(Fetching(error)));
        assert!(
            back.api().is_none(),
            "the token endpoint's answer as the vendor's: {back}"
        );
        assert_ne!(back.kind(), ErrorKind::BadRequest, "{back}");
    }

    /// Auth docs ("each call to the token source is bounded"; the failure is
    /// "backed off the same way") and breaker docs (auth failures never
    /// count): a 503 with `Retry-After: 1`, then the retry's 401, whose
    /// refresh hangs past the 2 s refresh timeout. The call ends once, at
    /// 3 s, in `Unauthorized`, after 2 attempts. The provider's timeout is no
    /// vendor failure: with a breaker that opens at 60 % of 2 calls, the next
    /// call is still sent at once.
    #[tokio::test(start_paused = true)]
    async fn a_hanging_refresh_after_a_503_ends_once_and_opens_no_breaker() {
        let vendor = Vendor::start(|n, _| match n {
            0 => now(503, &[("retry-after", "1")]),
            _ => now(401, &[]),
        })
        .await;
        let idp = source(|_| idp::hang());
        let auth = AuthLayer::new(idp.clone()).refresh_timeout(S(2));
        let client = hyper_stack(layers(
            exact(),
            auth,
            CircuitBreakerLayer::new()
                .minimum_calls(2)
                .failure_rate(0.6),
            learned_hedge(),
        ));
        let url = vendor.url("/v1/items");
        let started = Instant::now();
        let result = get(&client, &url).await;
        assert_eq!(started.elapsed(), S(3), "{}", outcome(&result));
        assert_eq!(auth_failure(&result), AuthFailure::RefreshFailed);
        assert_eq!(result.unwrap_err().retries().attempts(), 2);
        let started = Instant::now();
        let next = get(&client, &url).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "{}", outcome(&next));
        assert!(
            next.as_ref().err().and_then(Error::circuit_open).is_none(),
            "{}",
            outcome(&next)
        );
        assert_eq!(vendor.count(), 3);
    }

    /// Retry docs ("A budget bounds retries to a share of recent traffic")
    /// and auth docs ("the auth retry eats the transient-retry budget" is a
    /// pitfall avoided): fifty calls end in the token endpoint's failure
    /// (`Unauthorized`, each one attempt); then, the provider back and the
    /// credential renewed, a vendor 503 is still retried: the provider's
    /// failures drew nothing from a budget of one retry a second.
    #[tokio::test(start_paused = true)]
    async fn identity_provider_failures_spend_no_retry_budget() {
        let flaked = Arc::new(AtomicBool::new(false));
        let once = flaked.clone();
        let vendor = Vendor::start(move |_, hit| match hit.path.as_str() {
            _ if !accepts_tok2(hit) => now(401, &[]),
            "/flaky" if !once.swap(true, SeqCst) => now(503, &[]),
            _ => now(200, &[]),
        })
        .await;
        let up = Arc::new(AtomicBool::new(false));
        let is_up = up.clone();
        let idp = source(move |_| {
            if is_up.load(SeqCst) {
                idp::ok("tok-2")
            } else {
                idp::err("token endpoint answered 500")
            }
        });
        let budget = RetryBudget::new(S(10), 1, 0.0);
        let policy = exact().budget(budget);
        let auth = AuthLayer::new(idp.clone()).refresh_backoff(MS(10), MS(10));
        let client = hyper_stack(layers(policy, auth, breaker(1000), learned_hedge()));
        for _ in 0..50 {
            let result = get(&client, &vendor.url("/v1/items")).await;
            assert!(
                matches!(result, Err(Error::Unauthorized(_))),
                "{}",
                outcome(&result)
            );
            assert_eq!(result.unwrap_err().retries().attempts(), 1);
            tokio::time::advance(MS(20)).await;
        }
        up.store(true, SeqCst);
        tokio::time::advance(MS(20)).await;
        let renewed = get(&client, &vendor.url("/v1/items")).await;
        assert!(renewed.is_ok(), "{}", outcome(&renewed));
        let result = get(&client, &vendor.url("/flaky")).await;
        assert!(
            result.is_ok(),
            "the 503 was not retried: {}",
            outcome(&result)
        );
        assert!(flaked.load(SeqCst), "no 503 was answered");
        let flaky = vendor.hits().iter().filter(|h| h.path == "/flaky").count();
        assert_eq!(flaky, 2, "the 503, then its retry: {:?}", vendor.hits());
    }

    /// `TokenSource` docs ("A token endpoint that says when to come back is
    /// not called before ... the backoff lasts at least that long"; "A `503`
    /// with `Retry-After: 20` under the 10 s default comes back at once, hint
    /// and all, and holds the next call off for 20 s, rather than being
    /// waited on, cut and lost"): a real token endpoint behind the crate's
    /// own stack answers the refresh 503 with `Retry-After: 20`. The vendor
    /// call ends at once in `Unauthorized`; calls within the 20 s end in
    /// `RefreshBackingOff` without calling the endpoint; the first after them
    /// refreshes and succeeds. The vendor's breaker never counted the
    /// endpoint's failure.
    #[tokio::test(start_paused = true)]
    async fn a_token_endpoint_retry_after_is_honoured_not_slept_on() {
        let (url, calls) = token_endpoint(|n| match n {
            1 => (
                0,
                200,
                &[],
                r#"{"access_token": "tok-1", "expires_in": 3600}"#,
            ),
            2 => (
                0,
                503,
                &[("retry-after", "20")],
                r#"{"error": "temporarily_unavailable"}"#,
            ),
            _ => (
                0,
                200,
                &[],
                r#"{"access_token": "tok-2", "expires_in": 3600}"#,
            ),
        })
        .await;
        let vendor =
            Vendor::start(|_, hit| now(if accepts_tok2(hit) { 200 } else { 401 }, &[])).await;
        let client = hyper_stack(layers(
            exact(),
            AuthLayer::new(HttpTokens::new(http::Method::GET, url)),
            breaker(2),
            learned_hedge(),
        ));
        let api = vendor.url("/v1/items");
        let started = Instant::now();
        let first = get(&client, &api).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "{}", outcome(&first));
        assert_eq!(auth_failure(&first), AuthFailure::RefreshFailed);
        tokio::time::advance(S(19)).await;
        let within = get(&client, &api).await;
        assert_eq!(auth_failure(&within), AuthFailure::RefreshBackingOff);
        assert_eq!(calls.load(SeqCst), 2, "not called within the 20 s");
        tokio::time::advance(S(2)).await;
        let after = get(&client, &api).await;
        assert!(after.is_ok(), "{}", outcome(&after));
        assert_eq!(calls.load(SeqCst), 3);
    }

    /// A token endpoint whose 503 names a wait far past any sane one
    /// (`Retry-After: 99999999`, or a date in 2099: RFC 9110 §10.2.3 lets a
    /// server name any; the hints saturate at 366 days). The crate honours a
    /// server's wait up to 120 s (`RetryPolicy::max_retry_after`,
    /// `QuotaLayer::max_wait`, `DEFAULT_MAX_WAIT`): past that, the auth
    /// layer must still call the token endpoint again, not hold every
    /// request off it for a year. The vendor call ends at once, typed,
    /// saying when the refresh is tried again (at most 120 s); 121 s later
    /// the endpoint is called and the call succeeds.
    #[tokio::test(start_paused = true)]
    async fn a_token_endpoints_retry_after_is_capped_like_every_servers_wait() {
        async fn case(answer: fn(u32) -> TokenAnswer) {
            let (url, calls) = token_endpoint(answer).await;
            let vendor =
                Vendor::start(|_, hit| now(if accepts_tok2(hit) { 200 } else { 401 }, &[])).await;
            let client = hyper_stack(layers(
                exact(),
                AuthLayer::new(HttpTokens::new(http::Method::GET, url)),
                breaker(2),
                learned_hedge(),
            ));
            let api = vendor.url("/v1/items");
            let started = Instant::now();
            let first = get(&client, &api).await;
            assert_eq!(started.elapsed(), Duration::ZERO, "{}", outcome(&first));
            assert_eq!(auth_failure(&first), AuthFailure::RefreshFailed);
            let error = first.unwrap_err();
            let wait = error.unauthorized().unwrap().retry_after();
            assert!(wait.is_some_and(|wait| wait <= S(120)), "{wait:?}");
            tokio::time::advance(S(121)).await;
            let after = get(&client, &api).await;
            assert!(after.is_ok(), "{}", outcome(&after));
            assert_eq!(calls.load(SeqCst), 3);
        }
        case(|n| match n {
            1 => (0, 200, &[], r#"{"access_token": "tok-1"}"#),
            2 => (0, 503, &[("retry-after", "99999999")], ""),
            _ => (0, 200, &[], r#"{"access_token": "tok-2"}"#),
        })
        .await;
        case(|n| match n {
            1 => (0, 200, &[], r#"{"access_token": "tok-1"}"#),
            2 => (
                0,
                503,
                &[("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT")],
                "",
            ),
            _ => (0, 200, &[], r#"{"access_token": "tok-2"}"#),
        })
        .await;
    }

    /// `TokenSource` docs ("A token endpoint that says when to come back is
    /// not called before") with the token endpoint's client built with the
    /// crate's own breaker: once the endpoint's 500 opened it (for 60 s),
    /// the refresh fails at once in `CircuitOpen`, which says when to come
    /// back, as a `Retry-After` does (`CircuitOpen::retry_after`). The auth
    /// layer must hold the refresh off that long, and say so
    /// (`Unauthorized::retry_after`), not call the source each backoff
    /// step (0.5 s, 1 s, 2 s...) for the same local refusal; once the
    /// break is over, the first call renews.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_refused_by_the_token_clients_breaker_waits_its_break() {
        let (url, calls) = token_endpoint(|n| match n {
            1 => (0, 200, &[], r#"{"access_token": "tok-1"}"#),
            2 => (0, 500, &[], r#"{"error": "server_error"}"#),
            _ => (0, 200, &[], r#"{"access_token": "tok-2"}"#),
        })
        .await;
        let token_client = ApiErrorsLayer::new()
            .retry(exact())
            .breaker(
                CircuitBreakerLayer::new()
                    .minimum_calls(2)
                    .failure_rate(0.5)
                    .break_duration(S(60), S(60)),
            )
            .client(crate::support::client::<ReplayBody<Body>>());
        let tokens = HttpTokens::with_client(http::Method::POST, url, token_client);
        let vendor =
            Vendor::start(|_, hit| now(if accepts_tok2(hit) { 200 } else { 401 }, &[])).await;
        let client = hyper_stack(layers(
            exact(),
            AuthLayer::new(tokens),
            breaker(1000),
            learned_hedge(),
        ));
        let api = vendor.url("/v1/items");
        let first = get(&client, &api).await;
        assert_eq!(auth_failure(&first), AuthFailure::RefreshFailed);
        assert_eq!(calls.load(SeqCst), 2);
        tokio::time::advance(S(1)).await;
        // The endpoint's breaker is open: the refresh is refused at once.
        let refused = get(&client, &api).await;
        let error = refused.unwrap_err();
        let unauthorized = error.unauthorized().expect("unauthorized");
        let wait = unauthorized.retry_after();
        assert!(
            wait.is_some_and(|wait| wait >= S(58)),
            "the break's 59 s, not a backoff step: {wait:?} ({error})"
        );
        let mut backing_off = 0;
        for _ in 0..70 {
            tokio::time::advance(S(1)).await;
            let result = get(&client, &api).await;
            if result.is_ok() {
                break;
            }
            if auth_failure(&result) == AuthFailure::RefreshBackingOff {
                backing_off += 1;
            }
        }
        assert!(backing_off >= 57, "held off for the break: {backing_off}");
        assert_eq!(calls.load(SeqCst), 3, "the break over, one call renews");
    }

    /// The same with the token endpoint's client built with the crate's
    /// quota: the endpoint's first answer spent its window (`limit 1,
    /// remaining 0, reset 90`). The refresh must not be held for the 90 s
    /// (within the quota's `max_wait`, but past the refresh's 10 s timeout,
    /// which would cut it, lose the wait, and hold the vendor call 10 s, as
    /// `TokenSource` docs say of a retry layer's wait): it is refused at
    /// once in `RateLimited`, which says when the window frees up. The auth
    /// layer holds the refresh off that long; the endpoint is called after.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_refused_by_the_token_clients_quota_waits_its_window() {
        let (url, calls) = token_endpoint(|n| match n {
            1 => (
                0,
                200,
                &[
                    ("x-ratelimit-limit", "1"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "90"),
                ],
                r#"{"access_token": "tok-1"}"#,
            ),
            _ => (0, 200, &[], r#"{"access_token": "tok-2"}"#),
        })
        .await;
        let token_client = ApiErrorsLayer::new()
            .retry(exact())
            .quota(tower_api_errors::QuotaLayer::new())
            .client(crate::support::client::<ReplayBody<Body>>());
        let tokens = HttpTokens::with_client(http::Method::POST, url, token_client);
        let vendor =
            Vendor::start(|_, hit| now(if accepts_tok2(hit) { 200 } else { 401 }, &[])).await;
        let client = hyper_stack(layers(
            exact(),
            AuthLayer::new(tokens),
            breaker(1000),
            learned_hedge(),
        ));
        let api = vendor.url("/v1/items");
        let started = Instant::now();
        let refused = get(&client, &api).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "not held to the timeout");
        let error = refused.unwrap_err();
        let wait = error.unauthorized().expect("unauthorized").retry_after();
        assert!(
            wait.is_some_and(|wait| wait >= S(88)),
            "the window's 90 s, not a backoff step: {wait:?} ({error})"
        );
        assert_eq!(calls.load(SeqCst), 1, "the window is spent: not called");
        tokio::time::advance(S(60)).await;
        let within = get(&client, &api).await;
        assert_eq!(auth_failure(&within), AuthFailure::RefreshBackingOff);
        tokio::time::advance(S(31)).await;
        let after = get(&client, &api).await;
        assert!(after.is_ok(), "{}", outcome(&after));
        assert_eq!(calls.load(SeqCst), 2);
    }

    /// Auth docs (table: concurrent 401s cost one single-flight refresh; a
    /// failed refresh is shared by every request rejected with that
    /// credential, and the next waits the backoff): 40 callers at a time
    /// through the full stack while a real token endpoint answers its
    /// refreshes 503, slowly (500 ms), three times in a row, then a token.
    /// Each wave: every caller ends once, typed, in the time of one
    /// refresh, and the endpoint sees one call; the wave after it recovers
    /// all succeed, with no call more.
    #[tokio::test(start_paused = true)]
    async fn a_5xx_storm_under_concurrent_callers_costs_one_call_per_wave() {
        let (url, calls) = token_endpoint(|n| match n {
            1 => (0, 200, &[], r#"{"access_token": "tok-1"}"#),
            2..=4 => (500, 503, &[], r#"{"error": "temporarily_unavailable"}"#),
            _ => (0, 200, &[], r#"{"access_token": "tok-2"}"#),
        })
        .await;
        let vendor =
            Vendor::start(|_, hit| now(if accepts_tok2(hit) { 200 } else { 401 }, &[])).await;
        let auth =
            AuthLayer::new(HttpTokens::new(http::Method::POST, url)).refresh_backoff(S(1), S(1));
        let client = hyper_stack(layers(exact(), auth, breaker(1000), learned_hedge()));
        let api = vendor.url("/v1/items");
        for (wave, expected) in ["401", "401", "401", "200", "200"].into_iter().enumerate() {
            let started = Instant::now();
            let mut callers = tokio::task::JoinSet::new();
            for _ in 0..40 {
                let (client, api) = (client.clone(), api.clone());
                callers.spawn(async move { outcome(&get(&client, &api).await) });
            }
            let mut ends = Vec::new();
            while let Some(end) = callers.join_next().await {
                ends.push(end.unwrap());
            }
            assert_eq!(ends.len(), 40);
            let prefix = if expected == "200" { "ok 200" } else { "err" };
            let wrong: Vec<_> = ends.iter().filter(|end| !end.starts_with(prefix)).collect();
            assert!(wrong.is_empty(), "wave {wave}: {wrong:?}");
            if expected == "401" {
                let kinds: Vec<_> = ends
                    .iter()
                    .filter(|end| !end.contains("unauthorized"))
                    .collect();
                assert!(kinds.is_empty(), "wave {wave}: {kinds:?}");
            }
            assert!(
                started.elapsed() <= MS(600),
                "wave {wave}: {:?}",
                started.elapsed()
            );
            let expected_calls = [2, 3, 4, 5, 5][wave];
            assert_eq!(calls.load(SeqCst), expected_calls, "wave {wave}: {ends:?}");
            tokio::time::advance(S(1)).await;
        }
    }

    /// Auth docs (a token endpoint "that fails, hangs or hands out refused
    /// credentials is timed out and backed off, never called per request")
    /// and breaker docs (auth failures "never count") while the vendor is
    /// unwell: a real token endpoint answers the refreshes 500, then garbage,
    /// then too slowly (3 s, past a 2 s refresh timeout), then a token; the
    /// vendor first answers 503 with `Retry-After: 1`. Each call ends once,
    /// typed, in time; the endpoint is called once per call (a backoff step
    /// apart); the vendor's breaker (two calls, 60 %) is never opened by the
    /// endpoint's failures (one vendor failure in the window: 503), and the
    /// last two calls succeed.
    #[tokio::test(start_paused = true)]
    async fn a_failing_token_endpoint_while_the_vendor_is_unwell() {
        let (url, calls) = token_endpoint(|n| match n {
            1 => (0, 200, &[], r#"{"access_token": "tok-1"}"#),
            2 => (0, 500, &[], r#"{"error": "server_error"}"#),
            3 => (0, 200, &[], "<html>oops</html>"),
            4 => (3000, 200, &[], r#"{"access_token": "tok-2"}"#),
            _ => (0, 200, &[], r#"{"access_token": "tok-2"}"#),
        })
        .await;
        let vendor = Vendor::start(|n, hit| match n {
            0 => now(503, &[("retry-after", "1")]),
            _ => now(if accepts_tok2(hit) { 200 } else { 401 }, &[]),
        })
        .await;
        let auth = AuthLayer::new(HttpTokens::new(http::Method::POST, url))
            .refresh_timeout(S(2))
            .refresh_backoff(S(1), S(1));
        let breaker = CircuitBreakerLayer::new()
            .minimum_calls(2)
            .failure_rate(0.6);
        let client = hyper_stack(layers(exact(), auth, breaker, learned_hedge()));
        let api = vendor.url("/v1/items");
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let result = get(&client, &api).await;
            outcomes.push((started.elapsed(), outcome(&result)));
            if let Err(error) = &result {
                assert!(error.circuit_open().is_none(), "{outcomes:?}");
                assert_eq!(error.kind(), ErrorKind::Unauthorized, "{outcomes:?}");
            }
            tokio::time::advance(MS(1100)).await;
        }
        let took: Vec<Duration> = outcomes.iter().map(|(took, _)| *took).collect();
        assert_eq!(took, [S(1), S(0), S(2), S(0), S(0)], "{outcomes:?}");
        assert!(outcomes[3].1.starts_with("ok 200"), "{outcomes:?}");
        assert!(outcomes[4].1.starts_with("ok 200"), "{outcomes:?}");
        let called = calls.load(SeqCst);
        assert_eq!(
            called, 5,
            "one call per request, a backoff step apart: {outcomes:?}"
        );
        assert_eq!(vendor.count(), 7, "{outcomes:?}");
    }
}
