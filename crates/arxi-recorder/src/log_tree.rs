//! The log tree in the recorder: one RFC 6962 tree over every envelope
//! (`arxi_format::log_tree`), its inner nodes stored at tile levels in the
//! plan's own transaction, its checkpoints signed as C2SP notes with the
//! recorder key (key name = the log origin).
//!
//! Recovery ([`ensure`]) checks that the stored nodes match the envelopes:
//! how far each level reaches (an index read per level), and the last node
//! of each level recomputed from the level below. `verify-data` checks
//! every node. A database from before the tree (or one whose
//! nodes disagree) has its nodes rebuilt from the envelope hashes, a page
//! at a time.

use std::ops::Range;

use arxi_format::log_tree::{self, Frontier, HashSource, StoredNode, TILE_HEIGHT, TreeError};
use arxi_format::merkle::node_hash;
use arxi_format::note::{Checkpoint, Note, NoteError, NoteSigner, SignatureType, VerifierKey};
use arxi_format::seal::envelope_leaf;
use arxi_format::{Hash32, PublicKey, Signer, SignerError, Timestamp};
use arxi_store::{CosignatureRow, LogCheckpointRow, LogNodeRow, Reader, Store, StoreError};

use crate::OpenError;

/// The highest level a node is stored at (2^56 leaves).
const LEVEL_MAX: u32 = 56;
/// Envelopes read per page while nodes are rebuilt.
const REBUILD_PAGE: u64 = 65_536;

/// The tree's hashes from the store: leaves from the envelope hashes
/// (leaf `i` is envelope `seq = i + 1`), inner nodes from `log_nodes`.
#[derive(Clone, Copy)]
pub(crate) struct StoreHashes<'a>(pub(crate) Reader<'a>);

impl HashSource for StoreHashes<'_> {
    type Error = StoreError;

    fn leaves(&self, range: Range<u64>) -> Result<Vec<Hash32>, StoreError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.0.envelope_hashes(range.start + 1, range.end)?;
        if rows.len() as u64 != range.end - range.start {
            return Err(StoreError::BadRow(format!(
                "envelopes {}..={}: {} of them stored (pruned or missing)",
                range.start + 1,
                range.end,
                rows.len()
            )));
        }
        Ok(rows
            .into_iter()
            .map(|(_, hash)| envelope_leaf(&Hash32(hash)))
            .collect())
    }

    fn nodes(&self, level: u32, range: Range<u64>) -> Result<Vec<Hash32>, StoreError> {
        Ok(self
            .0
            .log_nodes(level, range.start, range.end)?
            .into_iter()
            .map(Hash32)
            .collect())
    }
}

/// Store rows for the nodes a [`Frontier::push`] completed.
pub(crate) fn node_rows(nodes: Vec<StoredNode>) -> impl Iterator<Item = LogNodeRow> {
    nodes.into_iter().map(|node| LogNodeRow {
        level: node.level,
        index: node.index,
        hash: node.hash.0,
    })
}

/// The tree error of a proof read, as a store error (sizes are checked by
/// the callers, so a proof error here is a bug or a damaged store).
pub(crate) fn tree_error(error: TreeError<StoreError>) -> StoreError {
    match error {
        TreeError::Source(error) => error,
        TreeError::Proof(error) => StoreError::BadRow(format!("log tree: {error}")),
    }
}

/// The tree as of `size` leaves, from the stored hashes.
pub(crate) fn load(reader: Reader<'_>, size: u64) -> Result<Frontier, StoreError> {
    Frontier::load(&StoreHashes(reader), size)
}

/// What recovery did to the stored tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreeRecovery {
    /// Fewer than 256 envelopes: no stored node to check.
    #[default]
    Small,
    /// Node counts and the last node of every level matched the envelopes.
    Verified,
    /// The nodes were rebuilt from the envelope hashes (a database from
    /// before the tree, or nodes that disagreed with the envelopes).
    Rebuilt,
}

/// Makes the stored nodes match the first `size` envelopes (see the
/// module documentation).
pub(crate) fn ensure(store: &mut Store, size: u64) -> Result<TreeRecovery, OpenError> {
    if size < 1 << TILE_HEIGHT && store.reader().log_node_extent(TILE_HEIGHT)? == 0 {
        return Ok(TreeRecovery::Small);
    }
    match check(store.reader(), size) {
        Ok(()) => return Ok(TreeRecovery::Verified),
        Err(problem) => tracing::warn!(
            problem,
            envelopes = size,
            "the stored log tree does not match the envelopes; rebuilding it"
        ),
    }
    rebuild(store, size)?;
    check(store.reader(), size).map_err(|problem| {
        OpenError::Inconsistent(format!("log tree still wrong after a rebuild: {problem}"))
    })?;
    Ok(TreeRecovery::Rebuilt)
}

/// Node counts per level, and the last node of each level against the 256
/// hashes below it.
fn check(reader: Reader<'_>, size: u64) -> Result<(), String> {
    let source = StoreHashes(reader);
    let fail = |error: StoreError| error.to_string();
    let mut level = TILE_HEIGHT;
    while level <= LEVEL_MAX {
        let expected = size >> level;
        // The extent (an index read), not a count: start-up stays fast at
        // any size; verify-data counts every node.
        let stored = reader.log_node_extent(level).map_err(fail)?;
        if stored != expected {
            return Err(format!(
                "nodes stored up to index {stored} at level {level}, {expected} expected"
            ));
        }
        if expected > 0 {
            let index = expected - 1;
            let stored = source.nodes(level, index..index + 1).map_err(fail)?;
            let below = level - TILE_HEIGHT;
            let first = index << TILE_HEIGHT;
            let children = if below == 0 {
                source.leaves(first..first + (1 << TILE_HEIGHT))
            } else {
                source.nodes(below, first..first + (1 << TILE_HEIGHT))
            };
            match children {
                Ok(children) if fold(&children) != stored[0] => {
                    return Err(format!("node {level}/{index} does not match its subtree"));
                }
                Ok(_) => {}
                // Pruned envelopes: the node cannot be recomputed here.
                Err(StoreError::BadRow(_)) if below == 0 => {}
                Err(error) => return Err(fail(error)),
            }
        }
        level += TILE_HEIGHT;
    }
    Ok(())
}

fn fold(hashes: &[Hash32]) -> Hash32 {
    let mut hashes = hashes.to_vec();
    while hashes.len() > 1 {
        hashes = hashes
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    hashes[0]
}

/// Rebuilds every stored node from the envelope hashes, one transaction
/// per page of [`REBUILD_PAGE`] envelopes.
fn rebuild(store: &mut Store, size: u64) -> Result<(), OpenError> {
    let txn = store.transaction()?;
    txn.truncate_log_nodes(0)?;
    txn.commit()?;
    let mut frontier = Frontier::new();
    while frontier.size() < size {
        let first = frontier.size() + 1;
        let last = (first + REBUILD_PAGE - 1).min(size);
        let hashes = store.reader().envelope_hashes(first, last)?;
        if hashes.len() as u64 != last + 1 - first {
            return Err(OpenError::Inconsistent(format!(
                "the log tree cannot be rebuilt: envelopes {first}..={last} are not all stored"
            )));
        }
        let mut rows = Vec::new();
        for (_, hash) in hashes {
            rows.extend(node_rows(frontier.push(envelope_leaf(&Hash32(hash)))));
        }
        let txn = store.transaction()?;
        txn.insert_log_nodes(&rows)?;
        txn.commit()?;
        tracing::info!(done = frontier.size(), of = size, "rebuilding the log tree");
    }
    Ok(())
}

/// The C2SP signer of the log's checkpoints: the recorder key under the
/// origin's name.
pub(crate) fn note_signer(origin: &str, key: &Signer) -> Result<NoteSigner, String> {
    NoteSigner::with_signer(origin, SignatureType::Ed25519, key.clone())
        .map_err(|error| format!("log origin {origin:?}: {error}"))
}

/// The verifier key witnesses and clients configure for this log.
pub fn log_verifier_key(origin: &str, key: &PublicKey) -> Option<VerifierKey> {
    VerifierKey::new(origin, SignatureType::Ed25519, key.clone()).ok()
}

/// A checkpoint the recorder signed (no cosignatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheckpoint {
    /// The tree size.
    pub size: u64,
    /// The root at that size.
    pub root: Hash32,
    /// The signed note.
    pub note: Note,
    /// When it was signed.
    pub created_at: Timestamp,
}

impl LogCheckpoint {
    /// Signs the checkpoint of the tree `(size, root)`; fails only when
    /// the signer makes no signature.
    pub(crate) fn sign(
        signer: &NoteSigner,
        size: u64,
        root: Hash32,
        created_at: Timestamp,
    ) -> Result<Self, SignerError> {
        let text = Checkpoint::new(signer.verifier().name(), size, root).text();
        let mut note = Note::new(text).expect("a checkpoint text is a valid note text");
        match note.sign(signer, 0) {
            Ok(()) => {}
            Err(NoteError::Signer(why)) => return Err(SignerError(why)),
            Err(error) => unreachable!("one signature fits a new checkpoint note: {error}"),
        }
        Ok(Self {
            size,
            root,
            note,
            created_at,
        })
    }

    /// The store row.
    pub(crate) fn row(&self) -> LogCheckpointRow {
        LogCheckpointRow {
            size: self.size,
            root: self.root.0,
            note: self.note.to_string(),
            created_at_us: self.created_at.unix_micros(),
        }
    }

    /// A row read back (untrusted: parsed and checked against its columns).
    pub(crate) fn from_row(row: &LogCheckpointRow) -> Result<Self, StoreError> {
        let bad = |what: String| StoreError::BadRow(format!("log checkpoint {}: {what}", row.size));
        let note = Note::parse(row.note.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(|e| bad(e.to_string()))?;
        if checkpoint.size != row.size || checkpoint.root.0 != row.root {
            return Err(bad(
                "the note does not match its size and root columns".into()
            ));
        }
        let created_at = Timestamp::from_unix_micros(row.created_at_us)
            .ok_or_else(|| bad("created_at_us is outside 1970..=9999".into()))?;
        Ok(Self {
            size: row.size,
            root: Hash32(row.root),
            note,
            created_at,
        })
    }
}

/// A witness's cosignature of a stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The checkpoint's tree size.
    pub size: u64,
    /// The witness key's name.
    pub witness: String,
    /// The witness key's ID.
    pub key_id: u32,
    /// The time the cosignature states (POSIX seconds).
    pub time: u64,
    /// The signature line (`— name base64`, newline included).
    pub line: String,
}

impl Cosignature {
    pub(crate) fn row(self, received_at_us: i64) -> CosignatureRow {
        CosignatureRow {
            size: self.size,
            witness: self.witness,
            key_id: self.key_id,
            time: self.time,
            line: self.line,
            received_at_us,
        }
    }

    pub(crate) fn from_row(row: CosignatureRow) -> Self {
        Self {
            size: row.size,
            witness: row.witness,
            key_id: row.key_id,
            time: row.time,
            line: row.line,
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub(crate) fn inclusion_proof(
    reader: Reader<'_>,
    index: u64,
    size: u64,
) -> Result<Vec<Hash32>, StoreError> {
    log_tree::inclusion_proof(&StoreHashes(reader), index, size).map_err(tree_error)
}

/// The consistency proof from `old` to `new` leaves.
pub(crate) fn consistency_proof(
    reader: Reader<'_>,
    old: u64,
    new: u64,
) -> Result<Vec<Hash32>, StoreError> {
    log_tree::consistency_proof(&StoreHashes(reader), old, new).map_err(tree_error)
}
