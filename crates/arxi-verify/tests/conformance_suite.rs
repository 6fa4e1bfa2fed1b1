//! The conformance suite (`Docs/conformance/`): the committed files equal
//! what the generator makes (any diff fails; regenerate deliberately with
//! `scripts/regenerate-golden.sh`), and the verifier reports every case's
//! exact verdict, exit code and code set, one by one, batched and on
//! worker threads. The CLI runs the same cases in `cli.rs`.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

mod conformance;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arxi_format::PublicKey;
use arxi_format::note::VerifierKey;
use arxi_format::tsp::TsaTrust;
use arxi_verify::{
    Code, KeyWindows, Options, Report, SeriesReport, TimestampPolicy, WitnessPolicy,
    check_proof_file, load_public_key, split_key_argument, verify_bundle,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Docs/conformance")
}

fn committed(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files_under(root: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(root).expect("dir") {
        let entry = entry.expect("entry");
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("type").is_dir() {
            files_under(&entry.path(), &format!("{name}/"), out);
        } else if name != "README.md" {
            out.push(name);
        }
    }
}

#[test]
fn regenerating_produces_no_diff() {
    let (generated, _) = conformance::generate();
    let mut names = Vec::new();
    files_under(&dir(), "", &mut names);
    names.sort();
    let mut expected: Vec<String> = generated.iter().map(|(name, _)| name.clone()).collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "conformance file set (scripts/regenerate-golden.sh)"
    );
    for (name, bytes) in &generated {
        assert!(
            committed(name) == *bytes,
            "Docs/conformance/{name} differs from the generator (scripts/regenerate-golden.sh)"
        );
    }
}

/// The golden bundle keeps its bytes: published evidence never changes.
#[test]
fn the_golden_bundle_is_the_published_one() {
    let golden = committed("bundles/golden.arxb");
    assert_eq!(
        arxi_format::Hash32::of(&golden).to_hex(),
        "17a88f71955216da6178cb9a9007f2c5ffc7de111ff54ddaf0aab695df94234c",
        "the golden bundle's SHA-256"
    );
}

/// The trusted keys of a case and the windows given with them (`None`:
/// a key is refused at load).
fn keys(case: &conformance::Case) -> Option<(Vec<PublicKey>, KeyWindows)> {
    let mut windows = KeyWindows::new();
    let mut keys = Vec::new();
    for key in &case.keys {
        let (path, window) = split_key_argument(key).expect("a valid key window");
        let key = load_public_key(dir().join(path).to_str().expect("utf8")).ok()?;
        if let Some(window) = window {
            windows.insert(key.id().clone(), window);
        }
        keys.push(key);
    }
    Some((keys, windows))
}

/// The witness policy of a case (none: quorum 0).
fn policy(case: &conformance::Case) -> WitnessPolicy {
    let witnesses = case
        .witnesses
        .iter()
        .map(|file| {
            let text = String::from_utf8(committed(file)).expect("utf-8");
            VerifierKey::parse(text.trim()).expect("a verifier key")
        })
        .collect();
    WitnessPolicy {
        witnesses,
        quorum: case.quorum.unwrap_or(0),
    }
}

/// The timestamp policy of a case.
fn timestamp_policy(case: &conformance::Case) -> TimestampPolicy {
    let mut trust = TsaTrust::new();
    for file in &case.tsa_certs {
        trust.add(&committed(file)).expect("a TSA certificate");
    }
    TimestampPolicy {
        trust,
        tolerance_seconds: case
            .timestamp_tolerance
            .unwrap_or(arxi_verify::TOLERANCE_DEFAULT_SECONDS),
        required: case.require_timestamp,
    }
}

/// The exit code and code set the library gives for a case.
fn run(case: &conformance::Case, options: &Options) -> (u8, BTreeSet<&'static str>) {
    let Some((trusted, windows)) = keys(case) else {
        return (2, BTreeSet::new());
    };
    let options = &Options {
        witness: policy(case),
        windows: windows.clone(),
        timestamp: timestamp_policy(case),
        ..options.clone()
    };
    if case.command == "proof verify" {
        let files = committed(&case.files[0]);
        return match check_proof_file(&files, &trusted, &windows, &options.timestamp) {
            Err(_) => (2, BTreeSet::new()),
            Ok(report) => (
                u8::from(!report.is_valid()),
                report.codes().iter().map(|c| c.as_str()).collect(),
            ),
        };
    }
    let mut options = options.clone();
    let mut reports: Vec<Report> = Vec::new();
    for file in &case.files {
        let report = verify_bundle(&committed(file)[..], &trusted, &options, None);
        // Revocations carry on to the next bundle, as the CLI does.
        options.revoked.clone_from(&report.revoked);
        reports.push(report);
    }
    let series = SeriesReport::new(reports);
    (
        series.exit_code(),
        series.codes().iter().map(|c| c.as_str()).collect(),
    )
}

#[test]
fn every_case_reports_exactly_its_verdict_and_codes() {
    let (_, cases) = conformance::generate();
    assert!(cases.len() >= 80, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected: BTreeSet<&str> = case.codes.iter().copied().collect();
        for (batch_size, threads) in [(1, 1), (4_096, 1), (2, 1), (4, 3)] {
            let options = Options {
                batch_size,
                threads,
                ..Options::default()
            };
            let (exit, codes) = run(case, &options);
            if exit != case.exit || codes != expected {
                failures.push(format!(
                    "{} (batch {batch_size}, {threads} threads): expected exit {} {expected:?}, found exit {exit} {codes:?}",
                    case.name, case.exit
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The ed25519-speccheck bundles under every batch size from 1 to 8 and
/// with worker threads: one verdict. (The cofactorless batch of before
/// accepted cases 4, 5 and 8 with some batch sizes and refused them with
/// others, as a weight happened to cancel their small-order component.)
#[test]
fn speccheck_bundles_get_one_verdict_whatever_the_batching() {
    let (_, cases) = conformance::generate();
    let speccheck: Vec<&conformance::Case> = cases
        .iter()
        .filter(|case| case.name.starts_with("speccheck-") && case.exit != 2)
        .collect();
    assert_eq!(speccheck.len(), 8, "cases 2 to 9");
    for case in speccheck {
        let expected: BTreeSet<&str> = case.codes.iter().copied().collect();
        for batch_size in (1..=8).chain([4_096]) {
            for threads in [1, 3] {
                let options = Options {
                    batch_size,
                    threads,
                    ..Options::default()
                };
                assert_eq!(
                    run(case, &options),
                    (case.exit, expected.clone()),
                    "{} with batches of {batch_size} on {threads} thread(s)",
                    case.name
                );
            }
        }
    }
}

/// Every code in the registry is shown by at least one case, so no code
/// exists only in source.
#[test]
fn every_code_has_a_case() {
    let (_, cases) = conformance::generate();
    let shown: BTreeSet<&str> = cases
        .iter()
        .flat_map(|case| case.codes.iter().copied())
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !shown.contains(code))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a conformance case: {missing:?}"
    );
    for code in &shown {
        assert!(Code::parse(code).is_some(), "{code} is not in the registry");
    }
}

#[test]
fn findings_name_the_record_segment_and_the_bytes_that_disagree() {
    let trusted: Vec<PublicKey> = ["keys/a.pub", "keys/b.pub"]
        .iter()
        .map(|key| load_public_key(dir().join(key).to_str().expect("utf8")).expect("key"))
        .collect();
    let verify =
        |name: &str| verify_bundle(&committed(name)[..], &trusted, &Options::default(), None);
    let report = verify("bundles/tampered/payload-byte-flipped.arxb");
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

    let report = verify("bundles/tampered/two-segments-dropped.arxb");
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

    let report = verify("bundles/tampered/resealed-under-newer-key.arxb");
    let first = report.first_bad().expect("a finding");
    assert_eq!(
        (first.code.as_str(), first.record, first.segment_id),
        ("key_record_first_seq_mismatch", Some(2), None),
        "B's key record (record 2) is contradicted by envelope 8"
    );
    assert_eq!(
        (first.expected.as_deref(), first.found.as_deref()),
        (Some("8"), Some("18"))
    );
    let key = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "key_not_in_force")
        .expect("key_not_in_force");
    assert_eq!((key.segment_id, key.seq), (Some(2), Some(8)));
}

#[test]
fn the_golden_proof_is_cut_from_the_golden_bundle() {
    let golden = committed("bundles/golden.arxb");
    let file = committed(&format!(
        "proofs/golden-proof-seq-{}.json",
        conformance::proofs::PROOF_SEQ
    ));
    let cut =
        arxi_verify::prove_from_bundle(&golden[..], conformance::proofs::PROOF_SEQ).expect("prove");
    let mut bytes = cut.to_canonical_bytes();
    bytes.push(b'\n');
    assert_eq!(bytes, file);
    // The disclosed envelope is exactly the one in the bundle.
    let canonical = cut.envelope.to_canonical_bytes();
    assert!(
        golden
            .windows(canonical.len())
            .any(|w| w == canonical.as_slice())
    );
    assert!(arxi_verify::prove_from_bundle(&golden[..], 99).is_err());
}
