//! The rolling window of call outcomes: a fixed ring of time buckets.
//!
//! A breaker's error rate is counted over the last `buckets × bucket_ms`
//! milliseconds. The ring is allocated once, so memory stays constant whatever the
//! call count. Each slot remembers which bucket epoch (`now / bucket_ms`) it holds,
//! so buckets that have aged out never count, even if nobody recorded for a while.

use super::Millis;

/// Upper bound on the ring size, whatever is asked (config allows at most 120).
pub const MAX_BUCKETS: u32 = 3_600;

/// One bucket: which epoch it holds and what happened in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Slot {
    epoch: u64,
    calls: u64,
    failures: u64,
}

/// Calls and failures over the last `buckets × bucket_ms` milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingWindow {
    slots: Vec<Slot>,
    bucket_ms: Millis,
    /// The newest epoch recorded into, to notice time jumping far back.
    latest: u64,
}

impl RollingWindow {
    /// A window of `buckets` buckets each `bucket_ms` wide. Both are clamped to at
    /// least 1, and `buckets` to at most [`MAX_BUCKETS`].
    pub fn new(buckets: u32, bucket_ms: Millis) -> Self {
        let n = usize::try_from(buckets.clamp(1, MAX_BUCKETS)).unwrap_or(1);
        Self { slots: vec![Slot::default(); n], bucket_ms: bucket_ms.max(1), latest: 0 }
    }

    /// Number of slots in the ring (fixed at construction).
    fn len(&self) -> u64 {
        u64::try_from(self.slots.len()).unwrap_or(1).max(1)
    }

    fn epoch(&self, now: Millis) -> u64 {
        now / self.bucket_ms.max(1)
    }

    /// Whether a bucket of epoch `epoch` is inside the window ending at `current`.
    fn in_window(&self, epoch: u64, current: u64) -> bool {
        current.checked_sub(epoch).is_some_and(|age| age < self.len())
    }

    /// Records one call at `now`. If time went back further than the whole window,
    /// the counts are from another clock: the window starts afresh.
    pub fn record(&mut self, now: Millis, failure: bool) {
        let epoch = self.epoch(now);
        if !self.in_window(epoch, self.latest) && epoch < self.latest {
            self.clear();
        }
        self.latest = self.latest.max(epoch);
        let len = self.len();
        let index = usize::try_from(epoch % len).unwrap_or(0);
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.epoch != epoch {
                *slot = Slot { epoch, calls: 0, failures: 0 };
            }
            slot.calls = slot.calls.saturating_add(1);
            if failure {
                slot.failures = slot.failures.saturating_add(1);
            }
        }
    }

    /// `(calls, failures)` in the buckets inside the window ending at `now`. Buckets
    /// newer than `now` (time went back) do not count either.
    pub fn totals(&self, now: Millis) -> (u64, u64) {
        let current = self.epoch(now);
        self.slots
            .iter()
            .filter(|s| self.in_window(s.epoch, current))
            .fold((0u64, 0u64), |(c, f), s| (c.saturating_add(s.calls), f.saturating_add(s.failures)))
    }

    /// Forgets every call.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = Slot::default());
        self.latest = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn calls_inside_the_window_count() {
        // Given a window of 10 × 1 s
        let mut w = RollingWindow::new(10, 1_000);
        // When two failures and a success land within a few seconds
        w.record(1_000, true);
        w.record(2_500, false);
        w.record(9_999, true);
        // Then all three count
        assert_eq!(w.totals(10_000), (3, 2));
    }

    #[test]
    fn buckets_age_out_of_the_window() {
        // Given calls at t = 0.5 s and t = 5 s in a 10 × 1 s window
        let mut w = RollingWindow::new(10, 1_000);
        w.record(500, true);
        w.record(5_000, false);
        // When we look 9.9 s later, the first bucket (epoch 0) is still the oldest in
        assert_eq!(w.totals(9_999), (2, 1));
        // Then at 10 s, epoch 0 has aged out
        assert_eq!(w.totals(10_000), (1, 0));
        // And by 15 s nothing is left, though nothing was recorded since
        assert_eq!(w.totals(15_000), (0, 0));
    }

    #[test]
    fn a_reused_slot_forgets_its_old_bucket() {
        // Given a failure at epoch 1 in a 3-bucket ring
        let mut w = RollingWindow::new(3, 100);
        w.record(150, true);
        // When a success lands at epoch 4, the same slot
        w.record(450, false);
        // Then the old failure is gone, not added in
        assert_eq!(w.totals(450), (1, 0));
    }

    #[test]
    fn clear_forgets_everything() {
        let mut w = RollingWindow::new(5, 1_000);
        w.record(100, true);
        w.record(200, true);
        w.clear();
        assert_eq!(w.totals(300), (0, 0));
    }

    #[test]
    fn time_going_back_a_little_still_counts_in_its_bucket() {
        // Given a call at 5 s
        let mut w = RollingWindow::new(10, 1_000);
        w.record(5_000, false);
        // When a late report arrives stamped 4 s
        w.record(4_000, true);
        // Then both count at 5 s
        assert_eq!(w.totals(5_000), (2, 1));
        // And asked at 4 s, the future 5 s bucket does not count
        assert_eq!(w.totals(4_000), (1, 1));
    }

    #[test]
    fn time_jumping_far_back_starts_afresh() {
        // Given calls at a huge time
        let mut w = RollingWindow::new(10, 1_000);
        w.record(u64::MAX, true);
        w.record(1_000_000_000, true);
        // When the clock restarts near zero
        w.record(0, false);
        // Then only the new call counts, and the old ones never come back
        assert_eq!(w.totals(0), (1, 0));
        assert_eq!(w.totals(u64::MAX), (0, 0));
    }

    #[test]
    fn zero_sizes_are_clamped() {
        let mut w = RollingWindow::new(0, 0);
        w.record(7, true);
        assert_eq!(w.totals(7), (1, 1));
        assert_eq!(w.totals(8), (0, 0));
    }

    #[test]
    fn memory_is_constant() {
        // Given a window
        let mut w = RollingWindow::new(10, 100);
        let (len, cap) = (w.slots.len(), w.slots.capacity());
        // When a million calls are recorded over a long time
        for i in 0..1_000_000u64 {
            w.record(i.saturating_mul(7), i % 3 == 0);
        }
        // Then the ring did not grow
        assert_eq!((w.slots.len(), w.slots.capacity()), (len, cap));
        assert_eq!(RollingWindow::new(u32::MAX, 1).slots.len(), MAX_BUCKETS as usize);
    }

    proptest! {
        #[test]
        fn never_counts_more_than_recorded(
            buckets in 0u32..200,
            bucket_ms in 0u64..10_000,
            ops in proptest::collection::vec((any::<u64>(), any::<bool>()), 0..100),
            at in any::<u64>(),
        ) {
            let mut w = RollingWindow::new(buckets, bucket_ms);
            let fails = ops.iter().filter(|(_, f)| *f).count() as u64;
            for (now, failure) in &ops {
                w.record(*now, *failure);
            }
            let (c, f) = w.totals(at);
            prop_assert!(f <= c);
            prop_assert!(c <= ops.len() as u64);
            prop_assert!(f <= fails);
        }
    }
}
