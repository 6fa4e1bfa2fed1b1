//! The sidecar witnessed by three `arxi-witness` processes: the quorum is
//! reached; with one witness down it is still reached by the other two; a
//! restarted witness catches up from the size it persisted; and a
//! recorder whose database was rewritten under the same key is refused by
//! every witness, visibly in metrics, logs and the chain. `arxi proof
//! verify` checks a served log proof under a witness policy, and refuses
//! one the key holder made alone; `arxi receipt verify` checks a receipt
//! against its request. `arxi bundle verify --witness ... --quorum N`
//! accepts the honest recorder's bundle, anchored to a witnessed
//! checkpoint, and refuses the rewritten recorder's bundle, which passes
//! under the recorder key alone.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use arxi_format::SecretKey;
use arxi_format::note::{Checkpoint, Note, SignatureType, VerifierKey};
use arxi_system_tests::witness::WitnessProcess;
use arxi_system_tests::{Response, Sidecar, http, test_config, wait_for, write_secret};

const SEED_HEX: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
/// `arxi/<recorder.id>` of [`test_config`].
const ORIGIN: &str = "arxi/system-test";
const WAIT: Duration = Duration::from_secs(30);

fn log_vkey() -> VerifierKey {
    let key = SecretKey::from_hex(SEED_HEX).expect("seed");
    VerifierKey::new(ORIGIN, SignatureType::Ed25519, key.public().clone()).expect("origin")
}

fn get(sidecar: &Sidecar, path: &str) -> Response {
    http(&sidecar.tcp, "GET", path, &[], None).expect("GET")
}

fn record(sidecar: &Sidecar, count: usize) -> u64 {
    let mut last = 0;
    for n in 0..count {
        let body = format!(r#"{{"type":"orders.created","payload":{{"n":{n}}}}}"#);
        let response = http(
            &sidecar.tcp,
            "POST",
            "/v1/envelopes",
            &[],
            Some(body.as_bytes()),
        )
        .expect("POST");
        assert_eq!(response.status, 201, "{}", response.text());
        last = response.json()["seq"].as_u64().expect("seq");
    }
    last
}

/// A sidecar in `dir` (its data kept there) with the recorder key written
/// first, witnessed by `witnesses`.
fn sidecar(dir: &Path, witnesses: &[WitnessProcess]) -> Sidecar {
    std::fs::create_dir_all(dir).expect("sidecar dir");
    write_secret(dir, "signer.key", SEED_HEX);
    let mut extra = String::from("[log]\ncheckpoint_interval_ms = 200\n[witness]\nquorum = 2\n");
    for witness in witnesses {
        extra.push_str(&format!(
            "[[witness.peers]]\nvkey = \"{}\"\nurl = \"{}\"\ntimeout_ms = 1000\n",
            witness.vkey,
            witness.url()
        ));
    }
    Sidecar::start(&test_config(dir, &extra, "auto"), None)
}

/// Waits for a witnessed checkpoint covering `size` envelopes; answers the
/// names of the witnesses whose cosignatures verify on it.
fn witnessed(sidecar: &Sidecar, witnesses: &[WitnessProcess], size: u64) -> Vec<String> {
    let keys: Vec<VerifierKey> = witnesses
        .iter()
        .map(|w| VerifierKey::parse(&w.vkey).expect("vkey"))
        .collect();
    let note = wait_for(&format!("a witnessed checkpoint of {size}"), WAIT, || {
        let response = get(sidecar, "/v1/log/checkpoint");
        (response.status == 200).then_some(())?;
        let note = Note::parse(&response.body).ok()?;
        (Checkpoint::parse(note.text()).ok()?.size >= size).then_some(note)
    });
    note.verify(&[log_vkey()])
        .expect("signed by the recorder key");
    let verified = note.verify(&keys).expect("cosignatures verify");
    verified.iter().map(|v| v.key.name().to_owned()).collect()
}

fn metric(sidecar: &Sidecar, series: &str) -> f64 {
    get(sidecar, "/metrics")
        .text()
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn three_witnesses(dir: &Path) -> Vec<WitnessProcess> {
    (1..=3)
        .map(|n| {
            let mut witness = WitnessProcess::new(
                &dir.join(format!("w{n}")),
                &format!("w{n}.witness.test"),
                &[log_vkey().to_string()],
            );
            witness.start();
            witness
        })
        .collect()
}

#[test]
fn a_quorum_of_three_witnesses_survives_one_down_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut witnesses = three_witnesses(dir.path());
    let sidecar = sidecar(&dir.path().join("sidecar"), &witnesses);

    let head = record(&sidecar, 20);
    let names = witnessed(&sidecar, &witnesses, head);
    assert!(names.len() >= 2, "a quorum of 2 cosigned: {names:?}");

    // One witness down: the other two still make the quorum.
    witnesses[2].kill();
    let head = record(&sidecar, 20);
    let names = witnessed(&sidecar, &witnesses, head);
    assert!(
        names.contains(&"w1.witness.test".to_owned())
            && names.contains(&"w2.witness.test".to_owned()),
        "{names:?}"
    );
    let down = "arxi_witness_failures_total{witness=\"w3.witness.test\",reason=\"unreachable\"}";
    wait_for("the down witness counted", WAIT, || {
        (metric(&sidecar, down) >= 1.0).then_some(())
    });
    assert!(
        metric(
            &sidecar,
            "arxi_witness_lag_entries{witness=\"w3.witness.test\"}"
        ) > 0.0
    );

    // Restarted on its persisted state: it catches up from the size it
    // cosigned last, through a consistency proof.
    witnesses[2].start();
    let head = record(&sidecar, 5);
    wait_for("the restarted witness caught up", WAIT, || {
        let cosigned = metric(
            &sidecar,
            "arxi_witness_cosigned_size{witness=\"w3.witness.test\"}",
        );
        (cosigned >= head as f64).then_some(())
    });
    let log = get(&sidecar, "/v1/log").json();
    assert_eq!(log["quorum"], 2);
    assert_eq!(log["vkey"], log_vkey().to_string());
    let status = sidecar.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_rewritten_database_under_the_same_key_is_refused_by_every_witness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let witnesses = three_witnesses(dir.path());
    let first = sidecar(&dir.path().join("original"), &witnesses);
    let head = record(&first, 30);
    let names = witnessed(&first, &witnesses, head);
    assert!(names.len() >= 2);
    wait_for("every witness cosigned", WAIT, || {
        witnesses
            .iter()
            .all(|w| {
                metric(
                    &first,
                    &format!("arxi_witness_cosigned_size{{witness=\"{}\"}}", w.name),
                ) >= head as f64
            })
            .then_some(())
    });
    let honest = seal_and_bundle(&first, &dir.path().join("honest.arxb"));
    assert!(first.terminate().success());

    // Another history under the same key and recorder id: first shorter
    // than what the witnesses have seen, then longer.
    let forged = sidecar(&dir.path().join("rewritten"), &witnesses);
    record(&forged, 3);
    for witness in &witnesses {
        let series = format!(
            "arxi_witness_failures_total{{witness=\"{}\",reason=\"witness_ahead\"}}",
            witness.name
        );
        wait_for(
            &format!("{} ahead of the rewritten log", witness.name),
            WAIT,
            || (metric(&forged, &series) >= 1.0).then_some(()),
        );
    }
    record(&forged, 60);
    for witness in &witnesses {
        let series = format!(
            "arxi_witness_failures_total{{witness=\"{}\",reason=\"inconsistent\"}}",
            witness.name
        );
        wait_for(
            &format!("{} refusing the inconsistent tree", witness.name),
            WAIT,
            || (metric(&forged, &series) >= 1.0).then_some(()),
        );
        assert!(
            witness.logged("inconsistent checkpoint refused"),
            "the witness logs the refusal"
        );
    }
    assert_eq!(
        get(&forged, "/v1/log/checkpoint").status,
        503,
        "never witnessed"
    );
    let page = http(
        &forged.tcp,
        "POST",
        "/v1/query/envelopes",
        &[],
        Some(br#"{"type":"arxi.witness.refused","limit":100}"#),
    )
    .expect("query")
    .json();
    let refusals = page["envelopes"].as_array().expect("envelopes");
    for witness in &witnesses {
        for reason in ["witness_ahead", "inconsistent"] {
            assert!(
                refusals
                    .iter()
                    .any(|e| e["payload"]["witness"] == witness.name.as_str()
                        && e["payload"]["reason"] == reason),
                "{} {reason} recorded in the chain: {refusals:?}",
                witness.name
            );
        }
    }
    let log = forged.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        log.iter()
            .any(|line| line.contains("a witness refused this log's checkpoint")),
        "the sidecar logs the refusal"
    );
    let rewritten = seal_and_bundle(&forged, &dir.path().join("rewritten.arxb"));
    assert!(forged.terminate().success());
    bundles_under_a_witness_policy(&honest, &rewritten, &witnesses);
}

/// Seals the open segment, waits (when witnessed) for a witnessed
/// checkpoint covering it, builds the bundle of every sealed segment and
/// downloads it to `path`.
fn seal_and_bundle(sidecar: &Sidecar, path: &Path) -> String {
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(sealed.status, 200, "{}", sealed.text());
    let last_seq = sealed.json()["seal"]["last_seq"]
        .as_u64()
        .expect("last_seq");
    let state = get(sidecar, "/v1/log").json();
    if state["witnessed_size"].as_u64().unwrap_or(0) > 0 {
        wait_for("a witnessed checkpoint covering the seal", WAIT, || {
            let state = get(sidecar, "/v1/log").json();
            (state["witnessed_size"].as_u64()? >= last_seq).then_some(())
        });
    }
    let built = http(&sidecar.tcp, "POST", "/v1/bundles/build", &[], Some(b"{}")).expect("build");
    assert_eq!(built.status, 201, "{}", built.text());
    let id = built.json()["bundle"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let download = get(sidecar, &format!("/v1/bundles/download?id={id}"));
    assert_eq!(download.status, 200);
    std::fs::write(path, &download.body).expect("write bundle");
    path.to_str().expect("utf-8").to_owned()
}

/// The honest recorder's bundle carries a witnessed anchor and verifies
/// with and without a witness policy; the rewritten recorder's bundle,
/// re-signed with the same key, verifies under the key alone and fails
/// under the policy.
fn bundles_under_a_witness_policy(honest: &str, rewritten: &str, witnesses: &[WitnessProcess]) {
    let key = recorder_public_hex();
    let verify = |file: &str, policy: bool| {
        let mut args = vec!["bundle", "verify", file, "--key", key.as_str()];
        if policy {
            for witness in witnesses {
                args.extend(["--witness", witness.vkey.as_str()]);
            }
            args.extend(["--quorum", "2"]);
        }
        let (code, text) = arxi(&args);
        args.push("--json");
        let (_, json) = arxi(&args);
        let report: serde_json::Value = serde_json::from_str(&json).expect("json report");
        (code, text, report)
    };
    assert!(
        std::fs::read(honest)
            .expect("honest")
            .starts_with(b"ARXI-BUNDLE 3\n")
    );
    let (code, text, report) = verify(honest, false);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("anchored: envelope seq"), "{text}");
    assert_eq!(report["anchored"], true, "{report}");
    let (code, text, report) = verify(honest, true);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        report["anchor"]["trusted_cosignatures"]
            .as_u64()
            .expect("count")
            >= 2,
        "{report}"
    );

    let (code, text, report) = verify(rewritten, false);
    assert_eq!(code, Some(0), "the key holder's word alone: {text}");
    assert!(text.contains("anchor: none"), "{text}");
    assert_eq!(report["anchored"], false, "{report}");
    let (code, text, report) = verify(rewritten, true);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        report["codes"],
        serde_json::json!(["anchor_missing"]),
        "{report}"
    );
}

/// `arxi ARGS`, its exit code and its standard output.
fn arxi(args: &[&str]) -> (Option<i32>, String) {
    let Output { status, stdout, .. } =
        std::process::Command::new(arxi_system_tests::binary("arxi"))
            .args(args)
            .output()
            .expect("arxi runs");
    (status.code(), String::from_utf8_lossy(&stdout).into_owned())
}

fn recorder_public_hex() -> String {
    SecretKey::from_hex(SEED_HEX)
        .expect("seed")
        .public()
        .to_hex()
}

#[test]
fn served_proofs_and_receipts_verify_offline_under_a_witness_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let witnesses = three_witnesses(dir.path());
    let sidecar = sidecar(&dir.path().join("sidecar"), &witnesses);
    let request = br#"{"type":"orders.created","actor":"u/1","payload":{"n":7,"items":["a","b"]}}"#;
    let receipt = http(&sidecar.tcp, "POST", "/v1/envelopes", &[], Some(request)).expect("POST");
    assert_eq!(receipt.status, 201, "{}", receipt.text());
    let head = record(&sidecar, 10);
    witnessed(&sidecar, &witnesses, head);
    let seq = receipt.json()["seq"].as_u64().expect("seq");
    let proof = get(&sidecar, &format!("/v1/envelopes/proof?seq={seq}"));
    assert_eq!(proof.status, 200, "{}", proof.text());
    assert!(sidecar.terminate().success());

    let files = dir.path().join("auditor");
    std::fs::create_dir_all(&files).expect("dir");
    let write = |name: &str, bytes: &[u8]| {
        let path = files.join(name);
        std::fs::write(&path, bytes).expect("write");
        path.to_str().expect("utf-8").to_owned()
    };
    let key = recorder_public_hex();
    let proof_file = write("proof.json", &proof.body);
    let vkeys: Vec<String> = witnesses.iter().map(|w| w.vkey.clone()).collect();
    let mut policy = vec![
        "proof",
        "verify",
        proof_file.as_str(),
        "--key",
        key.as_str(),
    ];
    for vkey in &vkeys {
        policy.extend(["--witness", vkey.as_str()]);
    }
    let quorum_two: Vec<&str> = policy.iter().copied().chain(["--quorum", "2"]).collect();
    let (code, out) = arxi(&quorum_two);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("VALID: envelope seq"), "{out}");

    // A witness the auditor trusts that never saw this log: below quorum.
    let stranger = WitnessProcess::new(&dir.path().join("w9"), "w9.witness.test", &[])
        .vkey
        .clone();
    let (code, out) = arxi(&[
        "proof",
        "verify",
        &proof_file,
        "--key",
        &key,
        "--witness",
        &stranger,
        "--quorum",
        "1",
    ]);
    assert_eq!(code, Some(1), "{out}");

    // The same envelope and tree, but only the recorder's own signature on
    // the checkpoint: what the key holder can make alone. Valid without a
    // witness policy, refused under one.
    let mut alone: serde_json::Value = proof.json();
    let note = Note::parse(alone["checkpoint"].as_str().expect("text").as_bytes()).expect("note");
    let mut unwitnessed = Note::new(note.text().to_owned()).expect("note");
    for line in note.signatures() {
        if line.name() == ORIGIN {
            unwitnessed.add_signature(line.clone()).expect("line");
        }
    }
    alone["checkpoint"] = serde_json::Value::String(unwitnessed.to_string());
    let alone_file = write("alone.json", alone.to_string().as_bytes());
    let (code, out) = arxi(&["proof", "verify", &alone_file, "--key", &key]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no witness policy given"), "{out}");
    let mut under_policy: Vec<&str> = quorum_two.clone();
    under_policy[2] = alone_file.as_str();
    let (code, out) = arxi(&under_policy);
    assert_eq!(code, Some(1), "{out}");

    // A proof whose path was altered fails with or without witnesses.
    let mut altered: serde_json::Value = proof.json();
    altered["inclusion_proof"][0] = serde_json::Value::String("00".repeat(32));
    let altered_file = write("altered.json", altered.to_string().as_bytes());
    let (code, out) = arxi(&["proof", "verify", &altered_file, "--key", &key]);
    assert_eq!(code, Some(1), "{out}");

    // The receipt with its request: valid; with another payload: refused.
    let receipt_file = write("receipt.json", &receipt.body);
    let request_file = write("request.json", request);
    let (code, out) = arxi(&[
        "receipt",
        "verify",
        &receipt_file,
        "--request",
        &request_file,
        "--key",
        &key,
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("envelope seq {seq}")), "{out}");
    let other = write(
        "other.json",
        br#"{"type":"orders.created","actor":"u/1","payload":{"n":8,"items":["a","b"]}}"#,
    );
    let (code, out) = arxi(&[
        "receipt",
        "verify",
        &receipt_file,
        "--request",
        &other,
        "--key",
        &key,
    ]);
    assert_eq!(code, Some(1), "{out}");
}
