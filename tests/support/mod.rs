//! Shared test support: a real hyper server on loopback and a hyper-util
//! client, as users have them.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body our test servers send.
pub type ServerBody = BoxBody<Bytes, BoxError>;

/// A full body.
pub fn full(bytes: impl Into<Bytes>) -> ServerBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response with `status`, `headers` and `body`.
pub fn response(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<ServerBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(full(body)).unwrap()
}

/// Serves `handler` on 127.0.0.1 (port 0) until the test's runtime ends.
pub async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<ServerBody>> + Send + 'static,
{
    serve_fallible(move |request| {
        let response = handler(request);
        async move { Ok::<_, Infallible>(response.await) }
    })
    .await
}

/// Like [`serve`], for handlers that may fail: an `Err` makes hyper drop
/// the connection without an answer (a reset, as the client sees it).
pub async fn serve_fallible<F, Fut, E>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<ServerBody>, E>> + Send + 'static,
    E: Into<BoxError>,
{
    serve_at("127.0.0.1:0", handler).await
}

/// Like [`serve_fallible`], listening on `addr` (`"[::1]:0"` for IPv6).
pub async fn serve_at<F, Fut, E>(addr: &str, handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<ServerBody>, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handler.clone()(req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A hyper-util client, as users build one.
pub fn client<B>() -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// A header map of `pairs`, in order (a repeated name appends a line).
pub fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// One 200 with `content_type` and `body`, through `SuccessPeekLayer` over
/// `ErrorBodyParseLayer` (as the peek layer's docs place them): the bytes
/// given back, or the typed failure.
pub async fn peek(
    content_type: &'static str,
    body: &'static str,
) -> Result<Bytes, tower_api_errors::Error> {
    use tower::ServiceExt;
    let upstream = tower::service_fn(move |_req: Request<()>| async move {
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", content_type)
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap(),
        )
    });
    let client = tower::ServiceBuilder::new()
        .layer(tower_api_errors::parse::SuccessPeekLayer::new())
        .layer(tower_api_errors::ErrorBodyParseLayer::new())
        .service(upstream);
    let response = client.oneshot(Request::new(())).await?;
    Ok(response.into_body().collect().await.unwrap().to_bytes())
}

/// Collects a body to bytes.
pub async fn body_bytes<B>(body: B) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.unwrap().to_bytes()
}

/// A body that yields the given frames (or errors) in order, then ends:
/// for chunked successes and bodies that fail half way.
#[derive(Debug)]
pub struct Frames<E> {
    frames: std::collections::VecDeque<Result<http_body::Frame<Bytes>, E>>,
    /// The exact length left, for a body that says it (`sized`).
    left: Option<u64>,
}

impl<E> Frames<E> {
    /// A body of these frames.
    pub fn new(frames: Vec<Result<http_body::Frame<Bytes>, E>>) -> Self {
        Frames {
            frames: frames.into(),
            left: None,
        }
    }

    /// A body of these data chunks whose size hint is their exact length,
    /// as a file's stream with its length has.
    pub fn sized(chunks: &[&'static str]) -> Self {
        let left = chunks.iter().map(|c| c.len() as u64).sum();
        Frames {
            left: Some(left),
            ..Frames::chunks(chunks)
        }
    }

    /// A body of these data chunks.
    pub fn chunks(chunks: &[&'static str]) -> Self {
        Frames::new(
            chunks
                .iter()
                .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
                .collect(),
        )
    }
}

impl<E: Unpin> http_body::Body for Frames<E> {
    type Data = Bytes;
    type Error = E;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, E>>> {
        let frame = self.frames.pop_front();
        let len = match &frame {
            Some(Ok(frame)) => frame.data_ref().map_or(0, |data| data.len() as u64),
            _ => 0,
        };
        if let Some(left) = &mut self.left {
            *left -= len;
        }
        std::task::Poll::Ready(frame)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.left.map_or_else(
            http_body::SizeHint::default,
            http_body::SizeHint::with_exact,
        )
    }
}

/// An OpenTelemetry meter provider over an in-memory exporter: the
/// crate's metrics recorded, and read back.
pub struct MetricsReader {
    provider: opentelemetry_sdk::metrics::SdkMeterProvider,
    exporter: opentelemetry_sdk::metrics::InMemoryMetricExporter,
}

impl MetricsReader {
    pub fn new() -> Self {
        use opentelemetry_sdk::metrics::{
            InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
        };
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        MetricsReader { provider, exporter }
    }

    /// The crate's metrics, recorded into this reader.
    #[cfg(feature = "opentelemetry")]
    pub fn metrics(&self) -> tower_api_errors::metrics::Metrics {
        tower_api_errors::metrics::Metrics::from_provider(&self.provider)
    }

    /// Whether anything was recorded of the metric `name` so far.
    pub fn recorded(&self, name: &str) -> bool {
        self.provider.force_flush().unwrap();
        let batches = self.exporter.get_finished_metrics().unwrap();
        let mut metrics = batches
            .iter()
            .flat_map(|batch| batch.scope_metrics())
            .flat_map(|scope| scope.metrics());
        metrics.any(|metric| metric.name() == name)
    }

    /// The points of the counter `name` recorded so far, each as
    /// "<value of `attribute`> <count>", sorted.
    pub fn counter_points(&self, name: &str, attribute: &str) -> Vec<String> {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        self.with_data(name, |data| {
            let AggregatedMetrics::U64(MetricData::Sum(sum)) = data else {
                panic!("{name} is not a counter")
            };
            let mut points: Vec<String> = sum
                .data_points()
                .map(|point| {
                    let value = point
                        .attributes()
                        .find(|kv| kv.key.as_str() == attribute)
                        .unwrap_or_else(|| panic!("{name} has no {attribute}"));
                    format!("{} {}", value.value, point.value())
                })
                .collect();
            points.sort();
            points
        })
    }

    /// The sum of every point of the `u64` histogram `name` so far.
    pub fn histogram_sum(&self, name: &str) -> u64 {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        self.with_data(name, |data| {
            let AggregatedMetrics::U64(MetricData::Histogram(histogram)) = data else {
                panic!("{name} is not a u64 histogram")
            };
            histogram.data_points().map(|point| point.sum()).sum()
        })
    }

    /// `read` of the data of the metric `name` recorded so far.
    fn with_data<T>(
        &self,
        name: &str,
        read: impl FnOnce(&opentelemetry_sdk::metrics::data::AggregatedMetrics) -> T,
    ) -> T {
        self.provider.force_flush().unwrap();
        let batches = self.exporter.get_finished_metrics().unwrap();
        let metric = batches
            .iter()
            .flat_map(|batch| batch.scope_metrics())
            .flat_map(|scope| scope.metrics())
            .find(|metric| metric.name() == name)
            .unwrap_or_else(|| panic!("no metric {name}"));
        read(metric.data())
    }
}

/// `pair` in base64, as `Authorization: Basic` carries it (RFC 7617).
pub fn base64(pair: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(pair)
}

/// An `Authorization` value of `scheme` and `pair` in base64.
pub fn basic(scheme: &str, pair: &str) -> String {
    format!("{scheme} {}", base64(pair))
}

/// What an `Authorization: Basic` value decodes to, its `=` padding
/// present or not (servers accept both).
pub fn decode_basic(sent: &str) -> String {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::{alphabet, Engine};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let (_, encoded) = sent.split_once(' ').unwrap();
    let decoded = GeneralPurpose::new(&alphabet::STANDARD, config).decode(encoded);
    String::from_utf8(decoded.unwrap()).unwrap()
}

/// A loopback server that refuses every request with a 401 quoting what
/// its `Authorization: Basic` decoded, as servers do: the password and the
/// user id in the message, the password in the code (what the `api_error`
/// event logs), the pair in the details.
pub async fn quoting_basic_server() -> SocketAddr {
    serve(|request: Request<Incoming>| async move {
        let pair = decode_basic(request.headers()["authorization"].to_str().unwrap());
        let (user, password) = pair.split_once(':').unwrap();
        let body = serde_json::json!({"error": {
            "code": format!("E_BAD_PASSWORD:{password}"),
            "message": format!("bad password {password} for user {user}"),
            "echo": {"credentials": pair},
        }});
        let headers = [("content-type", "application/json")];
        response(401, &headers, body.to_string())
    })
    .await
}

/// A GET of `/v1/me` at `addr` with `Authorization: {scheme}` and `pair`
/// in base64: what [`quoting_basic_server`] quotes back decoded.
pub fn get_me_with_basic(addr: SocketAddr, scheme: &str, pair: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/v1/me"))
        .header("authorization", basic(scheme, pair))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A loopback address nothing listens on: a port that was free a moment
/// ago, its listener closed again, so every connect is refused.
pub fn refused_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Every text an error prints, its sources' included: `Display` and
/// `Debug` of each, for asserting what never appears in logs.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        text.push_str(&format!("{cause} | {cause:?} | "));
        next = cause.source();
    }
    text
}

/// (method, path, host, authorization, x-api-key, body) per request seen.
pub type Hops =
    std::sync::Arc<std::sync::Mutex<Vec<(String, String, String, String, String, Bytes)>>>;

/// A server that redirects `/old` to `location` with `status`, and answers
/// everything else 200 with what it saw; records every request.
pub async fn redirecting(
    status: u16,
    location: impl Fn(&str) -> String + Clone + Send + Sync + 'static,
) -> (SocketAddr, Hops) {
    let seen: Hops = std::sync::Arc::default();
    let log = seen.clone();
    let addr = serve(move |request: Request<Incoming>| {
        let log = log.clone();
        let location = location.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body_bytes(body).await;
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            let host = header("host");
            log.lock().unwrap().push((
                parts.method.to_string(),
                parts.uri.path().to_owned(),
                host.clone(),
                header("authorization"),
                header("x-api-key"),
                body.clone(),
            ));
            if parts.uri.path() == "/old" {
                response(status, &[("location", &location(&host))], "")
            } else {
                response(200, &[], body)
            }
        }
    })
    .await;
    (addr, seen)
}

/// Reads one request (head, and a `Content-Length` body) from a raw
/// server's `stream`, with what an earlier read left in `seen` (what it
/// read past this request stays there); false when the client went away
/// first.
pub async fn read_request(stream: &mut tokio::net::TcpStream, seen: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tokio::io::AsyncReadExt::read(stream, &mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    while seen.len() < head_end + length {
        match tokio::io::AsyncReadExt::read(stream, &mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    seen.drain(..head_end + length);
    true
}

/// The default retry policy with quick, exact backoff (1 ms doubling to
/// 4 ms, no jitter).
pub fn quick_exact() -> tower_api_errors::RetryPolicy {
    use tower_api_errors::retry::{Backoff, Jitter};
    let backoff = Backoff::exponential(
        std::time::Duration::from_millis(1),
        2.0,
        std::time::Duration::from_millis(4),
    );
    tower_api_errors::RetryPolicy::default().backoff(backoff.jitter(Jitter::None))
}

/// `f`, or a panic naming `what` if it has no outcome within 15 s (a hang).
pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(std::time::Duration::from_secs(15), f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no outcome within 15 s (hang)"),
    }
}

/// A source whose first credential (`tok_old`) the server refuses; the
/// refresh gives the good one (`tok_new`), and is counted. Each takes
/// `delay` to load.
pub struct Rotating {
    pub refreshes: std::sync::atomic::AtomicUsize,
    pub delay: std::time::Duration,
}

impl Rotating {
    pub fn new(delay: std::time::Duration) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Rotating {
            refreshes: Default::default(),
            delay,
        })
    }

    fn give(&self, secret: &'static str) -> tower_api_errors::auth::TokenFuture<'_> {
        Box::pin(async move {
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            Ok(tower_api_errors::auth::Credential::new(secret)?)
        })
    }
}

impl tower_api_errors::auth::TokenSource for Rotating {
    fn current(&self) -> tower_api_errors::auth::TokenFuture<'_> {
        self.give("tok_old")
    }
    fn refresh<'a>(
        &'a self,
        _rejected: &'a tower_api_errors::auth::Credential,
    ) -> tower_api_errors::auth::TokenFuture<'a> {
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.give("tok_new")
    }
}
