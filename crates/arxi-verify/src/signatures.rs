//! Batched Ed25519 verification with strict semantics.
//!
//! `verify_strict` (what arxi requires) refuses a non-canonical `S`, a
//! non-canonical or small-order `R`, and weak keys, then checks the
//! cofactorless equation `[S]B = R + [h]A`. The batch checks the same
//! equations at once, weighted by random 128-bit `z`:
//! `[-Σ z·S]B + Σ z·R + Σ_keys [Σ z·h]A = 0`, with one term per distinct
//! key (a recorder signs long runs with one key, so this halves the points
//! of the multiscalar multiplication against ed25519-dalek's
//! `verify_batch`, which has one per signature). The weights are derived
//! from a SHA-512 transcript of every `h` and `S` in the batch, as
//! ed25519-dalek derives them. To keep the batch path as strict, every
//! signature first passes byte-level checks that cost almost nothing: `S`
//! below the group order, `R`'s y coordinate below 2^255-19, and `R` not one
//! of the eight small-order points (keys were already refused at load when
//! weak or non-canonical). A batch that fails is re-checked one signature at
//! a time with `verify_strict`, which names the culprits.
//!
//! One difference remains, shared by every batch verifier of the
//! cofactorless equation: a signature whose `R` (or key) carries a
//! small-order component, made on purpose by the holder of the signing key,
//! can fail `verify_strict` yet pass a batch when its weight happens to
//! cancel that component (probability up to 1/2 per such signature). Only
//! the key holder can make one; nobody else can make any signature pass.
//! `arxi bundle verify --no-batch` checks every signature with
//! `verify_strict` alone.

use std::sync::Arc;

use arxi_format::{Hash32, PublicKey, Signature};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// The group order L, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// The canonical encodings of the eight points of small order.
const SMALL_ORDER: [[u8; 32]; 8] = [
    // The identity (order 1).
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // y = -1 (order 2).
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = 0, both signs of x (order 4).
    [0; 32],
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0x80,
    ],
    // Order 8, both signs of x, for both y values.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
];

/// `a < b` for 32-byte little-endian numbers.
fn less_than(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for index in (0..32).rev() {
        if a[index] != b[index] {
            return a[index] < b[index];
        }
    }
    false
}

/// The checks `verify_strict` makes beyond the batch equation.
pub fn strict_prechecks(signature: &Signature) -> bool {
    let mut r = [0_u8; 32];
    let mut s = [0_u8; 32];
    r.copy_from_slice(&signature.0[..32]);
    s.copy_from_slice(&signature.0[32..]);
    if !less_than(&s, &ORDER) {
        return false;
    }
    // y (the low 255 bits) must be below p = 2^255 - 19.
    let mut y = r;
    y[31] &= 0x7f;
    let mut p = [0xff_u8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    if !less_than(&y, &p) {
        return false;
    }
    !SMALL_ORDER.contains(&r)
}

/// One signature waiting to be checked, with the caller's tag. Plain data:
/// the message is `domain.message(hash)`, built only when needed.
#[derive(Debug)]
struct Item<T> {
    domain: arxi_format::Domain,
    hash: Hash32,
    signature: Signature,
    key: Arc<PublicKey>,
    tag: T,
}

/// Verifies one batch: the number valid and the tags of the invalid ones,
/// in order. A batch that fails as a whole (or `batch_size` 1) is checked
/// one signature at a time with `verify_strict`.
fn verify_items<T>(items: Vec<Item<T>>, batch_size: usize) -> (u64, Vec<T>) {
    if items.is_empty() {
        return (0, Vec::new());
    }
    let strict = |item: &Item<T>| {
        strict_prechecks(&item.signature)
            && item
                .key
                .dalek()
                .verify_strict(
                    &item.domain.message(&item.hash),
                    &ed25519_dalek::Signature::from_bytes(&item.signature.0),
                )
                .is_ok()
    };
    let batch_passes = batch_size > 1
        && items.iter().all(|item| strict_prechecks(&item.signature))
        && batch_equation_holds(&items);
    if batch_passes {
        return (items.len() as u64, Vec::new());
    }
    let mut valid = 0;
    let mut invalid = Vec::new();
    for item in items {
        if strict(&item) {
            valid += 1;
        } else {
            invalid.push(item.tag);
        }
    }
    (valid, invalid)
}

/// The batch equation of the module documentation over `items`, whose
/// `S` are canonical (the prechecks).
fn batch_equation_holds<T>(items: &[Item<T>]) -> bool {
    let mut transcript = Sha512::new();
    transcript.update(b"arxi ed25519 batch v1");
    let mut hrams = Vec::with_capacity(items.len());
    for item in items {
        let mut hasher = Sha512::new()
            .chain_update(&item.signature.0[..32])
            .chain_update(item.key.dalek().as_bytes());
        for part in item.domain.message_parts(&item.hash) {
            hasher.update(part);
        }
        let digest: [u8; 64] = hasher.finalize().into();
        transcript.update(digest);
        transcript.update(&item.signature.0[32..]);
        hrams.push(Scalar::from_bytes_mod_order_wide(&digest));
    }
    let seed: [u8; 64] = transcript.finalize().into();
    // Four 128-bit weights per SHA-512 block of (seed, block index).
    let mut weights = Vec::with_capacity(items.len() + 3);
    for block in 0..items.len().div_ceil(4) {
        let bytes: [u8; 64] = Sha512::new()
            .chain_update(seed)
            .chain_update((block as u64).to_le_bytes())
            .finalize()
            .into();
        for chunk in bytes.chunks_exact(16) {
            let mut wide = [0_u8; 32];
            wide[..16].copy_from_slice(chunk);
            weights.push(Scalar::from_bytes_mod_order(wide));
        }
    }
    weights.truncate(items.len());
    let mut points = Vec::with_capacity(items.len() + 3);
    let mut basepoint = Scalar::ZERO;
    let mut keys: Vec<([u8; 32], EdwardsPoint, Scalar)> = Vec::new();
    for ((item, hram), weight) in items.iter().zip(&hrams).zip(&weights) {
        let mut r = [0_u8; 32];
        let mut s = [0_u8; 32];
        r.copy_from_slice(&item.signature.0[..32]);
        s.copy_from_slice(&item.signature.0[32..]);
        let (Some(r), Some(s)) = (
            CompressedEdwardsY(r).decompress(),
            Option::<Scalar>::from(Scalar::from_canonical_bytes(s)),
        ) else {
            return false;
        };
        points.push(r);
        basepoint += weight * s;
        let key = item.key.dalek();
        match keys
            .iter_mut()
            .find(|(bytes, _, _)| bytes == key.as_bytes())
        {
            Some((_, _, scalar)) => *scalar += weight * hram,
            None => keys.push((key.to_bytes(), key.to_edwards(), weight * hram)),
        }
    }
    weights.push(-basepoint);
    points.push(ED25519_BASEPOINT_POINT);
    for (_, point, scalar) in keys {
        weights.push(scalar);
        points.push(point);
    }
    EdwardsPoint::vartime_multiscalar_mul(weights, points).is_identity()
}

type Batch<T> = Vec<Item<T>>;

/// Worker threads verifying whole batches while the caller reads on.
#[derive(Debug)]
struct Workers<T> {
    jobs: Option<std::sync::mpsc::SyncSender<Batch<T>>>,
    results: std::sync::mpsc::Receiver<(u64, Vec<T>)>,
    in_flight: usize,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Collects signatures and verifies them in batches, on the caller's thread
/// or on worker threads. Memory is bounded: at most two batches per worker
/// are queued; a caller that gets ahead waits.
#[derive(Debug)]
pub struct Batcher<T> {
    items: Vec<Item<T>>,
    /// The keys seen, shared by the items that name them.
    keys: Vec<Arc<PublicKey>>,
    batch_size: usize,
    workers: Option<Workers<T>>,
    done: (u64, Vec<T>),
}

impl<T: Send + 'static> Batcher<T> {
    /// A batcher; `batch_size` 1 means `verify_strict` for each signature;
    /// `threads` 0 or 1 verifies on the caller's thread, more starts that
    /// many workers.
    pub fn new(batch_size: usize, threads: usize) -> Self {
        let batch_size = batch_size.max(1);
        let workers = (threads > 1).then(|| {
            let (jobs, queue) = std::sync::mpsc::sync_channel::<Batch<T>>(threads * 2);
            let (report, results) = std::sync::mpsc::channel();
            let queue = Arc::new(std::sync::Mutex::new(queue));
            let threads = (0..threads)
                .filter_map(|index| {
                    let (queue, report) = (Arc::clone(&queue), report.clone());
                    std::thread::Builder::new()
                        .name(format!("arxi-verify-{index}"))
                        .spawn(move || {
                            loop {
                                let batch = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                                let Ok(batch) = batch else { break };
                                if report.send(verify_items(batch, batch_size)).is_err() {
                                    break;
                                }
                            }
                        })
                        .ok()
                })
                .collect::<Vec<_>>();
            Workers {
                jobs: Some(jobs),
                results,
                in_flight: 0,
                threads,
            }
        });
        Self {
            items: Vec::with_capacity(batch_size),
            keys: Vec::new(),
            batch_size,
            workers: workers.filter(|w| !w.threads.is_empty()),
            done: (0, Vec::new()),
        }
    }

    /// Adds a signature over `domain.message(hash)`. A full batch goes to
    /// verification at once (to a worker, or checked here).
    pub fn push(
        &mut self,
        domain: arxi_format::Domain,
        hash: &Hash32,
        signature: Signature,
        key: &PublicKey,
        tag: T,
    ) {
        let shared = match self
            .keys
            .iter()
            .find(|known| known.to_bytes() == key.to_bytes())
        {
            Some(known) => Arc::clone(known),
            None => {
                let shared = Arc::new(key.clone());
                self.keys.push(Arc::clone(&shared));
                shared
            }
        };
        self.items.push(Item {
            domain,
            hash: *hash,
            signature,
            key: shared,
            tag,
        });
        if self.items.len() >= self.batch_size {
            self.send();
        }
    }

    fn send(&mut self) {
        let items = std::mem::replace(&mut self.items, Vec::with_capacity(self.batch_size));
        if items.is_empty() {
            return;
        }
        let sent = match self.workers.as_mut() {
            Some(workers) => match workers.jobs.as_ref().map(|jobs| jobs.send(items)) {
                Some(Ok(())) => {
                    workers.in_flight += 1;
                    None
                }
                Some(Err(std::sync::mpsc::SendError(items))) => Some(items),
                None => None,
            },
            None => Some(items),
        };
        if let Some(items) = sent {
            let (valid, invalid) = verify_items(items, self.batch_size);
            self.done.0 += valid;
            self.done.1.extend(invalid);
        }
        self.collect(false);
    }

    fn collect(&mut self, wait: bool) {
        let Some(workers) = self.workers.as_mut() else {
            return;
        };
        while workers.in_flight > 0 {
            let result = if wait {
                workers.results.recv().ok()
            } else {
                workers.results.try_recv().ok()
            };
            let Some((valid, invalid)) = result else {
                break;
            };
            workers.in_flight -= 1;
            self.done.0 += valid;
            self.done.1.extend(invalid);
        }
    }

    /// The results that are in (all of them after [`Self::finish`]): the
    /// number valid and the tags of the invalid ones, taken.
    pub fn take_results(&mut self) -> (u64, Vec<T>) {
        self.collect(false);
        std::mem::take(&mut self.done)
    }

    /// Verifies everything pending, waits for every batch, and returns all
    /// results not taken yet. The batcher stays usable.
    pub fn finish(&mut self) -> (u64, Vec<T>) {
        self.send();
        self.collect(true);
        std::mem::take(&mut self.done)
    }
}

impl<T> Drop for Batcher<T> {
    fn drop(&mut self) {
        if let Some(workers) = self.workers.as_mut() {
            workers.jobs.take();
            for thread in workers.threads.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arxi_format::{Domain, SecretKey};

    #[test]
    fn small_order_list_is_exactly_the_torsion_points() {
        for encoding in &SMALL_ORDER {
            let point = ed25519_dalek::VerifyingKey::from_bytes(encoding).expect("decompresses");
            assert!(point.is_weak(), "{encoding:02x?} has small order");
        }
        let mut unique = SMALL_ORDER.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8, "eight distinct points of small order");
    }

    #[test]
    fn batches_agree_with_strict_verification() {
        let key = SecretKey::from_seed(&[9; 32]).expect("seed");
        let other = SecretKey::from_seed(&[10; 32]).expect("seed");
        let hashes: Vec<Hash32> = (0..40_u8).map(|i| Hash32::of(&[i])).collect();
        for (batch_size, threads) in [(1, 1), (7, 1), (64, 1), (7, 3), (1, 2)] {
            let mut batcher = Batcher::new(batch_size, threads);
            let mut expected_invalid = Vec::new();
            for (index, hash) in hashes.iter().enumerate() {
                let mut signature = key.sign(Domain::Envelope, hash);
                if index % 9 == 4 {
                    signature = other.sign(Domain::Envelope, hash);
                    expected_invalid.push(index);
                } else if index % 13 == 5 {
                    // S >= L: the same point, non-canonical scalar.
                    let mut s = [0_u8; 32];
                    s.copy_from_slice(&signature.0[32..]);
                    let mut carry = 0_u16;
                    for (byte, order) in s.iter_mut().zip(ORDER.iter()) {
                        let sum = u16::from(*byte) + u16::from(*order) + carry;
                        *byte = (sum & 0xff) as u8;
                        carry = sum >> 8;
                    }
                    signature.0[32..].copy_from_slice(&s);
                    expected_invalid.push(index);
                }
                // Signatures by a second trusted key in the same batch
                // (a key change inside a batch) are valid.
                if index % 7 == 3 && index % 9 != 4 && index % 13 != 5 {
                    let by_other = other.sign(Domain::Envelope, hash);
                    batcher.push(Domain::Envelope, hash, by_other, other.public(), index);
                    continue;
                }
                batcher.push(Domain::Envelope, hash, signature, key.public(), index);
            }
            let (valid, mut invalid) = batcher.finish();
            invalid.sort_unstable();
            assert_eq!(
                invalid, expected_invalid,
                "batch size {batch_size}, {threads} threads"
            );
            assert_eq!(valid, (hashes.len() - expected_invalid.len()) as u64);
        }
    }

    #[test]
    fn prechecks_refuse_what_verify_strict_refuses() {
        let key = SecretKey::from_seed(&[11; 32]).expect("seed");
        let hash = Hash32::of(b"m");
        let good = key.sign(Domain::Envelope, &hash);
        assert!(strict_prechecks(&good));
        for small in &SMALL_ORDER {
            let mut bad = good;
            bad.0[..32].copy_from_slice(small);
            assert!(!strict_prechecks(&bad));
        }
        let mut non_canonical_r = good;
        non_canonical_r.0[..32].copy_from_slice(&[0xff; 32]);
        non_canonical_r.0[31] = 0x7f;
        assert!(!strict_prechecks(&non_canonical_r));
    }
}
