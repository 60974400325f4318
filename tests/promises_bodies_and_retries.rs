//! Promises on failure bodies and retries, checked against the vendors'
//! documented error bodies, RFC 9110, 6585, 6749, 6750 and 9457, and the
//! stacks and clients a user builds: what a body says, how long a hint
//! waits, what is resent, and that every way of stacking the layers
//! agrees; and what of a request body the retry, auth and hedge layers
//! send again over real hyper (empty bodies, the replay cap's boundary,
//! trailers, bodies that never end or fail during a replay). (Brought in
//! from probes of the crate's promises.)

mod support;

#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_api_errors::auth::AuthLayer;
use tower_api_errors::hedge::HedgeLayer;
use tower_api_errors::parse::SuccessPeekLayer;
use tower_api_errors::retry::{Backoff, Jitter, ReplayBody};
use tower_api_errors::{
    parse_error, ApiErrorsLayer, Error, ErrorBodyParseLayer, ErrorKind, RetryLayer, RetryPolicy,
    StopReason,
};

use scripted::{exact, get, reply, Scripted};
use support::{bounded, headers, Frames, ServerBody};

/// Header pairs, as a row lists them.
type Pairs = &'static [(&'static str, &'static str)];

/// A hostile body of about `n` bytes.
type Shape = Box<dyn Fn(usize) -> Vec<u8>>;

fn parse(status: u16, pairs: &[(&str, &str)], body: &str) -> tower_api_errors::ApiError {
    parse_error(
        StatusCode::from_u16(status).unwrap(),
        &headers(pairs),
        body.as_bytes(),
    )
}

// ---------------------------------------------------------------- vendors

/// Stripe's documented card error (docs.stripe.com/api/errors): the
/// message, a code and the `Request-Id` are read, and a decline is not
/// retryable.
#[test]
fn stripe_card_error_with_request_id() {
    // https://docs.stripe.com/api/errors
    let e = parse(
        402,
        &[
            ("content-type", "application/json"),
            ("request-id", "req_8Hd2"),
        ],
        r#"{"error": {"code": "card_declined", "decline_code": "insufficient_funds",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card has insufficient funds.", "param": "", "request_log_url": "https://dashboard.stripe.com/test/logs/req_8Hd2?t=1",
            "type": "card_error"}}"#,
    );
    assert_eq!(e.message(), "Your card has insufficient funds.");
    assert!(e.code().is_some());
    assert_eq!(e.request_id(), Some("req_8Hd2"));
    assert!(!e.is_retryable());
}

/// GitHub's 422 "Validation Failed" (docs.github.com, "Troubleshooting
///  the REST API"): a Validation kind, one field error per `errors[]` entry,
/// and `x-github-request-id` as the request id.
#[test]
fn github_validation_failed_field_errors() {
    // https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
    let e = parse(
        422,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("x-github-request-id", "C5A6:1234:ABCD"),
        ],
        r#"{"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue", "status": "422"}"#,
    );
    assert_eq!(e.message(), "Validation Failed");
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(e.field_errors().len(), 1);
    assert_eq!(e.field_errors()[0].field(), "title");
    assert_eq!(e.request_id(), Some("C5A6:1234:ABCD"));
}

/// Google's error model (cloud.google.com/apis/design/errors): the
/// `ErrorInfo.reason` is the code (parse module docs: "a Google
/// `ErrorInfo.reason` ... wins") and `RetryInfo.retryDelay` the hint.
#[test]
fn google_quota_error_info_and_retry_info() {
    // https://cloud.google.com/apis/design/errors
    let e = parse(
        429,
        &[("content-type", "application/json; charset=UTF-8")],
        r#"{"error": {"code": 429, "message": "Quota exceeded for quota metric 'Queries'.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
              {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
               "domain": "googleapis.com", "metadata": {"service": "translate.googleapis.com"}},
              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.code(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    assert!(e.is_retryable());
}

/// AWS JSON throttles sent as 400 (botocore `retries/standard.py`
/// THROTTLED_ERROR_CODES; the parse module's body-verdict table,
/// `Throttled` row): a retryable rate limit, with `x-amzn-requestid`.
#[test]
fn aws_json_throttles_botocore_knows() {
    // botocore/retries/standard.py THROTTLED_ERROR_CODES (examples of the
    // "Throttled" row; the ones named in the parse docs' table)
    for code in ["ThrottlingException", "Throttling", "SlowDown"] {
        let body = format!(
            r#"{{"__type": "com.amazonaws.dynamodb.v20120810#{code}", "message": "Rate exceeded"}}"#
        );
        let e = parse(
            400,
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-requestid", "RID1"),
            ],
            &body,
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited, "{code}: {e}");
        assert!(e.is_retryable(), "{code}");
        assert_eq!(e.request_id(), Some("RID1"));
    }
}

/// The AWS Query protocol's XML `ErrorResponse/Error/Code` `Throttling`
/// under 400: code, message, and the `Throttled` verdict.
#[test]
fn aws_query_xml_throttling_under_400() {
    // AWS Query protocol (SQS/STS/EC2-like): ErrorResponse/Error/Code
    let e = parse(
        400,
        &[("content-type", "text/xml")],
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>8a3e6d2a-1111-2222-3333-444455556666</RequestId>
</ErrorResponse>"#,
    );
    assert_eq!(e.code(), Some("Throttling"), "{e}");
    assert_eq!(e.message(), "Rate exceeded");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.is_retryable());
}

/// S3's `<Error><Code>SlowDown</Code>` 503 (S3 error responses): the
/// `Throttled` verdict, message, and `x-amz-request-id`.
#[test]
fn s3_slowdown_xml_503() {
    let e = parse(
        503,
        &[
            ("content-type", "application/xml"),
            ("x-amz-request-id", "4442587FB7D0A2F9"),
        ],
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>"#,
    );
    assert_eq!(e.code(), Some("SlowDown"));
    assert_eq!(e.message(), "Please reduce your request rate.");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.is_retryable());
    assert_eq!(e.request_id(), Some("4442587FB7D0A2F9"));
}

/// Azure's nested error: the deepest `innererror` code wins (parse module
/// docs), `Retry-After` is the hint, `x-ms-request-id` the request id.
#[test]
fn azure_nested_error_with_ms_request_id() {
    let e = parse(
        429,
        &[
            ("content-type", "application/json"),
            ("x-ms-request-id", "abc-123"),
            ("retry-after", "17"),
        ],
        r#"{"error": {"code": "TooManyRequests", "message": "The request is being throttled.",
            "details": [], "innererror": {"code": "SubscriptionRequestsThrottled"}}}"#,
    );
    assert_eq!(e.message(), "The request is being throttled.");
    assert_eq!(e.code(), Some("SubscriptionRequestsThrottled"));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(17)));
    assert_eq!(e.request_id(), Some("abc-123"));
}

/// Twilio's flat error (twilio.com/docs/usage/twilios-response): a
/// numeric code becomes the code, the 429 a rate limit.
#[test]
fn twilio_flat_error() {
    // https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
    let e = parse(
        429,
        &[("content-type", "application/json")],
        r#"{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#,
    );
    assert_eq!(e.message(), "Too Many Requests");
    assert_eq!(e.code(), Some("20429"));
    assert_eq!(e.kind(), ErrorKind::RateLimited);
}

/// Shopify's `errors` as a string and as a field map (parse module docs,
/// `ErrorsList`: "top-level `errors` (arrays, field maps ...)").
#[test]
fn shopify_errors_string_and_field_map() {
    let e = parse(
        401,
        &[("content-type", "application/json; charset=utf-8")],
        r#"{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}"#,
    );
    assert!(e.message().contains("Invalid API key"), "{e}");
    let e = parse(
        422,
        &[("content-type", "application/json")],
        r#"{"errors": {"title": ["can't be blank"], "price": ["must be a number"]}}"#,
    );
    let fields: Vec<_> = e
        .field_errors()
        .iter()
        .map(|f| f.field().to_owned())
        .collect();
    assert!(
        fields.contains(&"title".to_owned()) && fields.contains(&"price".to_owned()),
        "{fields:?}"
    );
}

/// Salesforce's top-level array `[{"message", "errorCode", "fields"}]`
/// (parse module docs, `ErrorArray`).
#[test]
fn salesforce_top_level_array() {
    let e = parse(
        401,
        &[("content-type", "application/json;charset=UTF-8")],
        r#"[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]"#,
    );
    assert_eq!(e.code(), Some("INVALID_SESSION_ID"));
    assert_eq!(e.message(), "Session expired or invalid");
    let e = parse(
        400,
        &[("content-type", "application/json")],
        r#"[{"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Name"]}]"#,
    );
    assert_eq!(e.code(), Some("REQUIRED_FIELD_MISSING"));
    assert_eq!(e.field_errors().first().map(|f| f.field()), Some("Name"));
}

/// An OAuth 2.0 token endpoint error (RFC 6749 §5.2): `error` is the code,
/// `error_description` the message, and `invalid_grant` is not retried.
#[test]
fn oauth2_token_endpoint_error() {
    // RFC 6749 §5.2
    let e = parse(
        400,
        &[
            ("content-type", "application/json;charset=UTF-8"),
            ("cache-control", "no-store"),
        ],
        r#"{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, or revoked", "error_uri": "https://example.com/e"}"#,
    );
    assert_eq!(e.code(), Some("invalid_grant"));
    assert_eq!(
        e.message(),
        "The provided authorization grant is invalid, expired, or revoked"
    );
    assert!(!e.is_retryable());
}

/// RFC 9457 §3 problem details under every spelling of its media type
/// (RFC 9110 §8.3.1: type and subtype are case-insensitive), extension
/// members kept in `details()`, and the validation example's `errors`
/// as field errors.
#[test]
fn rfc9457_problem_with_extensions() {
    // RFC 9457 §3 example, with extension members
    let body = r#"{"type": "https://example.com/probs/out-of-credit", "title": "You do not have enough credit.",
        "detail": "Your current balance is 30, but that costs 50.", "instance": "/account/12345/msgs/abc",
        "balance": 30, "accounts": ["/account/12345", "/account/67890"]}"#;
    for ct in [
        "application/problem+json",
        "application/problem+json; charset=utf-8",
        "Application/Problem+JSON",
        "application/json",
    ] {
        let e = parse(403, &[("content-type", ct)], body);
        assert!(
            e.message().contains("Your current balance is 30")
                || e.message().contains("enough credit"),
            "{ct}: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{ct}");
        assert_eq!(
            e.details()
                .and_then(|d| d.get("balance"))
                .and_then(|b| b.as_i64()),
            Some(30),
            "{ct}"
        );
    }
    // RFC 9457 §3 validation example: `errors` with `pointer`
    let e = parse(
        422,
        &[("content-type", "application/problem+json")],
        r##"{"type": "https://example.net/validation-error", "title": "Your request is not valid.",
            "errors": [{"detail": "must be a positive integer", "pointer": "#/age"},
                       {"detail": "must be 'green', 'red' or 'blue'", "pointer": "#/profile/color"}]}"##,
    );
    assert_eq!(e.field_errors().len(), 2, "{e}: {:?}", e.field_errors());
}

/// The same JSON read the same with a UTF-8 BOM, no `Content-Type`,
/// `text/plain` or a `+json` suffix (parse module docs: "a UTF-8 BOM
/// dropped ... parsed as JSON once").
#[test]
fn bom_and_no_content_type_give_the_same_reading() {
    let body = r#"{"error": {"code": "not_found", "message": "No such thing"}}"#;
    let plain = parse(404, &[("content-type", "application/json")], body);
    let bom = parse(
        404,
        &[("content-type", "application/json")],
        &format!("\u{feff}{body}"),
    );
    let none = parse(404, &[], body);
    let text = parse(404, &[("content-type", "text/plain")], body);
    let suffix = parse(404, &[("content-type", "application/vnd.api+json")], body);
    for e in [&bom, &none, &text, &suffix] {
        assert_eq!(e.message(), plain.message());
        assert_eq!(e.code(), plain.code());
    }
}

/// A declared ISO-8859-1 or windows-1252 charset is transcoded (parse
/// module docs: "a declared ISO-8859-1 or windows-1252 charset, by
/// `Content-Type` ... transcoded"), quoted or not.
#[test]
fn latin1_charset_is_transcoded() {
    let mut body = br#"{"message": "Caf"#.to_vec();
    body.push(0xE9);
    body.extend_from_slice(br#" ferm"#);
    body.push(0xE9);
    body.extend_from_slice(br#""}"#);
    let e = parse_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("content-type", "application/json; charset=ISO-8859-1")]),
        &body,
    );
    assert_eq!(e.message(), "Café fermé");
    let e = parse_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("content-type", "application/json;charset=\"windows-1252\"")]),
        &body,
    );
    assert_eq!(e.message(), "Café fermé");
}

/// A GraphQL failure under 200 (GraphQL over HTTP,
/// `application/graphql-response+json`) is typed by `SuccessPeekLayer`
/// (parse module docs, "Errors inside successes").
#[tokio::test]
async fn graphql_errors_in_200_through_peek() {
    let script = Scripted::new();
    let svc = script.service(|_| {
        reply(
            200,
            &[("content-type", "application/graphql-response+json; charset=utf-8")],
            r#"{"errors": [{"message": "Not authorised", "extensions": {"code": "UNAUTHENTICATED"}}], "data": null}"#,
        )
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(svc);
    let out = client.oneshot(get("/graphql")).await;
    let Err(Error::Api(e)) = out else {
        panic!("a GraphQL failure under 200 was passed as a success")
    };
    assert_eq!(e.message(), "Not authorised");
}

/// Slack's `{"ok": false, "error": ...}` under 200 is typed by
/// `SuccessPeekLayer` (parse module docs, "Errors inside successes"),
/// and `invalid_auth` is not retryable.
#[tokio::test]
async fn slack_ok_false_in_200() {
    let script = Scripted::new();
    let svc = script.service(|_| {
        reply(
            200,
            &[("content-type", "application/json; charset=utf-8")],
            r#"{"ok": false, "error": "invalid_auth"}"#,
        )
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(svc);
    let Err(Error::Api(e)) = client.oneshot(get("/api/auth.test")).await else {
        panic!()
    };
    assert_eq!(e.code(), Some("invalid_auth"));
    assert!(!e.is_retryable());
}

// ------------------------------------------------- the same verdict in every stack

type Row = (
    &'static str,
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// What each stack did with `row`: sends, and whether the caller got a failure.
async fn sends_by_stack(row: Row) -> Vec<(&'static str, usize, bool)> {
    let (method, status, hdrs, body) = row;
    let request = || {
        Request::builder()
            .method(method)
            .uri("http://api.test/v1/x")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let script = move |_| reply(status, hdrs, body);
    let mut out = Vec::new();

    // Retry -> Parse -> client
    let up = Scripted::new();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(ErrorBodyParseLayer::new())
        .service(up.service::<ReplayBody<Full<Bytes>>>(script));
    let failed = client.oneshot(request()).await.is_err();
    out.push(("retry+parse", up.count(), failed));

    // ApiErrorsLayer
    let up = Scripted::new();
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .layer(up.service::<ReplayBody<Full<Bytes>>>(script));
    let failed = client.oneshot(request()).await.is_err();
    out.push(("ApiErrorsLayer", up.count(), failed));

    // Retry -> Parse -> StatusClassifier -> client (the README's "add it innermost")
    let up = Scripted::new();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(ErrorBodyParseLayer::new())
        .layer(tower_api_errors::StatusClassifierLayer::new())
        .service(up.service::<ReplayBody<Full<Bytes>>>(script));
    let failed = client.oneshot(request()).await.is_err();
    out.push(("retry+parse+classifier", up.count(), failed));

    // Retry -> Peek -> Parse -> client
    let up = Scripted::new();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact()))
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(up.service::<ReplayBody<Full<Bytes>>>(script));
    let failed = client.oneshot(request()).await.is_err();
    out.push(("retry+peek+parse", up.count(), failed));
    out
}

fn same_everywhere(row: Row, got: &[(&'static str, usize, bool)]) -> Option<String> {
    let first = got[0];
    (!got.iter().all(|g| g.1 == first.1 && g.2 == first.2)).then(|| format!("{row:?}: {got:?}"))
}

/// Every way of stacking the layers (`ApiErrorsLayer`, retry over parse,
/// with a `StatusClassifierLayer` innermost as the README suggests, with
/// `SuccessPeekLayer`) sends the same number of times and fails the same
/// way for each row: throttles under 400, spent quotas, JSON-RPC and SOAP
/// client faults, `x-should-retry` and `stripe-should-retry`, 408/413/425/
/// 501/529.
#[tokio::test(start_paused = true)]
async fn every_stack_gives_the_same_verdict() {
    const JSON: (&str, &str) = ("content-type", "application/json");
    let rows: &[Row] = &[
        ("GET", 503, &[], ""),
        (
            "GET",
            400,
            &[JSON],
            r#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#,
        ),
        (
            "GET",
            429,
            &[JSON],
            r#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}}"#,
        ),
        (
            "GET",
            500,
            &[JSON],
            r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 1}"#,
        ),
        (
            "GET",
            503,
            &[JSON, ("x-should-retry", "false")],
            r#"{"message": "down"}"#,
        ),
        (
            "GET",
            400,
            &[JSON, ("x-should-retry", "true")],
            r#"{"message": "lock"}"#,
        ),
        (
            "POST",
            400,
            &[JSON, ("stripe-should-retry", "true")],
            r#"{"error": {"message": "lock timeout", "type": "api_error"}}"#,
        ),
        ("GET", 413, &[("retry-after", "1")], ""),
        ("GET", 413, &[], ""),
        (
            "GET",
            403,
            &[
                JSON,
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "5"),
            ],
            r#"{"message": "API rate limit exceeded"}"#,
        ),
        (
            "GET",
            403,
            &[JSON],
            r#"{"message": "You have exceeded a secondary rate limit."}"#,
        ),
        (
            "GET",
            400,
            &[("content-type", "application/xml")],
            "<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>",
        ),
        (
            "GET",
            500,
            &[JSON],
            r#"{"error": {"code": "InternalError", "message": "oops"}}"#,
        ),
        (
            "POST",
            500,
            &[("content-type", "text/xml")],
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Bad input</faultstring></soap:Fault></soap:Body></soap:Envelope>"#,
        ),
        ("GET", 408, &[], ""),
        ("POST", 408, &[], ""),
        ("GET", 501, &[], ""),
        ("GET", 529, &[], ""),
        ("GET", 425, &[], ""),
    ];
    let mut bad = Vec::new();
    for &row in rows {
        let got = sends_by_stack(row).await;
        bad.extend(same_everywhere(row, &got));
    }
    assert!(bad.is_empty(), "stacks disagree:\n{}", bad.join("\n"));
}

// ------------------------------------------------------------ backoff and jitter

/// The delays `on_retry` reports for 12 failed attempts under `backoff`.
async fn delays_under(backoff: Backoff) -> Vec<Duration> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let policy = RetryPolicy::default()
        .no_budget()
        .no_deadline()
        .max_attempts(13)
        .backoff(backoff)
        .on_retry(move |event| sink.lock().unwrap().push(event.delay()));
    let up = Scripted::new();
    let client = RetryLayer::new(policy).layer(
        ErrorBodyParseLayer::new()
            .layer(up.service::<ReplayBody<Full<Bytes>>>(|_| reply(503, &[], ""))),
    );
    let _ = client.oneshot(get("http://api.test/x")).await;
    assert_eq!(up.count(), 13);
    let waits = up.waits();
    let delays = seen.lock().unwrap().clone();
    // The wait between sends is the delay reported.
    for (w, d) in waits.iter().zip(&delays) {
        assert!(
            w.abs_diff(*d) <= Duration::from_millis(1),
            "waited {w:?}, reported {d:?}"
        );
    }
    delays
}

/// Each jitter stays within its bounds in the `Jitter` docs table (`None`:
/// the exponential base; `Full`: `[0, base]`; `Equal`: `[base/2, base]`;
/// `Decorrelated`: `[initial, min(max, 3 × previous)]`), and the wait
/// between sends is the delay `on_retry` reports.
#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_documented_bounds() {
    let ms = Duration::from_millis;
    let base = |n: u32| (ms(100) * 2u32.pow(n.min(10) - 1)).min(ms(3000));
    for _ in 0..5 {
        let none =
            delays_under(Backoff::exponential(ms(100), 2.0, ms(3000)).jitter(Jitter::None)).await;
        for (i, d) in none.iter().enumerate() {
            assert_eq!(*d, base(i as u32 + 1), "none, retry {}", i + 1);
        }
        let full =
            delays_under(Backoff::exponential(ms(100), 2.0, ms(3000)).jitter(Jitter::Full)).await;
        for (i, d) in full.iter().enumerate() {
            assert!(*d <= base(i as u32 + 1), "full, retry {}: {d:?}", i + 1);
        }
        let equal =
            delays_under(Backoff::exponential(ms(100), 2.0, ms(3000)).jitter(Jitter::Equal)).await;
        for (i, d) in equal.iter().enumerate() {
            let b = base(i as u32 + 1);
            assert!(
                *d >= b / 2 && *d <= b,
                "equal, retry {}: {d:?} not in [{:?}, {b:?}]",
                i + 1,
                b / 2
            );
        }
        let dec =
            delays_under(Backoff::exponential(ms(100), 2.0, ms(3000)).jitter(Jitter::Decorrelated))
                .await;
        let mut previous = Duration::ZERO;
        for (i, d) in dec.iter().enumerate() {
            let high = (previous.max(ms(100)) * 3).min(ms(3000));
            assert!(
                *d >= ms(100) && *d <= high,
                "decorrelated, retry {}: {d:?} (previous {previous:?})",
                i + 1
            );
            previous = *d;
        }
    }
}

/// `max_attempts` counts sends, the first included (`RetryPolicy` docs),
/// and the error says so: its attempts, and `StopReason::MaxAttempts`.
#[tokio::test(start_paused = true)]
async fn max_attempts_counts_sends_exactly() {
    for attempts in [1u32, 2, 5, 9] {
        let up = Scripted::new();
        let client = RetryLayer::new(exact().max_attempts(attempts)).layer(
            ErrorBodyParseLayer::new()
                .layer(up.service::<ReplayBody<Full<Bytes>>>(|_| reply(502, &[], ""))),
        );
        let err = client.oneshot(get("http://api.test/x")).await.unwrap_err();
        assert_eq!(up.count(), attempts as usize);
        assert_eq!(err.api().unwrap().attempts(), attempts);
        assert_eq!(
            err.api().unwrap().retries().stopped(),
            Some(StopReason::MaxAttempts),
            "{attempts}"
        );
    }
}

// ------------------------------------------------------------ Retry-After forms

/// Waits between two sends when the first answers 503 with `headers`.
async fn wait_for(
    hdrs: &'static [(&'static str, &'static str)],
) -> (usize, Option<Duration>, Option<StopReason>) {
    let up = Scripted::new();
    let client = RetryLayer::new(exact()).layer(ErrorBodyParseLayer::new().layer(
        up.service::<ReplayBody<Full<Bytes>>>(move |n| {
            if n == 0 {
                reply(503, hdrs, "")
            } else {
                reply(200, &[], "ok")
            }
        }),
    ));
    let result = client.oneshot(get("http://api.test/x")).await;
    let stop = result
        .as_ref()
        .err()
        .and_then(|e| e.api())
        .and_then(|a| a.retries().stopped());
    (up.count(), up.waits().first().copied(), stop)
}

/// `Retry-After` in every RFC 9110 §10.2.3 form: delta-seconds, the three
/// HTTP-date forms of §5.6.7 (read against the response's `Date`);
/// fractions and `retry-after-ms` as vendors send them; a past date, a
/// negative or unreadable value falls back to the backoff; a wait past
/// `max_retry_after` (120 s, retry module docs) fails fast with
/// `HintTooLong`.
#[tokio::test(start_paused = true)]
async fn retry_after_edge_forms() {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    const DATE: (&str, &str) = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
    let rows: &[(Pairs, Option<Duration>)] = &[
        (&[("retry-after", "3")], Some(s(3))),
        (&[("retry-after", "1.5")], Some(ms(1500))),
        (
            &[DATE, ("retry-after", "Sun, 06 Nov 1994 08:49:40 GMT")],
            Some(s(3)),
        ),
        (
            &[DATE, ("retry-after", "Sunday, 06-Nov-94 08:49:40 GMT")],
            Some(s(3)),
        ),
        (
            &[DATE, ("retry-after", "Sun Nov  6 08:49:40 1994")],
            Some(s(3)),
        ),
        (
            &[DATE, ("retry-after", "Sun, 06 Nov 1994 08:49:30 GMT")],
            Some(ms(500)),
        ), // past: backoff
        (&[("retry-after", "-1")], Some(ms(500))),
        (&[("retry-after", "soon")], Some(ms(500))),
        (&[("retry-after", "")], Some(ms(500))),
        (&[("retry-after", "120")], Some(s(120))),
        (&[("retry-after", "121")], None),
        (&[("retry-after", "18446744073709551616")], None),
        (
            &[DATE, ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")],
            None,
        ),
        (
            &[("retry-after-ms", "250"), ("retry-after", "9")],
            Some(ms(250)),
        ),
        (
            &[
                ("retry-after", "2"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "7"),
            ],
            Some(s(2)),
        ),
    ];
    let mut bad = Vec::new();
    for (hdrs, want) in rows {
        let (sends, waited, stop) = wait_for(hdrs).await;
        let ok = match want {
            Some(w) => sends == 2 && waited == Some(*w),
            None => sends == 1 && stop == Some(StopReason::HintTooLong),
        };
        if !ok {
            bad.push(format!(
                "{hdrs:?}: sends {sends}, waited {waited:?}, stop {stop:?}; want {want:?}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ------------------------------------------------------------ idempotency

/// Only methods RFC 9110 §9.2.2 calls idempotent are resent (methods are
/// case-sensitive, §9.1), or a request with a non-empty
/// `Idempotency-Key` (`RetryPolicy::retry_non_idempotent` docs: "a POST
/// may have been done once already").
#[tokio::test(start_paused = true)]
async fn methods_outside_rfc_9110_idempotent_set_are_not_resent() {
    let rows: &[(&str, Option<&str>, usize)] = &[
        ("TRACE", None, 3),
        ("QUERY", None, 1), // not in RFC 9110 §9.2.2's list: the crate's rule says no
        ("CONNECT", None, 1),
        ("PROPFIND", None, 1),
        ("get", None, 1), // methods are case-sensitive (RFC 9110 §9.1)
        ("PATCH", Some("k"), 3),
        ("POST", Some("\"\""), 1),
        ("POST", Some("\"abc\""), 3),
    ];
    let mut bad = Vec::new();
    for &(method, key, want) in rows {
        let up = Scripted::new();
        let client = RetryLayer::new(exact()).layer(
            ErrorBodyParseLayer::new()
                .layer(up.service::<ReplayBody<Full<Bytes>>>(|_| reply(503, &[], ""))),
        );
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri("http://api.test/x");
        if let Some(k) = key {
            b = b.header("idempotency-key", k);
        }
        let _ = client
            .oneshot(b.body(Full::new(Bytes::new())).unwrap())
            .await;
        if up.count() != want {
            bad.push(format!(
                "{method} key {key:?}: {} sends, want {want}",
                up.count()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A POST's 429 is not resent (`StopReason::NotIdempotent`), but the error
/// keeps its kind and the server's `Retry-After` for the caller.
#[tokio::test(start_paused = true)]
async fn a_post_429_with_retry_after_is_not_resent_but_keeps_the_hint() {
    let up = Scripted::new();
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .layer(up.service::<ReplayBody<Full<Bytes>>>(|_| {
            reply(
                429,
                &[("retry-after", "7"), ("content-type", "application/json")],
                r#"{"message": "slow down"}"#,
            )
        }));
    let req = Request::post("http://api.test/charges")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let err = client.oneshot(req).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(up.count(), 1);
    assert_eq!(api.retries().stopped(), Some(StopReason::NotIdempotent));
    assert_eq!(api.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(api.kind(), ErrorKind::RateLimited);
}

// ------------------------------------------------------------ failure bodies in time

type ChanBody = http_body_util::channel::Channel<Bytes, std::convert::Infallible>;

/// A 503 whose body drips `byte` every `gap`, forever (until the receiver goes).
fn dripping(gap: Duration) -> Response<ChanBody> {
    let (mut tx, body) =
        http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(1);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(gap).await;
            if tx.send_data(Bytes::from_static(b"x")).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(503)
        .header("content-type", "text/plain")
        .body(body)
        .unwrap()
}

/// "read up to a cap ... and for a bounded time (10 s)" (parse module
/// docs): a failure body whose chunks each come within 10 s of the last
/// still ends at 10 s, truncated and typed.
#[tokio::test(start_paused = true)]
async fn a_dripping_failure_body_is_bounded_in_total_not_per_chunk() {
    // "read up to 64 KiB, for at most 10 s" (README `parse` row): a body
    // whose chunks each come within 10 s of the last still ends at 10 s.
    for gap in [Duration::from_millis(100), Duration::from_secs(9)] {
        let upstream = tower::service_fn(move |_req: Request<Full<Bytes>>| async move {
            Ok::<_, std::convert::Infallible>(dripping(gap))
        });
        let client = ErrorBodyParseLayer::new().layer(upstream);
        let started = tokio::time::Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            client.oneshot(get("http://api.test/x")),
        )
        .await;
        let Ok(Err(Error::Api(e))) = out else {
            panic!("gap {gap:?}: no typed error within 60 s")
        };
        let took = started.elapsed();
        assert!(
            took <= Duration::from_secs(10) + gap,
            "gap {gap:?}: took {took:?}"
        );
        assert!(e.is_truncated(), "gap {gap:?}");
        assert_eq!(e.status(), 503);
    }
}

/// A failure body that never ends, under retry: the call still ends within
/// the policy's deadline (`RetryPolicy::deadline`).
#[tokio::test(start_paused = true)]
async fn a_dripping_body_under_retry_ends_within_the_deadline() {
    let upstream = tower::service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async move {
        Ok::<_, std::convert::Infallible>(dripping(Duration::from_secs(1)))
    });
    let client = ApiErrorsLayer::new()
        .retry(exact().deadline(Duration::from_secs(25)))
        .layer(upstream);
    let started = tokio::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        client.oneshot(get("http://api.test/x")),
    )
    .await;
    let Ok(Err(e)) = out else {
        panic!("no outcome")
    };
    assert!(
        started.elapsed() <= Duration::from_secs(25),
        "took {:?}: {e}",
        started.elapsed()
    );
}

// ------------------------------------------------------------ hostile bodies: bounded messages

/// `body` parsed as a 503 with `ct`: a message within the bound, on one line.
fn bounded_message(ct: &str, body: &[u8]) -> Result<(), String> {
    let e = parse_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("content-type", ct)]),
        body,
    );
    let chars = e.message().chars().count();
    if chars > 1024 || e.message().contains('\n') || e.message().is_empty() {
        return Err(format!(
            "message of {chars} chars: {:?}",
            e.message().chars().take(120).collect::<String>()
        ));
    }
    Ok(())
}

/// "Every dialect is linear in the body ... XML searched with one look at
/// each `<`" and "messages are ... bounded to 1024 characters" (parse
/// module docs, "Bounds"): hostile shapes of 64 KiB and 512 KiB parse to
/// a bounded, one-line message. (Linearity itself is not timed here:
/// wall-clock ratios flake on a loaded CI.)
#[test]
fn hostile_bodies_parse_to_a_bounded_message() {
    let shapes: Vec<(&str, &str, Shape)> = vec![
        ("lt", "text/xml", Box::new(|n| vec![b'<'; n])),
        ("open tags", "text/xml", Box::new(|n| b"<a>".repeat(n / 3))),
        (
            "error tags",
            "application/xml",
            Box::new(|n| b"<Error><Code>".repeat(n / 13)),
        ),
        (
            "html comments",
            "text/html",
            Box::new(|n| b"<!--".repeat(n / 4)),
        ),
        ("html tags", "text/html", Box::new(|n| b"<p".repeat(n / 2))),
        (
            "soap",
            "text/xml",
            Box::new(|n| {
                let mut v = b"<soap:Envelope><soap:Body>".to_vec();
                v.extend(b"<soap:Fault><faultcode>".repeat(n / 23));
                v
            }),
        ),
        (
            "html in json message",
            "application/json",
            Box::new(|n| {
                let mut v = br#"{"message": ""#.to_vec();
                v.extend(b"<b".repeat(n / 2));
                v.extend(br#""}"#);
                v
            }),
        ),
        (
            "try again in json message",
            "application/json",
            Box::new(|n| {
                let mut v = br#"{"message": ""#.to_vec();
                v.extend(b"try again in ".repeat(n / 13));
                v.extend(br#""}"#);
                v
            }),
        ),
        (
            "many keys",
            "application/json",
            Box::new(|n| {
                let mut v = b"{".to_vec();
                for i in 0..n / 16 {
                    v.extend(format!(r#""k{i:08}": 1,"#).as_bytes());
                }
                v.extend(br#""message": "m"}"#);
                v
            }),
        ),
        (
            "field map",
            "application/json",
            Box::new(|n| {
                let mut v = br#"{"errors": {"#.to_vec();
                for i in 0..n / 24 {
                    v.extend(format!(r#""f{i:08}": ["bad x"],"#).as_bytes());
                }
                v.extend(br#""z": ["y"]}}"#);
                v
            }),
        ),
        (
            "plain lines",
            "text/plain",
            Box::new(|n| b"a\r\n".repeat(n / 3)),
        ),
        (
            "text many spaces",
            "text/plain",
            Box::new(|n| b" ".repeat(n)),
        ),
        (
            "unclosed json",
            "application/json",
            Box::new(|n| b"{\"a\":[".repeat(n / 6)),
        ),
        (
            "escapes",
            "application/json",
            Box::new(|n| {
                let mut v = br#"{"message": ""#.to_vec();
                v.extend(b"\\u00e9".repeat(n / 6));
                v.extend(br#""}"#);
                v
            }),
        ),
        (
            "cp1252",
            "text/plain; charset=windows-1252",
            Box::new(|n| vec![0x93; n]),
        ),
    ];
    let mut bad = Vec::new();
    for (name, ct, make) in &shapes {
        for size in [64 * 1024, 512 * 1024] {
            if let Err(e) = bounded_message(ct, &make(size)) {
                bad.push(format!("{name}, {size} bytes: {e}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ------------------------------------------------------------ real servers

/// A raw HTTP/1.1 server: connection n (from 0) gets `answer(n)` written
/// after its request is read, then is closed.
async fn raw_server(
    answer: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                if support::read_request(&mut stream, &mut seen).await {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(&answer(n)).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    (addr, count)
}

/// A 503 whose body is cut short (declares 100 bytes, sends 27, closes)
/// over a real hyper connection is a typed, truncated error (parse module
/// docs: "fails mid-stream ... still yields a typed error"), and is
/// retried.
#[tokio::test]
async fn a_truncated_503_body_is_typed_and_retried_over_real_hyper() {
    let (addr, count) = raw_server(|n| {
        if n < 2 {
            // Declares 100 bytes, sends 27, closes.
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"message\": \"overloaded, r".to_vec()
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
        }
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let out = support::bounded(
        "truncated 503",
        client.clone().oneshot(get(&format!("http://{addr}/x"))),
    )
    .await;
    assert_eq!(out.unwrap().status(), 200);
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // With one attempt: the typed error, marked truncated.
    let (addr, _) = raw_server(|_| {
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"message\": \"overloaded, r".to_vec()
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().max_attempts(1))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let err = support::bounded(
        "truncated 503",
        client.oneshot(get(&format!("http://{addr}/x"))),
    )
    .await
    .unwrap_err();
    let api = err.api().unwrap_or_else(|| panic!("not typed: {err}"));
    assert!(api.is_truncated());
    assert_eq!(api.status(), 503);
}

/// A HEAD's failure has no body whatever its `Content-Length` (RFC 9110
/// §9.3.2): it is typed and retried at once, never waiting for one.
#[tokio::test]
async fn head_failures_with_a_content_length_do_not_wait_for_a_body() {
    let sends = Arc::new(AtomicUsize::new(0));
    let counter = sends.clone();
    let addr = support::serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { support::response(503, &[("content-length", "5000"), ("retry-after", "0")], "") }
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let req = Request::head(format!("http://{addr}/x"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let err = support::bounded("HEAD 503", client.oneshot(req))
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().status(), 503);
    assert_eq!(sends.load(Ordering::SeqCst), 3);
}

/// A streamed PUT answered before its body was sent whole is replayed
/// whole and in order (`ReplayBody` docs: "replays the kept chunks, then
/// goes on reading the original where the last attempt left it").
#[tokio::test]
async fn a_streamed_put_answered_early_is_replayed_whole() {
    // Attempt 1: the server reads the first chunk only, then answers 503.
    // The rest of the body is produced only after that answer. Attempt 2
    // must carry every byte, in order (ReplayBody: "replays the kept
    // chunks, then goes on reading the original where the last attempt
    // left it").
    let (answered_tx, answered_rx) = tokio::sync::oneshot::channel::<()>();
    let answered_tx = Arc::new(Mutex::new(Some(answered_tx)));
    let bodies = Arc::new(Mutex::new(Vec::<Bytes>::new()));
    let seen = bodies.clone();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let answered_tx = answered_tx.clone();
        let seen = seen.clone();
        async move {
            use http_body_util::BodyExt;
            let first = answered_tx.lock().unwrap().take();
            let mut body = req.into_body();
            if let Some(tx) = first {
                let _ = body.frame().await;
                let _ = tx.send(());
                return support::response(503, &[("retry-after", "0")], "");
            }
            let all = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            seen.lock().unwrap().push(all);
            support::response(200, &[], "ok")
        }
    })
    .await;
    let (mut tx, body) =
        http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(1);
    let feeder = tokio::spawn(async move {
        tx.send_data(Bytes::from_static(b"chunk-one;"))
            .await
            .unwrap();
        let _ = answered_rx.await;
        tx.send_data(Bytes::from_static(b"chunk-two;"))
            .await
            .unwrap();
        tx.send_data(Bytes::from_static(b"chunk-three"))
            .await
            .unwrap();
    });
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .client(support::client::<
            ReplayBody<http_body_util::channel::Channel<Bytes, std::convert::Infallible>>,
        >());
    let req = Request::put(format!("http://{addr}/upload"))
        .body(body)
        .unwrap();
    let out = support::bounded("early answer", client.oneshot(req)).await;
    feeder.abort();
    let response = out.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    assert_eq!(
        bodies.lock().unwrap().as_slice(),
        &[Bytes::from_static(b"chunk-one;chunk-two;chunk-three")]
    );
}

/// A 503 whose body never ends is cut at the cap (64 KiB) and retried over
/// a real hyper connection (parse module docs: "A body that outgrows the
/// cap ... still yields a typed error").
#[tokio::test]
async fn an_endless_503_body_is_cut_and_retried_over_real_hyper() {
    let sends = Arc::new(AtomicUsize::new(0));
    let counter = sends.clone();
    let addr = support::serve(move |_req| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n >= 2 {
                return support::response(200, &[], "ok");
            }
            let stream = futures_endless();
            Response::builder()
                .status(503)
                .header("content-type", "application/json")
                .body(http_body_util::BodyExt::boxed(
                    http_body_util::StreamBody::new(stream),
                ))
                .unwrap()
        }
    })
    .await;
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let out = support::bounded(
        "endless 503",
        client.oneshot(get(&format!("http://{addr}/x"))),
    )
    .await;
    assert_eq!(out.unwrap().status(), 200);
    assert_eq!(sends.load(Ordering::SeqCst), 3);
}

fn futures_endless(
) -> impl tokio_stream::Stream<Item = Result<http_body::Frame<Bytes>, support::BoxError>>
       + Send
       + Sync
       + 'static {
    tokio_stream::iter(std::iter::repeat_with(|| {
        Ok(http_body::Frame::data(Bytes::from_static(&[b'a'; 8192])))
    }))
}

// ------------------------------------------------------------ hostile numbers: no panic, saturating

const HOSTILE_VALUES: &[&str] = &[
    "1e3",
    "1.5e2",
    "1e400",
    "-1e400",
    "1e-400",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "18446744073709551615",
    "18446744073709551616",
    "18446744073709551615.9",
    "340282366920938463463374607431768211456",
    "9223372036854775807",
    "-9223372036854775808",
    "0.0000000001",
    "-0",
    "-0.0",
    "+5",
    "5 ",
    " 5",
    "5,",
    ",5",
    ",",
    "0x10",
    "1_000",
    "1.",
    ".5",
    "..",
    "1..2",
    "1.2.3",
    "999999999999999999999999999999.999999999999",
    "00000000000000000000000000000000000001",
    "1h",
    "1h2m3.5s",
    "999999999999h",
    "1.5.5s",
    "-1s",
    "1us",
    "1ns",
    "0.5ms",
    "1d",
    "6m0s",
    "2562047h47m16.854775807s",
    "2562047h47m16.854775808s",
    "2024-09-03T16:47:48Z",
    "9999-12-31T23:59:60Z",
    "2024-02-30T00:00:00Z",
    "2024-09-03T16:47:48+99:99",
    "0000-01-01T00:00:00Z",
    "2024-09-03T16:47:48.999999999999999999Z",
    "Sun, 31 Dec 9999 23:59:60 GMT",
    "Sun, 06 Nov 1994 25:61:61 GMT",
    "Sun, 00 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 94",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Wed, 31 Dec 1969 23:59:59 GMT",
    "\"burst\";r=0;t=1e400",
    "limit=1e400, remaining=-1, reset=1e400",
    "\"p\";q=0;w=0",
    "\"p\";q=18446744073709551616;w=18446744073709551616",
    "r=0;t=-1",
    "39/0",
    "0/0",
    "18446744073709551615/18446744073709551615",
    "api-usage=1/0",
    "api-usage=18446744073709551616/1",
];

const HOSTILE_HEADERS: &[&str] = &[
    "retry-after",
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "x-retry-after",
    "x-ratelimit-retry-after",
    "grpc-retry-pushback-ms",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
    "x-rate-limit-reset",
    "ratelimit-reset",
    "ratelimit-resettime",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-reset",
    "x-ratelimit-requests-reset",
    "fastly-ratelimit-reset",
    "x-contentful-ratelimit-reset",
    "x-rate-limit-time-reset-ms",
    "x-bapi-limit-reset-timestamp",
    "gw-ratelimit-reset",
    "ratelimit",
    "ratelimit-policy",
    "x-shopify-shop-api-call-limit",
    "sforce-limit-info",
    "x-ratelimit-limit",
];

/// Hostile values in every hint header `ResponseHints::read` knows (floats,
/// overflowing integers, bad dates and durations) never panic, and no
/// hint or reset exceeds `MAX_HINT` (hints module docs).
#[test]
fn hostile_hint_values_never_panic_and_stay_within_max_hint() {
    use tower_api_errors::hints::{ResponseHints, MAX_HINT};
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_725_000_000);
    let mut bad = Vec::new();
    for name in HOSTILE_HEADERS {
        for value in HOSTILE_VALUES {
            for extra in [
                &[][..],
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ][..],
            ] {
                let mut h = headers(extra);
                h.append(
                    http::HeaderName::from_static(name),
                    HeaderValue::from_str(value).unwrap(),
                );
                let h2 = h.clone();
                let r = std::panic::catch_unwind(move || {
                    let hints = ResponseHints::read(&h2, now);
                    (
                        hints.retry_hint(),
                        hints.retry_hint_when_limited(),
                        hints.rate_limit(),
                    )
                });
                match r {
                    Err(_) => bad.push(format!("PANIC {name}: {value} (extra {extra:?})")),
                    Ok((a, b, rl)) => {
                        for hint in [a, b].into_iter().flatten() {
                            if hint.delay() > MAX_HINT {
                                bad.push(format!("{name}: {value}: {:?} > MAX_HINT", hint.delay()));
                            }
                        }
                        if let Some(reset) = rl.and_then(|r| r.reset()) {
                            if reset > MAX_HINT {
                                bad.push(format!("{name}: {value}: reset {reset:?} > MAX_HINT"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Hostile numbers in every body hint the parse module reads (`retry_after`,
/// `retry_after_ms`, `backoff_seconds`, `RetryInfo`, Vercel's `limit.reset`)
/// and in waits named in messages never panic, nor exceed `MAX_HINT`.
#[test]
fn hostile_body_hints_never_panic() {
    use tower_api_errors::hints::MAX_HINT;
    let numbers = [
        "1e308",
        "-1e308",
        "1.8446744073709552e19",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "-0.0",
        "1e-320",
        "4.9e-324",
        "9007199254740993",
        "0.5",
        "\"5\"",
        "\"1e400\"",
        "\"-5\"",
        "\"nan\"",
        "\"inf\"",
        "\"30s\"",
        "\"1.5s\"",
        "\"-1s\"",
        "\"9999999999999999999999s\"",
        "\"0.000000001s\"",
        "\"s\"",
        "\"\"",
        "{}",
        "[]",
        "null",
        "true",
        "{\"seconds\": 3, \"nanos\": 500000000}",
        "{\"seconds\": -3}",
        "{\"seconds\": 1e300}",
        "{\"nanos\": 99999999999}",
    ];
    let templates = [
        r#"{"retry_after": N, "message": "slow"}"#,
        r#"{"retry_after_ms": N, "message": "slow"}"#,
        r#"{"error": {"message": "slow", "retry_after": N}}"#,
        r#"{"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "limit", "data": {"backoff_seconds": N}}}"#,
        r#"{"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": N}]}}"#,
        r#"{"error": {"code": "rate_limited", "message": "Slow down", "limit": {"remaining": 0, "reset": N, "total": 6}}}"#,
        r#"{"message": "You are being rate limited.", "retry_after": N, "global": false}"#,
    ];
    let mut bad = Vec::new();
    for t in templates {
        for n in numbers {
            let body = t.replace('N', n);
            for status in [429u16, 503, 400, 200] {
                let b = body.clone();
                let r = std::panic::catch_unwind(move || {
                    let e = parse_error(
                        StatusCode::from_u16(status).unwrap(),
                        &headers(&[("content-type", "application/json")]),
                        b.as_bytes(),
                    );
                    e.retry_after()
                });
                match r {
                    Err(_) => bad.push(format!("PANIC {status} {body}")),
                    Ok(Some(d)) if d > MAX_HINT => bad.push(format!("{status} {body}: {d:?}")),
                    Ok(_) => {}
                }
            }
        }
    }
    // Waits named in messages.
    for m in [
        "Please try again in 99999999999999999999999 days.",
        "try again in 1e308s",
        "retry in -5s",
        "retry in NaNs",
        "try again in 0.0000000000001s",
        "retry after 18446744073709551616 milliseconds",
        "try again in 9999999999h9999999999m",
        "try again in 2562047h47m16.854775808s",
        "try again in 1.7976931348623157e308 seconds",
        "try again in 1µs",
        "try again in ",
        "retry in",
        "try again in 5",
        "try again in 5 fortnights",
    ] {
        let body = format!(
            r#"{{"error": {{"message": "{m}", "type": "requests", "code": "rate_limit_exceeded"}}}}"#
        );
        let b = body.clone();
        let r = std::panic::catch_unwind(move || {
            parse_error(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("content-type", "application/json")]),
                b.as_bytes(),
            )
            .retry_after()
        });
        match r {
            Err(_) => bad.push(format!("PANIC message {m:?}")),
            Ok(Some(d)) if d > MAX_HINT => bad.push(format!("message {m:?}: {d:?}")),
            Ok(_) => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ------------------------------------------------------------ waits named in messages

/// Waits named in vendors' messages, as the parse module docs list them
/// (OpenAI, Groq, Azure OpenAI, Gemini, Vercel: Go durations or a number
/// and a unit word), and no wait from a bare number, "a few minutes" or an
/// unknown unit.
#[test]
fn waits_named_in_vendor_messages() {
    let s = Duration::from_secs_f64;
    let rows: &[(&str, Option<Duration>)] = &[
        ("Rate limit reached for gpt-4 in organization org-abc on tokens per min (TPM): Limit 10000, Used 9980, Requested 500. Please try again in 2.88s. Visit https://platform.openai.com/account/rate-limits to learn more.", Some(s(2.88))),
        ("Rate limit reached for model `llama3-70b-8192` in organization `org_x` on tokens per minute (TPM): Limit 6000, Used 5815, Requested 591. Please try again in 7m12.768s. Visit https://console.groq.com/docs/rate-limits for more information.", Some(s(432.768))),
        ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.", Some(s(86400.0))),
        ("You exceeded your current quota. Please retry in 16.763917542s.", Some(s(16.763917542))),
        ("Rate limit exceeded. Try again in 7 days", Some(s(7.0 * 86400.0))),
        ("Rate limit reached. Please try again in 20ms.", Some(s(0.02))),
        ("Please try again in 1m30s.", Some(s(90.0))),
        ("Too many requests, try again in 1.5 minutes", Some(s(90.0))),
        ("Rate limited: retry after 1 second", Some(s(1.0))),
        ("Rate limited; try again in 2 hours.", Some(s(7200.0))),
        ("Rate limited; try again in 500 milliseconds", Some(s(0.5))),
        ("Rate limited; try again in a few minutes", None),
        ("Rate limited; try again in 5", None),
        ("Rate limited; try again in 5 parsecs", None),
    ];
    let mut bad = Vec::new();
    for (m, want) in rows {
        let body = serde_json_string(m);
        let e = parse(
            429,
            &[("content-type", "application/json")],
            &format!(
                r#"{{"error": {{"message": {body}, "type": "requests", "code": "rate_limit_exceeded"}}}}"#
            ),
        );
        let got = e.retry_after();
        let ok = match (got, want) {
            (Some(g), Some(w)) => g.abs_diff(*w) <= Duration::from_millis(1),
            (None, None) => true,
            _ => false,
        };
        if !ok {
            bad.push(format!("{m:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A body's `retry_after` "is the hint when no header gave one" (parse
/// module docs): an unreadable `Retry-After` gives none; a readable one
/// wins.
#[test]
fn a_body_hint_stands_when_the_header_is_unreadable() {
    // parse/mod.rs:42-45: the body's retry_after "is the hint when no
    // header gave one".
    let e = parse(
        429,
        &[
            ("content-type", "application/json"),
            ("retry-after", "soon"),
        ],
        r#"{"message": "You are being rate limited.", "retry_after": 4.5, "global": false}"#,
    );
    assert_eq!(e.retry_after(), Some(Duration::from_millis(4500)));
    let e = parse(
        429,
        &[("content-type", "application/json"), ("retry-after", "2")],
        r#"{"message": "You are being rate limited.", "retry_after": 4.5, "global": false}"#,
    );
    assert_eq!(
        e.retry_after(),
        Some(Duration::from_secs(2)),
        "the header wins"
    );
}

/// A success after retries carries a `RetryReport` (attempts, time
/// waited); over a raw client the last failure comes back as a response
/// with its report (retry module docs).
#[tokio::test(start_paused = true)]
async fn success_after_retries_carries_its_report_in_every_stack() {
    let up = Scripted::new();
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .layer(up.service::<ReplayBody<Full<Bytes>>>(|n| {
            if n < 2 {
                reply(503, &[("retry-after", "1")], "")
            } else {
                reply(200, &[], "ok")
            }
        }));
    let response = client.oneshot(get("http://api.test/x")).await.unwrap();
    let report = response
        .extensions()
        .get::<tower_api_errors::RetryReport>()
        .copied()
        .unwrap();
    assert_eq!(report.attempts(), 3);
    assert_eq!(report.waited(), Duration::from_secs(2));

    // A raw client: the last failure comes back as a response, with the report.
    let up = Scripted::new();
    let client = RetryLayer::new(exact())
        .layer(up.service::<ReplayBody<Full<Bytes>>>(|_| reply(503, &[("retry-after", "1")], "")));
    let response = client.oneshot(get("http://api.test/x")).await.unwrap();
    assert_eq!(response.status(), 503);
    let report = response
        .extensions()
        .get::<tower_api_errors::RetryReport>()
        .copied()
        .unwrap();
    assert_eq!(report.attempts(), 3);
    assert_eq!(report.stopped(), Some(StopReason::MaxAttempts));
}

/// `ApiError::attempts`: "Attempts made (the first included)": one, for
/// the parse layer alone.
#[tokio::test]
async fn parse_layer_alone_reports_one_attempt() {
    let up = Scripted::new();
    let client =
        ErrorBodyParseLayer::new().layer(up.service::<Full<Bytes>>(|_| reply(500, &[], "")));
    let err = client.oneshot(get("http://api.test/x")).await.unwrap_err();
    // error/api.rs:261: "Attempts made (the first included)"
    assert_eq!(err.api().unwrap().attempts(), 1, "{err}");
}

// ------------------------------------------------------------ echoes of the request's credential

/// A failure that repeats the request (httpbin-style) never gives back the
/// request's credentials, in the query, `x-api-key` or `Authorization`:
/// not in `Display`, `Debug` or `details()` (redact module docs).
#[tokio::test]
async fn an_echo_server_failure_never_gives_the_credential_back() {
    const KEY: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    const TOKEN: &str = "ya29.a0AfH6SMBx3kP9fakeTokenValue1234567890";
    let up = Scripted::new();
    let svc = up.service::<Full<Bytes>>(|_| {
        // httpbin-style: the failure repeats the request it got.
        let body = format!(
            r#"{{"message": "upstream refused", "request": {{"headers": {{"X-Api-Key": "{KEY}", "Authorization": "Bearer {TOKEN}"}},
                "url": "http://api.test/v1/x?api_key={KEY}&page=2", "args": {{"api_key": "{KEY}"}}}}}}"#
        );
        reply(502, &[("content-type", "application/json")], &body)
    });
    let client = ErrorBodyParseLayer::new().layer(svc);
    let req = Request::get(format!("http://api.test/v1/x?api_key={KEY}&page=2"))
        .header("x-api-key", KEY)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let err = client.oneshot(req).await.unwrap_err();
    let api = err.api().unwrap();
    let mut printed = vec![
        format!("{err}"),
        format!("{err:?}"),
        format!("{err:#?}"),
        format!("{api:?}"),
    ];
    printed.push(api.details().map(|d| d.to_string()).unwrap_or_default());
    printed.push(api.details_json().unwrap_or_default().to_owned());
    for (i, text) in printed.iter().enumerate() {
        assert!(
            !text.contains(KEY) && !text.contains(TOKEN),
            "printed form {i} leaks: {text}"
        );
    }
}

// ------------------------------------------------------------ more vendor shapes

/// More vendors' documented error bodies (Elasticsearch, PostgREST, App
/// Store Connect, Jira, Firebase, Anthropic, Twitter/X, Kubernetes,
/// PayPal, Square, SendGrid, Microsoft Graph, Mailgun, Heroku): the
/// message, and the code where they have one (parse module docs'
/// dialect table).
#[test]
fn more_vendor_shapes() {
    // (vendor, status, body, message contains, code)
    let rows: &[(&str, u16, &str, &str, Option<&str>)] = &[
        (
            "Elasticsearch",
            404,
            r#"{"error": {"root_cause": [{"type": "index_not_found_exception", "reason": "no such index [x]", "index": "x"}], "type": "index_not_found_exception", "reason": "no such index [x]", "index": "x"}, "status": 404}"#,
            "no such index [x]",
            Some("index_not_found_exception"),
        ),
        (
            "PostgREST",
            406,
            r#"{"code": "PGRST116", "details": "The result contains 0 rows", "hint": null, "message": "JSON object requested, multiple (or no) rows returned"}"#,
            "JSON object requested",
            Some("PGRST116"),
        ),
        (
            "App Store Connect",
            409,
            r#"{"errors": [{"id": "b5b5a9e2-0000-4b4b-8a8a-000000000000", "status": "409", "code": "ENTITY_ERROR.ATTRIBUTE.INVALID", "title": "An attribute value is invalid.", "detail": "The name is too long.", "source": {"pointer": "/data/attributes/name"}}]}"#,
            "The name is too long.",
            Some("ENTITY_ERROR.ATTRIBUTE.INVALID"),
        ),
        (
            "Jira 404",
            404,
            r#"{"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}"#,
            "Issue does not exist",
            None,
        ),
        (
            "Firebase Auth",
            400,
            r#"{"error": {"code": 400, "message": "EMAIL_EXISTS", "errors": [{"message": "EMAIL_EXISTS", "domain": "global", "reason": "invalid"}]}}"#,
            "EMAIL_EXISTS",
            None,
        ),
        (
            "Anthropic",
            529,
            r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}"#,
            "Overloaded",
            Some("overloaded_error"),
        ),
        (
            "Twitter v1.1",
            429,
            r#"{"errors": [{"code": 88, "message": "Rate limit exceeded"}]}"#,
            "Rate limit exceeded",
            Some("88"),
        ),
        (
            "X v2",
            429,
            r#"{"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}"#,
            "Too Many Requests",
            None,
        ),
        (
            "Kubernetes",
            404,
            r#"{"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "pods \"x\" not found", "reason": "NotFound", "details": {"name": "x", "kind": "pods"}, "code": 404}"#,
            "pods \"x\" not found",
            Some("NotFound"),
        ),
        (
            "PayPal",
            422,
            r#"{"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed.", "debug_id": "90957fca61718", "details": [{"field": "/purchase_units/@reference_id=='default'/amount/currency_code", "issue": "CURRENCY_NOT_SUPPORTED", "description": "Currency code is not supported."}]}"#,
            "could not be performed",
            Some("CURRENCY_NOT_SUPPORTED"),
        ),
        (
            "Square",
            400,
            r#"{"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "MISSING_REQUIRED_PARAMETER", "detail": "Missing required parameter.", "field": "amount_money"}]}"#,
            "Missing required parameter.",
            Some("MISSING_REQUIRED_PARAMETER"),
        ),
        (
            "SendGrid",
            401,
            r#"{"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked", "field": null, "help": null}]}"#,
            "authorization grant is invalid",
            None,
        ),
        (
            "Microsoft Graph",
            404,
            r#"{"error": {"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist.", "innerError": {"date": "2024-01-01T00:00:00", "request-id": "abc", "client-request-id": "def"}}}"#,
            "does not exist",
            Some("Request_ResourceNotFound"),
        ),
        (
            "Mailgun",
            400,
            r#"{"message": "'to' parameter is not a valid address. please check documentation"}"#,
            "not a valid address",
            None,
        ),
        (
            "Heroku",
            429,
            r#"{"id": "rate_limit", "message": "Your account reached the API rate limit\nPlease wait a few minutes before making new requests"}"#,
            "Your account reached the API rate limit Please wait",
            Some("rate_limit"),
        ),
    ];
    let mut bad = Vec::new();
    for (vendor, status, body, message, code) in rows {
        let e = parse(*status, &[("content-type", "application/json")], body);
        if !e.message().contains(message) {
            bad.push(format!(
                "{vendor}: message {:?}, want it to contain {message:?}",
                e.message()
            ));
        }
        if code.is_some() && e.code() != *code {
            bad.push(format!("{vendor}: code {:?}, want {code:?}", e.code()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ------------------------------------------------------------ peeked successes that stream

/// A streaming success (a Kubernetes watch) that pauses past the peek's
/// time is passed up at once and given back byte for byte (parse module
/// docs: "every other success comes back byte for byte").
#[tokio::test(start_paused = true)]
async fn a_streaming_json_success_that_pauses_is_given_back_whole() {
    // A Kubernetes watch: 200 application/json, chunked, one event, a pause
    // longer than the peek's 10 s, another event, end.
    let upstream = tower::service_fn(|_req: Request<Full<Bytes>>| async move {
        let (mut tx, body) =
            http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(4);
        tokio::spawn(async move {
            tx.send_data(Bytes::from_static(b"{\"type\":\"ADDED\",\"object\":{}}\n"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            tx.send_data(Bytes::from_static(
                b"{\"type\":\"DELETED\",\"object\":{}}\n",
            ))
            .await
            .unwrap();
        });
        Ok::<_, std::convert::Infallible>(
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(body)
                .unwrap(),
        )
    });
    let client = ServiceBuilder::new()
        .layer(SuccessPeekLayer::new())
        .layer(ErrorBodyParseLayer::new())
        .service(upstream);
    let started = tokio::time::Instant::now();
    let response = client
        .oneshot(get("http://k8s.test/api/v1/pods?watch=true"))
        .await
        .unwrap();
    let got_response = started.elapsed();
    let bytes = support::body_bytes(response.into_body()).await;
    assert_eq!(
        &bytes[..],
        b"{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"DELETED\",\"object\":{}}\n",
    );
    assert!(
        got_response <= Duration::from_secs(10),
        "response after {got_response:?}"
    );
}

// ------------------------------------------------------------ tower composition

/// Retries under tower's `ConcurrencyLimit(1)`, eight callers at once: no
/// deadlock, each retry takes the permit again, every call succeeds.
#[tokio::test(start_paused = true)]
async fn retries_under_a_concurrency_limit_of_one_never_deadlock() {
    let up = Scripted::new();
    let inner = up.service::<ReplayBody<Full<Bytes>>>(|n| {
        if n < 4 {
            reply(503, &[], "")
        } else {
            reply(200, &[], "ok")
        }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact().max_attempts(6)))
        .concurrency_limit(1)
        .layer(ErrorBodyParseLayer::new())
        .service(inner);
    let mut calls = Vec::new();
    for _ in 0..8 {
        let c = client.clone();
        calls.push(tokio::spawn(async move {
            c.oneshot(get("http://api.test/x"))
                .await
                .map(|r| r.status())
        }));
    }
    for call in calls {
        let out = tokio::time::timeout(Duration::from_secs(600), call)
            .await
            .expect("deadlock")
            .unwrap();
        assert_eq!(out.unwrap(), 200);
    }
    assert_eq!(up.count(), 8 + 4);
}

// ------------------------------------------------------------ RFC 6750 challenges

/// `WWW-Authenticate` challenges in RFC 6750 §3's shapes, several per field
/// and several fields (RFC 9110 §11.6.1), a case-insensitive scheme, and
/// DPoP's (RFC 9449): `challenge_error` is the `error` auth-param.
#[test]
fn rfc_6750_challenges_in_their_documented_shapes() {
    let rows: &[(u16, &str, Option<&str>)] = &[
        // RFC 6750 §3 examples
        (401, r#"Bearer realm="example""#, None),
        (
            401,
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
            Some("invalid_token"),
        ),
        (
            403,
            r#"Bearer realm="example", error="insufficient_scope", scope="read write""#,
            Some("insufficient_scope"),
        ),
        (
            400,
            r#"Bearer error="invalid_request""#,
            Some("invalid_request"),
        ),
        // several challenges in one field (RFC 9110 §11.6.1), Bearer second
        (
            401,
            r#"Basic realm="api", Bearer realm="api", error="invalid_token""#,
            Some("invalid_token"),
        ),
        // several fields
        (
            401,
            "Basic realm=\"api\"\nBearer error=\"invalid_token\"",
            Some("invalid_token"),
        ),
        // token68-less scheme name case-insensitive; token (unquoted) value
        (401, r#"bearer error=invalid_token"#, Some("invalid_token")),
        // a quoted-string with an escaped quote and a comma in the description
        (
            401,
            r#"Bearer error="invalid_token", error_description="expired, \"renew\" it""#,
            Some("invalid_token"),
        ),
        // DPoP (RFC 9449) uses the same auth-param: read whatever the scheme
        (
            401,
            r#"DPoP algs="ES256", error="use_dpop_nonce""#,
            Some("use_dpop_nonce"),
        ),
    ];
    let mut bad = Vec::new();
    for (status, challenge, want) in rows {
        let mut h = HeaderMap::new();
        for line in challenge.split('\n') {
            h.append("www-authenticate", HeaderValue::from_str(line).unwrap());
        }
        let e = parse_error(StatusCode::from_u16(*status).unwrap(), &h, b"");
        if e.challenge_error() != *want {
            bad.push(format!(
                "{status} {challenge:?}: {:?}, want {want:?}",
                e.challenge_error()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A bare JSON string or array of strings is the message; other bare
/// values and blank bodies give the status's reason (`ApiError::message`:
/// "Never empty").
#[test]
fn bare_json_values_as_failure_bodies() {
    let rows: &[(&str, &str)] = &[
        (
            r#""Service is down for maintenance""#,
            "Service is down for maintenance",
        ),
        (
            r#"["Name is required", "Email is invalid"]"#,
            "Name is required",
        ),
        ("{}", "Service Unavailable"),
        ("[]", "Service Unavailable"),
        ("null", "Service Unavailable"),
        ("true", "Service Unavailable"),
        ("42", "Service Unavailable"),
        ("", "Service Unavailable"),
        ("   \r\n ", "Service Unavailable"),
    ];
    let mut bad = Vec::new();
    for (body, want) in rows {
        let e = parse(503, &[("content-type", "application/json")], body);
        if !e.message().contains(want) {
            bad.push(format!(
                "{body:?}: message {:?}, want {want:?}",
                e.message()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ------------------------------------------------------------ the same verdicts through every client

#[cfg(feature = "reqwest-middleware")]
type WireRow = (
    &'static str,
    &'static str,
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
    Option<&'static str>,
);

#[cfg(feature = "reqwest-middleware")]
const WIRE_ROWS: &[WireRow] = &[
    // (path, method, status, headers, body, idempotency key)
    (
        "/a",
        "GET",
        400,
        &[("content-type", "application/x-amz-json-1.1")],
        r#"{"__type": "com.amazonaws.kinesis#ProvisionedThroughputExceededException", "message": "Rate exceeded for shard"}"#,
        None,
    ),
    (
        "/b",
        "GET",
        429,
        &[("content-type", "application/json")],
        r#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}}"#,
        None,
    ),
    ("/c", "POST", 503, &[], "", None),
    ("/d", "POST", 503, &[], "", Some("order-42")),
    ("/e", "PUT", 413, &[("retry-after", "0")], "", None),
    ("/f", "GET", 400, &[("x-should-retry", "true")], "", None),
    ("/g", "GET", 503, &[("x-should-retry", "false")], "", None),
    (
        "/h",
        "DELETE",
        500,
        &[("content-type", "text/xml")],
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>busy</faultstring></soap:Fault></soap:Body></soap:Envelope>"#,
        None,
    ),
    ("/i", "PATCH", 429, &[("retry-after", "0")], "", None),
    (
        "/j",
        "GET",
        200,
        &[("content-type", "application/json")],
        r#"{"ok": true}"#,
        None,
    ),
];

#[cfg(feature = "reqwest-middleware")]
async fn wire_server() -> (
    std::net::SocketAddr,
    Arc<Mutex<std::collections::HashMap<String, usize>>>,
) {
    let counts = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
    let seen = counts.clone();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let path = req.uri().path().to_owned();
            *seen.lock().unwrap().entry(path.clone()).or_default() += 1;
            let (_, _, status, hdrs, body, _) = WIRE_ROWS.iter().find(|r| r.0 == path).unwrap();
            support::response(*status, hdrs, *body)
        }
    })
    .await;
    (addr, counts)
}

/// Each of `WIRE_ROWS` through `client` (a tower service) to `addr`: the
/// sends the server counted on its path, and whether the call failed.
#[cfg(feature = "reqwest-middleware")]
async fn wire_rows<S>(
    client: S,
    addr: std::net::SocketAddr,
    counts: &Mutex<std::collections::HashMap<String, usize>>,
) -> Vec<(usize, bool)>
where
    S: tower::Service<Request<Full<Bytes>>> + Clone,
{
    let mut row = Vec::new();
    for (path, method, _, _, _, key) in WIRE_ROWS {
        let mut b = Request::builder()
            .method(*method)
            .uri(format!("http://{addr}{path}"));
        if let Some(k) = key {
            b = b.header("idempotency-key", *k);
        }
        let failed = client
            .clone()
            .oneshot(b.body(Full::new(Bytes::from_static(b"{}"))).unwrap())
            .await
            .is_err();
        row.push((counts.lock().unwrap()[*path], failed));
    }
    row
}

/// hyper-util, `ReqwestClient` and `ApiErrorsMiddleware` (reqwest module
/// docs) send the same number of times and fail the same way for each
/// row, over one real server.
#[cfg(feature = "reqwest-middleware")]
#[tokio::test]
async fn hyper_reqwest_and_middleware_clients_agree() {
    let policy = || support::quick_exact().no_budget();
    let mut results: Vec<(&str, Vec<(usize, bool)>)> = Vec::new();

    // hyper-util
    let (addr, counts) = wire_server().await;
    let client = ApiErrorsLayer::new()
        .retry(policy())
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    results.push(("hyper-util", wire_rows(client, addr, &counts).await));

    // reqwest through ReqwestClient
    let (addr, counts) = wire_server().await;
    let client =
        ApiErrorsLayer::new()
            .retry(policy())
            .layer(tower_api_errors::reqwest::ReqwestClient::new(
                reqwest::Client::new(),
            ));
    results.push(("ReqwestClient", wire_rows(client, addr, &counts).await));

    // reqwest-middleware
    let (addr, counts) = wire_server().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tower_api_errors::reqwest::ApiErrorsMiddleware::with_layer(
            ApiErrorsLayer::new().retry(policy()),
        ))
        .build();
    let mut row = Vec::new();
    for (path, method, _, _, _, key) in WIRE_ROWS {
        let mut b = client.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("http://{addr}{path}"),
        );
        if let Some(k) = key {
            b = b.header("idempotency-key", *k);
        }
        let out = b.body("{}").send().await;
        let failed = match out {
            Err(_) => true,
            Ok(r) => !r.status().is_success(),
        };
        row.push((counts.lock().unwrap()[*path], failed));
    }
    results.push(("reqwest-middleware", row));

    let mut bad = Vec::new();
    for (i, r) in WIRE_ROWS.iter().enumerate() {
        let got: Vec<_> = results.iter().map(|(name, row)| (*name, row[i])).collect();
        if !got.iter().all(|g| g.1 == got[0].1) {
            bad.push(format!("{} {} {}: {got:?}", r.1, r.0, r.2));
        }
    }
    assert!(bad.is_empty(), "clients disagree:\n{}", bad.join("\n"));
}

/// `ApiErrorsLayer::classifier` reaches the retry policy too (stack
/// docs): a 503 the classifier calls a success is not retried; by hand, a
/// policy told the same classifier agrees.
#[tokio::test(start_paused = true)]
async fn a_classifier_calling_503_a_success_is_heard_by_the_retry_layer_in_the_stack() {
    use tower_api_errors::classify::{Classification, ClassifyExt, DefaultClassifier};
    let classifier = DefaultClassifier::new()
        .with_status(StatusCode::SERVICE_UNAVAILABLE, Classification::Success);
    // ApiErrorsLayer passes the parse layer's classifier to the policy (stack.rs docs).
    let up = Scripted::new();
    let client = ApiErrorsLayer::new()
        .retry(exact())
        .classifier(classifier)
        .layer(up.service::<ReplayBody<Full<Bytes>>>(|_| {
            reply(503, &[("retry-after", "1")], "not ready")
        }));
    let response = client.oneshot(get("http://api.test/ready")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(up.count(), 1, "a success is not retried");
    // By hand, with the policy told the same classifier.
    let up = Scripted::new();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(exact().classifier(classifier)))
        .layer(ErrorBodyParseLayer::new().classifier(classifier))
        .service(up.service::<ReplayBody<Full<Bytes>>>(|_| {
            reply(503, &[("retry-after", "1")], "not ready")
        }));
    let response = client.oneshot(get("http://api.test/ready")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(up.count(), 1);
}

// ------------------------------------------------------------ grpc-timeout extremes on the request

/// A request's own `grpc-timeout` bounds the retries (`RetryPolicy::deadline`
/// docs); its extremes (99999999H, 0n, 1n) never panic and the call ends.
#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn extreme_grpc_timeouts_on_a_request_never_panic() {
    for (timeout, policy) in [
        ("99999999H", exact()),
        ("99999999H", exact().no_deadline()),
        ("0n", exact()),
        ("0n", exact().no_deadline()),
        ("1n", exact()),
    ] {
        let upstream = tower::service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, std::convert::Infallible>(reply(503, &[("retry-after", "1")], ""))
        });
        let client = ApiErrorsLayer::new()
            .retry(policy.retry_non_idempotent(true))
            .layer(upstream);
        let req = Request::post("http://grpc.test/pkg.Svc/Method")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", timeout)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(3600), client.oneshot(req)).await;
        assert!(out.is_ok(), "{timeout}: no outcome");
    }
}

/// Failure bodies framed every HTTP/1 way (RFC 9112 §6: until close,
/// HTTP/1.0, chunked with trailers, a broken chunk size, none) are typed;
/// a broken framing is marked truncated.
#[tokio::test]
async fn failure_bodies_framed_every_http_1_way() {
    let cases: &[(&str, &[u8], &str, bool)] = &[
        ("until close", b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nService down for maintenance", "Service down for maintenance", false),
        ("HTTP/1.0 until close", b"HTTP/1.0 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\nService down for maintenance", "Service down for maintenance", false),
        ("chunked with trailers", b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\ntrailer: x-debug\r\n\r\n10\r\n{\"message\": \"Bac\r\nf\r\nkend pool drain\r\n4\r\ned\"}\r\n0\r\nx-debug: 1\r\n\r\n", "Backend pool drained", false),
        ("bad chunk size", b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{\"message\": \"Bac\r\nzz\r\nkend\r\n", "", true),
        ("reason phrase only", b"HTTP/1.1 503 Down For Maintenance\r\ncontent-length: 0\r\n\r\n", "", false),
    ];
    for (name, raw, want, truncated) in cases {
        let raw = raw.to_vec();
        let (addr, _) = raw_server(move |_| raw.clone()).await;
        let client = ApiErrorsLayer::new()
            .retry(support::quick_exact().max_attempts(1))
            .client(support::client::<ReplayBody<Full<Bytes>>>());
        let err = support::bounded(name, client.oneshot(get(&format!("http://{addr}/x"))))
            .await
            .unwrap_err();
        let api = err
            .api()
            .unwrap_or_else(|| panic!("{name}: not typed: {err}"));
        assert_eq!(api.status(), 503, "{name}");
        assert!(api.message().contains(want), "{name}: {:?}", api.message());
        assert_eq!(api.is_truncated(), *truncated, "{name}: {api:?}");
    }
}

/// A JSON failure cut by the 64 KiB cap keeps what was read (parse module
/// docs: "from what was read") and never dumps raw JSON as the message
/// ("a JSON document no dialect recognised is never dumped as the
/// message").
#[tokio::test]
async fn a_json_failure_cut_by_the_cap_keeps_what_was_read() {
    // The message and code come first; a large `details` follows, past the cap.
    let mut body = String::from(
        r#"{"error": {"code": "BACKEND_OVERLOADED", "message": "The backend is overloaded", "details": ["#,
    );
    while body.len() < 200 * 1024 {
        body.push_str(r#"{"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": "frame at line 42 of handler.rs"},"#);
    }
    body.push_str(r#"{}]}}"#);
    let up = Scripted::new();
    let b = body.clone();
    let client =
        ErrorBodyParseLayer::new().layer(up.service::<Full<Bytes>>(move |_| {
            reply(503, &[("content-type", "application/json")], &b)
        }));
    let err = client.oneshot(get("http://api.test/x")).await.unwrap_err();
    let api = err.api().unwrap();
    assert!(api.is_truncated());
    // parse/mod.rs:41-42: "a JSON document no dialect recognised is never dumped as the message"
    assert!(
        api.message().contains("The backend is overloaded"),
        "{:?}",
        api.message()
    );
    assert!(
        !api.message().contains("\"@type\"") && !api.message().starts_with('{'),
        "raw JSON as the message: {:?}",
        &api.message()[..api.message().len().min(200)]
    );
}

/// An XML declaration's ISO-8859-1 encoding is transcoded, and a BOM
/// before XML is dropped (parse module docs).
#[test]
fn xml_declared_latin1_and_a_bom_before_xml() {
    let mut body =
        br#"<?xml version="1.0" encoding="ISO-8859-1"?><Error><Code>ServerBusy</Code><Message>Caf"#
            .to_vec();
    body.push(0xE9);
    body.extend_from_slice(b" busy</Message></Error>");
    let e = parse_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("content-type", "application/xml")]),
        &body,
    );
    assert_eq!(e.message(), "Café busy");
    assert_eq!(e.code(), Some("ServerBusy"));
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(
        b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>",
    );
    let e = parse_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("content-type", "application/xml")]),
        &bom,
    );
    assert_eq!(e.code(), Some("SlowDown"));
    assert_eq!(e.message(), "Reduce your rate");
}

/// A rate limit's reset in every form vendors send (epoch seconds or
/// milliseconds, a delta, `x-ratelimit-reset-after`, IETF `RateLimit`
/// `t=`, Anthropic's RFC 3339 time, OpenAI's Go duration) waits the same
/// 5 s, read against the response's `Date`.
#[tokio::test(start_paused = true)]
async fn x_ratelimit_reset_as_epoch_and_as_delta_wait_the_same() {
    // Date: 2024-09-03T16:47:48Z = 1725382068
    const DATE: (&str, &str) = ("date", "Tue, 03 Sep 2024 16:47:48 GMT");
    for hdrs in [
        &[
            DATE,
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1725382073"),
        ][..],
        &[
            DATE,
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "5"),
        ][..],
        &[
            DATE,
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1725382073000"),
        ][..],
        &[
            DATE,
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset-after", "5"),
        ][..],
        &[
            DATE,
            ("ratelimit", "\"default\";r=0;t=5"),
            ("ratelimit-policy", "\"default\";q=100;w=60"),
        ][..],
        &[
            DATE,
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2024-09-03T16:47:53Z"),
        ][..],
        &[
            DATE,
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "5s"),
        ][..],
    ] {
        let hdrs: &'static [(&'static str, &'static str)] =
            Box::leak(hdrs.to_vec().into_boxed_slice());
        let up = Scripted::new();
        let client =
            ApiErrorsLayer::new()
                .retry(exact())
                .layer(up.service::<ReplayBody<Full<Bytes>>>(move |n| {
                    if n == 0 {
                        reply(429, hdrs, "")
                    } else {
                        reply(200, &[], "")
                    }
                }));
        client.oneshot(get("http://api.test/x")).await.unwrap();
        assert_eq!(up.waits(), vec![Duration::from_secs(5)], "{hdrs:?}");
    }
}

// ------------------------------------------------------------ request bodies sent again
//
// What the retry, auth and hedge layers send again of a request (over a
// real hyper connection, or a paused-clock mock where timing decides):
// empty bodies, the replay cap's exact boundary, trailers, `Expect:
// 100-continue`, what an earlier attempt's inner layers left behind,
// streams that never end or fail during a replay, and the order of the
// body and budget checks. (Curated from the probe-replay probes.)

/// What a recording server saw of one request, its body read whole
/// (trailers too; a body that failed as its error text).
#[derive(Debug, Clone)]
struct Recorded {
    headers: HeaderMap,
    body: Result<Bytes, String>,
    trailers: Option<HeaderMap>,
}

type Recordings = Arc<Mutex<Vec<Recorded>>>;

/// A real server that reads each request whole and answers the `n`-th
/// (from 0) with `answer(n)`.
async fn recording_server(
    answer: impl Fn(usize) -> Response<ServerBody> + Send + Sync + Clone + 'static,
) -> (String, Recordings) {
    let log: Recordings = Arc::default();
    let seen = log.clone();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let (seen, answer) = (seen.clone(), answer.clone());
        async move {
            let (parts, body) = req.into_parts();
            let (body, trailers) = match body.collect().await {
                Ok(c) => {
                    let trailers = c.trailers().cloned();
                    (Ok(c.to_bytes()), trailers)
                }
                Err(e) => (Err(e.to_string()), None),
            };
            let n = {
                let mut log = seen.lock().unwrap();
                log.push(Recorded {
                    headers: parts.headers,
                    body,
                    trailers,
                });
                log.len() - 1
            };
            answer(n)
        }
    })
    .await;
    (format!("http://{addr}"), log)
}

fn recorded(log: &Recordings) -> Vec<Recorded> {
    log.lock().unwrap().clone()
}

/// Sends `request` through `client` (bounded, as `what`): it is answered
/// 200, and the server recorded two sends; those two.
async fn sent_twice<S, B, R>(
    what: &str,
    client: S,
    request: Request<B>,
    log: &Recordings,
) -> Vec<Recorded>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Error: std::fmt::Debug,
{
    let response = bounded(what, client.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = recorded(log);
    assert_eq!(seen.len(), 2);
    seen
}

/// 503 (with a JSON body) for the first `fails` requests, then 200.
fn fail_first(fails: usize) -> impl Fn(usize) -> Response<ServerBody> + Send + Sync + Clone {
    move |n| {
        if n < fails {
            support::response(
                503,
                &[("content-type", "application/json")],
                r#"{"error":"down"}"#,
            )
        } else {
            support::response(200, &[], "ok")
        }
    }
}

/// `text` as a stream of one-byte frames of unknown length.
fn one_byte_frames(text: &'static str) -> Frames<std::io::Error> {
    Frames::new(
        text.as_bytes()
            .chunks(1)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect(),
    )
}

/// A frame of a body fed through a channel, or its failure.
type Fed = Result<Frame<Bytes>, std::io::Error>;

/// A body fed through a channel.
type FedBody = http_body_util::StreamBody<tokio_stream::wrappers::ReceiverStream<Fed>>;

/// A channel and the body it feeds (a stream still being produced).
fn channel_body() -> (tokio::sync::mpsc::Sender<Fed>, FedBody) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    (tx, http_body_util::StreamBody::new(stream))
}

/// The stack with a quick exact retry over hyper-util's client.
fn retrying_hyper<B>() -> impl tower::Service<
    Request<B>,
    Response = Response<hyper::body::Incoming>,
    Error = Error,
    Future: Send,
> + Clone
where
    B: http_body::Body + Send + Sync + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .client(support::client::<ReplayBody<B>>())
}

/// `ReplayBody` docs (src/replay.rs: "An empty body ... costs nothing"):
/// an empty DELETE body is retried, empty, with the same framing headers
/// on both sends.
#[tokio::test]
async fn an_empty_body_is_replayed_empty_with_the_same_framing() {
    let (base, log) = recording_server(fail_first(1)).await;
    let request = Request::delete(format!("{base}/x"))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let seen = sent_twice("empty", retrying_hyper(), request, &log).await;
    for name in ["content-length", "transfer-encoding"] {
        assert_eq!(
            seen[0].headers.get(name),
            seen[1].headers.get(name),
            "{name}"
        );
    }
    assert!(seen.iter().all(|s| s.body.as_ref().unwrap().is_empty()));
}

/// `RetryPolicy::max_replay_bytes` docs (src/retry/policy.rs: "A request
/// whose body outgrows it is not retried"): a 1024-byte stream of unknown
/// length is replayed under a 1024-byte cap, and under 1023 is sent once,
/// whole, stopped `BodyNotReplayable` with the 503 kept.
#[tokio::test]
async fn a_body_exactly_at_the_replay_cap_is_replayed_one_byte_over_is_not() {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text: &'static str = TEXT.get_or_init(|| "z".repeat(1024));
    for (cap, sends) in [(1024usize, 2usize), (1023, 1)] {
        let (base, log) = recording_server(fail_first(1)).await;
        let client = ApiErrorsLayer::new()
            .retry(support::quick_exact().max_replay_bytes(cap))
            .client(support::client::<ReplayBody<Frames<std::io::Error>>>());
        let chunks = [&text[..512], &text[512..1000], &text[1000..]];
        let request = Request::put(format!("{base}/x"))
            .body(Frames::chunks(&chunks))
            .unwrap();
        let result = bounded("cap", client.oneshot(request)).await;
        let seen = recorded(&log);
        assert_eq!(seen.len(), sends, "cap {cap}");
        assert!(
            seen.iter().all(|s| s.body.as_ref().unwrap() == text),
            "cap {cap}"
        );
        if sends == 2 {
            assert_eq!(result.unwrap().status(), 200);
        } else {
            let error = result.unwrap_err();
            assert_eq!(
                error.retries().stopped(),
                Some(StopReason::BodyNotReplayable),
                "{error}"
            );
            assert_eq!(error.api().map(|a| a.status().as_u16()), Some(503));
        }
    }
}

/// `RetryPolicy::max_replay_bytes` docs and `ReplayBody` docs ("An empty
/// body ... costs nothing"): a cap of 0 still retries an empty PUT, but a
/// one-byte PUT is sent once, stopped `BodyNotReplayable`.
#[tokio::test]
async fn a_replay_cap_of_zero_still_retries_an_empty_body_not_a_byte() {
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().max_replay_bytes(0))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    let (base, log) = recording_server(fail_first(1)).await;
    let request = Request::put(format!("{base}/a"))
        .body(Full::default())
        .unwrap();
    let response = bounded("empty", client.clone().oneshot(request)).await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(recorded(&log).len(), 2);

    let (base, log) = recording_server(fail_first(1)).await;
    let request = Request::put(format!("{base}/a"))
        .body(Full::new(Bytes::from("x")))
        .unwrap();
    let error = bounded("one byte", client.oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyNotReplayable)
    );
    let seen = recorded(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body.as_ref().unwrap(), "x");
}

/// Retry module docs (src/retry/mod.rs: transport errors are retried "for
/// idempotent requests"; RFC 9110 §9.2.2): a connection cut after the
/// server read the whole streamed body is not resent for a POST
/// (`NotIdempotent`), and is for a PUT, whole.
#[tokio::test]
async fn a_connection_cut_after_the_body_was_read_resends_a_put_whole_not_a_post() {
    for (method, sends) in [("POST", 1usize), ("PUT", 2)] {
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let b = bodies.clone();
        let addr = support::serve_fallible(move |req: Request<hyper::body::Incoming>| {
            let b = b.clone();
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let n = {
                    let mut b = b.lock().unwrap();
                    b.push(body);
                    b.len()
                };
                if n == 1 {
                    Err::<Response<ServerBody>, _>(std::io::Error::other("cut"))
                } else {
                    Ok(support::response(200, &[], "ok"))
                }
            }
        })
        .await;
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}/x"))
            .body(one_byte_frames("hello world"))
            .unwrap();
        let result = bounded(method, retrying_hyper().oneshot(request)).await;
        let bodies = bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), sends, "{method}: {result:?}");
        assert!(bodies.iter().all(|b| b == "hello world"), "{bodies:?}");
        if sends == 1 {
            let error = result.unwrap_err();
            assert_eq!(
                error.retries().stopped(),
                Some(StopReason::NotIdempotent),
                "{error}"
            );
        } else {
            assert_eq!(result.unwrap().status(), 200);
        }
    }
}

/// `ReplayBody` docs (src/replay.rs: the retry's copy "replays the kept
/// chunks", trailers kept with them): over HTTP/2 a streamed body's
/// trailers go out on the retry too, with the whole body.
#[tokio::test]
async fn trailers_are_replayed_over_http2() {
    let (base, log) = recording_server(fail_first(1)).await;
    let client = ApiErrorsLayer::new().retry(support::quick_exact()).client(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http::<ReplayBody<Frames<std::io::Error>>>(),
    );
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc123"));
    let body = Frames::new(vec![
        Ok(Frame::data(Bytes::from_static(b"hello "))),
        Ok(Frame::data(Bytes::from_static(b"world"))),
        Ok(Frame::trailers(trailers)),
    ]);
    let request = Request::put(format!("{base}/t")).body(body).unwrap();
    let seen = sent_twice("trailers h2", client, request, &log).await;
    for s in &seen {
        assert_eq!(s.body.as_ref().unwrap(), "hello world");
        let checksum = s.trailers.as_ref().and_then(|t| t.get("x-checksum"));
        assert_eq!(checksum.map(|v| v.to_str().unwrap()), Some("abc123"));
    }
}

/// Retry module docs (src/retry/mod.rs: "headers ... are the same on every
/// attempt"): an `Expect: 100-continue` PUT carries the header once on
/// every attempt, and the whole body follows each time.
#[tokio::test]
async fn expect_100_continue_rides_on_every_attempt_with_the_whole_body() {
    let (base, log) = recording_server(fail_first(1)).await;
    let request = Request::put(format!("{base}/x"))
        .header("expect", "100-continue")
        .body(one_byte_frames("continue please"))
        .unwrap();
    let seen = sent_twice("expect", retrying_hyper(), request, &log).await;
    for s in &seen {
        assert_eq!(s.body.as_ref().unwrap(), "continue please");
        assert_eq!(s.headers.get_all("expect").iter().count(), 1);
    }
}

#[derive(Clone, Debug, PartialEq)]
struct CallerMark(u32);

#[derive(Clone, Debug)]
struct BelowMark;

/// Retry module docs (src/retry/mod.rs: "Method, URI, version, headers
/// ... and extensions are the same on every attempt"): each attempt is the
/// caller's request again (its repeated headers in order, its extension,
/// its exact size hint and body), with nothing an inner layer added to the
/// attempt before (an extension, a header) carried over.
#[tokio::test(start_paused = true)]
async fn every_attempt_is_the_callers_request_with_nothing_left_from_the_last() {
    type Attempt = (
        HeaderMap,
        Option<CallerMark>,
        bool,
        (u64, Option<u64>),
        Bytes,
    );
    let log: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let l = log.clone();
    let upstream = tower::service_fn(move |mut req: Request<ReplayBody<Full<Bytes>>>| {
        let l = l.clone();
        // An inner layer marks the request it is given.
        let marked_before = req.extensions().get::<BelowMark>().is_some();
        req.extensions_mut().insert(BelowMark);
        req.headers_mut()
            .append("x-below", HeaderValue::from_static("1"));
        async move {
            let hint = http_body::Body::size_hint(req.body());
            let caller = req.extensions().get::<CallerMark>().cloned();
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let n = {
                let mut l = l.lock().unwrap();
                let hint = (hint.lower(), hint.upper());
                l.push((parts.headers, caller, marked_before, hint, body));
                l.len()
            };
            let status = if n == 1 { 503 } else { 200 };
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
        }
    });
    let client = RetryLayer::new(support::quick_exact()).layer(upstream);
    let mut request = Request::put("http://h/x")
        .header("x-one", "a")
        .header("x-one", "b")
        .header("idempotency-key", "k")
        .body(Full::new(Bytes::from("payload")))
        .unwrap();
    request.extensions_mut().insert(CallerMark(7));
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    for (headers, caller, marked_before, hint, body) in &log {
        assert_eq!(*caller, Some(CallerMark(7)));
        assert!(
            !marked_before,
            "an earlier attempt's inner extension leaked"
        );
        assert_eq!(headers.get_all("x-below").iter().count(), 1, "{headers:?}");
        let ones: Vec<_> = headers.get_all("x-one").iter().collect();
        assert_eq!(ones, ["a", "b"]);
        assert_eq!(headers.get_all("idempotency-key").iter().count(), 1);
        assert_eq!(*hint, (7, Some(7)));
        assert_eq!(body, "payload");
    }
}

/// `auth` module docs (src/auth/mod.rs, table: "the re-send carries the
/// identical body") under the retry layer: a streamed PUT refused 401,
/// re-sent with the renewed credential, then retried after a 503, goes out
/// three times whole, each with exactly one `Authorization`.
#[tokio::test]
async fn an_auth_resend_then_a_retry_carry_one_authorization_and_the_whole_stream() {
    let (base, log) = recording_server(|n| match n {
        0 => support::response(
            401,
            &[("www-authenticate", "Bearer error=\"invalid_token\"")],
            "",
        ),
        1 => support::response(503, &[], ""),
        _ => support::response(200, &[], "ok"),
    })
    .await;
    let source = support::Rotating::new(Duration::ZERO);
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .auth(AuthLayer::from_arc(source))
        .client(support::client::<ReplayBody<Frames<std::io::Error>>>());
    let request = Request::put(format!("{base}/x"))
        .body(one_byte_frames("streamed body"))
        .unwrap();
    let response = bounded("auth", client.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = recorded(&log);
    let auths: Vec<Vec<_>> = seen
        .iter()
        .map(|s| s.headers.get_all("authorization").iter().cloned().collect())
        .collect();
    assert_eq!(
        auths,
        [
            vec!["Bearer tok_old"],
            vec!["Bearer tok_new"],
            vec!["Bearer tok_new"]
        ]
    );
    assert!(seen
        .iter()
        .all(|s| s.body.as_ref().unwrap() == "streamed body"));
}

/// SECURITY.md ("Never retries an unsafe request without consent") and
/// `ReplayBody` docs (the server "may have answered before reading
/// everything"): an unkeyed POST whose body never ends, answered 503 at
/// once, returns the 503 now (`NotIdempotent`), sent once.
#[tokio::test]
async fn an_unkeyed_post_with_an_endless_body_answered_early_returns_at_once() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let addr = support::serve(move |_req: Request<hyper::body::Incoming>| {
        c.fetch_add(1, Ordering::SeqCst);
        async { support::response(503, &[], "") }
    })
    .await;
    let (tx, body) = channel_body();
    tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let request = Request::post(format!("http://{addr}/x"))
        .body(body)
        .unwrap();
    let error = bounded("endless post", retrying_hyper().oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::NotIdempotent),
        "{error}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    drop(tx);
}

/// `StopReason::BodyFailed` docs (src/error/report.rs: "The request body's
/// own stream failed while being sent (its error, not the cap)"): a keyed
/// POST whose body fails half way is not resent, and the body's own error
/// is in the chain.
#[tokio::test]
async fn a_body_failing_half_way_is_not_resent_and_its_error_is_in_the_chain() {
    let (base, log) = recording_server(fail_first(1)).await;
    let body = Frames::<std::io::Error>::new(vec![
        Ok(Frame::data(Bytes::from_static(b"ab"))),
        Err(std::io::Error::other("disk gone")),
    ]);
    let request = Request::post(format!("{base}/x"))
        .header("idempotency-key", "k")
        .body(body)
        .unwrap();
    let error = bounded("failing", retrying_hyper().oneshot(request))
        .await
        .unwrap_err();
    assert_eq!(error.retries().attempts(), 1, "{error}");
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyFailed),
        "{error}"
    );
    let text = support::error_text(&error);
    assert!(text.contains("disk gone"), "{text}");
    assert!(recorded(&log).len() <= 1);
}

/// `ReplayBody` docs (a retry's copy "goes on reading the original where
/// the last attempt left it"; `StopReason::BodyFailed`): answered 503
/// after its first chunk, a streamed PUT is replayed and read on; when the
/// original then fails, the call ends `BodyFailed`, its cause in the
/// chain, after two sends, not three.
#[tokio::test]
async fn an_original_failing_during_its_replay_ends_typed_without_a_third_send() {
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let (c, arrived_tx) = (c.clone(), arrived_tx.clone());
        async move {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let mut body = req.into_body();
            let _ = body.frame().await;
            let _ = arrived_tx.send(n);
            if n == 0 {
                return support::response(503, &[], "");
            }
            while let Some(Ok(_)) = body.frame().await {}
            support::response(200, &[], "ok")
        }
    })
    .await;
    let (tx, body) = channel_body();
    tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let request = Request::put(format!("http://{addr}/x")).body(body).unwrap();
    let call = tokio::spawn(retrying_hyper().oneshot(request));
    assert_eq!(bounded("first", arrived.recv()).await, Some(0));
    assert_eq!(bounded("replay", arrived.recv()).await, Some(1));
    tx.send(Err(std::io::Error::other("disk gone")))
        .await
        .unwrap();
    let error = bounded("replay failing", call)
        .await
        .unwrap()
        .expect_err("the body failed");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(
        error.retries().stopped(),
        Some(StopReason::BodyFailed),
        "{error}"
    );
    assert!(support::error_text(&error).contains("disk gone"));
}

/// `RetryPolicy` (src/retry/policy.rs: a body the layer cannot send again
/// is "stopped here, before the budget is drawn for it"): with an empty
/// budget, a body over the cap stops `BodyNotReplayable`, a small one
/// `BudgetExhausted`.
#[tokio::test]
async fn an_unreplayable_body_stops_for_its_body_before_the_budget_is_asked() {
    let (base, log) = recording_server(fail_first(5)).await;
    let budget = tower_api_errors::retry::RetryBudget::new(Duration::from_secs(1), 0, 0.0);
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact().budget(budget).max_replay_bytes(4))
        .client(support::client::<ReplayBody<Full<Bytes>>>());
    for (body, stop) in [
        ("0123456789", StopReason::BodyNotReplayable),
        ("01", StopReason::BudgetExhausted),
    ] {
        let request = Request::put(format!("{base}/x"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let error = bounded(body, client.clone().oneshot(request))
            .await
            .unwrap_err();
        assert_eq!(error.retries().stopped(), Some(stop), "{body}: {error}");
    }
    assert_eq!(recorded(&log).len(), 2);
}

/// Hedge module docs (src/hedge/mod.rs, "Bodies": a body "still streaming
/// when the hedge is due, is not hedged (two attempts cannot read one
/// stream)"): a keyed POST whose stream has not ended sends one attempt.
#[tokio::test(start_paused = true)]
async fn a_body_still_streaming_when_the_hedge_is_due_is_not_hedged() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let upstream = tower::service_fn(move |req: Request<ReplayBody<ReplayBody<_>>>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut body = req.into_body();
            while let Some(Ok(_)) = body.frame().await {}
            std::future::pending::<()>().await;
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
        }
    });
    let client = ApiErrorsLayer::new()
        .hedge(HedgeLayer::fixed(Duration::from_millis(50)))
        .layer(upstream);
    let (tx, body) = channel_body();
    tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
        .await
        .unwrap();
    let request = Request::post("http://h/x")
        .header("idempotency-key", "k")
        .body(body)
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), client.oneshot(request)).await;
    assert!(result.is_err(), "the one attempt never answers");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a streaming body was hedged"
    );
    drop(tx);
}

/// Hedge module docs (src/hedge/mod.rs, "Bodies") and `auth` module docs
/// (the credential is carried once): over real hyper, with retry, auth
/// and hedge stacked, the hedge of a keyed POST carries one
/// `Authorization`, the `Idempotency-Key` and the identical body.
#[tokio::test]
async fn a_hedged_keyed_post_carries_one_credential_the_key_and_the_same_body() {
    let (second_tx, _second) = tokio::sync::watch::channel(false);
    let log: Recordings = Arc::default();
    let l = log.clone();
    let addr = support::serve(move |req: Request<hyper::body::Incoming>| {
        let (l, second_tx) = (l.clone(), second_tx.clone());
        let mut second = second_tx.subscribe();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let n = {
                let mut l = l.lock().unwrap();
                l.push(Recorded {
                    headers: parts.headers,
                    body: Ok(body),
                    trailers: None,
                });
                l.len()
            };
            if n == 1 {
                // Hold the first attempt until the hedge arrives.
                let _ = second.wait_for(|arrived| *arrived).await;
            } else {
                let _ = second_tx.send(true);
            }
            support::response(200, &[], "ok")
        }
    })
    .await;
    let token = tower_api_errors::auth::Credential::new("sk_live_secret").unwrap();
    let client = ApiErrorsLayer::new()
        .retry(support::quick_exact())
        .auth(AuthLayer::new(tower_api_errors::auth::StaticToken::new(
            token,
        )))
        .hedge(HedgeLayer::fixed(Duration::from_millis(20)))
        .client(support::client::<ReplayBody<ReplayBody<Full<Bytes>>>>());
    let request = Request::post(format!("http://{addr}/x"))
        .header("idempotency-key", "key-1")
        .body(Full::new(Bytes::from("hedged body")))
        .unwrap();
    let seen = sent_twice("hedge", client, request, &log).await;
    for s in &seen {
        assert_eq!(s.body.as_ref().unwrap(), "hedged body");
        let auth: Vec<_> = s.headers.get_all("authorization").iter().collect();
        assert_eq!(auth, ["Bearer sk_live_secret"]);
        let keys: Vec<_> = s.headers.get_all("idempotency-key").iter().collect();
        assert_eq!(keys, ["key-1"]);
        let length = s.headers.get("content-length");
        assert_eq!(length.map(|v| v.to_str().unwrap()), Some("11"));
    }
}
