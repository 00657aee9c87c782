//! A model of cockatiel's README example, per service: `wrap(retry(handleAll,
//! { maxAttempts: 3, backoff: new ExponentialBackoff() }), circuitBreaker(handleAll,
//! { halfOpenAfter: 10 * 1000, breaker: new ConsecutiveBreaker(5) }))`.
//!
//! - Breaker: opens on 5 consecutive failures; 10 s after opening, the next call
//!   goes half-open and is the one test call (others are rejected while it runs);
//!   its success closes the breaker, its failure reopens it for another 10 s. No
//!   timer, no probe: the half-open test is a caller's request.
//! - Retry: 3 retries (4 attempts in all) of any failure, the breaker's own
//!   rejection (`BrokenCircuitError`) included, after cockatiel's default
//!   `ExponentialBackoff` (decorrelated jitter, 128 ms initial, ×2, 30 s cap). No
//!   retry budget.
//! - Failures: 429, 5xx, timeouts, network errors (a fetch wrapper that throws on
//!   them). Timeouts per class as this package's defaults (10 s light, 30 s video):
//!   the README example has none, and the proxy's 60 s would only slow it down.

use player_resilience::engine::breaker::BreakerState;
use player_resilience::engine::classify::{Outcome, Route};
use player_resilience::engine::resilience::{Attempt, Event, Failure, Report, RequestId};
use player_resilience::engine::rng::Rng;
use player_resilience::engine::Millis;

use super::policy::{ById, Policy, Routes, Step};

/// `retry({ maxAttempts: 3 })`: retries after the first attempt.
pub const RETRIES: u32 = 3;
/// `ConsecutiveBreaker(5)`.
pub const THRESHOLD: u32 = 5;
/// `halfOpenAfter: 10 * 1000`.
pub const HALF_OPEN_AFTER_MS: Millis = 10_000;
/// `ExponentialBackoff` defaults: initial delay, exponent, cap.
pub const INITIAL_DELAY_MS: f64 = 128.0;
const EXPONENT: f64 = 2.0;
const MAX_DELAY_MS: f64 = 30_000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { since: Millis },
    HalfOpen { testing: bool },
}

impl State {
    fn public(self) -> BreakerState {
        match self {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

struct Call {
    route: Route,
    attempts: u32,
    /// The decorrelated-jitter generator's state: (attempt, previous value).
    backoff: (f64, f64),
    test: bool,
}

/// The cockatiel-like client of one page.
pub struct Cockatiel {
    routes: Routes,
    breakers: Vec<State>,
    calls: ById<Call>,
    events: Vec<Event>,
    rng: Rng,
    next_id: u64,
}

impl Cockatiel {
    /// Routes and timeouts from the default config; jitter seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        let routes = Routes::new();
        let breakers = vec![State::Closed { failures: 0 }; routes.config.services.len()];
        Self { routes, breakers, calls: Default::default(), events: Vec::new(), rng: Rng::new(seed), next_id: 1 }
    }

    fn go(&mut self, now: Millis, service: usize, to: State) {
        let from = self.breakers[service];
        self.breakers[service] = to;
        if from.public() != to.public() {
            let name = self.routes.config.services[service].name.clone();
            self.events.push(Event::State { service: name, from: from.public(), to: to.public(), at: now });
        }
    }

    /// Cockatiel's `decorrelatedJitterGenerator`, from its published formula.
    fn delay(&mut self, state: (f64, f64)) -> (Millis, (f64, f64)) {
        let (attempt, prev) = state;
        let t = attempt + (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let next = EXPONENT.powf(t) * (4.0 * t).sqrt().tanh();
        let ms = ((next - prev).max(0.0) / 1.4 * INITIAL_DELAY_MS).min(MAX_DELAY_MS);
        (ms as Millis, (attempt + 1.0, next))
    }

    /// The call's next attempt goes through the breaker, or is rejected by it.
    fn attempt(&mut self, now: Millis, id: RequestId) -> Step {
        let Some(call) = self.calls.get(&id) else { return Step::Fail(Failure::Aborted) };
        let service = call.route.service;
        let admitted = match self.breakers[service] {
            State::Closed { .. } => Some(false),
            State::Open { since } if now >= since + HALF_OPEN_AFTER_MS => {
                self.go(now, service, State::HalfOpen { testing: true });
                Some(true)
            }
            State::HalfOpen { testing: false } => {
                self.breakers[service] = State::HalfOpen { testing: true };
                Some(true)
            }
            State::Open { .. } | State::HalfOpen { testing: true } => None,
        };
        let Some(call) = self.calls.get_mut(&id) else { return Step::Fail(Failure::Aborted) };
        call.attempts += 1;
        match admitted {
            Some(test) => {
                call.test = test;
                let timeout_ms = self.routes.config.timeout_for(call.route.class);
                let (class, attempt) = (call.route.class, call.attempts);
                Step::Send(Attempt { id, service, class, attempt, timeout_ms })
            }
            // BrokenCircuitError: handled by the retry policy like any error.
            None => {
                let name = self.routes.config.services[service].name.clone();
                self.retry_or(id, Failure::BreakerOpen { service: name, retry_after_ms: None })
            }
        }
    }

    fn retry_or(&mut self, id: RequestId, failure: Failure) -> Step {
        let Some(call) = self.calls.get(&id) else { return Step::Fail(Failure::Aborted) };
        if call.attempts > RETRIES {
            self.calls.remove(&id);
            return Step::Fail(failure);
        }
        let (delay_ms, backoff) = self.delay(call.backoff);
        if let Some(call) = self.calls.get_mut(&id) {
            call.backoff = backoff;
        }
        Step::Wait { id, delay_ms }
    }
}

impl Policy for Cockatiel {
    fn begin(&mut self, now: Millis, _method: &str, url: &str) -> Step {
        let Some(route) = self.routes.route(url) else { return Step::PassThrough };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.calls.insert(id, Call { route, attempts: 0, backoff: (0.0, 0.0), test: false });
        self.attempt(now, id)
    }

    fn resume(&mut self, now: Millis, id: RequestId) -> Step {
        self.attempt(now, id)
    }

    fn finish(&mut self, now: Millis, id: RequestId, report: Report<'_>) -> Step {
        let Some(call) = self.calls.get(&id) else { return Step::Fail(Failure::Aborted) };
        let (service, test, attempts) = (call.route.service, call.test, call.attempts);
        let failed = match report.outcome {
            // The proxy's 503 `source-unreadable` is a 503 to a generic client.
            Outcome::Status(s) => s == 429 || s >= 500,
            Outcome::Unreadable | Outcome::Timeout | Outcome::NetworkError => true,
            Outcome::Offline | Outcome::Aborted => false,
        };
        match (self.breakers[service], failed) {
            (State::HalfOpen { .. }, false) if test => self.go(now, service, State::Closed { failures: 0 }),
            (State::HalfOpen { .. }, true) if test => self.go(now, service, State::Open { since: now }),
            (State::Closed { .. }, false) => self.breakers[service] = State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 >= THRESHOLD => {
                self.go(now, service, State::Open { since: now })
            }
            (State::Closed { failures }, true) => self.breakers[service] = State::Closed { failures: failures + 1 },
            _ => {}
        }
        if !failed {
            self.calls.remove(&id);
            return Step::Deliver;
        }
        let failure = match report.outcome {
            Outcome::Timeout => Failure::Timeout { attempts },
            outcome => Failure::RetriesExhausted { attempts, last_status: outcome.status() },
        };
        self.retry_or(id, failure)
    }

    fn poll_event(&mut self) -> Option<Event> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }
    fn state(&self, service: usize) -> Option<BreakerState> {
        self.breakers.get(service).map(|s| s.public())
    }
}
