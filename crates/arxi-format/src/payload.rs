//! Payload commitments (envelope version 2), the payload disclosure record
//! of a bundle (`P`) and the erasure record's payload (`Docs/format.md`
//! §6.1, §10, §11).
//!
//! A version 2 envelope does not carry its payload: its signed, chained
//! body carries `payload_commitment`, and the **committed content** (the
//! payload, and the actor and subject when the recorder commits them
//! instead of writing them in clear) is kept beside it with a salt:
//!
//! ```text
//! content    = JCS({"actor"?: .., "payload": .., "subject"?: ..})
//! commitment = SHA-256("arxi.payload.v2" || 0x00 || salt || content)
//! ```
//!
//! The salt is 32 bytes from the operating system's random source, one per
//! envelope, so a guessable payload cannot be confirmed by hashing guesses
//! against the commitment, and equal payloads get unrelated commitments.
//! The context string starts with `a`, so no commitment input is ever the
//! input of another arxi hash (records hash JCS objects, which start with
//! `{`; Merkle leaves and nodes start with 0x00 and 0x01).
//!
//! Deleting content and salt (erasure) leaves the envelope, its hash, its
//! signature, its chain link and its Merkle leaf exactly as they were.
//!
//! This module computes and checks; it draws no random salt itself (no IO:
//! the recorder passes salts in).

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::canonical::CanonicalJson;
use crate::digest::Hash32;
use crate::record::{Fields, ObjectWriter, RecordError, check_label, invalid};

/// The context string of the payload commitment.
pub const COMMITMENT_CONTEXT: &str = "arxi.payload.v2";

/// Bytes of a salt.
pub const SALT_BYTES: usize = 32;

/// The version of the disclosure record (member `v` of a `P` record).
pub const DISCLOSURE_VERSION: u64 = 1;

/// Most sequence numbers one `arxi.payload.erased` envelope names (bounds
/// the record and what a verifier holds for it).
pub const ERASED_SEQS_MAX: usize = 10_000;

/// Most characters (Unicode scalar values) of an erasure's reason.
pub const ERASURE_REASON_CHARS_MAX: usize = 512;

/// A per-envelope salt: 32 random bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Salt(pub [u8; SALT_BYTES]);

impl Salt {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        Hash32(self.0).to_hex()
    }

    /// From 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<Self, crate::digest::HexError> {
        Hash32::from_hex(text).map(|hash| Self(hash.0))
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Salt({})", self.to_hex())
    }
}

/// What a version 2 envelope commits to: its payload, and each label the
/// envelope does not carry in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The actor, when committed instead of written in clear.
    pub actor: Option<String>,
    /// The event payload, canonical.
    pub payload: CanonicalJson,
    /// The subject, when committed instead of written in clear.
    pub subject: Option<String>,
}

impl Committed {
    /// The committed content's canonical bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.as_bytes().len() + 64);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut object = ObjectWriter::new(out);
        if let Some(actor) = &self.actor {
            object.string("actor", actor);
        }
        object.raw("payload", self.payload.as_bytes());
        if let Some(subject) = &self.subject {
            object.string("subject", subject);
        }
        object.finish();
    }

    /// The commitment to this content under `salt`.
    pub fn commitment(&self, salt: &Salt) -> Hash32 {
        commitment(salt, &self.canonical_bytes())
    }

    /// Reads committed content (strict: `payload`, optional `actor` and
    /// `subject` under the label rule, nothing else).
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        let mut fields = Fields::from_value(value)?;
        let content = Self {
            actor: fields.optional_string("actor")?,
            payload: fields.canonical("payload")?,
            subject: fields.optional_string("subject")?,
        };
        fields.finish()?;
        for (field, label) in [("actor", &content.actor), ("subject", &content.subject)] {
            if let Some(label) = label {
                check_label(label).map_err(|reason| invalid(field, reason))?;
            }
        }
        Ok(content)
    }

    /// Reads committed content from its canonical bytes (as stored).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_value(crate::json::parse(bytes)?)
    }
}

/// `SHA-256("arxi.payload.v2" || 0x00 || salt || content)`, `content`
/// being the committed content's canonical bytes.
pub fn commitment(salt: &Salt, content: &[u8]) -> Hash32 {
    let mut digest = Sha256::new();
    digest.update(COMMITMENT_CONTEXT.as_bytes());
    digest.update([0]);
    digest.update(salt.0);
    digest.update(content);
    Hash32(digest.finalize().into())
}

/// What a bundle says about the payload of one version 2 envelope: the `P`
/// record that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disclosure {
    /// The committed content and its salt.
    Disclosed {
        /// The content.
        content: Committed,
        /// Its salt.
        salt: Salt,
    },
    /// Left out by the builder's selection; the recorder still holds it.
    Withheld,
    /// Erased by the recorder; `erased_by` is the `seq` of the
    /// `arxi.payload.erased` envelope that records it.
    Erased {
        /// The erasure envelope's sequence number.
        erased_by: u64,
    },
}

impl Disclosure {
    /// The state's name, as the record and reports write it.
    pub fn state(&self) -> &'static str {
        match self {
            Self::Disclosed { .. } => "disclosed",
            Self::Withheld => "withheld",
            Self::Erased { .. } => "erased",
        }
    }

    /// The `P` record's canonical bytes.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        let mut object = ObjectWriter::new(&mut out);
        match self {
            Self::Disclosed { content, salt } => {
                let mut bytes = Vec::new();
                content.write(&mut bytes);
                object.raw("content", &bytes);
                object.string("salt", &salt.to_hex());
            }
            Self::Withheld => {}
            Self::Erased { erased_by } => object.u64("erased_by", *erased_by),
        }
        object.string("state", self.state());
        object.u64("v", DISCLOSURE_VERSION);
        object.finish();
        out
    }

    /// Reads a `P` record (strict: the members of its state, nothing else).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut fields = Fields::parse(bytes)?;
        fields.version(DISCLOSURE_VERSION)?;
        let disclosure = match fields.string("state")?.as_str() {
            "disclosed" => {
                let content = Committed::from_value(fields.take("content")?)
                    .map_err(|error| invalid("content", error))?;
                let salt = Salt::from_hex(&fields.string("salt")?)
                    .map_err(|error| invalid("salt", error))?;
                Self::Disclosed { content, salt }
            }
            "withheld" => Self::Withheld,
            "erased" => {
                let erased_by = fields.u64("erased_by")?;
                if erased_by == 0 {
                    return Err(invalid("erased_by", "must be at least 1"));
                }
                Self::Erased { erased_by }
            }
            _ => {
                return Err(invalid(
                    "state",
                    "must be \"disclosed\", \"withheld\" or \"erased\"",
                ));
            }
        };
        fields.finish()?;
        Ok(disclosure)
    }
}

/// How an erasure selected its envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasedBy {
    /// Every envelope naming one subject (the subject itself is not
    /// recorded).
    Subject,
    /// Sequence numbers given by the caller.
    Seq,
}

impl ErasedBy {
    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Seq => "seq",
        }
    }
}

/// The payload of an `arxi.payload.erased` control envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    /// How the envelopes were selected.
    pub by: ErasedBy,
    /// The caller's reason.
    pub reason: String,
    /// The envelopes whose committed content was erased, ascending.
    pub seqs: Vec<u64>,
}

impl ErasureRecord {
    /// The canonical payload.
    pub fn to_canonical(&self) -> CanonicalJson {
        let mut out = Vec::with_capacity(64 + self.reason.len() + self.seqs.len() * 8);
        let mut object = ObjectWriter::new(&mut out);
        object.string("by", self.by.as_str());
        object.string("reason", &self.reason);
        let mut seqs = Vec::with_capacity(2 + self.seqs.len() * 8);
        seqs.push(b'[');
        for (index, seq) in self.seqs.iter().enumerate() {
            if index > 0 {
                seqs.push(b',');
            }
            crate::canonical::write_u64(&mut seqs, *seq);
        }
        seqs.push(b']');
        object.raw("seqs", &seqs);
        object.finish();
        CanonicalJson::from_canonical(&out).expect("the writer emits canonical JSON")
    }

    /// Reads the payload of an erasure envelope with sequence number
    /// `own_seq`: `by`, `reason` (1 to 512 characters, no control
    /// characters) and `seqs` (1 to 10,000 integers, ascending, each below
    /// `own_seq`). Members beyond these are refused.
    pub fn from_payload(payload: &Value, own_seq: u64) -> Result<Self, RecordError> {
        let mut fields = Fields::from_value(payload.clone())?;
        let by = match fields.string("by")?.as_str() {
            "subject" => ErasedBy::Subject,
            "seq" => ErasedBy::Seq,
            _ => return Err(invalid("by", "must be \"subject\" or \"seq\"")),
        };
        let reason = fields.string("reason")?;
        check_reason(&reason).map_err(|why| invalid("reason", why))?;
        let Value::Array(items) = fields.take("seqs")? else {
            return Err(invalid("seqs", "must be an array"));
        };
        if items.is_empty() || items.len() > ERASED_SEQS_MAX {
            return Err(invalid(
                "seqs",
                format!("must hold 1 to {ERASED_SEQS_MAX} sequence numbers"),
            ));
        }
        let mut seqs = Vec::with_capacity(items.len());
        for item in &items {
            let seq = crate::record::as_u64("seqs", item)?;
            let ascending = seqs.last().is_none_or(|last| *last < seq);
            if seq == 0 || seq >= own_seq || !ascending {
                return Err(invalid(
                    "seqs",
                    "must be ascending, each at least 1 and below the erasure's own seq",
                ));
            }
            seqs.push(seq);
        }
        fields.finish()?;
        Ok(Self { by, reason, seqs })
    }
}

/// An erasure's reason: 1 to [`ERASURE_REASON_CHARS_MAX`] characters, no
/// control characters.
pub fn check_reason(text: &str) -> Result<(), String> {
    if text.is_empty() || text.chars().nth(ERASURE_REASON_CHARS_MAX).is_some() {
        return Err(format!(
            "must be 1 to {ERASURE_REASON_CHARS_MAX} characters"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content() -> Committed {
        Committed {
            actor: None,
            payload: CanonicalJson::from_value(&json!({"amount": 12, "name": "Ada"}))
                .expect("canonical"),
            subject: Some("person-7".into()),
        }
    }

    #[test]
    fn commitment_is_the_specified_hash() {
        let salt = Salt([7; 32]);
        let bytes = content().canonical_bytes();
        assert_eq!(
            bytes,
            br#"{"payload":{"amount":12,"name":"Ada"},"subject":"person-7"}"#
        );
        let mut message = b"arxi.payload.v2\0".to_vec();
        message.extend_from_slice(&[7; 32]);
        message.extend_from_slice(&bytes);
        assert_eq!(content().commitment(&salt), Hash32::of(&message));
        assert_ne!(content().commitment(&Salt([8; 32])), Hash32::of(&message));
    }

    fn check(record: &str, expected: Result<&str, &str>) {
        match (Disclosure::parse(record.as_bytes()), expected) {
            (Ok(disclosure), Ok(state)) => {
                assert_eq!(disclosure.state(), state, "{record}");
                assert_eq!(disclosure.to_canonical_bytes(), record.as_bytes());
            }
            (Err(error), Err(text)) => {
                assert!(error.to_string().contains(text), "{record}: {error}");
            }
            (got, expected) => panic!("{record}: {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn disclosure_records() {
        let salt = "07".repeat(32);
        check(
            &format!(
                r#"{{"content":{{"payload":{{"a":1}}}},"salt":"{salt}","state":"disclosed","v":1}}"#
            ),
            Ok("disclosed"),
        );
        check(r#"{"state":"withheld","v":1}"#, Ok("withheld"));
        check(r#"{"erased_by":9,"state":"erased","v":1}"#, Ok("erased"));
        check(
            r#"{"erased_by":0,"state":"erased","v":1}"#,
            Err("at least 1"),
        );
        check(r#"{"state":"hidden","v":1}"#, Err("state"));
        check(r#"{"state":"withheld","v":2}"#, Err("version 2"));
        check(
            r#"{"erased_by":9,"state":"withheld","v":1}"#,
            Err("unknown field"),
        );
        check(
            &format!(r#"{{"content":{{"x":1}},"salt":"{salt}","state":"disclosed","v":1}}"#),
            Err("content"),
        );
        check(
            r#"{"content":{"payload":1},"salt":"07","state":"disclosed","v":1}"#,
            Err("salt"),
        );
        check(
            &format!(
                r#"{{"content":{{"actor":"","payload":1}},"salt":"{salt}","state":"disclosed","v":1}}"#
            ),
            Err("actor"),
        );
    }

    #[test]
    fn erasure_records() {
        let record = ErasureRecord {
            by: ErasedBy::Subject,
            reason: "GDPR Art. 17 request 42".into(),
            seqs: vec![3, 5, 9],
        };
        let canonical = record.to_canonical();
        assert_eq!(
            canonical.as_str(),
            r#"{"by":"subject","reason":"GDPR Art. 17 request 42","seqs":[3,5,9]}"#
        );
        assert_eq!(
            ErasureRecord::from_payload(&canonical.to_value(), 10),
            Ok(record)
        );
        let refused = |payload: Value, seq: u64| {
            ErasureRecord::from_payload(&payload, seq).expect_err("refused")
        };
        refused(json!({"by":"seq","reason":"r","seqs":[3,3]}), 10);
        refused(json!({"by":"seq","reason":"r","seqs":[5,3]}), 10);
        refused(json!({"by":"seq","reason":"r","seqs":[10]}), 10);
        refused(json!({"by":"seq","reason":"r","seqs":[]}), 10);
        refused(json!({"by":"seq","reason":"","seqs":[1]}), 10);
        refused(json!({"by":"all","reason":"r","seqs":[1]}), 10);
        refused(
            json!({"by":"seq","reason":"r","seqs":[1],"subject":"x"}),
            10,
        );
        refused(json!({"by":"seq","reason":"x".repeat(513),"seqs":[1]}), 10);
        assert!(
            ErasureRecord::from_payload(
                &json!({"by":"seq","reason":"x".repeat(512),"seqs":[1]}),
                10
            )
            .is_ok()
        );
    }
}
