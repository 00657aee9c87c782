//! The retry model of the 2026-02-16 incident (the user's guardrails document,
//! "Current State"): 429 and 5xx retried up to 20 times at a flat 500 ms, a 60 s
//! timeout, timeouts not retried, no breaker, no probes, no jitter.

use player_resilience::engine::classify::Outcome;
use player_resilience::engine::resilience::{Attempt, Failure, Report, RequestId};
use player_resilience::engine::Millis;

use super::policy::{ById, Policy, Routes, Step};

/// Retries after the first attempt.
pub const RETRIES: u32 = 20;
/// The flat delay before each retry.
pub const DELAY_MS: Millis = 500;
/// Per-attempt timeout. One millisecond over the proxy's 60 s, so the proxy's 504
/// at 60 s arrives first and is retried, as in the incident.
pub const TIMEOUT_MS: Millis = 60_001;

/// The naive client: attempts per request in flight.
pub struct Naive {
    routes: Routes,
    attempts: ById<(usize, u32)>,
    next_id: u64,
}

impl Naive {
    /// Routes URLs like the default config (only to say which service a request is for).
    pub fn new() -> Self {
        Self { routes: Routes::new(), attempts: Default::default(), next_id: 1 }
    }

    fn attempt(&self, id: RequestId, service: usize, attempt: u32) -> Step {
        let class = player_resilience::engine::config::RequestClass::Metadata;
        Step::Send(Attempt { id, service, class, attempt, timeout_ms: TIMEOUT_MS })
    }
}

impl Default for Naive {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy for Naive {
    fn begin(&mut self, _now: Millis, _method: &str, url: &str) -> Step {
        let Some(route) = self.routes.route(url) else { return Step::PassThrough };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.attempts.insert(id, (route.service, 1));
        self.attempt(id, route.service, 1)
    }

    fn resume(&mut self, _now: Millis, id: RequestId) -> Step {
        match self.attempts.get_mut(&id) {
            Some((service, n)) => {
                *n += 1;
                let (service, n) = (*service, *n);
                self.attempt(id, service, n)
            }
            None => Step::Fail(Failure::Aborted),
        }
    }

    fn finish(&mut self, _now: Millis, id: RequestId, report: Report<'_>) -> Step {
        let Some(&(_, attempts)) = self.attempts.get(&id) else { return Step::Fail(Failure::Aborted) };
        let retryable = matches!(report.outcome, Outcome::Status(s) if s == 429 || s >= 500);
        if retryable && attempts <= RETRIES {
            return Step::Wait { id, delay_ms: DELAY_MS };
        }
        self.attempts.remove(&id);
        match report.outcome {
            Outcome::Status(s) if s < 500 && s != 429 => Step::Deliver,
            Outcome::Status(s) => Step::Fail(Failure::RetriesExhausted { attempts, last_status: Some(s) }),
            Outcome::Unreadable => Step::Fail(Failure::RetriesExhausted { attempts, last_status: Some(503) }),
            Outcome::Timeout => Step::Fail(Failure::Timeout { attempts }),
            Outcome::NetworkError => Step::Fail(Failure::RetriesExhausted { attempts, last_status: None }),
            Outcome::Offline => Step::Fail(Failure::Offline),
            Outcome::Aborted => Step::Fail(Failure::Aborted),
        }
    }
}
