//! Timestamp records (`T`): RFC 3161 tokens over the seal before them.
//!
//! Rules (`Docs/format.md` §11.9, rule T), for every `T` record:
//!
//! - T1: it follows a seal record that parsed, or another `T` record after
//!   it, else `timestamp_out_of_place` (not used). At most 16 follow one
//!   seal; more are `timestamp_malformed` (not used).
//! - It parses under the strict record rules and is canonical, and its
//!   token is an RFC 3161 token as [`arxi_format::tsp`] reads one, else
//!   `timestamp_malformed` (not used).
//! - T2: the token's imprint is SHA-256 and equals the seal's stored hash,
//!   else `timestamp_imprint_mismatch` (not used further).
//! - T3: the message-digest attribute is the digest of the `TSTInfo` and
//!   the signature over the signed attributes verifies under the signer's
//!   certificate (from the token or the given TSA certificates), else
//!   `timestamp_signature_invalid`.
//! - T4: with TSA certificates given, the signer chains to one of them,
//!   its certificate allows timestamping, and every certificate on the way
//!   was valid at `genTime`, else `timestamp_untrusted`. With none given,
//!   tokens are not judged on trust (the report says `trusted: false`).
//! - T5: `genTime` is within the tolerance (plus the token's accuracy) of
//!   the seal's `sealed_at`, else `timestamp_time_skew`.
//! - T6: under a timestamp policy, every seal is followed by at least one
//!   token that holds T2 to T5 and is trusted, else `timestamp_missing`
//!   (at the seal).

use arxi_format::bundle::Tag;
use arxi_format::timestamp::{TIMESTAMPS_PER_SEAL_MAX, TimestampRecord};
use arxi_format::{Hash32, Timestamp};

use super::{At, Verifier};
use crate::report::{Code, TIMESTAMP_REPORTS_MAX, TimestampReport};
use crate::stamps::{TokenCheck, check_token};

/// The seal the next `T` records stamp.
#[derive(Debug, Clone)]
struct Stamped {
    segment_id: u64,
    last_seq: u64,
    hash: Hash32,
    sealed_at: Timestamp,
    /// Where the seal is (what `timestamp_missing` points at).
    at: At,
    /// `T` records read after it.
    records: usize,
    /// Of those, tokens that held every rule and are trusted.
    trusted: usize,
}

/// The timestamp records' state.
#[derive(Debug, Default)]
pub(super) struct Timestamps {
    stamped: Option<Stamped>,
}

impl Verifier<'_> {
    /// A seal parsed at `at`: the next `T` records stamp it.
    pub(super) fn timestamps_after_seal(
        &mut self,
        (segment_id, last_seq): (u64, u64),
        hash: Hash32,
        sealed_at: Timestamp,
        at: At,
    ) {
        self.timestamps.stamped = Some(Stamped {
            segment_id,
            last_seq,
            hash,
            sealed_at,
            at,
            records: 0,
            trusted: 0,
        });
    }

    /// Before every record: a record other than `T` ends the tokens of the
    /// seal before it (rule T6 is settled then).
    pub(super) fn timestamps_followed_by(&mut self, tag: Tag) {
        if tag != Tag::Timestamp {
            self.settle_timestamps();
        }
    }

    /// Rule T6 for the seal whose tokens have all been read.
    pub(super) fn settle_timestamps(&mut self) {
        let Some(stamped) = self.timestamps.stamped.take() else {
            return;
        };
        if self.timestamp_policy.required && stamped.trusted == 0 {
            self.find(
                Code::TimestampMissing,
                stamped.at,
                "the seal carries no token of a trusted TSA that holds every rule",
                None,
                Some(format!("{} timestamp record(s)", stamped.records)),
            );
        }
    }

    /// A `T` record.
    pub(super) fn timestamp_record(&mut self, payload: &[u8], at: At) {
        let Some(stamped) = self.timestamps.stamped.as_mut() else {
            let message = "the T record does not follow a seal; it is not used";
            self.find(Code::TimestampOutOfPlace, at, message, None, None);
            return;
        };
        stamped.records += 1;
        let stamped = stamped.clone();
        let at = At {
            segment_id: Some(stamped.segment_id),
            seq: Some(stamped.last_seq),
            ..at
        };
        if stamped.records > TIMESTAMPS_PER_SEAL_MAX {
            let message = format!(
                "more than {TIMESTAMPS_PER_SEAL_MAX} T records after one seal; it is not used"
            );
            self.find(Code::TimestampMalformed, at, message, None, None);
            return;
        }
        let Some(record) = self.read_timestamp(payload, at) else {
            return;
        };
        let check = check_token(
            &record.token,
            &stamped.hash,
            stamped.sealed_at,
            &self.timestamp_policy,
        );
        self.token_findings(&check, at);
        if check.trusted
            && let Some(stamped) = self.timestamps.stamped.as_mut()
        {
            stamped.trusted += 1;
        }
        if self.report.timestamps.len() < TIMESTAMP_REPORTS_MAX {
            self.report.timestamps.push(TimestampReport {
                segment_id: stamped.segment_id,
                tsa: record.tsa,
                gen_time: check.gen_time,
                trusted: check.trusted,
                holds: check.holds(),
                signer: check.signer,
                checkpoint: None,
            });
        }
    }

    /// Every rule a token broke, as findings at `at`.
    pub(super) fn token_findings(&mut self, check: &TokenCheck, at: At) {
        for finding in &check.findings {
            self.find(
                finding.code,
                at,
                finding.message.clone(),
                finding.expected.clone(),
                finding.found.clone(),
            );
        }
    }

    /// The record, parsed and canonical; a finding and `None` otherwise.
    fn read_timestamp(&mut self, payload: &[u8], at: At) -> Option<TimestampRecord> {
        match TimestampRecord::parse(payload) {
            Ok(record) if record.to_canonical_bytes() == payload => Some(record),
            Ok(_) => {
                let message = "stored bytes are not the canonical form";
                self.find(Code::TimestampMalformed, at, message, None, None);
                None
            }
            Err(error) => {
                self.find(Code::TimestampMalformed, at, error.to_string(), None, None);
                None
            }
        }
    }
}
