//! `arxi-sidecar`: serve, probe, or check a configuration.
//!
//! ```text
//! arxi-sidecar [serve] [--config FILE]       serve (default); ARXI_SIDECAR_CONFIG also names the file;
//!                                            without either, the embedded development configuration
//! arxi-sidecar check-config [--config FILE]  validate and exit
//! arxi-sidecar healthcheck (--url URL | --unix PATH) [--path /ready] [--timeout-ms N]
//! arxi-sidecar contract (openapi|errors|enums|examples)   print an API contract document (JSON)
//! arxi-sidecar contract limits                            print the [limits] reference (Markdown)
//! ```
//!
//! Exit codes: 0 success; 1 runtime failure (or an unhealthy probe); 64 bad
//! usage or configuration.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use arxi_sidecar::healthcheck::{self, Target};
use arxi_sidecar_config::ValidConfig;

const USAGE: &str = "usage:
  arxi-sidecar [serve] [--config FILE]
  arxi-sidecar check-config [--config FILE]
  arxi-sidecar healthcheck (--url http://HOST:PORT[/PATH] | --unix PATH) [--path /ready] [--timeout-ms 2000]
  arxi-sidecar contract (openapi|errors|enums|examples|limits)
  arxi-sidecar --version | --help

The configuration file comes from --config, else ARXI_SIDECAR_CONFIG, else the
embedded development configuration (config/dev.toml: loopback and ./arxi-data).
Logs go to stderr; ARXI_LOG sets the level (error|warn|info|debug|trace) or
per-module levels (info,arxi_recorder=debug) and ARXI_LOG_FORMAT=json switches
to JSON lines.";

const EXIT_USAGE: u8 = 64;

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
            println!("arxi-sidecar {}", arxi_sidecar::VERSION);
            ExitCode::SUCCESS
        }
        Some("healthcheck") => healthcheck_command(&args[1..]),
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

fn usage_error(message: &str) -> ExitCode {
    eprintln!("arxi-sidecar: {message}\n\n{USAGE}");
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
fn load_config(args: &[String]) -> Result<ValidConfig, ExitCode> {
    let mut path: Option<PathBuf> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--config" | "-c" => match rest.next() {
                Some(value) => path = Some(PathBuf::from(value)),
                None => return Err(usage_error("--config needs a file")),
            },
            other => return Err(usage_error(&format!("unexpected argument {other:?}"))),
        }
    }
    let path = path.or_else(|| std::env::var_os("ARXI_SIDECAR_CONFIG").map(PathBuf::from));
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

fn serve(args: &[String]) -> ExitCode {
    let config = match load_config(args) {
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
