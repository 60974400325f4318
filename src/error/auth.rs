//! [`Unauthorized`], [`AuthFailure`] and [`AuthReport`]: how an
//! authenticated request ended. Built by the auth layer, re-exported from
//! [`auth`](crate::auth).

use super::{write_outcome, ApiError, RetryReport};
use crate::redact::RequestContext;
use http::StatusCode;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What the auth layer did for one request: sends and renewal.
///
/// In the extensions of a response that was sent again, on an
/// [`ApiError`] or [`TransportError`](crate::TransportError) that answered
/// the re-send ([`auth_report`](crate::Error::auth_report)), and on every
/// [`Unauthorized`]. A request that went through once carries none (a
/// success costs no allocation).
///
/// The auth layer's re-send is not a retry: it happens inside one attempt
/// of the [`RetryLayer`](crate::RetryLayer), whose
/// [`RetryReport`] counts attempts and draws on its budget; the re-send
/// does neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthReport {
    sends: u32,
    renewal: Option<Renewal>,
}

impl AuthReport {
    pub(crate) fn new(sends: u32, renewal: Option<Renewal>) -> Self {
        AuthReport { sends, renewal }
    }

    field_getters! {
        /// Requests the auth layer sent: 1, or 2 when it sent the request
        /// again with a renewed credential (0 when no credential could be
        /// loaded: nothing was sent).
        pub fn sends -> u32;

        /// How the rejected credential was renewed, when it was.
        pub fn renewal -> Option<Renewal>;

        /// True when the request was sent again with a renewed credential.
        pub fn resent -> bool { sends > 1 }
    }
}

/// How a rejected credential was renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Renewal {
    /// The token source refreshed it (for this request, or for another
    /// rejected with the same credential, whose refresh this one shared).
    Refreshed,
    /// A newer credential was already current (another request had it
    /// refreshed meanwhile): no refresh, the request went again with it.
    AlreadyRenewed,
}

/// Why an [`Unauthorized`] error ended a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The token source could not give a first credential; nothing was sent.
    NoCredential,
    /// The server rejected the credential and the refresh failed.
    RefreshFailed,
    /// The server rejected the credential and the refresh handed back the
    /// same one: sending it again would only be rejected again.
    SameCredential,
    /// The server rejected the credential, and the request body outgrew
    /// the replay cap, so it cannot be sent again. The credential is still
    /// refreshed, for the requests that follow.
    BodyNotReplayable,
    /// The server rejected the credential while the backoff that followed
    /// its last failed refresh ran: no refresh was attempted, and
    /// [`source`](std::error::Error::source) is that refresh's failure. See
    /// [`AuthLayer::refresh_backoff`](crate::AuthLayer::refresh_backoff).
    RefreshBackingOff,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let and = match self {
            AuthFailure::NoCredential => return f.write_str("the token source gave no credential"),
            AuthFailure::RefreshFailed => "refreshing it failed",
            AuthFailure::SameCredential => "the token source gave it back unchanged",
            AuthFailure::BodyNotReplayable => "the request body is too large to send again",
            AuthFailure::RefreshBackingOff => "refreshing it is backing off after a failure",
        };
        write!(f, "the credential was rejected and {and}")
    }
}

/// A shared error source: a token source's failure, checked for the
/// credential.
pub(crate) type SharedSource = Arc<dyn StdError + Send + Sync>;

/// What ended a single-flight load, as every waiter receives it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) reason: AuthFailure,
    pub(crate) source: Option<SharedSource>,
    /// No new load before this: the backoff a failed load started
    /// (`None`: none, or one beyond the clock's reach, for ever).
    pub(crate) until: Option<Instant>,
}

impl Failure {
    /// A failure for `reason`, with its source if any, that starts no
    /// backoff.
    pub(crate) fn new(reason: AuthFailure, source: Option<SharedSource>) -> Failure {
        Failure {
            reason,
            source,
            until: None,
        }
    }
}

/// A request ended by the auth layer: no credential, a failed refresh, a
/// refresh that gave back the rejected credential, or a rejected request
/// whose body cannot be sent again.
///
/// [`source`](std::error::Error::source) is the token source's error, when
/// there is one. That error was checked: if its text (anywhere in its
/// chain, `Display` or `Debug`) contained the rejected credential, it is
/// replaced by a note saying it was withheld. Nothing here holds a
/// credential.
#[derive(Debug)]
pub struct Unauthorized {
    reason: AuthFailure,
    status: Option<StatusCode>,
    rejection: Option<ApiError>,
    source: Option<SharedSource>,
    report: AuthReport,
    request: Option<Box<RequestContext>>,
    retries: RetryReport,
    retry_after: Option<Duration>,
}

impl Unauthorized {
    pub(crate) fn new(
        failure: Failure,
        status: Option<StatusCode>,
        rejection: Option<ApiError>,
        report: AuthReport,
        request: Option<RequestContext>,
    ) -> Self {
        Unauthorized {
            reason: failure.reason,
            status,
            rejection,
            source: failure.source,
            report,
            request: request.map(Box::new),
            retries: RetryReport::default(),
            retry_after: failure.until.map(|until| until - Instant::now()),
        }
    }

    field_getters! {
        /// Why the request ended.
        pub fn reason -> AuthFailure;

        /// The status that rejected the credential (401; or a 400 or 403 that
        /// said `error="invalid_token"`; a gRPC `UNAUTHENTICATED` arrives
        /// on a 200, its code in [`rejection`](Self::rejection)), when a
        /// request was sent.
        pub fn status -> Option<StatusCode>;

        /// For a request ended by a failed refresh, or while its backoff
        /// runs ([`AuthFailure::RefreshBackingOff`]): how long until the
        /// layer calls the token source again (the backoff, or longer when
        /// the token endpoint said when to come back). `None` when no
        /// backoff runs, or when it never ends (a backoff of
        /// `Duration::MAX`: no time to come back).
        pub fn retry_after -> Option<Duration>;

        /// What the auth layer did: one send, and the renewal if any.
        pub fn report -> AuthReport;

        /// The server's typed answer to the rejected request, when the parse
        /// layer sits below the auth layer.
        pub fn rejection -> Option<&ApiError> { rejection.as_ref() }
    }

    call_error_accessors!();

    pub(crate) fn rejection_mut(&mut self) -> Option<&mut ApiError> {
        self.rejection.as_mut()
    }
}

impl fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unauthorized")?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        write_outcome(f, self.retries, self.request.as_deref())
    }
}

impl StdError for Unauthorized {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_deref()?)
    }
}
