//! The resilient `fetch`: one request's whole sequence of attempts and waits.

use std::rc::Rc;

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Request};

use super::attempt::{send, sleep, Sent};
use super::browser::{global_fetch, is_online, wall_clock};
use super::errors;
use super::runtime::Runtime;
use crate::engine::classify::Outcome;
use crate::engine::config::RequestClass;
use crate::engine::redact::redact_url;
use crate::engine::resilience::{Failure, Next, Report, Start};

/// What the engine needs to know about a request, read from fetch's arguments.
struct Described {
    url: String,
    method: String,
    signal: Option<AbortSignal>,
}

/// Reads the URL, method and caller's signal from `(input, init)` as fetch would:
/// `init` wins over a `Request` input.
fn describe(input: &JsValue, init: &Object) -> Described {
    let text = input.as_string();
    let request = if text.is_some() { None } else { input.dyn_ref::<Request>() };
    let url = match (text, request) {
        (Some(url), _) => url,
        (None, Some(request)) => request.url(),
        // A URL object, or anything else fetch would turn into a string.
        (None, None) if input.is_object() => input.unchecked_ref::<Object>().to_string().into(),
        (None, None) => String::new(),
    };
    let field = |name: &str| Reflect::get(init, &name.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    let method = field("method")
        .and_then(|m| m.as_string())
        .or_else(|| request.map(Request::method))
        .unwrap_or_else(|| "GET".into());
    let signal =
        field("signal").and_then(|s| s.dyn_into::<AbortSignal>().ok()).or_else(|| request.map(Request::signal));
    Described { url, method, signal }
}

/// Classes whose body must arrive within the timeout; video and transcode stream.
fn wants_whole_body(class: RequestClass) -> bool {
    matches!(class, RequestClass::Metadata | RequestClass::Thumbnail | RequestClass::Probe)
}

/// Runs `fetch(input, init)` under the engine's policy: resolves with the
/// `Response`, or rejects with a typed error.
pub async fn run(runtime: Rc<Runtime>, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
    let init_object = init.dyn_ref::<Object>().cloned().unwrap_or_default();
    let request = describe(&input, &init_object);
    let mut stops = vec![runtime.lifetime()];
    stops.extend(request.signal);
    // The error's service and URL (redacted), looked up only when there is an error.
    let failed = |failure: &Failure| {
        let route = runtime.read(|e, _| e.route(&request.url)).flatten();
        let service = route.map(|r| runtime.service_name(r.service)).unwrap_or_default();
        errors::failure(failure, &service, &redact_url(&request.url, &runtime.secrets()))
    };
    if !is_online() {
        runtime.set_online(false);
    }

    let mut start = runtime.engine(|e, now| e.begin(now, &request.method, &request.url)).unwrap_or(Start::PassThrough);
    loop {
        let attempt = match start {
            Start::PassThrough => return JsFuture::from(global_fetch(&input, &init)).await,
            Start::Fail(failure) => return Err(failed(&failure)),
            Start::Send(attempt) => attempt,
        };
        // The attempt is also cut if its breaker opens meanwhile.
        let cut = runtime.attempt_signal(attempt.id);
        let stops_now: Vec<AbortSignal> = stops.iter().cloned().chain(cut).collect();
        let Sent { outcome, response } =
            send(&input, &init_object, attempt.timeout_ms, &stops_now, wants_whole_body(attempt.class)).await;
        runtime.attempt_done(attempt.id);
        if matches!(outcome, Outcome::NetworkError | Outcome::Timeout | Outcome::Offline) && !is_online() {
            runtime.set_online(false);
        }
        // Only a failure's `Retry-After` matters.
        let failed_status = response.as_ref().filter(|r| r.status() >= 400);
        let retry_after = failed_status.and_then(|r| r.headers().get("retry-after").ok().flatten());
        let wall_clock_ms = if retry_after.is_some() { wall_clock() } else { 0 };
        let report = Report { outcome, retry_after: retry_after.as_deref(), wall_clock_ms };
        let next = runtime.engine(|e, now| e.finish(now, attempt.id, report)).unwrap_or(Next::Fail(Failure::Aborted));
        match (next, response) {
            (Next::Deliver, Some(response)) => return Ok(response.into()),
            (Next::Fail(failure), _) => return Err(failed(&failure)),
            (Next::Deliver, None) => return Err(failed(&Failure::Aborted)),
            (Next::RetryAfter { delay_ms, .. }, _) => {
                if !sleep(delay_ms, &stops).await {
                    runtime.engine(|e, _| e.abort(attempt.id));
                    return Err(failed(&Failure::Aborted));
                }
                start = runtime.engine(|e, now| e.resume(now, attempt.id)).unwrap_or(Start::Fail(Failure::Aborted));
            }
        }
    }
}
