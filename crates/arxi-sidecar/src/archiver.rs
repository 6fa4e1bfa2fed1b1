//! The archiver: a thread of its own (never a runtime thread) that turns
//! every sealed segment, or a run of `archive.segments_per_bundle` of
//! them, into one object in the bucket and records it.
//!
//! One run at a time, oldest first: the recorder writes the run's bundle
//! to a spool file (one row in memory at a time; the bytes depend only on
//! the stored rows and the key, so a rebuilt bundle is the same file);
//! `arxi_archive::run::archive_run` puts it in the bucket (or adopts what
//! an earlier attempt put there) and confirms it; then the recorder
//! records `arxi.segment.archived` with the archive row, one transaction.
//! A failure anywhere leaves the run unrecorded: it is tried again, after
//! a wait that doubles from `archive_retry_min_ms` up to
//! `archive_retry_max_ms`, for as long as it takes. Nothing is skipped,
//! so no segment is lost, and since a run's key is fixed by its content
//! and the bucket is searched before uploading, none is archived twice.
//!
//! Memory: one upload part (`archive_part_bytes`) whatever the bundle's
//! size. The archiver also keeps the retention figures (pruned prefix,
//! database size) in atomics for `/metrics`, which must not read SQLite
//! on a runtime thread.

use std::io::{BufWriter, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arxi_archive::run::{RunSettings, Spooled, archive_run};
use arxi_archive::s3::{Headers, S3Client, S3Settings};
use arxi_archive::upload::{LockMode, ObjectLock, lock_headers};
use arxi_recorder::{ArchiveRecord, Clock as _, Outcome, RecorderEngine, SystemClock};
use arxi_sidecar_config::ValidConfig;
use arxi_sidecar_config::model::ObjectLockMode;

use crate::io::Signal;

/// How often the archiver looks for newly sealed segments when idle.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The spool directory under the data directory.
const SPOOL_DIR: &str = "archive-spool";

/// What the archiver has done, for `/metrics` and `/ready`.
#[derive(Debug, Default)]
pub struct ArchiveMetrics {
    /// Sealed segments not archived yet.
    pub lag_segments: AtomicU64,
    /// Segments archived by this process.
    pub segments_total: AtomicU64,
    /// Objects written or adopted by this process.
    pub objects_total: AtomicU64,
    /// Of which adopted (an earlier attempt had uploaded them).
    pub adopted_total: AtomicU64,
    /// Bytes archived by this process.
    pub bytes_total: AtomicU64,
    /// Failed attempts.
    pub failures_total: AtomicU64,
    /// Failed attempts since the last success.
    pub failures_in_a_row: AtomicU64,
    /// Unix time of the last archived run (0: none yet).
    pub last_success_unix_seconds: AtomicU64,
    /// Segments pruned locally (`1..=n`).
    pub pruned_through_segment: AtomicU64,
    /// The database file's size.
    pub database_bytes: AtomicU64,
    /// Of which free pages.
    pub database_free_bytes: AtomicU64,
    /// The last failure, until the next success.
    pub last_error: Mutex<Option<String>>,
}

/// The archiver's settings, from the configuration.
struct Settings {
    run: RunSettings,
    lock: Option<ObjectLock>,
    segments_per_bundle: u64,
    run_wait: Duration,
    retry_min: Duration,
    retry_max: Duration,
    spool_dir: PathBuf,
}

/// The running archiver.
struct Archiver {
    engine: Arc<RecorderEngine>,
    client: S3Client,
    settings: Settings,
    metrics: Arc<ArchiveMetrics>,
    stop: Arc<Signal>,
}

/// Whether a step archived a run or found nothing to do.
enum Step {
    Archived,
    Idle,
}

/// The S3 client the configuration describes (`None` without
/// `[archive]`). With Object Lock configured, the bucket must have it
/// enabled: anything else (including an unreachable bucket) is an error,
/// so the sidecar does not start.
pub fn connect(config: &ValidConfig) -> Result<Option<S3Client>, String> {
    let Some(archive) = &config.model().archive else {
        return Ok(None);
    };
    let credentials = config
        .archive_credentials()
        .expect("validation reads the credentials of every [archive]");
    let settings = S3Settings {
        endpoint: archive.endpoint.clone(),
        region: archive.region.clone(),
        bucket: archive.bucket.clone(),
        path_style: archive.path_style,
        access_key_id: credentials.access_key_id.expose().to_owned(),
        secret_access_key: credentials.secret_access_key.expose().to_owned(),
        session_token: credentials
            .session_token
            .as_ref()
            .map(|token| token.expose().to_owned()),
        request_timeout: Duration::from_millis(config.model().limits.archive_request_timeout_ms),
    };
    let client = S3Client::new(&settings).map_err(|e| e.to_string())?;
    if archive.object_lock_mode.is_some() {
        match client.object_lock_enabled() {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "archive.object_lock_mode is set but bucket {:?} does not have Object Lock enabled",
                    archive.bucket
                ));
            }
            Err(error) => {
                return Err(format!(
                    "archive.object_lock_mode is set and bucket {:?} could not be asked whether it has Object Lock: {error}",
                    archive.bucket
                ));
            }
        }
    }
    Ok(Some(client))
}

/// Starts the archiver thread (with `[archive]`).
pub fn start(
    config: &ValidConfig,
    client: S3Client,
    engine: Arc<RecorderEngine>,
    metrics: Arc<ArchiveMetrics>,
    stop: Arc<Signal>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let model = config.model();
    let archive = model
        .archive
        .as_ref()
        .expect("start is called with [archive] only");
    let limits = &model.limits;
    let settings = Settings {
        run: RunSettings {
            key_prefix: archive.key_prefix.clone(),
            recorder_id: model.recorder.id.clone(),
            part_bytes: limits.archive_part_bytes_max,
        },
        lock: archive.object_lock_mode.map(|mode| ObjectLock {
            mode: match mode {
                ObjectLockMode::Governance => LockMode::Governance,
                ObjectLockMode::Compliance => LockMode::Compliance,
            },
            retention_days: archive
                .object_lock_retention_days
                .expect("validation pairs the mode with its days"),
        }),
        segments_per_bundle: archive.segments_per_bundle,
        run_wait: Duration::from_secs(archive.run_wait_seconds),
        retry_min: Duration::from_millis(limits.archive_retry_min_ms),
        retry_max: Duration::from_millis(limits.archive_retry_max_ms),
        spool_dir: config.data_dir().join(SPOOL_DIR),
    };
    std::fs::create_dir_all(&settings.spool_dir)?;
    clean_spool(&settings.spool_dir);
    let archiver = Archiver {
        engine,
        client,
        settings,
        metrics,
        stop,
    };
    std::thread::Builder::new()
        .name("arxi-archiver".into())
        .spawn(move || archiver.run())
}

/// Removes spool files a previous process left (a spool file is only
/// ever a copy of stored rows).
fn clean_spool(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Err(error) = std::fs::remove_file(entry.path()) {
            tracing::warn!(%error, path = %entry.path().display(), "could not remove a spool file");
        }
    }
}

impl Archiver {
    fn run(self) {
        if let Err(error) = arxi_archive::run::abort_stale_uploads(&self.client, &self.settings.run)
        {
            tracing::warn!(%error, "could not list or abort earlier multipart uploads");
        }
        let mut failures = 0_u32;
        while !self.stop.is_raised() {
            self.refresh_retention();
            match self.step() {
                Ok(Step::Archived) => failures = 0,
                Ok(Step::Idle) => self.wait(POLL_INTERVAL),
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(self.settings.retry_min, self.settings.retry_max, failures);
                    tracing::warn!(%error, retry_in_ms = wait.as_millis(), "archiving failed; retrying");
                    self.metrics.failures_total.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .failures_in_a_row
                        .fetch_add(1, Ordering::Relaxed);
                    *self
                        .metrics
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(error);
                    self.wait(wait);
                }
            }
        }
    }

    /// Sleeps `duration`, or less once stop is raised.
    fn wait(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while !self.stop.is_raised() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::park_timeout((deadline - now).min(Duration::from_millis(50)));
        }
    }

    fn refresh_retention(&self) {
        if let Ok(status) = self.engine.retention_status() {
            let metrics = &self.metrics;
            metrics
                .pruned_through_segment
                .store(status.pruned_through_segment, Ordering::Relaxed);
            metrics
                .database_bytes
                .store(status.database_bytes, Ordering::Relaxed);
            metrics
                .database_free_bytes
                .store(status.free_bytes, Ordering::Relaxed);
        }
    }

    /// Archives the oldest run that is due, if one is.
    fn step(&self) -> Result<Step, String> {
        let position = self.engine.archive_position().map_err(|e| e.to_string())?;
        self.metrics
            .lag_segments
            .store(position.lag_segments(), Ordering::Relaxed);
        if position.lag_segments() == 0 {
            return Ok(Step::Idle);
        }
        let first = position.archived_through + 1;
        let last = position
            .sealed_through
            .min(first + self.settings.segments_per_bundle - 1);
        let full = last - first + 1 == self.settings.segments_per_bundle;
        let waited_us = position
            .oldest_pending_sealed_at_us
            .map_or(0, |sealed| SystemClock.now_micros().saturating_sub(sealed));
        let run_wait_us = i64::try_from(self.settings.run_wait.as_micros()).unwrap_or(i64::MAX);
        if !full && waited_us < run_wait_us {
            return Ok(Step::Idle);
        }
        self.archive(first, last)?;
        Ok(Step::Archived)
    }

    /// Spools, uploads (or adopts), confirms and records one run.
    fn archive(&self, first: u64, last: u64) -> Result<(), String> {
        let path = self.settings.spool_dir.join(format!("{first}-{last}.arxb"));
        let result = self.archive_spooled(first, last, &path);
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "could not remove a spool file");
        }
        result
    }

    fn archive_spooled(&self, first: u64, last: u64, path: &Path) -> Result<(), String> {
        let mut spooled = self.spool(first, last, path)?;
        let lock: Headers = match &self.settings.lock {
            Some(lock) => lock_headers(lock, SystemClock.now_micros()),
            None => Headers::new(),
        };
        let object = archive_run(
            &self.client,
            &self.settings.run,
            first,
            last,
            &mut spooled,
            &lock,
        )
        .map_err(|e| format!("segments {first}..={last}: {e}"))?;
        let (first_seq, last_seq) =
            self.seq_range(object.name.first_segment, object.name.last_segment)?;
        let record = ArchiveRecord {
            first_segment: object.name.first_segment,
            last_segment: object.name.last_segment,
            first_seq,
            last_seq,
            object_key: object.key.clone(),
            sha256: object.name.sha256,
            size: object.size,
        };
        match self.engine.record_archived(record) {
            Ok(pending) => match pending.wait() {
                Ok(Outcome::Done { .. } | Outcome::Replayed(_)) => {}
                Err(error) => return Err(format!("recording {}: {error}", object.key)),
            },
            Err(error) => return Err(format!("recording {}: {error}", object.key)),
        }
        let segments = object.name.last_segment - object.name.first_segment + 1;
        let metrics = &self.metrics;
        metrics
            .segments_total
            .fetch_add(segments, Ordering::Relaxed);
        metrics.objects_total.fetch_add(1, Ordering::Relaxed);
        metrics
            .adopted_total
            .fetch_add(u64::from(object.adopted), Ordering::Relaxed);
        metrics
            .bytes_total
            .fetch_add(object.size, Ordering::Relaxed);
        metrics.failures_in_a_row.store(0, Ordering::Relaxed);
        let now = u64::try_from(SystemClock.now_micros() / 1_000_000).unwrap_or(0);
        metrics
            .last_success_unix_seconds
            .store(now, Ordering::Relaxed);
        *metrics.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::info!(key = %object.key, size = object.size, adopted = object.adopted, "archived");
        Ok(())
    }

    /// Writes the run's bundle to the spool file and opens it for reading.
    fn spool(&self, first: u64, last: u64, path: &Path) -> Result<Spooled, String> {
        let io = |e: std::io::Error| format!("spool file {}: {e}", path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        let mut writer = BufWriter::with_capacity(256 * 1024, file);
        let built = self
            .engine
            .write_archive_bundle(first, last, &mut writer)
            .map_err(|e| format!("building the bundle of segments {first}..={last}: {e}"))?;
        writer.flush().map_err(io)?;
        let mut file = writer.into_inner().map_err(|e| io(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok(Spooled {
            file,
            sha256: built.sha256,
            size: built.bytes,
        })
    }

    fn seq_range(&self, first: u64, last: u64) -> Result<(u64, u64), String> {
        let segment = |id: u64| {
            self.engine
                .segment(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("segment {id} is not recorded"))
        };
        Ok((segment(first)?.first_seq, segment(last)?.last_seq))
    }
}

/// The wait before attempt `failures + 1`: doubling from `min`, capped.
fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 1_u32 << failures.saturating_sub(1).min(20);
    min.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let waits: Vec<u128> = (1..=7).map(|n| backoff(min, max, n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff(min, max, u32::MAX), max);
    }
}
