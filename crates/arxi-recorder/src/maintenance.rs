//! Operator maintenance on a recorder database: a consistent online backup
//! and an offline end-to-end check, both without the recorder's writer.
//!
//! Both open their own connections (the backup a read-only one, the check
//! a read-only one inside one snapshot), so they run beside a live
//! recorder. Not here: restoring (a file move while the recorder is
//! stopped; the next open compares the database with its signed head,
//! `head.rs`) and the global Merkle tree over all segments, which does not
//! exist yet: segments are checked one by one and through the seal chain.

use std::path::Path;

use arxi_store::{ReadOnlyStore, StoreError};

use crate::OpenError;
use crate::head::{self, Rollback};

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
    /// Envelopes verified (hash, signature, chain link, receive time,
    /// index columns).
    pub envelopes: u64,
    /// Seals verified (hash, signature, Merkle root over the segment's
    /// envelopes, range, seal chain).
    pub seals: u64,
    /// The comparison with the signed head.
    pub head: HeadFinding,
}

/// Verifies the whole database at `database` offline, read-only: every
/// envelope and every seal; with `check_head`, also against the signed
/// head beside it. The error names the first bad record.
pub fn verify_data(database: &Path, check_head: bool) -> Result<DataReport, OpenError> {
    let (envelopes, seals) = crate::recovery::verify_database(database, None)?;
    let head = if check_head {
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
    Ok(DataReport {
        envelopes,
        seals,
        head,
    })
}
