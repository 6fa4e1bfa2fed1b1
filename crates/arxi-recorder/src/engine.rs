//! The engine handle: opens the store, recovers, records the start, spawns
//! the writer and the checkpointer, and offers submission (bounded) and
//! reads (pooled read-only connections) to any thread.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arxi_format::envelope::{AttachmentRef, CONTROL_TYPE_PREFIX, Kind};
use arxi_format::record::{check_event_type, check_label, check_media_type};
use arxi_format::{CanonicalJson, Hash32, KeyId, PublicKey, SecretKey, Timestamp};
use arxi_store::{KeyRow, QueryFilter, ReaderPool, SegmentRow, Store, StoreError, namespace};
use serde_json::json;

use crate::bundle::{BundleError, BundleFile, BundleSelection};
use crate::committer::{Checkpointer, Committer};
use crate::control::{self, control_types};
use crate::cursor::CursorKey;
use crate::idempotency::{self, Check, IdempotencyKey, IdempotencyRecord, IdempotencyRequest};
use crate::plan::{Op, Plan};
use crate::recovery::{self, RecoveryReport};
use crate::sequencer::{Command, Core, Draft, Pipeline, PreparedAppend, Sequencer};
use crate::{
    AppendRequest, Clock, CommandError, EnvelopeQuery, OpenError, Outcome, Pending, QueryError,
    Receipt, RecorderConfig, SealReceipt, SubmitError,
};

/// A segment as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment id.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number so far.
    pub last_seq: u64,
    /// Envelopes so far.
    pub envelope_count: u64,
    /// Bytes so far (envelopes and attachments).
    pub bytes: u64,
    /// When opened.
    pub opened_at: Timestamp,
    /// When sealed, if sealed.
    pub sealed_at: Option<Timestamp>,
}

impl SegmentInfo {
    fn from_row(row: &SegmentRow) -> Self {
        let time = |micros: i64| Timestamp::from_unix_micros(micros).unwrap_or(Timestamp::EPOCH);
        Self {
            segment_id: row.segment_id,
            first_seq: row.first_seq,
            last_seq: row.last_seq,
            envelope_count: row.envelope_count,
            bytes: row.bytes,
            opened_at: time(row.opened_at_us),
            sealed_at: row.sealed_at_us.map(time),
        }
    }
}

/// The engine's state as of the last commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStatus {
    /// Sequence number of the last envelope.
    pub head_seq: u64,
    /// Its hash.
    pub head_hash: Hash32,
    /// The open segment, if any.
    pub open_segment: Option<SegmentInfo>,
    /// Hash of the last seal.
    pub last_seal_hash: Hash32,
    /// Why the writer cannot write, if it cannot.
    pub failure: Option<String>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) appends_total: AtomicU64,
    pub(crate) replays_total: AtomicU64,
    pub(crate) envelopes_total: AtomicU64,
    pub(crate) commits_total: AtomicU64,
    pub(crate) commit_failures_total: AtomicU64,
    pub(crate) seals_total: AtomicU64,
    pub(crate) overloaded_total: AtomicU64,
    pub(crate) checkpoints_total: AtomicU64,
    pub(crate) checkpoint_failures_total: AtomicU64,
    pub(crate) wal_pages: AtomicU64,
    /// Commands per batch: buckets <=1, <=2, <=4, ... <=256, more.
    pub(crate) batch_buckets: [AtomicU64; BATCH_BUCKETS],
    pub(crate) batch_commands_sum: AtomicU64,
}

const BATCH_BUCKETS: usize = 10;

impl Metrics {
    pub(crate) fn record_batch(&self, commands: usize) {
        let bucket = (usize::BITS - commands.saturating_sub(1).leading_zeros()) as usize;
        self.batch_buckets[bucket.min(BATCH_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.batch_commands_sum
            .fetch_add(commands as u64, Ordering::Relaxed);
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Data envelopes submitted.
    pub appends_total: u64,
    /// Idempotent replays answered.
    pub replays_total: u64,
    /// Envelopes written (data and control).
    pub envelopes_total: u64,
    /// Transactions committed.
    pub commits_total: u64,
    /// Transactions that failed.
    pub commit_failures_total: u64,
    /// Seals written (batches with at least one seal).
    pub seals_total: u64,
    /// Submissions refused as overloaded.
    pub overloaded_total: u64,
    /// Checkpoints run.
    pub checkpoints_total: u64,
    /// Checkpoints failed.
    pub checkpoint_failures_total: u64,
    /// WAL pages after the last commit.
    pub wal_pages: u64,
    /// Commands queued now.
    pub queue_depth: u64,
    /// Bytes queued now.
    pub queued_bytes: u64,
    /// (upper bound, count) of commands per batch; the last bound is +Inf
    /// (`u64::MAX`).
    pub batch_buckets: Vec<(u64, u64)>,
    /// Total commands over all batches.
    pub batch_commands_sum: u64,
}

/// State shared by the engine handle and the writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) metrics: Metrics,
    pub(crate) queue_depth: AtomicUsize,
    pub(crate) queued_bytes: AtomicUsize,
    pub(crate) stopped: AtomicBool,
    pub(crate) status: Mutex<EngineStatus>,
}

impl Shared {
    pub(crate) fn dequeued(&self, bytes: usize) {
        self.queue_depth.fetch_sub(1, Ordering::AcqRel);
        if bytes > 0 {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    pub(crate) fn publish(&self, status: EngineStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }
}

/// A page of envelopes (canonical bytes) and the cursor for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    /// Canonical envelope bytes, in sequence order.
    pub envelopes: Vec<Vec<u8>>,
    /// Cursor for the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// Default query page size.
pub const QUERY_PAGE_DEFAULT: u32 = 100;

/// The recorder engine handle. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RecorderEngine {
    commands: SyncSender<Command>,
    shared: Arc<Shared>,
    readers: Arc<ReaderPool>,
    config: Arc<RecorderConfig>,
    key_id: KeyId,
    public_key: PublicKey,
    /// Signs bundle trailers (the same key the sequencer signs with).
    signer: SecretKey,
    /// Tags query cursors (derived from the signing key at open).
    cursors: CursorKey,
    clock: BundleClock,
    recovery: RecoveryReport,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The clock that dates bundles.
struct BundleClock(Arc<dyn Clock>);

impl std::fmt::Debug for BundleClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

fn validate_config(config: &RecorderConfig) -> Result<(), OpenError> {
    let fail = |reason: String| Err(OpenError::InvalidConfig(reason));
    if let Err(reason) = arxi_format::record::check_recorder_id(&config.recorder_id) {
        return fail(format!("recorder_id: {reason}"));
    }
    if config.auto_seal.envelopes_max < 3 {
        return fail("auto_seal.envelopes_max must be at least 3".into());
    }
    if config.auto_seal.bytes_max == 0 || config.auto_seal.age_max.is_zero() {
        return fail("auto_seal.bytes_max and auto_seal.age_max must be positive".into());
    }
    if config.queue_capacity == 0 || config.batch_commands_max == 0 || config.queue_bytes_max == 0 {
        return fail("queue capacities must be positive".into());
    }
    if config.query_page_max == 0 || config.readers_max == 0 {
        return fail("query_page_max and readers_max must be positive".into());
    }
    Ok(())
}

impl RecorderEngine {
    /// Opens the store at `path`, recovers, verifies the tail, records the
    /// start (and a key change, if any) and starts the writer.
    pub fn open(
        path: &Path,
        config: RecorderConfig,
        key: SecretKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenError> {
        validate_config(&config)?;
        let config = Arc::new(config);
        let mut store = Store::open(path, &config.store)?;
        let stored_id = store
            .reader()
            .meta_get(namespace::RECORDER, "recorder_id")?
            .map(|entry| String::from_utf8_lossy(&entry.value).into_owned());
        if let Some(stored) = stored_id
            .as_ref()
            .filter(|stored| **stored != config.recorder_id)
        {
            return Err(OpenError::RecorderIdMismatch {
                stored: stored.clone(),
                configured: config.recorder_id.clone(),
            });
        }
        let completed_seal = recovery::complete_half_seal(&mut store, &config, &key)?;
        let state = recovery::load_state(store.reader())?;
        let (verified_envelopes, verified_seals) =
            recovery::verify_tail(&store, config.startup_verification_depth)?;
        let report = RecoveryReport {
            verified_envelopes,
            verified_seals,
            completed_seal,
            previous_shutdown: recovery::previous_shutdown(&store)?,
        };
        let public_key = key.public().clone();
        let key_id = key.id().clone();
        let signer = key.clone();
        let mut core = Core::new(state, key, Arc::clone(&clock), Arc::clone(&config));
        record_start(&mut store, &mut core, stored_id.is_none(), &report)?;

        let shared = Arc::new(Shared {
            metrics: Metrics::default(),
            queue_depth: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            status: Mutex::new(EngineStatus {
                head_seq: 0,
                head_hash: Hash32::ZERO,
                open_segment: None,
                last_seal_hash: Hash32::ZERO,
                failure: None,
            }),
        });
        shared.publish(core.status(None));
        let readers = Arc::new(store.reader_pool(config.readers_max)?);
        let (checkpointer, checkpointer_thread) =
            Checkpointer::start(store.path().to_path_buf(), Arc::clone(&shared))?;
        let pipeline = Arc::new(Pipeline::default());
        // One plan waits while one commits: the sequencer signs ahead by at
        // most one batch.
        let (plans, plan_receiver) = std::sync::mpsc::sync_channel::<Plan>(1);
        let (commands, command_receiver) = std::sync::mpsc::sync_channel(config.queue_capacity);
        let committer = Committer {
            store,
            options: config.store.clone(),
            shared: Arc::clone(&shared),
            pipeline: Arc::clone(&pipeline),
            checkpointer,
            policy: config.checkpoint,
            dead_generation: None,
            broken: None,
        };
        let sequencer = Sequencer::new(
            core,
            Arc::clone(&readers),
            Arc::clone(&shared),
            pipeline,
            plans,
        );
        let spawn_error = |e: std::io::Error| {
            OpenError::Store(StoreError::Other(format!("spawning a thread: {e}")))
        };
        let committer_thread = std::thread::Builder::new()
            .name("arxi-committer".into())
            .spawn(move || committer.run(plan_receiver))
            .map_err(spawn_error)?;
        let sequencer_thread = std::thread::Builder::new()
            .name("arxi-sequencer".into())
            .spawn(move || sequencer.run(command_receiver))
            .map_err(spawn_error)?;
        Ok(Self {
            commands,
            shared,
            readers,
            config,
            key_id,
            public_key,
            cursors: CursorKey::derive(&signer),
            signer,
            clock: BundleClock(clock),
            recovery: report,
            threads: Mutex::new(vec![
                sequencer_thread,
                committer_thread,
                checkpointer_thread,
            ]),
        })
    }

    /// What recovery verified and found at open.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The configuration in use.
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// The current signing key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The current signing key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn submit(&self, command: Command, bytes: usize) -> Result<(), SubmitError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(SubmitError::Stopped);
        }
        let overloaded = || SubmitError::Overloaded {
            retry_after: Duration::from_secs(1),
        };
        if bytes > 0 {
            let before = self.shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
            if before + bytes > self.config.queue_bytes_max && before > 0 {
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                self.shared
                    .metrics
                    .overloaded_total
                    .fetch_add(1, Ordering::Relaxed);
                return Err(overloaded());
            }
        }
        self.shared.queue_depth.fetch_add(1, Ordering::AcqRel);
        match self.commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.shared.queue_depth.fetch_sub(1, Ordering::AcqRel);
                if bytes > 0 {
                    self.shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                }
                match error {
                    TrySendError::Full(_) => {
                        self.shared
                            .metrics
                            .overloaded_total
                            .fetch_add(1, Ordering::Relaxed);
                        Err(overloaded())
                    }
                    TrySendError::Disconnected(_) => Err(SubmitError::Stopped),
                }
            }
        }
    }

    /// Validates and queues a data envelope. The result completes once the
    /// envelope is durable.
    pub fn append(&self, request: AppendRequest) -> Result<Pending<Outcome<Receipt>>, SubmitError> {
        let invalid = |field: &'static str, reason: String| SubmitError::Invalid { field, reason };
        check_event_type(&request.event_type).map_err(|reason| invalid("type", reason))?;
        // Reserved in any letter case, so no data type can pass for a
        // control type to a reader that folds case.
        let reserved = request
            .event_type
            .get(..CONTROL_TYPE_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CONTROL_TYPE_PREFIX));
        if reserved {
            return Err(invalid(
                "type",
                "types starting with \"arxi.\" (in any letter case) are reserved".into(),
            ));
        }
        if let Some(actor) = &request.actor {
            check_label(actor).map_err(|reason| invalid("actor", reason))?;
        }
        if let Some(subject) = &request.subject {
            check_label(subject).map_err(|reason| invalid("subject", reason))?;
        }
        if request.attachments.len() > arxi_format::envelope::ATTACHMENTS_MAX {
            return Err(invalid(
                "attachments",
                format!(
                    "at most {} attachments",
                    arxi_format::envelope::ATTACHMENTS_MAX
                ),
            ));
        }
        let mut attachments = Vec::with_capacity(request.attachments.len());
        let mut attachment_bytes = 0_usize;
        let mut reference_bytes = 0_usize;
        for (index, attachment) in request.attachments.into_iter().enumerate() {
            check_label(&attachment.name)
                .map_err(|reason| invalid("attachments", format!("name: {reason}")))?;
            check_media_type(&attachment.media_type)
                .map_err(|reason| invalid("attachments", format!("media_type: {reason}")))?;
            if attachments
                .iter()
                .any(|(existing, _): &(AttachmentRef, _)| existing.name == attachment.name)
            {
                return Err(invalid(
                    "attachments",
                    format!(
                        "duplicate attachment name {:?} (index {index})",
                        attachment.name
                    ),
                ));
            }
            attachment_bytes += attachment.bytes.len();
            reference_bytes += attachment.name.len() + attachment.media_type.len() + 160;
            attachments.push((
                AttachmentRef {
                    sha256: Hash32::of(&attachment.bytes),
                    size: attachment.bytes.len() as u64,
                    name: attachment.name,
                    media_type: attachment.media_type,
                },
                attachment.bytes,
            ));
        }
        // An upper bound of the canonical envelope: payload, labels,
        // attachment references and the fixed members (about 600 bytes).
        let envelope_bytes = request.payload.as_bytes().len()
            + request.event_type.len()
            + request.actor.as_ref().map_or(0, |a| a.len() * 6 + 12)
            + request.subject.as_ref().map_or(0, |s| s.len() * 6 + 14)
            + reference_bytes
            + 700;
        // The format's one record limit binds as well: a bundle carries
        // each envelope as one record (Docs/format.md §11).
        let record_limit =
            usize::try_from(arxi_format::bundle::RECORD_BYTES_MAX).unwrap_or(usize::MAX);
        let limit = self.config.envelope_bytes_max.min(record_limit);
        if envelope_bytes > limit {
            return Err(SubmitError::TooLarge {
                bytes: envelope_bytes,
                limit,
            });
        }
        let (reply, receiver) = oneshot::channel();
        let queued_bytes = envelope_bytes + attachment_bytes;
        self.submit(
            Command::Append {
                append: PreparedAppend {
                    event_type: request.event_type,
                    actor: request.actor,
                    subject: request.subject,
                    payload: request.payload,
                    attachments,
                },
                idempotency: request.idempotency,
                answer: reply,
                queued_bytes,
            },
            queued_bytes,
        )?;
        self.shared
            .metrics
            .appends_total
            .fetch_add(1, Ordering::Relaxed);
        Ok(Pending { receiver })
    }

    /// Opens a new segment (fails if one is open).
    pub fn open_segment(
        &self,
        idempotency: Option<IdempotencyRequest<SegmentInfo>>,
    ) -> Result<Pending<Outcome<SegmentInfo>>, SubmitError> {
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::OpenSegment {
                idempotency,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Seals the open segment (fails if none is open).
    pub fn seal(
        &self,
        idempotency: Option<IdempotencyRequest<SealReceipt>>,
    ) -> Result<Pending<Outcome<SealReceipt>>, SubmitError> {
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Seal {
                idempotency,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Records a control envelope for an action taken outside the engine
    /// (configuration reload, bundle build). `event_type` must be one of
    /// [`control_types`].
    pub fn record_control(
        &self,
        event_type: &'static str,
        payload: &serde_json::Value,
        idempotency: Option<IdempotencyRequest<Receipt>>,
    ) -> Result<Pending<Outcome<Receipt>>, SubmitError> {
        assert!(
            event_type.starts_with(CONTROL_TYPE_PREFIX),
            "not a control type: {event_type}"
        );
        let payload = CanonicalJson::from_value(payload).map_err(|error| SubmitError::Invalid {
            field: "payload",
            reason: error.to_string(),
        })?;
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Control {
                event_type,
                payload,
                idempotency,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Records `arxi.recorder.stopped`, checkpoints, and stops the threads.
    /// Commands queued before this run first; later ones get `Stopped`.
    pub fn shutdown(&self) -> Result<(), CommandError> {
        let (reply, receiver) = oneshot::channel();
        let result = match self.submit(Command::Shutdown { answer: reply }, 0) {
            Ok(()) => (Pending { receiver }).wait(),
            Err(SubmitError::Stopped) => Ok(()),
            Err(_) => {
                // The queue is full: wait for room rather than skip the
                // stop record.
                let (reply, receiver) = oneshot::channel();
                self.commands
                    .send(Command::Shutdown { answer: reply })
                    .map_err(|_| CommandError::Stopped)?;
                self.shared.queue_depth.fetch_add(1, Ordering::AcqRel);
                (Pending { receiver }).wait()
            }
        };
        self.shared.stopped.store(true, Ordering::Release);
        self.join();
        result
    }

    fn join(&self) {
        let threads: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        // In order: the sequencer stops and drops the plan channel, the
        // committer finishes the plans before it, then the checkpointer ends
        // when the committer drops its signal sender.
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// The state as of the last commit.
    pub fn status(&self) -> EngineStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True until shutdown.
    pub fn is_running(&self) -> bool {
        !self.shared.stopped.load(Ordering::Acquire)
    }

    /// A copy of the counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let m = &self.shared.metrics;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            appends_total: load(&m.appends_total),
            replays_total: load(&m.replays_total),
            envelopes_total: load(&m.envelopes_total),
            commits_total: load(&m.commits_total),
            commit_failures_total: load(&m.commit_failures_total),
            seals_total: load(&m.seals_total),
            overloaded_total: load(&m.overloaded_total),
            checkpoints_total: load(&m.checkpoints_total),
            checkpoint_failures_total: load(&m.checkpoint_failures_total),
            wal_pages: load(&m.wal_pages),
            queue_depth: self.shared.queue_depth.load(Ordering::Relaxed) as u64,
            queued_bytes: self.shared.queued_bytes.load(Ordering::Relaxed) as u64,
            batch_buckets: m
                .batch_buckets
                .iter()
                .enumerate()
                .map(|(index, count)| {
                    let bound = if index + 1 == BATCH_BUCKETS {
                        u64::MAX
                    } else {
                        1 << index
                    };
                    (bound, load(count))
                })
                .collect(),
            batch_commands_sum: load(&m.batch_commands_sum),
        }
    }

    /// Commands queued now (for admission decisions).
    pub fn queue_depth(&self) -> usize {
        self.shared.queue_depth.load(Ordering::Relaxed)
    }

    /// Commits a write that is not evidence (one `store_meta` row) through
    /// the writer, fsync included: whether writes work (for readiness
    /// after a failed commit).
    pub fn probe_write(&self) -> Result<Pending<()>, SubmitError> {
        let (reply, receiver) = oneshot::channel();
        self.submit(Command::Probe { answer: reply }, 0)?;
        Ok(Pending { receiver })
    }

    /// Checks that the database answers a read (for readiness).
    pub fn ping_storage(&self) -> Result<(), StoreError> {
        self.readers.with(|reader| reader.ping())
    }

    /// Looks up an idempotency key before submitting (a read-only fast
    /// path; the writer re-checks inside its transaction).
    pub fn idempotency_check(
        &self,
        key: &IdempotencyKey,
        request_hash: &Hash32,
        now_us: i64,
    ) -> Result<IdempotencyLookup, CommandError> {
        let storage_key = key.storage_key(&self.config.recorder_id);
        let entry = self
            .readers
            .with(|reader| reader.meta_get(namespace::IDEMPOTENCY, &storage_key))
            .map_err(|e| CommandError::IdempotencyUnavailable(e.to_string()))?;
        let found = match entry {
            None => None,
            Some(entry) => Some((
                IdempotencyRecord::decode(&entry.value)
                    .map_err(CommandError::IdempotencyUnavailable)?,
                entry.created_at_us,
            )),
        };
        let ttl = i64::try_from(self.config.idempotency_ttl.as_micros()).unwrap_or(i64::MAX);
        Ok(
            match idempotency::check(found, request_hash, now_us.saturating_sub(ttl)) {
                Check::Fresh => IdempotencyLookup::Fresh,
                Check::Replay(response) => {
                    self.shared
                        .metrics
                        .replays_total
                        .fetch_add(1, Ordering::Relaxed);
                    IdempotencyLookup::Replay(response)
                }
                Check::Conflict => IdempotencyLookup::Conflict,
            },
        )
    }

    /// Runs an envelope query on a pooled read connection.
    pub fn query(&self, query: &EnvelopeQuery) -> Result<QueryResult, QueryError> {
        let limit = query.limit.unwrap_or(QUERY_PAGE_DEFAULT);
        if limit == 0 || limit > self.config.query_page_max {
            return Err(QueryError::InvalidRange(format!(
                "limit must be 1 to {}",
                self.config.query_page_max
            )));
        }
        if matches!((query.seq_from, query.seq_to), (Some(from), Some(to)) if from > to) {
            return Err(QueryError::InvalidRange("seq_from is after seq_to".into()));
        }
        if matches!(
            (query.received_from, query.received_before),
            (Some(from), Some(before)) if from >= before
        ) {
            return Err(QueryError::InvalidRange(
                "received_from is not before received_before".into(),
            ));
        }
        let after_seq = query
            .cursor
            .as_deref()
            .map(|cursor| self.cursors.open(cursor, query))
            .transpose()?;
        let filter = QueryFilter {
            segment_id: query.segment_id,
            seq_min: query.seq_from,
            seq_max: query.seq_to,
            received_from_us: query.received_from.map(Timestamp::unix_micros),
            received_before_us: query.received_before.map(Timestamp::unix_micros),
            kind: query.kind.map(|kind| u8::from(kind == Kind::Control)),
            event_type: query.event_type.clone(),
            actor: query.actor.clone(),
            after_seq,
            limit,
        };
        let page = self.readers.with(|reader| reader.query(&filter))?;
        Ok(QueryResult {
            envelopes: page.rows.into_iter().map(|row| row.body).collect(),
            next_cursor: page
                .next_after_seq
                .map(|after_seq| self.cursors.issue(after_seq, query)),
        })
    }

    /// Segments after `after_id`, ascending, at most `limit`.
    pub fn segments(&self, after_id: u64, limit: u32) -> Result<Vec<SegmentInfo>, StoreError> {
        let rows = self
            .readers
            .with(|reader| reader.segments(after_id, limit))?;
        Ok(rows.iter().map(SegmentInfo::from_row).collect())
    }

    /// One segment.
    pub fn segment(&self, segment_id: u64) -> Result<Option<SegmentInfo>, StoreError> {
        let row = self.readers.with(|reader| reader.segment(segment_id))?;
        Ok(row.as_ref().map(SegmentInfo::from_row))
    }

    /// The canonical seal of a sealed segment.
    pub fn seal_bytes(&self, segment_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .readers
            .with(|reader| reader.seal(segment_id))?
            .map(|row| row.body))
    }

    /// One envelope's canonical bytes.
    pub fn envelope_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .readers
            .with(|reader| reader.envelope(seq))?
            .map(|row| row.body))
    }

    /// Every key this recorder has signed with, oldest first.
    pub fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        self.readers.with(|reader| reader.keys())
    }

    /// Builds the bundle of `selection` into `dir` (created if missing): the
    /// file is written under a temporary name, synced, then renamed to
    /// `<id>.arxb` where the id is the first 32 hex digits of its SHA-256.
    /// Reads one snapshot on a pooled connection; memory stays flat. The
    /// caller records the `arxi.bundle.built` control envelope.
    pub fn build_bundle(
        &self,
        dir: &Path,
        selection: BundleSelection,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BundleFile, BundleError> {
        let created_at =
            Timestamp::from_unix_micros(self.clock.0.now_micros()).unwrap_or(Timestamp::EPOCH);
        crate::bundle::build_file(
            &self.readers,
            &self.signer,
            created_at,
            dir,
            selection,
            progress,
        )
    }

    /// Runs a read on a pooled connection (for modules that stream, like the
    /// bundle builder).
    pub fn with_reader<T>(
        &self,
        read: impl FnOnce(arxi_store::Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.with(read)
    }
}

impl Drop for RecorderEngine {
    fn drop(&mut self) {
        // Without an explicit shutdown the threads end when the queue's
        // sender goes away; no stop record is written (the next open reports
        // an unclean shutdown).
        self.shared.stopped.store(true, Ordering::Release);
    }
}

/// The result of [`RecorderEngine::idempotency_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyLookup {
    /// No live record.
    Fresh,
    /// Same key and request: replay this.
    Replay(crate::StoredResponse),
    /// Same key, different request.
    Conflict,
}

/// Writes the start records in one transaction: the recorder id on first
/// open, the key (loaded or changed), and `arxi.recorder.started`.
fn record_start(
    store: &mut Store,
    core: &mut Core,
    first_open: bool,
    report: &RecoveryReport,
) -> Result<(), OpenError> {
    let known_keys = store.reader().keys()?;
    let previous_key = store
        .reader()
        .meta_get(namespace::RECORDER, "signer_key_id")?
        .map(|entry| String::from_utf8_lossy(&entry.value).into_owned());
    let key_id = core.key.id().as_str().to_owned();
    let public_hex = core.key.public().to_hex();
    core.tick_clock();
    let now = core.now_us;
    let mut plan = Plan::new(0, 0, core.status(None));
    if first_open {
        plan.ops.push(Op::MetaPut {
            namespace: namespace::RECORDER,
            key: "recorder_id".into(),
            value: core.config.recorder_id.as_bytes().to_vec(),
            created_at_us: now,
        });
    }
    if !known_keys.iter().any(|row| row.key_id == key_id) {
        plan.ops.push(Op::InsertKey(KeyRow {
            key_id: key_id.clone(),
            public_key: core.key.public().to_bytes(),
            first_seq: core.state.head.seq + 1,
            added_at_us: now,
        }));
    }
    let key_event = match &previous_key {
        Some(previous) if *previous != key_id => Some((
            control_types::KEY_CHANGED,
            json!({"previous_key_id": previous, "key_id": key_id, "public_key": public_hex}),
        )),
        None => Some((
            control_types::KEY_LOADED,
            json!({"key_id": key_id, "public_key": public_hex}),
        )),
        Some(_) => None,
    };
    if let Some((event_type, payload)) = key_event {
        core.append_envelope(
            &mut plan,
            Draft::control(event_type, control::canonical(&payload)),
        );
        plan.ops.push(Op::MetaPut {
            namespace: namespace::RECORDER,
            key: "signer_key_id".into(),
            value: key_id.as_bytes().to_vec(),
            created_at_us: now,
        });
    }
    let started = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "key_id": key_id,
        "previous_shutdown": report.previous_shutdown,
        "verified_envelopes": report.verified_envelopes,
        "verified_seals": report.verified_seals,
    });
    core.append_envelope(
        &mut plan,
        Draft::control(
            control_types::RECORDER_STARTED,
            control::canonical(&started),
        ),
    );
    if let Some(reason) = core.auto_seal_due() {
        core.seal_segment(&mut plan, reason);
    }
    core.flush_progress(&mut plan);
    let txn = store.transaction()?;
    plan.apply(&txn)?;
    txn.commit()?;
    Ok(())
}
