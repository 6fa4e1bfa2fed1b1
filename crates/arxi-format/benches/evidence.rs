//! Per-envelope CPU costs of the evidence format on a representative 1 KB
//! envelope: canonicalization (ours and serde_jcs, same run, same value),
//! strict parsing, SHA-256, Ed25519 sign / verify_strict / batch verify, and
//! the whole pipeline. Results and method: `Docs/benchmarks.md`.
//!
//! Run: `cargo bench -p arxi-format --bench evidence`.

use std::hint::black_box;
use std::time::Duration;

use arxi_format::canonical::{self, CanonicalJson};
use arxi_format::envelope::{AttachmentRef, EnvelopeBody, Kind};
use arxi_format::keys::{Domain, SecretKey};
use arxi_format::{Hash32, Timestamp, json};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn key() -> SecretKey {
    SecretKey::from_seed(&Hash32::of(b"bench key").0).expect("seed")
}

/// A realistic event payload: nested objects, strings, numbers, an array.
fn payload() -> Value {
    json!({
        "decision": {
            "outcome": "approved",
            "amount": 1250.75,
            "currency": "EUR",
            "level": 2,
            "approvers": ["alice@example.com", "bob@example.com", "carol@example.com"],
            "reason": "Within the delegated limit for cost centre 4711; second approval recorded."
        },
        "policy": {"name": "four-eyes", "version": 12, "enforced": true, "threshold": 1000},
        "tags": ["finance", "approvals", "eu-west", "quarter-end"],
        "metrics": {"latency_ms": 12.5, "retries": 0, "queue_depth": 3}
    })
}

fn body(key: &SecretKey, payload: CanonicalJson) -> EnvelopeBody {
    EnvelopeBody {
        recorder_id: "bench-recorder".into(),
        segment_id: 42,
        seq: 1_234_567,
        received_at: Timestamp::from_unix_micros(1_795_380_078_123_456).expect("in range"),
        kind: Kind::Data,
        event_type: "approvals.decision".into(),
        actor: Some("alice@example.com".into()),
        subject: Some("invoice/2026-0042".into()),
        payload: arxi_format::envelope::Payload::Inline(payload),
        attachments: vec![AttachmentRef {
            name: "scan.pdf".into(),
            media_type: "application/pdf".into(),
            sha256: Hash32::of(b"scan"),
            size: 48_213,
        }],
        prev_hash: Hash32::of(b"previous"),
        key_id: key.id().clone(),
    }
}

fn benches(c: &mut Criterion) {
    let key = key();
    let payload_value = payload();
    let payload_canonical = CanonicalJson::from_value(&payload_value).expect("canonical");
    let envelope = body(&key, payload_canonical.clone()).sign(&key);
    let envelope_bytes = envelope.to_canonical_bytes();
    let envelope_value = json::parse(&envelope_bytes).expect("parses");
    // Pretty-printed, key order scrambled by serde_json: what a client sends.
    let envelope_text = serde_json::to_vec_pretty(&envelope_value).expect("text");
    assert!(
        (900..=1200).contains(&envelope_bytes.len()),
        "representative envelope is about 1 KB, got {}",
        envelope_bytes.len()
    );
    eprintln!(
        "envelope: {} canonical bytes, {} text bytes",
        envelope_bytes.len(),
        envelope_text.len()
    );

    let mut group = c.benchmark_group("canonicalize_1kb_envelope_value");
    group.throughput(Throughput::Elements(1));
    group.bench_function("arxi", |b| {
        let mut out = Vec::with_capacity(2048);
        b.iter(|| {
            out.clear();
            canonical::write_value(&mut out, black_box(&envelope_value)).expect("ok");
            black_box(out.len())
        });
    });
    group.bench_function("serde_jcs", |b| {
        b.iter(|| black_box(serde_jcs::to_vec(black_box(&envelope_value)).expect("ok")));
    });
    group.finish();

    let mut group = c.benchmark_group("parse_and_canonicalize_1kb_envelope_text");
    group.throughput(Throughput::Elements(1));
    group.bench_function("arxi_strict", |b| {
        b.iter(|| black_box(CanonicalJson::parse(black_box(&envelope_text)).expect("ok")));
    });
    group.bench_function("serde_json_plus_serde_jcs", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_slice(black_box(&envelope_text)).expect("ok");
            black_box(serde_jcs::to_vec(&value).expect("ok"))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("envelope_1kb");
    group.throughput(Throughput::Elements(1));
    group.bench_function("typed_canonical_body", |b| {
        let body = body(&key, payload_canonical.clone());
        b.iter(|| black_box(black_box(&body).canonical_bytes()));
    });
    group.bench_function("sha256", |b| {
        let bytes = envelope.body.canonical_bytes();
        b.iter(|| black_box(Hash32::of(black_box(&bytes))));
    });
    group.bench_function("sign", |b| {
        b.iter(|| black_box(key.sign(Domain::Envelope, black_box(&envelope.hash))));
    });
    group.bench_function("verify_strict", |b| {
        b.iter(|| {
            key.public()
                .verify(
                    Domain::Envelope,
                    black_box(&envelope.hash),
                    &envelope.signature,
                )
                .expect("valid");
        });
    });
    group.bench_function("pipeline_parse_canonicalize_hash_sign", |b| {
        let payload_text = serde_json::to_vec(&payload_value).expect("text");
        b.iter_batched(
            || payload_text.clone(),
            |text| {
                let payload = CanonicalJson::parse(&text).expect("ok");
                black_box(body(&key, payload).sign(&key))
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();

    for size in [64_usize, 256, 1024] {
        let mut group = c.benchmark_group(format!("verify_batch_{size}"));
        group.throughput(Throughput::Elements(size as u64));
        let signers: Vec<SecretKey> = (0..4_u8)
            .map(|i| SecretKey::from_seed(&Hash32::of(&[i]).0).expect("seed"))
            .collect();
        let hashes: Vec<Hash32> = (0..size as u64)
            .map(|i| Hash32::of(&i.to_be_bytes()))
            .collect();
        let messages: Vec<Vec<u8>> = hashes.iter().map(|h| Domain::Envelope.message(h)).collect();
        let signatures: Vec<ed25519_dalek::Signature> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| {
                ed25519_dalek::Signature::from_bytes(&signers[i % 4].sign(Domain::Envelope, h).0)
            })
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> = (0..size)
            .map(|i| *signers[i % 4].public().dalek())
            .collect();
        let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        group.bench_function("dalek_verify_batch", |b| {
            b.iter(|| {
                ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).expect("valid");
            });
        });
        group.finish();
    }
}

criterion_group! {
    name = evidence;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(evidence);
