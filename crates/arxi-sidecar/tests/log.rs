//! The log tree over HTTP: checkpoints served as C2SP notes, cosigned by an
//! in-process witness; proofs that verify against them; metrics, readiness
//! and the chain showing a witness that refuses.

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use arxi_format::note::{Checkpoint, Note, NoteSigner, SignatureType, VerifierKey};
use arxi_format::{Envelope, Hash32, SecretKey, merkle, seal::envelope_leaf};
use serde_json::Value;
use support::{Harness, Options, assert_problem, eventually, wait_for, write_secret};

const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ORIGIN: &str = "arxi/test-recorder";

fn recorder_key() -> SecretKey {
    SecretKey::from_hex(SEED_HEX).unwrap()
}

fn log_vkey() -> VerifierKey {
    VerifierKey::new(
        ORIGIN,
        SignatureType::Ed25519,
        recorder_key().public().clone(),
    )
    .unwrap()
}

/// An in-process witness trusting `logs`; answers its URL and key.
fn witness(
    name: &str,
    seed: u8,
    logs: Vec<VerifierKey>,
) -> (String, VerifierKey, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let signer = NoteSigner::new(
        name,
        SignatureType::Cosignature,
        SecretKey::from_seed(&[seed; 32]).unwrap(),
    )
    .unwrap();
    let key = signer.verifier().clone();
    let witness =
        Arc::new(arxi_witness::witness::Witness::open(signer, logs, state.path()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || arxi_witness::http::serve(&listener, &witness));
    (url, key, state)
}

fn start(extra: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    write_secret(&dir.path().join("signer.key"), SEED_HEX);
    Harness::start_in(
        dir,
        &Options {
            extra: format!("[log]\ncheckpoint_interval_ms = 100\n{extra}"),
            ..Options::default()
        },
    )
}

fn peer(url: &str, key: &VerifierKey) -> String {
    format!("[[witness.peers]]\nvkey = \"{key}\"\nurl = \"{url}\"\ntimeout_ms = 2000\n")
}

fn record(harness: &Harness, n: usize) {
    for i in 0..n {
        let response = harness.post(
            "/v1/envelopes",
            &[],
            &format!(r#"{{"type":"orders.created","payload":{{"n":{i}}}}}"#),
        );
        assert_eq!(response.status, 201, "{}", response.text());
    }
}

fn metric(harness: &Harness, line_start: &str) -> Option<f64> {
    let text = harness.get("/metrics", &[]).text();
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[test]
fn witnessed_checkpoints_and_proofs_verify_offline() {
    let (url, witness_key, _state) = witness("witness.test/w1", 7, vec![log_vkey()]);
    let harness = start(&peer(&url, &witness_key));
    record(&harness, 40);
    let head = harness.get("/v1/log", &[]).json()["tree_size"]
        .as_u64()
        .unwrap();

    let note = wait_for(
        "a witnessed checkpoint covering the records",
        Duration::from_secs(20),
        || {
            let response = harness.get("/v1/log/checkpoint", &[]);
            (response.status == 200).then_some(())?;
            let note = Note::parse(&response.body).ok()?;
            let size = Checkpoint::parse(note.text()).ok()?.size;
            (size >= head).then_some(note)
        },
    );
    let verified = note.verify(&[log_vkey(), witness_key.clone()]).unwrap();
    assert_eq!(
        verified.len(),
        2,
        "the recorder's signature and the witness's"
    );
    let checkpoint = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(checkpoint.origin, ORIGIN);

    for seq in [1, 2, 17, head] {
        let response = harness.get(&format!("/v1/envelopes/proof?seq={seq}"), &[]);
        assert_eq!(response.status, 200, "{}", response.text());
        let proof = response.json();
        let envelope = Envelope::parse(proof["envelope"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(envelope.body.seq, seq);
        assert_eq!(envelope.body.compute_hash(), envelope.hash);
        let served = Note::parse(proof["checkpoint"].as_str().unwrap().as_bytes()).unwrap();
        served.verify(&[log_vkey(), witness_key.clone()]).unwrap();
        let at = Checkpoint::parse(served.text()).unwrap();
        assert_eq!(proof["tree_size"].as_u64(), Some(at.size));
        let path: Vec<Hash32> = proof["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash32::from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        merkle::verify_inclusion(
            &envelope_leaf(&envelope.hash),
            seq - 1,
            at.size,
            &path,
            &at.root,
        )
        .unwrap_or_else(|e| panic!("inclusion of {seq}: {e}"));
        assert_eq!(
            proof["log_vkey"].as_str(),
            Some(log_vkey().to_string().as_str())
        );
    }

    // The same proof through the offline verifier, under witness policies.
    let raw = harness.get("/v1/envelopes/proof?seq=17", &[]).body;
    let trusted = arxi_verify::WitnessPolicy {
        witnesses: vec![witness_key.clone()],
        quorum: 1,
    };
    let checked = arxi_verify::verify_log_proof(&raw, recorder_key().public(), &trusted).unwrap();
    assert_eq!(checked.envelope.body.seq, 17);
    assert_eq!(checked.cosigners.len(), 1);
    let two = arxi_verify::WitnessPolicy {
        quorum: 2,
        ..trusted.clone()
    };
    assert!(arxi_verify::verify_log_proof(&raw, recorder_key().public(), &two).is_err());
    let (_, other_witness, _other_state) = witness("witness.test/other", 11, vec![log_vkey()]);
    let strangers = arxi_verify::WitnessPolicy {
        witnesses: vec![other_witness],
        quorum: 1,
    };
    assert!(arxi_verify::verify_log_proof(&raw, recorder_key().public(), &strangers).is_err());
    let other_key = SecretKey::from_seed(&[3; 32]).unwrap();
    assert!(arxi_verify::verify_log_proof(&raw, other_key.public(), &trusted).is_err());
    let mut forged: Value = serde_json::from_slice(&raw).unwrap();
    forged["inclusion_proof"][0] = Value::String("00".repeat(32));
    let forged = serde_json::to_vec(&forged).unwrap();
    assert!(arxi_verify::verify_log_proof(&forged, recorder_key().public(), &trusted).is_err());

    let log = harness.get("/v1/log", &[]).json();
    assert_eq!(log["vkey"].as_str(), Some(log_vkey().to_string().as_str()));
    assert_eq!(log["quorum"].as_u64(), Some(1));
    assert!(log["witnesses"][0]["cosigned_size"].as_u64().unwrap() >= head);
    let name = "arxi_witness_cosigned_size{witness=\"witness.test/w1\"}";
    assert!(metric(&harness, name).unwrap() >= head as f64);

    // The witnessed checkpoint is recorded in the chain.
    eventually(
        "an arxi.log.checkpoint envelope",
        Duration::from_secs(10),
        || {
            let page = harness
                .post(
                    "/v1/query/envelopes",
                    &[],
                    r#"{"type":"arxi.log.checkpoint"}"#,
                )
                .json();
            page["envelopes"].as_array().is_some_and(|e| !e.is_empty())
        },
    );
}

#[test]
fn without_witnesses_every_checkpoint_is_served_and_bad_requests_are_refused() {
    let harness = start("");
    record(&harness, 3);
    let note = wait_for("a checkpoint", Duration::from_secs(10), || {
        let response = harness.get("/v1/log/checkpoint", &[]);
        (response.status == 200).then(|| Note::parse(&response.body).unwrap())
    });
    assert_eq!(note.verify(&[log_vkey()]).unwrap().len(), 1);
    assert_eq!(
        harness
            .get("/v1/log/checkpoint", &[])
            .header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_problem(
        &harness.get("/v1/envelopes/proof?seq=0", &[]),
        422,
        "validation_failed",
    );
    assert_problem(
        &harness.get("/v1/envelopes/proof?seq=01", &[]),
        422,
        "validation_failed",
    );
    assert_problem(&harness.get("/v1/envelopes/proof", &[]), 400, "bad_request");
    assert_problem(
        &harness.get("/v1/envelopes/proof?seq=1&seq=2", &[]),
        400,
        "bad_request",
    );
    assert_problem(
        &harness.get("/v1/envelopes/proof?seq=999999", &[]),
        404,
        "envelope_not_found",
    );
}

#[test]
fn a_refusing_witness_shows_in_metrics_readiness_and_the_chain() {
    // The witness trusts another key for this origin: every checkpoint is
    // refused with 403.
    let stranger = VerifierKey::new(
        ORIGIN,
        SignatureType::Ed25519,
        SecretKey::from_seed(&[9; 32]).unwrap().public().clone(),
    )
    .unwrap();
    let (url, witness_key, _state) = witness("witness.test/w2", 8, vec![stranger]);
    let harness = start(&format!(
        "[witness]\nmax_lag_ms = 400\n{}",
        peer(&url, &witness_key)
    ));
    record(&harness, 2);
    let failures = "arxi_witness_failures_total{witness=\"witness.test/w2\",reason=\"forbidden\"}";
    eventually("a counted refusal", Duration::from_secs(10), || {
        metric(&harness, failures).is_some_and(|n| n >= 1.0)
    });
    eventually(
        "readiness failing on witness lag",
        Duration::from_secs(10),
        || {
            let response = harness.get("/ready", &[]);
            response.status == 503 && response.json()["reason"] == "witness_lag"
        },
    );
    assert_problem(
        &harness.get("/v1/log/checkpoint", &[]),
        503,
        "checkpoint_unavailable",
    );
    let page = harness
        .post(
            "/v1/query/envelopes",
            &[],
            r#"{"type":"arxi.witness.refused"}"#,
        )
        .json();
    let refusals = page["envelopes"].as_array().unwrap();
    assert_eq!(
        refusals.len(),
        1,
        "recorded once per kind of refusal: {refusals:?}"
    );
    let payload: &Value = &refusals[0]["payload"];
    assert_eq!(payload["reason"], "forbidden");
    assert_eq!(payload["witness"], "witness.test/w2");
}

#[test]
fn receipts_rebuild_the_signed_envelope_offline() {
    let harness = start("");
    let key = recorder_key();
    let request = r#"{"type":"orders.created","actor":"alice","subject":"order/9","payload":{"amount":12.5,"items":["a","b"]}}"#;
    let fresh = harness.post("/v1/envelopes", &[], request);
    assert_eq!(fresh.status, 201, "{}", fresh.text());
    let checked =
        arxi_verify::verify_receipt(&fresh.body, request.as_bytes(), key.public()).unwrap();
    assert_eq!(checked.envelope.body.actor.as_deref(), Some("alice"));
    // The envelope rebuilt offline is the one recorded, byte for byte
    // (read by seq: the proof route would wait for a witnessed checkpoint).
    let stored = harness.get(
        &format!("/v1/envelopes?seq={}", checked.envelope.body.seq),
        &[],
    );
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(stored.body, checked.envelope.to_canonical_bytes());

    // Another payload, another key, a changed receipt: refused.
    let other = request.replace("12.5", "12.6");
    assert!(arxi_verify::verify_receipt(&fresh.body, other.as_bytes(), key.public()).is_err());
    let stranger = SecretKey::from_seed(&[4; 32]).unwrap();
    assert!(
        arxi_verify::verify_receipt(&fresh.body, request.as_bytes(), stranger.public()).is_err()
    );
    let mut moved: Value = fresh.json();
    moved["seq"] = Value::from(moved["seq"].as_u64().unwrap() + 1);
    let moved = serde_json::to_vec(&moved).unwrap();
    assert!(arxi_verify::verify_receipt(&moved, request.as_bytes(), key.public()).is_err());

    // Idempotent: the first answer and its replay carry the same signature.
    let headers = [("idempotency-key", "receipt-1")];
    let first = harness.post("/v1/envelopes", &headers, request);
    let replay = harness.post("/v1/envelopes", &headers, request);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json(), replay.json());
    arxi_verify::verify_receipt(&replay.body, request.as_bytes(), key.public()).unwrap();

    // Attachments: the request's contents rebuild the references.
    let with = r#"{"type":"docs.filed","payload":{},"attachments":[{"name":"a.txt","media_type":"text/plain","content_base64":"aGVsbG8="}]}"#;
    let attached = harness.post("/v1/envelopes/with-attachments", &[], with);
    assert_eq!(attached.status, 201, "{}", attached.text());
    let checked =
        arxi_verify::verify_receipt(&attached.body, with.as_bytes(), key.public()).unwrap();
    assert_eq!(checked.envelope.body.attachments[0].size, 5);
    let changed = with.replace("aGVsbG8=", "aGVsbA==");
    assert!(arxi_verify::verify_receipt(&attached.body, changed.as_bytes(), key.public()).is_err());

    // Batch receipts, each checked against its own request.
    let items = [
        r#"{"type":"orders.paid","payload":{"n":1}}"#,
        r#"{"type":"orders.paid","payload":{"n":2},"subject":"order/9"}"#,
    ];
    let batch = harness.post(
        "/v1/envelopes/batch",
        &[],
        &format!(r#"{{"envelopes":[{}]}}"#, items.join(",")),
    );
    assert_eq!(batch.status, 201, "{}", batch.text());
    for (receipt, item) in batch.json()["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(items)
    {
        let receipt = serde_json::to_vec(receipt).unwrap();
        arxi_verify::verify_receipt(&receipt, item.as_bytes(), key.public()).unwrap();
    }
}
