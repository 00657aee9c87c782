//! The typed errors the JS caller sees: `Error`s with a stable `code`.

use js_sys::{Error, Reflect};
use wasm_bindgen::JsValue;

use crate::engine::config::ConfigError;
use crate::engine::resilience::Failure;

/// An `Error` named `name` with `message` and extra own properties.
fn error(name: &str, message: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let error = Error::new(message);
    error.set_name(name);
    let value = JsValue::from(error);
    for (key, field) in fields {
        // Defining a property on a fresh Error cannot fail.
        let _ = Reflect::set(&value, &JsValue::from_str(key), field);
    }
    value
}

/// `CONFIG`: the config broke a rule; `field` names its path.
pub fn config(e: &ConfigError) -> JsValue {
    error(
        "ResilienceError",
        &e.to_string(),
        &[("code", "CONFIG".into()), ("field", e.field.as_str().into()), ("rule", e.rule.as_str().into())],
    )
}

/// A request's failure. `service` is the service's name; `url` is already redacted.
pub fn failure(failure: &Failure, service: &str, url: &str) -> JsValue {
    let code = failure.code();
    let base = [("code", JsValue::from_str(code)), ("service", service.into()), ("url", url.into())];
    let number = |n: Option<u64>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
    match failure {
        Failure::BreakerOpen { service, retry_after_ms } => {
            let message = match retry_after_ms {
                Some(ms) => format!("{service} is unavailable (circuit open); try again in {ms} ms"),
                None => format!("{service} is isolated (circuit held open)"),
            };
            error("ResilienceError", &message, &[&base[..], &[("retryAfterMs", number(*retry_after_ms))]].concat())
        }
        Failure::Timeout { attempts } => error(
            "ResilienceError",
            &format!("{service}: request timed out ({attempts} attempts)"),
            &[&base[..], &[("attempts", JsValue::from(*attempts))]].concat(),
        ),
        Failure::RetriesExhausted { attempts, last_status } => {
            let message = match last_status {
                Some(status) => format!("{service}: request failed after {attempts} attempts (last status {status})"),
                None => format!("{service}: request failed after {attempts} attempts (network error)"),
            };
            let fields = [("attempts", JsValue::from(*attempts)), ("status", number(last_status.map(u64::from)))];
            error("ResilienceError", &message, &[&base[..], &fields].concat())
        }
        Failure::Offline => error("ResilienceError", "the browser is offline", &base),
        // Named like the browser's own abort, so `e.name === 'AbortError'` checks keep working.
        Failure::Aborted => error("AbortError", "the request was aborted", &base),
    }
}
