//! `arxi bundle verify` (one bundle or a series) and `arxi bundle inspect`:
//! the report as text for people or JSON for machines.

use arxi_format::PublicKey;
use arxi_verify::{Counts, Options, Report, SeriesReport};

use super::{CouldNotCheck, ProgressLine, open_input, pretty, trusted_keys};

/// How `bundle verify` runs and prints.
#[derive(Debug)]
pub(crate) struct VerifyOutput {
    pub(crate) json: bool,
    pub(crate) no_batch: bool,
    /// Signature threads (`None`: one per CPU).
    pub(crate) threads: Option<u16>,
    /// `--witness`: the trusted witnesses' verifier keys (or files).
    pub(crate) witnesses: Vec<String>,
    /// `--quorum` (default: every `--witness`).
    pub(crate) quorum: Option<usize>,
    /// `--tsa-cert`: the trusted TSA certificate files.
    pub(crate) tsa_certs: Vec<std::path::PathBuf>,
    /// `--timestamp-tolerance`, in seconds.
    pub(crate) timestamp_tolerance: u64,
    /// `--require-timestamp`.
    pub(crate) require_timestamp: bool,
}

/// `arxi bundle verify FILE... --key PUBKEY... [--witness VKEY... --quorum N]
/// [--tsa-cert FILE... --timestamp-tolerance S --require-timestamp]`.
pub(crate) fn verify(
    files: &[String],
    keys: &crate::TrustedKeys,
    output: &VerifyOutput,
) -> Result<u8, CouldNotCheck> {
    if files.iter().filter(|file| *file == "-").count() > 1 {
        return Err(CouldNotCheck("standard input (-) can be read once".into()));
    }
    let trusted = trusted_keys(keys)?;
    let witness = super::witnessed::witness_policy(&output.witnesses, output.quorum)?;
    let threads = match output.threads {
        Some(threads) => usize::from(threads),
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut options = Options {
        batch_size: if output.no_batch {
            1
        } else {
            Options::default().batch_size
        },
        threads,
        witness,
        windows: trusted.windows,
        revoked: std::collections::BTreeMap::new(),
        timestamp: super::timestamp_policy(
            &output.tsa_certs,
            output.timestamp_tolerance,
            output.require_timestamp,
        )?,
    };
    let mut reports = Vec::new();
    for file in files {
        let report = verify_one(file, &trusted.keys, &options)?;
        // Revocations carry on to the next bundle of the series.
        options.revoked.clone_from(&report.revoked);
        reports.push(report);
    }
    if let [report] = reports.as_slice() {
        print_report(&files[0], report, output.json);
        return Ok(report.exit_code());
    }
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let series = SeriesReport::new(reports);
    print_series(&names, &series, output.json);
    Ok(series.exit_code())
}

/// Verifies one file with a progress line on a terminal.
pub(crate) fn verify_one(
    file: &str,
    trusted: &[PublicKey],
    options: &Options,
) -> Result<Report, CouldNotCheck> {
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

pub(crate) fn print_report(file: &str, report: &Report, as_json: bool) {
    if as_json {
        println!("{}", pretty(&report.to_json()));
    } else if report.is_valid() {
        let range = match report.seq_range {
            Some((first, last)) => format!("envelopes {first}..={last}"),
            None => "no envelopes".to_owned(),
        };
        println!(
            "VALID: {file}: recorder {:?}, {range} ({} envelopes, {} seals, {} attachments, {} bytes); \
             every hash, signature, chain link, seal and the bundle signature verified",
            report.recorder_id.as_deref().unwrap_or(""),
            report.counts.envelopes,
            report.counts.seals,
            report.counts.attachments,
            report.counts.bytes
        );
    } else {
        print_findings(file, report);
    }
    if !as_json {
        print_payloads(&report.payloads);
        print_anchor(report);
        print_timestamps(report);
    }
}

/// The timestamp tokens read (`Docs/format.md` §11.9): how many, how many
/// from trusted TSAs, their genTime range and signers.
fn print_timestamps(report: &Report) {
    let tokens = &report.timestamps;
    if tokens.is_empty() {
        return;
    }
    let trusted = tokens.iter().filter(|token| token.trusted).count();
    let held = tokens.iter().filter(|token| token.holds).count();
    let times: Vec<_> = tokens.iter().filter_map(|token| token.gen_time).collect();
    let span = match (times.iter().min(), times.iter().max()) {
        (Some(first), Some(last)) => format!(", genTime {first} to {last}"),
        _ => String::new(),
    };
    let mut signers: Vec<&str> = tokens.iter().filter_map(|t| t.signer.as_deref()).collect();
    signers.sort_unstable();
    signers.dedup();
    let trust = if trusted == 0 && held == tokens.len() {
        " (no --tsa-cert given: not judged on trust)".to_owned()
    } else {
        format!(", {trusted} from trusted TSAs")
    };
    println!(
        "timestamps: {} token(s), {held} holding every rule{trust}{span}; signers: {}",
        tokens.len(),
        if signers.is_empty() {
            "-".to_owned()
        } else {
            signers.join("; ")
        }
    );
}

/// Whether the bundle is anchored, to which checkpoint, and by whom
/// cosigned (`Docs/format.md` §11.7, §14.6).
fn print_anchor(report: &Report) {
    let Some(anchor) = &report.anchor else {
        println!(
            "anchor: none (the bundle carries no witnessed checkpoint; the key holder alone vouches for it)"
        );
        return;
    };
    let state = if anchor.holds {
        "anchored"
    } else {
        "anchor does not hold"
    };
    let witnesses = if anchor.quorum == 0 {
        format!(
            "no witness policy given: the key holder alone vouches for this tree ({} signature line(s) on the checkpoint, cosignatures not checked)",
            anchor.signature_lines
        )
    } else {
        let names: Vec<String> = anchor
            .witnesses
            .iter()
            .map(|(name, time)| format!("{name} at {time}"))
            .collect();
        format!(
            "cosigned by {} of the trusted witnesses ({} needed){}{}",
            anchor.witnesses.len(),
            anchor.quorum,
            if names.is_empty() { "" } else { ": " },
            names.join(", ")
        )
    };
    println!(
        "{state}: envelope seq {} is leaf {} of the log tree of {} envelopes (origin {}, root {}); {witnesses}",
        anchor.leaf_index + 1,
        anchor.leaf_index,
        anchor.tree_size,
        anchor.origin,
        anchor.root.to_hex()
    );
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

fn print_findings(file: &str, report: &Report) {
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

fn print_series(files: &[&str], series: &SeriesReport, as_json: bool) {
    if as_json {
        println!("{}", pretty(&series.to_json(files)));
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

/// `arxi bundle inspect FILE`: exit 0 when a manifest was read, else 2.
pub(crate) fn inspect(file: &str, json: bool) -> Result<u8, CouldNotCheck> {
    let (input, _) = open_input(file)?;
    let summary = arxi_verify::inspect_bundle(input);
    if json {
        println!("{}", pretty(&summary.to_json()));
    } else {
        print!("{}", summary.to_text());
    }
    Ok(if summary.manifest.is_some() { 0 } else { 2 })
}
