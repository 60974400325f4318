//! The circuits: one per scope, in one map shared by a layer's services.
//! Pure state transitions at a given `now`, so that they are tested
//! without a clock.

use crate::hints::{HintSource, RetryHint};
use crate::lock;
use crate::scope::DigestMap;
use http::Uri;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Slots of the failure-rate window.
const SLOTS: usize = 10;

/// Scopes kept at most. Past it, idle closed circuits are dropped; should
/// every one be busy, a new scope is let through untracked (a breaker
/// never refuses for want of room).
pub(crate) const MAX_SCOPES: usize = 4096;

/// When the other calls come back while the one probe is out.
pub(crate) const PROBE_WAIT: Duration = Duration::from_millis(250);

/// The thresholds a layer's circuits share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub(crate) failure_rate: f64,
    pub(crate) minimum_calls: u32,
    pub(crate) window: Duration,
    pub(crate) base_break: Duration,
    pub(crate) max_break: Duration,
}

impl Thresholds {
    /// Whether what happened at `at` is still in the window at `now`.
    fn in_window(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.window
    }
}

/// What an attempt told about its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The upstream answered (a success, a 4xx, a 429).
    Answered,
    /// A counted failure, with the server's hint when it gave one.
    Unwell(Option<RetryHint>),
    /// Nothing learned: not sent (a layer below refused), dropped, or a
    /// failure of a kind not counted.
    Silent,
}

/// A state change worth an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Opened (or reopened after a failed probe) for this long.
    Opened { until: Duration, signalled: bool },
    /// The break is over: this call is the probe.
    Probe,
    /// The probe succeeded.
    Closed,
    /// Opened for this long by an opening the fleet shared.
    Learned { until: Duration },
}

/// An opening the fleet shared: its time (Unix ms, what tells a new one
/// from one already learned) and how long it still has to run.
pub(crate) type FleetOpening = (u64, Duration);

/// The answer to "may this call go?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Send; `probe` when this call is the half-open probe.
    Go { probe: bool },
    /// Refuse: come back in `after`.
    Refuse {
        after: Duration,
        source: Option<HintSource>,
        probing: bool,
    },
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    calls: u32,
    failures: u32,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open {
        until: Instant,
        source: Option<HintSource>,
    },
    Probing,
}

#[derive(Debug)]
struct Circuit {
    /// What events name the scope by: scheme and authority.
    label: Uri,
    phase: Phase,
    slots: [Slot; SLOTS],
    index: usize,
    slot_start: Instant,
    /// Openings in a row (a failed probe counts): the break grows with it.
    opens: u32,
    /// The latest time a counted failure's server hint named, and when
    /// that failure was counted (a hint times an opening only while its
    /// failure is in the window).
    hinted: Option<(Instant, HintSource, Instant)>,
    /// When a probe last closed it.
    closed_at: Option<Instant>,
    /// The latest fleet opening (Unix ms) learned or published here: each
    /// is learned once, and a process never learns back its own.
    fleet_seen: u64,
}

impl Circuit {
    fn new(now: Instant, label: Uri) -> Self {
        Circuit {
            label,
            phase: Phase::Closed,
            slots: [Slot::default(); SLOTS],
            index: 0,
            slot_start: now,
            opens: 0,
            hinted: None,
            closed_at: None,
            fleet_seen: 0,
        }
    }

    /// Learns a fleet opening not seen before, unless it is over or this
    /// circuit is open longer already; keeps the local counts.
    fn learn(&mut self, (at, left): FleetOpening, now: Instant) -> Option<Transition> {
        if at <= self.fleet_seen {
            return None;
        }
        self.fleet_seen = at;
        let until = now + left;
        match self.phase {
            _ if left.is_zero() => None,
            Phase::Open { until: local, .. } if local >= until => None,
            _ => {
                let source = Some(HintSource::RetryAfter);
                self.phase = Phase::Open { until, source };
                Some(Transition::Learned { until: left })
            }
        }
    }

    /// Slides the window to `now`.
    fn slide(&mut self, now: Instant, window: Duration) {
        let slot = window / SLOTS as u32;
        let mut since = now.saturating_duration_since(self.slot_start);
        if since >= window {
            self.slots = [Slot::default(); SLOTS];
            self.slot_start = now;
            return;
        }
        while since >= slot {
            self.index = (self.index + 1) % SLOTS;
            self.slots[self.index] = Slot::default();
            self.slot_start += slot;
            since -= slot;
        }
    }

    fn totals(&self) -> (u32, u32) {
        self.slots.iter().fold((0, 0), |(calls, failures), slot| {
            (calls + slot.calls, failures + slot.failures)
        })
    }

    fn idle(&self, now: Instant, window: Duration) -> bool {
        matches!(self.phase, Phase::Closed)
            && now.saturating_duration_since(self.slot_start) >= window
    }

    /// Opens: until the server's hint when a counted failure in the window
    /// gave one that is still ahead, else for the break, which doubles with
    /// each opening in a row up to the cap.
    /// A circuit that stayed closed a whole window starts from the base.
    /// A zero wait on the failure that opens it (`Retry-After: 0`: RFC 9110
    /// §10.2.3, a delay of no seconds) names now: the next call is the
    /// probe, one at a time as ever.
    fn open(&mut self, now: Instant, t: &Thresholds) -> Transition {
        if self.closed_at.is_some_and(|at| !t.in_window(at, now)) {
            self.opens = 0;
        }
        self.opens = self.opens.saturating_add(1);
        let (until, source) = match self.hinted.take() {
            Some((at, source, seen)) if at >= now && t.in_window(seen, now) => (at, Some(source)),
            _ => {
                let doublings = self.opens.saturating_sub(1).min(16);
                let length = t.base_break.saturating_mul(1 << doublings).min(t.max_break);
                (now + length, None)
            }
        };
        self.phase = Phase::Open { until, source };
        self.slots = [Slot::default(); SLOTS];
        Transition::Opened {
            until: until - now,
            signalled: source.is_some(),
        }
    }

    /// Records what a call admitted to this circuit told.
    fn settle(
        &mut self,
        probe: bool,
        verdict: Verdict,
        now: Instant,
        t: &Thresholds,
    ) -> Option<Transition> {
        if let Verdict::Unwell(Some(hint)) = verdict {
            let at = now + hint.delay();
            if self
                .hinted
                .is_none_or(|(known, _, seen)| known < at || !t.in_window(seen, now))
            {
                self.hinted = Some((at, hint.source(), now));
            }
        }
        // A probe settles only a circuit still waiting on it: one that
        // learned the fleet's opening meanwhile stays open until then (the
        // server's word; a dropped probe or a local break would cut it
        // short, and it is not learned twice).
        if probe && !matches!(self.phase, Phase::Probing) {
            return None;
        }
        if probe {
            return match verdict {
                Verdict::Answered => {
                    let label = std::mem::take(&mut self.label);
                    *self = Circuit {
                        opens: self.opens,
                        fleet_seen: self.fleet_seen,
                        closed_at: Some(now),
                        ..Circuit::new(now, label)
                    };
                    Some(Transition::Closed)
                }
                Verdict::Unwell(_) => Some(self.open(now, t)),
                // Nothing learned: the next call probes.
                Verdict::Silent => {
                    self.phase = Phase::Open {
                        until: now,
                        source: None,
                    };
                    None
                }
            };
        }
        if !matches!(self.phase, Phase::Closed) || verdict == Verdict::Silent {
            // A call admitted before the opening, answering late.
            return None;
        }
        self.slide(now, t.window);
        let slot = &mut self.slots[self.index];
        slot.calls += 1;
        if matches!(verdict, Verdict::Unwell(_)) {
            slot.failures += 1;
        }
        // Checked after every call, a success too (nine failures, then an
        // answer, is 9 of 10), as Resilience4j does.
        let (calls, failures) = self.totals();
        let over = f64::from(failures) >= t.failure_rate * f64::from(calls);
        (calls >= t.minimum_calls && over).then(|| self.open(now, t))
    }
}

/// A layer's circuits, by scope key.
#[derive(Debug, Default)]
pub(crate) struct Circuits {
    table: Mutex<Table>,
}

/// The map, and when a full map is next swept for room: not before a
/// circuit kept can be idle, nor more than once a slot, so that a new
/// scope's call goes untracked at once rather than sweep every circuit in
/// vain (holding the lock every call needs) each time.
#[derive(Debug, Default)]
struct Table {
    map: DigestMap<u64, Circuit>,
    no_room_until: Option<Instant>,
}

impl Table {
    /// Drops the idle circuits of a full map, unless it is too early to
    /// look again; notes when to look next.
    fn make_room(&mut self, now: Instant, window: Duration) {
        if self.no_room_until.is_some_and(|until| now < until) {
            return;
        }
        let mut first_idle = None::<Instant>;
        self.map.retain(|_, circuit| {
            let idle = circuit.idle(now, window);
            if !idle {
                // (`slot_start` only moves on: not idle before this.)
                let at = circuit.slot_start + window;
                first_idle = Some(first_idle.map_or(at, |first| first.min(at)));
            }
            !idle
        });
        let next_slot = now + window / SLOTS as u32;
        self.no_room_until = first_idle.map(|at| at.max(next_slot));
    }
}

impl Circuits {
    /// Whether a call to scope `key` may go, and the transition it makes.
    /// `None` for the key: the scope is untracked (no room). `label` names
    /// a new scope in events.
    pub(crate) fn admit(
        &self,
        key: u64,
        now: Instant,
        fleet: Option<FleetOpening>,
        t: &Thresholds,
        label: impl FnOnce() -> Uri,
    ) -> (Option<u64>, Admission, Option<(Transition, Uri)>) {
        let table = &mut *lock(&self.table);
        // One lookup while the table has room; a full one is asked first
        // whether the scope is new, and makes room for it.
        if table.map.len() >= MAX_SCOPES && !table.map.contains_key(&key) {
            table.make_room(now, t.window);
            if table.map.len() >= MAX_SCOPES {
                return (None, Admission::Go { probe: false }, None);
            }
        }
        let fresh = || Circuit::new(now, label());
        let circuit = table.map.entry(key).or_insert_with(fresh);
        let learned = fleet.and_then(|opening| circuit.learn(opening, now));
        let mut transition = learned.map(|transition| (transition, circuit.label.clone()));
        let admission = match circuit.phase {
            Phase::Closed => Admission::Go { probe: false },
            Phase::Open { until, source } if now < until => Admission::Refuse {
                after: until - now,
                source,
                probing: false,
            },
            Phase::Open { .. } => {
                circuit.phase = Phase::Probing;
                transition.get_or_insert_with(|| (Transition::Probe, circuit.label.clone()));
                Admission::Go { probe: true }
            }
            Phase::Probing => Admission::Refuse {
                after: PROBE_WAIT,
                source: None,
                probing: true,
            },
        };
        (Some(key), admission, transition)
    }

    /// Marks the fleet opening this process published for scope `key`
    /// (Unix ms) as seen: it is not learned back.
    pub(crate) fn published(&self, key: u64, at: u64) {
        if let Some(circuit) = lock(&self.table).map.get_mut(&key) {
            circuit.fleet_seen = circuit.fleet_seen.max(at);
        }
    }

    /// Records what a call admitted to scope `key` told.
    pub(crate) fn record(
        &self,
        key: u64,
        probe: bool,
        verdict: Verdict,
        now: Instant,
        t: &Thresholds,
    ) -> Option<(Transition, Uri)> {
        let table = &mut *lock(&self.table);
        let circuit = table.map.get_mut(&key)?;
        let transition = circuit.settle(probe, verdict, now, t)?;
        Some((transition, circuit.label.clone()))
    }

    /// Scopes tracked (for tests and `Debug`).
    pub(crate) fn len(&self) -> usize {
        lock(&self.table).map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            failure_rate: 0.5,
            minimum_calls: 4,
            window: Duration::from_secs(10),
            base_break: Duration::from_secs(5),
            max_break: Duration::from_secs(30),
        }
    }

    fn call(c: &Circuits, now: Instant, verdict: Verdict) -> (Admission, Option<Transition>) {
        let t = thresholds();
        let (key, admission, transition) = c.admit(1, now, None, &t, Uri::default);
        let transition = transition.map(|(transition, _)| transition);
        if let Admission::Go { probe } = admission {
            let recorded = c.record(key.unwrap(), probe, verdict, now, &t);
            return (
                admission,
                recorded.map(|(transition, _)| transition).or(transition),
            );
        }
        (admission, transition)
    }

    const UNWELL: Verdict = Verdict::Unwell(None);

    #[test]
    fn opens_on_the_rate_over_the_minimum_and_grows_the_break() {
        let c = Circuits::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(call(&c, t0, UNWELL).1, None, "below the minimum");
        }
        let opened = call(&c, t0, UNWELL).1;
        assert_eq!(
            opened,
            Some(Transition::Opened {
                until: Duration::from_secs(5),
                signalled: false
            })
        );
        let (refused, _) = call(&c, t0 + Duration::from_secs(4), Verdict::Answered);
        assert!(
            matches!(refused, Admission::Refuse { after, .. } if after == Duration::from_secs(1))
        );
        // The break is over: one probe; it fails: 10 s now.
        let (probe, transition) = call(&c, t0 + Duration::from_secs(5), UNWELL);
        assert_eq!(probe, Admission::Go { probe: true });
        assert_eq!(
            transition,
            Some(Transition::Opened {
                until: Duration::from_secs(10),
                signalled: false
            })
        );
        // Then 20, then the cap of 30.
        let at = t0 + Duration::from_secs(15);
        assert!(
            matches!(call(&c, at, UNWELL).1, Some(Transition::Opened { until, .. }) if until == Duration::from_secs(20))
        );
        let at = at + Duration::from_secs(20);
        assert!(
            matches!(call(&c, at, UNWELL).1, Some(Transition::Opened { until, .. }) if until == Duration::from_secs(30))
        );
        let at = at + Duration::from_secs(30);
        assert_eq!(call(&c, at, Verdict::Answered).1, Some(Transition::Closed));
        assert_eq!(
            call(&c, at, Verdict::Answered).0,
            Admission::Go { probe: false }
        );
    }

    #[test]
    fn one_probe_at_a_time_and_a_dropped_probe_frees_the_slot() {
        let c = Circuits::default();
        let t = thresholds();
        let t0 = Instant::now();
        for _ in 0..4 {
            call(&c, t0, UNWELL);
        }
        let later = t0 + Duration::from_secs(5);
        let (key, probe, _) = c.admit(1, later, None, &t, Uri::default);
        assert_eq!(probe, Admission::Go { probe: true });
        let (_, other, _) = c.admit(1, later, None, &t, Uri::default);
        assert!(
            matches!(other, Admission::Refuse { probing: true, after, .. } if after == PROBE_WAIT)
        );
        c.record(key.unwrap(), true, Verdict::Silent, later, &t);
        assert_eq!(
            c.admit(1, later, None, &t, Uri::default).1,
            Admission::Go { probe: true }
        );
    }

    #[test]
    fn a_server_hint_times_the_probe() {
        let c = Circuits::default();
        let t0 = Instant::now();
        let hint = RetryHint::new(Duration::from_secs(3), HintSource::RetryAfter);
        for _ in 0..3 {
            call(&c, t0, UNWELL);
        }
        let opened = call(&c, t0, Verdict::Unwell(Some(hint))).1;
        assert_eq!(
            opened,
            Some(Transition::Opened {
                until: Duration::from_secs(3),
                signalled: true
            })
        );
        let (refused, _) = call(&c, t0 + Duration::from_secs(2), Verdict::Answered);
        assert!(matches!(
            refused,
            Admission::Refuse {
                source: Some(HintSource::RetryAfter),
                ..
            }
        ));
        assert_eq!(
            call(&c, t0 + Duration::from_secs(3), Verdict::Answered).1,
            Some(Transition::Closed)
        );
    }

    /// A hint whose failure left the window times no later opening: a
    /// 503 said `Retry-After: 3600`, answers followed, and 25 s on, hint-
    /// less failures open for the breaker's own 5 s (not the 3,575 s left,
    /// marked the server's word and shared with the fleet as such).
    #[test]
    fn a_hint_whose_failure_left_the_window_times_nothing() {
        let c = Circuits::default();
        let t0 = Instant::now();
        let hint = RetryHint::new(Duration::from_secs(3600), HintSource::RetryAfter);
        call(&c, t0, Verdict::Unwell(Some(hint)));
        for _ in 0..20 {
            call(&c, t0, Verdict::Answered);
        }
        let later = t0 + Duration::from_secs(25);
        for _ in 0..3 {
            call(&c, later, UNWELL);
        }
        let opened = call(&c, later, UNWELL).1;
        let own = Duration::from_secs(5);
        let expected = Transition::Opened {
            until: own,
            signalled: false,
        };
        assert_eq!(opened, Some(expected));
    }

    #[test]
    fn answers_dilute_failures_and_old_failures_leave_the_window() {
        let c = Circuits::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            call(&c, t0, Verdict::Answered);
            call(&c, t0, Verdict::Answered);
            assert_eq!(call(&c, t0, UNWELL).1, None, "a third fail: under the rate");
        }
        assert_eq!(
            call(&c, t0, Verdict::Answered).0,
            Admission::Go { probe: false }
        );
        // 11 s later the three failures are gone: three more do not open.
        let later = t0 + Duration::from_secs(11);
        for _ in 0..3 {
            assert_eq!(call(&c, later, UNWELL).1, None);
        }
        assert!(call(&c, later, UNWELL).1.is_some());
    }

    #[test]
    fn a_fleet_opening_is_learned_once_and_never_shortens_a_local_one() {
        let c = Circuits::default();
        let t = thresholds();
        let t0 = Instant::now();
        let three = Duration::from_secs(3);
        let (_, admission, transition) = c.admit(1, t0, Some((100, three)), &t, Uri::default);
        assert!(
            matches!(admission, Admission::Refuse { after, source: Some(_), .. } if after == three)
        );
        assert_eq!(
            transition.map(|(t, _)| t),
            Some(Transition::Learned { until: three })
        );
        // At its end, one probe; the same opening is not learned again.
        let at = t0 + three;
        let (key, probe, _) = c.admit(1, at, Some((100, three)), &t, Uri::default);
        assert_eq!(probe, Admission::Go { probe: true });
        c.record(key.unwrap(), true, Verdict::Answered, at, &t);
        assert_eq!(
            c.admit(1, at, Some((100, three)), &t, Uri::default).1,
            Admission::Go { probe: false }
        );
        // One that is over is ignored; a shorter one than the local break too.
        assert_eq!(
            c.admit(1, at, Some((200, Duration::ZERO)), &t, Uri::default)
                .2,
            None
        );
        for _ in 0..4 {
            call(&c, at, UNWELL);
        }
        let (_, _, learned) = c.admit(1, at, Some((300, Duration::from_secs(1))), &t, Uri::default);
        assert_eq!(learned, None, "open 5 s locally already");
        // A published opening is not learned back.
        c.published(1, 400);
        assert_eq!(
            c.admit(1, at, Some((400, Duration::from_secs(9))), &t, Uri::default)
                .2,
            None
        );
    }

    /// A fleet opening learned while this circuit's probe is out stands
    /// until its end, however the probe ends (dropped, failed without a
    /// hint, or answered): the server's word is the fleet's.
    #[test]
    fn a_fleet_opening_learned_during_a_probe_outlasts_it() {
        let t = thresholds();
        let t0 = Instant::now();
        let thirty = Duration::from_secs(30);
        for verdict in [Verdict::Silent, UNWELL, Verdict::Answered] {
            let c = Circuits::default();
            for _ in 0..4 {
                call(&c, t0, UNWELL);
            }
            let later = t0 + Duration::from_secs(5);
            let (key, probe, _) = c.admit(1, later, None, &t, Uri::default);
            assert_eq!(probe, Admission::Go { probe: true });
            let (_, refused, _) = c.admit(1, later, Some((100, thirty)), &t, Uri::default);
            assert!(matches!(refused, Admission::Refuse { after, .. } if after == thirty));
            assert_eq!(c.record(key.unwrap(), true, verdict, later, &t), None);
            let (_, still, _) = c.admit(1, later + Duration::from_secs(1), None, &t, Uri::default);
            assert!(
                matches!(
                    still,
                    Admission::Refuse {
                        source: Some(_),
                        ..
                    }
                ),
                "{verdict:?}: {still:?}"
            );
        }
    }

    #[test]
    fn scopes_are_bounded() {
        let c = Circuits::default();
        let t = thresholds();
        let t0 = Instant::now();
        for key in 0..MAX_SCOPES as u64 {
            c.admit(key, t0, None, &t, Uri::default);
        }
        // All busy: a new scope goes, untracked.
        assert_eq!(c.admit(u64::MAX, t0, None, &t, Uri::default).0, None);
        // A window later they are idle and make room.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            c.admit(u64::MAX, later, None, &t, Uri::default).0,
            Some(u64::MAX)
        );
        assert_eq!(c.len(), 1);
    }

    /// A full map of busy circuits is swept once, not on every call to a
    /// new scope (each sweep visits all 4096 under the lock every call
    /// needs): the next sweep waits for the first circuit that can be idle.
    #[test]
    fn a_vain_sweep_is_not_repeated_before_a_circuit_can_be_idle() {
        let c = Circuits::default();
        let t = thresholds();
        let t0 = Instant::now();
        for key in 0..MAX_SCOPES as u64 {
            let at = t0 + Duration::from_millis(key % 3000);
            c.admit(key, at, None, &t, Uri::default);
        }
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(c.admit(u64::MAX, t1, None, &t, Uri::default).0, None);
        assert_eq!(lock(&c.table).no_room_until, Some(t0 + t.window));
        let t2 = t0 + Duration::from_secs(9);
        assert_eq!(c.admit(u64::MAX, t2, None, &t, Uri::default).0, None);
        assert_eq!(
            lock(&c.table).no_room_until,
            Some(t0 + t.window),
            "not swept again"
        );
        // From then on, the first circuits are idle and make room.
        let t3 = t0 + t.window + Duration::from_millis(1);
        assert_eq!(
            c.admit(u64::MAX, t3, None, &t, Uri::default).0,
            Some(u64::MAX)
        );
        assert!(c.len() < MAX_SCOPES);
    }
}
