//! The signed head: the newest chain head a recorder knows to be durable,
//! signed, and kept outside its database.
//!
//! A database restored from an older backup is a valid chain that simply
//! ends earlier; nothing inside it can tell that sequence numbers after its
//! end were already signed with other hashes. The recorder therefore keeps
//! this small record in a file beside the database (written atomically at
//! checkpoints, seals and shutdown) and refuses to start on a database whose
//! chain does not reach it. The record is signed with the recorder's key
//! under its own context ([`Domain::Head`]), so a forged file cannot hide a
//! rollback.
//!
//! What it deliberately is not: evidence an auditor verifies in a bundle.
//! It never enters a bundle; it is the recorder's own guard against a
//! silent fork (`Docs/format.md` §15).

use serde_json::Value;

use crate::digest::Hash32;
use crate::keys::{Domain, KeyId, PublicKey, SecretKey, Sign, Signature, SignatureInvalid};
use crate::record::{Fields, ObjectWriter, RecordError, check_recorder_id, invalid};
use crate::time::Timestamp;

/// The signed head record version written in member `v`.
pub const HEAD_VERSION: u64 = 1;

/// The signed part of a head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadBody {
    /// The recorder whose chain this is.
    pub recorder_id: String,
    /// Sequence number of the last durable envelope.
    pub seq: u64,
    /// Hash of that envelope.
    pub head_hash: Hash32,
    /// Hash of the last seal ([`Hash32::ZERO`] before the first).
    pub seal_hash: Hash32,
    /// When the head was written.
    pub written_at: Timestamp,
    /// Id of the signing key.
    pub key_id: KeyId,
}

/// A signed head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    /// The signed part.
    pub body: HeadBody,
    /// SHA-256 of the canonical body.
    pub hash: Hash32,
    /// Ed25519 over [`Domain::Head`] and `hash`.
    pub signature: Signature,
}

impl HeadBody {
    /// Field rules: the recorder id's syntax; a head at seq 0 (an empty
    /// chain) has the zero hash.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_recorder_id(&self.recorder_id).map_err(|reason| invalid("recorder_id", reason))?;
        if self.seq == 0 && self.head_hash != Hash32::ZERO {
            return Err(invalid("head_hash", "an empty chain has the zero hash"));
        }
        Ok(())
    }

    /// Canonical bytes without hash and signature.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(400);
        self.write(&mut out, None);
        out
    }

    /// Hashes and signs with the key `key_id` names.
    pub fn sign(self, key: &SecretKey) -> SignedHead {
        let Ok(signed) = self.try_sign(key);
        signed
    }

    /// [`Self::sign`] with any [`Sign`]er, which may refuse.
    pub fn try_sign<K: Sign + ?Sized>(self, key: &K) -> Result<SignedHead, K::Error> {
        assert_eq!(&self.key_id, key.public().id(), "head names another key");
        let hash = Hash32::of(&self.canonical_bytes());
        let signature = key.sign_hash(Domain::Head, &hash)?;
        Ok(SignedHead {
            body: self,
            hash,
            signature,
        })
    }

    fn write(&self, out: &mut Vec<u8>, auth: Option<(&Hash32, &Signature)>) {
        let mut object = ObjectWriter::new(out);
        if let Some((hash, _)) = auth {
            object.string("hash", &hash.to_hex());
        }
        object.string("head_hash", &self.head_hash.to_hex());
        object.string("key_id", self.key_id.as_str());
        object.string("recorder_id", &self.recorder_id);
        object.string("seal_hash", &self.seal_hash.to_hex());
        object.u64("seq", self.seq);
        if let Some((_, signature)) = auth {
            object.string("signature", &signature.to_hex());
        }
        object.u64("v", HEAD_VERSION);
        object.string("written_at", &self.written_at.to_string());
        object.finish();
    }
}

impl SignedHead {
    /// Canonical bytes of the whole record (what the file holds).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(600);
        self.body
            .write(&mut out, Some((&self.hash, &self.signature)));
        out
    }

    /// Reads a head (strict; field rules, not hash or signature).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_fields(Fields::parse(bytes)?)
    }

    /// As [`Self::parse`], from a parsed value.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        Self::from_fields(Fields::from_value(value)?)
    }

    fn from_fields(mut fields: Fields) -> Result<Self, RecordError> {
        fields.version(HEAD_VERSION)?;
        let body = HeadBody {
            recorder_id: fields.string("recorder_id")?,
            seq: fields.u64("seq")?,
            head_hash: fields.hash("head_hash")?,
            seal_hash: fields.hash("seal_hash")?,
            written_at: fields.timestamp("written_at")?,
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

    /// Recomputes the hash and verifies the signature with `key` (which
    /// must be the key named).
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureInvalid> {
        if key.id() != &self.body.key_id || Hash32::of(&self.body.canonical_bytes()) != self.hash {
            return Err(SignatureInvalid);
        }
        key.verify(Domain::Head, &self.hash, &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::generic_record_hash;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32]).expect("seed")
    }

    fn body(seq: u64) -> HeadBody {
        HeadBody {
            recorder_id: "rec-1".into(),
            seq,
            head_hash: Hash32::of(b"head"),
            seal_hash: Hash32::of(b"seal"),
            written_at: Timestamp::from_unix_micros(1_700_000_000_000_000).expect("in range"),
            key_id: key(3).id().clone(),
        }
    }

    #[test]
    fn round_trip_sign_verify_generic_hash() {
        let head = body(42).sign(&key(3));
        let bytes = head.to_canonical_bytes();
        assert!(crate::canonical::is_canonical(&bytes), "canonical bytes");
        let parsed = SignedHead::parse(&bytes).expect("parses");
        assert_eq!(parsed, head);
        assert_eq!(parsed.verify(key(3).public()), Ok(()));
        let value = crate::json::parse(&bytes).expect("json");
        assert_eq!(generic_record_hash(&value), Ok(head.hash));
    }

    /// Each way a head can be forged or damaged is refused.
    #[test]
    fn forgeries_are_refused() {
        let head = body(42).sign(&key(3));
        let check = |head: &SignedHead, what: &str| {
            assert_eq!(
                head.verify(key(3).public()),
                Err(SignatureInvalid),
                "{what}"
            );
        };
        let mut moved = head.clone();
        moved.body.seq = 41;
        check(&moved, "a changed seq");
        let mut rehashed = moved.clone();
        rehashed.hash = Hash32::of(&rehashed.body.canonical_bytes());
        check(&rehashed, "a changed seq with its hash recomputed");
        let other = body(42).sign(&key(3));
        let mut other_key = other.clone();
        other_key.body.key_id = key(4).id().clone();
        assert_eq!(other.verify(key(4).public()), Err(SignatureInvalid));
        check(&other_key, "another key id");
        let signed_as_seal = {
            let mut forged = head.clone();
            forged.signature = key(3).sign(Domain::Seal, &head.hash);
            forged
        };
        check(&signed_as_seal, "a signature in another domain");
    }

    #[test]
    fn field_rules() {
        let mut empty = body(0);
        assert!(empty.validate().is_err(), "seq 0 with a non-zero hash");
        empty.head_hash = Hash32::ZERO;
        assert_eq!(empty.validate(), Ok(()));
        let mut bytes = body(7).sign(&key(3)).to_canonical_bytes();
        bytes.truncate(bytes.len() - 1);
        assert!(SignedHead::parse(&bytes).is_err(), "truncated");
        let unknown = br#"{"extra":1}"#;
        assert!(SignedHead::parse(unknown).is_err(), "unknown member");
    }
}
