//! The write transaction: everything the single writer does to the
//! database happens inside one of these, so a batch of appends, a seal and
//! the idempotency records that protect them commit or vanish together.
//!
//! Dropping a `WriteTxn` without [`WriteTxn::commit`] rolls it back.

use rusqlite::{
    CachedStatement, Connection, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::{
    ArchivedRow, EnvelopeRow, KeyRow, MetaEntry, PrunedRow, Reader, SUBJECT_KEY_ID_BYTES, SealRow,
    SegmentRow, StoreError, SubjectKeyId, SubjectKeys, namespace,
};

/// What [`WriteTxn::erase_payloads`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureCount {
    /// Payload rows emptied.
    pub erased: u64,
}

/// An open `BEGIN IMMEDIATE` transaction on the write connection.
#[derive(Debug)]
pub struct WriteTxn<'c> {
    pub(crate) tx: Transaction<'c>,
    keys: Option<&'c SubjectKeys>,
}

/// Inserts envelope and payload rows through statements prepared once
/// ([`WriteTxn::rows`]).
pub struct RowWriter<'t> {
    txn: &'t WriteTxn<'t>,
    envelope: Option<CachedStatement<'t>>,
    payload: Option<CachedStatement<'t>>,
    /// The envelope row this writer inserted last: its payload row needs
    /// no lookup to know the envelope exists.
    last_envelope: Option<u64>,
}

impl std::fmt::Debug for RowWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowWriter").finish_non_exhaustive()
    }
}

impl<'t> RowWriter<'t> {
    /// Inserts one envelope row.
    pub fn insert_envelope(&mut self, row: &EnvelopeRow) -> Result<(), StoreError> {
        let statement = match &mut self.envelope {
            Some(statement) => statement,
            empty => empty.insert(self.txn.tx.prepare_cached(
                "INSERT INTO envelopes (seq, segment_id, received_at_us, kind, type, actor, hash, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?),
        };
        statement.execute(params![
            to_i64(row.seq),
            to_i64(row.segment_id),
            row.received_at_us,
            row.kind,
            row.event_type,
            row.actor,
            &row.hash[..],
            crate::packed::pack(&row.body)?,
        ])?;
        self.last_envelope = Some(row.seq);
        Ok(())
    }

    /// Stores the committed content of version 2 envelope `seq`: its
    /// salt, the content's canonical bytes, and its subject (for erasure
    /// by subject). With a key file and a subject, salt and content are
    /// sealed under the subject's key and the subject is not stored.
    /// Refused (`BadRow`) when envelope `seq` has no row.
    pub fn insert_payload(
        &mut self,
        seq: u64,
        subject: Option<&str>,
        salt: &[u8; 32],
        content: &[u8],
    ) -> Result<(), StoreError> {
        if self.last_envelope != Some(seq) {
            self.txn.require_envelope(seq)?;
        }
        if let (Some(keys), Some(subject)) = (self.txn.keys, subject) {
            let sealed = keys.seal(subject, seq, salt, content)?;
            self.txn
                .tx
                .prepare_cached(
                    "INSERT INTO payloads (seq, subject, salt, content, erased_by, key_id)
                     VALUES (?1, NULL, NULL, ?2, NULL, ?3)",
                )?
                .execute(params![to_i64(seq), sealed.bytes, &sealed.key_id[..]])?;
            return Ok(());
        }
        let statement = match &mut self.payload {
            Some(statement) => statement,
            empty => empty.insert(self.txn.tx.prepare_cached(
                "INSERT INTO payloads (seq, subject, salt, content, erased_by)
                 VALUES (?1, ?2, ?3, ?4, NULL)",
            )?),
        };
        statement.execute(params![to_i64(seq), subject, &salt[..], content])?;
        Ok(())
    }
}

fn to_i64(value: u64) -> i64 {
    // Sequence numbers, ids, counts and sizes stay below 2^53.
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl<'c> WriteTxn<'c> {
    pub(crate) fn begin(
        conn: &'c mut Connection,
        keys: Option<&'c SubjectKeys>,
    ) -> Result<Self, StoreError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Self { tx, keys })
    }

    /// Reads through this transaction (sees its own uncommitted writes).
    pub fn reader(&self) -> Reader<'_> {
        Reader::with_keys(&self.tx, self.keys)
    }

    /// Inserts one envelope row.
    pub fn insert_envelope(&self, row: &EnvelopeRow) -> Result<(), StoreError> {
        self.rows().insert_envelope(row)
    }

    /// Stores the committed content of version 2 envelope `seq`
    /// ([`RowWriter::insert_payload`]).
    pub fn insert_payload(
        &self,
        seq: u64,
        subject: Option<&str>,
        salt: &[u8; 32],
        content: &[u8],
    ) -> Result<(), StoreError> {
        self.rows().insert_payload(seq, subject, salt, content)
    }

    /// A writer of envelope and payload rows that keeps its statements
    /// for as long as it lives: a plan of many envelopes looks each
    /// statement up in the connection's cache once, not once per row.
    pub fn rows(&self) -> RowWriter<'_> {
        RowWriter {
            txn: self,
            envelope: None,
            payload: None,
            last_envelope: None,
        }
    }

    /// Refuses a payload row for an envelope without a row (`payloads` has
    /// no foreign key since schema version 10: the store checks).
    fn require_envelope(&self, seq: u64) -> Result<(), StoreError> {
        let exists = self
            .tx
            .prepare_cached("SELECT 1 FROM envelopes WHERE seq = ?1")?
            .exists(params![to_i64(seq)])?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::BadRow(format!(
                "payloads: envelope {seq} has no row"
            )))
        }
    }
    /// Inserts the payload row of envelope `seq` as already erased by
    /// envelope `erased_by` (a restore from an archived bundle that says
    /// so: the content never comes back).
    pub fn insert_erased_payload(&self, seq: u64, erased_by: u64) -> Result<(), StoreError> {
        self.require_envelope(seq)?;
        self.tx
            .prepare_cached(
                "INSERT INTO payloads (seq, subject, salt, content, erased_by)
                 VALUES (?1, NULL, NULL, NULL, ?2)",
            )?
            .execute(params![to_i64(seq), to_i64(erased_by)])?;
        Ok(())
    }

    /// Inserts the payload row of envelope `seq` as withheld: a restore
    /// from an archived bundle that did not carry it (a recorder with
    /// subject keys archives no sealed payload).
    pub fn insert_withheld_payload(&self, seq: u64) -> Result<(), StoreError> {
        self.require_envelope(seq)?;
        self.tx
            .prepare_cached(
                "INSERT INTO payloads (seq, subject, salt, content, erased_by)
                 VALUES (?1, NULL, NULL, NULL, NULL)",
            )?
            .execute(params![to_i64(seq)])?;
        Ok(())
    }

    /// Erases the committed content of envelopes `seqs` (subject, salt and
    /// content emptied; with `secure_delete` on, the old bytes are
    /// overwritten in the database file), recording `erased_by`. A row
    /// already erased, or missing, is refused: the recorder decided what to
    /// erase from the rows it read, so a difference means damage.
    pub fn erase_payloads(&self, seqs: &[u64], erased_by: u64) -> Result<ErasureCount, StoreError> {
        let mut statement = self.tx.prepare_cached(
            "UPDATE payloads
             SET subject = NULL, salt = NULL, content = NULL, key_id = NULL, erased_by = ?2
             WHERE seq = ?1 AND erased_by IS NULL",
        )?;
        for seq in seqs {
            if statement.execute(params![to_i64(*seq), to_i64(erased_by)])? != 1 {
                return Err(StoreError::BadRow(format!(
                    "envelope {seq} has no payload left to erase"
                )));
            }
        }
        Ok(ErasureCount {
            erased: seqs.len() as u64,
        })
    }

    /// Marks `subject`'s key (if it has one) for destruction once this
    /// transaction commits ([`crate::Store::destroy_marked_keys`]); the
    /// erasure that erased the last of its payloads calls this. Returns
    /// whether there was a key.
    pub fn mark_subject_key_destroyed(&self, subject: &str) -> Result<bool, StoreError> {
        let Some(id) = self
            .keys
            .map(|keys| keys.key_id_of(subject))
            .transpose()?
            .flatten()
        else {
            return Ok(false);
        };
        self.meta_put(namespace::SUBJECT_KEY_DESTROY, &hex(&id), &[], 0)?;
        Ok(true)
    }

    /// Inserts a new (open) segment row.
    pub fn insert_segment(&self, row: &SegmentRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO segments
                 (segment_id, first_seq, last_seq, envelope_count, bytes, opened_at_us, sealed_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                to_i64(row.segment_id),
                to_i64(row.first_seq),
                to_i64(row.last_seq),
                to_i64(row.envelope_count),
                to_i64(row.bytes),
                row.opened_at_us,
                row.sealed_at_us,
            ])?;
        Ok(())
    }

    /// Records how far an open segment has grown.
    pub fn update_segment_progress(
        &self,
        segment_id: u64,
        last_seq: u64,
        envelope_count: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE segments SET last_seq = ?2, envelope_count = ?3, bytes = ?4
                 WHERE segment_id = ?1 AND sealed_at_us IS NULL",
            )?
            .execute(params![
                to_i64(segment_id),
                to_i64(last_seq),
                to_i64(envelope_count),
                to_i64(bytes),
            ])?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::BadRow(format!(
                "segment {segment_id} is not an open segment"
            )))
        }
    }

    /// Marks a segment sealed and stores its seal, in this transaction.
    pub fn seal_segment(&self, sealed_at_us: i64, seal: &SealRow) -> Result<(), StoreError> {
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE segments SET sealed_at_us = ?2
                 WHERE segment_id = ?1 AND sealed_at_us IS NULL",
            )?
            .execute(params![to_i64(seal.segment_id), sealed_at_us])?;
        if changed != 1 {
            return Err(StoreError::BadRow(format!(
                "segment {} is not an open segment",
                seal.segment_id
            )));
        }
        self.tx
            .prepare_cached("INSERT INTO seals (segment_id, hash, body) VALUES (?1, ?2, ?3)")?
            .execute(params![to_i64(seal.segment_id), &seal.hash[..], seal.body])?;
        Ok(())
    }

    /// Stores attachment bytes by their SHA-256 (idempotent: identical
    /// content is stored once) for envelope `seq`, and notes `seq` as the
    /// newest envelope that references them (what pruning reads). Returns
    /// true when the bytes were new.
    pub fn put_attachment(
        &self,
        sha256: &[u8; 32],
        data: &[u8],
        seq: u64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO attachments (sha256, size, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sha256) DO NOTHING",
            )?
            .execute(params![&sha256[..], to_i64(data.len() as u64), data])?;
        self.tx
            .prepare_cached(
                "INSERT INTO attachment_refs (sha256, last_seq) VALUES (?1, ?2)
                 ON CONFLICT (sha256) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
            )?
            .execute(params![&sha256[..], to_i64(seq)])?;
        Ok(inserted == 1)
    }

    /// Records an archived bundle (with its envelope, in this transaction).
    /// Runs start right after the previous one: a gap or an overlap is
    /// refused.
    pub fn record_archived(&self, row: &ArchivedRow) -> Result<(), StoreError> {
        let expected_first = self
            .reader()
            .last_archived()?
            .map_or(1, |last| last.last_segment + 1);
        if row.first_segment != expected_first || row.last_segment < row.first_segment {
            return Err(StoreError::BadRow(format!(
                "archived segments {}..={} do not follow the archived ones (next is {expected_first})",
                row.first_segment, row.last_segment
            )));
        }
        self.tx
            .prepare_cached(
                "INSERT INTO archived (first_segment, last_segment, first_seq, last_seq,
                     object_key, sha256, size, seq, archived_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                to_i64(row.first_segment),
                to_i64(row.last_segment),
                to_i64(row.first_seq),
                to_i64(row.last_seq),
                row.object_key,
                &row.sha256[..],
                to_i64(row.size),
                to_i64(row.seq),
                row.archived_at_us,
            ])?;
        Ok(())
    }

    /// Records a pruning (with its envelope, in this transaction). The
    /// rows themselves go later, a bounded batch at a time
    /// ([`Self::delete_pruned_rows`]). Pruned segments stay a prefix, and
    /// only archived segments are pruned: anything else is refused.
    pub fn record_pruned(&self, row: &PrunedRow) -> Result<(), StoreError> {
        let reader = self.reader();
        let expected_first = reader
            .pruned_through()?
            .map_or(1, |last| last.last_segment + 1);
        let archived_through = reader.last_archived()?.map_or(0, |last| last.last_segment);
        if row.first_segment != expected_first
            || row.last_segment < row.first_segment
            || row.last_segment > archived_through
        {
            return Err(StoreError::BadRow(format!(
                "pruning segments {}..={} breaks the rules (next to prune is {expected_first}, archived through {archived_through})",
                row.first_segment, row.last_segment
            )));
        }
        self.tx
            .prepare_cached(
                "INSERT INTO pruned (first_segment, last_segment, first_seq, last_seq, seq, pruned_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                to_i64(row.first_segment),
                to_i64(row.last_segment),
                to_i64(row.first_seq),
                to_i64(row.last_seq),
                to_i64(row.seq),
                row.pruned_at_us,
            ])?;
        Ok(())
    }

    /// Deletes up to `rows_max` envelope rows with `seq <= through_seq`
    /// (oldest first), the bundle index rows pointing at them, and the
    /// attachments no envelope after `through_seq` references (up to
    /// `rows_max` of those too). Returns the rows deleted; 0 means
    /// nothing below `through_seq` is left.
    pub fn delete_pruned_rows(&self, through_seq: u64, rows_max: u64) -> Result<u64, StoreError> {
        let through = to_i64(through_seq);
        let limit = to_i64(rows_max);
        let bundles = self
            .tx
            .prepare_cached(
                "DELETE FROM bundles WHERE seq IN (
                     SELECT seq FROM bundles WHERE seq <= ?1 ORDER BY seq LIMIT ?2)",
            )?
            .execute(params![through, limit])?;
        // Version 2 envelopes' payloads go with their rows (before them:
        // a payload row references its envelope).
        self.tx
            .prepare_cached(
                "DELETE FROM payloads WHERE seq IN (
                     SELECT seq FROM envelopes WHERE seq <= ?1 ORDER BY seq LIMIT ?2)",
            )?
            .execute(params![through, limit])?;
        let envelopes = self
            .tx
            .prepare_cached(
                "DELETE FROM envelopes WHERE seq IN (
                     SELECT seq FROM envelopes WHERE seq <= ?1 ORDER BY seq LIMIT ?2)",
            )?
            .execute(params![through, limit])?;
        let attachments = self
            .tx
            .prepare_cached(
                "DELETE FROM attachments WHERE sha256 IN (
                     SELECT sha256 FROM attachment_refs WHERE last_seq <= ?1
                     ORDER BY last_seq LIMIT ?2)",
            )?
            .execute(params![through, limit])?;
        self.tx
            .prepare_cached(
                "DELETE FROM attachment_refs WHERE sha256 IN (
                     SELECT sha256 FROM attachment_refs WHERE last_seq <= ?1
                     ORDER BY last_seq LIMIT ?2)",
            )?
            .execute(params![through, limit])?;
        Ok((bundles + envelopes + attachments) as u64)
    }

    /// Gives up to `pages_max` free pages back to the file system
    /// (`PRAGMA incremental_vacuum`; nothing on a file without
    /// `auto_vacuum = INCREMENTAL`).
    pub fn incremental_vacuum(&self, pages_max: u64) -> Result<(), StoreError> {
        let mut statement = self
            .tx
            .prepare(&format!("PRAGMA incremental_vacuum({pages_max})"))?;
        let mut rows = statement.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    }

    /// Records a public key the recorder signs with.
    pub fn insert_key(&self, row: &KeyRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO keys (key_id, public_key, first_seq, added_at_us)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                row.key_id,
                &row.public_key[..],
                to_i64(row.first_seq),
                row.added_at_us
            ])?;
        Ok(())
    }

    /// Reads a `store_meta` entry (including this transaction's writes).
    pub fn meta_get(&self, namespace: &str, key: &str) -> Result<Option<MetaEntry>, StoreError> {
        self.reader().meta_get(namespace, key)
    }

    /// Writes (inserts or replaces) a `store_meta` entry.
    pub fn meta_put(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        created_at_us: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO store_meta (namespace, key, value, created_at_us)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key)
                 DO UPDATE SET value = excluded.value, created_at_us = excluded.created_at_us",
            )?
            .execute(params![namespace, key, value, created_at_us])?;
        Ok(())
    }

    /// Deletes one `store_meta` entry.
    pub fn meta_delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("DELETE FROM store_meta WHERE namespace = ?1 AND key = ?2")?
            .execute(params![namespace, key])?;
        Ok(())
    }

    /// Evicts a namespace deterministically, oldest first (by
    /// `created_at_us`, then key): every entry created before
    /// `created_before_us`, then the oldest beyond `entries_max`. At most
    /// `delete_max` rows go per call, so one call has a bounded cost.
    /// Returns the number deleted.
    pub fn meta_evict(
        &self,
        namespace: &str,
        created_before_us: i64,
        entries_max: u64,
        delete_max: u64,
    ) -> Result<u64, StoreError> {
        let expired = self
            .tx
            .prepare_cached(
                "DELETE FROM store_meta WHERE namespace = ?1 AND key IN (
                     SELECT key FROM store_meta
                     WHERE namespace = ?1 AND created_at_us < ?2
                     ORDER BY created_at_us, key LIMIT ?3)",
            )?
            .execute(params![namespace, created_before_us, to_i64(delete_max)])?;
        let expired = expired as u64;
        let remaining_budget = delete_max.saturating_sub(expired);
        if remaining_budget == 0 {
            return Ok(expired);
        }
        let count: i64 = self
            .tx
            .prepare_cached("SELECT count(*) FROM store_meta WHERE namespace = ?1")?
            .query_row(params![namespace], |row| row.get(0))?;
        let excess = u64::try_from(count)
            .unwrap_or(0)
            .saturating_sub(entries_max)
            .min(remaining_budget);
        if excess == 0 {
            return Ok(expired);
        }
        let evicted = self
            .tx
            .prepare_cached(
                "DELETE FROM store_meta WHERE namespace = ?1 AND key IN (
                     SELECT key FROM store_meta WHERE namespace = ?1
                     ORDER BY created_at_us, key LIMIT ?2)",
            )?
            .execute(params![namespace, to_i64(excess)])?;
        Ok(expired + evicted as u64)
    }

    /// Records that envelope `seq` (an `arxi.bundle.built`) names
    /// `bundle_id`.
    pub fn index_bundle(&self, seq: u64, bundle_id: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT INTO bundles (seq, bundle_id) VALUES (?1, ?2)")?
            .execute(params![to_i64(seq), bundle_id])?;
        Ok(())
    }

    /// Empties the bundle index (before the recorder rebuilds it).
    pub fn clear_bundle_index(&self) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM bundles", [])?;
        Ok(())
    }

    /// Commits (durable when it returns: WAL + `synchronous=FULL`). Subject
    /// keys made for this transaction are made durable first.
    pub fn commit(self) -> Result<(), StoreError> {
        if let Some(keys) = self.keys {
            keys.make_durable()?;
        }
        self.tx.commit()?;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// The subject key ids that committed erasures marked for destruction.
pub(crate) fn marked_key_ids(conn: &Connection) -> Result<Vec<SubjectKeyId>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT key FROM store_meta WHERE namespace = ?1 ORDER BY key")?;
    let rows = statement.query_map(params![namespace::SUBJECT_KEY_DESTROY], |row| {
        row.get::<_, String>(0)
    })?;
    let mut ids = Vec::new();
    for text in rows {
        let text = text?;
        ids.push(parse_key_id(&text).ok_or_else(|| {
            StoreError::BadRow(format!("store_meta: a subject key mark {text:?}"))
        })?);
    }
    Ok(ids)
}

fn parse_key_id(text: &str) -> Option<SubjectKeyId> {
    if text.len() != SUBJECT_KEY_ID_BYTES * 2 {
        return None;
    }
    let mut id = [0_u8; SUBJECT_KEY_ID_BYTES];
    for (index, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(id)
}

/// Removes the marks of keys now destroyed.
pub(crate) fn unmark_key_ids(conn: &Connection, ids: &[SubjectKeyId]) -> Result<(), StoreError> {
    let mut statement =
        conn.prepare_cached("DELETE FROM store_meta WHERE namespace = ?1 AND key = ?2")?;
    for id in ids {
        statement.execute(params![namespace::SUBJECT_KEY_DESTROY, hex(id)])?;
    }
    Ok(())
}

/// Reads one optional row with `map`.
pub(crate) fn optional<T>(result: Result<T, rusqlite::Error>) -> Result<Option<T>, StoreError> {
    Ok(result.optional()?)
}
