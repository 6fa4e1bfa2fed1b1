//! Checkpoint tokens: the `arxi.log.timestamped` envelopes a recorder
//! writes when a timestamp authority stamps a checkpoint of its log tree.
//!
//! Rule TC (`Docs/format.md` §11.9), for every `arxi.log.timestamped`
//! envelope taken into the chain:
//!
//! - Its payload parses (`arxi_format::checkpoint_stamp`), its checkpoint
//!   is a signed note whose text is a checkpoint (§14.2), of at least one
//!   envelope and of fewer than the envelope's own `seq`, and its token is
//!   an RFC 3161 token, else `timestamp_malformed` and nothing else is
//!   checked.
//! - Rules T2 to T5 hold for the token with the SHA-256 of the
//!   checkpoint's text as the stamped hash and the envelope's
//!   `received_at` as the recorder's time (`timestamp_imprint_mismatch`,
//!   `timestamp_signature_invalid`, `timestamp_untrusted`,
//!   `timestamp_time_skew`).
//! - When the chain holds envelope `size` (the checkpoint's last leaf)
//!   among the [`LOOKBACK`] envelopes before the stamp, the payload's
//!   inclusion proof leads from that envelope's leaf to the checkpoint's
//!   root, else `timestamp_checkpoint_mismatch`. Through the chain, that
//!   envelope's hash fixes every envelope before it, so the token then
//!   dates the whole history this bundle shows up to `size`.
//!
//! Rule T6 (`--require-timestamp`) is about seals and does not count
//! these tokens.

use std::collections::VecDeque;

use arxi_format::Hash32;
use arxi_format::checkpoint_stamp::{CheckpointStamp, LOG_TIMESTAMPED};
use arxi_format::envelope::Envelope;

use super::{At, Verifier};
use crate::report::{Code, TIMESTAMP_REPORTS_MAX, TimestampReport};
use crate::stamps::{Stamped, check_stamp};

/// How many of the chain's latest envelope hashes are kept for rule TC
/// (40 bytes each: 2.6 MB at most).
pub(super) const LOOKBACK: usize = 1 << 16;

/// The latest envelopes of the chain: (seq, stored hash), ascending.
#[derive(Debug, Default)]
pub(super) struct RecentHashes {
    hashes: VecDeque<(u64, Hash32)>,
}

impl RecentHashes {
    fn push(&mut self, seq: u64, hash: Hash32) {
        if self.hashes.back().is_some_and(|&(last, _)| last >= seq) {
            return;
        }
        if self.hashes.len() == LOOKBACK {
            self.hashes.pop_front();
        }
        self.hashes.push_back((seq, hash));
    }

    fn get(&self, seq: u64) -> Option<Hash32> {
        let index = self.hashes.binary_search_by_key(&seq, |&(s, _)| s).ok()?;
        Some(self.hashes[index].1)
    }
}

impl Verifier<'_> {
    /// Every envelope taken into the chain: checked when it records a
    /// checkpoint's token, then remembered.
    pub(super) fn checkpoint_stamps(&mut self, envelope: &Envelope, at: At) {
        if envelope.body.event_type == LOG_TIMESTAMPED {
            self.checkpoint_stamp(envelope, at);
        }
        self.recent_hashes.push(envelope.body.seq, envelope.hash);
    }

    fn checkpoint_stamp(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let payload = super::control_payload(body);
        let read = CheckpointStamp::from_payload(&payload)
            .map_err(|e| e.to_string())
            .and_then(|stamp| {
                let read = stamp.read_checkpoint().map_err(|e| e.to_string())?;
                let size = read.checkpoint.size;
                if size == 0 || size >= body.seq {
                    return Err(format!(
                        "a checkpoint of {size} envelopes, recorded at seq {}",
                        body.seq
                    ));
                }
                Ok((stamp, read))
            });
        let (stamp, read) = match read {
            Ok(read) => read,
            Err(why) => {
                let message = format!("the arxi.log.timestamped payload: {why}");
                self.find(Code::TimestampMalformed, at, message, None, None);
                return;
            }
        };
        let imprint = CheckpointStamp::imprint(&read);
        let subject = (Stamped::Checkpoint, &imprint, body.received_at);
        let check = check_stamp(&stamp.token, subject, &self.timestamp_policy);
        self.token_findings(&check, at);
        let size = read.checkpoint.size;
        let last = self.recent_hashes.get(size);
        let root_holds = last.is_none_or(|hash| stamp.check_inclusion(&read, &hash).is_ok());
        if !root_holds {
            self.find(
                Code::TimestampCheckpointMismatch,
                at,
                format!("the checkpoint is not of this chain: envelope {size}'s leaf does not lead to its root"),
                Some(read.checkpoint.root.to_hex()),
                Some("another root".into()),
            );
        }
        if self.report.timestamps.len() < TIMESTAMP_REPORTS_MAX {
            self.report.timestamps.push(TimestampReport {
                segment_id: body.segment_id,
                tsa: stamp.tsa,
                gen_time: check.gen_time,
                trusted: check.trusted && root_holds,
                holds: check.holds() && root_holds,
                signer: check.signer,
                checkpoint: Some((size, last.is_some())),
            });
        }
    }
}
