//! Reports to the backend: `navigator.sendBeacon`, else a keepalive `fetch`.
//! Never through the breakers or retries: the backend is up when the media
//! server is not, and a lost report is not worth a retry.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

use super::browser::{global_fetch, quietly};

/// POSTs `body` (JSON text) to `url` as `text/plain;charset=UTF-8`, a
/// CORS-safelisted type, so a cross-origin beacon needs no preflight. Falls back to
/// `fetch(url, { method: 'POST', body, keepalive: true })` where sendBeacon is
/// missing or refuses (it returns false when its queue is full).
pub fn send(url: &str, body: &str) {
    let Some(window) = web_sys::window() else { return };
    if window.navigator().send_beacon_with_opt_str(url, Some(body)) == Ok(true) {
        return;
    }
    let init = Object::new();
    for (key, value) in [("method", JsValue::from_str("POST")), ("body", body.into()), ("keepalive", true.into())] {
        let _ = Reflect::set(&init, &key.into(), &value);
    }
    quietly(global_fetch(&url.into(), &init));
}
