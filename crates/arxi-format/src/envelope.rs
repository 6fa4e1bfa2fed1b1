//! The envelope: one recorded event (R-EV-1), its hash (R-EV-2), signature
//! and chain link (R-EV-3).
//!
//! An envelope is a JSON object. Its `hash` is SHA-256 over the RFC 8785
//! canonical form of the object without its `hash` and `signature` members;
//! its `signature` is Ed25519 over [`Domain::Envelope`] and that hash. The
//! typed writer here emits exactly those canonical bytes without building a
//! generic JSON value (the tests check it against the generic rule).
//!
//! This module checks one envelope and one link at a time. Walking a whole
//! chain, finding keys and reporting findings is the caller's business (the
//! store on read-back, the verifier over bundles).

use std::fmt;

use serde_json::Value;

use crate::canonical::{self, CanonicalJson};
use crate::digest::Hash32;
use crate::keys::{Domain, KeyId, PublicKey, SecretKey, Sign, Signature, SignatureInvalid};
use crate::record::{
    Fields, ObjectWriter, RecordError, check_event_type, check_label, check_media_type,
    check_recorder_id, invalid,
};
use crate::time::Timestamp;

/// The version of an envelope that carries its payload (member `v`).
pub const ENVELOPE_VERSION: u64 = 1;

/// The version of an envelope that commits to its payload instead of
/// carrying it (`Docs/format.md` §6.1, [`crate::payload`]).
pub const ENVELOPE_VERSION_COMMITTED: u64 = 2;

/// Event types starting with this prefix are reserved for control envelopes.
pub const CONTROL_TYPE_PREFIX: &str = "arxi.";

/// Maximum attachments on one envelope.
pub const ATTACHMENTS_MAX: usize = 64;

/// Whether an envelope records a client event or the recorder's own action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An event sent by a client.
    Data,
    /// A control action of the recorder (segment, key, config, lifecycle).
    Control,
}

impl Kind {
    /// The text form used in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Control => "control",
        }
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "data" => Some(Self::Data),
            "control" => Some(Self::Control),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference from an envelope to an attachment stored by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRef {
    /// Client-given name, unique within the envelope.
    pub name: String,
    /// Media type, e.g. `application/pdf`.
    pub media_type: String,
    /// SHA-256 of the attachment bytes.
    pub sha256: Hash32,
    /// Length of the attachment in bytes.
    pub size: u64,
}

impl AttachmentRef {
    fn write(&self, out: &mut Vec<u8>) {
        let mut object = ObjectWriter::new(out);
        object.string("media_type", &self.media_type);
        object.string("name", &self.name);
        object.string("sha256", &self.sha256.to_hex());
        object.u64("size", self.size);
        object.finish();
    }

    fn from_value(value: Value) -> Result<Self, RecordError> {
        let mut fields = Fields::from_value(value)
            .map_err(|_| invalid("attachments", "every attachment must be an object"))?;
        let attachment = Self {
            media_type: fields.string("media_type")?,
            name: fields.string("name")?,
            sha256: fields.hash("sha256")?,
            size: fields.u64("size")?,
        };
        fields.finish()?;
        Ok(attachment)
    }
}

/// An envelope's payload as its signed body holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Version 1: the payload itself, canonical (member `payload`).
    Inline(CanonicalJson),
    /// Version 2: the commitment to the committed content (member
    /// `payload_commitment`); the content and its salt are kept beside the
    /// envelope ([`crate::payload`]).
    Committed(Hash32),
}

impl Payload {
    /// The payload, when the envelope carries it (version 1).
    pub fn inline(&self) -> Option<&CanonicalJson> {
        match self {
            Self::Inline(payload) => Some(payload),
            Self::Committed(_) => None,
        }
    }

    /// The commitment, when the envelope commits (version 2).
    pub fn commitment(&self) -> Option<&Hash32> {
        match self {
            Self::Inline(_) => None,
            Self::Committed(commitment) => Some(commitment),
        }
    }

    /// The envelope version this payload form belongs to.
    pub fn version(&self) -> u64 {
        match self {
            Self::Inline(_) => ENVELOPE_VERSION,
            Self::Committed(_) => ENVELOPE_VERSION_COMMITTED,
        }
    }

    fn size_hint(&self) -> usize {
        match self {
            Self::Inline(payload) => payload.as_bytes().len(),
            Self::Committed(_) => 90,
        }
    }
}

/// Everything in an envelope except `hash` and `signature`: the signed part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeBody {
    /// The recorder that made it.
    pub recorder_id: String,
    /// The segment holding it (from 1).
    pub segment_id: u64,
    /// Recorder-wide gapless sequence number (from 1).
    pub seq: u64,
    /// Server receive time.
    pub received_at: Timestamp,
    /// Data or control.
    pub kind: Kind,
    /// Client-given event type (member `type`).
    pub event_type: String,
    /// Who acted, if given.
    pub actor: Option<String>,
    /// What was acted on, if given.
    pub subject: Option<String>,
    /// The event payload (version 1) or the commitment to it (version 2).
    pub payload: Payload,
    /// Attachments, in the order given.
    pub attachments: Vec<AttachmentRef>,
    /// Hash of the previous envelope ([`Hash32::ZERO`] for seq 1).
    pub prev_hash: Hash32,
    /// Id of the key that signs it.
    pub key_id: KeyId,
}

/// A signed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The signed part.
    pub body: EnvelopeBody,
    /// SHA-256 of the canonical body.
    pub hash: Hash32,
    /// Ed25519 over [`Domain::Envelope`] and `hash`.
    pub signature: Signature,
}

/// The recorded hash is not the hash of the recorded content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashMismatch {
    /// Recomputed from the content.
    pub computed: Hash32,
    /// As recorded.
    pub recorded: Hash32,
}

impl HashMismatch {
    /// `Err` when the hash `computed` from a record's content is not the
    /// one `recorded` in it (the generic record rule, section 5).
    pub fn check(computed: Hash32, recorded: Hash32) -> Result<(), Self> {
        if computed == recorded {
            Ok(())
        } else {
            Err(Self { computed, recorded })
        }
    }
}

impl fmt::Display for HashMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recorded hash {} but content hashes to {}",
            self.recorded, self.computed
        )
    }
}

impl std::error::Error for HashMismatch {}

/// A broken link between consecutive envelopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// The sequence number does not follow the previous one.
    SequenceGap {
        /// What the next sequence number had to be.
        expected_seq: u64,
        /// What it is.
        found_seq: u64,
    },
    /// `prev_hash` does not name the previous envelope.
    PrevHashMismatch {
        /// The envelope with the bad link.
        seq: u64,
        /// Hash of the previous envelope.
        expected_prev: Hash32,
        /// The `prev_hash` it carries.
        found_prev: Hash32,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SequenceGap {
                expected_seq,
                found_seq,
            } => write!(f, "expected seq {expected_seq}, found seq {found_seq}"),
            Self::PrevHashMismatch {
                seq,
                expected_prev,
                found_prev,
            } => write!(
                f,
                "seq {seq}: prev_hash {found_prev} does not match previous hash {expected_prev}"
            ),
        }
    }
}

impl std::error::Error for ChainError {}

/// The position a chain has reached: the last envelope's seq and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the last envelope (0 before the first).
    pub seq: u64,
    /// Hash of the last envelope ([`Hash32::ZERO`] before the first).
    pub hash: Hash32,
}

impl ChainHead {
    /// Before the first envelope of a recorder.
    pub const GENESIS: Self = Self {
        seq: 0,
        hash: Hash32::ZERO,
    };

    /// Checks that `next` extends this head by exactly one link.
    pub fn check_next(&self, next: &EnvelopeBody) -> Result<(), ChainError> {
        if next.seq != self.seq + 1 {
            return Err(ChainError::SequenceGap {
                expected_seq: self.seq + 1,
                found_seq: next.seq,
            });
        }
        if next.prev_hash != self.hash {
            return Err(ChainError::PrevHashMismatch {
                seq: next.seq,
                expected_prev: self.hash,
                found_prev: next.prev_hash,
            });
        }
        Ok(())
    }

    /// The head after `envelope`.
    pub fn after(envelope: &Envelope) -> Self {
        Self {
            seq: envelope.body.seq,
            hash: envelope.hash,
        }
    }
}

impl EnvelopeBody {
    /// Checks every field rule (syntax, ranges, kind/type agreement).
    pub fn validate(&self) -> Result<(), RecordError> {
        check_recorder_id(&self.recorder_id).map_err(|reason| invalid("recorder_id", reason))?;
        if self.segment_id == 0 {
            return Err(invalid("segment_id", "must be at least 1"));
        }
        if self.seq == 0 {
            return Err(invalid("seq", "must be at least 1"));
        }
        check_event_type(&self.event_type).map_err(|reason| invalid("type", reason))?;
        let reserved = self.event_type.starts_with(CONTROL_TYPE_PREFIX);
        match (self.kind, reserved) {
            (Kind::Data, true) => {
                return Err(invalid(
                    "type",
                    "types starting with \"arxi.\" are reserved",
                ));
            }
            (Kind::Control, false) => {
                return Err(invalid("type", "control types start with \"arxi.\""));
            }
            _ => {}
        }
        if let Some(actor) = &self.actor {
            check_label(actor).map_err(|reason| invalid("actor", reason))?;
        }
        if let Some(subject) = &self.subject {
            check_label(subject).map_err(|reason| invalid("subject", reason))?;
        }
        if self.attachments.len() > ATTACHMENTS_MAX {
            return Err(invalid(
                "attachments",
                format!("at most {ATTACHMENTS_MAX} attachments"),
            ));
        }
        for (index, attachment) in self.attachments.iter().enumerate() {
            check_label(&attachment.name)
                .map_err(|reason| invalid("attachments", format!("name: {reason}")))?;
            check_media_type(&attachment.media_type)
                .map_err(|reason| invalid("attachments", format!("media_type: {reason}")))?;
            if self.attachments[..index]
                .iter()
                .any(|other| other.name == attachment.name)
            {
                return Err(invalid(
                    "attachments",
                    format!("duplicate attachment name {:?}", attachment.name),
                ));
            }
        }
        if self.seq == 1 && self.prev_hash != Hash32::ZERO {
            return Err(invalid("prev_hash", "seq 1 must have the zero prev_hash"));
        }
        // A verifier checks control payloads (section 10), so they are
        // never only committed to.
        if self.kind == Kind::Control && self.payload.inline().is_none() {
            return Err(invalid(
                "payload_commitment",
                "control envelopes carry their payload (version 1)",
            ));
        }
        Ok(())
    }

    /// Canonical bytes of the body (the envelope without hash and signature).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.size_hint() + 512);
        self.write(&mut out, None);
        out
    }

    /// SHA-256 of [`Self::canonical_bytes`].
    pub fn compute_hash(&self) -> Hash32 {
        Hash32::of(&self.canonical_bytes())
    }

    /// Hashes and signs. The key must be the one `key_id` names.
    pub fn sign(self, key: &SecretKey) -> Envelope {
        let Ok(signed) = self.try_sign(key);
        signed
    }

    /// [`Self::sign`] with any [`Sign`]er, which may refuse.
    pub fn try_sign<K: Sign + ?Sized>(self, key: &K) -> Result<Envelope, K::Error> {
        assert_eq!(
            &self.key_id,
            key.public().id(),
            "envelope names key {} but is signed with {}",
            self.key_id,
            key.public().id()
        );
        let hash = self.compute_hash();
        let signature = key.sign_hash(Domain::Envelope, &hash)?;
        Ok(Envelope {
            body: self,
            hash,
            signature,
        })
    }

    /// Writes the canonical object; with `auth`, including `hash` and
    /// `signature` at their sorted positions.
    fn write(&self, out: &mut Vec<u8>, auth: Option<(&Hash32, &Signature)>) {
        let mut object = ObjectWriter::new(out);
        if let Some(actor) = &self.actor {
            object.string("actor", actor);
        }
        let mut attachments = Vec::with_capacity(2 + self.attachments.len() * 160);
        attachments.push(b'[');
        for (index, attachment) in self.attachments.iter().enumerate() {
            if index > 0 {
                attachments.push(b',');
            }
            attachment.write(&mut attachments);
        }
        attachments.push(b']');
        object.raw("attachments", &attachments);
        if let Some((hash, _)) = auth {
            object.string("hash", &hash.to_hex());
        }
        object.string("key_id", self.key_id.as_str());
        object.string("kind", self.kind.as_str());
        match &self.payload {
            Payload::Inline(payload) => object.raw("payload", payload.as_bytes()),
            Payload::Committed(commitment) => {
                object.string("payload_commitment", &commitment.to_hex());
            }
        }
        object.string("prev_hash", &self.prev_hash.to_hex());
        object.string("received_at", &self.received_at.to_string());
        object.string("recorder_id", &self.recorder_id);
        object.u64("segment_id", self.segment_id);
        object.u64("seq", self.seq);
        if let Some((_, signature)) = auth {
            object.string("signature", &signature.to_hex());
        }
        if let Some(subject) = &self.subject {
            object.string("subject", subject);
        }
        object.string("type", &self.event_type);
        object.u64("v", self.payload.version());
        object.finish();
    }
}

impl Envelope {
    /// The canonical bytes of the whole envelope, as stored and bundled.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.payload.size_hint() + 768);
        self.body
            .write(&mut out, Some((&self.hash, &self.signature)));
        out
    }

    /// Reads an envelope from JSON (strict parse, every field rule). It does
    /// not check the hash, signature or chain: see [`Self::check_hash`],
    /// [`Self::verify_signature`] and [`ChainHead::check_next`].
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_fields(Fields::parse(bytes)?)
    }

    /// As [`Self::parse`], for bytes that are canonical JSON (checked in
    /// one pass): the payload is taken as it stands instead of being parsed
    /// and rewritten, the verifier's hot path. `None` when the bytes are not
    /// canonical JSON (or the shortcut does not apply): use
    /// [`Self::parse`]. When `Some`, the answer is the one [`Self::parse`]
    /// gives; when `Some(Ok)`, `bytes` are exactly the envelope's canonical
    /// form ([`Self::to_canonical_bytes`]: every typed member reads back as
    /// written), and the hash returned is its content hash
    /// ([`EnvelopeBody::compute_hash`]), computed from `bytes` without
    /// writing anything.
    pub fn parse_canonical(bytes: &[u8]) -> Option<Result<(Self, Hash32), RecordError>> {
        let members = crate::canonical_check::canonical_object_members(bytes)?;
        let content_hash = hash_without(bytes, &members, &["hash", "signature"]);
        let fields = Fields::from_members(members, &["payload"])?;
        Some(Self::from_fields(fields).map(|envelope| (envelope, content_hash)))
    }

    /// As [`Self::parse`], from an already parsed value.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        Self::from_fields(Fields::from_value(value)?)
    }

    fn from_fields(mut fields: Fields) -> Result<Self, RecordError> {
        let payload = match fields.u64("v")? {
            ENVELOPE_VERSION => Payload::Inline(fields.canonical("payload")?),
            ENVELOPE_VERSION_COMMITTED => Payload::Committed(fields.hash("payload_commitment")?),
            other => return Err(RecordError::UnsupportedVersion(other)),
        };
        let kind_text = fields.string("kind")?;
        let kind = Kind::parse(&kind_text)
            .ok_or_else(|| invalid("kind", "must be \"data\" or \"control\""))?;
        let attachments = match fields.take("attachments")? {
            Value::Array(items) => items
                .into_iter()
                .map(AttachmentRef::from_value)
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(invalid("attachments", "must be an array")),
        };
        let body = EnvelopeBody {
            recorder_id: fields.string("recorder_id")?,
            segment_id: fields.u64("segment_id")?,
            seq: fields.u64("seq")?,
            received_at: fields.timestamp("received_at")?,
            kind,
            event_type: fields.string("type")?,
            actor: fields.optional_string("actor")?,
            subject: fields.optional_string("subject")?,
            payload,
            attachments,
            prev_hash: fields.hash("prev_hash")?,
            key_id: fields.key_id("key_id")?,
        };
        let hash = fields.hash("hash")?;
        let signature = fields.signature("signature")?;
        fields.finish()?;
        body.validate()?;
        Ok(Self {
            body,
            hash,
            signature,
        })
    }

    /// Recomputes the hash and compares it with the recorded one.
    pub fn check_hash(&self) -> Result<(), HashMismatch> {
        HashMismatch::check(self.body.compute_hash(), self.hash)
    }

    /// Verifies the signature over the recorded hash with `key`.
    ///
    /// The caller picks `key` by `body.key_id` from keys it trusts.
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), SignatureInvalid> {
        if key.id() != &self.body.key_id {
            return Err(SignatureInvalid);
        }
        key.verify(Domain::Envelope, &self.hash, &self.signature)
    }
}

/// SHA-256 of the canonical object `bytes` without the members named in
/// `excluded`: the canonical form of the smaller object (members keep
/// their order; a removed member takes its separating comma with it).
fn hash_without(bytes: &[u8], members: &[(&str, &[u8])], excluded: &[&str]) -> Hash32 {
    use sha2::{Digest, Sha256};
    let offset = |part: &[u8]| part.as_ptr() as usize - bytes.as_ptr() as usize;
    let mut digest = Sha256::new();
    let mut kept_from = 0;
    for (index, (key, value)) in members.iter().enumerate() {
        if !excluded.contains(key) {
            continue;
        }
        // `"key":value`; the key's opening quote is one byte before it.
        let key_quote = offset(key.as_bytes()) - 1;
        let value_end = offset(value) + value.len();
        let (from, to) = if index > 0 {
            (key_quote - 1, value_end) // the comma before
        } else if index + 1 < members.len() {
            (key_quote, value_end + 1) // the comma after
        } else {
            (key_quote, value_end)
        };
        digest.update(&bytes[kept_from..from]);
        kept_from = to;
    }
    digest.update(&bytes[kept_from..]);
    Hash32(digest.finalize().into())
}

/// The generic hashing rule, for independent implementations and tests:
/// SHA-256 of the canonical form of `record` without its `hash` and
/// `signature` members. Applies to envelopes, seals and bundle manifests.
pub fn generic_record_hash(record: &Value) -> Result<Hash32, RecordError> {
    let Value::Object(members) = record else {
        return Err(RecordError::NotAnObject);
    };
    let mut members = members.clone();
    members.remove("hash");
    members.remove("signature");
    let mut out = Vec::new();
    canonical::write_value(&mut out, &Value::Object(members))?;
    Ok(Hash32::of(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The one-pass path gives what the full parse gives, on every golden
    /// envelope and on each with one byte changed anywhere; intact
    /// envelopes take it.
    #[test]
    fn parse_canonical_agrees_with_parse() {
        let chain = include_str!("../testdata/golden/chain.jsonl");
        let mut taken = 0;
        for line in chain.lines() {
            let bytes = line.as_bytes();
            let (fast, content_hash) = Envelope::parse_canonical(bytes)
                .expect("stored envelopes are canonical")
                .expect("parses");
            assert_eq!(fast, Envelope::parse(bytes).expect("parses"));
            assert_eq!(fast.to_canonical_bytes(), bytes);
            assert_eq!(content_hash, fast.body.compute_hash());
            assert_eq!(content_hash, fast.hash);
            taken += 1;
            for index in 0..bytes.len() {
                for replacement in [b'0', b'"', b'\\', b' ', b'9', b'e', b'1', b'2', b'A', b'x'] {
                    let mut changed = bytes.to_vec();
                    changed[index] = replacement;
                    if let Some(fast) = Envelope::parse_canonical(&changed) {
                        let fast = fast.map(|(envelope, content_hash)| {
                            assert_eq!(envelope.to_canonical_bytes(), changed);
                            assert_eq!(content_hash, envelope.body.compute_hash());
                            envelope
                        });
                        assert_eq!(
                            format!("{fast:?}"),
                            format!("{:?}", Envelope::parse(&changed)),
                            "{}",
                            String::from_utf8_lossy(&changed)
                        );
                    }
                }
            }
        }
        assert!(taken > 0);
    }

    fn key() -> SecretKey {
        SecretKey::from_seed(&[3; 32]).expect("seed")
    }

    fn body(seq: u64, prev_hash: Hash32) -> EnvelopeBody {
        EnvelopeBody {
            recorder_id: "rec-1".into(),
            segment_id: 1,
            seq,
            received_at: Timestamp::from_unix_micros(1_700_000_000_000_000 + seq as i64)
                .expect("in range"),
            kind: Kind::Data,
            event_type: "approvals.granted".into(),
            actor: Some("alice".into()),
            subject: None,
            payload: Payload::Inline(
                CanonicalJson::from_value(&json!({"amount": 12.5, "id": "a-1", "ok": true}))
                    .expect("canonical"),
            ),
            attachments: vec![AttachmentRef {
                name: "scan.pdf".into(),
                media_type: "application/pdf".into(),
                sha256: Hash32::of(b"pdf"),
                size: 3,
            }],
            prev_hash,
            key_id: key().id().clone(),
        }
    }

    #[test]
    fn typed_writer_equals_generic_rule() {
        let envelope = body(1, Hash32::ZERO).sign(&key());
        let full = envelope.to_canonical_bytes();
        let value = crate::json::parse(&full).expect("parses");
        assert_eq!(
            canonical::canonicalize(&full).expect("canonical"),
            full,
            "stored form is canonical"
        );
        assert_eq!(generic_record_hash(&value), Ok(envelope.hash));
    }

    #[test]
    fn parse_round_trips_and_verifies() {
        let secret = key();
        let envelope = body(1, Hash32::ZERO).sign(&secret);
        let parsed = Envelope::parse(&envelope.to_canonical_bytes()).expect("parses");
        assert_eq!(parsed, envelope);
        assert_eq!(parsed.check_hash(), Ok(()));
        assert_eq!(parsed.verify_signature(secret.public()), Ok(()));
    }

    #[test]
    fn tampering_is_detected() {
        let secret = key();
        let envelope = body(1, Hash32::ZERO).sign(&secret);
        let mut changed = envelope.clone();
        changed.body.actor = Some("mallory".into());
        assert!(changed.check_hash().is_err());
        let mut rehashed = changed.clone();
        rehashed.hash = rehashed.body.compute_hash();
        assert_eq!(rehashed.check_hash(), Ok(()));
        assert_eq!(
            rehashed.verify_signature(secret.public()),
            Err(SignatureInvalid)
        );
    }

    /// A version 2 envelope: `payload_commitment` in place of `payload`,
    /// `v` 2, the generic rule unchanged; a control envelope may not
    /// commit.
    #[test]
    fn committed_envelopes() {
        let secret = key();
        let mut committed = body(1, Hash32::ZERO);
        committed.payload = Payload::Committed(Hash32::of(b"commitment"));
        let envelope = committed.clone().sign(&secret);
        let bytes = envelope.to_canonical_bytes();
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.contains(&format!(
            "\"kind\":\"data\",\"payload_commitment\":\"{}\",\"prev_hash\"",
            Hash32::of(b"commitment")
        )));
        assert!(text.ends_with("\"v\":2}"));
        assert!(!text.contains("\"payload\":"));
        let parsed = Envelope::parse(&bytes).expect("parses");
        assert_eq!(parsed, envelope);
        assert_eq!(
            Envelope::parse_canonical(&bytes)
                .expect("canonical")
                .expect("parses")
                .0,
            envelope
        );
        let value = crate::json::parse(&bytes).expect("parses");
        assert_eq!(generic_record_hash(&value), Ok(envelope.hash));
        assert_eq!(parsed.verify_signature(secret.public()), Ok(()));
        let mut control = committed;
        control.kind = Kind::Control;
        control.event_type = "arxi.segment.opened".into();
        assert!(
            control
                .validate()
                .expect_err("refused")
                .to_string()
                .contains("control envelopes carry their payload")
        );
    }

    #[test]
    fn chain_links() {
        let secret = key();
        let first = body(1, Hash32::ZERO).sign(&secret);
        assert_eq!(ChainHead::GENESIS.check_next(&first.body), Ok(()));
        let head = ChainHead::after(&first);
        let second = body(2, first.hash).sign(&secret);
        assert_eq!(head.check_next(&second.body), Ok(()));
        let skipped = body(3, first.hash).sign(&secret);
        assert_eq!(
            head.check_next(&skipped.body),
            Err(ChainError::SequenceGap {
                expected_seq: 2,
                found_seq: 3
            })
        );
        let forked = body(2, Hash32::of(b"elsewhere")).sign(&secret);
        assert!(matches!(
            head.check_next(&forked.body),
            Err(ChainError::PrevHashMismatch { seq: 2, .. })
        ));
    }

    #[test]
    fn field_rules_are_enforced_on_read() {
        let secret = key();
        let good = body(1, Hash32::ZERO).sign(&secret).to_canonical_bytes();
        let mut value = crate::json::parse(&good).expect("parses");
        let check = |value: &Value, expected: &str| {
            let bytes = serde_json::to_vec(value).expect("serializes");
            let error = Envelope::parse(&bytes).expect_err("must be refused");
            assert!(
                error.to_string().contains(expected),
                "{error} !~ {expected}"
            );
        };
        value["extra"] = json!(1);
        check(&value, "unknown field \"extra\"");
        value.as_object_mut().expect("object").remove("extra");
        value["v"] = json!(3);
        check(&value, "unsupported record version 3");
        value["v"] = json!(2);
        check(&value, "missing field \"payload_commitment\"");
        value["v"] = json!(1);
        value["type"] = json!("arxi.segment.opened");
        check(&value, "reserved");
        value["type"] = json!("x");
        value["seq"] = json!(0);
        check(&value, "seq");
        value["seq"] = json!(1);
        value["prev_hash"] = json!("AA");
        check(&value, "prev_hash");
        value["prev_hash"] = json!(Hash32::of(b"p").to_hex());
        check(&value, "zero prev_hash");
        value["prev_hash"] = json!(Hash32::ZERO.to_hex());
        value.as_object_mut().expect("object").remove("signature");
        check(&value, "missing field \"signature\"");
    }
}
