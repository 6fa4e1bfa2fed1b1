//! Persistent idempotency (R-IDEM), storage side.
//!
//! A record lives in `store_meta` namespace `idempotency`, keyed by the
//! canonical JSON array `[recorder_id, method, path, key]`, and holds the
//! request hash and the response to replay. The writer checks and writes it
//! inside the same transaction as the mutation it protects, so a mutation
//! and its record commit together or not at all, and two concurrent requests
//! with one key can never both perform the mutation (the writer serializes
//! them; the second finds the first's record, even within one batch).
//!
//! What a response looks like is the caller's business: the request carries a
//! `render` function the writer calls with the mutation's result.

use std::fmt;

use arxi_format::{CanonicalJson, Hash32};
use serde_json::json;

/// Longest idempotency key accepted, in bytes.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 255;

/// The scope of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    /// HTTP method (or another operation name).
    pub method: String,
    /// Route path.
    pub path: String,
    /// The client's key: 1..=255 bytes of visible ASCII.
    pub key: String,
}

impl IdempotencyKey {
    /// Checks the client key's syntax.
    pub fn check_key(key: &str) -> Result<(), String> {
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX {
            return Err(format!("must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} bytes"));
        }
        if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("must be visible ASCII without spaces".into());
        }
        Ok(())
    }

    /// The `store_meta` key: canonical `[recorder_id, method, path, key]`.
    pub fn storage_key(&self, recorder_id: &str) -> String {
        let value = json!([recorder_id, self.method, self.path, self.key]);
        CanonicalJson::from_value(&value)
            .map(|canonical| canonical.as_str().to_owned())
            .expect("an array of four strings has a canonical form, so every key is distinct")
    }
}

/// A response stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type of `body`.
    pub content_type: String,
    /// The body (JSON text).
    pub body: String,
}

/// Renders the stored response from a mutation's result.
pub type Render<T> = Box<dyn FnOnce(&T) -> StoredResponse + Send>;

/// What a caller attaches to a mutation to make it idempotent.
pub struct IdempotencyRequest<T> {
    /// The key's scope.
    pub key: IdempotencyKey,
    /// Hash of the canonical request (method, path, body).
    pub request_hash: Hash32,
    /// Builds the response to store.
    pub render: Render<T>,
}

impl<T> fmt::Debug for IdempotencyRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyRequest")
            .field("key", &self.key)
            .field("request_hash", &self.request_hash)
            .finish_non_exhaustive()
    }
}

/// A stored record, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyRecord {
    pub(crate) request_hash: Hash32,
    pub(crate) response: StoredResponse,
}

impl IdempotencyRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let value = json!({
            "request_hash": self.request_hash.to_hex(),
            "status": self.response.status,
            "content_type": self.response.content_type,
            "body": self.response.body,
        });
        CanonicalJson::from_value(&value)
            .map(CanonicalJson::into_bytes)
            .expect("strings and a status code have a canonical form")
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let value = arxi_format::json::parse(bytes).map_err(|e| e.to_string())?;
        let text = |field: &str| -> Result<String, String> {
            value[field]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("idempotency record: {field} missing"))
        };
        let status = value["status"]
            .as_u64()
            .and_then(|status| u16::try_from(status).ok())
            .ok_or("idempotency record: status missing")?;
        Ok(Self {
            request_hash: Hash32::from_hex(&text("request_hash")?).map_err(|e| e.to_string())?,
            response: StoredResponse {
                status,
                content_type: text("content_type")?,
                body: text("body")?,
            },
        })
    }
}

/// The outcome of checking a key before a mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// No live record: perform the mutation.
    Fresh,
    /// Same key, same request: replay.
    Replay(StoredResponse),
    /// Same key, another request.
    Conflict,
}

/// Compares a found record with the request (expired records count as
/// absent).
pub(crate) fn check(
    found: Option<(IdempotencyRecord, i64)>,
    request_hash: &Hash32,
    expired_before_us: i64,
) -> Check {
    match found {
        Some((record, created_at_us)) if created_at_us >= expired_before_us => {
            if record.request_hash == *request_hash {
                Check::Replay(record.response)
            } else {
                Check::Conflict
            }
        }
        _ => Check::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        assert!(IdempotencyKey::check_key("abc-123_X").is_ok());
        assert!(IdempotencyKey::check_key("").is_err());
        assert!(IdempotencyKey::check_key("has space").is_err());
        assert!(IdempotencyKey::check_key(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::check_key(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::check_key("é").is_err());
    }

    #[test]
    fn storage_key_is_unambiguous() {
        let one = IdempotencyKey {
            method: "POST".into(),
            path: "/a".into(),
            key: "b/c".into(),
        };
        let two = IdempotencyKey {
            method: "POST".into(),
            path: "/a/b".into(),
            key: "c".into(),
        };
        assert_ne!(one.storage_key("r"), two.storage_key("r"));
        assert_eq!(one.storage_key("r"), r#"["r","POST","/a","b/c"]"#);
    }

    #[test]
    fn record_round_trip_and_check() {
        let record = IdempotencyRecord {
            request_hash: Hash32::of(b"req"),
            response: StoredResponse {
                status: 201,
                content_type: "application/json".into(),
                body: "{\"seq\":1}".into(),
            },
        };
        let decoded = IdempotencyRecord::decode(&record.encode()).expect("decodes");
        assert_eq!(decoded, record);
        let hash = Hash32::of(b"req");
        assert_eq!(check(None, &hash, 0), Check::Fresh);
        assert_eq!(
            check(Some((record.clone(), 10)), &hash, 5),
            Check::Replay(record.response.clone())
        );
        assert_eq!(
            check(Some((record.clone(), 10)), &Hash32::of(b"other"), 5),
            Check::Conflict
        );
        assert_eq!(check(Some((record, 4)), &hash, 5), Check::Fresh, "expired");
    }
}
