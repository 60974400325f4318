//! The window algorithm, once: every store calls it.
//!
//! Pure: a scope's learned state, a clock reading (milliseconds on the
//! store's clock: the process's monotonic clock for [`MemoryStore`], the
//! ledger's for a fleet) and a jitter draw (made only when needed) go in;
//! a decision comes out.
//! No store keeps a second copy of these rules: `MemoryStore` runs them
//! under a lock, `RedisStore` runs them on its local view and admits
//! only what its lease (a slice of the shared window) allows.
//!
//! [`MemoryStore`]: super::MemoryStore

use super::inferred::{Tally, INFERRED};
use super::{Observation, WindowReport, MAX_WINDOWS};
use std::time::Duration;

/// Milliseconds on a store's clock.
pub(crate) type Millis = u64;

/// Resets are sent in whole seconds: how far one may be off, and the
/// shortest window a guess assumes.
pub(crate) const WHOLE_SECOND: Millis = 1_000;

/// How long a cold-start probe holds its scope before another may probe.
pub(crate) const PROBE_TTL: Millis = 2_000;
/// Requests held on a probe ask again this often (its answer comes within
/// a round trip).
pub(crate) const PROBE_RECHECK: Millis = 50;

/// The cold-start rule, once: a fleet's ledger follows it for the fleet,
/// [`ScopeState::acquire_cold`] for one process. While nothing is known of a
/// scope, one request probes it and the others hold until its answer
/// teaches; a probe out (until `probe`) holds them [`PROBE_TTL`] at most,
/// then another may probe. `Ok`: this one probes, holding the scope until
/// then; `Err`: hold this long.
///
/// A held request asks again after as long as the probe has been out (at
/// least 1 ms, at most [`PROBE_RECHECK`]), so the held ones are back
/// within about the probe's round trip. Held a fixed 50 ms, they found a
/// quick server's window taken: the probe's own worker, answered in
/// 0.1 ms, had sent its next requests one after another meanwhile (on
/// loopback, one worker of 128 took the window and p99 latency tripled).
pub(crate) fn cold_start(probe: Option<Millis>, now: Millis) -> Result<Millis, Millis> {
    match probe.filter(|until| *until > now) {
        Some(until) => Err(held_on(until, PROBE_TTL, now)),
        None => Ok(now + PROBE_TTL),
    }
}

/// How long a request holds on a probe that holds the scope until `until`
/// (`ttl` after it went): see [`cold_start`].
fn held_on(until: Millis, ttl: Millis, now: Millis) -> Millis {
    let out = (now + ttl).saturating_sub(until);
    out.clamp(1, PROBE_RECHECK).min(until - now)
}

/// While a scope's limit is unknown (it announces none, and no 429 taught
/// one yet), at most this many requests are in flight (a fleet's, in fair
/// shares) at first (see [`unknown_limit_cap`]). Every request in flight
/// when the unknown limit runs out draws a 429, and so does each one sent
/// before the first 429 is back: this bounds both. (Unbounded, each
/// worker drew one: 1 to 96 429s in the first window of `quota_fleet`'s
/// 4 x 32.)
pub(crate) const OPEN_IN_FLIGHT: u64 = 16;

/// The in-flight bound of [`OPEN_IN_FLIGHT`], `elapsed` ms and `answers`
/// answers into it: a sixteenth of the answers or one per 100 ms,
/// whichever is more. A quick server meets its limit within a second,
/// still bounded; a slow one (an LLM's answers take seconds) is not held
/// to 16 for the minutes that many answers would take.
pub(crate) fn unknown_limit_cap(answers: u64, elapsed: Millis) -> u64 {
    OPEN_IN_FLIGHT.max(answers / 16).max(elapsed / 100)
}

/// Pacing starts when what is left falls below this share of the limit.
const PACE_BELOW: f64 = 0.1;
/// A window whose reset the server did not give is trusted this long.
const UNKNOWN_RESET: Millis = 1_000;
/// A spent window whose reset is unknown (just refilled) is asked again after this.
pub(crate) const RECHECK: Millis = 50;
/// A report whose reset is later than the window's by more than this starts a new window.
pub(crate) const NEW_WINDOW_AFTER: Millis = 1_000;

/// What [`ScopeState::acquire`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Counted in flight; send after this long (pacing).
    Go(Duration),
    /// Nothing counted; ask again after this long.
    Wait(Duration),
    /// Nothing counted: the lease (a fleet member's slice of the shared
    /// window) is spent or expired; ask the ledger for another.
    Renew,
    /// Nothing counted, and no wait would help: the request's cost alone
    /// is more than this window limit, whose reset is this far away.
    Exceeds(u64, Duration),
}

/// How a permit's request ended (see [`ScopeState::release`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Answered (what the answer taught is learned besides).
    Answered,
    /// Sent, and dropped before its answer.
    Unanswered,
    /// Never sent.
    Unsent,
}

/// A fleet member's slice of the shared window, granted by the ledger:
/// what this process may admit on its own, until `until` (by default:
/// none, counting requests, not a probe's or an open scope's).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    /// Units left to admit.
    pub(crate) left: u64,
    /// Units admitted from it so far.
    pub(crate) taken: u64,
    /// When it lapses (the window's end, or the member's renewal deadline).
    pub(crate) until: Millis,
    /// The ledger said "nothing more before this": wait, do not ask.
    pub(crate) hold_until: Millis,
    /// Whether it counts a request's cost (true) or 1.
    pub(crate) counts_cost: bool,
    /// A cold-start probe's single unit (its answer opens or teaches).
    pub(crate) probe: bool,
    /// An open scope's (no limit known): its units bound the requests in
    /// flight, not a window's count. An answer gives its unit back, and a
    /// request that finds none asks again shortly, without a renewal.
    pub(crate) open: bool,
    /// It lasts to its window's end: renewing sooner cannot extend it.
    pub(crate) last: bool,
    /// Non-zero when nothing more can come before this: not renewed
    /// ahead, and once spent, held until then without asking.
    pub(crate) refill: Millis,
}

/// Units one request of `cost` draws from a window.
pub(crate) fn amount(counts_cost: bool, cost: u64) -> u64 {
    if counts_cost {
        cost
    } else {
        1
    }
}

/// Whether `report`'s window draws a request's cost: as its unit says
/// (`requests` and `concurrent-requests` draw 1); without one, any window
/// but one named `requests` (beside a tokens window) or `output-tokens`
/// (Anthropic's: what the answer will cost is not the request's to say;
/// its prompt counts against `input-tokens`).
pub(crate) fn counts_cost(report: &WindowReport) -> bool {
    use crate::hints::QuotaUnit;
    match report.unit() {
        Some(QuotaUnit::Requests | QuotaUnit::ConcurrentRequests) => false,
        Some(_) => true,
        None => !matches!(report.name(), Some("requests" | "output-tokens")),
    }
}

/// How loose a window is, the one rule by which windows beyond
/// [`MAX_WINDOWS`] give way (a response's and a scope's): what is left of
/// its limit, in millionths (a window of unknown limit: loose unless
/// spent); an unknown remaining is loosest.
pub(crate) fn looseness(remaining: Option<u64>, limit: Option<u64>) -> u128 {
    let Some(remaining) = remaining else {
        return u128::MAX;
    };
    u128::from(remaining) * 1_000_000 / u128::from(limit.unwrap_or(remaining).max(1))
}

/// One window as one answer (or one fleet member) reported it, relative
/// to when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) policy: u64,
    pub(crate) limit: Option<u64>,
    pub(crate) remaining: Option<u64>,
    /// Milliseconds to the reset.
    pub(crate) reset: Option<Millis>,
    pub(crate) counts_cost: bool,
    /// The reset is a guess (see [`Window::guessed`]): a member's, or the
    /// ledger's, report of a window whose server gave none.
    pub(crate) guessed: bool,
}

impl Report {
    fn of(report: &WindowReport) -> Self {
        Report {
            // The digest a window is known by (0 for the server's unnamed window).
            policy: report.name().map_or(0, crate::quota::digest),
            // A limit of 0 is no window to refill: refilled to nothing at
            // its reset, it would hold every request from then on, with no
            // answer to teach it otherwise. Its remaining (0) still holds
            // requests until that reset.
            limit: report.limit().filter(|limit| *limit > 0),
            remaining: report.remaining(),
            reset: report.reset().map(as_ms),
            counts_cost: counts_cost(report),
            guessed: false,
        }
    }

    /// The server told no reset (this report's, or the one it relays).
    fn untold(&self) -> bool {
        self.reset.is_none() || self.guessed
    }
}

/// One window (policy) of a scope.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) policy: u64,
    pub(crate) limit: Option<u64>,
    /// The fewest remaining any report of this window gave.
    pub(crate) remaining: u64,
    /// None after an optimistic refill, until a response says.
    pub(crate) reset_at: Option<Millis>,
    pub(crate) counts_cost: bool,
    /// Its length, when known (an inferred window): a refill then knows
    /// the next reset.
    pub(crate) length: Option<Millis>,
    /// The vendor truncates its resets to whole seconds (it said 0 left,
    /// reset 0): each reads up to a second early, so a second is added.
    pub(crate) truncated: bool,
    /// When its reset was learned (see [`read_for`](Self::read_for)).
    pub(crate) learned_at: Millis,
    /// Its reset is a guess ([`UNKNOWN_RESET`]: the server gave none, as
    /// a leaky bucket's): at the guess, one answer confirms what is left.
    pub(crate) guessed: bool,
}

impl Window {
    /// The window as read: from when its reset was learned to `reset`.
    /// How long it held a request at most (a refill's hold), and what the
    /// pacing margin before the reset is a tenth of.
    fn read_for(&self, reset: Millis) -> Millis {
        reset.saturating_sub(self.learned_at)
    }
}

/// One scope's learned state.
#[derive(Debug, Default, Clone)]
pub(crate) struct ScopeState {
    pub(crate) windows: [Option<Window>; MAX_WINDOWS],
    pub(crate) cooldown_until: Option<Millis>,
    pace_next: Option<Millis>,
    /// Permits granted whose responses have not been settled: requests, and cost units.
    in_flight_requests: u64,
    in_flight_cost: u64,
    /// A fleet member's lease (never set in a single process).
    lease: Option<Lease>,
    /// Decisions made ahead (see [`Run`]).
    run: Run,
    /// A low lease asked for its renewal, which has not ended.
    renewing: bool,
    /// Requests of this process waiting for its lease's renewal: the units
    /// it brings are theirs before a fresh request's, whichever is polled
    /// first (else the one that finds them taken waits a further window).
    pub(crate) waiters: u64,
    /// A single process's count toward an inferred window (a fleet's
    /// ledger counts its own).
    pub(crate) tally: Tally,
    /// The last cooldown learned from an answer was a 429's, not a 503's.
    pub(crate) limited: bool,
    /// One process's cold start (a fleet's ledger keeps the fleet's):
    /// nothing is known yet, and the probe out holds the scope until then
    /// (see [`cold_start`]).
    pub(crate) probe: Option<Millis>,
    /// The probe's answer taught nothing: the scope announces no quota,
    /// and its requests go, bounded in flight (see [`unknown_limit_cap`]:
    /// `open_for` counts the answers, and the time from the first request
    /// after it opened), until an answer teaches.
    pub(crate) open: bool,
    open_for: (u64, Option<Millis>),
    /// A spent window refilled, or a cooldown ended, on this store's
    /// clock (a fleet member's too: its lease may hold units), which no
    /// answer has confirmed yet: one request confirms it
    /// before the rest go (0: the next one; else it is out, and the others
    /// hold as on a cold start's probe), for `confirm_for`: a tenth of
    /// what held them, a second at most (resets and waits are sent in
    /// whole seconds). A reset or a wait read early (a vendor that
    /// truncates its seconds, a clock ahead of the server's) then costs
    /// one 429, not one per request held. A window with room left holds no
    /// one back at its refill, and a slow answer (an LLM's) holds no
    /// longer, nor a short window's most.
    confirm: Option<Millis>,
    confirm_for: Millis,
    /// When the cooldown began.
    cooldown_from: Millis,
}

/// A run of decisions made ahead by [`ScopeState::acquire`], from its own
/// rules: the next `left` acquisitions of `cost` before `until` go at
/// once, unpaced, and change nothing but the counts. A lease (or a window)
/// with ample units is then not scanned again per request. Empty while
/// anything could hold or pace; forgotten when the state learns or its
/// lease changes, and by any other decision (it counts in flight).
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    left: u64,
    cost: u64,
    until: Millis,
}

fn ms(value: Millis) -> Duration {
    Duration::from_millis(value)
}

pub(crate) fn as_ms(duration: Duration) -> Millis {
    duration.as_millis().min(u128::from(u64::MAX / 4)) as Millis
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
    pub(crate) fn is_spent(&self, now: Millis) -> bool {
        let mut windows = self.windows.iter().flatten();
        self.cooldown_until.is_none_or(|until| until <= now)
            && windows.all(|window| window.reset_at.is_some_and(|reset| reset <= now))
    }

    /// Whether `cost` may go now, and after what pacing delay (at most
    /// `max_delay`); a `Go` is counted in flight until [`release`](Self::release).
    /// A request that waited for the lease's renewal (`held`) may take
    /// what it holds for [`waiters`](Self::waiters); a fresh one may not.
    pub(crate) fn acquire(
        &mut self,
        cost: u64,
        held: bool,
        max_delay: Duration,
        now: Millis,
        // Drawn only when the go is paced.
        jitter: impl FnOnce() -> f64,
    ) -> Decision {
        let run = self.run;
        if run.left > 0 && run.cost == cost && now < run.until {
            self.run.left -= 1;
            self.count(cost);
            return Decision::Go(Duration::ZERO);
        }
        self.run = Run::default();
        // A cost that never fits is refused; else a hold, if one applies.
        let refused = self.never_fits(cost, now);
        if let Some(decision) = refused.or_else(|| self.hold(cost, held, now)) {
            return decision;
        }
        let capped = self.unknown_limit(now);
        if capped.is_some_and(|cap| self.in_flight_requests >= cap) {
            return Decision::Wait(ms(RECHECK));
        }
        let slot = self.pace_next.filter(|next| *next > now).unwrap_or(now);
        let (wait, pace) = self.scan(cost, as_ms(max_delay), now, slot);
        if wait > 0 {
            return Decision::Wait(ms(wait));
        }
        self.count(cost);
        if self.confirm == Some(0) {
            self.confirm = Some(now + self.confirm_for);
        }
        let delay = match pace {
            None => {
                self.run = self.run_ahead(cost, capped);
                0
            }
            Some((interval, reset)) => {
                self.pace_next = Some(slot + interval);
                let jitter = (interval as f64 * jitter().clamp(0.0, 1.0) * 0.5) as Millis;
                (slot - now + jitter).min(reset - now).min(as_ms(max_delay))
            }
        };
        Decision::Go(ms(delay))
    }

    /// The bound on requests in flight while the scope's limit is unknown:
    /// open (see [`open`](Self::open)), or between a silent vendor's first
    /// 429 and the one that teaches its window (see [`Tally`]).
    fn unknown_limit(&mut self, now: Millis) -> Option<u64> {
        if !self.open {
            return self.tally.unknown_limit(now);
        }
        let since = *self.open_for.1.get_or_insert(now);
        Some(unknown_limit_cap(self.open_for.0, now - since))
    }

    /// A request whose cost alone is more than a window's whole limit (a
    /// prompt larger than a tokens-per-minute limit): no wait lets it go,
    /// so it is refused at once rather than held to `max_wait`.
    fn never_fits(&self, cost: u64, now: Millis) -> Option<Decision> {
        self.windows.iter().flatten().find_map(|window| {
            let limit = window.limit?;
            let reset = window.reset_at.map_or(0, |reset| reset.saturating_sub(now));
            (amount(window.counts_cost, cost) > limit).then(|| Decision::Exceeds(limit, ms(reset)))
        })
    }

    /// What holds a request before the windows are scanned: a cooldown,
    /// a refill's confirmation (see [`confirm`](Self::confirm)), the lease.
    fn hold(&mut self, cost: u64, held: bool, now: Millis) -> Option<Decision> {
        let mut held_for = 0;
        if let Some(until) = self.cooldown_until {
            if until > now {
                return Some(Decision::Wait(ms(until - now)));
            }
            (self.cooldown_until, held_for) = (None, until - self.cooldown_from);
        }
        held_for = held_for.max(self.refill(now));
        if held_for > 0 {
            self.confirm = Some(0);
            self.confirm_for = (held_for / 10).clamp(1, WHOLE_SECOND);
        }
        match self.confirm {
            Some(until) if until > now => {
                return Some(Decision::Wait(ms(held_on(until, self.confirm_for, now))))
            }
            Some(until) if until > 0 => self.confirm = None,
            _ => (),
        }
        let lease = self.lease?;
        if lease.hold_until > now {
            return Some(Decision::Wait(ms(lease.hold_until - now)));
        }
        if lease.until <= now {
            return Some(Decision::Renew);
        }
        // (A fresh request may not take what is kept for the waiters.)
        let kept = if held { 0 } else { self.waiters };
        if lease.left >= amount(lease.counts_cost, cost) + kept {
            return None;
        }
        // An open lease's units come back with the answers.
        if lease.open {
            return Some(Decision::Wait(ms(RECHECK)));
        }
        // (A refill past the lease's end: the ledger says how long.)
        let refill = Some(lease.refill).filter(|at| *at > now && *at <= lease.until);
        Some(refill.map_or(Decision::Renew, |at| Decision::Wait(ms(at - now))))
    }

    /// [`acquire`](Self::acquire) while the scope is cold (see
    /// [`probe`](Self::probe)): the probe goes, counted, or this one holds.
    pub(crate) fn acquire_cold(&mut self, cost: u64, now: Millis) -> Decision {
        match cold_start(self.probe, now) {
            Ok(until) => self.probe = Some(until),
            Err(hold) => return Decision::Wait(ms(hold)),
        }
        self.count(cost);
        Decision::Go(Duration::ZERO)
    }

    /// Counts a go of `cost` in flight and takes it from the lease.
    #[inline]
    fn count(&mut self, cost: u64) {
        self.in_flight_requests = self.in_flight_requests.saturating_add(1);
        self.in_flight_cost = self.in_flight_cost.saturating_add(cost);
        if let Some(lease) = self.lease.as_mut() {
            let need = amount(lease.counts_cost, cost);
            lease.left -= need;
            lease.taken += need;
        }
    }

    /// How many more unpaced goes of `cost` the current counts allow with
    /// no other decision: what the lease holds, and what each window has
    /// above the mark where pacing may start (the whole of it when it
    /// cannot pace); until the lease lapses or a window resets.
    fn run_ahead(&self, cost: u64, capped: Option<u64>) -> Run {
        if self.confirm.is_some() {
            return Run::default();
        }
        let lease = self.lease.map(|l| {
            let need = amount(l.counts_cost, cost).max(1);
            (l.left.saturating_sub(self.waiters) / need, l.until)
        });
        let (mut left, mut until) = lease.unwrap_or((u64::MAX, Millis::MAX));
        if let Some(cap) = capped {
            left = left.min(cap.saturating_sub(self.in_flight_requests));
        }
        for window in self.windows.iter().flatten() {
            let available = window.remaining.saturating_sub(self.in_flight(window));
            let mark = match (window.limit, window.reset_at) {
                (Some(limit), Some(_)) => (limit as f64 * PACE_BELOW).ceil() as u64,
                _ => 0,
            };
            let need = amount(window.counts_cost, cost).max(1);
            left = left.min(available.saturating_sub(mark) / need);
            until = until.min(window.reset_at.unwrap_or(Millis::MAX));
        }
        Run { left, cost, until }
    }

    /// Windows that have reset refill (when their limit is known) or are
    /// forgotten. How long the longest spent (or inferred) one that
    /// refilled held requests at most (0: none; on this clock: an answer
    /// confirms it, see [`confirm`](Self::confirm)).
    pub(crate) fn refill(&mut self, now: Millis) -> Millis {
        let mut refilled = 0;
        let (requests, units) = (self.in_flight_requests, self.in_flight_cost);
        for slot in self.windows.iter_mut() {
            let Some(window) = slot else { continue };
            let Some(reset) = window.reset_at.filter(|reset| *reset <= now) else {
                continue;
            };
            let held = if window.counts_cost { units } else { requests };
            // (An inferred window's reset is a guess, and so is one the
            // server gave none (a leaky bucket's, Shopify's `39/40`, has
            // leaked a unit or two by then, not refilled): confirmed even
            // with room left, so that a guess early draws one 429, not a
            // burst. The others wait for the answer a guess's second at
            // most: it, not the limit, says what is left. A spent window
            // with no limit (Reddit's, Fastly's) is confirmed too, then
            // forgotten.)
            if window.remaining <= held || window.policy == INFERRED || window.guessed {
                // (A guess's span is ten of its second: the confirmation
                // is waited for a tenth of the span, here that second.)
                let span = match window.guessed {
                    true => UNKNOWN_RESET * 10,
                    false => window.length.unwrap_or(window.read_for(reset)),
                };
                refilled = refilled.max(span.max(1));
            }
            let Some(limit) = window.limit else {
                *slot = None;
                continue;
            };
            window.remaining = limit;
            let length = window.length.filter(|l| *l > 0);
            window.reset_at = length.map(|length| reset + ((now - reset) / length + 1) * length);
        }
        refilled
    }

    /// The tightest window decides: how long to wait (0: none), or the
    /// pacing interval and reset of the window that paces widest. Pacing
    /// slots are handed out in order from `slot`; each window below its
    /// pacing mark asks for what is left of its time to reset, split over
    /// what is left of it.
    fn scan(
        &self,
        cost: u64,
        max_delay: Millis,
        now: Millis,
        slot: Millis,
    ) -> (Millis, Option<(Millis, Millis)>) {
        let mut wait = 0;
        let mut pace: Option<(Millis, Millis)> = None;
        for window in self.windows.iter().flatten() {
            let need = amount(window.counts_cost, cost);
            let available = window.remaining.saturating_sub(self.in_flight(window));
            if available < need {
                let until = window.reset_at.map_or(RECHECK, |r| r.saturating_sub(now));
                wait = wait.max(until.max(1));
                continue;
            }
            let (Some(limit), Some(reset)) = (window.limit, window.reset_at) else {
                continue;
            };
            let left = available - need;
            // Paced to end a tenth of the window as read before the reset
            // read (a second at most): one read in whole seconds may be
            // that late, and a request paced to the reset read lands in
            // the next window, which it then takes from. (Measured from
            // when the reset was read, not from now: the read is no less
            // late as the window goes on.)
            let end = reset - (window.read_for(reset) / 10).min(WHOLE_SECOND);
            let paced = (left as f64) < (limit as f64) * PACE_BELOW
                && reset.saturating_sub(now) <= max_delay
                && slot < end;
            if paced {
                let interval = (end - slot) / left.saturating_add(1);
                if pace.is_none_or(|(current, _)| interval > current) {
                    pace = Some((interval, end));
                }
            }
        }
        (wait, pace)
    }

    /// Uncounts a permit of `cost` granted by [`acquire`](Self::acquire).
    /// One never sent goes back to the lease; one sent and dropped before
    /// its answer stays spent (the vendor may have counted it), unless it
    /// was a probe's or an open lease's (their units bound what is in
    /// flight, not a window's count). A cold scope's probe ends: answered,
    /// the scope opens (unless the answer teaches it); unanswered, another
    /// may probe at once. So does a refill's confirmation (answered, the
    /// rest go).
    pub(crate) fn release(&mut self, cost: u64, ended: Ended) {
        let answered = ended == Ended::Answered;
        self.in_flight_requests = self.in_flight_requests.saturating_sub(1);
        self.in_flight_cost = self.in_flight_cost.saturating_sub(cost);
        if self.probe.is_some() {
            (self.probe, self.open, self.open_for) =
                (Some(0).filter(|_| !answered), answered, (0, None));
        } else if self.open && answered {
            self.open_for.0 += 1;
        }
        // (Whatever the answer, the refill is as confirmed as it will be;
        // unanswered, the next request confirms it.)
        self.confirm = self.confirm.and((!answered).then_some(0));
        let unsent = ended == Ended::Unsent;
        let back = |lease: &Lease| unsent || lease.open || (!answered && lease.probe);
        if let Some(lease) = self.lease.as_mut().filter(|lease| back(lease)) {
            let need = amount(lease.counts_cost, cost).min(lease.taken);
            lease.left += need;
            lease.taken -= need;
        }
        if ended == Ended::Unanswered {
            // Counted by the vendor, though no answer says what is left:
            // the next answer's report replaces this.
            for window in self.windows.iter_mut().flatten() {
                let spent = amount(window.counts_cost, cost);
                window.remaining = window.remaining.saturating_sub(spent);
            }
            self.run = Run::default();
        }
    }

    /// Whether the lease should be renewed now, ahead of running out:
    /// under a quarter of what it held left (unless nothing more can come
    /// before its refill time, or it is open), or most of its time gone.
    /// Never a probe's: only its answer brings more (the ledger holds a
    /// renewal meanwhile), and the renewal that tells the fleet that answer
    /// must not find another already on its way.
    /// Said once, until [`renewal_ended`](Self::renewal_ended) or the
    /// lease changes: the requests that find it low meanwhile do not ask
    /// again.
    pub(crate) fn lease_runs_low(&mut self, now: Millis, renew_within: Millis) -> bool {
        let lease = self
            .lease
            .filter(|l| !self.renewing && l.hold_until <= now && !l.probe);
        let Some(lease) = lease else { return false };
        let few = lease.refill == 0 && !lease.open && lease.left * 4 <= lease.left + lease.taken;
        let low = few || (!lease.last && lease.until.saturating_sub(now) <= renew_within);
        self.renewing |= low;
        low
    }

    /// Learns reports (see [`reports`](Self::reports)) made `now`, of a
    /// state as it was at `sent` (an answer's: when its request went).
    pub(crate) fn learn_reports(
        &mut self,
        reports: impl IntoIterator<Item = Report>,
        cooldown: Option<Millis>,
        sent: Millis,
        now: Millis,
    ) {
        self.run = Run::default();
        if let Some(cooldown) = cooldown {
            let until = now + cooldown;
            if self.cooldown_until.is_none_or(|c| c <= now) {
                self.cooldown_from = now;
            }
            self.cooldown_until = Some(self.cooldown_until.map_or(until, |c| c.max(until)));
        }
        for report in reports {
            self.learn_window(report, sent, now);
        }
    }
    /// Learns what one answer, to a request sent at `sent`, reported: its
    /// cooldown and windows.
    pub(crate) fn learn(&mut self, observation: &Observation, sent: Millis, now: Millis) {
        let reports = observation.windows().iter().map(Report::of);
        if observation.cooldown().is_some() {
            self.limited = observation.is_rate_limited();
        }
        self.learn_reports(reports, observation.cooldown().map(as_ms), sent, now);
    }

    fn learn_window(&mut self, report: Report, sent: Millis, now: Millis) {
        let reset_at = now + report.reset.unwrap_or(UNKNOWN_RESET);
        let policy = report.policy;
        let mut windows = self.windows.iter_mut().flatten();
        let existing = windows.find(|window| window.policy == policy);
        let Some(window) = existing else {
            let Some(remaining) = report.remaining else {
                return;
            };
            // (Reset 0 says only that the window ends within the second:
            // a vendor that truncates says so all through its last one.)
            let truncates = report.reset == Some(0);
            let within = now + if truncates { WHOLE_SECOND } else { 0 };
            let window = Window {
                policy,
                limit: report.limit,
                remaining,
                reset_at: Some(reset_at.max(within)),
                counts_cost: report.counts_cost,
                learned_at: now,
                guessed: report.untold(),
                ..Window::default()
            };
            // The first free slot, else the loosest kept (or one reset),
            // if this one is tighter: no answer naming many
            // policies once blinds the scope to a spent one later.
            let kept = |slot: &Option<Window>| match slot {
                Some(w) if w.reset_at.is_none_or(|reset| reset > now) => {
                    looseness(Some(w.remaining), w.limit)
                }
                _ => u128::MAX,
            };
            let loosest = self.windows.iter_mut().rev().max_by_key(|slot| kept(slot));
            let own = looseness(Some(remaining), report.limit);
            if let Some(slot) = loosest.filter(|slot| kept(slot) > own) {
                *slot = Some(window);
            }
            return;
        };
        window.limit = report.limit.or(window.limit);
        window.counts_cost = report.counts_cost;
        let Some(remaining) = report.remaining else {
            return;
        };
        window.truncated |= remaining == 0 && report.reset == Some(0);
        let new_window = match window.reset_at {
            // Refilled: the first report of the new window.
            None => true,
            // A reset further on, and more left than this window has: an
            // answer of the window's last second reads its reset up to a
            // second late (rounded up, then its latency), and says as
            // little left as the window has, or less.
            Some(current) => reset_at > current + NEW_WINDOW_AFTER && remaining > window.remaining,
        };
        let reset_at = reset_at + if window.truncated { WHOLE_SECOND } else { 0 };
        // An earlier end: a window that ended before this one began (an
        // answer to a request sent before this one was learned, back
        // after: answers' latencies vary) says nothing of this one (taken
        // for it, its "0 left" held a window the vendor had just refilled
        // to its end). Else it is this window's (fewer left counts), and
        // spent, a window that shrank (a shorter policy) binds until its
        // reset, as a new one: ignored, each request after it drew a 429.
        // (The same window's, read a second early, is a tighter reading
        // of its end; taken unspent, later answers flipped it back.)
        let current = window.reset_at.unwrap_or(0);
        let earlier = report.reset.is_some() && reset_at + NEW_WINDOW_AFTER < current;
        if !earlier || sent >= window.learned_at {
            let shrank = earlier && remaining == 0 && window.remaining > 0;
            window.take(report, (remaining, reset_at), new_window || shrank, now);
        }
    }
}

impl Window {
    /// Takes a report of `remaining` (and `reset_at`, as read) into the
    /// window: as its next window's first (`new_window`), else as one more
    /// reading of it.
    fn take(&mut self, report: Report, read: (u64, Millis), new_window: bool, now: Millis) {
        let (remaining, reset_at) = read;
        if new_window {
            // (A late answer from the window that just ended, reset 0,
            // says nothing about the new one; unless the vendor truncates,
            // and its windows' every answer may say 0.)
            if report.reset != Some(0) || self.truncated {
                self.remaining = remaining;
                (self.reset_at, self.learned_at) = (Some(reset_at), now);
                self.guessed = report.untold();
            }
            return;
        }
        self.remaining = self.remaining.min(remaining);
        let ends_no_sooner = match report.reset {
            // Reset 0 in the window: a vendor that truncates its whole
            // seconds, whose window ends within the next one (its earlier
            // resets read up to a second early: refilled there, the
            // requests in flight drew 429s).
            Some(0) => Some(now + WHOLE_SECOND),
            // Spent, with no reset told: trusted a whole period from the
            // answer that says so, not from the window's first. (A leaky
            // bucket, Shopify's `40/40`, has leaked a unit or two a period
            // after it is full; "refilled" at the end of a period begun
            // earlier, a request went into the full bucket: a 429 every
            // 3 s in one run of ten.)
            None if remaining == 0 => Some(reset_at),
            _ => None,
        };
        if let Some(end) = ends_no_sooner {
            self.reset_at = self.reset_at.map(|at| at.max(end));
            self.guessed |= report.untold();
        }
    }
}

/// What only a fleet's stores (feature `redis`) read and set: the lease,
/// its renewal, and what a member and the ledger tell each other.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl ScopeState {
    /// The lease.
    pub(crate) fn lease(&self) -> Option<Lease> {
        self.lease
    }

    /// The lease, to set or change: decisions made ahead are forgotten,
    /// and a new lease that runs low asks for its renewal.
    pub(crate) fn lease_mut(&mut self) -> &mut Option<Lease> {
        self.run = Run::default();
        self.renewing = false;
        &mut self.lease
    }

    /// The renewal a low lease asked for ended (renewed or not): a lease
    /// still low asks again.
    pub(crate) fn renewal_ended(&mut self) {
        self.renewing = false;
    }

    /// The tightest window (fewest remaining) with a known reset or limit
    /// (a refilled window whose next reset no answer gave yet): the one a
    /// fleet divides into leases.
    pub(crate) fn binding(&self) -> Option<Window> {
        let windows = self.windows.iter().flatten();
        let told = windows.filter(|w| w.reset_at.is_some() || w.limit.is_some());
        told.min_by_key(|w| w.remaining).copied()
    }

    /// What this state knows, relative to `now`: its live windows and the
    /// time left of its cooldown (what a fleet member tells the ledger, and
    /// the ledger tells a member).
    pub(crate) fn reports(&self, now: Millis) -> ([Option<Report>; MAX_WINDOWS], Option<Millis>) {
        let reports = self.windows.map(|window| {
            let window = window?;
            let reset_at = window.reset_at.filter(|reset| *reset > now)?;
            Some(Report {
                policy: window.policy,
                limit: window.limit,
                remaining: Some(window.remaining),
                reset: Some(reset_at - now),
                counts_cost: window.counts_cost,
                guessed: window.guessed,
            })
        });
        let cooldown = self.cooldown_until.filter(|until| *until > now);
        (reports, cooldown.map(|until| until - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(limit: u64, remaining: u64, reset: u64) -> Observation {
        Observation::new().with_window(WindowReport::new(
            None,
            Some(limit),
            Some(remaining),
            Some(Duration::from_secs(reset)),
            None,
        ))
    }

    const FOREVER: Duration = Duration::from_secs(3600);

    /// A lease of `left` units counting cost, until `until`, nothing else set.
    fn lease_of(left: u64, until: Millis) -> Lease {
        Lease {
            left,
            taken: 0,
            until,
            hold_until: 0,
            counts_cost: true,
            probe: false,
            open: false,
            last: false,
            refill: 0,
        }
    }

    /// A scope full of policies learns a tighter one in the loosest's
    /// place (or a reset one's), and no looser one: the tightest binds
    /// (module docs of `quota`; `MAX_WINDOWS`). Kept only in a free
    /// slot, a policy announced spent after four roomy ones was ignored.
    #[test]
    fn a_scope_full_of_policies_learns_a_tighter_one_in_the_loosests_place() {
        let named = |name, limit, remaining, reset| {
            let reset = Some(Duration::from_secs(reset));
            Observation::new().with_window(WindowReport::new(
                Some(name),
                Some(limit),
                Some(remaining),
                reset,
                None,
            ))
        };
        let mut state = ScopeState::default();
        for (name, left, reset) in [("a", 90, 50), ("b", 50, 50), ("c", 95, 50), ("d", 80, 5)] {
            state.learn(&named(name, 100, left, reset), 0, 0);
        }
        let kept = |state: &ScopeState| state.windows.map(|w| w.unwrap().remaining);
        state.learn(&named("e", 1_000, 960, 50), 0, 0);
        assert_eq!(kept(&state), [90, 50, 95, 80], "looser than every one kept");
        state.learn(&named("e", 10, 0, 20), 0, 0);
        assert_eq!(kept(&state), [90, 50, 0, 80], "in the loosest's place");
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        assert_eq!(go(&mut state, 0), Decision::Wait(Duration::from_secs(20)));
        // Once `d` has reset, a looser one takes its place.
        state.learn(&named("f", 100, 99, 50), 6_000, 6_000);
        assert_eq!(kept(&state), [90, 50, 0, 99], "in the reset one's place");
    }

    /// A window the server gave no reset (a leaky bucket's, Shopify's
    /// `39/40`) is not refilled to its limit at the guessed reset: one
    /// request confirms it, the others wait for its answer (a second at
    /// most), which says what is left. Refilled to 40, every held caller
    /// went at once into a bucket that had leaked 2.
    #[test]
    fn a_guessed_reset_is_confirmed_even_with_room_left() {
        let mut state = ScopeState::default();
        let bucket = |remaining| {
            let window = WindowReport::new(None, Some(40), Some(remaining), None, None);
            Observation::new().with_window(window)
        };
        state.learn(&bucket(1), 0, 0);
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        assert_eq!(go(&mut state, 1_000), Decision::Go(Duration::ZERO));
        assert_eq!(
            go(&mut state, 1_000),
            Decision::Wait(Duration::from_millis(1))
        );
        assert!(
            matches!(go(&mut state, 1_900), Decision::Wait(_)),
            "held for its answer"
        );
        state.release(1, Ended::Answered);
        state.learn(&bucket(2), 1_020, 1_020);
        assert_eq!(state.windows[0].unwrap().remaining, 2, "the answer, not 40");
        assert_eq!(go(&mut state, 1_020), Decision::Go(Duration::ZERO));
    }

    /// One probe at a time; the held ask again after as long as it has
    /// been out (1 ms at least, 50 ms at most), and another may probe once
    /// it has been out 2 s.
    #[test]
    fn the_held_ask_again_as_the_probe_ages() {
        assert_eq!(cold_start(None, 1_000), Ok(1_000 + PROBE_TTL));
        let out = Some(1_000 + PROBE_TTL);
        let holds = [(1_000, 1), (1_010, 10), (1_040, 40), (1_500, PROBE_RECHECK)];
        for (now, hold) in holds {
            assert_eq!(cold_start(out, now), Err(hold), "at {now}");
        }
        assert_eq!(cold_start(out, 2_990), Err(10), "until it lapses");
        assert_eq!(cold_start(out, 3_000), Ok(3_000 + PROBE_TTL));
    }

    /// A limit of 0 is learned as no limit: its spent window holds requests
    /// until its reset, then is forgotten (refilled to nothing, it held
    /// every request from then on, with nothing sent to teach it again).
    #[test]
    fn a_limit_of_zero_holds_to_its_reset_only() {
        let mut state = ScopeState::default();
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        state.learn(&report(0, 0, 60), 100, 100);
        assert_eq!(
            go(&mut state, 1_100),
            Decision::Wait(Duration::from_millis(59_000))
        );
        assert_eq!(go(&mut state, 60_100), Decision::Go(Duration::ZERO));
        assert!(state.windows.iter().all(Option::is_none));
    }

    /// A window refilled on this store's clock is confirmed by one request
    /// before the rest go. A vendor that truncates its seconds gave a
    /// reset read up to a second early: the one request draws a 429 (0
    /// left, reset 0, a second's wait), which holds the others, and which
    /// teaches that its resets read a second early. Before, every request
    /// in flight at the refill drew one (`quota_fleet`, 1 x 128,
    /// `QUOTA_FLEET_RESET_FLOOR=1`: 107 429s per 1,000, 1.1 after).
    #[test]
    fn a_refilled_window_is_confirmed_by_one_request() {
        let mut state = ScopeState::default();
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        state.learn(&report(300, 0, 9), 100, 100);
        assert_eq!(
            go(&mut state, 9_100),
            Decision::Go(Duration::ZERO),
            "it confirms"
        );
        assert_eq!(
            go(&mut state, 9_100),
            Decision::Wait(Duration::from_millis(1))
        );
        assert_eq!(
            go(&mut state, 9_120),
            Decision::Wait(Duration::from_millis(20))
        );
        state.release(1, Ended::Answered);
        let throttled = report(300, 0, 0).with_cooldown(Duration::from_secs(1));
        state.learn(&throttled, 9_130, 9_130);
        assert_eq!(
            go(&mut state, 9_140),
            Decision::Wait(Duration::from_millis(990))
        );
        // The next refill is confirmed too; its answer lets the rest go.
        assert_eq!(go(&mut state, 10_130), Decision::Go(Duration::ZERO));
        assert_eq!(
            go(&mut state, 10_131),
            Decision::Wait(Duration::from_millis(1))
        );
        state.release(1, Ended::Answered);
        state.learn(&report(300, 299, 9), 10_132, 10_132);
        for _ in 0..100 {
            assert_eq!(go(&mut state, 10_140), Decision::Go(Duration::ZERO));
        }
        // A confirmation dropped unanswered lets another go at once.
        state.learn(&report(300, 0, 1), 10_150, 10_150);
        assert_eq!(go(&mut state, 21_200), Decision::Go(Duration::ZERO));
        state.release(1, Ended::Unsent);
        assert_eq!(go(&mut state, 21_201), Decision::Go(Duration::ZERO));
    }

    /// An inferred window's reset is a guess (a vendor that announces
    /// nothing): its refill is confirmed even with room left, so that a
    /// guess early draws one 429, not one per request held.
    #[test]
    fn an_inferred_windows_refill_is_confirmed() {
        use super::super::inferred::{install, Inferred};
        let mut state = ScopeState::default();
        install(&mut state.windows, &Inferred::first(300, 10_000, 0, 0));
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        assert_eq!(go(&mut state, 10_000), Decision::Go(Duration::ZERO));
        assert_eq!(
            go(&mut state, 10_000),
            Decision::Wait(Duration::from_millis(1))
        );
    }

    /// Only a spent window's refill, or a cooldown's end, is confirmed (a
    /// window with room left held no one back), and a slow answer (an
    /// LLM's takes seconds) holds the others a tenth of what held them, a
    /// second at most: a reset or wait sent in whole seconds is that far
    /// off at most, and a short window loses no more than a tenth.
    #[test]
    fn a_refill_holds_only_when_spent_and_a_tenth_at_most() {
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        let mut roomy = ScopeState::default();
        roomy.learn(&report(500, 499, 1), 0, 0);
        for now in [1_000, 1_000, 1_001] {
            assert_eq!(go(&mut roomy, now), Decision::Go(Duration::ZERO));
        }
        // Rows: (the window's length, the holds asked as its refill's
        // confirmation ages, when the others go).
        let rows = [
            (10, [(500, 50), (990, 10)], 1_000),
            (1, [(20, 20), (90, 10)], 100),
        ];
        for (secs, holds, lapse) in rows {
            let mut spent = ScopeState::default();
            spent.learn(&report(500, 0, secs), 0, 0);
            let reset = secs * 1_000;
            assert_eq!(go(&mut spent, reset), Decision::Go(Duration::ZERO));
            for (after, hold) in holds {
                let wait = Decision::Wait(Duration::from_millis(hold));
                assert_eq!(go(&mut spent, reset + after), wait, "{secs} s, at {after}");
            }
            for _ in 0..3 {
                assert_eq!(go(&mut spent, reset + lapse), Decision::Go(Duration::ZERO));
            }
        }
        // A 429's wait (whole seconds too) ends the same way.
        let mut cooled = ScopeState::default();
        let wait = Observation::new().with_cooldown(Duration::from_secs(2));
        cooled.learn(&wait, 8_000, 8_000);
        assert_eq!(go(&mut cooled, 10_000), Decision::Go(Duration::ZERO));
        let held = Decision::Wait(Duration::from_millis(1));
        assert_eq!(go(&mut cooled, 10_000), held);
        assert_eq!(go(&mut cooled, 10_200), Decision::Go(Duration::ZERO));
        // A fleet member too, its lease's units notwithstanding: a fleet's
        // wait read early costs one 429 per member, not one per worker.
        let mut member = ScopeState::default();
        *member.lease_mut() = Some(lease_of(100, 60_000));
        member.learn(&wait, 8_000, 8_000);
        assert_eq!(go(&mut member, 10_000), Decision::Go(Duration::ZERO));
        assert_eq!(go(&mut member, 10_000), held);
        member.release(1, Ended::Answered);
        assert_eq!(go(&mut member, 10_001), Decision::Go(Duration::ZERO));
    }

    /// An answer from the window before, back after the new window's first
    /// (answers' latencies vary: sent at 9.99 s, it says 0 left, reset in
    /// 1 s) says nothing of the new window. Taken for it, its "0 left"
    /// held the window the vendor had just refilled to its end.
    #[test]
    fn a_late_answer_of_the_window_before_is_not_the_new_ones() {
        let mut state = ScopeState::default();
        state.learn(&report(300, 0, 1), 9_000, 9_000);
        state.refill(10_000);
        state.learn(&report(300, 299, 10), 10_005, 10_005);
        state.learn(&report(300, 0, 1), 9_990, 10_010);
        let window = state.windows[0].unwrap();
        assert_eq!((window.remaining, window.reset_at), (299, Some(20_005)));
        // An answer of the new window still counts.
        state.learn(&report(300, 250, 9), 11_000, 11_000);
        assert_eq!(state.windows[0].unwrap().remaining, 250);
    }

    /// An answer to a request sent after the window was learned is this
    /// window's, whatever its reset: what it says is left counts, and
    /// spent, it binds until its earlier reset (module docs of `quota`:
    /// "At zero, a request is held until the reset"). A window that
    /// shrinks (40 left for 60 s, then 0 of 3 for 20 s) was ignored, and
    /// each request after it drew a 429. Unspent, the later reset stays:
    /// the same window's answers, read in whole seconds, differ by a
    /// second, and one moved earlier was flipped back by the next.
    #[test]
    fn an_earlier_reset_with_fewer_left_binds_until_then() {
        let mut state = ScopeState::default();
        state.learn(&report(100, 40, 60), 1_000, 1_000);
        state.learn(&report(100, 50, 20), 1_000, 1_010);
        assert_eq!(
            state.windows[0].unwrap().remaining,
            40,
            "more left: no change"
        );
        state.learn(&report(100, 30, 20), 1_000, 1_015);
        let window = state.windows[0].unwrap();
        assert_eq!(
            (window.remaining, window.reset_at),
            (30, Some(61_000)),
            "fewer"
        );
        state.learn(&report(3, 0, 20), 1_000, 1_020);
        let window = state.windows[0].unwrap();
        assert_eq!((window.remaining, window.reset_at), (0, Some(21_020)));
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        assert_eq!(
            go(&mut state, 1_020),
            Decision::Wait(Duration::from_secs(20))
        );
        assert_eq!(
            go(&mut state, 21_020),
            Decision::Go(Duration::ZERO),
            "refilled to 3"
        );
    }

    /// An answer of the window's last second, its reset rounded up to 2 s
    /// (sent 1.007 s before the vendor's reset, back 20 ms later), is still
    /// this window's: it says no more left. Taken for a new window's first,
    /// its "0 left" held the scope until 11 s, a second past the refill.
    #[test]
    fn a_reset_read_late_in_the_windows_last_second_is_not_a_new_window() {
        let mut state = ScopeState::default();
        state.learn(&report(300, 299, 10), 5, 5);
        state.learn(&report(300, 0, 2), 9_013, 9_013);
        let window = state.windows[0].unwrap();
        assert_eq!((window.remaining, window.reset_at), (0, Some(10_005)));
        // The next window's first answer, before the refill here.
        state.learn(&report(300, 299, 10), 10_004, 10_004);
        assert_eq!(state.windows[0].unwrap().remaining, 299);
    }

    /// Paced requests end a tenth of the window as read before the reset
    /// read (a second at most): paced to the reset itself, the last ones
    /// were sent a few ms after the vendor's (read late by its rounding, or
    /// by the latency) and counted in its next window, which they took from.
    #[test]
    fn pacing_ends_before_the_reset() {
        let mut state = ScopeState::default();
        state.learn(&report(100, 5, 10), 0, 0);
        let mut last = 0;
        for _ in 0..5 {
            match state.acquire(1, false, FOREVER, 0, || 1.0) {
                Decision::Go(delay) => last = last.max(as_ms(delay)),
                other => panic!("{other:?}"),
            }
        }
        assert!(last < 9_000, "the last paced at {last} ms");
    }

    /// The margin before the reset read holds as the window goes on: the
    /// read is no less late for it. (The vendor's window ends at 20 s; its
    /// first answer came 0.816 s into it, "reset 10", read 0.82 s late.
    /// Taken as a tenth of the time left, at 19 s the margin was 0.18 s and
    /// the window's last paced request went after the vendor's reset: the
    /// window used 299 of 300, 1 run in 200 of the varied-latency fleet.)
    #[test]
    fn the_margin_before_the_reset_holds_as_the_window_goes_on() {
        let mut state = ScopeState::default();
        state.learn(&report(300, 299, 10), 10_820, 10_820);
        state.learn(&report(300, 5, 2), 19_000, 19_000);
        let mut last = 0;
        for _ in 0..5 {
            match state.acquire(1, false, FOREVER, 19_000, || 1.0) {
                Decision::Go(delay) => last = last.max(19_000 + as_ms(delay)),
                other => panic!("{other:?}"),
            }
        }
        assert!(last <= 19_820, "the last paced at {last} ms");
    }

    /// A vendor that announces nothing, between its first 429 and the one
    /// that teaches its window: a limit is shown but not its size. At most
    /// [`OPEN_IN_FLIGHT`] requests are in flight, so that running into it
    /// again draws a few 429s, not one per worker (`quota_fleet`, 1 x 128,
    /// no quota headers: window 1 drew 81 429s, now 4 to 10).
    #[test]
    fn an_unknown_limit_bounds_the_requests_in_flight() {
        let mut state = ScopeState::default();
        state.tally.throttled(1_000, &mut state.windows);
        let go = |state: &mut ScopeState| state.acquire(1, false, FOREVER, 1_000, || 0.0);
        for _ in 0..OPEN_IN_FLIGHT {
            assert_eq!(go(&mut state), Decision::Go(Duration::ZERO));
        }
        let recheck = Duration::from_millis(RECHECK);
        assert_eq!(go(&mut state), Decision::Wait(recheck));
        state.release(1, Ended::Answered);
        assert_eq!(
            go(&mut state),
            Decision::Go(Duration::ZERO),
            "an answer makes room"
        );
        assert_eq!(go(&mut state), Decision::Wait(recheck));
        // Slow answers: one per 100 ms once that is more (20 at 2 s).
        let at = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        for _ in 0..4 {
            assert_eq!(at(&mut state, 3_000), Decision::Go(Duration::ZERO));
        }
        assert_eq!(at(&mut state, 3_000), Decision::Wait(recheck));
    }

    /// A vendor that truncates its whole seconds (10 s windows ending at
    /// 10 s, 20 s, ...): 0.1 s into a window it says 9, so the end read
    /// is 0.9 s early, and refilled there, the requests in flight drew
    /// 429s (`quota_fleet` with `QUOTA_FLEET_RESET_FLOOR=1`: 101 per
    /// 1,000 in one process). Once it said 0 left, reset 0, a second is
    /// added to its resets.
    #[test]
    fn a_vendor_that_truncates_its_resets_is_read_a_second_later() {
        let mut state = ScopeState::default();
        let end = |state: &ScopeState| state.windows[0].and_then(|w| w.reset_at);
        state.learn(&report(300, 299, 9), 10_100, 10_100);
        assert_eq!(end(&state), Some(19_100), "read early: not yet known");
        state.learn(&report(300, 0, 0), 19_500, 19_500);
        assert_eq!(end(&state), Some(20_500), "its last second");
        state.refill(20_500);
        state.learn(&report(300, 299, 9), 20_100 + 500, 20_100 + 500);
        assert_eq!(
            end(&state),
            Some(30_600),
            "the next window: ends at 30 s at the earliest"
        );
    }

    /// A vendor that truncates its resets, with 1 s windows (10 per 1 s):
    /// every answer says reset 0. Read as "now", its first window ended
    /// as soon as it was learned, and every later answer was taken for a
    /// late one of a window gone: the local view never held a request,
    /// and 128 workers drew 648 429s per 1,000 (`quota_fleet`, 1 x 128,
    /// `QUOTA_FLEET_LIMIT=10 QUOTA_FLEET_WINDOW=1 QUOTA_FLEET_RESET_FLOOR=1`).
    /// Reset 0 says the window ends within the second.
    #[test]
    fn a_reset_of_zero_ends_within_the_second() {
        let mut state = ScopeState::default();
        let end = |state: &ScopeState| state.windows[0].and_then(|w| w.reset_at);
        state.learn(&report(10, 9, 0), 100, 100);
        assert_eq!(end(&state), Some(1_100), "within the second");
        state.learn(&report(10, 0, 0), 400, 400);
        assert_eq!(end(&state), Some(1_400), "spent: a second after");
        let go = |state: &mut ScopeState, now| state.acquire(1, false, FOREVER, now, || 0.0);
        assert_eq!(
            go(&mut state, 1_000),
            Decision::Wait(Duration::from_millis(400))
        );
        assert_eq!(go(&mut state, 1_400), Decision::Go(Duration::ZERO));
        state.release(1, Ended::Answered);
        // Refilled: the next window's answers say reset 0 too, and teach it.
        state.learn(&report(10, 0, 0), 1_450, 1_450);
        assert_eq!(end(&state), Some(2_450), "the next window, learned");
        assert_eq!(
            go(&mut state, 1_500),
            Decision::Wait(Duration::from_millis(950))
        );
    }

    #[test]
    fn decisions_on_a_given_clock() {
        let mut state = ScopeState::default();
        state.learn(&report(100, 1, 10), 1_000, 1_000);
        assert_eq!(
            state.acquire(1, false, FOREVER, 1_000, || 0.0),
            Decision::Go(Duration::ZERO)
        );
        assert_eq!(
            state.acquire(1, false, FOREVER, 1_000, || 0.0),
            Decision::Wait(Duration::from_secs(10))
        );
        // The reset comes from the clock reading alone: 10 s later, refilled.
        assert_eq!(
            state.acquire(1, false, FOREVER, 11_000, || 0.0),
            Decision::Go(Duration::ZERO)
        );
        state.release(1, Ended::Answered);
        assert!(!state.is_spent(11_000));
    }
    /// A run decided ahead gives every request the decision a fresh scan
    /// would (the same goes, counts and lease), and ends where a scan
    /// could differ: the lease's end or units, the pacing mark, a lesson,
    /// a lease changed.
    #[test]
    fn decisions_made_ahead_are_the_decisions_a_scan_makes() {
        let mut state = ScopeState::default();
        state.learn(&report(100, 100, 10), 0, 0);
        *state.lease_mut() = Some(lease_of(40, 3_000));
        let mut scanned = state.clone();
        let decide = |state: &mut ScopeState, now, cost| {
            state.acquire(cost, false, Duration::ZERO, now, || 0.0)
        };
        for step in 0..40u64 {
            let (now, cost) = (step * 100, 1 + step / 25);
            if step == 20 {
                // A release in between: the run stands, scans agree.
                state.release(1, Ended::Unsent);
                scanned.release(1, Ended::Unsent);
            }
            let expected = decide(&mut scanned, now, cost);
            *scanned.lease_mut() = scanned.lease();
            assert_eq!(decide(&mut state, now, cost), expected, "step {step}");
            assert_eq!(state.lease(), scanned.lease(), "step {step}");
            if step == 0 {
                assert_eq!(state.run.left, 39, "the lease's 39 (the window's 89)");
            }
        }
        // 30 went (the last five of cost 2; one came back) before the
        // lease lapsed at 3 s.
        assert_eq!(state.lease().unwrap().left, 6);
        assert_eq!(decide(&mut state, 3_000, 1), Decision::Renew);
        // A window nearly spent: the run stops at its pacing mark (10).
        let mut paced = ScopeState::default();
        paced.learn(&report(100, 15, 10), 0, 0);
        decide(&mut paced, 0, 1);
        assert_eq!(paced.run.left, 4);
        // A lesson forgets the run: 2 left of the window, 1 in flight.
        paced.learn(&report(100, 2, 10), 0, 0);
        assert_eq!(decide(&mut paced, 0, 1), Decision::Go(Duration::ZERO));
        assert_eq!(
            decide(&mut paced, 0, 1),
            Decision::Wait(Duration::from_secs(10))
        );
    }

    #[test]
    fn a_lease_that_is_all_for_now_waits_for_its_refill_without_asking() {
        let mut state = ScopeState::default();
        state.learn(&report(100, 100, 10), 0, 0);
        let lease = |refill| Lease {
            taken: 3,
            refill,
            ..lease_of(1, 5_000)
        };
        *state.lease_mut() = Some(lease(1_000));
        assert!(!state.lease_runs_low(0, 0), "not renewed ahead");
        assert_eq!(
            state.acquire(1, false, FOREVER, 0, || 0.0),
            Decision::Go(Duration::ZERO)
        );
        let wait = state.acquire(1, false, FOREVER, 100, || 0.0);
        assert_eq!(wait, Decision::Wait(Duration::from_millis(900)), "no call");
        assert_eq!(
            state.acquire(1, false, FOREVER, 1_000, || 0.0),
            Decision::Renew
        );
        // A refill past the lease's end: the ledger says how long.
        *state.lease_mut() = Some(Lease {
            left: 0,
            ..lease(9_000)
        });
        assert_eq!(
            state.acquire(1, false, FOREVER, 100, || 0.0),
            Decision::Renew
        );
        // Without a refill time, a quarter left renews ahead, once until
        // that renewal ends.
        *state.lease_mut() = Some(lease(0));
        assert!(state.lease_runs_low(0, 0));
        assert!(!state.lease_runs_low(0, 0), "asked already");
        state.renewal_ended();
        assert!(state.lease_runs_low(0, 0), "still low: asks again");
    }

    /// Units a lease holds for the requests waiting for its renewal are
    /// theirs: a fresh request (or a run decided ahead) takes only the rest.
    #[test]
    fn a_lease_keeps_its_units_for_the_requests_that_waited_for_it() {
        let mut state = ScopeState::default();
        state.learn(&report(100, 100, 10), 0, 0);
        *state.lease_mut() = Some(lease_of(3, 5_000));
        state.waiters = 2;
        let go = Decision::Go(Duration::ZERO);
        let mut decide = |held| state.acquire(1, held, FOREVER, 0, || 0.0);
        assert_eq!(decide(false), go, "one unit to spare");
        assert_eq!(decide(false), Decision::Renew, "the rest are the waiters'");
        assert_eq!(decide(true), go);
        state.waiters = 1;
        assert_eq!(state.acquire(1, false, FOREVER, 0, || 0.0), Decision::Renew);
        assert_eq!(state.acquire(1, true, FOREVER, 0, || 0.0), go);
        state.waiters = 0;
        assert_eq!(state.lease().unwrap().left, 0);
    }

    #[test]
    fn an_open_lease_bounds_the_requests_in_flight() {
        let lease = Some(Lease {
            counts_cost: false,
            open: true,
            ..lease_of(2, 5_000)
        });
        let mut state = ScopeState {
            lease,
            ..ScopeState::default()
        };
        let go = Decision::Go(Duration::ZERO);
        assert_eq!(state.acquire(1, false, FOREVER, 0, || 0.0), go);
        assert_eq!(state.acquire(1, false, FOREVER, 0, || 0.0), go);
        // Both in flight: the next waits, without a renewal, and none is due.
        let wait = Decision::Wait(Duration::from_millis(RECHECK));
        assert_eq!(state.acquire(1, false, FOREVER, 1, || 0.0), wait);
        assert!(!state.lease_runs_low(1, 0));
        // An answer gives its unit back.
        state.release(1, Ended::Answered);
        assert_eq!(state.acquire(1, false, FOREVER, 2, || 0.0), go);
        assert_eq!(state.acquire(1, false, FOREVER, 3, || 0.0), wait);
    }
}
