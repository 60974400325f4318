//! What a fleet shares about an upstream's health: the openings its server
//! signalled.
//!
//! A circuit breaker that opens because the server said when to come back
//! (`Retry-After` or a pushback on a 503) knows something true for every
//! process calling that server: [`OpeningStore`] is where it tells them.
//! The breaker publishes "scope S is open until T"; the other processes'
//! breakers for S learn it and fail fast until T, then probe as usual.
//! Local failure counts never leave a process: only a time the server
//! named is shared, never one process's guess.
//!
//! The quota's stores implement it, so a fleet shares openings through the
//! store it already has: [`MemoryStore`](crate::quota::MemoryStore) (one
//! process, and tests) and `RedisStore` (feature `redis`); wire one with
//! [`CircuitBreakerLayer::shared`](crate::breaker::CircuitBreakerLayer::shared).
//!
//! Floor 2: a contract between the breaker and a store, as
//! [`ScopeKey`] is; it imports no layer.

use crate::error::ScopeKey;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a fleet's circuit breakers share the openings a server signalled.
///
/// Times are wall-clock ([`SystemTime`]): processes share no other clock,
/// so theirs should agree (NTP) to well under the waits servers name. An
/// opening in the past is ignored by its readers, and each reader learns
/// an opening once: one that ends no later than one it has learned or
/// published is not news.
///
/// Neither method may wait: both are called on a request's path. A store
/// across the network writes in the background and answers
/// [`opening`](Self::opening) from a view it refreshes in the background,
/// so a request never pays a round trip, and a store that is down leaves
/// each breaker to its own counts, never failing or holding a request.
pub trait OpeningStore: fmt::Debug + Send + Sync + 'static {
    /// Shares that `scope`'s server asked not to be called before `until`.
    /// Of two openings of a scope, the later one is kept.
    fn publish(&self, scope: ScopeKey, until: SystemTime);

    /// The latest opening of `scope` this store knows of (possibly past),
    /// at once.
    fn opening(&self, scope: ScopeKey) -> Option<SystemTime>;
}

/// `at` as milliseconds since the Unix epoch (0 before it): the form
/// openings take in a store, and the one a reader compares.
pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_milliseconds() {
        let at = from_unix_ms(1_764_851_234_567);
        assert_eq!(unix_ms(at), 1_764_851_234_567);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
