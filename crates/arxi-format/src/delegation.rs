//! Key delegation (`Docs/format.md` §3.1): a root key certifies a
//! short-lived envelope-signing key for a window of sequence numbers and
//! time.
//!
//! A delegation is a record under the generic record rule (section 5),
//! signed by the root with [`Domain::Delegation`]. The recorder writes it
//! in the chain, in the payload of the `arxi.key.delegated` key event the
//! delegated key signs ([`KeyDelegated`]), and in bundles as a `D` record
//! (section 11.9), so an auditor who trusts the root alone can trust every
//! envelope and seal the delegated key signed inside its window. What a
//! verifier concludes from one is section 11.4, rule "D"; this module only
//! builds, parses and checks the record.

use serde_json::Value;

use crate::CanonicalJson;
use crate::digest::Hash32;
use crate::envelope::HashMismatch;
use crate::keys::{Domain, KeyId, PublicKey, Sign, Signature, SignatureInvalid};
use crate::record::{Fields, ObjectWriter, RecordError, invalid};
use crate::time::Timestamp;

/// The record version written in member `v`.
pub const DELEGATION_VERSION: u64 = 1;

/// The control type of the key event that puts a delegated key in force.
pub const KEY_DELEGATED: &str = "arxi.key.delegated";

/// Largest sequence number a window may name (2^53 - 1).
const SEQ_MAX: u64 = (1 << 53) - 1;

/// The signed part of a delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationBody {
    /// The root key that certifies (and signs this record).
    pub root_key_id: KeyId,
    /// The delegated key.
    pub public_key: PublicKey,
    /// The first sequence number the delegated key may sign.
    pub first_seq: u64,
    /// The last sequence number the delegated key may sign.
    pub last_seq: u64,
    /// The earliest receive time of an envelope it may sign.
    pub not_before: Timestamp,
    /// The latest receive time of an envelope it may sign.
    pub not_after: Timestamp,
}

/// A signed delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The signed part.
    pub body: DelegationBody,
    /// SHA-256 of the canonical body.
    pub hash: Hash32,
    /// Ed25519 by the root over [`Domain::Delegation`] and `hash`.
    pub signature: Signature,
}

impl DelegationBody {
    /// The delegated key's id.
    pub fn key_id(&self) -> &KeyId {
        self.public_key.id()
    }

    /// Field rules: a non-empty window of sequence numbers (1 to 2^53-1)
    /// and of time, and a delegated key other than the root.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.first_seq == 0 || self.last_seq < self.first_seq || self.last_seq > SEQ_MAX {
            return Err(invalid(
                "last_seq",
                "the window must be non-empty, from 1 to 2^53-1",
            ));
        }
        if self.not_after < self.not_before {
            return Err(invalid("not_after", "must not be before not_before"));
        }
        if self.key_id() == &self.root_key_id {
            return Err(invalid("public_key", "the root cannot delegate to itself"));
        }
        Ok(())
    }

    /// Canonical bytes without hash and signature.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(400);
        self.write(&mut out, None);
        out
    }

    /// SHA-256 of [`Self::canonical_bytes`].
    pub fn compute_hash(&self) -> Hash32 {
        Hash32::of(&self.canonical_bytes())
    }

    /// Hashes and signs with the root, which may refuse.
    pub fn try_sign<K: Sign + ?Sized>(self, root: &K) -> Result<Delegation, K::Error> {
        assert_eq!(
            &self.root_key_id,
            root.public().id(),
            "signed by another root"
        );
        let hash = self.compute_hash();
        let signature = root.sign_hash(Domain::Delegation, &hash)?;
        Ok(Delegation {
            body: self,
            hash,
            signature,
        })
    }

    /// Whether `seq` is in the window.
    pub fn covers_seq(&self, seq: u64) -> bool {
        (self.first_seq..=self.last_seq).contains(&seq)
    }

    /// Whether `time` is in the window.
    pub fn covers_time(&self, time: Timestamp) -> bool {
        self.not_before <= time && time <= self.not_after
    }

    fn write(&self, out: &mut Vec<u8>, auth: Option<(&Hash32, &Signature)>) {
        let mut object = ObjectWriter::new(out);
        object.u64("first_seq", self.first_seq);
        if let Some((hash, _)) = auth {
            object.string("hash", &hash.to_hex());
        }
        object.string("key_id", self.key_id().as_str());
        object.u64("last_seq", self.last_seq);
        object.string("not_after", &self.not_after.to_string());
        object.string("not_before", &self.not_before.to_string());
        object.string("public_key", &self.public_key.to_hex());
        object.string("root_key_id", self.root_key_id.as_str());
        if let Some((_, signature)) = auth {
            object.string("signature", &signature.to_hex());
        }
        object.u64("v", DELEGATION_VERSION);
        object.finish();
    }
}

impl Delegation {
    /// Canonical bytes of the whole record.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(600);
        self.body
            .write(&mut out, Some((&self.hash, &self.signature)));
        out
    }

    /// Reads a delegation (strict; field rules, not hash or signature):
    /// `key_id` must be the key id of `public_key`, which must load
    /// (section 3).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_fields(Fields::parse(bytes)?)
    }

    /// As [`Self::parse`], from a parsed value.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        Self::from_fields(Fields::from_value(value)?)
    }

    fn from_fields(mut fields: Fields) -> Result<Self, RecordError> {
        fields.version(DELEGATION_VERSION)?;
        let public_hex = fields.string("public_key")?;
        let public_key =
            PublicKey::from_hex(&public_hex).map_err(|error| invalid("public_key", error))?;
        if public_key.to_hex() != public_hex {
            return Err(invalid("public_key", "must be 64 lowercase hex digits"));
        }
        let key_id = fields.key_id("key_id")?;
        if &key_id != public_key.id() {
            return Err(invalid("key_id", "is not the key id of public_key"));
        }
        let body = DelegationBody {
            root_key_id: fields.key_id("root_key_id")?,
            public_key,
            first_seq: fields.u64("first_seq")?,
            last_seq: fields.u64("last_seq")?,
            not_before: fields.timestamp("not_before")?,
            not_after: fields.timestamp("not_after")?,
        };
        let hash = fields.hash("hash")?;
        let signature = fields.signature("signature")?;
        fields.finish()?;
        body.validate()?;
        Ok(Self {
            body,
            hash,
            signature,
        })
    }

    /// Recomputes the hash and compares.
    pub fn check_hash(&self) -> Result<(), HashMismatch> {
        HashMismatch::check(self.body.compute_hash(), self.hash)
    }

    /// Checks the hash and the root's signature: `root` must be the key
    /// `root_key_id` names.
    pub fn verify(&self, root: &PublicKey) -> Result<(), SignatureInvalid> {
        if root.id() != &self.body.root_key_id || self.check_hash().is_err() {
            return Err(SignatureInvalid);
        }
        root.verify(Domain::Delegation, &self.hash, &self.signature)
    }
}

/// The payload of an `arxi.key.delegated` envelope: the key event that
/// puts a delegated key in force. Signed by the delegated key itself, like
/// every key event; the delegation inside it is what the root signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDelegated {
    /// The key in force before, absent for the first key of a chain.
    pub previous_key_id: Option<KeyId>,
    /// The delegation of the key the event puts in force.
    pub delegation: Delegation,
}

impl KeyDelegated {
    /// The canonical payload: `delegation` (the record), `key_id` and
    /// `public_key` (the delegated key, as every key event names it),
    /// `previous_key_id` when there was one.
    pub fn to_canonical(&self) -> CanonicalJson {
        let body = &self.delegation.body;
        let mut out = Vec::with_capacity(800);
        let mut object = ObjectWriter::new(&mut out);
        object.raw("delegation", &self.delegation.to_canonical_bytes());
        object.string("key_id", body.key_id().as_str());
        if let Some(previous) = &self.previous_key_id {
            object.string("previous_key_id", previous.as_str());
        }
        object.string("public_key", &body.public_key.to_hex());
        object.finish();
        CanonicalJson::from_canonical(&out).expect("the writer emits canonical JSON")
    }

    /// Reads the payload: exactly `delegation` (a delegation record),
    /// `key_id` and `public_key` equal to the delegation's, and optionally
    /// `previous_key_id` (a key id).
    pub fn from_payload(payload: &Value) -> Result<Self, RecordError> {
        let mut fields = Fields::from_value(payload.clone())?;
        let delegation = Delegation::from_value(fields.take("delegation")?)
            .map_err(|error| invalid("delegation", error))?;
        let key_id = fields.key_id("key_id")?;
        if &key_id != delegation.body.key_id() {
            return Err(invalid("key_id", "is not the delegated key"));
        }
        let public_key = fields.string("public_key")?;
        if public_key != delegation.body.public_key.to_hex() {
            return Err(invalid("public_key", "is not the delegated key"));
        }
        let previous_key_id = match fields.take_optional("previous_key_id") {
            Some(Value::String(text)) => {
                Some(KeyId::parse(&text).map_err(|error| invalid("previous_key_id", error))?)
            }
            Some(_) => return Err(invalid("previous_key_id", "must be a key id")),
            None => None,
        };
        fields.finish()?;
        Ok(Self {
            previous_key_id,
            delegation,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::SecretKey;

    fn root() -> SecretKey {
        SecretKey::from_seed(&[1; 32]).expect("seed")
    }

    fn delegated() -> SecretKey {
        SecretKey::from_seed(&[2; 32]).expect("seed")
    }

    fn time(micros: i64) -> Timestamp {
        Timestamp::from_unix_micros(micros).expect("in range")
    }

    fn body() -> DelegationBody {
        DelegationBody {
            root_key_id: root().id().clone(),
            public_key: delegated().public().clone(),
            first_seq: 10,
            last_seq: 19,
            not_before: time(1_800_000_000_000_000),
            not_after: time(1_800_000_360_000_000),
        }
    }

    #[test]
    fn a_delegation_signed_by_its_root_round_trips_and_verifies() {
        let Ok(signed) = body().try_sign(&root());
        let bytes = signed.to_canonical_bytes();
        let parsed = Delegation::parse(&bytes).expect("parses");
        assert_eq!(parsed, signed);
        assert_eq!(
            CanonicalJson::from_canonical(&bytes).map(|c| c.as_bytes().to_vec()),
            Some(bytes.clone()),
            "written canonical"
        );
        parsed
            .verify(root().public())
            .expect("verifies under the root");
        assert!(
            parsed.verify(delegated().public()).is_err(),
            "not under another key"
        );
        assert!(parsed.body.covers_seq(10) && parsed.body.covers_seq(19));
        assert!(!parsed.body.covers_seq(9) && !parsed.body.covers_seq(20));
    }

    #[test]
    fn a_changed_member_breaks_the_hash_and_a_bad_record_is_refused() {
        let Ok(signed) = body().try_sign(&root());
        let mut value: Value = serde_json::from_slice(&signed.to_canonical_bytes()).expect("json");
        value["last_seq"] = json!(1_000_000);
        let widened = Delegation::from_value(value.clone()).expect("parses");
        assert!(
            widened.verify(root().public()).is_err(),
            "the hash no longer matches"
        );
        let refused = |member: &str, new: Value| {
            let mut changed = value.clone();
            changed[member] = new;
            Delegation::from_value(changed)
                .expect_err(member)
                .to_string()
        };
        assert!(refused("first_seq", json!(0)).contains("last_seq"));
        assert!(refused("key_id", json!(root().id().as_str())).contains("key_id"));
        assert!(refused("not_after", json!("2020-01-01T00:00:00.000000Z")).contains("not_after"));
        assert!(refused("public_key", json!(root().public().to_hex())).contains("key_id"));
        assert!(refused("v", json!(2)).contains('2'));
        assert!(refused("extra", json!(1)).contains("extra"));
        let mut to_root = body();
        to_root.public_key = root().public().clone();
        assert!(
            to_root.validate().is_err(),
            "a root cannot delegate to itself"
        );
    }

    #[test]
    fn the_key_event_payload_names_the_delegated_key() {
        let Ok(delegation) = body().try_sign(&root());
        let event = KeyDelegated {
            previous_key_id: Some(root().id().clone()),
            delegation,
        };
        let payload = event.to_canonical().to_value();
        assert_eq!(KeyDelegated::from_payload(&payload), Ok(event.clone()));
        let mut first = event.clone();
        first.previous_key_id = None;
        let payload_first = first.to_canonical().to_value();
        assert!(payload_first.get("previous_key_id").is_none());
        assert_eq!(KeyDelegated::from_payload(&payload_first), Ok(first));
        let mut other = payload.clone();
        other["key_id"] = json!(root().id().as_str());
        assert!(KeyDelegated::from_payload(&other).is_err());
        let mut other = payload;
        other["public_key"] = json!(root().public().to_hex());
        assert!(KeyDelegated::from_payload(&other).is_err());
    }
}
