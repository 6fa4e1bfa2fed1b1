//! The recorder engine on a real SQLite file: chaining, segments, seals,
//! auto-seal, concurrency, idempotency, key changes, recovery, tampering and
//! a full disk.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arxi_format::{Envelope, Kind, Seal};
use arxi_recorder::{
    CommandError, EnvelopeQuery, OpenError, Outcome, QueryError, Receipt, RecorderEngine,
    SubmitError, SystemClock, control_types,
};
use serde_json::json;
use support::*;

fn temp() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    (dir, path)
}

fn all_envelopes(engine: &RecorderEngine) -> Vec<Envelope> {
    let mut envelopes = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine
            .query(&EnvelopeQuery {
                cursor: cursor.clone(),
                limit: Some(1000),
                ..EnvelopeQuery::default()
            })
            .expect("query");
        envelopes.extend(
            page.envelopes
                .iter()
                .map(|bytes| Envelope::parse(bytes).expect("parses")),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return envelopes,
        }
    }
}

#[test]
fn records_chains_segments_and_seals() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let engine = open(&path, config(), clock.clone());
    let first = append(&engine, "orders.created", json!({"id": 1}));
    // segment.opened, key.loaded and recorder.started precede it.
    assert_eq!(first.seq, 4);
    assert_eq!(first.segment_id, 1);
    clock.advance(Duration::from_millis(5));
    let second = append(&engine, "orders.paid", json!({"id": 1, "amount": 9.5}));
    assert_eq!(second.seq, 5);
    assert_eq!(second.prev_hash, first.hash);
    assert!(second.received_at > first.received_at);

    let opened = engine.open_segment(None).expect("queued").wait();
    assert_eq!(
        opened,
        Err(CommandError::SegmentAlreadyOpen { segment_id: 1 })
    );
    let sealed = match engine.seal(None).expect("queued").wait().expect("sealed") {
        Outcome::Done { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            sealed.segment_id,
            sealed.first_seq,
            sealed.last_seq,
            sealed.count
        ),
        (1, 1, 6, 6)
    );
    assert_eq!(
        engine.seal(None).expect("queued").wait(),
        Err(CommandError::NoOpenSegment)
    );

    let third = append(&engine, "orders.shipped", json!({"id": 1}));
    assert_eq!(
        (third.seq, third.segment_id),
        (8, 2),
        "a new segment opens on demand"
    );
    let segment = match engine.open_segment(None).expect("queued").wait() {
        Err(CommandError::SegmentAlreadyOpen { segment_id }) => segment_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(segment, 2);

    let envelopes = all_envelopes(&engine);
    let types: Vec<&str> = envelopes
        .iter()
        .map(|e| e.body.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            control_types::SEGMENT_OPENED,
            control_types::KEY_LOADED,
            control_types::RECORDER_STARTED,
            "orders.created",
            "orders.paid",
            control_types::SEGMENT_SEALED,
            control_types::SEGMENT_OPENED,
            "orders.shipped",
        ]
    );
    let seal = Seal::parse(&engine.seal_bytes(1).expect("read").expect("sealed")).expect("parses");
    assert_eq!(seal.hash, sealed.seal_hash);
    assert_eq!(seal.body.merkle_root, sealed.merkle_root);
    let opened_payload = envelopes[6]
        .body
        .payload
        .inline()
        .expect("a payload")
        .to_value();
    assert_eq!(
        opened_payload["prev_seal_hash"],
        json!(sealed.seal_hash.to_hex())
    );
    assert_eq!(opened_payload["reason"], json!("append"));

    engine.shutdown().expect("clean shutdown");
    assert_eq!(
        verify_all(&path),
        (9, 1),
        "every envelope and seal verifies"
    );
    let reopened = open(&path, config(), clock.clone());
    assert_eq!(reopened.recovery().previous_shutdown, "clean");
    assert_eq!(reopened.recovery().verified_envelopes, 9);
    let started = all_envelopes(&reopened).pop().expect("started");
    assert_eq!(started.body.event_type, control_types::RECORDER_STARTED);
    assert_eq!(
        started.body.payload.inline().expect("a payload").to_value()["previous_shutdown"],
        json!("clean")
    );
    assert_eq!(reopened.status().head_seq, 10);
}

#[test]
fn receive_time_never_goes_back() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let engine = open(&path, config(), clock.clone());
    let before = append(&engine, "a.b", json!(1));
    clock.set(START_US - 60_000_000);
    let after = append(&engine, "a.b", json!(2));
    assert_eq!(
        after.received_at, before.received_at,
        "clamped to the last recorded time"
    );
}

/// A clock outside what a timestamp can say (before 1970, after 9999) is
/// refused with a typed error and nothing is stamped with a made-up time;
/// once the clock is back, writing goes on where it was. A recorder cannot
/// open on such a clock either (it could not date its start).
#[test]
fn a_clock_out_of_range_is_refused_not_stamped() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let engine = open(&path, config(), clock.clone());
    let before = append(&engine, "a.b", json!(1));
    for bad in [-1, i64::MIN, 253_402_300_800_000_000, i64::MAX] {
        clock.set(bad);
        let refused = engine
            .append(request("a.b", json!(2)))
            .expect("queued")
            .wait();
        assert_eq!(
            refused,
            Err(CommandError::ClockOutOfRange { micros: bad }),
            "{bad}"
        );
        assert_eq!(
            engine.status().head_seq,
            before.seq,
            "nothing recorded at {bad}"
        );
    }
    clock.set(START_US + 1_000_000);
    let after = append(&engine, "a.b", json!(3));
    assert_eq!(after.seq, before.seq + 1);
    assert_eq!(after.received_at.unix_micros(), START_US + 1_000_000);
    engine.shutdown().expect("shutdown");

    clock.set(-5);
    match RecorderEngine::open(&path, config(), key(1), clock.clone()) {
        Err(OpenError::ClockOutOfRange { micros }) => assert_eq!(micros, -5),
        other => panic!("opened on a clock out of range: {other:?}"),
    }
}

#[test]
fn rejects_bad_requests_before_queueing() {
    let (_dir, path) = temp();
    let engine = open(&path, config(), Arc::new(SystemClock));
    let check = |mutate: fn(&mut arxi_recorder::AppendRequest), field: &str| {
        let mut bad = request("ok.type", json!({}));
        mutate(&mut bad);
        match engine.append(bad) {
            Err(SubmitError::Invalid { field: found, .. }) => assert_eq!(found, field),
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    };
    check(|r| r.event_type = "arxi.segment.sealed".into(), "type");
    check(|r| r.event_type = "has space".into(), "type");
    check(|r| r.actor = Some("".into()), "actor");
    check(|r| r.subject = Some("a\nb".into()), "subject");
    check(
        |r| {
            let attachment = arxi_recorder::AttachmentInput {
                name: "x".into(),
                media_type: "text/plain".into(),
                bytes: Arc::from(&b"1"[..]),
            };
            r.attachments = vec![attachment.clone(), attachment];
        },
        "attachments",
    );
    let mut big = request("ok.type", json!({}));
    big.payload = arxi_format::CanonicalJson::from_value(&json!("x".repeat(2 * 1024 * 1024)))
        .expect("canonical");
    assert!(matches!(
        engine.append(big),
        Err(SubmitError::TooLarge { .. })
    ));
}

#[test]
fn attachments_are_stored_by_content() {
    let (_dir, path) = temp();
    let engine = open(&path, config(), Arc::new(SystemClock));
    let mut with_file = request("docs.signed", json!({"doc": 1}));
    with_file.attachments = vec![arxi_recorder::AttachmentInput {
        name: "contract.pdf".into(),
        media_type: "application/pdf".into(),
        bytes: Arc::from(&b"%PDF-1.7 contract"[..]),
    }];
    let receipt = match engine
        .append(with_file)
        .expect("queued")
        .wait()
        .expect("ok")
    {
        Outcome::Done { value, .. } => value,
        other => panic!("{other:?}"),
    };
    let envelope = Envelope::parse(
        &engine
            .envelope_bytes(receipt.seq)
            .expect("read")
            .expect("found"),
    )
    .expect("parses");
    let reference = &envelope.body.attachments[0];
    assert_eq!(
        reference.sha256,
        arxi_format::Hash32::of(b"%PDF-1.7 contract")
    );
    let stored = engine
        .with_reader(|reader| reader.attachment(reference.sha256.as_bytes()))
        .expect("read");
    assert_eq!(stored.as_deref(), Some(&b"%PDF-1.7 contract"[..]));
}

#[test]
fn concurrent_appends_share_commits_and_never_fork() {
    let (_dir, path) = temp();
    let engine = Arc::new(open(&path, config(), Arc::new(SystemClock)));
    let threads: Vec<_> = (0..16)
        .map(|thread| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                (0..100)
                    .map(|index| {
                        append(
                            &engine,
                            "load.event",
                            json!({"thread": thread, "index": index}),
                        )
                        .seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        1_600,
        "every append got its own sequence number"
    );
    let metrics = engine.metrics();
    assert!(
        metrics.commits_total < 1_600,
        "group commit: {} commits for 1600 appends",
        metrics.commits_total
    );
    engine.shutdown().expect("shutdown");
    let (envelopes, _) = verify_all(&path);
    assert_eq!(envelopes, 1_600 + 4);
}

#[test]
fn auto_seals_by_count_bytes_and_age() {
    let (_dir, path) = temp();
    let mut by_count = config();
    by_count.auto_seal.envelopes_max = 10;
    let engine = open(&path, by_count, Arc::new(SystemClock));
    for index in 0..40 {
        append(&engine, "count.event", json!(index));
    }
    let segments = engine.segments(0, 100).expect("segments");
    assert!(segments.len() >= 4);
    for segment in segments.iter().filter(|s| s.sealed_at.is_some()) {
        assert_eq!(
            segment.envelope_count, 10,
            "segment {} sealed at the count",
            segment.segment_id
        );
    }
    engine.shutdown().expect("shutdown");
    verify_all(&path);

    let (_dir, path) = temp();
    let mut by_bytes = config();
    by_bytes.auto_seal.bytes_max = 8 * 1024;
    let engine = open(&path, by_bytes, Arc::new(SystemClock));
    for index in 0..30 {
        append(
            &engine,
            "bytes.event",
            json!({"pad": "p".repeat(1000), "index": index}),
        );
    }
    let segments = engine.segments(0, 100).expect("segments");
    assert!(segments.len() >= 3, "{segments:?}");
    for segment in segments.iter().filter(|s| s.sealed_at.is_some()) {
        assert!(
            segment.bytes >= 8 * 1024 && segment.bytes < 8 * 1024 + 4 * 1024,
            "{segment:?}"
        );
    }
    engine.shutdown().expect("shutdown");

    let (_dir, path) = temp();
    let mut by_age = config();
    by_age.auto_seal.age_max = Duration::from_millis(200);
    let engine = open(&path, by_age, Arc::new(SystemClock));
    append(&engine, "age.event", json!(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.status().open_segment.is_some() {
        assert!(
            Instant::now() < deadline,
            "the idle segment was not sealed by age"
        );
        std::thread::yield_now();
    }
    let sealed = engine.segment(1).expect("read").expect("exists");
    assert!(sealed.sealed_at.is_some());
    let last = all_envelopes(&engine).pop().expect("last");
    assert_eq!(last.body.event_type, control_types::SEGMENT_SEALED);
    assert_eq!(
        last.body.payload.inline().expect("a payload").to_value()["reason"],
        json!("age")
    );
    engine.shutdown().expect("shutdown");
    verify_all(&path);
}

#[test]
fn idempotency_replays_conflicts_expires_and_survives_restart() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let mut settings = config();
    settings.idempotency_ttl = Duration::from_secs(60);
    let engine = open(&path, settings.clone(), clock.clone());
    let mut first = request("pay.made", json!({"n": 1}));
    first.idempotency = Some(idempotent("k-1", b"request A"));
    let done = engine.append(first).expect("queued").wait().expect("ok");
    let Outcome::Done {
        value: receipt,
        response: Some(response),
    } = done
    else {
        panic!("{done:?}");
    };
    assert_eq!(response.body, format!("{{\"seq\":{}}}", receipt.seq));

    let mut again = request("pay.made", json!({"n": 1}));
    again.idempotency = Some(idempotent("k-1", b"request A"));
    assert_eq!(
        engine.append(again).expect("queued").wait(),
        Ok(Outcome::Replayed(response.clone()))
    );
    let mut other = request("pay.made", json!({"n": 2}));
    other.idempotency = Some(idempotent("k-1", b"request B"));
    assert_eq!(
        engine.append(other).expect("queued").wait(),
        Err(CommandError::IdempotencyConflict)
    );
    let head = engine.status().head_seq;
    assert_eq!(
        head, receipt.seq,
        "neither the replay nor the conflict recorded anything"
    );

    engine.shutdown().expect("shutdown");
    let engine = open(&path, settings.clone(), clock.clone());
    // An append's record is compact: the read-only check tells a conflict
    // and leaves the replay to the writer, which rebuilds the answer.
    let key = idempotent("k-1", b"request A");
    assert_eq!(
        engine
            .idempotency_check(&key.key, &key.request_hash)
            .expect("lookup"),
        arxi_recorder::IdempotencyLookup::Fresh,
    );
    let other = idempotent("k-1", b"request B");
    assert_eq!(
        engine
            .idempotency_check(&other.key, &other.request_hash)
            .expect("lookup"),
        arxi_recorder::IdempotencyLookup::Conflict,
        "the record survives restart"
    );
    assert_eq!(
        engine
            .with_reader(|reader| reader.meta_count(arxi_store::namespace::IDEMPOTENCY))
            .expect("count"),
        0,
        "nothing of it in the whole-answer store"
    );
    let mut after_restart = request("pay.made", json!({"n": 1}));
    after_restart.idempotency = Some(idempotent("k-1", b"request A"));
    assert_eq!(
        engine.append(after_restart).expect("queued").wait(),
        Ok(Outcome::Replayed(response))
    );

    clock.advance(Duration::from_secs(61));
    let mut expired = request("pay.made", json!({"n": 1}));
    expired.idempotency = Some(idempotent("k-1", b"request A"));
    assert!(
        matches!(
            engine.append(expired).expect("queued").wait(),
            Ok(Outcome::Done { .. })
        ),
        "an expired record no longer replays"
    );
    engine.shutdown().expect("shutdown");
}

#[test]
fn one_key_from_many_threads_records_once() {
    let (_dir, path) = temp();
    let engine = Arc::new(open(&path, config(), Arc::new(SystemClock)));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let mut same = request("once.only", json!({"n": 1}));
                same.idempotency = Some(idempotent("shared-key", b"same request"));
                engine.append(same).expect("queued").wait().expect("ok")
            })
        })
        .collect();
    let outcomes: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Done { .. }))
        .count();
    assert_eq!(done, 1, "{outcomes:?}");
    let recorded = all_envelopes(&engine)
        .iter()
        .filter(|e| e.body.event_type == "once.only")
        .count();
    assert_eq!(recorded, 1);
}

#[test]
fn idempotency_entries_are_bounded() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let mut settings = config();
    settings.idempotency_entries_max = 5;
    let engine = open(&path, settings, clock.clone());
    for index in 0..12 {
        let mut keyed = request("bounded.event", json!(index));
        keyed.idempotency = Some(idempotent(&format!("key-{index:02}"), b"r"));
        engine.append(keyed).expect("queued").wait().expect("ok");
        clock.advance(Duration::from_millis(1));
    }
    // Eviction runs with the next batch once its interval has passed.
    clock.advance(Duration::from_secs(11));
    append(&engine, "tick.event", json!(0));
    let count = engine
        .with_reader(|reader| reader.idempotency_count())
        .expect("count");
    assert_eq!(count, 5);
    // Another request under a key: a conflict while its record lives.
    let oldest = idempotent("key-06", b"another request");
    assert_eq!(
        engine
            .idempotency_check(&oldest.key, &oldest.request_hash)
            .expect("lookup"),
        arxi_recorder::IdempotencyLookup::Fresh,
        "the oldest records went first"
    );
    let newest = idempotent("key-07", b"another request");
    assert_eq!(
        engine
            .idempotency_check(&newest.key, &newest.request_hash)
            .expect("lookup"),
        arxi_recorder::IdempotencyLookup::Conflict
    );
}

#[test]
fn a_new_key_is_recorded_as_a_key_change() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let engine = open(&path, config(), clock.clone());
    append(&engine, "before.change", json!(1));
    engine.shutdown().expect("shutdown");
    let engine = RecorderEngine::open(&path, config(), key(2), clock.clone()).expect("opens");
    let changed = all_envelopes(&engine)
        .into_iter()
        .find(|e| e.body.event_type == control_types::KEY_CHANGED)
        .expect("key change recorded");
    let payload = changed.body.payload.inline().expect("a payload").to_value();
    assert_eq!(payload["previous_key_id"], json!(key(1).id().as_str()));
    assert_eq!(payload["key_id"], json!(key(2).id().as_str()));
    assert_eq!(changed.body.key_id, *key(2).id());
    assert_eq!(engine.keys().expect("keys").len(), 2);
    append(&engine, "after.change", json!(2));
    engine.shutdown().expect("shutdown");
    verify_all(&path);
}

#[test]
fn unclean_shutdown_is_recorded() {
    let (_dir, path) = temp();
    let engine = open(&path, config(), Arc::new(SystemClock));
    append(&engine, "x.y", json!(1));
    drop(engine);
    let engine = open(&path, config(), Arc::new(SystemClock));
    assert_eq!(engine.recovery().previous_shutdown, "unclean");
}

/// The WAL the previous run left is copied into the database while the
/// engine opens, before the background checkpointer exists: its first pass
/// then never meets recovery's frames or the first writes after a start.
#[test]
fn the_previous_runs_wal_is_checkpointed_at_open() {
    let (dir, path) = temp();
    let mut settings = config();
    // No checkpoint at all, so the files copied below are the image a
    // SIGKILL leaves: everything committed is still in the WAL.
    settings.checkpoint = arxi_recorder::CheckpointPolicy {
        background_pages: i64::MAX,
        restart_pages: i64::MAX,
        hard_pages: i64::MAX,
    };
    let engine = open(&path, settings, Arc::new(SystemClock));
    let receipts: Vec<_> = (0..50)
        .map(|n| append(&engine, "x.y", json!({"n": n, "pad": "p".repeat(2_000)})))
        .collect();
    let image = dir.path().join("image");
    std::fs::create_dir(&image).expect("image dir");
    for name in ["arxi.db", "arxi.db-wal"] {
        std::fs::copy(dir.path().join(name), image.join(name)).expect("copy");
    }
    drop(engine);
    let wal = image.join("arxi.db-wal");
    assert!(
        std::fs::metadata(&wal).expect("wal").len() > 100_000,
        "the image holds a WAL to recover"
    );
    let engine = open(&image.join("arxi.db"), config(), Arc::new(SystemClock));
    assert_eq!(engine.recovery().previous_shutdown, "unclean");
    assert_eq!(
        std::fs::metadata(&wal).expect("wal").len(),
        0,
        "the recovered WAL was checkpointed and truncated at open"
    );
    for receipt in &receipts {
        assert!(engine.envelope_bytes(receipt.seq).expect("read").is_some());
    }
    engine.shutdown().expect("shutdown");
    verify_all(&image.join("arxi.db"));
}

#[test]
fn refuses_another_recorders_database() {
    let (_dir, path) = temp();
    open(&path, config(), Arc::new(SystemClock))
        .shutdown()
        .expect("shutdown");
    let error = RecorderEngine::open(
        &path,
        RecorderConfig::new("someone-else"),
        key(1),
        Arc::new(SystemClock),
    )
    .expect_err("must refuse");
    assert_eq!(
        error,
        OpenError::RecorderIdMismatch {
            stored: "test-recorder".into(),
            configured: "someone-else".into()
        }
    );
}

use arxi_recorder::RecorderConfig;

fn populated() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = temp();
    let mut settings = config();
    settings.auto_seal.envelopes_max = 8;
    let engine = open(&path, settings, Arc::new(SystemClock));
    for index in 0..20 {
        append(&engine, "tamper.target", json!({"index": index}));
    }
    engine.shutdown().expect("shutdown");
    (dir, path)
}

fn settings_for_populated() -> RecorderConfig {
    let mut settings = config();
    settings.auto_seal.envelopes_max = 8;
    settings
}

#[test]
fn tampered_envelope_stops_startup_naming_it() {
    let (_dir, path) = populated();
    let original = {
        let engine = open(&path, settings_for_populated(), Arc::new(SystemClock));
        let bytes = engine.envelope_bytes(12).expect("read").expect("exists");
        engine.shutdown().expect("shutdown");
        bytes
    };
    let text = String::from_utf8(original).expect("utf8");
    let tampered = text.replacen("\"index\":", "\"index\":1", 1);
    assert_ne!(tampered, text);
    arxi_store::fault::replace_envelope_body(&path, 12, tampered.as_bytes()).expect("tamper");
    let error = RecorderEngine::open(
        &path,
        settings_for_populated(),
        key(1),
        Arc::new(SystemClock),
    )
    .expect_err("must refuse to start");
    match error {
        OpenError::EnvelopeInvalid { seq, problem } => {
            assert_eq!(seq, 12);
            assert!(problem.contains("hash"), "{problem}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn tampered_seal_stops_startup_naming_it() {
    let (_dir, path) = populated();
    arxi_store::fault::execute(
        &path,
        "UPDATE seals SET body = replace(body, '\"count\":8', '\"count\":7') WHERE segment_id = 2",
    )
    .expect("tamper");
    let error = RecorderEngine::open(
        &path,
        settings_for_populated(),
        key(1),
        Arc::new(SystemClock),
    )
    .expect_err("must refuse to start");
    assert!(
        matches!(&error, OpenError::SealInvalid { segment_id: 2, .. }),
        "{error}"
    );
}

#[test]
fn startup_verification_depth_bounds_the_check() {
    let (_dir, path) = populated();
    let mut shallow = settings_for_populated();
    shallow.startup_verification_depth = 3;
    let engine = open(&path, shallow, Arc::new(SystemClock));
    assert_eq!(engine.recovery().verified_envelopes, 3);
}

#[test]
fn half_finished_seal_is_completed_at_open() {
    let (_dir, path) = populated();
    let original = {
        let engine = open(&path, settings_for_populated(), Arc::new(SystemClock));
        let last = engine
            .segments(0, 100)
            .expect("segments")
            .into_iter()
            .rfind(|s| s.sealed_at.is_some())
            .expect("a sealed segment");
        let seal = engine
            .seal_bytes(last.segment_id)
            .expect("read")
            .expect("sealed");
        engine.shutdown().expect("shutdown");
        (last.segment_id, seal)
    };
    let (segment_id, seal_bytes) = original;
    // Simulate a crash between the sealed envelope and the seal: only
    // possible by damage, since both commit in one transaction. Everything
    // after the seal is removed too.
    let last_seq = Seal::parse(&seal_bytes).expect("parses").body.last_seq;
    arxi_store::fault::execute(
        &path,
        &format!(
            "DELETE FROM envelopes WHERE seq > {last_seq};
             DELETE FROM segments WHERE segment_id > {segment_id};
             DELETE FROM seals WHERE segment_id = {segment_id};
             UPDATE segments SET sealed_at_us = NULL WHERE segment_id = {segment_id};"
        ),
    )
    .expect("damage");
    // That crash would have left the signed head at or before the sealed
    // envelope (it is written after commits); the damage went further back.
    std::fs::remove_file(arxi_recorder::head_path(&path)).expect("head file");
    let engine = open(&path, settings_for_populated(), Arc::new(SystemClock));
    assert_eq!(engine.recovery().completed_seal, Some(segment_id));
    assert_eq!(
        engine.seal_bytes(segment_id).expect("read"),
        Some(seal_bytes),
        "the completed seal is byte-identical to the lost one"
    );
    engine.shutdown().expect("shutdown");
    verify_all(&path);
}

#[test]
fn queries_page_with_opaque_cursors_and_validate_input() {
    let (_dir, path) = temp();
    let clock = ManualClock::new(START_US);
    let engine = open(&path, config(), clock.clone());
    for index in 0..25 {
        clock.advance(Duration::from_secs(1));
        append(
            &engine,
            if index % 2 == 0 {
                "even.event"
            } else {
                "odd.event"
            },
            json!(index),
        );
    }
    let first = engine
        .query(&EnvelopeQuery {
            event_type: Some("even.event".into()),
            limit: Some(5),
            ..Default::default()
        })
        .expect("query");
    assert_eq!(first.envelopes.len(), 5);
    let cursor = first.next_cursor.clone().expect("more");
    let second = engine
        .query(&EnvelopeQuery {
            event_type: Some("even.event".into()),
            limit: Some(5),
            cursor: Some(cursor),
            ..Default::default()
        })
        .expect("query");
    let first_last = Envelope::parse(first.envelopes.last().expect("row"))
        .expect("parse")
        .body
        .seq;
    let second_first = Envelope::parse(&second.envelopes[0])
        .expect("parse")
        .body
        .seq;
    assert!(second_first > first_last);
    let controls = engine
        .query(&EnvelopeQuery {
            kind: Some(Kind::Control),
            ..Default::default()
        })
        .expect("query");
    assert_eq!(controls.envelopes.len(), 3);
    let window = engine
        .query(&EnvelopeQuery {
            received_from: arxi_format::Timestamp::from_unix_micros(START_US + 5_000_000),
            received_before: arxi_format::Timestamp::from_unix_micros(START_US + 10_000_000),
            ..Default::default()
        })
        .expect("query");
    assert_eq!(window.envelopes.len(), 5);
    // A cursor is the recorder's own: a well-formed one it did not issue
    // (the old unauthenticated form, or a forged position) is refused. A
    // real one under other filters resumes after its position and never
    // leaves the new filters.
    let issued = first.next_cursor.clone().expect("a cursor");
    let (_, tag) = issued.rsplit_once('.').expect("tagged");
    let forged = format!("c2.1.{tag}");
    let elsewhere = engine
        .query(&EnvelopeQuery {
            event_type: Some("odd.event".into()),
            cursor: Some(issued),
            ..Default::default()
        })
        .expect("a real cursor under other filters");
    for row in &elsewhere.envelopes {
        let body = Envelope::parse(row).expect("parse").body;
        assert_eq!(body.event_type, "odd.event");
        assert!(body.seq > first_last);
    }
    for bad in [
        "",
        "c1.",
        "c1.zz",
        "x1.10",
        "c1.123456789abcdef0",
        "c1.5",
        forged.as_str(),
    ] {
        assert_eq!(
            engine.query(&EnvelopeQuery {
                cursor: Some(bad.into()),
                ..Default::default()
            }),
            Err(QueryError::InvalidCursor),
            "{bad:?}"
        );
    }
    assert!(matches!(
        engine.query(&EnvelopeQuery {
            limit: Some(0),
            ..Default::default()
        }),
        Err(QueryError::InvalidRange(_))
    ));
    assert!(matches!(
        engine.query(&EnvelopeQuery {
            seq_from: Some(9),
            seq_to: Some(3),
            ..Default::default()
        }),
        Err(QueryError::InvalidRange(_))
    ));
}

#[test]
fn overload_is_a_typed_refusal() {
    let (_dir, path) = temp();
    let mut tiny = config();
    tiny.queue_capacity = 1;
    tiny.batch_commands_max = 1;
    let engine = open(&path, tiny, Arc::new(SystemClock));
    let mut refused = 0;
    let mut pending = Vec::new();
    for index in 0..200 {
        match engine.append(request("burst.event", json!(index))) {
            Ok(waiting) => pending.push(waiting),
            Err(SubmitError::Overloaded { retry_after }) => {
                assert!(retry_after > Duration::ZERO);
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused > 0, "a queue of one must refuse a burst of 200");
    for waiting in pending {
        waiting.wait().expect("every accepted append is recorded");
    }
    assert_eq!(engine.metrics().overloaded_total, refused);
}

/// A batch is recorded whole: consecutive sequence numbers in the order
/// given, even while single appends race it; a refused item names its
/// index and nothing of the batch is queued; one idempotency key replays
/// the whole batch; a batch that does not fit in the open segment is put
/// in a fresh one, and one larger than a fresh segment is refused.
#[test]
fn batches_are_recorded_whole_and_in_order() {
    let (_dir, path) = temp();
    let mut settings = config();
    settings.auto_seal.envelopes_max = 30;
    let engine = Arc::new(open(&path, settings, Arc::new(SystemClock)));
    let racer = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            for index in 0..200 {
                append(&engine, "single.event", json!({"index": index}));
            }
        })
    };
    let mut batch_seqs = Vec::new();
    for round in 0..20_u64 {
        let requests: Vec<_> = (0..(round % 13 + 1))
            .map(|item| request("batch.event", json!({"round": round, "item": item})))
            .collect();
        let count = requests.len() as u64;
        let receipts = match engine.append_batch(requests, None).expect("queued").wait() {
            Ok(Outcome::Done { value, .. }) => value,
            other => panic!("batch {round}: {other:?}"),
        };
        assert_eq!(receipts.len() as u64, count);
        for pair in receipts.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1, "consecutive in round {round}");
            assert_eq!(pair[1].prev_hash, pair[0].hash, "chained in round {round}");
            assert_eq!(pair[1].segment_id, pair[0].segment_id, "one segment");
        }
        batch_seqs.push((receipts[0].seq, count));
    }
    racer.join().expect("racer");
    // The payloads sit at the receipts' sequence numbers, in order.
    for (first, count) in &batch_seqs {
        let page = engine
            .query(&EnvelopeQuery {
                seq_from: Some(*first),
                seq_to: Some(first + count - 1),
                ..Default::default()
            })
            .expect("query");
        let items: Vec<u64> = page
            .envelopes
            .iter()
            .map(|bytes| {
                let envelope = Envelope::parse(bytes).expect("parse");
                assert_eq!(envelope.body.event_type, "batch.event");
                let payload: serde_json::Value = serde_json::from_str(
                    envelope.body.payload.inline().expect("a payload").as_str(),
                )
                .expect("json");
                payload["item"].as_u64().expect("item")
            })
            .collect();
        assert_eq!(items, (0..*count).collect::<Vec<_>>());
    }

    // A refused item: its index, and nothing queued.
    let head = engine.status().head_seq;
    let mut bad: Vec<_> = (0..3).map(|i| request("ok.type", json!(i))).collect();
    bad.push(request("has space", json!(2)));
    match engine.append_batch(bad, None) {
        Err(SubmitError::InBatch { index, error }) => {
            assert_eq!(index, 3);
            assert!(matches!(*error, SubmitError::Invalid { field: "type", .. }));
        }
        other => panic!("expected a refusal at index 3, got {other:?}"),
    }
    assert_eq!(
        engine.status().head_seq,
        head,
        "nothing of the batch recorded"
    );
    // Larger than a fresh segment (30 - opened - sealed).
    let too_many: Vec<_> = (0..29).map(|i| request("batch.event", json!(i))).collect();
    assert!(matches!(
        engine.append_batch(too_many, None),
        Err(SubmitError::Invalid {
            field: "envelopes",
            ..
        })
    ));

    // One key for the whole batch: a retry replays, nothing is doubled.
    let keyed = || {
        let requests: Vec<_> = (0..5).map(|i| request("keyed.batch", json!(i))).collect();
        let mut key = idempotent("batch-key-1", b"the same batch");
        let render: arxi_recorder::Render<Vec<Receipt>> =
            Box::new(|receipts: &Vec<Receipt>| arxi_recorder::StoredResponse {
                status: 201,
                content_type: "application/json".into(),
                body: format!("{}", receipts.len()),
            });
        let batch_key = arxi_recorder::IdempotencyRequest {
            key: std::mem::replace(
                &mut key.key,
                arxi_recorder::IdempotencyKey {
                    method: String::new(),
                    path: String::new(),
                    key: String::new(),
                },
            ),
            request_hash: key.request_hash,
            render,
        };
        engine
            .append_batch(requests, Some(batch_key))
            .expect("queued")
            .wait()
    };
    assert!(matches!(keyed(), Ok(Outcome::Done { .. })));
    assert!(matches!(keyed(), Ok(Outcome::Replayed(_))));
    let count = engine
        .query(&EnvelopeQuery {
            event_type: Some("keyed.batch".into()),
            ..Default::default()
        })
        .expect("query")
        .envelopes
        .len();
    assert_eq!(count, 5, "recorded once");
    Arc::into_inner(engine)
        .expect("last handle")
        .shutdown()
        .expect("shutdown");
}
