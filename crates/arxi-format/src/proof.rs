//! The envelope inclusion proof (`Docs/format.md` §12): one envelope, its
//! RFC 6962 audit path and the signed seal of its segment, so a single record
//! can be disclosed and checked without the others.
//!
//! A proof is one canonical JSON object:
//!
//! ```text
//! {"audit_path":[hex...],"envelope":{...},"format":"arxi.proof",
//!  "leaf_index":n,"seal":{...},"tree_size":n,"v":1}
//! ```
//!
//! It carries no signature of its own: the envelope and the seal are each
//! signed, and the audit path ties one to the other.

use std::fmt;

use serde_json::Value;

use crate::digest::Hash32;
use crate::envelope::{Envelope, HashMismatch};
use crate::keys::PublicKey;
use crate::merkle::{self, ProofError};
use crate::record::{Fields, ObjectWriter, RecordError, invalid};
use crate::seal::{Seal, envelope_leaf};

/// The proof format version.
pub const PROOF_VERSION: u64 = 1;

/// Longest audit path accepted (a tree of 2^64 leaves).
const AUDIT_PATH_MAX: usize = 64;

/// An envelope with its inclusion proof against its segment's seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The disclosed envelope.
    pub envelope: Envelope,
    /// The seal of the envelope's segment.
    pub seal: Seal,
    /// The envelope's position in the segment (`seq - first_seq`).
    pub leaf_index: u64,
    /// Leaves in the segment's tree (the seal's `count`).
    pub tree_size: u64,
    /// The RFC 9162 §2.1.3.1 audit path, leaf to root.
    pub audit_path: Vec<Hash32>,
    /// The delegations of the envelope's and the seal's keys when they are
    /// delegated keys (`Docs/format.md` §3.1), so the proof holds under
    /// the root alone: at most [`PROOF_DELEGATIONS_MAX`], absent when none.
    pub delegations: Vec<crate::delegation::Delegation>,
    /// The timestamp tokens of the seal (`T` records of the bundle,
    /// `Docs/format.md` §11.9): at most
    /// [`crate::timestamp::TIMESTAMPS_PER_SEAL_MAX`], absent when none.
    pub timestamps: Vec<crate::timestamp::TimestampRecord>,
}

/// Most delegations a proof carries (the envelope's key and the seal's).
pub const PROOF_DELEGATIONS_MAX: usize = 2;

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofFailure {
    /// The envelope's content does not hash to its recorded hash.
    EnvelopeHash(HashMismatch),
    /// The seal's content does not hash to its recorded hash.
    SealHash(HashMismatch),
    /// The envelope is signed by a key not among the trusted ones.
    EnvelopeUntrustedKey(String),
    /// The seal is signed by a key not among the trusted ones.
    SealUntrustedKey(String),
    /// The envelope's signature does not verify.
    EnvelopeSignature,
    /// The seal's signature does not verify.
    SealSignature,
    /// The envelope is not in the sealed segment at the stated position.
    Position(String),
    /// The audit path does not lead to the sealed root.
    Path(ProofError),
}

impl ProofFailure {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EnvelopeHash(_) => "envelope_hash_mismatch",
            Self::SealHash(_) => "seal_hash_mismatch",
            Self::EnvelopeUntrustedKey(_) => "envelope_untrusted_key",
            Self::SealUntrustedKey(_) => "seal_untrusted_key",
            Self::EnvelopeSignature => "envelope_signature_invalid",
            Self::SealSignature => "seal_signature_invalid",
            Self::Position(_) => "proof_position_mismatch",
            Self::Path(_) => "proof_root_mismatch",
        }
    }
}

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EnvelopeHash(m) => write!(
                f,
                "the envelope does not hash to its recorded hash (computed {}, recorded {})",
                m.computed, m.recorded
            ),
            Self::SealHash(m) => write!(
                f,
                "the seal does not hash to its recorded hash (computed {}, recorded {})",
                m.computed, m.recorded
            ),
            Self::EnvelopeUntrustedKey(id) => {
                write!(f, "the envelope is signed by untrusted key {id}")
            }
            Self::SealUntrustedKey(id) => write!(f, "the seal is signed by untrusted key {id}"),
            Self::EnvelopeSignature => write!(f, "the envelope's signature does not verify"),
            Self::SealSignature => write!(f, "the seal's signature does not verify"),
            Self::Position(why) => {
                write!(f, "the envelope is not where the proof places it: {why}")
            }
            Self::Path(error) => write!(
                f,
                "the audit path does not lead to the sealed root: {error}"
            ),
        }
    }
}

impl std::error::Error for ProofFailure {}

impl InclusionProof {
    /// Builds the proof for the envelope at `leaf_index` of a segment whose
    /// envelope hashes (in order) are `envelope_hashes`.
    pub fn build(
        envelope: Envelope,
        seal: Seal,
        envelope_hashes: &[Hash32],
        leaf_index: u64,
    ) -> Result<Self, ProofError> {
        let leaves: Vec<Hash32> = envelope_hashes.iter().map(envelope_leaf).collect();
        let audit_path = merkle::inclusion_proof(&leaves, leaf_index)?;
        Ok(Self {
            envelope,
            seal,
            leaf_index,
            tree_size: leaves.len() as u64,
            audit_path,
            delegations: Vec::new(),
            timestamps: Vec::new(),
        })
    }

    /// Canonical bytes.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let envelope = self.envelope.to_canonical_bytes();
        let seal = self.seal.to_canonical_bytes();
        let mut out =
            Vec::with_capacity(envelope.len() + seal.len() + 128 + self.audit_path.len() * 67);
        let mut path = Vec::with_capacity(2 + self.audit_path.len() * 67);
        path.push(b'[');
        for (index, hash) in self.audit_path.iter().enumerate() {
            if index > 0 {
                path.push(b',');
            }
            crate::canonical::write_string(&mut path, &hash.to_hex());
        }
        path.push(b']');
        let mut object = ObjectWriter::new(&mut out);
        object.raw("audit_path", &path);
        if !self.delegations.is_empty() {
            let mut list = vec![b'['];
            for (index, delegation) in self.delegations.iter().enumerate() {
                if index > 0 {
                    list.push(b',');
                }
                list.extend_from_slice(&delegation.to_canonical_bytes());
            }
            list.push(b']');
            object.raw("delegations", &list);
        }
        object.raw("envelope", &envelope);
        object.string("format", "arxi.proof");
        object.u64("leaf_index", self.leaf_index);
        object.raw("seal", &seal);
        if !self.timestamps.is_empty() {
            let mut list = vec![b'['];
            for (index, timestamp) in self.timestamps.iter().enumerate() {
                if index > 0 {
                    list.push(b',');
                }
                list.extend_from_slice(&timestamp.to_canonical_bytes());
            }
            list.push(b']');
            object.raw("timestamps", &list);
        }
        object.u64("tree_size", self.tree_size);
        object.u64("v", PROOF_VERSION);
        object.finish();
        out
    }

    /// Reads a proof (strict field rules; nothing is verified yet).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut fields = Fields::parse(bytes)?;
        fields.version(PROOF_VERSION)?;
        if fields.string("format")? != "arxi.proof" {
            return Err(invalid("format", "must be \"arxi.proof\""));
        }
        let audit_path = match fields.take("audit_path")? {
            Value::Array(items) if items.len() <= AUDIT_PATH_MAX => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => {
                        Hash32::from_hex(&text).map_err(|e| invalid("audit_path", e.to_string()))
                    }
                    _ => Err(invalid("audit_path", "must hold hex hashes")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(invalid(
                    "audit_path",
                    format!("must be an array of at most {AUDIT_PATH_MAX} hashes"),
                ));
            }
        };
        let delegations = optional_records(
            &mut fields,
            "delegations",
            PROOF_DELEGATIONS_MAX,
            crate::delegation::Delegation::from_value,
        )?;
        let timestamps = optional_records(
            &mut fields,
            "timestamps",
            crate::timestamp::TIMESTAMPS_PER_SEAL_MAX,
            crate::timestamp::TimestampRecord::from_value,
        )?;
        let proof = Self {
            envelope: Envelope::from_value(fields.take("envelope")?)?,
            seal: Seal::from_value(fields.take("seal")?)?,
            leaf_index: fields.u64("leaf_index")?,
            tree_size: fields.u64("tree_size")?,
            audit_path,
            delegations,
            timestamps,
        };
        fields.finish()?;
        Ok(proof)
    }

    /// Checks everything: both hashes, both signatures under trusted keys,
    /// the envelope's place in the sealed segment, and the audit path to the
    /// sealed Merkle root. Returns every failure found.
    pub fn verify(&self, trusted: &[PublicKey]) -> Vec<ProofFailure> {
        let mut failures = Vec::new();
        let trusted_key = |id: &crate::KeyId| trusted.iter().find(|key| key.id() == id);
        if let Err(mismatch) = self.envelope.check_hash() {
            failures.push(ProofFailure::EnvelopeHash(mismatch));
        }
        if let Err(mismatch) = self.seal.check_hash() {
            failures.push(ProofFailure::SealHash(mismatch));
        }
        let body = &self.envelope.body;
        let seal = &self.seal.body;
        match trusted_key(&body.key_id) {
            None => failures.push(ProofFailure::EnvelopeUntrustedKey(body.key_id.to_string())),
            Some(key) => {
                if self.envelope.verify_signature(key).is_err() {
                    failures.push(ProofFailure::EnvelopeSignature);
                }
            }
        }
        match trusted_key(&seal.key_id) {
            None => failures.push(ProofFailure::SealUntrustedKey(seal.key_id.to_string())),
            Some(key) => {
                if self.seal.verify_signature(key).is_err() {
                    failures.push(ProofFailure::SealSignature);
                }
            }
        }
        let mut position = Vec::new();
        if body.segment_id != seal.segment_id {
            position.push(format!(
                "envelope segment {} but seal segment {}",
                body.segment_id, seal.segment_id
            ));
        }
        if body.recorder_id != seal.recorder_id {
            position.push(format!(
                "envelope recorder {:?} but seal recorder {:?}",
                body.recorder_id, seal.recorder_id
            ));
        }
        if self.tree_size != seal.count {
            position.push(format!(
                "tree size {} but the seal counts {}",
                self.tree_size, seal.count
            ));
        }
        if body.seq < seal.first_seq
            || body.seq > seal.last_seq
            || body.seq - seal.first_seq != self.leaf_index
        {
            position.push(format!(
                "seq {} at leaf {} is not in the sealed range {}..={}",
                body.seq, self.leaf_index, seal.first_seq, seal.last_seq
            ));
        }
        if !position.is_empty() {
            failures.push(ProofFailure::Position(position.join("; ")));
        }
        if let Err(error) = merkle::verify_inclusion(
            &envelope_leaf(&self.envelope.hash),
            self.leaf_index,
            self.tree_size,
            &self.audit_path,
            &seal.merkle_root,
        ) {
            failures.push(ProofFailure::Path(error));
        }
        failures
    }
}

/// An optional member holding an array of 1 to `max` records, each read
/// by `read` (absent: none).
fn optional_records<T>(
    fields: &mut Fields,
    member: &'static str,
    max: usize,
    read: fn(Value) -> Result<T, RecordError>,
) -> Result<Vec<T>, RecordError> {
    match fields.take_optional(member) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) if (1..=max).contains(&items.len()) => items
            .into_iter()
            .map(|item| read(item).map_err(|e| invalid(member, e.to_string())))
            .collect(),
        Some(_) => Err(invalid(
            member,
            format!("must be an array of 1 to {max} records"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{EnvelopeBody, Kind};
    use crate::keys::SecretKey;
    use crate::seal::SealBody;
    use crate::{CanonicalJson, ChainHead, Timestamp};

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32]).expect("seed")
    }

    /// A sealed segment of `count` envelopes starting at seq 11.
    fn segment(count: u64) -> (Vec<Envelope>, Seal) {
        let key = key(7);
        let mut head = ChainHead {
            seq: 10,
            hash: Hash32::of(b"before"),
        };
        let mut envelopes = Vec::new();
        for index in 0..count {
            let body = EnvelopeBody {
                recorder_id: "rec".into(),
                segment_id: 3,
                seq: head.seq + 1,
                received_at: Timestamp::from_unix_micros(1_000 + index as i64).expect("time"),
                kind: Kind::Data,
                event_type: "test.event".into(),
                actor: None,
                subject: None,
                payload: crate::envelope::Payload::Inline(
                    CanonicalJson::from_value(&serde_json::json!({"n": index})).expect("json"),
                ),
                attachments: vec![],
                prev_hash: head.hash,
                key_id: key.id().clone(),
            };
            let envelope = body.sign(&key);
            head = ChainHead::after(&envelope);
            envelopes.push(envelope);
        }
        let leaves: Vec<Hash32> = envelopes.iter().map(|e| envelope_leaf(&e.hash)).collect();
        let last = envelopes.last().expect("non-empty");
        let seal = SealBody {
            recorder_id: "rec".into(),
            segment_id: 3,
            first_seq: 11,
            last_seq: last.body.seq,
            count,
            merkle_root: merkle::root(&leaves),
            last_envelope_hash: last.hash,
            prev_seal_hash: Hash32::of(b"seal 2"),
            sealed_at: Timestamp::from_unix_micros(9_000).expect("time"),
            key_id: key.id().clone(),
        }
        .sign(&key);
        (envelopes, seal)
    }

    fn proof_for(envelopes: &[Envelope], seal: &Seal, index: usize) -> InclusionProof {
        let hashes: Vec<Hash32> = envelopes.iter().map(|e| e.hash).collect();
        InclusionProof::build(
            envelopes[index].clone(),
            seal.clone(),
            &hashes,
            index as u64,
        )
        .expect("in range")
    }

    #[test]
    fn every_position_of_every_size_verifies_and_round_trips() {
        let trusted = [key(7).public().clone()];
        for count in [1, 2, 3, 5, 8, 13] {
            let (envelopes, seal) = segment(count);
            for index in 0..count as usize {
                let proof = proof_for(&envelopes, &seal, index);
                assert_eq!(proof.verify(&trusted), vec![], "size {count} index {index}");
                let bytes = proof.to_canonical_bytes();
                assert_eq!(
                    crate::canonical::canonicalize(&bytes).expect("canonical"),
                    bytes
                );
                assert_eq!(InclusionProof::parse(&bytes), Ok(proof));
            }
        }
    }

    #[test]
    fn each_kind_of_tampering_fails_with_its_code() {
        let trusted = [key(7).public().clone()];
        let (envelopes, seal) = segment(6);
        let good = proof_for(&envelopes, &seal, 2);
        let codes = |proof: &InclusionProof| {
            proof
                .verify(&trusted)
                .iter()
                .map(ProofFailure::code)
                .collect::<Vec<_>>()
        };

        // Another envelope of the same segment placed at this position.
        let mut swapped = good.clone();
        swapped.envelope = envelopes[3].clone();
        assert_eq!(
            codes(&swapped),
            vec!["proof_position_mismatch", "proof_root_mismatch"]
        );

        // Same position claimed, wrong path.
        let mut bad_path = good.clone();
        bad_path.audit_path[0] = Hash32::of(b"x");
        assert_eq!(codes(&bad_path), vec!["proof_root_mismatch"]);

        // Payload edited, hash left.
        let mut edited = good.clone();
        edited.envelope.body.payload = crate::envelope::Payload::Inline(
            CanonicalJson::from_value(&serde_json::json!({"n": 99})).expect("json"),
        );
        assert!(codes(&edited).contains(&"envelope_hash_mismatch"));

        // Seal root replaced and re-hashed but not re-signed.
        let mut reseal = good.clone();
        reseal.seal.body.merkle_root = Hash32::of(b"root");
        reseal.seal.hash = reseal.seal.body.compute_hash();
        assert_eq!(
            codes(&reseal),
            vec!["seal_signature_invalid", "proof_root_mismatch"]
        );

        // Everything re-signed by a key nobody trusts.
        let other = key(8);
        let mut forged = good.clone();
        forged.seal = SealBody {
            key_id: other.id().clone(),
            ..good.seal.body.clone()
        }
        .sign(&other);
        assert_eq!(codes(&forged), vec!["seal_untrusted_key"]);

        // A path for a different tree size.
        let mut resized = good.clone();
        resized.tree_size = 7;
        assert!(codes(&resized).contains(&"proof_position_mismatch"));

        // The strict parser refuses unknown fields and versions.
        let text = String::from_utf8(good.to_canonical_bytes()).expect("utf8");
        assert!(InclusionProof::parse(text.replace("\"v\":1", "\"v\":2").as_bytes()).is_err());
        assert!(
            InclusionProof::parse(
                text.replace("\"format\"", "\"extra\":1,\"format\"")
                    .as_bytes()
            )
            .is_err()
        );
    }
}
