//! Findings and the verification report.
//!
//! Every check has a stable snake_case code. A finding names the record
//! (its index in the file and byte offset), the segment and sequence number
//! when known, and carries the expected and found values, so the report is
//! itself evidence of what disagrees.

use std::fmt;

use serde_json::{Value, json};

macro_rules! codes {
    ($($variant:ident => $code:literal: $meaning:literal),* $(,)?) => {
        /// What a finding is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $meaning]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable snake_case code.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// What it means.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }
        }
    };
}

codes! {
    NotABundle => "not_a_bundle": "The file does not start with the ARXI-BUNDLE preamble.",
    UnsupportedVersion => "unsupported_version": "The bundle declares a format version this verifier does not read.",
    Truncated => "truncated": "The file ends before its signed trailer.",
    BadRecord => "bad_record": "A record header or terminator is malformed.",
    RecordOutOfPlace => "record_out_of_place": "A record appears where the format does not allow it.",
    ManifestMissing => "manifest_missing": "The first record is not the manifest.",
    ManifestMalformed => "manifest_malformed": "The manifest does not parse.",
    ManifestMismatch => "manifest_mismatch": "The manifest disagrees with the bundle's contents.",
    ManifestHashMismatch => "manifest_hash_mismatch": "The trailer's manifest hash is not the manifest's hash.",
    KeyRecordInvalid => "key_record_invalid": "A key record does not parse or names another key.",
    EnvelopeMalformed => "envelope_malformed": "An envelope does not parse or breaks a field rule.",
    EnvelopeNotCanonical => "envelope_not_canonical": "An envelope is not stored in its canonical form.",
    EnvelopeHashMismatch => "envelope_hash_mismatch": "An envelope's content does not hash to its recorded hash.",
    EnvelopeSignatureInvalid => "envelope_signature_invalid": "An envelope's signature does not verify under its key.",
    EnvelopeUntrustedKey => "envelope_untrusted_key": "An envelope is signed by a key the auditor does not trust.",
    KeyNotInForce => "key_not_in_force": "A record is signed by a trusted key that is not the recorder's key at that point of the chain.",
    EnvelopeMissing => "envelope_missing": "Sequence numbers jump: envelopes are missing.",
    EnvelopeOutOfOrder => "envelope_out_of_order": "An envelope appears after a later one.",
    EnvelopeDuplicated => "envelope_duplicated": "The same envelope appears twice.",
    ChainBroken => "chain_broken": "An envelope's prev_hash does not name the envelope before it.",
    EnvelopeSegmentMismatch => "envelope_segment_mismatch": "An envelope names another segment than the one it is in.",
    SegmentOpenedMismatch => "segment_opened_mismatch": "A segment does not start with its arxi.segment.opened envelope naming the previous seal.",
    TimeRegressed => "time_regressed": "An envelope's receive time is earlier than the one before it.",
    AttachmentMissing => "attachment_missing": "An attachment an envelope references is not in the bundle.",
    AttachmentMismatch => "attachment_mismatch": "An attachment's bytes do not match the envelope's SHA-256 or size.",
    AttachmentUnexpected => "attachment_unexpected": "An attachment no envelope references at that point.",
    SegmentMissing => "segment_missing": "One whole segment is missing between two others.",
    SegmentsMissing => "segments_missing": "Several consecutive segments are missing.",
    SealMissing => "seal_missing": "A segment ends without its seal.",
    SealMalformed => "seal_malformed": "A seal does not parse or breaks a field rule.",
    SealNotCanonical => "seal_not_canonical": "A seal is not stored in its canonical form.",
    SealHashMismatch => "seal_hash_mismatch": "A seal's content does not hash to its recorded hash.",
    SealSignatureInvalid => "seal_signature_invalid": "A seal's signature does not verify under its key.",
    SealUntrustedKey => "seal_untrusted_key": "A seal is signed by a key the auditor does not trust.",
    SealMerkleRootMismatch => "seal_merkle_root_mismatch": "A seal's Merkle root is not the root of its segment's envelopes.",
    SealRangeMismatch => "seal_range_mismatch": "A seal's segment, range or count differs from the envelopes present.",
    SealLastEnvelopeMismatch => "seal_last_envelope_mismatch": "A seal's last envelope hash is not the last envelope's hash.",
    SealChainBroken => "seal_chain_broken": "A seal's prev_seal_hash does not name the previous seal.",
    SealUnexpected => "seal_unexpected": "A seal with no envelopes before it.",
    SegmentNotClosed => "segment_not_closed": "A sealed segment does not end with its arxi.segment.sealed envelope.",
    UnsealedEnvelopes => "unsealed_envelopes": "Envelopes after the last seal: data was appended.",
    TrailerMalformed => "trailer_malformed": "The trailer does not parse.",
    BundleContentMismatch => "bundle_content_mismatch": "The bytes before the trailer are not the bytes the trailer signed.",
    BundleUntrustedKey => "bundle_untrusted_key": "The trailer is signed by a key the auditor does not trust.",
    BundleSignatureInvalid => "bundle_signature_invalid": "The trailer's signature does not verify.",
    DataAfterTrailer => "data_after_trailer": "Bytes follow the signed trailer.",
    TooManyFindings => "too_many_findings": "More findings than the report keeps; the rest are counted only.",
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind.
    pub code: Code,
    /// Index of the record in the file (0 = manifest), when tied to one.
    pub record: Option<u64>,
    /// Byte offset of that record's header.
    pub offset: Option<u64>,
    /// The segment, when known.
    pub segment_id: Option<u64>,
    /// The envelope's sequence number, when known.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
    /// The value that was expected (hashes in hex, numbers in decimal).
    pub expected: Option<String>,
    /// The value found.
    pub found: Option<String>,
}

impl Finding {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code.as_str(),
            "record": self.record,
            "offset": self.offset,
            "segment_id": self.segment_id,
            "seq": self.seq,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
        })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.code.as_str())?;
        if let Some(record) = self.record {
            write!(f, " record {record}")?;
        }
        if let Some(segment) = self.segment_id {
            write!(f, " segment {segment}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, "; expected {expected}")?;
        }
        if let Some(found) = &self.found {
            write!(f, "; found {found}")?;
        }
        Ok(())
    }
}

/// What was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read.
    pub records: u64,
    /// Envelopes read.
    pub envelopes: u64,
    /// Envelope signatures verified (valid).
    pub signatures_verified: u64,
    /// Seals read.
    pub seals: u64,
    /// Attachments read.
    pub attachments: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// The outcome of verifying a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every finding kept, in file order.
    pub findings: Vec<Finding>,
    /// Findings beyond the kept ones.
    pub findings_dropped: u64,
    /// What was checked.
    pub counts: Counts,
    /// The bundle could not be checked at all (not a bundle, unknown
    /// version, unreadable).
    pub could_not_check: bool,
    /// The recorder id, from the manifest.
    pub recorder_id: Option<String>,
    /// The sequence range, from the manifest.
    pub seq_range: Option<(u64, u64)>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty() && !self.could_not_check
    }

    /// The first finding in file order (the first bad record).
    pub fn first_bad(&self) -> Option<&Finding> {
        self.findings.iter().min_by_key(|finding| {
            (
                finding.offset.unwrap_or(u64::MAX),
                finding.seq.unwrap_or(u64::MAX),
            )
        })
    }

    /// The distinct codes found.
    pub fn codes(&self) -> Vec<Code> {
        let mut codes: Vec<Code> = self.findings.iter().map(|f| f.code).collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "valid": self.is_valid(),
            "could_not_check": self.could_not_check,
            "recorder_id": self.recorder_id,
            "first_seq": self.seq_range.map(|r| r.0),
            "last_seq": self.seq_range.map(|r| r.1),
            "checked": {
                "records": self.counts.records,
                "envelopes": self.counts.envelopes,
                "signatures_verified": self.counts.signatures_verified,
                "seals": self.counts.seals,
                "attachments": self.counts.attachments,
                "bytes": self.counts.bytes,
            },
            "first_bad_record": self.first_bad().map(Finding::to_json),
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "findings_dropped": self.findings_dropped,
        })
    }
}
