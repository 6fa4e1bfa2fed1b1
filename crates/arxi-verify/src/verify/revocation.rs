//! Key revocations (`arxi.key.revoked`, `Docs/format.md` §10 rule C5 and
//! §11.4 rule R): what a revoked key signed from its `from_seq` on.
//!
//! Rules, for the envelopes of the chain and the seals, in file order:
//!
//! - An `arxi.key.revoked` envelope's payload holds exactly `key_id`,
//!   `from_seq` (at least 1) and `reason` (1 to 512 characters, no control
//!   characters), and the envelope is not signed by the key it revokes,
//!   else `key_revocation_invalid`. A payload that parses is used (signed
//!   by the revoked key or not): the key is revoked from `from_seq` on (the
//!   lowest `from_seq` when it is revoked more than once). At most 1,024
//!   keys are remembered as revoked; a revocation of one more key is
//!   `key_revocation_invalid` and not used.
//! - Once met, every later envelope of the chain signed by a revoked key
//!   with `seq` at or after its `from_seq`, every later seal signed by it
//!   whose `last_seq` is at or after it, and the trailer when it is signed
//!   by it and the last envelope of the chain is at or after it, are
//!   `key_revoked_signature`.
//! - What came before the record: for every key a key record names, the
//!   verifier remembers the highest `seq` it signed (envelopes of the
//!   chain: `seq`; seals: `last_seq`). When a revocation is met and that
//!   highest `seq` is at or after `from_seq`, one `key_revoked_signature`
//!   is reported at the revocation envelope (found: that `seq`). So memory
//!   stays bounded by the key records, and nothing the key signed past its
//!   end goes unreported.
//! - Revocations met in earlier bundles of a series are given in
//!   [`crate::Options::revoked`] and apply from the first record; the
//!   report returns every revocation known at its end
//!   ([`crate::Report::revoked`]) for the next bundle. What a key signed
//!   in an earlier bundle, before the one holding its revocation, is not
//!   judged again here: the series check does it, from each report's
//!   [`crate::Report::signed_up_to`] (see [`crate::series`]).

use std::collections::{BTreeMap, HashMap};

use arxi_format::KeyId;
use arxi_format::bundle::KEY_RECORDS_MAX;
use arxi_format::envelope::Envelope;
use arxi_format::revocation::{KEY_REVOKED, KeyRevocation};

use super::{At, Verifier};
use crate::report::Code;

/// The revocations known and what the keys signed.
#[derive(Debug, Default)]
pub(super) struct Revocations {
    /// Revoked keys and the first `seq` each is no longer valid for.
    pub(super) revoked: BTreeMap<KeyId, u64>,
    /// The highest `seq` each key named by a key record signed so far.
    highest_signed: HashMap<KeyId, u64>,
}

impl Revocations {
    /// Starting from the keys earlier bundles revoked.
    pub(super) fn carried(revoked: BTreeMap<KeyId, u64>) -> Self {
        Self {
            revoked,
            highest_signed: HashMap::new(),
        }
    }

    /// The highest `seq` each key signed, for the report.
    pub(super) fn signed_up_to(&self) -> BTreeMap<KeyId, u64> {
        self.highest_signed
            .iter()
            .map(|(key_id, seq)| (key_id.clone(), *seq))
            .collect()
    }
}

impl Verifier<'_> {
    /// An envelope of the chain: its signer against the revocations, then
    /// a revocation it records.
    pub(super) fn revocation_envelope(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        self.revoked_signer(&body.key_id, body.seq, "envelope", at);
        if body.event_type == KEY_REVOKED {
            self.revocation_record(envelope, at);
        }
    }

    /// A seal that parsed, signed by `key_id`, ending at `last_seq`.
    pub(super) fn revocation_seal(&mut self, key_id: &KeyId, last_seq: u64, at: At) {
        self.revoked_signer(key_id, last_seq, "seal", at);
    }

    /// The trailer, signed by `key_id`, when the chain ends at `last_seq`.
    pub(super) fn revocation_trailer(&mut self, key_id: &KeyId, last_seq: u64, at: At) {
        self.revoked_at(key_id, last_seq, "last", at);
    }

    /// The witnessed anchor's checkpoint of `size` leaves, signed by
    /// `key_id` (its last leaf is the envelope of `seq` = `size`).
    pub(super) fn revocation_checkpoint(&mut self, key_id: &KeyId, size: u64, at: At) {
        self.revoked_at(key_id, size, "checkpoint tree size", at);
    }

    /// A record signed by `key_id` reaching `seq`.
    fn revoked_signer(&mut self, key_id: &KeyId, seq: u64, what: &str, at: At) {
        self.revoked_at(key_id, seq, what, at);
        if self.key_records.covers(key_id) || self.delegations.covers(key_id) {
            let highest = self
                .revocations
                .highest_signed
                .entry(key_id.clone())
                .or_insert(seq);
            *highest = (*highest).max(seq);
        }
    }

    /// A delegation the root `root` signed at `first_seq`: judged as a
    /// record of the root reaching `first_seq`.
    pub(super) fn revocation_delegation(&mut self, root: &KeyId, first_seq: u64, at: At) {
        self.revoked_at(root, first_seq, "delegation first", at);
        let highest = self
            .revocations
            .highest_signed
            .entry(root.clone())
            .or_insert(first_seq);
        *highest = (*highest).max(first_seq);
    }

    /// The finding for what `key_id` signed reaching `seq`, when that is
    /// at or after the key's revocation, or its root's (a delegated key
    /// is revoked with the root that delegated it).
    fn revoked_at(&mut self, key_id: &KeyId, seq: u64, what: &str, at: At) {
        let root = self.delegations.root_of(key_id).cloned();
        for revoked in std::iter::once(key_id.clone()).chain(root) {
            if let Some(&from_seq) = self.revocations.revoked.get(&revoked)
                && seq >= from_seq
            {
                self.revoked_finding(&revoked, from_seq, format!("{what} seq {seq}"), at);
                return;
            }
        }
    }

    fn revoked_finding(&mut self, key_id: &KeyId, from_seq: u64, found: String, at: At) {
        self.find(
            Code::KeyRevokedSignature,
            at,
            format!("signed by {key_id}, which is revoked from seq {from_seq}"),
            Some(format!("{key_id} revoked from seq {from_seq}")),
            Some(found),
        );
    }

    /// An `arxi.key.revoked` envelope of the chain.
    fn revocation_record(&mut self, envelope: &Envelope, at: At) {
        let payload = super::control_payload(&envelope.body);
        let revocation = match KeyRevocation::from_payload(&payload) {
            Ok(revocation) => revocation,
            Err(error) => {
                let message = format!("the revocation's payload: {error}");
                self.find(Code::KeyRevocationInvalid, at, message, None, None);
                return;
            }
        };
        if revocation.key_id == envelope.body.key_id {
            self.find(
                Code::KeyRevocationInvalid,
                at,
                "the revocation is signed by the key it revokes",
                Some(format!("a key other than {}", revocation.key_id)),
                Some(envelope.body.key_id.to_string()),
            );
        }
        let revoked = &self.revocations.revoked;
        if !revoked.contains_key(&revocation.key_id) && revoked.len() >= KEY_RECORDS_MAX {
            let message = format!("more than {KEY_RECORDS_MAX} revoked keys (not used)");
            self.find(Code::KeyRevocationInvalid, at, message, None, None);
            return;
        }
        let from_seq = self
            .revocations
            .revoked
            .entry(revocation.key_id.clone())
            .or_insert(revocation.from_seq);
        *from_seq = (*from_seq).min(revocation.from_seq);
        let from_seq = *from_seq;
        if let Some(&highest) = self.revocations.highest_signed.get(&revocation.key_id)
            && highest >= from_seq
        {
            let found = format!("signed up to seq {highest} before the revocation");
            self.revoked_finding(&revocation.key_id, from_seq, found, at);
        }
        // The keys the revoked key delegated go with it.
        let mut delegated: Vec<(KeyId, u64)> = self
            .delegations
            .delegated_by(&revocation.key_id)
            .filter_map(|key| Some((key.clone(), *self.revocations.highest_signed.get(key)?)))
            .filter(|(_, highest)| *highest >= from_seq)
            .collect();
        delegated.sort();
        for (key, highest) in delegated {
            let found =
                format!("{key}, delegated by it, signed up to seq {highest} before the revocation");
            self.revoked_finding(&revocation.key_id, from_seq, found, at);
        }
    }
}
