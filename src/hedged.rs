//! [`Hedged`]: the mark the hedge layer puts on the attempts it sends.
//! Floor 2: the public contract between the hedge layer and the retry
//! layer below it, importing neither; and [`Claim`], who owns a hedged
//! call's further attempts.

use std::sync::atomic::{AtomicU8, Ordering::*};
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
/// sent yet, and then the hedge layer sends none. It does not count a
/// marked attempt as a new request in its budget (the hedge layer did,
/// once per call). A retry policy of your own that cannot know whether the
/// hedge went should not retry a marked attempt at all.
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
/// [`Hedged`]). Rides, shared, on every attempt of a hedged call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Claim(Arc<AtomicU8>);

impl Claim {
    pub(crate) const RETRY: u8 = 1;
    pub(crate) const HEDGE: u8 = 2;

    /// Whether `owner` owns the call's further attempts, or may still.
    pub(crate) fn may(&self, owner: u8) -> bool {
        [0, owner].contains(&self.0.load(Acquire))
    }

    /// Claims the call's further attempts for `owner`: true when it owns
    /// them (now, or already).
    pub(crate) fn take(&self, owner: u8) -> bool {
        let was = self.0.compare_exchange(0, owner, AcqRel, Acquire);
        was.is_ok() || was == Err(owner)
    }
}
