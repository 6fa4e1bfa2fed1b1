//! Batched Ed25519 verification under arxi's one rule
//! ([`arxi_format::ed25519`]: cofactored, canonical `S`, `R` canonical and
//! not of small order).
//!
//! A signature is valid when `[8]([S]B - [k]A - R)` is the identity. The
//! batch checks the same equations at once, weighted by random 128-bit `z`:
//! `[8]([Σ z·S]B - Σ z·R - Σ_keys [Σ z·k]A)` is the identity, with one term
//! per distinct key (a recorder signs long runs with one key, so this
//! halves the points of the multiscalar multiplication against
//! ed25519-dalek's `verify_batch`, which has one per signature). The
//! weights are derived from a SHA-512 transcript of every `k` and `S` in
//! the batch, as ed25519-dalek derives them. Every signature first passes
//! the rule's byte-level precheck (`S < L`, `R` canonical and not of small
//! order); keys were checked at load.
//!
//! Because the equation is cofactored, a set of signatures that are each
//! valid always passes the batch (each term is a point of small order, and
//! so is any weighted sum of them, which the factor 8 removes). A batch
//! holding an invalid signature fails unless the weights cancel its error
//! exactly: probability about 2^-128, and, the weights being a hash of the
//! batch, about 2^128 work to arrange. A batch that fails is re-checked one
//! signature at a time with the same rule, which names the culprits. So
//! the verdict does not depend on batching or threads; `--no-batch` checks
//! every signature alone and reaches the same one.

use std::sync::Arc;

use arxi_format::ed25519::{self, BASEPOINT};
use arxi_format::{Hash32, PublicKey, Signature};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

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
/// one signature at a time with the rule itself.
fn verify_items<T>(items: Vec<Item<T>>, batch_size: usize) -> (u64, Vec<T>) {
    if items.is_empty() {
        return (0, Vec::new());
    }
    let strict = |item: &Item<T>| {
        item.key
            .verify(item.domain, &item.hash, &item.signature)
            .is_ok()
    };
    let batch_passes = batch_size > 1
        && items
            .iter()
            .all(|item| ed25519::precheck(&item.signature.0))
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

/// The batch equation of the module documentation over `items`, which
/// passed the precheck.
fn batch_equation_holds<T>(items: &[Item<T>]) -> bool {
    let mut transcript = Sha512::new();
    transcript.update(b"arxi ed25519 cofactored batch v1");
    let mut hrams = Vec::with_capacity(items.len());
    for item in items {
        let (r, _) = ed25519::halves(&item.signature.0);
        let hram = ed25519::challenge(
            &r,
            item.key.dalek().as_bytes(),
            &item.domain.message_parts(&item.hash),
        );
        transcript.update(hram.as_bytes());
        transcript.update(&item.signature.0[32..]);
        hrams.push(hram);
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
        let (r, s) = ed25519::halves(&item.signature.0);
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
    points.push(BASEPOINT);
    for (_, point, scalar) in keys {
        weights.push(scalar);
        points.push(point);
    }
    EdwardsPoint::vartime_multiscalar_mul(weights, points)
        .mul_by_cofactor()
        .is_identity()
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

    /// `s + L`: the same point equation, a non-canonical scalar.
    fn plus_order(signature: &mut Signature) {
        let mut carry = 0_u16;
        for (byte, order) in signature.0[32..]
            .iter_mut()
            .zip(ed25519::GROUP_ORDER.iter())
        {
            let sum = u16::from(*byte) + u16::from(*order) + carry;
            *byte = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
    }

    #[test]
    fn batches_agree_with_one_by_one_verification() {
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
                    plus_order(&mut signature);
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

    /// The key holder's secret scalar `a` (`A = [a]B`) from a seed.
    fn secret_scalar(seed: &[u8; 32]) -> Scalar {
        let digest = Sha512::digest(seed);
        let mut bytes = [0_u8; 32];
        bytes.copy_from_slice(&digest[..32]);
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        Scalar::from_bytes_mod_order(bytes)
    }

    /// The case a cofactorless batch got wrong: the key holder signs with
    /// `R = [r]B + T` (`T` of order 2). The cofactorless equation fails
    /// alone (off by `T`) but passed a batch whenever the weight was even;
    /// under the cofactored rule it is valid alone and in every batch. A
    /// copy with `T` added after signing is invalid alone and batched.
    #[test]
    fn a_small_order_component_in_r_gets_one_verdict() {
        let seed = [12; 32];
        let key = SecretKey::from_seed(&seed).expect("seed");
        let a = secret_scalar(&seed);
        let order_two = CompressedEdwardsY(ed25519::SMALL_ORDER_Y[1])
            .decompress()
            .expect("point");
        for round in 0..16_u8 {
            let hash = Hash32::of(&[round]);
            let r = Scalar::from_bytes_mod_order([round + 1; 32]);
            let big_r = (BASEPOINT * r + order_two).compress().to_bytes();
            let k = ed25519::challenge(
                &big_r,
                key.public().dalek().as_bytes(),
                &Domain::Envelope.message_parts(&hash),
            );
            let mut crafted = Signature([0; 64]);
            crafted.0[..32].copy_from_slice(&big_r);
            crafted.0[32..].copy_from_slice((r + k * a).as_bytes());
            let mut tampered = key.sign(Domain::Envelope, &hash);
            let honest_r = CompressedEdwardsY(ed25519::halves(&tampered.0).0)
                .decompress()
                .expect("R");
            tampered.0[..32].copy_from_slice((honest_r + order_two).compress().as_bytes());
            for batch_size in [1, 2, 4_096] {
                let mut batcher = Batcher::new(batch_size, 1);
                let other = Hash32::of(b"other");
                let good = key.sign(Domain::Envelope, &other);
                batcher.push(Domain::Envelope, &other, good, key.public(), 0);
                batcher.push(Domain::Envelope, &hash, crafted, key.public(), 1);
                batcher.push(Domain::Envelope, &hash, tampered, key.public(), 2);
                assert_eq!(batcher.finish(), (2, vec![2]), "round {round}");
            }
        }
    }

    #[test]
    fn precheck_failures_fall_back_to_the_rule() {
        let key = SecretKey::from_seed(&[11; 32]).expect("seed");
        let hash = Hash32::of(b"m");
        let good = key.sign(Domain::Envelope, &hash);
        for small in &ed25519::SMALL_ORDER_Y {
            let mut bad = good;
            bad.0[..32].copy_from_slice(small);
            let mut batcher = Batcher::new(64, 1);
            batcher.push(Domain::Envelope, &hash, good, key.public(), 0);
            batcher.push(Domain::Envelope, &hash, bad, key.public(), 1);
            assert_eq!(batcher.finish(), (1, vec![1]));
        }
    }
}
