//! [`Backoff`]: exponential delays with a cap and jitter.

use std::time::Duration;
use tower::util::rng::Rng;

/// How a delay is randomised, so that clients that failed together do not
/// retry together.
///
/// With `base = min(max, initial × multiplierⁿ⁻¹)` for retry `n`:
///
/// | jitter | delay |
/// |---|---|
/// | `None` | `base` |
/// | `Full` | uniform in `[0, base]` |
/// | `Equal` | uniform in `[base/2, base]` |
/// | `Decorrelated` | uniform in `[initial, min(max, 3 × previous)]` |
///
/// Full jitter spreads retries the most and is the default; decorrelated
/// jitter (from AWS's architecture blog) grows from the previous delay
/// rather than the attempt number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: every client waits the same.
    None,
    /// Uniform between zero and the exponential delay.
    #[default]
    Full,
    /// Half the delay fixed, half random.
    Equal,
    /// Uniform between the initial delay and three times the previous one.
    Decorrelated,
}

/// Exponential backoff: `initial`, times `multiplier` per retry, capped at
/// `max`, randomised by a [`Jitter`].
///
/// ```
/// use std::time::Duration;
/// use tower_api_errors::retry::{Backoff, Jitter};
///
/// let backoff = Backoff::exponential(Duration::from_millis(500), 2.0, Duration::from_secs(20))
///     .jitter(Jitter::None);
/// assert_eq!(backoff.base(1), Duration::from_millis(500));
/// assert_eq!(backoff.base(3), Duration::from_secs(2));
/// assert_eq!(backoff.base(30), Duration::from_secs(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// 500 ms, doubling, capped at 20 s, full jitter.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(500), 2.0, Duration::from_secs(20))
    }
}

impl Backoff {
    /// Exponential backoff with full jitter.
    ///
    /// # Panics
    /// When `initial` is zero, `max` is shorter than `initial`, or
    /// `multiplier` is below 1 or not finite: such a backoff would not back
    /// off.
    pub fn exponential(initial: Duration, multiplier: f64, max: Duration) -> Self {
        assert!(
            !initial.is_zero(),
            "backoff: initial delay must be longer than zero"
        );
        assert!(
            max >= initial,
            "backoff: max must be at least the initial delay"
        );
        assert!(
            multiplier.is_finite() && multiplier >= 1.0,
            "backoff: multiplier must be finite and at least 1"
        );
        Backoff {
            initial,
            multiplier,
            max,
            jitter: Jitter::Full,
        }
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    field_getters! {
        /// The first delay.
        pub fn initial -> Duration;

        /// The longest delay.
        pub fn max -> Duration;

        /// The jitter in use.
        pub fn jitter_mode -> Jitter { jitter }
    }

    /// The delay before retry `retry` (1 for the first retry) without
    /// jitter: `min(max, initial × multiplier^(retry-1))`.
    pub fn base(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(1_000) as i32;
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        // Past `max`, or past any duration (infinite): `max`.
        Duration::try_from_secs_f64(secs).map_or(self.max, |base| base.min(self.max))
    }

    /// The delay before retry `retry`, jittered with `rng`; `previous` is
    /// the delay before the last retry (for decorrelated jitter; pass zero
    /// before the first).
    pub fn delay(&self, retry: u32, previous: Duration, rng: &mut impl Rng) -> Duration {
        let base = self.base(retry);
        let mut uniform = |low: Duration, high: Duration| {
            if high <= low {
                return low;
            }
            let span = (high - low).as_secs_f64() * rng.next_f64();
            // Saturating: `span` rounds up near `Duration::MAX`.
            low.saturating_add(Duration::from_secs_f64(span)).min(high)
        };
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => uniform(Duration::ZERO, base),
            Jitter::Equal => uniform(base / 2, base),
            Jitter::Decorrelated => {
                let previous = previous.max(self.initial);
                let high = previous.saturating_mul(3).min(self.max);
                uniform(self.initial, high)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::util::rng::HasherRng;

    #[test]
    fn bounds_hold_for_every_mode() {
        let mut rng = HasherRng::default();
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let backoff = Backoff::default().jitter(jitter);
            let mut previous = Duration::ZERO;
            for retry in 1..50 {
                let delay = backoff.delay(retry, previous, &mut rng);
                let base = backoff.base(retry);
                match jitter {
                    Jitter::None => assert_eq!(delay, base),
                    Jitter::Full => assert!(delay <= base),
                    Jitter::Equal => assert!(delay >= base / 2 && delay <= base),
                    Jitter::Decorrelated => {
                        assert!(delay >= backoff.initial() && delay <= backoff.max())
                    }
                }
                previous = delay;
            }
        }
    }

    #[test]
    #[should_panic(expected = "multiplier")]
    fn rejects_a_shrinking_multiplier() {
        let _ = Backoff::exponential(Duration::from_secs(1), 0.5, Duration::from_secs(2));
    }
}
