//! Consecutive bundles (`arxi bundle verify B1 B2 ...`, `Docs/format.md`
//! §11.5): each bundle is verified alone, then each one is checked to
//! continue the one before it in its recorder's chain.
//!
//! Rules, for each bundle after the first, against the one before it, when
//! both have a manifest that parsed and the one before has a seal that
//! parsed (otherwise their own findings already make the series invalid or
//! unchecked):
//!
//! - the same `recorder_id`, else `bundles_recorder_mismatch` (and nothing
//!   more is compared);
//! - its manifest's `first_seq` is one more than the previous bundle's
//!   last seal's `last_seq`: higher is `bundles_gap`, lower or equal
//!   `bundles_overlap`;
//! - when it is exactly one more, its manifest's `prev_hash` is the
//!   previous bundle's last seal's `last_envelope_hash` and its
//!   `prev_seal_hash` that seal's stored hash, else
//!   `bundle_anchor_mismatch`.
//!
//! And for every key revoked in a bundle of the series (`arxi.key.revoked`,
//! `Docs/format.md` §11.4 rule R; the lowest `from_seq`), every bundle at
//! whose end the key was not revoked from that `from_seq` or before, and
//! in which the key signed a `seq` at or after it (its report's
//! `signed_up_to`), is `key_revoked_signature`, once per bundle and key:
//! the bundles before the revocation (those after it were verified
//! knowing it, see [`crate::Options::revoked`]).
//!
//! What this cannot show: that the last bundle is the latest evidence of
//! its recorder, or that no bundle follows; no bundle proves that about
//! itself. That needs the recorder's head published elsewhere (external
//! anchoring).

use std::collections::BTreeMap;

use arxi_format::KeyId;
use serde_json::{Value, json};

use crate::report::{Code, Report};

/// One finding about a pair of consecutive bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFinding {
    /// What kind.
    pub code: Code,
    /// Index (from 0) of the bundle it is about: for a pair, the later
    /// one; for a revoked key, the bundle holding its signatures.
    pub bundle: usize,
    /// What is wrong, in words.
    pub message: String,
    /// The value expected (from the earlier bundle).
    pub expected: String,
    /// The value found (in the later bundle).
    pub found: String,
}

impl SeriesFinding {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code.as_str(),
            "bundle": self.bundle,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
        })
    }
}

/// Checks that each report's bundle continues the one before it.
pub fn check_series(reports: &[Report]) -> Vec<SeriesFinding> {
    let mut findings = Vec::new();
    for (index, pair) in reports.windows(2).enumerate() {
        if let Some(finding) = check_pair(&pair[0], &pair[1], index + 1) {
            findings.push(finding);
        }
    }
    findings.extend(revoked_earlier(reports));
    findings
}

/// What a key revoked in a bundle signed, from its `from_seq` on, in the
/// bundles that did not know the revocation (those before the one that
/// revoked it, and any verified without it): the revocation half of
/// [`check_series`], for callers that check continuity their own way
/// (the archive verifier). Reads only [`Report::revoked`] and
/// [`Report::signed_up_to`].
pub fn revoked_earlier(reports: &[Report]) -> Vec<SeriesFinding> {
    let mut revoked: BTreeMap<&KeyId, u64> = BTreeMap::new();
    for (key_id, &from_seq) in reports.iter().flat_map(|report| &report.revoked) {
        let lowest = revoked.entry(key_id).or_insert(from_seq);
        *lowest = (*lowest).min(from_seq);
    }
    let mut findings = Vec::new();
    for (key_id, from_seq) in revoked {
        for (index, report) in reports.iter().enumerate() {
            let known = report
                .revoked
                .get(key_id)
                .is_some_and(|known| *known <= from_seq);
            let Some(&highest) = report.signed_up_to.get(key_id) else {
                continue;
            };
            if known || highest < from_seq {
                continue;
            }
            findings.push(SeriesFinding {
                code: Code::KeyRevokedSignature,
                bundle: index,
                message: format!(
                    "{key_id}, revoked from seq {from_seq} by a later bundle, signed in this one up to seq {highest}"
                ),
                expected: format!("{key_id} revoked from seq {from_seq}"),
                found: format!("signed up to seq {highest}"),
            });
        }
    }
    findings
}

fn check_pair(before: &Report, after: &Report, bundle: usize) -> Option<SeriesFinding> {
    let (recorder_before, ..) = before.anchors.start.as_ref()?;
    let (last_seq, last_envelope, last_seal) = before.anchors.end?;
    let (recorder, first_seq, prev_hash, prev_seal_hash) = after.anchors.start.as_ref()?;
    let finding = |code, message: &str, expected: String, found: String| SeriesFinding {
        code,
        bundle,
        message: message.to_owned(),
        expected,
        found,
    };
    if recorder != recorder_before {
        return Some(finding(
            Code::BundlesRecorderMismatch,
            "the bundle is of another recorder than the one before it",
            recorder_before.clone(),
            recorder.clone(),
        ));
    }
    let next = last_seq + 1;
    if *first_seq != next {
        let (code, message) = if *first_seq > next {
            (
                Code::BundlesGap,
                "envelopes are missing between this bundle and the one before",
            )
        } else {
            (
                Code::BundlesOverlap,
                "this bundle repeats envelopes of the one before",
            )
        };
        return Some(finding(
            code,
            message,
            next.to_string(),
            first_seq.to_string(),
        ));
    }
    if *prev_hash != last_envelope || *prev_seal_hash != last_seal {
        return Some(finding(
            Code::BundleAnchorMismatch,
            "the bundle does not continue the chain of the one before",
            format!("prev_hash {last_envelope} prev_seal_hash {last_seal}"),
            format!("prev_hash {prev_hash} prev_seal_hash {prev_seal_hash}"),
        ));
    }
    None
}

/// The outcome of verifying a series of bundles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesReport {
    /// Each bundle's report, in the order given.
    pub bundles: Vec<Report>,
    /// Findings about consecutive pairs.
    pub findings: Vec<SeriesFinding>,
}

impl SeriesReport {
    /// Verifies each bundle's report against the one before.
    pub fn new(bundles: Vec<Report>) -> Self {
        let findings = check_series(&bundles);
        Self { bundles, findings }
    }

    /// 1 when a bundle is invalid or a pair does not continue; otherwise 2
    /// when a bundle could not be checked; otherwise 0.
    pub fn exit_code(&self) -> u8 {
        let invalid = !self.findings.is_empty()
            || self
                .bundles
                .iter()
                .any(|report| !report.could_not_check && !report.is_valid());
        if invalid {
            1
        } else if self.bundles.iter().any(|report| report.could_not_check) {
            2
        } else {
            0
        }
    }

    /// Every code found, in the bundles and between them, in registry
    /// order.
    pub fn codes(&self) -> Vec<Code> {
        let mut codes: Vec<Code> = self
            .bundles
            .iter()
            .flat_map(Report::codes)
            .chain(self.findings.iter().map(|finding| finding.code))
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// As JSON: each bundle's report (with its file name) and the series'.
    pub fn to_json(&self, files: &[&str]) -> Value {
        let bundles: Vec<Value> = self
            .bundles
            .iter()
            .zip(files)
            .map(|(report, file)| {
                let mut value = report.to_json();
                value["file"] = json!(file);
                value
            })
            .collect();
        let series_codes: Vec<&str> = self.findings.iter().map(|f| f.code.as_str()).collect();
        json!({
            "valid": self.exit_code() == 0,
            "could_not_check": self.exit_code() == 2,
            "codes": self.codes().iter().map(|code| code.as_str()).collect::<Vec<_>>(),
            "bundles": bundles,
            "series": {
                "valid": self.findings.is_empty(),
                "codes": series_codes,
                "findings": self.findings.iter().map(SeriesFinding::to_json).collect::<Vec<_>>(),
            },
        })
    }
}
