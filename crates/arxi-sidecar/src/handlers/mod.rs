//! Route handlers and what they share: strict JSON bodies with typed
//! errors, field extraction, idempotency plumbing, mapping recorder errors
//! to problems, and running SQLite reads off the runtime thread.

pub mod admin;
pub mod bundles;
pub mod envelopes;
pub mod erasures;
pub mod keys;
pub mod log;
pub mod probes;
pub mod query;
pub mod segments;
pub mod web;

use arxi_format::json::JsonErrorKind;
use arxi_format::{CanonicalJson, Hash32};
use arxi_recorder::{
    CommandError, IdempotencyKey, IdempotencyRequest, Outcome, StoredResponse, SubmitError,
};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::call::{Call, Reply};
use crate::problem::{Code, Problem};

/// Parses a body strictly, under the ingest rules (duplicate keys,
/// integer range, overflow and underflow, noncharacters, depth).
pub fn parse_body(call: &Call, optional: bool) -> Result<Value, Problem> {
    parse_body_nested(call, optional, 0)
}

/// [`parse_body`] for a body that holds envelope requests `wrapping`
/// levels further down than `POST /v1/envelopes` does (a batch: 2, its
/// array and the item), so each payload keeps the same 63 levels.
pub fn parse_body_nested(call: &Call, optional: bool, wrapping: usize) -> Result<Value, Problem> {
    if call.body.is_empty() && optional {
        return Ok(Value::Object(Map::new()));
    }
    let options = arxi_format::json::ParseOptions {
        max_depth: arxi_format::json::ParseOptions::INGEST.max_depth + wrapping,
        ..arxi_format::json::ParseOptions::INGEST
    };
    arxi_format::json::parse_with(&call.body, options).map_err(|error| {
        let code = match error.kind {
            JsonErrorKind::DuplicateKey(_) => Code::DuplicateJsonKey,
            JsonErrorKind::IntegerOutOfRange => Code::IntegerOutOfRange,
            JsonErrorKind::NumberOutOfRange | JsonErrorKind::NumberUnderflow => {
                Code::NumberOutOfRange
            }
            JsonErrorKind::Noncharacter(_) => Code::NoncharacterInString,
            JsonErrorKind::TooDeep(_) => Code::JsonTooDeep,
            _ => Code::MalformedJson,
        };
        Problem::new(code)
            .detail(error.to_string())
            .with("offset", error.offset as u64)
    })
}

/// The value of query parameter `name` (empty when given without `=`).
/// The pipeline has already refused unknown and repeated parameters
/// (`pipeline::check_query`), so the first match is the only one.
pub fn query_value<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.query
        .as_deref()?
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// A query parameter holding a decimal integer in its one spelling
/// (digits, no sign, no leading zeros), in `range`; else 422 naming it.
pub fn query_number(
    call: &Call,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    rule: impl FnOnce() -> String,
) -> Result<Option<u64>, Problem> {
    let Some(text) = query_value(call, name) else {
        return Ok(None);
    };
    arxi_format::note::parse_decimal(text)
        .filter(|number| range.contains(number))
        .map(Some)
        .ok_or_else(|| invalid(name, rule()))
}

/// A value that has no canonical form: numbers that would be written as an
/// integer beyond ±(2^53-1) and over-deep nesting get their typed codes.
pub fn canonical_problem(field: &str, error: &arxi_format::CanonicalError) -> Problem {
    let code = match error {
        arxi_format::CanonicalError::IntegerOutOfRange(_) => Code::IntegerOutOfRange,
        arxi_format::CanonicalError::TooDeep(_) => Code::JsonTooDeep,
        arxi_format::CanonicalError::Json(_) => Code::ValidationFailed,
    };
    Problem::new(code)
        .detail(format!("{field}: {error}"))
        .with("field", field)
}

/// A field that breaks a rule.
pub fn invalid(field: &str, reason: impl Into<String>) -> Problem {
    let reason = reason.into();
    Problem::new(Code::ValidationFailed)
        .detail(format!("{field}: {reason}"))
        .with("field", field)
}

/// A JSON object body, refusing members outside `allowed` (a request
/// type's members: `members_of!(Type)`).
pub fn object(value: Value, allowed: &[String]) -> Result<Map<String, Value>, Problem> {
    let Value::Object(members) = value else {
        return Err(invalid("(body)", "must be a JSON object"));
    };
    if let Some(unknown) = members.keys().find(|key| !allowed.contains(key)) {
        return Err(invalid(unknown, "unknown field"));
    }
    Ok(members)
}

/// An optional string member.
pub fn optional_string(
    members: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, Problem> {
    match members.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// A required string member.
pub fn required_string(members: &mut Map<String, Value>, field: &str) -> Result<String, Problem> {
    optional_string(members, field)?.ok_or_else(|| invalid(field, "is required"))
}

/// An optional non-negative integer member (at most 2^53-1; see
/// [`non_negative_integer`]).
pub fn optional_u64(members: &mut Map<String, Value>, field: &str) -> Result<Option<u64>, Problem> {
    match members.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => non_negative_integer(&value)
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a non-negative integer")),
    }
}

/// A JSON number that is an integer from 0 to 2^53-1. As in JSON Schema,
/// a number with a zero fraction is an integer: `7.0` is 7.
pub fn non_negative_integer(value: &Value) -> Option<u64> {
    const LIMIT: f64 = crate::contract::SAFE_INTEGER_MAX_F64;
    value
        .as_u64()
        .filter(|integer| *integer <= crate::contract::SAFE_INTEGER_MAX)
        .or_else(|| {
            let float = value.as_f64()?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            // Integral and within 0..=2^53-1: the conversion is exact.
            (float.fract() == 0.0 && (0.0..=LIMIT).contains(&float)).then_some(float as u64)
        })
}

/// The `Idempotency-Key` of a mutation, with the request hash: SHA-256 of
/// the canonical JSON of `{"body": <body>, "method": ..., "path": ...}`.
pub fn idempotency_key(
    call: &Call,
    body: &Value,
) -> Result<Option<(IdempotencyKey, Hash32)>, Problem> {
    let Some(header) = call.headers.get("idempotency-key") else {
        return Ok(None);
    };
    let limit =
        usize::try_from(call.config.model().limits.idempotency_key_bytes_max).unwrap_or(255);
    let key = header.to_str().map_err(|_| {
        Problem::new(Code::InvalidIdempotencyKey).detail("the key must be visible ASCII")
    })?;
    IdempotencyKey::check_key(key)
        .and_then(|()| {
            if key.len() > limit {
                Err(format!("must be at most {limit} bytes"))
            } else {
                Ok(())
            }
        })
        .map_err(|reason| {
            Problem::new(Code::InvalidIdempotencyKey).detail(format!("Idempotency-Key {reason}"))
        })?;
    let request = json!({
        "method": call.route.method.as_str(),
        "path": call.route.path,
        "body": body,
    });
    let canonical =
        CanonicalJson::from_value(&request).map_err(|error| canonical_problem("(body)", &error))?;
    Ok(Some((
        IdempotencyKey {
            method: call.route.method.as_str().to_owned(),
            path: call.route.path.to_owned(),
            key: key.to_owned(),
        },
        Hash32::of(canonical.as_bytes()),
    )))
}

/// For mutations that do work before the recorder sees them: a retry of a
/// finished request replays its stored answer (`Some`), a reused key with
/// another request conflicts, a fresh key goes on (`None`).
pub async fn replay_if_done(
    call: &Call,
    key: Option<&(IdempotencyKey, Hash32)>,
) -> Result<Option<Reply>, Problem> {
    let Some((key, request_hash)) = key else {
        return Ok(None);
    };
    let engine = std::sync::Arc::clone(&call.state.engine);
    let (key, hash) = (key.clone(), *request_hash);
    let lookup = run_blocking(call, move || {
        engine
            .idempotency_check(&key, &hash)
            .map_err(command_problem)
    })
    .await?;
    match lookup {
        arxi_recorder::IdempotencyLookup::Replay(response) => {
            Ok(Some(stored_reply(response, true)))
        }
        arxi_recorder::IdempotencyLookup::Conflict => {
            Err(command_problem(CommandError::IdempotencyConflict))
        }
        arxi_recorder::IdempotencyLookup::Fresh => Ok(None),
    }
}

/// Turns a key and a renderer into the recorder's idempotency request.
pub fn idempotency_request<T: 'static>(
    key: Option<(IdempotencyKey, Hash32)>,
    render: impl Fn(&T) -> StoredResponse + Send + 'static,
) -> Option<IdempotencyRequest<T>> {
    key.map(|(key, request_hash)| IdempotencyRequest {
        key,
        request_hash,
        render: Box::new(render),
    })
}

/// A stored response as the reply (`replayed` adds `Idempotent-Replayed`).
pub fn stored_reply(response: StoredResponse, replayed: bool) -> Reply {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut reply = Reply::json(status, response.body.into_bytes());
    if replayed {
        reply.headers.push((
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        ));
    }
    reply
}

/// The reply for a mutation's outcome, rendered the same way whether or
/// not it was stored for replay.
pub fn outcome_reply<T>(outcome: Outcome<T>, render: impl Fn(&T) -> StoredResponse) -> Reply {
    match outcome {
        Outcome::Done { value, response } => {
            stored_reply(response.unwrap_or_else(|| render(&value)), false)
        }
        Outcome::Replayed(response) => stored_reply(response, true),
    }
}

/// `410 range_pruned`: what was asked for is in the archive, not here.
pub fn pruned_problem(range: &arxi_recorder::PrunedRange) -> Problem {
    Problem::new(Code::RangePruned)
        .detail(range.to_string())
        .with("pruned_through_seq", range.through_seq)
        .with("pruned_through_segment", range.through_segment)
        .with("object_keys", range.object_keys.clone())
}

/// Maps a refused submission.
pub fn submit_problem(error: SubmitError) -> Problem {
    match error {
        SubmitError::Overloaded { retry_after } => Problem::new(Code::RecorderOverloaded)
            .retry_after_ms(u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX)),
        SubmitError::Stopped => Problem::new(Code::ShuttingDown),
        SubmitError::Invalid { field, reason } => invalid(field, reason),
        SubmitError::TooLarge { bytes, limit } => Problem::new(Code::PayloadTooLarge).detail(
            format!("the envelope would be {bytes} bytes; the limit is {limit}"),
        ),
        SubmitError::RandomUnavailable(reason) => Problem::new(Code::InternalError).detail(reason),
        SubmitError::Storage(reason) => Problem::new(Code::StorageUnavailable).detail(reason),
        SubmitError::RevokesSigningKey { key_id } => Problem::new(Code::KeyInUse)
            .detail(format!(
                "{key_id} is the recorder's signing key: restart with a new key, then revoke it"
            ))
            .with("key_id", key_id.to_string()),
        SubmitError::UnknownKey { key_id } => Problem::new(Code::KeyNotFound)
            .detail(format!(
                "{key_id} is not a key this recorder has signed with"
            ))
            .with("key_id", key_id.to_string()),
        SubmitError::InBatch { index, error } => at_index(submit_problem(*error), index),
    }
}

/// A problem with one envelope of a batch: its `field` (when it names one)
/// becomes `envelopes[index].field`, and `index` says which envelope.
pub fn at_index(mut problem: Problem, index: usize) -> Problem {
    let field = match problem.extra.get("field").and_then(Value::as_str) {
        Some(field) => format!("envelopes[{index}].{field}"),
        None => format!("envelopes[{index}]"),
    };
    problem.detail = problem
        .detail
        .map(|detail| format!("envelope {index}: {detail}"));
    problem.extra.insert("field".into(), Value::String(field));
    problem.with("index", index as u64)
}

/// Maps a failed command.
pub fn command_problem(error: CommandError) -> Problem {
    match error {
        CommandError::Storage(error) => {
            Problem::new(Code::StorageUnavailable).detail(error.to_string())
        }
        CommandError::Unavailable(reason) => Problem::new(Code::StorageUnavailable).detail(reason),
        CommandError::SignerUnavailable(reason) => {
            Problem::new(Code::SignerUnavailable).detail(reason)
        }
        CommandError::IdempotencyConflict => Problem::new(Code::IdempotencyConflict)
            .detail("this Idempotency-Key was used with a different request"),
        CommandError::IdempotencyUnavailable(reason) => {
            Problem::new(Code::IdempotencyUnavailable).detail(reason)
        }
        CommandError::NoOpenSegment => Problem::new(Code::NoOpenSegment),
        CommandError::SegmentAlreadyOpen { segment_id } => Problem::new(Code::SegmentAlreadyOpen)
            .detail(format!("segment {segment_id} is open"))
            .with("segment_id", segment_id),
        CommandError::Stopped => Problem::new(Code::ShuttingDown),
        CommandError::ClockOutOfRange { .. } => {
            Problem::new(Code::ClockUnavailable).detail(error.to_string())
        }
        CommandError::NothingToErase { skipped } => Problem::new(Code::NothingToErase)
            .detail("no envelope named has a payload left to erase")
            .with(
                "skipped",
                crate::contract::to_value(&erasures::skipped_json(&skipped)),
            ),
    }
}

/// Runs blocking work (SQLite reads, the reload mutation) on the read
/// pool, off the runtime thread, and awaits it.
pub async fn run_blocking<T: Send + 'static>(
    call: &Call,
    work: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let receiver = call.state.reads.run(work).map_err(|_| {
        Problem::new(Code::RequestCapacityExhausted).detail("the read queue is full")
    })?;
    receiver
        .await
        .map_err(|_| Problem::new(Code::InternalError).detail("read worker stopped"))?
}

/// A segment as answered.
pub fn segment_json(segment: &arxi_recorder::SegmentInfo) -> crate::contract::Segment {
    crate::contract::Segment {
        segment_id: segment.segment_id,
        first_seq: segment.first_seq,
        last_seq: segment.last_seq,
        envelope_count: segment.envelope_count,
        bytes: segment.bytes,
        opened_at: segment.opened_at.to_string(),
        sealed_at: segment.sealed_at.map(|t| t.to_string()),
    }
}
