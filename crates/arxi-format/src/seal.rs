//! The seal record (R-EV-5): fixes a segment under a signed RFC 6962 root.
//!
//! A seal names its segment and the exact sequence range it covers, the
//! Merkle root over the envelope hashes of that range (leaf data = the 32
//! raw bytes of each envelope hash), the hash of the last envelope, and the
//! hash of the previous seal, so seals form a chain of their own beside the
//! envelope chain. Its `hash` and `signature` follow the same rule as an
//! envelope's, with [`Domain::Seal`].

use std::fmt;

use serde_json::Value;

use crate::digest::Hash32;
use crate::keys::{Domain, KeyId, PublicKey, SecretKey, Sign, Signature, SignatureInvalid};
use crate::merkle;
use crate::record::{Fields, ObjectWriter, RecordError, check_recorder_id, invalid};
use crate::time::Timestamp;

/// The seal record version written in member `v`.
pub const SEAL_VERSION: u64 = 1;

/// The signed part of a seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealBody {
    /// The recorder that sealed.
    pub recorder_id: String,
    /// The sealed segment.
    pub segment_id: u64,
    /// First sequence number in the segment.
    pub first_seq: u64,
    /// Last sequence number in the segment.
    pub last_seq: u64,
    /// Envelopes in the segment: `last_seq - first_seq + 1`.
    pub count: u64,
    /// RFC 6962 root over the segment's envelope hashes.
    pub merkle_root: Hash32,
    /// Hash of the envelope with `last_seq`.
    pub last_envelope_hash: Hash32,
    /// Hash of the previous seal ([`Hash32::ZERO`] for the first).
    pub prev_seal_hash: Hash32,
    /// When the seal was made.
    pub sealed_at: Timestamp,
    /// Id of the signing key.
    pub key_id: KeyId,
}

/// A signed seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The signed part.
    pub body: SealBody,
    /// SHA-256 of the canonical body.
    pub hash: Hash32,
    /// Ed25519 over [`Domain::Seal`] and `hash`.
    pub signature: Signature,
}

/// A seal whose content disagrees with the envelopes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealMismatch {
    /// The Merkle root over the envelope hashes differs.
    MerkleRoot {
        /// Root of the envelopes present.
        computed: Hash32,
        /// Root in the seal.
        sealed: Hash32,
    },
    /// The seal's last envelope hash differs from the last envelope's.
    LastEnvelope {
        /// Hash of the last envelope present.
        computed: Hash32,
        /// Hash in the seal.
        sealed: Hash32,
    },
    /// The number of envelopes differs.
    Count {
        /// Envelopes present.
        computed: u64,
        /// Count in the seal.
        sealed: u64,
    },
}

impl fmt::Display for SealMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MerkleRoot { computed, sealed } => {
                write!(f, "sealed Merkle root {sealed}, envelopes give {computed}")
            }
            Self::LastEnvelope { computed, sealed } => {
                write!(
                    f,
                    "sealed last envelope hash {sealed}, last envelope is {computed}"
                )
            }
            Self::Count { computed, sealed } => {
                write!(f, "sealed count {sealed}, envelopes present {computed}")
            }
        }
    }
}

impl std::error::Error for SealMismatch {}

impl SealBody {
    /// Field rules: recorder id syntax, non-empty range, consistent count.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_recorder_id(&self.recorder_id).map_err(|reason| invalid("recorder_id", reason))?;
        if self.segment_id == 0 {
            return Err(invalid("segment_id", "must be at least 1"));
        }
        if self.first_seq == 0 || self.last_seq < self.first_seq {
            return Err(invalid(
                "last_seq",
                "range must be non-empty and start at 1 or later",
            ));
        }
        if self.count != self.last_seq - self.first_seq + 1 {
            return Err(invalid("count", "must equal last_seq - first_seq + 1"));
        }
        Ok(())
    }

    /// Canonical bytes without hash and signature.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(640);
        self.write(&mut out, None);
        out
    }

    /// SHA-256 of [`Self::canonical_bytes`].
    pub fn compute_hash(&self) -> Hash32 {
        Hash32::of(&self.canonical_bytes())
    }

    /// Hashes and signs with the key `key_id` names.
    pub fn sign(self, key: &SecretKey) -> Seal {
        let Ok(signed) = self.try_sign(key);
        signed
    }

    /// [`Self::sign`] with any [`Sign`]er, which may refuse.
    pub fn try_sign<K: Sign + ?Sized>(self, key: &K) -> Result<Seal, K::Error> {
        assert_eq!(&self.key_id, key.public().id(), "seal names another key");
        let hash = self.compute_hash();
        let signature = key.sign_hash(Domain::Seal, &hash)?;
        Ok(Seal {
            body: self,
            hash,
            signature,
        })
    }

    /// Checks the seal against the hashes of the envelopes it covers, in
    /// sequence order.
    pub fn check_envelopes(&self, envelope_hashes: &[Hash32]) -> Result<(), SealMismatch> {
        let computed_count = envelope_hashes.len() as u64;
        if computed_count != self.count {
            return Err(SealMismatch::Count {
                computed: computed_count,
                sealed: self.count,
            });
        }
        let mut builder = merkle::RootBuilder::new();
        for hash in envelope_hashes {
            builder.push(merkle::leaf_hash(hash.as_bytes()));
        }
        let computed_root = builder.root();
        if computed_root != self.merkle_root {
            return Err(SealMismatch::MerkleRoot {
                computed: computed_root,
                sealed: self.merkle_root,
            });
        }
        let last = envelope_hashes.last().copied().unwrap_or(Hash32::ZERO);
        if last != self.last_envelope_hash {
            return Err(SealMismatch::LastEnvelope {
                computed: last,
                sealed: self.last_envelope_hash,
            });
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>, auth: Option<(&Hash32, &Signature)>) {
        let mut object = ObjectWriter::new(out);
        object.u64("count", self.count);
        object.u64("first_seq", self.first_seq);
        if let Some((hash, _)) = auth {
            object.string("hash", &hash.to_hex());
        }
        object.string("key_id", self.key_id.as_str());
        object.string("last_envelope_hash", &self.last_envelope_hash.to_hex());
        object.u64("last_seq", self.last_seq);
        object.string("merkle_root", &self.merkle_root.to_hex());
        object.string("prev_seal_hash", &self.prev_seal_hash.to_hex());
        object.string("recorder_id", &self.recorder_id);
        object.string("sealed_at", &self.sealed_at.to_string());
        object.u64("segment_id", self.segment_id);
        if let Some((_, signature)) = auth {
            object.string("signature", &signature.to_hex());
        }
        object.u64("v", SEAL_VERSION);
        object.finish();
    }
}

/// The leaf hash a segment's Merkle tree uses for an envelope hash.
pub fn envelope_leaf(envelope_hash: &Hash32) -> Hash32 {
    merkle::leaf_hash(envelope_hash.as_bytes())
}

impl Seal {
    /// Canonical bytes of the whole seal.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(800);
        self.body
            .write(&mut out, Some((&self.hash, &self.signature)));
        out
    }

    /// Reads a seal (strict; field rules, not hash or signature).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_fields(Fields::parse(bytes)?)
    }

    /// As [`Self::parse`], from a parsed value.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        Self::from_fields(Fields::from_value(value)?)
    }

    fn from_fields(mut fields: Fields) -> Result<Self, RecordError> {
        fields.version(SEAL_VERSION)?;
        let body = SealBody {
            recorder_id: fields.string("recorder_id")?,
            segment_id: fields.u64("segment_id")?,
            first_seq: fields.u64("first_seq")?,
            last_seq: fields.u64("last_seq")?,
            count: fields.u64("count")?,
            merkle_root: fields.hash("merkle_root")?,
            last_envelope_hash: fields.hash("last_envelope_hash")?,
            prev_seal_hash: fields.hash("prev_seal_hash")?,
            sealed_at: fields.timestamp("sealed_at")?,
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

    /// Recomputes the hash and compares.
    pub fn check_hash(&self) -> Result<(), crate::envelope::HashMismatch> {
        crate::envelope::HashMismatch::check(self.body.compute_hash(), self.hash)
    }

    /// Verifies the signature with `key` (which must be the key named).
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), SignatureInvalid> {
        if key.id() != &self.body.key_id {
            return Err(SignatureInvalid);
        }
        key.verify(Domain::Seal, &self.hash, &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::generic_record_hash;

    fn key() -> SecretKey {
        SecretKey::from_seed(&[5; 32]).expect("seed")
    }

    fn hashes(count: u8) -> Vec<Hash32> {
        (0..count).map(|i| Hash32::of(&[i])).collect()
    }

    fn body(envelopes: &[Hash32]) -> SealBody {
        let mut builder = merkle::RootBuilder::new();
        for hash in envelopes {
            builder.push(envelope_leaf(hash));
        }
        SealBody {
            recorder_id: "rec-1".into(),
            segment_id: 2,
            first_seq: 10,
            last_seq: 10 + envelopes.len() as u64 - 1,
            count: envelopes.len() as u64,
            merkle_root: builder.root(),
            last_envelope_hash: *envelopes.last().expect("non-empty"),
            prev_seal_hash: Hash32::of(b"previous seal"),
            sealed_at: Timestamp::from_unix_micros(1_700_000_000_000_000).expect("in range"),
            key_id: key().id().clone(),
        }
    }

    #[test]
    fn round_trip_sign_verify_generic_hash() {
        let envelopes = hashes(5);
        let seal = body(&envelopes).sign(&key());
        let bytes = seal.to_canonical_bytes();
        let parsed = Seal::parse(&bytes).expect("parses");
        assert_eq!(parsed, seal);
        assert_eq!(parsed.check_hash(), Ok(()));
        assert_eq!(parsed.verify_signature(key().public()), Ok(()));
        let value = crate::json::parse(&bytes).expect("json");
        assert_eq!(generic_record_hash(&value), Ok(seal.hash));
        assert_eq!(seal.body.check_envelopes(&envelopes), Ok(()));
    }

    #[test]
    fn detects_envelope_disagreement() {
        let envelopes = hashes(5);
        let seal = body(&envelopes);
        assert!(matches!(
            seal.check_envelopes(&envelopes[..4]),
            Err(SealMismatch::Count {
                computed: 4,
                sealed: 5
            })
        ));
        let mut swapped = envelopes.clone();
        swapped.swap(1, 2);
        assert!(matches!(
            seal.check_envelopes(&swapped),
            Err(SealMismatch::MerkleRoot { .. })
        ));
    }

    #[test]
    fn validation() {
        let mut seal = body(&hashes(3));
        seal.count = 4;
        assert!(seal.validate().is_err());
        seal.count = 3;
        assert_eq!(seal.validate(), Ok(()));
        seal.first_seq = 0;
        assert!(seal.validate().is_err());
    }
}
