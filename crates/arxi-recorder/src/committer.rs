//! The committer thread: owns the write connection and makes plans durable,
//! strictly in order, one transaction per plan; only after the commit
//! (fsync) does it answer the plan's callers.
//!
//! When a plan fails, nothing of it is written (the transaction rolls back),
//! its callers get the error, and every later plan of the same generation
//! fails too, because each was built on top of the failed one. The
//! sequencer notices, reloads its state from the database and starts a new
//! generation. After an IO error the connection is reopened before it is
//! trusted again.
//!
//! Checkpoints are deliberate (automatic ones are off): a background thread
//! copies the WAL into the database without blocking commits; when the WAL
//! has grown further the committer runs a small catch-up checkpoint itself so
//! the next transaction restarts the WAL from its beginning; a hard cap
//! forces a truncating checkpoint.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

use arxi_store::{CheckpointKind, Store, StoreError, StoreOptions};

use crate::CheckpointPolicy;
use crate::engine::Shared;
use crate::plan::{Failure, Plan};
use crate::sequencer::Pipeline;

/// Signals the background checkpointer.
pub(crate) struct Checkpointer {
    signal: SyncSender<()>,
    busy: Arc<AtomicBool>,
    /// WAL frames already copied into the database by the last pass (the
    /// WAL restarts from zero after a complete checkpoint).
    backfilled: Arc<AtomicI64>,
}

impl Checkpointer {
    /// Starts the checkpointer thread on its own connection.
    pub(crate) fn start(
        path: PathBuf,
        shared: Arc<Shared>,
    ) -> Result<(Self, JoinHandle<()>), StoreError> {
        let mut store = Store::open(&path, &StoreOptions::default())?;
        let (signal, wake) = std::sync::mpsc::sync_channel::<()>(1);
        let busy = Arc::new(AtomicBool::new(false));
        let thread_busy = Arc::clone(&busy);
        let backfilled = Arc::new(AtomicI64::new(0));
        let thread_backfilled = Arc::clone(&backfilled);
        let handle = std::thread::Builder::new()
            .name("arxi-checkpointer".into())
            .spawn(move || {
                while wake.recv().is_ok() {
                    match store.checkpoint(CheckpointKind::Passive) {
                        Ok(stats) => {
                            thread_backfilled.store(stats.checkpointed_frames, Ordering::Release);
                            shared
                                .metrics
                                .checkpoints_total
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "background checkpoint failed");
                            shared
                                .metrics
                                .checkpoint_failures_total
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    thread_busy.store(false, Ordering::Release);
                }
            })
            .map_err(|error| StoreError::Other(format!("spawning checkpointer: {error}")))?;
        Ok((
            Self {
                signal,
                busy,
                backfilled,
            },
            handle,
        ))
    }

    fn idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    /// WAL pages not yet copied into the database, given the WAL's size.
    fn pending(&self, wal_pages: i64) -> i64 {
        let backfilled = self.backfilled.load(Ordering::Acquire);
        // Fewer pages than were backfilled: the WAL restarted since.
        if wal_pages < backfilled {
            wal_pages
        } else {
            wal_pages - backfilled
        }
    }

    fn wake(&self) {
        if self
            .busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            && self.signal.try_send(()).is_err()
        {
            self.busy.store(false, Ordering::Release);
        }
    }
}

/// The committer thread's state.
pub(crate) struct Committer {
    pub(crate) store: Store,
    pub(crate) options: StoreOptions,
    pub(crate) shared: Arc<Shared>,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) checkpointer: Checkpointer,
    pub(crate) policy: CheckpointPolicy,
    /// Plans of this generation and older fail: they were built on a plan
    /// that failed.
    pub(crate) dead_generation: Option<u64>,
    /// Why the connection cannot be used, until a reopen succeeds.
    pub(crate) broken: Option<String>,
}

impl Committer {
    /// Commits plans until the shutdown plan or until the sequencer is gone.
    pub(crate) fn run(mut self, plans: Receiver<Plan>) {
        while let Ok(plan) = plans.recv() {
            let epoch = plan.epoch;
            let shutdown = plan.shutdown;
            self.process(plan);
            let mut processed = self
                .pipeline
                .processed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *processed = epoch;
            self.pipeline.processed_changed.notify_all();
            drop(processed);
            if shutdown {
                break;
            }
        }
    }

    fn fail_generation(&mut self, generation: u64) {
        self.dead_generation = Some(generation);
        self.pipeline.failed.store(true, Ordering::Release);
    }

    fn process(&mut self, plan: Plan) {
        if self
            .dead_generation
            .is_some_and(|dead| plan.generation <= dead)
        {
            plan.deliver(Some(&Failure::Unavailable(
                "an earlier write in the same batch sequence failed; nothing was recorded".into(),
            )));
            return;
        }
        if self.broken.is_some() && !self.reopen() {
            let reason = self.broken.clone().unwrap_or_default();
            self.fail_generation(plan.generation);
            plan.deliver(Some(&Failure::Unavailable(reason)));
            return;
        }
        let result = (|| {
            let txn = self.store.transaction()?;
            plan.apply(&txn)?;
            txn.commit()
        })();
        match result {
            Ok(()) => {
                self.pipeline.committed.store(plan.epoch, Ordering::Release);
                let metrics = &self.shared.metrics;
                metrics.commits_total.fetch_add(1, Ordering::Relaxed);
                metrics.record_batch(plan.stats.commands);
                metrics
                    .envelopes_total
                    .fetch_add(plan.stats.envelopes, Ordering::Relaxed);
                metrics
                    .seals_total
                    .fetch_add(plan.stats.seals, Ordering::Relaxed);
                self.shared.publish(plan.status.clone());
                let shutdown = plan.shutdown;
                plan.deliver(None);
                self.manage_wal(shutdown);
            }
            Err(error) => {
                self.shared
                    .metrics
                    .commit_failures_total
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, epoch = plan.epoch, "write failed; nothing of it was recorded");
                self.fail_generation(plan.generation);
                plan.deliver(Some(&Failure::Storage(error.clone())));
                if error.needs_reopen() {
                    self.broken = Some(error.to_string());
                    self.reopen();
                }
            }
        }
    }

    /// Reopens the write connection; true when it worked.
    fn reopen(&mut self) -> bool {
        match Store::open(self.store.path(), &self.options) {
            Ok(store) => {
                self.store = store;
                self.broken = None;
                true
            }
            Err(error) => {
                let reason = format!("reopening the store: {error}");
                tracing::error!(%reason, "recorder cannot write");
                self.broken = Some(reason);
                false
            }
        }
    }

    /// Deliberate checkpoints after a commit (see the module comment).
    fn manage_wal(&mut self, stopping: bool) {
        let pages = self.store.wal_pages();
        self.shared
            .metrics
            .wal_pages
            .store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
        let kind = if stopping || pages >= self.policy.hard_pages {
            Some(CheckpointKind::Truncate)
        } else if pages >= self.policy.restart_pages && self.checkpointer.idle() {
            Some(CheckpointKind::Passive)
        } else {
            // Wake the background copier only once enough of the WAL is
            // new: every pass ends with an fsync of the database file.
            if self.checkpointer.pending(pages) >= self.policy.background_pages {
                self.checkpointer.wake();
            }
            None
        };
        if let Some(kind) = kind {
            match self.store.checkpoint(kind) {
                Ok(_) => {
                    self.shared
                        .metrics
                        .checkpoints_total
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    tracing::warn!(%error, ?kind, "checkpoint failed");
                    self.shared
                        .metrics
                        .checkpoint_failures_total
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
