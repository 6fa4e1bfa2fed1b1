//! Recovery at open: resume the chain from what is committed, complete a
//! half-finished seal, and verify the tail before accepting new writes.
//!
//! The database is the source of truth. The writer's in-memory state (chain
//! head, open segment, Merkle state, last seal) is derived from it here, at
//! open and again after any failed batch. Rows read back are checked, not
//! trusted: the last `startup_verification_depth` envelopes are re-parsed,
//! re-hashed, signature-checked and chain-checked, and the seals of the
//! segments they touch are recomputed; the first bad record is named.
//!
//! Recovery also brings the bundle index up to date with the
//! `arxi.bundle.built` envelopes and cleans the bundle directory
//! (`bundle_dir.rs`), before anything is served.

use std::collections::HashMap;

use arxi_format::envelope::{Envelope, Kind};
use arxi_format::merkle::RootBuilder;
use arxi_format::seal::{Seal, SealBody, envelope_leaf};
use arxi_format::{ChainHead, Hash32, PublicKey, Signer, Timestamp};
use arxi_store::{EnvelopeRow, QueryFilter, Reader, SealRow, SegmentRow, Store, StoreError};

use crate::bundle_dir::BundleDirReport;
use crate::chain::{ChainState, OpenSegment};
use crate::control;
use crate::control_types;
use crate::log_tree::{self, LogCheckpoint, TreeRecovery};
use crate::{OpenError, RecorderConfig};

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Envelopes verified (hash, signature, chain, row columns).
    pub verified_envelopes: u64,
    /// Seals verified (hash, signature, Merkle root, seal chain).
    pub verified_seals: u64,
    /// A segment whose seal was completed at open.
    pub completed_seal: Option<u64>,
    /// `"none"` (empty store), `"clean"` (last envelope records a stop) or
    /// `"unclean"` (crash or kill).
    pub previous_shutdown: &'static str,
    /// The bundle index was rebuilt from the `arxi.bundle.built` envelopes
    /// (a database from before the index, or an index that disagreed).
    pub bundle_index_rebuilt: bool,
    /// What was done to the bundle directory.
    pub bundle_files: BundleDirReport,
    /// What was checked or rebuilt of the stored log tree.
    pub log_tree: TreeRecovery,
}

fn inconsistent(problem: impl Into<String>) -> OpenError {
    OpenError::Inconsistent(problem.into())
}

/// A time column read back: a valid timestamp, or a typed refusal naming
/// the row (rows are untrusted input).
fn row_time(column: &str, key: u64, micros: i64) -> Result<Timestamp, OpenError> {
    Timestamp::from_unix_micros(micros).ok_or_else(|| {
        OpenError::Store(StoreError::BadRow(format!(
            "{column} of row {key} is {micros}, outside 1970..=9999"
        )))
    })
}

/// Derives the writer state from the committed rows.
pub(crate) fn load_state(reader: Reader<'_>) -> Result<ChainState, OpenError> {
    let last = reader.last_envelope()?;
    let head = last.as_ref().map_or(ChainHead::GENESIS, |row| ChainHead {
        seq: row.seq,
        hash: Hash32(row.hash),
    });
    let last_received_at = match &last {
        None => Timestamp::EPOCH,
        Some(row) => row_time("envelopes.received_at_us", row.seq, row.received_at_us)?,
    };
    let last_seal_hash = reader
        .last_seals(1)?
        .first()
        .map_or(Hash32::ZERO, |seal| Hash32(seal.hash));
    let last_segment = reader.last_segment()?;
    let open = open_segment(reader, last_segment.as_ref(), head.seq)?;
    Ok(ChainState {
        head,
        last_received_at,
        open,
        last_seal_hash,
        last_segment_id: last_segment.map_or(0, |segment| segment.segment_id),
        tree: log_tree::load(reader, head.seq)?,
        last_checkpoint: last_checkpoint(reader, head.seq)?,
    })
}

/// The open segment's writer state (its Merkle state re-derived from its
/// envelopes), after checking its row against the chain.
fn open_segment(
    reader: Reader<'_>,
    last_segment: Option<&SegmentRow>,
    head_seq: u64,
) -> Result<Option<OpenSegment>, OpenError> {
    Ok(match last_segment {
        None => {
            if head_seq != 0 {
                return Err(inconsistent("envelopes exist but no segment does"));
            }
            None
        }
        Some(segment) if segment.is_sealed() => {
            if segment.last_seq != head_seq {
                return Err(inconsistent(format!(
                    "segment {} is sealed at seq {} but the chain continues to seq {}",
                    segment.segment_id, segment.last_seq, head_seq
                )));
            }
            None
        }
        Some(segment) => {
            let hashes = reader.envelope_hashes(segment.first_seq, head_seq)?;
            let expected = head_seq + 1 - segment.first_seq;
            if hashes.len() as u64 != expected
                || segment.envelope_count != expected
                || segment.last_seq != head_seq
            {
                return Err(inconsistent(format!(
                    "open segment {} records {} envelopes up to seq {}, the chain has {} up to seq {}",
                    segment.segment_id,
                    segment.envelope_count,
                    segment.last_seq,
                    hashes.len(),
                    head_seq
                )));
            }
            let mut root = RootBuilder::new();
            for (_, hash) in &hashes {
                root.push(envelope_leaf(&Hash32(*hash)));
            }
            Some(OpenSegment {
                segment_id: segment.segment_id,
                first_seq: segment.first_seq,
                envelope_count: segment.envelope_count,
                bytes: segment.bytes,
                opened_at: row_time(
                    "segments.opened_at_us",
                    segment.segment_id,
                    segment.opened_at_us,
                )?,
                root,
            })
        }
    })
}

/// The newest stored checkpoint, checked against the tree it claims.
fn last_checkpoint(reader: Reader<'_>, size: u64) -> Result<Option<LogCheckpoint>, OpenError> {
    let Some(row) = reader.last_log_checkpoint()? else {
        return Ok(None);
    };
    let checkpoint = LogCheckpoint::from_row(&row)?;
    if checkpoint.size > size {
        return Err(inconsistent(format!(
            "a checkpoint of {} envelopes is stored, the chain has {size}",
            checkpoint.size
        )));
    }
    let root = arxi_format::log_tree::root(&log_tree::StoreHashes(reader), checkpoint.size)
        .map_err(log_tree::tree_error)?;
    if root != checkpoint.root {
        return Err(inconsistent(format!(
            "the checkpoint of {} envelopes does not match the log tree",
            checkpoint.size
        )));
    }
    Ok(Some(checkpoint))
}

/// If the open segment's last envelope is its `arxi.segment.sealed` record
/// but the seal row is missing, writes the seal now (a seal is complete or
/// absent, never half there). Returns the segment completed.
pub(crate) fn complete_half_seal(
    store: &mut Store,
    config: &RecorderConfig,
    key: &Signer,
) -> Result<Option<u64>, OpenError> {
    let state = load_state(store.reader())?;
    let Some(open) = &state.open else {
        return Ok(None);
    };
    let Some(last) = store.reader().envelope(state.head.seq)? else {
        return Ok(None);
    };
    if last.event_type != control_types::SEGMENT_SEALED || last.segment_id != open.segment_id {
        return Ok(None);
    }
    let seal = SealBody {
        recorder_id: config.recorder_id.clone(),
        segment_id: open.segment_id,
        first_seq: open.first_seq,
        last_seq: state.head.seq,
        count: open.envelope_count,
        merkle_root: open.root.root(),
        last_envelope_hash: state.head.hash,
        prev_seal_hash: state.last_seal_hash,
        sealed_at: row_time("envelopes.received_at_us", last.seq, last.received_at_us)?,
        key_id: key.id().clone(),
    }
    .try_sign(key)
    .map_err(|error| OpenError::Signer(error.0))?;
    let txn = store.transaction()?;
    txn.seal_segment(
        last.received_at_us,
        &SealRow {
            segment_id: open.segment_id,
            hash: seal.hash.0,
            body: seal.to_canonical_bytes(),
        },
    )?;
    txn.commit()?;
    tracing::warn!(
        segment_id = open.segment_id,
        "completed a half-finished seal"
    );
    Ok(Some(open.segment_id))
}

fn invalid_envelope(seq: u64, problem: impl Into<String>) -> OpenError {
    OpenError::EnvelopeInvalid {
        seq,
        problem: problem.into(),
    }
}

/// Checks one envelope row: the body parses, the columns agree with it, the
/// hash recomputes and the signature verifies under a known key.
pub(crate) fn check_envelope_row(
    row: &EnvelopeRow,
    keys: &HashMap<String, PublicKey>,
) -> Result<Envelope, OpenError> {
    let seq = row.seq;
    let envelope = Envelope::parse(&row.body).map_err(|e| invalid_envelope(seq, e.to_string()))?;
    let body = &envelope.body;
    let columns_agree = body.seq == row.seq
        && body.segment_id == row.segment_id
        && body.received_at.unix_micros() == row.received_at_us
        && u8::from(body.kind == Kind::Control) == row.kind
        && body.event_type == row.event_type
        && body.actor == row.actor
        && envelope.hash.0 == row.hash;
    if !columns_agree {
        return Err(invalid_envelope(
            seq,
            "index columns disagree with the stored envelope",
        ));
    }
    envelope
        .check_hash()
        .map_err(|e| invalid_envelope(seq, e.to_string()))?;
    let key = keys
        .get(body.key_id.as_str())
        .ok_or_else(|| invalid_envelope(seq, format!("signed by unknown key {}", body.key_id)))?;
    envelope
        .verify_signature(key)
        .map_err(|e| invalid_envelope(seq, e.to_string()))?;
    Ok(envelope)
}

/// Checks the committed content kept beside a version 2 envelope: a row
/// exists, and, unless erased, its content matches the envelope's
/// commitment.
pub(crate) fn check_payload_row(reader: &Reader<'_>, envelope: &Envelope) -> Result<(), OpenError> {
    let Some(commitment) = envelope.body.payload.commitment() else {
        return Ok(());
    };
    let seq = envelope.body.seq;
    let row = reader
        .payload(seq)?
        .ok_or_else(|| invalid_envelope(seq, "a version 2 envelope without its payload row"))?;
    let Some((salt, content)) = row.content else {
        return Ok(());
    };
    if arxi_format::payload::commitment(&arxi_format::payload::Salt(salt), &content) != *commitment
    {
        return Err(invalid_envelope(
            seq,
            "the stored payload does not match the envelope's commitment",
        ));
    }
    Ok(())
}

/// The recorder's keys by id.
pub(crate) fn load_keys(reader: &Reader<'_>) -> Result<HashMap<String, PublicKey>, OpenError> {
    let mut keys = HashMap::new();
    for row in reader.keys()? {
        let key = PublicKey::from_bytes(&row.public_key)
            .map_err(|e| inconsistent(format!("key {}: {e}", row.key_id)))?;
        if key.id().as_str() != row.key_id {
            return Err(inconsistent(format!(
                "key row {} holds another key",
                row.key_id
            )));
        }
        keys.insert(row.key_id, key);
    }
    Ok(keys)
}

/// Where tail verification starts (the last `depth` envelopes, never in
/// the pruned prefix) and the chain head before it: genesis, the envelope
/// before, or, right after a pruned prefix, the last pruned envelope as
/// its segment's seal carries it (the prefix's seals and archive records
/// are checked first). Returns the seals of the prefix checked too.
fn tail_anchor(
    reader: &Reader<'_>,
    last_seq: u64,
    depth: u64,
    keys: &HashMap<String, PublicKey>,
) -> Result<(u64, ChainHead, u64), OpenError> {
    let pruned = reader.pruned_through()?;
    let first_kept = pruned.as_ref().map_or(1, |row| row.last_seq + 1);
    let from = last_seq.saturating_sub(depth - 1).max(first_kept);
    if from == 1 {
        return Ok((from, ChainHead::GENESIS, 0));
    }
    if let Some(row) = pruned.as_ref().filter(|_| from == first_kept) {
        let (anchor, seals) = verify_pruned_prefix(reader, row, keys)?;
        return Ok((from, anchor, seals));
    }
    let anchor = reader
        .envelope(from - 1)?
        .ok_or_else(|| invalid_envelope(from - 1, "missing"))?;
    let head = ChainHead {
        seq: anchor.seq,
        hash: Hash32(anchor.hash),
    };
    Ok((from, head, 0))
}

/// Verifies the last `depth` envelopes and the seals of the segments they
/// touch. Returns (envelopes, seals) verified.
pub(crate) fn verify_tail(reader: &Reader<'_>, depth: u64) -> Result<(u64, u64), OpenError> {
    let Some(last) = reader.last_envelope()? else {
        return Ok((0, 0));
    };
    if depth == 0 {
        return Ok((0, 0));
    }
    let keys = load_keys(reader)?;
    let (from, mut head, pruned_seals) = tail_anchor(reader, last.seq, depth, &keys)?;
    let mut last_received = 0_i64;
    let mut verified = 0_u64;
    let mut first_segment = None;
    let mut failure = None;
    reader.for_each_envelope(from, last.seq, |row| {
        let step = (|| {
            let envelope = check_envelope_row(&row, &keys)?;
            check_payload_row(reader, &envelope)?;
            head.check_next(&envelope.body)
                .map_err(|e| invalid_envelope(row.seq, e.to_string()))?;
            if row.received_at_us < last_received {
                return Err(invalid_envelope(row.seq, "receive time goes backwards"));
            }
            Ok(envelope)
        })();
        match step {
            Ok(envelope) => {
                head = ChainHead::after(&envelope);
                last_received = row.received_at_us;
                first_segment.get_or_insert(row.segment_id);
                verified += 1;
                Ok(true)
            }
            Err(error) => {
                failure = Some(error);
                Ok(false)
            }
        }
    })?;
    if let Some(error) = failure {
        return Err(error);
    }
    if verified != last.seq - from + 1 {
        return Err(invalid_envelope(head.seq + 1, "missing from the chain"));
    }
    let last_segment = reader
        .last_segment()?
        .map_or(0, |segment| segment.segment_id);
    let mut seals = pruned_seals;
    for segment_id in first_segment.unwrap_or(last_segment)..=last_segment {
        if verify_seal(reader, segment_id, &keys)? {
            seals += 1;
        }
    }
    Ok((verified, seals))
}

/// A seal's signature under the key it names, which the database must
/// hold.
pub(crate) fn check_seal_signature(
    seal: &Seal,
    segment_id: u64,
    keys: &HashMap<String, PublicKey>,
) -> Result<(), OpenError> {
    let key = keys.get(seal.body.key_id.as_str()).ok_or_else(|| {
        invalid_seal(
            segment_id,
            format!("signed by unknown key {}", seal.body.key_id),
        )
    })?;
    seal.verify_signature(key)
        .map_err(|e| invalid_seal(segment_id, e.to_string()))
}

/// Verifies the pruned prefix: every pruned segment's seal (hash,
/// signature, range, the seal chain from the first) and that an archive
/// record covers it. Returns the chain head after the last pruned envelope
/// (from its seal) and the seals verified. The envelopes themselves are
/// in the archive, verified there (`arxi-archive verify`).
pub(crate) fn verify_pruned_prefix(
    reader: &Reader<'_>,
    pruned: &arxi_store::PrunedRow,
    keys: &HashMap<String, PublicKey>,
) -> Result<(ChainHead, u64), OpenError> {
    let archived_through = reader.last_archived()?.map_or(0, |row| row.last_segment);
    if archived_through < pruned.last_segment {
        return Err(inconsistent(format!(
            "segments up to {} are pruned but only up to {archived_through} archived",
            pruned.last_segment
        )));
    }
    let mut previous_hash = Hash32::ZERO;
    let mut next_seq = 1;
    let mut last_envelope_hash = Hash32::ZERO;
    for segment_id in 1..=pruned.last_segment {
        let row = reader
            .seal(segment_id)?
            .ok_or_else(|| invalid_seal(segment_id, "pruned segment without a seal"))?;
        let seal = Seal::parse(&row.body).map_err(|e| invalid_seal(segment_id, e.to_string()))?;
        seal.check_hash()
            .map_err(|e| invalid_seal(segment_id, e.to_string()))?;
        check_seal_signature(&seal, segment_id, keys)?;
        let body = &seal.body;
        if seal.hash.0 != row.hash
            || body.segment_id != segment_id
            || body.first_seq != next_seq
            || body.prev_seal_hash != previous_hash
        {
            return Err(invalid_seal(
                segment_id,
                "the pruned prefix's seal chain breaks here",
            ));
        }
        previous_hash = seal.hash;
        next_seq = body.last_seq + 1;
        last_envelope_hash = body.last_envelope_hash;
    }
    if next_seq != pruned.last_seq + 1 {
        return Err(inconsistent(format!(
            "the pruning ends at seq {}, the pruned seals at {}",
            pruned.last_seq,
            next_seq - 1
        )));
    }
    Ok((
        ChainHead {
            seq: pruned.last_seq,
            hash: last_envelope_hash,
        },
        pruned.last_segment,
    ))
}

fn invalid_seal(segment_id: u64, problem: impl Into<String>) -> OpenError {
    OpenError::SealInvalid {
        segment_id,
        problem: problem.into(),
    }
}

/// Verifies a segment's seal if it has one; returns whether it had one.
pub(crate) fn verify_seal(
    reader: &Reader<'_>,
    segment_id: u64,
    keys: &HashMap<String, PublicKey>,
) -> Result<bool, OpenError> {
    let segment = reader
        .segment(segment_id)?
        .ok_or_else(|| inconsistent(format!("segment {segment_id} is missing")))?;
    let Some(row) = reader.seal(segment_id)? else {
        if segment.is_sealed() {
            return Err(invalid_seal(
                segment_id,
                "segment is sealed but its seal is missing",
            ));
        }
        return Ok(false);
    };
    let seal = Seal::parse(&row.body).map_err(|e| invalid_seal(segment_id, e.to_string()))?;
    seal.check_hash()
        .map_err(|e| invalid_seal(segment_id, e.to_string()))?;
    if seal.hash.0 != row.hash || seal.body.segment_id != segment_id {
        return Err(invalid_seal(
            segment_id,
            "seal row columns disagree with the seal",
        ));
    }
    check_seal_signature(&seal, segment_id, keys)?;
    if seal.body.first_seq != segment.first_seq || seal.body.last_seq != segment.last_seq {
        return Err(invalid_seal(
            segment_id,
            "seal range differs from the segment's",
        ));
    }
    let hashes: Vec<Hash32> = reader
        .envelope_hashes(segment.first_seq, segment.last_seq)?
        .into_iter()
        .map(|(_, hash)| Hash32(hash))
        .collect();
    seal.body
        .check_envelopes(&hashes)
        .map_err(|e| invalid_seal(segment_id, e.to_string()))?;
    let previous = if segment_id == 1 {
        Hash32::ZERO
    } else {
        reader
            .seal(segment_id - 1)?
            .map(|previous| Hash32(previous.hash))
            .ok_or_else(|| invalid_seal(segment_id, "previous segment has no seal"))?
    };
    if seal.body.prev_seal_hash != previous {
        return Err(invalid_seal(
            segment_id,
            format!(
                "prev_seal_hash {} does not match the previous seal {}",
                seal.body.prev_seal_hash, previous
            ),
        ));
    }
    Ok(true)
}

/// Everything recovery does at open, in order: completes a half-written
/// seal, derives the writer state, verifies the tail, brings the bundle
/// index up to date and cleans the bundle directory.
pub(crate) fn recover(
    store: &mut Store,
    config: &RecorderConfig,
    key: &Signer,
) -> Result<(ChainState, RecoveryReport), OpenError> {
    let head = store.reader().last_envelope()?.map_or(0, |row| row.seq);
    let log_tree = log_tree::ensure(store, head)?;
    let completed_seal = complete_half_seal(store, config, key)?;
    let state = load_state(store.reader())?;
    let (verified_envelopes, verified_seals) =
        verify_tail(&store.reader(), config.startup_verification_depth)?;
    let bundle_index_rebuilt = index_bundles(store)?;
    let bundle_files = match &config.bundle_dir {
        Some(dir) => crate::bundle_dir::recover(&store.reader(), dir)?,
        None => BundleDirReport::default(),
    };
    let report = RecoveryReport {
        verified_envelopes,
        verified_seals,
        completed_seal,
        previous_shutdown: previous_shutdown(store)?,
        bundle_index_rebuilt,
        bundle_files,
        log_tree,
    };
    Ok((state, report))
}

/// Envelopes read per page while the bundle index is rebuilt.
const INDEX_PAGE: u32 = 1_000;

/// Makes the bundle index hold one row per `arxi.bundle.built` envelope.
/// The writer adds the row in the envelope's own transaction, so the counts
/// differ only for a database from before the index (schema version 1) or
/// one changed outside arxi; then the index is rebuilt in one transaction,
/// a page of envelopes at a time. Returns whether it was rebuilt.
pub(crate) fn index_bundles(store: &mut Store) -> Result<bool, OpenError> {
    let reader = store.reader();
    let recorded = reader.count_of_type(control_types::BUNDLE_BUILT)?;
    if recorded == reader.bundle_index_len()? {
        return Ok(false);
    }
    let txn = store.transaction()?;
    txn.clear_bundle_index()?;
    let mut filter = QueryFilter {
        event_type: Some(control_types::BUNDLE_BUILT.to_owned()),
        limit: INDEX_PAGE,
        ..QueryFilter::default()
    };
    loop {
        let page = txn.reader().query(&filter)?;
        for row in &page.rows {
            let record = control::parse_bundle_built(row)
                .map_err(|problem| invalid_envelope(row.seq, problem))?;
            txn.index_bundle(row.seq, &record.id)?;
        }
        match page.next_after_seq {
            Some(after) => filter.after_seq = Some(after),
            None => break,
        }
    }
    txn.commit()?;
    tracing::warn!(
        bundles = recorded,
        "rebuilt the bundle index from the arxi.bundle.built envelopes"
    );
    Ok(true)
}

/// How the previous run ended, judged from the last envelope.
pub(crate) fn previous_shutdown(store: &Store) -> Result<&'static str, OpenError> {
    Ok(match store.reader().last_envelope()? {
        None => "none",
        Some(row) if row.event_type == control_types::RECORDER_STOPPED => "clean",
        Some(_) => "unclean",
    })
}

/// Verifies a recorder database without writing to it (opened read-only,
/// never migrated, inside one read snapshot, so a running recorder may go
/// on writing): the last `depth` envelopes (all of them when `None`) and
/// the seals of the segments they touch. Returns (envelopes, seals)
/// verified; the error names the first bad record.
pub fn verify_database(
    path: &std::path::Path,
    depth: Option<u64>,
) -> Result<(u64, u64), OpenError> {
    let store = arxi_store::ReadOnlyStore::open(path)?;
    store.snapshot(|reader| {
        Ok(load_state(reader).and_then(|_| verify_tail(&reader, depth.unwrap_or(u64::MAX))))
    })?
}
