//! Checkpoints and witnesses: threads of their own (never a runtime
//! thread) that sign a checkpoint of the log tree every
//! `log.checkpoint_interval_ms` when it grew, send it to every witness
//! (C2SP tlog-witness `add-checkpoint`, with the consistency proof from the
//! size that witness last cosigned), store the cosignatures, and keep the
//! newest witnessed checkpoint for `GET /v1/log/checkpoint`.
//!
//! - The checkpointer posts each new checkpoint to a mailbox. Every
//!   witness has a worker that takes the newest checkpoint when it is free,
//!   so witnesses that keep up cosign the same checkpoints and a slow or
//!   dead one delays nobody: ingest never waits for a witness.
//! - A 409 `text/x.tlog.size` answer is re-sent at once from the size the
//!   witness names. A witness that names a size larger than this log's tree
//!   has seen a longer history than this database holds (a rewritten or
//!   restored database): that, and every other refusal, is logged, counted,
//!   and recorded as `arxi.witness.refused`, once per witness and kind of
//!   refusal until it cosigns again.
//! - A checkpoint with `witness.quorum` cosignatures is witnessed; it is
//!   served, and recorded as `arxi.log.checkpoint` when at least
//!   `log.checkpoint_record_interval_seconds` have passed since the last
//!   one and the tree holds an envelope after that one (so an idle
//!   recorder goes quiet). With no witnesses (quorum 0) every checkpoint is
//!   witnessed as soon as it is signed.
//! - Stored checkpoints are pruned to the newest, the newest witnessed and
//!   those a worker is still submitting; each witness's last cosigned size
//!   stays with its newest cosignature.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arxi_format::note::{Note, SignatureLine, VerifierKey};
use arxi_recorder::{Cosignature, LogCheckpoint, RecorderEngine, control_types};
use arxi_sidecar_config::ValidConfig;
use arxi_sidecar_config::witness::WitnessPeer;
use arxi_witness::client::{CallError, Client, Endpoint, Outcome};
use arxi_witness::protocol::AddCheckpoint;
use serde_json::json;

use crate::io::Signal;

/// Recent checkpoints kept in memory for the quorum count.
const RECENT_MAX: usize = 64;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One witness's figures, for `/metrics`, `/ready` and `GET /v1/log`.
#[derive(Debug)]
pub struct WitnessState {
    /// The witness's key (its name names it).
    pub key: VerifierKey,
    /// The largest size it has cosigned (0: none known).
    pub cosigned_size: AtomicU64,
    /// Cosignatures received by this process.
    pub cosignatures_total: AtomicU64,
    /// Failures by reason (see [`FAILURE_REASONS`]).
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Since when a checkpoint it has not cosigned has been waiting.
    behind_since: Mutex<Option<Instant>>,
    /// The last failure, until the next cosignature.
    pub last_error: Mutex<Option<String>>,
}

/// Why a submission to a witness failed, as `/metrics` labels it.
pub const FAILURE_REASONS: &[&str] = &[
    "unreachable",
    "bad_cosignature",
    "bad_request",
    "forbidden",
    "unknown_origin",
    "conflict",
    "inconsistent",
    "witness_ahead",
    "other_status",
    "storage",
];

impl WitnessState {
    fn new(key: VerifierKey) -> Self {
        Self {
            key,
            cosigned_size: AtomicU64::new(0),
            cosignatures_total: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
            behind_since: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    /// Failures by reason.
    pub fn failures(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.failures).clone()
    }

    /// Seconds a checkpoint has waited for this witness (0 when caught up).
    pub fn lag_seconds(&self) -> f64 {
        lock(&self.behind_since).map_or(0.0, |since| since.elapsed().as_secs_f64())
    }

    fn fail(&self, reason: &'static str, detail: String) {
        debug_assert!(FAILURE_REASONS.contains(&reason), "{reason}");
        *lock(&self.failures).entry(reason).or_default() += 1;
        *lock(&self.last_error) = Some(detail);
    }
}

/// A checkpoint with the cosignatures gathered for it so far.
#[derive(Debug, Clone)]
struct Gathering {
    checkpoint: LogCheckpoint,
    posted: Instant,
    /// Cosignature lines by witness name.
    lines: BTreeMap<String, SignatureLine>,
}

/// The served checkpoint and the quorum bookkeeping.
#[derive(Debug, Default)]
struct Book {
    /// Recent checkpoints, by size.
    recent: BTreeMap<u64, Gathering>,
    /// The newest witnessed checkpoint: size and note text (cosignatures
    /// included).
    witnessed: Option<(u64, Arc<str>)>,
    /// The newest checkpoint signed.
    latest: Option<LogCheckpoint>,
    /// Posts so far (workers wait for a newer one).
    generation: u64,
    /// Sizes workers are submitting now (pruning keeps them).
    in_flight: BTreeMap<usize, u64>,
    /// The `arxi.log.checkpoint` rule: when the last was recorded and at
    /// which sequence number.
    recorded: Option<(Instant, u64)>,
}

/// Everything the witnessing threads share with the handlers.
#[derive(Debug)]
pub struct LogState {
    /// The log's origin.
    pub origin: String,
    /// Cosignatures that make a checkpoint witnessed.
    pub quorum: usize,
    /// `/ready` fails once witnessing lags this much.
    pub max_lag: Option<Duration>,
    /// Per witness, in configuration order.
    pub witnesses: Vec<WitnessState>,
    /// Checkpoints signed by this process.
    pub checkpoints_total: AtomicU64,
    /// Checkpoint attempts that failed (storage).
    pub checkpoint_failures_total: AtomicU64,
    book: Mutex<Book>,
    posted: Condvar,
}

impl LogState {
    /// The state for the configuration's `[log]` and `[witness]`.
    pub fn new(config: &ValidConfig) -> Self {
        let policy = config.witness_policy();
        Self {
            origin: config.log_origin(),
            quorum: policy.quorum,
            max_lag: policy.max_lag,
            witnesses: policy
                .peers
                .iter()
                .map(|peer| WitnessState::new(peer.key.clone()))
                .collect(),
            checkpoints_total: AtomicU64::new(0),
            checkpoint_failures_total: AtomicU64::new(0),
            book: Mutex::new(Book::default()),
            posted: Condvar::new(),
        }
    }

    /// The newest witnessed checkpoint, as note text with its cosignatures.
    pub fn witnessed(&self) -> Option<(u64, Arc<str>)> {
        lock(&self.book).witnessed.clone()
    }

    /// The newest checkpoint signed (`None` before the first).
    pub fn latest(&self) -> Option<LogCheckpoint> {
        lock(&self.book).latest.clone()
    }

    /// The size of the newest checkpoint signed (0: none).
    pub fn latest_size(&self) -> u64 {
        lock(&self.book).latest.as_ref().map_or(0, |c| c.size)
    }

    /// Seconds the oldest checkpoint not yet covered by a witnessed one
    /// has waited (0 when every checkpoint is witnessed).
    pub fn witnessed_lag_seconds(&self) -> f64 {
        let book = lock(&self.book);
        let witnessed = book.witnessed.as_ref().map_or(0, |(size, _)| *size);
        book.recent
            .values()
            .find(|g| g.checkpoint.size > witnessed)
            .map_or(0.0, |g| g.posted.elapsed().as_secs_f64())
    }

    /// `Err(reason)` when witnessing lags more than `witness.max_lag_ms`.
    pub fn readiness(&self) -> Result<(), String> {
        let Some(max) = self.max_lag else {
            return Ok(());
        };
        let lag = self.witnessed_lag_seconds();
        if lag > max.as_secs_f64() {
            return Err(format!(
                "no checkpoint witnessed by {} of {} witnesses for {lag:.1} s (witness.max_lag_ms is {})",
                self.quorum,
                self.witnesses.len(),
                max.as_millis()
            ));
        }
        Ok(())
    }

    /// Loads the newest witnessed checkpoint and each witness's last
    /// cosigned size from the store (at start).
    fn load(&self, engine: &RecorderEngine) -> Result<(), String> {
        for witness in &self.witnesses {
            let size = engine
                .last_cosigned_size(witness.key.name(), witness.key.id())
                .map_err(|e| e.to_string())?;
            witness
                .cosigned_size
                .store(size.unwrap_or(0), Ordering::Relaxed);
        }
        let stored = engine.log_checkpoints(256).map_err(|e| e.to_string())?;
        let mut book = lock(&self.book);
        book.latest = stored.first().map(|(c, _)| c.clone());
        for (checkpoint, rows) in stored {
            let lines = self.known_lines(&checkpoint, &rows);
            if lines.len() >= self.quorum {
                book.witnessed = Some((checkpoint.size, served_text(&checkpoint, &lines)));
                break;
            }
        }
        Ok(())
    }

    /// The stored cosignature lines of configured witnesses that verify.
    fn known_lines(
        &self,
        checkpoint: &LogCheckpoint,
        rows: &[Cosignature],
    ) -> BTreeMap<String, SignatureLine> {
        let mut lines = BTreeMap::new();
        for row in rows {
            let Some(witness) = self
                .witnesses
                .iter()
                .find(|w| w.key.name() == row.witness && w.key.id() == row.key_id)
            else {
                continue;
            };
            let Ok(line) = SignatureLine::parse(row.line.trim_end_matches('\n')) else {
                continue;
            };
            let Ok(mut alone) = Note::new(checkpoint.note.text().to_owned()) else {
                continue;
            };
            if alone.add_signature(line.clone()).is_ok()
                && alone.verify(std::slice::from_ref(&witness.key)).is_ok()
            {
                lines.insert(row.witness.clone(), line);
            }
        }
        lines
    }
}

/// The note text served: the recorder's signature, then the cosignatures.
fn served_text(checkpoint: &LogCheckpoint, lines: &BTreeMap<String, SignatureLine>) -> Arc<str> {
    let mut note = checkpoint.note.clone();
    for line in lines.values() {
        // At most 32 witnesses (validated): the note has room for them.
        let _fits = note.add_signature(line.clone());
    }
    Arc::from(note.to_string())
}

/// The running checkpointer and witness workers.
#[derive(Debug)]
pub struct Witnessing {
    threads: Vec<JoinHandle<()>>,
    state: Arc<LogState>,
}

impl Witnessing {
    /// Waits for every thread (after the stop signal was raised). A worker
    /// in a request finishes it first (bounded by the witness's timeout).
    pub fn join(self) {
        self.state.posted.notify_all();
        for thread in self.threads {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Starts the checkpointer and one worker per witness.
pub fn start(
    config: &ValidConfig,
    engine: &Arc<RecorderEngine>,
    state: &Arc<LogState>,
    stop: &Arc<Signal>,
) -> std::io::Result<Witnessing> {
    if let Err(error) = state.load(engine) {
        tracing::warn!(%error, "could not read the stored checkpoints; starting from none");
    }
    let log = &config.model().log;
    let interval = Duration::from_millis(log.checkpoint_interval_ms);
    let record_interval = Duration::from_secs(log.checkpoint_record_interval_seconds);
    let mut threads = Vec::new();
    for (index, peer) in config.witness_policy().peers.iter().enumerate() {
        let worker = Worker {
            index,
            client: Client::new(endpoint(peer)),
            engine: Arc::clone(engine),
            state: Arc::clone(state),
            stop: Arc::clone(stop),
            record_interval,
            refused: None,
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("arxi-witness-{index}"))
                .spawn(move || worker.run())?,
        );
    }
    let checkpointer = Checkpointer {
        engine: Arc::clone(engine),
        state: Arc::clone(state),
        stop: Arc::clone(stop),
        interval,
    };
    threads.push(
        std::thread::Builder::new()
            .name("arxi-checkpointer".into())
            .spawn(move || checkpointer.run())?,
    );
    Ok(Witnessing {
        threads,
        state: Arc::clone(state),
    })
}

fn endpoint(peer: &WitnessPeer) -> Endpoint {
    Endpoint {
        key: peer.key.clone(),
        url: peer.url.clone(),
        timeout: peer.timeout,
    }
}

/// Sleeps `duration`, or less once stop is raised.
pub(crate) fn sleep(stop: &Signal, duration: Duration) {
    let deadline = Instant::now() + duration;
    while !stop.is_raised() {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::park_timeout((deadline - now).min(Duration::from_millis(50)));
    }
}

struct Checkpointer {
    engine: Arc<RecorderEngine>,
    state: Arc<LogState>,
    stop: Arc<Signal>,
    interval: Duration,
}

impl Checkpointer {
    fn run(self) {
        while !self.stop.is_raised() {
            let started = Instant::now();
            if let Err(error) = self.step() {
                self.state
                    .checkpoint_failures_total
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "could not sign a checkpoint");
            }
            sleep(&self.stop, self.interval.saturating_sub(started.elapsed()));
        }
    }

    /// Signs a checkpoint if the tree grew and posts it to the workers.
    fn step(&self) -> Result<(), String> {
        let keep_from = self.keep_from();
        let newest = self
            .engine
            .checkpoint(keep_from)
            .map_err(|e| e.to_string())?
            .wait()
            .map_err(|e| e.to_string())?;
        let Some(checkpoint) = newest else {
            return Ok(());
        };
        let mut book = lock(&self.state.book);
        if book
            .latest
            .as_ref()
            .is_some_and(|l| l.size >= checkpoint.size)
            && book.generation > 0
        {
            return Ok(());
        }
        self.state.checkpoints_total.fetch_add(1, Ordering::Relaxed);
        book.latest = Some(checkpoint.clone());
        book.generation += 1;
        let now = Instant::now();
        for witness in &self.state.witnesses {
            let mut behind = lock(&witness.behind_since);
            if behind.is_none() && witness.cosigned_size.load(Ordering::Relaxed) < checkpoint.size {
                *behind = Some(now);
            }
        }
        book.recent.insert(
            checkpoint.size,
            Gathering {
                checkpoint: checkpoint.clone(),
                posted: now,
                lines: BTreeMap::new(),
            },
        );
        while book.recent.len() > RECENT_MAX {
            book.recent.pop_first();
        }
        if self.state.quorum == 0 {
            // Served at once; not recorded: a checkpoint no witness has
            // seen adds nothing to the chain the same key signs.
            witnessed(&mut book, checkpoint.size, &BTreeMap::new());
        }
        drop(book);
        self.state.posted.notify_all();
        Ok(())
    }

    /// Checkpoints below the smallest one still needed are pruned: the
    /// newest, the newest witnessed, and those workers are submitting.
    fn keep_from(&self) -> u64 {
        let book = lock(&self.state.book);
        let latest = book.latest.as_ref().map_or(0, |c| c.size);
        let witnessed = book.witnessed.as_ref().map_or(0, |(size, _)| *size);
        book.in_flight
            .values()
            .copied()
            .chain([latest, witnessed])
            .min()
            .unwrap_or(0)
    }
}

/// Marks the checkpoint of `size` witnessed (when newer than the one
/// served); answers its note text when it is.
fn witnessed(
    book: &mut Book,
    size: u64,
    lines: &BTreeMap<String, SignatureLine>,
) -> Option<Arc<str>> {
    if book
        .witnessed
        .as_ref()
        .is_some_and(|(served, _)| *served >= size)
    {
        return None;
    }
    let gathering = book.recent.get(&size)?;
    let text = served_text(&gathering.checkpoint, lines);
    book.witnessed = Some((size, Arc::clone(&text)));
    Some(text)
}

/// Whether the `arxi.log.checkpoint` rule records a checkpoint of `size`
/// now: the interval has passed since the last one, and the tree holds an
/// envelope after that last one.
fn due(book: &Book, interval: Duration, size: u64) -> bool {
    match book.recorded {
        None => true,
        Some((at, seq)) => at.elapsed() >= interval && size > seq,
    }
}

/// Records a witnessed checkpoint in the chain.
fn record_checkpoint(
    engine: &RecorderEngine,
    state: &LogState,
    checkpoint: &LogCheckpoint,
    text: &str,
) {
    let payload = json!({
        "origin": state.origin,
        "size": checkpoint.size,
        "root": checkpoint.root.to_hex(),
        "quorum": state.quorum,
        "checkpoint": text,
    });
    let recorded = engine
        .record_control(control_types::LOG_CHECKPOINT, &payload, None)
        .map_err(|e| e.to_string())
        .and_then(|pending| pending.wait().map_err(|e| e.to_string()));
    match recorded {
        Ok(arxi_recorder::Outcome::Done { value, .. }) => {
            lock(&state.book).recorded = Some((Instant::now(), value.seq));
        }
        Ok(arxi_recorder::Outcome::Replayed(_)) => {}
        Err(error) => tracing::warn!(%error, "could not record arxi.log.checkpoint"),
    }
}

struct Worker {
    index: usize,
    client: Client,
    engine: Arc<RecorderEngine>,
    state: Arc<LogState>,
    stop: Arc<Signal>,
    record_interval: Duration,
    /// The kind of the last refusal recorded, until the next cosignature.
    refused: Option<&'static str>,
}

/// What one submission came to.
enum Submitted {
    Cosigned,
    /// The witness is at another size: try again from it.
    ResendFrom(u64),
    Failed,
}

impl Worker {
    fn me(&self) -> &WitnessState {
        &self.state.witnesses[self.index]
    }

    fn run(mut self) {
        let mut seen = 0;
        while !self.stop.is_raised() {
            let Some((generation, checkpoint)) = self.next(seen) else {
                continue;
            };
            seen = generation;
            if checkpoint.size <= self.me().cosigned_size.load(Ordering::Relaxed) {
                continue;
            }
            lock(&self.state.book)
                .in_flight
                .insert(self.index, checkpoint.size);
            let mut old = self.me().cosigned_size.load(Ordering::Relaxed);
            // One resend after a 409 that names another size.
            for _ in 0..2 {
                match self.submit(&checkpoint, old) {
                    Submitted::ResendFrom(size) => old = size,
                    Submitted::Cosigned | Submitted::Failed => break,
                }
            }
            lock(&self.state.book).in_flight.remove(&self.index);
        }
    }

    /// Waits (a while) for a checkpoint posted after generation `seen`.
    fn next(&self, seen: u64) -> Option<(u64, LogCheckpoint)> {
        let book = lock(&self.state.book);
        let (book, _) = self
            .state
            .posted
            .wait_timeout_while(book, Duration::from_millis(200), |book| {
                book.generation <= seen && !self.stop.is_raised()
            })
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if book.generation <= seen {
            return None;
        }
        Some((book.generation, book.latest.clone()?))
    }

    fn submit(&mut self, checkpoint: &LogCheckpoint, old: u64) -> Submitted {
        let proof = if old == 0 || old >= checkpoint.size {
            Ok(Vec::new())
        } else {
            self.engine.consistency_proof(old, checkpoint.size)
        };
        let proof = match proof {
            Ok(proof) => proof,
            Err(error) => {
                self.failed("storage", format!("consistency proof from {old}: {error}"));
                return Submitted::Failed;
            }
        };
        let request = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: checkpoint.note.clone(),
        };
        match self.client.add_checkpoint(&request) {
            Ok(Outcome::Cosigned { line, time, .. }) => {
                self.cosigned(checkpoint, line, time);
                Submitted::Cosigned
            }
            Ok(Outcome::SizeConflict(size)) if size > checkpoint.size => {
                self.refused(
                    "witness_ahead",
                    checkpoint,
                    old,
                    format!(
                        "the witness has cosigned {size} envelopes of this log; this database holds {}",
                        checkpoint.size
                    ),
                );
                Submitted::Failed
            }
            Ok(Outcome::SizeConflict(size)) if size != old => {
                self.me().cosigned_size.store(size, Ordering::Relaxed);
                Submitted::ResendFrom(size)
            }
            Ok(Outcome::SizeConflict(size)) => {
                self.failed("conflict", format!("409 naming the size sent ({size})"));
                Submitted::Failed
            }
            Ok(Outcome::Refused { status, detail }) => {
                let kind = match status {
                    400 => "bad_request",
                    403 => "forbidden",
                    404 => "unknown_origin",
                    409 => "conflict",
                    422 => "inconsistent",
                    _ => "other_status",
                };
                self.refused(kind, checkpoint, old, format!("{status}: {detail}"));
                Submitted::Failed
            }
            Err(CallError::Transport(detail)) => {
                self.failed("unreachable", detail);
                Submitted::Failed
            }
            Err(CallError::BadCosignature(detail)) => {
                self.refused("bad_cosignature", checkpoint, old, detail);
                Submitted::Failed
            }
        }
    }

    fn failed(&self, reason: &'static str, detail: String) {
        tracing::warn!(witness = %self.me().key.name(), reason, %detail, "witness failure");
        self.me().fail(reason, detail);
    }

    /// A refusal: logged and counted every time, recorded in the chain
    /// (before it is counted) once per kind until the witness cosigns
    /// again.
    fn refused(
        &mut self,
        kind: &'static str,
        checkpoint: &LogCheckpoint,
        old: u64,
        detail: String,
    ) {
        tracing::error!(
            witness = %self.me().key.name(),
            kind,
            size = checkpoint.size,
            old_size = old,
            %detail,
            "a witness refused this log's checkpoint"
        );
        if self.refused == Some(kind) {
            self.me().fail(kind, detail);
            return;
        }
        let payload = json!({
            "witness": self.me().key.name(),
            "witness_key": self.me().key.to_string(),
            "reason": kind,
            "size": checkpoint.size,
            "old_size": old,
            "root": checkpoint.root.to_hex(),
            "detail": &detail,
        });
        let recorded = self
            .engine
            .record_control(control_types::WITNESS_REFUSED, &payload, None)
            .map_err(|e| e.to_string())
            .and_then(|pending| pending.wait().map_err(|e| e.to_string()));
        match recorded {
            Ok(_) => self.refused = Some(kind),
            Err(error) => tracing::warn!(%error, "could not record arxi.witness.refused"),
        }
        // Counted once recorded: whoever sees the count finds the record.
        self.me().fail(kind, detail);
    }

    /// Stores the cosignature, then counts it towards the quorum.
    fn cosigned(&mut self, checkpoint: &LogCheckpoint, line: SignatureLine, time: u64) {
        let row = Cosignature {
            size: checkpoint.size,
            witness: self.me().key.name().to_owned(),
            key_id: self.me().key.id(),
            time,
            line: line.to_string(),
        };
        let stored = self
            .engine
            .store_cosignatures(vec![row])
            .map_err(|e| e.to_string())
            .and_then(|pending| pending.wait().map_err(|e| e.to_string()));
        if let Err(error) = stored {
            self.failed("storage", format!("storing the cosignature: {error}"));
            return;
        }
        self.refused = None;
        let me = self.me();
        me.cosigned_size.store(checkpoint.size, Ordering::Relaxed);
        me.cosignatures_total.fetch_add(1, Ordering::Relaxed);
        *lock(&me.last_error) = None;
        let mut book = lock(&self.state.book);
        *lock(&me.behind_since) = book
            .recent
            .values()
            .find(|g| g.checkpoint.size > checkpoint.size)
            .map(|g| g.posted);
        let Some(gathering) = book.recent.get_mut(&checkpoint.size) else {
            return;
        };
        gathering.lines.insert(me.key.name().to_owned(), line);
        if gathering.lines.len() < self.state.quorum {
            return;
        }
        let lines = gathering.lines.clone();
        let Some(text) = witnessed(&mut book, checkpoint.size, &lines) else {
            return;
        };
        let record = due(&book, self.record_interval, checkpoint.size);
        drop(book);
        if record {
            record_checkpoint(&self.engine, &self.state, checkpoint, &text);
        }
    }
}

/// A Prometheus label value: `\`, `"` and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes the `arxi_log_*` and `arxi_witness_*` metrics.
pub fn write_metrics(out: &mut String, state: &LogState, tree_size: u64) {
    use std::fmt::Write as _;
    let latest = state.latest_size();
    let witnessed = state.witnessed().map_or(0, |(size, _)| size);
    crate::metrics::gauge(
        out,
        "arxi_log_tree_size",
        "Envelopes in the log tree.",
        tree_size,
    );
    crate::metrics::gauge(
        out,
        "arxi_log_checkpoint_size",
        "Tree size of the newest signed checkpoint.",
        latest,
    );
    crate::metrics::gauge(
        out,
        "arxi_log_witnessed_size",
        "Tree size of the newest checkpoint with a quorum of cosignatures.",
        witnessed,
    );
    crate::metrics::counter(
        out,
        "arxi_log_checkpoints_total",
        "Checkpoints posted to the witnesses by this process.",
        state.checkpoints_total.load(Ordering::Relaxed),
    );
    crate::metrics::counter(
        out,
        "arxi_log_checkpoint_failures_total",
        "Checkpoints that could not be signed or stored.",
        state.checkpoint_failures_total.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP arxi_log_witness_lag_seconds Seconds the oldest checkpoint not covered by a witnessed one has waited.\n# TYPE arxi_log_witness_lag_seconds gauge\narxi_log_witness_lag_seconds {:.3}",
        state.witnessed_lag_seconds()
    );
    if !state.witnesses.is_empty() {
        write_witness_metrics(out, state, latest);
    }
}

/// The per-witness series, one family at a time.
fn write_witness_metrics(out: &mut String, state: &LogState, latest: u64) {
    use std::fmt::Write as _;
    let families: [(&str, &str, &str); 5] = [
        (
            "arxi_witness_lag_entries",
            "gauge",
            "Envelopes in the newest checkpoint beyond what the witness has cosigned.",
        ),
        (
            "arxi_witness_lag_seconds",
            "gauge",
            "Seconds a checkpoint has waited for the witness's cosignature.",
        ),
        (
            "arxi_witness_cosigned_size",
            "gauge",
            "The largest tree size the witness has cosigned.",
        ),
        (
            "arxi_witness_cosignatures_total",
            "counter",
            "Cosignatures received from the witness by this process.",
        ),
        (
            "arxi_witness_failures_total",
            "counter",
            "Submissions to the witness that failed, by reason.",
        ),
    ];
    for (family, (name, kind, help)) in families.iter().enumerate() {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for witness in &state.witnesses {
            let witness_label = label(witness.key.name());
            let cosigned = witness.cosigned_size.load(Ordering::Relaxed);
            let value = match family {
                0 => latest.saturating_sub(cosigned).to_string(),
                1 => format!("{:.3}", witness.lag_seconds()),
                2 => cosigned.to_string(),
                3 => witness
                    .cosignatures_total
                    .load(Ordering::Relaxed)
                    .to_string(),
                _ => {
                    let failures = witness.failures();
                    for reason in FAILURE_REASONS {
                        let _ = writeln!(
                            out,
                            "{name}{{witness=\"{witness_label}\",reason=\"{reason}\"}} {}",
                            failures.get(reason).copied().unwrap_or(0)
                        );
                    }
                    continue;
                }
            };
            let _ = writeln!(out, "{name}{{witness=\"{witness_label}\"}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_recorded_at_most_once_per_interval_and_only_with_news() {
        let interval = Duration::from_secs(60);
        let mut book = Book::default();
        assert!(due(&book, interval, 10), "the first witnessed checkpoint");
        book.recorded = Some((Instant::now(), 11));
        assert!(!due(&book, interval, 50), "within the interval");
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(61))
            .expect("the monotonic clock is past a minute");
        book.recorded = Some((long_ago, 11));
        assert!(
            !due(&book, interval, 11),
            "only the recorded checkpoint envelope itself is new"
        );
        assert!(due(&book, interval, 12), "an envelope after it");
    }

    #[test]
    fn metric_labels_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }
}
