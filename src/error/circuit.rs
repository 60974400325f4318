//! [`CircuitOpen`]: a request a circuit breaker refused without sending.

use crate::hints::{HintSource, RetryHint};
use crate::redact::RequestContext;
use crate::RetryReport;
use std::fmt;
use std::time::Duration;

/// A circuit breaker refused a request **without sending it**: its scope's
/// upstream failed too often of late (5xx, timeouts, transport failures),
/// and the breaker is open, or its one probe is out.
///
/// The contract between the [`CircuitBreakerLayer`](crate::breaker::CircuitBreakerLayer)
/// and the retry layer above it (a floor-2 type, as DESIGN.md asks): it
/// says when to come back ([`retry_after`](Self::retry_after)), and the
/// retry policy treats that like a server's hint: it waits when that fits
/// its `max_retry_after` and deadline, and otherwise fails fast with this
/// error. Its `Display` shows the redacted request, never a partition value.
#[derive(Debug, Clone)]
pub struct CircuitOpen {
    retry_after: Duration,
    source: Option<HintSource>,
    probing: bool,
    request: Option<Box<RequestContext>>,
    retries: RetryReport,
}

impl CircuitOpen {
    /// A refusal: come back in `retry_after`; `source` is the server's
    /// hint the break was timed by (`None`: the breaker's own break);
    /// `probing` when it is a probe that is out, not the break.
    pub(crate) fn new(
        retry_after: Duration,
        source: Option<HintSource>,
        probing: bool,
        request: RequestContext,
    ) -> Self {
        CircuitOpen {
            retry_after,
            source,
            probing,
            request: Some(Box::new(request)),
            retries: RetryReport::default(),
        }
    }

    /// The wait as a hint: the server's own source when the break was
    /// timed by its `Retry-After` or pushback; otherwise the breaker's own
    /// break, [`HintSource::Cooldown`] (no server asked for it: a wait on
    /// it is no `retry_after` wait).
    pub fn retry_hint(&self) -> RetryHint {
        let source = self.source.unwrap_or(HintSource::Cooldown);
        RetryHint::new(self.retry_after, source)
    }

    field_getters! {
        /// How long until the breaker lets a request through again (its
        /// probe, or, while a probe is out, a look at its outcome).
        pub fn retry_after -> Duration;

        /// True when the server timed the break (`Retry-After`, pushback).
        pub fn is_server_signalled -> bool { source.is_some() }

        /// True when the breaker is half-open and its one probe is out.
        pub fn is_probing -> bool { probing }
    }

    call_error_accessors!();
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit open (")?;
        match (self.probing, self.source) {
            (true, _) => f.write_str("a probe is out")?,
            (false, Some(source)) => write!(f, "the server asked, {source}")?,
            (false, None) => f.write_str("upstream failing")?,
        }
        write!(f, "): come back in {:?}; not sent", self.retry_after)?;
        super::write_outcome(f, self.retries, self.request.as_deref())
    }
}

impl std::error::Error for CircuitOpen {}
