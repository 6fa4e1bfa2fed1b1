//! RFC 6962 / RFC 9162 Merkle trees over SHA-256: roots, inclusion proofs,
//! consistency proofs, and their verification.
//!
//! Hashing (RFC 6962 §2.1): a leaf hash is SHA-256(0x00 || data), an interior
//! node SHA-256(0x01 || left || right), the root of the empty tree
//! SHA-256(""). In arxi a segment's leaves are its envelope hashes in
//! sequence order: leaf data is the 32 raw bytes of an envelope hash.
//!
//! Edge cases adopted (RFC 9162 leaves them open; these match the
//! transparency-dev vectors):
//! - an inclusion proof needs `index < size`; nothing is included in the
//!   empty tree;
//! - a consistency proof from size 0 is an error, even 0 to 0 (the empty tree
//!   is a prefix of every tree, so there is nothing to prove);
//! - a consistency proof between equal sizes is the empty proof, valid iff the
//!   two roots are byte-equal;
//! - a consistency proof from a larger to a smaller size is an error.
//!
//! Roots are computed in O(log n) memory by [`RootBuilder`]; proof generation
//! takes the full list of leaf hashes (a segment's, bounded by the
//! auto-seal count).

use std::fmt;

use crate::digest::Hash32;

/// SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash32 {
    Hash32::of_parts(&[&[0x00], data])
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    Hash32::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash32 {
    Hash32::of(b"")
}

/// The Merkle tree hash of a list of leaf hashes (already leaf-hashed).
pub fn root(leaf_hashes: &[Hash32]) -> Hash32 {
    let mut builder = RootBuilder::new();
    for leaf in leaf_hashes {
        builder.push(*leaf);
    }
    builder.root()
}

/// Streaming root computation: push leaf hashes in order, read the root at
/// any time. Memory is one hash per set bit of the leaf count.
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    /// Roots of complete subtrees, largest first; `stack[i]` covers
    /// `2^heights[i]` leaves.
    stack: Vec<(u32, Hash32)>,
    size: u64,
}

impl RootBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash32) {
        let mut height = 0;
        let mut hash = leaf;
        while let Some(&(top_height, top_hash)) = self.stack.last() {
            if top_height != height {
                break;
            }
            self.stack.pop();
            hash = node_hash(&top_hash, &hash);
            height += 1;
        }
        self.stack.push((height, hash));
        self.size += 1;
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Hash32 {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut hash)) = iter.next() else {
            return empty_root();
        };
        // Fold the smaller right-hand subtrees into the larger left ones.
        for (_, left) in iter {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// Inclusion asked for an index at or beyond the tree size.
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Consistency asked from size 0, or from a larger to a smaller tree.
    InvalidSizes {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    WrongProofLength {
        /// Hashes the sizes call for.
        expected: usize,
        /// Hashes supplied.
        found: usize,
    },
    /// A hash in untrusted input that is not 32 bytes long.
    MalformedHash {
        /// Which input: `leaf`, `root`, `root1`, `root2` or `proof`.
        what: &'static str,
        /// Its length in bytes.
        length: usize,
    },
    /// The proof is well formed but recomputes to a different root.
    RootMismatch {
        /// The root the proof recomputes.
        computed: Hash32,
        /// The root it was checked against.
        expected: Hash32,
    },
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not below tree size {size}")
            }
            Self::InvalidSizes { size1, size2 } => {
                write!(f, "no consistency proof from size {size1} to size {size2}")
            }
            Self::WrongProofLength { expected, found } => {
                write!(f, "proof has {found} hashes, the sizes call for {expected}")
            }
            Self::MalformedHash { what, length } => {
                write!(f, "{what} hash is {length} bytes, not 32")
            }
            Self::RootMismatch { computed, expected } => {
                write!(f, "proof recomputes root {computed}, expected {expected}")
            }
        }
    }
}

impl std::error::Error for ProofError {}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The audit path (RFC 9162 §2.1.3.1) of leaf `index` in `leaf_hashes`.
pub fn inclusion_proof(leaf_hashes: &[Hash32], index: u64) -> Result<Vec<Hash32>, ProofError> {
    let size = leaf_hashes.len() as u64;
    let position = usize::try_from(index)
        .ok()
        .filter(|&position| position < leaf_hashes.len())
        .ok_or(ProofError::IndexOutOfRange { index, size })?;
    let mut proof = Vec::new();
    path(position, leaf_hashes, &mut proof);
    Ok(proof)
}

fn path(position: usize, leaves: &[Hash32], proof: &mut Vec<Hash32>) {
    if leaves.len() <= 1 {
        return;
    }
    let split = split_point(leaves.len());
    if position < split {
        path(position, &leaves[..split], proof);
        proof.push(root(&leaves[split..]));
    } else {
        path(position - split, &leaves[split..], proof);
        proof.push(root(&leaves[..split]));
    }
}

/// The consistency proof (RFC 9162 §2.1.4.1) from the first `size1` leaves
/// to all of `leaf_hashes`.
pub fn consistency_proof(leaf_hashes: &[Hash32], size1: u64) -> Result<Vec<Hash32>, ProofError> {
    let size2 = leaf_hashes.len() as u64;
    let first = usize::try_from(size1)
        .ok()
        .filter(|&first| first >= 1 && first <= leaf_hashes.len())
        .ok_or(ProofError::InvalidSizes { size1, size2 })?;
    let mut proof = Vec::new();
    subproof(first, leaf_hashes, true, &mut proof);
    Ok(proof)
}

fn subproof(first: usize, leaves: &[Hash32], complete: bool, proof: &mut Vec<Hash32>) {
    if first == leaves.len() {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let split = split_point(leaves.len());
    if first <= split {
        subproof(first, &leaves[..split], complete, proof);
        proof.push(root(&leaves[split..]));
    } else {
        subproof(first - split, &leaves[split..], false, proof);
        proof.push(root(&leaves[..split]));
    }
}

/// Recomputes the root from an inclusion proof (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion_proof(
    leaf: &Hash32,
    index: u64,
    size: u64,
    proof: &[Hash32],
) -> Result<Hash32, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_length(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    let mut node_index = index;
    let mut last_index = size - 1;
    let mut hash = *leaf;
    for sibling in proof {
        if !node_index.is_multiple_of(2) || node_index == last_index {
            hash = node_hash(sibling, &hash);
            while node_index.is_multiple_of(2) && node_index != 0 {
                node_index >>= 1;
                last_index >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        node_index >>= 1;
        last_index >>= 1;
    }
    Ok(hash)
}

/// Checks an inclusion proof against a root.
pub fn verify_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    proof: &[Hash32],
    expected_root: &Hash32,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if computed == *expected_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch {
            computed,
            expected: *expected_root,
        })
    }
}

/// The number of hashes in an inclusion proof for `index < size`.
fn inclusion_proof_length(index: u64, size: u64) -> usize {
    // Hashes along the path: one per level where the node has a sibling.
    // The "inner" part is where index and size-1 share the subtree;
    // the "border" part is the right edge of the tree.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Checks a consistency proof between two roots (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash32,
    root2: &Hash32,
    proof: &[Hash32],
) -> Result<(), ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::InvalidSizes { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                found: proof.len(),
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch {
                computed: *root1,
                expected: *root2,
            })
        };
    }
    let expected = consistency_proof_length(size1, size2);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    // If size1 is a power of two, the old root itself starts the path.
    let mut path: Vec<Hash32> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let mut node_index = size1 - 1;
    let mut last_index = size2 - 1;
    while !node_index.is_multiple_of(2) {
        node_index >>= 1;
        last_index >>= 1;
    }
    let mut old_hash = path[0];
    let mut new_hash = path[0];
    for sibling in &path[1..] {
        if last_index == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                found: proof.len(),
            });
        }
        if !node_index.is_multiple_of(2) || node_index == last_index {
            old_hash = node_hash(sibling, &old_hash);
            new_hash = node_hash(sibling, &new_hash);
            while node_index.is_multiple_of(2) && node_index != 0 {
                node_index >>= 1;
                last_index >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, sibling);
        }
        node_index >>= 1;
        last_index >>= 1;
    }
    if old_hash != *root1 {
        return Err(ProofError::RootMismatch {
            computed: old_hash,
            expected: *root1,
        });
    }
    if new_hash != *root2 {
        return Err(ProofError::RootMismatch {
            computed: new_hash,
            expected: *root2,
        });
    }
    Ok(())
}

/// The number of hashes in a consistency proof for `0 < size1 < size2`.
fn consistency_proof_length(size1: u64, size2: u64) -> usize {
    let inner = 64 - ((size1 - 1) ^ (size2 - 1)).leading_zeros();
    let border = ((size1 - 1) >> inner).count_ones();
    let shift = (size1 - 1).trailing_ones().min(inner);
    // One hash per level above the shared prefix, minus the levels where the
    // old tree's complete left subtrees are implicit, plus one for the
    // starting node unless size1 is a power of two (then root1 is it).
    let start = usize::from(!size1.is_power_of_two());
    (inner - shift + border) as usize + start
}

/// Proof verification over raw bytes, as read from untrusted proof documents:
/// every hash must be exactly 32 bytes, except that two equal-size trees are
/// consistent when their roots are byte-equal whatever their length (the
/// empty proof says nothing about hash length).
pub mod wire {
    use super::{Hash32, ProofError};

    fn hash(what: &'static str, bytes: &[u8]) -> Result<Hash32, ProofError> {
        <[u8; 32]>::try_from(bytes)
            .map(Hash32)
            .map_err(|_| ProofError::MalformedHash {
                what,
                length: bytes.len(),
            })
    }

    fn proof_hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash32>, ProofError> {
        proof.iter().map(|element| hash("proof", element)).collect()
    }

    /// [`super::verify_inclusion`] over bytes.
    pub fn verify_inclusion(
        leaf: &[u8],
        index: u64,
        size: u64,
        proof: &[Vec<u8>],
        root: &[u8],
    ) -> Result<(), ProofError> {
        let leaf = hash("leaf", leaf)?;
        let root = hash("root", root)?;
        super::verify_inclusion(&leaf, index, size, &proof_hashes(proof)?, &root)
    }

    /// [`super::verify_consistency`] over bytes.
    pub fn verify_consistency(
        size1: u64,
        size2: u64,
        root1: &[u8],
        root2: &[u8],
        proof: &[Vec<u8>],
    ) -> Result<(), ProofError> {
        if size1 != 0 && size1 == size2 && proof.is_empty() && root1 == root2 {
            return Ok(());
        }
        let root1 = hash("root1", root1)?;
        let root2 = hash("root2", root2)?;
        super::verify_consistency(size1, size2, &root1, &root2, &proof_hashes(proof)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(count: usize) -> Vec<Hash32> {
        (0..count)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    /// The reference definition (RFC 9162 §2.1.1), recursive.
    fn reference_root(leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let split = split_point(n);
                node_hash(
                    &reference_root(&leaves[..split]),
                    &reference_root(&leaves[split..]),
                )
            }
        }
    }

    #[test]
    fn streaming_root_matches_reference() {
        for count in 0..70 {
            let all = leaves(count);
            assert_eq!(root(&all), reference_root(&all), "size {count}");
        }
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_lengths_agree() {
        for size in 1..40_u64 {
            let all = leaves(size as usize);
            let tree_root = root(&all);
            for index in 0..size {
                let proof = inclusion_proof(&all, index).expect("in range");
                assert_eq!(proof.len(), inclusion_proof_length(index, size));
                verify_inclusion(&all[index as usize], index, size, &proof, &tree_root)
                    .expect("verifies");
                if size > 1 {
                    let wrong = (index + 1) % size;
                    assert!(
                        verify_inclusion(&all[index as usize], wrong, size, &proof, &tree_root)
                            .is_err()
                    );
                }
            }
            for size1 in 1..=size {
                let proof = consistency_proof(&all, size1).expect("valid sizes");
                if size1 < size {
                    assert_eq!(proof.len(), consistency_proof_length(size1, size));
                }
                let old_root = root(&all[..size1 as usize]);
                verify_consistency(size1, size, &old_root, &tree_root, &proof)
                    .unwrap_or_else(|e| panic!("{size1}->{size}: {e}"));
            }
        }
    }

    #[test]
    fn edge_cases() {
        assert_eq!(
            inclusion_proof(&[], 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_proof(&leaves(3), 0),
            Err(ProofError::InvalidSizes { size1: 0, size2: 3 })
        );
        assert_eq!(
            consistency_proof(&leaves(3), 4),
            Err(ProofError::InvalidSizes { size1: 4, size2: 3 })
        );
        let empty = empty_root();
        assert_eq!(
            verify_consistency(0, 0, &empty, &empty, &[]),
            Err(ProofError::InvalidSizes { size1: 0, size2: 0 })
        );
        let one = leaves(1);
        assert_eq!(verify_consistency(1, 1, &one[0], &one[0], &[]), Ok(()));
        assert!(verify_consistency(1, 1, &one[0], &empty, &[]).is_err());
    }
}
