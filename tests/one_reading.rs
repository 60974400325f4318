//! One reading of a failure's headers per response: the classifier's
//! reading travels up with the response (a failure-only extension), the
//! parse layer reuses it, and the typed error keeps every rate-limit window
//! for the layers above (a quota layer) without parsing the headers again.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use std::convert::Infallible;
use std::time::SystemTime;
use tower::{service_fn, Layer, ServiceExt};
use tower_api_errors::classify::{Classification, Classify, DefaultClassifier};
use tower_api_errors::hints::ResponseHints;
use tower_api_errors::{parse_error, Error, ErrorBodyParseLayer, StatusClassifierLayer};

/// OpenAI's documented rate-limit headers (platform.openai.com/docs/guides/
/// rate-limits, "Rate limits in headers"): a requests and a tokens window,
/// tokens exhausted.
const OPENAI_429: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("date", "Mon, 23 Nov 2026 21:00:00 GMT"),
    ("x-request-id", "req_8f3c2a1b9d7e4f60"),
    ("x-ratelimit-limit-requests", "60"),
    ("x-ratelimit-remaining-requests", "59"),
    ("x-ratelimit-reset-requests", "1s"),
    ("x-ratelimit-limit-tokens", "150000"),
    ("x-ratelimit-remaining-tokens", "0"),
    ("x-ratelimit-reset-tokens", "6m0s"),
];
const BODY: &str = r#"{"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}"#;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn response(status: u16, pairs: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    *response.headers_mut() = headers(pairs);
    response
}

#[test]
fn the_error_keeps_every_window_the_server_announced() {
    let error = parse_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(OPENAI_429),
        BODY.as_bytes(),
    );
    let windows: Vec<_> = error
        .policies()
        .iter()
        .map(|p| (p.name(), p.limit(), p.remaining()))
        .collect();
    assert_eq!(
        windows,
        [
            (Some("requests"), Some(60), Some(59)),
            (Some("tokens"), Some(150000), Some(0)),
        ]
    );
    // The binding window is the exhausted one, and it sets the wait.
    assert_eq!(error.rate_limit().unwrap().remaining(), Some(0));
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(360))
    );
    // No windows announced, none kept.
    let plain = parse_error(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"");
    assert!(plain.policies().is_empty());
}

#[test]
fn the_default_classifier_hands_back_its_reading_of_failures_only() {
    let classifier = DefaultClassifier::new();
    let (verdict, hints) = classifier.classify_reading(StatusCode::OK, &headers(OPENAI_429));
    assert!(verdict.is_success());
    assert!(hints.is_none(), "a success is not read");
    let (verdict, hints) =
        classifier.classify_reading(StatusCode::TOO_MANY_REQUESTS, &headers(OPENAI_429));
    assert_eq!(
        verdict,
        classifier.classify(StatusCode::TOO_MANY_REQUESTS, &headers(OPENAI_429))
    );
    assert_eq!(hints.unwrap().policies().len(), 2);
}

#[tokio::test]
async fn the_classifier_layer_stamps_its_reading_on_failures_only() {
    let upstream = service_fn(|request: Request<()>| async move {
        let status = if request.uri().path() == "/ok" {
            200
        } else {
            429
        };
        Ok::<_, Infallible>(response(status, OPENAI_429))
    });
    let service = StatusClassifierLayer::new().layer(upstream);
    let ok = service
        .clone()
        .oneshot(Request::get("/ok").body(()).unwrap())
        .await
        .unwrap();
    assert!(ok
        .extensions()
        .get::<Classification>()
        .unwrap()
        .is_success());
    assert!(ok.extensions().get::<ResponseHints>().is_none());
    let limited = service
        .oneshot(Request::get("/limited").body(()).unwrap())
        .await
        .unwrap();
    assert!(limited
        .extensions()
        .get::<Classification>()
        .unwrap()
        .is_failure());
    let hints = limited.extensions().get::<ResponseHints>().unwrap();
    assert_eq!(hints.policies().len(), 2);
}

#[tokio::test]
async fn the_parse_layer_reuses_the_reading_from_below() {
    // A stamp and a reading from below that disagree with the headers on
    // purpose: the parse layer must use the reading, not read again.
    let upstream = service_fn(|_request: Request<()>| async {
        let mut response = response(429, OPENAI_429);
        let verdict = DefaultClassifier::new().classify(response.status(), response.headers());
        let mut other = HeaderMap::new();
        other.insert(
            "ratelimit",
            "limit=10, remaining=0, reset=7".parse().unwrap(),
        );
        response.extensions_mut().insert(verdict);
        response
            .extensions_mut()
            .insert(ResponseHints::read(&other, SystemTime::now()));
        Ok::<_, Infallible>(response)
    });
    let service = ErrorBodyParseLayer::new().layer(upstream);
    let Err(Error::Api(error)) = service.oneshot(Request::get("/").body(()).unwrap()).await else {
        panic!("a 429 is an error");
    };
    assert_eq!(error.policies().len(), 1);
    assert_eq!(error.rate_limit().unwrap().limit(), Some(10));
}

#[tokio::test]
async fn without_a_classifier_below_the_parse_layer_reads_once_itself() {
    let upstream = service_fn(|_request: Request<()>| async {
        Ok::<_, Infallible>(response(429, OPENAI_429))
    });
    let service = ErrorBodyParseLayer::new().layer(upstream);
    let Err(Error::Api(error)) = service.oneshot(Request::get("/").body(()).unwrap()).await else {
        panic!("a 429 is an error");
    };
    assert_eq!(error.policies().len(), 2);
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(360))
    );
}
