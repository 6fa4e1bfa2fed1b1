//! The payload of an `arxi.key.revoked` control envelope (`Docs/format.md`
//! §10, rule C5): a key the recorder no longer vouches for from a sequence
//! number on, after a compromise.
//!
//! The recorder writes it (signed by its current key, never the revoked
//! one) and the verifier reads it; what a verifier concludes from it is
//! `Docs/format.md` §11.4, rule "R". This module only builds and parses
//! the payload.

use serde_json::Value;

use crate::CanonicalJson;
use crate::keys::KeyId;
use crate::payload::check_reason;
use crate::record::{Fields, ObjectWriter, RecordError, as_u64, invalid};

/// The control type.
pub const KEY_REVOKED: &str = "arxi.key.revoked";

/// The payload of an `arxi.key.revoked` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRevocation {
    /// The revoked key.
    pub key_id: KeyId,
    /// The first sequence number the key is no longer valid for.
    pub from_seq: u64,
    /// Why (1 to 512 characters, no control characters).
    pub reason: String,
}

impl KeyRevocation {
    /// The canonical payload.
    pub fn to_canonical(&self) -> CanonicalJson {
        let mut out = Vec::with_capacity(96 + self.reason.len());
        let mut object = ObjectWriter::new(&mut out);
        object.u64("from_seq", self.from_seq);
        object.string("key_id", self.key_id.as_str());
        object.string("reason", &self.reason);
        object.finish();
        CanonicalJson::from_canonical(&out).expect("the writer emits canonical JSON")
    }

    /// Reads the payload: exactly `key_id` (a key id), `from_seq` (1 to
    /// 2^53-1) and `reason` (1 to 512 characters, no control characters).
    pub fn from_payload(payload: &Value) -> Result<Self, RecordError> {
        let mut fields = Fields::from_value(payload.clone())?;
        let key_id = fields.key_id("key_id")?;
        if key_id
            .as_str()
            .bytes()
            .any(|byte| byte.is_ascii_uppercase())
        {
            return Err(invalid("key_id", "must be lowercase"));
        }
        let from_seq = as_u64("from_seq", &fields.take("from_seq")?)?;
        if from_seq == 0 {
            return Err(invalid("from_seq", "must be at least 1"));
        }
        let reason = fields.string("reason")?;
        check_reason(&reason).map_err(|why| invalid("reason", why))?;
        fields.finish()?;
        Ok(Self {
            key_id,
            from_seq,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::KeyRevocation;
    use crate::KeyId;

    fn check(payload: serde_json::Value, fails_on: Option<&str>) {
        let parsed = KeyRevocation::from_payload(&payload);
        match fails_on {
            None => {
                let revocation = parsed.expect("a valid revocation");
                let written = revocation.to_canonical().to_value();
                assert_eq!(written, payload, "written back");
            }
            Some(member) => {
                let error = parsed.expect_err("refused").to_string();
                assert!(error.contains(member), "{payload}: {error}");
            }
        }
    }

    #[test]
    fn revocation_payloads() {
        let key = "ed25519:0123456789abcdef0123456789abcdef";
        let ok = json!({"key_id": key, "from_seq": 18, "reason": "key file copied off the host"});
        check(ok.clone(), None);
        let with = |member: &str, value: serde_json::Value| {
            let mut payload = ok.clone();
            payload[member] = value;
            payload
        };
        check(with("from_seq", json!(0)), Some("from_seq"));
        check(with("from_seq", json!(-1)), Some("from_seq"));
        check(with("from_seq", json!("18")), Some("from_seq"));
        check(with("reason", json!("")), Some("reason"));
        check(with("reason", json!("a\nb")), Some("reason"));
        check(with("reason", json!("x".repeat(513))), Some("reason"));
        check(with("reason", json!("x".repeat(512))), None);
        check(with("key_id", json!("ed25519:0123")), Some("key_id"));
        check(
            with("key_id", json!("ed25519:0123456789ABCDEF0123456789ABCDEF")),
            Some("key_id"),
        );
        check(with("extra", json!(1)), Some("extra"));
        let mut missing = ok.clone();
        missing.as_object_mut().expect("object").remove("reason");
        check(missing, Some("reason"));
        check(json!([1]), Some("object"));
        let revocation = KeyRevocation::from_payload(&ok).expect("valid");
        assert_eq!(revocation.key_id, KeyId::parse(key).expect("key id"));
        assert_eq!(revocation.from_seq, 18);
    }
}
