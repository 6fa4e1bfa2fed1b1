//! Bundle routes: build (a control mutation, recorded as evidence),
//! download, verify and inspect (a stored bundle by id, or one uploaded as
//! base64 within `limits.bundle_upload_bytes_max`).
//!
//! Bundle work runs on its own one-thread pool behind a short queue (full:
//! 429 `bundle_busy`), never on a runtime thread or the read pool. A build
//! job writes and stages the file, records `arxi.bundle.built` (with the
//! idempotency record, in one transaction), and only then publishes the
//! file, all before it reports back, so a client that gives up waiting
//! never leaves a bundle without its evidence; retrying with the same
//! `Idempotency-Key` replays the answer. A stored bundle is served (and
//! verified or inspected by id) only if an `arxi.bundle.built` envelope
//! records it (the recorder's `open_bundle`).

use std::sync::Arc;

use arxi_format::PublicKey;
use arxi_recorder::bundle::{
    BundleError, BundleFile, BundleSelection, PayloadSelection, bundle_file_name, is_bundle_id,
};
use arxi_recorder::{IdempotencyRequest, Outcome, Receipt, StoredResponse};
use base64::Engine as _;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use super::{
    command_problem, idempotency_key, invalid, object, optional_u64, parse_body, stored_reply,
    submit_problem,
};
use crate::call::json_reply;
use crate::call::{Call, Reply, stored_json};
use crate::contract::{BundleBuilt, BundleInfo, Recorded, to_value};
use crate::problem::{Code, Problem};
use crate::response_body::{FileBody, ResponseBody};

/// Most trusted keys a verify request may name.
const KEYS_MAX: usize = 64;

/// Runs bundle work on the bundle pool and awaits it.
async fn on_bundle_pool<T: Send + 'static>(
    call: &Call,
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let receiver = call.state.bundles.run(work).map_err(|_| {
        Problem::new(Code::BundleBusy).detail("a bundle job is running and the queue is full")
    })?;
    receiver
        .await
        .map_err(|_| Problem::new(Code::InternalError).detail("bundle worker stopped"))?
}

fn bundle_problem(error: BundleError) -> Problem {
    match error {
        BundleError::InvalidSelection(why) => invalid("(selection)", why),
        BundleError::NotFound(what) => {
            Problem::new(Code::NotFound).detail(format!("{what} not found"))
        }
        BundleError::Pruned(range) => crate::handlers::pruned_problem(&range),
        BundleError::NotSealed(segment) => Problem::new(Code::SegmentNotSealed)
            .detail(format!("segment {segment} is not sealed yet"))
            .with("segment_id", segment),
        BundleError::TooLarge(why) => invalid("(selection)", why),
        BundleError::Inconsistent(why) => Problem::new(Code::StorageUnavailable).detail(why),
        BundleError::Signer(error) => Problem::new(Code::SignerUnavailable).detail(error.0),
        BundleError::Store(error) => {
            Problem::new(Code::StorageUnavailable).detail(error.to_string())
        }
        BundleError::Write(error) => {
            Problem::new(Code::StorageUnavailable).detail(format!("writing the bundle: {error}"))
        }
        BundleError::Read(error) => {
            Problem::new(Code::StorageUnavailable).detail(format!("reading the bundle: {error}"))
        }
        BundleError::NoBundleDir => {
            Problem::new(Code::InternalError).detail("the recorder has no bundle directory")
        }
        BundleError::ClockOutOfRange { micros } => Problem::new(Code::ClockUnavailable)
            .detail(format!("the clock reads {micros} µs since 1970")),
    }
}

/// A stored bundle by id: one that is not recorded, or whose file is gone,
/// is `bundle_not_found`.
fn stored_bundle_problem(error: BundleError, id: &str) -> Problem {
    match error {
        BundleError::NotFound(_) => {
            Problem::new(Code::BundleNotFound).detail(format!("no bundle {id}"))
        }
        other => bundle_problem(other),
    }
}

fn bundle_json(file: &BundleFile) -> BundleInfo {
    let built = &file.built;
    BundleInfo {
        id: file.id.clone(),
        size: built.bytes,
        sha256: built.sha256.to_hex(),
        manifest_hash: built.manifest_hash.to_hex(),
        first_segment: *built.segments.start(),
        last_segment: *built.segments.end(),
        first_seq: *built.seqs.start(),
        last_seq: *built.seqs.end(),
        envelopes: built.envelopes,
        attachments: built.attachments,
        payloads: crate::contract::PayloadCounts {
            disclosed: built.payloads.0,
            withheld: built.payloads.1,
            erased: built.payloads.2,
        },
        download: format!("/v1/bundles/download?id={}", file.id),
    }
}

/// The selection a build body asks for: `first_segment`/`last_segment`,
/// or `first_seq`/`last_seq`, or nothing (every sealed segment). A missing
/// first bound is 1; a missing last bound is the first.
fn selection(members: &mut Map<String, Value>) -> Result<BundleSelection, Problem> {
    let first_segment = optional_u64(members, "first_segment")?;
    let last_segment = optional_u64(members, "last_segment")?;
    let first_seq = optional_u64(members, "first_seq")?;
    let last_seq = optional_u64(members, "last_seq")?;
    let bounds = |first: Option<u64>, last: Option<u64>| {
        let first = first.unwrap_or(1);
        (first, last.unwrap_or(first))
    };
    match (first_segment, last_segment, first_seq, last_seq) {
        (None, None, None, None) => Ok(BundleSelection::AllSealed),
        (first, last, None, None) => {
            let (first, last) = bounds(first, last);
            Ok(BundleSelection::Segments { first, last })
        }
        (None, None, first, last) => {
            let (first, last) = bounds(first, last);
            Ok(BundleSelection::Sequence { first, last })
        }
        _ => Err(invalid(
            "(selection)",
            "give segments or sequence numbers, not both",
        )),
    }
}

/// Which committed payloads a build body discloses: `withhold_payloads`,
/// `disclose_subject` or `disclose_type` (at most one); every one by
/// default.
fn payload_selection(members: &mut Map<String, Value>) -> Result<PayloadSelection, Problem> {
    let withhold = match members.remove("withhold_payloads") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(invalid("withhold_payloads", "must be a boolean")),
    };
    let subject = super::optional_string(members, "disclose_subject")?;
    let event_type = super::optional_string(members, "disclose_type")?;
    match (withhold, subject, event_type) {
        (false, None, None) => Ok(PayloadSelection::All),
        (true, None, None) => Ok(PayloadSelection::None),
        (false, Some(subject), None) => {
            arxi_format::record::check_label(&subject)
                .map_err(|reason| invalid("disclose_subject", reason))?;
            Ok(PayloadSelection::Subject(subject))
        }
        (false, None, Some(event_type)) => {
            arxi_format::record::check_event_type(&event_type)
                .map_err(|reason| invalid("disclose_type", reason))?;
            Ok(PayloadSelection::Type(event_type))
        }
        _ => Err(invalid(
            "(payloads)",
            "give at most one of withhold_payloads, disclose_subject and disclose_type",
        )),
    }
}

/// `POST /v1/bundles/build`: builds a bundle of sealed segments into the
/// bundle directory and records `arxi.bundle.built`. Body: `{}` (every
/// sealed segment), `{"first_segment": a, "last_segment": b}` or
/// `{"first_seq": a, "last_seq": b}` (the sealed segments holding them),
/// with at most one payload selection (`withhold_payloads`,
/// `disclose_subject`, `disclose_type`). With witnesses configured, the
/// bundle carries the newest witnessed checkpoint as its anchor when that
/// checkpoint covers its last envelope.
pub async fn build(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, true)?;
    let key = idempotency_key(&call, &body)?;
    let mut members = object(body, crate::members_of!(crate::contract::BuildRequest))?;
    // A retry of a finished build replays before any work is done.
    if let Some(replay) = super::replay_if_done(&call, key.as_ref()).await? {
        return Ok(replay);
    }
    let selection = selection(&mut members)?;
    let payloads = payload_selection(&mut members)?;
    let engine = Arc::clone(&call.state.engine);
    // With witnesses configured, the newest witnessed checkpoint anchors
    // the bundle when it covers its last envelope (Docs/format.md 11.7).
    // Without, nothing: a checkpoint only the recorder key signed adds
    // nothing to a bundle the same key signs.
    let anchor = if call.state.log.witnesses.is_empty() {
        None
    } else {
        call.state.log.witnessed().map(|(_, note)| note)
    };
    let (response, replayed) = on_bundle_pool(&call, move || {
        // Whatever fails before the publication, `staged` is dropped and
        // its file removed: a build that was not recorded leaves no file.
        let staged = engine
            .build_bundle_anchored(selection, &payloads, anchor.as_deref(), &mut |_| {})
            .map_err(bundle_problem)?;
        let answer = bundle_json(staged.file());
        let idempotency = key.map(|(key, request_hash)| IdempotencyRequest {
            key,
            request_hash,
            render: Box::new(move |receipt: &Receipt| render_built(&answer, receipt)),
        });
        let outcome = engine
            .record_bundle_built(&staged, idempotency)
            .map_err(submit_problem)?
            .wait()
            .map_err(command_problem)?;
        match outcome {
            Outcome::Done { value, response } => {
                let file = engine.publish_bundle(staged).map_err(bundle_problem)?;
                Ok((
                    response.unwrap_or_else(|| render_built(&bundle_json(&file), &value)),
                    false,
                ))
            }
            // A concurrent request with the same key finished first; this
            // copy is redundant (dropped, so removed).
            Outcome::Replayed(response) => Ok((response, true)),
        }
    })
    .await?;
    Ok(stored_reply(response, replayed))
}

fn render_built(bundle: &BundleInfo, receipt: &Receipt) -> StoredResponse {
    stored_json(
        201,
        &to_value(&BundleBuilt {
            bundle: bundle.clone(),
            recorded: Recorded {
                seq: receipt.seq,
                segment_id: receipt.segment_id,
                hash: receipt.hash.to_hex(),
            },
        }),
    )
}

/// The `id` query parameter, checked.
fn id_parameter(call: &Call) -> Result<String, Problem> {
    let id = super::query_value(call, "id")
        .ok_or_else(|| Problem::new(Code::BadRequest).detail("give ?id=<bundle id>"))?;
    checked_id(id)
}

fn checked_id(id: &str) -> Result<String, Problem> {
    if is_bundle_id(id) {
        Ok(id.to_owned())
    } else {
        Err(invalid("id", "a bundle id is 32 lowercase hex digits"))
    }
}

/// `GET /v1/bundles/download?id=ID`: the bundle file, streamed; only a
/// bundle an `arxi.bundle.built` envelope records.
pub async fn download(call: Call) -> Result<Reply, Problem> {
    let id = id_parameter(&call)?;
    let engine = Arc::clone(&call.state.engine);
    let open_id = id.clone();
    let (file, length) = super::run_blocking(&call, move || {
        engine
            .open_bundle(&open_id)
            .map_err(|error| stored_bundle_problem(error, &open_id))
    })
    .await?;
    let mut reply = Reply {
        status: StatusCode::OK,
        content_type: "application/octet-stream",
        body: ResponseBody::File(FileBody::new(Arc::clone(&call.state.reads), file, length)),
        headers: Vec::new(),
    };
    let disposition = format!("attachment; filename=\"{}\"", bundle_file_name(&id));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        reply
            .headers
            .push((http::header::CONTENT_DISPOSITION, value));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        reply
            .headers
            .push((HeaderName::from_static("x-arxi-bundle-id"), value));
    }
    Ok(reply)
}

/// The bundle a verify or inspect body names: `{"bundle_id": ...}` or
/// `{"bundle_base64": ...}`.
enum Source {
    Stored(String),
    Uploaded(Vec<u8>),
}

fn source(members: &mut Map<String, Value>) -> Result<Source, Problem> {
    let id = members.remove("bundle_id").filter(|value| !value.is_null());
    let upload = members
        .remove("bundle_base64")
        .filter(|value| !value.is_null());
    match (id, upload) {
        (Some(Value::String(id)), None) => Ok(Source::Stored(checked_id(&id)?)),
        (None, Some(Value::String(text))) => base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Source::Uploaded)
            .map_err(|e| invalid("bundle_base64", format!("not base64: {e}"))),
        (Some(_), None) => Err(invalid("bundle_id", "must be a string")),
        (None, Some(_)) => Err(invalid("bundle_base64", "must be a string")),
        (None, None) => Err(invalid("(body)", "give bundle_id or bundle_base64")),
        (Some(_), Some(_)) => Err(invalid(
            "(body)",
            "give bundle_id or bundle_base64, not both",
        )),
    }
}

/// Runs `read` over the named bundle on the bundle pool.
async fn with_bundle<T: Send + 'static>(
    call: &Call,
    source: Source,
    read: impl FnOnce(&mut dyn std::io::Read) -> T + Send + 'static,
) -> Result<T, Problem> {
    let engine = Arc::clone(&call.state.engine);
    on_bundle_pool(call, move || match source {
        Source::Stored(id) => {
            let (mut file, _) = engine
                .open_bundle(&id)
                .map_err(|error| stored_bundle_problem(error, &id))?;
            Ok(read(&mut file))
        }
        Source::Uploaded(bytes) => Ok(read(&mut &bytes[..])),
    })
    .await
}

/// `POST /v1/bundles/verify`: verifies a bundle against trusted keys
/// (`keys`: hex public keys; default: every key this recorder has signed
/// with). Always 200 with the report; `valid` is the verdict.
pub async fn verify(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, false)?;
    let mut members = object(body, crate::members_of!(crate::contract::BundleRequest))?;
    let source = source(&mut members)?;
    let keys = match members.remove("keys") {
        None | Some(Value::Null) => {
            let engine = Arc::clone(&call.state.engine);
            super::run_blocking(&call, move || {
                let keys = engine
                    .keys()
                    .map_err(|e| Problem::new(Code::StorageUnavailable).detail(e.to_string()))?;
                Ok(keys.into_iter().map(|key| key.public_key).collect())
            })
            .await?
        }
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= KEYS_MAX => items
            .iter()
            .map(|item| {
                item.as_str()
                    // `PublicKey::from_hex` forgives surrounding
                    // whitespace (key files end in a newline); a request
                    // does not.
                    .filter(|text| text.trim() == *text)
                    .ok_or_else(|| {
                        invalid("keys", "must hold public keys as 64 lowercase hex digits")
                    })
                    .and_then(|text| {
                        PublicKey::from_hex(text).map_err(|e| invalid("keys", e.to_string()))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(invalid(
                "keys",
                format!("must be an array of 1 to {KEYS_MAX} hex public keys"),
            ));
        }
    };
    let key_ids: Vec<String> = keys.iter().map(|key| key.id().to_string()).collect();
    let report = with_bundle(&call, source, move |input| {
        arxi_verify::verify_bundle(input, &keys, &arxi_verify::Options::default(), None)
    })
    .await?;
    let mut value = report.to_json();
    value["trusted_keys"] = json!(key_ids);
    Ok(json_reply(StatusCode::OK, &value))
}

/// `POST /v1/bundles/inspect`: what a bundle holds (no verification).
pub async fn inspect(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, false)?;
    let mut members = object(body, crate::members_of!(crate::contract::InspectRequest))?;
    let source = source(&mut members)?;
    let summary = with_bundle(&call, source, |input| arxi_verify::inspect_bundle(input)).await?;
    Ok(json_reply(StatusCode::OK, &summary.to_json()))
}
