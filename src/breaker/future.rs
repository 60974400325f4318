//! [`ResponseFuture`] of [`CircuitBreaker`](super::CircuitBreaker): the
//! inner call, or the refusal; what the answer tells about the upstream.

use super::layer::Config;
use super::state::{Transition, Verdict};
use crate::classification::{classify_response, Failure};
use crate::context::cut_by_deadline;
use crate::error::{BoxError, ScopeKey};
use crate::fleet::unix_ms;
use crate::hints::{HintSource, RetryHint};
use crate::{CircuitOpen, Error, ErrorKind};
use http::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;
use tokio::time::Instant;

pin_project! {
    /// The response future of [`CircuitBreaker`](super::CircuitBreaker).
    ///
    /// Ends in exactly one outcome: the inner service's, or
    /// [`Error::CircuitOpen`] without sending. Dropping a probe before
    /// its answer frees the probe's place: the next call probes.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        ticket: Option<Ticket>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling {
            #[pin]
            future: F,
        },
        Refused {
            // Boxed: only a refusal pays for the error's room.
            error: Option<Box<CircuitOpen>>,
        },
    }
}

/// A call let through, recorded exactly once: with its answer, or as
/// telling nothing when it is dropped.
pub(crate) struct Ticket {
    pub(super) config: Arc<Config>,
    pub(super) key: u64,
    pub(super) probe: bool,
    /// When the call was let through: where an answer is counted in the
    /// window (no second clock read for a success).
    pub(super) admitted: Instant,
    /// The request named its server: the scope is the fleet's too.
    pub(super) named: bool,
    /// Recorded with its answer: the drop has nothing left to say.
    pub(super) settled: bool,
}

impl Ticket {
    fn settle(mut self, verdict: Verdict) {
        // A failure is timed when it came: its hint counts from then.
        let now = match verdict {
            Verdict::Unwell(_) => Instant::now(),
            _ => self.admitted,
        };
        record(&self, verdict, now);
        self.settled = true;
    }
}

fn record(ticket: &Ticket, verdict: Verdict, now: Instant) {
    let (config, key, probe) = (&ticket.config, ticket.key, ticket.probe);
    let circuits = &config.circuits;
    let transition = circuits.record(key, probe, verdict, now, &config.thresholds);
    // Only the server's word is shared, never this process's counts.
    let signalled = match &transition {
        Some((Transition::Opened { until, signalled }, _)) if *signalled => Some(*until),
        _ => None,
    };
    if let (Some(store), Some(until), true) = (&config.fleet, signalled, ticket.named) {
        let at = SystemTime::now() + until;
        circuits.published(key, unix_ms(at));
        store.publish(ScopeKey::from_u64(key), at);
    }
    super::observe(&config.observer, transition);
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Dropped unanswered: a timeout when the call's deadline cut it (a
        // retry layer above says so), else nothing learned (the caller gave
        // up), which only a probe's fate minds.
        let cut = !self.settled && cut_by_deadline() && self.config.counts(ErrorKind::Timeout);
        let verdict = if cut {
            Verdict::Unwell(None)
        } else if self.probe && !self.settled {
            Verdict::Silent
        } else {
            return;
        };
        record(self, verdict, Instant::now());
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn calling(future: F, ticket: Option<Ticket>) -> Self {
        let state = State::Calling { future };
        ResponseFuture { state, ticket }
    }

    pub(crate) fn refused(error: CircuitOpen) -> Self {
        ResponseFuture {
            state: State::Refused {
                error: Some(Box::new(error)),
            },
            ticket: None,
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &matches!(self.state, State::Refused { .. }))
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.state.project() {
            StateProj::Refused { error } => {
                let error = error.take().expect("polled after completion");
                return Poll::Ready(Err(Error::CircuitOpen(*error)));
            }
            StateProj::Calling { future } => ready!(future.poll(cx)),
        };
        let result = result.map_err(|error| Error::from_inner(error, None));
        if let Some(ticket) = this.ticket.take() {
            let verdict = match &result {
                Ok(response) => response_verdict(response, &ticket.config),
                Err(error) => error_verdict(error, &ticket.config),
            };
            ticket.settle(verdict);
        }
        Poll::Ready(result)
    }
}

/// A response's verdict (from a client without a parse layer below, or a
/// success), classified as the retry layer classifies it, a trailers-only
/// gRPC status included: a 4xx is answered; a counted failure is one, with
/// the server's explicit hint.
fn response_verdict<B>(response: &Response<B>, config: &Config) -> Verdict {
    // Never counted, whatever it says: not worth reading its headers.
    if response.status().is_client_error() {
        return Verdict::Answered;
    }
    let classification = classify_response(response, None);
    let verdict = |failure: &Failure| failure_verdict(failure.kind(), failure.retry_hint(), config);
    classification.failure().map_or(Verdict::Answered, verdict)
}

/// A failure's verdict by its kind: a rate limit, or a kind not counted,
/// is answered; any other is a failure, with the hint the server stated
/// (a window's reset is not one).
fn failure_verdict(kind: ErrorKind, hint: Option<RetryHint>, config: &Config) -> Verdict {
    if kind == ErrorKind::RateLimited || !config.counts(kind) {
        return Verdict::Answered;
    }
    Verdict::Unwell(hint.filter(|hint| hint.source() != HintSource::RateLimitReset))
}

/// An error's verdict: a typed failure as its response would be; a
/// transport failure by its kind (a cut attempt is a timeout); a refusal
/// from below (quota, auth, another breaker, a load shedder) or the
/// caller's own failure (its request body) tells nothing.
fn error_verdict(error: &Error, config: &Config) -> Verdict {
    match error {
        Error::Api(api) if api.status().is_client_error() => Verdict::Answered,
        Error::Api(api) => failure_verdict(api.kind(), api.retry_hint(), config),
        Error::Transport(transport) if transport.is_local() => Verdict::Silent,
        Error::Transport(transport) => {
            let kind = match transport.is_deadline() {
                true => ErrorKind::Timeout,
                false => ErrorKind::Transport,
            };
            let unwell = config.counts(kind).then_some(Verdict::Unwell(None));
            unwell.unwrap_or(Verdict::Silent)
        }
        _ => Verdict::Silent,
    }
}
