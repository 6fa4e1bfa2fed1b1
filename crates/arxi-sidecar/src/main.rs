//! `arxi-sidecar`: serve, probe, or check a configuration (clap, derive).
//!
//! ```text
//! arxi-sidecar [serve] [--config FILE] [--accept-rollback SEQ]
//!                                            serve (default); ARXI_SIDECAR_CONFIG also names the file;
//!                                            without either, the embedded development configuration
//! arxi-sidecar check-config [--config FILE]  validate and exit
//! arxi-sidecar backup [--config FILE] --to FILE               an online copy of the database
//! arxi-sidecar verify-data [--config FILE] [--database FILE]  check a database offline
//! arxi-sidecar erase TARGET (--subject S | --seqs N,...) --reason TEXT   erase payloads (control plane)
//! arxi-sidecar bundle export TARGET --out FILE [...]          build and download a bundle
//! arxi-sidecar healthcheck (--url URL | --unix PATH) [--path /ready] [--timeout-ms N]
//! arxi-sidecar contract (openapi|errors|enums|examples)   print an API contract document (JSON)
//! arxi-sidecar contract limits                            print the [limits] reference (Markdown)
//! arxi-sidecar completions SHELL | man-pages --out DIR     the generated shell completions and man pages
//! ```
//!
//! Exit codes: 0 success (and `--help`, `--version`); 1 runtime failure (or
//! an unhealthy probe); 64 bad usage or configuration (clap's own usage
//! errors included); 65 the database is behind its signed head (a restored
//! backup: see `--accept-rollback`). `verify-data`: 0 valid, 1 invalid, 2
//! could not check.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use arxi_sidecar::healthcheck::{self, Target};
use arxi_sidecar_config::ValidConfig;
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
The configuration file comes from --config, else ARXI_SIDECAR_CONFIG, else the
embedded development configuration (config/dev.toml: loopback and ./arxi-data).
Logs go to stderr; ARXI_LOG sets the level (error|warn|info|debug|trace) or
per-module levels (info,arxi_recorder=debug) and ARXI_LOG_FORMAT=json switches
to JSON lines.

A database behind its signed head (an older backup restored) refuses to start
with exit code 65; --accept-rollback SEQ (or ARXI_ACCEPT_ROLLBACK=SEQ), SEQ
being the signed head seq the refusal names, opens it once and records
arxi.recorder.rolled_back naming the lost range.

Exit codes: 0 success; 1 runtime failure (or an unhealthy probe); 64 bad usage
or configuration; 65 the database is behind its signed head.";

const EXIT_USAGE: u8 = 64;
/// The database is behind its signed head (a restored older backup).
const EXIT_ROLLED_BACK: u8 = 65;

/// mimalloc instead of the C library's allocator: glibc's malloc and free
/// took about 12% of the sidecar's CPU samples on the durable write path;
/// with mimalloc the sidecar spent 52-54 µs of CPU per durable request
/// instead of 60-64 (same build otherwise, interleaved runs;
/// Docs/benchmarks.md), with the same resident memory idle and under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The arxi recorder sidecar: HTTP/JSON on a Unix socket and/or loopback TCP.
#[derive(Debug, Parser)]
#[command(
    name = "arxi-sidecar",
    version = arxi_sidecar::VERSION,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Serve with no subcommand, as `serve` does.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (the default)
    Serve(ServeArgs),
    /// Validate the configuration and exit (every problem listed; exit 64 if any)
    CheckConfig(ConfigArgs),
    /// Copy the configured database into a new FILE with SQLite's online backup API while the sidecar runs (never the signing key or the signed head)
    Backup {
        #[command(flatten)]
        config: ConfigArgs,
        /// The new file (never overwritten)
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Check every envelope and seal of the configured database (or of --database FILE, e.g. a backup) read-only, and the configured one against its signed head: exit 0 valid, 1 invalid, 2 could not check
    VerifyData {
        #[command(flatten)]
        config: ConfigArgs,
        /// Check this database file instead (not compared with a signed head)
        #[arg(long, value_name = "FILE")]
        database: Option<PathBuf>,
    },
    /// With the sidecar stopped, bring a database restored from an older backup forward with the sealed segments the configured [archive] holds after it, each verified first: exit 0 restored (or nothing newer), 1 refused (a gap, an object that does not verify, or an archive that does not continue this database), 2 could not run
    RestoreArchive {
        #[command(flatten)]
        config: ConfigArgs,
        /// Also trust this public key (hex, or a file holding it) for segments signed by a key the database does not know (one rotated in after the backup)
        #[arg(long = "key", value_name = "PUBKEY")]
        keys: Vec<String>,
        /// Make the database, which must not exist, from the archive alone (the database and every backup lost); the signing key's file must be in place, or its public key given with --key
        #[arg(long)]
        new_database: bool,
    },
    /// Erase the committed payloads of version 2 envelopes through a running sidecar's control plane (POST /v1/erasures)
    #[command(args_override_self = true)]
    Erase(arxi_sidecar::client::EraseArgs),
    /// Revoke a key from a sequence number on through a running sidecar's control plane (POST /v1/keys/revoke)
    #[command(args_override_self = true)]
    RevokeKey(arxi_sidecar::client::RevokeKeyArgs),
    /// Bundles of a running sidecar
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Probe a running sidecar: exit 0 on a 2xx answer, 1 otherwise
    Healthcheck(HealthcheckArgs),
    /// Print an API contract document
    Contract {
        /// Which document: openapi, errors, enums, examples (JSON) or limits (Markdown)
        document: Document,
    },
    /// Print a shell completion script for `arxi-sidecar`
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Write the manual pages of `arxi-sidecar` and every subcommand (roff) into a directory
    ManPages {
        /// Directory to write into (created when missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Build a bundle through a running sidecar's control plane (POST /v1/bundles/build), download it and check its size
    #[command(args_override_self = true)]
    Export(arxi_sidecar::client::ExportArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Open a database behind its signed head once, recording the loss (SEQ: the signed head's sequence number the refusal names; else ARXI_ACCEPT_ROLLBACK)
    #[arg(long, value_name = "SEQ")]
    accept_rollback: Option<u64>,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// The configuration file (else ARXI_SIDECAR_CONFIG, else the embedded development configuration)
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct HealthcheckArgs {
    /// The sidecar's URL, http://HOST:PORT[/PATH]
    #[arg(long, value_name = "URL", value_parser = parse_url, required_unless_present = "unix", conflicts_with = "unix")]
    url: Option<(String, Option<String>)>,
    /// The sidecar's Unix socket (or its probe socket)
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// The path to probe (default /ready, or the URL's path)
    #[arg(long, value_name = "PATH", value_parser = parse_probe_path)]
    path: Option<String>,
    /// Time allowed for the answer
    #[arg(long, value_name = "MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Document {
    Openapi,
    Errors,
    Enums,
    Examples,
    Limits,
}

fn parse_url(url: &str) -> Result<(String, Option<String>), String> {
    healthcheck::parse_url(url)
}

fn parse_probe_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err("an absolute path like /ready".into())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print to stdout and succeed; every
            // other clap error is bad usage.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::CheckConfig(args)) => match load_config(args.config) {
            Ok(config) => {
                println!("configuration {} is valid", config.source());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Some(Command::Healthcheck(args)) => healthcheck_command(args),
        Some(Command::Backup { config, to }) => match load_config(config.config) {
            Ok(config) => ExitCode::from(arxi_sidecar::maintenance::backup(
                &config.database_path(),
                &to,
            )),
            Err(code) => code,
        },
        Some(Command::VerifyData { config, database }) => verify_data(config.config, database),
        Some(Command::RestoreArchive {
            config,
            keys,
            new_database,
        }) => restore_archive(config.config, &keys, new_database),
        Some(Command::Erase(args)) => operator_command(arxi_sidecar::client::erase_command(&args)),
        Some(Command::RevokeKey(args)) => {
            operator_command(arxi_sidecar::client::revoke_key_command(&args))
        }
        Some(Command::Bundle(BundleCommand::Export(args))) => {
            operator_command(arxi_sidecar::client::bundle_export_command(&args))
        }
        Some(Command::Contract { document }) => contract(document),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "arxi-sidecar",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Some(Command::ManPages { out }) => man_pages(&out),
    }
}

fn contract(document: Document) -> ExitCode {
    let document = match document {
        Document::Limits => {
            print!("{}", arxi_sidecar_config::limits::reference_markdown());
            return ExitCode::SUCCESS;
        }
        Document::Errors => arxi_sidecar::problem::registry_json(),
        Document::Openapi => arxi_sidecar::openapi::document(),
        Document::Enums => arxi_sidecar::openapi::enums(),
        Document::Examples => arxi_sidecar::openapi::examples(),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&document)
            .expect("a JSON value built in memory always serializes")
    );
    ExitCode::SUCCESS
}

/// Writes `arxi-sidecar.1` and one page per subcommand into `dir`.
fn man_pages(dir: &Path) -> ExitCode {
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir));
    match written {
        Ok(()) => {
            eprintln!("wrote the manual pages into {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "arxi-sidecar: writing manual pages into {}: {error}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn verify_data(config: Option<PathBuf>, database: Option<PathBuf>) -> ExitCode {
    if let Some(database) = &database {
        return ExitCode::from(arxi_sidecar::maintenance::verify_data(database, false));
    }
    match load_config(config) {
        Ok(config) => ExitCode::from(arxi_sidecar::maintenance::verify_data(
            &config.database_path(),
            true,
        )),
        Err(code) => code,
    }
}

fn restore_archive(config: Option<PathBuf>, keys: &[String], new_database: bool) -> ExitCode {
    let mut trusted = Vec::with_capacity(keys.len());
    for key in keys {
        match arxi_verify::load_public_key(key) {
            Ok(key) => trusted.push(key),
            Err(reason) => return usage_error(&format!("--key {key}: {reason}")),
        }
    }
    match load_config(config) {
        Ok(config) => ExitCode::from(arxi_sidecar::restore::restore_archive(
            &config,
            &trusted,
            new_database,
        )),
        Err(code) => code,
    }
}

/// The exit of an operator command: 0 done, 1 refused or failed (the
/// reason printed); bad usage never gets here (clap exits 64).
fn operator_command(outcome: Result<(), arxi_sidecar::client::Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(arxi_sidecar::client::Failure(message)) => {
            eprintln!("arxi-sidecar: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--accept-rollback`, else `ARXI_ACCEPT_ROLLBACK`.
fn rollback_acknowledgement(flag: Option<u64>) -> Result<Option<u64>, ExitCode> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var("ARXI_ACCEPT_ROLLBACK") {
        Ok(value) if !value.is_empty() => value.parse::<u64>().map(Some).map_err(|_| {
            usage_error(&format!(
                "ARXI_ACCEPT_ROLLBACK needs the signed head's sequence number, got {value:?}"
            ))
        }),
        _ => Ok(None),
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

fn usage_error(message: &str) -> ExitCode {
    eprintln!("arxi-sidecar: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn init_logging() -> Result<(), ExitCode> {
    let spec = std::env::var("ARXI_LOG").ok();
    let json = std::env::var("ARXI_LOG_FORMAT").is_ok_and(|format| format == "json");
    arxi_sidecar::logging::init(spec.as_deref(), json).map_err(|reason| usage_error(&reason))
}

/// The configuration from `--config`, `ARXI_SIDECAR_CONFIG` or the embedded
/// development file; on failure every problem is printed and the exit code
/// is 64.
fn load_config(path: Option<PathBuf>) -> Result<ValidConfig, ExitCode> {
    let path = path.or_else(|| std::env::var_os("ARXI_SIDECAR_CONFIG").map(PathBuf::from));
    let result = match &path {
        Some(path) => arxi_sidecar_config::load(path),
        None => arxi_sidecar_config::parse(
            arxi_sidecar::EMBEDDED_DEV_CONFIG,
            Path::new("."),
            "embedded development configuration (config/dev.toml)",
        ),
    };
    result.map_err(|errors| {
        eprint!("arxi-sidecar: {errors}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// The configuration and start options `serve` runs with.
fn serve_arguments(args: ServeArgs) -> Result<(ValidConfig, arxi_sidecar::StartOptions), ExitCode> {
    let rollback_acknowledged_seq = rollback_acknowledgement(args.accept_rollback)?;
    let config = load_config(args.config.config)?;
    Ok((
        config,
        arxi_sidecar::StartOptions {
            rollback_acknowledged_seq,
        },
    ))
}

fn serve(args: ServeArgs) -> ExitCode {
    let (config, options) = match serve_arguments(args) {
        Ok(arguments) => arguments,
        Err(code) => return code,
    };
    if let Err(code) = init_logging() {
        return code;
    }
    tracing::info!(
        source = config.source(),
        version = arxi_sidecar::VERSION,
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

fn healthcheck_command(args: HealthcheckArgs) -> ExitCode {
    let (target, url_path) = match (args.url, args.unix) {
        (Some((authority, url_path)), None) => (Target::Tcp(authority), url_path),
        (None, Some(socket)) => (Target::Unix(socket), None),
        _ => unreachable!("clap requires exactly one of --url and --unix"),
    };
    let path = args.path.or(url_path);
    let timeout = Duration::from_millis(args.timeout_ms);
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
