//! Persisted breaker state: localStorage, or memory when storage is missing,
//! forbidden or full.

use js_sys::JSON;
use wasm_bindgen::JsValue;
use web_sys::Storage;

/// One stored record under a key.
pub struct Store {
    key: String,
    local: Option<Storage>,
    memory: Option<String>,
}

impl Store {
    /// Opens the record under `key`; without usable localStorage, keeps it in memory.
    pub fn open(key: &str) -> Self {
        // `window.localStorage` itself throws in some private modes and sandboxed frames.
        let local = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
        Self { key: key.to_owned(), local, memory: None }
    }

    /// The stored value, parsed; `None` when absent or not JSON.
    pub fn load(&self) -> Option<JsValue> {
        let text = match &self.local {
            Some(storage) => storage.get_item(&self.key).ok().flatten(),
            None => self.memory.clone(),
        }?;
        JSON::parse(&text).ok()
    }

    /// Stores `value` as JSON. A failed write (quota, forbidden) moves the record
    /// to memory for the rest of this instance's life.
    pub fn save(&mut self, value: &JsValue) {
        let Some(text) = JSON::stringify(value).ok().and_then(|t| t.as_string()) else {
            return;
        };
        if let Some(storage) = &self.local {
            if storage.set_item(&self.key, &text).is_ok() {
                return;
            }
            self.local = None;
        }
        self.memory = Some(text);
    }
}
