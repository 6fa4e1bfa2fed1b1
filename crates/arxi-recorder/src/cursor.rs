//! Query cursors the recorder can recognise as its own.
//!
//! A cursor says where the next page starts (after a sequence number) and
//! carries an HMAC-SHA256 tag over that position and the query's filters,
//! under a key derived from the recorder's signing key. A cursor that was
//! not issued by this recorder, or is presented with other filters than
//! it was issued for, is refused (`invalid_cursor`), so a cursor can only
//! continue the query it came from. The key is derived at open and lives
//! as long as the process; after a restart with another signing key, old
//! cursors are refused and the client starts the query again.
//!
//! Not a secret channel: the position is readable. It only cannot be
//! forged. (A page can never leave its filters anyway: the position only
//! skips rows, and the filters are applied to every page.)

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use arxi_format::SecretKey;

use crate::{EnvelopeQuery, QueryError};

/// The version prefix of today's cursors.
const PREFIX: &str = "c2.";
/// Bytes of the tag in a cursor (128 bits).
const TAG_BYTES: usize = 16;
/// Hex digits of the position at most (a `u64`).
const POSITION_DIGITS_MAX: usize = 16;

/// The key that tags cursors.
#[derive(Clone)]
pub(crate) struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

impl CursorKey {
    /// Derives the key from the signing key (domain-separated, one way).
    pub(crate) fn derive(signer: &SecretKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"arxi query cursor key v1\0");
        hasher.update(signer.to_hex().as_bytes());
        Self(hasher.finalize().into())
    }

    /// A cursor that continues `query` after sequence number `after_seq`.
    pub(crate) fn issue(&self, after_seq: u64, query: &EnvelopeQuery) -> String {
        let tag = self.tag(after_seq, query);
        format!("{PREFIX}{after_seq:x}.{}", hex(&tag[..TAG_BYTES]))
    }

    /// The position of a cursor this key issued for `query`.
    pub(crate) fn open(&self, cursor: &str, query: &EnvelopeQuery) -> Result<u64, QueryError> {
        let (position, tag) = cursor
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(QueryError::InvalidCursor)?;
        let canonical_hex =
            |text: &str| text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if position.is_empty()
            || position.len() > POSITION_DIGITS_MAX
            || !canonical_hex(position)
            || tag.len() != 2 * TAG_BYTES
            || !canonical_hex(tag)
        {
            return Err(QueryError::InvalidCursor);
        }
        let after_seq = u64::from_str_radix(position, 16).map_err(|_| QueryError::InvalidCursor)?;
        let expected = self.tag(after_seq, query);
        // A cursor is only ever issued in one spelling (no leading zeros),
        // and the tag is compared in constant time.
        let spelled = format!("{after_seq:x}") == position;
        let tag_matches = constant_time_eq(hex(&expected[..TAG_BYTES]).as_bytes(), tag.as_bytes());
        if spelled && tag_matches {
            Ok(after_seq)
        } else {
            Err(QueryError::InvalidCursor)
        }
    }

    fn tag(&self, after_seq: u64, query: &EnvelopeQuery) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length, so a 32-byte key is accepted");
        mac.update(b"arxi query cursor v2\0");
        mac.update(&after_seq.to_be_bytes());
        mac.update(&filter_digest(query));
        mac.finalize().into_bytes().into()
    }
}

/// SHA-256 over an unambiguous encoding of the query's filters (the page
/// size and the cursor itself excluded: they may change between pages).
fn filter_digest(query: &EnvelopeQuery) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut number = |tag: u8, value: Option<u64>| {
        hasher.update([tag, u8::from(value.is_some())]);
        hasher.update(value.unwrap_or(0).to_be_bytes());
    };
    number(1, query.segment_id);
    number(2, query.seq_from);
    number(3, query.seq_to);
    number(
        4,
        query.received_from.map(|t| t.unix_micros().cast_unsigned()),
    );
    number(
        5,
        query
            .received_before
            .map(|t| t.unix_micros().cast_unsigned()),
    );
    number(
        6,
        query
            .kind
            .map(|kind| u64::from(kind == arxi_format::Kind::Control)),
    );
    for (tag, text) in [(7_u8, &query.event_type), (8, &query.actor)] {
        let bytes = text.as_deref().map_or(&[][..], str::as_bytes);
        hasher.update([tag, u8::from(text.is_some())]);
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    hasher.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0_u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> CursorKey {
        CursorKey::derive(&SecretKey::from_seed(&[seed; 32]).expect("seed"))
    }

    #[test]
    fn cursors_open_only_under_their_key_and_filters() {
        let query = EnvelopeQuery {
            event_type: Some("orders.placed".into()),
            ..EnvelopeQuery::default()
        };
        let cursor = key(1).issue(0x2a, &query);
        assert_eq!(key(1).open(&cursor, &query), Ok(0x2a));
        // Another page size is the same query.
        let larger = EnvelopeQuery {
            limit: Some(500),
            ..query.clone()
        };
        assert_eq!(key(1).open(&cursor, &larger), Ok(0x2a));

        let other_filter = EnvelopeQuery {
            event_type: Some("orders.paid".into()),
            ..EnvelopeQuery::default()
        };
        let refused = |text: &str, query: &EnvelopeQuery| {
            assert_eq!(
                key(1).open(text, query),
                Err(QueryError::InvalidCursor),
                "{text}"
            );
        };
        refused(&cursor, &other_filter);
        refused(&cursor, &EnvelopeQuery::default());
        assert_eq!(key(2).open(&cursor, &query), Err(QueryError::InvalidCursor));
        // Forged positions, old unauthenticated cursors, odd spellings.
        let (_, tag) = cursor.rsplit_once('.').expect("tag");
        refused(&format!("c2.2b.{tag}"), &query);
        refused(&format!("c2.02a.{tag}"), &query);
        refused(&format!("c2.2A.{tag}"), &query);
        refused("c1.2a", &query);
        refused("c2.2a", &query);
        refused("c2.2a.", &query);
        refused(&format!("c2..{tag}"), &query);
        refused(&format!("c2.{}.{tag}", "f".repeat(17)), &query);
        refused(&format!("{cursor}0"), &query);
        refused("", &query);
    }

    #[test]
    fn every_filter_is_bound() {
        let base = EnvelopeQuery::default();
        let cursor = key(3).issue(7, &base);
        let variants = [
            EnvelopeQuery {
                segment_id: Some(1),
                ..base.clone()
            },
            EnvelopeQuery {
                seq_from: Some(1),
                ..base.clone()
            },
            EnvelopeQuery {
                seq_to: Some(1),
                ..base.clone()
            },
            EnvelopeQuery {
                received_from: Some(arxi_format::Timestamp::EPOCH),
                ..base.clone()
            },
            EnvelopeQuery {
                received_before: Some(arxi_format::Timestamp::EPOCH),
                ..base.clone()
            },
            EnvelopeQuery {
                kind: Some(arxi_format::Kind::Data),
                ..base.clone()
            },
            EnvelopeQuery {
                event_type: Some(String::new()),
                ..base.clone()
            },
            EnvelopeQuery {
                actor: Some(String::new()),
                ..base.clone()
            },
        ];
        for variant in &variants {
            assert_eq!(
                key(3).open(&cursor, variant),
                Err(QueryError::InvalidCursor),
                "{variant:?}"
            );
        }
    }
}
