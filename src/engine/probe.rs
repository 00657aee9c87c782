//! The health-probe schedule while a breaker is open: when the next probe is due,
//! one probe in flight at a time, a steady pace for the first minutes of an
//! outage (most are short, and the video waits for the probe that finds the
//! server back), then backoff to the cap for a long one, jitter that only ever
//! delays (so `initialDelayMs` is the least spacing), and the success streak that
//! ends the open state.
//! Probes pause while the client is offline, the tab hidden or another tab is the
//! prober. A trigger (back online, tab visible, this tab the prober again) makes
//! one due as soon as `initialDelayMs` has passed since the last probe of this
//! origin (this tab's or the prober's); the user's "retry" makes one due at once.

use super::backoff::BackoffPolicy;
use super::config::ProbeConfig;
use super::rng::Rng;
use super::Millis;

/// Why a probe should go now rather than at its scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTrigger {
    /// The browser is back online (also marks the schedule online).
    Online,
    /// The tab became visible (also marks the schedule visible).
    Visible,
    /// This tab became the one that probes (also marks the schedule as prober).
    Prober,
    /// The user asked to retry.
    UserRetry,
}

/// What a probe's result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeProgress {
    /// The probe failed: the streak is reset and the next probe backs off further.
    Failed,
    /// The probe succeeded, `streak` in a row, below the threshold: another follows soon.
    Succeeded {
        /// Consecutive successful probes so far.
        streak: u32,
    },
    /// `successThreshold` successes in a row: the caller moves the breaker to
    /// half-open. The schedule has stopped itself.
    Healthy,
    /// No probe was in flight (stale or duplicate result): nothing changed.
    Ignored,
}

/// The least time between two probes, whatever the config says (validation asks
/// for at least this much too): a probe that fails at once never makes a busy loop.
pub const MIN_PROBE_GAP_MS: Millis = 100;

/// Jitter makes a delay up to `1 / JITTER_STRETCH` longer, never shorter.
const JITTER_STRETCH: Millis = 5;

/// When to probe a service whose breaker is open.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    /// The exponential base of the delays once the hold is over (no jitter of its own).
    policy: BackoffPolicy,
    /// How long after the breaker opened the delay stays at `initial_ms`.
    hold_ms: Millis,
    jitter: bool,
    success_threshold: u32,
    rng: Rng,
    /// Between `start` and `stop` (the breaker is open).
    active: bool,
    /// When the schedule started.
    opened_at: Millis,
    /// Delays grown past the hold so far.
    grown: u32,
    /// When this schedule last sent a probe: triggers other than the user's wait
    /// for the least spacing after it.
    last_sent: Option<Millis>,
    /// When the next probe is due (kept while paused).
    due: Option<Millis>,
    /// No probe before this (the server's `Retry-After`).
    not_before: Millis,
    in_flight: bool,
    streak: u32,
    online: bool,
    visible: bool,
    /// This tab is the one that probes.
    prober: bool,
}

impl ProbeSchedule {
    /// An inactive schedule for a client that is online, visible and the prober.
    pub fn new(config: &ProbeConfig) -> Self {
        Self {
            policy: BackoffPolicy::for_probe(config),
            hold_ms: config.hold_ms,
            jitter: config.jitter,
            success_threshold: config.success_threshold,
            rng: Rng::new(0),
            active: false,
            opened_at: 0,
            grown: 0,
            last_sent: None,
            due: None,
            not_before: 0,
            in_flight: false,
            streak: 0,
            online: true,
            visible: true,
            prober: true,
        }
    }

    /// The breaker opened: the first probe is due after the first backoff delay, and
    /// not before `not_before` (a `Retry-After`). Restarts a running schedule.
    pub fn start(&mut self, now: Millis, rng: Rng, not_before: Option<Millis>) {
        self.rng = rng;
        self.active = true;
        self.opened_at = now;
        self.grown = 0;
        self.not_before = not_before.unwrap_or(0);
        let delay = self.jittered(self.policy.initial_ms);
        self.due = Some(now.saturating_add(delay).max(self.not_before));
        self.in_flight = false;
        self.streak = 0;
    }

    /// The breaker left the open state: no more probes.
    pub fn stop(&mut self) {
        self.active = false;
        self.due = None;
        self.not_before = 0;
        self.in_flight = false;
        self.streak = 0;
    }

    /// Whether probes are scheduled (between `start` and `stop`).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Whether a probe was sent and its result not yet recorded.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// When the next probe is due; `None` when inactive, in flight, offline, hidden or
    /// not the prober.
    pub fn next_due(&self) -> Option<Millis> {
        if self.is_active() && !self.in_flight && self.online && self.visible && self.prober {
            self.due
        } else {
            None
        }
    }

    /// `true` means: send one probe now (it is marked in flight until `record`).
    pub fn poll(&mut self, now: Millis) -> bool {
        match self.next_due() {
            Some(due) if now >= due => {
                self.in_flight = true;
                self.due = None;
                self.last_sent = Some(now);
                true
            }
            _ => false,
        }
    }

    /// The in-flight probe's result.
    pub fn record(&mut self, now: Millis, success: bool) -> ProbeProgress {
        if !self.is_active() || !self.in_flight {
            return ProbeProgress::Ignored;
        }
        self.in_flight = false;
        if success {
            self.streak = self.streak.saturating_add(1);
            if self.streak >= self.success_threshold {
                self.stop();
                return ProbeProgress::Healthy;
            }
            self.schedule(now, self.policy.initial_ms);
            ProbeProgress::Succeeded { streak: self.streak }
        } else {
            self.streak = 0;
            let delay = self.delay(now);
            self.schedule(now, delay);
            ProbeProgress::Failed
        }
    }

    /// Makes a probe due now (still not before a `Retry-After`). `Online`, `Visible`
    /// and `Prober` also set those flags, and wait for `initialDelayMs` after the
    /// last probe (this schedule's, or the prober tab's: [`ProbeSchedule::note_sent`];
    /// a tab shown and hidden again and again is no reason to probe more often);
    /// the user's retry does not wait. No probe is made due
    /// while inactive or in flight.
    pub fn trigger(&mut self, now: Millis, trigger: ProbeTrigger) {
        match trigger {
            ProbeTrigger::Online => self.online = true,
            ProbeTrigger::Visible => self.visible = true,
            ProbeTrigger::Prober => self.prober = true,
            ProbeTrigger::UserRetry => {}
        }
        if self.is_active() && !self.in_flight {
            let mut due = now.max(self.not_before);
            if trigger != ProbeTrigger::UserRetry {
                let spacing = self.last_sent.map_or(0, |at| at.saturating_add(self.policy.initial_ms));
                due = due.max(spacing);
            }
            self.due = Some(due);
        }
    }

    /// The browser's online state; no probe is due while offline.
    pub fn set_online(&mut self, online: bool) {
        self.online = online;
    }

    /// The tab's visibility; no probe is due while hidden.
    pub fn set_visible(&mut self, visible: bool) {
        self.visible = visible;
    }

    /// Whether this tab probes; no probe is due while another tab does.
    pub fn set_prober(&mut self, prober: bool) {
        self.prober = prober;
    }

    /// When the next probe is due, whatever the client's state (`None` while
    /// inactive or in flight).
    pub fn due_at(&self) -> Option<Millis> {
        self.due.filter(|_| self.active && !self.in_flight)
    }

    /// For a service without a probe URL, its half-open trial is the probe: one
    /// went out (the breaker went half-open).
    pub fn trial_sent(&mut self, now: Millis) {
        if self.active {
            self.in_flight = true;
            self.due = None;
            self.last_sent = Some(now);
        }
    }

    /// That trial failed: the next waits as the next probe would (the hold,
    /// then backoff). Returns when it is due; `None` while inactive.
    pub fn trial_failed(&mut self, now: Millis) -> Option<Millis> {
        if !self.active {
            return None;
        }
        self.in_flight = true;
        let _ = self.record(now, false);
        self.due_at()
    }

    /// Another tab (the prober) sent a probe at `now`: if this tab takes over, its
    /// first probe keeps the least spacing from that one (one per origin).
    pub fn note_sent(&mut self, now: Millis) {
        if self.is_active() {
            self.last_sent = Some(self.last_sent.map_or(now, |at| at.max(now)));
        }
    }

    /// The delay after a failed probe: `initialDelayMs` during the hold, then
    /// growing by `factor` to `maxDelayMs`.
    fn delay(&mut self, now: Millis) -> Millis {
        if now.saturating_sub(self.opened_at) < self.hold_ms {
            return self.jittered(self.policy.initial_ms);
        }
        self.grown = self.grown.saturating_add(1);
        self.jittered(self.policy.base(self.grown))
    }

    /// `base`, stretched by up to a fifth when jitter is on.
    fn jittered(&mut self, base: Millis) -> Millis {
        let stretch = if self.jitter { self.rng.between(0, base / JITTER_STRETCH) } else { 0 };
        base.saturating_add(stretch)
    }

    /// The next probe `delay` after the last one was sent (start to start, so a
    /// slow answer does not stretch the spacing), and not before `now` plus the
    /// least gap.
    fn schedule(&mut self, now: Millis, delay: Millis) {
        let from = self.last_sent.filter(|&sent| sent <= now).unwrap_or(now);
        let due = from.saturating_add(delay).max(now.saturating_add(MIN_PROBE_GAP_MS));
        self.due = Some(due.max(self.not_before));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::Rng;
    use proptest::prelude::*;

    fn schedule() -> ProbeSchedule {
        ProbeSchedule::new(&ProbeConfig::default())
    }

    /// Exact gaps for the mechanics: 5 s, doubling from the first failure (no
    /// hold), no jitter, two successes to be healthy.
    fn exact_config() -> ProbeConfig {
        ProbeConfig {
            initial_delay_ms: 5_000,
            hold_ms: 0,
            jitter: false,
            success_threshold: 2,
            ..ProbeConfig::default()
        }
    }

    fn exact() -> ProbeSchedule {
        ProbeSchedule::new(&exact_config())
    }

    /// Runs the probe due next: polls at its due time and records `success`.
    fn probe_at_due(s: &mut ProbeSchedule, success: bool) -> (Millis, ProbeProgress) {
        let due = s.next_due().unwrap();
        if due > 0 {
            assert!(!s.poll(due - 1), "not due before {due}");
        }
        assert!(s.poll(due));
        (due, s.record(due, success))
    }

    #[test]
    fn a_new_schedule_is_inactive_and_never_due() {
        let mut s = schedule();
        assert!(!s.is_active());
        assert_eq!(s.next_due(), None);
        assert!(!s.poll(u64::MAX));
        s.trigger(0, ProbeTrigger::UserRetry);
        assert!(!s.poll(u64::MAX));
    }

    #[test]
    fn failed_probes_go_every_15_to_18_s_for_5_minutes_then_back_off_to_one_a_minute_at_most() {
        // Given a breaker opened at t = 0 with the defaults (15 s, held 5 minutes,
        // then ×2 to 60 s; jitter up to a fifth longer, never shorter)
        let mut s = schedule();
        s.start(0, Rng::new(2024), None);
        // When every probe fails for 30 minutes
        let mut last = 0;
        let mut sent = Vec::new();
        while s.next_due().unwrap() < 30 * 60_000 {
            let (at, progress) = probe_at_due(&mut s, false);
            assert_eq!(progress, ProbeProgress::Failed);
            sent.push((at, at - last));
            last = at;
        }
        // Then no two probes are closer than 15 s, the first 5 minutes keep
        // 15-18 s, and from the 8th minute on they are a minute apart or more
        for &(at, gap) in &sent {
            assert!(gap >= 15_000, "a gap of {gap} ms at {at}");
            if at <= 300_000 {
                assert!(gap <= 18_000, "a gap of {gap} ms at {at} in the hold");
            }
            if at >= 8 * 60_000 {
                assert!((60_000..=72_000).contains(&gap), "a gap of {gap} ms at {at}");
            }
        }
        let in_hold = sent.iter().filter(|(at, _)| *at <= 300_000).count();
        assert!((17..=20).contains(&in_hold), "{in_hold} probes in the first 5 minutes");
        assert!(sent.len() <= 45, "{} probes in 30 minutes", sent.len());
        // And the seed fixes the sequence
        let first: Vec<_> = sent.iter().take(3).map(|(_, gap)| *gap).collect();
        assert_eq!(first, FIRST_GAPS_SEED_2024);
    }

    const FIRST_GAPS_SEED_2024: [Millis; 3] = [17_326, 15_413, 15_984];

    #[test]
    fn one_good_probe_is_enough_by_default() {
        // Given an open breaker with the defaults, when its first probe succeeds,
        // then the service is healthy (the breaker's trials confirm it)
        let mut s = schedule();
        s.start(0, Rng::new(1), None);
        let (at, progress) = probe_at_due(&mut s, true);
        assert!((15_000..=18_000).contains(&at));
        assert_eq!(progress, ProbeProgress::Healthy);
        assert!(!s.is_active());
    }

    #[test]
    fn triggers_other_than_the_users_wait_for_the_least_spacing() {
        // Given a probe sent at 15 s that failed, in a tab then hidden
        let mut s = ProbeSchedule::new(&ProbeConfig { jitter: false, ..ProbeConfig::default() });
        s.start(0, Rng::new(1), None);
        assert!(s.poll(15_000));
        assert_eq!(s.record(15_100, false), ProbeProgress::Failed);
        s.set_visible(false);
        // When it is shown 5 s later, then the probe waits for 15 s after the last one
        s.trigger(20_000, ProbeTrigger::Visible);
        assert_eq!(s.next_due(), Some(30_000));
        // But the user's retry goes at once
        s.trigger(21_000, ProbeTrigger::UserRetry);
        assert_eq!(s.next_due(), Some(21_000));
    }

    #[test]
    fn two_successes_in_a_row_are_healthy_about_5_s_apart() {
        // Given an open breaker whose first probe succeeds
        let mut s = exact();
        s.start(0, Rng::new(1), None);
        let (at, progress) = probe_at_due(&mut s, true);
        assert_eq!(progress, ProbeProgress::Succeeded { streak: 1 });
        // Then the next probe is due initial_delay_ms later, not after a long backoff
        assert_eq!(s.next_due(), Some(at + 5_000));
        // When it succeeds too, then the service is healthy and the schedule stops
        let (_, progress) = probe_at_due(&mut s, true);
        assert_eq!(progress, ProbeProgress::Healthy);
        assert!(!s.is_active());
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn a_failure_resets_the_streak_and_a_success_keeps_the_backoff_position() {
        // Given no jitter, so gaps are exact
        let mut s = ProbeSchedule::new(&ProbeConfig { success_threshold: 3, ..exact_config() });
        s.start(0, Rng::new(1), None);
        assert_eq!(probe_at_due(&mut s, false), (5_000, ProbeProgress::Failed)); // next in 10 s
        assert_eq!(probe_at_due(&mut s, true), (15_000, ProbeProgress::Succeeded { streak: 1 }));
        assert_eq!(probe_at_due(&mut s, true), (20_000, ProbeProgress::Succeeded { streak: 2 }));
        // When one fails, then the next gap is the next backoff step (20 s), not 5 s again
        assert_eq!(probe_at_due(&mut s, false), (25_000, ProbeProgress::Failed));
        assert_eq!(probe_at_due(&mut s, true), (45_000, ProbeProgress::Succeeded { streak: 1 }));
    }

    #[test]
    fn offline_and_hidden_pause_probes_and_keep_the_due_time() {
        // Given a probe due at 5 s
        let mut s = exact();
        s.start(0, Rng::new(1), None);
        // When the client goes offline, then nothing is due
        s.set_online(false);
        assert_eq!(s.next_due(), None);
        assert!(!s.poll(100_000));
        // When it comes back online by itself, then the kept due time applies
        s.set_online(true);
        assert_eq!(s.next_due(), Some(5_000));
        // When the tab is hidden, then nothing is due either
        s.set_visible(false);
        assert!(!s.poll(100_000));
        s.set_visible(true);
        assert!(s.poll(100_000));
    }

    #[test]
    fn triggers_make_a_probe_due_at_once() {
        // Given an open breaker whose next probe is 5 s away, and a hidden, offline tab
        let mut s = exact();
        s.start(1_000, Rng::new(1), None);
        s.set_online(false);
        s.set_visible(false);
        // When the browser is back online, it is online but still hidden
        s.trigger(2_000, ProbeTrigger::Online);
        assert_eq!(s.next_due(), None);
        // When the tab becomes visible, a probe is due right now
        s.trigger(2_500, ProbeTrigger::Visible);
        assert_eq!(s.next_due(), Some(2_500));
        assert!(s.poll(2_500));
        // And a user retry while it is in flight changes nothing
        s.trigger(2_600, ProbeTrigger::UserRetry);
        assert!(!s.poll(2_600));
        assert_eq!(s.record(2_700, false), ProbeProgress::Failed);
        // The next is 10 s after it was sent (start to start), not after its answer
        assert_eq!(s.next_due(), Some(12_500));
        // But after the result, a user retry makes one due at once
        s.trigger(3_000, ProbeTrigger::UserRetry);
        assert!(s.poll(3_000));
    }

    #[test]
    fn a_tab_that_is_not_the_prober_never_probes_until_it_is() {
        // Given a probe due at 5 s in a tab that another tab probes for
        let mut s = exact();
        s.start(0, Rng::new(1), None);
        s.set_prober(false);
        // Then nothing is ever due, however long it waits, and triggers that are
        // not about probing change nothing
        assert_eq!(s.next_due(), None);
        assert!(!s.poll(1_000_000));
        s.trigger(1_000_000, ProbeTrigger::UserRetry);
        s.trigger(1_000_000, ProbeTrigger::Visible);
        s.trigger(1_000_000, ProbeTrigger::Online);
        assert!(!s.poll(2_000_000));
        // When it becomes the prober before the probe's time, a probe is due at once
        let mut early = exact();
        early.start(0, Rng::new(1), None);
        early.set_prober(false);
        early.trigger(1_000, ProbeTrigger::Prober);
        assert_eq!(early.next_due(), Some(1_000));
        // And so when the probe was long overdue
        s.trigger(2_000_000, ProbeTrigger::Prober);
        assert_eq!(s.next_due(), Some(2_000_000));
        assert!(s.poll(2_000_000));
        // And it goes on backing off as before
        assert_eq!(s.record(2_000_000, false), ProbeProgress::Failed);
        assert_eq!(s.next_due(), Some(2_010_000));
    }

    #[test]
    fn a_retry_after_holds_back_the_first_probe_and_triggers() {
        // Given the server asked for no probe before t = 30 s
        let mut s = exact();
        s.start(0, Rng::new(1), Some(30_000));
        assert_eq!(s.next_due(), Some(30_000));
        // When the user asks to retry at 10 s, then it still waits for 30 s
        s.trigger(10_000, ProbeTrigger::UserRetry);
        assert!(!s.poll(29_999));
        assert!(s.poll(30_000));
        // And a not_before already past does not delay anything
        s.start(50_000, Rng::new(1), Some(1_000));
        assert_eq!(s.next_due(), Some(55_000));
    }

    #[test]
    fn a_result_with_nothing_in_flight_is_ignored() {
        // Given an inactive schedule, then any result is stale
        let mut s = schedule();
        assert_eq!(s.record(0, true), ProbeProgress::Ignored);
        // Given an active schedule with no probe sent, then too
        s.start(0, Rng::new(1), None);
        let due = s.next_due();
        assert_eq!(s.record(1, true), ProbeProgress::Ignored);
        assert_eq!(s.next_due(), due);
        // And a second result for the same probe is ignored
        assert!(s.poll(u64::MAX));
        assert_eq!(s.record(u64::MAX, false), ProbeProgress::Failed);
        assert_eq!(s.record(u64::MAX, true), ProbeProgress::Ignored);
        // And stopping while a probe is in flight makes its result stale
        s.trigger(u64::MAX, ProbeTrigger::UserRetry);
        assert!(s.poll(u64::MAX));
        s.stop();
        assert_eq!(s.record(u64::MAX, true), ProbeProgress::Ignored);
        assert!(!s.in_flight());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Start(u64, Option<Millis>),
        Stop,
        Poll,
        Record(bool),
        Trigger(ProbeTrigger),
        Online(bool),
        Visible(bool),
        Prober(bool),
        Wait(Millis),
        TimeBack(Millis),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (any::<u64>(), prop::option::of(0u64..200_000)).prop_map(|(seed, nb)| Op::Start(seed, nb)),
            1 => Just(Op::Stop),
            6 => Just(Op::Poll),
            3 => any::<bool>().prop_map(Op::Record),
            2 => prop_oneof![
                Just(ProbeTrigger::Online),
                Just(ProbeTrigger::Visible),
                Just(ProbeTrigger::Prober),
                Just(ProbeTrigger::UserRetry),
            ]
            .prop_map(Op::Trigger),
            1 => any::<bool>().prop_map(Op::Online),
            1 => any::<bool>().prop_map(Op::Visible),
            1 => any::<bool>().prop_map(Op::Prober),
            4 => (0u64..70_000).prop_map(Op::Wait),
            1 => (0u64..70_000).prop_map(Op::TimeBack),
        ]
    }

    proptest! {
        #[test]
        fn poll_never_sends_two_probes_without_a_result_nor_while_paused(
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let mut s = schedule();
            let (mut now, mut online, mut visible, mut prober, mut awaiting) = (0u64, true, true, true, false);
            for op in ops {
                match op {
                    Op::Start(seed, nb) => { s.start(now, Rng::new(seed), nb.map(|n| now + n)); awaiting = false; }
                    Op::Stop => { s.stop(); awaiting = false; }
                    Op::Poll => {
                        let active = s.is_active();
                        if s.poll(now) {
                            prop_assert!(!awaiting, "two probes without a result");
                            prop_assert!(online && visible && prober && active, "probe while paused or inactive");
                            awaiting = true;
                        }
                    }
                    Op::Record(ok) => {
                        let p = s.record(now, ok);
                        prop_assert_eq!(p == ProbeProgress::Ignored, !awaiting);
                        awaiting = false;
                    }
                    Op::Trigger(t) => {
                        s.trigger(now, t);
                        online |= t == ProbeTrigger::Online;
                        visible |= t == ProbeTrigger::Visible;
                        prober |= t == ProbeTrigger::Prober;
                    }
                    Op::Online(o) => { s.set_online(o); online = o; }
                    Op::Visible(v) => { s.set_visible(v); visible = v; }
                    Op::Prober(p) => { s.set_prober(p); prober = p; }
                    Op::Wait(d) => now += d,
                    Op::TimeBack(d) => now = now.saturating_sub(d),
                }
                prop_assert_eq!(s.in_flight(), awaiting);
                if s.next_due().is_some() {
                    prop_assert!(online && visible && prober && s.is_active() && !awaiting);
                }
            }
        }
    }
}
