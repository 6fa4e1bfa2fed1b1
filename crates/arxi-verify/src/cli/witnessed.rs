//! `arxi proof verify` of a log proof (the JSON of `GET
//! /v1/envelopes/proof`) under a witness policy, and `arxi receipt verify`
//! of a stored receipt against the request it answers.

use std::io::Read as _;

use arxi_format::PublicKey;
use arxi_format::note::VerifierKey;
use arxi_verify::{WitnessPolicy, verify_log_proof_with, verify_receipt};
use serde_json::json;

use super::{CouldNotCheck, open_input, pretty, trusted_keys};

/// Largest log proof, receipt or request file read (a request is at most
/// the sidecar's body limit; a proof is an envelope, up to 64 hashes and a
/// checkpoint).
const FILE_BYTES_MAX: u64 = 16 << 20;

/// Most `--witness` options accepted.
const WITNESSES_MAX: usize = 64;

/// The whole of a file (`-`: standard input), at most [`FILE_BYTES_MAX`].
pub(crate) fn read_limited(path: &str) -> Result<Vec<u8>, CouldNotCheck> {
    let (input, _) = open_input(path)?;
    let mut bytes = Vec::new();
    input
        .take(FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CouldNotCheck(format!("{path}: {e}")))?;
    if bytes.len() as u64 > FILE_BYTES_MAX {
        return Err(CouldNotCheck(format!(
            "{path}: larger than {FILE_BYTES_MAX} bytes"
        )));
    }
    Ok(bytes)
}

/// A log proof rather than a bundle proof file (a JSON object with a
/// `checkpoint` member): `Some` with the key id its envelope names, if it
/// names one.
pub(crate) fn log_proof_key_id(bytes: &[u8]) -> Option<Option<String>> {
    let proof = arxi_format::json::parse(bytes).ok()?;
    proof.get("checkpoint")?;
    Some(
        proof
            .get("envelope")
            .and_then(serde_json::Value::as_str)
            .and_then(|envelope| arxi_format::json::parse(envelope.as_bytes()).ok())
            .and_then(|envelope| envelope.get("key_id")?.as_str().map(str::to_owned)),
    )
}

/// The policy of `--witness VKEY...` and `--quorum N`. A witness is a C2SP
/// verifier key (`name+hash+base64`) or a file holding one. Without
/// `--quorum`, every witness given must have cosigned.
pub(crate) fn witness_policy(
    witnesses: &[String],
    quorum: Option<usize>,
) -> Result<WitnessPolicy, CouldNotCheck> {
    if witnesses.len() > WITNESSES_MAX {
        return Err(CouldNotCheck(format!(
            "at most {WITNESSES_MAX} --witness options"
        )));
    }
    let witnesses = witnesses
        .iter()
        .map(|given| {
            let text = match std::fs::read_to_string(given) {
                Ok(text) => text.trim().to_owned(),
                Err(_) => given.clone(),
            };
            VerifierKey::parse(&text)
                .map_err(|e| CouldNotCheck(format!("--witness {given}: not a verifier key: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        return Err(CouldNotCheck(format!(
            "--quorum {quorum} needs at least {quorum} --witness keys, {} given",
            witnesses.len()
        )));
    }
    Ok(WitnessPolicy { witnesses, quorum })
}

/// The trusted key with the id a receipt or proof names, else the first
/// (whose mismatch the check then reports).
fn named_key<'a>(
    trusted: &'a [PublicKey],
    key_id: Option<&str>,
) -> Result<&'a PublicKey, CouldNotCheck> {
    trusted
        .iter()
        .find(|key| Some(key.id().as_str()) == key_id)
        .or_else(|| trusted.first())
        .ok_or_else(|| CouldNotCheck("no --key given".into()))
}

/// Verifies a log proof under the trusted key its envelope names; exit 0
/// valid, 1 invalid.
pub(crate) fn log_proof(
    file: &str,
    bytes: &[u8],
    key_id: Option<&str>,
    keys: &crate::TrustedKeys,
    policy: &WitnessPolicy,
    as_json: bool,
) -> Result<u8, CouldNotCheck> {
    let trusted = trusted_keys(keys)?;
    // The envelope names its key; under any other the proof cannot hold.
    // Its checkpoint is signed by that key, or by its root when it is a
    // delegated key.
    let key = named_key(&trusted.keys, key_id)?;
    let log_key = trusted.log_key(key.id()).unwrap_or(key);
    let outcome = verify_log_proof_with(bytes, key, log_key, policy).and_then(|check| {
        // The envelope at its seq and time, the checkpoint at its tree size.
        let body = &check.envelope.body;
        let size = check.checkpoint.size;
        let outside = trusted
            .outside_window(&body.key_id, body.seq, body.seq)
            .or_else(|| trusted.outside_time(&body.key_id, body.received_at))
            .or_else(|| trusted.outside_window(log_key.id(), size, size));
        match outside {
            Some(why) => Err(format!("key_outside_window: {why}")),
            None => Ok(check),
        }
    });
    match outcome {
        Ok(check) => {
            print_log_proof(&check, policy, as_json);
            Ok(0)
        }
        Err(why) => {
            if as_json {
                println!(
                    "{}",
                    pretty(&json!({"valid": false, "kind": "log_proof", "reason": why}))
                );
            } else {
                println!("INVALID: {file}: {why}");
            }
            Ok(1)
        }
    }
}

/// The report of a log proof that holds.
fn print_log_proof(check: &arxi_verify::LogProofCheck, policy: &WitnessPolicy, as_json: bool) {
    let body = &check.envelope.body;
    let cosigners: Vec<_> = check.cosigners.iter().map(|(name, _)| name).collect();
    if as_json {
        let value = json!({
            "valid": true,
            "kind": "log_proof",
            "recorder_id": body.recorder_id,
            "seq": body.seq,
            "envelope_hash": check.envelope.hash.to_hex(),
            "origin": check.checkpoint.origin,
            "tree_size": check.checkpoint.size,
            "root": check.checkpoint.root.to_hex(),
            "witnesses": cosigners,
            "quorum": policy.quorum,
        });
        println!("{}", pretty(&value));
    } else {
        println!(
            "VALID: envelope seq {} of recorder {:?} is leaf {} of the log tree of {} envelopes (origin {}, root {}), signed by the recorder key{}",
            body.seq,
            body.recorder_id,
            body.seq - 1,
            check.checkpoint.size,
            check.checkpoint.origin,
            check.checkpoint.root.to_hex(),
            if policy.quorum == 0 {
                "; no witness policy given: the key holder alone vouches for this tree".to_owned()
            } else {
                format!(
                    " and cosigned by {} of the trusted witnesses ({} needed): {}",
                    cosigners.len(),
                    policy.quorum,
                    cosigners
                        .iter()
                        .map(|name| name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
}

/// `arxi receipt verify RECEIPT --request FILE --key PUBKEY...`: exit 0
/// when the receipt and the request rebuild an envelope signed by a
/// trusted key, 1 otherwise.
pub(crate) fn receipt(
    receipt_file: &str,
    request_file: &str,
    keys: &crate::TrustedKeys,
    as_json: bool,
) -> Result<u8, CouldNotCheck> {
    let trusted = trusted_keys(keys)?;
    let receipt = read_limited(receipt_file)?;
    let request = read_limited(request_file)?;
    let named = arxi_format::json::parse(&receipt)
        .ok()
        .and_then(|receipt| receipt.get("key_id")?.as_str().map(str::to_owned));
    let key = named_key(&trusted.keys, named.as_deref())?;
    let outcome = verify_receipt(&receipt, &request, key).and_then(|check| {
        let body = &check.envelope.body;
        let outside = trusted
            .outside_window(&body.key_id, body.seq, body.seq)
            .or_else(|| trusted.outside_time(&body.key_id, body.received_at));
        match outside {
            Some(why) => Err(format!("key_outside_window: {why}")),
            None => Ok(check),
        }
    });
    match outcome {
        Ok(check) => {
            let body = &check.envelope.body;
            if as_json {
                let value = json!({
                    "valid": true,
                    "recorder_id": body.recorder_id,
                    "segment_id": body.segment_id,
                    "seq": body.seq,
                    "received_at": body.received_at.to_string(),
                    "hash": check.envelope.hash.to_hex(),
                    "key_id": body.key_id.to_string(),
                });
                println!("{}", pretty(&value));
            } else {
                println!(
                    "VALID: recorder {:?} accepted this request as envelope seq {} (segment {}) at {}, signed by {}",
                    body.recorder_id, body.seq, body.segment_id, body.received_at, body.key_id
                );
            }
            Ok(0)
        }
        Err(why) => {
            if as_json {
                println!("{}", pretty(&json!({"valid": false, "reason": why})));
            } else {
                println!("INVALID: {receipt_file}: {why}");
            }
            Ok(1)
        }
    }
}
