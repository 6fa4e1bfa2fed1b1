//! Control envelopes: the recorder's own actions recorded in the same chain
//! (R-EV-6). Their types and payload shapes are part of the evidence format
//! (`Docs/format.md` §10); payloads are small JSON objects built here.

use arxi_format::envelope::Envelope;
use arxi_format::{CanonicalJson, Hash32};
use arxi_store::EnvelopeRow;
use serde_json::{Value, json};

use crate::bundle::{BundleFile, RecordedBundle, is_bundle_id};

use crate::control_types;

/// Why a segment was opened or sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// An explicit API request.
    Api,
    /// An envelope arrived with no segment open.
    Append,
    /// The envelope count limit.
    Count,
    /// The byte limit.
    Bytes,
    /// The age limit.
    Age,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Append => "append",
            Self::Count => "count",
            Self::Bytes => "bytes",
            Self::Age => "age",
        }
    }
}

pub(crate) fn canonical(value: &Value) -> CanonicalJson {
    // Control payloads are built from strings and small integers only.
    CanonicalJson::from_value(value)
        .unwrap_or_else(|error| panic!("control payload without canonical form: {error}"))
}

pub(crate) fn segment_opened(
    segment_id: u64,
    reason: Reason,
    prev_seal_hash: &Hash32,
) -> CanonicalJson {
    canonical(&json!({
        "segment_id": segment_id,
        "reason": reason.as_str(),
        "prev_seal_hash": prev_seal_hash.to_hex(),
    }))
}

pub(crate) fn segment_sealed(segment_id: u64, reason: Reason) -> CanonicalJson {
    canonical(&json!({"segment_id": segment_id, "reason": reason.as_str()}))
}

/// The payload of `arxi.bundle.built` for a built bundle file.
pub(crate) fn bundle_built(file: &BundleFile) -> CanonicalJson {
    let built = &file.built;
    canonical(&json!({
        "bundle_id": file.id,
        "sha256": built.sha256.to_hex(),
        "size": built.bytes,
        "manifest_hash": built.manifest_hash.to_hex(),
        "first_segment": built.segments.start(),
        "last_segment": built.segments.end(),
        "first_seq": built.seqs.start(),
        "last_seq": built.seqs.end(),
        "envelopes": built.envelopes,
    }))
}

/// The payload of `arxi.segment.archived`.
pub(crate) fn segment_archived(record: &crate::ArchiveRecord) -> CanonicalJson {
    canonical(&json!({
        "object_key": record.object_key,
        "sha256": record.sha256.to_hex(),
        "size": record.size,
        "first_segment": record.first_segment,
        "last_segment": record.last_segment,
        "first_seq": record.first_seq,
        "last_seq": record.last_seq,
    }))
}

/// The payload of `arxi.segment.pruned`: the segments and sequence
/// numbers whose rows go, and the archive objects that hold them (at most
/// [`crate::retention::PRUNE_RUNS_MAX`] keys: one pruning covers at most
/// that many archived runs).
pub(crate) fn segment_pruned(
    first_segment: u64,
    last_segment: u64,
    first_seq: u64,
    last_seq: u64,
    object_keys: &[String],
) -> CanonicalJson {
    canonical(&json!({
        "first_segment": first_segment,
        "last_segment": last_segment,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "object_keys": object_keys,
    }))
}

/// Reads back what an `arxi.bundle.built` envelope row records. The row
/// is untrusted: anything missing or malformed is an error naming it.
pub(crate) fn parse_bundle_built(row: &EnvelopeRow) -> Result<RecordedBundle, String> {
    if row.event_type != control_types::BUNDLE_BUILT {
        return Err(format!("is a {} envelope", row.event_type));
    }
    let envelope = Envelope::parse(&row.body).map_err(|error| error.to_string())?;
    let carried = envelope
        .body
        .payload
        .inline()
        .ok_or_else(|| "a control envelope without its payload".to_owned())?;
    let payload: Value =
        serde_json::from_slice(carried.as_bytes()).map_err(|error| format!("payload: {error}"))?;
    let text = |member: &str| {
        payload[member]
            .as_str()
            .ok_or_else(|| format!("payload has no string {member}"))
    };
    let bundle_id = text("bundle_id")?;
    if !is_bundle_id(bundle_id) {
        return Err(format!(
            "payload bundle_id {bundle_id:?} is not a bundle id"
        ));
    }
    let sha256 = Hash32::from_hex(text("sha256")?).map_err(|error| format!("sha256: {error}"))?;
    let size = payload["size"]
        .as_u64()
        .ok_or_else(|| "payload has no integer size".to_owned())?;
    Ok(RecordedBundle {
        id: bundle_id.to_owned(),
        seq: row.seq,
        size,
        sha256,
    })
}

/// An unsigned integer member of a control payload, or an error naming it.
fn member_u64(payload: &Value, member: &str) -> Result<u64, String> {
    payload[member]
        .as_u64()
        .ok_or_else(|| format!("payload has no integer {member}"))
}

/// Reads back what an `arxi.segment.archived` payload records (untrusted:
/// anything missing or malformed is an error naming it).
pub(crate) fn parse_segment_archived(payload: &Value) -> Result<crate::ArchiveRecord, String> {
    let text = |member: &str| {
        payload[member]
            .as_str()
            .ok_or_else(|| format!("payload has no string {member}"))
    };
    Ok(crate::ArchiveRecord {
        first_segment: member_u64(payload, "first_segment")?,
        last_segment: member_u64(payload, "last_segment")?,
        first_seq: member_u64(payload, "first_seq")?,
        last_seq: member_u64(payload, "last_seq")?,
        object_key: text("object_key")?.to_owned(),
        sha256: Hash32::from_hex(text("sha256")?).map_err(|error| format!("sha256: {error}"))?,
        size: member_u64(payload, "size")?,
    })
}

/// Reads back the ranges an `arxi.segment.pruned` payload records:
/// (first segment, last segment, first seq, last seq).
pub(crate) fn parse_segment_pruned(payload: &Value) -> Result<(u64, u64, u64, u64), String> {
    Ok((
        member_u64(payload, "first_segment")?,
        member_u64(payload, "last_segment")?,
        member_u64(payload, "first_seq")?,
        member_u64(payload, "last_seq")?,
    ))
}
