//! The engine's event loop in the page: one timer for the engine's next deadline,
//! health probes, events to listeners, persistence and the other tabs.
//!
//! Rule: no JS callback runs while the core is borrowed. Events are drained under
//! the borrow and delivered after it, so a listener may call back into the module.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::{AbortController, AbortSignal};

use super::attempt::send;
use super::browser::{is_online, is_visible, now, seed, timer_ms, wall_clock};
use super::convert::{to_js, to_value};
use super::listeners::Listeners;
use super::report;
use super::storage::Store;
use super::tabs::{Channel, Election, LEASE_RENEW_MS};
use crate::engine::breaker::BreakerState;
use crate::engine::config::Config;
use crate::engine::report::Dispatch;
use crate::engine::resilience::{Engine, EngineSnapshot, Event, Probe, RequestId};
use crate::engine::value::Value;
use crate::engine::Millis;

/// A Rust-side listener to every engine event (the video watcher, the toasts).
pub type Hook = Rc<dyn Fn(&Event)>;

/// Something attached to an instance (a watched video): it lives until it or the
/// instance is disposed, whatever the page keeps of it.
pub trait Attachment {
    /// Stops it.
    fn dispose(&self);
}

/// A call to make once the core is no longer borrowed.
enum Delivery {
    Js(Function, JsValue),
    Hook(Hook, Event),
}

/// Metrics events are sent at most this often.
const METRICS_INTERVAL_MS: Millis = 1_000;

/// One enabled instance: the engine and everything wired to the page.
pub struct Runtime {
    core: RefCell<Core>,
    /// Aborted on dispose: ends every request sequence and probe in flight.
    lifetime: AbortController,
    /// Deliveries not yet made, in the order the engine emitted them. A listener
    /// or hook that calls the engine again (a watched video falling back as its
    /// breaker opens) adds to this queue instead of delivering at once, so the
    /// page hears every event in order.
    deliveries: RefCell<VecDeque<Delivery>>,
    delivering: Cell<bool>,
}

struct Core {
    engine: Engine,
    listeners: Listeners,
    hooks: Vec<(u32, Hook)>,
    next_hook: u32,
    attachments: Vec<Rc<dyn Attachment>>,
    /// Attempts out, with what aborts them if the engine cuts them.
    attempts: Vec<(RequestId, AbortController)>,
    /// The pending wake-up and the engine time it is for.
    timer: Option<(Millis, Timeout)>,
    store: Option<Store>,
    channel: Option<Channel>,
    election: Option<Election>,
    /// When the prober lease was last claimed (lease elections only).
    lease_checked: Option<Millis>,
    page_listeners: Vec<EventListener>,
    /// Applying another tab's state: persist or echo nothing.
    remote: bool,
    metrics_dirty: bool,
    metrics_sent: Option<Millis>,
    /// Where reports go; `None`: nothing is reported.
    report_url: Option<String>,
    disposed: bool,
}

impl Runtime {
    /// Starts an instance: restores persisted state, joins the other tabs and
    /// listens to the page. Startup events reach listeners added right after.
    pub fn start(config: Config) -> Result<Rc<Self>, JsValue> {
        let now = now();
        let persistence = config.persistence.clone();
        let report_url = config.report.as_ref().map(|r| r.url.clone());
        let mut engine = Engine::new(config, seed(), now);
        if report_url.is_some() {
            engine.set_wall_clock(now, wall_clock());
        }
        let store = persistence.enabled.then(|| Store::open(&persistence.key));
        if let Some(stored) = store.as_ref().and_then(Store::load) {
            // Corrupt, foreign, stale or future records are ignored.
            if let Some(snapshot) = EngineSnapshot::from_value(&to_value(&stored)) {
                let _ = engine.restore(&snapshot, now, wall_clock());
            }
        }
        if !is_online() {
            engine.set_online(now, false);
        }
        if !is_visible() {
            engine.set_visible(now, false);
        }
        let runtime = Rc::new(Self {
            lifetime: AbortController::new()?,
            deliveries: RefCell::new(VecDeque::new()),
            delivering: Cell::new(false),
            core: RefCell::new(Core {
                engine,
                listeners: Listeners::default(),
                hooks: Vec::new(),
                next_hook: 0,
                attachments: Vec::new(),
                attempts: Vec::new(),
                timer: None,
                store,
                channel: None,
                election: None,
                lease_checked: None,
                page_listeners: Vec::new(),
                remote: false,
                metrics_dirty: false,
                metrics_sent: None,
                report_url,
                disposed: false,
            }),
        });
        let weak = Rc::downgrade(&runtime);
        let (channel, election) = if persistence.enabled {
            let on_message = on(&weak, |rt, data: JsValue| rt.apply_remote(&data));
            let mut on_elected = on(&weak, |rt, ()| rt.engine(|e, now| e.set_prober(now, true)).unwrap_or(()));
            let channel = Channel::join(&persistence.key, on_message);
            let election = Election::join(&format!("{}:prober", persistence.key), seed(), move || on_elected(()));
            (channel, election)
        } else {
            (None, None)
        };
        let page_listeners = listen_to_page(&weak);
        if let Ok(mut core) = runtime.core.try_borrow_mut() {
            if matches!(election, Some(Election::Lock { .. })) {
                // Granted asynchronously; until then another tab may be probing.
                core.engine.set_prober(now, false);
            }
            // With a channel, the prober tab reports for all; without, each tab itself.
            core.engine.set_relay(channel.is_some());
            core.channel = channel;
            core.election = election;
            core.page_listeners = page_listeners;
            // A first wake-up right away delivers the startup events.
            let first = Rc::downgrade(&runtime);
            core.timer = Some((now, Timeout::new(0, move || with(&first, |rt| rt.tick()))));
        }
        Ok(runtime)
    }

    /// Ends every sequence, timer, listener, channel and lock; keeps the state stored.
    pub fn dispose(&self) {
        let Ok(mut core) = self.core.try_borrow_mut() else {
            return;
        };
        if core.disposed {
            return;
        }
        core.disposed = true;
        core.persist(now());
        core.timer = None;
        core.page_listeners.clear();
        core.listeners.clear();
        core.hooks.clear();
        core.channel = None;
        core.election = None;
        let attachments = std::mem::take(&mut core.attachments);
        drop(core);
        for attachment in attachments {
            attachment.dispose();
        }
        self.lifetime.abort();
    }

    /// Whether [`Runtime::dispose`] has run.
    pub fn is_disposed(&self) -> bool {
        self.core.try_borrow().map_or(true, |core| core.disposed)
    }

    /// The signal every request and probe of this instance listens to.
    pub fn lifetime(&self) -> AbortSignal {
        self.lifetime.signal()
    }

    /// The configured secret parameters, to redact URLs in errors.
    pub fn secrets(&self) -> Vec<String> {
        self.core.try_borrow().map(|core| core.engine.config().secrets.clone()).unwrap_or_default()
    }

    /// A service's name by index.
    pub fn service_name(&self, service: usize) -> String {
        let name = |core: &Core| core.engine.config().services.get(service).map(|s| s.name.clone());
        self.core.try_borrow().ok().and_then(|core| name(&core)).unwrap_or_default()
    }

    /// Runs `act` on the engine at the current time, then delivers what it caused.
    /// `None` only if called re-entrantly, which the design rules out.
    pub fn engine<T>(self: &Rc<Self>, act: impl FnOnce(&mut Engine, Millis) -> T) -> Option<T> {
        let out = {
            let mut core = self.core.try_borrow_mut().ok()?;
            core.metrics_dirty = true;
            let now = now();
            core.sync_wall_clock(now);
            act(&mut core.engine, now)
        };
        self.settle();
        Some(out)
    }

    /// A signal that aborts attempt `id` if the engine cuts it (its breaker
    /// opened while it was out); [`Runtime::attempt_done`] when it ends.
    pub fn attempt_signal(&self, id: RequestId) -> Option<AbortSignal> {
        let controller = AbortController::new().ok()?;
        let signal = controller.signal();
        self.core.try_borrow_mut().ok()?.attempts.push((id, controller));
        Some(signal)
    }

    /// Forgets attempt `id`'s signal.
    pub fn attempt_done(&self, id: RequestId) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.attempts.retain(|(a, _)| *a != id);
        }
    }

    /// Tells the engine whether the browser is online.
    pub fn set_online(self: &Rc<Self>, online: bool) {
        self.engine(|e, now| e.set_online(now, online));
    }

    /// Adds a listener; `None` for an unknown event name.
    pub fn add_listener(self: &Rc<Self>, name: &str, listener: Function) -> Option<u32> {
        let id = self.core.try_borrow_mut().ok()?.listeners.add(name, listener);
        // A metrics listener may need the timer.
        self.settle();
        id
    }

    /// Calls `hook` with every engine event from now on; returns its id.
    pub fn add_hook(&self, hook: Hook) -> Option<u32> {
        let mut core = self.core.try_borrow_mut().ok()?;
        core.next_hook = core.next_hook.wrapping_add(1);
        let id = core.next_hook;
        core.hooks.push((id, hook));
        Some(id)
    }

    /// Keeps `attachment` alive until [`Runtime::detach`] or dispose.
    pub fn attach(&self, attachment: Rc<dyn Attachment>) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.attachments.push(attachment);
        }
    }

    /// Lets go of the attachment at `ptr`.
    pub fn detach(&self, ptr: *const ()) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.attachments.retain(|a| !std::ptr::eq(Rc::as_ptr(a).cast::<()>(), ptr));
        }
    }

    /// Removes a hook by id.
    pub fn remove_hook(&self, id: u32) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.hooks.retain(|(i, _)| *i != id);
        }
    }

    /// Sends an event made outside the engine (`fallback`) to its listeners.
    pub fn emit(&self, name: &str, payload: &JsValue) {
        let listeners = match self.core.try_borrow() {
            Ok(core) if !core.disposed => core.listeners.of(name),
            _ => return,
        };
        for listener in listeners {
            call(&listener, payload);
        }
    }

    /// Removes a listener by id.
    pub fn remove_listener(&self, id: u32) {
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.listeners.remove(id);
        }
    }

    /// The engine's state (no events are caused).
    pub fn read<T>(&self, read: impl FnOnce(&Engine, Millis) -> T) -> Option<T> {
        self.core.try_borrow().ok().map(|core| read(&core.engine, now()))
    }

    /// The timer fired: act on due deadlines, send due probes, deliver events.
    fn tick(self: &Rc<Self>) {
        let probes = {
            let Ok(mut core) = self.core.try_borrow_mut() else {
                return;
            };
            core.timer = None;
            if core.disposed {
                return;
            }
            let now = now();
            core.sync_wall_clock(now);
            core.engine.handle_timeout(now);
            core.claim_lease(now);
            let mut probes = Vec::new();
            while let Some(probe) = core.engine.poll_probe(now) {
                core.announce_probe(probe.service);
                probes.push(probe);
            }
            probes
        };
        for probe in probes {
            spawn_local(run_probe(self.clone(), probe));
        }
        self.settle();
    }

    /// Another tab's message: its breakers changed (adopt them without echoing
    /// them back), it forwards a report (the prober sends it), or it probed.
    fn apply_remote(self: &Rc<Self>, data: &JsValue) {
        let message = to_value(data);
        if matches!(message.get("type"), Some(Value::String(t)) if t == "probe") {
            if let (Some(Value::String(service)), Ok(mut core)) = (message.get("service"), self.core.try_borrow_mut()) {
                core.engine.note_remote_probe(now(), service);
            }
            return;
        }
        if matches!(message.get("type"), Some(Value::String(t)) if t == "report") {
            if let (Some(report), Ok(mut core)) = (message.get("report"), self.core.try_borrow_mut()) {
                let now = now();
                core.sync_wall_clock(now);
                core.engine.relay_report(now, report);
            }
            return self.settle();
        }
        let Some(snapshot) = message.get("snapshot").and_then(EngineSnapshot::from_value) else {
            return;
        };
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.remote = true;
            let _ = core.engine.adopt(&snapshot, now(), wall_clock());
        }
        self.settle();
        if let Ok(mut core) = self.core.try_borrow_mut() {
            core.remote = false;
        }
    }

    /// Drains the engine's events, persists and shares breaker changes, re-arms
    /// the timer, then calls the listeners (with no borrow held).
    fn settle(self: &Rc<Self>) {
        let now = now();
        let mut calls: Vec<Delivery> = Vec::new();
        let mut cuts: Vec<AbortController> = Vec::new();
        let beacons;
        {
            let Ok(mut core) = self.core.try_borrow_mut() else {
                return;
            };
            if core.disposed {
                return;
            }
            let mut shared = Vec::new();
            let mut changed = false;
            while let Some(event) = core.engine.poll_event() {
                let name = match &event {
                    Event::Notice(_) => "notice",
                    Event::State { service, .. } => {
                        changed = true;
                        shared.push(service.clone());
                        "state"
                    }
                    Event::Retry { .. } => "retry",
                    Event::Probe { .. } => "probe",
                };
                calls.extend(core.hooks.iter().map(|(_, hook)| Delivery::Hook(hook.clone(), event.clone())));
                let listeners = core.listeners.of(name);
                if !listeners.is_empty() {
                    let payload = to_js(&event.to_value());
                    calls.extend(listeners.into_iter().map(|f| Delivery::Js(f, payload.clone())));
                }
            }
            while let Some(id) = core.engine.poll_cut() {
                if let Some(at) = core.attempts.iter().position(|(a, _)| *a == id) {
                    cuts.push(core.attempts.swap_remove(at).1);
                }
            }
            if changed && !core.remote {
                core.persist(now);
                core.share(now, &shared);
            }
            beacons = core.dispatch_reports(now);
            if core.metrics_due().is_some_and(|due| due <= now) {
                core.metrics_dirty = false;
                core.metrics_sent = Some(now);
                let mut metrics = core.engine.metrics(now).to_value();
                if let Value::Object(fields) = &mut metrics {
                    fields.insert(0, ("type".into(), Value::String("metrics".into())));
                }
                let payload = to_js(&metrics);
                calls.extend(core.listeners.of("metrics").into_iter().map(|f| Delivery::Js(f, payload.clone())));
            }
            self.rearm(&mut core, now);
        }
        // Aborted outside the borrow: an abort runs the attempt's listeners at once.
        for cut in cuts {
            cut.abort();
        }
        if let Some((url, bodies)) = beacons {
            for body in bodies {
                report::send(&url, &body);
            }
        }
        if let Ok(mut queue) = self.deliveries.try_borrow_mut() {
            queue.extend(calls);
        }
        if self.delivering.replace(true) {
            return;
        }
        loop {
            let next = self.deliveries.try_borrow_mut().ok().and_then(|mut queue| queue.pop_front());
            match next {
                Some(Delivery::Js(listener, payload)) => call(&listener, &payload),
                Some(Delivery::Hook(hook, event)) => hook(&event),
                None => break,
            }
        }
        self.delivering.set(false);
    }

    /// Sets the one timer to the earliest deadline, unless it already is.
    fn rearm(self: &Rc<Self>, core: &mut Core, now: Millis) {
        let due = [core.engine.poll_timeout(), core.metrics_due(), core.lease_due()].into_iter().flatten().min();
        if core.timer.as_ref().map(|(at, _)| *at) == due {
            return;
        }
        let weak = Rc::downgrade(self);
        core.timer =
            due.map(|at| (at, Timeout::new(timer_ms(at.saturating_sub(now)), move || with(&weak, |rt| rt.tick()))));
    }
}

impl Core {
    /// Stores the full snapshot.
    fn persist(&mut self, now: Millis) {
        let snapshot = self.engine.snapshot(now, wall_clock());
        if let Some(store) = &mut self.store {
            store.save(&to_js(&snapshot.to_value()));
        }
    }

    /// Tells the other tabs about the services that changed.
    fn share(&self, now: Millis, services: &[String]) {
        let Some(channel) = &self.channel else { return };
        if services.is_empty() {
            return;
        }
        let mut snapshot = self.engine.snapshot(now, wall_clock());
        snapshot.services.retain(|s| services.contains(&s.name));
        let message = Object::new();
        let _ = Reflect::set(&message, &"type".into(), &"state".into());
        let _ = Reflect::set(&message, &"snapshot".into(), &to_js(&snapshot.to_value()));
        channel.post(&message);
    }

    /// Tells the other tabs this one sent a probe for `service`: a tab that takes
    /// over the probes keeps its spacing from it.
    fn announce_probe(&self, service: usize) {
        let (Some(channel), Some(s)) = (&self.channel, self.engine.config().services.get(service)) else { return };
        let message = Object::new();
        let _ = Reflect::set(&message, &"type".into(), &"probe".into());
        let _ = Reflect::set(&message, &"service".into(), &s.name.as_str().into());
        channel.post(&message);
    }

    /// Keeps report times in wall-clock time (the two clocks drift apart).
    fn sync_wall_clock(&mut self, now: Millis) {
        if self.report_url.is_some() {
            self.engine.set_wall_clock(now, wall_clock());
        }
    }

    /// Drains the engine's reports: forwards go to the prober tab over the
    /// channel now; the JSON bodies to send are returned with the URL.
    fn dispatch_reports(&mut self, now: Millis) -> Option<(String, Vec<String>)> {
        let url = self.report_url.clone()?;
        let mut bodies = Vec::new();
        while let Some(dispatch) = self.engine.poll_report(now) {
            match (dispatch, &self.channel) {
                (Dispatch::Forward(report), Some(channel)) => {
                    let message = Object::new();
                    let _ = Reflect::set(&message, &"type".into(), &"report".into());
                    let _ = Reflect::set(&message, &"report".into(), &to_js(&report.to_value()));
                    channel.post(&message);
                }
                // No channel after all: this tab sends it.
                (Dispatch::Send(report) | Dispatch::Forward(report), _) => bodies.push(report.to_value().to_json()),
            }
        }
        Some((url, bodies))
    }

    /// When the next metrics event is due, if anyone listens and anything changed.
    fn metrics_due(&self) -> Option<Millis> {
        (self.metrics_dirty && self.listeners.any("metrics"))
            .then(|| self.metrics_sent.map_or(0, |t| t.saturating_add(METRICS_INTERVAL_MS)))
    }

    fn any_open(&self) -> bool {
        (0..self.engine.config().services.len()).any(|i| self.engine.state(i) == Some(BreakerState::Open))
    }

    /// When a lease election next claims or renews the lease: while a breaker is
    /// open, or always when reporting (only the prober reports breakers).
    fn lease_due(&self) -> Option<Millis> {
        let leased = matches!(self.election, Some(Election::Lease(_)));
        (leased && (self.any_open() || self.report_url.is_some()))
            .then(|| self.lease_checked.map_or(0, |t| t.saturating_add(LEASE_RENEW_MS)))
    }

    /// Claims or renews the prober lease if due, and probes only while holding it.
    fn claim_lease(&mut self, now: Millis) {
        if !self.lease_due().is_some_and(|due| due <= now) {
            return;
        }
        self.lease_checked = Some(now);
        if let Some(Election::Lease(lease)) = &self.election {
            let holds = lease.claim(wall_clock());
            self.engine.set_prober(now, holds);
        }
    }
}

/// Sends one health probe and reports it.
async fn run_probe(runtime: Rc<Runtime>, probe: Probe) {
    let init = Object::new();
    let _ = Reflect::set(&init, &"cache".into(), &"no-store".into());
    let sent = send(&JsValue::from_str(&probe.url), &init, probe.timeout_ms, &[runtime.lifetime()], true).await;
    runtime.engine(|e, now| e.probe_result(now, probe.service, sent.outcome));
}

/// Calls a page's listener; one that throws is logged and the others still run.
fn call(listener: &Function, payload: &JsValue) {
    if let Err(error) = listener.call1(&JsValue::NULL, payload) {
        web_sys::console::error_2(&"player-resilience: an event listener threw".into(), &error);
    }
}

/// Runs `act` on the runtime if it still exists.
fn with(weak: &Weak<Runtime>, act: impl FnOnce(&Rc<Runtime>)) {
    if let Some(runtime) = weak.upgrade() {
        act(&runtime);
    }
}

/// A callback that holds only a weak reference to the runtime.
fn on<A: 'static>(weak: &Weak<Runtime>, act: impl Fn(&Rc<Runtime>, A) + 'static) -> impl FnMut(A) + 'static {
    let weak = weak.clone();
    move |arg| {
        if let Some(runtime) = weak.upgrade() {
            act(&runtime, arg);
        }
    }
}

/// Online/offline, visibility and bfcache events, fed to the engine.
fn listen_to_page(weak: &Weak<Runtime>) -> Vec<EventListener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let mut listeners = Vec::new();
    for (name, online) in [("online", true), ("offline", false)] {
        let mut act = on(weak, move |rt, ()| rt.set_online(online));
        listeners.push(EventListener::new(&window, name, move |_| act(())));
    }
    let mut shown = on(weak, |rt, ()| rt.engine(|e, now| e.set_visible(now, true)).unwrap_or(()));
    listeners.push(EventListener::new(&window, "pageshow", move |_| shown(())));
    let mut hidden = on(weak, |rt, ()| {
        if let Ok(mut core) = rt.core.try_borrow_mut() {
            core.persist(now());
        }
    });
    listeners.push(EventListener::new(&window, "pagehide", move |_| hidden(())));
    if let Some(document) = window.document() {
        let mut changed = on(weak, |rt, ()| rt.engine(|e, now| e.set_visible(now, is_visible())).unwrap_or(()));
        listeners.push(EventListener::new(&document, "visibilitychange", move |_| changed(())));
    }
    listeners
}
