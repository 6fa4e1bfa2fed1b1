//! Store behaviour on a real SQLite file in a temp dir: round trips, query
//! results against a brute-force filter, query plans that use indexes,
//! deterministic store_meta eviction, and "disk full" surfacing as a typed
//! error with the store consistent and writable again once space returns.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use arxi_store::{
    EnvelopeRow, KeyRow, QueryFilter, SealRow, SegmentRow, Store, StoreError, StoreOptions,
    SubjectKeys, namespace,
};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("arxi.db"), &StoreOptions::default()).expect("opens")
}

fn row(seq: u64, segment_id: u64, kind: u8, event_type: &str, actor: Option<&str>) -> EnvelopeRow {
    let mut hash = [0_u8; 32];
    hash[..8].copy_from_slice(&seq.to_be_bytes());
    EnvelopeRow {
        seq,
        segment_id,
        received_at_us: 1_000_000 + (seq as i64 / 3) * 1_000,
        kind,
        event_type: event_type.to_owned(),
        actor: actor.map(str::to_owned),
        hash,
        body: format!("{{\"seq\":{seq}}}").into_bytes(),
    }
}

/// 300 envelopes over 3 segments, types and actors cycling.
fn fill(store: &mut Store) -> Vec<EnvelopeRow> {
    let types = ["a.x", "b.y", "c.z"];
    let actors = [Some("alice"), None, Some("bob"), Some("carol")];
    let mut rows = Vec::new();
    let txn = store.transaction().expect("txn");
    for segment in 1..=3_u64 {
        let first = (segment - 1) * 100 + 1;
        txn.insert_segment(&SegmentRow {
            segment_id: segment,
            first_seq: first,
            last_seq: first,
            envelope_count: 0,
            bytes: 0,
            opened_at_us: 0,
            sealed_at_us: None,
        })
        .expect("segment");
        for seq in first..first + 100 {
            let kind = u8::from(seq % 10 == 0);
            let envelope = row(
                seq,
                segment,
                kind,
                types[(seq % 3) as usize],
                actors[(seq % 4) as usize],
            );
            txn.insert_envelope(&envelope).expect("insert");
            rows.push(envelope);
        }
        txn.update_segment_progress(segment, first + 99, 100, 100 * 20)
            .expect("progress");
        if segment < 3 {
            txn.seal_segment(
                5,
                &SealRow {
                    segment_id: segment,
                    hash: [segment as u8; 32],
                    body: b"{}".to_vec(),
                },
            )
            .expect("seal");
        }
    }
    txn.commit().expect("commit");
    rows
}

#[test]
fn round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    let rows = fill(&mut store);
    let reader = store.reader();
    assert_eq!(reader.last_envelope().expect("read"), rows.last().cloned());
    assert_eq!(reader.envelope(150).expect("read"), Some(rows[149].clone()));
    assert_eq!(reader.envelope(301).expect("read"), None);
    let segment = reader.segment(2).expect("read").expect("exists");
    assert_eq!(
        (segment.first_seq, segment.last_seq, segment.envelope_count),
        (101, 200, 100)
    );
    assert!(segment.is_sealed());
    assert!(
        !reader
            .last_segment()
            .expect("read")
            .expect("exists")
            .is_sealed()
    );
    assert_eq!(reader.seal(1).expect("read").map(|s| s.hash), Some([1; 32]));
    assert_eq!(reader.seal(3).expect("read"), None);
    assert_eq!(
        reader
            .last_seals(10)
            .expect("read")
            .iter()
            .map(|s| s.segment_id)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    let hashes = reader.envelope_hashes(99, 102).expect("read");
    assert_eq!(
        hashes.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [99, 100, 101, 102]
    );
    let mut visited = Vec::new();
    reader
        .for_each_envelope(10, 20, |row| {
            visited.push(row.seq);
            Ok(row.seq < 15)
        })
        .expect("visit");
    assert_eq!(visited, [10, 11, 12, 13, 14, 15]);

    // Sealing twice, or progressing a sealed segment, is refused.
    let txn = store.transaction().expect("txn");
    assert!(matches!(
        txn.update_segment_progress(1, 100, 100, 0),
        Err(StoreError::BadRow(_))
    ));
    assert!(matches!(
        txn.seal_segment(
            1,
            &SealRow {
                segment_id: 2,
                hash: [0; 32],
                body: vec![]
            }
        ),
        Err(StoreError::BadRow(_))
    ));
}

#[test]
fn attachments_keys_and_meta() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    let txn = store.transaction().expect("txn");
    assert!(txn.put_attachment(&[7; 32], b"bytes", 1).expect("put"));
    assert!(
        !txn.put_attachment(&[7; 32], b"bytes", 1)
            .expect("put again"),
        "deduplicated"
    );
    txn.insert_key(&KeyRow {
        key_id: "ed25519:00".into(),
        public_key: [9; 32],
        first_seq: 1,
        added_at_us: 5,
    })
    .expect("key");
    txn.meta_put(namespace::RECORDER, "recorder_id", b"r1", 1)
        .expect("meta");
    assert_eq!(
        txn.meta_get(namespace::RECORDER, "recorder_id")
            .expect("meta")
            .map(|m| m.value),
        Some(b"r1".to_vec()),
        "a transaction reads its own writes"
    );
    txn.commit().expect("commit");
    let reader = store.reader();
    assert_eq!(
        reader.attachment(&[7; 32]).expect("read"),
        Some(b"bytes".to_vec())
    );
    assert_eq!(reader.attachment(&[8; 32]).expect("read"), None);
    assert_eq!(reader.keys().expect("keys").len(), 1);
}

#[test]
fn meta_eviction_is_oldest_first_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    let txn = store.transaction().expect("txn");
    // Two entries share each timestamp, so the key breaks ties.
    for index in 0..20_i64 {
        let key = format!("k{:02}", 19 - index);
        txn.meta_put(namespace::IDEMPOTENCY, &key, b"v", index / 2)
            .expect("put");
    }
    // Expired (created before 3): 6 entries, but at most 4 per call.
    assert_eq!(
        txn.meta_evict(namespace::IDEMPOTENCY, 3, 100, 4)
            .expect("evict"),
        4
    );
    assert_eq!(
        txn.meta_evict(namespace::IDEMPOTENCY, 3, 100, 4)
            .expect("evict"),
        2
    );
    // Keep at most 10 of the remaining 14: the 4 oldest go.
    assert_eq!(
        txn.meta_evict(namespace::IDEMPOTENCY, 3, 10, 100)
            .expect("evict"),
        4
    );
    txn.commit().expect("commit");
    let reader = store.reader();
    assert_eq!(
        reader.meta_count(namespace::IDEMPOTENCY).expect("count"),
        10
    );
    // Remaining: created_at 5..=9. Timestamp 4 held k11 and k10; both gone.
    assert!(
        reader
            .meta_get(namespace::IDEMPOTENCY, "k10")
            .expect("get")
            .is_none()
    );
    assert!(
        reader
            .meta_get(namespace::IDEMPOTENCY, "k09")
            .expect("get")
            .is_some()
    );
    assert!(
        reader
            .meta_get(namespace::IDEMPOTENCY, "k00")
            .expect("get")
            .is_some()
    );
}

fn brute_force(rows: &[EnvelopeRow], filter: &QueryFilter) -> Vec<u64> {
    rows.iter()
        .filter(|r| filter.segment_id.is_none_or(|s| r.segment_id == s))
        .filter(|r| filter.seq_min.is_none_or(|s| r.seq >= s))
        .filter(|r| filter.seq_max.is_none_or(|s| r.seq <= s))
        .filter(|r| {
            filter
                .received_from_us
                .is_none_or(|t| r.received_at_us >= t)
        })
        .filter(|r| {
            filter
                .received_before_us
                .is_none_or(|t| r.received_at_us < t)
        })
        .filter(|r| filter.kind.is_none_or(|k| r.kind == k))
        .filter(|r| {
            filter
                .event_type
                .as_deref()
                .is_none_or(|t| r.event_type == t)
        })
        .filter(|r| {
            filter
                .actor
                .as_deref()
                .is_none_or(|a| r.actor.as_deref() == Some(a))
        })
        .map(|r| r.seq)
        .collect()
}

fn filters() -> Vec<QueryFilter> {
    let base = QueryFilter {
        limit: 7,
        ..QueryFilter::default()
    };
    vec![
        base.clone(),
        QueryFilter {
            segment_id: Some(2),
            ..base.clone()
        },
        QueryFilter {
            segment_id: Some(9),
            ..base.clone()
        },
        QueryFilter {
            seq_min: Some(50),
            seq_max: Some(80),
            ..base.clone()
        },
        QueryFilter {
            received_from_us: Some(1_040_000),
            received_before_us: Some(1_070_500),
            ..base.clone()
        },
        QueryFilter {
            received_from_us: Some(9_000_000),
            ..base.clone()
        },
        QueryFilter {
            kind: Some(1),
            ..base.clone()
        },
        QueryFilter {
            event_type: Some("b.y".into()),
            ..base.clone()
        },
        QueryFilter {
            actor: Some("bob".into()),
            segment_id: Some(3),
            ..base.clone()
        },
        QueryFilter {
            event_type: Some("a.x".into()),
            actor: Some("carol".into()),
            kind: Some(0),
            ..base.clone()
        },
        QueryFilter {
            event_type: Some("zzz".into()),
            ..base.clone()
        },
        QueryFilter {
            segment_id: Some(1),
            seq_min: Some(150),
            ..base.clone()
        },
        QueryFilter {
            kind: Some(0),
            received_from_us: Some(1_010_000),
            limit: 50,
            ..base
        },
    ]
}

#[test]
fn query_pages_match_brute_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    let rows = fill(&mut store);
    let pool = store.reader_pool(2).expect("pool");
    for filter in filters() {
        let expected = brute_force(&rows, &filter);
        let mut got = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = pool
                .with(|reader| {
                    reader.query(&QueryFilter {
                        after_seq: cursor,
                        ..filter.clone()
                    })
                })
                .expect("query");
            assert!(page.rows.len() <= filter.limit as usize);
            got.extend(page.rows.iter().map(|r| r.seq));
            pages += 1;
            assert!(pages < 1_000, "pagination terminates");
            match page.next_after_seq {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "{filter:?}");
    }
}

/// The bundle index: written with its envelope, read by id (the first
/// envelope naming it), counted against the envelopes of its type, emptied
/// for a rebuild; a row for an envelope that does not exist is refused.
#[test]
fn bundle_index_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    fill(&mut store);
    let txn = store.transaction().expect("txn");
    txn.index_bundle(30, "aa").expect("index");
    txn.index_bundle(60, "bb").expect("index");
    txn.index_bundle(90, "aa").expect("the same bundle again");
    txn.commit().expect("commit");
    let reader = store.reader();
    assert_eq!(reader.bundle_seq("aa"), Ok(Some(30)));
    assert_eq!(reader.bundle_seq("bb"), Ok(Some(60)));
    assert_eq!(reader.bundle_seq("cc"), Ok(None));
    assert_eq!(reader.bundle_index_len(), Ok(3));
    assert_eq!(reader.count_of_type("a.x"), Ok(100));
    let txn = store.transaction().expect("txn");
    assert!(txn.index_bundle(1_000, "dd").is_err(), "no such envelope");
    drop(txn);
    let txn = store.transaction().expect("txn");
    txn.clear_bundle_index().expect("clear");
    txn.commit().expect("commit");
    assert_eq!(store.reader().bundle_index_len(), Ok(0));
}

/// No filter combination scans the envelopes table without an index.
#[test]
fn query_plans_use_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    fill(&mut store);
    let reader = store.reader();
    for filter in filters() {
        let plan = reader.explain_query(&filter).expect("plan").join(" | ");
        println!("{filter:?}\n    {plan}");
        assert!(
            plan.contains("USING INTEGER PRIMARY KEY") || plan.contains("USING INDEX"),
            "{filter:?}: {plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
    }
    let time_plan = reader.explain_time_bounds().expect("plan").join(" | ");
    println!("time bounds: {time_plan}");
    assert_eq!(
        time_plan
            .matches("USING COVERING INDEX envelopes_received_at")
            .count(),
        2,
        "{time_plan}"
    );
}

#[test]
fn disk_full_is_typed_rolled_back_and_recoverable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let mut store = Store::open(&path, &StoreOptions::default()).expect("opens");
    fill(&mut store);
    store
        .checkpoint(arxi_store::CheckpointKind::Truncate)
        .expect("checkpoint");
    let used_pages = std::fs::metadata(&path).expect("meta").len() / 4096;
    store.set_max_page_count(Some(used_pages + 2)).expect("cap");
    let big = vec![0xab_u8; 64 * 1024];
    let result = (|| {
        let txn = store.transaction()?;
        for seq in 301..400 {
            let mut envelope = row(seq, 3, 0, "a.x", None);
            envelope.body = big.clone();
            txn.insert_envelope(&envelope)?;
        }
        txn.commit()
    })();
    assert_eq!(result, Err(StoreError::Full));
    assert_eq!(
        store.reader().last_envelope().expect("read").map(|r| r.seq),
        Some(300),
        "rolled back"
    );
    store.set_max_page_count(None).expect("lift cap");
    let txn = store.transaction().expect("txn");
    let mut envelope = row(301, 3, 0, "a.x", None);
    envelope.body = big;
    txn.insert_envelope(&envelope).expect("insert");
    txn.commit().expect("commit after space returns");
    assert_eq!(
        store.reader().last_envelope().expect("read").map(|r| r.seq),
        Some(301)
    );
}

#[test]
fn wal_is_tracked_and_checkpointed_deliberately() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    fill(&mut store);
    assert!(store.wal_pages() > 0, "the WAL hook saw the commit");
    let stats = store
        .checkpoint(arxi_store::CheckpointKind::Passive)
        .expect("checkpoint");
    assert_eq!(
        stats.wal_frames, stats.checkpointed_frames,
        "nothing blocks a passive checkpoint here"
    );
    store
        .checkpoint(arxi_store::CheckpointKind::Truncate)
        .expect("truncate");
    assert_eq!(store.wal_pages(), 0);
    let wal = dir.path().join("arxi.db-wal");
    assert_eq!(
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0),
        0,
        "WAL truncated"
    );
}

fn archived(first: u64, last: u64, seq: u64) -> arxi_store::ArchivedRow {
    arxi_store::ArchivedRow {
        first_segment: first,
        last_segment: last,
        first_seq: (first - 1) * 100 + 1,
        last_seq: last * 100,
        object_key: format!("r/{first}-{last}"),
        sha256: [first as u8; 32],
        size: 10,
        seq,
        archived_at_us: 7,
    }
}

#[test]
fn archive_and_prune_rules_hold_and_pruned_rows_go_in_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    fill(&mut store);
    let txn = store.transaction().expect("txn");
    // Attachments referenced in segment 1 only, and in 1 and 3.
    txn.put_attachment(&[1; 32], &[0; 4096], 5).expect("put");
    txn.put_attachment(&[2; 32], &[0; 4096], 6).expect("put");
    txn.put_attachment(&[2; 32], &[0; 4096], 250)
        .expect("put again");
    txn.index_bundle(50, "b").expect("index");
    // Gaps, overlaps and pruning beyond the archive are refused.
    assert!(matches!(
        txn.record_archived(&archived(2, 2, 300)),
        Err(StoreError::BadRow(_))
    ));
    txn.record_archived(&archived(1, 1, 300))
        .expect("first run");
    assert!(matches!(
        txn.record_archived(&archived(1, 2, 300)),
        Err(StoreError::BadRow(_))
    ));
    let pruned = arxi_store::PrunedRow {
        first_segment: 1,
        last_segment: 2,
        first_seq: 1,
        last_seq: 200,
        seq: 301,
        pruned_at_us: 8,
    };
    assert!(matches!(
        txn.record_pruned(&pruned),
        Err(StoreError::BadRow(_))
    ));
    txn.record_archived(&archived(2, 2, 300))
        .expect("second run");
    txn.record_pruned(&pruned).expect("pruned");
    txn.commit().expect("commit");

    let reader = store.reader();
    assert_eq!(reader.pruned_through().expect("read"), Some(pruned));
    let covering = reader.archived_covering(2, 9, 10).expect("read");
    assert_eq!(covering.len(), 1);
    assert_eq!(covering[0].object_key, "r/2-2");
    // Batches of 64 rows until nothing is left below seq 200.
    let mut batches = 0;
    loop {
        let txn = store.transaction().expect("txn");
        let deleted = txn.delete_pruned_rows(200, 64).expect("delete");
        txn.commit().expect("commit");
        if deleted == 0 {
            break;
        }
        batches += 1;
        assert!(batches < 20, "pruning does not end");
    }
    let reader = store.reader();
    assert_eq!(reader.first_envelope_seq().expect("read"), Some(201));
    assert_eq!(reader.attachment(&[1; 32]).expect("read"), None);
    assert!(reader.attachment(&[2; 32]).expect("read").is_some());
    assert_eq!(reader.bundle_index_len().expect("read"), 0);
    // Seals and segment rows stay.
    assert!(reader.seal(1).expect("read").is_some());
    assert!(reader.segment(1).expect("read").is_some());
}

#[test]
fn a_new_database_gives_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        incremental_vacuum: true,
        ..StoreOptions::default()
    };
    let mut store = Store::open(&dir.path().join("arxi.db"), &options).expect("opens");
    assert_eq!(store.reader().space().expect("space").auto_vacuum, 2);
    fill(&mut store);
    let txn = store.transaction().expect("txn");
    for index in 0..64_u8 {
        txn.put_attachment(&[index; 32], &[index; 16_384], 10)
            .expect("put");
    }
    txn.commit().expect("commit");
    let full = store.reader().space().expect("space").page_count;
    let txn = store.transaction().expect("txn");
    txn.delete_pruned_rows(100, 1_000).expect("delete");
    txn.commit().expect("commit");
    assert!(store.reader().space().expect("space").freelist_pages > 200);
    let txn = store.transaction().expect("txn");
    txn.incremental_vacuum(100_000).expect("vacuum");
    txn.commit().expect("commit");
    let space = store.reader().space().expect("space");
    assert_eq!(space.freelist_pages, 0);
    assert!(
        space.page_count + 200 < full,
        "{} -> {}",
        full,
        space.page_count
    );
}

#[test]
fn an_older_database_is_migrated_and_can_turn_on_incremental_vacuum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    {
        // A version 2 file (no archive, retention, log-tree or payload tables)
        // without incremental vacuum, with an attachment.
        let mut store = open(&dir);
        fill(&mut store);
        let txn = store.transaction().expect("txn");
        txn.put_attachment(&[9; 32], b"old", 3).expect("put");
        txn.commit().expect("commit");
    }
    arxi_store::fault::execute(
        &path,
        "DROP TABLE idempotency; DROP TABLE payloads; DROP TABLE archived; DROP TABLE pruned;
         DROP TABLE attachment_refs; DROP TABLE log_cosignatures;
         DROP TABLE log_checkpoints; DROP TABLE log_nodes; DROP TABLE timestamps;
         DROP INDEX segments_sealed_at; PRAGMA user_version = 2;",
    )
    .expect("downgrade");
    let mut store = open(&dir);
    assert_eq!(store.reader().space().expect("space").auto_vacuum, 0);
    // The old attachment counts as referenced up to the head (seq 300).
    let txn = store.transaction().expect("txn");
    txn.delete_pruned_rows(299, 1_000).expect("delete");
    txn.commit().expect("commit");
    assert!(store.reader().attachment(&[9; 32]).expect("read").is_some());
    assert!(store.enable_incremental_vacuum().expect("vacuum"));
    assert!(!store.enable_incremental_vacuum().expect("second time"));
    assert_eq!(store.reader().space().expect("space").auto_vacuum, 2);
}

/// Committed payloads beside version 2 envelopes: stored, found by
/// subject, erased once (a second erasure of the same row is refused),
/// read back erased; a payload row needs its envelope.
#[test]
fn payload_rows_and_their_erasure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    fill(&mut store);
    let txn = store.transaction().expect("txn");
    for seq in [5_u64, 6, 7, 9] {
        let subject = if seq == 9 { "person/8" } else { "person/7" };
        txn.insert_payload(
            seq,
            Some(subject),
            &[seq as u8; 32],
            format!("{{\"payload\":{seq}}}").as_bytes(),
        )
        .expect("payload");
    }
    assert!(
        txn.insert_payload(999, None, &[1; 32], b"{}").is_err(),
        "no envelope 999"
    );
    txn.commit().expect("commit");
    let reader = store.reader();
    assert!(reader.has_payloads(1, 5).expect("read"));
    assert!(!reader.has_payloads(10, 300).expect("read"));
    assert_eq!(
        reader.unerased_of_subject("person/7", 10).expect("read"),
        vec![5, 6, 7]
    );
    assert_eq!(
        reader.unerased_of_subject("person/7", 2).expect("read"),
        vec![5, 6]
    );
    let held = reader.payload(6).expect("read").expect("row");
    assert_eq!(held.content, Some(([6; 32], b"{\"payload\":6}".to_vec())));
    assert_eq!(held.erased_by, None);
    assert_eq!(reader.payload(8).expect("read"), None);
    let txn = store.transaction().expect("txn");
    assert_eq!(txn.erase_payloads(&[5, 7], 100).expect("erased").erased, 2);
    txn.commit().expect("commit");
    let reader = store.reader();
    assert_eq!(
        reader.unerased_of_subject("person/7", 10).expect("read"),
        vec![6]
    );
    let erased = reader.payload(5).expect("read").expect("row");
    assert_eq!(
        (erased.subject, erased.content, erased.erased_by),
        (None, None, Some(100))
    );
    let txn = store.transaction().expect("txn");
    assert!(matches!(
        txn.erase_payloads(&[6, 7], 101),
        Err(StoreError::BadRow(_))
    ));
    drop(txn);
    assert_eq!(
        store
            .reader()
            .payload(6)
            .expect("read")
            .expect("row")
            .erased_by,
        None,
        "rolled back"
    );
}

#[test]
fn compact_idempotency_records_expire_oldest_first_and_stay_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir);
    let row = |index: u8, created_at_us: i64| arxi_store::IdempotencyRow {
        scope: [index; 16],
        request_hash: [index ^ 0xff; 16],
        first_seq: u64::from(index) * 10 + 1,
        count: u64::from(index % 3) + 1,
        labels: index % 4,
        created_at_us,
    };
    let txn = store.transaction().expect("txn");
    for index in 0..20_u8 {
        txn.insert_idempotency(&row(index, i64::from(index / 2)))
            .expect("insert");
    }
    // Expired (created before 3): 6 records, at most 4 per call.
    assert_eq!(txn.evict_idempotency(3, 100, 4).expect("evict"), 4);
    assert_eq!(txn.evict_idempotency(3, 100, 4).expect("evict"), 2);
    assert_eq!(txn.evict_idempotency(3, 100, 4).expect("evict"), 0);
    // Keep at most 10 of the remaining 14: the 4 oldest go.
    assert_eq!(txn.evict_idempotency(3, 10, 100).expect("evict"), 4);
    // A record written again for a scope whose record expired replaces it.
    txn.insert_idempotency(&row(19, 50)).expect("replace");
    txn.commit().expect("commit");
    let reader = store.reader();
    assert_eq!(reader.idempotency_count().expect("count"), 10);
    assert_eq!(reader.idempotency(&[9; 16]).expect("read"), None);
    assert_eq!(
        reader.idempotency(&[10; 16]).expect("read"),
        Some(row(10, 5)),
        "read back whole"
    );
    assert_eq!(
        reader
            .idempotency(&[19; 16])
            .expect("read")
            .map(|found| found.created_at_us),
        Some(50)
    );
}

fn open_with_keys(dir: &tempfile::TempDir, keys: &std::sync::Arc<SubjectKeys>) -> Store {
    let options = StoreOptions {
        subject_keys: Some(std::sync::Arc::clone(keys)),
        ..StoreOptions::default()
    };
    Store::open(&dir.path().join("arxi.db"), &options).expect("open")
}

fn file_holds(path: &std::path::Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.windows(needle.len()).any(|window| window == needle)
}

/// With a subject key file, a subject's payloads are stored sealed (no
/// salt, content or subject in clear in the database file), read back
/// opened, found by subject; destroying the key after an erasure leaves a
/// copy of the database made before it unreadable (withheld), and the key
/// itself is gone from the key file.
#[test]
fn sealed_payloads_and_their_shredding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys_path = dir.path().join("subject-keys.db");
    let keys = std::sync::Arc::new(SubjectKeys::open(&keys_path).expect("keys"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keys_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
    let mut store = open_with_keys(&dir, &keys);
    fill(&mut store);
    assert!(!store.reader().has_sealed_payloads().expect("read"));
    let txn = store.transaction().expect("txn");
    for (seq, subject) in [
        (5_u64, Some("person/7")),
        (6, Some("person/8")),
        (7, Some("person/7")),
        (9, None),
    ] {
        let content = format!("{{\"marker\":\"SECRET-{seq}-MARKER\"}}");
        txn.insert_payload(seq, subject, &[seq as u8; 32], content.as_bytes())
            .expect("payload");
    }
    txn.commit().expect("commit");
    assert_eq!(
        keys.len().expect("len"),
        2,
        "one key per subject, made durable"
    );
    assert!(store.reader().has_sealed_payloads().expect("read"));
    store
        .checkpoint(arxi_store::CheckpointKind::Truncate)
        .expect("checkpoint");
    let db = dir.path().join("arxi.db");
    assert!(!file_holds(&db, b"SECRET-5-MARKER"), "sealed at rest");
    assert!(
        !file_holds(&db, b"person/7"),
        "the subject is not kept in clear"
    );
    assert!(
        file_holds(&db, b"SECRET-9-MARKER"),
        "no subject: stored as before"
    );
    let reader = store.reader();
    let held = reader.payload(7).expect("read").expect("row");
    assert_eq!(
        held.content,
        Some(([7; 32], b"{\"marker\":\"SECRET-7-MARKER\"}".to_vec()))
    );
    assert_eq!(
        (held.subject.as_deref(), held.withheld),
        (Some("person/7"), false)
    );
    assert_eq!(
        reader.unerased_of_subject("person/7", 10).expect("read"),
        vec![5, 7]
    );
    // A copy made before the erasure.
    let copy = dir.path().join("copy.db");
    arxi_store::backup(&dir.path().join("arxi.db"), &copy).expect("backup");
    let key_bytes: Vec<u8> = rusqlite::Connection::open(&keys_path)
        .expect("open key file")
        .query_row(
            "SELECT key FROM subject_keys WHERE subject = 'person/7'",
            [],
            |row| row.get(0),
        )
        .expect("the key");
    let txn = store.transaction().expect("txn");
    txn.erase_payloads(&[5, 7], 100).expect("erase");
    assert!(txn.mark_subject_key_destroyed("person/7").expect("mark"));
    assert!(
        !txn.mark_subject_key_destroyed("person/none")
            .expect("no key")
    );
    txn.commit().expect("commit");
    assert_eq!(store.destroy_marked_keys().expect("destroy"), 1);
    assert_eq!(store.destroy_marked_keys().expect("again"), 0);
    assert_eq!(keys.key_id_of("person/7").expect("read"), None);
    assert_eq!(keys.len().expect("len"), 1);
    let wal = dir.path().join("subject-keys.db-wal");
    assert!(
        !file_holds(&keys_path, &key_bytes),
        "zeroed in the key file"
    );
    assert!(!file_holds(&wal, &key_bytes), "and not left in its WAL");
    assert!(!file_holds(&keys_path, b"person/7"));
    let reader = store.reader();
    assert!(
        reader
            .unerased_of_subject("person/7", 10)
            .expect("read")
            .is_empty()
    );
    assert!(!reader.payload(6).expect("read").expect("row").withheld);
    // The copy still holds rows 5 and 7 sealed, under a key that is gone.
    let copy_store = Store::open(
        &copy,
        &StoreOptions {
            subject_keys: Some(std::sync::Arc::clone(&keys)),
            ..StoreOptions::default()
        },
    )
    .expect("open copy");
    let locked = copy_store.reader().payload(5).expect("read").expect("row");
    assert!(locked.withheld && locked.sealed);
    assert_eq!(
        (locked.content, locked.subject, locked.erased_by),
        (None, None, None)
    );
    let other = copy_store.reader().payload(6).expect("read").expect("row");
    assert!(
        other.content.is_some(),
        "another subject's key still opens it"
    );
    assert!(!file_holds(&copy, b"SECRET-5-MARKER"));
    // A new payload of the same subject gets a new key.
    let txn = store.transaction().expect("txn");
    txn.insert_payload(10, Some("person/7"), &[10; 32], b"{}")
        .expect("payload");
    txn.commit().expect("commit");
    assert!(keys.key_id_of("person/7").expect("read").is_some());
    assert_eq!(
        store
            .reader()
            .unerased_of_subject("person/7", 10)
            .expect("read"),
        vec![10]
    );
}

/// A mark written with an erasure is carried out at the next open when
/// the process stopped before destroying the key.
#[test]
fn a_marked_key_is_destroyed_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys_path = dir.path().join("subject-keys.db");
    {
        let keys = std::sync::Arc::new(SubjectKeys::open(&keys_path).expect("keys"));
        let mut store = open_with_keys(&dir, &keys);
        fill(&mut store);
        let txn = store.transaction().expect("txn");
        txn.insert_payload(5, Some("person/7"), &[5; 32], b"{\"a\":1}")
            .expect("payload");
        txn.commit().expect("commit");
        let txn = store.transaction().expect("txn");
        txn.erase_payloads(&[5], 100).expect("erase");
        assert!(txn.mark_subject_key_destroyed("person/7").expect("mark"));
        txn.commit().expect("commit");
        // Stops here, before destroy_marked_keys.
    }
    let keys = std::sync::Arc::new(SubjectKeys::open(&keys_path).expect("keys"));
    assert_eq!(keys.len().expect("len"), 1, "still there before the open");
    let _store = open_with_keys(&dir, &keys);
    assert_eq!(keys.len().expect("len"), 0, "destroyed by the open");
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.db");
    std::fs::write(&path, b"").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = SubjectKeys::open(&path).expect_err("refused");
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

/// A filled database at `dir`, then changed by `sql` (an older schema's
/// tables and rows).
fn filled_then(dir: &tempfile::TempDir, sql: &str) {
    {
        let mut store = open(dir);
        fill(&mut store);
    }
    arxi_store::fault::execute(&dir.path().join("arxi.db"), sql).expect("downgrade");
}

/// The two payload rows the migration tests write before migrating: 5
/// held (subject `person/7`, a zero salt, `{}`), 6 erased by 9.
fn assert_payload_rows_kept(store: &Store) {
    let reader = store.reader();
    let held = reader.payload(5).expect("read").expect("row");
    assert_eq!(held.content, Some(([0; 32], b"{}".to_vec())));
    assert_eq!(
        reader.payload(6).expect("read").expect("row").erased_by,
        Some(9)
    );
    assert_eq!(
        reader.unerased_of_subject("person/7", 10).expect("read"),
        vec![5]
    );
}

/// A version 6 database's payload rows survive the rebuild of the
/// payloads table (version 7), held and erased alike.
#[test]
fn version_6_payload_rows_are_kept_by_the_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    filled_then(
        &dir,
        "DROP TABLE timestamps; DROP INDEX segments_sealed_at; DROP TABLE payloads;
         CREATE TABLE payloads (
             seq       INTEGER PRIMARY KEY REFERENCES envelopes (seq),
             subject   TEXT,
             salt      BLOB    CHECK (salt IS NULL OR length(salt) = 32),
             content   BLOB,
             erased_by INTEGER,
             CHECK ((erased_by IS NULL) = (content IS NOT NULL AND salt IS NOT NULL))
         );
         CREATE INDEX payloads_subject ON payloads (subject, seq) WHERE subject IS NOT NULL;
         INSERT INTO payloads VALUES (5, 'person/7', zeroblob(32), CAST('{}' AS BLOB), NULL);
         INSERT INTO payloads VALUES (6, NULL, NULL, NULL, 9);
         PRAGMA user_version = 6;",
    );
    assert_payload_rows_kept(&open(&dir));
}

/// Schema version 10 drops the foreign key of `payloads.seq` by rewriting
/// the table's declaration in place: a version 9 file's rows, held and
/// erased, are kept, the file passes SQLite's integrity check, and a
/// payload row still needs its envelope (the store checks now).
#[test]
fn version_9_payloads_lose_their_foreign_key_and_keep_their_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    // The payloads table as versions 7 to 9 declared it.
    filled_then(
        &dir,
        "DROP TABLE payloads;
         CREATE TABLE payloads_v7 (
             seq       INTEGER PRIMARY KEY REFERENCES envelopes (seq),
             subject   TEXT,
             salt      BLOB    CHECK (salt IS NULL OR length(salt) = 32),
             content   BLOB,
             erased_by INTEGER,
             key_id    BLOB    CHECK (key_id IS NULL OR length(key_id) = 16),
             CHECK (erased_by IS NULL OR content IS NULL),
             CHECK (content IS NOT NULL OR (subject IS NULL AND salt IS NULL AND key_id IS NULL)),
             CHECK (content IS NULL OR (key_id IS NULL) = (salt IS NOT NULL)),
             CHECK (key_id IS NULL OR subject IS NULL)
         );
         ALTER TABLE payloads_v7 RENAME TO payloads;
         CREATE INDEX payloads_subject ON payloads (subject, seq) WHERE subject IS NOT NULL;
         CREATE INDEX payloads_key ON payloads (key_id, seq) WHERE key_id IS NOT NULL;
         INSERT INTO payloads VALUES (5, 'person/7', zeroblob(32), CAST('{}' AS BLOB), NULL, NULL);
         INSERT INTO payloads VALUES (6, NULL, NULL, NULL, 9, NULL);
         PRAGMA user_version = 9;",
    );
    let schema = |path: &std::path::Path| -> (i64, i64, String, String) {
        let conn = rusqlite::Connection::open(path).expect("open");
        let version = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        let keys = conn
            .query_row(
                "SELECT count(*) FROM pragma_foreign_key_list('payloads')",
                [],
                |row| row.get(0),
            )
            .expect("keys");
        let sql = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'payloads'",
                [],
                |row| row.get(0),
            )
            .expect("sql");
        let check = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("check");
        (version, keys, sql, check)
    };
    let (version, keys, before, _) = schema(&path);
    assert_eq!((version, keys), (9, 1));
    let mut store = open(&dir);
    let (version, keys, after, check) = schema(&path);
    assert_eq!((version, keys, check.as_str()), (10, 0, "ok"));
    assert_eq!(
        after,
        before.replace(" REFERENCES envelopes (seq)", ""),
        "only the foreign key goes; the CHECKs stay"
    );
    assert_payload_rows_kept(&store);
    // Without the foreign key, the store refuses a payload row whose
    // envelope has no row, whichever way it is written.
    let txn = store.transaction().expect("txn");
    for refused in [
        txn.insert_payload(999, Some("person/7"), &[1; 32], b"{}"),
        txn.insert_erased_payload(998, 9),
        txn.insert_withheld_payload(997),
    ] {
        assert!(
            matches!(refused, Err(StoreError::BadRow(ref reason)) if reason.contains("has no row")),
            "{refused:?}"
        );
    }
    let mut rows = txn.rows();
    rows.insert_envelope(&row(301, 3, 0, "a.x", None))
        .expect("envelope");
    rows.insert_payload(301, None, &[3; 32], b"{}")
        .expect("the envelope just written");
    rows.insert_payload(7, None, &[4; 32], b"{}")
        .expect("an envelope of an earlier commit");
    assert!(rows.insert_payload(996, None, &[5; 32], b"{}").is_err());
    drop(rows);
    txn.commit().expect("commit");
    drop(store);
    // A second open finds version 10 and changes nothing.
    let _store = open(&dir);
    assert_eq!(schema(&path).2, after);
}

/// An envelope's hex runs are stored as binary and read back byte for
/// byte; a body stored before packing (schema version 8) reads as it is.
#[test]
fn envelope_bytes_are_stored_packed_and_read_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let mut store = open(&dir);
    fill(&mut store);
    let hex = |byte: &str, count| byte.repeat(count);
    let canonical = format!(
        r#"{{"attachments":[],"hash":"{}","key_id":"ed25519:{}","payload":{{"n":12345678901234567890123456789012345}},"prev_hash":"{}","signature":"{}","v":1}}"#,
        hex("a5", 32),
        hex("7c", 16),
        hex("00", 32),
        hex("e1", 64)
    );
    let mut envelope = row(301, 3, 0, "a.x", None);
    envelope.body = canonical.clone().into_bytes();
    let txn = store.transaction().expect("txn");
    txn.insert_envelope(&envelope).expect("insert");
    txn.commit().expect("commit");
    assert_eq!(store.reader().envelope(301).expect("read"), Some(envelope));
    let stored_length = |seq: u64| -> usize {
        let length: i64 = rusqlite::Connection::open(&path)
            .expect("open")
            .query_row(
                "SELECT length(body) FROM envelopes WHERE seq = ?1",
                [seq as i64],
                |row| row.get(0),
            )
            .expect("length");
        length as usize
    };
    // 288 hex digits and a 35-digit number (34 of its digits packed) take
    // half their length, plus a mark and a length byte per run.
    assert_eq!(canonical.len() - stored_length(301), (288 + 34) / 2 - 2 * 5);

    arxi_store::fault::replace_envelope_body(&path, 300, canonical.as_bytes()).expect("replace");
    assert_eq!(stored_length(300), canonical.len());
    let read = store.reader().envelope(300).expect("read").expect("row");
    assert_eq!(read.body, canonical.as_bytes());
}
