//! Keys an auditor trusts for part of the chain only, on a real recorder
//! history: a bundle verified with validity windows (`--key
//! KEY@FIRST..LAST`, `Docs/format.md` §11.8) passes when every record lies
//! in its key's window and names each record outside it otherwise; a key
//! revoked through the recorder (`arxi.key.revoked`, rule C5) is reported
//! for what it signed from its `from_seq` on, and the key the recorder
//! signs with cannot be revoked.

mod support;

use std::path::Path;
use std::sync::Arc;

use arxi_format::SecretKey;
use arxi_format::revocation::KeyRevocation;
use arxi_recorder::{Outcome, RecorderEngine, SubmitError};
use arxi_verify::{KeyWindows, Options, Report, SeqWindow, verify_bundle};
use serde_json::json;
use support::*;

fn reopen(path: &Path, key: SecretKey, clock: &Arc<ManualClock>) -> RecorderEngine {
    let mut config = config();
    config.bundle_dir = Some(path.with_file_name("bundles"));
    RecorderEngine::open(path, config, key, clock.clone()).expect("opens")
}

/// Key 1 records and seals, then the recorder restarts with key 2, which
/// records and seals: the last `seq` key 1 signed and the bundle.
fn two_key_history(dir: &Path) -> (u64, Vec<u8>) {
    let path = dir.join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = reopen(&path, key(1), &clock);
    for n in 0..4 {
        append(&engine, "orders.placed", json!({"n": n}));
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    engine.shutdown().expect("shutdown");
    let engine = reopen(&path, key(2), &clock);
    let keys = engine.keys().expect("keys");
    let key_2 = keys
        .iter()
        .find(|recorded| recorded.public_key == *key(2).public())
        .expect("key 2 recorded");
    // Key 1 also signed the stop record, after its seal.
    let last_of_key_1 = key_2.first_seq - 1;
    for n in 4..7 {
        append(&engine, "orders.placed", json!({"n": n}));
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    let bytes = std::fs::read(&bundle.path).expect("bundle file");
    (last_of_key_1, bytes)
}

fn verify(bytes: &[u8], windows: &[(u8, &str)]) -> Report {
    let windows: KeyWindows = windows
        .iter()
        .map(|(seed, window)| {
            let window = SeqWindow::parse(window).expect("window");
            (key(*seed).id().clone(), window)
        })
        .collect();
    let options = Options {
        windows,
        ..Options::default()
    };
    let trusted = [key(1).public().clone(), key(2).public().clone()];
    verify_bundle(bytes, &trusted, &options, None)
}

/// The codes of a report and the sequence numbers its findings name.
fn outside(report: &Report) -> (Vec<&'static str>, Vec<Option<u64>>) {
    let codes = report.codes().iter().map(|code| code.as_str()).collect();
    let seqs = report.findings.iter().map(|finding| finding.seq).collect();
    (codes, seqs)
}

#[test]
fn a_key_trusted_up_to_a_seq_covers_what_it_signed_and_nothing_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (last, bytes) = two_key_history(dir.path());
    let first_of_key_2 = format!("{}..", last + 1);
    let up_to_last = format!("..{last}");
    // Each key within its window: valid.
    let report = verify(&bytes, &[(1, &up_to_last), (2, &first_of_key_2)]);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert!(verify(&bytes, &[(1, &up_to_last)]).is_valid());
    // Key 1 trusted up to one before its last envelope: that envelope is
    // outside.
    let report = verify(&bytes, &[(1, &format!("..{}", last - 1))]);
    let (codes, seqs) = outside(&report);
    assert_eq!(codes, ["key_outside_window"], "{:#?}", report.findings);
    assert_eq!(seqs, [Some(last)], "{:#?}", report.findings);
    // Key 1 trusted only before its seal: the seal is outside too.
    let report = verify(&bytes, &[(1, "..3")]);
    let (codes, seqs) = outside(&report);
    assert_eq!(codes, ["key_outside_window"], "{:#?}", report.findings);
    let reported = u64::try_from(seqs.len()).expect("a few findings");
    assert!(reported > last - 3, "{:#?}", report.findings);
    // Key 2 trusted from one after its first envelope: that one is
    // outside.
    let report = verify(&bytes, &[(2, &format!("{}..", last + 2))]);
    let (codes, seqs) = outside(&report);
    assert_eq!(codes, ["key_outside_window"], "{:#?}", report.findings);
    assert_eq!(seqs.first(), Some(&Some(last + 1)));
    // Key 2 trusted up to its first envelope only: everything after it,
    // and the bundle's trailer, are outside.
    let report = verify(&bytes, &[(2, &format!("{}..{}", last + 1, last + 1))]);
    let (codes, _) = outside(&report);
    assert_eq!(codes, ["key_outside_window"], "{:#?}", report.findings);
    let trailer = report.findings.last().expect("a finding");
    assert!(
        trailer
            .found
            .as_deref()
            .is_some_and(|found| found.starts_with("last seq")),
        "{trailer:?}"
    );
}

fn revocation(seed: u8, from_seq: u64) -> KeyRevocation {
    KeyRevocation {
        key_id: key(seed).id().clone(),
        from_seq,
        reason: "the key file was copied off the host".into(),
    }
}

/// Key 1 records, the recorder restarts with key 2 and revokes key 1 from
/// `from_seq`; the bundle of every sealed segment.
fn revoked_history(dir: &Path, from_seq: impl Fn(u64) -> u64) -> Vec<u8> {
    let path = dir.join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = reopen(&path, key(1), &clock);
    for n in 0..4 {
        append(&engine, "orders.placed", json!({"n": n}));
    }
    engine.shutdown().expect("shutdown");
    let engine = reopen(&path, key(2), &clock);
    // The signing key cannot revoke itself.
    assert_eq!(
        engine.revoke_key(&revocation(2, 1), None).err(),
        Some(SubmitError::RevokesSigningKey {
            key_id: key(2).id().clone()
        })
    );
    // A key this recorder never signed with is refused.
    assert_eq!(
        engine.revoke_key(&revocation(3, 1), None).err(),
        Some(SubmitError::UnknownKey {
            key_id: key(3).id().clone()
        })
    );
    let mut empty_reason = revocation(1, 1);
    empty_reason.reason.clear();
    assert!(matches!(
        engine.revoke_key(&empty_reason, None),
        Err(SubmitError::Invalid {
            field: "reason",
            ..
        })
    ));
    let keys = engine.keys().expect("keys");
    let first_of_key_2 = keys
        .iter()
        .find(|recorded| recorded.public_key == *key(2).public())
        .expect("key 2 recorded")
        .first_seq;
    let revoked = engine
        .revoke_key(&revocation(1, from_seq(first_of_key_2)), None)
        .expect("queued")
        .wait()
        .expect("recorded");
    assert!(matches!(revoked, Outcome::Done { .. }), "{revoked:?}");
    append(&engine, "orders.placed", json!({"n": 4}));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    std::fs::read(&bundle.path).expect("bundle file")
}

#[test]
fn a_revoked_key_is_reported_for_what_it_signed_from_its_end() {
    let trusted = [key(1).public().clone(), key(2).public().clone()];
    let check = |bytes: &[u8]| verify_bundle(bytes, &trusted, &Options::default(), None);
    // Revoked from the first envelope key 2 signed: key 1 signed nothing
    // after, the bundle is valid and the report names the revocation.
    let dir = tempfile::tempdir().expect("tempdir");
    let report = check(&revoked_history(dir.path(), |first| first));
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert!(report.revoked.contains_key(key(1).id()), "{report:?}");
    // Revoked from its third envelope: what it signed from there on,
    // before the record, is one finding at the revocation.
    let dir = tempfile::tempdir().expect("tempdir");
    let report = check(&revoked_history(dir.path(), |_| 3));
    let (codes, _) = outside(&report);
    assert_eq!(codes, ["key_revoked_signature"], "{:#?}", report.findings);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    assert_eq!(report.revoked.get(key(1).id()), Some(&3));
}
