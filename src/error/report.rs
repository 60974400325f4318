//! [`RetryReport`] and [`StopReason`]: how the retry layer's attempts went.

use crate::redact::RequestContext;
use std::fmt;
use std::time::Duration;

/// Why the retry layer stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The failure is not one a retry can fix (a 4xx other than 408/429, a
    /// 501, a server's `x-should-retry: false` or negative gRPC pushback, a
    /// spent daily quota, a certificate or URL-scheme failure).
    NotRetryable,
    /// The request is not idempotent (a POST or PATCH without an
    /// `Idempotency-Key`) and may have reached the server.
    NotIdempotent,
    /// The policy's `retry_if` said no.
    ForbiddenByPolicy,
    /// The request body outgrew the replay cap, so it cannot be sent again.
    BodyNotReplayable,
    /// The request body's own stream failed while being sent (its error,
    /// not the cap): what was read of it is not the whole body.
    BodyFailed,
    /// `max_attempts` were made.
    MaxAttempts,
    /// The server asked to wait longer than `max_retry_after`: the caller
    /// decides (the hint is on the error).
    HintTooLong,
    /// The next wait would end past the deadline, or the deadline passed
    /// during an attempt.
    Deadline,
    /// The retry budget shared by the service's clones is spent.
    BudgetExhausted,
    /// The service failed to become ready for the next attempt (its
    /// connection pool closed, say): the error is its failure.
    ServiceFailed,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::NotRetryable => "not retryable",
            StopReason::NotIdempotent => "request not idempotent",
            StopReason::ForbiddenByPolicy => "policy said no",
            StopReason::BodyNotReplayable => "request body too large to replay",
            StopReason::BodyFailed => "request body failed while being sent",
            StopReason::MaxAttempts => "attempts exhausted",
            StopReason::HintTooLong => "server asked to wait longer than max_retry_after",
            StopReason::Deadline => "deadline",
            StopReason::BudgetExhausted => "retry budget exhausted",
            StopReason::ServiceFailed => "the service failed to become ready",
        })
    }
}

/// How retries went for the request an error or response belongs to.
///
/// The retry layer puts it on every error it returns, and into the
/// extensions of a response that needed more than one attempt or that it
/// gave up on. Without a retry layer it is one attempt and no wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryReport {
    attempts: u32,
    waited: Duration,
    stopped: Option<StopReason>,
}

impl RetryReport {
    /// A report of `attempts` (the first included) and `waited` in total
    /// between them.
    pub fn new(attempts: u32, waited: Duration) -> Self {
        RetryReport {
            attempts,
            waited,
            stopped: None,
        }
    }

    /// Records why retrying stopped.
    pub fn with_stop(mut self, reason: Option<StopReason>) -> Self {
        self.stopped = reason;
        self
    }

    field_getters! {
        /// Attempts sent, the first included. An attempt that sent nothing
        /// is not counted: refused below (by a circuit breaker or the quota
        /// layer), ended by the auth layer before any send, or held unsent
        /// by a layer below when the deadline or the caller cut it; a call
        /// that sent nothing reports 0. The `finished` event's `attempts`
        /// and the `tower_api_errors.call.attempts` metric are this count.
        /// (`max_attempts` counts every attempt but a breaker's refusals.)
        pub fn attempts -> u32;

        /// Time spent waiting between attempts.
        pub fn waited -> Duration;

        /// Why the retry layer stopped, for an outcome that is a failure.
        pub fn stopped -> Option<StopReason>;

        /// Why the retry layer gave up, when that is news: every reason but
        /// [`StopReason::NotRetryable`], which is the ordinary fate of a 404
        /// and not worth mentioning. What error messages print.
        pub fn gave_up -> Option<StopReason> {
            stopped.filter(|reason| *reason != StopReason::NotRetryable)
        }
    }
}

impl Default for RetryReport {
    fn default() -> Self {
        RetryReport::new(1, Duration::ZERO)
    }
}

/// The end of a transport or auth error's one-line `Display`: the attempts
/// and why the retry layer gave up, when that is news, then the request.
pub(crate) fn write_outcome(
    f: &mut fmt::Formatter<'_>,
    retries: RetryReport,
    request: Option<&RequestContext>,
) -> fmt::Result {
    match (retries.attempts(), retries.gave_up()) {
        // (A call that sent nothing, refused below, says so by its error.)
        (0 | 1, None) => {}
        (0, Some(reason)) => write!(f, " [nothing sent; gave up: {reason}]")?,
        (attempts, None) => write!(f, " [after {attempts} attempts]")?,
        (attempts, Some(reason)) => write!(f, " [after {attempts} attempts; gave up: {reason}]")?,
    }
    if let Some(request) = request {
        write!(f, " ({request})")?;
    }
    Ok(())
}
