//! Query cursors the recorder can recognise as its own.
//!
//! A cursor says where the next page starts (after a sequence number) and
//! carries an HMAC-SHA256 tag over that position under a key derived from
//! the recorder's signing key. A cursor that this recorder did not issue
//! is refused (`invalid_cursor`). The key is derived at open and lives as
//! long as the process; after a restart with another signing key, old
//! cursors are refused and the client starts the query again.
//!
//! Not a secret channel: the position is readable; it only cannot be
//! forged. A page never leaves its query's filters whatever the cursor:
//! the position only skips rows, and the filters apply to every page. The
//! tag is deliberately not bound to the filters, so a client (or a
//! stateful API tester) may narrow or widen a query between pages; the
//! rows are then those of the new filters after the position.

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use arxi_format::Signer;

use crate::QueryError;

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
    /// Derives the key from a signing key in memory (domain-separated,
    /// one way), so cursors survive a restart. A key held in a token has
    /// no seed to derive from: its cursor key is random, made at open, and
    /// cursors issued before a restart are refused after it (the query is
    /// started again).
    pub(crate) fn derive(signer: &Signer) -> Result<Self, getrandom::Error> {
        let Some(secret) = signer.secret() else {
            let mut key = [0_u8; 32];
            getrandom::fill(&mut key)?;
            return Ok(Self(key));
        };
        let mut hasher = Sha256::new();
        hasher.update(b"arxi query cursor key v1\0");
        hasher.update(secret.to_hex().as_bytes());
        Ok(Self(hasher.finalize().into()))
    }

    /// A cursor that continues a query after sequence number `after_seq`.
    pub(crate) fn issue(&self, after_seq: u64) -> String {
        let tag = self.tag(after_seq);
        format!("{PREFIX}{after_seq:x}.{}", hex(&tag[..TAG_BYTES]))
    }

    /// The position of a cursor this key issued.
    pub(crate) fn open(&self, cursor: &str) -> Result<u64, QueryError> {
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
        let expected = self.tag(after_seq);
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

    fn tag(&self, after_seq: u64) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length, so a 32-byte key is accepted");
        mac.update(b"arxi query cursor v2\0");
        mac.update(&after_seq.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
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
        let secret = arxi_format::SecretKey::from_seed(&[seed; 32]).expect("seed");
        CursorKey::derive(&Signer::from(secret)).expect("a key in memory derives")
    }

    #[test]
    fn cursors_open_only_under_their_key() {
        let cursor = key(1).issue(0x2a);
        assert_eq!(key(1).open(&cursor), Ok(0x2a));
        let refused = |text: &str| {
            assert_eq!(key(1).open(text), Err(QueryError::InvalidCursor), "{text}");
        };
        assert_eq!(key(2).open(&cursor), Err(QueryError::InvalidCursor));
        // Forged positions, old unauthenticated cursors, odd spellings.
        let (_, tag) = cursor.rsplit_once('.').expect("tag");
        refused(&format!("c2.2b.{tag}"));
        refused(&format!("c2.02a.{tag}"));
        refused(&format!("c2.2A.{tag}"));
        refused("c1.2a");
        refused("c2.2a");
        refused("c2.2a.");
        refused(&format!("c2..{tag}"));
        refused(&format!("c2.{}.{tag}", "f".repeat(17)));
        refused(&format!("{cursor}0"));
        refused(&format!("{}0", &cursor[..cursor.len() - 1]));
        refused("");
        // The largest position round-trips.
        assert_eq!(key(1).open(&key(1).issue(u64::MAX)), Ok(u64::MAX));
    }
}
