//! Archiving and retention at the engine level: archive bundles are the
//! same bytes however often they are built; recording a run writes its
//! `arxi.segment.archived` envelope and archive row together; retention
//! prunes only archived segments beyond the kept ones, in bounded batches;
//! reads of the pruned prefix answer with the archive objects; the local
//! history (seals and the kept envelopes) still verifies end to end, also
//! after a restart.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arxi_format::Hash32;
use arxi_format::bundle::Tag;
use arxi_recorder::bundle::BundleError;
use arxi_recorder::{
    ArchiveRecord, AttachmentInput, EnvelopeQuery, ErasureRequest, ErasureSelector, OpenError,
    Outcome, QueryError, RecorderConfig, RecorderEngine, RestoreError, RestoreRecord,
    RestoreReport, Restorer, RetentionPolicy, control_types, verify_data, verify_database,
};
use arxi_verify::reader::{BundleReader, Record};
use arxi_verify::{Options, verify_bundle};
use serde_json::json;
use support::*;

/// Version 2 envelopes: their payload rows are pruned with them.
fn retention_config() -> RecorderConfig {
    let mut config = config();
    config.auto_seal.envelopes_max = 10;
    config.payloads = arxi_recorder::PayloadPolicy {
        version: 2,
        commit_actor: false,
        commit_subject: true,
    };
    config.retention = Some(RetentionPolicy {
        keep_segments_min: 2,
        keep_age: Duration::from_secs(60),
        check_interval: Duration::from_secs(1),
        delete_rows_per_batch: 7,
        vacuum_pages_per_batch: 16,
    });
    config
}

fn append_with_attachment(engine: &RecorderEngine, index: u64) {
    let mut request = request("docs.filed", json!({"n": index}));
    request.attachments = vec![AttachmentInput {
        name: "doc.bin".into(),
        media_type: "application/octet-stream".into(),
        bytes: Arc::from(vec![u8::try_from(index % 251).expect("small"); 2_000]),
    }];
    let outcome = engine.append(request).expect("queued").wait();
    assert!(matches!(outcome, Ok(Outcome::Done { .. })), "{outcome:?}");
}

/// Archives every sealed segment not archived yet, one run of up to
/// `run` segments at a time, as the archiver does (without the bucket).
fn archive_all(engine: &RecorderEngine, run: u64) -> Vec<ArchiveRecord> {
    archive_all_keeping(engine, run, &mut Vec::new())
}

/// [`archive_all`], keeping each uploaded bundle's bytes in `bucket`.
fn archive_all_keeping(
    engine: &RecorderEngine,
    run: u64,
    bucket: &mut Vec<(ArchiveRecord, Vec<u8>)>,
) -> Vec<ArchiveRecord> {
    let mut records = Vec::new();
    loop {
        let position = engine.archive_position().expect("position");
        if position.lag_segments() == 0 {
            return records;
        }
        let first = position.archived_through + 1;
        let last = position.sealed_through.min(first + run - 1);
        let mut bytes = Vec::new();
        let built = engine
            .write_archive_bundle(first, last, &mut bytes)
            .expect("bundle");
        let mut again = Vec::new();
        engine
            .write_archive_bundle(first, last, &mut again)
            .expect("bundle again");
        assert_eq!(
            bytes, again,
            "an archive bundle is the same bytes every time"
        );
        let report = verify_bundle(
            bytes.as_slice(),
            &[key(1).public().clone()],
            &Options::default(),
            None,
        );
        assert!(report.is_valid(), "{:?}", report.findings);
        let record = ArchiveRecord {
            first_segment: first,
            last_segment: last,
            first_seq: *built.seqs.start(),
            last_seq: *built.seqs.end(),
            object_key: format!("test/{first:012}-{last:012}-{}.arxb", built.sha256),
            sha256: built.sha256,
            size: built.bytes,
        };
        let outcome = engine
            .record_archived(record.clone())
            .expect("queued")
            .wait();
        assert!(matches!(outcome, Ok(Outcome::Done { .. })), "{outcome:?}");
        bucket.push((record.clone(), bytes));
        records.push(record);
    }
}

#[test]
fn retention_prunes_archived_segments_and_the_history_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine =
        RecorderEngine::open(&path, retention_config(), key(1), clock.clone()).expect("opens");
    for index in 0..60 {
        append_with_attachment(&engine, index);
    }
    let sealed = engine.archive_position().expect("position").sealed_through;
    assert!(sealed >= 6, "{sealed} sealed");
    // Nothing is pruned before it is archived, however old.
    clock.advance(Duration::from_secs(120));
    append(&engine, "tick", json!({}));
    assert_eq!(
        engine
            .retention_status()
            .expect("status")
            .pruned_through_segment,
        0
    );
    let records = archive_all(&engine, 2);
    assert!(records.len() >= 3);
    // A run recorded twice (or out of order) is refused by the store.
    let again = engine
        .record_archived(records[0].clone())
        .expect("queued")
        .wait();
    assert!(again.is_err(), "{again:?}");

    let position = engine.archive_position().expect("position");
    arxi_testkit::eventually("retention prunes", Duration::from_secs(20), || {
        clock.advance(Duration::from_secs(2));
        let status = engine.retention_status().expect("status");
        status.pruned_through_segment > 0
            && engine
                .with_reader(|reader| reader.first_envelope_seq())
                .expect("read")
                .is_some_and(|seq| seq > status.pruned_through_seq)
    });
    let status = engine.retention_status().expect("status");
    // The newest two sealed segments stay, and a run is pruned whole.
    assert!(status.pruned_through_segment <= position.sealed_through - 2);
    assert!(
        records
            .iter()
            .any(|record| record.last_segment == status.pruned_through_segment)
    );
    check_pruned_reads(
        &engine,
        &records,
        status.pruned_through_segment,
        status.pruned_through_seq,
    );
    let pruned_envelopes = engine
        .with_reader(|reader| reader.count_of_type(control_types::SEGMENT_PRUNED))
        .expect("read");
    assert!(pruned_envelopes >= 1);
    check_pruned_proofs(&engine, status.pruned_through_seq);
    let payloads = |from, to| {
        engine
            .with_reader(|reader| reader.has_payloads(from, to))
            .expect("read")
    };
    assert!(
        !payloads(1, status.pruned_through_seq),
        "pruned with their envelopes"
    );
    assert!(
        payloads(status.pruned_through_seq + 1, u64::MAX >> 1),
        "kept ones stay"
    );
    engine.shutdown().expect("shutdown");
    drop(engine);

    // The whole local history verifies: pruned seals, anchors, the rest.
    let (envelopes, seals) = verify_database(&path, None).expect("verifies");
    assert!(envelopes > 0 && seals >= status.pruned_through_segment);
    let report = verify_data(&path, false).expect("checks");
    assert!(report.is_valid(), "{:?}", report.findings);
    assert_eq!(report.pruned_through_seq, Some(status.pruned_through_seq));
    assert_eq!(report.envelopes, envelopes);
    assert!(report.seals >= status.pruned_through_segment);
    // Damage to a pruned segment's seal is still found.
    arxi_store::fault::execute(
        &path,
        "UPDATE seals SET body = CAST(REPLACE(CAST(body AS TEXT), '\"segment_id\":1,', '\"segment_id\":9,') AS BLOB) WHERE segment_id = 1",
    )
    .expect("damages the first seal");
    let report = verify_data(&path, false).expect("checks");
    assert!(!report.is_valid(), "a damaged pruned seal must be found");
    arxi_store::fault::execute(
        &path,
        "UPDATE seals SET body = CAST(REPLACE(CAST(body AS TEXT), '\"segment_id\":9,', '\"segment_id\":1,') AS BLOB) WHERE segment_id = 1",
    )
    .expect("repairs it");
    let mut config = retention_config();
    config.startup_verification_depth = 1_000_000;
    let engine = RecorderEngine::open(&path, config, key(1), clock.clone()).expect("reopens");
    assert!(engine.recovery().verified_seals >= status.pruned_through_segment);
    engine.shutdown().expect("shutdown");
}

/// A pruned envelope, and a kept one whose 16-leaf tile of the log tree
/// reaches into the pruned prefix, answer with the pruned range; an
/// envelope a tile further on has its proof; and the tree's last partial
/// tile is never pruned (the right edge is computed from it).
fn check_pruned_proofs(engine: &RecorderEngine, through_seq: u64) {
    let range = engine.pruned_for_envelope(through_seq).expect("read");
    assert_eq!(range.map(|range| range.through_seq), Some(through_seq));
    let tile_start = ((through_seq >> 4) << 4) + 1;
    if through_seq + 1 < tile_start + 16 {
        assert!(
            engine
                .pruned_for_envelope(through_seq + 1)
                .expect("read")
                .is_some()
        );
    }
    let head = engine.status().head_seq;
    assert!(
        head >= through_seq + 16,
        "head {head}, pruned {through_seq}"
    );
    let clear = tile_start + 16;
    assert_eq!(engine.pruned_for_envelope(clear).expect("read"), None);
    let proof = engine
        .inclusion_proof(clear, head)
        .expect("a kept envelope's proof");
    assert!(!proof.is_empty());
}

fn check_pruned_reads(
    engine: &RecorderEngine,
    records: &[ArchiveRecord],
    through_segment: u64,
    through_seq: u64,
) {
    // A query reaching the pruned prefix names the archive objects.
    match engine.query(&EnvelopeQuery::default()) {
        Err(QueryError::Pruned(range)) => {
            assert_eq!(range.through_seq, through_seq);
            assert_eq!(range.object_keys.first(), Some(&records[0].object_key));
        }
        other => panic!("{other:?}"),
    }
    let kept = engine
        .query(&EnvelopeQuery {
            seq_from: Some(through_seq + 1),
            ..EnvelopeQuery::default()
        })
        .expect("the kept part answers");
    assert!(!kept.envelopes.is_empty());
    // Bundle builds of pruned segments name the objects too; the kept
    // segments still build and verify, anchored on the pruned seals.
    let pruned = engine.write_archive_bundle(1, through_segment, Vec::new());
    assert!(matches!(pruned, Err(BundleError::Pruned(_))), "{pruned:?}");
    let mut bytes = Vec::new();
    engine
        .write_archive_bundle(through_segment + 1, through_segment + 1, &mut bytes)
        .expect("a kept segment builds");
    let report = verify_bundle(
        bytes.as_slice(),
        &[key(1).public().clone()],
        &Options::default(),
        None,
    );
    assert!(report.is_valid(), "{:?}", report.findings);
    // Attachments referenced only by pruned envelopes are gone.
    let first_payload = Hash32::of(&vec![0_u8; 2_000]);
    assert_eq!(
        engine
            .with_reader(|reader| reader.attachment(&first_payload.0))
            .expect("read"),
        None
    );
}

/// An event about a person (version 2: its subject committed), with an
/// attachment.
fn person_event(engine: &RecorderEngine, index: u64) {
    let mut request = request("customers.updated", json!({"n": index}));
    request.subject = Some(format!("person-{}", index % 4));
    request.attachments = vec![AttachmentInput {
        name: "scan.bin".into(),
        media_type: "application/octet-stream".into(),
        bytes: Arc::from(vec![u8::try_from(index % 251).expect("small"); 300]),
    }];
    let outcome = engine.append(request).expect("queued").wait();
    assert!(matches!(outcome, Ok(Outcome::Done { .. })), "{outcome:?}");
}

/// The records of an archived bundle, as the sidecar's restore reads
/// them (manifest and trailer left out: the bundle was verified).
fn restore_records(bundle: &[u8]) -> Vec<Result<RestoreRecord, String>> {
    let mut reader = BundleReader::open(bundle).expect("a bundle");
    let mut records = Vec::new();
    loop {
        let mut attachment = Vec::new();
        let Some(record) = reader.next_record_copying(&mut attachment).expect("reads") else {
            return records;
        };
        records.push(Ok(match record {
            Record::Attachment { .. } => RestoreRecord::Attachment(attachment),
            Record::Json { tag, payload } => match tag {
                Tag::Key => RestoreRecord::Key(payload),
                Tag::Envelope => RestoreRecord::Envelope(payload),
                Tag::Payload => RestoreRecord::Payload(payload),
                Tag::Seal => RestoreRecord::Seal(payload),
                Tag::Delegation => RestoreRecord::Delegation(payload),
                _ => continue,
            },
        }));
    }
}

/// The records of a bundle with its fifth envelope left out (its payload
/// and attachment records stay: they then follow the wrong envelope).
fn without_fifth_envelope(bundle: &[u8]) -> Vec<Result<RestoreRecord, String>> {
    let mut records = restore_records(bundle);
    let fifth = records
        .iter()
        .enumerate()
        .filter(|(_, record)| matches!(record, Ok(RestoreRecord::Envelope(_))))
        .nth(4)
        .map(|(index, _)| index)
        .expect("five envelopes");
    let _ = records.remove(fifth);
    records
}

/// Brings the database at `path` forward with the archived bundles after
/// its last seal, in order.
fn restore_from(
    path: &Path,
    bucket: &[(ArchiveRecord, Vec<u8>)],
) -> Result<RestoreReport, RestoreError> {
    let mut restorer = Restorer::open(path, "test-recorder", &[])?;
    let sealed = restorer.point().sealed_through;
    for (_, bytes) in bucket.iter().filter(|(run, _)| run.last_segment > sealed) {
        restorer.restore_bundle(restore_records(bytes))?;
    }
    restorer.finish()
}

/// Restores every bundle of `bucket` in order with `restorer`, finishes,
/// and checks the database at `path` offline; answers the check.
fn restore_all_and_check(
    mut restorer: Restorer,
    bucket: &[(ArchiveRecord, Vec<u8>)],
    path: &Path,
) -> arxi_recorder::DataReport {
    for (_, bytes) in bucket {
        restorer
            .restore_bundle(restore_records(bytes))
            .expect("restores");
    }
    restorer.finish().expect("finishes");
    let data = verify_data(path, false).expect("checks");
    assert!(data.is_valid(), "{:?}", data.findings);
    data
}

/// What a database holds of envelopes `from..=to`: hashes, and per
/// version 2 envelope whether its payload is erased (and by which).
fn holdings(engine: &RecorderEngine, from: u64, to: u64) -> Vec<(u64, [u8; 32], Option<u64>)> {
    engine
        .with_reader(|reader| {
            reader
                .envelope_hashes(from, to)?
                .into_iter()
                .map(|(seq, hash)| {
                    let erased = reader.payload(seq)?.and_then(|row| row.erased_by);
                    Ok((seq, hash, erased))
                })
                .collect()
        })
        .expect("read")
}

#[test]
fn a_restored_backup_is_brought_forward_from_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let backup = dir.path().join("backup.db");
    let clock = ManualClock::new(START_US);
    let engine =
        RecorderEngine::open(&path, retention_config(), key(1), clock.clone()).expect("opens");
    let mut bucket = Vec::new();
    for index in 0..25 {
        person_event(&engine, index);
    }
    archive_all_keeping(&engine, 2, &mut bucket);
    // The backup ends inside a segment the archive later holds whole.
    arxi_recorder::backup_database(&path, &backup).expect("backup");
    for index in 25..70 {
        person_event(&engine, index);
    }
    // One erasure names envelopes from before and after the backup.
    let erased = engine
        .erase(ErasureRequest {
            selector: ErasureSelector::Subject("person-1".into()),
            reason: "GDPR Art. 17 request 4".into(),
            idempotency: None,
        })
        .expect("queued")
        .wait()
        .expect("erased");
    let Outcome::Done { value: erased, .. } = erased else {
        panic!("not erased: {erased:?}");
    };
    archive_all_keeping(&engine, 2, &mut bucket);
    arxi_testkit::eventually("retention prunes", Duration::from_secs(20), || {
        clock.advance(Duration::from_secs(2));
        append(&engine, "tick", json!({}));
        engine
            .retention_status()
            .expect("status")
            .pruned_through_segment
            > 0
    });
    // The pruning and the erasure reach the archive too.
    for index in 70..95 {
        person_event(&engine, index);
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    archive_all_keeping(&engine, 2, &mut bucket);
    let retention = engine.retention_status().expect("status");
    let last_archived_seq = bucket.last().expect("archived").0.last_seq;
    // What the restored chain says is archived: the runs whose
    // `arxi.segment.archived` is in an archived segment itself (the
    // archiver uploads the others again, to the same object keys).
    let archived = engine
        .with_reader(|reader| reader.archived_covering(1, u64::MAX >> 1, 1_000))
        .expect("read")
        .iter()
        .filter(|row| row.seq <= last_archived_seq)
        .map(|row| row.last_segment)
        .max()
        .expect("archived runs");
    let original = holdings(&engine, retention.pruned_through_seq + 1, last_archived_seq);
    engine.shutdown().expect("shutdown");
    drop(engine);

    restore_backup(&backup, &path);
    let report = restore_from(&path, &bucket).expect("restores");
    assert!(report.segments >= 5 && report.envelopes > 50, "{report:?}");
    assert!(
        report.already_held > 0,
        "the backup's open segment: {report:?}"
    );
    assert!(report.prunings >= 1 && report.erasures == 1, "{report:?}");
    let again = restore_from(&path, &bucket).expect("restores again");
    assert_eq!((again.segments, again.envelopes), (0, 0), "{again:?}");
    let data = verify_data(&path, false).expect("checks");
    assert!(data.is_valid(), "{:?}", data.findings);
    assert_eq!(data.pruned_through_seq, Some(retention.pruned_through_seq));

    // With every backup lost too, a new database is made from the archive
    // alone (its keys trusted explicitly: there is no database to know them).
    let rebuilt = dir.path().join("rebuilt.db");
    assert!(
        Restorer::create(&rebuilt, "test-recorder", &[]).is_ok_and(|restorer| {
            let mut restorer = restorer;
            restorer
                .restore_bundle(restore_records(&bucket[0].1))
                .is_err()
        })
    );
    std::fs::remove_file(&rebuilt).expect("remove");
    let mut restorer =
        Restorer::create(&rebuilt, "test-recorder", &[key(1).public().clone()]).expect("creates");
    // A refused segment leaves nothing behind, not even the key row it
    // would have written (the next one writes it).
    let cut = without_fifth_envelope(&bucket[0].1);
    assert!(restorer.restore_bundle(cut).is_err());
    assert_eq!(restorer.point().head_seq, 0);
    let data = restore_all_and_check(restorer, &bucket, &rebuilt);
    assert_eq!(data.pruned_through_seq, Some(retention.pruned_through_seq));
    let restorer = Restorer::open(&rebuilt, "test-recorder", &[]).expect("opens");
    assert_eq!(restorer.point().head_seq, last_archived_seq);
    drop(restorer);
    assert!(matches!(
        Restorer::open(&rebuilt, "another-recorder", &[]),
        Err(RestoreError::Refused(_))
    ));
    assert!(matches!(
        Restorer::create(&rebuilt, "test-recorder", &[]),
        Err(RestoreError::Refused(_))
    ));

    // The envelopes after the last archived seal were never archived: the
    // signed head still names them, and the acknowledgement opens it.
    let rollback = match RecorderEngine::open(&path, retention_config(), key(1), clock.clone()) {
        Err(OpenError::BehindSignedHead(rollback)) => rollback,
        other => panic!("expected a refusal naming the unarchived tail, got {other:?}"),
    };
    assert_eq!(rollback.database_seq, last_archived_seq);
    let mut config = retention_config();
    config.rollback_acknowledged_seq = Some(rollback.signed.seq);
    let engine = RecorderEngine::open(&path, config, key(1), clock.clone()).expect("opens");
    assert_eq!(
        holdings(&engine, retention.pruned_through_seq + 1, last_archived_seq),
        original
    );
    for seq in &erased.erased {
        let row = engine
            .with_reader(|reader| reader.payload(*seq))
            .expect("read");
        assert!(
            row.as_ref().is_none_or(|row| row.content.is_none()),
            "payload {seq} came back: {row:?}"
        );
    }
    let position = engine.archive_position().expect("position");
    assert_eq!(position.archived_through, archived);
    engine.shutdown().expect("shutdown");
}

#[test]
fn a_restore_refuses_what_does_not_continue_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path_a, path_b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let clock = ManualClock::new(START_US);
    let engine =
        RecorderEngine::open(&path_a, retention_config(), key(1), clock.clone()).expect("opens");
    let backup = dir.path().join("a-backup.db");
    person_event(&engine, 0);
    arxi_recorder::backup_database(&path_a, &backup).expect("backup");
    let mut bucket = Vec::new();
    for index in 1..25 {
        person_event(&engine, index);
    }
    archive_all_keeping(&engine, 1, &mut bucket);
    engine.shutdown().expect("shutdown");
    drop(engine);

    // The same recorder id and key, another history: a fork.
    let other =
        RecorderEngine::open(&path_b, retention_config(), key(1), clock.clone()).expect("opens");
    for index in 100..104 {
        person_event(&other, index);
    }
    other.shutdown().expect("shutdown");
    drop(other);
    let head = Restorer::open(&path_b, "test-recorder", &[])
        .expect("opens")
        .point()
        .head_seq;
    match restore_from(&path_b, &bucket) {
        Err(RestoreError::Refused(reason)) => assert!(reason.contains("differs"), "{reason}"),
        other => panic!("a fork must be refused, got {other:?}"),
    }
    let restorer = Restorer::open(&path_b, "test-recorder", &[]).expect("opens");
    assert_eq!(restorer.point().head_seq, head, "nothing written");
    drop(restorer);

    // Records that do not follow each other are refused before the
    // segment is written: one envelope left out, a payload altered.
    restore_backup(&backup, &path_a);
    let gap = without_fifth_envelope(&bucket[0].1);
    let mut restorer = Restorer::open(&path_a, "test-recorder", &[]).expect("opens");
    let before = restorer.point();
    let refusal = restorer.restore_bundle(gap).expect_err("a gap is refused");
    assert!(matches!(refusal, RestoreError::Refused(_)), "{refusal}");
    assert_eq!(restorer.point(), before);
    let altered: Vec<_> = restore_records(&bucket[0].1)
        .into_iter()
        .map(|record| match record {
            Ok(RestoreRecord::Payload(bytes)) => Ok(RestoreRecord::Payload(
                String::from_utf8(bytes)
                    .expect("utf-8")
                    .replace("\"n\":3}", "\"n\":4}")
                    .into_bytes(),
            )),
            other => other,
        })
        .collect();
    let refusal = restorer
        .restore_bundle(altered)
        .expect_err("an altered payload is refused");
    assert!(refusal.to_string().contains("commitment"), "{refusal}");
    assert_eq!(restorer.point(), before);
    // The intact bundle goes through after the refusals.
    restorer
        .restore_bundle(restore_records(&bucket[0].1))
        .expect("restores");
    assert_eq!(restorer.point().sealed_through, bucket[0].0.last_segment);
}

/// A recorder with subject keys archives no payload sealed under one (so
/// crypto-shredding never has a copy in the archive to miss): its archive
/// bundles withhold them, disclose the payloads of envelopes without a
/// subject, verify, and rebuild a database whose withheld rows say so.
#[test]
fn with_subject_keys_the_archive_holds_no_sealed_payload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let keys = dir.path().join("subject-keys.db");
    let mut config = retention_config();
    config.retention = None;
    config.subject_keys = Some(keys.clone());
    let engine =
        RecorderEngine::open(&path, config, key(1), ManualClock::new(START_US)).expect("opens");
    let secret = |index: u64| format!("PERSONAL-{index}-{}", Hash32::of(b"shred").to_hex());
    let open_text = |index: u64| format!("PUBLIC-{index}-{}", Hash32::of(b"open").to_hex());
    for index in 0..25_u64 {
        let mut personal = request("customers.updated", json!({"secret": secret(index)}));
        personal.subject = Some(format!("person-{}", index % 3));
        let outcome = engine.append(personal).expect("queued").wait();
        assert!(matches!(outcome, Ok(Outcome::Done { .. })), "{outcome:?}");
        append(&engine, "stock.counted", json!({"note": open_text(index)}));
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    let mut bucket = Vec::new();
    archive_all_keeping(&engine, 2, &mut bucket);
    assert!(bucket.len() >= 2, "{} runs", bucket.len());
    let holds = |text: &str| {
        bucket.iter().any(|(_, bytes)| {
            bytes
                .windows(text.len())
                .any(|window| window == text.as_bytes())
        })
    };
    assert!(
        (0..25).all(|index| !holds(&secret(index))),
        "no sealed payload archived"
    );
    assert!(
        (0..25).all(|index| holds(&open_text(index))),
        "the others are"
    );
    engine.shutdown().expect("shutdown");

    let rebuilt = dir.path().join("rebuilt.db");
    let restorer = Restorer::create(&rebuilt, "test-recorder", &[key(1).public().clone()])
        .expect("creates")
        .with_subject_keys(&keys)
        .expect("keys");
    restore_all_and_check(restorer, &bucket, &rebuilt);
    let engine = RecorderEngine::open(
        &rebuilt,
        retention_config(),
        key(1),
        ManualClock::new(START_US + 1_000_000),
    )
    .expect("the rebuilt database opens");
    let (withheld, disclosed) = engine
        .with_reader(|reader| {
            let mut counts = (0, 0);
            for seq in 1..=reader.last_envelope()?.map_or(0, |row| row.seq) {
                match reader.payload(seq)? {
                    Some(row) if row.withheld => counts.0 += 1,
                    Some(row) if row.content.is_some() => counts.1 += 1,
                    _ => {}
                }
            }
            Ok(counts)
        })
        .expect("read");
    assert_eq!((withheld, disclosed), (25, 25));
    engine.shutdown().expect("shutdown");
}

/// With delegated keys (a new key every 7 envelopes and at every start),
/// the archive's bundles carry their delegations: a database made from
/// the archive alone, trusting only the root, holds every envelope and
/// verifies, and the recorder opens on it and delegates again.
#[test]
fn a_database_of_delegated_keys_is_rebuilt_from_the_archive_under_the_root_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let delegating = || {
        let mut config = retention_config();
        config.retention = None;
        config.delegation = Some(arxi_recorder::DelegationPolicy {
            rotate_envelopes: 7,
            rotate_after: Duration::from_secs(3_600),
        });
        config
    };
    let mut bucket = Vec::new();
    let engine = RecorderEngine::open(&path, delegating(), key(1), clock.clone()).expect("opens");
    for index in 0..30 {
        person_event(&engine, index);
    }
    engine.shutdown().expect("shutdown");
    let engine = RecorderEngine::open(&path, delegating(), key(1), clock.clone()).expect("opens");
    for index in 30..45 {
        person_event(&engine, index);
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    archive_all_keeping(&engine, 2, &mut bucket);
    let keys = engine.keys().expect("keys");
    assert!(keys.len() >= 6, "rotations and the restart: {keys:?}");
    assert!(
        keys.iter()
            .all(|recorded| recorded.public_key != *key(1).public()),
        "the root signs no envelope"
    );
    let last_archived_seq = bucket.last().expect("archived").0.last_seq;
    let original = holdings(&engine, 1, last_archived_seq);
    engine.shutdown().expect("shutdown");
    drop(engine);

    let rebuilt = dir.path().join("rebuilt.db");
    let restorer =
        Restorer::create(&rebuilt, "test-recorder", &[key(1).public().clone()]).expect("creates");
    restore_all_and_check(restorer, &bucket, &rebuilt);
    // A root the database does not know refuses the first delegation.
    let other = dir.path().join("other.db");
    let mut restorer = Restorer::create(&other, "test-recorder", &[]).expect("creates");
    let refused = restorer.restore_bundle(restore_records(&bucket[0].1));
    assert!(
        matches!(&refused, Err(RestoreError::Refused(why)) if why.contains("delegation")),
        "{refused:?}"
    );
    // The rebuilt database opens (its signed head is the original's),
    // delegates again and holds what the original held.
    std::fs::copy(
        arxi_recorder::head_path(&path),
        arxi_recorder::head_path(&rebuilt),
    )
    .expect("head");
    let mut config = delegating();
    config.rollback_acknowledged_seq = Some(
        match RecorderEngine::open(&rebuilt, delegating(), key(1), clock.clone()) {
            Err(OpenError::BehindSignedHead(rollback)) => rollback.signed.seq,
            Ok(_) => panic!("the archive ends before the signed head (the stop record)"),
            Err(other) => panic!("{other:?}"),
        },
    );
    let engine = RecorderEngine::open(&rebuilt, config, key(1), clock.clone()).expect("opens");
    assert_eq!(holdings(&engine, 1, last_archived_seq), original);
    person_event(&engine, 45);
    engine.seal(None).expect("queued").wait().expect("sealed");
    engine.shutdown().expect("shutdown");
    let data = verify_data(&rebuilt, false).expect("checks");
    assert!(data.is_valid(), "{:?}", data.findings);
}
