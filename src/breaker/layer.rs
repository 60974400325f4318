//! [`CircuitBreakerLayer`].

use super::state::{Circuits, Thresholds};
use super::CircuitBreaker;
use crate::fleet::OpeningStore;
use crate::scope::{PartitionFn, ScopeRequest};
use crate::ErrorKind;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The kinds counted by default: the ones that mean the upstream is unwell.
pub const DEFAULT_COUNTED: [ErrorKind; 5] = [
    ErrorKind::Unavailable,
    ErrorKind::BadGateway,
    ErrorKind::Server,
    ErrorKind::Timeout,
    ErrorKind::Transport,
];

/// The configuration a layer and its services share.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) circuits: Arc<Circuits>,
    pub(crate) thresholds: Thresholds,
    /// Counted kinds, one bit per kind.
    pub(crate) counted: u32,
    pub(crate) partition: Option<Arc<PartitionFn>>,
    /// Where openings, probes and closings are reported.
    pub(crate) observer: crate::observe::Observer,
    /// Where openings the server signalled are shared with the fleet.
    pub(crate) fleet: Option<Arc<dyn OpeningStore>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerConfig")
            .field("thresholds", &self.thresholds)
            .field("counted", &format_args!("{:#x}", self.counted))
            .field("partition", &self.partition.is_some())
            .field("fleet", &self.fleet)
            .field("scopes", &self.circuits.len())
            .finish()
    }
}

fn bit(kind: ErrorKind) -> u32 {
    1 << (kind as u32)
}

impl Config {
    pub(crate) fn counts(&self, kind: ErrorKind) -> bool {
        self.counted & bit(kind) != 0
    }
}

/// Wraps a service in a [`CircuitBreaker`]: calls to an upstream that
/// keeps failing fail at once, until a probe finds it well. See the
/// [module docs](super).
///
/// # Clone
/// Cheap (one `Arc`); clones, and every service they make, share the
/// circuits.
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer {
    config: Arc<Config>,
}

default_from_new!(CircuitBreakerLayer);

impl CircuitBreakerLayer {
    /// A breaker per authority: opens when at least half of the calls of
    /// the last 10 s failed, over at least 10 calls; breaks for 5 s,
    /// doubling with each opening in a row up to 60 s, or for what the
    /// server asked; counts [`DEFAULT_COUNTED`].
    pub fn new() -> Self {
        let config = Arc::new(Config {
            circuits: Arc::default(),
            thresholds: Thresholds {
                failure_rate: 0.5,
                minimum_calls: 10,
                window: Duration::from_secs(10),
                base_break: Duration::from_secs(5),
                max_break: Duration::from_secs(60),
            },
            counted: 0,
            partition: None,
            observer: crate::observe::Observer::new(),
            fleet: None,
        });
        CircuitBreakerLayer { config }.count(DEFAULT_COUNTED)
    }

    config_setters! {
        config;

        /// The share of the window's calls that must have failed (0.5).
        ///
        /// # Panics
        /// When `rate` is not within (0, 1].
        pub fn failure_rate(rate: f64) |c| {
            assert!(
                rate > 0.0 && rate <= 1.0,
                "failure_rate must be within (0, 1]"
            );
            c.thresholds.failure_rate = rate;
        };

        /// The fewest calls in the window before the rate is looked at (10):
        /// two failures of a quiet client open nothing.
        ///
        /// # Panics
        /// When `calls` is zero.
        pub fn minimum_calls(calls: u32) |c| {
            assert!(calls >= 1, "minimum_calls must be at least 1");
            c.thresholds.minimum_calls = calls;
        };

        /// The window the failure rate is measured over (10 s, in ten slots).
        ///
        /// # Panics
        /// When `window` is not within 100 ms and 1 h.
        pub fn window(window: Duration) |c| {
            assert!(
                (Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&window),
                "window must be within 100 ms and 1 h"
            );
            c.thresholds.window = window;
        };

        /// The break when the server named none (5 s), doubled with each
        /// opening in a row (a failed probe reopens), up to `max` (60 s). A
        /// circuit that stayed closed a whole window starts again from `base`.
        ///
        /// # Panics
        /// When `base` is zero or `max` shorter than it.
        pub fn break_duration(base: Duration, max: Duration) |c| {
            assert!(
                !base.is_zero() && max >= base,
                "the break must be longer than zero and its cap no shorter"
            );
            (c.thresholds.base_break, c.thresholds.max_break) = (base, max);
        };

        /// The failure kinds counted ([`DEFAULT_COUNTED`]). Whatever the list,
        /// a 4xx (a 429 included) and a request never sent (a quota or auth
        /// refusal) never count: they say nothing about the upstream's health.
        pub fn count(kinds: impl IntoIterator<Item = ErrorKind>) |c| {
            c.counted = kinds.into_iter().fold(0, |set, kind| set | bit(kind));
        };

        /// Shares with the fleet, through `store`, the openings the server
        /// signalled (a counted failure's `Retry-After`, `retry-after-ms` or
        /// pushback timed the break), and learns the fleet's: every process's
        /// breaker for the scope then fails fast until the time the server
        /// named, and probes at it. Failure counts, and breaks the breaker
        /// timed itself, stay in this process. `store` is the quota's:
        /// [`MemoryStore`](crate::quota::MemoryStore), or `RedisStore`
        /// (feature `redis`), whose view is refreshed off the request's path.
        pub fn shared(store: impl OpeningStore) |c| c.fleet = Some(Arc::new(store));

        /// Records each opening, probe and closing as
        /// `tower_api_errors.breaker.transitions` into `metrics` (the events go
        /// to `tracing` with or without it); see [`observe`](crate::observe).
        #[cfg(feature = "opentelemetry")]
        pub fn metrics(metrics: crate::metrics::Metrics) |c| c.observer = metrics.into();

        /// One breaker per value of the request (a region header, a tenant),
        /// within each authority; `None` leaves a request in its authority's.
        /// The value is hashed as soon as the closure returns.
        pub fn partition<F: Fn(&ScopeRequest<'_>) -> Option<K>, K: AsRef<[u8]>>(f: F) |c| {
            c.partition = Some(crate::scope::partition(f));
        };
    }
}

layer_from_config!(CircuitBreakerLayer => CircuitBreaker);
