//! [`RetryBudget`]: the budget for extra sends (retries, hedges), with no
//! lock and no clock read on the success path but every 64th request's. Floor 1: the retry and
//! hedge layers both draw on it and neither owns it; re-exported as
//! `retry::RetryBudget` and `hedge::RetryBudget`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;
use tower::retry::budget::Budget;

/// The window is kept as this many slots, like `TpsBudget`'s.
const SLOTS: usize = 10;

/// Every this many deposits, the account is settled: at most `BATCH - 1`
/// deposits are ever unsettled.
const BATCH: u64 = 64;

/// A budget behind an `Arc`, as the retry and hedge layers of one stack
/// share it: any budget, and what it is (for [`refund`]).
pub(crate) trait SharedBudget: Budget + Send + Sync + std::any::Any {}
impl<T: Budget + Send + Sync + std::any::Any> SharedBudget for T {}

/// Gives back to `budget` one withdrawal, made at `at`, that sent nothing
/// (a hedge refused below, held there until its call ended, or given up
/// before its send): into the slot it was taken from, while that slot is
/// in the window (elsewhere it would outlive the withdrawal). Tower's
/// `Budget` has no refund, so only a [`RetryBudget`] takes one back;
/// another keeps it spent.
pub(crate) fn refund(budget: Option<&dyn SharedBudget>, at: Instant) {
    let ours = budget.and_then(|b| (b as &dyn std::any::Any).downcast_ref::<RetryBudget>());
    if let Some(ours) = ours {
        let w = &mut *ours.settle(Instant::now(), false);
        // Taken from `back` slots before the current one.
        let since = w.slot_start.saturating_duration_since(at).as_nanos();
        if let Ok(back @ 0..SLOTS) = usize::try_from(since.div_ceil(ours.account.slot.as_nanos())) {
            w.slots[(w.index + SLOTS - back) % SLOTS] += 1.0;
        }
    }
}

/// A retry budget: extra sends (retries, hedges) may be at most `retry_percent` of the recent
/// requests, plus `min_per_sec` retries a second, "recent" meaning the last
/// `ttl`. The default is 20 % + 1 retry/s over 10 s, like
/// [`TpsBudget::new(10 s, 1, 0.2)`](tower::retry::budget::TpsBudget).
///
/// It implements tower's [`Budget`], so it works anywhere a `TpsBudget`
/// does; [`RetryPolicy::budget`](crate::retry::RetryPolicy::budget) takes
/// either (or your own).
///
/// # Clone
/// Clones share one account: give a clone to the
/// [`RetryPolicy`](crate::retry::RetryPolicy) and another to the
/// [`HedgeLayer`](crate::hedge::HedgeLayer), and retries and hedges draw
/// on the same budget.
///
/// # Why not `TpsBudget`
///
/// A deposit happens on every request, a withdrawal only when a failure is
/// about to be retried. `TpsBudget` takes a mutex and reads the clock on
/// both. Here a deposit is one relaxed atomic add; only every 64th deposit
/// and the (rare) withdrawal read the clock and take a short lock to settle
/// the account.
///
/// # How it counts
///
/// As `TpsBudget` does: a sliding window of `ttl` in ten slots; a retry is
/// allowed while `min_per_sec × ttl` plus `retry_percent` of the window's
/// requests, less the window's retries, is at least one. Deposits carry no
/// time stamp: every 64th settles the batch since the previous settlement,
/// spread evenly over the time since; a withdrawal settles the (at most 63)
/// others at the previous settlement, the earliest they can have been made.
/// So a burst is credited when it happened (after a burst and a quiet
/// spell, no more retries than `TpsBudget` allows), and the window differs
/// from `TpsBudget`'s by at most the batch that straddles its start: 63
/// requests' share more (63 requests, a quiet spell, the 64th) or fewer.
/// Time is tokio's clock, so paused-time tests see it move.
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
/// Shared by every clone of a [`RetryPolicy`](crate::retry::RetryPolicy):
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
#[derive(Clone)]
pub struct RetryBudget {
    account: Arc<Account>,
}

/// The account the clones of a budget share.
struct Account {
    /// Deposits not yet settled into the window.
    pending: AtomicU64,
    window: Mutex<Window>,
    ttl: Duration,
    slot: Duration,
    ratio: f64,
    reserve: f64,
}

/// The settled account.
struct Window {
    /// Per slot: `retry_percent` per request less one per retry.
    slots: [f64; SLOTS],
    /// The current slot, and when it started.
    index: usize,
    slot_start: Instant,
    /// When deposits were last settled.
    settled: Instant,
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
        let now = Instant::now();
        let account = Arc::new(Account {
            pending: AtomicU64::new(0),
            window: Mutex::new(Window {
                slots: [0.0; SLOTS],
                index: 0,
                slot_start: now,
                settled: now,
            }),
            ttl,
            slot: ttl / SLOTS as u32,
            ratio: f64::from(retry_percent),
            reserve: f64::from(min_per_sec) * ttl.as_secs_f64(),
        });
        RetryBudget { account }
    }

    /// Settles the pending deposits at `now`: spread evenly over the time
    /// since the previous settlement (`spread`), or all at that settlement
    /// (`!spread`), the earliest they can have been made; what falls before
    /// the window is gone.
    fn settle(&self, now: Instant, spread: bool) -> MutexGuard<'_, Window> {
        let account = &*self.account;
        // A poisoned lock only means a panic elsewhere mid-update of plain
        // numbers: the account is still usable.
        let mut window = crate::lock(&account.window);
        let w = &mut *window;
        // A racing settlement may have settled at a later instant.
        let now = now.max(w.settled);
        // Slide the window to `now`.
        if now.duration_since(w.slot_start) >= account.ttl {
            w.slots = [0.0; SLOTS];
            w.slot_start = now;
        }
        while now.duration_since(w.slot_start) >= account.slot {
            w.index = (w.index + 1) % SLOTS;
            w.slots[w.index] = 0.0;
            w.slot_start += account.slot;
        }
        let fresh = account.pending.swap(0, Ordering::AcqRel) as f64 * account.ratio;
        let to = if spread { now } else { w.settled };
        let span = to.duration_since(w.settled).as_secs_f64();
        // All since the current slot's start (the usual case): that slot alone.
        let slots = if w.settled >= w.slot_start { 1 } else { SLOTS };
        for back in 0..slots {
            let start = w.slot_start.checked_sub(account.slot * back as u32);
            let Some(start) = start else { break };
            let end = if back == 0 { now } else { start + account.slot };
            let share = if span == 0.0 {
                // All at one instant: the slot that holds it.
                f64::from(start <= to && (to < end || back == 0))
            } else {
                let from = start.max(w.settled);
                end.min(to).saturating_duration_since(from).as_secs_f64() / span
            };
            w.slots[(w.index + SLOTS - back) % SLOTS] += fresh * share;
        }
        w.settled = now;
        window
    }

    /// Settles the pending deposits at `now` and withdraws one retry when
    /// the balance allows it.
    fn withdraw_at(&self, now: Instant) -> bool {
        let w = &mut *self.settle(now, false);
        let balance: f64 = w.slots.iter().sum::<f64>() + self.account.reserve;
        // A little slack for the float sums of fractional deposits.
        let allowed = balance >= 1.0 - 1e-9;
        if allowed {
            w.slots[w.index] -= 1.0;
        }
        allowed
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
        // Every `BATCH`th deposit settles, at its time: a burst is credited
        // when it happened, not spread over a quiet spell after it.
        if self.account.pending.fetch_add(1, Ordering::Relaxed) % BATCH == BATCH - 1 {
            drop(self.settle(Instant::now(), true));
        }
    }

    fn withdraw(&self) -> bool {
        self.withdraw_at(Instant::now())
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = &*self.account;
        f.debug_struct("RetryBudget")
            .field("ttl", &account.ttl)
            .field("ratio", &account.ratio)
            .field("reserve", &account.reserve)
            .field("pending", &account.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(budget: &RetryBudget, now: Instant, tries: usize) -> usize {
        (0..tries).filter(|_| budget.withdraw_at(now)).count()
    }

    fn at(budget: &RetryBudget, secs: f64) -> Instant {
        budget.account.window.lock().unwrap().settled + Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_reserve_is_min_per_sec_over_ttl() {
        let budget = RetryBudget::default();
        let t0 = at(&budget, 0.0);
        assert_eq!(allowed(&budget, t0, 100), 10);
        let none = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        assert_eq!(allowed(&none, t0, 100), 0);
    }

    #[test]
    fn deposits_earn_their_percentage() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        let t0 = at(&budget, 0.0);
        for _ in 0..1000 {
            budget.deposit();
        }
        assert_eq!(allowed(&budget, t0, 1000), 200);
        let generous = RetryBudget::new(Duration::from_secs(10), 0, 2.0);
        for _ in 0..10 {
            generous.deposit();
        }
        assert_eq!(allowed(&generous, at(&generous, 0.0), 1000), 20);
    }

    #[test]
    fn spent_retries_come_back_when_they_leave_the_window() {
        let budget = RetryBudget::default();
        let t0 = at(&budget, 0.0);
        assert_eq!(allowed(&budget, t0, 100), 10);
        assert_eq!(allowed(&budget, t0 + Duration::from_secs(5), 100), 0);
        assert_eq!(allowed(&budget, t0 + Duration::from_secs(11), 100), 10);
    }

    #[test]
    fn earned_retries_expire_with_the_window() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        let t0 = at(&budget, 0.0);
        for _ in 0..1000 {
            budget.deposit();
        }
        assert!(budget.withdraw_at(t0));
        assert_eq!(allowed(&budget, t0 + Duration::from_secs(5), 1), 1);
        assert_eq!(allowed(&budget, t0 + Duration::from_secs(11), 1000), 0);
    }

    #[test]
    fn unsettled_deposits_after_a_quiet_spell_earn_less_not_more() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        let t0 = at(&budget, 0.0);
        assert!(!budget.withdraw_at(t0));
        for _ in 0..1000 {
            budget.deposit();
        }
        // 1000 deposits at t0 (every 64th settles them, at t0; the 40 left
        // are credited at that settlement, the earliest they can have been
        // made): all out of the window 1000 s later, as `TpsBudget`'s.
        let earned = allowed(&budget, t0 + Duration::from_secs(1000), 1000);
        assert_eq!(earned, 0);
    }

    #[test]
    fn a_settlement_from_the_past_does_not_move_the_window_back() {
        let budget = RetryBudget::default();
        let t0 = at(&budget, 0.0);
        assert!(budget.withdraw_at(t0 + Duration::from_secs(20)));
        // A racing withdrawal that read the clock earlier settles after.
        assert!(budget.withdraw_at(t0 + Duration::from_secs(19)));
        assert_eq!(
            budget.account.window.lock().unwrap().settled,
            t0 + Duration::from_secs(20)
        );
    }

    #[test]
    fn concurrent_deposits_and_withdrawals_never_overspend() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.2);
        let t0 = at(&budget, 0.0);
        let granted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..5000 {
                        budget.deposit();
                        if i % 3 == 0 && budget.withdraw_at(t0) {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // 20 000 requests earn 4 000, the reserve 10: every grant was
        // paid for, and every one that could be paid for was granted.
        let total = granted.into_inner() + allowed(&budget, t0, 10_000);
        assert_eq!(total, 4010);
    }

    #[test]
    fn clones_share_one_account() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5);
        let clone = budget.clone();
        let t0 = at(&budget, 0.0);
        for _ in 0..10 {
            budget.deposit();
        }
        assert_eq!(allowed(&clone, t0, 100), 5);
        assert_eq!(allowed(&budget, t0, 100), 0, "spent through the clone");
    }

    /// A withdrawal that sent nothing (a hedge refused below) is given
    /// back into its own slot while that slot is in the window, never
    /// into a later one (where it would outlive the withdrawal).
    #[tokio::test(start_paused = true)]
    async fn a_refund_goes_back_to_its_slot_while_in_the_window() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.0);
        let shared: &dyn SharedBudget = &budget;
        let t0 = at(&budget, 0.0);
        assert_eq!(allowed(&budget, t0, 100), 10);
        // Withdrawn at 0 s, given back at 3.5 s: there until 10 s, as the
        // withdrawal was, not after.
        tokio::time::advance(Duration::from_millis(3500)).await;
        refund(Some(shared), t0);
        assert_eq!(allowed(&budget, t0 + Duration::from_millis(9900), 100), 1);
        assert_eq!(allowed(&budget, t0 + Duration::from_secs(10), 100), 9);
        // Withdrawn at 10 s, given back at 21 s: out of the window already.
        let t10 = t0 + Duration::from_secs(10);
        tokio::time::advance(Duration::from_millis(17_500)).await;
        refund(Some(shared), t10);
        refund(None, t10);
        assert_eq!(allowed(&budget, t0 + Duration::from_secs(21), 100), 10);
    }

    #[test]
    #[should_panic(expected = "ttl")]
    fn a_ttl_out_of_range_is_refused() {
        let _ = RetryBudget::new(Duration::from_secs(61), 1, 0.2);
    }
}
