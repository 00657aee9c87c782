//! One network attempt under a deadline, and waits, both cut short by abort signals.

use std::cell::Cell;
use std::rc::Rc;

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Response};

use super::browser::{global_fetch, is_online, timer_ms};
use crate::engine::classify::{says_unreadable, Outcome};
use crate::engine::Millis;

/// How an attempt ended: the outcome for the engine, and the response if any.
pub struct Sent {
    /// What the engine is told.
    pub outcome: Outcome,
    /// The response, when the server answered in time.
    pub response: Option<Response>,
}

/// Why an attempt ended early, set by whichever fired first.
#[derive(Default)]
struct Cut {
    timed_out: Cell<bool>,
    aborted: Cell<bool>,
}

impl Cut {
    /// The outcome of an attempt whose fetch or body read rejected.
    fn outcome(&self) -> Outcome {
        if self.aborted.get() {
            Outcome::Aborted
        } else if self.timed_out.get() {
            Outcome::Timeout
        } else if !is_online() {
            Outcome::Offline
        } else {
            Outcome::NetworkError
        }
    }
}

/// Fetches `input` with `init`, aborting after `timeout_ms` or when any of `stops`
/// aborts. With `whole_body`, a response is only complete once its body has
/// arrived within the same deadline (read from a clone, so the caller can still
/// read the original); a stalled body is then a timeout. Every timer and listener
/// started here is gone when this returns.
pub async fn send(input: &JsValue, init: &Object, timeout_ms: Millis, stops: &[AbortSignal], whole_body: bool) -> Sent {
    let failed = |outcome| Sent { outcome, response: None };
    if stops.iter().any(AbortSignal::aborted) {
        return failed(Outcome::Aborted);
    }
    let Ok(controller) = AbortController::new() else {
        return failed(Outcome::NetworkError);
    };
    let cut = Rc::new(Cut::default());
    let _stop_listeners: Vec<EventListener> = stops
        .iter()
        .map(|signal| {
            let (cut, controller) = (cut.clone(), controller.clone());
            EventListener::once(signal, "abort", move |_| {
                cut.aborted.set(true);
                controller.abort();
            })
        })
        .collect();
    let _deadline = {
        let (cut, controller) = (cut.clone(), controller.clone());
        Timeout::new(timer_ms(timeout_ms), move || {
            cut.timed_out.set(true);
            controller.abort();
        })
    };
    let init = Object::assign(&Object::new(), init);
    let _ = Reflect::set(&init, &"signal".into(), &controller.signal());

    let response = match JsFuture::from(global_fetch(input, &init)).await {
        Ok(response) => response.unchecked_into::<Response>(),
        Err(_) => return failed(cut.outcome()),
    };
    if response.status() == 503 {
        // The proxy's 503 for a file it cannot read says so in its (small) body.
        let outcome = match read_text(&response).await {
            Some(text) if says_unreadable(&text) => Outcome::Unreadable,
            _ => Outcome::Status(503),
        };
        return Sent { outcome, response: Some(response) };
    }
    if whole_body {
        let body = response.clone().and_then(|copy| copy.array_buffer());
        let arrived = match body {
            Ok(promise) => JsFuture::from(promise).await.is_ok(),
            Err(_) => false,
        };
        if !arrived {
            return failed(cut.outcome());
        }
    }
    Sent { outcome: Outcome::Status(response.status()), response: Some(response) }
}

/// The body of `response` as text, read from a clone (the caller keeps the
/// original); `None` if it cannot be read (the attempt's deadline still applies).
pub async fn read_text(response: &Response) -> Option<String> {
    let text = response.clone().and_then(|copy| copy.text()).ok()?;
    JsFuture::from(text).await.ok()?.as_string()
}

/// Waits `ms`; false if one of `stops` aborted first. The timer is cleared either way.
pub async fn sleep(ms: Millis, stops: &[AbortSignal]) -> bool {
    if stops.iter().any(AbortSignal::aborted) {
        return false;
    }
    let mut held = None;
    let wait = Promise::new(&mut |resolve, reject| {
        let timer = Timeout::new(timer_ms(ms), move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let listeners: Vec<EventListener> = stops
            .iter()
            .map(|signal| {
                let reject = reject.clone();
                EventListener::once(signal, "abort", move |_| {
                    let _ = reject.call0(&JsValue::UNDEFINED);
                })
            })
            .collect();
        held = Some((timer, listeners));
    });
    let finished = JsFuture::from(wait).await.is_ok();
    drop(held);
    finished
}
