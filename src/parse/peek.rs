//! Errors inside successes (opt-in): [`SuccessPeekLayer`] peeks at small
//! 2xx bodies of chosen content types and turns those a
//! [`FailureInSuccess`] detector recognises into typed errors.

use super::{DialectInput, ErrorParser, DEFAULT_BODY_TIMEOUT};
use crate::classify::{Classification, Failure};
use crate::error::BoxError;
use crate::redact::RequestContext;
use crate::{Error, ErrorKind};
use bytes::{Buf, Bytes};
use http::response::Parts;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tower::{Layer, Service};

/// Says whether a 2xx body is really a failure. Detectors are strict (a
/// success that merely mentions an error must pass); the body a detector
/// flags is then read by the [`ErrorParser`]'s dialects like any failure.
pub trait FailureInSuccess: Send + Sync + 'static {
    /// True when this success is a failure in disguise.
    fn is_failure(&self, input: &DialectInput<'_>) -> bool;
}

/// `{"ok": false, "error": "..."}`, as Slack's Web API answers with 200.
#[derive(Debug, Clone, Copy, Default)]
pub struct OkFalse;

impl FailureInSuccess for OkFalse {
    fn is_failure(&self, input: &DialectInput<'_>) -> bool {
        input
            .json()
            .and_then(|json| json.get("ok"))
            .is_some_and(|ok| ok == &Value::Bool(false))
    }
}

/// A GraphQL response with `errors` and no `data` (null or absent): the
/// request failed as a whole (a partial result, with `data`, is a success).
#[derive(Debug, Clone, Copy, Default)]
pub struct GraphQlErrors;

impl FailureInSuccess for GraphQlErrors {
    fn is_failure(&self, input: &DialectInput<'_>) -> bool {
        let Some(object) = input.json().and_then(Value::as_object) else {
            return false;
        };
        let has_errors = object
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|errors| !errors.is_empty());
        has_errors && object.get("data").is_none_or(Value::is_null)
    }
}

/// An XML document whose root element is `<Error>`, as S3 sends under 200
/// when a copy or a multipart completion fails after the response started.
#[derive(Debug, Clone, Copy, Default)]
pub struct XmlErrorRoot;

impl FailureInSuccess for XmlErrorRoot {
    fn is_failure(&self, input: &DialectInput<'_>) -> bool {
        let Ok(text) = std::str::from_utf8(input.body()) else {
            return false;
        };
        let mut rest = text.trim_start_matches('\u{feff}').trim_start();
        // Skip the declaration, comments and processing instructions.
        while let Some(after) = rest
            .strip_prefix("<?")
            .or_else(|| rest.strip_prefix("<!--"))
        {
            let Some(end) = after.find('>') else {
                return false;
            };
            rest = after[end + 1..].trim_start();
        }
        rest.strip_prefix("<Error")
            .is_some_and(|after| after.starts_with(['>', ' ', '\n', '\r', '\t']))
    }
}

/// Peeks at successes for failures in disguise (issue: a 200 whose body
/// says it failed). Place it directly above the
/// [`ErrorBodyParseLayer`](super::ErrorBodyParseLayer):
/// `RetryLayer -> SuccessPeekLayer -> ErrorBodyParseLayer -> ...`.
///
/// Only a 2xx response whose `Content-Type` is one of the chosen ones
/// (JSON and XML by default) and whose `Content-Length`, if any, is within
/// the cap (16 KiB by default) is peeked: its body is read up to the cap,
/// for at most 10 s. When a detector ([`OkFalse`], [`GraphQlErrors`],
/// [`XmlErrorRoot`], or yours) flags it, it becomes `Err(Error::Api(..))`,
/// kind [`ErrorKind::Other`] adjusted by its [`BodyVerdict`](super::BodyVerdict)
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

struct PeekConfig {
    content_types: Vec<String>,
    max_bytes: usize,
    timeout: Duration,
    detectors: Vec<Arc<dyn FailureInSuccess>>,
    parser: ErrorParser,
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

impl fmt::Debug for SuccessPeekLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuccessPeekLayer")
            .field("content_types", &self.config.content_types)
            .field("max_bytes", &self.config.max_bytes)
            .field("detectors", &self.config.detectors.len())
            .finish()
    }
}

impl SuccessPeekLayer {
    /// JSON and XML successes up to 16 KiB, with the three built-in detectors.
    pub fn new() -> Self {
        SuccessPeekLayer::default()
    }

    fn edit(mut self, change: impl FnOnce(&mut PeekConfig)) -> Self {
        let config = Arc::get_mut(&mut self.config).expect("a layer being built is not shared");
        change(config);
        self
    }

    /// Only these content types (essence, compared without case) are peeked.
    pub fn content_types<I: IntoIterator<Item = T>, T: Into<String>>(self, types: I) -> Self {
        let types = types.into_iter().map(Into::into).collect();
        self.edit(|config| config.content_types = types)
    }

    /// The most bytes peeked; a longer body is given back unread.
    pub fn max_bytes(self, max: usize) -> Self {
        self.edit(|config| config.max_bytes = max)
    }

    /// Adds a detector, tried after those already there.
    pub fn detector(self, detector: impl FailureInSuccess) -> Self {
        self.edit(|config| config.detectors.push(Arc::new(detector)))
    }

    /// The parser that reads a flagged body (yours, with your dialects).
    pub fn parser(self, parser: ErrorParser) -> Self {
        self.edit(|config| config.parser = parser)
    }
}

impl<S> Layer<S> for SuccessPeekLayer {
    type Service = SuccessPeek<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SuccessPeek {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`SuccessPeekLayer`].
#[derive(Clone)]
pub struct SuccessPeek<S> {
    inner: S,
    config: Arc<PeekConfig>,
}

impl<S: fmt::Debug> fmt::Debug for SuccessPeek<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuccessPeek")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SuccessPeek<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
{
    type Response = Response<PeekBody<ResBody>>;
    type Error = Error;
    type Future = PeekFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| Error::from_inner(error, None))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let context = RequestContext::new(request.method().clone(), request.uri().clone());
        PeekFuture {
            state: PeekState::Calling {
                future: self.inner.call(request),
            },
            config: self.config.clone(),
            context: Some(context),
        }
    }
}

pin_project! {
    /// The response future of [`SuccessPeek`].
    pub struct PeekFuture<F, B> {
        #[pin]
        state: PeekState<F, B>,
        config: Arc<PeekConfig>,
        context: Option<RequestContext>,
    }
}

impl<F, B> fmt::Debug for PeekFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeekFuture").finish_non_exhaustive()
    }
}

pin_project! {
    #[project = PeekStateProj]
    enum PeekState<F, B> {
        Calling { #[pin] future: F },
        // Boxed and taken when done: only peeked responses pay for it.
        Peeking { peek: Option<Box<Peek<B>>> },
        Done,
    }
}

struct Peek<B> {
    parts: Parts,
    body: Pin<Box<B>>,
    buffer: Vec<u8>,
    trailers: Option<HeaderMap>,
    timer: Pin<Box<Sleep>>,
}

impl PeekConfig {
    /// Whether a response is worth peeking at.
    fn wants<B>(&self, response: &Response<B>) -> bool {
        if !response.status().is_success() {
            return false;
        }
        let headers = response.headers();
        let Some(essence) = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
        else {
            return false;
        };
        let essence = essence.trim();
        let small = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
            .is_none_or(|length| length <= self.max_bytes as u64);
        small
            && self
                .content_types
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(essence))
    }
}

impl<F, B, E> Future for PeekFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
{
    type Output = Result<Response<PeekBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                PeekStateProj::Calling { future } => {
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(PeekState::Done);
                            return Poll::Ready(Err(Error::from_inner(error, this.context.take())));
                        }
                    };
                    if !this.config.wants(&response) {
                        this.state.set(PeekState::Done);
                        return Poll::Ready(Ok(response.map(|body| PeekBody {
                            inner: Inner::Untouched { body },
                        })));
                    }
                    let (parts, body) = response.into_parts();
                    let peek = Peek {
                        parts,
                        body: Box::pin(body),
                        buffer: Vec::new(),
                        trailers: None,
                        timer: Box::pin(tokio::time::sleep(this.config.timeout)),
                    };
                    this.state.set(PeekState::Peeking {
                        peek: Some(Box::new(peek)),
                    });
                }
                PeekStateProj::Peeking { peek: slot } => {
                    let peek = slot.as_mut().expect("the peek is taken once, when it ends");
                    // Read until the end, the cap, a stall or an error.
                    let (ended, error) = loop {
                        match peek.body.as_mut().poll_frame(cx) {
                            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                                Ok(mut data) => {
                                    while data.has_remaining() {
                                        let chunk = data.chunk();
                                        peek.buffer.extend_from_slice(chunk);
                                        let n = chunk.len();
                                        data.advance(n);
                                    }
                                    if peek.buffer.len() > this.config.max_bytes {
                                        break (false, None);
                                    }
                                }
                                Err(frame) => {
                                    if let Ok(trailers) = frame.into_trailers() {
                                        peek.trailers = Some(trailers);
                                    }
                                }
                            },
                            Poll::Ready(Some(Err(error))) => break (false, Some(error)),
                            Poll::Ready(None) => break (true, None),
                            Poll::Pending => {
                                ready!(peek.timer.as_mut().poll(cx));
                                break (false, None);
                            }
                        }
                    };
                    let peek = slot.take().expect("the peek is taken once, when it ends");
                    this.state.set(PeekState::Done);
                    let Peek {
                        parts,
                        body,
                        buffer,
                        trailers,
                        ..
                    } = *peek;
                    if ended {
                        let json: Option<Value> = serde_json::from_slice(&buffer).ok();
                        let input =
                            DialectInput::new(parts.status, &parts.headers, &buffer, json.as_ref());
                        if this.config.detectors.iter().any(|d| d.is_failure(&input)) {
                            let verdict = Classification::Failure(
                                Failure::new(ErrorKind::Other).with_retryable(false),
                            );
                            let mut error = this.config.parser.parse_classified(
                                parts.status,
                                &parts.headers,
                                &buffer,
                                verdict,
                            );
                            error.set_request(this.context.take());
                            crate::observe::api_error(&error);
                            return Poll::Ready(Err(Error::Api(error)));
                        }
                    }
                    let body = PeekBody {
                        inner: Inner::Peeked {
                            prefix: (!buffer.is_empty()).then(|| Bytes::from(buffer)),
                            error,
                            rest: (!ended).then_some(body),
                            trailers,
                        },
                    };
                    return Poll::Ready(Ok(Response::from_parts(parts, body)));
                }
                PeekStateProj::Done => panic!("PeekFuture polled after completion"),
            }
        }
    }
}

pin_project! {
    /// The body of a response that passed [`SuccessPeekLayer`]: the inner
    /// body untouched, or the bytes peeked and then the rest, unchanged.
    pub struct PeekBody<B: Body> {
        #[pin]
        inner: Inner<B>,
    }
}

impl<B: Body> fmt::Debug for PeekBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeekBody").finish_non_exhaustive()
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<B: Body> {
        Untouched { #[pin] body: B },
        Peeked {
            prefix: Option<Bytes>,
            error: Option<B::Error>,
            rest: Option<Pin<Box<B>>>,
            trailers: Option<HeaderMap>,
        },
    }
}

impl<B: Body> Body for PeekBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let to_bytes =
            |frame: Frame<B::Data>| frame.map_data(|mut d| d.copy_to_bytes(d.remaining()));
        match self.project().inner.project() {
            InnerProj::Untouched { body } => {
                body.poll_frame(cx).map(|f| f.map(|f| f.map(to_bytes)))
            }
            InnerProj::Peeked {
                prefix,
                error,
                rest,
                trailers,
            } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                if let Some(error) = error.take() {
                    return Poll::Ready(Some(Err(error)));
                }
                if let Some(body) = rest {
                    return body
                        .as_mut()
                        .poll_frame(cx)
                        .map(|f| f.map(|f| f.map(to_bytes)));
                }
                Poll::Ready(
                    trailers
                        .take()
                        .map(|trailers| Ok(Frame::trailers(trailers))),
                )
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Untouched { body } => body.is_end_stream(),
            Inner::Peeked {
                prefix,
                error,
                rest,
                trailers,
            } => {
                prefix.is_none()
                    && error.is_none()
                    && trailers.is_none()
                    && rest.as_ref().is_none_or(|body| body.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Untouched { body } => body.size_hint(),
            Inner::Peeked { prefix, rest, .. } => {
                let peeked = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let mut hint = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint());
                hint.set_lower(hint.lower() + peeked);
                if let Some(upper) = hint.upper() {
                    hint.set_upper(upper + peeked);
                }
                hint
            }
        }
    }
}
