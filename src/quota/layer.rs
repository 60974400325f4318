//! [`QuotaLayer`].

use super::scope::QuotaRequest;
use super::{MemoryStore, Quota, QuotaStore};
use crate::observe::Observer;
use crate::scope::PartitionFn;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type CostFn = dyn Fn(&QuotaRequest<'_>) -> u64 + Send + Sync;

/// The default [`max_wait`](QuotaLayer::max_wait): 120 s, as the retry
/// policy's `max_retry_after`.
pub const DEFAULT_MAX_WAIT: Duration = crate::hints::LONGEST_WAIT;

/// The configuration a layer and its services share.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) store: Arc<dyn QuotaStore>,
    pub(crate) max_wait: Duration,
    pub(crate) partition: Option<Arc<PartitionFn>>,
    pub(crate) cost: Option<Arc<CostFn>>,
    /// Where holds and refusals are reported.
    pub(crate) observer: Observer,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuotaConfig")
            .field("store", &self.store)
            .field("max_wait", &self.max_wait)
            .field("partition", &self.partition.is_some())
            .field("cost", &self.cost.is_some())
            .finish()
    }
}

/// The builder methods [`QuotaLayer`] and [`Quota`] share, written once:
/// each sets its own copy (`Arc::make_mut`) of the `config` field.
macro_rules! quota_config_builders {
    () => {
        config_setters! {
            config;

            /// The longest a request is held for the quota (pacing, a spent window,
            /// a cooldown, a store's answer), 120 s by default. A request that would
            /// wait longer (or past the timeout of an auth layer's token source
            /// call it is polled in) fails at once, without being sent, with
            /// [`Error::RateLimited`](crate::Error::RateLimited); one whose store has
            /// not answered by then (a Redis that does not answer) fails then, the
            /// same way.
            pub fn max_wait(max: std::time::Duration) |c| c.max_wait = max;

            /// Records each hold (`tower_api_errors.quota.holds`, and its wait as
            /// `tower_api_errors.waits` with source `quota`) and each local refusal
            /// (`tower_api_errors.failed_fast`, reason `quota`) into `metrics`; see
            /// [the table](crate::metrics#the-metrics).
            #[cfg(feature = "opentelemetry")]
            pub fn metrics(metrics: crate::metrics::Metrics) |c| c.observer = metrics.into();

            /// Partitions scopes by a value of the request (an API key, a tenant):
            /// requests with different values learn and spend separate quotas.
            /// `None` leaves a request in the unpartitioned scope.
            ///
            /// The value is hashed ([`digest`](super::digest)) as soon as the
            /// closure returns: no store key, log line or error ever holds it.
            pub fn partition<F: Fn(&super::QuotaRequest<'_>) -> Option<K>, K: AsRef<[u8]>>(f: F) |c| {
                c.partition = Some(crate::scope::partition(f));
            };

            /// What a request costs (1 by default): LLM tokens, bytes. Windows the
            /// server says count requests (a family's `requests` window, an IETF
            /// policy's `qu`, whose default is `requests`) and Anthropic's
            /// `output-tokens` draw 1; the others draw the cost, a window whose
            /// unit no header names (`X-RateLimit-*` alone) too: the crate cannot
            /// tell requests from tokens there, and a cost function is the
            /// caller's word that the API counts cost. The server's own figures
            /// (`remaining-tokens`) replace the estimate with each response. A
            /// cost of 0 is counted as 1.
            pub fn cost<F: Fn(&super::QuotaRequest<'_>) -> u64>(f: F) |c| {
                c.cost = Some(std::sync::Arc::new(f));
            };
        }

        /// The store.
        pub fn store(&self) -> &dyn super::QuotaStore {
            &*self.config.store
        }
    };
}

/// Wraps a service in a [`Quota`]: requests wait for the quota the server
/// announced, learned from every response. See the [module docs](super).
///
/// # Clone
/// Cheap (one `Arc`); clones, and every service they make, share the store.
#[derive(Clone, Debug)]
pub struct QuotaLayer {
    config: Arc<Config>,
}

default_from_new!(QuotaLayer);

impl QuotaLayer {
    /// A layer over a new [`MemoryStore`]: learns per process, no set-up.
    pub fn new() -> Self {
        QuotaLayer::with_store(MemoryStore::new())
    }

    /// A layer over `store` ([`MemoryStore`], `RedisStore`, your own).
    pub fn with_store(store: impl QuotaStore) -> Self {
        QuotaLayer {
            config: Arc::new(Config {
                store: Arc::new(store),
                max_wait: DEFAULT_MAX_WAIT,
                partition: None,
                cost: None,
                observer: Observer::new(),
            }),
        }
    }

    quota_config_builders!();
}

layer_from_config!(QuotaLayer => Quota);
