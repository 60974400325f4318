//! Hostile and broken HTTP/1 servers, written byte by byte on a raw
//! `TcpListener` (hyper's server would refuse to send most of these), and
//! the whole stack over hyper-util's client in front of them.
//!
//! Each row is one server behaviour; each is sent a GET and a POST without
//! an `Idempotency-Key`. Asserted: the call ends in exactly one outcome (no
//! panic, no hang), of the expected class; and the server saw the expected
//! number of requests: a GET is retried when the failure is transient, a
//! POST never is unless nothing reached the server (RFC 9110 §9.2.2;
//! urllib3's `allowed_methods`, botocore and gRFC A6 draw the same line).

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_api_errors::retry::{Backoff, ReplayBody};
use tower_api_errors::{ApiErrorsLayer, Error, RetryPolicy, StopReason};

/// How the server ends a connection after writing its bytes.
#[derive(Clone, Copy, Debug)]
enum End {
    /// A FIN.
    Close,
    /// An RST (`SO_LINGER` 0).
    Reset,
}

/// A server that answers every request with `raw`, then ends the
/// connection as `end` says; counts the requests it read.
async fn raw_server(raw: &'static [u8], end: End) -> (String, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU32::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                if !support::read_request(&mut stream, &mut Vec::new()).await {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(raw).await;
                let _ = stream.flush().await;
                match end {
                    End::Close => drop(stream),
                    End::Reset => {
                        let _ = stream.set_zero_linger();
                        drop(stream);
                    }
                }
            });
        }
    });
    (format!("http://{addr}/things/1"), requests)
}

/// What a call ended with.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// A response of this status.
    Ok(u16),
    /// An `ApiError` of this status; whether its body was cut.
    Api(u16, bool),
    /// A transport error.
    Transport,
}

struct Row {
    name: &'static str,
    raw: &'static [u8],
    end: End,
    ended: Ended,
    /// Requests the server reads for a GET, and for a POST.
    get: u32,
    post: u32,
    /// Why a GET stopped retrying, when it ends in a failure.
    stopped: Option<StopReason>,
}

const ROWS: &[Row] = &[
    Row { name: "closes before any byte", raw: b"", end: End::Close,
        ended: Ended::Transport, get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "resets before any byte", raw: b"", end: End::Reset,
        ended: Ended::Transport, get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "half a status line", raw: b"HTTP/1.1 50", end: End::Close,
        ended: Ended::Transport, get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "not HTTP at all", raw: b"SSH-2.0-OpenSSH_9.6\r\n", end: End::Close,
        ended: Ended::Transport, get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "two Content-Lengths that disagree (RFC 9112 §6.3)",
        raw: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", end: End::Close,
        ended: Ended::Transport, get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "503 cut mid-body",
        raw: b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"error\": {\"message\": \"down", end: End::Close,
        ended: Ended::Api(503, true), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "502 reset mid-body",
        raw: b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\n<html><h1>502", end: End::Reset,
        ended: Ended::Api(502, true), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "500 with a broken chunk size",
        raw: b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\noops\r\n", end: End::Close,
        ended: Ended::Api(500, true), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "HTTP/1.0 500, body until close",
        raw: b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/html\r\n\r\n<html><h1>boom</h1></html>", end: End::Close,
        ended: Ended::Api(500, false), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "empty 500",
        raw: b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(500, false), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "Retry-After of obs-text bytes, ignored",
        raw: b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: \xff\xfe1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(503, false), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "100 Continue, then a 503",
        raw: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(503, false), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "429 whose Retry-After overflows a u64",
        raw: b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 99999999999999999999999\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(429, false), get: 1, post: 1, stopped: Some(StopReason::HintTooLong) },
    Row { name: "429 with a past HTTP-date",
        raw: b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(429, false), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    // Through a CDN (`Age: 0`) from a server whose clock is in 2100: the
    // date is a second after the server's `Date + Age` (RFC 9111 §4.2.3),
    // waited; before, any `Age` read it by our clock and failed fast.
    Row { name: "503 through a CDN, its clock far ahead",
        raw: b"HTTP/1.1 503 Service Unavailable\r\nDate: Fri, 01 Jan 2100 00:00:00 GMT\r\nAge: 0\r\nRetry-After: Fri, 01 Jan 2100 00:00:01 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(503, false), get: 3, post: 1, stopped: Some(StopReason::MaxAttempts) },
    Row { name: "Retry-After on a 301 is not a failure",
        raw: b"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Ok(301), get: 1, post: 1, stopped: None },
    Row { name: "a status hyper accepts and no RFC defines",
        raw: b"HTTP/1.1 999 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", end: End::Close,
        ended: Ended::Api(999, false), get: 1, post: 1, stopped: Some(StopReason::NotRetryable) },
];

/// Sends one request of `method` through the whole stack to `uri`.
async fn call(uri: &str, method: &str) -> Result<http::Response<hyper::body::Incoming>, Error> {
    let policy = RetryPolicy::default()
        .backoff(Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(5),
        ))
        .no_budget();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let stack = ApiErrorsLayer::new().retry(policy).client(client);
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    stack.oneshot(request).await
}

#[tokio::test]
async fn broken_servers_end_each_call_once_and_never_resend_a_post() {
    for row in ROWS {
        for (method, sent) in [("GET", row.get), ("POST", row.post)] {
            let at = format!("{} ({method})", row.name);
            let (uri, requests) = raw_server(row.raw, row.end).await;
            let Ok(outcome) =
                tokio::time::timeout(Duration::from_secs(30), call(&uri, method)).await
            else {
                panic!("{at}: hung");
            };
            let (ended, stopped) = match &outcome {
                Ok(response) => (Ended::Ok(response.status().as_u16()), None),
                Err(Error::Api(api)) => (
                    Ended::Api(api.status().as_u16(), api.is_truncated()),
                    api.retries().stopped(),
                ),
                Err(error) => (Ended::Transport, error.retries().stopped()),
            };
            assert_eq!(ended, row.ended, "{at}: {outcome:?}");
            assert_eq!(requests.load(Ordering::SeqCst), sent, "{at}: requests read");
            if method == "GET" {
                assert_eq!(stopped, row.stopped, "{at}: why it stopped");
            }
        }
    }
}
