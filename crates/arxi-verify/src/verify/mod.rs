//! Bundle verification: one streaming pass over the records, every rule of
//! `Docs/format.md` §11.4, every problem reported (not just the first).
//!
//! This module reads the file and hands each record to the module of its
//! kind; each of those states its rules in its own documentation:
//!
//! - [`manifest`]: the manifest, and the manifest against the contents;
//! - [`keys`]: key records, the key in force and key events;
//! - [`delegation`]: key delegations (`D` records) and the keys they make
//!   trusted;
//! - [`envelope`]: one envelope (parse, hash, signature, recorder);
//! - [`chain`]: sequence numbers, links, receive times and segments;
//! - [`control`]: the payloads of control envelopes;
//! - [`revocation`]: key revocations and what a revoked key signed;
//! - [`attachments`]: attachment records against their references;
//! - [`payload`]: payload disclosure records (`P`) against their version 2
//!   envelopes, and erasure records against the erasure claims;
//! - [`seal`]: seal records;
//! - [`timestamp`]: timestamp records (`T`): RFC 3161 tokens over the
//!   seal before them, under the auditor's TSA certificates;
//! - [`checkpoint_stamp`]: the `arxi.log.timestamped` envelopes: tokens
//!   over checkpoints of the log tree, tied to the chain (rule TC);
//! - [`anchor`]: the witnessed anchor (`W`): a checkpoint of the log tree
//!   and the inclusion proof of the last envelope in it, under the witness
//!   policy;
//! - [`trailer`]: the end of the contents and the signed trailer;
//! - [`window`]: the trusted keys' validity windows against the records
//!   they sign.
//!
//! Memory is bounded by one record, one batch of signatures per worker,
//! the manifest, at most [`arxi_format::bundle::KEY_RECORDS_MAX`] key
//! records and the latest 65,536 envelope hashes (rule TC), whatever the
//! bundle's size. It does not judge a series of
//! bundles (see [`crate::series`]).

mod anchor;
mod attachments;
mod chain;
mod checkpoint_stamp;
mod control;
mod delegation;
mod envelope;
mod keys;
mod manifest;
mod payload;
mod revocation;
mod seal;
mod timestamp;
mod trailer;
mod window;

#[cfg(test)]
pub(crate) mod testing;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use arxi_format::bundle::{FrameError, Manifest, Tag};
use arxi_format::{Hash32, KeyId, PublicKey};

use crate::reader::{BundleReader, ReadError, Record};
use crate::report::{Code, Counts, Finding, Report};
use crate::signatures::Batcher;
use crate::window::KeyWindows;
use crate::witnessed::WitnessPolicy;

use crate::stamps::TimestampPolicy;

/// Findings kept in a report; more are only counted (their codes still
/// count toward the verdict and the code set).
pub const FINDINGS_MAX: usize = 1_000;

/// Verification settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Signatures per batch (1: each signature alone).
    pub batch_size: usize,
    /// Signature worker threads (0 or 1: all work on the caller's thread).
    pub threads: usize,
    /// The witnesses the auditor trusts and how many must have cosigned
    /// the bundle's anchor (quorum 0: no policy; the anchor is checked
    /// against the recorder key alone and a bundle without one is valid).
    pub witness: WitnessPolicy,
    /// The sequence numbers each trusted key is trusted for (a trusted key
    /// without an entry: every one; an entry for a key that is not
    /// trusted: no effect). See `Docs/format.md` §11.8.
    pub windows: KeyWindows,
    /// Keys revoked by `arxi.key.revoked` envelopes of earlier bundles of
    /// a series, with the first `seq` each is no longer valid for (the
    /// previous bundle's [`Report::revoked`]; empty for one bundle).
    pub revoked: BTreeMap<KeyId, u64>,
    /// The TSA certificates trusted and the tolerance on `genTime`
    /// (section 11.9).
    pub timestamp: TimestampPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_size: 4_096,
            threads: 1,
            witness: WitnessPolicy::default(),
            windows: KeyWindows::new(),
            revoked: BTreeMap::new(),
            timestamp: TimestampPolicy::default(),
        }
    }
}

/// Progress callback: called with the counts every so often.
pub type Progress<'a> = &'a mut dyn FnMut(&Counts);

/// Where a finding points: the record's index (0 = the manifest) and the
/// byte offset of its header, the segment and the sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct At {
    pub(crate) record: Option<u64>,
    pub(crate) offset: Option<u64>,
    pub(crate) segment_id: Option<u64>,
    pub(crate) seq: Option<u64>,
}

impl At {
    fn record(index: u64, offset: u64) -> Self {
        Self {
            record: Some(index),
            offset: Some(offset),
            ..Self::default()
        }
    }
}

/// Whether to read on after a record.
enum Flow {
    Continue,
    Stop,
}

/// The verifier's state while it reads one bundle.
pub(crate) struct Verifier<'k> {
    trusted: &'k HashMap<KeyId, PublicKey>,
    report: Report,
    manifest: Option<Manifest>,
    /// SHA-256 of the first record's payload, when it is a manifest.
    manifest_payload_hash: Option<Hash32>,
    record_index: u64,
    /// An envelope, payload disclosure, attachment or seal record has been read.
    body_started: bool,
    chain: chain::Chain,
    keys: keys::KeyState,
    key_records: keys::KeyRecords,
    delegations: delegation::Delegations,
    recent: control::Recent,
    attachments: attachments::Pending,
    payloads: payload::Payloads,
    seals: seal::Seals,
    anchor: anchor::AnchorState,
    policy: WitnessPolicy,
    windows: KeyWindows,
    revocations: revocation::Revocations,
    timestamps: timestamp::Timestamps,
    recent_hashes: checkpoint_stamp::RecentHashes,
    timestamp_policy: TimestampPolicy,
    signatures: Batcher<At>,
}

impl<'k> Verifier<'k> {
    fn new(trusted: &'k HashMap<KeyId, PublicKey>, options: &Options) -> Self {
        Self {
            trusted,
            report: Report::default(),
            manifest: None,
            manifest_payload_hash: None,
            record_index: 0,
            body_started: false,
            chain: chain::Chain::default(),
            keys: keys::KeyState::default(),
            key_records: keys::KeyRecords::default(),
            delegations: delegation::Delegations::default(),
            recent: control::Recent::default(),
            attachments: attachments::Pending::default(),
            payloads: payload::Payloads::default(),
            seals: seal::Seals::default(),
            anchor: anchor::AnchorState::default(),
            policy: options.witness.clone(),
            windows: options.windows.clone(),
            revocations: revocation::Revocations::carried(options.revoked.clone()),
            timestamps: timestamp::Timestamps::default(),
            recent_hashes: checkpoint_stamp::RecentHashes::default(),
            timestamp_policy: options.timestamp.clone(),
            signatures: Batcher::new(options.batch_size, options.threads),
        }
    }

    /// Records a finding (kept up to [`FINDINGS_MAX`], counted beyond).
    fn find(
        &mut self,
        code: Code,
        at: At,
        message: impl Into<String>,
        expected: Option<String>,
        found: Option<String>,
    ) {
        self.report.codes_found.insert(code);
        if self.report.findings.len() >= FINDINGS_MAX {
            self.report.findings_dropped += 1;
            return;
        }
        self.report.findings.push(Finding {
            code,
            record: at.record,
            offset: at.offset,
            segment_id: at.segment_id,
            seq: at.seq,
            message: message.into(),
            expected,
            found,
        });
    }

    /// A key given as trusted, or a key a trusted root delegated to.
    fn trusted_key(&self, key_id: &KeyId) -> Option<PublicKey> {
        self.trusted
            .get(key_id)
            .or_else(|| self.delegations.trusted(key_id))
            .cloned()
    }

    /// Takes in the signature results that are ready; with `wait`, first
    /// verifies everything pending and waits for all of it.
    fn take_signature_results(&mut self, wait: bool) {
        let (valid, invalid) = if wait {
            self.signatures.finish()
        } else {
            self.signatures.take_results()
        };
        self.report.counts.signatures_verified += valid;
        for at in invalid {
            self.find(
                Code::EnvelopeSignatureInvalid,
                at,
                "the signature does not verify under the envelope's key",
                None,
                None,
            );
        }
    }

    /// One record read from the file.
    fn record<R: Read>(&mut self, record: Record, reader: &mut BundleReader<R>) -> Flow {
        let at = At::record(self.record_index, reader.record_offset());
        self.record_index += 1;
        self.report.counts.records += 1;
        let tag = match &record {
            Record::Json { tag, .. } => *tag,
            Record::Attachment { .. } => Tag::Attachment,
        };
        if at.record == Some(0) && tag != Tag::Manifest {
            let message = "the first record is not the manifest";
            self.find(Code::ManifestMissing, at, message, None, None);
            self.report.could_not_check = true;
            return Flow::Stop;
        }
        self.anchor_followed_by(tag);
        self.timestamps_followed_by(tag);
        match record {
            Record::Attachment { sha256, size } => self.attachment(sha256, size, at),
            Record::Json { tag, payload } => match tag {
                Tag::Manifest => self.manifest_record(&payload, at),
                Tag::Key => self.key_record(&payload, at),
                Tag::Delegation => self.delegation_record(&payload, at),
                Tag::Envelope => self.envelope(&payload, at),
                Tag::Seal => self.seal(&payload, at),
                Tag::Payload => self.disclosure(&payload, at),
                Tag::Anchor => self.anchor_record(payload, at),
                Tag::Timestamp => self.timestamp_record(&payload, at),
                Tag::Attachment => {
                    unreachable!("the reader returns attachments as Record::Attachment")
                }
                Tag::Trailer => {
                    let digest = reader.digest_before_record();
                    self.trailer(&payload, at, digest);
                    self.after_trailer(reader);
                    return Flow::Stop;
                }
            },
        }
        Flow::Continue
    }

    /// The preamble could not be read: nothing else can be checked.
    fn preamble_failed(&mut self, error: &ReadError) {
        let code = match error {
            ReadError::Frame {
                error: FrameError::UnsupportedVersion(_),
                ..
            } => Code::UnsupportedVersion,
            _ => Code::NotABundle,
        };
        self.report.could_not_check = true;
        let found = match error {
            ReadError::Frame {
                error: FrameError::UnsupportedVersion(version),
                ..
            } => Some(version.clone()),
            _ => None,
        };
        let at = At {
            offset: Some(0),
            ..At::default()
        };
        self.find(code, at, error.to_string(), None, found);
    }

    /// Reading stopped on bad framing, a truncated record or an IO error.
    fn read_failed<R: Read>(&mut self, error: &ReadError, reader: &BundleReader<R>) {
        let at = At::record(self.record_index, reader.record_offset());
        match error {
            ReadError::Truncated { .. } => {
                self.find(Code::Truncated, at, error.to_string(), None, None);
            }
            ReadError::Io(_) => {
                self.report.could_not_check = true;
                self.find(Code::BadRecord, at, error.to_string(), None, None);
            }
            ReadError::Frame { .. } => {
                self.find(Code::BadRecord, at, error.to_string(), None, None);
            }
        }
        self.end_of_contents(at);
    }

    /// The file ended cleanly at a record boundary before the trailer.
    fn ended_before_trailer<R: Read>(&mut self, reader: &BundleReader<R>) {
        let at = At::record(self.record_index, reader.offset());
        let message = "the file ends before the signed trailer";
        self.find(Code::Truncated, at, message, None, None);
        self.end_of_contents(at);
    }
}

/// Verifies a bundle against the trusted keys. Findings come in file
/// order (by byte offset; for one record, in the order its checks run),
/// whatever the batch size or number of threads.
pub fn verify_bundle<R: Read>(
    source: R,
    trusted: &[PublicKey],
    options: &Options,
    progress: Option<Progress<'_>>,
) -> Report {
    let mut report = verify_unordered(source, trusted, options, progress);
    report
        .findings
        .sort_by_key(|finding| finding.offset.unwrap_or(u64::MAX));
    report
}

fn verify_unordered<R: Read>(
    source: R,
    trusted: &[PublicKey],
    options: &Options,
    mut progress: Option<Progress<'_>>,
) -> Report {
    let trusted: HashMap<KeyId, PublicKey> = trusted
        .iter()
        .map(|key| (key.id().clone(), key.clone()))
        .collect();
    let mut verifier = Verifier::new(&trusted, options);
    let mut reader = match BundleReader::open(source) {
        Ok(reader) => reader,
        Err(error) => {
            verifier.preamble_failed(&error);
            return verifier.report;
        }
    };
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                if let Flow::Stop = verifier.record(record, &mut reader) {
                    break;
                }
            }
            Ok(None) => {
                verifier.ended_before_trailer(&reader);
                break;
            }
            Err(error) => {
                verifier.read_failed(&error, &reader);
                break;
            }
        }
        if let Some(progress) = progress.as_mut()
            && verifier.record_index.is_multiple_of(4_096)
        {
            verifier.report.counts.bytes = reader.offset();
            progress(&verifier.report.counts);
        }
    }
    verifier.report.counts.bytes = reader.offset();
    verifier.report.revoked = std::mem::take(&mut verifier.revocations.revoked);
    verifier.report.signed_up_to = verifier.revocations.signed_up_to();
    verifier.report
}

/// The payload of a control envelope. A control envelope that parsed
/// carries its payload (`EnvelopeBody::validate` refuses one that only
/// commits), and the control rules run only for control types.
pub(crate) fn control_payload(body: &arxi_format::EnvelopeBody) -> serde_json::Value {
    body.payload
        .inline()
        .expect("a control envelope that parsed carries its payload (envelope validation)")
        .to_value()
}

/// Reads a public key given as 64 hex digits, or as the path of a file
/// holding them.
pub fn load_public_key(text_or_path: &str) -> Result<PublicKey, String> {
    let looks_hex = text_or_path.len() == 64 && text_or_path.bytes().all(|b| b.is_ascii_hexdigit());
    let text = if looks_hex {
        text_or_path.to_owned()
    } else {
        std::fs::read_to_string(text_or_path).map_err(|e| format!("{text_or_path}: {e}"))?
    };
    PublicKey::from_hex(text.trim()).map_err(|e| format!("{text_or_path}: {e}"))
}
