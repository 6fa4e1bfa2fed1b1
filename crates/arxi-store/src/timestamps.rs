//! RFC 3161 timestamp tokens of seals (`Docs/format.md` §11.9): one row
//! per seal and timestamp authority, written by the recorder's single
//! writer when a token arrives. The store keeps the token's bytes and the
//! two figures the queues and metrics need; reading the token is the
//! format crate's business.

use rusqlite::params;

use crate::read::{bytes_column, hash32, to_i64, to_u64};
use crate::{Reader, StoreError, WriteTxn};

/// A token a timestamp authority issued over a seal's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRow {
    /// The sealed segment.
    pub segment_id: u64,
    /// The authority's configured name.
    pub tsa: String,
    /// The seal hash the token is over (its message imprint).
    pub imprint: [u8; 32],
    /// The token (DER `ContentInfo`).
    pub token: Vec<u8>,
    /// The token's `genTime` (µs).
    pub gen_time_us: i64,
    /// When the recorder stored it (µs).
    pub received_at_us: i64,
}

/// A seal that waits for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnstampedSeal {
    /// The sealed segment.
    pub segment_id: u64,
    /// The seal's hash.
    pub hash: [u8; 32],
}

impl WriteTxn<'_> {
    /// Stores tokens (see [`Self::insert_timestamp`]).
    pub fn insert_timestamps(&self, rows: &[TimestampRow]) -> Result<(), StoreError> {
        rows.iter().try_for_each(|row| self.insert_timestamp(row))
    }

    /// Stores a token (a newer one from the same authority for the same
    /// seal replaces the older).
    pub fn insert_timestamp(&self, row: &TimestampRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO timestamps
                 (segment_id, tsa, imprint, token, gen_time_us, received_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                to_i64(row.segment_id),
                row.tsa,
                &row.imprint[..],
                row.token,
                row.gen_time_us,
                row.received_at_us
            ])?;
        Ok(())
    }
}

impl Reader<'_> {
    /// Every stored token of segment `segment_id`'s seal, by authority.
    pub fn timestamps(&self, segment_id: u64) -> Result<Vec<TimestampRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT segment_id, tsa, imprint, token, gen_time_us, received_at_us
             FROM timestamps WHERE segment_id = ?1 ORDER BY tsa",
        )?;
        let rows = statement.query_map(params![to_i64(segment_id)], |row| {
            Ok((
                to_u64(row.get(0)?),
                row.get::<_, String>(1)?,
                bytes_column(row, 2)?,
                bytes_column(row, 3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })?;
        rows.map(|row| {
            let (segment_id, tsa, imprint, token, gen_time_us, received_at_us) = row?;
            Ok(TimestampRow {
                segment_id,
                imprint: hash32(imprint, &format!("timestamp of seal {segment_id}"))?,
                tsa,
                token,
                gen_time_us,
                received_at_us,
            })
        })
        .collect()
    }

    /// The newest seals (highest segment first) with no token from `tsa`,
    /// at most `limit`, among the segments sealed at or after
    /// `sealed_since_us`.
    pub fn unstamped_seals(
        &self,
        tsa: &str,
        sealed_since_us: i64,
        limit: u32,
    ) -> Result<Vec<UnstampedSeal>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT s.segment_id, s.hash FROM seals s
             JOIN segments g ON g.segment_id = s.segment_id
             WHERE g.sealed_at_us >= ?2
               AND NOT EXISTS (SELECT 1 FROM timestamps t
                               WHERE t.segment_id = s.segment_id AND t.tsa = ?1)
             ORDER BY s.segment_id DESC LIMIT ?3",
        )?;
        let rows = statement.query_map(params![tsa, sealed_since_us, limit], |row| {
            Ok((to_u64(row.get(0)?), bytes_column(row, 1)?))
        })?;
        rows.map(|row| {
            let (segment_id, hash) = row?;
            Ok(UnstampedSeal {
                segment_id,
                hash: hash32(hash, &format!("seal {segment_id}"))?,
            })
        })
        .collect()
    }

    /// How many seals sealed at or after `sealed_since_us` have no token
    /// from `tsa`.
    pub fn unstamped_seal_count(&self, tsa: &str, sealed_since_us: i64) -> Result<u64, StoreError> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM seals s
             JOIN segments g ON g.segment_id = s.segment_id
             WHERE g.sealed_at_us >= ?2
               AND NOT EXISTS (SELECT 1 FROM timestamps t
                               WHERE t.segment_id = s.segment_id AND t.tsa = ?1)",
            params![tsa, sealed_since_us],
            |row| row.get(0),
        )?;
        Ok(to_u64(count))
    }
}
