//! `POST /v1/envelopes`, `POST /v1/envelopes/with-attachments` and
//! `POST /v1/envelopes/batch`; and `GET /v1/envelopes?seq=N`, one envelope.
//!
//! Body: `{"type": ..., "actor"?: ..., "subject"?: ..., "payload": <any
//! JSON>}`; with attachments also `"attachments": [{"name", "media_type",
//! "content_base64"}]` (standard base64 with padding). Answers 201 with the
//! receipt once the envelope is durable.

use std::sync::Arc;

use arxi_format::CanonicalJson;
use arxi_recorder::{AppendRequest, AttachmentInput, Receipt, StoredResponse};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{
    command_problem, idempotency_key, idempotency_request, invalid, object, optional_string,
    outcome_reply, parse_body, required_string, submit_problem,
};
use crate::call::{Call, Reply, stored_json_of};
use crate::problem::{Code, Problem};

/// Renders receipts of one recorder (its id is part of every envelope a
/// client rebuilds to check a receipt).
fn renderer(call: &Call) -> impl Fn(&Receipt) -> StoredResponse + Send + 'static {
    let recorder_id: Arc<str> = call.config.model().recorder.id.as_str().into();
    move |receipt| stored_json_of(201, &receipt_json(&recorder_id, receipt))
}

fn batch_renderer(call: &Call) -> impl Fn(&Vec<Receipt>) -> StoredResponse + Send + 'static {
    let recorder_id: Arc<str> = call.config.model().recorder.id.as_str().into();
    move |receipts| {
        stored_json_of(
            201,
            &crate::contract::BatchReceipts {
                receipts: receipts
                    .iter()
                    .map(|receipt| receipt_json(&recorder_id, receipt))
                    .collect(),
            },
        )
    }
}

fn receipt_json(recorder_id: &str, receipt: &Receipt) -> crate::contract::Receipt {
    crate::contract::Receipt {
        recorder_id: recorder_id.to_owned(),
        seq: receipt.seq,
        segment_id: receipt.segment_id,
        hash: receipt.hash.to_hex(),
        prev_hash: receipt.prev_hash.to_hex(),
        received_at: receipt.received_at.to_string(),
        key_id: receipt.key_id.as_str().to_owned(),
        v: receipt.version(),
        payload_commitment: receipt.payload_commitment.map(|hash| hash.to_hex()),
        payload_salt: receipt
            .payload_opening
            .as_ref()
            .map(|opening| opening.salt.to_hex()),
        committed_labels: receipt.payload_opening.as_ref().map(|opening| {
            opening
                .committed_labels
                .iter()
                .map(|label| (*label).to_owned())
                .collect()
        }),
        signature: receipt
            .signature
            .as_ref()
            .expect("the recorder signs an envelope before it answers")
            .to_hex(),
    }
}

/// `GET /v1/envelopes?seq=N`: one envelope, the stored canonical JSON
/// verbatim (as `POST /v1/query/envelopes` returns it); 404
/// `envelope_not_found` when no envelope has that number.
pub async fn get(call: Call) -> Result<Reply, Problem> {
    let seq = super::query_number(&call, "seq", 1..=crate::contract::SAFE_INTEGER_MAX, || {
        "must be a sequence number (a decimal integer from 1, no leading zeros)".into()
    })?
    .ok_or_else(|| Problem::new(Code::BadRequest).detail("give ?seq=<sequence number>"))?;
    let engine = Arc::clone(&call.state.engine);
    let found = super::run_blocking(&call, move || {
        let storage = |e| super::log::storage(&e);
        match engine.envelope_bytes(seq).map_err(storage)? {
            Some(bytes) => Ok(Ok(bytes)),
            // Pruned after it was archived: the answer names the objects.
            None => Ok(Err(engine.pruned_for_envelope(seq).map_err(storage)?)),
        }
    })
    .await?;
    match found {
        Ok(bytes) => Ok(Reply::json(http::StatusCode::OK, bytes)),
        Err(Some(range)) => Err(super::pruned_problem(&range)),
        Err(None) => Err(Problem::new(Code::EnvelopeNotFound)
            .detail(format!("no envelope has seq {seq}"))
            .with("seq", seq)),
    }
}

/// `POST /v1/envelopes`.
pub async fn record(call: Call) -> Result<Reply, Problem> {
    submit(call, false).await
}

/// `POST /v1/envelopes/with-attachments`.
pub async fn record_with_attachments(call: Call) -> Result<Reply, Problem> {
    submit(call, true).await
}

async fn submit(call: Call, with_attachments: bool) -> Result<Reply, Problem> {
    let body = parse_body(&call, false)?;
    let key = idempotency_key(&call, &body)?;
    let mut request = record_request(&call, body, with_attachments)?;
    request.idempotency = idempotency_request(key, renderer(&call));
    let pending = call.state.engine.append(request).map_err(submit_problem)?;
    let outcome = pending.await.map_err(command_problem)?;
    Ok(outcome_reply(outcome, renderer(&call)))
}

/// `POST /v1/envelopes/batch`: every envelope checked as `POST
/// /v1/envelopes` checks one (a refusal names its index and nothing is
/// recorded), then all recorded together, answered once all are durable.
pub async fn record_batch(call: Call) -> Result<Reply, Problem> {
    let body = super::parse_body_nested(&call, false, 2)?;
    let key = idempotency_key(&call, &body)?;
    let mut members = object(body, crate::members_of!(crate::contract::BatchRequest))?;
    let Some(Value::Array(items)) = members.remove("envelopes") else {
        return Err(invalid("envelopes", "is required: an array of envelopes"));
    };
    let most = call.config.model().limits.batch_envelopes_max;
    if items.is_empty() || items.len() as u64 > most {
        return Err(invalid("envelopes", format!("1 to {most} envelopes")));
    }
    let requests = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            record_request(&call, item, false).map_err(|problem| super::at_index(problem, index))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pending = call
        .state
        .engine
        .append_batch(requests, idempotency_request(key, batch_renderer(&call)))
        .map_err(submit_problem)?;
    let outcome = pending.await.map_err(command_problem)?;
    Ok(outcome_reply(outcome, batch_renderer(&call)))
}

/// One envelope of a request body, checked: its members, the token's
/// namespaces, labels, payload numbers and canonical form, attachments.
fn record_request(
    call: &Call,
    body: Value,
    with_attachments: bool,
) -> Result<AppendRequest, Problem> {
    let allowed = if with_attachments {
        crate::members_of!(crate::contract::RecordWithAttachmentsRequest)
    } else {
        crate::members_of!(crate::contract::RecordRequest)
    };
    let mut members = object(body, allowed)?;
    let event_type = required_string(&mut members, "type")?;
    if let Some(grant) = call.grant().filter(|grant| !grant.allows_type(&event_type)) {
        return Err(Problem::new(Code::NamespaceForbidden)
            .detail(format!(
                "token {:?} may write {}; not {event_type:?}",
                grant.name,
                grant.namespaces.join(", ")
            ))
            .with("event_type", event_type));
    }
    let actor = optional_string(&mut members, "actor")?;
    let subject = optional_string(&mut members, "subject")?;
    let payload = members
        .remove("payload")
        .ok_or_else(|| invalid("payload", "is required"))?;
    check_numbers(&payload)?;
    let payload = CanonicalJson::from_value(&payload)
        .map_err(|error| super::canonical_problem("payload", &error))?;
    let attachments = if with_attachments {
        attachments(call, members.remove("attachments"))?
    } else {
        Vec::new()
    };
    Ok(AppendRequest {
        event_type,
        actor,
        subject,
        payload,
        attachments,
        idempotency: None,
    })
}

/// The API takes payload numbers within ±(2^53-1) only, the range in
/// which every JSON reader keeps a number exact. The strict parser already
/// refuses larger integer literals; this refuses the same values written
/// as doubles (`1e30`), so the rule is one range however a number is
/// spelled (`422 integer_out_of_range`: send such numbers as strings).
fn check_numbers(value: &Value) -> Result<(), Problem> {
    const LIMIT: f64 = crate::contract::SAFE_INTEGER_MAX_F64;
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(float) if float.abs() > LIMIT => Err(Problem::new(Code::IntegerOutOfRange)
                .detail(format!(
                    "payload: the number {number} lies outside ±(2^53-1); send it as a string"
                ))
                .with("field", "payload")),
            _ => Ok(()),
        },
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(members) => members.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

/// The members of attachment `index`, all of them known: an unknown member
/// is named by its path (`attachments[1].x`), an item that is not an
/// object by its index.
fn attachment_members(item: Value, index: usize) -> Result<Map<String, Value>, Problem> {
    object(item, crate::members_of!(crate::contract::AttachmentInput)).map_err(|problem| {
        let at = match problem.extra.get("field").and_then(Value::as_str) {
            Some(member) if member != "(body)" => format!("attachments[{index}].{member}"),
            _ => format!("attachments[{index}]"),
        };
        problem.with("field", at)
    })
}

fn attachments(call: &Call, value: Option<Value>) -> Result<Vec<AttachmentInput>, Problem> {
    let limits = call.config.model().limits;
    let items = match value {
        None => {
            return Err(invalid(
                "attachments",
                "is required on this route (use /v1/envelopes without attachments)",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("attachments", "must be an array")),
    };
    if items.len() as u64 > limits.attachments_max {
        return Err(invalid(
            "attachments",
            format!("at most {} attachments", limits.attachments_max),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let field = |name: &str| format!("attachments[{index}].{name}");
        let mut members = attachment_members(item, index)?;
        let name = required_string(&mut members, "name")
            .map_err(|_| invalid(&field("name"), "is required"))?;
        let media_type = required_string(&mut members, "media_type")
            .map_err(|_| invalid(&field("media_type"), "is required"))?;
        let encoded = required_string(&mut members, "content_base64")
            .map_err(|_| invalid(&field("content_base64"), "is required"))?;
        // Every attachment rule names its member the same way (the
        // recorder checks them again, naming only `attachments`).
        arxi_format::record::check_label(&name)
            .map_err(|reason| invalid(&field("name"), reason))?;
        arxi_format::record::check_media_type(&media_type)
            .map_err(|reason| invalid(&field("media_type"), reason))?;
        if out
            .iter()
            .any(|earlier: &AttachmentInput| earlier.name == name)
        {
            return Err(invalid(
                &field("name"),
                format!("duplicate attachment name {name:?}"),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|error| {
                invalid(
                    &field("content_base64"),
                    format!("not standard base64: {error}"),
                )
            })?;
        if bytes.len() as u64 > limits.attachment_bytes_max {
            return Err(Problem::new(Code::PayloadTooLarge)
                .detail(format!(
                    "{} is {} bytes; the limit is {}",
                    field("content_base64"),
                    bytes.len(),
                    limits.attachment_bytes_max
                ))
                .with("field", field("content_base64")));
        }
        out.push(AttachmentInput {
            name,
            media_type,
            bytes: Arc::from(bytes),
        });
    }
    Ok(out)
}
