//! The golden recorder history, simulated with `arxi-format` alone (as an
//! independent producer would), with fixed keys and a fixed clock, and with
//! hooks that change one thing before signing so that a crafted bundle is
//! consistent everywhere else (chain, seals, manifest, trailer re-made).
//!
//! Five sealed segments:
//!
//! - segment 1, key A: opened, `arxi.key.loaded` A, started, three events
//!   (the second with an attachment), sealed;
//! - segments 2 and 3, key A: opened, three events, sealed;
//! - segment 4, the restart key (B): opened (signed by B, as the recorder
//!   does when the key event opens the segment), `arxi.key.changed` A to B,
//!   started, two events, sealed;
//! - segment 5: opened, two events, sealed.
//!
//! Sequence numbers: segment 1 is 1-7, segment 2 8-12, segment 3 13-17,
//! segment 4 18-23, segment 5 24-27. Each record is one second after the
//! one before (seals included), from 2026-03-01T00:00:01Z.

use std::rc::Rc;

use arxi_format::bundle::{KeyRecord, Manifest, ManifestSegment, Tag};
use arxi_format::delegation::{Delegation, DelegationBody, KeyDelegated};
use arxi_format::envelope::{AttachmentRef, Envelope, EnvelopeBody, Kind};
use arxi_format::keys::SecretKey;
use arxi_format::merkle;
use arxi_format::seal::{Seal, SealBody, envelope_leaf};
use arxi_format::{CanonicalJson, ChainHead, Hash32, Timestamp};
use serde_json::{Value, json};

/// The published test keys: name and seed text (seed = SHA-256 of it).
pub(crate) const KEYS: &[(&str, &str)] = &[
    ("a", "arxi golden bundle key A"),
    ("b", "arxi golden bundle key B"),
    ("attacker", "arxi golden bundle attacker key"),
];
/// 2026-03-01T00:00:00Z in microseconds.
const CLOCK_START_MICROS: i64 = 1_772_323_200_000_000;
/// The recorder id of the golden history.
pub(crate) const RECORDER_ID: &str = "golden-bundle";
/// The attachment of envelope 5.
pub(crate) const ATTACHMENT_BYTES: &[u8] = b"%PDF-1.7 golden bundle attachment\n";

/// A published test key by name (`a`, `b`, `attacker`).
pub(crate) fn key(name: &str) -> SecretKey {
    let (_, seed_text) = KEYS
        .iter()
        .find(|(known, _)| *known == name)
        .unwrap_or_else(|| panic!("no test key {name}"));
    SecretKey::from_seed(&Hash32::of(seed_text.as_bytes()).0).expect("key")
}

/// `time` moved back by `seconds`.
pub(crate) fn earlier(time: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(time.unix_micros() - seconds * 1_000_000).expect("in range")
}

/// `time` moved on by `seconds`.
pub(crate) fn later(time: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(time.unix_micros() + seconds * 1_000_000).expect("in range")
}

/// Rewrites an envelope's payload through its JSON value.
pub(crate) fn json_payload(body: &mut EnvelopeBody, edit: impl FnOnce(&mut Value)) {
    let mut value = body
        .payload
        .inline()
        .expect("a payload in the envelope")
        .to_value();
    edit(&mut value);
    body.payload = arxi_format::envelope::Payload::Inline(
        CanonicalJson::from_value(&value).expect("canonical"),
    );
}

/// One record of a bundle, before framing.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) tag: Tag,
    pub(crate) payload: Vec<u8>,
}

impl Rec {
    pub(crate) fn new(tag: Tag, payload: Vec<u8>) -> Self {
        Self { tag, payload }
    }

    pub(crate) fn envelope(&self) -> Envelope {
        Envelope::parse(&self.payload).expect("an envelope record")
    }

    pub(crate) fn seal(&self) -> Seal {
        Seal::parse(&self.payload).expect("a seal record")
    }
}

/// An edit applied to every envelope body (or seal body) before signing.
pub(crate) type EnvelopeEdit = Rc<dyn Fn(&mut EnvelopeBody)>;
/// An edit applied to every seal body before signing.
pub(crate) type SealEdit = Rc<dyn Fn(&mut SealBody)>;
/// An edit of a delegation before its root signs it.
pub(crate) type DelegationEdit = Rc<dyn Fn(&mut DelegationBody)>;

/// A restart key delegated by a root (section 3.1).
#[derive(Clone)]
pub(crate) struct Delegated {
    /// The root's test key name.
    pub(crate) root: &'static str,
    /// Applied to the delegation before the root signs it.
    pub(crate) edit: DelegationEdit,
}

/// How the history differs from the golden one.
#[derive(Clone)]
pub(crate) struct Story {
    /// The key the recorder restarts with in segment 4 (and that signs the
    /// bundle).
    pub(crate) restart_key: &'static str,
    /// The key event the restart records.
    pub(crate) restart_event: &'static str,
    pub(crate) envelope_edits: Vec<EnvelopeEdit>,
    pub(crate) seal_edits: Vec<SealEdit>,
    /// With `restart_event` `arxi.key.delegated`: who delegates the
    /// restart key.
    pub(crate) delegated: Option<Delegated>,
}

impl Default for Story {
    fn default() -> Self {
        Self {
            restart_key: "b",
            restart_event: "arxi.key.changed",
            envelope_edits: Vec::new(),
            seal_edits: Vec::new(),
            delegated: None,
        }
    }
}

/// A recorder, simulated.
struct Sim<'s> {
    story: &'s Story,
    key: SecretKey,
    head: ChainHead,
    step: i64,
    segment_id: u64,
    segment: Vec<Envelope>,
    last_seal: Hash32,
    records: Vec<Rec>,
    manifest_segments: Vec<ManifestSegment>,
    keys: Vec<KeyRecord>,
    delegations: Vec<Delegation>,
    recorder_id: Option<String>,
}

impl Sim<'_> {
    fn now(&mut self) -> Timestamp {
        self.step += 1;
        Timestamp::from_unix_micros(CLOCK_START_MICROS + self.step * 1_000_000).expect("in range")
    }

    fn body(
        &mut self,
        kind: Kind,
        event_type: &str,
        actor: Option<&str>,
        payload: &Value,
    ) -> EnvelopeBody {
        let received_at = self.now();
        EnvelopeBody {
            recorder_id: RECORDER_ID.into(),
            segment_id: self.segment_id,
            seq: self.head.seq + 1,
            received_at,
            kind,
            event_type: event_type.into(),
            actor: actor.map(Into::into),
            subject: None,
            payload: arxi_format::envelope::Payload::Inline(
                CanonicalJson::from_value(payload).expect("canonical"),
            ),
            attachments: Vec::new(),
            prev_hash: self.head.hash,
            key_id: self.key.id().clone(),
        }
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
        let mut body = self.body(kind, event_type, actor, payload);
        body.attachments = attachment
            .map(|bytes| AttachmentRef {
                name: "statement.pdf".into(),
                media_type: "application/pdf".into(),
                sha256: Hash32::of(bytes),
                size: bytes.len() as u64,
            })
            .into_iter()
            .collect();
        for edit in &self.story.envelope_edits {
            edit(&mut body);
        }
        body.validate().expect("valid");
        self.recorder_id
            .get_or_insert_with(|| body.recorder_id.clone());
        let delegated = self
            .delegations
            .iter()
            .any(|delegation| delegation.body.key_id() == self.key.id());
        if !delegated
            && !self
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

    fn event(&mut self, event_type: &str, actor: &str, payload: &Value) {
        self.append(Kind::Data, event_type, Some(actor), payload, None);
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
        let recorder_id = last.body.recorder_id.clone();
        let sealed_at = self.now();
        let mut body = SealBody {
            recorder_id,
            segment_id: self.segment_id,
            first_seq,
            last_seq,
            count: leaves.len() as u64,
            merkle_root: merkle::root(&leaves),
            last_envelope_hash: last_hash,
            prev_seal_hash: self.last_seal,
            sealed_at,
            key_id: self.key.id().clone(),
        };
        for edit in &self.story.seal_edits {
            edit(&mut body);
        }
        let seal = body.sign(&self.key);
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

    /// The story's delegation of the key in force, from the next `seq` on
    /// (the segment the key event opens starts there): 1,000 sequence
    /// numbers and one day from the next receive time, edited, then
    /// signed by the root.
    fn delegation(&self) -> Delegation {
        let delegated = self
            .story
            .delegated
            .as_ref()
            .expect("arxi.key.delegated needs a delegating root");
        let root = key(delegated.root);
        let not_before =
            Timestamp::from_unix_micros(CLOCK_START_MICROS + (self.step + 1) * 1_000_000)
                .expect("in range");
        let mut body = DelegationBody {
            root_key_id: root.id().clone(),
            public_key: self.key.public().clone(),
            first_seq: self.head.seq + 1,
            last_seq: self.head.seq + 1_000,
            not_before,
            not_after: later(not_before, 86_400),
        };
        (delegated.edit)(&mut body);
        let Ok(delegation) = body.try_sign(&root);
        delegation
    }

    /// A recorder start: the key event (opening a segment if none is
    /// open), then `arxi.recorder.started`.
    fn start(&mut self, previous: Option<&SecretKey>, event: &str) {
        let key_id = self.key.id().to_string();
        let public = self.key.public().to_hex();
        match previous {
            Some(old) if event == "arxi.key.changed" => self.control(
                event,
                &json!({"previous_key_id": old.id().to_string(), "key_id": key_id, "public_key": public}),
            ),
            Some(old) if event == "arxi.key.delegated" => {
                let delegation = self.delegation();
                self.delegations.push(delegation.clone());
                let event_payload = KeyDelegated {
                    previous_key_id: Some(old.id().clone()),
                    delegation,
                };
                self.control(event, &event_payload.to_canonical().to_value());
            }
            _ => self.control(event, &json!({"key_id": key_id, "public_key": public})),
        }
        self.control(
            "arxi.recorder.started",
            &json!({"key_id": key_id, "version": "golden"}),
        );
    }
}

/// The history as records (manifest first, no trailer) and the key that
/// signs the bundle.
pub(crate) fn records(story: &Story) -> (Vec<Rec>, SecretKey) {
    let (a, restart) = (key("a"), key(story.restart_key));
    let mut sim = Sim {
        story,
        key: a.clone(),
        head: ChainHead::GENESIS,
        step: 0,
        segment_id: 0,
        segment: Vec::new(),
        last_seal: Hash32::ZERO,
        records: Vec::new(),
        manifest_segments: Vec::new(),
        keys: Vec::new(),
        delegations: Vec::new(),
        recorder_id: None,
    };
    events(&mut sim, &a, &restart);
    let manifest = Manifest {
        recorder_id: sim.recorder_id.clone().expect("envelopes"),
        created_at: sim.now(),
        first_seq: 1,
        last_seq: sim.head.seq,
        envelope_count: sim.head.seq,
        prev_hash: Hash32::ZERO,
        prev_seal_hash: Hash32::ZERO,
        segments: sim.manifest_segments.clone(),
        keys: sim.keys.iter().map(|k| k.public_key.id().clone()).collect(),
        key_id: restart.id().clone(),
    };
    let mut records = vec![Rec::new(Tag::Manifest, manifest.to_canonical_bytes())];
    records.extend(
        sim.keys
            .iter()
            .map(|k| Rec::new(Tag::Key, k.to_canonical_bytes())),
    );
    records.extend(
        sim.delegations
            .iter()
            .map(|d| Rec::new(Tag::Delegation, d.to_canonical_bytes())),
    );
    records.extend(sim.records);
    (records, restart)
}

fn events(sim: &mut Sim<'_>, a: &SecretKey, restart: &SecretKey) {
    sim.start(None, "arxi.key.loaded");
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
    // A restart with the restart key: the key event opens segment 4.
    sim.key = restart.clone();
    sim.start(Some(a), sim.story.restart_event);
    for n in 0..2 {
        sim.event("orders.shipped", "erin", &json!({"n": n}));
    }
    sim.seal();
    sim.open();
    for n in 0..2 {
        sim.event("orders.closed", "frank", &json!({"n": n}));
    }
    sim.seal();
}

/// The published test keys: `keys/{a,b,attacker,mixed}.pub`, their seeds
/// in `keys/README.json`, and the speccheck keys arxi refuses.
pub(crate) fn keys(suite: &mut super::Suite) {
    for (name, _) in KEYS {
        let public = key(name).public().to_hex();
        suite.file(
            format!("keys/{name}.pub"),
            format!("{public}\n").into_bytes(),
        );
    }
    let mixed = super::speccheck::Signer::named("mixed").public_key();
    suite.file(
        "keys/mixed.pub".into(),
        format!("{}\n", mixed.to_hex()).into_bytes(),
    );
    for (case, hex) in super::speccheck::REFUSED_KEYS {
        suite.file(
            format!("keys/refused/speccheck-{case}.pub"),
            format!("{hex}\n").into_bytes(),
        );
    }
    let mut readme = serde_json::Map::new();
    readme.insert(
        "note".into(),
        json!("TEST KEYS, published on purpose: seed = SHA-256(seed_text). Never trust them for real evidence."),
    );
    for (name, seed_text) in KEYS {
        readme.insert(
            (*name).into(),
            json!({"seed_text": seed_text, "key_id": key(name).id().as_str()}),
        );
    }
    readme.insert(
        "mixed".into(),
        json!({
            "scalar_text": super::speccheck::MIXED_SEED_TEXT,
            "construction": "a = SHA-256(scalar_text) read little-endian, mod L; A = [a]B + T with T the point of order 8 whose y is 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7 (x sign bit clear): a key of mixed order, for the ed25519-speccheck cases 2 to 5",
            "key_id": mixed.id().as_str(),
        }),
    );
    readme.insert(
        "refused".into(),
        json!("keys/refused/: the public keys of ed25519-speccheck cases 0, 1 (a point of order 8) and 10, 11 (a non-canonical encoding of the point of order 2); a verifier refuses to load them"),
    );
    suite.file(
        "keys/README.json".into(),
        super::pretty(&Value::Object(readme)),
    );
}
