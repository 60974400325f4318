//! [`RateLimited`]: a request the quota layer refused without sending,
//! and the [`ScopeKey`] it names. Built by the quota layer, re-exported from
//! [`quota`](crate::quota).

use super::RetryReport;
use crate::redact::RequestContext;
use std::fmt;
use std::num::NonZeroU64;
use std::time::Duration;

/// The quota layer refused a request **without sending it**: the scope's
/// learned quota (or a cooldown a server asked for) frees up later than
/// [`max_wait`](crate::quota::QuotaLayer::max_wait) allows.
///
/// It carries when to come back. The retry layer does not retry it (as it
/// does not sleep on a hint longer than it may wait): the caller decides.
/// Its `Display` shows the scope digest and the redacted request, never a
/// partition value.
#[derive(Debug, Clone)]
pub struct RateLimited {
    retry_after: Duration,
    scope: ScopeKey,
    request: Option<Box<RequestContext>>,
    retries: RetryReport,
    /// The window limit the request's cost alone is more than, when that
    /// is why it was refused (a limit is never 0).
    exceeded: Option<NonZeroU64>,
}

impl RateLimited {
    pub(crate) fn new(retry_after: Duration, scope: ScopeKey, request: RequestContext) -> Self {
        RateLimited {
            retry_after,
            scope,
            request: Some(Box::new(request)),
            retries: RetryReport::default(),
            exceeded: None,
        }
    }

    /// The same refusal, of a request whose cost alone is more than a
    /// window's whole `limit` (when there is one).
    pub(crate) fn over_limit(self, limit: Option<u64>) -> Self {
        RateLimited {
            exceeded: limit.and_then(NonZeroU64::new),
            ..self
        }
    }

    field_getters! {
        /// The window limit that the request's cost alone is more than, when
        /// that is why it was refused: then it was refused at once, since no
        /// wait lets it go while the window keeps that limit (a prompt larger
        /// than a tokens-per-minute limit; the
        /// [`cost`](crate::quota::QuotaLayer::cost) closure says what a
        /// request costs). [`retry_after`](Self::retry_after) is then the
        /// window's next reset.
        pub fn exceeded_limit -> Option<u64> { exceeded.map(NonZeroU64::get) }

        /// How long until the scope's quota frees up (or its cooldown ends).
        pub fn retry_after -> Duration;

        /// The scope whose quota is spent.
        pub fn scope -> ScopeKey;
    }

    call_error_accessors!();
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exceeded {
            Some(limit) => write!(
                f,
                "rate limited locally: the request costs more than the whole limit ({limit}) of a window of scope {}; not sent",
                self.scope
            )?,
            None => write!(
                f,
                "rate limited locally: quota of scope {} frees up in {:?}, longer than max_wait; not sent",
                self.scope, self.retry_after
            )?,
        }
        // Why the retry layer stopped goes unsaid: the refusal says it.
        let retries = self.retries.with_stop(None);
        super::write_outcome(f, retries, self.request.as_deref())
    }
}

impl std::error::Error for RateLimited {}

/// Which learned state a request draws from: the request's authority
/// (host and port, never user-info) and, when the layer has a
/// [`partition`](crate::quota::QuotaLayer::partition), the hashed partition
/// value ([`ScopeKey::new`] computes it).
///
/// It is a 64-bit digest, and what store keys and log lines show (as 16
/// hex digits): no partition value is kept or shown in clear. The digest is
/// documented, unkeyed and stable (a fleet mid-deploy must agree on keys),
/// so it hides a random credential (an API key), not a guessable value:
/// whoever can read the keys (Redis's, the logs) can recover a tenant name
/// such as `tenant-4711` by hashing guesses. Where that matters, partition
/// by a value the fleet derives with a secret of its own (an HMAC of the
/// tenant name under a key every member holds).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeKey(u64);

impl ScopeKey {
    /// A scope from its digest (for stores that keep keys elsewhere).
    pub fn from_u64(digest: u64) -> Self {
        ScopeKey(digest)
    }

    /// The digest.
    pub fn as_u64(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeKey({self})")
    }
}
