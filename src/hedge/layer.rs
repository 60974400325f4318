//! [`HedgeLayer`].

use super::learn::{Delay, Scopes};
use super::Hedge;
use crate::budget::{RetryBudget, SharedBudget};
use crate::replay::DEFAULT_MAX_REPLAY;
use crate::scope::{PartitionFn, ScopeRequest};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tower::retry::budget::Budget;

/// The configuration a layer and its services share.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) delay: Delay,
    pub(crate) budget: Option<Arc<dyn SharedBudget>>,
    /// Whether `budget` is the caller's choice (`budget`, `no_budget`),
    /// not the default a stack may replace with its retry budget.
    budget_chosen: bool,
    pub(crate) max_replay: usize,
    pub(crate) scopes: Arc<Scopes>,
    pub(crate) partition: Option<Arc<PartitionFn>>,
    /// Where hedges sent, won and cancelled are reported.
    pub(crate) observer: crate::observe::Observer,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeConfig")
            .field("delay", &self.delay)
            .field("budget", &self.budget.is_some())
            .field("max_replay", &self.max_replay)
            .field("partition", &self.partition.is_some())
            .finish_non_exhaustive()
    }
}

/// Wraps a service in a [`Hedge`]: an idempotent call that is slow to
/// answer gets a second attempt; the first success wins. See the
/// [module docs](super).
///
/// # Clone
/// Cheap (one `Arc`); clones, and every service they make, share the
/// budget and what was learned per scope.
#[derive(Clone, Debug)]
pub struct HedgeLayer {
    config: Arc<Config>,
}

impl HedgeLayer {
    /// A hedge `delay` after the first attempt was sent.
    ///
    /// # Panics
    /// When `delay` is zero (that is two requests for every call).
    pub fn fixed(delay: Duration) -> Self {
        assert!(!delay.is_zero(), "a hedge delay must be longer than zero");
        HedgeLayer::with_delay(Delay::Fixed(delay))
    }

    /// A hedge when the first attempt is slower than the `p` quantile of
    /// the scope's answers (0.95: slower than 95 % of them), learned per
    /// scope (the authority, or a [partition](Self::partition) of it) in
    /// bounded memory. Until 20 answers are learned, calls
    /// are not hedged; the delay is never under 1 ms.
    ///
    /// # Panics
    /// When `p` is not within (0.5, 1).
    pub fn percentile(p: f64) -> Self {
        assert!(
            p > 0.5 && p < 1.0,
            "the hedge percentile must be within (0.5, 1)"
        );
        HedgeLayer::with_delay(Delay::Percentile {
            p,
            min_samples: 20,
            floor: Duration::from_millis(1),
        })
    }

    fn with_delay(delay: Delay) -> Self {
        let config = Arc::new(Config {
            delay,
            // Of a layer that is not given one: 10 % of its hedged calls of
            // the last 10 s, plus 1 hedge a second.
            budget: Some(Arc::new(RetryBudget::new(Duration::from_secs(10), 1, 0.1))),
            budget_chosen: false,
            max_replay: DEFAULT_MAX_REPLAY,
            scopes: Arc::default(),
            partition: None,
            observer: crate::observe::Observer::new(),
        });
        HedgeLayer { config }
    }

    /// Hedges draw on `budget` (the retry policy's, in `ApiErrorsLayer`),
    /// unless this layer was given a budget, or none, of its own.
    pub(crate) fn sharing(mut self, budget: Option<Arc<dyn SharedBudget>>) -> Self {
        if let (false, Some(budget)) = (self.config.budget_chosen, budget) {
            Arc::make_mut(&mut self.config).budget = Some(budget);
        }
        self
    }

    config_setters! {
        config;

        /// The answers learned before a learned delay is used (20), and the
        /// shortest delay (1 ms). No effect on a fixed delay.
        ///
        /// # Panics
        /// When `samples` is zero.
        pub fn learning(samples: u32, floor: Duration) |c| {
            assert!(samples >= 1, "learning needs at least one sample");
            if let Delay::Percentile { min_samples, floor: least, .. } = &mut c.delay {
                (*min_samples, *least) = (samples, floor);
            }
        };

        /// The budget hedges draw on (by default, 10 % of this layer's
        /// hedged calls over 10 s, plus 1 hedge a second). Give it a clone of the
        /// [`RetryBudget`](super::RetryBudget) the retry policy has, and hedges
        /// and retries share one. Each hedgeable call deposits one; each hedge
        /// withdraws one (a [`RetryBudget`](super::RetryBudget) gets it back
        /// when the hedge is never sent: refused or still held below); an
        /// empty budget stops new hedges and never cancels one in flight.
        pub fn budget(budget: impl Budget + Send + Sync + 'static) |c| {
            c.budget = Some(Arc::new(budget));
            c.budget_chosen = true;
        };

        /// No budget: every slow call may be hedged (tests, experiments).
        pub fn no_budget() |c| (c.budget, c.budget_chosen) = (None, true);

        /// The most request-body bytes kept to send the body again (64 KiB).
        /// A call whose body outgrows it, or is still streaming when the hedge
        /// is due, is not hedged.
        pub fn max_replay_bytes(bytes: usize) |c| c.max_replay = bytes;

        /// Records each hedge sent, won and cancelled as
        /// `tower_api_errors.hedges` into `metrics` (the events go to
        /// `tracing` with or without it); see [`observe`](crate::observe).
        /// A hedged call's `tower_api_errors.call.duration` and `.attempts`
        /// are recorded here too, once (the retry layer below records each
        /// attempt only): give it the retry layer's handle.
        #[cfg(feature = "opentelemetry")]
        pub fn metrics(metrics: crate::metrics::Metrics) |c| c.observer = metrics.into();

        /// One scope per value of the request (a tenant, a GitHub resource),
        /// within each authority, as the breaker's and the quota's
        /// `partition`: each learns its own latencies and its own cooldowns
        /// (one tenant's 429 holds no other tenant's hedges). `None` leaves a
        /// request in its authority's scope. The value is hashed as soon as
        /// the closure returns.
        pub fn partition<F: Fn(&ScopeRequest<'_>) -> Option<K>, K: AsRef<[u8]>>(f: F) |c| {
            c.partition = Some(crate::scope::partition(f));
        };
    }
}

layer_from_config!(HedgeLayer => Hedge);
