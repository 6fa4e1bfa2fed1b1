//! Checking an inclusion proof file (`arxi proof verify`,
//! `Docs/format.md` §12): the file is the proof's canonical JSON,
//! optionally followed by one LF.
//!
//! The proof's own checks live in `arxi_format::proof`; this module adds
//! the file rule and maps every failure to its registry code. It does not
//! cut proofs (see `prove`).

use arxi_format::PublicKey;
use arxi_format::proof::InclusionProof;

use crate::report::Code;
use crate::stamps::{TimestampPolicy, check_token};
use crate::window::KeyWindows;

/// Largest proof file read: one envelope record at the format's limit, its
/// seal and a full audit path.
pub const PROOF_BYTES_MAX: u64 = arxi_format::bundle::RECORD_BYTES_MAX + 1024 * 1024;

/// What checking a proof file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofReport {
    /// The proof, as parsed.
    pub proof: InclusionProof,
    /// Every failure: its code and what is wrong, in words.
    pub failures: Vec<(Code, String)>,
}

impl ProofReport {
    /// True when the proof holds.
    pub fn is_valid(&self) -> bool {
        self.failures.is_empty()
    }

    /// The distinct codes, in registry order.
    pub fn codes(&self) -> Vec<Code> {
        let mut codes: Vec<Code> = self.failures.iter().map(|(code, _)| *code).collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

/// Checks a proof file's bytes against the trusted keys and their
/// windows (the envelope's `seq` and the seal's `last_seq` lie in the
/// window of the key that signed each, else `key_outside_window`), and
/// the seal's timestamp tokens under `timestamps` (rules T2 to T6 of
/// section 11.9). `Err` when the bytes are not an inclusion proof at all
/// (it could not be checked).
pub fn check_proof_file(
    bytes: &[u8],
    trusted: &[PublicKey],
    windows: &KeyWindows,
    timestamps: &TimestampPolicy,
) -> Result<ProofReport, String> {
    let proof_bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let proof = InclusionProof::parse(proof_bytes)
        .map_err(|e| format!("not an arxi inclusion proof: {e}"))?;
    let mut failures: Vec<(Code, String)> = proof
        .verify(trusted)
        .iter()
        .map(|failure| {
            let code = Code::parse(failure.code())
                .unwrap_or_else(|| panic!("proof code {} is not in the registry", failure.code()));
            (code, failure.to_string())
        })
        .collect();
    if proof.to_canonical_bytes() != proof_bytes {
        failures.push((
            Code::ProofNotCanonical,
            "the proof is not in its canonical form".into(),
        ));
    }
    failures.extend(outside_windows(&proof, trusted, windows));
    failures.extend(token_failures(&proof, timestamps));
    Ok(ProofReport { proof, failures })
}

/// The seal's tokens against the timestamp policy: each must hold rules
/// T2 to T5, and under `--require-timestamp` one must be trusted (T6).
fn token_failures(proof: &InclusionProof, policy: &TimestampPolicy) -> Vec<(Code, String)> {
    let mut failures = Vec::new();
    let mut trusted = 0;
    for record in &proof.timestamps {
        let check = check_token(
            &record.token,
            &proof.seal.hash,
            proof.seal.body.sealed_at,
            policy,
        );
        trusted += usize::from(check.trusted);
        failures.extend(check.findings.into_iter().map(|finding| {
            let message = format!("the token of {}: {}", record.tsa, finding.message);
            (finding.code, message)
        }));
    }
    if policy.required && trusted == 0 {
        let message = "the seal carries no token of a trusted TSA that holds every rule";
        failures.push((Code::TimestampMissing, message.to_owned()));
    }
    failures
}

/// The proof's envelope and seal against the windows of their trusted
/// keys (`Docs/format.md` §11.8).
fn outside_windows(
    proof: &InclusionProof,
    trusted: &[PublicKey],
    windows: &KeyWindows,
) -> Vec<(Code, String)> {
    let envelope = &proof.envelope.body;
    let seal = &proof.seal.body;
    let signed = [
        ("envelope", &envelope.key_id, envelope.seq),
        ("seal", &seal.key_id, seal.last_seq),
    ];
    signed
        .into_iter()
        .filter(|(_, key_id, _)| trusted.iter().any(|key| key.id() == *key_id))
        .filter_map(|(what, key_id, seq)| {
            let window = windows.get(key_id)?;
            (!window.contains(seq)).then(|| {
                let message = format!(
                    "the {what} (reaching seq {seq}) is signed by {key_id}, which is trusted only for seq {window}"
                );
                (Code::KeyOutsideWindow, message)
            })
        })
        .collect()
}
