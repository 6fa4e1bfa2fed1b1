//! The work behind each `arxi` command, and what the commands share:
//! opening inputs, loading trusted keys, creating new files, the progress
//! line. Parsing arguments is `main.rs`'s (clap); verifying is the
//! library's.

pub(crate) mod bundle;
pub(crate) mod export;
pub(crate) mod generated;
pub(crate) mod keys;
pub(crate) mod proof;
pub(crate) mod witnessed;

use std::fs::File;
use std::io::{IsTerminal as _, Read, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use arxi_verify::{Code, Counts, TrustedKeys};

/// The input could not be checked (exit code 2), and why.
#[derive(Debug)]
pub(crate) struct CouldNotCheck(pub(crate) String);

/// The keys of `--key` options (`PUBKEY` or `PUBKEY@FIRST..LAST`), loaded
/// ([`arxi_verify::trusted_keys`]).
pub(crate) fn trusted_keys(arguments: &crate::TrustedKeys) -> Result<TrustedKeys, CouldNotCheck> {
    arxi_verify::trusted_keys_with(&arguments.keys, &arguments.delegations).map_err(CouldNotCheck)
}

/// The input (`-` is standard input) and its size when known, for progress.
pub(crate) fn open_input(path: &str) -> Result<(Box<dyn Read>, Option<u64>), CouldNotCheck> {
    if path == "-" {
        return Ok((Box::new(std::io::stdin().lock()), None));
    }
    let (file, size) = open_file(Path::new(path))?;
    Ok((Box::new(file), Some(size)))
}

/// A regular file and its size.
pub(crate) fn open_file(path: &Path) -> Result<(File, u64), CouldNotCheck> {
    let fail = |e: std::io::Error| CouldNotCheck(format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(fail)?;
    let metadata = file.metadata().map_err(fail)?;
    if !metadata.is_file() {
        return Err(CouldNotCheck(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    Ok((file, metadata.len()))
}

/// Creates a new file (never overwrites) with `mode`, writes and syncs it.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CouldNotCheck> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |e: std::io::Error| CouldNotCheck(format!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Pretty JSON of a value built in memory.
pub(crate) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value built in memory always serializes")
}

/// `arxi findings`: the registry of finding codes, as JSON (the document
/// published in `Docs/generated/arxi/format/findings.json`) or as the
/// Markdown table of `Docs/format.md`.
pub(crate) fn findings(markdown: bool) -> Result<u8, CouldNotCheck> {
    if markdown {
        print!("{}", Code::registry_markdown());
    } else {
        println!("{}", pretty(&Code::registry_json()));
    }
    Ok(0)
}

/// A one-line progress display on standard error, when it is a terminal.
pub(crate) struct ProgressLine {
    total: Option<u64>,
    started: Instant,
    last: Instant,
    shown: bool,
}

impl ProgressLine {
    pub(crate) fn new(total: Option<u64>) -> Option<Self> {
        std::io::stderr().is_terminal().then(|| Self {
            total,
            started: Instant::now(),
            last: Instant::now(),
            shown: false,
        })
    }

    pub(crate) fn update(&mut self, counts: &Counts) {
        if self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let rate = counts.envelopes as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let share = match self.total.filter(|total| *total > 0) {
            Some(total) => format!(" ({:.0}%)", counts.bytes as f64 * 100.0 / total as f64),
            None => String::new(),
        };
        eprint!(
            "\r\x1b[Kverifying: {} envelopes, {} seals, {:.1} MB{share}, {:.0} envelopes/s",
            counts.envelopes,
            counts.seals,
            counts.bytes as f64 / 1e6,
            rate
        );
    }

    pub(crate) fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}

/// The timestamp policy of `--tsa-cert`, `--timestamp-tolerance` and
/// `--require-timestamp`; an unreadable certificate file is exit 2.
pub(crate) fn timestamp_policy(
    tsa_certs: &[std::path::PathBuf],
    tolerance_seconds: u64,
    required: bool,
) -> Result<arxi_verify::TimestampPolicy, CouldNotCheck> {
    let mut trust = arxi_format::tsp::TsaTrust::new();
    for path in tsa_certs {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| trust.add(&bytes).map_err(|e| e.to_string()));
        if let Err(why) = read {
            return Err(CouldNotCheck(format!(
                "--tsa-cert {}: {why}",
                path.display()
            )));
        }
    }
    Ok(arxi_verify::TimestampPolicy {
        trust,
        tolerance_seconds,
        required,
    })
}
