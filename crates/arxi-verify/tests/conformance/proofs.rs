//! Inclusion proof files (`proofs/`): the published proof of envelope 10
//! and damaged copies. A proof file is the proof's canonical JSON,
//! optionally followed by one LF.

use arxi_format::Hash32;
use arxi_format::bundle::Tag;
use arxi_format::proof::InclusionProof;

use super::bundle::Bundle;
use super::{Case, Suite};

/// The envelope whose inclusion proof is published.
pub(crate) const PROOF_SEQ: u64 = 10;

/// The published inclusion proof of envelope [`PROOF_SEQ`].
pub(crate) fn golden_proof() -> InclusionProof {
    let bundle = Bundle::golden();
    let index = bundle.envelope_index(PROOF_SEQ);
    let envelope = bundle.records[index].envelope();
    let span = bundle.segment_span(envelope.body.segment_id);
    let hashes: Vec<Hash32> = bundle.records[span.clone()]
        .iter()
        .filter(|r| r.tag == Tag::Envelope)
        .map(|r| r.envelope().hash)
        .collect();
    let leaf = hashes
        .iter()
        .position(|h| *h == envelope.hash)
        .expect("in segment");
    InclusionProof::build(
        envelope,
        bundle.records[span.end - 1].seal(),
        &hashes,
        leaf as u64,
    )
    .expect("proof")
}

pub(crate) fn proof_case(
    suite: &mut Suite,
    name: &str,
    description: &str,
    bytes: Vec<u8>,
    keys: &[&str],
    codes: &[&'static str],
    exit: u8,
) {
    let path = format!("proofs/{name}.json");
    suite.file(path.clone(), bytes);
    suite.cases.push(Case {
        name: format!("proof-{name}"),
        description: description.to_owned(),
        command: "proof verify",
        files: vec![path],
        keys: keys.iter().map(|key| super::key_path(key)).collect(),
        codes: codes.to_vec(),
        series_codes: Vec::new(),
        exit,
        witnesses: Vec::new(),
        quorum: None,
        tsa_certs: Vec::new(),
        require_timestamp: false,
        timestamp_tolerance: None,
    });
}

fn with_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.push(b'\n');
    bytes
}

pub(crate) fn proofs(suite: &mut Suite) {
    let proof = golden_proof();
    let canonical = proof.to_canonical_bytes();
    let name = format!("golden-proof-seq-{PROOF_SEQ}");
    proof_case(
        suite,
        &name,
        "the inclusion proof of envelope 10 (segment 2), as `arxi envelope prove` writes it (one LF at the end)",
        with_newline(canonical.clone()),
        &["a", "b"],
        &[],
        0,
    );
    suite.cases.push(Case {
        name: format!("proof-{name}-key-a-until-9"),
        description: "the same proof with A trusted up to seq 9: envelope 10 and the seal of its segment (ending at 12) are outside A's window".into(),
        command: "proof verify",
        files: vec![format!("proofs/{name}.json")],
        keys: vec![super::key_path("a@..9")],
        codes: vec!["key_outside_window"],
        series_codes: Vec::new(),
        exit: 1,
        witnesses: Vec::new(),
        quorum: None,
        tsa_certs: Vec::new(),
        require_timestamp: false,
        timestamp_tolerance: None,
    });
    proof_case(
        suite,
        "no-newline",
        "the same proof without the final LF",
        canonical.clone(),
        &["a"],
        &[],
        0,
    );
    proof_case(
        suite,
        "two-newlines",
        "the same proof with two LFs: one is allowed, the other makes it non-canonical",
        with_newline(with_newline(canonical.clone())),
        &["a"],
        &["proof_not_canonical"],
        1,
    );
    proof_case(
        suite,
        "key-b-only",
        "the proof checked with key B only: both its records are signed by A",
        with_newline(canonical.clone()),
        &["b"],
        &["envelope_untrusted_key", "seal_untrusted_key"],
        1,
    );
    let text = String::from_utf8(canonical.clone()).expect("utf8");
    let edited = text.replacen("\"dave\"", "\"mallory\"", 1).into_bytes();
    proof_case(
        suite,
        "envelope-edited",
        "the disclosed envelope's actor changed, nothing recomputed",
        with_newline(edited),
        &["a"],
        &["envelope_hash_mismatch"],
        1,
    );
    let mut path = proof.clone();
    path.audit_path[0] = Hash32::of(b"another sibling");
    proof_case(
        suite,
        "path-edited",
        "the first hash of the audit path replaced",
        with_newline(path.to_canonical_bytes()),
        &["a"],
        &["proof_root_mismatch"],
        1,
    );
    let mut leaf = proof.clone();
    leaf.leaf_index += 1;
    proof_case(
        suite,
        "leaf-index-edited",
        "leaf_index one higher than the envelope's place",
        with_newline(leaf.to_canonical_bytes()),
        &["a"],
        &["proof_position_mismatch", "proof_root_mismatch"],
        1,
    );
    let value: serde_json::Value = serde_json::from_slice(&canonical).expect("json");
    let pretty = serde_json::to_vec_pretty(&value).expect("json");
    proof_case(
        suite,
        "not-canonical",
        "the proof pretty-printed",
        pretty,
        &["a"],
        &["proof_not_canonical"],
        1,
    );
    proof_case(
        suite,
        "not-a-proof",
        "a JSON object that is not a proof: it cannot be checked",
        b"{\"v\":1}\n".to_vec(),
        &["a"],
        &[],
        2,
    );
}
