//! Verifies the committed golden files as an independent verifier would read
//! them: only through the public parsing API, trusting only `key.json`'s
//! public key. Shared by the `golden` test and the `verify_golden` example.

use std::path::Path;

use arxi_format::merkle;
use arxi_format::seal::envelope_leaf;
use arxi_format::{ChainHead, Envelope, Hash32, PublicKey, Seal};
use serde_json::Value;

/// What the golden files hold, once verified.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) key_id: String,
    pub(crate) envelopes: usize,
    pub(crate) merkle_root: Hash32,
    pub(crate) inclusion_proofs: usize,
    pub(crate) consistency_proofs: usize,
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))
}

fn hex_hash(value: &Value) -> Result<Hash32, String> {
    let text = value.as_str().ok_or("expected a hex string")?;
    Hash32::from_hex(text).map_err(|e| e.to_string())
}

fn hex_list(value: &Value) -> Result<Vec<Hash32>, String> {
    value
        .as_array()
        .ok_or("expected an array")?
        .iter()
        .map(hex_hash)
        .collect()
}

/// Checks every envelope, the chain, the attachment, the seal and every
/// proof; the first failure is returned as text.
pub(crate) fn verify_committed(dir: &Path) -> Result<Summary, String> {
    let key_file: Value =
        serde_json::from_slice(&read(dir, "key.json")?).map_err(|e| format!("key.json: {e}"))?;
    let public = PublicKey::from_hex(key_file["public_key"].as_str().unwrap_or_default())
        .map_err(|e| format!("key.json: {e}"))?;

    let chain = read(dir, "chain.jsonl")?;
    let mut head = ChainHead::GENESIS;
    let mut envelopes = Vec::new();
    for line in chain.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let canonical = arxi_format::canonical::canonicalize(line).map_err(|e| e.to_string())?;
        if canonical != line {
            return Err(format!("envelope {} is not canonical", head.seq + 1));
        }
        let envelope =
            Envelope::parse(line).map_err(|e| format!("envelope {}: {e}", head.seq + 1))?;
        let seq = envelope.body.seq;
        envelope
            .check_hash()
            .map_err(|e| format!("seq {seq}: {e}"))?;
        envelope
            .verify_signature(&public)
            .map_err(|e| format!("seq {seq}: {e}"))?;
        head.check_next(&envelope.body).map_err(|e| e.to_string())?;
        head = ChainHead::after(&envelope);
        envelopes.push(envelope);
    }
    let hashes: Vec<Hash32> = envelopes.iter().map(|e| e.hash).collect();

    let attachment = read(dir, "attachment-3.bin")?;
    let reference = envelopes
        .get(2)
        .and_then(|e| e.body.attachments.first())
        .ok_or("envelope 3 has no attachment")?;
    if reference.sha256 != Hash32::of(&attachment) || reference.size != attachment.len() as u64 {
        return Err("attachment-3.bin does not match envelope 3".into());
    }

    let seal = Seal::parse(&read(dir, "seal.json")?).map_err(|e| format!("seal: {e}"))?;
    seal.check_hash().map_err(|e| format!("seal: {e}"))?;
    seal.verify_signature(&public)
        .map_err(|e| format!("seal: {e}"))?;
    seal.body
        .check_envelopes(&hashes)
        .map_err(|e| format!("seal: {e}"))?;
    if seal.body.prev_seal_hash != Hash32::ZERO {
        return Err("the first seal must have the zero prev_seal_hash".into());
    }

    let proofs: Value =
        serde_json::from_slice(&read(dir, "proofs.json")?).map_err(|e| format!("proofs: {e}"))?;
    let inclusion = proofs["inclusion"].as_array().ok_or("proofs.inclusion")?;
    for proof in inclusion {
        let index = proof["leaf_index"].as_u64().ok_or("leaf_index")?;
        let leaf = hex_hash(&proof["leaf_hash"])?;
        let expected_leaf = hashes
            .get(usize::try_from(index).map_err(|e| e.to_string())?)
            .map(envelope_leaf)
            .ok_or("leaf_index out of range")?;
        if leaf != expected_leaf {
            return Err(format!(
                "inclusion proof {index}: leaf is not envelope {}",
                index + 1
            ));
        }
        let size = proof["tree_size"].as_u64().ok_or("tree_size")?;
        merkle::verify_inclusion(
            &leaf,
            index,
            size,
            &hex_list(&proof["proof"])?,
            &seal.body.merkle_root,
        )
        .map_err(|e| format!("inclusion proof {index}: {e}"))?;
    }
    let consistency = proofs["consistency"]
        .as_array()
        .ok_or("proofs.consistency")?;
    for proof in consistency {
        let size1 = proof["size1"].as_u64().ok_or("size1")?;
        let size2 = proof["size2"].as_u64().ok_or("size2")?;
        merkle::verify_consistency(
            size1,
            size2,
            &hex_hash(&proof["root1"])?,
            &hex_hash(&proof["root2"])?,
            &hex_list(&proof["proof"])?,
        )
        .map_err(|e| format!("consistency proof {size1}->{size2}: {e}"))?;
    }
    Ok(Summary {
        key_id: public.id().to_string(),
        envelopes: envelopes.len(),
        merkle_root: seal.body.merkle_root,
        inclusion_proofs: inclusion.len(),
        consistency_proofs: consistency.len(),
    })
}
