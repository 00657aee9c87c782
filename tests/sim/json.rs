//! Test support: JSON to the engine's [`Value`] through serde_json (the engine itself
//! has no JSON parser; the browser layer converts JS values directly).

use player_resilience::engine::value::Value;

/// A serde_json value as an engine value.
pub fn value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap()),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(value).collect()),
        serde_json::Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, value(v))).collect()),
    }
}

/// JSON text as an engine value; panics on text that is not JSON.
pub fn parse(text: &str) -> Value {
    value(serde_json::from_str(text).unwrap())
}
