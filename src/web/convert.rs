//! JS values to and from the engine's [`Value`] tree.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::engine::value::Value;

/// Deeper than this, a JS value is read as `null` (guards against cycles).
const MAX_DEPTH: usize = 32;

/// Reads a JS value; functions, symbols and bigints read as `null`.
pub fn to_value(js: &JsValue) -> Value {
    read(js, 0)
}

fn read(js: &JsValue, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        Value::Null
    } else if let Some(b) = js.as_bool() {
        Value::Bool(b)
    } else if let Some(n) = js.as_f64() {
        Value::Number(n)
    } else if let Some(s) = js.as_string() {
        Value::String(s)
    } else if Array::is_array(js) {
        Value::Array(Array::from(js).iter().map(|item| read(&item, depth + 1)).collect())
    } else if js.is_object() && !js.is_function() {
        let entries = Object::entries(js.unchecked_ref());
        let fields = entries
            .iter()
            .filter_map(|pair| {
                let pair = pair.dyn_into::<Array>().ok()?;
                Some((pair.get(0).as_string()?, read(&pair.get(1), depth + 1)))
            })
            .collect();
        Value::Object(fields)
    } else {
        Value::Null
    }
}

/// Builds the plain JS value for `value`.
pub fn to_js(value: &Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(*n),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        Value::Object(fields) => {
            let object = Object::new();
            for (key, field) in fields {
                // Defining a property on a fresh plain object cannot fail.
                let _ = Reflect::set(&object, &JsValue::from_str(key), &to_js(field));
            }
            object.into()
        }
    }
}
