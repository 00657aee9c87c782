//! The client-wide retry budget (like tower's and gRPC's): retries may be at most a
//! ratio of the requests seen recently, plus a small floor.
//!
//! A cap on attempts per request is not enough on its own. When a server struggles,
//! every client sees failures at once, and a fleet of clients each retrying 3× turns
//! the server's load into three times its load, just when it can least take it. A
//! budget counts retries against first attempts over a sliding window, so retries can
//! only ever add `ratio` of the real traffic (0.2 = at most 20 % more load), plus a
//! floor of `minPerSecond` so a quiet client can still retry its rare failure.
//!
//! The window is a fixed ring of [`BUCKETS`] time buckets (constant memory): it covers
//! the current bucket and the nine before it, so between 0.9 and 1 × `windowMs`.

use super::config::BudgetConfig;
use super::Millis;

/// Buckets in the ring.
pub const BUCKETS: usize = 10;

/// Slack on the allowance, so `0.29 × 100` still allows the 29th retry.
const EPSILON: f64 = 1e-9;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    /// Which bucket-width period of time this bucket counts (`now / bucket_ms`).
    epoch: u64,
    deposits: u32,
    withdrawals: u32,
}

/// A sliding-window retry budget: retries ≤ floor + ratio × first attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudget {
    ratio: f64,
    /// `min_per_second × window seconds`: retries always allowed per window.
    floor: f64,
    bucket_ms: Millis,
    buckets: [Bucket; BUCKETS],
    /// The latest `now` seen: time going backwards is treated as standing still.
    latest: Millis,
}

impl RetryBudget {
    /// An empty budget for `config`.
    pub fn new(config: &BudgetConfig) -> Self {
        let window_s = config.window_ms as f64 / 1_000.0;
        Self {
            ratio: config.ratio,
            floor: config.min_per_second * window_s,
            bucket_ms: (config.window_ms / BUCKETS as u64).max(1),
            buckets: [Bucket::default(); BUCKETS],
            latest: 0,
        }
    }

    /// A request's first attempt was sent.
    pub fn deposit(&mut self, now: Millis) {
        if let Some(b) = self.bucket(now) {
            b.deposits = b.deposits.saturating_add(1);
        }
    }

    /// A retry wants to go: allowed iff the retries in the window, this one included,
    /// stay within `minPerSecond × window seconds + ratio × requests in the window`.
    /// Counts the retry only if allowed.
    pub fn try_withdraw(&mut self, now: Millis) -> bool {
        let now = self.advance(now);
        let (deposits, withdrawals) = self.totals(now);
        let allowance = self.floor + self.ratio * deposits as f64 + EPSILON;
        // NaN or negative config values make this false: no retries, no panic.
        if (withdrawals.saturating_add(1) as f64) > allowance || allowance.is_nan() {
            return false;
        }
        match self.bucket(now) {
            Some(b) => {
                b.withdrawals = b.withdrawals.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Moves the clock on (never back) and returns the effective `now`.
    fn advance(&mut self, now: Millis) -> Millis {
        self.latest = self.latest.max(now);
        self.latest
    }

    /// The bucket for `now`, reset first if it still holds an older period.
    fn bucket(&mut self, now: Millis) -> Option<&mut Bucket> {
        let now = self.advance(now);
        let epoch = now / self.bucket_ms;
        let slot = usize::try_from(epoch % BUCKETS as u64).ok()?;
        let b = self.buckets.get_mut(slot)?;
        if b.epoch != epoch {
            *b = Bucket { epoch, deposits: 0, withdrawals: 0 };
        }
        Some(b)
    }

    /// Deposits and withdrawals in the window ending at `now`.
    fn totals(&self, now: Millis) -> (u64, u64) {
        let epoch = now / self.bucket_ms;
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| b.epoch >= oldest && b.epoch <= epoch)
            .fold((0, 0), |(d, w), b| (d + u64::from(b.deposits), w + u64::from(b.withdrawals)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Defaults: ratio 0.2, 0.5 per second over 10 s: a floor of 5 retries.
    fn budget() -> RetryBudget {
        RetryBudget::new(&BudgetConfig::default())
    }

    fn withdrawals(b: &mut RetryBudget, now: Millis, n: usize) -> usize {
        (0..n).filter(|_| b.try_withdraw(now)).count()
    }

    #[test]
    fn the_floor_allows_a_few_retries_with_no_traffic() {
        // Given no requests at all
        let mut b = budget();
        // When ten retries want to go at once, then the floor lets five through
        assert_eq!(withdrawals(&mut b, 1_000, 10), 5);
        assert!(!b.try_withdraw(1_500));
    }

    #[test]
    fn the_allowance_grows_with_traffic() {
        // Given 50 first attempts in the window
        let mut b = budget();
        for t in 0..50 {
            b.deposit(t * 100);
        }
        // Then 5 (floor) + 0.2 × 50 = 15 retries may go, and no more
        assert_eq!(withdrawals(&mut b, 5_000, 20), 15);
        // And one more request allows 0.2 of a retry: not a whole one
        b.deposit(5_000);
        assert!(!b.try_withdraw(5_000));
        // But five more allow exactly one
        for _ in 0..4 {
            b.deposit(5_000);
        }
        assert!(b.try_withdraw(5_000));
        assert!(!b.try_withdraw(5_000));
    }

    #[test]
    fn old_entries_age_out_of_the_window() {
        // Given a budget spent at t = 0 .. 1 s
        let mut b = budget();
        assert_eq!(withdrawals(&mut b, 500, 5), 5);
        assert!(!b.try_withdraw(9_999));
        // When the window has moved past that bucket (10 buckets of 1 s)
        // Then the floor is available again
        assert_eq!(withdrawals(&mut b, 10_000, 10), 5);
        // And requests made long ago no longer count either
        let mut b = budget();
        for _ in 0..100 {
            b.deposit(0);
        }
        assert_eq!(withdrawals(&mut b, 9_999, 30), 25);
        let mut b2 = budget();
        for _ in 0..100 {
            b2.deposit(0);
        }
        assert_eq!(withdrawals(&mut b2, 10_000, 30), 5);
    }

    #[test]
    fn time_going_backwards_or_jumping_does_not_free_the_budget() {
        // Given the floor spent at t = 50 s
        let mut b = budget();
        assert_eq!(withdrawals(&mut b, 50_000, 5), 5);
        // When the clock goes back, then it counts as no time passing
        assert!(!b.try_withdraw(0));
        assert!(!b.try_withdraw(49_000));
        // And a huge jump forward empties the window without overflow
        assert_eq!(withdrawals(&mut b, u64::MAX, 10), 5);
        assert_eq!(withdrawals(&mut b, u64::MAX, 10), 0);
    }

    #[test]
    fn a_zero_or_broken_budget_allows_nothing_and_does_not_panic() {
        let zero = BudgetConfig { ratio: 0.0, min_per_second: 0.0, window_ms: 0 };
        let mut b = RetryBudget::new(&zero);
        b.deposit(0);
        assert!(!b.try_withdraw(0));
        let nan = BudgetConfig { ratio: f64::NAN, min_per_second: f64::NAN, window_ms: 10_000 };
        let mut b = RetryBudget::new(&nan);
        b.deposit(0);
        assert!(!b.try_withdraw(0));
    }

    proptest! {
        #[test]
        fn withdrawals_in_any_window_never_exceed_the_allowance(
            ratio in 0.0f64..=1.0, min_per_second in 0.0f64..5.0, window_ms in 1_000u64..20_000,
            events in prop::collection::vec((0u64..3_000, any::<bool>()), 1..300),
        ) {
            let config = BudgetConfig { ratio, min_per_second, window_ms };
            let mut b = RetryBudget::new(&config);
            let bucket_ms = (window_ms / 10).max(1);
            let floor = min_per_second * window_ms as f64 / 1_000.0;
            // A reference log of what the budget counted, by time.
            let mut log: Vec<(Millis, bool)> = Vec::new(); // (time, is_withdrawal)
            let mut now = 0;
            for (step, is_retry) in events {
                now += step;
                if !is_retry {
                    b.deposit(now);
                    log.push((now, false));
                    continue;
                }
                let allowed = b.try_withdraw(now);
                let epoch = now / bucket_ms;
                let in_window = |t: &Millis| t / bucket_ms + 10 > epoch;
                let deposits = log.iter().filter(|(t, w)| !w && in_window(t)).count() as f64;
                let before = log.iter().filter(|(t, w)| *w && in_window(t)).count() as f64;
                let allowance = floor + ratio * deposits;
                // It allows exactly when one more retry fits the allowance...
                prop_assert_eq!(allowed, before + 1.0 <= allowance + 1e-9);
                if allowed {
                    log.push((now, true));
                    // ...so whenever a retry goes, the retries in its window,
                    // itself included, are within the allowance.
                    let after = log.iter().filter(|(t, w)| *w && in_window(t)).count() as f64;
                    prop_assert!(after <= allowance + 1e-9);
                }
            }
        }
    }
}
