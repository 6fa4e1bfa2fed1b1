//! The restore drill at the engine's level: an online backup taken while
//! the recorder writes, a restore of it after the chain moved on, the
//! refusal to start (naming the lost range), the operator's
//! acknowledgement recording `arxi.recorder.rolled_back`, and the signed
//! head refusing forgeries and divergent databases.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arxi_format::envelope::Envelope;
use arxi_format::{HeadBody, SignedHead, Timestamp};
use arxi_recorder::{
    EnvelopeQuery, HeadFinding, OpenError, RecorderEngine, SystemClock, head_path,
};
use serde_json::{Value, json};
use support::*;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    (dir, path)
}

fn engine_with(path: &Path, acknowledged: Option<u64>) -> Result<RecorderEngine, OpenError> {
    let mut settings = config();
    settings.rollback_acknowledged_seq = acknowledged;
    RecorderEngine::open(path, settings, key(1), Arc::new(SystemClock))
}

fn write_events(engine: &RecorderEngine, count: u32) {
    for index in 0..count {
        append(engine, "drill.event", json!(index));
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
}

fn control_payloads(engine: &RecorderEngine, event_type: &str) -> Vec<Value> {
    let page = engine
        .query(&EnvelopeQuery {
            event_type: Some(event_type.into()),
            limit: Some(100),
            ..Default::default()
        })
        .expect("query");
    page.envelopes
        .iter()
        .map(|bytes| {
            Envelope::parse(bytes)
                .expect("envelope")
                .body
                .payload
                .inline()
                .expect("version 1 envelopes carry their payload")
                .to_value()
        })
        .collect()
}

#[test]
fn an_older_backup_refuses_to_start_until_the_rollback_is_acknowledged() {
    let (dir, path) = temp();
    let backup = dir.path().join("backup.db");
    let engine = engine_with(&path, None).expect("opens");
    write_events(&engine, 5);
    // Online: the recorder keeps running while the copy is taken.
    let stats = arxi_recorder::backup_database(&path, &backup).expect("backup");
    assert!(stats.pages > 0 && stats.bytes > 0, "{stats:?}");
    let backed_up_seq = arxi_recorder::verify_data(&backup, false)
        .expect("the backup verifies")
        .envelopes;
    write_events(&engine, 7);
    engine.shutdown().expect("shutdown");
    drop(engine);
    let signed_seq = arxi_recorder::verify_data(&path, true)
        .expect("verifies")
        .envelopes;
    assert!(matches!(
        arxi_recorder::verify_data(&path, true)
            .expect("verifies")
            .head,
        HeadFinding::Reached
    ));
    assert!(
        arxi_recorder::backup_database(&path, &backup).is_err(),
        "a backup never overwrites"
    );
    let nowhere = dir.path().join("missing").join("backup.db");
    let refused = arxi_recorder::backup_database(&path, &nowhere).expect_err("no folder");
    assert!(
        refused
            .to_string()
            .contains("missing/backup.db: its folder does not exist"),
        "{refused}"
    );

    restore_backup(&backup, &path);
    let report = arxi_recorder::verify_data(&path, true).expect("the chain itself is valid");
    let HeadFinding::Behind(rollback) = report.head else {
        panic!("verify-data must see the rollback: {:?}", report.head);
    };
    assert_eq!(
        (
            rollback.database_seq,
            rollback.signed.seq,
            rollback.verified
        ),
        (backed_up_seq, signed_seq, true)
    );

    let refused = engine_with(&path, None).expect_err("must refuse");
    let message = refused.to_string();
    assert!(
        matches!(refused, OpenError::BehindSignedHead(_)),
        "{message}"
    );
    let lost = format!("envelopes {}..={}", backed_up_seq + 1, signed_seq);
    assert!(message.contains(&lost), "{message}");
    let wrong = engine_with(&path, Some(signed_seq + 1)).expect_err("another head");
    assert!(
        matches!(wrong, OpenError::RollbackAcknowledgementMismatch { .. }),
        "{wrong}"
    );

    let engine = engine_with(&path, Some(signed_seq)).expect("acknowledged");
    let recorded = control_payloads(&engine, "arxi.recorder.rolled_back");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let payload = &recorded[0];
    assert_eq!(
        (
            payload["kind"].clone(),
            payload["lost_from_seq"].clone(),
            payload["lost_to_seq"].clone(),
            payload["signed_head_verified"].clone(),
        ),
        (
            json!("behind"),
            json!(backed_up_seq + 1),
            json!(signed_seq),
            json!(true)
        )
    );
    write_events(&engine, 2);
    engine.shutdown().expect("shutdown");
    verify_all(&path);
    // The head now follows the restored chain: no acknowledgement needed.
    let engine = engine_with(&path, None).expect("reopens");
    engine.shutdown().expect("shutdown");
}

#[test]
fn a_database_that_continued_from_an_older_state_is_diverged() {
    let (dir, path) = temp();
    let backup = dir.path().join("backup.db");
    let engine = engine_with(&path, None).expect("opens");
    write_events(&engine, 3);
    arxi_recorder::backup_database(&path, &backup).expect("backup");
    write_events(&engine, 3);
    engine.shutdown().expect("shutdown");
    drop(engine);
    let head = head_path(&path);
    let saved = std::fs::read(&head).expect("head");

    // The restored database runs on without its head (moved away) past
    // the old head's sequence number, then the head comes back.
    restore_backup(&backup, &path);
    std::fs::remove_file(&head).expect("move the head away");
    let engine = engine_with(&path, None).expect("no head, no check");
    write_events(&engine, 8);
    engine.shutdown().expect("shutdown");
    drop(engine);
    std::fs::write(&head, &saved).expect("the old head back");

    let refused = engine_with(&path, None).expect_err("must refuse");
    match &refused {
        OpenError::BehindSignedHead(rollback) => assert!(rollback.diverged, "{refused}"),
        other => panic!("unexpected {other}"),
    }
    let seq = match &refused {
        OpenError::BehindSignedHead(rollback) => rollback.signed.seq,
        _ => unreachable!("matched above"),
    };
    let engine = engine_with(&path, Some(seq)).expect("acknowledged");
    let recorded = control_payloads(&engine, "arxi.recorder.rolled_back");
    assert_eq!(recorded[0]["kind"], "diverged");
    assert_eq!(recorded[0].get("lost_from_seq"), None);
    engine.shutdown().expect("shutdown");
}

/// A signed head that is not the recorder's: each is refused or reported,
/// never trusted.
#[test]
fn forged_or_damaged_heads_are_not_trusted() {
    let (_dir, path) = temp();
    let engine = engine_with(&path, None).expect("opens");
    write_events(&engine, 2);
    engine.shutdown().expect("shutdown");
    let head = head_path(&path);
    let genuine = SignedHead::parse(&std::fs::read(&head).expect("head")).expect("parses");
    let forge = |seq: u64, signer: u8, recorder_id: &str| {
        let key = key(signer);
        HeadBody {
            recorder_id: recorder_id.into(),
            seq,
            head_hash: arxi_format::Hash32::of(b"elsewhere"),
            seal_hash: genuine.body.seal_hash,
            written_at: Timestamp::from_unix_micros(START_US).expect("in range"),
            key_id: key.id().clone(),
        }
        .sign(&key)
        .to_canonical_bytes()
    };
    let check = |bytes: &[u8], expected: &dyn Fn(&OpenError) -> bool, what: &str| {
        std::fs::write(&head, bytes).expect("write head");
        match engine_with(&path, None) {
            Err(error) => assert!(expected(&error), "{what}: {error}"),
            Ok(engine) => panic!("{what}: opened; {:?}", engine.status()),
        }
    };
    check(
        &forge(genuine.body.seq + 50, 9, "test-recorder"),
        &|error| matches!(error, OpenError::BehindSignedHead(rollback) if !rollback.verified),
        "a head ahead signed by a stranger",
    );
    check(
        &forge(genuine.body.seq, 1, "other-recorder"),
        &|error| matches!(error, OpenError::SignedHead(problem) if problem.contains("other-recorder")),
        "another recorder's head",
    );
    check(
        b"not a head",
        &|error| matches!(error, OpenError::SignedHead(_)),
        "garbage",
    );
    std::fs::write(&head, genuine.to_canonical_bytes()).expect("genuine head");
    let engine = engine_with(&path, None).expect("the genuine head opens");
    engine.shutdown().expect("shutdown");
}

/// verify-data goes on after a bad record: two tampered envelopes and a
/// tampered seal are three findings, each naming its record, and the rest
/// still counts as verified.
#[test]
fn verify_data_lists_every_bad_record() {
    let (_dir, path) = temp();
    let engine = engine_with(&path, None).expect("opens");
    write_events(&engine, 6);
    write_events(&engine, 6);
    let events: Vec<u64> = engine
        .query(&EnvelopeQuery {
            event_type: Some("drill.event".into()),
            limit: Some(100),
            ..Default::default()
        })
        .expect("query")
        .envelopes
        .iter()
        .map(|bytes| Envelope::parse(bytes).expect("envelope").body.seq)
        .collect();
    let bodies: Vec<Vec<u8>> = [events[1], events[8]]
        .iter()
        .map(|seq| engine.envelope_bytes(*seq).expect("read").expect("exists"))
        .collect();
    engine.shutdown().expect("shutdown");
    drop(engine);
    let clean = arxi_recorder::verify_data(&path, true).expect("checks");
    assert!(clean.is_valid(), "{clean:?}");
    for (seq, body) in [events[1], events[8]].iter().zip(&bodies) {
        let text = String::from_utf8(body.clone()).expect("utf8");
        let tampered = text.replacen("\"payload\":", "\"payload\":1", 1);
        arxi_store::fault::replace_envelope_body(&path, *seq, tampered.as_bytes()).expect("tamper");
    }
    arxi_store::fault::execute(
        &path,
        "UPDATE seals SET body = replace(body, '\"count\":', '\"count\":1') WHERE segment_id = 2",
    )
    .expect("tamper the seal");
    let report = arxi_recorder::verify_data(&path, true).expect("checks");
    assert!(!report.is_valid());
    let named: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(report.findings.len(), 3, "{named:#?}");
    assert!(
        named[0].contains(&format!("seq {}", events[1])),
        "{named:#?}"
    );
    assert!(
        named[1].contains(&format!("seq {}", events[8])),
        "{named:#?}"
    );
    assert!(named[2].contains("segment 2"), "{named:#?}");
    assert_eq!(report.envelopes, clean.envelopes - 2);
    assert_eq!(report.seals, clean.seals - 1);
}

#[test]
fn verify_data_rebuilds_the_log_tree_and_names_a_bad_node() {
    let (_dir, path) = temp();
    let engine = engine_with(&path, None).expect("opens");
    write_events(&engine, 20);
    engine.shutdown().expect("shutdown");
    drop(engine);
    assert!(
        arxi_recorder::verify_data(&path, true)
            .expect("checks")
            .is_valid()
    );
    arxi_store::fault::execute(
        &path,
        "UPDATE log_nodes SET hash = zeroblob(32) WHERE level = 4 AND node = 0",
    )
    .expect("tamper a node");
    let report = arxi_recorder::verify_data(&path, true).expect("checks");
    let named: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        named
            .iter()
            .any(|f| f.contains("log tree node 4/0 does not match")),
        "{named:#?}"
    );
    // The stored checkpoint still matches what the envelopes give.
    assert!(
        !named.iter().any(|f| f.contains("stored checkpoint")),
        "{named:#?}"
    );
    arxi_store::fault::execute(&path, "DELETE FROM log_nodes WHERE level = 4 AND node = 0")
        .expect("drop a node");
    let report = arxi_recorder::verify_data(&path, true).expect("checks");
    let named: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        named
            .iter()
            .any(|f| f.contains("log tree node 4/0 is missing")),
        "{named:#?}"
    );
    assert!(named.iter().any(|f| f.contains("at level 4")), "{named:#?}");
}

/// One writer per database: a second recorder on it is refused before it
/// writes anything (it would number envelopes from the same head and fork
/// the chain), and opens once the first has shut down.
#[test]
fn a_second_recorder_on_the_same_database_is_refused() {
    let (_dir, path) = temp();
    let first = engine_with(&path, None).expect("opens");
    write_events(&first, 2);
    let head_before = first.status().head_seq;
    let refused = engine_with(&path, None).expect_err("a second writer");
    assert!(
        matches!(&refused, OpenError::InUse(problem) if problem.contains("arxi.db.lock")),
        "{refused}"
    );
    assert_eq!(first.status().head_seq, head_before, "nothing was written");
    write_events(&first, 1);
    first.shutdown().expect("shutdown");
    let second = engine_with(&path, None).expect("opens after the first stopped");
    second.shutdown().expect("shutdown");
    verify_all(&path);
}
