//! [`SuccessPeekLayer`] and its configuration.

use super::{FailureInSuccess, GraphQlErrors, OkFalse, SuccessPeek, XmlErrorRoot};
use crate::parse::dialect::essence;
use crate::parse::{ErrorParser, DEFAULT_BODY_TIMEOUT};
use http::Response;
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;
/// Peeks at successes for failures in disguise (issue: a 200 whose body
/// says it failed). Place it directly above the
/// [`ErrorBodyParseLayer`](crate::ErrorBodyParseLayer):
/// `RetryLayer -> SuccessPeekLayer -> ErrorBodyParseLayer -> ...`.
///
/// Only a 2xx response whose `Content-Type` is one of the chosen ones
/// (JSON and XML by default) and whose `Content-Length`, if any, is within
/// the cap (16 KiB by default) is peeked: its body is read up to the cap,
/// for at most 10 s. When a detector ([`OkFalse`], [`GraphQlErrors`],
/// [`XmlErrorRoot`], or yours) flags it, it becomes `Err(Error::Api(..))`,
/// kind [`ErrorKind::Other`](crate::ErrorKind::Other) adjusted by its [`BodyVerdict`](crate::parse::BodyVerdict)
/// (GraphQL's `RATE_LIMITED` and S3's `SlowDown` are retryable rate
/// limits); otherwise the response is given back with its bytes unchanged
/// (a body that outgrew the cap, stalled or failed is given back as it
/// was, its error included). Every other response passes untouched.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::{BodyExt, Full};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_api_errors::parse::SuccessPeekLayer;
/// use tower_api_errors::{Error, ErrorBodyParseLayer, ErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let upstream = service_fn(|req: Request<()>| async move {
///     let body: &'static [u8] = match req.uri().path() {
///         "/ok" => br#"{"ok": true, "channel": "C123"}"#,
///         _ => br#"{"ok": false, "error": "ratelimited"}"#,
///     };
///     let response = Response::builder().header("content-type", "application/json");
///     Ok::<_, std::convert::Infallible>(response.body(Full::new(Bytes::from_static(body))).unwrap())
/// });
/// let client = ServiceBuilder::new()
///     .layer(SuccessPeekLayer::new())
///     .layer(ErrorBodyParseLayer::new())
///     .service(upstream);
///
/// let ok = client.clone().oneshot(Request::get("/ok").body(()).unwrap()).await.unwrap();
/// assert_eq!(ok.into_body().collect().await.unwrap().to_bytes(), r#"{"ok": true, "channel": "C123"}"#);
///
/// let Err(Error::Api(error)) = client.oneshot(Request::get("/post").body(()).unwrap()).await else { panic!() };
/// assert_eq!(error.code(), Some("ratelimited"));
/// assert_eq!(error.kind(), ErrorKind::RateLimited);
/// assert!(error.is_retryable());
/// # }
/// ```
///
/// # Clone
/// Cheap: the configuration is shared behind an `Arc`.
#[derive(Clone)]
pub struct SuccessPeekLayer {
    config: Arc<PeekConfig>,
}

#[derive(Clone)]
pub(super) struct PeekConfig {
    content_types: Vec<String>,
    pub(super) max_bytes: usize,
    pub(super) timeout: Duration,
    pub(super) detectors: Vec<Arc<dyn FailureInSuccess>>,
    pub(super) parser: ErrorParser,
}

/// The default cap on a peeked success body.
pub const DEFAULT_MAX_PEEK: usize = 16 * 1024;

impl Default for SuccessPeekLayer {
    fn default() -> Self {
        SuccessPeekLayer {
            config: Arc::new(PeekConfig {
                content_types: [
                    "application/json",
                    "application/graphql-response+json",
                    "application/xml",
                    "text/xml",
                ]
                .map(String::from)
                .to_vec(),
                max_bytes: DEFAULT_MAX_PEEK,
                timeout: DEFAULT_BODY_TIMEOUT,
                detectors: vec![
                    Arc::new(OkFalse),
                    Arc::new(GraphQlErrors),
                    Arc::new(XmlErrorRoot),
                ],
                parser: ErrorParser::new(),
            }),
        }
    }
}

debug_fields!([] SuccessPeekLayer (&self) {
    content_types: self.config.content_types,
    max_bytes: self.config.max_bytes,
    detectors: self.config.detectors.len(),
});

impl SuccessPeekLayer {
    /// JSON and XML successes up to 16 KiB, with the three built-in detectors.
    pub fn new() -> Self {
        SuccessPeekLayer::default()
    }

    /// Only these content types (essence, compared without case) are peeked.
    pub fn content_types<I: IntoIterator<Item = T>, T: Into<String>>(mut self, types: I) -> Self {
        let types = types.into_iter().map(Into::into).collect();
        Arc::make_mut(&mut self.config).content_types = types;
        self
    }

    config_setters! {
        config;

        /// The most bytes peeked; a longer body is given back unread.
        pub fn max_bytes(max: usize) |c| c.max_bytes = max;

        /// Adds a detector, tried after those already there.
        pub fn detector(detector: impl FailureInSuccess) |c| c.detectors.push(Arc::new(detector));

        /// The parser that reads a flagged body (yours, with your dialects).
        pub fn parser(parser: ErrorParser) |c| c.parser = parser;
    }
}

impl<S> Layer<S> for SuccessPeekLayer {
    type Service = SuccessPeek<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SuccessPeek::new(inner, self.config.clone())
    }
}

impl PeekConfig {
    /// Whether a response is worth peeking at.
    pub(super) fn wants<B>(&self, response: &Response<B>) -> bool {
        let headers = response.headers();
        let wanted = |essence: &str| {
            let mut types = self.content_types.iter();
            types.any(|wanted| wanted.eq_ignore_ascii_case(essence))
        };
        let length = || {
            let length = headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?;
            length.parse::<u64>().ok()
        };
        response.status().is_success()
            && essence(headers).is_some_and(wanted)
            && length().is_none_or(|length| length <= self.max_bytes as u64)
    }
}
