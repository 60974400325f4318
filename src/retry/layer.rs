//! [`RetryLayer`].

use super::{Retry, RetryPolicy};
use tower::Layer;

/// Wraps a service in a [`Retry`] with a [`RetryPolicy`].
///
/// # Clone
/// Cheap; clones (and every service they make) share the policy's budget.
#[derive(Debug, Clone, Default)]
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    /// A layer with `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        RetryLayer { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(inner, self.policy.clone())
    }
}
