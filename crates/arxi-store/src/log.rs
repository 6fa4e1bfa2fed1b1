//! The log tree's stored state: the inner nodes at tile levels, the signed
//! checkpoints and the witnesses' cosignatures. Leaf hashes are not stored
//! here: they are derived from the envelope hashes.
//!
//! Everything is written by the single writer inside the plan's
//! transaction, so the nodes always match the envelopes beside them.

use rusqlite::params;

use crate::read::{bytes_column, hash32, to_i64, to_u64};
use crate::write::optional;
use crate::{Reader, StoreError, WriteTxn};

/// A stored inner node of the log tree: the root of the perfect subtree of
/// 2^`level` leaves at `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogNodeRow {
    /// The level (a positive multiple of the tile height).
    pub level: u32,
    /// The node's index at its level.
    pub index: u64,
    /// The node hash.
    pub hash: [u8; 32],
}

/// A checkpoint the recorder signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheckpointRow {
    /// The tree size (the primary key).
    pub size: u64,
    /// The tree root at that size.
    pub root: [u8; 32],
    /// The signed note as the recorder signed it (no cosignatures).
    pub note: String,
    /// When it was signed (µs).
    pub created_at_us: i64,
}

/// A witness's cosignature of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureRow {
    /// The checkpoint's tree size.
    pub size: u64,
    /// The witness key's name.
    pub witness: String,
    /// The witness key's ID.
    pub key_id: u32,
    /// The time the cosignature states (POSIX seconds).
    pub time: u64,
    /// The signature line, newline included.
    pub line: String,
    /// When the recorder received it (µs).
    pub received_at_us: i64,
}

impl WriteTxn<'_> {
    /// Inserts stored nodes of the log tree.
    pub fn insert_log_nodes(&self, nodes: &[LogNodeRow]) -> Result<(), StoreError> {
        let mut statement = self
            .tx
            .prepare_cached("INSERT INTO log_nodes (level, node, hash) VALUES (?1, ?2, ?3)")?;
        for node in nodes {
            statement.execute(params![node.level, to_i64(node.index), &node.hash[..]])?;
        }
        Ok(())
    }

    /// Deletes every stored node at or beyond tree size `size` (the nodes a
    /// rolled-back tail left behind; recovery calls this).
    pub fn truncate_log_nodes(&self, size: u64) -> Result<u64, StoreError> {
        let mut removed = 0;
        let levels: Vec<u32> = self
            .tx
            .prepare("SELECT DISTINCT level FROM log_nodes")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for level in levels {
            // Node `index` at `level` covers leaves up to (index+1) << level.
            let first_beyond = size >> level;
            removed += self.tx.execute(
                "DELETE FROM log_nodes WHERE level = ?1 AND node >= ?2",
                params![level, to_i64(first_beyond)],
            )?;
        }
        Ok(removed as u64)
    }

    /// Stores a signed checkpoint.
    pub fn insert_log_checkpoint(&self, row: &LogCheckpointRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO log_checkpoints (size, root, note, created_at_us)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                to_i64(row.size),
                &row.root[..],
                row.note,
                row.created_at_us
            ])?;
        Ok(())
    }

    /// Stores a cosignature (a newer one from the same key for the same
    /// size replaces the older).
    pub fn insert_cosignature(&self, row: &CosignatureRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO log_cosignatures
                 (size, witness, key_id, time, line, received_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                to_i64(row.size),
                row.witness,
                row.key_id,
                to_i64(row.time),
                row.line,
                row.received_at_us
            ])?;
        Ok(())
    }

    /// Deletes the checkpoints smaller than `size`, with their
    /// cosignatures.
    pub fn prune_log_checkpoints(&self, size: u64) -> Result<u64, StoreError> {
        self.tx
            .prepare_cached("DELETE FROM log_cosignatures WHERE size < ?1")?
            .execute(params![to_i64(size)])?;
        let removed = self
            .tx
            .prepare_cached("DELETE FROM log_checkpoints WHERE size < ?1")?
            .execute(params![to_i64(size)])?;
        Ok(removed as u64)
    }
}

fn checkpoint_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(LogCheckpointRow, Vec<u8>)> {
    Ok((
        LogCheckpointRow {
            size: to_u64(row.get(0)?),
            root: [0; 32],
            note: row.get(2)?,
            created_at_us: row.get(3)?,
        },
        bytes_column(row, 1)?,
    ))
}

fn finish_checkpoint(
    (mut row, root): (LogCheckpointRow, Vec<u8>),
) -> Result<LogCheckpointRow, StoreError> {
    row.root = hash32(root, &format!("log checkpoint {}", row.size))?;
    Ok(row)
}

impl Reader<'_> {
    /// The stored node hashes at `level` for node indexes `first..end`, in
    /// order; an error unless every one is stored.
    pub fn log_nodes(&self, level: u32, first: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT node, hash FROM log_nodes WHERE level = ?1 AND node >= ?2 AND node < ?3
             ORDER BY node",
        )?;
        let mut rows = statement.query(params![level, to_i64(first), to_i64(end)])?;
        let mut hashes = Vec::new();
        while let Some(row) = rows.next()? {
            let index = to_u64(row.get(0)?);
            let expected = first + hashes.len() as u64;
            if index != expected {
                return Err(StoreError::BadRow(format!(
                    "log node {level}/{expected} is missing"
                )));
            }
            hashes.push(hash32(
                bytes_column(row, 1)?,
                &format!("log node {level}/{index}"),
            )?);
        }
        if hashes.len() as u64 != end.saturating_sub(first) {
            return Err(StoreError::BadRow(format!(
                "log nodes {level}/{first}..{end}: {} of them stored",
                hashes.len()
            )));
        }
        Ok(hashes)
    }

    /// How many nodes are stored at `level`.
    pub fn log_node_count(&self, level: u32) -> Result<u64, StoreError> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM log_nodes WHERE level = ?1",
            params![level],
            |row| row.get(0),
        )?;
        Ok(to_u64(count))
    }

    /// The newest checkpoint.
    pub fn last_log_checkpoint(&self) -> Result<Option<LogCheckpointRow>, StoreError> {
        optional(
            self.conn
                .prepare_cached(
                    "SELECT size, root, note, created_at_us FROM log_checkpoints
                     ORDER BY size DESC LIMIT 1",
                )?
                .query_row([], checkpoint_row),
        )?
        .map(finish_checkpoint)
        .transpose()
    }

    /// The checkpoint of tree size `size`.
    pub fn log_checkpoint(&self, size: u64) -> Result<Option<LogCheckpointRow>, StoreError> {
        optional(
            self.conn
                .prepare_cached(
                    "SELECT size, root, note, created_at_us FROM log_checkpoints WHERE size = ?1",
                )?
                .query_row(params![to_i64(size)], checkpoint_row),
        )?
        .map(finish_checkpoint)
        .transpose()
    }

    /// The newest checkpoints, newest first, at most `limit`.
    pub fn last_log_checkpoints(&self, limit: u32) -> Result<Vec<LogCheckpointRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT size, root, note, created_at_us FROM log_checkpoints
             ORDER BY size DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![limit], checkpoint_row)?;
        rows.map(|row| finish_checkpoint(row?))
            .collect::<Result<Vec<_>, _>>()
    }

    /// Every cosignature of the checkpoint of size `size`.
    pub fn cosignatures(&self, size: u64) -> Result<Vec<CosignatureRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT size, witness, key_id, time, line, received_at_us FROM log_cosignatures
             WHERE size = ?1 ORDER BY witness, key_id",
        )?;
        let rows = statement.query_map(params![to_i64(size)], |row| {
            Ok(CosignatureRow {
                size: to_u64(row.get(0)?),
                witness: row.get(1)?,
                key_id: row.get(2)?,
                time: to_u64(row.get(3)?),
                line: row.get(4)?,
                received_at_us: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The largest checkpoint size the witness key has cosigned, if any.
    pub fn last_cosigned_size(
        &self,
        witness: &str,
        key_id: u32,
    ) -> Result<Option<u64>, StoreError> {
        let size: Option<i64> = self.conn.query_row(
            "SELECT max(size) FROM log_cosignatures WHERE witness = ?1 AND key_id = ?2",
            params![witness, key_id],
            |row| row.get(0),
        )?;
        Ok(size.map(to_u64))
    }
}
