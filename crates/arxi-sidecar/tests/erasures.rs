//! Version 2 envelopes and erasure over real HTTP (issue 21): receipts
//! carry the commitment, queries the payload beside the envelope while it
//! exists, `POST /v1/erasures` erases by subject or by sequence numbers
//! (idempotent, recorded, refused when there is nothing to erase), and
//! bundles built with each payload selection verify offline and say which
//! payload was disclosed, withheld or erased.

mod support;

use serde_json::{Value, json};
use support::*;

fn v2_server() -> Harness {
    Harness::start(Options {
        recorder: "envelope_version = 2\ncommit_subject = true".into(),
        ..Options::default()
    })
}

fn record(server: &Harness, subject: &str, n: u64) -> Value {
    let body = json!({"type": "customers.updated", "actor": "clerk", "subject": subject,
                      "payload": {"n": n, "name": format!("name-{n}")}});
    let response = server.post("/v1/envelopes", &[], &body.to_string());
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

fn query_all(server: &Harness) -> Value {
    let response = server.post("/v1/query/envelopes", &[], r#"{"limit":1000}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn erase(server: &Harness, headers: &[(&str, &str)], body: &Value) -> Response {
    server.post("/v1/erasures", headers, &body.to_string())
}

#[test]
fn receipts_queries_and_erasure() {
    let server = v2_server();
    let first = record(&server, "person/7", 1);
    assert_eq!(first["v"], 2);
    let commitment = first["payload_commitment"].as_str().expect("commitment");
    assert_eq!(first["committed_labels"], json!(["subject"]));
    // The receipt and the request rebuild the signed envelope and open its
    // commitment; another payload does not.
    let key = arxi_format::PublicKey::from_hex(
        server.get("/v1/keys", &[]).json()["keys"][0]["public_key"]
            .as_str()
            .expect("hex"),
    )
    .expect("key");
    let request = |name: &str| {
        json!({"type": "customers.updated", "actor": "clerk", "subject": "person/7",
               "payload": {"n": 1, "name": name}})
        .to_string()
    };
    let checked = arxi_verify::verify_receipt(
        first.to_string().as_bytes(),
        request("name-1").as_bytes(),
        &key,
    )
    .expect("the receipt holds");
    assert_eq!(checked.envelope.body.subject, None);
    let refused = arxi_verify::verify_receipt(
        first.to_string().as_bytes(),
        request("someone else").as_bytes(),
        &key,
    )
    .expect_err("another payload does not open the commitment");
    assert!(
        refused.contains("did not commit to this content"),
        "{refused}"
    );
    record(&server, "person/8", 2);
    let third = record(&server, "person/7", 3);

    // The query carries each version 2 payload beside its envelope.
    let page = query_all(&server);
    let envelope = page["envelopes"]
        .as_array()
        .expect("envelopes")
        .iter()
        .find(|e| e["seq"] == first["seq"])
        .expect("recorded");
    assert_eq!(envelope["payload_commitment"], commitment);
    assert!(envelope.get("payload").is_none(), "{envelope}");
    assert!(
        envelope.get("subject").is_none(),
        "the subject is committed"
    );
    let payloads = page["payloads"].as_array().expect("payloads");
    assert_eq!(payloads.len(), 3, "{page}");
    assert_eq!(payloads[0]["state"], "disclosed");
    assert_eq!(payloads[0]["content"]["subject"], "person/7");
    assert_eq!(payloads[0]["content"]["payload"]["name"], "name-1");

    // Erase by subject, idempotently.
    let key = [("idempotency-key", "erase-person-7")];
    let request = json!({"subject": "person/7", "reason": "GDPR Art. 17 request 7"});
    let erased = erase(&server, &key, &request);
    assert_eq!(erased.status, 201, "{}", erased.text());
    let body = erased.json();
    assert_eq!(body["erased"], json!([first["seq"], third["seq"]]));
    assert_eq!(body["more"], false);
    let replay = erase(&server, &key, &request);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json(), body);
    assert_problem(
        &erase(
            &server,
            &key,
            &json!({"subject": "person/8", "reason": "r"}),
        ),
        409,
        "idempotency_conflict",
    );

    // Nothing left: refused, with what was left and why.
    assert_problem(&erase(&server, &[], &request), 409, "nothing_to_erase");
    let by_seq = erase(
        &server,
        &[],
        // A number with a zero fraction is an integer (as in JSON Schema).
        &json!({"seqs": [first["seq"], 999_999.0], "reason": "r"}),
    );
    let refused = assert_problem(&by_seq, 409, "nothing_to_erase");
    assert_eq!(
        refused["skipped"],
        json!([
            {"seq": first["seq"], "why": "already_erased", "erased_by": body["recorded"]["seq"]},
            {"seq": 999_999, "why": "not_found"},
        ])
    );

    // The query now shows the erasure and the envelopes unchanged.
    let after = query_all(&server);
    let erasure_seq = body["recorded"]["seq"].clone();
    let states: Vec<(Value, Value, Value)> = after["payloads"]
        .as_array()
        .expect("payloads")
        .iter()
        .map(|p| (p["seq"].clone(), p["state"].clone(), p["erased_by"].clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (first["seq"].clone(), json!("erased"), erasure_seq.clone()),
            (
                json!(2_u64 + first["seq"].as_u64().expect("seq") - 1),
                json!("disclosed"),
                Value::Null
            ),
            (third["seq"].clone(), json!("erased"), erasure_seq.clone()),
        ]
    );
    let recorded = after["envelopes"]
        .as_array()
        .expect("envelopes")
        .iter()
        .find(|e| e["seq"] == erasure_seq)
        .expect("the erasure envelope");
    assert_eq!(recorded["type"], "arxi.payload.erased");
    assert_eq!(recorded["payload"]["by"], "subject");
    assert_eq!(recorded["payload"]["seqs"], body["erased"]);
    assert!(!recorded.to_string().contains("person/7"));
    let before = page["envelopes"].as_array().expect("envelopes");
    for envelope in before {
        assert!(
            after["envelopes"]
                .as_array()
                .expect("envelopes")
                .contains(envelope),
            "envelope {} unchanged by the erasure",
            envelope["seq"]
        );
    }
}

#[test]
fn erasure_requests_are_checked() {
    let server = v2_server();
    record(&server, "person/7", 1);
    let cases = [
        (json!({"reason": "r"}), "(selection)"),
        (
            json!({"subject": "person/7", "seqs": [1], "reason": "r"}),
            "(selection)",
        ),
        (json!({"subject": "person/7"}), "reason"),
        (json!({"subject": "person/7", "reason": ""}), "reason"),
        (
            json!({"subject": "person/7", "reason": "x".repeat(513)}),
            "reason",
        ),
        (
            json!({"subject": "person/7", "reason": "line\nbreak"}),
            "reason",
        ),
        (json!({"seqs": [], "reason": "r"}), "seqs"),
        (json!({"seqs": [0], "reason": "r"}), "seqs"),
        (json!({"seqs": [1.5], "reason": "r"}), "seqs"),
        (json!({"seqs": "1", "reason": "r"}), "seqs"),
        (json!({"subject": "", "reason": "r"}), "subject"),
        (
            json!({"subject": "person/7", "reason": "r", "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let response = erase(&server, &[], &body);
        assert!(
            matches!(response.status, 400 | 422),
            "{body}: {}",
            response.text()
        );
        assert!(
            response.text().contains(field),
            "{body}: {}",
            response.text()
        );
    }
}

#[test]
fn bundles_disclose_withhold_and_mark_erased() {
    let server = v2_server();
    for n in 0..4 {
        record(&server, if n % 2 == 0 { "person/7" } else { "person/8" }, n);
    }
    let erased = erase(
        &server,
        &[],
        &json!({"subject": "person/8", "reason": "request 8"}),
    );
    assert_eq!(erased.status, 201, "{}", erased.text());
    assert_eq!(server.post("/v1/segments/seal", &[], "{}").status, 200);
    let keys: Vec<arxi_format::PublicKey> = server.get("/v1/keys", &[]).json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            arxi_format::PublicKey::from_hex(k["public_key"].as_str().expect("hex")).expect("key")
        })
        .collect();
    let cases = [
        (json!({}), (2, 0, 2)),
        (json!({"withhold_payloads": true}), (0, 2, 2)),
        (json!({"disclose_subject": "person/7"}), (2, 0, 2)),
        (json!({"disclose_subject": "person/9"}), (0, 2, 2)),
        (json!({"disclose_type": "other.type"}), (0, 2, 2)),
    ];
    for (request, (disclosed, withheld, erased_count)) in cases {
        let built = server.post("/v1/bundles/build", &[], &request.to_string());
        assert_eq!(built.status, 201, "{request}: {}", built.text());
        let bundle = built.json()["bundle"].clone();
        assert_eq!(
            bundle["payloads"],
            json!({"disclosed": disclosed, "withheld": withheld, "erased": erased_count}),
            "{request}"
        );
        let id = bundle["id"].as_str().expect("id");
        let file = server.get(&format!("/v1/bundles/download?id={id}"), &[]);
        assert_eq!(file.status, 200);
        assert!(file.body.starts_with(b"ARXI-BUNDLE 2\n"));
        let report = arxi_verify::verify_bundle(
            &file.body[..],
            &keys,
            &arxi_verify::Options::default(),
            None,
        );
        assert!(report.is_valid(), "{request}: {:?}", report.findings);
        let states = &report.payloads;
        assert_eq!(
            (states.disclosed, states.withheld, states.erased),
            (disclosed, withheld, erased_count),
            "{request}"
        );
        let verified = server.post(
            "/v1/bundles/verify",
            &[],
            &json!({"bundle_id": id}).to_string(),
        );
        assert_eq!(
            verified.json()["payloads"]["erased"],
            erased_count,
            "{request}"
        );
    }
    assert_problem(
        &server.post(
            "/v1/bundles/build",
            &[],
            r#"{"withhold_payloads":true,"disclose_subject":"person/7"}"#,
        ),
        422,
        "validation_failed",
    );
}

/// The operator commands against a running sidecar: `arxi-sidecar erase`
/// over TCP, `arxi-sidecar bundle export` over the Unix socket with a
/// payload selection; the exported file verifies offline; bad usage exits
/// 64, a refusal 1.
#[test]
fn operator_commands() {
    let server = v2_server();
    let bin = env!("CARGO_BIN_EXE_arxi-sidecar");
    let url = format!("http://{}", server.addr);
    let socket = server.socket.to_str().expect("utf8").to_owned();
    for n in 0..3 {
        record(&server, if n == 1 { "person/8" } else { "person/7" }, n);
    }
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("runs")
    };
    let erased = run(&[
        "erase",
        "--url",
        &url,
        "--subject",
        "person/8",
        "--reason",
        "request 8",
    ]);
    assert_eq!(erased.status.code(), Some(0), "{erased:?}");
    let answer: Value = serde_json::from_slice(&erased.stdout).expect("json");
    assert_eq!(
        answer["erased"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );
    let again = run(&[
        "erase",
        "--unix",
        &socket,
        "--subject",
        "person/8",
        "--reason",
        "request 8",
    ]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing_to_erase"));
    assert_eq!(
        run(&["erase", "--url", &url, "--reason", "r"])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(server.post("/v1/segments/seal", &[], "{}").status, 200);

    let out = server.dir.path().join("export.arxb");
    let exported = run(&[
        "bundle",
        "export",
        "--unix",
        &socket,
        "--disclose-subject",
        "person/7",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(exported.status.code(), Some(0), "{exported:?}");
    let built: Value = serde_json::from_slice(&exported.stdout).expect("json");
    assert_eq!(
        built["bundle"]["payloads"],
        json!({"disclosed": 2, "withheld": 0, "erased": 1})
    );
    let bytes = std::fs::read(&out).expect("exported file");
    let keys: Vec<arxi_format::PublicKey> = server.get("/v1/keys", &[]).json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            arxi_format::PublicKey::from_hex(k["public_key"].as_str().expect("hex")).expect("key")
        })
        .collect();
    let report =
        arxi_verify::verify_bundle(&bytes[..], &keys, &arxi_verify::Options::default(), None);
    assert!(report.is_valid(), "{:?}", report.findings);
    assert_eq!((report.payloads.disclosed, report.payloads.erased), (2, 1));
    let both = run(&[
        "bundle",
        "export",
        "--url",
        &url,
        "--withhold-payloads",
        "--disclose-type",
        "a.b",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(
        both.status.code(),
        Some(1),
        "the sidecar refuses two selections"
    );
}

/// A version 2 batch recorded under an idempotency key: the record is
/// compact (its answer is rebuilt from the envelopes and their salts), and
/// the retry gets the same answer byte for byte; once a payload is erased,
/// the rebuilt answer no longer carries its salt (it is gone).
#[test]
fn a_batch_under_a_key_replays_its_answer_from_the_envelopes() {
    let server = v2_server();
    let batch = json!({"envelopes": [
        {"type": "customers.updated", "actor": "clerk", "subject": "person/1", "payload": {"n": 1}},
        {"type": "customers.updated", "subject": "person/2", "payload": {"n": 2}},
        {"type": "orders.placed", "payload": {"n": 3}}
    ]})
    .to_string();
    let key = [("Idempotency-Key", "import-0001")];
    let first = server.post("/v1/envelopes/batch", &key, &batch);
    assert_eq!(first.status, 201, "{}", first.text());
    assert!(
        first.text().contains("\"payload_salt\""),
        "{}",
        first.text()
    );
    let again = server.post("/v1/envelopes/batch", &key, &batch);
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the same answer, byte for byte");
    let other = server.post(
        "/v1/envelopes/batch",
        &key,
        &batch.replace("\"n\":3", "\"n\":4"),
    );
    assert_eq!(other.status, 409, "{}", other.text());
    let recorded = query_all(&server)["envelopes"]
        .as_array()
        .expect("envelopes")
        .iter()
        .filter(|envelope| envelope["type"] != "arxi.segment.opened" && envelope["kind"] == "data")
        .count();
    assert_eq!(recorded, 3, "the replay and the conflict recorded nothing");
    let erased = erase(
        &server,
        &[],
        &json!({"subject": "person/1", "reason": "request 5"}),
    );
    assert_eq!(erased.status, 201, "{}", erased.text());
    let after = server.post("/v1/envelopes/batch", &key, &batch);
    assert_eq!(after.status, 201, "{}", after.text());
    let receipts = after.json()["receipts"].clone();
    let before = first.json()["receipts"].clone();
    assert!(receipts[0].get("payload_salt").is_none(), "{receipts}");
    assert!(receipts[1].get("payload_salt").is_some(), "{receipts}");
    assert_eq!(receipts[1], before[1], "the others unchanged");
    assert_eq!(receipts[0]["signature"], before[0]["signature"]);
}

/// `recorder.subject_keys_file` over HTTP: the key file is made private in
/// a directory of its own, the database holds no payload or subject of a
/// subject in clear, queries disclose while the key exists, and an
/// erasure by subject destroys the key before it answers.
#[test]
fn subject_keys_keep_payloads_sealed_and_erasure_destroys_the_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut server = Harness::start(Options {
        recorder: "envelope_version = 2\ncommit_subject = true\n\
                   subject_keys_file = \"keys/subject-keys.db\""
            .into(),
        ..Options::default()
    });
    let marker = "SEALED-AT-REST-4f1c9e";
    let body = json!({"type": "customers.updated", "subject": "person/77",
                      "payload": {"secret": marker}});
    let response = server.post("/v1/envelopes", &[], &body.to_string());
    assert_eq!(response.status, 201, "{}", response.text());
    record(&server, "person/8", 2);
    let keys = server.dir.path().join("keys/subject-keys.db");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&keys), 0o600);
    assert_eq!(mode(keys.parent().expect("dir")), 0o700);
    let answer = query_all(&server);
    assert!(
        answer["payloads"]
            .as_array()
            .expect("payloads")
            .iter()
            .all(|entry| entry["state"] == "disclosed"),
        "{answer}"
    );
    let holds = |path: &std::path::Path, text: &str| {
        let mut files = vec![path.to_path_buf()];
        files.push(path.with_extension("db-wal"));
        files.iter().any(|file| {
            std::fs::read(file).is_ok_and(|bytes| {
                bytes
                    .windows(text.len())
                    .any(|window| window == text.as_bytes())
            })
        })
    };
    let database = server.dir.path().join("data/arxi.db");
    assert!(!holds(&database, marker), "sealed at rest");
    assert!(!holds(&database, "person/77"));
    assert!(holds(&keys, "person/77"), "the key file names the subject");
    let response = erase(
        &server,
        &[],
        &json!({"subject": "person/77", "reason": "request 77"}),
    );
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.json()["more"], false);
    assert!(
        !holds(&keys, "person/77"),
        "its key is gone when it answers"
    );
    assert!(holds(&keys, "person/8"), "another subject's key stays");
    server.shutdown();
}
