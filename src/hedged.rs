//! [`Hedged`]: the mark the hedge layer puts on the attempts it sends.
//! Floor 2: the public contract between the hedge layer and the retry
//! layer below it, importing neither; and [`Claim`], who owns a hedged
//! call's further attempts (public, so that a policy of your own can keep
//! to it too: no private signal between the two layers); and [`Holds`],
//! how a layer below says that a hedged call's first attempt is held
//! before its send (a credential, a quota's window), so that its hedge
//! waits for the send.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::*};
use std::sync::Arc;

/// The extension on every attempt of a call the
/// [`HedgeLayer`](crate::hedge::HedgeLayer) hedges: the first one and its
/// hedge.
///
/// It is how the stack keeps to gRPC A6's rule, hedging **or** retries
/// for a call, never both at once: whichever starts the call's second
/// attempt first owns its further attempts. The
/// [`RetryPolicy`](crate::retry::RetryPolicy) never retries a hedge
/// (`attempt() > 1`); it retries the first attempt only when no hedge was
/// sent yet, and then the hedge layer sends none. Nor does it send one
/// when the policy declines to retry the first attempt's failure: a hedge
/// sent at once for it would be the retry refused. It does not count a
/// marked attempt as a new request in its budget (the hedge layer did,
/// once per call). A retry policy of your own keeps to the rule through
/// the [`Claim`] beside the mark, or does not retry a marked attempt.
///
/// ```
/// use tower_api_errors::hedge::Hedged;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Hedged::new(2));
/// let mark = request.extensions().get::<Hedged>().unwrap();
/// assert_eq!(mark.attempt(), 2);
/// assert!(mark.is_hedge());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hedged {
    attempt: u32,
}

impl Hedged {
    /// The mark of the call's `attempt`-th attempt (1: the first one).
    pub fn new(attempt: u32) -> Self {
        Hedged { attempt }
    }

    field_getters! {
        /// Which attempt of the call this is (1: the first one).
        pub fn attempt -> u32;
    }

    /// True for an attempt sent after the first: a hedge.
    pub fn is_hedge(&self) -> bool {
        self.attempt > 1
    }
}

/// Who owns a hedged call's further attempts: the retry layer below or the
/// hedge layer, whichever starts the second attempt first (see
/// [`Hedged`]). The hedge layer puts one, shared, on every attempt of a
/// call it hedges, beside the mark; the other side of the contract is
/// public so that a retry policy of your own can keep to it as
/// [`RetryPolicy`](crate::retry::RetryPolicy) does: retry a marked first
/// attempt only when [`take`](Self::take) of [`ClaimedBy::Retry`] is true,
/// and take it too when declining to retry the attempt's failure.
///
/// ```
/// use tower_api_errors::hedge::{Claim, ClaimedBy};
///
/// let claim = Claim::default();
/// assert!(claim.may(ClaimedBy::Retry) && claim.may(ClaimedBy::Hedge));
/// assert!(claim.take(ClaimedBy::Retry));
/// assert!(!claim.may(ClaimedBy::Hedge), "the hedge layer sends no hedge");
/// assert!(!claim.clone().take(ClaimedBy::Hedge), "clones share the claim");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Claim(Arc<AtomicU8>);

/// The side that may own a hedged call's further attempts ([`Claim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimedBy {
    /// The retry layer below the hedge layer: it retries the first attempt.
    Retry = 1,
    /// The hedge layer: it sends the hedge.
    Hedge = 2,
}

impl Claim {
    /// Whether `side` owns the call's further attempts, or may still.
    pub fn may(&self, side: ClaimedBy) -> bool {
        [0, side as u8].contains(&self.0.load(Acquire))
    }

    /// Claims the call's further attempts for `side`: true when it owns
    /// them (now, or already).
    pub fn take(&self, side: ClaimedBy) -> bool {
        let was = self.0.compare_exchange(0, side as u8, AcqRel, Acquire);
        was.is_ok() || was == Err(side as u8)
    }
}

/// Whether a hedged call's first attempt is held below before it is sent:
/// the contract between the hedge layer and the layers that may hold a
/// send ([`AuthLayer`](crate::auth::AuthLayer) waiting for a credential,
/// [`QuotaLayer`](crate::quota::QuotaLayer) for its window or lease).
///
/// A hedge's delay is a latency of the *server*: a hedge sent while the
/// first attempt waits below would wait behind the same hold, and both
/// would go out together, one extra request for nothing. So the
/// [`HedgeLayer`](crate::hedge::HedgeLayer) puts a handle in the
/// extensions of the first attempt of a call it hedges (not of the
/// hedge), sends no hedge while the attempt is held, and once the hold
/// ends, times the hedge and the attempt's latency from that moment.
///
/// A layer of your own that holds a request keeps to it: it takes
/// [`hold`](Self::hold) of the request's handle, when there is one, while
/// it waits, and drops the guard when it sends, inside the poll of its
/// response future (the hedge layer sees the hold end in the same poll).
/// Clones share the count.
///
/// ```
/// use tower_api_errors::hedge::Holds;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Holds::default());
/// let holds = request.extensions().get::<Holds>().unwrap();
/// let guard = holds.hold();
/// assert!(holds.clone().is_held(), "clones share the count");
/// drop(guard);
/// assert!(!holds.is_held(), "sent");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Holds(Arc<AtomicU32>);

impl Holds {
    /// Marks the attempt held until the guard is dropped.
    pub fn hold(&self) -> HoldGuard {
        self.0.fetch_add(1, AcqRel);
        HoldGuard(self.clone())
    }

    /// Whether a guard of this handle (or of a clone) is alive.
    pub fn is_held(&self) -> bool {
        self.0.load(Acquire) > 0
    }
}

/// A hold on an attempt's send, from [`Holds::hold`]: it ends when
/// dropped.
///
/// ```
/// use tower_api_errors::hedge::{HoldGuard, Holds};
///
/// let holds = Holds::default();
/// let guard: HoldGuard = holds.hold();
/// assert!(holds.is_held());
/// drop(guard);
/// assert!(!holds.is_held());
/// ```
#[derive(Debug)]
#[must_use = "the hold ends when the guard is dropped"]
pub struct HoldGuard(Holds);

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, AcqRel);
    }
}
