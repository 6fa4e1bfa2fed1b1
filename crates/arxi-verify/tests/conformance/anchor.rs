//! Witnessed anchors (`bundles/anchor/`, container version 3): the golden
//! history with a `W` record tying its last envelope (seq 27) to a
//! checkpoint of a log of 30 envelopes (the golden envelopes, then three
//! more), signed by key B under the origin `arxi/golden-bundle` and
//! cosigned by test witnesses; a rewritten history re-signed by the same
//! keys whose anchor carries the honest checkpoint's cosignatures (valid
//! without a witness policy, `anchor_not_witnessed` under one); and one
//! case per rule of §11.4 W.
//!
//! The witnesses are test keys like A and B: signer seed =
//! SHA-256(`"arxi conformance witness <name>"`), key name
//! `<name>.witness.example`; their verifier keys are
//! `keys/witness-<name>.vkey`.

use arxi_format::Hash32;
use arxi_format::anchor::Anchor;
use arxi_format::bundle::Tag;
use arxi_format::envelope::Kind;
use arxi_format::keys::SecretKey;
use arxi_format::merkle;
use arxi_format::note::{Checkpoint, Note, NoteSigner, SignatureType, VerifierKey};
use arxi_format::seal::envelope_leaf;

use super::Suite;
use super::bundle::Bundle;
use super::history::{Rec, key};

/// The witnesses of the suite.
pub(crate) const WITNESSES: &[&str] = &["w1", "w2", "w3"];

/// When the witnesses cosigned (POSIX seconds: 2026-03-02T00:00:00Z).
const COSIGNED_AT: u64 = 1_772_409_600;

/// Test witness `name`'s cosigning key.
pub(crate) fn witness(name: &str) -> NoteSigner {
    let seed = Hash32::of(format!("arxi conformance witness {name}").as_bytes());
    let secret = SecretKey::from_seed(&seed.0).expect("seed");
    NoteSigner::new(
        &format!("{name}.witness.example"),
        SignatureType::Cosignature,
        secret,
    )
    .expect("a valid key name")
}

/// Test witness `name`'s verifier key.
pub(crate) fn witness_key(name: &str) -> VerifierKey {
    witness(name).verifier().clone()
}

/// `bundle` (which starts at seq 1) with a `W` record: its last envelope in
/// a log of `tree_size` envelopes, the checkpoint signed by the bundle's
/// signer and cosigned by `witnesses`.
pub(crate) fn anchored(bundle: Bundle, tree_size: u64, witnesses: &[&str]) -> Bundle {
    let signer = bundle.signer.clone();
    anchored_by(bundle, tree_size, witnesses, &signer)
}

/// As [`anchored`], the checkpoint signed by `recorder`.
pub(crate) fn anchored_by(
    mut bundle: Bundle,
    tree_size: u64,
    witnesses: &[&str],
    recorder: &SecretKey,
) -> Bundle {
    let hashes: Vec<Hash32> = bundle
        .records
        .iter()
        .filter(|record| record.tag == Tag::Envelope)
        .map(|record| record.envelope().hash)
        .collect();
    let last_seq = hashes.len() as u64;
    assert!(last_seq <= tree_size, "the checkpoint covers the bundle");
    let mut leaves: Vec<Hash32> = hashes.iter().map(envelope_leaf).collect();
    for seq in last_seq + 1..=tree_size {
        leaves.push(envelope_leaf(&Hash32::of(
            format!("a later envelope {seq}").as_bytes(),
        )));
    }
    let note = checkpoint(merkle::root(&leaves), tree_size, witnesses, recorder);
    let anchor = Anchor {
        checkpoint: note.to_string(),
        leaf_index: last_seq - 1,
        tree_size,
        inclusion_proof: merkle::inclusion_proof(&leaves, last_seq - 1).expect("proof"),
    };
    bundle
        .records
        .push(Rec::new(Tag::Anchor, anchor.to_canonical_bytes()));
    bundle
}

fn checkpoint(root: Hash32, size: u64, witnesses: &[&str], recorder: &SecretKey) -> Note {
    let origin = format!("arxi/{}", super::history::RECORDER_ID);
    let log = NoteSigner::new(&origin, SignatureType::Ed25519, recorder.clone()).expect("name");
    let mut note = Note::new(Checkpoint::new(&origin, size, root).text()).expect("text");
    note.sign(&log, 0).expect("signs");
    for name in witnesses {
        note.sign(&witness(name), COSIGNED_AT).expect("cosigns");
    }
    note
}

/// The anchor of `bundle`'s `W` record with `edit` applied.
fn edited(mut bundle: Bundle, edit: impl FnOnce(&mut Anchor)) -> Bundle {
    let index = bundle.nth(Tag::Anchor, 0);
    bundle.edit_record(index, |payload| {
        let mut anchor = Anchor::parse(payload).expect("anchor");
        edit(&mut anchor);
        *payload = anchor.to_canonical_bytes();
    });
    bundle
}

/// The witness keys' files and the anchor cases.
pub(crate) fn anchors(suite: &mut Suite) {
    for name in WITNESSES {
        suite.file(
            format!("keys/witness-{name}.vkey"),
            format!("{}\n", witness_key(name)).into_bytes(),
        );
    }
    let honest = anchored(Bundle::golden(), 30, &["w1", "w2"]);
    suite.bundle(
        "anchor",
        "anchored",
        "The golden history with a witnessed anchor: envelope 27 is leaf 26 of a log of 30 envelopes whose checkpoint key B signed and witnesses w1 and w2 cosigned. Without a witness policy it is checked against the recorder keys alone.",
        honest.bytes(),
        &[],
    );
    let file = "bundles/anchor/anchored.arxb";
    suite.verify_witnessed(
        "anchored-quorum-2-of-3",
        "The anchored bundle under the policy w1, w2, w3 with quorum 2: w1 and w2 cosigned.",
        file,
        WITNESSES,
        2,
        &[],
    );
    suite.verify_witnessed(
        "anchored-quorum-3-of-3",
        "The anchored bundle under the policy w1, w2, w3 with quorum 3: w3 did not cosign.",
        file,
        WITNESSES,
        3,
        &["anchor_not_witnessed"],
    );
    suite.verify_witnessed(
        "golden-under-a-witness-policy",
        "The golden bundle, which carries no anchor, under a witness policy.",
        "bundles/golden.arxb",
        &["w1"],
        1,
        &["anchor_missing"],
    );
    rewritten(suite, &honest);
    rules(suite);
}

/// A history rewritten and re-signed with the same keys, anchored to a
/// checkpoint the key holder signed, carrying the honest checkpoint's
/// cosignature lines: every recorder signature verifies, the witnesses'
/// do not.
fn rewritten(suite: &mut Suite, honest: &Bundle) {
    let rewritten = Bundle::golden().rewrite(|body| {
        if body.kind == Kind::Data && body.actor.is_some() {
            body.actor = Some("mallory".into());
        }
    });
    let honest_anchor =
        Anchor::parse(&honest.records[honest.nth(Tag::Anchor, 0)].payload).expect("anchor");
    let honest_note = honest_anchor.read_checkpoint().expect("checkpoint").note;
    let rewritten = edited(anchored(rewritten, 30, &[]), |anchor| {
        let mut note = anchor.read_checkpoint().expect("checkpoint").note;
        for line in &honest_note.signatures()[1..] {
            note.add_signature(line.clone()).expect("fits");
        }
        anchor.checkpoint = note.to_string();
    });
    suite.bundle(
        "anchor",
        "rewritten-history",
        "A history rewritten and re-signed with keys A and B, anchored to a checkpoint key B signed, with the honest checkpoint's cosignature lines copied onto it: valid under the recorder keys alone.",
        rewritten.bytes(),
        &[],
    );
    suite.verify_witnessed(
        "rewritten-history-under-a-witness-policy",
        "The rewritten history under the policy w1, w2, w3 with quorum 2: the copied cosignatures do not verify on its checkpoint.",
        "bundles/anchor/rewritten-history.arxb",
        WITNESSES,
        2,
        &["anchor_not_witnessed"],
    );
}

/// One case per rule of §11.4 W.
fn rules(suite: &mut Suite) {
    let base = || anchored(Bundle::golden(), 30, &["w1"]);
    let cases: Vec<(&str, &str, Bundle, &[&'static str])> = vec![
        (
            "leaf-index-edited",
            "The anchor's leaf_index names envelope 26, not the last envelope (27).",
            edited(base(), |a| a.leaf_index = 25),
            &["anchor_position_mismatch"],
        ),
        (
            "tree-size-edited",
            "The anchor's tree_size (31) is not its checkpoint's size (30).",
            edited(base(), |a| a.tree_size = 31),
            &["anchor_position_mismatch"],
        ),
        (
            "proof-edited",
            "The first hash of the inclusion proof is zeros: it leads to another root.",
            edited(base(), |a| a.inclusion_proof[0] = Hash32::ZERO),
            &["anchor_root_mismatch"],
        ),
        (
            "checkpoint-size-edited",
            "The checkpoint's size line edited after signing: the recorder's signature fails, and tree_size no longer matches it.",
            edited(base(), |a| {
                a.checkpoint = a.checkpoint.replacen("\n30\n", "\n31\n", 1);
            }),
            &["anchor_signature_invalid", "anchor_position_mismatch"],
        ),
        (
            "not-a-note",
            "The anchor's checkpoint is not a signed note.",
            edited(base(), |a| a.checkpoint = "not a note".into()),
            &["anchor_malformed"],
        ),
        (
            "signed-by-an-untrusted-key",
            "The checkpoint is signed by the attacker key, which the auditor does not trust.",
            anchored_by(Bundle::golden(), 30, &["w1"], &key("attacker")),
            &["anchor_signature_invalid"],
        ),
        (
            "twice",
            "Two W records before the trailer: the first is out of place.",
            {
                let mut twice = base();
                let index = twice.nth(Tag::Anchor, 0);
                twice.insert_copy(index, index);
                twice
            },
            &["anchor_out_of_place"],
        ),
    ];
    for (name, description, bundle, codes) in cases {
        suite.bundle("anchor", name, description, bundle.bytes(), codes);
    }
}
