//! RFC 6962 inclusion and consistency proofs against every transparency-dev
//! probe (happy paths and mutations), and roots of the classic CT tree.

use std::path::Path;

use arxi_format::Hash32;
use arxi_format::merkle::{self, wire};
use base64::Engine as _;
use serde_json::Value;

use super::{hex, read_json, vectors_dir};

fn b64(value: &Value) -> Vec<u8> {
    match value.as_str() {
        Some(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_else(|e| panic!("base64 {text:?}: {e}")),
        None => Vec::new(),
    }
}

fn proof(value: &Value) -> Vec<Vec<u8>> {
    value
        .as_array()
        .map(|items| items.iter().map(b64).collect())
        .unwrap_or_default()
}

fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
    out.sort();
}

fn load(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

#[test]
fn transparency_dev_inclusion_probes() {
    let mut files = Vec::new();
    json_files(
        &vectors_dir().join("merkle/transparency-dev/testdata/inclusion"),
        &mut files,
    );
    assert_eq!(files.len(), 98, "all inclusion probes present");
    for path in &files {
        let case = load(path);
        let result = wire::verify_inclusion(
            &b64(&case["leafHash"]),
            case["leafIdx"].as_u64().expect("leafIdx"),
            case["treeSize"].as_u64().expect("treeSize"),
            &proof(&case["proof"]),
            &b64(&case["root"]),
        );
        let want_error = case["wantErr"].as_bool().expect("wantErr");
        assert_eq!(
            result.is_err(),
            want_error,
            "{}: {result:?}",
            path.display()
        );
    }
    println!(
        "merkle inclusion: {} of {} probes pass",
        files.len(),
        files.len()
    );
}

#[test]
fn transparency_dev_consistency_probes() {
    let mut files = Vec::new();
    json_files(
        &vectors_dir().join("merkle/transparency-dev/testdata/consistency"),
        &mut files,
    );
    assert_eq!(files.len(), 98, "all consistency probes present");
    for path in &files {
        let case = load(path);
        let result = wire::verify_consistency(
            case["size1"].as_u64().expect("size1"),
            case["size2"].as_u64().expect("size2"),
            &b64(&case["root1"]),
            &b64(&case["root2"]),
            &proof(&case["proof"]),
        );
        let want_error = case["wantErr"].as_bool().expect("wantErr");
        assert_eq!(
            result.is_err(),
            want_error,
            "{}: {result:?}",
            path.display()
        );
    }
    println!(
        "merkle consistency: {} of {} probes pass",
        files.len(),
        files.len()
    );
}

/// Our proof generators reproduce the happy-path proofs byte for byte: the
/// probes are computed over the CT test tree whose roots are listed.
#[test]
fn classic_tree_roots_and_generated_proofs() {
    let tree = read_json("merkle/transparency-dev/tree-roots.json");
    let leaves: Vec<Hash32> = tree["leaves_hex"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|leaf| merkle::leaf_hash(&hex(leaf.as_str().expect("hex"))))
        .collect();
    let roots = tree["roots_hex"].as_array().expect("roots");
    for (size, root) in roots.iter().enumerate() {
        let expected = Hash32::from_hex(root.as_str().expect("hex")).expect("root");
        assert_eq!(
            merkle::root(&leaves[..=size]),
            expected,
            "root of size {}",
            size + 1
        );
    }
    let empty = Hash32::from_hex(tree["empty_tree_root_hex"].as_str().expect("hex")).expect("hex");
    assert_eq!(merkle::root(&[]), empty);
    let known = Hash32::from_hex(
        tree["other_known_hashes"]["leaf_hash(\"L123456\")"]
            .as_str()
            .expect("hex"),
    )
    .expect("hex");
    assert_eq!(merkle::leaf_hash(b"L123456"), known);

    let base = vectors_dir().join("merkle/transparency-dev/testdata");
    let mut checked = 0;
    for dir in ["inclusion", "consistency"] {
        let mut files = Vec::new();
        json_files(&base.join(dir), &mut files);
        for path in files.iter().filter(|p| p.ends_with("happy-path.json")) {
            let case = load(path);
            if dir == "inclusion" {
                let size = case["treeSize"].as_u64().expect("size");
                let index = case["leafIdx"].as_u64().expect("index");
                let generated =
                    merkle::inclusion_proof(&leaves[..size as usize], index).expect("in range");
                let generated: Vec<Vec<u8>> = generated.iter().map(|h| h.0.to_vec()).collect();
                assert_eq!(generated, proof(&case["proof"]), "{}", path.display());
            } else {
                let size1 = case["size1"].as_u64().expect("size1");
                let size2 = case["size2"].as_u64().expect("size2");
                let generated = merkle::consistency_proof(&leaves[..size2 as usize], size1)
                    .expect("valid sizes");
                let generated: Vec<Vec<u8>> = generated.iter().map(|h| h.0.to_vec()).collect();
                assert_eq!(generated, proof(&case["proof"]), "{}", path.display());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 10, "five happy paths of each kind");
    println!("merkle roots: 9 of 9; generated proofs equal to probes: {checked} of {checked}");
}
