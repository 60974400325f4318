//! [`PeekFuture`]: waits for the response, and for a success worth
//! peeking at reads its body up to the cap.

use super::body::Inner;
use super::layer::PeekConfig;
use super::PeekBody;
use crate::classification::failure;
use crate::error::BoxError;
use crate::hints::ResponseHints;
use crate::parse::capped::{Capped, Cut};
use crate::parse::naming::Kept;
use crate::parse::{charset, DialectInput};
use crate::{Error, ErrorKind};
use bytes::Bytes;
use http::response::Parts;
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

pin_project! {
    /// The response future of [`SuccessPeek`](super::SuccessPeek).
    pub struct PeekFuture<F, B> {
        #[pin]
        state: PeekState<F, B>,
        config: Arc<PeekConfig>,
        kept: Kept,
    }
}

impl<F, B> PeekFuture<F, B> {
    pub(super) fn new(future: F, config: Arc<PeekConfig>, kept: Kept) -> Self {
        PeekFuture {
            state: PeekState::Calling { future },
            config,
            kept,
        }
    }
}

opaque_debug!([F, B] PeekFuture<F, B>);

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
    capped: Capped,
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
                    let result = ready!(future.poll(cx));
                    this.state.set(PeekState::Done);
                    let response = result
                        .map_err(|error| Error::from_inner(error, this.kept.take_context()))?;
                    if !this.config.wants(&response) {
                        return Poll::Ready(Ok(response.map(PeekBody::untouched)));
                    }
                    let peek = Some(Box::new(Peek::new(response, this.config)));
                    this.state.set(PeekState::Peeking { peek });
                }
                PeekStateProj::Peeking { peek: slot } => {
                    let peek = slot.as_mut().expect("the peek is taken once, when it ends");
                    let max = this.config.max_bytes;
                    let cut = ready!(peek.capped.read(peek.body.as_mut(), max, cx));
                    let peek = slot.take().expect("the peek is taken once, when it ends");
                    this.state.set(PeekState::Done);
                    return Poll::Ready(peek.judge(cut, this.config, this.kept));
                }
                PeekStateProj::Done => panic!("PeekFuture polled after completion"),
            }
        }
    }
}

impl<B: Body> Peek<B> {
    fn new(response: Response<B>, config: &PeekConfig) -> Self {
        let (parts, body) = response.into_parts();
        Peek {
            parts,
            body: Box::pin(body),
            capped: Capped::new(config.timeout),
        }
    }

    /// A failure in disguise becomes a typed error; anything else is given
    /// back with its bytes unchanged.
    fn judge(
        self: Box<Self>,
        cut: Cut<B::Error>,
        config: &PeekConfig,
        kept: &mut Kept,
    ) -> Result<Response<PeekBody<B>>, Error> {
        let peek = *self;
        let (parts, buffer) = (peek.parts, peek.capped.buffer);
        if cut.is_none() {
            // Decoded as the parse layer decodes it (a BOM, a Latin-1 charset).
            let text = charset::decode(&parts.headers, &buffer);
            let json: Option<Value> = serde_json::from_slice(&text).ok();
            let input = DialectInput::new(parts.status, &parts.headers, &text, json.as_ref());
            if config.detectors.iter().any(|d| d.is_failure(&input)) {
                // The headers, read once, count as under a failure status:
                // their hint, window and the server's verdict (GitHub
                // GraphQL's limits come under 200 with a reset or Retry-After).
                let hints = ResponseHints::read(&parts.headers, SystemTime::now());
                let verdict = failure(parts.status, ErrorKind::Other, &hints);
                let (status, headers) = (parts.status, &parts.headers);
                // Named, scrubbed of echoes and logged as the parse layer
                // does it: one path for both.
                let error = kept.finish(|scrubber| {
                    let parser = &config.parser;
                    parser.read(status, headers, &buffer, verdict, &hints, scrubber)
                });
                return Err(Error::Api(error));
            }
        }
        let inner = Inner::Peeked {
            prefix: [
                (!buffer.is_empty()).then(|| Bytes::from(buffer)),
                peek.capped.tail,
            ],
            rest: cut.is_some().then_some(peek.body),
            error: cut.flatten(),
            trailers: peek.capped.trailers,
        };
        Ok(Response::from_parts(parts, PeekBody { inner }))
    }
}
