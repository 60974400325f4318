//! `StatusClassifierLayer`: unit tests with tower-test mocks, and an
//! integration test over real hyper on loopback.

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use std::time::Duration;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_api_errors::classify::{
    Classification, ClassifyExt, DefaultClassifier, StatusClassifierLayer,
};
use tower_api_errors::ErrorKind;
use tower_test::mock;

#[tokio::test]
async fn stamps_every_response_and_leaves_the_rest_alone() {
    let (service, mut handle) = mock::pair::<Request<&'static str>, Response<&'static str>>();
    let mut service = StatusClassifierLayer::new().layer(service);

    for (status, expected) in [
        (200, None),
        (404, Some(ErrorKind::NotFound)),
        (503, Some(ErrorKind::Unavailable)),
    ] {
        handle.allow(1);
        service.ready().await.unwrap();
        let call = tokio::spawn(service.call(Request::new("ping")));
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(*request.body(), "ping");
        send.send_response(
            Response::builder()
                .status(status)
                .header("x-trace", "abc")
                .body("payload")
                .unwrap(),
        );
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["x-trace"], "abc");
        assert_eq!(*response.body(), "payload", "body untouched");
        let verdict = response.extensions().get::<Classification>().unwrap();
        assert_eq!(verdict.kind(), expected, "{status}");
    }
}

#[tokio::test]
async fn inner_errors_pass_through_unchanged() {
    let (service, mut handle) = mock::pair::<Request<()>, Response<()>>();
    let service = StatusClassifierLayer::new().layer(service);
    handle.allow(1);
    let call = tokio::spawn(service.oneshot(Request::new(())));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "refused",
    ));
    let error = call.await.unwrap().unwrap_err();
    let io = error
        .downcast_ref::<std::io::Error>()
        .expect("the inner error, unchanged");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn poll_ready_forwards_backpressure() {
    let (service, mut handle) = mock::pair::<Request<()>, Response<()>>();
    let mut service = tower_test::mock::Spawn::new(StatusClassifierLayer::new().layer(service));
    handle.allow(0);
    assert!(service.poll_ready().is_pending());
    handle.allow(1);
    assert!(service.poll_ready().is_ready());
}

#[tokio::test]
async fn custom_classifier_is_used() {
    let (service, mut handle) = mock::pair::<Request<()>, Response<()>>();
    let layer = StatusClassifierLayer::new().classifier(
        DefaultClassifier::new().with_status(StatusCode::NOT_FOUND, Classification::Success),
    );
    let service = layer.layer(service);
    handle.allow(1);
    let call = tokio::spawn(service.oneshot(Request::new(())));
    let (request, send) = handle.next_request().await.unwrap();
    drop(request);
    send.send_response(Response::builder().status(404).body(()).unwrap());
    let response = call.await.unwrap().unwrap();
    assert!(response
        .extensions()
        .get::<Classification>()
        .unwrap()
        .is_success());
}

#[tokio::test]
async fn request_reaches_inner_service_unchanged() {
    let (service, mut handle) = mock::pair::<Request<&'static str>, Response<()>>();
    let service = StatusClassifierLayer::new().layer(service);
    handle.allow(1);
    let request = Request::builder()
        .method("PUT")
        .uri("/things/1")
        .body("data")
        .unwrap();
    let call = tokio::spawn(service.oneshot(request));
    let (sent, send) = handle.next_request().await.unwrap();
    assert_eq!(sent.method(), "PUT");
    assert_eq!(sent.uri(), "/things/1");
    assert_eq!(*sent.body(), "data");
    send.send_response(Response::new(()));
    assert!(call.await.unwrap().is_ok());
}

#[tokio::test]
async fn over_real_hyper_on_loopback() {
    let addr = support::serve(|request| async move {
        match request.uri().path() {
            "/ok" => support::response(200, &[], "hello"),
            "/limited" => support::response(
                403,
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "30")],
                r#"{"message":"API rate limit exceeded"}"#,
            ),
            _ => support::response(503, &[("retry-after", "2")], "down"),
        }
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(StatusClassifierLayer::new())
        .service(support::client::<Empty<Bytes>>());

    let get = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap()
    };

    let ok = client.clone().oneshot(get("/ok")).await.unwrap();
    assert!(ok
        .extensions()
        .get::<Classification>()
        .unwrap()
        .is_success());
    assert_eq!(ok.into_body().collect().await.unwrap().to_bytes(), "hello");

    let limited = client.clone().oneshot(get("/limited")).await.unwrap();
    let verdict = *limited.extensions().get::<Classification>().unwrap();
    assert_eq!(verdict.kind(), Some(ErrorKind::RateLimited));
    assert_eq!(
        verdict.retry_hint().unwrap().delay(),
        Duration::from_secs(30)
    );
    // The body is still there for whoever wants it.
    assert_eq!(
        support::body_bytes(limited.into_body()).await,
        r#"{"message":"API rate limit exceeded"}"#
    );

    let down = client.oneshot(get("/down")).await.unwrap();
    let verdict = down.extensions().get::<Classification>().unwrap();
    assert_eq!(verdict.kind(), Some(ErrorKind::Unavailable));
    assert_eq!(
        verdict.retry_hint().unwrap().delay(),
        Duration::from_secs(2)
    );
}

/// The layer and its service are as cloneable and thread-safe as the inner
/// service, so they fit `Buffer`, `BoxCloneService` and axum state.
#[test]
fn types_are_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<StatusClassifierLayer>();
    assert_traits::<
        tower_api_errors::classify::StatusClassifier<
            tower::util::BoxCloneSyncService<Request<()>, Response<()>, std::io::Error>,
        >,
    >();
    assert_traits::<Classification>();
}
