//! The log tree: its witnessed checkpoint (C2SP note text), its state and
//! witnesses, and the proof that ties an envelope to a witnessed
//! checkpoint.

use http::StatusCode;

use super::run_blocking;
use crate::call::{Call, Reply, json_reply};
use crate::contract::{EnvelopeProof, LogInfo, WitnessInfo, to_value};
use crate::problem::{Code, Problem};
use crate::response_body::ResponseBody;

/// `GET /v1/log/checkpoint`: the newest witnessed checkpoint, as the C2SP
/// signed note (`text/plain`): the recorder's signature, then the
/// witnesses' cosignatures.
pub async fn checkpoint(call: Call) -> Result<Reply, Problem> {
    let (_, text) = call
        .state
        .log
        .witnessed()
        .ok_or_else(|| Problem::new(Code::CheckpointUnavailable))?;
    Ok(Reply {
        status: StatusCode::OK,
        content_type: "text/plain; charset=utf-8",
        body: ResponseBody::whole(text.as_bytes().to_vec().into()),
        headers: Vec::new(),
    })
}

/// `GET /v1/log`: origin, verifier key, sizes, quorum and witnesses.
pub async fn info(call: Call) -> Result<Reply, Problem> {
    use std::sync::atomic::Ordering;
    let log = &call.state.log;
    let latest = log.latest_size();
    let witnesses = log
        .witnesses
        .iter()
        .map(|w| {
            let cosigned = w.cosigned_size.load(Ordering::Relaxed);
            WitnessInfo {
                name: w.key.name().to_owned(),
                vkey: w.key.to_string(),
                cosigned_size: cosigned,
                lag_entries: latest.saturating_sub(cosigned),
                lag_seconds: w.lag_seconds(),
                last_error: w
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
            }
        })
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&LogInfo {
            origin: log.origin.clone(),
            vkey: call.state.engine.log_verifier_key().to_string(),
            tree_size: call.state.engine.status().head_seq,
            checkpoint_size: latest,
            witnessed_size: log.witnessed().map_or(0, |(size, _)| size),
            quorum: log.quorum as u64,
            witness_lag_seconds: log.witnessed_lag_seconds(),
            witnesses,
        }),
    ))
}

/// `GET /v1/envelopes/proof?seq=N`: the envelope, its inclusion proof in
/// the tree of the newest witnessed checkpoint, and that checkpoint.
pub async fn proof(call: Call) -> Result<Reply, Problem> {
    let seq = seq_parameter(&call)?;
    let head = call.state.engine.status().head_seq;
    if seq > head {
        return Err(Problem::new(Code::EnvelopeNotFound).detail(format!(
            "envelope {seq} is not recorded (the log holds {head})"
        )));
    }
    let (size, checkpoint) = call
        .state
        .log
        .witnessed()
        .ok_or_else(|| Problem::new(Code::CheckpointUnavailable))?;
    if seq > size {
        return Err(Problem::new(Code::NotWitnessedYet).detail(format!(
            "the newest witnessed checkpoint covers envelopes 1 to {size}"
        )));
    }
    let engine = std::sync::Arc::clone(&call.state.engine);
    let (envelope, proof) = run_blocking(&call, move || {
        // A pruned envelope, or one whose proof needs pruned leaves, is
        // answered with the archive objects that hold them.
        let pruned = |error: Problem| match engine.pruned_for_envelope(seq) {
            Ok(Some(range)) => super::pruned_problem(&range),
            Ok(None) => error,
            Err(e) => storage(&e),
        };
        let envelope = engine
            .envelope_bytes(seq)
            .map_err(|e| storage(&e))?
            .ok_or_else(|| pruned(Problem::new(Code::EnvelopeNotFound)))?;
        let proof = engine
            .inclusion_proof(seq, size)
            .map_err(|e| pruned(storage(&e)))?;
        Ok((envelope, proof))
    })
    .await?;
    let envelope = String::from_utf8(envelope).map_err(|_| {
        Problem::new(Code::StorageUnavailable).detail(format!("envelope {seq} is not UTF-8"))
    })?;
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&EnvelopeProof {
            seq,
            envelope,
            leaf_index: seq - 1,
            tree_size: size,
            inclusion_proof: proof.iter().map(arxi_format::Hash32::to_hex).collect(),
            checkpoint: checkpoint.to_string(),
            log_vkey: call.state.engine.log_verifier_key().to_string(),
        }),
    ))
}

pub(super) fn storage(error: &impl std::fmt::Display) -> Problem {
    Problem::new(Code::StorageUnavailable).detail(error.to_string())
}

/// The `seq` query parameter: a positive decimal integer.
fn seq_parameter(call: &Call) -> Result<u64, Problem> {
    super::query_number(call, "seq", 1..=u64::MAX, || {
        "a positive decimal integer without leading zeros".into()
    })?
    .ok_or_else(|| Problem::new(Code::BadRequest).detail("give ?seq=<n>"))
}
