//! Log-tree proofs at scale: how long an inclusion or consistency proof
//! takes for a random envelope of an N-envelope log, computed from the
//! store exactly as the recorder computes them (envelope hashes and the
//! stored tile nodes, `arxi_format::log_tree`), on one read-only
//! connection. Results and method in `Docs/benchmarks.md`.
//!
//! `log_proof_bench DB N SAMPLES`: builds DB with N envelopes unless it
//! already holds them (envelope rows with the real hash column and a
//! two-byte body: the proof reads hashes and nodes only), then times
//! SAMPLES inclusion proofs and SAMPLES consistency proofs at random
//! sequence numbers and sizes, checks every proof against the root, and
//! prints one JSON line with the percentiles (microseconds).

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use arxi_format::log_tree::{self, Frontier, HashSource};
use arxi_format::seal::envelope_leaf;
use arxi_format::{Hash32, merkle};
use arxi_store::{EnvelopeRow, LogNodeRow, Reader, Store, StoreError, StoreOptions};

/// The recorder's hash source (`crates/arxi-recorder/src/log_tree.rs`),
/// over a plain reader.
struct Hashes<'a>(Reader<'a>);

impl HashSource for Hashes<'_> {
    type Error = StoreError;

    fn leaves(&self, range: Range<u64>) -> Result<Vec<Hash32>, StoreError> {
        Ok(self
            .0
            .envelope_hashes(range.start + 1, range.end)?
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

fn hash_of(seq: u64) -> Hash32 {
    Hash32::of(&seq.to_be_bytes())
}

/// Writes envelopes `have+1..=n` and their tree nodes, 100,000 a
/// transaction; answers the tree.
fn build(store: &mut Store, have: u64, n: u64) -> Frontier {
    let mut frontier = Frontier::new();
    for seq in 1..=have {
        frontier.push(envelope_leaf(&hash_of(seq)));
    }
    let started = Instant::now();
    let mut seq = have;
    while seq < n {
        let txn = store.transaction().expect("transaction");
        let end = (seq + 100_000).min(n);
        let mut nodes = Vec::new();
        for s in seq + 1..=end {
            let hash = hash_of(s);
            txn.insert_envelope(&EnvelopeRow {
                seq: s,
                segment_id: 1,
                received_at_us: 1_800_000_000_000_000 + s as i64,
                kind: 0,
                event_type: "bench".into(),
                actor: None,
                hash: hash.0,
                body: b"{}".to_vec(),
            })
            .expect("insert");
            nodes.extend(
                frontier
                    .push(envelope_leaf(&hash))
                    .into_iter()
                    .map(|node| LogNodeRow {
                        level: node.level,
                        index: node.index,
                        hash: node.hash.0,
                    }),
            );
        }
        txn.insert_log_nodes(&nodes).expect("nodes");
        txn.commit().expect("commit");
        seq = end;
        eprintln!(
            "built {seq} of {n} ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
    frontier
}

/// This thread's CPU time in microseconds (time spent waiting for a core
/// on a busy machine is not in it).
#[allow(unsafe_code)]
fn thread_cpu_us() -> f64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec for the call's duration,
    // and CLOCK_THREAD_CPUTIME_ID is supported by Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut time) };
    assert_eq!(status, 0, "clock_gettime");
    time.tv_sec as f64 * 1e6 + time.tv_nsec as f64 / 1e3
}

/// A small deterministic generator (xorshift), enough to spread samples.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn percentiles(mut micros: Vec<f64>) -> serde_json::Value {
    micros.sort_by(f64::total_cmp);
    let at = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    serde_json::json!({
        "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0),
        "mean": micros.iter().sum::<f64>() / micros.len() as f64,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(db), Some(n), Some(samples)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: log_proof_bench DB ENVELOPES SAMPLES");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("ENVELOPES");
    let samples: usize = samples.parse().expect("SAMPLES");
    let mut store = Store::open(Path::new(db), &StoreOptions::default()).expect("open");
    let have = store
        .reader()
        .last_envelope()
        .expect("read")
        .map_or(0, |r| r.seq);
    assert!(have <= n, "DB holds {have} envelopes, more than {n}");
    let frontier = build(&mut store, have, n);
    // As the recorder keeps it: the WAL copied into the database.
    store
        .checkpoint(arxi_store::CheckpointKind::Truncate)
        .expect("checkpoint");
    let root = frontier.root().expect("a non-empty tree");
    let pool = store.reader_pool(1).expect("pool");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut inclusion, mut consistency) = (Vec::new(), Vec::new());
    let (mut inclusion_cpu, mut consistency_cpu) = (Vec::new(), Vec::new());
    pool.with(|reader| {
        let source = Hashes(reader);
        for _ in 0..samples {
            let index = rng.below(n);
            let (started, cpu) = (Instant::now(), thread_cpu_us());
            let proof = log_tree::inclusion_proof(&source, index, n).expect("proof");
            inclusion.push(started.elapsed().as_secs_f64() * 1e6);
            inclusion_cpu.push(thread_cpu_us() - cpu);
            merkle::verify_inclusion(&envelope_leaf(&hash_of(index + 1)), index, n, &proof, &root)
                .expect("the proof verifies");

            let old = 1 + rng.below(n - 1);
            let (started, cpu) = (Instant::now(), thread_cpu_us());
            let proof = log_tree::consistency_proof(&source, old, n).expect("proof");
            consistency.push(started.elapsed().as_secs_f64() * 1e6);
            consistency_cpu.push(thread_cpu_us() - cpu);
            let old_root = log_tree::root(&source, old).expect("old root");
            merkle::verify_consistency(old, n, &old_root, &root, &proof)
                .expect("the proof verifies");
        }
        Ok(())
    })
    .expect("reads");
    println!(
        "{}",
        serde_json::json!({
            "envelopes": n,
            "samples": samples,
            "inclusion_us": percentiles(inclusion),
            "consistency_us": percentiles(consistency),
            "inclusion_cpu_us": percentiles(inclusion_cpu),
            "consistency_cpu_us": percentiles(consistency_cpu),
            "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        })
    );
}
