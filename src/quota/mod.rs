//! Pace requests by the quota the server announces; share it across a fleet.
//!
//! (Manual below; written once the pieces are in.)

mod error;
mod future;
mod layer;
mod learn;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod scope;
mod service;
mod store;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisStore, DEFAULT_PREFIX, DEFAULT_TIMEOUT};
pub use error::RateLimited;
pub use future::ResponseFuture;
pub use layer::{QuotaLayer, DEFAULT_MAX_WAIT};
pub use memory::MemoryStore;
pub use scope::{digest, QuotaRequest};
pub use service::Quota;
pub use store::{
    Grant, Observation, Permit, QuotaStore, ScopeKey, StoreFuture, WindowReport, MAX_WINDOWS,
};
