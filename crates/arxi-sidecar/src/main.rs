//! `arxi-sidecar`: serve, probe, or check a configuration (clap, derive).
//!
//! ```text
//! arxi-sidecar [serve] [--config FILE]       serve (default); ARXI_SIDECAR_CONFIG also names the file;
//!                                            without either, the embedded development configuration
//! arxi-sidecar check-config [--config FILE]  validate and exit
//! arxi-sidecar healthcheck (--url URL | --unix PATH) [--path /ready] [--timeout-ms N]
//! arxi-sidecar contract (openapi|errors|enums|examples)   print an API contract document (JSON)
//! arxi-sidecar contract limits                            print the [limits] reference (Markdown)
//! arxi-sidecar completions SHELL | man-pages --out DIR     the generated shell completions and man pages
//! ```
//!
//! Exit codes: 0 success (and `--help`, `--version`); 1 runtime failure (or
//! an unhealthy probe); 64 bad usage or configuration (clap's own usage
//! errors included).

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

Exit codes: 0 success; 1 runtime failure (or an unhealthy probe); 64 bad usage
or configuration.";

const EXIT_USAGE: u8 = 64;

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
    serve: ConfigArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (the default)
    Serve(ConfigArgs),
    /// Validate the configuration and exit (every problem listed; exit 64 if any)
    CheckConfig(ConfigArgs),
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
        None => serve(cli.serve.config),
        Some(Command::Serve(args)) => serve(args.config),
        Some(Command::CheckConfig(args)) => match load_config(args.config) {
            Ok(config) => {
                println!("configuration {} is valid", config.source());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Some(Command::Healthcheck(args)) => healthcheck_command(args),
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

fn serve(config_path: Option<PathBuf>) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(config) => config,
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
    let server = match arxi_sidecar::start(config) {
        Ok(server) => server,
        Err(error) => {
            tracing::error!(%error, "start-up failed");
            eprintln!("arxi-sidecar: {error}");
            return ExitCode::FAILURE;
        }
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
