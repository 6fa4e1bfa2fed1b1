//! The chain as a state machine: numbering, linking, signing and sealing,
//! with no threads and no IO. [`Chain`] turns drafts into envelopes and
//! seals written into a [`Plan`]; the sequencer thread (`sequencer.rs`)
//! feeds it commands and hands the plans on. Everything that decides what
//! evidence says is here.

use std::sync::Arc;

use arxi_format::envelope::{AttachmentRef, EnvelopeBody, Kind, Payload};
use arxi_format::log_tree::Frontier;
use arxi_format::merkle::RootBuilder;
use arxi_format::note::NoteSigner;
use arxi_format::seal::{Seal, SealBody, envelope_leaf};
use arxi_format::{
    CanonicalJson, ChainHead, Domain, Hash32, Sign as _, Signature, Signer, Timestamp,
};
use arxi_store::{SealRow, SegmentRow};

use crate::commitment::Commitment;
use crate::control::{self, Reason};
use crate::control_types;
use crate::delegation::Delegator;
use crate::log_tree::{self, LogCheckpoint};
use crate::plan::{Op, Plan};
use crate::signing;
use crate::status::{EngineStatus, SegmentInfo};
use crate::{Clock, Receipt, RecorderConfig, SealReceipt};

/// The open segment, as the sequencer tracks it.
#[derive(Debug, Clone)]
pub(crate) struct OpenSegment {
    pub(crate) segment_id: u64,
    pub(crate) first_seq: u64,
    pub(crate) envelope_count: u64,
    pub(crate) bytes: u64,
    pub(crate) opened_at: Timestamp,
    /// Merkle state over the segment's envelope hashes so far.
    pub(crate) root: RootBuilder,
}

/// Everything the sequencer knows about the chain; re-read from the
/// database after any failed plan.
#[derive(Debug, Clone)]
pub(crate) struct ChainState {
    pub(crate) head: ChainHead,
    pub(crate) last_received_at: Timestamp,
    pub(crate) open: Option<OpenSegment>,
    pub(crate) last_seal_hash: Hash32,
    pub(crate) last_segment_id: u64,
    /// The log tree over every envelope (its size is `head.seq`).
    pub(crate) tree: Frontier,
    /// The newest checkpoint signed.
    pub(crate) last_checkpoint: Option<LogCheckpoint>,
}

/// The attachments of a draft: each reference with its bytes.
type Attachments<'a> = &'a [(AttachmentRef, Arc<[u8]>)];

/// An envelope's payload before it is placed: carried (version 1) or
/// committed to (version 2, the commitment made when it was prepared).
#[derive(Debug)]
pub(crate) enum DraftPayload {
    Inline(CanonicalJson),
    Committed(Commitment),
}

/// A data envelope ready for the sequencer (validated, attachments hashed,
/// a version 2 commitment made; `actor` and `subject` are the labels left
/// in clear).
#[derive(Debug)]
pub(crate) struct PreparedAppend {
    pub(crate) event_type: String,
    pub(crate) actor: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) payload: DraftPayload,
    pub(crate) attachments: Vec<(AttachmentRef, Arc<[u8]>)>,
}

/// One envelope to append, before it is numbered, chained and signed.
pub(crate) struct Draft<'a> {
    pub(crate) kind: Kind,
    pub(crate) event_type: &'a str,
    pub(crate) actor: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) payload: DraftPayload,
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
            payload: DraftPayload::Inline(payload),
            attachments: &[],
        }
    }
}

/// The evidence-making state: chain, key, clock, config.
pub(crate) struct Chain {
    pub(crate) state: ChainState,
    /// Signs envelopes and seals: the configured key, or with delegation
    /// the delegated key in force (`delegation.rs`).
    pub(crate) key: Signer,
    /// The configured key: signs checkpoints and, with delegation, the
    /// delegations.
    pub(crate) root: Signer,
    /// Makes and tracks the delegated keys (`delegation.rs`).
    delegator: Delegator,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<RecorderConfig>,
    /// Signs checkpoints: the root under the log origin's name.
    note_signer: NoteSigner,
    /// The time used for the command being applied: a valid timestamp,
    /// never behind the last recorded receive time.
    now: Timestamp,
}

/// The clock read a time no evidence can carry (outside 1970..=9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClockOutOfRange {
    /// What the clock said, in microseconds since the Unix epoch.
    pub(crate) micros: i64,
}

impl From<ClockOutOfRange> for crate::OpenError {
    fn from(clock: ClockOutOfRange) -> Self {
        Self::ClockOutOfRange {
            micros: clock.micros,
        }
    }
}

impl Chain {
    /// A chain signing with `key` (the root, with delegation: the first
    /// delegation replaces it before anything is signed).
    pub(crate) fn new(
        state: ChainState,
        key: Signer,
        clock: Arc<dyn Clock>,
        config: Arc<RecorderConfig>,
    ) -> Self {
        let state_time = state.last_received_at;
        let note_signer = log_tree::note_signer(&config.log_origin, &key)
            .unwrap_or_else(|error| unreachable!("origin checked by validate_config: {error}"));
        Self {
            state,
            root: key.clone(),
            key,
            delegator: Delegator::new(&config),
            clock,
            config,
            note_signer,
            now: state_time,
        }
    }

    /// Whether a new delegated key is due before the next envelope
    /// (`delegation.rs`).
    pub(crate) fn delegation_due(&self) -> bool {
        self.delegator
            .due(self.key.id(), self.state.head.seq, self.now_us())
    }

    /// Whether the delegated key in force may still sign one more plan.
    pub(crate) fn delegated_key_lasts(&self) -> bool {
        self.delegator
            .lasts(self.key.id(), self.state.head.seq, self.now_us())
    }

    /// Makes a new delegated key, has the root sign its delegation, and
    /// plans its key row, stored delegation and key event (signed by the
    /// new key, which signs from here on; the key it replaces still signs
    /// what this plan appended before). When the root refuses, nothing
    /// changes.
    pub(crate) fn delegate(&mut self, plan: &mut Plan) -> Result<(), arxi_format::SignerError> {
        let made = self
            .delegator
            .delegate(&self.root, self.state.head.seq + 1, self.now())?;
        let retired = std::mem::replace(&mut self.key, Signer::from(made.key));
        plan.retire(retired);
        plan.ops.extend(made.ops);
        self.append_envelope(
            plan,
            Draft::control(control_types::KEY_DELEGATED, made.event),
        );
        Ok(())
    }

    /// The key the last key event durably recorded names (at open, and
    /// after the state was reloaded: a refused plan may have delegated to
    /// a key the database never heard of, and the next plan delegates
    /// again).
    pub(crate) fn reloaded(&mut self, recorded: Option<arxi_format::KeyId>) {
        self.delegator.reloaded(recorded);
    }

    /// Reads the clock, never going back behind the last recorded time. A
    /// reading outside what a timestamp can say is refused and the time
    /// stays where it was: evidence is never stamped with a made-up time.
    pub(crate) fn tick_clock(&mut self) -> Result<(), ClockOutOfRange> {
        let micros = self.clock.now_micros();
        let read = Timestamp::from_unix_micros(micros).ok_or(ClockOutOfRange { micros })?;
        self.now = read.max(self.state.last_received_at);
        Ok(())
    }

    /// The time of the command being applied.
    pub(crate) fn now(&self) -> Timestamp {
        self.now
    }

    /// [`Self::now`] in microseconds.
    pub(crate) fn now_us(&self) -> i64 {
        self.now.unix_micros()
    }

    /// Appends one envelope to the open segment (opening one if needed).
    pub(crate) fn append_envelope(&mut self, plan: &mut Plan, draft: Draft<'_>) -> Receipt {
        if self.state.open.is_none() {
            self.open_segment(plan, Reason::Append);
        }
        self.append_to_open_segment(plan, draft)
    }

    /// The next envelope's signed body in open segment `segment_id`, the
    /// commitment to store beside it (version 2) and its attachments.
    fn next_body<'a>(
        &self,
        segment_id: u64,
        draft: Draft<'a>,
    ) -> (EnvelopeBody, Option<Commitment>, Attachments<'a>) {
        let head = self.state.head;
        let (payload, commitment) = match draft.payload {
            DraftPayload::Inline(payload) => (Payload::Inline(payload), None),
            DraftPayload::Committed(commitment) => {
                (Payload::Committed(commitment.commitment), Some(commitment))
            }
        };
        let body = EnvelopeBody {
            recorder_id: self.config.recorder_id.clone(),
            segment_id,
            seq: head.seq + 1,
            // `now` is never behind the last receive time (`tick_clock`).
            received_at: self.now,
            kind: draft.kind,
            event_type: draft.event_type.to_owned(),
            actor: draft.actor,
            subject: draft.subject,
            payload,
            attachments: draft
                .attachments
                .iter()
                .map(|(reference, _)| reference.clone())
                .collect(),
            prev_hash: head.hash,
            key_id: self.key.id().clone(),
        };
        (body, commitment, draft.attachments)
    }

    fn append_to_open_segment(&mut self, plan: &mut Plan, draft: Draft<'_>) -> Receipt {
        let head = self.state.head;
        let Some(segment_id) = self.state.open.as_ref().map(|open| open.segment_id) else {
            unreachable!("append_to_open_segment needs an open segment");
        };
        let (body, commitment, attachments) = self.next_body(segment_id, draft);
        let received_at = body.received_at;
        // The link is checked before the row is written and again when read back.
        assert_eq!(
            head.check_next(&body),
            Ok(()),
            "sequencer built a broken link"
        );
        // The hash (what the chain links and the tree commits to) is made
        // here, in order; the signature over it is made later, possibly on
        // another thread, before the plan is sent (`signing.rs`).
        let unsigned = body.canonical_bytes();
        let (hash, length) = (Hash32::of(&unsigned), unsigned.len() as u64);
        let mut attachment_bytes = 0_u64;
        for (reference, data) in attachments {
            plan.ops.push(Op::PutAttachment {
                sha256: reference.sha256.0,
                data: Arc::clone(data),
                seq: head.seq + 1,
            });
            attachment_bytes += reference.size;
        }
        let Some(open) = self.state.open.as_mut() else {
            unreachable!("checked above");
        };
        // A bundle carries a version 2 envelope's committed content beside
        // it, so the content counts toward the segment's bytes.
        let content_bytes = commitment
            .as_ref()
            .map_or(0, |commitment| commitment.content.len() as u64);
        open.envelope_count += 1;
        open.bytes += length + signing::AUTH_MEMBERS_BYTES + attachment_bytes + content_bytes;
        open.root.push(envelope_leaf(&hash));
        self.grow_tree(plan, &hash);
        let receipt = Receipt {
            seq: body.seq,
            segment_id: body.segment_id,
            hash,
            prev_hash: body.prev_hash,
            received_at,
            key_id: body.key_id.clone(),
            payload_commitment: body.payload.commitment().copied(),
            payload_opening: commitment.as_ref().map(|commitment| crate::PayloadOpening {
                salt: commitment.salt,
                committed_labels: commitment.committed_labels,
            }),
            signature: None,
        };
        plan.ops.push(Op::unsigned_envelope(body, hash, length));
        if let Some(commitment) = commitment {
            // After its envelope row, which it references.
            plan.ops.push(Op::InsertPayload {
                seq: receipt.seq,
                commitment,
            });
        }
        plan.stats.envelopes += 1;
        self.state.head = ChainHead {
            seq: receipt.seq,
            hash,
        };
        self.state.last_received_at = received_at;
        receipt
    }

    /// Adds an envelope's leaf to the log tree; the nodes it completes are
    /// stored with it.
    fn grow_tree(&mut self, plan: &mut Plan, hash: &Hash32) {
        let nodes = self.state.tree.push(envelope_leaf(hash));
        if !nodes.is_empty() {
            plan.ops
                .push(Op::InsertLogNodes(log_tree::node_rows(nodes).collect()));
        }
    }

    /// Appends one data envelope, sealing after it when a limit is reached.
    pub(crate) fn append_data(&mut self, plan: &mut Plan, append: PreparedAppend) -> Receipt {
        let receipt = self.append_envelope(
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
        if let Some(reason) = self.auto_seal_due() {
            self.seal_segment(plan, reason);
        }
        receipt
    }

    /// Appends data envelopes with consecutive sequence numbers: the open
    /// segment is sealed first when they would not fit in it (so no
    /// segment control envelope falls between them), and after them when a
    /// limit is reached.
    pub(crate) fn append_batch(
        &mut self,
        plan: &mut Plan,
        appends: Vec<PreparedAppend>,
    ) -> Vec<Receipt> {
        let count = appends.len() as u64;
        let fits = self.state.open.as_ref().is_none_or(|open| {
            // The sealed envelope itself takes one place.
            open.envelope_count + count < self.config.auto_seal.envelopes_max
        });
        if !fits {
            self.seal_segment(plan, Reason::Count);
        }
        let receipts = appends
            .into_iter()
            .map(|append| {
                self.append_envelope(
                    plan,
                    Draft {
                        kind: Kind::Data,
                        event_type: &append.event_type,
                        actor: append.actor,
                        subject: append.subject,
                        payload: append.payload,
                        attachments: &append.attachments,
                    },
                )
            })
            .collect();
        if let Some(reason) = self.auto_seal_due() {
            self.seal_segment(plan, reason);
        }
        receipts
    }

    /// Opens the next segment and records `arxi.segment.opened` as its first
    /// envelope.
    pub(crate) fn open_segment(&mut self, plan: &mut Plan, reason: Reason) -> SegmentInfo {
        assert!(self.state.open.is_none(), "a segment is already open");
        let segment_id = self.state.last_segment_id + 1;
        let first_seq = self.state.head.seq + 1;
        let opened_at = self.now;
        plan.ops.push(Op::InsertSegment(SegmentRow {
            segment_id,
            first_seq,
            last_seq: first_seq,
            envelope_count: 0,
            bytes: 0,
            opened_at_us: opened_at.unix_micros(),
            sealed_at_us: None,
        }));
        self.state.open = Some(OpenSegment {
            segment_id,
            first_seq,
            envelope_count: 0,
            bytes: 0,
            opened_at,
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
        let hash = seal.compute_hash();
        // A signer that refuses fails the whole plan (it is never written:
        // `Plan::fail_signing`), so the seal is carried on unsigned.
        let signature = self
            .key
            .sign_hash(Domain::Seal, &hash)
            .unwrap_or_else(|error| {
                plan.fail_signing(error);
                Signature([0; 64])
            });
        let seal = Seal {
            body: seal,
            hash,
            signature,
        };
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
        // Every seal is followed by a checkpoint of the log tree through it.
        self.checkpoint(plan, 0);
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
            .is_some_and(|deadline| self.now_us() >= deadline)
        {
            Some(Reason::Age)
        } else {
            None
        }
    }

    pub(crate) fn age_deadline_us(&self) -> Option<i64> {
        let open = self.state.open.as_ref()?;
        let age = i64::try_from(self.config.auto_seal.age_max.as_micros()).unwrap_or(i64::MAX);
        Some(open.opened_at.unix_micros().saturating_add(age))
    }

    pub(crate) fn open_info(&self) -> Option<SegmentInfo> {
        let open = self.state.open.as_ref()?;
        Some(SegmentInfo {
            segment_id: open.segment_id,
            first_seq: open.first_seq,
            last_seq: self.state.head.seq,
            envelope_count: open.envelope_count,
            bytes: open.bytes,
            opened_at: open.opened_at,
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
            tree_root: self.state.tree.root(),
            failure,
        }
    }

    /// Signs a checkpoint of the tree as planned so far, when it grew since
    /// the last one; answers the newest checkpoint either way. Checkpoints
    /// smaller than `keep_from` are deleted (the caller keeps those its
    /// witnesses still build on).
    pub(crate) fn checkpoint(&mut self, plan: &mut Plan, keep_from: u64) -> Option<LogCheckpoint> {
        let size = self.state.tree.size();
        let grew = self
            .state
            .last_checkpoint
            .as_ref()
            .is_none_or(|last| last.size < size);
        if size > 0 && grew {
            let root = self
                .state
                .tree
                .root()
                .unwrap_or_else(|| unreachable!("a tree of {size} leaves has a root"));
            match LogCheckpoint::sign(&self.note_signer, size, root, self.now) {
                Ok(checkpoint) => {
                    plan.ops.push(Op::InsertLogCheckpoint(checkpoint.row()));
                    self.state.last_checkpoint = Some(checkpoint);
                }
                Err(error) => plan.fail_signing(error),
            }
        }
        if keep_from > 0 {
            plan.ops.push(Op::PruneLogCheckpoints {
                below: keep_from.min(size),
            });
        }
        self.state.last_checkpoint.clone()
    }
}
