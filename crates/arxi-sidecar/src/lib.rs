//! arxi-sidecar: the recorder's HTTP/JSON service. The only crate that
//! names monoio or HTTP.
//!
//! Module map: `io` (the monoio adapter), `server` (start-up, serving,
//! shutdown), `framing` (strict CRLF below hyper), `pipeline` (the middleware order of R-HTTP), `call` (the
//! handler contract: what a handler gets and gives back), `routes` (the
//! route table), `handlers` (one module per route group), `problem` (the
//! RFC 9457 error registry), `auth`, `enterprise` (the control-plane bridge) over `outbound` (its HTTP
//! client), `correlation`, `admission`, `blocking`
//! (the SQLite read pool), `metrics` (HTTP and recorder counters) and
//! `process_metrics` (build, process, readiness, storage, timings), `logging`
//! (`ARXI_LOG` per-module filters), `state`, `reload` (configuration reload), `healthcheck` (the
//! `healthcheck` subcommand's client), `maintenance` (the `backup` and
//! `verify-data` subcommands), `ownership` (start-up errors that name a
//! path's owner and mode), `client` (the operator commands `erase` and
//! `bundle export`, calling a running sidecar).

#![forbid(unsafe_code)]

pub mod admission;
pub mod archiver;
pub mod auth;
pub mod blocking;
pub mod call;
pub mod client;
pub mod contract;
pub mod correlation;
pub mod enterprise;
pub mod framing;
pub mod handlers;
pub mod healthcheck;
pub mod io;
pub mod logging;
pub mod maintenance;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod ownership;
pub mod pipeline;
pub mod problem;
pub mod process_metrics;
pub mod reload;
pub mod response_body;
pub mod restore;
pub mod routes;
pub mod server;
pub mod state;
pub mod timestamping;
pub mod token;
pub mod witnessing;

pub use server::{ServerHandle, StartError, StartOptions, start, start_with};

/// `arxi-sidecar --version`: the package version, the commit and the build
/// profile (from `build.rs`), as `arxi_build_info` labels them too.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ARXI_BUILD_COMMIT"),
    ", ",
    env!("ARXI_BUILD_PROFILE"),
    " build)"
);

/// The development configuration (`config/dev.toml`), used when neither
/// `--config` nor `ARXI_SIDECAR_CONFIG` names a file.
pub const EMBEDDED_DEV_CONFIG: &str = include_str!("../../../config/dev.toml");
