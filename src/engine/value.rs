//! A JSON-like value tree: what a JS caller passes in (config, stored snapshots) and
//! gets back (events, metrics, snapshots).
//!
//! The browser layer converts JS values to and from [`Value`] itself, so the engine
//! needs no serialisation framework and no JSON parser. Numbers are printed by
//! [`format_number`] with integer arithmetic only: no float formatting machinery is
//! linked into the wasm module.

/// A JSON-like value: what a JS caller passes in and gets back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (and `undefined`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (JS numbers are all `f64`).
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: its fields in order. A key given twice reads as its last value, as in JS.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An object from `(key, value)` pairs, in order.
    pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Self::object_of(Vec::from(pairs))
    }

    /// [`Value::object`] for any number of pairs: one copy of this code in wasm,
    /// not one per `N`.
    #[inline(never)]
    fn object_of(pairs: Vec<(&str, Value)>) -> Value {
        let mut fields = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            fields.push((key.to_owned(), value));
        }
        Value::Object(fields)
    }

    /// An object's field (its last value if the key is given twice); `None` for a
    /// missing key or a value that is not an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Compact JSON text. Non-finite numbers become `null`, as `JSON.stringify` does.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) if n.is_finite() => out.push_str(&format_number(*n)),
            Value::Number(_) => out.push_str("null"),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped; all
/// else (any Unicode) as is.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                // `\u00XX` by hand: `{:04x}` would link padded hex formatting.
                let n = u32::from(c);
                out.push_str("\\u00");
                out.extend(char::from_digit(n >> 4, 16));
                out.extend(char::from_digit(n & 0xF, 16));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<u64> for Value {
    /// Exact up to 2^53, like any JS number.
    fn from(n: u64) -> Self {
        Value::Number(n as f64)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(f64::from(n))
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Self {
        Value::Number(f64::from(n))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is `null`.
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

/// Appends `(keys[i], values[i])` to an object's fields: one loop for every table of
/// counters, not one pair built per field.
pub(crate) fn push_numbers(fields: &mut Vec<(String, Value)>, keys: &[&str], values: &[u64]) {
    for (key, value) in keys.iter().zip(values) {
        fields.push(((*key).to_owned(), (*value).into()));
    }
}

/// Whole numbers as an array.
pub(crate) fn numbers(values: &[u64]) -> Value {
    let mut items = Vec::with_capacity(values.len());
    for value in values {
        items.push((*value).into());
    }
    Value::Array(items)
}

/// Decimals kept by [`format_number`].
const DECIMALS: u64 = 1_000_000;
/// Past this a number no longer fits the integer path and is printed with an exponent.
const MAX_PLAIN: f64 = 18_446_744_073_709_551_615.0;

/// Formats a number the way JS would for ordinary values: integers without ".0"
/// (`3`, `-2`), others with up to 6 decimals, trailing zeros trimmed (`0.2`, `0.125`);
/// `NaN`, `Infinity`, `-Infinity`. Magnitudes of 2^64 and up are printed as
/// `1.844674e+19`. Uses integer arithmetic only (no float formatting code).
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let digits = plain_or_exponent(n.abs());
    if n < 0.0 && digits != "0" {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A finite, non-negative number as digits.
fn plain_or_exponent(a: f64) -> String {
    if a < MAX_PLAIN {
        return plain(a);
    }
    // Scale into [1, 10) by powers of ten: the mantissa's 6 decimals are all that is kept.
    let (mut mantissa, mut exponent) = (a, 0u32);
    while mantissa >= 10.0 {
        mantissa /= 10.0;
        exponent += 1;
    }
    let mut digits = plain(mantissa);
    if digits == "10" {
        digits = "1".into();
        exponent += 1;
    }
    format!("{digits}e+{exponent}")
}

/// `0 <= a < 2^64` as integer digits and up to 6 trimmed decimals, rounded half up.
fn plain(a: f64) -> String {
    let whole = a.trunc();
    // Exact: the fraction of an f64 is representable, and scaling it stays far from 2^53.
    let mut fraction = ((a - whole) * DECIMALS as f64).round() as u64;
    let mut integer = whole as u64;
    if fraction >= DECIMALS {
        fraction = 0;
        integer = integer.saturating_add(1);
    }
    let mut text = integer.to_string();
    if fraction > 0 {
        let mut decimals = fraction.to_string();
        while decimals.len() < 6 {
            decimals.insert(0, '0');
        }
        text.push('.');
        text.push_str(decimals.trim_end_matches('0'));
    }
    text
}

/// Test support: JSON text to a [`Value`], through serde_json.
#[cfg(test)]
pub(crate) fn from_json_text(text: &str) -> Value {
    fn convert(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap()),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(convert).collect()),
            serde_json::Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, convert(v))).collect()),
        }
    }
    convert(serde_json::from_str(text).unwrap())
}

/// Test support: arbitrary values, their keys often the engine's own field names so
/// that readers get past the first level.
#[cfg(test)]
pub(crate) fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let key = prop_oneof![
        3 => prop::sample::select(vec![
            "version", "savedAt", "services", "name", "breaker", "state", "openRemainingMs", "reopenCount", "retry",
            "maxAttempts", "match", "probeUrl",
        ])
        .prop_map(String::from),
        1 => ".{0,6}",
    ];
    let number = prop_oneof![
        prop::sample::select(vec![0.0, 1.0, -1.0, 0.5, 1e300, f64::NAN, f64::INFINITY, 9_007_199_254_740_993.0]),
        any::<f64>(),
        (0u32..100_000).prop_map(f64::from),
    ];
    let text = prop_oneof![
        prop::sample::select(vec!["open", "closed", "halfOpen", "isolated", "plex", ""]).prop_map(String::from),
        ".{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number.prop_map(Value::Number),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(Value::Object),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_print_like_js() {
        let cases: [(f64, &str); 20] = [
            (0.0, "0"),
            (-0.0, "0"),
            (3.0, "3"),
            (-2.0, "-2"),
            (0.2, "0.2"),
            (0.125, "0.125"),
            (1.5, "1.5"),
            (-1.5, "-1.5"),
            (1e6, "1000000"),
            (0.1 + 0.2, "0.3"),
            (1.0 / 3.0, "0.333333"),
            (2.0 / 3.0, "0.666667"),
            (0.9999999, "1"),
            (-0.0000001, "0"),
            (9_007_199_254_740_992.0, "9007199254740992"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (n, text) in cases {
            assert_eq!(format_number(n), text, "{n}");
        }
        assert_eq!(format_number(f64::MAX), "1.797693e+308");
        assert_eq!(format_number(u64::MAX as f64), "1.844674e+19");
        assert_eq!(format_number(-1e30), "-1e+30");
    }

    #[test]
    fn json_text_is_compact_and_escaped() {
        let v = Value::object([
            ("s", "a\"b\\c\nd\te\u{1}f\u{1f}".into()),
            ("u", "é→🎬\u{2028}".into()),
            ("n", Value::Array(vec![1u32.into(), 0.5.into(), f64::NAN.into(), Value::Null, true.into()])),
            ("o", Value::Object(vec![])),
        ]);
        assert_eq!(
            v.to_json(),
            "{\"s\":\"a\\\"b\\\\c\\nd\\te\\u0001f\\u001f\",\"u\":\"é→🎬\u{2028}\",\"n\":[1,0.5,null,null,true],\"o\":{}}"
        );
        // And serde_json reads back exactly what was written.
        assert_eq!(from_json_text(&v.to_json()).get("s"), v.get("s"));
        assert_eq!(from_json_text(&v.to_json()).get("u"), v.get("u"));
    }

    #[test]
    fn get_reads_object_fields_only_the_last_of_duplicates() {
        let v = Value::Object(vec![("a".into(), 1u32.into()), ("a".into(), 2u32.into())]);
        assert_eq!(v.get("a"), Some(&Value::Number(2.0)));
        assert_eq!(v.get("b"), None);
        assert_eq!(Value::Array(vec![]).get("a"), None);
        assert_eq!(Value::from(None::<u32>), Value::Null);
    }

    proptest! {
        #[test]
        fn numbers_round_trip_to_six_decimals(n in -1e12f64..1e12) {
            let text = format_number(n);
            let back: f64 = text.parse().unwrap();
            prop_assert!((back - n).abs() <= 0.5e-6 + n.abs() * 1e-15, "{n} -> {text}");
            let trimmed = !text.contains('.') || !(text.ends_with('.') || text.ends_with('0'));
            prop_assert!(trimmed, "{text}");
        }

        #[test]
        fn integers_print_exactly(n in any::<i64>()) {
            let n = n >> 11; // within ±2^52: exact as f64
            prop_assert_eq!(format_number(n as f64), n.to_string());
        }

        #[test]
        fn any_string_survives_json(s in ".*") {
            let json = Value::String(s.clone()).to_json();
            prop_assert_eq!(serde_json::from_str::<String>(&json).unwrap(), s);
        }
    }
}
