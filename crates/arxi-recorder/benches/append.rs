//! Durable signed appends: throughput and acknowledgement latency with 1,
//! 16 and 64 concurrent appenders (1 KB payloads), side by side in the same
//! run with the raw ceilings (the same SQLite inserts without signing, and
//! the per-envelope CPU pipeline alone), the latency at half the measured
//! 64-appender load and at half the 20,000/s target, and resident memory
//! over a long run.
//!
//! Run: `cargo bench -p arxi-recorder --bench append [-- --seconds N --long-envelopes N]`;
//! `-- --bytes N`: bytes on disk per envelope over N envelopes, for the
//! benchmark body and a small one, each with and without an idempotency
//! key per request.
//! Results and method: `Docs/benchmarks.md`.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arxi_format::envelope::{EnvelopeBody, Kind};
use arxi_format::{CanonicalJson, Hash32, SecretKey, Timestamp};
use arxi_recorder::{
    AppendRequest, IdempotencyKey, IdempotencyRequest, Outcome, PayloadPolicy, Receipt,
    RecorderConfig, RecorderEngine, StoredResponse, SubmitError, SystemClock,
};
use arxi_store::{EnvelopeRow, Store, StoreOptions};
use serde_json::json;

/// The sidecar's allocator (`crates/arxi-sidecar/src/main.rs`), so the
/// engine is measured as it runs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn payload() -> CanonicalJson {
    // About 1 KB canonical.
    let value = json!({
        "order": {"id": "ord-7f3a2c91-4b8e-4d1a-9c6f-2e5b8a7d0c13", "amount": 1250.75, "currency": "EUR"},
        "customer": {"id": "cus-1234567890", "tier": "gold", "country": "DE", "segment": "enterprise"},
        "lines": [
            {"sku": "SKU-0001", "qty": 2, "price": 100.5, "name": "Widget, large, blue"},
            {"sku": "SKU-0002", "qty": 1, "price": 1049.75, "name": "Gadget, premium edition"}
        ],
        "approval": {"by": ["alice@example.com", "bob@example.com"], "policy": "four-eyes", "level": 2},
        "trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"},
        "note": "Customer requested split shipment; warehouse confirmed stock for both lines on the same day.",
        "tags": ["priority", "b2b", "eu", "quarter-end", "audited"],
        "description": "Approved under the four-eyes policy after the second reviewer confirmed the delivery address, the tax identification number and the credit limit of the customer account; the warehouse reserved both lines and the carrier pickup is booked for the next business day before noon."
    });
    let canonical = CanonicalJson::from_value(&value).expect("canonical");
    assert!(
        (900..=1100).contains(&canonical.as_bytes().len()),
        "{}",
        canonical.as_bytes().len()
    );
    canonical
}

fn key() -> SecretKey {
    SecretKey::from_seed(&Hash32::of(b"bench").0).expect("seed")
}

fn engine(dir: &Path) -> RecorderEngine {
    engine_with(dir, PayloadPolicy::default())
}

/// The payload policy the benches compare: version 1, or version 2 with
/// the subject committed.
fn version_policy(version: u64) -> PayloadPolicy {
    PayloadPolicy {
        version,
        commit_actor: false,
        commit_subject: version == 2,
    }
}

/// An engine writing data envelopes under `payloads` (version 1 or 2).
fn engine_with(dir: &Path, payloads: PayloadPolicy) -> RecorderEngine {
    engine_with_keys(dir, payloads, false)
}

/// With `subject_keys`, version 2 payloads are stored encrypted under
/// their subject's key (one subject here: its key is made once).
fn engine_with_keys(dir: &Path, payloads: PayloadPolicy, subject_keys: bool) -> RecorderEngine {
    let mut config = RecorderConfig::new("bench-recorder");
    config.payloads = payloads;
    config.startup_verification_depth = 0;
    if subject_keys {
        config.subject_keys = Some(dir.join("keys/subject-keys.db"));
    }
    RecorderEngine::open(&dir.join("arxi.db"), config, key(), Arc::new(SystemClock)).expect("open")
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

struct Run {
    envelopes: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
    batches: f64,
    /// CPU seconds the appending threads used.
    appender_cpu: f64,
}

/// `appenders` threads append for `duration`; each waits for its ack before
/// the next append (closed loop), or paces itself to `rate_per_appender`.
fn drive(
    engine: &Arc<RecorderEngine>,
    appenders: usize,
    duration: Duration,
    rate_per_appender: Option<f64>,
) -> Run {
    let payload = payload();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let commits_before = engine.metrics().commits_total;
    let started = Instant::now();
    let threads: Vec<_> = (0..appenders)
        .map(|_| {
            let engine = Arc::clone(engine);
            let payload = payload.clone();
            let stop = Arc::clone(&stop);
            let count = Arc::clone(&count);
            std::thread::spawn(move || {
                let cpu_before = run_seconds("/proc/thread-self/schedstat");
                let mut latencies = Vec::with_capacity(1 << 16);
                let interval = rate_per_appender.map(|rate| Duration::from_secs_f64(1.0 / rate));
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(interval) = interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += interval;
                    }
                    let sent = Instant::now();
                    let request = AppendRequest {
                        event_type: "orders.approved".into(),
                        actor: Some("alice@example.com".into()),
                        subject: Some("order/7f3a2c91".into()),
                        payload: payload.clone(),
                        attachments: vec![],
                        idempotency: None,
                    };
                    match engine.append(request) {
                        Ok(pending) => match pending.wait() {
                            Ok(Outcome::Done { .. }) => {
                                latencies.push(
                                    sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32,
                                );
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            other => panic!("append failed: {other:?}"),
                        },
                        Err(SubmitError::Overloaded { .. }) => std::thread::yield_now(),
                        Err(error) => panic!("{error}"),
                    }
                }
                (
                    latencies,
                    run_seconds("/proc/thread-self/schedstat") - cpu_before,
                )
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    let mut appender_cpu = 0.0;
    for thread in threads {
        let (latencies, cpu) = thread.join().expect("appender");
        latencies_us.extend(latencies);
        appender_cpu += cpu;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    let commits = engine.metrics().commits_total - commits_before;
    let envelopes = count.load(Ordering::Relaxed);
    Run {
        envelopes,
        seconds,
        latencies_us,
        batches: envelopes as f64 / commits.max(1) as f64,
        appender_cpu,
    }
}

fn report(label: &str, run: &Run) {
    println!(
        "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
        run.envelopes as f64 / run.seconds,
        percentile(&run.latencies_us, 0.50),
        percentile(&run.latencies_us, 0.99),
        percentile(&run.latencies_us, 0.999),
        run.batches
    );
}

/// The same rows, inserted through the store with no hashing or signing.
fn store_ceiling(dir: &Path, rows_per_commit: usize, duration: Duration) -> f64 {
    let mut store = Store::open(&dir.join("raw.db"), &StoreOptions::default()).expect("open");
    let body = {
        let key = key();
        EnvelopeBody {
            recorder_id: "bench-recorder".into(),
            segment_id: 1,
            seq: 1,
            received_at: Timestamp::from_unix_micros(1_795_380_078_000_000).expect("time"),
            kind: Kind::Data,
            event_type: "orders.approved".into(),
            actor: Some("alice@example.com".into()),
            subject: Some("order/7f3a2c91".into()),
            payload: arxi_format::Payload::Inline(payload()),
            attachments: vec![],
            prev_hash: Hash32::ZERO,
            key_id: key.id().clone(),
        }
        .sign(&key)
        .to_canonical_bytes()
    };
    let txn = store.transaction().expect("txn");
    txn.insert_segment(&arxi_store::SegmentRow {
        segment_id: 1,
        first_seq: 1,
        last_seq: 1,
        envelope_count: 0,
        bytes: 0,
        opened_at_us: 0,
        sealed_at_us: None,
    })
    .expect("segment");
    txn.commit().expect("commit");
    let started = Instant::now();
    let mut seq = 0_u64;
    while started.elapsed() < duration {
        let txn = store.transaction().expect("txn");
        for _ in 0..rows_per_commit {
            seq += 1;
            let mut hash = [0_u8; 32];
            hash[..8].copy_from_slice(&seq.to_be_bytes());
            txn.insert_envelope(&EnvelopeRow {
                seq,
                segment_id: 1,
                received_at_us: 1_795_380_078_000_000 + i64::try_from(seq).expect("small"),
                kind: 0,
                event_type: "orders.approved".into(),
                actor: Some("alice@example.com".into()),
                hash,
                body: body.clone(),
            })
            .expect("insert");
        }
        txn.update_segment_progress(1, seq, seq, seq * 1200)
            .expect("progress");
        txn.commit().expect("commit");
        if store.wal_pages() > 4_000 {
            store
                .checkpoint(arxi_store::CheckpointKind::Passive)
                .expect("checkpoint");
        }
    }
    seq as f64 / started.elapsed().as_secs_f64()
}

/// Build, canonicalize, hash and sign, on one thread, no storage.
fn cpu_ceiling(duration: Duration) -> f64 {
    let key = key();
    let payload = payload();
    let started = Instant::now();
    let mut count = 0_u64;
    let mut prev = Hash32::ZERO;
    while started.elapsed() < duration {
        for _ in 0..100 {
            count += 1;
            let envelope = EnvelopeBody {
                recorder_id: "bench-recorder".into(),
                segment_id: 1,
                seq: count,
                received_at: Timestamp::from_unix_micros(1_795_380_078_000_000).expect("time"),
                kind: Kind::Data,
                event_type: "orders.approved".into(),
                actor: Some("alice@example.com".into()),
                subject: Some("order/7f3a2c91".into()),
                payload: arxi_format::Payload::Inline(payload.clone()),
                attachments: vec![],
                prev_hash: prev,
                key_id: key.id().clone(),
            }
            .sign(&key);
            prev = envelope.hash;
            std::hint::black_box(envelope.to_canonical_bytes());
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = Duration::from_secs(value("--seconds", 8));
    let long_envelopes = value("--long-envelopes", 1_000_000);
    let version_rounds = value("--versions", 0);
    // `--versions N --subject-keys 1`: version 2 runs store payloads
    // encrypted under subject keys.
    let subject_keys = value("--subject-keys", 0) == 1;
    let only_version = value("--only-version", 0);
    let bytes_envelopes = value("--bytes", 0);
    if bytes_envelopes > 0 {
        bytes_on_disk(bytes_envelopes);
        return;
    }
    if only_version > 0 {
        // One version alone at 64 appenders, for a profiler.
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine_with(dir.path(), version_policy(only_version)));
        report(
            &format!("64, version {only_version}"),
            &drive(&engine, 64, seconds, None),
        );
        engine.shutdown().expect("shutdown");
        return;
    }
    if version_rounds > 0 {
        compare_versions(version_rounds, seconds, subject_keys);
        return;
    }
    // `--stages 1` (version 1 envelopes) or `--stages 2` (version 2, the
    // subject committed, as in `--versions`).
    let stages_version = value("--stages", 0);
    if stages_version > 0 {
        stages(seconds, stages_version);
        return;
    }

    println!("payload: {} canonical bytes", payload().as_bytes().len());
    println!(
        "\n| appenders | envelopes/s | ack p50 ms | ack p99 ms | ack p99.9 ms | envelopes per commit |"
    );
    println!("|---|---|---|---|---|---|");
    let mut at_64 = 0.0;
    for appenders in [1, 16, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine(dir.path()));
        drive(&engine, appenders, Duration::from_secs(1), None); // warm-up
        let run = drive(&engine, appenders, seconds, None);
        report(&format!("{appenders}"), &run);
        if appenders == 64 {
            at_64 = run.envelopes as f64 / run.seconds;
        }
        engine.shutdown().expect("shutdown");
    }
    // Half of the load measured above, and half of the 20,000/s target.
    for (label, rate) in [
        ("half the measured load", at_64 / 2.0),
        ("half the 20k target", 10_000.0),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine(dir.path()));
        drive(&engine, 64, Duration::from_secs(1), Some(rate / 64.0));
        let run = drive(&engine, 64, seconds, Some(rate / 64.0));
        report(&format!("64, paced to {label} ({rate:.0}/s offered)"), &run);
        engine.shutdown().expect("shutdown");
    }

    println!("\n| same-run ceiling | per second |");
    println!("|---|---|");
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "| store only, 64 rows per commit (no hash, no signature) | {:.0} |",
        store_ceiling(dir.path(), 64, seconds)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "| store only, 1 row per commit | {:.0} |",
        store_ceiling(dir.path(), 1, seconds)
    );
    println!(
        "| CPU pipeline only (build, canonicalize, hash, sign), one thread | {:.0} |",
        cpu_ceiling(seconds)
    );

    if long_envelopes > 0 {
        println!("\nlong run: {long_envelopes} envelopes, 64 appenders; RSS (KiB) every 10%:");
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine(dir.path()));
        let payload = payload();
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let sampler_next = Arc::clone(&next);
        let sampler = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut mark = 0;
            while mark < 10 {
                let done = sampler_next.load(Ordering::Relaxed);
                if done >= long_envelopes * (mark + 1) / 10 {
                    samples.push((done, rss_kib()));
                    mark += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            samples
        });
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let engine = Arc::clone(&engine);
                let payload = payload.clone();
                let next = Arc::clone(&next);
                std::thread::spawn(move || {
                    while next.fetch_add(1, Ordering::Relaxed) < long_envelopes {
                        loop {
                            let request = AppendRequest {
                                event_type: "orders.approved".into(),
                                actor: Some("alice@example.com".into()),
                                subject: None,
                                payload: payload.clone(),
                                attachments: vec![],
                                idempotency: None,
                            };
                            match engine.append(request) {
                                Ok(pending) => {
                                    pending.wait().expect("append");
                                    break;
                                }
                                Err(SubmitError::Overloaded { .. }) => std::thread::yield_now(),
                                Err(error) => panic!("{error}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("appender");
        }
        let samples = sampler.join().expect("sampler");
        let elapsed = started.elapsed().as_secs_f64();
        for (done, rss) in &samples {
            println!("  {done:>8} envelopes: {rss} KiB");
        }
        let metrics = engine.metrics();
        println!(
            "  {long_envelopes} envelopes in {elapsed:.1} s ({:.0}/s); {} checkpoints, WAL {} pages at the end",
            long_envelopes as f64 / elapsed,
            metrics.checkpoints_total,
            metrics.wal_pages
        );
        engine.shutdown().expect("shutdown");
        let wal = dir.path().join("arxi.db-wal");
        println!(
            "  database {} MiB, WAL after shutdown {} bytes",
            std::fs::metadata(dir.path().join("arxi.db"))
                .map(|m| m.len() >> 20)
                .unwrap_or(0),
            std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
        );
    }
}

/// CPU seconds this process has used, all threads (`/proc/self/stat`
/// utime + stime, in clock ticks of 1/100 s, the Linux `USER_HZ`).
fn process_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// Seconds a thread has run on a CPU, from its `schedstat` file (the
/// scheduler's nanoseconds; a thread's `stat` counts 10 ms ticks, too
/// coarse for 64 threads of a few seconds each).
fn run_seconds(path: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |nanos| nanos as f64 / 1e9)
}

/// CPU seconds of the process or thread whose `stat` file is `path`.
fn cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    if stat.is_empty() {
        return 0.0;
    }
    // The fields after the command name, which is in parentheses: utime
    // and stime are fields 14 and 15 of the line, 12 and 13 of these.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

/// Seconds this process's long-lived threads have run, by name
/// (`/proc/self/task/*/comm` and `schedstat`); the scoped signing threads
/// are gone when this is read, so their share is what the total has
/// beyond these.
fn thread_cpu_by_name() -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let cpu = run_seconds(&path.join("schedstat").to_string_lossy());
        *by_name.entry(name.trim().to_owned()).or_insert(0.0) += cpu;
    }
    by_name
}

/// The engine at 64 appenders on the cores this process may use, with the
/// CPU time per envelope of each stage: the appending threads (preparing
/// a request and waiting for its answer), the sequencer (numbering,
/// chaining, hashing, and its share of signing), the extra signing
/// threads, the committer (SQLite) and the checkpointer. Run it under
/// `taskset` (`scripts/bench/scaling.sh`): the signing threads follow the
/// cores allowed.
fn stages(seconds: Duration, version: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(engine_with(dir.path(), version_policy(version)));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    drive(&engine, 64, Duration::from_secs(1), None); // warm-up
    let (total_before, threads_before) = (process_cpu_seconds(), thread_cpu_by_name());
    let metrics_before = engine.metrics();
    let run = drive(&engine, 64, seconds, None);
    let (total_after, threads_after) = (process_cpu_seconds(), thread_cpu_by_name());
    let metrics_after = engine.metrics();
    engine.shutdown().expect("shutdown");
    let commits = metrics_after.commits_total - metrics_before.commits_total;
    let mean_of = |of: fn(&arxi_recorder::MetricsSnapshot) -> u64| {
        (of(&metrics_after) - of(&metrics_before)) as f64 / commits.max(1) as f64
    };
    let per_envelope = |cpu: f64| cpu * 1e6 / run.envelopes as f64;
    let named = |name: &str| {
        threads_after.get(name).copied().unwrap_or(0.0)
            - threads_before.get(name).copied().unwrap_or(0.0)
    };
    let sequencer = named("arxi-sequencer");
    let committer = named("arxi-committer");
    // Linux keeps 15 bytes of a thread's name: "arxi-checkpointer" reads
    // back as "arxi-checkpoint".
    let checkpointer = named("arxi-checkpoint");
    let total = total_after - total_before;
    let signers = (total - sequencer - committer - checkpointer - run.appender_cpu).max(0.0);
    println!(
        "| cores | envelopes/s | total | appenders | sequencer | signers | committer | checkpointer | envelopes per commit | commit µs | COMMIT µs |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {cores} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
        run.envelopes as f64 / run.seconds,
        per_envelope(total),
        per_envelope(run.appender_cpu),
        per_envelope(sequencer),
        per_envelope(signers),
        per_envelope(committer),
        per_envelope(checkpointer),
        mean_of(|m| m.timings.envelopes_per_commit.sum),
        mean_of(|m| m.timings.commit_micros.sum),
        mean_of(|m| m.timings.commit_sync_micros.sum),
    );
}

/// Version 1 against version 2 envelopes (a salt and one more SHA-256 per
/// envelope, the payload stored in a row beside the envelope), interleaved:
/// `rounds` rounds of one run each at 1 and 64 appenders, the order
/// alternating between rounds, a fresh database per run; with
/// `subject_keys`, version 2 payloads are encrypted under subject keys.
fn compare_versions(rounds: u64, seconds: Duration, subject_keys: bool) {
    let v2 = version_policy(2);
    println!("payload: {} canonical bytes", payload().as_bytes().len());
    println!(
        "\n| round | appenders | version | envelopes/s | ack p50 ms | ack p99 ms | CPU µs per envelope |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut rates: Vec<(usize, u64, f64)> = Vec::new();
    let mut cpu: Vec<(usize, u64, f64)> = Vec::new();
    for round in 0..rounds {
        for appenders in [1, 64] {
            let order = if round % 2 == 0 { [1, 2] } else { [2, 1] };
            for version in order {
                let dir = tempfile::tempdir().expect("tempdir");
                let policy = if version == 1 {
                    PayloadPolicy::default()
                } else {
                    v2
                };
                let engine = Arc::new(engine_with_keys(
                    dir.path(),
                    policy,
                    subject_keys && version == 2,
                ));
                drive(&engine, appenders, Duration::from_secs(1), None); // warm-up
                let cpu_before = process_cpu_seconds();
                let run = drive(&engine, appenders, seconds, None);
                let cpu_us = (process_cpu_seconds() - cpu_before) * 1e6 / run.envelopes as f64;
                let rate = run.envelopes as f64 / run.seconds;
                println!(
                    "| {round} | {appenders} | {version} | {rate:.0} | {:.2} | {:.2} | {cpu_us:.1} |",
                    percentile(&run.latencies_us, 0.50),
                    percentile(&run.latencies_us, 0.99),
                );
                rates.push((appenders, version, rate));
                cpu.push((appenders, version, cpu_us));
                engine.shutdown().expect("shutdown");
            }
        }
    }
    summarize("envelopes/s", &rates, 0);
    summarize("CPU µs per envelope", &cpu, 1);
}

/// Min, median and max per version and of the per-round ratio v2 / v1.
fn summarize(what: &str, values: &[(usize, u64, f64)], digits: usize) {
    println!(
        "\n| appenders | version 1 {what} (min, median, max) | version 2 (min, median, max) | v2 / v1 per round (min, median, max) |"
    );
    println!("|---|---|---|---|");
    let spread = |values: &[f64], digits: usize| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        format!(
            "{:.digits$}, {:.digits$}, {:.digits$}",
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1]
        )
    };
    for appenders in [1, 64] {
        let of = |version: u64| -> Vec<f64> {
            values
                .iter()
                .filter(|(a, v, _)| *a == appenders && *v == version)
                .map(|(_, _, value)| *value)
                .collect()
        };
        let (v1, v2) = (of(1), of(2));
        let ratios: Vec<f64> = v1.iter().zip(&v2).map(|(a, b)| b / a).collect();
        println!(
            "| {appenders} | {} | {} | {} |",
            spread(&v1, digits),
            spread(&v2, digits),
            spread(&ratios, 3)
        );
    }
}

/// A small payload: a canonical envelope of about 530 bytes.
fn small_payload() -> CanonicalJson {
    let value = json!({"order": "ord-7f3a2c91", "amount": 1250.75, "currency": "EUR", "status": "approved"});
    CanonicalJson::from_value(&value).expect("canonical")
}

/// Bytes on disk per envelope after `count` envelopes of each body, with
/// and without an idempotency key per request (16 appenders; the
/// database measured after a clean stop, its WAL copied in).
fn bytes_on_disk(count: u64) {
    println!(
        "\n| body | keyed | envelopes | canonical bytes per envelope | database bytes per envelope | ratio | compact idempotency records |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, body) in [("benchmark (~1 KB)", payload()), ("small", small_payload())] {
        let mut without_key = 0.0;
        for keyed in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let engine = Arc::new(engine(dir.path()));
            fill(&engine, &body, count, keyed);
            engine.shutdown().expect("shutdown");
            drop(engine);
            let (envelopes, canonical, database, records) = measure(&dir.path().join("arxi.db"));
            let per_envelope = database as f64 / envelopes as f64;
            if keyed {
                println!(
                    "| {name} | yes (+{:.0} B per key) | {envelopes} | {:.0} | {per_envelope:.0} | {:.2} | {records} |",
                    per_envelope - without_key,
                    canonical as f64 / envelopes as f64,
                    per_envelope / (canonical as f64 / envelopes as f64)
                );
            } else {
                without_key = per_envelope;
                println!(
                    "| {name} | no | {envelopes} | {:.0} | {per_envelope:.0} | {:.2} | {records} |",
                    canonical as f64 / envelopes as f64,
                    per_envelope / (canonical as f64 / envelopes as f64)
                );
            }
        }
    }
}

/// Appends `count` envelopes of `body` from 16 threads, each with its own
/// idempotency key when `keyed`.
fn fill(engine: &Arc<RecorderEngine>, body: &CanonicalJson, count: u64, keyed: bool) {
    let next = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (engine, next, body) = (Arc::clone(engine), Arc::clone(&next), body.clone());
            std::thread::spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return;
                    }
                    let mut request = AppendRequest {
                        event_type: "orders.approved".into(),
                        actor: Some("alice@example.com".into()),
                        subject: Some("order/7f3a2c91".into()),
                        payload: body.clone(),
                        attachments: vec![],
                        idempotency: None,
                    };
                    if keyed {
                        request.idempotency = Some(keyed_request(index));
                    }
                    let outcome = engine.append(request).expect("queued").wait();
                    assert!(matches!(outcome, Ok(Outcome::Done { .. })), "{outcome:?}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("appender");
    }
}

/// An idempotency key of the length clients use (a UUID).
fn keyed_request(index: u64) -> IdempotencyRequest<Receipt> {
    IdempotencyRequest {
        key: IdempotencyKey {
            method: "POST".into(),
            path: "/v1/envelopes".into(),
            key: format!("7f3a2c91-4b8e-4d1a-9c6f-{index:012}"),
        },
        request_hash: Hash32::of(&index.to_le_bytes()),
        render: Box::new(|receipt: &Receipt| StoredResponse {
            status: 201,
            content_type: "application/json".into(),
            body: format!("{{\"seq\":{}}}", receipt.seq),
        }),
    }
}

/// (envelopes, their canonical bytes, the database file's bytes, compact
/// idempotency records) of a stopped recorder's database.
fn measure(path: &Path) -> (u64, u64, u64, u64) {
    let store = Store::open(path, &StoreOptions::default()).expect("open");
    let reader = store.reader();
    let head = reader
        .last_envelope()
        .expect("read")
        .map_or(0, |row| row.seq);
    let mut canonical = 0_u64;
    reader
        .for_each_envelope(1, head, |row| {
            canonical += row.body.len() as u64;
            Ok(true)
        })
        .expect("read");
    let space = reader.space().expect("space");
    let records = reader.idempotency_count().expect("count");
    (head, canonical, space.page_count * space.page_size, records)
}
