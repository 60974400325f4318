//! The typed errors: [`ApiError`] (the server answered with a failure),
//! [`TransportError`] (no usable answer), the layers' own refusals
//! ([`RateLimited`], [`Unauthorized`], [`CircuitOpen`]), and [`Error`], which is one of them.
//!
//! This module sits below every layer and imports none: the layers build
//! these values, the caller matches on them.

mod api;
mod auth;
mod circuit;
mod field;
mod rate_limited;
mod report;
mod transport;

pub use api::ApiError;
pub(crate) use api::{request_id, ApiErrorParts, Reading};
pub use auth::{AuthFailure, AuthReport, Renewal, Unauthorized};
pub(crate) use auth::{Failure, SharedSource};
pub use circuit::CircuitOpen;
pub use field::FieldError;
pub use rate_limited::{RateLimited, ScopeKey};
pub(crate) use report::write_outcome;
pub use report::{RetryReport, StopReason};
pub use transport::TransportError;
use transport::MAX_CAUSES;

use crate::redact::RequestContext;
use crate::ErrorKind;
use std::fmt;

/// An error in a chain of [`source`](std::error::Error::source)s.
pub(crate) type Cause<'a> = &'a (dyn std::error::Error + 'static);

/// `error` and the errors below it, along their
/// [`source`](std::error::Error::source)s.
pub(crate) fn chain(error: Cause<'_>) -> impl Iterator<Item = Cause<'_>> {
    std::iter::successors(Some(error), |error| error.source())
}

/// The API error `error` is or holds (as ours, or bare), at most
/// [`MAX_CAUSES`] below it: a server's answer behind a generic
/// middleware's error, or a token source's. Never one below an
/// [`Unauthorized`]: that is its token source's error, another server's
/// answer (a token endpoint's), not the one the request got.
pub(crate) fn api_in(error: Cause<'_>) -> Option<&ApiError> {
    chain(error)
        .take(MAX_CAUSES + 1)
        .take_while(|cause| !matches!(cause.downcast_ref(), Some(Error::Unauthorized(_))))
        .find_map(|cause| match cause.downcast_ref() {
            Some(Error::Api(api)) => Some(api),
            _ => cause.downcast_ref(),
        })
}

/// How long `error` says to wait before the call is made again: a
/// quota's or a breaker's refusal it is or holds (nothing was sent: its
/// wait), else the hint of the API error [`api_in`] finds.
pub(crate) fn wait_in(error: Cause<'_>) -> Option<std::time::Duration> {
    let refused = |cause: Cause<'_>| match cause.downcast_ref()? {
        Error::RateLimited(refused) => Some(refused.retry_after()),
        Error::CircuitOpen(open) => Some(open.retry_after()),
        _ => None,
    };
    let refusal = chain(error).take(MAX_CAUSES + 1).find_map(refused);
    refusal.or_else(|| api_in(error)?.retry_after())
}

/// An error that is its text and nothing more: the crate's own notes in a
/// source chain (a body that cannot be sent again, a credential load that
/// ended unanswered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message(pub(crate) &'static str);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Message {}

/// A boxed error, as tower uses for inner services' errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error of the parse and retry layers: the server's typed failure, or
/// a transport failure. Match on it; no downcasting needed.
///
/// ```
/// use tower_api_errors::{Error, ErrorKind};
///
/// fn describe(error: &Error) -> String {
///     match error {
///         Error::Api(api) if api.is_rate_limited() => format!("slow down: {:?}", api.retry_after()),
///         Error::Api(api) => format!("{}: {}", api.status(), api.message()),
///         Error::Transport(transport) => format!("network: {transport}"),
///         _ => error.to_string(),
///     }
/// }
/// let error = Error::from(tower_api_errors::TransportError::new("connection reset"));
/// assert_eq!(error.kind(), ErrorKind::Transport);
/// assert_eq!(describe(&error), "network: transport error: connection reset");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a failure.
    Api(ApiError),
    /// No usable answer.
    Transport(TransportError),
    /// The [quota layer](crate::quota) refused the request without sending
    /// it: the learned quota frees up later than it may wait.
    RateLimited(RateLimited),
    /// The [`AuthLayer`](crate::auth::AuthLayer) ended the request: no
    /// credential, or a rejected one it could not renew or send again.
    Unauthorized(Unauthorized),
    /// A [circuit breaker](crate::breaker) refused the request without
    /// sending it: the upstream is unwell; it says when to come back.
    CircuitOpen(CircuitOpen),
}

/// Runs `$then` on the error `$error` holds, whichever it is (each
/// variant's type offers what it asks).
macro_rules! each_variant {
    ($error:expr, $inner:ident => $then:expr) => {
        match $error {
            Error::Api($inner) => $then,
            Error::Transport($inner) => $then,
            Error::RateLimited($inner) => $then,
            Error::Unauthorized($inner) => $then,
            Error::CircuitOpen($inner) => $then,
        }
    };
}

/// The accessors of one variant's payload, written once: each
/// `fn name(receiver) -> Option<..> = Variant;` gives the payload (borrowed
/// or by value, as the receiver is) when the error is that variant.
macro_rules! variant_accessors {
    ($($(#[$attr:meta])* fn $name:ident($($receiver:tt)+) -> $ty:ty = $variant:ident;)*) => {
        $(
            $(#[$attr])*
            pub fn $name($($receiver)+) -> $ty {
                match $($receiver)+ {
                    Error::$variant(inner) => Some(inner),
                    _ => None,
                }
            }
        )*
    };
}

impl Error {
    /// The kind: the API error's, or [`ErrorKind::Transport`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(api) => api.kind(),
            Error::Transport(_) => ErrorKind::Transport,
            Error::RateLimited(_) => ErrorKind::RateLimited,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::CircuitOpen(_) => ErrorKind::Unavailable,
        }
    }

    variant_accessors! {
        /// The API error, if the server answered.
        fn api(&self) -> Option<&ApiError> = Api;

        /// The quota layer's refusal, if the request was never sent.
        fn rate_limited(&self) -> Option<&RateLimited> = RateLimited;

        /// The circuit breaker's refusal, if the request was never sent.
        fn circuit_open(&self) -> Option<&CircuitOpen> = CircuitOpen;

        /// The API error, by value.
        fn into_api(self) -> Option<ApiError> = Api;

        /// The transport error, if there was no usable answer.
        fn transport(&self) -> Option<&TransportError> = Transport;

        /// The auth layer's error, when it ended the request.
        fn unauthorized(&self) -> Option<&Unauthorized> = Unauthorized;
    }

    /// What the [`AuthLayer`](crate::auth::AuthLayer) did, when it sent the
    /// request again or ended it.
    pub fn auth_report(&self) -> Option<AuthReport> {
        match self {
            Error::Api(api) => api.auth_report(),
            Error::Transport(transport) => transport.auth_report(),
            Error::Unauthorized(unauthorized) => Some(unauthorized.report()),
            // Refused before the auth layer below could act.
            Error::RateLimited(_) | Error::CircuitOpen(_) => None,
        }
    }

    pub(crate) fn set_auth_report(&mut self, report: AuthReport) {
        match self {
            Error::Api(api) => api.set_auth_report(report),
            Error::Transport(transport) => transport.auth = Some(report),
            Error::Unauthorized(_) | Error::RateLimited(_) | Error::CircuitOpen(_) => {}
        }
    }

    /// Whether the attempt that ended so was never sent: refused below (a
    /// quota, a breaker) with no retry layer between, or ended before a
    /// send by the auth layer or by a retry layer below (which counts the
    /// attempts it sent).
    pub(crate) fn never_sent(&self) -> bool {
        let report = self.retries();
        let refusal = matches!(self, Error::RateLimited(_) | Error::CircuitOpen(_));
        let unsent_by_auth = self.auth_report().is_some_and(|auth| auth.sends() == 0);
        unsent_by_auth || report.attempts() == 0 || refusal && report.stopped().is_none()
    }

    /// Attempts sent and time waited between them.
    pub fn retries(&self) -> RetryReport {
        each_variant!(self, error => error.retries())
    }

    pub(crate) fn set_retries(&mut self, retries: RetryReport) {
        each_variant!(self, error => error.set_retries(retries))
    }

    /// Recovers our error from a boxed one, as `tower::buffer::Buffer`,
    /// `tower::timeout::Timeout` and other generic middleware return it:
    /// our own [`Error`] comes back as it was; an API error it is, or finds
    /// in its source chain (a `Buffer` worker's shared failure), is cloned
    /// out (but not one below an [`Unauthorized`]: that is the token
    /// source's, a token endpoint's answer, not this request's); a
    /// timeout's `Elapsed` becomes a [`TransportError`] that
    /// [`is_deadline`](TransportError::is_deadline); anything else a
    /// [`TransportError`] around it. Also available as `Error::from(boxed)`,
    /// so `?` works on a `BoxError`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    /// use tower_api_errors::{BoxError, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let slow = ServiceBuilder::new()
    ///     .timeout(Duration::from_secs(1))
    ///     .service(service_fn(|_: ()| async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await;
    ///         Ok::<_, Error>(())
    ///     }));
    /// let boxed: BoxError = slow.oneshot(()).await.unwrap_err();
    /// let error = Error::from_boxed(boxed);
    /// assert!(error.transport().unwrap().is_deadline());
    /// # }
    /// ```
    pub fn from_boxed(error: BoxError) -> Self {
        match error.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => match api_in(&*other) {
                Some(api) => Error::Api(api.clone()),
                None => Error::Transport(TransportError::new(other)),
            },
        }
    }

    /// Turns an inner service's error into ours: our own `Error` passes
    /// through unchanged (so stacked layers do not nest it), anything else
    /// becomes a [`TransportError`].
    pub(crate) fn from_inner(error: impl Into<BoxError>, request: Option<RequestContext>) -> Self {
        match error.into().downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => {
                let mut transport = TransportError::new(other);
                transport.set_request(request);
                Error::Transport(transport)
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        each_variant!(self, error => error.fmt(f))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        each_variant!(self, error => error.source())
    }
}

impl From<BoxError> for Error {
    /// See [`Error::from_boxed`].
    fn from(error: BoxError) -> Self {
        Error::from_boxed(error)
    }
}

/// `From` each payload the caller builds, written once.
macro_rules! from_payloads {
    ($($payload:ty => $variant:ident),*) => {
        $(
            impl From<$payload> for Error {
                fn from(payload: $payload) -> Self {
                    Error::$variant(payload)
                }
            }
        )*
    };
}

from_payloads!(ApiError => Api, Unauthorized => Unauthorized, TransportError => Transport);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layer's `poll` hands back a `Result<Response, Error>`, moved
    /// at each layer on every call, failure or not: the error is kept
    /// small (its bulky parts boxed, allocated only when a call fails), so
    /// that it does not make every success's result larger than the
    /// response (clippy's `result_large_err` draws the line at 128 bytes).
    #[test]
    fn the_error_is_small() {
        let sizes = [
            ("Error", std::mem::size_of::<Error>()),
            ("TransportError", std::mem::size_of::<TransportError>()),
            ("Unauthorized", std::mem::size_of::<Unauthorized>()),
            ("RateLimited", std::mem::size_of::<RateLimited>()),
            ("CircuitOpen", std::mem::size_of::<CircuitOpen>()),
            (
                "Response",
                std::mem::size_of::<http::Response<http_body_util::Full<bytes::Bytes>>>(),
            ),
        ];
        assert!(sizes[0].1 <= 128, "{sizes:?}");
    }

    /// What the auth layer reads off a failed refresh: a refusal by the
    /// token endpoint's client (its quota, its breaker) says when to come
    /// back, as the endpoint's `Retry-After` does; as it is, or under
    /// another error (a `Buffer`'s, an application's).
    #[test]
    fn a_refusal_says_when_to_come_back() {
        let context =
            || RequestContext::new(http::Method::POST, "https://idp.test/t".parse().unwrap());
        let second = std::time::Duration::from_secs(1);
        let scope = ScopeKey::from_u64(7);
        let quota = Error::RateLimited(RateLimited::new(90 * second, scope, context()));
        let breaker = Error::CircuitOpen(CircuitOpen::new(59 * second, None, false, context()));
        assert_eq!(wait_in(&quota), Some(90 * second));
        assert_eq!(wait_in(&breaker), Some(59 * second));
        let wrapped = Error::Transport(TransportError::new(breaker));
        assert_eq!(wait_in(&wrapped), Some(59 * second));
        assert_eq!(
            wait_in(&Error::Transport(TransportError::new("reset"))),
            None
        );
    }
}
