//! Keys: the key records (`K`), the key in force along the chain, and the
//! key events that move it.
//!
//! Key records (`Docs/format.md` §11.2, §11.4):
//!
//! - A key record parses under the strict record rules (its public key must
//!   load, section 3) and is canonical, else `key_record_invalid`; one
//!   that does not parse is ignored. At most 1,024 key records are used;
//!   each one beyond is `key_record_invalid` and ignored.
//! - Its `key_id` is the key id of its `public_key`, else
//!   `key_record_id_mismatch` (the record is still used, under the key id
//!   it states).
//! - It stands before every `E`, `A`, `S` and `P` record, else
//!   `key_record_out_of_place` (still used).
//! - Every envelope and seal that parses is signed by a key id that a key
//!   record read before it states, else `key_record_missing`.
//! - Its `first_seq` is the first envelope its key signed: among the
//!   envelopes of the chain read after it, none with a lower `seq` is
//!   signed by its key, and the one whose `seq` equals `first_seq`, if
//!   present, is signed by its key; else `key_record_first_seq_mismatch`
//!   (reported at the key record when the contents end).
//!
//! The key in force, over the envelopes of the chain in order (it is
//! unknown before the first one):
//!
//! - A key event (`arxi.key.loaded`, `arxi.key.changed`) moves the key in
//!   force to its envelope's `key_id`, whether or not that key is trusted
//!   and its signature valid (those have their own codes). Its payload
//!   must hold `key_id` equal to the envelope's, and `public_key` (64
//!   lowercase hex digits of a key that loads) with that key id, and for
//!   `arxi.key.changed` a `previous_key_id` string, else
//!   `key_event_invalid`. When the key in force before it is known: naming
//!   that same key is `key_event_unchanged`; an `arxi.key.changed` whose
//!   `previous_key_id` is another key, or an `arxi.key.loaded` while
//!   another key is in force, is `key_not_in_force`.
//! - Any other envelope signed by the key in force is fine; while the key
//!   is unknown the first such envelope puts its key in force.
//! - An `arxi.segment.opened` signed by another key (or while the key is
//!   unknown) is held: when the next envelope of the chain is a key event
//!   signed by the same key, the opened envelope is that key event's (the
//!   recorder opens the segment for it) and nothing is reported; otherwise
//!   it is treated as an ordinary envelope then. So a bundle that starts
//!   with a segment opened by a key change starts with the key unknown,
//!   and the key event puts the new key in force.
//! - Any other envelope signed by another key is `key_not_in_force`; the
//!   key in force does not move.
//! - Seals follow the same rule (`key_not_in_force`, trusted or not).

use std::collections::HashMap;

use arxi_format::bundle::{KEY_RECORDS_MAX, KeyRecord};
use arxi_format::delegation::KEY_DELEGATED;
use arxi_format::envelope::Envelope;
use arxi_format::{KeyId, PublicKey};
use serde_json::Value;

use super::chain::SEGMENT_OPENED;
use super::{At, Verifier};
use crate::report::Code;

/// `arxi.key.loaded`.
pub(super) const KEY_LOADED: &str = "arxi.key.loaded";
/// `arxi.key.changed`.
pub(super) const KEY_CHANGED: &str = "arxi.key.changed";

/// The key in force and what waits on it.
#[derive(Debug, Default)]
pub(super) struct KeyState {
    /// `None` while unknown.
    pub(super) in_force: Option<KeyId>,
    /// An `arxi.segment.opened` not signed by the key in force, held until
    /// the next envelope of the chain shows whether a key event follows.
    held: Option<(At, KeyId)>,
    /// The manifest's `key_id` signed an envelope or seal of the bundle.
    pub(super) manifest_key_signed: bool,
}

/// One key record in use.
#[derive(Debug)]
struct Used {
    at: At,
    key_id: KeyId,
    first_seq: u64,
    /// The first envelope of the chain its key signed, after it.
    first_signed: Option<u64>,
    /// An envelope of the chain below `first_seq` is signed by its key, or
    /// the one at `first_seq` by another.
    contradicted: bool,
}

/// The key records in use, found by key id and by `first_seq`.
#[derive(Debug, Default)]
pub(super) struct KeyRecords {
    used: Vec<Used>,
    by_key: HashMap<KeyId, Vec<usize>>,
    by_first_seq: HashMap<u64, Vec<usize>>,
    read: usize,
}

impl KeyRecords {
    /// The key ids of the records in use, in file order.
    pub(super) fn key_ids(&self) -> Vec<KeyId> {
        self.used.iter().map(|used| used.key_id.clone()).collect()
    }

    /// A key record read before now names `key_id`.
    pub(super) fn covers(&self, key_id: &KeyId) -> bool {
        self.by_key.contains_key(key_id)
    }

    /// An envelope of the chain, for the `first_seq` rule.
    pub(super) fn chain_envelope(&mut self, seq: u64, key_id: &KeyId) {
        for &index in self.by_key.get(key_id).into_iter().flatten() {
            let used = &mut self.used[index];
            used.first_signed.get_or_insert(seq);
            if seq < used.first_seq {
                used.contradicted = true;
            }
        }
        for &index in self.by_first_seq.get(&seq).into_iter().flatten() {
            if self.used[index].key_id != *key_id {
                self.used[index].contradicted = true;
            }
        }
    }
}

fn is_key_event(event_type: &str) -> bool {
    event_type == KEY_LOADED || event_type == KEY_CHANGED || event_type == KEY_DELEGATED
}

impl Verifier<'_> {
    pub(super) fn key_record(&mut self, payload: &[u8], at: At) {
        self.key_records.read += 1;
        if self.key_records.read > KEY_RECORDS_MAX {
            let message = format!("more than {KEY_RECORDS_MAX} key records (ignored)");
            self.find(Code::KeyRecordInvalid, at, message, None, None);
            return;
        }
        let (record, key_id) = match KeyRecord::parse_stated(payload) {
            Ok(parsed) => parsed,
            Err(error) => {
                self.find(Code::KeyRecordInvalid, at, error.to_string(), None, None);
                return;
            }
        };
        // The generic canonical form: the typed writer would write the key
        // id of the public key, not the one the record states.
        let canonical = arxi_format::canonical::canonicalize(payload);
        if canonical.as_deref().ok() != Some(payload) {
            let message = "the key record is not canonical";
            self.find(Code::KeyRecordInvalid, at, message, None, None);
        }
        if record.public_key.id() != &key_id {
            self.find(
                Code::KeyRecordIdMismatch,
                at,
                "key_id is not the key id of public_key",
                Some(record.public_key.id().to_string()),
                Some(key_id.to_string()),
            );
        }
        if self.body_started {
            let message =
                "a key record after the first envelope, payload disclosure, attachment or seal";
            self.find(Code::KeyRecordOutOfPlace, at, message, None, None);
        }
        let records = &mut self.key_records;
        let index = records.used.len();
        records
            .by_key
            .entry(key_id.clone())
            .or_default()
            .push(index);
        let first_seq = record.first_seq;
        records
            .by_first_seq
            .entry(first_seq)
            .or_default()
            .push(index);
        records.used.push(Used {
            at,
            key_id,
            first_seq,
            first_signed: None,
            contradicted: false,
        });
    }

    /// An envelope or seal that parsed, signed by `key_id`.
    pub(super) fn signed_by(&mut self, key_id: &KeyId, at: At) {
        if !self.key_records.covers(key_id) && !self.delegations.covers(key_id) {
            self.find(
                Code::KeyRecordMissing,
                at,
                "signed by a key that no key record or delegation record names",
                None,
                Some(key_id.to_string()),
            );
        }
        if self
            .manifest
            .as_ref()
            .is_some_and(|manifest| manifest.key_id == *key_id)
        {
            self.keys.manifest_key_signed = true;
        }
    }

    /// Reports every key record whose `first_seq` the chain contradicts.
    pub(super) fn key_records_at_end(&mut self) {
        let contradicted: Vec<(At, Option<u64>, u64)> = self
            .key_records
            .used
            .iter()
            .filter(|used| used.contradicted)
            .map(|used| (used.at, used.first_signed, used.first_seq))
            .collect();
        for (at, first_signed, first_seq) in contradicted {
            self.find(
                Code::KeyRecordFirstSeqMismatch,
                at,
                "first_seq is not the first envelope the key signed",
                first_signed.map(|seq| seq.to_string()),
                Some(first_seq.to_string()),
            );
        }
    }

    /// The key in force, for one envelope of the chain.
    pub(super) fn key_in_force(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let key_event = is_key_event(&body.event_type);
        if let Some((held_at, held_key)) = self.keys.held.take()
            && !(key_event && body.key_id == held_key)
        {
            self.resolve_held(held_at, held_key);
        }
        if key_event {
            self.key_event(envelope, at);
            return;
        }
        let opened = body.event_type == SEGMENT_OPENED;
        match self.keys.in_force.clone() {
            Some(in_force) if in_force == body.key_id => {}
            _ if opened => self.keys.held = Some((at, body.key_id.clone())),
            None => self.keys.in_force = Some(body.key_id.clone()),
            Some(in_force) => self.not_in_force(at, &in_force, &body.key_id),
        }
    }

    /// A held `arxi.segment.opened` that no key event claimed: an ordinary
    /// envelope after all.
    pub(super) fn settle_held_key(&mut self) {
        if let Some((at, key)) = self.keys.held.take() {
            self.resolve_held(at, key);
        }
    }

    fn resolve_held(&mut self, at: At, key: KeyId) {
        match self.keys.in_force.clone() {
            None => self.keys.in_force = Some(key),
            Some(in_force) => self.not_in_force(at, &in_force, &key),
        }
    }

    pub(super) fn not_in_force(&mut self, at: At, in_force: &KeyId, found: &KeyId) {
        self.find(
            Code::KeyNotInForce,
            at,
            "signed by a key other than the key in force at this point of the chain",
            Some(in_force.to_string()),
            Some(found.to_string()),
        );
    }

    fn key_event(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let payload = super::control_payload(body);
        let mut fault = key_event_fault(envelope, &payload);
        if fault.is_none() && body.event_type == KEY_DELEGATED {
            fault = self.delegated_event(envelope, at);
        }
        if let Some(member) = fault {
            self.find(
                Code::KeyEventInvalid,
                at,
                format!("the key event's {member} does not fit the event"),
                None,
                Some(member.to_owned()),
            );
        }
        if let Some(before) = self.keys.in_force.clone() {
            self.key_event_history(envelope, &payload, &before, at);
        }
        self.keys.in_force = Some(body.key_id.clone());
    }

    /// A key event against the key in force before it.
    fn key_event_history(&mut self, envelope: &Envelope, payload: &Value, before: &KeyId, at: At) {
        let body = &envelope.body;
        if body.key_id == *before {
            self.find(
                Code::KeyEventUnchanged,
                at,
                "the key event names the key already in force",
                Some(format!("a key other than {before}")),
                Some(body.key_id.to_string()),
            );
            return;
        }
        let names_previous = body.event_type == KEY_CHANGED
            || (body.event_type == KEY_DELEGATED && payload["previous_key_id"].is_string());
        if names_previous {
            if let Some(previous) = payload["previous_key_id"].as_str()
                && previous != before.as_str()
            {
                self.find(
                    Code::KeyNotInForce,
                    at,
                    "the key event names another previous key than the one in force",
                    Some(before.to_string()),
                    Some(previous.to_owned()),
                );
            }
        } else {
            self.find(
                Code::KeyNotInForce,
                at,
                "a key event without previous_key_id while another key is in force (a key change must say so)",
                Some(before.to_string()),
                Some(body.key_id.to_string()),
            );
        }
    }
}

/// The first payload member of a key event that does not fit it.
fn key_event_fault(envelope: &Envelope, payload: &Value) -> Option<&'static str> {
    let body = &envelope.body;
    if payload["key_id"].as_str() != Some(body.key_id.as_str()) {
        return Some("key_id");
    }
    let key_loads = payload["public_key"]
        .as_str()
        .filter(|text| text.trim() == *text)
        .and_then(|text| PublicKey::from_hex(text).ok())
        .is_some_and(|key| key.id() == &body.key_id);
    if !key_loads {
        return Some("public_key");
    }
    if body.event_type == KEY_CHANGED && !payload["previous_key_id"].is_string() {
        return Some("previous_key_id");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, json_payload, key, story};
    use arxi_format::bundle::KeyRecord;

    #[test]
    fn key_record_rules() {
        let b = key("b").public().clone();
        let attacker = key("attacker").public().clone();
        // B's record carries the attacker's public key under B's key id.
        let mut swapped = story();
        let index = swapped.key_record_index(&b);
        swapped.edit_record(index, |payload| {
            let text = String::from_utf8(payload.clone()).expect("utf8");
            *payload = text.replace(&b.to_hex(), &attacker.to_hex()).into_bytes();
        });
        check(&swapped.bytes(), &["key_record_id_mismatch"]);
        let mut off = story();
        let index = off.key_record_index(&b);
        off.edit_record(index, |payload| {
            let mut record = KeyRecord::parse(payload).expect("key record");
            record.first_seq += 1;
            *payload = record.to_canonical_bytes();
        });
        check(&off.bytes(), &["key_record_first_seq_mismatch"]);
        // B's record moved after the first envelope.
        let mut late = story();
        let index = late.key_record_index(&b);
        let record = late.records.remove(index);
        let first = late.envelope_index(1);
        late.records.insert(first + 1, record);
        check(&late.bytes(), &["key_record_out_of_place"]);
        // B's record removed, and from the manifest.
        let mut missing = story().edit_manifest(|m| {
            m.keys.pop();
        });
        let index = missing.key_record_index(&b);
        missing.records.remove(index);
        check(&missing.bytes(), &["key_record_missing"]);
        let mut bad = story();
        let index = bad.key_record_index(&b);
        bad.edit_record(index, |payload| payload.push(b' '));
        check(&bad.bytes(), &["key_record_invalid"]);
    }

    #[test]
    fn key_event_rules() {
        let attacker = key("attacker").public().to_hex();
        let wrong_public = story().rewrite(move |body| {
            if body.event_type == "arxi.key.changed" {
                json_payload(body, |payload| {
                    payload["public_key"] = attacker.clone().into();
                });
            }
        });
        check(&wrong_public.bytes(), &["key_event_invalid"]);
        let wrong_previous = story().rewrite(|body| {
            if body.event_type == "arxi.key.changed" {
                json_payload(body, |payload| {
                    payload["previous_key_id"] = "ed25519:00000000000000000000000000000000".into();
                });
            }
        });
        check(&wrong_previous.bytes(), &["key_not_in_force"]);
        // The restart keeps key A but still records a key change.
        check(&story().restart_with("a").bytes(), &["key_event_unchanged"]);
    }

    #[test]
    fn the_key_in_force_over_segments() {
        // Any range of the golden segments verifies, the ones that start
        // with the segment opened by the key change included.
        for first in 1..=5 {
            for last in first..=5 {
                check(&story().segments(first, last).bytes(), &[]);
            }
        }
        // A seal re-signed by an untrusted key is not in force either.
        let resealed = story().reseal(2, "attacker");
        check(
            &resealed.bytes(),
            &[
                "seal_untrusted_key",
                "key_not_in_force",
                "key_record_missing",
                "seal_chain_broken",
                "segment_opened_mismatch",
                "manifest_mismatch",
            ],
        );
    }
}
