//! Bundle verification: one streaming pass over the records, every check of
//! R-BN-2, every problem reported (not just the first).
//!
//! The checks, in the order a record meets them:
//!
//! - framing: preamble and version, record headers, the manifest first,
//!   the trailer last and nothing after it;
//! - each envelope: parses, is canonical, its hash recomputes, its signature
//!   verifies under a trusted key that is the recorder's key in force at that
//!   point of the chain (the key of the latest `arxi.key.loaded` or
//!   `arxi.key.changed` envelope);
//! - the chain: gapless sequence numbers, each `prev_hash` naming the
//!   envelope before, anchored at the manifest's `prev_hash`; receive times
//!   never decrease;
//! - segments: each starts with `arxi.segment.opened` naming the previous
//!   seal and ends with `arxi.segment.sealed`, then its seal; segment ids are
//!   consecutive; every envelope names its segment;
//! - attachments: the bytes following an envelope match its references;
//! - seals: canonical, hash, trusted key in force, signature, range and
//!   count, the RFC 6962 root over the segment's envelope hashes, the last
//!   envelope hash, and the seal chain anchored at the manifest;
//! - the manifest against everything seen; the trailer's manifest hash,
//!   content digest and signature.

use std::collections::HashMap;
use std::io::Read;

use arxi_format::bundle::{KeyRecord, Manifest, Tag, Trailer};
use arxi_format::envelope::Envelope;
use arxi_format::merkle::RootBuilder;
use arxi_format::seal::{Seal, envelope_leaf};
use arxi_format::{Domain, Hash32, KeyId, PublicKey};

use crate::reader::{BundleReader, ReadError, Record};
use crate::report::{Code, Counts, Finding, Report};
use crate::signatures::Batcher;

/// Findings kept in a report; more are only counted.
pub const FINDINGS_MAX: usize = 1_000;

/// Verification settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Signatures per batch (1: `verify_strict` one by one).
    pub batch_size: usize,
    /// Signature worker threads (0 or 1: all work on the caller's thread).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_size: 4_096,
            threads: 1,
        }
    }
}

/// Progress callback: called with the counts every so often.
pub type Progress<'a> = &'a mut dyn FnMut(&Counts);

/// Where a finding points.
#[derive(Debug, Clone, Copy, Default)]
struct At {
    record: Option<u64>,
    offset: Option<u64>,
    segment_id: Option<u64>,
    seq: Option<u64>,
}

/// The segment being read.
#[derive(Debug)]
struct OpenSegment {
    segment_id: u64,
    first_seq: u64,
    count: u64,
    root: RootBuilder,
    last_hash: Hash32,
    last_type: String,
}

struct Verifier<'k> {
    trusted: &'k HashMap<KeyId, PublicKey>,
    report: Report,
    manifest: Option<Manifest>,
    /// The last envelope accepted into the chain: (seq, hash).
    head: Option<(u64, Hash32)>,
    last_received_at: Option<arxi_format::Timestamp>,
    key_in_force: Option<KeyId>,
    /// A key finding on an `arxi.segment.opened`, held for one envelope.
    held_key_finding: Option<(At, String, String)>,
    /// Envelopes read so far, counting this one (for the key rules).
    envelopes_in_chain: u64,
    first_was_segment_opened: bool,
    segment: Option<OpenSegment>,
    /// Segments sealed so far, in order: (segment id, seal hash).
    sealed: Vec<(u64, Hash32)>,
    last_seal_hash: Hash32,
    pending_attachments: std::collections::VecDeque<arxi_format::AttachmentRef>,
    pending_for: At,
    signatures: Batcher<At>,
    record_index: u64,
    keys_seen: Vec<KeyId>,
}

impl Verifier<'_> {
    fn find(
        &mut self,
        code: Code,
        at: At,
        message: impl Into<String>,
        expected: Option<String>,
        found: Option<String>,
    ) {
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

    /// Takes in the signature results that are ready; with `wait`, first
    /// verifies everything pending and waits for all of it.
    fn flush_signatures_inner(&mut self, wait: bool) {
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

    fn settle_attachments(&mut self) {
        if !self.pending_attachments.is_empty() {
            let at = self.pending_for;
            let missing: Vec<String> = self
                .pending_attachments
                .drain(..)
                .map(|reference| format!("{} ({})", reference.name, reference.sha256))
                .collect();
            self.find(
                Code::AttachmentMissing,
                at,
                format!("{} referenced attachment(s) missing", missing.len()),
                Some(missing.join(", ")),
                None,
            );
        }
    }

    fn trusted_key(&self, key_id: &KeyId) -> Option<PublicKey> {
        self.trusted.get(key_id).cloned()
    }

    fn envelope(&mut self, payload: &[u8], mut at: At) {
        self.report.counts.envelopes += 1;
        self.envelopes_in_chain += 1;
        self.settle_attachments();
        // Canonical bytes (every intact envelope) take the one-pass path;
        // anything else is parsed in full. Both give the same envelope.
        let (parsed, content_hash) = match Envelope::parse_canonical(payload) {
            Some(Ok((envelope, hash))) => (Ok(envelope), Some(hash)),
            Some(Err(error)) => (Err(error), None),
            None => (Envelope::parse(payload), None),
        };
        let envelope = match parsed {
            Ok(envelope) => envelope,
            Err(error) => {
                self.find(Code::EnvelopeMalformed, at, error.to_string(), None, None);
                return;
            }
        };
        let body = &envelope.body;
        at.seq = Some(body.seq);
        at.segment_id = Some(body.segment_id);
        if self.envelopes_in_chain == 1 {
            self.first_was_segment_opened = body.event_type == "arxi.segment.opened";
        }
        // A one-pass parse succeeds only on an envelope's canonical form
        // (every typed member reads back as written: a format test and the
        // json_canonical fuzz target hold this); otherwise compare.
        let canonical = content_hash.is_some() || envelope.to_canonical_bytes() == payload;
        if !canonical {
            self.find(
                Code::EnvelopeNotCanonical,
                at,
                "stored bytes are not the canonical form",
                None,
                None,
            );
        }
        // Hashing the stored bytes without `hash` and `signature` gives the
        // content hash when they are the envelope's canonical form.
        let computed = content_hash.unwrap_or_else(|| envelope.body.compute_hash());
        if computed != envelope.hash {
            self.find(
                Code::EnvelopeHashMismatch,
                at,
                "the content does not hash to the recorded hash",
                Some(computed.to_hex()),
                Some(envelope.hash.to_hex()),
            );
        }
        self.track_key(&envelope, at);
        match self.trusted_key(&body.key_id) {
            Some(key) => {
                self.signatures.push(
                    Domain::Envelope,
                    &envelope.hash,
                    envelope.signature,
                    &key,
                    at,
                );
            }
            None => self.find(
                Code::EnvelopeUntrustedKey,
                at,
                "signed by a key that is not among the trusted keys",
                None,
                Some(body.key_id.to_string()),
            ),
        }

        // The chain.
        let (expected_seq, expected_prev) = match (self.head, &self.manifest) {
            (Some((seq, hash)), _) => (seq + 1, hash),
            (None, Some(manifest)) => (manifest.first_seq, manifest.prev_hash),
            (None, None) => (body.seq, body.prev_hash),
        };
        if body.seq < expected_seq {
            let duplicate = self
                .head
                .is_some_and(|(seq, hash)| seq == body.seq && hash == envelope.hash);
            if duplicate {
                self.find(
                    Code::EnvelopeDuplicated,
                    at,
                    "the previous envelope again",
                    None,
                    Some(body.seq.to_string()),
                );
            } else {
                self.find(
                    Code::EnvelopeOutOfOrder,
                    at,
                    "a sequence number lower than the one before",
                    Some(expected_seq.to_string()),
                    Some(body.seq.to_string()),
                );
            }
            // Not taken into the chain, the segment or the Merkle tree.
            return;
        }
        if body.seq > expected_seq {
            self.find(
                Code::EnvelopeMissing,
                at,
                format!(
                    "{} envelope(s) missing before this one",
                    body.seq - expected_seq
                ),
                Some(expected_seq.to_string()),
                Some(body.seq.to_string()),
            );
        } else if body.prev_hash != expected_prev {
            self.find(
                Code::ChainBroken,
                at,
                "prev_hash does not name the envelope before",
                Some(expected_prev.to_hex()),
                Some(body.prev_hash.to_hex()),
            );
        }
        if self
            .last_received_at
            .is_some_and(|last| body.received_at < last)
        {
            self.find(
                Code::TimeRegressed,
                at,
                "receive time earlier than the envelope before",
                self.last_received_at.map(|t| t.to_string()),
                Some(body.received_at.to_string()),
            );
        }
        self.last_received_at = Some(body.received_at);
        self.head = Some((body.seq, envelope.hash));

        // Segments.
        let starts_segment = self.segment.is_none();
        if starts_segment {
            let expected_segment = self
                .sealed
                .last()
                .map(|(id, _)| id + 1)
                .or_else(|| {
                    self.manifest
                        .as_ref()
                        .and_then(|m| m.segments.first().map(|s| s.segment_id))
                })
                .unwrap_or(body.segment_id);
            if body.segment_id > expected_segment {
                let gap = body.segment_id - expected_segment;
                let (code, what) = if gap == 1 {
                    (
                        Code::SegmentMissing,
                        format!("segment {expected_segment} is missing"),
                    )
                } else {
                    (
                        Code::SegmentsMissing,
                        format!(
                            "segments {expected_segment} to {} are missing",
                            body.segment_id - 1
                        ),
                    )
                };
                self.find(
                    code,
                    at,
                    what,
                    Some(expected_segment.to_string()),
                    Some(body.segment_id.to_string()),
                );
            } else if body.segment_id < expected_segment {
                self.find(
                    Code::EnvelopeSegmentMismatch,
                    at,
                    "a segment id at or below one already sealed",
                    Some(expected_segment.to_string()),
                    Some(body.segment_id.to_string()),
                );
            }
            let payload = body.payload.to_value();
            let opened_ok = body.event_type == "arxi.segment.opened"
                && payload["segment_id"].as_u64() == Some(body.segment_id)
                && payload["prev_seal_hash"].as_str()
                    == Some(self.last_seal_hash.to_hex().as_str());
            if !opened_ok {
                self.find(
                    Code::SegmentOpenedMismatch,
                    at,
                    "a segment must start with arxi.segment.opened naming the previous seal",
                    Some(format!(
                        "arxi.segment.opened, prev_seal_hash {}",
                        self.last_seal_hash
                    )),
                    Some(format!("{} {}", body.event_type, payload["prev_seal_hash"])),
                );
            }
            self.segment = Some(OpenSegment {
                segment_id: body.segment_id,
                first_seq: body.seq,
                count: 0,
                root: RootBuilder::new(),
                last_hash: Hash32::ZERO,
                last_type: String::new(),
            });
        }
        let current_segment = self.segment.as_ref().map(|segment| segment.segment_id);
        if let Some(segment_id) = current_segment.filter(|id| *id != body.segment_id) {
            self.find(
                Code::EnvelopeSegmentMismatch,
                at,
                "the envelope names another segment than the one it is in",
                Some(segment_id.to_string()),
                Some(body.segment_id.to_string()),
            );
        }
        if let Some(segment) = self.segment.as_mut() {
            segment.count += 1;
            segment.root.push(envelope_leaf(&envelope.hash));
            segment.last_hash = envelope.hash;
            segment.last_type.clone_from(&body.event_type);
        }
        self.pending_attachments = envelope.body.attachments.iter().cloned().collect();
        self.pending_for = at;
    }

    /// The recorder's key in force changes only at a key event
    /// (`arxi.key.loaded` on first start, `arxi.key.changed` after), which
    /// the new key signs. One exception: when the key event had to open a
    /// segment, the `arxi.segment.opened` just before it is already signed
    /// by the new key; that envelope's finding is held until the next
    /// envelope shows whether it is that key event.
    fn track_key(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let is_key_event = matches!(
            body.event_type.as_str(),
            "arxi.key.loaded" | "arxi.key.changed"
        );
        let held = self.held_key_finding.take();
        if !is_key_event {
            if let Some((held_at, expected, found)) = held {
                self.key_finding(
                    held_at,
                    "signed by a key other than the recorder's key at this point of the chain",
                    expected,
                    found,
                );
            }
            match &self.key_in_force {
                None => self.key_in_force = Some(body.key_id.clone()),
                Some(in_force) if *in_force != body.key_id => {
                    let expected = in_force.to_string();
                    if body.event_type == "arxi.segment.opened" {
                        self.held_key_finding = Some((at, expected, body.key_id.to_string()));
                    } else {
                        self.key_finding(
                            at,
                            "signed by a key other than the recorder's key at this point of the chain",
                            expected,
                            body.key_id.to_string(),
                        );
                    }
                }
                Some(_) => {}
            }
            return;
        }
        let payload = body.payload.to_value();
        let declared = payload["key_id"].as_str().unwrap_or_default().to_owned();
        if declared != body.key_id.as_str() {
            self.key_finding(
                at,
                "a key event must be signed by the key it declares",
                declared,
                body.key_id.to_string(),
            );
        }
        if let Some((held_at, expected, found)) = held
            && found != body.key_id.as_str()
        {
            self.key_finding(
                held_at,
                "signed by a key other than the recorder's key at this point of the chain",
                expected,
                found,
            );
        }
        // What the event says was in force before, against what was.
        let before = self.key_in_force.as_ref().map(ToString::to_string);
        // A bundle that starts with the segment opening just before a key
        // change cannot know the key before it.
        let known_before = !(self.envelopes_in_chain == 2 && self.first_was_segment_opened);
        if body.event_type == "arxi.key.changed" {
            let previous = payload["previous_key_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Some(before) = before.filter(|_| known_before)
                && previous != before
            {
                self.key_finding(
                    at,
                    "arxi.key.changed names another previous key than the one in force",
                    before,
                    previous,
                );
            }
        } else if let Some(before) = before.filter(|_| known_before)
            && before != body.key_id.as_str()
        {
            self.key_finding(
                at,
                "arxi.key.loaded after another key was in force (a key change must say so)",
                before,
                body.key_id.to_string(),
            );
        }
        self.key_in_force = Some(body.key_id.clone());
    }

    fn key_finding(&mut self, at: At, message: &str, expected: String, found: String) {
        self.find(
            Code::KeyNotInForce,
            at,
            message,
            Some(expected),
            Some(found),
        );
    }

    /// Reports a held key finding that no key event resolved.
    fn settle_held_key(&mut self) {
        if let Some((at, expected, found)) = self.held_key_finding.take() {
            self.key_finding(
                at,
                "signed by a key other than the recorder's key at this point of the chain",
                expected,
                found,
            );
        }
    }

    fn attachment(&mut self, sha256: Hash32, size: u64, at: At) {
        self.report.counts.attachments += 1;
        let owner = self.pending_for;
        match self.pending_attachments.pop_front() {
            None => self.find(
                Code::AttachmentUnexpected,
                at,
                "no envelope references an attachment here",
                None,
                Some(sha256.to_hex()),
            ),
            Some(reference) => {
                if reference.sha256 != sha256 || reference.size != size {
                    self.find(
                        Code::AttachmentMismatch,
                        At {
                            record: at.record,
                            offset: at.offset,
                            ..owner
                        },
                        format!(
                            "attachment {:?} does not match its reference",
                            reference.name
                        ),
                        Some(format!(
                            "sha256 {} size {}",
                            reference.sha256, reference.size
                        )),
                        Some(format!("sha256 {sha256} size {size}")),
                    );
                }
            }
        }
    }

    fn seal(&mut self, payload: &[u8], mut at: At) {
        self.report.counts.seals += 1;
        self.settle_attachments();
        self.settle_held_key();
        self.flush_signatures_inner(false);
        let seal = match Seal::parse(payload) {
            Ok(seal) => seal,
            Err(error) => {
                self.find(Code::SealMalformed, at, error.to_string(), None, None);
                self.segment = None;
                return;
            }
        };
        let body = &seal.body;
        at.segment_id = Some(body.segment_id);
        at.seq = Some(body.last_seq);
        if seal.to_canonical_bytes() != payload {
            self.find(
                Code::SealNotCanonical,
                at,
                "stored bytes are not the canonical form",
                None,
                None,
            );
        }
        if let Err(mismatch) = seal.check_hash() {
            self.find(
                Code::SealHashMismatch,
                at,
                "the seal does not hash to its recorded hash",
                Some(mismatch.computed.to_hex()),
                Some(mismatch.recorded.to_hex()),
            );
        }
        match self.trusted_key(&body.key_id) {
            None => self.find(
                Code::SealUntrustedKey,
                at,
                "sealed by a key that is not among the trusted keys",
                None,
                Some(body.key_id.to_string()),
            ),
            Some(key) => {
                if seal.verify_signature(&key).is_err() {
                    self.find(
                        Code::SealSignatureInvalid,
                        at,
                        "the seal's signature does not verify",
                        None,
                        None,
                    );
                }
                if self
                    .key_in_force
                    .as_ref()
                    .is_some_and(|in_force| *in_force != body.key_id)
                {
                    self.find(
                        Code::KeyNotInForce,
                        at,
                        "sealed by a key other than the recorder's key at the end of the segment",
                        self.key_in_force.as_ref().map(ToString::to_string),
                        Some(body.key_id.to_string()),
                    );
                }
            }
        }
        if body.prev_seal_hash != self.last_seal_hash {
            self.find(
                Code::SealChainBroken,
                at,
                "prev_seal_hash does not name the previous seal",
                Some(self.last_seal_hash.to_hex()),
                Some(body.prev_seal_hash.to_hex()),
            );
        }
        match self.segment.take() {
            None => self.find(
                Code::SealUnexpected,
                at,
                "a seal with no envelopes of its segment before it",
                None,
                None,
            ),
            Some(segment) => {
                let last_seq = segment.first_seq + segment.count.saturating_sub(1);
                if segment.segment_id != body.segment_id
                    || segment.first_seq != body.first_seq
                    || last_seq != body.last_seq
                    || segment.count != body.count
                {
                    self.find(
                        Code::SealRangeMismatch,
                        at,
                        "the seal's segment, range or count differs from the envelopes present",
                        Some(format!(
                            "segment {} seq {}..={} count {}",
                            segment.segment_id, segment.first_seq, last_seq, segment.count
                        )),
                        Some(format!(
                            "segment {} seq {}..={} count {}",
                            body.segment_id, body.first_seq, body.last_seq, body.count
                        )),
                    );
                }
                let root = segment.root.root();
                if root != body.merkle_root {
                    self.find(
                        Code::SealMerkleRootMismatch,
                        at,
                        "the Merkle root of the envelopes present differs from the sealed root",
                        Some(root.to_hex()),
                        Some(body.merkle_root.to_hex()),
                    );
                }
                if segment.last_hash != body.last_envelope_hash {
                    self.find(
                        Code::SealLastEnvelopeMismatch,
                        at,
                        "the last envelope present is not the sealed last envelope",
                        Some(segment.last_hash.to_hex()),
                        Some(body.last_envelope_hash.to_hex()),
                    );
                }
                if segment.last_type != "arxi.segment.sealed" {
                    self.find(
                        Code::SegmentNotClosed,
                        at,
                        "the segment does not end with arxi.segment.sealed",
                        Some("arxi.segment.sealed".into()),
                        Some(segment.last_type),
                    );
                }
            }
        }
        self.sealed.push((body.segment_id, seal.hash));
        self.last_seal_hash = seal.hash;
    }

    fn manifest_against_contents(&mut self, at: At) {
        let Some(manifest) = self.manifest.clone() else {
            return;
        };
        let listed: Vec<(u64, Hash32)> = manifest
            .segments
            .iter()
            .map(|s| (s.segment_id, s.seal_hash))
            .collect();
        if listed != self.sealed {
            let show = |list: &[(u64, Hash32)]| {
                list.iter()
                    .map(|(id, hash)| format!("{id}:{}", &hash.to_hex()[..12]))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            self.find(
                Code::ManifestMismatch,
                at,
                "the manifest's segments and seals differ from the sealed segments present",
                Some(show(&listed)),
                Some(show(&self.sealed)),
            );
        }
        let last_seq = self.head.map_or(0, |(seq, _)| seq);
        if manifest.last_seq != last_seq || manifest.envelope_count != self.report.counts.envelopes
        {
            self.find(
                Code::ManifestMismatch,
                at,
                "the manifest's last sequence number or envelope count differs from the contents",
                Some(format!(
                    "last_seq {} envelopes {}",
                    manifest.last_seq, manifest.envelope_count
                )),
                Some(format!(
                    "last_seq {last_seq} envelopes {}",
                    self.report.counts.envelopes
                )),
            );
        }
        if manifest.keys != self.keys_seen {
            self.find(
                Code::ManifestMismatch,
                at,
                "the manifest's key list differs from the key records",
                Some(
                    manifest
                        .keys
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Some(
                    self.keys_seen
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            );
        }
    }

    /// Checks that hold once the contents end (at the trailer, or where the
    /// file stops): pending attachments and key findings, outstanding
    /// signatures, envelopes left unsealed, the manifest against it all.
    fn end_of_contents(&mut self, at: At) {
        self.settle_attachments();
        self.settle_held_key();
        self.flush_signatures_inner(true);
        if let Some(segment) = self.segment.take() {
            self.find(
                Code::UnsealedEnvelopes,
                At {
                    segment_id: Some(segment.segment_id),
                    seq: Some(segment.first_seq),
                    ..at
                },
                format!("{} envelope(s) after the last seal", segment.count),
                None,
                Some(segment.count.to_string()),
            );
        }
        self.manifest_against_contents(at);
    }

    fn trailer(&mut self, payload: &[u8], at: At, digest_before: Hash32) {
        self.end_of_contents(at);
        let trailer = match Trailer::parse(payload) {
            Ok(trailer) => trailer,
            Err(error) => {
                self.find(Code::TrailerMalformed, at, error.to_string(), None, None);
                return;
            }
        };
        if trailer.body.content_sha256 != digest_before
            || trailer.body.records != at.record.unwrap_or(0)
        {
            self.find(
                Code::BundleContentMismatch,
                at,
                "the bytes before the trailer are not the bytes it signed",
                Some(format!(
                    "sha256 {} records {}",
                    digest_before,
                    at.record.unwrap_or(0)
                )),
                Some(format!(
                    "sha256 {} records {}",
                    trailer.body.content_sha256, trailer.body.records
                )),
            );
        }
        if let Some(manifest) = &self.manifest {
            let hash = manifest.hash();
            if hash != trailer.body.manifest_hash {
                self.find(
                    Code::ManifestHashMismatch,
                    at,
                    "the trailer names another manifest",
                    Some(hash.to_hex()),
                    Some(trailer.body.manifest_hash.to_hex()),
                );
            }
        }
        match self.trusted_key(&trailer.body.key_id) {
            None => self.find(
                Code::BundleUntrustedKey,
                at,
                "the bundle is signed by a key that is not among the trusted keys",
                None,
                Some(trailer.body.key_id.to_string()),
            ),
            Some(key) => {
                if trailer.verify(&key).is_err() {
                    self.find(
                        Code::BundleSignatureInvalid,
                        at,
                        "the bundle signature does not verify",
                        None,
                        None,
                    );
                }
            }
        }
    }
}

/// Verifies a bundle against the trusted keys. Findings come in file
/// order (by byte offset; for one record, in the order its checks run),
/// whatever the number of threads.
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
    progress: Option<Progress<'_>>,
) -> Report {
    let trusted: HashMap<KeyId, PublicKey> = trusted
        .iter()
        .map(|key| (key.id().clone(), key.clone()))
        .collect();
    let mut verifier = Verifier {
        trusted: &trusted,
        report: Report::default(),
        manifest: None,
        head: None,
        last_received_at: None,
        key_in_force: None,
        held_key_finding: None,
        envelopes_in_chain: 0,
        first_was_segment_opened: false,
        segment: None,
        sealed: Vec::new(),
        last_seal_hash: Hash32::ZERO,
        pending_attachments: std::collections::VecDeque::new(),
        pending_for: At::default(),
        signatures: Batcher::new(options.batch_size, options.threads),
        record_index: 0,
        keys_seen: Vec::new(),
    };
    let mut progress = progress;
    let mut reader = match BundleReader::open(source) {
        Ok(reader) => reader,
        Err(error) => {
            let code = match &error {
                ReadError::Frame {
                    error: arxi_format::bundle::FrameError::UnsupportedVersion(_),
                    ..
                } => Code::UnsupportedVersion,
                ReadError::Truncated { .. } => Code::Truncated,
                _ => Code::NotABundle,
            };
            verifier.report.could_not_check =
                matches!(code, Code::UnsupportedVersion | Code::NotABundle)
                    || matches!(error, ReadError::Io(_));
            verifier.find(
                code,
                At {
                    record: None,
                    offset: Some(0),
                    ..At::default()
                },
                error.to_string(),
                None,
                None,
            );
            return verifier.report;
        }
    };
    let mut trailer_seen = false;
    loop {
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(error) => {
                let at = At {
                    record: Some(verifier.record_index),
                    offset: Some(reader.record_offset()),
                    ..At::default()
                };
                match error {
                    ReadError::Truncated { .. } => {
                        verifier.find(Code::Truncated, at, error.to_string(), None, None);
                    }
                    ReadError::Io(_) => {
                        verifier.report.could_not_check = true;
                        verifier.find(Code::BadRecord, at, error.to_string(), None, None);
                    }
                    _ => verifier.find(Code::BadRecord, at, error.to_string(), None, None),
                }
                verifier.end_of_contents(at);
                verifier.report.counts.bytes = reader.offset();
                return verifier.report;
            }
        };
        let at = At {
            record: Some(verifier.record_index),
            offset: Some(reader.record_offset()),
            ..At::default()
        };
        verifier.record_index += 1;
        verifier.report.counts.records += 1;
        match record {
            Record::Json {
                tag: Tag::Manifest,
                payload,
            } => {
                if at.record != Some(0) {
                    verifier.find(Code::RecordOutOfPlace, at, "a second manifest", None, None);
                    continue;
                }
                match Manifest::parse(&payload) {
                    Ok(manifest) => {
                        verifier.report.recorder_id = Some(manifest.recorder_id.clone());
                        verifier.report.seq_range = Some((manifest.first_seq, manifest.last_seq));
                        verifier.last_seal_hash = manifest.prev_seal_hash;
                        if manifest.to_canonical_bytes() != payload {
                            verifier.find(
                                Code::ManifestMalformed,
                                at,
                                "the manifest is not canonical",
                                None,
                                None,
                            );
                        }
                        verifier.manifest = Some(manifest);
                    }
                    Err(error) => {
                        verifier.find(Code::ManifestMalformed, at, error.to_string(), None, None);
                    }
                }
            }
            _ if at.record == Some(0) => {
                verifier.find(
                    Code::ManifestMissing,
                    at,
                    "the first record is not the manifest",
                    None,
                    None,
                );
                verifier.report.could_not_check = true;
                return verifier.report;
            }
            Record::Json {
                tag: Tag::Key,
                payload,
            } => match KeyRecord::parse(&payload) {
                Ok(record) => verifier.keys_seen.push(record.public_key.id().clone()),
                Err(error) => {
                    verifier.find(Code::KeyRecordInvalid, at, error.to_string(), None, None);
                }
            },
            Record::Json {
                tag: Tag::Envelope,
                payload,
            } => verifier.envelope(&payload, at),
            Record::Attachment { sha256, size } => verifier.attachment(sha256, size, at),
            Record::Json {
                tag: Tag::Seal,
                payload,
            } => verifier.seal(&payload, at),
            Record::Json {
                tag: Tag::Trailer,
                payload,
            } => {
                let digest = reader.digest_before_record();
                verifier.trailer(&payload, at, digest);
                trailer_seen = true;
                match reader.at_end() {
                    Ok(true) => {}
                    Ok(false) => {
                        let after = At {
                            record: Some(verifier.record_index),
                            offset: Some(reader.offset() - 1),
                            ..At::default()
                        };
                        verifier.find(
                            Code::DataAfterTrailer,
                            after,
                            "bytes follow the signed trailer",
                            None,
                            None,
                        );
                    }
                    Err(error) => {
                        verifier.report.could_not_check = true;
                        verifier.find(Code::BadRecord, at, error.to_string(), None, None);
                    }
                }
                break;
            }
            Record::Json {
                tag: Tag::Attachment,
                ..
            } => {
                verifier.find(
                    Code::BadRecord,
                    at,
                    "an attachment record read as JSON",
                    None,
                    None,
                );
            }
        }
        if let Some(progress) = progress.as_mut()
            && verifier.record_index.is_multiple_of(4_096)
        {
            verifier.report.counts.bytes = reader.offset();
            progress(&verifier.report.counts);
        }
    }
    if !trailer_seen {
        let at = At {
            record: Some(verifier.record_index),
            offset: Some(reader.offset()),
            ..At::default()
        };
        verifier.find(
            Code::Truncated,
            at,
            "the file ends before the signed trailer",
            None,
            None,
        );
        verifier.end_of_contents(at);
    }
    verifier.report.counts.bytes = reader.offset();
    verifier.report
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
