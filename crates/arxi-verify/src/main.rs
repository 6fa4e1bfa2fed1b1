//! `arxi`: the offline verifier's command line.
//!
//! Exit codes: 0 the evidence is valid (or the command succeeded), 1 the
//! evidence is invalid, 2 it could not be checked (bad usage, unreadable
//! file, not a bundle, unknown format version).

use std::fs::File;
use std::io::{IsTerminal as _, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arxi_format::{PublicKey, SecretKey};
use arxi_verify::proof_file::PROOF_BYTES_MAX;
use arxi_verify::{Code, Counts, Options, Report, SeriesReport, load_public_key};
use serde_json::json;

const USAGE: &str = "\
arxi: verify arxi evidence offline

USAGE:
    arxi bundle verify FILE [FILE...] --key PUBKEY [--key PUBKEY...] [--json] [--no-batch] [--threads N]
    arxi bundle inspect FILE [--json]
    arxi envelope prove BUNDLE --seq N [--out FILE]
    arxi proof verify FILE --key PUBKEY [--key PUBKEY...] [--json]
    arxi keygen --secret FILE --public FILE
    arxi findings [--markdown]
    arxi --version | --help

FILE may be - for standard input. PUBKEY is a file holding the 64 hex digits
of an Ed25519 public key, or the hex itself; repeat --key to trust several.
Signatures are checked in batches of 4,096 (--no-batch: one by one) on
--threads worker threads (default: one per CPU); the verdict is the same.
Several bundles, in chain order, are each verified and then checked to
continue one another (no gap, no overlap, anchored to the one before).
`arxi findings` prints every finding code the verifier reports.

EXIT CODES:
    0  valid (or done)
    1  invalid evidence: the report names every finding and the first bad record
    2  could not check: bad usage, unreadable input, not a bundle, unknown version
";

/// Most `--key` options accepted.
const TRUSTED_KEYS_MAX: usize = 256;

/// Most signature threads.
const THREADS_MAX: usize = 64;

enum Failure {
    Usage(String),
    CouldNotCheck(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        [] | ["--help" | "-h" | "help", ..] => {
            print!("{USAGE}");
            Ok(0)
        }
        ["--version" | "-V"] => {
            println!("arxi {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        ["bundle", "verify", rest @ ..] => bundle_verify(rest),
        ["bundle", "inspect", rest @ ..] => bundle_inspect(rest),
        ["envelope", "prove", rest @ ..] => envelope_prove(rest),
        ["proof", "verify", rest @ ..] => proof_verify(rest),
        ["keygen", rest @ ..] => keygen(rest),
        ["findings", rest @ ..] => findings(rest),
        _ => Err(Failure::Usage(format!(
            "unknown command: {}",
            words.join(" ")
        ))),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            eprintln!("arxi: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::CouldNotCheck(message)) => {
            eprintln!("arxi: {message}");
            ExitCode::from(2)
        }
    }
}

/// Parsed options: positional arguments, repeated and single values, flags.
#[derive(Default)]
struct Args<'a> {
    positional: Vec<&'a str>,
    keys: Vec<&'a str>,
    values: Vec<(&'a str, &'a str)>,
    flags: Vec<&'a str>,
}

impl<'a> Args<'a> {
    fn parse(words: &[&'a str], with_value: &[&str], flags: &[&str]) -> Result<Self, Failure> {
        let mut args = Args::default();
        let mut iter = words.iter();
        while let Some(&word) = iter.next() {
            if word == "--key" {
                let value = iter
                    .next()
                    .ok_or_else(|| Failure::Usage("--key needs a value".into()))?;
                args.keys.push(value);
            } else if with_value.contains(&word) {
                let value = iter
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("{word} needs a value")))?;
                if args.value(word).is_some() {
                    return Err(Failure::Usage(format!("{word} given twice")));
                }
                args.values.push((word, value));
            } else if flags.contains(&word) {
                args.flags.push(word);
            } else if word.starts_with("--") {
                return Err(Failure::Usage(format!("unknown option {word}")));
            } else {
                args.positional.push(word);
            }
        }
        Ok(args)
    }

    fn value(&self, name: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    fn one_file(&self) -> Result<&'a str, Failure> {
        match self.positional.as_slice() {
            [file] => Ok(file),
            [] => Err(Failure::Usage("a FILE is required".into())),
            _ => Err(Failure::Usage(format!(
                "one FILE expected, got {}",
                self.positional.len()
            ))),
        }
    }

    fn trusted_keys(&self) -> Result<Vec<PublicKey>, Failure> {
        if self.keys.is_empty() {
            return Err(Failure::Usage(
                "at least one --key is required (the public key you trust)".into(),
            ));
        }
        if self.keys.len() > TRUSTED_KEYS_MAX {
            return Err(Failure::Usage(format!(
                "at most {TRUSTED_KEYS_MAX} --key options"
            )));
        }
        self.keys
            .iter()
            .map(|key| {
                load_public_key(key).map_err(|e| Failure::CouldNotCheck(format!("--key {e}")))
            })
            .collect()
    }
}

/// The input and its size (when known, for progress).
fn open_input(path: &str) -> Result<(Box<dyn Read>, Option<u64>), Failure> {
    if path == "-" {
        return Ok((Box::new(std::io::stdin().lock()), None));
    }
    let file = File::open(path).map_err(|e| Failure::CouldNotCheck(format!("{path}: {e}")))?;
    let metadata = file
        .metadata()
        .map_err(|e| Failure::CouldNotCheck(format!("{path}: {e}")))?;
    if !metadata.is_file() {
        return Err(Failure::CouldNotCheck(format!(
            "{path}: not a regular file"
        )));
    }
    Ok((Box::new(file), Some(metadata.len())))
}

/// A one-line progress display on standard error, when it is a terminal.
struct ProgressLine {
    total: Option<u64>,
    started: Instant,
    last: Instant,
    shown: bool,
}

impl ProgressLine {
    fn new(total: Option<u64>) -> Option<Self> {
        std::io::stderr().is_terminal().then(|| Self {
            total,
            started: Instant::now(),
            last: Instant::now(),
            shown: false,
        })
    }

    fn update(&mut self, counts: &Counts) {
        if self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let rate = counts.envelopes as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let share = self
            .total
            .filter(|total| *total > 0)
            .map(|total| format!(" ({:.0}%)", counts.bytes as f64 * 100.0 / total as f64))
            .unwrap_or_default();
        eprint!(
            "\r\x1b[Kverifying: {} envelopes, {} seals, {:.1} MB{share}, {:.0} envelopes/s",
            counts.envelopes,
            counts.seals,
            counts.bytes as f64 / 1e6,
            rate
        );
    }

    fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}

fn bundle_verify(words: &[&str]) -> Result<u8, Failure> {
    let args = Args::parse(words, &["--threads"], &["--json", "--no-batch"])?;
    if args.positional.is_empty() {
        return Err(Failure::Usage("a FILE is required".into()));
    }
    if args.positional.iter().filter(|file| **file == "-").count() > 1 {
        return Err(Failure::Usage("standard input (-) can be read once".into()));
    }
    let trusted = args.trusted_keys()?;
    let threads = match args.value("--threads") {
        None => std::thread::available_parallelism().map_or(1, usize::from),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=THREADS_MAX).contains(n))
            .ok_or_else(|| Failure::Usage(format!("--threads must be 1 to {THREADS_MAX}")))?,
    };
    let options = Options {
        batch_size: if args.flag("--no-batch") {
            1
        } else {
            Options::default().batch_size
        },
        threads: threads.min(THREADS_MAX),
    };
    let mut reports = Vec::new();
    for file in &args.positional {
        reports.push(verify_one(file, &trusted, &options)?);
    }
    if let [report] = reports.as_slice() {
        print_report(args.positional[0], report, args.flag("--json"));
        return Ok(report.exit_code());
    }
    let series = SeriesReport::new(reports);
    print_series(&args.positional, &series, args.flag("--json"));
    Ok(series.exit_code())
}

fn verify_one(file: &str, trusted: &[PublicKey], options: &Options) -> Result<Report, Failure> {
    let (input, size) = open_input(file)?;
    let mut progress = ProgressLine::new(size);
    let mut update = |counts: &Counts| {
        if let Some(line) = progress.as_mut() {
            line.update(counts);
        }
    };
    let report = arxi_verify::verify_bundle(input, trusted, options, Some(&mut update));
    if let Some(line) = &progress {
        line.finish();
    }
    Ok(report)
}

fn print_report(file: &str, report: &Report, as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else if report.is_valid() {
        let (first, last) = report.seq_range.unwrap_or_default();
        println!(
            "VALID: {file}: recorder {:?}, envelopes {first}..={last} ({} envelopes, {} seals, {} attachments, {} bytes); \
             every hash, signature, chain link, seal and the bundle signature verified",
            report.recorder_id.as_deref().unwrap_or(""),
            report.counts.envelopes,
            report.counts.seals,
            report.counts.attachments,
            report.counts.bytes
        );
    } else {
        let verdict = if report.could_not_check {
            "COULD NOT CHECK"
        } else {
            "INVALID"
        };
        let total = report.findings.len() as u64 + report.findings_dropped;
        println!("{verdict}: {file}: {total} finding(s)");
        if let Some(first) = report.first_bad() {
            println!("first bad record: {first}");
        }
        for finding in &report.findings {
            println!("  {finding}");
        }
        if report.findings_dropped > 0 {
            println!(
                "  ... and {} more finding(s) not listed",
                report.findings_dropped
            );
        }
    }
    if !as_json {
        print_payloads(&report.payloads);
    }
}

/// Most payload ranges the text report lists (`--json` has them all).
const PAYLOAD_RANGES_PRINTED: usize = 50;

/// What the bundle carries of the version 2 envelopes' payloads, when it
/// holds any: counts per state, then the runs of envelopes in one state.
fn print_payloads(payloads: &arxi_verify::PayloadStates) {
    if payloads.ranges.is_empty() {
        return;
    }
    println!(
        "payloads of version 2 envelopes: {} disclosed and matching their commitments, {} withheld, {} erased, {} unusable",
        payloads.disclosed, payloads.withheld, payloads.erased, payloads.unusable
    );
    for range in payloads.ranges.iter().take(PAYLOAD_RANGES_PRINTED) {
        let seqs = if range.first_seq == range.last_seq {
            format!("seq {}", range.first_seq)
        } else {
            format!("seq {}..={}", range.first_seq, range.last_seq)
        };
        match range.state {
            arxi_verify::PayloadState::Erased { erased_by } => {
                println!("  {seqs}: erased (recorded by seq {erased_by})");
            }
            state => println!("  {seqs}: {}", state.as_str()),
        }
    }
    let more = payloads.ranges.len().saturating_sub(PAYLOAD_RANGES_PRINTED) as u64
        + payloads.ranges_dropped;
    if more > 0 {
        println!("  ... and {more} more run(s) (--json lists them)");
    }
}

fn print_series(files: &[&str], series: &SeriesReport, as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&series.to_json(files)).unwrap_or_default()
        );
        return;
    }
    for (file, report) in files.iter().zip(&series.bundles) {
        print_report(file, report, false);
    }
    if series.findings.is_empty() {
        println!(
            "SERIES VALID: {} bundles, each continuing the one before (none proves it is the latest)",
            files.len()
        );
    } else {
        println!("SERIES INVALID: {} finding(s)", series.findings.len());
        for finding in &series.findings {
            println!(
                "  [{}] bundle {} ({}): {}; expected {}; found {}",
                finding.code.as_str(),
                finding.bundle,
                files[finding.bundle],
                finding.message,
                finding.expected,
                finding.found
            );
        }
    }
}

fn bundle_inspect(words: &[&str]) -> Result<u8, Failure> {
    let args = Args::parse(words, &[], &["--json"])?;
    let (input, _) = open_input(args.one_file()?)?;
    let summary = arxi_verify::inspect_bundle(input);
    if args.flag("--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", summary.to_text());
    }
    Ok(if summary.manifest.is_some() { 0 } else { 2 })
}

fn envelope_prove(words: &[&str]) -> Result<u8, Failure> {
    let args = Args::parse(words, &["--seq", "--out"], &[])?;
    let (input, _) = open_input(args.one_file()?)?;
    let seq: u64 = args
        .value("--seq")
        .ok_or_else(|| Failure::Usage("--seq N is required".into()))?
        .parse()
        .map_err(|_| Failure::Usage("--seq must be a sequence number".into()))?;
    let proof = arxi_verify::prove_from_bundle(input, seq)
        .map_err(|e| Failure::CouldNotCheck(e.to_string()))?;
    let mut bytes = proof.to_canonical_bytes();
    bytes.push(b'\n');
    match args.value("--out") {
        Some(path) => {
            write_new(Path::new(path), &bytes, 0o644)?;
            eprintln!(
                "arxi: wrote the inclusion proof of seq {seq} (segment {}, leaf {} of {}) to {path}",
                proof.seal.body.segment_id, proof.leaf_index, proof.tree_size
            );
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| Failure::CouldNotCheck(format!("writing the proof: {e}")))?,
    }
    Ok(0)
}

fn proof_verify(words: &[&str]) -> Result<u8, Failure> {
    let args = Args::parse(words, &[], &["--json"])?;
    let file = args.one_file()?;
    let trusted = args.trusted_keys()?;
    let (input, _) = open_input(file)?;
    let mut bytes = Vec::new();
    input
        .take(PROOF_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::CouldNotCheck(format!("{file}: {e}")))?;
    if bytes.len() as u64 > PROOF_BYTES_MAX {
        return Err(Failure::CouldNotCheck(format!(
            "{file}: larger than {PROOF_BYTES_MAX} bytes"
        )));
    }
    let report = arxi_verify::check_proof_file(&bytes, &trusted)
        .map_err(|why| Failure::CouldNotCheck(format!("{file}: {why}")))?;
    let proof = &report.proof;
    let body = &proof.envelope.body;
    if args.flag("--json") {
        let listed: Vec<serde_json::Value> = report
            .failures
            .iter()
            .map(|(code, message)| json!({"code": code.as_str(), "message": message}))
            .collect();
        let value = json!({
            "valid": report.is_valid(),
            "recorder_id": body.recorder_id,
            "segment_id": body.segment_id,
            "seq": body.seq,
            "envelope_hash": proof.envelope.hash.to_hex(),
            "merkle_root": proof.seal.body.merkle_root.to_hex(),
            "seal_hash": proof.seal.hash.to_hex(),
            "codes": report.codes().iter().map(|code| code.as_str()).collect::<Vec<_>>(),
            "failures": listed,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(u8::from(!report.is_valid()));
    }
    if report.is_valid() {
        println!(
            "VALID: envelope seq {} ({}) of recorder {:?} is leaf {} of {} under the signed seal of segment {} (root {})",
            body.seq,
            body.event_type,
            body.recorder_id,
            proof.leaf_index,
            proof.tree_size,
            body.segment_id,
            proof.seal.body.merkle_root
        );
        return Ok(0);
    }
    println!("INVALID: {file}: envelope seq {}", body.seq);
    for (code, message) in &report.failures {
        println!("  [{}] {message}", code.as_str());
    }
    Ok(1)
}

/// `arxi findings`: the registry of finding codes, as JSON (the document
/// published in `Docs/generated/arxi/format/findings.json`) or as the
/// Markdown table of `Docs/format.md`.
fn findings(words: &[&str]) -> Result<u8, Failure> {
    let args = Args::parse(words, &[], &["--markdown"])?;
    if !args.positional.is_empty() {
        return Err(Failure::Usage(
            "findings takes no positional arguments".into(),
        ));
    }
    if args.flag("--markdown") {
        print!("{}", Code::registry_markdown());
    } else {
        let text = serde_json::to_string_pretty(&Code::registry_json()).unwrap_or_default();
        println!("{text}");
    }
    Ok(0)
}

fn keygen(words: &[&str]) -> Result<u8, Failure> {
    let args = Args::parse(words, &["--secret", "--public"], &[])?;
    if !args.positional.is_empty() {
        return Err(Failure::Usage(
            "keygen takes no positional arguments".into(),
        ));
    }
    let secret_path = PathBuf::from(
        args.value("--secret")
            .ok_or_else(|| Failure::Usage("--secret FILE is required".into()))?,
    );
    let public_path = PathBuf::from(
        args.value("--public")
            .ok_or_else(|| Failure::Usage("--public FILE is required".into()))?,
    );
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Failure::CouldNotCheck(format!("no randomness from the OS: {e}")))?;
    let key = SecretKey::from_seed(&seed).map_err(|e| Failure::CouldNotCheck(e.to_string()))?;
    seed.fill(0);
    let mut secret = key.to_hex().into_bytes();
    secret.push(b'\n');
    write_new(&secret_path, &secret, 0o600)?;
    secret.fill(0);
    write_new(
        &public_path,
        format!("{}\n", key.public().to_hex()).as_bytes(),
        0o644,
    )?;
    println!("key id {}", key.id());
    println!(
        "secret key: {} (mode 0600; keep it private)",
        secret_path.display()
    );
    println!(
        "public key: {} (give it to auditors)",
        public_path.display()
    );
    Ok(0)
}

/// Creates a new file (never overwrites) with `mode`, writes and syncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |e: std::io::Error| Failure::CouldNotCheck(format!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}
