//! Logging set-up for the binary: where lines go (standard error), their
//! form (text, or JSON lines with `ARXI_LOG_FORMAT=json`) and which are
//! kept (`ARXI_LOG`).
//!
//! `ARXI_LOG` is a level (`error`, `warn`, `info`, `debug`, `trace`) or a
//! list of per-module directives after tracing's `Targets` syntax:
//! `info,arxi_recorder=debug,arxi_sidecar::enterprise=trace` (a bare level
//! is the default for every other module). Unset or empty means `info`; a
//! value that does not parse is a configuration error (exit 64), never a
//! silent fallback. It does not decide what is logged, only what is kept.

use std::str::FromStr as _;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;

/// The filter `ARXI_LOG` asks for.
pub fn filter(spec: Option<&str>) -> Result<Targets, String> {
    let spec = spec.map(str::trim).filter(|spec| !spec.is_empty());
    let Some(spec) = spec else {
        return Ok(Targets::new().with_default(tracing::Level::INFO));
    };
    let refuse = |why: String| {
        format!(
            "ARXI_LOG={spec:?}: {why}; give a level (error, warn, info, debug, trace) or directives like info,arxi_recorder=debug"
        )
    };
    // Targets would read a bare word as a module name at every level
    // ("verbose" would mean "the module verbose, trace"): each directive
    // must be a level, or a module and a level.
    for directive in spec.split(',') {
        let level = match directive.split_once('=') {
            Some((module, level)) if !module.trim().is_empty() => level,
            Some(_) => return Err(refuse(format!("{directive:?} names no module"))),
            None => directive,
        };
        LevelFilter::from_str(level.trim())
            .map_err(|_| refuse(format!("{level:?} is not a level")))?;
    }
    Targets::from_str(&spec.to_ascii_lowercase()).map_err(|error| refuse(error.to_string()))
}

/// Installs the global subscriber.
pub fn init(spec: Option<&str>, json: bool) -> Result<(), String> {
    let targets = filter(spec)?;
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::stderr)
        .with_target(false);
    let installed = if json {
        tracing::subscriber::set_global_default(builder.json().finish().with(targets))
    } else {
        tracing::subscriber::set_global_default(builder.with_ansi(false).finish().with(targets))
    };
    installed.map_err(|error| format!("installing the log subscriber: {error}"))
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn filters() {
        let check = |spec: Option<&str>, target: &str, level: Level, kept: bool| {
            let filter = filter(spec).expect("parses");
            assert_eq!(
                filter.would_enable(target, &level),
                kept,
                "{spec:?} {target} {level}"
            );
        };
        check(None, "arxi_sidecar", Level::INFO, true);
        check(None, "arxi_sidecar", Level::DEBUG, false);
        check(Some(""), "arxi_recorder", Level::INFO, true);
        check(Some("DEBUG"), "arxi_store", Level::DEBUG, true);
        check(Some("warn"), "arxi_sidecar", Level::INFO, false);
        let modules = "info,arxi_recorder=debug,arxi_sidecar::enterprise=trace";
        check(
            Some(modules),
            "arxi_recorder::committer",
            Level::DEBUG,
            true,
        );
        check(Some(modules), "arxi_recorder", Level::TRACE, false);
        check(
            Some(modules),
            "arxi_sidecar::enterprise",
            Level::TRACE,
            true,
        );
        check(Some(modules), "arxi_sidecar::pipeline", Level::DEBUG, false);
        check(Some(modules), "arxi_sidecar::pipeline", Level::INFO, true);
        for bad in ["verbose", "arxi_recorder=loud", "=debug=x"] {
            assert!(filter(Some(bad)).is_err(), "{bad}");
        }
    }
}
