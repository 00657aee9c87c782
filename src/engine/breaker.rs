//! The circuit breaker of one service: its states, the rules that move between
//! them, and its snapshot for persistence.
//!
//! Closed counts failures (consecutive, and an error rate over a [`RollingWindow`]);
//! Open fails fast for a duration that grows on repeated opens and can be extended
//! by `Retry-After`; HalfOpen admits a few trials and closes after enough of them
//! succeed; Isolated is forced open until reset. Every method takes `now` and
//! returns a [`Transition`] only when the state actually changed.
//!
//! Trials are counted by a plain in-flight counter: every [`Admission::Trial`] must
//! be reported exactly once (`record_success`, `record_failure` or `record_ignored`
//! with `trial = true`), whatever the state is by then. The counter is never reset,
//! so trials still in flight from an earlier half-open period keep their slots.

use super::config::BreakerConfig;
use super::reader::{exact, whole_up_to, MAX_SAFE};
use super::value::Value;
use super::window::RollingWindow;
use super::Millis;

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls flow; failures are counted.
    Closed,
    /// Calls fail fast; only probes reach the server.
    Open,
    /// A limited number of trial calls test the server.
    HalfOpen,
    /// Forced open by the operator until reset.
    Isolated,
}

impl BreakerState {
    /// Every state, in a fixed order (for metrics tables).
    pub const ALL: [BreakerState; 4] =
        [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen, BreakerState::Isolated];

    /// The camelCase name used in JSON and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "halfOpen",
            BreakerState::Isolated => "isolated",
        }
    }

    /// The state named `name` (as [`BreakerState::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The `retry_after_ms` given to a call rejected because every half-open trial
/// slot is taken: a trial usually answers within about a second.
pub const HALF_OPEN_FULL_RETRY_MS: Millis = 1_000;

/// Cap on the reopen streak (kept and restored): far past where any valid config's
/// open time reaches `max_open_ms`.
pub const MAX_REOPEN_COUNT: u32 = 1_000;

/// A state change, for events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// When it happened.
    pub at: Millis,
}

/// The answer to "may a call go now?"
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: the call goes.
    Allowed,
    /// Half-open trial: the call goes; report its result with `trial = true`.
    Trial,
    /// The call must not go. `retry_after_ms` is how long until it is worth asking
    /// again; `None` when isolated (only a reset helps).
    Rejected {
        /// Milliseconds until the breaker may admit again, if it ever will alone.
        retry_after_ms: Option<Millis>,
    },
}

/// How an open breaker moves to half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// By time: the first `admit` at or after `open_until` goes half-open.
    Timer,
    /// By health probes: only [`Breaker::half_open`] moves it.
    Probe,
}

/// A breaker's persisted state.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    /// The state when taken.
    pub state: BreakerState,
    /// Open time left when taken (0 unless Open or Isolated).
    pub open_remaining_ms: Millis,
    /// Reopens from half-open since the last close.
    pub reopen_count: u32,
}

impl BreakerSnapshot {
    /// `{"state", "openRemainingMs", "reopenCount"}`, the state in camelCase.
    pub fn to_value(&self) -> Value {
        Value::object([
            ("state", self.state.as_str().into()),
            ("openRemainingMs", self.open_remaining_ms.into()),
            ("reopenCount", self.reopen_count.into()),
        ])
    }

    /// Reads what [`BreakerSnapshot::to_value`] wrote; `None` for anything else
    /// (missing or unknown fields, wrong types, negative or fractional numbers).
    pub fn from_value(value: &Value) -> Option<Self> {
        let &[state, open_remaining_ms, reopen_count] =
            exact(value, &["state", "openRemainingMs", "reopenCount"])?.as_slice()
        else {
            return None;
        };
        let Value::String(state) = state else { return None };
        Some(Self {
            state: BreakerState::parse(state)?,
            open_remaining_ms: whole_up_to(open_remaining_ms, MAX_SAFE)?,
            reopen_count: u32::try_from(whole_up_to(reopen_count, u32::MAX.into())?).ok()?,
        })
    }
}

/// One service's circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    recovery: Recovery,
    state: BreakerState,
    /// Consecutive failures while closed.
    consecutive: u32,
    /// Calls and failures while closed.
    window: RollingWindow,
    /// End of the open period (meaningful while Open).
    open_until: Millis,
    /// Reopens from half-open since the last close.
    reopen_count: u32,
    /// Trials admitted and not yet reported.
    trials_in_flight: u32,
    /// Successful trials in the current half-open period.
    trial_successes: u32,
}

impl Breaker {
    /// A closed breaker with this policy and way of recovering.
    pub fn new(config: BreakerConfig, recovery: Recovery) -> Self {
        let window = RollingWindow::new(config.window_buckets, config.bucket_ms);
        Self {
            config,
            recovery,
            state: BreakerState::Closed,
            consecutive: 0,
            window,
            open_until: 0,
            reopen_count: 0,
            trials_in_flight: 0,
            trial_successes: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The policy.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// May a call go now? With [`Recovery::Timer`], an open breaker whose time is
    /// up goes half-open here (the transition is returned) and admits a trial.
    pub fn admit(&mut self, now: Millis) -> (Admission, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admission::Allowed, None),
            BreakerState::Isolated => (Admission::Rejected { retry_after_ms: None }, None),
            BreakerState::HalfOpen => (self.admit_trial(), None),
            BreakerState::Open => {
                self.clamp_open_until(now);
                if self.recovery == Recovery::Timer && now >= self.open_until {
                    let transition = self.enter_half_open(now);
                    (self.admit_trial(), transition)
                } else {
                    let remaining = self.open_until.saturating_sub(now);
                    (Admission::Rejected { retry_after_ms: Some(remaining) }, None)
                }
            }
        }
    }

    /// Reports a call that succeeded. Counts while closed, and for trials while
    /// half-open; ignored while open (a late answer) or isolated.
    pub fn record_success(&mut self, now: Millis, trial: bool) -> Option<Transition> {
        if trial {
            self.release_trial();
        }
        match self.state {
            BreakerState::Closed => {
                self.consecutive = 0;
                self.window.record(now, false);
                None
            }
            BreakerState::HalfOpen if trial => {
                self.trial_successes = self.trial_successes.saturating_add(1);
                if self.trial_successes >= self.config.success_threshold.max(1) {
                    self.close(now)
                } else {
                    None
                }
            }
            BreakerState::HalfOpen | BreakerState::Open | BreakerState::Isolated => None,
        }
    }

    /// Reports a call that failed, with the server's `Retry-After` if any. May open
    /// (closed), reopen (half-open trial) or extend the open time (open).
    pub fn record_failure(&mut self, now: Millis, trial: bool, retry_after_ms: Option<Millis>) -> Option<Transition> {
        if trial {
            self.release_trial();
        }
        match self.state {
            BreakerState::Closed => {
                self.consecutive = self.consecutive.saturating_add(1);
                self.window.record(now, true);
                if self.should_open(now) {
                    self.trip(now, retry_after_ms)
                } else {
                    None
                }
            }
            BreakerState::HalfOpen if trial => {
                self.reopen_count = self.reopen_count.saturating_add(1).min(MAX_REOPEN_COUNT);
                self.trip(now, retry_after_ms)
            }
            BreakerState::Open => {
                self.extend(now, retry_after_ms);
                None
            }
            BreakerState::HalfOpen | BreakerState::Isolated => None,
        }
    }

    /// Reports a call that says nothing about the server (client offline, caller
    /// abort): releases its trial slot, counts nothing.
    pub fn record_ignored(&mut self, trial: bool) {
        if trial {
            self.release_trial();
        }
    }

    /// Health probes succeeded: an open breaker goes half-open. Does nothing in any
    /// other state.
    pub fn half_open(&mut self, now: Millis) -> Option<Transition> {
        if self.state == BreakerState::Open {
            self.enter_half_open(now)
        } else {
            None
        }
    }

    /// When the open period ends, while Open.
    pub fn open_until(&self) -> Option<Millis> {
        (self.state == BreakerState::Open).then_some(self.open_until)
    }

    /// When this breaker next changes by time alone: `open_until` while Open with
    /// [`Recovery::Timer`], else `None`.
    pub fn next_deadline(&self) -> Option<Millis> {
        if self.recovery == Recovery::Timer {
            self.open_until()
        } else {
            None
        }
    }

    /// Forces the breaker closed, forgetting its counts and reopen streak.
    pub fn reset(&mut self, now: Millis) -> Option<Transition> {
        self.close(now)
    }

    /// Forces the breaker open until [`Breaker::reset`].
    pub fn isolate(&mut self, now: Millis) -> Option<Transition> {
        self.trial_successes = 0;
        self.go(BreakerState::Isolated, now)
    }

    /// The state to persist.
    pub fn snapshot(&self, now: Millis) -> BreakerSnapshot {
        let open_remaining_ms = match self.state {
            BreakerState::Open | BreakerState::Isolated => self.open_until.saturating_sub(now),
            BreakerState::Closed | BreakerState::HalfOpen => 0,
        };
        BreakerSnapshot { state: self.state, open_remaining_ms, reopen_count: self.reopen_count }
    }

    /// Takes on a persisted state (its `open_remaining_ms` already adjusted for the
    /// time elapsed). Open keeps at most `max_open_ms`; HalfOpen comes back as Open
    /// with no time left (cautious: it goes half-open again on recovery), except on a
    /// breaker already half-open, which is left as it is; Closed comes back with empty
    /// counts and no reopen streak. Trials in flight are kept. A transition only if
    /// the state changed.
    pub fn restore(&mut self, snapshot: &BreakerSnapshot, now: Millis) -> Option<Transition> {
        if snapshot.state == BreakerState::HalfOpen && self.state == BreakerState::HalfOpen {
            return None;
        }
        self.consecutive = 0;
        self.window.clear();
        self.trial_successes = 0;
        self.reopen_count = snapshot.reopen_count.min(MAX_REOPEN_COUNT);
        match snapshot.state {
            BreakerState::Closed => {
                self.reopen_count = 0;
                self.go(BreakerState::Closed, now)
            }
            BreakerState::Open => {
                self.open_until = now.saturating_add(snapshot.open_remaining_ms.min(self.config.max_open_ms));
                self.go(BreakerState::Open, now)
            }
            BreakerState::HalfOpen => {
                self.open_until = now;
                self.go(BreakerState::Open, now)
            }
            BreakerState::Isolated => {
                self.open_until = now.saturating_add(snapshot.open_remaining_ms);
                self.go(BreakerState::Isolated, now)
            }
        }
    }

    /// Moves to `to`; a transition only if that is a change.
    fn go(&mut self, to: BreakerState, now: Millis) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        (from != to).then_some(Transition { from, to, at: now })
    }

    fn admit_trial(&mut self) -> Admission {
        // Without probes, the first trial is the probe: alone, until it succeeds.
        let limit = match (self.recovery, self.trial_successes) {
            (Recovery::Timer, 0) => 1,
            _ => self.config.half_open_max_trials.max(1),
        };
        if self.trials_in_flight < limit {
            self.trials_in_flight = self.trials_in_flight.saturating_add(1);
            Admission::Trial
        } else {
            Admission::Rejected { retry_after_ms: Some(HALF_OPEN_FULL_RETRY_MS) }
        }
    }

    fn release_trial(&mut self) {
        self.trials_in_flight = self.trials_in_flight.saturating_sub(1);
    }

    fn enter_half_open(&mut self, now: Millis) -> Option<Transition> {
        self.trial_successes = 0;
        self.go(BreakerState::HalfOpen, now)
    }

    /// Closed, with every count and the reopen streak forgotten.
    fn close(&mut self, now: Millis) -> Option<Transition> {
        self.consecutive = 0;
        self.window.clear();
        self.reopen_count = 0;
        self.trial_successes = 0;
        self.go(BreakerState::Closed, now)
    }

    /// Whether the closed counts call for opening.
    fn should_open(&self, now: Millis) -> bool {
        if self.consecutive >= self.config.failure_threshold.max(1) {
            return true;
        }
        let (calls, failures) = self.window.totals(now);
        if calls == 0 || calls < u64::from(self.config.minimum_requests) {
            return false;
        }
        // NaN thresholds compare false: the rate rule is then off.
        failures as f64 / calls as f64 >= self.config.error_rate_threshold
    }

    /// Opens for the current streak's duration, extended by `retry_after_ms`.
    fn trip(&mut self, now: Millis, retry_after_ms: Option<Millis>) -> Option<Transition> {
        self.consecutive = 0;
        self.trial_successes = 0;
        self.open_until = now.saturating_add(self.open_duration());
        self.extend(now, retry_after_ms);
        self.go(BreakerState::Open, now)
    }

    /// `open_ms × open_backoff_factor ^ reopen_count`, capped at `max_open_ms`.
    /// A factor that is NaN, infinite or below 1 counts as 1.
    fn open_duration(&self) -> Millis {
        let cap = self.config.max_open_ms;
        let factor = self.config.open_backoff_factor;
        let factor = if factor.is_finite() && factor >= 1.0 { factor } else { 1.0 };
        let exponent = i32::try_from(self.reopen_count.min(MAX_REOPEN_COUNT)).unwrap_or(0);
        let ms = self.config.open_ms as f64 * factor.powi(exponent);
        if !ms.is_finite() || ms >= cap as f64 {
            cap
        } else {
            // In range and finite: the cast is exact enough and cannot wrap.
            (ms as Millis).min(cap)
        }
    }

    /// While open, stays open until `until` (its open time set by the caller:
    /// for a service without probes, the probe schedule's).
    pub fn hold_open_until(&mut self, until: Millis) {
        if self.state == BreakerState::Open {
            self.open_until = until;
        }
    }

    /// Pushes `open_until` out to `now + retry_after_ms` (capped at `max_open_ms`)
    /// when that is later.
    fn extend(&mut self, now: Millis, retry_after_ms: Option<Millis>) {
        if let Some(retry) = retry_after_ms {
            let until = now.saturating_add(retry.min(self.config.max_open_ms));
            self.open_until = self.open_until.max(until);
        }
    }

    /// If the clock went back, the open period may end implausibly far away: never
    /// leave more than `max_open_ms` to wait.
    fn clamp_open_until(&mut self, now: Millis) {
        let cap = self.config.max_open_ms;
        if self.open_until.saturating_sub(now) > cap {
            self.open_until = now.saturating_add(cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use BreakerState::{Closed, HalfOpen, Isolated, Open};

    /// A small policy: 3 consecutive failures, or ≥ 50% of ≥ 4 calls in 10 × 1 s;
    /// open 1 s doubling up to 5 s; 2 trials at once, 2 successes to close.
    fn config() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            error_rate_threshold: 0.5,
            minimum_requests: 4,
            window_buckets: 10,
            bucket_ms: 1_000,
            open_ms: 1_000,
            open_backoff_factor: 2.0,
            max_open_ms: 5_000,
            half_open_max_trials: 2,
            success_threshold: 2,
            slow_calls_are_failures: false,
        }
    }

    fn timer() -> Breaker {
        Breaker::new(config(), Recovery::Timer)
    }

    fn t(from: BreakerState, to: BreakerState, at: Millis) -> Option<Transition> {
        Some(Transition { from, to, at })
    }

    fn rejected(ms: Millis) -> Admission {
        Admission::Rejected { retry_after_ms: Some(ms) }
    }

    /// Opens `b` at `now` with three consecutive failures.
    fn open_at(b: &mut Breaker, now: Millis) {
        b.record_failure(now, false, None);
        b.record_failure(now, false, None);
        assert_eq!(b.record_failure(now, false, None), t(Closed, Open, now));
    }

    #[test]
    fn consecutive_failures_open_it() {
        // Given a closed breaker with a threshold of 3 (and no rate rule in reach)
        let mut b = Breaker::new(BreakerConfig { minimum_requests: 1_000, ..config() }, Recovery::Timer);
        // When two failures come, a success breaks the streak, then two more
        assert_eq!(b.record_failure(0, false, None), None);
        assert_eq!(b.record_failure(10, false, None), None);
        assert_eq!(b.record_success(20, false), None);
        assert_eq!(b.record_failure(30, false, None), None);
        assert_eq!(b.record_failure(40, false, None), None);
        // Then it is still closed: the streak is only 2
        assert_eq!(b.admit(45), (Admission::Allowed, None));
        // When a third failure in a row comes, it opens for open_ms
        assert_eq!(b.record_failure(50, false, None), t(Closed, Open, 50));
        assert_eq!(b.open_until(), Some(1_050));
        assert_eq!(b.admit(60), (rejected(990), None));
    }

    #[test]
    fn error_rate_opens_it_only_with_enough_calls() {
        // Given a breaker that would never open by streak
        let mut b = Breaker::new(BreakerConfig { failure_threshold: 1_000, ..config() }, Recovery::Timer);
        // When failure, success, failure arrive (67% errors but only 3 calls)
        b.record_failure(0, false, None);
        b.record_success(100, false);
        assert_eq!(b.record_failure(200, false, None), None);
        // Then it stays closed below the minimum volume
        assert_eq!(b.state(), Closed);
        // When a success makes 4 calls at 50%, a success never opens it
        assert_eq!(b.record_success(300, false), None);
        // Then the next failure (5 calls, 60%) opens it
        assert_eq!(b.record_failure(400, false, None), t(Closed, Open, 400));
    }

    #[test]
    fn error_rate_forgets_aged_out_calls() {
        // Given a breaker that would never open by streak, and four successes at 0
        let rate_only = BreakerConfig { failure_threshold: 1_000, ..config() };
        let mut b = Breaker::new(rate_only.clone(), Recovery::Timer);
        for _ in 0..4 {
            b.record_success(0, false);
        }
        // When, 15 s later (out of the 10 s window), half of four calls fail
        b.record_failure(15_000, false, None);
        b.record_success(15_100, false);
        b.record_success(15_200, false);
        // Then the old successes no longer dilute the rate: 50% of 4 opens it
        assert_eq!(b.record_failure(15_300, false, None), t(Closed, Open, 15_300));

        // But the same calls within the window (25% of 8) keep it closed
        let mut b = Breaker::new(rate_only, Recovery::Timer);
        for _ in 0..4 {
            b.record_success(0, false);
        }
        b.record_failure(5_000, false, None);
        b.record_success(5_100, false);
        b.record_success(5_200, false);
        assert_eq!(b.record_failure(5_300, false, None), None);
    }

    #[test]
    fn open_time_grows_on_reopen_and_is_capped() {
        // Given a breaker opened at 0 (1 s)
        let mut b = timer();
        open_at(&mut b, 0);
        assert_eq!(b.open_until(), Some(1_000));
        let mut now = 1_000;
        // When every half-open trial fails, the open time doubles up to the 5 s cap
        for expected in [2_000, 4_000, 5_000, 5_000] {
            assert_eq!(b.admit(now), (Admission::Trial, t(Open, HalfOpen, now)));
            assert_eq!(b.record_failure(now, true, None), t(HalfOpen, Open, now));
            // Then
            assert_eq!(b.open_until(), Some(now + expected));
            now += expected;
        }
        assert_eq!(b.snapshot(now).reopen_count, 4);
    }

    #[test]
    fn closing_ends_the_reopen_streak() {
        // Given a breaker that reopened once (2 s open)
        let mut b = timer();
        open_at(&mut b, 0);
        b.admit(1_000);
        b.record_failure(1_000, true, None);
        assert_eq!(b.open_until(), Some(3_000));
        // When it half-opens and two trials succeed, it closes
        b.admit(3_000);
        b.admit(3_000);
        b.record_success(3_100, true);
        assert_eq!(b.record_success(3_200, true), t(HalfOpen, Closed, 3_200));
        // Then the next open lasts the base 1 s again
        open_at(&mut b, 4_000);
        assert_eq!(b.open_until(), Some(5_000));
    }

    #[test]
    fn retry_after_extends_the_open_time_up_to_the_cap() {
        // Given the failure that opens it carries Retry-After 3 s (> 1 s open)
        let mut b = timer();
        b.record_failure(0, false, None);
        b.record_failure(0, false, None);
        assert_eq!(b.record_failure(0, false, Some(3_000)), t(Closed, Open, 0));
        // Then it stays open 3 s
        assert_eq!(b.open_until(), Some(3_000));
        // When a late failure while open says 500 ms (shorter), nothing changes
        assert_eq!(b.record_failure(100, false, Some(500)), None);
        assert_eq!(b.open_until(), Some(3_000));
        // When one says an hour, it is capped at max_open_ms from now
        assert_eq!(b.record_failure(200, false, Some(3_600_000)), None);
        assert_eq!(b.open_until(), Some(5_200));
        assert_eq!(b.admit(200), (rejected(5_000), None));
    }

    #[test]
    fn late_success_while_open_is_ignored() {
        // Given an open breaker
        let mut b = timer();
        open_at(&mut b, 0);
        // When a call admitted earlier succeeds late
        assert_eq!(b.record_success(10, false), None);
        // Then it stays open
        assert_eq!(b.state(), Open);
        assert_eq!(b.admit(10), (rejected(990), None));
    }

    #[test]
    fn half_open_admits_a_limited_number_of_trials() {
        // Given a probed breaker the probes moved to half-open
        let mut b = Breaker::new(config(), Recovery::Probe);
        open_at(&mut b, 0);
        assert_eq!(b.half_open(1_000), t(Open, HalfOpen, 1_000));
        // When calls ask: two are trials, the third is rejected (both slots taken)
        assert_eq!(b.admit(1_000), (Admission::Trial, None));
        assert_eq!(b.admit(1_001), (Admission::Trial, None));
        assert_eq!(b.admit(1_002), (rejected(HALF_OPEN_FULL_RETRY_MS), None));
        // When one trial is aborted, its slot is free again
        b.record_ignored(true);
        assert_eq!(b.admit(1_003), (Admission::Trial, None));
        assert_eq!(b.admit(1_004), (rejected(HALF_OPEN_FULL_RETRY_MS), None));
    }

    #[test]
    fn without_probes_the_first_trial_goes_alone_until_it_succeeds() {
        // Given a timer breaker whose time is up: its first trial is its probe
        let mut b = timer();
        open_at(&mut b, 0);
        assert_eq!(b.admit(1_000), (Admission::Trial, t(Open, HalfOpen, 1_000)));
        assert_eq!(b.admit(1_001), (rejected(HALF_OPEN_FULL_RETRY_MS), None));
        // When it succeeds, the other trial slots open
        assert_eq!(b.record_success(1_100, true), None);
        assert_eq!(b.admit(1_101), (Admission::Trial, None));
        assert_eq!(b.admit(1_102), (Admission::Trial, None));
        assert_eq!(b.admit(1_103), (rejected(HALF_OPEN_FULL_RETRY_MS), None));
    }

    #[test]
    fn enough_trial_successes_close_it_and_clear_counts() {
        // Given a half-open breaker with two trials out
        let mut b = timer();
        open_at(&mut b, 0);
        b.admit(1_000);
        b.admit(1_000);
        // When a non-trial success arrives, it doesn't count
        assert_eq!(b.record_success(1_050, false), None);
        // When the first trial succeeds, still half-open
        assert_eq!(b.record_success(1_100, true), None);
        assert_eq!(b.state(), HalfOpen);
        // Then the second success closes it
        assert_eq!(b.record_success(1_200, true), t(HalfOpen, Closed, 1_200));
        // And the old failures are forgotten: two failures don't open it
        b.record_failure(1_300, false, None);
        assert_eq!(b.record_failure(1_400, false, None), None);
        assert_eq!(b.admit(1_500), (Admission::Allowed, None));
    }

    #[test]
    fn one_trial_failure_reopens_it() {
        // Given a half-open breaker with one trial success already
        let mut b = timer();
        open_at(&mut b, 0);
        b.admit(1_000);
        b.admit(1_000);
        b.record_success(1_100, true);
        // When a non-trial failure arrives, it is ignored
        assert_eq!(b.record_failure(1_150, false, None), None);
        // When the other trial fails
        assert_eq!(b.record_failure(1_200, true, None), t(HalfOpen, Open, 1_200));
        // Then it is open again for twice as long
        assert_eq!(b.open_until(), Some(3_200));
    }

    #[test]
    fn probe_recovery_does_not_move_by_time() {
        // Given a probe-recovered breaker, opened at 0
        let mut b = Breaker::new(config(), Recovery::Probe);
        open_at(&mut b, 0);
        assert_eq!(b.next_deadline(), None);
        assert_eq!(b.open_until(), Some(1_000));
        // When its open time is long past
        assert_eq!(b.admit(500), (rejected(500), None));
        assert_eq!(b.admit(60_000), (rejected(0), None));
        // Then it is still open, until probes succeed
        assert_eq!(b.state(), Open);
        assert_eq!(b.half_open(60_000), t(Open, HalfOpen, 60_000));
        assert_eq!(b.admit(60_001), (Admission::Trial, None));
        // And half_open does nothing outside Open
        assert_eq!(b.half_open(60_002), None);
    }

    #[test]
    fn timer_recovery_has_a_deadline() {
        let mut b = timer();
        assert_eq!(b.next_deadline(), None);
        open_at(&mut b, 100);
        assert_eq!(b.next_deadline(), Some(1_100));
        assert_eq!(b.admit(1_099), (rejected(1), None));
        assert_eq!(b.admit(1_100), (Admission::Trial, t(Open, HalfOpen, 1_100)));
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn isolate_holds_until_reset() {
        // Given an isolated breaker
        let mut b = timer();
        assert_eq!(b.isolate(0), t(Closed, Isolated, 0));
        assert_eq!(b.isolate(1), None);
        // When time passes and results arrive
        assert_eq!(b.record_success(10, false), None);
        assert_eq!(b.record_failure(10, true, Some(5)), None);
        assert_eq!(b.half_open(10), None);
        // Then it rejects with no retry time, forever
        assert_eq!(b.admit(1_000_000), (Admission::Rejected { retry_after_ms: None }, None));
        assert_eq!(b.open_until(), None);
        assert_eq!(b.next_deadline(), None);
        // When reset, it closes
        assert_eq!(b.reset(1_000_001), t(Isolated, Closed, 1_000_001));
        assert_eq!(b.reset(1_000_002), None);
        assert_eq!(b.admit(1_000_003), (Admission::Allowed, None));
    }

    #[test]
    fn reset_clears_counts_and_streak() {
        // Given a breaker that reopened twice
        let mut b = timer();
        open_at(&mut b, 0);
        b.admit(1_000);
        b.record_failure(1_000, true, None);
        b.admit(3_000);
        b.record_failure(3_000, true, None);
        assert_eq!(b.snapshot(3_000).reopen_count, 2);
        // When reset
        assert_eq!(b.reset(3_500), t(Open, Closed, 3_500));
        // Then the streak is gone and the next open is the base 1 s
        assert_eq!(b.snapshot(3_500).reopen_count, 0);
        b.record_failure(3_600, false, None);
        assert_eq!(b.record_failure(3_600, false, None), None);
        assert_eq!(b.record_failure(3_600, false, None), t(Closed, Open, 3_600));
        assert_eq!(b.open_until(), Some(4_600));
    }

    #[test]
    fn snapshot_restore_round_trip() {
        // Given an open breaker (reopened once, 2 s) snapshotted 500 ms into its open time
        let mut b = timer();
        open_at(&mut b, 0);
        b.admit(1_000);
        b.record_failure(1_000, true, None);
        let snap = b.snapshot(1_500);
        assert_eq!(snap, BreakerSnapshot { state: Open, open_remaining_ms: 1_500, reopen_count: 1 });
        // When a fresh breaker restores it on another clock
        let mut fresh = timer();
        assert_eq!(fresh.restore(&snap, 10_000), t(Closed, Open, 10_000));
        // Then it is open for the rest, and the streak continues (next open 4 s)
        assert_eq!(fresh.open_until(), Some(11_500));
        assert_eq!(fresh.snapshot(10_000), snap);
        assert_eq!(fresh.admit(11_500), (Admission::Trial, t(Open, HalfOpen, 11_500)));
        fresh.record_failure(11_500, true, None);
        assert_eq!(fresh.open_until(), Some(15_500));
    }

    #[test]
    fn snapshot_converts_in_camel_case_and_back() {
        let snap = BreakerSnapshot { state: HalfOpen, open_remaining_ms: 5, reopen_count: 2 };
        let json = snap.to_value().to_json();
        assert_eq!(json, r#"{"state":"halfOpen","openRemainingMs":5,"reopenCount":2}"#);
        assert_eq!(BreakerSnapshot::from_value(&snap.to_value()), Some(snap));
        for state in BreakerState::ALL {
            assert_eq!(BreakerState::parse(state.as_str()), Some(state));
        }
        for bad in [
            r#"{"state":"halfopen","openRemainingMs":5,"reopenCount":2}"#,
            r#"{"state":"open","openRemainingMs":-5,"reopenCount":2}"#,
            r#"{"state":"open","openRemainingMs":5,"reopenCount":2.5}"#,
            r#"{"state":"open","openRemainingMs":5,"reopenCount":4294967296}"#,
            r#"{"state":"open","openRemainingMs":5}"#,
            r#"{"state":"open","openRemainingMs":5,"reopenCount":2,"extra":0}"#,
            r#"{"state":"open","openRemainingMs":"5","reopenCount":2}"#,
            r#"["open",5,2]"#,
        ] {
            assert_eq!(BreakerSnapshot::from_value(&crate::engine::value::from_json_text(bad)), None, "{bad}");
        }
    }

    #[test]
    fn restoring_the_same_state_is_no_transition() {
        let mut b = timer();
        open_at(&mut b, 1_000);
        let snap = b.snapshot(1_500);
        assert_eq!(b.restore(&snap, 1_500), None);
        assert_eq!(b.state(), Open);
        // A half-open breaker told "half-open" stays half-open, its trials running.
        assert_eq!(b.admit(100_000).1, t(Open, HalfOpen, 100_000));
        let half = b.snapshot(100_000);
        assert_eq!(b.restore(&half, 100_001), None);
        assert_eq!(b.state(), HalfOpen);
        // (Its first trial, out since 100 000, goes alone: a timer breaker's probe.)
        assert_eq!(b.admit(100_002).0, rejected(HALF_OPEN_FULL_RETRY_MS));
        // A closed one told "closed" stays closed.
        let mut c = timer();
        assert_eq!(c.restore(&c.snapshot(0), 0), None);
    }

    #[test]
    fn restore_half_open_comes_back_open_with_no_time_left() {
        // Given a snapshot taken while half-open
        let snap = BreakerSnapshot { state: HalfOpen, open_remaining_ms: 0, reopen_count: 1 };
        // When restored
        let mut b = timer();
        assert_eq!(b.restore(&snap, 500), t(Closed, Open, 500));
        // Then it is open, and the next call goes half-open as a trial
        assert_eq!(b.open_until(), Some(500));
        assert_eq!(b.admit(500), (Admission::Trial, t(Open, HalfOpen, 500)));
    }

    #[test]
    fn restore_caps_and_sanitises() {
        let mut b = timer();
        // An open snapshot longer than max_open_ms is capped
        let snap = BreakerSnapshot { state: Open, open_remaining_ms: u64::MAX, reopen_count: u32::MAX };
        assert_eq!(b.restore(&snap, 100), t(Closed, Open, 100));
        assert_eq!(b.open_until(), Some(5_100));
        assert_eq!(b.snapshot(100).reopen_count, MAX_REOPEN_COUNT);
        // An isolated snapshot stays isolated
        let iso = BreakerSnapshot { state: Isolated, open_remaining_ms: 0, reopen_count: 0 };
        assert_eq!(b.restore(&iso, 200), t(Open, Isolated, 200));
        assert_eq!(b.restore(&iso, 300), None);
        // A closed snapshot closes, with no reopen streak
        let closed = BreakerSnapshot { state: Closed, open_remaining_ms: 99, reopen_count: 7 };
        assert_eq!(b.restore(&closed, 400), t(Isolated, Closed, 400));
        assert_eq!(b.snapshot(400), BreakerSnapshot { state: Closed, open_remaining_ms: 0, reopen_count: 0 });
    }

    #[test]
    fn time_going_back_while_open_never_waits_longer_than_the_cap() {
        // Given a breaker opened at a huge time
        let mut b = timer();
        open_at(&mut b, 1_000_000_000);
        // When the clock restarts near zero
        let (admission, transition) = b.admit(0);
        // Then it waits at most max_open_ms, and recovers after that
        assert_eq!((admission, transition), (rejected(5_000), None));
        assert_eq!(b.admit(5_000), (Admission::Trial, t(Open, HalfOpen, 5_000)));
    }

    #[test]
    fn trial_results_never_underflow_the_slots() {
        // Given a half-open breaker with no trials out
        let mut b = Breaker::new(config(), Recovery::Probe);
        open_at(&mut b, 0);
        b.half_open(10);
        // When stray trial reports arrive
        b.record_ignored(true);
        b.record_ignored(true);
        // Then exactly half_open_max_trials may still go
        assert_eq!(b.admit(20), (Admission::Trial, None));
        assert_eq!(b.admit(20), (Admission::Trial, None));
        assert_eq!(b.admit(20), (rejected(HALF_OPEN_FULL_RETRY_MS), None));
    }

    /// The whole life of a breaker, step by step.
    #[test]
    fn a_breaker_opens_recovers_relapses_and_heals() {
        let mut b = timer();

        // Closed: the server answers; calls go.
        assert_eq!(b.admit(0), (Admission::Allowed, None));
        assert_eq!(b.record_success(100, false), None);

        // The server goes down: three failures in a row open the breaker for 1 s.
        assert_eq!(b.record_failure(1_000, false, None), None);
        assert_eq!(b.record_failure(1_100, false, None), None);
        assert_eq!(b.record_failure(1_200, false, None), t(Closed, Open, 1_200));

        // Open: calls fail fast, told when to come back.
        assert_eq!(b.admit(1_700), (rejected(500), None));

        // The open time is up: the next call goes half-open as the first trial.
        assert_eq!(b.admit(2_200), (Admission::Trial, t(Open, HalfOpen, 2_200)));

        // The server is still down: the trial fails; open again, for twice as long.
        assert_eq!(b.record_failure(2_300, true, None), t(HalfOpen, Open, 2_300));
        assert_eq!(b.open_until(), Some(4_300));
        assert_eq!(b.admit(4_000), (rejected(300), None));

        // Time is up again: half-open; its first trial goes alone (it is the probe).
        assert_eq!(b.admit(4_300), (Admission::Trial, t(Open, HalfOpen, 4_300)));
        assert_eq!(b.admit(4_310), (rejected(HALF_OPEN_FULL_RETRY_MS), None));

        // The server is back: the trial succeeds, the next call is the second trial,
        // and the breaker closes.
        assert_eq!(b.record_success(4_400, true), None);
        assert_eq!(b.admit(4_420), (Admission::Trial, None));
        assert_eq!(b.record_success(4_450, true), t(HalfOpen, Closed, 4_450));

        // Closed and healed: calls go, and the reopen streak is forgotten.
        assert_eq!(b.admit(4_500), (Admission::Allowed, None));
        assert_eq!(b.snapshot(4_500), BreakerSnapshot { state: Closed, open_remaining_ms: 0, reopen_count: 0 });
    }

    // ----- properties -----

    #[derive(Debug, Clone)]
    enum Op {
        Admit,
        Success(bool),
        Failure(bool, Option<Millis>),
        Ignored(bool),
        HalfOpen,
        Reset,
        Isolate,
        Restore(BreakerState, Millis, u32),
    }

    fn any_state() -> impl Strategy<Value = BreakerState> {
        prop::sample::select(BreakerState::ALL.to_vec())
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::Admit),
            4 => any::<bool>().prop_map(Op::Success),
            6 => (any::<bool>(), prop::option::of(prop_oneof![0u64..20_000, any::<u64>()]))
                .prop_map(|(trial, ra)| Op::Failure(trial, ra)),
            1 => any::<bool>().prop_map(Op::Ignored),
            1 => Just(Op::HalfOpen),
            1 => Just(Op::Reset),
            1 => Just(Op::Isolate),
            1 => (any_state(), prop_oneof![0u64..20_000, any::<u64>()], any::<u32>())
                .prop_map(|(s, ms, n)| Op::Restore(s, ms, n)),
        ]
    }

    /// Configs that pass `BreakerConfig::validate`.
    fn valid_config() -> impl Strategy<Value = BreakerConfig> {
        (
            1u32..=10,
            0.01f64..=1.0,
            1u32..=20,
            1u32..=120,
            100u64..=5_000,
            100u64..=10_000,
            1.0f64..=10.0,
            0u64..=50_000,
            1u32..=5,
            1u32..=5,
        )
            .prop_map(|(ft, rate, min, wb, bms, open, factor, extra, trials, succ)| BreakerConfig {
                failure_threshold: ft,
                error_rate_threshold: rate,
                minimum_requests: min,
                window_buckets: wb,
                bucket_ms: bms,
                open_ms: open,
                open_backoff_factor: factor,
                max_open_ms: open + extra,
                half_open_max_trials: trials,
                success_threshold: succ,
                slow_calls_are_failures: false,
            })
    }

    fn recovery() -> impl Strategy<Value = Recovery> {
        prop_oneof![Just(Recovery::Timer), Just(Recovery::Probe)]
    }

    /// Runs one op; returns the admission if it was an admit.
    fn apply(b: &mut Breaker, op: &Op, now: Millis, trial: bool) -> (Option<Admission>, Option<Transition>) {
        match *op {
            Op::Admit => {
                let (a, tr) = b.admit(now);
                (Some(a), tr)
            }
            Op::Success(_) => (None, b.record_success(now, trial)),
            Op::Failure(_, ra) => (None, b.record_failure(now, trial, ra)),
            Op::Ignored(_) => {
                b.record_ignored(trial);
                (None, None)
            }
            Op::HalfOpen => (None, b.half_open(now)),
            Op::Reset => (None, b.reset(now)),
            Op::Isolate => (None, b.isolate(now)),
            Op::Restore(state, open_remaining_ms, reopen_count) => {
                let snap = BreakerSnapshot { state, open_remaining_ms, reopen_count };
                (None, b.restore(&snap, now))
            }
        }
    }

    fn wants_trial(op: &Op) -> bool {
        matches!(*op, Op::Success(true) | Op::Failure(true, _) | Op::Ignored(true))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// (a) Any sequence, any times (back and forth, huge), any config: no panic,
        /// and a transition always names a real change into the current state.
        #[test]
        fn never_panics(
            cfg in valid_config(),
            wild in any::<bool>(),
            rec in recovery(),
            ops in prop::collection::vec((op(), any::<u64>()), 0..200),
        ) {
            let cfg = if wild {
                BreakerConfig {
                    failure_threshold: 0,
                    error_rate_threshold: f64::NAN,
                    minimum_requests: 0,
                    window_buckets: 0,
                    bucket_ms: 0,
                    open_backoff_factor: f64::INFINITY,
                    max_open_ms: u64::MAX,
                    half_open_max_trials: 0,
                    success_threshold: 0,
                    ..cfg
                }
            } else {
                cfg
            };
            let mut b = Breaker::new(cfg, rec);
            for (op, now) in &ops {
                let (_, tr) = apply(&mut b, op, *now, wants_trial(op));
                if let Some(tr) = tr {
                    prop_assert_ne!(tr.from, tr.to);
                    prop_assert_eq!(tr.to, b.state());
                    prop_assert_eq!(tr.at, *now);
                }
                let _ = b.snapshot(*now);
                let _ = b.next_deadline();
            }
        }

        /// (b) Trials admitted minus trial results reported never exceed
        /// half_open_max_trials. Results are reported as trials only for trials out.
        #[test]
        fn trials_in_flight_stay_within_the_limit(
            cfg in valid_config(),
            rec in recovery(),
            ops in prop::collection::vec((op(), 0u64..3_000), 0..300),
        ) {
            let max = cfg.half_open_max_trials;
            let mut b = Breaker::new(cfg, rec);
            let (mut now, mut out) = (0u64, 0u32);
            for (op, dt) in &ops {
                now += dt;
                let trial = wants_trial(op) && out > 0;
                if trial {
                    out -= 1;
                }
                let (admission, _) = apply(&mut b, op, now, trial);
                if admission == Some(Admission::Trial) {
                    out += 1;
                }
                prop_assert!(out <= max, "{} trials out, max {}", out, max);
            }
        }

        /// (c) With time moving forward, nothing is let through while Open before
        /// open_until.
        #[test]
        fn open_lets_nothing_through_before_its_time(
            cfg in valid_config(),
            rec in recovery(),
            ops in prop::collection::vec((op(), 0u64..3_000), 0..300),
        ) {
            let mut b = Breaker::new(cfg, rec);
            let mut now = 0u64;
            for (op, dt) in &ops {
                now += dt;
                let was_open_early = b.state() == Open && b.open_until().is_some_and(|u| now < u);
                let (admission, _) = apply(&mut b, op, now, wants_trial(op));
                if was_open_early {
                    if let Some(a) = admission {
                        prop_assert!(matches!(a, Admission::Rejected { retry_after_ms: Some(_) }), "{:?}", a);
                    }
                }
            }
        }

        /// (d) Without Retry-After, each opening lasts between open_ms and max_open_ms.
        #[test]
        fn open_time_stays_between_open_ms_and_the_cap(
            cfg in valid_config(),
            rec in recovery(),
            ops in prop::collection::vec((op(), 0u64..3_000), 0..300),
        ) {
            let (lo, hi) = (cfg.open_ms, cfg.max_open_ms);
            let mut b = Breaker::new(cfg, rec);
            let mut now = 0u64;
            for (op, dt) in &ops {
                now += dt;
                let op = match op {
                    Op::Failure(trial, _) => Op::Failure(*trial, None),
                    other => other.clone(),
                };
                let (_, tr) = apply(&mut b, &op, now, wants_trial(&op));
                if let (Some(tr), Op::Failure(..)) = (tr, &op) {
                    if tr.to == Open {
                        let d = b.open_until().map(|u| u - now);
                        prop_assert!(d.is_some_and(|d| (lo..=hi).contains(&d)), "{:?} not in {}..={}", d, lo, hi);
                    }
                }
            }
        }
    }
}
