//! arxi-format: the canonical evidence bytes.
//!
//! Everything an independent verifier must reproduce lives here and only
//! here: strict JSON input ([`json`]), RFC 8785 canonical bytes
//! ([`canonical`]), SHA-256 digests ([`digest`]), Ed25519 keys and
//! domain-separated signatures ([`keys`]) under one verification rule
//! ([`ed25519`]), timestamps ([`time`]), the
//! envelope and its chain ([`envelope`]), RFC 6962 Merkle trees and proofs
//! ([`merkle`]), C2SP signed notes, checkpoints and cosignatures
//! ([`note`]), the seal record ([`seal`]), the audit bundle container
//! ([`bundle`]), payload commitments and disclosures ([`payload`]), the
//! envelope inclusion proof ([`proof`]) and the signed head a recorder keeps
//! beside its database ([`head`]). `Docs/format.md` specifies the
//! same bytes in prose.
//!
//! Bytes in, values out: this crate performs no IO, reads no clock and has no
//! async code, so the verifier can depend on it alone.

#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

pub mod anchor;
pub mod bundle;
pub mod canonical;
mod canonical_check;
pub mod checkpoint_stamp;
pub mod delegation;
pub mod digest;
pub mod ed25519;
pub mod envelope;
pub mod head;
pub mod json;
pub mod keys;
pub mod log_tree;
pub mod merkle;
pub mod note;
pub mod payload;
pub mod proof;
pub mod record;
pub mod revocation;
mod rfc8785;
pub mod seal;
pub mod time;
pub mod timestamp;
pub mod tsp;

pub use canonical::{CanonicalError, CanonicalJson};
pub use digest::Hash32;
pub use envelope::{
    AttachmentRef, ChainError, ChainHead, Envelope, EnvelopeBody, HashMismatch, Kind, Payload,
};
pub use head::{HeadBody, SignedHead};
pub use json::{JsonError, JsonErrorKind};
pub use keys::{
    Domain, ExternalKey, KeyError, KeyId, Message, PublicKey, SecretKey, Sign, Signature,
    SignatureInvalid, Signer, SignerError,
};
pub use record::RecordError;
pub use seal::{Seal, SealBody, SealMismatch};
pub use time::Timestamp;
