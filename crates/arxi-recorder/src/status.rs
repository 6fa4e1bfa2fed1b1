//! What the engine reports about itself: the state as of the last commit
//! ([`EngineStatus`], [`SegmentInfo`]), the counters behind `/metrics`, and
//! [`Shared`], the state the handle and the writer threads share. A leaf:
//! it names no other module of the crate.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arxi_format::{Hash32, PublicKey, Timestamp};
use arxi_store::{KeyRow, SegmentRow, StoreError};

/// A segment as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment id.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number so far.
    pub last_seq: u64,
    /// Envelopes so far.
    pub envelope_count: u64,
    /// Bytes so far (envelopes and attachments).
    pub bytes: u64,
    /// When opened.
    pub opened_at: Timestamp,
    /// When sealed, if sealed.
    pub sealed_at: Option<Timestamp>,
}

impl SegmentInfo {
    /// A segment row read back; a time column outside 1970..=9999 is a bad
    /// row (rows are untrusted input), never a made-up time.
    pub(crate) fn from_row(row: &SegmentRow) -> Result<Self, StoreError> {
        let time = |column: &str, micros: i64| {
            Timestamp::from_unix_micros(micros).ok_or_else(|| {
                StoreError::BadRow(format!(
                    "segments.{column} of segment {} is {micros}, outside 1970..=9999",
                    row.segment_id
                ))
            })
        };
        Ok(Self {
            segment_id: row.segment_id,
            first_seq: row.first_seq,
            last_seq: row.last_seq,
            envelope_count: row.envelope_count,
            bytes: row.bytes,
            opened_at: time("opened_at_us", row.opened_at_us)?,
            sealed_at: row
                .sealed_at_us
                .map(|micros| time("sealed_at_us", micros))
                .transpose()?,
        })
    }
}

/// The engine's state as of the last commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStatus {
    /// Sequence number of the last envelope.
    pub head_seq: u64,
    /// Its hash.
    pub head_hash: Hash32,
    /// The open segment, if any.
    pub open_segment: Option<SegmentInfo>,
    /// Hash of the last seal.
    pub last_seal_hash: Hash32,
    /// Root of the log tree over envelopes `1..=head_seq` (`None` when
    /// there are none).
    pub tree_root: Option<Hash32>,
    /// Why the writer cannot write, if it cannot.
    pub failure: Option<String>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) appends_total: AtomicU64,
    pub(crate) replays_total: AtomicU64,
    pub(crate) envelopes_total: AtomicU64,
    pub(crate) commits_total: AtomicU64,
    pub(crate) commit_failures_total: AtomicU64,
    pub(crate) signer_failures_total: AtomicU64,
    pub(crate) seals_total: AtomicU64,
    pub(crate) overloaded_total: AtomicU64,
    pub(crate) checkpoints_total: AtomicU64,
    pub(crate) checkpoint_failures_total: AtomicU64,
    pub(crate) checkpoint_retries_total: AtomicU64,
    pub(crate) wal_pages: AtomicU64,
    /// Commands per batch: buckets <=1, <=2, <=4, ... <=256, more.
    pub(crate) batch_buckets: [AtomicU64; BATCH_BUCKETS],
    pub(crate) batch_commands_sum: AtomicU64,
    /// Commit, COMMIT-statement and checkpoint durations; envelopes per
    /// commit.
    pub(crate) timings: crate::histogram::Timings,
}

pub(crate) const BATCH_BUCKETS: usize = 10;

impl Metrics {
    pub(crate) fn record_batch(&self, commands: usize) {
        let bucket = (usize::BITS - commands.saturating_sub(1).leading_zeros()) as usize;
        self.batch_buckets[bucket.min(BATCH_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.batch_commands_sum
            .fetch_add(commands as u64, Ordering::Relaxed);
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Data envelopes submitted.
    pub appends_total: u64,
    /// Idempotent replays answered.
    pub replays_total: u64,
    /// Envelopes written (data and control).
    pub envelopes_total: u64,
    /// Transactions committed.
    pub commits_total: u64,
    /// Transactions that failed.
    pub commit_failures_total: u64,
    /// Batches refused because the signing key made no signature.
    pub signer_failures_total: u64,
    /// Seals written (batches with at least one seal).
    pub seals_total: u64,
    /// Submissions refused as overloaded.
    pub overloaded_total: u64,
    /// Checkpoints run.
    pub checkpoints_total: u64,
    /// Checkpoints failed.
    pub checkpoint_failures_total: u64,
    /// Background checkpoint attempts that met a commit in flight and were
    /// tried again.
    pub checkpoint_retries_total: u64,
    /// WAL pages after the last commit.
    pub wal_pages: u64,
    /// Commands queued now.
    pub queue_depth: u64,
    /// Bytes queued now.
    pub queued_bytes: u64,
    /// (upper bound, count) of commands per batch; the last bound is +Inf
    /// (`u64::MAX`).
    pub batch_buckets: Vec<(u64, u64)>,
    /// Total commands over all batches.
    pub batch_commands_sum: u64,
    /// Commit, COMMIT-statement and checkpoint durations; envelopes per
    /// commit.
    pub timings: crate::histogram::TimingsSnapshot,
}

/// The shortest retry hint: a retry sooner would meet the same queue.
pub(crate) const RETRY_AFTER_MS_MIN: u64 = 1;
/// The longest retry hint (a stalled writer answers this, not hours).
pub(crate) const RETRY_AFTER_MS_MAX: u64 = 5_000;

/// State shared by the engine handle and the writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) metrics: Metrics,
    pub(crate) queue_depth: AtomicUsize,
    pub(crate) queued_bytes: AtomicUsize,
    pub(crate) stopped: AtomicBool,
    pub(crate) status: Mutex<EngineStatus>,
    /// How long one plan takes to commit (transaction and fsync), in µs: a
    /// moving average (weight 1/8) the committer updates, from which the
    /// retry hint of an overloaded submission is computed.
    pub(crate) commit_micros_average: AtomicU64,
}

impl Shared {
    pub(crate) fn new(status: EngineStatus) -> Self {
        Self {
            metrics: Metrics::default(),
            queue_depth: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            status: Mutex::new(status),
            commit_micros_average: AtomicU64::new(0),
        }
    }

    /// Folds one commit's duration into the moving average.
    pub(crate) fn record_commit_micros(&self, micros: u64) {
        let average = self.commit_micros_average.load(Ordering::Relaxed);
        let next = if average == 0 {
            micros
        } else {
            average - average / 8 + micros / 8
        };
        self.commit_micros_average.store(next, Ordering::Relaxed);
    }

    /// When a refused submission may find room: the batches queued ahead
    /// (`queue_depth` commands, at most `batch_commands_max` per
    /// transaction), plus the one committing, at the average commit time;
    /// within [`RETRY_AFTER_MS_MIN`]..=[`RETRY_AFTER_MS_MAX`].
    pub(crate) fn retry_after_ms(&self, batch_commands_max: usize) -> u64 {
        let depth = self.queue_depth.load(Ordering::Relaxed) as u64;
        let batches = depth.div_ceil(batch_commands_max.max(1) as u64) + 1;
        let commit_micros = self.commit_micros_average.load(Ordering::Relaxed);
        (batches.saturating_mul(commit_micros) / 1_000)
            .clamp(RETRY_AFTER_MS_MIN, RETRY_AFTER_MS_MAX)
    }

    pub(crate) fn dequeued(&self, bytes: usize) {
        self.queue_depth.fetch_sub(1, Ordering::AcqRel);
        if bytes > 0 {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    pub(crate) fn publish(&self, status: EngineStatus) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }
}

/// A key this recorder has signed with, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedKey {
    /// The public key (its id is `public_key.id()`).
    pub public_key: PublicKey,
    /// The first envelope it signed.
    pub first_seq: u64,
    /// When it was first used.
    pub added_at: Timestamp,
    /// The delegation by which the root certified it, when it is a
    /// delegated key (`Docs/format.md` §3.1).
    pub delegation: Option<arxi_format::delegation::Delegation>,
}

impl RecordedKey {
    /// A key row read back; a row that does not hold a valid key, whose id
    /// does not match it, or whose time is out of range is a bad row.
    pub(crate) fn from_row(row: &KeyRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::BadRow(format!("keys row {}: {what}", row.key_id));
        let public_key =
            PublicKey::from_bytes(&row.public_key).map_err(|error| bad(&error.to_string()))?;
        if public_key.id().as_str() != row.key_id {
            return Err(bad("the key id does not match the public key"));
        }
        let added_at = Timestamp::from_unix_micros(row.added_at_us)
            .ok_or_else(|| bad("added_at_us is outside 1970..=9999"))?;
        Ok(Self {
            public_key,
            first_seq: row.first_seq,
            added_at,
            delegation: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The retry hint: (commit times in µs, commands queued, batch size)
    /// to the expected hint in ms.
    #[test]
    fn the_retry_hint_follows_the_queue_and_the_commit_time() {
        let check = |commits: &[u64], depth: usize, batch: usize, expected_ms: u64| {
            let shared = Shared::new(EngineStatus {
                head_seq: 0,
                head_hash: Hash32::ZERO,
                open_segment: None,
                last_seal_hash: Hash32::ZERO,
                tree_root: None,
                failure: None,
            });
            for micros in commits {
                shared.record_commit_micros(*micros);
            }
            shared.queue_depth.store(depth, Ordering::Relaxed);
            assert_eq!(
                shared.retry_after_ms(batch),
                expected_ms,
                "commits {commits:?}, depth {depth}, batch {batch}"
            );
        };
        check(&[], 4_096, 256, RETRY_AFTER_MS_MIN);
        check(&[2_000], 0, 256, 2);
        check(&[2_000], 600, 256, 8);
        check(&[2_000], 4_096, 256, 34);
        check(&[2_000, 2_000, 10_000], 4_096, 256, 51);
        check(&[900_000], 4_096, 256, RETRY_AFTER_MS_MAX);
        check(&[u64::MAX], 4_096, 1, RETRY_AFTER_MS_MAX);
    }
}
