//! [`MemoryStore`]: learned quotas in this process, lock-sharded.

use super::inferred::INFERRED;
use super::window::{as_ms, Decision, Ended, Millis, ScopeState, RECHECK};
use super::{Grant, Observation, Permit, QuotaStore, ScopeKey, StoreFuture};
use crate::fleet::{from_unix_ms, unix_ms, OpeningStore};
use crate::lock;
use crate::scope::DigestMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tower::util::rng::{HasherRng, Rng};

const SHARDS: usize = 16;
/// Default bound on scopes kept (all shards together).
const DEFAULT_MAX_SCOPES: usize = 16 * 1024;

/// A map by scope: keyed by the digest itself, with no second hash.
pub(crate) type ScopeMap<V> = DigestMap<ScopeKey, V>;

/// One shard's scopes.
type Shard = ScopeMap<ScopeState>;

/// Learned quotas kept in this process: the default store.
///
/// Sharded by scope over 16 mutexes (held for a few arithmetic steps, never
/// across an await). A scope is created by its first request, which probes
/// it: until the probe's answer, the scope's other requests hold (asking
/// again as the probe ages, every 50 ms at most, for 2 s in all; a probe
/// dropped unanswered lets another go at once), as a fleet's do on its
/// shared store. From then on, acquiring and settling update the scope in
/// place, with no allocation. A scope whose probe's answer announced
/// nothing is open: its requests go, at most 16 in flight (more as
/// answers come back or time passes), until a 429 teaches its window (see
/// the [module docs](crate::quota)).
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
    // Probes the scopes it knows nothing of, and counts answers toward an
    // inferred window (see `Tally`): not as a fleet store's local view,
    // whose ledger does both for the fleet.
    alone: bool,
    // A local view's: false until a first scope is learned, a request
    // takes no lock at all until then.
    learned: AtomicBool,
    /// The clock's origin: the window algorithm counts milliseconds from it.
    epoch: Instant,
    /// The openings a server signalled (see [`OpeningStore`]), by scope,
    /// in Unix ms; `any_opening` is false until one is published, so that
    /// a breaker's look costs one atomic load until then.
    openings: Mutex<ScopeMap<u64>>,
    any_opening: AtomicBool,
}

debug_fields!([] MemoryStore (&self) {
    scopes: self.len(),
    max_scopes: (self.shared.max_per_shard * SHARDS),
});

default_from_new!(MemoryStore);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::with_limits(DEFAULT_MAX_SCOPES, true)
    }

    /// A fleet store's local view: the ledger infers for the fleet.
    #[cfg(feature = "redis")]
    pub(crate) fn local_view() -> Self {
        MemoryStore::with_limits(DEFAULT_MAX_SCOPES, false)
    }

    fn with_limits(max_scopes: usize, alone: bool) -> Self {
        MemoryStore {
            shared: Arc::new(Shared {
                shards: std::array::from_fn(|_| Mutex::new(ScopeMap::default())),
                max_per_shard: max_scopes.div_ceil(SHARDS).max(1),
                alone,
                learned: AtomicBool::new(false),
                epoch: Instant::now(),
                openings: Mutex::default(),
                any_opening: AtomicBool::new(false),
            }),
        }
    }

    /// Bounds the scopes kept.
    ///
    /// # Panics
    /// When `max` is zero.
    pub fn max_scopes(self, max: usize) -> Self {
        assert!(max > 0, "max_scopes must be at least 1");
        MemoryStore::with_limits(max, self.shared.alone)
    }

    /// Scopes currently kept.
    pub fn len(&self) -> usize {
        let shards = self.shared.shards.iter();
        shards.map(|shard| lock(shard).len()).sum()
    }

    /// True when nothing has been learned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Milliseconds on this store's clock.
    pub(crate) fn now(&self) -> Millis {
        self.shared.epoch.elapsed().as_millis() as Millis
    }

    fn shard(&self, scope: ScopeKey) -> MutexGuard<'_, Shard> {
        lock(&self.shared.shards[(scope.as_u64() as usize) % SHARDS])
    }

    /// The decision, now, without a future.
    pub(crate) fn acquire_now(&self, scope: ScopeKey, cost: u64, max_delay: Duration) -> Grant {
        match self.decide(scope, cost, false, max_delay, 0, 0) {
            Local::Unknown(grant) | Local::Decided(grant, _) => grant,
            // No lease is ever set here; a fleet store's local view
            // handles this itself.
            Local::Renew => Grant::Wait(Duration::from_millis(RECHECK)),
        }
    }

    /// The window algorithm's decision for `scope` on this store's clock
    /// (for a request `held` for a renewal, or a fresh one), and whether a
    /// lease runs low (within `renew_within` ms of lapsing).
    pub(crate) fn decide(
        &self,
        scope: ScopeKey,
        cost: u64,
        held: bool,
        max_delay: Duration,
        tag: u8,
        renew_within: Millis,
    ) -> Local {
        let unknown = Grant::Go {
            permit: Permit::new(scope, cost, false, tag),
            delay: Duration::ZERO,
        };
        let alone = self.shared.alone;
        if !alone && !self.shared.learned.load(Ordering::Acquire) {
            return Local::Unknown(unknown);
        }
        // Unknown here and alone: made cold (see `create`), this request probes it.
        self.with_scope(scope, alone, |state| {
            let Some(state) = state else {
                return Local::Unknown(unknown);
            };
            let now = self.now();
            let jitter = || HasherRng::default().next_f64();
            let decision = match state.probe {
                Some(_) => state.acquire_cold(cost, now),
                None => state.acquire(cost, held, max_delay, now, jitter),
            };
            match decision {
                Decision::Go(delay) => {
                    let mut permit = Permit::new(scope, cost, true, tag);
                    permit.at = now + as_ms(delay);
                    let grant = Grant::Go { permit, delay };
                    Local::Decided(grant, state.lease_runs_low(now, renew_within))
                }
                Decision::Wait(wait) => Local::Decided(Grant::Wait(wait), false),
                Decision::Exceeds(limit, reset) => {
                    Local::Decided(Grant::Exceeds { limit, reset }, false)
                }
                Decision::Renew => Local::Renew,
            }
        })
    }

    /// Runs `f` on `scope`'s state (created when `create` and absent: cold,
    /// when this store probes, see [`ScopeState::probe`]). The clock is the
    /// caller's to read: most looks need none.
    pub(crate) fn with_scope<R>(
        &self,
        scope: ScopeKey,
        create: bool,
        f: impl FnOnce(Option<&mut ScopeState>) -> R,
    ) -> R {
        let mut shard = self.shard(scope);
        let state = match create {
            true => Some(self.create(&mut shard, scope)),
            false => shard.get_mut(&scope),
        };
        f(state)
    }

    /// The scope's state, made if it is not kept (room made in a full
    /// shard): one process's store makes it cold, for its next request to
    /// probe.
    fn create<'a>(&self, shard: &'a mut Shard, scope: ScopeKey) -> &'a mut ScopeState {
        if shard.len() >= self.shared.max_per_shard && !shard.contains_key(&scope) {
            self.make_room(shard);
        }
        shard.entry(scope).or_insert_with(|| {
            self.shared.learned.store(true, Ordering::Release);
            let mut state = ScopeState::default();
            state.probe = Some(0).filter(|_| self.shared.alone);
            state
        })
    }

    /// Makes room in a full shard: scopes whose windows have all reset go
    /// first, then any one.
    fn make_room(&self, shard: &mut Shard) {
        let now = self.now();
        shard.retain(|_, state| !state.is_spent(now));
        let full = shard.len() >= self.shared.max_per_shard;
        if let Some(victim) = shard.keys().next().copied().filter(|_| full) {
            shard.remove(&victim);
        }
    }

    pub(crate) fn settle_now(&self, permit: Permit, observation: Option<&Observation>) {
        let learns = observation.filter(|o| !o.is_empty());
        if !permit.is_held() && learns.is_none() {
            return;
        }
        let now = || self.now();
        self.with_scope(permit.scope(), learns.is_some(), |state| {
            let Some(state) = state else { return };
            if permit.is_held() {
                let ended = match observation {
                    Some(_) => Ended::Answered,
                    None if permit.is_sent() => Ended::Unanswered,
                    None => Ended::Unsent,
                };
                state.release(permit.cost(), ended);
            }
            if let Some(observation) = learns {
                state.learn(observation, permit.at, now());
                // (What it taught ends a cold start, or an open scope's.)
                (state.probe, state.open) = (None, false);
            }
            if self.shared.alone && observation.is_some() {
                tally(state, learns, now);
            }
        });
    }
}

/// A vendor that announces nothing: an answer `observation` (None: it
/// taught nothing) counts toward the scope's inferred window, and a 429's
/// cooldown starts or ends a count (see [`Tally`](super::inferred::Tally)).
fn tally(state: &mut ScopeState, observation: Option<&Observation>, now: impl Fn() -> Millis) {
    let cooldown = observation.and_then(Observation::cooldown);
    let announced = observation.is_some_and(|o| !o.windows().is_empty())
        || state.windows.iter().flatten().any(|w| w.policy != INFERRED);
    // (A 503's wait is an outage's: neither a window's end nor an answer.)
    let outage = cooldown.is_some() && !observation.is_some_and(Observation::is_rate_limited);
    if announced || outage || (cooldown.is_none() && !state.tally.is_counting()) {
        return;
    }
    let now = now();
    match cooldown {
        Some(cooldown) => {
            let end = now + as_ms(cooldown);
            state.tally.throttled(end, &mut state.windows);
        }
        None => state.tally.answered(now, &mut state.windows),
    }
}

/// A local decision: nothing known of the scope (an unheld go), the
/// algorithm's grant (and whether the lease runs low), or "renew the lease".
// Whether the lease runs low is read by the Redis store only.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug)]
pub(crate) enum Local {
    Unknown(Grant),
    Decided(Grant, bool),
    Renew,
}

impl QuotaStore for MemoryStore {
    fn acquire(&self, scope: ScopeKey, cost: u64, max_delay: Duration) -> StoreFuture<Grant> {
        StoreFuture::ready(self.acquire_now(scope, cost, max_delay))
    }

    fn settle(&self, permit: Permit, observation: &Observation) -> StoreFuture<()> {
        self.settle_now(permit, Some(observation));
        StoreFuture::ready(())
    }

    fn release(&self, permit: Permit) {
        self.settle_now(permit, None);
    }

    fn cooling_down(&self, scope: ScopeKey) -> bool {
        let now = self.now();
        self.with_scope(scope, false, |state| {
            state.and_then(|state| state.cooldown_until) > Some(now)
        })
    }
}

/// Shares openings among the breakers of one process (and of tests that
/// stand for a fleet): bounded like the scopes ([`max_scopes`](MemoryStore::max_scopes)).
/// A new opening is always kept, the server's word: when the map is full,
/// past openings go first, then those that end soonest.
impl OpeningStore for MemoryStore {
    fn publish(&self, scope: ScopeKey, until: SystemTime) {
        let until = unix_ms(until);
        let bound = self.shared.max_per_shard * SHARDS;
        let mut openings = lock(&self.shared.openings);
        if openings.len() >= bound && !openings.contains_key(&scope) {
            make_room(&mut openings, bound, unix_ms(SystemTime::now()));
        }
        let at = openings.entry(scope).or_default();
        *at = (*at).max(until);
        self.shared.any_opening.store(true, Ordering::Release);
    }

    fn opening(&self, scope: ScopeKey) -> Option<SystemTime> {
        let any = self.shared.any_opening.load(Ordering::Acquire);
        let openings = any.then(|| lock(&self.shared.openings))?;
        openings.get(&scope).map(|at| from_unix_ms(*at))
    }
}

/// Room in a full map of openings (`bound` of them): the past ones go,
/// and while that leaves more than seven eighths of `bound`, those that
/// end soonest, down to seven eighths. A map full of live openings is so
/// swept once in `bound / 8` new ones, not at each (under the lock every
/// shared breaker's look takes).
fn make_room(openings: &mut ScopeMap<u64>, bound: usize, now: u64) {
    openings.retain(|_, at| *at > now);
    let keep = bound - (bound / 8).max(1);
    let Some(mut excess) = openings.len().checked_sub(keep).filter(|n| *n > 0) else {
        return;
    };
    let mut ends: Vec<u64> = openings.values().copied().collect();
    let (_, &mut cut, _) = ends.select_nth_unstable(excess - 1);
    openings.retain(|_, at| {
        let drop = excess > 0 && *at <= cut;
        excess -= usize::from(drop);
        !drop
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::WindowReport;

    /// Openings are bounded by `max_scopes` (they kept 16 384 whatever it
    /// said); a full map of live openings keeps the new one (it was
    /// refused: the fleet never heard the server) and drops those that end
    /// soonest, an eighth at a time (it swept the whole map at each new
    /// one, under the lock every shared breaker's look takes).
    #[test]
    fn openings_are_bounded_and_a_new_one_is_always_kept() {
        let store = MemoryStore::new().max_scopes(16);
        let scope = |i: u64| ScopeKey::new(&format!("h{i}.example"), None);
        let start = SystemTime::now() + Duration::from_secs(60);
        let ends = |i: u64| start + Duration::from_secs(i);
        for i in 0..16 {
            store.publish(scope(i), ends(i));
        }
        store.publish(scope(100), ends(1_000));
        let kept = |i| store.opening(scope(i)).is_some();
        assert!(kept(100), "the newest, the server's word, is kept");
        assert!(!kept(0) && !kept(1), "the two that end soonest go");
        assert!((2..16).all(kept));
        // An eighth made room: the next one sweeps nothing.
        store.publish(scope(101), ends(1));
        assert!(kept(101) && (2..16).all(kept));
        for i in 200..1_200 {
            store.publish(scope(i), ends(i));
        }
        assert!(lock(&store.shared.openings).len() <= 16);
        assert!(kept(1_199));
    }

    #[test]
    fn openings_keep_the_latest_per_scope() {
        let store = MemoryStore::new();
        let (a, b) = (
            ScopeKey::new("a.example", None),
            ScopeKey::new("b.example", None),
        );
        assert_eq!(store.opening(a), None);
        let soon = SystemTime::now() + Duration::from_secs(3);
        store.publish(a, soon + Duration::from_secs(1));
        store.publish(a, soon);
        assert_eq!(
            store.clone().opening(a).map(unix_ms),
            Some(unix_ms(soon) + 1000)
        );
        assert_eq!(store.opening(b), None, "scopes are apart");
    }

    fn report(limit: u64, remaining: u64, reset: u64) -> Observation {
        Observation::new().with_window(WindowReport::new(
            None,
            Some(limit),
            Some(remaining),
            Some(Duration::from_secs(reset)),
            None,
        ))
    }

    fn go(grant: Grant) -> (Permit, Duration) {
        match grant {
            Grant::Go { permit, delay } => (permit, delay),
            other => panic!("expected Go, got {other:?}"),
        }
    }

    const FOREVER: Duration = Duration::from_secs(3600);

    /// A scope nothing is known of: its first request probes it (a held
    /// permit), the others hold until its answer. An answer that teaches
    /// nothing opens the scope: its requests go at once, at most 16 in
    /// flight (so that a vendor's unknown limit meets few of them), more
    /// as answers come back or time passes, until a 429 teaches.
    #[tokio::test(start_paused = true)]
    async fn nothing_learned_is_one_probe_then_an_open_scope() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        one_probe_then_open(&store, scope);
        let permits: Vec<_> = (0..16)
            .map(|_| go(store.acquire_now(scope, 1, FOREVER)).0)
            .collect();
        let recheck = Grant::Wait(Duration::from_millis(50));
        assert_eq!(store.acquire_now(scope, 1, FOREVER), recheck);
        // (One per 100 ms once that is more: 17 at 1.7 s.)
        tokio::time::advance(Duration::from_millis(1_700)).await;
        let (one_more, _) = go(store.acquire_now(scope, 1, FOREVER));
        assert_eq!(store.acquire_now(scope, 1, FOREVER), recheck);
        for permit in permits.into_iter().chain([one_more]) {
            store.settle_now(permit, Some(&Observation::new()));
        }
        // A 429 teaches the open scope its cooldown: held.
        let (permit, _) = go(store.acquire_now(scope, 1, FOREVER));
        let throttled = Observation::new().with_cooldown(Duration::from_secs(5));
        store.settle_now(permit, Some(&throttled.rate_limited()));
        let held = store.acquire_now(scope, 1, FOREVER);
        assert_eq!(held, Grant::Wait(Duration::from_secs(5)));
    }

    fn one_probe_then_open(store: &MemoryStore, scope: ScopeKey) {
        let (probe, delay) = go(store.acquire_now(scope, 1, FOREVER));
        assert!(probe.is_held());
        assert_eq!(delay, Duration::ZERO);
        // (Asks again after as long as the probe has been out: 1 ms at least.)
        let held = store.acquire_now(scope, 1, FOREVER);
        assert!(matches!(held, Grant::Wait(wait) if wait <= Duration::from_millis(50)));
        store.settle_now(probe, Some(&Observation::new()));
        for _ in 0..3 {
            let (permit, delay) = go(store.acquire_now(scope, 1, FOREVER));
            assert!(permit.is_held(), "counted in flight");
            assert_eq!(delay, Duration::ZERO);
            store.settle_now(permit, Some(&Observation::new()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn counts_in_flight_against_the_reported_remaining() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        let (first, _) = go(store.acquire_now(scope, 1, FOREVER));
        store.settle_now(first, Some(&report(100, 3, 10)));
        let permits: Vec<_> = (0..3)
            .map(|_| go(store.acquire_now(scope, 1, FOREVER)).0)
            .collect();
        assert!(permits.iter().all(Permit::is_held));
        assert_eq!(
            store.acquire_now(scope, 1, FOREVER),
            Grant::Wait(Duration::from_secs(10))
        );
        // The server answers "2 left" for the first: the two still in flight
        // may not be counted yet, so nothing is free.
        store.settle_now(permits[0], Some(&report(100, 2, 10)));
        assert!(matches!(
            store.acquire_now(scope, 1, FOREVER),
            Grant::Wait(_)
        ));
        // An older answer arriving late ("3 left") does not raise the count,
        // but its request is now known counted: one is free.
        store.settle_now(permits[1], Some(&report(100, 3, 10)));
        go(store.acquire_now(scope, 1, FOREVER));
        assert!(matches!(
            store.acquire_now(scope, 1, FOREVER),
            Grant::Wait(_)
        ));
        // At the reset the window refills from its limit.
        tokio::time::advance(Duration::from_secs(10)).await;
        go(store.acquire_now(scope, 1, FOREVER));
    }

    #[tokio::test(start_paused = true)]
    async fn the_tightest_of_several_policies_binds() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        let second = |secs| Some(Duration::from_secs(secs));
        let burst = WindowReport::new(Some("burst"), Some(10), Some(5), second(1), None);
        let daily = WindowReport::new(Some("daily"), Some(1000), Some(0), second(3000), None);
        store.settle_now(
            Permit::new(scope, 1, false, 0),
            Some(&Observation::new().with_window(burst).with_window(daily)),
        );
        assert_eq!(
            store.acquire_now(scope, 1, FOREVER),
            Grant::Wait(Duration::from_secs(3000))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_spreads_the_last_permits_over_the_reset() {
        let store = MemoryStore::new();
        let scope = ScopeKey::new("a.example", None);
        store.settle_now(Permit::new(scope, 1, false, 0), Some(&report(100, 4, 8)));
        let delays: Vec<Duration> = (0..4)
            .map(|_| go(store.acquire_now(scope, 1, FOREVER)).1)
            .collect();
        // 4 left, 8 s to the reset, paced to end 0.8 s before it: slots at
        // 0, 1.8, 3.6 and 5.4 s, each with jitter of up to half a slot.
        for (slot, delay) in delays.iter().enumerate() {
            let start = Duration::from_millis(1_800 * slot as u64);
            assert!(
                *delay >= start && *delay <= start + Duration::from_millis(900),
                "{delays:?}"
            );
        }
        // Not paced when the reset is beyond what the caller may wait.
        let other = ScopeKey::new("b.example", None);
        store.settle_now(Permit::new(other, 1, false, 0), Some(&report(100, 4, 8)));
        assert_eq!(
            go(store.acquire_now(other, 1, Duration::from_secs(1))).1,
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
            store.acquire_now(scope, 1, FOREVER),
            Grant::Wait(Duration::from_secs(5))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        go(store.acquire_now(scope, 1, FOREVER));

        let tokens = ScopeKey::new("llm.example", None);
        let minute = Some(Duration::from_secs(60));
        let requests = WindowReport::new(Some("requests"), Some(100), Some(50), minute, None);
        let token_window =
            WindowReport::new(Some("tokens"), Some(10_000), Some(1_000), minute, None);
        store.settle_now(
            Permit::new(tokens, 1, false, 0),
            Some(
                &Observation::new()
                    .with_window(requests)
                    .with_window(token_window),
            ),
        );
        go(store.acquire_now(tokens, 600, Duration::ZERO));
        // 400 tokens left: a 600-token request waits, a 300-token one goes.
        assert!(matches!(
            store.acquire_now(tokens, 600, Duration::ZERO),
            Grant::Wait(_)
        ));
        go(store.acquire_now(tokens, 300, Duration::ZERO));
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
