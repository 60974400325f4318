//! [`RedisStore`] (feature `redis`): one learned quota for a fleet.

use super::memory::{MemoryStore, Tuning};
use super::store::{Grant, Observation, Permit, QuotaStore, ScopeKey, StoreFuture};
use crate::observe;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tower-api-errors:quota:";
/// The default bound on one Redis round trip: 50 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// After a failure, Redis is tried again (by one request) after this long.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Permits of a scope nobody has settled for this long belong to processes
/// that are gone: they are forgotten.
const STALE_IN_FLIGHT: Duration = Duration::from_secs(30);
/// A process past its fair share of a window asks again after this; a
/// process that has not asked for three of these is no longer counted in
/// the fleet.
const SHARE_WAIT: Duration = Duration::from_secs(1);
const SHARED: u8 = 1;
const LOCAL: u8 = 0;

/// Acquire: KEYS[1] scope; ARGV cost, max_delay_ms, pace_below, recheck_ms,
/// jitter (0..1), stale_ms, member, share_wait_ms. Returns {0, held,
/// delay_ms} or {1, wait_ms}. The same arithmetic as `MemoryStore`, on
/// Redis's clock, plus fair shares: each process (member) that asked
/// within the last 3 share waits is active, and in a window whose limit is
/// known an active member may take at most ceil(limit / active members)
/// of it; past its share it asks again after the share wait (a member that
/// stops asking leaves its share to the others).
const ACQUIRE: &str = r#"
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local max_delay = tonumber(ARGV[2])
local pace_below = tonumber(ARGV[3])
local recheck = tonumber(ARGV[4])
local jitter = tonumber(ARGV[5])
local stale = tonumber(ARGV[6])
local member = ARGV[7]
local share_wait = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HGETALL', key)
if #h == 0 then return {0, 0, 0} end
local s = {}
for i = 1, #h, 2 do s[h[i]] = h[i + 1] end
local active_for = share_wait * 3
redis.call('HSET', key, 'm:' .. member, now)
local members = 1
for f, v in pairs(s) do
  if string.sub(f, 1, 2) == 'm:' and f ~= 'm:' .. member then
    local seen = tonumber(v) or 0
    if now - seen <= active_for then
      members = members + 1
    elseif now - seen > active_for * 20 then
      local gone = string.sub(f, 3)
      redis.call('HDEL', key, f)
      for i = 1, 4 do redis.call('HDEL', key, 'g' .. i .. ':' .. gone) end
    end
  end
end
local share_over = 0
local mine_of = {}
local cd = tonumber(s.cd) or 0
if cd > now then return {1, cd - now} end
local ifr = tonumber(s.ifr) or 0
local ifc = tonumber(s.ifc) or 0
if (ifr > 0 or ifc > 0) and now - (tonumber(s.ls) or 0) > stale then
  ifr = 0
  ifc = 0
end
local n = tonumber(s.n) or 0
local wait = 0
local slot = now
local pn = tonumber(s.pn) or 0
if pn > now then slot = pn end
local pace_interval = -1
local pace_reset = 0
for i = 1, n do
  local lim = tonumber(s['l' .. i])
  local rem = tonumber(s['r' .. i]) or 0
  local rst = tonumber(s['t' .. i])
  local live = true
  local epoch = tonumber(s['e' .. i]) or 0
  if rst and rst <= now then
    if lim then
      rem = lim
      rst = nil
      epoch = epoch + 1
      redis.call('HSET', key, 'r' .. i, rem, 'e' .. i, epoch)
      redis.call('HDEL', key, 't' .. i)
    else
      live = false
    end
  end
  if live then
    local counts_cost = s['c' .. i] == '1'
    local need = 1
    local inflight = ifr
    if counts_cost then
      need = cost
      inflight = ifc
    end
    local avail = rem - inflight
    if lim and members > 1 and avail >= need then
      local mine = 0
      local g = s['g' .. i .. ':' .. member]
      if g then
        local ge, gc = string.match(g, '^(%d+):(%d+)$')
        if tonumber(ge) == epoch then mine = tonumber(gc) end
      end
      if mine + need > math.ceil(lim / members) then
        -- Ask again after the share wait, or at the reset if sooner.
        local sw = share_wait
        if rst then sw = math.min(sw, math.max(rst - now, 1)) end
        share_over = math.max(share_over, sw, 1)
      end
      mine_of[i] = epoch .. ':' .. (mine + need)
    end
    if avail < need then
      local w = recheck
      if rst then w = math.max(rst - now, 1) end
      if w > wait then wait = w end
    elseif lim and rst then
      local left = avail - need
      if left < lim * pace_below and rst - now <= max_delay and slot < rst then
        local interval = math.floor((rst - slot) / (left + 1))
        if interval > pace_interval then
          pace_interval = interval
          pace_reset = rst
        end
      end
    end
  end
end
if wait > 0 then return {1, wait} end
if share_over > 0 then return {1, share_over} end
for i, v in pairs(mine_of) do redis.call('HSET', key, 'g' .. i .. ':' .. member, v) end
redis.call('HSET', key, 'ifr', ifr + 1, 'ifc', ifc + cost)
if ifr == 0 and ifc == 0 then redis.call('HSET', key, 'ls', now) end
local delay = 0
if pace_interval >= 0 then
  redis.call('HSET', key, 'pn', slot + pace_interval)
  delay = slot - now + math.floor(pace_interval * jitter * 0.5)
  delay = math.min(delay, pace_reset - now, max_delay)
end
return {0, 1, delay}
"#;

/// Settle: KEYS[1] scope; ARGV held, cost, cooldown_ms (-1: none),
/// unknown_reset_ms, new_window_after_ms, ttl_ms, windows, then per window
/// policy, limit, remaining, reset_ms (-1: none), counts_cost.
const SETTLE: &str = r#"
local key = KEYS[1]
local held = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
local unknown_reset = tonumber(ARGV[4])
local tolerance = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local count = tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exists = redis.call('EXISTS', key) == 1
if held == 1 and exists then
  local ifr = tonumber(redis.call('HGET', key, 'ifr')) or 0
  local ifc = tonumber(redis.call('HGET', key, 'ifc')) or 0
  redis.call('HSET', key, 'ifr', math.max(ifr - 1, 0), 'ifc', math.max(ifc - cost, 0), 'ls', now)
end
if count == 0 and cooldown < 0 then return 0 end
if cooldown >= 0 then
  local cd = tonumber(redis.call('HGET', key, 'cd')) or 0
  redis.call('HSET', key, 'cd', math.max(cd, now + cooldown))
end
local n = tonumber(redis.call('HGET', key, 'n')) or 0
for w = 0, count - 1 do
  local base = 8 + w * 5
  local policy = ARGV[base]
  local lim = tonumber(ARGV[base + 1])
  local rem = tonumber(ARGV[base + 2])
  local reset = tonumber(ARGV[base + 3])
  local cc = ARGV[base + 4]
  local reset_at = now + unknown_reset
  if reset >= 0 then reset_at = now + reset end
  local found = 0
  for i = 1, n do
    if redis.call('HGET', key, 'p' .. i) == policy then found = i end
  end
  if found > 0 then
    local i = found
    if lim >= 0 then redis.call('HSET', key, 'l' .. i, lim) end
    redis.call('HSET', key, 'c' .. i, cc)
    if rem >= 0 then
      local cur = tonumber(redis.call('HGET', key, 't' .. i))
      if cur == nil or reset_at > cur + tolerance then
        -- A new window this settle saw first (an acquire that saw the old
        -- one pass has counted it already) starts a new epoch of shares.
        -- A relative reset (`t=` seconds) drifts by up to a second from
        -- report to report: only a refill (more remaining than counted)
        -- is a new window.
        local counted = tonumber(redis.call('HGET', key, 'r' .. i)) or rem
        if cur ~= nil and reset ~= 0 and rem > counted then
          redis.call('HINCRBY', key, 'e' .. i, 1)
        end
        if reset ~= 0 then redis.call('HSET', key, 'r' .. i, rem, 't' .. i, reset_at) end
      else
        local old = tonumber(redis.call('HGET', key, 'r' .. i)) or rem
        redis.call('HSET', key, 'r' .. i, math.min(old, rem))
      end
    end
  elseif rem >= 0 and n < 4 then
    n = n + 1
    redis.call('HSET', key, 'n', n, 'p' .. n, policy, 'r' .. n, rem, 't' .. n, reset_at, 'c' .. n, cc)
    if lim >= 0 then redis.call('HSET', key, 'l' .. n, lim) end
  end
end
if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
return 1
"#;

/// Learned quotas shared by every process that points at one Redis: one
/// learned window per scope, one count of permits in flight (granted and
/// not yet answered: the ones the server may not have counted yet), one
/// cooldown (feature `redis`).
///
/// Each decision is one atomic Lua script on Redis's clock, so processes
/// with skewed clocks agree. Keys are `prefix` + the scope's 16-hex-digit
/// digest (never a partition value), hashes whose TTL outlives the longest
/// window they hold.
///
/// **When Redis fails** (down, slower than [`timeout`](Self::timeout),
/// or an answer that is not what the script returns) the store keeps
/// going on a local [`MemoryStore`] (warm: it learns every response too),
/// says so once through `tracing` (`quota_store_local`, WARN), tries Redis
/// again once a second, and says `quota_store_shared` when it answers.
/// No request is lost, held longer, or sent twice for it: a failed call is
/// a local decision.
///
/// Permits whose process died before settling them are forgotten after
/// 30 s without any settle in their scope.
///
/// # Clone
/// Cheap; clones share the connection and the fallback.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    // This store's name among the fleet's members (random, not derived
    // from anything secret); clones share it.
    member: Arc<str>,
    prefix: Arc<str>,
    timeout: Duration,
    shared: Arc<Shared>,
}

struct Shared {
    local: MemoryStore,
    acquire: Script,
    settle: Script,
    tuning: Tuning,
    local_mode: AtomicBool,
    local_decisions: AtomicU64,
    /// Milliseconds after `epoch` when Redis is next tried, while local.
    probe_at: AtomicU64,
    epoch: Instant,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("local", &self.shared.local_mode.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

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
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            connection,
            member: Arc::from(member_name()),
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_TIMEOUT,
            shared: Arc::new(Shared {
                local: MemoryStore::new(),
                acquire: Script::new(ACQUIRE),
                settle: Script::new(SETTLE),
                tuning: Tuning::default(),
                local_mode: AtomicBool::new(false),
                local_decisions: AtomicU64::new(0),
                probe_at: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        })
    }

    /// The key prefix (default `tower-api-errors:quota:`): one per API and
    /// environment sharing a Redis.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// The longest one Redis call may take (default 50 ms) before the
    /// decision is made locally.
    ///
    /// # Panics
    /// When `timeout` is zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        assert!(!timeout.is_zero(), "timeout must be longer than zero");
        self.timeout = timeout;
        self
    }

    /// True while decisions are local because Redis failed.
    pub fn is_local(&self) -> bool {
        self.shared.local_mode.load(Ordering::Relaxed)
    }

    /// How many acquisitions were decided locally because Redis failed
    /// or was skipped while it was failing.
    pub fn local_decisions(&self) -> u64 {
        self.shared.local_decisions.load(Ordering::Relaxed)
    }

    fn local_acquire(&self, scope: ScopeKey, cost: u64, max_delay: Duration) -> Grant {
        self.shared.local_decisions.fetch_add(1, Ordering::Relaxed);
        self.shared.local.acquire_now(scope, cost, max_delay, LOCAL)
    }

    /// The Redis key of `scope`.
    pub fn key(&self, scope: ScopeKey) -> String {
        format!("{}{scope}", self.prefix)
    }

    fn now_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    /// Whether to skip Redis (local mode, and not yet time to probe). The
    /// request that finds it is time takes the probe for itself.
    fn skip_redis(&self) -> bool {
        if !self.is_local() {
            return false;
        }
        let now = self.now_ms();
        let probe_at = self.shared.probe_at.load(Ordering::Relaxed);
        if now < probe_at {
            return true;
        }
        let next = now + PROBE_EVERY.as_millis() as u64;
        self.shared
            .probe_at
            .compare_exchange(probe_at, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    }

    fn failed(&self, error: &dyn fmt::Display) {
        self.shared.probe_at.store(
            self.now_ms() + PROBE_EVERY.as_millis() as u64,
            Ordering::Relaxed,
        );
        if !self.shared.local_mode.swap(true, Ordering::Relaxed) {
            observe::store_local(error);
        }
    }

    fn answered(&self) {
        if self.shared.local_mode.swap(false, Ordering::Relaxed) {
            observe::store_shared();
        }
    }

    async fn acquire_shared(
        &self,
        scope: ScopeKey,
        cost: u64,
        max_delay: Duration,
    ) -> Result<Grant, String> {
        let tuning = &self.shared.tuning;
        let jitter = tower::util::rng::Rng::next_f64(&mut tower::util::rng::HasherRng::default());
        let mut connection = self.connection.clone();
        let call = async {
            let reply: Vec<i64> = self
                .shared
                .acquire
                .key(self.key(scope))
                .arg(cost)
                .arg(max_delay.as_millis() as u64)
                .arg(tuning.pace_below)
                .arg(tuning.recheck.as_millis() as u64)
                .arg(jitter)
                .arg(STALE_IN_FLIGHT.as_millis() as u64)
                .arg(&*self.member)
                .arg(SHARE_WAIT.as_millis() as u64)
                .invoke_async(&mut connection)
                .await
                .map_err(|error| error.to_string())?;
            let millis = |value: i64| Duration::from_millis(value.max(0) as u64);
            match reply.as_slice() {
                [0, held @ (0 | 1), delay] => Ok(Grant::Go {
                    permit: Permit::new(scope, cost, *held == 1, SHARED),
                    delay: millis(*delay).min(max_delay),
                }),
                [1, wait] if *wait > 0 => Ok(Grant::Wait(millis(*wait))),
                _ => Err(format!("unexpected reply {reply:?}")),
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn settle_shared(&self, permit: Permit, observation: Observation) -> Result<(), String> {
        let tuning = &self.shared.tuning;
        let millis = |value: Option<Duration>| {
            value.map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64)
        };
        let longest = observation
            .windows()
            .iter()
            .filter_map(|w| w.reset())
            .chain(observation.cooldown())
            .max()
            .unwrap_or_default();
        let ttl = (longest + Duration::from_secs(60)).as_millis() as u64;
        let mut invocation = self.shared.settle.key(self.key(permit.scope()));
        invocation
            .arg(u8::from(permit.is_held()))
            .arg(permit.cost())
            .arg(millis(observation.cooldown()))
            .arg(tuning.unknown_reset.as_millis() as u64)
            .arg(tuning.new_window_after.as_millis() as u64)
            .arg(ttl)
            .arg(observation.windows().len());
        for window in observation.windows() {
            invocation
                .arg(window.policy().to_string())
                .arg(window.limit().map_or(-1, |l| l.min(i64::MAX as u64) as i64))
                .arg(
                    window
                        .remaining()
                        .map_or(-1, |r| r.min(i64::MAX as u64) as i64),
                )
                .arg(millis(window.reset()))
                .arg(u8::from(window.counts_cost()));
        }
        let mut connection = self.connection.clone();
        let call = invocation.invoke_async::<i64>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(0 | 1)) => Ok(()),
            Ok(Ok(other)) => Err(format!("unexpected reply {other}")),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

/// A name for this store among the fleet's: unique per process and store
/// (process id, clock, a counter), hashed.
fn member_name() -> String {
    use std::sync::atomic::AtomicU32;
    static STORES: AtomicU32 = AtomicU32::new(0);
    let mut hasher = super::scope::Fnv1a::default();
    hasher.write_bytes(&std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hasher.write_bytes(&nanos.to_le_bytes());
    hasher.write_bytes(&STORES.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    format!("{:016x}", std::hash::Hasher::finish(&hasher))
}

impl QuotaStore for RedisStore {
    fn acquire(&self, scope: ScopeKey, cost: u64, max_delay: Duration) -> StoreFuture<Grant> {
        if self.skip_redis() {
            return StoreFuture::ready(self.local_acquire(scope, cost, max_delay));
        }
        let store = self.clone();
        StoreFuture::boxed(async move {
            match store.acquire_shared(scope, cost, max_delay).await {
                Ok(grant) => {
                    store.answered();
                    grant
                }
                Err(error) => {
                    store.failed(&error);
                    store.local_acquire(scope, cost, max_delay)
                }
            }
        })
    }

    fn settle(&self, permit: Permit, observation: &Observation) -> StoreFuture<()> {
        // The local store learns everything too, so that a fallback is warm.
        let local = Permit::new(
            permit.scope(),
            permit.cost(),
            permit.is_held() && permit.tag() == LOCAL,
            LOCAL,
        );
        self.shared.local.settle_now(local, Some(observation));
        if permit.tag() != SHARED || (!permit.is_held() && observation.is_empty()) {
            return StoreFuture::ready(());
        }
        let (store, observation) = (self.clone(), *observation);
        StoreFuture::boxed(async move {
            match store.settle_shared(permit, observation).await {
                Ok(()) => store.answered(),
                Err(error) => store.failed(&error),
            }
        })
    }

    fn release(&self, permit: Permit) {
        if permit.tag() == LOCAL {
            self.shared.local.settle_now(permit, None);
            return;
        }
        if !permit.is_held() {
            return;
        }
        // Releasing may run in `Drop`: the write goes on in the background.
        // Without a runtime it cannot: the scope forgets the permit after
        // 30 s without settles.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            match store.settle_shared(permit, Observation::new()).await {
                Ok(()) => store.answered(),
                Err(error) => store.failed(&error),
            }
        });
    }
}
