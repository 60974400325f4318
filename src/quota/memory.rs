//! [`MemoryStore`]: learned quotas in this process, lock-sharded.

use super::store::{
    Grant, Observation, Permit, QuotaStore, ScopeKey, StoreFuture, WindowReport, MAX_WINDOWS,
};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;
use tower::util::rng::{HasherRng, Rng};

const SHARDS: usize = 16;
/// Default bound on scopes kept (all shards together).
const DEFAULT_MAX_SCOPES: usize = 16 * 1024;

/// The arithmetic every store shares (the Redis scripts mirror it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Pacing starts when what is left falls below this share of the limit.
    pub(crate) pace_below: f64,
    /// A window whose reset the server did not give is trusted this long.
    pub(crate) unknown_reset: Duration,
    /// A spent window whose reset is unknown (just refilled) is asked again after this.
    pub(crate) recheck: Duration,
    /// A report whose reset is later than the window's by more than this starts a new window.
    pub(crate) new_window_after: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            pace_below: 0.1,
            unknown_reset: Duration::from_secs(1),
            recheck: Duration::from_millis(50),
            new_window_after: Duration::from_secs(1),
        }
    }
}

/// Keys are digests already: hashing them again would be wasted work.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) | u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Shard = HashMap<ScopeKey, ScopeState, BuildHasherDefault<Identity>>;

/// Learned quotas kept in this process: the default store.
///
/// Sharded by scope over 16 mutexes (held for a few arithmetic steps, never
/// across an await). A scope is created by the first response that teaches
/// something; from then on, acquiring and settling update it in place, with
/// no allocation. With nothing learned, acquiring is one lookup.
///
/// Bounded: at most 16 384 scopes by default ([`max_scopes`](Self::max_scopes));
/// when full, scopes whose windows have all reset are dropped first, then
/// any.
///
/// # Clone
/// Cheap; clones share the state.
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    shards: [Mutex<Shard>; SHARDS],
    max_per_shard: usize,
    tuning: Tuning,
    // False until a first scope is learned: until then a request takes no
    // lock at all (an API that announces no quota costs one atomic load).
    learned: AtomicBool,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("scopes", &self.len())
            .field("max_scopes", &(self.shared.max_per_shard * SHARDS))
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::with_limits(DEFAULT_MAX_SCOPES, Tuning::default())
    }

    fn with_limits(max_scopes: usize, tuning: Tuning) -> Self {
        MemoryStore {
            shared: Arc::new(Shared {
                shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
                max_per_shard: max_scopes.div_ceil(SHARDS).max(1),
                tuning,
                learned: AtomicBool::new(false),
            }),
        }
    }

    /// Bounds the scopes kept.
    ///
    /// # Panics
    /// When `max` is zero.
    pub fn max_scopes(self, max: usize) -> Self {
        assert!(max > 0, "max_scopes must be at least 1");
        MemoryStore::with_limits(max, self.shared.tuning)
    }

    /// Scopes currently kept.
    pub fn len(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|shard| lock(shard).len())
            .sum()
    }

    /// True when nothing has been learned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, scope: ScopeKey) -> MutexGuard<'_, Shard> {
        lock(&self.shared.shards[(scope.as_u64() as usize) % SHARDS])
    }

    /// The decision, now, without a future (the Redis fallback uses it too).
    pub(crate) fn acquire_now(
        &self,
        scope: ScopeKey,
        cost: u64,
        max_delay: Duration,
        tag: u8,
    ) -> Grant {
        let unknown = Grant::Go {
            permit: Permit::new(scope, cost, false, tag),
            delay: Duration::ZERO,
        };
        if !self.shared.learned.load(Ordering::Acquire) {
            return unknown;
        }
        let mut shard = self.shard(scope);
        match shard.get_mut(&scope) {
            None => unknown,
            Some(state) => state.acquire(
                scope,
                cost,
                max_delay,
                tag,
                Instant::now(),
                &self.shared.tuning,
            ),
        }
    }

    pub(crate) fn settle_now(&self, permit: Permit, observation: Option<&Observation>) {
        let learns = observation.filter(|o| !o.is_empty());
        if !permit.is_held() && learns.is_none() {
            return;
        }
        let now = Instant::now();
        let scope = permit.scope();
        let mut shard = self.shard(scope);
        if let Some(state) = shard.get_mut(&scope) {
            state.release(&permit);
            if let Some(observation) = learns {
                state.learn(observation, now, &self.shared.tuning);
            }
            return;
        }
        let Some(observation) = learns else { return };
        if shard.len() >= self.shared.max_per_shard {
            shard.retain(|_, state| !state.is_spent(now));
            if shard.len() >= self.shared.max_per_shard {
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        let mut state = ScopeState::default();
        state.learn(observation, now, &self.shared.tuning);
        shard.insert(scope, state);
        self.shared.learned.store(true, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain numbers: use them.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl QuotaStore for MemoryStore {
    fn acquire(&self, scope: ScopeKey, cost: u64, max_delay: Duration) -> StoreFuture<Grant> {
        StoreFuture::ready(self.acquire_now(scope, cost, max_delay, 0))
    }

    fn settle(&self, permit: Permit, observation: &Observation) -> StoreFuture<()> {
        self.settle_now(permit, Some(observation));
        StoreFuture::ready(())
    }

    fn release(&self, permit: Permit) {
        self.settle_now(permit, None);
    }
}

/// One window (policy) of a scope.
#[derive(Debug, Clone, Copy)]
struct Window {
    policy: u64,
    limit: Option<u64>,
    /// The fewest remaining any report of this window gave.
    remaining: u64,
    /// None after an optimistic refill, until a response says.
    reset_at: Option<Instant>,
    counts_cost: bool,
}

/// One scope's learned state.
#[derive(Debug, Default)]
struct ScopeState {
    windows: [Option<Window>; MAX_WINDOWS],
    cooldown_until: Option<Instant>,
    pace_next: Option<Instant>,
    /// Permits granted whose responses have not been settled: requests, and cost units.
    in_flight_requests: u64,
    in_flight_cost: u64,
}

impl ScopeState {
    fn in_flight(&self, window: &Window) -> u64 {
        if window.counts_cost {
            self.in_flight_cost
        } else {
            self.in_flight_requests
        }
    }

    /// True when nothing here holds anything back any more.
    fn is_spent(&self, now: Instant) -> bool {
        self.cooldown_until.is_none_or(|until| until <= now)
            && self
                .windows
                .iter()
                .flatten()
                .all(|window| window.reset_at.is_some_and(|reset| reset <= now))
    }

    fn acquire(
        &mut self,
        scope: ScopeKey,
        cost: u64,
        max_delay: Duration,
        tag: u8,
        now: Instant,
        tuning: &Tuning,
    ) -> Grant {
        if let Some(until) = self.cooldown_until {
            if until > now {
                return Grant::Wait(until - now);
            }
            self.cooldown_until = None;
        }
        // Windows that have reset refill (when their limit is known) or are
        // forgotten; then the tightest decides.
        let mut wait = Duration::ZERO;
        for slot in self.windows.iter_mut() {
            let Some(window) = slot else { continue };
            if window.reset_at.is_some_and(|reset| reset <= now) {
                match window.limit {
                    Some(limit) => {
                        window.remaining = limit;
                        window.reset_at = None;
                    }
                    None => {
                        *slot = None;
                        continue;
                    }
                }
            }
        }
        // Pacing slots are handed out in order from `pace_next`; each
        // window below its pacing mark asks for what is left of its time to
        // reset, split over what is left of it; the widest spacing wins.
        let slot = self.pace_next.filter(|next| *next > now).unwrap_or(now);
        let mut pace: Option<(Duration, Instant)> = None;
        for window in self.windows.iter().flatten() {
            let need = WindowReport::amount(window.counts_cost, cost);
            let available = window.remaining.saturating_sub(self.in_flight(window));
            if available < need {
                let until = window
                    .reset_at
                    .map_or(tuning.recheck, |reset| reset.saturating_duration_since(now));
                wait = wait.max(until.max(Duration::from_millis(1)));
                continue;
            }
            if let (Some(limit), Some(reset)) = (window.limit, window.reset_at) {
                let left = available - need;
                let paced = (left as f64) < (limit as f64) * tuning.pace_below
                    && reset.saturating_duration_since(now) <= max_delay
                    && slot < reset;
                if paced {
                    let slots = left.saturating_add(1).min(u64::from(u32::MAX)) as u32;
                    let interval = (reset - slot) / slots;
                    if pace.is_none_or(|(current, _)| interval > current) {
                        pace = Some((interval, reset));
                    }
                }
            }
        }
        if !wait.is_zero() {
            return Grant::Wait(wait);
        }
        self.in_flight_requests = self.in_flight_requests.saturating_add(1);
        self.in_flight_cost = self.in_flight_cost.saturating_add(cost);
        let delay = match pace {
            None => Duration::ZERO,
            Some((interval, reset)) => {
                self.pace_next = Some(slot + interval);
                let jitter = interval.mul_f64(HasherRng::default().next_f64() * 0.5);
                (slot - now + jitter).min(reset - now).min(max_delay)
            }
        };
        Grant::Go {
            permit: Permit::new(scope, cost, true, tag),
            delay,
        }
    }

    fn release(&mut self, permit: &Permit) {
        if permit.is_held() {
            self.in_flight_requests = self.in_flight_requests.saturating_sub(1);
            self.in_flight_cost = self.in_flight_cost.saturating_sub(permit.cost());
        }
    }

    fn learn(&mut self, observation: &Observation, now: Instant, tuning: &Tuning) {
        if let Some(cooldown) = observation.cooldown() {
            let until = now + cooldown;
            self.cooldown_until = Some(
                self.cooldown_until
                    .map_or(until, |current| current.max(until)),
            );
        }
        for report in observation.windows() {
            let reset_at = now + report.reset().unwrap_or(tuning.unknown_reset);
            let existing = self
                .windows
                .iter_mut()
                .flatten()
                .find(|window| window.policy == report.policy());
            match existing {
                Some(window) => {
                    if report.limit().is_some() {
                        window.limit = report.limit();
                    }
                    window.counts_cost = report.counts_cost();
                    let Some(remaining) = report.remaining() else {
                        continue;
                    };
                    let new_window = match window.reset_at {
                        // Refilled: the first report of the new window.
                        None => true,
                        Some(current) => reset_at > current + tuning.new_window_after,
                    };
                    if new_window {
                        // A late answer from the window that just ended
                        // says nothing about the new one.
                        if report.reset().is_some_and(|reset| reset.is_zero()) {
                            continue;
                        }
                        window.remaining = remaining;
                        window.reset_at = Some(reset_at);
                    } else {
                        window.remaining = window.remaining.min(remaining);
                    }
                }
                None => {
                    let Some(remaining) = report.remaining() else {
                        continue;
                    };
                    let window = Window {
                        policy: report.policy(),
                        limit: report.limit(),
                        remaining,
                        reset_at: Some(reset_at),
                        counts_cost: report.counts_cost(),
                    };
                    if let Some(free) = self.windows.iter_mut().find(|slot| slot.is_none()) {
                        *free = Some(window);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(limit: u64, remaining: u64, reset: u64) -> Observation {
        Observation::new().with_window(WindowReport::new(
            0,
            Some(limit),
            Some(remaining),
            Some(Duration::from_secs(reset)),
        ))
    }

    fn go(grant: Grant) -> (Permit, Duration) {
        match grant {
            Grant::Go { permit, delay } => (permit, delay),
            Grant::Wait(wait) => panic!("expected Go, got Wait({wait:?})"),
        }
    }

    const FOREVER: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn nothing_learned_is_a_lookup_and_an_unheld_permit() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        let (permit, delay) = go(store.acquire_now(scope, 1, FOREVER, 0));
        assert!(!permit.is_held());
        assert_eq!(delay, Duration::ZERO);
        store.settle_now(permit, Some(&Observation::new()));
        assert!(store.is_empty(), "an empty observation creates no scope");
    }

    #[tokio::test(start_paused = true)]
    async fn counts_in_flight_against_the_reported_remaining() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        let (first, _) = go(store.acquire_now(scope, 1, FOREVER, 0));
        store.settle_now(first, Some(&report(100, 3, 10)));
        let permits: Vec<_> = (0..3)
            .map(|_| go(store.acquire_now(scope, 1, FOREVER, 0)).0)
            .collect();
        assert!(permits.iter().all(Permit::is_held));
        assert_eq!(
            store.acquire_now(scope, 1, FOREVER, 0),
            Grant::Wait(Duration::from_secs(10))
        );
        // The server answers "2 left" for the first: the two still in flight
        // may not be counted yet, so nothing is free.
        store.settle_now(permits[0], Some(&report(100, 2, 10)));
        assert!(matches!(
            store.acquire_now(scope, 1, FOREVER, 0),
            Grant::Wait(_)
        ));
        // An older answer arriving late ("3 left") does not raise the count,
        // but its request is now known counted: one is free.
        store.settle_now(permits[1], Some(&report(100, 3, 10)));
        go(store.acquire_now(scope, 1, FOREVER, 0));
        assert!(matches!(
            store.acquire_now(scope, 1, FOREVER, 0),
            Grant::Wait(_)
        ));
        // At the reset the window refills from its limit.
        tokio::time::advance(Duration::from_secs(10)).await;
        go(store.acquire_now(scope, 1, FOREVER, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_tightest_of_several_policies_binds() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        let burst = WindowReport::new(1, Some(10), Some(5), Some(Duration::from_secs(1)));
        let daily = WindowReport::new(2, Some(1000), Some(0), Some(Duration::from_secs(3000)));
        store.settle_now(
            Permit::new(scope, 1, false, 0),
            Some(&Observation::new().with_window(burst).with_window(daily)),
        );
        assert_eq!(
            store.acquire_now(scope, 1, FOREVER, 0),
            Grant::Wait(Duration::from_secs(3000))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_spreads_the_last_permits_over_the_reset() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        store.settle_now(Permit::new(scope, 1, false, 0), Some(&report(100, 4, 8)));
        let delays: Vec<Duration> = (0..4)
            .map(|_| go(store.acquire_now(scope, 1, FOREVER, 0)).1)
            .collect();
        // 4 left, 8 s to the reset: slots at 0, 2, 4, 6 s, each with jitter
        // of up to half a slot (1 s).
        for (slot, delay) in delays.iter().enumerate() {
            let start = Duration::from_secs(2 * slot as u64);
            assert!(
                *delay >= start && *delay <= start + Duration::from_secs(1),
                "{delays:?}"
            );
        }
        // Not paced when the reset is beyond what the caller may wait.
        let other = ScopeKey::new("b.example", None);
        store.settle_now(Permit::new(other, 1, false, 0), Some(&report(100, 4, 8)));
        assert_eq!(
            go(store.acquire_now(other, 1, Duration::from_secs(1), 0)).1,
            Duration::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cooldown_holds_the_scope_and_costs_count() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        store.settle_now(
            Permit::new(scope, 1, false, 0),
            Some(&Observation::new().with_cooldown(Duration::from_secs(5))),
        );
        assert_eq!(
            store.acquire_now(scope, 1, FOREVER, 0),
            Grant::Wait(Duration::from_secs(5))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        go(store.acquire_now(scope, 1, FOREVER, 0));

        let tokens = ScopeKey::new("llm.example", None);
        let requests = WindowReport::new(1, Some(100), Some(50), Some(Duration::from_secs(60)))
            .counting_cost(false);
        let token_window =
            WindowReport::new(2, Some(10_000), Some(1_000), Some(Duration::from_secs(60)));
        store.settle_now(
            Permit::new(tokens, 1, false, 0),
            Some(
                &Observation::new()
                    .with_window(requests)
                    .with_window(token_window),
            ),
        );
        go(store.acquire_now(tokens, 600, Duration::ZERO, 0));
        // 400 tokens left: a 600-token request waits, a 300-token one goes.
        assert!(matches!(
            store.acquire_now(tokens, 600, Duration::ZERO, 0),
            Grant::Wait(_)
        ));
        go(store.acquire_now(tokens, 300, Duration::ZERO, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_are_bounded() {
        let store = MemoryStore::new().max_scopes(16);
        for i in 0..1000u64 {
            store.settle_now(
                Permit::new(ScopeKey::from_u64(i), 1, false, 0),
                Some(&report(10, 5, 10)),
            );
        }
        assert!(store.len() <= 16, "{}", store.len());
    }
}
