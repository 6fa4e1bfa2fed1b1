//! Deterministic generator of the golden bundle and its tampered fixtures in
//! `testdata/bundles/`: fixed keys, fixed clock, fixed content, built with
//! `arxi-format` alone (as an independent producer would). Shared by the
//! `bundles` test (which fails on any difference from the committed files)
//! and the `regenerate_bundles` example (`scripts/regenerate-golden.sh`).
//!
//! The golden recorder history, five sealed segments:
//!
//! - segment 1, key A: opened, `arxi.key.loaded` A, started, three events
//!   (the second with an attachment), sealed;
//! - segments 2 and 3, key A: opened, three events, sealed;
//! - segment 4, key B (a restart with a new key): opened (signed by B, as the
//!   recorder does when the key event opens the segment), `arxi.key.changed`
//!   A to B, started, two events, sealed;
//! - segment 5, key B: opened, two events, sealed.
//!
//! The bundle is signed by B. Each tampered fixture applies one attack to the
//! golden bundle; the table in [`fixtures`] names the codes the verifier must
//! report for it, written by hand.

use arxi_format::bundle::{Encoder, KeyRecord, Manifest, ManifestSegment, Tag};
use arxi_format::envelope::{AttachmentRef, Envelope, EnvelopeBody, Kind};
use arxi_format::keys::SecretKey;
use arxi_format::merkle;
use arxi_format::proof::InclusionProof;
use arxi_format::seal::{Seal, SealBody, envelope_leaf};
use arxi_format::{CanonicalJson, ChainHead, Hash32, Timestamp};
use serde_json::{Value, json};

/// Key A seed: SHA-256 of this text. Published on purpose.
pub(crate) const KEY_A_SEED_TEXT: &str = "arxi golden bundle key A";
/// Key B seed text.
pub(crate) const KEY_B_SEED_TEXT: &str = "arxi golden bundle key B";
/// A key nobody trusts.
pub(crate) const ATTACKER_SEED_TEXT: &str = "arxi golden bundle attacker key";
/// 2026-03-01T00:00:00Z in microseconds.
const CLOCK_START_MICROS: i64 = 1_772_323_200_000_000;
/// The attachment of envelope 5.
pub(crate) const ATTACHMENT_BYTES: &[u8] = b"%PDF-1.7 golden bundle attachment\n";
/// The envelope whose inclusion proof is published.
pub(crate) const PROOF_SEQ: u64 = 10;

pub(crate) fn key(seed_text: &str) -> SecretKey {
    SecretKey::from_seed(&Hash32::of(seed_text.as_bytes()).0).expect("key")
}

/// One record of a bundle, before framing.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub tag: Tag,
    pub payload: Vec<u8>,
}

impl Rec {
    fn new(tag: Tag, payload: Vec<u8>) -> Self {
        Self { tag, payload }
    }

    pub(crate) fn envelope(&self) -> Envelope {
        Envelope::parse(&self.payload).expect("an envelope record")
    }

    pub(crate) fn seal(&self) -> Seal {
        Seal::parse(&self.payload).expect("a seal record")
    }
}

/// A recorder, simulated with the format crate alone.
struct Sim {
    key: SecretKey,
    head: ChainHead,
    step: i64,
    segment_id: u64,
    segment: Vec<Envelope>,
    last_seal: Hash32,
    records: Vec<Rec>,
    manifest_segments: Vec<ManifestSegment>,
    keys: Vec<KeyRecord>,
}

impl Sim {
    fn now(&mut self) -> Timestamp {
        self.step += 1;
        Timestamp::from_unix_micros(CLOCK_START_MICROS + self.step * 1_000_000).expect("in range")
    }

    fn append(
        &mut self,
        kind: Kind,
        event_type: &str,
        actor: Option<&str>,
        payload: &Value,
        attachment: Option<&[u8]>,
    ) {
        if self.segment.is_empty() && event_type != "arxi.segment.opened" {
            self.open();
        }
        let received_at = self.now();
        let body = EnvelopeBody {
            recorder_id: "golden-bundle".into(),
            segment_id: self.segment_id,
            seq: self.head.seq + 1,
            received_at,
            kind,
            event_type: event_type.into(),
            actor: actor.map(Into::into),
            subject: None,
            payload: CanonicalJson::from_value(payload).expect("canonical"),
            attachments: attachment
                .map(|bytes| AttachmentRef {
                    name: "statement.pdf".into(),
                    media_type: "application/pdf".into(),
                    sha256: Hash32::of(bytes),
                    size: bytes.len() as u64,
                })
                .into_iter()
                .collect(),
            prev_hash: self.head.hash,
            key_id: self.key.id().clone(),
        };
        body.validate().expect("valid");
        if !self
            .keys
            .iter()
            .any(|record| record.public_key.id() == self.key.id())
        {
            self.keys.push(KeyRecord {
                public_key: self.key.public().clone(),
                first_seq: body.seq,
            });
        }
        let envelope = body.sign(&self.key);
        self.head = ChainHead::after(&envelope);
        self.records
            .push(Rec::new(Tag::Envelope, envelope.to_canonical_bytes()));
        if let Some(bytes) = attachment {
            self.records.push(Rec::new(Tag::Attachment, bytes.to_vec()));
        }
        self.segment.push(envelope);
    }

    fn control(&mut self, event_type: &str, payload: &Value) {
        self.append(Kind::Control, event_type, None, payload, None);
    }

    fn open(&mut self) {
        self.segment_id += 1;
        let payload = json!({"prev_seal_hash": self.last_seal.to_hex(), "reason": "append", "segment_id": self.segment_id});
        self.control("arxi.segment.opened", &payload);
    }

    fn seal(&mut self) {
        let payload = json!({"reason": "api", "segment_id": self.segment_id});
        self.control("arxi.segment.sealed", &payload);
        let leaves: Vec<Hash32> = self
            .segment
            .iter()
            .map(|e| envelope_leaf(&e.hash))
            .collect();
        let first = &self.segment[0];
        let last = self.segment.last().expect("non-empty");
        let (first_seq, last_seq, last_hash) = (first.body.seq, last.body.seq, last.hash);
        let sealed_at = self.now();
        let seal = SealBody {
            recorder_id: "golden-bundle".into(),
            segment_id: self.segment_id,
            first_seq,
            last_seq,
            count: leaves.len() as u64,
            merkle_root: merkle::root(&leaves),
            last_envelope_hash: last_hash,
            prev_seal_hash: self.last_seal,
            sealed_at,
            key_id: self.key.id().clone(),
        }
        .sign(&self.key);
        self.manifest_segments.push(ManifestSegment {
            segment_id: self.segment_id,
            first_seq,
            last_seq,
            count: seal.body.count,
            merkle_root: seal.body.merkle_root,
            seal_hash: seal.hash,
        });
        self.last_seal = seal.hash;
        self.records
            .push(Rec::new(Tag::Seal, seal.to_canonical_bytes()));
        self.segment.clear();
    }

    /// A recorder start: the key event (opening a segment if none is
    /// open), then `arxi.recorder.started`.
    fn start(&mut self, previous: Option<&SecretKey>) {
        let key_id = self.key.id().to_string();
        let public = self.key.public().to_hex();
        match previous {
            None => self.control("arxi.key.loaded", &json!({"key_id": key_id, "public_key": public})),
            Some(old) => self.control(
                "arxi.key.changed",
                &json!({"previous_key_id": old.id().to_string(), "key_id": key_id, "public_key": public}),
            ),
        }
        self.control(
            "arxi.recorder.started",
            &json!({"key_id": key_id, "version": "golden"}),
        );
    }

    fn event(&mut self, event_type: &str, actor: &str, payload: &Value) {
        self.append(Kind::Data, event_type, Some(actor), payload, None);
    }
}

/// The golden bundle as records (manifest first, no trailer) and its signer.
pub(crate) fn golden_records() -> (Vec<Rec>, SecretKey) {
    let (a, b) = (key(KEY_A_SEED_TEXT), key(KEY_B_SEED_TEXT));
    let mut sim = Sim {
        key: a.clone(),
        head: ChainHead::GENESIS,
        step: 0,
        segment_id: 0,
        segment: Vec::new(),
        last_seal: Hash32::ZERO,
        records: Vec::new(),
        manifest_segments: Vec::new(),
        keys: Vec::new(),
    };
    sim.start(None);
    sim.event(
        "payments.approved",
        "alice",
        &json!({"invoice": "2026-0042", "amount": 1250.75}),
    );
    sim.append(
        Kind::Data,
        "statements.filed",
        Some("bob"),
        &json!({"statement": "Q1"}),
        Some(ATTACHMENT_BYTES),
    );
    sim.event(
        "payments.released",
        "carol",
        &json!({"invoice": "2026-0042"}),
    );
    sim.seal();
    for (segment, events) in [(2, 3), (3, 3)] {
        sim.open();
        for n in 0..events {
            sim.event(
                "orders.placed",
                "dave",
                &json!({"segment": segment, "n": n}),
            );
        }
        sim.seal();
    }
    // A restart with key B: the key event opens segment 4 (signed by B).
    sim.key = b.clone();
    sim.start(Some(&a));
    for n in 0..2 {
        sim.event("orders.shipped", "erin", &json!({"n": n}));
    }
    sim.seal();
    sim.open();
    for n in 0..2 {
        sim.event("orders.closed", "frank", &json!({"n": n}));
    }
    sim.seal();

    let manifest = Manifest {
        recorder_id: "golden-bundle".into(),
        created_at: sim.now(),
        first_seq: 1,
        last_seq: sim.head.seq,
        envelope_count: sim.head.seq,
        prev_hash: Hash32::ZERO,
        prev_seal_hash: Hash32::ZERO,
        segments: sim.manifest_segments.clone(),
        keys: sim.keys.iter().map(|k| k.public_key.id().clone()).collect(),
        key_id: b.id().clone(),
    };
    let mut records = vec![Rec::new(Tag::Manifest, manifest.to_canonical_bytes())];
    records.extend(
        sim.keys
            .iter()
            .map(|k| Rec::new(Tag::Key, k.to_canonical_bytes())),
    );
    records.extend(sim.records);
    (records, b)
}

/// Frames records and appends a trailer signed by `signer`.
pub(crate) fn encode(records: &[Rec], signer: &SecretKey) -> Vec<u8> {
    let (mut encoder, preamble) = Encoder::start();
    let mut out = preamble.to_vec();
    for record in records {
        encoder.encode(record.tag, &record.payload, &mut out);
    }
    let manifest_hash = records
        .iter()
        .find(|record| record.tag == Tag::Manifest)
        .map(|record| Hash32::of(&record.payload))
        .unwrap_or(Hash32::ZERO);
    let (trailer, _) = encoder.finish(manifest_hash, signer);
    out.extend_from_slice(&trailer);
    out
}

/// Index of the `n`th record with `tag` (from 0).
fn nth(records: &[Rec], tag: Tag, n: usize) -> usize {
    records
        .iter()
        .enumerate()
        .filter(|(_, record)| record.tag == tag)
        .nth(n)
        .map(|(index, _)| index)
        .expect("record exists")
}

/// Index of the envelope record with `seq`.
fn envelope_at(records: &[Rec], seq: u64) -> usize {
    records
        .iter()
        .position(|record| record.tag == Tag::Envelope && record.envelope().body.seq == seq)
        .expect("envelope exists")
}

/// Records of segment `id`: from its first envelope through its seal.
fn segment_span(records: &[Rec], id: u64) -> std::ops::Range<usize> {
    let start = records
        .iter()
        .position(|r| r.tag == Tag::Envelope && r.envelope().body.segment_id == id)
        .expect("segment");
    let seal = (start..records.len())
        .find(|&i| records[i].tag == Tag::Seal)
        .expect("seal");
    start..seal + 1
}

/// Replaces the seal of segment `id` with `edit` applied and re-signed by
/// `signer`.
fn reseal(records: &mut [Rec], id: u64, signer: &SecretKey, edit: impl FnOnce(&mut SealBody)) {
    let index = nth(records, Tag::Seal, usize::try_from(id - 1).expect("small"));
    let mut body = records[index].seal().body;
    edit(&mut body);
    body.key_id = signer.id().clone();
    records[index].payload = body.sign(signer).to_canonical_bytes();
}

/// One tampered fixture: a file name, what was done, the codes the verifier
/// must report (exactly), and the expected exit code.
pub(crate) struct Fixture {
    pub name: &'static str,
    pub attack: &'static str,
    pub codes: &'static [&'static str],
    pub exit: u8,
    pub bytes: Vec<u8>,
}

/// The golden bundle's bytes.
pub(crate) fn golden_bundle() -> Vec<u8> {
    let (records, signer) = golden_records();
    encode(&records, &signer)
}

#[allow(clippy::too_many_lines)]
pub(crate) fn fixtures() -> Vec<Fixture> {
    let (golden, signer) = golden_records();
    let attacker = key(ATTACKER_SEED_TEXT);
    let a = key(KEY_A_SEED_TEXT);
    let b = key(KEY_B_SEED_TEXT);
    let golden_bytes = encode(&golden, &signer);
    let mut fixtures = Vec::new();
    // Attacks on records; the container is re-signed with the bundle key, so
    // each fixture shows the record-level check on its own (an attacker
    // without the key also breaks the trailer; see `unsigned_edit`).
    let mut record_attack = |name: &'static str,
                             attack: &'static str,
                             codes: &'static [&'static str],
                             edit: &dyn Fn(&mut Vec<Rec>)| {
        let mut records = golden.clone();
        edit(&mut records);
        fixtures.push(Fixture {
            name,
            attack,
            codes,
            exit: 1,
            bytes: encode(&records, &signer),
        });
    };

    record_attack(
        "payload-byte-flipped",
        "one byte of envelope 4's payload changed (alice -> alicf), nothing recomputed",
        &["envelope_hash_mismatch"],
        &|records| {
            let index = envelope_at(records, 4);
            let text = String::from_utf8(records[index].payload.clone()).expect("utf8");
            records[index].payload = text.replacen("\"alice\"", "\"alicf\"", 1).into_bytes();
        },
    );
    record_attack(
        "envelope-field-changed",
        "envelope 6's event type changed, nothing recomputed",
        &["envelope_hash_mismatch"],
        &|records| {
            let index = envelope_at(records, 6);
            let mut envelope = records[index].envelope();
            envelope.body.event_type = "payments.cancelled".into();
            records[index].payload = envelope.to_canonical_bytes();
        },
    );
    record_attack(
        "hash-recomputed-not-resigned",
        "envelope 4's payload changed and its hash recomputed, the signature left",
        &[
            "envelope_signature_invalid",
            "chain_broken",
            "seal_merkle_root_mismatch",
        ],
        &|records| {
            let index = envelope_at(records, 4);
            let mut envelope = records[index].envelope();
            envelope.body.payload =
                CanonicalJson::from_value(&json!({"invoice": "2026-0042", "amount": 9250.75}))
                    .expect("json");
            envelope.hash = envelope.body.compute_hash();
            records[index].payload = envelope.to_canonical_bytes();
        },
    );
    record_attack(
        "envelope-removed-middle",
        "envelope 10 (middle of segment 2) removed",
        &[
            "envelope_missing",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let index = envelope_at(records, 10);
            records.remove(index);
        },
    );
    record_attack(
        "envelope-removed-first",
        "envelope 1 (the first of the bundle) removed",
        &[
            "envelope_missing",
            "segment_opened_mismatch",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let index = envelope_at(records, 1);
            records.remove(index);
        },
    );
    record_attack(
        "envelope-removed-last",
        "the last envelope (arxi.segment.sealed of segment 5) removed",
        &[
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "seal_last_envelope_mismatch",
            "segment_not_closed",
            "manifest_mismatch",
        ],
        &|records| {
            let last = records
                .iter()
                .rposition(|r| r.tag == Tag::Envelope)
                .expect("envelopes");
            records.remove(last);
        },
    );
    record_attack(
        "two-envelopes-removed",
        "envelopes 10 and 11 (consecutive) removed",
        &[
            "envelope_missing",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let index = envelope_at(records, 10);
            records.drain(index..index + 2);
        },
    );
    record_attack(
        "envelopes-swapped",
        "envelopes 9 and 10 swapped",
        &[
            "envelope_missing",
            "envelope_out_of_order",
            "seal_merkle_root_mismatch",
            "seal_range_mismatch",
        ],
        &|records| {
            let index = envelope_at(records, 9);
            records.swap(index, index + 1);
        },
    );
    record_attack(
        "envelope-duplicated",
        "envelope 10 appears twice",
        &["envelope_duplicated", "manifest_mismatch"],
        &|records| {
            let index = envelope_at(records, 10);
            let copy = records[index].clone();
            records.insert(index + 1, copy);
        },
    );
    record_attack(
        "envelope-inserted-other-key",
        "an envelope signed by an untrusted key inserted after envelope 10, chained to it",
        &[
            "envelope_untrusted_key",
            "key_not_in_force",
            "envelope_out_of_order",
            "chain_broken",
            "seal_merkle_root_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let index = envelope_at(records, 10);
            let before = records[index].envelope();
            let mut body = before.body.clone();
            body.seq += 1;
            body.prev_hash = before.hash;
            body.event_type = "payments.approved".into();
            body.key_id = attacker.id().clone();
            records.insert(
                index + 1,
                Rec::new(Tag::Envelope, body.sign(&attacker).to_canonical_bytes()),
            );
        },
    );
    record_attack(
        "segment-dropped",
        "segment 2 (envelopes and seal) removed",
        &[
            "segment_missing",
            "envelope_missing",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let span = segment_span(records, 2);
            records.drain(span);
        },
    );
    record_attack(
        "two-segments-dropped",
        "segments 2 and 3 (consecutive) removed",
        &[
            "segments_missing",
            "envelope_missing",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let start = segment_span(records, 2).start;
            let end = segment_span(records, 3).end;
            records.drain(start..end);
        },
    );
    record_attack(
        "seal-wrong-merkle-root",
        "segment 2's seal carries another Merkle root (re-signed with the right key)",
        &[
            "seal_merkle_root_mismatch",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            reseal(records, 2, &a, |body| {
                body.merkle_root = Hash32::of(b"another root");
            });
        },
    );
    record_attack(
        "seal-untrusted-key",
        "segment 2's seal re-signed by an untrusted key",
        &[
            "seal_untrusted_key",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        &|records| reseal(records, 2, &attacker, |_| {}),
    );
    record_attack(
        "seal-chain-broken",
        "segment 3's seal names another previous seal (re-signed with the right key)",
        &[
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            reseal(records, 3, &a, |body| {
                body.prev_seal_hash = Hash32::of(b"another seal");
            });
        },
    );
    record_attack(
        "data-after-last-seal",
        "an envelope, correctly chained and signed, appended after the last seal",
        &["unsealed_envelopes", "manifest_mismatch"],
        &|records| {
            let last = records
                .iter()
                .rposition(|r| r.tag == Tag::Envelope)
                .expect("envelopes");
            let before = records[last].envelope();
            let mut body = before.body.clone();
            body.seq += 1;
            body.prev_hash = before.hash;
            body.segment_id += 1;
            body.event_type = "arxi.segment.opened".into();
            let seal_hash = records.last().expect("seal").seal().hash;
            body.payload = CanonicalJson::from_value(&json!({"prev_seal_hash": seal_hash.to_hex(), "reason": "append", "segment_id": body.segment_id})).expect("json");
            records.push(Rec::new(Tag::Envelope, body.sign(&b).to_canonical_bytes()));
        },
    );
    record_attack(
        "attachment-replaced",
        "envelope 5's attachment bytes replaced",
        &["attachment_mismatch"],
        &|records| {
            let index = nth(records, Tag::Attachment, 0);
            records[index].payload = b"%PDF-1.7 a different statement\n".to_vec();
        },
    );
    record_attack(
        "manifest-disagrees",
        "the manifest claims one envelope fewer",
        &["manifest_mismatch"],
        &|records| {
            let mut manifest = Manifest::parse(&records[0].payload).expect("manifest");
            manifest.envelope_count -= 1;
            records[0].payload = manifest.to_canonical_bytes();
        },
    );
    record_attack(
        "resealed-under-newer-key",
        "segment 2 edited and all its envelopes and its seal re-signed with key B, which only came into force in segment 4",
        &[
            "key_not_in_force",
            "chain_broken",
            "seal_chain_broken",
            "segment_opened_mismatch",
            "manifest_mismatch",
        ],
        &|records| {
            let span = segment_span(records, 2);
            let mut head: Option<Envelope> = None;
            let mut hashes = Vec::new();
            for index in span.clone() {
                if records[index].tag != Tag::Envelope {
                    continue;
                }
                let mut body = records[index].envelope().body;
                if let Some(previous) = &head {
                    body.prev_hash = previous.hash;
                }
                if body.event_type == "orders.placed" {
                    body.actor = Some("mallory".into());
                }
                body.key_id = b.id().clone();
                let envelope = body.sign(&b);
                hashes.push(envelope_leaf(&envelope.hash));
                records[index].payload = envelope.to_canonical_bytes();
                head = Some(envelope);
            }
            let last = head.expect("segment has envelopes");
            reseal(records, 2, &b, |body| {
                body.merkle_root = merkle::root(&hashes);
                body.last_envelope_hash = last.hash;
            });
        },
    );

    // Attacks on the container itself.
    let mut container = |name: &'static str,
                         attack: &'static str,
                         codes: &'static [&'static str],
                         exit: u8,
                         bytes: Vec<u8>| {
        fixtures.push(Fixture {
            name,
            attack,
            codes,
            exit,
            bytes,
        });
    };
    let mut signed_by_attacker = golden.clone();
    let mut manifest = Manifest::parse(&signed_by_attacker[0].payload).expect("manifest");
    manifest.key_id = attacker.id().clone();
    signed_by_attacker[0].payload = manifest.to_canonical_bytes();
    container(
        "bundle-signed-by-untrusted-key",
        "the container rebuilt and signed by an untrusted key",
        &["bundle_untrusted_key"],
        1,
        encode(&signed_by_attacker, &attacker),
    );
    let mut unsigned = golden_bytes.clone();
    let at = find(&unsigned, b"\"dave\"") + 1;
    unsigned[at] = b'D';
    container(
        "unsigned-edit",
        "one byte of an envelope changed in place (dave -> Dave), the trailer left as it was",
        &["envelope_hash_mismatch", "bundle_content_mismatch"],
        1,
        unsigned,
    );
    let trailer_at = rfind(&golden_bytes, b"\nZ ") + 1;
    container(
        "truncated-mid-record",
        "the file cut in the middle of the last seal",
        &["truncated", "unsealed_envelopes", "manifest_mismatch"],
        1,
        golden_bytes[..trailer_at - 200].to_vec(),
    );
    let last_seal = rfind(&golden_bytes, b"\nS ") + 1;
    container(
        "truncated-at-record-boundary",
        "the file cut cleanly before the last segment's seal and the trailer",
        &["truncated", "unsealed_envelopes", "manifest_mismatch"],
        1,
        golden_bytes[..last_seal].to_vec(),
    );
    let mut appended = golden_bytes.clone();
    appended.extend_from_slice(b"E 2\n{}\n");
    container(
        "data-after-trailer",
        "a record appended after the signed trailer",
        &["data_after_trailer"],
        1,
        appended,
    );
    let mut version = golden_bytes.clone();
    version[12] = b'2';
    container(
        "unknown-format-version",
        "the preamble says format version 2",
        &["unsupported_version"],
        2,
        version,
    );
    container(
        "not-a-bundle",
        "a file that is not a bundle",
        &["not_a_bundle"],
        2,
        b"PK\x03\x04 not a bundle\n".to_vec(),
    );
    fixtures
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

fn rfind(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("present")
}

/// The published inclusion proof of [`PROOF_SEQ`].
pub(crate) fn golden_proof() -> InclusionProof {
    let (records, _) = golden_records();
    let index = envelope_at(&records, PROOF_SEQ);
    let envelope = records[index].envelope();
    let span = segment_span(&records, envelope.body.segment_id);
    let hashes: Vec<Hash32> = records[span.clone()]
        .iter()
        .filter(|r| r.tag == Tag::Envelope)
        .map(|r| r.envelope().hash)
        .collect();
    let leaf = hashes
        .iter()
        .position(|h| *h == envelope.hash)
        .expect("in segment");
    InclusionProof::build(envelope, records[span.end - 1].seal(), &hashes, leaf as u64)
        .expect("proof")
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("serializes");
    text.push(b'\n');
    text
}

/// Every file under `testdata/bundles/`: (relative name, bytes).
pub(crate) fn generate() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (name, seed) in [
        ("a", KEY_A_SEED_TEXT),
        ("b", KEY_B_SEED_TEXT),
        ("attacker", ATTACKER_SEED_TEXT),
    ] {
        files.push((
            format!("keys/{name}.pub"),
            format!("{}\n", key(seed).public().to_hex()).into_bytes(),
        ));
    }
    files.push((
        "keys/README.json".into(),
        pretty(&json!({
            "note": "TEST KEYS, published on purpose: seed = SHA-256(seed_text). Never trust them for real evidence.",
            "a": {"seed_text": KEY_A_SEED_TEXT, "key_id": key(KEY_A_SEED_TEXT).id().as_str()},
            "b": {"seed_text": KEY_B_SEED_TEXT, "key_id": key(KEY_B_SEED_TEXT).id().as_str()},
            "attacker": {"seed_text": ATTACKER_SEED_TEXT, "key_id": key(ATTACKER_SEED_TEXT).id().as_str()},
        })),
    ));
    files.push(("golden.arxb".into(), golden_bundle()));
    let mut proof = golden_proof().to_canonical_bytes();
    proof.push(b'\n');
    files.push((format!("golden-proof-seq-{PROOF_SEQ}.json"), proof));
    let mut table = Vec::new();
    for fixture in fixtures() {
        table.push(json!({
            "file": format!("tampered/{}.arxb", fixture.name),
            "attack": fixture.attack,
            "codes": fixture.codes,
            "exit": fixture.exit,
        }));
        files.push((format!("tampered/{}.arxb", fixture.name), fixture.bytes));
    }
    files.push((
        "tampered/expected.json".into(),
        pretty(&json!({
            "trusted_keys": ["keys/a.pub", "keys/b.pub"],
            "fixtures": table,
        })),
    ));
    files
}
