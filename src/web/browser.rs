//! The browser's clocks, randomness and state, read in one place.

use wasm_bindgen::prelude::*;
use web_sys::VisibilityState;

use crate::engine::Millis;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, as the page would call it (window or worker).
    #[wasm_bindgen(js_name = fetch)]
    pub fn global_fetch(input: &JsValue, init: &JsValue) -> js_sys::Promise;
}

thread_local! {
    /// The page's `performance` and `navigator`, looked up once: every request
    /// reads the clock and the online flag.
    static PERFORMANCE: Option<web_sys::Performance> = web_sys::window().and_then(|w| w.performance());
    static NAVIGATOR: Option<web_sys::Navigator> = web_sys::window().map(|w| w.navigator());
}

/// Monotonic time for the engine: `performance.now()`, whole milliseconds.
pub fn now() -> Millis {
    let ms = PERFORMANCE.with(|p| p.as_ref().map_or_else(js_sys::Date::now, web_sys::Performance::now));
    ms as Millis
}

/// Wall-clock time (Unix ms), to date snapshots and read HTTP-date `Retry-After`.
pub fn wall_clock() -> u64 {
    js_sys::Date::now() as u64
}

/// A jitter seed from `crypto.getRandomValues` (`Math.random` if crypto is missing).
pub fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if filled {
        u64::from_le_bytes(bytes)
    } else {
        (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64 ^ wall_clock()
    }
}

/// `navigator.onLine`: false means the client is certainly offline.
pub fn is_online() -> bool {
    NAVIGATOR.with(|n| n.as_ref().map_or(true, web_sys::Navigator::on_line))
}

/// Whether the page is visible (a hidden tab spends no probes).
pub fn is_visible() -> bool {
    web_sys::window().and_then(|w| w.document()).map_or(true, |d| d.visibility_state() != VisibilityState::Hidden)
}

/// Lets `promise` settle unobserved: a rejection is expected and not an error (one
/// copy of this future in the wasm for every such promise).
pub fn quietly(promise: js_sys::Promise) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    });
}

/// A delay for `setTimeout`, which takes at most 2^31 - 1 ms.
pub fn timer_ms(ms: Millis) -> u32 {
    ms.min(i32::MAX as Millis) as u32
}
