//! `SuccessPeekLayer`: 2xx bodies that say they failed become typed errors;
//! every other success is given back byte for byte (issue #12 item 6).

mod support;

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::parse::SuccessPeekLayer;
use tower_api_errors::retry::{ReplayBody, RetryLayer, RetryPolicy};
use tower_api_errors::{parse_error, ApiError, Error, ErrorBodyParseLayer, ErrorKind};

use support::peek;

struct Failing {
    source: &'static str,
    content_type: &'static str,
    body: &'static str,
    kind: ErrorKind,
    code: &'static str,
    message: &'static str,
    retryable: bool,
    retry_after_ms: Option<u64>,
}

const FAILING: &[Failing] = &[
    // Slack Web API, "Evaluating responses" (api.slack.com/web): ok false under 200.
    Failing { source: "Slack", content_type: "application/json; charset=utf-8", body: r#"{"ok": false, "error": "channel_not_found"}"#,
        kind: ErrorKind::Other, code: "channel_not_found", message: "channel_not_found", retryable: false, retry_after_ms: None },
    // Shopify Admin GraphQL API, "API rate limits" (shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits):
    // a throttled query under 200, its cost and the bucket's state in `extensions.cost`.
    Failing { source: "Shopify GraphQL THROTTLED", content_type: "application/json", body: r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],"extensions":{"cost":{"requestedQueryCost":752,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":421,"restoreRate":50.0}}}}"#,
        // The bucket refills at restoreRate points a second; the query needs
        // requestedQueryCost: (752 - 421) / 50 = 6.62 s.
        kind: ErrorKind::RateLimited, code: "THROTTLED", message: "Throttled", retryable: true, retry_after_ms: Some(6_620) },
    // Apollo Server error codes: a RATE_LIMITED extension code, data null.
    Failing { source: "GraphQL RATE_LIMITED", content_type: "application/graphql-response+json", body: r#"{"data":null,"errors":[{"message":"Too many requests","extensions":{"code":"RATE_LIMITED"}}]}"#,
        kind: ErrorKind::RateLimited, code: "RATE_LIMITED", message: "Too many requests", retryable: true, retry_after_ms: None },
    // Amazon S3 API Reference, CopyObject: "a 200 OK response can contain either a success or an error".
    Failing { source: "S3 200 SlowDown", content_type: "application/xml", body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran</HostId></Error>",
        kind: ErrorKind::RateLimited, code: "SlowDown", message: "Please reduce your request rate.", retryable: true, retry_after_ms: None },
];

#[tokio::test]
async fn failures_inside_successes_are_typed() {
    for row in FAILING {
        let at = row.source;
        let Err(Error::Api(error)) = peek(row.content_type, row.body).await else {
            panic!("{at}: expected an API error");
        };
        assert_eq!(error.status(), 200, "{at}");
        assert_eq!(error.kind(), row.kind, "{at}");
        assert_eq!(error.code(), Some(row.code), "{at}");
        assert_eq!(error.message(), row.message, "{at}");
        assert_eq!(error.is_retryable(), row.retryable, "{at}");
        let expected = row.retry_after_ms.map(std::time::Duration::from_millis);
        assert_eq!(error.retry_after(), expected, "{at}");
    }
}

/// One 200 with `headers` and `body`, through the peek and parse layers:
/// the typed error.
async fn peeked(headers: &'static [(&'static str, &'static str)], body: &'static str) -> ApiError {
    let upstream = scripted::Scripted::new();
    let client = SuccessPeekLayer::new().layer(
        ErrorBodyParseLayer::new()
            .layer(upstream.service::<Full<Bytes>>(move |_| scripted::reply(200, headers, body))),
    );
    let request = Request::get("/graphql")
        .body(Full::new(Bytes::new()))
        .unwrap();
    match client.oneshot(request).await {
        Err(Error::Api(error)) => error,
        Err(other) => panic!("expected an API error, got {other:?}"),
        Ok(response) => panic!("expected an API error, got {}", response.status()),
    }
}

/// GitHub, "Rate limits and query limits for the GraphQL API", Exceeding
/// the rate limit (docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api):
/// "If you exceed your primary rate limit, the response status will still
/// be 200, but you will receive an error message, and the value of the
/// x-ratelimit-remaining header will be 0. You should not retry your
/// request until after the time specified by the x-ratelimit-reset header."
/// The reset (30 s after `Date`) is the hint, as under a 403 or 429
/// (promises_vendor_signals.rs, github_primary_and_secondary_limits_on_403;
/// the retry layer's wait: github_graphql_limits_under_200_wait_their_hint).
#[tokio::test]
async fn github_graphql_primary_limit_under_200_keeps_the_reset() {
    const HEADERS: &[(&str, &str)] = &[
        ("content-type", "application/json; charset=utf-8"),
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-used", "5000"),
        ("x-ratelimit-reset", "1700000030"),
        ("x-ratelimit-resource", "graphql"),
        ("x-github-request-id", "CAFE:1234:5678"),
    ];
    let error = peeked(
        HEADERS,
        r#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1234."}]}"#,
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.code(), Some("RATE_LIMITED"));
    assert_eq!(error.message(), "API rate limit exceeded for user ID 1234.");
    assert_eq!(error.request_id(), Some("CAFE:1234:5678"));
    assert_eq!(
        error.rate_limit().map(|info| info.remaining()),
        Some(Some(0))
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
}

/// Same page: "If you exceed a secondary rate limit, the response status
/// will be 200 or 403 ... If the retry-after response header is present,
/// you should not retry your request until after that many seconds has
/// elapsed." Under 200 as under 403, `Retry-After` makes it a retryable
/// rate limit with that hint; `x-should-retry: false` still says no.
#[tokio::test]
async fn github_graphql_secondary_limit_under_200_keeps_retry_after() {
    const HEADERS: &[(&str, &str)] = &[
        ("content-type", "application/json; charset=utf-8"),
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("retry-after", "60"),
        ("x-ratelimit-remaining", "4990"),
    ];
    const REFUSED: &[(&str, &str)] = &[
        ("content-type", "application/json"),
        ("retry-after", "60"),
        ("x-should-retry", "false"),
    ];
    const BODY: &str = r#"{"errors":[{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}]}"#;
    let error = peeked(HEADERS, BODY).await;
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
    let refused = peeked(REFUSED, BODY).await;
    assert_eq!(refused.kind(), ErrorKind::RateLimited);
    assert!(!refused.is_retryable());
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(60)));
}

/// Amazon S3 API Reference, CompleteMultipartUpload and CopyObject
/// (docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html):
/// "A request could fail after the initial 200 OK response has been sent
/// ... The SDKs detect the embedded error and apply error handling per
/// your configuration settings (including automatically retrying the
/// request as appropriate) ... applications should be prepared to retry
/// any failed requests (including 500 error responses)". botocore turns
/// such a 200 into a 500 for its retry decision
/// (`botocore/handlers.py::_handle_200_error`: "Convert S3 200 responses
/// with embedded errors to 500"). An `InternalError` (S3's code for a
/// 500, "We encountered an internal error. Please try again.") under 200
/// is therefore a retryable server failure, as it is under 500. The body
/// is preceded by the white space S3 sends to keep the connection open.
#[tokio::test]
async fn s3_internal_error_under_200_is_retried_as_its_500_is() {
    const HEADERS: &[(&str, &str)] = &[
        ("content-type", "application/xml"),
        ("x-amz-request-id", "656c76696e6727732072657175657374"),
    ];
    let error = peeked(
        HEADERS,
        "\n \n \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>",
    )
    .await;
    assert_eq!(error.code(), Some("InternalError"));
    assert_eq!(
        error.message(),
        "We encountered an internal error. Please try again."
    );
    assert_eq!(error.request_id(), Some("656c76696e6727732072657175657374"));
    let under_500 = parse_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &HeaderMap::new(),
        b"<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>",
    );
    for error in [&error, &under_500] {
        assert_eq!(error.kind(), ErrorKind::Server, "{}", error.status());
        assert!(error.is_retryable(), "{}", error.status());
    }
}

#[tokio::test]
async fn real_successes_come_back_unchanged() {
    let rows: &[(&str, &str)] = &[
        ("application/json", r#"{"ok": true, "channel": "C1H9RESGL", "ts": "1503435956.000247"}"#),
        // GraphQL spec, "Errors": a partial result (data present) is a success.
        ("application/json", r#"{"errors":[{"message":"Name for character with ID 1002 could not be fetched.","locations":[{"line":6,"column":7}],"path":["hero","heroFriends",1,"name"]}],"data":{"hero":{"name":"R2-D2","heroFriends":[{"id":"1000","name":"Luke Skywalker"},null]}}}"#),
        // S3 CopyObject's success body.
        ("application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><LastModified>2009-10-28T22:32:00</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyObjectResult>"),
        // Not a peeked content type: never read.
        ("text/plain", r#"{"ok": false, "error": "looks like one"}"#),
        ("application/json", ""),
    ];
    for (content_type, body) in rows {
        let bytes = peek(content_type, body).await.unwrap();
        assert_eq!(bytes, body.as_bytes(), "{body}");
    }
}

#[tokio::test]
async fn bodies_past_the_cap_come_back_unchanged() {
    // 64 KiB, streamed in 1 KiB frames and ended by trailers: the peek stops
    // at the cap and hands back every byte and the trailers.
    let chunk = format!("{{\"ok\": false, \"pad\": \"{}\"}}", "x".repeat(1000));
    let expected: Vec<u8> = chunk.repeat(64).into_bytes();

    let upstream = service_fn(move |_req: Request<()>| {
        let chunk = chunk.clone();
        async move {
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..64)
                .map(|_| Ok(Frame::data(Bytes::from(chunk.clone()))))
                .chain(std::iter::once(Ok(Frame::trailers({
                    let mut trailers = HeaderMap::new();
                    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
                    trailers
                }))))
                .collect();

            let body = StreamBody::new(tokio_stream::iter(frames));
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(body)
                    .unwrap(),
            )
        }
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new().max_bytes(4096))
        .service(upstream);
    let response = client.oneshot(Request::new(())).await.unwrap();
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-checksum"], "abc");
    assert_eq!(collected.to_bytes(), expected);
}

/// A setting changed on a clone of a layer already built (a shared base
/// layer, tuned per client) is that clone's alone, as tower's layers are
/// `Clone` for: it panicked ("a layer being built is not shared").
#[tokio::test]
async fn a_setting_changed_on_a_clone_is_the_clones_alone() {
    let slack = r#"{"ok": false, "error": "channel_not_found"}"#;
    let upstream = service_fn(move |_req: Request<()>| async move {
        let response = Response::builder().header("content-type", "application/json");
        Ok::<_, Infallible>(response.body(Full::new(Bytes::from(slack))).unwrap())
    });
    let base = SuccessPeekLayer::new();
    let tuned = base.clone().max_bytes(8);
    let flagged = base.layer(upstream).oneshot(Request::new(())).await;
    assert!(matches!(flagged, Err(Error::Api(_))), "{flagged:?}");
    let unread = tuned
        .layer(upstream)
        .oneshot(Request::new(()))
        .await
        .unwrap();
    let bytes = unread.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        bytes,
        slack.as_bytes(),
        "past the clone's 8 bytes: given back"
    );
}

#[tokio::test(start_paused = true)]
async fn the_retry_layer_retries_a_throttle_sent_as_200() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let upstream = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let body: &'static str = if call == 0 {
                r#"{"data":null,"errors":[{"message":"Too many requests","extensions":{"code":"RATE_LIMITED"}}]}"#
            } else {
                r#"{"data":{"viewer":{"login":"octocat"}}}"#
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap(),
            )
        }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let response = client
        .oneshot(Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, r#"{"data":{"viewer":{"login":"octocat"}}}"#);
}

/// An always-ready body of empty data frames (see `parse_layer.rs`'s
/// `Weightless`): before, the peek looped on it for ever; now a frame
/// costs at least one byte of the cap, and the response comes back with
/// the body unread past it.
#[tokio::test(start_paused = true)]
async fn a_success_of_endless_empty_frames_is_given_back() {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    struct EmptyFrames(Arc<AtomicU32>);
    impl http_body::Body for EmptyFrames {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let polled = self.0.fetch_add(1, Ordering::SeqCst);
            assert!(polled < 1_000_000, "the peek spun on empty frames");
            Poll::Ready(Some(Ok(Frame::data(Bytes::new()))))
        }
    }
    let polled = Arc::new(AtomicU32::new(0));
    let counter = polled.clone();
    let upstream = service_fn(move |_req: Request<()>| {
        let body = EmptyFrames(counter.clone());
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(body)
                    .unwrap(),
            )
        }
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new().max_bytes(4096))
        .service(upstream);
    let response = client.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(polled.load(Ordering::SeqCst) <= 4097);
}

const TOKEN: &str = "sk_live_51Hx9q2eZvKYlo2CabcdefGHIJ";
const QUERY_TOKEN: &str = "xoxb-17653672481-19874698323";
const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

/// Failures inside successes that echo the request's bearer token, its
/// `?token=` query secret and a JSON Web Token into message, code and
/// details, through the peek and parse layers.
async fn peeked_echo(content_type: &'static str, body: fn(&str, &str) -> String) -> ApiError {
    let upstream = service_fn(move |req: Request<()>| async move {
        let bearer = req.headers()["authorization"].to_str().unwrap();
        let bearer = bearer.strip_prefix("Bearer ").unwrap().to_owned();
        let query = req.uri().query().unwrap().strip_prefix("token=").unwrap();
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body(&bearer, query))))
                .unwrap(),
        )
    });
    let client = SuccessPeekLayer::new().layer(ErrorBodyParseLayer::new().layer(upstream));
    let request = Request::get(format!(
        "https://slack.test/api/auth.test?token={QUERY_TOKEN}"
    ))
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(())
    .unwrap();
    let Err(Error::Api(error)) = client.oneshot(request).await else {
        panic!("a failure inside a success is an API error")
    };
    error
}

/// Before: the peek layer built its error without scrubbing it, so the
/// request's own credentials and token shapes stayed in its message, code
/// and details. It types them "like any other" (parse module docs), so
/// the parse layer's echo promise holds (redact module docs; SECURITY.md,
/// "No credentials in errors or logs").
#[tokio::test]
async fn failures_inside_successes_are_scrubbed_of_echoed_credentials() {
    type Body = fn(&str, &str) -> String;
    let rows: [(&str, &'static str, Body); 3] = [
        ("Slack", "application/json", |t, q| {
            format!(
                r#"{{"ok":false,"error":"{t}","message":"token {t} or {q} or {JWT} was revoked","echo":{{"q":"{q}","jwt":"{JWT}"}}}}"#
            )
        }),
        ("GraphQL", "application/graphql-response+json", |t, q| {
            format!(
                r#"{{"data":null,"errors":[{{"message":"bad token {t} {q} {JWT}","extensions":{{"code":"{t}","seen":["{q}","{JWT}"]}}}}]}}"#
            )
        }),
        ("S3", "application/xml", |t, q| {
            format!("<Error><Code>{t}</Code><Message>Key {t}, {q}, {JWT} refused</Message></Error>")
        }),
    ];
    for (at, content_type, body) in rows {
        let error = peeked_echo(content_type, body).await;
        let shown = format!(
            "{error} | {error:?} | {:?} | {:?} | {:?}",
            error.code(),
            error.details_json(),
            error.details()
        );
        for secret in [TOKEN, QUERY_TOKEN, JWT, &TOKEN[..12], &JWT[..20]] {
            assert!(!shown.contains(secret), "{at}: {secret} leaked: {shown}");
        }
        assert!(error.message().contains("REDACTED"), "{at}: {shown}");
        let request = error.request().expect("the error names its request");
        assert!(request.to_string().contains("token=REDACTED"), "{at}");
    }
}

/// The parse module docs: "The body is decoded (a UTF-8 BOM dropped; a
/// declared ISO-8859-1 or windows-1252 charset ... transcoded)", and the
/// peek types failures "like any other": its detectors read raw bytes, so
/// an `ok: false` behind a BOM or in Latin-1 passed as a success.
#[tokio::test]
async fn failures_behind_a_bom_or_in_latin1_are_typed() {
    let bom = peek(
        "application/json",
        "\u{feff}{\"ok\": false, \"error\": \"invalid_auth\"}",
    )
    .await;
    let Err(Error::Api(error)) = bom else {
        panic!("{bom:?}")
    };
    assert_eq!(error.code(), Some("invalid_auth"));
    let latin1 = service_fn(|_req: Request<()>| async {
        let body = b"{\"ok\": false, \"error\": \"channel_not_found\", \"hint\": \"caf\xe9\"}";
        let response = Response::builder()
            .header("content-type", "application/json; charset=iso-8859-1")
            .body(Full::new(Bytes::from_static(body)));
        Ok::<_, Infallible>(response.unwrap())
    });
    let r = SuccessPeekLayer::new()
        .layer(latin1)
        .oneshot(Request::new(()))
        .await;
    let Err(Error::Api(error)) = r else {
        panic!("a Latin-1 ok:false passed")
    };
    assert_eq!(error.code(), Some("channel_not_found"));
    // A Latin-1 success still comes back byte for byte.
    let bytes = peek("application/json; charset=latin1", "{\"ok\": true}").await;
    assert_eq!(bytes.unwrap(), "{\"ok\": true}");
}

/// The layer docs: "its body is read up to the cap". An 8 MiB success in
/// one frame, without `Content-Length`, was copied whole; now the first
/// 16 KiB are copied and the rest of the frame comes back as it was sent,
/// the same memory (no copy), every byte in order.
#[tokio::test]
async fn a_big_frame_is_copied_up_to_the_cap_only() {
    let sent = Bytes::from(
        (0..8u32 << 20)
            .map(|i| b' ' + (i % 90) as u8)
            .collect::<Vec<_>>(),
    );
    let body = sent.clone();
    let upstream = service_fn(move |_req: Request<()>| {
        let frame = Ok::<_, Infallible>(Frame::data(body.clone()));
        let body = StreamBody::new(tokio_stream::iter([frame]));
        let response = Response::builder().header("content-type", "application/json");
        async move { Ok::<_, Infallible>(response.body(body).unwrap()) }
    });
    let response = SuccessPeekLayer::new()
        .layer(upstream)
        .oneshot(Request::new(()))
        .await;
    let mut body = response.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first.len(), 16 * 1024, "the peek copied past its cap");
    let rest = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(
        rest.as_ptr(),
        sent[first.len()..].as_ptr(),
        "the rest was copied"
    );
    assert_eq!([first, rest].concat(), sent);
    assert!(body.frame().await.is_none());
}
