//! [`Prototype`]: where the layers that send a request again (retry; auth
//! after a renewal) get the service for it; [`release_readiness`], for
//! those that send later on a clone.

use crate::lock;
use std::sync::{Mutex, OnceLock};

/// The clone of the inner service that a request's further sends (its
/// retries, the auth layer's re-send) are cloned from, taken at the first
/// call and shared by the layer's clones.
///
/// Tower's `Retry` moves the ready service into every response future and
/// leaves a clone behind: a clone and a drop per request, and a future that
/// carries the whole service (hyper-util's `Client` is ~300 bytes) through
/// every move. Here the first attempt uses the ready service in place, and
/// the future holds a reference count; a retry clones the prototype and
/// drives the clone's own `poll_ready`, as it would have driven the moved
/// one's. Clones of a client share its connections and configuration, so
/// a clone of the prototype and a clone of the service at call time send
/// the same way. (The lock makes the prototype shareable for services that
/// are `Send` but not `Sync`, such as `BoxCloneService`; only a retry takes
/// it.)
pub(crate) struct Prototype<S> {
    service: OnceLock<Mutex<S>>,
}

impl<S> Default for Prototype<S> {
    fn default() -> Self {
        Prototype {
            service: OnceLock::new(),
        }
    }
}

impl<S: Clone> Prototype<S> {
    /// Takes a clone of `service` the first time (one atomic load after).
    pub(crate) fn keep(&self, service: &S) {
        self.service.get_or_init(|| Mutex::new(service.clone()));
    }

    /// A new clone, for a further send.
    pub(crate) fn service(&self) -> S {
        let kept = self.service.get();
        lock(kept.expect("kept at the call that made the future")).clone()
    }
}

/// Gives back the readiness `service` holds (a `ConcurrencyLimit` permit, a
/// `Buffer` slot) when the request it was made ready for will be sent
/// later, on a clone: it is replaced by a clone, which holds none, and
/// dropped. Tower lets a caller drop a ready service; left in place, a
/// caller that keeps it (the retry layer does, for the whole call) holds
/// the reservation that the clone's `poll_ready` then waits for forever.
pub(crate) fn release_readiness<S: Clone>(service: &mut S) {
    drop(std::mem::replace(service, service.clone()));
}

debug_fields!([S] Prototype<S> (&self) {
    kept: self.service.get().is_some(),
});
