//! The signed head file: what keeps a restored database from forking the
//! chain silently.
//!
//! The recorder writes its newest durable chain head, signed
//! (`arxi_format::head`), to a file beside the database (`<database>.head`)
//! at open, after each commit that sealed a segment or ran a checkpoint,
//! at shutdown, and otherwise at least once a second while commits go on
//! (`committer::HEAD_INTERVAL`). The file is replaced atomically (temporary file, fsync,
//! rename, fsync of the directory), so it is always one whole record. A
//! database restore puts back `arxi.db` only; the head file stays, and at
//! the next open [`check`] finds the database behind it (or holding other
//! hashes at its sequence number) and the recorder refuses to start. An
//! operator who means the restore acknowledges the exact signed head being
//! given up (`RecorderConfig::rollback_acknowledged_seq`); the recorder then
//! records `arxi.recorder.rolled_back` naming the lost range before
//! anything else, so the fork is evidence, not a secret.
//!
//! What it deliberately does not do: recover the lost envelopes. Where an
//! archive holds the newer sealed segments (issue 16), recovering them is
//! the archive's job and belongs before this check
//! (`Docs/reliability.md`, "Restore").

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use arxi_format::{Hash32, HeadBody, PublicKey, SignedHead, Signer, Timestamp};
use arxi_store::Reader;
use serde_json::{Value, json};

use crate::OpenError;

/// Largest head file read (a record is about 500 bytes).
const HEAD_FILE_BYTES_MAX: u64 = 4_096;

/// Where the signed head of the database at `database` lives.
pub fn head_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// A database that does not reach its signed head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// The head file.
    pub path: PathBuf,
    /// The database's last sequence number.
    pub database_seq: u64,
    /// Its hash.
    pub database_hash: Hash32,
    /// The signed head.
    pub signed: HeadBody,
    /// Whether the head's signature verified under a key the recorder
    /// knows (the signer or one recorded in the database).
    pub verified: bool,
    /// The database reaches the signed head's sequence number but holds
    /// another envelope there (it continued from an older state).
    pub diverged: bool,
}

impl Rollback {
    /// The `arxi.recorder.rolled_back` payload (`Docs/format.md` §10).
    pub(crate) fn payload(&self) -> Value {
        let mut payload = json!({
            "database_head_seq": self.database_seq,
            "database_head_hash": self.database_hash.to_hex(),
            "signed_head_seq": self.signed.seq,
            "signed_head_hash": self.signed.head_hash.to_hex(),
            "signed_head_seal_hash": self.signed.seal_hash.to_hex(),
            "signed_head_written_at": self.signed.written_at.to_string(),
            "signed_head_key_id": self.signed.key_id.as_str(),
            "signed_head_verified": self.verified,
            "kind": if self.diverged { "diverged" } else { "behind" },
            "lost_to_seq": self.signed.seq,
        });
        if !self.diverged {
            payload["lost_from_seq"] = json!(self.database_seq + 1);
        }
        payload
    }
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = &self.signed;
        if self.diverged {
            write!(
                f,
                "the database holds another envelope at seq {} than the signed head in {} \
                 (hash {}, written {}): it continued from an older state",
                signed.seq,
                self.path.display(),
                signed.head_hash,
                signed.written_at
            )?;
        } else {
            write!(
                f,
                "the database ends at seq {} but the signed head in {} says seq {} \
                 (hash {}, written {}) was durable: envelopes {}..={} are not in this database \
                 (an older backup restored?)",
                self.database_seq,
                self.path.display(),
                signed.seq,
                signed.head_hash,
                signed.written_at,
                self.database_seq + 1,
                signed.seq
            )?;
        }
        if !self.verified {
            write!(f, "; the head's signature could not be verified")?;
        }
        write!(
            f,
            ". Nothing was written. Restore a newer backup, or acknowledge the loss of \
             everything after the restored state by starting once with the rollback \
             acknowledged for signed head seq {}, which records arxi.recorder.rolled_back",
            signed.seq
        )
    }
}

/// Reads the head file; `None` when there is none.
pub(crate) fn read(path: &Path) -> Result<Option<SignedHead>, OpenError> {
    let fail = |reason: String| OpenError::SignedHead(format!("{}: {reason}", path.display()));
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(fail(error.to_string())),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, HEAD_FILE_BYTES_MAX + 1),
        &mut bytes,
    )
    .map_err(|error| fail(error.to_string()))?;
    if bytes.len() as u64 > HEAD_FILE_BYTES_MAX {
        return Err(fail(format!("larger than {HEAD_FILE_BYTES_MAX} bytes")));
    }
    SignedHead::parse(&bytes)
        .map(Some)
        .map_err(|error| fail(format!("not a signed head: {error}")))
}

/// Writes `head` to `path` atomically and durably (mode 0600).
pub(crate) fn write(path: &Path, head: &SignedHead) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(&head.to_canonical_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, path)?;
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(parent)?.sync_all()
}

/// Signs the head `(seq, head_hash, seal_hash)` as of `now_us`; fails
/// when the clock reads a time no head can carry or the signer refuses.
pub(crate) fn sign(
    key: &Signer,
    recorder_id: &str,
    (seq, head_hash, seal_hash): (u64, Hash32, Hash32),
    now_us: i64,
) -> Result<SignedHead, String> {
    let written_at = Timestamp::from_unix_micros(now_us)
        .ok_or_else(|| format!("the clock reads {now_us} µs since 1970, outside 1970..=9999"))?;
    HeadBody {
        recorder_id: recorder_id.to_owned(),
        seq,
        head_hash,
        seal_hash,
        written_at,
        key_id: key.id().clone(),
    }
    .try_sign(key)
    .map_err(|error| error.to_string())
}

/// Compares the database with the signed head at `path`: `Ok(None)` when
/// there is no head or the database reaches it with the same hash;
/// `Ok(Some(rollback))` when it does not. A head of another recorder, or a
/// file that is not a head, is an error.
pub(crate) fn check(
    reader: &Reader<'_>,
    path: &Path,
    recorder_id: Option<&str>,
    signer: Option<&PublicKey>,
) -> Result<Option<Rollback>, OpenError> {
    // The file first, then the rows: inside a read snapshot (verify-data
    // beside a live recorder) the rows are then at least as new as the
    // head, which is only written after its commit.
    let Some(head) = read(path)? else {
        return Ok(None);
    };
    let recorder_id = recorder_id.unwrap_or(&head.body.recorder_id);
    if head.body.recorder_id != recorder_id {
        return Err(OpenError::SignedHead(format!(
            "{}: the head belongs to recorder {:?}, this is {recorder_id:?}",
            path.display(),
            head.body.recorder_id
        )));
    }
    let mut keys: HashMap<String, PublicKey> = crate::recovery::load_keys(reader)?;
    if let Some(signer) = signer {
        keys.insert(signer.id().as_str().to_owned(), signer.clone());
    }
    let verified = keys
        .get(head.body.key_id.as_str())
        .is_some_and(|key| head.verify(key).is_ok());
    let (database_seq, database_hash) = reader
        .last_envelope()?
        .map_or((0, Hash32::ZERO), |row| (row.seq, Hash32(row.hash)));
    let at_head = match head.body.seq {
        0 => Some(Hash32::ZERO),
        seq => reader.envelope(seq)?.map(|row| Hash32(row.hash)),
    };
    let rollback = |diverged| Rollback {
        path: path.to_path_buf(),
        database_seq,
        database_hash,
        signed: head.body.clone(),
        verified,
        diverged,
    };
    match at_head {
        None => Ok(Some(rollback(false))),
        Some(hash) if hash != head.body.head_hash => Ok(Some(rollback(true))),
        Some(_) => {
            if !verified {
                // Harmless (the database reaches it) and replaced at open.
                tracing::warn!(
                    path = %path.display(),
                    key_id = %head.body.key_id,
                    "the signed head's signature does not verify; replacing it"
                );
            }
            Ok(None)
        }
    }
}

/// Keeps the head file current; owned by the committer after open.
pub(crate) struct HeadWriter {
    pub(crate) path: PathBuf,
    pub(crate) key: Signer,
    pub(crate) recorder_id: String,
    pub(crate) clock: std::sync::Arc<dyn crate::Clock>,
}

impl HeadWriter {
    /// Signs and writes the head of a committed state.
    pub(crate) fn write(&self, status: &crate::EngineStatus) -> Result<(), String> {
        let head = sign(
            &self.key,
            &self.recorder_id,
            (status.head_seq, status.head_hash, status.last_seal_hash),
            self.clock.now_micros(),
        )?;
        write(&self.path, &head).map_err(|error| format!("{}: {error}", self.path.display()))
    }
}
