//! The browser layer (wasm32 only): the one place that touches the browser.
//!
//! For now it exposes config validation, so the wasm build, the pinned
//! wasm-bindgen CLI and the JS error shape are exercised from the start; the
//! resilient fetch, events and persistence build on it.

use js_sys::{Error, Reflect};
use wasm_bindgen::prelude::*;

use crate::engine::config::{Config, ConfigError};

/// Validates a player config object. Throws an `Error` with `code: "CONFIG"` and
/// `field` naming the offending path when it is invalid.
#[wasm_bindgen(js_name = validateConfig)]
pub fn validate_config(config: JsValue) -> Result<(), JsValue> {
    let source = if config.is_undefined() || config.is_null() { JsValue::from(js_sys::Object::new()) } else { config };
    Config::from_deserializer(serde_wasm_bindgen::Deserializer::from(source)).map(drop).map_err(config_error)
}

/// A JS `Error` carrying the stable `code` and the offending `field`.
fn config_error(e: ConfigError) -> JsValue {
    let error = Error::new(&e.to_string());
    let error_value = JsValue::from(error);
    // Setting own properties on a fresh Error object cannot fail.
    let _ = Reflect::set(&error_value, &"code".into(), &"CONFIG".into());
    let _ = Reflect::set(&error_value, &"field".into(), &e.field.into());
    error_value
}
