//! gRPC over real tonic on loopback (feature `grpc`).
#![cfg(feature = "grpc")]

#[path = "support/echo.rs"]
mod echo;
mod support;
#[path = "../examples/tonic_client.rs"]
mod tonic_client;

use bytes::Bytes;
use http_body_util::Full;
use prost::Message;
use std::time::Duration;
use tonic::Code;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind, StatusClassifierLayer};

#[tokio::test]
async fn the_example_retries_what_grpc_allows() {
    let calls = tonic_client::run().await;
    let call = |scenario: &str| {
        calls
            .iter()
            .find(|c| c.scenario == scenario)
            .unwrap()
            .clone()
    };

    assert_eq!(call("ok").result, Ok("hello".to_owned()));
    // UNAVAILABLE twice, then OK: retried with backoff.
    let flaky = call("flaky");
    assert_eq!(
        (flaky.result, flaky.server_saw, flaky.waits.len()),
        (Ok("recovered".to_owned()), 3, 2)
    );
    // RESOURCE_EXHAUSTED with pushback: waited exactly the pushback.
    let exhausted = call("exhausted");
    assert_eq!(exhausted.result, Ok("quota refilled".to_owned()));
    assert_eq!(exhausted.waits, [Duration::from_millis(250)]);
    // A negative pushback means "do not retry" (gRFC A6).
    let negative = call("pushback-negative");
    assert_eq!(
        (negative.server_saw, negative.result.unwrap_err().0),
        (1, Code::Unavailable)
    );
    // Everything else reaches the caller after one attempt, code intact.
    for (scenario, code) in [
        ("denied", Code::PermissionDenied),
        ("unauthenticated", Code::Unauthenticated),
        ("missing", Code::NotFound),
        ("invalid", Code::InvalidArgument),
        ("deadline", Code::DeadlineExceeded),
    ] {
        let call = call(scenario);
        assert_eq!(call.server_saw, 1, "{scenario}");
        assert_eq!(call.result.unwrap_err().0, code, "{scenario}");
    }
}

#[tokio::test]
async fn a_call_that_already_streamed_messages_is_not_retried() {
    let (echo, channel) = echo::start().await;
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(StatusClassifierLayer::new())
        .map_request(|request: http::Request<ReplayBody<tonic::body::Body>>| {
            request.map(tonic::body::Body::new)
        })
        .service(channel);
    let mut client = tonic::client::Grpc::new(stack);
    client.ready().await.unwrap();
    let request = tonic::Request::new(echo::EchoRequest {
        scenario: "stream".into(),
    });
    let mut stream = client
        .server_streaming(request, echo::STREAM, echo::codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "first");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        echo.calls("stream"),
        1,
        "the UNAVAILABLE came after a message: not retried"
    );
}

/// A gRPC request body: the 5-byte frame header and the prost message.
fn grpc_frame(scenario: &str) -> Bytes {
    echo::frame(&echo::EchoRequest {
        scenario: scenario.into(),
    })
}

#[tokio::test]
async fn the_parse_layer_reads_grpc_status_and_decodes_grpc_message() {
    let (_echo, channel) = echo::start().await;
    let client = ServiceBuilder::new()
        .layer(ErrorBodyParseLayer::new())
        .map_request(|request: http::Request<Full<Bytes>>| request.map(tonic::body::Body::new))
        .service(channel);
    let request = http::Request::post("http://echo.test/demo.Echo/Say")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(grpc_frame("invalid")))
        .unwrap();
    let Error::Api(error) = client.oneshot(request).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert_eq!(error.code(), Some("INVALID_ARGUMENT"));
    assert_eq!(error.message(), "scenario must be lowercase: ÉCHO 100%");
    let status = tonic::Status::from(&error);
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// A `google.rpc.RetryInfo` detail as a server writes it, whatever its
/// delay: `Any` messages of a `google.rpc.Status`'s `details` (field 3),
/// which protobuf lets a test append to the status's other fields.
mod rpc {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        pub retry_delay: Option<Duration>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Details {
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<Any>,
    }
}

/// README, Security: "no panic on hostile input". A trailers-only
/// `UNAVAILABLE` whose `RetryInfo` delay is negative or outside protobuf's
/// `Duration` range (duration.proto: seconds 0 to 315,576,000,000 for a
/// delay, nanos 0 to 999,999,999) is no hint, as a negative pushback is
/// none (gRFC A6), and the status's other details still count; `i64::MIN`
/// seconds panicked in prost-types' conversion (debug builds, any with
/// `overflow-checks`), and a negative delay was a zero hint.
#[test]
fn a_hostile_retry_info_delay_is_no_hint_and_no_panic() {
    use base64::Engine;
    use tonic_types::{ErrorDetails, StatusExt};
    let info = ErrorDetails::with_error_info("STOCKOUT", "api.example", []);
    let base = tonic::Status::with_error_details(Code::Unavailable, "x", info);
    let hostile = [(i64::MIN, 0), (i64::MIN, -1), (-1, 0), (0, -1), (1, -1)]
        .into_iter()
        .chain([(315_576_000_001, 0), (1, 1_000_000_000), (i64::MAX, 0)]);
    for (seconds, nanos) in hostile.chain([(30, 0)]) {
        let delay = rpc::Duration { seconds, nanos };
        let info = rpc::RetryInfo {
            retry_delay: Some(delay),
        };
        let value = info.encode_to_vec();
        let type_url = "type.googleapis.com/google.rpc.RetryInfo".to_owned();
        let details = rpc::Details {
            details: vec![rpc::Any { type_url, value }],
        };
        let mut bytes = base.details().to_vec();
        details.encode(&mut bytes).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", "14".parse().unwrap());
        let bin = base64::engine::general_purpose::STANDARD.encode(bytes);
        headers.insert("grpc-status-details-bin", bin.parse().unwrap());
        let error = tower_api_errors::parse_error(http::StatusCode::OK, &headers, b"");
        let hint = (seconds == 30).then(|| Duration::from_secs(30));
        assert_eq!(error.retry_after(), hint, "({seconds}, {nanos})");
        assert_eq!(error.code(), Some("STOCKOUT"), "({seconds}, {nanos})");
    }
}

/// README, "The one line, for each client": tonic's `Grpc` over
/// `ApiErrorsLayer` around a `Channel`, its errors mapped by
/// `grpc::into_status`. A gRPC caller must still see the server's status
/// (NOT_FOUND is NOT_FOUND, with the server's message), not `Unknown`, and
/// the typed error as the status's source.
#[tokio::test]
async fn the_readme_tonic_client_keeps_the_servers_status_code() {
    let (echo, channel) = echo::start().await;
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .retry(RetryPolicy::default().retry_non_idempotent(true))
        .layer(
            channel.map_request(|r: http::Request<ReplayBody<tonic::body::Body>>| {
                r.map(tonic::body::Body::new)
            }),
        );
    let mut client = tonic::client::Grpc::new(stack.map_err(tower_api_errors::grpc::into_status));
    for (scenario, code) in [
        ("missing", tonic::Code::NotFound),
        ("denied", tonic::Code::PermissionDenied),
        ("invalid", tonic::Code::InvalidArgument),
    ] {
        client.ready().await.unwrap();
        let request = tonic::Request::new(echo::EchoRequest {
            scenario: scenario.into(),
        });
        let call = client.unary(request, echo::SAY, echo::codec());
        let status = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("an answer")
            .unwrap_err();
        assert_eq!(status.code(), code, "{scenario}: {status:?}");
        assert_eq!(echo.calls(scenario), 1, "{scenario}");
        let typed = std::error::Error::source(&status)
            .and_then(|source| source.downcast_ref::<Error>())
            .and_then(Error::api)
            .expect("the typed error behind the status");
        assert_eq!(typed.message(), status.message(), "{scenario}");
    }
}

/// The same line in front of what is not a gRPC server answering: a proxy's
/// plain 503, with no `grpc-status`. tonic reads a code only from a
/// `tonic::Status` in the error's chain, which the crate's own errors do
/// not carry: without `grpc::into_status` the caller saw `UNKNOWN`; with
/// it, `UNAVAILABLE`, the typed error its source. Every status gets the
/// code of gRPC's HTTP-to-gRPC mapping (doc/http-grpc-status-mapping.md),
/// not its kind's: before, a 504 was `DEADLINE_EXCEEDED` (the caller's own
/// deadline passed), a 429 `RESOURCE_EXHAUSTED`, a 404 `NOT_FOUND`.
#[tokio::test]
async fn the_readme_tonic_client_gives_a_proxys_503_its_code() {
    for (status, code) in [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (500, Code::Unknown),
        (502, Code::Unavailable),
        (504, Code::Unavailable),
    ] {
        let failed = proxy_answers(status, false).await;
        assert_eq!(failed.code(), code, "{status}: {failed:?}");
    }
    let unmapped = proxy_answers(503, true).await;
    assert_eq!(unmapped.code(), Code::Unknown, "tonic alone: {unmapped:?}");
    let status = proxy_answers(503, false).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let typed = std::error::Error::source(&status)
        .and_then(|source| source.downcast_ref::<Error>())
        .expect("the typed error behind the status");
    assert_eq!(typed.kind(), ErrorKind::Unavailable);
    assert_eq!(status.message(), typed.to_string());
}

/// The status a tonic client gets of one call through the README's line
/// (`bare`: without `into_status`) when a proxy answers `status`, plain
/// text and no `grpc-status`.
async fn proxy_answers(status: u16, bare: bool) -> tonic::Status {
    let addr = support::serve(move |_request| async move {
        support::response(
            status,
            &[("content-type", "text/plain")],
            "upstream connect error",
        )
    })
    .await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .retry(
            RetryPolicy::default()
                .retry_non_idempotent(true)
                .max_attempts(1),
        )
        .layer(
            channel.map_request(|r: http::Request<ReplayBody<tonic::body::Body>>| {
                r.map(tonic::body::Body::new)
            }),
        );
    let mut bare_client = tonic::client::Grpc::new(stack.clone());
    let mut client = tonic::client::Grpc::new(stack.map_err(tower_api_errors::grpc::into_status));
    // (One call, its status: the two clients' types differ.)
    macro_rules! failed_call {
        ($client:ident) => {{
            $client.ready().await.unwrap();
            let request = tonic::Request::new(echo::EchoRequest {
                scenario: "ok".into(),
            });
            let call = $client.unary(request, echo::SAY, echo::codec());
            let answer = tokio::time::timeout(Duration::from_secs(10), call).await;
            answer.expect("an answer").unwrap_err()
        }};
    }
    match bare {
        true => failed_call!(bare_client),
        false => failed_call!(client),
    }
}

/// A gRPC call, with `grpc-timeout: timeout` if any, to a service whose
/// every attempt fails at once (UNAVAILABLE), each shown to `sent` first,
/// through the retry layer: ten attempts at most, exactly `every` apart
/// (no jitter: with it, ten attempts of 0-100 ms waits fitted in 250 ms
/// about once in a hundred runs).
async fn call_unavailable(
    timeout: Option<&str>,
    every: Duration,
    sent: impl Fn(&http::Request<ReplayBody<Full<Bytes>>>) + Clone + Send + Sync + 'static,
) -> Result<(), Error> {
    let unavailable = tower::service_fn(move |request: http::Request<ReplayBody<Full<Bytes>>>| {
        sent(&request);
        let answer = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "14")
            .body(Full::new(Bytes::new()))
            .unwrap();
        async move { Ok::<_, std::convert::Infallible>(answer) }
    });
    let policy = RetryPolicy::default()
        .retry_non_idempotent(true)
        .max_attempts(10)
        .backoff(Backoff::exponential(every, 1.0, every).jitter(Jitter::None));
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(StatusClassifierLayer::new())
        .service(unavailable);
    let mut request = http::Request::post("http://127.0.0.1/echo.Echo/Say");
    if let Some(timeout) = timeout {
        request = request.header("grpc-timeout", timeout);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    service.oneshot(request).await.map(|_| ())
}

/// gRFC A6: "the deadline applies to the overall call, including retries".
/// tonic sends a call's timeout as `grpc-timeout`; the retry layer bounds
/// the call by it as by its own deadline. Here every attempt fails at once
/// (UNAVAILABLE) and the backoff is 100 ms: a call of 250 ms starts no wait
/// past its timeout and hands the last answer back within it, not after
/// ten attempts and a second of backoff.
#[tokio::test(start_paused = true)]
async fn a_calls_grpc_timeout_bounds_its_retries() {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::sync::Arc;
    async fn run(timeout: Option<&str>) -> (Result<(), Error>, u32, Duration) {
        let sent = Arc::new(AtomicU32::new(0));
        let count = sent.clone();
        let started = tokio::time::Instant::now();
        let every = Duration::from_millis(100);
        let result = call_unavailable(timeout, every, move |_| {
            count.fetch_add(1, SeqCst);
        });
        let result = result.await;
        (result, sent.load(SeqCst), started.elapsed())
    }
    let (unbounded, sent, took) = run(None).await;
    assert!(
        unbounded.is_ok(),
        "the classifier's verdict goes up: a response"
    );
    assert_eq!(sent, 10, "no timeout: every attempt ({took:?})");
    let (bounded, sent, took) = run(Some("250m")).await;
    // No wait past the call's timeout starts: the last answer goes up.
    assert!(bounded.is_ok(), "the last answer, not an error");
    // Sent at 0, 100 and 200 ms; a wait to 300 ms would end past 250.
    assert_eq!((sent, took), (3, Duration::from_millis(200)));
}

/// gRFC A6: the deadline is the call's, retries included; grpc-go writes
/// each attempt's `grpc-timeout` from the time left. Here a call of 250 ms
/// whose attempts fail at once (UNAVAILABLE, 50 ms apart): every re-send
/// carries what is left of the 250 ms when it goes, so a server gives up
/// when the caller does, not a whole timeout later.
#[tokio::test(start_paused = true)]
async fn a_resend_carries_the_time_left_of_the_calls_grpc_timeout() {
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;
    use tower_api_errors::grpc::grpc_timeout;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let called = Instant::now();
    let every = Duration::from_millis(50);
    call_unavailable(Some("250m"), every, move |request| {
        let timeout = grpc_timeout(request.headers()).expect("every attempt carries one");
        record.lock().unwrap().push((Instant::now(), timeout));
    })
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 3, "retried within the timeout: {seen:?}");
    assert_eq!(
        seen[0].1,
        Duration::from_millis(250),
        "the first goes as sent"
    );
    for (sent, timeout) in &seen[1..] {
        let left = Duration::from_millis(250) - (*sent - called);
        assert!(*timeout < Duration::from_millis(250), "{seen:?}");
        // Written rounded up, in the finest unit that fits eight digits.
        assert!(
            *timeout >= left && *timeout - left < Duration::from_micros(1),
            "{seen:?}"
        );
    }
}

/// A call the quota layer holds has spent part of its deadline before it
/// is sent: it carries the time left of its `grpc-timeout` (gRFC A6), not
/// the whole. Here the first answer spends the window (`remaining: 0`,
/// reset in 2 s); the next call, of 5 s, is held ~2 s and goes with ~3 s.
#[tokio::test(start_paused = true)]
async fn a_call_held_for_the_quota_carries_the_time_left_of_its_grpc_timeout() {
    use tower_api_errors::QuotaLayer;
    let (spent, seen) = grpc_server(|_, _| {
        vec![
            ("grpc-status", "0"),
            ("x-ratelimit-limit", "1"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2"),
        ]
    });
    let service = QuotaLayer::new().layer(spent);
    let call = || {
        http::Request::post("http://127.0.0.1/echo.Echo/Say")
            .header("grpc-timeout", "5S")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    service.clone().oneshot(call()).await.unwrap();
    let called = tokio::time::Instant::now();
    service.oneshot(call()).await.unwrap();
    let held = called.elapsed();
    assert!(
        held >= Duration::from_secs(2),
        "held for the window: {held:?}"
    );
    let seen = seen.lock().unwrap();
    let left = Duration::from_secs(5) - held;
    assert_eq!(*seen, [Some(Duration::from_secs(5)), Some(left)]);
}

/// gRPC's 401 is a trailers-only `UNAUTHENTICATED` (HTTP 200): the auth
/// layer renews the credential on it and sends again, as on a 401, both
/// in the README's tonic line (the parse layer turns it into a typed
/// error first) and in a stack without the parse layer (the response
/// reaches the auth layer as it came).
#[tokio::test]
async fn a_grpc_unauthenticated_renews_the_credential_and_the_call_succeeds() {
    use tower_api_errors::auth::AuthLayer;
    let body = |r: http::Request<ReplayBody<tonic::body::Body>>| r.map(tonic::body::Body::new);
    for parsed in [true, false] {
        let (echo, channel) = echo::start().await;
        let source = support::Rotating::new(Duration::ZERO);
        let policy = RetryPolicy::default().retry_non_idempotent(true);
        let stack = if parsed {
            tower_api_errors::ApiErrorsLayer::new()
                .retry(policy)
                .auth(AuthLayer::new(source.clone()))
                .layer(channel.map_request(body))
                .map_err(tower_api_errors::grpc::into_status)
                .boxed_clone()
        } else {
            ServiceBuilder::new()
                .layer(RetryLayer::new(policy))
                .layer(AuthLayer::new(source.clone()))
                .map_request(body)
                .service(channel)
                .map_err(tower_api_errors::grpc::into_status)
                .boxed_clone()
        };
        let mut client = tonic::client::Grpc::new(stack);
        client.ready().await.unwrap();
        let request = tonic::Request::new(echo::EchoRequest {
            scenario: "authenticated".into(),
        });
        let call = client.unary(request, echo::SAY, echo::codec());
        let reply = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("an answer")
            .unwrap_or_else(|status| panic!("parsed: {parsed}: {status:?}"));
        assert_eq!(reply.into_inner().message, "welcome", "parsed: {parsed}");
        assert_eq!(echo.calls("authenticated"), 2, "parsed: {parsed}");
        let refreshes = source.refreshes.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(refreshes, 1, "parsed: {parsed}");
    }
}

/// The auth layer's own sends carry the time left of the call's
/// `grpc-timeout` (gRFC A6), as the retry layer's re-sends do: here the
/// first credential takes 1 s to load (the call is held), the server
/// rejects it, and the renewal takes 1 s more; a 5 s call goes with 4 s,
/// then 3 s.
#[tokio::test(start_paused = true)]
async fn the_auth_layers_sends_carry_the_time_left_of_the_calls_grpc_timeout() {
    use tower_api_errors::auth::AuthLayer;
    let (server, seen) = grpc_server(|request, _| {
        let status = match request.headers()["authorization"] == echo::ACCEPTED {
            true => "0",
            false => "16",
        };
        vec![("grpc-status", status)]
    });
    let source = support::Rotating::new(Duration::from_secs(1));
    let service = AuthLayer::new(source).layer(server);
    let call = http::Request::post("http://127.0.0.1/echo.Echo/Say")
        .header("grpc-timeout", "5S")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.oneshot(call).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "0");
    let seen = seen.lock().unwrap();
    let secs = Duration::from_secs;
    assert_eq!(*seen, [Some(secs(4)), Some(secs(3))]);
}

/// A send after a wait that took the whole of the call's `grpc-timeout`
/// is not made: a timeout is a "positive integer" (gRPC over HTTP/2,
/// "Requests"; grpc-go fails the call locally), and src/grpc/mod.rs
/// promises the server gives up when the caller does. The auth layer
/// alone, and the quota layer alone, end the call as the retry layer's
/// deadline does inside `ApiErrorsLayer` (src/context/mod.rs: a layer
/// behaves the same alone), `DEADLINE_EXCEEDED` to a tonic caller. Before,
/// each sent it with `grpc-timeout: 0n`, and the server served it.
#[tokio::test(start_paused = true)]
async fn the_auth_and_quota_layers_alone_send_nothing_past_a_calls_deadline() {
    use tower_api_errors::{auth::AuthLayer, QuotaLayer};
    let cut = |error: Error| {
        assert!(
            error.transport().is_some_and(|t| t.is_deadline()),
            "{error:?}"
        );
        let status = tower_api_errors::grpc::into_status(error);
        assert_eq!(status.code(), Code::DeadlineExceeded);
    };
    let call = |timeout: &str| {
        http::Request::post("http://127.0.0.1/echo.Echo/Say")
            .header("grpc-timeout", timeout)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    // Auth: each credential takes 1 s. A 1.5 s call is sent at 1 s with
    // 500 ms, rejected, and not sent again after the renewal; a 500 ms
    // call is not sent at all.
    for (timeout, sends) in [("1500m", 1), ("500m", 0)] {
        let (server, seen) = grpc_server(|_, _| vec![("grpc-status", "16")]);
        let source = support::Rotating::new(Duration::from_secs(1));
        let error = AuthLayer::new(source).layer(server).oneshot(call(timeout));
        let error = error.await.unwrap_err();
        assert_eq!(
            error.transport().unwrap().auth_report().unwrap().sends(),
            sends
        );
        cut(error);
        let seen = seen.lock().unwrap();
        let millis = Duration::from_millis;
        assert_eq!(*seen, [Some(millis(500))][..sends as usize], "{timeout}");
    }
    // Quota: the window is spent till 2 s from now; a 1 s call held for
    // it is not sent, and gives its permit back: the next call goes at
    // once.
    let (spent, seen) = grpc_server(|_, before| match before {
        0 => vec![
            ("grpc-status", "0"),
            ("x-ratelimit-limit", "1"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2"),
        ],
        _ => vec![("grpc-status", "0")],
    });
    let service = QuotaLayer::new().layer(spent);
    service.clone().oneshot(call("5S")).await.unwrap();
    cut(service.clone().oneshot(call("1S")).await.unwrap_err());
    assert_eq!(seen.lock().unwrap().len(), 1, "the late call was sent");
    let called = tokio::time::Instant::now();
    service.oneshot(call("5S")).await.unwrap();
    assert!(
        called.elapsed() < Duration::from_secs(1),
        "{:?}",
        called.elapsed()
    );
}

/// The same for a hedge: a lone hedge layer whose delay outlasts the
/// call's `grpc-timeout` sends no second attempt with `grpc-timeout: 0n`
/// (to a server slower than the deadline it was given); the first
/// attempt answers the call.
#[tokio::test(start_paused = true)]
async fn a_hedge_due_past_a_calls_deadline_is_not_sent() {
    use std::sync::{Arc, Mutex};
    use tower_api_errors::hedge::HedgeLayer;
    use tower_api_errors::retry::{ReplayBody, RetryOverride};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = tower::service_fn(move |request: http::Request<ReplayBody<Full<Bytes>>>| {
        let timeout = tower_api_errors::grpc::grpc_timeout(request.headers());
        record.lock().unwrap().push(timeout);
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "0")
                .body(Full::new(Bytes::new()));
            Ok::<_, std::convert::Infallible>(response.unwrap())
        }
    });
    let mut call = http::Request::post("http://127.0.0.1/echo.Echo/Say")
        .header("grpc-timeout", "500m")
        .body(Full::new(Bytes::new()))
        .unwrap();
    call.extensions_mut()
        .insert(RetryOverride::new().idempotent(true));
    let hedged = HedgeLayer::fixed(Duration::from_millis(600)).no_budget();
    hedged.layer(server).oneshot(call).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [Some(Duration::from_millis(500))]);
}

/// gRPC's 429 is a trailers-only `RESOURCE_EXHAUSTED`, its 503
/// `UNAVAILABLE`, and their wait the pushback (gRFC A6): the quota layer
/// holds the scope for it, as for a 429's or a 503's `Retry-After`, with
/// the parse layer below (a typed error) and without it (the response as
/// it came).
#[tokio::test(start_paused = true)]
async fn a_grpc_throttle_with_a_pushback_holds_the_quota_scope() {
    use tower_api_errors::QuotaLayer;
    // Answers its first call with `code` and a 2 s pushback, every later
    // one with `OK`.
    let throttled_once = |code| {
        grpc_server(move |_, before| match before {
            0 => vec![("grpc-status", code), ("grpc-retry-pushback-ms", "2000")],
            _ => vec![("grpc-status", "0")],
        })
    };
    for code in ["8", "14"] {
        let (raw, calls) = throttled_once(code);
        let held = held_after_throttle(QuotaLayer::new().layer(raw)).await;
        assert!(held >= Duration::from_secs(2), "{code}: held {held:?}");
        assert_eq!(calls.lock().unwrap().len(), 2);
        let (raw, calls) = throttled_once(code);
        let parsed = ServiceBuilder::new()
            .layer(QuotaLayer::new())
            .layer(ErrorBodyParseLayer::new())
            .service(raw);
        let held = held_after_throttle(parsed).await;
        assert!(held >= Duration::from_secs(2), "{code} parsed: {held:?}");
        assert_eq!(calls.lock().unwrap().len(), 2);
    }
}

/// What a test's gRPC server saw: each request's `grpc-timeout`.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<Option<Duration>>>>;

/// A gRPC server answering trailers-only: `application/grpc` and the
/// headers `answer` gives for each request (and how many came before it),
/// recording what it saw.
fn grpc_server(
    answer: impl Fn(&http::Request<Full<Bytes>>, usize) -> Vec<(&'static str, &'static str)>
        + Clone
        + Send
        + 'static,
) -> (
    impl tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<Full<Bytes>>,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone
        + Send,
    Seen,
) {
    let seen = Seen::default();
    let record = seen.clone();
    let server = tower::service_fn(move |request: http::Request<Full<Bytes>>| {
        let before = {
            let mut seen = record.lock().unwrap();
            seen.push(tower_api_errors::grpc::grpc_timeout(request.headers()));
            seen.len() - 1
        };
        let mut response = http::Response::builder().header("content-type", "application/grpc");
        for (name, value) in answer(&request, before) {
            response = response.header(name, value);
        }
        let response = response.body(Full::new(Bytes::new())).unwrap();
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    (server, seen)
}

/// Sends two calls through `service`: how long the second was held.
async fn held_after_throttle<S>(service: S) -> Duration
where
    S: tower::Service<http::Request<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let call = || {
        http::Request::post("http://127.0.0.1/echo.Echo/Say")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let _ = service.clone().oneshot(call()).await;
    let called = tokio::time::Instant::now();
    service.oneshot(call()).await.unwrap();
    called.elapsed()
}

/// A call its own deadline cut reaches the tonic caller as
/// `DEADLINE_EXCEEDED`, as the gRPC status codes say a client reports a
/// deadline that expired before the server answered; before, as
/// `UNAVAILABLE`, the code that tells a caller's retry policy to send
/// again. The retry layer's cut (the call's `grpc-timeout`), and tonic's
/// own (`TimeoutExpired`, a channel's timeout), alike.
#[tokio::test(start_paused = true)]
async fn a_call_cut_by_its_deadline_is_deadline_exceeded() {
    use tower_api_errors::grpc::into_status;
    let never = tower::service_fn(|_: http::Request<ReplayBody<Full<Bytes>>>| {
        std::future::pending::<Result<http::Response<Full<Bytes>>, std::convert::Infallible>>()
    });
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .retry(RetryPolicy::default().retry_non_idempotent(true))
        .layer(never)
        .map_err(into_status);
    let call = http::Request::post("http://127.0.0.1/echo.Echo/Say")
        .header("grpc-timeout", "200m")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let status = stack.oneshot(call).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let expired = tower_api_errors::TransportError::new(tonic::TimeoutExpired(()));
    assert!(expired.is_deadline());
    assert_eq!(into_status(expired.into()).code(), Code::DeadlineExceeded);
}

/// The same through a real tonic `Channel` whose own timeout
/// (`Endpoint::timeout`) cuts the call: the channel reports tonic's
/// `TimeoutExpired` inside its `tonic::transport::Error`, which
/// `is_deadline` missed (it read only the outermost error), so the caller
/// got `UNAVAILABLE`, the code that tells it to send again.
#[tokio::test]
async fn a_channels_own_timeout_is_deadline_exceeded() {
    let addr = support::serve(|_request| std::future::pending()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .retry(RetryPolicy::default().max_attempts(1))
        .layer(
            channel.map_request(|r: http::Request<ReplayBody<tonic::body::Body>>| {
                r.map(tonic::body::Body::new)
            }),
        );
    let call = http::Request::post(format!("http://{addr}/echo.Echo/Say"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(grpc_frame("ok"))))
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), stack.oneshot(call));
    let error = answer.await.expect("an answer").unwrap_err();
    let cut = error.transport().expect("a transport failure");
    assert!(cut.is_deadline(), "{error:?}");
    let status = tower_api_errors::grpc::into_status(error);
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// The README's tonic line keeps the server status's metadata, as a bare
/// tonic channel does (`grpc-retry-pushback-ms`, a debug id), but no
/// header that may hold a credential: a secret-looking name, a cookie, or
/// a value that echoes the request's own credential (a `tonic::Status`
/// prints its metadata). Before, the status had no metadata at all.
#[tokio::test]
async fn the_readme_tonic_line_keeps_the_status_metadata_but_no_credential() {
    let server = tower::service_fn(|_: http::Request<ReplayBody<Full<Bytes>>>| async {
        let answer = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "8")
            .header("grpc-message", "slow%20down")
            .header("grpc-retry-pushback-ms", "-1")
            .header("x-debug-id", "dbg-7f3a")
            .header("x-api-key", "sk_live_echoed_key")
            .header("set-cookie", "session=s3cr3t-cookie")
            .header("x-echo", "Bearer tok_live_123456")
            .body(Full::new(Bytes::new()))
            .unwrap();
        Ok::<_, std::convert::Infallible>(answer)
    });
    let stack = tower_api_errors::ApiErrorsLayer::new()
        .layer(server)
        .map_err(tower_api_errors::grpc::into_status);
    let call = http::Request::post("http://127.0.0.1/echo.Echo/Say")
        .header("authorization", "Bearer tok_live_123456")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let status = stack.oneshot(call).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let metadata = status.metadata();
    assert_eq!(metadata.get("grpc-retry-pushback-ms").unwrap(), "-1");
    assert_eq!(metadata.get("x-debug-id").unwrap(), "dbg-7f3a");
    for gone in [
        "x-api-key",
        "set-cookie",
        "x-echo",
        "grpc-status",
        "grpc-message",
    ] {
        assert!(metadata.get(gone).is_none(), "{gone}: {metadata:?}");
    }
    let printed = format!("{status:?}");
    for secret in ["sk_live_echoed_key", "s3cr3t-cookie", "tok_live_123456"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}

/// A trailers-only gRPC failure through `parse_error`: a JWT after
/// `Bearer` in `grpc-message` (percent-encoded, as gRPC sends it) is
/// scrubbed as the parse layer scrubs it (SECURITY.md: `Bearer`/JWT
/// shapes out of an error's message), and so are the opaque details
/// (kept only when no credential is found in them).
#[test]
fn parse_error_scrubs_a_token_from_a_trailers_only_grpc_message() {
    let headers = support::headers(&[
        ("content-type", "application/grpc"),
        ("grpc-status", "16"),
        (
            "grpc-message",
            "invalid%20token%3A%20Bearer%20eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
        ),
    ]);
    let error = tower_api_errors::parse_error(http::StatusCode::OK, &headers, b"");
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.message(), "invalid token: Bearer REDACTED");
    assert!(
        !format!("{error:?}").contains("eyJzdWIiOiIxMjM0In0"),
        "{error:?}"
    );
}
