//! Table rows for the dialect tests (`tests/dialects.rs`,
//! `tests/dialect_families.rs`): a documented body with its status and
//! headers, and what `parse_error` must read from it.
#![allow(dead_code)]

use http::{HeaderMap, HeaderValue, StatusCode};
use std::time::Duration;
use tower_api_errors::{parse_error, ApiError, ErrorKind};

/// One documented payload and the error it must become.
pub struct Row {
    pub source: &'static str,
    pub status: u16,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: &'static str,
    pub kind: ErrorKind,
    pub code: Option<&'static str>,
    pub message: &'static str,
    pub fields: &'static [(&'static str, &'static str)],
    pub retry_after_ms: Option<u64>,
    /// Checked when set.
    pub retryable: Option<bool>,
}

/// A row without headers, field errors, retry delay or retry verdict.
pub const fn row(
    source: &'static str,
    status: u16,
    body: &'static str,
    kind: ErrorKind,
    code: Option<&'static str>,
    message: &'static str,
) -> Row {
    Row {
        source,
        status,
        headers: &[],
        body,
        kind,
        code,
        message,
        fields: &[],
        retry_after_ms: None,
        retryable: None,
    }
}

/// Parses every row and checks what every row states; `more` checks what
/// one table adds, given the error and the row's source.
pub fn check(rows: &[Row], more: impl Fn(&ApiError, &str)) {
    for row in rows {
        let mut headers = HeaderMap::new();
        for (name, value) in row.headers {
            headers.append(*name, HeaderValue::from_static(value));
        }
        let error = parse_error(
            StatusCode::from_u16(row.status).unwrap(),
            &headers,
            row.body.as_bytes(),
        );
        let at = row.source;
        assert_eq!(error.status().as_u16(), row.status, "{at}: status");
        assert_eq!(error.kind(), row.kind, "{at}: kind");
        assert_eq!(error.code(), row.code, "{at}: code");
        assert_eq!(error.message(), row.message, "{at}: message");
        let fields: Vec<(&str, &str)> = error
            .field_errors()
            .iter()
            .map(|f| (f.field(), f.message()))
            .collect();
        assert_eq!(fields, row.fields, "{at}: field errors");
        assert_eq!(
            error.retry_after(),
            row.retry_after_ms.map(Duration::from_millis),
            "{at}: retry_after"
        );
        if let Some(retryable) = row.retryable {
            assert_eq!(error.is_retryable(), retryable, "{at}: retryable");
        }
        more(&error, at);
    }
}
