//! Bundles built from a real recorder history verify offline with the
//! independent verifier (`arxi-verify`): key changes with and without an open
//! segment, attachments shared by several envelopes, explicit and automatic
//! seals, and bundles that start in the middle of the chain.

mod support;

use std::sync::Arc;

use arxi_format::SecretKey;
use arxi_recorder::bundle::{
    BundleError, BundleFile, BundleSelection, PayloadSelection, is_bundle_id,
};
use arxi_recorder::{AttachmentInput, Outcome, RecorderEngine};
use arxi_verify::{Options, WitnessPolicy, verify_bundle};
use serde_json::json;
use support::*;

fn with_attachment(engine: &RecorderEngine, bytes: &'static [u8]) {
    let mut request = request("docs.filed", json!({"doc": bytes.len()}));
    request.attachments = vec![AttachmentInput {
        name: "doc.bin".into(),
        media_type: "application/octet-stream".into(),
        bytes: Arc::from(bytes),
    }];
    match engine
        .append(request)
        .expect("queued")
        .wait()
        .expect("recorded")
    {
        Outcome::Done { .. } => {}
        other => panic!("{other:?}"),
    }
}

/// A recorder that goes back to a key it gave up: a bundle whose records
/// that key signed before another took over is refused at build (a
/// verifier would report `bundle_key_not_in_force`); the segments signed by
/// the other key alone build and verify. A clock stepped back does not date
/// a bundle before its last seal.
#[test]
fn a_returning_key_and_a_clock_stepped_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = reopen(&path, key(1), &clock);
    append(&engine, "a.b", json!(1));
    engine.seal(None).expect("queued").wait().expect("sealed");
    drop(engine);
    let engine = reopen(&path, key(2), &clock);
    append(&engine, "a.b", json!(2));
    engine.seal(None).expect("queued").wait().expect("sealed");
    drop(engine);
    let engine = reopen(&path, key(1), &clock);
    append(&engine, "a.b", json!(3));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let trusted = [key(1).public().clone(), key(2).public().clone()];
    assert!(matches!(
        engine.build_bundle(BundleSelection::Segments { first: 1, last: 2 }, &mut |_| {}),
        Err(BundleError::InvalidSelection(why)) if why.contains("bundle_key_not_in_force")
    ));
    for (first, last) in [(2, 2), (1, 3), (3, 3)] {
        let built = engine
            .build_bundle(BundleSelection::Segments { first, last }, &mut |_| {})
            .expect("builds");
        let bytes = std::fs::read(built.staged_path()).expect("bundle file");
        let report = verify_bundle(&bytes[..], &trusted, &Options::default(), None);
        assert!(
            report.is_valid(),
            "segments {first}..={last}: {:#?}",
            report.findings
        );
    }
    clock.set(START_US - 3_600_000_000);
    let built = engine
        .build_bundle(BundleSelection::Segments { first: 3, last: 3 }, &mut |_| {})
        .expect("builds");
    let bytes = std::fs::read(built.staged_path()).expect("bundle file");
    let report = verify_bundle(&bytes[..], &trusted, &Options::default(), None);
    assert!(report.is_valid(), "{:#?}", report.findings);
    engine.shutdown().expect("shutdown");
}

fn reopen(path: &std::path::Path, key: SecretKey, clock: &Arc<ManualClock>) -> RecorderEngine {
    let mut config = config();
    config.auto_seal.envelopes_max = 10;
    config.bundle_dir = Some(path.with_file_name("bundles"));
    RecorderEngine::open(path, config, key, clock.clone()).expect("opens")
}

/// Builds, records and publishes, as the sidecar does.
fn build(
    engine: &RecorderEngine,
    selection: BundleSelection,
    progress: &mut dyn FnMut(u64),
) -> Result<BundleFile, BundleError> {
    let staged = engine.build_bundle(selection, progress)?;
    assert!(staged.staged_path().is_file(), "staged, not published");
    assert!(!staged.file().path.exists());
    match engine
        .record_bundle_built(&staged, None)
        .expect("queued")
        .wait()
        .expect("recorded")
    {
        Outcome::Done { .. } => engine.publish_bundle(staged),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bundles_of_a_real_history_verify_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let bundles = dir.path().join("bundles");
    let clock = ManualClock::new(START_US);

    // Key 1: appends with a shared attachment, an explicit seal, then enough
    // appends for automatic seals by count.
    let engine = reopen(&path, key(1), &clock);
    with_attachment(&engine, b"shared attachment");
    with_attachment(&engine, b"shared attachment");
    append(&engine, "a.b", json!(1));
    engine.seal(None).expect("queued").wait().expect("sealed");
    for n in 0..25 {
        clock.advance(std::time::Duration::from_millis(1));
        append(&engine, "orders.placed", json!({"n": n}));
    }
    engine.shutdown().expect("shutdown");
    // Key 2 while a segment is open: the change lands inside it.
    let engine = reopen(&path, key(2), &clock);
    assert!(
        engine.status().open_segment.is_some(),
        "a segment is open at the change"
    );
    append(&engine, "after.change", json!(2));
    engine.seal(None).expect("queued").wait().expect("sealed");
    // Stopped without a stop record (which would open a segment), so the
    // next start finds no segment open.
    drop(engine);
    // Key 3 with no segment open: the key event opens one, so its
    // arxi.segment.opened is already signed by key 3.
    let engine = reopen(&path, key(3), &clock);
    let opened = engine
        .status()
        .open_segment
        .expect("the key event opened a segment");
    let first = arxi_format::Envelope::parse(
        &engine
            .envelope_bytes(opened.first_seq)
            .expect("read")
            .expect("found"),
    )
    .expect("parses");
    assert_eq!(first.body.event_type, "arxi.segment.opened");
    assert_eq!(
        &first.body.key_id,
        key(3).id(),
        "signed by the new key before its key event"
    );
    with_attachment(&engine, b"another attachment");
    engine.seal(None).expect("queued").wait().expect("sealed");
    append(&engine, "left.open", json!(3));

    let trusted = [
        key(1).public().clone(),
        key(2).public().clone(),
        key(3).public().clone(),
    ];
    let last_sealed = engine.status().open_segment.expect("open").segment_id - 1;
    let mut progress_calls = 0;
    let all = build(
        &engine,
        BundleSelection::Segments {
            first: 1,
            last: last_sealed,
        },
        &mut |_| progress_calls += 1,
    )
    .expect("builds");
    let recorded = engine
        .recorded_bundle(&all.id)
        .expect("read")
        .expect("recorded");
    assert_eq!(
        (recorded.size, recorded.sha256),
        (all.built.bytes, all.built.sha256)
    );
    assert!(progress_calls >= 1);
    assert!(is_bundle_id(&all.id));
    let bytes = std::fs::read(&all.path).expect("bundle file");
    assert_eq!(bytes.len() as u64, all.built.bytes);
    assert_eq!(arxi_format::Hash32::of(&bytes), all.built.sha256);
    assert!(all.built.sha256.to_hex().starts_with(&all.id));
    assert_eq!(
        all.built.attachments, 3,
        "one A record per reference, shared bytes included"
    );
    let report = verify_bundle(&bytes[..], &trusted, &Options::default(), None);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert_eq!(report.counts.envelopes, all.built.envelopes);
    assert_eq!(report.counts.seals, last_sealed);

    // Every range of segments the API can select verifies, those that
    // start with the segment opened by a key change included, and each
    // bundle continues the one before it.
    let mut previous: Option<arxi_verify::Report> = None;
    for first in 1..=last_sealed {
        for last in first..=last_sealed {
            let range = engine
                .build_bundle(BundleSelection::Segments { first, last }, &mut |_| {})
                .expect("builds");
            let bytes = std::fs::read(range.staged_path()).expect("bundle file");
            let report = verify_bundle(&bytes[..], &trusted, &Options::default(), None);
            assert!(
                report.is_valid(),
                "segments {first}..={last}: {:#?}",
                report.findings
            );
            if first == last {
                if let Some(before) = previous.take() {
                    let series = arxi_verify::SeriesReport::new(vec![before, report.clone()]);
                    assert_eq!(series.exit_code(), 0, "{:?}", series.findings);
                }
                previous = Some(report);
            }
            // Dropping the staged bundle removes its file.
            drop(range);
        }
    }

    // Without key 2 the envelopes it signed are named.
    let report = verify_bundle(
        &bytes[..],
        &[trusted[0].clone(), trusted[2].clone()],
        &Options::default(),
        None,
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code.as_str() == "envelope_untrusted_key")
    );

    // A bundle from the middle of the chain, chosen by sequence numbers.
    let middle = build(
        &engine,
        BundleSelection::Sequence {
            first: 20,
            last: 21,
        },
        &mut |_| {},
    )
    .expect("builds");
    assert!(*middle.built.seqs.start() <= 20 && *middle.built.seqs.end() >= 21);
    assert!(*middle.built.segments.start() > 1);
    let bytes = std::fs::read(&middle.path).expect("bundle file");
    let report = verify_bundle(&bytes[..], &trusted, &Options::default(), None);
    assert!(report.is_valid(), "{:#?}", report.findings);

    // Refusals, and no half-written files left behind.
    let open_segment = last_sealed + 1;
    assert!(matches!(
        build(&engine, BundleSelection::Segments { first: 1, last: open_segment }, &mut |_| {}),
        Err(BundleError::NotSealed(id)) if id == open_segment
    ));
    assert!(matches!(
        build(
            &engine,
            BundleSelection::Segments {
                first: 99,
                last: 99
            },
            &mut |_| {}
        ),
        Err(BundleError::NotFound(_))
    ));
    assert!(matches!(
        build(
            &engine,
            BundleSelection::Sequence { first: 5, last: 4 },
            &mut |_| {}
        ),
        Err(BundleError::InvalidSelection(_))
    ));
    // Not recorded: never published, and gone once dropped. (A later
    // creation time: the same selection at the same time is the same
    // bundle, already recorded.)
    clock.advance(std::time::Duration::from_millis(1));
    let staged = engine
        .build_bundle(BundleSelection::AllSealed, &mut |_| {})
        .expect("builds");
    let staged_path = staged.staged_path().to_owned();
    assert!(matches!(
        engine.publish_bundle(staged),
        Err(BundleError::Inconsistent(_))
    ));
    assert!(!staged_path.exists());
    let mut names: Vec<String> = std::fs::read_dir(&bundles)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec![format!("{}.arxb", all.id), format!("{}.arxb", middle.id)];
    expected.sort();
    assert_eq!(names, expected);
    engine.shutdown().expect("shutdown");
}

/// A database from before the bundle index (schema version 1) gets the
/// index rebuilt from its `arxi.bundle.built` envelopes at open, so the
/// bundles it built stay served and none is quarantined.
#[test]
fn bundles_built_before_the_index_stay_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = reopen(&path, key(1), &clock);
    for n in 0..12 {
        append(&engine, "orders.placed", json!({"n": n}));
    }
    let first = build(&engine, BundleSelection::AllSealed, &mut |_| {}).expect("builds");
    engine.seal(None).expect("queued").wait().expect("sealed");
    let second = build(&engine, BundleSelection::AllSealed, &mut |_| {}).expect("builds");
    engine.shutdown().expect("shutdown");
    // Version 1 had neither the bundle index, the archive and retention
    // state, the log tree, the payloads nor the timestamp tokens.
    arxi_store::fault::execute(
        &path,
        "DROP TABLE idempotency; DROP TABLE payloads; DROP TABLE bundles; DROP TABLE archived; DROP TABLE pruned;
         DROP TABLE attachment_refs; DROP TABLE log_cosignatures;
         DROP TABLE log_checkpoints; DROP TABLE log_nodes; DROP TABLE timestamps;
         DROP INDEX segments_sealed_at; PRAGMA user_version = 1;",
    )
    .expect("back to version 1");

    let engine = reopen(&path, key(1), &clock);
    assert!(engine.recovery().bundle_index_rebuilt);
    assert_eq!(
        engine.recovery().bundle_files,
        arxi_recorder::BundleDirReport::default(),
        "nothing removed or quarantined"
    );
    for file in [&first, &second] {
        let recorded = engine
            .recorded_bundle(&file.id)
            .expect("read")
            .expect("recorded");
        assert_eq!(recorded.size, file.built.bytes);
        assert_eq!(
            engine.open_bundle(&file.id).expect("served").1,
            file.built.bytes
        );
    }
    engine.shutdown().expect("shutdown");
    let engine = reopen(&path, key(1), &clock);
    assert!(!engine.recovery().bundle_index_rebuilt, "once is enough");
    engine.shutdown().expect("shutdown");
}

/// A bundle built with a witnessed checkpoint that covers its last
/// envelope carries it as its anchor (`W`, container version 3): the
/// independent verifier finds the anchor holding, under the witness that
/// cosigned it and without a policy. A checkpoint smaller than the bundle
/// anchors nothing, and a bundle built without one keeps its old bytes.
#[test]
fn a_bundle_carries_the_witnessed_checkpoint_that_covers_it() {
    use arxi_format::note::{Note, NoteSigner, SignatureType};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = reopen(&path, key(1), &clock);
    append(&engine, "a.b", json!(1));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let small = engine
        .checkpoint(0)
        .expect("queued")
        .wait()
        .expect("signed")
        .expect("a checkpoint");
    append(&engine, "a.b", json!(2));
    append(&engine, "a.b", json!(3));
    engine.seal(None).expect("queued").wait().expect("sealed");
    append(&engine, "a.b", json!(4));
    let large = engine
        .checkpoint(0)
        .expect("queued")
        .wait()
        .expect("signed")
        .expect("a checkpoint");
    let witness = NoteSigner::new(
        "w1.example",
        SignatureType::Cosignature,
        SecretKey::from_seed(&[77; 32]).expect("seed"),
    )
    .expect("name");
    let mut note = Note::parse(large.note.to_string().as_bytes()).expect("note");
    note.sign(&witness, 1_800_000_000).expect("cosigns");
    let note = note.to_string();
    let selection = BundleSelection::Segments { first: 1, last: 2 };
    let staged = engine
        .build_bundle_anchored(selection, &PayloadSelection::All, Some(&note), &mut |_| {})
        .expect("builds");
    let built = &staged.file().built;
    assert_eq!(built.anchor, Some(large.size));
    assert!(
        large.size > *built.seqs.end(),
        "the log grew past the bundle"
    );
    let bytes = std::fs::read(staged.staged_path()).expect("bundle file");
    assert!(bytes.starts_with(b"ARXI-BUNDLE 3\n"));
    let trusted = [key(1).public().clone()];
    let report = verify_bundle(&bytes[..], &trusted, &Options::default(), None);
    assert!(report.is_valid(), "{:#?}", report.findings);
    let anchor = report.anchor.expect("anchored");
    assert!(anchor.holds);
    assert_eq!(
        (anchor.tree_size, anchor.leaf_index),
        (large.size, *built.seqs.end() - 1)
    );
    let policy = Options {
        witness: WitnessPolicy {
            witnesses: vec![witness.verifier().clone()],
            quorum: 1,
        },
        ..Options::default()
    };
    let report = verify_bundle(&bytes[..], &trusted, &policy, None);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert_eq!(report.anchor.expect("anchored").witnesses.len(), 1);
    // The checkpoint signed after segment 1 does not cover segment 2.
    let staged = engine
        .build_bundle_anchored(
            selection,
            &PayloadSelection::All,
            Some(&small.note.to_string()),
            &mut |_| {},
        )
        .expect("builds");
    assert_eq!(staged.file().built.anchor, None);
    let unanchored = std::fs::read(staged.staged_path()).expect("bundle file");
    assert!(unanchored.starts_with(b"ARXI-BUNDLE 1\n"));
    let report = verify_bundle(&unanchored[..], &trusted, &policy, None);
    let codes: Vec<&str> = report.codes().iter().map(|code| code.as_str()).collect();
    assert_eq!(codes, ["anchor_missing"]);
    engine.shutdown().expect("shutdown");
}
