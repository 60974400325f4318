//! [`PeekBody`]: the body of a response that passed the peek layer.

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};
pin_project! {
    /// The body of a response that passed [`SuccessPeekLayer`](super::SuccessPeekLayer): the inner
    /// body untouched, or the bytes peeked and then the rest, unchanged.
    pub struct PeekBody<B: Body> {
        #[pin]
        pub(super) inner: Inner<B>,
    }
}

opaque_debug!([B: Body] PeekBody<B>);

pin_project! {
    #[project = InnerProj]
    pub(super) enum Inner<B: Body> {
        Untouched { #[pin] body: B },
        // The bytes peeked (and the uncopied rest of a frame that outgrew
        // the cap), then what the peek ended on (an error), then the rest of
        // the body (when the peek stopped before its end), then its trailers.
        Peeked {
            prefix: [Option<Bytes>; 2],
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
        let mut forward =
            |body: Pin<&mut B>| body.poll_frame(cx).map(|f| f.map(|f| f.map(to_bytes)));
        match self.project().inner.project() {
            InnerProj::Untouched { body } => forward(body),
            InnerProj::Peeked {
                prefix,
                error,
                rest,
                trailers,
            } => {
                if let Some(bytes) = prefix.iter_mut().find_map(Option::take) {
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                if let Some(error) = error.take() {
                    return Poll::Ready(Some(Err(error)));
                }
                if let Some(body) = rest {
                    return forward(body.as_mut());
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
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
                prefix.iter().all(Option::is_none)
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
                let peeked = prefix.iter().flatten().map(|p| p.len() as u64).sum();
                let rest = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint());
                crate::replay::size_hint_plus(rest, peeked)
            }
        }
    }
}

impl<B: Body> PeekBody<B> {
    /// The inner body, untouched (a response that was not peeked at).
    pub(super) fn untouched(body: B) -> Self {
        let inner = Inner::Untouched { body };
        PeekBody { inner }
    }
}
