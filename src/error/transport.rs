//! [`TransportError`]: no usable response.

use super::{write_outcome, AuthReport, BoxError, Message, RetryReport};
use crate::redact::RequestContext;
use std::fmt;

/// No usable response: the connection failed, the inner service errored, or
/// the request could not be sent again.
///
/// `source()` is the inner service's error, unchanged.
#[derive(Debug)]
pub struct TransportError {
    source: BoxError,
    request: Option<Box<RequestContext>>,
    retries: RetryReport,
    pub(super) auth: Option<AuthReport>,
    /// Set by an adapter on its refusal of an attempt it did not send,
    /// which no resend heals (see [`ends_the_call`](Self::ends_the_call)).
    pub(crate) ends: bool,
}

impl TransportError {
    /// Wraps an inner service's error.
    pub fn new(source: impl Into<BoxError>) -> Self {
        TransportError {
            source: source.into(),
            request: None,
            retries: RetryReport::default(),
            auth: None,
            ends: false,
        }
    }

    /// True when the error says the connection was never made, so the
    /// request cannot have reached the server: an `io::Error` of kind
    /// `ConnectionRefused`, `AddrNotAvailable` or `NotConnected` anywhere in
    /// the source chain, or hyper-util's or reqwest's connect error.
    pub fn is_connect(&self) -> bool {
        use std::io::ErrorKind::{AddrNotAvailable, ConnectionRefused, NotConnected};
        super::chain(&*self.source).any(|error| {
            let io = error.downcast_ref().map(std::io::Error::kind);
            let connect = matches!(
                io,
                Some(ConnectionRefused | AddrNotAvailable | NotConnected)
            );
            #[cfg(feature = "reqwest")]
            let connect = connect
                || error
                    .downcast_ref()
                    .is_some_and(::reqwest::Error::is_connect);
            #[cfg(feature = "hyper-util")]
            let connect = connect
                || error
                    .downcast_ref()
                    .is_some_and(hyper_util::client::legacy::Error::is_connect);
            // Without the `hyper-util` feature, hyper-util's legacy client
            // is recognised by its text: "client error (Connect)".
            #[cfg(not(feature = "hyper-util"))]
            let connect = connect || error.to_string().contains("(Connect)");
            connect
        })
    }

    /// True when the server cannot have acted on the request: the
    /// connection was never made ([`is_connect`](Self::is_connect)), or the
    /// server refused its HTTP/2 stream (`RST_STREAM` with
    /// `REFUSED_STREAM`: not processed, RFC 9113 §8.7; recognised with
    /// feature `hyper-util`, `reqwest` or `grpc`). Such a request is sent
    /// again whatever its method. A `GOAWAY` is not enough: h2 hands its
    /// error to the streams it let through as well, which the server may
    /// have processed.
    pub fn is_unprocessed(&self) -> bool {
        self.is_connect() || refused_stream(&*self.source)
    }

    /// True when the failure is on the caller's side and tells nothing of
    /// the upstream: a `tower` `LoadShed` below shed the request (never
    /// sent), or, with feature `hyper-util` or `reqwest`, hyper failed on
    /// the caller's own part (`hyper::Error::is_user`: the request body
    /// stream failed, a request hyper cannot send).
    pub(crate) fn is_local(&self) -> bool {
        super::chain(&*self.source).any(|error| {
            #[cfg(any(feature = "hyper-util", feature = "reqwest"))]
            if error.downcast_ref().is_some_and(hyper::Error::is_user) {
                return true;
            }
            error.is::<tower::load_shed::error::Overloaded>()
        })
    }

    /// An attempt cut short by the retry layer's deadline.
    pub(crate) fn deadline_elapsed() -> Self {
        TransportError::new(DEADLINE_ELAPSED)
    }

    /// True when a time limit cut the attempt: the retry layer's deadline,
    /// or an outer `tower::timeout::Timeout` / `tokio::time::timeout` whose
    /// error reached us through [`Error::from_boxed`](super::Error::from_boxed);
    /// with feature `grpc`, tonic's own (`tonic::TimeoutExpired`: a
    /// channel's timeout, or the call's `grpc-timeout`, which a `Channel`
    /// reports inside its `tonic::transport::Error`).
    pub fn is_deadline(&self) -> bool {
        #[cfg(feature = "grpc")]
        if super::chain(&*self.source)
            .take(MAX_CAUSES + 1)
            .any(|cause| cause.is::<tonic::TimeoutExpired>())
        {
            return true;
        }
        self.source.downcast_ref() == Some(&DEADLINE_ELAPSED)
            || self.source.is::<tower::timeout::error::Elapsed>()
            || self.source.is::<tokio::time::error::Elapsed>()
    }

    /// True when no resend heals it, so neither the retry layer nor a
    /// hedge sends again: an adapter's refusal (`ends`:
    /// reqwest-middleware's `SentTwice`), a call an inner retry layer ended
    /// at its deadline (an attempt a timeout below cut is not: a per-attempt
    /// timeout, which .NET's standard handler retries), or a root cause
    /// that names a certificate (refused by either side), a URL scheme the
    /// client cannot send to, or redirects its policy stopped following
    /// (reqwest's "too many redirects", Go's "stopped after 10 redirects":
    /// go-retryablehttp's and failsafe-go's rules). Only the root is read:
    /// an outer error's text may hold the request's URL.
    pub(crate) fn ends_the_call(&self) -> bool {
        let root = super::chain(&*self.source).last();
        let root = root.map_or_else(String::new, |e| e.to_string().to_ascii_lowercase());
        let names = |word: &&str| root.contains(word);
        self.ends
            || self.retries().stopped() == Some(crate::StopReason::Deadline)
            || ["certificate", "scheme", "redirect"].iter().any(names)
    }

    call_error_accessors!();

    /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when this error
    /// answered a request it sent again with a renewed credential.
    pub fn auth_report(&self) -> Option<AuthReport> {
        self.auth
    }

    /// The inner service's error.
    pub fn into_source(self) -> BoxError {
        self.source
    }

    pub(crate) fn set_request(&mut self, request: Option<RequestContext>) {
        self.request = request.map(Box::new);
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport error: {}", self.source)?;
        // The causes below, down to the root ("client error (Connect)" says
        // little; "tcp connect error: Connection refused" says what
        // happened). A cause whose text its parent already printed is
        // skipped; the chain is bounded.
        let mut printed = self.source.to_string();
        for cause in super::chain(&*self.source).skip(1).take(MAX_CAUSES) {
            let text = cause.to_string();
            if !text.is_empty() && !printed.contains(&text) {
                write!(f, ": {text}")?;
            }
            printed = text;
        }
        write_outcome(f, self.retries, self.request.as_deref())
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Causes printed by a [`TransportError`]'s `Display`, at most.
pub(super) const MAX_CAUSES: usize = 8;

/// The call's deadline passed: the retry layer's while an attempt was in
/// flight, or a gRPC call's `grpc-timeout` before a send (see `grpc::in_time`).
const DEADLINE_ELAPSED: Message = Message("the call's deadline elapsed");

/// True when `error`'s chain holds the server's refusal of an HTTP/2
/// stream (see [`TransportError::is_unprocessed`]).
#[cfg(any(feature = "grpc", feature = "hyper-util", feature = "reqwest"))]
fn refused_stream(error: super::Cause<'_>) -> bool {
    super::chain(error).any(|error| {
        let h2 = error.downcast_ref::<h2::Error>();
        h2.is_some_and(|h2| h2.is_remote() && h2.reason() == Some(h2::Reason::REFUSED_STREAM))
    })
}

#[cfg(not(any(feature = "grpc", feature = "hyper-util", feature = "reqwest")))]
fn refused_stream(_: super::Cause<'_>) -> bool {
    false
}
