//! An upstream's [`ApiError`] as your own service's answer: an RFC 9457
//! `application/problem+json` response, for axum (or any `http`) handlers
//! that pass an upstream failure through.

use crate::{ApiError, FieldError};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::Response;
use http_body_util::Full;
use serde_json::json;

const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

impl ApiError {
    /// This error as an RFC 9457 problem-details response: the upstream's
    /// status (502 Bad Gateway for a failure the upstream sent under a
    /// status that is no error, a 200 with `ok: false` or S3's `SlowDown`:
    /// an `about:blank` problem means what its status means, RFC 9457
    /// §4.2.1, and a 200 says nothing failed), a body with `type`
    /// (`about:blank`), `title` (the status reason), `status`, `detail`
    /// (the message), and the extensions `code`
    /// and `errors` (field errors) when present, and `Retry-After` (whole
    /// seconds, rounded up) when the upstream gave a hint.
    ///
    /// Only what the typed error holds goes out: no upstream header, no
    /// request URI, and the message and code are already scrubbed of the
    /// request's credentials (by the layers) and of `Bearer`/`Basic`/JWT
    /// shapes (by [`parse_error`](crate::parse_error) too). Whether your
    /// caller should see the upstream's status (a 401 from *your*
    /// credentials is not the caller's fault) is yours to decide: map the
    /// status first if not.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use bytes::Bytes;
    /// use http::{HeaderMap, Response, StatusCode};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::ServiceExt;
    /// use tower_api_errors::{parse_error, ApiError};
    ///
    /// async fn handler() -> Result<&'static str, Response<Full<Bytes>>> {
    ///     let mut headers = HeaderMap::new();
    ///     headers.insert("retry-after", "30".parse().unwrap());
    ///     let upstream: ApiError = parse_error(
    ///         StatusCode::TOO_MANY_REQUESTS,
    ///         &headers,
    ///         br#"{"error": {"code": "rate_limited", "message": "Slow down"}}"#,
    ///     );
    ///     Err(upstream.into())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let app = Router::new().route("/", get(handler));
    /// let response = app.oneshot(http::Request::new(axum::body::Body::empty())).await.unwrap();
    /// assert_eq!(response.status(), 429);
    /// assert_eq!(response.headers()["retry-after"], "30");
    /// assert_eq!(response.headers()["content-type"], "application/problem+json");
    /// let body = response.into_body().collect().await.unwrap().to_bytes();
    /// let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(problem["detail"], "Slow down");
    /// assert_eq!(problem["code"], "rate_limited");
    /// # }
    /// ```
    pub fn to_problem_response(&self) -> Response<Full<Bytes>> {
        let status = Some(self.status())
            .filter(|status| status.is_client_error() || status.is_server_error())
            .unwrap_or(http::StatusCode::BAD_GATEWAY);
        let mut problem = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Unknown Status"),
            "status": status.as_u16(),
            "detail": self.message(),
        });
        if let Some(code) = self.code() {
            problem["code"] = code.into();
        }
        if !self.field_errors().is_empty() {
            let entry = |e: &FieldError| json!({"field": e.field(), "message": e.message()});
            problem["errors"] = self.field_errors().iter().map(entry).collect();
        }
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, PROBLEM_JSON);
        if let Some(delay) = self.retry_after() {
            let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            response.headers_mut().insert(RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<ApiError> for Response<Full<Bytes>> {
    /// See [`ApiError::to_problem_response`].
    fn from(error: ApiError) -> Self {
        error.to_problem_response()
    }
}

impl From<&ApiError> for Response<Full<Bytes>> {
    /// See [`ApiError::to_problem_response`].
    fn from(error: &ApiError) -> Self {
        error.to_problem_response()
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_error, FieldError};
    use http::{HeaderMap, StatusCode};

    #[test]
    fn a_validation_error_round_trips_through_problem_details() {
        let body = br#"{"error": "validation_failed", "error_description": "Validation failed",
            "validation_errors": [{"field": "email", "message": "Invalid email format"}]}"#;
        let error = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        let response = error.to_problem_response();
        assert_eq!(response.status(), 400);
        assert!(!response.headers().contains_key("retry-after"));
        // Our own parser reads it back the same.
        let bytes = futures_bytes(response);
        let again = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), &bytes);
        assert_eq!(again.message(), error.message());
        assert_eq!(
            again.field_errors(),
            [FieldError::new("email", "Invalid email format")]
        );
    }

    fn futures_bytes(response: http::Response<http_body_util::Full<bytes::Bytes>>) -> Vec<u8> {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes()
            .to_vec()
    }
}
