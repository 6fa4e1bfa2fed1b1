//! Strict JSON parsing for evidence input.
//!
//! Every byte that becomes evidence passes through [`parse`]. The parser
//! accepts RFC 8259 JSON restricted to the I-JSON profile (RFC 7493) that
//! RFC 8785 canonicalization requires, and it refuses, with a typed error and
//! the byte offset, everything that would otherwise be silently changed on
//! the way to canonical bytes:
//!
//! - duplicate object keys (a generic parser keeps one of them silently);
//! - lone UTF-16 surrogates in `\u` escapes (they have no UTF-8 form);
//! - integer literals outside ±(2^53-1) (a double would round them);
//! - numbers that overflow an IEEE 754 double (`1E400`);
//! - nesting deeper than [`ParseOptions::max_depth`] (stack exhaustion);
//! - invalid UTF-8, a byte order mark, trailing data.
//!
//! It produces a `serde_json::Value` so the rest of the code base works with
//! the ordinary type. It deliberately does not canonicalize (see
//! [`crate::canonical`]) and does not accept any JSON extension (comments,
//! `NaN`, trailing commas).
//!
//! A dedicated parser instead of `serde_json::from_slice`: serde_json cannot
//! tell `1e30` (a double the author wrote on purpose, valid in the RFC 8785
//! vectors) from `1000000000000000000000000000000` (an integer that would be
//! rounded), and it keeps the last of duplicate keys.

use std::fmt;

use serde_json::{Map, Number, Value};

/// The largest integer magnitude a double represents exactly: 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Default and hard maximum nesting depth of arrays and objects.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// No options value may raise the depth limit above this (stack safety).
pub const HARD_MAX_DEPTH: usize = 256;

/// What to do with an integer literal outside ±(2^53-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LargeIntegers {
    /// Refuse it with [`JsonErrorKind::IntegerOutOfRange`]. Evidence input
    /// always uses this.
    Reject,
    /// Round it to the nearest double, as ECMAScript does. Only for
    /// reproducing third-party reference vectors that encode that behaviour.
    RoundToDouble,
}

/// Parser settings. [`ParseOptions::STRICT`] is the evidence profile;
/// [`ParseOptions::INGEST`] adds the I-JSON rules new input must also keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Maximum nesting of arrays and objects (capped at [`HARD_MAX_DEPTH`]).
    pub max_depth: usize,
    /// Policy for integer literals outside ±(2^53-1).
    pub large_integers: LargeIntegers,
    /// Refuse Unicode noncharacters in strings (RFC 7493 §2.1) and
    /// non-zero numbers that round to zero (`1e-400`).
    pub ingest_rules: bool,
}

impl ParseOptions {
    /// The evidence profile: depth 64, large integers rejected. What every
    /// reader of stored evidence applies.
    pub const STRICT: Self = Self {
        max_depth: DEFAULT_MAX_DEPTH,
        large_integers: LargeIntegers::Reject,
        ingest_rules: false,
    };

    /// New input: [`ParseOptions::STRICT`] plus the ingest rules
    /// (noncharacters and underflow refused). Readers of stored evidence
    /// keep [`ParseOptions::STRICT`], so evidence recorded before these
    /// rules keeps verifying.
    pub const INGEST: Self = Self {
        max_depth: DEFAULT_MAX_DEPTH,
        large_integers: LargeIntegers::Reject,
        ingest_rules: true,
    };

    /// ECMAScript-compatible number handling, for reference vectors only.
    pub const ECMASCRIPT_NUMBERS: Self = Self {
        max_depth: DEFAULT_MAX_DEPTH,
        large_integers: LargeIntegers::RoundToDouble,
        ingest_rules: false,
    };
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self::STRICT
    }
}

/// A parse failure: what went wrong and where (byte offset into the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the offending input.
    pub offset: usize,
    /// The kind of failure.
    pub kind: JsonErrorKind,
}

/// The kinds of [`JsonError`]. Each is a stable, distinguishable fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The input is not valid UTF-8.
    InvalidUtf8,
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte(u8),
    /// A complete value was followed by more than whitespace.
    TrailingData,
    /// A number token that does not follow the JSON grammar.
    InvalidNumber,
    /// An integer literal outside ±(2^53-1).
    IntegerOutOfRange,
    /// A number whose magnitude overflows a double.
    NumberOutOfRange,
    /// A non-zero number too small for a double: it would be stored as 0
    /// (ingest rules only).
    NumberUnderflow,
    /// A string holds a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE,
    /// U+xFFFF), which I-JSON forbids (ingest rules only).
    Noncharacter(u32),
    /// An unknown or malformed backslash escape.
    InvalidEscape,
    /// A `\u` escape naming half of a surrogate pair without its other half.
    LoneSurrogate,
    /// An unescaped control character (U+0000..U+001F) in a string.
    ControlCharacterInString,
    /// The same key twice in one object.
    DuplicateKey(String),
    /// Arrays and objects nested deeper than the limit.
    TooDeep(usize),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            JsonErrorKind::InvalidUtf8 => write!(f, "invalid UTF-8")?,
            JsonErrorKind::UnexpectedEnd => write!(f, "unexpected end of input")?,
            JsonErrorKind::UnexpectedByte(byte) => {
                if byte.is_ascii_graphic() {
                    write!(f, "unexpected character '{}'", char::from(*byte))?;
                } else {
                    write!(f, "unexpected byte 0x{byte:02x}")?;
                }
            }
            JsonErrorKind::TrailingData => write!(f, "trailing data after the JSON value")?,
            JsonErrorKind::InvalidNumber => write!(f, "invalid number")?,
            JsonErrorKind::IntegerOutOfRange => {
                write!(f, "integer outside the exact range ±(2^53-1)")?;
            }
            JsonErrorKind::NumberOutOfRange => write!(f, "number overflows a double")?,
            JsonErrorKind::NumberUnderflow => {
                write!(
                    f,
                    "a non-zero number too small for a double (it would be 0)"
                )?;
            }
            JsonErrorKind::Noncharacter(code) => {
                write!(f, "the Unicode noncharacter U+{code:04X} in a string")?;
            }
            JsonErrorKind::InvalidEscape => write!(f, "invalid escape sequence")?,
            JsonErrorKind::LoneSurrogate => write!(f, "lone UTF-16 surrogate in \\u escape")?,
            JsonErrorKind::ControlCharacterInString => {
                write!(f, "unescaped control character in string")?;
            }
            JsonErrorKind::DuplicateKey(key) => write!(f, "duplicate object key {key:?}")?,
            JsonErrorKind::TooDeep(limit) => write!(f, "nesting deeper than {limit}")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Parses `input` under [`ParseOptions::STRICT`].
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    parse_with(input, ParseOptions::STRICT)
}

/// Parses `input` under the given options.
pub fn parse_with(input: &[u8], options: ParseOptions) -> Result<Value, JsonError> {
    if let Err(error) = std::str::from_utf8(input) {
        return Err(JsonError {
            offset: error.valid_up_to(),
            kind: JsonErrorKind::InvalidUtf8,
        });
    }
    let mut parser = Parser {
        input,
        position: 0,
        max_depth: options.max_depth.min(HARD_MAX_DEPTH),
        large_integers: options.large_integers,
        ingest_rules: options.ingest_rules,
    };
    parser.skip_whitespace();
    let value = parser.parse_value(0)?;
    parser.skip_whitespace();
    if parser.position != input.len() {
        return Err(parser.error(JsonErrorKind::TrailingData));
    }
    Ok(value)
}

struct Parser<'a> {
    /// Valid UTF-8 (checked before parsing starts).
    input: &'a [u8],
    position: usize,
    max_depth: usize,
    large_integers: LargeIntegers,
    ingest_rules: bool,
}

/// Whether `code` is a Unicode noncharacter: U+FDD0..U+FDEF, or the last
/// two code points of any plane.
pub fn is_noncharacter(code: u32) -> bool {
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

impl<'a> Parser<'a> {
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            offset: self.position,
            kind,
        }
    }

    fn error_at(offset: usize, kind: JsonErrorKind) -> JsonError {
        JsonError { offset, kind }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.position += 1;
        }
    }

    fn expect_byte(&mut self, expected: u8) -> Result<(), JsonError> {
        match self.peek() {
            Some(byte) if byte == expected => {
                self.position += 1;
                Ok(())
            }
            Some(byte) => Err(self.error(JsonErrorKind::UnexpectedByte(byte))),
            None => Err(self.error(JsonErrorKind::UnexpectedEnd)),
        }
    }

    fn parse_value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.error(JsonErrorKind::UnexpectedEnd)),
            Some(b'{') => self.parse_object(depth + 1),
            Some(b'[') => self.parse_array(depth + 1),
            Some(b'"') => Ok(Value::String(self.parse_string()?)),
            Some(b't') => self.parse_literal(b"true", Value::Bool(true)),
            Some(b'f') => self.parse_literal(b"false", Value::Bool(false)),
            Some(b'n') => self.parse_literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(byte) => Err(self.error(JsonErrorKind::UnexpectedByte(byte))),
        }
    }

    fn parse_literal(&mut self, literal: &[u8], value: Value) -> Result<Value, JsonError> {
        for &expected in literal {
            self.expect_byte(expected)?;
        }
        Ok(value)
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > self.max_depth {
            Err(self.error(JsonErrorKind::TooDeep(self.max_depth)))
        } else {
            Ok(())
        }
    }

    fn parse_array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.position += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.position += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.parse_value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(Value::Array(items));
                }
                Some(byte) => return Err(self.error(JsonErrorKind::UnexpectedByte(byte))),
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn parse_object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.position += 1; // '{'
        let mut members = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            let key_offset = self.position;
            if self.peek() != Some(b'"') {
                return Err(match self.peek() {
                    Some(byte) => self.error(JsonErrorKind::UnexpectedByte(byte)),
                    None => self.error(JsonErrorKind::UnexpectedEnd),
                });
            }
            let key = self.parse_string()?;
            self.skip_whitespace();
            self.expect_byte(b':')?;
            self.skip_whitespace();
            let value = self.parse_value(depth)?;
            if members.contains_key(&key) {
                return Err(Self::error_at(key_offset, JsonErrorKind::DuplicateKey(key)));
            }
            members.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(Value::Object(members));
                }
                Some(byte) => return Err(self.error(JsonErrorKind::UnexpectedByte(byte))),
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    /// Parses a string starting at its opening quote (under the ingest
    /// rules, refusing noncharacters, reported at the opening quote).
    fn parse_string(&mut self) -> Result<String, JsonError> {
        let start = self.position;
        let text = self.parse_string_body()?;
        // Every noncharacter is encoded in UTF-8 from a lead byte 0xEF or
        // above, so most strings need no decoding.
        if self.ingest_rules
            && text.bytes().any(|byte| byte >= 0xEF)
            && let Some(code) = text.chars().map(u32::from).find(|c| is_noncharacter(*c))
        {
            return Err(Self::error_at(start, JsonErrorKind::Noncharacter(code)));
        }
        Ok(text)
    }

    fn parse_string_body(&mut self) -> Result<String, JsonError> {
        self.position += 1; // '"'
        let start = self.position;
        // Fast path: no escapes. The input is valid UTF-8 and '"', '\\' and
        // control bytes never occur inside a multi-byte sequence, so any run
        // between them is valid UTF-8 on its own.
        loop {
            match self.peek() {
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    let text = self.slice_str(start, self.position);
                    self.position += 1;
                    return Ok(text.to_owned());
                }
                Some(b'\\') => break,
                Some(0x00..=0x1f) => {
                    return Err(self.error(JsonErrorKind::ControlCharacterInString));
                }
                Some(_) => self.position += 1,
            }
        }
        let mut text = String::with_capacity(self.position - start + 16);
        text.push_str(self.slice_str(start, self.position));
        loop {
            let run_start = self.position;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.position += 1;
            }
            text.push_str(self.slice_str(run_start, self.position));
            match self.peek() {
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.position += 1;
                    return Ok(text);
                }
                Some(b'\\') => self.parse_escape(&mut text)?,
                Some(_) => return Err(self.error(JsonErrorKind::ControlCharacterInString)),
            }
        }
    }

    fn slice_str(&self, start: usize, end: usize) -> &'a str {
        std::str::from_utf8(&self.input[start..end])
            .expect("the whole input was validated as UTF-8 and both ends sit on ASCII delimiters")
    }

    fn parse_escape(&mut self, text: &mut String) -> Result<(), JsonError> {
        let escape_offset = self.position;
        self.position += 1; // '\\'
        let Some(byte) = self.peek() else {
            return Err(self.error(JsonErrorKind::UnexpectedEnd));
        };
        self.position += 1;
        let decoded = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.parse_hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by `\u` + low surrogate.
                        if self.input.get(self.position..self.position + 2) != Some(b"\\u") {
                            return Err(Self::error_at(
                                escape_offset,
                                JsonErrorKind::LoneSurrogate,
                            ));
                        }
                        self.position += 2;
                        let low = self.parse_hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Self::error_at(
                                escape_offset,
                                JsonErrorKind::LoneSurrogate,
                            ));
                        }
                        let code = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        char::from_u32(code).ok_or_else(|| {
                            Self::error_at(escape_offset, JsonErrorKind::LoneSurrogate)
                        })?
                    }
                    0xDC00..=0xDFFF => {
                        return Err(Self::error_at(escape_offset, JsonErrorKind::LoneSurrogate));
                    }
                    _ => char::from_u32(u32::from(unit)).ok_or_else(|| {
                        Self::error_at(escape_offset, JsonErrorKind::InvalidEscape)
                    })?,
                }
            }
            _ => return Err(Self::error_at(escape_offset, JsonErrorKind::InvalidEscape)),
        };
        text.push(decoded);
        Ok(())
    }

    fn parse_hex4(&mut self) -> Result<u16, JsonError> {
        let Some(digits) = self.input.get(self.position..self.position + 4) else {
            return Err(Self::error_at(
                self.input.len(),
                JsonErrorKind::UnexpectedEnd,
            ));
        };
        let mut unit: u16 = 0;
        for &digit in digits {
            let nibble = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'f' => digit - b'a' + 10,
                b'A'..=b'F' => digit - b'A' + 10,
                _ => return Err(self.error(JsonErrorKind::InvalidEscape)),
            };
            unit = (unit << 4) | u16::from(nibble);
        }
        self.position += 4;
        Ok(unit)
    }

    fn parse_number(&mut self) -> Result<Value, JsonError> {
        let start = self.position;
        let token = scan_number(self.input, start)
            .map_err(|offset| Self::error_at(offset, JsonErrorKind::InvalidNumber))?;
        self.position = token.end;
        if token.is_integer {
            if let Some(magnitude) = safe_magnitude(&self.input[token.digits.clone()]) {
                let number = if token.negative && magnitude != 0 {
                    // magnitude <= 2^53 - 1, so the negation fits in i64.
                    Number::from(-i64::try_from(magnitude).unwrap_or(i64::MAX))
                } else {
                    Number::from(magnitude)
                };
                return Ok(Value::Number(number));
            }
            if self.large_integers == LargeIntegers::Reject {
                return Err(Self::error_at(start, JsonErrorKind::IntegerOutOfRange));
            }
        }
        let token = self.slice_str(start, self.position);
        let value: f64 = token
            .parse()
            .map_err(|_| Self::error_at(start, JsonErrorKind::InvalidNumber))?;
        if self.ingest_rules && value == 0.0 && mantissa_is_nonzero(token) {
            return Err(Self::error_at(start, JsonErrorKind::NumberUnderflow));
        }
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| Self::error_at(start, JsonErrorKind::NumberOutOfRange))
    }
}

/// Whether a number token's digits before its exponent are not all zero.
fn mantissa_is_nonzero(token: &str) -> bool {
    token
        .bytes()
        .take_while(|byte| !matches!(byte, b'e' | b'E'))
        .any(|byte| matches!(byte, b'1'..=b'9'))
}

/// The shape of a number token (RFC 8259 grammar).
pub(crate) struct NumberToken {
    /// One past its last byte.
    pub(crate) end: usize,
    /// It starts with `-`.
    pub(crate) negative: bool,
    /// The digits before any fraction or exponent.
    pub(crate) digits: std::ops::Range<usize>,
    /// No fraction and no exponent.
    pub(crate) is_integer: bool,
}

/// Scans the number token at `start`; `Err` holds the offset where the
/// grammar breaks (a number must also end at a non-digit: `01` is not one).
pub(crate) fn scan_number(input: &[u8], start: usize) -> Result<NumberToken, usize> {
    let peek = |at: usize| input.get(at).copied();
    let skip_digits = |mut at: usize| {
        while peek(at).is_some_and(|byte| byte.is_ascii_digit()) {
            at += 1;
        }
        at
    };
    let negative = peek(start) == Some(b'-');
    let digits_start = start + usize::from(negative);
    let mut at = match peek(digits_start) {
        Some(b'0') => digits_start + 1,
        Some(b'1'..=b'9') => skip_digits(digits_start),
        Some(_) | None => return Err(digits_start),
    };
    let digits = digits_start..at;
    let mut is_integer = true;
    if peek(at) == Some(b'.') {
        is_integer = false;
        at += 1;
        if !peek(at).is_some_and(|byte| byte.is_ascii_digit()) {
            return Err(at);
        }
        at = skip_digits(at);
    }
    if let Some(b'e' | b'E') = peek(at) {
        is_integer = false;
        at += 1;
        if let Some(b'+' | b'-') = peek(at) {
            at += 1;
        }
        if !peek(at).is_some_and(|byte| byte.is_ascii_digit()) {
            return Err(at);
        }
        at = skip_digits(at);
    }
    if peek(at).is_some_and(|byte| byte.is_ascii_digit()) {
        return Err(at);
    }
    Ok(NumberToken {
        end: at,
        negative,
        digits,
        is_integer,
    })
}

/// The value of an integer's digits (no leading zeros) when at most
/// 2^53-1; `None` beyond.
pub(crate) fn safe_magnitude(digits: &[u8]) -> Option<u64> {
    // 16 digits hold every value up to 2^53; more are out of range for
    // certain.
    if digits.len() > 16 {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0_u64, |acc, &digit| acc * 10 + u64::from(digit - b'0'));
    (magnitude <= MAX_SAFE_INTEGER).then_some(magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<Value, (usize, JsonErrorKind)>) {
        let actual = parse(input.as_bytes()).map_err(|error| (error.offset, error.kind));
        assert_eq!(actual, expected, "input: {input:?}");
    }

    fn error(offset: usize, kind: JsonErrorKind) -> Result<Value, (usize, JsonErrorKind)> {
        Err((offset, kind))
    }

    #[test]
    fn accepts_and_rejects() {
        use JsonErrorKind as K;
        check("0", Ok(Value::from(0)));
        check("-0", Ok(Value::from(0)));
        check(" [1, -2, 3.5] ", Ok(serde_json::json!([1, -2, 3.5])));
        check("9007199254740991", Ok(Value::from(MAX_SAFE_INTEGER)));
        check(
            "-9007199254740991",
            Ok(Value::from(-9_007_199_254_740_991_i64)),
        );
        check("9007199254740992", error(0, K::IntegerOutOfRange));
        check("[1,-9007199254740992]", error(3, K::IntegerOutOfRange));
        check("12345678901234567890123", error(0, K::IntegerOutOfRange));
        check("1e30", Ok(serde_json::json!(1e30)));
        check("1E400", error(0, K::NumberOutOfRange));
        check("-1E400", error(0, K::NumberOutOfRange));
        check("01", error(1, K::InvalidNumber));
        check("1.", error(2, K::InvalidNumber));
        check(".5", error(0, K::UnexpectedByte(b'.')));
        check("1e", error(2, K::InvalidNumber));
        check("-", error(1, K::InvalidNumber));
        check("+1", error(0, K::UnexpectedByte(b'+')));
        check("NaN", error(0, K::UnexpectedByte(b'N')));
        check("{\"a\":1,\"a\":2}", error(7, K::DuplicateKey("a".into())));
        check(
            "{\"a\":1,\"\\u0061\":2}",
            error(7, K::DuplicateKey("a".into())),
        );
        check("\"\\ud800\"", error(1, K::LoneSurrogate));
        check("\"\\udc00x\"", error(1, K::LoneSurrogate));
        check("\"\\ud800\\u0041\"", error(1, K::LoneSurrogate));
        check("\"\\ud83d\\ude00\"", Ok(Value::from("\u{1F600}")));
        check("\"a\tb\"", error(2, K::ControlCharacterInString));
        check("\"\\x\"", error(1, K::InvalidEscape));
        check("\"\\u00zz\"", error(3, K::InvalidEscape));
        check("\"abc", error(4, K::UnexpectedEnd));
        check("[1,]", error(3, K::UnexpectedByte(b']')));
        check("{\"a\" 1}", error(5, K::UnexpectedByte(b'1')));
        check("{,}", error(1, K::UnexpectedByte(b',')));
        check("[1] x", error(4, K::TrailingData));
        check("", error(0, K::UnexpectedEnd));
        check("\u{feff}1", error(0, K::UnexpectedByte(0xef)));
        check("tru", error(3, K::UnexpectedEnd));
        check("nul!", error(3, K::UnexpectedByte(b'!')));
    }

    #[test]
    fn rejects_invalid_utf8_with_offset() {
        let err = parse(b"[\"a\xff\"]").expect_err("invalid UTF-8 must fail");
        assert_eq!(err.offset, 3);
        assert_eq!(err.kind, JsonErrorKind::InvalidUtf8);
    }

    #[test]
    fn depth_limit_holds_and_is_capped() {
        let deep_ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(deep_ok.as_bytes()).is_ok());
        let too_deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(
            parse(too_deep.as_bytes()).map_err(|e| e.kind),
            Err(JsonErrorKind::TooDeep(64))
        );
        let options = ParseOptions {
            max_depth: usize::MAX,
            ..ParseOptions::STRICT
        };
        let very_deep = "[".repeat(100_000);
        assert_eq!(
            parse_with(very_deep.as_bytes(), options).map_err(|e| e.kind),
            Err(JsonErrorKind::TooDeep(HARD_MAX_DEPTH))
        );
    }

    /// The ingest rules refuse what the evidence profile keeps readable:
    /// noncharacters (escaped or raw) and non-zero numbers that round to 0.
    #[test]
    fn ingest_rules() {
        let cases: &[(&str, Result<(), JsonErrorKind>)] = &[
            (r#""\uffff""#, Err(JsonErrorKind::Noncharacter(0xFFFF))),
            (r#""\ufffe""#, Err(JsonErrorKind::Noncharacter(0xFFFE))),
            (r#""\ufdd0""#, Err(JsonErrorKind::Noncharacter(0xFDD0))),
            (
                r#"{"k":"a\ufdefb"}"#,
                Err(JsonErrorKind::Noncharacter(0xFDEF)),
            ),
            (
                r#""\ud83f\udfff""#,
                Err(JsonErrorKind::Noncharacter(0x1FFFF)),
            ),
            ("\"\u{10FFFE}\"", Err(JsonErrorKind::Noncharacter(0x10FFFE))),
            ("[\"\u{FDD5}\"]", Err(JsonErrorKind::Noncharacter(0xFDD5))),
            (r#"{"\uffff":1}"#, Err(JsonErrorKind::Noncharacter(0xFFFF))),
            (r#""\ufdcf\ufdf0\ufffd""#, Ok(())),
            ("\"\u{FFFD}\u{EFFF}\"", Ok(())),
            ("1e-400", Err(JsonErrorKind::NumberUnderflow)),
            ("-2.4e-324", Err(JsonErrorKind::NumberUnderflow)),
            ("2.5e-324", Ok(())),
            ("[0.0000001e-400]", Err(JsonErrorKind::NumberUnderflow)),
            ("5e-324", Ok(())),
            ("0e-400", Ok(())),
            ("-0.000e-9999", Ok(())),
            ("0", Ok(())),
            ("1e400", Err(JsonErrorKind::NumberOutOfRange)),
        ];
        for (input, expected) in cases {
            let ingest = parse_with(input.as_bytes(), ParseOptions::INGEST)
                .map(drop)
                .map_err(|error| error.kind);
            assert_eq!(&ingest, expected, "{input}");
            // Readers of stored evidence are not affected.
            let strict = parse(input.as_bytes())
                .map(drop)
                .map_err(|error| error.kind);
            if matches!(
                expected,
                Err(JsonErrorKind::Noncharacter(_) | JsonErrorKind::NumberUnderflow)
            ) {
                assert_eq!(strict, Ok(()), "{input}");
            }
        }
    }

    #[test]
    fn large_integers_round_only_when_asked() {
        let value = parse_with(b"9007199254740993", ParseOptions::ECMASCRIPT_NUMBERS)
            .expect("rounding mode accepts");
        assert_eq!(value.as_f64(), Some(9_007_199_254_740_992.0));
    }

    #[test]
    fn error_messages_name_the_fact_and_offset() {
        let err = parse(b"{\"k\":1,\"k\":2}").expect_err("duplicate");
        assert_eq!(err.to_string(), "duplicate object key \"k\" at byte 7");
    }
}
