//! [`RateLimited`] lives in the error module (below every
//! layer) and is re-exported here.

pub use crate::error::RateLimited;
