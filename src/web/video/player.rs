//! The player seam: what loads a media item into the element. By default the
//! element itself (progressive: its `src`); with `options.player`, a streaming
//! library's adapter (Shaka Player, dash.js, hls.js or the page's own object):
//!
//! - `load(url, startSeconds)` → a promise: load the item at a position; it
//!   rejects with the first request's failure (`{ status }` or the module's `{ code }`);
//! - `unload()`: stop every request of the current item;
//! - `onError(listener)` → an unsubscribe function: the library's errors as
//!   `{ fatal, status?, code? }`;
//! - `detach()` (optional): undo what the adapter changed in the library.
//!
//! The session model decides when each is called; this file only calls them.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::options::invalid;

/// A streaming library's adapter.
pub struct Adapter {
    object: JsValue,
    load: Function,
    unload: Function,
    on_error: Function,
}

/// An error the library reported, or a load's rejection.
#[derive(Debug, Default, PartialEq)]
pub struct PlayerError {
    /// The library gave up on the item (not a recoverable hiccup).
    pub fatal: bool,
    /// The HTTP status of the failed request, if it was answered.
    pub status: Option<u16>,
    /// The module's error code (`BREAKER_OPEN`, `TIMEOUT`, `ABORTED`, …), if any.
    pub code: Option<String>,
}

fn method(object: &JsValue, name: &str) -> Result<Function, JsValue> {
    Reflect::get(object, &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| invalid(&format!("options.player.{name}"), "must be a function"))
}

impl Adapter {
    /// Reads `options.player`: an object with `load`, `unload` and `onError`.
    pub fn read(object: JsValue) -> Result<Self, JsValue> {
        if !object.is_object() {
            return Err(invalid("options.player", "must be an object { load, unload, onError }"));
        }
        Ok(Self {
            load: method(&object, "load")?,
            unload: method(&object, "unload")?,
            on_error: method(&object, "onError")?,
            object,
        })
    }

    /// Loads `url` at `at_s`; resolves when loaded, rejects with the failure.
    pub fn load(&self, url: &str, at_s: f64) -> Promise {
        match self.load.call2(&self.object, &url.into(), &JsValue::from_f64(at_s)) {
            Ok(value) => Promise::resolve(&value),
            Err(error) => Promise::reject(&error),
        }
    }

    /// Stops every request of the current item (its failure is the library's own).
    pub fn unload(&self) {
        if let Ok(value) = self.unload.call0(&self.object) {
            let done = wasm_bindgen_futures::JsFuture::from(Promise::resolve(&value));
            wasm_bindgen_futures::spawn_local(async move {
                let _ = done.await;
            });
        }
    }

    /// Subscribes `listener` to the library's errors; returns the unsubscribe function.
    pub fn on_error(&self, listener: &JsValue) -> Option<Function> {
        self.on_error.call1(&self.object, listener).ok()?.dyn_into::<Function>().ok()
    }

    /// Undoes the adapter's changes to the library, if it can.
    pub fn detach(&self) {
        if let Ok(detach) = Reflect::get(&self.object, &"detach".into()) {
            if let Some(detach) = detach.dyn_ref::<Function>() {
                let _ = detach.call0(&self.object);
            }
        }
    }
}

impl PlayerError {
    /// Reads `{ fatal, status, code }` from whatever the library gave.
    pub fn read(value: &JsValue) -> Self {
        let get = |name: &str| Reflect::get(value, &name.into()).ok();
        Self {
            fatal: get("fatal").is_some_and(|v| v.is_truthy()),
            status: get("status").and_then(|v| v.as_f64()).filter(|s| (100.0..600.0).contains(s)).map(|s| s as u16),
            code: get("code").and_then(|v| v.as_string()),
        }
    }

    /// The server answered that the resource is not there (a dead transcode
    /// session's segment, or a file it cannot read).
    pub fn gone(&self) -> bool {
        matches!(self.status, Some(403 | 404 | 410))
    }

    /// Not the server's failure: the breaker already knows, or nobody asked.
    pub fn ignored(&self) -> bool {
        matches!(self.code.as_deref(), Some("BREAKER_OPEN" | "ABORTED" | "OFFLINE"))
    }
}
