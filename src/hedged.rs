//! [`Hedged`]: the mark the hedge layer puts on the attempts it sends.
//! Floor 2: the public contract between the hedge layer and the retry
//! layer below it, importing neither.

/// The extension on every attempt of a call the
/// [`HedgeLayer`](crate::hedge::HedgeLayer) hedges: the first one and its
/// hedge.
///
/// It is how the stack keeps to gRPC A6's rule, hedging **or** retries
/// for a call, never both: the [`RetryPolicy`](crate::retry::RetryPolicy)
/// does not retry an attempt that carries it (the hedge layer owns that
/// call's further attempts), and does not count it as a new request in
/// its budget (the hedge layer did, once per call). A retry policy of
/// your own can read it the same way.
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
