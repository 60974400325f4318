//! Rich gRPC error details (`grpc-status-details-bin`, a `google.rpc.Status`)
//! read into the typed error (feature `grpc`). The details are built with
//! tonic-types, as a tonic server following gRPC's richer error model
//! (grpc.io/docs/guides/error, AIP-193) sends them.
#![cfg(feature = "grpc")]

use http::{HeaderMap, HeaderValue, StatusCode};
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use tower_api_errors::{parse_error, ErrorKind};

/// The trailers-only headers of a status, as tonic sends them.
fn headers_of(status: &Status) -> HeaderMap {
    let mut headers = HeaderMap::new();
    status.add_header(&mut headers).unwrap();
    headers
}

#[test]
fn error_info_retry_info_and_quota_failure() {
    let mut details = ErrorDetails::with_retry_info(Some(Duration::from_secs(30)));
    details.set_error_info(
        "RATE_LIMIT_EXCEEDED",
        "googleapis.com",
        [("service".to_owned(), "pubsub.googleapis.com".to_owned())],
    );
    details.add_quota_failure_violation("project:123", "Read requests per minute exceeded");
    let status = Status::with_error_details(Code::ResourceExhausted, "Quota exceeded", details);
    let error = parse_error(StatusCode::OK, &headers_of(&status), b"");
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.code(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(error.message(), "Quota exceeded");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert!(error.is_retryable());
}

#[test]
fn bad_request_violations_are_field_errors() {
    let details = ErrorDetails::with_bad_request(vec![
        FieldViolation::new("book.title", "Title must not be empty"),
        FieldViolation::new("book.isbn", "Not a valid ISBN"),
    ]);
    let status = Status::with_error_details(Code::InvalidArgument, "Invalid book", details);
    let error = parse_error(StatusCode::OK, &headers_of(&status), b"");
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert_eq!(error.code(), Some("INVALID_ARGUMENT"));
    let fields: Vec<(&str, &str)> = error
        .field_errors()
        .iter()
        .map(|f| (f.field(), f.message()))
        .collect();
    assert_eq!(
        fields,
        [
            ("book.title", "Title must not be empty"),
            ("book.isbn", "Not a valid ISBN")
        ]
    );
    assert!(!error.is_retryable());
}

#[test]
fn garbage_details_are_ignored() {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-status", HeaderValue::from_static("14"));
    headers.insert("grpc-message", HeaderValue::from_static("backend%20down"));
    for garbage in ["!!!not base64!!!", "AAAA", "CAES", ""] {
        headers.insert("grpc-status-details-bin", HeaderValue::from_static(garbage));
        let error = parse_error(StatusCode::OK, &headers, b"");
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{garbage}");
        assert_eq!(error.code(), Some("UNAVAILABLE"), "{garbage}");
        assert_eq!(error.message(), "backend down", "{garbage}");
        assert!(error.is_retryable(), "{garbage}");
    }
}

/// The server's rich details reach a tonic caller: the error's gRPC status
/// carries them as sent (`StatusExt` reads them back), with the server's
/// code, not the kind's (FAILED_PRECONDITION is not INVALID_ARGUMENT).
#[test]
fn the_grpc_status_keeps_the_servers_code_and_details() {
    let mut details =
        ErrorDetails::with_bad_request(vec![FieldViolation::new("bucket", "Bucket is not empty")]);
    details.set_error_info("BUCKET_NOT_EMPTY", "storage.googleapis.com", []);
    let sent = Status::with_error_details(Code::FailedPrecondition, "Not empty", details);
    let error = parse_error(StatusCode::OK, &headers_of(&sent), b"");
    let status = error.grpc_status().expect("a gRPC failure");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(Status::from(&error).code(), Code::FailedPrecondition);
    let read = status.get_error_details();
    assert_eq!(read.error_info().unwrap().reason, "BUCKET_NOT_EMPTY");
    assert_eq!(read.bad_request().unwrap().field_violations.len(), 1);
}

/// Details that echo the request's credential are left out of the status
/// (opaque bytes: they cannot be scrubbed in place); the rest of the error
/// stands, scrubbed.
#[tokio::test]
async fn details_that_echo_a_credential_are_left_out() {
    use bytes::Bytes;
    use http_body_util::Full;
    use tower::{Layer, ServiceExt};
    const KEY: &str = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";
    for (echoed, kept) in [(KEY, false), ("project-123", true)] {
        let details = ErrorDetails::with_error_info(
            "API_KEY_INVALID",
            "googleapis.com",
            [("key".to_owned(), echoed.to_owned())],
        );
        let sent = Status::with_error_details(Code::InvalidArgument, "API key not valid", details);
        let headers = headers_of(&sent);
        let upstream = tower::service_fn(move |_request: http::Request<Full<Bytes>>| {
            let mut response = http::Response::new(Full::new(Bytes::new()));
            *response.headers_mut() = headers.clone();
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        let request =
            http::Request::post("https://pubsub.googleapis.com/google.pubsub.v1.Publisher/Publish")
                .header("x-goog-api-key", KEY)
                .body(Full::new(Bytes::new()))
                .unwrap();
        let client = tower_api_errors::ErrorBodyParseLayer::new().layer(upstream);
        let error = client.oneshot(request).await.unwrap_err();
        let status = error.api().unwrap().grpc_status().unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(!status.details().is_empty(), kept, "{echoed}");
        assert!(!format!("{status:?}").contains(KEY));
    }
}
