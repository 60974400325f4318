//! [`RetryLayer`].

use super::{Retry, RetryPolicy};
use tower::Layer;

/// Wraps a service in a [`Retry`] with a [`Policy`](super::Policy)
/// ([`RetryPolicy`] by default).
///
/// # Clone
/// Cheap for a [`RetryPolicy`]; clones (and every service they make) share
/// the policy's budget.
#[derive(Debug, Clone, Default)]
pub struct RetryLayer<P = RetryPolicy> {
    policy: P,
}

impl<P> RetryLayer<P> {
    /// A layer with `policy`.
    pub fn new(policy: P) -> Self {
        RetryLayer { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }
}

/// The bound [`RetryLayer`] puts on the service it wraps: `Clone`, named so
/// that forgetting it gives a compile error that says why and what to do.
/// Every `Clone` type has it.
#[diagnostic::on_unimplemented(
    message = "`RetryLayer` needs a `Clone` service to retry on, and `{Self}` is not `Clone`",
    label = "not `Clone`",
    note = "each attempt is sent on a clone of the inner service",
    note = "wrap a service that cannot be cloned in `tower::buffer::Buffer` (`ServiceBuilder::buffer`), which can"
)]
pub trait CloneForRetry: Clone {}

impl<S: Clone> CloneForRetry for S {}

impl<S: CloneForRetry, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = Retry<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(inner, self.policy.clone())
    }
}
