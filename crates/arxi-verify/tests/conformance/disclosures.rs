//! Version 2 envelopes in a bundle (`bundles/disclosures/`): a history
//! whose data envelopes commit to their payloads, a bundle of it that
//! discloses one payload, withholds one and marks one erased (with the
//! erasure record in the bundle), and one case per rule of the `P` record
//! and of rule C4.
//!
//! One sealed segment, key A, recorder `golden-v2`, container version 2:
//!
//! | seq | envelope | `P` record |
//! |---|---|---|
//! | 1 | `arxi.segment.opened` | - |
//! | 2 | `arxi.key.loaded` | - |
//! | 3 | `arxi.recorder.started` | - |
//! | 4 | v2 `customers.updated`, subject committed (`person/7`) | disclosed |
//! | 5 | v2 `customers.updated`, subject committed (`person/8`) | withheld |
//! | 6 | v2 `customers.updated`, actor in clear, subject committed | erased by 8 |
//! | 7 | v1 `orders.placed` (the payload in the envelope) | - |
//! | 8 | `arxi.payload.erased` `{"by":"seq","reason":..,"seqs":[6]}` | - |
//! | 9 | `arxi.segment.sealed` | - |

use arxi_format::bundle::{
    CONTAINER_VERSION_DISCLOSURES, Encoder, KeyRecord, Manifest, ManifestSegment, Tag,
};
use arxi_format::envelope::{Envelope, EnvelopeBody, Kind, Payload};
use arxi_format::merkle;
use arxi_format::payload::{Committed, Disclosure, Salt};
use arxi_format::seal::{SealBody, envelope_leaf};
use arxi_format::{CanonicalJson, ChainHead, Hash32, Timestamp};
use serde_json::{Value, json};

use super::Suite;
use super::history::{Rec, key};

/// 2026-04-01T00:00:00Z in microseconds.
const CLOCK_START_MICROS: i64 = 1_775_001_600_000_000;
const RECORDER_ID: &str = "golden-v2";

fn at(step: u64) -> Timestamp {
    Timestamp::from_unix_micros(
        CLOCK_START_MICROS + i64::try_from(step).expect("small") * 1_000_000,
    )
    .expect("in range")
}

fn canonical(value: &Value) -> CanonicalJson {
    CanonicalJson::from_value(value).expect("canonical")
}

/// The salt of envelope `seq` (derived for reproducibility only).
fn salt(seq: u64) -> Salt {
    Salt(Hash32::of(format!("arxi conformance salt {seq}").as_bytes()).0)
}

/// What changes in a crafted history before signing.
#[derive(Clone, Copy, Default)]
struct Edits {
    /// The erasure record's payload, when not the recorder's.
    erasure_payload: Option<fn() -> Value>,
}

/// The history's records (no manifest, no trailer) with each data
/// envelope's committed content, and the seal's values for the manifest.
fn history(edits: Edits) -> (Vec<Rec>, ManifestSegment, Timestamp) {
    let a = key("a");
    let mut head = ChainHead::GENESIS;
    let mut records = Vec::new();
    let mut leaves = Vec::new();
    let mut push = |records: &mut Vec<Rec>,
                    kind: Kind,
                    event_type: &str,
                    actor: Option<&str>,
                    subject: Option<&str>,
                    payload: Payload,
                    disclosure: Option<Disclosure>| {
        let body = EnvelopeBody {
            recorder_id: RECORDER_ID.into(),
            segment_id: 1,
            seq: head.seq + 1,
            received_at: at(head.seq + 1),
            kind,
            event_type: event_type.into(),
            actor: actor.map(Into::into),
            subject: subject.map(Into::into),
            payload,
            attachments: vec![],
            prev_hash: head.hash,
            key_id: a.id().clone(),
        };
        body.validate().expect("a valid envelope");
        let envelope: Envelope = body.sign(&a);
        head = ChainHead::after(&envelope);
        leaves.push(envelope_leaf(&envelope.hash));
        records.push(Rec::new(Tag::Envelope, envelope.to_canonical_bytes()));
        if let Some(disclosure) = disclosure {
            records.push(Rec::new(Tag::Payload, disclosure.to_canonical_bytes()));
        }
    };
    let control = |value: Value| Payload::Inline(canonical(&value));
    push(
        &mut records,
        Kind::Control,
        "arxi.segment.opened",
        None,
        None,
        control(
            json!({"prev_seal_hash": Hash32::ZERO.to_hex(), "reason": "append", "segment_id": 1}),
        ),
        None,
    );
    push(
        &mut records,
        Kind::Control,
        "arxi.key.loaded",
        None,
        None,
        control(json!({"key_id": a.id().as_str(), "public_key": a.public().to_hex()})),
        None,
    );
    push(
        &mut records,
        Kind::Control,
        "arxi.recorder.started",
        None,
        None,
        control(
            json!({"key_id": a.id().as_str(), "previous_shutdown": "none", "version": "golden"}),
        ),
        None,
    );
    let people = [
        (
            4,
            None,
            "person/7",
            json!({"name": "Ada Lovelace", "email": "ada@example.org"}),
        ),
        (5, None, "person/8", json!({"name": "Charles Babbage"})),
        (
            6,
            Some("clerk-3"),
            "person/7",
            json!({"address": "12 St James's Square"}),
        ),
    ];
    for (seq, actor, subject, payload) in people {
        let content = Committed {
            actor: None,
            payload: canonical(&payload),
            subject: Some(subject.into()),
        };
        let commitment = content.commitment(&salt(seq));
        let disclosure = match seq {
            4 => Disclosure::Disclosed {
                content,
                salt: salt(seq),
            },
            5 => Disclosure::Withheld,
            _ => Disclosure::Erased { erased_by: 8 },
        };
        push(
            &mut records,
            Kind::Data,
            "customers.updated",
            actor,
            None,
            Payload::Committed(commitment),
            Some(disclosure),
        );
    }
    push(
        &mut records,
        Kind::Data,
        "orders.placed",
        Some("dave"),
        None,
        control(json!({"order": 17})),
        None,
    );
    let erasure = edits.erasure_payload.map_or_else(
        || json!({"by": "seq", "reason": "GDPR Art. 17 request 2026-04-17", "seqs": [6]}),
        |make| make(),
    );
    push(
        &mut records,
        Kind::Control,
        "arxi.payload.erased",
        None,
        None,
        control(erasure),
        None,
    );
    push(
        &mut records,
        Kind::Control,
        "arxi.segment.sealed",
        None,
        None,
        control(json!({"reason": "api", "segment_id": 1})),
        None,
    );
    let seal = SealBody {
        recorder_id: RECORDER_ID.into(),
        segment_id: 1,
        first_seq: 1,
        last_seq: head.seq,
        count: head.seq,
        merkle_root: merkle::root(&leaves),
        last_envelope_hash: head.hash,
        prev_seal_hash: Hash32::ZERO,
        sealed_at: at(head.seq),
        key_id: a.id().clone(),
    }
    .sign(&a);
    records.push(Rec::new(Tag::Seal, seal.to_canonical_bytes()));
    let segment = ManifestSegment {
        segment_id: 1,
        first_seq: 1,
        last_seq: head.seq,
        count: head.seq,
        merkle_root: seal.body.merkle_root,
        seal_hash: seal.hash,
    };
    (records, segment, at(head.seq + 1))
}

/// The bundle of the history after `edit` on its records, framed as
/// container version 2 and signed by key A.
fn bundle(edits: Edits, edit: impl FnOnce(&mut Vec<Rec>)) -> Vec<u8> {
    let a = key("a");
    let (mut records, segment, created_at) = history(edits);
    edit(&mut records);
    let manifest = Manifest {
        recorder_id: RECORDER_ID.into(),
        created_at,
        first_seq: 1,
        last_seq: segment.last_seq,
        envelope_count: segment.count,
        prev_hash: Hash32::ZERO,
        prev_seal_hash: Hash32::ZERO,
        segments: vec![segment],
        keys: vec![a.id().clone()],
        key_id: a.id().clone(),
    };
    let key_record = KeyRecord {
        public_key: a.public().clone(),
        first_seq: 1,
    };
    let (mut encoder, preamble) = Encoder::start_version(CONTAINER_VERSION_DISCLOSURES);
    let mut out = preamble.to_vec();
    encoder.encode(Tag::Manifest, &manifest.to_canonical_bytes(), &mut out);
    encoder.encode(Tag::Key, &key_record.to_canonical_bytes(), &mut out);
    for record in &records {
        encoder.encode(record.tag, &record.payload, &mut out);
    }
    let (trailer, _) = encoder.finish(manifest.hash(), &a);
    out.extend_from_slice(&trailer);
    out
}

/// The index of the `P` record of envelope `seq`.
fn payload_of(records: &[Rec], seq: u64) -> usize {
    let envelope = records
        .iter()
        .position(|record| {
            record.tag == Tag::Envelope
                && Envelope::parse(&record.payload).expect("envelope").body.seq == seq
        })
        .expect("the envelope");
    assert_eq!(
        records[envelope + 1].tag,
        Tag::Payload,
        "seq {seq} has a P record"
    );
    envelope + 1
}

/// The history and one case per rule of the `P` record and of rule C4.
pub(crate) fn disclosures(suite: &mut Suite) {
    let plain = Edits::default();
    let mut case = |name: &str,
                    description: &str,
                    codes: &[&'static str],
                    edits: Edits,
                    edit: &dyn Fn(&mut Vec<Rec>)| {
        suite.bundle(
            "disclosures",
            name,
            description,
            bundle(edits, |records| edit(records)),
            codes,
        );
    };
    case(
        "v2-history",
        "version 2 envelopes: seq 4's payload disclosed and matching its commitment, seq 5's withheld, seq 6's erased by the arxi.payload.erased at seq 8; a version 1 data envelope between them",
        &[],
        plain,
        &|_| {},
    );
    case(
        "v2-commitment-mismatch",
        "seq 4's disclosed payload changed (one name), its salt kept: it no longer opens the envelope's commitment",
        &["payload_commitment_mismatch"],
        plain,
        &|records| {
            let index = payload_of(records, 4);
            let content = Committed {
                actor: None,
                payload: canonical(&json!({"name": "Ada King", "email": "ada@example.org"})),
                subject: Some("person/7".into()),
            };
            records[index].payload = Disclosure::Disclosed {
                content,
                salt: salt(4),
            }
            .to_canonical_bytes();
        },
    );
    case(
        "v2-record-missing",
        "seq 4's P record removed",
        &["payload_record_missing"],
        plain,
        &|records| {
            let index = payload_of(records, 4);
            records.remove(index);
        },
    );
    case(
        "v2-record-unexpected",
        "a P record after the version 1 envelope seq 7",
        &["payload_record_unexpected"],
        plain,
        &|records| {
            let index = records
                .iter()
                .position(|record| {
                    record.tag == Tag::Envelope
                        && Envelope::parse(&record.payload).expect("envelope").body.seq == 7
                })
                .expect("seq 7");
            records.insert(
                index + 1,
                Rec::new(Tag::Payload, Disclosure::Withheld.to_canonical_bytes()),
            );
        },
    );
    case(
        "v2-record-malformed",
        "seq 5's P record names an unknown state",
        &["payload_record_malformed"],
        plain,
        &|records| {
            let index = payload_of(records, 5);
            records[index].payload = br#"{"state":"hidden","v":1}"#.to_vec();
        },
    );
    case(
        "v2-erasure-mismatch",
        "seq 5's P record claims erasure by seq 8, which lists only seq 6",
        &["payload_erasure_mismatch"],
        plain,
        &|records| {
            let index = payload_of(records, 5);
            records[index].payload = Disclosure::Erased { erased_by: 8 }.to_canonical_bytes();
        },
    );
    case(
        "v2-erasure-claim-not-canonical",
        "seq 6's P record says erased by seq 8 with a space after its first member: not canonical, so malformed (rule P2), and the erasure at seq 8 lists seq 6 without a P record that holds saying so (rule P4)",
        &["payload_record_malformed", "payload_erasure_mismatch"],
        plain,
        &|records| {
            let index = payload_of(records, 6);
            records[index].payload = br#"{"erased_by":8, "state":"erased","v":1}"#.to_vec();
        },
    );
    let unsorted = Edits {
        erasure_payload: Some(|| json!({"by": "seq", "reason": "r", "seqs": [6, 6]})),
    };
    case(
        "v2-erasure-record-invalid",
        "the arxi.payload.erased at seq 8 lists seq 6 twice (rule C4)",
        &["erasure_record_invalid"],
        unsorted,
        &|_| {},
    );
}
