//! Restore from the archive: a database put back from an older backup is
//! brought forward with the sealed segments archived after it, so the
//! recorder starts where its archive ends instead of forking the chain
//! from the backup's head (`Docs/reliability.md`, "Backup and restore").
//!
//! The caller (the sidecar's `restore-archive` command) lists the archive,
//! downloads each bundle after the database's last seal, checks its
//! SHA-256 and verifies it as an auditor would; this module then writes
//! its records as the recorder wrote them, one transaction per segment,
//! and checks every one again against the database it continues: the
//! chain link, the hash, the signature under a key the database knows or
//! the caller trusts, the segment's Merkle root, the seal chain. Records
//! the database already holds (the unsealed tail of the backup) must be
//! the same bytes; anything else is a fork and stops the restore before
//! it writes. What the recorder derives from its own control envelopes is
//! derived again: archive and pruning records (a pruning recorded in the
//! restored range deletes the same rows), erasures (a payload erased
//! before its bundle was uploaded comes back erased, one erased after is
//! erased again), the bundle index, the signer and payload-policy state,
//! the log tree's nodes.
//!
//! Timestamp tokens (`T` records) are stored again with their seals.
//!
//! Not restored: idempotency records, log checkpoints and cosignatures
//! (the backup's are removed with the first segment restored, since they
//! describe an older tree; the recorder signs a checkpoint of the restored
//! tree when it starts and its witnesses cosign it after checking it
//! extends what they saw), and whatever was never archived: envelopes
//! after the last archived seal are lost, which the signed head still
//! reports at start.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arxi_format::envelope::{Envelope, Kind};
use arxi_format::payload::{Disclosure, ErasureRecord};
use arxi_format::seal::{Seal, envelope_leaf};
use arxi_format::timestamp::TimestampRecord;
use arxi_format::tsp::Token;
use arxi_format::{ChainHead, Hash32, PublicKey};
use arxi_store::{
    EnvelopeRow, KeyRow, PrunedRow, SealRow, SegmentRow, Store, StoreOptions, namespace,
};
use serde_json::{Value, json};

use crate::chain::{ChainState, OpenSegment};
use crate::control_types;
use crate::plan::{Op, apply_ops};
use crate::recovery::{check_envelope_row, check_seal_signature, load_keys, load_state};
use crate::{OpenError, control, log_tree};

/// Rows a pruning deletes per transaction while a restore replays it.
const PRUNE_ROWS_PER_TRANSACTION: u64 = 10_000;

/// One record of an archived bundle, in the bundle's order (the manifest
/// and the trailer are the caller's: it verified the bundle).
#[derive(Debug)]
pub enum RestoreRecord {
    /// `K`: a key record.
    Key(Vec<u8>),
    /// `D`: a key delegation.
    Delegation(Vec<u8>),
    /// `E`: an envelope's stored bytes.
    Envelope(Vec<u8>),
    /// `P`: the payload disclosure of the version 2 envelope before it.
    Payload(Vec<u8>),
    /// `A`: an attachment of the envelope before it.
    Attachment(Vec<u8>),
    /// `S`: a seal, after its segment's envelopes.
    Seal(Vec<u8>),
    /// `T`: a timestamp token of the seal before it.
    Timestamp(Vec<u8>),
}

/// Where a database stands before a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePoint {
    /// The recorder id the database holds.
    pub recorder_id: String,
    /// Segments `1..=sealed_through` are sealed here.
    pub sealed_through: u64,
    /// The last envelope.
    pub head_seq: u64,
}

/// What a restore wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Segments written and sealed.
    pub segments: u64,
    /// Envelopes written.
    pub envelopes: u64,
    /// Envelopes of the bundles the database already held (same hash).
    pub already_held: u64,
    /// Prunings replayed.
    pub prunings: u64,
    /// Erasure records replayed.
    pub erasures: u64,
    /// Timestamp tokens stored.
    pub timestamps: u64,
}

/// Why a restore stopped. Every segment committed before it stays: the
/// database is consistent after each, and a second run goes on from there.
#[derive(Debug)]
pub enum RestoreError {
    /// The database could not be opened, read or written.
    Open(OpenError),
    /// The records do not continue this database (a fork, a gap, an
    /// unknown key, a record out of place); nothing of the segment was
    /// written.
    Refused(String),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(error) => write!(f, "{error}"),
            Self::Refused(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for RestoreError {}

impl From<OpenError> for RestoreError {
    fn from(error: OpenError) -> Self {
        Self::Open(error)
    }
}

impl From<arxi_store::StoreError> for RestoreError {
    fn from(error: arxi_store::StoreError) -> Self {
        Self::Open(OpenError::Store(error))
    }
}

/// The host's time in µs since the epoch (0 before it): when restored
/// rows were written.
fn wall_clock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
}

fn refused(reason: impl Into<String>) -> RestoreError {
    RestoreError::Refused(reason.into())
}

/// The envelope whose `P` and `A` records come next.
#[derive(Debug)]
struct Current {
    envelope: Envelope,
    /// Already in the database: its records are skipped.
    held: bool,
    payload_seen: bool,
    attachments_seen: usize,
}

/// A database being brought forward, holding the recorder's lock.
#[derive(Debug)]
pub struct Restorer {
    store: Store,
    _lock: std::fs::File,
    recorder_id: String,
    keys: HashMap<String, PublicKey>,
    trusted: HashMap<String, PublicKey>,
    state: ChainState,
    /// The writes of the segment being restored, applied at its seal.
    ops: Vec<Op>,
    current: Option<Current>,
    /// Payload rows this segment's ops insert erased: seq -> erased_by.
    erased: HashMap<u64, u64>,
    /// A pruning of this segment, replayed once it commits.
    prune_through: Option<u64>,
    /// The bundle's key records: key id -> first envelope it signs.
    key_first_seq: HashMap<String, u64>,
    report: RestoreReport,
    /// The last seal read (segment, hash), which `T` records stamp; none
    /// once an envelope follows it.
    last_seal: Option<(u64, Hash32)>,
}

impl Restorer {
    /// Opens the stopped recorder's database at `database` (refused while
    /// a recorder has it open, or when it is another recorder's).
    /// `trusted`: keys beyond those the database knows that may have
    /// signed what follows (a key rotated in after the backup).
    pub fn open(
        database: &Path,
        recorder_id: &str,
        trusted: &[PublicKey],
    ) -> Result<Self, RestoreError> {
        if !database.exists() {
            return Err(refused(format!(
                "no database at {}: put a backup there first, or make a new one from the \
                 archive alone",
                database.display()
            )));
        }
        let lock = crate::engine::lock_database(database)?;
        let store = Store::open(database, &StoreOptions::default())?;
        let stored = store
            .reader()
            .meta_get(namespace::RECORDER, "recorder_id")?
            .map(|entry| String::from_utf8_lossy(&entry.value).into_owned());
        match stored {
            Some(stored) if stored == recorder_id => Self::start(store, lock, stored, trusted),
            Some(stored) => Err(refused(format!(
                "the database is recorder {stored:?}'s, not {recorder_id:?}'s"
            ))),
            None => Err(refused(
                "the database holds no recorder id (it never started)",
            )),
        }
    }

    /// Stores the restored payloads under the subject key file at `keys`
    /// (the recorder's `subject_keys`), as the recorder would.
    pub fn with_subject_keys(mut self, keys: &Path) -> Result<Self, RestoreError> {
        let options = StoreOptions {
            subject_keys: Some(Arc::new(arxi_store::SubjectKeys::open(keys)?)),
            ..StoreOptions::default()
        };
        self.store = Store::open(self.store.path(), &options)?;
        Ok(self)
    }

    /// Makes a new database at `database` for `recorder_id`, to be filled
    /// from the archive alone (the database and every backup lost).
    pub fn create(
        database: &Path,
        recorder_id: &str,
        trusted: &[PublicKey],
    ) -> Result<Self, RestoreError> {
        if database.exists() {
            return Err(refused(format!(
                "{} exists: a new database is only made where there is none",
                database.display()
            )));
        }
        let lock = crate::engine::lock_database(database)?;
        let mut store = Store::open(database, &StoreOptions::default())?;
        let now_us = wall_clock_us();
        let txn = store.transaction()?;
        txn.meta_put(
            namespace::RECORDER,
            "recorder_id",
            recorder_id.as_bytes(),
            now_us,
        )?;
        txn.commit()?;
        Self::start(store, lock, recorder_id.to_owned(), trusted)
    }

    fn start(
        store: Store,
        lock: std::fs::File,
        recorder_id: String,
        trusted: &[PublicKey],
    ) -> Result<Self, RestoreError> {
        let reader = store.reader();
        let keys = load_keys(&reader)?;
        let state = load_state(reader)?;
        Ok(Self {
            store,
            _lock: lock,
            recorder_id,
            keys,
            trusted: trusted
                .iter()
                .map(|key| (key.id().as_str().to_owned(), key.clone()))
                .collect(),
            state,
            ops: Vec::new(),
            current: None,
            erased: HashMap::new(),
            prune_through: None,
            key_first_seq: HashMap::new(),
            report: RestoreReport::default(),
            last_seal: None,
        })
    }

    /// Where the database stands now.
    pub fn point(&self) -> RestorePoint {
        let sealed_through = match &self.state.open {
            Some(open) => open.segment_id - 1,
            None => self.state.last_segment_id,
        };
        RestorePoint {
            recorder_id: self.recorder_id.clone(),
            sealed_through,
            head_seq: self.state.head.seq,
        }
    }

    /// What was written so far.
    pub fn report(&self) -> RestoreReport {
        self.report
    }

    /// The keys a bundle to restore may be signed by: those the database
    /// knows and those the caller trusts.
    pub fn keys(&self) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = self.keys.values().cloned().collect();
        keys.extend(
            self.trusted
                .iter()
                .filter(|(id, _)| !self.keys.contains_key(*id))
                .map(|(_, key)| key.clone()),
        );
        keys
    }

    /// How the database compares with the signed head beside it: `None`
    /// when there is none or the database reaches it; else what is still
    /// missing (never archived), which the recorder refuses to start
    /// without an acknowledgement.
    pub fn behind_head(&self) -> Result<Option<crate::Rollback>, RestoreError> {
        let path = crate::head_path(self.store.path());
        Ok(crate::head::check(
            &self.store.reader(),
            &path,
            Some(&self.recorder_id),
            None,
        )?)
    }

    /// Writes one bundle's records. A bundle that ends inside a segment
    /// leaves that segment unwritten.
    pub fn restore_bundle(
        &mut self,
        records: impl IntoIterator<Item = Result<RestoreRecord, String>>,
    ) -> Result<(), RestoreError> {
        let outcome = records.into_iter().try_for_each(|record| {
            match record.map_err(|reason| refused(format!("reading the bundle: {reason}")))? {
                RestoreRecord::Key(bytes) => self.key(&bytes),
                RestoreRecord::Delegation(bytes) => self.delegation(&bytes),
                RestoreRecord::Envelope(bytes) => self.envelope(&bytes),
                RestoreRecord::Payload(bytes) => self.payload(&bytes),
                RestoreRecord::Attachment(bytes) => self.attachment(bytes),
                RestoreRecord::Seal(bytes) => self.seal(&bytes),
                RestoreRecord::Timestamp(bytes) => self.timestamp(&bytes),
            }
        });
        let unfinished = self.finish_envelope().and_then(|()| {
            if self.ops.is_empty() {
                Ok(())
            } else {
                Err(refused("the bundle ends inside a segment"))
            }
        });
        if outcome.is_err() || unfinished.is_err() {
            self.discard_segment()?;
        }
        outcome.and(unfinished)
    }

    /// Copies the WAL into the database and truncates it (what an erasure
    /// replayed removed is then gone from the WAL file too), and returns
    /// what was written.
    pub fn finish(mut self) -> Result<RestoreReport, RestoreError> {
        self.store
            .checkpoint(arxi_store::CheckpointKind::Truncate)?;
        Ok(self.report)
    }

    /// Forgets the unwritten segment: the state and the known keys (a key
    /// row planned with it was not written) are read back from the
    /// database.
    fn discard_segment(&mut self) -> Result<(), RestoreError> {
        self.ops.clear();
        self.erased.clear();
        self.current = None;
        self.prune_through = None;
        self.keys = load_keys(&self.store.reader())?;
        self.state = load_state(self.store.reader())?;
        Ok(())
    }

    /// A key record: remembers from which envelope the key signs, for
    /// the key row written when an envelope it signed is restored.
    fn key(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        let record = arxi_format::bundle::KeyRecord::parse(bytes)
            .map_err(|error| refused(format!("key record: {error}")))?;
        self.key_first_seq
            .insert(record.public_key.id().as_str().to_owned(), record.first_seq);
        Ok(())
    }

    /// A delegation record: its key becomes known for what it signs when
    /// a key this database or the operator trusts delegated it, and the
    /// delegation verifies under that key.
    fn delegation(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        let delegation = arxi_format::delegation::Delegation::parse(bytes)
            .map_err(|error| refused(format!("delegation record: {error}")))?;
        let body = &delegation.body;
        let root = self
            .keys
            .get(body.root_key_id.as_str())
            .or_else(|| self.trusted.get(body.root_key_id.as_str()))
            .ok_or_else(|| {
                refused(format!(
                    "delegation of {} by {}, a key the database does not know: trust it with --key if it is this recorder's",
                    body.key_id(),
                    body.root_key_id
                ))
            })?;
        delegation.verify(root).map_err(|_| {
            refused(format!(
                "the delegation of {} does not verify under {}",
                body.key_id(),
                body.root_key_id
            ))
        })?;
        let key_id = body.key_id().as_str().to_owned();
        self.key_first_seq.insert(key_id.clone(), body.first_seq);
        self.trusted.insert(key_id, body.public_key.clone());
        Ok(())
    }

    /// An envelope: one the database holds must be the same; the next one
    /// must continue the chain.
    fn envelope(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        self.finish_envelope()?;
        self.last_seal = None;
        let envelope = Envelope::parse(bytes)
            .map_err(|error| refused(format!("an envelope that does not parse: {error}")))?;
        let held = envelope.body.seq <= self.state.head.seq;
        if held {
            self.check_held(&envelope)?;
            self.report.already_held += 1;
        } else {
            let row = envelope_row(&envelope, bytes);
            self.check_next(&envelope, &row)?;
            let effects = self.control_effects(&envelope, &row)?;
            self.place(&envelope, row)?;
            self.ops.extend(effects);
            self.report.envelopes += 1;
        }
        self.current = Some(Current {
            envelope,
            held,
            payload_seen: false,
            attachments_seen: 0,
        });
        Ok(())
    }

    /// An envelope the database already holds: the same hash, or pruned
    /// here (its segment's seal is compared instead).
    fn check_held(&self, envelope: &Envelope) -> Result<(), RestoreError> {
        let seq = envelope.body.seq;
        match self.store.reader().envelope(seq)? {
            Some(row) if row.hash != envelope.hash.0 => Err(refused(format!(
                "envelope {seq} differs between the database and the archive: \
                 this database is not an older copy of the archived recorder's"
            ))),
            _ => Ok(()),
        }
    }

    /// The next envelope: of this recorder, linked to the head, its hash
    /// and signature valid under a known or trusted key (whose row is
    /// written with it when the database did not know it).
    fn check_next(&mut self, envelope: &Envelope, row: &EnvelopeRow) -> Result<(), RestoreError> {
        let body = &envelope.body;
        let seq = body.seq;
        if body.recorder_id != self.recorder_id {
            return Err(refused(format!(
                "envelope {seq} is of recorder {:?}, this database of {:?}",
                body.recorder_id, self.recorder_id
            )));
        }
        self.state.head.check_next(body).map_err(|error| {
            refused(format!(
                "envelope {seq} does not continue the database's chain: {error}"
            ))
        })?;
        let key_id = body.key_id.as_str();
        if !self.keys.contains_key(key_id) {
            let key = self.trusted.get(key_id).cloned().ok_or_else(|| {
                refused(format!(
                    "envelope {seq} is signed by key {key_id}, which the database does not know: \
                     trust it with --key if it is this recorder's"
                ))
            })?;
            self.ops.push(Op::InsertKey(KeyRow {
                key_id: key_id.to_owned(),
                public_key: key.to_bytes(),
                first_seq: self.key_first_seq.get(key_id).copied().unwrap_or(seq),
                added_at_us: body.received_at.unix_micros(),
            }));
            self.keys.insert(key_id.to_owned(), key);
        }
        check_envelope_row(row, &self.keys)
            .map(drop)
            .map_err(|error| refused(error.to_string()))
    }

    /// Writes the envelope into its segment (opening the segment at its
    /// `arxi.segment.opened`) and the log tree.
    fn place(&mut self, envelope: &Envelope, row: EnvelopeRow) -> Result<(), RestoreError> {
        let body = &envelope.body;
        match &self.state.open {
            Some(open) if open.segment_id == body.segment_id => {}
            Some(open) => {
                return Err(refused(format!(
                    "envelope {} is in segment {}, but segment {} is not sealed",
                    body.seq, body.segment_id, open.segment_id
                )));
            }
            None => self.open_segment(envelope)?,
        }
        let leaf = envelope_leaf(&envelope.hash);
        let Some(open) = self.state.open.as_mut() else {
            unreachable!("a segment is open here");
        };
        open.envelope_count += 1;
        open.bytes += row.body.len() as u64;
        open.root.push(leaf);
        let nodes = self.state.tree.push(leaf);
        self.ops.push(Op::InsertEnvelope {
            row,
            unsigned: None,
        });
        if !nodes.is_empty() {
            self.ops
                .push(Op::InsertLogNodes(log_tree::node_rows(nodes).collect()));
        }
        self.state.head = ChainHead {
            seq: body.seq,
            hash: envelope.hash,
        };
        self.state.last_received_at = body.received_at;
        Ok(())
    }

    /// Opens the next segment, which starts with its `arxi.segment.opened`.
    fn open_segment(&mut self, envelope: &Envelope) -> Result<(), RestoreError> {
        let body = &envelope.body;
        let segment_id = self.state.last_segment_id + 1;
        if body.segment_id != segment_id
            || body.kind != Kind::Control
            || body.event_type != control_types::SEGMENT_OPENED
        {
            return Err(refused(format!(
                "envelope {} (segment {}, {}) does not open segment {segment_id}",
                body.seq, body.segment_id, body.event_type
            )));
        }
        self.ops.push(Op::InsertSegment(SegmentRow {
            segment_id,
            first_seq: body.seq,
            last_seq: body.seq,
            envelope_count: 0,
            bytes: 0,
            opened_at_us: body.received_at.unix_micros(),
            sealed_at_us: None,
        }));
        self.state.open = Some(OpenSegment {
            segment_id,
            first_seq: body.seq,
            envelope_count: 0,
            bytes: 0,
            opened_at: body.received_at,
            root: arxi_format::merkle::RootBuilder::new(),
        });
        self.state.last_segment_id = segment_id;
        Ok(())
    }

    /// The rows the recorder writes with a control envelope: archive,
    /// pruning and erasure records, the bundle index, the signer and
    /// payload-policy state.
    fn control_effects(
        &mut self,
        envelope: &Envelope,
        row: &EnvelopeRow,
    ) -> Result<Vec<Op>, RestoreError> {
        let body = &envelope.body;
        if body.kind != Kind::Control {
            return Ok(Vec::new());
        }
        let (seq, at) = (body.seq, body.received_at.unix_micros());
        let bad = |problem: String| refused(format!("control envelope {seq}: {problem}"));
        let payload: Value = match body.payload.inline() {
            Some(payload) => serde_json::from_slice(payload.as_bytes())
                .map_err(|error| bad(format!("payload: {error}")))?,
            None => return Err(bad("without its payload".into())),
        };
        let meta = |key: &str, value: Vec<u8>| Op::MetaPut {
            namespace: namespace::RECORDER,
            key: key.to_owned(),
            value,
            created_at_us: at,
        };
        let op = match body.event_type.as_str() {
            control_types::BUNDLE_BUILT => {
                let bundle = control::parse_bundle_built(row).map_err(bad)?;
                Op::IndexBundle {
                    seq,
                    bundle_id: bundle.id,
                }
            }
            control_types::SEGMENT_ARCHIVED => Op::RecordArchived(
                control::parse_segment_archived(&payload)
                    .map_err(bad)?
                    .to_row(seq, at),
            ),
            control_types::SEGMENT_PRUNED => self.pruning(&payload, seq, at).map_err(bad)?,
            control_types::PAYLOAD_ERASED => return self.erasure(&payload, seq).map_err(bad),
            control_types::KEY_DELEGATED => {
                let event = arxi_format::delegation::KeyDelegated::from_payload(&payload)
                    .map_err(|error| bad(error.to_string()))?;
                let key_id = event.delegation.body.key_id().as_str().to_owned();
                return Ok(vec![
                    meta("signer_key_id", key_id.as_bytes().to_vec()),
                    Op::MetaPut {
                        namespace: namespace::DELEGATION,
                        key: key_id,
                        value: event.delegation.to_canonical_bytes(),
                        created_at_us: at,
                    },
                ]);
            }
            control_types::KEY_LOADED | control_types::KEY_CHANGED => {
                match payload["key_id"].as_str() {
                    Some(key_id) => meta("signer_key_id", key_id.as_bytes().to_vec()),
                    None => return Err(bad("payload has no string key_id".into())),
                }
            }
            control_types::ENVELOPE_VERSION_CHANGED => {
                let policy = json!({
                    "version": payload["version"],
                    "committed_labels": payload["committed_labels"],
                });
                meta("payload_policy", policy.to_string().into_bytes())
            }
            _ => return Ok(Vec::new()),
        };
        Ok(vec![op])
    }

    /// An `arxi.segment.pruned`: its row, and the deletions replayed once
    /// its segment is written.
    fn pruning(&mut self, payload: &Value, seq: u64, at: i64) -> Result<Op, String> {
        let (first_segment, last_segment, first_seq, last_seq) =
            control::parse_segment_pruned(payload)?;
        self.prune_through = Some(last_seq);
        self.report.prunings += 1;
        Ok(Op::RecordPruned(PrunedRow {
            first_segment,
            last_segment,
            first_seq,
            last_seq,
            seq,
            pruned_at_us: at,
        }))
    }

    /// An `arxi.payload.erased`: erases the payloads it names, except
    /// those a restored bundle already brought back erased by it.
    fn erasure(&mut self, payload: &Value, seq: u64) -> Result<Vec<Op>, String> {
        let record = ErasureRecord::from_payload(payload, seq).map_err(|e| e.to_string())?;
        self.report.erasures += 1;
        let reader = self.store.reader();
        let mut seqs = Vec::with_capacity(record.seqs.len());
        for erased in record.seqs {
            let by = match self.erased.get(&erased) {
                Some(by) => Some(*by),
                None => reader
                    .payload(erased)
                    .map_err(|e| e.to_string())?
                    .and_then(|row| row.erased_by),
            };
            if by != Some(seq) {
                seqs.push(erased);
            }
        }
        Ok(if seqs.is_empty() {
            Vec::new()
        } else {
            vec![Op::ErasePayloads {
                seqs,
                erased_by: seq,
                destroy_key_of: None,
            }]
        })
    }

    /// The payload disclosure of the current (version 2) envelope.
    fn payload(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        let Some(current) = self.current.as_mut() else {
            return Err(refused("a payload record before any envelope"));
        };
        let seq = current.envelope.body.seq;
        let commitment = match current.envelope.body.payload.commitment() {
            Some(commitment) if !current.payload_seen => *commitment,
            _ => {
                return Err(refused(format!(
                    "a payload record out of place after envelope {seq}"
                )));
            }
        };
        current.payload_seen = true;
        if current.held {
            return Ok(());
        }
        let disclosure = Disclosure::parse(bytes)
            .map_err(|error| refused(format!("the payload record of envelope {seq}: {error}")))?;
        let op = match disclosure {
            Disclosure::Disclosed { content, salt } => {
                let bytes = content.canonical_bytes();
                if arxi_format::payload::commitment(&salt, &bytes) != commitment {
                    return Err(refused(format!(
                        "the payload of envelope {seq} does not match its commitment"
                    )));
                }
                let subject = content
                    .subject
                    .clone()
                    .or_else(|| current.envelope.body.subject.clone());
                if let Some(open) = self.state.open.as_mut() {
                    open.bytes += bytes.len() as u64;
                }
                Op::InsertPayload {
                    seq,
                    commitment: crate::commitment::Commitment {
                        salt,
                        content: bytes,
                        commitment,
                        subject,
                        committed_labels: &[],
                    },
                }
            }
            Disclosure::Erased { erased_by } => {
                self.erased.insert(seq, erased_by);
                Op::InsertErasedPayload { seq, erased_by }
            }
            // A recorder with subject keys archives no payload sealed
            // under one: the row comes back held by nobody.
            Disclosure::Withheld => Op::InsertWithheldPayload { seq },
        };
        self.ops.push(op);
        Ok(())
    }

    /// The next attachment of the current envelope.
    fn attachment(&mut self, data: Vec<u8>) -> Result<(), RestoreError> {
        let Some(current) = self.current.as_mut() else {
            return Err(refused("an attachment record before any envelope"));
        };
        let seq = current.envelope.body.seq;
        let Some(reference) = current
            .envelope
            .body
            .attachments
            .get(current.attachments_seen)
        else {
            return Err(refused(format!(
                "an attachment record too many after envelope {seq}"
            )));
        };
        current.attachments_seen += 1;
        if current.held {
            return Ok(());
        }
        if data.len() as u64 != reference.size || Hash32::of(&data) != reference.sha256 {
            return Err(refused(format!(
                "attachment {:?} of envelope {seq} is not the bytes it references",
                reference.name
            )));
        }
        if let Some(open) = self.state.open.as_mut() {
            open.bytes += reference.size;
        }
        self.ops.push(Op::PutAttachment {
            sha256: reference.sha256.0,
            data: Arc::from(data),
            seq,
        });
        Ok(())
    }

    /// Checks that the current envelope's records are complete.
    fn finish_envelope(&mut self) -> Result<(), RestoreError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        let body = &current.envelope.body;
        let payload_missing = body.payload.commitment().is_some() && !current.payload_seen;
        if payload_missing || current.attachments_seen != body.attachments.len() {
            return Err(refused(format!(
                "envelope {} is not followed by its payload and attachment records",
                body.seq
            )));
        }
        Ok(())
    }

    /// A seal: the open segment's is checked against what was restored
    /// of it and written with it in one transaction; one the database
    /// holds must be the same.
    fn seal(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        self.finish_envelope()?;
        let seal = Seal::parse(bytes)
            .map_err(|error| refused(format!("a seal that does not parse: {error}")))?;
        let segment_id = seal.body.segment_id;
        self.last_seal = Some((segment_id, seal.hash));
        if self.state.open.as_ref().map(|open| open.segment_id) != Some(segment_id) {
            return self.check_held_seal(&seal);
        }
        check_seal_signature(&seal, segment_id, &self.keys)
            .and_then(|()| {
                seal.check_hash()
                    .map_err(|e| OpenError::Inconsistent(e.to_string()))
            })
            .map_err(|error| refused(format!("seal of segment {segment_id}: {error}")))?;
        let Some(open) = self.state.open.take() else {
            unreachable!("checked above");
        };
        let body = &seal.body;
        let matches = body.recorder_id == self.recorder_id
            && body.first_seq == open.first_seq
            && body.last_seq == self.state.head.seq
            && body.count == open.envelope_count
            && body.merkle_root == open.root.root()
            && body.last_envelope_hash == self.state.head.hash
            && body.prev_seal_hash == self.state.last_seal_hash;
        if !matches {
            return Err(refused(format!(
                "the seal of segment {segment_id} does not match what the database and the \
                 archive hold of it (range, count, Merkle root, last envelope or previous seal): \
                 they diverge"
            )));
        }
        self.ops.push(Op::Progress {
            segment_id,
            last_seq: body.last_seq,
            envelope_count: open.envelope_count,
            bytes: open.bytes,
        });
        self.ops.push(Op::Seal {
            sealed_at_us: body.sealed_at.unix_micros(),
            row: SealRow {
                segment_id,
                hash: seal.hash.0,
                body: bytes.to_vec(),
            },
        });
        self.commit_segment(seal.hash)
    }

    /// A `T` record: a token over the hash of the seal right before it,
    /// stored as the recorder stores the tokens it fetches (a token from
    /// the same TSA for the same seal replaces the held one). Which TSA
    /// an auditor trusts is not the restore's question; the token must be
    /// well formed and over that seal.
    fn timestamp(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        let record = TimestampRecord::parse(bytes)
            .map_err(|error| refused(format!("a timestamp that does not parse: {error}")))?;
        let Some((segment_id, hash)) = self.last_seal else {
            return Err(refused("a timestamp that does not follow a seal"));
        };
        let token = Token::parse(&record.token).map_err(|error| {
            refused(format!(
                "the timestamp of seal {segment_id} by {}: {error}",
                record.tsa
            ))
        })?;
        if token.info().imprint != hash {
            return Err(refused(format!(
                "the timestamp of seal {segment_id} by {} is over another hash",
                record.tsa
            )));
        }
        let received_at_us = wall_clock_us();
        let txn = self.store.transaction()?;
        txn.insert_timestamp(&arxi_store::TimestampRow {
            segment_id,
            tsa: record.tsa,
            imprint: hash.0,
            gen_time_us: token.info().gen_time_micros,
            token: record.token,
            received_at_us,
        })?;
        txn.commit()?;
        self.report.timestamps += 1;
        Ok(())
    }

    /// A seal of a segment the database already sealed: the same one.
    fn check_held_seal(&self, seal: &Seal) -> Result<(), RestoreError> {
        let segment_id = seal.body.segment_id;
        match self.store.reader().seal(segment_id)? {
            Some(row) if row.hash == seal.hash.0 => Ok(()),
            Some(_) => Err(refused(format!(
                "the seal of segment {segment_id} differs between the database and the archive: \
                 this database is not an older copy of the archived recorder's"
            ))),
            None => Err(refused(format!(
                "the seal of segment {segment_id} comes before the segment's envelopes"
            ))),
        }
    }

    /// Writes the segment's rows in one transaction, then replays a
    /// pruning it recorded.
    fn commit_segment(&mut self, seal_hash: Hash32) -> Result<(), RestoreError> {
        if self.report.segments == 0 {
            // The stored checkpoints describe the backup's older tree (and
            // a pruning replayed may take the leaves their roots need): they
            // go with the first segment restored; the recorder signs one of
            // the restored tree when it starts.
            self.ops.push(Op::PruneLogCheckpoints {
                below: self.state.head.seq + 1,
            });
            self.state.last_checkpoint = None;
        }
        let txn = self.store.transaction()?;
        apply_ops(&self.ops, &txn)?;
        txn.commit()?;
        self.ops.clear();
        self.erased.clear();
        self.state.last_seal_hash = seal_hash;
        self.report.segments += 1;
        if let Some(through_seq) = self.prune_through.take() {
            loop {
                let txn = self.store.transaction()?;
                let deleted = txn.delete_pruned_rows(through_seq, PRUNE_ROWS_PER_TRANSACTION)?;
                txn.commit()?;
                if deleted == 0 {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The row an envelope is stored as.
fn envelope_row(envelope: &Envelope, bytes: &[u8]) -> EnvelopeRow {
    let body = &envelope.body;
    EnvelopeRow {
        seq: body.seq,
        segment_id: body.segment_id,
        received_at_us: body.received_at.unix_micros(),
        kind: u8::from(body.kind == Kind::Control),
        event_type: body.event_type.clone(),
        actor: body.actor.clone(),
        hash: envelope.hash.0,
        body: bytes.to_vec(),
    }
}
