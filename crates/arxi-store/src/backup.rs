//! Consistent copies of a live database, and read-only access for offline
//! checks.
//!
//! [`backup`] uses SQLite's online backup API in one step: the copy is one
//! read transaction's snapshot, taken while the recorder keeps writing
//! (WAL readers never block the writer), so it is consistent without
//! stopping anything. A file copy of `arxi.db` alone would miss what is
//! still in the WAL, and a copy of both files taken at different moments
//! can be torn.
//!
//! What it deliberately does not do: overwrite anything, or restore. The
//! copy goes to a new file (mode 0640, written under a temporary name, synced,
//! then renamed), and restoring is the operator's file move done while the
//! recorder is stopped (`docker/sidecar/README.md`, "Backup and restore").

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::{Reader, StoreError, open_read_only};

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupStats {
    /// Database pages copied.
    pub pages: u64,
    /// Bytes of the copy on disk.
    pub bytes: u64,
}

fn cant_open(path: &Path, reason: impl std::fmt::Display) -> StoreError {
    StoreError::CantOpen {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The temporary name a copy is written under, beside the destination.
fn partial_path(destination: &Path) -> PathBuf {
    let mut name = destination.as_os_str().to_owned();
    name.push(format!(".partial-{}", std::process::id()));
    PathBuf::from(name)
}

/// Copies the database at `source` to the new file `destination` (mode
/// 0640: the owner and the operators' group) as one consistent snapshot,
/// while writers go on. Refuses an existing destination. The copy is
/// synced and renamed into place only when complete, so an interrupted
/// backup leaves no file under the destination's name.
pub fn backup(source: &Path, destination: &Path) -> Result<BackupStats, StoreError> {
    let from = open_read_only(source)?;
    if std::fs::symlink_metadata(destination).is_ok() {
        return Err(cant_open(destination, "exists; a backup never overwrites"));
    }
    let folder = destination
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(cant_open(destination, "its folder does not exist"));
    }
    let partial = partial_path(destination);
    let result = copy_into(&from, &partial).and_then(|pages| {
        std::fs::rename(&partial, destination).map_err(|e| cant_open(destination, e))?;
        sync_parent(destination)?;
        let bytes = std::fs::metadata(destination)
            .map_err(|e| cant_open(destination, e))?
            .len();
        Ok(BackupStats { pages, bytes })
    });
    if result.is_err() {
        // Nothing under the destination's name; the partial copy is ours.
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Writes the snapshot into the new file `partial` and syncs it; returns
/// the pages copied.
fn copy_into(from: &Connection, partial: &Path) -> Result<u64, StoreError> {
    // Created here first so the copy is never readable by others, whatever
    // the umask (the group is the operators': Docker profile README).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(partial)
        .map_err(|e| cant_open(partial, e))?;
    let mut to = Connection::open(partial).map_err(|e| StoreError::open(partial, &e))?;
    let pages = {
        let backup = Backup::new(from, &mut to)?;
        // -1: every page in one step, so the copy is one read snapshot.
        match backup.step(-1)? {
            StepResult::Done => {}
            StepResult::Busy | StepResult::Locked => return Err(StoreError::Busy),
            other => {
                return Err(StoreError::Other(format!(
                    "online backup stopped before the end ({other:?})"
                )));
            }
        }
        u64::try_from(backup.progress().pagecount)
            .map_err(|_| StoreError::Other("online backup reported a negative page count".into()))?
    };
    // The copy in rollback-journal mode: a file on its own, which a
    // read-only check opens without creating -wal and -shm files beside it
    // (a restored copy is switched back to WAL when the recorder opens it).
    let mode: String = to.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StoreError::Other(format!(
            "the copy kept journal mode {mode}"
        )));
    }
    to.close().map_err(|(_, e)| StoreError::from(e))?;
    std::fs::File::open(partial)
        .and_then(|file| file.sync_all())
        .map_err(|e| cant_open(partial, e))?;
    Ok(pages)
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| cant_open(parent, e))
}

/// A database opened read-only for offline checks: no migration, no
/// writes, the schema version checked.
#[derive(Debug)]
pub struct ReadOnlyStore {
    conn: Connection,
}

impl ReadOnlyStore {
    /// Opens the existing database at `path` read-only.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(cant_open(path, "no such database file"));
        }
        Ok(Self {
            conn: open_read_only(path)?,
        })
    }

    /// A read view; every read of one view sees the same committed state
    /// only inside [`Self::snapshot`].
    pub fn reader(&self) -> Reader<'_> {
        Reader::new(&self.conn)
    }

    /// Runs `read` inside one read transaction, so it sees one consistent
    /// state even while a recorder writes the database.
    pub fn snapshot<T>(
        &self,
        read: impl FnOnce(Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let result = read(Reader::new(&self.conn));
        // A read transaction: ending it cannot lose anything.
        let _ = self.conn.execute_batch("COMMIT");
        result
    }
}
