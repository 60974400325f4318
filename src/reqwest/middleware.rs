//! [`ApiErrorsMiddleware`]: the stack as a `reqwest_middleware::Middleware`.

use super::client::to_reqwest;
use crate::context::same_uri;
use crate::{redact::RequestContext, ApiError, ApiErrorsLayer, BoxError, Error, TransportError};
use ::reqwest::ResponseBuilderExt;
use ::reqwest_middleware::{Error as MwError, Middleware, Next};
use bytes::Bytes;
use http::Extensions;
use http_body::Body as _;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError as Poison};
use std::task::{Context, Poll, Waker};
use tower::{Layer, Service, ServiceExt};

/// The crate's stack as a [`reqwest_middleware::Middleware`]: an
/// [`ApiErrorsLayer`] (retry, parse, and the auth and quota layers you add
/// to it) over the rest of the middleware chain; see the
/// [module docs](super#reqwest-middleware).
///
/// # Clone
/// Cheap: clones share the retry budget, the credential and the quota
/// store, as the layer's clones do.
#[derive(Clone, Debug)]
pub struct ApiErrorsMiddleware<L = ApiErrorsLayer> {
    layer: L,
}

impl ApiErrorsMiddleware {
    /// The default stack: [`ApiErrorsLayer::new`].
    pub fn new() -> Self {
        ApiErrorsMiddleware::with_layer(ApiErrorsLayer::new())
    }
}

default_from_new!(ApiErrorsMiddleware);

impl<L> ApiErrorsMiddleware<L> {
    /// The stack `layer` makes (an [`ApiErrorsLayer`], configured as you
    /// like), as middleware.
    pub fn with_layer(layer: L) -> Self {
        ApiErrorsMiddleware { layer }
    }
}

impl<A, Q, C> From<ApiErrorsLayer<A, Q, C>> for ApiErrorsMiddleware<ApiErrorsLayer<A, Q, C>> {
    fn from(layer: ApiErrorsLayer<A, Q, C>) -> Self {
        ApiErrorsMiddleware::with_layer(layer)
    }
}

/// What [`ApiErrorsMiddleware`] leaves in a call's middleware extensions
/// (from the moment the call enters it; the middlewares below never see
/// it): finding it there on entry means a middleware above sent the same
/// call through again, and the call is refused ([`SentTwice`]).
///
/// `ClientWithMiddleware::send` makes a fresh map for every request; a map
/// you pass to `execute_with_extensions` yourself must not be reused for
/// another request with this marker in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiErrorsSent;

/// The refusal of a call that a middleware above [`ApiErrorsMiddleware`]
/// sent through it a second time (nothing was sent), or of a further
/// attempt of ours once a middleware below sent one again (reqwest-retry
/// does; the answer it got is handed back when we would not retry it; the
/// attempt refused is not sent, and the refusal ends the call, neither
/// retried nor hedged): retrying there too would multiply the
/// attempts (three of theirs times three of ours are nine sends to an
/// upstream that is already failing). Reaches the caller as the source of
/// a [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentTwice {
    below: bool,
}

impl fmt::Display for SentTwice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.below {
            "refused: a middleware below ApiErrorsMiddleware cloned the request to send it \
             again (it retries already: remove the other retry middleware)"
        } else {
            "refused: a middleware above ApiErrorsMiddleware sent this request again \
             (it retries already: remove the other retry middleware)"
        })
    }
}

impl std::error::Error for SentTwice {}

#[async_trait::async_trait]
impl<L> Middleware for ApiErrorsMiddleware<L>
where
    L: for<'a> Layer<Chain<'a>> + Send + Sync + 'static,
    for<'a> <L as Layer<Chain<'a>>>::Service: Service<
            http::Request<::reqwest::Body>,
            Response = http::Response<::reqwest::Body>,
            Error = Error,
        > + Send,
    for<'a> <<L as Layer<Chain<'a>>>::Service as Service<http::Request<::reqwest::Body>>>::Future:
        Send,
{
    async fn handle(
        &self,
        request: ::reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> ::reqwest_middleware::Result<::reqwest::Response> {
        if extensions.get::<ApiErrorsSent>().is_some() {
            let refused = SentTwice { below: false };
            return Err(wrap(Error::Transport(TransportError::new(refused))));
        }
        let (mut request, origin) = Origin::split(request)?;
        // What the caller attached (a `RetryOverride`, say) is heard by the
        // stack's layers, as an `http::Request`'s extensions are.
        request.extensions_mut().clone_from(extensions);
        let restore = Restore {
            shared: Mutex::new(std::mem::take(extensions)),
            caller: extensions,
        };
        // Marked at once, in the map the caller keeps, so that a middleware
        // above that sends the call again is refused even when it dropped
        // this one midway (its own timeout). The chain below works on the
        // caller's map without the mark: copies of an empty map cost
        // nothing.
        restore.caller.insert(ApiErrorsSent);
        let stack = self.layer.layer(Chain {
            next,
            extensions: &restore.shared,
            origin: &origin,
        });
        let result = stack.oneshot(request).await;
        result.map(::reqwest::Response::from).map_err(wrap)
    }
}

/// The caller's map, lent to the chain below for the call: given back when
/// the call ends or is dropped midway (a middleware above gave up on it),
/// with what the last attempt left there, beside the mark.
struct Restore<'a> {
    caller: &'a mut Extensions,
    shared: Mutex<Extensions>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let lent = self.shared.get_mut().unwrap_or_else(Poison::into_inner);
        self.caller.extend(std::mem::take(lent));
    }
}

fn wrap(error: Error) -> ::reqwest_middleware::Error {
    MwError::Middleware(anyhow::Error::new(error))
}

/// The rest of a middleware chain, below [`ApiErrorsMiddleware`], as the
/// tower service its stack sends each attempt through.
///
/// Each attempt runs the chain with its own copy of the call's middleware
/// extensions; what the last attempt left there is what the call returns.
#[derive(Clone)]
pub struct Chain<'a> {
    next: Next<'a>,
    extensions: &'a Mutex<Extensions>,
    origin: &'a Origin,
}

/// The caller's `reqwest::Request` without its body and headers: what
/// each attempt is sent below as, with the attempt's own method, headers,
/// version and body. It keeps what `http::Request` has no place for
/// (reqwest's per-request settings, such as its timeout) and the URL
/// reqwest parsed already: converting each attempt back with reqwest's
/// `TryFrom` would parse the URL again from the URI's text, the largest
/// cost of a call through the middleware on a fast upstream.
struct Origin {
    template: ::reqwest::Request,
    uri: http::Uri,
    /// The caller's body, when reqwest held it in memory: each attempt
    /// sends it as bytes reqwest can clone, so that reqwest follows a
    /// redirect that keeps the body (307, 308) as it does without us.
    kept: Option<Kept>,
}

/// An in-memory body, and `sends`: how many times the call's attempts
/// waited below (for an answer, or a backoff), with [`RESENT`] set once a
/// middleware below sent an attempt carrying it again (see [`Watch`]).
struct Kept {
    bytes: Bytes,
    sends: Arc<AtomicUsize>,
}

/// The bit of [`Kept`]'s `sends` that says a middleware below sent again.
const RESENT: usize = !(usize::MAX >> 1);

/// In the reqwest extensions of each attempt sent with a body reqwest can
/// clone (the one hook a clone runs). reqwest-retry clones the attempt
/// before each of its sends, and waits for the answer between two: a
/// clone made after the attempt waited below since the previous clone is
/// a second send. Clones made at once are not (middlewares that read,
/// sign or log the body through clones, then send the attempt). Unarmed
/// (`cloned` is `None`) in the template, whose clones are ours: new
/// attempts. `cloned` holds 1 + the call's waits at the last clone.
struct Watch {
    sends: Arc<AtomicUsize>,
    cloned: Option<Arc<AtomicUsize>>,
}

impl Clone for Watch {
    fn clone(&self) -> Self {
        if let Some(cloned) = &self.cloned {
            let now = (self.sends.load(Relaxed) & !RESENT) + 1;
            if ![0, now].contains(&cloned.swap(now, Relaxed)) {
                self.sends.fetch_or(RESENT, Relaxed);
            }
        }
        let sends = self.sends.clone();
        let cloned = Some(self.cloned.clone().unwrap_or_default());
        Watch { sends, cloned }
    }
}

/// `body`'s bytes, when reqwest holds it in memory and it is not empty:
/// taken without a copy (such a body yields them whole, in one frame, at
/// once, whatever the waker).
fn in_memory(mut body: ::reqwest::Body) -> Result<Bytes, ::reqwest::Body> {
    if body.as_bytes().is_none_or(<[u8]>::is_empty) {
        return Err(body);
    }
    match Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().map_err(|_| body),
        _ => Err(body),
    }
}

impl Origin {
    /// `request` as the stack's `http::Request`, and its origin: the
    /// caller's request itself, left without its headers and body.
    fn split(
        mut request: ::reqwest::Request,
    ) -> Result<(http::Request<::reqwest::Body>, Origin), ::reqwest_middleware::Error> {
        // The URI reqwest's own conversion makes, from the same text.
        let uri = match http::Uri::try_from(request.url().as_str()) {
            Ok(uri) => uri,
            // That conversion parses the same text, so fails the same way:
            // its error is the one reqwest users know (ours, typed, should
            // it ever differ).
            Err(invalid) => {
                return Err(match http::Request::try_from(request) {
                    Err(error) => super::redacted(error).into(),
                    Ok(_) => wrap(Error::Transport(TransportError::new(invalid))),
                })
            }
        };
        let body = request.body_mut().take().unwrap_or_default();
        let (body, kept) = match in_memory(body) {
            Ok(bytes) => {
                let sends = Arc::default();
                (bytes.clone().into(), Some(Kept { bytes, sends }))
            }
            Err(body) => (body, None),
        };
        let mut converted = http::Request::new(body);
        *converted.method_mut() = request.method().clone();
        *converted.uri_mut() = uri.clone();
        *converted.version_mut() = request.version();
        *converted.headers_mut() = std::mem::take(request.headers_mut());
        let template = match &kept {
            // reqwest reaches a request's extensions only through its
            // `http` conversions (the URL parsed again: only such a body
            // pays for it).
            Some(kept) => http::Request::try_from(request)
                .map(|mut template| {
                    template.extensions_mut().insert(kept.watch(false));
                    template
                })
                .and_then(::reqwest::Request::try_from)
                .map_err(super::redacted)?,
            None => request,
        };
        let origin = Origin {
            template,
            uri,
            kept,
        };
        Ok((converted, origin))
    }

    /// An attempt as reqwest's request: the origin with the attempt's
    /// method, headers, version and body; reqwest's own conversion when a
    /// layer changed the URI.
    fn rebuild<B>(&self, request: http::Request<B>) -> Result<::reqwest::Request, ::reqwest::Error>
    where
        B: http_body::Body + Send + Sync + 'static,
        B::Data: Into<bytes::Bytes>,
        B::Error: Into<BoxError>,
    {
        let template = same_uri(request.uri(), &self.uri)
            .then(|| self.template.try_clone())
            .flatten();
        let Some(mut rebuilt) = template else {
            let mut request = request;
            if let Some(kept) = &self.kept {
                request.extensions_mut().insert(kept.watch(true));
            }
            // The body as a stream like any other, so that no middleware
            // below can clone the request to send it again (see the docs).
            // The origin's per-request settings (reqwest keeps them where
            // `http` cannot reach: its timeout is all there is) go along.
            let mut rebuilt = to_reqwest(request.map(::reqwest::Body::wrap))?;
            if let Some(timeout) = self.template.timeout() {
                *rebuilt.timeout_mut() = Some(*timeout);
            }
            if let Some(kept) = &self.kept {
                *rebuilt.body_mut() = Some(kept.bytes.clone().into());
            }
            return Ok(rebuilt);
        };
        let (parts, body) = request.into_parts();
        *rebuilt.method_mut() = parts.method;
        *rebuilt.headers_mut() = parts.headers;
        *rebuilt.version_mut() = parts.version;
        // The caller's bytes (the attempt's copy holds the same), else a
        // stream like any other (as above).
        *rebuilt.body_mut() = Some(match &self.kept {
            Some(kept) => kept.bytes.clone().into(),
            None => ::reqwest::Body::wrap(body),
        });
        Ok(rebuilt)
    }

    /// The refusal of an attempt, before it is sent, once a middleware
    /// below sent one again (see [`Watch`]): ours would multiply its sends.
    /// It ends the call: neither retried nor hedged, nothing sent; it names
    /// the call as an error from below would (`method` and the URI).
    fn resent_below(&self, method: &http::Method) -> Result<(), BoxError> {
        let resent = |kept: &Kept| kept.sends.load(Relaxed) & RESENT != 0;
        if !self.kept.as_ref().is_some_and(resent) {
            return Ok(());
        }
        let mut refused = TransportError::new(SentTwice { below: true });
        refused.ends = true;
        refused.set_request(Some(RequestContext::new(method.clone(), self.uri.clone())));
        Err(Error::Transport(refused).into())
    }
}

impl Kept {
    fn watch(&self, armed: bool) -> Watch {
        let (sends, cloned) = (self.sends.clone(), armed.then(Arc::default));
        Watch { sends, cloned }
    }
}

opaque_debug!([] Chain<'_>);

/// The future of one attempt through a [`Chain`].
pub type ChainFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<::reqwest::Body>, BoxError>> + Send + 'a>>;

impl<'a, B> Service<http::Request<B>> for Chain<'a>
where
    B: http_body::Body + Send + Sync + 'static,
    B::Data: Into<bytes::Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<::reqwest::Body>;
    type Error = BoxError;
    type Future = ChainFuture<'a>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (next, shared, origin) = (self.next.clone(), self.extensions, self.origin);
        Box::pin(async move {
            let request = origin.rebuild(request).map_err(super::redacted)?;
            origin.resent_below(request.method())?;
            let mut extensions = crate::lock(shared).clone();
            let (mut sent, kept) = (next.run(request, &mut extensions), &origin.kept);
            // Each wait below counted (see `Watch`).
            let result = std::future::poll_fn(move |cx| {
                let poll = sent.as_mut().poll(cx);
                let waited = kept.as_ref().filter(|_| poll.is_pending());
                waited.map(|kept| kept.sends.fetch_add(1, Relaxed));
                poll
            })
            .await;
            *crate::lock(shared) = extensions;
            match result {
                Ok(response) => Ok(http_response(response)),
                Err(MwError::Reqwest(error)) => Err(super::redacted(error).into()),
                Err(MwError::Middleware(error)) => Err(redact_below(error, &origin.uri)),
            }
        })
    }
}

/// A middleware's error from below, the URLs of the reqwest errors in it
/// redacted as the adapter's own (see [`super::redacted`]) in place, where
/// [`redact_in`] reaches them. Should its text still hold a URL secret (a
/// context of its own naming the URL, a reqwest error another error holds,
/// as reqwest-retry's `RetryError` does), the error is [`Scrubbed`]: those
/// URLs redacted, and the caller's URL secrets replaced as echoes are.
fn redact_below(mut error: anyhow::Error, uri: &http::Uri) -> BoxError {
    redact_in(&mut error, 0);
    let mut urls = vec![];
    held_urls(&error, 0, &mut urls);
    let scrubber = crate::redact::Scrubber::new(Default::default(), Some(uri));
    let scrub = |t: String| {
        let t = urls.iter().fold(t, |t, (url, to)| t.replace(url, to));
        scrubber.scrub(&t).into_owned()
    };
    let texts: Vec<_> = error.chain().take(16).map(|c| c.to_string()).collect();
    let Some(last) = texts.into_iter().rposition(|t| scrub(t.clone()) != t) else {
        return error.into();
    };
    Box::new(Scrubbed(scrub(format!("{error:#}")), error, last + 1))
}

/// A middleware's error from below whose text held a URL secret: that
/// text scrubbed, the error, and the index in its chain of the first cause
/// from which none is left: its source (the types from there reachable, a
/// reqwest error redacted in place).
struct Scrubbed(String, anyhow::Error, usize);

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

opaque_debug!([] Scrubbed);

impl std::error::Error for Scrubbed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.chain().nth(self.2)
    }
}

/// The URLs of the reqwest errors in `error`'s chain, those a
/// `reqwest_middleware::Error` holds included (its sources skip them),
/// each with its printable form. Bounded: a long or deep chain stops here.
fn held_urls(error: &anyhow::Error, depth: u8, found: &mut Vec<(String, String)>) {
    for cause in error.chain().take(16) {
        let url = match cause.downcast_ref::<MwError>() {
            Some(MwError::Reqwest(error)) => error.url(),
            Some(MwError::Middleware(inner)) if depth < 4 => {
                held_urls(inner, depth + 1, found);
                None
            }
            _ => cause.downcast_ref().and_then(::reqwest::Error::url),
        };
        found.extend(url.map(|url| (url.to_string(), super::printable(url).to_string())));
    }
}

/// The reqwest errors in `error` that can be changed in place, redacted:
/// the error itself, under its `.context(..)`, or in a
/// `reqwest_middleware::Error` it holds.
fn redact_in(error: &mut anyhow::Error, depth: u8) {
    if let Some(error) = error.downcast_mut::<::reqwest::Error>() {
        return super::redact(error);
    }
    match error.downcast_mut::<MwError>() {
        Some(MwError::Reqwest(error)) => super::redact(error),
        // Bounded: a long nesting stops here.
        Some(MwError::Middleware(inner)) if depth < 16 => redact_in(inner, depth + 1),
        _ => {}
    }
}

/// reqwest's `http` conversion, keeping the response's URL (which the
/// conversion drops) for the `reqwest::Response` handed back: set among
/// the response's own extensions, through a builder that holds them (the
/// URL's extension type is reqwest's own).
fn http_response(response: ::reqwest::Response) -> http::Response<::reqwest::Body> {
    let url = response.url().clone();
    let (mut parts, body) = http::Response::from(response).into_parts();
    let mut builder = http::Response::builder();
    if let Some(extensions) = builder.extensions_mut() {
        *extensions = std::mem::take(&mut parts.extensions);
    }
    if let Ok(carrier) = builder.url(url).body(()) {
        parts.extensions = carrier.into_parts().0.extensions;
    }
    http::Response::from_parts(parts, body)
}

/// The crate's typed errors reached from a `reqwest_middleware::Error`.
pub trait MiddlewareErrorExt {
    /// The crate's [`Error`], when [`ApiErrorsMiddleware`] failed the call
    /// (found in the source chain too, when another middleware wrapped it).
    fn typed_error(&self) -> Option<&Error>;

    /// The [`ApiError`]: the upstream answered with a failure.
    fn api_error(&self) -> Option<&ApiError> {
        self.typed_error()?.api()
    }
}

impl MiddlewareErrorExt for ::reqwest_middleware::Error {
    fn typed_error(&self) -> Option<&Error> {
        let MwError::Middleware(error) = self else {
            return None;
        };
        // Bounded: a long chain stops here.
        error.chain().take(16).find_map(|cause| {
            cause.downcast_ref::<Error>().or_else(|| {
                // Another middleware's error that names a
                // `reqwest_middleware::Error` as its source (reqwest-retry's
                // `RetryError::WithRetries`).
                match cause.downcast_ref::<MwError>()? {
                    MwError::Middleware(inner) => inner.downcast_ref::<Error>(),
                    MwError::Reqwest(_) => None,
                }
            })
        })
    }
}
