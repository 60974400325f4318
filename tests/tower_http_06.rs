//! The stack inside tower-http **0.6**'s `TraceLayer` (feature
//! `tower-http-06`), as apps still on 0.6 (reqwest 0.12, many axum apps)
//! have it: our classifier decides what the trace calls a failure.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use std::sync::{Arc, Mutex};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_api_errors::classify::{DefaultClassifier, Failure};
use tower_api_errors::retry::ReplayBody;
use tower_api_errors::{ApiErrorsLayer, ErrorKind};
use tower_http_06::classify::SharedClassifier;
use tower_http_06::trace::TraceLayer;

#[tokio::test]
async fn a_429_is_a_failure_in_a_tower_http_06_trace() {
    let failures: Arc<Mutex<Vec<ErrorKind>>> = Arc::default();
    let seen = failures.clone();
    let upstream = service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async {
        Ok::<_, std::convert::Infallible>(
            Response::builder()
                .status(404)
                .body(Full::new(Bytes::from_static(
                    br#"{"error": "Member not found"}"#,
                )))
                .unwrap(),
        )
    });
    // The trace sits below the stack, on the raw responses, where a 404 is
    // a failure by our table (tower-http's own would only count 5xx).
    let traced = ServiceBuilder::new()
        .layer(
            TraceLayer::new(SharedClassifier::new(DefaultClassifier::new())).on_failure(
                move |failure: Failure, _latency, _span: &tracing::Span| {
                    seen.lock().unwrap().push(failure.kind())
                },
            ),
        )
        .service(upstream);
    let client = ApiErrorsLayer::new().client(traced);
    let Err(error) = client.oneshot(Request::new(Full::new(Bytes::new()))).await else {
        panic!("a 404 is an error")
    };
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(*failures.lock().unwrap(), [ErrorKind::NotFound]);
}
