//! [`ResponseFuture`] of [`Hedge`](super::Hedge): the first attempt, a
//! hedge when it is slow (or failed in a way another try may fix), the
//! first final answer.

use super::layer::Config;
use super::learn::{judged_window, Lesson, BARE_429};
use crate::classification::{self, classify_response, Classification};
use crate::context::CallContext;
use crate::error::BoxError;
use crate::hedged::{Claim, ClaimedBy, Hedged, Holds};
use crate::hints::{HintSource, RateLimitInfo, ResponseHints};
use crate::observe::{Failure, HedgedCall};
use crate::prototype::Prototype;
use crate::replay::ReplayBody;
use crate::{Error, ErrorKind, RetryReport, StopReason};
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, Sleep};
use tower::Service;

pin_project! {
    /// The response future of [`Hedge`](super::Hedge).
    ///
    /// Ends in exactly one outcome: the first final answer (a success, or
    /// a failure another try cannot fix), else the last failure. Dropping
    /// it drops (cancels) every attempt in flight.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        #[pin]
        first: Attempt<S::Future>,
        #[pin]
        second: Attempt<S::Future>,
        #[pin]
        timer: Timer,
        // What the hedge needs, until it is sent or given up.
        spare: Option<Box<Spare<S, B>>>,
        // The hedge's, until it leaves the layers below that may hold it
        // before its send (see `Holds`): a hedge held is not sent yet.
        unsent: Option<Unsent>,
        // The latest failure, while another attempt may still win.
        kept: Option<Result<S::Response, Error>>,
        call: Call<S>,
    }

    // A call dropped with its hedge in flight cancels the hedge: reported
    // as such (an answered race reported it already, and left it idle).
    impl<S, B> PinnedDrop for ResponseFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        fn drop(this: Pin<&mut Self>) {
            if this.second.is_running() && this.unsent.is_none() {
                this.call.raced(false);
            }
        }
    }
}

pin_project! {
    #[project = AttemptProj]
    enum Attempt<F> {
        Running {
            #[pin]
            future: F,
            sent: Instant,
        },
        Idle,
    }
}

pin_project! {
    #[project = TimerProj]
    enum Timer {
        Armed {
            #[pin]
            sleep: Sleep,
        },
        // The hedge is due: waiting for its service to be ready.
        Due,
        // The first attempt is held below before its send: no hedge yet.
        Held,
        Off,
    }
}

/// The hedge's request, kept from the call: its parts, a replay of the
/// body, and the service it goes through once made ready.
pub(crate) struct Spare<S, B> {
    pub(super) template: CallContext,
    pub(super) body: ReplayBody<B>,
    pub(super) service: Option<S>,
    pub(super) claim: Claim,
    /// The first attempt's: held below before its send (see [`Holds`]).
    pub(super) holds: Holds,
    /// The hedge's delay, from the first attempt's send.
    pub(super) delay: Duration,
}

impl<S, B> Spare<S, B> {
    /// Follows the first attempt's hold below before its send (see
    /// [`Holds`]): no hedge goes while it is held. Once it is sent, the
    /// hedge is due `delay` after the send, and the attempt's latency runs
    /// from it: the server's, as the delay is.
    fn follow_hold<F>(&self, first: Pin<&mut Attempt<F>>, mut timer: Pin<&mut Timer>) {
        if self.holds.is_held() {
            timer.set(Timer::Held);
        } else if matches!(*timer, Timer::Held) {
            if let AttemptProj::Running { sent, .. } = first.project() {
                *sent = Instant::now();
            }
            let sleep = tokio::time::sleep(self.delay);
            timer.set(Timer::Armed { sleep });
        }
    }
}

/// A hedge not sent yet: the [`Holds`] the layers below hold it by before
/// its send, and the budget it drew on (when). Dropped so, refused below,
/// still held when the call ended, or given up before its send, it gives
/// the withdrawal back: a hedge never sent is no extra load (issue 26:
/// "Hedges draw on the same budget as retries"). Sent, it keeps none.
pub(crate) struct Unsent {
    holds: Holds,
    /// The budget drawn on (`None` once the hedge is sent: spent).
    budget: Option<Arc<dyn crate::budget::SharedBudget>>,
    drawn: Instant,
}

impl Drop for Unsent {
    fn drop(&mut self) {
        crate::budget::refund(self.budget.as_deref(), self.drawn);
    }
}

/// What a call needs of its layer.
pub(crate) struct Call<S> {
    pub(super) config: Arc<Config>,
    pub(super) prototype: Arc<Prototype<S>>,
    pub(super) key: u64,
    pub(super) started: Instant,
    /// A hedged call's method and URI, for its events, and its record.
    pub(super) target: Option<Box<Named>>,
}

/// A hedged call, as its events name it, and what it records.
pub(crate) struct Named {
    method: http::Method,
    uri: http::Uri,
    attempts: u32,
    record: HedgedCall,
}

/// A hedged call dropped before its end (the caller gave up) is still
/// recorded, once.
impl Drop for Named {
    fn drop(&mut self) {
        let report = RetryReport::new(self.attempts, Duration::ZERO);
        self.record.finished(&report, None);
    }
}

impl<S> Call<S> {
    /// A hedged call, of `parts` (given what its attempts share).
    pub(crate) fn naming(mut self, parts: &mut http::request::Parts) -> Self {
        let record = HedgedCall::start(&self.config.observer, parts);
        self.target = Some(Box::new(Named {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            attempts: 1,
            record,
        }));
        self
    }

    /// Reports the `hedge` sent, now, if it was not yet and it left the
    /// layers below that may hold it before its send (`unsent` holds its
    /// [`Holds`] until then): its latency runs from now, as the first's,
    /// and the budget withdrawal it drew is spent.
    fn hedge_left<F>(&mut self, unsent: &mut Option<Unsent>, hedge: Pin<&mut Attempt<F>>) {
        let Some(mut left) = unsent.take_if(|unsent| !unsent.holds.is_held()) else {
            return;
        };
        // Sent: the withdrawal it drew is spent, not given back.
        left.budget = None;
        if let AttemptProj::Running { sent, .. } = hedge.project() {
            *sent = Instant::now();
        }
        if let Some(target) = &mut self.target {
            target.attempts += 1;
            let after = self.started.elapsed();
            (self.config.observer).hedge_sent(&target.method, &target.uri, after);
        }
    }

    /// Reports how a race ended: the hedge won, or it was cancelled.
    fn raced(&self, hedge_won: bool) {
        let Some(target) = &self.target else { return };
        let (observer, method, uri) = (&self.config.observer, &target.method, &target.uri);
        match hedge_won {
            true => observer.hedge_won(method, uri),
            false => observer.hedge_cancelled(method, uri),
        }
    }

    /// Records the hedged call's end, once: `result`, what the caller gets,
    /// final (`exhausted`: the last of failures another try might have
    /// fixed). The retry layer below recorded each attempt, not the call;
    /// when it retried the first attempt (it owned the call), its report.
    fn ended<R>(&mut self, result: &Result<Response<R>, Error>, exhausted: bool) {
        let Some(target) = &mut self.target else {
            return;
        };
        let (status, kind, below) = match result {
            Ok(ok) => (
                Some(ok.status()),
                classify_response(ok, None).kind(),
                ok.extensions().get::<RetryReport>().copied(),
            ),
            Err(e) => (
                e.api().map(|a| a.status()),
                Some(e.kind()),
                Some(e.retries()),
            ),
        };
        let stopped = match (exhausted, below.and_then(|r| r.stopped())) {
            (true, _) => StopReason::MaxAttempts,
            (false, Some(StopReason::Deadline)) => StopReason::Deadline,
            (false, _) => StopReason::NotRetryable,
        };
        let failure = kind.map(|kind| Failure::new(kind, None, false, false));
        // (Below's when it retried, or when it sent nothing: its own stop.)
        let nothing = target.attempts == 0;
        let report = below.filter(|r| r.attempts() > 1 || nothing && r.attempts() == 0);
        let report = report.unwrap_or_else(|| {
            RetryReport::new(target.attempts, Duration::ZERO)
                .with_stop(failure.is_some().then_some(stopped))
        });
        target.record.finished(&report, Some((status, failure)));
    }

    fn sample(&self, latency: Duration) {
        self.config.scopes.sample(self.key, latency, Instant::now());
    }
}

impl<F: Future> Attempt<F> {
    /// The answer and how long it took; `None` when nothing is running.
    fn poll_answer(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(F::Output, Duration)>> {
        let AttemptProj::Running { future, sent } = self.as_mut().project() else {
            return Poll::Ready(None);
        };
        let sent = *sent;
        let output = ready!(future.poll(cx));
        self.set(Attempt::Idle);
        Poll::Ready(Some((output, sent.elapsed())))
    }

    /// Drops the attempt in flight, if any: how long it had run.
    fn cancel(mut self: Pin<&mut Self>) -> Option<Duration> {
        let AttemptProj::Running { sent, .. } = self.as_mut().project() else {
            return None;
        };
        let ran = sent.elapsed();
        self.set(Attempt::Idle);
        Some(ran)
    }

    fn is_running(&self) -> bool {
        matches!(self, Attempt::Running { .. })
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
{
    /// One attempt, no hedge.
    pub(crate) fn single(first: S::Future, call: Call<S>) -> Self {
        ResponseFuture {
            first: Attempt::Running {
                future: first,
                sent: call.started,
            },
            second: Attempt::Idle,
            timer: Timer::Off,
            spare: None,
            unsent: None,
            kept: None,
            call,
        }
    }

    /// The first attempt, and a hedge due at `at`.
    pub(crate) fn hedged(first: S::Future, call: Call<S>, spare: Spare<S, B>, at: Instant) -> Self {
        let mut future = ResponseFuture::single(first, call);
        future.timer = Timer::Armed {
            sleep: tokio::time::sleep_until(at),
        };
        future.spare = Some(Box::new(spare));
        future
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("hedge_pending", &self.spare.is_some())
            .field("hedge_running", &self.second.is_running())
            .finish_non_exhaustive()
    }
}

/// What an attempt's outcome means for the call.
struct Judged {
    /// A success, or a failure another attempt cannot fix: the call's answer.
    last: bool,
    /// The server asked to wait (`Retry-After`, pushback, a 429) or not to
    /// retry at all: no more hedges for this call.
    stop: bool,
    lesson: Lesson,
}

impl Judged {
    /// Stops the hedges when the server asked to wait (`cooldown`), and
    /// teaches the wait and the `window`.
    fn new(last: bool, cooldown: Option<Duration>, window: Option<RateLimitInfo>) -> Self {
        Judged {
            last,
            stop: cooldown.is_some(),
            lesson: Lesson { cooldown, window },
        }
    }
}

/// Judges an attempt's outcome, and reads what it teaches about the
/// scope's quota (its hints, read once).
fn judge<R>(result: &Result<Response<R>, Error>) -> Judged {
    match result {
        Ok(response) => judge_response(response),
        Err(Error::Api(api)) => {
            // (The verdict first: it sets the retry verdict, which the
            // error's own then replaces.)
            let failure = classification::Failure::new(api.kind());
            let failure = failure.with_server_verdict(api.server_verdict());
            let failure = failure.with_retryable(api.is_retryable());
            let window = judged_window(api.rate_limit().copied(), api.policies());
            judge_failure(failure.with_hint(api.retry_hint()), window)
        }
        // A failure no resend heals is the call's answer, as for the retry
        // layer; an attempt a per-attempt timeout below cut is not: the
        // other attempt may still win.
        Err(Error::Transport(transport)) => Judged::new(transport.ends_the_call(), None, None),
        // Refusals from below stop the call's hedges (see `poll`), but
        // teach its scope nothing: the layer that refused keeps its own
        // state, for its own scope (maybe one partition of this authority),
        // and refuses or holds a hedge itself. Learned here, one
        // partition's open breaker would stop every partition's hedges.
        Err(Error::RateLimited(_) | Error::CircuitOpen(_)) => Judged::new(false, None, None),
        Err(_) => Judged::new(true, None, None),
    }
}

/// A response from a client without a parse layer below, or a success:
/// classified as the retry layer classifies it (a trailers-only gRPC
/// status too), so that both agree on what another try may fix.
fn judge_response<R>(response: &Response<R>) -> Judged {
    // Read for every answer: a success's window teaches the headroom too.
    let hints = ResponseHints::read(response.headers(), SystemTime::now());
    let window = judged_window(hints.rate_limit(), hints.policies());
    match classify_response(response, Some(&hints)) {
        Classification::Failure(failure) => judge_failure(failure, window),
        Classification::Success => Judged::new(true, None, window),
    }
}

/// A failure, typed or raw, by its kind, its retry verdict, the server's
/// own verdict and its hint.
fn judge_failure(failure: classification::Failure, window: Option<RateLimitInfo>) -> Judged {
    let (kind, hint) = (failure.kind(), failure.retry_hint());
    // A window's reset is no request to wait, but a rate limit's is.
    let wait = match kind == ErrorKind::RateLimited {
        true => Some(hint.map_or(BARE_429, |h| h.delay())),
        false => hint
            .filter(|h| h.source() != HintSource::RateLimitReset)
            .map(|h| h.delay()),
    };
    // gRFC A6: the server's "do not retry" (a negative pushback,
    // `x-should-retry: false`) on a failure another try could have fixed
    // stops further hedges; it is no fatal status, so the attempts in
    // flight go on and may still answer the call.
    let declined = failure.server_verdict() == Some(false) && kind.is_transient();
    let mut judged = Judged::new(!failure.is_retryable() && !declined, wait, window);
    judged.stop |= declined;
    judged
}

/// Sends the hedge when all still allows it: the body is whole, the scope
/// has headroom and no cooldown, no retry layer below retried the first
/// attempt (see [`Hedged`]), its service is ready, and the budget has one
/// to give. An empty budget only stops this hedge. Pending while its
/// service is not ready; `None` when it will never go. With the hedge, the
/// [`Holds`] the layers below hold it by before its send.
fn send_hedge<S, B>(
    spare: &mut Option<Box<Spare<S, B>>>,
    call: &Call<S>,
    cx: &mut Context<'_>,
) -> Poll<Option<(S::Future, Unsent)>>
where
    S: Service<Request<ReplayBody<B>>> + Clone,
    B: http_body::Body,
{
    let Some(kept) = spare.as_mut() else {
        return Poll::Ready(None);
    };
    let config = &call.config;
    let may = kept.claim.may(ClaimedBy::Hedge) && kept.body.is_complete();
    if !may || !config.scopes.may_hedge(call.key, Instant::now()) {
        return Poll::Ready(None);
    }
    let service = kept.service.get_or_insert_with(|| call.prototype.service());
    let budget = config.budget.as_ref();
    // A service that failed, or no budget: the first attempt goes on alone.
    if ready!(service.poll_ready(cx)).is_err() || budget.is_some_and(|b| !b.withdraw()) {
        return Poll::Ready(None);
    }
    // From here, a hedge not sent gives its withdrawal back (see `Unsent`).
    let unsent = Unsent {
        holds: Holds::default(),
        budget: budget.cloned(),
        drawn: Instant::now(),
    };
    let spare = *spare.take().expect("checked above");
    let mut request = spare.template.rebuild(spare.body);
    request.extensions_mut().insert(Hedged::new(2));
    request.extensions_mut().insert(unsent.holds.clone());
    // A call with no time left sends no hedge: its first attempt runs on.
    #[cfg(feature = "grpc")]
    let Ok(request) = crate::grpc::in_time(request, call.started.elapsed()) else {
        return Poll::Ready(None);
    };
    // (Lost only to a retry started since the check above.)
    if !spare.claim.take(ClaimedBy::Hedge) {
        return Poll::Ready(None);
    }
    let future = spare.service.expect("made ready above").call(request);
    Poll::Ready(Some((future, unsent)))
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body,
{
    type Output = Result<Response<ResBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            for hedge in [false, true] {
                let (mut slot, other) = match hedge {
                    false => (this.first.as_mut(), this.second.as_mut()),
                    true => (this.second.as_mut(), this.first.as_mut()),
                };
                let Poll::Ready(Some((result, latency))) = slot.as_mut().poll_answer(cx) else {
                    continue;
                };
                let result = result.map_err(|error| Error::from_inner(error, None));
                // Refused below (a breaker, a quota): never sent, not counted; no hedge.
                let refused = result.as_ref().is_err_and(Error::never_sent);
                if hedge {
                    this.unsent.take_if(|_| refused);
                    this.call.hedge_left(this.unsent, slot);
                } else if let (true, Some(target)) = (refused, &mut this.call.target) {
                    target.attempts -= 1;
                }
                let judged = judge(&result);
                let config = &this.call.config;
                let (key, now) = (this.call.key, Instant::now());
                config.scopes.learn(key, judged.lesson, now - latency, now);
                if judged.stop || judged.last || refused {
                    *this.spare = None;
                    this.timer.set(Timer::Off);
                }
                if judged.last {
                    this.call.sample(latency);
                    // (A hedge still held below was never sent: no race, no cost.)
                    let cancelled = other.cancel().filter(|_| this.unsent.take().is_none());
                    if let Some(ran) = cancelled {
                        // The loser's time so far: a lower bound of its latency.
                        this.call.sample(ran);
                    }
                    if hedge || cancelled.is_some() {
                        this.call.raced(hedge);
                    }
                    this.call.ended(&result, false);
                    return Poll::Ready(result);
                }
                *this.kept = Some(result);
                if this.spare.is_some() && !other.is_running() {
                    // A failure another try may fix: the hedge goes now.
                    this.timer.set(Timer::Due);
                }
            }
            this.call.hedge_left(this.unsent, this.second.as_mut());
            if let Some(spare) = this.spare.as_deref() {
                spare.follow_hold(this.first.as_mut(), this.timer.as_mut());
                let due = match this.timer.as_mut().project() {
                    TimerProj::Armed { sleep } => sleep.poll(cx).is_ready(),
                    TimerProj::Due => true,
                    TimerProj::Off | TimerProj::Held => false,
                };
                if due {
                    this.timer.set(Timer::Due);
                    match send_hedge(this.spare, this.call, cx) {
                        // (Either way the hedge is given up: the timer, `Due`,
                        // holds nothing, and is not looked at again.)
                        Poll::Ready(Some((future, unsent))) => {
                            let sent = Instant::now();
                            this.second.set(Attempt::Running { future, sent });
                            *this.unsent = Some(unsent);
                            continue;
                        }
                        Poll::Pending => {}
                        Poll::Ready(None) => *this.spare = None,
                    }
                }
            }
            if this.spare.is_none() && !this.first.is_running() && !this.second.is_running() {
                let kept = this.kept.take().expect("an attempt answered");
                this.call.ended(&kept, true);
                return Poll::Ready(kept);
            }
            return Poll::Pending;
        }
    }
}
