//! Key delegations (`bundles/delegations/`, format section 3.1 and section
//! 11.4 rule D): the golden history with the restart's key B delegated by
//! root A (an `arxi.key.delegated` key event, a `D` record) instead of a
//! key change, verified under key A alone.
//!
//! In the golden history A signs envelopes 1 to 17 and the seals of
//! segments 1 to 3; at the restart B signs `arxi.segment.opened` (18), the
//! key event (19) and everything after, to envelope 27, the seals of
//! segments 4 and 5 and the trailer. The delegation grants B seq 18 to
//! 1017 and one day from the receive time of envelope 18.

use arxi_format::bundle::Tag;
use arxi_format::delegation::Delegation;

use super::Suite;
use super::bundle::Bundle;
use super::history::{key, later};

/// The golden history with B delegated by A, the delegation edited by
/// `edit` before A signs it.
fn delegated(edit: impl Fn(&mut arxi_format::delegation::DelegationBody) + 'static) -> Bundle {
    Bundle::golden().delegated_by("a", edit)
}

/// The index of the bundle's (first) `D` record.
fn delegation_index(bundle: &Bundle) -> usize {
    bundle.nth(Tag::Delegation, 0)
}

/// A case of `bundles/delegations/`, verified under key A alone.
fn under_a(
    suite: &mut Suite,
    name: &str,
    description: &str,
    bytes: Vec<u8>,
    codes: &[&'static str],
) {
    let path = format!("bundles/delegations/{name}.arxb");
    suite.file(path.clone(), bytes);
    suite.verify(name, description, &[path.as_str()], &["a"], codes);
}

/// The delegation cases, each verified under key A alone.
pub(crate) fn delegations(suite: &mut Suite) {
    let mut case = |name: &str, description: &str, bytes: Vec<u8>, codes: &[&'static str]| {
        under_a(suite, name, description, bytes, codes);
    };
    case(
        "delegated",
        "B is delegated by A for seq 18 to 1017 and one day: valid under A alone",
        delegated(|_| {}).bytes(),
        &[],
    );
    case(
        "delegated-trailer-by-root",
        "as delegated, the manifest naming and the trailer signed by the root A instead of B (rule Z5: the root of the key in force at the end)",
        delegated(|_| {})
            .edit_manifest(|manifest| manifest.key_id = key("a").id().clone())
            .signed_by("a")
            .bytes(),
        &[],
    );
    case(
        "delegated-segments-4-5",
        "segments 4 and 5 alone: the D record makes B trusted, no key record of A is needed (A signed none of them)",
        delegated(|_| {}).segments(4, 5).bytes(),
        &[],
    );
    case(
        "delegation-window-ends-early",
        "the delegation grants B seq 18 to 22 only: envelopes 23 to 27, the seals of segments 4 and 5 and the trailer lie outside it",
        delegated(|body| body.last_seq = body.first_seq + 4).bytes(),
        &["key_outside_window"],
    );
    case(
        "delegation-time-window-ends-early",
        "the delegation's not_after is the receive time of envelope 21 (each envelope is received a second after the one before): envelopes 22 to 27 are outside its time window",
        delegated(|body| body.not_after = later(body.not_before, 3)).bytes(),
        &["key_outside_window"],
    );
    case(
        "delegation-by-an-untrusted-root",
        "the attacker, not A, delegates B: B stays untrusted",
        Bundle::golden().delegated_by("attacker", |_| {}).bytes(),
        &[
            "envelope_untrusted_key",
            "seal_untrusted_key",
            "bundle_untrusted_key",
        ],
    );
    let mut widened = delegated(|_| {});
    let index = delegation_index(&widened);
    widened.edit_record(index, |payload| {
        let mut delegation = Delegation::parse(payload).expect("delegation");
        delegation.body.last_seq += 1_000;
        *payload = delegation.to_canonical_bytes();
    });
    case(
        "delegation-widened",
        "the D record's last_seq raised after A signed it: it does not verify (not used, so B is untrusted), and the key event's delegation is not the D record",
        widened.bytes(),
        &[
            "key_delegation_invalid",
            "envelope_untrusted_key",
            "seal_untrusted_key",
            "bundle_untrusted_key",
        ],
    );
    let mut other = delegated(|_| {});
    let index = delegation_index(&other);
    let resigned = delegated(|body| body.last_seq -= 1);
    let record = resigned.records[delegation_index(&resigned)]
        .payload
        .clone();
    other.edit_record(index, |payload| *payload = record);
    case(
        "delegation-not-the-key-events",
        "the D record is another delegation of B that A signed (one seq shorter) than the one the key event carries",
        other.bytes(),
        &["key_delegation_invalid"],
    );
    let mut missing = delegated(|_| {});
    let index = delegation_index(&missing);
    missing.records.remove(index);
    case(
        "delegation-missing",
        "the D record removed: B's records name a key no key or delegation record names, and B is untrusted",
        missing.bytes(),
        &[
            "key_record_missing",
            "envelope_untrusted_key",
            "seal_untrusted_key",
            "bundle_untrusted_key",
        ],
    );
    let mut late = delegated(|_| {});
    let index = delegation_index(&late);
    let record = late.records.remove(index);
    let at = late.envelope_index(17);
    late.records.insert(at + 1, record);
    case(
        "delegation-out-of-place",
        "the D record after envelope 17, still before everything B signed: out of place, still used",
        late.bytes(),
        &["key_record_out_of_place"],
    );
    revocations(suite);
}

/// Rule D6: a root's revocation revokes what it delegated.
fn revocations(suite: &mut Suite) {
    let revoking = |from_seq: u64| {
        Bundle::golden()
            .rewrite(move |body| {
                if body.seq == 25 {
                    let payload = super::revocations::revocation("a", from_seq);
                    super::revocations::into_revocation(body, &payload);
                }
            })
            .delegated_by("a", |_| {})
    };
    let mut case = |name: &str, description: &str, bytes: Vec<u8>, codes: &[&'static str]| {
        under_a(suite, name, description, bytes, codes);
    };
    case(
        "root-revoked-after-the-delegated-keys-last-signature",
        "envelope 25 (signed by B) revokes A from seq 28: nothing A or B signed is at or after it",
        revoking(28).bytes(),
        &[],
    );
    case(
        "root-revoked-within-the-delegation",
        "envelope 25 (signed by B) revokes A from seq 21: B, delegated by A, signed envelopes 21 to 25 before the revocation (one finding at it) and envelopes 26 and 27, the seals of segments 4 and 5 and the trailer after it",
        revoking(21).bytes(),
        &["key_revoked_signature"],
    );
    case(
        "root-revoked-before-the-delegation",
        "envelope 25 revokes A from seq 10: A's envelopes 10 to 17 and seals, the delegation (a record of A at seq 18) and everything B signed are after the revocation's from_seq",
        revoking(10).bytes(),
        &["key_revoked_signature"],
    );
}
