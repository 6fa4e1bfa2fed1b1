//! A large history: writes a database of N real envelopes through the
//! engine (batches of 1,000 from two threads, segments sealed every
//! 100,000 envelopes as by default) unless it already holds them, then
//! measures on it what an operator waits for: restart to ready (the
//! engine's open: recovery, the verified tail, the log tree's check),
//! one-row queries by sequence number and by type at random points, and
//! the bundle build of the last sealed segment. Results and method in
//! `Docs/benchmarks.md` ("Large histories").
//!
//! `large_history DIR [ENVELOPES] [RESTARTS] [QUERIES]` (release build;
//! defaults 10,000,000, 5 and 2,000). Not run in CI: 10,000,000 small
//! envelopes take about 7.5 GB and several minutes to write.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arxi_format::{CanonicalJson, Hash32, SecretKey};
use arxi_recorder::bundle::BundleSelection;
use arxi_recorder::{
    AppendRequest, EnvelopeQuery, Outcome, RecorderConfig, RecorderEngine, SystemClock,
};
use serde_json::json;

const TYPES: [&str; 8] = [
    "orders.approved",
    "orders.shipped",
    "orders.cancelled",
    "payments.captured",
    "payments.refunded",
    "customers.updated",
    "stock.counted",
    "audit.login",
];
const BATCH: u64 = 1_000;

fn key() -> SecretKey {
    SecretKey::from_seed(&Hash32::of(b"large-history").0).expect("seed")
}

fn open(dir: &Path) -> RecorderEngine {
    let mut config = RecorderConfig::new("large-history");
    config.bundle_dir = Some(dir.join("bundles"));
    RecorderEngine::open(&dir.join("arxi.db"), config, key(), Arc::new(SystemClock))
        .expect("the database opens")
}

/// A small envelope (about 530 canonical bytes) numbered `n`.
fn request(n: u64) -> AppendRequest {
    let payload = json!({"order": format!("ord-{n:012}"), "amount": 1250.75, "currency": "EUR",
                         "status": "approved", "note": "x".repeat(160)});
    AppendRequest {
        event_type: TYPES[(n % TYPES.len() as u64) as usize].into(),
        actor: Some("alice@example.com".into()),
        subject: Some(format!("order/{}", n % 10_000)),
        payload: CanonicalJson::from_value(&payload).expect("canonical"),
        attachments: vec![],
        idempotency: None,
    }
}

/// Appends until the head reaches `target`, from two threads.
fn fill(engine: &Arc<RecorderEngine>, target: u64) {
    let start = engine.status().head_seq;
    if start >= target {
        return;
    }
    let next = Arc::new(AtomicU64::new(start));
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let engine = Arc::clone(engine);
            let next = Arc::clone(&next);
            std::thread::spawn(move || {
                loop {
                    let first = next.fetch_add(BATCH, Ordering::Relaxed);
                    if first >= target {
                        return;
                    }
                    let batch = (first..(first + BATCH).min(target)).map(request).collect();
                    match engine.append_batch(batch, None).expect("queued").wait() {
                        Ok(Outcome::Done { .. }) => {}
                        other => panic!("batch at {first}: {other:?}"),
                    }
                    if (first / BATCH).is_multiple_of(1_000) {
                        eprintln!(
                            "{} envelopes, {:.0} s",
                            first + BATCH,
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer");
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} envelopes in {seconds:.0} s ({:.0}/s)",
        target - start,
        (target - start) as f64 / seconds
    );
}

/// Microseconds at the percentiles, after sorting.
fn spread(times: &mut [Duration]) -> String {
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6;
    format!(
        "p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// Deterministic spread of sample points over `1..=head`.
fn points(head: u64, count: u64) -> impl Iterator<Item = u64> {
    (0..count).map(move |i| 1 + (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % head)
}

fn time_queries(engine: &RecorderEngine, queries: u64) {
    let head = engine.status().head_seq;
    let mut by_seq = Vec::new();
    let mut by_type = Vec::new();
    for (i, seq) in points(head, queries).enumerate() {
        let started = Instant::now();
        let page = engine
            .query(&EnvelopeQuery {
                seq_from: Some(seq),
                seq_to: Some(seq),
                limit: Some(1),
                ..EnvelopeQuery::default()
            })
            .expect("query by seq");
        by_seq.push(started.elapsed());
        assert_eq!(page.envelopes.len(), 1, "envelope {seq}");
        let started = Instant::now();
        let page = engine
            .query(&EnvelopeQuery {
                event_type: Some(TYPES[i % TYPES.len()].into()),
                seq_from: Some(seq),
                limit: Some(1),
                ..EnvelopeQuery::default()
            })
            .expect("query by type");
        by_type.push(started.elapsed());
        assert!(page.envelopes.len() <= 1);
    }
    println!(
        "| query by seq, one row ({queries} at random seqs) | {} |",
        spread(&mut by_seq)
    );
    println!(
        "| query by type from a random seq, one row ({queries}) | {} |",
        spread(&mut by_type)
    );
}

fn time_bundle(engine: &RecorderEngine) {
    let status = engine.status();
    let last_sealed = match &status.open_segment {
        Some(open) => open.segment_id - 1,
        None => engine.segments(0, u32::MAX).map_or(0, |s| s.len() as u64),
    };
    if last_sealed == 0 {
        println!("| bundle build | no sealed segment yet |");
        return;
    }
    let started = Instant::now();
    let staged = engine
        .build_bundle(
            BundleSelection::Segments {
                first: last_sealed,
                last: last_sealed,
            },
            &mut |_| {},
        )
        .expect("bundle");
    let seconds = started.elapsed().as_secs_f64();
    let built = &staged.file().built;
    println!(
        "| bundle build, last sealed segment ({last_sealed}: {} envelopes, {} bytes) | {:.2} s |",
        built.envelopes, built.bytes, seconds
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let number = |text: Option<String>, default: u64| {
        text.map_or(default, |t| t.replace('_', "").parse().expect("a number"))
    };
    let envelopes = number(args.next(), 10_000_000);
    let restarts = number(args.next(), 5);
    let queries = number(args.next(), 2_000);
    std::fs::create_dir_all(&dir).expect("dir");
    let engine = Arc::new(open(&dir));
    fill(&engine, envelopes);
    let Ok(engine) = Arc::try_unwrap(engine) else {
        panic!("the writers are gone");
    };
    engine.shutdown().expect("shutdown");
    let database = std::fs::metadata(dir.join("arxi.db")).map_or(0, |m| m.len());
    println!("| measure | result |\n|---|---|");
    println!(
        "| database | {envelopes} envelopes, {:.2} GB |",
        database as f64 / 1e9
    );
    let mut opens = Vec::new();
    for _ in 0..restarts {
        let started = Instant::now();
        let engine = open(&dir);
        opens.push(started.elapsed());
        engine.shutdown().expect("shutdown");
    }
    let each: Vec<String> = opens
        .iter()
        .map(|open| format!("{:.0}", open.as_secs_f64() * 1e3))
        .collect();
    println!(
        "| restart to ready ({restarts} restarts: {} ms) | {} |",
        each.join(", "),
        spread(&mut opens)
    );
    let engine = open(&dir);
    time_queries(&engine, queries);
    time_bundle(&engine);
    engine.shutdown().expect("shutdown");
}
