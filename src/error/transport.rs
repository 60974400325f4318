//! [`TransportError`]: no usable response.

use super::{write_outcome, AuthReport, BoxError, RetryReport};
use crate::redact::RequestContext;
use std::fmt;
#[cfg(feature = "grpc")]
use std::sync::Arc;

/// No usable response: the connection failed, the inner service errored, or
/// the request could not be sent again.
///
/// `source()` is the inner service's error, unchanged; with feature `grpc`,
/// unless tonic reads a code of its own in it (a connect error, a hyper
/// timeout, cancel or HTTP/2 reset), a `tonic::Status` above it whose own
/// source is that error: `DEADLINE_EXCEEDED` for a time limit
/// ([`is_deadline`](Self::is_deadline)), `UNAVAILABLE` otherwise, the code
/// a tonic caller then gets.
#[derive(Debug)]
pub struct TransportError {
    source: BoxError,
    request: Option<Box<RequestContext>>,
    retries: RetryReport,
    pub(super) auth: Option<AuthReport>,
}

impl TransportError {
    /// Wraps an inner service's error.
    pub fn new(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        #[cfg(feature = "grpc")]
        let source = Coded::over(source);
        TransportError {
            source,
            request: None,
            retries: RetryReport::default(),
            auth: None,
        }
    }

    /// True when the error says the connection was never made, so the
    /// request cannot have reached the server: an `io::Error` of kind
    /// `ConnectionRefused`, `AddrNotAvailable` or `NotConnected` anywhere in
    /// the source chain, or hyper-util's or reqwest's connect error.
    pub fn is_connect(&self) -> bool {
        super::chain(self.inner()).any(|error| {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::AddrNotAvailable
                        | std::io::ErrorKind::NotConnected
                ) {
                    return true;
                }
            }
            #[cfg(feature = "reqwest")]
            if let Some(client) = error.downcast_ref::<::reqwest::Error>() {
                if client.is_connect() {
                    return true;
                }
            }
            #[cfg(feature = "hyper-util")]
            if let Some(client) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
                if client.is_connect() {
                    return true;
                }
            }
            // Without the `hyper-util` feature, hyper-util's legacy client
            // is recognised by its text: "client error (Connect)".
            #[cfg(not(feature = "hyper-util"))]
            if error.to_string().contains("(Connect)") {
                return true;
            }
            false
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
        self.is_connect() || refused_stream(self.inner())
    }

    /// An attempt cut short by the retry layer's deadline.
    pub(crate) fn deadline_elapsed() -> Self {
        TransportError::new(DeadlineElapsed)
    }

    /// True when a time limit cut the attempt: the retry layer's deadline,
    /// or an outer `tower::timeout::Timeout` / `tokio::time::timeout` whose
    /// error reached us through [`Error::from_boxed`](super::Error::from_boxed).
    pub fn is_deadline(&self) -> bool {
        is_deadline(self.inner())
    }

    /// The inner service's error (under the status [`Coded`] put above it).
    fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        #[cfg(feature = "grpc")]
        if let Some(coded) = self.source.downcast_ref::<Coded>() {
            return &*coded.inner.0;
        }
        &*self.source
    }

    call_error_accessors!();

    /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when this error
    /// answered a request it sent again with a renewed credential.
    pub fn auth_report(&self) -> Option<AuthReport> {
        self.auth
    }

    /// The inner service's error.
    pub fn into_source(self) -> BoxError {
        #[cfg(feature = "grpc")]
        if self.source.is::<Coded>() {
            let coded = self.source.downcast::<Coded>().expect("checked");
            // The status holds the only other reference: dropped first.
            let Coded { status, inner } = *coded;
            drop(status);
            return Arc::try_unwrap(inner).map_or_else(|shared| Box::new(shared) as _, |s| s.0);
        }
        self.source
    }

    pub(crate) fn set_request(&mut self, request: Option<RequestContext>) {
        self.request = request.map(Box::new);
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport error: {}", self.inner())?;
        // The causes below, down to the root ("client error (Connect)" says
        // little; "tcp connect error: Connection refused" says what
        // happened). A cause whose text its parent already printed is
        // skipped; the chain is bounded.
        let mut printed = self.inner().to_string();
        for cause in super::chain(self.inner()).skip(1).take(MAX_CAUSES) {
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
        #[cfg(feature = "grpc")]
        if let Some(coded) = self.source.downcast_ref::<Coded>() {
            return Some(&coded.status);
        }
        Some(&*self.source)
    }
}

/// Causes printed by a [`TransportError`]'s `Display`, at most.
pub(super) const MAX_CAUSES: usize = 8;

/// The retry layer's deadline passed while an attempt was in flight.
#[derive(Debug)]
struct DeadlineElapsed;

impl fmt::Display for DeadlineElapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("retry deadline elapsed during the attempt")
    }
}

impl std::error::Error for DeadlineElapsed {}

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

/// True when `error` is a time limit's: the retry layer's deadline, or a
/// `tower::timeout::Timeout`'s or `tokio::time::timeout`'s.
fn is_deadline(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error.is::<DeadlineElapsed>()
        || error.is::<tower::timeout::error::Elapsed>()
        || error.is::<tokio::time::error::Elapsed>()
}

/// An inner error with the `tonic::Status` a gRPC caller gets for it
/// (feature `grpc`): tonic's `Status::from_error` finds no code in a
/// transport error of ours and says `UNKNOWN`. The status's source is the
/// inner error, shared, so the source chain keeps every cause.
#[cfg(feature = "grpc")]
#[derive(Debug)]
struct Coded {
    status: tonic::Status,
    inner: Arc<Shared>,
}

#[cfg(feature = "grpc")]
impl Coded {
    /// `source` under a status, unless tonic reads a code of its own in
    /// it: then tonic's code stands (not shadowed by ours).
    fn over(source: BoxError) -> BoxError {
        if super::chain(&*source).take(MAX_CAUSES + 1).any(tonic_reads) {
            return source;
        }
        let kind = if is_deadline(&*source) {
            crate::ErrorKind::Timeout
        } else {
            crate::ErrorKind::Transport
        };
        let code = crate::grpc::code_for_kind(kind);
        let mut status = tonic::Status::new(code, source.to_string());
        let inner = Arc::new(Shared(source));
        status.set_source(inner.clone());
        Box::new(Coded { status, inner })
    }
}

#[cfg(feature = "grpc")]
impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[cfg(feature = "grpc")]
impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.status)
    }
}

/// True for an error tonic's `Status::from_error` reads a code from: its
/// own status, connect and timeout errors, and a hyper error that is a
/// timeout, a cancel or an HTTP/2 error (named by its `Debug`, as this
/// crate does not depend on hyper).
#[cfg(feature = "grpc")]
fn tonic_reads(error: super::Cause<'_>) -> bool {
    if error.is::<tonic::Status>() || error.is::<tonic::ConnectError>() {
        return true;
    }
    let debug = format!("{error:?}");
    let hyper = debug.strip_prefix("hyper::Error").is_some_and(|rest| {
        let kinds = ["(Canceled", "(Http2", "(HeaderTimeout"];
        kinds.iter().any(|k| rest.starts_with(k)) || rest.contains("TimedOut")
    });
    hyper || error.is::<tonic::TimeoutExpired>()
}

/// The inner error, shared between a [`Coded`] and its status.
#[cfg(feature = "grpc")]
#[derive(Debug)]
struct Shared(BoxError);

#[cfg(feature = "grpc")]
impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "grpc")]
impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
