//! [`RedisStore`] (feature `redis`): a fleet admits from local leases of
//! one shared ledger.

use super::inferred::INFERRED;
use super::ledger::{Answer, Ask, Granted, Ledger, FIRST_WANT, LEASE_TTL};
use super::memory::{Local, ScopeMap};
use super::window::{Ended, Lease, Millis, ScopeState, PROBE_TTL};
use super::{Grant, MemoryStore, Observation, Permit, QuotaStore, ScopeKey, StoreFuture};
use crate::fleet::{from_unix_ms, unix_ms, OpeningStore};
use crate::observe;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, RedisError, Script, ScriptInvocation};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tower-api-errors:quota:";
/// The default bound on one Redis round trip: 50 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// A lease is renewed when this little of its time is left (or a quarter
/// of its units).
const RENEW_AHEAD: Millis = LEASE_TTL * 2 / 5;
/// A process that knows nothing of a scope asks the ledger at most this
/// often whether the fleet does.
const JOIN_EVERY: Millis = 1_000;
/// Backoff between attempts to reach a failing Redis: doubling from the
/// first to the last, jittered.
const BACKOFF_FIRST: Millis = 250;
const BACKOFF_MAX: Millis = 2_000;
/// A request whose lease could not be renewed asks again after this.
const RECHECK: Duration = Duration::from_millis(50);
/// A renewal runs off the request's path: it may take this long at least,
/// whatever the (per-call) timeout, before the store falls back.
const RENEWAL_BOUND: Duration = Duration::from_millis(250);
/// The client library's own bound on a connection or a reply.
const CONNECTION_BOUND: Duration = Duration::from_secs(1);
/// The spread of the ends of holds, per other member, and its bound.
const HOLD_SPREAD: Millis = 5;
const HOLD_SPREAD_MAX: Millis = 50;
/// Compare-and-set attempts of one renewal while other members write.
const CAS_ATTEMPTS: usize = 8;
/// Scopes whose renewal state is kept (a bound, like `MemoryStore`'s).
const MAX_SCOPES: usize = 16 * 1024;
/// Compare-and-set of one scope's ledger, and nothing else: every rule is
/// in Rust (`quota/store/ledger.rs`). KEYS[1] the ledger (a hash); ARGV[1]
/// the version the caller read (`''`: none); ARGV[2] a TTL in ms; ARGV[3..]
/// field, value pairs. Writes them (replacing the hash) only if the version
/// is unchanged; answers `{written, seconds, microseconds, fields...}`
/// (Redis's clock, and the current fields when not written). Its first
/// write is the `HSET`, which a Redis out of memory refuses: a script that
/// wrote once (a `DEL` first) has its later writes let through.
const CAS: &str = r#"
local t = redis.call('TIME')
local v = redis.call('HGET', KEYS[1], 'v') or ''
if v == ARGV[1] and #ARGV > 2 then
  local old = redis.call('HKEYS', KEYS[1])
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  local new, stale = {}, {}
  for i = 3, #ARGV, 2 do new[ARGV[i]] = true end
  for _, f in ipairs(old) do if not new[f] then stale[#stale + 1] = f end end
  if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'1', t[1], t[2]}
end
local r = {'0', t[1], t[2]}
for _, f in ipairs(redis.call('HGETALL', KEYS[1])) do r[#r + 1] = f end
return r
"#;
static CAS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CAS));

/// A breaker's opening of a scope (Unix ms), kept when later than the one
/// Redis holds: KEYS[1] the opening; ARGV[1] the time (`0`: only read it),
/// ARGV[2] its TTL in ms. Answers `{the one kept}`.
const OPENING: &str = r#"
local v = redis.call('GET', KEYS[1]) or '0'
if tonumber(ARGV[1]) > (tonumber(v) or 0) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  v = ARGV[1]
end
return {v}
"#;
static OPENING_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(OPENING));
/// A process reads the fleet's opening of a scope at most this often, and
/// after a failed read waits [`BACKOFF_MAX`] before the next of any scope.
const OPENING_EVERY: Millis = 250;

/// Learned quotas shared by every process that points at one Redis
/// (feature `redis`): each process admits from a **local lease**, a slice
/// of the shared window, and Redis keeps the ledger.
///
/// - **No round trip per request.** A request is admitted (or held) by the
///   same window algorithm as [`MemoryStore`]'s, on this process's view,
///   within its lease, unpaced (the lease's units are this process's):
///   no Redis call, no allocation, no await while the lease has units.
///   Responses are learned locally.
/// - **Leases, renewed off the request's path.** When a lease runs low (a
///   quarter of its units, or 40 % of its 5 s left) a background task
///   renews it: it keeps what its recent demand needs of what is left
///   (its requests draw on that while the renewal is on its way), hands
///   back the rest, reports what this process learned, and receives its
///   next slice, sized by that demand and the scope's active members (fair
///   shares, see the ledger rules below).
///   A request finds a spent lease only when demand outruns the renewals;
///   it then waits for the one renewal in flight (the layer's `max_wait`
///   at most). A request that costs more than a fair share, within the
///   window's limit, is told with it: its process's share is that cost,
///   out of the shares of the members after it, until it is leased, so it
///   is placed in a window with room (the next, once their leases roll).
/// - **The ledger** (one Redis hash per scope, key `prefix` + `{digest}`:
///   one hash slot, so Redis Cluster works): the fleet's windows and
///   cooldown, units leased in the current window, the members (last
///   renewal, units leased), the cold-start probe. It is updated by a
///   version compare-and-set script that holds no rule: every rule is the
///   crate's Rust, run on Redis's clock (`TIME`). Unused units come back
///   at the window's end, at a renewal (beyond the member's demand), and
///   when a member stops renewing (two lease intervals, 10 s, or one past
///   the end of the hold it was given: a member held to a window's end
///   need not renew to stay one).
///   A lease that is all a member can get in its window is renewed once
///   spent, not ahead; members held to one instant come back spread over a
///   few milliseconds, so that their renewals do not collide.
/// - **Cold start.** Until the fleet knows a scope's limit, one process
///   holds a 2 s probe and sends one request; the others hold theirs until
///   its answer teaches the window (bounded by `max_wait`). A process
///   that has not heard from the ledger admits nothing while Redis
///   answers (its first call reads Redis's clock: nothing is written on
///   its own). The first window a cold fleet learns is held 300 ms while
///   the fleet joins (held processes ask again every 50 ms), then leased
///   whole, in fair shares; so is a window the fleet comes back to once
///   every member went quiet (two lease intervals). A probe that teaches
///   nothing (a vendor that announces no quota) opens the scope: after
///   the same join, each process may have its fair share of 16 requests in flight until a 429
///   teaches a limit (more as answers come back without one, or as time
///   passes); an
///   answer gives its unit back, with no Redis call.
/// - **When Redis fails** (down, slower than [`timeout`](Self::timeout),
///   or answering what the script does not), each process falls back to
///   a cautious share: the last known limit divided by the last known
///   members, once per window, the remainder's units a unit each to the
///   first members of the ledger (the shares add up to the limit at most;
///   with fewer units than members, they take turns); in a window the
///   ledger had leased, no more than what it was leased there and its
///   share of what the ledger had not leased. It says so once through `tracing`
///   (`quota_store_local`, WARN), tries Redis again with one attempt at a
///   time across all scopes, backing off (250 ms doubling to 2 s, shared
///   by every scope and clone), and says `quota_store_shared` when it
///   answers. No request is lost, held beyond `max_wait`, or sent twice.
///   Units a failed renewal was handing back (beyond the process's
///   demand) are its own again only when Redis surely did not get them:
///   it answered that the ledger was not written, or (a standalone Redis)
///   refused the connection. A renewal sent but not answered within its
///   bound, or whose connection dropped, may still be applied by Redis
///   later, and the ledger then leases those units to other processes:
///   they are lost to this process for the window (the fleet uses less of
///   it, never more).
///
/// # Clone
/// Cheap; clones share the connection, the leases and the local view.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    // This store's name among the fleet's members (random, not derived
    // from anything secret); clones share it.
    member: u64,
    prefix: Arc<str>,
    timeout: Duration,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    local: MemoryStore,
    scopes: Mutex<ScopeMap<Arc<Sync>>>,
    local_mode: AtomicBool,
    local_decisions: AtomicU64,
    commands: AtomicU64,
    /// While local: when Redis may next be tried (local ms), the current
    /// backoff, and whether an attempt is in flight (one at a time).
    retry_at: AtomicU64,
    backoff: AtomicU64,
    probing: AtomicBool,
    /// Redis's clock minus this process's (ms), from the last answer, and
    /// whether one came yet.
    offset: AtomicI64,
    clock_known: AtomicBool,
    /// Breaker openings: when Redis may next be read for them (local ms)
    /// after a failure.
    openings_after: AtomicU64,
}

/// One scope's renewals in this process: one at a time, waited on by the
/// requests that need it.
#[derive(Default)]
struct Sync {
    running: AtomicBool,
    /// A first lesson came since the running renewal began: it may have
    /// read the local view before, so one more renewal follows it.
    lesson: AtomicBool,
    done: watch::Sender<u64>,
    ledger: Mutex<Option<Ledger>>,
    /// When this process last asked the ledger about the scope (local ms + 1).
    asked: AtomicU64,
    /// When the lease was last renewed (local ms), for the demand estimate.
    renewed: AtomicU64,
    /// The last known members, this process's place among them (`u32::MAX`:
    /// not known), the windows it fell back in, and the window end a
    /// fallback share was already given for.
    members: AtomicU32,
    index: AtomicU32,
    turns: AtomicU64,
    fallback_for: AtomicU64,
    /// Units the ledger leased this process in its current lease window
    /// (known by the window's start on the ledger's clock), and when that
    /// window ends (local ms): until then, a fallback share is what is
    /// left of the fair share after them.
    lease_window: AtomicU64,
    leased_until: AtomicU64,
    leased: AtomicU64,
    /// This process's probe was answered and taught nothing, or dropped
    /// unanswered.
    opened: AtomicBool,
    dropped: AtomicBool,
    /// Answers (none throttled) since the last renewal, in a scope that
    /// announces no quota: what the ledger infers a limit from.
    answered: AtomicU64,
    /// When this process last read the fleet's opening (local ms + 1).
    opening_read: AtomicU64,
    /// What the last renewal asked for (a held member's demand stands).
    wanted: AtomicU64,
    /// The ledger's last 429 episode as of the last renewal (see `Ask`),
    /// when its wait ends (local ms), and answers counted during it.
    epoch: AtomicU64,
    wait_until: AtomicU64,
    late: AtomicU64,
    /// Requests waiting for a renewal now: demand the next one asks for;
    /// the cost of the costliest since the last renewal asked.
    waiting: AtomicU64,
    costly: AtomicU64,
    /// Units the renewal on its way takes out of the local lease, to hand
    /// back to the ledger: the lease's again only if the ledger surely did
    /// not hear of them (see `cas`); or a cautious share's to drop, which
    /// no ledger is told of: the lease's again should the renewal fail.
    handing_back: AtomicU64,
    dropping: AtomicU64,
}

/// Counts a request waiting for a renewal while it lives, until it has
/// decided once the renewal ended: in the demand the next renewal asks
/// for, and in the local view's [`waiters`](ScopeState::waiters).
struct Waiting {
    sync: Arc<Sync>,
    scope: ScopeKey,
    /// The local view whose waiters count it; none when the scope had no
    /// state there yet (then it gives back no other waiter's claim).
    counted_in: Option<MemoryStore>,
}

impl Waiting {
    fn new(store: &RedisStore, scope: ScopeKey, cost: u64) -> Self {
        let sync = store.sync(scope);
        sync.waiting.fetch_add(1, Ordering::Relaxed);
        sync.costly.fetch_max(cost, Ordering::Relaxed);
        let local = &store.shared.local;
        let counted = local.with_scope(scope, false, |state| state.map(|s| s.waiters += 1));
        Waiting {
            sync,
            scope,
            counted_in: counted.map(|()| local.clone()),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.sync.waiting.fetch_sub(1, Ordering::Relaxed);
        let waited = |s: &mut ScopeState| s.waiters = s.waiters.saturating_sub(1);
        if let Some(local) = &self.counted_in {
            local.with_scope(self.scope, false, |state| state.map(waited));
        }
    }
}

/// A standalone Redis (reconnecting in the background), or a Redis
/// Cluster, connected on first use.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(Arc<ClusterLazy>),
}

struct ClusterLazy {
    client: ClusterClient,
    connection: tokio::sync::OnceCell<ClusterConnection>,
}

debug_fields!([] RedisStore (&self) {
    prefix: self.prefix,
    timeout: self.timeout,
    local: self.shared.local_mode.load(Ordering::Relaxed),
    ..
});

impl RedisStore {
    /// A store on the Redis at `url` (`redis://127.0.0.1:6379/`). Connects
    /// lazily (and reconnects) in the background: a Redis that is down at
    /// start-up is a fallback to local state, not an error.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    ///
    /// # Panics
    /// When called outside a Tokio runtime.
    pub fn open(url: &str) -> Result<Self, RedisError> {
        let client = Client::open(url)?;
        // The store bounds each renewal itself (see `timeout`).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_BOUND))
            .set_response_timeout(Some(CONNECTION_BOUND))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore::with_connection(Connection::Single(connection)))
    }

    /// A store on a Redis Cluster, from the URLs of some of its nodes
    /// (`redis://127.0.0.1:7000/`). Connects on first use (and tries again
    /// after a failure): a cluster that is down at start-up is a fallback
    /// to local shares, not an error. Each scope's ledger is one key, in
    /// one slot.
    ///
    /// # Errors
    /// When a URL is not a Redis URL.
    pub fn open_cluster(urls: &[&str]) -> Result<Self, RedisError> {
        let client = ClusterClient::builder(urls.iter().copied())
            .connection_timeout(CONNECTION_BOUND)
            .response_timeout(CONNECTION_BOUND)
            .retries(1)
            .build()?;
        let lazy = ClusterLazy {
            client,
            connection: tokio::sync::OnceCell::new(),
        };
        let connection = Connection::Cluster(Arc::new(lazy));
        Ok(RedisStore::with_connection(connection))
    }

    fn with_connection(connection: Connection) -> Self {
        RedisStore {
            connection,
            member: member_name(),
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_TIMEOUT,
            shared: Arc::new(Shared {
                local: MemoryStore::local_view(),
                backoff: AtomicU64::new(BACKOFF_FIRST),
                ..Shared::default()
            }),
        }
    }

    config_setters! {
        self;

        /// The key prefix (default `tower-api-errors:quota:`): one per API and
        /// environment sharing a Redis. Keep braces out of it: Redis Cluster
        /// hashes a key by its first `{...}`, which is meant to be the scope's
        /// digest ([`key`](Self::key)); one in the prefix would put every
        /// scope's keys in one slot, on one node.
        pub fn prefix(prefix: &str) |s| s.prefix = Arc::from(prefix);

        /// How long a request whose lease is spent waits for its renewal
        /// (four of these, default 50 ms) before it asks again; a renewal
        /// (off the request's path) may take three of these, and at least
        /// 250 ms, before the store falls back to its cautious local share.
        ///
        /// # Panics
        /// When `timeout` is zero.
        pub fn timeout(timeout: Duration) |s| {
            assert!(!timeout.is_zero(), "timeout must be longer than zero");
            s.timeout = timeout;
        };
    }

    field_getters! {
        /// True while decisions fall back on local shares because Redis failed.
        pub fn is_local -> bool { shared.local_mode.load(Ordering::Relaxed) }

        /// How many acquisitions were decided while Redis was failing (on the
        /// cautious local share).
        pub fn local_decisions -> u64 { shared.local_decisions.load(Ordering::Relaxed) }

        /// How many calls this store (and its clones) sent to Redis: each
        /// script call counts once.
        pub fn commands -> u64 { shared.commands.load(Ordering::Relaxed) }

        /// Milliseconds on the local view's clock.
        fn local_now -> Millis { shared.local.now() }
    }

    /// Releases `permit`, whose answer taught nothing, and reads in the same
    /// look whether its scope's local view holds a spent probe and no
    /// window, whether the scope announces no window of its own, and when a
    /// 429's wait ends (0: none); `None` when this process knows nothing of it.
    fn released(&self, permit: Permit) -> Option<(bool, bool, Millis)> {
        let local = &self.shared.local;
        local.with_scope(permit.scope(), false, |state| {
            let state = state?;
            state.release(permit.cost(), Ended::Answered);
            let unannounced = state.windows.iter().flatten().all(|w| w.policy == INFERRED);
            let probe = state.lease().is_some_and(|lease| lease.probe) && state.binding().is_none();
            Some((probe, unannounced, state.cooldown_until.unwrap_or(0)))
        })
    }

    /// The Redis key of `scope`'s ledger: the prefix and the scope's digest
    /// as a hash tag (`{...}`), so that every key of a scope is in one
    /// Redis Cluster slot.
    pub fn key(&self, scope: ScopeKey) -> String {
        format!("{}{{{scope}}}", self.prefix)
    }

    fn sync(&self, scope: ScopeKey) -> Arc<Sync> {
        let mut scopes = crate::lock(&self.shared.scopes);
        if scopes.len() >= MAX_SCOPES && !scopes.contains_key(&scope) {
            scopes.retain(|_, sync| sync.running.load(Ordering::Relaxed));
        }
        let sync = scopes.entry(scope).or_insert_with(|| {
            Arc::new(Sync {
                members: AtomicU32::new(1),
                index: AtomicU32::new(u32::MAX),
                fallback_for: AtomicU64::new(u64::MAX),
                lease_window: AtomicU64::new(u64::MAX),
                wanted: AtomicU64::new(FIRST_WANT),
                ..Sync::default()
            })
        });
        sync.clone()
    }

    /// Whether a request to a scope this process knows nothing of goes
    /// at once (true), or waits for the ledger. While Redis answers, never:
    /// a process that has not heard from the ledger admits nothing (the
    /// fleet may be holding for a cold-start probe). While it fails, the
    /// ledger is asked at most once per [`JOIN_EVERY`] and the rest go.
    fn cold_go(&self, scope: ScopeKey) -> bool {
        if !self.is_local() {
            return false;
        }
        let now = self.local_now() + 1;
        let sync = self.sync(scope);
        !sync.running.load(Ordering::Acquire) && !take_turn(&sync.asked, now, JOIN_EVERY)
    }

    /// The local view's decision, unpaced: what a lease holds is this
    /// process's to send (the ledger keeps the fleet within the window).
    /// Paced on the vendor's remaining, a lease's last units were spread
    /// over the rest of the window whenever the other members' requests
    /// had taken the window first: held seconds, up to 60 requests a window.
    /// A decision that takes the lease low starts its renewal ahead, held
    /// request or not (the local view says so once, until it ends).
    fn decide(&self, scope: ScopeKey, cost: u64, held: bool) -> Local {
        let local = (self.shared.local).decide(scope, cost, held, Duration::ZERO, 1, RENEW_AHEAD);
        if self.is_local() && matches!(local, Local::Decided(..)) {
            self.shared.local_decisions.fetch_add(1, Ordering::Relaxed);
        }
        if matches!(local, Local::Decided(_, true)) {
            self.spawn_renewal(scope);
        }
        local
    }

    /// The decision once a renewal has answered (or failed). A scope still
    /// unknown goes only while Redis fails (the ledger did not answer yet:
    /// ask again shortly).
    fn decide_again(&self, scope: ScopeKey, cost: u64) -> Grant {
        match self.decide(scope, cost, true) {
            Local::Decided(grant, _) => grant,
            Local::Unknown(grant) if self.is_local() => grant,
            Local::Unknown(_) | Local::Renew => Grant::Wait(RECHECK),
        }
    }

    /// Starts `scope`'s renewal in the background unless one is running.
    fn spawn_renewal(&self, scope: ScopeKey) {
        let sync = self.sync(scope);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.renewal_ended(scope);
            return;
        };
        if sync.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let store = self.clone();
        runtime.spawn(async move {
            loop {
                // (A lesson `settle` marks once this renewal began may
                // have come after it read the local view: one more tells
                // it. Checked once `running` is down: a lesson marked
                // later starts a renewal of its own.)
                sync.lesson.store(false, Ordering::SeqCst);
                store.renew(scope, &sync).await;
                sync.running.store(false, Ordering::SeqCst);
                let again = sync.lesson.load(Ordering::SeqCst);
                if !again || sync.running.swap(true, Ordering::SeqCst) {
                    break;
                }
            }
            // (After `running` is down: a request that finds the lease
            // still low then starts the next renewal.)
            store.renewal_ended(scope);
            sync.done.send_modify(|generation| *generation += 1);
        });
    }

    fn renewal_ended(&self, scope: ScopeKey) {
        let local = &self.shared.local;
        local.with_scope(scope, false, |state| state.map(ScopeState::renewal_ended));
    }

    /// Renews `scope`'s lease and waits for it (bounded). The renewal
    /// starts now, before the returned future is first polled: a request
    /// that must wait for the ledger is counted as asking at once.
    fn renew_and_wait(&self, scope: ScopeKey) -> impl Future<Output = ()> + Send + 'static {
        let sync = self.sync(scope);
        let mut done = sync.done.subscribe();
        done.mark_unchanged();
        self.spawn_renewal(scope);
        let running = sync.running.load(Ordering::Acquire);
        let bound = self.timeout * 4 + Duration::from_millis(50);
        async move {
            if running {
                let _ = tokio::time::timeout(bound, done.changed()).await;
            }
        }
    }

    /// One renewal: from Redis, or the cautious local share while it fails.
    async fn renew(&self, scope: ScopeKey, sync: &Sync) {
        if !self.may_call() {
            self.fallback(scope, sync);
            return;
        }
        // A process that knows nothing of the scope holds its requests for
        // the ledger's answer: its first call may also open the connection.
        let floor = (self.shared.local).with_scope(scope, false, |state| {
            state.map_or(CONNECTION_BOUND, |_| RENEWAL_BOUND)
        });
        let bound = (self.timeout * 3).max(floor);
        let outcome = tokio::time::timeout(bound, self.renew_shared(scope, sync)).await;
        self.shared.probing.store(false, Ordering::Release);
        // (Taken out for a ledger that surely did not hear of them, or a
        // cautious share's dropped for a renewal that failed: still ours.
        // Else there is nothing to give back, and no lock to take.)
        let unheard = sync.handing_back.swap(0, Ordering::Relaxed);
        let unheard = unheard + sync.dropping.swap(0, Ordering::Relaxed);
        if unheard > 0 {
            (self.shared.local).with_scope(scope, false, |state| {
                if let Some(lease) = state.and_then(|state| state.lease_mut().as_mut()) {
                    lease.left += unheard;
                }
            });
        }
        match outcome {
            Ok(Ok(_)) => self.answered(),
            Ok(Err(error)) => self.failed(&error, scope, sync),
            Err(_) => self.failed(&format!("no answer within {bound:?}"), scope, sync),
        }
    }

    /// Whether Redis may be called now: always while it answers; while it
    /// fails, one attempt at a time, after the shared backoff.
    fn may_call(&self) -> bool {
        let due = || self.local_now() >= self.shared.retry_at.load(Ordering::Relaxed);
        !self.is_local() || (due() && !self.shared.probing.swap(true, Ordering::AcqRel))
    }

    fn failed(&self, error: &dyn fmt::Display, scope: ScopeKey, sync: &Sync) {
        let backoff = match self.shared.local_mode.swap(true, Ordering::Relaxed) {
            false => {
                observe::store_local(error);
                BACKOFF_FIRST
            }
            true => self.shared.backoff.load(Ordering::Relaxed),
        };
        let next = (backoff * 2).min(BACKOFF_MAX);
        self.shared.backoff.store(next, Ordering::Relaxed);
        let jitter = tower::util::rng::Rng::next_f64(&mut tower::util::rng::HasherRng::default());
        let retry_at = self.local_now() + backoff / 2 + (backoff as f64 * 0.5 * jitter) as Millis;
        self.shared.retry_at.store(retry_at, Ordering::Relaxed);
        self.fallback(scope, sync);
    }

    fn answered(&self) {
        self.shared.backoff.store(BACKOFF_FIRST, Ordering::Relaxed);
        if self.shared.local_mode.swap(false, Ordering::Relaxed) {
            observe::store_shared();
        }
    }

    /// The cautious share while Redis fails: the binding window's limit
    /// divided by the last known members, once per window (see
    /// [`cautious_share`]); the lease lasts until the next attempt on Redis
    /// (or the window's end). In a window the ledger leased, no more than
    /// what this process was leased and its share of what the ledger had
    /// not leased when last read: units sent outside the leases (a cold
    /// start's probe) are in no member's share of the limit.
    fn fallback(&self, scope: ScopeKey, sync: &Sync) {
        let read = |l: &Ledger| (l.members.len(), l.budget.saturating_sub(l.granted));
        let ledger = sync.ledger.lock().ok().and_then(|l| l.as_ref().map(read));
        let (cached, unleased) = (ledger.map_or(0, |l| l.0), ledger.map(|l| l.1));
        let known = u64::from(sync.members.load(Ordering::Relaxed));
        let members = known.max(cached as u64).max(1);
        // (Its place in the ledger, else its name: the remainder's units.)
        let place = match sync.index.load(Ordering::Relaxed) {
            u32::MAX => self.member,
            index => u64::from(index),
        };
        let retry_at = self.shared.retry_at.load(Ordering::Relaxed);
        let now = self.local_now();
        self.shared.local.with_scope(scope, false, |state| {
            let Some(state) = state else { return };
            let Some(binding) = state.binding() else {
                // An open scope keeps its share of the requests in flight.
                if let Some(lease) = state.lease_mut().as_mut().filter(|lease| lease.open) {
                    lease.until = retry_at.max(now + 1);
                }
                return;
            };
            // The window's end is its key (0 while a refilled window's
            // next reset is unknown).
            let key = binding.reset_at.unwrap_or(0);
            let end = binding.reset_at.unwrap_or(now + LEASE_TTL);
            let until = end.min(retry_at.max(now + 1));
            // (A window whose reset was unknown, key 0, is the same window
            // once an answer tells its reset.)
            let before = sync.fallback_for.swap(key, Ordering::Relaxed);
            let fresh = before != key && before != 0;
            // (Until the end of the lease window they were leased in, or
            // of the member's own view of it if later: the two differ by
            // answers' rounding, and another member may since have moved
            // the ledger's end on. Keyed by its view alone, a member leased
            // the next window while its view was of the one before took a
            // fallback share on top: 6-8 429s across a frozen Redis.)
            let this_window = now < sync.leased_until.load(Ordering::Relaxed).max(key);
            let leased = sync.leased.load(Ordering::Relaxed);
            let leased = if this_window { leased } else { 0 };
            let lease = state.lease_mut().get_or_insert(Lease {
                until,
                counts_cost: binding.counts_cost,
                ..Lease::default()
            });
            if fresh {
                let limit = binding.limit.unwrap_or(binding.remaining);
                let turn = sync.turns.fetch_add(1, Ordering::Relaxed);
                let mut share = cautious_share(limit, members, place, turn);
                if let Some(unleased) = unleased.filter(|_| this_window) {
                    let rest = cautious_share(unleased, members, place, turn);
                    share = share.min(leased + rest);
                }
                lease.left = share.saturating_sub(leased);
                lease.taken = 0;
            }
            lease.until = until;
            lease.hold_until = if lease.left == 0 { until } else { 0 };
        });
    }

    /// What this process reports and hands back, read from its local view.
    fn ask(&self, scope: ScopeKey, sync: &Sync) -> (Ask, u64) {
        let now = self.local_now();
        // (At least the requests waiting for this renewal.)
        let waiting = sync.waiting.load(Ordering::Relaxed);
        let costly = sync.costly.swap(0, Ordering::Relaxed);
        self.shared.local.with_scope(scope, false, |state| {
            let mut ask = Ask {
                member: self.member,
                now,
                want: FIRST_WANT.max(waiting),
                open: sync.opened.swap(false, Ordering::Relaxed),
                dropped: sync.dropped.swap(false, Ordering::Relaxed),
                answered: sync.answered.swap(0, Ordering::Relaxed),
                epoch: sync.epoch.load(Ordering::Relaxed),
                late: sync.late.swap(0, Ordering::Relaxed),
                ..Ask::default()
            };
            let Some(state) = state else {
                // Held until the ledger answers, every request waits: once
                // let go, each is answered and comes back for another at
                // once, round after round. A few rounds of them are the
                // demand when the hold ends, however few are counted
                // waiting when that renewal asks.
                sync.wanted.fetch_max(waiting * 4, Ordering::Relaxed);
                return (ask, 0);
            };
            (ask.reports, ask.cooldown) = state.reports(now);
            ask.limited = state.limited;
            // An inferred window is the ledger's: not reported back (a
            // member's copy may predate what the ledger learned since).
            ask.reports = ask.reports.map(|r| r.filter(|r| r.policy != INFERRED));
            let Some(lease) = state.lease_mut().as_mut() else {
                return (ask, 0);
            };
            // (Back from a failing Redis: what its cautious share admitted.)
            let local = self.is_local();
            ask.held = if local { lease.taken } else { 0 };
            if lease.probe || lease.open {
                // (A probe's answer: the requests held meanwhile are the
                // demand. An open lease keeps its scope open; its units
                // bound the requests in flight, not a window's count.)
                ask.returned += lease.left;
                ask.open |= lease.open;
                ask.want = ask.want.max(sync.wanted.load(Ordering::Relaxed));
                return (ask, lease.taken);
            }
            // (Its costliest request, when the lease counts cost: see `Ledger::costly`.)
            ask.costly = if lease.counts_cost { costly } else { 0 };
            let want = demand(lease, sync, (now, waiting.max(ask.costly)));
            sync.wanted.store(want, Ordering::Relaxed);
            // What it keeps, it may admit while the renewal is on its way;
            // the rest leaves the lease now (its again, should the ledger
            // surely not hear). A cautious share's units are no ledger's:
            // those kept count with those admitted, the rest is not handed
            // back but dropped (kept uncounted, the rest taken off what the
            // ledger had leased it, 13 of 10 were admitted).
            ask.kept = lease.left.min(want);
            let rest = lease.left - ask.kept;
            if local {
                ask.held += ask.kept;
                sync.dropping.store(rest, Ordering::Relaxed);
            } else {
                ask.returned = rest;
                sync.handing_back.store(rest, Ordering::Relaxed);
            }
            ask.want = want - ask.kept;
            lease.left = ask.kept;
            (ask, lease.taken)
        })
    }

    /// One renewal on the ledger: read-modify-write by compare-and-set,
    /// again while other members write in between. `Ok(false)`: the ledger
    /// kept changing (Redis answers; the lease is asked for again later).
    async fn renew_shared(&self, scope: ScopeKey, sync: &Sync) -> Result<bool, String> {
        if !self.shared.clock_known.load(Ordering::Acquire) {
            // Nothing is written on this process's clock: the first call
            // reads the ledger and Redis's clock.
            *crate::lock(&sync.ledger) = self.cas(scope, sync, "", None).await?;
        }
        let (ask, taken_before) = self.ask(scope, sync);
        let renewed = self.renew_with(scope, sync, ask, taken_before).await;
        if !matches!(renewed, Ok(true)) {
            // What the ledger did not hear is told at the next renewal.
            sync.answered.fetch_add(ask.answered, Ordering::Relaxed);
            sync.late.fetch_add(ask.late, Ordering::Relaxed);
            sync.opened.fetch_or(ask.open, Ordering::Relaxed);
            sync.dropped.fetch_or(ask.dropped, Ordering::Relaxed);
        }
        renewed
    }

    async fn renew_with(
        &self,
        scope: ScopeKey,
        sync: &Sync,
        mut ask: Ask,
        taken_before: u64,
    ) -> Result<bool, String> {
        // (A copy: the one kept stays for a fallback, should Redis fail.)
        let mut ledger = sync.ledger.lock().map_or(None, |l| l.clone());
        let read = |l: &Ledger| (l.version, l.lease_end, l.budget);
        let (old_version, old_end, old_budget) = ledger.as_ref().map_or((0, 0, 0), read);
        for _ in 0..CAS_ATTEMPTS {
            // The ledger's clock, mapped from this process's (the offset
            // comes with every answer).
            let local_at = self.local_now();
            let offset = self.shared.offset.load(Ordering::Relaxed);
            ask.now = local_at.saturating_add_signed(offset);
            let mut next = ledger.take().unwrap_or_default();
            // Redis came back empty (a ledger older than the one read):
            // what the fleet was leased of the window is unknown to the new
            // one (a member held to its end does not renew before), so all
            // the old one could lease of it counts as this member's.
            if next.version < old_version && old_end > ask.now {
                ask.held = ask.held.max(old_budget);
            }
            let version = Some(next.version).filter(|version| *version != 0);
            let expected = version.map_or_else(String::new, |version| version.to_string());
            let answer = next.renew(&ask);
            match self.cas(scope, sync, &expected, Some(&next)).await? {
                None => {
                    sync.dropping.store(0, Ordering::Relaxed);
                    let clock = (ask.now, local_at);
                    let epoch = next.inferred.map_or(0, |i| i.last_end);
                    sync.epoch.store(epoch, Ordering::Relaxed);
                    let wait = epoch.saturating_sub(ask.now);
                    sync.wait_until.store(local_at + wait, Ordering::Relaxed);
                    self.apply(scope, sync, &next, answer, taken_before, clock);
                    *crate::lock(&sync.ledger) = Some(next);
                    return Ok(true);
                }
                Some(current) => ledger = Some(current),
            }
        }
        Ok(false)
    }

    /// One compare-and-set: `None` when written, else the current ledger
    /// (`next` `None`: a read). The units the renewal hands back stay the
    /// lease's (in `sync.handing_back`) only if the script surely did not
    /// write: its reply said so, or it was never sent.
    async fn cas(
        &self,
        scope: ScopeKey,
        sync: &Sync,
        expected: &str,
        next: Option<&Ledger>,
    ) -> Result<Option<Ledger>, String> {
        let mut invocation = CAS_SCRIPT.key(self.key(scope));
        let end = next.map_or(0, |n| n.lease_end.max(n.state.cooldown_until.unwrap_or(0)));
        let ttl = end.saturating_sub(self.redis_now()) + 60_000;
        invocation.arg(expected).arg(ttl);
        invocation.arg(next.map(Ledger::encode).unwrap_or_default());
        let sent = self.local_now();
        // (Sent, a write with no reply yet may still be applied, however
        // late: the ledger then leases the units again. Taken back on a
        // timeout or a lost reply, they were admitted twice, 13 of 10.)
        let pending = sync.handing_back.swap(0, Ordering::Relaxed);
        let reply = self.invoke(&invocation).await;
        // A refused connection sent nothing (a cluster's may follow a
        // request it sent, then retried: only a standalone Redis's).
        let single = matches!(self.connection, Connection::Single(_));
        if single && reply.as_ref().is_err_and(RedisError::is_connection_refusal) {
            sync.handing_back.store(pending, Ordering::Relaxed);
        }
        let reply = reply.map_err(|e| e.to_string())?;
        let [written, seconds, micros, fields @ ..] = reply.as_slice() else {
            return Err(format!("unexpected reply of {} items", reply.len()));
        };
        let redis_ms = seconds.parse::<u64>().map_err(|e| e.to_string())? * 1000
            + micros.parse::<u64>().map_err(|e| e.to_string())? / 1000;
        let offset = redis_ms as i64 - (sent + self.local_now().saturating_sub(sent) / 2) as i64;
        self.shared.offset.store(offset, Ordering::Relaxed);
        self.shared.clock_known.store(true, Ordering::Release);
        if written == "1" {
            return Ok(None);
        }
        sync.handing_back.store(pending, Ordering::Relaxed);
        Ledger::decode(fields)
            .map(Some)
            .ok_or_else(|| "the ledger holds what this crate does not write".to_owned())
    }

    /// Calls a script on Redis (counted in [`commands`](Self::commands)).
    async fn invoke(&self, invocation: &ScriptInvocation<'_>) -> Result<Vec<String>, RedisError> {
        self.shared.commands.fetch_add(1, Ordering::Relaxed);
        match &self.connection {
            Connection::Single(manager) => invocation.invoke_async(&mut manager.clone()).await,
            Connection::Cluster(lazy) => {
                let connect = || lazy.client.get_async_connection();
                let connection = lazy.connection.get_or_try_init(connect).await?;
                invocation.invoke_async(&mut connection.clone()).await
            }
        }
    }

    fn redis_now(&self) -> Millis {
        let offset = self.shared.offset.load(Ordering::Relaxed);
        self.local_now().saturating_add_signed(offset)
    }

    /// Installs the ledger's answer in the local view; `clock` pairs the
    /// ledger's time the answer was computed at with this process's.
    fn apply(
        &self,
        scope: ScopeKey,
        sync: &Sync,
        ledger: &Ledger,
        answer: Answer,
        taken: u64,
        clock: (Millis, Millis),
    ) {
        let (redis_now, local_at) = clock;
        // Relative to when the answer was computed: never later here.
        let to_local = |at: Millis| local_at + at.saturating_sub(redis_now);
        let create = ledger.state.binding().is_some() || !matches!(answer, Answer::Lease(_));
        let now = self.local_now();
        self.shared.local.with_scope(scope, create, |state| {
            sync.renewed.store(now, Ordering::Relaxed);
            let Some(state) = state else { return };
            bootstrap(state, &ledger.state, redis_now, now);
            // A probe sent stays marked, so that its answer can open the scope.
            let probing = state.lease().is_some_and(|lease| lease.probe);
            let cold = |left, hold: Millis| Lease {
                left,
                until: now + PROBE_TTL,
                hold_until: hold,
                probe: left > 0 || probing,
                ..Lease::default()
            };
            let lease = match answer {
                Answer::Lease(granted) => {
                    sync.members
                        .store(granted.members as u32, Ordering::Relaxed);
                    let index = ledger.members.iter().position(|m| m.id == self.member);
                    let index = index.map_or(u32::MAX, |index| index as u32);
                    sync.index.store(index, Ordering::Relaxed);
                    let window = ledger.lease_start;
                    if sync.lease_window.swap(window, Ordering::Relaxed) != window {
                        sync.leased.store(0, Ordering::Relaxed);
                    }
                    sync.leased.fetch_add(granted.left, Ordering::Relaxed);
                    let until = match ledger.lease_end {
                        // (No end yet: they count until the next lease.)
                        0 => u64::MAX,
                        end => to_local(end),
                    };
                    sync.leased_until.store(until, Ordering::Relaxed);
                    Some(local_lease(state, granted, taken, to_local))
                }
                Answer::Open(share) => {
                    // (Its requests still in flight keep their units.)
                    let taken = state.lease().filter(|l| l.open).map_or(0, |l| l.taken);
                    Some(Lease {
                        left: share.saturating_sub(taken),
                        taken,
                        until: now + LEASE_TTL,
                        open: true,
                        ..Lease::default()
                    })
                }
                Answer::Probe => Some(cold(1, 0)),
                Answer::Hold(wait) => Some(cold(0, now + wait)),
            };
            *state.lease_mut() = lease;
        });
    }

    /// The Redis key of `scope`'s breaker opening: `prefix{digest}:opening`,
    /// in its ledger's hash slot.
    pub fn opening_key(&self, scope: ScopeKey) -> String {
        format!("{}{{{scope}}}:opening", self.prefix)
    }

    /// In the background, bounded: publishes `until` (Unix ms; 0 reads)
    /// as `scope`'s opening and learns locally the one Redis keeps. A
    /// failure leaves the local view as it was.
    fn exchange_opening(&self, scope: ScopeKey, until: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            let mut invocation = OPENING_SCRIPT.key(store.opening_key(scope));
            let ttl = until.saturating_sub(unix_ms(SystemTime::now())) + 60_000;
            invocation.arg(until).arg(ttl);
            let bound = (store.timeout * 3).max(RENEWAL_BOUND);
            let reply = tokio::time::timeout(bound, store.invoke(&invocation)).await;
            let reply = reply.ok().and_then(Result::ok);
            let kept = reply.and_then(|reply| reply.first()?.parse::<u64>().ok());
            match kept {
                Some(0) => {}
                Some(at) => store.shared.local.publish(scope, from_unix_ms(at)),
                None => {
                    let after = store.local_now() + BACKOFF_MAX;
                    store.shared.openings_after.store(after, Ordering::Relaxed);
                }
            }
        });
    }
}

/// What a member asks for until its next renewal: what its lease admitted
/// per lease lifetime (over a second at least), with room to grow, and at
/// least the requests `waiting`; a lease that was a hold (nothing to admit)
/// keeps the demand asked before it.
fn demand(lease: &Lease, sync: &Sync, (now, waiting): (Millis, u64)) -> u64 {
    let since = sync.renewed.load(Ordering::Relaxed);
    let elapsed = now.saturating_sub(since).max(1_000);
    let rate = lease.taken.saturating_mul(LEASE_TTL) / elapsed;
    match lease.left + lease.taken {
        0 => sync.wanted.load(Ordering::Relaxed),
        _ => (rate + rate / 2).max(lease.taken * 2).max(FIRST_WANT),
    }
    .max(waiting)
}

/// The local lease from the ledger's grant and what it let this process
/// keep, less what this process admitted from its old lease while the
/// renewal was on its way (all of it from what it kept, unless the lease
/// window rolled meanwhile).
fn local_lease(
    state: &ScopeState,
    granted: Granted,
    taken_before: u64,
    to_local: impl Fn(Millis) -> Millis,
) -> Lease {
    let old = state.lease();
    let taken_since = old.map_or(0, |old| old.taken.saturating_sub(taken_before));
    // Members held to one instant (a window's end) come back spread over a
    // few round trips, so that their renewals do not collide. A member
    // keeps the instant it drew for that end: its requests told to come
    // back then come back at once, and wait for one renewal together
    // (a half that came back later would find the units it brought taken).
    let spread = |at: Millis, had: Millis| match at {
        0 => 0,
        at if had != 0 && had.abs_diff(to_local(at)) <= HOLD_SPREAD_MAX => had,
        at => to_local(at) + hold_jitter(granted.members),
    };
    Lease {
        left: (granted.kept + granted.left).saturating_sub(taken_since),
        until: to_local(granted.until),
        hold_until: spread(granted.hold_until, old.map_or(0, |l| l.hold_until)),
        counts_cost: granted.counts_cost,
        last: granted.last,
        refill: spread(granted.refill, old.map_or(0, |l| l.refill)),
        ..Lease::default()
    }
}

/// A member's cautious share of `limit` among `members`, `place` its place
/// in the ledger: the floor, and a unit of the remainder for the first
/// places. The fleet's shares add up to the limit at most (rounded up, 4
/// members of 6 admitted 8). With fewer units than members, the members
/// take turns, a unit each: the place moves on by the windows the member
/// fell back in (`turn`; the fleet falls back together when Redis fails,
/// so its turns keep in step).
fn cautious_share(limit: u64, members: u64, place: u64, turn: u64) -> u64 {
    let turn = if limit < members { turn } else { 0 };
    limit / members + u64::from((place + turn) % members < limit % members)
}

/// A random spread of up to [`HOLD_SPREAD`] per member (at most
/// [`HOLD_SPREAD_MAX`]) added to the end of a hold.
fn hold_jitter(members: u64) -> Millis {
    let spread = (members.saturating_sub(1) * HOLD_SPREAD).min(HOLD_SPREAD_MAX);
    let draw = tower::util::rng::Rng::next_f64(&mut tower::util::rng::HasherRng::default());
    (spread as f64 * draw) as Millis
}

/// Teaches the local view what the fleet knows and it does not: windows it
/// has not seen, and the fleet's cooldown.
fn bootstrap(state: &mut ScopeState, fleet: &ScopeState, fleet_now: Millis, now: Millis) {
    let (reports, cooldown) = fleet.reports(fleet_now);
    let known = state.windows.map(|window| window.map(|w| w.policy));
    let unknown = reports.into_iter().flatten();
    let unknown = unknown.filter(|report| !known.contains(&Some(report.policy)));
    state.learn_reports(unknown, cooldown, now, now);
}

/// Whether this caller takes the turn of something done at most once
/// `every` ms (`last`: when it was last done, local ms + 1; 0: never),
/// `now` (local ms + 1): it is due, and no other caller took it first.
fn take_turn(last: &AtomicU64, now: Millis, every: Millis) -> bool {
    let at = last.load(Ordering::Relaxed);
    (at == 0 || now >= at + every)
        && last
            .compare_exchange(at, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// A name for this store among the fleet's: unique per process and store
/// (process id, clock, a counter), hashed.
fn member_name() -> u64 {
    static STORES: AtomicU32 = AtomicU32::new(0);
    let mut hasher = crate::scope::Fnv1a::default();
    hasher.write_bytes(&std::process::id().to_le_bytes());
    let nanos = UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos();
    hasher.write_bytes(&nanos.to_le_bytes());
    hasher.write_bytes(&STORES.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.finish()
}

impl QuotaStore for RedisStore {
    // (`max_delay` bounds a pacing delay: a lease goes unpaced.)
    fn acquire(&self, scope: ScopeKey, cost: u64, _max_delay: Duration) -> StoreFuture<Grant> {
        match self.decide(scope, cost, false) {
            Local::Decided(grant, _) => StoreFuture::ready(grant),
            Local::Unknown(grant) if self.cold_go(scope) => StoreFuture::ready(grant),
            Local::Unknown(_) | Local::Renew => {
                let waiting = Waiting::new(self, scope, cost);
                let (store, renewed) = (self.clone(), self.renew_and_wait(scope));
                StoreFuture::boxed(async move {
                    renewed.await;
                    let grant = store.decide_again(scope, cost);
                    drop(waiting);
                    grant
                })
            }
        }
    }

    fn settle(&self, permit: Permit, observation: &Observation) -> StoreFuture<()> {
        let scope = permit.scope();
        let local = &self.shared.local;
        if observation.is_empty() {
            if !permit.is_held() {
                return StoreFuture::ready(());
            }
            let (probe, unannounced, cooling_until) = self.released(permit).unwrap_or_default();
            if unannounced {
                // (During a 429's wait: sent before it, that window's.)
                let sync = self.sync(scope);
                let until = cooling_until.max(sync.wait_until.load(Ordering::Relaxed));
                let waiting = self.local_now() < until;
                let count = if waiting { &sync.late } else { &sync.answered };
                count.fetch_add(1, Ordering::Relaxed);
            }
            if probe {
                // The probe taught nothing: the fleet need not hold.
                self.sync(scope).opened.store(true, Ordering::Relaxed);
                self.spawn_renewal(scope);
            }
            return StoreFuture::ready(());
        }
        let knew = local.with_scope(scope, false, |state| {
            state.is_some_and(|state| state.binding().is_some())
        });
        local.settle_now(permit, Some(observation));
        if !knew {
            // The first lesson of this process (a probe's, say): the fleet
            // hears it before this response is handed back, from a renewal
            // that reads it (one running may have read the view before).
            self.sync(scope).lesson.store(true, Ordering::SeqCst);
            return StoreFuture::boxed(self.renew_and_wait(scope));
        }
        if observation.cooldown().is_some() {
            // A cooldown is the whole fleet's at once.
            self.spawn_renewal(scope);
        }
        StoreFuture::ready(())
    }

    // A probe dropped unanswered (its caller gave up): its unit goes back
    // to the ledger, which lets another member probe at once rather than
    // hold the fleet for the probe's lock (2 s).
    fn release(&self, permit: Permit) {
        self.shared.local.settle_now(permit, None);
        let probe = |state: Option<&mut ScopeState>| {
            let state = state.filter(|s| s.binding().is_none())?;
            let lease = state.lease_mut().as_mut()?;
            (lease.probe && !lease.open).then(|| lease.left = 0)
        };
        let scope = permit.scope();
        if permit.is_held() && self.shared.local.with_scope(scope, false, probe).is_some() {
            self.sync(scope).dropped.store(true, Ordering::Relaxed);
            self.spawn_renewal(scope);
        }
    }

    // (The local view knows this process's 429s and the fleet's cooldown:
    // a go it paced while Redis failed holds on them too.)
    fn cooling_down(&self, scope: ScopeKey) -> bool {
        self.shared.local.cooling_down(scope)
    }
}

/// Openings are published at once (in the background) and read from a
/// local view, refreshed in the background at most every 250 ms per scope
/// when a request looks: no request waits for Redis. A process learns an
/// opening within about 250 ms and a round trip of its first look; the
/// calls in between go as its own breaker decides. While Redis fails,
/// each breaker keeps to what it knows.
impl OpeningStore for RedisStore {
    fn publish(&self, scope: ScopeKey, until: SystemTime) {
        self.shared.local.publish(scope, until);
        self.exchange_opening(scope, unix_ms(until));
    }

    fn opening(&self, scope: ScopeKey) -> Option<SystemTime> {
        let now = self.local_now() + 1;
        let sync = self.sync(scope);
        let due = now > self.shared.openings_after.load(Ordering::Relaxed)
            && take_turn(&sync.opening_read, now, OPENING_EVERY);
        if due {
            self.exchange_opening(scope, 0);
        }
        self.shared.local.opening(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::WindowReport;

    /// A scope whose local view knows a large window and holds a lease of
    /// `left` units for the next minute, as a renewal leaves it.
    fn leased(store: &RedisStore, scope: ScopeKey, left: u64) {
        let now = store.local_now();
        let window = WindowReport::new(
            None,
            Some(1_000_000),
            Some(999_999),
            Some(Duration::from_secs(3600)),
            None,
        );
        let taught = Observation::new().with_window(window);
        store.shared.local.with_scope(scope, true, |state| {
            let state = state.expect("created");
            state.learn(&taught, now, now);
            *state.lease_mut() = Some(Lease {
                left,
                taken: 0,
                until: now + 60_000,
                hold_until: 0,
                counts_cost: true,
                probe: false,
                open: false,
                last: true,
                refill: 0,
            });
        });
    }

    fn lease_of(store: &RedisStore, scope: ScopeKey) -> Lease {
        let local = &store.shared.local;
        local.with_scope(scope, false, |state| {
            state.and_then(|s| s.lease()).expect("a lease")
        })
    }

    /// A waiter that came before the scope had a local view is in no count
    /// there: leaving, it takes no later waiter's claim.
    #[tokio::test]
    async fn a_waiter_gives_back_only_the_claim_it_made() {
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        let waiters = |store: &RedisStore| {
            let local = &store.shared.local;
            local.with_scope(scope, false, |state| state.map(|s| s.waiters))
        };
        let early = Waiting::new(&store, scope, 1);
        assert_eq!(waiters(&store), None, "no local view yet");
        leased(&store, scope, 0);
        let later = Waiting::new(&store, scope, 1);
        assert_eq!(waiters(&store), Some(1));
        drop(early);
        assert_eq!(waiters(&store), Some(1), "the later waiter's claim stands");
        drop(later);
        assert_eq!(waiters(&store), Some(0));
    }

    #[tokio::test]
    async fn an_open_scope_admits_its_share_in_flight_and_an_answer_gives_a_unit_back() {
        // Nothing listens there: any call to Redis would be a renewal.
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        let now = store.local_now();
        let (sync, ledger) = (store.sync(scope), Ledger::default());
        store.apply(scope, &sync, &ledger, Answer::Open(2), 0, (now, now));
        let go = |store: &RedisStore| match store.acquire(scope, 1, Duration::ZERO).now_or_never() {
            Some(Grant::Go { permit, .. }) => Some(permit),
            other => panic!("{other:?}"),
        };
        let first = go(&store).expect("in its share");
        go(&store).expect("in its share");
        let mut third = store.acquire(scope, 1, Duration::ZERO);
        let wait = Grant::Wait(Duration::from_millis(50));
        assert_eq!(third.now_or_never(), Some(wait), "both in flight");
        // An answer that announced nothing gives its unit back.
        assert!(store
            .settle(first, &Observation::new())
            .now_or_never()
            .is_some());
        go(&store).expect("a unit came back");
        tokio::task::yield_now().await;
        assert_eq!(store.commands(), 0, "no Redis call");
    }

    /// The units a renewal brings go to the requests that waited for it
    /// before a fresh request of the process, whichever asks first: else
    /// the one that finds them taken waits for the next window.
    #[tokio::test]
    async fn requests_held_for_a_renewal_take_its_units_before_fresh_ones() {
        // Nothing listens there: the renewal is played by the test.
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        leased(&store, scope, 0);
        let sync = store.sync(scope);
        sync.running.store(true, Ordering::Release);
        let held: Vec<_> = (0..2)
            .map(|_| store.acquire(scope, 1, Duration::ZERO))
            .collect();
        // The renewal brings two units and ends; a fresh request asks
        // before the held ones are polled again.
        let now = store.local_now();
        let granted = Granted {
            left: 2,
            until: now + 60_000,
            hold_until: 0,
            counts_cost: true,
            members: 1,
            limit: 2,
            last: true,
            ..Granted::default()
        };
        let answer = Answer::Lease(granted);
        store.apply(scope, &sync, &Ledger::default(), answer, 0, (now, now));
        sync.running.store(false, Ordering::Release);
        sync.done.send_modify(|generation| *generation += 1);
        let mut fresh = store.acquire(scope, 1, Duration::ZERO);
        let go = |grant: &Option<Grant>| matches!(grant, Some(Grant::Go { .. }));
        assert!(
            !go(&fresh.now_or_never()),
            "both units are the held requests'"
        );
        for grant in held {
            assert!(go(&Some(grant.await)), "a held request goes");
        }
        assert_eq!(lease_of(&store, scope).left, 0);
    }

    /// A held request that takes a lease below a quarter starts its renewal
    /// ahead, as a fresh one does (src/quota/mod.rs: "In steady state a
    /// request makes no Redis round trip"; the type's docs: "When a lease
    /// runs low ... a background task renews it"). It did not: the local
    /// view says "low" once, and a held request swallowed it, so the
    /// lease ran out and the next request waited for a round trip.
    #[tokio::test]
    async fn a_held_request_that_takes_a_lease_low_renews_it_ahead() {
        // Nothing listens there: the first renewal is played by the test.
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        leased(&store, scope, 0);
        let sync = store.sync(scope);
        sync.running.store(true, Ordering::Release);
        let held: Vec<_> = (0..3)
            .map(|_| store.acquire(scope, 1, Duration::ZERO))
            .collect();
        let now = store.local_now();
        let granted = Granted {
            left: 4,
            until: now + 60_000,
            counts_cost: true,
            members: 2,
            limit: 100,
            ..Granted::default()
        };
        let answer = Answer::Lease(granted);
        store.apply(scope, &sync, &Ledger::default(), answer, 0, (now, now));
        sync.running.store(false, Ordering::Release);
        sync.done.send_modify(|generation| *generation += 1);
        for grant in held {
            assert!(
                matches!(grant.await, Grant::Go { .. }),
                "a held request goes"
            );
        }
        // (1 of 4 left. The task spawned has not run: nothing yielded.)
        assert_eq!(lease_of(&store, scope).left, 1);
        assert!(sync.running.load(Ordering::Acquire), "renewed ahead");
    }

    /// A cold scope's probe, taken by a held request, is not renewed
    /// ahead: only its answer brings more (the ledger answers a renewal
    /// meanwhile with a hold). Once held requests renewed ahead, that
    /// renewal was still on its way when the probe's answer came, and the
    /// answer's renewal (src/quota/mod.rs: the fleet hears a process's
    /// first lesson "before this response is handed back") waited for it
    /// instead: the fleet did not hear, and its hold was installed over
    /// the lesson (`tests/quota_stores.rs`, `redis_cluster_store`).
    #[tokio::test]
    async fn a_probe_taken_by_a_held_request_is_not_renewed_ahead() {
        // Nothing listens there: the first renewal is played by the test.
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        let sync = store.sync(scope);
        sync.running.store(true, Ordering::Release);
        let probe = store.acquire(scope, 1, Duration::ZERO);
        let now = store.local_now();
        store.apply(
            scope,
            &sync,
            &Ledger::default(),
            Answer::Probe,
            0,
            (now, now),
        );
        sync.running.store(false, Ordering::Release);
        sync.done.send_modify(|generation| *generation += 1);
        assert!(matches!(probe.await, Grant::Go { .. }), "the probe goes");
        assert!(!sync.running.load(Ordering::Acquire), "no renewal ahead");
    }

    /// Renewals that hold a member to the same instant keep the spread it
    /// drew for it, whatever the clock mapping of each answer.
    #[test]
    fn a_member_keeps_the_instant_it_drew_for_a_hold() {
        let mut state = ScopeState::default();
        let granted = Granted {
            left: 0,
            until: 1_000,
            hold_until: 10_000,
            counts_cost: true,
            members: 8,
            limit: 300,
            last: false,
            ..Granted::default()
        };
        *state.lease_mut() = Some(local_lease(&state, granted, 0, |at| at));
        let drawn = state.lease().unwrap().hold_until;
        assert!((10_000..=10_035).contains(&drawn));
        for shift in 0..20 {
            let again = local_lease(&state, granted, 0, |at| at + shift % 3);
            assert_eq!(again.hold_until, drawn);
        }
        let later = Granted {
            hold_until: 20_000,
            ..granted
        };
        let later = local_lease(&state, later, 0, |at| at).hold_until;
        assert!(
            (20_000..=20_035).contains(&later),
            "another instant: drawn again"
        );
    }

    /// A renewal that hands units back to a Redis that refuses the
    /// connection sent nothing: the units are the lease's again. (One sent
    /// and not answered may yet be applied: see `tests/quota_redis.rs`,
    /// `units_handed_back_by_a_renewal_redis_applies_after_its_timeout_are_not_admitted_twice`.)
    #[tokio::test]
    async fn units_handed_back_to_a_refused_connection_are_the_leases_again() {
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        leased(&store, scope, 100);
        let sync = store.sync(scope);
        // (Its clock known, the renewal asks at once; fallen back in this
        // window already, its fallback keeps the lease as it is.)
        store.shared.clock_known.store(true, Ordering::Release);
        let local = &store.shared.local;
        let reset = local.with_scope(scope, false, |s| s?.binding()?.reset_at);
        sync.fallback_for.store(reset.unwrap(), Ordering::Relaxed);
        store.renew(scope, &sync).await;
        assert!(store.is_local(), "the renewal failed");
        assert_eq!(store.commands(), 1, "it asked");
        assert_eq!(lease_of(&store, scope).left, 100, "4 kept, 96 back");
    }

    #[test]
    fn cautious_shares_add_up_to_the_limit_and_go_round() {
        for (limit, members) in [(6, 4), (15, 2), (3, 5), (1, 3)] {
            for turn in 0..members {
                let shares = (0..members).map(|place| cautious_share(limit, members, place, turn));
                assert_eq!(shares.sum::<u64>(), limit, "{limit} among {members}");
            }
        }
        // 1 among 3: the unit comes round to each member in turn.
        let turns = (0..3).map(|turn| cautious_share(1, 3, 2, turn));
        assert_eq!(turns.collect::<Vec<_>>(), [0, 1, 0]);
    }

    #[tokio::test]
    async fn a_lease_admission_answers_at_once_and_its_release_calls_nothing() {
        // Nothing listens there: any call to Redis would be a renewal.
        let store = RedisStore::open("redis://127.0.0.1:1/").unwrap();
        let scope = ScopeKey::new("api.example.com", None);
        leased(&store, scope, 100);
        for taken in 1..=3 {
            let mut grant = store.acquire(scope, 1, Duration::from_secs(1));
            let Some(Grant::Go { permit, delay }) = grant.now_or_never() else {
                panic!("a lease with units answers at once");
            };
            assert_eq!(delay, Duration::ZERO);
            assert!(permit.is_held());
            // A success that announces nothing: released at once.
            let mut settled = store.settle(permit, &Observation::new());
            assert!(settled.now_or_never().is_some());
            let lease = lease_of(&store, scope);
            assert_eq!((lease.left, lease.taken), (100 - taken, taken));
        }
        let unused = Permit::new(scope, 1, true, 1);
        store.release(unused);
        let lease = lease_of(&store, scope);
        assert_eq!(
            (lease.left, lease.taken),
            (98, 2),
            "an unused unit goes back"
        );
        assert!(
            !store.sync(scope).running.load(Ordering::Relaxed),
            "no renewal"
        );
        tokio::task::yield_now().await;
        assert_eq!(store.commands(), 0, "no Redis call");
    }
}
