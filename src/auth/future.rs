//! [`ResponseFuture`] of [`Auth`](super::Auth): get a credential, send,
//! and on a rejection renew it once and send again.

use super::challenge;
use super::error::{AuthFailure, Failure};
use super::state::{Acquire, Acquired, Current, Tokens, Wait};
use super::{AuthReport, AuthResend, Renewal, ResendBody, Unauthorized};
use crate::error::BoxError;
use crate::prototype::Prototype;
use crate::redact::{RequestContext, RequestSecrets, Scrubber};
use crate::template::RequestTemplate;
use crate::{ApiError, Error};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
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
        // No credential cached yet: waiting for the first one.
        Acquiring {
            wait: Wait,
        },
        Calling {
            #[pin]
            future: F,
        },
        // Rejected: waiting for the renewed credential.
        Renewing {
            wait: Wait,
        },
        Readying,
        Resending {
            #[pin]
            future: F,
        },
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
    /// `None` under `ApiErrorsLayer`: the retry layer above keeps the one
    /// copy of the request and sends it again after a renewal (see
    /// `AuthResend`). Boxed: the future moves on every call.
    template: Option<Box<RequestTemplate>>,
    /// The request, while the first credential loads (boxed: rare, and
    /// the future moves on every call).
    first: Option<Box<Request<B>>>,
    /// The method and URI a renewal wait is timed under, when metrics time
    /// it and there is no template.
    labels: Option<Box<(Method, Uri)>>,
    /// Set on the retry layer's re-send after a renewal: its answer is the
    /// answer.
    resent: Option<AuthResend>,
    /// The copy kept for a re-send.
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
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn passthrough(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Passthrough { future },
            send: None,
        }
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    B: ResendBody,
{
    /// Sends at once with the cached credential, on the service the caller
    /// made ready; or waits for the first credential.
    pub(crate) fn start(
        service: &mut S,
        prototype: Arc<Prototype<S>>,
        mut request: Request<B>,
        tokens: Arc<Tokens>,
        resend_above: bool,
        acquired: Acquired,
    ) -> Self {
        let copy = request.body().resend_copy();
        let (template, labels, resent) = if resend_above {
            // The retry layer keeps the request (an empty extension map
            // answers the lookup without a search).
            let labels = tokens
                .times_waits()
                .then(|| Box::new((request.method().clone(), request.uri().clone())));
            (
                None,
                labels,
                request.extensions_mut().remove::<AuthResend>(),
            )
        } else {
            let (parts, body) = request.into_parts();
            let template = RequestTemplate::new(&parts);
            request = Request::from_parts(parts, body);
            (Some(Box::new(template)), None, None)
        };
        let mut send = Send {
            prototype,
            spare: None,
            tokens,
            template,
            first: None,
            labels,
            resent,
            renewal: resent.and_then(|resent| resent.renewal),
            copy: Some(copy),
            generation: 0,
            sent: None,
            next: None,
            rejected: None,
            rejection: None,
        };
        let state = match acquired {
            Acquired::Inserted(current) => send.dispatch(service, request, current),
            Acquired::Wait(wait) => {
                let wait = send.timed(wait, Some(&request));
                send.first = Some(Box::new(request));
                State::Acquiring { wait }
            }
        };
        ResponseFuture {
            state,
            send: Some(send),
        }
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    B: ResendBody,
{
    type Output = Result<Response<ResBody>, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let send = match this.state.as_mut().project() {
                StateProj::Passthrough { future } => {
                    let result = ready!(future.poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(result.map_err(|error| Error::from_inner(error, None)));
                }
                StateProj::Done => panic!("auth ResponseFuture polled after completion"),
                _ => this
                    .send
                    .as_mut()
                    .expect("every state but Passthrough has its send"),
            };
            match this.state.as_mut().project() {
                StateProj::Acquiring { wait } => match ready!(wait.as_mut().poll(cx)) {
                    Ok(current) => {
                        // The first request, still held: sent once a
                        // service is ready for it.
                        send.next = Some(current);
                        this.state.set(State::Readying);
                    }
                    Err(failure) => {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(send.unauthorized(failure, 0, None)));
                    }
                },
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    let rejection = match result {
                        Ok(response)
                            if challenge::rejects_credential(
                                response.status(),
                                response.headers(),
                            ) =>
                        {
                            // The rejected response (and its connection)
                            // is released before the renewal.
                            send.rejected = Some(response.status());
                            None
                        }
                        Ok(response) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        Err(error) => match send.error_from_inner(error) {
                            Error::Api(api) if challenge::rejects_api(&api) => {
                                send.rejected = Some(api.status());
                                Some(api)
                            }
                            other => {
                                this.state.set(State::Done);
                                return Poll::Ready(Err(other));
                            }
                        },
                    };
                    let (acquire, renewal) = send.tokens.renew(send.generation);
                    send.renewal = Some(renewal);
                    let status = send.rejected.unwrap_or(StatusCode::UNAUTHORIZED);
                    send.tokens.observer.credential_rejected(status, renewal);
                    let resendable = send.copy.as_ref().is_some_and(ResendBody::can_resend);
                    if !resendable {
                        // A refresh this started goes on in its own task,
                        // for the requests that follow.
                        drop(acquire);
                        this.state.set(State::Done);
                        let failure = Failure {
                            reason: AuthFailure::BodyNotReplayable,
                            source: None,
                        };
                        return Poll::Ready(Err(send.unauthorized(failure, 1, rejection)));
                    }
                    match acquire {
                        Acquire::Ready(_) if send.template.is_none() => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(send.resend_above()));
                        }
                        Acquire::Ready(current) => {
                            send.next = Some(current);
                            this.state.set(State::Readying);
                        }
                        Acquire::Wait(wait) => {
                            let wait = send.timed(wait, None);
                            // Held only to end in an `Unauthorized` that
                            // shows the server's answer.
                            send.rejection = rejection;
                            this.state.set(State::Renewing { wait });
                        }
                    }
                }
                StateProj::Renewing { wait } => match ready!(wait.as_mut().poll(cx)) {
                    Ok(_) if send.template.is_none() => {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(send.resend_above()));
                    }
                    Ok(current) => {
                        send.rejection = None;
                        send.next = Some(current);
                        this.state.set(State::Readying);
                    }
                    Err(failure) => {
                        this.state.set(State::Done);
                        let rejection = send.rejection.take();
                        return Poll::Ready(Err(send.unauthorized(failure, 1, rejection)));
                    }
                },
                StateProj::Readying => {
                    let mut spare = match send.spare.take() {
                        Some(spare) => spare,
                        None => Box::new(send.prototype.service()),
                    };
                    let ready = spare.poll_ready(cx);
                    send.spare = Some(spare);
                    match ready!(ready) {
                        Ok(()) => {
                            let current = send.next.take().expect("a credential is ready");
                            let request = match send.first.take() {
                                // The first send, after the first credential
                                // loaded.
                                Some(first) => *first,
                                // A re-send, after a renewal.
                                None => {
                                    let body = send.copy.take().expect("the copy is sent once");
                                    send.resent = Some(AuthResend {
                                        renewal: send.renewal,
                                    });
                                    send.template
                                        .as_ref()
                                        .expect("a re-send here has its template")
                                        .build(body)
                                }
                            };
                            let mut spare = send.spare.take().expect("put back above");
                            let state = send.send(&mut spare, request, current);
                            send.spare = Some(spare);
                            this.state.set(state);
                        }
                        Err(error) => {
                            this.state.set(State::Done);
                            let sends = u32::from(send.first.is_none());
                            let mut error = Error::from_inner(error, send.context());
                            error.set_auth_report(AuthReport::new(sends, send.renewal));
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                StateProj::Resending { future } => {
                    // The answer to the re-send is the answer: a second
                    // rejection is returned as it is, never renewed again.
                    let result = ready!(future.poll(cx));
                    this.state.set(State::Done);
                    let report = AuthReport::new(2, send.renewal);
                    return Poll::Ready(match result {
                        Ok(mut response) => {
                            response.extensions_mut().insert(report);
                            Ok(response)
                        }
                        Err(error) => {
                            let mut error = send.error_from_inner(error);
                            error.set_auth_report(report);
                            Err(error)
                        }
                    });
                }
                StateProj::Passthrough { .. } | StateProj::Done => unreachable!("handled above"),
            }
        }
    }
}

impl<S, B> Send<S, B>
where
    S: Service<Request<B>>,
{
    /// Sends `request` with `credential`: a first send, or the re-send
    /// after a renewal (whose answer is the answer).
    fn send(
        &mut self,
        service: &mut S,
        mut request: Request<B>,
        credential: Current,
    ) -> State<S::Future> {
        request
            .headers_mut()
            .insert(self.tokens.format.header.clone(), credential.header.clone());
        self.dispatch(service, request, credential)
    }

    /// Sends `request`, which carries `credential` already, on `service`
    /// (made ready).
    fn dispatch(
        &mut self,
        service: &mut S,
        request: Request<B>,
        credential: Current,
    ) -> State<S::Future> {
        self.generation = credential.generation;
        self.sent = Some(credential.header);
        let future = service.call(request);
        match self.resent {
            Some(_) => State::Resending { future },
            None => State::Calling { future },
        }
    }
}

impl<S, B> Send<S, B> {
    /// The request as errors name it: from the template; without one, the
    /// retry layer above names it.
    fn context(&self) -> Option<RequestContext> {
        self.template.as_deref().map(RequestTemplate::context)
    }

    /// `wait`, timed into the metrics under the request's method and URI.
    fn timed(&self, wait: Wait, request: Option<&Request<B>>) -> Wait {
        let labels = match (&self.template, request, &self.labels) {
            (Some(t), _, _) => Some((&t.method, &t.uri)),
            (None, Some(request), _) => Some((request.method(), request.uri())),
            (None, None, Some(labels)) => Some((&labels.0, &labels.1)),
            (None, None, None) => None,
        };
        match labels {
            Some((method, uri)) => self.tokens.timed(wait, method, uri),
            None => wait,
        }
    }

    /// Asks the retry layer above to send again, now that the credential
    /// is renewed (under `ApiErrorsLayer`; see `AuthResend`).
    fn resend_above(&self) -> Error {
        Error::Unauthorized(Unauthorized::resend(self.rejected, self.renewal))
    }

    /// The inner service's error as ours, with echoes of the credential
    /// this layer added scrubbed from a typed answer: the layers around
    /// (the retry layer's copy of the request, for one) never saw it.
    fn error_from_inner(&self, error: impl Into<BoxError>) -> Error {
        let mut error = Error::from_inner(error, self.context());
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
        Error::Unauthorized(Unauthorized::new(
            failure,
            self.rejected,
            rejection,
            AuthReport::new(sends, self.renewal),
            self.context(),
        ))
    }
}
