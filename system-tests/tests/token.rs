//! Signing through a PKCS#11 token (`[signer]` `pkcs11_module` and the other
//! `pkcs11_` keys), against SoftHSM2.
//!
//! A token is made in a test directory (`softhsm2-util`), an Ed25519 key
//! pair generated in it (`pkcs11-tool`), and the sidecar started with the
//! token's key instead of a key file. Every envelope, seal and bundle is
//! signed by the token's key; when the token goes away (its directory
//! moved out of SoftHSM2's token directory) every write is refused with a
//! typed 503 `signer_unavailable` and nothing of it is recorded; when it
//! comes back the sidecar signs again without a restart, and the chain it
//! recorded across the outage verifies offline with no gap.

use std::path::Path;
use std::time::Duration;

use arxi_system_tests::token::{KEY_LABEL, SoftHsm};
use arxi_system_tests::{
    Response, Sidecar, assert_bundle_verifies, build_bundle, http, test_config_with_signer,
    wait_for, write_secret,
};

/// Starts a sidecar in `dir` signing with the pair labelled `key_label` in
/// `token`.
fn try_start(
    dir: &Path,
    token: &SoftHsm,
    key_label: &str,
) -> Result<Sidecar, (Option<std::process::ExitStatus>, Vec<String>)> {
    let config = test_config_with_signer(dir, &token.signer_section(key_label), "", "auto");
    Sidecar::try_start_env(&config, None, &[], &[("SOFTHSM2_CONF", &token.conf)])
}

fn start(dir: &Path, token: &SoftHsm) -> Sidecar {
    try_start(dir, token, KEY_LABEL)
        .unwrap_or_else(|(status, log)| panic!("not started ({status:?}):\n{}", log.join("\n")))
}

fn post(sidecar: &Sidecar, path: &str, body: Option<&str>) -> Response {
    http(&sidecar.tcp, "POST", path, &[], body.map(str::as_bytes)).expect("request")
}

fn record(sidecar: &Sidecar, n: u64) -> Response {
    let body = format!(r#"{{"type":"orders.placed","payload":{{"n":{n}}}}}"#);
    post(sidecar, "/v1/envelopes", Some(&body))
}

fn assert_signer_unavailable(response: &Response) {
    assert_eq!(response.status, 503, "{}", response.text());
    let problem = response.json();
    assert_eq!(problem["code"], "signer_unavailable", "{problem}");
    assert_eq!(problem["retryable"], true, "{problem}");
}

#[test]
fn a_token_signs_everything_and_an_outage_records_nothing_and_ends_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = SoftHsm::make(dir.path());
    let sidecar = start(dir.path(), &token);
    assert!(
        !dir.path().join("signer.key").exists(),
        "no key file is made"
    );
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None)
        .expect("keys")
        .json();
    assert_eq!(
        keys["keys"][0]["public_key"], token.public_hex,
        "the recorder signs with the token's key: {keys}"
    );
    let mut before = 0;
    for n in 0..5 {
        let recorded = record(&sidecar, n);
        assert_eq!(recorded.status, 201, "{}", recorded.text());
        before = recorded.json()["seq"].as_u64().expect("seq");
    }

    // The token goes away: every write is refused, nothing is recorded.
    let away = dir.path().join("away");
    std::fs::rename(&token.files, &away).expect("unplug");
    for n in 100..103 {
        assert_signer_unavailable(&record(&sidecar, n));
    }
    assert_signer_unavailable(&post(&sidecar, "/v1/segments/seal", None));
    let ready = |sidecar: &Sidecar| http(&sidecar.tcp, "GET", "/ready", &[], None).expect("ready");
    let unready = wait_for(
        "/ready to say the signer is gone",
        Duration::from_secs(30),
        || {
            let response = ready(&sidecar);
            (response.status == 503).then(|| response.json())
        },
    );
    assert_eq!(unready["reason"], "signer_unavailable", "{unready}");
    let metrics = http(&sidecar.tcp, "GET", "/metrics", &[], None).expect("metrics");
    assert!(
        metrics.text().lines().any(
            |line| line.starts_with("arxi_recorder_signer_failures_total ")
                && !line.ends_with(" 0")
        ),
        "{}",
        metrics.text()
    );

    // It comes back: the sidecar signs again, without a restart.
    std::fs::rename(&away, &token.files).expect("plug back");
    let recorded = wait_for("the token to sign again", Duration::from_secs(30), || {
        let response = record(&sidecar, 200);
        (response.status == 201).then_some(response)
    });
    wait_for("/ready to pass again", Duration::from_secs(30), || {
        (ready(&sidecar).status == 200).then_some(())
    });
    assert_eq!(
        recorded.json()["seq"].as_u64(),
        Some(before + 1),
        "nothing of a refused write is in the chain: it took no sequence number"
    );
    let sealed = post(&sidecar, "/v1/segments/seal", None);
    assert_eq!(sealed.status, 200, "{}", sealed.text());

    // The whole history verifies offline under the token's public key.
    let bundle = build_bundle(&sidecar, dir.path(), 1, 1);
    let key = dir.path().join("recorder.pub");
    std::fs::write(&key, format!("{}\n", token.public_hex)).expect("key");
    assert_bundle_verifies(&bundle, &key);
    sidecar.terminate();
}

#[test]
fn a_token_that_does_not_hold_the_key_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = SoftHsm::make(dir.path());
    let (_, log) = try_start(dir.path(), &token, "no-such-key").expect_err("no key, no start");
    let log = log.join("\n");
    assert!(
        log.contains("no Ed25519") && log.contains("no-such-key"),
        "{log}"
    );
    write_secret(dir.path(), "token.pin", "0000\n");
    let (_, log) = try_start(dir.path(), &token, KEY_LABEL).expect_err("a wrong PIN, no start");
    assert!(log.join("\n").contains("logging in"), "{}", log.join("\n"));
}

#[test]
fn delegated_keys_from_a_token_root_keep_ingest_going_while_the_token_is_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = SoftHsm::make(dir.path());
    let signer = format!("{}delegate = true\n", token.signer_section(KEY_LABEL));
    let config = test_config_with_signer(dir.path(), &signer, "", "auto");
    let sidecar = Sidecar::try_start_env(&config, None, &[], &[("SOFTHSM2_CONF", &token.conf)])
        .unwrap_or_else(|(status, log)| panic!("not started ({status:?}):\n{}", log.join("\n")));
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None)
        .expect("keys")
        .json();
    let listed: Vec<&str> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|key| key["public_key"].as_str())
        .collect();
    assert!(
        !listed.contains(&token.public_hex.as_str()),
        "the root signs no envelope, so it is no key of the chain: {keys}"
    );
    assert_eq!(listed.len(), 1, "one delegated key: {keys}");
    for n in 0..5 {
        assert_eq!(record(&sidecar, n).status, 201);
    }
    assert_eq!(
        keys["current_public_key"],
        token.public_hex.as_str(),
        "{keys}"
    );
    let key = dir.path().join("root.pub");
    std::fs::write(&key, format!("{}\n", token.public_hex)).expect("key");

    // A receipt of a delegated key holds under the root with the key's
    // delegation (GET /v1/keys), and not under the root alone.
    let request = br#"{"type":"orders.placed","payload":{"n":"receipt"}}"#;
    let receipt = post(&sidecar, "/v1/envelopes", std::str::from_utf8(request).ok());
    assert_eq!(receipt.status, 201, "{}", receipt.text());
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let receipt_file = write("receipt.json", &receipt.body);
    let request_file = write("request.json", request);
    let delegation = serde_json::to_vec(&keys["keys"][0]["delegation"]).expect("json");
    let delegation_file = write("delegation.json", &delegation);
    let verify_receipt = |extra: &[&Path]| {
        let mut command = std::process::Command::new(arxi_system_tests::binary("arxi"));
        command
            .args(["receipt", "verify"])
            .arg(&receipt_file)
            .arg("--request")
            .arg(&request_file)
            .arg("--key")
            .arg(&key);
        for file in extra {
            command.arg("--delegation").arg(file);
        }
        command.output().expect("arxi runs")
    };
    let held = verify_receipt(&[&delegation_file]);
    assert!(
        held.status.success(),
        "{}",
        arxi_system_tests::output_text(&held)
    );
    let alone = verify_receipt(&[]);
    assert_eq!(
        alone.status.code(),
        Some(1),
        "{}",
        arxi_system_tests::output_text(&alone)
    );

    // The token goes away: the delegated key, in memory, signs on; what
    // the root signs (the seal's checkpoint) is refused.
    let away = dir.path().join("away");
    std::fs::rename(&token.files, &away).expect("unplug");
    for n in 100..103 {
        let recorded = record(&sidecar, n);
        assert_eq!(recorded.status, 201, "{}", recorded.text());
    }
    assert_signer_unavailable(&post(&sidecar, "/v1/segments/seal", None));

    std::fs::rename(&away, &token.files).expect("plug back");
    let sealed = wait_for("the root to sign again", Duration::from_secs(30), || {
        let response = post(&sidecar, "/v1/segments/seal", None);
        (response.status == 200).then_some(response)
    });
    assert_eq!(sealed.json()["seal"]["segment_id"], 1, "{}", sealed.text());

    // The bundle verifies under the token's public key alone.
    let bundle = build_bundle(&sidecar, dir.path(), 1, 1);
    let bytes = std::fs::read(&bundle).expect("bundle");
    assert!(
        bytes.starts_with(b"ARXI-BUNDLE 4\n"),
        "it carries its delegation"
    );
    assert_bundle_verifies(&bundle, &key);
    sidecar.terminate();
}
