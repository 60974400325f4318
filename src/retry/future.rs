//! [`ResponseFuture`] of [`Retry`](super::Retry): attempt, decide, wait,
//! get ready, attempt again.

use super::policy::{AttemptState, Decision, Outcome, RetryContext, RetryEvent, RetryOverride};
use super::service::Shared;
use super::{ReplayBody, RetryPolicy};
use crate::auth::AuthResend;
use crate::classify::{Classification, Classify, DefaultClassifier};
use crate::error::BoxError;
use crate::observe::{self, Call, Failure, Span};
use crate::redact::{RequestSecrets, Scrubber};
use crate::template::RequestTemplate;
use crate::{Error, ErrorKind, RetryReport, StopReason, TransportError};
use http::{Extensions, HeaderMap, Method, Request, Response, Uri};
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
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        #[pin]
        state: State<S::Future>,
        // The layer's policy, and where the services for further sends
        // come from (see `Prototype`); the one being made ready or used
        // for them: boxed, as a client such as hyper-util's is ~300 bytes,
        // and only a retry needs one.
        shared: Arc<Shared<S>>,
        service: Option<Box<S>>,
        template: Template,
        body: ReplayBody<B>,
        // The request's own settings (`RetryOverride`), when it carries
        // any; else the layer's policy, in `shared`.
        overridden: Option<RetryPolicy>,
        attempts: u32,
        // The deadline's clock starts the first time the request has to
        // wait (an attempt pending, or a retry's wait): a request answered
        // at once, as an in-memory service does, reads no clock and arms no
        // timer. The work before that first wait is the caller's own.
        started: Option<Instant>,
        waited: Duration,
        previous_delay: Duration,
        // Armed only when first needed (see `started`), in place: every
        // request over a network arms it, and a boxed timer cost each one
        // an allocation (a request answered at once only carries its
        // 112 bytes).
        #[pin]
        deadline: Option<Sleep>,
        span: Span,
        call: Call,
        // The auth layer's request to send again after a renewal (under
        // `ApiErrorsLayer`): the next send is that, not a retry.
        auth_resend: Option<AuthResend>,
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

/// The retry layer's copy of the request: the shared template, and what
/// the retry layer does with it.
type Template = RequestTemplate;

impl Template {
    /// What a retry decision sees of the request.
    fn parts(&self) -> (&Method, &Uri, &HeaderMap, &Extensions) {
        (&self.method, &self.uri, self.headers(), self.extensions())
    }

    /// Names the request in an error from below that a parse layer built
    /// with `NamedAbove` left unnamed, and scrubs echoes of the request's
    /// credentials from it: the work that parse layer would have done
    /// with its own copy of the request on every call, done here on a
    /// failure only, from the one copy this layer keeps anyway.
    fn complete(&self, error: &mut Error) {
        let api = match error {
            Error::Api(api) => api,
            Error::Unauthorized(unauthorized) => {
                if unauthorized.request().is_none() {
                    unauthorized.set_request(Some(self.context()));
                }
                match unauthorized.rejection_mut() {
                    Some(api) => api,
                    None => return,
                }
            }
            Error::Transport(transport) => {
                if transport.request().is_none() {
                    transport.set_request(Some(self.context()));
                }
                return;
            }
            _ => return,
        };
        if api.request().is_some() {
            return;
        }
        let secrets = RequestSecrets::of(self.headers());
        api.scrub(&Scrubber::new(secrets, Some(&self.uri)));
        api.set_request(Some(self.context()));
        observe::api_error(api);
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
    B: http_body::Body,
{
    /// Sends the first attempt at once, on the service the caller made ready.
    pub(crate) fn start(service: &mut S, shared: Arc<Shared<S>>, request: Request<B>) -> Self {
        let (parts, body) = request.into_parts();
        // A request's own settings, if it carries any (an empty extension
        // map answers this without a lookup).
        let overridden = parts
            .extensions
            .get::<RetryOverride>()
            .map(|with| shared.policy.with_override(with));
        let policy = overridden.as_ref().unwrap_or(&shared.policy);
        let first_body = ReplayBody::new(body, policy.max_replay());
        let body = first_body.replay();
        // The one copy of the request that replays need.
        let template = Template::new(&parts);
        // A hedged call's attempts: the hedge layer counted the call.
        if parts.extensions.get::<crate::hedged::Hedged>().is_none() {
            policy.deposit();
        }
        let span = Span::request(&template.method, &template.uri);
        let call = Call::start(policy.observer(), &span, &template.method, &template.uri);
        let future = {
            let _entered = span.enter();
            let _attempt = call.enter();
            service.call(Request::from_parts(parts, first_body))
        };
        ResponseFuture {
            state: State::Calling { future },
            shared,
            service: None,
            template,
            body,
            overridden,
            attempts: 1,
            started: None,
            waited: Duration::ZERO,
            previous_delay: Duration::ZERO,
            deadline: None,
            span,
            call,
            auth_resend: None,
        }
    }
}

/// The auth layer's request to send again, if `error` is one.
fn auth_resend(error: &Error) -> Option<AuthResend> {
    match error {
        Error::Unauthorized(unauthorized) => unauthorized.resend_requested(),
        _ => None,
    }
}

/// Starts the deadline's clock and timer if the policy has a deadline and
/// they are not running yet, and registers the timer's waker. True if the
/// deadline has already passed.
fn arm_deadline(
    policy: &RetryPolicy,
    started: &mut Option<Instant>,
    mut deadline: Pin<&mut Option<Sleep>>,
    cx: &mut Context<'_>,
) -> bool {
    if deadline.is_none() {
        let Some(limit) = policy.deadline_value() else {
            return false;
        };
        // One clock read: the timer's deadline is reckoned from it too.
        let now = Instant::now();
        *started = Some(now);
        let sleep = match now.checked_add(limit) {
            Some(at) => tokio::time::sleep_until(at),
            // Too far to reckon: tokio's own far future.
            None => tokio::time::sleep(limit),
        };
        deadline.set(Some(sleep));
    }
    deadline
        .as_pin_mut()
        .is_some_and(|sleep| sleep.poll(cx).is_ready())
}

/// Records a request that ends in `error` with no response to show: its
/// deadline passed, or the service failed to get ready for a retry.
fn ended_unanswered(call: &mut Call, error: &Error) {
    call.finished(
        &error.retries(),
        None,
        Some(Failure {
            kind: error.kind(),
            code: None,
            refused: false,
        }),
    );
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempts", &self.attempts)
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shared = &**this.shared;
        let policy = this.overridden.as_ref().unwrap_or(&shared.policy);
        let names_errors = shared.names_errors;
        let _entered = this.span.enter();
        // The deadline is polled only where the request would otherwise
        // wait (and before a new send): an attempt that is ready costs no
        // poll of the timer, which registers the task's waker each time.
        let mut due = false;
        loop {
            let report = |reason| RetryReport::new(*this.attempts, *this.waited).with_stop(reason);
            if due {
                let mut transport = TransportError::deadline_elapsed();
                transport.set_request(Some(this.template.context()));
                let mut error = Error::Transport(transport);
                error.set_retries(report(Some(StopReason::Deadline)));
                ended_unanswered(this.call, &error);
                this.state.set(State::Done);
                return Poll::Ready(Err(error));
            }
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let polled = {
                        let _attempt = this.call.enter();
                        future.poll(cx)
                    };
                    let result = match polled {
                        Poll::Ready(result) => result,
                        Poll::Pending => {
                            if arm_deadline(policy, this.started, this.deadline.as_mut(), cx) {
                                due = true;
                                continue;
                            }
                            return Poll::Pending;
                        }
                    };
                    // Only a failure needs the attempt's state (a clock
                    // read with a deadline, a lock for a streamed body).
                    let attempt = || AttemptState {
                        attempts: *this.attempts,
                        elapsed: this
                            .started
                            .map_or(Duration::ZERO, |started| started.elapsed()),
                        previous_delay: *this.previous_delay,
                        body_replayable: this.body.is_replayable(),
                    };
                    let template = &*this.template;
                    let (decision, kind, status, outcome) = match result {
                        Ok(mut response) => {
                            // Over `ApiErrorsLayer`'s parse layer, a
                            // response is a success by its classifier (a
                            // failure came up as an error): no second
                            // verdict, which could disagree with a custom
                            // classifier.
                            let classification = if names_errors {
                                Classification::Success
                            } else {
                                response
                                    .extensions()
                                    .get::<Classification>()
                                    .copied()
                                    .unwrap_or_else(|| {
                                        DefaultClassifier::new()
                                            .classify(response.status(), response.headers())
                                    })
                            };
                            if classification.is_success() {
                                // Only a retried success carries a report:
                                // a first-time success costs no allocation.
                                if *this.attempts > 1 {
                                    response.extensions_mut().insert(report(None));
                                }
                                this.call
                                    .finished(&report(None), Some(response.status()), None);
                                this.state.set(State::Done);
                                return Poll::Ready(Ok(response));
                            }
                            let status = response.status();
                            let context = RetryContext::new(
                                template.parts(),
                                *this.attempts,
                                Outcome::Response {
                                    status,
                                    headers: response.headers(),
                                    classification,
                                },
                            );
                            let decision = policy.decide(&context, &attempt());
                            let kind = classification.kind().unwrap_or(ErrorKind::Other);
                            (decision, kind, Some(status), Ok(response))
                        }
                        Err(error) => {
                            let mut error = Error::from_inner(error, Some(template.context()));
                            if names_errors {
                                if let Some(resend) = auth_resend(&error) {
                                    // The auth layer renewed a rejected
                                    // credential: send again at once, from
                                    // this layer's copy, as the auth
                                    // layer would have from its own.
                                    *this.auth_resend = Some(resend);
                                    this.state.set(State::Readying);
                                    continue;
                                }
                                template.complete(&mut error);
                            }
                            let context = RetryContext::new(
                                template.parts(),
                                *this.attempts,
                                Outcome::Error(&error),
                            );
                            let decision = policy.decide(&context, &attempt());
                            let status = error.api().map(|api| api.status());
                            (decision, error.kind(), status, Err(error))
                        }
                    };
                    let code = outcome
                        .as_ref()
                        .err()
                        .and_then(Error::api)
                        .and_then(|api| api.code());
                    let refused = matches!(outcome, Err(Error::RateLimited(_)));
                    let failure = Failure {
                        kind,
                        code,
                        refused,
                    };
                    match decision {
                        Decision::Stop(reason) => {
                            this.call
                                .finished(&report(Some(reason)), status, Some(failure));
                            this.state.set(State::Done);
                            return Poll::Ready(match outcome {
                                Ok(mut response) => {
                                    response.extensions_mut().insert(report(Some(reason)));
                                    Ok(response)
                                }
                                Err(mut error) => {
                                    error.set_retries(report(Some(reason)));
                                    Err(error)
                                }
                            });
                        }
                        Decision::Retry { delay, hint } => {
                            this.call
                                .retrying(*this.attempts, status, failure, delay, hint);
                            // The failed response (and its connection) is
                            // released before the wait.
                            drop(outcome);
                            policy.notify(&RetryEvent::new(
                                (&this.template.method, &this.template.uri),
                                *this.attempts,
                                delay,
                                kind,
                                status,
                                hint,
                            ));
                            *this.previous_delay = delay;
                            *this.waited += delay;
                            arm_deadline(policy, this.started, this.deadline.as_mut(), cx);
                            this.state.set(State::Waiting {
                                sleep: Box::pin(tokio::time::sleep(delay)),
                            });
                        }
                    }
                }
                StateProj::Waiting { sleep } => {
                    // Waited out, or not: the deadline first, so that no
                    // attempt starts past it.
                    let waited = sleep.as_mut().poll(cx).is_ready();
                    if arm_deadline(policy, this.started, this.deadline.as_mut(), cx) {
                        due = true;
                        continue;
                    }
                    if !waited {
                        return Poll::Pending;
                    }
                    this.state.set(State::Readying);
                }
                StateProj::Readying => match this
                    .service
                    .get_or_insert_with(|| Box::new(shared.prototype.service()))
                    .poll_ready(cx)
                {
                    Poll::Pending => {
                        if arm_deadline(policy, this.started, this.deadline.as_mut(), cx) {
                            due = true;
                            continue;
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(())) => {
                        let mut request = this.template.build(this.body.replay());
                        if let Some(resend) = this.auth_resend.take() {
                            // Part of the same attempt, as the auth
                            // layer's own re-send is.
                            request.extensions_mut().insert(resend);
                        } else {
                            *this.attempts += 1;
                            let t = &*this.template;
                            this.call
                                .resend(this.span, &t.method, &t.uri, *this.attempts - 1);
                        }
                        let future = {
                            let _attempt = this.call.enter();
                            this.service
                                .as_mut()
                                .expect("made ready above")
                                .call(request)
                        };
                        this.state.set(State::Calling { future });
                    }
                    Poll::Ready(Err(error)) => {
                        let mut error = Error::from_inner(error, Some(this.template.context()));
                        if names_errors {
                            this.template.complete(&mut error);
                        }
                        error.set_retries(report(None));
                        ended_unanswered(this.call, &error);
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error));
                    }
                },
                StateProj::Done => panic!("retry ResponseFuture polled after completion"),
            }
        }
    }
}
