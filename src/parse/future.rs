//! [`ResponseFuture`] of [`ErrorBodyParse`](super::ErrorBodyParse): waits
//! for the response, and for a failure reads the body up to the cap.

use super::capped::{Capped, Cut};
use super::layer::ParseConfig;
use super::naming::Kept;
use crate::classification::{Classification, Classify, DefaultClassifier};
use crate::error::BoxError;
use crate::hints::ResponseHints;
use crate::Error;
use http::response::Parts;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

pin_project! {
    /// The response future of [`ErrorBodyParse`](super::ErrorBodyParse).
    pub struct ResponseFuture<F, B, C = DefaultClassifier> {
        #[pin]
        state: State<F, B>,
        config: ParseConfig<C>,
        // What naming a failure's request needs: the call's context found
        // from a layer above, or the layer's own record.
        kept: Kept,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Calling {
            #[pin]
            future: F,
        },
        Reading {
            #[pin]
            body: B,
            // Boxed: the success path moves this future around, and should
            // not carry the failure path's state inline.
            read: Box<Read>,
        },
        Done,
    }
}

/// What reading a failure body needs beside the body.
struct Read {
    parts: Parts,
    verdict: Classification,
    hints: ResponseHints,
    capped: Capped,
}

impl<F, B, C> ResponseFuture<F, B, C> {
    pub(crate) fn new(future: F, config: ParseConfig<C>, kept: Kept) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            config,
            kept,
        }
    }
}

opaque_debug!([F, B, C] ResponseFuture<F, B, C>);

impl<F, B, C, E> Future for ResponseFuture<F, B, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
    C: Classify,
{
    type Output = Result<Response<B>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    this.state.set(State::Done);
                    let mut response = result
                        .map_err(|error| Error::from_inner(error, this.kept.take_context()))?;
                    // Judged in place: a success goes up as it came.
                    let (verdict, hints) = verdict_of(&response, &this.config.classifier);
                    if verdict.is_success() {
                        crate::classification::stamp_success(&mut response);
                        return Poll::Ready(Ok(response));
                    }
                    let (body, read) = start_reading(response, verdict, hints, this.config);
                    this.state.set(State::Reading { body, read });
                }
                StateProj::Reading { body, read } => {
                    let max = this.config.failure.max_body;
                    let cut = ready!(read.capped.read(body, max, cx));
                    let cut = cut.map(|failed| failed.map(Into::into));
                    let (read, parser) = (&mut **read, &this.config.failure.parser);
                    let error = this.kept.finish(|scrubber| {
                        let (parts, buffer) = (&read.parts, &read.capped.buffer);
                        let words = whole_words(buffer, &cut);
                        let (verdict, hints) = (read.verdict, &read.hints);
                        let mut error = parser.read(
                            parts.status,
                            &parts.headers,
                            words,
                            verdict,
                            hints,
                            scrubber,
                        );
                        if let Some(cause) = cut {
                            error.set_truncated(cause);
                        }
                        error
                    });
                    this.state.set(State::Done);
                    return Poll::Ready(Err(Error::Api(error)));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// The body read; cut (at the cap, by the timer or by a failed stream:
/// not at a word's end), without its last, partial word: the word may be
/// the start of an echoed credential, which scrubbing finds only whole.
/// Words end at whitespace and at the delimiters of JSON, markup, headers
/// and lists; a body without one is one word, kept as read.
fn whole_words<'b>(buffer: &'b [u8], cut: &Cut<BoxError>) -> &'b [u8] {
    let is_boundary = |b: &u8| b.is_ascii_whitespace() || b"\"'<>,:;&()[]{}".contains(b);
    match (cut, buffer.iter().rposition(is_boundary)) {
        (Some(_), Some(at)) => &buffer[..=at],
        _ => buffer,
    }
}

/// The response's verdict: a stamp from a classifier below, else our own
/// classifier's (which reads a failure's headers once and hands the
/// reading back).
fn verdict_of<B, C: Classify>(
    response: &Response<B>,
    classifier: &C,
) -> (Classification, Option<ResponseHints>) {
    match response.extensions().get::<Classification>().copied() {
        Some(verdict) => (verdict, None),
        None => classifier.classify_reading(response.status(), response.headers()),
    }
}

/// A failure, whose body is to be read: the body, and what reading it
/// needs beside.
fn start_reading<B, C>(
    response: Response<B>,
    verdict: Classification,
    hints: Option<ResponseHints>,
    config: &ParseConfig<C>,
) -> (B, Box<Read>) {
    let (mut parts, body) = response.into_parts();
    // The one reading of this response's headers: ours, the stamping
    // classifier's, or (a custom classifier that read none) read here, once.
    let hints = hints
        .or_else(|| parts.extensions.remove::<ResponseHints>())
        .unwrap_or_else(|| ResponseHints::read(&parts.headers, SystemTime::now()));
    let read = Box::new(Read {
        parts,
        verdict,
        hints,
        capped: Capped::new(config.failure.body_timeout),
    });
    (body, read)
}
