//! The golden vectors: the committed files equal what the generator makes
//! (any diff fails: regenerate deliberately with
//! `scripts/regenerate-golden.sh`), and the committed files verify on their
//! own, read back through the public parsing API as an independent verifier
//! would read them.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

#[path = "golden/generate.rs"]
mod generate;
#[path = "golden/verify.rs"]
mod verify;

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn committed(name: &str) -> Vec<u8> {
    let path = golden_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn regenerating_produces_no_diff() {
    let generated = generate::generate();
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = generated
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    expected.sort();
    assert_eq!(names, expected, "golden file set");
    for (name, bytes) in &generated {
        assert!(
            committed(name) == *bytes,
            "testdata/golden/{name} differs from the generator; a published vector never \
             changes meaning (bump the format version instead)"
        );
    }
}

#[test]
fn committed_files_verify_independently() {
    let summary = verify::verify_committed(&golden_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.envelopes, 6);
    assert_eq!(summary.inclusion_proofs, 6);
    assert_eq!(summary.consistency_proofs, 21);
    assert_eq!(summary.key_id, generate::key().id().as_str());
    let chain = generate::chain();
    assert_eq!(summary.merkle_root, generate::seal(&chain).body.merkle_root);
}

/// The committed version 2 files verify through the public API: each
/// envelope's hash and signature, the chain, each disclosure opening its
/// envelope's commitment, the seal over the segment.
#[test]
fn committed_v2_files_verify() {
    use arxi_format::payload::Disclosure;
    let key = generate::key();
    let chain = committed("v2-chain.jsonl");
    let mut disclosures = committed("v2-disclosures.jsonl")
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| Disclosure::parse(line).expect("a disclosure"))
        .collect::<Vec<_>>()
        .into_iter();
    let mut head = arxi_format::ChainHead::GENESIS;
    let mut hashes = Vec::new();
    let mut committed_count = 0;
    for line in chain.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
        let envelope = arxi_format::Envelope::parse(line).expect("an envelope");
        assert_eq!(envelope.to_canonical_bytes(), line);
        envelope.check_hash().expect("hash");
        envelope.verify_signature(key.public()).expect("signature");
        head.check_next(&envelope.body).expect("chain");
        head = arxi_format::ChainHead::after(&envelope);
        if let Some(commitment) = envelope.body.payload.commitment() {
            committed_count += 1;
            let Some(Disclosure::Disclosed { content, salt }) = disclosures.next() else {
                panic!("seq {} has no disclosure", envelope.body.seq);
            };
            assert_eq!(
                content.commitment(&salt),
                *commitment,
                "seq {}",
                envelope.body.seq
            );
        }
        hashes.push(envelope.hash);
    }
    assert_eq!(committed_count, 3);
    assert!(disclosures.next().is_none());
    let seal = arxi_format::Seal::parse(&committed("v2-seal.json")).expect("seal");
    seal.check_hash().expect("seal hash");
    seal.verify_signature(key.public()).expect("seal signature");
    seal.body
        .check_envelopes(&hashes)
        .expect("seal over the v2 segment");
}

/// Each kind of damage to the committed files is caught.
#[test]
fn damaged_copies_are_refused() {
    let originals: Vec<(String, Vec<u8>)> = [
        "key.json",
        "chain.jsonl",
        "seal.json",
        "proofs.json",
        "attachment-3.bin",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), committed(name)))
    .collect();
    type Damage = fn(&[u8]) -> Vec<u8>;
    let damages: &[(&str, Damage, &str)] = &[
        (
            "chain.jsonl",
            |b| replace_first(b, b"\"EUR\"", b"\"USD\""),
            "seq 2",
        ),
        ("chain.jsonl", |b| drop_line(b, 3), "expected seq 4"),
        (
            "chain.jsonl",
            |b| replace_first(b, b"alice@example.com", b"mallory@example"),
            "seq 2",
        ),
        (
            "seal.json",
            |b| replace_first(b, b"\"count\":6", b"\"count\":5"),
            "seal",
        ),
        ("attachment-3.bin", |b| [b, b"x"].concat(), "attachment"),
        (
            "proofs.json",
            |b| replace_first(b, b"\"leaf_index\": 1", b"\"leaf_index\": 2"),
            "inclusion proof",
        ),
    ];
    for (name, damage, expected) in damages {
        let dir =
            std::env::temp_dir().join(format!("arxi-golden-damage-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (file, bytes) in &originals {
            let bytes = if file == name {
                damage(bytes)
            } else {
                bytes.clone()
            };
            std::fs::write(dir.join(file), bytes).expect("write");
        }
        let error = verify::verify_committed(&dir).expect_err("damage must be caught");
        assert!(
            error.contains(expected),
            "{name}: {error:?} should mention {expected:?}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}

fn replace_first(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let position = bytes
        .windows(from.len())
        .position(|window| window == from)
        .expect("pattern present in golden file");
    [&bytes[..position], to, &bytes[position + from.len()..]].concat()
}

fn drop_line(bytes: &[u8], index: usize) -> Vec<u8> {
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .flat_map(|(_, l)| l.iter().copied())
        .collect()
}
