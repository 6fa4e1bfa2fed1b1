//! The timestamp record (`T`, container version 5, `Docs/format.md`
//! §11.9): an RFC 3161 token a timestamp authority (TSA) issued over the
//! hash of the seal right before it in the bundle.
//!
//! The record carries the token and the name the recorder gave the TSA.
//! The name is a label for people: what a token proves comes from the
//! token alone (its imprint, its time, its signer), checked by
//! [`crate::tsp`] against the TSA certificates the verifier trusts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::record::{Fields, ObjectWriter, RecordError, invalid};
use crate::tsp::TOKEN_MAX_BYTES;

/// The record version (member `v`).
pub const TIMESTAMP_VERSION: u64 = 1;

/// Most `T` records after one seal (one per configured TSA).
pub const TIMESTAMPS_PER_SEAL_MAX: usize = 16;

/// Longest TSA name (printable ASCII, no spaces).
pub const TSA_NAME_MAX: usize = 64;

/// The `T` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRecord {
    /// The TSA's name in the recorder's configuration.
    pub tsa: String,
    /// The token (DER `ContentInfo` of the `SignedData`).
    pub token: Vec<u8>,
}

/// Checks a TSA name: 1 to [`TSA_NAME_MAX`] bytes of `[A-Za-z0-9._-]`.
pub fn check_tsa_name(name: &str) -> Result<(), &'static str> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > TSA_NAME_MAX || !name.bytes().all(allowed) {
        return Err("a TSA name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
    }
    Ok(())
}

impl TimestampRecord {
    /// Canonical bytes (the `T` payload): `{"token":…,"tsa":…,"v":1}`,
    /// the token in standard base64 with padding.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let token = STANDARD.encode(&self.token);
        let mut out = Vec::with_capacity(token.len() + self.tsa.len() + 32);
        let mut object = ObjectWriter::new(&mut out);
        object.string("token", &token);
        object.string("tsa", &self.tsa);
        object.u64("v", TIMESTAMP_VERSION);
        object.finish();
        out
    }

    /// Reads a `T` payload (strict record rules; the token is read by
    /// [`crate::tsp::Token::parse`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::read(Fields::parse(bytes)?)
    }

    /// Reads the record from a parsed JSON value (a proof's
    /// `timestamps` member), under the same rules as [`Self::parse`].
    pub fn from_value(value: serde_json::Value) -> Result<Self, RecordError> {
        Self::read(Fields::from_value(value)?)
    }

    fn read(mut fields: Fields) -> Result<Self, RecordError> {
        fields.version(TIMESTAMP_VERSION)?;
        let tsa = fields.string("tsa")?;
        check_tsa_name(&tsa).map_err(|why| invalid("tsa", why))?;
        let token = decode_token(&fields.string("token")?)?;
        fields.finish()?;
        Ok(Self { tsa, token })
    }
}

/// Decodes a `token` member: canonical standard base64 (with padding) of
/// at most [`TOKEN_MAX_BYTES`] bytes.
pub(crate) fn decode_token(text: &str) -> Result<Vec<u8>, RecordError> {
    if text.len() > TOKEN_MAX_BYTES.div_ceil(3) * 4 {
        return Err(invalid(
            "token",
            format!("longer than {TOKEN_MAX_BYTES} bytes"),
        ));
    }
    let token = STANDARD
        .decode(text)
        .map_err(|e| invalid("token", format!("not standard base64: {e}")))?;
    if STANDARD.encode(&token) != text {
        return Err(invalid("token", "not canonical base64"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical;

    #[test]
    fn round_trip_and_strictness() {
        let record = TimestampRecord {
            tsa: "tsa-1".into(),
            token: vec![0x30, 0x03, 0x02, 0x01, 0x01],
        };
        let bytes = record.to_canonical_bytes();
        assert_eq!(bytes, br#"{"token":"MAMCAQE=","tsa":"tsa-1","v":1}"#);
        assert_eq!(canonical::canonicalize(&bytes).expect("canonical"), bytes);
        assert_eq!(TimestampRecord::parse(&bytes), Ok(record));
        for bad in [
            &br#"{"token":"MAMCAQE=","tsa":"tsa-1","v":2}"#[..],
            br#"{"token":"MAMCAQE","tsa":"tsa-1","v":1}"#,
            br#"{"token":"MAMCAQF=","tsa":"tsa-1","v":1}"#,
            br#"{"token":"MAMCAQE=","tsa":"tsa 1","v":1}"#,
            br#"{"token":"MAMCAQE=","tsa":"","v":1}"#,
            br#"{"token":"MAMCAQE=","v":1}"#,
            br#"{"extra":1,"token":"MAMCAQE=","tsa":"tsa-1","v":1}"#,
        ] {
            assert!(
                TimestampRecord::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
