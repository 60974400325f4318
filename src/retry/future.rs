//! [`ResponseFuture`] of [`Retry`](super::Retry): attempt, decide, wait,
//! get ready, attempt again.

use super::policy::{
    wait_fits, AttemptState, Decision, Outcome, RetryContext, RetryEvent, RetryOverride,
};
use super::service::Shared;
use super::{Policy, ReplayBody, RetryPolicy};
use crate::classification::Classification;
use crate::context::{wait_fits_deadline, CallContext};
use crate::error::{AuthReport, BoxError};
use crate::hints::HintSource;
use crate::observe::{self, Failure, Span};
use crate::redact::{HeaderNames, RedactedUri};
use crate::{Error, ErrorKind, RetryReport, StopReason, TransportError};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::Service;

pin_project! {
    /// The response future of [`Retry`](super::Retry).
    ///
    /// Dropping it cancels cleanly: during a wait, no further attempt is sent.
    pub struct ResponseFuture<S, B, P = RetryPolicy>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        #[pin]
        state: State<S::Future>,
        // Armed only when first needed (see `Call::started`), in place:
        // every request over a network arms it, and a boxed timer cost
        // each one an allocation.
        #[pin]
        deadline: Option<Sleep>,
        span: Span,
        call: Call<S, B, P>,
    }

    // A call dropped before its end is still recorded, once.
    impl<S, B, P> PinnedDrop for ResponseFuture<S, B, P>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        fn drop(this: Pin<&mut Self>) {
            if !matches!(this.state, State::Done) {
                let this = this.project();
                let _entered = this.span.enter();
                let in_flight = matches!(*this.state, State::Calling { .. });
                // A wait cut short counts as far as it went.
                if let State::Waiting { sleep } = &*this.state {
                    let left = sleep.deadline().saturating_duration_since(Instant::now());
                    this.call.waited = this.call.waited.saturating_sub(left);
                }
                // The attempt first: a layer below held it unsent, or not.
                let mut state = this.state;
                let unsent = crate::context::unsent_when(|| state.set(State::Done));
                this.call.unsent += u32::from(unsent);
                let report = this.call.report(None);
                this.call.telemetry.dropped(&report, in_flight, unsent);
                // Nothing sent: to a retry layer above, its attempt was
                // held unsent (see `crate::context`).
                if report.attempts() == 0 {
                    crate::context::dropped_unsent();
                }
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling {
            #[pin]
            future: F,
        },
        // Boxed: only a retry pays for the timer; the success path moves
        // a smaller future.
        Waiting {
            sleep: Pin<Box<Sleep>>,
        },
        Readying,
        Done,
    }
}

/// Everything of a call but its state and timer: what the steps of
/// [`ResponseFuture::poll`] work on.
struct Call<S, B, P> {
    // The layer's policy, and where the services for further sends come
    // from (see `Prototype`); the one being made ready or used for them:
    // boxed, as a client such as hyper-util's is ~300 bytes, and only a
    // retry needs one.
    shared: Arc<Shared<S, P>>,
    service: Option<Box<S>>,
    // The call's context: this layer's copy of the request, entered while
    // the layers below are called (see `crate::context`).
    context: CallContext,
    body: ReplayBody<B>,
    // The request's own settings (`RetryOverride`), when it carries any;
    // else the layer's policy, in `shared`.
    overridden: Option<P>,
    attempts: u32,
    // The call's clock (and the deadline's timer, if any) starts the first
    // time the request has to wait (an attempt pending, or a retry's
    // wait): a request answered at once, as an in-memory service does,
    // reads no clock and arms no timer.
    started: Option<Instant>,
    waited: Duration,
    previous_delay: Duration,
    // The attempt whose failure the server's pushback answered last (0:
    // none): the backoff starts over after it (gRFC A6).
    backoff_from: u32,
    // Attempts a circuit breaker below refused, never sent.
    refusals: u32,
    // Attempts that sent nothing (those refusals too, any other refusal
    // below, one held unsent when cut or dropped): the report counts the
    // others.
    unsent: u32,
    telemetry: observe::Call,
}

/// What a step of [`ResponseFuture::poll`] leads to. (A step that starts
/// a wait or a send sets the state itself: a value carrying the inner
/// future would be copied on every return.)
enum Next<T> {
    /// Wait to be woken.
    Pending,
    /// The call ends with this.
    Ready(T),
    /// Go on in the state the step set.
    Continue,
}

type Output<R> = Result<Response<R>, Error>;

impl<S, B, P> ResponseFuture<S, B, P>
where
    S: Service<Request<ReplayBody<B>>>,
    B: http_body::Body,
    P: Policy,
{
    /// Sends the first attempt at once, on the service the caller made ready.
    pub(crate) fn start(service: &mut S, shared: Arc<Shared<S, P>>, request: Request<B>) -> Self {
        let (mut parts, body) = request.into_parts();
        // A request's own settings, if it carries any (an empty extension
        // map answers this without a lookup).
        let with = parts.extensions.get::<RetryOverride>();
        let overridden = with.and_then(|with| shared.policy.with_override(with));
        let policy = overridden.as_ref().unwrap_or(&shared.policy);
        let first_body = ReplayBody::new(body, policy.max_replay_bytes());
        let body = first_body.replay();
        // A hedged call's attempts: the hedge layer counted the call, and
        // records it; they share its span.
        let hedged = parts.extensions.get::<crate::hedged::Hedged>().is_some();
        if !hedged {
            policy.call_started();
        }
        let span = Span::request(&mut parts, hedged);
        // The one copy of the request that replays need, and the layers
        // below may use (see `crate::context`).
        let context = CallContext::of_parts(&parts);
        let target = (&parts.method, &parts.uri, &parts.headers);
        let telemetry = observe::Call::start(policy.observer(), &span, target, hedged);
        let future = {
            let _entered = span.enter();
            let _attempt = telemetry.enter();
            let _context = context.enter();
            service.call(Request::from_parts(parts, first_body))
        };
        ResponseFuture {
            state: State::Calling { future },
            deadline: None,
            span,
            call: Call {
                shared,
                service: None,
                context,
                body,
                overridden,
                attempts: 1,
                started: None,
                waited: Duration::ZERO,
                previous_delay: Duration::ZERO,
                backoff_from: 0,
                refusals: 0,
                unsent: 0,
                telemetry,
            },
        }
    }
}

debug_fields!([S: Service<Request<ReplayBody<B>>>, B, P] ResponseFuture<S, B, P> (&self) {
    attempts: self.call.attempts,
    waited: self.call.waited,
    ..
});

impl<S, B, P, ResBody> Future for ResponseFuture<S, B, P>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body + Unpin,
    B::Error: Into<BoxError>,
    P: Policy,
{
    type Output = Output<ResBody>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let call = this.call;
        let _entered = this.span.enter();
        loop {
            // The deadline is polled only where the request would
            // otherwise wait (and before a new send): an attempt that is
            // ready costs no poll of the timer.
            let next = match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let polled = {
                        let _attempt = call.telemetry.enter();
                        future.poll(cx)
                    };
                    match polled {
                        // A success is judged and stamped in place, and
                        // goes up as it came: passed by value through the
                        // steps of a failure, it was copied at each.
                        Poll::Ready(Ok(mut response)) if call.classify(&response).is_success() => {
                            crate::classification::stamp_success(&mut response);
                            call.succeeded(&mut response);
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        Poll::Ready(result) => {
                            call.judge(result, this.state.as_mut(), this.deadline.as_mut(), cx)
                        }
                        Poll::Pending => {
                            if !call.arm_deadline(this.deadline.as_mut(), cx) {
                                return Poll::Pending;
                            }
                            // The deadline cut the attempt: dropped as such,
                            // then recorded, as a layer below held it unsent
                            // or not.
                            let unsent = {
                                let _cut = crate::context::cutting();
                                crate::context::unsent_when(|| this.state.set(State::Done))
                            };
                            return Poll::Ready(call.deadline_passed(unsent));
                        }
                    }
                }
                StateProj::Waiting { sleep } => {
                    // The deadline first, so that no attempt starts past it.
                    let waited = sleep.as_mut().poll(cx).is_ready();
                    match call.pending(this.deadline.as_mut(), cx) {
                        Next::Pending if waited => {
                            this.state.set(State::Readying);
                            Next::Continue
                        }
                        next => next,
                    }
                }
                StateProj::Readying => {
                    call.send_again(this.span, this.state.as_mut(), this.deadline.as_mut(), cx)
                }
                StateProj::Done => panic!("retry ResponseFuture polled after completion"),
            };
            match next {
                Next::Pending => return Poll::Pending,
                Next::Ready(output) => {
                    this.state.set(State::Done);
                    return Poll::Ready(output);
                }
                Next::Continue => {}
            }
        }
    }
}

impl<S, B, P> Call<S, B, P> {
    /// The attempts sent (see [`RetryReport::attempts`]) and the time
    /// waited.
    fn report(&self, reason: Option<StopReason>) -> RetryReport {
        RetryReport::new(self.attempts - self.unsent, self.waited).with_stop(reason)
    }
}

impl<S, B, P> Call<S, B, P>
where
    S: Service<Request<ReplayBody<B>>>,
    S::Error: Into<BoxError>,
    P: Policy,
{
    fn policy(&self) -> &P {
        self.overridden.as_ref().unwrap_or(&self.shared.policy)
    }

    /// The call's deadline: the policy's, or the request's own
    /// `grpc-timeout` when sooner (feature `grpc`): a server gives up on
    /// the call then, and gRFC A6 bounds retries by the call's deadline.
    fn deadline(&self) -> Option<Duration> {
        let policy = self.policy().deadline();
        #[cfg(feature = "grpc")]
        if let Some(own) = self.grpc_timeout() {
            return Some(policy.map_or(own, |policy| policy.min(own)));
        }
        policy
    }

    /// The request's own `grpc-timeout`, if it carries one.
    #[cfg(feature = "grpc")]
    fn grpc_timeout(&self) -> Option<Duration> {
        let value = self.context.header(crate::grpc::GRPC_TIMEOUT)?;
        crate::grpc::parse_timeout(value.as_bytes())
    }

    /// The request would wait: pending, unless the deadline has passed
    /// (its clock and timer start here the first time).
    fn pending<T>(
        &mut self,
        deadline: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Next<Output<T>> {
        if !self.arm_deadline(deadline, cx) {
            return Next::Pending;
        }
        Next::Ready(self.deadline_passed(false))
    }

    /// The call's deadline has passed (`unsent`: with an attempt a layer
    /// below held unsent): it ends unanswered.
    fn deadline_passed<T>(&mut self, unsent: bool) -> Output<T> {
        let mut transport = TransportError::deadline_elapsed();
        transport.set_request(Some(self.context.request()));
        self.ended_unanswered(Error::Transport(transport), StopReason::Deadline, unsent)
    }

    /// Starts the call's clock if it is not running yet, and the
    /// deadline's timer with it if the policy has a deadline; registers
    /// the timer's waker. True if the deadline has already passed.
    fn arm_deadline(
        &mut self,
        mut deadline: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> bool {
        // The clock runs without a deadline too: a policy may bound the
        // call by `RetryContext::elapsed` itself.
        if self.started.is_none() {
            // One clock read: the timer's deadline is reckoned from it too.
            let now = Instant::now();
            self.started = Some(now);
            if let Some(limit) = self.deadline() {
                let sleep = match now.checked_add(limit) {
                    Some(at) => tokio::time::sleep_until(at),
                    // Too far to reckon: tokio's own far future.
                    None => tokio::time::sleep(limit),
                };
                deadline.set(Some(sleep));
            }
        }
        deadline
            .as_pin_mut()
            .is_some_and(|sleep| sleep.poll(cx).is_ready())
    }

    /// An attempt failed (see [`succeeded`](Self::succeeded)): decided.
    fn judge<T>(
        &mut self,
        result: Result<Response<T>, S::Error>,
        state: Pin<&mut State<S::Future>>,
        deadline: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Next<Output<T>> {
        let (decision, kind, status, outcome) = match result {
            Ok(response) => {
                let classification = self.classify(&response);
                let status = response.status();
                let outcome = Outcome::Response {
                    status,
                    headers: response.headers(),
                    classification,
                };
                let auth = response.extensions().get::<AuthReport>().copied();
                let decision = self.decide(outcome, auth);
                let kind = classification.kind().unwrap_or(ErrorKind::Other);
                (decision, kind, Some(status), Ok(response))
            }
            Err(error) => {
                let error = Error::from_inner(error, Some(self.context.request()));
                let decision = self.decide(Outcome::Error(&error), error.auth_report());
                let status = error.api().map(|api| api.status());
                (decision, error.kind(), status, Err(error))
            }
        };
        self.conclude(decision, (kind, status), outcome, (state, deadline), cx)
    }

    /// The policy's decision on a failed attempt.
    fn decide(&self, outcome: Outcome<'_>, auth: Option<AuthReport>) -> Decision {
        let context = RetryContext {
            method: self.context.method(),
            uri: RedactedUri(self.context.uri()),
            headers: HeaderNames(self.context.headers()),
            extensions: self.context.extensions(),
            // What an attempt's failure is judged with, beside its outcome
            // (a clock read with a deadline, a lock for a streamed body:
            // only a failure pays for them).
            state: AttemptState {
                attempts: self.attempts,
                elapsed: self.started.map_or(Duration::ZERO, |at| at.elapsed()),
                previous_delay: self.previous_delay,
                backoff_from: self.backoff_from,
                refusals: self.refusals,
                body_replayable: self.body.is_replayable(),
            },
            auth,
            outcome,
        };
        // Whatever the policy says, a body not kept whole is never sent
        // again, and no wait is started that the deadline would cut: the
        // layer, not each policy, keeps those promises.
        match self.policy().decide(&context) {
            // The cap's reason, or the honest one for a body that failed.
            Decision::Retry { .. } | Decision::Stop(StopReason::BodyNotReplayable)
                if !context.body_replayable() =>
            {
                Decision::Stop(match self.body.has_failed() {
                    true => StopReason::BodyFailed,
                    false => StopReason::BodyNotReplayable,
                })
            }
            // (The deadline of a caller that polls the call within its
            // own, as the auth layer does its token source's, too: a wait
            // it cut would lose the failure's hint.)
            Decision::Retry { delay, .. }
                if !wait_fits(context.elapsed(), delay, self.deadline())
                    || !wait_fits_deadline(delay) =>
            {
                Decision::Stop(StopReason::Deadline)
            }
            decision => decision,
        }
    }

    /// A stamp from a classifier below, else the policy's verdict (a
    /// parse layer below has turned failures into errors already).
    fn classify<T>(&self, response: &Response<T>) -> Classification {
        let stamp = response.extensions().get::<Classification>().copied();
        stamp.unwrap_or_else(|| {
            self.policy()
                .classify(response.status(), response.headers())
        })
    }

    /// A success ends the call: recorded, and stamped with a report if it
    /// was retried.
    fn succeeded<T>(&mut self, response: &mut Response<T>) {
        let report = self.report(None);
        // Only a retried success carries a report: a first-time success
        // costs no allocation.
        if self.attempts > 1 {
            response.extensions_mut().insert(report);
        }
        self.telemetry
            .finished(&report, Some(response.status()), None);
    }

    /// Acts on the decision: the failure ends the call, or a wait starts.
    fn conclude<T>(
        &mut self,
        decision: Decision,
        (kind, status): (ErrorKind, Option<StatusCode>),
        outcome: Output<T>,
        (mut state, deadline): (Pin<&mut State<S::Future>>, Pin<&mut Option<Sleep>>),
        cx: &mut Context<'_>,
    ) -> Next<Output<T>> {
        let error = outcome.as_ref().err();
        let code = error.and_then(Error::api).and_then(|api| api.code());
        let refused = matches!(error, Some(Error::RateLimited(_)));
        let withheld = matches!(error, Some(Error::CircuitOpen(_)));
        // Refused below, or ended by the auth layer or a retry layer below
        // before any send.
        let unsent = error.is_some_and(Error::never_sent);
        self.unsent += u32::from(unsent);
        let failure = Failure::new(kind, code, refused, unsent);
        let (delay, hint) = match decision {
            Decision::Retry { delay, hint } => (delay, hint),
            Decision::Stop(reason) => {
                let report = self.report(Some(reason));
                self.telemetry.finished(&report, status, Some(failure));
                return Next::Ready(match outcome {
                    Ok(mut response) => {
                        response.extensions_mut().insert(report);
                        Ok(response)
                    }
                    Err(mut error) => {
                        error.set_retries(report);
                        Err(error)
                    }
                });
            }
        };
        self.telemetry
            .retrying(self.attempts, status, failure, delay, hint);
        // The failed response (and its connection) is released before the
        // wait.
        drop(outcome);
        let event = RetryEvent {
            method: self.context.method(),
            uri: RedactedUri(self.context.uri()),
            attempt: self.attempts,
            delay,
            kind,
            status,
            hint,
        };
        self.policy().retrying(&event);
        self.previous_delay = delay;
        self.refusals += u32::from(withheld);
        if hint == Some(HintSource::GrpcPushback) {
            self.backoff_from = self.attempts;
        }
        // Saturating: a policy may wait `Duration::MAX` with no deadline.
        self.waited = self.waited.saturating_add(delay);
        self.arm_deadline(deadline, cx);
        state.set(State::Waiting {
            sleep: Box::pin(tokio::time::sleep(delay)),
        });
        Next::Continue
    }

    /// After a wait: the next attempt, once a service is ready for it.
    fn send_again<T>(
        &mut self,
        span: &Span,
        mut state: Pin<&mut State<S::Future>>,
        deadline: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Next<Output<T>>
    where
        S: Clone,
    {
        let shared = &self.shared;
        let service = self
            .service
            .get_or_insert_with(|| Box::new(shared.prototype.service()));
        match service.poll_ready(cx) {
            Poll::Pending => self.pending(deadline, cx),
            Poll::Ready(Ok(())) => {
                let request = self.context.rebuild(self.body.replay());
                // A re-send carries the time left of the call's
                // `grpc-timeout`, not the whole of it (see
                // `grpc::with_time_left`). The request no longer matches the
                // recorded copy, so the layers below build their own context
                // for it, as for any request changed in between.
                #[cfg(feature = "grpc")]
                let request = match self.started {
                    Some(started) => crate::grpc::with_time_left(request, started.elapsed()),
                    None => request,
                };
                self.attempts += 1;
                self.telemetry
                    .resend(span, self.context.sent(), self.attempts - 1);
                let service = self.service.as_mut().expect("made ready above");
                let future = {
                    let _attempt = self.telemetry.enter();
                    let _context = self.context.enter();
                    service.call(request)
                };
                state.set(State::Calling { future });
                Next::Continue
            }
            Poll::Ready(Err(error)) => {
                let error = Error::from_inner(error, Some(self.context.request()));
                Next::Ready(self.ended_unanswered(error, StopReason::ServiceFailed, false))
            }
        }
    }

    /// Ends the call in `error`, stopped for `reason`, with no response to
    /// show (`unsent`: its last attempt was held unsent), and records it:
    /// its deadline passed, or the service failed to get ready for a retry.
    fn ended_unanswered<T>(
        &mut self,
        mut error: Error,
        reason: StopReason,
        unsent: bool,
    ) -> Output<T> {
        self.unsent += u32::from(unsent);
        let report = self.report(Some(reason));
        error.set_retries(report);
        let failure = Failure::new(error.kind(), None, false, unsent);
        self.telemetry.finished(&report, None, Some(failure));
        Err(error)
    }
}
