//! The witnessed anchor of a bundle (`W`, container version 3,
//! `Docs/format.md` §11.7): a checkpoint of the log tree (§14.2) with the
//! cosignatures the recorder held for it, and the RFC 6962 inclusion proof
//! of the bundle's last envelope in that checkpoint's tree.
//!
//! Every envelope names the hash of the one before it, so the last
//! envelope's hash fixes the whole chain up to it: one inclusion proof of
//! that envelope ties every envelope of the bundle (and every envelope
//! before it) to the checkpoint. Witnesses cosign only a tree consistent
//! with every tree of the log they cosigned before; a bundle whose anchor
//! carries a quorum of trusted cosignatures therefore shows the history the
//! witnesses saw, not one the key holder wrote afterwards.
//!
//! This module encodes, parses and computes; it decides nothing about trust
//! (which recorder keys and which witnesses an auditor trusts is the
//! verifier's business).

use serde_json::Value;

use crate::digest::Hash32;
use crate::merkle::{self, ProofError};
use crate::note::{Checkpoint, Note, NoteError, SignatureType, VerifierKey};
use crate::record::{Fields, ObjectWriter, RecordError, invalid};
use crate::seal::envelope_leaf;
use crate::{PublicKey, canonical};

/// The record version (member `v`).
pub const ANCHOR_VERSION: u64 = 1;

/// Most hashes an inclusion proof holds (a tree of up to 2^64 leaves).
pub const INCLUSION_PROOF_MAX: usize = 64;

/// The `W` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The signed checkpoint note (text, blank line, signature lines), as
    /// `GET /v1/log/checkpoint` serves it.
    pub checkpoint: String,
    /// The last envelope's leaf: its `seq` - 1.
    pub leaf_index: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// RFC 9162 §2.1.3.1 inclusion proof of leaf `leaf_index` in the tree
    /// of `tree_size` leaves, leaf to root.
    pub inclusion_proof: Vec<Hash32>,
}

/// The checkpoint of an anchor, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorCheckpoint {
    /// The signed note.
    pub note: Note,
    /// Its text, as a checkpoint.
    pub checkpoint: Checkpoint,
}

impl AnchorCheckpoint {
    /// The log's verifier key under recorder key `key`: the origin as key
    /// name, signature type Ed25519 (§14.2).
    pub fn log_key(&self, key: &PublicKey) -> VerifierKey {
        VerifierKey::new(&self.checkpoint.origin, SignatureType::Ed25519, key.clone())
            .expect("the origin was checked as a key name when the anchor was read")
    }
}

/// Reads a signed checkpoint note (§14.2): a signed note whose text is a
/// checkpoint without extension lines and whose origin is a valid key
/// name.
pub(crate) fn read_checkpoint(signed: &str) -> Result<AnchorCheckpoint, NoteError> {
    let note = Note::parse(signed.as_bytes())?;
    let checkpoint = Checkpoint::parse(note.text())?;
    if !checkpoint.extensions.is_empty() {
        return Err(NoteError::BadCheckpoint(
            "an arxi checkpoint has no extension lines",
        ));
    }
    crate::note::check_name(&checkpoint.origin)?;
    Ok(AnchorCheckpoint { note, checkpoint })
}

/// Reads an `inclusion_proof` member: at most [`INCLUSION_PROOF_MAX`] hex
/// hashes.
pub(crate) fn inclusion_proof_from(value: Value) -> Result<Vec<Hash32>, RecordError> {
    match value {
        Value::Array(items) if items.len() <= INCLUSION_PROOF_MAX => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => {
                    Hash32::from_hex(&text).map_err(|e| invalid("inclusion_proof", e.to_string()))
                }
                _ => Err(invalid("inclusion_proof", "must hold hex hashes")),
            })
            .collect(),
        _ => Err(invalid(
            "inclusion_proof",
            format!("must be an array of at most {INCLUSION_PROOF_MAX} hashes"),
        )),
    }
}

/// The canonical JSON array of an inclusion proof's hashes (hex).
pub(crate) fn canonical_proof(proof: &[Hash32]) -> Vec<u8> {
    let mut path = Vec::with_capacity(2 + proof.len() * 67);
    path.push(b'[');
    for (index, hash) in proof.iter().enumerate() {
        if index > 0 {
            path.push(b',');
        }
        canonical::write_string(&mut path, &hash.to_hex());
    }
    path.push(b']');
    path
}

impl Anchor {
    /// Canonical bytes (the `W` payload).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let path = canonical_proof(&self.inclusion_proof);
        let mut out = Vec::with_capacity(self.checkpoint.len() + path.len() + 96);
        let mut object = ObjectWriter::new(&mut out);
        object.string("checkpoint", &self.checkpoint);
        object.raw("inclusion_proof", &path);
        object.u64("leaf_index", self.leaf_index);
        object.u64("tree_size", self.tree_size);
        object.u64("v", ANCHOR_VERSION);
        object.finish();
        out
    }

    /// Reads a `W` payload (strict record rules; the checkpoint is read by
    /// [`Self::read_checkpoint`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut fields = Fields::parse(bytes)?;
        fields.version(ANCHOR_VERSION)?;
        let inclusion_proof = inclusion_proof_from(fields.take("inclusion_proof")?)?;
        let anchor = Self {
            checkpoint: fields.string("checkpoint")?,
            leaf_index: fields.u64("leaf_index")?,
            tree_size: fields.u64("tree_size")?,
            inclusion_proof,
        };
        fields.finish()?;
        Ok(anchor)
    }

    /// The checkpoint: a signed note whose text is a checkpoint without
    /// extension lines and whose origin is a valid key name.
    pub fn read_checkpoint(&self) -> Result<AnchorCheckpoint, NoteError> {
        read_checkpoint(&self.checkpoint)
    }

    /// Checks the inclusion proof: the leaf of the envelope with stored
    /// hash `envelope_hash` at `leaf_index` leads to `root` in a tree of
    /// `tree_size` leaves.
    pub fn check_inclusion(&self, envelope_hash: &Hash32, root: &Hash32) -> Result<(), ProofError> {
        merkle::verify_inclusion(
            &envelope_leaf(envelope_hash),
            self.leaf_index,
            self.tree_size,
            &self.inclusion_proof,
            root,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;
    use crate::note::NoteSigner;

    /// A log of `size` envelopes with made-up hashes, its checkpoint
    /// signed by a recorder key under `origin`, and the anchor of envelope
    /// `last_seq`.
    fn anchor(origin: &str, size: u64, last_seq: u64) -> (Anchor, Vec<Hash32>, SecretKey) {
        let hashes: Vec<Hash32> = (1..=size)
            .map(|seq| Hash32::of(format!("envelope {seq}").as_bytes()))
            .collect();
        let leaves: Vec<Hash32> = hashes.iter().map(envelope_leaf).collect();
        let root = merkle::root(&leaves);
        let key = SecretKey::from_seed(&[9; 32]).expect("seed");
        let signer = NoteSigner::new(origin, SignatureType::Ed25519, key.clone()).expect("name");
        let mut note = Note::new(Checkpoint::new(origin, size, root).text()).expect("text");
        note.sign(&signer, 0).expect("signs");
        let anchor = Anchor {
            checkpoint: note.to_string(),
            leaf_index: last_seq - 1,
            tree_size: size,
            inclusion_proof: merkle::inclusion_proof(&leaves, last_seq - 1).expect("proof"),
        };
        (anchor, hashes, key)
    }

    #[test]
    fn round_trip_and_checks() {
        let (anchor, hashes, key) = anchor("arxi/rec-1", 11, 7);
        let bytes = anchor.to_canonical_bytes();
        assert_eq!(canonical::canonicalize(&bytes).expect("canonical"), bytes);
        assert!(bytes.starts_with(b"{\"checkpoint\":\"arxi/rec-1\\n11\\n"));
        assert_eq!(Anchor::parse(&bytes), Ok(anchor.clone()));
        let read = anchor.read_checkpoint().expect("checkpoint");
        assert_eq!(read.checkpoint.size, 11);
        assert_eq!(read.checkpoint.origin, "arxi/rec-1");
        let log_key = read.log_key(key.public());
        assert_eq!(read.note.verify(&[log_key]).expect("signed").len(), 1);
        let root = read.checkpoint.root;
        assert_eq!(anchor.check_inclusion(&hashes[6], &root), Ok(()));
        assert!(anchor.check_inclusion(&hashes[5], &root).is_err());
        let mut shorter = anchor.clone();
        shorter.inclusion_proof.pop();
        assert!(shorter.check_inclusion(&hashes[6], &root).is_err());
    }

    #[test]
    fn strict_parsing() {
        let (anchor, _, _) = anchor("arxi/rec-1", 4, 4);
        let good = String::from_utf8(anchor.to_canonical_bytes()).expect("utf-8");
        let cases = [
            good.replace("\"v\":1", "\"v\":2"),
            good.replace("\"tree_size\":4,", ""),
            good.replace("\"v\":1", "\"extra\":1,\"v\":1"),
            good.replace("\"leaf_index\":3", "\"leaf_index\":\"3\""),
            good.replace("\"inclusion_proof\":[", "\"inclusion_proof\":[1,"),
        ];
        for case in cases {
            assert!(Anchor::parse(case.as_bytes()).is_err(), "{case}");
        }
        let long = Anchor {
            inclusion_proof: vec![Hash32::ZERO; INCLUSION_PROOF_MAX + 1],
            ..anchor.clone()
        };
        assert!(Anchor::parse(&long.to_canonical_bytes()).is_err());
        for checkpoint in [
            "arxi/rec-1\n4\nAAAA\n\n",
            "not a note",
            "arxi rec\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} x AAAA\n",
        ] {
            let odd = Anchor {
                checkpoint: checkpoint.into(),
                ..anchor.clone()
            };
            assert!(odd.read_checkpoint().is_err(), "{checkpoint:?}");
        }
        let mut extended = anchor.read_checkpoint().expect("reads").checkpoint;
        extended.extensions.push("ext".into());
        let signer = NoteSigner::new(
            "arxi/rec-1",
            SignatureType::Ed25519,
            SecretKey::from_seed(&[9; 32]).expect("seed"),
        )
        .expect("name");
        let mut note = Note::new(extended.text()).expect("text");
        note.sign(&signer, 0).expect("signs");
        let extended = Anchor {
            checkpoint: note.to_string(),
            ..anchor
        };
        assert!(extended.read_checkpoint().is_err());
    }
}
