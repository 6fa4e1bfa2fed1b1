//! Checks that bytes are canonical without building a value.
//!
//! [`is_canonical`] answers exactly what parsing with [`json::parse`] and
//! rewriting with [`canonical::write_value`] would answer (is the rewrite
//! byte-identical?), in one pass and without allocating in the common
//! case. Verifiers read canonical records by the million, and the rewrite
//! costs a tree of allocations per record. A unit test, a property test and
//! the `canonical_check` fuzz target hold the two answers equal.
//!
//! [`json::parse`]: crate::json::parse
//! [`canonical::write_value`]: crate::canonical::write_value

use std::cmp::Ordering;

use crate::json::{DEFAULT_MAX_DEPTH, safe_magnitude, scan_number};
use crate::rfc8785::{utf16_cmp, write_f64, written_as_unsafe_integer};

/// True when `bytes` parse under the strict profile and are already their
/// own canonical form.
pub fn is_canonical(bytes: &[u8]) -> bool {
    if std::str::from_utf8(bytes).is_err() {
        return false;
    }
    let mut checker = Checker {
        bytes,
        at: 0,
        members: None,
    };
    checker.value(0) && checker.at == bytes.len()
}

struct Checker<'a> {
    bytes: &'a [u8],
    at: usize,
    /// When collecting: the top-level object's members (raw keys).
    members: Option<Vec<(&'a [u8], &'a [u8])>>,
}

impl<'a> Checker<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, text: &[u8]) -> bool {
        if self.bytes[self.at..].starts_with(text) {
            self.at += text.len();
            true
        } else {
            false
        }
    }

    /// A value whose containers, if any, sit at `depth + 1`.
    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => depth < DEFAULT_MAX_DEPTH && self.object(depth + 1),
            Some(b'[') => depth < DEFAULT_MAX_DEPTH && self.array(depth + 1),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        self.at += 1; // '['
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.at += 1; // '{'
        if self.eat(b'}') {
            return true;
        }
        let mut previous: Option<&'a [u8]> = None;
        loop {
            if self.peek() != Some(b'"') {
                return false;
            }
            let Some(key) = self.string() else {
                return false;
            };
            // Members in strictly increasing UTF-16 order: sorted and no
            // duplicates.
            if previous.is_some_and(|before| key_order(before, key) != Ordering::Less) {
                return false;
            }
            previous = Some(key);
            if !self.eat(b':') {
                return false;
            }
            let value_start = self.at;
            if !self.value(depth) {
                return false;
            }
            if depth == 1
                && let Some(members) = self.members.as_mut()
            {
                members.push((key, &self.bytes[value_start..self.at]));
            }
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    /// A string in canonical form; returns its raw content (between the
    /// quotes, escapes as written).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.at += 1; // '"'
        let start = self.at;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    let content = &self.bytes[start..self.at];
                    self.at += 1;
                    return Some(content);
                }
                0x00..=0x1f => return None,
                b'\\' => {
                    // Only the escapes the canonical writer emits.
                    let escape = *self.bytes.get(self.at + 1)?;
                    match escape {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                        b'u' => {
                            // `\u00` and two lowercase hex digits, for a
                            // control character without a short escape.
                            let digits = self.bytes.get(self.at + 2..self.at + 6)?;
                            if &digits[..2] != b"00" || !matches!(digits[2], b'0' | b'1') {
                                return None;
                            }
                            let unit = ((digits[2] - b'0') << 4) | hex(digits[3])?;
                            if matches!(unit, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.at += 6;
                        }
                        _ => return None,
                    }
                }
                _ => self.at += 1,
            }
        }
    }

    fn number(&mut self) -> bool {
        let start = self.at;
        let Ok(token) = scan_number(self.bytes, start) else {
            return false;
        };
        self.at = token.end;
        let text = &self.bytes[start..token.end];
        if token.is_integer {
            // Within ±(2^53-1), and no "-0" (it is written "0").
            let digits = &self.bytes[token.digits];
            return safe_magnitude(digits).is_some() && !(token.negative && digits == b"0");
        }
        // A double: finite, outside [2^53, 1e21) (written as an integer
        // beyond the safe range, which is refused), and written exactly as
        // the canonical writer writes it.
        let Some(float) = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        else {
            return false;
        };
        if !float.is_finite() || written_as_unsafe_integer(float) {
            return false;
        }
        let mut written = Vec::with_capacity(32);
        write_f64(&mut written, float);
        written == text
    }
}

/// As [`is_canonical`], and when `bytes` are a canonical object, its
/// members as (key, raw value) pairs in order, found in the same pass, for
/// callers that take some values as they stand. `None` when not canonical,
/// not an object, or a key holds an escape (callers then parse in full).
pub(crate) fn canonical_object_members(bytes: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    if bytes.first() != Some(&b'{') || std::str::from_utf8(bytes).is_err() {
        return None;
    }
    let mut checker = Checker {
        bytes,
        at: 0,
        members: Some(Vec::with_capacity(16)),
    };
    if !checker.value(0) || checker.at != bytes.len() {
        return None;
    }
    let members = checker.members?;
    members
        .iter()
        .map(|(key, value)| Some((std::str::from_utf8(key).ok()?, *value)))
        .collect::<Option<Vec<_>>>()
        .filter(|members| members.iter().all(|(key, _)| !key.contains('\\')))
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Orders two raw (still escaped) canonical keys by the UTF-16 code units
/// of their decoded text.
fn key_order(left: &[u8], right: &[u8]) -> Ordering {
    if !left.contains(&b'\\') && !right.contains(&b'\\') {
        // Raw text is the key itself. ASCII orders the same in UTF-8 and
        // UTF-16; beyond it, compare code units.
        if left.is_ascii() && right.is_ascii() {
            return left.cmp(right);
        }
        return match (std::str::from_utf8(left), std::str::from_utf8(right)) {
            (Ok(left), Ok(right)) => utf16_cmp(left, right),
            _ => Ordering::Equal,
        };
    }
    match (decode(left), decode(right)) {
        (Some(left), Some(right)) => utf16_cmp(&left, &right),
        // Unreachable for checked strings; refuse the order if it happens.
        _ => Ordering::Equal,
    }
}

/// Decodes a checked canonical string's raw content.
fn decode(raw: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = std::str::from_utf8(raw).ok()?;
    while let Some(index) = rest.find('\\') {
        out.push_str(&rest[..index]);
        let escape = rest.as_bytes().get(index + 1)?;
        let (decoded, length) = match escape {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                let digits = rest.as_bytes().get(index + 2..index + 6)?;
                let unit = digits
                    .iter()
                    .try_fold(0_u32, |acc, &d| Some(acc * 16 + u32::from(hex(d)?)))?;
                (char::from_u32(unit)?, 6)
            }
            _ => return None,
        };
        out.push(decoded);
        rest = &rest[index + length..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonicalize;

    /// The reference answer: parse, rewrite, compare.
    fn by_rewrite(bytes: &[u8]) -> bool {
        canonicalize(bytes).is_ok_and(|canonical| canonical == bytes)
    }

    #[test]
    fn agrees_with_parse_and_rewrite() {
        let cases: &[&str] = &[
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1",
            "-1",
            "01",
            "9007199254740991",
            "-9007199254740991",
            "9007199254740992",
            "12345678901234567",
            "1.5",
            "1.50",
            "1e21",
            "1e+21",
            "1E+21",
            "1e-7",
            "1e-07",
            "0.000001",
            "1e20",
            "100000000000000000000",
            "5e-324",
            "1.7976931348623157e+308",
            "1e400",
            "-0.0",
            "0.1",
            "\"\"",
            "\"a\"",
            "\"\\u0000\"",
            "\"\\u001f\"",
            "\"\\u001F\"",
            "\"\\u000a\"",
            "\"\\n\"",
            "\"\\/\"",
            "\"/\"",
            "\"\\u0041\"",
            "\"\\ud83d\\ude00\"",
            "\"\u{1F600}\"",
            "\"\u{7f}\"",
            "\"\\\"\\\\\"",
            "[]",
            "[1,2]",
            "[1, 2]",
            "[1,]",
            "{}",
            "{\"a\":1}",
            "{\"a\":1,\"b\":2}",
            "{\"b\":2,\"a\":1}",
            "{\"a\":1,\"a\":1}",
            "{\"a\" :1}",
            "{\"\\n\":1,\"a\":2}",
            "{\"a\":1,\"\\n\":2}",
            "{\"\\\"\":1,\"#\":2}",
            "{\"#\":1,\"\\\"\":2}",
            // U+FB01 sorts after U+1F600 in UTF-16 (0xFB01 > 0xD83D) but
            // before it in UTF-8 and code points.
            "{\"\u{1F600}\":1,\"\u{FB01}\":2}",
            "{\"\u{FB01}\":1,\"\u{1F600}\":2}",
            " 1",
            "1 ",
            "",
            "tru",
            "nul",
            "{\"a\":[{\"b\":null}],\"c\":\"d\"}",
        ];
        for case in cases {
            assert_eq!(
                is_canonical(case.as_bytes()),
                by_rewrite(case.as_bytes()),
                "{case:?}"
            );
        }
        assert!(!is_canonical(b"\"\xff\""));
        assert!(is_canonical(b"{\"a\":1}"));
    }

    #[test]
    fn object_members_split_canonical_objects() {
        let text = br#"{"a":[1,{"b":"]}\""}],"c":"x,y","d":-1.5,"e":{}}"#;
        assert!(is_canonical(text));
        let members = canonical_object_members(text).expect("an object");
        let expected: &[(&str, &[u8])] = &[
            ("a", br#"[1,{"b":"]}\""}]"#),
            ("c", br#""x,y""#),
            ("d", b"-1.5"),
            ("e", b"{}"),
        ];
        assert_eq!(members, expected);
        assert_eq!(canonical_object_members(b"{}"), Some(Vec::new()));
        assert_eq!(canonical_object_members(b"[1]"), None);
        assert_eq!(canonical_object_members(br#"{"\n":1}"#), None);
        assert_eq!(canonical_object_members(br#"{"b":1,"a":2}"#), None);
    }

    #[test]
    fn depth_limit_matches_the_parser() {
        for depth in [63, 64, 65] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                is_canonical(text.as_bytes()),
                by_rewrite(text.as_bytes()),
                "{depth}"
            );
        }
        assert!(is_canonical(&[b"[".repeat(64), b"]".repeat(64)].concat()));
        assert!(!is_canonical(&[b"[".repeat(65), b"]".repeat(65)].concat()));
    }

    #[test]
    fn every_control_escape_agrees() {
        for byte in 0_u8..0x20 {
            for text in [format!("\"\\u{byte:04x}\""), format!("\"\\u{byte:04X}\"")] {
                assert_eq!(
                    is_canonical(text.as_bytes()),
                    by_rewrite(text.as_bytes()),
                    "{text}"
                );
            }
        }
    }
}
