//! `POST /v1/keys/revoke`: record that a key is no longer valid from a
//! sequence number on (`arxi.key.revoked`, a control mutation), after a
//! compromise.
//!
//! Body: `{"key_id": ..., "from_seq": N, "reason": ...}`. Answers 201 with
//! the revocation envelope; 409 `key_in_use` when the key is the one the
//! recorder signs with (the revocation would be signed by the revoked
//! key: rotate first, by a restart with a new key). What a verifier makes
//! of the record is `Docs/format.md` §11.4, rule R; the procedure around
//! it is `Docs/reliability.md`, "Key compromise". Listing keys is
//! `admin`'s.

use arxi_format::KeyId;
use arxi_format::revocation::KeyRevocation;
use arxi_recorder::{Receipt, StoredResponse};

use super::{
    command_problem, idempotency_key, idempotency_request, invalid, non_negative_integer, object,
    outcome_reply, parse_body, required_string, submit_problem,
};
use crate::call::{Call, Reply, stored_json};
use crate::contract::{KeyRevoked, Recorded, to_value};
use crate::problem::Problem;

/// The answer, from the recorded envelope.
fn renderer(key_id: KeyId, from_seq: u64) -> impl Fn(&Receipt) -> StoredResponse + Send + 'static {
    move |receipt: &Receipt| {
        stored_json(
            201,
            &to_value(&KeyRevoked {
                recorded: Recorded {
                    seq: receipt.seq,
                    segment_id: receipt.segment_id,
                    hash: receipt.hash.to_hex(),
                },
                key_id: key_id.to_string(),
                from_seq,
            }),
        )
    }
}

/// The body's members as a revocation.
fn revocation(call: &Call) -> Result<(KeyRevocation, serde_json::Value), Problem> {
    let body = parse_body(call, false)?;
    let mut members = object(
        body.clone(),
        crate::members_of!(crate::contract::KeyRevocationRequest),
    )?;
    let text = required_string(&mut members, "key_id")?;
    let key_id = KeyId::parse(&text)
        .ok()
        .filter(|key_id| !key_id.as_str().bytes().any(|b| b.is_ascii_uppercase()))
        .ok_or_else(|| invalid("key_id", "must be ed25519: and 32 lowercase hex digits"))?;
    let from_seq = members
        .remove("from_seq")
        .as_ref()
        .and_then(non_negative_integer)
        .filter(|seq| *seq >= 1)
        .ok_or_else(|| invalid("from_seq", "must be a sequence number (integer >= 1)"))?;
    let reason = required_string(&mut members, "reason")?;
    let revocation = KeyRevocation {
        key_id,
        from_seq,
        reason,
    };
    Ok((revocation, body))
}

/// `POST /v1/keys/revoke`.
pub async fn revoke(call: Call) -> Result<Reply, Problem> {
    let (revocation, body) = revocation(&call)?;
    let key = idempotency_key(&call, &body)?;
    let render = renderer(revocation.key_id.clone(), revocation.from_seq);
    let pending = call
        .state
        .engine
        .revoke_key(&revocation, idempotency_request(key, render))
        .map_err(submit_problem)?;
    let outcome = pending.await.map_err(command_problem)?;
    let render = renderer(revocation.key_id.clone(), revocation.from_seq);
    Ok(outcome_reply(outcome, render))
}
