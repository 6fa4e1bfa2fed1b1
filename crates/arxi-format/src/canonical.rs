//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a value.
//!
//! The canonical form is what gets hashed and signed, so this module is both
//! a correctness boundary and a hot path (every envelope passes through it).
//! It writes directly into a byte buffer from a `serde_json::Value`:
//!
//! - object members sorted by the UTF-16 code units of their keys;
//! - no insignificant whitespace;
//! - strings with exactly the escapes RFC 8785 §3.2.2.2 prescribes
//!   (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00xx` for the other
//!   control characters, everything else literal UTF-8);
//! - numbers in the ECMAScript `Number.prototype.toString` form (ryu-js),
//!   integers through a direct decimal path.
//!
//! Values that cannot be represented exactly are refused rather than
//! rounded: integers outside ±(2^53-1), doubles from 2^53 up to 1e21 (which
//! ECMAScript would write as such integers: `1e20` becomes
//! `100000000000000000000`, text the strict parser refuses), and nesting
//! deeper than [`crate::json::HARD_MAX_DEPTH`]. Parsing (and the duplicate-key rule) is in
//! [`crate::json`]; this module never sees duplicates because a
//! `serde_json::Map` cannot hold them.
//!
//! `serde_jcs` was measured at 16 µs per 1 KB envelope and rounds large
//! integers; this writer is checked byte for byte against it in the tests.

use std::fmt;

use serde_json::{Map, Number, Value};

pub use crate::canonical_check::is_canonical;
use crate::json::{self, HARD_MAX_DEPTH, JsonError, MAX_SAFE_INTEGER};
use crate::rfc8785::written_as_unsafe_integer;
pub use crate::rfc8785::{utf16_cmp, write_f64};

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// The input text was not acceptable JSON.
    Json(JsonError),
    /// An integer outside ±(2^53-1); the decimal text is carried.
    IntegerOutOfRange(String),
    /// Nesting deeper than the hard limit.
    TooDeep(usize),
}

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(error) => write!(f, "{error}"),
            Self::IntegerOutOfRange(text) => {
                write!(f, "integer {text} is outside the exact range ±(2^53-1)")
            }
            Self::TooDeep(limit) => write!(f, "value nested deeper than {limit}"),
        }
    }
}

impl std::error::Error for CanonicalError {}

impl From<JsonError> for CanonicalError {
    fn from(error: JsonError) -> Self {
        Self::Json(error)
    }
}

/// Bytes known to be the RFC 8785 canonical form of some JSON value.
///
/// The only ways to obtain one run the canonicalizer, so holders can splice
/// the bytes into larger canonical documents without re-checking them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CanonicalJson(Vec<u8>);

impl CanonicalJson {
    /// Canonicalizes a value.
    pub fn from_value(value: &Value) -> Result<Self, CanonicalError> {
        let mut out = Vec::with_capacity(128);
        write_value(&mut out, value)?;
        Ok(Self(out))
    }

    /// Takes bytes that are already canonical as they are (checked with
    /// [`is_canonical`], without rewriting them); `None` otherwise.
    pub fn from_canonical(bytes: &[u8]) -> Option<Self> {
        is_canonical(bytes).then(|| Self(bytes.to_vec()))
    }

    /// Wraps a part of a document that passed [`is_canonical`] (every part
    /// of a canonical document is canonical).
    pub(crate) fn assume_canonical(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// Parses JSON text strictly ([`json::parse`]) and canonicalizes it.
    pub fn parse(text: &[u8]) -> Result<Self, CanonicalError> {
        let value = json::parse(text)?;
        Self::from_value(&value)
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The canonical text (canonical JSON is always UTF-8).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0)
            .expect("canonical bytes are built only from `&str` pieces and ASCII")
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Parses the canonical bytes back into a value.
    pub fn to_value(&self) -> Value {
        // Canonical bytes always parse: they were written from a value.
        json::parse(&self.0).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for CanonicalJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CanonicalJson({})", self.as_str())
    }
}

/// Parses `text` strictly and returns its canonical bytes.
pub fn canonicalize(text: &[u8]) -> Result<Vec<u8>, CanonicalError> {
    CanonicalJson::parse(text).map(CanonicalJson::into_bytes)
}

/// Appends the canonical form of `value` to `out`.
///
/// On error `out` may hold a partial write; callers discard it.
pub fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    write_nested(out, value, 0, Numbers::Strict)
}

/// As [`write_value`], but numbers follow RFC 8785 alone: a double from
/// 2^53 up to 1e21 is written as ECMAScript writes it (a plain integer)
/// instead of refused. For comparing with other RFC 8785 implementations;
/// evidence always uses [`write_value`].
pub fn write_value_rfc8785(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    write_nested(out, value, 0, Numbers::Rfc8785)
}

/// How numbers are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbers {
    /// Refuse what the strict parser could not read back.
    Strict,
    /// RFC 8785 only.
    Rfc8785,
}

fn write_nested(
    out: &mut Vec<u8>,
    value: &Value,
    depth: usize,
    numbers: Numbers,
) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => match numbers {
            Numbers::Strict => write_number(out, number)?,
            Numbers::Rfc8785 => match number.as_f64().filter(|_| number.is_f64()) {
                Some(float) => write_f64(out, float),
                None => write_number(out, number)?,
            },
        },
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            if depth >= HARD_MAX_DEPTH {
                return Err(CanonicalError::TooDeep(HARD_MAX_DEPTH));
            }
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_nested(out, item, depth + 1, numbers)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            if depth >= HARD_MAX_DEPTH {
                return Err(CanonicalError::TooDeep(HARD_MAX_DEPTH));
            }
            write_object(out, members, depth, numbers)?;
        }
    }
    Ok(())
}

fn write_object(
    out: &mut Vec<u8>,
    members: &Map<String, Value>,
    depth: usize,
    numbers: Numbers,
) -> Result<(), CanonicalError> {
    out.push(b'{');
    if iteration_order_is_canonical(members) {
        for (index, (key, value)) in members.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_string(out, key);
            out.push(b':');
            write_nested(out, value, depth + 1, numbers)?;
        }
    } else {
        let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
        sorted.sort_by(|left, right| utf16_cmp(left.0, right.0));
        for (index, (key, value)) in sorted.into_iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_string(out, key);
            out.push(b':');
            write_nested(out, value, depth + 1, numbers)?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// True when iterating `members` already yields the RFC 8785 order.
///
/// `serde_json::Map` iterates in UTF-8 byte order (a `BTreeMap`), which equals
/// UTF-16 order unless a key holds a character at or above U+E000 (UTF-8 lead
/// byte 0xEE or higher). Checking adjacent pairs also keeps this correct if a
/// dependency ever turns on serde_json's insertion-ordered map.
fn iteration_order_is_canonical(members: &Map<String, Value>) -> bool {
    let mut previous: Option<&str> = None;
    for key in members.keys() {
        if key.bytes().any(|byte| byte >= 0xEE) {
            return false;
        }
        if previous.is_some_and(|previous| previous.as_bytes() >= key.as_bytes()) {
            return false;
        }
        previous = Some(key);
    }
    true
}

/// Appends a JSON number in canonical form.
pub fn write_number(out: &mut Vec<u8>, number: &Number) -> Result<(), CanonicalError> {
    if let Some(unsigned) = number.as_u64() {
        if unsigned > MAX_SAFE_INTEGER {
            return Err(CanonicalError::IntegerOutOfRange(unsigned.to_string()));
        }
        write_u64(out, unsigned);
    } else if let Some(signed) = number.as_i64() {
        if signed.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(CanonicalError::IntegerOutOfRange(signed.to_string()));
        }
        out.push(b'-');
        write_u64(out, signed.unsigned_abs());
    } else if let Some(float) = number.as_f64() {
        // ECMAScript writes every double from 2^53 up to 1e21 as a plain
        // integer: that text would be an integer literal outside the exact
        // range, which the strict parser (and so every verifier) refuses.
        // Refuse the value here instead of writing bytes that cannot be
        // read back.
        if written_as_unsafe_integer(float) {
            let mut text = Vec::new();
            write_f64(&mut text, float);
            return Err(CanonicalError::IntegerOutOfRange(
                String::from_utf8_lossy(&text).into_owned(),
            ));
        }
        write_f64(out, float);
    }
    Ok(())
}

/// Appends an unsigned integer in decimal.
pub fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `value % 10` is below 10, so the narrowing is exact.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends a JSON string in canonical form (RFC 8785 §3.2.2.2).
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..index]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0x0f)]);
        } else {
            out.extend_from_slice(escape);
        }
        run_start = index + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cmp::Ordering;

    fn check(input: &str, expected: &str) {
        let actual = canonicalize(input.as_bytes()).expect("canonicalizes");
        assert_eq!(
            String::from_utf8(actual).expect("utf8"),
            expected,
            "input: {input}"
        );
    }

    #[test]
    fn canonical_forms() {
        check("{\"b\":2,\"a\":1}", "{\"a\":1,\"b\":2}");
        check(
            "[1.0, 1e2, -0.0, 0.1, 1e21, 1e-7]",
            "[1,100,0,0.1,1e+21,1e-7]",
        );
        check("\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001f\u{7f}\"");
        check("\"\\/\"", "\"/\"");
        check(
            "{\"\\ue000\":1,\"\\ud83d\\ude02\":2}",
            "{\"\u{1F602}\":2,\"\u{E000}\":1}",
        );
        check("-9007199254740991", "-9007199254740991");
        check("{}", "{}");
        check("[]", "[]");
    }

    #[test]
    fn refuses_values_without_exact_form() {
        let too_big = json!(9_007_199_254_740_992_u64);
        assert_eq!(
            CanonicalJson::from_value(&too_big),
            Err(CanonicalError::IntegerOutOfRange("9007199254740992".into()))
        );
        let too_small = json!(i64::MIN);
        assert!(matches!(
            CanonicalJson::from_value(&too_small),
            Err(CanonicalError::IntegerOutOfRange(_))
        ));
        let mut deep = json!(1);
        for _ in 0..=HARD_MAX_DEPTH {
            deep = json!([deep]);
        }
        assert_eq!(
            CanonicalJson::from_value(&deep),
            Err(CanonicalError::TooDeep(HARD_MAX_DEPTH))
        );
    }

    #[test]
    fn utf16_order_differs_from_code_point_order_only_above_u_e000() {
        assert_eq!(utf16_cmp("\u{E000}", "\u{1F602}"), Ordering::Greater);
        assert_eq!("\u{E000}".cmp("\u{1F602}"), Ordering::Less);
        assert_eq!(utf16_cmp("a", "b"), Ordering::Less);
        assert_eq!(utf16_cmp("", "a"), Ordering::Less);
    }
}
