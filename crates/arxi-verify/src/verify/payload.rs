//! Payload disclosure records (`P`) against the version 2 envelopes they
//! follow, and erasure records (`arxi.payload.erased`) against the
//! erasure claims.
//!
//! Rules (`Docs/format.md` §11.4, "P" and rule C4):
//!
//! - Right after every version 2 envelope that parses comes exactly one `P`
//!   record (before its attachments); another record, or the end of the
//!   contents, instead is `payload_record_missing` at the envelope. A `P`
//!   record anywhere else is `payload_record_unexpected` and ignored.
//! - It parses and is canonical, else `payload_record_malformed`. A
//!   disclosed content naming an `actor` or `subject` the envelope carries
//!   in clear, and an erasure claim by an envelope that is not after it,
//!   are `payload_record_malformed` too.
//! - Disclosed: `SHA-256("arxi.payload.v2" || 0x00 || salt || content)` is
//!   the envelope's `payload_commitment`, else
//!   `payload_commitment_mismatch`.
//! - Erased by `N`, with `N` within the manifest's range: the envelope of
//!   the chain with `seq` `N` is an `arxi.payload.erased` listing it; an
//!   `arxi.payload.erased` of the chain lists only envelopes whose `P`
//!   record says erased by it (those of the bundle, at or after the
//!   manifest's `first_seq`). Either way `payload_erasure_mismatch`. An
//!   erasure record beyond the bundle is not checked here (the report says
//!   which envelope it is).
//! - An `arxi.payload.erased` payload breaking rule C4 is
//!   `erasure_record_invalid`.
//!
//! Every envelope's payload state goes into the report
//! ([`crate::report::PayloadStates`]): disclosed and matched, mismatched,
//! withheld, erased (by which envelope), or missing.
//!
//! Memory: one expected record, and the claims whose erasure record lies
//! later in the same bundle (released when that record is read).

use std::collections::HashMap;

use arxi_format::Hash32;
use arxi_format::envelope::Envelope;
use arxi_format::payload::{Disclosure, ErasureRecord};

use super::{At, Verifier};
use crate::report::{Code, PayloadState};

/// The erasure record's control type.
pub(super) const PAYLOAD_ERASED: &str = "arxi.payload.erased";

/// The version 2 envelope whose `P` record comes next.
#[derive(Debug, Clone)]
struct Expected {
    at: At,
    seq: u64,
    commitment: Hash32,
    clear_actor: bool,
    clear_subject: bool,
}

/// What this module tracks between records.
#[derive(Debug, Default)]
pub(super) struct Payloads {
    expected: Option<Expected>,
    /// Erasure claims whose erasure record lies within the manifest's
    /// range: erasure `seq` to the claiming envelopes (seq, where).
    claims: HashMap<u64, Vec<(u64, At)>>,
}

impl Verifier<'_> {
    /// After an envelope that parsed: a version 2 one expects its `P`
    /// record next.
    pub(super) fn expect_disclosure(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        if let Some(commitment) = body.payload.commitment() {
            self.payloads.expected = Some(Expected {
                at,
                seq: body.seq,
                commitment: *commitment,
                clear_actor: body.actor.is_some(),
                clear_subject: body.subject.is_some(),
            });
        }
    }

    /// Another record than `P` came (or the contents ended): an expected
    /// `P` record is missing.
    pub(super) fn settle_disclosure(&mut self, next: &str) {
        let Some(expected) = self.payloads.expected.take() else {
            return;
        };
        self.report
            .payloads
            .push(expected.seq, PayloadState::Missing);
        self.find(
            Code::PayloadRecordMissing,
            expected.at,
            "a version 2 envelope without its payload record",
            Some("a P record".into()),
            Some(next.into()),
        );
    }

    /// A `P` record.
    pub(super) fn disclosure(&mut self, payload: &[u8], at: At) {
        self.body_started = true;
        let Some(expected) = self.payloads.expected.take() else {
            let message = "no version 2 envelope right before this payload record";
            self.find(Code::PayloadRecordUnexpected, at, message, None, None);
            return;
        };
        let at = At {
            record: at.record,
            offset: at.offset,
            ..expected.at
        };
        let disclosure = match Disclosure::parse(payload) {
            Ok(disclosure) if disclosure.to_canonical_bytes() == payload => disclosure,
            Ok(_) => return self.malformed(&expected, at, "not in its canonical form".into()),
            Err(error) => return self.malformed(&expected, at, error.to_string()),
        };
        let state = match disclosure {
            Disclosure::Disclosed { content, salt } => {
                if (content.actor.is_some() && expected.clear_actor)
                    || (content.subject.is_some() && expected.clear_subject)
                {
                    let why = "discloses a label the envelope carries in clear".to_owned();
                    return self.malformed(&expected, at, why);
                }
                self.commitment_matches(&expected, &content.commitment(&salt), at)
            }
            Disclosure::Withheld => PayloadState::Withheld,
            Disclosure::Erased { erased_by } if erased_by <= expected.seq => {
                let why = format!("erased by seq {erased_by}, not after the envelope");
                return self.malformed(&expected, at, why);
            }
            Disclosure::Erased { erased_by } => {
                self.claim_erasure(expected.seq, erased_by, at);
                PayloadState::Erased { erased_by }
            }
        };
        self.report.payloads.push(expected.seq, state);
    }

    fn malformed(&mut self, expected: &Expected, at: At, why: String) {
        self.report
            .payloads
            .push(expected.seq, PayloadState::Missing);
        self.find(Code::PayloadRecordMalformed, at, why, None, None);
    }

    fn commitment_matches(
        &mut self,
        expected: &Expected,
        computed: &Hash32,
        at: At,
    ) -> PayloadState {
        if *computed == expected.commitment {
            return PayloadState::Disclosed;
        }
        self.find(
            Code::PayloadCommitmentMismatch,
            at,
            "the disclosed payload does not match the envelope's commitment",
            Some(expected.commitment.to_hex()),
            Some(computed.to_hex()),
        );
        PayloadState::Mismatched
    }

    /// Remembers a claim whose erasure record the bundle should hold.
    fn claim_erasure(&mut self, seq: u64, erased_by: u64, at: At) {
        let within = self
            .manifest
            .as_ref()
            .is_some_and(|manifest| erased_by <= manifest.last_seq);
        if within {
            self.payloads
                .claims
                .entry(erased_by)
                .or_default()
                .push((seq, at));
        }
    }

    /// For an envelope taken into the chain: the claims it settles, and,
    /// for an erasure record, rule C4 and what it lists.
    pub(super) fn erasure_semantics(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let claims = self.payloads.claims.remove(&body.seq);
        if body.event_type != PAYLOAD_ERASED {
            for (seq, claim_at) in claims.into_iter().flatten() {
                self.find(
                    Code::PayloadErasureMismatch,
                    claim_at,
                    format!(
                        "claims erasure by seq {}, which is no erasure record",
                        body.seq
                    ),
                    Some(format!("{} at seq {}", PAYLOAD_ERASED, body.seq)),
                    Some(format!(
                        "{} at seq {} (for seq {seq})",
                        body.event_type, body.seq
                    )),
                );
            }
            return;
        }
        let record = match ErasureRecord::from_payload(&super::control_payload(body), body.seq) {
            Ok(record) => record,
            Err(error) => {
                let found = Some(error.to_string());
                let message = "the erasure record's payload breaks rule C4";
                self.find(Code::ErasureRecordInvalid, at, message, None, found);
                return;
            }
        };
        self.erasure_lists(&record, claims.into_iter().flatten().collect(), at);
    }

    /// An erasure record against the claims naming it.
    fn erasure_lists(&mut self, record: &ErasureRecord, claims: Vec<(u64, At)>, at: At) {
        let first = self.manifest.as_ref().map(|manifest| manifest.first_seq);
        let erasure_seq = at.seq.expect("an envelope's place names its seq");
        for seq in &record.seqs {
            let in_bundle = first.is_some_and(|first| *seq >= first);
            if in_bundle && !claims.iter().any(|(claimed, _)| claimed == seq) {
                self.find(
                    Code::PayloadErasureMismatch,
                    at,
                    format!("lists seq {seq}, whose payload record does not say erased by it"),
                    Some(format!("seq {seq} erased by seq {erasure_seq}")),
                    Some(format!("seq {seq} not claimed erased by seq {erasure_seq}")),
                );
            }
        }
        for (seq, claim_at) in claims {
            if record.seqs.binary_search(&seq).is_err() {
                self.find(
                    Code::PayloadErasureMismatch,
                    claim_at,
                    format!("claims erasure by seq {erasure_seq}, which does not list it"),
                    Some(format!("seq {seq} listed by seq {erasure_seq}")),
                    Some(format!("seq {seq} erased by seq {erasure_seq}")),
                );
            }
        }
    }

    /// At the end of the contents: an expected `P` record is missing, and
    /// claims whose erasure record was never met are unbacked.
    pub(super) fn payloads_at_end(&mut self) {
        self.settle_disclosure("the end of the contents");
        let mut claims: Vec<(u64, Vec<(u64, At)>)> = self.payloads.claims.drain().collect();
        claims.sort_by_key(|(erased_by, _)| *erased_by);
        for (erased_by, claims) in claims {
            for (seq, claim_at) in claims {
                self.find(
                    Code::PayloadErasureMismatch,
                    claim_at,
                    format!("claims erasure by seq {erased_by}, which the chain does not hold"),
                    Some(format!("{PAYLOAD_ERASED} at seq {erased_by}")),
                    Some(format!(
                        "no envelope of the chain at seq {erased_by} (for seq {seq})"
                    )),
                );
            }
        }
    }
}
