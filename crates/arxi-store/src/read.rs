//! Reads: point lookups, ranges for recovery and bundles, and the indexed
//! envelope query. Readers never write; [`ReaderPool`] hands out read-only
//! connections so queries never wait behind the writer (WAL snapshots).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Row, params};

use crate::subject_keys::SealedPayload;
use crate::write::optional;
use crate::{
    ArchivedRow, EnvelopeRow, KeyRow, MetaEntry, PayloadRow, PrunedRow, SealRow, SegmentRow,
    SpaceStats, StoreError, SubjectKeyId, SubjectKeys, open_read_only,
};

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn hash32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::BadRow(format!("{what}: hash is {} bytes, not 32", bytes.len())))
}

/// Reads a byte column whatever its storage class: a row damaged outside
/// arxi may hold text where bytes belong, and the verifier, not the driver,
/// should judge it.
pub(crate) fn bytes_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<u8>> {
    use rusqlite::types::ValueRef;
    match row.get_ref(index)? {
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Ok(bytes.to_vec()),
        ValueRef::Null => Ok(Vec::new()),
        ValueRef::Integer(value) => Ok(value.to_string().into_bytes()),
        ValueRef::Real(value) => Ok(value.to_string().into_bytes()),
    }
}

const ENVELOPE_COLUMNS: &str = "seq, segment_id, received_at_us, kind, type, actor, hash, body";

fn envelope_row(row: &Row<'_>) -> rusqlite::Result<(EnvelopeRow, Vec<u8>)> {
    let hash = bytes_column(row, 6)?;
    Ok((
        EnvelopeRow {
            seq: to_u64(row.get(0)?),
            segment_id: to_u64(row.get(1)?),
            received_at_us: row.get(2)?,
            kind: row.get(3)?,
            event_type: row.get(4)?,
            actor: row.get(5)?,
            hash: [0; 32],
            body: crate::packed::unpack(&bytes_column(row, 7)?),
        },
        hash,
    ))
}

fn finish_envelope((mut row, hash): (EnvelopeRow, Vec<u8>)) -> Result<EnvelopeRow, StoreError> {
    row.hash = hash32(hash, &format!("envelope {}", row.seq))?;
    Ok(row)
}

const SEGMENT_COLUMNS: &str =
    "segment_id, first_seq, last_seq, envelope_count, bytes, opened_at_us, sealed_at_us";

fn segment_row(row: &Row<'_>) -> rusqlite::Result<SegmentRow> {
    Ok(SegmentRow {
        segment_id: to_u64(row.get(0)?),
        first_seq: to_u64(row.get(1)?),
        last_seq: to_u64(row.get(2)?),
        envelope_count: to_u64(row.get(3)?),
        bytes: to_u64(row.get(4)?),
        opened_at_us: row.get(5)?,
        sealed_at_us: row.get(6)?,
    })
}

const ARCHIVED_COLUMNS: &str = "first_segment, last_segment, first_seq, last_seq, object_key, sha256, size, seq, archived_at_us";

fn archived_row(row: &Row<'_>) -> rusqlite::Result<(ArchivedRow, Vec<u8>)> {
    Ok((
        ArchivedRow {
            first_segment: to_u64(row.get(0)?),
            last_segment: to_u64(row.get(1)?),
            first_seq: to_u64(row.get(2)?),
            last_seq: to_u64(row.get(3)?),
            object_key: row.get(4)?,
            sha256: [0; 32],
            size: to_u64(row.get(6)?),
            seq: to_u64(row.get(7)?),
            archived_at_us: row.get(8)?,
        },
        bytes_column(row, 5)?,
    ))
}

fn finish_archived((mut row, sha256): (ArchivedRow, Vec<u8>)) -> Result<ArchivedRow, StoreError> {
    row.sha256 = hash32(sha256, &format!("archived {}", row.first_segment))?;
    Ok(row)
}

const PRUNED_COLUMNS: &str = "first_segment, last_segment, first_seq, last_seq, seq, pruned_at_us";

fn pruned_row(row: &Row<'_>) -> rusqlite::Result<PrunedRow> {
    Ok(PrunedRow {
        first_segment: to_u64(row.get(0)?),
        last_segment: to_u64(row.get(1)?),
        first_seq: to_u64(row.get(2)?),
        last_seq: to_u64(row.get(3)?),
        seq: to_u64(row.get(4)?),
        pruned_at_us: row.get(5)?,
    })
}

/// A payload row as stored, before a sealed one is opened.
struct StoredPayload {
    subject: Option<String>,
    salt: Option<Vec<u8>>,
    content: Option<Vec<u8>>,
    erased_by: Option<u64>,
    key_id: Option<Vec<u8>>,
}

/// Filters for [`Reader::query`]. All given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryFilter {
    /// Only this segment.
    pub segment_id: Option<u64>,
    /// Sequence numbers at or above.
    pub seq_min: Option<u64>,
    /// Sequence numbers at or below.
    pub seq_max: Option<u64>,
    /// Received at or after (µs).
    pub received_from_us: Option<i64>,
    /// Received strictly before (µs).
    pub received_before_us: Option<i64>,
    /// 0 = data, 1 = control.
    pub kind: Option<u8>,
    /// Exact event type.
    pub event_type: Option<String>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Resume after this sequence number (the cursor).
    pub after_seq: Option<u64>,
    /// Page size (the caller bounds it).
    pub limit: u32,
}

/// One page of query results, in sequence order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryPage {
    /// Matching envelopes.
    pub rows: Vec<EnvelopeRow>,
    /// The `after_seq` for the next page, when there is one.
    pub next_after_seq: Option<u64>,
}

/// Read access over one connection (a pooled reader, or the writer's own).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'c> {
    pub(crate) conn: &'c Connection,
    keys: Option<&'c SubjectKeys>,
}

impl<'c> Reader<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn, keys: None }
    }

    /// A reader that opens payloads sealed under subject keys in `keys`.
    pub(crate) fn with_keys(conn: &'c Connection, keys: Option<&'c SubjectKeys>) -> Self {
        Self { conn, keys }
    }

    /// The last envelope, if any.
    pub fn last_envelope(&self) -> Result<Option<EnvelopeRow>, StoreError> {
        let sql = format!("SELECT {ENVELOPE_COLUMNS} FROM envelopes ORDER BY seq DESC LIMIT 1");
        optional(self.conn.prepare_cached(&sql)?.query_row([], envelope_row))?
            .map(finish_envelope)
            .transpose()
    }

    /// One envelope by sequence number.
    pub fn envelope(&self, seq: u64) -> Result<Option<EnvelopeRow>, StoreError> {
        let sql = format!("SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE seq = ?1");
        optional(
            self.conn
                .prepare_cached(&sql)?
                .query_row(params![to_i64(seq)], envelope_row),
        )?
        .map(finish_envelope)
        .transpose()
    }

    /// Calls `visit` for every envelope with `from <= seq <= to`, in order,
    /// one row in memory at a time. `visit` returns false to stop early.
    pub fn for_each_envelope(
        &self,
        from_seq: u64,
        to_seq: u64,
        mut visit: impl FnMut(EnvelopeRow) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(params![to_i64(from_seq), to_i64(to_seq)])?;
        while let Some(row) = rows.next()? {
            if !visit(finish_envelope(envelope_row(row)?)?)? {
                break;
            }
        }
        Ok(())
    }

    /// The hashes of envelopes `from <= seq <= to`, in order, with their
    /// sequence numbers.
    pub fn envelope_hashes(
        &self,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, hash FROM envelopes WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
        )?;
        let mut rows = statement.query(params![to_i64(from_seq), to_i64(to_seq)])?;
        let mut hashes = Vec::new();
        while let Some(row) = rows.next()? {
            let seq = to_u64(row.get(0)?);
            hashes.push((
                seq,
                hash32(bytes_column(row, 1)?, &format!("envelope {seq}"))?,
            ));
        }
        Ok(hashes)
    }

    /// The committed content of version 2 envelope `seq` (erased or not);
    /// `None` for an envelope without one (version 1, or missing). A
    /// payload sealed under a subject key is opened here; without its key
    /// it comes back `withheld`.
    pub fn payload(&self, seq: u64) -> Result<Option<PayloadRow>, StoreError> {
        let found = optional(
            self.conn
                .prepare_cached(
                    "SELECT subject, salt, content, erased_by, key_id FROM payloads WHERE seq = ?1",
                )?
                .query_row(params![to_i64(seq)], |row| {
                    Ok(StoredPayload {
                        subject: row.get(0)?,
                        salt: row.get(1)?,
                        content: row.get(2)?,
                        erased_by: row.get::<_, Option<i64>>(3)?.map(to_u64),
                        key_id: row.get(4)?,
                    })
                }),
        )?;
        found
            .map(|stored| self.open_payload(seq, stored))
            .transpose()
    }

    fn open_payload(&self, seq: u64, stored: StoredPayload) -> Result<PayloadRow, StoreError> {
        let bad = |why: &str| StoreError::BadRow(format!("payload {seq}: {why}"));
        let mut row = PayloadRow {
            seq,
            subject: stored.subject,
            content: None,
            erased_by: stored.erased_by,
            sealed: stored.key_id.is_some(),
            withheld: false,
        };
        match (stored.salt, stored.content, stored.key_id) {
            (Some(salt), Some(content), None) => {
                row.content = Some((hash32(salt, &format!("payload {seq} salt"))?, content));
            }
            (None, Some(bytes), Some(key_id)) => {
                let key_id: SubjectKeyId = key_id
                    .try_into()
                    .map_err(|_| bad("a subject key id of the wrong length"))?;
                let sealed = SealedPayload { key_id, bytes };
                let opened = match self.keys {
                    Some(keys) => keys.open_sealed(seq, &sealed)?,
                    None => None,
                };
                match opened {
                    Some((held, subject)) => {
                        row.content = Some(held);
                        row.subject = Some(subject);
                    }
                    None => row.withheld = true,
                }
            }
            (None, None, None) => row.withheld = row.erased_by.is_none(),
            _ => return Err(bad("a salt without content or content without a salt")),
        }
        Ok(row)
    }

    /// True when a payload is stored sealed under a subject key (served
    /// by the `payloads_key` index).
    pub fn has_sealed_payloads(&self) -> Result<bool, StoreError> {
        let found: i64 = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM payloads INDEXED BY payloads_key
                 WHERE key_id IS NOT NULL)",
            )?
            .query_row([], |row| row.get(0))?;
        Ok(found != 0)
    }

    /// True when an envelope `from <= seq <= to` has a payload row (is a
    /// version 2 envelope).
    pub fn has_payloads(&self, from_seq: u64, to_seq: u64) -> Result<bool, StoreError> {
        let found: i64 = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM payloads WHERE seq BETWEEN ?1 AND ?2)")?
            .query_row(params![to_i64(from_seq), to_i64(to_seq)], |row| row.get(0))?;
        Ok(found != 0)
    }

    /// Up to `limit` envelopes naming `subject` whose committed content is
    /// not erased, ascending: rows that keep the subject (served by the
    /// `payloads_subject` index) and rows sealed under its key
    /// (`payloads_key`).
    pub fn unerased_of_subject(&self, subject: &str, limit: u32) -> Result<Vec<u64>, StoreError> {
        let key_id = match self.keys {
            Some(keys) => keys.key_id_of(subject)?,
            None => None,
        };
        let mut statement = self.conn.prepare_cached(
            "SELECT seq FROM payloads INDEXED BY payloads_subject
             WHERE subject = ?1 AND erased_by IS NULL
             UNION
             SELECT seq FROM payloads INDEXED BY payloads_key
             WHERE key_id = ?2 AND erased_by IS NULL
             ORDER BY seq LIMIT ?3",
        )?;
        let key_id = key_id.map(|id| id.to_vec());
        let rows =
            statement.query_map(params![subject, key_id, limit], |row| row.get::<_, i64>(0))?;
        rows.map(|seq| seq.map(to_u64).map_err(StoreError::from))
            .collect()
    }

    /// One segment.
    pub fn segment(&self, segment_id: u64) -> Result<Option<SegmentRow>, StoreError> {
        let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE segment_id = ?1");
        optional(
            self.conn
                .prepare_cached(&sql)?
                .query_row(params![to_i64(segment_id)], segment_row),
        )
    }

    /// The newest segment, open or sealed.
    pub fn last_segment(&self) -> Result<Option<SegmentRow>, StoreError> {
        let sql =
            format!("SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY segment_id DESC LIMIT 1");
        optional(self.conn.prepare_cached(&sql)?.query_row([], segment_row))
    }

    /// Segments with id greater than `after_id`, ascending, at most `limit`.
    pub fn segments(&self, after_id: u64, limit: u32) -> Result<Vec<SegmentRow>, StoreError> {
        let sql = format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE segment_id > ?1 ORDER BY segment_id LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params![to_i64(after_id), limit], segment_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The seal of a segment.
    pub fn seal(&self, segment_id: u64) -> Result<Option<SealRow>, StoreError> {
        let found = optional(
            self.conn
                .prepare_cached("SELECT segment_id, hash, body FROM seals WHERE segment_id = ?1")?
                .query_row(params![to_i64(segment_id)], |row| {
                    Ok((
                        to_u64(row.get(0)?),
                        bytes_column(row, 1)?,
                        bytes_column(row, 2)?,
                    ))
                }),
        )?;
        found
            .map(|(segment_id, hash, body)| {
                Ok(SealRow {
                    segment_id,
                    hash: hash32(hash, &format!("seal {segment_id}"))?,
                    body,
                })
            })
            .transpose()
    }

    /// The newest seals, newest first, at most `limit`.
    pub fn last_seals(&self, limit: u32) -> Result<Vec<SealRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT segment_id, hash, body FROM seals ORDER BY segment_id DESC LIMIT ?1",
        )?;
        let mut rows = statement.query(params![limit])?;
        let mut seals = Vec::new();
        while let Some(row) = rows.next()? {
            let segment_id = to_u64(row.get(0)?);
            seals.push(SealRow {
                segment_id,
                hash: hash32(bytes_column(row, 1)?, &format!("seal {segment_id}"))?,
                body: bytes_column(row, 2)?,
            });
        }
        Ok(seals)
    }

    /// Every key the recorder has signed with, oldest first.
    pub fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT key_id, public_key, first_seq, added_at_us FROM keys ORDER BY first_seq, key_id",
        )?;
        let mut rows = statement.query([])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            let key_id: String = row.get(0)?;
            let public_key = hash32(row.get(1)?, &format!("key {key_id}"))?;
            keys.push(KeyRow {
                key_id,
                public_key,
                first_seq: to_u64(row.get(2)?),
                added_at_us: row.get(3)?,
            });
        }
        Ok(keys)
    }

    /// Attachment bytes by SHA-256.
    pub fn attachment(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        optional(
            self.conn
                .prepare_cached("SELECT data FROM attachments WHERE sha256 = ?1")?
                .query_row(params![&sha256[..]], |row| row.get(0)),
        )
    }

    /// A `store_meta` entry.
    pub fn meta_get(&self, namespace: &str, key: &str) -> Result<Option<MetaEntry>, StoreError> {
        optional(
            self.conn
                .prepare_cached(
                    "SELECT value, created_at_us FROM store_meta WHERE namespace = ?1 AND key = ?2",
                )?
                .query_row(params![namespace, key], |row| {
                    Ok(MetaEntry {
                        value: row.get(0)?,
                        created_at_us: row.get(1)?,
                    })
                }),
        )
    }

    /// Entries in a `store_meta` namespace.
    pub fn meta_count(&self, namespace: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM store_meta WHERE namespace = ?1")?
            .query_row(params![namespace], |row| row.get(0))?;
        Ok(to_u64(count))
    }

    /// The first envelope that names bundle `bundle_id` in the bundle
    /// index, if any.
    pub fn bundle_seq(&self, bundle_id: &str) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = optional(
            self.conn
                .prepare_cached("SELECT min(seq) FROM bundles WHERE bundle_id = ?1")?
                .query_row(params![bundle_id], |row| row.get(0)),
        )?
        .flatten();
        Ok(seq.map(to_u64))
    }

    /// Rows in the bundle index.
    pub fn bundle_index_len(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM bundles")?
            .query_row([], |row| row.get(0))?;
        Ok(to_u64(count))
    }

    /// The newest archived bundle, if any.
    pub fn last_archived(&self) -> Result<Option<ArchivedRow>, StoreError> {
        let sql =
            format!("SELECT {ARCHIVED_COLUMNS} FROM archived ORDER BY first_segment DESC LIMIT 1");
        optional(self.conn.prepare_cached(&sql)?.query_row([], archived_row))?
            .map(finish_archived)
            .transpose()
    }

    /// Archived bundles holding any of segments `first..=last`, in order,
    /// at most `limit`.
    pub fn archived_covering(
        &self,
        first_segment: u64,
        last_segment: u64,
        limit: u32,
    ) -> Result<Vec<ArchivedRow>, StoreError> {
        let sql = format!(
            "SELECT {ARCHIVED_COLUMNS} FROM archived
             WHERE last_segment >= ?1 AND first_segment <= ?2
             ORDER BY first_segment LIMIT ?3"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows =
            statement.query(params![to_i64(first_segment), to_i64(last_segment), limit])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            found.push(finish_archived(archived_row(row)?)?);
        }
        Ok(found)
    }

    /// The newest pruning, if any: segments `1..=last_segment` are pruned.
    pub fn pruned_through(&self) -> Result<Option<PrunedRow>, StoreError> {
        let sql =
            format!("SELECT {PRUNED_COLUMNS} FROM pruned ORDER BY first_segment DESC LIMIT 1");
        optional(self.conn.prepare_cached(&sql)?.query_row([], pruned_row))
    }

    /// Every pruning, oldest first, at most `limit` after `after_segment`.
    pub fn prunings(&self, after_segment: u64, limit: u32) -> Result<Vec<PrunedRow>, StoreError> {
        let sql = format!(
            "SELECT {PRUNED_COLUMNS} FROM pruned WHERE first_segment > ?1 ORDER BY first_segment LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params![to_i64(after_segment), limit], pruned_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The newest segment sealed at or before `sealed_at_us`, if any
    /// (sealing times never decrease along segment ids).
    pub fn last_segment_sealed_by(&self, sealed_at_us: i64) -> Result<Option<u64>, StoreError> {
        let segment: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT max(segment_id) FROM segments
                 WHERE sealed_at_us IS NOT NULL AND sealed_at_us <= ?1",
            )?
            .query_row(params![sealed_at_us], |row| row.get(0))?;
        Ok(segment.map(to_u64))
    }

    /// The segment holding `seq`, if its row exists (pruned or not).
    pub fn segment_of_seq(&self, seq: u64) -> Result<Option<SegmentRow>, StoreError> {
        let sql = format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE first_seq <= ?1
             ORDER BY segment_id DESC LIMIT 1"
        );
        let found = optional(
            self.conn
                .prepare_cached(&sql)?
                .query_row(params![to_i64(seq)], segment_row),
        )?;
        Ok(found.filter(|segment| seq <= segment.last_seq))
    }

    /// The oldest envelope still stored, if any.
    pub fn first_envelope_seq(&self) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = optional(
            self.conn
                .prepare_cached("SELECT seq FROM envelopes ORDER BY seq LIMIT 1")?
                .query_row([], |row| row.get(0)),
        )?;
        Ok(seq.map(to_u64))
    }

    /// The file's size in pages, its free list, and its vacuum mode.
    pub fn space(&self) -> Result<SpaceStats, StoreError> {
        let pragma = |name: &str| -> Result<i64, StoreError> {
            Ok(self
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?)
        };
        Ok(SpaceStats {
            page_size: to_u64(pragma("page_size")?),
            page_count: to_u64(pragma("page_count")?),
            freelist_pages: to_u64(pragma("freelist_count")?),
            auto_vacuum: u8::try_from(pragma("auto_vacuum")?)
                .map_err(|_| StoreError::BadRow("PRAGMA auto_vacuum out of range".into()))?,
        })
    }

    /// Envelopes of one type (served by the `(type, seq)` index).
    pub fn count_of_type(&self, event_type: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM envelopes WHERE type = ?1")?
            .query_row(params![event_type], |row| row.get(0))?;
        Ok(to_u64(count))
    }

    /// A cheap liveness read (for readiness probes).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM segments LIMIT 1")?
            .query_row([], |_| Ok(()))
            .optional_ok()
    }

    /// The envelope query. Segment and time filters are first turned into a
    /// sequence range (receive time never decreases along `seq`), so every
    /// query is a `seq` range scan over the primary key or over one
    /// `(column, seq)` index.
    pub fn query(&self, filter: &QueryFilter) -> Result<QueryPage, StoreError> {
        let Some((low, high)) = self.seq_bounds(filter)? else {
            return Ok(QueryPage::default());
        };
        let (sql, extra) = query_sql(filter);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut values: Vec<rusqlite::types::Value> = vec![to_i64(low).into(), to_i64(high).into()];
        values.extend(extra);
        values.push(i64::from(filter.limit.saturating_add(1)).into());
        let mut rows = statement.query(rusqlite::params_from_iter(values))?;
        let mut page = QueryPage::default();
        while let Some(row) = rows.next()? {
            let envelope = finish_envelope(envelope_row(row)?)?;
            if page.rows.len() == filter.limit as usize {
                page.next_after_seq = page.rows.last().map(|last| last.seq);
                break;
            }
            page.rows.push(envelope);
        }
        Ok(page)
    }

    /// The query plan SQLite chooses for `filter` (for tests and operators).
    pub fn explain_query(&self, filter: &QueryFilter) -> Result<Vec<String>, StoreError> {
        let (sql, extra) = query_sql(filter);
        let mut values: Vec<rusqlite::types::Value> = vec![1_i64.into(), 2_i64.into()];
        values.extend(extra);
        values.push(i64::from(filter.limit).into());
        let mut statement = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let mut rows = statement.query(rusqlite::params_from_iter(values))?;
        let mut plan = Vec::new();
        while let Some(row) = rows.next()? {
            plan.push(row.get::<_, String>(3)?);
        }
        Ok(plan)
    }

    /// The plans of the two lookups that turn a time range into a seq range.
    pub fn explain_time_bounds(&self) -> Result<Vec<String>, StoreError> {
        let mut plan = Vec::new();
        for sql in [TIME_FROM_SQL, TIME_BEFORE_SQL] {
            let mut statement = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let mut rows = statement.query(params![0_i64])?;
            while let Some(row) = rows.next()? {
                plan.push(row.get::<_, String>(3)?);
            }
        }
        Ok(plan)
    }

    /// The inclusive seq range the filter allows, or `None` when empty.
    fn seq_bounds(&self, filter: &QueryFilter) -> Result<Option<(u64, u64)>, StoreError> {
        let mut low = filter.seq_min.unwrap_or(1).max(1);
        if let Some(after) = filter.after_seq {
            low = low.max(after.saturating_add(1));
        }
        let mut high = filter.seq_max.unwrap_or(u64::MAX >> 11);
        if let Some(segment_id) = filter.segment_id {
            let Some(segment) = self.segment(segment_id)? else {
                return Ok(None);
            };
            low = low.max(segment.first_seq);
            high = high.min(segment.last_seq);
        }
        if let Some(from) = filter.received_from_us {
            let first: Option<i64> = optional(
                self.conn
                    .prepare_cached(TIME_FROM_SQL)?
                    .query_row(params![from], |row| row.get(0)),
            )?;
            let Some(first) = first else {
                return Ok(None);
            };
            low = low.max(to_u64(first));
        }
        if let Some(before) = filter.received_before_us {
            let last: Option<i64> = optional(
                self.conn
                    .prepare_cached(TIME_BEFORE_SQL)?
                    .query_row(params![before], |row| row.get(0)),
            )?;
            let Some(last) = last else {
                return Ok(None);
            };
            high = high.min(to_u64(last));
        }
        Ok((low <= high).then_some((low, high)))
    }
}

const TIME_FROM_SQL: &str = "SELECT seq FROM envelopes INDEXED BY envelopes_received_at
     WHERE received_at_us >= ?1 ORDER BY received_at_us, seq LIMIT 1";
const TIME_BEFORE_SQL: &str = "SELECT seq FROM envelopes INDEXED BY envelopes_received_at
     WHERE received_at_us < ?1 ORDER BY received_at_us DESC, seq DESC LIMIT 1";

/// The main query for a filter: `?1`/`?2` are the seq bounds, then the
/// equality values, then the limit.
fn query_sql(filter: &QueryFilter) -> (String, Vec<rusqlite::types::Value>) {
    let index = if filter.event_type.is_some() {
        "INDEXED BY envelopes_type"
    } else if filter.actor.is_some() {
        "INDEXED BY envelopes_actor"
    } else if filter.kind.is_some() {
        "INDEXED BY envelopes_kind"
    } else {
        ""
    };
    let mut conditions = vec!["seq BETWEEN ?1 AND ?2".to_owned()];
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(event_type) = &filter.event_type {
        values.push(event_type.clone().into());
        conditions.push(format!("type = ?{}", values.len() + 2));
    }
    if let Some(actor) = &filter.actor {
        values.push(actor.clone().into());
        conditions.push(format!("actor = ?{}", values.len() + 2));
    }
    if let Some(kind) = filter.kind {
        values.push(i64::from(kind).into());
        conditions.push(format!("kind = ?{}", values.len() + 2));
    }
    let sql = format!(
        "SELECT {ENVELOPE_COLUMNS} FROM envelopes {index} WHERE {} ORDER BY seq LIMIT ?{}",
        conditions.join(" AND "),
        values.len() + 3
    );
    (sql, values)
}

trait OptionalOk {
    fn optional_ok(self) -> Result<(), StoreError>;
}

impl OptionalOk for rusqlite::Result<()> {
    fn optional_ok(self) -> Result<(), StoreError> {
        match self {
            Ok(()) | Err(rusqlite::Error::QueryReturnedNoRows) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// A small pool of read-only connections.
#[derive(Debug)]
pub struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    connections_max: usize,
    keys: Option<Arc<SubjectKeys>>,
}

impl ReaderPool {
    pub(crate) fn open(
        path: &Path,
        connections_max: usize,
        keys: Option<Arc<SubjectKeys>>,
    ) -> Result<Self, StoreError> {
        // Open one now so a bad path fails at start-up, not on first query.
        let first = open_read_only(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![first]),
            connections_max: connections_max.max(1),
            keys,
        })
    }

    /// Runs `read` on a pooled connection (opening one if none is idle).
    pub fn with<T>(
        &self,
        read: impl FnOnce(Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_read_only(&self.path)?,
        };
        let result = read(Reader::with_keys(&conn, self.keys.as_deref()));
        // A connection that hit an IO or corruption error is not reused.
        let reusable = !matches!(&result, Err(error) if error.needs_reopen());
        if reusable {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.connections_max {
                idle.push(conn);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SegmentRow, Store, StoreOptions};

    /// Every filter shape's cached statement runs again without being
    /// compiled again (`keep_plans_fixed`).
    #[test]
    fn query_statements_are_not_compiled_again_per_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store =
            Store::open(&dir.path().join("arxi.db"), &StoreOptions::default()).expect("opens");
        let txn = store.transaction().expect("txn");
        txn.insert_segment(&SegmentRow {
            segment_id: 1,
            first_seq: 1,
            last_seq: 1,
            envelope_count: 0,
            bytes: 0,
            opened_at_us: 0,
            sealed_at_us: None,
        })
        .expect("segment");
        for seq in 1..=20_u64 {
            txn.insert_envelope(&EnvelopeRow {
                seq,
                segment_id: 1,
                received_at_us: 1_000 + i64::try_from(seq).expect("small"),
                kind: u8::from(seq % 2 == 0),
                event_type: format!("t.{}", seq % 3),
                actor: (seq % 4 != 0).then(|| format!("actor-{}", seq % 5)),
                hash: [u8::try_from(seq).expect("small"); 32],
                body: format!("{{\"seq\":{seq}}}").into_bytes(),
            })
            .expect("insert");
        }
        txn.commit().expect("commit");
        let pool = store.reader_pool(1).expect("pool");
        let base = QueryFilter {
            segment_id: None,
            seq_min: None,
            seq_max: None,
            received_from_us: None,
            received_before_us: None,
            kind: None,
            event_type: None,
            actor: None,
            after_seq: None,
            limit: 3,
        };
        let filters = [
            base.clone(),
            QueryFilter {
                event_type: Some("t.1".into()),
                ..base.clone()
            },
            QueryFilter {
                actor: Some("actor-1".into()),
                ..base.clone()
            },
            QueryFilter {
                kind: Some(1),
                seq_min: Some(4),
                ..base.clone()
            },
            QueryFilter {
                received_from_us: Some(1_005),
                received_before_us: Some(1_015),
                ..base
            },
        ];
        for filter in &filters {
            let reprepared = pool
                .with(|reader| {
                    for after_seq in [None, Some(2), Some(5)] {
                        let page = reader.query(&QueryFilter {
                            after_seq,
                            ..filter.clone()
                        })?;
                        assert!(page.rows.len() <= 3, "{filter:?}");
                    }
                    let statement = reader.conn.prepare_cached(&query_sql(filter).0)?;
                    Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
                })
                .expect("queries");
            assert_eq!(reprepared, 0, "{filter:?}");
        }
    }
}
