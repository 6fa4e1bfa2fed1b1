//! The witness side of C2SP tlog-witness: check a checkpoint against the
//! log's keys and the last checkpoint cosigned for its origin, persist the
//! new one, then cosign it.
//!
//! The check and the write run under one lock, so two requests can never
//! both pass the old-size check and roll the state back (the race the
//! specification warns of). The state of an origin is one file holding the
//! checkpoint text of the latest cosigned checkpoint, replaced atomically
//! (write, fsync, rename, fsync the directory) before the answer is sent.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use arxi_format::note::{Checkpoint, NoteSigner, SignatureType, VerifierKey};
use arxi_format::{Hash32, merkle};
use sha2::{Digest as _, Sha256};

use crate::protocol::{AddCheckpoint, SIZE_CONTENT_TYPE};

/// What the witness answers, as HTTP status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A witness: its cosigning key, the logs it follows, where it keeps state.
#[derive(Debug)]
pub struct Witness {
    signer: NoteSigner,
    logs: Vec<VerifierKey>,
    state_dir: PathBuf,
    lock: Mutex<()>,
}

/// A witness that cannot start.
#[derive(Debug)]
pub enum SetupError {
    /// The key is not a cosignature (type 0x04) key.
    NotACosigner,
    /// A log key is not an Ed25519 note key (type 0x01).
    NotALogKey(String),
    /// The state directory cannot be used.
    State(io::Error),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotACosigner => f.write_str("the witness key is not a cosignature/v1 key"),
            Self::NotALogKey(key) => write!(f, "log key {key} is not an Ed25519 note key"),
            Self::State(e) => write!(f, "state directory: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl Witness {
    /// A witness cosigning with `signer` for the logs whose keys are `logs`
    /// (a log's origin is its key's name), keeping state in `state_dir`.
    pub fn open(
        signer: NoteSigner,
        logs: Vec<VerifierKey>,
        state_dir: &Path,
    ) -> Result<Self, SetupError> {
        if signer.verifier().kind() != SignatureType::Cosignature {
            return Err(SetupError::NotACosigner);
        }
        if let Some(key) = logs.iter().find(|k| k.kind() != SignatureType::Ed25519) {
            return Err(SetupError::NotALogKey(key.to_string()));
        }
        fs::create_dir_all(state_dir).map_err(SetupError::State)?;
        Ok(Self {
            signer,
            logs,
            state_dir: state_dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    /// The witness's verifier key.
    pub fn verifier(&self) -> &VerifierKey {
        self.signer.verifier()
    }

    /// The latest cosigned checkpoint of `origin`, if any.
    pub fn latest(&self, origin: &str) -> io::Result<Option<Checkpoint>> {
        let path = self.state_path(origin);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let checkpoint = Checkpoint::parse(&text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                if checkpoint.origin != origin {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} holds another origin", path.display()),
                    ));
                }
                Ok(Some(checkpoint))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Handles one `add-checkpoint` request body.
    pub fn add_checkpoint(&self, body: &[u8]) -> Answer {
        let request = match AddCheckpoint::parse(body) {
            Ok(request) => request,
            Err(e) => return Answer::text(400, format!("malformed request: {e}")),
        };
        let checkpoint = match Checkpoint::parse(request.checkpoint.text()) {
            Ok(checkpoint) => checkpoint,
            Err(e) => return Answer::text(400, format!("malformed checkpoint: {e}")),
        };
        let keys: Vec<VerifierKey> = self
            .logs
            .iter()
            .filter(|key| key.name() == checkpoint.origin)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Answer::text(404, "unknown log origin");
        }
        if let Err(e) = request.checkpoint.verify(&keys) {
            tracing::warn!(origin = %checkpoint.origin, error = %e, "checkpoint signature refused");
            return Answer::text(403, format!("checkpoint signature: {e}"));
        }
        if request.old_size > checkpoint.size {
            return Answer::text(400, "old size is larger than the checkpoint size");
        }
        // Check and persist atomically: no other request for any origin runs
        // between reading the stored state and replacing it.
        let _held = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.check_and_store(&request, &checkpoint) {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(origin = %checkpoint.origin, error = %e, "witness state");
                Answer::text(500, "witness state unavailable")
            }
        }
    }

    fn check_and_store(
        &self,
        request: &AddCheckpoint,
        checkpoint: &Checkpoint,
    ) -> io::Result<Answer> {
        let latest = self.latest(&checkpoint.origin)?;
        let (latest_size, latest_root) = latest
            .as_ref()
            .map_or((0, merkle::empty_root()), |c| (c.size, c.root));
        if request.old_size != latest_size {
            return Ok(Answer {
                status: 409,
                content_type: SIZE_CONTENT_TYPE,
                body: format!("{latest_size}\n"),
            });
        }
        if let Err(why) = consistent(request, latest_size, &latest_root, checkpoint) {
            tracing::warn!(
                origin = %checkpoint.origin,
                old_size = latest_size,
                size = checkpoint.size,
                why,
                checkpoint = %request.checkpoint,
                "inconsistent checkpoint refused (possible log misbehaviour)"
            );
            let status = if request.old_size == checkpoint.size {
                409
            } else {
                422
            };
            return Ok(Answer::text(status, why));
        }
        if latest_size != checkpoint.size {
            self.store(checkpoint)?;
        }
        let line = self
            .signer
            .sign(request.checkpoint.text(), unix_now())
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Answer {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: line.to_string(),
        })
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        let digest = Sha256::digest(origin.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.state_dir.join(format!("{name}.checkpoint"))
    }

    /// Replaces the state of the checkpoint's origin durably.
    fn store(&self, checkpoint: &Checkpoint) -> io::Result<()> {
        let path = self.state_path(&checkpoint.origin);
        let temporary = path.with_extension("tmp");
        let mut file = fs::File::create(&temporary)?;
        file.write_all(checkpoint.text().as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, &path)?;
        fs::File::open(&self.state_dir)?.sync_all()
    }
}

/// The consistency check of the specification: an empty proof from size 0,
/// equal roots at equal sizes, else an RFC 6962 consistency proof.
fn consistent(
    request: &AddCheckpoint,
    latest_size: u64,
    latest_root: &Hash32,
    checkpoint: &Checkpoint,
) -> Result<(), &'static str> {
    if latest_size == 0 {
        return if request.proof.is_empty() {
            Ok(())
        } else {
            Err("a proof from size 0 must be empty")
        };
    }
    if latest_size == checkpoint.size {
        return if *latest_root == checkpoint.root && request.proof.is_empty() {
            Ok(())
        } else {
            Err("a different root for the size already cosigned")
        };
    }
    merkle::verify_consistency(
        latest_size,
        checkpoint.size,
        latest_root,
        &checkpoint.root,
        &request.proof,
    )
    .map_err(|_| "the consistency proof does not verify")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
