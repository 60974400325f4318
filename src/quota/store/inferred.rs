//! What is inferred of a vendor that announces no quota, once: the limit
//! from the answers counted between two 429s, the window from the time
//! between their waits' ends, and the margin it is paced at (shrunk on a
//! 429, grown back a step per window without one). A fleet's ledger
//! counts the fleet's answers into it (feature `redis`), a [`Tally`] one
//! process's (`MemoryStore`).

use super::window::{unknown_limit_cap, Millis, Window, OPEN_IN_FLIGHT};

/// The policy digest of a window inferred for a vendor that announces none.
pub(crate) const INFERRED: u64 = u64::MAX;
/// The inferred limit's margin (percent): where it starts, how it shrinks
/// on a 429 (multiplicative) and grows back on a window without one
/// (additive), and its floor.
const MARGIN_START: u64 = 90;
const MARGIN_STEP: u64 = 2;
const MARGIN_FLOOR: u64 = 50;

/// What was inferred of a vendor that announces no quota: the successes
/// a window allowed before a 429, the window's length (from one 429's
/// `Retry-After` to the next's), and the margin it is paced at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inferred {
    pub(crate) limit: u64,
    /// Percent of `limit` the fleet leases per window.
    pub(crate) margin: u64,
    pub(crate) length: Millis,
    /// When the last 429's wait ended (a window's start).
    pub(crate) last_end: Millis,
    /// Answers the fleet reported from before that 429 (the episode's
    /// count, which members keep adding to while its wait lasts).
    pub(crate) episode: u64,
    /// The first window's end when its length was measured from the
    /// scope's opening or a first 429, not between two inferences (0: it
    /// was not): a fleet that started late in the vendor's window, or a
    /// wait read early, measured it short, and the vendor's window may not
    /// reset there. From then on, requests in flight stay few (see
    /// [`unsure`](Self::unsure)) until the answers pass a window's limit.
    pub(crate) unsure_from: Millis,
}

impl Inferred {
    /// The first inference: `count` answers in a window of `length` that
    /// ended at `end`.
    pub(crate) fn first(count: u64, length: Millis, end: Millis, unsure_from: Millis) -> Self {
        Inferred {
            limit: count,
            margin: MARGIN_START,
            length,
            last_end: end,
            episode: count,
            unsure_from,
        }
    }

    /// A 429 with no answer since the last wait's end: the vendor's window
    /// was not over (a wait read early) or none of it was ours. Its `end`
    /// is the window's truer start; the length and limit hold.
    pub(crate) fn start_at(&mut self, end: Millis) {
        let shift = end.saturating_sub(self.last_end);
        self.last_end = end;
        if self.unsure_from > 0 {
            self.unsure_from += shift;
        }
    }

    /// `answers` of the episode's window reported late (sent before its
    /// 429, counted after it taught): that window allowed them too.
    pub(crate) fn count_late(&mut self, answers: u64) {
        self.episode += answers;
        self.limit = self.limit.max(self.episode);
    }

    /// True while the window after the first inference, a guess, has not
    /// shown that it reset: a window that did not reset then draws a few
    /// 429s ([`OPEN_IN_FLIGHT`] in flight), not one per worker. It has once
    /// the `count` of answers since the 429 passes the limit and those few
    /// (the first window gave at most its limit), or a window went by.
    pub(crate) fn unsure(&mut self, count: u64, now: Millis) -> bool {
        if self.unsure_from == 0 || now < self.unsure_from {
            return false;
        }
        if count >= self.limit + OPEN_IN_FLIGHT || now >= self.unsure_from + self.length {
            self.unsure_from = 0;
        }
        self.unsure_from != 0
    }

    pub(crate) fn budget(&self) -> u64 {
        (self.limit * self.margin / 100).max(1)
    }

    /// What a 429 teaches after this inference: `count` answers, and
    /// `measured` from this one's wait's end to the new one's, `end`.
    /// Several windows and more than one window's answers: the length
    /// holds, and so does the limit (answers of several windows are no
    /// one window's), its margin shrinks. At most one window's answers:
    /// the two 429s bound one vendor window (a fleet that started late in
    /// it measured the first short), and a window found longer, not the
    /// limit, drew the 429.
    pub(crate) fn after(self, count: u64, measured: Millis, end: Millis) -> Inferred {
        let held = measured * 2 >= self.length * 3 && count * 4 > self.limit * 5;
        let length = measured.max(self.length / 2);
        let length = if held { self.length } else { length };
        let limit = match (held, count) {
            (_, 0) => self.limit,
            (true, count) => count.min(self.limit),
            (false, count) => count,
        };
        let shrunk = (self.margin * 9 / 10).max(MARGIN_FLOOR);
        let grew = length > self.length;
        let margin = if grew { self.margin } else { shrunk };
        Inferred {
            limit,
            margin,
            length,
            last_end: end,
            // (Several windows' answers: late ones add to no one window's.)
            episode: if held { 0 } else { count },
            unsure_from: 0,
        }
    }

    /// The window it paces: its budget, from the last 429's wait's end.
    pub(crate) fn window(&self) -> Window {
        Window {
            policy: INFERRED,
            limit: Some(self.budget()),
            remaining: self.budget(),
            reset_at: Some(self.last_end + self.length),
            length: Some(self.length),
            ..Window::default()
        }
    }

    /// A window ended without a 429: the margin grows back a step. The
    /// inferred windows (just refilled) start over with the new budget,
    /// which is returned.
    pub(crate) fn grow(&mut self, windows: &mut [Option<Window>]) -> u64 {
        self.margin = (self.margin + MARGIN_STEP).min(100);
        let budget = self.budget();
        for window in inferred_mut(windows) {
            window.limit = Some(budget);
            window.remaining = budget;
        }
        budget
    }
}

/// The inferred windows in `slots`.
pub(crate) fn inferred_mut(slots: &mut [Option<Window>]) -> impl Iterator<Item = &mut Window> {
    slots.iter_mut().flatten().filter(|w| w.policy == INFERRED)
}

/// Puts `inferred`'s window in `windows`, in place of an inferred one, else
/// in a free slot.
pub(crate) fn install(windows: &mut [Option<Window>], inferred: &Inferred) {
    let is_inferred = |slot: &Option<Window>| slot.is_some_and(|w| w.policy == INFERRED);
    let kept = windows.iter().position(is_inferred);
    let slot = kept.or_else(|| windows.iter().position(Option::is_none));
    if let Some(index) = slot {
        windows[index] = Some(inferred.window());
    }
}

/// One process's count toward an inference (`MemoryStore`; a fleet's
/// ledger counts the fleet's answers itself): the answers since the last
/// 429's wait ended, and what they taught.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// When the last 429's wait ended (0: no 429 yet, nothing counted).
    since: Millis,
    count: u64,
    inferred: Option<Inferred>,
    /// The inferred window's reset when its margin last grew.
    grown_at: Millis,
}

impl Tally {
    /// True once a 429 started the count.
    pub(crate) fn is_counting(&self) -> bool {
        self.since != 0
    }

    /// Between the first 429 and the one that teaches the window, the
    /// vendor has shown a limit no one knows yet: the bound on requests in
    /// flight (see [`unknown_limit_cap`]).
    pub(crate) fn unknown_limit(&mut self, now: Millis) -> Option<u64> {
        match self.inferred.as_mut() {
            Some(inferred) => inferred.unsure(self.count, now).then_some(OPEN_IN_FLIGHT),
            None => self
                .is_counting()
                .then(|| unknown_limit_cap(self.count, now.saturating_sub(self.since))),
        }
    }

    /// An answer (not a 429), `now`: counted, and taken from the inferred
    /// window, as a vendor that announced its remaining would have. An
    /// inferred window that reset since the last answer ended without a
    /// 429: its margin grows first. An answer during a 429's wait was sent
    /// before it: it counts in the window that 429 ended.
    pub(crate) fn answered(&mut self, now: Millis, windows: &mut [Option<Window>]) {
        if now < self.since {
            // Sent before the last 429: its window's, answered out of order
            // (it was counted when the 429 taught): the limit grows.
            let last = self.inferred.as_mut().filter(|p| p.last_end == self.since);
            if let Some(inferred) = last {
                inferred.count_late(1);
                install(windows, inferred);
            }
            return;
        }
        self.count += 1;
        let reset = windows.iter().flatten().find(|w| w.policy == INFERRED);
        let reset = reset.and_then(|w| w.reset_at);
        let (Some(inferred), Some(reset)) = (self.inferred.as_mut(), reset) else {
            return;
        };
        if reset > self.grown_at {
            if self.grown_at != 0 {
                inferred.grow(windows);
            }
            self.grown_at = reset;
        }
        inferred_mut(windows).for_each(|w| w.remaining = w.remaining.saturating_sub(1));
    }

    /// A 429 whose wait ends at `end`: the first starts the count, the
    /// next teaches the window between their waits' ends and the answers
    /// counted in it. One whose wait ends within a second of the last
    /// one's answers a request sent before that wait ended: the same
    /// episode. One later with no answer counted since shows the vendor's
    /// window not over (a wait read early: a vendor that truncates its
    /// seconds says 0 in its last one), or none of it for this process:
    /// its end is the window's truer start.
    pub(crate) fn throttled(&mut self, end: Millis, windows: &mut [Option<Window>]) {
        let since = self.since;
        if since == 0 {
            self.since = end;
            return;
        }
        if end <= since + 1_000 {
            return;
        }
        if self.count == 0 {
            self.since = end;
            if let Some(inferred) = self.inferred.as_mut().filter(|i| i.last_end == since) {
                inferred.start_at(end);
                install(windows, inferred);
            }
            return;
        }
        let (count, measured) = (self.count, end - since);
        (self.since, self.count) = (end, 0);
        let inferred = match self.inferred {
            None => Inferred::first(count, measured, end, end + measured),
            Some(previous) => previous.after(count, measured, end),
        };
        if inferred.limit > 0 && inferred.length >= 1_000 {
            (self.inferred, self.grown_at) = (Some(inferred), 0);
            install(windows, &inferred);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::MAX_WINDOWS;

    fn inferred(windows: &[Option<Window>]) -> Option<Window> {
        windows
            .iter()
            .flatten()
            .find(|w| w.policy == INFERRED)
            .copied()
    }

    #[test]
    fn two_429s_bound_a_window_and_the_answers_between_them_its_limit() {
        let mut windows = [None; MAX_WINDOWS];
        let mut tally = Tally::default();
        // The first 429 (its wait ends at 10.1 s) starts the count; the
        // answers to requests sent before that end are not counted.
        tally.throttled(10_100, &mut windows);
        tally.answered(9_000, &mut windows);
        // The other workers' 429s of the same episode teach nothing.
        tally.throttled(10_300, &mut windows);
        for _ in 0..300 {
            tally.answered(10_150, &mut windows);
        }
        // A late 429, its wait within a second of the first's: the same.
        tally.throttled(10_900, &mut windows);
        assert_eq!(inferred(&windows), None);
        tally.throttled(20_200, &mut windows);
        let window = inferred(&windows).expect("learned");
        assert_eq!(window.limit, Some(270), "300 at a 90 % margin");
        assert_eq!(window.length, Some(10_100));
        assert_eq!(window.reset_at, Some(30_300));
        // Answers of that window that come back after its 429 (out of
        // order, during its wait) count in it.
        for _ in 0..10 {
            tally.answered(10_250, &mut windows);
        }
        assert_eq!(inferred(&windows).unwrap().limit, Some(279), "310 at 90 %");
        // Each answer is taken from it, as a reported remaining would be.
        tally.answered(20_300, &mut windows);
        assert_eq!(inferred(&windows).unwrap().remaining, 278);
        // A window that ended without a 429 (refilled): the margin grows.
        windows[0].as_mut().unwrap().reset_at = Some(40_400);
        tally.answered(30_400, &mut windows);
        let grown = inferred(&windows).unwrap();
        assert_eq!((grown.limit, grown.remaining), (Some(285), 284));
        // A 429 at the end of the next paced window (the two windows' answers
        // are more than one window's): the length and limit hold, the
        // margin shrinks (92 % to 82 %).
        for _ in 0..500 {
            tally.answered(31_000, &mut windows);
        }
        tally.throttled(40_400, &mut windows);
        let shrunk = inferred(&windows).unwrap();
        assert_eq!(shrunk.limit, Some(254), "310 at 82 %");
        assert_eq!(shrunk.length, Some(10_100));
        // Late answers of two windows' episode are no one window's count.
        for _ in 0..10 {
            tally.answered(39_000, &mut windows);
        }
        assert_eq!(inferred(&windows).unwrap().limit, Some(254));
    }

    #[test]
    fn waits_as_long_as_a_store_clock_holds_do_not_overflow() {
        let mut windows = [None; MAX_WINDOWS];
        let mut tally = Tally::default();
        let far = u64::MAX / 4;
        tally.throttled(far, &mut windows);
        tally.answered(far, &mut windows);
        tally.throttled(far * 2, &mut windows);
        tally.answered(far * 2, &mut windows);
        tally.throttled(far * 3, &mut windows);
        assert!(inferred(&windows).is_some());
    }
}
