//! Per-subject keys for payloads encrypted at rest, so that an erasure by
//! subject also reaches copies of the database made before it
//! (crypto-shredding, `Docs/format.md` §10.2).
//!
//! The keys live in a file of their own (a small SQLite database, mode
//! 0600), never in the evidence database: a backup of the evidence
//! database carries only ciphertext, and destroying a subject's key in
//! this file makes that subject's payloads unreadable in every such copy.
//! Each key encrypts, with XChaCha20-Poly1305 and a random 24-byte nonce,
//! the salt and the committed content of one subject's version 2
//! envelopes; the associated data binds the ciphertext to its envelope's
//! sequence number and to the key id.
//!
//! A key is made when the writer first stores a payload of a new subject
//! and is written to the key file (fsync) before the evidence database's
//! transaction that uses it commits; one key file transaction per write
//! transaction that made keys. A destruction is first marked in the
//! evidence database, in the erasure's transaction, then carried out in
//! this file (the row deleted with `secure_delete`, the WAL truncated),
//! then unmarked; a crash in between is finished at the next open.
//!
//! One [`SubjectKeys`] is shared by the writer and the readers of one
//! store, so a destroyed key leaves every cache at once.
//!
//! Not here: which envelopes an erasure selects (the recorder), the
//! payload rows themselves (`write`, `read`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::StoreError;

/// Bytes of a subject key id (random; names the key in payload rows and
/// erasure markers, and says nothing about the subject).
pub const SUBJECT_KEY_ID_BYTES: usize = 16;

/// A subject key's id.
pub type SubjectKeyId = [u8; SUBJECT_KEY_ID_BYTES];

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const SALT_BYTES: usize = 32;
/// Keys kept in memory at most; the cache is emptied when it grows past
/// this (keys not yet durable stay).
const CACHE_MAX: usize = 65_536;
const AAD_PREFIX: &[u8] = b"arxi payload at rest v1\0";
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS subject_keys (
         key_id        BLOB    PRIMARY KEY CHECK (length(key_id) = 16),
         subject       TEXT    NOT NULL UNIQUE,
         key           BLOB    NOT NULL CHECK (length(key) = 32)
     ) WITHOUT ROWID;";

#[derive(Clone)]
struct Entry {
    id: SubjectKeyId,
    subject: String,
    key: [u8; KEY_BYTES],
}

struct Inner {
    conn: Connection,
    by_subject: HashMap<String, SubjectKeyId>,
    by_id: HashMap<SubjectKeyId, Entry>,
    /// Keys made and not yet written to the file.
    pending: Vec<SubjectKeyId>,
}

/// The key file of a store whose payloads are encrypted per subject.
pub struct SubjectKeys {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectKeys")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// An opened payload: its salt and the committed content's bytes.
pub(crate) type Opened = ([u8; SALT_BYTES], Vec<u8>);

/// A payload sealed under a subject key: what a payload row holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedPayload {
    pub(crate) key_id: SubjectKeyId,
    /// The nonce, then the ciphertext and its tag.
    pub(crate) bytes: Vec<u8>,
}

impl SubjectKeys {
    /// Opens (creating with mode 0600 if needed) the key file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::open(path, &e))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!(
                "subject keys: journal_mode WAL refused (got {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                conn,
                by_subject: HashMap::new(),
                by_id: HashMap::new(),
                pending: Vec::new(),
            }),
        })
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keys in the file (not counting keys not yet written).
    pub fn len(&self) -> Result<u64, StoreError> {
        let inner = self.lock();
        let count: i64 = inner
            .conn
            .query_row("SELECT count(*) FROM subject_keys", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// True when the file holds no key.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of `subject`'s key, if it has one.
    pub fn key_id_of(&self, subject: &str) -> Result<Option<SubjectKeyId>, StoreError> {
        let mut inner = self.lock();
        Ok(inner.entry_of_subject(subject)?.map(|entry| entry.id))
    }

    /// Seals `salt` and `content` of envelope `seq` under `subject`'s key,
    /// making the key (not yet durable: see [`Self::make_durable`]) when
    /// the subject has none.
    pub(crate) fn seal(
        &self,
        subject: &str,
        seq: u64,
        salt: &[u8; SALT_BYTES],
        content: &[u8],
    ) -> Result<SealedPayload, StoreError> {
        let entry = {
            let mut inner = self.lock();
            match inner.entry_of_subject(subject)? {
                Some(entry) => entry,
                None => inner.make_key(subject)?,
            }
        };
        let mut nonce = [0_u8; NONCE_BYTES];
        random(&mut nonce)?;
        let mut plain = Vec::with_capacity(SALT_BYTES + content.len());
        plain.extend_from_slice(salt);
        plain.extend_from_slice(content);
        let cipher = XChaCha20Poly1305::new((&entry.key).into());
        let aad = aad(seq, &entry.id);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Other("subject keys: encryption failed".into()))?;
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(SealedPayload {
            key_id: entry.id,
            bytes,
        })
    }

    /// Opens the sealed payload of envelope `seq`: its salt and content
    /// and the subject its key belongs to, or `None` when its key is gone
    /// (destroyed by an erasure). A key that exists but does not open it is
    /// a damaged row.
    pub(crate) fn open_sealed(
        &self,
        seq: u64,
        sealed: &SealedPayload,
    ) -> Result<Option<(Opened, String)>, StoreError> {
        let Some(entry) = self.lock().entry_of_id(&sealed.key_id)? else {
            return Ok(None);
        };
        let damaged = || StoreError::BadRow(format!("payload {seq}: does not open under its key"));
        if sealed.bytes.len() < NONCE_BYTES {
            return Err(damaged());
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_BYTES);
        let cipher = XChaCha20Poly1305::new((&entry.key).into());
        let aad = aad(seq, &entry.id);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| damaged())?;
        if plain.len() < SALT_BYTES {
            return Err(damaged());
        }
        let mut salt = [0_u8; SALT_BYTES];
        salt.copy_from_slice(&plain[..SALT_BYTES]);
        Ok(Some(((salt, plain[SALT_BYTES..].to_vec()), entry.subject)))
    }

    /// Writes every key made and not yet written to the key file, in one
    /// transaction (fsync), before the evidence transaction that uses them
    /// commits.
    pub(crate) fn make_durable(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.pending.is_empty() {
            return Ok(());
        }
        let pending: Vec<Entry> = inner
            .pending
            .iter()
            .filter_map(|id| inner.by_id.get(id).cloned())
            .collect();
        let tx = inner.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO subject_keys (key_id, subject, key) VALUES (?1, ?2, ?3)",
            )?;
            for entry in &pending {
                insert.execute(params![&entry.id[..], entry.subject, &entry.key[..]])?;
            }
        }
        tx.commit()?;
        inner.pending.clear();
        inner.trim();
        Ok(())
    }

    /// Destroys the keys `ids`: deleted from the file (zeroed by
    /// `secure_delete`), the WAL truncated so no copy of them is left
    /// there, and dropped from memory. Keys already gone are skipped.
    pub(crate) fn destroy(&self, ids: &[SubjectKeyId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        let tx = inner.conn.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM subject_keys WHERE key_id = ?1")?;
            for id in ids {
                delete.execute(params![&id[..]])?;
            }
        }
        tx.commit()?;
        for id in ids {
            inner.pending.retain(|pending| pending != id);
            if let Some(entry) = inner.by_id.remove(id) {
                inner.by_subject.remove(&entry.subject);
            }
        }
        let (busy, _, _): (i64, i64, i64) =
            inner
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?;
        if busy != 0 {
            return Err(StoreError::Busy);
        }
        Ok(())
    }
}

impl Inner {
    fn entry_of_subject(&mut self, subject: &str) -> Result<Option<Entry>, StoreError> {
        if let Some(id) = self.by_subject.get(subject) {
            return Ok(self.by_id.get(id).cloned());
        }
        let found = self
            .conn
            .prepare_cached("SELECT key_id, subject, key FROM subject_keys WHERE subject = ?1")?
            .query_row(params![subject], stored_entry)
            .optional()?;
        found.map(|row| self.remember(row)).transpose()
    }

    fn entry_of_id(&mut self, id: &SubjectKeyId) -> Result<Option<Entry>, StoreError> {
        if let Some(entry) = self.by_id.get(id) {
            return Ok(Some(entry.clone()));
        }
        let found = self
            .conn
            .prepare_cached("SELECT key_id, subject, key FROM subject_keys WHERE key_id = ?1")?
            .query_row(params![&id[..]], stored_entry)
            .optional()?;
        found.map(|row| self.remember(row)).transpose()
    }

    fn remember(&mut self, row: (Vec<u8>, String, Vec<u8>)) -> Result<Entry, StoreError> {
        let (id, subject, key) = row;
        let bad = || StoreError::BadRow("subject keys: a key or key id of the wrong length".into());
        let entry = Entry {
            id: id.try_into().map_err(|_| bad())?,
            subject,
            key: key.try_into().map_err(|_| bad())?,
        };
        self.trim();
        self.by_subject.insert(entry.subject.clone(), entry.id);
        self.by_id.insert(entry.id, entry.clone());
        Ok(entry)
    }

    fn make_key(&mut self, subject: &str) -> Result<Entry, StoreError> {
        let mut id = [0_u8; SUBJECT_KEY_ID_BYTES];
        let mut key = [0_u8; KEY_BYTES];
        random(&mut id)?;
        random(&mut key)?;
        let entry = Entry {
            id,
            subject: subject.to_owned(),
            key,
        };
        self.by_subject.insert(entry.subject.clone(), id);
        self.by_id.insert(id, entry.clone());
        self.pending.push(id);
        Ok(entry)
    }

    /// Empties the cache when it is full, keeping keys not yet durable.
    fn trim(&mut self) {
        if self.by_id.len() < CACHE_MAX {
            return;
        }
        let pending = &self.pending;
        self.by_id.retain(|id, _| pending.contains(id));
        let by_id = &self.by_id;
        self.by_subject.retain(|_, id| by_id.contains_key(id));
    }
}

fn stored_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<u8>, String, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn aad(seq: u64, id: &SubjectKeyId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 8 + SUBJECT_KEY_ID_BYTES);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(id);
    aad
}

fn random(bytes: &mut [u8]) -> Result<(), StoreError> {
    getrandom::fill(bytes)
        .map_err(|error| StoreError::Other(format!("random source unavailable: {error}")))
}

/// Creates `path` with mode 0600 (and its directory, 0700) when it does
/// not exist, so SQLite (which gives its WAL and index files the
/// database's mode) never makes a key file others can read; refuses an
/// existing file others can read.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let cant = |reason: String| StoreError::CantOpen {
        path: path.display().to_string(),
        reason,
    };
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| cant(format!("making its directory: {e}")))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)
                .map_err(|e| cant(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(cant(format!(
                    "the subject key file is readable by others (mode {:o}); chmod 600 it",
                    mode & 0o777
                )));
            }
            Ok(())
        }
        Err(error) => Err(cant(error.to_string())),
    }
}
