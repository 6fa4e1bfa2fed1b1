//! The end of the contents and the trailer (`Z`).
//!
//! When the contents end (at the trailer, or where reading stopped), in
//! this order: attachments still expected are `attachment_missing`; a held
//! `arxi.segment.opened` is resolved (see `keys`); every signature waiting
//! in a batch is verified; an open segment is `unsealed_envelopes` (at the
//! place the contents end, naming the segment and its first `seq`); the
//! manifest is compared with the contents (see `manifest`); key records
//! contradicted by the chain are `key_record_first_seq_mismatch`; the
//! witnessed anchor is checked against the chain (see `anchor`).
//!
//! Then, only when the trailer was reached (`Docs/format.md` §11.3):
//!
//! - No `E` record at all: `bundle_empty`.
//! - It parses under the strict record rules, else `trailer_malformed`
//!   and nothing else of it is checked; it is canonical, else
//!   `trailer_malformed`.
//! - `content_sha256` is the SHA-256 of every byte before the trailer's
//!   header and `records` the number of records before it, else
//!   `bundle_content_mismatch`.
//! - `manifest_hash` is the SHA-256 of the first record's payload as
//!   stored (when that record is a manifest), else
//!   `manifest_hash_mismatch`.
//! - Its key is trusted, else `bundle_untrusted_key`; then its content
//!   hashes to `hash` and the signature verifies, else
//!   `bundle_signature_invalid`; a window given with its key does not end
//!   before the last envelope taken into the chain, else
//!   `key_outside_window` (see `window`).
//! - With a manifest that parsed: the trailer's `key_id` is the manifest's
//!   `key_id`, else `manifest_key_mismatch`; the manifest's `key_id` is the
//!   key in force at the end of the chain, the root that a delegation
//!   record of the bundle names for that key, or signed no envelope or
//!   seal of the bundle (a recorder that has changed keys since signs
//!   bundles of older segments with its new key), else
//!   `bundle_key_not_in_force`.
//! - Its key is not revoked from the last envelope of the chain or
//!   before, else `key_revoked_signature` (see `revocation`).
//! - Any byte after the trailer record: `data_after_trailer`.

use std::io::Read;

use arxi_format::Hash32;
use arxi_format::bundle::Trailer;

use super::window::Covered;
use super::{At, Verifier};
use crate::reader::BundleReader;
use crate::report::Code;

impl Verifier<'_> {
    /// Checks that hold once the contents end.
    pub(super) fn end_of_contents(&mut self, at: At) {
        self.settle_timestamps();
        self.payloads_at_end();
        self.settle_attachments();
        self.settle_held_key();
        self.take_signature_results(true);
        if let Some(segment) = self.chain.segment.take() {
            self.find(
                Code::UnsealedEnvelopes,
                At {
                    segment_id: Some(segment.segment_id),
                    seq: Some(segment.first_seq),
                    ..at
                },
                format!("{} envelope(s) after the last seal", segment.count),
                None,
                Some(segment.count.to_string()),
            );
        }
        self.manifest_against_contents(at);
        self.key_records_at_end();
        self.anchor_at_end(at);
    }

    pub(super) fn trailer(&mut self, payload: &[u8], at: At, digest_before: Hash32) {
        self.end_of_contents(at);
        if self.report.counts.envelopes == 0 {
            self.find(
                Code::BundleEmpty,
                at,
                "the bundle holds no envelope",
                None,
                None,
            );
        }
        let trailer = match Trailer::parse(payload) {
            Ok(trailer) => trailer,
            Err(error) => {
                self.find(Code::TrailerMalformed, at, error.to_string(), None, None);
                return;
            }
        };
        if trailer.to_canonical_bytes() != payload {
            let message = "the trailer is not canonical";
            self.find(Code::TrailerMalformed, at, message, None, None);
        }
        let records = at.record.unwrap_or(0);
        if trailer.body.content_sha256 != digest_before || trailer.body.records != records {
            self.find(
                Code::BundleContentMismatch,
                at,
                "the bytes before the trailer are not the bytes it signed",
                Some(format!("sha256 {digest_before} records {records}")),
                Some(format!(
                    "sha256 {} records {}",
                    trailer.body.content_sha256, trailer.body.records
                )),
            );
        }
        if let Some(hash) = self.manifest_payload_hash
            && hash != trailer.body.manifest_hash
        {
            self.find(
                Code::ManifestHashMismatch,
                at,
                "the trailer names another manifest",
                Some(hash.to_hex()),
                Some(trailer.body.manifest_hash.to_hex()),
            );
        }
        self.trailer_signature(&trailer, at);
        self.trailer_key(&trailer, at);
        if let Some(head) = self.chain.head {
            self.revocation_trailer(&trailer.body.key_id, head.seq, at);
        }
        if self.report.counts.envelopes == 0 {
            self.find(
                Code::BundleEmpty,
                at,
                "the bundle holds no envelope",
                None,
                None,
            );
        }
    }

    fn trailer_signature(&mut self, trailer: &Trailer, at: At) {
        match self.trusted_key(&trailer.body.key_id) {
            None => self.find(
                Code::BundleUntrustedKey,
                at,
                "the bundle is signed by a key that is not among the trusted keys",
                None,
                Some(trailer.body.key_id.to_string()),
            ),
            Some(key) => {
                if trailer.verify(&key).is_err() {
                    let message = "the bundle signature does not verify";
                    self.find(Code::BundleSignatureInvalid, at, message, None, None);
                }
                if let Some(head) = self.chain.head {
                    let covered = Covered::Trailer(head.seq);
                    self.within_window(&trailer.body.key_id, covered, at);
                }
            }
        }
    }

    /// The trailer's signer against the manifest and the chain.
    fn trailer_key(&mut self, trailer: &Trailer, at: At) {
        let Some(manifest_key) = self.manifest.as_ref().map(|m| m.key_id.clone()) else {
            return;
        };
        if trailer.body.key_id != manifest_key {
            self.find(
                Code::ManifestKeyMismatch,
                at,
                "the trailer is signed by another key than the manifest names",
                Some(manifest_key.to_string()),
                Some(trailer.body.key_id.to_string()),
            );
        }
        if let Some(in_force) = self.keys.in_force.clone()
            && in_force != manifest_key
            && self.delegations.named_root(&in_force) != Some(&manifest_key)
            && self.keys.manifest_key_signed
        {
            self.find(
                Code::BundleKeyNotInForce,
                at,
                "the bundle is signed by a key that signed records of it but is not in force at its end",
                Some(in_force.to_string()),
                Some(manifest_key.to_string()),
            );
        }
    }

    /// Nothing may follow the trailer.
    pub(super) fn after_trailer<R: Read>(&mut self, reader: &mut BundleReader<R>) {
        match reader.at_end() {
            Ok(true) => {}
            Ok(false) => {
                let after = At::record(self.record_index, reader.offset() - 1);
                let message = "bytes follow the signed trailer";
                self.find(Code::DataAfterTrailer, after, message, None, None);
            }
            Err(error) => {
                let at = At::record(self.record_index, reader.offset());
                self.report.could_not_check = true;
                self.find(Code::BadRecord, at, error.to_string(), None, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, key, story};
    use arxi_format::bundle::Tag;

    #[test]
    fn trailer_rules() {
        check(&story().signed_by("a").bytes(), &["manifest_key_mismatch"]);
        check(
            &story()
                .edit_manifest(|m| m.key_id = key("a").id().clone())
                .signed_by("a")
                .bytes(),
            &["bundle_key_not_in_force"],
        );
        // A bundle of segments 1 to 3 (signed by A alone) signed by B,
        // which took over later: what a recorder builds after a key change.
        check(&story().segments(1, 3).bytes(), &[]);
        check(
            &story()
                .edit_manifest(|m| m.key_id = key("attacker").id().clone())
                .signed_by("attacker")
                .bytes(),
            &["bundle_untrusted_key"],
        );
        let mut empty = story().edit_manifest(|m| {
            m.segments.clear();
            m.envelope_count = 0;
            m.last_seq = 0;
            m.keys.clear();
        });
        empty.records.retain(|record| record.tag == Tag::Manifest);
        check(&empty.bytes(), &["bundle_empty"]);
        let mut appended = story().bytes();
        appended.extend_from_slice(b"E 2\n{}\n");
        check(&appended, &["data_after_trailer"]);
        let golden = story().bytes();
        let mut edited = golden.clone();
        let at = edited
            .windows(6)
            .position(|w| w == b"\"dave\"")
            .expect("dave")
            + 1;
        edited[at] = b'D';
        check(
            &edited,
            &["envelope_hash_mismatch", "bundle_content_mismatch"],
        );
        let trailer = golden
            .windows(3)
            .rposition(|w| w == b"\nZ ")
            .expect("trailer")
            + 1;
        check(&golden[..trailer], &["truncated"]);
    }
}
