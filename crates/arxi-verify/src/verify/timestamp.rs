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
use arxi_format::tsp::{Token, TsaTrust, TspError};
use arxi_format::{Hash32, Timestamp};

use super::{At, Verifier};
use crate::report::{Code, TIMESTAMP_REPORTS_MAX, TimestampReport};

/// The default of `--timestamp-tolerance`: how far a token's `genTime`
/// may be from the seal's `sealed_at`.
pub const TOLERANCE_DEFAULT_SECONDS: u64 = 300;

/// What an auditor asks of timestamp tokens.
#[derive(Debug, Clone)]
pub struct TimestampPolicy {
    /// The TSA certificates trusted (`--tsa-cert`): TSA certificates or
    /// CA certificates that issue them.
    pub trust: TsaTrust,
    /// How far `genTime` may be from `sealed_at`, in seconds.
    pub tolerance_seconds: u64,
    /// Every seal must carry a trusted token (`--require-timestamp`).
    pub required: bool,
}

impl Default for TimestampPolicy {
    fn default() -> Self {
        Self {
            trust: TsaTrust::new(),
            tolerance_seconds: TOLERANCE_DEFAULT_SECONDS,
            required: false,
        }
    }
}

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
        let Some((record, token)) = self.read_timestamp(payload, at) else {
            return;
        };
        let info = token.info().clone();
        if info.imprint != stamped.hash {
            self.find(
                Code::TimestampImprintMismatch,
                at,
                "the token is over another hash than the seal's",
                Some(stamped.hash.to_hex()),
                Some(info.imprint.to_hex()),
            );
            self.timestamp_report(&stamped, record.tsa, None, (false, false));
            return;
        }
        let skewed = self.timestamp_skew(&stamped, &token, at);
        let (signer, judged) = self.timestamp_signer(&token, at);
        let trusted = judged && signer.is_some() && !self.timestamp_policy.trust.is_empty();
        let holds = judged && !skewed;
        if holds
            && trusted
            && let Some(stamped) = self.timestamps.stamped.as_mut()
        {
            stamped.trusted += 1;
        }
        self.timestamp_report(
            &stamped,
            record.tsa,
            Some((&token, signer)),
            (trusted, holds),
        );
    }

    /// The record and its token, parsed; a finding and `None` otherwise.
    fn read_timestamp(&mut self, payload: &[u8], at: At) -> Option<(TimestampRecord, Token)> {
        let record = match TimestampRecord::parse(payload) {
            Ok(record) => record,
            Err(error) => {
                self.find(Code::TimestampMalformed, at, error.to_string(), None, None);
                return None;
            }
        };
        if record.to_canonical_bytes() != payload {
            let message = "stored bytes are not the canonical form";
            self.find(Code::TimestampMalformed, at, message, None, None);
            return None;
        }
        match Token::parse(&record.token) {
            Ok(token) => Some((record, token)),
            Err(error) => {
                let code = match &error {
                    TspError::Imprint(_) => Code::TimestampImprintMismatch,
                    TspError::Signature(_) => Code::TimestampSignatureInvalid,
                    _ => Code::TimestampMalformed,
                };
                self.find(code, at, error.to_string(), None, None);
                None
            }
        }
    }

    /// Rule T5; true when it fails.
    fn timestamp_skew(&mut self, stamped: &Stamped, token: &Token, at: At) -> bool {
        let info = token.info();
        let allowed = i128::from(self.timestamp_policy.tolerance_seconds) * 1_000_000
            + i128::from(info.accuracy_micros);
        let skew = i128::from(info.gen_time_micros) - i128::from(stamped.sealed_at.unix_micros());
        if skew.abs() <= allowed {
            return false;
        }
        let gen_time = Timestamp::from_unix_micros(info.gen_time_micros).map_or_else(
            || format!("{} µs", info.gen_time_micros),
            |time| time.to_string(),
        );
        self.find(
            Code::TimestampTimeSkew,
            at,
            format!(
                "genTime is {:.3} s {} the seal's sealed_at",
                skew.unsigned_abs() as f64 / 1e6,
                if skew < 0 { "before" } else { "after" }
            ),
            Some(format!(
                "{} ± {} s",
                stamped.sealed_at, self.timestamp_policy.tolerance_seconds
            )),
            Some(gen_time),
        );
        true
    }

    /// Rules T3 and T4: the signer's subject when the signature verified
    /// (and, with certificates given, the signer is trusted), and whether
    /// no finding was made.
    fn timestamp_signer(&mut self, token: &Token, at: At) -> (Option<String>, bool) {
        let trust = &self.timestamp_policy.trust;
        let judge_trust = !trust.is_empty();
        match token.verify(trust) {
            Ok(subject) => (Some(subject), true),
            Err(TspError::Signature(why)) => {
                self.find(Code::TimestampSignatureInvalid, at, why, None, None);
                (None, false)
            }
            Err(error @ (TspError::Certificate(_) | TspError::Untrusted(_))) if judge_trust => {
                let message = "the token's signer is not a trusted TSA";
                self.find(
                    Code::TimestampUntrusted,
                    at,
                    message,
                    None,
                    Some(error.to_string()),
                );
                (None, false)
            }
            Err(TspError::Certificate(_) | TspError::Untrusted(_)) => (None, true),
            Err(error) => {
                self.find(Code::TimestampMalformed, at, error.to_string(), None, None);
                (None, false)
            }
        }
    }

    fn timestamp_report(
        &mut self,
        stamped: &Stamped,
        tsa: String,
        token: Option<(&Token, Option<String>)>,
        (trusted, holds): (bool, bool),
    ) {
        if self.report.timestamps.len() >= TIMESTAMP_REPORTS_MAX {
            return;
        }
        let (gen_time, signer) = match token {
            Some((token, signer)) => (
                Timestamp::from_unix_micros(token.info().gen_time_micros),
                signer,
            ),
            None => (None, None),
        };
        self.report.timestamps.push(TimestampReport {
            segment_id: stamped.segment_id,
            tsa,
            gen_time,
            signer,
            trusted,
            holds,
        });
    }
}
