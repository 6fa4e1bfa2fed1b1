//! RFC 3161 tokens of seals through the recorder: the queue of seals
//! without a token (per TSA, newest first), tokens stored and written
//! after their seals in bundles (a version 5 container that verifies under
//! the TSA's CA with `--require-timestamp`), a stored token over another
//! hash refused at build, and the tokens brought back by a restore from
//! the bundle alone.

mod support;

use std::time::Duration;

use arxi_format::Hash32;
use arxi_format::bundle::Tag;
use arxi_format::tsp::TsaTrust;
use arxi_recorder::bundle::{BundleError, BundleSelection};
use arxi_recorder::{RecorderEngine, RestoreRecord, Restorer, TimestampRow, UnstampedSeal};
use arxi_testkit::tsa::{TestTsa, Usage};
use arxi_verify::reader::{BundleReader, Record};
use arxi_verify::{Options, TimestampPolicy, verify_bundle};
use serde_json::json;
use support::*;

/// A recorder at `path` with its bundle directory beside it.
fn recorder(path: &std::path::Path, clock: &std::sync::Arc<ManualClock>) -> RecorderEngine {
    let mut config = config();
    config.bundle_dir = Some(path.with_file_name("bundles"));
    open(path, config, clock.clone())
}

fn seal(engine: &RecorderEngine) {
    engine.seal(None).expect("queued").wait().expect("sealed");
}

/// A token of `tsa` over `seal`, 1 s after `sealed_at_us`.
fn token_row(tsa: &TestTsa, name: &str, seal: &UnstampedSeal, sealed_at_us: i64) -> TimestampRow {
    let gen_time = u64::try_from(sealed_at_us / 1_000_000).expect("after 1970") + 1;
    TimestampRow {
        segment_id: seal.segment_id,
        tsa: name.into(),
        imprint: seal.hash,
        token: tsa.token(&Hash32(seal.hash), gen_time, seal.segment_id),
        gen_time_us: i64::try_from(gen_time).expect("fits") * 1_000_000,
        received_at_us: 0,
    }
}

fn store(engine: &RecorderEngine, rows: Vec<TimestampRow>) {
    engine
        .store_timestamps(rows)
        .expect("queued")
        .wait()
        .expect("stored");
}

fn policy(tsa: &TestTsa) -> TimestampPolicy {
    let mut trust = TsaTrust::new();
    trust.add(tsa.root_pem().as_bytes()).expect("the CA");
    TimestampPolicy {
        trust,
        required: true,
        ..TimestampPolicy::default()
    }
}

/// A bundle's records as the sidecar's restore reads them.
fn restore_records(bundle: &[u8]) -> Vec<Result<RestoreRecord, String>> {
    let mut reader = BundleReader::open(bundle).expect("a bundle");
    let mut records = Vec::new();
    while let Some(record) = reader.next_record().expect("reads") {
        if let Record::Json { tag, payload } = record {
            records.push(Ok(match tag {
                Tag::Key => RestoreRecord::Key(payload),
                Tag::Envelope => RestoreRecord::Envelope(payload),
                Tag::Seal => RestoreRecord::Seal(payload),
                Tag::Timestamp => RestoreRecord::Timestamp(payload),
                _ => continue,
            }));
        }
    }
    records
}

#[test]
fn seals_wait_for_their_tokens_and_bundles_carry_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = recorder(&path, &clock);
    let tsa = TestTsa::new("arxi test TSA", 0x41, Usage::Timestamping);
    for n in 0..3 {
        append(&engine, "orders.created", json!({"n": n}));
        clock.advance(Duration::from_secs(1));
        seal(&engine);
    }
    let waiting = engine.unstamped_seals("tsa-1", 0, 16).expect("reads");
    let ids: Vec<u64> = waiting.iter().map(|seal| seal.segment_id).collect();
    assert_eq!(ids, [3, 2, 1], "newest first");
    assert_eq!(engine.unstamped_seal_count("tsa-1", 0).expect("reads"), 3);
    assert!(
        engine
            .unstamped_seals("tsa-1", START_US + 3_600_000_000, 16)
            .expect("reads")
            .is_empty(),
        "none sealed after a later time"
    );
    let rows: Vec<TimestampRow> = waiting
        .iter()
        .map(|seal| token_row(&tsa, "tsa-1", seal, START_US + 3_000_000))
        .collect();
    store(&engine, rows.clone());
    assert_eq!(engine.unstamped_seal_count("tsa-1", 0).expect("reads"), 0);
    assert_eq!(
        engine.unstamped_seal_count("tsa-2", 0).expect("reads"),
        3,
        "per TSA"
    );
    let stored = engine.seal_timestamps(2).expect("reads");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].token, rows[1].token);
    assert!(stored[0].received_at_us > 0, "set when committed");

    let built = build_all(&engine);
    let bytes = std::fs::read(&built.path).expect("bundle");
    assert!(bytes.starts_with(b"ARXI-BUNDLE 5\n"));
    let trusted = [key(1).public().clone()];
    let options = Options {
        timestamp: policy(&tsa),
        ..Options::default()
    };
    let report = verify_bundle(&bytes[..], &trusted, &options, None);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert_eq!(report.timestamps.len(), 3);
    assert!(report.timestamps.iter().all(|t| t.trusted && t.holds));

    // Restored from the bundle alone, the tokens come back with their seals.
    let rebuilt = dir.path().join("rebuilt.db");
    let mut restorer = Restorer::create(&rebuilt, "test-recorder", &trusted).expect("creates");
    restorer
        .restore_bundle(restore_records(&bytes))
        .expect("restores");
    let restored = restorer.finish().expect("finishes");
    assert_eq!(restored.timestamps, 3, "{restored:?}");
    let store =
        arxi_store::Store::open(&rebuilt, &arxi_store::StoreOptions::default()).expect("opens");
    for row in &rows {
        let held = store.reader().timestamps(row.segment_id).expect("reads");
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].imprint, &held[0].token), (row.imprint, &row.token));
    }
    engine.shutdown().expect("shutdown");
}

#[test]
fn a_stored_token_over_another_hash_stops_the_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(START_US);
    let engine = recorder(&dir.path().join("arxi.db"), &clock);
    let tsa = TestTsa::new("arxi test TSA", 0x41, Usage::Timestamping);
    append(&engine, "orders.created", json!({"n": 1}));
    seal(&engine);
    let seal_row = engine.unstamped_seals("tsa-1", 0, 1).expect("reads")[0];
    let mut row = token_row(&tsa, "tsa-1", &seal_row, START_US);
    row.imprint = Hash32::of(b"another seal").0;
    store(&engine, vec![row]);
    let built = engine.build_bundle(BundleSelection::AllSealed, &mut |_| {});
    assert!(
        matches!(&built, Err(BundleError::Inconsistent(why)) if why.contains("over another hash")),
        "{built:?}"
    );
    engine.shutdown().expect("shutdown");
}
