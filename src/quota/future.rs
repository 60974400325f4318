//! [`ResponseFuture`] of [`Quota`](super::Quota): acquire, hold, send, learn.

use super::layer::Config;
use super::store::{Grant, Permit, StoreFuture};
use super::{learn, RateLimited, ScopeKey};
use crate::error::BoxError;
use crate::hedged::{HoldGuard, Holds};
use crate::prototype::release_readiness;
use crate::redact::RequestContext;
use crate::Error;
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{sleep, Instant, Sleep};
use tower::Service;

pin_project! {
    /// The response future of [`Quota`](super::Quota).
    ///
    /// Ends in exactly one outcome: the inner service's response or error,
    /// or [`Error::RateLimited`] without sending. Dropping it cancels
    /// cleanly: a held request is never sent, and its permit is returned.
    pub struct ResponseFuture<S: Service<Request<B>>, B> {
        #[pin]
        state: State<S::Future>,
        // Only a request that waits owns a clone of the service and its
        // request. Boxed, as the timer and the kept answer are: the future
        // of a request that goes at once moves on every call and should
        // not carry them inline.
        held: Option<Box<Held<S, B>>>,
        ticket: Ticket,
        // The answer, kept while the store records what it taught (a
        // store that answers later: Redis).
        outcome: Option<Box<Result<S::Response, Error>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling {
            #[pin]
            future: F,
        },
        Acquiring {
            grant: StoreFuture<Grant>,
        },
        Sleeping {
            sleep: Pin<Box<Sleep>>,
        },
        Readying,
        Settling {
            settled: StoreFuture<()>,
        },
        Done,
    }
}

struct Held<S, B> {
    service: S,
    request: Option<Request<B>>,
    /// When the request was first held: `max_wait` counts from here.
    since: Instant,
    /// The end of `max_wait`, set once a store's answer is not ready: no
    /// store (a Redis that does not answer, a third party's) holds a
    /// request past it.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Its hold was counted: a request counts once as held, however many
    /// waits the store gives it (each wait is still one).
    counted: bool,
    /// The wait in progress, recorded as waited when it ends or drops.
    wait: crate::observe::Wait,
    /// Until the request is sent: the hold a hedge layer above sees (see
    /// [`Holds`]), so that it sends no hedge to wait behind this one.
    hold: Option<HoldGuard>,
}

/// The permit a request holds, returned to the store exactly once: when
/// the response is learned from, or when the future is dropped (marked
/// sent once its request is: a request dropped unanswered may have been
/// counted by the vendor).
struct Ticket {
    config: Arc<Config>,
    scope: ScopeKey,
    cost: u64,
    permit: Option<Permit>,
}

impl Ticket {
    /// Gives the permit back unused, when one is held.
    fn release(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.config.store.release(permit);
        }
    }

    fn settle(&mut self, observation: &super::Observation) -> StoreFuture<()> {
        let unheld = || Permit::new(self.scope, self.cost, false, 0);
        let permit = self.permit.take().unwrap_or_else(unheld);
        self.config.store.settle(permit, observation)
    }

    /// Reports a wait of `held` for `delay` (`reason`: `pacing`, `quota
    /// spent`); its first counts the request as held.
    fn held<S, B>(&self, delay: Duration, reason: &'static str, held: &mut Held<S, B>) {
        let first = !std::mem::replace(&mut held.counted, true);
        let (observer, request) = (&self.config.observer, held.request.as_ref());
        held.wait = observer.quota_held(self.scope.as_u64(), delay, reason, first, request);
    }
}

/// A request dropped while held was never sent (see `crate::context`).
impl<S, B> Drop for Held<S, B> {
    fn drop(&mut self) {
        if self.request.is_some() {
            crate::context::dropped_unsent();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

impl<S: Service<Request<B>> + Clone, B> ResponseFuture<S, B> {
    /// Sends at once on the service the caller made ready when the store
    /// says go without a delay; otherwise holds the request with a clone,
    /// and gives the ready service's readiness back.
    pub(crate) fn start(
        service: &mut S,
        request: Request<B>,
        config: Arc<Config>,
        scope: ScopeKey,
        cost: u64,
    ) -> Self {
        let mut grant = config.store.acquire(scope, cost, config.max_wait);
        let mut ticket = Ticket {
            config,
            scope,
            cost,
            permit: None,
        };
        let answered = grant.now_or_never();
        if let Some(Grant::Go { permit, delay }) = answered {
            if delay.is_zero() {
                ticket.permit = Some(permit.sent());
                let future = service.call(request);
                return ResponseFuture::new(State::Calling { future }, None, ticket);
            }
            ticket.permit = Some(permit);
            let mut held = Held::new(service, request);
            ticket.held(delay, "pacing", &mut held);
            return ResponseFuture::new(sleeping(delay), Some(held), ticket);
        }
        if let Some(wait) = answered {
            // Already answered (a `Wait`): handled by the same state.
            grant = StoreFuture::ready(wait);
        }
        let held = Held::new(service, request);
        ResponseFuture::new(State::Acquiring { grant }, Some(held), ticket)
    }

    // Inlined: the state it is given may hold the inner future, which a
    // call would copy once more on every request.
    #[inline(always)]
    fn new(state: State<S::Future>, held: Option<Held<S, B>>, ticket: Ticket) -> Self {
        ResponseFuture {
            state,
            held: held.map(Box::new),
            ticket,
            outcome: None,
        }
    }
}

impl<S: Clone, B> Held<S, B> {
    /// Holds `request` on the clone it is sent on once its wait is over.
    /// The caller's ready `service` gives its readiness back: kept while
    /// the request waits, it would hold a permit (or a `Buffer` slot) that
    /// the clone's `poll_ready` needs.
    fn new(service: &mut S, request: Request<B>) -> Self {
        release_readiness(service);
        Held {
            hold: request.extensions().get::<Holds>().map(Holds::hold),
            service: service.clone(),
            request: Some(request),
            since: Instant::now(),
            deadline: None,
            counted: false,
            wait: Default::default(),
        }
    }
}

impl<S, B> Held<S, B> {
    /// The request to send now: the hold spent part of a gRPC call's
    /// deadline, or all of it, and then it is not sent.
    fn take(&mut self) -> Result<Request<B>, Error> {
        let request = self.request.take().expect("request kept until sent");
        self.hold = None;
        #[cfg(feature = "grpc")]
        let request = crate::grpc::in_time(request, self.since.elapsed())?;
        Ok(request)
    }
}

debug_fields!([S: Service<Request<B>>, B] ResponseFuture<S, B> (&self) {
    scope: self.ticket.scope,
    held: self.held.is_some(),
    ..
});

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<Response<ResBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result =
                        ready!(future.poll(cx)).map_err(|error| Error::from_inner(error, None));
                    let mut settled = this.ticket.settle(&taught(&result));
                    if settled.now_or_never().is_some() {
                        this.state.set(State::Done);
                        return Poll::Ready(result);
                    }
                    *this.outcome = Some(Box::new(result));
                    this.state.set(State::Settling { settled });
                }
                StateProj::Settling { settled } => {
                    ready!(Pin::new(settled).poll(cx));
                    this.state.set(State::Done);
                    let outcome = this.outcome.take();
                    return Poll::Ready(*outcome.expect("the answer is kept until settled"));
                }
                StateProj::Acquiring { grant } => {
                    let held = this.held.as_mut().expect("a held request");
                    let outcome = match Pin::new(grant).poll(cx) {
                        Poll::Ready(grant) => after_grant(grant, held, this.ticket),
                        // A store slower than `max_wait` (a Redis that does
                        // not answer): refused as a wait that does not fit.
                        Poll::Pending => {
                            // (A `max_wait` past the clock's range is
                            // tokio's far future: `sleep` clamps it.)
                            let (max, since) = (this.ticket.config.max_wait, held.since);
                            let end = || Box::pin(sleep(max.saturating_sub(since.elapsed())));
                            ready!(held.deadline.get_or_insert_with(end).as_mut().poll(cx));
                            Err(refuse(held, this.ticket, max, None))
                        }
                    };
                    match outcome {
                        Ok(next) => this.state.set(next),
                        Err(refused) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(Error::RateLimited(*refused)));
                        }
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    let held = this.held.as_mut().expect("a held request");
                    held.wait = Default::default();
                    this.state.set(after_sleep(held.since, this.ticket));
                }
                StateProj::Readying => {
                    let held = this.held.as_mut().expect("a held request");
                    // Readiness is only asked for now, after the wait.
                    let ready = ready!(held.service.poll_ready(cx));
                    match ready
                        .map_err(|e| Error::from_inner(e, None))
                        .and_then(|()| held.take())
                    {
                        Ok(request) => {
                            this.ticket.permit = this.ticket.permit.map(Permit::sent);
                            let future = held.service.call(request);
                            this.state.set(State::Calling { future });
                        }
                        Err(error) => {
                            // Never sent: the permit goes back unused.
                            this.ticket.release();
                            this.state.set(State::Done);
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                StateProj::Done => panic!("quota ResponseFuture polled after completion"),
            }
        }
    }
}

/// What an outcome teaches: a response's headers, or a typed failure's hints.
fn taught<B>(result: &Result<Response<B>, Error>) -> super::Observation {
    match result {
        Ok(response) => learn::from_response(response.status(), response.headers()),
        Err(error) => error.api().map(learn::from_error).unwrap_or_default(),
    }
}

/// The state after the store's answer: send (now or after pacing), wait and
/// ask again, or refuse at once when the wait would pass `max_wait`.
fn after_grant<S, B, F>(
    grant: Grant,
    held: &mut Held<S, B>,
    ticket: &mut Ticket,
) -> Result<State<F>, Box<RateLimited>> {
    match grant {
        Grant::Go { permit, delay } => {
            ticket.permit = Some(permit);
            if delay.is_zero() {
                return Ok(State::Readying);
            }
            ticket.held(delay, "pacing", held);
            Ok(sleeping(delay))
        }
        // (Nor past the deadline a caller polls it within: a token source's
        // call, which the auth layer cuts; refused, it says when to come back.)
        Grant::Wait(wait) => {
            let fits = held.since.elapsed().saturating_add(wait) <= ticket.config.max_wait;
            if fits && crate::context::wait_fits_deadline(wait) {
                ticket.held(wait, "quota spent", held);
                return Ok(sleeping(wait));
            }
            Err(refuse(held, ticket, wait, None))
        }
        Grant::Exceeds { limit, reset } => Err(refuse(held, ticket, reset, Some(limit))),
    }
}

/// Refuses the held request without sending it: it would wait `wait`
/// (or, its cost being more than a window's whole `limit`, never go).
fn refuse<S, B>(
    held: &mut Held<S, B>,
    ticket: &Ticket,
    wait: Duration,
    limit: Option<u64>,
) -> Box<RateLimited> {
    let scope = ticket.scope;
    let observer = &ticket.config.observer;
    observer.quota_refused(scope.as_u64(), wait, held.request.as_ref());
    let request = held.request.take().expect("request kept until sent");
    let context = RequestContext::new(request.method().clone(), request.uri().clone());
    Box::new(RateLimited::new(wait, scope, context).over_limit(limit))
}

/// The state of a request held for `delay`.
fn sleeping<F>(delay: Duration) -> State<F> {
    let sleep = Box::pin(tokio::time::sleep(delay));
    State::Sleeping { sleep }
}

/// The state after a hold: send with the permit it holds, or ask the store
/// again for what is left of `max_wait`. A paced request whose scope began
/// a 429's wait meanwhile (another process spent the window, say) gives
/// its permit back and asks again: sent at its slot, it would be refused.
fn after_sleep<F>(since: Instant, ticket: &mut Ticket) -> State<F> {
    if ticket.permit.is_some() && !ticket.config.store.cooling_down(ticket.scope) {
        return State::Readying;
    }
    ticket.release();
    let left = ticket.config.max_wait.saturating_sub(since.elapsed());
    let grant = ticket.config.store.acquire(ticket.scope, ticket.cost, left);
    State::Acquiring { grant }
}
