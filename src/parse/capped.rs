//! A response body read up to a cap, one way for both readers: the parse
//! layer reads a failure's body so, and the success peek a success's.

use bytes::{Buf, BufMut, Bytes};
use http::HeaderMap;
use http_body::Body;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Whether a read was cut short: `None` when the body was read to its
/// end; `Some(None)` when it outgrew the cap or stalled past the timeout;
/// `Some(Some(error))` when it failed mid-stream.
pub(super) type Cut<E> = Option<Option<E>>;

/// What a capped read of a body has taken so far.
pub(super) struct Capped {
    pub(super) buffer: Vec<u8>,
    /// The rest of the frame that outgrew the cap, uncopied (the peek
    /// gives it back; the parse layer drops it).
    pub(super) tail: Option<Bytes>,
    pub(super) trailers: Option<HeaderMap>,
    frames: usize,
    timer: Pin<Box<Sleep>>,
}

impl Capped {
    /// A read that gives up on a body stalled for `timeout`.
    pub(super) fn new(timeout: Duration) -> Self {
        Capped {
            buffer: Vec::new(),
            tail: None,
            trailers: None,
            frames: 0,
            timer: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// Reads `body` into the buffer up to `max` bytes, until its end, the
    /// cap, a stall or an error.
    pub(super) fn read<B: Body>(
        &mut self,
        mut body: Pin<&mut B>,
        max: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Cut<B::Error>> {
        loop {
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Some(error))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    ready!(self.timer.as_mut().poll(cx));
                    return Poll::Ready(Some(None));
                }
            };
            // A frame costs at least a byte of the cap: a body always
            // ready with empty frames is never pending, so the timer alone
            // would not stop it.
            self.frames += 1;
            match frame.into_data() {
                Ok(mut data) => {
                    // Up to the cap; the rest of the frame is kept as it is.
                    let take = data.remaining().min(max - self.buffer.len());
                    self.buffer.put((&mut data).take(take));
                    if data.has_remaining() {
                        self.tail = Some(data.copy_to_bytes(data.remaining()));
                        return Poll::Ready(Some(None));
                    }
                }
                Err(frame) => self.trailers = frame.into_trailers().ok().or(self.trailers.take()),
            }
            if self.frames > max {
                return Poll::Ready(Some(None));
            }
        }
    }
}
