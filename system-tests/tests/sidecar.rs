//! The `sidecar` suite: the auditor's round trip through the real binaries.
//! Record through the sidecar over the Unix socket and TCP (with an
//! attachment), query it back over both, seal, build a bundle over HTTP,
//! download it, stop the sidecar, and verify the file offline with the
//! `arxi` CLI against the key published by `GET /v1/keys`. Then tamper with one byte
//! and watch the CLI name the record; cut one envelope's inclusion proof and
//! verify it alone.

use std::process::Command;

use arxi_system_tests::{Sidecar, binary, http, test_config};

#[test]
fn record_seal_build_download_verify_with_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let sidecar = Sidecar::start(&config, None);
    let socket = sidecar.socket.to_str().expect("utf8").to_owned();
    for n in 0..20 {
        let body = format!(r#"{{"type":"orders.placed","actor":"svc","payload":{{"order":{n}}}}}"#);
        let response =
            http(&socket, "POST", "/v1/envelopes", &[], Some(body.as_bytes())).expect("record");
        assert_eq!(
            response.status,
            201,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
    }
    let with_file = br#"{"type":"docs.signed","payload":{"doc":"contract"},"attachments":[{"name":"contract.txt","media_type":"text/plain","content_base64":"c2lnbmVkIGNvbnRyYWN0"}]}"#;
    let response = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes/with-attachments",
        &[],
        Some(with_file),
    )
    .expect("record");
    assert_eq!(response.status, 201);
    // Query over both transports: every order, in sequence order.
    for address in [socket.as_str(), sidecar.tcp.as_str()] {
        let page = http(
            address,
            "POST",
            "/v1/query/envelopes",
            &[],
            Some(br#"{"type":"orders.placed","limit":100}"#),
        )
        .expect("query")
        .json();
        let orders: Vec<u64> = page["envelopes"]
            .as_array()
            .expect("envelopes")
            .iter()
            .map(|e| e["payload"]["order"].as_u64().expect("order"))
            .collect();
        assert_eq!(orders, (0..20).collect::<Vec<_>>(), "over {address}");
        let seqs: Vec<u64> = page["envelopes"]
            .as_array()
            .expect("envelopes")
            .iter()
            .map(|e| e["seq"].as_u64().expect("seq"))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in sequence order");
    }
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(sealed.status, 200);

    let built = http(
        &sidecar.tcp,
        "POST",
        "/v1/bundles/build",
        &[("Idempotency-Key", "audit-2026")],
        Some(b"{}"),
    )
    .expect("build");
    assert_eq!(
        built.status,
        201,
        "{}",
        String::from_utf8_lossy(&built.body)
    );
    let bundle = built.json()["bundle"].clone();
    let id = bundle["id"].as_str().expect("id").to_owned();
    let download = http(
        &socket,
        "GET",
        &format!("/v1/bundles/download?id={id}"),
        &[],
        None,
    )
    .expect("download");
    assert_eq!(download.status, 200);
    assert_eq!(
        download.body.len() as u64,
        bundle["size"].as_u64().expect("size")
    );
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None)
        .expect("keys")
        .json();
    let public_key = keys["current_public_key"].as_str().expect("key").to_owned();
    assert_eq!(sidecar.terminate().code(), Some(0));

    // Offline, with the CLI and nothing else.
    let file = dir.path().join("audit.arxb");
    std::fs::write(&file, &download.body).expect("write bundle");
    let key_file = dir.path().join("recorder.pub");
    std::fs::write(&key_file, format!("{public_key}\n")).expect("write key");
    let arxi = binary("arxi");
    let verify = |path: &std::path::Path| {
        Command::new(&arxi)
            .args([
                "bundle",
                "verify",
                path.to_str().expect("utf8"),
                "--key",
                key_file.to_str().expect("utf8"),
                "--json",
            ])
            .output()
            .expect("arxi runs")
    };
    let good = verify(&file);
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&good.stdout).expect("json");
    assert_eq!(report["valid"], true);
    assert_eq!(report["checked"]["attachments"], 1);
    assert_eq!(report["checked"]["envelopes"], bundle["envelopes"]);

    let mut tampered = download.body.clone();
    let at = tampered
        .windows(11)
        .position(|w| w == b"\"order\":13}")
        .expect("order 13")
        + 9;
    tampered[at] = b'4';
    let bad_file = dir.path().join("tampered.arxb");
    std::fs::write(&bad_file, &tampered).expect("write");
    let bad = verify(&bad_file);
    assert_eq!(bad.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json");
    assert_eq!(report["first_bad_record"]["code"], "envelope_hash_mismatch");

    // One record disclosed alone.
    let seq = report["first_bad_record"]["seq"]
        .as_u64()
        .expect("seq")
        .to_string();
    let proof = dir.path().join("proof.json");
    let cut = Command::new(&arxi)
        .args([
            "envelope",
            "prove",
            file.to_str().expect("utf8"),
            "--seq",
            &seq,
            "--out",
            proof.to_str().expect("utf8"),
        ])
        .output()
        .expect("arxi runs");
    assert_eq!(
        cut.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let checked = Command::new(&arxi)
        .args([
            "proof",
            "verify",
            proof.to_str().expect("utf8"),
            "--key",
            key_file.to_str().expect("utf8"),
        ])
        .output()
        .expect("arxi runs");
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}
