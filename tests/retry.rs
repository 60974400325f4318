//! `RetryLayer`: every retry step asserted deterministically with
//! tower-test mock handles and paused time.

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::parse::ErrorBodyParse;
use tower_api_errors::retry::{
    Backoff, Jitter, ReplayBody, Retry, RetryLayer, RetryPolicy, TpsBudget,
};
use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind, RetryReport, StopReason};
use tower_test::mock;

type Req<B = Full<Bytes>> = Request<ReplayBody<B>>;
type Handle<B = Full<Bytes>> = mock::Handle<Req<B>, Response<Full<Bytes>>>;
/// The mock upstream the helpers below put the layers over.
type Upstream = mock::Mock<Req, Response<Full<Bytes>>>;

/// A policy without jitter or budget, so that every wait is exact.
fn exact() -> RetryPolicy {
    RetryPolicy::default()
        .backoff(
            Backoff::exponential(Duration::from_millis(500), 2.0, Duration::from_secs(20))
                .jitter(Jitter::None),
        )
        .no_budget()
}

/// A retry layer with `policy` straight over a mock upstream that admits
/// ten requests.
fn retrying(policy: RetryPolicy) -> (Retry<Upstream>, Handle) {
    let (service, mut handle) = mock::pair();
    handle.allow(10);
    (RetryLayer::new(policy).layer(service), handle)
}

/// The same, with the parse layer between: failures arrive as `ApiError`s.
fn parsing(policy: RetryPolicy) -> (Retry<ErrorBodyParse<Upstream>>, Handle) {
    let (service, mut handle) = mock::pair();
    handle.allow(10);
    (
        RetryLayer::new(policy).layer(ErrorBodyParseLayer::new().layer(service)),
        handle,
    )
}

fn reply(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Answers the next request and returns when it arrived and what it was.
async fn answer<B>(handle: &mut Handle<B>, response: Response<Full<Bytes>>) -> (Instant, Req<B>) {
    let (request, send) = handle.next_request().await.expect("a request");
    let arrived = Instant::now();
    send.send_response(response);
    (arrived, request)
}

fn get() -> Request<Full<Bytes>> {
    Request::get("http://api.test/items")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_waited_exactly() {
    let (client, mut handle) = retrying(exact());
    let call = tokio::spawn(client.oneshot(get()));
    let (first, _) = answer(&mut handle, reply(503, &[("retry-after", "2")], "")).await;
    let (second, _) = answer(&mut handle, reply(200, &[], "ok")).await;
    assert_eq!(second - first, Duration::from_secs(2));
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let report = response.extensions().get::<RetryReport>().unwrap();
    assert_eq!(
        (report.attempts(), report.waited()),
        (2, Duration::from_secs(2))
    );
}

/// gRFC A6, "Pushback": after a retry timed by the server's pushback,
/// "the delay period will be reset to the initialBackoff setting and
/// scale according to the Exponential Backoff section" (it went on from
/// the attempt count: 2 s where 500 ms was due).
#[tokio::test(start_paused = true)]
async fn after_a_pushback_the_backoff_starts_over() {
    let (client, mut handle) = retrying(exact().max_attempts(5));
    let call = tokio::spawn(client.oneshot(get()));
    let unavailable = || reply(503, &[], "");
    let pushback = reply(503, &[("grpc-retry-pushback-ms", "100")], "");
    let mut arrivals = Vec::new();
    for response in [unavailable(), pushback, unavailable(), unavailable()] {
        arrivals.push(answer(&mut handle, response).await.0);
    }
    arrivals.push(answer(&mut handle, reply(200, &[], "ok")).await.0);
    let waits: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    let ms = Duration::from_millis;
    assert_eq!(waits, [ms(500), ms(100), ms(500), ms(1_000)]);
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

/// A zero wait on a throttle is a vendor's whole seconds truncated in its
/// window's last second: retried at once, a 429 only earns another (a
/// fleet drew hundreds a second until the reset). It waits the backoff;
/// a zero pushback still means "now" (gRFC A6).
#[tokio::test(start_paused = true)]
async fn a_zero_wait_is_a_backoffs() {
    for (header, wait) in [
        ("retry-after", Duration::from_millis(500)),
        ("grpc-retry-pushback-ms", Duration::ZERO),
    ] {
        let (client, mut handle) = retrying(exact());
        let call = tokio::spawn(client.oneshot(get()));
        let (first, _) = answer(&mut handle, reply(429, &[(header, "0")], "")).await;
        let (second, _) = answer(&mut handle, reply(200, &[], "ok")).await;
        assert_eq!(second - first, wait, "{header}");
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
}

#[tokio::test(start_paused = true)]
async fn body_retry_after_is_waited_exactly_over_the_parse_layer() {
    let (client, mut handle) = parsing(exact());
    let call = tokio::spawn(client.oneshot(get()));
    let (first, _) = answer(
        &mut handle,
        reply(
            429,
            &[],
            r#"{"error": {"code": 429, "message": "Rate limited", "retry_after": 1.5}}"#,
        ),
    )
    .await;
    let (second, _) = answer(&mut handle, reply(200, &[], "ok")).await;
    assert_eq!(second - first, Duration::from_millis(1500));
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date() {
    let (client, mut handle) = retrying(exact());
    let call = tokio::spawn(client.oneshot(get()));
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    let (first, _) = answer(&mut handle, reply(503, &[("retry-after", &date)], "")).await;
    let (second, _) = answer(&mut handle, reply(200, &[], "")).await;
    // An HTTP-date has whole seconds: the wait is the 3 s less the part of
    // the current second already gone.
    let waited = second - first;
    assert!(
        waited > Duration::from_secs(2) && waited <= Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_one_hour_hint_fails_fast_with_the_hint() {
    let (client, mut handle) = parsing(exact());
    let started = Instant::now();
    let call = tokio::spawn(client.oneshot(get()));
    answer(
        &mut handle,
        reply(
            429,
            &[("retry-after", "3600")],
            // Hourly: a daily limit's message says the quota is spent (not
            // retried at all), which is not what this test is about.
            r#"{"error": "Rate Limit Exceeded", "message": "Hourly request limit exceeded"}"#,
        ),
    )
    .await;
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "not slept on");
    let api = error.api().unwrap();
    assert_eq!(api.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(api.retries().stopped(), Some(StopReason::HintTooLong));
    assert_eq!(api.attempts(), 1);
}

#[tokio::test(start_paused = true)]
async fn post_without_a_key_is_not_retried_with_a_key_it_is() {
    let (client, mut handle) = retrying(exact());

    let post = Request::post("http://api.test/orders")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let call = tokio::spawn(client.clone().oneshot(post));
    answer(&mut handle, reply(503, &[], "")).await;
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    let report = response.extensions().get::<RetryReport>().unwrap();
    assert_eq!(
        (report.attempts(), report.stopped()),
        (1, Some(StopReason::NotIdempotent))
    );

    let keyed = Request::post("http://api.test/orders")
        .header("idempotency-key", "order-7f3a")
        .body(Full::new(Bytes::from_static(b"{\"sku\":1}")))
        .unwrap();
    let call = tokio::spawn(client.oneshot(keyed));
    let (_, first) = answer(&mut handle, reply(503, &[], "")).await;
    let (_, second) = answer(&mut handle, reply(201, &[], "")).await;
    assert_eq!(call.await.unwrap().unwrap().status(), 201);
    for request in [&first, &second] {
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri(), "http://api.test/orders");
        assert_eq!(request.headers()["idempotency-key"], "order-7f3a");
    }
    let (_, first_body) = first.into_parts();
    let (_, second_body) = second.into_parts();
    assert_eq!(
        first_body.collect().await.unwrap().to_bytes(),
        "{\"sku\":1}"
    );
    assert_eq!(
        second_body.collect().await.unwrap().to_bytes(),
        "{\"sku\":1}"
    );
}

/// An `Idempotency-Key` with no key in it names no operation for the
/// server to dedupe by (draft-ietf-httpapi-idempotency-key-header: the
/// value is an sf-string that identifies the request; Stripe: "a unique
/// value"): before, its mere presence made a POST retryable, so code that
/// sends `key.unwrap_or_default()` had its POSTs sent twice. A key of
/// whitespace or an empty sf-string is no key either. `X-Idempotency-Key`,
/// the older name some APIs still take, is a key as well, as Go's
/// `net/http` transport reads it (`isReplayable`: either header makes a
/// request replayable).
#[tokio::test(start_paused = true)]
async fn an_empty_idempotency_key_is_no_key() {
    use http::{HeaderMap, HeaderValue, Method};
    use tower_api_errors::retry::is_idempotent;
    let rows: &[(&str, &[u8], bool)] = &[
        ("idempotency-key", b"", false),
        ("idempotency-key", b"   ", false),
        ("idempotency-key", b"\"\"", false),
        ("idempotency-key", b"order-7f3a", true),
        (
            "idempotency-key",
            b"\"8e03978e-40d5-43e8-bc93-6894a57f9324\"",
            true,
        ),
        ("x-idempotency-key", b"order-7f3a", true),
        ("x-idempotency-key", b" ", false),
        ("x-request-id", b"order-7f3a", false),
    ];
    for (name, key, idempotent) in rows {
        let mut headers = HeaderMap::new();
        headers.insert(*name, HeaderValue::from_bytes(key).unwrap());
        assert_eq!(
            is_idempotent(&Method::POST, &headers),
            *idempotent,
            "{:?}",
            String::from_utf8_lossy(key)
        );
    }
    let (client, mut handle) = retrying(exact());
    let post = Request::post("http://api.test/orders")
        .header("idempotency-key", "")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let call = tokio::spawn(client.oneshot(post));
    answer(&mut handle, reply(503, &[], "")).await;
    let response = call.await.unwrap().unwrap();
    let report = response.extensions().get::<RetryReport>().unwrap();
    assert_eq!(
        (report.attempts(), report.stopped()),
        (1, Some(StopReason::NotIdempotent))
    );
}

#[tokio::test(start_paused = true)]
async fn a_servers_explicit_yes_makes_a_post_retryable() {
    let (client, mut handle) = retrying(exact());
    let post = Request::post("http://api.test/charges")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let call = tokio::spawn(client.oneshot(post));
    answer(
        &mut handle,
        reply(409, &[("stripe-should-retry", "true")], ""),
    )
    .await;
    answer(&mut handle, reply(200, &[], "")).await;
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 422, 501] {
        let (client, mut handle) = parsing(exact());
        let call = tokio::spawn(client.oneshot(get()));
        answer(&mut handle, reply(status, &[], r#"{"error": "nope"}"#)).await;
        let error = call.await.unwrap().unwrap_err();
        assert_eq!(error.api().unwrap().status(), status);
        assert_eq!(error.retries().attempts(), 1, "{status}");
        assert_eq!(
            error.retries().stopped(),
            Some(StopReason::NotRetryable),
            "{status}"
        );
        assert!(!error.to_string().contains("gave up"), "{error}");
    }
}

#[tokio::test(start_paused = true)]
async fn attempts_are_capped_and_backoff_grows() {
    let (client, mut handle) = parsing(exact().max_attempts(4));
    let call = tokio::spawn(client.oneshot(get()));
    let mut arrivals = Vec::new();
    for _ in 0..4 {
        arrivals.push(
            answer(&mut handle, reply(500, &[], r#"{"message": "boom"}"#))
                .await
                .0,
        );
    }
    let error = call.await.unwrap().unwrap_err();
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(2)
        ]
    );
    let report = error.retries();
    assert_eq!(
        (report.attempts(), report.waited()),
        (4, Duration::from_millis(3500))
    );
    assert_eq!(report.stopped(), Some(StopReason::MaxAttempts));
    assert_eq!(
        error.api().unwrap().message(),
        "boom",
        "the last attempt's typed error"
    );
    assert!(error.to_string().contains("after 4 attempts"), "{error}");
    // No fifth request.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(futures_ready_none(&mut handle).await);
}

/// True when no request arrives at the handle (none is waiting, or every
/// copy of the service is gone).
async fn futures_ready_none<B>(handle: &mut Handle<B>) -> bool {
    !matches!(
        tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await,
        Ok(Some(_))
    )
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_is_not_started() {
    let (client, mut handle) = retrying(exact().max_attempts(10).deadline(Duration::from_secs(5)));
    let started = Instant::now();
    let call = tokio::spawn(client.oneshot(get()));
    answer(&mut handle, reply(503, &[("retry-after", "3")], "")).await;
    answer(&mut handle, reply(503, &[("retry-after", "3")], "")).await;
    let response = call.await.unwrap().unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "the second 3 s wait would end at 6 s"
    );
    let report = response.extensions().get::<RetryReport>().unwrap();
    assert_eq!(
        (report.attempts(), report.stopped()),
        (2, Some(StopReason::Deadline))
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_hanging_attempt() {
    let (client, mut handle) = retrying(exact().deadline(Duration::from_secs(5)));
    let started = Instant::now();
    let call = tokio::spawn(client.oneshot(get()));
    let (_request, _never_answered) = handle.next_request().await.unwrap();
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(error.transport().unwrap().is_deadline());
    assert_eq!(error.retries().stopped(), Some(StopReason::Deadline));
}

#[tokio::test(start_paused = true)]
async fn the_budget_bounds_extra_load_under_total_failure() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    // 20 % of requests plus a floor of 1/s over a 10 s window: a reserve of 10.
    let policy = exact().budget(TpsBudget::new(Duration::from_secs(10), 1, 0.2));
    let client = RetryLayer::new(policy).layer(service);
    handle.allow(u64::MAX);
    let requests = 200;
    let served = Arc::new(Mutex::new(0usize));
    let counter = served.clone();
    let server = tokio::spawn(async move {
        while let Some((_, send)) = handle.next_request().await {
            *counter.lock().unwrap() += 1;
            send.send_response(reply(503, &[], ""));
        }
    });
    let mut calls = Vec::new();
    for _ in 0..requests {
        calls.push(tokio::spawn(client.clone().oneshot(get())));
    }
    let mut exhausted = 0;
    for call in calls {
        let response = call.await.unwrap().unwrap();
        assert_eq!(
            response.status(),
            503,
            "every request ends in exactly one outcome"
        );
        if response
            .extensions()
            .get::<RetryReport>()
            .unwrap()
            .stopped()
            == Some(StopReason::BudgetExhausted)
        {
            exhausted += 1;
        }
    }
    drop(client);
    let total = *served.lock().unwrap();
    server.abort();
    let amplification = total as f64 / requests as f64;
    // Without a budget this would be 3.0 (three attempts each).
    assert!(
        amplification <= 1.3,
        "amplification {amplification} ({total} attempts for {requests} requests)"
    );
    assert!(
        exhausted > 0,
        "the budget, not max_attempts, stopped most retries"
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_replayed_byte_for_byte() {
    type Streamed = support::Frames<std::io::Error>;
    let (service, mut handle) = mock::pair::<Req<Streamed>, Response<Full<Bytes>>>();
    let client = RetryLayer::new(exact()).layer(service);
    handle.allow(10);
    let body = support::Frames::chunks(&["chunk-1;", "chunk-2;", "", "chunk-3"]);
    let request = Request::put("http://api.test/blob").body(body).unwrap();
    let call = tokio::spawn(client.oneshot(request));
    let mut seen = Vec::new();
    for status in [503, 502, 200] {
        let (request, send) = handle.next_request().await.unwrap();
        seen.push(request.into_body().collect().await.unwrap().to_bytes());
        send.send_response(reply(status, &[], ""));
    }
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
    assert!(
        seen.iter().all(|body| body == "chunk-1;chunk-2;chunk-3"),
        "{seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_replay_cap_is_sent_once_and_not_retried() {
    type Streamed = support::Frames<std::io::Error>;
    let (service, mut handle) = mock::pair::<Req<Streamed>, Response<Full<Bytes>>>();
    let client = RetryLayer::new(exact().max_replay_bytes(8)).layer(service);
    handle.allow(10);
    let body = support::Frames::chunks(&["0123456789", "abcdef"]);
    let call =
        tokio::spawn(client.oneshot(Request::put("http://api.test/blob").body(body).unwrap()));
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(
        request.into_body().collect().await.unwrap().to_bytes(),
        "0123456789abcdef",
        "the first attempt gets all of it"
    );
    send.send_response(reply(503, &[], ""));
    let response = call.await.unwrap().unwrap();
    let report = response.extensions().get::<RetryReport>().unwrap();
    assert_eq!(report.stopped(), Some(StopReason::BodyNotReplayable));
    assert!(futures_ready_none(&mut handle).await);
}

#[tokio::test(start_paused = true)]
async fn dropping_during_the_wait_sends_nothing_more() {
    let (client, mut handle) = retrying(exact());
    let call = tokio::spawn(client.oneshot(get()));
    answer(&mut handle, reply(503, &[("retry-after", "10")], "")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        futures_ready_none(&mut handle).await,
        "no attempt after the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn connect_errors_are_retried_even_for_post() {
    let (client, mut handle) = retrying(exact());
    let call = tokio::spawn(
        client.oneshot(
            Request::post("http://api.test/x")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        ),
    );
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "refused",
    ));
    answer(&mut handle, reply(201, &[], "")).await;
    assert_eq!(call.await.unwrap().unwrap().status(), 201);
}

#[tokio::test(start_paused = true)]
async fn other_transport_errors_are_retried_only_when_idempotent() {
    let (client, mut handle) = retrying(exact());
    let reset = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");

    let call = tokio::spawn(
        client.clone().oneshot(
            Request::post("http://api.test/x")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        ),
    );
    handle.next_request().await.unwrap().1.send_error(reset());
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_eq!(error.retries().stopped(), Some(StopReason::NotIdempotent));

    let call = tokio::spawn(client.oneshot(get()));
    handle.next_request().await.unwrap().1.send_error(reset());
    answer(&mut handle, reply(200, &[], "")).await;
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn retry_if_and_on_retry() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let policy = exact()
        .retry_if(|ctx| (ctx.status() == Some(StatusCode::CONFLICT)).then_some(true))
        .on_retry(move |event| {
            log.lock()
                .unwrap()
                .push((event.attempt(), event.kind(), event.delay()))
        });
    let client = RetryLayer::new(policy).layer(service);
    handle.allow(10);
    let call = tokio::spawn(client.oneshot(get()));
    answer(&mut handle, reply(409, &[], "")).await;
    answer(&mut handle, reply(503, &[("retry-after", "1")], "")).await;
    answer(&mut handle, reply(200, &[], "")).await;
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
    assert_eq!(
        *events.lock().unwrap(),
        [
            (1, ErrorKind::Conflict, Duration::from_millis(500)),
            (2, ErrorKind::Unavailable, Duration::from_secs(1))
        ]
    );
}

#[tokio::test]
async fn against_real_hyper_on_loopback_fails_twice_then_succeeds() {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let log = hits.clone();
    let addr = support::serve(move |request| {
        let log = log.clone();
        async move {
            let body = support::body_bytes(request.into_body()).await;
            let attempt = {
                let mut hits = log.lock().unwrap();
                hits.push(body);
                hits.len()
            };
            if attempt <= 2 {
                support::response(
                    503,
                    &[("retry-after", "0")],
                    r#"{"error": "internal_error", "error_description": "warming up"}"#,
                )
            } else {
                support::response(200, &[], "done")
            }
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::put(format!("http://{addr}/things/1"))
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(support::body_bytes(response.into_body()).await, "done");
    assert_eq!(*hits.lock().unwrap(), ["payload", "payload", "payload"]);
}

#[tokio::test]
async fn gives_up_with_the_last_typed_error_over_real_hyper() {
    let addr = support::serve(|_request| async {
        support::response(
            503,
            &[("retry-after", "0")],
            r#"{"error": {"code": "MAINTENANCE", "message": "down for maintenance"}}"#,
        )
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().max_attempts(2)))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::get(format!("http://{addr}/status"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let Error::Api(error) = client.oneshot(request).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(error.code(), Some("MAINTENANCE"));
    assert_eq!(error.attempts(), 2);
    assert_eq!(error.retries().stopped(), Some(StopReason::MaxAttempts));
}

#[tokio::test]
async fn the_stack_is_clone_send_sync_and_fits_tower_wrappers() {
    fn assert_traits<T: Clone + Send + Sync + 'static>(_: &T) {}
    let client = support::client::<ReplayBody<Full<Bytes>>>();
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .layer(tower_api_errors::StatusClassifierLayer::new())
        .service(client);
    assert_traits(&stack);
    fn assert_send<T: Send>(_: T) {}
    assert_send(stack.clone().oneshot(get()));
    let _boxed: tower::util::BoxCloneSyncService<
        Request<Full<Bytes>>,
        Response<hyper::body::Incoming>,
        Error,
    > = tower::util::BoxCloneSyncService::new(stack.clone());
    let _boxed: tower::util::BoxCloneService<
        Request<Full<Bytes>>,
        Response<hyper::body::Incoming>,
        Error,
    > = tower::util::BoxCloneService::new(stack.clone());
    let buffered = tower::buffer::Buffer::<Request<Full<Bytes>>, _>::new(stack, 16);
    assert_traits(&buffered);
}

#[test]
#[should_panic(expected = "max_attempts")]
fn invalid_settings_are_rejected_when_built() {
    let _ = RetryPolicy::default().max_attempts(0);
}

/// A retry sends the request's headers as they were: every value of a
/// repeated name, in order, beside the others, and its extensions.
#[tokio::test(start_paused = true)]
async fn a_retry_sends_every_header_value_in_order() {
    #[derive(Clone, Debug, PartialEq)]
    struct Tenant(&'static str);
    let (client, mut handle) = retrying(exact());
    let mut request = Request::get("http://api.test/items")
        .header("accept", "application/json")
        .header("x-trace", "a")
        .header("accept", "text/plain")
        .header("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request.extensions_mut().insert(Tenant("acme"));
    let call = tokio::spawn(client.oneshot(request));
    let (_, first) = answer(&mut handle, reply(503, &[], "")).await;
    let (_, second) = answer(&mut handle, reply(200, &[], "")).await;
    call.await.unwrap().unwrap();
    let headers = |request: &Req| {
        request
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(headers(&second), headers(&first));
    assert_eq!(
        second
            .headers()
            .get_all("accept")
            .iter()
            .collect::<Vec<_>>(),
        ["application/json", "text/plain"]
    );
    assert_eq!(second.headers().len(), 4);
    assert_eq!(second.extensions().get::<Tenant>(), Some(&Tenant("acme")));
}

/// Retries send through clones of the inner service (the first attempt
/// through the one the caller made ready): each clone gets its own
/// `poll_ready`, and a service that is `Send` but not `Sync`
/// (`BoxCloneService`) still makes a `Send` future.
#[tokio::test]
async fn retries_go_through_ready_clones_of_the_service() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::util::BoxCloneService;

    #[derive(Clone)]
    struct CountingReady {
        readied: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
    }
    impl tower::Service<Request<ReplayBody<Full<Bytes>>>> for CountingReady {
        type Response = Response<Full<Bytes>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            self.readied.fetch_add(1, Ordering::SeqCst);
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<ReplayBody<Full<Bytes>>>) -> Self::Future {
            let status = match self.calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => 503,
                _ => 200,
            };
            std::future::ready(Ok(reply(status, &[], "")))
        }
    }

    tokio::time::pause();
    let inner = CountingReady {
        readied: Arc::new(AtomicUsize::new(0)),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let boxed = BoxCloneService::new(inner.clone());
    let service = Retry::new(boxed, exact());
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let response = assert_send(service.oneshot(get())).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    // Once by the caller (`oneshot`), once per retry on its clone.
    assert_eq!(inner.readied.load(Ordering::SeqCst), 3);
}

/// A retry whose service never gets ready is cut by the deadline too: the
/// timer is polled wherever the request waits, not only while an attempt
/// is in flight.
#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_retry_waiting_for_a_ready_service() {
    let (service, mut handle) = mock::pair::<Req, Response<Full<Bytes>>>();
    // One request admitted; the retry's `poll_ready` then stays pending.
    handle.allow(1);
    let client = RetryLayer::new(exact().deadline(Duration::from_secs(5))).layer(service);
    let started = Instant::now();
    let call = tokio::spawn(client.oneshot(get()));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(reply(503, &[], ""));
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(error.transport().unwrap().is_deadline());
    assert_eq!(error.retries().stopped(), Some(StopReason::Deadline));
}

/// A budget that never allows a retry: what a failing upstream's budget
/// looks like once spent.
struct Spent;

impl tower::retry::budget::Budget for Spent {
    fn deposit(&self) {}
    fn withdraw(&self) -> bool {
        false
    }
}

/// Issue 23, item 4: a rate limit waited out as the server paced it is
/// not extra load on a failing upstream, so it draws nothing from the
/// budget (nor one it said to retry at once under a quota it announced);
/// a paced 503, a rate limit without a hint, or a bare zero wait, still
/// does.
#[tokio::test(start_paused = true)]
async fn a_paced_rate_limit_draws_nothing_from_the_budget() {
    for over_parse in [false, true] {
        let policy = exact().budget(Spent);
        // A 429 with a hint: retried after exactly the hint, budget spent.
        let (client, mut handle) = if over_parse {
            let (client, handle) = parsing(policy.clone());
            (
                tower::util::BoxService::new(client.map_response(|r| r.map(|_| ()))),
                handle,
            )
        } else {
            let (client, handle) = retrying(policy.clone());
            (
                tower::util::BoxService::new(client.map_response(|r| r.map(|_| ()))),
                handle,
            )
        };
        let started = Instant::now();
        let call = tokio::spawn(client.oneshot(get()));
        answer(&mut handle, reply(429, &[("retry-after", "2")], "")).await;
        let (arrived, _) = answer(&mut handle, reply(200, &[], "ok")).await;
        assert_eq!(arrived - started, Duration::from_secs(2));
        let response = call.await.unwrap().unwrap();
        assert_eq!(
            response
                .extensions()
                .get::<RetryReport>()
                .unwrap()
                .attempts(),
            2
        );

        // A 503 with a hint: the spent budget stops it.
        let (client, mut handle) = retrying(policy.clone());
        let call = tokio::spawn(client.oneshot(get()));
        answer(&mut handle, reply(503, &[("retry-after", "2")], "")).await;
        let response = call.await.unwrap().unwrap();
        assert_eq!(
            response
                .extensions()
                .get::<RetryReport>()
                .unwrap()
                .stopped(),
            Some(StopReason::BudgetExhausted)
        );

        // A 429 that says to retry at once (a vendor's whole seconds
        // truncated): its backoff, but the server paced it, budget spent.
        let (client, mut handle) = retrying(policy.clone());
        let call = tokio::spawn(client.oneshot(get()));
        let truncated = [
            ("retry-after", "0"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "0"),
        ];
        answer(&mut handle, reply(429, &truncated, "")).await;
        answer(&mut handle, reply(200, &[], "ok")).await;
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);

        // The same zero wait with no quota announced paces nothing: the
        // backoff is ours, so the budget decides (a 429 storm saying
        // `Retry-After: 0` is held to the budget's share).
        let (client, mut handle) = retrying(policy.clone());
        let call = tokio::spawn(client.oneshot(get()));
        answer(&mut handle, reply(429, &[("retry-after", "0")], "")).await;
        let response = call.await.unwrap().unwrap();
        let report = response.extensions().get::<RetryReport>().unwrap();
        assert_eq!(report.stopped(), Some(StopReason::BudgetExhausted));
        let (client, mut handle) = parsing(policy.clone());
        let call = tokio::spawn(client.oneshot(get()));
        answer(&mut handle, reply(429, &[("retry-after", "0")], "")).await;
        let error = call.await.unwrap().unwrap_err();
        let stopped = error.api().unwrap().retries().stopped();
        assert_eq!(stopped, Some(StopReason::BudgetExhausted));

        // A 429 without a hint: a backoff of our own, so the budget decides.
        let (client, mut handle) = retrying(policy);
        let call = tokio::spawn(client.oneshot(get()));
        answer(&mut handle, reply(429, &[], "")).await;
        let response = call.await.unwrap().unwrap();
        assert_eq!(
            response
                .extensions()
                .get::<RetryReport>()
                .unwrap()
                .stopped(),
            Some(StopReason::BudgetExhausted)
        );
    }
}
