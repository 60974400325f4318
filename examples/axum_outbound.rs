//! An axum app that calls an upstream API through the pipeline kept in its
//! state, and maps the upstream's typed errors to its own responses:
//!
//! - upstream rate limit (with a hint too long to wait) -> our 503 with `Retry-After`;
//! - upstream validation errors -> our own 422 with our own JSON;
//! - upstream 404 -> our 404; anything else -> 502.
//!
//! `cargo run --example axum_outbound`.
#![allow(dead_code)] // `tests/examples.rs` includes this file for `run`.

// Standalone, the example brings the shared loopback helpers; included by
// `tests/examples.rs`, it uses that crate's copy.
#[cfg(not(test))]
#[path = "../tests/support/mod.rs"]
mod support;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use serde_json::json;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_errors::retry::{RetryLayer, RetryPolicy};
use tower_api_errors::{ApiError, Error, ErrorBodyParseLayer, ErrorKind, StatusClassifierLayer};

/// The outbound client as the app keeps it: boxed, `Clone + Send + Sync`.
type Upstream = BoxCloneSyncService<Request<Full<Bytes>>, http::Response<Incoming>, Error>;

#[derive(Clone)]
struct AppState {
    upstream: Upstream,
    base: String,
}

/// Our answer for an upstream's typed error.
struct UpstreamError(Error);

impl IntoResponse for UpstreamError {
    fn into_response(self) -> Response {
        let Error::Api(error) = self.0 else {
            return (
                StatusCode::BAD_GATEWAY,
                Json(json!({"error": "upstream unreachable"})),
            )
                .into_response();
        };
        match error.kind() {
            ErrorKind::RateLimited => rate_limited(&error),
            ErrorKind::Validation | ErrorKind::BadRequest if !error.field_errors().is_empty() => {
                let fields: Vec<_> = error
                    .field_errors()
                    .iter()
                    .map(|f| json!({"field": f.field(), "problem": f.message()}))
                    .collect();
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"invalid": fields})),
                )
                    .into_response()
            }
            ErrorKind::NotFound => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "no such user"})),
            )
                .into_response(),
            _ => (
                StatusCode::BAD_GATEWAY,
                Json(
                    json!({"error": "upstream failed", "upstream_status": error.status().as_u16()}),
                ),
            )
                .into_response(),
        }
    }
}

/// Upstream 429 becomes our 503, passing the upstream's hint on.
fn rate_limited(error: &ApiError) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "busy, try later"})),
    )
        .into_response();
    if let Some(delay) = error.retry_after() {
        // Round up: never tell our callers to come back sooner than upstream said.
        let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}

async fn profile(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, UpstreamError> {
    let request = Request::get(format!("{}/users/{id}", state.base))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = state
        .upstream
        .oneshot(request)
        .await
        .map_err(UpstreamError)?;
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Ok(([("content-type", "application/json")], body).into_response())
}

/// Starts the upstream API and the axum app; returns the app's address.
pub async fn start() -> std::net::SocketAddr {
    let upstream_addr = crate::support::serve(|request| async move {
        match request.uri().path() {
            "/users/1" => crate::support::response(200, &[("content-type", "application/json")], r#"{"id": 1, "name": "Ada"}"#),
            "/users/busy" => crate::support::response(
                429,
                &[("retry-after", "300"), ("x-ratelimit-remaining", "0")],
                r#"{"error": "Rate Limit Exceeded", "message": "Daily request limit exceeded"}"#,
            ),
            "/users/invalid" => crate::support::response(
                422,
                &[],
                r#"{"error": "validation_failed", "error_description": "Validation failed", "validation_errors": [{"field": "email", "message": "Invalid email format"}]}"#,
            ),
            "/users/broken" => crate::support::response(500, &[("x-should-retry", "false")], r#"{"error": "internal_error", "error_description": "boom"}"#),
            _ => crate::support::response(404, &[], r#"{"error": {"code": 404, "message": "User not found"}}"#),
        }
    })
    .await;

    let upstream = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(ErrorBodyParseLayer::new())
        .layer(StatusClassifierLayer::new())
        .service(crate::support::client());
    let state = AppState {
        upstream: BoxCloneSyncService::new(upstream),
        base: format!("http://{upstream_addr}"),
    };
    let app = Router::new()
        .route("/profile/{id}", get(profile))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// What our app answered: status, `Retry-After`, body.
pub type Answer = (u16, Option<String>, String);

/// Calls our app once per upstream behaviour.
pub async fn run() -> Vec<(&'static str, Answer)> {
    let addr = start().await;
    let client = crate::support::client::<Empty<Bytes>>();
    let mut answers = Vec::new();
    for id in ["1", "busy", "invalid", "missing", "broken"] {
        let request = Request::get(format!("http://{addr}/profile/{id}"))
            .body(Empty::new())
            .unwrap();
        let response = client.request(request).await.expect("our app answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = String::from_utf8_lossy(&crate::support::body_bytes(response.into_body()).await)
            .into_owned();
        answers.push((id, (status, retry_after, body)));
    }
    answers
}

#[tokio::main]
async fn main() {
    for (id, (status, retry_after, body)) in run().await {
        let hint = retry_after
            .map(|s| format!(" retry-after: {s}"))
            .unwrap_or_default();
        println!("GET /profile/{id:<8} -> {status}{hint} {body}");
    }
}
