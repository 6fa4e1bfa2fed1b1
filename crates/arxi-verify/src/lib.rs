//! arxi-verify: the offline verifier.
//!
//! Everything an auditor needs to check arxi evidence without the machine
//! it came from: bundle verification ([`verify_bundle`]) and inspection
//! ([`inspect_bundle`]), inclusion proofs ([`prove_from_bundle`] and
//! [`arxi_format::proof::InclusionProof::verify`]), and the `arxi` command
//! line (`src/main.rs`). It depends on `arxi-format` alone (a test checks
//! the dependency tree): no database, no network, no runtime.

#![forbid(unsafe_code)]

pub mod inspect;
pub mod proof;
pub mod reader;
pub mod report;
pub mod signatures;
pub mod verify;

pub use inspect::{Summary, inspect_bundle};
pub use proof::{ProveError, prove_from_bundle};
pub use report::{Code, Counts, Finding, Report};
pub use verify::{Options, load_public_key, verify_bundle};
