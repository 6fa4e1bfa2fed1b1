//! The operator's `backup` and `verify-data` subcommands.
//!
//! Both go through the recorder (`arxi_recorder::backup_database`,
//! `arxi_recorder::verify_data`): the sidecar never names the store. Both
//! run beside a live sidecar: the backup is SQLite's online backup in one
//! read snapshot, the check reads one snapshot read-only. Each returns the
//! process exit code and prints one line per fact, for people and scripts.
//!
//! Exit codes: `backup` 0 written, 1 failed; `verify-data` (as the `arxi`
//! verifier) 0 valid, 1 invalid (every bad record listed, or a database
//! behind its signed head), 2 could not check.

use std::path::Path;

use arxi_recorder::{DataReport, HeadFinding, OpenError};

/// `backup --to FILE`: copies `database` into the new file `destination`.
pub fn backup(database: &Path, destination: &Path) -> u8 {
    match arxi_recorder::backup_database(database, destination) {
        Ok(stats) => {
            println!(
                "backup of {} written to {} ({} pages, {} bytes); check it with: arxi-sidecar verify-data --database {}",
                database.display(),
                destination.display(),
                stats.pages,
                stats.bytes,
                destination.display()
            );
            0
        }
        Err(error) => {
            eprintln!("arxi-sidecar: backup failed: {error}");
            1
        }
    }
}

/// `verify-data`: checks `database` end to end; compares it with its signed
/// head when `check_head`.
pub fn verify_data(database: &Path, check_head: bool) -> u8 {
    match arxi_recorder::verify_data(database, check_head) {
        Ok(report) => print_report(database, &report),
        Err(error @ (OpenError::EnvelopeInvalid { .. } | OpenError::SealInvalid { .. })) => {
            println!("invalid: {}: {error}", database.display());
            1
        }
        Err(OpenError::Inconsistent(problem)) => {
            println!("invalid: {}: rows disagree: {problem}", database.display());
            1
        }
        Err(error) => {
            eprintln!(
                "arxi-sidecar: could not check {}: {error}",
                database.display()
            );
            2
        }
    }
}

fn print_report(database: &Path, report: &DataReport) -> u8 {
    println!(
        "checked {}: {} envelopes verified (hash, signature, chain link, receive time), {} seals verified (hash, signature, Merkle root, seal chain)",
        database.display(),
        report.envelopes,
        report.seals
    );
    for finding in &report.findings {
        println!("finding: {finding}");
    }
    if report.findings_dropped > 0 {
        println!("finding: {} more not listed", report.findings_dropped);
    }
    println!(
        "not checked: a global Merkle tree over all segments (arxi has none yet; segments are bound by the seal chain)"
    );
    match &report.head {
        HeadFinding::NotChecked => {
            println!("signed head: not compared (a copy checked on its own)");
        }
        HeadFinding::Absent => println!("signed head: none beside the database"),
        HeadFinding::Reached => println!("signed head: reached"),
        HeadFinding::Behind(rollback) => {
            println!("signed head: {rollback}");
            println!("finding: the database is behind its signed head");
        }
    }
    if report.is_valid() {
        println!("valid");
        0
    } else {
        println!("invalid");
        1
    }
}
