//! The recorder's side of archiving and retention: what has been archived
//! and pruned, the archive bundle of a run of segments, and the typed
//! answer for reads that reach pruned segments.
//!
//! The upload itself (S3, retries, checks) is not here: it is the
//! `arxi-archive` crate's, which asks the engine for a run's bundle and
//! records the result through [`crate::RecorderEngine::record_archived`]
//! (an `arxi.segment.archived` envelope and the archive row, one
//! transaction). Pruning is planned by the sequencer (`retention.rs`).

use std::io::Write;

use arxi_format::seal::Seal;
use arxi_format::{Hash32, Signer, Timestamp};
use arxi_store::{ArchivedRow, Reader, StoreError};

use crate::bundle::{BuiltBundle, BundleError, PayloadSelection, write_bundle};
use crate::pruned::pruned_from;

/// A run of sealed segments uploaded to the archive and confirmed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// First segment of the bundle.
    pub first_segment: u64,
    /// Last segment of the bundle.
    pub last_segment: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// The object's key in the bucket.
    pub object_key: String,
    /// SHA-256 of the bundle (as uploaded and checked).
    pub sha256: Hash32,
    /// Bytes.
    pub size: u64,
}

impl ArchiveRecord {
    pub(crate) fn from_row(row: &ArchivedRow) -> Self {
        Self {
            first_segment: row.first_segment,
            last_segment: row.last_segment,
            first_seq: row.first_seq,
            last_seq: row.last_seq,
            object_key: row.object_key.clone(),
            sha256: Hash32(row.sha256),
            size: row.size,
        }
    }

    pub(crate) fn to_row(&self, seq: u64, archived_at_us: i64) -> ArchivedRow {
        ArchivedRow {
            first_segment: self.first_segment,
            last_segment: self.last_segment,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            object_key: self.object_key.clone(),
            sha256: self.sha256.0,
            size: self.size,
            seq,
            archived_at_us,
        }
    }
}

/// How far archiving has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivePosition {
    /// Segments `1..=archived_through` are archived (0: none).
    pub archived_through: u64,
    /// Segments `1..=sealed_through` are sealed (0: none).
    pub sealed_through: u64,
    /// When the oldest sealed segment not archived yet was sealed (µs).
    pub oldest_pending_sealed_at_us: Option<i64>,
}

impl ArchivePosition {
    /// Sealed segments not archived yet.
    pub fn lag_segments(&self) -> u64 {
        self.sealed_through.saturating_sub(self.archived_through)
    }
}

/// What retention has done, and the database's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionStatus {
    /// Segments `1..=pruned_through_segment` are pruned locally.
    pub pruned_through_segment: u64,
    /// Envelopes `1..=pruned_through_seq` are pruned locally.
    pub pruned_through_seq: u64,
    /// The database file's size (pages times page size).
    pub database_bytes: u64,
    /// Of which on the free list.
    pub free_bytes: u64,
}

pub(crate) fn position(reader: &Reader<'_>) -> Result<ArchivePosition, StoreError> {
    let archived_through = reader.last_archived()?.map_or(0, |row| row.last_segment);
    let sealed_through = match reader.last_segment()? {
        Some(segment) if segment.is_sealed() => segment.segment_id,
        Some(segment) => segment.segment_id - 1,
        None => 0,
    };
    let oldest_pending_sealed_at_us = if sealed_through > archived_through {
        reader
            .segment(archived_through + 1)?
            .and_then(|segment| segment.sealed_at_us)
    } else {
        None
    };
    Ok(ArchivePosition {
        archived_through,
        sealed_through,
        oldest_pending_sealed_at_us,
    })
}

pub(crate) fn retention_status(reader: &Reader<'_>) -> Result<RetentionStatus, StoreError> {
    let pruned = reader.pruned_through()?;
    let space = reader.space()?;
    Ok(RetentionStatus {
        pruned_through_segment: pruned.as_ref().map_or(0, |row| row.last_segment),
        pruned_through_seq: pruned.as_ref().map_or(0, |row| row.last_seq),
        database_bytes: space.page_count * space.page_size,
        free_bytes: space.freelist_pages * space.page_size,
    })
}

/// Writes the archive bundle of segments `first..=last` (all sealed) to
/// `out`. Its bytes depend only on the stored rows and the signing key:
/// the manifest is dated with the last seal's time, not the clock, so a
/// bundle rebuilt after a restart is the same file with the same SHA-256
/// (and the same object key).
pub(crate) fn write_archive_bundle(
    reader: &Reader<'_>,
    first_segment: u64,
    last_segment: u64,
    key: &Signer,
    out: impl Write,
) -> Result<BuiltBundle, BundleError> {
    if first_segment == 0 || first_segment > last_segment {
        return Err(BundleError::InvalidSelection(format!(
            "segments {first_segment}..={last_segment}"
        )));
    }
    if let Some(range) = pruned_from(reader, first_segment)? {
        return Err(BundleError::Pruned(range));
    }
    let seal_row = reader
        .seal(last_segment)?
        .ok_or(BundleError::NotSealed(last_segment))?;
    let seal = Seal::parse(&seal_row.body)
        .map_err(|e| BundleError::Inconsistent(format!("seal of segment {last_segment}: {e}")))?;
    let created_at: Timestamp = seal.body.sealed_at;
    // Every payload not erased and not sealed under a subject key: the
    // archive is where the envelopes live once pruned (Docs/format.md 10.1
    // says what an erasure reaches), and a payload that crypto-shredding
    // must be able to erase never goes there (10.2). No
    // witnessed anchor: an archive bundle is a function of the stored
    // envelope and seal rows alone (its object key is its SHA-256, and it
    // is rebuilt byte for byte), while which checkpoint is witnessed and
    // which cosignatures it carries change as witnesses answer
    // (Docs/format.md 11.7).
    write_bundle(
        reader,
        first_segment..=last_segment,
        &PayloadSelection::Unsealed,
        None,
        key,
        created_at,
        out,
        &mut |_| {},
    )
}
