//! [`QuotaStore`]: where learned quotas live, and the values that cross it;
//! the stores themselves, and the window algorithm they all call.
//!
//! - `window`: the algorithm (pure: numbers and a clock reading in, a
//!   decision out), once.
//! - `inferred`: what is inferred of a vendor that announces no quota.
//! - `memory`: [`MemoryStore`], one process.
//! - `ledger` and `redis` (feature `redis`): a fleet's shared ledger and
//!   [`RedisStore`](super::RedisStore), which admits from local leases.

pub(crate) mod inferred;
#[cfg(feature = "redis")]
pub(crate) mod ledger;
pub(crate) mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod window;

pub use memory::MemoryStore;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::error::ScopeKey;

// The key type is plain data in the error module (a refusal names it); the
// digest that makes one from an authority is the quota layer's.
impl ScopeKey {
    /// The scope of requests to `authority` (`host` or `host:port`; the
    /// host's case does not matter, and a port the scheme implies, `:443`
    /// of `https`, is left out, as requests' scopes leave it out) with an
    /// optional partition digest (see [`digest`](super::digest)).
    pub fn new(authority: &str, partition: Option<u64>) -> Self {
        let digest = crate::scope::authority_digest(authority.as_bytes(), partition);
        ScopeKey::from_u64(digest)
    }
}

/// The most windows (policies) one response reports and one scope keeps:
/// a burst and a daily policy, requests and tokens, with room to spare.
/// Beyond them, the loosest (most left of its limit, or reset) gives way
/// to a tighter one, in a response and in a scope alike: no response can
/// grow a scope, nor blind it to a policy spent later.
pub const MAX_WINDOWS: usize = 4;

/// One window (policy) as one response reported it: the crate's one
/// window type, [`RateLimitPolicy`](crate::hints::RateLimitPolicy), under
/// the name the store API has always used.
///
/// A window named `requests` (OpenAI's and Anthropic's per-request
/// windows, beside a tokens one) draws 1 per request; any other draws the
/// request's [`cost`](super::QuotaLayer::cost).
pub type WindowReport = crate::hints::RateLimitPolicy;

/// What one response taught about its scope: the windows it announced and
/// a cooldown (a 429's or 503's `Retry-After`, `retry-after-ms` or body
/// hint). Fixed size: reading a response allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    windows: [WindowReport; MAX_WINDOWS],
    len: u8,
    cooldown: Option<Duration>,
    limited: bool,
}

impl Observation {
    /// Nothing learned.
    pub fn new() -> Self {
        Observation::default()
    }

    /// Adds a window; beyond [`MAX_WINDOWS`] the least restrictive is
    /// dropped (the one with most left of its limit), as a scope keeps its
    /// windows.
    pub fn with_window(mut self, window: WindowReport) -> Self {
        let len = self.len as usize;
        if len < MAX_WINDOWS {
            self.windows[len] = window;
            self.len += 1;
            return self;
        }
        let slack = |w: &WindowReport| window::looseness(w.remaining(), w.limit());
        let loosest = self.windows.iter_mut().max_by_key(|w| slack(w));
        if let Some(loosest) = loosest.filter(|loosest| slack(loosest) > slack(&window)) {
            *loosest = window;
        }
        self
    }

    config_setters! {
        self;

        /// Sets (or lengthens) the cooldown.
        pub fn with_cooldown(cooldown: Duration) |o| {
            o.cooldown = Some(o.cooldown.map_or(cooldown, |c| c.max(cooldown)))
        };

        /// Marks the cooldown as a rate limit's (a 429's), not an outage's (a
        /// 503's): only a rate limit's wait teaches a vendor that announces no
        /// quota its window.
        pub fn rate_limited() |o| o.limited = true;
    }

    /// The windows, as reported.
    pub fn windows(&self) -> &[WindowReport] {
        &self.windows[..self.len as usize]
    }

    field_getters! {
        /// Whether the cooldown is a rate limit's (see
        /// [`rate_limited`](Self::rate_limited)).
        pub fn is_rate_limited -> bool { limited }

        /// How long the server asked the whole scope to hold off.
        pub fn cooldown -> Option<Duration>;
    }

    /// True when the response taught nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.cooldown.is_none()
    }
}

/// Permits a request holds from the moment a store grants them until its
/// response (or its cancellation) is [settled](QuotaStore::settle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    scope: ScopeKey,
    cost: u64,
    held: bool,
    tag: u8,
    sent: bool,
    /// When its request went, on the store's clock (0: unknown), as a
    /// store of this module stamps it: an answer to a request sent before
    /// its window was learned may be the window before's.
    at: u64,
}

impl Permit {
    /// A permit of `cost` units in `scope`; `held` says whether the store
    /// counted it (false when it knew nothing of the scope), `tag` is the
    /// store's own (e.g. which back end granted it).
    pub fn new(scope: ScopeKey, cost: u64, held: bool, tag: u8) -> Self {
        Permit {
            scope,
            cost,
            held,
            tag,
            sent: false,
            at: 0,
        }
    }

    /// The permit of a request that was sent (see [`is_sent`](Self::is_sent)).
    pub fn sent(self) -> Self {
        Permit { sent: true, ..self }
    }

    field_getters! {
        /// The scope.
        pub fn scope -> ScopeKey;

        /// Units the request costs.
        pub fn cost -> u64;

        /// The store's tag.
        pub fn tag -> u8;

        /// Whether the store counted the permit (and must uncount it).
        pub fn is_held -> bool { held }

        /// Whether its request was sent: one [released](QuotaStore::release)
        /// after it was sent went unanswered (its caller dropped it), and
        /// the vendor may have counted it.
        pub fn is_sent -> bool { sent }
    }
}

/// A store's answer to [`QuotaStore::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// Send, after `delay` (pacing; zero for at once). The permit is held
    /// from now: the delay is never longer than the caller's `max_delay`.
    Go {
        /// The permit to settle when the request ends.
        permit: Permit,
        /// How long to hold the request first.
        delay: Duration,
    },
    /// Nothing may be sent now: ask again after this long (the window's
    /// reset, or the scope's cooldown).
    Wait(Duration),
    /// Nothing may be sent, and no wait would help while the window keeps
    /// its limit: the request's cost alone is more than the window's whole
    /// `limit` (a prompt larger than a tokens-per-minute limit). The layer
    /// refuses it at once rather than hold it to `max_wait`.
    Exceeds {
        /// The window's limit, which the request's cost is more than.
        limit: u64,
        /// How far away the window's reset is (zero when unknown).
        reset: Duration,
    },
}

/// The future of a store call: ready at once (the in-memory store, with no
/// allocation), or a boxed future (a store across the network).
///
/// An enum rather than always a `Pin<Box<dyn Future>>` so that the default
/// store's hot path, which never waits, never allocates; a boxed future is
/// what keeps [`QuotaStore`] object-safe for stores that do wait.
#[must_use = "futures do nothing unless polled"]
pub struct StoreFuture<T>(Inner<T>);

enum Inner<T> {
    Ready(Option<T>),
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'static>>),
}

impl<T> StoreFuture<T> {
    /// A value available now.
    pub fn ready(value: T) -> Self {
        StoreFuture(Inner::Ready(Some(value)))
    }

    /// A value a future will produce.
    pub fn boxed(future: impl Future<Output = T> + Send + 'static) -> Self {
        StoreFuture(Inner::Boxed(Box::pin(future)))
    }

    /// The value, when it is available without waiting.
    pub fn now_or_never(&mut self) -> Option<T> {
        match &mut self.0 {
            Inner::Ready(value) => value.take(),
            Inner::Boxed(_) => None,
        }
    }
}

impl<T> fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Inner::Ready(_) => "StoreFuture::Ready",
            Inner::Boxed(_) => "StoreFuture::Boxed",
        })
    }
}

// Never pinned structurally: the value is moved out, the future is boxed.
impl<T> Unpin for StoreFuture<T> {}

impl<T> Future for StoreFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            Inner::Ready(value) => {
                Poll::Ready(value.take().expect("StoreFuture polled after completion"))
            }
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

/// Where learned quotas live: windows, permits in flight, cooldowns.
///
/// Object-safe (the layer holds an `Arc<dyn QuotaStore>`), and async where
/// it must be: [`acquire`](Self::acquire) decides whether a request may go
/// and [`settle`](Self::settle) records what its answer taught; both may
/// need a network round trip, so both return a [`StoreFuture`]. The layer
/// awaits a settle before handing the response back, so that what one
/// response taught is in the store before the caller's next request asks.
/// [`release`](Self::release) runs when a request ends without an answer
/// (dropped, or never sent), possibly inside `Drop`: it returns nothing,
/// and a store across the network does that write in the background.
///
/// Implementations: [`MemoryStore`](super::MemoryStore) (one process), and
/// `RedisStore` (feature `redis`, a fleet).
pub trait QuotaStore: fmt::Debug + Send + Sync + 'static {
    /// Asks for `cost` units in `scope`. A [`Grant::Go`]'s delay must not
    /// exceed `max_delay`; with nothing learned for the scope, the answer is
    /// `Go` at once with a permit that is not held. The layer waits for the
    /// answer until its `max_wait` at most: then it drops the future and
    /// refuses the request (a store need not bound its own wait).
    fn acquire(&self, scope: ScopeKey, cost: u64, max_delay: Duration) -> StoreFuture<Grant>;

    /// Releases `permit` and learns what its answer (a response, or a
    /// typed error) taught.
    fn settle(&self, permit: Permit, observation: &Observation) -> StoreFuture<()>;

    /// Releases `permit` of a request that ended without an answer: never
    /// sent (its units unused), or sent and dropped before its answer
    /// ([`Permit::is_sent`]: the vendor may have counted it, so its units
    /// stay spent).
    fn release(&self, permit: Permit);

    /// True while `scope` waits out a 429's (or a 503's) wait: a request
    /// paced before it was learned is not sent at its slot (the vendor
    /// would refuse it), but gives its permit back and asks again. By
    /// default false: a store that paces nothing need not say.
    fn cooling_down(&self, scope: ScopeKey) -> bool {
        let _ = scope;
        false
    }
}
