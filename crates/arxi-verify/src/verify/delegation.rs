//! Key delegations (`D` records and `arxi.key.delegated` key events,
//! `Docs/format.md` §3.1 and §11.4 rule "D").
//!
//! - A delegation record parses under the strict record rules and is
//!   canonical, else `key_delegation_invalid` (ignored when it does not
//!   parse). At most 1,024 are used; each one beyond is
//!   `key_delegation_invalid` and ignored. It stands before every `E`, `A`
//!   and `S` record, else `key_record_out_of_place` (still used). It names
//!   its key for the `key_record_missing` rule, as a key record does.
//! - A delegation whose root is trusted (given with `--key`, not itself a
//!   delegated key) must hash to its `hash` and verify under the root with
//!   context `arxi.delegation.v1`, else `key_delegation_invalid` and it is
//!   not used. A root given with a window must have its window cover the
//!   delegation's `first_seq`, else `key_outside_window` and it is not
//!   used. A second delegation of one key is `key_delegation_invalid` and
//!   not used. A used delegation makes its key trusted with the window
//!   `first_seq..last_seq` (the root's window cut to it) and with the time
//!   window `not_before..not_after`: an envelope it signs whose
//!   `received_at` is outside the time window is `key_outside_window`.
//!   What a delegated key signs is also judged by its root's revocation
//!   (`revocation`): a root revoked from `seq` N revokes its delegated
//!   keys from N too.
//! - A delegated key the auditor also trusts directly keeps that trust
//!   (and its window, if any); its delegation is checked but not used.
//! - A delegation whose root is not trusted is not used: its key stays
//!   untrusted (its records are `envelope_untrusted_key`,
//!   `seal_untrusted_key`).
//! - An `arxi.key.delegated` key event (rule K, `keys`) must carry, in
//!   `delegation`, exactly the `D` record of its key when the bundle holds
//!   one (compared as parsed records, not as bytes), else
//!   `key_delegation_invalid`.

use std::collections::HashMap;

use arxi_format::bundle::DELEGATION_RECORDS_MAX;
use arxi_format::delegation::{Delegation, KeyDelegated};
use arxi_format::envelope::Envelope;
use arxi_format::{KeyId, PublicKey};

use super::{At, Verifier};
use crate::report::Code;
use crate::window::SeqWindow;

/// The delegations read and the keys they made trusted.
#[derive(Debug, Default)]
pub(super) struct Delegations {
    read: usize,
    /// Each delegation record that parsed, by its key (the first one).
    records: HashMap<KeyId, Delegation>,
    /// The delegations used (rule D5), by the key they made trusted.
    used: HashMap<KeyId, Delegation>,
}

impl Delegations {
    /// A delegation record read before now names `key_id`.
    pub(super) fn covers(&self, key_id: &KeyId) -> bool {
        self.records.contains_key(key_id)
    }

    /// The root the delegation record of `key_id` names, if one was read.
    pub(super) fn named_root(&self, key_id: &KeyId) -> Option<&KeyId> {
        Some(&self.records.get(key_id)?.body.root_key_id)
    }

    /// The public key of `key_id`, when a used delegation made it trusted.
    pub(super) fn trusted(&self, key_id: &KeyId) -> Option<&PublicKey> {
        Some(&self.used.get(key_id)?.body.public_key)
    }

    /// The root of the used delegation of `key_id`.
    pub(super) fn root_of(&self, key_id: &KeyId) -> Option<&KeyId> {
        Some(&self.used.get(key_id)?.body.root_key_id)
    }

    /// The keys the used delegations of `root` made trusted.
    pub(super) fn delegated_by<'a>(&'a self, root: &'a KeyId) -> impl Iterator<Item = &'a KeyId> {
        self.used
            .iter()
            .filter(move |(_, delegation)| delegation.body.root_key_id == *root)
            .map(|(key_id, _)| key_id)
    }
}

impl Verifier<'_> {
    /// A `D` record.
    pub(super) fn delegation_record(&mut self, payload: &[u8], at: At) {
        self.delegations.read += 1;
        if self.delegations.read > DELEGATION_RECORDS_MAX {
            let message =
                format!("more than {DELEGATION_RECORDS_MAX} delegation records (ignored)");
            self.find(Code::KeyDelegationInvalid, at, message, None, None);
            return;
        }
        let delegation = match Delegation::parse(payload) {
            Ok(delegation) => delegation,
            Err(error) => {
                self.find(
                    Code::KeyDelegationInvalid,
                    at,
                    error.to_string(),
                    None,
                    None,
                );
                return;
            }
        };
        let key_id = delegation.body.key_id().clone();
        if self.delegations.records.contains_key(&key_id) {
            self.find(
                Code::KeyDelegationInvalid,
                at,
                "a second delegation of the same key (ignored)",
                None,
                Some(key_id.to_string()),
            );
            return;
        }
        if delegation.to_canonical_bytes() != payload {
            let message = "the delegation record is not canonical";
            self.find(Code::KeyDelegationInvalid, at, message, None, None);
        }
        if self.body_started {
            let message = "a delegation record after the first envelope, payload disclosure, attachment or seal";
            self.find(Code::KeyRecordOutOfPlace, at, message, None, None);
        }
        self.adopt(&delegation, at);
        self.delegations.records.insert(key_id, delegation);
    }

    /// Trusts the delegated key when a trusted root signed the delegation
    /// and its window allows.
    fn adopt(&mut self, delegation: &Delegation, at: At) {
        let body = &delegation.body;
        let Some(root) = self.trusted.get(&body.root_key_id).cloned() else {
            return;
        };
        if delegation.verify(&root).is_err() {
            self.find(
                Code::KeyDelegationInvalid,
                at,
                "the delegation does not verify under its root (hash or signature)",
                Some(body.root_key_id.to_string()),
                Some(body.key_id().to_string()),
            );
            return;
        }
        if self.trusted.contains_key(body.key_id()) {
            // Trusted by the auditor directly: their word (and window, if
            // any) stands, a delegation neither widens nor narrows it.
            return;
        }
        let root_window = self.windows.get(&body.root_key_id).copied();
        let window = match SeqWindow::delegated(body.first_seq, body.last_seq, root_window) {
            Ok(window) => window,
            Err(root_window) => {
                self.find(
                    Code::KeyOutsideWindow,
                    at,
                    format!(
                        "a delegation signed by {} at seq {}, which is trusted only for seq {root_window}",
                        body.root_key_id, body.first_seq
                    ),
                    Some(format!("{}@{root_window}", body.root_key_id)),
                    Some(format!("seq {}", body.first_seq)),
                );
                return;
            }
        };
        self.revocation_delegation(&body.root_key_id, body.first_seq, at);
        self.windows.insert(body.key_id().clone(), window);
        self.delegations
            .used
            .insert(body.key_id().clone(), delegation.clone());
    }

    /// An envelope signed by a trusted key: its receive time against its
    /// key's time window, when the key is delegated.
    pub(super) fn within_time_window(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let Some(used) = self.delegations.used.get(&body.key_id) else {
            return;
        };
        let (not_before, not_after) = (used.body.not_before, used.body.not_after);
        if (not_before..=not_after).contains(&body.received_at) {
            return;
        }
        self.find(
            Code::KeyOutsideWindow,
            at,
            format!(
                "an envelope received at {} signed by {}, which is delegated only from {not_before} to {not_after}",
                body.received_at, body.key_id
            ),
            Some(format!("{}@{not_before}..{not_after}", body.key_id)),
            Some(format!("received_at {}", body.received_at)),
        );
    }

    /// An `arxi.key.delegated` key event: its delegation against the `D`
    /// record of its key. Answers the payload member at fault, if any.
    pub(super) fn delegated_event(&mut self, envelope: &Envelope, at: At) -> Option<&'static str> {
        let payload = super::control_payload(&envelope.body);
        let Ok(event) = KeyDelegated::from_payload(&payload) else {
            return Some("delegation");
        };
        let key_id = event.delegation.body.key_id();
        if let Some(record) = self.delegations.records.get(key_id)
            && *record != event.delegation
        {
            self.find(
                Code::KeyDelegationInvalid,
                at,
                "the key event's delegation is not the bundle's delegation record of its key",
                None,
                Some(key_id.to_string()),
            );
        }
        None
    }
}
