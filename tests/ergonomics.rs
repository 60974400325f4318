//! Issue 14's conversions and diagnostics: typed errors survive generic
//! middleware, transport errors say their root cause.

mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::time::Duration;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind};

fn not_found() -> Response<Full<Bytes>> {
    Response::builder()
        .status(404)
        .body(Full::new(Bytes::from_static(
            br#"{"error": "Member not found"}"#,
        )))
        .unwrap()
}

#[tokio::test]
async fn the_typed_error_comes_back_through_buffer() {
    let client = ServiceBuilder::new()
        .buffer(8)
        .layer(ErrorBodyParseLayer::new())
        .service(service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(not_found())
        }));
    let boxed: BoxError = client
        .oneshot(Request::new(Full::new(Bytes::new())))
        .await
        .unwrap_err();
    let Error::Api(error) = Error::from_boxed(boxed) else {
        panic!("the ApiError is recovered")
    };
    assert_eq!(
        (error.kind(), error.message()),
        (ErrorKind::NotFound, "Member not found")
    );
    // A bare `ApiError`, boxed (a `map_err(Into::into)` of its own), too.
    let boxed: BoxError = Box::new(error);
    assert!(matches!(Error::from_boxed(boxed), Error::Api(_)));
}

#[tokio::test(start_paused = true)]
async fn an_outer_timeout_is_a_deadline_and_question_mark_works() {
    async fn call() -> Result<(), Error> {
        let client = ServiceBuilder::new()
            .timeout(Duration::from_secs(2))
            .layer(ErrorBodyParseLayer::new())
            .service(service_fn(|_req: Request<Full<Bytes>>| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, std::convert::Infallible>(not_found())
            }));
        client
            .oneshot(Request::new(Full::new(Bytes::new())))
            .await?;
        Ok(())
    }
    let error = call().await.unwrap_err();
    assert!(error.transport().unwrap().is_deadline(), "{error}");
}

#[tokio::test]
async fn a_connect_error_says_its_root_cause_and_is_recognised() {
    let addr = support::refused_addr();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().max_attempts(1)))
        .layer(ErrorBodyParseLayer::new())
        .service(support::client::<ReplayBody<Full<Bytes>>>());
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    let transport = error.transport().expect("a transport error");
    assert!(transport.is_connect());
    let text = transport.to_string();
    assert!(text.contains("(Connect)"), "{text}");
    assert!(
        text.to_lowercase().contains("refused"),
        "the root cause is printed: {text}"
    );
}

/// `retry_if` reads a setting of the caller's own from the request's
/// extensions, and `on_retry` sees the method and the redacted URI.
#[tokio::test(start_paused = true)]
async fn per_request_settings_and_events_that_say_which_request() {
    use std::sync::{Arc, Mutex};
    use tower::Layer;
    use tower_api_errors::retry::RetryOverride;

    #[derive(Clone, Copy)]
    struct NeverRetry;

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let policy = RetryPolicy::default()
        .no_budget()
        .retry_if(|ctx| ctx.extensions().get::<NeverRetry>().map(|_| false))
        .on_retry(move |event| {
            seen.lock().unwrap().push(format!(
                "{} {} #{}",
                event.method(),
                event.uri(),
                event.attempt()
            ))
        });
    // Every wait is the server's 1 s, so the deadline below is decided
    // deterministically (no jitter).
    let upstream = service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
        Ok::<_, std::convert::Infallible>(
            Response::builder()
                .status(503)
                .header("retry-after", "1")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
    });
    let client = RetryLayer::new(policy).layer(upstream);
    let get = |extension: Option<NeverRetry>| {
        let mut request = Request::get("http://api.test/v1/items?api_key=k-123456&page=2")
            .body(Full::new(Bytes::new()))
            .unwrap();
        if let Some(extension) = extension {
            request.extensions_mut().insert(extension);
        }
        request
    };
    let report = |response: Response<Full<Bytes>>| {
        *response
            .extensions()
            .get::<tower_api_errors::RetryReport>()
            .unwrap()
    };
    let r = report(client.clone().oneshot(get(Some(NeverRetry))).await.unwrap());
    assert_eq!(r.attempts(), 1);
    let r = report(client.clone().oneshot(get(None)).await.unwrap());
    assert_eq!(r.attempts(), 3);
    assert_eq!(
        *events.lock().unwrap(),
        [
            "GET http://api.test/v1/items?api_key=REDACTED&page=2 #1",
            "GET http://api.test/v1/items?api_key=REDACTED&page=2 #2"
        ]
    );
    // A per-request deadline: the wait that would pass it is not started.
    let mut request = get(None);
    request
        .extensions_mut()
        .insert(RetryOverride::new().deadline(Duration::from_millis(100)));
    let r = report(client.oneshot(request).await.unwrap());
    assert_eq!(
        (r.attempts(), r.stopped()),
        (1, Some(tower_api_errors::StopReason::Deadline))
    );
}

/// The upstream's request id, for its support desk, from the allowlist of
/// well-known headers; nothing else of the headers is kept.
#[test]
fn the_upstreams_request_id_is_on_the_error() {
    use http::{HeaderMap, StatusCode};
    use tower_api_errors::parse_error;
    // Stripe and Anthropic send `request-id`; OpenAI `x-request-id`; AWS
    // `x-amzn-RequestId`; Cloudflare `cf-ray`.
    let rows = [
        (
            "request-id",
            "req_011CSHoEeqs5C35K2UUqR7Fy",
            Some("req_011CSHoEeqs5C35K2UUqR7Fy"),
        ),
        (
            "x-request-id",
            "req_8b2c0f0c1d3e4f5a",
            Some("req_8b2c0f0c1d3e4f5a"),
        ),
        (
            "x-amzn-RequestId",
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
        ),
        (
            "cf-ray",
            "7d2f3b4c5e6f7a8b-AMS",
            Some("7d2f3b4c5e6f7a8b-AMS"),
        ),
        ("x-request-id", "has space", None),
        ("x-unknown-id", "abc", None),
    ];
    for (name, value, expected) in rows {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        let error = parse_error(StatusCode::BAD_GATEWAY, &headers, b"");
        assert_eq!(error.request_id(), expected, "{name}");
        if let Some(id) = expected {
            assert!(error.to_string().contains(&format!("request id {id}")));
        }
    }
    let mut long = HeaderMap::new();
    long.insert("x-request-id", "a".repeat(129).parse().unwrap());
    assert_eq!(
        parse_error(StatusCode::BAD_GATEWAY, &long, b"").request_id(),
        None
    );
    // The most specific name with a valid value wins, whatever the order
    // the headers came in; an invalid value falls through to the next.
    let mut several = HeaderMap::new();
    several.append("cf-ray", "ray-1".parse().unwrap());
    several.append("x-request-id", "bad id".parse().unwrap());
    several.append("x-request-id", "xr-2".parse().unwrap());
    several.append("request-id", "".parse().unwrap());
    let id = |headers: &HeaderMap| {
        parse_error(StatusCode::BAD_GATEWAY, headers, b"")
            .request_id()
            .map(str::to_owned)
    };
    assert_eq!(id(&several).as_deref(), Some("xr-2"));
    several.append("request-id", "r-3".parse().unwrap());
    assert_eq!(id(&several).as_deref(), Some("r-3"));
}

/// The one-layer stack takes the parse layer's classifier as the verdict:
/// a status the user's classifier calls a success comes back as it is,
/// once, with no retry report (the retry layer does not classify it again
/// with its own table).
#[tokio::test]
async fn the_one_layer_stack_keeps_the_users_verdict_on_successes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tower_api_errors::classify::{classify_fn, Classification, Classify, DefaultClassifier};
    use tower_api_errors::ApiErrorsLayer;
    use tower_api_errors::RetryReport;

    let sends = Arc::new(AtomicUsize::new(0));
    let counted = sends.clone();
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, BoxError>(not_found()) }
    });
    // A 404 from this API means "no such item yet": an answer, not a failure.
    let classifier = classify_fn(|status: http::StatusCode, headers: &http::HeaderMap| {
        if status == http::StatusCode::NOT_FOUND {
            Classification::Success
        } else {
            DefaultClassifier::new().classify(status, headers)
        }
    });
    let client = ApiErrorsLayer::new()
        .classifier(classifier)
        .client(upstream);
    let request = Request::get("http://api.test/items/7")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(sends.load(Ordering::SeqCst), 1);
    assert!(response.extensions().get::<RetryReport>().is_none());
}
