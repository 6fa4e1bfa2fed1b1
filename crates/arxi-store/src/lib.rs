//! arxi-store: the SQLite store. The only crate that names rusqlite.
//!
//! What it does: opens the database (WAL, `synchronous=FULL`, automatic
//! checkpoints off), runs versioned migrations, gives the single writer a
//! transaction API ([`WriteTxn`]) over segments, envelopes, the committed
//! payloads of version 2 envelopes (and their erasure), seals,
//! attachments, keys, the bundle index and `store_meta`, runs checkpoints
//! when asked, and gives readers their own connections ([`ReaderPool`])
//! with indexed queries, takes consistent online copies ([`backup`]) and
//! opens a database read-only for offline checks ([`ReadOnlyStore`]).
//!
//! What it deliberately does not do: decide what to write. Sequence numbers,
//! chaining, signing and sealing belong to the recorder, which owns the one
//! [`Store`] (the write connection) on one thread. The store stores bytes and
//! the index columns derived from them; it never interprets envelope JSON.
//! It does store an envelope's bytes packed (`packed.rs`: runs of hex
//! digits as binary, which saves some 136 bytes an envelope), a lexical
//! transformation that unpacks byte for byte.

#![forbid(unsafe_code)]

mod backup;
mod error;
mod idempotency;
mod log;
mod packed;
mod read;
mod schema;
mod subject_keys;
mod timestamps;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use backup::{BackupStats, ReadOnlyStore, backup};
pub use error::StoreError;
pub use idempotency::{IDEMPOTENCY_HASH_BYTES, IdempotencyRow};
pub use log::{CosignatureRow, LogCheckpointRow, LogNodeRow};
pub use read::{QueryFilter, QueryPage, Reader, ReaderPool};
pub use schema::SCHEMA_VERSION;
pub use subject_keys::{SUBJECT_KEY_ID_BYTES, SubjectKeyId, SubjectKeys};
pub use timestamps::{TimestampRow, UnstampedSeal};
pub use write::ErasureCount;
pub use write::{RowWriter, WriteTxn};

/// An envelope row: the stored canonical bytes and the index columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRow {
    /// Recorder-wide sequence number (the primary key).
    pub seq: u64,
    /// Segment holding the envelope.
    pub segment_id: u64,
    /// Receive time, microseconds since the epoch (non-decreasing in seq).
    pub received_at_us: i64,
    /// 0 = data, 1 = control.
    pub kind: u8,
    /// Event type.
    pub event_type: String,
    /// Actor, if any.
    pub actor: Option<String>,
    /// Envelope hash (32 bytes).
    pub hash: [u8; 32],
    /// Canonical envelope bytes, hash and signature included.
    pub body: Vec<u8>,
}

/// The committed content of a version 2 envelope, kept beside its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRow {
    /// The envelope.
    pub seq: u64,
    /// The envelope's subject (committed or in clear); `None` once erased.
    pub subject: Option<String>,
    /// The salt and the committed content's canonical bytes; `None` once
    /// erased.
    pub content: Option<([u8; 32], Vec<u8>)>,
    /// The `arxi.payload.erased` envelope that erased it.
    pub erased_by: Option<u64>,
    /// Stored sealed under a subject key (crypto-shredding).
    pub sealed: bool,
    /// Not readable here and not erased: sealed under a subject key this
    /// store cannot open (the key was destroyed: this is a copy of the
    /// database made before an erasure by subject; or no key file was
    /// given), or restored from an archive bundle that withheld it.
    /// `subject` and `content` are `None`.
    pub withheld: bool,
}

/// A segment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    /// Segment id, from 1.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number so far (or final, once sealed).
    pub last_seq: u64,
    /// Envelopes in the segment so far.
    pub envelope_count: u64,
    /// Sum of the canonical envelope sizes plus attachment sizes.
    pub bytes: u64,
    /// When the segment was opened (µs).
    pub opened_at_us: i64,
    /// When it was sealed (µs), if sealed.
    pub sealed_at_us: Option<i64>,
}

impl SegmentRow {
    /// True once sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed_at_us.is_some()
    }
}

/// A seal row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRow {
    /// The sealed segment.
    pub segment_id: u64,
    /// Seal hash (32 bytes).
    pub hash: [u8; 32],
    /// Canonical seal bytes.
    pub body: Vec<u8>,
}

/// A public key the recorder has signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Key id (`ed25519:…`).
    pub key_id: String,
    /// The 32 public key bytes.
    pub public_key: [u8; 32],
    /// The first envelope signed with it.
    pub first_seq: u64,
    /// When it was first used (µs).
    pub added_at_us: i64,
}

/// An archived bundle: a run of sealed segments uploaded to the archive
/// and confirmed there (written with its `arxi.segment.archived`
/// envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedRow {
    /// First segment in the bundle.
    pub first_segment: u64,
    /// Last segment in the bundle.
    pub last_segment: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// The object key in the bucket.
    pub object_key: String,
    /// SHA-256 of the bundle file.
    pub sha256: [u8; 32],
    /// Size of the bundle file in bytes.
    pub size: u64,
    /// The `arxi.segment.archived` envelope.
    pub seq: u64,
    /// When it was recorded (µs).
    pub archived_at_us: i64,
}

/// A pruning: segments whose envelope and attachment rows were deleted
/// locally (their segment rows and seals stay), written with its
/// `arxi.segment.pruned` envelope. Pruned segments form a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRow {
    /// First segment pruned by this pruning.
    pub first_segment: u64,
    /// Last segment pruned by this pruning.
    pub last_segment: u64,
    /// First sequence number pruned.
    pub first_seq: u64,
    /// Last sequence number pruned.
    pub last_seq: u64,
    /// The `arxi.segment.pruned` envelope.
    pub seq: u64,
    /// When it was recorded (µs).
    pub pruned_at_us: i64,
}

/// How big the database file is, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceStats {
    /// Bytes per page.
    pub page_size: u64,
    /// Pages in the file.
    pub page_count: u64,
    /// Pages on the free list (reusable, or given back by a vacuum step).
    pub freelist_pages: u64,
    /// 2 when the file gives space back by incremental vacuum.
    pub auto_vacuum: u8,
}

/// A `store_meta` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEntry {
    /// The value bytes.
    pub value: Vec<u8>,
    /// When it was written (µs).
    pub created_at_us: i64,
}

/// `store_meta` namespaces.
pub mod namespace {
    /// Recorder identity and state (`recorder_id`, `signer_key_id`).
    pub const RECORDER: &str = "recorder";
    /// Idempotency records, keyed by (recorder id, method, path, key).
    pub const IDEMPOTENCY: &str = "idempotency";
    /// The writer's health probe (one row, overwritten).
    pub const HEALTH: &str = "health";
    /// Subject keys an erasure destroys (hex key id), written with the
    /// erasure and deleted once the key is gone from the key file.
    pub const SUBJECT_KEY_DESTROY: &str = "subject_key_destroy";
    /// Key delegations the root signed (`Docs/format.md` §3.1), keyed by
    /// the delegated key id, for the bundles of what those keys signed.
    pub const DELEGATION: &str = "delegation";
}

/// Outcome of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Frames in the WAL when the checkpoint ran.
    pub wal_frames: i64,
    /// Frames copied into the database (all of them when complete).
    pub checkpointed_frames: i64,
}

/// How a checkpoint may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// Copy what can be copied without waiting for anyone.
    Passive,
    /// Wait for readers, copy everything, and truncate the WAL file.
    Truncate,
}

/// Open options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a connection waits on a lock before failing with `Busy`.
    pub busy_timeout: Duration,
    /// Cap on the database size in pages (`None`: SQLite's default). Used by
    /// tests to make "disk full" deterministic.
    pub max_page_count: Option<u64>,
    /// Create a new file with `auto_vacuum = INCREMENTAL`, so that freed
    /// pages can be given back (retention). Off, a file keeps no pointer
    /// map and pays nothing for it.
    pub incremental_vacuum: bool,
    /// Encrypt the payloads of version 2 envelopes that name a subject
    /// under that subject's key in this key file (crypto-shredding;
    /// `subject_keys`). Shared by the writer and its readers.
    pub subject_keys: Option<Arc<SubjectKeys>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            max_page_count: None,
            incremental_vacuum: false,
            subject_keys: None,
        }
    }
}

/// The write side of the store: one connection, used by one thread.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Pages in the WAL after the last commit, set by SQLite's WAL hook.
    wal_pages: Arc<AtomicI64>,
    subject_keys: Option<Arc<SubjectKeys>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::open(path, &e))?;
        conn.busy_timeout(options.busy_timeout)?;
        keep_plans_fixed(&conn)?;
        // With retention, a new database gives freed pages back to the
        // file system on request (`PRAGMA incremental_vacuum`, run after
        // pruning). This only takes effect on a new file, before the
        // journal mode is set; an older file needs one `VACUUM`
        // ([`Store::enable_incremental_vacuum`]).
        if options.incremental_vacuum && schema::is_empty(&conn)? {
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
        }
        // WAL with FULL sync: a commit is durable when it returns.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!(
                "journal_mode WAL refused (got {mode})"
            )));
        }
        // `secure_delete`: SQLite overwrites deleted content (freed cells
        // and pages) with zeros, so an erased payload does not linger in
        // free space of the database file (Docs/format.md §10, erasure).
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA secure_delete = ON;
             PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = 67108864;
             PRAGMA cache_size = -16384;",
        )?;
        if let Some(pages) = options.max_page_count {
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        }
        // Automatic checkpoints are off (they caused 3-10 ms p99 spikes);
        // the hook only records the WAL size so the owner can checkpoint
        // deliberately. Setting `wal_autocheckpoint` after this would replace
        // the hook, so it is set first.
        let wal_pages = Arc::new(AtomicI64::new(0));
        let hook_pages = Arc::clone(&wal_pages);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages| {
            hook_pages.store(i64::from(pages), Ordering::Relaxed);
            Ok(())
        }))?;
        schema::migrate(&mut conn)?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            wal_pages,
            subject_keys: options.subject_keys.clone(),
        };
        store.destroy_marked_keys()?;
        Ok(store)
    }

    /// Destroys the subject keys that committed erasures marked
    /// ([`WriteTxn::mark_subject_key_destroyed`]) and removes the marks.
    /// Run after every commit that marked one, and at open (a crash
    /// between the erasure's commit and the destruction). Without a key
    /// file the marks wait for one.
    pub fn destroy_marked_keys(&mut self) -> Result<usize, StoreError> {
        let Some(keys) = &self.subject_keys else {
            return Ok(0);
        };
        let marked = write::marked_key_ids(&self.conn)?;
        if marked.is_empty() {
            return Ok(0);
        }
        keys.destroy(&marked)?;
        write::unmark_key_ids(&self.conn, &marked)?;
        Ok(marked.len())
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts the write transaction (`BEGIN IMMEDIATE`).
    pub fn transaction(&mut self) -> Result<WriteTxn<'_>, StoreError> {
        WriteTxn::begin(&mut self.conn, self.subject_keys.as_deref())
    }

    /// A read view on the write connection, for the owner's own lookups
    /// (recovery) outside a transaction.
    pub fn reader(&self) -> Reader<'_> {
        Reader::with_keys(&self.conn, self.subject_keys.as_deref())
    }

    /// Pages in the WAL after the last commit.
    pub fn wal_pages(&self) -> i64 {
        self.wal_pages.load(Ordering::Relaxed)
    }

    /// Runs a checkpoint now.
    pub fn checkpoint(&mut self, kind: CheckpointKind) -> Result<CheckpointStats, StoreError> {
        let mode = match kind {
            CheckpointKind::Passive => rusqlite::wal::CheckpointMode::PASSIVE,
            CheckpointKind::Truncate => rusqlite::wal::CheckpointMode::TRUNCATE,
        };
        let (wal_frames, checkpointed_frames) = self.conn.wal_checkpoint_v2(None::<&str>, mode)?;
        if kind == CheckpointKind::Truncate {
            self.wal_pages.store(0, Ordering::Relaxed);
        }
        Ok(CheckpointStats {
            wal_frames: i64::from(wal_frames),
            checkpointed_frames: i64::from(checkpointed_frames),
        })
    }

    /// Changes the page cap (`None` lifts it to SQLite's maximum).
    pub fn set_max_page_count(&mut self, pages: Option<u64>) -> Result<(), StoreError> {
        let pages = pages.unwrap_or(4_294_967_294);
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(())
    }

    /// Makes a database created before incremental vacuum give space back
    /// from now on: sets `auto_vacuum = INCREMENTAL` and rewrites the file
    /// once (`VACUUM`, which needs as much free disk as the database).
    /// Does nothing when it is already set. Returns whether it rewrote.
    pub fn enable_incremental_vacuum(&mut self) -> Result<bool, StoreError> {
        if self.reader().space()?.auto_vacuum == 2 {
            return Ok(false);
        }
        self.conn
            .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
        Ok(true)
    }

    /// Opens a pool of read-only connections to the same database.
    pub fn reader_pool(&self, connections_max: usize) -> Result<ReaderPool, StoreError> {
        ReaderPool::open(&self.path, connections_max, self.subject_keys.clone())
    }
}

/// Opens an existing database read-only (no migration, no writes).
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, &e))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    keep_plans_fixed(&conn)?;
    schema::check_version(&conn)?;
    Ok(conn)
}

/// Query plans that do not depend on the values bound to a statement
/// (SQLite's query planner stability guarantee). Without it SQLite marks a
/// statement whose plan could use a bound value (a `LIMIT ?`, an equality
/// on an indexed column under an `ORDER BY`) to be compiled again whenever
/// that parameter is bound, which is every run of a cached statement: a
/// one-row query spent part of its time in SQLite's parser. The plans here
/// are fixed by `INDEXED BY` and no statistics tables exist, so nothing is
/// lost.
fn keep_plans_fixed(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Fault injection for tests: damage a database on purpose, then check that
/// the integrity checks notice. Compiled only with the `fault-injection`
/// feature, which no shipped binary enables.
#[cfg(feature = "fault-injection")]
pub mod fault {
    use std::path::Path;

    use crate::StoreError;

    /// Runs arbitrary SQL on the database at `path`, bypassing every rule.
    pub fn execute(path: &Path, sql: &str) -> Result<(), StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(sql)?;
        Ok(())
    }

    /// Replaces the stored bytes of envelope `seq` (the index columns stay).
    pub fn replace_envelope_body(path: &Path, seq: u64, body: &[u8]) -> Result<(), StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute(
            "UPDATE envelopes SET body = ?2 WHERE seq = ?1",
            rusqlite::params![i64::try_from(seq).unwrap_or(i64::MAX), body],
        )?;
        Ok(())
    }

    /// Makes the WAL-index header of the database at `path` look the way
    /// another connection sees it while a writer publishes a commit: its
    /// two copies (bytes 0..48 and 48..96 of the `-shm` file) differ. The
    /// next commit rewrites both copies. Connections in this process see
    /// the change at once: the `-shm` file is mapped shared.
    pub fn tear_wal_index_header(path: &Path) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt as _;
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        let io = |error: std::io::Error| StoreError::Io(format!("{shm_path:?}: {error}"));
        let shm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&shm_path)
            .map_err(io)?;
        // Byte 8 is the low byte of the first copy's change counter.
        let mut byte = [0_u8; 1];
        shm.read_exact_at(&mut byte, 8).map_err(io)?;
        shm.write_all_at(&[byte[0] ^ 0xFF], 8).map_err(io)?;
        Ok(())
    }

    /// Holds the database's write lock (an open `BEGIN IMMEDIATE`
    /// transaction on a connection of its own) until dropped, when the
    /// transaction rolls back: every other writer waits, readers do not.
    #[derive(Debug)]
    pub struct WriteLock {
        conn: rusqlite::Connection,
    }

    impl Drop for WriteLock {
        fn drop(&mut self) {
            // Nothing was written; a failed rollback leaves nothing behind
            // once the connection closes.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Takes the write lock of the database at `path` (see [`WriteLock`]).
    pub fn hold_write_lock(path: &Path) -> Result<WriteLock, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(WriteLock { conn })
    }
}

/// The readiness check: opens the database read-only on a fresh connection
/// and reads from it. A file that was removed, made unreadable or damaged
/// fails here even while long-lived connections still hold it open.
pub fn probe(path: &Path) -> Result<(), StoreError> {
    let conn = open_read_only(path)?;
    conn.query_row("SELECT count(*) FROM segments", [], |_| Ok(()))?;
    Ok(())
}
