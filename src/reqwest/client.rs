//! [`ReqwestClient`]: a `reqwest::Client` as a tower service over `http`
//! types, the client under the stack.

use crate::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::Service;

/// A [`reqwest::Client`] as a
/// `Service<http::Request<B>>` answering `http::Response<reqwest::Body>`,
/// so that the crate's layers (which speak `http`) can sit on it.
///
/// A thin adapter over reqwest's own `tower::Service` implementation and
/// its `http` conversions: the request becomes the `reqwest::Request`
/// that `TryFrom<http::Request<_>>` makes (its URL parsed by reqwest's
/// `Url` from the URI's text), its body a `reqwest::Body` streamed from
/// yours ([`reqwest::Body::wrap`]; an empty body is sent as none, and one
/// in memory as its bytes), and the `reqwest::Response` becomes an
/// `http::Response<reqwest::Body>` (`From<reqwest::Response>`). Everything
/// the `reqwest::Client` was built with (timeouts, proxies, TLS, default
/// headers, pools) applies.
///
/// Under [`ApiErrorsLayer`](crate::ApiErrorsLayer) the bodies are the
/// retry layer's replayable copies, so a streamed upload is sent again on
/// a retry without being buffered up front.
///
/// # Redirects that keep the body
///
/// reqwest follows a redirect that must send the body again (a 307 or
/// 308; a 301 or 302 of anything but a POST) only when it can clone the
/// body, which it cannot for a stream. A body in memory (a `Full`, or the
/// retry layer's copy of one: its first poll gives it whole, in one data
/// frame) reaches reqwest as its bytes, and such a redirect is followed
/// as plain reqwest follows it (FastAPI answers a POST to a path without
/// its trailing slash with a 307, for one). A body still streaming when
/// the request is sent (a stream, a body of several frames) reaches it as
/// a stream: such a redirect comes back as the 3xx response itself, a
/// success to the stack; follow its `Location` in your own code.
/// Redirects of a bodiless request (a GET) are followed as reqwest
/// follows them.
///
/// On a redirect to another host, reqwest drops `Authorization` and
/// cookies, but sends every other header on: an
/// [`AuthLayer`](crate::auth::AuthLayer) credential set in a header of
/// its own (`x-api-key`) goes to that host too. For such a vendor, build
/// the client with a redirect policy that stops at another host
/// (`reqwest::redirect::Policy::custom`, comparing `attempt.url()` with
/// `attempt.previous()`), or with `Policy::none()`.
///
/// # Errors
///
/// The error is the [`reqwest::Error`], its URL redacted (no userinfo,
/// credential-like query values replaced: reqwest prints its URL in the
/// error's text); a URI that is not a valid URL is reqwest's builder
/// error. Above the stack it
/// is the source of a [`TransportError`](crate::TransportError), whose
/// [`is_connect`](crate::TransportError::is_connect) recognises reqwest's
/// connect errors by type; [`reqwest_error`](super::reqwest_error) reaches
/// the `reqwest::Error` for `is_timeout()` and the rest.
///
/// # Clone
/// Cheap: clones share the `reqwest::Client`'s connection pool.
#[derive(Clone, Default, Debug)]
pub struct ReqwestClient {
    client: ::reqwest::Client,
}

impl ReqwestClient {
    /// Wraps `client`.
    pub fn new(client: ::reqwest::Client) -> Self {
        ReqwestClient { client }
    }

    /// The `reqwest::Client` inside.
    pub fn get_ref(&self) -> &::reqwest::Client {
        &self.client
    }

    /// Unwraps the `reqwest::Client`.
    pub fn into_inner(self) -> ::reqwest::Client {
        self.client
    }
}

impl From<::reqwest::Client> for ReqwestClient {
    fn from(client: ::reqwest::Client) -> Self {
        ReqwestClient::new(client)
    }
}

impl<B> Service<Request<B>> for ReqwestClient
where
    B: http_body::Body + Send + Sync + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = Response<::reqwest::Body>;
    type Error = ::reqwest::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<::reqwest::Request>::poll_ready(&mut self.client, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // What reqwest can clone where it can: an empty body as none (no
        // allocation, and reqwest's own handling of a GET), one in memory
        // as its bytes (see `body::in_memory_or_stream`), any other a stream.
        let converted = to_reqwest(request.map(super::body::in_memory_or_stream));
        let state = converted.map_err(|error| Some(super::redacted(error)));
        ResponseFuture(state.map(|request| self.client.call(request)))
    }
}

/// `request` as reqwest's, its body already reqwest's (each caller says
/// how it sends one).
///
/// The URL is the one reqwest's own conversion makes (the URI's text,
/// parsed by reqwest's `Url`), its text written once into room made for
/// it rather than grown as it is written. A request carrying extensions
/// (reqwest keeps its per-request settings there, and only its conversion
/// carries them) or a URI that is not a valid URL (whose error only
/// reqwest makes) goes through reqwest's `TryFrom`.
pub(crate) fn to_reqwest(
    request: Request<::reqwest::Body>,
) -> Result<::reqwest::Request, ::reqwest::Error> {
    let (parts, body) = request.into_parts();
    let Some(url) = url_of(&parts) else {
        return ::reqwest::Request::try_from(Request::from_parts(parts, body));
    };
    let mut converted = ::reqwest::Request::new(parts.method, url);
    *converted.headers_mut() = parts.headers;
    *converted.version_mut() = parts.version;
    *converted.body_mut() = Some(body);
    Ok(converted)
}

/// The URL of `parts`, where [`to_reqwest`] need not leave it to reqwest.
fn url_of(parts: &http::request::Parts) -> Option<::reqwest::Url> {
    let uri = Some(&parts.uri).filter(|_| parts.extensions.is_empty())?;
    // The URI's text as its `Display` writes it, in one allocation of the
    // right size (`concat` sums the lengths first), without the
    // formatting machinery.
    let path = uri.path_and_query().map_or("", |path| path.as_str());
    let text = [uri.scheme_str()?, "://", uri.authority()?.as_str(), path].concat();
    ::reqwest::Url::parse(&text).ok()
}

/// reqwest's own response future (a type it does not name).
type Pending = <::reqwest::Client as Service<::reqwest::Request>>::Future;

/// The response future of [`ReqwestClient`].
// reqwest's future, or (the request did not convert) its error, until
// taken. (`Pending` is `Unpin`: no projection.)
pub struct ResponseFuture(Result<Pending, Option<::reqwest::Error>>);

impl Future for ResponseFuture {
    type Output = Result<Response<::reqwest::Body>, ::reqwest::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Ok(pending) => Pin::new(pending)
                .poll(cx)
                .map(|result| result.map(Response::from).map_err(super::redacted)),
            Err(error) => Poll::Ready(Err(error.take().expect("polled after completion"))),
        }
    }
}

opaque_debug!([] ResponseFuture);
