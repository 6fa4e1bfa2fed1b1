//! Shared machinery for the typed evidence records (envelope, seal, and
//! later the bundle records): field syntax rules, a writer that emits
//! members in canonical order, and a strict reader that takes members out of
//! a parsed object and refuses unknown ones.
//!
//! It deliberately knows nothing about what a record means; the record
//! modules decide which fields exist.

use std::fmt;

use serde_json::Value;

use crate::canonical::{self, CanonicalError, CanonicalJson};
use crate::digest::{Hash32, HexError};
use crate::json::{self, JsonError, MAX_SAFE_INTEGER};
use crate::keys::{KeyError, KeyId, Signature};
use crate::time::{Timestamp, TimestampError};

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes are not acceptable JSON.
    Json(JsonError),
    /// The JSON is not an object.
    NotAnObject,
    /// A required member is absent.
    MissingField(&'static str),
    /// A member this record version does not define.
    UnknownField(String),
    /// A member with the wrong type or syntax.
    InvalidField {
        /// The member.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A record version this implementation does not know.
    UnsupportedVersion(u64),
    /// A value with no canonical form (e.g. an integer beyond 2^53).
    Canonical(CanonicalError),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(error) => write!(f, "{error}"),
            Self::NotAnObject => write!(f, "record is not a JSON object"),
            Self::MissingField(field) => write!(f, "missing field {field:?}"),
            Self::UnknownField(field) => write!(f, "unknown field {field:?}"),
            Self::InvalidField { field, reason } => write!(f, "field {field:?}: {reason}"),
            Self::UnsupportedVersion(version) => write!(f, "unsupported record version {version}"),
            Self::Canonical(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<JsonError> for RecordError {
    fn from(error: JsonError) -> Self {
        Self::Json(error)
    }
}

impl From<CanonicalError> for RecordError {
    fn from(error: CanonicalError) -> Self {
        Self::Canonical(error)
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl fmt::Display) -> RecordError {
    RecordError::InvalidField {
        field,
        reason: reason.to_string(),
    }
}

/// Limits on identifier-like fields, in bytes.
pub const RECORDER_ID_BYTES_MAX: usize = 64;
/// Maximum bytes of an event type.
pub const EVENT_TYPE_BYTES_MAX: usize = 128;
/// Maximum characters (Unicode scalar values) of an actor, subject or
/// attachment name.
pub const LABEL_CHARS_MAX: usize = 256;
/// Maximum bytes of an attachment media type.
pub const MEDIA_TYPE_BYTES_MAX: usize = 127;

/// Recorder id: 1..=64 bytes of `[a-z0-9._-]`, starting with `[a-z0-9]`.
pub fn check_recorder_id(text: &str) -> Result<(), String> {
    check_charset(text, RECORDER_ID_BYTES_MAX, |byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'_' | b'-')
    })
}

/// Event type: 1..=128 bytes of `[A-Za-z0-9._:/-]`, starting alphanumeric.
pub fn check_event_type(text: &str) -> Result<(), String> {
    check_charset(text, EVENT_TYPE_BYTES_MAX, |byte| {
        byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'/' | b'-')
    })
}

/// Actor, subject, attachment name: 1..=256 characters (Unicode scalar
/// values, so at most 1024 bytes of UTF-8) with no control characters.
pub fn check_label(text: &str) -> Result<(), String> {
    if text.is_empty() || text.chars().nth(LABEL_CHARS_MAX).is_some() {
        return Err(format!("must be 1 to {LABEL_CHARS_MAX} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Media type: `type/subtype` of RFC 6838 restricted-name characters,
/// lowercase, at most 127 bytes, no parameters.
pub fn check_media_type(text: &str) -> Result<(), String> {
    let valid_name = |name: &str| {
        !name.is_empty()
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|byte| {
                byte.is_ascii_lowercase()
                    || byte.is_ascii_digit()
                    || matches!(
                        byte,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    };
    match text.split_once('/') {
        Some((kind, subtype))
            if text.len() <= MEDIA_TYPE_BYTES_MAX && valid_name(kind) && valid_name(subtype) =>
        {
            Ok(())
        }
        _ => Err("must be a lowercase type/subtype media type without parameters".into()),
    }
}

fn check_charset(text: &str, max_bytes: usize, allowed: impl Fn(u8) -> bool) -> Result<(), String> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > max_bytes {
        return Err(format!("must be 1 to {max_bytes} bytes"));
    }
    if !bytes[0].is_ascii_alphanumeric() {
        return Err("must start with a letter or digit".into());
    }
    if let Some(position) = bytes.iter().position(|&byte| !allowed(byte)) {
        return Err(format!("character not allowed at byte {position}"));
    }
    Ok(())
}

/// Writes an object's members in canonical (RFC 8785) order.
///
/// Callers add members in ascending key order; every key used by the typed
/// records is ASCII, where byte order is UTF-16 order. The order is asserted,
/// so a misordered writer fails loudly in every build.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    last_key: &'static str,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self {
            out,
            last_key: "",
            first: true,
        }
    }

    fn key(&mut self, key: &'static str) {
        assert!(
            self.first || key > self.last_key,
            "canonical member order violated: {key:?} after {:?}",
            self.last_key
        );
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.last_key = key;
        canonical::write_string(self.out, key);
        self.out.push(b':');
    }

    pub(crate) fn string(&mut self, key: &'static str, value: &str) {
        self.key(key);
        canonical::write_string(self.out, value);
    }

    pub(crate) fn u64(&mut self, key: &'static str, value: u64) {
        assert!(value <= MAX_SAFE_INTEGER, "{key} = {value} exceeds 2^53-1");
        self.key(key);
        canonical::write_u64(self.out, value);
    }

    pub(crate) fn raw(&mut self, key: &'static str, canonical_value: &[u8]) {
        self.key(key);
        self.out.extend_from_slice(canonical_value);
    }

    pub(crate) fn finish(self) {
        self.out.push(b'}');
    }
}

/// Takes typed members out of a parsed record object; [`Fields::finish`]
/// refuses any member left over.
pub(crate) struct Fields {
    /// A record has a dozen members: a vector searched in place beats a
    /// map here.
    members: Vec<(String, Value)>,
    /// Members taken as canonical bytes without parsing (see
    /// [`Fields::from_members`]).
    raw: Vec<(String, CanonicalJson)>,
}

impl Fields {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_value(json::parse(bytes)?)
    }

    pub(crate) fn from_value(value: Value) -> Result<Self, RecordError> {
        match value {
            Value::Object(members) => Ok(Self {
                members: members.into_iter().collect(),
                raw: Vec::new(),
            }),
            _ => Err(RecordError::NotAnObject),
        }
    }

    /// Fields from the members of a canonical object
    /// (`canonical_check::canonical_object_members`), with the members
    /// named in `raw` kept as their canonical bytes (a canonical document's
    /// parts are canonical) instead of parsed. Gives what
    /// [`Fields::parse`] gives on the same bytes.
    pub(crate) fn from_members(members: Vec<(&str, &[u8])>, raw: &[&str]) -> Option<Self> {
        let mut fields = Self {
            members: Vec::with_capacity(members.len()),
            raw: Vec::new(),
        };
        for (key, value) in members {
            if raw.contains(&key) {
                fields
                    .raw
                    .push((key.to_owned(), CanonicalJson::assume_canonical(value)));
            } else {
                fields
                    .members
                    .push((key.to_owned(), canonical_value(value)?));
            }
        }
        Some(fields)
    }

    pub(crate) fn take(&mut self, field: &'static str) -> Result<Value, RecordError> {
        self.take_optional(field)
            .ok_or(RecordError::MissingField(field))
    }

    pub(crate) fn take_optional(&mut self, field: &'static str) -> Option<Value> {
        let index = self.members.iter().position(|(name, _)| name == field)?;
        Some(self.members.swap_remove(index).1)
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, RecordError> {
        as_string(field, self.take(field)?)
    }

    pub(crate) fn optional_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, RecordError> {
        self.take_optional(field)
            .map(|value| as_string(field, value))
            .transpose()
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, RecordError> {
        as_u64(field, &self.take(field)?)
    }

    pub(crate) fn version(&mut self, supported: u64) -> Result<(), RecordError> {
        let version = self.u64("v")?;
        if version == supported {
            Ok(())
        } else {
            Err(RecordError::UnsupportedVersion(version))
        }
    }

    pub(crate) fn hash(&mut self, field: &'static str) -> Result<Hash32, RecordError> {
        let text = self.string(field)?;
        Hash32::from_hex(&text).map_err(|error: HexError| invalid(field, error))
    }

    pub(crate) fn key_id(&mut self, field: &'static str) -> Result<KeyId, RecordError> {
        let text = self.string(field)?;
        KeyId::parse(&text).map_err(|error: KeyError| invalid(field, error))
    }

    pub(crate) fn signature(&mut self, field: &'static str) -> Result<Signature, RecordError> {
        let text = self.string(field)?;
        Signature::from_hex(&text).map_err(|error| invalid(field, error))
    }

    pub(crate) fn timestamp(&mut self, field: &'static str) -> Result<Timestamp, RecordError> {
        let text = self.string(field)?;
        Timestamp::parse(&text).map_err(|error: TimestampError| invalid(field, error))
    }

    pub(crate) fn canonical(&mut self, field: &'static str) -> Result<CanonicalJson, RecordError> {
        if let Some(index) = self.raw.iter().position(|(name, _)| name == field) {
            return Ok(self.raw.swap_remove(index).1);
        }
        Ok(CanonicalJson::from_value(&self.take(field)?)?)
    }

    pub(crate) fn finish(self) -> Result<(), RecordError> {
        // The first left over in byte order, whatever the members' order.
        let leftover = self.members.into_iter().map(|(field, _)| field).min();
        match leftover.or_else(|| self.raw.into_iter().map(|(field, _)| field).min()) {
            Some(field) => Err(RecordError::UnknownField(field)),
            None => Ok(()),
        }
    }
}

/// A value from its canonical text: plain strings and integers directly,
/// anything else through the parser.
fn canonical_value(raw: &[u8]) -> Option<Value> {
    match raw {
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
            Some(Value::String(std::str::from_utf8(inner).ok()?.to_owned()))
        }
        [b'0'..=b'9', ..] if raw.iter().all(u8::is_ascii_digit) => {
            json::safe_magnitude(raw).map(Value::from)
        }
        _ => json::parse(raw).ok(),
    }
}

pub(crate) fn as_string(field: &'static str, value: Value) -> Result<String, RecordError> {
    match value {
        Value::String(text) => Ok(text),
        _ => Err(invalid(field, "must be a string")),
    }
}

pub(crate) fn as_u64(field: &'static str, value: &Value) -> Result<u64, RecordError> {
    value
        .as_u64()
        .filter(|&number| number <= MAX_SAFE_INTEGER)
        .ok_or_else(|| invalid(field, "must be an integer from 0 to 2^53-1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rule = fn(&str) -> Result<(), String>;

    #[test]
    fn identifier_rules() {
        let cases: &[(&str, Rule, bool)] = &[
            ("rec-1.main_a", check_recorder_id, true),
            ("Rec", check_recorder_id, false),
            ("-rec", check_recorder_id, false),
            ("", check_recorder_id, false),
            ("approvals.granted", check_event_type, true),
            ("urn:x/y-z", check_event_type, true),
            ("approvals granted", check_event_type, false),
            (".hidden", check_event_type, false),
            ("alice@example.com", check_label, true),
            ("tab\there", check_label, false),
            ("application/json", check_media_type, true),
            ("image/svg+xml", check_media_type, true),
            ("text/plain; charset=utf-8", check_media_type, false),
            ("Application/JSON", check_media_type, false),
            ("json", check_media_type, false),
        ];
        for (text, check, valid) in cases {
            assert_eq!(check(text).is_ok(), *valid, "{text:?}");
        }
        assert!(check_recorder_id(&"a".repeat(64)).is_ok());
        assert!(check_recorder_id(&"a".repeat(65)).is_err());
        // Labels count characters, not bytes: 256 four-byte characters
        // fit, 257 one-byte ones do not.
        assert!(check_label(&"\u{1F600}".repeat(256)).is_ok());
        assert!(check_label(&"a".repeat(256)).is_ok());
        assert!(check_label(&"a".repeat(257)).is_err());
        assert!(check_label("").is_err());
        assert!(check_label("bell\u{7}").is_err());
        assert!(check_label("c1 control\u{85}").is_err());
    }

    #[test]
    #[should_panic(expected = "canonical member order violated")]
    fn object_writer_asserts_order() {
        let mut out = Vec::new();
        let mut writer = ObjectWriter::new(&mut out);
        writer.string("b", "x");
        writer.string("a", "y");
    }
}
