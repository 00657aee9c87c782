//! Constant-memory metrics: per service and request class, counters and a latency
//! histogram with fixed buckets; per service, the breaker state and the time spent in
//! each state.
//!
//! Everything is sized once in [`Metrics::new`] (one row per service ×
//! [`RequestClass::ALL`]); recording never allocates. Counters saturate. An
//! out-of-range service index is ignored. Latency is recorded for results that say
//! something about the server (`Healthy` and `Unhealthy` verdicts), not for aborts or
//! offline failures. A snapshot lists every class of every service, in
//! [`RequestClass::ALL`] order, active or not, so its size never depends on traffic.

use super::breaker::BreakerState;
use super::classify::Verdict;
use super::config::RequestClass;
use super::value::{numbers, push_numbers, Value};
use super::Millis;

/// Upper bounds (inclusive, ms) of the latency buckets; one more bucket holds the rest.
pub const LATENCY_BUCKETS_MS: [Millis; 10] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];

/// Number of histogram counts: one per bound plus the overflow bucket.
pub const LATENCY_COUNTS: usize = LATENCY_BUCKETS_MS.len() + 1;

const fn class_index(class: RequestClass) -> usize {
    match class {
        RequestClass::Video => 0,
        RequestClass::Transcode => 1,
        RequestClass::Thumbnail => 2,
        RequestClass::Metadata => 3,
        RequestClass::Probe => 4,
    }
}

const fn state_index(state: BreakerState) -> usize {
    match state {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
        BreakerState::Isolated => 3,
    }
}

/// The bucket a latency falls in: the first bound it does not exceed, else overflow.
fn bucket_of(latency_ms: Millis) -> usize {
    LATENCY_BUCKETS_MS.iter().position(|&bound| latency_ms <= bound).unwrap_or(LATENCY_BUCKETS_MS.len())
}

fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

/// A latency histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// The buckets' inclusive upper bounds ([`LATENCY_BUCKETS_MS`]).
    pub buckets_ms: [Millis; 10],
    /// Results per bucket; the last count is everything above the last bound.
    pub counts: [u64; LATENCY_COUNTS],
}

impl LatencyHistogram {
    /// `{"bucketsMs": [...], "counts": [...]}`.
    pub fn to_value(&self) -> Value {
        Value::object([("bucketsMs", numbers(&self.buckets_ms)), ("counts", numbers(&self.counts))])
    }
}

/// One request class of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMetrics {
    /// The class.
    pub class: RequestClass,
    /// First attempts.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Calls failed fast by an open breaker.
    pub rejected: u64,
    /// Results with a `Healthy` verdict.
    pub successes: u64,
    /// Results with an `Unhealthy` verdict.
    pub failures: u64,
    /// Results that say nothing about the server (offline, aborted).
    pub not_counted: u64,
    /// Results that were timeouts.
    pub timeouts: u64,
    /// Latency of `Healthy` and `Unhealthy` results.
    pub latency: LatencyHistogram,
}

impl ClassMetrics {
    /// Every field in camelCase, the class by name.
    pub fn to_value(&self) -> Value {
        let mut fields = vec![("class".to_owned(), self.class.as_str().into())];
        let keys = ["requests", "retries", "rejected", "successes", "failures", "notCounted", "timeouts"];
        let counts = [
            self.requests,
            self.retries,
            self.rejected,
            self.successes,
            self.failures,
            self.not_counted,
            self.timeouts,
        ];
        push_numbers(&mut fields, &keys, &counts);
        fields.push(("latency".to_owned(), self.latency.to_value()));
        Value::Object(fields)
    }

    fn new(class: RequestClass) -> Self {
        Self {
            class,
            requests: 0,
            retries: 0,
            rejected: 0,
            successes: 0,
            failures: 0,
            not_counted: 0,
            timeouts: 0,
            latency: LatencyHistogram { buckets_ms: LATENCY_BUCKETS_MS, counts: [0; LATENCY_COUNTS] },
        }
    }
}

/// Time spent in each breaker state, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeInState {
    /// Closed.
    pub closed: Millis,
    /// Open.
    pub open: Millis,
    /// Half-open.
    pub half_open: Millis,
    /// Isolated.
    pub isolated: Millis,
}

impl TimeInState {
    /// `{"closed", "open", "halfOpen", "isolated"}`.
    pub fn to_value(&self) -> Value {
        let mut fields = Vec::new();
        push_numbers(
            &mut fields,
            &["closed", "open", "halfOpen", "isolated"],
            &[self.closed, self.open, self.half_open, self.isolated],
        );
        Value::Object(fields)
    }
}

/// One service's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceMetrics {
    /// The service's config name.
    pub name: String,
    /// Its breaker's state as last reported.
    pub state: BreakerState,
    /// Failures / (successes + failures) over all classes; 0 with no results.
    pub error_rate: f64,
    /// Time in each state, the current one counted up to the snapshot.
    pub time_in_state_ms: TimeInState,
    /// Every class, in [`RequestClass::ALL`] order.
    pub classes: Vec<ClassMetrics>,
}

impl ServiceMetrics {
    /// Every field in camelCase, the state by name.
    pub fn to_value(&self) -> Value {
        Value::object([
            ("name", self.name.as_str().into()),
            ("state", self.state.as_str().into()),
            ("errorRate", self.error_rate.into()),
            ("timeInStateMs", self.time_in_state_ms.to_value()),
            ("classes", Value::Array(self.classes.iter().map(ClassMetrics::to_value).collect())),
        ])
    }
}

/// A plain-data copy of all metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// One entry per service, in config order.
    pub services: Vec<ServiceMetrics>,
}

impl MetricsSnapshot {
    /// `{"services": [...]}`, every field in camelCase.
    pub fn to_value(&self) -> Value {
        Value::object([("services", Value::Array(self.services.iter().map(ServiceMetrics::to_value).collect()))])
    }
}

#[derive(Debug, Clone)]
struct ServiceRow {
    name: String,
    state: BreakerState,
    /// When the current state began.
    since: Millis,
    /// Time in each state before the current one began, by [`state_index`].
    time_in: [Millis; 4],
    classes: [ClassMetrics; 5],
}

impl ServiceRow {
    fn time_in_state(&self, now: Millis) -> TimeInState {
        let mut t = self.time_in;
        if let Some(current) = t.get_mut(state_index(self.state)) {
            *current = current.saturating_add(now.saturating_sub(self.since));
        }
        let [closed, open, half_open, isolated] = t;
        TimeInState { closed, open, half_open, isolated }
    }

    fn error_rate(&self) -> f64 {
        let (ok, bad) = self
            .classes
            .iter()
            .fold((0u64, 0u64), |(ok, bad), c| (ok.saturating_add(c.successes), bad.saturating_add(c.failures)));
        let total = ok as f64 + bad as f64;
        if total > 0.0 {
            bad as f64 / total
        } else {
            0.0
        }
    }
}

/// All metrics, sized once (see the module docs).
#[derive(Debug, Clone)]
pub struct Metrics {
    services: Vec<ServiceRow>,
}

impl Metrics {
    /// One row per service × request class, every breaker closed since `now`.
    pub fn new(services: &[String], now: Millis) -> Self {
        Self {
            services: services
                .iter()
                .map(|name| ServiceRow {
                    name: name.clone(),
                    state: BreakerState::Closed,
                    since: now,
                    time_in: [0; 4],
                    classes: RequestClass::ALL.map(ClassMetrics::new),
                })
                .collect(),
        }
    }

    fn class(&mut self, service: usize, class: RequestClass) -> Option<&mut ClassMetrics> {
        self.services.get_mut(service)?.classes.get_mut(class_index(class))
    }

    /// Counts a first attempt.
    pub fn on_request(&mut self, service: usize, class: RequestClass) {
        if let Some(c) = self.class(service, class) {
            bump(&mut c.requests);
        }
    }

    /// Counts a retry.
    pub fn on_retry(&mut self, service: usize, class: RequestClass) {
        if let Some(c) = self.class(service, class) {
            bump(&mut c.retries);
        }
    }

    /// Counts a call failed fast by an open breaker.
    pub fn on_rejected(&mut self, service: usize, class: RequestClass) {
        if let Some(c) = self.class(service, class) {
            bump(&mut c.rejected);
        }
    }

    /// Counts an attempt's result; its latency goes in the histogram unless the
    /// verdict is `NotCounted`.
    pub fn on_result(
        &mut self,
        service: usize,
        class: RequestClass,
        verdict: Verdict,
        timed_out: bool,
        latency_ms: Millis,
    ) {
        let Some(c) = self.class(service, class) else {
            return;
        };
        if timed_out {
            bump(&mut c.timeouts);
        }
        match verdict {
            Verdict::Healthy => bump(&mut c.successes),
            Verdict::Unhealthy => bump(&mut c.failures),
            Verdict::NotCounted => {
                bump(&mut c.not_counted);
                return;
            }
        }
        if let Some(count) = c.latency.counts.get_mut(bucket_of(latency_ms)) {
            bump(count);
        }
    }

    /// The breaker of `service` is now in `state`: the time since the last change is
    /// added to the previous state. A clock that went backwards adds nothing.
    pub fn on_state(&mut self, service: usize, state: BreakerState, now: Millis) {
        let Some(row) = self.services.get_mut(service) else {
            return;
        };
        let elapsed = now.saturating_sub(row.since);
        if let Some(t) = row.time_in.get_mut(state_index(row.state)) {
            *t = t.saturating_add(elapsed);
        }
        row.state = state;
        row.since = now;
    }

    /// A service's counters over all classes: requests, successes, failures,
    /// timeouts, retries, rejected (zeros for an unknown service).
    pub fn totals(&self, service: usize) -> [u64; 6] {
        let mut t = [0u64; 6];
        for c in self.services.get(service).map_or(&[][..], |row| &row.classes[..]) {
            let add = [c.requests, c.successes, c.failures, c.timeouts, c.retries, c.rejected];
            for (sum, n) in t.iter_mut().zip(add) {
                *sum = sum.saturating_add(n);
            }
        }
        t
    }

    /// Unhealthy / (healthy + unhealthy) results over all classes; 0.0 with no
    /// results or an unknown service.
    pub fn error_rate(&self, service: usize) -> f64 {
        self.services.get(service).map_or(0.0, ServiceRow::error_rate)
    }

    /// A plain-data copy, with the current states' time counted up to `now`.
    pub fn snapshot(&self, now: Millis) -> MetricsSnapshot {
        MetricsSnapshot {
            services: self
                .services
                .iter()
                .map(|row| ServiceMetrics {
                    name: row.name.clone(),
                    state: row.state,
                    error_rate: row.error_rate(),
                    time_in_state_ms: row.time_in_state(now),
                    classes: row.classes.to_vec(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLEX: usize = 0;
    const API: usize = 1;

    fn metrics(now: Millis) -> Metrics {
        Metrics::new(&["plex".to_owned(), "api".to_owned()], now)
    }

    fn class_of(s: &MetricsSnapshot, service: usize, class: RequestClass) -> ClassMetrics {
        s.services.get(service).unwrap().classes.iter().find(|c| c.class == class).unwrap().clone()
    }

    #[test]
    fn counters_count_per_service_and_class() {
        // Given plex metadata traffic: two requests, one retry, one rejection,
        let mut m = metrics(0);
        m.on_request(PLEX, RequestClass::Metadata);
        m.on_request(PLEX, RequestClass::Metadata);
        m.on_retry(PLEX, RequestClass::Metadata);
        m.on_rejected(PLEX, RequestClass::Metadata);
        // and results: a success, a timeout, an abort,
        m.on_result(PLEX, RequestClass::Metadata, Verdict::Healthy, false, 120);
        m.on_result(PLEX, RequestClass::Metadata, Verdict::Unhealthy, true, 10_000);
        m.on_result(PLEX, RequestClass::Metadata, Verdict::NotCounted, false, 3);
        m.on_request(API, RequestClass::Video);
        // when a snapshot is taken,
        let s = m.snapshot(0);
        // then each counter holds what was recorded,
        let c = class_of(&s, PLEX, RequestClass::Metadata);
        assert_eq!((c.requests, c.retries, c.rejected), (2, 1, 1));
        assert_eq!((c.successes, c.failures, c.not_counted, c.timeouts), (1, 1, 1, 1));
        // the abort's latency is left out of the histogram,
        assert_eq!(c.latency.counts.iter().sum::<u64>(), 2);
        // and other rows are untouched.
        assert_eq!(class_of(&s, PLEX, RequestClass::Video).requests, 0);
        assert_eq!(class_of(&s, API, RequestClass::Video).requests, 1);
        assert_eq!(class_of(&s, API, RequestClass::Metadata).requests, 0);
    }

    #[test]
    fn error_rate_is_over_all_classes_of_one_service() {
        let mut m = metrics(0);
        assert_eq!(m.error_rate(PLEX), 0.0);
        m.on_result(PLEX, RequestClass::Metadata, Verdict::Healthy, false, 10);
        m.on_result(PLEX, RequestClass::Video, Verdict::Unhealthy, false, 10);
        m.on_result(PLEX, RequestClass::Thumbnail, Verdict::Unhealthy, true, 10);
        m.on_result(PLEX, RequestClass::Thumbnail, Verdict::Healthy, false, 10);
        m.on_result(PLEX, RequestClass::Probe, Verdict::NotCounted, false, 10);
        assert_eq!(m.error_rate(PLEX), 0.5);
        assert_eq!(m.error_rate(API), 0.0);
        assert_eq!(m.snapshot(0).services.first().unwrap().error_rate, 0.5);
    }

    #[test]
    fn a_latency_equal_to_a_bound_goes_in_that_bucket() {
        let mut m = metrics(0);
        for latency in [0, 50, 51, 100, 60_000, 60_001, u64::MAX] {
            m.on_result(PLEX, RequestClass::Video, Verdict::Healthy, false, latency);
        }
        let h = class_of(&m.snapshot(0), PLEX, RequestClass::Video).latency;
        assert_eq!(h.buckets_ms, LATENCY_BUCKETS_MS);
        // 0 and 50 in ≤50; 51 and 100 in ≤100; 60 000 in ≤60 000; the rest overflow.
        assert_eq!(h.counts, [2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn time_in_state_follows_a_manual_clock() {
        // Given plex closed from t = 1 s,
        let mut m = metrics(1_000);
        // when it opens at 11 s, goes half-open at 41 s, and closes at 42 s,
        m.on_state(PLEX, BreakerState::Open, 11_000);
        m.on_state(PLEX, BreakerState::HalfOpen, 41_000);
        m.on_state(PLEX, BreakerState::Closed, 42_000);
        // then at 50 s it spent 18 s closed (10 + 8 so far), 30 s open and 1 s half-open.
        let s = m.snapshot(50_000);
        let plex = s.services.first().unwrap();
        assert_eq!(plex.state, BreakerState::Closed);
        assert_eq!(plex.time_in_state_ms, TimeInState { closed: 18_000, open: 30_000, half_open: 1_000, isolated: 0 });
        // And the other service has been closed all along.
        assert_eq!(s.services.get(API).unwrap().time_in_state_ms.closed, 49_000);
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let mut m = metrics(10_000);
        m.on_state(PLEX, BreakerState::Open, 5_000);
        let s = m.snapshot(1_000);
        assert_eq!(s.services.first().unwrap().time_in_state_ms, TimeInState::default());
        m.on_state(PLEX, BreakerState::Isolated, 7_000);
        assert_eq!(m.snapshot(9_000).services.first().unwrap().time_in_state_ms.isolated, 2_000);
        assert_eq!(m.snapshot(9_000).services.first().unwrap().time_in_state_ms.open, 2_000);
    }

    #[test]
    fn memory_is_constant_whatever_the_traffic() {
        // Given a snapshot after one request and one after a hundred thousand,
        let mut m = metrics(0);
        m.on_request(PLEX, RequestClass::Video);
        let small = m.snapshot(0).to_value().to_json().len();
        for i in 0..100_000u64 {
            m.on_request(PLEX, RequestClass::Video);
            m.on_result(PLEX, RequestClass::Video, Verdict::Healthy, false, i % 70_000);
        }
        let s = m.snapshot(0);
        // then both list the same rows, and only the digits of the counts grew.
        assert_eq!(s.services.len(), 2);
        assert!(s.services.iter().all(|svc| svc.classes.len() == RequestClass::ALL.len()));
        let big = s.to_value().to_json().len();
        assert!(big < small + 100, "{small} -> {big}");
    }

    #[test]
    fn counters_saturate() {
        let mut m = metrics(0);
        if let Some(c) = m.class(PLEX, RequestClass::Probe) {
            c.requests = u64::MAX;
            c.failures = u64::MAX;
        }
        m.on_request(PLEX, RequestClass::Probe);
        m.on_result(PLEX, RequestClass::Probe, Verdict::Unhealthy, false, 1);
        let c = class_of(&m.snapshot(0), PLEX, RequestClass::Probe);
        assert_eq!((c.requests, c.failures), (u64::MAX, u64::MAX));
        assert_eq!(m.error_rate(PLEX), 1.0);
    }

    #[test]
    fn an_out_of_range_service_is_ignored() {
        let mut m = metrics(0);
        m.on_request(7, RequestClass::Video);
        m.on_retry(usize::MAX, RequestClass::Video);
        m.on_rejected(2, RequestClass::Video);
        m.on_result(2, RequestClass::Video, Verdict::Unhealthy, true, 5);
        m.on_state(2, BreakerState::Open, 5);
        assert_eq!(m.error_rate(2), 0.0);
        let s = m.snapshot(10);
        assert_eq!(s.services.len(), 2);
        assert!(s.services.iter().flat_map(|svc| &svc.classes).all(|c| c.requests == 0 && c.failures == 0));
        assert!(Metrics::new(&[], 0).snapshot(0).services.is_empty());
    }

    #[test]
    fn snapshots_serialize_in_camel_case() {
        let json = metrics(0).snapshot(0).to_value().to_json();
        for field in [
            "\"timeInStateMs\"",
            "\"halfOpen\"",
            "\"errorRate\"",
            "\"notCounted\"",
            "\"bucketsMs\"",
            "\"class\":\"video\"",
        ] {
            assert!(json.contains(field), "{field} missing in {json}");
        }
    }
}
