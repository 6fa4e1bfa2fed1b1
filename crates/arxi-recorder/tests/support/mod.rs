//! Shared helpers for the recorder tests: a manual clock, keys, configs,
//! requests, and putting a backup back.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arxi_format::{CanonicalJson, Hash32, SecretKey};
use arxi_recorder::bundle::{BundleFile, BundleSelection};
use arxi_recorder::{
    AppendRequest, Clock, IdempotencyKey, IdempotencyRequest, Outcome, Receipt, RecorderConfig,
    RecorderEngine, StoredResponse,
};

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_us: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(start_us)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_micros()).expect("small"),
            Ordering::SeqCst,
        );
    }

    pub fn set(&self, to_us: i64) {
        self.0.store(to_us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub const START_US: i64 = 1_795_380_078_000_000;

pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&Hash32::of(&[seed]).0).expect("seed")
}

pub fn config() -> RecorderConfig {
    RecorderConfig::new("test-recorder")
}

pub fn open(path: &Path, config: RecorderConfig, clock: Arc<dyn Clock>) -> RecorderEngine {
    RecorderEngine::open(path, config, key(1), clock).expect("engine opens")
}

pub fn request(event_type: &str, payload: serde_json::Value) -> AppendRequest {
    AppendRequest {
        event_type: event_type.into(),
        actor: Some("tester".into()),
        subject: None,
        payload: CanonicalJson::from_value(&payload).expect("canonical"),
        attachments: vec![],
        idempotency: None,
    }
}

/// Appends and waits; panics on any failure.
pub fn append(engine: &RecorderEngine, event_type: &str, payload: serde_json::Value) -> Receipt {
    match engine
        .append(request(event_type, payload))
        .expect("queued")
        .wait()
        .expect("recorded")
    {
        Outcome::Done { value, .. } => value,
        other => panic!("unexpected outcome {other:?}"),
    }
}

/// An idempotency request that renders the receipt's seq as the body.
pub fn idempotent(key: &str, request_hash: &[u8]) -> IdempotencyRequest<Receipt> {
    IdempotencyRequest {
        key: IdempotencyKey {
            method: "POST".into(),
            path: "/v1/envelopes".into(),
            key: key.into(),
        },
        request_hash: Hash32::of(request_hash),
        render: Box::new(|receipt: &Receipt| StoredResponse {
            status: 201,
            content_type: "application/json".into(),
            body: format!("{{\"seq\":{}}}", receipt.seq),
        }),
    }
}

/// Full verification of the database: every envelope, every seal.
pub fn verify_all(path: &Path) -> (u64, u64) {
    arxi_recorder::verify_database(path, None).unwrap_or_else(|e| panic!("verification: {e}"))
}

/// Puts `backup` in the database's place as an operator would: the
/// recorder stopped (its engine dropped: its pooled read connections would
/// otherwise still lock the file, as no stopped process does), the WAL and
/// shared-memory files of the newer database removed, the signed head left
/// where it is.
pub fn restore_backup(backup: &Path, database: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
    std::fs::copy(backup, database).expect("restore the backup");
}

/// Builds, records and publishes every sealed segment, as the sidecar does.
pub fn build_all(engine: &RecorderEngine) -> BundleFile {
    let staged = engine
        .build_bundle(BundleSelection::AllSealed, &mut |_| {})
        .expect("built");
    match engine
        .record_bundle_built(&staged, None)
        .expect("queued")
        .wait()
        .expect("recorded")
    {
        Outcome::Done { .. } => engine.publish_bundle(staged).expect("published"),
        other => panic!("{other:?}"),
    }
}
