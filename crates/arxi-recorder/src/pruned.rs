//! Reads that reach the pruned prefix: [`PrunedRange`] names the archive
//! objects that hold what was asked for, so a query or a bundle build
//! answers with them instead of a result that silently leaves the pruned
//! part out. A leaf: it reads the store and nothing of the recorder.

use std::fmt;

use arxi_store::{Reader, StoreError};

/// Archive objects named at most in one [`PrunedRange`].
pub(crate) const OBJECT_KEYS_NAMED_MAX: u32 = 100;

/// A read reached envelopes that are pruned locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRange {
    /// Segments `1..=through_segment` are pruned.
    pub through_segment: u64,
    /// Envelopes `1..=through_seq` are pruned; the first one kept locally
    /// is `through_seq + 1`.
    pub through_seq: u64,
    /// The archive objects holding the pruned part that was asked for,
    /// oldest first (at most 100).
    pub object_keys: Vec<String>,
}

impl fmt::Display for PrunedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "envelopes 1..={} (segments 1..={}) are pruned locally; they are archived in {}",
            self.through_seq,
            self.through_segment,
            self.object_keys.join(", ")
        )
    }
}

/// The pruned range a read from `first_segment` on reaches, if any.
pub(crate) fn pruned_from(
    reader: &Reader<'_>,
    first_segment: u64,
) -> Result<Option<PrunedRange>, StoreError> {
    let Some(pruned) = reader.pruned_through()? else {
        return Ok(None);
    };
    if first_segment > pruned.last_segment {
        return Ok(None);
    }
    let object_keys = reader
        .archived_covering(first_segment, pruned.last_segment, OBJECT_KEYS_NAMED_MAX)?
        .into_iter()
        .map(|row| row.object_key)
        .collect();
    Ok(Some(PrunedRange {
        through_segment: pruned.last_segment,
        through_seq: pruned.last_seq,
        object_keys,
    }))
}

/// The pruned range a read from envelope `seq` on reaches, if any.
pub(crate) fn pruned_from_seq(
    reader: &Reader<'_>,
    seq: u64,
) -> Result<Option<PrunedRange>, StoreError> {
    let Some(pruned) = reader.pruned_through()? else {
        return Ok(None);
    };
    if seq > pruned.last_seq {
        return Ok(None);
    }
    let segment = reader
        .segment_of_seq(seq)?
        .map_or(1, |segment| segment.segment_id);
    pruned_from(reader, segment)
}

/// The pruned range a query reaches, if any: a query whose lowest
/// possible match lies in the pruned prefix is answered with the archive
/// objects instead of a page that silently leaves the pruned part out.
pub(crate) fn pruned_for_query(
    reader: &Reader<'_>,
    filter: &arxi_store::QueryFilter,
) -> Result<Option<PrunedRange>, StoreError> {
    let Some(pruned) = reader.pruned_through()? else {
        return Ok(None);
    };
    if let Some(segment_id) = filter.segment_id {
        return pruned_from(reader, segment_id);
    }
    let mut low = filter
        .seq_min
        .unwrap_or(1)
        .max(filter.after_seq.map_or(1, |after| after.saturating_add(1)));
    // Every pruned envelope was received before its segment was sealed
    // (receive times never decrease), so a time filter from after the
    // last pruned seal reaches no pruned envelope.
    if let Some(from) = filter.received_from_us
        && let Some(sealed_at) = reader
            .segment(pruned.last_segment)?
            .and_then(|segment| segment.sealed_at_us)
        && from > sealed_at
    {
        low = low.max(pruned.last_seq + 1);
    }
    if low > pruned.last_seq {
        return Ok(None);
    }
    pruned_from_seq(reader, low)
}
