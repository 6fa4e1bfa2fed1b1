//! The golden bundle and the attacks on it (`bundles/tampered/`). Record
//! attacks keep the container signed by the bundle key, so each shows the
//! record-level checks on their own (an attacker without the key also
//! breaks the trailer: see `unsigned-edit`).

use arxi_format::bundle::{Manifest, Tag};
use arxi_format::envelope::Envelope;
use arxi_format::merkle;
use arxi_format::seal::envelope_leaf;
use arxi_format::{CanonicalJson, Hash32};
use serde_json::json;

use super::Suite;
use super::bundle::Bundle;
use super::history::{Rec, key};

fn attack(
    suite: &mut Suite,
    name: &str,
    description: &str,
    codes: &[&'static str],
    edit: impl FnOnce(&mut Bundle),
) {
    let mut bundle = Bundle::golden();
    edit(&mut bundle);
    suite.bundle("tampered", name, description, bundle.bytes(), codes);
}

fn remove_envelope(bundle: &mut Bundle, seq: u64) {
    let index = bundle.envelope_index(seq);
    bundle.records.remove(index);
}

/// The golden bundle, and the bundle attacks.
pub(crate) fn tampered(suite: &mut Suite) {
    let golden = Bundle::golden().bytes();
    suite.bundle(
        "",
        "golden",
        "five sealed segments, 27 envelopes, one attachment; key A for segments 1 to 3, a restart with key B in segment 4 (whose arxi.segment.opened B signs before the arxi.key.changed), trailer signed by B",
        golden.clone(),
        &[],
    );
    suite.verify(
        "golden-key-a-only",
        "the golden bundle with only key A trusted: every record B signed is named",
        &["bundles/golden.arxb"],
        &["a"],
        &[
            "envelope_untrusted_key",
            "seal_untrusted_key",
            "bundle_untrusted_key",
        ],
    );
    key_windows(suite);
    envelope_attacks(suite);
    order_attacks(suite);
    segment_attacks(suite);
    container_attacks(suite, &golden);
}

/// The golden bundle under keys given with validity windows (format
/// section 11.8): A signs envelopes 1 to 17 and the seals of segments 1 to
/// 3, B envelopes 18 to 27, the seals of segments 4 and 5 and the trailer.
fn key_windows(suite: &mut Suite) {
    let golden = ["bundles/golden.arxb"];
    suite.verify(
        "golden-key-windows-exact",
        "the golden bundle with A trusted up to seq 17 and B from seq 18: everything each signed lies in its window",
        &golden,
        &["a@..17", "b@18.."],
        &[],
    );
    suite.verify(
        "golden-key-a-until-10",
        "the golden bundle with A trusted up to seq 10 only: envelopes 11 to 17 and the seals of segments 2 and 3, which end past 10, are outside A's window",
        &golden,
        &["a@..10", "b"],
        &["key_outside_window"],
    );
    suite.verify(
        "golden-key-b-from-20",
        "the golden bundle with B trusted from seq 20: envelopes 18 and 19 are outside B's window (the seal of segment 4, reaching 23, is inside)",
        &golden,
        &["a", "b@20.."],
        &["key_outside_window"],
    );
    suite.verify(
        "golden-key-b-until-25",
        "the golden bundle with B trusted for seq 18 to 25: envelopes 26 and 27, the seal of segment 5 and the trailer (the bundle ends at 27) are outside B's window",
        &golden,
        &["a@..17", "b@18..25"],
        &["key_outside_window"],
    );
}

fn envelope_attacks(suite: &mut Suite) {
    attack(
        suite,
        "payload-byte-flipped",
        "one byte of envelope 4's payload changed (alice -> alicf), nothing recomputed",
        &["envelope_hash_mismatch"],
        |b| {
            let index = b.envelope_index(4);
            b.edit_record(index, |payload| {
                let text = String::from_utf8(payload.clone()).expect("utf8");
                *payload = text.replacen("\"alice\"", "\"alicf\"", 1).into_bytes();
            });
        },
    );
    attack(
        suite,
        "envelope-field-changed",
        "envelope 6's event type changed, nothing recomputed",
        &["envelope_hash_mismatch"],
        |b| {
            let index = b.envelope_index(6);
            b.edit_record(index, |payload| {
                let mut envelope = Envelope::parse(payload).expect("envelope");
                envelope.body.event_type = "payments.cancelled".into();
                *payload = envelope.to_canonical_bytes();
            });
        },
    );
    attack(
        suite,
        "hash-recomputed-not-resigned",
        "envelope 4's payload changed and its hash recomputed, the signature left",
        &[
            "envelope_signature_invalid",
            "chain_broken",
            "seal_merkle_root_mismatch",
        ],
        |b| {
            let index = b.envelope_index(4);
            b.edit_record(index, |payload| {
                let mut envelope = Envelope::parse(payload).expect("envelope");
                envelope.body.payload = arxi_format::envelope::Payload::Inline(
                    CanonicalJson::from_value(&json!({"invoice": "2026-0042", "amount": 9250.75}))
                        .expect("json"),
                );
                envelope.hash = envelope.body.compute_hash();
                *payload = envelope.to_canonical_bytes();
            });
        },
    );
    attack(
        suite,
        "envelope-inserted-other-key",
        "an envelope signed by an untrusted key inserted after envelope 10, chained to it",
        &[
            "envelope_untrusted_key",
            "key_not_in_force",
            "key_record_missing",
            "envelope_out_of_order",
            "chain_broken",
            "seal_merkle_root_mismatch",
            "manifest_mismatch",
        ],
        |b| {
            let attacker = key("attacker");
            let index = b.envelope_index(10);
            let before = b.records[index].envelope();
            let mut body = before.body.clone();
            body.seq += 1;
            body.prev_hash = before.hash;
            body.event_type = "payments.approved".into();
            body.key_id = attacker.id().clone();
            b.records.insert(
                index + 1,
                Rec::new(Tag::Envelope, body.sign(&attacker).to_canonical_bytes()),
            );
        },
    );
    attack(
        suite,
        "attachment-replaced",
        "envelope 5's attachment bytes replaced",
        &["attachment_mismatch"],
        |b| {
            let index = b.nth(Tag::Attachment, 0);
            b.records[index].payload = b"%PDF-1.7 a different statement\n".to_vec();
        },
    );
}

fn order_attacks(suite: &mut Suite) {
    attack(
        suite,
        "envelope-removed-middle",
        "envelope 10 (middle of segment 2) removed",
        &[
            "envelope_missing",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "manifest_mismatch",
        ],
        |b| remove_envelope(b, 10),
    );
    attack(
        suite,
        "envelope-removed-first",
        "envelope 1 (the first of the bundle) removed",
        &[
            "envelope_missing",
            "segment_opened_mismatch",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "manifest_mismatch",
        ],
        |b| remove_envelope(b, 1),
    );
    attack(
        suite,
        "envelope-removed-last",
        "the last envelope (arxi.segment.sealed of segment 5) removed",
        &[
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "seal_last_envelope_mismatch",
            "segment_not_closed",
            "manifest_mismatch",
        ],
        |b| remove_envelope(b, 27),
    );
    attack(
        suite,
        "two-envelopes-removed",
        "envelopes 10 and 11 (consecutive) removed",
        &[
            "envelope_missing",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "manifest_mismatch",
        ],
        |b| {
            remove_envelope(b, 10);
            remove_envelope(b, 11);
        },
    );
    attack(
        suite,
        "envelopes-swapped",
        "envelopes 9 and 10 swapped: 10 comes with 9 missing, then 9 is out of order and not taken into the chain or its segment",
        &[
            "envelope_missing",
            "envelope_out_of_order",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
        ],
        |b| {
            let index = b.envelope_index(9);
            b.records.swap(index, index + 1);
        },
    );
    attack(
        suite,
        "envelope-duplicated",
        "envelope 10 appears twice",
        &["envelope_duplicated", "manifest_mismatch"],
        |b| {
            let index = b.envelope_index(10);
            b.insert_copy(index, index + 1);
        },
    );
}

fn segment_attacks(suite: &mut Suite) {
    let dropped = [
        "segment_missing",
        "envelope_missing",
        "seal_chain_broken",
        "segment_opened_mismatch",
        "manifest_mismatch",
    ];
    attack(
        suite,
        "segment-dropped",
        "segment 2 (envelopes and seal) removed",
        &dropped,
        |b| {
            let span = b.segment_span(2);
            b.records.drain(span);
        },
    );
    let mut two = dropped;
    two[0] = "segments_missing";
    attack(
        suite,
        "two-segments-dropped",
        "segments 2 and 3 (consecutive) removed",
        &two,
        |b| {
            let (start, end) = (b.segment_span(2).start, b.segment_span(3).end);
            b.records.drain(start..end);
        },
    );
    let resealed = |suite: &mut Suite,
                    name: &str,
                    description: &str,
                    codes: &[&'static str],
                    segment: u64,
                    signer: &str,
                    edit: fn(&mut arxi_format::SealBody)| {
        let bundle = Bundle::golden().reseal_with(segment, signer, edit);
        suite.bundle("tampered", name, description, bundle.bytes(), codes);
    };
    resealed(
        suite,
        "seal-wrong-merkle-root",
        "segment 2's seal carries another Merkle root (re-signed with the right key)",
        &[
            "seal_merkle_root_mismatch",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        2,
        "a",
        |body| body.merkle_root = Hash32::of(b"another root"),
    );
    resealed(
        suite,
        "seal-untrusted-key",
        "segment 2's seal re-signed by an untrusted key (also not the key in force, and with no key record)",
        &[
            "seal_untrusted_key",
            "key_not_in_force",
            "key_record_missing",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        2,
        "attacker",
        |_| {},
    );
    resealed(
        suite,
        "seal-chain-broken",
        "segment 3's seal names another previous seal (re-signed with the right key)",
        &[
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        3,
        "a",
        |body| body.prev_seal_hash = Hash32::of(b"another seal"),
    );
    attack(
        suite,
        "data-after-last-seal",
        "an envelope, correctly chained, timed and signed, appended after the last seal",
        &["unsealed_envelopes", "manifest_mismatch"],
        |b| {
            let last = b.envelope_index(27);
            let before = b.records[last].envelope();
            let seal = b.records.last().expect("seal").seal();
            let mut body = before.body.clone();
            body.seq += 1;
            body.prev_hash = before.hash;
            body.segment_id += 1;
            body.received_at = super::history::later(seal.body.sealed_at, 1);
            body.event_type = "arxi.segment.opened".into();
            body.payload = arxi_format::envelope::Payload::Inline(CanonicalJson::from_value(&json!({"prev_seal_hash": seal.hash.to_hex(), "reason": "append", "segment_id": body.segment_id})).expect("json"));
            b.records.push(Rec::new(
                Tag::Envelope,
                body.sign(&key("b")).to_canonical_bytes(),
            ));
        },
    );
    attack(
        suite,
        "manifest-disagrees",
        "the manifest claims one envelope fewer",
        &["manifest_mismatch"],
        |b| {
            let mut manifest = Manifest::parse(&b.records[0].payload).expect("manifest");
            manifest.envelope_count -= 1;
            b.records[0].payload = manifest.to_canonical_bytes();
        },
    );
    resealed_under_newer_key(suite);
}

fn resealed_under_newer_key(suite: &mut Suite) {
    attack(
        suite,
        "resealed-under-newer-key",
        "segment 2 edited and all its envelopes and its seal re-signed with key B, which only came into force in segment 4 (B's key record says it signed first at seq 18)",
        &[
            "key_not_in_force",
            "key_record_first_seq_mismatch",
            "chain_broken",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        |b| {
            let signer = key("b");
            let span = b.segment_span(2);
            let mut head: Option<Envelope> = None;
            let mut leaves = Vec::new();
            for index in span {
                if b.records[index].tag != Tag::Envelope {
                    continue;
                }
                let mut body = b.records[index].envelope().body;
                if let Some(previous) = &head {
                    body.prev_hash = previous.hash;
                }
                if body.event_type == "orders.placed" {
                    body.actor = Some("mallory".into());
                }
                body.key_id = signer.id().clone();
                let envelope = body.sign(&signer);
                leaves.push(envelope_leaf(&envelope.hash));
                b.records[index].payload = envelope.to_canonical_bytes();
                head = Some(envelope);
            }
            let last = head.expect("segment has envelopes");
            let resealed = b.clone().reseal_with(2, "b", |body| {
                body.merkle_root = merkle::root(&leaves);
                body.last_envelope_hash = last.hash;
            });
            *b = resealed;
        },
    );
}

fn container_attacks(suite: &mut Suite, golden: &[u8]) {
    let signed_by_attacker = Bundle::golden()
        .edit_manifest(|m| m.key_id = key("attacker").id().clone())
        .signed_by("attacker");
    suite.bundle(
        "tampered",
        "bundle-signed-by-untrusted-key",
        "the container rebuilt and signed by an untrusted key",
        signed_by_attacker.bytes(),
        &["bundle_untrusted_key"],
    );
    let mut unsigned = golden.to_vec();
    let at = find(&unsigned, b"\"dave\"") + 1;
    unsigned[at] = b'D';
    suite.bundle(
        "tampered",
        "unsigned-edit",
        "one byte of an envelope changed in place (dave -> Dave), the trailer left as it was",
        unsigned,
        &["envelope_hash_mismatch", "bundle_content_mismatch"],
    );
    let trailer_at = rfind(golden, b"\nZ ") + 1;
    let cut = ["truncated", "unsealed_envelopes", "manifest_mismatch"];
    suite.bundle(
        "tampered",
        "truncated-mid-record",
        "the file cut in the middle of the last seal",
        golden[..trailer_at - 200].to_vec(),
        &cut,
    );
    let last_seal = rfind(golden, b"\nS ") + 1;
    suite.bundle(
        "tampered",
        "truncated-at-record-boundary",
        "the file cut cleanly before the last segment's seal and the trailer",
        golden[..last_seal].to_vec(),
        &cut,
    );
    let mut appended = golden.to_vec();
    appended.extend_from_slice(b"E 2\n{}\n");
    suite.bundle(
        "tampered",
        "data-after-trailer",
        "a record appended after the signed trailer",
        appended,
        &["data_after_trailer"],
    );
    let mut version = golden.to_vec();
    // Version 9, not the next one: the case must stay unknown when the
    // format grows (it said 3 until container version 3 was defined).
    version[12] = b'9';
    suite.bundle(
        "tampered",
        "unknown-format-version",
        "the preamble says container version 9 (this format knows 1 to 4)",
        version,
        &["unsupported_version"],
    );
    suite.bundle(
        "tampered",
        "not-a-bundle",
        "a file that is not a bundle",
        b"PK\x03\x04 not a bundle\n".to_vec(),
        &["not_a_bundle"],
    );
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

pub(crate) fn rfind(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("present")
}
