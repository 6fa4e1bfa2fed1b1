//! The sequencer thread: the only code that decides what evidence is
//! written.
//!
//! It owns the chain head, the open segment's Merkle state and the signing
//! key. Each loop takes every queued command (up to `batch_commands_max`
//! commands or `BATCH_BYTES_MAX` bytes), assigns sequence numbers, chains,
//! signs, seals when due, and turns the batch into one [`Plan`] for the
//! committer. Sequence numbers are assigned only here, so the chain cannot
//! fork. Callers are answered by the committer once the plan is durable.
//!
//! When a plan fails, the committer fails every later plan of the same
//! generation; the sequencer then waits until every plan it sent has been
//! processed, re-reads its state from the database (the source of truth) and
//! starts a new generation.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use arxi_format::envelope::{AttachmentRef, EnvelopeBody, Kind};
use arxi_format::merkle::RootBuilder;
use arxi_format::seal::{SealBody, envelope_leaf};
use arxi_format::{CanonicalJson, ChainHead, Hash32, SecretKey, Timestamp};
use arxi_store::{EnvelopeRow, MetaEntry, ReaderPool, SealRow, SegmentRow, StoreError, namespace};

use crate::control::{self, Reason, control_types};
use crate::engine::{EngineStatus, SegmentInfo, Shared};
use crate::idempotency::{self, Check, IdempotencyRecord, IdempotencyRequest};
use crate::plan::{Op, Plan, Reply};
use crate::{Clock, CommandError, Outcome, Receipt, RecorderConfig, SealReceipt, recovery};

/// The open segment, as the sequencer tracks it.
#[derive(Debug, Clone)]
pub(crate) struct OpenSegment {
    pub(crate) segment_id: u64,
    pub(crate) first_seq: u64,
    pub(crate) envelope_count: u64,
    pub(crate) bytes: u64,
    pub(crate) opened_at_us: i64,
    /// Merkle state over the segment's envelope hashes so far.
    pub(crate) root: RootBuilder,
}

/// Everything the sequencer knows about the chain; re-read from the
/// database after any failed plan.
#[derive(Debug, Clone)]
pub(crate) struct ChainState {
    pub(crate) head: ChainHead,
    pub(crate) last_received_at_us: i64,
    pub(crate) open: Option<OpenSegment>,
    pub(crate) last_seal_hash: Hash32,
    pub(crate) last_segment_id: u64,
}

/// A data envelope ready for the sequencer (validated, attachments hashed).
#[derive(Debug)]
pub(crate) struct PreparedAppend {
    pub(crate) event_type: String,
    pub(crate) actor: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) payload: CanonicalJson,
    pub(crate) attachments: Vec<(AttachmentRef, Arc<[u8]>)>,
}

/// One envelope to append, before it is numbered, chained and signed.
pub(crate) struct Draft<'a> {
    pub(crate) kind: Kind,
    pub(crate) event_type: &'a str,
    pub(crate) actor: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) payload: CanonicalJson,
    pub(crate) attachments: &'a [(AttachmentRef, Arc<[u8]>)],
}

impl<'a> Draft<'a> {
    /// A control envelope: no actor, subject or attachments.
    pub(crate) fn control(event_type: &'a str, payload: CanonicalJson) -> Self {
        Self {
            kind: Kind::Control,
            event_type,
            actor: None,
            subject: None,
            payload,
            attachments: &[],
        }
    }
}

pub(crate) type Answer<T> = oneshot::Sender<Result<T, CommandError>>;

/// A queued command. `queued_bytes` is released when the sequencer takes it.
pub(crate) enum Command {
    Append {
        append: PreparedAppend,
        idempotency: Option<IdempotencyRequest<Receipt>>,
        answer: Answer<Outcome<Receipt>>,
        queued_bytes: usize,
    },
    OpenSegment {
        idempotency: Option<IdempotencyRequest<SegmentInfo>>,
        answer: Answer<Outcome<SegmentInfo>>,
    },
    Seal {
        idempotency: Option<IdempotencyRequest<SealReceipt>>,
        answer: Answer<Outcome<SealReceipt>>,
    },
    Control {
        event_type: &'static str,
        payload: CanonicalJson,
        /// For `arxi.bundle.built`: the bundle it names, indexed in the
        /// same transaction.
        bundle_id: Option<String>,
        idempotency: Option<IdempotencyRequest<Receipt>>,
        answer: Answer<Outcome<Receipt>>,
    },
    Shutdown {
        answer: Answer<()>,
    },
    /// A write that is not evidence: one `store_meta` row, committed
    /// (fsync) like any plan. Readiness uses it to learn whether writes
    /// work again after a failure.
    Probe {
        answer: Answer<()>,
    },
}

impl Command {
    pub(crate) fn queued_bytes(&self) -> usize {
        match self {
            Self::Append { queued_bytes, .. } => *queued_bytes,
            _ => 0,
        }
    }

    /// Answers without running.
    pub(crate) fn refuse(self, error: &CommandError) {
        // A caller that stopped waiting is not an error.
        match self {
            Self::Append { answer, .. } | Self::Control { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::OpenSegment { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::Seal { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::Shutdown { answer } | Self::Probe { answer } => {
                let _ = answer.send(Err(error.clone()));
            }
        }
    }
}

fn reply<T: Send + 'static>(
    sender: Answer<T>,
    result: Result<T, CommandError>,
    idempotent: bool,
) -> Box<dyn crate::plan::Deliver> {
    Box::new(Reply {
        sender,
        result,
        idempotent,
    })
}

/// The evidence-making state: chain, key, clock, config.
pub(crate) struct Core {
    pub(crate) state: ChainState,
    pub(crate) key: SecretKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<RecorderConfig>,
    /// The time used for the command being applied (never behind the last
    /// recorded receive time).
    pub(crate) now_us: i64,
}

impl Core {
    pub(crate) fn new(
        state: ChainState,
        key: SecretKey,
        clock: Arc<dyn Clock>,
        config: Arc<RecorderConfig>,
    ) -> Self {
        Self {
            state,
            key,
            clock,
            config,
            now_us: 0,
        }
    }

    /// Reads the clock, never going back behind the last recorded time.
    pub(crate) fn tick_clock(&mut self) {
        self.now_us = self.clock.now_micros().max(self.state.last_received_at_us);
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(self.now_us).unwrap_or(Timestamp::EPOCH)
    }

    /// Appends one envelope to the open segment (opening one if needed).
    pub(crate) fn append_envelope(&mut self, plan: &mut Plan, draft: Draft<'_>) -> Receipt {
        if self.state.open.is_none() {
            self.open_segment(plan, Reason::Append);
        }
        self.append_to_open_segment(plan, draft)
    }

    fn append_to_open_segment(&mut self, plan: &mut Plan, draft: Draft<'_>) -> Receipt {
        let head = self.state.head;
        let received_at_us = self.now_us.max(self.state.last_received_at_us);
        let Some(open) = self.state.open.as_mut() else {
            unreachable!("append_to_open_segment needs an open segment");
        };
        let body = EnvelopeBody {
            recorder_id: self.config.recorder_id.clone(),
            segment_id: open.segment_id,
            seq: head.seq + 1,
            received_at: Timestamp::from_unix_micros(received_at_us).unwrap_or(Timestamp::EPOCH),
            kind: draft.kind,
            event_type: draft.event_type.to_owned(),
            actor: draft.actor,
            subject: draft.subject,
            payload: draft.payload,
            attachments: draft
                .attachments
                .iter()
                .map(|(reference, _)| reference.clone())
                .collect(),
            prev_hash: head.hash,
            key_id: self.key.id().clone(),
        };
        // The link is checked before the row is written, and again when rows
        // are read back.
        assert_eq!(
            head.check_next(&body),
            Ok(()),
            "sequencer built a broken link"
        );
        let envelope = body.sign(&self.key);
        let bytes = envelope.to_canonical_bytes();
        let mut attachment_bytes = 0_u64;
        for (reference, data) in draft.attachments {
            plan.ops.push(Op::PutAttachment {
                sha256: reference.sha256.0,
                data: Arc::clone(data),
            });
            attachment_bytes += reference.size;
        }
        open.envelope_count += 1;
        open.bytes += bytes.len() as u64 + attachment_bytes;
        open.root.push(envelope_leaf(&envelope.hash));
        plan.ops.push(Op::InsertEnvelope(EnvelopeRow {
            seq: envelope.body.seq,
            segment_id: envelope.body.segment_id,
            received_at_us,
            kind: u8::from(draft.kind == Kind::Control),
            event_type: envelope.body.event_type.clone(),
            actor: envelope.body.actor.clone(),
            hash: envelope.hash.0,
            body: bytes,
        }));
        plan.stats.envelopes += 1;
        self.state.head = ChainHead::after(&envelope);
        self.state.last_received_at_us = received_at_us;
        Receipt {
            seq: envelope.body.seq,
            segment_id: envelope.body.segment_id,
            hash: envelope.hash,
            prev_hash: envelope.body.prev_hash,
            received_at: envelope.body.received_at,
            key_id: envelope.body.key_id,
        }
    }

    /// Opens the next segment and records `arxi.segment.opened` as its first
    /// envelope.
    pub(crate) fn open_segment(&mut self, plan: &mut Plan, reason: Reason) -> SegmentInfo {
        assert!(self.state.open.is_none(), "a segment is already open");
        let segment_id = self.state.last_segment_id + 1;
        let first_seq = self.state.head.seq + 1;
        let opened_at_us = self.now_us;
        plan.ops.push(Op::InsertSegment(SegmentRow {
            segment_id,
            first_seq,
            last_seq: first_seq,
            envelope_count: 0,
            bytes: 0,
            opened_at_us,
            sealed_at_us: None,
        }));
        self.state.open = Some(OpenSegment {
            segment_id,
            first_seq,
            envelope_count: 0,
            bytes: 0,
            opened_at_us,
            root: RootBuilder::new(),
        });
        self.state.last_segment_id = segment_id;
        let payload = control::segment_opened(segment_id, reason, &self.state.last_seal_hash);
        self.append_to_open_segment(plan, Draft::control(control_types::SEGMENT_OPENED, payload));
        self.open_info()
            .unwrap_or_else(|| unreachable!("segment just opened"))
    }

    /// Records `arxi.segment.sealed` as the open segment's last envelope,
    /// then the signed seal over the segment.
    pub(crate) fn seal_segment(&mut self, plan: &mut Plan, reason: Reason) -> SealReceipt {
        let segment_id = self
            .state
            .open
            .as_ref()
            .map(|open| open.segment_id)
            .unwrap_or_else(|| unreachable!("seal_segment needs an open segment"));
        let payload = control::segment_sealed(segment_id, reason);
        self.append_to_open_segment(plan, Draft::control(control_types::SEGMENT_SEALED, payload));
        self.flush_progress(plan);
        let Some(open) = self.state.open.take() else {
            unreachable!("segment vanished while sealing");
        };
        let sealed_at = self.now();
        let seal = SealBody {
            recorder_id: self.config.recorder_id.clone(),
            segment_id,
            first_seq: open.first_seq,
            last_seq: self.state.head.seq,
            count: open.envelope_count,
            merkle_root: open.root.root(),
            last_envelope_hash: self.state.head.hash,
            prev_seal_hash: self.state.last_seal_hash,
            sealed_at,
            key_id: self.key.id().clone(),
        };
        assert_eq!(seal.validate(), Ok(()), "sequencer built an invalid seal");
        let seal = seal.sign(&self.key);
        plan.ops.push(Op::Seal {
            sealed_at_us: sealed_at.unix_micros(),
            row: SealRow {
                segment_id,
                hash: seal.hash.0,
                body: seal.to_canonical_bytes(),
            },
        });
        plan.stats.seals += 1;
        self.state.last_seal_hash = seal.hash;
        SealReceipt {
            segment_id,
            first_seq: seal.body.first_seq,
            last_seq: seal.body.last_seq,
            count: seal.body.count,
            merkle_root: seal.body.merkle_root,
            seal_hash: seal.hash,
            sealed_at,
        }
    }

    /// Records the open segment's progress.
    pub(crate) fn flush_progress(&self, plan: &mut Plan) {
        if let Some(open) = self
            .state
            .open
            .as_ref()
            .filter(|open| open.envelope_count > 0)
        {
            plan.ops.push(Op::Progress {
                segment_id: open.segment_id,
                last_seq: self.state.head.seq,
                envelope_count: open.envelope_count,
                bytes: open.bytes,
            });
        }
    }

    /// The auto-seal reason that applies now, if any.
    pub(crate) fn auto_seal_due(&self) -> Option<Reason> {
        let open = self.state.open.as_ref()?;
        let limits = &self.config.auto_seal;
        // The sealed envelope itself takes one place.
        if open.envelope_count + 1 >= limits.envelopes_max {
            Some(Reason::Count)
        } else if open.bytes >= limits.bytes_max {
            Some(Reason::Bytes)
        } else if self
            .age_deadline_us()
            .is_some_and(|deadline| self.now_us >= deadline)
        {
            Some(Reason::Age)
        } else {
            None
        }
    }

    pub(crate) fn age_deadline_us(&self) -> Option<i64> {
        let open = self.state.open.as_ref()?;
        let age = i64::try_from(self.config.auto_seal.age_max.as_micros()).unwrap_or(i64::MAX);
        Some(open.opened_at_us.saturating_add(age))
    }

    pub(crate) fn open_info(&self) -> Option<SegmentInfo> {
        let open = self.state.open.as_ref()?;
        Some(SegmentInfo {
            segment_id: open.segment_id,
            first_seq: open.first_seq,
            last_seq: self.state.head.seq,
            envelope_count: open.envelope_count,
            bytes: open.bytes,
            opened_at: Timestamp::from_unix_micros(open.opened_at_us).unwrap_or(Timestamp::EPOCH),
            sealed_at: None,
        })
    }

    /// The engine status as of the writes planned so far.
    pub(crate) fn status(&self, failure: Option<String>) -> EngineStatus {
        EngineStatus {
            head_seq: self.state.head.seq,
            head_hash: self.state.head.hash,
            open_segment: self.open_info(),
            last_seal_hash: self.state.last_seal_hash,
            failure,
        }
    }
}

/// Coordination between the sequencer and the committer.
#[derive(Debug, Default)]
pub(crate) struct Pipeline {
    /// Set by the committer when a plan fails; cleared by the sequencer once
    /// it has reloaded its state.
    pub(crate) failed: std::sync::atomic::AtomicBool,
    /// The last epoch the committer finished (committed or failed).
    pub(crate) processed: Mutex<u64>,
    pub(crate) processed_changed: Condvar,
    /// The last epoch durably committed.
    pub(crate) committed: std::sync::atomic::AtomicU64,
}

/// How often expired idempotency records are evicted, and how many per run.
const EVICTION_INTERVAL_US: i64 = 10_000_000;
const EVICTION_ROWS_MAX: u64 = 1_000;
/// A batch stops growing past this many queued bytes (bounds plan memory).
const BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;

/// An idempotency record planned but maybe not yet durable.
struct InFlight {
    value: Vec<u8>,
    created_at_us: i64,
    epoch: u64,
}

/// The sequencer thread's state.
pub(crate) struct Sequencer {
    pub(crate) core: Core,
    pub(crate) readers: Arc<ReaderPool>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) plans: SyncSender<Plan>,
    inflight: HashMap<String, InFlight>,
    generation: u64,
    epoch: u64,
    /// Why the sequencer cannot plan, until its state reloads.
    failure: Option<String>,
    last_eviction_us: i64,
}

impl Sequencer {
    pub(crate) fn new(
        core: Core,
        readers: Arc<ReaderPool>,
        shared: Arc<Shared>,
        pipeline: Arc<Pipeline>,
        plans: SyncSender<Plan>,
    ) -> Self {
        Self {
            core,
            readers,
            shared,
            pipeline,
            plans,
            inflight: HashMap::new(),
            generation: 0,
            epoch: 0,
            failure: None,
            last_eviction_us: 0,
        }
    }

    /// Runs until shutdown or until every command sender is gone.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let batch_max = self.core.config.batch_commands_max.max(1);
        let mut batch: Vec<Command> = Vec::with_capacity(batch_max);
        loop {
            let first = match commands.recv_timeout(self.wait_timeout()) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch_bytes = 0;
            if let Some(command) = first {
                batch_bytes += command.queued_bytes();
                batch.push(command);
                while batch.len() < batch_max && batch_bytes < BATCH_BYTES_MAX {
                    match commands.try_recv() {
                        Ok(command) => {
                            batch_bytes += command.queued_bytes();
                            batch.push(command);
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
            }
            for command in &batch {
                self.shared.dequeued(command.queued_bytes());
            }
            if self.step(&mut batch) {
                break;
            }
        }
        // Nothing queued is dropped silently.
        self.shared.stopped.store(true, Ordering::Release);
        while let Ok(command) = commands.try_recv() {
            self.shared.dequeued(command.queued_bytes());
            command.refuse(&CommandError::Stopped);
        }
    }

    /// How long to wait for a command before an age seal or eviction is due.
    fn wait_timeout(&mut self) -> Duration {
        self.core.tick_clock();
        let mut deadline = self.last_eviction_us + EVICTION_INTERVAL_US;
        if let Some(age) = self.core.age_deadline_us() {
            deadline = deadline.min(age);
        }
        let wait = u64::try_from(deadline.saturating_sub(self.core.now_us)).unwrap_or(0);
        Duration::from_micros(wait.clamp(1_000, 60_000_000))
    }

    /// Plans one batch and hands it to the committer. Returns true when the
    /// sequencer stops.
    fn step(&mut self, batch: &mut Vec<Command>) -> bool {
        if self.pipeline.failed.load(Ordering::Acquire) || self.failure.is_some() {
            self.reset();
        }
        if let Some(reason) = &self.failure {
            let error = CommandError::Unavailable(reason.clone());
            for command in batch.drain(..) {
                command.refuse(&error);
            }
            return false;
        }
        let committed = self.pipeline.committed.load(Ordering::Acquire);
        self.inflight.retain(|_, record| record.epoch > committed);

        self.core.tick_clock();
        let now = self.core.now_us;
        let eviction_due = now >= self.last_eviction_us + EVICTION_INTERVAL_US;
        if batch.is_empty() && !eviction_due && self.core.auto_seal_due().is_none() {
            return false;
        }
        // The epoch is taken only when the plan is sent, so the committer
        // processes every epoch the sequencer counts.
        let mut plan = Plan::new(self.generation, self.epoch + 1, self.core.status(None));
        let mut stop = false;
        for command in batch.drain(..) {
            if stop {
                command.refuse(&CommandError::Stopped);
                continue;
            }
            stop = matches!(command, Command::Shutdown { .. });
            plan.stats.commands += 1;
            self.apply(&mut plan, command);
        }
        if !stop {
            self.core.tick_clock();
            if let Some(reason) = self.core.auto_seal_due() {
                self.core.seal_segment(&mut plan, reason);
            }
        }
        self.core.flush_progress(&mut plan);
        if eviction_due {
            let ttl =
                i64::try_from(self.core.config.idempotency_ttl.as_micros()).unwrap_or(i64::MAX);
            plan.ops.push(Op::MetaEvict {
                namespace: namespace::IDEMPOTENCY,
                created_before_us: now.saturating_sub(ttl),
                entries_max: self.core.config.idempotency_entries_max,
                delete_max: EVICTION_ROWS_MAX,
            });
            self.last_eviction_us = now;
        }
        plan.status = self.core.status(None);
        plan.shutdown = stop;
        if plan.is_empty() {
            return false;
        }
        let epoch = plan.epoch;
        if let Err(unsent) = self.plans.send(plan) {
            unsent.0.deliver(Some(&crate::plan::Failure::Unavailable(
                "committer stopped".into(),
            )));
            return true;
        }
        self.epoch = epoch;
        stop
    }

    /// After a failed plan: wait until every plan sent has been processed,
    /// reload the state from the database, start a new generation.
    fn reset(&mut self) {
        {
            let mut processed = self
                .pipeline
                .processed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            while *processed < self.epoch {
                processed = self
                    .pipeline
                    .processed_changed
                    .wait(processed)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
        match self.readers.with(|reader| {
            recovery::load_state(reader).map_err(|e| StoreError::Other(e.to_string()))
        }) {
            Ok(state) => {
                self.core.state = state;
                self.inflight.clear();
                self.generation += 1;
                self.failure = None;
                self.pipeline.failed.store(false, Ordering::Release);
                self.shared.publish(self.core.status(None));
                tracing::warn!(
                    head_seq = self.core.state.head.seq,
                    "sequencer reloaded its state after a failed write"
                );
            }
            Err(error) => {
                let reason = format!("reloading state: {error}");
                tracing::error!(%reason, "recorder cannot write");
                self.shared.publish(self.core.status(Some(reason.clone())));
                self.failure = Some(reason);
            }
        }
    }

    /// Finds an idempotency record: planned (not yet durable) or stored.
    fn find_record(&self, storage_key: &str) -> Result<Option<MetaEntry>, StoreError> {
        if let Some(record) = self.inflight.get(storage_key) {
            return Ok(Some(MetaEntry {
                value: record.value.clone(),
                created_at_us: record.created_at_us,
            }));
        }
        self.readers
            .with(|reader| reader.meta_get(namespace::IDEMPOTENCY, storage_key))
    }

    /// Runs a possibly idempotent mutation: replay, conflict, or perform and
    /// plan the record in the same transaction.
    fn idempotent<T>(
        &mut self,
        plan: &mut Plan,
        idempotency: Option<IdempotencyRequest<T>>,
        perform: impl FnOnce(&mut Core, &mut Plan) -> Result<T, CommandError>,
    ) -> Result<Outcome<T>, CommandError> {
        let Some(request) = idempotency else {
            return perform(&mut self.core, plan).map(|value| Outcome::Done {
                value,
                response: None,
            });
        };
        let storage_key = request.key.storage_key(&self.core.config.recorder_id);
        let found = match self.find_record(&storage_key) {
            Ok(None) => None,
            Ok(Some(entry)) => match IdempotencyRecord::decode(&entry.value) {
                Ok(record) => Some((record, entry.created_at_us)),
                Err(reason) => return Err(CommandError::IdempotencyUnavailable(reason)),
            },
            Err(error) => return Err(CommandError::IdempotencyUnavailable(error.to_string())),
        };
        let ttl = i64::try_from(self.core.config.idempotency_ttl.as_micros()).unwrap_or(i64::MAX);
        match idempotency::check(
            found,
            &request.request_hash,
            self.core.now_us.saturating_sub(ttl),
        ) {
            Check::Replay(response) => {
                self.shared
                    .metrics
                    .replays_total
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(Outcome::Replayed(response));
            }
            Check::Conflict => return Err(CommandError::IdempotencyConflict),
            Check::Fresh => {}
        }
        let value = perform(&mut self.core, plan)?;
        let response = (request.render)(&value);
        let record = IdempotencyRecord {
            request_hash: request.request_hash,
            response: response.clone(),
        }
        .encode();
        plan.ops.push(Op::MetaPut {
            namespace: namespace::IDEMPOTENCY,
            key: storage_key.clone(),
            value: record.clone(),
            created_at_us: self.core.now_us,
        });
        self.inflight.insert(
            storage_key,
            InFlight {
                value: record,
                created_at_us: self.core.now_us,
                epoch: plan.epoch,
            },
        );
        Ok(Outcome::Done {
            value,
            response: Some(response),
        })
    }

    /// Plans one command.
    fn apply(&mut self, plan: &mut Plan, command: Command) {
        self.core.tick_clock();
        match command {
            Command::Append {
                append,
                idempotency,
                answer,
                ..
            } => {
                let idempotent = idempotency.is_some();
                let result = self.idempotent(plan, idempotency, |core, plan| {
                    let receipt = core.append_envelope(
                        plan,
                        Draft {
                            kind: Kind::Data,
                            event_type: &append.event_type,
                            actor: append.actor,
                            subject: append.subject,
                            payload: append.payload,
                            attachments: &append.attachments,
                        },
                    );
                    if let Some(reason) = core.auto_seal_due() {
                        core.seal_segment(plan, reason);
                    }
                    Ok(receipt)
                });
                plan.replies.push(reply(answer, result, idempotent));
            }
            Command::Control {
                event_type,
                payload,
                bundle_id,
                idempotency,
                answer,
            } => {
                let idempotent = idempotency.is_some();
                let result = self.idempotent(plan, idempotency, |core, plan| {
                    let receipt = core.append_envelope(plan, Draft::control(event_type, payload));
                    if let Some(bundle_id) = bundle_id {
                        plan.ops.push(Op::IndexBundle {
                            seq: receipt.seq,
                            bundle_id,
                        });
                    }
                    if let Some(reason) = core.auto_seal_due() {
                        core.seal_segment(plan, reason);
                    }
                    Ok(receipt)
                });
                plan.replies.push(reply(answer, result, idempotent));
            }
            Command::OpenSegment {
                idempotency,
                answer,
            } => {
                let idempotent = idempotency.is_some();
                let result = self.idempotent(plan, idempotency, |core, plan| {
                    if let Some(open) = &core.state.open {
                        return Err(CommandError::SegmentAlreadyOpen {
                            segment_id: open.segment_id,
                        });
                    }
                    Ok(core.open_segment(plan, Reason::Api))
                });
                plan.replies.push(reply(answer, result, idempotent));
            }
            Command::Seal {
                idempotency,
                answer,
            } => {
                let idempotent = idempotency.is_some();
                let result = self.idempotent(plan, idempotency, |core, plan| {
                    if core.state.open.is_none() {
                        return Err(CommandError::NoOpenSegment);
                    }
                    Ok(core.seal_segment(plan, Reason::Api))
                });
                plan.replies.push(reply(answer, result, idempotent));
            }
            Command::Probe { answer } => {
                plan.ops.push(Op::MetaPut {
                    namespace: namespace::HEALTH,
                    key: "write_probe".into(),
                    value: self.core.now_us.to_be_bytes().to_vec(),
                    created_at_us: self.core.now_us,
                });
                plan.replies.push(reply(answer, Ok(()), false));
            }
            Command::Shutdown { answer } => {
                self.core.append_envelope(
                    plan,
                    Draft::control(
                        control_types::RECORDER_STOPPED,
                        control::canonical(&serde_json::json!({"reason": "shutdown"})),
                    ),
                );
                plan.replies.push(reply(answer, Ok(()), false));
            }
        }
    }
}
