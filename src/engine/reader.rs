//! Typed, strict reading of a [`Value`] object: every field optional with a default
//! (or required), its type checked, unknown fields rejected, and every error naming
//! the field's path (`services[0].breaker.openMs`), the rule and the value given.
//!
//! Used for the config and for stored snapshots (which only need to know whether the
//! read worked).

use super::config::ConfigError;
use super::value::{format_number, Value};
use super::Millis;

/// Largest integer every JS number below it represents exactly (2^53).
pub const MAX_SAFE: u64 = 1 << 53;

/// Reads the fields of one object, recording which names were asked for.
pub(crate) struct ObjectReader<'a> {
    path: String,
    fields: &'a [(String, Value)],
    known: Vec<&'static str>,
}

impl<'a> ObjectReader<'a> {
    /// A reader for `value` at `path`; an error unless it is an object. The top
    /// level (empty path) is named `config` in errors.
    pub(crate) fn new(path: String, value: &'a Value) -> Result<Self, ConfigError> {
        match value {
            Value::Object(fields) => Ok(Self { path, fields, known: Vec::new() }),
            other => {
                let field = if path.is_empty() { "config".to_owned() } else { path };
                Err(wrong(field, "be an object", other))
            }
        }
    }

    /// The path of a field of this object.
    pub(crate) fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Reads `name` with `read` (given the field's path) if it is there, else `default`.
    pub(crate) fn field<T>(
        &mut self,
        name: &'static str,
        default: T,
        read: impl FnOnce(String, &'a Value) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.take(name) {
            Some(value) => read(self.path_of(name), value),
            None => Ok(default),
        }
    }

    /// Reads `name` with `read`; an error if it is missing.
    pub(crate) fn required<T>(
        &mut self,
        name: &'static str,
        read: impl FnOnce(String, &'a Value) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.take(name) {
            Some(value) => read(self.path_of(name), value),
            None => Err(ConfigError { field: self.path_of(name), rule: "be given".into(), value: "nothing".into() }),
        }
    }

    /// A duration or instant: a whole number up to 2^53.
    pub(crate) fn millis(&mut self, name: &'static str, default: Millis) -> Result<Millis, ConfigError> {
        self.field(name, default, |path, v| whole(path, v, MAX_SAFE))
    }

    /// A `u32`.
    pub(crate) fn u32(&mut self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        self.field(name, default, whole_u32)
    }

    /// Any number.
    pub(crate) fn f64(&mut self, name: &'static str, default: f64) -> Result<f64, ConfigError> {
        self.field(name, default, number)
    }

    /// A boolean.
    pub(crate) fn bool(&mut self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.field(name, default, |path, v| match v {
            Value::Bool(b) => Ok(*b),
            other => Err(wrong(path, "be a boolean", other)),
        })
    }

    /// A string.
    pub(crate) fn string(&mut self, name: &'static str, default: String) -> Result<String, ConfigError> {
        self.field(name, default, string)
    }

    /// An array, each item read by `item` (given the item's path, `name[i]`).
    pub(crate) fn list<T>(
        &mut self,
        name: &'static str,
        default: Vec<T>,
        item: impl Fn(String, &'a Value) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        self.field(name, default, |path, v| list(path, v, item))
    }

    /// An array of strings.
    pub(crate) fn strings(&mut self, name: &'static str, default: Vec<String>) -> Result<Vec<String>, ConfigError> {
        self.list(name, default, string)
    }

    /// A nested object, read by `read` if given, else `default`.
    pub(crate) fn object<T>(
        &mut self,
        name: &'static str,
        default: T,
        read: impl FnOnce(ObjectReader<'a>) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        self.field(name, default, |path, v| read(ObjectReader::new(path, v)?))
    }

    /// Done reading: an error for the first field that was never asked for.
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        match self.fields.iter().find(|(key, _)| !self.known.contains(&key.as_str())) {
            Some((key, value)) => {
                Err(ConfigError { field: self.path_of(key), rule: "be a known field".into(), value: shown(value) })
            }
            None => Ok(()),
        }
    }

    fn take(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.fields.iter().rev().find(|(key, _)| key == name).map(|(_, v)| v)
    }
}

/// A value as shown in an error: numbers as JS prints them (`NaN` too), the rest as JSON.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => format_number(*n),
        other => other.to_json(),
    }
}

/// The error for a value of the wrong type or shape.
pub(crate) fn wrong(field: String, rule: &str, value: &Value) -> ConfigError {
    ConfigError { field, rule: rule.into(), value: shown(value) }
}

/// Any number.
pub(crate) fn number(path: String, value: &Value) -> Result<f64, ConfigError> {
    match value {
        Value::Number(n) => Ok(*n),
        other => Err(wrong(path, "be a number", other)),
    }
}

/// A finite whole number from 0 to `max` (at most 2^53).
pub(crate) fn whole(path: String, value: &Value, max: u64) -> Result<u64, ConfigError> {
    let n = match value {
        Value::Number(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 => *n,
        other => return Err(wrong(path, "be a whole number", other)),
    };
    let max = max.min(MAX_SAFE);
    // In range, the cast is exact; past 2^64 it saturates, and is rejected as too big.
    let whole = n as u64;
    if whole > max {
        return Err(wrong(path, &format!("be at most {max}"), value));
    }
    Ok(whole)
}

/// A whole number that fits a `u32`.
pub(crate) fn whole_u32(path: String, value: &Value) -> Result<u32, ConfigError> {
    whole(path, value, u64::from(u32::MAX)).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A whole number that fits a `u16`.
pub(crate) fn whole_u16(path: String, value: &Value) -> Result<u16, ConfigError> {
    whole(path, value, u64::from(u16::MAX)).map(|n| u16::try_from(n).unwrap_or(u16::MAX))
}

/// A string.
pub(crate) fn string(path: String, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong(path, "be a string", other)),
    }
}

/// One of a fixed set of strings, turned into `T` by `parse`; `names` lists them for the error.
pub(crate) fn one_of<T>(
    path: String,
    value: &Value,
    names: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ConfigError> {
    match value {
        Value::String(s) => parse(s),
        _ => None,
    }
    .ok_or_else(|| wrong(path, &format!("be one of {names}"), value))
}

/// An array, each item read by `item` (given its path, `path[i]`).
pub(crate) fn list<'a, T>(
    path: String,
    value: &'a Value,
    item: impl Fn(String, &'a Value) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    match value {
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| item(format!("{path}[{i}]"), v)).collect(),
        other => Err(wrong(path, "be an array", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::from_json_text;

    #[test]
    fn fields_are_typed_defaulted_and_known() {
        let v = from_json_text(r#"{"a":5,"b":true,"c":"x","d":[1,2],"e":{"f":0.5}}"#);
        let mut r = ObjectReader::new("top".into(), &v).unwrap();
        assert_eq!(r.millis("a", 1), Ok(5));
        assert_eq!(r.bool("b", false), Ok(true));
        assert_eq!(r.string("c", String::new()), Ok("x".into()));
        assert_eq!(r.list("d", vec![], whole_u16), Ok(vec![1, 2]));
        assert_eq!(r.u32("missing", 7), Ok(7));
        let f = r.object("e", 0.0, |mut e| {
            let f = e.f64("f", 0.0)?;
            e.finish().map(|()| f)
        });
        assert_eq!(f, Ok(0.5));
        assert_eq!(r.object("gone", 1.0, |_| Ok(2.0)), Ok(1.0));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn errors_name_the_path_the_rule_and_the_value() {
        let v = from_json_text(r#"{"a":-1,"b":1.5,"c":1e300,"d":70000,"e":["x",1],"f":null,"g":1}"#);
        let mut r = ObjectReader::new("top".into(), &v).unwrap();
        let e = r.millis("a", 0).unwrap_err();
        assert_eq!(e.to_string(), "top.a must be a whole number, got -1");
        assert_eq!(r.u32("b", 0).unwrap_err().to_string(), "top.b must be a whole number, got 1.5");
        assert_eq!(r.millis("c", 0).unwrap_err().rule, "be at most 9007199254740992");
        assert_eq!(r.list("d", vec![], whole_u16).unwrap_err().rule, "be an array");
        let e = r.strings("e", vec![]).unwrap_err();
        assert_eq!(e.to_string(), "top.e[1] must be a string, got 1");
        assert_eq!(r.bool("f", true).unwrap_err().to_string(), "top.f must be a boolean, got null");
        let e = r.finish().unwrap_err();
        assert_eq!((e.field.as_str(), e.rule.as_str(), e.value.as_str()), ("top.g", "be a known field", "1"));
        assert_eq!(whole_u16("x".into(), &Value::Number(70_000.0)).unwrap_err().rule, "be at most 65535");
        assert_eq!(whole("x".into(), &Value::Number(f64::NAN), 9).unwrap_err().value, "NaN");
        let e = ObjectReader::new(String::new(), &Value::Array(vec![])).err().unwrap();
        assert_eq!(e.to_string(), "config must be an object, got []");
        let mut r = ObjectReader::new("s".into(), &v).unwrap();
        assert_eq!(r.required("name", string).unwrap_err().to_string(), "s.name must be given, got nothing");
    }
}
