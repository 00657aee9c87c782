//! A discrete-event simulation of a player talking to a scripted server through
//! the engine, on a manual clock. It plays the browser layer's part: sends what
//! the engine admits, applies timeouts, sleeps retry delays, runs probes, and
//! logs every request that reached the server and every event.
#![allow(dead_code, clippy::unwrap_used)]

pub mod cockatiel;
pub mod fleet;
pub mod json;
pub mod naive;
pub mod policy;

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::rc::Rc;

use player_resilience::engine::breaker::BreakerState;
use player_resilience::engine::classify::Outcome;
use player_resilience::engine::config::Config;
use player_resilience::engine::notify::{Notice, NoticeKind};
use player_resilience::engine::resilience::{Attempt, Engine, Event, Failure, Report, RequestId};
use player_resilience::engine::Millis;
use policy::{Policy, Step};

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answers with this status after `latency` ms.
    Status(u16, Millis),
    /// Answers with this status and a `Retry-After` header.
    RetryAfter(u16, String),
    /// Never answers within any timeout (the proxy's 504 comes after 60 s).
    Hang,
    /// Resets the connection.
    Reset,
}

/// A request that reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub at: Millis,
    pub url: String,
    pub probe: bool,
    /// The service's breaker state when the request was sent.
    pub state: BreakerState,
}

/// How a client request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Delivered(u16),
    PassedThrough,
    Failed(Failure),
}

#[derive(Debug, Clone)]
enum Action {
    Issue {
        method: String,
        url: Rc<str>,
    },
    /// Issues `url`, then again every `period` ms while before `to`.
    Repeat {
        url: Rc<str>,
        period: Millis,
        to: Millis,
    },
    Complete {
        id: RequestId,
        url: Rc<str>,
        outcome: Outcome,
        retry_after: Option<String>,
    },
    Resume {
        id: RequestId,
        url: Rc<str>,
    },
    ProbeDone {
        service: usize,
        outcome: Outcome,
    },
}

/// An action due at `at`; `seq` keeps actions due at the same time in the order
/// they were scheduled.
#[derive(Debug)]
struct Queued {
    at: Millis,
    seq: u64,
    action: Action,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Unix time of the simulation's start (2026-02-16T00:00:00Z), for HTTP dates.
pub const WALL_START_MS: u64 = 1_771_200_000_000;
/// Latency of a healthy answer.
pub const FAST_MS: Millis = 20;

/// The scripted server: given the time and the URL, what it does.
type Server = Box<dyn FnMut(Millis, &str) -> Reply>;

/// The simulation of one player; `P` is its policy, this package's engine by default.
pub struct Sim<P = Engine> {
    pub engine: P,
    pub now: Millis,
    server: Server,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    pub hits: Vec<Hit>,
    pub events: Vec<(Millis, Event)>,
    pub ended: Vec<(Millis, String, Ended)>,
    pub online: bool,
    /// Whether [`Sim::hits`] is kept (a large fleet counts at its server instead).
    pub log_hits: bool,
}

impl Sim {
    pub fn new(config: Config, seed: u64, server: impl FnMut(Millis, &str) -> Reply + 'static) -> Self {
        Sim::with_policy(Engine::new(config, seed, 0), server)
    }

    /// The default config, enabled.
    pub fn config() -> Config {
        Config { enabled: true, ..Config::default() }
    }
}

impl<P: Policy> Sim<P> {
    /// A player driven by `policy` (an engine or another client's model).
    pub fn with_policy(policy: P, server: impl FnMut(Millis, &str) -> Reply + 'static) -> Self {
        Self {
            engine: policy,
            now: 0,
            server: Box::new(server),
            queue: BinaryHeap::new(),
            seq: 0,
            hits: Vec::new(),
            events: Vec::new(),
            ended: Vec::new(),
            online: true,
            log_hits: true,
        }
    }

    fn at(&mut self, t: Millis, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { at: t, seq: self.seq, action }));
    }

    /// The player requests `url` at time `t`.
    pub fn request(&mut self, t: Millis, url: &str) {
        self.at(t, Action::Issue { method: "GET".into(), url: url.into() });
    }

    /// The player requests `url` every `period` ms in `[from, to)`.
    pub fn every(&mut self, from: Millis, to: Millis, period: Millis, url: &str) {
        let mut t = from;
        while t < to {
            self.request(t, url);
            t += period;
        }
    }

    /// Like [`Sim::every`], but schedules one request at a time (constant memory
    /// for long runs and large fleets).
    pub fn repeat(&mut self, from: Millis, to: Millis, period: Millis, url: &str) {
        if from < to {
            self.at(from, Action::Repeat { url: url.into(), period, to });
        }
    }

    /// When the next action or engine deadline is due, if any.
    pub fn next_time(&self) -> Option<Millis> {
        let next_action = self.queue.peek().map(|q| q.0.at);
        let next_deadline = self.engine.poll_timeout().map(|d| d.max(self.now));
        [next_action, next_deadline].into_iter().flatten().min()
    }

    /// Runs every action and engine deadline up to and including `t`.
    pub fn run_until(&mut self, t: Millis) {
        loop {
            let next_action = self.queue.peek().map(|q| q.0.at);
            let next_deadline = self.engine.poll_timeout().map(|d| d.max(self.now));
            let Some(next) = next_action.into_iter().chain(next_deadline).min() else { break };
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            if next_deadline == Some(next) && next_action.map_or(true, |a| a > next) {
                self.engine.handle_timeout(self.now);
                self.pump_probes();
                let after = self.engine.poll_timeout();
                assert!(after.map_or(true, |d| d > self.now), "a deadline at {} ms did nothing: livelock", self.now);
            } else {
                let Reverse(queued) = self.queue.pop().unwrap();
                self.perform(queued.action);
            }
            self.pump_probes();
            self.drain_events();
        }
        self.now = self.now.max(t);
    }

    pub fn set_online(&mut self, online: bool) {
        self.online = online;
        self.engine.set_online(self.now, online);
        self.pump_probes();
        self.drain_events();
    }

    /// Whether this tab is the one that probes.
    pub fn set_prober(&mut self, prober: bool) {
        self.engine.set_prober(self.now, prober);
        self.pump_probes();
        self.drain_events();
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Issue { method, url } => self.issue(&method, url),
            Action::Repeat { url, period, to } => {
                if self.now + period < to {
                    self.at(self.now + period, Action::Repeat { url: url.clone(), period, to });
                }
                self.issue("GET", url);
            }
            Action::Resume { id, url } => {
                let step = self.engine.resume(self.now, id);
                self.step(id, url, step, None);
            }
            Action::Complete { id, url, outcome, retry_after } => {
                let wall = WALL_START_MS + self.now;
                let report = Report { outcome, retry_after: retry_after.as_deref(), wall_clock_ms: wall };
                let step = self.engine.finish(self.now, id, report);
                self.step(id, url, step, outcome.status());
            }
            Action::ProbeDone { service, outcome } => self.engine.probe_result(self.now, service, outcome),
        }
    }

    fn issue(&mut self, method: &str, url: Rc<str>) {
        match self.engine.begin(self.now, method, &url) {
            Step::Send(attempt) => self.send(attempt, url),
            Step::PassThrough => self.ended.push((self.now, url.to_string(), Ended::PassedThrough)),
            Step::Fail(f) => self.ended.push((self.now, url.to_string(), Ended::Failed(f))),
            Step::Wait { id, delay_ms } => self.at(self.now + delay_ms, Action::Resume { id, url }),
            Step::Deliver => self.ended.push((self.now, url.to_string(), Ended::Delivered(0))),
        }
    }

    /// Acts on request `id`'s next step; `status` is its last attempt's, if any.
    fn step(&mut self, id: RequestId, url: Rc<str>, step: Step, status: Option<u16>) {
        match step {
            Step::Send(attempt) => self.send(attempt, url),
            Step::Wait { delay_ms, .. } => self.at(self.now + delay_ms, Action::Resume { id, url }),
            Step::Deliver => self.ended.push((self.now, url.to_string(), Ended::Delivered(status.unwrap_or(0)))),
            Step::Fail(f) => self.ended.push((self.now, url.to_string(), Ended::Failed(f))),
            Step::PassThrough => {}
        }
    }

    fn send(&mut self, attempt: Attempt, url: Rc<str>) {
        let state = self.engine.state(attempt.service).unwrap();
        let (delay, outcome, retry_after) = self.serve(&url, false, state, attempt.timeout_ms);
        self.at(self.now + delay, Action::Complete { id: attempt.id, url, outcome, retry_after });
    }

    /// Asks the scripted server, logs the hit; returns when and how it ends.
    fn serve(
        &mut self,
        url: &str,
        probe: bool,
        state: BreakerState,
        timeout: Millis,
    ) -> (Millis, Outcome, Option<String>) {
        if !self.online {
            return (1, Outcome::Offline, None);
        }
        if self.log_hits {
            self.hits.push(Hit { at: self.now, url: url.into(), probe, state });
        }
        match (self.server)(self.now, url) {
            Reply::Status(s, latency) if latency < timeout => (latency, Outcome::Status(s), None),
            Reply::Status(..) | Reply::Hang => (timeout, Outcome::Timeout, None),
            Reply::RetryAfter(s, v) => (FAST_MS, Outcome::Status(s), Some(v)),
            Reply::Reset => (5, Outcome::NetworkError, None),
        }
    }

    fn pump_probes(&mut self) {
        while let Some(probe) = self.engine.poll_probe(self.now) {
            let state = self.engine.state(probe.service).unwrap();
            let (delay, outcome, _) = self.serve(&probe.url, true, state, probe.timeout_ms);
            self.at(self.now + delay, Action::ProbeDone { service: probe.service, outcome });
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.engine.poll_event() {
            self.events.push((self.now, e));
        }
    }

    // ---- queries for assertions ----

    pub fn notices(&self) -> Vec<(Millis, Notice)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Notice(n) => Some((*t, n.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn notice_kinds(&self) -> Vec<NoticeKind> {
        self.notices().into_iter().map(|(_, n)| n.kind).collect()
    }

    pub fn first_notice(&self, kind: NoticeKind) -> Option<Millis> {
        self.notices().into_iter().find(|(_, n)| n.kind == kind).map(|(t, _)| t)
    }

    /// (time, from, to) of every breaker transition of `service`.
    pub fn transitions(&self, service: &str) -> Vec<(Millis, BreakerState, BreakerState)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::State { service: s, from, to, .. } if s == service => Some((*t, *from, *to)),
                _ => None,
            })
            .collect()
    }

    /// Every time `service`'s breaker entered `state`.
    pub fn times_entered(&self, service: &str, state: BreakerState) -> Vec<Millis> {
        self.transitions(service).into_iter().filter(|(_, _, to)| *to == state).map(|(t, ..)| t).collect()
    }

    pub fn first_transition_to(&self, service: &str, state: BreakerState) -> Option<Millis> {
        self.times_entered(service, state).first().copied()
    }

    /// Requests (not probes) that reached the server in `[from, to)`.
    pub fn requests_between(&self, from: Millis, to: Millis) -> usize {
        self.hits.iter().filter(|h| !h.probe && h.at >= from && h.at < to).count()
    }

    pub fn probes_between(&self, from: Millis, to: Millis) -> usize {
        self.hits.iter().filter(|h| h.probe && h.at >= from && h.at < to).count()
    }

    pub fn retries(&self) -> usize {
        self.events.iter().filter(|(_, e)| matches!(e, Event::Retry { .. })).count()
    }
}
