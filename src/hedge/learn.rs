//! What the hedge layer learns per scope: answer latencies (a bounded
//! histogram, for the percentile delay), and from the answers' own hints
//! (`Retry-After`, rate-limit remaining, pushback) whether a hedge would
//! spend quota the server is short of.

use crate::hints::{RateLimitInfo, RateLimitPolicy};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Buckets of the latency histogram: quarter-octaves of microseconds, from
/// 1 µs to past a day (each bucket ~19 % wide).
const BUCKETS: usize = 160;

/// Samples in a generation: the histogram keeps the current one and the
/// one before, so it follows a change within a few thousand answers.
const GENERATION: u32 = 1024;

/// Scopes kept at most; past it, the least recently used one goes.
pub(crate) const MAX_SCOPES: usize = 1024;

/// A scope with a window that has less than this share of its limit
/// left (or fewer than 2 requests) gets no hedge until the window resets
/// (or, when it named no reset, until an answer shows headroom again).
const HEADROOM: f64 = 0.1;

/// Whether `window` leaves too little for a request to be sent twice.
fn is_short(window: &RateLimitInfo) -> bool {
    let least = (window.limit().unwrap_or(0) as f64 * HEADROOM).max(2.0);
    window.remaining().is_some_and(|left| (left as f64) < least)
}

/// The window a hedge is judged on: a short one of those announced, each
/// of its own limit (OpenAI's tokens, at 100 of 150,000, bind, though its
/// requests, at 59 of 60, are fewer), the latest to reset; else `binding`.
pub(crate) fn judged_window(binding: Window, all: &[RateLimitPolicy]) -> Window {
    let mut short = binding.filter(is_short);
    for p in all {
        let window = p.info();
        if is_short(&window) && short.is_none_or(|s| s.reset() < window.reset()) {
            short = Some(window);
        }
    }
    short.or(binding)
}

type Window = Option<RateLimitInfo>;

/// A 429 without a stated wait holds hedges back this long.
pub(crate) const BARE_429: Duration = Duration::from_secs(1);

/// The bucket of a latency.
fn bucket(latency: Duration) -> usize {
    let micros = latency.as_micros().clamp(1, u128::from(u64::MAX)) as u64;
    let octave = 63 - micros.leading_zeros() as usize;
    let quarter = match octave {
        0 | 1 => 0,
        _ => ((micros >> (octave - 2)) & 3) as usize,
    };
    (octave * 4 + quarter).min(BUCKETS - 1)
}

/// The upper bound of a bucket (a percentile errs late, never early).
fn upper(bucket: usize) -> Duration {
    let (octave, quarter) = (bucket / 4, bucket % 4);
    let micros = match octave {
        0 | 1 => 1u64 << (octave + 1),
        _ => (4 + quarter as u64 + 1) << (octave - 2),
    };
    Duration::from_micros(micros)
}

#[derive(Debug)]
struct Histogram {
    current: Box<[u32; BUCKETS]>,
    previous: Box<[u32; BUCKETS]>,
    in_current: u32,
    in_previous: u32,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            current: Box::new([0; BUCKETS]),
            previous: Box::new([0; BUCKETS]),
            in_current: 0,
            in_previous: 0,
        }
    }

    fn record(&mut self, latency: Duration) {
        if self.in_current >= GENERATION {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.fill(0);
            self.in_previous = std::mem::take(&mut self.in_current);
        }
        self.current[bucket(latency)] += 1;
        self.in_current += 1;
    }

    fn samples(&self) -> u32 {
        self.in_current + self.in_previous
    }

    /// The `p` quantile (0 < p < 1), as its bucket's upper bound.
    fn quantile(&self, p: f64) -> Duration {
        let rank = (f64::from(self.samples()) * p).ceil().max(1.0) as u32;
        let mut seen = 0;
        for index in 0..BUCKETS {
            seen += self.current[index] + self.previous[index];
            if seen >= rank {
                return upper(index);
            }
        }
        upper(BUCKETS - 1)
    }
}

/// One scope's learning.
#[derive(Debug)]
struct Scope {
    latencies: Histogram,
    /// The learned delay, recomputed every few samples.
    delay: Option<Duration>,
    /// No hedge before this: a `Retry-After`, a pushback, a 429.
    cooldown: Option<Instant>,
    /// Whether the binding window is short of headroom, and until when.
    headroom: Headroom,
    used: Instant,
}

/// What the last window a scope announced leaves for a hedge; a short
/// one, since when it was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Headroom {
    /// Enough, or no window announced.
    Plenty,
    /// Short until the window's reset.
    ShortUntil(Instant, Instant),
    /// Short, and the window named no reset: it stays short until an
    /// answer announces headroom again. Timing it out at once would hedge
    /// the very next call, spending quota twice on the last requests left.
    ShortUntilTold(Instant),
}

/// What an answer taught about its scope's quota.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lesson {
    /// A wait the server asked for (`Retry-After`, pushback, a 429).
    pub(crate) cooldown: Option<Duration>,
    /// The binding rate-limit window, when announced.
    pub(crate) window: Option<RateLimitInfo>,
}

/// How the delay before a hedge is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Delay {
    Fixed(Duration),
    Percentile {
        p: f64,
        min_samples: u32,
        floor: Duration,
    },
}

/// The scopes of one layer.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    map: Mutex<HashMap<u64, Scope>>,
}

impl Scopes {
    fn scope(map: &mut HashMap<u64, Scope>, key: u64, now: Instant) -> &mut Scope {
        if !map.contains_key(&key) && map.len() >= MAX_SCOPES {
            if let Some((&oldest, _)) = map.iter().min_by_key(|(_, scope)| scope.used) {
                map.remove(&oldest);
            }
        }
        let scope = map.entry(key).or_insert_with(|| Scope {
            latencies: Histogram::new(),
            delay: None,
            cooldown: None,
            headroom: Headroom::Plenty,
            used: now,
        });
        scope.used = now;
        scope
    }

    /// The delay before a hedge of a call to `key` now, or `None`: no hedge
    /// (too little learned yet, a cooldown, no quota headroom).
    pub(crate) fn delay(&self, key: u64, delay: &Delay, now: Instant) -> Option<Duration> {
        let mut map = crate::lock(&self.map);
        let scope = Self::scope(&mut map, key, now);
        if !scope.may_hedge(now) {
            return None;
        }
        match *delay {
            Delay::Fixed(delay) => Some(delay),
            Delay::Percentile {
                p,
                min_samples,
                floor,
            } if scope.latencies.samples() >= min_samples => {
                let learned = *scope
                    .delay
                    .get_or_insert_with(|| scope.latencies.quantile(p));
                Some(learned.max(floor))
            }
            Delay::Percentile { .. } => None,
        }
    }

    /// Whether a hedge may go now (the quota may have changed since the
    /// call began).
    pub(crate) fn may_hedge(&self, key: u64, now: Instant) -> bool {
        crate::lock(&self.map)
            .get(&key)
            .is_none_or(|scope| scope.may_hedge(now))
    }

    /// Records an answer's latency (or an attempt's time so far, when it
    /// was cancelled: a lower bound of its latency).
    pub(crate) fn sample(&self, key: u64, latency: Duration, now: Instant) {
        let mut map = crate::lock(&self.map);
        let scope = Self::scope(&mut map, key, now);
        scope.latencies.record(latency);
        // Recomputed every 16 samples: a percentile is a walk of the buckets.
        if scope.latencies.samples().is_multiple_of(16) {
            scope.delay = None;
        }
    }

    /// Learns what an answer (to a request `sent` then) said about the
    /// scope's quota.
    pub(crate) fn learn(&self, key: u64, lesson: Lesson, sent: Instant, now: Instant) {
        if lesson.cooldown.is_none() && lesson.window.is_none() {
            return;
        }
        let mut map = crate::lock(&self.map);
        let scope = Self::scope(&mut map, key, now);
        // (The later of two cooldowns holds; `None` is before any.)
        scope.cooldown = scope.cooldown.max(lesson.cooldown.map(|wait| now + wait));
        if let Some(window) = lesson.window {
            // Too little left for a request to be sent twice: no hedge.
            let short = is_short(&window);
            // The fewest left in a window wins: a request sent before the
            // short answer came may have been counted before it, so its
            // headroom lifts the short state only for a window that resets
            // later (counted from its sending, the earliest it can mean).
            let stale = match scope.headroom {
                Headroom::ShortUntil(until, since) => {
                    sent < since && window.reset().is_none_or(|reset| sent + reset <= until)
                }
                Headroom::ShortUntilTold(since) => sent < since,
                Headroom::Plenty => false,
            };
            scope.headroom = match (short, window.reset()) {
                (false, _) if stale => scope.headroom,
                (false, _) => Headroom::Plenty,
                (true, Some(reset)) => Headroom::ShortUntil(now + reset, now),
                (true, None) => Headroom::ShortUntilTold(now),
            };
        }
    }
}

impl Scope {
    fn may_hedge(&self, now: Instant) -> bool {
        let cooling = self.cooldown.is_some_and(|until| now < until);
        let short = match self.headroom {
            Headroom::Plenty => false,
            Headroom::ShortUntil(until, _) => now < until,
            Headroom::ShortUntilTold(_) => true,
        };
        !cooling && !short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_bound_their_latencies() {
        let mut last = 0;
        for micros in [
            1u64,
            2,
            3,
            5,
            8,
            13,
            100,
            999,
            5_000,
            1_000_000,
            86_400_000_000,
        ] {
            let latency = Duration::from_micros(micros);
            let index = bucket(latency);
            assert!(index >= last, "{micros}");
            assert!(upper(index) >= latency, "{micros}: {:?}", upper(index));
            assert!(upper(index) <= latency * 2, "{micros}: {:?}", upper(index));
            last = index;
        }
    }

    #[test]
    fn the_percentile_of_a_long_tail_is_the_fast_calls_and_learning_is_bounded() {
        let scopes = Scopes::default();
        let now = Instant::now();
        let delay = Delay::Percentile {
            p: 0.95,
            min_samples: 20,
            floor: Duration::from_millis(1),
        };
        for i in 0..19 {
            scopes.sample(1, Duration::from_millis(5 + i % 2), now);
        }
        assert_eq!(scopes.delay(1, &delay, now), None, "too little learned");
        for i in 0..10_000 {
            let slow = i % 50 == 0;
            let latency = if slow {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(5)
            };
            scopes.sample(1, latency, now);
        }
        let learned = scopes.delay(1, &delay, now).unwrap();
        assert!(
            learned >= Duration::from_millis(5) && learned < Duration::from_millis(7),
            "{learned:?}"
        );
        let map = crate::lock(&scopes.map);
        assert!(map[&1].latencies.samples() <= 2 * GENERATION);
    }

    #[test]
    fn cooldowns_and_short_windows_stop_hedges_until_they_pass() {
        let scopes = Scopes::default();
        let now = Instant::now();
        let fixed = Delay::Fixed(Duration::from_millis(10));
        assert!(scopes.delay(1, &fixed, now).is_some());
        let lesson = Lesson {
            cooldown: Some(Duration::from_secs(3)),
            window: None,
        };
        scopes.learn(1, lesson, now, now);
        assert_eq!(scopes.delay(1, &fixed, now + Duration::from_secs(2)), None);
        assert!(scopes
            .delay(1, &fixed, now + Duration::from_secs(3))
            .is_some());
        let short = Lesson {
            cooldown: None,
            window: Some(RateLimitInfo::new(
                Some(100),
                Some(5),
                Some(Duration::from_secs(30)),
            )),
        };
        scopes.learn(1, short, now, now);
        assert!(!scopes.may_hedge(1, now + Duration::from_secs(29)));
        assert!(scopes.may_hedge(1, now + Duration::from_secs(30)));
        let plenty = Lesson {
            cooldown: None,
            window: Some(RateLimitInfo::new(
                Some(100),
                Some(50),
                Some(Duration::from_secs(30)),
            )),
        };
        scopes.learn(1, plenty, now, now);
        let after_cooldown = now + Duration::from_secs(3);
        assert!(scopes.may_hedge(1, after_cooldown), "headroom again");
        assert!(scopes.may_hedge(2, now), "another scope learned nothing");
    }

    #[test]
    fn a_short_window_without_a_reset_stops_hedges_until_headroom_is_shown() {
        let scopes = Scopes::default();
        let now = Instant::now();
        let window = |remaining| Lesson {
            cooldown: None,
            window: Some(RateLimitInfo::new(Some(100), Some(remaining), None)),
        };
        scopes.learn(1, window(1), now, now);
        let later = now + Duration::from_secs(3600);
        assert!(!scopes.may_hedge(1, later), "no reset: short until told");
        // An answer without any window teaches nothing either way.
        scopes.learn(1, Lesson::default(), later, later);
        assert!(!scopes.may_hedge(1, later));
        scopes.learn(1, window(50), later, later);
        assert!(scopes.may_hedge(1, later), "headroom again");
    }

    /// The fewest left in a window wins: an answer to a request sent
    /// before the short answer came lifts the short state only when it
    /// names a later reset (a new window).
    #[test]
    fn a_stale_answer_lifts_a_short_window_only_with_a_later_reset() {
        let scopes = Scopes::default();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let window = |left, reset| Lesson {
            cooldown: None,
            window: Some(RateLimitInfo::new(
                Some(100),
                Some(left),
                Some(Duration::from_secs(reset)),
            )),
        };
        scopes.learn(1, window(5, 60), at(1), at(1));
        scopes.learn(1, window(50, 60), t0, at(2));
        assert!(!scopes.may_hedge(1, at(3)), "the same window: still short");
        scopes.learn(1, window(50, 120), t0, at(2));
        assert!(scopes.may_hedge(1, at(3)), "a new window");
    }
}
