//! The log tree: one RFC 6962 Merkle tree over every envelope the recorder
//! ever wrote (leaf `i` is envelope `seq = i + 1`, with the leaf hash the
//! segment trees use, [`crate::seal::envelope_leaf`]), across segments, and
//! its proofs for any tree size, computed from stored hashes in O(log n)
//! reads.
//!
//! What is stored: the leaf hashes are the envelopes' own (the store keeps
//! every envelope hash), and of the inner nodes only those at levels that
//! are multiples of [`TILE_HEIGHT`] (4, 8, 12, ...): the root of each
//! perfect subtree of 16, 256, 4,096, ... leaves, one stored hash per 15
//! leaves in all. Any other perfect subtree is recomputed from at most
//! 2^3 hashes one stored level down, so a proof reads a few hundred
//! hashes at most, whatever the size. (The layout of C2SP tlog-tiles with
//! tiles 16 wide, without the partial tiles: a tree size that is not a
//! multiple of 16 is served from the leaves.) Height 8 read up to 2^7
//! hashes per level and made a proof in a 10,000,000-envelope log take
//! about 5 times longer (Docs/benchmarks.md).
//!
//! What it does not do: read storage. Callers give a [`HashSource`]; the
//! recorder's reads the store, tests read memory.

use std::ops::Range;

use crate::digest::Hash32;
use crate::merkle::{ProofError, node_hash};

/// Levels between stored nodes: a tile is 2^4 = 16 hashes wide.
pub const TILE_HEIGHT: u32 = 4;

/// Where the tree's hashes come from.
pub trait HashSource {
    /// The error reading them.
    type Error;

    /// The leaf hashes of leaves `range` (all of them, in order).
    fn leaves(&self, range: Range<u64>) -> Result<Vec<Hash32>, Self::Error>;

    /// The stored node hashes at `level` (a positive multiple of
    /// [`TILE_HEIGHT`]) for node indexes `range` (all of them, in order).
    fn nodes(&self, level: u32, range: Range<u64>) -> Result<Vec<Hash32>, Self::Error>;
}

/// Why a proof could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError<E> {
    /// The sizes or index do not describe a proof (`index >= size`,
    /// `old > new`, a size of 0).
    Proof(ProofError),
    /// The hash source failed.
    Source(E),
}

impl<E> From<ProofError> for TreeError<E> {
    fn from(error: ProofError) -> Self {
        Self::Proof(error)
    }
}

/// The hash of the perfect subtree of 2^`level` leaves at node `index`.
pub fn subtree<S: HashSource>(source: &S, level: u32, index: u64) -> Result<Hash32, S::Error> {
    let base = level - level % TILE_HEIGHT;
    if base == level && level > 0 {
        let stored = source.nodes(level, index..index + 1)?;
        return Ok(only(stored));
    }
    // 2^(level - base) hashes at the tile level below, folded up.
    let width = 1_u64 << (level - base);
    let first = index << (level - base);
    let mut hashes = if base == 0 {
        source.leaves(first..first + width)?
    } else {
        source.nodes(base, first..first + width)?
    };
    assert_eq!(
        hashes.len() as u64,
        width,
        "a hash source returns every hash of the range it is asked for"
    );
    while hashes.len() > 1 {
        hashes = hashes
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    Ok(only(hashes))
}

fn only(mut hashes: Vec<Hash32>) -> Hash32 {
    assert_eq!(
        hashes.len(),
        1,
        "a hash source returns every hash of the range it is asked for"
    );
    hashes.pop().expect("one hash, checked above")
}

/// MTH(D[start..end]) of RFC 6962 for a range that starts at a multiple of
/// the largest power of two not above its length (every range the proof
/// recursions ask for does).
fn range_hash<S: HashSource>(source: &S, start: u64, end: u64) -> Result<Hash32, S::Error> {
    let length = end - start;
    if length.is_power_of_two() && start.is_multiple_of(length) {
        let level = length.trailing_zeros();
        return subtree(source, level, start >> level);
    }
    let split = split_point(length);
    let left = range_hash(source, start, start + split)?;
    let right = range_hash(source, start + split, end)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two strictly less than `length` (`length >= 2`).
fn split_point(length: u64) -> u64 {
    1 << (63 - (length - 1).leading_zeros())
}

/// The root of the tree of the first `size` leaves (`size >= 1`).
pub fn root<S: HashSource>(source: &S, size: u64) -> Result<Hash32, TreeError<S::Error>> {
    if size == 0 {
        return Err(ProofError::InvalidSizes { size1: 0, size2: 0 }.into());
    }
    range_hash(source, 0, size).map_err(TreeError::Source)
}

/// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree of
/// the first `size` leaves.
pub fn inclusion_proof<S: HashSource>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash32>, TreeError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut position) = (0, size, index);
    // Walk down from the root; siblings are pushed top down, so reverse.
    while end - start > 1 {
        let split = split_point(end - start);
        if position < split {
            proof.push(range_hash(source, start + split, end).map_err(TreeError::Source)?);
            end = start + split;
        } else {
            proof.push(range_hash(source, start, start + split).map_err(TreeError::Source)?);
            start += split;
            position -= split;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof (RFC 9162 §2.1.4.1) from the tree of the first
/// `old` leaves to the tree of the first `new` (`1 <= old <= new`).
pub fn consistency_proof<S: HashSource>(
    source: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash32>, TreeError<S::Error>> {
    if old == 0 || old > new {
        return Err(ProofError::InvalidSizes {
            size1: old,
            size2: new,
        }
        .into());
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut first, mut complete) = (0, new, old, true);
    // SUBPROOF(m, D[n], b), iteratively; siblings top down, reversed below.
    loop {
        if first == end - start {
            if !complete {
                proof.push(range_hash(source, start, end).map_err(TreeError::Source)?);
            }
            break;
        }
        let split = split_point(end - start);
        if first <= split {
            proof.push(range_hash(source, start + split, end).map_err(TreeError::Source)?);
            end = start + split;
        } else {
            proof.push(range_hash(source, start, start + split).map_err(TreeError::Source)?);
            start += split;
            first -= split;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The right edge of the tree as leaves are appended: the perfect subtrees
/// the tree is made of (one per set bit of its size), enough to give the
/// root after every append and to say which nodes to store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Peak hashes by level, the highest level first (`size`'s set bits).
    peaks: Vec<(u32, Hash32)>,
}

/// A node to store: the root of a completed perfect subtree at a tile level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredNode {
    /// A positive multiple of [`TILE_HEIGHT`].
    pub level: u32,
    /// The node's index at that level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash32,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree of the first `size` leaves, read from `source` (recovery:
    /// one subtree hash per set bit of `size`).
    pub fn load<S: HashSource>(source: &S, size: u64) -> Result<Self, S::Error> {
        let mut peaks = Vec::new();
        let mut start = 0_u64;
        for level in (0..64).rev() {
            if size & (1 << level) != 0 {
                peaks.push((level, subtree(source, level, start >> level)?));
                start += 1 << level;
            }
        }
        Ok(Self { size, peaks })
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the nodes it completed that are stored.
    pub fn push(&mut self, leaf: Hash32) -> Vec<StoredNode> {
        let mut stored = Vec::new();
        let mut carry = (0_u32, leaf);
        let mut index = self.size;
        while let Some(&(level, hash)) = self.peaks.last() {
            if level != carry.0 {
                break;
            }
            self.peaks.pop();
            carry = (level + 1, node_hash(&hash, &carry.1));
            index >>= 1;
            if carry.0.is_multiple_of(TILE_HEIGHT) {
                stored.push(StoredNode {
                    level: carry.0,
                    index,
                    hash: carry.1,
                });
            }
        }
        self.peaks.push(carry);
        self.size += 1;
        stored
    }

    /// The root (`None` for the empty tree).
    pub fn root(&self) -> Option<Hash32> {
        let mut peaks = self.peaks.iter().rev();
        let (_, mut root) = *peaks.next()?;
        for (_, peak) in peaks {
            root = node_hash(peak, &root);
        }
        Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::cell::Cell;
    use std::collections::BTreeMap;

    use crate::merkle;

    /// Leaves and the stored nodes a frontier produced, in memory; counts
    /// the hashes read.
    #[derive(Default)]
    struct Memory {
        leaves: Vec<Hash32>,
        nodes: BTreeMap<(u32, u64), Hash32>,
        read: Cell<u64>,
    }

    impl HashSource for Memory {
        type Error = String;

        fn leaves(&self, range: Range<u64>) -> Result<Vec<Hash32>, String> {
            self.read.set(self.read.get() + (range.end - range.start));
            let range = usize::try_from(range.start).expect("small")
                ..usize::try_from(range.end).expect("small");
            self.leaves
                .get(range)
                .map(<[Hash32]>::to_vec)
                .ok_or_else(|| "leaves past the end".to_owned())
        }

        fn nodes(&self, level: u32, range: Range<u64>) -> Result<Vec<Hash32>, String> {
            assert!(
                level > 0 && level.is_multiple_of(TILE_HEIGHT),
                "only tile levels are stored"
            );
            self.read.set(self.read.get() + (range.end - range.start));
            range
                .map(|index| {
                    self.nodes
                        .get(&(level, index))
                        .copied()
                        .ok_or_else(|| format!("node {level}/{index} not stored"))
                })
                .collect()
        }
    }

    fn tree(size: u64) -> Memory {
        let mut memory = Memory::default();
        let mut frontier = Frontier::new();
        for i in 0..size {
            let leaf = merkle::leaf_hash(&i.to_be_bytes());
            memory.leaves.push(leaf);
            for node in frontier.push(leaf) {
                assert!(
                    memory
                        .nodes
                        .insert((node.level, node.index), node.hash)
                        .is_none()
                );
            }
        }
        memory
    }

    /// Against the in-memory reference proofs (themselves checked against
    /// the transparency-dev vectors): every root, inclusion and consistency
    /// proof of trees across the tile boundaries.
    #[test]
    fn proofs_from_stored_tiles_match_the_reference() {
        let memory = tree(70_000);
        let sizes = [
            1, 2, 3, 255, 256, 257, 511, 512, 513, 1_000, 65_535, 65_536, 65_537, 70_000,
        ];
        for &size in &sizes {
            let leaves = &memory.leaves[..usize::try_from(size).expect("small")];
            assert_eq!(root(&memory, size), Ok(merkle::root(leaves)), "root {size}");
            for index in [0, size / 3, size / 2, size - 1] {
                assert_eq!(
                    inclusion_proof(&memory, index, size),
                    Ok(merkle::inclusion_proof(leaves, index).expect("reference")),
                    "inclusion {index} of {size}"
                );
            }
            for &old in sizes.iter().filter(|&&old| old <= size) {
                assert_eq!(
                    consistency_proof(&memory, old, size),
                    Ok(merkle::consistency_proof(leaves, old).expect("reference")),
                    "consistency {old} -> {size}"
                );
            }
        }
        assert!(matches!(
            inclusion_proof(&memory, 5, 5),
            Err(TreeError::Proof(_))
        ));
        assert!(matches!(
            consistency_proof(&memory, 6, 5),
            Err(TreeError::Proof(_))
        ));
        assert!(matches!(
            consistency_proof(&memory, 0, 5),
            Err(TreeError::Proof(_))
        ));
    }

    /// A proof reads O(log n) hashes: at most 2^7 per tile level per
    /// subtree, whatever the tree's size.
    #[test]
    fn proofs_read_a_bounded_number_of_hashes() {
        let memory = tree(70_000);
        memory.read.set(0);
        inclusion_proof(&memory, 12_345, 69_999).expect("proof");
        let inclusion_reads = memory.read.get();
        memory.read.set(0);
        consistency_proof(&memory, 12_345, 69_999).expect("proof");
        let consistency_reads = memory.read.get();
        let tile = 1 << TILE_HEIGHT;
        assert!(inclusion_reads <= 3 * 17 * tile, "{inclusion_reads}");
        assert!(consistency_reads <= 3 * 17 * tile, "{consistency_reads}");
    }

    #[test]
    fn the_frontier_root_is_the_tree_root_at_every_size() {
        let mut frontier = Frontier::new();
        let mut leaves = Vec::new();
        for i in 0..600_u64 {
            let leaf = merkle::leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            frontier.push(leaf);
            assert_eq!(
                frontier.root(),
                Some(merkle::root(&leaves)),
                "root at {}",
                i + 1
            );
        }
    }

    #[test]
    fn a_frontier_loads_from_storage() {
        let memory = tree(70_000);
        for size in [1, 256, 257, 65_536, 69_999] {
            let loaded = Frontier::load(&memory, size).expect("load");
            let leaves = &memory.leaves[..usize::try_from(size).expect("small")];
            assert_eq!(loaded.root(), Some(merkle::root(leaves)));
            assert_eq!(loaded.size(), size);
        }
        assert_eq!(Frontier::new().root(), None);
    }
}
