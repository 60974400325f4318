//! The fleet's ledger of one scope (feature `redis`): what the shared
//! store keeps, and how a member's lease is cut from it.
//!
//! Pure, like the window algorithm it builds on: the store reads the
//! ledger, runs [`Ledger::renew`] for one member on the ledger's clock and
//! writes the result back only if nobody wrote in between (a version
//! compare-and-set: Redis keeps it atomic, and holds no rule of its own).
//!
//! - **What it keeps**: the fleet's merged view of the scope's windows and
//!   cooldown (the [`ScopeState`] every member reports into), the current
//!   lease window (its end, the units the fleet may lease in it, the units
//!   leased), the members (last renewal, units leased), and the cold-start
//!   probe.
//! - **Leases**: each active member may lease up to a fair share
//!   (`budget / members`, rounded up) of the window, sized by its demand;
//!   a share nobody claims goes to whoever asks once every other member's
//!   unclaimed share is set aside. A member returns what it did not use
//!   at each renewal; a member that stops renewing for
//!   [`MEMBER_TTL`] is dropped and its lease goes back.
//! - **Corrections**: the fleet may never lease more than the fewest
//!   remaining any member saw plus what was leased: traffic the ledger did
//!   not lease (a cold start, another client) tightens the budget.
//! - **Cold start**: while nothing is known, one member holds the probe
//!   (the rule of [`cold_start`], which one process's store follows too):
//!   it sends one request, the others wait for what it teaches. The
//!   window it teaches is held while the fleet joins ([`RAMP_JOIN`]),
//!   then released whole. A first window a member's answer taught (no
//!   probe) is held the same while the fleet joins, but for what that
//!   member asked with it. A probe that taught nothing
//!   opens the scope: after the same join, the fleet keeps at most
//!   [`OPEN_IN_FLIGHT`] requests in flight until a 429 teaches a limit.

use super::inferred::{inferred_mut, install, Inferred, INFERRED};
use super::window::{
    cold_start, unknown_limit_cap, Millis, Report, ScopeState, Window, NEW_WINDOW_AFTER,
    OPEN_IN_FLIGHT, RECHECK, WHOLE_SECOND,
};
use super::MAX_WINDOWS;

/// How long a lease (or a hold) lasts without renewal (a member renews
/// ahead of it): the lease interval.
pub(crate) const LEASE_TTL: Millis = 5_000;
/// A member that has not renewed for two lease intervals (or for one past
/// the end of the hold it was given) is gone: its lease returns.
pub(crate) const MEMBER_TTL: Millis = 2 * LEASE_TTL;
/// A member past its share asks again after this (others may not need theirs).
pub(crate) const SHARE_WAIT: Millis = 1_000;
/// How long a probe that taught nothing (no quota announced) leaves the
/// scope open before the fleet asks again.
pub(crate) const OPEN_TTL: Millis = 30_000;
/// A member's first lease of a window, before it has shown any demand.
pub(crate) const FIRST_WANT: u64 = 4;
/// The first window a cold fleet learns is held back this long (a quarter
/// of the ramp at most) while the fleet joins, then released whole:
/// members holding on the probe ask again every 50 ms, so every running
/// member is in and finds its fair share. Meanwhile, only a member whose
/// demand fits its fair share of the window's first eighth gets it (one
/// that sends little is not held). A busy member waits for all of its
/// share: each of its requests let go early would come back at once and
/// wait again, one more slow request per worker (released in steps, most
/// of window 0's requests waited).
const RAMP_JOIN: Millis = 300;

/// One member of the fleet, as the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Member {
    pub(crate) id: u64,
    /// Its last renewal.
    pub(crate) seen: Millis,
    /// Units leased to it in the current lease window, net of returns.
    pub(crate) leased: u64,
    /// When it said it would be back: its lease's end, or the end of the
    /// hold it was given (a member on hold need not renew to stay one).
    pub(crate) due: Millis,
    /// The cost of its request waiting past its fair share (within the
    /// window's limit), until leased: the shares of the members after it
    /// make room for it, so that it is placed, not held to `max_wait` (one
    /// request: fair over time).
    pub(crate) costly: u64,
}

impl Member {
    /// When it is gone, unless it renews before: two lease intervals after
    /// its last renewal, or one past the end of the hold it was given.
    fn gone_at(&self) -> Millis {
        (self.seen + MEMBER_TTL).max(self.due + LEASE_TTL)
    }
}

/// One scope's ledger.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    /// Bumped by every write; 0: the ledger did not exist.
    pub(crate) version: u64,
    pub(crate) state: ScopeState,
    /// When the current lease window began (0: not known, a ledger's
    /// first) and ends (0: none yet).
    pub(crate) lease_start: Millis,
    pub(crate) lease_end: Millis,
    /// Units the fleet may lease in it.
    pub(crate) budget: u64,
    /// Units leased in it, net of returns.
    pub(crate) granted: u64,
    pub(crate) members: Vec<Member>,
    /// The cold-start probe: its member and until when it holds.
    pub(crate) probe: Option<(u64, Millis)>,
    /// A probe taught nothing: the scope is open (no holding) until then.
    pub(crate) open_until: Millis,
    /// When the scope was first opened (the first inferred window's start).
    pub(crate) open_since: Millis,
    pub(crate) inferred: Option<Inferred>,
    /// Answers (none throttled) the fleet reported since the last 429's
    /// wait ended, or since the scope opened.
    pub(crate) count: u64,
    /// The first window of a cold fleet (see [`RAMP_JOIN`]): until when
    /// the fleet joins, and until when only fair shares of it go.
    pub(crate) ramp: Option<(Millis, Millis)>,
}

/// What a member brings to a renewal (by default: nothing learned, handed
/// back or counted).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Ask {
    pub(crate) member: u64,
    pub(crate) now: Millis,
    /// What the member learned, relative to `now`.
    pub(crate) reports: [Option<Report>; MAX_WINDOWS],
    pub(crate) cooldown: Option<Millis>,
    /// The cooldown is a 429's: a 503's (an outage's) teaches no window.
    pub(crate) limited: bool,
    /// Units of its lease it hands back: taken out of its local lease
    /// before it asked, never admitted (a unit it may still admit while
    /// the renewal is on its way is kept, or the ledger would lease it
    /// again: 43 of 40 were admitted).
    pub(crate) returned: u64,
    /// Units of its lease it keeps: still counted leased to it.
    pub(crate) kept: u64,
    /// Units it expects to need until its next renewal, beyond those kept.
    pub(crate) want: u64,
    /// Its probe was answered and taught nothing.
    pub(crate) open: bool,
    /// Its probe was dropped unanswered: another member may probe at once.
    pub(crate) dropped: bool,
    /// The cost of its costliest request waiting for this renewal.
    pub(crate) costly: u64,
    /// Answers it counted (none throttled) since its last renewal.
    pub(crate) answered: u64,
    /// The end of the last 429's wait it knew of while counting them
    /// (0: none): answers counted before it heard of a 429 are that
    /// window's, however late they are reported.
    pub(crate) epoch: Millis,
    /// Answers it counted during the last 429's wait (requests sent
    /// before it: that window's).
    pub(crate) late: u64,
    /// Units it admitted in the current window on its own cautious share
    /// while Redis failed, and those of it it keeps; or, finding Redis came
    /// back empty, all the old ledger could lease of the window.
    pub(crate) held: u64,
}

/// What the ledger answered a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Nothing is known and another member probes, or the fleet joins a
    /// scope that opened: ask again after this long.
    Hold(Millis),
    /// Nothing is known: this member sends the probe.
    Probe,
    /// A probe taught nothing (the scope announces no quota): go, with at
    /// most this many requests in flight (see [`OPEN_IN_FLIGHT`]).
    Open(u64),
    /// A lease (possibly empty).
    Lease(Granted),
}

/// A lease, on the ledger's clock.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Granted {
    /// Units granted beyond those kept.
    pub(crate) left: u64,
    /// Units of the member's lease it keeps: what it asked to keep, none
    /// once the lease window rolled (or the member was dropped as gone).
    pub(crate) kept: u64,
    pub(crate) until: Millis,
    /// Non-zero with an empty lease: do not ask again before this.
    pub(crate) hold_until: Millis,
    pub(crate) counts_cost: bool,
    /// Active members, the binding window's limit (or remaining): what a
    /// member falls back on when the store fails.
    pub(crate) members: u64,
    pub(crate) limit: u64,
    /// It lasts to the window's end (renewing sooner cannot extend it).
    pub(crate) last: bool,
    /// Non-zero when nothing more can come to this member before this
    /// (its share is cut and no other is unclaimed, or the budget is
    /// leased until another member's lease may come back): it does not
    /// renew ahead of running out, and once spent it holds until then
    /// without asking.
    pub(crate) refill: Millis,
}

impl Ledger {
    /// One member's renewal: learns its reports, returns its unused lease,
    /// drops members gone quiet, and cuts its next lease.
    pub(crate) fn renew(&mut self, ask: &Ask) -> Answer {
        let now = ask.now;
        self.version += 1;
        // (Refilled first: a report of the window after a passed reset
        // is that window's first. Once: no report ends at or before now,
        // a reset of 0 a second on.)
        self.state.refill(now);
        let learned = self.learn(ask);
        // (A fleet back from idle: every member had gone, as if cold.)
        let fleet = self.members.len() > 1;
        self.expire_members(now);
        let idle = fleet && self.members.is_empty();
        let joined = !self.members.iter().any(|m| m.id == ask.member);
        let me = self.member(ask.member, now);
        let limited = ask.cooldown.filter(|_| ask.limited);
        self.infer(limited, (ask.answered, ask.epoch, ask.late), now);
        let back = ask.returned.min(self.members[me].leased);
        self.members[me].leased -= back;
        self.granted = self.granted.saturating_sub(back);
        let Some(binding) = self.state.binding() else {
            return self.cold(ask, now);
        };
        let reporter = self.start(&binding, (ask, me, joined), (learned, idle));
        // What it keeps, within its share: none past a roll (it leased
        // nothing yet), nor for one dropped as gone (its lease went back);
        // within what it held, for one joining a Redis come back empty
        // (its units dropped, its next requests waited for the window's
        // end).
        let kept = ask.kept.min(self.members[me].leased);
        // (A roll may have grown an inferred window.)
        let binding = self.state.binding().unwrap_or(binding);
        // Never more than the fewest remaining seen plus what was leased.
        let cap = binding.remaining.saturating_add(self.granted);
        self.budget = self.budget.min(cap);
        let mut granted = Granted {
            until: self.lease_end.min(now + LEASE_TTL),
            counts_cost: binding.counts_cost,
            members: self.members.len() as u64,
            limit: binding.limit.unwrap_or(self.budget),
            last: self.lease_end <= now + LEASE_TTL,
            kept,
            ..Granted::default()
        };
        if let Some(until) = self.state.cooldown_until.filter(|until| *until > now) {
            granted.hold_until = until;
            self.members[me].due = until;
            return Answer::Lease(granted);
        }
        // (What it may not keep, it wants again.)
        let most = self.guarded(now).unwrap_or(u64::MAX);
        let want = (ask.want + ask.kept - kept).min(most.saturating_sub(kept));
        let (released, next_step, fair_only) = self.released(now, granted.limit, want, reporter);
        let past_share = ask.costly > self.fair_share(released);
        self.members[me].costly = if past_share { ask.costly } else { 0 };
        let whole;
        (granted.left, whole) = self.cut(me, want, released, fair_only);
        // When more may come: once it is all leased, when another member's
        // lease may come back; the join or the end of a ramp, or when
        // unclaimed shares may be let go.
        let next = if self.granted >= self.budget {
            self.comes_back(me, now)
        } else if fair_only {
            next_step
        } else {
            self.lease_end.min(now + SHARE_WAIT)
        };
        // (While a guessed reset is confirmed, all ask again shortly.)
        let confirming = self.unconfirmed();
        let next = next.min(if confirming { now + RECHECK } else { next });
        match (granted.left + granted.kept, whole && !confirming) {
            (0, _) => granted.hold_until = next,
            (_, true) => granted.refill = next,
            (_, false) => {}
        }
        self.members[me].due = granted.until.max(granted.hold_until);
        Answer::Lease(granted)
    }

    /// Rolls the lease window. A ledger that `learned` its first window
    /// from a report (a cold start's probe's; a member's, say a new ledger
    /// when Redis came back empty) does not know the members yet: its
    /// first lease window is ramped (held while they join: unramped, the
    /// member that taught it took 21-40 of 40 by quick renewals before
    /// the 3 others, asking at once, were in), and what a member admitted
    /// of it on its cautious share meanwhile counts in its share, never
    /// more than the limit in all (a member's view of what is left may
    /// predate what the others admitted). So is the lease window a fleet
    /// comes back to from `idle` (its members all gone: the first back
    /// took most of the window, and another's 8 workers waited 2-5 s).
    ///
    /// True when the ramp is a member's report's (not a probe's, nor a new
    /// ledger's spent into): the lease of that renewal is cut unramped (a
    /// lone member gets what it asks), and the ramp ends with the join.
    fn start(&mut self, binding: &Window, asked: (&Ask, usize, bool), new: (bool, bool)) -> bool {
        let ((ask, me, joined), (learned, idle)) = (asked, new);
        let now = ask.now;
        // (A new ledger spent into: `learned` holds too.)
        let fresh = self.version == 1 && binding.limit.is_some_and(|l| binding.remaining < l);
        let probed = self.probe.take().is_some();
        let first = (probed || learned) && self.lease_end == 0;
        self.roll(binding, now);
        if (first || idle) && self.lease_end > now {
            let span = ((self.lease_end - now) / 2).min(LEASE_TTL);
            // Members back from a failing Redis come back over its backoff
            // (2 s at most), each with what it admitted meanwhile: the
            // window waits for them all, the whole span. A member's report:
            // once the fleet joined, shares are cut as in any window.
            let join = if fresh { span } else { RAMP_JOIN.min(span / 4) };
            self.ramp = Some((now + join, now + if probed || fresh { span } else { join }));
        }
        // What a member back from a failing Redis admitted on its cautious
        // share counts in its share: a member's of old too (counted only
        // for one joining a new ledger, a member that a Redis slower than
        // its renewal's bound sent to its cautious share was leased it
        // again, 16 of 10).
        self.members[me].leased += ask.held;
        self.granted += ask.held;
        if joined && self.ramp.is_some() {
            // (Its view of what is left is net of what it sent, not of
            // what it keeps.)
            let sent = ask.held.saturating_sub(ask.kept);
            self.budget = (self.budget + sent).min(binding.limit.unwrap_or(u64::MAX));
        }
        first && !probed && !fresh
    }

    /// What of the budget may be leased by now to a member that wants
    /// `want`, when more may come, and whether only fair shares of it go
    /// (while a cold start's first window ramps, so that members that join
    /// late find theirs): all of it, except while the fleet joins (the
    /// ramp's first [`RAMP_JOIN`]): then an eighth of the window's `limit`
    /// if `want` fits its fair share of that, else none.
    fn released(&self, now: Millis, limit: u64, want: u64, reporter: bool) -> (u64, Millis, bool) {
        let ramp = (self.ramp).filter(|(_, end)| !reporter && now < *end && *end <= self.lease_end);
        let Some((join, end)) = ramp else {
            return (self.budget, self.lease_end, false);
        };
        if now >= join {
            return (self.budget, end, true);
        }
        let fits = want <= self.fair_share(limit / 8);
        let first = if fits { limit / 8 } else { 0 };
        (self.budget.min(first), join, true)
    }

    /// A member's most per lease while the window the first inference
    /// guessed has not shown that it reset (see [`Inferred::unsure`]): its
    /// fair share of [`OPEN_IN_FLIGHT`].
    fn guarded(&mut self, now: Millis) -> Option<u64> {
        let unsure = self.inferred.as_mut()?.unsure(self.count, now);
        unsure.then(|| self.fair_share(OPEN_IN_FLIGHT))
    }

    /// Learns a member's reports; true when they taught the ledger its
    /// first window (a probe's, or a member's).
    fn learn(&mut self, ask: &Ask) -> bool {
        // A report of a window's last second may describe the window the
        // ledger already closed (members' clocks and resets differ by up to
        // a second): it is not taken for the next one. Its reset falls
        // within a second of the lease window's start; one further on is
        // this window's, and taken: a lease window whose end was guessed
        // short of the vendor's (a new ledger's, which read only a window's
        // tail) ends at the reset it tells (dropped, the fleet leased the
        // next window before the vendor's reset: 3 429s). (A ledger's
        // first lease window, its start unknown, takes none.)
        // (A ledger that knows no window closed none; a guessed reset is
        // no window's last second, however near.)
        // (Nor is a report that confirms a guess: it tells the window
        // since the guessed reset, however short.)
        let (cold, unconfirmed) = (self.state.binding().is_none(), self.unconfirmed());
        let start = self.lease_start;
        let closed = |ms: Millis| start == 0 || ask.now + ms < start + NEW_WINDOW_AFTER;
        let late = |ms: Millis| ms < NEW_WINDOW_AFTER && closed(ms);
        let current = |r: &Report| cold || unconfirmed || r.guessed || !r.reset.is_some_and(late);
        let reports = ask.reports.into_iter().flatten().filter(current);
        self.state
            .learn_reports(reports, ask.cooldown, ask.now, ask.now);
        if unconfirmed && !self.unconfirmed() {
            // Confirmed: the window is leased anew, from what is left.
            self.lease_end = self.lease_end.min(ask.now);
        }
        cold && self.state.binding().is_some()
    }

    /// A window's guessed reset passed, and no answer told what is left.
    fn unconfirmed(&self) -> bool {
        let mut windows = self.state.windows.iter().flatten();
        windows.any(|window| window.guessed && window.reset_at.is_none())
    }

    /// Nothing known: one member probes, the others hold until it teaches.
    fn cold(&mut self, ask: &Ask, now: Millis) -> Answer {
        let member = ask.member;
        if ask.open {
            self.probe = None;
            self.open_until = now + OPEN_TTL;
            if self.open_since == 0 {
                self.open_since = now;
            }
        }
        if self.open_until > now {
            // The fleet joins before the first shares are cut (as a cold
            // fleet's first window is held, see RAMP_JOIN).
            let join = self.open_since + RAMP_JOIN;
            if now < join {
                return Answer::Hold(join - now);
            }
            let cap = unknown_limit_cap(self.count, now - join);
            return Answer::Open(self.fair_share(cap));
        }
        // A probe dropped unanswered: its lock goes, and the member holds a
        // recheck, so that another (asking every 50 ms) probes at once.
        if ask.dropped && self.probe.take_if(|(id, _)| *id == member).is_some() {
            return Answer::Hold(RECHECK);
        }
        match cold_start(self.probe.map(|(_, until)| until), now) {
            Ok(until) => self.probe = Some((member, until)),
            Err(hold) => return Answer::Hold(hold),
        }
        Answer::Probe
    }

    /// Starts a new lease window when the last one lapsed (ending at the
    /// window's `reset`, else guessed), or when a report shows
    /// the vendor's next window (a later end, and more left than the lease
    /// window had: resets are known to the second, so a lease window can
    /// begin on the remnant of one that is about to reset); follows the
    /// window's end when reports move it. A guessed end stands: were it
    /// pushed on by each renewal, members that renew a second apart would
    /// never reach it, and the window's leased budget would never come back.
    /// A guessed end that comes before the window's known reset moves to
    /// it: rolled there, the fleet leased the window's remaining again.
    fn roll(&mut self, binding: &Window, now: Millis) {
        let (reset, remaining) = (binding.reset_at, binding.remaining);
        let later = |end: &Millis| *end > self.lease_end + NEW_WINDOW_AFTER;
        let next_window = reset.is_some_and(|end| later(&end)) && remaining > self.budget;
        // (A reset within a second of the end is the same window's.)
        let same = |end: &Millis| *end < self.lease_end + NEW_WINDOW_AFTER;
        let ahead = reset.filter(|end| *end > now && same(end) && self.lease_end != 0);
        if let (Some(end), false, true) = (ahead, next_window, self.lease_end <= now) {
            // (Its remnant, leased already, is its budget: the next
            // window's first report, with more left, rolls it.)
            (self.lease_end, self.budget) = (end, remaining);
        } else if self.lease_end <= now || next_window {
            let remaining = self.grow_margin(remaining);
            // A ledger's first lease window (start 0) may be the tail of
            // the vendor's window (Redis came back empty mid-way): lapsed
            // untold, the next is guessed as long as the window was read,
            // and, read under a second, confirmed by one unit, as a guessed
            // reset is (guessed a lease interval, a fleet on a 1 s window
            // was held 4 s in 5; unconfirmed, the tail of a 2 s window
            // leased its remaining again; confirmed when read longer, a
            // fleet whose answers told nothing got one unit a window).
            let read = self.lease_end.saturating_sub(binding.learned_at);
            let short = self.lease_start == 0 && reset.is_none() && read < WHOLE_SECOND;
            let mark = |w: &&mut Window| short && w.policy == binding.policy && w.length.is_none();
            let windows = self.state.windows.iter_mut().flatten();
            windows.filter(mark).for_each(|w| w.guessed = true);
            // A guessed reset passed: one request confirms what is left,
            // for the fleet (as for one process, see `ScopeState::refill`).
            let remaining = remaining.min(if self.unconfirmed() { 1 } else { remaining });
            // An end not told is guessed as long as the window (vendors'
            // windows repeat: at 10 per 1 s, a lease interval's guess held
            // the fleet 4 s in 5), within 1 s and a lease interval. A lease
            // window whose end is told starts at the last one's end (the
            // renewal that rolls it may come late); one guessed, or begun
            // by a report, at its roll.
            let last = match self.lease_start {
                0 => read,
                start => self.lease_end.saturating_sub(start),
            };
            let guess = binding.length.unwrap_or(last);
            let told_at_end = self.lease_end <= now && reset.is_some();
            self.lease_start = if told_at_end { self.lease_end } else { now };
            self.lease_end = reset.unwrap_or(now + guess.clamp(WHOLE_SECOND, LEASE_TTL));
            self.budget = remaining;
            self.granted = 0;
            self.ramp = None;
            self.members.iter_mut().for_each(|member| member.leased = 0);
        } else if let Some(end) = reset.filter(|end| later(end) || *end < self.lease_end) {
            self.lease_end = end;
        }
    }

    /// A vendor that announces nothing: at a 429's cooldown, the answers
    /// the fleet counted in the window before it become the limit (every
    /// member adds its count while the wait lasts), and the time since the
    /// last such cooldown the window's length; the margin shrinks. The
    /// window is then paced like an announced one, in the ledger, for the
    /// whole fleet.
    fn infer(&mut self, cooldown: Option<Millis>, counted: (u64, Millis, u64), now: Millis) {
        let (answered, epoch, late) = counted;
        if (self.state.windows.iter().flatten()).any(|window| window.policy != INFERRED) {
            return;
        }
        let previous = self.inferred;
        if let Some(mut inferred) = previous.filter(|p| now < p.last_end) {
            // Answers from before the 429 (the episode still waits it out).
            inferred.count_late(answered + late);
            self.install(inferred);
            return;
        }
        // (Nothing inferred yet: every answer is the current window's.)
        let (late, answered) = match previous {
            Some(p) if epoch < p.last_end => (late + answered, 0),
            Some(_) => (late, answered),
            None => (0, answered + late),
        };
        if let (Some(previous), true) = (previous, late > 0) {
            self.count_late(previous, late);
        }
        self.count += answered;
        let previous = self.inferred;
        let Some(end) = cooldown.map(|c| now + c) else {
            return;
        };
        // A 429 within a second of the last wait's end answers a request
        // sent before it: the same episode.
        if previous.is_some_and(|p| now < p.last_end + 1_000 || end <= p.last_end + 1_000) {
            return;
        }
        // (No answer since the last wait's end: see `Inferred::start_at`.)
        if let (Some(mut truer), 0) = (previous, self.count) {
            truer.start_at(end);
            return self.install(truer);
        }
        let since = previous.map_or(self.open_since, |p| p.last_end);
        let measured = end.saturating_sub(since);
        let inferred = match previous {
            None => Inferred::first(self.count, measured, end, end + measured),
            Some(p) => p.after(self.count, measured, end),
        };
        if inferred.limit == 0 || inferred.length < 1_000 || since == 0 {
            return;
        }
        self.count = 0;
        self.install(inferred);
    }

    /// Answers counted before their member heard of the last 429 (or
    /// during its wait) and reported after it are that window's too: the
    /// limit grows, and so does the budget of the window that followed.
    fn count_late(&mut self, mut late: Inferred, answered: u64) {
        let before = late.budget();
        late.count_late(answered);
        self.inferred = Some(late);
        // (What it grows by goes to the window that followed only.)
        let following = self.lease_end == late.last_end + late.length;
        let more = if following { late.budget() - before } else { 0 };
        self.budget += more;
        for window in inferred_mut(&mut self.state.windows) {
            window.limit = Some(late.budget());
            window.remaining += more;
        }
    }

    /// Puts the inferred window in the fleet's state; the next lease window
    /// starts with it (no lease is cut while the 429's wait lasts).
    fn install(&mut self, inferred: Inferred) {
        self.inferred = Some(inferred);
        install(&mut self.state.windows, &inferred);
        self.lease_end = 0;
    }

    /// A window of an inferred limit that ended without a 429 grows the
    /// margin back by a step; returns the new window's budget.
    fn grow_margin(&mut self, remaining: u64) -> u64 {
        let Some(inferred) = self.inferred.as_mut() else {
            return remaining;
        };
        let started = self.lease_end.saturating_sub(inferred.length);
        if self.lease_end == 0 || inferred.last_end > started + 1_000 {
            return remaining;
        }
        inferred.grow(&mut self.state.windows)
    }

    /// When units another member holds may come back, the window's end at
    /// the latest: when it would be dropped as gone, should it stop
    /// renewing (held to the window's end, a member never got the lease of
    /// one that died). A live member's renewals push that on, so the
    /// others ask again about once per [`MEMBER_TTL`], not at each of its
    /// renewals (asked then, a fleet of 8 sent twice the Redis commands);
    /// what a live member hands back waits for the window's end, as it
    /// did. Not sooner than [`SHARE_WAIT`].
    fn comes_back(&self, me: usize, now: Millis) -> Millis {
        let others = self.members.iter().enumerate();
        let holding = others.filter(|(index, m)| *index != me && m.leased > 0);
        let back = holding.map(|(_, m)| m.gone_at()).min();
        let back = back.map_or(self.lease_end, |at| at.max(now + SHARE_WAIT));
        back.min(self.lease_end)
    }

    /// Members that stopped renewing are gone: their leases go back.
    fn expire_members(&mut self, now: Millis) {
        let granted = &mut self.granted;
        self.members.retain(|member| {
            let alive = member.gone_at() > now;
            if !alive {
                *granted = granted.saturating_sub(member.leased);
            }
            alive
        });
    }

    fn member(&mut self, id: u64, now: Millis) -> usize {
        let index = self.members.iter().position(|m| m.id == id);
        let index = index.unwrap_or_else(|| {
            self.members.push(Member {
                id,
                due: now,
                ..Member::default()
            });
            self.members.len() - 1
        });
        self.members[index].seen = now;
        index
    }

    /// One member's fair share of `units`, rounded up.
    fn fair_share(&self, units: u64) -> u64 {
        units.div_ceil(self.members.len().max(1) as u64)
    }

    /// The units member `me` gets of the `released` budget: up to its fair
    /// share, and beyond it (unless `fair_only`) only what no other
    /// member's unclaimed share needs; and whether that is all it can get
    /// of what is released. The shares are equal but for the remainder, a
    /// unit each to the first members to claim one (rounded up for all,
    /// the last member to claim found only what was left: 1 of 50 among 8).
    fn cut(&mut self, me: usize, want: u64, released: u64, fair_only: bool) -> (u64, bool) {
        let members = self.members.len() as u64;
        let (part, extra) = (released / members, released % members);
        let others = || (self.members.iter().enumerate()).filter(|(index, _)| *index != me);
        let extras_taken = others().filter(|(_, m)| m.leased > part).count() as u64;
        let fair = part + u64::from(extras_taken < extra);
        // The remainder's units not yet claimed, kept for members without one.
        let kept =
            (extra.saturating_sub(extras_taken + fair - part)).min(members - 1 - extras_taken);
        let unclaimed = |(_, m): (usize, &Member)| part.max(m.costly).saturating_sub(m.leased);
        let reserve = kept + others().map(unclaimed).sum::<u64>();
        let available = released.saturating_sub(self.granted);
        // A costly request's share is its cost, out of the shares after it.
        let before = |(i, m): (usize, &Member)| if i < me { m.costly } else { 0 };
        let (claims, mine) = (others().map(before).sum::<u64>(), self.members[me].costly);
        let fair = fair.max(mine).min(released.saturating_sub(claims));
        let within_share = fair.saturating_sub(self.members[me].leased);
        let spare = available.saturating_sub(reserve);
        let beyond = if fair_only { 0 } else { spare };
        let left = want.min(available).min(within_share.max(beyond));
        self.members[me].leased += left;
        self.granted += left;
        let member = &mut self.members[me];
        if member.leased >= member.costly {
            member.costly = 0;
        }
        let whole = self.granted >= released
            || (self.members[me].leased >= fair && beyond.saturating_sub(left) == 0);
        (left, whole)
    }

    /// The ledger as hash fields, each name followed by its value (as
    /// Redis `HSET` takes them and `HGETALL` answers them): the scope's,
    /// then each window's (numbered from 1), then each member's.
    pub(crate) fn encode(&self) -> Vec<String> {
        let open = self.open_until > 0;
        let inferred = self.inferred.map(|i| {
            let (limit, margin, length) = (i.limit, i.margin, i.length);
            let (end, episode, unsure) = (i.last_end, i.episode, i.unsure_from);
            format!("{limit}:{margin}:{length}:{end}:{episode}:{unsure}")
        });
        let scope = [
            ("v", Some(self.version.to_string())),
            ("ls", Some(self.lease_start.to_string())),
            ("le", Some(self.lease_end.to_string())),
            ("b", Some(self.budget.to_string())),
            ("g", Some(self.granted.to_string())),
            ("cd", self.state.cooldown_until.map(|at| at.to_string())),
            ("op", open.then(|| self.open_until.to_string())),
            ("os", open.then(|| self.open_since.to_string())),
            ("in", inferred),
            ("n", (self.count > 0).then(|| self.count.to_string())),
            ("pr", self.probe.map(|(id, at)| format!("{id:x}:{at}"))),
            ("ra", self.ramp.map(|(start, end)| format!("{start}:{end}"))),
        ];
        let present = |(name, value): (String, Option<String>)| Some([name, value?]);
        let scope = scope.map(|(name, value)| (name.to_owned(), value));
        let mut fields: Vec<_> = scope.into_iter().filter_map(present).flatten().collect();
        for (index, window) in self.state.windows.iter().flatten().enumerate() {
            let i = index + 1;
            let numbers = [
                ("p", Some(window.policy)),
                ("r", Some(window.remaining)),
                ("c", Some(u64::from(window.counts_cost))),
                ("l", window.limit),
                ("t", window.reset_at),
                ("w", window.length),
                ("f", window.truncated.then_some(1)),
                ("u", window.guessed.then_some(1)),
                ("a", Some(window.learned_at)),
            ];
            let named = numbers.map(|(kind, n)| (format!("{kind}{i}"), n.map(|n| n.to_string())));
            fields.extend(named.into_iter().filter_map(present).flatten());
        }
        for m in &self.members {
            let value = format!("{}:{}:{}:{}", m.seen, m.leased, m.due, m.costly);
            fields.extend([format!("m:{:x}", m.id), value]);
        }
        fields
    }

    /// The ledger from hash fields, each name followed by its value;
    /// `None` when a field is not what [`encode`](Self::encode) writes.
    pub(crate) fn decode(fields: &[String]) -> Option<Ledger> {
        let mut ledger = Ledger::default();
        for pair in fields.chunks_exact(2) {
            ledger.field(&pair[0], &pair[1])?;
        }
        Some(ledger)
    }

    fn field(&mut self, name: &str, value: &str) -> Option<()> {
        let number = || value.parse::<u64>().ok();
        // The numbers of a `:`-separated value, in turn.
        let mut parts = value.split(':').map(|part| part.parse::<u64>().ok());
        let mut next = || parts.next().flatten();
        match name {
            "v" => self.version = number()?,
            "ls" => self.lease_start = number()?,
            "le" => self.lease_end = number()?,
            "b" => self.budget = number()?,
            "g" => self.granted = number()?,
            "cd" => self.state.cooldown_until = Some(number()?),
            "op" => self.open_until = number()?,
            "os" => self.open_since = number()?,
            "n" => self.count = number()?,
            "in" => {
                self.inferred = Some(Inferred {
                    limit: next()?,
                    margin: next()?,
                    length: next()?,
                    last_end: next()?,
                    episode: next()?,
                    unsure_from: next().unwrap_or(0),
                });
            }
            "pr" => {
                let (member, until) = value.split_once(':')?;
                self.probe = Some((u64::from_str_radix(member, 16).ok()?, until.parse().ok()?));
            }
            "ra" => self.ramp = Some((next()?, next()?)),
            _ if name.starts_with("m:") => {
                self.members.push(Member {
                    id: u64::from_str_radix(&name[2..], 16).ok()?,
                    seen: next()?,
                    leased: next()?,
                    // (Absent in a ledger an earlier version wrote.)
                    due: next().unwrap_or(0),
                    costly: next().unwrap_or(0),
                });
            }
            _ => self.window_field(name, number()?)?,
        }
        Some(())
    }

    fn window_field(&mut self, name: &str, value: u64) -> Option<()> {
        // (`split_at_checked`: a field Redis holds may start with any
        // character, or be empty; a ledger this crate did not write is
        // refused, not a panic in the renewal task.)
        let (kind, index) = name.split_at_checked(1)?;
        let index = index.parse::<usize>().ok()?.checked_sub(1)?;
        let slot = self.state.windows.get_mut(index)?;
        let window = slot.get_or_insert(Window {
            counts_cost: true,
            ..Window::default()
        });
        match kind {
            "p" => window.policy = value,
            "r" => window.remaining = value,
            "c" => window.counts_cost = value == 1,
            "l" => window.limit = Some(value),
            "t" => window.reset_at = Some(value),
            "w" => window.length = Some(value),
            "f" => window.truncated = value == 1,
            "u" => window.guessed = value == 1,
            "a" => window.learned_at = value,
            _ => return None,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(limit: u64, remaining: u64, reset: Millis) -> [Option<Report>; MAX_WINDOWS] {
        let mut reports = [None; MAX_WINDOWS];
        reports[0] = Some(Report {
            policy: 0,
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
            counts_cost: true,
            guessed: false,
        });
        reports
    }

    fn ask(member: u64, now: Millis, want: u64) -> Ask {
        Ask {
            member,
            now,
            reports: [None; MAX_WINDOWS],
            cooldown: None,
            limited: true,
            returned: 0,
            want,
            open: false,
            answered: 0,
            epoch: 0,
            late: 0,
            ..Ask::default()
        }
    }

    fn lease(answer: Answer) -> Granted {
        match answer {
            Answer::Lease(granted) => granted,
            other => panic!("expected a lease, got {other:?}"),
        }
    }

    /// A window whose server gave no reset (a leaky bucket's `39/40`) is
    /// confirmed at its guessed reset for the fleet, as in one process (see
    /// `ScopeState::refill`): the guess is kept in Redis, one unit goes,
    /// the others ask again shortly, and the answer that confirms what is
    /// left is leased anew. (Refilled to 40, the fleet sent into the full
    /// bucket at each guessed reset.)
    #[test]
    fn a_guessed_reset_is_confirmed_by_one_unit_for_the_fleet() {
        let guessed = |member, now, remaining| {
            let mut ask = ask(member, now, 4);
            ask.reports =
                report(40, remaining, 1_000).map(|r| r.map(|r| Report { guessed: true, ..r }));
            ask
        };
        let mut ledger = Ledger::default();
        lease(ledger.renew(&guessed(1, 0, 39)));
        lease(ledger.renew(&ask(2, 400, 4)));
        let mut ledger = Ledger::decode(&ledger.encode()).unwrap();
        assert!(ledger.state.windows[0].unwrap().guessed, "kept in Redis");
        assert_eq!(lease(ledger.renew(&ask(1, 1_100, 4))).left, 1, "one");
        let held = lease(ledger.renew(&ask(2, 1_110, 4)));
        assert_eq!((held.left, held.hold_until), (0, 1_110 + RECHECK));
        // Its answer: 2 left (guessed again), in fair shares.
        assert_eq!(lease(ledger.renew(&guessed(1, 1_150, 2))).left, 1);
        assert_eq!(lease(ledger.renew(&ask(2, 1_160, 4))).left, 1);
        assert_eq!((ledger.budget, ledger.lease_end), (2, 2_150));
    }

    /// A fleet back from idle (its members all gone, their leases back)
    /// joins before its window is cut, as a cold fleet's first: the first
    /// member back does not take the window before the others are in (it
    /// took most of 40 while another's 8 workers waited for the next).
    #[test]
    fn a_fleet_back_from_idle_joins_before_its_window_is_cut() {
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 4);
        taught.reports = report(40, 40, 60_000);
        lease(ledger.renew(&taught));
        lease(ledger.renew(&ask(2, 400, 4)));
        let first = lease(ledger.renew(&ask(1, 20_000, 32)));
        assert_eq!((first.left, first.hold_until), (0, 20_000 + RAMP_JOIN));
        assert_eq!(lease(ledger.renew(&ask(2, 20_010, 32))).left, 0);
        let joined = lease(ledger.renew(&ask(1, 20_000 + RAMP_JOIN, 32)));
        assert_eq!(joined.left, 20, "a fair share");
    }

    /// A probe dropped unanswered: its member's next renewal takes the
    /// lock off, and holds it a recheck; another member probes at once,
    /// not after the lock's 2 s. Another's lock is not taken off.
    #[test]
    fn a_probe_dropped_unanswered_lets_another_probe_at_once() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
        assert_eq!(ledger.renew(&ask(2, 10, 10)), Answer::Hold(10));
        let dropped = Ask {
            dropped: true,
            ..ask(1, 20, 10)
        };
        assert_eq!(ledger.renew(&dropped), Answer::Hold(RECHECK));
        assert_eq!(ledger.renew(&ask(2, 25, 10)), Answer::Probe);
        let stale = Ask { now: 30, ..dropped };
        assert_eq!(ledger.renew(&stale), Answer::Hold(5), "B's probe holds");
    }

    #[test]
    fn cold_start_one_probe_then_fair_shares() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
        // Asks again after as long as the probe has been out.
        assert_eq!(ledger.renew(&ask(2, 10, 10)), Answer::Hold(10));
        // The probe holder's other workers hold too.
        assert_eq!(ledger.renew(&ask(1, 15, 10)), Answer::Hold(15));
        // The probe's answer: 300 per 10 s, 299 left. The first window of a
        // cold fleet is held while the fleet joins, then leased whole in
        // fair shares: every member that held on the probe, or started a
        // little late, finds its share.
        let mut taught = ask(1, 20, 1_000);
        taught.reports = report(300, 299, 10_000);
        let join = 20 + RAMP_JOIN;
        let first = lease(ledger.renew(&taught));
        assert_eq!((first.left, first.hold_until), (0, join), "the fleet joins");
        assert_eq!(first.until, 20 + LEASE_TTL);
        let second = lease(ledger.renew(&ask(2, 30, 1_000)));
        assert_eq!((second.left, second.hold_until), (0, join));
        // A third process, a little late, is in before the window goes.
        let late = lease(ledger.renew(&ask(3, join - 1, 1_000)));
        assert_eq!((late.left, late.hold_until), (0, join));
        // Released: each member asks until it gets nothing; 299 in all,
        // evenly, and each one's last lease says nothing more can come.
        let mut totals = [0; 3];
        for (index, total) in totals.iter_mut().enumerate() {
            loop {
                let now = join + index as Millis;
                let next = lease(ledger.renew(&ask(index as u64 + 1, now, 1_000)));
                *total += next.left;
                if next.left == 0 || next.refill > 0 {
                    break;
                }
            }
        }
        assert_eq!(totals, [100, 100, 99]);
        assert_eq!(ledger.granted, 299);
        // Spent: held until the window's end (the others, were they to stop
        // renewing now, would be dropped no sooner).
        let at = 20 + LEASE_TTL + 5;
        let spent = lease(ledger.renew(&ask(1, at, 1_000)));
        assert_eq!((spent.left, spent.hold_until), (0, 10_020));
        // Round trip through the hash fields.
        let decoded = Ledger::decode(&ledger.encode()).unwrap();
        assert_eq!(decoded.encode(), ledger.encode());
    }

    /// A member renews while its requests still draw on its lease: what it
    /// keeps stays its own, and only what it hands back (taken out of its
    /// lease first) goes to another member. Handed back while it could
    /// still be admitted, a fleet admitted 43 of 40. Once the lease window
    /// rolls, nothing of the last one is kept, and it is leased anew (asked
    /// for less by what it meant to keep, it was held to the window's end:
    /// a Redis slow for a moment held a process 2.8 s).
    #[test]
    fn what_a_member_keeps_is_never_leased_to_another() {
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 40);
        taught.reports = report(40, 40, 10_000);
        assert_eq!(lease(ledger.renew(&taught)).left, 40);
        assert_eq!(lease(ledger.renew(&ask(2, 10, 20))).left, 0);
        let mut keeping = ask(1, 20, 0);
        keeping.kept = 10;
        let kept = lease(ledger.renew(&keeping));
        assert_eq!((kept.kept, kept.left, kept.hold_until), (10, 0, 0));
        assert_eq!(lease(ledger.renew(&ask(2, 30, 20))).left, 0);
        let mut handing_back = ask(1, 40, 0);
        handing_back.returned = 10;
        assert_eq!(lease(ledger.renew(&handing_back)).kept, 0);
        // (Past the fleet's join: the first window the ledger learned is
        // ramped, see RAMP_JOIN.)
        assert_eq!(lease(ledger.renew(&ask(2, RAMP_JOIN, 20))).left, 10);
        // (What it may not keep it is leased again: it wanted 15 in all.)
        let mut rolled = ask(2, 10_001, 5);
        rolled.kept = 10;
        let next = lease(ledger.renew(&rolled));
        assert_eq!((next.kept, next.left), (0, 15));
    }

    /// A vendor of 1 s windows (10 per 1 s): the probe's answer reports a
    /// window ending within the second. A ledger that knows no window yet
    /// closed none it could describe: it learns it (dropped as a late
    /// report, the fleet probed every 2 s and used 5.6 % of the quota).
    #[test]
    fn a_cold_ledger_learns_a_window_shorter_than_a_second() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
        let mut taught = ask(1, 20, 10);
        taught.reports = report(10, 9, 980);
        let first = lease(ledger.renew(&taught));
        assert_eq!(first.limit, 10);
        assert_eq!(ledger.lease_end, 1_000, "the window's end");
        // Once a window is known, a short report may be a late one of it.
        let mut late = ask(2, 1_100, 10);
        late.reports = report(10, 0, 900);
        ledger.renew(&late);
        assert_eq!(ledger.state.binding().unwrap().remaining, 10, "refilled");
    }

    /// A renewal refills once, before it learns: no report ends a window
    /// at or before now, not even a reset of 0 (a truncating vendor's
    /// "0 left" through its window's last second), which ends a second on.
    /// (A second refill after learning, kept for such reports, refilled
    /// nothing: this passes with it and without it.)
    #[test]
    fn a_reset_of_zero_holds_the_fleet_to_the_end_of_its_second() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
        let mut taught = ask(1, 20, 10);
        taught.reports = report(10, 0, 0);
        let held = lease(ledger.renew(&taught));
        assert_eq!((held.left, held.hold_until), (0, 1_020));
        assert_eq!(ledger.state.binding().unwrap().remaining, 0, "not refilled");
        assert_eq!(lease(ledger.renew(&ask(1, 1_020, 10))).left, 10);
    }

    /// A scope that announces nothing opens on its probe's answer: the
    /// fleet joins, then each member may have its fair share of
    /// [`OPEN_IN_FLIGHT`] requests in flight, and more once many answers
    /// came back without a 429, or as time passes.
    #[test]
    fn an_open_scope_bounds_the_fleets_requests_in_flight() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
        let held = ledger.renew(&ask(2, 1, 10));
        assert_eq!(held, Answer::Hold(1), "asks again soon");
        let mut nothing = ask(1, 5, 10);
        nothing.open = true;
        // Held exactly while the fleet joins (3 and 4 start late).
        assert_eq!(ledger.renew(&nothing), Answer::Hold(RAMP_JOIN));
        let late = ledger.renew(&ask(3, 100, 10));
        assert_eq!(late, Answer::Hold(RAMP_JOIN - 95));
        let later = ledger.renew(&ask(4, 200, 10));
        assert_eq!(later, Answer::Hold(RAMP_JOIN - 195));
        // Then fair shares of 16 in flight.
        let at = 5 + RAMP_JOIN;
        for member in 1..=4 {
            let share = ledger.renew(&ask(member, at, 10));
            assert_eq!(share, Answer::Open(4), "{member}");
        }
        // A fleet whose vendor never throttles is not held to 16: 1,280
        // answers without a 429, 80 in flight; 8 s on, 80 (slow answers).
        let mut busy = ask(1, at + 100, 10);
        busy.answered = 1_280;
        assert_eq!(ledger.renew(&busy), Answer::Open(20));
        let slow = ask(2, at + 8_000, 10);
        assert_eq!(ledger.renew(&slow), Answer::Open(20));
        let decoded = Ledger::decode(&ledger.encode()).unwrap();
        assert_eq!(decoded.encode(), ledger.encode());
    }

    /// A window that reset with no answer since has no known end: its
    /// lease window ends where it was guessed (as long as the last), and
    /// a renewal does not push that end on. (Pushed by every renewal a
    /// second or more after it, a fleet whose members renew a second apart
    /// never reached it: each member was held to the end the last one
    /// set, the lease window never rolled, its budget stayed leased, and
    /// nothing was sent that could teach the window's reset.)
    #[test]
    fn a_lease_window_whose_end_is_guessed_ends_there() {
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 7);
        taught.reports = report(20, 20, 2_000);
        // (The ledger's first window may be the tail of one: its length is
        // the second's, from its start at the first's end. It is ramped:
        // 2 and 3 ask past the fleet's join, a quarter of half of it.)
        let rounds = [
            (1, 0, 7),
            (2, 250, 7),
            (3, 250, 6),
            (1, 2_000, 7),
            (2, 2_000, 7),
        ];
        for (member, now, left) in rounds.into_iter().chain([(3, 2_000, 6)]) {
            let asked = Ask {
                member,
                now,
                ..taught
            };
            assert_eq!(lease(ledger.renew(&asked)).left, left);
        }
        // The window reset at 4 s; nothing since told its next reset: the
        // next is guessed as long (were it a lease interval, the members
        // would wait 3 s past a vendor's 2 s window).
        let end = 4_010 + 2_000;
        for (member, now, left) in [(1, 4_010, 7), (2, 4_020, 7), (3, 4_030, 6)] {
            let granted = lease(ledger.renew(&ask(member, now, 7)));
            assert_eq!((granted.left, granted.until), (left, end));
        }
        // Spent, the members come back: held to that end.
        for (member, now) in [(1, 5_100), (2, 5_500), (3, 5_900), (1, 6_000)] {
            let held = lease(ledger.renew(&ask(member, now, 7)));
            assert_eq!((held.left, held.hold_until), (0, end), "{member} at {now}");
        }
        // There, the next lease window opens.
        for (member, left) in [(2, 7), (3, 7), (1, 6)] {
            let granted = lease(ledger.renew(&ask(member, end, 7)));
            assert_eq!((granted.left, granted.until), (left, end + 2_000));
        }
    }

    #[test]
    fn a_lease_window_begun_on_a_remnant_rolls_at_the_next_window() {
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 100);
        taught.reports = report(50, 50, 5_000);
        assert_eq!(lease(ledger.renew(&taught)).left, 50);
        // The window reset at 5 s; its lease window's end is guessed, and
        // the next report's end (to the second) is 40 ms past that guess.
        let mut spent = ask(1, 5_000, 43);
        spent.returned = 50;
        assert_eq!(lease(ledger.renew(&spent)).until, 10_000);
        let mut told = ask(1, 5_040, 100);
        told.reports = report(50, 7, 5_000);
        ledger.renew(&told);
        // Its guessed end comes before that reset: the lease window is not
        // rolled on the window's remnant (its remaining leased again, with
        // the units of the last lease still unsent), it ends at the reset.
        let granted = lease(ledger.renew(&ask(1, 10_001, 100)));
        assert_eq!((granted.left, granted.hold_until), (0, 10_040));
        // The vendor's next window's first report (ends 5 s on, 49 left)
        // comes before that: the next window is leased, not the remnant
        // stretched to its end.
        let mut next = ask(1, 10_020, 100);
        next.reports = report(50, 49, 5_000);
        let granted = lease(ledger.renew(&next));
        assert_eq!((granted.left, granted.until), (49, 15_020));
    }

    /// Redis came back empty 1.3 s into a vendor's 2 s window: the new
    /// ledger's first lease window is the window's tail. The next window's
    /// end, not told yet, is guessed short (a second: it may be a 1 s
    /// window's) and confirmed by one unit (0.7 s, unconfirmed: such a
    /// lease window ended before the vendor's reset and leased its
    /// remaining again); the first report tells it.
    #[test]
    fn a_new_ledgers_first_window_does_not_set_the_guess() {
        let mut ledger = Ledger::default();
        let mut back = ask(1, 10_000, 4);
        back.reports = report(15, 10, 700);
        lease(ledger.renew(&back));
        assert_eq!((ledger.lease_start, ledger.lease_end), (0, 10_700));
        assert_eq!(lease(ledger.renew(&ask(1, 10_710, 4))).left, 1, "confirmed");
        assert_eq!(ledger.lease_end, 10_710 + WHOLE_SECOND, "guessed short");
        let mut told = ask(1, 10_800, 4);
        told.reports = report(15, 12, 1_900);
        lease(ledger.renew(&told));
        assert_eq!(ledger.lease_end, 12_700);
    }

    /// Redis came back empty 0.2 s into a vendor's 2 s window: the new
    /// ledger read the window's last 1.8 s, and guesses the next as long,
    /// short of the vendor's. A report of that window's last second tells
    /// its end, and the lease window ends there, not at the guess (the
    /// report was taken for the closed window's and dropped: the fleet
    /// leased the next window 0.2 s before the vendor's reset, and
    /// `tests/quota_redis.rs`'s restarted fleet drew 3 429s).
    #[test]
    fn a_guessed_end_short_of_the_vendors_follows_its_told_reset() {
        let mut ledger = Ledger::default();
        let mut back = ask(1, 10_000, 4);
        back.reports = report(15, 10, 1_800);
        lease(ledger.renew(&back));
        lease(ledger.renew(&ask(1, 11_800, 4)));
        let guessed = (ledger.lease_start, ledger.lease_end);
        assert_eq!(guessed, (11_800, 13_600), "guessed as long as read");
        let mut told = ask(1, 13_000, 4);
        told.reports = report(15, 7, 999);
        lease(ledger.renew(&told));
        lease(ledger.renew(&ask(1, 13_700, 4)));
        let told = (ledger.lease_start, ledger.lease_end);
        assert_eq!(told, (11_800, 13_999), "no new window before the reset");
    }

    #[test]
    fn shares_differ_by_a_unit_at_most() {
        // 50 among 8 busy members: two get 7 and six 6 (shares rounded up
        // for all left the last to claim 1).
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 0);
        taught.reports = report(50, 50, 10_000);
        ledger.renew(&taught);
        for member in 2..=8 {
            ledger.renew(&ask(member, 1, 0));
        }
        let shares: Vec<u64> = (1..=8)
            .map(|member| lease(ledger.renew(&ask(member, RAMP_JOIN, 1_000))).left)
            .collect();
        assert_eq!(shares, [7, 7, 6, 6, 6, 6, 6, 6]);
    }

    /// A request of 8 in a window of 10 that two members share (fair
    /// shares of 5): its member's claim is leased whole in a window with
    /// room for it, the other member's share making room, and the claim
    /// goes once leased. (Held to a share of 5, it was never placed: held
    /// to `max_wait`, then refused, while the vendor saw 1-3 units a
    /// window.) A request within its share claims nothing.
    #[test]
    fn a_costly_request_past_a_share_is_placed_in_a_window_with_room() {
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 0);
        taught.reports = report(10, 10, 2_000);
        ledger.renew(&taught);
        ledger.renew(&ask(2, 1, 0));
        let b = lease(ledger.renew(&ask(2, RAMP_JOIN, 4)));
        let costly = |now, cost| Ask {
            costly: cost,
            ..ask(1, now, cost)
        };
        let a = lease(ledger.renew(&costly(RAMP_JOIN + 1, 8)));
        // This window: B keeps its lease, A gets the rest; the claim stands.
        assert_eq!((b.left, a.left), (4, 6));
        let mut ledger = Ledger::decode(&ledger.encode()).unwrap();
        assert_eq!(ledger.members[0].costly, 8, "kept in Redis");
        // The next window: B, asking first, makes room; A gets its 8.
        let mut next = ask(2, 2_100, 4);
        next.reports = report(10, 10, 2_000);
        assert_eq!(lease(ledger.renew(&next)).left, 2);
        assert_eq!(lease(ledger.renew(&costly(2_110, 8))).left, 8);
        assert_eq!(ledger.members[0].costly, 0, "leased: the claim goes");
        lease(ledger.renew(&costly(2_120, 5)));
        assert_eq!(ledger.members[0].costly, 0, "within a share: no claim");
    }

    /// A holds the whole window (100 of a minute); B finds it all leased
    /// and is held until A would be dropped, should A stop renewing, not to
    /// the window's end a minute on.
    fn held_by_a() -> Ledger {
        let mut ledger = Ledger::default();
        let mut a = ask(1, 0, 1_000);
        a.reports = report(100, 100, 60_000);
        assert_eq!(lease(ledger.renew(&a)).left, 100);
        let b = lease(ledger.renew(&ask(2, 10, 1_000)));
        assert_eq!((b.left, b.hold_until), (0, MEMBER_TTL));
        ledger
    }

    #[test]
    fn a_member_that_stops_renewing_gives_its_lease_back() {
        let mut ledger = held_by_a();
        // Asked sooner (a restart), the same.
        let b = lease(ledger.renew(&ask(2, LEASE_TTL, 1_000)));
        assert_eq!((b.left, b.hold_until), (0, MEMBER_TTL));
        // A is gone: past MEMBER_TTL its lease returns to the pool.
        let later = lease(ledger.renew(&ask(2, MEMBER_TTL + 1, 1_000)));
        assert_eq!(later.left, 100);
        assert_eq!(later.members, 1);
    }

    /// A member that renews stays a member: the others, held until it
    /// would be dropped, are then held on, not asked back every second.
    #[test]
    fn a_live_member_holding_the_window_keeps_the_others_held() {
        let mut ledger = held_by_a();
        // A renews at 4 s, having used it all: nothing of it can come back
        // before the window's end, and B, asking again, is held to it.
        let a = lease(ledger.renew(&ask(1, 4_000, 1_000)));
        assert_eq!((a.left, a.hold_until), (0, 60_000));
        let b = lease(ledger.renew(&ask(2, MEMBER_TTL, 1_000)));
        assert_eq!((b.left, b.hold_until), (0, 60_000));
    }

    #[test]
    fn an_outage_teaches_no_window() {
        let mut ledger = opened();
        // 300 answers, then a 503 asking for 1 s: no limit is learned
        // from it (a 429's, the same, teaches one: the test below), and
        // the scope stays open.
        let mut outage = ask(1, 9_010, 1_000);
        (outage.answered, outage.cooldown, outage.limited) = (300, Some(1_000), false);
        assert!(matches!(ledger.renew(&outage), Answer::Open(_)));
        assert_eq!(ledger.inferred, None);
        assert_eq!(ledger.state.cooldown_until, Some(10_010), "shared");
    }

    #[test]
    fn a_vendor_that_announces_nothing_is_inferred_and_paced_aimd() {
        let mut ledger = opened();
        // Two members counted 180 + 120 successes, then a 429 asked for 1 s
        // at 9.01 s: 300 per 10 s, paced at 90 %.
        let mut b = ask(2, 5_000, 10);
        b.answered = 120;
        // (Half of 47 in flight: one more per 100 ms since the fleet joined.)
        assert_eq!(ledger.renew(&b), Answer::Open(23));
        let mut throttled = ask(1, 9_010, 1_000);
        throttled.answered = 180;
        throttled.cooldown = Some(1_000);
        let held = lease(ledger.renew(&throttled));
        assert_eq!(held.hold_until, 10_010, "the 429's wait holds the fleet");
        let inferred = ledger.inferred.unwrap();
        assert_eq!((inferred.limit, inferred.margin), (300, 90));
        assert_eq!(inferred.length, 10_000);
        // After the wait: a lease of the inferred window (270, two members).
        let first = lease(ledger.renew(&ask(1, 10_020, 1_000)));
        assert_eq!((first.left, first.limit), (135, 270));
        // B reports 20 more it counted before it heard of the 429: late,
        // yet that window's; the window that followed grows by 90 % of it.
        let mut late = ask(2, 10_030, 10);
        late.answered = 20;
        lease(ledger.renew(&late));
        assert_eq!(ledger.inferred.unwrap().limit, 320);
        assert_eq!(ledger.budget, 288, "the window under way grows too");
        assert_eq!(ledger.count, 0, "nothing of the window under way");
        // A window without a 429 grows the margin back by a step.
        let mut quiet = ask(1, 20_030, 1_000);
        (quiet.answered, quiet.epoch) = (288, inferred.last_end);
        let next = lease(ledger.renew(&quiet));
        assert_eq!(ledger.inferred.unwrap().margin, 92);
        assert_eq!(next.limit, 294);
        // A 429 in the next window shrinks it; the two windows' answers
        // are no one window's limit, which stays.
        let mut again = ask(2, 29_000, 10);
        again.answered = 250;
        again.epoch = inferred.last_end;
        again.cooldown = Some(1_010);
        lease(ledger.renew(&again));
        let shrunk = ledger.inferred.unwrap();
        assert_eq!(
            (shrunk.limit, shrunk.margin, shrunk.length),
            (320, 82, 10_000)
        );
        let decoded = Ledger::decode(&ledger.encode()).unwrap();
        assert_eq!(decoded.encode(), ledger.encode());
    }

    /// A hash this crate did not write (another program's, a corrupted
    /// one) is refused, whatever its field names: an empty name, or one
    /// that starts with a character of several bytes, panicked in the
    /// renewal task.
    #[test]
    fn a_ledger_with_foreign_field_names_is_refused_without_a_panic() {
        let mut fields = Ledger::default().encode();
        for name in ["", "é1", "\u{1F600}", "x"] {
            fields.extend([name.to_owned(), "1".to_owned()]);
            assert!(Ledger::decode(&fields).is_none(), "{name:?}");
            fields.truncate(fields.len() - 2);
        }
    }

    /// A scope opened at 10 ms: its probe taught nothing, and the fleet
    /// joins before the first shares are cut.
    fn opened() -> Ledger {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
        let mut opened = ask(1, 10, 10);
        opened.open = true;
        assert_eq!(ledger.renew(&opened), Answer::Hold(RAMP_JOIN));
        ledger
    }

    /// A scope opened at 10 ms (its probe taught nothing), whose member
    /// counted `answered` successes, then a 429 at `at` that asked to wait
    /// `wait`; the lease that answered it.
    fn opened_then_throttled(answered: u64, at: Millis, wait: Millis) -> (Ledger, Granted) {
        let mut ledger = opened();
        let mut first = ask(1, at, 1_000);
        (first.answered, first.cooldown) = (answered, Some(wait));
        let held = lease(ledger.renew(&first));
        (ledger, held)
    }

    /// A fleet that starts 6 s into a vendor's 10 s window measures its
    /// first window 4 s long. The next 429 comes one vendor window after
    /// the first (the fleet spent it in its first "window" and drew a 429
    /// early in its second): with at most one window's answers between
    /// them, the two 429s bound one window, and its length is learned.
    /// The margin holds: the window's length drew the 429, not the limit.
    /// More than a window's answers between them: windows passed without
    /// a 429, and the length holds (the margin shrinks).
    #[test]
    fn a_fleet_that_starts_late_in_a_window_learns_its_length_at_the_next_429() {
        for (answered, length, margin) in [(300, 10_000, 92), (600, 3_990, 82)] {
            let (mut ledger, held) = opened_then_throttled(300, 500, 3_500);
            assert_eq!(held.hold_until, 4_000);
            assert_eq!(
                ledger.inferred.unwrap().length,
                3_990,
                "short: started late"
            );
            assert_eq!(lease(ledger.renew(&ask(1, 4_010, 1_000))).left, 270);
            let guessed = lease(ledger.renew(&ask(1, 8_000, 1_000)));
            assert_eq!(guessed.left, 16, "the guessed window opens small");
            let mut second = ask(1, 8_100, 1_000);
            (second.answered, second.epoch) = (answered, 4_000);
            second.cooldown = Some(5_900);
            lease(ledger.renew(&second));
            let learned = ledger.inferred.unwrap();
            assert_eq!(
                (learned.length, learned.last_end, learned.margin),
                (length, 14_000, margin),
                "{answered}"
            );
        }
    }

    /// Past the end the first inference guessed, leases are a share of
    /// 16 until the fleet's answers show the window reset: 316 since the
    /// 429 (its limit, 300, and the 16).
    #[test]
    fn the_window_after_the_first_inferred_one_opens_with_small_leases() {
        let (mut ledger, _) = opened_then_throttled(300, 9_010, 1_000);
        assert_eq!(ledger.inferred.unwrap().unsure_from, 20_010);
        let whole = lease(ledger.renew(&ask(1, 10_020, 1_000)));
        assert_eq!(whole.left, 270, "the window after a 429's wait: sure");
        let mut guessed = ask(1, 20_020, 1_000);
        (guessed.answered, guessed.epoch) = (270, 10_010);
        assert_eq!(lease(ledger.renew(&guessed)).left, 16);
        let mut shown = ask(1, 20_030, 1_000);
        (shown.answered, shown.epoch) = (46, 10_010);
        // (The margin grew by a step: the window before had no 429.)
        assert_eq!(lease(ledger.renew(&shown)).left, 276 - 16);
        assert_eq!(ledger.inferred.unwrap().unsure_from, 0);
        let decoded = Ledger::decode(&ledger.encode()).unwrap();
        assert_eq!(decoded.encode(), ledger.encode());
    }

    /// A 429 more than a second after the last wait's end with no answer
    /// since: the wait was read early (a vendor that truncates its
    /// seconds), and the vendor's window had not ended. Its end is the
    /// window's truer start: the length, limit and margin hold (before,
    /// the 2.5 s between the two ends were taken for a window's length).
    #[test]
    fn a_429_with_no_answer_since_the_last_wait_marks_the_windows_start() {
        let (mut ledger, _) = opened_then_throttled(300, 9_010, 1_000);
        let learned = ledger.inferred.unwrap();
        let mut early = ask(1, 11_500, 1_000);
        early.cooldown = Some(1_000);
        lease(ledger.renew(&early));
        let truer = ledger.inferred.unwrap();
        assert_eq!(
            (truer.length, truer.limit, truer.margin),
            (learned.length, learned.limit, learned.margin)
        );
        assert_eq!(truer.last_end, 12_500);
        assert_eq!(truer.unsure_from, 12_500 + truer.length);
    }

    #[test]
    fn a_member_held_to_the_window_end_stays_one_without_renewing() {
        let mut ledger = Ledger::default();
        let mut a = ask(1, 0, 1_000);
        a.reports = report(100, 100, 60_000);
        assert_eq!(lease(ledger.renew(&a)).left, 100);
        // A spent it all: nothing can come back before the window's end.
        assert_eq!(lease(ledger.renew(&ask(1, 5, 1_000))).hold_until, 60_000);
        let b = lease(ledger.renew(&ask(2, 10, 1_000)));
        assert_eq!((b.left, b.hold_until), (0, 60_000), "held to A's hold");
        // Two lease intervals on, B has not renewed and is still a member
        // (no keep-alive needed); a lease interval past its hold, it is not.
        let later = lease(ledger.renew(&ask(1, MEMBER_TTL + 20, 1_000)));
        assert_eq!(later.members, 2);
        let gone = lease(ledger.renew(&ask(1, 60_000 + LEASE_TTL + 1, 1_000)));
        assert_eq!(gone.members, 1);
    }
    #[test]
    fn a_ledger_back_empty_counts_what_members_were_given_meanwhile() {
        let mut ledger = Ledger::default();
        // Redis came back empty mid-window: A saw 150 of 300 left, and had
        // taken its cautious share (75) while Redis was down; so had B.
        let mut a = ask(1, 0, 1_000);
        a.reports = report(300, 150, 8_000);
        a.held = 75;
        assert_eq!(lease(ledger.renew(&a)).left, 0, "A has its share");
        let mut b = ask(2, 10, 1_000);
        b.held = 75;
        assert_eq!(lease(ledger.renew(&b)).left, 0, "so has B");
        // C and D took none: theirs is what is left, never more than 300 in all.
        let (c, d) = (ask(3, 20, 1_000), ask(4, 30, 1_000));
        let (mut c_total, mut d_total) = (0, 0);
        for at in [40, 40 + RAMP_JOIN, 40 + LEASE_TTL] {
            c_total += lease(ledger.renew(&Ask { now: at, ..c })).left;
            d_total += lease(ledger.renew(&Ask { now: at + 1, ..d })).left;
        }
        assert_eq!((c_total, d_total), (75, 75));
        assert!(ledger.budget <= 300 && ledger.granted == 300, "{ledger:?}");
    }

    /// A member joining a ledger come back empty with units of its share
    /// in hand keeps them, and they count: its view of what is left (150
    /// of 300) is net of the 50 it sent, not of the 25 it keeps, so the
    /// window's budget is 200 (the other gets its half), not 225.
    #[test]
    fn a_ledger_back_empty_counts_what_a_member_keeps() {
        let mut ledger = Ledger::default();
        let mut a = ask(1, 0, 1_000);
        a.reports = report(300, 150, 8_000);
        (a.held, a.kept) = (75, 25);
        let kept = lease(ledger.renew(&a));
        assert_eq!((kept.kept, kept.left), (25, 0));
        let mut others = 0;
        for at in [4_000, 4_001, 4_002, 4_003] {
            others += lease(ledger.renew(&ask(2, at, 1_000))).left;
        }
        assert_eq!((ledger.budget, others), (200, 100));
    }

    /// The first window a cold fleet learns is held while the fleet joins
    /// (a quarter of the ramp at most: of half the window, a lease interval
    /// at most), then leased whole in fair shares of the members that
    /// joined, and nothing beyond them until the ramp's end; meanwhile, a
    /// member that wants little gets it at once.
    #[test]
    fn a_cold_fleets_first_window_is_held_while_the_fleet_joins() {
        let held = |answer| {
            let granted = lease(answer);
            (granted.left, granted.hold_until)
        };
        let rows = [
            (10_000, RAMP_JOIN, 5_000),
            (2_000, 250, 1_000),
            (1_200, 150, 600),
        ];
        for (length, join, end) in rows {
            let mut ledger = Ledger::default();
            assert_eq!(ledger.renew(&ask(1, 0, 10)), Answer::Probe);
            let mut taught = ask(1, 100, 1_000);
            taught.reports = report(300, 299, length);
            let at = 100 + join;
            assert_eq!(held(ledger.renew(&taught)), (0, at), "{length}");
            let joins = ask(2, at - 1, 1_000);
            assert_eq!(held(ledger.renew(&joins)), (0, at), "{length}");
            // A member that wants little meanwhile is not held: it fits
            // its fair share of the first eighth (37 over three members);
            // a fourth's share is 10.
            let little = ask(3, at - 1, 12);
            assert_eq!(held(ledger.renew(&little)), (12, 0), "{length}");
            let more = ask(4, at - 1, 11);
            assert_eq!(held(ledger.renew(&more)), (0, at), "{length}");
            let first = lease(ledger.renew(&ask(1, at, 1_000)));
            let second = lease(ledger.renew(&ask(2, at, 1_000)));
            assert_eq!((first.left, second.left), (75, 75), "{length}");
            // Nothing beyond a fair share until the ramp's end.
            let again = ask(1, at + 1, 1_000);
            assert_eq!(held(ledger.renew(&again)), (0, 100 + end), "{length}");
        }
    }

    /// A ledger's first window learned from a member's report (not a
    /// probe's) is ramped too: the member that taught it gets what it asked
    /// (a lone member is not held), but its quick renewals find no more
    /// than the members asking at once until they joined, then a fair
    /// share each (README, the fleet: "fair shares of each window"). It
    /// took 30 of 40 at its second renewal, and 4 members admitted
    /// [40, 0, 3, 0].
    #[test]
    fn a_first_window_learned_from_a_report_is_shared_by_members_asking_at_once() {
        let mut ledger = Ledger::default();
        let mut taught = ask(1, 0, 4);
        taught.reports = report(40, 40, 60_000);
        assert_eq!(lease(ledger.renew(&taught)).left, 4);
        let again = lease(ledger.renew(&ask(1, 5, 30)));
        assert_eq!((again.left, again.hold_until), (0, RAMP_JOIN));
        for member in 2..=4 {
            let joins = lease(ledger.renew(&ask(member, 10, 4)));
            assert_eq!((joins.left, joins.hold_until), (0, RAMP_JOIN), "{member}");
        }
        let shares: Vec<u64> = (1..=4)
            .map(|member| lease(ledger.renew(&ask(member, RAMP_JOIN, 30))).left)
            .collect();
        assert_eq!(shares, [6, 10, 10, 10], "10 each in all");
    }
}
