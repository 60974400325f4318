//! A request body as reqwest's: bytes when it is in memory already, so
//! that reqwest can clone it to follow a redirect that keeps the body
//! (307, 308) as it does for a body of its own.

use crate::BoxError;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A frame as reqwest takes it.
type Polled = Result<Frame<Bytes>, BoxError>;

/// `body` as reqwest's. An empty body is none; a body whose first poll
/// gives it whole, one data frame and its end (a `Full`, the retry
/// layer's copy of one), is its bytes, which reqwest can clone to follow
/// a 307 or 308 of the request; any other is a stream, what that poll
/// gave ahead of the rest.
pub(crate) fn in_memory_or_stream<B>(body: B) -> ::reqwest::Body
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        return ::reqwest::Body::default();
    }
    let mut rest = Box::pin(body);
    // Polled without a waker that anyone wakes: a body not ready now goes
    // as a stream, which reqwest polls again with its own.
    let mut cx = Context::from_waker(Waker::noop());
    let first = match rest.as_mut().poll_frame(&mut cx).map(converted) {
        Poll::Ready(Some(Ok(frame))) if frame.is_data() && rest.is_end_stream() => {
            return ::reqwest::Body::from(frame.into_data().unwrap_or_default());
        }
        // Ended: never polled again (a stream may panic if it is).
        Poll::Ready(None) => return ::reqwest::Body::default(),
        Poll::Ready(first) => first,
        Poll::Pending => None,
    };
    ::reqwest::Body::wrap(Prefixed { first, rest })
}

/// A frame as reqwest takes it.
fn converted<D: Into<Bytes>, E: Into<BoxError>>(
    polled: Option<Result<Frame<D>, E>>,
) -> Option<Polled> {
    polled.map(|frame| frame.map(|f| f.map_data(Into::into)).map_err(Into::into))
}

/// A body streamed with what its first poll gave ahead of the rest.
struct Prefixed<B> {
    first: Option<Polled>,
    rest: Pin<Box<B>>,
}

impl<B> Body for Prefixed<B>
where
    B: Body,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Polled>> {
        match self.first.take() {
            Some(first) => Poll::Ready(Some(first)),
            None => self.rest.as_mut().poll_frame(cx).map(converted),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    /// The rest's hint and what went first: an exact length stays exact,
    /// so reqwest sends it as `Content-Length` as it does for the body
    /// itself, not chunked (which presigned uploads refuse).
    fn size_hint(&self) -> SizeHint {
        let first = match &self.first {
            Some(Ok(frame)) => frame.data_ref().map_or(0, |data| data.len() as u64),
            _ => 0,
        };
        crate::replay::size_hint_plus(self.rest.size_hint(), first)
    }
}
