//! Erasure (issue 21, `Docs/format.md` §10.1): which envelopes an erasure
//! selects, what the caller is told, and how a query shows a version 2
//! envelope's payload.
//!
//! An erasure is planned by the sequencer like any other command: it waits
//! until every plan it sent is durable, selects the envelopes from the
//! store and from the plan being built (an envelope appended earlier in
//! the same batch is erasable too), records `arxi.payload.erased` and
//! empties the selected payload rows in the same transaction. The
//! committer then truncates the WAL, so the erased bytes are gone from the
//! WAL file as well as (with `secure_delete`) from the database file.
//!
//! Not here: the commitment (`commitment`), the envelope bytes
//! (`arxi-format`), the HTTP route (the sidecar).

use arxi_format::payload::{Committed, Disclosure, ERASED_SEQS_MAX, ErasedBy, Salt};
use arxi_store::{Reader, StoreError};

use crate::Receipt;
use crate::idempotency::IdempotencyRequest;
use crate::plan::{Op, Plan};

/// Which envelopes to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureSelector {
    /// Every version 2 envelope naming this subject whose payload is not
    /// erased yet (at most 10,000 per request; the receipt says whether
    /// more are left).
    Subject(String),
    /// These sequence numbers (1 to 10,000).
    Seqs(Vec<u64>),
}

/// An erasure to record.
#[derive(Debug)]
pub struct ErasureRequest {
    /// What to erase.
    pub selector: ErasureSelector,
    /// Why (1 to 512 characters, no control characters); recorded in the
    /// erasure envelope, so it must not itself hold the personal data.
    pub reason: String,
    /// Idempotency, when the caller gave a key.
    pub idempotency: Option<IdempotencyRequest<ErasureReceipt>>,
}

/// A sequence number named for erasure that was left, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// No envelope has it.
    NotFound(u64),
    /// A version 1 envelope: its payload is in the signed envelope and
    /// cannot be erased without breaking the chain.
    Version1(u64),
    /// Already erased, by the erasure envelope with this `seq`.
    AlreadyErased {
        /// The envelope named.
        seq: u64,
        /// The erasure envelope.
        erased_by: u64,
    },
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReceipt {
    /// The `arxi.payload.erased` envelope.
    pub receipt: Receipt,
    /// The envelopes whose committed content was erased, ascending.
    pub erased: Vec<u64>,
    /// Named envelopes left, and why.
    pub skipped: Vec<Skipped>,
    /// The subject has more envelopes to erase (send the request again).
    pub more: bool,
}

/// One version 2 envelope's payload as a query shows it: disclosed while
/// it exists, else erased (by which envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadView {
    /// The envelope.
    pub seq: u64,
    /// Disclosed (content and salt) or erased; withheld only when it is
    /// sealed under a subject key that is gone (a database restored from a
    /// copy made before an erasure by subject, `Docs/format.md` §10.2).
    pub disclosure: Disclosure,
}

/// What an erasure will erase.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub(crate) seqs: Vec<u64>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) more: bool,
}

/// Payload rows the plan being built inserts (not durable yet) and erases.
fn planned(plan: &Plan) -> (Vec<(u64, Option<&str>)>, Vec<u64>) {
    let mut inserted = Vec::new();
    let mut erased = Vec::new();
    for op in &plan.ops {
        match op {
            Op::InsertPayload { seq, commitment } => {
                inserted.push((*seq, commitment.subject.as_deref()));
            }
            Op::ErasePayloads { seqs, .. } => erased.extend_from_slice(seqs),
            _ => {}
        }
    }
    (inserted, erased)
}

/// Selects what `selector` erases, from the durable rows (`reader`, read
/// after every earlier plan is durable) and the plan being built.
pub(crate) fn select(
    reader: &Reader<'_>,
    plan: &Plan,
    selector: &ErasureSelector,
) -> Result<Selection, StoreError> {
    let (inserted, erased_in_plan) = planned(plan);
    let mut selection = Selection::default();
    match selector {
        ErasureSelector::Subject(subject) => {
            let limit = u32::try_from(ERASED_SEQS_MAX + 1).expect("a small constant");
            let mut seqs = reader.unerased_of_subject(subject, limit)?;
            seqs.extend(
                inserted
                    .iter()
                    .filter(|(_, named)| *named == Some(subject.as_str()))
                    .map(|(seq, _)| *seq),
            );
            seqs.retain(|seq| !erased_in_plan.contains(seq));
            seqs.sort_unstable();
            seqs.dedup();
            selection.more = seqs.len() > ERASED_SEQS_MAX;
            seqs.truncate(ERASED_SEQS_MAX);
            selection.seqs = seqs;
        }
        ErasureSelector::Seqs(named) => {
            for &seq in named {
                if erased_in_plan.contains(&seq) || selection.seqs.contains(&seq) {
                    continue;
                }
                if inserted.iter().any(|(planned, _)| *planned == seq) {
                    selection.seqs.push(seq);
                    continue;
                }
                match reader.payload(seq)? {
                    Some(row) => match row.erased_by {
                        Some(erased_by) => selection
                            .skipped
                            .push(Skipped::AlreadyErased { seq, erased_by }),
                        None => selection.seqs.push(seq),
                    },
                    None if reader.envelope(seq)?.is_some() => {
                        selection.skipped.push(Skipped::Version1(seq));
                    }
                    None => selection.skipped.push(Skipped::NotFound(seq)),
                }
            }
            selection.seqs.sort_unstable();
        }
    }
    Ok(selection)
}

/// How the selector selects, as the erasure record says it.
pub(crate) fn erased_by(selector: &ErasureSelector) -> ErasedBy {
    match selector {
        ErasureSelector::Subject(_) => ErasedBy::Subject,
        ErasureSelector::Seqs(_) => ErasedBy::Seq,
    }
}

/// The payload of a stored version 2 envelope as a query shows it;
/// `None` for an envelope without one (version 1).
pub(crate) fn view(reader: &Reader<'_>, seq: u64) -> Result<Option<PayloadView>, StoreError> {
    let Some(row) = reader.payload(seq)? else {
        return Ok(None);
    };
    if row.withheld {
        return Ok(Some(PayloadView {
            seq,
            disclosure: Disclosure::Withheld,
        }));
    }
    let disclosure = match (row.content, row.erased_by) {
        (Some((salt, content)), None) => Disclosure::Disclosed {
            content: Committed::parse(&content).map_err(|error| {
                StoreError::BadRow(format!("payload {seq}: stored content: {error}"))
            })?,
            salt: Salt(salt),
        },
        (None, Some(erased_by)) => Disclosure::Erased { erased_by },
        _ => {
            return Err(StoreError::BadRow(format!(
                "payload {seq} is neither held nor erased"
            )));
        }
    };
    Ok(Some(PayloadView { seq, disclosure }))
}

impl crate::plan::Signed for ErasureReceipt {
    fn attach(&mut self, signatures: &crate::plan::Signatures) {
        self.receipt.attach(signatures);
    }
}
