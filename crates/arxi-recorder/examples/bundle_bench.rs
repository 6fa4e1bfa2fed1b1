//! Bundle build and verify at scale: throughput and peak memory against
//! bundle size. Driven by `scripts/bench/bundles.sh`; results and method in
//! `Docs/benchmarks.md`.
//!
//! - `populate DIR N`: records N data envelopes (about 420 canonical bytes
//!   of payload each, one in 1000 with a 4 KiB attachment) through the
//!   recorder with 32 concurrent appenders, auto-sealing every 10,000
//!   envelopes, then seals.
//! - `build DIR`: builds the bundle of every sealed segment into
//!   DIR/bundles.
//! - `verify FILE KEYFILE [BATCH [THREADS]]`: verifies with the library
//!   (default: batches of 1,024 on the calling thread).
//!
//! Each prints one JSON line with its figures, including the process's peak
//! resident memory (`VmHWM`).

#![allow(clippy::cast_precision_loss)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arxi_format::{CanonicalJson, Hash32, SecretKey};
use arxi_recorder::bundle::BundleSelection;
use arxi_recorder::{
    AppendRequest, AttachmentInput, RecorderConfig, RecorderEngine, SubmitError, SystemClock,
};
use serde_json::json;

fn key() -> SecretKey {
    SecretKey::from_seed(&Hash32::of(b"bundle bench").0).expect("seed")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn engine(dir: &Path) -> RecorderEngine {
    let mut config = RecorderConfig::new("bench-recorder");
    config.startup_verification_depth = 0;
    config.auto_seal.envelopes_max = 10_000;
    config.bundle_dir = Some(dir.join("bundles"));
    RecorderEngine::open(&dir.join("arxi.db"), config, key(), Arc::new(SystemClock)).expect("open")
}

fn request(n: u64, attachment: &Arc<[u8]>) -> AppendRequest {
    let payload = json!({
        "order": {"id": format!("ord-{n:012}"), "amount": 1250.75, "currency": "EUR"},
        "customer": {"id": "cus-1234567890", "tier": "gold", "country": "DE", "segment": "enterprise"},
        "approval": {"by": ["alice@example.com", "bob@example.com"], "policy": "four-eyes", "level": 2},
        "trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"},
        "note": "warehouse confirmed stock for both lines; carrier pickup booked for the next business day",
    });
    AppendRequest {
        event_type: "orders.approved".into(),
        actor: Some("svc-orders".into()),
        subject: Some(format!("order/{n}")),
        payload: CanonicalJson::from_value(&payload).expect("canonical"),
        attachments: if n % 1000 == 999 {
            vec![AttachmentInput {
                name: "scan.bin".into(),
                media_type: "application/octet-stream".into(),
                bytes: Arc::clone(attachment),
            }]
        } else {
            vec![]
        },
        idempotency: None,
    }
}

fn populate(dir: &Path, total: u64) {
    std::fs::create_dir_all(dir).expect("dir");
    let engine = Arc::new(engine(dir));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let attachment: Arc<[u8]> = Arc::from(vec![0x5a_u8; 4096]);
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (engine, next, attachment) = (
                Arc::clone(&engine),
                Arc::clone(&next),
                Arc::clone(&attachment),
            );
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    loop {
                        match engine.append(request(n, &attachment)) {
                            Ok(pending) => {
                                pending.wait().expect("recorded");
                                break;
                            }
                            Err(SubmitError::Overloaded { .. }) => std::thread::yield_now(),
                            Err(error) => panic!("{error:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("appender");
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    engine.shutdown().expect("shutdown");
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(
        dir.join("bench.pub"),
        format!("{}\n", key().public().to_hex()),
    )
    .expect("key");
    println!(
        "{}",
        json!({"phase": "populate", "envelopes": total, "seconds": seconds, "per_second": total as f64 / seconds})
    );
}

fn build(dir: &Path) {
    let engine = engine(dir);
    let started = Instant::now();
    let staged = engine
        .build_bundle(BundleSelection::AllSealed, &mut |_| {})
        .expect("builds");
    engine
        .record_bundle_built(&staged, None)
        .expect("queued")
        .wait()
        .expect("recorded");
    let file = engine.publish_bundle(staged).expect("published");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "phase": "build",
            "path": file.path,
            "envelopes": file.built.envelopes,
            "segments": file.built.segments.end() - file.built.segments.start() + 1,
            "bytes": file.built.bytes,
            "seconds": seconds,
            "envelopes_per_second": file.built.envelopes as f64 / seconds,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    engine.shutdown().expect("shutdown");
}

fn verify(file: &Path, key_file: &Path, batch_size: usize, threads: usize) {
    let key = arxi_verify::load_public_key(key_file.to_str().expect("utf8")).expect("key");
    let started = Instant::now();
    let input = std::fs::File::open(file).expect("bundle");
    let report = arxi_verify::verify_bundle(
        input,
        &[key],
        &arxi_verify::Options {
            batch_size,
            threads,
            ..arxi_verify::Options::default()
        },
        None,
    );
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.is_valid(), "{:?}", report.first_bad());
    println!(
        "{}",
        json!({
            "phase": "verify",
            "batch_size": batch_size,
            "threads": threads,
            "envelopes": report.counts.envelopes,
            "bytes": report.counts.bytes,
            "seconds": seconds,
            "envelopes_per_second": report.counts.envelopes as f64 / seconds,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["populate", dir, n] => populate(Path::new(dir), n.parse().expect("N")),
        ["build", dir] => build(Path::new(dir)),
        ["verify", file, key] => verify(Path::new(file), Path::new(key), 1_024, 1),
        ["verify", file, key, batch] => verify(
            Path::new(file),
            Path::new(key),
            batch.parse().expect("batch"),
            1,
        ),
        ["verify", file, key, batch, threads] => verify(
            Path::new(file),
            Path::new(key),
            batch.parse().expect("batch"),
            threads.parse().expect("threads"),
        ),
        _ => {
            eprintln!(
                "usage: bundle_bench populate DIR N | build DIR | verify FILE KEYFILE [BATCH [THREADS]]"
            );
            std::process::exit(2);
        }
    }
}
