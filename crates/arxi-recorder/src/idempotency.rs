//! Persistent idempotency (R-IDEM), storage side.
//!
//! A whole record lives in `store_meta` namespace `idempotency`, keyed by the
//! canonical JSON array `[recorder_id, method, path, key]`, and holds the
//! request hash and the response to replay. The writer checks and writes it
//! inside the same transaction as the mutation it protects, so a mutation
//! and its record commit together or not at all, and two concurrent requests
//! with one key can never both perform the mutation (the writer serializes
//! them; the second finds the first's record, even within one batch).
//!
//! What a response looks like is the caller's business: the request carries a
//! `render` function the writer calls with the mutation's result.
//!
//! Appends (one envelope or a batch) keep a compact record instead
//! (`arxi_store::IdempotencyRow`, schema version 6): the hashes, the
//! envelopes recorded and the committed labels; a replay rebuilds the
//! result from the envelopes ([`receipt_from_store`]) and renders it with
//! the retry's own `render`, which gives the same answer. A record that is
//! planned but not durable yet is held whole in memory by the sequencer.

use std::fmt;

use arxi_format::envelope::Envelope;
use arxi_format::payload::Salt;
use arxi_format::{CanonicalJson, Hash32};
use arxi_store::{IDEMPOTENCY_HASH_BYTES, IdempotencyRow, Reader, StoreError};
use serde_json::json;

use crate::{PayloadOpening, Receipt};

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

/// What the writer found for a key.
pub(crate) enum Lookup<T> {
    /// No live record: perform the mutation.
    Fresh,
    /// A whole answer stored: replay it.
    Stored(StoredResponse),
    /// A compact record: the result rebuilt, to render and replay.
    Rebuilt(T),
    /// Same key, another request.
    Conflict,
}

impl<T> Lookup<T> {
    /// Judges a whole record found (or none).
    pub(crate) fn judge(
        found: Option<(IdempotencyRecord, i64)>,
        request_hash: &Hash32,
        expired_before_us: i64,
    ) -> Self {
        match check(found, request_hash, expired_before_us) {
            Check::Replay(response) => Self::Stored(response),
            Check::Conflict => Self::Conflict,
            Check::Fresh => Self::Fresh,
        }
    }
}

/// How an append's record is kept compact (`arxi_store::IdempotencyRow`)
/// and its answer rebuilt from the envelopes it recorded.
pub(crate) struct Compact<T> {
    /// The envelopes a result recorded: first sequence number and count.
    pub(crate) span: fn(&T) -> (u64, u64),
    /// The result again, from its envelopes.
    pub(crate) rebuild: fn(&Reader<'_>, &IdempotencyRow) -> Result<T, StoreError>,
}

impl Compact<Receipt> {
    /// One envelope.
    pub(crate) const RECEIPT: Self = Self {
        span: |receipt| (receipt.seq, 1),
        rebuild: |reader, row| receipt_from_store(reader, row.first_seq, row.labels),
    };
}

impl Compact<Vec<Receipt>> {
    /// A batch: consecutive envelopes.
    pub(crate) const RECEIPTS: Self = Self {
        span: |receipts| {
            (
                receipts.first().map_or(0, |receipt| receipt.seq),
                receipts.len() as u64,
            )
        },
        rebuild: |reader, row| {
            (row.first_seq..row.first_seq + row.count)
                .map(|seq| receipt_from_store(reader, seq, row.labels))
                .collect()
        },
    };
}

/// The compact record's scope: the first 16 bytes of SHA-256 over the
/// storage key (`[recorder_id, method, path, key]`).
pub(crate) fn scope(storage_key: &str) -> [u8; IDEMPOTENCY_HASH_BYTES] {
    prefix(&Hash32::of(storage_key.as_bytes()))
}

/// The first 16 bytes of a hash.
pub(crate) fn prefix(hash: &Hash32) -> [u8; IDEMPOTENCY_HASH_BYTES] {
    let mut out = [0_u8; IDEMPOTENCY_HASH_BYTES];
    out.copy_from_slice(&hash.0[..IDEMPOTENCY_HASH_BYTES]);
    out
}

/// The bits of committed labels (`actor` 1, `subject` 2).
pub(crate) fn label_bits(labels: &[&str]) -> u8 {
    labels.iter().fold(0, |bits, label| match *label {
        "actor" => bits | 1,
        "subject" => bits | 2,
        _ => bits,
    })
}

/// The committed labels of [`label_bits`], as the policy names them.
fn labels_of(bits: u8) -> &'static [&'static str] {
    crate::PayloadPolicy {
        version: 2,
        commit_actor: bits & 1 != 0,
        commit_subject: bits & 2 != 0,
    }
    .committed_labels()
}

/// The receipt of stored envelope `seq`, as the append answered it: the
/// signature from the envelope, a version 2 envelope's salt from its
/// payload row (gone once erased: the rebuilt receipt then has no opening).
pub(crate) fn receipt_from_store(
    reader: &Reader<'_>,
    seq: u64,
    labels: u8,
) -> Result<Receipt, StoreError> {
    let row = reader.envelope(seq)?.ok_or_else(|| {
        StoreError::BadRow(format!(
            "envelope {seq}, which the idempotency record names, is no longer stored here \
             (pruned after archiving)"
        ))
    })?;
    let envelope = Envelope::parse(&row.body)
        .map_err(|error| StoreError::BadRow(format!("envelope {seq}: {error}")))?;
    let body = envelope.body;
    let payload_commitment = body.payload.commitment().copied();
    let payload_opening = match payload_commitment {
        None => None,
        Some(_) => reader
            .payload(seq)?
            .and_then(|payload| payload.content)
            .map(|(salt, _)| PayloadOpening {
                salt: Salt(salt),
                committed_labels: labels_of(labels),
            }),
    };
    Ok(Receipt {
        seq,
        segment_id: body.segment_id,
        hash: envelope.hash,
        prev_hash: body.prev_hash,
        received_at: body.received_at,
        key_id: body.key_id,
        payload_commitment,
        payload_opening,
        signature: Some(envelope.signature),
    })
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
