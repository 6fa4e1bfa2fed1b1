//! `arxi bundle export FILE --out DIR --key PUBKEY...`: the evidence of a
//! bundle in plain files an auditor's tools read.
//!
//! The bundle is verified first; an invalid one is refused unless
//! `--force`. Then a second pass writes, into a staging directory beside
//! `DIR`:
//!
//! - `envelopes.jsonl`: every envelope record, one per line, byte for byte
//!   as the bundle holds it (canonical JSON has no line breaks);
//! - `seals.jsonl`: every seal record, likewise;
//! - `payloads.jsonl`: every payload record of a version 2 container (the
//!   disclosed, withheld or erased payload of the envelope before it),
//!   likewise (empty for a version 1 bundle);
//! - `manifest.json`: the manifest record;
//! - `attachments/<sha256>`: every attachment's bytes, named by their
//!   SHA-256 (the name envelopes reference them by);
//! - `report.json`: the verification report the export was made under.
//!
//! Both passes hash the whole file; if the digests differ the file changed
//! in between and nothing is published. Otherwise the staging directory is
//! renamed to `DIR` (which must not exist, or be empty). It does not write
//! a record it could not read, and it does not rewrite any record.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use arxi_format::bundle::Tag;
use arxi_verify::reader::{BundleReader, Record};
use arxi_verify::{Options, Report};
use sha2::{Digest as _, Sha256};

use super::{CouldNotCheck, open_file, pretty, trusted_keys};

/// A reader that hashes everything read through it.
struct Hashing<R> {
    inner: R,
    digest: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.digest.update(&buffer[..read]);
        Ok(read)
    }
}

/// What the second pass wrote.
#[derive(Debug, Default)]
struct Written {
    envelopes: u64,
    seals: u64,
    payloads: u64,
    attachments: u64,
    /// Records left out because their bytes hold a line break (only an
    /// invalid bundle, exported with `--force`, has such records).
    skipped: u64,
}

/// `arxi bundle export`.
pub(crate) fn export(
    file: &Path,
    out: &Path,
    keys: &crate::TrustedKeys,
    force: bool,
) -> Result<u8, CouldNotCheck> {
    let trusted = trusted_keys(keys)?;
    check_target(out)?;
    let (input, _) = open_file(file)?;
    let mut hashing = Hashing {
        inner: input,
        digest: Sha256::new(),
    };
    let options = Options {
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        windows: trusted.windows,
        ..Options::default()
    };
    let report = arxi_verify::verify_bundle(&mut hashing, &trusted.keys, &options, None);
    // The verifier may stop early (a framing error): the rest still counts.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| CouldNotCheck(format!("{}: {e}", file.display())))?;
    let verified_digest: [u8; 32] = hashing.digest.finalize().into();
    if !report.is_valid() && !force {
        super::bundle::print_report(&file.display().to_string(), &report, false);
        eprintln!(
            "arxi: refusing to export from a bundle that does not verify; --force exports what can be read, with the report"
        );
        return Ok(report.exit_code());
    }
    let staging = staging_dir(out)?;
    let result = write_export(file, &staging, &report, verified_digest);
    match result {
        Ok(written) => {
            publish(&staging, out)?;
            print_summary(out, &report, &written);
            Ok(report.exit_code())
        }
        Err(error) => {
            // The staging directory is ours alone; nothing else is in it.
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

/// `DIR` must not exist, or be an empty directory.
fn check_target(out: &Path) -> Result<(), CouldNotCheck> {
    match std::fs::read_dir(out) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(CouldNotCheck(format!("{}: {error}", out.display()))),
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(CouldNotCheck(format!(
                "{}: not empty; export into a new or empty directory",
                out.display()
            ))),
        },
    }
}

fn staging_dir(out: &Path) -> Result<PathBuf, CouldNotCheck> {
    let name = out
        .file_name()
        .ok_or_else(|| CouldNotCheck(format!("{}: not a directory name", out.display())))?;
    let mut staging_name = std::ffi::OsString::from(".");
    staging_name.push(name);
    staging_name.push(format!(".export-{}", std::process::id()));
    let staging = out.with_file_name(staging_name);
    std::fs::create_dir_all(staging.join("attachments"))
        .map_err(|e| CouldNotCheck(format!("{}: {e}", staging.display())))?;
    Ok(staging)
}

/// Renames the staging directory to `out` (over an empty directory, which
/// rename(2) allows).
fn publish(staging: &Path, out: &Path) -> Result<(), CouldNotCheck> {
    std::fs::rename(staging, out).map_err(|e| {
        CouldNotCheck(format!(
            "moving {} to {}: {e}",
            staging.display(),
            out.display()
        ))
    })
}

fn create(path: &Path) -> Result<BufWriter<File>, CouldNotCheck> {
    File::create_new(path)
        .map(BufWriter::new)
        .map_err(|e| CouldNotCheck(format!("{}: {e}", path.display())))
}

/// The second pass: reads the file again and writes every record out.
fn write_export(
    file: &Path,
    staging: &Path,
    report: &Report,
    verified_digest: [u8; 32],
) -> Result<Written, CouldNotCheck> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| CouldNotCheck(format!("{path}: {e}"))
    };
    let (input, _) = open_file(file)?;
    let mut hashing = Hashing {
        inner: input,
        digest: Sha256::new(),
    };
    let mut outputs = Outputs {
        envelopes: create(&staging.join("envelopes.jsonl"))?,
        seals: create(&staging.join("seals.jsonl"))?,
        payloads: create(&staging.join("payloads.jsonl"))?,
        staging: staging.to_owned(),
        written: Written::default(),
    };
    // A bundle too broken to open still gets its report (with --force).
    if let Ok(mut reader) = BundleReader::open(&mut hashing) {
        outputs.copy_records(&mut reader)?;
    }
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io(file))?;
    let digest: [u8; 32] = hashing.digest.finalize().into();
    if digest != verified_digest {
        return Err(CouldNotCheck(format!(
            "{}: the file changed between verifying and exporting it; nothing was exported",
            file.display()
        )));
    }
    let Outputs {
        mut envelopes,
        mut seals,
        mut payloads,
        written,
        ..
    } = outputs;
    envelopes.flush().map_err(io(staging))?;
    seals.flush().map_err(io(staging))?;
    payloads.flush().map_err(io(staging))?;
    let report_path = staging.join("report.json");
    let mut report_file = create(&report_path)?;
    writeln!(report_file, "{}", pretty(&report.to_json())).map_err(io(&report_path))?;
    report_file.flush().map_err(io(&report_path))?;
    Ok(written)
}

/// Where the second pass writes.
struct Outputs {
    envelopes: BufWriter<File>,
    seals: BufWriter<File>,
    payloads: BufWriter<File>,
    staging: PathBuf,
    written: Written,
}

impl Outputs {
    fn copy_records<R: Read>(&mut self, reader: &mut BundleReader<R>) -> Result<(), CouldNotCheck> {
        let partial = self.staging.join("attachments").join(".partial");
        let fail = |e: std::io::Error| CouldNotCheck(format!("{}: {e}", partial.display()));
        // Only an attachment record writes to it; it is renamed after one.
        let mut attachment = create(&partial)?;
        // Where reading stops (the end, or a framing error), the export
        // stops; the report says why.
        while let Ok(Some(record)) = reader.next_record_copying(&mut attachment) {
            match record {
                Record::Attachment { sha256, .. } => {
                    attachment.flush().map_err(fail)?;
                    let name = self.staging.join("attachments").join(sha256.to_hex());
                    std::fs::rename(&partial, &name)
                        .map_err(|e| CouldNotCheck(format!("{}: {e}", name.display())))?;
                    attachment = create(&partial)?;
                    self.written.attachments += 1;
                }
                Record::Json { tag, payload } => self.json_record(tag, &payload)?,
            }
        }
        drop(attachment);
        std::fs::remove_file(&partial).map_err(fail)
    }

    fn json_record(&mut self, tag: Tag, payload: &[u8]) -> Result<(), CouldNotCheck> {
        let (out, count) = match tag {
            Tag::Envelope => (&mut self.envelopes, &mut self.written.envelopes),
            Tag::Seal => (&mut self.seals, &mut self.written.seals),
            Tag::Payload => (&mut self.payloads, &mut self.written.payloads),
            Tag::Manifest => {
                let path = self.staging.join("manifest.json");
                let mut file = create(&path)?;
                return file
                    .write_all(payload)
                    .and_then(|()| file.write_all(b"\n"))
                    .and_then(|()| file.flush())
                    .map_err(|e| CouldNotCheck(format!("{}: {e}", path.display())));
            }
            Tag::Key
            | Tag::Delegation
            | Tag::Trailer
            | Tag::Attachment
            | Tag::Anchor
            | Tag::Timestamp => {
                return Ok(());
            }
        };
        if payload.contains(&b'\n') {
            self.written.skipped += 1;
            return Ok(());
        }
        out.write_all(payload)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| CouldNotCheck(format!("{}: {e}", self.staging.display())))?;
        *count += 1;
        Ok(())
    }
}

fn print_summary(out: &Path, report: &Report, written: &Written) {
    let verdict = if report.is_valid() {
        "verified"
    } else {
        "NOT VALID (exported with --force; see report.json)"
    };
    println!(
        "exported {} envelopes, {} seals, {} payload records and {} attachment records into {} ({verdict})",
        written.envelopes,
        written.seals,
        written.payloads,
        written.attachments,
        out.display()
    );
    if written.skipped > 0 {
        println!(
            "left out {} record(s) whose bytes hold a line break (not canonical JSON)",
            written.skipped
        );
    }
}
