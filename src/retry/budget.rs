//! [`RetryBudget`]: the default retry budget, lock-free, with no clock read
//! on the success path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::retry::budget::Budget;

/// One tick of the budget's clock: 2^26 ns (~67 ms). A `u32` of ticks wraps
/// after ~9 years of uptime, which at worst mis-ages one withdrawal.
const TICK_SHIFT: u32 = 26;
const TICK_SECS: f64 = (1u64 << TICK_SHIFT) as f64 / 1e9;

/// A retry budget: retries may be at most `retry_percent` of the recent
/// requests, plus `min_per_sec` retries a second, "recent" meaning the last
/// `ttl`. The default is 20 % + 1 retry/s over 10 s, like
/// [`TpsBudget::new(10 s, 1, 0.2)`](tower::retry::budget::TpsBudget).
///
/// It implements tower's [`Budget`], so it works anywhere a `TpsBudget`
/// does; [`RetryPolicy::budget`](super::RetryPolicy::budget) takes either
/// (or your own).
///
/// # Why not `TpsBudget`
///
/// A deposit happens on every request, a withdrawal only when a failure is
/// about to be retried. `TpsBudget` takes a mutex and reads the clock on
/// both. Here a deposit is one relaxed atomic add, with no lock and no clock
/// read; the (rare) withdrawal reads the clock once and settles the account
/// with a compare-and-swap loop, lock-free.
///
/// # How it counts
///
/// The balance is an exponentially decaying sum (time constant `ttl`) of
/// `retry_percent` per request minus one per retry, on top of a reserve of
/// `min_per_sec × ttl` retries; a retry is allowed while the balance is at
/// least one. In a steady state this is the same allowance as a sliding
/// window of `ttl`: `retry_percent` of the requests of the last `ttl` plus
/// `min_per_sec` retries a second. Deposits made since the previous
/// withdrawal carry no time stamp, so they are aged as if spread evenly over
/// that interval: after a long quiet spell this errs on the side of fewer
/// retries, never more (the reserve still allows `min_per_sec`).
///
/// ```
/// use tower::retry::budget::Budget;
/// use tower_api_errors::retry::RetryBudget;
///
/// let budget = RetryBudget::default();
/// // The reserve: 1 retry a second over 10 s.
/// let reserve = (0..100).filter(|_| budget.withdraw()).count();
/// assert_eq!(reserve, 10);
/// // 100 requests earn 20 more retries.
/// for _ in 0..100 {
///     budget.deposit();
/// }
/// let earned = (0..100).filter(|_| budget.withdraw()).count();
/// assert!((19..=20).contains(&earned), "{earned}");
/// ```
///
/// Shared by every clone of a [`RetryPolicy`](super::RetryPolicy):
///
/// ```
/// use std::time::Duration;
/// use tower_api_errors::retry::{RetryBudget, RetryPolicy};
///
/// // 10 % of the last 30 s of traffic, and no floor.
/// let policy = RetryPolicy::new().budget(RetryBudget::new(Duration::from_secs(30), 0, 0.1));
/// let shared = policy.clone();
/// # let _ = shared;
/// ```
pub struct RetryBudget {
    /// Deposits not yet settled into `account`.
    pending: AtomicU64,
    /// The settled account: the tick of the last settlement (high 32 bits)
    /// and the decayed balance (an `f32`, low 32 bits) without the reserve.
    account: AtomicU64,
    epoch: Instant,
    ttl_secs: f64,
    ratio: f64,
    reserve: f64,
}

fn pack(tick: u32, balance: f32) -> u64 {
    (u64::from(tick) << 32) | u64::from(balance.to_bits())
}

fn unpack(account: u64) -> (u32, f32) {
    ((account >> 32) as u32, f32::from_bits(account as u32))
}

impl RetryBudget {
    /// A budget of `retry_percent` (0.2 is 20 %) of the requests of the
    /// last `ttl`, plus `min_per_sec` retries a second.
    ///
    /// # Panics
    /// Like `TpsBudget::new`: when `ttl` is not within 1 s..=60 s, or
    /// `retry_percent` not within 0..=1000.
    pub fn new(ttl: Duration, min_per_sec: u32, retry_percent: f32) -> Self {
        assert!(
            (Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl),
            "ttl must be within 1 s and 60 s"
        );
        assert!(
            (0.0..=1000.0).contains(&retry_percent),
            "retry_percent must be within 0 and 1000"
        );
        let ttl_secs = ttl.as_secs_f64();
        RetryBudget {
            pending: AtomicU64::new(0),
            account: AtomicU64::new(pack(0, 0.0)),
            epoch: Instant::now(),
            ttl_secs,
            ratio: f64::from(retry_percent),
            reserve: f64::from(min_per_sec) * ttl_secs,
        }
    }

    fn now(&self) -> u32 {
        (self.epoch.elapsed().as_nanos() >> TICK_SHIFT) as u32
    }

    /// Settles the pending deposits at `now` and withdraws one retry when
    /// the balance allows it.
    fn withdraw_at(&self, now: u32) -> bool {
        let fresh = self.pending.swap(0, Ordering::AcqRel) as f64 * self.ratio;
        let mut current = self.account.load(Ordering::Acquire);
        loop {
            let (last, balance) = unpack(current);
            let ticks = now.wrapping_sub(last);
            // Another withdrawal settled at a later tick than ours: no time
            // has passed for us.
            let (tick, elapsed) = if ticks > u32::MAX / 2 {
                (last, 0.0)
            } else {
                (now, f64::from(ticks) * TICK_SECS)
            };
            let decay = (-elapsed / self.ttl_secs).exp();
            // Unstamped deposits, aged as if spread evenly over `elapsed`:
            // the mean of exp(-t/ttl) over it.
            let spread = if elapsed > 0.0 {
                (1.0 - decay) * self.ttl_secs / elapsed
            } else {
                1.0
            };
            let balance = f64::from(balance) * decay + fresh * spread;
            let allowed = balance + self.reserve >= 1.0;
            let balance = if allowed { balance - 1.0 } else { balance };
            let next = pack(tick, balance as f32);
            match self.account.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return allowed,
                Err(actual) => current = actual,
            }
        }
    }
}

impl Default for RetryBudget {
    /// 20 % of the requests of the last 10 s, plus 1 retry a second.
    fn default() -> Self {
        RetryBudget::new(Duration::from_secs(10), 1, 0.2)
    }
}

impl Budget for RetryBudget {
    fn deposit(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    fn withdraw(&self) -> bool {
        self.withdraw_at(self.now())
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, balance) = unpack(self.account.load(Ordering::Relaxed));
        f.debug_struct("RetryBudget")
            .field("ttl_secs", &self.ttl_secs)
            .field("ratio", &self.ratio)
            .field("reserve", &self.reserve)
            .field("balance", &balance)
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks in `secs` seconds.
    fn ticks(secs: f64) -> u32 {
        (secs / TICK_SECS) as u32
    }

    fn allowed(budget: &RetryBudget, now: u32, tries: usize) -> usize {
        (0..tries).filter(|_| budget.withdraw_at(now)).count()
    }

    #[test]
    fn the_reserve_is_min_per_sec_over_ttl() {
        let budget = RetryBudget::default();
        assert_eq!(allowed(&budget, 0, 100), 10);
        let none = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        assert_eq!(allowed(&none, 0, 100), 0);
    }

    #[test]
    fn deposits_earn_their_percentage() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        for _ in 0..1000 {
            budget.deposit();
        }
        assert_eq!(allowed(&budget, 0, 1000), 200);
        let generous = RetryBudget::new(Duration::from_secs(10), 0, 2.0);
        for _ in 0..10 {
            generous.deposit();
        }
        assert_eq!(allowed(&generous, 0, 1000), 20);
    }

    #[test]
    fn spent_retries_come_back_over_the_ttl() {
        let budget = RetryBudget::default();
        assert_eq!(allowed(&budget, 0, 100), 10);
        assert_eq!(allowed(&budget, 0, 100), 0);
        // One ttl later, e^-1 of the 10 spent are still owed: 6 come back.
        let back = allowed(&budget, ticks(10.0), 100);
        assert!((6..=7).contains(&back), "{back}");
        // Long after, the whole reserve is back, and not more.
        assert_eq!(allowed(&budget, ticks(600.0), 100), 10);
    }

    #[test]
    fn earned_retries_expire_over_the_ttl() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        for _ in 0..1000 {
            budget.deposit();
        }
        // Settle the deposits now (one retry), then look 50 s later
        // (5 ttl): e^-5 of the 199 left, i.e. 1.
        assert!(budget.withdraw_at(0));
        assert_eq!(allowed(&budget, ticks(50.0), 1000), 1);
    }

    #[test]
    fn unsettled_deposits_after_a_quiet_spell_earn_less_not_more() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        assert!(!budget.withdraw_at(0));
        for _ in 0..1000 {
            budget.deposit();
        }
        // 1000 deposits at some time in the last 1000 s: aged as if spread
        // evenly, they are worth 1000 × 0.2 × 10 / 1000 = 2 retries.
        let earned = allowed(&budget, ticks(1000.0), 1000);
        assert!((1..=2).contains(&earned), "{earned}");
    }

    #[test]
    fn a_settlement_from_the_future_does_not_age_the_account() {
        let budget = RetryBudget::default();
        assert!(budget.withdraw_at(ticks(20.0)));
        // A racing withdrawal that read the clock earlier settles after.
        assert!(budget.withdraw_at(ticks(19.0)));
        assert_eq!(
            unpack(budget.account.load(Ordering::Relaxed)).0,
            ticks(20.0)
        );
    }

    #[test]
    fn concurrent_deposits_and_withdrawals_never_overspend() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.2);
        let granted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..5000 {
                        budget.deposit();
                        if i % 3 == 0 && budget.withdraw_at(7) {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // 20 000 requests earn 4 000, the reserve 10: every grant was
        // paid for, and every one that could be paid for was granted.
        // (Within one for the balance's float rounding.)
        let total = granted.into_inner() + allowed(&budget, 7, 10_000);
        assert!((4009..=4010).contains(&total), "{total}");
    }

    #[test]
    #[should_panic(expected = "ttl")]
    fn a_ttl_out_of_range_is_refused() {
        let _ = RetryBudget::new(Duration::from_secs(61), 1, 0.2);
    }
}
