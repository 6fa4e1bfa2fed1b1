//! The twelve ed25519-speccheck cases ("Taming the many EdDSAs", Chalkias,
//! Garillot, Nikolaenko 2020), each turned into a bundle signature where
//! possible. The cases' own signatures are over their own messages, so each
//! case is rebuilt over an arxi message with the same construction: a
//! one-segment bundle (opened, key loaded, started, one event, sealed; seal;
//! trailer) whose every other signature satisfies even the cofactorless
//! equation, and whose event envelope carries the case's signature.
//!
//! Cases 2 to 5 need a key of mixed order (`A = [a]B + T`, `T` of order
//! 8), which only its holder can use; cases 6 to 9 use published key A.
//! Cases 0, 1, 10 and 11 have a small-order or non-canonical key: the key
//! itself is refused at load, so no bundle can be verified under it.

use arxi_format::bundle::{Encoder, KeyRecord, Manifest, ManifestSegment, Tag, TrailerBody};
use arxi_format::ed25519::{self, GROUP_ORDER};
use arxi_format::envelope::{Envelope, EnvelopeBody, Kind};
use arxi_format::merkle;
use arxi_format::seal::{Seal, SealBody, envelope_leaf};
use arxi_format::{CanonicalJson, Domain, Hash32, PublicKey, Signature, Timestamp};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use serde_json::json;
use sha2::{Digest as _, Sha512};

use super::history::KEYS;

/// The seed text of the mixed-order key's scalar: `a = SHA-256(text) mod L`
/// and `A = [a]B + T`, `T` the point of order 8 with y =
/// 0x7a03ac92...17c7 (x sign bit clear).
pub(crate) const MIXED_SEED_TEXT: &str = "arxi conformance mixed-order key";

/// The speccheck keys arxi refuses at load: cases 0 and 1 (a point of
/// order 8) and cases 10 and 11 (a non-canonical encoding of the point of
/// order 2).
pub(crate) const REFUSED_KEYS: &[(u8, &str)] = &[
    (
        0,
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ),
    (
        1,
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ),
    (
        10,
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
    (
        11,
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
];

/// How the event envelope's signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Case 2: `R` of small order, the cofactored equation holds.
    SmallOrderR,
    /// Case 3: `R` of mixed order, the cofactorless equation holds.
    MixedRCofactorless,
    /// Case 4: `R` of mixed order, only the cofactored equation holds.
    MixedROnlyCofactored,
    /// Case 5: `R` of prime order, only the cofactored equation holds.
    PrimeROnlyCofactored,
    /// Case 6: `S + L`.
    SPlusOrder,
    /// Case 7: `S + 15 L` (the top bits set).
    SMuchLarger,
    /// Case 8: `R` a non-canonical encoding of the point of order 2, `k`
    /// over those bytes.
    NonCanonicalR,
    /// Case 9: the same `R`, `k` over its canonical re-encoding.
    NonCanonicalRReencoded,
}

/// The cases that become bundles: (case number, construction, key name,
/// valid under arxi's rule).
pub(crate) const CASES: &[(u8, How, &str, bool)] = &[
    (2, How::SmallOrderR, "mixed", false),
    (3, How::MixedRCofactorless, "mixed", true),
    (4, How::MixedROnlyCofactored, "mixed", true),
    (5, How::PrimeROnlyCofactored, "mixed", true),
    (6, How::SPlusOrder, "a", false),
    (7, How::SMuchLarger, "a", false),
    (8, How::NonCanonicalR, "a", false),
    (9, How::NonCanonicalRReencoded, "a", false),
];

/// A key whose secret scalar is known, with its torsion part.
pub(crate) struct Signer {
    a: Scalar,
    torsion: EdwardsPoint,
    public: [u8; 32],
    counter: std::cell::Cell<u64>,
}

fn order_eight() -> EdwardsPoint {
    CompressedEdwardsY(ed25519::SMALL_ORDER_Y[4])
        .decompress()
        .expect("point of order 8")
}

fn order_two_encoding() -> [u8; 32] {
    let mut bytes = ed25519::SMALL_ORDER_Y[1];
    bytes[31] |= 0x80;
    bytes
}

impl Signer {
    pub(crate) fn named(name: &str) -> Self {
        if name == "mixed" {
            let a = Scalar::from_bytes_mod_order(Hash32::of(MIXED_SEED_TEXT.as_bytes()).0);
            let torsion = order_eight();
            let point = ed25519::BASEPOINT * a + torsion;
            return Self {
                a,
                torsion,
                public: point.compress().to_bytes(),
                counter: 0.into(),
            };
        }
        let (_, seed_text) = KEYS
            .iter()
            .find(|(known, _)| *known == name)
            .expect("test key");
        let digest = Sha512::digest(Hash32::of(seed_text.as_bytes()).0);
        let mut bytes = [0_u8; 32];
        bytes.copy_from_slice(&digest[..32]);
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(bytes);
        let public = (ed25519::BASEPOINT * a).compress().to_bytes();
        Self {
            a,
            torsion: EdwardsPoint::identity(),
            public,
            counter: 0.into(),
        }
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(&self.public).expect("the key loads")
    }

    fn nonce(&self) -> Scalar {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let digest: [u8; 64] = Sha512::new()
            .chain_update(self.a.as_bytes())
            .chain_update(n.to_le_bytes())
            .finalize()
            .into();
        Scalar::from_bytes_mod_order_wide(&digest)
    }

    fn challenge(&self, r: &[u8; 32], domain: Domain, hash: &Hash32) -> Scalar {
        ed25519::challenge(r, &self.public, &domain.message_parts(hash))
    }

    /// A signature with `R = [r]B + [j]T` whose challenge satisfies `fits`.
    fn with_torsion(
        &self,
        domain: Domain,
        hash: &Hash32,
        fits: impl Fn(u8, &Scalar) -> bool,
    ) -> Signature {
        loop {
            let r = self.nonce();
            for j in 0..8_u8 {
                let big_r = ed25519::BASEPOINT * r + order_eight() * Scalar::from(j);
                let r_bytes = big_r.compress().to_bytes();
                let k = self.challenge(&r_bytes, domain, hash);
                if fits(j, &k) {
                    return signature(&r_bytes, &(r + k * self.a));
                }
            }
        }
    }

    /// Satisfies the cofactorless equation (so every rule accepts it).
    pub(crate) fn sign(&self, domain: Domain, hash: &Hash32) -> Signature {
        self.with_torsion(domain, hash, |j, k| self.cofactorless_holds(j, k))
    }

    /// `T' + [k]T = 0` where `T' = [j]T8`: the torsion parts cancel.
    fn cofactorless_holds(&self, j: u8, k: &Scalar) -> bool {
        (order_eight() * Scalar::from(j) + self.torsion * k) == EdwardsPoint::identity()
    }

    pub(crate) fn sign_case(&self, how: How, domain: Domain, hash: &Hash32) -> Signature {
        match how {
            How::MixedRCofactorless => {
                self.with_torsion(domain, hash, |j, k| j != 0 && self.cofactorless_holds(j, k))
            }
            How::MixedROnlyCofactored => self.with_torsion(domain, hash, |j, k| {
                j != 0 && !self.cofactorless_holds(j, k)
            }),
            How::PrimeROnlyCofactored => self.with_torsion(domain, hash, |j, k| {
                j == 0 && !self.cofactorless_holds(j, k)
            }),
            How::SmallOrderR => {
                let r_bytes = order_eight().compress().to_bytes();
                let k = self.challenge(&r_bytes, domain, hash);
                signature(&r_bytes, &(k * self.a))
            }
            How::SPlusOrder | How::SMuchLarger => {
                let mut good = self.sign(domain, hash);
                let times = if how == How::SPlusOrder { 1 } else { 15 };
                for _ in 0..times {
                    add_order(&mut good);
                }
                good
            }
            How::NonCanonicalR | How::NonCanonicalRReencoded => {
                let r_bytes = order_two_encoding();
                let hashed = if how == How::NonCanonicalR {
                    r_bytes
                } else {
                    ed25519::SMALL_ORDER_Y[1]
                };
                let k = self.challenge(&hashed, domain, hash);
                signature(&r_bytes, &(k * self.a))
            }
        }
    }
}

fn signature(r: &[u8; 32], s: &Scalar) -> Signature {
    let mut bytes = [0_u8; 64];
    bytes[..32].copy_from_slice(r);
    bytes[32..].copy_from_slice(s.as_bytes());
    Signature(bytes)
}

/// `S += L` on the signature's bytes (it must not overflow 256 bits).
fn add_order(signature: &mut Signature) {
    let mut carry = 0_u16;
    for (byte, order) in signature.0[32..].iter_mut().zip(GROUP_ORDER.iter()) {
        let sum = u16::from(*byte) + u16::from(*order) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits");
}

fn time(step: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_772_323_200_000_000 + step * 1_000_000).expect("time")
}

/// The one-segment bundle of a case, signed by `signer`, the event
/// envelope's signature made as `how` says.
pub(crate) fn bundle(case: u8, how: How, signer: &Signer) -> Vec<u8> {
    let key = signer.public_key();
    let recorder_id = format!("speccheck-{case}");
    let key_id = key.id().to_string();
    let contents = [
        (
            "arxi.segment.opened",
            Kind::Control,
            json!({"prev_seal_hash": Hash32::ZERO.to_hex(), "reason": "append", "segment_id": 1}),
        ),
        (
            "arxi.key.loaded",
            Kind::Control,
            json!({"key_id": key_id, "public_key": key.to_hex()}),
        ),
        (
            "arxi.recorder.started",
            Kind::Control,
            json!({"key_id": key_id, "previous_shutdown": "none", "version": "speccheck"}),
        ),
        ("speccheck.case", Kind::Data, json!({"case": case})),
        (
            "arxi.segment.sealed",
            Kind::Control,
            json!({"reason": "api", "segment_id": 1}),
        ),
    ];
    let mut envelopes: Vec<Envelope> = Vec::new();
    for (index, (event_type, kind, payload)) in contents.into_iter().enumerate() {
        let body = EnvelopeBody {
            recorder_id: recorder_id.clone(),
            segment_id: 1,
            seq: index as u64 + 1,
            received_at: time(index as i64 + 1),
            kind,
            event_type: event_type.into(),
            actor: None,
            subject: None,
            payload: arxi_format::envelope::Payload::Inline(
                CanonicalJson::from_value(&payload).expect("canonical"),
            ),
            attachments: Vec::new(),
            prev_hash: envelopes.last().map_or(Hash32::ZERO, |e| e.hash),
            key_id: key.id().clone(),
        };
        let hash = body.compute_hash();
        let signature = if event_type == "speccheck.case" {
            signer.sign_case(how, Domain::Envelope, &hash)
        } else {
            signer.sign(Domain::Envelope, &hash)
        };
        envelopes.push(Envelope {
            body,
            hash,
            signature,
        });
    }
    let leaves: Vec<Hash32> = envelopes.iter().map(|e| envelope_leaf(&e.hash)).collect();
    let last = envelopes.last().expect("envelopes");
    let seal_body = SealBody {
        recorder_id: recorder_id.clone(),
        segment_id: 1,
        first_seq: 1,
        last_seq: 5,
        count: 5,
        merkle_root: merkle::root(&leaves),
        last_envelope_hash: last.hash,
        prev_seal_hash: Hash32::ZERO,
        sealed_at: time(6),
        key_id: key.id().clone(),
    };
    let seal_hash = seal_body.compute_hash();
    let seal = Seal {
        signature: signer.sign(Domain::Seal, &seal_hash),
        body: seal_body,
        hash: seal_hash,
    };
    let manifest = Manifest {
        recorder_id,
        created_at: time(7),
        first_seq: 1,
        last_seq: 5,
        envelope_count: 5,
        prev_hash: Hash32::ZERO,
        prev_seal_hash: Hash32::ZERO,
        segments: vec![ManifestSegment {
            segment_id: 1,
            first_seq: 1,
            last_seq: 5,
            count: 5,
            merkle_root: seal.body.merkle_root,
            seal_hash: seal.hash,
        }],
        keys: vec![key.id().clone()],
        key_id: key.id().clone(),
    };
    let mut records = vec![
        (Tag::Manifest, manifest.to_canonical_bytes()),
        (
            Tag::Key,
            KeyRecord {
                public_key: key.clone(),
                first_seq: 1,
            }
            .to_canonical_bytes(),
        ),
    ];
    records.extend(
        envelopes
            .iter()
            .map(|e| (Tag::Envelope, e.to_canonical_bytes())),
    );
    records.push((Tag::Seal, seal.to_canonical_bytes()));
    frame(&records, &manifest, signer)
}

/// Frames records and a trailer signed by `signer` (not a `SecretKey`, so
/// the encoder's `finish` cannot sign it).
fn frame(records: &[(Tag, Vec<u8>)], manifest: &Manifest, signer: &Signer) -> Vec<u8> {
    let (mut encoder, preamble) = Encoder::start();
    let mut out = preamble.to_vec();
    for (tag, payload) in records {
        encoder.encode(*tag, payload, &mut out);
    }
    let body = TrailerBody {
        manifest_hash: manifest.hash(),
        content_sha256: Hash32::of(&out),
        records: encoder.records(),
        key_id: signer.public_key().id().clone(),
    };
    let hash = body.compute_hash();
    let trailer = arxi_format::bundle::Trailer {
        signature: signer.sign(Domain::Bundle, &hash),
        body,
        hash,
    };
    let payload = trailer.to_canonical_bytes();
    out.extend_from_slice(&arxi_format::bundle::record_header(
        Tag::Trailer,
        payload.len(),
    ));
    out.extend_from_slice(&payload);
    out.push(b'\n');
    out
}
