//! arxi-recorder: the recorder engine.
//!
//! [`RecorderEngine`] turns requests into evidence. Callers on any thread
//! submit commands to a bounded queue and get a [`Pending`] result
//! (awaitable, or blocking with [`Pending::wait`]); a full queue is a typed
//! [`SubmitError::Overloaded`], never unbounded memory. Writing is a
//! two-stage pipeline with group commit:
//!
//! - the sequencer thread owns the chain head, the open segment's Merkle
//!   state and the signing key; it takes whatever is queued, assigns
//!   sequence numbers, chains, signs and seals, and turns the batch into a
//!   write plan;
//! - the committer thread owns the store's write connection; it writes each
//!   plan in one transaction, commits (fsync), and only then completes the
//!   plan's callers.
//!
//! Signing batch N+1 thus overlaps committing batch N.
//!
//! Time and keys come in as arguments ([`Clock`], `SecretKey`). Reads
//! (queries, segments, keys) use the store's read-only connection pool and
//! never wait for the writer.
//!
//! Audit bundles are built from sealed segments by [`bundle`], streaming
//! from one read snapshot, into the bundle directory, where a file becomes
//! downloadable only once its `arxi.bundle.built` envelope committed; the
//! directory is cleaned at open (`bundle_dir`). Not here: HTTP and config
//! files (the sidecar).

#![forbid(unsafe_code)]

mod archive;
pub mod bundle;
mod bundle_dir;
mod chain;
mod commitment;
mod committer;
mod control;
pub mod control_types;
mod cursor;
mod delegation;
mod engine;
mod erasure;
mod head;
mod histogram;
mod idempotency;
mod log_tree;
mod maintenance;
mod plan;
mod pruned;
mod recovery;
mod restore;
mod retention;
mod sequencer;
mod signing;
mod status;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arxi_format::{CanonicalJson, Hash32, KeyId, Signature, Timestamp};
use arxi_store::StoreError;

pub use archive::{ArchivePosition, ArchiveRecord, RetentionStatus};
/// Timestamp tokens of seals, as stored (`RecorderEngine::store_timestamps`).
pub use arxi_store::{TimestampRow, UnstampedSeal};
pub use bundle_dir::{BundleDirReport, QUARANTINE_DIR, StagedBundle};
pub use commitment::PayloadPolicy;
pub use delegation::DelegationPolicy;
pub use engine::{IdempotencyLookup, QUERY_PAGE_DEFAULT, QueryResult, RecorderEngine};
pub use erasure::{ErasureReceipt, ErasureRequest, ErasureSelector, PayloadView, Skipped};
pub use head::{Rollback, head_path};
pub use histogram::{COUNT_BOUNDS, DURATION_BOUNDS_MICROS, HistogramSnapshot, TimingsSnapshot};
pub use idempotency::{
    IDEMPOTENCY_KEY_BYTES_MAX, IdempotencyKey, IdempotencyRequest, Render, StoredResponse,
};
pub use log_tree::{Cosignature, LogCheckpoint, TreeRecovery, log_verifier_key};
pub use maintenance::{
    BackupStats, DATA_FINDINGS_MAX, DataReport, HeadFinding, backup_database, verify_data,
};
pub use pruned::PrunedRange;
pub use recovery::{RecoveryReport, verify_database};
pub use restore::{RestoreError, RestorePoint, RestoreRecord, RestoreReport, Restorer};
pub use status::{EngineStatus, MetricsSnapshot, RecordedKey, SegmentInfo};

/// A source of wall-clock time in microseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now_micros(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        // A clock before 1970 reads negative, one past i64 saturates: both
        // are refused where the time is used (`Chain::tick_clock`), never
        // turned into 1970.
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => {
                i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |micros| -micros)
            }
        }
    }
}

/// When the open segment is sealed automatically (whichever comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSeal {
    /// Envelopes per segment, control envelopes included (at least 3:
    /// opened, one event, sealed).
    pub envelopes_max: u64,
    /// Canonical envelope bytes plus attachment bytes per segment.
    pub bytes_max: u64,
    /// Time a segment may stay open.
    pub age_max: Duration,
}

/// When checkpoints run (in WAL pages of 4 KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// The background checkpointer copies the WAL into the database once
    /// this many pages have been added since its last pass (without blocking
    /// commits).
    pub background_pages: i64,
    /// The writer finishes the copy itself (a small catch-up) so the next
    /// transaction restarts the WAL from its beginning.
    pub restart_pages: i64,
    /// Hard cap: the writer waits for a full truncating checkpoint.
    pub hard_pages: i64,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        // Measured (Docs/benchmarks.md): small, frequent copies and a WAL
        // restarted every ~4 MB gave the best throughput and tail latency.
        Self {
            background_pages: 256,
            restart_pages: 1_000,
            hard_pages: 65_536,
        }
    }
}

/// What is kept locally once segments are archived (`[retention]`): a
/// sealed segment's envelope and attachment rows are deleted only when it
/// is archived and confirmed, is not among the newest `keep_segments_min`
/// sealed segments, and was sealed longer than `keep_age` ago. Its segment
/// row and seal stay, so the local seal chain still verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Newest sealed segments always kept (at least 1).
    pub keep_segments_min: u64,
    /// Segments sealed within this time are kept.
    pub keep_age: Duration,
    /// How often the policy is applied.
    pub check_interval: Duration,
    /// Rows deleted per transaction while a pruning's rows go (bounds
    /// how much one pruning delays the writes it shares a transaction
    /// with).
    pub delete_rows_per_batch: u64,
    /// Free pages given back to the file system per transaction.
    pub vacuum_pages_per_batch: u64,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// The recorder id written into every record; fixed for a database.
    pub recorder_id: String,
    /// Auto-seal thresholds.
    pub auto_seal: AutoSeal,
    /// Envelopes (and the seals of their segments) verified at open.
    pub startup_verification_depth: u64,
    /// Commands the queue holds before [`SubmitError::Overloaded`].
    pub queue_capacity: usize,
    /// Payload and attachment bytes the queue holds before overload.
    pub queue_bytes_max: usize,
    /// Most commands in one transaction.
    pub batch_commands_max: usize,
    /// Most envelopes in one batch append ([`RecorderEngine::append_batch`]).
    pub batch_envelopes_max: usize,
    /// Threads that sign a plan's envelopes, the sequencer's own included
    /// (`signing.rs`); at least 1.
    pub signing_threads: usize,
    /// Largest canonical envelope (payload included), in bytes.
    pub envelope_bytes_max: usize,
    /// Idempotency record lifetime.
    pub idempotency_ttl: Duration,
    /// Idempotency records kept at most (oldest evicted first).
    pub idempotency_entries_max: u64,
    /// Checkpoint thresholds.
    pub checkpoint: CheckpointPolicy,
    /// Read-only connections in the pool.
    pub readers_max: usize,
    /// Largest query page.
    pub query_page_envelopes_max: u32,
    /// Store options (busy timeout, page cap for tests).
    pub store: arxi_store::StoreOptions,
    /// Where bundles are built, served from and cleaned at open (`None`:
    /// building is refused with `BundleError::NoBundleDir`).
    pub bundle_dir: Option<PathBuf>,
    /// Which envelope version data envelopes are written in, and what a
    /// version 2 envelope commits to instead of carrying in clear. A
    /// change is recorded at the next start (`arxi.envelope.version_changed`).
    pub payloads: PayloadPolicy,
    /// The log tree's origin: the first line of its checkpoints and the key
    /// name they are signed under (C2SP: no spaces, no `+`).
    pub log_origin: String,
    /// The operator's acknowledgement of a restore: the sequence number of
    /// the signed head (`<database>.head`) whose newer envelopes they accept
    /// to lose. Only a database behind exactly that head opens, recording
    /// `arxi.recorder.rolled_back`; `None` refuses every rollback.
    pub rollback_acknowledged_seq: Option<u64>,
    /// Local retention of archived segments (`None`: everything is kept).
    pub retention: Option<RetentionPolicy>,
    /// The subject key file (crypto-shredding, `Docs/format.md` §10.2):
    /// version 2 payloads that name a subject are stored encrypted under
    /// that subject's key, and an erasure by subject destroys the key.
    /// Kept apart from the database, so a copy of the database made before
    /// an erasure cannot be read for that subject once the key is gone.
    pub subject_keys: Option<PathBuf>,
    /// Delegated envelope keys (`None`: the configured key signs
    /// everything): the configured key becomes the root, which signs
    /// delegations, checkpoints, bundles and the signed head; a delegated
    /// key made in memory signs envelopes and seals.
    pub delegation: Option<DelegationPolicy>,
}

impl RecorderConfig {
    /// Defaults for a recorder id.
    pub fn new(recorder_id: impl Into<String>) -> Self {
        Self {
            recorder_id: recorder_id.into(),
            auto_seal: AutoSeal {
                envelopes_max: 100_000,
                bytes_max: 256 * 1024 * 1024,
                age_max: Duration::from_secs(3_600),
            },
            startup_verification_depth: 1_000,
            queue_capacity: 4_096,
            queue_bytes_max: 64 * 1024 * 1024,
            batch_commands_max: 256,
            batch_envelopes_max: 1_000,
            signing_threads: std::thread::available_parallelism().map_or(1, usize::from),
            envelope_bytes_max: 1024 * 1024,
            idempotency_ttl: Duration::from_secs(24 * 3_600),
            idempotency_entries_max: 100_000,
            checkpoint: CheckpointPolicy::default(),
            readers_max: 8,
            query_page_envelopes_max: 1_000,
            store: arxi_store::StoreOptions::default(),
            bundle_dir: None,
            payloads: PayloadPolicy::default(),
            log_origin: String::new(),
            rollback_acknowledged_seq: None,
            retention: None,
            subject_keys: None,
            delegation: None,
        }
        .with_default_origin()
    }

    /// Sets [`Self::log_origin`] to the default for the recorder id:
    /// `arxi/<recorder id>`.
    pub fn with_default_origin(mut self) -> Self {
        self.log_origin = format!("arxi/{}", self.recorder_id);
        self
    }
}

/// An attachment to record with an envelope.
#[derive(Debug, Clone)]
pub struct AttachmentInput {
    /// Name, unique within the envelope.
    pub name: String,
    /// Media type (`type/subtype`, lowercase).
    pub media_type: String,
    /// The bytes.
    pub bytes: Arc<[u8]>,
}

/// A data envelope to record.
#[derive(Debug)]
pub struct AppendRequest {
    /// Event type (must not start with `arxi.`).
    pub event_type: String,
    /// Who acted.
    pub actor: Option<String>,
    /// What was acted on.
    pub subject: Option<String>,
    /// The canonical payload.
    pub payload: CanonicalJson,
    /// Attachments.
    pub attachments: Vec<AttachmentInput>,
    /// Idempotency, when the caller gave a key.
    pub idempotency: Option<IdempotencyRequest<Receipt>>,
}

/// What the recorder assigned to a recorded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Sequence number.
    pub seq: u64,
    /// Segment.
    pub segment_id: u64,
    /// Envelope hash.
    pub hash: Hash32,
    /// Previous envelope's hash.
    pub prev_hash: Hash32,
    /// Receive time as recorded.
    pub received_at: Timestamp,
    /// Signing key.
    pub key_id: KeyId,
    /// The commitment the envelope carries instead of its payload (a
    /// version 2 envelope); `None` for a version 1 envelope.
    pub payload_commitment: Option<Hash32>,
    /// Version 2: what opens the commitment with the request (the salt, and
    /// which of the request's labels went into the committed content).
    pub payload_opening: Option<PayloadOpening>,
    /// The envelope's signature (set before the answer is sent; `None`
    /// only inside the recorder, between numbering and signing).
    pub signature: Option<Signature>,
}

/// What a version 2 receipt gives its holder to open the envelope's
/// commitment with the request it answers (`Docs/format.md` §14.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadOpening {
    /// The envelope's salt.
    pub salt: arxi_format::payload::Salt,
    /// The request labels committed instead of written in clear: `actor`,
    /// `subject`, both or none (the recorder's policy).
    pub committed_labels: &'static [&'static str],
}

impl Receipt {
    /// The envelope version: 2 when it commits to its payload.
    pub fn version(&self) -> u64 {
        if self.payload_commitment.is_some() {
            arxi_format::envelope::ENVELOPE_VERSION_COMMITTED
        } else {
            arxi_format::envelope::ENVELOPE_VERSION
        }
    }
}

/// A recorded seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealReceipt {
    /// The sealed segment.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes sealed.
    pub count: u64,
    /// Merkle root.
    pub merkle_root: Hash32,
    /// Seal hash.
    pub seal_hash: Hash32,
    /// When sealed.
    pub sealed_at: Timestamp,
}

/// The result of a mutation that may have been an idempotent replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Performed now; `response` is what was stored for replays (when the
    /// request carried an idempotency key).
    Done {
        /// The result.
        value: T,
        /// The stored response.
        response: Option<StoredResponse>,
    },
    /// Already performed earlier with the same key and request: the stored
    /// response, unchanged.
    Replayed(StoredResponse),
}

/// Why a request was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue (commands or bytes) is full; retry after the hint.
    Overloaded {
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// The engine is shutting down or stopped.
    Stopped,
    /// A field breaks a rule; `field` names it.
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The envelope would exceed `envelope_bytes_max`.
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The operating system's random source failed (no salt for a
    /// version 2 envelope); nothing was queued.
    RandomUnavailable(String),
    /// The store could not be read to check the request; nothing was
    /// queued.
    Storage(String),
    /// A revocation names the key the recorder signs with: it would sign
    /// its own revocation (rotate to another key first).
    RevokesSigningKey {
        /// The recorder's current key.
        key_id: KeyId,
    },
    /// A revocation names a key this recorder has never signed with
    /// (most likely a typing error); nothing was queued.
    UnknownKey {
        /// The key named.
        key_id: KeyId,
    },
    /// An envelope of a batch was refused; nothing of the batch was queued.
    InBatch {
        /// Its position in the batch, from 0.
        index: usize,
        /// Why.
        error: Box<SubmitError>,
    },
}

impl SubmitError {
    /// This refusal as one of a batch's, at `index`.
    pub fn at(self, index: usize) -> Self {
        Self::InBatch {
            index,
            error: Box::new(self),
        }
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Overloaded { retry_after } => {
                write!(f, "recorder queue full; retry after {retry_after:?}")
            }
            Self::Stopped => write!(f, "recorder is stopped"),
            Self::Invalid { field, reason } => write!(f, "{field}: {reason}"),
            Self::TooLarge { bytes, limit } => {
                write!(f, "envelope of {bytes} bytes exceeds the limit of {limit}")
            }
            Self::RandomUnavailable(reason) => {
                write!(f, "the random source failed: {reason}")
            }
            Self::Storage(reason) => write!(f, "the store could not be read: {reason}"),
            Self::RevokesSigningKey { key_id } => write!(
                f,
                "{key_id} is the recorder's signing key: rotate to another key, then revoke it"
            ),
            Self::UnknownKey { key_id } => {
                write!(f, "{key_id} is not a key this recorder has signed with")
            }
            Self::InBatch { index, error } => write!(f, "envelope {index} of the batch: {error}"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Why a queued command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The store failed; nothing of the batch was recorded.
    Storage(StoreError),
    /// The writer is not healthy (a previous IO failure it could not
    /// recover from yet).
    Unavailable(String),
    /// The signing key made no signature (a key held in a token refused
    /// or is gone); nothing of the batch was recorded.
    SignerUnavailable(String),
    /// The idempotency key was used before with a different request.
    IdempotencyConflict,
    /// The idempotency store could not be read or written (fail closed).
    IdempotencyUnavailable(String),
    /// Sealing with no open segment.
    NoOpenSegment,
    /// Opening while a segment is open.
    SegmentAlreadyOpen {
        /// The open segment.
        segment_id: u64,
    },
    /// The engine stopped before the command ran.
    Stopped,
    /// The clock reads a time outside what evidence can carry
    /// (1970..=9999); nothing was recorded.
    ClockOutOfRange {
        /// What the clock said, in microseconds since the Unix epoch.
        micros: i64,
    },
    /// An erasure found nothing it could erase; nothing was recorded.
    NothingToErase {
        /// The sequence numbers asked for and why each was left.
        skipped: Vec<Skipped>,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Storage(error) => write!(f, "{error}"),
            Self::Unavailable(reason) => write!(f, "recorder unavailable: {reason}"),
            Self::SignerUnavailable(reason) => write!(f, "signer unavailable: {reason}"),
            Self::IdempotencyConflict => {
                write!(f, "idempotency key reused with a different request")
            }
            Self::IdempotencyUnavailable(reason) => {
                write!(f, "idempotency store unavailable: {reason}")
            }
            Self::NoOpenSegment => write!(f, "no segment is open"),
            Self::SegmentAlreadyOpen { segment_id } => {
                write!(f, "segment {segment_id} is already open")
            }
            Self::Stopped => write!(f, "recorder stopped"),
            Self::ClockOutOfRange { micros } => write!(
                f,
                "the clock reads {micros} µs since 1970, outside what evidence can carry"
            ),
            Self::NothingToErase { skipped } => write!(
                f,
                "nothing to erase ({} envelope(s) named could not be erased)",
                skipped.len()
            ),
        }
    }
}

impl std::error::Error for CommandError {}

/// A submitted command's result: `.await` it, or block with [`Self::wait`].
#[derive(Debug)]
pub struct Pending<T> {
    receiver: oneshot::Receiver<Result<T, CommandError>>,
}

impl<T> Pending<T> {
    /// Blocks the current thread until the command is durable (or failed).
    pub fn wait(self) -> Result<T, CommandError> {
        self.receiver.recv().unwrap_or(Err(CommandError::Stopped))
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T, CommandError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.receiver)
            .poll(context)
            .map(|result| result.unwrap_or(Err(CommandError::Stopped)))
    }
}

/// Why the engine did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The store could not be opened or read.
    Store(StoreError),
    /// The database belongs to another recorder id.
    RecorderIdMismatch {
        /// Id stored in the database.
        stored: String,
        /// Id configured.
        configured: String,
    },
    /// The configuration breaks a rule.
    InvalidConfig(String),
    /// A stored envelope failed verification; names the first bad one.
    EnvelopeInvalid {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// A stored seal failed verification.
    SealInvalid {
        /// The segment.
        segment_id: u64,
        /// What is wrong.
        problem: String,
    },
    /// Store rows disagree with each other (e.g. a segment row and its
    /// envelopes).
    Inconsistent(String),
    /// The bundle directory could not be read or cleaned; names the path.
    BundleDir(String),
    /// The clock reads a time outside what evidence can carry.
    ClockOutOfRange {
        /// What the clock said, in microseconds since the Unix epoch.
        micros: i64,
    },
    /// The database does not reach the signed head beside it (a restored
    /// older backup) and no acknowledgement names that head.
    BehindSignedHead(Box<Rollback>),
    /// An acknowledgement names another signed head than the one found.
    RollbackAcknowledgementMismatch {
        /// What was acknowledged.
        acknowledged_seq: u64,
        /// What the rollback is.
        rollback: Box<Rollback>,
    },
    /// The signed head file could not be read, is not a head, belongs to
    /// another recorder, or could not be written; names the path.
    SignedHead(String),
    /// Another recorder holds the database's lock (or the lock file could
    /// not be made); names the lock file.
    InUse(String),
    /// The signing key made no signature (a key in a token refused or is
    /// gone) where opening needed one.
    Signer(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(error) => write!(f, "{error}"),
            Self::RecorderIdMismatch { stored, configured } => write!(
                f,
                "database belongs to recorder {stored:?}, configured recorder id is {configured:?}"
            ),
            Self::InvalidConfig(reason) => write!(f, "invalid recorder configuration: {reason}"),
            Self::EnvelopeInvalid { seq, problem } => {
                write!(
                    f,
                    "stored envelope seq {seq} failed verification: {problem}"
                )
            }
            Self::SealInvalid {
                segment_id,
                problem,
            } => write!(
                f,
                "stored seal of segment {segment_id} failed verification: {problem}"
            ),
            Self::Inconsistent(problem) => write!(f, "store is inconsistent: {problem}"),
            Self::BundleDir(problem) => write!(f, "bundle directory: {problem}"),
            Self::ClockOutOfRange { micros } => write!(
                f,
                "the clock reads {micros} µs since 1970, outside what evidence can carry"
            ),
            Self::BehindSignedHead(rollback) => write!(f, "{rollback}"),
            Self::RollbackAcknowledgementMismatch {
                acknowledged_seq,
                rollback,
            } => write!(
                f,
                "the rollback acknowledged is for signed head seq {acknowledged_seq}, not this one: {rollback}"
            ),
            Self::SignedHead(problem) => write!(f, "signed head: {problem}"),
            Self::InUse(problem) => write!(f, "database in use: {problem}"),
            Self::Signer(problem) => write!(f, "signer unavailable: {problem}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<StoreError> for OpenError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Query filters (all optional) with an opaque cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeQuery {
    /// Only this segment.
    pub segment_id: Option<u64>,
    /// Sequence numbers at or above.
    pub seq_from: Option<u64>,
    /// Sequence numbers at or below.
    pub seq_to: Option<u64>,
    /// Received at or after.
    pub received_from: Option<Timestamp>,
    /// Received strictly before.
    pub received_before: Option<Timestamp>,
    /// Data or control.
    pub kind: Option<arxi_format::Kind>,
    /// Exact type.
    pub event_type: Option<String>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Cursor from a previous page.
    pub cursor: Option<String>,
    /// Page size (default 100, capped by `query_page_max`).
    pub limit: Option<u32>,
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The cursor is not one this recorder issued.
    InvalidCursor,
    /// The query reaches envelopes pruned locally; they are in the
    /// archive objects named.
    Pruned(PrunedRange),
    /// A range with its ends reversed, or a limit of zero.
    InvalidRange(String),
    /// The store failed.
    Storage(StoreError),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCursor => write!(f, "invalid cursor"),
            Self::Pruned(range) => write!(f, "{range}"),
            Self::InvalidRange(reason) => write!(f, "{reason}"),
            Self::Storage(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<StoreError> for QueryError {
    fn from(error: StoreError) -> Self {
        Self::Storage(error)
    }
}
