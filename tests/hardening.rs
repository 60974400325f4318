//! Hardening II regressions (issue 13): a default request is bounded in
//! time, and credentials stay hidden however they are named, wherever they
//! stand in the URI, and when the server echoes them back.

mod support;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::{Credential, StaticToken};
use tower_api_errors::redact::{redact_uri, Redaction};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy, DEFAULT_DEADLINE};
use tower_api_errors::{ApiErrorsLayer, AuthLayer, Error, ErrorBodyParseLayer, StopReason};
use tower_test::mock;

type Req = Request<ReplayBody<Full<Bytes>>>;

fn get() -> Request<Full<Bytes>> {
    Request::get("http://api.test/items")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn reply(status: u16, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

/// Before: with default settings a server that never answered held a GET
/// forever.
#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_frees_the_caller_at_the_default_deadline() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    handle.allow(10);
    let client = RetryLayer::new(RetryPolicy::default()).layer(service);
    let started = Instant::now();
    let call = tokio::spawn(client.oneshot(get()));
    let (_request, _never_answered) = handle.next_request().await.unwrap();
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(started.elapsed(), DEFAULT_DEADLINE);
    assert_eq!(DEFAULT_DEADLINE, Duration::from_secs(150));
    assert!(error.transport().unwrap().is_deadline());
    assert_eq!(error.retries().stopped(), Some(StopReason::Deadline));
}

/// Before: two 120 s hints held a default request about four minutes.
#[tokio::test(start_paused = true)]
async fn long_hints_cannot_add_up_past_the_default_deadline() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    handle.allow(10);
    let client = RetryLayer::new(RetryPolicy::default().no_budget()).layer(service);
    let started = Instant::now();
    let call = tokio::spawn(client.oneshot(get()));
    for _ in 0..2 {
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(reply(503, &[("retry-after", "120")]));
    }
    let response = call.await.unwrap().unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(120),
        "one hint honoured, the second refused"
    );
    let report = response
        .extensions()
        .get::<tower_api_errors::RetryReport>()
        .unwrap();
    assert_eq!(
        (report.attempts(), report.stopped()),
        (2, Some(StopReason::Deadline))
    );
}

/// Opting out is explicit, and then nothing cuts the request.
#[tokio::test(start_paused = true)]
async fn no_deadline_is_an_explicit_choice() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    handle.allow(10);
    let client = RetryLayer::new(RetryPolicy::default().no_deadline()).layer(service);
    let call = tokio::spawn(client.oneshot(get()));
    let (_, send) = handle.next_request().await.unwrap();
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(!call.is_finished());
    send.send_response(reply(200, &[]));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// Before: these names and shapes were printed as they were.
#[test]
fn credential_names_and_shapes_the_first_redactor_missed() {
    let rows = [
        (
            "/v1?accessToken=t1&page=2",
            "/v1?accessToken=REDACTED&page=2",
        ),
        ("/v1?apiToken=t2", "/v1?apiToken=REDACTED"),
        ("/v1?clientSecret=t3", "/v1?clientSecret=REDACTED"),
        ("/v1?sessionToken=t4", "/v1?sessionToken=REDACTED"),
        ("/v1?jwt=t5&bearer=t6", "/v1?jwt=REDACTED&bearer=REDACTED"),
        ("/v1?api_key[]=t7", "/v1?api_key[]=REDACTED"),
        ("/v1?a=1;token=t8", "/v1?a=1;token=REDACTED"),
        (
            "/bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
            "/botREDACTED/getMe",
        ),
    ];
    for (raw, expected) in rows {
        let uri: Uri = raw.parse().unwrap();
        assert_eq!(redact_uri(&uri), expected);
    }
}

const BEARER: &str = "ya29.a0AfH6SMBx3-real-looking-token";
const API_KEY: &str = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";
const QUERY_SECRET: &str = "qs-77f1b2c3d4";

/// A loopback server that answers 401 with a body echoing the request's
/// credentials (Google's error shape, seed 002) and its API key as the
/// request id, and a GET to it carrying
/// an API key header, a secret in its query and, with `bearer`, its own
/// `Authorization`.
async fn echoing_server(bearer: bool) -> Request<Full<Bytes>> {
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let header = |name: &str| {
            request.headers()[name]
                .to_str()
                .unwrap()
                .to_owned()
        };
        let body = serde_json::json!({
            "error": {
                "code": format!("bad_key_{}", header("x-goog-api-key")),
                "message": format!("Token {} is expired; got {}", header("authorization"), request.uri()),
                "details": [{"field_violations": [{"field": "key", "description": header("x-goog-api-key")}]}],
                "echo": {"authorization": header("authorization"), "uri": request.uri().to_string()},
                // The token alone, without its scheme: no token shape to
                // catch, only the request's own credential.
                "token": header("authorization").trim_start_matches("Bearer ").to_owned(),
            }
        });
        // A gateway reflecting a request header as its request id.
        let key = header("x-goog-api-key");
        let headers = [("content-type", "application/json"), ("x-request-id", &*key)];
        support::response(401, &headers, body.to_string())
    })
    .await;
    let mut request = Request::get(format!(
        "http://{addr}/v1/me?client_secret={QUERY_SECRET}&page=2"
    ))
    .header("x-goog-api-key", API_KEY);
    if bearer {
        request = request.header("authorization", format!("Bearer {BEARER}"));
    }
    request.body(Full::new(Bytes::new())).unwrap()
}

/// Every echo replaced, and the request named (redacted).
fn assert_scrubbed_and_named(error: &tower_api_errors::ApiError) {
    assert!(
        error
            .message()
            .starts_with("Token Bearer REDACTED is expired"),
        "{}",
        error.message()
    );
    let everything = format!(
        "{error} | {error:?} | {:?} | {:?} | {:?}",
        error.code(),
        error.field_errors(),
        error.details()
    );
    for secret in [BEARER, API_KEY, QUERY_SECRET] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert!(everything.contains("REDACTED"));
    let request = error.request().expect("the error names its request");
    assert_eq!(request.method(), http::Method::GET);
    assert!(
        request
            .to_string()
            .contains("/v1/me?client_secret=REDACTED&page=2"),
        "{request}"
    );
}

/// Before: an error body that echoed the request's credential carried it
/// into the message. Real hyper on loopback: the server echoes what it got.
#[tokio::test]
async fn a_server_echoing_the_request_credentials_does_not_leak_them() {
    let request = echoing_server(true).await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let Err(Error::Api(error)) = client.oneshot(request).await else {
        panic!("a 401 is an ApiError")
    };
    assert_scrubbed_and_named(&error);
}

/// An HTML error page that echoes the request's bearer token the way Go's
/// `html/template` writes it (`+` as `&#43;`, `/` as `&#x2F;`): the
/// character references are decoded (XML 1.0 §4.1) before the echo is
/// looked for, so it is found and scrubbed. Before, they were shown as
/// written, and the token with them, one trivial decoding away.
#[tokio::test]
async fn an_echo_written_in_character_references_is_scrubbed() {
    const TOKEN: &str = "AbCdEfGh+IjKlMnOp/QrStUv==";
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let sent = request.headers()["authorization"].to_str().unwrap();
        let token = sent.trim_start_matches("Bearer ");
        let written = token.replace('+', "&#43;").replace('/', "&#x2F;");
        let page = format!(
            "<html><body><h1>Unauthorized</h1><p>token {written} is not valid</p></body></html>"
        );
        support::response(401, &[("content-type", "text/html; charset=utf-8")], page)
    })
    .await;
    let request = Request::get(format!("http://{addr}/v1/me"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let client = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    let Err(Error::Api(error)) = client.oneshot(request).await else {
        panic!("a 401 is an ApiError")
    };
    let shown = format!("{error} | {error:?}");
    assert!(!shown.contains("IjKlMnOp"), "{shown}");
    assert!(shown.contains("REDACTED"), "{shown}");
}

/// The one-layer stack keeps one copy of the request (the retry layer's)
/// and names and scrubs the parse layer's errors from it, on a failure
/// only: the same result as layers that each keep their own copy.
#[tokio::test]
async fn the_one_layer_stack_scrubs_and_names_from_its_one_copy() {
    let request = echoing_server(true).await;
    let client = ApiErrorsLayer::new().client(support::client::<ReplayBody<Full<Bytes>>>());
    let Err(Error::Api(error)) = client.oneshot(request).await else {
        panic!("a 401 is an ApiError")
    };
    assert_scrubbed_and_named(&error);
}

/// With the auth layer in the one-layer stack, the credential it adds is
/// in no copy of the request above it: it scrubs that echo itself.
#[tokio::test]
async fn the_auth_layers_own_credential_is_scrubbed_from_the_rejection() {
    let request = echoing_server(false).await;
    let client = ApiErrorsLayer::new()
        .auth(AuthLayer::new(StaticToken::new(
            Credential::new(BEARER).unwrap(),
        )))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let Err(Error::Unauthorized(unauthorized)) = client.oneshot(request).await else {
        panic!("a credential rejected twice ends in Unauthorized")
    };
    let rejection = unauthorized.rejection().expect("the server's typed answer");
    assert_scrubbed_and_named(rejection);
    assert!(!format!("{unauthorized} {unauthorized:?}").contains(BEARER));
}

/// A transport failure below the one-layer stack's parse layer names the
/// request too.
#[tokio::test]
async fn the_one_layer_stack_names_transport_failures() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let client = ApiErrorsLayer::new()
        .retry(RetryPolicy::default().max_attempts(1))
        .client(service);
    let call = tokio::spawn(client.oneshot(get()));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::other("connection reset"));
    let Err(Error::Transport(error)) = call.await.unwrap() else {
        panic!("a transport error")
    };
    let request = error.request().expect("the error names its request");
    assert_eq!(request.to_string(), "GET http://api.test/items");
}

/// User rules: extra names and path shapes, process-wide. (The only test in
/// this file that installs rules, so it cannot disturb the others.)
#[test]
fn installed_rules_apply_to_every_uri_printed() {
    Redaction::new()
        .secret_name("x-tenant-pin")
        .segment_after("keys")
        .segment_prefix("sess_")
        .install();
    let uri: Uri = "https://a.test/keys/k_9f8e7d/sess_abc123/x?x-tenant-pin=9921&q=1"
        .parse()
        .unwrap();
    assert_eq!(
        redact_uri(&uri),
        "https://a.test/keys/REDACTED/sess_REDACTED/x?x-tenant-pin=REDACTED&q=1"
    );
}

/// Before: only six fingerprints were kept, in header order, and a value
/// with `+`, `/` or `=` took two (raw and form-encoded): three base64
/// session cookies or API-key headers before `Authorization` left the
/// bearer token unfingerprinted, and its echo whole in the error. The
/// `Authorization` value now has fingerprints of its own, and the cap
/// holds a realistic request's credentials (SECURITY.md, "No credentials in errors or logs":
/// the request's own `Authorization` value, credential-named headers and
/// cookies), alone and through the one-layer stack.
#[tokio::test]
async fn the_bearer_token_is_scrubbed_beside_many_credential_headers_and_cookies() {
    const COOKIES: [&str; 3] = ["AbC+dEf/GhI=", "XyZ+uVw/RsT=", "QqQ+wWw/EeE="];
    const KEYS: [&str; 3] = [
        "AKIA+EXAMPLE/KEY=",
        "wJalrXUt+nFEMI/K7MDENG=",
        "FQoGZXIvYXdz+EX/TOKEN=",
    ];
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let token = request.headers()["authorization"].to_str().unwrap()[7..].to_owned();
        let mut seen = vec![token];
        seen.extend(COOKIES.iter().chain(&KEYS).map(|value| value.to_string()));
        rejected(format!("invalid key {}", seen.join(" ")))
    })
    .await;
    let request = || {
        Request::get(format!("http://{addr}/v1/me"))
            .header(
                "cookie",
                format!(
                    "session_id={}; refresh_token={}; csrf_token={}",
                    COOKIES[0], COOKIES[1], COOKIES[2]
                ),
            )
            .header("x-api-key", KEYS[0])
            .header("x-api-secret", KEYS[1])
            .header("x-session-token", KEYS[2])
            .header("authorization", format!("Bearer {BEARER}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let alone = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    let Err(Error::Api(alone)) = alone.oneshot(request()).await else {
        panic!("a 401 is an ApiError")
    };
    let stack = ApiErrorsLayer::new().client(support::client::<ReplayBody<Full<Bytes>>>());
    let Err(Error::Api(stacked)) = stack.oneshot(request()).await else {
        panic!("a 401 is an ApiError")
    };
    for error in [alone, stacked] {
        assert_eq!(
            error.message(),
            format!("invalid key{}", " REDACTED".repeat(7))
        );
        let shown = format!("{error} {error:?} {:?}", error.details());
        assert!(
            !shown.contains(BEARER) && !shown.contains("AbC+dEf"),
            "{shown}"
        );
    }
}

/// SECURITY.md: "Headers are never recorded by any error or event. URIs
/// are recorded for context but always printed redacted". What a policy's
/// hooks see printed with `{:?}` (the `RetryEvent` of `on_retry`, the
/// `RetryContext` of `retry_if`), and a `RedactedUri` itself, showed the
/// userinfo, the query's secrets and the `Authorization` header; a failure
/// response's `Outcome`, its `Set-Cookie`.
#[tokio::test(start_paused = true)]
async fn what_a_policys_hooks_print_is_redacted() {
    use std::sync::{Arc, Mutex};
    let printed = Arc::new(Mutex::new(String::new()));
    let (events, contexts) = (printed.clone(), printed.clone());
    let policy = RetryPolicy::default()
        .max_attempts(2)
        .on_retry(move |event| events.lock().unwrap().push_str(&format!("{event:?}")))
        .retry_if(move |context| {
            contexts.lock().unwrap().push_str(&format!("{context:?}"));
            None
        });
    let upstream = tower::service_fn(|_: Request<ReplayBody<Full<Bytes>>>| async {
        let response = Response::builder()
            .status(503)
            .header("set-cookie", "session=SECRET6")
            .body(Full::new(Bytes::new()));
        Ok::<_, std::convert::Infallible>(response.unwrap())
    });
    let request = Request::get("https://bob:pw_SECRET1@api.test/v1/x?api_key=SECRET2")
        .header("authorization", "Bearer SECRET3")
        .body(Full::new(Bytes::new()))
        .unwrap();
    RetryLayer::new(policy)
        .layer(upstream)
        .oneshot(request)
        .await
        .unwrap();
    let uri: Uri = "https://bob:pw_SECRET4@api.test/?token=SECRET5"
        .parse()
        .unwrap();
    let redacted = format!("{:?}", tower_api_errors::redact::RedactedUri(&uri));
    let printed = format!("{} {redacted}", printed.lock().unwrap());
    assert!(
        printed.contains("RetryEvent") && printed.contains("RetryContext"),
        "{printed}"
    );
    assert!(
        printed.contains("api.test/v1/x") && printed.contains("authorization"),
        "{printed}"
    );
    assert!(printed.contains("set-cookie"), "{printed}");
    assert!(!printed.contains("SECRET"), "{printed}");
}

/// The auth layer's docs: "No error, `Debug` output or tracing event of this
/// layer holds one", however short. Its own example's key, `k-123` (five
/// bytes), echoed by the server in its 401, printed in the `Unauthorized`
/// error: credentials under six bytes were never fingerprinted. The layer
/// knows its credential exactly, so it scrubs it at any length, alone and
/// under the retry and parse layers.
#[tokio::test(start_paused = true)]
async fn a_short_credential_of_the_auth_layer_echoed_is_scrubbed() {
    let echo = tower::service_fn(|request: Request<ReplayBody<Full<Bytes>>>| {
        let key = request.headers()["x-api-key"].to_str().unwrap().to_owned();
        let body = format!(r#"{{"error": {{"code": 401, "message": "Invalid token {key}"}}}}"#);
        let response = Response::builder()
            .status(401)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)));
        async move { Ok::<_, std::convert::Infallible>(response.unwrap()) }
    });
    let auth = AuthLayer::new(StaticToken::new(Credential::new("k-123").unwrap()))
        .header(http::HeaderName::from_static("x-api-key"))
        .no_scheme();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(auth)
        .layer(ErrorBodyParseLayer::new())
        .service(echo);
    let error = client.oneshot(get()).await.unwrap_err();
    let printed = format!("{error} {error:?} {error:#?}");
    assert!(matches!(error, Error::Unauthorized(_)), "{printed}");
    assert!(printed.contains("Invalid token"), "{printed}");
    assert!(!printed.contains("k-123"), "{printed}");
}

/// The parse module's docs: a kept error "retains at most twice the body
/// read plus 1 KiB". The auth layer's own credential is scrubbed at any
/// length, and a two-byte one echoed all over a 60 KiB body made each
/// `ab ` a `REDACTED ` (3x): past twice the text, the details go.
#[tokio::test(start_paused = true)]
async fn a_short_credential_echoed_all_over_keeps_the_memory_bound() {
    let mut body = String::from(r#"{"message":"denied","echo":""#);
    while body.len() < 60 * 1024 {
        body.push_str("ab ");
    }
    body.push_str(r#""}"#);
    let read = body.len();
    let echo = tower::service_fn(move |_: Request<ReplayBody<Full<Bytes>>>| {
        let response = Response::builder()
            .status(403)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.clone())));
        async move { Ok::<_, std::convert::Infallible>(response.unwrap()) }
    });
    let auth = AuthLayer::new(StaticToken::new(Credential::new("ab").unwrap()));
    let client = ApiErrorsLayer::new().auth(auth).client(echo);
    let error = client.oneshot(get()).await.unwrap_err();
    let error = error.api().expect("an API error");
    assert_eq!(error.message(), "denied");
    let kept = error.details_json().map_or(0, str::len);
    assert!(kept <= 2 * read + 1024, "kept {kept} for a body of {read}");
    assert!(!format!("{error:?}").contains(" ab "));
}

/// Credentials under names beyond the first lists: gateways' `X-Auth` and
/// `X-Authorization` headers, `Authentication` (a common misnaming), and
/// the query's `passcode`, `otp` and RFC 7521's `client_assertion`. Their
/// values, echoed by a real server, printed in the error, and the query's
/// printed in its URI.
#[tokio::test]
async fn credentials_under_gateway_and_one_time_names_never_print() {
    const HEADERS: [(&str, &str); 3] = [
        ("x-authorization", "xauth_SECRET_0a1b2c3d"),
        ("x-auth", "xa_SECRET_99887766"),
        ("authentication", "authn_SECRET_5544332211"),
    ];
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let echoed: Vec<_> = HEADERS
            .iter()
            .map(|(name, _)| request.headers()[*name].to_str().unwrap().to_owned())
            .collect();
        let body = format!(r#"{{"message":"rejected: {}"}}"#, echoed.join(" "));
        support::response(401, &[("content-type", "application/json")], body)
    })
    .await;
    let query = "passcode=PC_SECRET_1&client_assertion=CA_SECRET_2&otp=OTP_SECRET_3";
    let mut request = Request::get(format!("http://{addr}/v1?{query}"));
    for (name, value) in HEADERS {
        request = request.header(name, value);
    }
    let client = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    let error = client
        .oneshot(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap_err();
    let printed = format!("{error} {error:?}");
    assert!(printed.contains("rejected: REDACTED"), "{printed}");
    assert!(!printed.contains("SECRET"), "{printed}");
}

/// `parse_error` is "the pure function under ErrorBodyParseLayer"
/// (`src/parse/parser.rs`), and `to_problem_response` says "the message
/// and code are already scrubbed" (its own axum example passes a
/// `parse_error` result on): a JWT the layer scrubbed went out whole
/// through `parse_error`. SECURITY.md: `Bearer`/`Basic`/JWT shapes are
/// scrubbed out of message, code, field errors and details.
#[tokio::test]
async fn parse_error_scrubs_token_shapes_as_the_layer_does() {
    use http::{HeaderMap, StatusCode};
    use tower_api_errors::{parse::ErrorParser, parse_error};
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let body = format!(
        r#"{{"error":{{"code":"Bearer tok_live_0123456789abcdef","message":"token {jwt} was revoked","details":[{{"basic":"Basic dXNlcjpwYXNzd29yZDEyMw=="}}]}}}}"#
    );
    let sent = body.clone();
    let upstream = tower::service_fn(move |_: Request<()>| {
        let response = Response::builder()
            .status(401)
            .body(Full::new(Bytes::from(sent.clone())));
        async move { Ok::<_, std::convert::Infallible>(response.unwrap()) }
    });
    let layered = ErrorBodyParseLayer::new()
        .layer(upstream)
        .oneshot(Request::new(()))
        .await;
    let Err(Error::Api(layered)) = layered else {
        panic!("{layered:?}")
    };
    let parsed = parse_error(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body.as_bytes());
    assert_eq!(
        (parsed.message(), parsed.code()),
        (layered.message(), layered.code())
    );
    assert_eq!(parsed.message(), "token REDACTED was revoked");
    let classified = ErrorParser::new().parse_classified(
        StatusCode::UNAUTHORIZED,
        &HeaderMap::new(),
        body.as_bytes(),
        tower_api_errors::classify::Classification::Success,
    );
    let problem = support::body_bytes(parsed.to_problem_response().into_body()).await;
    let printed = [
        String::from_utf8_lossy(&problem).into_owned(),
        format!("{parsed:?} {:?} {classified:?}", parsed.details()),
    ];
    for secret in [
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "tok_live_0123456789abcdef",
        "dXNlcjpwYXNz",
    ] {
        assert!(
            !printed.iter().any(|text| text.contains(secret)),
            "{secret}: {printed:?}"
        );
    }
}

/// `Authorization: Basic` values (RFC 7617: `base64(user-id:password)`),
/// each with the secret a server quoting it decoded would show: the
/// password, or the user id when the password is empty (an API key sent
/// as the user name, as Stripe's clients send theirs). The scheme in any
/// case.
const BASIC_ROWS: [(&str, &str, &str); 3] = [
    ("Basic", "alice:s3cr3t-pass", "s3cr3t-pass"),
    ("bASIC", "bob:p@ss/w+rd=1", "p@ss/w+rd=1"),
    (
        "Basic",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc:",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    ),
];

/// A 401 whose JSON body's message is `message`: what a server quoting
/// back what it was sent answers.
fn rejected(message: String) -> Response<support::ServerBody> {
    let body = serde_json::json!({ "message": message });
    support::response(
        401,
        &[("content-type", "application/json")],
        body.to_string(),
    )
}

/// The error `request` ends in through the parse layer alone and through
/// the default stack, each over a real client.
async fn alone_and_stacked(request: impl Fn() -> Request<Full<Bytes>>) -> [Error; 2] {
    let alone = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    let alone = alone.oneshot(request()).await.unwrap_err();
    let stack = ApiErrorsLayer::new().client(support::client::<ReplayBody<Full<Bytes>>>());
    let stacked = stack.oneshot(request()).await.unwrap_err();
    [alone, stacked]
}

/// Everything `error` prints, and its typed answer's code, field errors
/// and details.
fn printed(error: &Error) -> String {
    let mut text = support::error_text(error);
    let api = error
        .api()
        .or_else(|| error.unauthorized().and_then(|u| u.rejection()));
    if let Some(api) = api {
        let (code, fields, details) = (api.code(), api.field_errors(), api.details());
        text.push_str(&format!("{code:?} {fields:?} {details:?}"));
    }
    text
}

/// A `%` just before an echoed credential (`over 100%deadbeef…`), raw
/// or from the URI: escapes were folded to upper case only after a `%`,
/// so the text's `%de` folded the key's first letters, and the key printed
/// whole (as the query's `fa11…`). Hex letters fold byte by byte now, in
/// text and secret alike, through the parse layer and the default stack.
#[tokio::test]
async fn a_percent_just_before_an_echoed_credential_hides_none_of_it() {
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let key = request.headers()["x-api-key"].to_str().unwrap().to_owned();
        let token = request.uri().query().unwrap_or_default()[8..].to_owned();
        let message = format!("over 100%{key}, 50%{token}");
        let body = serde_json::json!({ "message": message }).to_string();
        support::response(401, &[("content-type", "application/json")], body)
    })
    .await;
    let request = || {
        Request::get(format!("http://{addr}/v1/me?api_key=fa11-0ff-0123"))
            .header("x-api-key", "deadbeef-0123")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for error in alone_and_stacked(request).await {
        let shown = printed(&error);
        assert!(
            !shown.contains("deadbeef") && !shown.contains("fa11"),
            "{shown}"
        );
        assert!(shown.contains("over 100%REDACTED, 50%REDACTED"), "{shown}");
    }
}

/// Before: only the base64 form of a `Basic` credential was fingerprinted,
/// so a server that quoted the password it decoded (`bad password s3cr3t-pass
/// for user alice`) printed it in the error. The decoded secret is scrubbed
/// now, through the parse layer alone, the one-layer stack, and from the
/// auth layer's own `Basic` credential; the user id beside a password is
/// no secret and stays readable.
#[tokio::test]
async fn a_server_quoting_a_basic_credential_decoded_does_not_leak_it() {
    let addr = support::quoting_basic_server().await;
    for (scheme, pair, secret) in BASIC_ROWS {
        let request = || support::get_me_with_basic(addr, scheme, pair);
        let [alone, stacked] = alone_and_stacked(request).await;
        let source = StaticToken::new(Credential::new(&support::base64(pair)).unwrap());
        let own = ApiErrorsLayer::new()
            .auth(AuthLayer::new(source).scheme(scheme))
            .client(support::client::<ReplayBody<Full<Bytes>>>());
        let request = Request::get(format!("http://{addr}/v1/me")).body(Full::new(Bytes::new()));
        let own = own.oneshot(request.unwrap()).await.unwrap_err();
        for error in [alone, stacked, own] {
            let shown = printed(&error);
            assert!(shown.contains("bad password"), "{shown}");
            assert!(!shown.contains(secret), "{scheme} {pair}: {shown}");
            assert!(shown.contains("REDACTED"), "{shown}");
        }
    }
    let request = support::get_me_with_basic(addr, "Basic", "alice:s3cr3t-pass");
    let client = ErrorBodyParseLayer::new().layer(support::client::<Full<Bytes>>());
    let error = client.oneshot(request).await.unwrap_err();
    let error = error.api().expect("a 401 is an ApiError");
    assert_eq!(error.message(), "bad password REDACTED for user alice");
    assert_eq!(error.code(), Some("E_BAD_PASSWORD:REDACTED"));
}

/// API keys under the usual header names, session cookies, and secret
/// query values, each echoed by a loopback server as it was sent (the
/// query's also percent-decoded): scrubbed from every text of the error,
/// and the query's redacted in its URI. Before, the session cookies of
/// Java servlets (`JSESSIONID`), PHP (`PHPSESSID`, in the query too) and
/// Express (`connect.sid`) were no credential names, and printed.
#[tokio::test]
async fn api_keys_session_cookies_and_query_secrets_echoed_are_scrubbed() {
    const HEADERS: [(&str, &str); 3] = [
        ("x-api-key", "XAK_SECRET_51Hx9q2e"),
        ("api-key", "AK_SECRET_9f8e7d6c"),
        ("x-goog-api-key", "AIzaSy_SECRET_D9tSrke72Po"),
    ];
    const COOKIES: [(&str, &str); 4] = [
        ("session", "SESS_SECRET_1a2b3c"),
        ("JSESSIONID", "JSESS_SECRET_4D5E6F"),
        ("PHPSESSID", "PHPSESS_SECRET_7g8h9i"),
        ("connect.sid", "s%3ACONNECT_SECRET_0j.Kl1m"),
    ];
    let query = "key=KEYQ_SECRET_2n3o&access_token=AT_SECRET%2F4p%2B5q&PHPSESSID=PQ_SECRET_6r7s";
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let mut echoed = Vec::new();
        for (name, _) in HEADERS {
            echoed.push(request.headers()[name].to_str().unwrap().to_owned());
        }
        let cookies = request.headers()["cookie"].to_str().unwrap();
        for pair in cookies.split("; ") {
            echoed.push(pair.split_once('=').unwrap().1.to_owned());
        }
        for pair in request.uri().query().unwrap().split('&') {
            let value = pair.split_once('=').unwrap().1;
            echoed.push(value.to_owned());
            let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            echoed.push(decoded.into_owned());
        }
        rejected(format!("rejected: {}", echoed.join(" ")))
    })
    .await;
    let request = || {
        let cookies: Vec<String> = COOKIES.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let mut request = Request::get(format!("http://{addr}/v1/me?{query}&page=2"))
            .header("cookie", cookies.join("; "));
        for (name, value) in HEADERS {
            request = request.header(name, value);
        }
        request.body(Full::new(Bytes::new())).unwrap()
    };
    for error in alone_and_stacked(request).await {
        let shown = printed(&error);
        assert!(shown.contains("rejected: REDACTED"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("PHPSESSID=REDACTED&page=2"), "{shown}");
    }
}

/// PHP's `json_encode` writes `/` as `\/`, and JSON lets any character be
/// a `\uXXXX` escape (`+` as `\u002b`); a URL in an error quotes the token
/// percent-encoded (`%2B`, `%2F`, `%3D`). Each echo of the request's
/// bearer token is scrubbed, in a JSON body and in the same bytes sent as
/// `text/html` (PHP's default content type). Passed before this probe.
#[tokio::test]
async fn a_token_echoed_json_escaped_or_percent_encoded_is_scrubbed() {
    const TOKEN: &str = "AbCd+EfGh/IjKl==";
    for content_type in ["application/json", "text/html; charset=UTF-8"] {
        let addr = support::serve(move |request: Request<hyper::body::Incoming>| async move {
            let token = request.headers()["authorization"].to_str().unwrap()[7..].to_owned();
            let php = token.replace('/', "\\/");
            let escaped = token.replace('+', "\\u002b");
            let encoded = token
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D");
            let body = format!(
                r#"{{"error":{{"message":"token {php} rejected","detail":"{escaped}","retry":"https://idp.test/?t={encoded}"}}}}"#
            );
            support::response(401, &[("content-type", content_type)], body)
        })
        .await;
        let request = Request::get(format!("http://{addr}/v1/me"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let client = ApiErrorsLayer::new().client(support::client::<ReplayBody<Full<Bytes>>>());
        let error = client.oneshot(request).await.unwrap_err();
        let shown = printed(&error);
        assert_eq!(error.api().unwrap().message(), "token REDACTED rejected");
        assert!(
            !shown.contains("EfGh") && !shown.contains("IjKl"),
            "{shown}"
        );
    }
}

#[cfg(feature = "grpc")]
#[path = "support/echo.rs"]
mod echo;

/// A tonic server quoting the credential it refuses in its `grpc-message`
/// (percent-encoded, as tonic writes it) and in rich details (a field
/// violation, an `ErrorInfo`'s metadata), a `Basic` one decoded, through
/// the README's tonic line (`ApiErrorsLayer` over a `Channel`, errors
/// mapped by `grpc::into_status`): the credential is in no text of the
/// status the caller gets, of its details read back, or of the typed error
/// behind it. (Passed before this probe for a bearer token.)
#[cfg(feature = "grpc")]
#[tokio::test]
async fn a_grpc_server_quoting_the_credential_leaks_it_nowhere() {
    use tonic_types::StatusExt;
    let (_echo, channel) = echo::start().await;
    let rows = [
        ("Bearer AbCd+EfGh/IjKl==".to_owned(), "IjKl"),
        (support::basic("Basic", "alice:s3cr3t-pass"), "s3cr3t-pass"),
    ];
    for (credential, secret) in rows {
        let channel = channel
            .clone()
            .map_request(|r: Request<ReplayBody<tonic::body::Body>>| r.map(tonic::body::Body::new));
        let stack = ApiErrorsLayer::new().layer(channel);
        let mut client =
            tonic::client::Grpc::new(stack.map_err(tower_api_errors::grpc::into_status));
        client.ready().await.unwrap();
        let mut request = tonic::Request::new(echo::EchoRequest {
            scenario: "echo-credential".into(),
        });
        let metadata = credential.parse().unwrap();
        request.metadata_mut().insert("authorization", metadata);
        let call = client.unary(request, echo::SAY, echo::codec());
        let status = call.await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(
            status.message().starts_with("invalid credential — "),
            "{status:?}"
        );
        let typed = std::error::Error::source(&status)
            .and_then(|source| source.downcast_ref::<Error>())
            .expect("the typed error behind the status");
        let details = status.get_error_details();
        let shown = format!("{status:?} {details:?} {}", printed(typed));
        assert!(shown.contains("REDACTED"), "{shown}");
        assert!(!shown.contains(secret), "{credential}: {shown}");
    }
}

/// RFC 3986 §2.1: a percent-escape's hex digits are case-insensitive, and
/// many servers and URL libraries write them in lower case (`%2f`).
/// Before, only the upper-case spelling of an echo was found: the bearer
/// token and a query secret quoted with lower-case or mixed-case escapes
/// reached the error whole. Through the parse layer alone and the stack.
#[tokio::test]
async fn an_echo_percent_encoded_in_lower_or_mixed_case_is_scrubbed() {
    const TOKEN: &str = "AbCd+EfGh/IjKl==";
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let token = request.headers()["authorization"].to_str().unwrap()[7..].to_owned();
        let lower = token
            .replace('+', "%2b")
            .replace('/', "%2f")
            .replace('=', "%3d");
        let mixed = lower.replace("%2b", "%2B").replace("%3d", "%3D");
        // The query's secret as sent (`%2F`, `%2b`), its escapes flipped.
        let query = request.uri().query().unwrap();
        let sent = query.split_once('=').unwrap().1.split('&').next().unwrap();
        let flipped = sent.replace("%2F", "%2f").replace("%2b", "%2B");
        let body = serde_json::json!({"error": {
            "message": format!("token {lower} rejected"),
            "detail": mixed,
            "retry": format!("https://idp.test/?t={lower}&access_token={flipped}"),
        }});
        support::response(
            401,
            &[("content-type", "application/json")],
            body.to_string(),
        )
    })
    .await;
    let request = || {
        Request::get(format!(
            "http://{addr}/v1/me?access_token=qs%2FSECRET%2b4p&page=2"
        ))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
    };
    for error in alone_and_stacked(request).await {
        let shown = printed(&error);
        assert_eq!(error.api().unwrap().message(), "token REDACTED rejected");
        for secret in ["EfGh", "IjKl", "SECRET"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
    }
}

/// Some clients send `Authorization: Basic` without its `=` padding
/// (`dXNlcjpwYXNzd29yZA`), and servers accept it. Before, only padded
/// base64 was decoded, so a server quoting the password it decoded from
/// an unpadded credential printed it in the error: through the parse
/// layer alone, the stack, and the auth layer's own `Basic` credential.
#[tokio::test]
async fn an_unpadded_basic_credential_quoted_decoded_does_not_leak() {
    let addr = support::quoting_basic_server().await;
    // One `=` of padding dropped, and two.
    for (pair, secret) in [
        ("alice:s3cr3t-pass", "s3cr3t-pass"),
        ("dave:0pen-s3same", "0pen-s3same"),
    ] {
        let encoded = support::base64(pair).trim_end_matches('=').to_owned();
        let request = |credential: Option<&str>| {
            let request = Request::get(format!("http://{addr}/v1/me"));
            let request = match credential {
                Some(value) => request.header("authorization", format!("Basic {value}")),
                None => request,
            };
            request.body(Full::new(Bytes::new())).unwrap()
        };
        let [alone, stacked] = alone_and_stacked(|| request(Some(&encoded))).await;
        let source = StaticToken::new(Credential::new(&encoded).unwrap());
        let own = ApiErrorsLayer::new()
            .auth(AuthLayer::new(source).scheme("Basic"))
            .client(support::client::<ReplayBody<Full<Bytes>>>());
        let own = own.oneshot(request(None)).await.unwrap_err();
        for error in [alone, stacked, own] {
            let shown = printed(&error);
            assert!(shown.contains("bad password REDACTED"), "{shown}");
            assert!(!shown.contains(secret), "{pair}: {shown}");
        }
    }
}

/// A request with a dozen API-key headers, then `Authorization` and
/// `Proxy-Authorization`, both `Basic`, each quoted decoded. Before, the
/// keys filled the shared cap, `Authorization` took the four slots left,
/// and the proxy's password was not fingerprinted: its echo printed. Each
/// of the two now has slots of its own, taken before any other header's.
#[tokio::test]
async fn both_basic_credentials_are_scrubbed_beside_a_dozen_api_keys() {
    let addr = support::serve(|request: Request<hyper::body::Incoming>| async move {
        let mut quoted = Vec::new();
        for (name, value) in request.headers() {
            let value = value.to_str().unwrap();
            if name.as_str().ends_with("authorization") {
                let pair = support::decode_basic(value);
                quoted.push(pair.split_once(':').unwrap().1.to_owned());
            } else if name.as_str().starts_with("x-api-key") {
                quoted.push(value.to_owned());
            }
        }
        rejected(format!("rejected: {}", quoted.join(" ")))
    })
    .await;
    let request = || {
        let mut request = Request::get(format!("http://{addr}/v1/me"));
        for i in 0..12 {
            request = request.header(format!("x-api-key-{i}"), format!("key_SECRET_{i:02}"));
        }
        request
            .header(
                "authorization",
                support::basic("Basic", "alice:p@ss/w+rd=1"),
            )
            .header(
                "proxy-authorization",
                support::basic("Basic", "proxy:pr0xy/SECRET+pw"),
            )
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for error in alone_and_stacked(request).await {
        let shown = printed(&error);
        assert!(shown.contains("rejected: REDACTED"), "{shown}");
        for secret in ["SECRET", "p@ss", "pr0xy"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
    }
}
