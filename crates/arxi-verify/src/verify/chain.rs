//! The chain and the segments: which envelopes are taken into the chain,
//! their links and receive times, and the segment each one belongs to.
//!
//! Rules (`Docs/format.md` §11.4), for every envelope that parses:
//!
//! - The expected `seq` is one more than that of the last envelope taken
//!   into the chain; for the first, the manifest's `first_seq` (without a
//!   manifest, the envelope's own). The expected `prev_hash` is the stored
//!   `hash` of the last envelope taken (the first: the manifest's
//!   `prev_hash`; without a manifest, the envelope's own).
//! - A lower `seq` is `envelope_duplicated` when `seq` and stored hash
//!   equal those of the last envelope taken, else `envelope_out_of_order`;
//!   such an envelope is not taken into the chain, so it is in no segment,
//!   Merkle tree or count, and no rule below applies to it.
//! - A higher `seq` is `envelope_missing`; its `prev_hash` is not checked
//!   (the link is across a gap). It is taken into the chain.
//! - The expected `seq` with another `prev_hash` is `chain_broken`.
//! - A `received_at` earlier than that of the last envelope taken is
//!   `time_regressed`.
//!
//! Segments, for every envelope taken into the chain:
//!
//! - With no segment open, it starts one. The expected segment id is one
//!   more than that of the last segment that ended (by a seal that parsed:
//!   the seal's `segment_id`; by a malformed seal or `seal_missing`: the
//!   open segment's id); before any, the manifest's first listed segment
//!   (without one, the envelope's own). One above is `segment_missing`,
//!   more `segments_missing`, lower `envelope_segment_mismatch`. It must be
//!   `arxi.segment.opened` with payload `segment_id` equal to its own and
//!   `prev_seal_hash` equal to the stored hash of the last seal that parsed
//!   (the first: the manifest's `prev_seal_hash`), else
//!   `segment_opened_mismatch`; received before that seal's `sealed_at`
//!   (a seal of this bundle) is `segment_time_regressed`.
//! - With a segment open, an `arxi.segment.opened` naming a higher segment
//!   ends the open segment without a seal (`seal_missing`) and starts the
//!   next one as above. Any other envelope joins the open segment, and
//!   naming another segment is `envelope_segment_mismatch`.
//! - The envelopes that join a segment make its count, its range (from the
//!   first one's `seq`) and its Merkle leaves (their stored hashes).

use arxi_format::envelope::Envelope;
use arxi_format::merkle::RootBuilder;
use arxi_format::seal::envelope_leaf;
use arxi_format::{Hash32, Timestamp};

use super::{At, Verifier};
use crate::report::Code;

/// The type that opens every segment.
pub(super) const SEGMENT_OPENED: &str = "arxi.segment.opened";

/// The last envelope taken into the chain.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head {
    pub(super) seq: u64,
    pub(super) hash: Hash32,
    pub(super) received_at: Timestamp,
}

/// The segment being read.
#[derive(Debug)]
pub(super) struct OpenSegment {
    pub(super) segment_id: u64,
    pub(super) first_seq: u64,
    pub(super) count: u64,
    pub(super) root: RootBuilder,
    pub(super) last_hash: Hash32,
    pub(super) last_type: String,
    pub(super) last_received_at: Timestamp,
}

/// The chain and segment state.
#[derive(Debug, Default)]
pub(super) struct Chain {
    pub(super) head: Option<Head>,
    pub(super) segment: Option<OpenSegment>,
    /// The id of the last segment that ended.
    pub(super) last_ended: Option<u64>,
}

impl Verifier<'_> {
    /// Classifies an envelope: true when it is taken into the chain.
    pub(super) fn take_into_chain(&mut self, envelope: &Envelope, at: At) -> bool {
        let body = &envelope.body;
        let (expected_seq, expected_prev) = match (self.chain.head, &self.manifest) {
            (Some(head), _) => (head.seq + 1, head.hash),
            (None, Some(manifest)) => (manifest.first_seq, manifest.prev_hash),
            (None, None) => (body.seq, body.prev_hash),
        };
        if body.seq < expected_seq {
            let duplicate = self
                .chain
                .head
                .is_some_and(|head| head.seq == body.seq && head.hash == envelope.hash);
            if duplicate {
                let message = "a copy of the envelope before";
                let found = Some(body.seq.to_string());
                self.find(Code::EnvelopeDuplicated, at, message, None, found);
            } else {
                self.find(
                    Code::EnvelopeOutOfOrder,
                    at,
                    "a sequence number lower than the next expected one",
                    Some(expected_seq.to_string()),
                    Some(body.seq.to_string()),
                );
            }
            return false;
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
        self.receive_time(envelope, at);
        true
    }

    fn receive_time(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        if let Some(head) = self.chain.head
            && body.received_at < head.received_at
        {
            self.find(
                Code::TimeRegressed,
                at,
                "receive time earlier than the envelope before",
                Some(head.received_at.to_string()),
                Some(body.received_at.to_string()),
            );
        }
        self.chain.head = Some(Head {
            seq: body.seq,
            hash: envelope.hash,
            received_at: body.received_at,
        });
    }

    /// Puts an envelope of the chain into its segment.
    pub(super) fn join_segment(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        if let Some(open) = &self.chain.segment
            && body.event_type == SEGMENT_OPENED
            && body.segment_id > open.segment_id
        {
            let open_id = open.segment_id;
            self.find(
                Code::SealMissing,
                At {
                    segment_id: Some(open_id),
                    ..at
                },
                format!("segment {open_id} ends without its seal"),
                Some(format!("a seal of segment {open_id}")),
                Some(body.segment_id.to_string()),
            );
            self.chain.segment = None;
            self.chain.last_ended = Some(open_id);
        }
        if self.chain.segment.is_none() {
            self.start_segment(envelope, at);
        }
        let Some(segment) = self.chain.segment.as_mut() else {
            unreachable!("a segment was just started");
        };
        let open_id = segment.segment_id;
        segment.count += 1;
        segment.root.push(envelope_leaf(&envelope.hash));
        segment.last_hash = envelope.hash;
        segment.last_type.clone_from(&body.event_type);
        segment.last_received_at = body.received_at;
        if open_id != body.segment_id {
            self.find(
                Code::EnvelopeSegmentMismatch,
                at,
                "the envelope names another segment than the one it is in",
                Some(open_id.to_string()),
                Some(body.segment_id.to_string()),
            );
        }
    }

    fn start_segment(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let expected = self
            .chain
            .last_ended
            .map(|id| id + 1)
            .or_else(|| {
                let manifest = self.manifest.as_ref()?;
                manifest.segments.first().map(|segment| segment.segment_id)
            })
            .unwrap_or(body.segment_id);
        if body.segment_id > expected {
            let (code, what) = if body.segment_id - expected == 1 {
                (
                    Code::SegmentMissing,
                    format!("segment {expected} is missing"),
                )
            } else {
                let last = body.segment_id - 1;
                (
                    Code::SegmentsMissing,
                    format!("segments {expected} to {last} are missing"),
                )
            };
            let found = Some(body.segment_id.to_string());
            self.find(code, at, what, Some(expected.to_string()), found);
        } else if body.segment_id < expected {
            self.find(
                Code::EnvelopeSegmentMismatch,
                at,
                "a segment id below the next expected one",
                Some(expected.to_string()),
                Some(body.segment_id.to_string()),
            );
        }
        self.segment_opened(envelope, at);
        if let Some(sealed_at) = self.seals.last_sealed_at
            && body.received_at < sealed_at
        {
            self.find(
                Code::SegmentTimeRegressed,
                at,
                "the segment's first envelope was received before the previous seal",
                Some(sealed_at.to_string()),
                Some(body.received_at.to_string()),
            );
        }
        self.chain.segment = Some(OpenSegment {
            segment_id: body.segment_id,
            first_seq: body.seq,
            count: 0,
            root: RootBuilder::new(),
            last_hash: Hash32::ZERO,
            last_type: String::new(),
            last_received_at: body.received_at,
        });
    }

    /// The first envelope of a segment opens it and names the seal before.
    fn segment_opened(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let expected_seal = self.seals.last_hash.to_hex();
        let opened = body.event_type == SEGMENT_OPENED;
        let payload = if opened {
            super::control_payload(body)
        } else {
            serde_json::Value::Null
        };
        let opened_ok = opened
            && payload["segment_id"].as_u64() == Some(body.segment_id)
            && payload["prev_seal_hash"].as_str() == Some(expected_seal.as_str());
        if !opened_ok {
            self.find(
                Code::SegmentOpenedMismatch,
                at,
                "a segment must start with arxi.segment.opened naming its segment and the previous seal",
                Some(format!("{SEGMENT_OPENED}, prev_seal_hash {expected_seal}")),
                Some(format!("{} {}", body.event_type, payload["prev_seal_hash"])),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, earlier, story};

    #[test]
    fn chain_rules() {
        // Envelopes 9 and 10 swapped: 10 comes with 9 missing, then 9 is
        // out of order and left out of its segment.
        let mut swapped = story();
        let nine = swapped.envelope_index(9);
        swapped.records.swap(nine, nine + 1);
        check(
            &swapped.bytes(),
            &[
                "envelope_missing",
                "envelope_out_of_order",
                "seal_merkle_root_mismatch",
                "seal_range_mismatch",
            ],
        );
        let mut duplicated = story();
        let ten = duplicated.envelope_index(10);
        duplicated.insert_copy(ten, ten + 1);
        check(
            &duplicated.bytes(),
            &["envelope_duplicated", "manifest_mismatch"],
        );
        // A receive time one second earlier than the envelope before,
        // re-signed (and everything after it re-chained).
        let earlier = story().rewrite(|body| {
            if body.seq == 10 {
                body.received_at = earlier(body.received_at, 2);
            }
        });
        check(&earlier.bytes(), &["time_regressed"]);
        let other_segment = story().rewrite(|body| {
            if body.seq == 10 {
                body.segment_id = 3;
            }
        });
        check(&other_segment.bytes(), &["envelope_segment_mismatch"]);
    }

    #[test]
    fn segment_rules() {
        // Segment 3's first envelope before segment 2's seal.
        let early = story().rewrite(|body| {
            if body.seq == 13 {
                body.received_at = earlier(body.received_at, 2);
            }
        });
        check(&early.bytes(), &["segment_time_regressed"]);
        // Segment 2's seal removed.
        let mut unsealed = story();
        let seal = unsealed.seal_index(2);
        unsealed.records.remove(seal);
        check(
            &unsealed.bytes(),
            &[
                "seal_missing",
                "segment_opened_mismatch",
                "seal_chain_broken",
                "manifest_mismatch",
            ],
        );
    }
}
