//! The auth layer when the identity provider fails, and ahead of a known
//! expiry (issue #24, items 1 and 3): a failed refresh is shared and backed
//! off, and a credential whose expiry is known is refreshed before it.
//!
//! Each row of the table is a scenario over two real hyper servers on
//! loopback, a token endpoint (OAuth2 client credentials, which the row
//! takes down and brings back) and an API that checks tokens, with a
//! hyper-util client under `RetryLayer -> AuthLayer -> ErrorBodyParseLayer`
//! (or `ApiErrorsLayer`). Time is Tokio's paused clock: no sleeps. Every
//! row checks what always holds (every request ends, each in a success or
//! a typed `Unauthorized` whose source is the token endpoint's failure; no
//! credential prints; refresh attempts after a failure are at least a
//! backoff step apart), then its own expectations.

mod support;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{
    AuthFailure, AuthLayer, AuthReport, Credential, TokenFuture, TokenSource,
};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::stack::ApiErrorsLayer;
use tower_api_errors::{parse_error, ApiError, BoxError, Error, ErrorBodyParseLayer};

const SECOND: Duration = Duration::from_secs(1);

/// The identity provider and the API: who was issued what, what the API
/// accepts, and every call the token endpoint got.
#[derive(Default)]
struct Realm {
    down: AtomicBool,
    /// While down, the token endpoint accepts and never answers.
    hangs: bool,
    /// While down, the token endpoint's `Retry-After`.
    retry_after: Option<&'static str>,
    /// How long the token endpoint takes to answer.
    latency: Duration,
    /// `expires_in` of the tokens it issues, if any.
    lifetime: Option<Duration>,
    /// Whether the API refuses tokens past their lifetime.
    enforce_expiry: bool,
    /// The API answers `/items/{n}` after `n` times this.
    stagger: Duration,
    issued: AtomicU32,
    /// Token -> when it expires (on the paused clock).
    tokens: Mutex<HashMap<String, Option<Instant>>>,
    revoked: Mutex<HashSet<String>>,
    /// When each call to the token endpoint arrived, and if it issued a token.
    calls: Mutex<Vec<(Instant, bool)>>,
    /// Requests the API rejected with a 401.
    rejected: AtomicU32,
}

/// The token endpoint: 503 while down, else a new token.
async fn token_endpoint(realm: Arc<Realm>) -> std::net::SocketAddr {
    support::serve(move |_request: Request<hyper::body::Incoming>| {
        let realm = realm.clone();
        async move {
            let arrived = Instant::now();
            let up = !realm.down.load(Ordering::SeqCst);
            realm.calls.lock().unwrap().push((arrived, up));
            if !realm.latency.is_zero() {
                tokio::time::sleep(realm.latency).await;
            }
            if !up && realm.hangs {
                std::future::pending::<()>().await;
            }
            if !up {
                let retry_after = realm.retry_after.map(|after| ("retry-after", after));
                let headers: Vec<_> = retry_after.into_iter().collect();
                let body = r#"{"error": "temporarily_unavailable"}"#;
                return support::response(503, &headers, body);
            }
            let n = realm.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let token = format!("tok-{n}");
            // A lifetime too long for the clock: no expiry.
            let expires = realm
                .lifetime
                .and_then(|lifetime| arrived.checked_add(lifetime));
            realm.tokens.lock().unwrap().insert(token.clone(), expires);
            let mut body = serde_json::json!({"access_token": token, "token_type": "Bearer"});
            if let Some(lifetime) = realm.lifetime {
                body["expires_in"] = lifetime.as_secs().into();
            }
            support::response(
                200,
                &[("content-type", "application/json")],
                body.to_string(),
            )
        }
    })
    .await
}

/// The API: 200 for a live token, else RFC 6750's `invalid_token` 401.
async fn api(realm: Arc<Realm>) -> std::net::SocketAddr {
    support::serve(move |request: Request<hyper::body::Incoming>| {
        let realm = realm.clone();
        async move {
            let token = request
                .headers()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_owned();
            let n: u32 = request
                .uri()
                .path()
                .trim_start_matches("/items/")
                .parse()
                .unwrap_or(0);
            tokio::time::sleep(realm.stagger * n).await;
            let expires = realm.tokens.lock().unwrap().get(&token).copied();
            let live = match expires {
                None => false,
                Some(_) if realm.revoked.lock().unwrap().contains(&token) => false,
                Some(Some(at)) if realm.enforce_expiry => Instant::now() < at,
                Some(_) => true,
            };
            if !live {
                realm.rejected.fetch_add(1, Ordering::SeqCst);
                let challenge = r#"Bearer error="invalid_token""#;
                let body = r#"{"error": {"code": 401, "message": "Invalid token"}}"#;
                return support::response(401, &[("www-authenticate", challenge)], body);
            }
            support::response(200, &[], "{}")
        }
    })
    .await
}

/// An OAuth2 client-credentials source over the token endpoint; it reads
/// `expires_in` into the credential, and hands a failure on as the
/// endpoint's typed answer (`parse_error`: its `Retry-After` included).
struct ClientCredentials {
    url: Uri,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ClientCredentials {
    async fn fetch(&self) -> Result<Credential, BoxError> {
        let form = "grant_type=client_credentials&client_id=c&client_secret=s";
        let request = Request::post(self.url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))?;
        let response = self.http.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        if parts.status != StatusCode::OK {
            return Err(parse_error(parts.status, &parts.headers, &body).into());
        }
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        let token = answer["access_token"].as_str().ok_or("no access_token")?;
        let credential = Credential::new(token)?;
        Ok(match answer["expires_in"].as_u64() {
            Some(seconds) => credential.expires_in(Duration::from_secs(seconds)),
            None => credential,
        })
    }
}

impl TokenSource for ClientCredentials {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(self.fetch())
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        Box::pin(self.fetch())
    }
}

type Stacked = BoxCloneService<Request<Full<Bytes>>, http::Response<hyper::body::Incoming>, Error>;

/// The client stack a row runs.
#[derive(Clone, Copy)]
enum Stack {
    /// `RetryLayer -> AuthLayer -> ErrorBodyParseLayer -> client`.
    ByHand,
    /// `ApiErrorsLayer` with the auth layer.
    ApiErrors,
}

fn client(stack: Stack, auth: AuthLayer) -> Stacked {
    let http = support::client::<ReplayBody<Full<Bytes>>>();
    match stack {
        Stack::ByHand => BoxCloneService::new(
            ServiceBuilder::new()
                .layer(RetryLayer::new(RetryPolicy::default()))
                .layer(auth)
                .layer(ErrorBodyParseLayer::new())
                .service(http),
        ),
        Stack::ApiErrors => BoxCloneService::new(ApiErrorsLayer::new().auth(auth).client(http)),
    }
}

/// How a request ended.
#[derive(Debug)]
struct Outcome {
    /// When it started, from the row's origin.
    started: Duration,
    result: Result<Option<AuthReport>, (AuthFailure, Option<StatusCode>)>,
}

/// What a row came to.
struct Run {
    outcomes: Vec<Outcome>,
    /// Calls to the token endpoint after the warm-up: when, from the
    /// origin, and whether they issued a token.
    calls: Vec<(Duration, bool)>,
    /// 401s the API sent after the warm-up.
    rejected: u32,
}

impl Run {
    fn refreshes(&self) -> usize {
        self.calls.len()
    }

    fn failed(&self, reason: AuthFailure) -> usize {
        let matches = |o: &&Outcome| matches!(o.result, Err((r, _)) if r == reason);
        self.outcomes.iter().filter(matches).count()
    }

    fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    /// True when every request started in `from..to` succeeded.
    fn all_succeeded(&self, from: Duration, to: Duration) -> bool {
        self.outcomes
            .iter()
            .filter(|o| (from..to).contains(&o.started))
            .all(|o| o.result.is_ok())
    }
}

/// One scenario.
struct Row {
    name: &'static str,
    stack: Stack,
    lifetime: Option<Duration>,
    enforce_expiry: bool,
    latency: Duration,
    /// The API holds the `n`-th request of the row `n` times this.
    stagger: Duration,
    /// `AuthLayer::refresh_backoff`, when not the default (1 s to 30 s).
    backoff: Option<(Duration, Duration)>,
    /// After the warm-up, the API rejects the first token.
    revoke_first: bool,
    /// While down, the token endpoint hangs rather than answer 503.
    hangs: bool,
    /// While down, the token endpoint's `Retry-After` on its 503.
    retry_after: Option<&'static str>,
    /// When (from the origin) the token endpoint goes down (`false`) or
    /// comes back (`true`). It is up for the warm-up.
    endpoint: &'static [(Duration, bool)],
    /// Groups of requests: how many, the first's start, the spacing.
    requests: &'static [(usize, Duration, Duration)],
    expect: fn(&Run),
}

impl Row {
    const fn new(name: &'static str, expect: fn(&Run)) -> Self {
        Row {
            name,
            stack: Stack::ByHand,
            lifetime: None,
            enforce_expiry: true,
            latency: Duration::ZERO,
            stagger: Duration::ZERO,
            backoff: None,
            revoke_first: false,
            hangs: false,
            retry_after: None,
            endpoint: &[],
            requests: &[],
            expect,
        }
    }

    /// The longest a backoff after `failures` consecutive failures can be
    /// (the shortest is half of it).
    fn ceiling(&self, failures: u32) -> Duration {
        let (initial, max) = self.backoff.unwrap_or((SECOND, 30 * SECOND));
        (initial.saturating_mul(2u32.pow(failures.saturating_sub(1).min(20)))).min(max)
    }
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const ROWS: &[Row] = &[
    Row {
        revoke_first: true,
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(50, Duration::ZERO, ms(3))],
        ..Row::new(
            "issue #24: 50 rejections 3 ms apart, token endpoint failing: one refresh attempt",
            |run| {
                assert_eq!(run.refreshes(), 1, "one attempt, not 50");
                assert_eq!(run.rejected, 50);
                assert!(run.failed(AuthFailure::RefreshFailed) >= 1);
                assert_eq!(
                    run.failed(AuthFailure::RefreshFailed)
                        + run.failed(AuthFailure::RefreshBackingOff),
                    50
                );
            },
        )
    },
    Row {
        revoke_first: true,
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(50, Duration::ZERO, Duration::ZERO)],
        ..Row::new(
            "issue #24: 50 rejections arriving together, token endpoint failing: one refresh attempt",
            |run| {
                assert_eq!(run.refreshes(), 1, "one attempt, not 42-45");
                assert_eq!(run.rejected, 50);
                assert_eq!(run.succeeded(), 0);
            },
        )
    },
    Row {
        revoke_first: true,
        latency: ms(200),
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(50, Duration::ZERO, ms(2))],
        ..Row::new(
            "50 rejected while the attempt is in flight: all get its failure",
            |run| {
                assert_eq!(run.refreshes(), 1);
                assert_eq!(run.failed(AuthFailure::RefreshFailed), 50);
            },
        )
    },
    Row {
        revoke_first: true,
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(200, Duration::ZERO, ms(50))],
        ..Row::new(
            "token endpoint down, 200 rejections over 10 s: one attempt per backoff step",
            |run| {
                // Steps of at least 0.5, 1, 2, 4 s: 5 attempts fit in 10 s
                // at most; steps of at most 1, 2, 4 s (and 50 ms to the
                // next request): 4 at least.
                assert!((4..=5).contains(&run.refreshes()), "{:?}", run.calls);
                assert_eq!(run.succeeded(), 0);
                assert_eq!(
                    run.failed(AuthFailure::RefreshFailed)
                        + run.failed(AuthFailure::RefreshBackingOff),
                    200
                );
            },
        )
    },
    Row {
        revoke_first: true,
        stagger: ms(50),
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(200, Duration::ZERO, Duration::ZERO)],
        ..Row::new(
            "200 requests in flight at once, their rejections arriving over 10 s: one attempt per backoff step",
            |run| {
                assert!((4..=5).contains(&run.refreshes()), "{:?}", run.calls);
                assert_eq!(run.rejected, 200);
                assert_eq!(run.succeeded(), 0);
            },
        )
    },
    Row {
        stack: Stack::ApiErrors,
        revoke_first: true,
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(200, Duration::ZERO, ms(50))],
        ..Row::new(
            "the same inside ApiErrorsLayer: one attempt per backoff step",
            |run| {
                assert!((4..=5).contains(&run.refreshes()), "{:?}", run.calls);
                assert_eq!(run.succeeded(), 0);
            },
        )
    },
    Row {
        revoke_first: true,
        endpoint: &[(Duration::ZERO, false), (secs(3), true)],
        requests: &[(200, Duration::ZERO, ms(50))],
        ..Row::new(
            "token endpoint back after 3 s: the next attempt recovers, every later request succeeds",
            |run| {
                let (recovered, _) = *run.calls.iter().find(|(_, ok)| *ok).unwrap();
                assert!(recovered >= secs(3) && recovered < secs(8), "{:?}", run.calls);
                assert_eq!(run.calls.last().unwrap(), &(recovered, true), "one refresh then");
                assert!(run.all_succeeded(recovered + ms(1), secs(11)));
                assert!(run.failed(AuthFailure::RefreshBackingOff) > 0);
            },
        )
    },
    Row {
        revoke_first: true,
        hangs: true,
        endpoint: &[(Duration::ZERO, false), (secs(25), true)],
        requests: &[(100, Duration::ZERO, ms(500))],
        ..Row::new(
            "a token endpoint that accepts and never answers for 25 s: each call ends at the refresh timeout (10 s), typed, and the first call after it answers again recovers",
            |run| {
                // Calls at 0 s, then each a timeout and a backoff step on.
                let (first, _) = run.calls[0];
                assert!(first < ms(10) && run.calls[1].0 >= secs(10) + ms(500), "{:?}", run.calls);
                let (recovered, _) = *run.calls.iter().find(|(_, ok)| *ok).unwrap();
                assert!(recovered >= secs(25) && recovered < secs(66), "{:?}", run.calls);
                assert!(run.all_succeeded(recovered + ms(1), secs(50)));
                // The requests rejected while the first call hung got its
                // timeout, 10 s on: none waited for ever.
                assert!(run.failed(AuthFailure::RefreshFailed) >= 20);
            },
        )
    },
    Row {
        revoke_first: true,
        backoff: Some((ms(100), ms(400))),
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(100, Duration::ZERO, ms(20))],
        ..Row::new(
            "a configured backoff, 100 ms doubling to 400 ms: its steps, over 2 s",
            |run| {
                // At least 50, 100, 200, 200... ms apart, at most 100,
                // 200, 400, 400... (and the 20 ms until the next request).
                assert!((5..=30).contains(&run.refreshes()), "{:?}", run.calls);
                let late = run.calls.windows(2).skip(3);
                assert!(late.into_iter().all(|w| w[1].0 - w[0].0 <= ms(420)), "{:?}", run.calls);
            },
        )
    },
    Row {
        lifetime: Some(secs(100)),
        requests: &[(350, Duration::ZERO, SECOND)],
        ..Row::new(
            "a known expiry costs no 401: refreshed ahead at 4/5 of its life, once each",
            |run| {
                assert_eq!(run.rejected, 0);
                assert_eq!(run.succeeded(), 350);
                assert!(run.outcomes.iter().all(|o| matches!(o.result, Ok(None))), "no re-send");
                // At 80 s, then 80 s after each refresh (plus up to the
                // second until the next request).
                assert_eq!(run.refreshes(), 4, "{:?}", run.calls);
                let mut last = Duration::ZERO;
                for &(at, ok) in &run.calls {
                    assert!(ok && at >= last + secs(80) && at <= last + ms(81_100), "{:?}", run.calls);
                    last = at;
                }
            },
        )
    },
    Row {
        lifetime: Some(secs(100)),
        requests: &[(200, secs(85), Duration::ZERO), (1, secs(86), Duration::ZERO)],
        ..Row::new(
            "200 concurrent requests past the refresh point share one refresh ahead",
            |run| {
                assert_eq!(run.refreshes(), 1);
                assert_eq!(run.rejected, 0);
                assert_eq!(run.succeeded(), 201);
            },
        )
    },
    Row {
        lifetime: Some(secs(100)),
        latency: secs(5),
        requests: &[(20, secs(80), ms(100))],
        ..Row::new(
            "requests do not wait for the refresh ahead: they keep the valid credential",
            |run| {
                assert_eq!(run.refreshes(), 1);
                assert!(run.outcomes.iter().all(|o| matches!(o.result, Ok(None))));
            },
        )
    },
    Row {
        lifetime: Some(secs(100)),
        endpoint: &[(secs(50), false), (secs(85), true)],
        requests: &[(200, Duration::ZERO, SECOND)],
        ..Row::new(
            "a refresh ahead that fails is tried again while the credential is valid, a backoff step apart: a token endpoint down until 85 s costs nothing at the expiry",
            |run| {
                assert!(run.all_succeeded(Duration::ZERO, secs(200)));
                assert_eq!(run.rejected, 0);
                // At 80 s, then a backoff step on (1, 2, 4, 8 s at most):
                // 92 s at the latest, before the expiry.
                let (renewed, _) = *run.calls.iter().find(|(_, ok)| *ok).unwrap();
                assert!(renewed < secs(93), "{:?}", run.calls);
                assert!((2..=5).contains(&run.calls.iter().filter(|(at, _)| *at <= renewed).count()));
            },
        )
    },
    Row {
        lifetime: Some(secs(100)),
        endpoint: &[(secs(50), false), (secs(150), true)],
        requests: &[(200, Duration::ZERO, SECOND)],
        ..Row::new(
            "a refresh ahead that keeps failing: the credential stays in use until rejected, and the attempts are backed off, before the expiry and after",
            |run| {
                assert!(run.all_succeeded(Duration::ZERO, secs(100)), "valid until its expiry");
                let (ahead, ok) = run.calls[0];
                assert!(!ok && (secs(80)..secs(81)).contains(&ahead), "the refresh ahead");
                // Steps of at least 0.5, 1, 2, 4, 8, 15 s (check_always):
                // 6 attempts before the expiry at most, and 4 after.
                let valid = run.calls.iter().filter(|(at, _)| *at < secs(100)).count();
                assert!((4..=6).contains(&valid), "{:?}", run.calls);
                // Expired and the endpoint down: typed failures.
                assert!((100..150).all(|s| run.outcomes[s].result.is_err()));
                assert!(run.refreshes() <= 11, "{:?}", run.calls);
                // Back at 150 s: recovered within a step (30 s at most).
                assert!(run.all_succeeded(secs(181), secs(200)));
            },
        )
    },
    Row {
        lifetime: Some(secs(100)),
        requests: &[(1, Duration::ZERO, Duration::ZERO), (1, secs(120), Duration::ZERO)],
        ..Row::new(
            "an idle client's first request after the expiry waits for the refresh: no 401",
            |run| {
                assert_eq!(run.rejected, 0);
                assert_eq!(run.succeeded(), 2);
                assert_eq!(run.refreshes(), 1);
                assert!(run.calls[0].1 && (secs(120)..secs(121)).contains(&run.calls[0].0));
            },
        )
    },
    Row {
        lifetime: Some(Duration::ZERO),
        enforce_expiry: false,
        requests: &[(100, Duration::ZERO, ms(100))],
        ..Row::new(
            "a token that arrives expired (a skewed clock) is used until rejected, not refreshed in a loop",
            |run| {
                assert_eq!(run.refreshes(), 0);
                assert_eq!(run.succeeded(), 100);
            },
        )
    },
    Row {
        lifetime: Some(secs(1 << 62)),
        requests: &[(20, Duration::ZERO, secs(150))],
        ..Row::new(
            "a token endpoint that says expires_in 2^62 s (garbage, but within the clock's reach): a long-lived token, not a panic in the load",
            |run| {
                assert_eq!(run.refreshes(), 0, "{:?}", run.calls);
                assert_eq!(run.succeeded(), 20);
            },
        )
    },
    Row {
        lifetime: Some(secs(u64::MAX)),
        requests: &[(20, Duration::ZERO, secs(150))],
        ..Row::new(
            "expires_in u64::MAX s, beyond the clock: no expiry",
            |run| {
                assert_eq!(run.refreshes(), 0, "{:?}", run.calls);
                assert_eq!(run.succeeded(), 20);
            },
        )
    },
    Row {
        revoke_first: true,
        lifetime: Some(secs(3)),
        enforce_expiry: false,
        stagger: ms(50),
        endpoint: &[
            (Duration::ZERO, false),
            (secs(2), true),
            (secs(3), false),
            (secs(5), true),
            (secs(6), false),
            (secs(8), true),
        ],
        requests: &[(200, Duration::ZERO, Duration::ZERO), (200, secs(4), ms(20))],
        ..Row::new(
            "400 requests, 200 of them in flight at once, while the token endpoint flaps (down, up, down...) and tokens are refreshed ahead every 2.4 s: each ends once, in a success or a typed error; the calls stay a backoff step apart",
            |run| {
                assert_eq!(run.outcomes.len(), 400);
                // One call per backoff step while down, one per refresh
                // point while up: 6 in a run, 8 at most.
                assert!((4..=8).contains(&run.refreshes()), "{:?}", run.calls);
                // The first token is refused until a call succeeds; every
                // request after that is served by the token in hand,
                // whether the refresh ahead of it fails or not.
                let (renewed, _) = *run.calls.iter().find(|(_, ok)| *ok).unwrap();
                assert!(renewed < secs(16), "{:?}", run.calls);
                assert!(run.all_succeeded(renewed + ms(1), secs(20)));
            },
        )
    },
    Row {
        revoke_first: true,
        retry_after: Some("20"),
        endpoint: &[(Duration::ZERO, false), (secs(45), true)],
        requests: &[(280, Duration::ZERO, ms(250))],
        ..Row::new(
            "a token endpoint that answers 503 with Retry-After: 20: no call sooner than it asked, and the first one after it is back recovers",
            |run| {
                let at: Vec<Duration> = run.calls.iter().map(|(at, _)| *at).collect();
                assert!(at.windows(2).all(|w| w[1] - w[0] >= secs(20)), "{at:?}");
                // Back at 45 s: the call at 40 s failed, the next is at 60 s.
                assert_eq!(run.refreshes(), 4, "at 0, 20, 40 and 60 s: {at:?}");
                assert!(run.calls[3].1 && run.all_succeeded(secs(62), secs(70)));
                assert!(run.failed(AuthFailure::RefreshBackingOff) > 150);
            },
        )
    },
    // `TokenSource` docs ("Refreshed before it expires": a failed refresh
    // ahead leaves the credential in use, tried again "after the failure's
    // backoff"; "A token endpoint that says when to come back is not called
    // before"): the endpoint's `Retry-After` outlasts the credential, and
    // wins over its expiry.
    Row {
        lifetime: Some(secs(100)),
        retry_after: Some("30"),
        endpoint: &[(secs(50), false), (secs(95), true)],
        requests: &[(200, Duration::ZERO, SECOND)],
        ..Row::new(
            "a refresh ahead answered 503 with Retry-After: 30 at 80 s: the credential serves until its expiry at 100 s, the token endpoint is not called again before 110 s though the credential expired meanwhile, and that call recovers",
            |run| {
                assert!(run.all_succeeded(Duration::ZERO, secs(100)), "valid until its expiry");
                let (ahead, ok) = run.calls[0];
                assert!(!ok && (secs(80)..secs(81)).contains(&ahead), "{:?}", run.calls);
                let (next, ok) = run.calls[1];
                assert!(ok && (secs(110)..secs(111)).contains(&next), "{:?}", run.calls);
                // Expired, within the Retry-After: typed ends, no call.
                let backing_off = |o: &Outcome| o.result == Err((AuthFailure::RefreshBackingOff, Some(StatusCode::UNAUTHORIZED)));
                assert!(run.outcomes[100..110].iter().all(backing_off), "{:?}", &run.outcomes[100..110]);
                assert!(run.all_succeeded(secs(110), secs(200)));
            },
        )
    },
    // The auth module's table ("one refresh per rejected credential,
    // single-flight: every request rejected with it waits for the same
    // refresh"), when that refresh is one ahead of the expiry already
    // under way.
    Row {
        lifetime: Some(secs(100)),
        latency: secs(5),
        revoke_first: true,
        requests: &[(50, secs(80), ms(100))],
        ..Row::new(
            "50 requests rejected while a slow refresh ahead (5 s) is in flight join it: one call, each request re-sent once with the renewed credential",
            |run| {
                assert_eq!(run.refreshes(), 1, "{:?}", run.calls);
                assert_eq!(run.rejected, 50);
                let resent = |o: &Outcome| matches!(o.result, Ok(Some(report)) if report.sends() == 2);
                assert!(run.outcomes.iter().all(resent), "{:?}", run.outcomes);
            },
        )
    },
    Row {
        revoke_first: true,
        backoff: Some((Duration::MAX, Duration::MAX)),
        endpoint: &[(Duration::ZERO, false)],
        requests: &[(50, Duration::ZERO, secs(30))],
        ..Row::new(
            "a backoff too long for the clock (Duration::MAX: one attempt, then never again): typed ends, no overflow",
            |run| {
                assert_eq!(run.refreshes(), 1, "{:?}", run.calls);
                assert_eq!(run.failed(AuthFailure::RefreshFailed), 1);
                assert_eq!(run.failed(AuthFailure::RefreshBackingOff), 49);
            },
        )
    },
];

#[test]
fn scenarios() {
    for row in ROWS {
        let run = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(run(row));
        check_always(row, &run);
        (row.expect)(&run);
        eprintln!("ok: {} ({} refresh calls)", row.name, run.refreshes());
    }
}

/// Runs a row: the servers, a warm-up request that loads the first token,
/// the endpoint's schedule and the row's requests.
async fn run(row: &Row) -> Run {
    let realm = Arc::new(Realm {
        latency: row.latency,
        lifetime: row.lifetime,
        enforce_expiry: row.enforce_expiry,
        stagger: row.stagger,
        hangs: row.hangs,
        retry_after: row.retry_after,
        ..Realm::default()
    });
    let token_addr = token_endpoint(realm.clone()).await;
    let api_addr = api(realm.clone()).await;
    let source = ClientCredentials {
        url: format!("http://{token_addr}/token").parse().unwrap(),
        http: support::client(),
    };
    let mut auth = AuthLayer::new(source);
    if let Some((initial, max)) = row.backoff {
        auth = auth.refresh_backoff(initial, max);
    }
    let client = client(row.stack, auth);
    let get = move |n: usize| {
        Request::get(format!("http://{api_addr}/items/{n}"))
            .body(Full::default())
            .unwrap()
    };
    let warm_up = client.clone().oneshot(get(0)).await.unwrap();
    assert_eq!(warm_up.status(), 200, "{}", row.name);
    if row.revoke_first {
        realm.revoked.lock().unwrap().insert("tok-1".to_owned());
    }
    let origin = Instant::now();
    let warm_up_calls = realm.calls.lock().unwrap().len();
    let rejected_before = realm.rejected.load(Ordering::SeqCst);

    for &(at, up) in row.endpoint {
        let realm = realm.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(origin + at).await;
            realm.down.store(!up, Ordering::SeqCst);
        });
    }
    let mut requests = JoinSet::new();
    let mut index = 0;
    for &(count, first, spacing) in row.requests {
        for n in 0..count {
            let started = first + spacing * n as u32;
            index += 1;
            let (client, request) = (client.clone(), get(index));
            requests.spawn(async move {
                tokio::time::sleep_until(origin + started).await;
                let result = match client.oneshot(request).await {
                    Ok(response) => {
                        assert_eq!(response.status(), 200);
                        Ok(response.extensions().get::<AuthReport>().copied())
                    }
                    Err(error) => Err(typed(&error)),
                };
                Outcome { started, result }
            });
        }
    }
    // Nothing hangs: every request ends within the paused hour.
    let outcomes = tokio::time::timeout(Duration::from_secs(3600), requests.join_all())
        .await
        .unwrap_or_else(|_| panic!("{}: a request hung", row.name));
    let mut outcomes = outcomes;
    outcomes.sort_by_key(|o| o.started);
    let calls = realm.calls.lock().unwrap()[warm_up_calls..]
        .iter()
        .map(|(at, ok)| (*at - origin, *ok))
        .collect();
    Run {
        outcomes,
        calls,
        rejected: realm.rejected.load(Ordering::SeqCst) - rejected_before,
    }
}

/// A failed request's typed end: an `Unauthorized` whose source is the
/// token endpoint's failure, with no credential anywhere in it.
fn typed(error: &Error) -> (AuthFailure, Option<StatusCode>) {
    let text = format!("{error} {error:?}");
    assert!(!text.contains("tok-"), "{text}");
    let unauthorized = error
        .unauthorized()
        .unwrap_or_else(|| panic!("not an Unauthorized: {error}"));
    let source = std::error::Error::source(unauthorized).expect("the refresh's failure");
    let timed_out = source.is::<tokio::time::error::Elapsed>();
    let down = source.downcast_ref::<ApiError>().map(ApiError::status);
    assert!(
        timed_out || down == Some(StatusCode::SERVICE_UNAVAILABLE),
        "{source}"
    );
    (unauthorized.reason(), unauthorized.status())
}

/// What holds in every row: each failure is typed (checked as it ends),
/// a rejected request's failure says it was rejected, and after a failed
/// attempt the next waits at least half a backoff step.
fn check_always(row: &Row, run: &Run) {
    for outcome in &run.outcomes {
        if let Err((reason, status)) = outcome.result {
            assert!(
                matches!(
                    reason,
                    AuthFailure::RefreshFailed | AuthFailure::RefreshBackingOff
                ),
                "{}: {reason:?}",
                row.name
            );
            assert_eq!(status, Some(StatusCode::UNAUTHORIZED), "{}", row.name);
        }
    }
    let mut failures = 0;
    for pair in run.calls.windows(2) {
        let ((before, ok), (after, _)) = (pair[0], pair[1]);
        if ok {
            failures = 0;
            continue;
        }
        failures += 1;
        let step = row.ceiling(failures) / 2;
        assert!(
            after - before >= step,
            "{}: attempts {before:?} and {after:?} closer than {step:?}",
            row.name
        );
    }
}

// Without a network: a scripted source and an upstream that accepts one
// token, for what the table does not reach.

/// A source whose n-th call (from 1, `current` and `refresh` alike)
/// answers with `script(n)`; it counts its calls.
struct Scripted<F> {
    script: F,
    calls: Arc<AtomicU32>,
}

impl<F> Scripted<F>
where
    F: Fn(u32) -> Result<Credential, BoxError> + Send + Sync + 'static,
{
    fn new(script: F) -> (Self, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        (
            Scripted {
                script,
                calls: calls.clone(),
            },
            calls,
        )
    }

    fn answer(&self) -> TokenFuture<'_> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 99 {
            panic!("the source panics on its 99th call");
        }
        let answer = (self.script)(n);
        Box::pin(async move { answer })
    }
}

impl<F> TokenSource for Scripted<F>
where
    F: Fn(u32) -> Result<Credential, BoxError> + Send + Sync + 'static,
{
    fn current(&self) -> TokenFuture<'_> {
        self.answer()
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        self.answer()
    }
}

fn token(secret: &str) -> Credential {
    Credential::new(secret).unwrap()
}

/// A client over an upstream that accepts only `Bearer <valid>` (which
/// the test may change), answering 401 otherwise.
fn accepting(auth: AuthLayer, valid: Arc<Mutex<String>>) -> Mocked {
    let upstream = tower::service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
        let accepted =
            request.headers()["authorization"] == format!("Bearer {}", valid.lock().unwrap());
        async move {
            let status = if accepted { 200 } else { 401 };
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(status)
                    .body(Full::<Bytes>::default())
                    .unwrap(),
            )
        }
    });
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(RetryLayer::new(RetryPolicy::default()))
            .layer(auth)
            .service(upstream)
            .map_response(|response| response.map(|_| ())),
    )
}

type Mocked = BoxCloneService<Request<Full<Bytes>>, http::Response<()>, Error>;

async fn send(client: &Mocked) -> Result<(), (AuthFailure, String)> {
    match client
        .clone()
        .oneshot(Request::get("/me").body(Full::default()).unwrap())
        .await
    {
        Ok(response) => {
            assert_eq!(response.status(), 200);
            Ok(())
        }
        Err(error) => {
            let unauthorized = error.unauthorized().unwrap_or_else(|| panic!("{error}"));
            let source = std::error::Error::source(unauthorized).map(ToString::to_string);
            // A request that ends unauthorized was not sent with a renewed
            // credential: its report names no renewal (`AuthReport::renewal`:
            // "how the rejected credential was renewed, when it was"), and
            // no failed refresh or backoff reads as one.
            let report = unauthorized.report();
            assert_eq!(report.renewal(), None, "{:?}", unauthorized.reason());
            assert!(!report.resent());
            Err((unauthorized.reason(), source.unwrap_or_default()))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_load_is_backed_off_too() {
    let (source, calls) = Scripted::new(|n| match n {
        1 | 2 => Err("credential store unreachable".into()),
        _ => Ok(token("t1")),
    });
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t1".into())));
    let unreachable = Err((
        AuthFailure::NoCredential,
        "credential store unreachable".into(),
    ));
    for _ in 0..20 {
        assert_eq!(send(&client).await, unreachable);
        tokio::time::advance(20 * ms(1)).await;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "20 requests in 0.4 s: one load"
    );
    // Past the first step (1 s at most), one more load; past the second
    // (2 s at most), the third answers.
    tokio::time::advance(SECOND).await;
    assert_eq!(send(&client).await, unreachable);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(2 * SECOND).await;
    assert_eq!(send(&client).await, Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// A token endpoint's script: a 429 with `Retry-After: 60` (typed, as
/// this crate's stack hands it on), then `t1`.
fn slow_down_then_t1(n: u32) -> Result<Credential, BoxError> {
    if n > 1 {
        return Ok(token("t1"));
    }
    let mut headers = http::HeaderMap::new();
    headers.insert("retry-after", "60".parse().unwrap());
    let body = br#"{"error": "slow_down"}"#;
    let limited =
        tower_api_errors::parse::parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, body);
    Err(Error::from(limited).into())
}

/// A token endpoint that says when to come back (a 429 with `Retry-After:
/// 60`, read through this crate's stack, so the source's error carries
/// it) is not called again before then, however short the backoff.
#[tokio::test(start_paused = true)]
async fn a_token_endpoint_that_says_when_to_come_back_is_not_called_before() {
    let (source, calls) = Scripted::new(slow_down_then_t1);
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t1".into())));
    assert!(matches!(
        send(&client).await,
        Err((AuthFailure::NoCredential, _))
    ));
    // Past every step of the backoff (30 s at most), still held.
    tokio::time::advance(59 * SECOND).await;
    assert!(matches!(
        send(&client).await,
        Err((AuthFailure::NoCredential, _))
    ));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "not before the server's 60 s"
    );
    tokio::time::advance(SECOND).await;
    assert_eq!(send(&client).await, Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A request ended by a failed refresh, or while its backoff runs, says
/// how long until the token source is called again
/// (`Unauthorized::retry_after`): the backoff, or the token endpoint's own
/// wait when that is longer; none once a refresh succeeded.
#[tokio::test(start_paused = true)]
async fn an_unauthorized_request_says_when_the_next_refresh_is_tried() {
    let (source, _calls) = Scripted::new(slow_down_then_t1);
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t1".into())));
    let retry_after = |client: Mocked| async move {
        let request = Request::get("/me").body(Full::default()).unwrap();
        let error = client.oneshot(request).await.err()?;
        error.unauthorized().expect("unauthorized").retry_after()
    };
    assert_eq!(retry_after(client.clone()).await, Some(60 * SECOND));
    tokio::time::advance(45 * SECOND).await;
    assert_eq!(retry_after(client.clone()).await, Some(15 * SECOND));
    tokio::time::advance(15 * SECOND).await;
    assert_eq!(retry_after(client.clone()).await, None, "served");
}

/// The same 429 whose body quotes the rejected credential (a token
/// exchange endpoint echoing its `subject_token`): the error is withheld,
/// its `Retry-After` is not. `TokenSource`'s docs: a token endpoint that
/// says when to come back "is not called before".
#[tokio::test(start_paused = true)]
async fn a_retry_after_is_honoured_when_the_token_endpoints_error_quotes_the_credential() {
    let (source, calls) = Scripted::new(|n| match n {
        1 => Ok(token("t1-SECRET")),
        2 => {
            let mut headers = http::HeaderMap::new();
            headers.insert("retry-after", "60".parse().unwrap());
            let body = br#"{"error": "slow_down", "error_description": "too many for t1-SECRET"}"#;
            let limited =
                tower_api_errors::parse::parse_error(StatusCode::TOO_MANY_REQUESTS, &headers, body);
            Err(Error::from(limited).into())
        }
        _ => Ok(token("t2")),
    });
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t2".into())));
    let request = Request::get("/me").body(Full::default()).unwrap();
    let error = client.clone().oneshot(request).await.unwrap_err();
    assert!(!format!("{error} {error:?}").contains("SECRET"), "withheld");
    let unauthorized = error.unauthorized().expect("unauthorized");
    assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
    assert_eq!(unauthorized.retry_after(), Some(60 * SECOND));
    tokio::time::advance(59 * SECOND).await;
    assert!(matches!(
        send(&client).await,
        Err((AuthFailure::RefreshBackingOff, _))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "not before its 60 s");
    tokio::time::advance(SECOND).await;
    assert_eq!(send(&client).await, Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_that_succeeds_ends_the_backoff_and_the_next_rejection_refreshes_at_once() {
    // Call 1: t1. Calls 2-4 fail. Then t2, t3.
    let (source, calls) = Scripted::new(|n| match n {
        1 => Ok(token("t1")),
        2..=4 => Err("token endpoint answered 503".into()),
        n => Ok(token(&format!("t{}", n - 3))),
    });
    let valid = Arc::new(Mutex::new("t1".to_owned()));
    let client = accepting(AuthLayer::new(source), valid.clone());
    assert_eq!(send(&client).await, Ok(()));
    *valid.lock().unwrap() = "t2".into();
    let failed = Err((
        AuthFailure::RefreshFailed,
        "token endpoint answered 503".into(),
    ));
    let backing_off = Err((
        AuthFailure::RefreshBackingOff,
        "token endpoint answered 503".into(),
    ));
    assert_eq!(send(&client).await, failed);
    assert_eq!(send(&client).await, backing_off);
    // Three failures in a row: steps of at most 1 s, then 2 s.
    for _ in 0..2 {
        tokio::time::advance(2 * SECOND).await;
        assert_eq!(send(&client).await, failed);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // Failed three times: the step is 2-4 s. Then the refresh answers.
    tokio::time::advance(4 * SECOND).await;
    assert_eq!(send(&client).await, Ok(()), "re-sent with t2");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // t2 rejected now: refreshed at once, no backoff left over.
    *valid.lock().unwrap() = "t3".into();
    assert_eq!(send(&client).await, Ok(()), "re-sent with t3");
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_that_gives_back_the_rejected_credential_is_backed_off() {
    let (source, calls) = Scripted::new(|_| Ok(token("t1")));
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t2".into())));
    assert_eq!(
        send(&client).await.unwrap_err().0,
        AuthFailure::SameCredential
    );
    for _ in 0..10 {
        let (reason, _) = send(&client).await.unwrap_err();
        assert_eq!(reason, AuthFailure::RefreshBackingOff);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the first load and one refresh"
    );
}

#[tokio::test(start_paused = true)]
async fn a_source_that_panics_is_backed_off_and_answers_typed() {
    // Calls 1-98 give t1; the 99th panics.
    let (source, calls) = Scripted::new(|_| Ok(token("t1")));
    calls.store(97, Ordering::SeqCst);
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t2".into())));
    // Call 98: t1, rejected; call 99 (the refresh) panics in its task.
    let (reason, source) = send(&client).await.unwrap_err();
    assert_eq!(reason, AuthFailure::RefreshFailed);
    assert!(source.contains("without an answer"), "{source}");
    let (reason, _) = send(&client).await.unwrap_err();
    assert_eq!(reason, AuthFailure::RefreshBackingOff);
    assert_eq!(calls.load(Ordering::SeqCst), 99);

    // A first load that panics: no credential, nothing was rejected.
    let (source, calls) = Scripted::new(|_| Ok(token("t1")));
    calls.store(98, Ordering::SeqCst);
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t1".into())));
    let (reason, source) = send(&client).await.unwrap_err();
    assert_eq!(reason, AuthFailure::NoCredential);
    assert!(source.contains("without an answer"), "{source}");
    let error = client
        .clone()
        .oneshot(Request::get("/me").body(Full::default()).unwrap())
        .await
        .unwrap_err();
    let unauthorized = error.unauthorized().unwrap();
    assert_eq!(
        (unauthorized.reason(), unauthorized.status()),
        (AuthFailure::NoCredential, None)
    );
    assert!(!error.to_string().contains("rejected"), "{error}");
}

/// A source that reads its token from somewhere that turned out empty (a
/// file, an environment variable): `Credential::new` refuses "", but a
/// header value may be empty. The server rejects it, the refresh fails,
/// and that failure's text reaches the caller (checking it for the empty
/// secret must not panic the load).
#[tokio::test(start_paused = true)]
async fn an_empty_credential_rejected_then_a_failed_refresh_keeps_its_error() {
    let (source, calls) = Scripted::new(|n| match n {
        1 => Ok(Credential::from_header_value(
            http::HeaderValue::from_static(""),
        )),
        _ => Err("the token file is empty".into()),
    });
    let client = accepting(AuthLayer::new(source), Arc::new(Mutex::new("t1".into())));
    let expected = |reason| Err((reason, "the token file is empty".to_owned()));
    assert_eq!(send(&client).await, expected(AuthFailure::RefreshFailed));
    assert_eq!(
        send(&client).await,
        expected(AuthFailure::RefreshBackingOff)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[path = "support/scripted.rs"]
mod scripted;

/// A token source over a metadata-server-style token endpoint (a GET, as
/// GCE's and Azure IMDS's are), called through `ApiErrorsLayer::new()`,
/// exactly as the `TokenSource` docs suggest.
struct Metadata<S> {
    client: S,
}

impl<S> TokenSource for Metadata<S>
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<Full<Bytes>>, Error = Error>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async { Ok(token("t1")) })
    }

    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let client = self.client.clone();
        Box::pin(async move {
            client
                .oneshot(scripted::get("http://metadata.test/token"))
                .await?;
            Ok(token("t2"))
        })
    }
}

/// The `TokenSource` docs: a token endpoint that says when to come back
/// is not called before. Through `ApiErrorsLayer::new()` a 503's
/// `Retry-After: 20` (a GET, 20 s under `max_retry_after`) would be waited
/// out by its retry layer inside the refresh, cut there by the refresh
/// timeout (10 s), and lost: the endpoint was called every ~11 s. The
/// refresh is polled within its timeout's deadline, so that retry layer
/// returns the 503 at once, hint and all, and the backoff honours it: the
/// endpoint (down until 45 s) is called at 0, 20, 40 and 60 s, and the
/// requests succeed from then on.
#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_refresh_timeout_is_honoured_through_api_errors_layer() {
    let origin = Instant::now();
    let endpoint = scripted::Scripted::new();
    let token_endpoint = endpoint.service(move |_| {
        if origin.elapsed() < 45 * SECOND {
            let headers = [("retry-after", "20")];
            scripted::reply(503, &headers, r#"{"error": "temporarily_unavailable"}"#)
        } else {
            scripted::reply(200, &[], "{}")
        }
    });
    let source = Metadata {
        client: tower::Layer::layer(&ApiErrorsLayer::new(), token_endpoint),
    };
    let api = tower::service_fn(|request: Request<Full<Bytes>>| async move {
        let status = if request.headers()["authorization"] == "Bearer t2" {
            200
        } else {
            401
        };
        Ok::<_, std::convert::Infallible>(scripted::reply(status, &[], "{}"))
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(api);
    let first = client.clone().oneshot(scripted::get("/items")).await;
    let unauthorized = first.unwrap_err();
    let unauthorized = unauthorized.unauthorized().expect("unauthorized");
    assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
    assert_eq!(
        unauthorized.retry_after(),
        Some(20 * SECOND),
        "the endpoint's word"
    );
    let mut outcomes = Vec::new();
    for _ in 0..70 {
        tokio::time::sleep(SECOND).await;
        let outcome = client.clone().oneshot(scripted::get("/items")).await;
        outcomes.push(outcome.map(|response| response.status()).is_ok());
    }
    let waits = endpoint.waits();
    assert_eq!(waits, [20 * SECOND; 3], "calls: {}", endpoint.count());
    assert!(outcomes[60..].iter().all(|ok| *ok), "{outcomes:?}");
}

/// A credential that expires while the quota layer below holds the
/// requests that carry it. The auth layer sits above the quota layer (so
/// that its re-send passes the quota gate too), so a request takes its
/// credential before the hold: a window spent until 115 s holds 5
/// requests made at 1 s, whose credential (valid 100 s; refreshed ahead
/// at 80 s only by a request passing the auth layer then, and none does)
/// has expired when they go. Each is rejected once and re-sent with the
/// renewed credential: every request ends once, in a success, for one
/// refresh, shared.
#[tokio::test(start_paused = true)]
async fn a_credential_expiring_during_a_quota_hold_costs_one_refresh_and_every_request_succeeds() {
    use tower_api_errors::QuotaLayer;
    let origin = Instant::now();
    let (source, calls) = Scripted::new(|n| Ok(token(&format!("t{n}")).expires_in(100 * SECOND)));
    let sends: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let seen = sends.clone();
    let api = tower::service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
        let at = origin.elapsed();
        let sent = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        // t1 lives until 100 s; the window is spent until 115 s.
        let valid = sent == "Bearer t2" || (sent == "Bearer t1" && at < 100 * SECOND);
        let status = if valid { 200 } else { 401 };
        let remaining = if at < 100 * SECOND { "0" } else { "4" };
        let reset = 115u64.saturating_sub(at.as_secs()).max(1).to_string();
        seen.lock().unwrap().push((sent, status));
        let headers = [
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", reset.as_str()),
        ];
        let response = scripted::reply(status, &headers, "{}");
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let stack = ApiErrorsLayer::new()
        .auth(AuthLayer::new(source))
        .quota(QuotaLayer::new());
    let client = tower::Layer::layer(&stack, api);
    client
        .clone()
        .oneshot(scripted::get("http://api.test/0"))
        .await
        .unwrap();
    tokio::time::sleep(SECOND).await;
    let mut held = JoinSet::new();
    for i in 1..=5 {
        let request = scripted::get(&format!("http://api.test/{i}"));
        let client = client.clone();
        held.spawn(async move { client.oneshot(request).await.map(|r| r.status()) });
    }
    let mut ends = Vec::new();
    while let Some(end) = held.join_next().await {
        ends.push(end.unwrap().map_err(|error| error.to_string()));
    }
    assert_eq!(
        ends,
        vec![Ok(StatusCode::OK); 5],
        "each held request ends once, served"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the first credential and one refresh"
    );
    let sends = sends.lock().unwrap().clone();
    let count = |credential: &str, status| {
        let matching = sends
            .iter()
            .filter(|(c, s)| c == credential && *s == status);
        matching.count()
    };
    // The known cost: each held request's first send carries the expired
    // credential; its re-send the renewed one.
    assert_eq!(
        (
            count("Bearer t1", 401),
            count("Bearer t2", 200),
            sends.len()
        ),
        (5, 5, 11),
        "{sends:?}"
    );
}

/// A client shared by two runtimes (a sync caller's per-thread
/// current-thread runtime, driven only inside its `block_on`): the refresh
/// is spawned, and its `refresh_timeout` timed, on the runtime of the
/// request that started it. That caller gives up and its runtime goes
/// idle (alive, not driven); a request on another runtime rejected with
/// the same credential joins that refresh. The module docs: "each call to
/// the token source is bounded (refresh_timeout): past it, the call fails
/// like any failed refresh"; the house rule: never a hang. The waiter is
/// bounded by the refresh's deadline on its own runtime, and ends then in
/// the refresh's failure, tokio's `Elapsed`.
#[test]
fn a_refresh_left_on_an_idle_runtime_does_not_hold_another_runtimes_requests() {
    let (source, calls) = Scripted::new(|n| match n {
        1 => Ok(token("t1")),
        _ => Ok(token("t2")),
    });
    // The refresh takes 200 ms, on the runtime that polls it.
    struct Slow<S>(S);
    impl<S: TokenSource> TokenSource for Slow<S> {
        fn current(&self) -> TokenFuture<'_> {
            self.0.current()
        }
        fn refresh<'a>(&'a self, rejected: &'a Credential) -> TokenFuture<'a> {
            let answer = self.0.refresh(rejected);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                answer.await
            })
        }
    }
    let api = tower::service_fn(|request: Request<Full<Bytes>>| async move {
        let status = if request.headers()["authorization"] == "Bearer t2" {
            200
        } else {
            401
        };
        Ok::<_, std::convert::Infallible>(scripted::reply(status, &[], "{}"))
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Slow(source)).refresh_timeout(SECOND))
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
        let request = scripted::get("/a");
        let gave_up = tokio::time::timeout(Duration::from_millis(50), first.oneshot(request)).await;
        assert!(gave_up.is_err(), "the refresh takes 200 ms");
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2, "t1, and the refresh");
    scripted::within(20 * SECOND, runtime, move || async move {
        let started = Instant::now();
        let request = scripted::get("/b");
        let outcome = tokio::time::timeout(5 * SECOND, client.oneshot(request)).await;
        let error = outcome
            .expect("ended, not held by idle runtime A")
            .unwrap_err();
        assert!(started.elapsed() <= 2 * SECOND, "{:?}", started.elapsed());
        let unauthorized = error.unauthorized().expect("unauthorized");
        assert_eq!(unauthorized.reason(), AuthFailure::RefreshFailed);
        let source = std::error::Error::source(unauthorized).unwrap();
        assert!(source.is::<tokio::time::error::Elapsed>(), "{source:?}");
    });
    drop(idle);
}

/// A runtime that shuts down mid-load (a layer shared by several runtimes:
/// a `static` client used by several `#[tokio::test]`s) drops the load; the
/// token source did not fail. The load "runs in a task of its own"
/// (`TokenSource`'s docs): the next runtime's request loads the credential
/// and is sent, not failed at once and held off by a backoff.
#[test]
fn a_runtime_shutting_down_mid_load_does_not_fail_the_next_runtimes_requests() {
    runtime_shutting_down_mid(1);
}

/// The same, the runtime shutting down mid-refresh: a request on another
/// runtime rejected with the same credential gets a refresh.
#[test]
fn a_runtime_shutting_down_mid_refresh_does_not_fail_the_next_runtimes_rejections() {
    runtime_shutting_down_mid(2);
}

/// The source's call `stalled` never answers; its runtime shuts down while
/// it is in flight; a request on another runtime then succeeds.
fn runtime_shutting_down_mid(stalled: u32) {
    struct Stalling(Arc<AtomicU32>, u32);
    impl TokenSource for Stalling {
        fn current(&self) -> TokenFuture<'_> {
            self.refresh_or_current()
        }
        fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
            self.refresh_or_current()
        }
    }
    impl Stalling {
        fn refresh_or_current(&self) -> TokenFuture<'_> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            let stalls = n == self.1;
            Box::pin(async move {
                if stalls {
                    std::future::pending::<()>().await;
                }
                Ok(token(&format!("t{n}")))
            })
        }
    }
    let calls = Arc::new(AtomicU32::new(0));
    let api = tower::service_fn(|request: Request<Full<Bytes>>| async move {
        let status = match request.headers()["authorization"] == "Bearer t1" {
            true => 401,
            false => 200,
        };
        Ok::<_, std::convert::Infallible>(scripted::reply(status, &[], "{}"))
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(Stalling(calls.clone(), stalled)))
        .service(api);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let (dying, counted) = (client.clone(), calls.clone());
    first.block_on(async move {
        let request = tokio::spawn(dying.oneshot(scripted::get("/a")));
        while counted.load(Ordering::SeqCst) < stalled {
            tokio::task::yield_now().await;
        }
        request.abort();
    });
    drop(first);
    let outcome = runtime().block_on(client.oneshot(scripted::get("/b")));
    let response = outcome.unwrap_or_else(|error| panic!("{error:?}"));
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), stalled + 1, "one more call");
}

/// A source that caches its token and renews it only 5 s before its
/// expiry (a cloud metadata server, a sidecar) answers the refresh ahead,
/// at 4/5 of the life, with the same token. `TokenSource`'s docs: "a
/// known expiry never costs a 401". A refresh ahead given the same token
/// back is tried again by the expiry at the latest, when the source has
/// a new one: steady traffic over six lifetimes meets no 401.
#[tokio::test(start_paused = true)]
async fn a_caching_source_that_renews_late_never_costs_a_401() {
    let lifetime = 300 * SECOND;
    // The expiry of each token issued (t0, t1, ...): the server's view.
    let issued = Arc::new(Mutex::new(vec![Instant::now() + lifetime]));
    let cache = issued.clone();
    let (source, calls) = Scripted::new(move |_| {
        let (mut issued, now) = (cache.lock().unwrap(), Instant::now());
        if *issued.last().unwrap() - now <= 5 * SECOND {
            issued.push(now + lifetime);
        }
        let n = issued.len() - 1;
        Ok(token(&format!("t{n}")).expires_in(issued[n] - now))
    });
    let rejected = Arc::new(AtomicU32::new(0));
    let counted = rejected.clone();
    let upstream = tower::service_fn(move |request: Request<Full<Bytes>>| {
        let sent = request.headers()["authorization"].to_str().unwrap();
        let n: usize = sent["Bearer t".len()..].parse().unwrap();
        let fresh = Instant::now() < issued.lock().unwrap()[n];
        counted.fetch_add(u32::from(!fresh), Ordering::SeqCst);
        let status = if fresh { 200 } else { 401 };
        async move { Ok::<_, std::convert::Infallible>(scripted::reply(status, &[], "{}")) }
    });
    let client = ServiceBuilder::new()
        .layer(AuthLayer::new(source))
        .service(upstream);
    for second in 0..1800 {
        let response = client.clone().oneshot(scripted::get("/me")).await;
        let status = response.map(|response| response.status());
        assert!(
            matches!(status, Ok(StatusCode::OK)),
            "at {second} s: {status:?}"
        );
        tokio::time::advance(SECOND).await;
    }
    assert_eq!(rejected.load(Ordering::SeqCst), 0, "no 401");
    let calls = calls.load(Ordering::SeqCst);
    assert!(
        calls <= 60,
        "{calls} calls: a few per lifetime, not one per request"
    );
}
