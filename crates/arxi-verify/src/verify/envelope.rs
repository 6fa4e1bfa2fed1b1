//! One envelope record (`E`): what is checked of it alone, before the
//! chain, segment, key and control rules take it in.
//!
//! Rules (`Docs/format.md` §11.4), for every `E` record:
//!
//! - It counts toward the manifest's `envelope_count`, whatever follows.
//! - It parses under the strict rules of section 6 (`v` 1 or 2, every member
//!   and field rule), else `envelope_malformed` and nothing else is checked
//!   for it (its attachment records are then `attachment_unexpected`).
//! - It is stored in its canonical form, else `envelope_not_canonical`.
//! - Its content hashes to its stored `hash`, else
//!   `envelope_hash_mismatch`; the signature, the chain link and the Merkle
//!   leaf all use the stored `hash`, so one changed byte is reported once.
//! - Its `recorder_id` is the manifest's, else `recorder_id_mismatch`.
//! - Its key is trusted, else `envelope_untrusted_key`; a trusted key's
//!   signature over the stored hash verifies (section 3), else
//!   `envelope_signature_invalid` (checked in batches; reported at the
//!   envelope); a trusted key given with a window is trusted only for the
//!   envelopes whose `seq` lies in it, else `key_outside_window` (see
//!   `window`).
//! - Its `key_id` is named by a key record before it, else
//!   `key_record_missing`.

use arxi_format::Domain;
use arxi_format::envelope::Envelope;

use super::window::Covered;
use super::{At, Verifier};
use crate::report::Code;

impl Verifier<'_> {
    pub(super) fn envelope(&mut self, payload: &[u8], at: At) {
        self.report.counts.envelopes += 1;
        self.body_started = true;
        self.settle_disclosure("an E record");
        self.settle_attachments();
        let Some(envelope) = self.parse_envelope(payload, at) else {
            return;
        };
        let at = At {
            segment_id: Some(envelope.body.segment_id),
            seq: Some(envelope.body.seq),
            ..at
        };
        self.envelope_alone(&envelope, payload, at);
        self.expect_attachments(&envelope, at);
        self.expect_disclosure(&envelope, at);
        if self.take_into_chain(&envelope, at) {
            self.key_in_force(&envelope, at);
            self.join_segment(&envelope, at);
            self.control_semantics(&envelope, at);
            self.revocation_envelope(&envelope, at);
            self.erasure_semantics(&envelope, at);
            self.checkpoint_stamps(&envelope, at);
            let body = &envelope.body;
            self.key_records.chain_envelope(body.seq, &body.key_id);
        }
    }

    /// Parses; canonical bytes (every intact envelope) take the one-pass
    /// path, anything else is parsed in full. Both give the same envelope.
    fn parse_envelope(&mut self, payload: &[u8], at: At) -> Option<Envelope> {
        let parsed = match Envelope::parse_canonical(payload) {
            Some(Ok((envelope, content_hash))) => Ok((envelope, Some(content_hash))),
            Some(Err(error)) => Err(error),
            None => Envelope::parse(payload).map(|envelope| (envelope, None)),
        };
        let (envelope, content_hash) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                self.find(Code::EnvelopeMalformed, at, error.to_string(), None, None);
                return None;
            }
        };
        let at = At {
            segment_id: Some(envelope.body.segment_id),
            seq: Some(envelope.body.seq),
            ..at
        };
        // A one-pass parse succeeds only on an envelope's canonical form
        // (every typed member reads back as written: a format test and the
        // json_canonical fuzz target hold this); otherwise compare.
        let canonical = content_hash.is_some() || envelope.to_canonical_bytes() == payload;
        if !canonical {
            let message = "stored bytes are not the canonical form";
            self.find(Code::EnvelopeNotCanonical, at, message, None, None);
        }
        let computed = content_hash.unwrap_or_else(|| envelope.body.compute_hash());
        if computed != envelope.hash {
            self.find(
                Code::EnvelopeHashMismatch,
                at,
                "the content does not hash to the recorded hash",
                Some(computed.to_hex()),
                Some(envelope.hash.to_hex()),
            );
        }
        Some(envelope)
    }

    /// The recorder, the key and the signature.
    fn envelope_alone(&mut self, envelope: &Envelope, _payload: &[u8], at: At) {
        let body = &envelope.body;
        self.recorder_of(&body.recorder_id, at);
        match self.trusted_key(&body.key_id) {
            Some(key) => {
                self.signatures.push(
                    Domain::Envelope,
                    &envelope.hash,
                    envelope.signature,
                    &key,
                    at,
                );
                self.within_window(&body.key_id, Covered::Envelope(body.seq), at);
                self.within_time_window(envelope, at);
            }
            None => self.find(
                Code::EnvelopeUntrustedKey,
                at,
                "signed by a key that is not among the trusted keys",
                None,
                Some(body.key_id.to_string()),
            ),
        }
        self.signed_by(&body.key_id, at);
    }

    /// An envelope or seal names the manifest's recorder.
    pub(super) fn recorder_of(&mut self, recorder_id: &str, at: At) {
        let Some(manifest) = &self.manifest else {
            return;
        };
        if manifest.recorder_id != recorder_id {
            let expected = Some(manifest.recorder_id.clone());
            self.find(
                Code::RecorderIdMismatch,
                at,
                "the record names another recorder than the manifest",
                expected,
                Some(recorder_id.to_owned()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, key, story};
    use arxi_format::envelope::Envelope;

    #[test]
    fn envelope_rules() {
        let mut flipped = story();
        let four = flipped.envelope_index(4);
        flipped.edit_record(four, |payload| {
            let text = String::from_utf8(payload.clone()).expect("utf8");
            *payload = text.replacen("\"alice\"", "\"alicf\"", 1).into_bytes();
        });
        check(&flipped.bytes(), &["envelope_hash_mismatch"]);
        let mut spaced = story();
        spaced.edit_record(four, |payload| payload.insert(1, b' '));
        check(&spaced.bytes(), &["envelope_not_canonical"]);
        let mut version = story();
        version.edit_record(four, |payload| {
            let text = String::from_utf8(payload.clone()).expect("utf8");
            *payload = text.replacen("\"v\":1}", "\"v\":2}", 1).into_bytes();
        });
        check(
            &version.bytes(),
            &[
                "envelope_malformed",
                "envelope_missing",
                "seal_merkle_root_mismatch",
                "seal_range_mismatch",
            ],
        );
        let mut unsigned = story();
        unsigned.edit_record(four, |payload| {
            let mut envelope = Envelope::parse(payload).expect("envelope");
            envelope.signature.0[0] ^= 1;
            *payload = envelope.to_canonical_bytes();
        });
        check(&unsigned.bytes(), &["envelope_signature_invalid"]);
        let other = story().rewrite(|body| {
            if body.seq == 5 {
                body.recorder_id = "another-recorder".into();
            }
        });
        check(&other.bytes(), &["recorder_id_mismatch"]);
        let _ = key("a");
    }
}
