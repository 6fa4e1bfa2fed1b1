//! `POST /v1/query/envelopes`: filters, an opaque cursor, a bounded page.
//!
//! Body (all optional): `segment_id`, `seq_from`, `seq_to`,
//! `received_from`, `received_before` (RFC 3339 timestamps as envelopes
//! carry them), `kind` (`data`/`control`), `type`, `actor`, `cursor`,
//! `limit`. Answers `{"envelopes": [<envelope>...], "next_cursor": ...,
//! "payloads": [...]}` with the stored canonical envelopes verbatim and,
//! for each version 2 envelope, its committed payload while it exists (or
//! the erasure that removed it).

use arxi_format::record::{check_event_type, check_label};
use arxi_format::{Kind, Timestamp};
use arxi_recorder::{EnvelopeQuery, QueryError, QueryResult};
use bytes::{BufMut as _, Bytes, BytesMut};
use http::StatusCode;

use super::{invalid, object, optional_string, optional_u64, parse_body, run_blocking};
use crate::call::{Call, Reply};
use crate::problem::{Code, Problem};

/// A filter value that must follow the rule of the member it matches (a
/// value no envelope can hold is a mistake, not an empty result).
fn checked(
    text: Option<String>,
    field: &str,
    rule: fn(&str) -> Result<(), String>,
) -> Result<Option<String>, Problem> {
    if let Some(text) = &text {
        rule(text).map_err(|reason| invalid(field, reason))?;
    }
    Ok(text)
}

/// One version 2 envelope's committed payload as answered.
fn payload_entry(view: &arxi_recorder::PayloadView) -> crate::contract::PayloadEntry {
    use arxi_format::payload::Disclosure;
    let (content, salt, erased_by) = match &view.disclosure {
        Disclosure::Disclosed { content, salt } => (
            Some(
                arxi_format::CanonicalJson::from_canonical(&content.canonical_bytes())
                    .expect("committed content is written canonical")
                    .to_value(),
            ),
            Some(salt.to_hex()),
            None,
        ),
        Disclosure::Erased { erased_by } => (None, None, Some(*erased_by)),
        Disclosure::Withheld => (None, None, None),
    };
    crate::contract::PayloadEntry {
        seq: view.seq,
        state: view.disclosure.state().to_owned(),
        content,
        salt,
        erased_by,
    }
}

/// `POST /v1/query/envelopes`.
pub async fn envelopes(call: Call) -> Result<Reply, Problem> {
    let body = parse_body(&call, true)?;
    let mut members = object(body, crate::members_of!(crate::contract::QueryRequest))?;
    let timestamp = |text: Option<String>, field: &str| -> Result<Option<Timestamp>, Problem> {
        text.map(|text| Timestamp::parse(&text).map_err(|error| invalid(field, error.to_string())))
            .transpose()
    };
    let kind = match optional_string(&mut members, "kind")?.as_deref() {
        None => None,
        Some(text) => Some(
            Kind::parse(text).ok_or_else(|| invalid("kind", "must be \"data\" or \"control\""))?,
        ),
    };
    let limit = optional_u64(&mut members, "limit")?
        .map(|limit| u32::try_from(limit).map_err(|_| invalid("limit", "is too large")))
        .transpose()?;
    let query = EnvelopeQuery {
        segment_id: optional_u64(&mut members, "segment_id")?,
        seq_from: optional_u64(&mut members, "seq_from")?,
        seq_to: optional_u64(&mut members, "seq_to")?,
        received_from: timestamp(
            optional_string(&mut members, "received_from")?,
            "received_from",
        )?,
        received_before: timestamp(
            optional_string(&mut members, "received_before")?,
            "received_before",
        )?,
        kind,
        event_type: checked(
            optional_string(&mut members, "type")?,
            "type",
            check_event_type,
        )?,
        actor: checked(
            optional_string(&mut members, "actor")?,
            "actor",
            check_label,
        )?,
        cursor: optional_string(&mut members, "cursor")?,
        limit,
    };
    let engine = std::sync::Arc::clone(&call.state.engine);
    let result = run_blocking(&call, move || engine.query(&query).map_err(query_problem)).await?;
    Ok(Reply::json(StatusCode::OK, page_body(&result)))
}

/// The answer's body: the stored envelopes are canonical JSON already, so
/// they are spliced in.
fn page_body(result: &QueryResult) -> Bytes {
    let size = result.envelopes.iter().map(Vec::len).sum::<usize>() + result.envelopes.len() + 64;
    let mut out = BytesMut::with_capacity(size);
    out.put_slice(b"{\"envelopes\":[");
    for (index, envelope) in result.envelopes.iter().enumerate() {
        if index > 0 {
            out.put_u8(b',');
        }
        out.put_slice(envelope);
    }
    out.put_slice(b"],\"next_cursor\":");
    match &result.next_cursor {
        Some(cursor) => out.put_slice(serde_json::to_string(cursor).unwrap_or_default().as_bytes()),
        None => out.put_slice(b"null"),
    }
    out.put_slice(b",\"payloads\":");
    let payloads: Vec<_> = result.payloads.iter().map(payload_entry).collect();
    out.put_slice(crate::contract::to_value(&payloads).to_string().as_bytes());
    out.put_u8(b'}');
    out.freeze()
}

/// Maps a failed query.
fn query_problem(error: QueryError) -> Problem {
    match error {
        QueryError::InvalidCursor => Problem::new(Code::InvalidCursor)
            .detail(
                "the cursor was not issued by this recorder: pass a page's next_cursor unchanged",
            )
            .with("field", "cursor"),
        QueryError::Pruned(range) => crate::handlers::pruned_problem(&range),
        QueryError::InvalidRange(reason) => {
            let field = if reason.starts_with("limit") {
                "limit"
            } else {
                "(range)"
            };
            invalid(field, reason)
        }
        QueryError::Storage(error) => {
            Problem::new(Code::StorageUnavailable).detail(error.to_string())
        }
    }
}
