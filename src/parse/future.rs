//! [`ResponseFuture`] of [`ErrorBodyParse`](super::ErrorBodyParse): waits
//! for the response, and for a failure reads the body up to the cap.

use super::layer::ParseConfig;
use super::{NamesRequests, Naming};
use crate::classify::{Classification, Classify, DefaultClassifier};
use crate::error::BoxError;
use crate::hints::ResponseHints;
use crate::Error;
use bytes::Buf;
use http::response::Parts;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;
use tokio::time::Sleep;

pin_project! {
    /// The response future of [`ErrorBodyParse`](super::ErrorBodyParse).
    pub struct ResponseFuture<F, B, C = DefaultClassifier, N = NamesRequests>
    where
        N: Naming,
    {
        #[pin]
        state: State<F, B>,
        config: ParseConfig<C>,
        // What naming a failure's request needs: nothing under
        // `ApiErrorsLayer` (`NamedAbove`), whose retry layer keeps the
        // request.
        kept: N::Kept,
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
    parts: Option<Parts>,
    verdict: Classification,
    hints: ResponseHints,
    buffer: Vec<u8>,
    timer: Pin<Box<Sleep>>,
}

impl<F, B, C, N: Naming> ResponseFuture<F, B, C, N> {
    pub(crate) fn new(future: F, config: ParseConfig<C>, kept: N::Kept) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            config,
            kept,
        }
    }
}

impl<F, B, C, N: Naming> std::fmt::Debug for ResponseFuture<F, B, C, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Why the body was not read to its end.
enum Cut {
    /// Read to the end.
    No,
    /// Outgrew the cap, or stalled past the timeout.
    Quietly,
    /// Failed mid-stream.
    WithError(BoxError),
}

impl<F, B, C, N, E> Future for ResponseFuture<F, B, C, N>
where
    N: Naming,
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
    C: Classify,
{
    type Output = Result<Response<B>, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(Error::from_inner(
                                error,
                                N::context(this.kept),
                            )));
                        }
                    };
                    // A stamp from a classifier below, else our own
                    // classifier (which reads a failure's headers once and
                    // hands the reading back).
                    let (verdict, hints) =
                        match response.extensions().get::<Classification>().copied() {
                            Some(verdict) => (verdict, None),
                            None => this
                                .config
                                .classifier
                                .classify_reading(response.status(), response.headers()),
                        };
                    if verdict.is_success() {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    }
                    let (mut parts, body) = response.into_parts();
                    // The one reading of this response's headers: ours, the
                    // stamping classifier's, or (a custom classifier that
                    // read none) read here, once.
                    let hints = hints
                        .or_else(|| parts.extensions.remove::<ResponseHints>())
                        .unwrap_or_else(|| ResponseHints::read(&parts.headers, SystemTime::now()));
                    let timer = Box::pin(tokio::time::sleep(this.config.failure.body_timeout));
                    this.state.set(State::Reading {
                        body,
                        read: Box::new(Read {
                            parts: Some(parts),
                            verdict,
                            hints,
                            buffer: Vec::new(),
                            timer,
                        }),
                    });
                }
                StateProj::Reading { mut body, read } => {
                    let Read {
                        parts,
                        verdict,
                        hints,
                        buffer,
                        timer,
                    } = &mut **read;
                    let cut = loop {
                        match body.as_mut().poll_frame(cx) {
                            Poll::Ready(Some(Ok(frame))) => {
                                let Ok(mut data) = frame.into_data() else {
                                    continue;
                                };
                                let room = this.config.failure.max_body - buffer.len();
                                let take = data.remaining().min(room);
                                buffer.reserve(take);
                                let mut taken = 0;
                                while taken < take {
                                    let chunk = data.chunk();
                                    let n = chunk.len().min(take - taken);
                                    buffer.extend_from_slice(&chunk[..n]);
                                    data.advance(n);
                                    taken += n;
                                }
                                if data.has_remaining() {
                                    break Cut::Quietly;
                                }
                            }
                            Poll::Ready(Some(Err(error))) => break Cut::WithError(error.into()),
                            Poll::Ready(None) => break Cut::No,
                            Poll::Pending => {
                                ready!(timer.as_mut().poll(cx));
                                break Cut::Quietly;
                            }
                        }
                    };
                    let parts = parts
                        .take()
                        .expect("parts are taken once, when reading ends");
                    let mut error = this.config.failure.parser.parse_read(
                        parts.status,
                        &parts.headers,
                        buffer,
                        *verdict,
                        hints,
                    );
                    match cut {
                        Cut::No => {}
                        Cut::Quietly => error.set_truncated(None),
                        Cut::WithError(cause) => error.set_truncated(Some(cause)),
                    }
                    // Named and scrubbed here, or (`NamedAbove`) by the
                    // retry layer, which keeps the request, as it receives
                    // the error.
                    N::finish(this.kept, &mut error);
                    this.state.set(State::Done);
                    return Poll::Ready(Err(Error::Api(error)));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}
