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
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

use arxi_format::{CanonicalJson, Hash32, KeyId, SignerError};
use arxi_store::{IdempotencyRow, ReaderPool, StoreError, namespace};

use crate::chain::{Chain, Draft, PreparedAppend};
use crate::control::{self, Reason};
use crate::control_types;
use crate::idempotency::{self, Compact, IdempotencyRecord, IdempotencyRequest, Lookup};
use crate::log_tree::{Cosignature, LogCheckpoint};
use crate::plan::{CommitProgress, Op, Plan, Reply, Signed};
use crate::retention::Retention;
use crate::status::{SegmentInfo, Shared};
use crate::{CommandError, Outcome, Receipt, SealReceipt, recovery};

pub(crate) type Answer<T> = oneshot::Sender<Result<T, CommandError>>;

/// A queued command. `queued_bytes` is released when the sequencer takes it.
pub(crate) enum Command {
    Append {
        append: PreparedAppend,
        idempotency: Option<IdempotencyRequest<Receipt>>,
        answer: Answer<Outcome<Receipt>>,
        queued_bytes: usize,
    },
    /// Envelopes recorded together: consecutive sequence numbers, one
    /// transaction, one idempotency record.
    AppendBatch {
        appends: Vec<PreparedAppend>,
        idempotency: Option<IdempotencyRequest<Vec<Receipt>>>,
        answer: Answer<Outcome<Vec<Receipt>>>,
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
        /// The row written in the same transaction as the envelope.
        index: ControlIndex,
        idempotency: Option<IdempotencyRequest<Receipt>>,
        answer: Answer<Outcome<Receipt>>,
    },
    /// Erases committed payloads (`erasure.rs`).
    Erase {
        request: crate::ErasureRequest,
        answer: Answer<Outcome<crate::ErasureReceipt>>,
    },
    Shutdown {
        answer: Answer<()>,
    },
    /// Sign a checkpoint of the log tree if it grew; answer the newest.
    Checkpoint {
        keep_from: u64,
        answer: Answer<Option<LogCheckpoint>>,
    },
    /// Store witnesses' cosignatures.
    Cosignatures {
        cosignatures: Vec<Cosignature>,
        answer: Answer<()>,
    },
    /// Store timestamp authorities' tokens of seals.
    Timestamps {
        tokens: Vec<arxi_store::TimestampRow>,
        answer: Answer<()>,
    },
    /// A write that is not evidence: one `store_meta` row, committed
    /// (fsync) like any plan. Readiness uses it to learn whether writes
    /// work again after a failure.
    Probe {
        answer: Answer<()>,
    },
}

/// The state row a control envelope carries into its transaction.
pub(crate) enum ControlIndex {
    /// None: the envelope alone.
    None,
    /// `arxi.bundle.built`: the bundle it names, indexed.
    Bundle(String),
    /// `arxi.segment.archived`: the archive row.
    Archived(crate::ArchiveRecord),
}

impl ControlIndex {
    /// Plans the row for the control envelope `seq`, recorded at `now_us`.
    fn plan(self, plan: &mut Plan, seq: u64, now_us: i64) {
        match self {
            Self::None => {}
            Self::Bundle(bundle_id) => plan.ops.push(Op::IndexBundle { seq, bundle_id }),
            Self::Archived(record) => plan
                .ops
                .push(Op::RecordArchived(record.to_row(seq, now_us))),
        }
    }
}

impl Command {
    pub(crate) fn queued_bytes(&self) -> usize {
        match self {
            Self::Append { queued_bytes, .. } | Self::AppendBatch { queued_bytes, .. } => {
                *queued_bytes
            }
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
            Self::AppendBatch { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::OpenSegment { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::Seal { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::Erase { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::Shutdown { answer }
            | Self::Probe { answer }
            | Self::Cosignatures { answer, .. }
            | Self::Timestamps { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Self::Checkpoint { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
        }
    }
}

/// Answers every command of a batch with `error`.
fn refuse_all(batch: &mut Vec<Command>, error: &CommandError) {
    for command in batch.drain(..) {
        command.refuse(error);
    }
}

fn reply<T: Send + Signed + 'static>(
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
    pub(crate) chain: Chain,
    pub(crate) readers: Arc<ReaderPool>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) progress: Arc<CommitProgress>,
    pub(crate) plans: SyncSender<Plan>,
    inflight: HashMap<String, InFlight>,
    retention: Option<Retention>,
    generation: u64,
    epoch: u64,
    /// Why the sequencer cannot plan, until its state reloads.
    failure: Option<String>,
    last_eviction_us: i64,
}

impl Sequencer {
    pub(crate) fn new(
        chain: Chain,
        readers: Arc<ReaderPool>,
        shared: Arc<Shared>,
        progress: Arc<CommitProgress>,
        plans: SyncSender<Plan>,
    ) -> Self {
        Self {
            chain,
            readers,
            shared,
            progress,
            plans,
            inflight: HashMap::new(),
            retention: None,
            generation: 0,
            epoch: 0,
            failure: None,
            last_eviction_us: 0,
        }
    }

    /// Applies `policy` from the next batch on.
    pub(crate) fn with_retention(mut self, policy: Option<crate::RetentionPolicy>) -> Self {
        self.retention = policy.map(Retention::new);
        self
    }

    /// Runs until shutdown or until every command sender is gone.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let batch_max = self.chain.config.batch_commands_max.max(1);
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
        // A clock out of range keeps the last good time here; the next
        // batch refuses its commands (`step`).
        let _unchanged_on_a_bad_reading = self.chain.tick_clock();
        let mut deadline = self.last_eviction_us + EVICTION_INTERVAL_US;
        if let Some(age) = self.chain.age_deadline_us() {
            deadline = deadline.min(age);
        }
        if let Some(retention) = &self.retention {
            deadline = deadline.min(retention.deadline_us(self.chain.now_us()));
        }
        let wait = u64::try_from(deadline.saturating_sub(self.chain.now_us())).unwrap_or(0);
        Duration::from_micros(wait.clamp(1_000, 60_000_000))
    }

    /// Plans one batch and hands it to the committer. Returns true when the
    /// sequencer stops.
    fn step(&mut self, batch: &mut Vec<Command>) -> bool {
        if self.progress.failed.load(Ordering::Acquire) || self.failure.is_some() {
            self.reset();
        }
        if let Some(reason) = &self.failure {
            refuse_all(batch, &CommandError::Unavailable(reason.clone()));
            return false;
        }
        let committed = self.progress.committed.load(Ordering::Acquire);
        self.inflight.retain(|_, record| record.epoch > committed);

        if self.refuse_on_bad_clock(batch) {
            return false;
        }
        let now = self.chain.now_us();
        let eviction_due = now >= self.last_eviction_us + EVICTION_INTERVAL_US;
        let retention_due = self.retention.as_ref().is_some_and(|r| r.due(now));
        if batch.is_empty()
            && !eviction_due
            && !retention_due
            && self.chain.auto_seal_due().is_none()
        {
            return false;
        }
        // The epoch is taken only when the plan is sent, so the committer
        // processes every epoch the sequencer counts.
        let mut plan = Plan::new(self.generation, self.epoch + 1, self.chain.status(None));
        self.plan_delegation(&mut plan);
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
        // A bad reading now leaves the auto-seal for the next batch.
        if !stop
            && self.chain.tick_clock().is_ok()
            && let Some(reason) = self.chain.auto_seal_due()
        {
            self.chain.seal_segment(&mut plan, reason);
        }
        if !stop && retention_due {
            self.plan_retention(&mut plan);
        }
        self.chain.flush_progress(&mut plan);
        if eviction_due {
            self.plan_eviction(&mut plan, now);
        }
        plan.status = self.chain.status(None);
        plan.shutdown = stop;
        if plan.is_empty() {
            return false;
        }
        !self.sign_and_send(plan) || stop
    }

    /// A new delegated key when one is due (`delegation.rs`). When the
    /// root makes no delegation, the current key signs on while its window
    /// lasts; past that the plan is refused (`signer_unavailable`).
    fn plan_delegation(&mut self, plan: &mut Plan) {
        if !self.chain.delegation_due() {
            return;
        }
        let Err(error) = self.chain.delegate(plan) else {
            return;
        };
        self.shared
            .metrics
            .signer_failures_total
            .fetch_add(1, Ordering::Relaxed);
        if self.chain.delegated_key_lasts() {
            tracing::warn!(%error, "the root made no delegation; the delegated key in force signs on");
        } else {
            plan.fail_signing(error);
        }
    }

    /// Evicts expired idempotency records (a bounded number per plan).
    fn plan_eviction(&mut self, plan: &mut Plan, now: i64) {
        let ttl = i64::try_from(self.chain.config.idempotency_ttl.as_micros()).unwrap_or(i64::MAX);
        plan.ops.push(Op::MetaEvict {
            namespace: namespace::IDEMPOTENCY,
            created_before_us: now.saturating_sub(ttl),
            entries_max: self.chain.config.idempotency_entries_max,
            delete_max: EVICTION_ROWS_MAX,
        });
        plan.ops.push(Op::EvictIdempotency {
            created_before_us: now.saturating_sub(ttl),
            entries_max: self.chain.config.idempotency_entries_max,
            delete_max: EVICTION_ROWS_MAX,
        });
        self.last_eviction_us = now;
    }

    /// Signs the plan's envelopes (`signing.rs`) and hands it to the
    /// committer. Returns false when the committer is gone (its callers are
    /// answered).
    fn sign_and_send(&mut self, mut plan: Plan) -> bool {
        let signed = match plan.signer_failure.take() {
            Some(error) => Err(error),
            None => crate::signing::sign_plan(
                &mut plan,
                &self.chain.key,
                self.chain.config.signing_threads,
            ),
        };
        let signatures = match signed {
            Ok(signatures) => signatures,
            Err(error) => return self.refuse_unsigned(plan, &error),
        };
        for reply in &mut plan.replies {
            reply.attach(&signatures);
        }
        let epoch = plan.epoch;
        if let Err(unsent) = self.plans.send(plan) {
            unsent.0.deliver(Some(&crate::plan::Failure::Unavailable(
                "committer stopped".into(),
            )));
            return false;
        }
        self.epoch = epoch;
        true
    }

    /// A signature of `plan` could not be made: nothing of it is written,
    /// its callers get the error, and the next batch starts from the state
    /// reloaded from the database (the sequence numbers and chain this plan
    /// took are given out again). A stop still stops: the sequencer ends,
    /// and the committer ends when the plan channel closes, after the plans
    /// sent before (no plan carries the refused state to it, so neither the
    /// published status nor the signed head ever names it).
    fn refuse_unsigned(&mut self, plan: Plan, error: &SignerError) -> bool {
        tracing::error!(%error, "signer made no signature; nothing of the batch was recorded");
        self.shared
            .metrics
            .signer_failures_total
            .fetch_add(1, Ordering::Relaxed);
        plan.deliver(Some(&crate::plan::Failure::Signer(error.0.clone())));
        self.failure = Some(format!("signer: {}", error.0));
        true
    }

    /// An archive record must start right after the archived runs. The
    /// store would refuse it too, but inside the plan, failing every write
    /// batched with it; checked here, only the record is refused. (Records
    /// come from the one archiver, one at a time after the previous one
    /// committed, so the committed state is the whole truth.)
    fn check_archived(&self, index: &ControlIndex) -> Result<(), CommandError> {
        let ControlIndex::Archived(record) = index else {
            return Ok(());
        };
        let last = self
            .readers
            .with(|reader| reader.last_archived())
            .map_err(CommandError::Storage)?;
        let expected = last.map_or(1, |row| row.last_segment + 1);
        if record.first_segment == expected && record.last_segment >= record.first_segment {
            Ok(())
        } else {
            Err(CommandError::Storage(StoreError::BadRow(format!(
                "archived segments {}..={} do not follow the archived ones (next is {expected})",
                record.first_segment, record.last_segment
            ))))
        }
    }

    /// Refuses the whole batch when the clock reads a time evidence
    /// cannot carry. Returns true when it did.
    fn refuse_on_bad_clock(&mut self, batch: &mut Vec<Command>) -> bool {
        let Err(clock) = self.chain.tick_clock() else {
            return false;
        };
        tracing::error!(
            micros = clock.micros,
            "the clock is out of range; refusing the batch"
        );
        let error = CommandError::ClockOutOfRange {
            micros: clock.micros,
        };
        for command in batch.drain(..) {
            command.refuse(&error);
        }
        true
    }

    /// Adds the retention work due now to `plan`.
    fn plan_retention(&mut self, plan: &mut Plan) {
        let committed = self.progress.committed.load(Ordering::Acquire);
        if let Some(retention) = self.retention.as_mut() {
            retention.plan(&mut self.chain, plan, &self.readers, committed);
        }
    }

    /// Waits until the committer has processed every plan sent.
    fn wait_processed(&self) {
        let mut processed = self
            .progress
            .processed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while *processed < self.epoch {
            processed = self
                .progress
                .processed_changed
                .wait(processed)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// After a failed plan: wait until every plan sent has been processed,
    /// reload the state from the database, start a new generation.
    fn reset(&mut self) {
        self.wait_processed();
        match self.readers.with(|reader| {
            let state =
                recovery::load_state(reader).map_err(|e| StoreError::Other(e.to_string()))?;
            let recorded = reader
                .meta_get(namespace::RECORDER, "signer_key_id")?
                .and_then(|entry| KeyId::parse(&String::from_utf8_lossy(&entry.value)).ok());
            Ok((state, recorded))
        }) {
            Ok((state, recorded_key)) => {
                self.chain.state = state;
                self.chain.reloaded(recorded_key);
                self.inflight.clear();
                self.generation += 1;
                self.failure = None;
                self.progress.failed.store(false, Ordering::Release);
                self.shared.publish(self.chain.status(None));
                tracing::warn!(
                    head_seq = self.chain.state.head.seq,
                    "sequencer reloaded its state after a failed write or signature"
                );
            }
            Err(error) => {
                let reason = format!("reloading state: {error}");
                tracing::error!(%reason, "recorder cannot write");
                self.shared.publish(self.chain.status(Some(reason.clone())));
                self.failure = Some(reason);
            }
        }
    }

    /// Looks a key up: planned (not yet durable, held whole), compact
    /// (an append's: its result rebuilt from the envelopes), or stored
    /// whole. Expired records count as absent.
    fn lookup<T>(
        &self,
        storage_key: &str,
        request_hash: &Hash32,
        compact: Option<&Compact<T>>,
    ) -> Result<Lookup<T>, StoreError> {
        let ttl = i64::try_from(self.chain.config.idempotency_ttl.as_micros()).unwrap_or(i64::MAX);
        let expired_before = self.chain.now_us().saturating_sub(ttl);
        if let Some(record) = self.inflight.get(storage_key) {
            let found = IdempotencyRecord::decode(&record.value).map_err(StoreError::BadRow)?;
            return Ok(Lookup::judge(
                Some((found, record.created_at_us)),
                request_hash,
                expired_before,
            ));
        }
        self.readers.with(|reader| {
            if let Some(compact) = compact
                && let Some(row) = reader.idempotency(&idempotency::scope(storage_key))?
                && row.created_at_us >= expired_before
            {
                return Ok(if row.request_hash == idempotency::prefix(request_hash) {
                    Lookup::Rebuilt((compact.rebuild)(&reader, &row)?)
                } else {
                    Lookup::Conflict
                });
            }
            let found = match reader.meta_get(namespace::IDEMPOTENCY, storage_key)? {
                None => None,
                Some(entry) => Some((
                    IdempotencyRecord::decode(&entry.value).map_err(StoreError::BadRow)?,
                    entry.created_at_us,
                )),
            };
            Ok(Lookup::judge(found, request_hash, expired_before))
        })
    }

    /// Runs a possibly idempotent mutation: replay, conflict, or perform and
    /// plan the record in the same transaction (compact for appends).
    fn idempotent<T: Signed>(
        &mut self,
        plan: &mut Plan,
        idempotency: Option<IdempotencyRequest<T>>,
        compact: Option<Compact<T>>,
        perform: impl FnOnce(&mut Chain, &mut Plan) -> Result<T, CommandError>,
    ) -> Result<Outcome<T>, CommandError> {
        let Some(request) = idempotency else {
            return perform(&mut self.chain, plan).map(|value| Outcome::Done {
                value,
                response: None,
            });
        };
        let storage_key = request.key.storage_key(&self.chain.config.recorder_id);
        let replay = |response| {
            self.shared
                .metrics
                .replays_total
                .fetch_add(1, Ordering::Relaxed);
            Ok(Outcome::Replayed(response))
        };
        match self.lookup(&storage_key, &request.request_hash, compact.as_ref()) {
            Ok(Lookup::Fresh) => {}
            Ok(Lookup::Stored(response)) => return replay(response),
            Ok(Lookup::Rebuilt(value)) => return replay((request.render)(&value)),
            Ok(Lookup::Conflict) => return Err(CommandError::IdempotencyConflict),
            Err(error) => return Err(CommandError::IdempotencyUnavailable(error.to_string())),
        }
        // The answer held for a retry before this plan is durable carries
        // the signatures, so this command's envelopes are signed here
        // rather than with the rest of the plan.
        let first_op = plan.ops.len();
        let mut value = perform(&mut self.chain, plan)?;
        match crate::signing::sign_ops(&mut plan.ops[first_op..], &self.chain.key) {
            Ok(signatures) => value.attach(&signatures),
            Err(error) => {
                let reason = error.0.clone();
                plan.fail_signing(error);
                return Err(CommandError::SignerUnavailable(reason));
            }
        }
        let response = (request.render)(&value);
        self.plan_record(
            plan,
            storage_key,
            IdempotencyRecord {
                request_hash: request.request_hash,
                response: response.clone(),
            },
            compact.map(|compact| (compact.span)(&value)),
        );
        Ok(Outcome::Done {
            value,
            response: Some(response),
        })
    }

    /// Plans the record of a performed mutation: compact (`span`: the
    /// envelopes an append recorded) or whole; and holds it whole in
    /// memory until the plan is durable, for a retry that comes first.
    fn plan_record(
        &mut self,
        plan: &mut Plan,
        storage_key: String,
        record: IdempotencyRecord,
        span: Option<(u64, u64)>,
    ) {
        let now_us = self.chain.now_us();
        let encoded = record.encode();
        plan.ops.push(match span {
            Some((first_seq, count)) => Op::PutIdempotency(IdempotencyRow {
                scope: idempotency::scope(&storage_key),
                request_hash: idempotency::prefix(&record.request_hash),
                first_seq,
                count,
                labels: idempotency::label_bits(self.chain.config.payloads.committed_labels()),
                created_at_us: now_us,
            }),
            None => Op::MetaPut {
                namespace: namespace::IDEMPOTENCY,
                key: storage_key.clone(),
                value: encoded.clone(),
                created_at_us: now_us,
            },
        });
        self.inflight.insert(
            storage_key,
            InFlight {
                value: encoded,
                created_at_us: now_us,
                epoch: plan.epoch,
            },
        );
    }

    /// Plans a control envelope and the state row it carries.
    fn apply_control(
        &mut self,
        plan: &mut Plan,
        event_type: &'static str,
        payload: CanonicalJson,
        index: ControlIndex,
        idempotency: Option<IdempotencyRequest<Receipt>>,
        answer: Answer<Outcome<Receipt>>,
    ) {
        if let Err(refusal) = self.check_archived(&index) {
            let _ = answer.send(Err(refusal));
            return;
        }
        let idempotent = idempotency.is_some();
        let result = self.idempotent(plan, idempotency, None, |chain, plan| {
            // A revocation of the delegated key in force is signed by the
            // next one: the revoked key never signs its own revocation.
            let revokes_current = event_type == control_types::KEY_REVOKED
                && payload.to_value()["key_id"].as_str() == Some(chain.key.id().as_str());
            if revokes_current && chain.config.delegation.is_some() {
                chain
                    .delegate(plan)
                    .map_err(|error| CommandError::SignerUnavailable(error.0))?;
            }
            let receipt = chain.append_envelope(plan, Draft::control(event_type, payload));
            index.plan(plan, receipt.seq, chain.now_us());
            if let Some(reason) = chain.auto_seal_due() {
                chain.seal_segment(plan, reason);
            }
            Ok(receipt)
        });
        plan.replies.push(reply(answer, result, idempotent));
    }

    /// Plans one command.
    fn apply(&mut self, plan: &mut Plan, command: Command) {
        if let Err(clock) = self.chain.tick_clock() {
            command.refuse(&CommandError::ClockOutOfRange {
                micros: clock.micros,
            });
            return;
        }
        match command {
            Command::Append {
                append,
                idempotency,
                answer,
                ..
            } => self.answer_compact(
                plan,
                idempotency,
                Compact::RECEIPT,
                answer,
                |chain, plan| Ok(chain.append_data(plan, append)),
            ),
            Command::AppendBatch {
                appends,
                idempotency,
                answer,
                ..
            } => self.answer_compact(
                plan,
                idempotency,
                Compact::RECEIPTS,
                answer,
                |chain, plan| Ok(chain.append_batch(plan, appends)),
            ),
            Command::Control {
                event_type,
                payload,
                index,
                idempotency,
                answer,
            } => self.apply_control(plan, event_type, payload, index, idempotency, answer),
            Command::OpenSegment {
                idempotency,
                answer,
            } => self.answer(plan, idempotency, answer, |chain, plan| {
                if let Some(open) = &chain.state.open {
                    return Err(CommandError::SegmentAlreadyOpen {
                        segment_id: open.segment_id,
                    });
                }
                Ok(chain.open_segment(plan, Reason::Api))
            }),
            Command::Seal {
                idempotency,
                answer,
            } => self.answer(plan, idempotency, answer, |chain, plan| {
                if chain.state.open.is_none() {
                    return Err(CommandError::NoOpenSegment);
                }
                Ok(chain.seal_segment(plan, Reason::Api))
            }),
            Command::Erase { request, answer } => self.erase(plan, request, answer),
            command => self.apply_without_evidence_answer(plan, command),
        }
    }

    /// The commands that answer no receipt: checkpoints, cosignatures,
    /// timestamp tokens, the write probe and shutdown.
    fn apply_without_evidence_answer(&mut self, plan: &mut Plan, command: Command) {
        match command {
            Command::Checkpoint { keep_from, answer } => {
                let checkpoint = self.chain.checkpoint(plan, keep_from);
                plan.replies.push(reply(answer, Ok(checkpoint), false));
            }
            Command::Cosignatures {
                cosignatures,
                answer,
            } => {
                let now = self.chain.now_us();
                let rows = cosignatures.into_iter().map(|c| c.row(now)).collect();
                plan.ops.push(Op::InsertCosignatures(rows));
                plan.replies.push(reply(answer, Ok(()), false));
            }
            Command::Timestamps { mut tokens, answer } => {
                let now = self.chain.now_us();
                for token in &mut tokens {
                    token.received_at_us = now;
                }
                plan.ops.push(Op::InsertTimestamps(tokens));
                plan.replies.push(reply(answer, Ok(()), false));
            }
            Command::Probe { answer } => {
                plan.ops.push(Op::MetaPut {
                    namespace: namespace::HEALTH,
                    key: "write_probe".into(),
                    value: self.chain.now_us().to_be_bytes().to_vec(),
                    created_at_us: self.chain.now_us(),
                });
                plan.replies.push(reply(answer, Ok(()), false));
            }
            Command::Shutdown { answer } => {
                self.chain.append_envelope(
                    plan,
                    Draft::control(
                        control_types::RECORDER_STOPPED,
                        control::canonical(&serde_json::json!({"reason": "shutdown"})),
                    ),
                );
                plan.replies.push(reply(answer, Ok(()), false));
            }
            Command::Append { .. }
            | Command::AppendBatch { .. }
            | Command::Control { .. }
            | Command::OpenSegment { .. }
            | Command::Seal { .. }
            | Command::Erase { .. } => unreachable!("handled by apply"),
        }
    }

    /// Plans an erasure (`erasure.rs`): selects from the durable rows,
    /// once every plan sent is durable, and from the plan being built.
    fn erase(
        &mut self,
        plan: &mut Plan,
        request: crate::ErasureRequest,
        answer: Answer<Outcome<crate::ErasureReceipt>>,
    ) {
        self.wait_processed();
        let selected = self
            .readers
            .with(|reader| crate::erasure::select(&reader, plan, &request.selector));
        let selection = match selected {
            Ok(selection) => selection,
            Err(error) => {
                let _ = answer.send(Err(CommandError::Storage(error)));
                return;
            }
        };
        let by = crate::erasure::erased_by(&request.selector);
        // The subject's key goes with the last of its payloads.
        let destroy_key_of = match &request.selector {
            crate::ErasureSelector::Subject(subject) if !selection.more => Some(subject.clone()),
            _ => None,
        };
        let reason = request.reason;
        self.answer(plan, request.idempotency, answer, move |chain, plan| {
            if selection.seqs.is_empty() {
                return Err(CommandError::NothingToErase {
                    skipped: selection.skipped,
                });
            }
            let record = arxi_format::payload::ErasureRecord {
                by,
                reason,
                seqs: selection.seqs,
            };
            let receipt = chain.append_envelope(
                plan,
                Draft::control(control_types::PAYLOAD_ERASED, record.to_canonical()),
            );
            plan.ops.push(Op::ErasePayloads {
                seqs: record.seqs.clone(),
                erased_by: receipt.seq,
                destroy_key_of,
            });
            plan.truncate_wal = true;
            if let Some(reason) = chain.auto_seal_due() {
                chain.seal_segment(plan, reason);
            }
            Ok(crate::ErasureReceipt {
                receipt,
                erased: record.seqs,
                skipped: selection.skipped,
                more: selection.more,
            })
        });
    }

    /// Runs `work` under its idempotency record (if any) and queues the
    /// answer until the plan commits.
    fn answer<T: Send + Clone + Signed + 'static>(
        &mut self,
        plan: &mut Plan,
        idempotency: Option<IdempotencyRequest<T>>,
        answer: Answer<Outcome<T>>,
        work: impl FnOnce(&mut Chain, &mut Plan) -> Result<T, CommandError>,
    ) {
        let idempotent = idempotency.is_some();
        let result = self.idempotent(plan, idempotency, None, work);
        plan.replies.push(reply(answer, result, idempotent));
    }

    /// [`Self::answer`] for appends: the record is compact.
    fn answer_compact<T: Send + Clone + Signed + 'static>(
        &mut self,
        plan: &mut Plan,
        idempotency: Option<IdempotencyRequest<T>>,
        compact: Compact<T>,
        answer: Answer<Outcome<T>>,
        work: impl FnOnce(&mut Chain, &mut Plan) -> Result<T, CommandError>,
    ) {
        let idempotent = idempotency.is_some();
        let result = self.idempotent(plan, idempotency, Some(compact), work);
        plan.replies.push(reply(answer, result, idempotent));
    }
}
