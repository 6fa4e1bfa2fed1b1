//! Signature batch verification, per signature, in one run: the verifier's
//! `Batcher` (one term per key, the cofactored rule) beside ed25519-dalek's
//! `verify_batch` (one term per signature), arxi's rule one by one
//! (`PublicKey::verify`, what `--no-batch` runs) and dalek's
//! `verify_strict`, all signatures by one key, as a recorder makes them
//! (Docs/benchmarks.md, "Audit bundles").
//!
//! `cargo run --release -p arxi-verify --example batch_bench [ROUNDS]`
//! prints one line of JSON per batch size and round.

use std::time::Instant;

use arxi_format::{Domain, Hash32, SecretKey};
use arxi_verify::signatures::Batcher;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    let key = SecretKey::from_seed(&[7; 32]).expect("seed");
    for size in [1_024_usize, 4_096] {
        let hashes: Vec<Hash32> = (0..size as u64)
            .map(|index| Hash32::of(&index.to_le_bytes()))
            .collect();
        let signatures: Vec<_> = hashes
            .iter()
            .map(|hash| key.sign(Domain::Envelope, hash))
            .collect();
        let messages: Vec<Vec<u8>> = hashes
            .iter()
            .map(|hash| Domain::Envelope.message(hash))
            .collect();
        let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let dalek_signatures: Vec<ed25519_dalek::Signature> = signatures
            .iter()
            .map(|signature| ed25519_dalek::Signature::from_bytes(&signature.0))
            .collect();
        let keys = vec![*key.public().dalek(); size];
        for round in 0..rounds {
            let per_signature = |start: Instant, repeats: usize| {
                start.elapsed().as_secs_f64() * 1e6 / (repeats * size) as f64
            };
            let repeats = 8;
            let start = Instant::now();
            for _ in 0..repeats {
                let mut batcher = Batcher::new(size, 1);
                for (index, (hash, signature)) in hashes.iter().zip(&signatures).enumerate() {
                    batcher.push(Domain::Envelope, hash, *signature, key.public(), index);
                }
                let (valid, invalid) = batcher.finish();
                assert!(valid == size as u64 && invalid.is_empty());
            }
            let arxi = per_signature(start, repeats);
            let start = Instant::now();
            for _ in 0..repeats {
                ed25519_dalek::verify_batch(&message_refs, &dalek_signatures, &keys)
                    .expect("valid batch");
            }
            let dalek = per_signature(start, repeats);
            let start = Instant::now();
            for (message, signature) in message_refs.iter().zip(&dalek_signatures) {
                keys[0]
                    .verify_strict(message, signature)
                    .expect("valid signature");
            }
            let strict = per_signature(start, 1);
            let start = Instant::now();
            for (hash, signature) in hashes.iter().zip(&signatures) {
                key.public()
                    .verify(Domain::Envelope, hash, signature)
                    .expect("valid signature");
            }
            let rule = per_signature(start, 1);
            println!(
                "{{\"batch\":{size},\"round\":{round},\"arxi_batch_us\":{arxi:.2},\"dalek_verify_batch_us\":{dalek:.2},\"arxi_one_by_one_us\":{rule:.2},\"verify_strict_us\":{strict:.2}}}"
            );
        }
    }
}
