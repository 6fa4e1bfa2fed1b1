//! Crafted bundles (`bundles/crafted/`): one per rule that the tampered
//! set does not already show, each consistent everywhere else (re-chained
//! and re-signed with the published test keys) so that its code set is
//! exactly the rule's; bundles of segment ranges and series of them
//! (`bundles/ranges/`, `bundles/fork/`); the speccheck bundles
//! (`bundles/speccheck/`).

use arxi_format::bundle::{KeyRecord, Tag};
use arxi_format::envelope::Envelope;
use arxi_format::seal::Seal;
use arxi_format::{Hash32, Timestamp};

use super::Suite;
use super::bundle::Bundle;
use super::cases::find;
use super::history::{earlier, json_payload, key};
use super::speccheck::{self, Signer};

fn crafted(
    suite: &mut Suite,
    name: &str,
    description: &str,
    bundle: &Bundle,
    codes: &[&'static str],
) {
    suite.bundle("crafted", name, description, bundle.bytes(), codes);
}

fn crafted_bytes(
    suite: &mut Suite,
    name: &str,
    description: &str,
    bytes: Vec<u8>,
    codes: &[&'static str],
) {
    suite.bundle("crafted", name, description, bytes, codes);
}

/// An envelope record's text with one replacement.
fn replace_in(bundle: &mut Bundle, index: usize, from: &str, to: &str) {
    bundle.edit_record(index, |payload| {
        let text = String::from_utf8(payload.clone()).expect("utf8");
        assert!(text.contains(from), "{from} in record {index}");
        *payload = text.replacen(from, to, 1).into_bytes();
    });
}

/// Framing, record forms and the container.
pub(crate) fn records(suite: &mut Suite) {
    framing(suite);
    forms(suite);
    key_records(suite);
    trailers(suite);
}

fn framing(suite: &mut Suite) {
    let golden = Bundle::golden().bytes();
    let cut_at = find(&golden, b"\nE ") + 1;
    let after_ten = {
        let bundle = Bundle::golden();
        let eleven = &bundle.records[bundle.envelope_index(11)].payload;
        find(&golden, eleven) - format!("E {}\n", eleven.len()).len()
    };
    let stopped = ["bad_record", "unsealed_envelopes", "manifest_mismatch"];
    for (name, description, header) in [
        (
            "unknown-record-tag",
            "a record with the unknown tag X after envelope 10: reading stops there",
            &b"X 2\n{}\n"[..],
        ),
        (
            "record-too-long",
            "a record header with a length of 268435457 (one over the limit) after envelope 10",
            b"A 268435457\n",
        ),
        (
            "record-length-leading-zero",
            "a record header with the length 02 after envelope 10",
            b"E 02\n{}\n",
        ),
    ] {
        let mut bytes = golden.clone();
        bytes.splice(after_ten..after_ten, header.iter().copied());
        crafted_bytes(suite, name, description, bytes, &stopped);
    }
    let mut first_not_manifest = golden.clone();
    first_not_manifest.drain(14..cut_at);
    crafted_bytes(
        suite,
        "first-record-not-manifest",
        "the manifest and key records removed: the first record is an envelope",
        first_not_manifest,
        &["manifest_missing"],
    );
    let mut second = Bundle::golden();
    second.insert_copy(0, 1);
    crafted(
        suite,
        "second-manifest",
        "a copy of the manifest as the second record",
        &second,
        &["record_out_of_place"],
    );
    crafted_bytes(
        suite,
        "preamble-only",
        "the preamble and nothing else",
        b"ARXI-BUNDLE 1\n".to_vec(),
        &["truncated"],
    );
    crafted_bytes(
        suite,
        "first-record-cut-off",
        "the preamble, then an envelope record cut off inside its payload: truncated, not manifest_missing (rule F4 judges a record read whole)",
        b"ARXI-BUNDLE 1\nE 100\n{\"v\":1,".to_vec(),
        &["truncated"],
    );
    crafted_bytes(
        suite,
        "first-record-trailer",
        "the preamble, then a trailer record: no manifest, nothing else is checked (rule F4)",
        b"ARXI-BUNDLE 1\nZ 2\n{}\n".to_vec(),
        &["manifest_missing"],
    );
    // The 24 bytes of a header do not count its LF (rule F2): a file that
    // ends after 24 bytes of a header ended inside it; a 25th byte before
    // the LF is a bad header, even at the end of the file.
    let ending = ["truncated", "unsealed_envelopes", "manifest_mismatch"];
    for (name, description, tail, codes) in [
        (
            "header-of-24-bytes-at-the-end",
            "the file ends after envelope 10 and 24 bytes of a header without its LF: truncated inside the header",
            &b"E 1234567890123456789012"[..],
            &ending,
        ),
        (
            "unknown-tag-cut-off-at-the-end",
            "the file ends after envelope 10 and the 4 bytes X 12 without an LF: a header is judged at its LF, so truncated, not bad_record",
            &b"X 12"[..],
            &ending,
        ),
        (
            "header-of-25-bytes-at-the-end",
            "the file ends after envelope 10 and 25 bytes of a header without an LF: a bad header, not a truncation",
            b"E 12345678901234567890123",
            &stopped,
        ),
    ] {
        let mut bytes = golden[..after_ten].to_vec();
        bytes.extend_from_slice(tail);
        crafted_bytes(suite, name, description, bytes, codes);
    }
}

fn forms(suite: &mut Suite) {
    let mut manifest = Bundle::golden();
    manifest.edit_record(0, |payload| payload.insert(1, b' '));
    crafted(
        suite,
        "manifest-not-canonical",
        "a space inside the manifest (the trailer names the bytes as stored)",
        &manifest,
        &["manifest_malformed"],
    );
    let root =
        Bundle::golden().edit_manifest(|m| m.segments[1].merkle_root = Hash32::of(b"another root"));
    crafted(
        suite,
        "manifest-segment-root",
        "the manifest lists another Merkle root for segment 2",
        &root,
        &["manifest_mismatch"],
    );
    let mut envelope = Bundle::golden();
    let four = envelope.envelope_index(4);
    envelope.edit_record(four, |payload| payload.insert(1, b' '));
    crafted(
        suite,
        "envelope-not-canonical",
        "a space inside envelope 4 (its content hash is unchanged)",
        &envelope,
        &["envelope_not_canonical"],
    );
    // Envelope 4 malformed: not taken into the chain, so segment 1's seal
    // no longer matches what is.
    for (name, description, from, to) in [
        (
            "envelope-version-2",
            "envelope 4 says v 2: malformed, so not taken into the chain",
            "\"v\":1}",
            "\"v\":2}",
        ),
        (
            "payload-double-in-the-unsafe-integer-band",
            "envelope 4's payload holds 1e20, a double whose canonical form would be an integer literal beyond 2^53-1 (section 2.1): malformed, so not taken into the chain",
            "\"amount\":1250.75",
            "\"amount\":1e20",
        ),
    ] {
        let mut malformed = Bundle::golden();
        replace_in(&mut malformed, four, from, to);
        crafted(
            suite,
            name,
            description,
            &malformed,
            &[
                "envelope_malformed",
                "envelope_missing",
                "seal_merkle_root_mismatch",
                "seal_range_mismatch",
            ],
        );
    }
    let mut signature = Bundle::golden();
    signature.edit_record(four, |payload| {
        let mut envelope = Envelope::parse(payload).expect("envelope");
        envelope.signature.0[40] ^= 1;
        *payload = envelope.to_canonical_bytes();
    });
    crafted(
        suite,
        "envelope-signature-flipped",
        "one bit of envelope 4's signature flipped",
        &signature,
        &["envelope_signature_invalid"],
    );
    seals(suite);
    attachments(suite);
}

fn seals(suite: &mut Suite) {
    let two = Bundle::golden().seal_index(2);
    let mut edit_seal =
        |name: &str, description: &str, codes: &[&'static str], edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bundle = Bundle::golden();
            bundle.edit_record(two, edit);
            crafted(suite, name, description, &bundle, codes);
        };
    edit_seal(
        "seal-not-canonical",
        "a space inside segment 2's seal",
        &["seal_not_canonical"],
        &|p| p.insert(1, b' '),
    );
    // A seal that does not parse ends its segment without a usable seal:
    // the next seal's link, the next segment's opening and the manifest's
    // list of segments no longer agree with it.
    let unusable_seal = &[
        "seal_malformed",
        "seal_chain_broken",
        "segment_opened_mismatch",
        "manifest_mismatch",
    ];
    edit_seal(
        "seal-version-2",
        "segment 2's seal says v 2: malformed; the segment ends without a usable seal",
        unusable_seal,
        &|p| {
            let text = String::from_utf8(p.clone()).expect("utf8");
            *p = text.replacen("\"v\":1}", "\"v\":2}", 1).into_bytes();
        },
    );
    edit_seal(
        "seal-count-inconsistent",
        "segment 2's seal with a count one above last_seq - first_seq + 1: a field rule of section 9, so malformed, not a range mismatch",
        unusable_seal,
        &|p| {
            let text = String::from_utf8(p.clone()).expect("utf8");
            let count: u64 = text["{\"count\":".len()..]
                .split(',')
                .next()
                .and_then(|digits| digits.parse().ok())
                .expect("a seal starts with its count");
            *p = text
                .replacen(
                    &format!("{{\"count\":{count},"),
                    &format!("{{\"count\":{},", count + 1),
                    1,
                )
                .into_bytes();
        },
    );
    edit_seal(
        "seal-field-changed",
        "segment 2's sealed_at changed, nothing recomputed",
        &["seal_hash_mismatch"],
        &|p| {
            let mut seal = Seal::parse(p).expect("seal");
            seal.body.sealed_at =
                Timestamp::from_unix_micros(seal.body.sealed_at.unix_micros() + 1).expect("time");
            *p = seal.to_canonical_bytes();
        },
    );
    edit_seal(
        "seal-signature-flipped",
        "one bit of segment 2's seal signature flipped",
        &["seal_signature_invalid"],
        &|p| {
            let mut seal = Seal::parse(p).expect("seal");
            seal.signature.0[40] ^= 1;
            *p = seal.to_canonical_bytes();
        },
    );
    let mut twice = Bundle::golden();
    twice.insert_copy(two, two + 1);
    crafted(
        suite,
        "seal-twice",
        "segment 2's seal appears twice",
        &twice,
        &["seal_unexpected", "seal_chain_broken", "manifest_mismatch"],
    );
    let mut removed = Bundle::golden();
    removed.records.remove(two);
    crafted(
        suite,
        "seal-removed",
        "segment 2's seal removed: segment 3's arxi.segment.opened ends segment 2 without its seal",
        &removed,
        &[
            "seal_missing",
            "segment_opened_mismatch",
            "seal_chain_broken",
            "manifest_mismatch",
        ],
    );
}

fn attachments(suite: &mut Suite) {
    let index = Bundle::golden().nth(Tag::Attachment, 0);
    let mut removed = Bundle::golden();
    removed.records.remove(index);
    crafted(
        suite,
        "attachment-removed",
        "envelope 5's attachment record removed",
        &removed,
        &["attachment_missing"],
    );
    let mut extra = Bundle::golden();
    extra.insert_copy(index, index + 1);
    crafted(
        suite,
        "attachment-extra",
        "envelope 5's attachment record twice",
        &extra,
        &["attachment_unexpected"],
    );
}

fn key_records(suite: &mut Suite) {
    let b = key("b").public().clone();
    let index = Bundle::golden().key_record_index(&b);
    let mut swapped = Bundle::golden();
    replace_in(
        &mut swapped,
        index,
        &b.to_hex(),
        &key("attacker").public().to_hex(),
    );
    crafted(
        suite,
        "key-record-other-public-key",
        "B's key record carries the attacker's public key under B's key id",
        &swapped,
        &["key_record_id_mismatch"],
    );
    let mut off = Bundle::golden();
    off.edit_record(index, |payload| {
        let mut record = KeyRecord::parse(payload).expect("key record");
        record.first_seq += 1;
        *payload = record.to_canonical_bytes();
    });
    crafted(
        suite,
        "key-record-first-seq",
        "B's key record says it signed first at seq 19; it signed seq 18",
        &off,
        &["key_record_first_seq_mismatch"],
    );
    let mut late = Bundle::golden();
    let record = late.records.remove(index);
    let first = late.envelope_index(1);
    late.records.insert(first + 1, record);
    crafted(
        suite,
        "key-record-after-envelope",
        "B's key record moved after envelope 1",
        &late,
        &["key_record_out_of_place"],
    );
    let mut missing = Bundle::golden().edit_manifest(|m| {
        m.keys.pop();
    });
    missing.records.remove(index);
    crafted(
        suite,
        "key-record-missing",
        "B's key record removed (and from the manifest's key list)",
        &missing,
        &["key_record_missing"],
    );
    let mut spaced = Bundle::golden();
    spaced.edit_record(index, |payload| payload.insert(1, b' '));
    crafted(
        suite,
        "key-record-not-canonical",
        "a space inside B's key record",
        &spaced,
        &["key_record_invalid"],
    );
}

fn trailers(suite: &mut Suite) {
    let golden = Bundle::golden();
    crafted_bytes(
        suite,
        "trailer-version-2",
        "the trailer says v 2",
        golden.bytes_with_trailer(|p| {
            let text = String::from_utf8(p.clone()).expect("utf8");
            *p = text.replacen("\"v\":1}", "\"v\":2}", 1).into_bytes();
        }),
        &["trailer_malformed"],
    );
    crafted_bytes(
        suite,
        "trailer-signature-flipped",
        "one bit of the trailer's signature flipped",
        golden.bytes_with_trailer(|p| {
            let mut trailer = arxi_format::bundle::Trailer::parse(p).expect("trailer");
            trailer.signature.0[40] ^= 1;
            *p = trailer.to_canonical_bytes();
        }),
        &["bundle_signature_invalid"],
    );
    let other = Bundle::golden().trailer_manifest_hash(Hash32::of(b"another manifest"));
    crafted(
        suite,
        "trailer-other-manifest",
        "the trailer names another manifest hash (signed by B)",
        &other,
        &["manifest_hash_mismatch"],
    );
    crafted(
        suite,
        "manifest-key-not-trailer-key",
        "the manifest names B, the trailer is signed by A",
        &Bundle::golden().signed_by("a"),
        &["manifest_key_mismatch"],
    );
    let stale = Bundle::golden()
        .edit_manifest(|m| m.key_id = key("a").id().clone())
        .signed_by("a");
    crafted(
        suite,
        "trailer-by-stale-key",
        "manifest and trailer name key A, which signed segments 1 to 3 but is not in force at the end",
        &stale,
        &["bundle_key_not_in_force"],
    );
    let mut empty = Bundle::golden().edit_manifest(|m| {
        m.segments.clear();
        m.envelope_count = 0;
        m.last_seq = 0;
        m.keys.clear();
    });
    empty.records.retain(|record| record.tag == Tag::Manifest);
    crafted(
        suite,
        "empty",
        "a manifest and a signed trailer, nothing between",
        &empty,
        &["bundle_empty"],
    );
}

/// Recorder, time, key and control semantics.
pub(crate) fn semantics(suite: &mut Suite) {
    let other = Bundle::golden().rewrite(|body| {
        if body.seq == 9 {
            body.recorder_id = "another-recorder".into();
        }
    });
    crafted(
        suite,
        "recorder-id-envelope",
        "envelope 9 names another recorder",
        &other,
        &["recorder_id_mismatch"],
    );
    let other = Bundle::golden().rewrite_seals(|body| {
        if body.segment_id == 3 {
            body.recorder_id = "another-recorder".into();
        }
    });
    crafted(
        suite,
        "recorder-id-seal",
        "segment 3's seal names another recorder",
        &other,
        &["recorder_id_mismatch"],
    );
    times(suite);
    key_events(suite);
    control(suite);
}

fn times(suite: &mut Suite) {
    let regressed = Bundle::golden().rewrite(|body| {
        if body.seq == 10 {
            body.received_at = earlier(body.received_at, 2);
        }
    });
    crafted(
        suite,
        "time-regressed",
        "envelope 10 received one second before envelope 9",
        &regressed,
        &["time_regressed"],
    );
    let seal = Bundle::golden().rewrite_seals(|body| {
        if body.segment_id == 2 {
            body.sealed_at = earlier(body.sealed_at, 2);
        }
    });
    crafted(
        suite,
        "seal-before-last-envelope",
        "segment 2 sealed one second before its last envelope",
        &seal,
        &["seal_time_regressed"],
    );
    let segment = Bundle::golden().rewrite(|body| {
        if body.seq == 13 {
            body.received_at = earlier(body.received_at, 2);
        }
    });
    crafted(
        suite,
        "segment-before-previous-seal",
        "segment 3's first envelope received before segment 2's seal (not before segment 2's last envelope)",
        &segment,
        &["segment_time_regressed"],
    );
    let manifest = Bundle::golden().edit_manifest(|m| m.created_at = earlier(m.created_at, 2));
    crafted(
        suite,
        "manifest-before-last-seal",
        "the manifest created one second before the last seal",
        &manifest,
        &["manifest_time_regressed"],
    );
    let segment_id = Bundle::golden().rewrite(|body| {
        if body.seq == 10 {
            body.segment_id = 3;
        }
    });
    crafted(
        suite,
        "envelope-other-segment",
        "envelope 10 names segment 3 while in segment 2",
        &segment_id,
        &["envelope_segment_mismatch"],
    );
}

fn key_events(suite: &mut Suite) {
    crafted(
        suite,
        "key-event-unchanged",
        "the restart in segment 4 keeps key A and still records arxi.key.changed A to A",
        &Bundle::golden().restart_with("a"),
        &["key_event_unchanged"],
    );
    crafted(
        suite,
        "key-loaded-while-in-force",
        "the restart records arxi.key.loaded B while A is in force (a key change must say so)",
        &Bundle::golden().restart_event("arxi.key.loaded"),
        &["key_not_in_force"],
    );
    let attacker = key("attacker").public().to_hex();
    let public = Bundle::golden().rewrite(move |body| {
        if body.event_type == "arxi.key.changed" {
            json_payload(body, |payload| {
                payload["public_key"] = attacker.clone().into();
            });
        }
    });
    crafted(
        suite,
        "key-event-other-public-key",
        "arxi.key.changed carries the attacker's public key under B's key id",
        &public,
        &["key_event_invalid"],
    );
    let previous = Bundle::golden().rewrite(|body| {
        if body.event_type == "arxi.key.changed" {
            json_payload(body, |payload| {
                payload["previous_key_id"] = key("attacker").id().as_str().into();
            });
        }
    });
    crafted(
        suite,
        "key-changed-other-previous",
        "arxi.key.changed names the attacker's key as the previous one",
        &previous,
        &["key_not_in_force"],
    );
    let started = Bundle::golden().rewrite(|body| {
        if body.event_type == "arxi.recorder.started" && body.seq > 12 {
            json_payload(body, |payload| {
                payload["key_id"] = key("a").id().as_str().into();
            });
        }
    });
    crafted(
        suite,
        "started-names-other-key",
        "segment 4's arxi.recorder.started names key A while B is in force",
        &started,
        &["recorder_started_key_mismatch"],
    );
}

/// The golden history with `previous_shutdown` in both starts: `none` in
/// the first, `second` in segment 4's.
pub(crate) fn with_shutdown(second: &'static str) -> Bundle {
    Bundle::golden().rewrite(move |body| {
        if body.event_type == "arxi.recorder.started" {
            let value = if body.seq < 5 { "none" } else { second };
            json_payload(body, |payload| payload["previous_shutdown"] = value.into());
        }
    })
}

fn control(suite: &mut Suite) {
    crafted(
        suite,
        "previous-shutdown-consistent",
        "previous_shutdown none at the first start and unclean at the restart (the envelope before it is segment 3's arxi.segment.sealed): valid",
        &with_shutdown("unclean"),
        &[],
    );
    crafted(
        suite,
        "previous-shutdown-clean-after-crash",
        "the restart says clean, but the envelope before it is not arxi.recorder.stopped",
        &with_shutdown("clean"),
        &["previous_shutdown_mismatch"],
    );
    let manual = Bundle::golden().rewrite(|body| {
        if body.seq == 12 {
            json_payload(body, |payload| payload["reason"] = "manual".into());
        }
    });
    crafted(
        suite,
        "seal-reason-manual",
        "segment 2's arxi.segment.sealed gives the reason manual",
        &manual,
        &["segment_reason_unknown"],
    );
    let opened = Bundle::golden().rewrite(|body| {
        if body.seq == 8 {
            json_payload(body, |payload| payload["reason"] = "restart".into());
        }
    });
    crafted(
        suite,
        "opened-reason-unknown",
        "segment 2's arxi.segment.opened gives the reason restart",
        &opened,
        &["segment_reason_unknown"],
    );
}

/// Bundles of segment ranges, as a recorder builds them (signed by its key
/// now, B), and series of them.
pub(crate) fn ranges_and_series(suite: &mut Suite) {
    let golden = Bundle::golden();
    for (first, last) in [(1, 2), (3, 5), (1, 3), (4, 5), (3, 3)] {
        let name = format!("segments-{first}-{last}");
        let description = format!(
            "segments {first} to {last} of the golden history, built as a recorder builds them (key records up to the last envelope, signed by B)"
        );
        suite.bundle(
            "ranges",
            &name,
            &description,
            golden.segments(first, last).bytes(),
            &[],
        );
    }
    // A fork: segment 2 with another event, so segments 3 to 5 continue
    // another chain (each valid alone).
    let fork = Bundle::golden().rewrite(|body| {
        if body.seq == 10 {
            json_payload(body, |payload| payload["n"] = 99.into());
        }
    });
    suite.bundle(
        "fork",
        "segments-3-5",
        "segments 3 to 5 of a history whose segment 2 differs (valid alone)",
        fork.segments(3, 5).bytes(),
        &[],
    );
    let other = Bundle::golden()
        .rewrite(|body| body.recorder_id = "other-recorder".into())
        .rewrite_seals(|body| body.recorder_id = "other-recorder".into());
    suite.bundle(
        "fork",
        "other-recorder-segments-3-5",
        "segments 3 to 5 of another recorder's identical history (valid alone)",
        other.segments(3, 5).bytes(),
        &[],
    );
    let range = |first: u64, last: u64| format!("bundles/ranges/segments-{first}-{last}.arxb");
    let series: [(&str, &str, [String; 2], &[&'static str]); 5] = [
        (
            "series-consecutive",
            "segments 1-2 then 3-5: the second continues the first",
            [range(1, 2), range(3, 5)],
            &[],
        ),
        (
            "series-gap",
            "segments 1-2 then 4-5: segment 3 is missing between them",
            [range(1, 2), range(4, 5)],
            &["bundles_gap"],
        ),
        (
            "series-overlap",
            "segments 1-3 then 3-5: segment 3 is in both",
            [range(1, 3), range(3, 5)],
            &["bundles_overlap"],
        ),
        (
            "series-fork",
            "segments 1-2 then 3-5 of a fork: the sequence numbers follow but the chain does not",
            [range(1, 2), "bundles/fork/segments-3-5.arxb".into()],
            &["bundle_anchor_mismatch"],
        ),
        (
            "series-other-recorder",
            "segments 1-2 then 3-5 of another recorder",
            [
                range(1, 2),
                "bundles/fork/other-recorder-segments-3-5.arxb".into(),
            ],
            &["bundles_recorder_mismatch"],
        ),
    ];
    for (name, description, files, codes) in series {
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        suite.series(name, description, &files, &[], codes);
    }
    suite.series(
        "series-three",
        "segments 1-2, 3-3 and 4-5: three consecutive bundles",
        &[&range(1, 2), &range(3, 3), &range(4, 5)],
        &[],
        &[],
    );
    suite.series(
        "series-with-invalid-bundle",
        "segments 1-2, then a tampered bundle: the series is checked and the bundle's own findings count",
        &[&range(1, 2), "bundles/tampered/segment-dropped.arxb"],
        &["segment_missing", "envelope_missing", "seal_chain_broken", "segment_opened_mismatch", "manifest_mismatch"],
        &["bundles_overlap"],
    );
}

/// The ed25519-speccheck cases as bundles, and the keys refused at load.
pub(crate) fn speccheck(suite: &mut Suite) {
    for &(case, how, key_name, valid) in speccheck::CASES {
        let signer = Signer::named(key_name);
        let path = format!("bundles/speccheck/case-{case}.arxb");
        suite.file(path.clone(), speccheck::bundle(case, how, &signer));
        let codes: &[&'static str] = if valid {
            &[]
        } else {
            &["envelope_signature_invalid"]
        };
        let description = format!(
            "ed25519-speccheck case {case} ({how:?}) as the event envelope's signature, key {key_name}"
        );
        suite.verify(
            &format!("speccheck-{case}"),
            &description,
            &[path.as_str()],
            &[key_name],
            codes,
        );
    }
    for (case, _) in speccheck::REFUSED_KEYS {
        let key_path = format!("refused/speccheck-{case}");
        let description = format!(
            "ed25519-speccheck case {case}: its public key has small order or is not canonical, so it is refused at load and nothing can be checked under it"
        );
        suite.verify(
            &format!("speccheck-{case}-key-refused"),
            &description,
            &["bundles/golden.arxb"],
            &[key_path.as_str()],
            &[],
        );
        let case = suite.cases.last_mut().expect("just added");
        case.exit = 2;
    }
}
