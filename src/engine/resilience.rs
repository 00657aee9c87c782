//! The engine: one breaker, probe schedule and retry policy per service, driven
//! like quinn-proto's connection.
//!
//! The browser layer asks what to do ([`Engine::begin`], [`Engine::poll_probe`]),
//! does the I/O, reports what happened ([`Engine::finish`], [`Engine::probe_result`]),
//! and sleeps until [`Engine::poll_timeout`], then calls [`Engine::handle_timeout`].
//! Everything the user or the page should hear about comes out of
//! [`Engine::poll_event`]; reports for the backend (when configured) out of
//! [`Engine::poll_report`]. Time is always an argument; randomness comes from the
//! seed given to [`Engine::new`].

use super::breaker::{Admission, Breaker, BreakerSnapshot, BreakerState, Recovery, Transition};
use super::budget::RetryBudget;
use super::classify::{Outcome, Route, Router, Verdict};
use super::config::{Config, RequestClass};
use super::metrics::{Metrics, MetricsSnapshot};
use super::notify::{Notice, Notifier, Signal};
use super::probe::{ProbeProgress, ProbeSchedule, ProbeTrigger};
use super::reader::{exact, whole_up_to, MAX_SAFE};
use super::redact::redact_url;
use super::report::{page_id, Dispatch, Report as ReportBody, ReportState, Reporter, Subject};
use super::retry::{GiveUp, RetryDecision, RetryState};
use super::retry_after::parse_retry_after;
use super::rng::Rng;
use super::value::Value;
use super::Millis;

/// Requests tracked at once; past this the oldest is dropped as if aborted, so
/// memory stays bounded whatever the caller does.
pub const MAX_IN_FLIGHT: usize = 1_024;
/// URL buffers kept for reuse: a burst of requests this large allocates nothing.
const SPARE_URLS: usize = 16;
/// Events kept until polled; past this the oldest are dropped.
pub const MAX_QUEUED_EVENTS: usize = 256;
/// Version of [`EngineSnapshot`]; a stored snapshot of another version is ignored.
pub const SNAPSHOT_VERSION: u32 = 1;
/// A stored snapshot dated this far in the future (clock skew) is still trusted.
const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// Identifies one request (its whole retry sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// One attempt the browser layer should send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The request this attempt belongs to.
    pub id: RequestId,
    /// Index of the service in the config.
    pub service: usize,
    /// The request class.
    pub class: RequestClass,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Abort the attempt after this long and report [`Outcome::Timeout`].
    pub timeout_ms: Millis,
}

/// Why a request failed, with what the caller needs to know (maps to the JS
/// error codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The service's breaker is open: failed fast without touching the server.
    BreakerOpen {
        /// The service's name.
        service: String,
        /// When it is worth trying again; `None` when isolated.
        retry_after_ms: Option<Millis>,
    },
    /// The last attempt timed out and no retry is left.
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// Every allowed attempt failed.
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last status, if the server answered at all.
        last_status: Option<u16>,
    },
    /// The client is offline.
    Offline,
    /// The caller aborted.
    Aborted,
}

impl Failure {
    /// The stable JS error code.
    pub const fn code(&self) -> &'static str {
        match self {
            Failure::BreakerOpen { .. } => "BREAKER_OPEN",
            Failure::Timeout { .. } => "TIMEOUT",
            Failure::RetriesExhausted { .. } => "RETRIES_EXHAUSTED",
            Failure::Offline => "OFFLINE",
            Failure::Aborted => "ABORTED",
        }
    }
}

/// What to do with a new request, or with one whose retry delay has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No service claims the URL: fetch it untouched.
    PassThrough,
    /// Send this attempt.
    Send(Attempt),
    /// Fail the request now.
    Fail(Failure),
}

/// What to do after an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Hand the response to the caller (a success, or a status that isn't retried).
    Deliver,
    /// Sleep `delay_ms`, then call [`Engine::resume`] for the next attempt.
    RetryAfter {
        /// How long to wait.
        delay_ms: Millis,
        /// The attempt that will follow (2 for the first retry).
        attempt: u32,
    },
    /// Fail the request.
    Fail(Failure),
}

/// How an attempt ended, as the browser layer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'a> {
    /// Status, timeout, network error, offline or abort.
    pub outcome: Outcome,
    /// The response's `Retry-After` header, if any.
    pub retry_after: Option<&'a str>,
    /// Wall-clock time (Unix ms), to read an HTTP-date `Retry-After`.
    pub wall_clock_ms: u64,
}

/// A health probe to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Index of the service probed.
    pub service: usize,
    /// The probe URL from the config.
    pub url: String,
    /// Abort the probe after this long and report a timeout.
    pub timeout_ms: Millis,
}

/// Something the page or the person should hear about. URLs in events are redacted.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A notice for the person exercising.
    Notice(Notice),
    /// A breaker changed state.
    State {
        /// The service's name.
        service: String,
        /// The state left.
        from: BreakerState,
        /// The state entered.
        to: BreakerState,
        /// When (engine time).
        at: Millis,
    },
    /// A request will be retried.
    Retry {
        /// The service's name.
        service: String,
        /// The redacted URL.
        url: String,
        /// The attempt that will follow.
        attempt: u32,
        /// The wait before it.
        delay_ms: Millis,
        /// The status that caused it, if the server answered.
        status: Option<u16>,
    },
    /// A health probe ended.
    Probe {
        /// The service's name.
        service: String,
        /// Whether the server looked healthy.
        healthy: bool,
    },
}

impl Event {
    /// The event as JS sees it: `{"type": "notice" | "state" | "retry" | "probe", ...}`,
    /// fields in camelCase (a notice's fields inline), states by name, absent
    /// optional values `null`.
    pub fn to_value(&self) -> Value {
        match self {
            Event::Notice(notice) => {
                let mut fields = vec![("type".to_owned(), Value::from("notice"))];
                fields.extend(notice.fields());
                Value::Object(fields)
            }
            Event::State { service, from, to, at } => Value::object([
                ("type", "state".into()),
                ("service", service.as_str().into()),
                ("from", from.as_str().into()),
                ("to", to.as_str().into()),
                ("at", (*at).into()),
            ]),
            Event::Retry { service, url, attempt, delay_ms, status } => Value::object([
                ("type", "retry".into()),
                ("service", service.as_str().into()),
                ("url", url.as_str().into()),
                ("attempt", (*attempt).into()),
                ("delayMs", (*delay_ms).into()),
                ("status", (*status).into()),
            ]),
            Event::Probe { service, healthy } => Value::object([
                ("type", "probe".into()),
                ("service", service.as_str().into()),
                ("healthy", (*healthy).into()),
            ]),
        }
    }
}

/// Breaker state worth keeping across reloads and sharing across tabs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSnapshot {
    /// [`SNAPSHOT_VERSION`] when written.
    pub version: u32,
    /// Wall-clock time (Unix ms) when taken.
    pub saved_at: u64,
    /// One entry per service.
    pub services: Vec<ServiceSnapshot>,
}

/// One service's persisted breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSnapshot {
    /// The service's name.
    pub name: String,
    /// Its breaker.
    pub breaker: BreakerSnapshot,
}

impl EngineSnapshot {
    /// `{"version", "savedAt", "services": [{"name", "breaker": {...}}]}`.
    pub fn to_value(&self) -> Value {
        Value::object([
            ("version", self.version.into()),
            ("savedAt", self.saved_at.into()),
            ("services", Value::Array(self.services.iter().map(ServiceSnapshot::to_value).collect())),
        ])
    }

    /// Reads what [`EngineSnapshot::to_value`] wrote, strictly: `None` for missing
    /// or unknown fields, wrong types, negative or fractional numbers, unknown
    /// states. Never panics, whatever the value.
    pub fn from_value(value: &Value) -> Option<Self> {
        let &[version, saved_at, services] = exact(value, &["version", "savedAt", "services"])?.as_slice() else {
            return None;
        };
        let version = u32::try_from(whole_up_to(version, u32::MAX.into())?).ok()?;
        let saved_at = whole_up_to(saved_at, MAX_SAFE)?;
        let Value::Array(items) = services else { return None };
        let mut services = Vec::new();
        for item in items {
            services.push(ServiceSnapshot::from_value(item)?);
        }
        Some(Self { version, saved_at, services })
    }
}

impl ServiceSnapshot {
    /// `{"name", "breaker": {...}}`.
    pub fn to_value(&self) -> Value {
        Value::object([("name", self.name.as_str().into()), ("breaker", self.breaker.to_value())])
    }

    /// Reads what [`ServiceSnapshot::to_value`] wrote; `None` for anything else.
    fn from_value(value: &Value) -> Option<Self> {
        let &[name, breaker] = exact(value, &["name", "breaker"])?.as_slice() else { return None };
        let Value::String(name) = name else { return None };
        Some(Self { name: name.clone(), breaker: BreakerSnapshot::from_value(breaker)? })
    }
}

/// Why a stored snapshot was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreError {
    /// Written by another version of the module.
    Version,
    /// Older than `persistence.maxAgeMs`.
    Stale,
    /// Dated in the future: a foreign or tampered record.
    FromTheFuture,
}

/// Removes and returns `items[index]`, if there is one. The queues are `Vec`s: short,
/// and a `VecDeque` costs more wasm than the shifts it saves.
fn remove_at<T>(items: &mut Vec<T>, index: usize) -> Option<T> {
    (index < items.len()).then(|| items.remove(index))
}

struct Service {
    name: String,
    probe_url: Option<String>,
    breaker: Breaker,
    probes: ProbeSchedule,
    /// Video elements watched for this service: they announce "Video is back"
    /// themselves, once the video plays again, instead of the breaker closing.
    videos: u32,
}

struct InFlight {
    id: RequestId,
    route: Route,
    /// Its method may be retried (`retry.methods`).
    idempotent: bool,
    /// As given (with its secrets): redacted wherever it leaves the engine.
    url: String,
    retry: RetryState,
    trial: bool,
    /// When the current attempt started; `None` while waiting to retry.
    attempt_started: Option<Millis>,
    slow_signalled: bool,
    /// Its breaker opened while the attempt was out: the browser layer cuts it
    /// ([`Engine::poll_cut`]) and the caller gets `BREAKER_OPEN`.
    cut: bool,
}

/// The whole resilience policy for one page.
pub struct Engine {
    config: Config,
    router: Router,
    services: Vec<Service>,
    budget: RetryBudget,
    rng: Rng,
    notifier: Notifier,
    metrics: Metrics,
    requests: Vec<InFlight>,
    /// URL buffers of finished requests, for the next ones ([`Engine::copy_url`]).
    spare_urls: Vec<String>,
    /// Attempts to cut, oldest first ([`Engine::poll_cut`]).
    cuts: Vec<RequestId>,
    events: Vec<Event>,
    next_id: u64,
    online: bool,
    prober: bool,
    /// Reports to the backend, when configured.
    reporter: Option<Reporter>,
    /// Another tab can take this tab's reports (a channel exists).
    relay: bool,
    /// Restoring persisted state: its transitions are not news, so not reported.
    restoring: bool,
}

impl Engine {
    /// An engine for a validated `config`, its jitter seeded by `seed`.
    pub fn new(config: Config, seed: u64, now: Millis) -> Self {
        let services = config
            .services
            .iter()
            .map(|s| Service {
                name: s.name.clone(),
                probe_url: s.probe_url.clone(),
                breaker: Breaker::new(
                    s.breaker.clone(),
                    if s.probe_url.is_some() { Recovery::Probe } else { Recovery::Timer },
                ),
                probes: ProbeSchedule::new(&config.probe),
                videos: 0,
            })
            .collect::<Vec<_>>();
        let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        let mut rng = Rng::new(seed);
        let reporter = config.report.as_ref().map(|r| {
            let page = r.page_id.clone().unwrap_or_else(|| page_id(&mut rng));
            Reporter::new(page, r.max_per_minute, names.len(), now)
        });
        Self {
            budget: RetryBudget::new(&config.budget),
            notifier: Notifier::new(&config.notices),
            metrics: Metrics::new(&names, now),
            rng,
            reporter,
            relay: false,
            restoring: false,
            services,
            router: Router::new(&config),
            requests: Vec::new(),
            spare_urls: Vec::new(),
            cuts: Vec::new(),
            events: Vec::new(),
            next_id: 1,
            online: true,
            prober: true,
            config,
        }
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The service and class of a URL, or `None` when it passes through.
    pub fn route(&self, url: &str) -> Option<Route> {
        self.router.route(url)
    }

    /// A new request: pass it through, send its first attempt, or fail it fast.
    pub fn begin(&mut self, now: Millis, method: &str, url: &str) -> Start {
        let Some(route) = self.router.route(url) else {
            return Start::PassThrough;
        };
        self.metrics.on_request(route.service, route.class);
        if !self.online {
            return Start::Fail(Failure::Offline);
        }
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        if self.requests.len() >= MAX_IN_FLIGHT {
            self.release(0);
            self.drop_request(0);
        }
        let retry = RetryState::new(now, &self.config.retry, Rng::new(self.rng.next_u64()));
        let url = self.copy_url(url);
        self.requests.push(InFlight {
            id,
            route,
            idempotent: self.config.retry.is_idempotent(method),
            url,
            retry,
            trial: false,
            attempt_started: None,
            slow_signalled: false,
            cut: false,
        });
        self.admit(now, id)
    }

    /// A request's retry delay has passed: its next attempt, unless the breaker
    /// opened meanwhile.
    pub fn resume(&mut self, now: Millis, id: RequestId) -> Start {
        match self.find(id) {
            Some(r) if r.attempt_started.is_none() => self.admit(now, id),
            _ => Start::Fail(Failure::Aborted),
        }
    }

    /// The caller aborted the request (mid-attempt or while waiting to retry).
    pub fn abort(&mut self, id: RequestId) {
        if let Some(index) = self.requests.iter().position(|r| r.id == id) {
            self.release(index);
            self.drop_request(index);
        }
    }

    /// An attempt ended: record it and say what comes next.
    pub fn finish(&mut self, now: Millis, id: RequestId, report: Report<'_>) -> Next {
        let Some(index) = self.requests.iter().position(|r| r.id == id) else {
            return Next::Fail(Failure::Aborted);
        };
        let Some(request) = self.requests.get_mut(index) else {
            return Next::Fail(Failure::Aborted);
        };
        let Some(started) = request.attempt_started.take() else {
            return Next::Fail(Failure::Aborted);
        };
        let (route, trial, cut) = (request.route, request.trial, request.cut);
        let latency = now.saturating_sub(started);
        let outcome =
            if !self.online && report.outcome != Outcome::Aborted { Outcome::Offline } else { report.outcome };
        let retry_after_ms = report
            .retry_after
            .and_then(|v| parse_retry_after(v, report.wall_clock_ms, self.config.retry.max_retry_after_ms));

        let verdict = outcome.verdict();
        self.metrics.on_result(route.service, route.class, verdict, outcome == Outcome::Timeout, latency);
        let slow_failure = verdict == Verdict::Healthy
            && latency > self.config.timeouts.slow_ms
            && self.service(route.service).is_some_and(|s| s.breaker.config().slow_calls_are_failures);
        let transition = match (verdict, slow_failure) {
            (Verdict::Healthy, false) => {
                self.service_mut(route.service).and_then(|s| s.breaker.record_success(now, trial))
            }
            (Verdict::Healthy, true) | (Verdict::Unhealthy, _) => {
                self.service_mut(route.service).and_then(|s| s.breaker.record_failure(now, trial, retry_after_ms))
            }
            (Verdict::NotCounted, _) => {
                if let Some(s) = self.service_mut(route.service) {
                    s.breaker.record_ignored(trial);
                }
                None
            }
        };
        self.on_transition(now, route.service, transition, retry_after_ms);
        if verdict == Verdict::Healthy && !slow_failure && self.state(route.service) == Some(BreakerState::Closed) {
            // The service answers: a slow or retrying episode is over.
            self.signal(now, Some(route.service), Signal::Answered);
        }

        match outcome {
            Outcome::Offline => return self.fail(index, Failure::Offline),
            Outcome::Aborted if cut => {
                let failure = self.open_failure(now, route.service, None);
                return self.fail(index, failure);
            }
            Outcome::Aborted => return self.fail(index, Failure::Aborted),
            _ => {}
        }
        let open = matches!(self.state(route.service), Some(BreakerState::Open | BreakerState::Isolated));
        if open && outcome.is_retryable(&self.config.retry) {
            // Retrying would only be refused: fail fast now.
            let failure = self.open_failure(now, route.service, None);
            return self.fail(index, failure);
        }
        let Some(request) = self.requests.get_mut(index) else {
            return Next::Fail(Failure::Aborted);
        };
        let decision = request.retry.decide(
            now,
            &self.config.retry,
            request.idempotent,
            outcome,
            retry_after_ms,
            &mut self.budget,
        );
        let attempts = request.retry.attempts();
        match decision {
            RetryDecision::Retry { delay_ms, attempt } => {
                let event = Event::Retry {
                    service: self.services.get(route.service).map(|s| s.name.clone()).unwrap_or_default(),
                    url: redact_url(&request.url, &self.config.secrets),
                    attempt,
                    delay_ms,
                    status: outcome.status(),
                };
                self.metrics.on_retry(route.service, route.class);
                self.push(event);
                self.signal(now, Some(route.service), Signal::Retrying);
                Next::RetryAfter { delay_ms, attempt }
            }
            RetryDecision::GiveUp(GiveUp::NotRetryable | GiveUp::NotIdempotent) if outcome.status().is_some() => {
                self.drop_request(index);
                Next::Deliver
            }
            RetryDecision::GiveUp(_) => {
                let failure = match outcome {
                    Outcome::Timeout => Failure::Timeout { attempts },
                    _ => Failure::RetriesExhausted { attempts, last_status: outcome.status() },
                };
                self.fail(index, failure)
            }
        }
    }

    /// The earliest time [`Engine::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let slow_ms = self.config.timeouts.slow_ms;
        let slow = self
            .requests
            .iter()
            .filter(|r| !r.slow_signalled)
            .filter_map(|r| r.attempt_started.map(|t| t.saturating_add(slow_ms)))
            .min();
        let probes = self.services.iter().filter(|s| s.probe_url.is_some()).filter_map(|s| s.probes.next_due()).min();
        let breakers = self.services.iter().filter_map(|s| s.breaker.next_deadline()).min();
        let reports = self.reporter.as_ref().and_then(Reporter::poll_timeout);
        [slow, probes, breakers, reports].into_iter().flatten().min()
    }

    /// Acts on every deadline that has passed: "slow" notices for requests still
    /// waiting past the soft deadline, timer-driven breaker recovery, and held
    /// reports whose token came back.
    pub fn handle_timeout(&mut self, now: Millis) {
        if let Some(reporter) = &mut self.reporter {
            reporter.handle_timeout(now);
        }
        let slow_ms = self.config.timeouts.slow_ms;
        let mut slow_services = Vec::new();
        for r in self.requests.iter_mut().filter(|r| !r.slow_signalled) {
            if r.attempt_started.is_some_and(|t| now >= t.saturating_add(slow_ms)) {
                r.slow_signalled = true;
                slow_services.push(r.route.service);
            }
        }
        for service in slow_services {
            self.signal(now, Some(service), Signal::Slow);
        }
        for service in 0..self.services.len() {
            let due = self.service(service).and_then(|s| s.breaker.next_deadline()).is_some_and(|t| now >= t);
            if due {
                // Timer recovery: an admission check moves Open to HalfOpen; no trial
                // is taken, so release the slot it reserved.
                let transition = self.service_mut(service).and_then(|s| match s.breaker.admit(now) {
                    (Admission::Trial, t) => {
                        s.breaker.record_ignored(true);
                        t
                    }
                    (_, t) => t,
                });
                self.on_transition(now, service, transition, None);
            }
        }
    }

    /// A health probe to send now, if one is due.
    pub fn poll_probe(&mut self, now: Millis) -> Option<Probe> {
        let timeout_ms = self.config.probe.timeout_ms;
        self.services.iter_mut().enumerate().find_map(|(service, s)| {
            let url = s.probe_url.clone()?;
            s.probes.poll(now).then_some(Probe { service, url, timeout_ms })
        })
    }

    /// A health probe ended.
    pub fn probe_result(&mut self, now: Millis, service: usize, outcome: Outcome) {
        let online = self.online && outcome != Outcome::Offline;
        let healthy = outcome.verdict() == Verdict::Healthy;
        let Some(s) = self.service_mut(service) else {
            return;
        };
        if !online || outcome == Outcome::Aborted {
            // Says nothing about the server: let the schedule try again later.
            s.probes.set_online(online);
            let _ = s.probes.record(now, false);
            return;
        }
        let progress = s.probes.record(now, healthy);
        if progress == ProbeProgress::Ignored {
            return;
        }
        let name = s.name.clone();
        let transition = if progress == ProbeProgress::Healthy { s.breaker.half_open(now) } else { None };
        self.push(Event::Probe { service: name, healthy });
        self.on_transition(now, service, transition, None);
    }

    /// The browser went offline or came back: offline failures are the client's,
    /// probes pause, and coming back probes as soon as the least spacing allows.
    pub fn set_online(&mut self, now: Millis, online: bool) {
        if self.online == online {
            return;
        }
        self.online = online;
        for s in &mut self.services {
            if online {
                s.probes.trigger(now, ProbeTrigger::Online);
            } else {
                s.probes.set_online(false);
            }
        }
        self.signal(now, None, if online { Signal::Online } else { Signal::Offline });
    }

    /// The tab became hidden or visible: no probes are spent while hidden, and
    /// becoming visible probes as soon as the least spacing allows.
    pub fn set_visible(&mut self, now: Millis, visible: bool) {
        for s in &mut self.services {
            if visible {
                s.probes.trigger(now, ProbeTrigger::Visible);
            } else {
                s.probes.set_visible(false);
            }
        }
    }

    /// Whether this tab is the one that probes (only one tab of a browser should). While
    /// not, no probe is ever due, though breakers still open and close, and a remote
    /// tab's results arrive through [`Engine::restore`] and its probes through
    /// [`Engine::note_remote_probe`]. Becoming the prober makes a probe due for
    /// every open breaker as soon as the least spacing since the last probe allows
    /// (like a tab becoming visible); repeating the current setting does nothing.
    /// On by default.
    pub fn set_prober(&mut self, now: Millis, prober: bool) {
        if self.prober == prober {
            return;
        }
        self.prober = prober;
        for s in &mut self.services {
            if prober {
                s.probes.trigger(now, ProbeTrigger::Prober);
            } else {
                s.probes.set_prober(false);
            }
        }
    }

    /// The prober tab sent a probe for `service` (by name) at `now`: this tab's
    /// probes keep their spacing from it if it becomes the prober.
    pub fn note_remote_probe(&mut self, now: Millis, service: &str) {
        if let Some(s) = self.services.iter_mut().find(|s| s.name == service) {
            s.probes.note_sent(now);
        }
    }

    /// The person asked to retry: every open breaker probes at once.
    pub fn retry_now(&mut self, now: Millis) {
        for s in &mut self.services {
            s.probes.trigger(now, ProbeTrigger::UserRetry);
        }
    }

    /// Engine time `now` is wall-clock `wall_clock_ms` (Unix ms): reports are dated
    /// with it. Call it at start and now and then (the two clocks drift).
    pub fn set_wall_clock(&mut self, now: Millis, wall_clock_ms: u64) {
        if let Some(reporter) = &mut self.reporter {
            reporter.set_wall_clock(now, wall_clock_ms);
        }
    }

    /// Whether another tab can take this tab's reports (the tabs share a channel).
    /// With one, only the prober tab reports breakers, and the others forward their
    /// fallback reports to it ([`Dispatch::Forward`]); without (the default), this
    /// tab reports everything itself.
    pub fn set_relay(&mut self, relay: bool) {
        self.relay = relay;
    }

    /// A video of `service` entered (`entered`) or left the fallback: a report.
    pub fn video_fallback(&mut self, now: Millis, service: usize, media_id: &str, entered: bool) {
        let forward = self.relay && !self.prober;
        let (Some(reporter), Some(s)) = (&mut self.reporter, self.services.get(service)) else { return };
        let media = redact_url(media_id, &self.config.secrets);
        let subject = Subject { index: service, name: &s.name, counts: self.metrics.totals(service) };
        reporter.fallback(now, subject, &media, entered, forward);
    }

    /// A report another tab forwarded (as [`ReportBody::to_value`] wrote it): the
    /// prober passes it through its rate limit; other tabs, and reports that are
    /// not well-formed or name an unknown service, are ignored.
    pub fn relay_report(&mut self, now: Millis, report: &Value) {
        if !self.prober {
            return;
        }
        let Some(report) = ReportBody::from_value(report) else { return };
        if self.service_index(&report.service).is_none() {
            return;
        }
        if let Some(reporter) = &mut self.reporter {
            reporter.relay(now, report);
        }
    }

    /// The next report to send to `report.url`, or to forward to the prober tab.
    pub fn poll_report(&mut self, now: Millis) -> Option<Dispatch> {
        self.reporter.as_mut()?.poll(now)
    }

    /// The page id reports carry, when reporting.
    pub fn report_page(&self) -> Option<&str> {
        self.reporter.as_ref().map(Reporter::page)
    }

    /// A playback-level signal (fallback entered, video back) for a service's notices.
    pub fn playback_signal(&mut self, now: Millis, service: usize, signal: Signal) {
        self.signal(now, Some(service), signal);
    }

    /// A video element of this service is watched (`true`) or no longer (`false`).
    /// While one is, the breaker closing is silent: the video layer signals
    /// [`Signal::Recovered`] when the video is back.
    pub fn watch_video(&mut self, service: usize, watched: bool) {
        if let Some(s) = self.service_mut(service) {
            s.videos = if watched { s.videos.saturating_add(1) } else { s.videos.saturating_sub(1) };
        }
    }

    /// The service's video stalled or failed to load: a failure for its breaker,
    /// like a request that timed out. Ignored while the client is offline.
    pub fn record_video_failure(&mut self, now: Millis, service: usize) {
        if !self.online {
            return;
        }
        let transition = self.service_mut(service).and_then(|s| s.breaker.record_failure(now, false, None));
        self.on_transition(now, service, transition, None);
    }

    /// Closes a service's breaker by hand. Returns false for an unknown service.
    pub fn reset(&mut self, now: Millis, service: &str) -> bool {
        self.manual(now, service, |b, now| b.reset(now))
    }

    /// Forces a service's breaker open until [`Engine::reset`]. Returns false for
    /// an unknown service.
    pub fn isolate(&mut self, now: Millis, service: &str) -> bool {
        self.manual(now, service, |b, now| b.isolate(now))
    }

    /// A service's breaker state, by index.
    pub fn state(&self, service: usize) -> Option<BreakerState> {
        self.service(service).map(|s| s.breaker.state())
    }

    /// Index of a service by name.
    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        remove_at(&mut self.events, 0)
    }

    /// The next attempt to cut short: one still out when its breaker opened (a
    /// request the browser may even hold behind another for the same URL). The
    /// browser layer aborts it and reports [`Outcome::Aborted`]; the caller then
    /// gets `BREAKER_OPEN`, and the dead server one request less.
    pub fn poll_cut(&mut self) -> Option<RequestId> {
        remove_at(&mut self.cuts, 0)
    }

    /// Counters, latencies and time in state, as plain data.
    pub fn metrics(&self, now: Millis) -> MetricsSnapshot {
        self.metrics.snapshot(now)
    }

    /// The breakers' state, to persist or share. Holds no URL and no secret.
    pub fn snapshot(&self, now: Millis, wall_clock_ms: u64) -> EngineSnapshot {
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            saved_at: wall_clock_ms,
            services: self
                .services
                .iter()
                .map(|s| ServiceSnapshot { name: s.name.clone(), breaker: s.breaker.snapshot(now) })
                .collect(),
        }
    }

    /// Adopts a stored or shared snapshot, minus the time that has passed since it
    /// was taken. Services it names that the config doesn't have are ignored.
    pub fn restore(&mut self, snapshot: &EngineSnapshot, now: Millis, wall_clock_ms: u64) -> Result<(), RestoreError> {
        self.restoring = true;
        let restored = self.apply(snapshot, now, wall_clock_ms, false);
        self.restoring = false;
        restored
    }

    /// Adopts another live tab's breakers, like [`Engine::restore`], except that a
    /// half-open breaker there is half-open here too: the other tab's probes
    /// succeeded, so this tab may send trials instead of failing fast until the
    /// other one happens to close it.
    pub fn adopt(&mut self, snapshot: &EngineSnapshot, now: Millis, wall_clock_ms: u64) -> Result<(), RestoreError> {
        self.apply(snapshot, now, wall_clock_ms, true)
    }

    fn apply(
        &mut self,
        snapshot: &EngineSnapshot,
        now: Millis,
        wall_clock_ms: u64,
        live: bool,
    ) -> Result<(), RestoreError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(RestoreError::Version);
        }
        if snapshot.saved_at > wall_clock_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(RestoreError::FromTheFuture);
        }
        let elapsed = wall_clock_ms.saturating_sub(snapshot.saved_at);
        if elapsed > self.config.persistence.max_age_ms {
            return Err(RestoreError::Stale);
        }
        for stored in &snapshot.services {
            let Some(service) = self.service_index(&stored.name) else {
                continue;
            };
            let adjusted = BreakerSnapshot {
                open_remaining_ms: stored.breaker.open_remaining_ms.saturating_sub(elapsed),
                ..stored.breaker.clone()
            };
            let transition = self.service_mut(service).and_then(|s| {
                if live && adjusted.state == BreakerState::HalfOpen {
                    s.breaker.half_open(now)
                } else {
                    s.breaker.restore(&adjusted, now)
                }
            });
            self.on_transition(now, service, transition, None);
        }
        Ok(())
    }

    fn admit(&mut self, now: Millis, id: RequestId) -> Start {
        let Some(index) = self.requests.iter().position(|r| r.id == id) else {
            return Start::Fail(Failure::Aborted);
        };
        let Some(route) = self.requests.get(index).map(|r| r.route) else {
            return Start::Fail(Failure::Aborted);
        };
        let Some(service) = self.service_mut(route.service) else {
            return Start::PassThrough;
        };
        let (admission, transition) = service.breaker.admit(now);
        self.on_transition(now, route.service, transition, None);
        let trial = match admission {
            Admission::Allowed => false,
            Admission::Trial => true,
            Admission::Rejected { retry_after_ms } => {
                self.metrics.on_rejected(route.service, route.class);
                self.drop_request(index);
                return Start::Fail(self.open_failure(now, route.service, retry_after_ms));
            }
        };
        let Some(request) = self.requests.get_mut(index) else {
            return Start::Fail(Failure::Aborted);
        };
        request.trial = trial;
        request.attempt_started = Some(now);
        if request.retry.attempts() == 1 {
            // Only requests that reach the server earn retries for others.
            self.budget.deposit(now);
        }
        Start::Send(Attempt {
            id,
            service: route.service,
            class: route.class,
            attempt: request.retry.attempts(),
            timeout_ms: self.config.timeout_for(route.class),
        })
    }

    fn on_transition(
        &mut self,
        now: Millis,
        service: usize,
        transition: Option<Transition>,
        retry_after_ms: Option<Millis>,
    ) {
        let Some(t) = transition else { return };
        self.metrics.on_state(service, t.to, now);
        let seed = self.rng.next_u64();
        if matches!(t.to, BreakerState::Open | BreakerState::Isolated) {
            for request in self.requests.iter_mut() {
                if request.route.service == service && request.attempt_started.is_some() && !request.cut {
                    request.cut = true;
                    self.cuts.push(request.id);
                }
            }
        }
        let Some(s) = self.service_mut(service) else {
            return;
        };
        match t.to {
            BreakerState::Open if s.probe_url.is_none() => {
                // Without a probe URL the half-open trial is the probe: the breaker
                // stays open as long as the probe schedule would wait (15 s for the
                // first 5 minutes, then backing off), not its own doubling open time.
                let retry_at = retry_after_ms.map(|d| now.saturating_add(d));
                let due = match (t.from, s.probes.is_active()) {
                    (BreakerState::HalfOpen, true) => s.probes.trial_failed(now),
                    _ => {
                        s.probes.start(now, Rng::new(seed), retry_at);
                        s.probes.due_at()
                    }
                };
                if let Some(due) = due {
                    s.breaker.hold_open_until(due.max(retry_at.unwrap_or(0)));
                }
            }
            // The episode's schedule goes on through the trial.
            BreakerState::HalfOpen if s.probe_url.is_none() => s.probes.trial_sent(now),
            BreakerState::Open => {
                // A failed trial means the probes were too optimistic: wait for the
                // breaker's open time, which grows with each reopen, before probing.
                let not_before = if t.from == BreakerState::HalfOpen {
                    s.breaker.open_until()
                } else {
                    retry_after_ms.map(|d| now.saturating_add(d))
                };
                if s.probe_url.is_some() {
                    s.probes.start(now, Rng::new(seed), not_before);
                }
            }
            BreakerState::HalfOpen | BreakerState::Closed | BreakerState::Isolated => s.probes.stop(),
        }
        let (name, videos) = (s.name.clone(), s.videos);
        self.push(Event::State { service: name.clone(), from: t.from, to: t.to, at: t.at });
        if let Some(reporter) = &mut self.reporter {
            let state = match t.to {
                BreakerState::Open => Some(ReportState::Open),
                BreakerState::Closed => Some(ReportState::Closed),
                BreakerState::HalfOpen | BreakerState::Isolated => None,
            };
            // Only the prober tab reports breakers; the others' changes reach it.
            let report = (self.prober || !self.relay) && !self.restoring;
            let subject = Subject { index: service, name: &name, counts: self.metrics.totals(service) };
            reporter.breaker(now, subject, state, report);
        }
        match t.to {
            BreakerState::Open | BreakerState::Isolated => self.signal(now, Some(service), Signal::Unavailable),
            BreakerState::Closed if videos > 0 => {}
            BreakerState::Closed => self.signal(now, Some(service), Signal::Recovered),
            BreakerState::HalfOpen => {}
        }
    }

    /// `BreakerOpen` for a service, with the best guess of when to come back: the
    /// next probe if one is scheduled, else what the breaker said.
    fn open_failure(&self, now: Millis, service: usize, breaker_says: Option<Millis>) -> Failure {
        let s = self.service(service);
        let probe_due = s.and_then(|s| s.probes.next_due()).map(|t| t.saturating_sub(now));
        let isolated = s.is_some_and(|s| s.breaker.state() == BreakerState::Isolated);
        let open_for = s.and_then(|s| s.breaker.open_until()).map(|t| t.saturating_sub(now));
        let retry_after_ms = if isolated { None } else { probe_due.or(breaker_says).or(open_for) };
        Failure::BreakerOpen { service: self.service_name(service), retry_after_ms }
    }

    fn manual(
        &mut self,
        now: Millis,
        service: &str,
        act: impl FnOnce(&mut Breaker, Millis) -> Option<Transition>,
    ) -> bool {
        let Some(index) = self.service_index(service) else {
            return false;
        };
        let transition = self.service_mut(index).and_then(|s| act(&mut s.breaker, now));
        self.on_transition(now, index, transition, None);
        true
    }

    fn signal(&mut self, now: Millis, service: Option<usize>, signal: Signal) {
        let name = service.and_then(|i| self.services.get(i)).map(|s| s.name.as_str());
        if let Some(notice) = self.notifier.signal(now, name, signal) {
            self.push(Event::Notice(notice));
        }
    }

    fn fail(&mut self, index: usize, failure: Failure) -> Next {
        self.drop_request(index);
        Next::Fail(failure)
    }

    /// Frees what the request at `index`, about to be dropped, held in its breaker.
    fn release(&mut self, index: usize) {
        let Some(&InFlight { route, trial, attempt_started: Some(_), .. }) = self.requests.get(index) else { return };
        if let Some(s) = self.service_mut(route.service) {
            s.breaker.record_ignored(trial);
        }
        self.metrics.on_result(route.service, route.class, Verdict::NotCounted, false, 0);
    }

    fn push(&mut self, event: Event) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            remove_at(&mut self.events, 0);
        }
        self.events.push(event);
    }

    fn find(&self, id: RequestId) -> Option<&InFlight> {
        self.requests.iter().find(|r| r.id == id)
    }

    /// A request's URL, kept (with its secrets) in a recycled buffer: redacted
    /// only when an event carries it, which most requests never need.
    fn copy_url(&mut self, url: &str) -> String {
        let mut copy = self.spare_urls.pop().unwrap_or_default();
        copy.clear();
        copy.push_str(url);
        copy
    }

    /// Drops a request where it lies (moving it out of the list is the costlier
    /// part of a decision); its URL buffer goes back for the next one.
    fn drop_request(&mut self, index: usize) {
        let Some(tail) = self.requests.get_mut(index..) else { return };
        tail.rotate_left(1);
        if let Some(last) = self.requests.last_mut() {
            if self.spare_urls.len() < SPARE_URLS {
                self.spare_urls.push(std::mem::take(&mut last.url));
            }
        }
        self.requests.truncate(self.requests.len().saturating_sub(1));
    }

    fn service(&self, index: usize) -> Option<&Service> {
        self.services.get(index)
    }

    fn service_mut(&mut self, index: usize) -> Option<&mut Service> {
        self.services.get_mut(index)
    }

    fn service_name(&self, index: usize) -> String {
        self.service(index).map(|s| s.name.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::{Dispatch, ReportState};
    use crate::engine::value::{any_value, from_json_text};
    use proptest::prelude::*;

    fn snapshot() -> EngineSnapshot {
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            saved_at: 1_771_200_000_000,
            services: vec![
                ServiceSnapshot {
                    name: "plex".into(),
                    breaker: BreakerSnapshot { state: BreakerState::Open, open_remaining_ms: 12_345, reopen_count: 2 },
                },
                ServiceSnapshot {
                    name: "api".into(),
                    breaker: BreakerSnapshot { state: BreakerState::Closed, open_remaining_ms: 0, reopen_count: 0 },
                },
            ],
        }
    }

    #[test]
    fn a_snapshot_round_trips_through_a_value_and_json() {
        let s = snapshot();
        assert_eq!(
            s.to_value().to_json(),
            r#"{"version":1,"savedAt":1771200000000,"services":[{"name":"plex","breaker":{"state":"open","openRemainingMs":12345,"reopenCount":2}},{"name":"api","breaker":{"state":"closed","openRemainingMs":0,"reopenCount":0}}]}"#
        );
        assert_eq!(EngineSnapshot::from_value(&s.to_value()), Some(s.clone()));
        assert_eq!(EngineSnapshot::from_value(&from_json_text(&s.to_value().to_json())), Some(s));
    }

    #[test]
    fn garbage_is_not_a_snapshot() {
        let good = snapshot().to_value().to_json();
        let garbage = [
            good.replace(r#""version":1"#, r#""version":"1""#),
            good.replace(r#""version":1"#, r#""version":1.5"#),
            good.replace(r#""savedAt":1771200000000"#, r#""savedAt":-1771200000000"#),
            good.replace(r#""openRemainingMs":12345"#, r#""openRemainingMs":-1"#),
            good.replace(r#""reopenCount":2"#, r#""reopenCount":1e10"#),
            good.replace(r#""state":"open""#, r#""state":"ajar""#),
            good.replace(r#""name":"plex","#, r#""name":"plex","colour":"red","#),
            good.replace(r#""name":"plex","#, ""),
            good.replace(r#""savedAt":1771200000000,"#, ""),
            good.replace(r#""version":1,"#, r#""version":1,"extra":null,"#),
            r#"{"version":1,"savedAt":0,"services":{}}"#.into(),
            "null".into(),
            "[]".into(),
            "\"snapshot\"".into(),
        ];
        for text in garbage {
            assert_eq!(EngineSnapshot::from_value(&from_json_text(&text)), None, "{text}");
        }
        assert_eq!(EngineSnapshot::from_value(&Value::Number(f64::NAN)), None);
    }

    #[test]
    fn events_convert_with_their_type_tag() {
        let state =
            Event::State { service: "plex".into(), from: BreakerState::Closed, to: BreakerState::HalfOpen, at: 7 };
        assert_eq!(
            state.to_value().to_json(),
            r#"{"type":"state","service":"plex","from":"closed","to":"halfOpen","at":7}"#
        );
        let retry =
            Event::Retry { service: "api".into(), url: "/a?t=x".into(), attempt: 2, delay_ms: 1_500, status: None };
        assert_eq!(
            retry.to_value().to_json(),
            r#"{"type":"retry","service":"api","url":"/a?t=x","attempt":2,"delayMs":1500,"status":null}"#
        );
        let retry = Event::Retry { service: "api".into(), url: "/".into(), attempt: 3, delay_ms: 0, status: Some(503) };
        assert!(retry.to_value().to_json().ends_with(r#""status":503}"#));
        let probe = Event::Probe { service: "plex".into(), healthy: true };
        assert_eq!(probe.to_value().to_json(), r#"{"type":"probe","service":"plex","healthy":true}"#);
        let mut engine = Engine::new(Config::default(), 1, 0);
        engine.set_online(0, false);
        let notice = engine.poll_event().unwrap().to_value();
        assert_eq!(
            notice.to_json(),
            r#"{"type":"notice","kind":"offline","key":"offline","severity":"warning","text":"You're offline. Your workout continues.","durationMs":5000,"service":null,"replaces":false}"#
        );
    }

    #[test]
    fn a_non_prober_with_an_open_breaker_never_probes_nor_spins() {
        // Given an engine that is not the prober, whose plex breaker a remote tab's
        // snapshot opened
        let mut engine = Engine::new(Config::default(), 1, 0);
        engine.set_prober(0, false);
        engine.restore(&snapshot(), 0, snapshot().saved_at).unwrap();
        assert_eq!(engine.state(0), Some(BreakerState::Open));
        // Then for an hour no probe is ever due, and acting on a deadline always
        // moves it into the future
        let mut now = 0;
        while now < 3_600_000 {
            assert_eq!(engine.poll_probe(now), None);
            if engine.poll_timeout().is_some_and(|d| d <= now) {
                engine.handle_timeout(now);
                assert!(engine.poll_timeout().map_or(true, |d| d > now), "spin at {now}");
            }
            now += 1_000;
        }
        assert_eq!(engine.poll_timeout(), None);
        assert_eq!(engine.state(0), Some(BreakerState::Open));
        // When it becomes the prober, a probe is due at once
        engine.set_prober(now, true);
        assert_eq!(engine.poll_timeout(), Some(now));
        assert_eq!(engine.poll_probe(now).map(|p| p.service), Some(0));
        assert_eq!(engine.poll_probe(now), None);
    }

    #[test]
    fn a_tab_taking_over_the_probes_keeps_15_s_from_the_last_tabs_probe() {
        // Given a non-prober tab whose plex breaker is open, told that the prober
        // tab sent a probe at 100 s,
        let mut engine = Engine::new(Config::default(), 1, 0);
        engine.set_prober(0, false);
        engine.restore(&snapshot(), 0, snapshot().saved_at).unwrap();
        engine.note_remote_probe(100_000, "plex");
        // when the prober closes and this tab takes over 2 s later,
        engine.set_prober(102_000, true);
        // then its first probe waits for 15 s after the other tab's, not 0 s.
        assert_eq!(engine.poll_probe(114_999), None);
        assert_eq!(engine.poll_timeout(), Some(115_000));
        assert_eq!(engine.poll_probe(115_000).map(|p| p.service), Some(0));
        // An unknown service name changes nothing.
        engine.note_remote_probe(116_000, "nope");
    }

    /// What one tab shares with another after its own change: the services that moved.
    fn shared(engine: &mut Engine, now: Millis) -> Option<EngineSnapshot> {
        let mut changed = Vec::new();
        while let Some(event) = engine.poll_event() {
            if let Event::State { service, .. } = event {
                changed.push(service);
            }
        }
        let mut snapshot = engine.snapshot(now, now);
        snapshot.services.retain(|s| changed.contains(&s.name));
        (!snapshot.services.is_empty()).then_some(snapshot)
    }

    fn notices(engine: &mut Engine) -> Vec<&'static str> {
        std::iter::from_fn(|| engine.poll_event())
            .filter_map(|e| if let Event::Notice(n) = e { Some(n.key) } else { None })
            .collect()
    }

    #[test]
    fn video_stalls_open_the_breaker_and_a_watched_video_announces_its_own_return() {
        // Given a watched plex video
        let mut engine = Engine::new(Config::default(), 1, 0);
        engine.watch_video(0, true);
        // When it stalls three times (plex opens after 3 failures)
        for t in [1_000, 3_000, 5_000] {
            engine.record_video_failure(t, 0);
        }
        // Then the breaker is open and the person is told
        assert_eq!(engine.state(0), Some(BreakerState::Open));
        assert_eq!(notices(&mut engine), ["unavailable"]);
        // And when it closes again, the breaker says nothing: the video will
        engine.reset(60_000, "plex");
        assert_eq!(notices(&mut engine), Vec::<&str>::new());
        engine.playback_signal(61_000, 0, Signal::Recovered);
        assert_eq!(notices(&mut engine), ["restored"]);
        // And once no video is watched, the breaker announces it again
        engine.watch_video(0, false);
        for t in [70_000, 70_001, 70_002] {
            engine.record_video_failure(t, 0);
        }
        engine.reset(130_000, "plex");
        assert_eq!(notices(&mut engine), ["unavailable", "restored"]);
    }

    #[test]
    fn video_failures_while_offline_or_for_unknown_services_count_for_nothing() {
        let mut engine = Engine::new(Config::default(), 1, 0);
        engine.set_online(0, false);
        for t in 1..10 {
            engine.record_video_failure(t, 0);
        }
        assert_eq!(engine.state(0), Some(BreakerState::Closed));
        engine.record_video_failure(10, 99);
        engine.watch_video(99, true);
        engine.watch_video(0, false); // more detaches than attaches saturate at 0
    }

    #[test]
    fn attempts_still_out_when_the_breaker_opens_are_cut_and_fail_as_breaker_open() {
        let mut engine = Engine::new(Config::default(), 1, 0);
        let send = |engine: &mut Engine, now| {
            let Start::Send(attempt) = engine.begin(now, "GET", "/api/v1/proxy/plex/library/7") else { panic!() };
            attempt.id
        };
        // Given a request out (say, held by the browser behind another for its URL)
        let waiting = send(&mut engine, 0);
        assert_eq!(engine.poll_cut(), None);
        // When three others fail and open the breaker
        for t in 1..=3 {
            let id = send(&mut engine, t);
            let report = Report { outcome: Outcome::Status(502), retry_after: None, wall_clock_ms: t };
            let _ = engine.finish(t, id, report);
        }
        assert_eq!(engine.state(0), Some(BreakerState::Open));
        // Then it is to be cut, once, and its abort fails it as BREAKER_OPEN without counting
        assert_eq!(engine.poll_cut(), Some(waiting));
        assert_eq!(engine.poll_cut(), None);
        let aborted = Report { outcome: Outcome::Aborted, retry_after: None, wall_clock_ms: 5 };
        assert!(matches!(engine.finish(5, waiting, aborted), Next::Fail(Failure::BreakerOpen { .. })));
        // And a request aborted by its caller is still ABORTED
        engine.reset(6, "plex");
        let mine = send(&mut engine, 7);
        let aborted = Report { outcome: Outcome::Aborted, retry_after: None, wall_clock_ms: 8 };
        assert_eq!(engine.finish(8, mine, aborted), Next::Fail(Failure::Aborted));
        assert_eq!(engine.poll_cut(), None);
    }

    #[test]
    fn a_source_unreadable_answer_is_delivered_at_once_and_never_opens_the_breaker() {
        let mut engine = Engine::new(Config::default(), 1, 0);
        for i in 0..10 {
            let Start::Send(attempt) = engine.begin(i, "GET", "/api/v1/proxy/plex/stream/7") else { panic!() };
            let report = Report { outcome: Outcome::Unreadable, retry_after: None, wall_clock_ms: i };
            assert_eq!(engine.finish(i, attempt.id, report), Next::Deliver);
        }
        assert_eq!(engine.state(0), Some(BreakerState::Closed));
    }

    #[test]
    fn an_idle_prober_tab_does_not_strand_a_busy_tab_open() {
        // Given two tabs; A probes, B does not
        let (mut a, mut b) = (Engine::new(Config::default(), 1, 0), Engine::new(Config::default(), 2, 0));
        b.set_prober(0, false);
        // When A's requests open the plex breaker, B adopts it
        for i in 0..3 {
            let Start::Send(attempt) = a.begin(i, "POST", "/api/v1/proxy/plex/library") else { panic!() };
            let report = Report { outcome: Outcome::Status(502), retry_after: None, wall_clock_ms: i };
            a.finish(i, attempt.id, report);
        }
        assert_eq!(a.state(0), Some(BreakerState::Open));
        b.adopt(&shared(&mut a, 10).unwrap(), 10, 10).unwrap();
        assert_eq!(b.state(0), Some(BreakerState::Open));
        // And A's probes succeed while A itself sends nothing
        let mut now = 10;
        while a.state(0) == Some(BreakerState::Open) {
            now = a.poll_timeout().unwrap();
            let probe = a.poll_probe(now).unwrap();
            a.probe_result(now, probe.service, Outcome::Status(200));
        }
        assert_eq!(a.state(0), Some(BreakerState::HalfOpen));
        // Then B, told so, is half-open too and its own trials close it
        b.adopt(&shared(&mut a, now).unwrap(), now, now).unwrap();
        assert_eq!(b.state(0), Some(BreakerState::HalfOpen));
        for _ in 0..3 {
            let Start::Send(attempt) = b.begin(now, "GET", "/api/v1/proxy/plex/library") else { panic!() };
            let report = Report { outcome: Outcome::Status(200), retry_after: None, wall_clock_ms: now };
            b.finish(now, attempt.id, report);
        }
        assert_eq!(b.state(0), Some(BreakerState::Closed));
        // And A, told so, closes without a trial of its own
        a.adopt(&shared(&mut b, now).unwrap(), now, now).unwrap();
        assert_eq!(a.state(0), Some(BreakerState::Closed));
        assert_eq!(a.poll_timeout(), None, "A still has a probe or deadline pending");
    }

    #[test]
    fn adopting_a_timer_service_half_open_does_not_ping_pong() {
        // Given two tabs with the timer-recovered api breaker open in both
        let (mut a, mut b) = (Engine::new(Config::default(), 1, 0), Engine::new(Config::default(), 2, 0));
        a.isolate(0, "api");
        a.reset(0, "api");
        let open = EngineSnapshot {
            version: SNAPSHOT_VERSION,
            saved_at: 0,
            services: vec![ServiceSnapshot {
                name: "api".into(),
                breaker: BreakerSnapshot { state: BreakerState::Open, open_remaining_ms: 30_000, reopen_count: 0 },
            }],
        };
        a.restore(&open, 0, 0).unwrap();
        b.restore(&open, 0, 0).unwrap();
        let _ = (shared(&mut a, 0), shared(&mut b, 0));
        // When A's open time ends first and B adopts its half-open state
        a.handle_timeout(30_000);
        assert_eq!(a.state(1), Some(BreakerState::HalfOpen));
        b.adopt(&shared(&mut a, 30_000).unwrap(), 30_000, 30_000).unwrap();
        assert_eq!(b.state(1), Some(BreakerState::HalfOpen));
        let _ = shared(&mut b, 30_000);
        // Then B's own timer changes nothing more, so there is nothing to send back
        b.handle_timeout(30_001);
        assert_eq!(shared(&mut b, 30_001), None);
    }

    fn reporting(page: &str) -> Engine {
        let mut config = Config::default();
        config.report = Some(crate::engine::config::ReportConfig {
            url: "/api/v1/player/report".into(),
            max_per_minute: 6,
            page_id: Some(page.into()),
        });
        let mut engine = Engine::new(config, 1, 0);
        engine.set_wall_clock(0, 1_771_200_000_000);
        engine
    }

    /// Opens plex with three 502s on URLs carrying a token.
    fn open_plex(engine: &mut Engine, now: Millis) {
        for i in 0..3 {
            let url = "/api/v1/proxy/plex/library?X-Plex-Token=SECRET";
            let Start::Send(attempt) = engine.begin(now + i, "POST", url) else { panic!() };
            let report = Report { outcome: Outcome::Status(502), retry_after: None, wall_clock_ms: 0 };
            engine.finish(now + i, attempt.id, report);
        }
    }

    fn reports(engine: &mut Engine, now: Millis) -> Vec<Dispatch> {
        std::iter::from_fn(|| engine.poll_report(now)).collect()
    }

    fn sent(dispatches: &[Dispatch]) -> Vec<(String, &'static str)> {
        dispatches
            .iter()
            .filter_map(|d| match d {
                Dispatch::Send(r) => Some((r.page.clone(), r.to_value().get("state").map(Value::to_json)?)),
                Dispatch::Forward(_) => None,
            })
            .map(|(page, state)| (page, if state == "\"open\"" { "open" } else { "other" }))
            .collect()
    }

    #[test]
    fn without_report_config_nothing_is_reported() {
        let mut engine = Engine::new(Config::default(), 1, 0);
        open_plex(&mut engine, 0);
        engine.video_fallback(10, 0, "101", true);
        assert_eq!(engine.poll_report(10), None);
        assert_eq!(engine.report_page(), None);
        let probe_due = engine.poll_timeout().unwrap();
        engine.handle_timeout(probe_due);
        assert_eq!(engine.poll_report(probe_due), None);
    }

    #[test]
    fn one_report_per_breaker_transition_with_counts_and_no_token() {
        let mut engine = reporting("tab-a");
        open_plex(&mut engine, 1_000);
        let d = reports(&mut engine, 1_002);
        assert_eq!(d.len(), 1);
        let Dispatch::Send(open) = &d[0] else { panic!() };
        let json = open.to_value().to_json();
        assert!(json.starts_with(r#"{"type":"player-resilience.report","version":1,"event":"breaker","service":"plex","state":"open","at":1771200001002,"since":1771200000000,"counts":{"requests":3,"successes":0,"failures":3,"timeouts":0,"retries":0,"rejected":0},"page":"tab-a","suppressed":0}"#), "{json}");
        assert!(!json.contains("SECRET") && !json.contains("/api/"));
        // Half-open says nothing; closed does, with `since` when half-open began.
        let now = probe_to_half_open(&mut engine);
        assert_eq!(reports(&mut engine, now), vec![]);
        engine.reset(now + 1, "plex");
        let d = reports(&mut engine, now + 1);
        let Some(Dispatch::Send(closed)) = d.first() else { panic!("{d:?}") };
        assert_eq!((closed.state, closed.since), (ReportState::Closed, Some(1_771_200_000_000 + now)));
        // A failed trial reopens from half-open: reported too.
        open_plex(&mut engine, now + 2);
        let now = probe_to_half_open(&mut engine);
        assert_eq!(sent(&reports(&mut engine, now)), [("tab-a".to_string(), "open")]);
        let Start::Send(trial) = engine.begin(now, "GET", "/api/v1/proxy/plex/library") else { panic!() };
        engine.finish(now, trial.id, Report { outcome: Outcome::Status(503), retry_after: None, wall_clock_ms: 0 });
        assert_eq!(engine.state(0), Some(BreakerState::Open));
        assert_eq!(sent(&reports(&mut engine, now)), [("tab-a".to_string(), "open")]);
    }

    /// Healthy probes until the plex breaker is half-open; the time it became so.
    fn probe_to_half_open(engine: &mut Engine) -> Millis {
        let mut now = 0;
        while engine.state(0) == Some(BreakerState::Open) {
            now = engine.poll_timeout().unwrap();
            engine.handle_timeout(now);
            if let Some(probe) = engine.poll_probe(now) {
                engine.probe_result(now, probe.service, Outcome::Status(200));
            }
        }
        assert_eq!(engine.state(0), Some(BreakerState::HalfOpen));
        now
    }

    #[test]
    fn only_the_prober_reports_breakers_and_adopting_reports_the_others_changes() {
        // Given two tabs sharing a channel; B is not the prober
        let (mut a, mut b) = (reporting("tab-a"), reporting("tab-b"));
        a.set_relay(true);
        b.set_relay(true);
        b.set_prober(0, false);
        // When B's requests open the breaker, B reports nothing; A adopts it and reports
        open_plex(&mut b, 0);
        assert_eq!(reports(&mut b, 10), vec![]);
        a.adopt(&shared(&mut b, 10).unwrap(), 10, 10).unwrap();
        assert_eq!(sent(&reports(&mut a, 10)), [("tab-a".to_string(), "open")]);
        // And a restored (persisted) state is not news
        let mut c = reporting("tab-c");
        c.restore(&a.snapshot(20, 20), 20, 20).unwrap();
        assert_eq!(c.state(0), Some(BreakerState::Open));
        assert_eq!(reports(&mut c, 20), vec![]);
        // Without a channel, a non-prober reports its own changes
        let mut d = reporting("tab-d");
        d.set_prober(0, false);
        open_plex(&mut d, 0);
        assert_eq!(sent(&reports(&mut d, 10)), [("tab-d".to_string(), "open")]);
    }

    #[test]
    fn a_non_prober_forwards_its_fallback_and_the_prober_sends_it_within_its_limit() {
        let (mut a, mut b) = (reporting("tab-a"), reporting("tab-b"));
        a.set_relay(true);
        b.set_relay(true);
        b.set_prober(0, false);
        b.set_wall_clock(0, 1_771_200_000_500);
        b.video_fallback(1_000, 0, "101?X-Plex-Token=SECRET", true);
        let d = reports(&mut b, 1_000);
        let [Dispatch::Forward(forwarded)] = &d[..] else { panic!("{d:?}") };
        let value = forwarded.to_value();
        assert!(!value.to_json().contains("SECRET"));
        // Other non-probers ignore it; the prober sends it as it was made
        let mut c = reporting("tab-c");
        c.set_prober(0, false);
        c.relay_report(1_001, &value);
        assert_eq!(reports(&mut c, 1_001), vec![]);
        a.relay_report(1_001, &value);
        let d = reports(&mut a, 1_001);
        let [Dispatch::Send(r)] = &d[..] else { panic!("{d:?}") };
        assert_eq!(
            (r.page.as_str(), r.media_id.as_deref(), r.at),
            ("tab-b", Some("101?X-Plex-Token=REDACTED"), 1_771_200_001_500)
        );
        // Garbage, unknown services and an exhausted budget: nothing gets through at once
        a.relay_report(1_002, &Value::Null);
        let mut ghost = value.clone();
        if let Value::Object(fields) = &mut ghost {
            fields.retain(|(k, _)| k != "service");
            fields.push(("service".into(), "ghost".into()));
        }
        a.relay_report(1_002, &ghost);
        assert_eq!(reports(&mut a, 1_002), vec![]);
        for _ in 0..10 {
            a.relay_report(1_003, &value);
        }
        assert_eq!(reports(&mut a, 1_003).len(), 5, "six tokens a minute");
        let due = a.poll_timeout().unwrap();
        assert!(due > 1_003);
        let d = reports(&mut a, due);
        let [Dispatch::Send(merged)] = &d[..] else { panic!("{d:?}") };
        assert_eq!(merged.suppressed, 4);
    }

    #[test]
    fn fallback_reports_in_a_prober_have_since_and_media() {
        let mut engine = reporting("tab-a");
        engine.video_fallback(1_000, 0, "101", true);
        engine.video_fallback(9_000, 0, "101", false);
        engine.video_fallback(9_000, 42, "101", false); // unknown service
        let d = reports(&mut engine, 9_000);
        let states: Vec<_> =
            d.iter().filter_map(|d| if let Dispatch::Send(r) = d { Some((r.state, r.since)) } else { None }).collect();
        assert_eq!(states, [(ReportState::Enter, None), (ReportState::Exit, Some(1_771_200_001_000))]);
    }

    proptest! {
        #[test]
        fn from_value_never_panics(value in any_value()) {
            if let Some(s) = EngineSnapshot::from_value(&value) {
                prop_assert_eq!(EngineSnapshot::from_value(&s.to_value()), Some(s));
            }
            let _ = BreakerSnapshot::from_value(&value);
            let wrapped = Value::object([("version", 1u32.into()), ("savedAt", 0u64.into()), ("services", value)]);
            let _ = EngineSnapshot::from_value(&wrapped);
        }
    }
}
