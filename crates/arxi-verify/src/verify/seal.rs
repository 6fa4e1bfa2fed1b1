//! Seal records (`S`).
//!
//! Rules (`Docs/format.md` §11.4), for every `S` record (first the
//! attachments still expected are settled and a held
//! `arxi.segment.opened` is resolved, see `keys`):
//!
//! - It parses under the strict rules of section 9, else `seal_malformed`:
//!   the open segment ends (its id counts as the last segment that ended)
//!   and nothing else is checked for it.
//! - It is canonical (`seal_not_canonical`) and hashes to its stored
//!   `hash` (`seal_hash_mismatch`; everything else uses the stored hash).
//! - Its `recorder_id` is the manifest's (`recorder_id_mismatch`); its key
//!   is trusted (`seal_untrusted_key`) and then its signature verifies
//!   (`seal_signature_invalid`), and a window given with the key holds
//!   its `last_seq` (`key_outside_window`); a key record names its key
//!   (`key_record_missing`); its key is the key in force
//!   (`key_not_in_force`, trusted or not); a revoked key's seal reaching
//!   its `from_seq` is `key_revoked_signature` (see `revocation`).
//! - Its `prev_seal_hash` is the stored hash of the seal before it that
//!   parsed (the first: the manifest's `prev_seal_hash`), else
//!   `seal_chain_broken`.
//! - With no segment open: `seal_unexpected`. Otherwise, against the
//!   envelopes of the chain in the segment: `segment_id`, `first_seq`,
//!   `last_seq` and `count` (`seal_range_mismatch`); the RFC 6962 root of
//!   their stored hashes (`seal_merkle_root_mismatch`); the last one's
//!   stored hash (`seal_last_envelope_mismatch`) and type, which must be
//!   `arxi.segment.sealed` (`segment_not_closed`); `sealed_at` not before
//!   the last one's `received_at` (`seal_time_regressed`).
//! - It is then the last seal: its stored hash, `sealed_at` and
//!   `segment_id` are what the next segment and seal are checked against,
//!   and it is compared with the manifest's segment in its position.

use arxi_format::bundle::ManifestSegment;
use arxi_format::seal::Seal;
use arxi_format::{Hash32, Timestamp};

use super::chain::OpenSegment;
use super::control::SEGMENT_SEALED;
use super::window::Covered;
use super::{At, Verifier};
use crate::report::Code;

/// What the seals read so far leave for the next ones.
#[derive(Debug)]
pub(super) struct Seals {
    /// Stored hash of the last seal that parsed (before any: the
    /// manifest's `prev_seal_hash`).
    pub(super) last_hash: Hash32,
    /// Its `sealed_at`.
    pub(super) last_sealed_at: Option<Timestamp>,
    /// Seals that parsed, in file order.
    pub(super) parsed: u64,
    /// The first disagreement with the manifest's segments: (expected,
    /// found).
    pub(super) manifest_disagrees: Option<(String, String)>,
}

impl Default for Seals {
    fn default() -> Self {
        Self {
            last_hash: Hash32::ZERO,
            last_sealed_at: None,
            parsed: 0,
            manifest_disagrees: None,
        }
    }
}

impl Verifier<'_> {
    pub(super) fn seal(&mut self, payload: &[u8], at: At) {
        self.report.counts.seals += 1;
        self.body_started = true;
        self.settle_disclosure("an S record");
        self.settle_attachments();
        self.settle_held_key();
        self.take_signature_results(false);
        let seal = match Seal::parse(payload) {
            Ok(seal) => seal,
            Err(error) => {
                self.find(Code::SealMalformed, at, error.to_string(), None, None);
                if let Some(open) = self.chain.segment.take() {
                    self.chain.last_ended = Some(open.segment_id);
                }
                return;
            }
        };
        let at = At {
            segment_id: Some(seal.body.segment_id),
            seq: Some(seal.body.last_seq),
            ..at
        };
        self.seal_alone(&seal, payload, at);
        match self.chain.segment.take() {
            None => {
                let message = "a seal with no envelopes of its segment before it";
                self.find(Code::SealUnexpected, at, message, None, None);
            }
            Some(segment) => self.seal_against_segment(&seal, segment, at),
        }
        self.seal_taken(&seal);
        let range = (seal.body.segment_id, seal.body.last_seq);
        self.timestamps_after_seal(range, seal.hash, seal.body.sealed_at, at);
    }

    /// Form, hash, recorder, key and signature, and the seal chain.
    fn seal_alone(&mut self, seal: &Seal, payload: &[u8], at: At) {
        let body = &seal.body;
        if seal.to_canonical_bytes() != payload {
            let message = "stored bytes are not the canonical form";
            self.find(Code::SealNotCanonical, at, message, None, None);
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
        self.recorder_of(&body.recorder_id, at);
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
                    let message = "the seal's signature does not verify";
                    self.find(Code::SealSignatureInvalid, at, message, None, None);
                }
                let covered = Covered::Seal(body.first_seq, body.last_seq);
                self.within_window(&body.key_id, covered, at);
            }
        }
        self.signed_by(&body.key_id, at);
        self.revocation_seal(&body.key_id, body.last_seq, at);
        if let Some(in_force) = self.keys.in_force.clone()
            && in_force != body.key_id
        {
            self.not_in_force(at, &in_force, &body.key_id);
        }
        if body.prev_seal_hash != self.seals.last_hash {
            self.find(
                Code::SealChainBroken,
                at,
                "prev_seal_hash does not name the previous seal",
                Some(self.seals.last_hash.to_hex()),
                Some(body.prev_seal_hash.to_hex()),
            );
        }
    }

    fn seal_against_segment(&mut self, seal: &Seal, segment: OpenSegment, at: At) {
        let body = &seal.body;
        let last_seq = segment.first_seq + segment.count.saturating_sub(1);
        let present = (
            segment.segment_id,
            segment.first_seq,
            last_seq,
            segment.count,
        );
        if present != (body.segment_id, body.first_seq, body.last_seq, body.count) {
            let show = |(id, first, last, count): (u64, u64, u64, u64)| {
                format!("segment {id} seq {first}..={last} count {count}")
            };
            self.find(
                Code::SealRangeMismatch,
                at,
                "the seal's segment, range or count differs from the envelopes present",
                Some(show(present)),
                Some(show((
                    body.segment_id,
                    body.first_seq,
                    body.last_seq,
                    body.count,
                ))),
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
        if segment.last_type != SEGMENT_SEALED {
            self.find(
                Code::SegmentNotClosed,
                at,
                "the segment does not end with arxi.segment.sealed",
                Some(SEGMENT_SEALED.into()),
                Some(segment.last_type),
            );
        }
        if body.sealed_at < segment.last_received_at {
            self.find(
                Code::SealTimeRegressed,
                at,
                "sealed before its last envelope was received",
                Some(segment.last_received_at.to_string()),
                Some(body.sealed_at.to_string()),
            );
        }
    }

    /// The seal becomes the last one.
    fn seal_taken(&mut self, seal: &Seal) {
        let body = &seal.body;
        let index = usize::try_from(self.seals.parsed).unwrap_or(usize::MAX);
        self.manifest_segment(
            index,
            ManifestSegment {
                segment_id: body.segment_id,
                first_seq: body.first_seq,
                last_seq: body.last_seq,
                count: body.count,
                merkle_root: body.merkle_root,
                seal_hash: seal.hash,
            },
        );
        self.seals.parsed += 1;
        self.seals.last_hash = seal.hash;
        self.seals.last_sealed_at = Some(body.sealed_at);
        self.chain.last_ended = Some(body.segment_id);
        self.report.anchors.end = Some((body.last_seq, body.last_envelope_hash, seal.hash));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, earlier, story};
    use arxi_format::Hash32;
    use arxi_format::seal::Seal;

    #[test]
    fn seal_rules() {
        let root = story().reseal_with(2, "a", |body| {
            body.merkle_root = Hash32::of(b"another root");
        });
        check(
            &root.bytes(),
            &[
                "seal_merkle_root_mismatch",
                "seal_chain_broken",
                "segment_opened_mismatch",
                "manifest_mismatch",
            ],
        );
        let late = story().rewrite_seals(|body| {
            if body.segment_id == 2 {
                body.sealed_at = earlier(body.sealed_at, 2);
            }
        });
        check(&late.bytes(), &["seal_time_regressed"]);
        let mut unsigned = story();
        let index = unsigned.seal_index(2);
        unsigned.edit_record(index, |payload| {
            let mut seal = Seal::parse(payload).expect("seal");
            seal.signature.0[0] ^= 1;
            *payload = seal.to_canonical_bytes();
        });
        check(&unsigned.bytes(), &["seal_signature_invalid"]);
        let mut spaced = story();
        spaced.edit_record(index, |payload| payload.insert(1, b' '));
        check(&spaced.bytes(), &["seal_not_canonical"]);
        let mut twice = story();
        twice.insert_copy(index, index + 1);
        check(
            &twice.bytes(),
            &["seal_unexpected", "seal_chain_broken", "manifest_mismatch"],
        );
        let other = story().rewrite_seals(|body| {
            if body.segment_id == 3 {
                body.recorder_id = "another-recorder".into();
            }
        });
        check(&other.bytes(), &["recorder_id_mismatch"]);
    }
}
