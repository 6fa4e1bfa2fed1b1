//! Start-up, serving and shutdown.
//!
//! Start-up order: the configuration is already whole and valid; create the
//! data directory, check that it and the database can be written (naming
//! owner and mode when not), create the database file 0640 and tighten wider
//! modes on what the sidecar owns; load (or, in development, generate) the
//! signing key; open the recorder (the signed-head check, recovery and tail
//! verification happen there); choose the
//! kernel driver; bind every listener; only then serve. A failure at any
//! step stops start-up before a socket accepts anything.
//!
//! Serving: `workers` threads, each with its own runtime, accept on shared
//! listeners and serve HTTP/1.1 connections with hyper.
//!
//! Shutdown (SIGTERM/SIGINT or [`ServerHandle::shutdown`]): stop accepting,
//! let in-flight requests finish within `shutdown_drain_seconds`, flush the
//! recorder (it records `arxi.recorder.stopped` and checkpoints), remove the
//! Unix socket.

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use arxi_format::{SecretKey, Signer};
use arxi_recorder::{AutoSeal, RecorderConfig, RecorderEngine, SystemClock};
use arxi_sidecar_config::ValidConfig;
use arxi_sidecar_config::model::IoDriver;

use crate::admission::{Admission, Saturation};
use crate::blocking::BlockingPool;
use crate::call::{Plane, Serves};
use crate::correlation::IdSource;
use crate::framing::{self, Gated, RefusalSlot};
use crate::io::{self, Acceptor, Connection, DriverChoice, Either, LocalSignal, Peer, Signal};
use crate::metrics::HttpMetrics;
use crate::pipeline::{self, Worker};
use crate::routes;
use crate::state::{AppState, Health, start_storage_watchdog};

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The data directory could not be created.
    DataDir(String),
    /// The signing key could not be loaded or created.
    Key(String),
    /// The recorder did not open (including a failed start-up
    /// verification, which names the first bad record).
    Recorder(arxi_recorder::OpenError),
    /// io_uring was demanded and refused.
    Driver(std::io::Error),
    /// A listener could not be bound.
    Bind(String),
    /// A thread could not be started.
    Thread(std::io::Error),
    /// The archive cannot be used as configured (a bad endpoint, or
    /// Object Lock asked of a bucket without it).
    Archive(String),
    /// The browser verifier page could not be read.
    Page(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataDir(reason) => write!(f, "data directory: {reason}"),
            Self::Key(reason) => write!(f, "signing key: {reason}"),
            Self::Recorder(error) => write!(f, "recorder: {error}"),
            Self::Driver(error) => write!(
                f,
                "io_uring was required (transport.io_driver) but refused: {error}"
            ),
            Self::Bind(reason) => write!(f, "listener: {reason}"),
            Self::Thread(error) => write!(f, "starting a thread: {error}"),
            Self::Archive(reason) => write!(f, "archive: {reason}"),
            Self::Page(reason) => write!(f, "web.verifier_page_file: {reason}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    state: Arc<AppState>,
    stop: Arc<Signal>,
    workers: Vec<JoinHandle<()>>,
    watchdog: Option<JoinHandle<()>>,
    witnessing: Option<crate::witnessing::Witnessing>,
    timestamping: Option<crate::timestamping::Timestamping>,
    archiver: Option<JoinHandle<()>>,
    tcp_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    plane_paths: Vec<(Plane, PathBuf)>,
    probe_path: Option<PathBuf>,
}

impl ServerHandle {
    /// The bound TCP address (the real port when configured with 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The Unix socket path.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// The plane sockets.
    pub fn plane_socket_paths(&self) -> &[(Plane, PathBuf)] {
        &self.plane_paths
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting, drains within `shutdown_drain_seconds`, flushes the
    /// recorder and removes the Unix socket.
    pub fn shutdown(mut self) -> Result<(), arxi_recorder::CommandError> {
        self.state.shutting_down.store(true, Ordering::Release);
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        self.stop.raise();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        // Witness workers finish the request they are in (bounded by each
        // witness's timeout) before the recorder records its stop.
        if let Some(witnessing) = self.witnessing.take() {
            witnessing.join();
        }
        if let Some(timestamping) = self.timestamping.take() {
            timestamping.join();
        }
        if let Some(archiver) = self.archiver.take() {
            stop_archiver(
                archiver,
                Duration::from_secs(
                    self.state
                        .config
                        .load()
                        .model()
                        .shutdown
                        .shutdown_drain_seconds,
                ),
            );
        }
        let result = self.state.engine.shutdown();
        self.state.reads.shutdown();
        self.state.bundles.shutdown();
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.thread().unpark();
            let _ = watchdog.join();
        }
        for path in self
            .unix_path
            .iter()
            .chain(self.plane_paths.iter().map(|(_, path)| path))
            .chain(self.probe_path.iter())
        {
            remove_socket(path);
        }
        match &result {
            Ok(()) => tracing::info!("recorder flushed; stopped"),
            Err(error) => tracing::error!(%error, "recorder did not record its stop"),
        }
        result
    }
}

/// Waits up to `drain` for the archiver to finish its request in flight.
/// One that takes longer is left behind: archiving is idempotent (the
/// next start finds or re-uploads the run), and a run it records after
/// the recorder stopped is refused, never half written.
fn stop_archiver(archiver: JoinHandle<()>, drain: Duration) {
    archiver.thread().unpark();
    let deadline = Instant::now() + drain;
    while !archiver.is_finished() && Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(20));
    }
    if archiver.is_finished() {
        let _ = archiver.join();
    } else {
        tracing::warn!("the archiver is still in a request; leaving it (the next start resumes)");
    }
}

fn remove_socket(path: &Path) {
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket());
    if let Err(error) = is_socket.then(|| std::fs::remove_file(path)).transpose() {
        tracing::warn!(%error, path = %path.display(), "could not remove the socket");
    }
}

/// The recorder settings a configuration implies.
pub fn recorder_config(config: &ValidConfig) -> RecorderConfig {
    let model = config.model();
    let limits = &model.limits;
    // The limits table bounds every value (`arxi_sidecar_config::limits`):
    // each fits the recorder's field, so a failed conversion is a bug in
    // the table, never a value to replace.
    let fits = "the limits table bounds this value far below the field's range";
    let mut recorder = RecorderConfig::new(model.recorder.id.clone());
    recorder.auto_seal = AutoSeal {
        envelopes_max: model.recorder.auto_seal.envelopes_max,
        bytes_max: model.recorder.auto_seal.bytes_max,
        age_max: Duration::from_secs(model.recorder.auto_seal.age_seconds),
    };
    recorder.startup_verification_depth = model.recorder.startup_verification_depth;
    recorder.queue_capacity = usize::try_from(limits.recorder_queue_commands_max).expect(fits);
    recorder.queue_bytes_max = usize::try_from(limits.recorder_queue_bytes_max).expect(fits);
    // The envelope holds the payload (at most one request body) plus its
    // fixed members and attachment references. The body limits can be
    // raised by a reload, so the recorder's own guard is their hard cap;
    // the configured limits are enforced on the body as it arrives.
    recorder.envelope_bytes_max = usize::try_from(arxi_sidecar_config::BODY_BYTES_CAP).expect(fits)
        + ENVELOPE_FIXED_BYTES_MAX;
    recorder.batch_envelopes_max = usize::try_from(limits.batch_envelopes_max).expect(fits);
    recorder.idempotency_ttl = Duration::from_secs(limits.idempotency_ttl_seconds);
    recorder.idempotency_entries_max = limits.idempotency_entries_max;
    recorder.query_page_envelopes_max = u32::try_from(limits.query_page_envelopes_max).expect(fits);
    recorder.bundle_dir = Some(config.bundle_dir());
    if let Some(threads) = model.recorder.signing_threads {
        recorder.signing_threads = usize::try_from(threads).expect(fits);
    }
    recorder.payloads = arxi_recorder::PayloadPolicy {
        version: model.recorder.envelope_version,
        commit_actor: model.recorder.commit_actor,
        commit_subject: model.recorder.commit_subject,
    };
    recorder.subject_keys = config.subject_keys_path();
    let signer = &model.signer;
    recorder.delegation = signer.delegate.then(|| arxi_recorder::DelegationPolicy {
        rotate_envelopes: signer.delegate_rotate_envelopes,
        rotate_after: Duration::from_secs(signer.delegate_rotate_seconds),
    });
    recorder.log_origin = config.log_origin();
    recorder.retention = model
        .retention
        .map(|retention| arxi_recorder::RetentionPolicy {
            keep_segments_min: retention.keep_segments_min,
            keep_age: Duration::from_secs(retention.keep_days_min * 86_400),
            check_interval: Duration::from_secs(retention.check_interval_seconds),
            delete_rows_per_batch: limits.retention_delete_rows_max,
            vacuum_pages_per_batch: limits.retention_vacuum_pages_max,
        });
    recorder
}

/// Room in an envelope beyond its payload: the fixed members and the
/// attachment references.
const ENVELOPE_FIXED_BYTES_MAX: usize = 64 * 1024;

/// The signing key: in a PKCS#11 token, or loaded from its file (or
/// created when allowed, for development).
pub fn signing_key(config: &ValidConfig) -> Result<Signer, StartError> {
    if let Some(token) = config.pkcs11_signer() {
        let key = crate::token::TokenKey::open(&token).map_err(|error| {
            StartError::Key(format!("{}: {error}", crate::token::describe(&token)))
        })?;
        tracing::info!(
            key_id = %arxi_format::ExternalKey::public(&key).id(),
            token = %crate::token::describe(&token),
            "signing through a PKCS#11 token"
        );
        return Ok(Signer::External(Arc::new(key)));
    }
    let path = config
        .signer_key_path()
        .ok_or_else(|| StartError::Key("no signer configured".into()))?;
    key_file(config, &path).map(Signer::from)
}

/// Loads the signing key file, or creates it when allowed (development).
fn key_file(config: &ValidConfig, path: &Path) -> Result<SecretKey, StartError> {
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey::from_hex(&text)
            .map_err(|e| StartError::Key(format!("{}: {e}", path.display()))),
        Err(error)
            if error.kind() == std::io::ErrorKind::NotFound
                && config.model().signer.generate_if_missing =>
        {
            let mut seed = [0_u8; 32];
            getrandom::fill(&mut seed)
                .map_err(|e| StartError::Key(format!("no randomness: {e}")))?;
            let key = SecretKey::from_seed(&seed).map_err(|e| StartError::Key(e.to_string()))?;
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| StartError::Key(format!("{}: {e}", parent.display())))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StartError::Key(format!("{}: {e}", path.display())))?;
            std::io::Write::write_all(&mut file, format!("{}\n", key.to_hex()).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| StartError::Key(format!("{}: {e}", path.display())))?;
            tracing::warn!(
                path = %path.display(),
                key_id = %key.id(),
                "generated a development signing key (signer.generate_if_missing); never use it for real evidence"
            );
            Ok(key)
        }
        Err(error) => Err(StartError::Key(format!("{}: {error}", path.display()))),
    }
}

/// Connections open at once on the probe socket.
const PROBE_CONNECTIONS_MAX: usize = 64;

/// Pending connections the kernel holds per listener (capped by
/// `net.core.somaxconn`). The standard library's 128 overflows under a
/// connection burst, and a dropped SYN costs the client a one-second
/// retransmission (probes included).
const LISTEN_BACKLOG: i32 = 4096;

/// A bound, listening socket (`SO_REUSEADDR` on TCP, as the standard
/// library sets it) with [`LISTEN_BACKLOG`].
fn listen(
    domain: socket2::Domain,
    address: &socket2::SockAddr,
) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM.cloexec(), None)?;
    if domain != socket2::Domain::UNIX {
        socket.set_reuse_address(true)?;
    }
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// How long a socket that accepts connections must go on accepting before
/// start-up takes it for another process's (see [`socket_stays_answered`]).
const STALE_SOCKET_GRACE: Duration = Duration::from_secs(2);

/// Whether connections to the socket at `path` keep succeeding for
/// [`STALE_SOCKET_GRACE`]. One successful connect is no proof of a live
/// server: the kernel tears an io_uring instance down after its process
/// has been reaped, so the listener of a sidecar killed with SIGKILL can
/// take connections for a few milliseconds more. A refused connect at any
/// point means nobody serves.
fn socket_stays_answered(path: &Path) -> bool {
    let deadline = Instant::now() + STALE_SOCKET_GRACE;
    loop {
        if std::os::unix::net::UnixStream::connect(path).is_err() {
            return false;
        }
        if Instant::now() >= deadline {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Binds a Unix socket: a stale socket is removed only if it is a socket
/// that nobody answers on; anything else at the path stops start-up.
fn bind_unix(path: &Path, mode: u32) -> Result<std::os::unix::net::UnixListener, StartError> {
    let fail = |reason: String| StartError::Bind(format!("{}: {reason}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(|e| fail(e.to_string()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if socket_stays_answered(path) {
                return Err(fail("another process is serving on this socket".into()));
            }
            std::fs::remove_file(path)
                .map_err(|e| fail(format!("removing the stale socket: {e}")))?;
            tracing::info!(path = %path.display(), "removed a stale socket");
        }
        Ok(_) => {
            return Err(fail(
                "exists and is not a socket; refusing to remove it".into(),
            ));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(fail(error.to_string())),
    }
    let listener = listen(
        socket2::Domain::UNIX,
        &socket2::SockAddr::unix(path).map_err(|e| fail(e.to_string()))?,
    )
    .map(std::os::unix::net::UnixListener::from)
    .map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail(format!("setting mode {mode:04o}: {e}")))?;
    Ok(listener)
}

/// What start-up takes beside the configuration: the operator's one-time
/// decisions, given on the command line, never kept in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// The signed head seq whose newer envelopes the operator accepts to
    /// lose after a restore (`--accept-rollback SEQ`): see
    /// `RecorderConfig::rollback_acknowledged_seq`.
    pub rollback_acknowledged_seq: Option<u64>,
}

/// Starts the server; returns once every listener is bound.
pub fn start(config: ValidConfig) -> Result<ServerHandle, StartError> {
    start_with(config, StartOptions::default())
}

/// [`start`] with the operator's start options.
pub fn start_with(config: ValidConfig, options: StartOptions) -> Result<ServerHandle, StartError> {
    let engine = open_recorder(&config, options)?;
    log_enterprise_mode(&config);
    let archive = crate::archiver::connect(&config).map_err(StartError::Archive)?;
    let (driver, refusal) = choose_driver(&config)?;
    let listeners = Listeners::bind(&config)?;
    let state = Arc::new(app_state(config, engine, driver, refusal)?);
    let stop = Signal::new();
    let watchdog = start_storage_watchdog(&state, Duration::from_secs(1), Arc::clone(&stop))
        .map_err(StartError::Thread)?;
    let witnessing =
        crate::witnessing::start(&state.config.load(), &state.engine, &state.log, &stop)
            .map_err(StartError::Thread)?;
    let timestamping = crate::timestamping::start(
        &state.config.load(),
        &state.engine,
        (&state.timestamps, &state.log),
        &stop,
    )
    .map_err(StartError::Thread)?;
    let archiver = match (archive, &state.archive) {
        (Some(client), Some(metrics)) => Some(
            crate::archiver::start(
                &state.config.load(),
                client,
                Arc::clone(&state.engine),
                Arc::clone(metrics),
                Arc::clone(&stop),
            )
            .map_err(StartError::Thread)?,
        ),
        _ => None,
    };
    let addresses = listeners.addresses();
    let workers = serve(listeners, &state, &stop)?;
    Ok(ServerHandle {
        state,
        stop,
        workers,
        watchdog: Some(watchdog),
        witnessing: Some(witnessing),
        timestamping: Some(timestamping),
        archiver,
        tcp_addr: addresses.tcp,
        unix_path: addresses.unix,
        plane_paths: addresses.planes,
        probe_path: addresses.probes,
    })
}

/// Creates the data directory and opens the recorder (recovery and the
/// start-up verification run there).
fn open_recorder(
    config: &ValidConfig,
    options: StartOptions,
) -> Result<RecorderEngine, StartError> {
    let data_dir = config.data_dir();
    let created = !data_dir.exists();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .map_err(|e| StartError::DataDir(crate::ownership::explain(&data_dir, &e)))?;
    if created {
        tracing::info!(path = %data_dir.display(), "created the data directory");
    }
    let database = config.database_path();
    crate::ownership::check_writable(&data_dir, &database).map_err(StartError::DataDir)?;
    let new_database = !database.exists();
    crate::ownership::create_database_file(&database).map_err(StartError::DataDir)?;
    let with_suffix = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    crate::ownership::tighten(&[
        data_dir.clone(),
        database.clone(),
        with_suffix("-wal"),
        with_suffix("-shm"),
        with_suffix(".head"),
        config.bundle_dir(),
    ]);
    let key = signing_key(config)?;
    let mut recorder = recorder_config(config);
    recorder.rollback_acknowledged_seq = options.rollback_acknowledged_seq;
    let engine = RecorderEngine::open(&database, recorder, key, Arc::new(SystemClock))
        .map_err(StartError::Recorder)?;
    let recovery = engine.recovery();
    tracing::info!(
        path = %database.display(),
        new = new_database,
        key_id = %engine.key_id(),
        verified_envelopes = recovery.verified_envelopes,
        verified_seals = recovery.verified_seals,
        previous_shutdown = recovery.previous_shutdown,
        "recorder open"
    );
    Ok(engine)
}

/// Says at start-up whether requests go through a control plane, and
/// which: the one setting that changes every request's latency.
fn log_enterprise_mode(config: &ValidConfig) {
    let enterprise = &config.model().enterprise;
    match enterprise.mode {
        arxi_sidecar_config::model::EnterpriseMode::Disabled => {
            tracing::info!(mode = "disabled", "enterprise mode");
        }
        mode => tracing::info!(
            mode = ?mode,
            control_plane_url = enterprise.control_plane_url.as_deref().unwrap_or("(none)"),
            timeout_ms = enterprise.timeout_ms,
            require_writer_lease_header = enterprise.require_writer_lease_header,
            "enterprise mode: every request but the probes calls the control plane (ingress check and hooks)"
        ),
    }
}

/// The kernel driver the configuration asks for, and why io_uring was
/// refused when the driver fell back to epoll.
fn choose_driver(config: &ValidConfig) -> Result<(io::Driver, Option<std::io::Error>), StartError> {
    let choice = match config.model().transport.io_driver {
        IoDriver::Auto => DriverChoice::Auto,
        IoDriver::IoUring => DriverChoice::IoUring,
        IoDriver::Epoll => DriverChoice::Epoll,
    };
    let (driver, refusal) = io::choose_driver(choice).map_err(StartError::Driver)?;
    match &refusal {
        Some(error) => tracing::warn!(%error, "io_uring refused; falling back to epoll"),
        None => tracing::info!(driver = driver.name(), "io driver"),
    }
    Ok((driver, refusal))
}

/// The shared state: configuration, engine, pools, metrics, health.
fn app_state(
    config: ValidConfig,
    engine: RecorderEngine,
    driver: io::Driver,
    refusal: Option<std::io::Error>,
) -> Result<AppState, StartError> {
    let reads =
        BlockingPool::new("arxi-read", READ_THREADS, READ_QUEUE_MAX).map_err(StartError::Thread)?;
    // Bundle work is long: one at a time, a short queue, never the reads'
    // threads.
    let bundles = BlockingPool::new("arxi-bundle", BUNDLE_THREADS, BUNDLE_QUEUE_MAX)
        .map_err(StartError::Thread)?;
    let log = Arc::new(crate::witnessing::LogState::new(&config));
    let timestamps = Arc::new(crate::timestamping::TimestampState::new(&config));
    let archive = config
        .model()
        .archive
        .is_some()
        .then(|| Arc::new(crate::archiver::ArchiveMetrics::default()));
    let verifier_page = verifier_page(&config)?;
    Ok(AppState {
        log,
        timestamps,
        archive,
        config: ArcSwap::from_pointee(config),
        engine: Arc::new(engine),
        http: HttpMetrics::new(
            routes::ROUTES
                .iter()
                .map(|route| route.operation_id)
                .collect(),
        ),
        saturation: Arc::new(Saturation::default()),
        ids: IdSource::new(),
        reads,
        bundles,
        driver,
        io_uring_refusal: refusal.map(|e| e.to_string()),
        started_at: Instant::now(),
        storage: Health::new("storage not checked yet"),
        signer: Health::new("signer not checked yet"),
        control_plane: Health::new("the control plane's health not checked yet"),
        shutting_down: std::sync::atomic::AtomicBool::new(false),
        reload_lock: std::sync::Mutex::new(()),
        verifier_page,
    })
}

/// The browser verifier page, read whole (within
/// `limits.verifier_page_bytes_max`) when `web.verifier_page_file` is set.
fn verifier_page(config: &ValidConfig) -> Result<Option<bytes::Bytes>, StartError> {
    use std::io::Read as _;
    let Some(path) = config.verifier_page_path() else {
        return Ok(None);
    };
    let most = config.model().limits.verifier_page_bytes_max;
    let fail = |error: std::io::Error| StartError::Page(format!("{}: {error}", path.display()));
    let mut page = Vec::new();
    std::fs::File::open(&path)
        .map_err(fail)?
        .take(most + 1)
        .read_to_end(&mut page)
        .map_err(fail)?;
    if page.len() as u64 > most {
        return Err(StartError::Page(format!(
            "{} is larger than limits.verifier_page_bytes_max ({most} bytes)",
            path.display()
        )));
    }
    tracing::info!(path = %path.display(), bytes = page.len(), "serving the browser verifier at /verify");
    Ok(Some(page.into()))
}

/// Threads that run SQLite reads (and other blocking work) for handlers.
const READ_THREADS: usize = 4;
/// Blocking jobs waiting for a read thread before 429.
const READ_QUEUE_MAX: usize = 1_024;
/// Threads that build, verify and inspect bundles.
const BUNDLE_THREADS: usize = 1;
/// Bundle jobs waiting before `429 bundle_busy`.
const BUNDLE_QUEUE_MAX: usize = 2;

/// Every bound listener, before any is served.
#[derive(Debug)]
pub struct Listeners {
    tcp: Option<std::net::TcpListener>,
    unix_path: Option<PathBuf>,
    /// The general Unix socket and the plane sockets.
    unix: Vec<(Serves, std::os::unix::net::UnixListener)>,
    plane_paths: Vec<(Plane, PathBuf)>,
    probes: Option<(PathBuf, std::os::unix::net::UnixListener)>,
}

/// Where the listeners are bound, for the handle and the log.
struct Addresses {
    tcp: Option<SocketAddr>,
    unix: Option<PathBuf>,
    planes: Vec<(Plane, PathBuf)>,
    probes: Option<PathBuf>,
}

impl Listeners {
    /// Binds every listener the configuration names; the first failure
    /// stops start-up.
    pub fn bind(config: &ValidConfig) -> Result<Self, StartError> {
        let model = config.model();
        let tcp = model.transport.tcp.as_ref().map(bind_tcp).transpose()?;
        let unix_path = config.unix_socket_path();
        let mut unix = Vec::new();
        if let (Some(socket), Some(path)) = (&model.transport.unix, &unix_path) {
            let mode = arxi_sidecar_config::parse_mode(&socket.mode)
                .expect("validation accepted the socket mode, so it parses");
            unix.push((Serves::All, bind_unix(path, mode)?));
        }
        let mut plane_paths = Vec::new();
        for (plane, path, mode) in config.plane_sockets() {
            unix.push((Serves::Plane(plane), bind_unix(&path, mode)?));
            plane_paths.push((plane, path));
        }
        let probes = config
            .probe_socket()
            .map(|(path, mode)| bind_unix(&path, mode).map(|listener| (path, listener)))
            .transpose()?;
        Ok(Self {
            tcp,
            unix_path,
            unix,
            plane_paths,
            probes,
        })
    }

    fn log(&self) {
        if let Some(address) = self.tcp.as_ref().and_then(|l| l.local_addr().ok()) {
            tracing::info!(%address, "listening on TCP");
        }
        if let Some(path) = &self.unix_path {
            tracing::info!(path = %path.display(), "listening on a Unix socket");
        }
        for (plane, path) in &self.plane_paths {
            tracing::info!(path = %path.display(), plane = plane.name(), "listening on a plane socket");
        }
    }

    fn addresses(&self) -> Addresses {
        Addresses {
            tcp: self
                .tcp
                .as_ref()
                .and_then(|listener| listener.local_addr().ok()),
            unix: self.unix_path.clone(),
            planes: self.plane_paths.clone(),
            probes: self.probes.as_ref().map(|(path, _)| path.clone()),
        }
    }
}

fn bind_tcp(
    tcp: &arxi_sidecar_config::model::TcpListener,
) -> Result<std::net::TcpListener, StartError> {
    let address = format!("{}:{}", tcp.host, tcp.port);
    let address: SocketAddr = address
        .parse()
        .or_else(|_| format!("[{}]:{}", tcp.host, tcp.port).parse())
        .map_err(|e| StartError::Bind(format!("{address}: {e}")))?;
    listen(socket2::Domain::for_address(address), &address.into())
        .map(std::net::TcpListener::from)
        .map_err(|e| StartError::Bind(format!("{address}: {e}")))
}

/// Serves bound listeners until `shutdown` is raised: `transport.workers`
/// threads, each with its own runtime and admission gate, share the
/// listeners; the probe socket gets a thread and runtime of its own, so a
/// health check never waits behind the workers' queues. Returns the
/// threads; each drains its connections (`shutdown_drain_seconds`) once
/// `shutdown` is raised.
pub fn serve(
    listeners: Listeners,
    state: &Arc<AppState>,
    shutdown: &Arc<Signal>,
) -> Result<Vec<JoinHandle<()>>, StartError> {
    let model = state.config.load().model().clone();
    let workers = model.transport.workers.max(1);
    let per_worker = |total: u64| {
        usize::try_from(total.div_ceil(workers as u64))
            .expect("validation bounds the request limits far below usize::MAX")
    };
    let gate = Gate {
        active_max: per_worker(model.limits.concurrent_requests_max),
        waiting_max: per_worker(model.limits.queued_requests_max),
        saturation: Arc::clone(&state.saturation),
    };
    let drain = Duration::from_secs(model.shutdown.shutdown_drain_seconds);
    listeners.log();
    let mut threads = Vec::with_capacity(workers + 1);
    for index in 0..workers {
        let tcp = listeners
            .tcp
            .as_ref()
            .map(std::net::TcpListener::try_clone)
            .transpose()
            .map_err(StartError::Thread)?;
        let unix = listeners
            .unix
            .iter()
            .map(|(serves, listener)| listener.try_clone().map(|listener| (*serves, listener)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(StartError::Thread)?;
        let served = Served {
            tcp,
            unix,
            watch_control_plane: index == 0,
        };
        threads.push(spawn_worker(
            format!("arxi-http-{index}"),
            served,
            gate.clone(),
            state,
            shutdown,
            drain,
        )?);
    }
    if let Some((path, listener)) = listeners.probes {
        let served = Served {
            tcp: None,
            unix: vec![(Serves::Probes, listener)],
            watch_control_plane: false,
        };
        // One request at a time, no queue, a saturation of its own.
        let gate = Gate {
            active_max: 1,
            waiting_max: 0,
            saturation: Arc::new(Saturation::default()),
        };
        threads.push(spawn_worker(
            "arxi-probes".into(),
            served,
            gate,
            state,
            shutdown,
            drain,
        )?);
        tracing::info!(path = %path.display(), "listening on the probe socket");
    }
    Ok(threads)
}

/// What one worker thread serves.
struct Served {
    tcp: Option<std::net::TcpListener>,
    unix: Vec<(Serves, std::os::unix::net::UnixListener)>,
    /// This worker also watches the enterprise control plane's health.
    watch_control_plane: bool,
}

/// A worker's admission limits.
#[derive(Clone)]
struct Gate {
    active_max: usize,
    waiting_max: usize,
    saturation: Arc<Saturation>,
}

/// Starts one worker thread with its own runtime.
fn spawn_worker(
    name: String,
    served: Served,
    gate: Gate,
    state: &Arc<AppState>,
    shutdown: &Arc<Signal>,
    drain: Duration,
) -> Result<JoinHandle<()>, StartError> {
    let state = Arc::clone(state);
    let stop = Arc::clone(shutdown);
    let driver = state.driver;
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let result = io::block_on(driver, async move {
                let admission = Admission::new(gate.active_max, gate.waiting_max, gate.saturation);
                let worker = Rc::new(Worker {
                    state,
                    admission,
                    outbound: Rc::new(crate::outbound::Client::default()),
                });
                worker_loop(worker, served, stop, drain).await;
            });
            if let Err(error) = result {
                tracing::error!(%error, thread = name, "worker runtime failed to start");
            }
        })
        .map_err(StartError::Thread)
}

/// One worker: accept on every listener until stopped, then drain.
async fn worker_loop(worker: Rc<Worker>, served: Served, stop: Arc<Signal>, drain: Duration) {
    let Served {
        tcp,
        unix,
        watch_control_plane,
    } = served;
    let open_here = Rc::new(Cell::new(0_usize));
    let mut acceptors = Vec::new();
    if let Some(listener) = tcp {
        match Acceptor::tcp(listener) {
            Ok(acceptor) => acceptors.push((Serves::All, acceptor)),
            Err(error) => tracing::error!(%error, "adopting the TCP listener"),
        }
    }
    for (serves, listener) in unix {
        match Acceptor::unix(listener) {
            Ok(acceptor) => acceptors.push((serves, acceptor)),
            Err(error) => tracing::error!(%error, "adopting a Unix listener"),
        }
    }
    // The cross-thread signal is awaited once per worker; every task of
    // this worker waits on the local copy.
    let local_stop = LocalSignal::new();
    for (serves, acceptor) in acceptors {
        io::spawn(accept_loop(
            acceptor,
            serves,
            Rc::clone(&worker),
            Rc::clone(&local_stop),
            Rc::clone(&open_here),
        ));
    }
    if watch_control_plane {
        io::spawn(crate::enterprise::watch_health(
            Arc::clone(&worker.state),
            Rc::clone(&worker.outbound),
            Rc::clone(&local_stop),
        ));
    }
    stop.wait().await;
    local_stop.raise();
    let deadline = Instant::now() + drain;
    while open_here.get() > 0 && Instant::now() < deadline {
        io::sleep(Duration::from_millis(5)).await;
    }
    if open_here.get() > 0 {
        tracing::warn!(
            connections = open_here.get(),
            "drain time over; closing the remaining connections"
        );
    }
}

/// Counts a connection on this worker and globally while it lives.
struct ConnectionGuard {
    worker: Rc<Worker>,
    open_here: Rc<Cell<usize>>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open_here.set(self.open_here.get() - 1);
        self.worker
            .state
            .http
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    acceptor: Acceptor,
    serves: Serves,
    worker: Rc<Worker>,
    stop: Rc<LocalSignal>,
    open_here: Rc<Cell<usize>>,
) {
    loop {
        let accepted = match io::race(acceptor.accept(), stop.wait()).await {
            Either::Right(()) => return,
            Either::Left(accepted) => accepted,
        };
        let (connection, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: back off briefly rather
                // than spin.
                tracing::warn!(%error, "accept failed");
                io::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let state = &worker.state;
        let connections_max = state.config.load().model().limits.connections_max;
        // The probe socket has its own small cap, so a full server still
        // answers its health checks.
        let full = if serves == Serves::Probes {
            open_here.get() >= PROBE_CONNECTIONS_MAX
        } else {
            state.http.connections_open.load(Ordering::Relaxed) >= connections_max
        };
        if full {
            state
                .http
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            drop(connection);
            continue;
        }
        state.http.connections_open.fetch_add(1, Ordering::Relaxed);
        open_here.set(open_here.get() + 1);
        let guard = ConnectionGuard {
            worker: Rc::clone(&worker),
            open_here: Rc::clone(&open_here),
        };
        io::spawn(serve_connection(
            connection,
            peer,
            serves,
            Rc::clone(&worker),
            Rc::clone(&stop),
            guard,
        ));
    }
}

async fn serve_connection(
    connection: Connection,
    peer: Peer,
    serves: Serves,
    worker: Rc<Worker>,
    stop: Rc<LocalSignal>,
    _guard: ConnectionGuard,
) {
    let header_timeout = Duration::from_millis(
        worker
            .state
            .config
            .load()
            .model()
            .limits
            .header_read_timeout_ms,
    );
    let mut builder = hyper::server::conn::http1::Builder::new();
    framing::configure(&mut builder);
    builder
        .timer(io::HyperTimer)
        .header_read_timeout(header_timeout);
    let service_worker = Rc::clone(&worker);
    let refusals = Rc::new(RefusalSlot::default());
    let service_refusals = Rc::clone(&refusals);
    // hyper calls the service once per request head, in order: the count
    // is the number the framing gate gives its refusals.
    let requests = Cell::new(0_u64);
    let service = hyper::service::service_fn(move |request| {
        let worker = Rc::clone(&service_worker);
        let peer = peer.clone();
        requests.set(requests.get() + 1);
        let on_connection = pipeline::OnConnection {
            refusals: Rc::clone(&service_refusals),
            number: requests.get(),
        };
        async move {
            Ok::<_, Infallible>(
                pipeline::handle(worker, peer, serves, request, on_connection).await,
            )
        }
    });
    let connection = builder.serve_connection(Gated::new(connection, refusals), service);
    let mut connection = std::pin::pin!(connection);
    let finished = match io::race(connection.as_mut(), stop.wait()).await {
        Either::Left(result) => result,
        Either::Right(()) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = finished {
        tracing::debug!(%error, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder's own defaults (for a recorder used without the
    /// sidecar) are the limits table's: one set of facts.
    #[test]
    fn the_recorder_defaults_are_the_limits_table_defaults() {
        let config = arxi_sidecar_config::parse(crate::EMBEDDED_DEV_CONFIG, Path::new("."), "test")
            .expect("the embedded configuration is valid");
        let defaults = arxi_sidecar_config::model::Limits::default();
        let plain = RecorderConfig::new("test");
        assert_eq!(
            plain.queue_capacity as u64,
            defaults.recorder_queue_commands_max
        );
        assert_eq!(
            plain.queue_bytes_max as u64,
            defaults.recorder_queue_bytes_max
        );
        assert_eq!(
            plain.idempotency_ttl.as_secs(),
            defaults.idempotency_ttl_seconds
        );
        assert_eq!(
            plain.idempotency_entries_max,
            defaults.idempotency_entries_max
        );
        assert_eq!(
            u64::from(plain.query_page_envelopes_max),
            defaults.query_page_envelopes_max
        );
        // And the sidecar passes the configured values through unchanged.
        let configured = recorder_config(&config);
        let limits = config.model().limits;
        assert_eq!(
            configured.queue_capacity as u64,
            limits.recorder_queue_commands_max
        );
        assert_eq!(
            configured.query_page_envelopes_max as u64,
            limits.query_page_envelopes_max
        );
    }

    fn bind_error(path: &Path) -> String {
        match bind_unix(path, 0o660) {
            Ok(_) => "bound".to_owned(),
            Err(error) => error.to_string(),
        }
    }

    /// A socket somebody answers on is left alone; a socket nobody answers
    /// on (its listener gone) is replaced; anything else is refused.
    #[test]
    fn a_unix_socket_is_replaced_only_when_nobody_serves_on_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("arxi.sock");
        let live = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let refused = bind_error(&path);
        assert!(refused.contains("another process is serving"), "{refused}");
        drop(live);
        assert_eq!(bind_error(&path), "bound");
        std::fs::remove_file(&path).expect("remove");
        std::fs::write(&path, b"not a socket").expect("write");
        assert!(bind_error(&path).contains("is not a socket"));
        assert_eq!(std::fs::read(&path).expect("read"), b"not a socket");
    }

    /// A listener that goes on accepting for a moment after its owner
    /// died (as an io_uring instance does until the kernel tears it down)
    /// is not taken for a live server.
    #[test]
    fn a_socket_whose_listener_closes_within_the_grace_is_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("arxi.sock");
        let lingering = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let closer = std::thread::spawn(move || {
            std::thread::sleep(STALE_SOCKET_GRACE / 4);
            drop(lingering);
        });
        assert_eq!(bind_error(&path), "bound");
        closer.join().expect("closer");
    }
}
