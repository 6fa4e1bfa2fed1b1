//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migrations only ever append: a released migration is never edited. Each
//! runs in its own transaction together with the version bump, so a crash
//! leaves the database at the old version or the new one.
//!
//! Index keys are chosen to grow with `seq` (measured: increasing keys keep
//! inserts cheap). Every query filter is served by an index: segment and time
//! ranges become `seq` ranges (receive time never decreases along `seq`), and
//! type, actor and kind filters use `(column, seq)` indexes.

use rusqlite::Connection;

use crate::StoreError;

/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = 10;

const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE store_meta (
         namespace     TEXT    NOT NULL,
         key           TEXT    NOT NULL,
         value         BLOB    NOT NULL,
         created_at_us INTEGER NOT NULL,
         PRIMARY KEY (namespace, key)
     ) WITHOUT ROWID;
     CREATE INDEX store_meta_age ON store_meta (namespace, created_at_us, key);

     CREATE TABLE segments (
         segment_id     INTEGER PRIMARY KEY,
         first_seq      INTEGER NOT NULL,
         last_seq       INTEGER NOT NULL,
         envelope_count INTEGER NOT NULL,
         bytes          INTEGER NOT NULL,
         opened_at_us   INTEGER NOT NULL,
         sealed_at_us   INTEGER
     );

     CREATE TABLE envelopes (
         seq            INTEGER PRIMARY KEY,
         segment_id     INTEGER NOT NULL,
         received_at_us INTEGER NOT NULL,
         kind           INTEGER NOT NULL CHECK (kind IN (0, 1)),
         type           TEXT    NOT NULL,
         actor          TEXT,
         hash           BLOB    NOT NULL CHECK (length(hash) = 32),
         body           BLOB    NOT NULL
     );
     CREATE INDEX envelopes_received_at ON envelopes (received_at_us);
     CREATE INDEX envelopes_type ON envelopes (type, seq);
     CREATE INDEX envelopes_actor ON envelopes (actor, seq) WHERE actor IS NOT NULL;
     CREATE INDEX envelopes_kind ON envelopes (kind, seq);

     CREATE TABLE seals (
         segment_id INTEGER PRIMARY KEY REFERENCES segments (segment_id),
         hash       BLOB    NOT NULL CHECK (length(hash) = 32),
         body       BLOB    NOT NULL
     );

     CREATE TABLE attachments (
         sha256 BLOB    PRIMARY KEY CHECK (length(sha256) = 32),
         size   INTEGER NOT NULL,
         data   BLOB    NOT NULL
     );

     CREATE TABLE keys (
         key_id      TEXT    PRIMARY KEY,
         public_key  BLOB    NOT NULL CHECK (length(public_key) = 32),
         first_seq   INTEGER NOT NULL,
         added_at_us INTEGER NOT NULL
     );",
    // Version 2: which bundle ids an `arxi.bundle.built` envelope names,
    // written by the recorder in the envelope's own transaction (the store
    // does not read envelope JSON; the recorder fills it for databases
    // from version 1 at open).
    "CREATE TABLE bundles (
         seq       INTEGER PRIMARY KEY REFERENCES envelopes (seq),
         bundle_id TEXT    NOT NULL
     );
     CREATE INDEX bundles_id ON bundles (bundle_id, seq);",
    // Version 3: the archive and retention state. `archived` holds one row
    // per bundle uploaded to the archive (written with its
    // `arxi.segment.archived` envelope), `pruned` one row per pruning
    // (written with its `arxi.segment.pruned` envelope); pruned segments
    // always form a prefix 1..=n. `attachment_refs` keeps, per attachment,
    // the newest envelope that references it, so pruning a prefix of the
    // chain deletes exactly the attachments nothing later references. For
    // rows from before this version that is unknown, so it is set to the
    // head at migration: such attachments go once everything up to the
    // head of that day is pruned, never earlier.
    "CREATE TABLE archived (
         first_segment  INTEGER PRIMARY KEY,
         last_segment   INTEGER NOT NULL,
         first_seq      INTEGER NOT NULL,
         last_seq       INTEGER NOT NULL,
         object_key     TEXT    NOT NULL,
         sha256         BLOB    NOT NULL CHECK (length(sha256) = 32),
         size           INTEGER NOT NULL,
         seq            INTEGER NOT NULL,
         archived_at_us INTEGER NOT NULL
     );
     CREATE TABLE pruned (
         first_segment INTEGER PRIMARY KEY,
         last_segment  INTEGER NOT NULL,
         first_seq     INTEGER NOT NULL,
         last_seq      INTEGER NOT NULL,
         seq           INTEGER NOT NULL,
         pruned_at_us  INTEGER NOT NULL
     );
     CREATE TABLE attachment_refs (
         sha256   BLOB    PRIMARY KEY CHECK (length(sha256) = 32),
         last_seq INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX attachment_refs_last_seq ON attachment_refs (last_seq, sha256);
     INSERT INTO attachment_refs (sha256, last_seq)
         SELECT sha256, (SELECT coalesce(max(seq), 0) FROM envelopes) FROM attachments;",
    // Version 4: the log tree over every envelope (its inner nodes at tile
    // levels; leaves are the envelope hashes), the checkpoints the recorder
    // signed and the witnesses' cosignatures. The recorder fills
    // `log_nodes` for older databases at open.
    "CREATE TABLE log_nodes (
         level INTEGER NOT NULL CHECK (level > 0),
         node  INTEGER NOT NULL,
         hash  BLOB    NOT NULL CHECK (length(hash) = 32),
         PRIMARY KEY (level, node)
     ) WITHOUT ROWID;

     CREATE TABLE log_checkpoints (
         size          INTEGER PRIMARY KEY CHECK (size > 0),
         root          BLOB    NOT NULL CHECK (length(root) = 32),
         note          TEXT    NOT NULL,
         created_at_us INTEGER NOT NULL
     );

     CREATE TABLE log_cosignatures (
         size           INTEGER NOT NULL REFERENCES log_checkpoints (size),
         witness        TEXT    NOT NULL,
         key_id         INTEGER NOT NULL,
         time           INTEGER NOT NULL,
         line           TEXT    NOT NULL,
         received_at_us INTEGER NOT NULL,
         PRIMARY KEY (witness, key_id, size)
     ) WITHOUT ROWID;
     CREATE INDEX log_cosignatures_size ON log_cosignatures (size);",
    // Version 5, payload commitments and erasure: the
    // committed content of version 2 envelopes, kept beside the envelope
    // row. `subject` is the envelope's subject (committed or in clear), so
    // erasure can find a subject's envelopes; erasure empties `subject`,
    // `salt` and `content` and sets `erased_by` (the seq of the
    // `arxi.payload.erased` envelope). Rows are deleted only with their
    // envelope rows, by retention (the archive holds them then): a row
    // without content is an erased payload, not a missing one.
    "CREATE TABLE payloads (
         seq       INTEGER PRIMARY KEY REFERENCES envelopes (seq),
         subject   TEXT,
         salt      BLOB    CHECK (salt IS NULL OR length(salt) = 32),
         content   BLOB,
         erased_by INTEGER,
         CHECK ((erased_by IS NULL) = (content IS NOT NULL AND salt IS NOT NULL))
     );
     CREATE INDEX payloads_subject ON payloads (subject, seq) WHERE subject IS NOT NULL;",
    // Version 6: compact idempotency records for appends
    // (`idempotency.rs`): the answer is rebuilt from the envelopes, so a
    // record keeps only the hashes, the envelopes and the time. Records
    // written before stay in `store_meta` until they expire.
    "CREATE TABLE idempotency (
         id            INTEGER PRIMARY KEY,
         scope         BLOB    NOT NULL UNIQUE CHECK (length(scope) = 16),
         request_hash  BLOB    NOT NULL CHECK (length(request_hash) = 16),
         first_seq     INTEGER NOT NULL,
         count         INTEGER NOT NULL CHECK (count > 0),
         labels        INTEGER NOT NULL,
         created_at_us INTEGER NOT NULL
     );",
    // Version 7: payloads encrypted at rest under per-subject keys
    // (`subject_keys.rs`). A sealed row has `key_id` and the nonce and
    // ciphertext (of salt and content) in `content`; it keeps neither the
    // subject nor the salt in clear. A withheld row holds nothing and is
    // not erased: restored from an archive bundle that withheld the
    // payload. The table is rebuilt (its CHECKs change); rows written
    // before keep their form.
    "CREATE TABLE payloads_v7 (
         seq       INTEGER PRIMARY KEY REFERENCES envelopes (seq),
         subject   TEXT,
         salt      BLOB    CHECK (salt IS NULL OR length(salt) = 32),
         content   BLOB,
         erased_by INTEGER,
         key_id    BLOB    CHECK (key_id IS NULL OR length(key_id) = 16),
         CHECK (erased_by IS NULL OR content IS NULL),
         CHECK (content IS NOT NULL OR (subject IS NULL AND salt IS NULL AND key_id IS NULL)),
         CHECK (content IS NULL OR (key_id IS NULL) = (salt IS NOT NULL)),
         CHECK (key_id IS NULL OR subject IS NULL)
     );
     INSERT INTO payloads_v7 (seq, subject, salt, content, erased_by)
         SELECT seq, subject, salt, content, erased_by FROM payloads;
     DROP TABLE payloads;
     ALTER TABLE payloads_v7 RENAME TO payloads;
     CREATE INDEX payloads_subject ON payloads (subject, seq) WHERE subject IS NOT NULL;
     CREATE INDEX payloads_key ON payloads (key_id, seq) WHERE key_id IS NOT NULL;",
    // Version 8: RFC 3161 timestamp tokens of seals (`timestamps.rs`), one
    // per seal and timestamp authority.
    "CREATE TABLE timestamps (
         segment_id     INTEGER NOT NULL REFERENCES seals (segment_id),
         tsa            TEXT    NOT NULL,
         imprint        BLOB    NOT NULL CHECK (length(imprint) = 32),
         token          BLOB    NOT NULL,
         gen_time_us    INTEGER NOT NULL,
         received_at_us INTEGER NOT NULL,
         PRIMARY KEY (segment_id, tsa)
     ) WITHOUT ROWID;
     CREATE INDEX segments_sealed_at ON segments (sealed_at_us) WHERE sealed_at_us IS NOT NULL;",
    // Version 9: envelope bodies written from now on are packed (their hex
    // digit runs held as binary, `packed.rs`); rows written before stay as
    // they are and read the same. No table changes: the version keeps
    // older builds, which read bodies verbatim, away from such a database.
    "",
    // Version 10: `payloads.seq` loses its foreign key: the check cost
    // every version 2 append a lookup of the envelope row it had just
    // written. The store checks instead ([`crate::RowWriter`] in memory,
    // the other inserts with a lookup of their own). Done by
    // [`drop_payload_foreign_key`] after this (empty) step.
    "",
];

/// The schema version whose migration drops the foreign key of
/// `payloads.seq`.
const PAYLOAD_FOREIGN_KEY_DROPPED: i64 = 10;

/// The declaration of `payloads.seq` before and after version 10.
const PAYLOAD_SEQ_WITH_KEY: &str = "seq       INTEGER PRIMARY KEY REFERENCES envelopes (seq),";
const PAYLOAD_SEQ_WITHOUT_KEY: &str = "seq       INTEGER PRIMARY KEY,";

/// Removes the foreign key of `payloads.seq` by rewriting the table's
/// declaration in the schema table, SQLite's documented procedure for
/// dropping a constraint without rebuilding the table (lang_altertable,
/// "Making Other Kinds Of Table Schema Changes"): rows and pages do not
/// change, so the step takes the same time for any number of rows. Inside
/// the migration's transaction; the schema cookie is raised so every other
/// connection reads the new declaration.
fn drop_payload_foreign_key(transaction: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let cookie: i64 = transaction.query_row("PRAGMA schema_version", [], |row| row.get(0))?;
    transaction.execute_batch("PRAGMA writable_schema = ON;")?;
    let changed = transaction.execute(
        "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2)
         WHERE type = 'table' AND name = 'payloads' AND instr(sql, ?1) > 0",
        [PAYLOAD_SEQ_WITH_KEY, PAYLOAD_SEQ_WITHOUT_KEY],
    );
    transaction.execute_batch("PRAGMA writable_schema = OFF;")?;
    if changed? != 1 {
        return Err(StoreError::Other(
            "schema version 10: the payloads table's declaration is not the one version 7 wrote"
                .into(),
        ));
    }
    transaction.pragma_update(None, "schema_version", cookie + 1)?;
    let keys: i64 = transaction.query_row(
        "SELECT count(*) FROM pragma_foreign_key_list('payloads')",
        [],
        |row| row.get(0),
    )?;
    if keys != 0 {
        return Err(StoreError::Other(
            "schema version 10: the payloads table still has a foreign key".into(),
        ));
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let target = i64::try_from(index).expect("a handful of migrations") + 1;
        if target <= current {
            continue;
        }
        let transaction = conn.transaction()?;
        transaction.execute_batch(migration)?;
        if target == PAYLOAD_FOREIGN_KEY_DROPPED {
            drop_payload_foreign_key(&transaction)?;
        }
        transaction.pragma_update(None, "user_version", target)?;
        transaction.commit()?;
    }
    Ok(())
}

/// Refuses a database of a newer schema (readers do not migrate).
pub(crate) fn check_version(conn: &Connection) -> Result<(), StoreError> {
    let current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// True for a database without any table yet (a new file).
pub(crate) fn is_empty(conn: &Connection) -> Result<bool, StoreError> {
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    Ok(tables == 0)
}

fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn).expect("migrates");
        assert_eq!(version(&conn).expect("version"), SCHEMA_VERSION);
        migrate(&mut conn).expect("second run is a no-op");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        assert_eq!(
            migrate(&mut conn),
            Err(StoreError::SchemaTooNew {
                found: SCHEMA_VERSION + 1,
                supported: SCHEMA_VERSION
            })
        );
    }
}
