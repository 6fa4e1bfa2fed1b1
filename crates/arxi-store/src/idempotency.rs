//! Compact idempotency records (schema version 6): for a key that protects
//! appends, what cannot be derived from the envelopes it recorded. The
//! answer to replay is rebuilt from those envelopes by the recorder, so a
//! record holds the key's scope and the request's hash (each the first 16
//! bytes of a SHA-256), the envelopes (first sequence number and count),
//! which labels a version 2 envelope committed, and its time: about 85
//! bytes on disk with its index, where the stored answer took about 700.
//!
//! Rows are numbered in the order they are written, which is the order of
//! their times, so expiry deletes a prefix of the table by its primary key
//! and needs no index on the time; the number of rows is at most the span
//! of the numbers (a record that replaced an expired one of its scope
//! leaves a gap, so the bound on entries may evict a little early). Records of other mutations (bundle builds, erasures, seals)
//! keep their whole answer in `store_meta`.

use rusqlite::params;

use crate::read::{to_i64, to_u64};
use crate::write::optional;
use crate::{Reader, StoreError, WriteTxn};

/// Bytes kept of the scope and request hashes.
pub const IDEMPOTENCY_HASH_BYTES: usize = 16;

/// A compact idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    /// SHA-256 of the key's scope (recorder, method, path, key), first 16
    /// bytes.
    pub scope: [u8; IDEMPOTENCY_HASH_BYTES],
    /// The request hash, first 16 bytes.
    pub request_hash: [u8; IDEMPOTENCY_HASH_BYTES],
    /// The first envelope the request recorded.
    pub first_seq: u64,
    /// How many it recorded (consecutive).
    pub count: u64,
    /// Which labels its version 2 envelopes committed (the recorder's
    /// bits; 0 for version 1).
    pub labels: u8,
    /// When it was written (µs).
    pub created_at_us: i64,
}

impl WriteTxn<'_> {
    /// Writes a compact idempotency record, replacing an expired one of
    /// the same scope (the caller found no live one).
    pub fn insert_idempotency(&self, row: &IdempotencyRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO idempotency
                 (scope, request_hash, first_seq, count, labels, created_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &row.scope[..],
                &row.request_hash[..],
                to_i64(row.first_seq),
                to_i64(row.count),
                row.labels,
                row.created_at_us
            ])?;
        Ok(())
    }

    /// Deletes, oldest first and at most `delete_max` rows, the records
    /// written before `created_before_us`, then as many more as keep at
    /// most `entries_max`. Returns the rows deleted.
    pub fn evict_idempotency(
        &self,
        created_before_us: i64,
        entries_max: u64,
        delete_max: u64,
    ) -> Result<u64, StoreError> {
        let mut oldest = self
            .tx
            .prepare_cached("SELECT id, created_at_us FROM idempotency ORDER BY id LIMIT ?1")?;
        let mut expired_through: Option<i64> = None;
        let mut rows = oldest.query(params![to_i64(delete_max)])?;
        while let Some(row) = rows.next()? {
            let (id, created_at_us): (i64, i64) = (row.get(0)?, row.get(1)?);
            if created_at_us >= created_before_us {
                break;
            }
            expired_through = Some(id);
        }
        drop(rows);
        let mut deleted = 0_u64;
        if let Some(through) = expired_through {
            deleted += self.delete_through(through)?;
        }
        let (first, last): (Option<i64>, Option<i64>) =
            self.tx
                .query_row("SELECT min(id), max(id) FROM idempotency", [], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(deleted);
        };
        let count = to_u64(last - first + 1);
        let excess = count
            .saturating_sub(entries_max)
            .min(delete_max.saturating_sub(deleted));
        if excess > 0 {
            deleted += self.delete_through(first + to_i64(excess) - 1)?;
        }
        Ok(deleted)
    }

    fn delete_through(&self, id: i64) -> Result<u64, StoreError> {
        let deleted = self
            .tx
            .prepare_cached("DELETE FROM idempotency WHERE id <= ?1")?
            .execute(params![id])?;
        Ok(deleted as u64)
    }
}

impl Reader<'_> {
    /// The compact record of a scope, if any.
    pub fn idempotency(
        &self,
        scope: &[u8; IDEMPOTENCY_HASH_BYTES],
    ) -> Result<Option<IdempotencyRow>, StoreError> {
        optional(
            self.conn
                .prepare_cached(
                    "SELECT request_hash, first_seq, count, labels, created_at_us
                     FROM idempotency WHERE scope = ?1",
                )?
                .query_row(params![&scope[..]], |row| {
                    let request_hash: Vec<u8> = row.get(0)?;
                    Ok((
                        request_hash,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, u8>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                }),
        )?
        .map(|(request_hash, first_seq, count, labels, created_at_us)| {
            Ok(IdempotencyRow {
                scope: *scope,
                request_hash: request_hash.try_into().map_err(|_| {
                    StoreError::BadRow(
                        "an idempotency record's request hash is not 16 bytes".into(),
                    )
                })?,
                first_seq: to_u64(first_seq),
                count: to_u64(count),
                labels,
                created_at_us,
            })
        })
        .transpose()
    }

    /// Compact idempotency records held (tests and benchmarks).
    pub fn idempotency_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM idempotency", [], |row| row.get(0))?;
        Ok(to_u64(count))
    }
}
