//! The manifest (`M`), and the manifest against the contents.
//!
//! Rules (`Docs/format.md` §11.4):
//!
//! - The first record is the manifest (else `manifest_missing`, and the
//!   bundle could not be checked); a manifest anywhere else is
//!   `record_out_of_place` and ignored.
//! - It parses under the strict record rules and is canonical, else
//!   `manifest_malformed`. A manifest that does not parse is not used:
//!   every check that compares with it is skipped; a non-canonical one is
//!   still used.
//! - When the contents end: its `segments` equal, position by position,
//!   the seals that parsed (`segment_id`, `first_seq`, `last_seq`, `count`,
//!   `merkle_root` from the seal, `seal_hash` its stored hash) and are as
//!   many; `last_seq` is the `seq` of the last envelope of the chain (0
//!   when there is none); `envelope_count` is the number of `E` records;
//!   `keys` is the `key_id` of every key record used, in file order. One
//!   `manifest_mismatch` per kind of disagreement.
//! - `created_at` is not before the `sealed_at` of the last seal that
//!   parsed (`manifest_time_regressed`).

use arxi_format::Hash32;
use arxi_format::bundle::{Manifest, ManifestSegment};

use super::{At, Verifier};
use crate::report::Code;

/// A manifest segment as text, for findings.
pub(super) fn describe(segment: &ManifestSegment) -> String {
    format!(
        "segment {} seq {}..={} count {} root {} seal {}",
        segment.segment_id,
        segment.first_seq,
        segment.last_seq,
        segment.count,
        segment.merkle_root,
        segment.seal_hash
    )
}

impl Verifier<'_> {
    pub(super) fn manifest_record(&mut self, payload: &[u8], at: At) {
        if at.record != Some(0) {
            let message = "a second manifest (ignored)";
            self.find(Code::RecordOutOfPlace, at, message, None, None);
            return;
        }
        self.manifest_payload_hash = Some(Hash32::of(payload));
        let manifest = match Manifest::parse(payload) {
            Ok(manifest) => manifest,
            Err(error) => {
                self.find(Code::ManifestMalformed, at, error.to_string(), None, None);
                return;
            }
        };
        if manifest.to_canonical_bytes() != payload {
            let message = "the manifest is not canonical";
            self.find(Code::ManifestMalformed, at, message, None, None);
        }
        self.report.recorder_id = Some(manifest.recorder_id.clone());
        self.report.seq_range = Some((manifest.first_seq, manifest.last_seq));
        self.report.anchors.start = Some((
            manifest.recorder_id.clone(),
            manifest.first_seq,
            manifest.prev_hash,
            manifest.prev_seal_hash,
        ));
        self.seals.last_hash = manifest.prev_seal_hash;
        self.manifest = Some(manifest);
    }

    /// The manifest against everything read, when the contents end.
    pub(super) fn manifest_against_contents(&mut self, at: At) {
        let Some(manifest) = self.manifest.clone() else {
            return;
        };
        self.manifest_segments_at_end(&manifest, at);
        let last_seq = self.chain.head.map_or(0, |head| head.seq);
        let envelopes = self.report.counts.envelopes;
        if manifest.last_seq != last_seq || manifest.envelope_count != envelopes {
            self.find(
                Code::ManifestMismatch,
                at,
                "the manifest's last sequence number or envelope count differs from the contents",
                Some(format!(
                    "last_seq {} envelope_count {}",
                    manifest.last_seq, manifest.envelope_count
                )),
                Some(format!("last_seq {last_seq} envelope_count {envelopes}")),
            );
        }
        let used = self.key_records.key_ids();
        if manifest.keys != used {
            let list = |keys: &[arxi_format::KeyId]| {
                let ids: Vec<&str> = keys.iter().map(|key| key.as_str()).collect();
                ids.join(",")
            };
            self.find(
                Code::ManifestMismatch,
                at,
                "the manifest's key list differs from the key records",
                Some(list(&manifest.keys)),
                Some(list(&used)),
            );
        }
        if let Some(sealed_at) = self.seals.last_sealed_at
            && manifest.created_at < sealed_at
        {
            self.find(
                Code::ManifestTimeRegressed,
                at,
                "the manifest was created before the last seal",
                Some(sealed_at.to_string()),
                Some(manifest.created_at.to_string()),
            );
        }
    }

    /// The seal in position `index` (from 0) against the manifest's entry.
    pub(super) fn manifest_segment(&mut self, index: usize, segment: ManifestSegment) {
        let Some(manifest) = &self.manifest else {
            return;
        };
        if self.seals.manifest_disagrees.is_some() {
            return;
        }
        let listed = manifest.segments.get(index);
        if listed != Some(&segment) {
            self.seals.manifest_disagrees = Some((
                listed.map_or_else(|| "no segment".to_owned(), describe),
                describe(&segment),
            ));
        }
    }

    fn manifest_segments_at_end(&mut self, manifest: &Manifest, at: At) {
        let parsed = self.seals.parsed;
        let disagreement = self.seals.manifest_disagrees.take().or_else(|| {
            (manifest.segments.len() as u64 != parsed).then(|| {
                (
                    format!("{} segments", manifest.segments.len()),
                    format!("{parsed} seals"),
                )
            })
        });
        if let Some((expected, found)) = disagreement {
            self.find(
                Code::ManifestMismatch,
                at,
                "the manifest's segments differ from the seals present",
                Some(expected),
                Some(found),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, story};
    use arxi_format::bundle::Manifest;

    #[test]
    fn manifest_rules() {
        check(&story().bytes(), &[]);
        check(
            &story().edit_manifest(|m| m.envelope_count += 1).bytes(),
            &["manifest_mismatch"],
        );
        check(
            &story()
                .edit_manifest(|m| m.segments[1].merkle_root = arxi_format::Hash32::ZERO)
                .bytes(),
            &["manifest_mismatch"],
        );
        check(
            &story().edit_manifest(|m| m.keys.reverse()).bytes(),
            &["manifest_mismatch"],
        );
        check(
            &story()
                .edit_manifest(|m| {
                    m.created_at = arxi_format::Timestamp::from_unix_micros(0).expect("epoch");
                })
                .bytes(),
            &["manifest_time_regressed"],
        );
        let mut not_canonical = story();
        not_canonical.edit_record(0, |payload| {
            let manifest = Manifest::parse(payload).expect("manifest");
            let value: serde_json::Value =
                serde_json::from_slice(&manifest.to_canonical_bytes()).expect("json");
            *payload = serde_json::to_vec_pretty(&value).expect("json");
        });
        check(&not_canonical.bytes(), &["manifest_malformed"]);
        let mut second = story();
        second.insert_copy(0, 1);
        check(&second.bytes(), &["record_out_of_place"]);
    }
}
