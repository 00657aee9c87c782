//! Retry decisions for one request's sequence of attempts: retryable outcome,
//! idempotent method, attempt cap, backoff delay (or a longer, capped `Retry-After`),
//! total deadline and the client-wide [`RetryBudget`], checked in that order.

use super::backoff::{Backoff, BackoffPolicy};
use super::budget::RetryBudget;
use super::classify::Outcome;
use super::config::RetryConfig;
use super::rng::Rng;
use super::Millis;

/// Why a request is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The outcome is not one the config retries (e.g. 404, an abort, offline).
    NotRetryable,
    /// The method is not in the config's idempotent methods (e.g. POST).
    NotIdempotent,
    /// `maxAttempts` attempts were made.
    AttemptsExhausted,
    /// The retry would start after the request's total deadline.
    DeadlineExceeded,
    /// The client-wide retry budget is spent.
    BudgetExhausted,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait `delay_ms`, then make attempt number `attempt` (2 for the first retry).
    Retry {
        /// How long to wait before the next attempt.
        delay_ms: Millis,
        /// The attempt about to be made, counting the first as 1.
        attempt: u32,
    },
    /// Stop and report the failure.
    GiveUp(GiveUp),
}

/// The retry state of one request: when it started, how many attempts, its backoff.
#[derive(Debug, Clone)]
pub struct RetryState {
    start: Millis,
    attempts: u32,
    backoff: Backoff,
}

impl RetryState {
    /// The first attempt starts `now`.
    pub fn new(now: Millis, config: &RetryConfig, rng: Rng) -> Self {
        Self { start: now, attempts: 1, backoff: Backoff::new(BackoffPolicy::for_retry(config), rng) }
    }

    /// Attempts made so far (1 right after [`RetryState::new`]).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Decides after a failed attempt. A `Retry` counts the next attempt and spends
    /// one unit of `budget`; `retry_after_ms` is the server's `Retry-After`, if any.
    pub fn decide(
        &mut self,
        now: Millis,
        config: &RetryConfig,
        idempotent: bool,
        outcome: Outcome,
        retry_after_ms: Option<Millis>,
        budget: &mut RetryBudget,
    ) -> RetryDecision {
        if !outcome.is_retryable(config) {
            return RetryDecision::GiveUp(GiveUp::NotRetryable);
        }
        if !idempotent {
            return RetryDecision::GiveUp(GiveUp::NotIdempotent);
        }
        if self.attempts >= config.max_attempts {
            return RetryDecision::GiveUp(GiveUp::AttemptsExhausted);
        }
        let Some(backoff) = self.backoff.next() else {
            return RetryDecision::GiveUp(GiveUp::AttemptsExhausted);
        };
        let server = retry_after_ms.map_or(0, |r| r.min(config.max_retry_after_ms));
        let delay_ms = backoff.max(server);
        // Elapsed time, not instants, so neither a clock going back nor one at the
        // top of its range can overflow or sneak past the deadline.
        if now.saturating_sub(self.start).saturating_add(delay_ms) > config.deadline_ms {
            return RetryDecision::GiveUp(GiveUp::DeadlineExceeded);
        }
        if !budget.try_withdraw(now) {
            return RetryDecision::GiveUp(GiveUp::BudgetExhausted);
        }
        self.attempts = self.attempts.saturating_add(1);
        RetryDecision::Retry { delay_ms, attempt: self.attempts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{BudgetConfig, Jitter};
    use crate::engine::rng::Rng;
    use proptest::prelude::*;

    fn roomy_budget() -> RetryBudget {
        RetryBudget::new(&BudgetConfig { ratio: 1.0, min_per_second: 100.0, window_ms: 10_000 })
    }

    fn delay(d: RetryDecision) -> Millis {
        match d {
            RetryDecision::Retry { delay_ms, .. } => delay_ms,
            RetryDecision::GiveUp(g) => panic!("gave up: {g:?}"),
        }
    }

    #[test]
    fn a_504_is_retried_after_a_jittered_delay_until_attempts_run_out() {
        // Given a GET started at t = 1000 with the defaults (3 attempts, 2 s, ×2, full jitter)
        let c = RetryConfig::default();
        let mut budget = roomy_budget();
        let mut r = RetryState::new(1_000, &c, Rng::new(42));
        assert_eq!(r.attempts(), 1);
        // When it fails with 504, then attempt 2 follows after 0..=2 s
        let first = r.decide(1_500, &c, true, Outcome::Status(504), None, &mut budget);
        assert!(matches!(first, RetryDecision::Retry { attempt: 2, delay_ms } if delay_ms <= 2_000), "{first:?}");
        // And attempt 3 after 0..=4 s
        let second = r.decide(5_000, &c, true, Outcome::Status(504), None, &mut budget);
        assert!(matches!(second, RetryDecision::Retry { attempt: 3, delay_ms } if delay_ms <= 4_000), "{second:?}");
        assert_eq!(r.attempts(), 3);
        // And the seed fixes those delays
        assert_eq!((delay(first), delay(second)), SEED_42);
        // When the third attempt fails too, then it gives up
        let third = r.decide(9_000, &c, true, Outcome::Status(504), None, &mut budget);
        assert_eq!(third, RetryDecision::GiveUp(GiveUp::AttemptsExhausted));
        assert_eq!(r.attempts(), 3);
    }

    const SEED_42: (Millis, Millis) = (1_312, 3_814);

    #[test]
    fn timeouts_and_network_errors_are_retried_too() {
        let c = RetryConfig::default();
        let mut budget = roomy_budget();
        let mut r = RetryState::new(0, &c, Rng::new(1));
        assert!(matches!(r.decide(0, &c, true, Outcome::Timeout, None, &mut budget), RetryDecision::Retry { .. }));
        assert!(matches!(r.decide(0, &c, true, Outcome::NetworkError, None, &mut budget), RetryDecision::Retry { .. }));
    }

    #[test]
    fn a_post_is_not_retried_but_methods_compare_case_insensitively() {
        let c = RetryConfig::default();
        let mut budget = roomy_budget();
        let mut r = RetryState::new(0, &c, Rng::new(1));
        assert!(!c.is_idempotent("POST") && !c.is_idempotent("post"));
        let post = r.decide(0, &c, c.is_idempotent("POST"), Outcome::Status(503), None, &mut budget);
        assert_eq!(post, RetryDecision::GiveUp(GiveUp::NotIdempotent));
        assert_eq!(r.attempts(), 1);
        assert!(matches!(
            r.decide(0, &c, c.is_idempotent("get"), Outcome::Status(503), None, &mut budget),
            RetryDecision::Retry { .. }
        ));
    }

    #[test]
    fn a_404_is_not_retried_and_that_check_comes_first() {
        let c = RetryConfig::default();
        let mut budget = roomy_budget();
        let mut r = RetryState::new(0, &c, Rng::new(1));
        for outcome in [Outcome::Status(404), Outcome::Status(500), Outcome::Aborted, Outcome::Offline] {
            // Even for a POST, the outcome is checked before the method
            let d = r.decide(0, &c, false, outcome, None, &mut budget);
            assert_eq!(d, RetryDecision::GiveUp(GiveUp::NotRetryable), "{outcome:?}");
        }
    }

    #[test]
    fn attempts_are_capped_by_max_attempts() {
        // Given five attempts allowed and no jitter
        let c = RetryConfig { max_attempts: 5, jitter: Jitter::None, initial_delay_ms: 100, ..RetryConfig::default() };
        let mut budget = roomy_budget();
        let mut r = RetryState::new(0, &c, Rng::new(1));
        // When it keeps failing, then four retries with doubling delays, then give up
        let decisions: Vec<_> =
            (0..6).map(|_| r.decide(0, &c, true, Outcome::Status(502), None, &mut budget)).collect();
        let retry = |delay_ms, attempt| RetryDecision::Retry { delay_ms, attempt };
        assert_eq!(
            decisions,
            vec![
                retry(100, 2),
                retry(200, 3),
                retry(400, 4),
                retry(800, 5),
                RetryDecision::GiveUp(GiveUp::AttemptsExhausted),
                RetryDecision::GiveUp(GiveUp::AttemptsExhausted),
            ]
        );
        // And one attempt in all means no retry
        let once = RetryConfig { max_attempts: 1, ..RetryConfig::default() };
        let mut r = RetryState::new(0, &once, Rng::new(1));
        let d = r.decide(0, &once, true, Outcome::Status(502), None, &mut budget);
        assert_eq!(d, RetryDecision::GiveUp(GiveUp::AttemptsExhausted));
    }

    #[test]
    fn a_longer_retry_after_wins_and_is_capped() {
        // Given a plain 2 s backoff and a 60 s cap on Retry-After
        let c = RetryConfig { jitter: Jitter::None, max_attempts: 4, ..RetryConfig::default() };
        let mut budget = roomy_budget();
        let mut r = RetryState::new(0, &c, Rng::new(1));
        // When the server asks for 10 s, then 10 s it is
        assert_eq!(delay(r.decide(0, &c, true, Outcome::Status(429), Some(10_000), &mut budget)), 10_000);
        // When it asks for less than the backoff (4 s now), the backoff wins
        assert_eq!(delay(r.decide(0, &c, true, Outcome::Status(429), Some(1_000), &mut budget)), 4_000);
        // When it asks for an hour, it gets the 60 s cap
        assert_eq!(delay(r.decide(0, &c, true, Outcome::Status(503), Some(3_600_000), &mut budget)), 60_000);
    }

    #[test]
    fn no_retry_may_start_after_the_deadline() {
        // Given a 10 s deadline from t = 1000 and a plain 2 s backoff
        let c = RetryConfig { jitter: Jitter::None, deadline_ms: 10_000, ..RetryConfig::default() };
        let mut budget = roomy_budget();
        let mut r = RetryState::new(1_000, &c, Rng::new(1));
        // When the failure comes at t = 9000, the retry would start at 11 000 = the deadline: allowed
        assert!(matches!(r.decide(9_000, &c, true, Outcome::Timeout, None, &mut budget), RetryDecision::Retry { .. }));
        // When the next comes at t = 7001 + 4 s > 11 000: refused
        let mut r = RetryState::new(1_000, &c, Rng::new(1));
        let _ = r.decide(1_000, &c, true, Outcome::Timeout, None, &mut budget);
        let d = r.decide(7_001, &c, true, Outcome::Timeout, None, &mut budget);
        assert_eq!(d, RetryDecision::GiveUp(GiveUp::DeadlineExceeded));
        // And a Retry-After past the deadline is refused too, even from a clock at the top of its range
        let mut r = RetryState::new(u64::MAX, &c, Rng::new(1));
        let d = r.decide(u64::MAX, &c, true, Outcome::Status(503), Some(20_000), &mut budget);
        assert_eq!(d, RetryDecision::GiveUp(GiveUp::DeadlineExceeded));
    }

    #[test]
    fn an_empty_budget_stops_retries_without_counting_an_attempt() {
        // Given a budget of one retry (floor 0.1/s × 10 s, no ratio)
        let mut budget = RetryBudget::new(&BudgetConfig { ratio: 0.0, min_per_second: 0.1, window_ms: 10_000 });
        let c = RetryConfig::default();
        let mut a = RetryState::new(0, &c, Rng::new(1));
        let mut b = RetryState::new(0, &c, Rng::new(2));
        // When two requests fail, then the first retries and the second is refused
        assert!(matches!(a.decide(0, &c, true, Outcome::Status(503), None, &mut budget), RetryDecision::Retry { .. }));
        let d = b.decide(0, &c, true, Outcome::Status(503), None, &mut budget);
        assert_eq!(d, RetryDecision::GiveUp(GiveUp::BudgetExhausted));
        assert_eq!(b.attempts(), 1);
        // And a refused retry (deadline) does not spend the budget
        let mut spare = RetryBudget::new(&BudgetConfig { ratio: 0.0, min_per_second: 0.1, window_ms: 10_000 });
        let tight = RetryConfig { deadline_ms: 1_000, jitter: Jitter::None, ..RetryConfig::default() };
        let mut late = RetryState::new(0, &tight, Rng::new(1));
        let d = late.decide(0, &tight, true, Outcome::Status(503), None, &mut spare);
        assert_eq!(d, RetryDecision::GiveUp(GiveUp::DeadlineExceeded));
        assert!(spare.try_withdraw(0));
    }

    proptest! {
        #[test]
        fn delays_stay_capped_and_attempts_never_exceed_the_maximum(
            max_attempts in 1u32..=10, initial in 0u64..60_000, extra in 0u64..600_000,
            factor in 1.0f64..=10.0, max_retry_after in 0u64..3_600_000, seed in any::<u64>(),
            jitter in prop_oneof![Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated), Just(Jitter::None)],
            steps in prop::collection::vec((0u64..100_000, prop::option::of(any::<u64>()), 0usize..4), 1..20),
        ) {
            let c = RetryConfig {
                max_attempts, initial_delay_ms: initial, max_delay_ms: initial + extra, factor, jitter,
                max_retry_after_ms: max_retry_after, deadline_ms: 3_600_000, ..RetryConfig::default()
            };
            let cap = c.max_delay_ms.max(c.max_retry_after_ms);
            let mut budget = roomy_budget();
            let mut r = RetryState::new(0, &c, Rng::new(seed));
            let outcomes = [Outcome::Status(503), Outcome::Timeout, Outcome::NetworkError, Outcome::Status(404)];
            let mut now = 0u64;
            for (step, retry_after, which) in steps {
                now += step;
                let outcome = outcomes.get(which).copied().unwrap_or(Outcome::Timeout);
                let d = r.decide(now, &c, true, outcome, retry_after, &mut budget);
                if let RetryDecision::Retry { delay_ms, attempt } = d {
                    prop_assert!(delay_ms <= cap);
                    prop_assert_eq!(attempt, r.attempts());
                }
                prop_assert!(r.attempts() <= max_attempts);
            }
        }
    }
}
