//! [`ResendBody`]: request bodies the auth layer can send a second time.

use crate::replay::ReplayBody;

/// A request body that can be sent again from its first byte.
///
/// The auth layer takes a copy before the first send and sends that copy
/// when the credential was rejected. Two kinds of body qualify:
///
/// - a [`ReplayBody`]: what the [`RetryLayer`](crate::RetryLayer) hands
///   its inner service, so under a retry layer the auth layer reuses the
///   retry layer's replay buffer (a copy is a reference count; nothing is
///   wrapped twice or kept twice). A body that outgrew its replay cap
///   cannot be sent again, and the request ends in an
///   [`Unauthorized`](super::Unauthorized) error saying so
///   ([`AuthFailure::BodyNotReplayable`](super::AuthFailure::BodyNotReplayable)).
/// - any body that is `Clone` (`Full<Bytes>`, `Empty`, `String`): the
///   copy is a clone, taken before the first send.
///
/// Without a retry layer, wrap a streamed body in
/// [`ReplayBody::new`](ReplayBody::new) yourself (for example with
/// `tower::util::MapRequestLayer`).
pub trait ResendBody: Sized {
    /// A copy to send again, taken before the first send.
    fn resend_copy(&self) -> Self;

    /// Whether a copy taken earlier can still be sent in full, asked of
    /// that copy after the first send.
    fn can_resend(&self) -> bool {
        true
    }
}

impl<B: http_body::Body + Clone> ResendBody for B {
    fn resend_copy(&self) -> Self {
        self.clone()
    }
}

impl<B> ResendBody for ReplayBody<B> {
    fn resend_copy(&self) -> Self {
        self.replay()
    }

    fn can_resend(&self) -> bool {
        self.is_replayable()
    }
}
