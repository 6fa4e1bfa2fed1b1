//! State shared by every worker thread: the configuration snapshot, the
//! recorder, metrics, admission totals, the read pool, readiness facts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use arxi_recorder::RecorderEngine;
use arxi_sidecar_config::ValidConfig;

use crate::admission::Saturation;
use crate::blocking::BlockingPool;
use crate::correlation::IdSource;
use crate::io::Driver;
use crate::metrics::HttpMetrics;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The configuration; requests take a snapshot and finish on it.
    pub config: ArcSwap<ValidConfig>,
    /// The recorder.
    pub engine: Arc<RecorderEngine>,
    /// HTTP metrics.
    pub http: HttpMetrics,
    /// Admission totals over all workers.
    pub saturation: Arc<Saturation>,
    /// Server correlation ids.
    pub ids: IdSource,
    /// Threads for SQLite reads (and file chunks of downloads).
    pub reads: Arc<BlockingPool>,
    /// The thread that builds, verifies and inspects bundles.
    pub bundles: Arc<BlockingPool>,
    /// The kernel interface in use.
    pub driver: Driver,
    /// Why io_uring was not used, when it was refused.
    pub io_uring_refusal: Option<String>,
    /// When serving started.
    pub started_at: Instant,
    /// The storage watchdog's last verdict.
    pub storage: Health,
    /// The same watchdog's last look at the signing key (a key in a
    /// PKCS#11 token may be gone).
    pub signer: Health,
    /// The control plane's last health verdict (readiness mode
    /// `storage_and_enterprise`).
    pub control_plane: Health,
    /// Set once shutdown begins.
    pub shutting_down: AtomicBool,
    /// Serializes configuration reloads.
    pub reload_lock: Mutex<()>,
    /// Checkpoints and witnesses.
    pub log: Arc<crate::witnessing::LogState>,
    /// The timestamp authorities' figures (empty without `[[timestamp]]`).
    pub timestamps: Arc<crate::timestamping::TimestampState>,
    /// The archiver's figures (with `[archive]`).
    pub archive: Option<Arc<crate::archiver::ArchiveMetrics>>,
    /// The browser verifier page (`web.verifier_page_file`), read at start.
    pub verifier_page: Option<bytes::Bytes>,
}

/// A watchdog's last verdict.
#[derive(Debug)]
pub struct Health {
    healthy: AtomicBool,
    reason: Mutex<Option<String>>,
    pending: &'static str,
}

impl Health {
    /// Unhealthy until the first check; `pending` says so.
    pub fn new(pending: &'static str) -> Self {
        Self {
            healthy: AtomicBool::new(false),
            reason: Mutex::new(None),
            pending,
        }
    }

    /// Records a check.
    pub fn set(&self, result: Result<(), String>) {
        let healthy = result.is_ok();
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = result.err();
        self.healthy.store(healthy, Ordering::Release);
    }

    /// `Ok` when the last check passed, else its reason.
    pub fn get(&self) -> Result<(), String> {
        if self.healthy.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(self
                .reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| self.pending.into()))
        }
    }
}

/// Looks at the signing key (a key in a PKCS#11 token may be gone) and
/// records the verdict for readiness.
fn check_signer(state: &AppState) {
    let signer = state.engine.check_signer().map_err(|error| error.0);
    match (&signer, state.signer.get()) {
        (Err(reason), Ok(())) => {
            tracing::error!(%reason, "signer check failed; /ready answers 503");
        }
        (Ok(()), Err(_)) => tracing::info!("signer check passed"),
        _ => {}
    }
    state.signer.set(signer);
}

/// Checks the database on a fresh connection every `interval` until
/// `stop` is raised; the first check runs before this returns.
///
/// Storage is healthy when a fresh read-only connection answers, the
/// writer has not given up, and writes work: after any failed commit it
/// stays unhealthy until a probe write (one `store_meta` row, not
/// evidence, committed with fsync like any write) succeeds.
pub fn start_storage_watchdog(
    state: &Arc<AppState>,
    interval: Duration,
    stop: Arc<crate::io::Signal>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut failures_seen = state.engine.metrics().commit_failures_total;
    let mut writes_failing: Option<String> = None;
    let mut check = move |state: &AppState| {
        let failures = state.engine.metrics().commit_failures_total;
        if failures > failures_seen {
            writes_failing = Some(format!(
                "{} write(s) failed since the last check",
                failures - failures_seen
            ));
        }
        failures_seen = failures;
        if writes_failing.is_some() {
            let probed = state
                .engine
                .probe_write()
                .map_err(|error| error.to_string())
                .and_then(|pending| pending.wait().map_err(|error| error.to_string()));
            match probed {
                Ok(()) => writes_failing = None,
                Err(error) => writes_failing = Some(format!("writes fail: {error}")),
            }
            failures_seen = state.engine.metrics().commit_failures_total;
        }
        let verdict = state
            .engine
            .probe_storage()
            .map_err(|error| error.to_string())
            .and_then(|()| match state.engine.status().failure {
                Some(failure) => Err(failure),
                None => Ok(()),
            })
            .and_then(|()| writes_failing.clone().map_or(Ok(()), Err));
        if let Err(reason) = &verdict {
            if state.storage.get().is_ok() {
                tracing::error!(%reason, "storage check failed; /ready answers 503");
            }
        } else if state.storage.get().is_err() {
            tracing::info!("storage check passed");
        }
        state.storage.set(verdict);
        check_signer(state);
    };
    check(state);
    let state = Arc::clone(state);
    std::thread::Builder::new()
        .name("arxi-storage-check".into())
        .spawn(move || {
            while !stop.is_raised() {
                let deadline = Instant::now() + interval;
                while Instant::now() < deadline && !stop.is_raised() {
                    std::thread::park_timeout(Duration::from_millis(50));
                }
                if !stop.is_raised() {
                    check(&state);
                }
            }
        })
}
