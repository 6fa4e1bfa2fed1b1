//! Verifying a recorder's archive from the bucket: every object under the
//! recorder's prefix is downloaded (to a temporary file, so memory stays
//! flat), its SHA-256 checked against its name, verified as a bundle
//! (`arxi_verify::verify_bundle`, against the caller's trusted keys), and
//! checked to continue the bundle before it: no gap, no overlap, the
//! chain and the seal chain unbroken from segment 1 to the last.
//!
//! The check between two bundles is [`check_consecutive`]: a stand-in for
//! the multi-bundle chain check that `arxi-verify` gains in issue 14; once
//! that is on main, this function calls it (or goes), and the findings
//! keep their codes.

use std::io::{Read, Seek, SeekFrom, Write};

use arxi_format::bundle::{Manifest, Tag};
use arxi_format::seal::Seal;
use arxi_format::{Hash32, PublicKey};
use arxi_verify::reader::{BundleReader, Record};
use arxi_verify::{Options, Report, TrustedKeys, verify_bundle};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::keys::{parse_object_name, recorder_prefix};
use crate::s3::{S3Client, S3Error};

/// What one bundle says about where it sits in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleLink {
    /// First and last segment.
    pub segments: (u64, u64),
    /// First and last sequence number.
    pub seqs: (u64, u64),
    /// The manifest's `prev_hash` (the envelope before the bundle).
    pub prev_hash: Hash32,
    /// The manifest's `prev_seal_hash` (the seal before the bundle).
    pub prev_seal_hash: Hash32,
    /// The last seal's hash.
    pub last_seal_hash: Hash32,
    /// The last envelope's hash (from the last seal).
    pub last_envelope_hash: Hash32,
}

/// A problem with the archive as a whole or with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A stable code: `foreign_object`, `sha256_mismatch`,
    /// `bundle_invalid`, `range_mismatch`, `gap`, `overlap`,
    /// `chain_broken`, `seal_chain_broken`, `archive_starts_late`,
    /// `unreadable`, `empty_archive`, `key_revoked_signature`.
    pub code: &'static str,
    /// The object concerned, if one.
    pub object_key: Option<String>,
    /// What disagrees, with the values.
    pub detail: String,
}

impl Finding {
    fn new(code: &'static str, object_key: Option<&str>, detail: String) -> Self {
        Self {
            code,
            object_key: object_key.map(str::to_owned),
            detail,
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "object_key": self.object_key, "detail": self.detail})
    }
}

/// One object checked.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    /// Its key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// Where it sits, when it could be read.
    pub link: Option<BundleLink>,
    /// The bundle verifier's report, as JSON.
    pub bundle: Option<Value>,
}

/// The whole archive checked.
#[derive(Debug, Clone, Default)]
pub struct ArchiveReport {
    /// Every object, in key (segment) order.
    pub objects: Vec<ObjectReport>,
    /// Every problem found.
    pub findings: Vec<Finding>,
}

impl ArchiveReport {
    /// True when every object verified and they chain from segment 1.
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty()
    }

    /// As JSON (the CLI's report).
    pub fn to_json(&self) -> Value {
        let last = self
            .objects
            .iter()
            .rev()
            .find_map(|object| object.link.as_ref());
        json!({
            "valid": self.is_valid(),
            "objects": self.objects.len(),
            "bytes": self.objects.iter().map(|object| object.size).sum::<u64>(),
            "last_segment": last.map(|link| link.segments.1),
            "last_seq": last.map(|link| link.seqs.1),
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "bundles": self.objects.iter().map(|object| json!({
                "key": object.key,
                "size": object.size,
                "segments": object.link.as_ref().map(|link| [link.segments.0, link.segments.1]),
                "seqs": object.link.as_ref().map(|link| [link.seqs.0, link.seqs.1]),
                "report": object.bundle,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The checks between two consecutive bundles of one recorder: `next`
/// starts right after `previous` (segments and sequence numbers), and its
/// anchors name `previous`'s last envelope and last seal. Stand-in for
/// the multi-bundle check of `arxi-verify` (issue 14).
pub fn check_consecutive(previous: &BundleLink, next: &BundleLink, key: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let expected_segment = previous.segments.1 + 1;
    if next.segments.0 > expected_segment {
        findings.push(Finding::new(
            "gap",
            Some(key),
            format!(
                "segments {expected_segment}..={} are in no object",
                next.segments.0 - 1
            ),
        ));
        return findings;
    }
    if next.segments.0 < expected_segment {
        findings.push(Finding::new(
            "overlap",
            Some(key),
            format!(
                "starts at segment {}, the object before ends at segment {}",
                next.segments.0, previous.segments.1
            ),
        ));
        return findings;
    }
    if next.seqs.0 != previous.seqs.1 + 1 {
        findings.push(Finding::new(
            "gap",
            Some(key),
            format!(
                "starts at seq {}, the object before ends at seq {}",
                next.seqs.0, previous.seqs.1
            ),
        ));
    }
    if next.prev_hash != previous.last_envelope_hash {
        findings.push(Finding::new(
            "chain_broken",
            Some(key),
            format!(
                "prev_hash {} is not the last envelope before it ({})",
                next.prev_hash, previous.last_envelope_hash
            ),
        ));
    }
    if next.prev_seal_hash != previous.last_seal_hash {
        findings.push(Finding::new(
            "seal_chain_broken",
            Some(key),
            format!(
                "prev_seal_hash {} is not the last seal before it ({})",
                next.prev_seal_hash, previous.last_seal_hash
            ),
        ));
    }
    findings
}

/// Verifies every archived bundle of `recorder_id` under `key_prefix`,
/// in segment order, trusting each key of `trusted` only within its
/// window, if it has one (`key_outside_window`, `Docs/format.md` §11.8).
/// Revocations carry forward as in a series of bundles: each object is
/// verified knowing the keys revoked in the objects before it, and what a
/// key signed past its `from_seq` in an object before its revocation is
/// `key_revoked_signature`. `progress(done, total)` is called after each
/// object. An error means the bucket could not be listed at all;
/// everything else is a finding.
pub fn verify_archive(
    client: &S3Client,
    key_prefix: &str,
    recorder_id: &str,
    trusted: &TrustedKeys,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ArchiveReport, S3Error> {
    let prefix = recorder_prefix(key_prefix, recorder_id);
    let listed = client.list_all(&prefix)?;
    let mut report = ArchiveReport::default();
    let mut previous: Option<BundleLink> = None;
    let mut options = Options {
        windows: trusted.windows.clone(),
        ..Options::default()
    };
    // What each verified object says about keys (revocations met, the
    // highest seq each key signed), for the revocations of later objects,
    // and the object each is of.
    let (mut key_reports, mut key_objects) = (Vec::new(), Vec::new());
    for (index, object) in listed.iter().enumerate() {
        let file_name = &object.key[prefix.len()..];
        let Some(name) = parse_object_name(file_name) else {
            report.findings.push(Finding::new(
                "foreign_object",
                Some(&object.key),
                "not an archived bundle's name".into(),
            ));
            progress(index + 1, listed.len());
            continue;
        };
        let (object_report, findings, keys) = check_object(
            client,
            &object.key,
            object.size,
            &name,
            &trusted.keys,
            &options,
        );
        report.findings.extend(findings);
        if let Some(keys) = keys {
            options.revoked.clone_from(&keys.revoked);
            key_reports.push(keys);
            key_objects.push(object.key.as_str());
        }
        if let Some(link) = &object_report.link {
            report
                .findings
                .extend(check_link(&mut previous, link, &object.key));
        }
        report.objects.push(object_report);
        progress(index + 1, listed.len());
    }
    if listed.is_empty() {
        report.findings.push(Finding::new(
            "empty_archive",
            None,
            format!("no object under {prefix}"),
        ));
    }
    report
        .findings
        .extend(revoked_in_later_objects(&key_reports, &key_objects));
    Ok(report)
}

/// The object of `link` against the one before it (`previous`, which
/// becomes this one when it reaches further).
fn check_link(previous: &mut Option<BundleLink>, link: &BundleLink, key: &str) -> Vec<Finding> {
    let findings = match previous.as_ref() {
        None if link.segments.0 != 1 => vec![Finding::new(
            "archive_starts_late",
            Some(key),
            format!("the first object starts at segment {}", link.segments.0),
        )],
        None => Vec::new(),
        Some(before) => check_consecutive(before, link, key),
    };
    if previous
        .as_ref()
        .is_none_or(|before| link.segments.1 > before.segments.1)
    {
        *previous = Some(link.clone());
    }
    findings
}

/// `key_revoked_signature` for what a key signed, from its `from_seq` on,
/// in objects verified before the object that revoked it (the objects
/// after it were verified knowing the revocation).
fn revoked_in_later_objects(key_reports: &[Report], objects: &[&str]) -> Vec<Finding> {
    arxi_verify::revoked_earlier(key_reports)
        .into_iter()
        .map(|finding| {
            Finding::new(
                finding.code.as_str(),
                Some(objects[finding.bundle]),
                finding.message,
            )
        })
        .collect()
}

/// One archived bundle of a recorder, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBundle {
    /// Its key.
    pub key: String,
    /// What its name says.
    pub name: crate::keys::ObjectName,
    /// Bytes.
    pub size: u64,
}

/// The archived bundles of `recorder_id` under `key_prefix`, in segment
/// order (objects whose names are not bundle names left out).
pub fn list_bundles(
    client: &S3Client,
    key_prefix: &str,
    recorder_id: &str,
) -> Result<Vec<ListedBundle>, S3Error> {
    let prefix = recorder_prefix(key_prefix, recorder_id);
    let mut bundles: Vec<ListedBundle> = client
        .list_all(&prefix)?
        .into_iter()
        .filter_map(|object| {
            let name = parse_object_name(&object.key[prefix.len()..])?;
            Some(ListedBundle {
                key: object.key,
                name,
                size: object.size,
            })
        })
        .collect();
    bundles.sort_by_key(|bundle| (bundle.name.first_segment, bundle.name.last_segment));
    Ok(bundles)
}

/// Downloads one archived bundle to a temporary file (memory stays
/// flat), checks its SHA-256 against its name and verifies it under
/// `trusted`; returns the file, at its start, or why not.
pub fn fetch_verified(
    client: &S3Client,
    bundle: &ListedBundle,
    trusted: &[PublicKey],
) -> Result<std::fs::File, String> {
    let (mut file, sha256) = download(client, &bundle.key)?;
    if sha256 != bundle.name.sha256 {
        return Err(format!(
            "{}: its SHA-256 is {sha256}, its name says {}",
            bundle.key, bundle.name.sha256
        ));
    }
    let verified = verify_bundle(&mut file, trusted, &Options::default(), None);
    if !verified.is_valid() {
        return Err(format!(
            "{} does not verify: codes {}",
            bundle.key,
            code_list(&verified)
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|error| format!("temporary file: {error}"))?;
    Ok(file)
}

/// Downloads, hashes and verifies one object under `options`; with the
/// report, what the bundle said about keys (revocations, the highest seq
/// each key signed) when it could be verified.
fn check_object(
    client: &S3Client,
    key: &str,
    size: u64,
    name: &crate::keys::ObjectName,
    trusted: &[PublicKey],
    options: &Options,
) -> (ObjectReport, Vec<Finding>, Option<Report>) {
    let mut report = ObjectReport {
        key: key.to_owned(),
        size,
        link: None,
        bundle: None,
    };
    let mut findings = Vec::new();
    let mut file = match download(client, key) {
        Ok((file, sha256)) if sha256 == name.sha256 => file,
        Ok((_, sha256)) => {
            findings.push(Finding::new(
                "sha256_mismatch",
                Some(key),
                format!(
                    "the object's SHA-256 is {sha256}, its name says {}",
                    name.sha256
                ),
            ));
            return (report, findings, None);
        }
        Err(error) => {
            findings.push(Finding::new("unreadable", Some(key), error));
            return (report, findings, None);
        }
    };
    let verified = verify_bundle(&mut file, trusted, options, None);
    let keys = (!verified.could_not_check).then(|| Report {
        revoked: verified.revoked.clone(),
        signed_up_to: verified.signed_up_to.clone(),
        ..Report::default()
    });
    if !verified.is_valid() {
        findings.push(Finding::new(
            "bundle_invalid",
            Some(key),
            format!("codes {}", code_list(&verified)),
        ));
    }
    report.bundle = Some(verified.to_json());
    match file
        .seek(SeekFrom::Start(0))
        .map_err(|e| e.to_string())
        .and_then(|_| read_link(file))
    {
        Ok(link) => {
            if link.segments != (name.first_segment, name.last_segment) {
                findings.push(Finding::new(
                    "range_mismatch",
                    Some(key),
                    format!(
                        "holds segments {}..={}, its name says {}..={}",
                        link.segments.0, link.segments.1, name.first_segment, name.last_segment
                    ),
                ));
            }
            report.link = Some(link);
        }
        Err(error) => findings.push(Finding::new("unreadable", Some(key), error)),
    }
    (report, findings, keys)
}

/// A bundle report's codes as the format names them, comma-separated.
fn code_list(report: &Report) -> String {
    let codes: Vec<&str> = report.codes().iter().map(|code| code.as_str()).collect();
    codes.join(", ")
}

/// Copies an object to a temporary file, hashing it on the way.
fn download(client: &S3Client, key: &str) -> Result<(std::fs::File, Hash32), String> {
    let mut source = client.get_object(key).map_err(|e| e.to_string())?;
    let mut file = anonymous_file().map_err(|e| format!("temporary file: {e}"))?;
    let mut digest = Sha256::new();
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let read = source
            .read(&mut buffer)
            .map_err(|e| format!("download: {e}"))?;
        if read == 0 {
            break;
        }
        digest.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .map_err(|e| format!("temporary file: {e}"))?;
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| format!("temporary file: {e}"))?;
    Ok((file, Hash32(digest.finalize().into())))
}

/// A file in the temporary directory that has no name any more: it goes
/// when it is closed, whatever happens to the process.
fn anonymous_file() -> std::io::Result<std::fs::File> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        ".arxi-archive-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Reads the manifest and the last seal of a bundle (one record in
/// memory at a time).
fn read_link(file: std::fs::File) -> Result<BundleLink, String> {
    let mut reader =
        BundleReader::open(std::io::BufReader::new(file)).map_err(|e| format!("{e:?}"))?;
    let mut manifest: Option<Manifest> = None;
    let mut last_seal: Option<Seal> = None;
    while let Some(record) = reader.next_record().map_err(|e| format!("{e:?}"))? {
        match record {
            Record::Json {
                tag: Tag::Manifest,
                payload,
            } => manifest = Some(Manifest::parse(&payload).map_err(|e| e.to_string())?),
            Record::Json {
                tag: Tag::Seal,
                payload,
            } => last_seal = Some(Seal::parse(&payload).map_err(|e| e.to_string())?),
            _ => {}
        }
    }
    let manifest = manifest.ok_or("no manifest")?;
    let seal = last_seal.ok_or("no seal")?;
    let first_segment = manifest
        .segments
        .first()
        .map(|segment| segment.segment_id)
        .ok_or("the manifest lists no segment")?;
    Ok(BundleLink {
        segments: (first_segment, seal.body.segment_id),
        seqs: (manifest.first_seq, manifest.last_seq),
        prev_hash: manifest.prev_hash,
        prev_seal_hash: manifest.prev_seal_hash,
        last_seal_hash: seal.hash,
        last_envelope_hash: seal.body.last_envelope_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(first: u64, last: u64, prev: u8, tail: u8) -> BundleLink {
        BundleLink {
            segments: (first, last),
            seqs: (first * 10, last * 10 + 9),
            prev_hash: Hash32([prev; 32]),
            prev_seal_hash: Hash32([prev + 100; 32]),
            last_seal_hash: Hash32([tail + 100; 32]),
            last_envelope_hash: Hash32([tail; 32]),
        }
    }

    fn codes(previous: &BundleLink, next: &BundleLink) -> Vec<&'static str> {
        check_consecutive(previous, next, "k")
            .into_iter()
            .map(|finding| finding.code)
            .collect()
    }

    #[test]
    fn consecutive_bundles_chain_with_no_gap_or_overlap() {
        let first = link(1, 2, 0, 7);
        assert!(codes(&first, &link(3, 3, 7, 8)).is_empty());
        assert_eq!(codes(&first, &link(4, 4, 7, 8)), ["gap"]);
        assert_eq!(codes(&first, &link(2, 3, 7, 8)), ["overlap"]);
        assert_eq!(
            codes(&first, &link(3, 3, 6, 8)),
            ["chain_broken", "seal_chain_broken"]
        );
        let mut shifted = link(3, 3, 7, 8);
        shifted.seqs.0 += 1;
        assert_eq!(codes(&first, &shifted), ["gap"]);
    }
}
