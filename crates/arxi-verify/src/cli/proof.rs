//! `arxi envelope prove` (cut an inclusion proof out of a bundle) and
//! `arxi proof verify` (check a proof file under trusted keys).

use std::io::Write as _;
use std::path::Path;

use arxi_verify::proof_file::PROOF_BYTES_MAX;
use serde_json::json;

use super::{CouldNotCheck, open_input, pretty, trusted_keys, write_new};

/// `arxi envelope prove BUNDLE --seq N [--out FILE]`.
pub(crate) fn prove(bundle: &str, seq: u64, out: Option<&Path>) -> Result<u8, CouldNotCheck> {
    let (input, _) = open_input(bundle)?;
    let proof =
        arxi_verify::prove_from_bundle(input, seq).map_err(|e| CouldNotCheck(e.to_string()))?;
    let mut bytes = proof.to_canonical_bytes();
    bytes.push(b'\n');
    match out {
        Some(path) => {
            write_new(path, &bytes, 0o644)?;
            eprintln!(
                "arxi: wrote the inclusion proof of seq {seq} (segment {}, leaf {} of {}) to {}",
                proof.seal.body.segment_id,
                proof.leaf_index,
                proof.tree_size,
                path.display()
            );
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| CouldNotCheck(format!("writing the proof: {e}")))?,
    }
    Ok(0)
}

/// `arxi proof verify FILE --key PUBKEY... [--witness VKEY... --quorum N]
/// [--tsa-cert FILE... --timestamp-tolerance S --require-timestamp]`.
pub(crate) fn verify(
    file: &str,
    keys: &crate::TrustedKeys,
    (witnesses, quorum): (&[String], Option<usize>),
    timestamps: &arxi_verify::TimestampPolicy,
    json: bool,
) -> Result<u8, CouldNotCheck> {
    let bytes = super::witnessed::read_limited(file)?;
    if let Some(key_id) = super::witnessed::log_proof_key_id(&bytes) {
        no_timestamp_policy(file, timestamps)?;
        let policy = super::witnessed::witness_policy(witnesses, quorum)?;
        return super::witnessed::log_proof(file, &bytes, key_id.as_deref(), keys, &policy, json);
    }
    if !witnesses.is_empty() || quorum.is_some() {
        return Err(CouldNotCheck(format!(
            "{file}: a witness policy applies to log proofs (GET /v1/envelopes/proof); this is a bundle proof file, vouched for by its seal"
        )));
    }
    let mut trusted = trusted_keys(keys)?;
    if bytes.len() as u64 > PROOF_BYTES_MAX {
        return Err(CouldNotCheck(format!(
            "{file}: larger than {PROOF_BYTES_MAX} bytes"
        )));
    }
    let report = check_bundle_proof(file, &bytes, &mut trusted, timestamps)?;
    let proof = &report.proof;
    let body = &proof.envelope.body;
    if json {
        let listed: Vec<serde_json::Value> = report
            .failures
            .iter()
            .map(|(code, message)| json!({"code": code.as_str(), "message": message}))
            .collect();
        let value = json!({
            "valid": report.is_valid(),
            "recorder_id": body.recorder_id,
            "segment_id": body.segment_id,
            "seq": body.seq,
            "envelope_hash": proof.envelope.hash.to_hex(),
            "merkle_root": proof.seal.body.merkle_root.to_hex(),
            "seal_hash": proof.seal.hash.to_hex(),
            "timestamps": proof.timestamps.len(),
            "codes": report.codes().iter().map(|code| code.as_str()).collect::<Vec<_>>(),
            "failures": listed,
        });
        println!("{}", pretty(&value));
        return Ok(u8::from(!report.is_valid()));
    }
    if report.is_valid() {
        println!(
            "VALID: envelope seq {} ({}) of recorder {:?} is leaf {} of {} under the signed seal of segment {} (root {})",
            body.seq,
            body.event_type,
            body.recorder_id,
            proof.leaf_index,
            proof.tree_size,
            body.segment_id,
            proof.seal.body.merkle_root
        );
        print_timestamps(proof, timestamps);
        return Ok(0);
    }
    println!("INVALID: {file}: envelope seq {}", body.seq);
    for (code, message) in &report.failures {
        println!("  [{}] {message}", code.as_str());
    }
    Ok(1)
}

/// The seal's tokens of a valid proof, in one line.
fn print_timestamps(
    proof: &arxi_format::proof::InclusionProof,
    timestamps: &arxi_verify::TimestampPolicy,
) {
    if proof.timestamps.is_empty() {
        return;
    }
    let judged = if timestamps.trust.is_empty() {
        "imprint, time and signature checked; no --tsa-cert given"
    } else {
        "each from a trusted TSA"
    };
    println!(
        "timestamps: {} token(s) over the seal ({judged})",
        proof.timestamps.len()
    );
}

/// A timestamp policy applies to bundle proof files (their seal's tokens),
/// not to log proofs.
fn no_timestamp_policy(
    file: &str,
    timestamps: &arxi_verify::TimestampPolicy,
) -> Result<(), CouldNotCheck> {
    if timestamps.trust.is_empty() && !timestamps.required {
        return Ok(());
    }
    Err(CouldNotCheck(format!(
        "{file}: --tsa-cert and --require-timestamp apply to bundle proof files (their seal's tokens); this is a log proof"
    )))
}

/// Trusts the keys the delegations a proof file carries delegate, under
/// the roots given (rule D4: a delegation of an untrusted root is not used,
/// and says nothing); answers why each one of a trusted root was refused.
fn trust_carried(
    bytes: &[u8],
    trusted: &mut arxi_verify::TrustedKeys,
) -> Vec<(arxi_verify::Code, String)> {
    use arxi_verify::{Code, DelegationRefused};
    let unframed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    // check_proof_file reports a proof that does not parse.
    let Ok(proof) = arxi_format::proof::InclusionProof::parse(unframed) else {
        return Vec::new();
    };
    let signers = [&proof.envelope.body.key_id, &proof.seal.body.key_id];
    let mut refused = Vec::new();
    // A delegation of a key that signed neither record is not used.
    for delegation in proof
        .delegations
        .iter()
        .filter(|delegation| signers.contains(&delegation.body.key_id()))
    {
        match trusted.delegate(delegation) {
            Ok(()) => {}
            Err(DelegationRefused::Invalid(why)) => refused.push((Code::KeyDelegationInvalid, why)),
            Err(DelegationRefused::OutsideRootWindow(why)) => {
                refused.push((Code::KeyOutsideWindow, why));
            }
            // Not used, and nothing to report (rule D4, D5).
            Err(DelegationRefused::RootNotTrusted(_) | DelegationRefused::AlreadyTrusted(_)) => {}
        }
    }
    refused
}

/// A proof file checked under `trusted` and the delegations it carries,
/// with the delegated keys' time windows.
fn check_bundle_proof(
    file: &str,
    bytes: &[u8],
    trusted: &mut arxi_verify::TrustedKeys,
    timestamps: &arxi_verify::TimestampPolicy,
) -> Result<arxi_verify::ProofReport, CouldNotCheck> {
    let refused = trust_carried(bytes, trusted);
    let mut report =
        arxi_verify::check_proof_file(bytes, &trusted.keys, &trusted.windows, timestamps)
            .map_err(|why| CouldNotCheck(format!("{file}: {why}")))?;
    report.failures.extend(refused);
    let envelope = &report.proof.envelope.body;
    if let Some(why) = trusted.outside_time(&envelope.key_id, envelope.received_at) {
        report
            .failures
            .push((arxi_verify::Code::KeyOutsideWindow, why));
    }
    Ok(report)
}
