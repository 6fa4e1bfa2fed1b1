//! arxi-verify: the offline verifier.
//!
//! Everything an auditor needs to check arxi evidence without the machine
//! it came from: bundle verification ([`verify_bundle`]) and inspection
//! ([`inspect_bundle`]), consecutive bundles ([`series`]), inclusion proofs
//! ([`prove_from_bundle`] cuts one, [`check_proof_file`] checks one), the
//! registry of finding codes ([`Code`]), and the `arxi` command line
//! (`src/main.rs`). It depends on `arxi-format` alone (a test checks the
//! dependency tree): no database, no network, no runtime.

#![forbid(unsafe_code)]

pub mod inspect;
pub mod proof_file;
pub mod prove;
pub mod reader;
pub mod report;
pub mod series;
pub mod signatures;
pub mod stamps;
pub mod trusted;
pub mod verify;
pub mod window;
pub mod witnessed;

pub use inspect::{Summary, inspect_bundle};
pub use proof_file::{ProofReport, check_proof_file};
pub use prove::{ProveError, prove_from_bundle};
pub use report::{
    AnchorReport, Code, CodeInfo, Counts, Finding, PayloadRange, PayloadState, PayloadStates,
    Report, Verdict,
};
pub use series::{SeriesFinding, SeriesReport, check_series, revoked_earlier};
pub use stamps::{TOLERANCE_DEFAULT_SECONDS, TimestampPolicy};
pub use trusted::{
    DELEGATIONS_MAX, DelegationRefused, TRUSTED_KEYS_MAX, TrustedKeys, trusted_keys,
    trusted_keys_with,
};
pub use verify::{Options, load_public_key, verify_bundle};
pub use window::{KeyWindows, SeqWindow, WindowError, split_key_argument};
pub use witnessed::{
    LogProofCheck, ReceiptCheck, WitnessPolicy, trusted_cosigners, verify_log_proof,
    verify_log_proof_with, verify_receipt,
};

/// The verifier's version line: the package version, the commit and the
/// build profile it was built from (set by `build.rs`), as `arxi --version`
/// and the browser page show it.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ARXI_BUILD_COMMIT"),
    ", ",
    env!("ARXI_BUILD_PROFILE"),
    " build)"
);
