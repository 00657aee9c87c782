//! What the simulated browser layer drives: this package's [`Engine`], or a model
//! of another client (see `naive.rs`, `cockatiel.rs`) speaking the same protocol.
//! The engine's own decisions ([`Start`], [`Next`]) map onto one [`Step`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use player_resilience::engine::breaker::BreakerState;
use player_resilience::engine::classify::{Outcome, Route, Router};
use player_resilience::engine::config::Config;
use player_resilience::engine::resilience::{Attempt, Engine, Event, Failure, Next, Probe, Report, RequestId, Start};
use player_resilience::engine::Millis;

/// What the browser layer does next with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No service claims the URL: fetch it untouched.
    PassThrough,
    /// Send this attempt.
    Send(Attempt),
    /// Sleep, then call [`Policy::resume`].
    Wait { id: RequestId, delay_ms: Millis },
    /// Hand the response to the caller.
    Deliver,
    /// Fail the request.
    Fail(Failure),
}

/// A client's resilience policy, as the simulation drives it. The defaults are a
/// client without timers, probes, events or breakers.
pub trait Policy {
    fn begin(&mut self, now: Millis, method: &str, url: &str) -> Step;
    fn resume(&mut self, now: Millis, id: RequestId) -> Step;
    fn finish(&mut self, now: Millis, id: RequestId, report: Report<'_>) -> Step;
    fn poll_timeout(&self) -> Option<Millis> {
        None
    }
    fn handle_timeout(&mut self, _now: Millis) {}
    fn poll_probe(&mut self, _now: Millis) -> Option<Probe> {
        None
    }
    fn probe_result(&mut self, _now: Millis, _service: usize, _outcome: Outcome) {}
    fn poll_event(&mut self) -> Option<Event> {
        None
    }
    fn state(&self, _service: usize) -> Option<BreakerState> {
        Some(BreakerState::Closed)
    }
    fn set_online(&mut self, _now: Millis, _online: bool) {}
    fn set_prober(&mut self, _now: Millis, _prober: bool) {}
}

fn from_start(start: Start) -> Step {
    match start {
        Start::PassThrough => Step::PassThrough,
        Start::Send(a) => Step::Send(a),
        Start::Fail(f) => Step::Fail(f),
    }
}

impl Policy for Engine {
    fn begin(&mut self, now: Millis, method: &str, url: &str) -> Step {
        from_start(Engine::begin(self, now, method, url))
    }
    fn resume(&mut self, now: Millis, id: RequestId) -> Step {
        from_start(Engine::resume(self, now, id))
    }
    fn finish(&mut self, now: Millis, id: RequestId, report: Report<'_>) -> Step {
        match Engine::finish(self, now, id, report) {
            Next::Deliver => Step::Deliver,
            Next::RetryAfter { delay_ms, .. } => Step::Wait { id, delay_ms },
            Next::Fail(f) => Step::Fail(f),
        }
    }
    fn poll_timeout(&self) -> Option<Millis> {
        Engine::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Millis) {
        Engine::handle_timeout(self, now)
    }
    fn poll_probe(&mut self, now: Millis) -> Option<Probe> {
        Engine::poll_probe(self, now)
    }
    fn probe_result(&mut self, now: Millis, service: usize, outcome: Outcome) {
        Engine::probe_result(self, now, service, outcome)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Engine::poll_event(self)
    }
    fn state(&self, service: usize) -> Option<BreakerState> {
        Engine::state(self, service)
    }
    fn set_online(&mut self, now: Millis, online: bool) {
        Engine::set_online(self, now, online)
    }
    fn set_prober(&mut self, now: Millis, prober: bool) {
        Engine::set_prober(self, now, prober)
    }
}

/// Request ids are sequential numbers: hashing them is wasted time in a large fleet.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by request id.
pub type ById<T> = HashMap<RequestId, T, BuildHasherDefault<IdHasher>>;

/// The default config's routing, for the models of other clients.
pub struct Routes {
    pub config: Config,
    router: Router,
}

impl Routes {
    /// The default config, enabled.
    pub fn new() -> Self {
        let config = Config { enabled: true, ..Config::default() };
        Self { router: Router::new(&config), config }
    }

    /// The URL's service and class, or `None` when no service claims it.
    pub fn route(&self, url: &str) -> Option<Route> {
        self.router.route(url)
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}
