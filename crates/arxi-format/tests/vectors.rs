//! Conformance against third-party vectors in `../shared/vectors/` (see its
//! README for sources and licenses): RFC 8785 JCS, Ed25519 (RFC 8032, djb's
//! SUPERCOP KAT, Wycheproof, ed25519-speccheck) and RFC 6962 Merkle proofs
//! (transparency-dev) and C2SP signed notes (Go sumdb note, C2SP
//! tlog-cosignature). Each test prints how many vectors it ran and fails if
//! the vector directory is missing: a conformance test that finds nothing
//! must not pass.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::path::PathBuf;

#[path = "vectors/ed25519.rs"]
mod ed25519;
#[path = "vectors/jcs.rs"]
mod jcs;
#[path = "vectors/merkle.rs"]
mod merkle;
#[path = "vectors/note.rs"]
mod note;

/// `ARXI_VECTORS_DIR`, else `../shared/vectors` beside the workspace.
pub fn vectors_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARXI_VECTORS_DIR") {
        return PathBuf::from(dir);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        workspace.join("../shared/vectors"),
        PathBuf::from("/work/shared/vectors"),
    ];
    for candidate in &candidates {
        if candidate.join("README.md").is_file() {
            return candidate.clone();
        }
    }
    panic!("third-party vectors not found (looked in {candidates:?}); set ARXI_VECTORS_DIR");
}

pub fn read(relative: &str) -> Vec<u8> {
    let path = vectors_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn read_json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

pub fn hex(text: &str) -> Vec<u8> {
    arxi_format::digest::decode_hex(&text.to_ascii_lowercase())
        .unwrap_or_else(|e| panic!("bad hex in vector {text:?}: {e}"))
}
