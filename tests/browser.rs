//! Browser tests: the web layer in headless Chromium against the local fault
//! server (`www/fault-server.mjs`). Run by `npm test`, which starts the server and
//! passes its address in `FAULT_SERVER_URL` at build time.
//!
//! Every test uses its own fault-server session and storage key, so tests never
//! see each other's faults, counts or breakers. Waits are bounded polls for an
//! observable condition, never a sleep that a pass depends on.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Function, Reflect};
use player_resilience::web::{create_resilience, Resilience};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SERVER: &str = match option_env!("FAULT_SERVER_URL") {
    Some(url) => url,
    None => "http://127.0.0.1:8787",
};

#[wasm_bindgen(inline_js = r#"
const live = new Set();
let tracking = false;
export function trackTimers() {
  if (tracking) return;
  tracking = true;
  const set = globalThis.setTimeout, clear = globalThis.clearTimeout;
  globalThis.setTimeout = function (f, ms, ...args) {
    const id = set.call(globalThis, (...a) => { live.delete(id); return typeof f === 'function' ? f(...a) : undefined; }, ms, ...args);
    live.add(id);
    return id;
  };
  globalThis.clearTimeout = function (id) { live.delete(id); return clear.call(globalThis, id); };
}
export function liveTimers() { return live.size; }

export async function control(server, path) {
  const response = await fetch(server + path);
  if (!response.ok) throw new Error(`fault server: ${path}: ${await response.text()}`);
  return response.json();
}

function merge(a, b) {
  for (const [k, v] of Object.entries(b)) {
    a[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k], v) : v;
  }
  return a;
}
export function testConfig(base, key, overrides) {
  return merge({
    enabled: true,
    timeouts: { metadataMs: 2000, thumbnailMs: 2000, videoMs: 3000, transcodeMs: 3000, slowMs: 1000 },
    retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 },
    probe: { initialDelayMs: 100, maxDelayMs: 400, timeoutMs: 1000, successThreshold: 1, jitter: false },
    persistence: { enabled: true, key },
    services: [{
      name: 'plex',
      match: ['/api/v1/proxy/plex/', '/api/v1/play/'],
      probeUrl: base + '/api/v1/proxy/plex/identity',
      breaker: { failureThreshold: 3, successThreshold: 1, openMs: 60000 },
    }],
  }, JSON.parse(overrides));
}

// Headless Chromium cannot be taken offline from inside the page, so the test
// plays the browser's part: navigator.onLine and the offline/online events.
const onLine = Object.getOwnPropertyDescriptor(Navigator.prototype, 'onLine');
const visibility = Object.getOwnPropertyDescriptor(Document.prototype, 'visibilityState');
export function setHidden(hidden) {
  if (hidden) Object.defineProperty(Document.prototype, 'visibilityState', { get: () => 'hidden', configurable: true });
  else Object.defineProperty(Document.prototype, 'visibilityState', visibility);
  document.dispatchEvent(new Event('visibilitychange'));
}
const setItem = Storage.prototype.setItem;
export function fillStorage(full) {
  Storage.prototype.setItem = full
    ? function () { throw new DOMException('full', 'QuotaExceededError'); }
    : setItem;
}
export function hideWebLocks(hidden) {
  if (hidden) Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true });
  else delete navigator.locks;
}
export async function lockHeld(name) {
  const { held } = await navigator.locks.query();
  return held.some((lock) => lock.name === name);
}
const sendBeacon = Navigator.prototype.sendBeacon;
export function hideSendBeacon(hidden) {
  Navigator.prototype.sendBeacon = hidden ? undefined : sendBeacon;
}
export function watchChannel(name) {
  const seen = { types: [] };
  const channel = new BroadcastChannel(name);
  channel.onmessage = (e) => seen.types.push(e.data?.type);
  seen.close = () => channel.close();
  return seen;
}
export function fallbackOptions(src) {
  return {
    media: { id: 'gen-report', src },
    thumbnailAt: (id, seconds) => `/nothing/${id}/${seconds}`,
    sessionClock: () => performance.now() / 1000,
  };
}
export function setOnline(online) {
  if (online) Object.defineProperty(Navigator.prototype, 'onLine', onLine);
  else Object.defineProperty(Navigator.prototype, 'onLine', { get: () => false, configurable: true });
  window.dispatchEvent(new Event(online ? 'online' : 'offline'));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = trackTimers)]
    fn track_timers();
    #[wasm_bindgen(js_name = liveTimers)]
    fn live_timers() -> u32;
    #[wasm_bindgen(catch)]
    async fn control(server: &str, path: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = testConfig)]
    fn test_config(base: &str, key: &str, overrides: &str) -> JsValue;
    #[wasm_bindgen(js_name = setOnline)]
    fn set_online(online: bool);
    #[wasm_bindgen(js_name = hideWebLocks)]
    fn hide_web_locks(hidden: bool);
    #[wasm_bindgen(js_name = fillStorage)]
    fn fill_storage(full: bool);
    #[wasm_bindgen(js_name = setHidden)]
    fn set_hidden(hidden: bool);
    #[wasm_bindgen(js_name = lockHeld)]
    async fn lock_held(name: &str) -> JsValue;
    #[wasm_bindgen(js_name = hideSendBeacon)]
    fn hide_send_beacon(hidden: bool);
    #[wasm_bindgen(js_name = watchChannel)]
    fn watch_channel(name: &str) -> JsValue;
    #[wasm_bindgen(js_name = fallbackOptions)]
    fn fallback_options(src: &str) -> JsValue;
}

/// One test's fault-server session and storage key.
struct Case {
    session: String,
    base: String,
}

impl Case {
    async fn new(name: &str) -> Case {
        let session = format!("{name}-{}", (js_sys::Math::random() * 1e9) as u64);
        let case = Case { base: format!("{SERVER}/s/{session}"), session };
        case.fault("route=all&mode=healthy").await;
        case
    }

    /// Switches the session's faults, e.g. `route=metadata&mode=hang`.
    async fn fault(&self, query: &str) {
        control(SERVER, &format!("/__fault/set?session={}&{query}", self.session)).await.expect("fault server");
    }

    /// Requests the server received on `route`.
    async fn count(&self, route: &str) -> u32 {
        let counts = control(SERVER, &format!("/__fault/counts?session={}", self.session)).await.expect("counts");
        Reflect::get(&counts, &route.into()).unwrap().as_f64().unwrap() as u32
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An enabled instance with fast test timings plus `overrides` (JSON).
    fn start(&self, overrides: &str) -> Resilience {
        create_resilience(test_config(&self.base, &self.session, overrides)).expect("valid config")
    }

    /// Overrides that report to this session's sink as page `page`, plus `more` fields.
    fn reporting(&self, page: &str, more: &str) -> String {
        let url = self.url("/api/v1/player/report");
        format!(r#"{{"retry":{{"maxAttempts":1}},"report":{{"url":"{url}","pageId":"{page}"}}{more}}}"#)
    }

    /// What the report sink received: `{ t, contentType, report }` entries.
    async fn reports(&self) -> Vec<JsValue> {
        let list = control(SERVER, &format!("/__fault/reports?session={}", self.session)).await.expect("reports");
        Array::from(&list).iter().collect()
    }

    /// Polls the sink until it holds `n` reports; fails after `limit_ms`.
    async fn reports_until(&self, n: usize, limit_ms: f64) -> Vec<JsValue> {
        let start = now();
        loop {
            let reports = self.reports().await;
            if reports.len() >= n {
                return reports;
            }
            assert!(
                now() - start < limit_ms,
                "{} of {n} reports after {limit_ms} ms: {:?}",
                reports.len(),
                summary(&reports)
            );
            TimeoutFuture::new(50).await;
        }
    }
}

/// Waits until some instance holds the Web Lock `name` (its prober lock).
async fn wait_for_lock(name: &str) {
    let started = now();
    while !lock_held(name).await.is_truthy() {
        assert!(now() - started < 2_000.0, "nobody took the lock {name}");
        TimeoutFuture::new(20).await;
    }
}

/// The report body of a sink entry.
fn body(entry: &JsValue) -> JsValue {
    field(entry, "report")
}

/// `(page, event, state)` of each sink entry.
fn summary(entries: &[JsValue]) -> Vec<(String, String, String)> {
    entries.iter().map(body).map(|b| (text(&b, "page"), text(&b, "event"), text(&b, "state"))).collect()
}

fn triple(page: &str, event: &str, state: &str) -> (String, String, String) {
    (page.into(), event.into(), state.into())
}

/// Collects the events named `name` as they arrive.
fn record(r: &Resilience, name: &str) -> Rc<RefCell<Vec<JsValue>>> {
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |e| sink.borrow_mut().push(e)).into_js_value();
    r.on(name, listener.unchecked_into::<Function>()).expect("known event");
    events
}

fn field(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn text(value: &JsValue, name: &str) -> String {
    field(value, name).as_string().unwrap_or_default()
}

fn number(value: &JsValue, name: &str) -> f64 {
    field(value, name).as_f64().unwrap_or(f64::NAN)
}

fn now() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

async fn get(r: &Resilience, url: &str) -> Result<web_sys::Response, JsValue> {
    JsFuture::from(r.fetch(url.into(), JsValue::UNDEFINED)).await.map(JsCast::unchecked_into)
}

/// Polls `done` every 20 ms; fails the test after `limit_ms`.
async fn wait_until(what: &str, limit_ms: f64, mut done: impl FnMut() -> bool) {
    let start = now();
    while !done() {
        assert!(now() - start < limit_ms, "timed out after {limit_ms} ms waiting for {what}");
        TimeoutFuture::new(20).await;
    }
}

fn has_state(events: &Rc<RefCell<Vec<JsValue>>>, to: &str) -> bool {
    events.borrow().iter().any(|e| text(e, "to") == to)
}

/// Opens the plex breaker with three 502s on metadata (one attempt each). The
/// request whose failure opens the breaker already fails as `BREAKER_OPEN`.
async fn open_breaker(case: &Case, r: &Resilience) {
    case.fault("route=metadata&mode=bad-gateway").await;
    for expected in ["RETRIES_EXHAUSTED", "RETRIES_EXHAUSTED", "BREAKER_OPEN"] {
        let e = get(r, &case.url("/api/v1/play/1")).await.unwrap_err();
        assert_eq!(text(&e, "code"), expected);
    }
}

#[wasm_bindgen_test]
async fn each_class_has_its_own_timeout() {
    let case = Case::new("timeouts").await;
    let r = case.start(r#"{"timeouts":{"metadataMs":300,"videoMs":1200},"retry":{"maxAttempts":1}}"#);
    case.fault("route=all&mode=hang").await;

    let started = now();
    let e = get(&r, &case.url("/api/v1/play/1")).await.unwrap_err();
    let metadata_ms = now() - started;
    assert_eq!(text(&e, "code"), "TIMEOUT");
    assert_eq!(number(&e, "attempts"), 1.0);
    assert!((300.0..1_100.0).contains(&metadata_ms), "metadata gave up after {metadata_ms} ms");

    let started = now();
    let e = get(&r, &case.url("/api/v1/proxy/plex/stream/1")).await.unwrap_err();
    let video_ms = now() - started;
    assert_eq!(text(&e, "code"), "TIMEOUT");
    assert!(video_ms >= 1_200.0, "video gave up after {video_ms} ms, before its 1200 ms timeout");
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_stalled_body_times_out_for_light_classes() {
    let case = Case::new("slow-body").await;
    let r = case.start(r#"{"timeouts":{"metadataMs":400},"retry":{"maxAttempts":1}}"#);
    case.fault("route=metadata&mode=slow-body").await;
    let e = get(&r, &case.url("/api/v1/play/1")).await.unwrap_err();
    assert_eq!(text(&e, "code"), "TIMEOUT");
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_504_is_retried_then_succeeds() {
    let case = Case::new("retry-504").await;
    let r = case.start("{}");
    let retries = record(&r, "retry");
    case.fault("route=metadata&mode=gateway-timeout&times=2").await;

    let response = get(&r, &case.url("/api/v1/play/1")).await.expect("third attempt succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(case.count("metadata").await, 3);
    let retries = retries.borrow();
    assert_eq!(retries.len(), 2);
    assert_eq!(number(&retries[0], "status"), 504.0);
    assert_eq!(number(&retries[1], "attempt"), 3.0);
    r.dispose();
}

#[wasm_bindgen_test]
async fn retries_run_out() {
    let case = Case::new("exhausted").await;
    let r = case.start(r#"{"services":[{"name":"plex","match":["/api/v1/play/"],"breaker":{"failureThreshold":10}}]}"#);
    case.fault("route=metadata&mode=unavailable").await;
    let e = get(&r, &case.url("/api/v1/play/1")).await.unwrap_err();
    assert_eq!(text(&e, "code"), "RETRIES_EXHAUSTED");
    assert_eq!(number(&e, "attempts"), 3.0);
    assert_eq!(number(&e, "status"), 503.0);
    assert_eq!(text(&e, "service"), "plex");
    assert_eq!(case.count("metadata").await, 3);
    r.dispose();
}

#[wasm_bindgen_test]
async fn non_retryable_statuses_resolve_as_responses() {
    let case = Case::new("not-found").await;
    let r = case.start("{}");
    let response = get(&r, &case.url("/api/v1/proxy/plex/nothing-here")).await.expect("a 404 is a response");
    assert_eq!(response.status(), 404);
    r.dispose();
}

#[wasm_bindgen_test]
async fn an_open_breaker_fails_fast_and_only_probes_reach_the_server() {
    let case = Case::new("fail-fast").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let states = record(&r, "state");
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &r).await;
    assert!(has_state(&states, "open"));

    for _ in 0..10 {
        let e = get(&r, &case.url("/api/v1/play/1")).await.unwrap_err();
        assert_eq!(text(&e, "code"), "BREAKER_OPEN");
        assert_eq!(text(&e, "service"), "plex");
        assert!(number(&e, "retryAfterMs") >= 0.0);
    }
    assert_eq!(case.count("metadata").await, 3, "requests reached the server while the breaker was open");
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_request_still_out_when_the_breaker_opens_fails_at_once_as_breaker_open() {
    let case = Case::new("cut").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    case.fault("route=video&mode=hang").await;
    // Out before the breaker opens; the video class would wait 3 s for it.
    let out = JsFuture::from(r.fetch(case.url("/api/v1/proxy/plex/stream/1").into(), JsValue::UNDEFINED));
    open_breaker(&case, &r).await;
    let opened = now();
    let e = out.await.unwrap_err();
    assert_eq!(text(&e, "code"), "BREAKER_OPEN");
    let waited = now() - opened;
    assert!(waited < 500.0, "cut {waited} ms after the breaker opened (the video timeout is 3000 ms)");
    r.dispose();
}

#[wasm_bindgen_test]
async fn probes_close_the_breaker_when_the_server_is_back() {
    let case = Case::new("recovery").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let states = record(&r, "state");
    let probes = record(&r, "probe");
    let notices = record(&r, "notice");
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &r).await;
    wait_until("a failed probe", 3_000.0, || !probes.borrow().is_empty()).await;
    assert!(case.count("identity").await >= 1);

    case.fault("route=all&mode=healthy").await;
    wait_until("half-open after a healthy probe", 3_000.0, || has_state(&states, "halfOpen")).await;
    let response = get(&r, &case.url("/api/v1/play/1")).await.expect("the trial request goes through");
    assert_eq!(response.status(), 200);
    assert!(has_state(&states, "closed"));
    assert!(notices.borrow().iter().any(|n| text(n, "key") == "restored"));
    r.dispose();
}

#[wasm_bindgen_test]
async fn retry_after_is_respected() {
    let case = Case::new("retry-after").await;
    let r = case.start("{}");
    let retries = record(&r, "retry");
    case.fault("route=metadata&mode=retry-after&retryAfter=1&times=1").await;
    let started = now();
    let response = get(&r, &case.url("/api/v1/play/1")).await.expect("succeeds after waiting");
    assert_eq!(response.status(), 200);
    let waited = now() - started;
    assert_eq!(number(&retries.borrow()[0], "delayMs"), 1_000.0);
    assert!(waited >= 1_000.0, "retried after {waited} ms despite Retry-After: 1");

    case.fault("route=metadata&mode=too-many&retryAfter=1&times=1").await;
    let started = now();
    get(&r, &case.url("/api/v1/play/1")).await.expect("succeeds after a 429");
    assert!(now() - started >= 1_000.0);
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_caller_abort_mid_retry_rejects_and_leaves_no_timer() {
    track_timers();
    let case = Case::new("abort").await;
    let before = live_timers();
    let r = case.start(r#"{"retry":{"initialDelayMs":5000,"maxDelayMs":5000,"jitter":"none"}}"#);
    let retries = record(&r, "retry");
    case.fault("route=metadata&mode=unavailable").await;
    // Let the start-up wake-up pass so only this request's timers remain.
    TimeoutFuture::new(10).await;
    let baseline = live_timers();

    let controller = web_sys::AbortController::new().unwrap();
    let init = js_sys::Object::new();
    Reflect::set(&init, &"signal".into(), &controller.signal()).unwrap();
    let pending = JsFuture::from(r.fetch(case.url("/api/v1/play/1").into(), init.into()));
    let outcome = Rc::new(RefCell::new(None));
    let slot = outcome.clone();
    wasm_bindgen_futures::spawn_local(async move { *slot.borrow_mut() = Some(pending.await) });

    wait_until("the first retry to be scheduled", 3_000.0, || !retries.borrow().is_empty()).await;
    assert!(live_timers() > baseline, "a retry wait should be pending");
    controller.abort();
    wait_until("the request to settle", 1_000.0, || outcome.borrow().is_some()).await;
    let e = outcome.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(text(&e, "code"), "ABORTED");
    assert_eq!(text(&e, "name"), "AbortError");
    assert_eq!(live_timers(), baseline, "a timer outlived the aborted request");
    assert_eq!(case.count("metadata").await, 1);
    r.dispose();
    assert_eq!(live_timers(), before, "a timer outlived dispose()");
}

#[wasm_bindgen_test]
async fn disabled_is_a_pure_pass_through() {
    track_timers();
    let case = Case::new("disabled").await;
    let before = live_timers();
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let config = test_config(&case.base, &case.session, r#"{"enabled":false}"#);
    let r = create_resilience(config).expect("valid config");
    assert!(!r.enabled());
    case.fault("route=metadata&mode=unavailable").await;
    let response = get(&r, &case.url("/api/v1/play/1")).await.expect("a 503 is just a response");
    assert_eq!(response.status(), 503);
    assert_eq!(case.count("metadata").await, 1, "a disabled module must not retry");
    assert_eq!(live_timers(), before, "a disabled module must not start timers");
    assert_eq!(storage.get_item(&case.session).unwrap(), None, "a disabled module must not touch storage");
    assert!(create_resilience(JsValue::UNDEFINED).map(|r| !r.enabled()).unwrap(), "no config is disabled");
}

#[wasm_bindgen_test]
fn invalid_config_is_rejected_with_its_field() {
    let cases = [
        (r#"{"retry":{"maxAttempts":0}}"#, "retry.maxAttempts"),
        (r#"{"timeouts":{"videoMs":"soon"}}"#, "timeouts.videoMs"),
        (r#"{"probe":{"jitterr":true}}"#, "probe.jitterr"),
        (r#"{"services":[{"name":"Plex!","match":["/x"]}]}"#, "services[0].name"),
    ];
    for (config, field_path) in cases {
        let config = js_sys::JSON::parse(config).unwrap();
        let e = create_resilience(config).err().expect("rejected");
        assert!(e.is_instance_of::<js_sys::Error>());
        assert_eq!(text(&e, "code"), "CONFIG");
        assert_eq!(text(&e, "field"), field_path);
        assert!(text(&e, "message").starts_with(field_path), "{}", text(&e, "message"));
    }
}

#[wasm_bindgen_test]
async fn breaker_state_survives_a_reload() {
    let case = Case::new("reload").await;
    let first = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &first).await;
    first.dispose();
    drop(first);

    let second = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let e = get(&second, &case.url("/api/v1/play/1")).await.unwrap_err();
    assert_eq!(text(&e, "code"), "BREAKER_OPEN", "a reload during an outage must not hammer the server");
    assert_eq!(case.count("metadata").await, 3);
    let snapshot = second.snapshot();
    let stored = web_sys::window().unwrap().local_storage().unwrap().unwrap().get_item(&case.session).unwrap();
    assert!(stored.unwrap().contains("\"open\""));
    assert_eq!(Array::from(&field(&snapshot, "services")).length(), 1);
    second.dispose();
}

#[wasm_bindgen_test]
async fn corrupt_or_foreign_stored_state_is_ignored() {
    let case = Case::new("corrupt").await;
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let records = [
        "{not json",
        r#"{"version":1,"savedAt":1,"services":[{"name":"plex","breaker":{"state":"open"}}]}"#,
        r#"{"version":99,"savedAt":0,"services":[]}"#,
        r#"[1,2,3]"#,
    ];
    for record in records {
        storage.set_item(&case.session, record).unwrap();
        let r = case.start("{}");
        let response = get(&r, &case.url("/api/v1/play/1")).await.expect("starts closed");
        assert_eq!(response.status(), 200);
        r.dispose();
    }
}

#[wasm_bindgen_test]
async fn two_tabs_share_state_and_only_one_probes() {
    let case = Case::new("tabs").await;
    let a = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let b = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let (a_probes, b_probes) = (record(&a, "probe"), record(&b, "probe"));
    let b_states = record(&b, "state");
    case.fault("route=identity&mode=unavailable").await;

    open_breaker(&case, &a).await;
    wait_until("the other instance to learn the breaker opened", 2_000.0, || has_state(&b_states, "open")).await;
    let e = get(&b, &case.url("/api/v1/play/1")).await.unwrap_err();
    assert_eq!(text(&e, "code"), "BREAKER_OPEN");
    assert_eq!(case.count("metadata").await, 3);

    wait_until("several probes", 4_000.0, || a_probes.borrow().len() + b_probes.borrow().len() >= 3).await;
    let (pa, pb) = (a_probes.borrow().len(), b_probes.borrow().len());
    assert!(pa == 0 || pb == 0, "both instances probed: {pa} and {pb}");

    // The prober's probes succeed; the other instance may then send trials itself.
    let a_states = record(&a, "state");
    case.fault("route=all&mode=healthy").await;
    wait_until("the other instance to learn of the recovery", 4_000.0, || has_state(&b_states, "halfOpen")).await;
    get(&b, &case.url("/api/v1/play/1")).await.expect("a trial goes through");
    assert!(has_state(&b_states, "closed"));
    wait_until("the prober to learn the breaker closed", 2_000.0, || has_state(&a_states, "closed")).await;
    a.dispose();
    b.dispose();
}

#[wasm_bindgen_test]
async fn offline_failures_are_not_counted_against_the_server() {
    let case = Case::new("offline").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let states = record(&r, "state");
    let notices = record(&r, "notice");
    set_online(false);
    for _ in 0..5 {
        let e = get(&r, &case.url("/api/v1/play/1")).await.unwrap_err();
        assert_eq!(text(&e, "code"), "OFFLINE");
    }
    set_online(true);
    assert!(states.borrow().is_empty(), "offline failures moved the breaker");
    assert!(notices.borrow().iter().any(|n| text(n, "key") == "offline"));
    let response = get(&r, &case.url("/api/v1/play/1")).await.expect("back online, still closed");
    assert_eq!(response.status(), 200);
    r.dispose();
}

#[wasm_bindgen_test]
async fn secrets_never_reach_events_errors_or_storage() {
    let case = Case::new("secrets").await;
    let r = case.start(r#"{"retry":{"maxAttempts":2}}"#);
    let retries = record(&r, "retry");
    case.fault("route=metadata&mode=unavailable").await;
    let e = get(&r, &case.url("/api/v1/play/1?X-Plex-Token=hunter2")).await.unwrap_err();
    assert!(!text(&e, "url").contains("hunter2"), "{}", text(&e, "url"));
    assert!(!text(&e, "message").contains("hunter2"));
    assert!(retries.borrow().iter().all(|e| !text(e, "url").contains("hunter2")));
    let stored = web_sys::window().unwrap().local_storage().unwrap().unwrap().get_item(&case.session).unwrap();
    assert!(!stored.unwrap_or_default().contains("hunter2"));
    r.dispose();
}

#[wasm_bindgen_test]
async fn going_online_or_pageshow_probes_without_waiting_for_the_backoff() {
    let case = Case::new("online-probe").await;
    // Probes 2 s apart at least, then 20 s after a failure (no hold).
    let r = case.start(
        r#"{"retry":{"maxAttempts":1},"probe":{"initialDelayMs":2000,"maxDelayMs":60000,"holdMs":0,"factor":10,"jitter":false}}"#,
    );
    let probes = record(&r, "probe");
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &r).await;
    // Going offline and back online before the first probe asks for one now.
    set_online(false);
    assert_eq!(case.count("identity").await, 0);
    set_online(true);
    wait_until("a probe right after coming online", 1_000.0, || !probes.borrow().is_empty()).await;
    let first = js_sys::Date::now();
    assert_eq!(case.count("identity").await, 1);
    // The next is 20 s away; a page shown from the back/forward cache asks for
    // one as soon as the least spacing (2 s) since the last allows.
    web_sys::window().unwrap().dispatch_event(&web_sys::Event::new("pageshow").unwrap()).unwrap();
    wait_until("a probe after pageshow", 4_000.0, || probes.borrow().len() == 2).await;
    let gap = js_sys::Date::now() - first;
    assert!(gap >= 1_900.0, "the second probe came {gap} ms after the first");
    r.dispose();
}

#[wasm_bindgen_test]
async fn dispose_rejects_requests_in_flight() {
    let case = Case::new("dispose").await;
    let r = case.start("{}");
    case.fault("route=metadata&mode=hang").await;
    let pending = JsFuture::from(r.fetch(case.url("/api/v1/play/1").into(), JsValue::UNDEFINED));
    let started = now();
    while case.count("metadata").await == 0 {
        assert!(now() - started < 2_000.0, "the request never reached the server");
        TimeoutFuture::new(20).await;
    }
    r.dispose();
    let e = pending.await.unwrap_err();
    assert_eq!(text(&e, "code"), "ABORTED");
    assert!(!r.enabled());
    // After dispose the instance is the browser's fetch.
    case.fault("route=metadata&mode=unavailable").await;
    assert_eq!(get(&r, &case.url("/api/v1/play/1")).await.unwrap().status(), 503);
}

#[wasm_bindgen_test]
async fn metrics_are_reported_as_events_and_on_demand() {
    let case = Case::new("metrics").await;
    let r = case.start("{}");
    let metrics = record(&r, "metrics");
    get(&r, &case.url("/api/v1/play/1")).await.unwrap();
    wait_until("a metrics event", 2_000.0, || !metrics.borrow().is_empty()).await;
    let services = Array::from(&field(&metrics.borrow()[0], "services"));
    assert_eq!(text(&services.get(0), "name"), "plex");
    let now = r.metrics();
    let classes = Array::from(&field(&Array::from(&field(&now, "services")).get(0), "classes"));
    let metadata = classes.iter().find(|c| text(c, "class") == "metadata").unwrap();
    assert_eq!(number(&metadata, "requests"), 1.0);
    assert_eq!(number(&metadata, "successes"), 1.0);
    r.dispose();
}

#[wasm_bindgen_test]
async fn without_web_locks_a_storage_lease_elects_one_prober() {
    let case = Case::new("lease").await;
    hide_web_locks(true);
    let a = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let b = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    hide_web_locks(false);
    let (a_probes, b_probes) = (record(&a, "probe"), record(&b, "probe"));
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &a).await;
    wait_until("several probes", 4_000.0, || a_probes.borrow().len() + b_probes.borrow().len() >= 3).await;
    let (pa, pb) = (a_probes.borrow().len(), b_probes.borrow().len());
    assert!(pa == 0 || pb == 0, "both instances probed: {pa} and {pb}");
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert!(storage.get_item(&format!("{}:prober", case.session)).unwrap().is_some(), "no lease was taken");
    a.dispose();
    b.dispose();
    assert_eq!(storage.get_item(&format!("{}:prober", case.session)).unwrap(), None, "dispose keeps the lease");
}

#[wasm_bindgen_test]
async fn fetch_takes_a_url_object_or_a_request() {
    let case = Case::new("inputs").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let url = web_sys::Url::new(&case.url("/api/v1/play/1")).unwrap();
    let response = JsFuture::from(r.fetch(url.into(), JsValue::UNDEFINED)).await.expect("a URL object");
    assert_eq!(response.unchecked_into::<web_sys::Response>().status(), 200);
    let request = web_sys::Request::new_with_str(&case.url("/api/v1/play/2")).unwrap();
    let response = JsFuture::from(r.fetch(request.into(), JsValue::UNDEFINED)).await.expect("a Request");
    assert_eq!(response.unchecked_into::<web_sys::Response>().status(), 200);
    // Both went through the breaker: the metadata class counted them.
    let classes = Array::from(&field(&Array::from(&field(&r.metrics(), "services")).get(0), "classes"));
    let metadata = classes.iter().find(|c| text(c, "class") == "metadata").unwrap();
    assert_eq!(number(&metadata, "requests"), 2.0);
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_throwing_listener_does_not_disturb_the_others() {
    let case = Case::new("listeners").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    r.on("state", Function::new_with_args("event", "throw new Error('listener bug')")).unwrap();
    let states = record(&r, "state");
    let heard = Rc::new(RefCell::new(0));
    let count = heard.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |_| *count.borrow_mut() += 1).into_js_value();
    let off = r.on("state", listener.unchecked_into()).unwrap();
    off.call0(&JsValue::NULL).unwrap();
    assert!(r.on("nonsense", Function::new_no_args("")).is_err(), "an unknown event name is an error");
    r.isolate("plex");
    wait_until("the state event", 1_000.0, || !states.borrow().is_empty()).await;
    assert_eq!(text(&states.borrow()[0], "to"), "isolated");
    assert_eq!(*heard.borrow(), 0, "an unsubscribed listener was called");
    r.dispose();
}

#[wasm_bindgen_test]
async fn full_storage_falls_back_to_memory() {
    let case = Case::new("full").await;
    fill_storage(true);
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &r).await;
    fill_storage(false);
    // Nothing was stored, yet the instance keeps working on its own state.
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert_eq!(storage.get_item(&case.session).unwrap(), None);
    let e = get(&r, &case.url("/api/v1/play/1")).await.unwrap_err();
    assert_eq!(text(&e, "code"), "BREAKER_OPEN");
    let plex = Array::from(&field(&r.snapshot(), "services")).get(0);
    assert_eq!(text(&field(&plex, "breaker"), "state"), "open");
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_hidden_tab_spends_no_probes_and_probes_when_shown() {
    let case = Case::new("hidden").await;
    let r = case.start(r#"{"retry":{"maxAttempts":1}}"#);
    let probes = record(&r, "probe");
    case.fault("route=identity&mode=unavailable").await;
    set_hidden(true);
    open_breaker(&case, &r).await;
    // Probes would be due every 100-400 ms; for a second, none goes out.
    TimeoutFuture::new(1_000).await;
    assert_eq!(case.count("identity").await, 0, "a hidden tab probed");
    set_hidden(false);
    wait_until("a probe once visible", 500.0, || !probes.borrow().is_empty()).await;
    r.dispose();
}

#[wasm_bindgen_test]
async fn a_slow_request_gives_one_slow_notice_before_it_answers() {
    let case = Case::new("slow").await;
    let r = case.start(r#"{"timeouts":{"slowMs":200}}"#);
    let notices = record(&r, "notice");
    case.fault("route=metadata&mode=slow-headers&delayMs=700").await;
    let pending = JsFuture::from(r.fetch(case.url("/api/v1/play/1").into(), JsValue::UNDEFINED));
    let second = JsFuture::from(r.fetch(case.url("/api/v1/play/2").into(), JsValue::UNDEFINED));
    wait_until("the slow notice", 600.0, || !notices.borrow().is_empty()).await;
    assert_eq!(text(&notices.borrow()[0], "key"), "slow");
    assert_eq!(pending.await.unwrap().unchecked_into::<web_sys::Response>().status(), 200);
    second.await.unwrap();
    assert_eq!(notices.borrow().len(), 1, "two slow requests must give one notice");
    r.dispose();
}

#[wasm_bindgen_test]
async fn reports_reach_the_backend_once_per_breaker_transition_without_a_token() {
    let case = Case::new("report").await;
    let r = case.start(&case.reporting("tab-a", ""));
    case.fault("route=identity&mode=unavailable").await;
    case.fault("route=metadata&mode=bad-gateway").await;
    for expected in ["RETRIES_EXHAUSTED", "RETRIES_EXHAUSTED", "BREAKER_OPEN"] {
        let e = get(&r, &case.url("/api/v1/play/1?X-Plex-Token=SECRET")).await.unwrap_err();
        assert_eq!(text(&e, "code"), expected);
    }
    let entries = case.reports_until(1, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("tab-a", "breaker", "open")]);
    assert_eq!(text(&entries[0], "contentType"), "text/plain;charset=UTF-8");
    let open = body(&entries[0]);
    assert_eq!(text(&open, "type"), "player-resilience.report");
    assert_eq!(number(&open, "version"), 1.0);
    assert_eq!(text(&open, "service"), "plex");
    assert_eq!(number(&field(&open, "counts"), "failures"), 3.0);
    assert_eq!(number(&field(&open, "counts"), "requests"), 3.0);
    assert_eq!(number(&open, "suppressed"), 0.0);
    let (at, since) = (number(&open, "at"), number(&open, "since"));
    assert!((js_sys::Date::now() - at).abs() < 10_000.0, "at {at} is not wall-clock time");
    assert!(since <= at, "since {since} after at {at}");
    assert!(field(&open, "mediaId").is_undefined());

    // The server is back: probes, a trial, closed: one more report.
    case.fault("route=all&mode=healthy").await;
    let states = record(&r, "state");
    wait_until("half-open", 3_000.0, || has_state(&states, "halfOpen")).await;
    get(&r, &case.url("/api/v1/play/1?X-Plex-Token=SECRET")).await.expect("the trial goes through");
    let entries = case.reports_until(2, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("tab-a", "breaker", "open"), triple("tab-a", "breaker", "closed")]);
    assert!(number(&body(&entries[1]), "since") >= at, "closed: since is when half-open began, after the open");
    let all = js_sys::JSON::stringify(&Array::from_iter(entries.iter())).unwrap().as_string().unwrap();
    assert!(!all.contains("SECRET") && !all.contains("/api/v1/play"), "{all}");
    r.dispose();
}

#[wasm_bindgen_test]
async fn no_report_is_sent_without_report_config() {
    let case = Case::new("no-report").await;
    // An instance without `report` opens and closes its breaker...
    let silent = create_resilience(test_config(
        &case.base,
        &format!("{}-silent", case.session),
        r#"{"retry":{"maxAttempts":1}}"#,
    ))
    .expect("valid config");
    let states = record(&silent, "state");
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &silent).await;
    silent.reset("plex");
    assert!(has_state(&states, "open") && has_state(&states, "closed"));
    // ...then one with `report` (another storage key) closes its own: that one arrives alone.
    let overrides = case.reporting("loud", "");
    let loud_key = format!("{}-loud", case.session);
    let loud = create_resilience(test_config(&case.base, &loud_key, &overrides)).expect("valid");
    wait_for_lock(&format!("{loud_key}:prober")).await;
    loud.isolate("plex");
    loud.reset("plex");
    let entries = case.reports_until(1, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("loud", "breaker", "closed")]);
    silent.dispose();
    loud.dispose();
}

#[wasm_bindgen_test]
async fn only_the_prober_tab_reports_breakers_and_adopts_the_others_changes() {
    let case = Case::new("report-tabs").await;
    let a = case.start(&case.reporting("tab-a", ""));
    let b = case.start(&case.reporting("tab-b", ""));
    wait_for_lock(&format!("{}:prober", case.session)).await;
    // B (not the prober) opens the breaker; A adopts the change and reports it.
    let a_states = record(&a, "state");
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &b).await;
    wait_until("the prober to adopt the open breaker", 2_000.0, || has_state(&a_states, "open")).await;
    let entries = case.reports_until(1, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("tab-a", "breaker", "open")]);
    // The prober's probes succeed, B's trial closes it, A adopts and reports that.
    let b_states = record(&b, "state");
    case.fault("route=all&mode=healthy").await;
    wait_until("B to learn of the recovery", 4_000.0, || has_state(&b_states, "halfOpen")).await;
    get(&b, &case.url("/api/v1/play/1")).await.expect("a trial goes through");
    let entries = case.reports_until(2, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("tab-a", "breaker", "open"), triple("tab-a", "breaker", "closed")]);
    a.dispose();
    b.dispose();
}

#[wasm_bindgen_test]
async fn a_non_prober_forwards_its_fallback_report_to_the_prober() {
    let case = Case::new("report-fallback").await;
    let a = case.start(&case.reporting("tab-a", ""));
    let b = case.start(&case.reporting("tab-b", r#","playback":{"sourceRetries":0}"#));
    wait_for_lock(&format!("{}:prober", case.session)).await;
    let channel = watch_channel(&case.session);
    // B (not the prober) plays a video whose source fails: no reload left, it falls back.
    case.fault("route=video&mode=unavailable").await;
    let fallback = record(&b, "fallback");
    let document = web_sys::window().unwrap().document().unwrap();
    let video = document.create_element("video").unwrap();
    let handle = b.attach_video(video.into(), fallback_options(&case.url("/api/v1/proxy/plex/stream/gen-1"))).unwrap();
    wait_until("the fallback", 10_000.0, || fallback.borrow().iter().any(|e| text(e, "type") == "enter")).await;
    // B forwards its report over the channel; A sends it as B made it.
    let entries = case.reports_until(1, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("tab-b", "fallback", "enter")]);
    let types = Array::from(&field(&channel, "types"));
    assert!(types.iter().any(|t| t.as_string().as_deref() == Some("report")), "nothing forwarded over the channel");
    let enter = body(&entries[0]);
    assert_eq!(text(&enter, "mediaId"), "gen-report");
    assert_eq!(text(&enter, "service"), "plex");
    assert!(field(&enter, "since").is_null());
    handle.dispose();
    let close: Function = field(&channel, "close").unchecked_into();
    close.call0(&channel).unwrap();
    a.dispose();
    b.dispose();
}

#[wasm_bindgen_test]
async fn a_tab_taking_over_the_probes_keeps_the_spacing_from_the_last_tabs_probe() {
    let case = Case::new("probe-handoff").await;
    let probe = r#"{"retry":{"maxAttempts":1},"probe":{"initialDelayMs":1500,"maxDelayMs":60000,"holdMs":60000,"jitter":false}}"#;
    let (a, b) = (case.start(probe), case.start(probe));
    wait_for_lock(&format!("{}:prober", case.session)).await;
    let (probes_a, probes_b) = (record(&a, "probe"), record(&b, "probe"));
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &a).await;
    wait_until("the prober's first probe", 5_000.0, || probes_a.borrow().len() + probes_b.borrow().len() == 1).await;
    let first = js_sys::Date::now();
    assert_eq!(case.count("identity").await, 1);
    // The prober's tab closes right after its probe; the other takes over at once
    // (the lock is free), and probes 1.5 s after the last one, not at once.
    let (prober, other) = if probes_a.borrow().is_empty() { (b, a) } else { (a, b) };
    prober.dispose();
    wait_until("the new prober's probe", 5_000.0, || probes_a.borrow().len() + probes_b.borrow().len() == 2).await;
    let gap = js_sys::Date::now() - first;
    assert!(gap >= 1_400.0, "the new prober probed {gap} ms after the last probe");
    other.dispose();
}

#[wasm_bindgen_test]
async fn without_send_beacon_reports_go_by_keepalive_fetch() {
    let case = Case::new("report-fetch").await;
    hide_send_beacon(true);
    let r = case.start(&case.reporting("tab-f", r#","persistence":{"enabled":false}"#));
    r.isolate("plex");
    r.reset("plex");
    hide_send_beacon(false);
    let entries = case.reports_until(1, 3_000.0).await;
    assert_eq!(summary(&entries), [triple("tab-f", "breaker", "closed")]);
    assert_eq!(text(&entries[0], "contentType"), "text/plain;charset=UTF-8");
    r.dispose();
}

#[wasm_bindgen_test]
fn invalid_report_config_is_a_config_error_with_its_field() {
    let cases = [
        (r#"{"report":{}}"#, "report.url", "be given"),
        (r#"{"report":{"url":""}}"#, "report.url", "be a non-empty URL"),
        (r#"{"report":{"url":"/r?X-Plex-Token=SECRET"}}"#, "report.url", "not carry a secret in its query"),
        (r#"{"report":{"url":"/r","maxPerMinute":0}}"#, "report.maxPerMinute", "be between 1 and 60"),
        (r#"{"report":{"url":"/r","pageId":"no spaces"}}"#, "report.pageId", "be 1 to 64 of A-Z, a-z, 0-9, - or _"),
        (r#"{"report":{"url":"/r","urls":[]}}"#, "report.urls", "be a known field"),
    ];
    for (config, field_path, rule) in cases {
        let e = create_resilience(js_sys::JSON::parse(config).unwrap()).err().expect("rejected");
        assert_eq!(text(&e, "code"), "CONFIG");
        assert_eq!(text(&e, "field"), field_path);
        assert_eq!(text(&e, "rule"), rule);
        assert!(!text(&e, "message").contains("SECRET"), "{}", text(&e, "message"));
    }
}

#[wasm_bindgen_test]
async fn without_web_locks_the_lease_holder_alone_reports() {
    let case = Case::new("report-lease").await;
    hide_web_locks(true);
    let a = case.start(&case.reporting("tab-a", ""));
    let b = case.start(&case.reporting("tab-b", ""));
    hide_web_locks(false);
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let lease = format!("{}:prober", case.session);
    wait_until("a lease", 2_000.0, || storage.get_item(&lease).unwrap().is_some()).await;
    // Both open the breaker; only the lease holder reports it, once.
    case.fault("route=identity&mode=unavailable").await;
    open_breaker(&case, &a).await;
    let e = get(&b, &case.url("/api/v1/play/1")).await.unwrap_err();
    assert_eq!(text(&e, "code"), "BREAKER_OPEN");
    b.isolate("plex");
    b.reset("plex");
    let entries = case.reports_until(2, 3_000.0).await;
    let pages: Vec<_> = summary(&entries).into_iter().map(|(page, _, _)| page).collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0], pages[1], "two tabs reported: {pages:?}");
    assert_eq!(summary(&entries)[1].2, "closed");
    a.dispose();
    b.dispose();
}
