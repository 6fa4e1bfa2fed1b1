//! The golden bundle and its tampered fixtures: the committed files equal
//! what the generator makes (any diff fails; regenerate deliberately with
//! `scripts/regenerate-golden.sh`), the golden bundle verifies, and every
//! tampered fixture reports exactly the codes its table entry names.

#![allow(clippy::cast_possible_truncation)]

#[path = "bundles/generate.rs"]
mod generate;

use std::path::{Path, PathBuf};

use arxi_format::PublicKey;
use arxi_format::proof::InclusionProof;
use arxi_verify::{Options, Report, load_public_key, verify_bundle};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bundles")
}

fn committed(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn trusted() -> Vec<PublicKey> {
    ["keys/a.pub", "keys/b.pub"]
        .iter()
        .map(|name| load_public_key(dir().join(name).to_str().expect("utf8")).expect("key"))
        .collect()
}

fn verify(bytes: &[u8], batch_size: usize) -> Report {
    verify_threads(bytes, batch_size, 1)
}

fn verify_threads(bytes: &[u8], batch_size: usize, threads: usize) -> Report {
    verify_bundle(
        bytes,
        &trusted(),
        &Options {
            batch_size,
            threads,
        },
        None,
    )
}

fn files_under(root: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(root).expect("dir") {
        let entry = entry.expect("entry");
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("type").is_dir() {
            files_under(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn regenerating_produces_no_diff() {
    let generated = generate::generate();
    let mut names = Vec::new();
    files_under(&dir(), "", &mut names);
    names.sort();
    let mut expected: Vec<String> = generated.iter().map(|(name, _)| name.clone()).collect();
    expected.sort();
    assert_eq!(names, expected, "bundle fixture file set");
    for (name, bytes) in &generated {
        assert!(
            committed(name) == *bytes,
            "testdata/bundles/{name} differs from the generator (scripts/regenerate-golden.sh)"
        );
    }
}

#[test]
fn the_golden_bundle_verifies_batched_and_one_by_one() {
    let bytes = committed("golden.arxb");
    for (batch_size, threads) in [(1, 1), (7, 1), (1_024, 1), (3, 2)] {
        let report = verify_threads(&bytes, batch_size, threads);
        assert!(
            report.is_valid(),
            "batch {batch_size}: {:?}",
            report.findings
        );
        assert_eq!(report.counts.envelopes, 27);
        assert_eq!(report.counts.signatures_verified, 27);
        assert_eq!(report.counts.seals, 5);
        assert_eq!(report.counts.attachments, 1);
        assert_eq!(report.seq_range, Some((1, 27)));
        assert_eq!(report.counts.bytes, bytes.len() as u64);
    }
}

#[test]
fn the_golden_bundle_needs_both_keys() {
    let bytes = committed("golden.arxb");
    let only_a = vec![trusted()[0].clone()];
    let report = verify_bundle(&bytes[..], &only_a, &Options::default(), None);
    let codes: Vec<&str> = report.codes().iter().map(|c| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "envelope_untrusted_key",
            "seal_untrusted_key",
            "bundle_untrusted_key"
        ]
    );
    // Every envelope of segments 4 and 5 (signed by B) is named.
    let untrusted = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "envelope_untrusted_key")
        .count();
    assert_eq!(untrusted, 10);
}

fn codes_of(report: &Report) -> Vec<String> {
    report
        .codes()
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

#[test]
fn every_tampered_fixture_reports_exactly_its_codes() {
    let table: serde_json::Value =
        serde_json::from_slice(&committed("tampered/expected.json")).expect("expected.json");
    let fixtures = table["fixtures"].as_array().expect("fixtures");
    assert!(fixtures.len() >= 17, "at least the 17 classes of the issue");
    let mut failures = Vec::new();
    for fixture in fixtures {
        let file = fixture["file"].as_str().expect("file");
        let mut expected: Vec<String> = fixture["codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_owned())
            .collect();
        expected.sort();
        let mut reports = Vec::new();
        for (batch_size, threads) in [(1, 1), (1_024, 1), (4, 3)] {
            let report = verify_threads(&committed(file), batch_size, threads);
            let mut found = codes_of(&report);
            found.sort();
            if found != expected {
                failures.push(format!(
                    "{file} (batch {batch_size}): expected {expected:?}, found {found:?}"
                ));
            }
            assert!(!report.is_valid(), "{file} verified");
            let exit: u8 = if report.could_not_check { 2 } else { 1 };
            assert_eq!(
                u64::from(exit),
                fixture["exit"].as_u64().expect("exit"),
                "{file}"
            );
            assert!(report.first_bad().is_some(), "{file}: no first bad record");
            reports.push(report);
        }
        // Batching and threads never change a report.
        assert!(
            reports.windows(2).all(|pair| pair[0] == pair[1]),
            "{file}: reports differ"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn findings_name_the_record_segment_and_the_bytes_that_disagree() {
    let report = verify(&committed("tampered/payload-byte-flipped.arxb"), 1_024);
    let first = report.first_bad().expect("a finding");
    assert_eq!(first.code.as_str(), "envelope_hash_mismatch");
    assert_eq!((first.segment_id, first.seq), (Some(1), Some(4)));
    assert_eq!(
        first.record,
        Some(6),
        "manifest, two keys, envelopes 1-3, then 4"
    );
    let (expected, found) = (
        first.expected.as_deref().expect("expected"),
        first.found.as_deref().expect("found"),
    );
    assert_eq!((expected.len(), found.len()), (64, 64));
    assert_ne!(expected, found);

    let report = verify(&committed("tampered/two-segments-dropped.arxb"), 1_024);
    let missing = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "segments_missing")
        .expect("segments_missing");
    assert_eq!(
        (missing.expected.as_deref(), missing.found.as_deref()),
        (Some("2"), Some("4"))
    );
    assert!(
        missing.message.contains("segments 2 to 3"),
        "{}",
        missing.message
    );

    let report = verify(&committed("tampered/resealed-under-newer-key.arxb"), 1_024);
    let first = report.first_bad().expect("a finding");
    assert_eq!(
        (first.code.as_str(), first.segment_id, first.seq),
        ("key_not_in_force", Some(2), Some(8))
    );
}

#[test]
fn the_golden_proof_verifies_alone_and_names_its_failures() {
    let bytes = committed(&format!("golden-proof-seq-{}.json", generate::PROOF_SEQ));
    let proof = InclusionProof::parse(bytes.strip_suffix(b"\n").expect("newline")).expect("parses");
    assert_eq!(proof.envelope.body.seq, generate::PROOF_SEQ);
    assert_eq!(proof.verify(&trusted()), vec![]);
    // The disclosed envelope is exactly the one in the bundle.
    let golden = committed("golden.arxb");
    let canonical = proof.envelope.to_canonical_bytes();
    assert!(
        golden
            .windows(canonical.len())
            .any(|w| w == canonical.as_slice())
    );
    // And the proof cut from the committed bundle is the committed proof.
    let cut = arxi_verify::prove_from_bundle(&golden[..], generate::PROOF_SEQ).expect("prove");
    assert_eq!(cut, proof);
    // A seal in force must be trusted.
    let codes: Vec<&str> = proof
        .verify(&[trusted()[1].clone()])
        .iter()
        .map(|f| f.code())
        .collect();
    assert_eq!(codes, ["envelope_untrusted_key", "seal_untrusted_key"]);
    // An envelope outside any sealed segment cannot be proven.
    assert!(arxi_verify::prove_from_bundle(&golden[..], 99).is_err());
}
