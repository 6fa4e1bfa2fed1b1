//! Timestamp authorities (`[[timestamp]]`, RFC 3161): one thread per TSA
//! (never a runtime thread) that sends the hash of every new seal to it,
//! checks the token (over that hash, with the request's nonce, signed under
//! the TSA's configured certificates) and stores it; bundles carry the
//! stored tokens after their seals (`Docs/format.md` §11.9).
//!
//! A TSA with `subject = "checkpoints"` stamps checkpoints of the log tree
//! instead: at most once per `checkpoint_interval_seconds`, and only when
//! the newest signed checkpoint holds an envelope after the newest
//! `arxi.log.timestamped` envelope (so stamps never keep an idle log
//! busy), it sends the SHA-256 of that checkpoint's text and records the
//! token in the chain as an `arxi.log.timestamped` envelope, with the
//! checkpoint and the inclusion proof of its last envelope (§11.9, rule
//! TC). The first one after a start goes out at once.
//!
//! - Ingest never waits for a TSA: a seal is written first, its tokens
//!   come after. Each worker asks its store for the newest seals without a
//!   token from its TSA, every [`POLL`], so a slow or dead TSA delays only
//!   its own queue.
//! - A failure (no answer, an HTTP error, a refusal, a token that does not
//!   check) is logged, counted by reason, kept as the TSA's last error,
//!   and retried after a backoff that doubles from 1 s to
//!   [`BACKOFF_MAX`].
//! - Seals sealed more than [`BACKLOG_WINDOW`] before the worker started
//!   are not sent: a token so late shows only that the seal existed by
//!   then (a verifier reports it as `timestamp_time_skew`).
//! - `/metrics` and `/ready` show each TSA's queue, totals and last error;
//!   readiness does not depend on them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arxi_format::Hash32;
use arxi_format::checkpoint_stamp::CheckpointStamp;
use arxi_recorder::{RecorderEngine, TimestampRow, control_types};
use arxi_sidecar_config::ValidConfig;
use arxi_sidecar_config::timestamp::{StampSubject, TimestampAuthority};
use arxi_witness::tsa::TsaClient;

use crate::io::Signal;
use crate::witnessing::{LogState, sleep};

/// How often a worker looks for new seals.
pub const POLL: Duration = Duration::from_millis(500);

/// The longest wait between retries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Seals older than this when the worker starts are not sent.
pub const BACKLOG_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Seals asked for per store read.
const BATCH: u32 = 16;

/// Why a request failed, as `/metrics` labels it.
pub const FAILURE_REASONS: &[&str] = &[
    "unreachable",
    "http_status",
    "refused",
    "bad_token",
    "untrusted",
    "storage",
];

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
}

/// One TSA's figures, for `/metrics` and `/ready`.
#[derive(Debug)]
pub struct TsaState {
    /// Its configured name.
    pub name: String,
    /// Seals waiting for its token (as of the worker's last look).
    pub pending: AtomicU64,
    /// Tokens stored by this process.
    pub tokens_total: AtomicU64,
    /// Failed requests since the last token.
    pub failures_in_a_row: AtomicU64,
    /// When the last token was stored (Unix seconds; 0: none yet).
    pub last_success_unix_seconds: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// The last failure, until the next token.
    pub last_error: Mutex<Option<String>>,
}

impl TsaState {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            pending: AtomicU64::new(0),
            tokens_total: AtomicU64::new(0),
            failures_in_a_row: AtomicU64::new(0),
            last_success_unix_seconds: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
            last_error: Mutex::new(None),
        }
    }

    /// Failures by reason.
    pub fn failures(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.failures).clone()
    }

    fn fail(&self, reason: &'static str, detail: String) {
        debug_assert!(FAILURE_REASONS.contains(&reason), "{reason}");
        tracing::warn!(tsa = %self.name, reason, error = %detail, "no timestamp token");
        *lock(&self.failures).entry(reason).or_default() += 1;
        self.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(detail);
    }

    fn stored(&self) {
        self.tokens_total.fetch_add(1, Ordering::Relaxed);
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        let seconds = u64::try_from(now_unix_micros() / 1_000_000).unwrap_or(0);
        self.last_success_unix_seconds
            .store(seconds, Ordering::Relaxed);
        *lock(&self.last_error) = None;
    }
}

/// Every TSA's figures, in configuration order.
#[derive(Debug, Default)]
pub struct TimestampState {
    /// Per TSA.
    pub authorities: Vec<TsaState>,
    /// The seq of the newest `arxi.log.timestamped` envelope this process
    /// recorded (0: none), whichever TSA's: a checkpoint is stamped only
    /// when the log holds an envelope after it, so stamps alone (one
    /// TSA's, or several TSAs' in turn) never keep an idle log growing.
    stamped_through: AtomicU64,
}

impl TimestampState {
    /// The state for the configuration's `[[timestamp]]`.
    pub fn new(config: &ValidConfig) -> Self {
        Self {
            authorities: config
                .timestamp_authorities()
                .iter()
                .map(|tsa| TsaState::new(&tsa.name))
                .collect(),
            stamped_through: AtomicU64::new(0),
        }
    }
}

/// The running workers.
#[derive(Debug)]
pub struct Timestamping {
    threads: Vec<JoinHandle<()>>,
}

impl Timestamping {
    /// Waits for every worker (after the stop signal was raised); one in a
    /// request finishes it first (bounded by the TSA's timeout).
    pub fn join(self) {
        for thread in self.threads {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Starts one worker per configured TSA.
pub fn start(
    config: &ValidConfig,
    engine: &Arc<RecorderEngine>,
    (state, log): (&Arc<TimestampState>, &Arc<LogState>),
    stop: &Arc<Signal>,
) -> std::io::Result<Timestamping> {
    let window = i64::try_from(BACKLOG_WINDOW.as_micros()).unwrap_or(i64::MAX);
    let since_us = now_unix_micros().saturating_sub(window);
    let mut threads = Vec::new();
    for (index, tsa) in config.timestamp_authorities().iter().enumerate() {
        let worker = Worker {
            index,
            client: client(tsa),
            engine: Arc::clone(engine),
            state: Arc::clone(state),
            log: Arc::clone(log),
            stop: Arc::clone(stop),
            since_us,
            subject: tsa.subject,
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("arxi-tsa-{index}"))
                .spawn(move || worker.run())?,
        );
    }
    Ok(Timestamping { threads })
}

fn client(tsa: &TimestampAuthority) -> TsaClient {
    TsaClient::new(&tsa.url, tsa.trust.clone(), tsa.timeout)
}

struct Worker {
    index: usize,
    client: TsaClient,
    engine: Arc<RecorderEngine>,
    state: Arc<TimestampState>,
    log: Arc<LogState>,
    stop: Arc<Signal>,
    since_us: i64,
    subject: StampSubject,
}

/// When a worker last stamped a checkpoint.
type LastStamp = Option<Instant>;

impl Worker {
    fn tsa(&self) -> &TsaState {
        &self.state.authorities[self.index]
    }

    fn run(self) {
        let mut backoff = Duration::ZERO;
        let mut last: LastStamp = None;
        while !self.stop.is_raised() {
            let round = match self.subject {
                StampSubject::Seals => self.round(),
                StampSubject::Checkpoints { interval } => {
                    self.checkpoint_round(&mut last, interval)
                }
            };
            match round {
                Ok(true) => backoff = Duration::ZERO,
                Ok(false) => sleep(&self.stop, POLL),
                Err((reason, detail)) => {
                    self.tsa().fail(reason, detail);
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), BACKOFF_MAX);
                    sleep(&self.stop, backoff);
                }
            }
        }
    }

    /// Stamps the newest waiting seals; `Ok(false)` when none waits.
    fn round(&self) -> Result<bool, (&'static str, String)> {
        let tsa = self.tsa();
        let storage = |e: &dyn std::fmt::Display| ("storage", e.to_string());
        let pending = self
            .engine
            .unstamped_seal_count(&tsa.name, self.since_us)
            .map_err(|e| storage(&e))?;
        tsa.pending.store(pending, Ordering::Relaxed);
        if pending == 0 {
            return Ok(false);
        }
        let seals = self
            .engine
            .unstamped_seals(&tsa.name, self.since_us, BATCH)
            .map_err(|e| storage(&e))?;
        if seals.is_empty() {
            return Ok(false);
        }
        let mut remaining = pending;
        for seal in seals {
            if self.stop.is_raised() {
                break;
            }
            let token = self
                .client
                .stamp(&Hash32(seal.hash))
                .map_err(|e| (e.reason(), e.to_string()))?;
            let row = TimestampRow {
                segment_id: seal.segment_id,
                tsa: tsa.name.clone(),
                imprint: seal.hash,
                gen_time_us: token.info().gen_time_micros,
                token: token.der().to_vec(),
                received_at_us: 0,
            };
            self.engine
                .store_timestamps(vec![row])
                .map_err(|e| storage(&e))?
                .wait()
                .map_err(|e| storage(&e))?;
            tsa.stored();
            remaining = remaining.saturating_sub(1);
            tsa.pending.store(remaining, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// Stamps the newest checkpoint when the interval has passed since the
    /// last token and the checkpoint holds an envelope after the newest
    /// stamp recorded; `Ok(false)` either way (nothing more to do before
    /// the next poll).
    fn checkpoint_round(
        &self,
        last: &mut LastStamp,
        interval: Duration,
    ) -> Result<bool, (&'static str, String)> {
        let tsa = self.tsa();
        if last.is_some_and(|at| at.elapsed() < interval) {
            return Ok(false);
        }
        let stamped_through = self.state.stamped_through.load(Ordering::Acquire);
        let Some(latest) = self
            .log
            .latest()
            .filter(|latest| latest.size > stamped_through)
        else {
            tsa.pending.store(0, Ordering::Relaxed);
            return Ok(false);
        };
        tsa.pending.store(1, Ordering::Relaxed);
        let storage = |e: &dyn std::fmt::Display| ("storage", e.to_string());
        let token = self
            .client
            .stamp(&Hash32::of(latest.note.text().as_bytes()))
            .map_err(|e| (e.reason(), e.to_string()))?;
        let inclusion_proof = self
            .engine
            .inclusion_proof(latest.size, latest.size)
            .map_err(|e| storage(&e))?;
        let stamp = CheckpointStamp {
            checkpoint: latest.note.to_string(),
            inclusion_proof,
            token: token.der().to_vec(),
            tsa: tsa.name.clone(),
        };
        let payload: serde_json::Value =
            serde_json::from_slice(stamp.to_canonical().as_bytes()).map_err(|e| storage(&e))?;
        let recorded = self
            .engine
            .record_control(control_types::LOG_TIMESTAMPED, &payload, None)
            .map_err(|e| storage(&e))?
            .wait()
            .map_err(|e| storage(&e))?;
        if let arxi_recorder::Outcome::Done { value, .. } = recorded {
            self.state
                .stamped_through
                .fetch_max(value.seq, Ordering::AcqRel);
        }
        *last = Some(Instant::now());
        tsa.stored();
        tsa.pending.store(0, Ordering::Relaxed);
        Ok(false)
    }
}

/// A metric family: name, type, help, and the value of one TSA.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TsaState) -> u64,
);

/// The `arxi_timestamp_*` families, one series per TSA.
pub fn write_metrics(out: &mut String, state: &TimestampState) {
    use std::fmt::Write as _;
    if state.authorities.is_empty() {
        return;
    }
    let families: [Family; 4] = [
        (
            "arxi_timestamp_pending_seals",
            "gauge",
            "Seals waiting for a token from the TSA (for a TSA that stamps checkpoints: 1 while a checkpoint waits).",
            |t| t.pending.load(Ordering::Relaxed),
        ),
        (
            "arxi_timestamp_tokens_total",
            "counter",
            "Timestamp tokens stored by this process.",
            |t| t.tokens_total.load(Ordering::Relaxed),
        ),
        (
            "arxi_timestamp_failures_in_a_row",
            "gauge",
            "Failed requests to the TSA since its last token.",
            |t| t.failures_in_a_row.load(Ordering::Relaxed),
        ),
        (
            "arxi_timestamp_last_success_seconds",
            "gauge",
            "Unix time of the TSA's last token stored (0: none yet).",
            |t| t.last_success_unix_seconds.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for tsa in &state.authorities {
            let _ = writeln!(out, "{name}{{tsa=\"{}\"}} {}", tsa.name, value(tsa));
        }
    }
    let name = "arxi_timestamp_failures_total";
    let _ = writeln!(
        out,
        "# HELP {name} Failed requests to the TSA, by reason.\n# TYPE {name} counter"
    );
    for tsa in &state.authorities {
        let failures = tsa.failures();
        for reason in FAILURE_REASONS {
            let count = failures.get(reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "{name}{{tsa=\"{}\",reason=\"{reason}\"}} {count}",
                tsa.name
            );
        }
    }
}
