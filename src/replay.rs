//! [`ReplayBody`]: a request body that can be sent again without being
//! buffered up front.

use crate::error::Message;
use crate::lock;
use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use std::fmt;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

/// The default replay cap: 64 KiB.
pub const DEFAULT_MAX_REPLAY: usize = 64 * 1024;

/// A request body that the retry layer can send again.
///
/// The first attempt streams the original body and keeps each chunk it
/// streams (chunks of `Bytes` are kept by reference count, not copied), up
/// to a cap (and in at most one chunk per 32 bytes of it, and 64 at
/// least: a chunk's handle costs 32 bytes, so a body of one-byte frames
/// holds about twice the cap at most, not 32 times). A retry's copy
/// replays the kept chunks, then goes on reading
/// the original where the last attempt left it (the server may have
/// answered before reading everything). Nothing is buffered before the
/// first attempt needs it (but for a hedged call's body of known length,
/// which the hedge layer keeps before the first send).
///
/// A body that outgrows the cap stops being kept: the attempt in flight
/// still streams it in full, but it can no longer be replayed, and the retry
/// layer gives up rather than send a partial body
/// ([`StopReason::BodyNotReplayable`](crate::StopReason::BodyNotReplayable)).
/// Nor is a body whose own stream failed
/// ([`StopReason::BodyFailed`](crate::StopReason::BodyFailed)).
///
/// An empty body (`is_end_stream()` at the start, as for most GETs) costs
/// nothing: no shared state is allocated.
///
/// The original body must be `Unpin`; wrap one that is not with
/// `http_body_util::BodyExt::boxed`.
pub struct ReplayBody<B> {
    shared: Option<Arc<Mutex<Shared<B>>>>,
    /// How many kept chunks this copy has yielded, or [`DIRECT`].
    position: usize,
    /// Whether this copy has yielded the trailers.
    trailers_sent: bool,
    /// The reader generation this copy claimed when it first read; `None`
    /// before that. (Non-zero, so that the body is as small as the
    /// `Full<Bytes>` it usually wraps: a client moves the request through
    /// its channels several times.)
    generation: Option<NonZeroU64>,
}

/// The position of a copy that streams the original without keeping it:
/// the one in flight when the body outgrew the cap.
const DIRECT: usize = usize::MAX;

struct Shared<B> {
    original: Option<B>,
    kept: Vec<Bytes>,
    kept_bytes: usize,
    trailers: Option<HeaderMap>,
    /// The original has ended (its end or its trailers read) or failed.
    complete: bool,
    /// More was streamed than `max` allows, or the original failed: the
    /// body cannot be sent again.
    unreplayable: bool,
    /// The original failed (its own error, not the cap): the retry layer
    /// says so rather than blame the cap.
    failed: bool,
    max: usize,
    /// The generation of the copy that most recently started reading: the
    /// only one allowed to read. An abandoned attempt's copy may still be
    /// polled by a connection task after a retry has started; were both to
    /// poll the original body, each would replace the other's waker and the
    /// retry could wait forever.
    generation: u64,
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, keeping at most `max` bytes for replays.
    pub fn new(body: B, max: usize) -> Self {
        if body.is_end_stream() {
            return ReplayBody::copy(None, 0);
        }
        let size_hint = body.size_hint();
        // A body whose exact length is already over the cap can never be
        // replayed: say so from the start rather than keep bytes for nothing,
        // and let this first copy stream it directly.
        let unreplayable = size_hint.lower() > max as u64;
        let shared = Arc::new(Mutex::new(Shared {
            original: Some(body),
            kept: Vec::new(),
            kept_bytes: 0,
            trailers: None,
            complete: false,
            unreplayable,
            failed: false,
            max,
            generation: 0,
        }));
        ReplayBody::copy(Some(shared), if unreplayable { DIRECT } else { 0 })
    }
}

impl<B> ReplayBody<B> {
    /// A copy reading `shared` from `position`, before it has claimed a turn.
    fn copy(shared: Option<Arc<Mutex<Shared<B>>>>, position: usize) -> Self {
        ReplayBody {
            shared,
            position,
            trailers_sent: false,
            generation: None,
        }
    }

    field_getters! {
        /// True while the body can still be sent again in full.
        pub fn is_replayable -> bool { shared.as_ref().is_none_or(|s| !lock(s).unreplayable) }

        /// True when the original itself failed while being read.
        pub(crate) fn has_failed -> bool { shared.as_ref().is_some_and(|s| lock(s).failed) }
    }

    /// True when the original was read to its end and kept whole (or was
    /// empty): a copy can then be sent while another attempt is still in
    /// flight, since neither reads the original any more (what a hedge
    /// needs; a copy that starts reading while another streams the
    /// original would supersede it).
    pub(crate) fn is_complete(&self) -> bool
    where
        B: Body,
    {
        self.shared.as_ref().is_none_or(|shared| {
            let state = lock(shared);
            // A client that knows the length stops at the last byte
            // without reading the end: the original says it is over.
            let over = state.complete || state.original.as_ref().is_some_and(Body::is_end_stream);
            over && !state.unreplayable
        })
    }

    /// Reads ahead a body of known length within the cap, as far as it
    /// yields without waiting (a `Full`: whole), so that it is
    /// [complete](Self::is_complete) before any attempt reads it: what a
    /// hedge of a call whose first attempt is still connecting needs. A
    /// streaming body is left to the attempts.
    pub(crate) fn read_ahead(&self)
    where
        B: Body + Unpin,
        B::Error: Into<crate::BoxError>,
    {
        let fits = |n| n <= self.shared.as_ref().map_or(0, |s| lock(s).max) as u64;
        let Some(true) = self.size_hint().exact().map(fits) else {
            return;
        };
        let (mut reader, mut cx) = (self.replay(), Context::from_waker(std::task::Waker::noop()));
        let mut read = || Pin::new(&mut reader).poll_frame(&mut cx);
        while matches!(read(), Poll::Ready(Some(Ok(_)))) {}
    }

    /// A fresh copy of the body, which starts again from the first byte: what
    /// a retry sends. (This is what `tower::retry::Policy::clone_request`
    /// needs, for users who drive tower's own `Retry` with a `ReplayBody`.)
    ///
    /// Reading a copy of a body that is no longer replayable fails with an
    /// error rather than send a partial body; check
    /// [`is_replayable`](Self::is_replayable) first.
    ///
    /// The copy that most recently started reading is the live one: once a
    /// copy reads, older copies fail with an error if they are read again
    /// (their attempt has been given up), so an abandoned attempt can never
    /// interfere with the retry.
    pub fn replay(&self) -> Self {
        ReplayBody::copy(self.shared.clone(), 0)
    }
}

/// What a copy's read yields: a frame, the end, or an error.
type Polled = Option<Result<Frame<Bytes>, crate::BoxError>>;

/// Claims the right to read for the copy whose claimed generation is
/// `generation` (claiming a new one on its first read). False when a newer
/// copy has started reading since: this one's attempt was given up.
fn claim<B>(generation: &mut Option<NonZeroU64>, state: &mut Shared<B>) -> bool {
    match *generation {
        None => {
            state.generation += 1;
            *generation = NonZeroU64::new(state.generation);
            true
        }
        Some(claimed) => claimed.get() == state.generation,
    }
}

/// Where a copy is in the body, while it reads.
struct Cursor<'a> {
    position: &'a mut usize,
    trailers_sent: &'a mut bool,
    /// The copy streams the original without keeping it.
    direct: bool,
}

impl Cursor<'_> {
    /// The next kept chunk, or the end (trailers first) of a body read to
    /// its end; `None` when the original must be read on.
    fn replay_kept<B>(&mut self, state: &Shared<B>) -> Option<Polled> {
        if !self.direct {
            if state.unreplayable {
                // This copy would have to resend bytes that were not kept.
                // The retry layer checks `is_replayable` and never sends one.
                return Some(Some(Err(not_replayable(state.failed).into())));
            }
            if let Some(chunk) = state.kept.get(*self.position).cloned() {
                *self.position += 1;
                return Some(Some(Ok(Frame::data(chunk))));
            }
        }
        if !state.complete {
            return None;
        }
        if !*self.trailers_sent {
            *self.trailers_sent = true;
            if let Some(trailers) = state.trailers.clone() {
                return Some(Some(Ok(Frame::trailers(trailers))));
            }
        }
        Some(None)
    }

    /// What the original yielded, kept (up to the cap) and passed on;
    /// `None` for a frame kind this crate does not know.
    fn streamed<B>(
        self,
        state: &mut Shared<B>,
        polled: Option<Result<Frame<B::Data>, B::Error>>,
    ) -> Option<Polled>
    where
        B: Body,
        B::Error: Into<crate::BoxError>,
    {
        let frame = match polled {
            None => {
                state.complete = true;
                state.original = None;
                *self.trailers_sent = true;
                return Some(None);
            }
            Some(Err(error)) => {
                state.complete = true;
                state.unreplayable = true;
                state.failed = true;
                state.original = None;
                return Some(Some(Err(error.into())));
            }
            Some(Ok(frame)) => frame,
        };
        let frame = match frame.into_data() {
            Ok(mut data) => {
                let chunk = data.copy_to_bytes(data.remaining());
                self.keep(state, &chunk);
                // An original that says it has ended (a `Full`, after its
                // one frame) is complete now: a client that asks
                // `is_end_stream` ends the stream with this frame.
                if state.original.as_ref().is_some_and(Body::is_end_stream) {
                    state.complete = true;
                    state.original = None;
                }
                Frame::data(chunk)
            }
            Err(frame) => {
                let trailers = frame.into_trailers().ok()?;
                // Trailers are the last frame: the body is complete now,
                // not at a final `None` that an HTTP/2 client never polls.
                state.trailers = Some(trailers.clone());
                state.complete = true;
                state.original = None;
                *self.trailers_sent = true;
                Frame::trailers(trailers)
            }
        };
        Some(Some(Ok(frame)))
    }

    /// Keeps `chunk` for replays, unless the body outgrows the cap (then
    /// it can no longer be replayed, and this copy streams on directly).
    /// An empty chunk carries nothing to replay: kept, empty frames would
    /// grow the kept list past any cap, which counts bytes. Nor are more
    /// chunks kept than [`most_chunks`] allows: each costs its handle.
    fn keep<B>(self, state: &mut Shared<B>, chunk: &Bytes) {
        if self.direct || chunk.is_empty() {
            return;
        }
        let chunks = state.kept.len() + 1;
        if state.kept_bytes + chunk.len() > state.max || chunks > most_chunks(state.max) {
            state.unreplayable = true;
            state.kept = Vec::new();
            *self.position = DIRECT;
        } else {
            state.kept_bytes += chunk.len();
            state.kept.push(chunk.clone());
            *self.position = state.kept.len();
        }
    }
}

/// The most chunks a body kept within the cap `max` may be in: one per
/// 32 bytes of it (what a chunk's `Bytes` handle costs), and 64 at least,
/// so that a body of one-byte frames holds about twice the cap at most,
/// not 32 times its bytes, while a small cap still takes a few chunks.
fn most_chunks(max: usize) -> usize {
    max / std::mem::size_of::<Bytes>() + 64
}

/// `hint` with `more` bytes ahead of it: exact stays exact.
pub(crate) fn size_hint_plus(hint: SizeHint, more: u64) -> SizeHint {
    let mut sum = SizeHint::new();
    sum.set_lower(hint.lower().saturating_add(more));
    if let Some(upper) = hint.upper() {
        sum.set_upper(upper.saturating_add(more));
    }
    sum
}

impl<B> Body for ReplayBody<B>
where
    B: Body + Unpin,
    B::Error: Into<crate::BoxError>,
{
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Polled> {
        let this = &mut *self;
        let Some(shared) = &this.shared else {
            return Poll::Ready(None);
        };
        let mut state = lock(shared);
        // (Copies of a body kept whole only replay it: two hedged attempts.)
        let whole = state.complete && !state.unreplayable;
        if !claim(&mut this.generation, &mut state) && !whole {
            return Poll::Ready(Some(Err(SUPERSEDED.into())));
        }
        let mut cursor = Cursor {
            direct: this.position == DIRECT,
            position: &mut this.position,
            trailers_sent: &mut this.trailers_sent,
        };
        if let Some(replayed) = cursor.replay_kept(&state) {
            return Poll::Ready(replayed);
        }
        let Some(original) = state.original.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = ready!(Pin::new(original).poll_frame(cx));
        // A frame kind this crate does not know: pass nothing on, and be
        // polled again for the next one.
        let Some(frame) = cursor.streamed(&mut state, polled) else {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.shared.as_ref().is_none_or(|shared| {
            let state = lock(shared);
            let replayed_all = self.position == DIRECT || self.position >= state.kept.len();
            state.complete && replayed_all && (self.trailers_sent || state.trailers.is_none())
        })
    }

    /// What this copy has still to yield: the kept chunks past its
    /// position and what the original has left. Exact when the original's
    /// is, so a client sends it as `Content-Length` on every attempt
    /// (a hint of the whole, once a copy has yielded part of it, would
    /// announce more than follows). A stream of unknown length is exact
    /// too once it has ended: its replays go out with `Content-Length`
    /// where the first attempt was chunked (the same bytes).
    fn size_hint(&self) -> SizeHint {
        let Some(shared) = &self.shared else {
            return SizeHint::with_exact(0);
        };
        let state = lock(shared);
        // (A copy past the cap, at `DIRECT`, skips every kept chunk.)
        let kept = state.kept.iter().skip(self.position).map(Bytes::len);
        // The original is dropped once it has ended: nothing left of it.
        let rest = state.original.as_ref();
        let rest = rest.map_or(SizeHint::with_exact(0), B::size_hint);
        size_hint_plus(rest, kept.sum::<usize>() as u64)
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayBody")
            .field("replayable", &self.is_replayable())
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Why a copy's read failed: an abandoned attempt's copy read after a
/// newer copy started, or a copy of a body that stopped being kept (the
/// original failed, or outgrew the cap).
const SUPERSEDED: Message = Message("request body superseded by a retry of the same request");

fn not_replayable(failed: bool) -> Message {
    Message(if failed {
        "request body failed while being sent and cannot be sent again"
    } else {
        "request body outgrew the replay cap and cannot be sent again"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// Yields its chunks one per poll.
    struct Chunks(VecDeque<&'static str>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))),
            )
        }
    }

    fn chunks(parts: &[&'static str]) -> Chunks {
        Chunks(parts.iter().copied().collect())
    }

    /// A body is kept in at most one chunk per 32 bytes of the cap (a
    /// chunk's handle), and 64 at least: a body of one-byte frames stops
    /// being kept after `max / 32 + 64` of them, so what is kept stays
    /// within a small multiple of the cap (SECURITY.md), not 32 times its
    /// bytes; a chunk as large as the cap still fits.
    #[tokio::test]
    async fn a_body_is_kept_in_a_bounded_number_of_chunks() {
        let read = |parts: Vec<&'static str>, max| async move {
            let mut first = ReplayBody::new(chunks(&parts), max);
            while let Some(frame) = first.frame().await {
                frame.unwrap();
            }
            first.is_replayable()
        };
        assert!(read(vec!["x"; 96], 1024).await, "1024 / 32 + 64 chunks");
        assert!(!read(vec!["x"; 97], 1024).await, "one chunk more");
        let whole: &'static str = "x".repeat(1024).leak();
        assert!(read(vec![whole], 1024).await);
    }

    /// A copy's size hint is what it has still to yield, exact when the
    /// original's is: a client sends it as `Content-Length`, so a hint of
    /// the whole after part was yielded would announce more than follows.
    #[tokio::test]
    async fn a_copys_size_hint_is_what_it_has_left() {
        let exact = |body: &ReplayBody<_>| body.size_hint().exact();
        // A `Full`: exact, then nothing left; its replay, all of it.
        let mut first = ReplayBody::new(http_body_util::Full::new(Bytes::from("abcdef")), 1024);
        assert_eq!(exact(&first), Some(6));
        first.frame().await.unwrap().unwrap();
        assert_eq!(exact(&first), Some(0));
        assert_eq!(exact(&first.replay()), Some(6));
        // A stream of unknown length: a lower bound of what was kept.
        let mut first = ReplayBody::new(chunks(&["ab", "cd", "ef"]), 1024);
        first.frame().await.unwrap().unwrap();
        let mut again = first.replay();
        assert_eq!(
            (again.size_hint().lower(), again.size_hint().upper()),
            (2, None)
        );
        again.frame().await.unwrap().unwrap();
        assert_eq!(again.size_hint().lower(), 0);
        // Read to its end (by the newest copy: an older one is superseded).
        let mut last = again.replay();
        while let Some(frame) = last.frame().await {
            frame.unwrap();
        }
        assert_eq!(last.replay().size_hint().exact(), Some(6));
    }

    /// A client asks `is_end_stream` after each frame (hyper ends an
    /// HTTP/2 stream with the last DATA frame; the reqwest adapter sends a
    /// body that has ended in its first frame as bytes): a copy of a
    /// `Full` says it has ended after its one frame, as the `Full` does,
    /// and so does its replay.
    #[tokio::test]
    async fn a_copy_of_a_full_body_has_ended_after_its_one_frame() {
        let mut first = ReplayBody::new(http_body_util::Full::new(Bytes::from("abc")), 1024);
        assert!(!first.is_end_stream());
        let frame = first.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "abc");
        assert!(first.is_end_stream(), "ended with its one frame");
        let mut again = first.replay();
        assert!(!again.is_end_stream());
        assert_eq!(
            again.frame().await.unwrap().unwrap().into_data().unwrap(),
            "abc"
        );
        assert!(again.is_end_stream());
        assert!(again.frame().await.is_none());
        // A body that does not say so ends at its `None`, as before.
        let mut chunked = ReplayBody::new(chunks(&["abc"]), 1024);
        chunked.frame().await.unwrap().unwrap();
        assert!(!chunked.is_end_stream());
    }

    #[tokio::test]
    async fn a_replay_continues_where_a_partial_read_stopped() {
        let mut first = ReplayBody::new(chunks(&["a", "b", "c"]), 1024);
        let keep = first.replay();
        // The server answered after reading one chunk.
        let frame = first.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "a");
        drop(first);
        assert!(keep.is_replayable());
        let second = keep.replay();
        assert_eq!(second.collect().await.unwrap().to_bytes(), "abc");
        // And again, now that the original has ended.
        assert_eq!(keep.replay().collect().await.unwrap().to_bytes(), "abc");
    }

    /// An abandoned attempt's copy, still polled by a connection task,
    /// must not read the original once the retry's copy has started: two
    /// readers would steal each other's wakers.
    #[tokio::test]
    async fn an_abandoned_copy_cannot_read_once_a_retry_started() {
        let mut first = ReplayBody::new(chunks(&["a", "b", "c"]), 1024);
        let mut retry = first.replay();
        assert_eq!(
            first.frame().await.unwrap().unwrap().into_data().unwrap(),
            "a"
        );
        // The retry starts: it replays what was kept, then reads on.
        assert_eq!(
            retry.frame().await.unwrap().unwrap().into_data().unwrap(),
            "a"
        );
        assert!(
            first.frame().await.unwrap().is_err(),
            "the abandoned copy is superseded"
        );
        let mut rest = Vec::new();
        while let Some(frame) = retry.frame().await {
            rest.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(rest, ["b", "c"]);
    }

    /// `Chunks` that says its length.
    struct Exact(Chunks);

    impl Body for Exact {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Pin::new(&mut self.0).poll_frame(cx)
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.0 .0.iter().map(|c| c.len() as u64).sum())
        }
    }

    /// A hedged body of known length within the cap is read ahead, whole,
    /// before any attempt reads it (a first attempt still connecting); its
    /// copies then replay it side by side, neither superseding the other.
    /// A streaming body, or one over the cap, is left to the attempts.
    #[tokio::test]
    async fn a_body_of_known_length_is_read_ahead_and_replayed_side_by_side() {
        let body = ReplayBody::new(Exact(chunks(&["ab", "cd"])), 1024);
        body.read_ahead();
        assert!(body.is_complete());
        let (mut a, mut b) = (body.replay(), body.replay());
        for chunk in ["ab", "cd"] {
            for copy in [&mut a, &mut b] {
                let frame = copy.frame().await.unwrap().unwrap();
                assert_eq!(frame.into_data().unwrap(), chunk);
            }
        }
        let over_the_cap = ReplayBody::new(Exact(chunks(&["ab", "cd"])), 3);
        let streaming = ReplayBody::new(chunks(&["ab"]), 1024);
        over_the_cap.read_ahead();
        streaming.read_ahead();
        assert!(!over_the_cap.is_complete() && !streaming.is_complete());
    }

    #[tokio::test]
    async fn empty_bodies_need_no_shared_state() {
        let body = ReplayBody::new(http_body_util::Empty::<Bytes>::new(), 1024);
        assert!(body.shared.is_none());
        assert!(body.is_end_stream());
        assert!(body.replay().collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_body_known_to_be_too_large_streams_once() {
        let full = http_body_util::Full::new(Bytes::from_static(b"0123456789"));
        let first = ReplayBody::new(full, 4);
        let keep = first.replay();
        assert!(!keep.is_replayable());
        assert_eq!(first.collect().await.unwrap().to_bytes(), "0123456789");
        assert!(
            keep.replay().collect().await.is_err(),
            "a replay refuses rather than send a partial body"
        );
    }
}
