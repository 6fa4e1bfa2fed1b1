//! Findings, the registry of their codes, and the verification report.
//!
//! Every check has a stable snake_case code. The registry below is the one
//! place codes are defined: for each, the records it applies to, whether it
//! means the bundle could not be checked, when it fires, and what the
//! finding's `expected` and `found` hold. `arxi findings` prints it;
//! `Docs/generated/arxi/format/findings.json` and the table in
//! `Docs/format.md` are generated from it and a test keeps all three equal.
//!
//! A finding names the record (its index in the file, from 0 for the
//! manifest, and the byte offset of its header), the segment and sequence
//! number when known, and carries the expected and found values, so the
//! report is itself evidence of what disagrees.

use std::collections::BTreeSet;
use std::fmt;

use arxi_format::Hash32;
use serde_json::{Value, json};

/// What a code says about the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The evidence is invalid (exit 1).
    Invalid,
    /// The input could not be checked at all (exit 2).
    CouldNotCheck,
}

impl Verdict {
    /// `invalid` or `could_not_check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::CouldNotCheck => "could_not_check",
        }
    }
}

/// One registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The stable snake_case code.
    pub code: &'static str,
    /// The records it applies to: `file`, `M`, `K`, `D`, `E`, `P`, `A`, `S`, `T`, `W`, `Z`,
    /// `proof` (an inclusion proof) or `series` (consecutive bundles).
    pub applies_to: &'static [&'static str],
    /// What it means for the verdict.
    pub verdict: Verdict,
    /// When it fires.
    pub when: &'static str,
    /// What the finding's `expected` holds (empty: nothing).
    pub expected: &'static str,
    /// What the finding's `found` holds (empty: nothing).
    pub found: &'static str,
}

macro_rules! registry {
    ($($variant:ident => ($code:literal, [$($kind:literal),+], $verdict:ident,
        $when:literal, $expected:literal, $found:literal)),* $(,)?) => {
        /// What a finding is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $when]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in registry order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// This code's registry entry.
            pub fn info(self) -> CodeInfo {
                match self {
                    $(Code::$variant => CodeInfo {
                        code: $code,
                        applies_to: &[$($kind),+],
                        verdict: Verdict::$verdict,
                        when: $when,
                        expected: $expected,
                        found: $found,
                    },)*
                }
            }
        }
    };
}

registry! {
    NotABundle => ("not_a_bundle", ["file"], CouldNotCheck,
        "The file has no preamble line starting with `ARXI-BUNDLE ` (an LF within its first 33 bytes).",
        "", ""),
    UnsupportedVersion => ("unsupported_version", ["file"], CouldNotCheck,
        "The preamble names a container version other than `1`, `2`, `3`, `4` or `5`.",
        "", "the version text"),
    Truncated => ("truncated", ["file"], Invalid,
        "The file ends inside a record, or at a record boundary before the trailer.",
        "", ""),
    BadRecord => ("bad_record", ["file"], Invalid,
        "A record header is not `TAG SP LENGTH LF` with a tag of the container's version (`P` from version 2 on, `W` from 3, `D` from 4, `T` from 5) and a canonical length of at most 268435456, or a payload is not followed by LF; reading stops there.",
        "", ""),
    ManifestMissing => ("manifest_missing", ["M"], CouldNotCheck,
        "The first record is not a manifest; nothing else is checked.",
        "", ""),
    RecordOutOfPlace => ("record_out_of_place", ["M"], Invalid,
        "A manifest record other than the first record; it is ignored.",
        "", ""),
    ManifestMalformed => ("manifest_malformed", ["M"], Invalid,
        "The manifest does not parse (strict record rules), or is not in its canonical form.",
        "", ""),
    ManifestMismatch => ("manifest_mismatch", ["M"], Invalid,
        "The manifest disagrees with the contents: a listed segment against the seal in its position, the number of seals, `last_seq`, `envelope_count` or the key list. One finding per kind of disagreement.",
        "the manifest's value", "the contents' value"),
    ManifestHashMismatch => ("manifest_hash_mismatch", ["Z"], Invalid,
        "The trailer's `manifest_hash` is not the SHA-256 of the manifest record's payload as stored.",
        "SHA-256 of the M payload (hex)", "the trailer's manifest_hash"),
    ManifestKeyMismatch => ("manifest_key_mismatch", ["M", "Z"], Invalid,
        "The trailer is signed by another key than the manifest's `key_id` names.",
        "the manifest's key_id", "the trailer's key_id"),
    ManifestTimeRegressed => ("manifest_time_regressed", ["M"], Invalid,
        "The manifest's `created_at` is before the `sealed_at` of the last seal in the bundle.",
        "the last seal's sealed_at", "the manifest's created_at"),
    KeyRecordInvalid => ("key_record_invalid", ["K"], Invalid,
        "A key record does not parse (strict record rules; its public key must load), is not canonical, or is beyond the 1,024th key record (then it is ignored).",
        "", ""),
    KeyRecordIdMismatch => ("key_record_id_mismatch", ["K"], Invalid,
        "A key record's `key_id` is not the key id of its `public_key`.",
        "the key id of public_key", "the record's key_id"),
    KeyRecordOutOfPlace => ("key_record_out_of_place", ["K", "D"], Invalid,
        "A key record or delegation record stands after an envelope, attachment, seal or payload disclosure record (rules K3, D2).",
        "", ""),
    KeyRecordFirstSeqMismatch => ("key_record_first_seq_mismatch", ["K"], Invalid,
        "A key record's `first_seq` is not the first envelope its key signed: an envelope of the chain with a lower `seq` is signed by the key, or the envelope of the chain with `seq` equal to `first_seq` is present and signed by another key.",
        "seq of the first envelope of the chain signed by the key, when there is one", "the record's first_seq"),
    KeyRecordMissing => ("key_record_missing", ["E", "S"], Invalid,
        "An envelope or seal is signed by a key id that no key record or delegation record read before it names.",
        "", "the record's key_id"),
    EnvelopeMalformed => ("envelope_malformed", ["E"], Invalid,
        "An envelope does not parse or breaks a field rule (section 6); nothing else is checked for it.",
        "", ""),
    EnvelopeNotCanonical => ("envelope_not_canonical", ["E"], Invalid,
        "An envelope is not stored in its canonical form.",
        "", ""),
    EnvelopeHashMismatch => ("envelope_hash_mismatch", ["E", "proof"], Invalid,
        "An envelope's content does not hash to its stored `hash` (everything else keeps using the stored hash).",
        "the recomputed hash", "the stored hash"),
    EnvelopeUntrustedKey => ("envelope_untrusted_key", ["E", "proof"], Invalid,
        "An envelope is signed by a key id that is not among the trusted keys.",
        "", "the envelope's key_id"),
    EnvelopeSignatureInvalid => ("envelope_signature_invalid", ["E", "proof"], Invalid,
        "An envelope's signature over its stored hash does not verify under its (trusted) key (section 3).",
        "", ""),
    RecorderIdMismatch => ("recorder_id_mismatch", ["E", "S"], Invalid,
        "An envelope or seal names another `recorder_id` than the manifest.",
        "the manifest's recorder_id", "the record's recorder_id"),
    KeyNotInForce => ("key_not_in_force", ["E", "S"], Invalid,
        "A record is signed by a key id other than the key in force at that point of the chain (trusted or not), an `arxi.key.changed` names another `previous_key_id` than the key in force, or an `arxi.key.loaded` comes while another key is in force.",
        "the key in force", "the record's key_id or previous_key_id"),
    KeyOutsideWindow => ("key_outside_window", ["E", "S", "W", "Z", "proof"], Invalid,
        "A record is signed by a trusted key given with a validity window (section 11.8), or by a delegated key (section 3.1), and lies outside it: an envelope whose `seq`, a seal whose `last_seq`, a checkpoint whose tree size is not in the window, a trailer whose bundle's last envelope is past the window's end, an envelope of a delegated key whose `received_at` is outside its delegation's time window, or a delegation whose root's window does not hold its `first_seq` (rule D4).",
        "the key and its window (KEY_ID@FIRST..LAST)", "the record's seq, range or tree size"),
    KeyDelegationInvalid => ("key_delegation_invalid", ["D", "E"], Invalid,
        "A delegation record (`D`) does not parse (strict record rules), is not canonical, delegates a key a delegation record before it delegated, or is beyond the 1,024th (then it is ignored); a delegation whose root is trusted does not hash to its `hash` or verify under the root (then it is not used); or an `arxi.key.delegated` event carries another delegation than the bundle's `D` record of its key.",
        "the root's key id, when the signature fails", "the delegated key id"),
    KeyRevocationInvalid => ("key_revocation_invalid", ["E"], Invalid,
        "An `arxi.key.revoked` envelope's payload breaks rule C5 (exactly `key_id`, `from_seq` at least 1, `reason` 1 to 512 characters without control characters), it is signed by the key it revokes, or it revokes a 1,025th key.",
        "", "the signing key, when it is the revoked one"),
    KeyRevokedSignature => ("key_revoked_signature", ["E", "S", "W", "Z", "series"], Invalid,
        "A key revoked by an `arxi.key.revoked` envelope (of the bundle or an earlier bundle of the series) signed an envelope whose `seq`, or a seal whose `last_seq`, is at or after its `from_seq`, or the trailer of a bundle whose last envelope is, or the witnessed anchor's checkpoint whose tree size is; one finding per record after the revocation, one at the revocation for what came before it in its bundle, and one per earlier bundle of a series for what the key signed there.",
        "the key and the seq it is revoked from", "what the key signed"),
    KeyEventInvalid => ("key_event_invalid", ["E"], Invalid,
        "A key event's payload lacks `key_id`, `public_key` (or, for `arxi.key.changed`, `previous_key_id`), its `key_id` is not the envelope's `key_id`, its `public_key` is not a loadable key with that key id, or an `arxi.key.delegated` payload does not parse (section 10).",
        "", "the offending member"),
    KeyEventUnchanged => ("key_event_unchanged", ["E"], Invalid,
        "A key event names the key that is already in force.",
        "a key other than the key in force", "the key event's key_id"),
    EnvelopeMissing => ("envelope_missing", ["E"], Invalid,
        "An envelope's `seq` is higher than the next expected one; its `prev_hash` is not checked.",
        "the expected seq", "the envelope's seq"),
    EnvelopeOutOfOrder => ("envelope_out_of_order", ["E"], Invalid,
        "An envelope's `seq` is lower than the next expected one and it is not a copy of the envelope before; it is not taken into the chain.",
        "the expected seq", "the envelope's seq"),
    EnvelopeDuplicated => ("envelope_duplicated", ["E"], Invalid,
        "An envelope has the `seq` and stored hash of the envelope taken into the chain just before it; it is not taken into the chain.",
        "", "the envelope's seq"),
    ChainBroken => ("chain_broken", ["E"], Invalid,
        "An envelope with the expected `seq` has a `prev_hash` other than the stored hash of the envelope before (for the first, the manifest's `prev_hash`).",
        "the previous envelope's stored hash", "the envelope's prev_hash"),
    TimeRegressed => ("time_regressed", ["E"], Invalid,
        "An envelope's `received_at` is earlier than that of the envelope taken into the chain before it.",
        "the previous received_at", "the envelope's received_at"),
    EnvelopeSegmentMismatch => ("envelope_segment_mismatch", ["E"], Invalid,
        "An envelope names another segment than the one it is in, or starts a segment with an id lower than the next expected one.",
        "the segment id", "the envelope's segment_id"),
    SegmentOpenedMismatch => ("segment_opened_mismatch", ["E"], Invalid,
        "The first envelope of a segment is not an `arxi.segment.opened` whose payload names its segment and the previous seal's stored hash.",
        "arxi.segment.opened and the previous seal hash", "the envelope's type and prev_seal_hash"),
    SegmentTimeRegressed => ("segment_time_regressed", ["E"], Invalid,
        "The first envelope of a segment was received before the `sealed_at` of the previous seal in the bundle.",
        "the previous seal's sealed_at", "the envelope's received_at"),
    SegmentMissing => ("segment_missing", ["E"], Invalid,
        "A segment starts with an id one more than the next expected one: one segment is missing.",
        "the expected segment id", "the envelope's segment_id"),
    SegmentsMissing => ("segments_missing", ["E"], Invalid,
        "A segment starts with an id two or more above the next expected one: several segments are missing.",
        "the expected segment id", "the envelope's segment_id"),
    SegmentReasonUnknown => ("segment_reason_unknown", ["E"], Invalid,
        "An `arxi.segment.opened` whose payload `reason` is not `append` or `api`, or an `arxi.segment.sealed` whose `reason` is not `api`, `count`, `bytes` or `age`.",
        "the allowed reasons", "the payload's reason"),
    RecorderStartedKeyMismatch => ("recorder_started_key_mismatch", ["E"], Invalid,
        "An `arxi.recorder.started` names another `key_id` than the key in force, or its payload has no `key_id` string.",
        "the key in force", "the payload's key_id"),
    PreviousShutdownMismatch => ("previous_shutdown_mismatch", ["E"], Invalid,
        "An `arxi.recorder.started` carries a `previous_shutdown` that does not fit the envelope before its start records (`none`, `clean` or `unclean`, section 10).",
        "the allowed values", "the payload's previous_shutdown"),
    AttachmentMissing => ("attachment_missing", ["E"], Invalid,
        "Fewer attachment records follow an envelope than it references.",
        "the missing references (name and SHA-256)", ""),
    AttachmentMismatch => ("attachment_mismatch", ["A"], Invalid,
        "An attachment record's SHA-256 or size differs from the reference in its position.",
        "the reference's SHA-256 and size", "the record's SHA-256 and size"),
    AttachmentUnexpected => ("attachment_unexpected", ["A"], Invalid,
        "An attachment record beyond the references of the envelope before it (or with no envelope before it).",
        "", "the record's SHA-256"),
    PayloadRecordMissing => ("payload_record_missing", ["E"], Invalid,
        "A version 2 envelope that parsed is not followed by its `P` record (the next record is another, or the contents end).",
        "a P record", "the next record's tag, or the end"),
    PayloadRecordUnexpected => ("payload_record_unexpected", ["P"], Invalid,
        "A `P` record that does not directly follow a version 2 envelope that parsed (after a version 1 or malformed envelope, a second one, or before any envelope); it is ignored.",
        "", ""),
    PayloadRecordMalformed => ("payload_record_malformed", ["P"], Invalid,
        "A `P` record does not parse (strict record rules, section 11.6), is not in its canonical form, discloses an `actor` or `subject` its envelope carries in clear, or claims an erasure by an envelope that is not after it.",
        "", ""),
    PayloadCommitmentMismatch => ("payload_commitment_mismatch", ["P"], Invalid,
        "A disclosed payload does not match its envelope's commitment: SHA-256 of the context, the salt and the content is not `payload_commitment`.",
        "the envelope's payload_commitment", "the commitment the disclosed content and salt give"),
    PayloadErasureMismatch => ("payload_erasure_mismatch", ["P", "E"], Invalid,
        "An erasure claim and the erasure records of the bundle disagree: a `P` record says erased by an envelope of the bundle that is not an `arxi.payload.erased` listing it, or an `arxi.payload.erased` of the bundle lists a `seq` at or after the manifest's `first_seq` that the bundle does not hold or whose `P` record does not say erased by it.",
        "the erasure the other record states", "what this record states"),
    ErasureRecordInvalid => ("erasure_record_invalid", ["E"], Invalid,
        "An `arxi.payload.erased` envelope's payload breaks rule C4: `by` is `subject` or `seq`, `reason` 1 to 512 characters without control characters, `seqs` 1 to 10,000 ascending sequence numbers below its own, nothing else.",
        "", "the offending member"),
    SealMissing => ("seal_missing", ["E"], Invalid,
        "An `arxi.segment.opened` of a higher segment arrives while a segment is open: the open segment ends without its seal.",
        "a seal of the open segment", "the envelope's segment_id"),
    SealMalformed => ("seal_malformed", ["S"], Invalid,
        "A seal does not parse or breaks a field rule (section 9); it ends the open segment and nothing else is checked for it.",
        "", ""),
    SealNotCanonical => ("seal_not_canonical", ["S"], Invalid,
        "A seal is not stored in its canonical form.",
        "", ""),
    SealHashMismatch => ("seal_hash_mismatch", ["S", "proof"], Invalid,
        "A seal's content does not hash to its stored `hash` (everything else keeps using the stored hash).",
        "the recomputed hash", "the stored hash"),
    SealUntrustedKey => ("seal_untrusted_key", ["S", "proof"], Invalid,
        "A seal is signed by a key id that is not among the trusted keys.",
        "", "the seal's key_id"),
    SealSignatureInvalid => ("seal_signature_invalid", ["S", "proof"], Invalid,
        "A seal's signature over its stored hash does not verify under its (trusted) key.",
        "", ""),
    SealChainBroken => ("seal_chain_broken", ["S"], Invalid,
        "A seal's `prev_seal_hash` is not the stored hash of the seal before it (for the first, the manifest's `prev_seal_hash`).",
        "the previous seal's stored hash", "the seal's prev_seal_hash"),
    SealUnexpected => ("seal_unexpected", ["S"], Invalid,
        "A seal record with no open segment before it.",
        "", ""),
    SealRangeMismatch => ("seal_range_mismatch", ["S"], Invalid,
        "A seal's `segment_id`, `first_seq`, `last_seq` or `count` differs from the envelopes of the chain in its segment.",
        "the segment's id, range and count", "the seal's"),
    SealMerkleRootMismatch => ("seal_merkle_root_mismatch", ["S"], Invalid,
        "A seal's `merkle_root` is not the RFC 6962 root over the stored hashes of the envelopes of the chain in its segment.",
        "the computed root", "the seal's merkle_root"),
    SealLastEnvelopeMismatch => ("seal_last_envelope_mismatch", ["S"], Invalid,
        "A seal's `last_envelope_hash` is not the stored hash of the last envelope of its segment.",
        "the last envelope's stored hash", "the seal's last_envelope_hash"),
    SegmentNotClosed => ("segment_not_closed", ["S"], Invalid,
        "The last envelope of a sealed segment is not `arxi.segment.sealed`.",
        "arxi.segment.sealed", "the last envelope's type"),
    SealTimeRegressed => ("seal_time_regressed", ["S"], Invalid,
        "A seal's `sealed_at` is earlier than the `received_at` of the last envelope of its segment.",
        "the last envelope's received_at", "the seal's sealed_at"),
    UnsealedEnvelopes => ("unsealed_envelopes", ["E"], Invalid,
        "The contents end while a segment is open: envelopes after the last seal.",
        "", "how many envelopes"),
    TrailerMalformed => ("trailer_malformed", ["Z"], Invalid,
        "The trailer does not parse (strict record rules), or is not in its canonical form.",
        "", ""),
    BundleContentMismatch => ("bundle_content_mismatch", ["Z"], Invalid,
        "The trailer's `content_sha256` is not the SHA-256 of every byte before the trailer record, or its `records` is not the number of records before it.",
        "the digest and record count of the file", "the trailer's"),
    BundleUntrustedKey => ("bundle_untrusted_key", ["Z"], Invalid,
        "The trailer is signed by a key id that is not among the trusted keys.",
        "", "the trailer's key_id"),
    BundleSignatureInvalid => ("bundle_signature_invalid", ["Z"], Invalid,
        "The trailer's content does not hash to its `hash`, or its signature does not verify under its (trusted) key.",
        "", ""),
    BundleKeyNotInForce => ("bundle_key_not_in_force", ["Z"], Invalid,
        "The manifest's `key_id` (the trailer's signer) signed an envelope or seal of the bundle but is neither the key in force at its end nor the root a delegation record names for that key. Not checked when the manifest did not parse or no envelope was taken into the chain.",
        "the key in force at the end", "the manifest's key_id"),
    BundleEmpty => ("bundle_empty", ["Z"], Invalid,
        "The trailer is reached and the bundle holds no envelope record.",
        "", ""),
    DataAfterTrailer => ("data_after_trailer", ["file"], Invalid,
        "Bytes follow the trailer record.",
        "", ""),
    AnchorOutOfPlace => ("anchor_out_of_place", ["W"], Invalid,
        "A witnessed anchor record is followed by another record than the trailer (a second `W` included); it is not used.",
        "the trailer", "the record that follows"),
    AnchorMalformed => ("anchor_malformed", ["W"], Invalid,
        "The witnessed anchor does not parse (strict record rules, section 11.7), is not canonical, or its `checkpoint` is not a signed note whose text is a checkpoint without extension lines and whose origin is a valid key name; nothing else is checked for it.",
        "", ""),
    AnchorSignatureInvalid => ("anchor_signature_invalid", ["W"], Invalid,
        "No trusted recorder key signed the anchor's checkpoint under its origin (section 14.2), or a signature line of a trusted key on it does not verify.",
        "", "the checkpoint's origin"),
    AnchorPositionMismatch => ("anchor_position_mismatch", ["W"], Invalid,
        "The anchor's `tree_size` is not its checkpoint's size, or its `leaf_index` is not the `seq` - 1 of the last envelope taken into the chain, or not below `tree_size`.",
        "the last envelope's leaf index and the checkpoint's size", "the record's leaf_index and tree_size"),
    AnchorRootMismatch => ("anchor_root_mismatch", ["W"], Invalid,
        "The anchor's inclusion proof (RFC 9162 §2.1.3.2) from the last envelope's leaf `SHA-256(0x00 || stored hash)` does not lead to the checkpoint's root, or has the wrong length.",
        "the checkpoint's root", ""),
    AnchorNotWitnessed => ("anchor_not_witnessed", ["W"], Invalid,
        "Under a witness policy (`--witness ... --quorum q`): fewer than `q` distinct trusted witnesses' cosignatures verify on the anchor's checkpoint, or a trusted witness's cosignature line on it does not verify.",
        "the quorum", "trusted cosignatures that verified"),
    AnchorMissing => ("anchor_missing", ["Z"], Invalid,
        "Under a witness policy, the bundle carries no witnessed anchor record.",
        "a W record cosigned by the quorum", "none"),
    TimestampOutOfPlace => ("timestamp_out_of_place", ["T"], Invalid,
        "A timestamp record (`T`, section 11.9) does not follow a seal record that parsed, or another `T` record after it; it is not used.",
        "a seal record before it", "the record before it"),
    TimestampMalformed => ("timestamp_malformed", ["T", "E", "proof"], Invalid,
        "A timestamp record does not parse (strict record rules), is not canonical, or is beyond the 16th after its seal; or the payload of an `arxi.log.timestamped` envelope does not parse (rule TC: its members, a checkpoint of at least one envelope and of fewer than the envelope's `seq`); or a token is not an RFC 3161 token as section 11.9 reads one (a CMS SignedData with exactly one signer, holding a version 1 TSTInfo, signed attributes naming the TSTInfo content type and holding its digest, a supported digest and signature algorithm); it is not used.",
        "", "what is wrong"),
    TimestampImprintMismatch => ("timestamp_imprint_mismatch", ["T", "E", "proof"], Invalid,
        "A token's message imprint is not the SHA-256 imprint of the stored hash of the seal before it (rule T2), or of the text of the checkpoint an `arxi.log.timestamped` envelope carries (rule TC): the token is over another hash, or another hash algorithm.",
        "the seal's stored hash (the checkpoint text's SHA-256)", "the token's imprint"),
    TimestampSignatureInvalid => ("timestamp_signature_invalid", ["T", "E", "proof"], Invalid,
        "A token's message-digest attribute is not the digest of its TSTInfo, or its signature over the signed attributes does not verify under its signer's certificate (rule T3).",
        "", "what does not verify"),
    TimestampUntrusted => ("timestamp_untrusted", ["T", "E", "proof"], Invalid,
        "With TSA certificates given (`--tsa-cert`), a token's signer is not one of them and is not issued by one (through at most 4 CA certificates carried in the token), its certificate does not allow timestamping (a critical extended key usage naming id-kp-timeStamping; a key usage, if present, allowing signatures), or a certificate on the way was not valid at the token's genTime (rule T4).",
        "", "why the signer is not trusted"),
    TimestampTimeSkew => ("timestamp_time_skew", ["T", "E", "proof"], Invalid,
        "A token's genTime differs from the seal's `sealed_at` (for the token of an `arxi.log.timestamped` envelope: from that envelope's `received_at`, rule TC) by more than the tolerance (300 seconds unless `--timestamp-tolerance` says otherwise) plus the accuracy the token states (rule T5).",
        "the seal's sealed_at (the envelope's received_at) and the tolerance", "the token's genTime"),
    TimestampCheckpointMismatch => ("timestamp_checkpoint_mismatch", ["E"], Invalid,
        "The checkpoint an `arxi.log.timestamped` envelope carries is not the log tree of this chain: the inclusion proof it carries does not lead from the leaf of envelope `size` (its stored hash, as this chain holds it) to the checkpoint's root (rule TC). Checked when that envelope is among the 65,536 envelopes of the chain before the stamp.",
        "the checkpoint's root", "where the proof from envelope size leads"),
    TimestampMissing => ("timestamp_missing", ["S", "proof"], Invalid,
        "Under a timestamp policy (`--require-timestamp`, with `--tsa-cert`), a seal is followed by no timestamp record (a proof's seal carries no token) whose token holds rules T2 to T5 and is signed by a trusted TSA (rule T6).",
        "a token of a trusted TSA", "none"),
    ProofPositionMismatch => ("proof_position_mismatch", ["proof"], Invalid,
        "The proof's envelope and seal name other recorders or segments, `tree_size` is not the seal's `count`, or the envelope's `seq` is not `first_seq + leaf_index` within the sealed range.",
        "", ""),
    ProofRootMismatch => ("proof_root_mismatch", ["proof"], Invalid,
        "The audit path (RFC 9162 §2.1.3.2) from the envelope's leaf `SHA-256(0x00 || hash)` does not lead to the seal's `merkle_root`, has the wrong length for `leaf_index` and `tree_size`, or `leaf_index` is not below `tree_size`.",
        "", ""),
    ProofNotCanonical => ("proof_not_canonical", ["proof"], Invalid,
        "The proof file (without one trailing LF) is not the proof's canonical form.",
        "", ""),
    BundlesRecorderMismatch => ("bundles_recorder_mismatch", ["series"], Invalid,
        "A bundle of a series names another `recorder_id` than the bundle before it.",
        "the previous bundle's recorder_id", "this bundle's recorder_id"),
    BundlesGap => ("bundles_gap", ["series"], Invalid,
        "A bundle of a series starts after the sequence number following the previous bundle's last seal: envelopes are missing between them.",
        "the previous bundle's last_seq + 1", "this bundle's first_seq"),
    BundlesOverlap => ("bundles_overlap", ["series"], Invalid,
        "A bundle of a series starts at or before the previous bundle's last sealed sequence number.",
        "the previous bundle's last_seq + 1", "this bundle's first_seq"),
    BundleAnchorMismatch => ("bundle_anchor_mismatch", ["series"], Invalid,
        "A bundle of a series starts right after the previous one, but its manifest's `prev_hash` is not the previous bundle's last `last_envelope_hash` or its `prev_seal_hash` is not the previous bundle's last seal hash.",
        "the previous bundle's last envelope and seal hashes", "this manifest's prev_hash and prev_seal_hash"),
}

impl Code {
    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        self.info().code
    }

    /// The code named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| code.as_str() == text)
    }

    /// The registry as the JSON document published in
    /// `Docs/generated/arxi/format/findings.json`.
    pub fn registry_json() -> Value {
        let codes: Vec<Value> = Self::ALL
            .iter()
            .map(|code| {
                let info = code.info();
                json!({
                    "code": info.code,
                    "applies_to": info.applies_to,
                    "verdict": info.verdict.as_str(),
                    "when": info.when,
                    "expected": info.expected,
                    "found": info.found,
                })
            })
            .collect();
        json!({
            "format": "arxi.findings",
            "version": 1,
            "note": "Every finding code the arxi verifier reports (Docs/format.md section 13). Generated by `arxi findings`; do not edit.",
            "codes": codes,
        })
    }

    /// The registry as the Markdown table of `Docs/format.md` section 13.
    pub fn registry_markdown() -> String {
        let mut table = String::from(
            "| code | applies to | verdict | fires when | `expected` | `found` |\n|---|---|---|---|---|---|\n",
        );
        let cell = |text: &str| {
            if text.is_empty() {
                "-".to_owned()
            } else {
                text.replace('|', "\\|")
            }
        };
        for code in Self::ALL {
            let info = code.info();
            table.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                info.code,
                info.applies_to.join(", "),
                info.verdict.as_str(),
                cell(info.when),
                cell(info.expected),
                cell(info.found),
            ));
        }
        table
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind.
    pub code: Code,
    /// Index of the record in the file (0 = manifest), when tied to one.
    pub record: Option<u64>,
    /// Byte offset of that record's header (or of the byte concerned).
    pub offset: Option<u64>,
    /// The segment, when known.
    pub segment_id: Option<u64>,
    /// The envelope's sequence number, when known.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
    /// The value that was expected (hashes in hex, numbers in decimal).
    pub expected: Option<String>,
    /// The value found.
    pub found: Option<String>,
}

impl Finding {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code.as_str(),
            "record": self.record,
            "offset": self.offset,
            "segment_id": self.segment_id,
            "seq": self.seq,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
        })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.code.as_str())?;
        if let Some(record) = self.record {
            write!(f, " record {record}")?;
        }
        if let Some(segment) = self.segment_id {
            write!(f, " segment {segment}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, "; expected {expected}")?;
        }
        if let Some(found) = &self.found {
            write!(f, "; found {found}")?;
        }
        Ok(())
    }
}

/// What was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read.
    pub records: u64,
    /// Envelope records read.
    pub envelopes: u64,
    /// Envelope signatures verified (valid).
    pub signatures_verified: u64,
    /// Seal records read.
    pub seals: u64,
    /// Attachment records read.
    pub attachments: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// Where a bundle sits in its recorder's chain, for checking consecutive
/// bundles: the manifest's start and the last seal's end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchors {
    /// The manifest's `recorder_id`, `first_seq`, `prev_hash` and
    /// `prev_seal_hash`, when it parsed.
    pub start: Option<(String, u64, Hash32, Hash32)>,
    /// The last seal that parsed: its `last_seq`, `last_envelope_hash` and
    /// stored hash.
    pub end: Option<(u64, Hash32, Hash32)>,
}

/// The witnessed anchor of a bundle, as read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorReport {
    /// The checkpoint's origin (the log's name).
    pub origin: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The checkpoint's root.
    pub root: Hash32,
    /// The anchored leaf (the last envelope's `seq` - 1).
    pub leaf_index: u64,
    /// Signature lines on the checkpoint (the recorder's and every
    /// cosignature, trusted or not).
    pub signature_lines: usize,
    /// The trusted witnesses whose cosignatures verified, with the times
    /// they state (empty without a witness policy).
    pub witnesses: Vec<(String, u64)>,
    /// The policy's quorum (0: none given).
    pub quorum: usize,
    /// Every anchor rule held (and the quorum was met).
    pub holds: bool,
}

impl AnchorReport {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        let witnesses: Vec<Value> = self
            .witnesses
            .iter()
            .map(|(name, time)| json!({"name": name, "time": time}))
            .collect();
        json!({
            "holds": self.holds,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root": self.root.to_hex(),
            "leaf_index": self.leaf_index,
            "signature_lines": self.signature_lines,
            "quorum": self.quorum,
            "trusted_cosignatures": self.witnesses.len(),
            "witnesses": witnesses,
        })
    }
}

/// Most timestamp tokens a report lists (more are checked, not listed).
pub const TIMESTAMP_REPORTS_MAX: usize = 100_000;

/// One timestamp token of a bundle, as read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampReport {
    /// The stamped seal's segment.
    pub segment_id: u64,
    /// The TSA's name in the record (a label, not checked).
    pub tsa: String,
    /// The token's genTime.
    pub gen_time: Option<arxi_format::Timestamp>,
    /// The signer's certificate subject, when its signature verified.
    pub signer: Option<String>,
    /// Signed by a TSA whose certificate was given (`--tsa-cert`).
    pub trusted: bool,
    /// Every rule T (for a checkpoint's token, rule TC) held for it.
    pub holds: bool,
    /// For the token of an `arxi.log.timestamped` envelope: the stamped
    /// checkpoint's size, and whether its root was checked against the
    /// chain (envelope `size` was at hand).
    pub checkpoint: Option<(u64, bool)>,
}

impl TimestampReport {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "segment_id": self.segment_id,
            "tsa": self.tsa,
            "gen_time": self.gen_time.map(|time| time.to_string()),
            "signer": self.signer,
            "trusted": self.trusted,
            "holds": self.holds,
        });
        if let Some((size, root_checked)) = self.checkpoint {
            value["checkpoint_size"] = json!(size);
            value["checkpoint_root_checked"] = json!(root_checked);
        }
        value
    }
}

/// What a bundle shows of one version 2 envelope's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadState {
    /// Disclosed, and it matches the envelope's commitment.
    Disclosed,
    /// Disclosed, and it does not match (`payload_commitment_mismatch`).
    Mismatched,
    /// Withheld by the builder's selection.
    Withheld,
    /// Erased by the recorder, as the erasure record at `erased_by`
    /// records.
    Erased {
        /// The `arxi.payload.erased` envelope's sequence number.
        erased_by: u64,
    },
    /// No usable `P` record (missing or malformed).
    Missing,
}

impl PayloadState {
    /// The state's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disclosed => "disclosed",
            Self::Mismatched => "mismatched",
            Self::Withheld => "withheld",
            Self::Erased { .. } => "erased",
            Self::Missing => "missing",
        }
    }
}

/// Consecutive version 2 envelopes in one payload state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadRange {
    /// First envelope.
    pub first_seq: u64,
    /// Last envelope.
    pub last_seq: u64,
    /// Their state.
    pub state: PayloadState,
}

/// Most payload ranges a report keeps (more are counted).
pub const PAYLOAD_RANGES_MAX: usize = 100_000;

/// The payload state of every version 2 envelope of a bundle, as runs of
/// consecutive envelopes in one state, with counts per state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadStates {
    /// The runs, in file order (at most [`PAYLOAD_RANGES_MAX`]).
    pub ranges: Vec<PayloadRange>,
    /// Runs beyond the kept ones.
    pub ranges_dropped: u64,
    /// Envelopes disclosed and matched.
    pub disclosed: u64,
    /// Envelopes withheld.
    pub withheld: u64,
    /// Envelopes erased.
    pub erased: u64,
    /// Envelopes mismatched or without a usable `P` record.
    pub unusable: u64,
}

impl PayloadStates {
    /// Adds envelope `seq` in `state`.
    pub fn push(&mut self, seq: u64, state: PayloadState) {
        match state {
            PayloadState::Disclosed => self.disclosed += 1,
            PayloadState::Withheld => self.withheld += 1,
            PayloadState::Erased { .. } => self.erased += 1,
            PayloadState::Mismatched | PayloadState::Missing => self.unusable += 1,
        }
        if let Some(last) = self.ranges.last_mut()
            && last.state == state
            && last.last_seq.checked_add(1) == Some(seq)
        {
            last.last_seq = seq;
            return;
        }
        if self.ranges.len() >= PAYLOAD_RANGES_MAX {
            self.ranges_dropped += 1;
            return;
        }
        self.ranges.push(PayloadRange {
            first_seq: seq,
            last_seq: seq,
            state,
        });
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let ranges: Vec<Value> = self
            .ranges
            .iter()
            .map(|range| {
                let mut value = json!({
                    "first_seq": range.first_seq,
                    "last_seq": range.last_seq,
                    "state": range.state.as_str(),
                });
                if let PayloadState::Erased { erased_by } = range.state {
                    value["erased_by"] = json!(erased_by);
                }
                value
            })
            .collect();
        json!({
            "disclosed": self.disclosed,
            "withheld": self.withheld,
            "erased": self.erased,
            "unusable": self.unusable,
            "ranges": ranges,
            "ranges_dropped": self.ranges_dropped,
        })
    }
}

/// The outcome of verifying a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every finding kept, in file order.
    pub findings: Vec<Finding>,
    /// Findings beyond the kept ones.
    pub findings_dropped: u64,
    /// Every code found, including those of dropped findings.
    pub codes_found: BTreeSet<Code>,
    /// What was checked.
    pub counts: Counts,
    /// The bundle could not be checked at all (not a bundle, unknown
    /// version, no manifest first, unreadable).
    pub could_not_check: bool,
    /// The recorder id, from the manifest.
    pub recorder_id: Option<String>,
    /// The sequence range, from the manifest.
    pub seq_range: Option<(u64, u64)>,
    /// Start and end, for consecutive bundles.
    pub anchors: Anchors,
    /// The payload state of every version 2 envelope.
    pub payloads: PayloadStates,
    /// The witnessed anchor, when the bundle carries one that could be
    /// read (`W`, section 11.7).
    pub anchor: Option<AnchorReport>,
    /// The timestamp tokens read (`T`, section 11.9), in file order (at
    /// most [`TIMESTAMP_REPORTS_MAX`]).
    pub timestamps: Vec<TimestampReport>,
    /// Every key known revoked at the end (given in
    /// [`crate::Options::revoked`] or met in `arxi.key.revoked`
    /// envelopes), with the first `seq` it is no longer valid for: the
    /// next bundle of a series starts from these.
    pub revoked: std::collections::BTreeMap<arxi_format::KeyId, u64>,
    /// For each key a key record of the bundle names, the highest `seq` it
    /// signed in the bundle (envelopes of the chain: `seq`; seals:
    /// `last_seq`): a revocation in a later bundle of a series is checked
    /// against it.
    pub signed_up_to: std::collections::BTreeMap<arxi_format::KeyId, u64>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.codes_found.is_empty() && !self.could_not_check
    }

    /// The exit code `arxi bundle verify` gives: 0 valid, 1 invalid, 2
    /// could not check.
    pub fn exit_code(&self) -> u8 {
        if self.could_not_check {
            2
        } else if self.is_valid() {
            0
        } else {
            1
        }
    }

    /// The first finding in file order (the first bad record).
    pub fn first_bad(&self) -> Option<&Finding> {
        self.findings.iter().min_by_key(|finding| {
            (
                finding.offset.unwrap_or(u64::MAX),
                finding.seq.unwrap_or(u64::MAX),
            )
        })
    }

    /// The distinct codes found, in registry order.
    pub fn codes(&self) -> Vec<Code> {
        self.codes_found.iter().copied().collect()
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "valid": self.is_valid(),
            "could_not_check": self.could_not_check,
            "recorder_id": self.recorder_id,
            "first_seq": self.seq_range.map(|r| r.0),
            "last_seq": self.seq_range.map(|r| r.1),
            "checked": {
                "records": self.counts.records,
                "envelopes": self.counts.envelopes,
                "signatures_verified": self.counts.signatures_verified,
                "seals": self.counts.seals,
                "attachments": self.counts.attachments,
                "bytes": self.counts.bytes,
            },
            "codes": self.codes().iter().map(|code| code.as_str()).collect::<Vec<_>>(),
            "first_bad_record": self.first_bad().map(Finding::to_json),
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "findings_dropped": self.findings_dropped,
            "payloads": self.payloads.to_json(),
            "anchored": self.anchor.as_ref().is_some_and(|anchor| anchor.holds),
            "anchor": self.anchor.as_ref().map(AnchorReport::to_json),
            "timestamps": self.timestamps.iter().map(TimestampReport::to_json).collect::<Vec<_>>(),
        })
    }
}
