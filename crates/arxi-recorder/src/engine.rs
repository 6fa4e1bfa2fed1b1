//! The engine handle: opens the store, recovers, records the start, spawns
//! the writer and the checkpointer, and offers submission (bounded) and
//! reads (pooled read-only connections) to any thread.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arxi_format::envelope::{AttachmentRef, CONTROL_TYPE_PREFIX, ENVELOPE_VERSION_COMMITTED, Kind};
use arxi_format::log_tree::TILE_HEIGHT;
use arxi_format::record::{check_event_type, check_label, check_media_type};
use arxi_format::{CanonicalJson, Hash32, KeyId, PublicKey, Signer, Timestamp};
use arxi_store::{CheckpointKind, KeyRow, QueryFilter, ReaderPool, Store, StoreError, namespace};
use serde_json::json;

use crate::archive::{ArchivePosition, ArchiveRecord, RetentionStatus};
use crate::bundle::{BundleError, BundleFile, BundleSelection, PayloadSelection, RecordedBundle};
use crate::bundle_dir::StagedBundle;
use crate::chain::{Chain, Draft, DraftPayload, PreparedAppend};
use crate::committer::{Checkpointer, Committer};
use crate::control;
use crate::control_types;
use crate::cursor::CursorKey;
use crate::head::{self, HeadWriter, Rollback};
use crate::idempotency::{self, Check, IdempotencyKey, IdempotencyRecord, IdempotencyRequest};
use crate::log_tree::{Cosignature, LogCheckpoint};
use crate::plan::CommitProgress;
use crate::plan::{Op, Plan};
use crate::recovery::{self, RecoveryReport};
use crate::sequencer::{Command, ControlIndex, Sequencer};
use crate::status::{
    BATCH_BUCKETS, EngineStatus, MetricsSnapshot, RecordedKey, SegmentInfo, Shared,
};
use crate::{
    AppendRequest, Clock, CommandError, EnvelopeQuery, OpenError, Outcome, Pending, QueryError,
    Receipt, RecorderConfig, SealReceipt, SubmitError,
};

/// A page of envelopes (canonical bytes) and the cursor for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    /// Canonical envelope bytes, in sequence order.
    pub envelopes: Vec<Vec<u8>>,
    /// For each version 2 envelope of the page, in order: its committed
    /// content while it exists, else the erasure that removed it.
    pub payloads: Vec<crate::PayloadView>,
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
    /// Every key this recorder has signed with (its `keys` table, which
    /// changes only while no engine runs: at open and by a restore): the
    /// keys a revocation may name.
    recorded_keys: Vec<KeyId>,
    /// Signs bundle trailers (the same key the sequencer signs with).
    signer: Signer,
    /// The database file (for the readiness probe).
    database: std::path::PathBuf,
    /// Tags query cursors (derived from the signing key at open).
    cursors: CursorKey,
    clock: BundleClock,
    recovery: RecoveryReport,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The exclusive lock on `<database>.lock`, held until shutdown (or
    /// drop): one writer per database, across processes.
    lock: Mutex<Option<std::fs::File>>,
}

/// Checks a request's attachments (count, names, media types, unique
/// names) and hashes them. Returns them with their total size and the size
/// their references take in the envelope.
#[allow(clippy::type_complexity)]
fn prepare_attachments(
    inputs: Vec<crate::AttachmentInput>,
) -> Result<(Vec<(AttachmentRef, Arc<[u8]>)>, usize, usize), SubmitError> {
    let invalid = |field: &'static str, reason: String| SubmitError::Invalid { field, reason };
    if inputs.len() > arxi_format::envelope::ATTACHMENTS_MAX {
        return Err(invalid(
            "attachments",
            format!(
                "at most {} attachments",
                arxi_format::envelope::ATTACHMENTS_MAX
            ),
        ));
    }
    let mut attachments = Vec::with_capacity(inputs.len());
    let mut attachment_bytes = 0_usize;
    let mut reference_bytes = 0_usize;
    for (index, attachment) in inputs.into_iter().enumerate() {
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
    Ok((attachments, attachment_bytes, reference_bytes))
}

/// The most signing threads a plan is spread over.
const SIGNING_THREADS_MAX: usize = 256;

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
    if let Err(reason) = arxi_format::note::check_name(&config.log_origin) {
        return fail(format!("log origin {:?}: {reason}", config.log_origin));
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
    if config.query_page_envelopes_max == 0 || config.readers_max == 0 {
        return fail("query_page_max and readers_max must be positive".into());
    }
    if config.batch_envelopes_max == 0 {
        return fail("batch_envelopes_max must be positive".into());
    }
    if let Some(policy) = &config.delegation {
        policy.validate().map_err(OpenError::InvalidConfig)?;
    }
    if !(1..=SIGNING_THREADS_MAX).contains(&config.signing_threads) {
        return fail(format!(
            "signing_threads must be 1 to {SIGNING_THREADS_MAX}"
        ));
    }
    config
        .payloads
        .validate()
        .map_err(|reason| OpenError::InvalidConfig(format!("payloads: {reason}")))
}

impl RecorderEngine {
    /// Opens the store at `path`, recovers (the tail verified, the bundle
    /// directory cleaned), records the start (and a key change, if any) and
    /// starts the writer.
    pub fn open(
        path: &Path,
        config: RecorderConfig,
        key: impl Into<Signer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenError> {
        let key: Signer = key.into();
        validate_config(&config)?;
        let mut config = config;
        let lock = lock_database(path)?;
        if let Some(keys) = &config.subject_keys {
            config.store.subject_keys = Some(Arc::new(arxi_store::SubjectKeys::open(keys)?));
        }
        let config = Arc::new(config);
        let mut store = open_store(path, &config)?;
        let stored_id = stored_recorder_id(&store, &config)?;
        let head_file = head::head_path(path);
        let rollback = acknowledged_rollback(&store, &config, &key, &head_file)?;
        warn_without_subject_keys(&store, &config)?;
        let (state, report) = recovery::recover(&mut store, &config, &key)?;
        let signer = key.clone();
        let mut chain = Chain::new(state, key, Arc::clone(&clock), Arc::clone(&config));
        chain.reloaded(recorded_signer_key(&store)?);
        let first_open = stored_id.is_none();
        record_start(
            &mut store,
            &mut chain,
            first_open,
            &report,
            rollback.as_ref(),
        )?;
        checkpoint_at_open(&mut store);
        let recorded_keys = recorded_key_ids(&store)?;
        let head = HeadWriter {
            path: head_file,
            key: signer.clone(),
            recorder_id: config.recorder_id.clone(),
            clock: Arc::clone(&clock),
        };
        head.write(&chain.status(None))
            .map_err(OpenError::SignedHead)?;
        let shared = Arc::new(Shared::new(chain.status(None)));
        let readers = Arc::new(store.reader_pool(config.readers_max)?);
        let (commands, threads) = start_threads(
            store,
            chain,
            head,
            Arc::clone(&config),
            Arc::clone(&shared),
            Arc::clone(&readers),
        )?;
        Ok(Self {
            commands,
            shared,
            readers,
            config,
            key_id: signer.id().clone(),
            public_key: signer.public().clone(),
            recorded_keys,
            cursors: CursorKey::derive(&signer)
                .map_err(|error| OpenError::InvalidConfig(format!("random source: {error}")))?,
            database: path.to_path_buf(),
            signer,
            clock: BundleClock(clock),
            recovery: report,
            threads: Mutex::new(threads),
            lock: Mutex::new(Some(lock)),
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
            retry_after: Duration::from_millis(
                self.shared.retry_after_ms(self.config.batch_commands_max),
            ),
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

    /// Validates a data envelope and hashes its attachments: what the
    /// sequencer appends, and the bytes it holds in the queue.
    fn prepare(&self, request: AppendRequest) -> Result<(PreparedAppend, usize), SubmitError> {
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
        let (attachments, attachment_bytes, reference_bytes) =
            prepare_attachments(request.attachments)?;
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
        let policy = self.config.payloads;
        let (actor, subject, payload) = if policy.version == ENVELOPE_VERSION_COMMITTED {
            // The salt and the extra hash are made here, on the caller's
            // thread, not on the sequencer's.
            let (commitment, actor, subject) =
                crate::commitment::commit(policy, request.actor, request.subject, request.payload)
                    .map_err(|error| SubmitError::RandomUnavailable(error.to_string()))?;
            (actor, subject, DraftPayload::Committed(commitment))
        } else {
            let payload = DraftPayload::Inline(request.payload);
            (request.actor, request.subject, payload)
        };
        let prepared = PreparedAppend {
            event_type: request.event_type,
            actor,
            subject,
            payload,
            attachments,
        };
        Ok((prepared, envelope_bytes + attachment_bytes))
    }

    /// Validates and queues a data envelope. The result completes once the
    /// envelope is durable.
    pub fn append(&self, request: AppendRequest) -> Result<Pending<Outcome<Receipt>>, SubmitError> {
        let mut request = request;
        let idempotency = request.idempotency.take();
        let (append, queued_bytes) = self.prepare(request)?;
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Append {
                append,
                idempotency,
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

    /// Validates every envelope of a batch (a refusal names its index),
    /// then queues them as one command: they are recorded in one
    /// transaction, with consecutive sequence numbers, in the order given,
    /// under one idempotency key. The result completes once all are
    /// durable. Item requests carry no idempotency of their own.
    pub fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
        idempotency: Option<IdempotencyRequest<Vec<Receipt>>>,
    ) -> Result<Pending<Outcome<Vec<Receipt>>>, SubmitError> {
        // A batch always fits in a fresh segment, between its opened and
        // sealed envelopes, so its sequence numbers are consecutive.
        let fresh_segment = usize::try_from(self.config.auto_seal.envelopes_max.saturating_sub(2))
            .unwrap_or(usize::MAX);
        let most = self.config.batch_envelopes_max.min(fresh_segment);
        if requests.is_empty() || requests.len() > most {
            return Err(SubmitError::Invalid {
                field: "envelopes",
                reason: format!("1 to {most} envelopes"),
            });
        }
        let mut appends = Vec::with_capacity(requests.len());
        let mut queued_bytes = 0_usize;
        for (index, request) in requests.into_iter().enumerate() {
            assert!(
                request.idempotency.is_none(),
                "a batch's items have no idempotency of their own: the batch has one"
            );
            let (append, bytes) = self.prepare(request).map_err(|error| error.at(index))?;
            appends.push(append);
            queued_bytes += bytes;
        }
        let (reply, receiver) = oneshot::channel();
        let envelopes = appends.len() as u64;
        self.submit(
            Command::AppendBatch {
                appends,
                idempotency,
                answer: reply,
                queued_bytes,
            },
            queued_bytes,
        )?;
        self.shared
            .metrics
            .appends_total
            .fetch_add(envelopes, Ordering::Relaxed);
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
        assert!(
            ![
                control_types::BUNDLE_BUILT,
                control_types::SEGMENT_ARCHIVED,
                control_types::SEGMENT_PRUNED
            ]
            .contains(&event_type),
            "{event_type} is recorded with its state row (record_bundle_built, record_archived, retention)"
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
                index: ControlIndex::None,
                idempotency,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Records `arxi.key.revoked`: `revocation.key_id` is not valid from
    /// `revocation.from_seq` on (`Docs/format.md` §10, rule C5). The
    /// envelope is signed by the recorder's current key, so that key
    /// cannot be the revoked one ([`SubmitError::RevokesSigningKey`]: a
    /// compromised signing key is rotated out first, by a restart with a
    /// new key; a delegated key in force is replaced by a new delegation
    /// first, in the sequencer), and must be a key this recorder has
    /// signed with or a root that delegated one (a key id it never used
    /// is [`SubmitError::UnknownKey`]: most likely a typing error, and it
    /// would protect nothing).
    pub fn revoke_key(
        &self,
        revocation: &arxi_format::revocation::KeyRevocation,
        idempotency: Option<IdempotencyRequest<Receipt>>,
    ) -> Result<Pending<Outcome<Receipt>>, SubmitError> {
        let invalid = |field: &'static str, reason: String| SubmitError::Invalid { field, reason };
        arxi_format::payload::check_reason(&revocation.reason)
            .map_err(|reason| invalid("reason", reason))?;
        if !(1..=arxi_format::json::MAX_SAFE_INTEGER).contains(&revocation.from_seq) {
            return Err(invalid("from_seq", "must be from 1 to 2^53-1".into()));
        }
        if revocation.key_id == self.key_id {
            return Err(SubmitError::RevokesSigningKey {
                key_id: revocation.key_id.clone(),
            });
        }
        // A delegated key made since the open is in the store only.
        let known = self.recorded_keys.contains(&revocation.key_id)
            || self
                .keys()
                .map_err(|error| SubmitError::Storage(error.to_string()))?
                .iter()
                .any(|key| {
                    // A key that signed here, or a root that delegated one.
                    key.public_key.id() == &revocation.key_id
                        || key
                            .delegation
                            .as_ref()
                            .is_some_and(|d| d.body.root_key_id == revocation.key_id)
                });
        if !known {
            return Err(SubmitError::UnknownKey {
                key_id: revocation.key_id.clone(),
            });
        }
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Control {
                event_type: control_types::KEY_REVOKED,
                payload: revocation.to_canonical(),
                index: ControlIndex::None,
                idempotency,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Erases the committed payloads (and committed labels) of the
    /// version 2 envelopes `request` selects, recording
    /// `arxi.payload.erased` in the same transaction; envelopes, hashes,
    /// signatures, chain links, seals and tree leaves stay as they were.
    /// The result completes once the erasure is durable and the WAL
    /// truncated.
    pub fn erase(
        &self,
        request: crate::ErasureRequest,
    ) -> Result<Pending<Outcome<crate::ErasureReceipt>>, SubmitError> {
        let invalid = |field: &'static str, reason: String| SubmitError::Invalid { field, reason };
        arxi_format::payload::check_reason(&request.reason)
            .map_err(|reason| invalid("reason", reason))?;
        match &request.selector {
            crate::ErasureSelector::Subject(subject) => {
                check_label(subject).map_err(|reason| invalid("subject", reason))?;
            }
            crate::ErasureSelector::Seqs(seqs) => {
                let most = arxi_format::payload::ERASED_SEQS_MAX;
                if seqs.is_empty() || seqs.len() > most || seqs.contains(&0) {
                    return Err(invalid(
                        "seqs",
                        format!("1 to {most} sequence numbers, each at least 1"),
                    ));
                }
            }
        }
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Erase {
                request,
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
        // The writer is gone: another recorder may open the database now.
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()).take());
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

    /// Whether the signing key can be reached now (a key held in a token
    /// may be gone; a key from a file always can).
    pub fn check_signer(&self) -> Result<(), arxi_format::SignerError> {
        self.signer.check()
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
            signer_failures_total: load(&m.signer_failures_total),
            seals_total: load(&m.seals_total),
            overloaded_total: load(&m.overloaded_total),
            checkpoints_total: load(&m.checkpoints_total),
            checkpoint_failures_total: load(&m.checkpoint_failures_total),
            checkpoint_retries_total: load(&m.checkpoint_retries_total),
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
            timings: m.timings.snapshot(),
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

    /// The readiness check of the database file itself: a fresh read-only
    /// connection opens it and reads. A file that was removed, made
    /// unreadable or damaged fails here even while the pooled connections
    /// still hold it open.
    pub fn probe_storage(&self) -> Result<(), StoreError> {
        arxi_store::probe(&self.database)
    }

    /// Looks up an idempotency key before submitting (a read-only fast
    /// path; the writer re-checks inside its transaction). Expiry is judged
    /// on the engine's clock, the one records are stamped with.
    pub fn idempotency_check(
        &self,
        key: &IdempotencyKey,
        request_hash: &Hash32,
    ) -> Result<IdempotencyLookup, CommandError> {
        let now_us = self.clock.0.now_micros();
        let ttl = i64::try_from(self.config.idempotency_ttl.as_micros()).unwrap_or(i64::MAX);
        let storage_key = key.storage_key(&self.config.recorder_id);
        let unavailable = |e: StoreError| CommandError::IdempotencyUnavailable(e.to_string());
        // An append's compact record: a conflict is told here; a replay is
        // left to the writer, which rebuilds the result and renders it with
        // the retry's renderer (this path has none).
        let compact = self
            .readers
            .with(|reader| reader.idempotency(&idempotency::scope(&storage_key)))
            .map_err(unavailable)?;
        if let Some(row) = compact
            && row.created_at_us >= now_us.saturating_sub(ttl)
        {
            return Ok(if row.request_hash == idempotency::prefix(request_hash) {
                IdempotencyLookup::Fresh
            } else {
                IdempotencyLookup::Conflict
            });
        }
        let entry = self
            .readers
            .with(|reader| reader.meta_get(namespace::IDEMPOTENCY, &storage_key))
            .map_err(unavailable)?;
        let found = match entry {
            None => None,
            Some(entry) => Some((
                IdempotencyRecord::decode(&entry.value)
                    .map_err(CommandError::IdempotencyUnavailable)?,
                entry.created_at_us,
            )),
        };
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
        if limit == 0 || limit > self.config.query_page_envelopes_max {
            return Err(QueryError::InvalidRange(format!(
                "limit must be 1 to {}",
                self.config.query_page_envelopes_max
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
            .map(|cursor| self.cursors.open(cursor))
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
        let (page, payloads) = self
            .readers
            .with(|reader| {
                if let Some(range) = crate::pruned::pruned_for_query(&reader, &filter)? {
                    return Ok(Err(range));
                }
                let page = reader.query(&filter)?;
                let mut payloads = Vec::new();
                // A canonical envelope's last member is `v`: version 2 rows end
                // so, and only they have committed content to look up.
                for row in page
                    .rows
                    .iter()
                    .filter(|row| row.body.ends_with(b"\"v\":2}"))
                {
                    payloads.extend(crate::erasure::view(&reader, row.seq)?);
                }
                Ok(Ok((page, payloads)))
            })?
            .map_err(QueryError::Pruned)?;
        Ok(QueryResult {
            payloads,
            envelopes: page.rows.into_iter().map(|row| row.body).collect(),
            next_cursor: page
                .next_after_seq
                .map(|after_seq| self.cursors.issue(after_seq)),
        })
    }

    /// Segments after `after_id`, ascending, at most `limit`.
    pub fn segments(&self, after_id: u64, limit: u32) -> Result<Vec<SegmentInfo>, StoreError> {
        let rows = self
            .readers
            .with(|reader| reader.segments(after_id, limit))?;
        rows.iter().map(SegmentInfo::from_row).collect()
    }

    /// One segment.
    pub fn segment(&self, segment_id: u64) -> Result<Option<SegmentInfo>, StoreError> {
        let row = self.readers.with(|reader| reader.segment(segment_id))?;
        row.as_ref().map(SegmentInfo::from_row).transpose()
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

    /// The pruned range that keeps envelope `seq` or its inclusion proof
    /// from being served here: `seq` itself was pruned, or the 16 leaves
    /// of the log tree it shares a stored node with reach into the pruned
    /// prefix (the proof's lowest levels are computed from them). The
    /// answer names the archive objects that hold them.
    pub fn pruned_for_envelope(&self, seq: u64) -> Result<Option<crate::PrunedRange>, StoreError> {
        let tile_first_seq = ((seq.saturating_sub(1) >> TILE_HEIGHT) << TILE_HEIGHT) + 1;
        self.readers
            .with(|reader| crate::pruned::pruned_from_seq(&reader, tile_first_seq))
    }

    /// Signs a checkpoint of the log tree when it grew since the last one
    /// and answers the newest checkpoint (`None` before the first
    /// envelope). Checkpoints smaller than `keep_from` are deleted with
    /// their cosignatures. Durable when the answer arrives.
    pub fn checkpoint(
        &self,
        keep_from: u64,
    ) -> Result<Pending<Option<LogCheckpoint>>, SubmitError> {
        let (answer, receiver) = oneshot::channel();
        self.submit(Command::Checkpoint { keep_from, answer }, 0)?;
        Ok(Pending { receiver })
    }

    /// Stores witnesses' cosignatures of stored checkpoints.
    pub fn store_cosignatures(
        &self,
        cosignatures: Vec<Cosignature>,
    ) -> Result<Pending<()>, SubmitError> {
        let (answer, receiver) = oneshot::channel();
        self.submit(
            Command::Cosignatures {
                cosignatures,
                answer,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Stores timestamp authorities' tokens of seals (their
    /// `received_at_us` is set to the commit's time). The caller has read
    /// and checked each token against its authority's certificates.
    pub fn store_timestamps(
        &self,
        tokens: Vec<arxi_store::TimestampRow>,
    ) -> Result<Pending<()>, SubmitError> {
        let (answer, receiver) = oneshot::channel();
        self.submit(Command::Timestamps { tokens, answer }, 0)?;
        Ok(Pending { receiver })
    }

    /// The newest seals without a token from timestamp authority `tsa`,
    /// sealed at or after `sealed_since_us`, at most `limit`.
    pub fn unstamped_seals(
        &self,
        tsa: &str,
        sealed_since_us: i64,
        limit: u32,
    ) -> Result<Vec<arxi_store::UnstampedSeal>, StoreError> {
        self.readers
            .with(|reader| reader.unstamped_seals(tsa, sealed_since_us, limit))
    }

    /// How many seals sealed at or after `sealed_since_us` wait for a
    /// token from `tsa`.
    pub fn unstamped_seal_count(&self, tsa: &str, sealed_since_us: i64) -> Result<u64, StoreError> {
        self.readers
            .with(|reader| reader.unstamped_seal_count(tsa, sealed_since_us))
    }

    /// The stored tokens of segment `segment_id`'s seal.
    pub fn seal_timestamps(
        &self,
        segment_id: u64,
    ) -> Result<Vec<arxi_store::TimestampRow>, StoreError> {
        self.readers.with(|reader| reader.timestamps(segment_id))
    }

    /// The newest stored checkpoints, newest first, at most `limit`, each
    /// with its stored cosignatures.
    pub fn log_checkpoints(
        &self,
        limit: u32,
    ) -> Result<Vec<(LogCheckpoint, Vec<Cosignature>)>, StoreError> {
        self.readers.with(|reader| {
            reader
                .last_log_checkpoints(limit)?
                .iter()
                .map(|row| {
                    let checkpoint = LogCheckpoint::from_row(row)?;
                    let cosignatures = reader.cosignatures(row.size)?;
                    Ok((
                        checkpoint,
                        cosignatures
                            .into_iter()
                            .map(Cosignature::from_row)
                            .collect(),
                    ))
                })
                .collect()
        })
    }

    /// The largest checkpoint size a witness key has cosigned (as stored).
    pub fn last_cosigned_size(
        &self,
        witness: &str,
        key_id: u32,
    ) -> Result<Option<u64>, StoreError> {
        self.readers
            .with(|reader| reader.last_cosigned_size(witness, key_id))
    }

    /// The inclusion proof of envelope `seq` in the log tree of `size`
    /// envelopes (`1 <= seq <= size <= head`).
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash32>, StoreError> {
        self.check_tree_size(size)?;
        if seq == 0 || seq > size {
            return Err(StoreError::BadRow(format!(
                "envelope {seq} is not in a tree of {size}"
            )));
        }
        self.readers
            .with(|reader| crate::log_tree::inclusion_proof(reader, seq - 1, size))
    }

    /// The consistency proof from the log tree of `old` envelopes to that
    /// of `new` (`1 <= old <= new <= head`).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash32>, StoreError> {
        self.check_tree_size(new)?;
        self.readers
            .with(|reader| crate::log_tree::consistency_proof(reader, old, new))
    }

    fn check_tree_size(&self, size: u64) -> Result<(), StoreError> {
        let head = self.status().head_seq;
        if size > head {
            return Err(StoreError::BadRow(format!(
                "a tree of {size} envelopes asked for, {head} committed"
            )));
        }
        Ok(())
    }

    /// The verifier key of this log's checkpoints (C2SP vkey form).
    pub fn log_verifier_key(&self) -> arxi_format::note::VerifierKey {
        crate::log_tree::log_verifier_key(&self.config.log_origin, &self.public_key)
            .unwrap_or_else(|| unreachable!("origin checked at open"))
    }

    /// Every key this recorder has signed with, oldest first.
    pub fn keys(&self) -> Result<Vec<RecordedKey>, StoreError> {
        self.readers.with(|reader| {
            reader
                .keys()?
                .iter()
                .map(|row| {
                    let mut key = RecordedKey::from_row(row)?;
                    if let Some(entry) = reader.meta_get(namespace::DELEGATION, &row.key_id)? {
                        let delegation = arxi_format::delegation::Delegation::parse(&entry.value)
                            .map_err(|e| {
                            StoreError::BadRow(format!("delegation of {}: {e}", row.key_id))
                        })?;
                        key.delegation = Some(delegation);
                    }
                    Ok(key)
                })
                .collect()
        })
    }

    /// Builds the bundle of `selection` into the bundle directory (created
    /// if missing) and stages it: written under a temporary name, synced,
    /// renamed to `.staged-<id>-<build>` where the id is the first 32 hex digits of
    /// its SHA-256. Reads one snapshot on a pooled connection; memory stays
    /// flat. Not downloadable yet: record it with
    /// [`Self::record_bundle_built`], then [`Self::publish_bundle`].
    pub fn build_bundle(
        &self,
        selection: BundleSelection,
        progress: &mut dyn FnMut(u64),
    ) -> Result<StagedBundle, BundleError> {
        self.build_bundle_with(selection, &PayloadSelection::All, progress)
    }

    /// As [`Self::build_bundle`], disclosing only the committed payloads
    /// `payloads` selects (the others are withheld; erased ones are marked
    /// erased).
    pub fn build_bundle_with(
        &self,
        selection: BundleSelection,
        payloads: &PayloadSelection,
        progress: &mut dyn FnMut(u64),
    ) -> Result<StagedBundle, BundleError> {
        self.build_bundle_anchored(selection, payloads, None, progress)
    }

    /// As [`Self::build_bundle_with`], anchored to the witnessed
    /// checkpoint `anchor` (a signed note with its cosignatures, as `GET
    /// /v1/log/checkpoint` serves it) when it covers the bundle's last
    /// envelope (`Docs/format.md` §11.7); otherwise without an anchor
    /// ([`crate::bundle::BuiltBundle::anchor`] says which).
    pub fn build_bundle_anchored(
        &self,
        selection: BundleSelection,
        payloads: &PayloadSelection,
        anchor: Option<&str>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<StagedBundle, BundleError> {
        let dir = self
            .config
            .bundle_dir
            .as_deref()
            .ok_or(BundleError::NoBundleDir)?;
        let micros = self.clock.0.now_micros();
        let created_at =
            Timestamp::from_unix_micros(micros).ok_or(BundleError::ClockOutOfRange { micros })?;
        crate::bundle_dir::build_staged(
            &self.readers,
            &self.signer,
            created_at,
            dir,
            selection,
            payloads,
            anchor,
            progress,
        )
    }

    /// Queues `arxi.bundle.built` for a staged bundle, with its bundle
    /// index row (and the idempotency record, if any) in one transaction.
    pub fn record_bundle_built(
        &self,
        staged: &StagedBundle,
        idempotency: Option<IdempotencyRequest<Receipt>>,
    ) -> Result<Pending<Outcome<Receipt>>, SubmitError> {
        let file = staged.file();
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Control {
                event_type: control_types::BUNDLE_BUILT,
                payload: control::bundle_built(file),
                index: ControlIndex::Bundle(file.id.clone()),
                idempotency,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Makes a staged bundle downloadable as `<id>.arxb`, once its
    /// `arxi.bundle.built` envelope committed (checked here).
    pub fn publish_bundle(&self, staged: StagedBundle) -> Result<BundleFile, BundleError> {
        let id = staged.file().id.clone();
        if self.recorded_bundle(&id)?.is_none() {
            return Err(BundleError::Inconsistent(format!(
                "bundle {id} is not recorded, so it is not published"
            )));
        }
        staged.publish()
    }

    /// What the `arxi.bundle.built` envelope naming bundle `id` records, if
    /// one does.
    pub fn recorded_bundle(&self, id: &str) -> Result<Option<RecordedBundle>, StoreError> {
        self.readers
            .with(|reader| crate::bundle_dir::recorded(&reader, id))
    }

    /// Opens bundle `id` for reading, with its size: only a bundle an
    /// `arxi.bundle.built` envelope records, whose file is published with
    /// the recorded size. Anything else is `BundleError::NotFound`.
    pub fn open_bundle(&self, id: &str) -> Result<(std::fs::File, u64), BundleError> {
        let dir = self
            .config
            .bundle_dir
            .as_deref()
            .ok_or(BundleError::NoBundleDir)?;
        self.readers
            .with(|reader| Ok(crate::bundle_dir::open_recorded(&reader, dir, id)))?
    }

    /// How far archiving has come: archived and sealed segments.
    pub fn archive_position(&self) -> Result<ArchivePosition, StoreError> {
        self.readers
            .with(|reader| crate::archive::position(&reader))
    }

    /// What retention has pruned, and the database's size.
    pub fn retention_status(&self) -> Result<RetentionStatus, StoreError> {
        self.readers
            .with(|reader| crate::archive::retention_status(&reader))
    }

    /// The archived runs holding any of segments `first..=last`, oldest
    /// first, at most `limit`.
    pub fn archived_runs(
        &self,
        first_segment: u64,
        last_segment: u64,
        limit: u32,
    ) -> Result<Vec<ArchiveRecord>, StoreError> {
        let rows = self
            .readers
            .with(|reader| reader.archived_covering(first_segment, last_segment, limit))?;
        Ok(rows.iter().map(ArchiveRecord::from_row).collect())
    }

    /// Writes the archive bundle of sealed segments `first..=last` to
    /// `out`, from one read snapshot, one row at a time. The same rows and
    /// key always give the same bytes (the manifest carries the last
    /// seal's time), so a rebuilt bundle has the same SHA-256.
    pub fn write_archive_bundle(
        &self,
        first_segment: u64,
        last_segment: u64,
        out: impl std::io::Write,
    ) -> Result<crate::bundle::BuiltBundle, BundleError> {
        self.readers.with(|reader| {
            Ok(crate::archive::write_archive_bundle(
                &reader,
                first_segment,
                last_segment,
                &self.signer,
                out,
            ))
        })?
    }

    /// Queues `arxi.segment.archived` for a run confirmed in the archive,
    /// with its archive row, in one transaction. A run that does not start
    /// right after the archived ones fails the plan (the store refuses it).
    pub fn record_archived(
        &self,
        record: ArchiveRecord,
    ) -> Result<Pending<Outcome<Receipt>>, SubmitError> {
        let (reply, receiver) = oneshot::channel();
        self.submit(
            Command::Control {
                event_type: control_types::SEGMENT_ARCHIVED,
                payload: control::segment_archived(&record),
                index: ControlIndex::Archived(record),
                idempotency: None,
                answer: reply,
            },
            0,
        )?;
        Ok(Pending { receiver })
    }

    /// Runs a read on a pooled connection. Tests only (feature
    /// `test-util`): the API returns the recorder's own types, never store
    /// rows.
    #[cfg(feature = "test-util")]
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
    /// No live record, or an append's compact record for the same request
    /// (submit: the writer replays it).
    Fresh,
    /// Same key and request: replay this.
    Replay(crate::StoredResponse),
    /// Same key, different request.
    Conflict,
}

/// Starts the checkpointer, the committer (which takes the write
/// connection) and the sequencer; returns the command queue and the
/// threads, in the order they stop.
fn start_threads(
    store: Store,
    chain: Chain,
    head: HeadWriter,
    config: Arc<RecorderConfig>,
    shared: Arc<Shared>,
    readers: Arc<ReaderPool>,
) -> Result<(SyncSender<Command>, Vec<JoinHandle<()>>), OpenError> {
    let (checkpointer, checkpointer_thread) =
        Checkpointer::start(store.path().to_path_buf(), Arc::clone(&shared))?;
    let progress = Arc::new(CommitProgress::default());
    // One plan waits while one commits: the sequencer signs ahead by at
    // most one batch.
    let (plans, plan_receiver) = std::sync::mpsc::sync_channel::<Plan>(1);
    let (commands, command_receiver) = std::sync::mpsc::sync_channel(config.queue_capacity);
    let committer = Committer {
        store,
        options: config.store.clone(),
        shared: Arc::clone(&shared),
        progress: Arc::clone(&progress),
        checkpointer,
        policy: config.checkpoint,
        dead_generation: None,
        broken: None,
        head,
        head_written: std::time::Instant::now(),
    };
    let sequencer =
        Sequencer::new(chain, readers, shared, progress, plans).with_retention(config.retention);
    let spawn_error =
        |e: std::io::Error| OpenError::Store(StoreError::Other(format!("spawning a thread: {e}")));
    let committer_thread = std::thread::Builder::new()
        .name("arxi-committer".into())
        .spawn(move || committer.run(plan_receiver))
        .map_err(spawn_error)?;
    let sequencer_thread = std::thread::Builder::new()
        .name("arxi-sequencer".into())
        .spawn(move || sequencer.run(command_receiver))
        .map_err(spawn_error)?;
    Ok((
        commands,
        vec![sequencer_thread, committer_thread, checkpointer_thread],
    ))
}

/// Copies the whole WAL (what the previous run left, recovery's writes and
/// the start records) into the database and truncates it, while the write
/// connection is still the only one. Without this, the background
/// checkpointer's first pass (it starts with nothing backfilled) had to
/// copy everything the previous run left, woken by the first commit after
/// a restart and racing the first writes (issue 17; see
/// `committer::background_pass`). A failure here only delays the copy to
/// the background checkpointer, so it is logged and start-up goes on.
fn checkpoint_at_open(store: &mut Store) {
    match store.checkpoint(CheckpointKind::Truncate) {
        Ok(stats) => tracing::debug!(frames = stats.wal_frames, "WAL checkpointed at open"),
        Err(error) => tracing::warn!(
            %error,
            "checkpoint at open failed; the background checkpointer will copy the WAL"
        ),
    }
}

/// Says so when the database holds payloads sealed under subject keys
/// and no key file is configured: they read as withheld until it is.
fn warn_without_subject_keys(store: &Store, config: &RecorderConfig) -> Result<(), OpenError> {
    if config.subject_keys.is_none() && store.reader().has_sealed_payloads()? {
        tracing::warn!(
            "the database holds payloads encrypted under subject keys and no subject key file \
             is configured (recorder.subject_keys_file): they read as withheld"
        );
    }
    Ok(())
}

/// Opens the store; with retention, a database made without incremental
/// vacuum is rewritten once so that pruning gives space back.
fn open_store(path: &Path, config: &RecorderConfig) -> Result<Store, OpenError> {
    let store_options = arxi_store::StoreOptions {
        incremental_vacuum: config.retention.is_some(),
        ..config.store.clone()
    };
    let mut store = Store::open(path, &store_options)?;
    if config.retention.is_some() && store.enable_incremental_vacuum()? {
        tracing::warn!(
            path = %path.display(),
            "rewrote the database once (VACUUM) so that pruning gives space back"
        );
    }
    Ok(store)
}

/// Takes the exclusive lock on `<database>.lock` (created 0640), so a
/// second recorder on the same database, in this process or another, is
/// refused before it writes anything: two writers would both number
/// envelopes from the same head and fork the chain. The lock is the
/// operating system's (`flock`), so it goes with the process however it
/// ends.
pub(crate) fn lock_database(path: &Path) -> Result<std::fs::File, OpenError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let in_use = |reason: String| OpenError::InUse(format!("{}: {reason}", lock_path.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .open(&lock_path)
        .map_err(|error| in_use(error.to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(in_use(
            "another recorder (an arxi-sidecar) has this database open; stop it first".into(),
        )),
        Err(std::fs::TryLockError::Error(error)) => Err(in_use(error.to_string())),
    }
}

/// The recorder id the database holds (none on first open); another id
/// than the configured one stops the open.
fn stored_recorder_id(store: &Store, config: &RecorderConfig) -> Result<Option<String>, OpenError> {
    let stored_id = store
        .reader()
        .meta_get(namespace::RECORDER, "recorder_id")?
        .map(|entry| String::from_utf8_lossy(&entry.value).into_owned());
    match stored_id {
        Some(stored) if stored != config.recorder_id => Err(OpenError::RecorderIdMismatch {
            stored,
            configured: config.recorder_id.clone(),
        }),
        other => Ok(other),
    }
}

/// Compares the database with its signed head: a database that does not
/// reach it opens only when the operator acknowledged exactly that head
/// (see `head.rs`); the rollback is then returned to be recorded.
fn acknowledged_rollback(
    store: &Store,
    config: &RecorderConfig,
    key: &Signer,
    head_file: &Path,
) -> Result<Option<Rollback>, OpenError> {
    let found = head::check(
        &store.reader(),
        head_file,
        Some(&config.recorder_id),
        Some(key.public()),
    )?;
    match (found, config.rollback_acknowledged_seq) {
        (None, None) => Ok(None),
        (None, Some(acknowledged_seq)) => {
            tracing::warn!(
                acknowledged_seq,
                "a rollback is acknowledged but the database reaches its signed head; nothing to record"
            );
            Ok(None)
        }
        (Some(rollback), None) => Err(OpenError::BehindSignedHead(Box::new(rollback))),
        (Some(rollback), Some(acknowledged_seq)) if acknowledged_seq == rollback.signed.seq => {
            tracing::warn!(%rollback, "rollback acknowledged by the operator; recording it");
            Ok(Some(rollback))
        }
        (Some(rollback), Some(acknowledged_seq)) => {
            Err(OpenError::RollbackAcknowledgementMismatch {
                acknowledged_seq,
                rollback: Box::new(rollback),
            })
        }
    }
}

/// The key event the start records: `arxi.key.loaded` on a first start,
/// `arxi.key.changed` when the signing key is not the last one; none when
/// it is the same key.
fn key_event(
    previous_key: Option<&str>,
    key_id: &str,
    public_hex: &str,
) -> Option<(&'static str, serde_json::Value)> {
    match previous_key {
        Some(previous) if previous != key_id => Some((
            control_types::KEY_CHANGED,
            json!({"previous_key_id": previous, "key_id": key_id, "public_key": public_hex}),
        )),
        None => Some((
            control_types::KEY_LOADED,
            json!({"key_id": key_id, "public_key": public_hex}),
        )),
        Some(_) => None,
    }
}

/// Records `arxi.envelope.version_changed` (and remembers the policy)
/// when the payload policy differs from the one recorded last (a first
/// start counts as version 1 without committed labels). Called after the
/// started envelope: not among the start records, whose shape the verifier
/// checks (`Docs/format.md` §11.4 rule C3).
fn record_payload_policy(
    store: &Store,
    chain: &mut Chain,
    plan: &mut Plan,
    now: i64,
) -> Result<(), OpenError> {
    let current = chain.config.payloads.to_json();
    let previous = match store
        .reader()
        .meta_get(namespace::RECORDER, "payload_policy")?
    {
        Some(entry) => serde_json::from_slice(&entry.value).map_err(|error| {
            OpenError::Inconsistent(format!("recorded payload policy: {error}"))
        })?,
        None => crate::PayloadPolicy::default().to_json(),
    };
    if previous == current {
        return Ok(());
    }
    let payload = json!({
        "previous_version": previous["version"],
        "previous_committed_labels": previous["committed_labels"],
        "version": current["version"],
        "committed_labels": current["committed_labels"],
    });
    chain.append_envelope(
        plan,
        Draft::control(
            control_types::ENVELOPE_VERSION_CHANGED,
            control::canonical(&payload),
        ),
    );
    plan.ops.push(Op::MetaPut {
        namespace: namespace::RECORDER,
        key: "payload_policy".into(),
        value: current.to_string().into_bytes(),
        created_at_us: now,
    });
    Ok(())
}

/// Writes the start records in one transaction: the recorder id on first
/// open, an acknowledged rollback, the key (loaded or changed), and
/// `arxi.recorder.started`.
fn record_start(
    store: &mut Store,
    chain: &mut Chain,
    first_open: bool,
    report: &RecoveryReport,
    rollback: Option<&Rollback>,
) -> Result<(), OpenError> {
    chain.tick_clock().map_err(OpenError::from)?;
    let now = chain.now_us();
    let mut plan = Plan::new(0, 0, chain.status(None));
    if first_open {
        plan.ops.push(Op::MetaPut {
            namespace: namespace::RECORDER,
            key: "recorder_id".into(),
            value: chain.config.recorder_id.as_bytes().to_vec(),
            created_at_us: now,
        });
    }
    // A delegated key is new at every start and signs everything of it,
    // the rollback record included, so its key event comes first.
    let delegating = chain.config.delegation.is_some();
    if delegating {
        record_key(store, chain, &mut plan, now)?;
    }
    if let Some(rollback) = rollback {
        let payload = control::canonical(&rollback.payload());
        chain.append_envelope(
            &mut plan,
            Draft::control(control_types::RECORDER_ROLLED_BACK, payload),
        );
    }
    if !delegating {
        record_key(store, chain, &mut plan, now)?;
    }
    let started = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "key_id": chain.key.id().as_str(),
        "previous_shutdown": report.previous_shutdown,
        "verified_envelopes": report.verified_envelopes,
        "verified_seals": report.verified_seals,
    });
    chain.append_envelope(
        &mut plan,
        Draft::control(
            control_types::RECORDER_STARTED,
            control::canonical(&started),
        ),
    );
    record_payload_policy(store, chain, &mut plan, now)?;
    if let Some(reason) = chain.auto_seal_due() {
        chain.seal_segment(&mut plan, reason);
    }
    chain.flush_progress(&mut plan);
    if let Some(error) = plan.signer_failure.take() {
        return Err(OpenError::Signer(error.0));
    }
    crate::signing::sign_plan(&mut plan, &chain.key, 1)
        .map_err(|error| OpenError::Signer(error.0))?;
    let txn = store.transaction()?;
    plan.apply(&txn)?;
    txn.commit()?;
    Ok(())
}

/// The key the last key event named (`None` before the first start).
fn recorded_signer_key(store: &Store) -> Result<Option<KeyId>, OpenError> {
    let Some(entry) = store
        .reader()
        .meta_get(namespace::RECORDER, "signer_key_id")?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&entry.value);
    KeyId::parse(&text)
        .map(Some)
        .map_err(|error| OpenError::Inconsistent(format!("recorded signer key {text:?}: {error}")))
}

/// Every key id in the store's `keys` table.
fn recorded_key_ids(store: &Store) -> Result<Vec<KeyId>, StoreError> {
    store
        .reader()
        .keys()?
        .into_iter()
        .map(|row| {
            KeyId::parse(&row.key_id)
                .map_err(|e| StoreError::BadRow(format!("key {}: {e}", row.key_id)))
        })
        .collect()
}

/// The signing key's part of the start records: its key row the first
/// time it signs here, and `arxi.key.loaded` or `arxi.key.changed` when it
/// is not the key used last.
fn record_key(
    store: &Store,
    chain: &mut Chain,
    plan: &mut Plan,
    now: i64,
) -> Result<(), OpenError> {
    if chain.config.delegation.is_some() {
        // A new delegated key at every start: its secret never outlived
        // the process that made it.
        return chain
            .delegate(plan)
            .map_err(|error| OpenError::Signer(error.0));
    }
    let known_keys = store.reader().keys()?;
    let previous_key = store
        .reader()
        .meta_get(namespace::RECORDER, "signer_key_id")?
        .map(|entry| String::from_utf8_lossy(&entry.value).into_owned());
    let key_id = chain.key.id().as_str().to_owned();
    let public_hex = chain.key.public().to_hex();
    if !known_keys.iter().any(|row| row.key_id == key_id) {
        plan.ops.push(Op::InsertKey(KeyRow {
            key_id: key_id.clone(),
            public_key: chain.key.public().to_bytes(),
            first_seq: chain.state.head.seq + 1,
            added_at_us: now,
        }));
    }
    if let Some((event_type, payload)) = key_event(previous_key.as_deref(), &key_id, &public_hex) {
        chain.append_envelope(
            plan,
            Draft::control(event_type, control::canonical(&payload)),
        );
        plan.ops.push(Op::MetaPut {
            namespace: namespace::RECORDER,
            key: "signer_key_id".into(),
            value: key_id.as_bytes().to_vec(),
            created_at_us: now,
        });
    }
    Ok(())
}
