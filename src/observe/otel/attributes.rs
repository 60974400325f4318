//! Attribute names and values: every one the crate records is built here,
//! from values that cannot carry a path, a query, a header or a body.

use crate::observe::{method_name, server};
use crate::{ErrorKind, StopReason};
use http::{HeaderMap, Method, Uri};
use opentelemetry::{Key, KeyValue, StringValue, Value};
use std::sync::Arc;

/// `http.request.method` (OpenTelemetry).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `server.address` (OpenTelemetry): the request URI's host, else (an
/// origin-form URI) its `Host` header's.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port` (OpenTelemetry): the URI's port, or its scheme's.
pub const SERVER_PORT: &str = "server.port";
/// `http.response.status_code` (OpenTelemetry).
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `error.type` (OpenTelemetry): the [`ErrorKind`](crate::ErrorKind) in
/// snake case (`rate_limited`, `unavailable`, `transport`...).
pub const ERROR_TYPE: &str = "error.type";
/// `http.request.resend_count` (OpenTelemetry): set on resends only.
pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
/// `tower_api_errors.error.code`: an allowlisted vendor code.
pub const ERROR_CODE: &str = "tower_api_errors.error.code";
/// `tower_api_errors.stop_reason`: why the retry layer stopped.
pub const STOP_REASON: &str = "tower_api_errors.stop_reason";
/// `tower_api_errors.wait.source`: why a request waited.
pub const WAIT_SOURCE: &str = "tower_api_errors.wait.source";
/// `tower_api_errors.failed_fast.reason`: why a request failed fast.
pub const FAILED_FAST_REASON: &str = "tower_api_errors.failed_fast.reason";
/// `tower_api_errors.auth.outcome`: `success` or `failure`.
pub const AUTH_OUTCOME: &str = "tower_api_errors.auth.outcome";
/// `tower_api_errors.breaker.state`: the state a circuit breaker entered,
/// `open`, `half_open` or `closed`.
pub const BREAKER_STATE: &str = "tower_api_errors.breaker.state";
/// `tower_api_errors.breaker.origin`: `fleet` on an opening learned from
/// another process of the fleet (absent on a breaker's own transitions).
pub const BREAKER_ORIGIN: &str = "tower_api_errors.breaker.origin";
/// `tower_api_errors.hedge.event`: `sent`, `won` or `cancelled`.
pub const HEDGE_EVENT: &str = "tower_api_errors.hedge.event";

/// A fixed-capacity attribute list on the stack: recording allocates
/// nothing for it.
pub(crate) struct Attrs<const N: usize> {
    buf: [KeyValue; N],
    len: usize,
}

impl<const N: usize> Attrs<N> {
    pub(crate) fn new() -> Self {
        Attrs {
            buf: std::array::from_fn(|_| KeyValue::new(Key::from_static_str(""), false)),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, kv: KeyValue) {
        // Capacities are sized for the most attributes a record takes.
        debug_assert!(self.len < N, "attribute list too short");
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = kv;
            self.len += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[KeyValue] {
        &self.buf[..self.len]
    }
}

pub(crate) fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(Key::from_static_str(key), value)
}

pub(crate) fn status(code: u16) -> KeyValue {
    kv(HTTP_RESPONSE_STATUS_CODE, i64::from(code))
}

/// `http.request.resend_count`, on resends only.
pub(crate) fn resend_count(resends: u32) -> Option<KeyValue> {
    (resends > 0).then(|| kv(HTTP_REQUEST_RESEND_COUNT, i64::from(resends)))
}

/// `tower_api_errors.stop_reason`: why the retry layer stopped.
pub(crate) fn stop_reason(reason: StopReason) -> KeyValue {
    let reason = match reason {
        StopReason::NotRetryable => "not_retryable",
        StopReason::NotIdempotent => "not_idempotent",
        StopReason::ForbiddenByPolicy => "forbidden_by_policy",
        StopReason::BodyNotReplayable => "body_not_replayable",
        StopReason::BodyFailed => "body_failed",
        StopReason::MaxAttempts => "max_attempts",
        StopReason::HintTooLong => "hint_too_long",
        StopReason::Deadline => "deadline",
        StopReason::BudgetExhausted => "budget_exhausted",
        StopReason::ServiceFailed => "service_failed",
    };
    kv(STOP_REASON, reason)
}

/// `error.type` for a failure of `kind`.
pub(crate) fn error_type(kind: ErrorKind) -> KeyValue {
    kv(ERROR_TYPE, kind.label())
}

/// What every request-scoped record carries: method, host and port. Built
/// once per logical call; cloning it shares the host.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    method: &'static str,
    address: Option<StringValue>,
    port: Option<i64>,
}

impl Target {
    /// The target of `method uri` sent with `headers` (their `Host` names
    /// the server of an origin-form URI).
    pub(crate) fn new((method, uri, headers): (&Method, &Uri, &HeaderMap)) -> Self {
        let (host, port) = server(uri, headers);
        Target {
            method: method_name(method),
            address: host.map(|host| StringValue::from(Arc::<str>::from(host))),
            port: port.map(i64::from),
        }
    }

    /// `server.address`, then `server.port` (each when known; no port
    /// without an address).
    fn server(&self) -> impl Iterator<Item = KeyValue> + '_ {
        let address = self.address.as_ref();
        let port = self.port.filter(|_| address.is_some());
        let address = address.map(|address| kv(SERVER_ADDRESS, Value::String(address.clone())));
        address
            .into_iter()
            .chain(port.map(|port| kv(SERVER_PORT, port)))
    }

    /// `server.address`, `server.port` (when known).
    pub(crate) fn push_server<const N: usize>(&self, attrs: &mut Attrs<N>) {
        self.server().for_each(|kv| attrs.push(kv));
    }

    /// `http.request.method`, `server.address`, `server.port` (when
    /// known), into a list that outlives a record.
    pub(crate) fn extend_request(&self, attrs: &mut Vec<KeyValue>) {
        attrs.push(kv(HTTP_REQUEST_METHOD, self.method));
        attrs.extend(self.server());
    }

    /// `http.request.method`, then [`push_server`](Self::push_server).
    pub(crate) fn push_request<const N: usize>(&self, attrs: &mut Attrs<N>) {
        attrs.push(kv(HTTP_REQUEST_METHOD, self.method));
        self.push_server(attrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_keeps_host_and_port_only() {
        let uri: Uri = "https://user:pw@api.example.com/v1/items?api_key=secret"
            .parse()
            .unwrap();
        let target = Target::new((
            &Method::from_bytes(b"PURGE").unwrap(),
            &uri,
            &HeaderMap::new(),
        ));
        let mut attrs = Attrs::<3>::new();
        target.push_request(&mut attrs);
        let printed: Vec<String> = attrs
            .as_slice()
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        assert_eq!(
            printed,
            [
                "http.request.method=_OTHER",
                "server.address=api.example.com",
                "server.port=443"
            ]
        );
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets_and_relative_uris_have_no_server() {
        let uri: Uri = "http://[::1]:8080/x".parse().unwrap();
        let mut attrs = Attrs::<3>::new();
        Target::new((&Method::GET, &uri, &HeaderMap::new())).push_server(&mut attrs);
        assert_eq!(attrs.as_slice()[0].value.as_str(), "::1");
        assert_eq!(attrs.as_slice()[1].value, Value::I64(8080));

        let mut attrs = Attrs::<3>::new();
        let uri = "/x".parse().unwrap();
        Target::new((&Method::GET, &uri, &HeaderMap::new())).push_server(&mut attrs);
        assert!(attrs.as_slice().is_empty());
    }
}
