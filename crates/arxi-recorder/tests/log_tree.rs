//! The log tree over every envelope: its checkpoints are signed C2SP notes
//! over the RFC 6962 root of all envelope hashes so far; inclusion and
//! consistency proofs from the stored nodes verify against them; the
//! stored nodes survive a restart, and recovery rebuilds them when they
//! are missing or damaged.

mod support;

use std::path::Path;
use std::sync::Arc;

use arxi_format::note::Checkpoint;
use arxi_format::seal::envelope_leaf;
use arxi_format::{Envelope, Hash32, merkle};
use arxi_recorder::{LogCheckpoint, RecorderEngine, TreeRecovery};
use support::{ManualClock, START_US, append, config, open, request};

/// Every envelope's leaf hash, read back and re-hashed from its bytes.
fn leaves(engine: &RecorderEngine) -> Vec<Hash32> {
    let head = engine.status().head_seq;
    (1..=head)
        .map(|seq| {
            let bytes = engine.envelope_bytes(seq).unwrap().expect("stored");
            let envelope = Envelope::parse(&bytes).expect("parses");
            assert_eq!(envelope.body.compute_hash(), envelope.hash);
            envelope_leaf(&envelope.hash)
        })
        .collect()
}

fn checkpoint(engine: &RecorderEngine) -> LogCheckpoint {
    engine
        .checkpoint(0)
        .unwrap()
        .wait()
        .unwrap()
        .expect("a checkpoint once envelopes exist")
}

/// Appends `count` data envelopes in batches (crossing tile boundaries).
fn fill(engine: &RecorderEngine, count: usize) {
    let mut left = count;
    while left > 0 {
        let n = left.min(200);
        let batch = (0..n)
            .map(|i| request("test.fill", serde_json::json!({"i": i})))
            .collect();
        engine.append_batch(batch, None).unwrap().wait().unwrap();
        left -= n;
    }
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).expect("small")
}

#[test]
fn checkpoints_commit_to_every_envelope_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START_US);
    let engine = open(&dir.path().join("db"), config(), clock);
    fill(&engine, 700);
    let first = checkpoint(&engine);
    let all = leaves(&engine);
    assert_eq!(first.size, all.len() as u64);
    assert_eq!(first.root, merkle::root(&all));
    assert_eq!(engine.status().tree_root, Some(first.root));

    // The note: origin, size, root, signed by the recorder key.
    let body = Checkpoint::parse(first.note.text()).unwrap();
    assert_eq!(body.origin, "arxi/test-recorder");
    assert_eq!((body.size, body.root), (first.size, first.root));
    first
        .note
        .verify(&[engine.log_verifier_key()])
        .expect("the recorder key signs its checkpoints");

    // No new checkpoint while the tree has not grown.
    assert_eq!(checkpoint(&engine), first);

    fill(&engine, 333);
    let second = checkpoint(&engine);
    let all = leaves(&engine);
    assert_eq!(second.root, merkle::root(&all));
    for seq in [1, 2, 255, 256, 257, 512, 699, first.size, second.size] {
        let proof = engine.inclusion_proof(seq, second.size).unwrap();
        merkle::verify_inclusion(
            &all[usize_of(seq - 1)],
            seq - 1,
            second.size,
            &proof,
            &second.root,
        )
        .unwrap_or_else(|e| panic!("inclusion of {seq}: {e}"));
    }
    for old in [1, 7, 256, 300, first.size, second.size] {
        let proof = engine.consistency_proof(old, second.size).unwrap();
        let old_root = merkle::root(&all[..usize_of(old)]);
        merkle::verify_consistency(old, second.size, &old_root, &second.root, &proof)
            .unwrap_or_else(|e| panic!("consistency from {old}: {e}"));
    }
    assert!(
        engine
            .inclusion_proof(second.size + 5, second.size + 5)
            .is_err()
    );
    let stored = engine.log_checkpoints(10).unwrap();
    let sizes: Vec<u64> = stored.iter().map(|(c, _)| c.size).collect();
    assert_eq!(sizes, [second.size, first.size]);

    // A seal signs a checkpoint through it in the same transaction.
    engine.seal(None).unwrap().wait().unwrap();
    let (sealed, _) = engine.log_checkpoints(1).unwrap().remove(0);
    assert_eq!(sealed.size, engine.status().head_seq);
    engine.shutdown().unwrap();
}

fn reopen(path: &Path) -> RecorderEngine {
    open(path, config(), ManualClock::new(START_US + 10_000_000))
}

#[test]
fn the_tree_survives_restarts_and_is_rebuilt_when_missing_or_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let engine = open(&path, config(), ManualClock::new(START_US));
    fill(&engine, 1_100);
    let before = checkpoint(&engine);
    engine.shutdown().unwrap();

    let engine = reopen(&path);
    assert_eq!(engine.recovery().log_tree, TreeRecovery::Verified);
    let all = leaves(&engine);
    assert_eq!(engine.status().tree_root, Some(merkle::root(&all)));
    let proof = engine
        .consistency_proof(before.size, all.len() as u64)
        .unwrap();
    let root = merkle::root(&all);
    merkle::verify_consistency(before.size, all.len() as u64, &before.root, &root, &proof).unwrap();
    engine.shutdown().unwrap();

    // A database from before the tree: no nodes at all.
    arxi_store::fault::execute(&path, "DELETE FROM log_nodes").unwrap();
    let engine = reopen(&path);
    assert_eq!(engine.recovery().log_tree, TreeRecovery::Rebuilt);
    let all = leaves(&engine);
    assert_eq!(engine.status().tree_root, Some(merkle::root(&all)));
    engine.shutdown().unwrap();

    // The last node of a level changed outside arxi.
    arxi_store::fault::execute(
        &path,
        "UPDATE log_nodes SET hash = zeroblob(32)
         WHERE level = 8 AND node = (SELECT max(node) FROM log_nodes WHERE level = 8)",
    )
    .unwrap();
    let engine = reopen(&path);
    assert_eq!(engine.recovery().log_tree, TreeRecovery::Rebuilt);
    let all = leaves(&engine);
    let size = all.len() as u64;
    let proof = engine.inclusion_proof(300, size).unwrap();
    merkle::verify_inclusion(&all[299], 299, size, &proof, &merkle::root(&all)).unwrap();
    engine.shutdown().unwrap();
}

#[test]
fn pruned_checkpoints_are_gone_and_the_newest_stays() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START_US);
    let engine = open(&dir.path().join("db"), config(), Arc::clone(&clock) as _);
    let mut sizes = Vec::new();
    for i in 0..4 {
        append(&engine, "test.one", serde_json::json!({"i": i}));
        sizes.push(checkpoint(&engine).size);
    }
    let newest = *sizes.last().unwrap();
    let kept = engine
        .checkpoint(sizes[2])
        .unwrap()
        .wait()
        .unwrap()
        .unwrap();
    assert_eq!(kept.size, newest);
    let stored: Vec<u64> = engine
        .log_checkpoints(10)
        .unwrap()
        .iter()
        .map(|(c, _)| c.size)
        .collect();
    assert_eq!(stored, [sizes[3], sizes[2]]);
    engine.shutdown().unwrap();
}
