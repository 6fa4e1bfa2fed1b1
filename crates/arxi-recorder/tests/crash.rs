//! Crash safety: the writer runs in a child process under concurrent load
//! (data appends, idempotent appends, explicit and automatic seals; plans
//! signed on several threads) and is
//! killed with SIGKILL at random moments, including during start-up and
//! recovery. After every kill the parent checks that every envelope whose
//! append was acknowledged is present with the acknowledged hash, and
//! verifies the chain and the seals written since the last check; at the end
//! the whole database is verified.
//!
//! `ARXI_CRASH_SEED` replays a run; `ARXI_CRASH_ITERATIONS` (default 50)
//! runs more. The seed is printed.
//!
//! `kill_in_each_bundle_window` kills a child in each window of a bundle
//! build (the child stops there and says so; the parent sends SIGKILL):
//! while the file is written, once it is staged but not recorded, once
//! recorded but not published, once published. After each, reopening
//! (recovery) leaves no temporary or staged file, every `<id>.arxb` is
//! recorded with its size, every recorded bundle has its file, and an
//! unrecorded complete bundle is in `quarantine/`.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
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
    // More signing threads than cores, so kills also land while a plan is
    // being signed on several threads.
    config.signing_threads = 3;
    config
}

/// Writer threads in the child: enough that plans hold more envelopes than
/// one signing thread takes alone (`SPLIT_ENVELOPES_MIN` in signing.rs).
const CHILD_WRITERS: u64 = 40;

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
    for thread in 0..CHILD_WRITERS {
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

const BUNDLE_CHILD_DIR: &str = "ARXI_BUNDLE_CRASH_CHILD_DIR";
const BUNDLE_CHILD_WINDOW: &str = "ARXI_BUNDLE_CRASH_WINDOW";

/// The windows of a bundle build, in order.
const BUNDLE_WINDOWS: [&str; 4] = ["writing", "staged", "recorded", "published"];

fn bundle_config(dir: &Path) -> arxi_recorder::RecorderConfig {
    let mut config = config();
    config.bundle_dir = Some(dir.join("bundles"));
    config
}

/// The bundle crash test's child: records and seals, then builds, records
/// and publishes a bundle as the sidecar does, stopping for good in the
/// window named by `ARXI_BUNDLE_CRASH_WINDOW` (it prints `paused WINDOW`).
#[test]
#[ignore = "entry point of the bundle crash test's child process"]
fn bundle_crash_child() {
    let (Some(dir), Ok(window)) = (
        std::env::var_os(BUNDLE_CHILD_DIR),
        std::env::var(BUNDLE_CHILD_WINDOW),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let engine = open(
        &dir.join("arxi.db"),
        bundle_config(&dir),
        Arc::new(SystemClock),
    );
    for n in 0..30 {
        append(&engine, "crash.bundle", json!({"n": n}));
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    let pause = |stage: &str| {
        if stage == window {
            let mut out = std::io::stdout().lock();
            writeln!(out, "paused {stage}").expect("write");
            out.flush().expect("flush");
            loop {
                std::thread::park();
            }
        }
    };
    // The last progress call comes once the file is written, before it is
    // synced and renamed.
    let staged = engine
        .build_bundle(
            arxi_recorder::bundle::BundleSelection::AllSealed,
            &mut |_| {
                pause("writing");
            },
        )
        .expect("builds");
    pause("staged");
    engine
        .record_bundle_built(&staged, None)
        .expect("queued")
        .wait()
        .expect("recorded");
    pause("recorded");
    engine.publish_bundle(staged).expect("published");
    pause("published");
}

/// Runs the child until it reports `paused WINDOW`, then kills it.
fn kill_child_in(dir: &Path, window: &str) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "bundle_crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BUNDLE_CHILD_DIR, dir)
        .env(BUNDLE_CHILD_WINDOW, window)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("child.stderr")).expect("stderr file"))
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted = format!("paused {window}");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            // libtest prints "test bundle_crash_child ... " first.
            Ok(line) if line.ends_with(&wanted) => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let stderr = std::fs::read_to_string(dir.join("child.stderr")).unwrap_or_default();
                panic!("the child never reached {window}:\n{stderr}");
            }
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

/// The ids `arxi.bundle.built` envelopes name.
fn recorded_ids(engine: &arxi_recorder::RecorderEngine) -> Vec<String> {
    engine
        .query(&arxi_recorder::EnvelopeQuery {
            event_type: Some("arxi.bundle.built".into()),
            ..Default::default()
        })
        .expect("query")
        .envelopes
        .iter()
        .map(|bytes| {
            let envelope = arxi_format::Envelope::parse(bytes).expect("envelope");
            let payload: serde_json::Value = serde_json::from_slice(
                envelope
                    .body
                    .payload
                    .inline()
                    .expect("a payload")
                    .as_bytes(),
            )
            .expect("payload");
            payload["bundle_id"].as_str().expect("bundle_id").to_owned()
        })
        .collect()
}

/// What recovery must leave, whatever the window: only published bundles
/// in the directory, each recorded with its size; a file for every
/// recorded bundle. Returns the published ids.
fn check_bundle_dir(engine: &arxi_recorder::RecorderEngine, bundles: &Path) -> Vec<String> {
    let mut published = Vec::new();
    for entry in std::fs::read_dir(bundles).expect("bundle dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().expect("type").is_dir() {
            assert_eq!(name, arxi_recorder::QUARANTINE_DIR);
            continue;
        }
        let id = name
            .strip_suffix(".arxb")
            .unwrap_or_else(|| panic!("{name} is left in the bundle directory"));
        let recorded = engine
            .recorded_bundle(id)
            .expect("read")
            .unwrap_or_else(|| panic!("{name} is not recorded"));
        assert_eq!(entry.metadata().expect("metadata").len(), recorded.size);
        published.push(id.to_owned());
    }
    for id in recorded_ids(engine) {
        assert!(published.contains(&id), "recorded bundle {id} has no file");
    }
    published
}

fn quarantined(bundles: &Path) -> Vec<String> {
    std::fs::read_dir(bundles.join(arxi_recorder::QUARANTINE_DIR)).map_or_else(
        |_| Vec::new(),
        |entries| {
            entries
                .map(|entry| {
                    entry
                        .expect("entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        },
    )
}

#[test]
fn kill_in_each_bundle_window() {
    for window in BUNDLE_WINDOWS {
        let dir = tempfile::tempdir().expect("tempdir");
        kill_child_in(dir.path(), window);
        let bundles = dir.path().join("bundles");
        let engine = open(
            &dir.path().join("arxi.db"),
            bundle_config(dir.path()),
            Arc::new(SystemClock),
        );
        let report = engine.recovery().bundle_files.clone();
        let published = check_bundle_dir(&engine, &bundles);
        let quarantine = quarantined(&bundles);
        println!("{window}: {report:?}, published {published:?}, quarantined {quarantine:?}");
        match window {
            "writing" => {
                assert_eq!(report.removed_temporary, 1, "{window}");
                assert!(report.removed_bytes > 0);
                assert!(published.is_empty() && quarantine.is_empty(), "{window}");
            }
            "staged" => {
                assert_eq!(report.quarantined.len(), 1, "{window}");
                assert!(published.is_empty(), "{window}");
                assert_eq!(quarantine.len(), 1, "{window}");
            }
            "recorded" => {
                assert_eq!(report.published, published, "{window}");
                assert_eq!(published.len(), 1, "{window}");
                let bytes =
                    std::fs::read(bundles.join(format!("{}.arxb", published[0]))).expect("bundle");
                let report = arxi_verify::verify_bundle(
                    &bytes[..],
                    &[key(1).public().clone()],
                    &arxi_verify::Options::default(),
                    None,
                );
                assert!(report.is_valid(), "{:?}", report.findings);
            }
            _ => {
                assert_eq!(report, arxi_recorder::BundleDirReport::default());
                assert_eq!(published.len(), 1, "{window}");
            }
        }
        engine.shutdown().expect("shutdown");
        verify_all(&dir.path().join("arxi.db"));
    }
}
