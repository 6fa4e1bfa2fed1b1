//! Segments: open, seal, list, the open one.

use arxi_recorder::{SealReceipt, SegmentInfo, StoredResponse};
use http::StatusCode;

use super::{
    command_problem, idempotency_key, idempotency_request, object, outcome_reply, parse_body,
    query_number, run_blocking, segment_json, submit_problem,
};
use crate::call::json_reply;
use crate::call::{Call, Reply, stored_json};
use crate::contract::{
    ActiveSegment, Empty, SealInfo, Sealed, SegmentList, SegmentOpened, to_value,
};
use crate::members_of;
use crate::problem::{Code, Problem};

fn render_opened(segment: &SegmentInfo) -> StoredResponse {
    stored_json(
        201,
        &to_value(&SegmentOpened {
            segment: segment_json(segment),
        }),
    )
}

fn render_sealed(seal: &SealReceipt) -> StoredResponse {
    stored_json(
        200,
        &to_value(&Sealed {
            seal: SealInfo {
                segment_id: seal.segment_id,
                first_seq: seal.first_seq,
                last_seq: seal.last_seq,
                count: seal.count,
                merkle_root: seal.merkle_root.to_hex(),
                seal_hash: seal.seal_hash.to_hex(),
                sealed_at: seal.sealed_at.to_string(),
            },
        }),
    )
}

/// `POST /v1/segments`: opens a segment (409 if one is open). Body: `{}`.
pub async fn open(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, true)?;
    let key = idempotency_key(&call, &body)?;
    object(body, members_of!(Empty))?;
    let pending = call
        .state
        .engine
        .open_segment(idempotency_request(key, render_opened))
        .map_err(submit_problem)?;
    let outcome = pending.await.map_err(command_problem)?;
    Ok(outcome_reply(outcome, render_opened))
}

/// `POST /v1/segments/seal`: seals the open segment (409 if none). Body:
/// `{}`.
pub async fn seal(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, true)?;
    let key = idempotency_key(&call, &body)?;
    object(body, members_of!(Empty))?;
    let pending = call
        .state
        .engine
        .seal(idempotency_request(key, render_sealed))
        .map_err(submit_problem)?;
    let outcome = pending.await.map_err(command_problem)?;
    Ok(outcome_reply(outcome, render_sealed))
}

/// `GET /v1/segments?after=ID&limit=N`.
pub async fn list(call: Call) -> Result<Reply, Problem> {
    let page_max = call.config.model().limits.query_page_envelopes_max;
    // A parameter's value that breaks its rule is a 422 naming it, as the
    // same rule in a query body is (unknown parameters never get here).
    let after = query_number(
        &call,
        "after",
        0..=crate::contract::SAFE_INTEGER_MAX,
        || "must be an integer from 0".into(),
    )?
    .unwrap_or(0);
    let limit = query_number(&call, "limit", 1..=page_max, || {
        format!("must be 1 to {page_max}")
    })?
    .unwrap_or(100_u64.min(page_max));
    let engine = std::sync::Arc::clone(&call.state.engine);
    let limit32 = u32::try_from(limit).unwrap_or(u32::MAX);
    let segments = run_blocking(&call, move || {
        engine
            .segments(after, limit32)
            .map_err(|error| Problem::new(Code::StorageUnavailable).detail(error.to_string()))
    })
    .await?;
    let next_after = (segments.len() as u64 == limit)
        .then(|| segments.last().map(|segment| segment.segment_id))
        .flatten();
    let list: Vec<_> = segments.iter().map(segment_json).collect();
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&SegmentList {
            segments: list,
            next_after,
        }),
    ))
}

/// `GET /v1/segments/active`: `{"segment": {...}}` or `{"segment": null}`.
pub async fn active(call: Call) -> Result<Reply, Problem> {
    let status = call.state.engine.status();
    let segment = status.open_segment.as_ref().map(segment_json);
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&ActiveSegment { segment }),
    ))
}
