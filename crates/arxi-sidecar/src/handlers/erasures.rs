//! `POST /v1/erasures`: erase the committed payloads (and committed
//! labels) of version 2 envelopes, by subject or by sequence numbers, with
//! a reason; recorded as `arxi.payload.erased` (a control mutation).
//!
//! Body: `{"subject": ..., "reason": ...}` or `{"seqs": [...], "reason":
//! ...}`. Answers 201 with the erasure envelope, what was erased, what was
//! left and why, and whether the subject has more to erase; 409
//! `nothing_to_erase` when no envelope named has a payload left. What an
//! erasure reaches and what it does not is `Docs/format.md` §10.

use arxi_recorder::{ErasureReceipt, ErasureRequest, ErasureSelector, Skipped, StoredResponse};
use serde_json::Value;

use super::{
    command_problem, idempotency_key, idempotency_request, invalid, object, optional_string,
    outcome_reply, parse_body, required_string, submit_problem,
};
use crate::call::{Call, Reply, stored_json};
use crate::contract::{ErasureDone, ErasureSkipped, Recorded, to_value};
use crate::problem::Problem;

/// The envelopes an erasure left, as answered.
pub fn skipped_json(skipped: &[Skipped]) -> Vec<ErasureSkipped> {
    skipped
        .iter()
        .map(|skipped| match *skipped {
            Skipped::NotFound(seq) => ErasureSkipped {
                seq,
                why: "not_found".into(),
                erased_by: None,
            },
            Skipped::Version1(seq) => ErasureSkipped {
                seq,
                why: "version_1".into(),
                erased_by: None,
            },
            Skipped::AlreadyErased { seq, erased_by } => ErasureSkipped {
                seq,
                why: "already_erased".into(),
                erased_by: Some(erased_by),
            },
        })
        .collect()
}

fn render(receipt: &ErasureReceipt) -> StoredResponse {
    stored_json(
        201,
        &to_value(&ErasureDone {
            recorded: Recorded {
                seq: receipt.receipt.seq,
                segment_id: receipt.receipt.segment_id,
                hash: receipt.receipt.hash.to_hex(),
            },
            erased: receipt.erased.clone(),
            skipped: skipped_json(&receipt.skipped),
            more: receipt.more,
        }),
    )
}

/// `subject` or `seqs`, exactly one.
fn selector(members: &mut serde_json::Map<String, Value>) -> Result<ErasureSelector, Problem> {
    let subject = optional_string(members, "subject")?;
    let seqs = match members.remove("seqs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| {
                    super::non_negative_integer(item)
                        .filter(|seq| *seq >= 1)
                        .ok_or_else(|| {
                            invalid("seqs", "must hold sequence numbers (integers >= 1)")
                        })
                })
                .collect::<Result<Vec<u64>, Problem>>()?,
        ),
        Some(_) => return Err(invalid("seqs", "must be an array")),
    };
    match (subject, seqs) {
        (Some(subject), None) => Ok(ErasureSelector::Subject(subject)),
        (None, Some(seqs)) => Ok(ErasureSelector::Seqs(seqs)),
        _ => Err(invalid(
            "(selection)",
            "give exactly one of subject and seqs",
        )),
    }
}

/// `POST /v1/erasures`.
pub async fn erase(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, false)?;
    let key = idempotency_key(&call, &body)?;
    let mut members = object(body, crate::members_of!(crate::contract::ErasureRequest))?;
    let selector = selector(&mut members)?;
    let reason = required_string(&mut members, "reason")?;
    let pending = call
        .state
        .engine
        .erase(ErasureRequest {
            selector,
            reason,
            idempotency: idempotency_request(key, render),
        })
        .map_err(submit_problem)?;
    let outcome = pending.await.map_err(command_problem)?;
    Ok(outcome_reply(outcome, render))
}
