//! [`ResponseFuture`] of [`Auth`](super::Auth): get a credential, send,
//! and on a rejection renew it once and send again.

use super::error::{AuthFailure, Failure};
use super::state::{Acquire, Current, Tokens, Wait};
use super::{challenge, AuthReport, Renewal, ResendBody, Unauthorized};
use crate::context::CallContext;
use crate::error::BoxError;
use crate::hedged::{HoldGuard, Holds};
use crate::prototype::{release_readiness, Prototype};
use crate::redact::{RequestSecrets, Scrubber};
use crate::{ApiError, Error};
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower::Service;

pin_project! {
    /// The response future of [`Auth`](super::Auth).
    ///
    /// Dropping it cancels this request only: a refresh it started goes on
    /// in its own task for the requests that share it.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future>,
        // `None` for a request that carries the caller's own credential.
        send: Option<Send<S, B>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // The caller's own credential: the inner future, as it is.
        Passthrough {
            #[pin]
            future: F,
        },
        // Waiting for the first credential (none cached yet), or for the
        // renewed one (the first send was rejected).
        Waiting {
            wait: Wait,
        },
        // A send with a credential: the first, or (`resend`) the one
        // after a renewal.
        Calling {
            #[pin]
            future: F,
            resend: bool,
        },
        Readying,
        Done,
    }
}

/// What sending (and sending again) needs.
struct Send<S, B> {
    /// What a send after a wait or a renewal goes through: a clone of the
    /// prototype, made (and boxed) only then. The first send goes through
    /// the caller's ready service, in place.
    prototype: Arc<Prototype<S>>,
    spare: Option<Box<S>>,
    tokens: Arc<Tokens>,
    /// The request a re-send is rebuilt from, entered while the layers
    /// below are called: the call's context found from a layer above (see
    /// `crate::context`), or recorded here.
    context: CallContext,
    /// The request, while the first credential loads (boxed: rare, and
    /// the future moves on every call).
    first: Option<Box<Request<B>>>,
    /// The copy of the body kept for a re-send.
    copy: Option<B>,
    /// The generation of the credential the last send carried.
    generation: u64,
    /// That credential's header value, to scrub its echoes from an error.
    sent: Option<HeaderValue>,
    /// The renewed credential, between renewal and re-send.
    next: Option<Current>,
    renewal: Option<Renewal>,
    /// The status that rejected the credential.
    rejected: Option<StatusCode>,
    /// The server's typed answer to the rejected send, while renewing.
    rejection: Option<ApiError>,
    /// While a send waits for a credential: the hold a hedge layer above
    /// sees (see [`Holds`]), so that it sends no hedge to wait behind it.
    held: Option<HoldGuard>,
    /// When the call reached this layer, for a gRPC call with a deadline
    /// (`grpc-timeout`): a send after a wait or a renewal carries the time
    /// left of it, not the whole (gRFC A6).
    #[cfg(feature = "grpc")]
    started: Option<tokio::time::Instant>,
}

/// A request dropped while the first credential loads was never sent
/// (see `crate::context`).
impl<S, B> Drop for Send<S, B> {
    fn drop(&mut self) {
        if self.first.is_some() {
            crate::context::dropped_unsent();
        }
    }
}

/// What a step of [`ResponseFuture::poll`] leads to. (A step that sends
/// sets the state itself: a value carrying the inner future would be
/// copied on every return.)
enum Next<T> {
    /// The call ends with this.
    Ready(T),
    /// A credential is ready: send, once a service is.
    Readying,
    /// Wait for the renewal.
    Waiting(Wait),
    /// Go on in the state the step set.
    Continue,
}

type Output<R> = Result<Response<R>, Error>;

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>> + Clone,
    S::Error: Into<BoxError>,
    B: ResendBody,
{
    pub(crate) fn passthrough(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Passthrough { future },
            send: None,
        }
    }

    /// Sends at once with the cached credential, on the service the caller
    /// made ready; or gives that readiness back and waits for the first
    /// credential. `found` is the call's context from a layer above, when
    /// it describes this request.
    pub(crate) fn start(
        service: &mut S,
        prototype: Arc<Prototype<S>>,
        request: Request<B>,
        tokens: Arc<Tokens>,
        found: Option<CallContext>,
        acquired: Acquire,
    ) -> Self {
        let copy = request.body().resend_copy();
        // The context it re-sends from, and enters for the layers below
        // with the credential header declared as set here (this layer
        // scrubs its echoes): the one found; used alone, one recorded here.
        let context = found.unwrap_or_else(|| CallContext::record(&request));
        #[cfg(feature = "grpc")]
        let started = context
            .header(crate::grpc::GRPC_TIMEOUT)
            .map(|_| tokio::time::Instant::now());
        let mut send = Send {
            prototype,
            spare: None,
            tokens,
            context,
            first: None,
            copy: Some(copy),
            generation: 0,
            sent: None,
            next: None,
            renewal: None,
            rejected: None,
            rejection: None,
            held: None,
            #[cfg(feature = "grpc")]
            started,
        };
        let state = match acquired {
            Acquire::Ready(current) => send.dispatch(service, request, current, false),
            Acquire::Wait(wait) => {
                // Sent later on a clone of the prototype: the caller's
                // ready service gives its readiness back, or a caller that
                // keeps it holds the permit that clone's `poll_ready` needs.
                release_readiness(service);
                let wait = send.timed(wait);
                send.first = Some(Box::new(request));
                State::Waiting { wait }
            }
        };
        ResponseFuture {
            state,
            send: Some(send),
        }
    }
}

opaque_debug!([S: Service<Request<B>>, B] ResponseFuture<S, B>);

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: ResendBody,
{
    type Output = Output<ResBody>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match (this.state.as_mut().project(), this.send.as_mut()) {
                (StateProj::Passthrough { future }, _) => {
                    let result = ready!(future.poll(cx));
                    Next::Ready(result.map_err(|error| Error::from_inner(error, None)))
                }
                (StateProj::Waiting { wait }, Some(send)) => {
                    send.loaded(ready!(wait.as_mut().poll(cx)))
                }
                // The answer to the re-send is the answer: a second
                // rejection is returned as it is, never renewed again. An
                // answer to the first send that does not reject the
                // credential goes up as it came: passed by value through the
                // steps of a renewal, it was copied at each.
                (StateProj::Calling { future, resend }, Some(send)) => {
                    match ready!(future.poll(cx)) {
                        result if *resend => Next::Ready(send.resent(result)),
                        Ok(response) if accepts(&response) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        result => send.answered(result),
                    }
                }
                (StateProj::Readying, Some(send)) => {
                    let state = this.state.as_mut();
                    ready!(send.poll_send(state, cx))
                }
                (StateProj::Done, _) => panic!("auth ResponseFuture polled after completion"),
                (_, None) => unreachable!("every state but Passthrough has its send"),
            };
            match next {
                Next::Ready(output) => {
                    this.state.set(State::Done);
                    return Poll::Ready(output);
                }
                Next::Readying => this.state.set(State::Readying),
                Next::Waiting(wait) => this.state.set(State::Waiting { wait }),
                Next::Continue => {}
            }
        }
    }
}

/// True unless `response` rejects the credential it was sent with.
fn accepts<T>(response: &Response<T>) -> bool {
    !challenge::rejects_credential(response.status(), response.headers())
}

impl<S, B> Send<S, B>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    B: ResendBody,
{
    /// `current` is the credential to send with next.
    fn readying<T>(&mut self, current: Current) -> Next<T> {
        self.next = Some(current);
        Next::Readying
    }

    /// The first send rejected the credential (a response the poll has
    /// judged so), or failed: a rejection starts the credential's renewal;
    /// any other error is the answer.
    fn answered<T>(&mut self, result: Result<Response<T>, S::Error>) -> Next<Output<T>> {
        let rejection = match result {
            Ok(response) => {
                // The rejected response (and its connection) is released
                // before the renewal.
                self.rejected = Some(response.status());
                None
            }
            Err(error) => match self.error_from_inner(error) {
                Error::Api(api) if challenge::rejects_api(&api) => {
                    self.rejected = Some(api.status());
                    Some(api)
                }
                other => return Next::Ready(Err(other)),
            },
        };
        self.renew(rejection)
    }

    /// Renews the rejected credential, or waits for its renewal.
    fn renew<T>(&mut self, rejection: Option<ApiError>) -> Next<Output<T>> {
        let (acquire, renewal) = self.tokens.renew(self.generation);
        self.renewal = renewal;
        let status = self.rejected.unwrap_or(StatusCode::UNAUTHORIZED);
        self.tokens.observer.credential_rejected(status, renewal);
        if !self.copy.as_ref().is_some_and(ResendBody::can_resend) {
            // A refresh this started goes on in its own task, for the
            // requests that follow.
            drop(acquire);
            let failure = Failure::new(AuthFailure::BodyNotReplayable, None);
            return Next::Ready(Err(self.unauthorized(failure, 1, rejection)));
        }
        match acquire {
            Acquire::Ready(current) => self.readying(current),
            Acquire::Wait(wait) => {
                let wait = self.timed(wait);
                // Held only to end in an `Unauthorized` that shows the
                // server's answer.
                self.rejection = rejection;
                Next::Waiting(wait)
            }
        }
    }

    /// The first credential loaded, or the renewal ended (or could not):
    /// the held first request, or the re-send, is sent once a service is
    /// ready for it.
    fn loaded<T>(&mut self, loaded: Result<Current, Failure>) -> Next<Output<T>> {
        match loaded {
            Ok(current) => {
                self.rejection = None;
                self.readying(current)
            }
            Err(failure) => {
                // Not renewed: the report says so.
                self.renewal = None;
                let rejection = self.rejection.take();
                let sends = u32::from(self.first.is_none());
                Next::Ready(Err(self.unauthorized(failure, sends, rejection)))
            }
        }
    }

    /// A service ready, sends the held first request or the re-send.
    fn poll_send<T>(
        &mut self,
        mut state: Pin<&mut State<S::Future>>,
        cx: &mut Context<'_>,
    ) -> Poll<Next<Output<T>>>
    where
        S: Clone,
    {
        let prototype = &self.prototype;
        let spare = self
            .spare
            .get_or_insert_with(|| Box::new(prototype.service()));
        // Not sent: the service failed, or a gRPC call's deadline passed.
        let report = AuthReport::new(u32::from(self.first.is_none()), self.renewal);
        let unsent = |mut error: Error| {
            error.set_auth_report(report);
            Poll::Ready(Next::Ready(Err(error)))
        };
        if let Err(error) = ready!(spare.poll_ready(cx)) {
            return unsent(Error::from_inner(error, Some(self.context.request())));
        }
        let (mut request, resend) = match self.first.take() {
            // The first send, after the first credential loaded.
            Some(first) => (*first, false),
            // A re-send, after a renewal: rebuilt from the call's context.
            None => {
                let body = self.copy.take().expect("the copy is sent once");
                (self.context.rebuild(body), true)
            }
        };
        #[cfg(feature = "grpc")]
        if let Some(started) = self.started {
            match crate::grpc::in_time(request, started.elapsed()) {
                Ok(left) => request = left,
                Err(cut) => return unsent(cut),
            }
        }
        let current = self.next.take().expect("a credential is ready");
        request
            .headers_mut()
            .insert(self.tokens.format.header.clone(), current.header.clone());
        let mut spare = self.spare.take().expect("made above");
        state.set(self.dispatch(&mut spare, request, current, resend));
        self.spare = Some(spare);
        Poll::Ready(Next::Continue)
    }

    /// The answer to the re-send, with the report of what this layer did.
    fn resent<T>(&mut self, result: Result<Response<T>, S::Error>) -> Output<T> {
        let report = AuthReport::new(2, self.renewal);
        let mut output = result.map_err(|error| self.error_from_inner(error));
        // The report goes on the answer, and what the server said of the
        // renewed credential is read from it (a transport failure says
        // nothing).
        let rejected = match &mut output {
            Ok(response) => {
                response.extensions_mut().insert(report);
                Some(!accepts(response))
            }
            Err(error) => {
                error.set_auth_report(report);
                error.api().map(challenge::rejects_api)
            }
        };
        if let Some(rejected) = rejected {
            self.tokens.resend_answered(self.generation, rejected);
        }
        output
    }

    /// Sends `request`, which carries `credential` already, on `service`
    /// (made ready).
    fn dispatch(
        &mut self,
        service: &mut S,
        request: Request<B>,
        credential: Current,
        resend: bool,
    ) -> State<S::Future> {
        self.generation = credential.generation;
        self.sent = Some(credential.header);
        self.held = None;
        let future = {
            let _context = self.context.enter_setting(&self.tokens.format.header);
            service.call(request)
        };
        State::Calling { future, resend }
    }

    /// `wait`, timed and reported as an `auth` wait of the request's
    /// method and URI when the observer records metrics; as it is
    /// otherwise. The send is held until it is made.
    fn timed(&mut self, wait: Wait) -> Wait {
        self.held = self.context.extensions().get::<Holds>().map(Holds::hold);
        let observer = &self.tokens.observer;
        if !observer.has_metrics() {
            return wait;
        }
        // Recorded as waited when it ends, or when the caller gives up.
        let waiting = observer.credential_wait(self.context.sent());
        Box::pin(async move {
            let _waiting = waiting;
            wait.await
        })
    }

    /// The inner service's error as ours, with echoes of the credential
    /// this layer added scrubbed from a typed answer: the layers around
    /// never saw it.
    fn error_from_inner(&self, error: impl Into<BoxError>) -> Error {
        let mut error = Error::from_inner(error, Some(self.context.request()));
        let api = match &mut error {
            Error::Api(api) => Some(api),
            Error::Unauthorized(unauthorized) => unauthorized.rejection_mut(),
            _ => None,
        };
        if let (Some(api), Some(sent)) = (api, &self.sent) {
            let secrets = RequestSecrets::of_authorization(sent.as_bytes());
            api.scrub(&Scrubber::new(secrets, None));
        }
        error
    }

    fn unauthorized(&self, failure: Failure, sends: u32, rejection: Option<ApiError>) -> Error {
        self.tokens.observer.unauthorized(failure.reason);
        let report = AuthReport::new(sends, self.renewal);
        let request = Some(self.context.request());
        let unauthorized = Unauthorized::new(failure, self.rejected, rejection, report, request);
        Error::Unauthorized(unauthorized)
    }
}
