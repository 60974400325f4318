//! The crate's promises as a hostile server, a failing identity provider
//! and a peer's retry suite test them: every call ends once, Retry-After
//! in all its forms, retry decisions by method and status, credentials
//! never printed (echoes cut by a bound included), quota headers that lie.

mod support;

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use scripted::{exact, get, reply, within, Scripted};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_api_errors::auth::{AuthLayer, Credential, TokenFuture, TokenSource};
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, QuotaLayer, RetryReport, StopReason};

/// Runs `test` on a paused current-thread runtime, within `real`
/// wall-clock time (see [`within`]).
fn watchdog<F>(real: Duration, test: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let paused = || {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all().start_paused(true).build().unwrap()
    };
    within(real, paused, test);
}

// ---------------------------------------------------------------------------
// Retry-After in its forms, through the retry layer over the parse layer.
// ---------------------------------------------------------------------------

/// Each `Retry-After` form on a 503 to a GET: the wait before the second
/// attempt, or a fail-fast.
#[tokio::test(start_paused = true)]
async fn retry_after_forms_are_waited_as_rfc_9110_says() {
    let date_in = |secs: u64| {
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(secs))
    };
    let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(3600));
    // (value, expected wait before the second attempt; None = no retry)
    let rows: Vec<(String, Option<Duration>)> = vec![
        ("3".into(), Some(Duration::from_secs(3))),
        (" 7 ".into(), Some(Duration::from_secs(7))),
        // Garbage and negatives are no hint: the backoff's first step.
        ("-5".into(), Some(Duration::from_millis(500))),
        ("soon".into(), Some(Duration::from_millis(500))),
        ("".into(), Some(Duration::from_millis(500))),
        ("1e3".into(), Some(Duration::from_millis(500))),
        ("0x10".into(), Some(Duration::from_millis(500))),
        // A date in the past: zero, which is a backoff's wait.
        (past, Some(Duration::from_millis(500))),
        // Huge: fails fast.
        ("99999999999999999999999999".into(), None),
        ("86400".into(), None),
    ];
    for (value, expected) in rows {
        let upstream = Scripted::new();
        let value2 = value.clone();
        let client = RetryLayer::new(exact()).layer(ErrorBodyParseLayer::new().layer(
            upstream.service::<ReplayBody<Full<Bytes>>>(move |n| {
                if n == 0 {
                    reply(503, &[("retry-after", &value2)], "")
                } else {
                    reply(200, &[], "ok")
                }
            }),
        ));
        let result = tokio::time::timeout(
            Duration::from_secs(600),
            client.oneshot(get("http://api.test/x")),
        )
        .await
        .expect("no hang");
        match expected {
            Some(wait) => {
                assert!(result.is_ok(), "{value:?}: {result:?}");
                assert_eq!(upstream.waits(), [wait], "{value:?}");
            }
            None => {
                let Err(Error::Api(error)) = result else {
                    panic!("{value:?}: {result:?}")
                };
                assert_eq!(upstream.count(), 1, "{value:?}");
                assert_eq!(
                    error.retries().stopped(),
                    Some(StopReason::HintTooLong),
                    "{value:?}"
                );
            }
        }
    }
    // A date 5 s away (whole seconds: between 4 and 5 s, the date format
    // drops the fraction).
    let upstream = Scripted::new();
    let date = date_in(5);
    let client = RetryLayer::new(exact()).layer(ErrorBodyParseLayer::new().layer(
        upstream.service::<ReplayBody<Full<Bytes>>>(move |n| {
            if n == 0 {
                reply(429, &[("retry-after", &date)], "")
            } else {
                reply(200, &[], "ok")
            }
        }),
    ));
    client.oneshot(get("http://api.test/x")).await.unwrap();
    let waits = upstream.waits();
    assert!(
        waits[0] >= Duration::from_secs(4) && waits[0] <= Duration::from_secs(5),
        "{waits:?}"
    );
}

/// RFC 9110: only idempotent methods are retried on a 5xx without an
/// `Idempotency-Key`; other 4xx are never retried; 408/429/5xx are.
#[tokio::test(start_paused = true)]
async fn retry_decisions_by_method_and_status() {
    let rows: &[(&str, u16, Option<&str>, usize)] = &[
        ("GET", 503, None, 3),
        ("HEAD", 502, None, 3),
        ("OPTIONS", 504, None, 3),
        ("PUT", 500, None, 3),
        ("DELETE", 503, None, 3),
        ("POST", 503, None, 1),
        ("PATCH", 503, None, 1),
        ("POST", 503, Some("k-1"), 3),
        ("PATCH", 500, Some("k-2"), 3),
        ("POST", 503, Some("   "), 1),
        ("GET", 408, None, 3),
        ("GET", 429, None, 3),
        ("GET", 400, None, 1),
        ("GET", 401, None, 1),
        ("GET", 403, None, 1),
        ("GET", 404, None, 1),
        ("GET", 405, None, 1),
        ("GET", 409, None, 1),
        ("GET", 410, None, 1),
        ("GET", 422, None, 1),
        ("GET", 501, None, 1),
        ("GET", 505, None, 1),
        ("GET", 511, None, 1),
        ("DELETE", 404, None, 1),
    ];
    for &(method, status, key, sends) in rows {
        let upstream = Scripted::new();
        let client =
            RetryLayer::new(exact()).layer(ErrorBodyParseLayer::new().layer(
                upstream.service::<ReplayBody<Full<Bytes>>>(move |_| reply(status, &[], "{}")),
            ));
        let mut builder = Request::builder().method(method).uri("http://api.test/x");
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key);
        }
        let result = client
            .oneshot(builder.body(Full::new(Bytes::new())).unwrap())
            .await;
        assert!(result.is_err(), "{method} {status}");
        assert_eq!(upstream.count(), sends, "{method} {status} key {key:?}");
    }
}

// ---------------------------------------------------------------------------
// Credentials echoed in bodies.
// ---------------------------------------------------------------------------

const KEY: &str = "sk_live_51HqLyjWDarjtT1zdp7dc0123456789";

/// A failure body through the parse layer, for a request carrying `KEY`
/// in `x-api-key`.
async fn parsed_with_key(
    status: u16,
    content_type: &str,
    body: String,
) -> tower_api_errors::ApiError {
    let upstream = Scripted::new();
    let ct = content_type.to_owned();
    let client = ErrorBodyParseLayer::new().layer(
        upstream.service::<Full<Bytes>>(move |_| reply(status, &[("content-type", &ct)], &body)),
    );
    let request = Request::get("http://api.test/v1/charges")
        .header("x-api-key", KEY)
        .body(Full::new(Bytes::new()))
        .unwrap();
    match client.oneshot(request).await {
        Err(Error::Api(error)) => error,
        other => panic!("{other:?}"),
    }
}

fn assert_no_key_piece(error: &tower_api_errors::ApiError, what: &str) {
    // Any 12-byte window of the key is a leak of it.
    let printed = format!(
        "{error} {error:?} {} {:?} {:?} {:?}",
        error.message(),
        error.code(),
        error.field_errors(),
        error.details_json()
    );
    for start in 0..=KEY.len() - 12 {
        let piece = &KEY[start..start + 12];
        assert!(
            !printed.contains(piece),
            "{what}: {piece:?} of the key leaked in {printed}"
        );
    }
}

/// The message is bounded to 1,024 characters: an echoed key that the
/// bound cuts in two must not leave its first half behind (SECURITY.md:
/// "the parse layer scrubs the request's own credentials ... out of an
/// error's message, code, field errors and details"). Scrubbing finds a
/// credential only whole, so the bound cuts at the last space before it,
/// never in a word.
#[tokio::test]
async fn an_echoed_key_cut_by_the_message_bound_is_still_scrubbed() {
    for pad in [1000usize, 1005, 1010, 1015, 1020] {
        let message = format!("{} invalid api key {KEY}", "x".repeat(pad - 17));
        let body =
            serde_json::json!({ "error": { "message": message, "type": "invalid_request_error" } })
                .to_string();
        let error = parsed_with_key(401, "application/json", body).await;
        assert_no_key_piece(&error, &format!("pad {pad}"));
    }
}

/// The same for a code, bounded to 128 characters.
#[tokio::test]
async fn an_echoed_key_cut_by_the_code_bound_is_still_scrubbed() {
    let code = format!("{}_{KEY}", "E".repeat(110));
    let body = serde_json::json!({ "error": { "code": code, "message": "bad key" } }).to_string();
    let error = parsed_with_key(401, "application/json", body).await;
    assert_no_key_piece(&error, "code");
}

/// Echoes in every place a vendor puts them: a field name (a map keyed by
/// the offending value), a problem+json extension, a GraphQL error's
/// extensions, an HTML page, a plain text body, an XML (AWS) body.
#[tokio::test]
async fn echoes_in_every_vendor_shape_are_scrubbed() {
    let rows = [
        ("application/json", serde_json::json!({"errors": {KEY: ["is not a valid key"]}}).to_string()),
        (
            "application/problem+json",
            serde_json::json!({"type": "https://example.com/probs/auth", "title": "Bad key", "status": 401, "detail": format!("key {KEY} revoked"), "key": KEY}).to_string(),
        ),
        (
            "application/json",
            serde_json::json!({"errors": [{"message": format!("Bad credentials {KEY}"), "extensions": {"code": "UNAUTHENTICATED", "key": KEY}}], "data": null}).to_string(),
        ),
        ("text/html", format!("<html><body><h1>401</h1><p>Invalid key {KEY}</p></body></html>")),
        ("text/plain", format!("invalid key: {KEY}")),
        (
            "application/xml",
            format!("<?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><Message>The key {KEY} does not exist</Message><AWSAccessKeyId>{KEY}</AWSAccessKeyId></Error>"),
        ),
        // The key escaped in JSON (`\u005f` for `_`).
        ("application/json", format!("{{\"message\": \"bad key {}\"}}", KEY.replace('_', "\\u005f"))),
    ];
    for (content_type, body) in rows {
        let error = parsed_with_key(401, content_type, body.clone()).await;
        assert_no_key_piece(&error, &body);
    }
}

// ---------------------------------------------------------------------------
// The auth layer and a failing identity provider.
// ---------------------------------------------------------------------------

/// A token source driven by closures, counting its calls.
struct Source {
    calls: Arc<AtomicU32>,
    current: Box<dyn Fn(u32) -> TokenFuture<'static> + Send + Sync>,
    refresh: Box<dyn Fn(u32) -> TokenFuture<'static> + Send + Sync>,
}

impl TokenSource for Source {
    fn current(&self) -> TokenFuture<'_> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        (self.current)(n)
    }
    fn refresh<'a>(&'a self, _rejected: &'a Credential) -> TokenFuture<'a> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        (self.refresh)(n)
    }
}

fn token(text: &str) -> TokenFuture<'static> {
    let credential = Credential::new(text).unwrap();
    Box::pin(async move { Ok(credential) })
}

fn never() -> TokenFuture<'static> {
    Box::pin(std::future::pending())
}

/// An identity provider that accepts the connection and never answers:
/// the first load and the refresh each end at the refresh timeout, in one
/// typed error; the next request in the backoff ends at once; nothing is
/// sent with no credential, nothing loops.
#[test]
fn a_hanging_identity_provider_ends_each_request_once() {
    watchdog(Duration::from_secs(20), || async {
        // The first load hangs.
        let calls = Arc::new(AtomicU32::new(0));
        let source = Source {
            calls: calls.clone(),
            current: Box::new(|_| never()),
            refresh: Box::new(|_| never()),
        };
        let upstream = Scripted::new();
        let client = tower_api_errors::ApiErrorsLayer::new()
            .retry(exact())
            .auth(AuthLayer::new(source))
            .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| reply(200, &[], "{}")));
        let started = Instant::now();
        let result = client.clone().oneshot(get("http://api.test/x")).await;
        let Err(Error::Unauthorized(error)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(
            error.reason(),
            tower_api_errors::auth::AuthFailure::NoCredential
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        let again = Instant::now();
        let result = client.clone().oneshot(get("http://api.test/x")).await;
        assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
        assert_eq!(again.elapsed(), Duration::ZERO, "backing off: at once");
        assert_eq!(upstream.count(), 0, "nothing sent without a credential");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // The refresh hangs, behind a server that rejects everything.
        let calls = Arc::new(AtomicU32::new(0));
        let source = Source {
            calls: calls.clone(),
            current: Box::new(|_| token("tok-first-aaaaaa")),
            refresh: Box::new(|_| never()),
        };
        let upstream = Scripted::new();
        let client = tower_api_errors::ApiErrorsLayer::new()
            .retry(exact())
            .auth(AuthLayer::new(source))
            .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| {
                reply(401, &[], r#"{"error":"invalid_token"}"#)
            }));
        let started = Instant::now();
        let result = client.clone().oneshot(get("http://api.test/x")).await;
        let Err(Error::Unauthorized(error)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(
            error.reason(),
            tower_api_errors::auth::AuthFailure::RefreshFailed
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert_eq!(upstream.count(), 1);
        for _ in 0..20 {
            let result = client.clone().oneshot(get("http://api.test/x")).await;
            assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
        }
        assert!(calls.load(Ordering::SeqCst) <= 3, "{calls:?}");
        assert_eq!(
            upstream.count(),
            21,
            "one send per request, no re-send while backing off"
        );
    });
}

/// A server that rejects every credential, and a source that hands out a
/// new one each time: at most one send and one re-send per request, and
/// the token endpoint is not called once per request.
#[test]
fn a_server_rejecting_every_credential_is_not_a_loop() {
    watchdog(Duration::from_secs(20), || async {
        let calls = Arc::new(AtomicU32::new(0));
        let source = Source {
            calls: calls.clone(),
            current: Box::new(|n| token(&format!("tok-{n}-aaaaaaaa"))),
            refresh: Box::new(|n| token(&format!("tok-{n}-aaaaaaaa"))),
        };
        let upstream = Scripted::new();
        let client = tower_api_errors::ApiErrorsLayer::new()
            .retry(exact())
            .auth(AuthLayer::new(source))
            .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| {
                reply(
                    401,
                    &[
                        ("www-authenticate", r#"Bearer error="invalid_token""#),
                        ("x-should-retry", "true"),
                        ("retry-after", "1"),
                    ],
                    r#"{"error":"invalid_token","error_description":"expired"}"#,
                )
            }));
        for i in 0..30 {
            let result = tokio::time::timeout(
                Duration::from_secs(300),
                client.clone().oneshot(get("http://api.test/x")),
            )
            .await
            .expect("no hang");
            assert!(result.is_err(), "{i}: {result:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sends = upstream.count();
        assert!(sends <= 60, "{sends} sends for 30 requests");
        // Backing off: 3 s of requests, a backoff from 1 s doubling.
        assert!(
            calls.load(Ordering::SeqCst) <= 6,
            "{calls:?} token source calls"
        );
    });
}

/// A source whose error quotes the rejected credential, deep in its chain
/// and only in `Debug`: withheld; and no output of the error holds the
/// credential.
#[tokio::test(start_paused = true)]
async fn a_token_endpoint_error_quoting_the_credential_never_prints_it() {
    #[derive(Debug)]
    struct Inner {
        #[allow(dead_code)]
        sent: String,
    }
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("token endpoint said no")
        }
    }
    impl std::error::Error for Inner {}
    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refresh failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    const SECRET: &str = "ya29.a0AfH6SMBx-secret-token-value";
    let source = Source {
        calls: Arc::default(),
        current: Box::new(|_| token(SECRET)),
        refresh: Box::new(|_| {
            Box::pin(async {
                Err(Box::new(Outer(Inner {
                    sent: format!("refresh_token=rt&access_token={SECRET}"),
                })) as tower_api_errors::BoxError)
            })
        }),
    };
    let upstream = Scripted::new();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(source))
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| {
            reply(
                401,
                &[],
                &format!(r#"{{"message":"token {SECRET} expired"}}"#),
            )
        }));
    let error = client.oneshot(get("http://api.test/x")).await.unwrap_err();
    let mut printed = format!("{error} {error:?}");
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(c) = cause {
        printed.push_str(&format!(" | {c} {c:?}"));
        cause = c.source();
    }
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(!printed.contains("secret-token"), "{printed}");
}

/// A credential of bytes that are valid in a header but not UTF-8 (obs-text):
/// sent as it is, no panic.
#[tokio::test(start_paused = true)]
async fn a_credential_with_obs_text_bytes_is_sent_without_a_panic() {
    let value = http::HeaderValue::from_bytes(b"tok\xe9n-value").unwrap();
    let credential = Credential::from_header_value(value);
    let upstream = Scripted::new();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .auth(AuthLayer::new(tower_api_errors::auth::StaticToken::new(
            credential,
        )))
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| reply(401, &[], "{}")));
    let result = client.oneshot(get("http://api.test/x")).await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    let requests = upstream.requests.lock().unwrap();
    assert_eq!(
        requests[0].headers["authorization"].as_bytes(),
        b"Bearer tok\xe9n-value"
    );
}

// ---------------------------------------------------------------------------
// The quota layer and hostile rate-limit headers.
// ---------------------------------------------------------------------------

/// Rate-limit headers a broken or hostile server sends on every answer:
/// every request ends (sent, or refused fast), in bounded time, without a
/// busy loop.
#[test]
fn hostile_rate_limit_headers_never_hang_the_quota_layer() {
    let rows: Vec<(&str, Vec<(&'static str, &'static str)>)> = vec![
        // Windows whose limit is 0 are left to
        // `a_zero_limit_window_is_held_to_its_reset_or_refused_at_once`.
        (
            "remaining above limit",
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "1000"),
                ("x-ratelimit-reset", "60"),
            ],
        ),
        (
            "negative reset",
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "-1"),
            ],
        ),
        (
            "past epoch reset",
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1000000000"),
            ],
        ),
        (
            "huge reset",
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "99999999999999999999999"),
            ],
        ),
        (
            "tiny reset",
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "0.000001"),
            ],
        ),
        (
            "huge limit",
            vec![
                ("x-ratelimit-limit", "18446744073709551615"),
                ("x-ratelimit-remaining", "18446744073709551615"),
                ("x-ratelimit-reset", "1"),
            ],
        ),
        (
            "garbage",
            vec![
                ("x-ratelimit-limit", "ten"),
                ("x-ratelimit-remaining", "-3"),
                ("x-ratelimit-reset", "soon"),
            ],
        ),
        (
            "ietf one in zero window",
            vec![
                ("ratelimit-policy", "\"p\";q=1;w=0"),
                ("ratelimit", "\"p\";r=0;t=0"),
            ],
        ),
        (
            "ietf huge window",
            vec![
                ("ratelimit-policy", "\"p\";q=1;w=99999999999999999999"),
                ("ratelimit", "\"p\";r=0;t=99999999999999999999"),
            ],
        ),
        (
            "anthropic past",
            vec![
                ("anthropic-ratelimit-requests-limit", "5"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", "2001-01-01T00:00:00Z"),
            ],
        ),
        (
            "many policies",
            vec![
                (
                    "ratelimit-policy",
                    "\"a\";q=1;w=1, \"b\";q=1;w=0, \"c\";q=5;w=0",
                ),
                ("ratelimit", "\"a\";r=0;t=1, \"b\";r=0;t=0, \"c\";r=5;t=0"),
            ],
        ),
    ];
    for (name, headers) in rows {
        watchdog(Duration::from_secs(20), move || async move {
            let upstream = Scripted::new();
            let headers2 = headers.clone();
            let client = QuotaLayer::new()
                .layer(upstream.service::<Full<Bytes>>(move |_| reply(200, &headers2, "{}")));
            let started = Instant::now();
            let mut outcomes = (0, 0);
            for i in 0..20 {
                let result = tokio::time::timeout(
                    Duration::from_secs(200),
                    client.clone().oneshot(get("http://api.test/x")),
                )
                .await
                .unwrap_or_else(|_| panic!("{name}: request {i} held over 200 s"));
                match result {
                    Ok(_) => outcomes.0 += 1,
                    Err(Error::RateLimited(_)) => outcomes.1 += 1,
                    Err(other) => panic!("{name}: {other:?}"),
                }
            }
            assert_eq!(upstream.count(), outcomes.0, "{name}");
            assert!(
                started.elapsed() <= Duration::from_secs(20 * 65),
                "{name}: {:?}",
                started.elapsed()
            );
        });
    }
}

/// Concurrent requests against the same hostile rows: each ends once.
#[test]
fn concurrent_requests_against_zero_windows_each_end_once() {
    watchdog(Duration::from_secs(20), || async {
        let upstream = Scripted::new();
        let client = QuotaLayer::new().layer(upstream.service::<Full<Bytes>>(|n| {
            if n % 3 == 0 {
                reply(429, &[("retry-after", "0")], "")
            } else {
                reply(
                    200,
                    &[
                        ("ratelimit-policy", "\"p\";q=2;w=0"),
                        ("ratelimit", "\"p\";r=0;t=0"),
                    ],
                    "{}",
                )
            }
        }));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_secs(600),
                    client.oneshot(get("http://api.test/x")),
                )
                .await
            }));
        }
        let mut ended = 0;
        for task in tasks {
            let result = task.await.unwrap().expect("held over 600 s");
            match result {
                Ok(_) | Err(Error::RateLimited(_)) => ended += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(ended, 50);
    });
}

/// A server that once announces a window of limit 0, spent, resetting in
/// 60 s (then answers normally). The quota module promises: "At zero, a
/// request is held until the reset". A limit of 0 is no window to refill:
/// the next request is held to the reset, sent, and its answer teaches the
/// scope again; the ones after it go at once. (Refilled to its limit, 0,
/// the window held every request for the whole `max_wait` and refused it,
/// and the scope never learned again.)
#[test]
fn a_zero_limit_window_is_held_to_its_reset_then_learned_again() {
    watchdog(Duration::from_secs(20), || async {
        let upstream = Scripted::new();
        let client = QuotaLayer::new().layer(upstream.service::<Full<Bytes>>(|n| {
            let (limit, remaining) = if n == 0 { ("0", "0") } else { ("100", "99") };
            reply(
                200,
                &[
                    ("x-ratelimit-limit", limit),
                    ("x-ratelimit-remaining", remaining),
                    ("x-ratelimit-reset", "60"),
                ],
                "{}",
            )
        }));
        client
            .clone()
            .oneshot(get("http://api.test/x"))
            .await
            .unwrap();
        let mut held = Vec::new();
        for _ in 1..4 {
            let started = Instant::now();
            client
                .clone()
                .oneshot(get("http://api.test/x"))
                .await
                .unwrap();
            held.push(started.elapsed());
        }
        assert!(
            held[0] >= Duration::from_secs(59) && held[0] <= Duration::from_secs(62),
            "{held:?}"
        );
        assert!(
            held[1..].iter().all(|h| *h < Duration::from_secs(1)),
            "{held:?}"
        );
        assert_eq!(upstream.count(), 4);
    });
}

// ---------------------------------------------------------------------------
// Vendor error bodies, and broken ones.
// ---------------------------------------------------------------------------

fn parse(status: u16, content_type: &str, body: &[u8]) -> tower_api_errors::ApiError {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    tower_api_errors::parse_error(http::StatusCode::from_u16(status).unwrap(), &headers, body)
}

/// A vendor body and what it should read as: (status, content type, body,
/// message, code, a field error's field).
type VendorRow<'a> = (
    u16,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
);

/// Real bodies from vendor docs: message, code and field errors as the
/// vendor names them.
#[test]
fn vendor_bodies_as_their_docs_show_them() {
    let rows: &[VendorRow] = &[
        // Stripe: https://docs.stripe.com/api/errors
        (404, "application/json", r#"{"error": {"code": "resource_missing", "doc_url": "https://stripe.com/docs/error-codes/resource-missing", "message": "No such customer: 'cus_123'", "param": "id", "request_log_url": "https://dashboard.stripe.com/test/logs/req_1", "type": "invalid_request_error"}}"#, "No such customer: 'cus_123'", Some("resource_missing"), None),
        // GitHub: https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
        (422, "application/json; charset=utf-8", r#"{"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}], "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue", "status": "422"}"#, "Validation Failed", None, Some("title")),
        // Google APIs (AIP-193)
        (400, "application/json; charset=UTF-8", r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "translate.googleapis.com"}}]}}"#, "API key not valid. Please pass a valid API key.", None, None),
        // AWS JSON protocols (DynamoDB)
        (400, "application/x-amz-json-1.0", r#"{"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "Requested resource not found: Table: t not found"}"#, "Requested resource not found: Table: t not found", Some("ResourceNotFoundException"), None),
        // AWS S3 REST XML
        (404, "application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a.txt</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>abc</HostId></Error>", "The specified key does not exist.", Some("NoSuchKey"), None),
        // AWS Query (SQS, STS) XML
        (400, "text/xml", "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>abc-123</RequestId></ErrorResponse>", "The security token included in the request is expired", Some("ExpiredToken"), None),
        // RFC 9457 §3 example
        (403, "application/problem+json", r#"{"type": "https://example.com/probs/out-of-credit", "title": "You do not have enough credit.", "detail": "Your current balance is 30, but that costs 50.", "instance": "/account/12345/msgs/abc", "balance": 30, "accounts": ["/account/12345", "/account/67890"]}"#, "Your current balance is 30, but that costs 50.", None, None),
        // RFC 9457 §3 validation example
        (422, "application/problem+json", r##"{"type": "https://example.net/validation-error", "title": "Your request is not valid.", "errors": [{"detail": "must be a positive integer", "pointer": "#/age"}, {"detail": "must be 'green', 'red' or 'blue'", "pointer": "#/profile/color"}]}"##, "Your request is not valid.", None, Some("age")),
        // OData v4 JSON format §21
        (400, "application/json;odata.metadata=minimal", r#"{"error": {"code": "BadArgument", "message": "Multiple errors in ContactInfo data", "target": "ContactInfo", "details": [{"code": "NullValue", "target": "PhoneNumber", "message": "Phone number must not be null"}, {"code": "NullValue", "target": "LastName", "message": "Last name must not be null"}]}}"#, "Multiple errors in ContactInfo data", Some("BadArgument"), Some("PhoneNumber")),
        // GraphQL spec §7.1.2
        (400, "application/graphql-response+json", r#"{"errors": [{"message": "Name for character with ID 1002 could not be fetched.", "locations": [{"line": 6, "column": 7}], "path": ["hero", "heroFriends", 1, "name"], "extensions": {"code": "CAN_NOT_FETCH_BY_ID", "timestamp": "Fri Feb 9 14:33:09 UTC 2018"}}], "data": null}"#, "Name for character with ID 1002 could not be fetched.", Some("CAN_NOT_FETCH_BY_ID"), None),
        // Azure Resource Manager
        (404, "application/json; charset=utf-8", r#"{"error": {"code": "ResourceGroupNotFound", "message": "Resource group 'rg' could not be found."}}"#, "Resource group 'rg' could not be found.", Some("ResourceGroupNotFound"), None),
        // OAuth2 token endpoint (RFC 6749 §5.2)
        (400, "application/json;charset=UTF-8", r#"{"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}"#, "The refresh token is invalid or expired.", Some("invalid_grant"), None),
        // JSON-RPC 2.0
        (200, "application/json", r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}"#, "Method not found", Some("-32601"), None),
        // Twilio: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
        (404, "application/json", r#"{"code": 20404, "message": "The requested resource /2010-04-01/Accounts/AC123/Calls/CA123.json was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}"#, "The requested resource /2010-04-01/Accounts/AC123/Calls/CA123.json was not found", Some("20404"), None),
    ];
    let mut failures = Vec::new();
    for &(status, content_type, body, message, code, field) in rows {
        let error = parse(
            if status == 200 { 500 } else { status },
            content_type,
            body.as_bytes(),
        );
        if error.message() != message {
            failures.push(format!(
                "{content_type} {status}: message {:?}, want {message:?}",
                error.message()
            ));
        }
        if let Some(code) = code {
            if error.code() != Some(code) {
                failures.push(format!(
                    "{content_type} {status}: code {:?}, want {code:?}",
                    error.code()
                ));
            }
        }
        if let Some(field) = field {
            if !error.field_errors().iter().any(|f| f.field() == field) {
                failures.push(format!(
                    "{content_type} {status}: fields {:?}, want {field:?}",
                    error.field_errors()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Broken bodies: never a panic, always a non-empty one-line message of at
/// most 1,024 characters, in bounded time.
#[test]
fn broken_bodies_still_give_one_bounded_line() {
    let deep = "[".repeat(200_000);
    let deep_obj = "{\"error\":".repeat(50_000);
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00];
    gz.extend((0..5000u32).map(|i| (i * 7 % 251) as u8));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", br#"{"error": {"message": "cut he"#.to_vec()),
        ("application/json", br#"{"message": "nul \u0000 and \ud800 lone surrogate"}"#.to_vec()),
        ("application/json", b"{\"message\": \"bad \xff\xfe utf8\"}".to_vec()),
        ("application/json", deep.into_bytes()),
        ("application/json", deep_obj.into_bytes()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"\"just a string\"".to_vec()),
        ("application/json", b"12345".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"{}".to_vec()),
        ("application/json", "{\"message\": \"".to_string().into_bytes().into_iter().chain("a\\n".repeat(100_000).into_bytes()).collect()),
        ("text/html", "<".repeat(100_000).into_bytes()),
        ("text/html", b"<html><head><title>502 Bad Gateway</title></head><body><script>alert(1)</script></body></html>".to_vec()),
        ("application/json; charset=utf-16", "{\"message\":\"x\"}".encode_utf16().flat_map(|u| u.to_le_bytes()).collect()),
        ("application/json", gz),
        ("application/xml", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><Error><Message>&b;&b;&b;</Message></Error>".to_vec()),
        ("", vec![]),
        ("text/plain", b"\r\n\t  \r\n".to_vec()),
    ];
    for (content_type, body) in bodies {
        for status in [400u16, 500, 503] {
            let started = std::time::Instant::now();
            let error = parse(
                status,
                if content_type.is_empty() {
                    "application/octet-stream"
                } else {
                    content_type
                },
                &body,
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{content_type}: slow"
            );
            let message = error.message();
            assert!(
                !message.is_empty(),
                "{content_type} {status}: empty message"
            );
            assert!(
                message.chars().count() <= 1024,
                "{content_type}: {} chars",
                message.chars().count()
            );
            assert!(
                !message.contains('\n') && !message.contains('\r'),
                "{content_type}: {message:?}"
            );
            let _ = format!("{error} {error:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Layers together: retry, quota and auth waits do not add up.
// ---------------------------------------------------------------------------

/// A 429 with `Retry-After: 5` is waited once, not twice (once by the
/// retry layer, then again by the quota layer's cooldown).
#[tokio::test(start_paused = true)]
async fn a_retry_after_is_waited_once_by_retry_and_quota_together() {
    let upstream = Scripted::new();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|n| {
            if n == 0 {
                reply(429, &[("retry-after", "5")], r#"{"error":"slow down"}"#)
            } else {
                reply(200, &[], "{}")
            }
        }));
    let response = client.oneshot(get("http://api.test/x")).await.unwrap();
    assert_eq!(upstream.waits(), [Duration::from_secs(5)]);
    assert_eq!(
        response
            .extensions()
            .get::<RetryReport>()
            .unwrap()
            .attempts(),
        2
    );
}

/// Ten callers each get a 429 with `Retry-After: 5`: all are answered
/// within about that, none waits it twice over.
#[tokio::test(start_paused = true)]
async fn ten_callers_behind_one_retry_after_are_answered_after_it() {
    let upstream = Scripted::new();
    let started = Instant::now();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .quota(QuotaLayer::new())
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(move |_| {
            if started.elapsed() < Duration::from_millis(10) {
                reply(429, &[("retry-after", "5")], r#"{"error":"slow down"}"#)
            } else {
                reply(200, &[], "{}")
            }
        }));
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://api.test/x"))))
        .collect();
    for call in calls {
        let response = call.await.unwrap();
        assert!(response.is_ok(), "{response:?}");
    }
    assert!(
        started.elapsed() <= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
}

/// The retry layer's deadline bounds a quota hold: a window spent for
/// 100 s, a deadline of 30 s.
#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_a_quota_hold() {
    let upstream = Scripted::new();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact().deadline(Duration::from_secs(30)))
        .quota(QuotaLayer::new())
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| {
            reply(
                200,
                &[
                    ("x-ratelimit-limit", "10"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "100"),
                ],
                "{}",
            )
        }));
    client
        .clone()
        .oneshot(get("http://api.test/x"))
        .await
        .unwrap();
    let started = Instant::now();
    let result = client.clone().oneshot(get("http://api.test/x")).await;
    assert!(result.is_err(), "{result:?}");
    assert!(
        started.elapsed() <= Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.count(), 1);
}

/// A 401, renewed, then a 503 and a 200: the retry after the renewal
/// carries the renewed credential, and the token source is called once.
#[tokio::test(start_paused = true)]
async fn a_retry_after_a_renewal_carries_the_new_credential() {
    let calls = Arc::new(AtomicU32::new(0));
    let source = Source {
        calls: calls.clone(),
        current: Box::new(|n| token(&format!("tok-{n}-aaaaaaaa"))),
        refresh: Box::new(|n| token(&format!("tok-{n}-aaaaaaaa"))),
    };
    let upstream = Scripted::new();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact())
        .auth(AuthLayer::new(source))
        .quota(QuotaLayer::new())
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|n| match n {
            0 => reply(401, &[], "{}"),
            1 => reply(503, &[("retry-after", "1")], "{}"),
            _ => reply(200, &[], "{}"),
        }));
    client.oneshot(get("http://api.test/x")).await.unwrap();
    let requests = upstream.requests.lock().unwrap();
    let sent: Vec<_> = requests
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sent,
        [
            "Bearer tok-0-aaaaaaaa",
            "Bearer tok-1-aaaaaaaa",
            "Bearer tok-1-aaaaaaaa"
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Every retryable status that carries `Retry-After` is retried no
/// earlier than it says, not only 429 and 503.
#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_on_every_retryable_status() {
    for status in [408u16, 429, 500, 502, 503, 504, 507, 520, 529] {
        for (header, value, wait) in [
            ("retry-after", "3", Duration::from_secs(3)),
            ("retry-after-ms", "1500", Duration::from_millis(1500)),
            ("x-ms-retry-after-ms", "2500", Duration::from_millis(2500)),
        ] {
            let upstream = Scripted::new();
            let client = RetryLayer::new(exact()).layer(ErrorBodyParseLayer::new().layer(
                upstream.service::<ReplayBody<Full<Bytes>>>(move |n| {
                    if n == 0 {
                        reply(status, &[(header, value)], "")
                    } else {
                        reply(200, &[], "ok")
                    }
                }),
            ));
            client.oneshot(get("http://api.test/x")).await.unwrap();
            assert_eq!(upstream.waits(), [wait], "{status} {header}");
        }
    }
}

/// Several `Retry-After` fields and joined lines: the longest valid one;
/// over a raw client too (no parse layer).
#[tokio::test(start_paused = true)]
async fn several_retry_after_values_wait_the_longest_over_a_raw_client() {
    let upstream = Scripted::new();
    let client = RetryLayer::new(exact()).layer(upstream.service::<ReplayBody<Full<Bytes>>>(|n| {
        if n == 0 {
            let mut response = reply(503, &[], "");
            for value in ["2", "garbage", "7, 3", "-9", "4"] {
                response
                    .headers_mut()
                    .append("retry-after", value.parse().unwrap());
            }
            response
        } else {
            reply(200, &[], "ok")
        }
    }));
    let response = client.oneshot(get("http://api.test/x")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.waits(), [Duration::from_secs(7)]);
}

// ---------------------------------------------------------------------------
// Over real hyper on loopback.
// ---------------------------------------------------------------------------

fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(
            Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_millis(20))
                .jitter(Jitter::None),
        )
        .no_budget()
        .max_retry_after(Duration::from_secs(2))
}

/// A failure body that never ends, a HEAD answered with a large
/// Content-Length and no body, and a flood of hint headers: each call
/// ends once, quickly, with its attempts.
#[tokio::test]
async fn hostile_loopback_answers_end_each_call_once() {
    use http_body_util::BodyExt;
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let addr = support::serve(move |request: Request<hyper::body::Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match request.uri().path() {
                "/endless" => {
                    let stream = tokio_stream::iter(std::iter::repeat_with(|| {
                        Ok::<_, support::BoxError>(http_body::Frame::data(Bytes::from(vec![
                            b'x';
                            8192
                        ])))
                    }));
                    Response::builder()
                        .status(503)
                        .header("content-type", "application/json")
                        .body(http_body_util::StreamBody::new(stream).boxed())
                        .unwrap()
                }
                "/head" => Response::builder()
                    .status(503)
                    .header("content-length", "100000000")
                    .header("retry-after", "0")
                    .body(support::full(""))
                    .unwrap(),
                "/flood" => {
                    let mut builder = Response::builder().status(429);
                    for i in 0..30 {
                        builder = builder
                            .header("retry-after", if i % 2 == 0 { "1" } else { "garbage" })
                            .header("ratelimit", format!("\"p{i}\";r=0;t={i}"))
                            .header("x-ratelimit-remaining", "0");
                    }
                    builder.body(support::full("{}")).unwrap()
                }
                _ => support::response(404, &[], ""),
            }
        }
    })
    .await;
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(quick())
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    for (method, path, attempts) in [
        ("GET", "/endless", 3),
        ("HEAD", "/head", 3),
        ("GET", "/flood", 3),
    ] {
        hits.store(0, Ordering::SeqCst);
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let result = tokio::time::timeout(Duration::from_secs(20), client.clone().oneshot(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no outcome in 20 s"));
        let error = result.expect_err(path);
        assert_eq!(
            error.api().map(|e| e.attempts()),
            Some(attempts),
            "{path}: {error}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), attempts, "{path}");
        if path == "/endless" {
            assert!(error.api().unwrap().is_truncated(), "{error}");
        }
    }
}

/// The retry layer's deadline cuts a hanging token endpoint too: the
/// caller gets its error at the deadline, not at the refresh timeout.
#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_hanging_refresh() {
    let source = Source {
        calls: Arc::default(),
        current: Box::new(|_| token("tok-first-aaaaaa")),
        refresh: Box::new(|_| never()),
    };
    let upstream = Scripted::new();
    let client = tower_api_errors::ApiErrorsLayer::new()
        .retry(exact().deadline(Duration::from_secs(3)))
        .auth(AuthLayer::new(source))
        .layer(upstream.service::<ReplayBody<Full<Bytes>>>(|_| reply(401, &[], "{}")));
    let started = Instant::now();
    let result = client.oneshot(get("http://api.test/x")).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}
