//! The witnessed anchor (`W`, container version 3): a checkpoint of the
//! log tree and the inclusion proof of the bundle's last envelope in it.
//!
//! Rules (`Docs/format.md` §11.4, "W"):
//!
//! - The `W` record is the last record before the trailer: one followed by
//!   any other record (a second `W` included) is `anchor_out_of_place` and
//!   not used.
//! - It is checked when the contents end, against the last envelope taken
//!   into the chain. It parses and is canonical, and its checkpoint is a
//!   signed note whose text is a checkpoint without extension lines and
//!   whose origin is a valid key name, else `anchor_malformed` and nothing
//!   else is checked.
//! - A trusted recorder key signed the checkpoint under the origin's name
//!   (§14.2), and no trusted key's line on it fails, else
//!   `anchor_signature_invalid`; a window given with a trusted key whose
//!   line verifies holds the checkpoint's size, else `key_outside_window`
//!   (see `window`); a trusted key whose line verifies and that is revoked
//!   from the checkpoint's size or earlier (rule R) is
//!   `key_revoked_signature`.
//! - `tree_size` is the checkpoint's size and `leaf_index` the `seq` - 1 of
//!   the last envelope taken into the chain, below `tree_size`, else
//!   `anchor_position_mismatch`; then the inclusion proof leads from that
//!   envelope's leaf (its stored hash) to the checkpoint's root, else
//!   `anchor_root_mismatch`.
//! - Under a witness policy (quorum `q` > 0): at least `q` distinct trusted
//!   witnesses' cosignatures verify on the checkpoint and no trusted
//!   witness's line fails, else `anchor_not_witnessed`; a bundle without a
//!   `W` record is `anchor_missing`.
//!
//! The report says whether the bundle is anchored, by which checkpoint,
//! and which trusted witnesses cosigned it
//! ([`crate::report::AnchorReport`]). Cosignature checks are
//! [`crate::witnessed`]'s, the same as for log proofs.

use arxi_format::KeyId;
use arxi_format::anchor::{Anchor, AnchorCheckpoint};
use arxi_format::bundle::Tag;
use arxi_format::note::{Verified, VerifierKey};

use super::window::Covered;
use super::{At, Verifier};
use crate::report::{AnchorReport, Code};

/// What this module tracks between records.
#[derive(Debug, Default)]
pub(super) struct AnchorState {
    /// The `W` record read last, not yet followed by another record.
    pending: Option<(Vec<u8>, At)>,
    /// A `W` record was read (in place or not).
    seen: bool,
}

impl Verifier<'_> {
    /// Every record but the trailer: a `W` record read before it was not
    /// the last record before the trailer.
    pub(super) fn anchor_followed_by(&mut self, tag: Tag) {
        if tag == Tag::Trailer {
            return;
        }
        if let Some((_, at)) = self.anchor.pending.take() {
            self.find(
                Code::AnchorOutOfPlace,
                at,
                "the W record is not the last record before the trailer; it is not used",
                Some("the trailer".into()),
                Some(format!("a {} record", char::from(tag.byte()))),
            );
        }
    }

    /// A `W` record: kept until the contents end.
    pub(super) fn anchor_record(&mut self, payload: Vec<u8>, at: At) {
        self.settle_disclosure("a W record");
        self.settle_attachments();
        self.anchor.seen = true;
        self.anchor.pending = Some((payload, at));
    }

    /// At the end of the contents: the anchor against the chain, or its
    /// absence against the witness policy.
    pub(super) fn anchor_at_end(&mut self, end: At) {
        let Some((payload, at)) = self.anchor.pending.take() else {
            if self.policy.quorum > 0 && !self.anchor.seen {
                self.find(
                    Code::AnchorMissing,
                    end,
                    "a witness policy is given and the bundle carries no witnessed anchor",
                    Some(format!("a W record cosigned by {}", self.policy.quorum)),
                    Some("none".into()),
                );
            }
            return;
        };
        let Some((anchor, read)) = self.read_anchor(&payload, at) else {
            return;
        };
        let mut holds = self.anchor_signed(&read, at);
        holds &= self.anchor_position(&anchor, &read, at);
        let (witnesses, witnessed) = self.anchor_witnesses(&read, at);
        self.report.anchor = Some(AnchorReport {
            origin: read.checkpoint.origin.clone(),
            tree_size: read.checkpoint.size,
            root: read.checkpoint.root,
            leaf_index: anchor.leaf_index,
            signature_lines: read.note.signatures().len(),
            witnesses,
            quorum: self.policy.quorum,
            holds: holds && witnessed,
        });
    }

    fn read_anchor(&mut self, payload: &[u8], at: At) -> Option<(Anchor, AnchorCheckpoint)> {
        let anchor = match Anchor::parse(payload) {
            Ok(anchor) => anchor,
            Err(error) => {
                self.find(Code::AnchorMalformed, at, error.to_string(), None, None);
                return None;
            }
        };
        if anchor.to_canonical_bytes() != payload {
            let message = "the W record is not canonical";
            self.find(Code::AnchorMalformed, at, message, None, None);
            return None;
        }
        match anchor.read_checkpoint() {
            Ok(read) => Some((anchor, read)),
            Err(error) => {
                let message = format!("the anchor's checkpoint: {error}");
                self.find(Code::AnchorMalformed, at, message, None, None);
                None
            }
        }
    }

    /// The recorder's signature on the checkpoint, under any trusted key.
    fn anchor_signed(&mut self, read: &AnchorCheckpoint, at: At) -> bool {
        let log_keys: Vec<VerifierKey> =
            self.trusted.values().map(|key| read.log_key(key)).collect();
        match read.note.verify(&log_keys) {
            Ok(verified) => {
                self.anchor_windows(read, &verified, at);
                true
            }
            Err(error) => {
                self.find(
                    Code::AnchorSignatureInvalid,
                    at,
                    format!(
                        "the checkpoint is not signed by a trusted recorder key under its origin: {error}"
                    ),
                    None,
                    Some(read.checkpoint.origin.clone()),
                );
                false
            }
        }
    }

    /// Each trusted key that signed the checkpoint, against its window
    /// and its revocation.
    fn anchor_windows(&mut self, read: &AnchorCheckpoint, verified: &[Verified], at: At) {
        let mut signers: Vec<KeyId> = self
            .trusted
            .iter()
            .filter(|(_, key)| {
                let log_key = read.log_key(key);
                verified.iter().any(|line| line.key == log_key)
            })
            .map(|(key_id, _)| key_id.clone())
            .collect();
        signers.sort();
        for key_id in signers {
            let covered = Covered::Checkpoint(read.checkpoint.size);
            self.within_window(&key_id, covered, at);
            self.revocation_checkpoint(&key_id, read.checkpoint.size, at);
        }
    }

    /// The anchor's leaf is the last envelope of the chain, and the proof
    /// leads from it to the checkpoint's root.
    fn anchor_position(&mut self, anchor: &Anchor, read: &AnchorCheckpoint, at: At) -> bool {
        let head = self.chain.head;
        let expected_leaf = head.map(|head| head.seq - 1);
        let at = At {
            seq: head.map(|head| head.seq),
            ..at
        };
        if anchor.tree_size != read.checkpoint.size
            || Some(anchor.leaf_index) != expected_leaf
            || anchor.leaf_index >= anchor.tree_size
        {
            self.find(
                Code::AnchorPositionMismatch,
                at,
                "the anchor's leaf is not the bundle's last envelope in the checkpoint's tree",
                Some(format!(
                    "leaf_index {} tree_size {}",
                    expected_leaf.map_or_else(|| "-".to_owned(), |leaf| leaf.to_string()),
                    read.checkpoint.size
                )),
                Some(format!(
                    "leaf_index {} tree_size {}",
                    anchor.leaf_index, anchor.tree_size
                )),
            );
            return false;
        }
        let head = head.expect("the leaf index matched the head, so there is one");
        if let Err(error) = anchor.check_inclusion(&head.hash, &read.checkpoint.root) {
            self.find(
                Code::AnchorRootMismatch,
                at,
                format!(
                    "the inclusion proof does not lead from envelope {} to the checkpoint's root: {error}",
                    head.seq
                ),
                Some(read.checkpoint.root.to_hex()),
                None,
            );
            return false;
        }
        true
    }

    /// The trusted witnesses' cosignatures, against the policy.
    fn anchor_witnesses(&mut self, read: &AnchorCheckpoint, at: At) -> (Vec<(String, u64)>, bool) {
        if self.policy.quorum == 0 {
            return (Vec::new(), true);
        }
        let quorum = self.policy.quorum;
        let (witnesses, failure) = match crate::witnessed::trusted_cosigners(
            &read.note,
            &self.policy.witnesses,
        ) {
            Ok(witnesses) if witnesses.len() >= quorum => return (witnesses, true),
            Ok(witnesses) => {
                let why = format!(
                    "{} trusted witness cosignature(s) on the checkpoint; the policy needs {quorum}",
                    witnesses.len()
                );
                (witnesses, why)
            }
            Err(why) => (Vec::new(), why),
        };
        self.find(
            Code::AnchorNotWitnessed,
            at,
            failure,
            Some(quorum.to_string()),
            Some(witnesses.len().to_string()),
        );
        (witnesses, false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        anchored, anchored_by, check, check_with_policy, key, story, witness_policy,
    };
    use arxi_format::Hash32;
    use arxi_format::anchor::Anchor;
    use arxi_format::bundle::Tag;

    #[test]
    fn an_anchor_that_holds() {
        check(&anchored(story(), 27, &["w1", "w2"]).bytes(), &[]);
        check(&anchored(story(), 30, &[]).bytes(), &[]);
        let bytes = anchored(story(), 27, &["w1", "w2"]).bytes();
        check_with_policy(&bytes, &witness_policy(&["w1", "w2", "w3"], 2), &[]);
        check_with_policy(
            &bytes,
            &witness_policy(&["w1", "w2", "w3"], 3),
            &["anchor_not_witnessed"],
        );
        check_with_policy(
            &anchored(story(), 27, &[]).bytes(),
            &witness_policy(&["w1"], 1),
            &["anchor_not_witnessed"],
        );
    }

    #[test]
    fn no_anchor() {
        check(&story().bytes(), &[]);
        check_with_policy(
            &story().bytes(),
            &witness_policy(&["w1"], 1),
            &["anchor_missing"],
        );
    }

    #[test]
    fn anchor_findings() {
        let edit = |edit: fn(&mut Anchor)| {
            let mut bundle = anchored(story(), 30, &["w1"]);
            let index = bundle.nth(Tag::Anchor, 0);
            bundle.edit_record(index, |payload| {
                let mut anchor = Anchor::parse(payload).expect("anchor");
                edit(&mut anchor);
                *payload = anchor.to_canonical_bytes();
            });
            bundle.bytes()
        };
        check(&edit(|a| a.leaf_index = 25), &["anchor_position_mismatch"]);
        check(&edit(|a| a.tree_size = 31), &["anchor_position_mismatch"]);
        check(
            &edit(|a| a.inclusion_proof[0] = Hash32::ZERO),
            &["anchor_root_mismatch"],
        );
        check(&edit(|a| a.checkpoint = "x".into()), &["anchor_malformed"]);
        // The checkpoint text edited: the recorder's signature and the
        // cosignature no longer verify, and the root is another.
        let resized = edit(|a| a.checkpoint = a.checkpoint.replacen("\n30\n", "\n31\n", 1));
        check(
            &resized,
            &["anchor_signature_invalid", "anchor_position_mismatch"],
        );
        check_with_policy(
            &resized,
            &witness_policy(&["w1"], 1),
            &[
                "anchor_signature_invalid",
                "anchor_position_mismatch",
                "anchor_not_witnessed",
            ],
        );
        let mut not_canonical = anchored(story(), 30, &[]);
        let index = not_canonical.nth(Tag::Anchor, 0);
        not_canonical.edit_record(index, |payload| payload.insert(1, b' '));
        check(&not_canonical.bytes(), &["anchor_malformed"]);
        // Signed by a key the auditor does not trust.
        check(
            &anchored_by(story(), 30, &[], &key("attacker")).bytes(),
            &["anchor_signature_invalid"],
        );
    }

    #[test]
    fn anchor_out_of_place() {
        let mut twice = anchored(story(), 30, &[]);
        let index = twice.nth(Tag::Anchor, 0);
        twice.insert_copy(index, index);
        check(&twice.bytes(), &["anchor_out_of_place"]);
        let mut early = anchored(story(), 30, &[]);
        let index = early.nth(Tag::Anchor, 0);
        let record = early.records.remove(index);
        early.records.insert(1, record);
        check(&early.bytes(), &["anchor_out_of_place"]);
    }
}
