//! Backoff delays as an iterator (like the `backon` crate): exponential growth,
//! a cap, a jitter strategy and an optional number of delays, with the randomness
//! injected as an [`Rng`] so every sequence is reproducible from its seed.

use super::config::{Jitter, ProbeConfig, RetryConfig};
use super::rng::Rng;
use super::Millis;

/// How a [`Backoff`] spaces its delays.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// The exponential base of the first delay (and the floor of decorrelated jitter).
    pub initial_ms: Millis,
    /// No delay is ever longer than this.
    pub max_ms: Millis,
    /// Growth of the exponential base per delay.
    pub factor: f64,
    /// How each delay is randomised.
    pub jitter: Jitter,
    /// How many delays the iterator yields; `None` is forever.
    pub max_times: Option<u32>,
}

impl BackoffPolicy {
    /// The delays between a request's attempts: one fewer than `max_attempts`.
    pub fn for_retry(c: &RetryConfig) -> Self {
        Self {
            initial_ms: c.initial_delay_ms,
            max_ms: c.max_delay_ms,
            factor: c.factor,
            jitter: c.jitter,
            max_times: Some(c.max_attempts.saturating_sub(1)),
        }
    }

    /// The exponential base of the delays between health probes (the schedule
    /// adds its own hold and jitter).
    pub fn for_probe(c: &ProbeConfig) -> Self {
        Self {
            initial_ms: c.initial_delay_ms,
            max_ms: c.max_delay_ms,
            factor: c.factor,
            jitter: Jitter::None,
            max_times: None,
        }
    }

    /// The un-jittered delay number `n` (from 0): `min(max_ms, initial_ms × factor^n)`.
    pub fn base(&self, n: u32) -> Millis {
        // Past a few thousand steps the power is 0, 1 or infinite anyway.
        let exponent = i32::try_from(n.min(4_096)).unwrap_or(4_096);
        let raw = self.initial_ms as f64 * self.factor.powi(exponent);
        let base = if raw.is_nan() {
            self.initial_ms
        } else if raw <= 0.0 {
            0
        } else if raw >= self.max_ms as f64 {
            self.max_ms
        } else {
            // Finite and in 0..max_ms here: the cast cannot saturate.
            raw as u64
        };
        base.min(self.max_ms)
    }
}

/// An iterator of backoff delays; `None` once `max_times` delays were given.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    rng: Rng,
    /// Delays yielded so far.
    given: u32,
    /// The previous delay, for decorrelated jitter.
    prev: Millis,
}

impl Backoff {
    /// A fresh sequence of delays for `policy`, randomised by `rng`.
    pub fn new(policy: BackoffPolicy, rng: Rng) -> Self {
        let prev = policy.initial_ms;
        Self { policy, rng, given: 0, prev }
    }
}

impl Iterator for Backoff {
    type Item = Millis;

    fn next(&mut self) -> Option<Millis> {
        if self.policy.max_times.is_some_and(|max| self.given >= max) {
            return None;
        }
        let p = &self.policy;
        let delay = match p.jitter {
            Jitter::None => p.base(self.given),
            Jitter::Full => self.rng.between(0, p.base(self.given)),
            Jitter::Equal => {
                let base = p.base(self.given);
                let half = base / 2;
                half.saturating_add(self.rng.between(0, base - half))
            }
            Jitter::Decorrelated => {
                let hi = self.prev.saturating_mul(3);
                let d = self.rng.between(p.initial_ms, hi).min(p.max_ms);
                self.prev = d;
                d
            }
        };
        self.given = self.given.saturating_add(1);
        Some(delay.min(p.max_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Rng;
    use proptest::prelude::*;

    fn policy(jitter: Jitter, max_times: Option<u32>) -> BackoffPolicy {
        BackoffPolicy { initial_ms: 1_000, max_ms: 10_000, factor: 2.0, jitter, max_times }
    }

    #[test]
    fn without_jitter_the_delays_double_up_to_the_cap() {
        // Given a plain exponential policy with five delays
        let backoff = Backoff::new(policy(Jitter::None, Some(5)), Rng::new(1));
        // When it is run to the end, then it doubles, caps, and stops after five
        let delays: Vec<_> = backoff.collect();
        assert_eq!(delays, vec![1_000, 2_000, 4_000, 8_000, 10_000]);
    }

    #[test]
    fn full_jitter_stays_between_zero_and_the_exponential_base() {
        // Given full jitter from a fixed seed
        let delays: Vec<_> = Backoff::new(policy(Jitter::Full, Some(6)), Rng::new(7)).collect();
        // Then each delay lies in 0..=base_n, and the seed fixes the sequence
        let bases = [1_000, 2_000, 4_000, 8_000, 10_000, 10_000];
        assert_eq!(delays.len(), 6);
        for (d, b) in delays.iter().zip(bases) {
            assert!(*d <= b, "{d} > {b}");
        }
        let again: Vec<_> = Backoff::new(policy(Jitter::Full, Some(6)), Rng::new(7)).collect();
        assert_eq!(delays, again);
        assert_eq!(delays, FULL_SEED_7);
    }

    const FULL_SEED_7: [Millis; 6] = [310, 1_650, 2_921, 4_497, 6_812, 5_566];

    #[test]
    fn equal_jitter_never_goes_below_half_the_base() {
        // Given equal jitter
        let delays: Vec<_> = Backoff::new(policy(Jitter::Equal, Some(5)), Rng::new(3)).collect();
        // Then each delay is in base/2..=base
        for (d, b) in delays.iter().zip([1_000, 2_000, 4_000, 8_000, 10_000]) {
            assert!((b / 2..=b).contains(d), "{d} not in {}..={b}", b / 2);
        }
        assert_eq!(delays, EQUAL_SEED_3);
    }

    const EQUAL_SEED_3: [Millis; 5] = [683, 1_185, 3_383, 5_413, 6_101];

    #[test]
    fn decorrelated_jitter_grows_from_the_previous_delay_and_is_capped() {
        // Given decorrelated jitter for many steps
        let delays: Vec<_> = Backoff::new(policy(Jitter::Decorrelated, Some(20)), Rng::new(11)).collect();
        // Then each is within initial..=min(max, prev × 3)
        let mut prev = 1_000u64;
        for d in &delays {
            assert!(*d >= 1_000 && *d <= (prev * 3).min(10_000), "{d} after {prev}");
            prev = *d;
        }
        assert_eq!(delays.len(), 20);
        assert!(delays.contains(&10_000), "a long run reaches the cap: {delays:?}");
    }

    #[test]
    fn retry_policy_gives_one_delay_fewer_than_attempts() {
        // Given the default retry config (3 attempts)
        let c = RetryConfig::default();
        let p = BackoffPolicy::for_retry(&c);
        // Then two delays, the default 2 s doubling under a 30 s cap, full jitter
        assert_eq!(p.max_times, Some(2));
        assert_eq!((p.initial_ms, p.max_ms, p.jitter), (2_000, 30_000, Jitter::Full));
        assert_eq!(Backoff::new(p, Rng::new(1)).count(), 2);
        // And one attempt means no retry delay at all, zero attempts doesn't underflow
        let one = RetryConfig { max_attempts: 1, ..RetryConfig::default() };
        assert_eq!(Backoff::new(BackoffPolicy::for_retry(&one), Rng::new(1)).next(), None);
        let zero = RetryConfig { max_attempts: 0, ..RetryConfig::default() };
        assert_eq!(BackoffPolicy::for_retry(&zero).max_times, Some(0));
    }

    #[test]
    fn the_probe_policy_is_the_plain_exponential_base() {
        // Given the default probe config, then the policy has no jitter of its own
        // (the schedule adds it) and its bases double from 15 s to the 60 s cap
        let p = BackoffPolicy::for_probe(&ProbeConfig::default());
        assert_eq!((p.jitter, p.max_times), (Jitter::None, None));
        let bases: Vec<_> = (0..5).map(|n| p.base(n)).collect();
        assert_eq!(bases, vec![15_000, 30_000, 60_000, 60_000, 60_000]);
        assert_eq!(p.base(u32::MAX), 60_000);
    }

    #[test]
    fn broken_policies_do_not_panic_and_respect_the_cap() {
        // Given policies a validator would reject
        for factor in [f64::NAN, f64::INFINITY, -2.0, 0.0, 1e300] {
            for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated, Jitter::None] {
                let p = BackoffPolicy { initial_ms: u64::MAX, max_ms: 5, factor, jitter, max_times: Some(50) };
                // Then every delay is still at most max_ms
                assert!(Backoff::new(p, Rng::new(9)).all(|d| d <= 5));
            }
        }
    }

    proptest! {
        #[test]
        fn every_delay_is_at_most_max_and_the_count_is_max_times(
            initial in 0u64..100_000, max in 0u64..1_000_000, factor in 0.0f64..20.0,
            jitter in prop_oneof![Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated), Just(Jitter::None)],
            times in 0u32..40, seed in any::<u64>(),
        ) {
            let p = BackoffPolicy { initial_ms: initial, max_ms: max, factor, jitter, max_times: Some(times) };
            let delays: Vec<_> = Backoff::new(p, Rng::new(seed)).collect();
            prop_assert_eq!(delays.len(), times as usize);
            prop_assert!(delays.iter().all(|d| *d <= max));
        }
    }
}
