//! Operator maintenance on a recorder database: a consistent online backup
//! and an offline end-to-end check, both without the recorder's writer.
//!
//! Both open their own connections (the backup a read-only one, the check
//! a read-only one inside one snapshot), so they run beside a live
//! recorder. Not here: restoring (a file move while the recorder is
//! stopped; the next open compares the database with its signed head,
//! `head.rs`) and the global Merkle tree over all segments, which does not
//! exist yet: segments are checked one by one and through the seal chain.

use std::collections::HashMap;
use std::path::Path;

use arxi_format::{ChainHead, Hash32, PublicKey};
use arxi_store::{EnvelopeRow, ReadOnlyStore, Reader, StoreError};

use crate::OpenError;
use crate::head::{self, Rollback};
use crate::recovery::{check_envelope_row, load_keys, load_state, verify_seal};

/// Findings kept in a report; more are counted, not kept.
pub const DATA_FINDINGS_MAX: usize = 1_000;

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupStats {
    /// Database pages copied.
    pub pages: u64,
    /// Bytes of the copy.
    pub bytes: u64,
}

/// Copies the database at `database` into the new file `destination` (mode
/// 0640) as one consistent snapshot, with SQLite's online backup API, while
/// a recorder may be writing it. Refuses an existing destination. The copy
/// holds the database only: never the signing key, nor the signed head.
pub fn backup_database(database: &Path, destination: &Path) -> Result<BackupStats, StoreError> {
    let stats = arxi_store::backup(database, destination)?;
    Ok(BackupStats {
        pages: stats.pages,
        bytes: stats.bytes,
    })
}

/// How the database compares with its signed head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFinding {
    /// Not compared (a copy checked on its own, e.g. a backup).
    NotChecked,
    /// No head file beside the database.
    Absent,
    /// The database reaches the signed head with the same hash.
    Reached,
    /// The database does not reach its signed head.
    Behind(Box<Rollback>),
}

/// What [`verify_data`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataReport {
    /// Envelopes that verified (hash, signature, chain link, receive
    /// time, index columns).
    pub envelopes: u64,
    /// Seals that verified (hash, signature, Merkle root over the
    /// segment's envelopes, range, seal chain).
    pub seals: u64,
    /// Every problem found, in sequence order then segment order (at most
    /// [`DATA_FINDINGS_MAX`]); the check goes on after each.
    pub findings: Vec<OpenError>,
    /// Findings past [`DATA_FINDINGS_MAX`], counted only.
    pub findings_dropped: u64,
    /// The comparison with the signed head.
    pub head: HeadFinding,
}

impl DataReport {
    /// True when nothing is wrong (the head included).
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty()
            && self.findings_dropped == 0
            && !matches!(self.head, HeadFinding::Behind(_))
    }

    fn finding(&mut self, finding: OpenError) {
        if self.findings.len() < DATA_FINDINGS_MAX {
            self.findings.push(finding);
        } else {
            self.findings_dropped += 1;
        }
    }
}

/// Verifies the whole database at `database` offline, read-only and in one
/// snapshot: every envelope and every seal, going on after each problem;
/// with `check_head`, also against the signed head beside it. An error
/// means it could not check (no such database, unreadable rows or keys).
pub fn verify_data(database: &Path, check_head: bool) -> Result<DataReport, OpenError> {
    let store = ReadOnlyStore::open(database)?;
    let mut report = DataReport {
        envelopes: 0,
        seals: 0,
        findings: Vec::new(),
        findings_dropped: 0,
        head: HeadFinding::NotChecked,
    };
    store.snapshot(|reader| Ok(check_all(&reader, &mut report)))??;
    report.head = if check_head {
        let path = head::head_path(database);
        let store = ReadOnlyStore::open(database)?;
        let found = store.snapshot(|reader| Ok(head::check(&reader, &path, None, None)))??;
        match found {
            Some(rollback) => HeadFinding::Behind(Box::new(rollback)),
            None if path.exists() => HeadFinding::Reached,
            None => HeadFinding::Absent,
        }
    } else {
        HeadFinding::NotChecked
    };
    Ok(report)
}

/// Every envelope, then every seal, into `report`.
fn check_all(reader: &Reader<'_>, report: &mut DataReport) -> Result<(), OpenError> {
    let keys = load_keys(reader)?;
    if let Err(finding) = load_state(*reader) {
        report.finding(finding);
    }
    let Some(last) = reader.last_envelope()? else {
        return Ok(());
    };
    let mut head = ChainHead::GENESIS;
    let mut last_received = 0_i64;
    reader.for_each_envelope(1, last.seq, |row| {
        check_envelope(&row, &keys, &mut head, &mut last_received, report);
        Ok(true)
    })?;
    let segments = reader
        .last_segment()?
        .map_or(0, |segment| segment.segment_id);
    for segment_id in 1..=segments {
        match verify_seal(reader, segment_id, &keys) {
            Ok(sealed) => report.seals += u64::from(sealed),
            Err(finding) => report.finding(finding),
        }
    }
    Ok(())
}

/// One envelope: its own checks, its link to `head` and its receive time;
/// the chain goes on from this row whatever was found, so one bad record
/// is reported once, not again for every one after it.
fn check_envelope(
    row: &EnvelopeRow,
    keys: &HashMap<String, PublicKey>,
    head: &mut ChainHead,
    last_received: &mut i64,
    report: &mut DataReport,
) {
    let invalid = |problem: String| OpenError::EnvelopeInvalid {
        seq: row.seq,
        problem,
    };
    let mut good = true;
    match check_envelope_row(row, keys) {
        Ok(envelope) => {
            if let Err(error) = head.check_next(&envelope.body) {
                report.finding(invalid(error.to_string()));
                good = false;
            }
        }
        Err(finding) => {
            report.finding(finding);
            good = false;
        }
    }
    if row.received_at_us < *last_received {
        report.finding(invalid("receive time goes backwards".into()));
        good = false;
    }
    report.envelopes += u64::from(good);
    *last_received = row.received_at_us;
    *head = ChainHead {
        seq: row.seq,
        hash: Hash32(row.hash),
    };
}
