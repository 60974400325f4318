//! Probe 5: vendors' real error responses, as each vendor documents them,
//! for vendors and forms the other dialect tables do not cover; and
//! failures sent under 200 (GitHub GraphQL, S3) read through
//! `SuccessPeekLayer` with the headers the vendor sends beside them.

#[path = "support/dialect_rows.rs"]
mod dialect_rows;
#[path = "support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use dialect_rows::{check, row, Row};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use scripted::{exact, reply, Scripted};
use std::time::Duration;
use tower::{Layer, ServiceExt};
use tower_api_errors::parse::SuccessPeekLayer;
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::ErrorKind::*;
use tower_api_errors::{parse_error, ApiError, Error, ErrorBodyParseLayer, ErrorKind, RetryLayer};

/// 1700000000 in Unix seconds: resets below are read against it.
const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

/// One 200 answer through `SuccessPeekLayer` and `ErrorBodyParseLayer`.
async fn peeked(headers: &'static [(&'static str, &'static str)], body: &'static str) -> ApiError {
    let upstream = Scripted::new();
    let client = SuccessPeekLayer::new().layer(
        ErrorBodyParseLayer::new()
            .layer(upstream.service::<Full<Bytes>>(move |_| reply(200, headers, body))),
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

// ---------------------------------------------------------------------------
// Failures under 200, with the vendor's headers.
// ---------------------------------------------------------------------------

/// GitHub GraphQL's primary limit, as its body is sent (`type: RATE_LIMITED`).
const GITHUB_RATE_LIMITED: &str =
    r#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1234."}]}"#;

/// The headers beside it: the graphql window spent, reset 30 s after `Date`.
const GITHUB_SPENT: &[(&str, &str)] = &[
    ("content-type", "application/json; charset=utf-8"),
    ("date", DATE),
    ("x-ratelimit-limit", "5000"),
    ("x-ratelimit-remaining", "0"),
    ("x-ratelimit-used", "5000"),
    ("x-ratelimit-reset", "1700000030"),
    ("x-ratelimit-resource", "graphql"),
    ("x-github-request-id", "CAFE:1234:5678"),
];

/// GitHub, "Rate limits and query limits for the GraphQL API", Exceeding
/// the rate limit (docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api):
/// "If you exceed your primary rate limit, the response status will still
/// be 200, but you will receive an error message, and the value of the
/// x-ratelimit-remaining header will be 0. You should not retry your
/// request until after the time specified by the x-ratelimit-reset header."
/// The crate reads that reset as the hint for a 403 or 429
/// (promises_vendor_signals.rs, github_primary_and_secondary_limits_on_403);
/// under 200 the peek layer must not drop it.
// FAILS: SuccessPeek types the 200 with Failure::new(Other) and no hint, so the headers' reset (30 s) is lost: retry_after() is None
#[tokio::test]
async fn github_graphql_primary_limit_under_200_keeps_the_reset() {
    let error = peeked(GITHUB_SPENT, GITHUB_RATE_LIMITED).await;
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.code(), Some("RATE_LIMITED"));
    assert_eq!(error.message(), "API rate limit exceeded for user ID 1234.");
    assert_eq!(error.request_id(), Some("CAFE:1234:5678"));
    assert_eq!(
        error.rate_limit().map(|info| info.remaining()),
        Some(Some(0))
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
}

/// The same, end to end: the retry layer must wait for the reset, not
/// send the query again after its 500 ms backoff ("Continuing to make
/// requests while you are rate limited may result in the banning of your
/// integration", same page).
// FAILS: the retry is sent after the 500 ms backoff, not after the 30 s reset the headers name
#[tokio::test(start_paused = true)]
async fn github_graphql_primary_limit_under_200_is_retried_after_the_reset() {
    let upstream = Scripted::new();
    let client =
        RetryLayer::new(exact().retry_non_idempotent(true)).layer(SuccessPeekLayer::new().layer(
            ErrorBodyParseLayer::new().layer(upstream.service::<ReplayBody<Full<Bytes>>>(|n| {
                if n == 0 {
                    reply(200, GITHUB_SPENT, GITHUB_RATE_LIMITED)
                } else {
                    reply(
                        200,
                        &[("content-type", "application/json")],
                        r#"{"data":{"viewer":{"login":"octocat"}}}"#,
                    )
                }
            })),
        ));
    let request = Request::post("/graphql")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = client.oneshot(request).await;
    assert!(response.is_ok(), "{:?}", response.err());
    assert_eq!(upstream.waits(), vec![Duration::from_secs(30)]);
}

/// Same page: "If you exceed a secondary rate limit, the response status
/// will be 200 or 403 ... If the retry-after response header is present,
/// you should not retry your request until after that many seconds has
/// elapsed." Under 403 the crate reads it (the test named above); under
/// 200 the hint must survive too.
// FAILS: under 200 the Retry-After header is dropped (retry_after() None)
#[tokio::test]
async fn github_graphql_secondary_limit_under_200_keeps_retry_after() {
    const HEADERS: &[(&str, &str)] = &[
        ("content-type", "application/json; charset=utf-8"),
        ("date", DATE),
        ("retry-after", "60"),
        ("x-ratelimit-remaining", "4990"),
    ];
    let error = peeked(
        HEADERS,
        r#"{"errors":[{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}]}"#,
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
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
// FAILS: kind Other, is_retryable false: only a body verdict (SlowDown) makes an S3 200 error retryable
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
    // Read well already:
    assert_eq!(error.code(), Some("InternalError"));
    assert_eq!(
        error.message(),
        "We encountered an internal error. Please try again."
    );
    assert_eq!(error.request_id(), Some("656c76696e6727732072657175657374"));
    // The verdict S3 and its SDKs give it:
    let under_500 = parse_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &HeaderMap::new(),
        b"<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>",
    );
    assert!(under_500.is_retryable());
    assert!(error.is_retryable(), "kind {:?}", error.kind());
}

// ---------------------------------------------------------------------------
// JSON-RPC: Infura's documented 429.
// ---------------------------------------------------------------------------

/// Infura, "Avoid rate limiting" (docs.infura.io/api/networks/ethereum/how-to/avoid-rate-limiting):
/// a 429 whose JSON-RPC `error.data` holds `see` (a link), `current_rps`,
/// `allowed_rps` and `backoff_seconds`, "the suggested amount of time to
/// wait before sending more requests ... We recommend pausing JSON-RPC
/// activity for the time value in backoff_seconds". The link is not a
/// field error of the request.
// FAILS: field_errors() is [("see", "https://infura.io/docs/ethereum/jsonrpc/ratelimits")] and retry_after() is None (backoff_seconds ignored)
#[test]
fn infura_rate_limit_names_its_backoff_and_no_field() {
    let body = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"project ID request rate exceeded","data":{"see":"https://infura.io/docs/ethereum/jsonrpc/ratelimits","current_rps":13.333,"allowed_rps":10.0,"backoff_seconds":30.0}}}"#;
    let error = parse_error(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.code(), Some("-32005"));
    assert_eq!(error.message(), "project ID request rate exceeded");
    let fields: Vec<(&str, &str)> = error
        .field_errors()
        .iter()
        .map(|f| (f.field(), f.message()))
        .collect();
    assert_eq!(fields, Vec::<(&str, &str)>::new());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
}

// ---------------------------------------------------------------------------
// Documented payloads no other table has (regression rows; these pass).
// ---------------------------------------------------------------------------

const DATED_RESET: &[(&str, &str)] = &[
    ("date", DATE),
    ("x-ratelimit-limit", "10"),
    ("x-ratelimit-remaining", "0"),
    ("x-ratelimit-reset", "1700000060"),
];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // EC2 API Reference, "Error codes" and "Query API request rate"
    // (docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
    // `<Response><Errors><Error>`, RequestLimitExceeded is a throttle.
    Row { retryable: Some(true),
        ..row("EC2 RequestLimitExceeded", 503, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>", RateLimited, Some("RequestLimitExceeded"), "Request limit exceeded.") },
    row("EC2 InvalidInstanceID.NotFound", 400, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1a2b3c4d' does not exist</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>", BadRequest, Some("InvalidInstanceID.NotFound"), "The instance ID 'i-1a2b3c4d' does not exist"),
    // AWS JSON 1.1 with `Message` capitalised, as several services send it.
    Row { retryable: Some(true),
        ..row("AWS JSON Message", 400, r##"{"__type":"com.amazon.coral.service#ThrottlingException","Message":"Rate exceeded"}"##, RateLimited, Some("ThrottlingException"), "Rate exceeded") },
    // AWS Lambda Invoke, TooManyRequestsException (429) with `Reason`/`Type`.
    Row { headers: &[("x-amzn-errortype", "TooManyRequestsException"), ("retry-after", "1")], retry_after_ms: Some(1000), retryable: Some(true),
        ..row("Lambda 429", 429, r#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#, RateLimited, Some("TooManyRequestsException"), "Rate Exceeded.") },
    // AWS Query, a Receiver fault (SNS API Reference, "Common errors").
    Row { retryable: Some(true),
        ..row("AWS Query Receiver", 503, r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service is unavailable</Message></Error><RequestId>a1b2</RequestId></ErrorResponse>"#, Unavailable, Some("ServiceUnavailable"), "Service is unavailable") },
    // Azure Resource Manager throttling (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
    Row { headers: &[("retry-after", "7")], retry_after_ms: Some(7000), retryable: Some(true),
        ..row("ARM 429", 429, r#"{"error":{"code":"SubscriptionRequestsThrottled","message":"Number of 'read' requests for subscription 'sub' actor 'act' exceeded. Please try again after '7' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling"}}"#, RateLimited, Some("SubscriptionRequestsThrottled"), "Number of 'read' requests for subscription 'sub' actor 'act' exceeded. Please try again after '7' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling") },
    // Azure Storage, "Common REST API error codes": ServerBusy, 503, XML with a BOM.
    Row { retryable: Some(true),
        ..row("Azure Storage ServerBusy", 503, "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code><Message>Operations per second is over the account limit.</Message></Error>", Unavailable, Some("ServerBusy"), "Operations per second is over the account limit.") },
    // OData JSON Format v4.01 §21 (docs.oasis-open.org/odata/odata-json-format/v4.01), its example.
    Row { fields: &[("PhoneNumber", "Phone number must not be null"), ("Address", "Address is not valid")],
        ..row("OData v4", 400, r#"{"error":{"code":"err123","message":"Unsupported functionality","target":"query","details":[{"code":"forty-two","target":"PhoneNumber","message":"Phone number must not be null"},{"code":"forty-three","target":"Address","message":"Address is not valid"}],"innererror":{"trace":[],"context":{}}}}"#, BadRequest, Some("err123"), "Unsupported functionality") },
    // Google AIP-193 (google.aip.dev/193): ErrorInfo after a Help detail.
    row("Google SERVICE_DISABLED", 403, r#"{"error":{"code":403,"message":"Cloud Translation API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Google developers console API activation","url":"https://console.developers.google.com/apis/api/translate.googleapis.com/overview?project=123"}]},{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"translate.googleapis.com","consumer":"projects/123"}}]}}"#, Forbidden, Some("SERVICE_DISABLED"), "Cloud Translation API has not been used in project 123 before or it is disabled."),
    // Gemini API, "Rate limits" (ai.google.dev/gemini-api/docs/rate-limits): QuotaFailure, Help, RetryInfo.
    Row { retry_after_ms: Some(43_000), retryable: Some(true),
        ..row("Gemini 429", 429, r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"15"}]},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"}]}}"#, RateLimited, Some("RESOURCE_EXHAUSTED"), "You exceeded your current quota, please check your plan and billing details.") },
    // A per-day Google quota: waiting minutes will not help.
    Row { retryable: Some(false),
        ..row("Google per-day quota", 429, r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Requests' and limit 'Requests per day' of service 'youtube.googleapis.com' for consumer 'project_number:123'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com"}]}}"#, RateLimited, Some("RATE_LIMIT_EXCEEDED"), "Quota exceeded for quota metric 'Requests' and limit 'Requests per day' of service 'youtube.googleapis.com' for consumer 'project_number:123'.") },
    // PayPal REST, "Orders v2 errors" (developer.paypal.com/docs/api/orders/v2/#errors): a JSON-path-like field.
    Row { fields: &[("purchase_units.@reference_id=='default'.amount.value", "Must be greater than zero.")],
        ..row("PayPal 422", 422, r#"{"name":"UNPROCESSABLE_ENTITY","details":[{"field":"/purchase_units/@reference_id=='default'/amount/value","value":"0","location":"body","issue":"CANNOT_BE_ZERO_OR_NEGATIVE","description":"Must be greater than zero."}],"message":"The requested action could not be performed, semantically incorrect, or failed business validation.","debug_id":"b1d1f06c7246c"}"#, Validation, Some("CANNOT_BE_ZERO_OR_NEGATIVE"), "The requested action could not be performed, semantically incorrect, or failed business validation.") },
    Row { retryable: Some(true),
        ..row("PayPal 429", 429, r#"{"name":"RATE_LIMIT_REACHED","message":"Too many requests. Blocked due to rate limiting.","debug_id":"b1d1f06c7246d"}"#, RateLimited, Some("RATE_LIMIT_REACHED"), "Too many requests. Blocked due to rate limiting.") },
    // Square, "Handling errors" (developer.squareup.com/docs/build-basics/handling-errors).
    row("Square 401", 401, r#"{"errors":[{"category":"AUTHENTICATION_ERROR","code":"UNAUTHORIZED","detail":"This request could not be authorized."}]}"#, Unauthorized, Some("UNAUTHORIZED"), "This request could not be authorized."),
    // Okta, "Rate limits" (developer.okta.com/docs/reference/rl-best-practices): E0000047 with X-Rate-Limit-Reset.
    Row { headers: &[("date", DATE), ("x-rate-limit-limit", "600"), ("x-rate-limit-remaining", "0"), ("x-rate-limit-reset", "1700000060")], retry_after_ms: Some(60_000),
        ..row("Okta 429", 429, r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"sampleQPivGUj_ND5v78vbYWW","errorCauses":[]}"#, RateLimited, Some("E0000047"), "API call exceeded rate limit due to too many requests.") },
    // Auth0, "Rate limit policy" (auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy).
    Row { headers: DATED_RESET, retry_after_ms: Some(60_000),
        ..row("Auth0 429", 429, r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#, RateLimited, Some("too_many_requests"), "Global limit has been reached") },
    // Kubernetes API Concepts, Status (kubernetes.io/docs/reference/using-api/api-concepts).
    Row { headers: &[("retry-after", "1")], retry_after_ms: Some(1000),
        ..row("Kubernetes 429", 429, r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}"#, RateLimited, Some("TooManyRequests"), "Too many requests, please try again later.") },
    row("Kubernetes 409", 409, r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"web","group":"apps","kind":"deployments"},"code":409}"#, Conflict, Some("Conflict"), "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"),
    // App Store Connect API, JSON:API errors (developer.apple.com/documentation/appstoreconnectapi/identifying-rate-limits).
    Row { retryable: Some(true),
        ..row("App Store Connect 429", 429, r#"{"errors":[{"id":"9f3b","status":"429","code":"RATE_LIMIT_EXCEEDED","title":"The request rate limit has been reached.","detail":"We've received too many requests for this API. Please wait and try again or slow down your request rate."}]}"#, RateLimited, Some("RATE_LIMIT_EXCEEDED"), "We've received too many requests for this API. Please wait and try again or slow down your request rate.") },
    // RFC 9457 §3.2 extension members: a `code` extension and `errors`.
    Row { headers: &[("content-type", "application/problem+json")], fields: &[("email", "must be a valid email")],
        ..row("problem+json extensions", 400, r#"{"type":"https://api.example/errors/validation","title":"Validation failed","status":400,"detail":"The request body is invalid.","code":"VALIDATION","errors":[{"pointer":"/email","detail":"must be a valid email"}]}"#, BadRequest, Some("VALIDATION"), "The request body is invalid.") },
    // SOAP 1.2 Part 1 §5.4.6: a Receiver fault may succeed later.
    Row { retryable: Some(true),
        ..row("SOAP 1.2 Receiver", 500, r#"<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">Service temporarily overloaded</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#, Server, Some("Receiver"), "Service temporarily overloaded") },
    // Anthropic, "Errors" (docs.anthropic.com/en/api/errors): 529 overloaded_error.
    Row { retryable: Some(true),
        ..row("Anthropic 529", 529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, Unavailable, Some("overloaded_error"), "Overloaded") },
];

#[test]
fn documented_payloads_not_covered_elsewhere() {
    check(ROWS, |_, _| {});
}

/// Request ids, from the headers the crate lists (Azure's, Graph's, AWS's).
#[test]
fn request_ids_of_listed_headers() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "x-ms-request-id",
            "bc7a7ae4-0001-0027-7a1a-example",
            "<Error><Code>ServerBusy</Code><Message>busy</Message></Error>",
        ),
        (
            "request-id",
            "94fb3b52-452a-4535-a601-69e0a90e3aa2",
            r#"{"error":{"code":"Request_BadRequest","message":"Invalid object identifier 'x'.","innerError":{"date":"2024-01-01T00:00:00","request-id":"94fb3b52-452a-4535-a601-69e0a90e3aa2"}}}"#,
        ),
        (
            "x-amzn-requestid",
            "c1a0e1b2",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        ),
    ];
    for (name, id, body) in cases {
        let mut headers = HeaderMap::new();
        headers.insert(*name, HeaderValue::from_static(id));
        let error = parse_error(StatusCode::SERVICE_UNAVAILABLE, &headers, body.as_bytes());
        assert_eq!(error.request_id(), Some(*id), "{name}");
    }
}
