//! `arxi-sidecar`: serve, probe, or check a configuration.
//!
//! ```text
//! arxi-sidecar [serve] [--config FILE] [--accept-rollback SEQ]
//!                                            serve (default); ARXI_SIDECAR_CONFIG also names the file;
//!                                            without either, the embedded development configuration
//! arxi-sidecar check-config [--config FILE]  validate and exit
//! arxi-sidecar backup [--config FILE] --to FILE        consistent online copy of the database
//! arxi-sidecar verify-data [--config FILE] [--database FILE]   offline check of a database
//! arxi-sidecar healthcheck (--url URL | --unix PATH) [--path /ready] [--timeout-ms N]
//! arxi-sidecar erase TARGET (--subject S | --seqs N,N,..) --reason TEXT [--token-file F] [--idempotency-key K]
//! arxi-sidecar bundle export TARGET --out FILE [--first-segment A --last-segment B]
//!              [--withhold-payloads | --disclose-subject S | --disclose-type T] [--token-file F]
//! arxi-sidecar contract (openapi|errors|enums|examples)   print an API contract document (JSON)
//! arxi-sidecar contract limits                            print the [limits] reference (Markdown)
//! ```
//!
//! Exit codes: 0 success; 1 runtime failure (or an unhealthy probe); 64 bad
//! usage or configuration; 65 the database is behind its signed head (a
//! restored backup: see `--accept-rollback`). `verify-data`: 0 valid, 1
//! invalid, 2 could not check.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use arxi_sidecar::healthcheck::{self, Target};
use arxi_sidecar_config::ValidConfig;

const USAGE: &str = "usage:
  arxi-sidecar [serve] [--config FILE] [--accept-rollback SEQ]
  arxi-sidecar check-config [--config FILE]
  arxi-sidecar backup [--config FILE] --to FILE
  arxi-sidecar verify-data [--config FILE] [--database FILE]
  arxi-sidecar healthcheck (--url http://HOST:PORT[/PATH] | --unix PATH) [--path /ready] [--timeout-ms 2000]
  arxi-sidecar erase TARGET (--subject S | --seqs N,N,...) --reason TEXT [--token-file F] [--idempotency-key K]
  arxi-sidecar bundle export TARGET --out FILE [--first-segment A] [--last-segment B]
               [--withhold-payloads | --disclose-subject S | --disclose-type T] [--token-file F] [--idempotency-key K]
  arxi-sidecar contract (openapi|errors|enums|examples|limits)
  arxi-sidecar --version | --help

TARGET is --url http://HOST:PORT or --unix PATH: a running sidecar (erase and
bundle export use its control plane: POST /v1/erasures, POST /v1/bundles/build
then GET /v1/bundles/download).

The configuration file comes from --config, else ARXI_SIDECAR_CONFIG, else the
embedded development configuration (config/dev.toml: loopback and ./arxi-data).

backup copies the configured database into a new FILE with SQLite's online
backup API while the sidecar runs (never the signing key or the signed head).
verify-data checks every envelope and seal of the configured database (or of
--database FILE, e.g. a backup) read-only, and the configured one against its
signed head; exit 0 valid, 1 invalid, 2 could not check.
A database behind its signed head (an older backup restored) refuses to start
with exit code 65; --accept-rollback SEQ (or ARXI_ACCEPT_ROLLBACK=SEQ), SEQ
being the signed head seq the refusal names, opens it once and records
arxi.recorder.rolled_back naming the lost range.

Logs go to stderr; ARXI_LOG sets the level (error|warn|info|debug|trace) and
ARXI_LOG_FORMAT=json switches to JSON lines.";

const EXIT_USAGE: u8 = 64;
/// The database is behind its signed head (EX_DATAERR).
const EXIT_ROLLED_BACK: u8 = 65;

/// mimalloc instead of the C library's allocator: glibc's malloc and free
/// took about 12% of the sidecar's CPU samples on the durable write path;
/// with mimalloc the sidecar spent 52-54 µs of CPU per durable request
/// instead of 60-64 (same build otherwise, interleaved runs;
/// Docs/benchmarks.md), with the same resident memory idle and under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("arxi-sidecar {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("healthcheck") => healthcheck_command(&args[1..]),
        Some("erase") => operator_command(arxi_sidecar::client::erase_command(&args[1..])),
        Some("bundle") if args.get(1).map(String::as_str) == Some("export") => {
            operator_command(arxi_sidecar::client::bundle_export_command(&args[2..]))
        }
        Some("backup") => backup_command(&args[1..]),
        Some("verify-data") => verify_data_command(&args[1..]),
        Some("check-config") => match load_config(&args[1..]) {
            Ok(config) => {
                println!("configuration {} is valid", config.source());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Some("contract") if args.get(1).map(String::as_str) == Some("limits") => {
            print!("{}", arxi_sidecar_config::limits::reference_markdown());
            ExitCode::SUCCESS
        }
        Some("contract") => {
            let document = match args.get(1).map(String::as_str) {
                Some("errors") => arxi_sidecar::problem::registry_json(),
                Some("openapi") => arxi_sidecar::openapi::document(),
                Some("enums") => arxi_sidecar::openapi::enums(),
                Some("examples") => arxi_sidecar::openapi::examples(),
                _ => {
                    return usage_error(
                        "contract needs a document name: openapi, errors, enums, examples or limits",
                    );
                }
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&document)
                    .expect("a JSON value built in memory always serializes")
            );
            ExitCode::SUCCESS
        }
        Some("serve") => serve(&args[1..]),
        _ => serve(&args),
    }
}

/// The exit of an operator command: 0 done, 1 refused or failed (the
/// reason printed), 64 bad usage.
fn operator_command(outcome: Result<(), arxi_sidecar::client::Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(arxi_sidecar::client::Failure::Usage(message)) => usage_error(&message),
        Err(arxi_sidecar::client::Failure::Failed(message)) => {
            eprintln!("arxi-sidecar: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("arxi-sidecar: {message}\n\n{USAGE}");
    ExitCode::from(EXIT_USAGE)
}

fn init_logging() {
    let level = match std::env::var("ARXI_LOG")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    if std::env::var("ARXI_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}

/// The flags the subcommands take; each subcommand says which it allows.
#[derive(Debug, Default)]
struct Flags {
    config: Option<PathBuf>,
    to: Option<PathBuf>,
    database: Option<PathBuf>,
    accept_rollback: Option<u64>,
}

/// Parses `args`, allowing only the flags in `allowed`.
fn parse_flags(args: &[String], allowed: &[&str]) -> Result<Flags, ExitCode> {
    let mut flags = Flags::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let name = match arg.as_str() {
            "-c" => "--config",
            other => other,
        };
        if !allowed.contains(&name) {
            return Err(usage_error(&format!("unexpected argument {arg:?}")));
        }
        let Some(value) = rest.next() else {
            return Err(usage_error(&format!("{name} needs a value")));
        };
        match name {
            "--config" => flags.config = Some(PathBuf::from(value)),
            "--to" => flags.to = Some(PathBuf::from(value)),
            "--database" => flags.database = Some(PathBuf::from(value)),
            "--accept-rollback" => flags.accept_rollback = Some(parse_seq(value)?),
            _ => unreachable!("every allowed flag is matched above"),
        }
    }
    Ok(flags)
}

fn parse_seq(value: &str) -> Result<u64, ExitCode> {
    value.parse::<u64>().map_err(|_| {
        usage_error(&format!(
            "--accept-rollback needs the signed head's sequence number, got {value:?}"
        ))
    })
}

/// The configuration from `--config`, `ARXI_SIDECAR_CONFIG` or the embedded
/// development file; on failure every problem is printed and the exit code
/// is 64.
fn load_config(args: &[String]) -> Result<ValidConfig, ExitCode> {
    config_from(&parse_flags(args, &["--config"])?)
}

fn config_from(flags: &Flags) -> Result<ValidConfig, ExitCode> {
    let path = flags
        .config
        .clone()
        .or_else(|| std::env::var_os("ARXI_SIDECAR_CONFIG").map(PathBuf::from));
    let result = match &path {
        Some(path) => arxi_sidecar_config::load(path),
        None => arxi_sidecar_config::parse(
            arxi_sidecar::EMBEDDED_DEV_CONFIG,
            std::path::Path::new("."),
            "embedded development configuration (config/dev.toml)",
        ),
    };
    result.map_err(|errors| {
        eprint!("arxi-sidecar: {errors}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn backup_command(args: &[String]) -> ExitCode {
    let flags = match parse_flags(args, &["--config", "--to"]) {
        Ok(flags) => flags,
        Err(code) => return code,
    };
    let Some(destination) = flags.to.clone() else {
        return usage_error("backup needs --to FILE");
    };
    match config_from(&flags) {
        Ok(config) => ExitCode::from(arxi_sidecar::maintenance::backup(
            &config.database_path(),
            &destination,
        )),
        Err(code) => code,
    }
}

fn verify_data_command(args: &[String]) -> ExitCode {
    let flags = match parse_flags(args, &["--config", "--database"]) {
        Ok(flags) => flags,
        Err(code) => return code,
    };
    if let Some(database) = &flags.database {
        return ExitCode::from(arxi_sidecar::maintenance::verify_data(database, false));
    }
    match config_from(&flags) {
        Ok(config) => ExitCode::from(arxi_sidecar::maintenance::verify_data(
            &config.database_path(),
            true,
        )),
        Err(code) => code,
    }
}

/// `--accept-rollback`, else `ARXI_ACCEPT_ROLLBACK`.
fn rollback_acknowledgement(flags: &Flags) -> Result<Option<u64>, ExitCode> {
    if flags.accept_rollback.is_some() {
        return Ok(flags.accept_rollback);
    }
    match std::env::var("ARXI_ACCEPT_ROLLBACK") {
        Ok(value) if !value.is_empty() => parse_seq(&value).map(Some),
        _ => Ok(None),
    }
}

/// The configuration and start options `serve` runs with.
fn serve_arguments(args: &[String]) -> Result<(ValidConfig, arxi_sidecar::StartOptions), ExitCode> {
    let flags = parse_flags(args, &["--config", "--accept-rollback"])?;
    let rollback_acknowledged_seq = rollback_acknowledgement(&flags)?;
    let config = config_from(&flags)?;
    Ok((
        config,
        arxi_sidecar::StartOptions {
            rollback_acknowledged_seq,
        },
    ))
}

fn serve(args: &[String]) -> ExitCode {
    let (config, options) = match serve_arguments(args) {
        Ok(arguments) => arguments,
        Err(code) => return code,
    };
    init_logging();
    tracing::info!(
        source = config.source(),
        version = env!("CARGO_PKG_VERSION"),
        "starting arxi-sidecar"
    );
    // Signals are caught by a dedicated thread before anything is bound.
    let (signal_sender, signal_receiver) = std::sync::mpsc::channel::<i32>();
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(signals) => signals,
        Err(error) => {
            tracing::error!(%error, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let signal_handle = signals.handle();
    let signal_thread = std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal_sender.send(signal).is_err() {
                break;
            }
        }
    });
    let server = match arxi_sidecar::start_with(config, options) {
        Ok(server) => server,
        Err(error) => return start_failed(&error),
    };
    tracing::info!("ready");
    loop {
        match signal_receiver.recv() {
            Ok(signal_hook::consts::SIGHUP) => {
                // The outcome is logged and recorded by the reload itself.
                let _ = arxi_sidecar::reload::reload(
                    server.state(),
                    arxi_sidecar::reload::Trigger::Signal,
                    None,
                );
            }
            Ok(signal) => {
                tracing::info!(signal, "signal received");
                break;
            }
            Err(_) => break,
        }
    }
    let result = server.shutdown();
    signal_handle.close();
    let _ = signal_thread.join();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Reports a failed start; a database behind its signed head gets its own
/// exit code and the flag that acknowledges it.
fn start_failed(error: &arxi_sidecar::StartError) -> ExitCode {
    use arxi_recorder::OpenError;
    use arxi_sidecar::StartError;
    tracing::error!(%error, "start-up failed");
    eprintln!("arxi-sidecar: {error}");
    match error {
        StartError::Recorder(
            OpenError::BehindSignedHead(rollback)
            | OpenError::RollbackAcknowledgementMismatch { rollback, .. },
        ) => {
            eprintln!(
                "arxi-sidecar: to accept the loss, start once with --accept-rollback {} \
                 (or ARXI_ACCEPT_ROLLBACK={}); Docs/reliability.md, \"Restore\"",
                rollback.signed.seq, rollback.signed.seq
            );
            ExitCode::from(EXIT_ROLLED_BACK)
        }
        _ => ExitCode::FAILURE,
    }
}

fn healthcheck_command(args: &[String]) -> ExitCode {
    let mut target = None;
    let mut path = None;
    let mut timeout = Duration::from_secs(2);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned();
        match arg.as_str() {
            "--url" => match value().map(|url| healthcheck::parse_url(&url)) {
                Some(Ok((authority, url_path))) => {
                    target = Some(Target::Tcp(authority));
                    if path.is_none() {
                        path = url_path;
                    }
                }
                Some(Err(reason)) => return usage_error(&reason),
                None => return usage_error("--url needs a value"),
            },
            "--unix" => match value() {
                Some(socket) => target = Some(Target::Unix(PathBuf::from(socket))),
                None => return usage_error("--unix needs a path"),
            },
            "--path" => match value() {
                Some(value) if value.starts_with('/') => path = Some(value),
                _ => return usage_error("--path needs an absolute path like /ready"),
            },
            "--timeout-ms" => match value().and_then(|v| v.parse::<u64>().ok()) {
                Some(ms) if (1..=60_000).contains(&ms) => timeout = Duration::from_millis(ms),
                _ => return usage_error("--timeout-ms needs 1 to 60000"),
            },
            other => return usage_error(&format!("unexpected argument {other:?}")),
        }
    }
    let Some(target) = target else {
        return usage_error("healthcheck needs --url or --unix");
    };
    let path = path.unwrap_or_else(|| "/ready".to_owned());
    match healthcheck::probe(&target, &path, timeout) {
        Ok(status) => {
            println!("healthy: {status}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}
