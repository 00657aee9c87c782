//! Typed, strict reading of a [`Value`] object: every field optional with a default
//! (or required), its type checked, unknown fields rejected, and every error naming
//! the field's path (`services[0].breaker.openMs`), the rule and the value given.
//!
//! Used for the config. Stored snapshots only need to know whether a read worked:
//! [`exact`] and [`whole_up_to`] read them without building errors. Readers are plain
//! functions, not generic over closures, and errors travel boxed: both keep the wasm
//! module small.

use super::config::ConfigError;
use super::value::{format_number, Value};
use super::Millis;

/// Largest integer every JS number below it represents exactly (2^53).
pub const MAX_SAFE: u64 = 1 << 53;

/// A read (or check) result; the error is boxed so results stay one word wide.
pub(crate) type Res<T> = Result<T, Box<ConfigError>>;

/// Reads the fields of one object, recording which names were asked for.
pub(crate) struct ObjectReader<'a> {
    path: String,
    fields: &'a [(String, Value)],
    known: Vec<&'static str>,
}

impl<'a> ObjectReader<'a> {
    /// A reader for `value` at `path`; an error unless it is an object. The top
    /// level (empty path) is named `config` in errors.
    pub(crate) fn new(path: String, value: &'a Value) -> Res<Self> {
        match value {
            Value::Object(fields) => Ok(Self { path, fields, known: Vec::new() }),
            other => {
                let field = if path.is_empty() { "config".to_owned() } else { path };
                Err(wrong(field, "be an object", other))
            }
        }
    }

    /// The path of a field of this object.
    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The path and value of `name` if it is there (its last value if given twice).
    pub(crate) fn get(&mut self, name: &'static str) -> Option<(String, &'a Value)> {
        self.known.push(name);
        let (_, value) = self.fields.iter().rev().find(|(key, _)| key == name)?;
        Some((self.path_of(name), value))
    }

    /// The path and value of `name`; an error if it is missing.
    pub(crate) fn need(&mut self, name: &'static str) -> Res<(String, &'a Value)> {
        match self.get(name) {
            Some(field) => Ok(field),
            None => Err(error(self.path_of(name), "be given", "nothing".into())),
        }
    }

    /// A duration or instant (a whole number up to 2^53) into `slot`, if given.
    pub(crate) fn millis(&mut self, name: &'static str, slot: &mut Millis) -> Res<()> {
        if let Some((path, v)) = self.get(name) {
            *slot = whole(path, v, MAX_SAFE)?;
        }
        Ok(())
    }

    /// A `u32` into `slot`, if given.
    pub(crate) fn u32(&mut self, name: &'static str, slot: &mut u32) -> Res<()> {
        if let Some((path, v)) = self.get(name) {
            *slot = whole_u32(path, v)?;
        }
        Ok(())
    }

    /// Any number into `slot`, if given.
    pub(crate) fn f64(&mut self, name: &'static str, slot: &mut f64) -> Res<()> {
        if let Some((path, v)) = self.get(name) {
            *slot = number(path, v)?;
        }
        Ok(())
    }

    /// A boolean into `slot`, if given.
    pub(crate) fn bool(&mut self, name: &'static str, slot: &mut bool) -> Res<()> {
        if let Some((path, v)) = self.get(name) {
            *slot = match v {
                Value::Bool(b) => *b,
                other => return Err(wrong(path, "be a boolean", other)),
            };
        }
        Ok(())
    }

    /// A string into `slot`, if given.
    pub(crate) fn string(&mut self, name: &'static str, slot: &mut String) -> Res<()> {
        if let Some((path, v)) = self.get(name) {
            *slot = string(path, v)?;
        }
        Ok(())
    }

    /// An array of strings into `slot`, if given.
    pub(crate) fn strings(&mut self, name: &'static str, slot: &mut Vec<String>) -> Res<()> {
        if let Some((path, v)) = self.get(name) {
            *slot = strings(&path, v)?;
        }
        Ok(())
    }

    /// A reader for the nested object `name`, if given.
    pub(crate) fn object(&mut self, name: &'static str) -> Res<Option<ObjectReader<'a>>> {
        match self.get(name) {
            Some((path, v)) => ObjectReader::new(path, v).map(Some),
            None => Ok(None),
        }
    }

    /// Done reading: an error for the first field that was never asked for.
    pub(crate) fn finish(self) -> Res<()> {
        match self.fields.iter().find(|(key, _)| !self.known.contains(&key.as_str())) {
            Some((key, value)) => Err(error(self.path_of(key), "be a known field", shown(value))),
            None => Ok(()),
        }
    }
}

/// A value as shown in an error: numbers as JS prints them (`NaN` too), the rest as JSON.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => format_number(*n),
        other => other.to_json(),
    }
}

/// A boxed error: `field` must `rule`, got `value`.
pub(crate) fn error(field: String, rule: &str, value: String) -> Box<ConfigError> {
    Box::new(ConfigError { field, rule: rule.into(), value })
}

/// The error for a value of the wrong type or shape.
pub(crate) fn wrong(field: String, rule: &str, value: &Value) -> Box<ConfigError> {
    error(field, rule, shown(value))
}

/// Any number.
pub(crate) fn number(path: String, value: &Value) -> Res<f64> {
    match value {
        Value::Number(n) => Ok(*n),
        other => Err(wrong(path, "be a number", other)),
    }
}

/// `value` if it is a finite whole number from 0 (saturating past 2^64).
fn whole_number(value: &Value) -> Option<u64> {
    match value {
        // In range, the cast is exact; past 2^64 it saturates, and is too big for any `max`.
        Value::Number(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
        _ => None,
    }
}

/// A finite whole number from 0 to `max` (at most 2^53).
pub(crate) fn whole(path: String, value: &Value, max: u64) -> Res<u64> {
    let max = max.min(MAX_SAFE);
    match whole_number(value) {
        None => Err(wrong(path, "be a whole number", value)),
        Some(n) if n > max => Err(wrong(path, &format!("be at most {max}"), value)),
        Some(n) => Ok(n),
    }
}

/// [`whole`] without the error: for reads that only need to know whether they worked.
pub(crate) fn whole_up_to(value: &Value, max: u64) -> Option<u64> {
    whole_number(value).filter(|n| *n <= max.min(MAX_SAFE))
}

/// The values of an object's fields `names`, in that order, if it has them all and
/// no others (a field given twice counts with its last value).
pub(crate) fn exact<'a>(value: &'a Value, names: &[&str]) -> Option<Vec<&'a Value>> {
    let Value::Object(fields) = value else { return None };
    if fields.iter().any(|(key, _)| !names.contains(&key.as_str())) {
        return None;
    }
    let mut values = Vec::new();
    for name in names {
        values.push(value.get(name)?);
    }
    Some(values)
}

/// A whole number that fits a `u32`.
pub(crate) fn whole_u32(path: String, value: &Value) -> Res<u32> {
    whole(path, value, u64::from(u32::MAX)).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A whole number that fits a `u16`.
pub(crate) fn whole_u16(path: String, value: &Value) -> Res<u16> {
    whole(path, value, u64::from(u16::MAX)).map(|n| u16::try_from(n).unwrap_or(u16::MAX))
}

/// A string.
pub(crate) fn string(path: String, value: &Value) -> Res<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong(path, "be a string", other)),
    }
}

/// One of a fixed set of strings, turned into `T` by `parse`; `names` lists them for the error.
pub(crate) fn one_of<T>(path: String, value: &Value, names: &str, parse: fn(&str) -> Option<T>) -> Res<T> {
    match value {
        Value::String(s) => parse(s),
        _ => None,
    }
    .ok_or_else(|| wrong(path, &format!("be one of {names}"), value))
}

/// An array's items, each with its path (`path[i]`).
pub(crate) fn items<'v>(path: &str, value: &'v Value) -> Res<Vec<(String, &'v Value)>> {
    match value {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                out.push((format!("{path}[{i}]"), v));
            }
            Ok(out)
        }
        other => Err(wrong(path.to_owned(), "be an array", other)),
    }
}

/// An array of strings.
pub(crate) fn strings(path: &str, value: &Value) -> Res<Vec<String>> {
    let mut out = Vec::new();
    for (path, v) in items(path, value)? {
        out.push(string(path, v)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::from_json_text;

    #[test]
    fn fields_are_typed_defaulted_and_known() {
        let v = from_json_text(r#"{"a":5,"b":true,"c":"x","d":["y"],"e":{"f":0.5}}"#);
        let mut r = ObjectReader::new("top".into(), &v).unwrap();
        let (mut a, mut b, mut c, mut d, mut f, mut g) = (1, false, String::new(), vec![], 0.0, 7);
        r.millis("a", &mut a).unwrap();
        r.bool("b", &mut b).unwrap();
        r.string("c", &mut c).unwrap();
        r.strings("d", &mut d).unwrap();
        r.u32("missing", &mut g).unwrap();
        assert_eq!((a, b, c.as_str(), d, g), (5, true, "x", vec!["y".to_string()], 7));
        let mut e = r.object("e").unwrap().unwrap();
        e.f64("f", &mut f).unwrap();
        e.finish().unwrap();
        assert_eq!(f, 0.5);
        assert!(r.object("gone").unwrap().is_none());
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn errors_name_the_path_the_rule_and_the_value() {
        let v = from_json_text(r#"{"a":-1,"b":1.5,"c":1e300,"d":70000,"e":["x",1],"f":null,"g":1}"#);
        let mut r = ObjectReader::new("top".into(), &v).unwrap();
        let e = r.millis("a", &mut 0).unwrap_err();
        assert_eq!(e.to_string(), "top.a must be a whole number, got -1");
        assert_eq!(r.u32("b", &mut 0).unwrap_err().to_string(), "top.b must be a whole number, got 1.5");
        assert_eq!(r.millis("c", &mut 0).unwrap_err().rule, "be at most 9007199254740992");
        assert_eq!(r.strings("d", &mut vec![]).unwrap_err().rule, "be an array");
        let e = r.strings("e", &mut vec![]).unwrap_err();
        assert_eq!(e.to_string(), "top.e[1] must be a string, got 1");
        assert_eq!(r.bool("f", &mut true).unwrap_err().to_string(), "top.f must be a boolean, got null");
        let e = r.finish().unwrap_err();
        assert_eq!((e.field.as_str(), e.rule.as_str(), e.value.as_str()), ("top.g", "be a known field", "1"));
        assert_eq!(whole_u16("x".into(), &Value::Number(70_000.0)).unwrap_err().rule, "be at most 65535");
        assert_eq!(whole("x".into(), &Value::Number(f64::NAN), 9).unwrap_err().value, "NaN");
        let e = ObjectReader::new(String::new(), &Value::Array(vec![])).err().unwrap();
        assert_eq!(e.to_string(), "config must be an object, got []");
        let mut r = ObjectReader::new("s".into(), &v).unwrap();
        assert_eq!(r.need("name").unwrap_err().to_string(), "s.name must be given, got nothing");
    }
}
