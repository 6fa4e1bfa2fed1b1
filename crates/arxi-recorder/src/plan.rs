//! A write plan: everything one transaction will write, built by the
//! sequencer (which numbers, chains and signs) and applied by the committer
//! (which owns the write connection), together with the replies to send once
//! it is durable.
//!
//! Separating "decide what to write" from "write it" lets the sequencer sign
//! batch N+1 while the committer inserts and fsyncs batch N. Plans are
//! applied strictly in the order they were built; a plan is built on top of
//! every earlier one, so when one fails every later plan of the same
//! generation fails with it (see `committer.rs`).

use std::sync::{Arc, Condvar, Mutex};

use arxi_format::envelope::{EnvelopeBody, Kind};
use arxi_format::{Hash32, Signature, SignerError};
use arxi_store::{
    ArchivedRow, CosignatureRow, EnvelopeRow, IdempotencyRow, KeyRow, LogCheckpointRow, LogNodeRow,
    PrunedRow, SealRow, SegmentRow, StoreError, WriteTxn,
};

use crate::log_tree::LogCheckpoint;
use crate::status::{EngineStatus, SegmentInfo};
use crate::{CommandError, Outcome, Receipt, SealReceipt};

/// One write.
#[derive(Debug)]
pub(crate) enum Op {
    InsertSegment(SegmentRow),
    /// An envelope row; its signed bytes (`row.body`) are made from
    /// `unsigned` by the signing stage before the plan is sent
    /// (`signing.rs`), so the committer only ever sees `unsigned: None`.
    InsertEnvelope {
        row: EnvelopeRow,
        unsigned: Option<Box<Unsigned>>,
    },
    PutAttachment {
        sha256: [u8; 32],
        data: Arc<[u8]>,
        /// The envelope referencing it.
        seq: u64,
    },
    Progress {
        segment_id: u64,
        last_seq: u64,
        envelope_count: u64,
        bytes: u64,
    },
    Seal {
        sealed_at_us: i64,
        row: SealRow,
    },
    InsertKey(KeyRow),
    /// The committed content of version 2 envelope `seq` (after its
    /// envelope, which it references).
    InsertPayload {
        seq: u64,
        commitment: crate::commitment::Commitment,
    },
    /// The payload row of version 2 envelope `seq`, erased by envelope
    /// `erased_by` before it was archived (a restore, `restore.rs`).
    InsertErasedPayload {
        seq: u64,
        erased_by: u64,
    },
    /// The payload row of version 2 envelope `seq`, withheld by the
    /// archived bundle it is restored from (`restore.rs`).
    InsertWithheldPayload {
        seq: u64,
    },
    /// Erases the committed content of `seqs`, as recorded by the
    /// `arxi.payload.erased` envelope `erased_by` of the same plan, and
    /// marks the key of subject `destroy_key_of` (the last of whose
    /// payloads this erases) for destruction once the plan commits.
    ErasePayloads {
        seqs: Vec<u64>,
        erased_by: u64,
        destroy_key_of: Option<String>,
    },
    /// Log tree nodes the plan's envelopes completed.
    InsertLogNodes(Vec<LogNodeRow>),
    InsertLogCheckpoint(LogCheckpointRow),
    /// Checkpoints smaller than `below` (and their cosignatures) go.
    PruneLogCheckpoints {
        below: u64,
    },
    InsertCosignatures(Vec<CosignatureRow>),
    InsertTimestamps(Vec<arxi_store::TimestampRow>),
    /// Envelope `seq` (an `arxi.bundle.built`) names `bundle_id`.
    IndexBundle {
        seq: u64,
        bundle_id: String,
    },
    /// A run of segments archived (with its `arxi.segment.archived`).
    RecordArchived(ArchivedRow),
    /// Segments pruned (with its `arxi.segment.pruned`).
    RecordPruned(PrunedRow),
    /// One bounded batch of a pruning's row deletions.
    DeletePruned {
        through_seq: u64,
        rows_max: u64,
    },
    /// Gives free pages back to the file system.
    Vacuum {
        pages_max: u64,
    },
    MetaPut {
        namespace: &'static str,
        key: String,
        value: Vec<u8>,
        created_at_us: i64,
    },
    MetaEvict {
        namespace: &'static str,
        created_before_us: i64,
        entries_max: u64,
        delete_max: u64,
    },
    /// A compact idempotency record (an append's).
    PutIdempotency(IdempotencyRow),
    /// Expired compact idempotency records go (bounded).
    EvictIdempotency {
        created_before_us: i64,
        entries_max: u64,
        delete_max: u64,
    },
}

/// An envelope numbered, chained and hashed, waiting for its signature.
#[derive(Debug)]
pub(crate) struct Unsigned {
    /// The signed part.
    pub(crate) body: EnvelopeBody,
    /// SHA-256 of `body`'s canonical bytes.
    pub(crate) hash: Hash32,
    /// The length of `body`'s canonical bytes, which the signed bytes
    /// exceed by exactly [`crate::signing::AUTH_MEMBERS_BYTES`].
    pub(crate) unsigned_length: u64,
}

impl Op {
    /// An envelope waiting for its signature, with the row it will be
    /// written as; `hash` and `unsigned_length` are of `body`'s canonical
    /// bytes.
    pub(crate) fn unsigned_envelope(
        body: EnvelopeBody,
        hash: Hash32,
        unsigned_length: u64,
    ) -> Self {
        Self::InsertEnvelope {
            row: EnvelopeRow {
                seq: body.seq,
                segment_id: body.segment_id,
                received_at_us: body.received_at.unix_micros(),
                kind: u8::from(body.kind == Kind::Control),
                event_type: body.event_type.clone(),
                actor: body.actor.clone(),
                hash: hash.0,
                body: Vec::new(),
            },
            unsigned: Some(Box::new(Unsigned {
                body,
                hash,
                unsigned_length,
            })),
        }
    }
}

/// The signatures a signing pass made, by sequence number (for receipts).
#[derive(Debug, Default)]
pub(crate) struct Signatures(pub(crate) Vec<(u64, Signature)>);

impl Signatures {
    /// The signature of envelope `seq`, if this pass made it.
    pub(crate) fn get(&self, seq: u64) -> Option<Signature> {
        self.0
            .binary_search_by_key(&seq, |(s, _)| *s)
            .ok()
            .map(|index| self.0[index].1)
    }
}

/// A reply held until its plan commits.
pub(crate) trait Deliver: Send {
    /// Sends the result, or the failure if the plan did not commit.
    fn deliver(self: Box<Self>, failure: Option<&Failure>);

    /// Fills in the signatures of the envelopes the result names, once the
    /// plan is signed.
    fn attach(&mut self, signatures: &Signatures);
}

/// A result that names envelopes whose signatures it carries.
pub(crate) trait Signed {
    /// Fills in the signatures `signatures` holds for it.
    fn attach(&mut self, _signatures: &Signatures) {}
}

impl Signed for Receipt {
    fn attach(&mut self, signatures: &Signatures) {
        if self.signature.is_none() {
            self.signature = signatures.get(self.seq);
        }
    }
}

impl Signed for Vec<Receipt> {
    fn attach(&mut self, signatures: &Signatures) {
        for receipt in self {
            receipt.attach(signatures);
        }
    }
}

impl<T: Signed> Signed for Outcome<T> {
    fn attach(&mut self, signatures: &Signatures) {
        if let Outcome::Done { value, .. } = self {
            value.attach(signatures);
        }
    }
}

impl Signed for () {}
impl Signed for SegmentInfo {}
impl Signed for SealReceipt {}
impl Signed for Option<LogCheckpoint> {}

/// Why a plan did not commit.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The store failed on this plan.
    Storage(StoreError),
    /// An earlier plan failed and this one was built on top of it, or the
    /// committer cannot write.
    Unavailable(String),
    /// The signing key made no signature for this plan (a key in a token
    /// refused or is gone); nothing of it was written.
    Signer(String),
}

pub(crate) struct Reply<T> {
    pub(crate) sender: oneshot::Sender<Result<T, CommandError>>,
    pub(crate) result: Result<T, CommandError>,
    /// Storage failures of idempotent commands are reported as the
    /// idempotency store being unavailable (fail closed).
    pub(crate) idempotent: bool,
}

impl<T: Send + Signed> Deliver for Reply<T> {
    fn attach(&mut self, signatures: &Signatures) {
        if let Ok(value) = &mut self.result {
            value.attach(signatures);
        }
    }

    fn deliver(self: Box<Self>, failure: Option<&Failure>) {
        let result = match failure {
            None => self.result,
            Some(Failure::Storage(error)) if self.idempotent => {
                Err(CommandError::IdempotencyUnavailable(error.to_string()))
            }
            Some(Failure::Storage(error)) => Err(CommandError::Storage(error.clone())),
            Some(Failure::Unavailable(reason)) => Err(CommandError::Unavailable(reason.clone())),
            Some(Failure::Signer(reason)) => Err(CommandError::SignerUnavailable(reason.clone())),
        };
        // A caller that stopped waiting is not an error.
        let _ = self.sender.send(result);
    }
}

/// Counts for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PlanStats {
    pub(crate) commands: usize,
    pub(crate) envelopes: u64,
    pub(crate) seals: u64,
}

/// One transaction's writes and replies.
pub(crate) struct Plan {
    /// Plans of one generation build on each other; a failure ends the
    /// generation.
    pub(crate) generation: u64,
    /// Position in the sequence of plans.
    pub(crate) epoch: u64,
    pub(crate) ops: Vec<Op>,
    pub(crate) replies: Vec<Box<dyn Deliver>>,
    /// The engine state once this plan is durable.
    pub(crate) status: EngineStatus,
    pub(crate) stats: PlanStats,
    /// The last plan: the committer truncates the WAL and stops after it.
    pub(crate) shutdown: bool,
    /// The committer truncates the WAL right after this plan commits, so
    /// what it erased is gone from the WAL file too (before its callers
    /// are answered).
    pub(crate) truncate_wal: bool,
    /// A signature of this plan could not be made: the plan is not
    /// written, its callers get the error, and the sequencer reloads its
    /// state (as after a failed write).
    pub(crate) signer_failure: Option<SignerError>,
    /// Keys the chain signed with earlier in this plan and gave up in it
    /// (a delegated key replaced mid-plan): its envelopes are signed by
    /// the key each names.
    pub(crate) retired: Vec<arxi_format::Signer>,
}

impl Plan {
    pub(crate) fn new(generation: u64, epoch: u64, status: EngineStatus) -> Self {
        Self {
            generation,
            epoch,
            ops: Vec::new(),
            replies: Vec::new(),
            status,
            stats: PlanStats::default(),
            shutdown: false,
            truncate_wal: false,
            signer_failure: None,
            retired: Vec::new(),
        }
    }

    /// Keeps a key the chain gave up during this plan, for the envelopes
    /// it signed before.
    pub(crate) fn retire(&mut self, key: arxi_format::Signer) {
        self.retired.push(key);
    }

    /// Records that a signature of this plan could not be made (the first
    /// reason is kept).
    pub(crate) fn fail_signing(&mut self, error: SignerError) {
        self.signer_failure.get_or_insert(error);
    }

    /// True when there is nothing to write and nobody to answer.
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.replies.is_empty() && !self.shutdown
    }

    /// Performs every write, in order, inside `txn`.
    pub(crate) fn apply(&self, txn: &WriteTxn<'_>) -> Result<(), StoreError> {
        apply_ops(&self.ops, txn)
    }

    /// Answers every reply (`None`: the plan is durable).
    pub(crate) fn deliver(self, failure: Option<&Failure>) {
        for reply in self.replies {
            reply.deliver(failure);
        }
    }
}

/// Performs `ops`, in order, inside `txn` (a plan's, or a restore's).
pub(crate) fn apply_ops(ops: &[Op], txn: &WriteTxn<'_>) -> Result<(), StoreError> {
    let mut rows = txn.rows();
    for op in ops {
        match op {
            Op::InsertSegment(row) => txn.insert_segment(row)?,
            Op::InsertEnvelope { row, unsigned } => {
                assert!(
                    unsigned.is_none(),
                    "plans are signed before they are sent to the committer"
                );
                rows.insert_envelope(row)?;
            }
            Op::PutAttachment { sha256, data, seq } => {
                txn.put_attachment(sha256, data, *seq)?;
            }
            Op::RecordArchived(_)
            | Op::RecordPruned(_)
            | Op::DeletePruned { .. }
            | Op::Vacuum { .. } => apply_retention(txn, op)?,
            Op::Progress {
                segment_id,
                last_seq,
                envelope_count,
                bytes,
            } => {
                txn.update_segment_progress(*segment_id, *last_seq, *envelope_count, *bytes)?;
            }
            Op::Seal { sealed_at_us, row } => txn.seal_segment(*sealed_at_us, row)?,
            Op::InsertPayload { seq, commitment } => rows.insert_payload(
                *seq,
                commitment.subject.as_deref(),
                &commitment.salt.0,
                &commitment.content,
            )?,
            Op::ErasePayloads {
                seqs,
                erased_by,
                destroy_key_of,
            } => {
                txn.erase_payloads(seqs, *erased_by)?;
                if let Some(subject) = destroy_key_of {
                    txn.mark_subject_key_destroyed(subject)?;
                }
            }
            Op::InsertErasedPayload { seq, erased_by } => {
                txn.insert_erased_payload(*seq, *erased_by)?;
            }
            Op::InsertWithheldPayload { seq } => txn.insert_withheld_payload(*seq)?,
            Op::InsertKey(row) => txn.insert_key(row)?,
            Op::InsertLogNodes(rows) => txn.insert_log_nodes(rows)?,
            Op::InsertLogCheckpoint(row) => txn.insert_log_checkpoint(row)?,
            Op::PruneLogCheckpoints { below } => {
                txn.prune_log_checkpoints(*below)?;
            }
            Op::InsertCosignatures(rows) => {
                for row in rows {
                    txn.insert_cosignature(row)?;
                }
            }
            Op::InsertTimestamps(rows) => txn.insert_timestamps(rows)?,
            Op::IndexBundle { seq, bundle_id } => txn.index_bundle(*seq, bundle_id)?,
            Op::MetaPut { .. }
            | Op::MetaEvict { .. }
            | Op::PutIdempotency(_)
            | Op::EvictIdempotency { .. } => apply_meta(txn, op)?,
        }
    }
    Ok(())
}

/// How far the committer has got, as the sequencer sees it: the one
/// back-channel between the two threads.
#[derive(Debug, Default)]
pub(crate) struct CommitProgress {
    /// Set by the committer when a plan fails; cleared by the sequencer once
    /// it has reloaded its state.
    pub(crate) failed: std::sync::atomic::AtomicBool,
    /// The last epoch the committer finished (committed or failed).
    pub(crate) processed: Mutex<u64>,
    pub(crate) processed_changed: Condvar,
    /// The last epoch durably committed.
    pub(crate) committed: std::sync::atomic::AtomicU64,
}

/// The `store_meta` and idempotency operations of [`apply_ops`].
fn apply_meta(txn: &WriteTxn<'_>, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::MetaPut {
            namespace,
            key,
            value,
            created_at_us,
        } => txn.meta_put(namespace, key, value, *created_at_us)?,
        Op::MetaEvict {
            namespace,
            created_before_us,
            entries_max,
            delete_max,
        } => {
            txn.meta_evict(namespace, *created_before_us, *entries_max, *delete_max)?;
        }
        Op::PutIdempotency(row) => txn.insert_idempotency(row)?,
        Op::EvictIdempotency {
            created_before_us,
            entries_max,
            delete_max,
        } => {
            txn.evict_idempotency(*created_before_us, *entries_max, *delete_max)?;
        }
        _ => unreachable!("only store_meta and idempotency operations come here"),
    }
    Ok(())
}

/// The archive and retention operations of [`apply_ops`].
fn apply_retention(txn: &WriteTxn<'_>, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::RecordArchived(row) => txn.record_archived(row),
        Op::RecordPruned(row) => txn.record_pruned(row),
        Op::DeletePruned {
            through_seq,
            rows_max,
        } => txn.delete_pruned_rows(*through_seq, *rows_max).map(drop),
        Op::Vacuum { pages_max } => txn.incremental_vacuum(*pages_max),
        _ => unreachable!("only archive and retention operations come here"),
    }
}
