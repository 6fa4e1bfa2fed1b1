//! Crash safety: the writer runs in a child process under concurrent load
//! (data appends, idempotent appends, explicit and automatic seals) and is
//! killed with SIGKILL at random moments, including during start-up and
//! recovery. After every kill the parent checks that every envelope whose
//! append was acknowledged is present with the acknowledged hash, and
//! verifies the chain and the seals written since the last check; at the end
//! the whole database is verified.
//!
//! `ARXI_CRASH_SEED` replays a run; `ARXI_CRASH_ITERATIONS` (default 50)
//! runs more. The seed is printed.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arxi_format::Hash32;
use arxi_recorder::{Outcome, SubmitError, SystemClock};
use serde_json::json;
use support::*;

const CHILD_DB: &str = "ARXI_CRASH_CHILD_DB";

/// SplitMix64: small, seedable, good enough to place kills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn child_config() -> arxi_recorder::RecorderConfig {
    let mut config = config();
    config.auto_seal.envelopes_max = 40;
    config.startup_verification_depth = 500;
    config
}

/// The child's workload; runs until killed. Ignored in the normal suite: it
/// is started by `kill_at_random_moments` with the database path set.
#[test]
#[ignore = "entry point of the crash test's child process"]
fn crash_child_workload() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let engine = Arc::new(open(
        Path::new(&path),
        child_config(),
        Arc::new(SystemClock),
    ));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    writeln!(out.lock().expect("stdout"), "ready").expect("write");
    // Every run retries the same idempotent request: however the runs are
    // killed, it is recorded at most once.
    let mut retry = request("crash.retry", json!({"once": true}));
    retry.idempotency = Some(idempotent("retry-fixed", b"the same request"));
    if let Ok(pending) = engine.append(retry) {
        match pending.wait() {
            Ok(Outcome::Done { value, .. }) => {
                writeln!(
                    out.lock().expect("stdout"),
                    "ack {} {}",
                    value.seq,
                    value.hash
                )
                .expect("write");
                writeln!(out.lock().expect("stdout"), "retry-done").expect("write");
            }
            Ok(Outcome::Replayed(_)) => {
                writeln!(out.lock().expect("stdout"), "retry-done").expect("write");
            }
            Err(error) => panic!("retry: {error}"),
        }
    }
    let run = std::process::id();
    let mut threads = Vec::new();
    for thread in 0..8_u64 {
        let engine = Arc::clone(&engine);
        let out = Arc::clone(&out);
        threads.push(std::thread::spawn(move || {
            for index in 0_u64.. {
                let mut request = request(
                    "crash.load",
                    json!({"thread": thread, "index": index, "pad": "x".repeat(200)}),
                );
                if index % 5 == 0 {
                    let key = format!("r{run}-t{thread}-i{index}");
                    request.idempotency = Some(idempotent(&key, key.as_bytes()));
                }
                let pending = match engine.append(request) {
                    Ok(pending) => pending,
                    Err(SubmitError::Overloaded { .. }) => {
                        std::thread::yield_now();
                        continue;
                    }
                    Err(error) => panic!("submit: {error}"),
                };
                match pending.wait() {
                    Ok(Outcome::Done { value, .. }) => {
                        let mut out = out.lock().expect("stdout");
                        writeln!(out, "ack {} {}", value.seq, value.hash).expect("write");
                        out.flush().expect("flush");
                    }
                    other => panic!("append: {other:?}"),
                }
                if thread == 0 && index % 17 == 0 {
                    // Explicit seals race the automatic ones; "no open
                    // segment" is a legitimate answer.
                    let _ = engine.seal(None).map(arxi_recorder::Pending::wait);
                }
            }
        }));
    }
    for thread in threads {
        thread.join().expect("worker");
    }
}

#[test]
fn kill_at_random_moments() {
    let seed = std::env::var("ARXI_CRASH_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
        });
    let iterations: u64 = std::env::var("ARXI_CRASH_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(50);
    println!("crash test: seed {seed}, {iterations} iterations (ARXI_CRASH_SEED={seed} replays)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let mut acknowledged: BTreeMap<u64, Hash32> = BTreeMap::new();
    let mut verified_through = 0_u64;
    let mut kills_during_startup = 0;
    let mut retry_done = false;
    for iteration in 0..iterations {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "crash_child_workload",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("child.stderr")).expect("stderr file"))
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Kill anywhere from immediately (during open and recovery) to
        // well into the load.
        let delay = Duration::from_millis(rng.below(400));
        let started = Instant::now();
        while started.elapsed() < delay {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let stderr =
                    std::fs::read_to_string(dir.path().join("child.stderr")).unwrap_or_default();
                panic!(
                    "iteration {iteration}: child exited by itself ({status}); seed {seed}\n{stderr}"
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let lines = reader.join().expect("reader");
        // libtest prints "test crash_child_workload ... " before the
        // child's first line, so "ready" ends that line.
        if !lines.iter().any(|line| line.ends_with("ready")) {
            kills_during_startup += 1;
        }
        retry_done |= lines.iter().any(|line| line == "retry-done");
        let mut acked_now = 0;
        for line in &lines {
            let mut parts = line.split(' ');
            if parts.next() != Some("ack") {
                continue;
            }
            let seq: u64 = parts.next().and_then(|s| s.parse().ok()).expect("seq");
            let hash = Hash32::from_hex(parts.next().expect("hash")).expect("hash hex");
            assert!(
                acknowledged.insert(seq, hash).is_none(),
                "seq {seq} acknowledged twice; seed {seed}"
            );
            acked_now += 1;
        }
        // Every acknowledged envelope is present, with the acknowledged hash.
        let store = arxi_store::Store::open(&path, &arxi_store::StoreOptions::default())
            .unwrap_or_else(|e| panic!("iteration {iteration}: reopen: {e}; seed {seed}"));
        for (&seq, hash) in acknowledged.range(verified_through + 1..) {
            let row = store
                .reader()
                .envelope(seq)
                .expect("read")
                .unwrap_or_else(|| panic!("acknowledged seq {seq} lost; seed {seed}"));
            assert_eq!(Hash32(row.hash), *hash, "seq {seq} changed; seed {seed}");
        }
        let head = store
            .reader()
            .last_envelope()
            .expect("read")
            .map_or(0, |row| row.seq);
        drop(store);
        // Verify what was written since the last check (chain, signatures,
        // the seals of the segments touched).
        let depth = head.saturating_sub(verified_through).max(1) + 1;
        verify_depth(&path, depth, seed, iteration);
        verified_through = head;
        println!(
            "iteration {iteration}: killed after {delay:?}, {acked_now} acks, chain head {head}"
        );
    }
    let (envelopes, seals) = verify_all(&path);
    let engine = open(&path, child_config(), Arc::new(SystemClock));
    let retries = engine
        .query(&arxi_recorder::EnvelopeQuery {
            event_type: Some("crash.retry".into()),
            ..Default::default()
        })
        .expect("query")
        .envelopes
        .len();
    assert!(
        retries <= 1,
        "the retried request was recorded {retries} times; seed {seed}"
    );
    if retry_done {
        assert_eq!(
            retries, 1,
            "a run acknowledged the retry but it is missing; seed {seed}"
        );
    }
    engine.shutdown().expect("shutdown");
    println!(
        "crash test passed: {iterations} kills ({kills_during_startup} before the engine was ready), \
         {} acknowledged envelopes all present, {envelopes} envelopes and {seals} seals verified; seed {seed}",
        acknowledged.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "the load acknowledged nothing; seed {seed}"
    );
    assert!(seals > 0, "no seal was written; seed {seed}");
}

fn verify_depth(path: &Path, depth: u64, seed: u64, iteration: u64) {
    if let Err(error) = arxi_recorder::verify_database(path, Some(depth)) {
        panic!("iteration {iteration}: verification failed: {error}; seed {seed}");
    }
}
