//! Deterministic generator of the golden vectors in `testdata/golden/`:
//! fixed key, fixed clock, fixed content. Shared by the `golden` test (which
//! fails on any difference) and the `regenerate_golden` example (which
//! rewrites the files; see `scripts/regenerate-golden.sh`).
//!
//! A published golden file keeps its meaning forever: a format change gets a
//! new version and new files, never an edit of these.

use arxi_format::envelope::{AttachmentRef, Envelope, EnvelopeBody, Kind, Payload};
use arxi_format::keys::{Domain, SecretKey};
use arxi_format::merkle;
use arxi_format::seal::{Seal, SealBody, envelope_leaf};
use arxi_format::{CanonicalJson, ChainHead, Hash32, Timestamp};
use serde_json::{Value, json};

/// The golden key seed: SHA-256 of this text. Published on purpose.
pub(crate) const KEY_SEED_TEXT: &str = "arxi golden vectors key 1";
/// 2026-01-01T00:00:00Z in microseconds.
pub(crate) const CLOCK_START_MICROS: i64 = 1_767_225_600_000_000;
/// Each record is 1.5 s after the one before.
pub(crate) const CLOCK_STEP_MICROS: i64 = 1_500_000;
/// The attachment carried by envelope 3.
pub(crate) const ATTACHMENT_BYTES: &[u8] = b"golden attachment bytes\n";

pub(crate) fn key() -> SecretKey {
    SecretKey::from_seed(&Hash32::of(KEY_SEED_TEXT.as_bytes()).0).expect("golden key")
}

fn at(step: i64) -> Timestamp {
    Timestamp::from_unix_micros(CLOCK_START_MICROS + step * CLOCK_STEP_MICROS).expect("in range")
}

fn canonical(value: Value) -> CanonicalJson {
    CanonicalJson::from_value(&value).expect("canonical")
}

struct Draft {
    kind: Kind,
    event_type: &'static str,
    actor: Option<&'static str>,
    subject: Option<&'static str>,
    payload: Value,
    attachments: Vec<AttachmentRef>,
}

fn drafts() -> Vec<Draft> {
    vec![
        Draft {
            kind: Kind::Control,
            event_type: "arxi.segment.opened",
            actor: None,
            subject: None,
            payload: json!({"prev_seal_hash": Hash32::ZERO.to_hex(), "reason": "append", "segment_id": 1}),
            attachments: vec![],
        },
        Draft {
            kind: Kind::Data,
            event_type: "approvals.granted",
            actor: Some("alice@example.com"),
            subject: Some("invoice/2026-0042"),
            payload: json!({"amount": 1250.75, "currency": "EUR", "approved": true, "level": 2}),
            attachments: vec![],
        },
        Draft {
            kind: Kind::Data,
            event_type: "documents.signed",
            actor: Some("bob"),
            subject: None,
            payload: json!({"document": "contract.pdf", "pages": [1, 2, 3], "note": null}),
            attachments: vec![AttachmentRef {
                name: "contract.pdf".into(),
                media_type: "application/pdf".into(),
                sha256: Hash32::of(ATTACHMENT_BYTES),
                size: ATTACHMENT_BYTES.len() as u64,
            }],
        },
        Draft {
            kind: Kind::Data,
            event_type: "i18n.checked",
            actor: Some("zoë"),
            subject: Some("€ \u{1F600} \u{E000}"),
            payload: json!({
                "\u{E000}": "private use sorts after",
                "\u{1F600}": "astral sorts before",
                "numbers": [0.1, 1e21, 1e-7, -0.0, 9007199254740991_u64, 333333333.3333333],
                "escapes": "tab\t quote\" backslash\\ nul\u{0} del\u{7f}",
            }),
            attachments: vec![],
        },
        Draft {
            kind: Kind::Data,
            event_type: "empty.payload",
            actor: None,
            subject: None,
            payload: json!({}),
            attachments: vec![],
        },
        Draft {
            kind: Kind::Control,
            event_type: "arxi.segment.sealed",
            actor: None,
            subject: None,
            payload: json!({"reason": "manual", "segment_id": 1}),
            attachments: vec![],
        },
    ]
}

/// The chain of the golden segment.
pub(crate) fn chain() -> Vec<Envelope> {
    let key = key();
    let mut head = ChainHead::GENESIS;
    let mut envelopes = Vec::new();
    for (index, draft) in drafts().into_iter().enumerate() {
        let body = EnvelopeBody {
            recorder_id: "golden-recorder".into(),
            segment_id: 1,
            seq: head.seq + 1,
            received_at: at(index as i64),
            kind: draft.kind,
            event_type: draft.event_type.into(),
            actor: draft.actor.map(Into::into),
            subject: draft.subject.map(Into::into),
            payload: Payload::Inline(canonical(draft.payload)),
            attachments: draft.attachments,
            prev_hash: head.hash,
            key_id: key.id().clone(),
        };
        body.validate().expect("golden envelopes are valid");
        let envelope = body.sign(&key);
        head = ChainHead::after(&envelope);
        envelopes.push(envelope);
    }
    envelopes
}

/// The seal over [`chain`].
pub(crate) fn seal(envelopes: &[Envelope]) -> Seal {
    let key = key();
    let leaves: Vec<Hash32> = envelopes.iter().map(|e| envelope_leaf(&e.hash)).collect();
    let last = envelopes.last().expect("non-empty");
    SealBody {
        recorder_id: "golden-recorder".into(),
        segment_id: 1,
        first_seq: envelopes[0].body.seq,
        last_seq: last.body.seq,
        count: envelopes.len() as u64,
        merkle_root: merkle::root(&leaves),
        last_envelope_hash: last.hash,
        prev_seal_hash: Hash32::ZERO,
        sealed_at: at(envelopes.len() as i64),
        key_id: key.id().clone(),
    }
    .sign(&key)
}

fn hexes(hashes: &[Hash32]) -> Vec<String> {
    hashes.iter().map(Hash32::to_hex).collect()
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("serializes");
    text.push(b'\n');
    text
}

/// The salt of golden version 2 envelope `seq`: SHA-256 of this text and
/// the seq. Derived only so the vectors are reproducible; a recorder draws
/// every salt from the operating system's random source.
pub(crate) const SALT_TEXT: &str = "arxi golden vectors salt ";

pub(crate) fn salt(seq: u64) -> arxi_format::payload::Salt {
    arxi_format::payload::Salt(Hash32::of(format!("{SALT_TEXT}{seq}").as_bytes()).0)
}

/// One golden version 2 envelope before it is made: kind, type, (actor and
/// subject in clear, committed content), control payload.
type DraftV2<'a> = (
    Kind,
    &'a str,
    (
        Option<String>,
        Option<String>,
        Option<arxi_format::payload::Committed>,
    ),
    Value,
);

/// The version 2 segment: (envelope, committed content and salt for the
/// data envelopes).
pub(crate) fn chain_v2() -> Vec<(Envelope, Option<arxi_format::payload::Committed>)> {
    use arxi_format::payload::Committed;
    let key = key();
    let data = |actor: Option<&str>, subject: Option<&str>, committed: Committed| {
        (
            actor.map(Into::into),
            subject.map(Into::into),
            Some(committed),
        )
    };
    let drafts: Vec<DraftV2<'_>> = vec![
        (
            Kind::Control,
            "arxi.segment.opened",
            (None, None, None),
            json!({"prev_seal_hash": Hash32::ZERO.to_hex(), "reason": "append", "segment_id": 1}),
        ),
        (
            Kind::Data,
            "approvals.granted",
            data(
                Some("alice@example.com"),
                Some("invoice/2026-0042"),
                Committed {
                    actor: None,
                    subject: None,
                    payload: canonical(
                        json!({"amount": 1250.75, "currency": "EUR", "approved": true}),
                    ),
                },
            ),
            Value::Null,
        ),
        (
            Kind::Data,
            "customers.updated",
            data(
                None,
                None,
                Committed {
                    actor: Some("zoë".into()),
                    subject: Some("person/7".into()),
                    payload: canonical(json!({"name": "Ada Lovelace", "email": "ada@example.org"})),
                },
            ),
            Value::Null,
        ),
        (
            Kind::Data,
            "empty.payload",
            data(
                None,
                None,
                Committed {
                    actor: None,
                    subject: None,
                    payload: canonical(json!({})),
                },
            ),
            Value::Null,
        ),
        (
            Kind::Control,
            "arxi.segment.sealed",
            (None, None, None),
            json!({"reason": "api", "segment_id": 1}),
        ),
    ];
    let mut head = ChainHead::GENESIS;
    let mut out = Vec::new();
    for (index, (kind, event_type, (actor, subject, committed), control)) in
        drafts.into_iter().enumerate()
    {
        let seq = head.seq + 1;
        let payload = match &committed {
            Some(content) => Payload::Committed(content.commitment(&salt(seq))),
            None => Payload::Inline(canonical(control)),
        };
        let body = EnvelopeBody {
            recorder_id: "golden-recorder".into(),
            segment_id: 1,
            seq,
            received_at: at(index as i64),
            kind,
            event_type: event_type.into(),
            actor,
            subject,
            payload,
            attachments: vec![],
            prev_hash: head.hash,
            key_id: key.id().clone(),
        };
        body.validate().expect("golden envelopes are valid");
        let envelope = body.sign(&key);
        head = ChainHead::after(&envelope);
        out.push((envelope, committed));
    }
    out
}

/// The version 2 golden files.
fn generate_v2() -> Vec<(&'static str, Vec<u8>)> {
    use arxi_format::payload::{COMMITMENT_CONTEXT, Disclosure};
    let chain = chain_v2();
    let envelopes: Vec<Envelope> = chain.iter().map(|(e, _)| e.clone()).collect();
    let mut lines = Vec::new();
    let mut disclosures = Vec::new();
    let mut records = Vec::new();
    for (envelope, committed) in &chain {
        lines.extend_from_slice(&envelope.to_canonical_bytes());
        lines.push(b'\n');
        let mut record = json!({
            "seq": envelope.body.seq,
            "v": envelope.body.payload.version(),
            "canonical_body": String::from_utf8(envelope.body.canonical_bytes()).expect("utf8"),
            "hash": envelope.hash.to_hex(),
            "signed_message_hex": arxi_format::digest::encode_hex(&Domain::Envelope.message(&envelope.hash)),
            "signature": envelope.signature.to_hex(),
            "merkle_leaf_hash": envelope_leaf(&envelope.hash).to_hex(),
        });
        if let Some(content) = committed {
            let salt = salt(envelope.body.seq);
            let bytes = content.canonical_bytes();
            let mut input = format!("{COMMITMENT_CONTEXT}\0").into_bytes();
            input.extend_from_slice(&salt.0);
            input.extend_from_slice(&bytes);
            record["salt"] = json!(salt.to_hex());
            record["committed_content"] = json!(String::from_utf8(bytes).expect("utf8"));
            record["commitment_input_hex"] = json!(arxi_format::digest::encode_hex(&input));
            record["payload_commitment"] = json!(content.commitment(&salt).to_hex());
            let disclosure = Disclosure::Disclosed {
                content: content.clone(),
                salt,
            };
            disclosures.extend_from_slice(&disclosure.to_canonical_bytes());
            disclosures.push(b'\n');
        }
        records.push(record);
    }
    vec![
        ("v2-chain.jsonl", lines),
        ("v2-disclosures.jsonl", disclosures),
        (
            "v2-hashes.json",
            pretty(
                &json!({ "salt_note": format!("vector salts are SHA-256(\"{SALT_TEXT}\" || seq) for reproducibility; a recorder draws 32 random bytes"), "envelopes": records }),
            ),
        ),
        ("v2-seal.json", seal(&envelopes).to_canonical_bytes()),
    ]
}

/// Every golden file: (name under `testdata/golden/`, bytes).
pub(crate) fn generate() -> Vec<(&'static str, Vec<u8>)> {
    let mut files = generate_v1();
    files.extend(generate_v2());
    files
}

/// The version 1 golden files (published; never changed).
fn generate_v1() -> Vec<(&'static str, Vec<u8>)> {
    let key = key();
    let envelopes = chain();
    let seal = seal(&envelopes);
    let leaves: Vec<Hash32> = envelopes.iter().map(|e| envelope_leaf(&e.hash)).collect();

    let mut chain_lines = Vec::new();
    for envelope in &envelopes {
        chain_lines.extend_from_slice(&envelope.to_canonical_bytes());
        chain_lines.push(b'\n');
    }

    let records: Vec<Value> = envelopes
        .iter()
        .map(|envelope| {
            json!({
                "seq": envelope.body.seq,
                "canonical_body": String::from_utf8(envelope.body.canonical_bytes()).expect("utf8"),
                "hash": envelope.hash.to_hex(),
                "signed_message_hex": arxi_format::digest::encode_hex(&Domain::Envelope.message(&envelope.hash)),
                "signature": envelope.signature.to_hex(),
                "merkle_leaf_hash": envelope_leaf(&envelope.hash).to_hex(),
            })
        })
        .collect();

    let inclusion: Vec<Value> = (0..leaves.len() as u64)
        .map(|index| {
            json!({
                "leaf_index": index,
                "tree_size": leaves.len(),
                "leaf_hash": leaves[index as usize].to_hex(),
                "proof": hexes(&merkle::inclusion_proof(&leaves, index).expect("in range")),
                "root": seal.body.merkle_root.to_hex(),
            })
        })
        .collect();
    let mut consistency = Vec::new();
    for size1 in 1..=leaves.len() {
        for size2 in size1..=leaves.len() {
            consistency.push(json!({
                "size1": size1,
                "size2": size2,
                "root1": merkle::root(&leaves[..size1]).to_hex(),
                "root2": merkle::root(&leaves[..size2]).to_hex(),
                "proof": hexes(&merkle::consistency_proof(&leaves[..size2], size1 as u64).expect("valid")),
            }));
        }
    }

    vec![
        (
            "key.json",
            pretty(&json!({
                "note": "TEST KEY, published on purpose: seed = SHA-256(seed_text)",
                "seed_text": KEY_SEED_TEXT,
                "seed": key.to_hex(),
                "public_key": key.public().to_hex(),
                "key_id": key.id().as_str(),
            })),
        ),
        ("chain.jsonl", chain_lines),
        (
            "chain-hashes.json",
            pretty(&json!({ "envelopes": records })),
        ),
        ("seal.json", seal.to_canonical_bytes()),
        (
            "seal-hashes.json",
            pretty(&json!({
                "canonical_body": String::from_utf8(seal.body.canonical_bytes()).expect("utf8"),
                "hash": seal.hash.to_hex(),
                "signed_message_hex": arxi_format::digest::encode_hex(&Domain::Seal.message(&seal.hash)),
                "signature": seal.signature.to_hex(),
            })),
        ),
        ("attachment-3.bin", ATTACHMENT_BYTES.to_vec()),
        (
            "proofs.json",
            pretty(&json!({ "inclusion": inclusion, "consistency": consistency })),
        ),
    ]
}
