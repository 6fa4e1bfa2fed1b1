//! The payload of an `arxi.log.timestamped` control envelope
//! (`Docs/format.md` §10 and §11.9, rule TC): an RFC 3161 token a
//! timestamp authority issued over a checkpoint of the log tree (§14.2),
//! recorded in the chain once the recorder holds it.
//!
//! The token's message imprint is the SHA-256 of the checkpoint's text
//! (`<origin>\n<size>\n<base64 root>\n`, the bytes every checkpoint
//! signature covers), so the TSA vouches that the log tree of that size
//! had that root at its `genTime`. The payload also carries the inclusion
//! proof of the checkpoint's last leaf (envelope `size`) in that tree: a
//! verifier holding that envelope ties the root to the chain it holds,
//! and through the chain every envelope before it, as the witnessed
//! anchor does (§11.7).
//!
//! This module builds and parses; what a verifier concludes is rule TC.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::CanonicalJson;
use crate::anchor::{AnchorCheckpoint, canonical_proof, inclusion_proof_from, read_checkpoint};
use crate::digest::Hash32;
use crate::merkle::{self, ProofError};
use crate::note::NoteError;
use crate::record::{Fields, ObjectWriter, RecordError, invalid};
use crate::seal::envelope_leaf;
use crate::timestamp::{check_tsa_name, decode_token};

/// The control type.
pub const LOG_TIMESTAMPED: &str = "arxi.log.timestamped";

/// The payload of an `arxi.log.timestamped` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStamp {
    /// The signed checkpoint note the token is over (its text), as the
    /// recorder held it when it asked the TSA.
    pub checkpoint: String,
    /// RFC 9162 §2.1.3.1 inclusion proof of leaf `size - 1` (envelope
    /// `size`) in the checkpoint's tree, leaf to root.
    pub inclusion_proof: Vec<Hash32>,
    /// The token (DER `ContentInfo` of the `SignedData`).
    pub token: Vec<u8>,
    /// The TSA's name in the recorder's configuration.
    pub tsa: String,
}

impl CheckpointStamp {
    /// The canonical payload.
    pub fn to_canonical(&self) -> CanonicalJson {
        let token = STANDARD.encode(&self.token);
        let proof = canonical_proof(&self.inclusion_proof);
        let mut out = Vec::with_capacity(self.checkpoint.len() + proof.len() + token.len() + 96);
        let mut object = ObjectWriter::new(&mut out);
        object.string("checkpoint", &self.checkpoint);
        object.raw("inclusion_proof", &proof);
        object.string("token", &token);
        object.string("tsa", &self.tsa);
        object.finish();
        CanonicalJson::from_canonical(&out).expect("the writer emits canonical JSON")
    }

    /// Reads the payload: exactly `checkpoint` (a string), `inclusion_proof`
    /// (at most 64 hex hashes), `token` (canonical base64 of at most 64 KiB)
    /// and `tsa` (a TSA name). The checkpoint itself is read by
    /// [`Self::read_checkpoint`], the token by [`crate::tsp::Token::parse`].
    pub fn from_payload(payload: &Value) -> Result<Self, RecordError> {
        let mut fields = Fields::from_value(payload.clone())?;
        let checkpoint = fields.string("checkpoint")?;
        let inclusion_proof = inclusion_proof_from(fields.take("inclusion_proof")?)?;
        let token = decode_token(&fields.string("token")?)?;
        let tsa = fields.string("tsa")?;
        check_tsa_name(&tsa).map_err(|why| invalid("tsa", why))?;
        fields.finish()?;
        Ok(Self {
            checkpoint,
            inclusion_proof,
            token,
            tsa,
        })
    }

    /// The checkpoint: a signed note whose text is a checkpoint without
    /// extension lines and whose origin is a valid key name.
    pub fn read_checkpoint(&self) -> Result<AnchorCheckpoint, NoteError> {
        read_checkpoint(&self.checkpoint)
    }

    /// The message imprint a token over `read` must carry: the SHA-256 of
    /// the checkpoint's text.
    pub fn imprint(read: &AnchorCheckpoint) -> Hash32 {
        Hash32::of(read.note.text().as_bytes())
    }

    /// Checks the inclusion proof: envelope `size`, whose stored hash is
    /// `last_hash`, is the last leaf of the checkpoint's tree.
    pub fn check_inclusion(
        &self,
        read: &AnchorCheckpoint,
        last_hash: &Hash32,
    ) -> Result<(), ProofError> {
        let size = read.checkpoint.size;
        merkle::verify_inclusion(
            &envelope_leaf(last_hash),
            size.saturating_sub(1),
            size,
            &self.inclusion_proof,
            &read.checkpoint.root,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;
    use crate::canonical;
    use crate::note::{Checkpoint, Note, NoteSigner, SignatureType};

    /// A stamp of a log of `size` envelopes with made-up hashes.
    fn stamp(size: u64) -> (CheckpointStamp, Vec<Hash32>) {
        let hashes: Vec<Hash32> = (1..=size)
            .map(|seq| Hash32::of(format!("envelope {seq}").as_bytes()))
            .collect();
        let leaves: Vec<Hash32> = hashes.iter().map(envelope_leaf).collect();
        let root = merkle::root(&leaves);
        let key = SecretKey::from_seed(&[9; 32]).expect("seed");
        let signer = NoteSigner::new("arxi/test", SignatureType::Ed25519, key).expect("name");
        let mut note = Note::new(Checkpoint::new("arxi/test", size, root).text()).expect("text");
        note.sign(&signer, 0).expect("signs");
        let stamp = CheckpointStamp {
            checkpoint: note.to_string(),
            inclusion_proof: merkle::inclusion_proof(&leaves, size - 1).expect("proof"),
            token: vec![0x30, 0x03, 0x02, 0x01, 0x01],
            tsa: "tsa-1".into(),
        };
        (stamp, hashes)
    }

    #[test]
    fn round_trip_imprint_and_inclusion() {
        let (stamp, hashes) = stamp(11);
        let payload = stamp.to_canonical();
        let bytes = payload.as_bytes();
        assert_eq!(canonical::canonicalize(bytes).expect("canonical"), bytes);
        let value: Value = serde_json::from_slice(bytes).expect("json");
        assert_eq!(CheckpointStamp::from_payload(&value), Ok(stamp.clone()));
        let read = stamp.read_checkpoint().expect("a checkpoint");
        assert_eq!(read.checkpoint.size, 11);
        let text = stamp.checkpoint.split("\n\n").next().expect("text");
        assert_eq!(
            CheckpointStamp::imprint(&read),
            Hash32::of(format!("{text}\n").as_bytes())
        );
        stamp.check_inclusion(&read, &hashes[10]).expect("holds");
        assert!(stamp.check_inclusion(&read, &hashes[9]).is_err());
    }

    #[test]
    fn strictness() {
        let (stamp, _) = stamp(3);
        let good: Value = serde_json::from_slice(stamp.to_canonical().as_bytes()).expect("json");
        let mut cases = Vec::new();
        for (member, value) in [
            ("tsa", Value::from("tsa 1")),
            ("token", Value::from("MAMCAQE")),
            ("inclusion_proof", Value::from("00")),
            ("inclusion_proof", serde_json::json!(["zz"])),
            ("checkpoint", Value::from(7)),
            ("extra", Value::from(1)),
        ] {
            let mut bad = good.clone();
            bad[member] = value;
            cases.push(bad);
        }
        let mut missing = good;
        missing.as_object_mut().expect("object").remove("token");
        cases.push(missing);
        for bad in cases {
            assert!(CheckpointStamp::from_payload(&bad).is_err(), "{bad}");
        }
    }
}
