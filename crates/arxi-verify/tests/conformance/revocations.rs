//! Key revocations (`bundles/revocations/`, format section 10 rule C5 and
//! section 11.4 rule R): the golden history with one event envelope turned
//! into an `arxi.key.revoked` (re-chained and re-signed, so that the
//! revocation's codes are the only ones), alone and in a series.
//!
//! In the golden history A signs envelopes 1 to 17 and the seals of
//! segments 1 to 3; B signs envelopes 18 to 27, the seals of segments 4
//! and 5 and the trailer. Envelope 9 (segment 2) is signed by A, envelope
//! 25 (segment 5) by B.

use arxi_format::CanonicalJson;
use arxi_format::envelope::{Kind, Payload};
use serde_json::{Value, json};

use super::Suite;
use super::anchor::anchored_by;
use super::bundle::Bundle;
use super::history::key;

/// The golden history with envelope `seq` recording `payload` as an
/// `arxi.key.revoked`.
fn revoking(seq: u64, payload: Value) -> Bundle {
    Bundle::golden().rewrite(move |body| {
        if body.seq == seq {
            into_revocation(body, &payload);
        }
    })
}

/// Turns `body` into an `arxi.key.revoked` recording `payload`.
pub(crate) fn into_revocation(body: &mut arxi_format::EnvelopeBody, payload: &Value) {
    body.kind = Kind::Control;
    body.event_type = "arxi.key.revoked".into();
    body.actor = None;
    body.subject = None;
    body.attachments.clear();
    body.payload = Payload::Inline(CanonicalJson::from_value(payload).expect("json"));
}

pub(crate) fn revocation(key_name: &str, from_seq: u64) -> Value {
    json!({
        "key_id": key(key_name).id().as_str(),
        "from_seq": from_seq,
        "reason": "the key file was copied off the host",
    })
}

/// The revocation cases.
pub(crate) fn revocations(suite: &mut Suite) {
    let mut bundle = |name: &str, description: &str, bytes: Vec<u8>, codes: &[&'static str]| {
        suite.bundle("revocations", name, description, bytes, codes);
    };
    bundle(
        "revoked-after-last-signature",
        "envelope 25 (signed by B) revokes A from seq 18: A signed nothing from 18 on, so nothing is reported",
        revoking(25, revocation("a", 18)).bytes(),
        &[],
    );
    bundle(
        "revoked-before-the-record",
        "envelope 25 (signed by B) revokes A from seq 10: A signed envelopes 10 to 17 and the seals of segments 2 and 3 before the revocation, reported once at it",
        revoking(25, revocation("a", 10)).bytes(),
        &["key_revoked_signature"],
    );
    bundle(
        "revoked-by-itself",
        "envelope 25, signed by B, revokes B from seq 26: a key cannot sign its own revocation; envelopes 26 and 27, the seal of segment 5 and the trailer are signed by B after it",
        revoking(25, revocation("b", 26)).bytes(),
        &["key_revocation_invalid", "key_revoked_signature"],
    );
    let mut empty_reason = revocation("a", 18);
    empty_reason["reason"] = json!("");
    bundle(
        "revocation-invalid",
        "envelope 25 revokes A with an empty reason (rule C5)",
        revoking(25, empty_reason).bytes(),
        &["key_revocation_invalid"],
    );
    let mut late_record = revoking(25, revocation("a", 10));
    let record_of_a = late_record.key_record_index(key("a").public());
    let moved = late_record.records.remove(record_of_a);
    let before_18 = late_record.envelope_index(18);
    late_record.records.insert(before_18, moved);
    bundle(
        "revoked-before-a-late-key-record",
        "as revoked-before-the-record, with A's key record moved after A's last signature (before envelope 18): rule R2 counts what a key signed from the record naming it on, so A's signatures before it are key_record_missing (K4) and its revocation from seq 10 finds nothing to report; the manifest lists the key records in their old order",
        late_record.bytes(),
        &[
            "key_record_out_of_place",
            "key_record_missing",
            "manifest_mismatch",
        ],
    );
    let mut extra_member = revocation("a", 10);
    extra_member["note"] = json!("one member too many");
    bundle(
        "revocation-invalid-revokes-nothing",
        "envelope 25 revokes A from seq 10, which A signed past, with an extra member (rule C5): a revocation that breaks a member rule is not used by rule R, so no key_revoked_signature",
        revoking(25, extra_member).bytes(),
        &["key_revocation_invalid"],
    );
    anchors(suite);
    series(suite);
}

/// Rule R.4: the witnessed anchor's checkpoint against the revocations of
/// the bundle's chain.
fn anchors(suite: &mut Suite) {
    let mut bundle = |name: &str, description: &str, bytes: Vec<u8>, codes: &[&'static str]| {
        suite.bundle("revocations", name, description, bytes, codes);
    };
    let revoked_from = |from_seq| revoking(25, revocation("a", from_seq));
    bundle(
        "anchor-signed-by-a-revoked-key",
        "envelope 25 revokes A from seq 18, and the anchor's checkpoint of tree size 30 is signed by A: A vouched for leaves past its end",
        anchored_by(revoked_from(18), 30, &[], &key("a")).bytes(),
        &["key_revoked_signature"],
    );
    bundle(
        "anchor-signed-before-the-revocation",
        "envelope 25 revokes A from seq 31, and the anchor's checkpoint of tree size 30, signed by A, ends before it",
        anchored_by(revoked_from(31), 30, &[], &key("a")).bytes(),
        &[],
    );
    bundle(
        "anchor-signed-by-the-current-key",
        "envelope 25 revokes A from seq 18, and the anchor's checkpoint of tree size 30 is signed by B",
        anchored_by(revoked_from(18), 30, &[], &key("b")).bytes(),
        &[],
    );
}

/// A revocation in one bundle applies to the next bundles of a series.
fn series(suite: &mut Suite) {
    let history = revoking(9, revocation("b", 20));
    let first = "bundles/revocations/series-segments-1-3.arxb";
    let second = "bundles/revocations/series-segments-4-5.arxb";
    suite.file(first.into(), history.segments(1, 3).bytes());
    suite.file(second.into(), history.segments(4, 5).bytes());
    suite.verify(
        "revocation-series-first-alone",
        "segments 1 to 3, where envelope 9 (signed by A) revokes B from seq 20: B signed nothing in them",
        &[first],
        &["a", "b"],
        &[],
    );
    suite.verify(
        "revocation-series-second-alone",
        "segments 4 and 5 alone: the revocation is not in them, so nothing is reported",
        &[second],
        &["a", "b"],
        &[],
    );
    suite.verify(
        "revocation-series",
        "segments 1 to 3 then 4 and 5: the revocation of B from seq 20 in the first bundle applies to the second, whose envelopes 20 to 27, seals of segments 4 and 5 and trailer B signed",
        &[first, second],
        &["a", "b"],
        &["key_revoked_signature"],
    );
    let history = revoking(25, revocation("a", 10));
    let first = "bundles/revocations/series-late-segments-1-3.arxb";
    let second = "bundles/revocations/series-late-segments-4-5.arxb";
    suite.file(first.into(), history.segments(1, 3).bytes());
    suite.file(second.into(), history.segments(4, 5).bytes());
    suite.verify(
        "revocation-series-late-second-alone",
        "segments 4 and 5, where envelope 25 (signed by B) revokes A from seq 10: A signed nothing in them",
        &[second],
        &["a", "b"],
        &[],
    );
    suite.series(
        "revocation-series-late",
        "segments 1 to 3 then 4 and 5: the revocation of A from seq 10 in the second bundle reaches what A signed in the first (envelopes 10 to 17, the seals of segments 2 and 3), one series finding",
        &[first, second],
        &[],
        &["key_revoked_signature"],
    );
}
