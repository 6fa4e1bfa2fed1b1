//! Key revocation over real HTTP: `POST /v1/keys/revoke` records
//! `arxi.key.revoked` (control plane, idempotent), refuses the key the
//! recorder signs with (409 `key_in_use`), a key it never signed with (404
//! `key_not_found`) and bodies that break rule C5 (422), a bundle built
//! after it carries the revocation, which the offline verifier applies,
//! and `arxi-sidecar revoke-key` calls it. Each test revokes the key of a
//! sidecar restarted with a new one.

mod support;

use serde_json::{Value, json};
use support::*;

fn revoke(server: &Harness, headers: &[(&str, &str)], body: &Value) -> Response {
    server.post("/v1/keys/revoke", headers, &body.to_string())
}

fn current_key_id(server: &Harness) -> String {
    let keys = server.get("/v1/keys", &[]).json();
    keys["current_key_id"]
        .as_str()
        .expect("current_key_id")
        .to_owned()
}

/// A well-formed key id no recorder here signs with.
const UNKNOWN_KEY: &str = "ed25519:00112233445566778899aabbccddeeff";

/// A sidecar restarted with a new signing key, and the id of the key it
/// signed with before.
fn restarted_with_a_new_key() -> (Harness, String) {
    let mut first = Harness::start(Options::default());
    let old = current_key_id(&first);
    first.shutdown();
    let dir = std::mem::replace(&mut first.dir, tempfile::tempdir().expect("tempdir"));
    std::fs::remove_file(dir.path().join("signer.key")).expect("the old key file goes");
    let server = Harness::start_in(dir, &Options::default());
    assert_ne!(current_key_id(&server), old, "a new key");
    (server, old)
}

#[test]
fn a_revocation_is_recorded_once_and_never_for_the_signing_key() {
    let (server, old) = restarted_with_a_new_key();
    let current = current_key_id(&server);
    let refused = assert_problem(
        &revoke(
            &server,
            &[],
            &json!({"key_id": current, "from_seq": 1, "reason": "compromised"}),
        ),
        409,
        "key_in_use",
    );
    assert_eq!(refused["key_id"], current.as_str(), "{refused}");
    let unknown = assert_problem(
        &revoke(
            &server,
            &[],
            &json!({"key_id": UNKNOWN_KEY, "from_seq": 1, "reason": "typo"}),
        ),
        404,
        "key_not_found",
    );
    assert_eq!(unknown["key_id"], UNKNOWN_KEY, "{unknown}");

    let key = [("idempotency-key", "revoke-old-key")];
    let request = json!({"key_id": old, "from_seq": 3, "reason": "key file copied off the host"});
    let revoked = revoke(&server, &key, &request);
    assert_eq!(revoked.status, 201, "{}", revoked.text());
    let body = revoked.json();
    assert_eq!(body["key_id"], old.as_str());
    assert_eq!(body["from_seq"], 3);
    let seq = body["recorded"]["seq"].as_u64().expect("seq");
    let replay = revoke(&server, &key, &request);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json(), body);

    // The envelope is in the chain, signed by the current key.
    let stored = server.get(&format!("/v1/envelopes?seq={seq}"), &[]);
    assert_eq!(stored.status, 200, "{}", stored.text());
    let envelope = stored.json();
    assert_eq!(envelope["type"], "arxi.key.revoked");
    assert_eq!(envelope["kind"], "control");
    assert_eq!(envelope["key_id"], current.as_str());
    assert_eq!(
        envelope["payload"],
        json!({"from_seq": 3, "key_id": old, "reason": "key file copied off the host"})
    );
}

#[test]
fn revocation_bodies_follow_rule_c5() {
    let (server, old) = restarted_with_a_new_key();
    let ok = json!({"key_id": old, "from_seq": 3, "reason": "r"});
    let with = |member: &str, value: Value| {
        let mut body = ok.clone();
        body[member] = value;
        body
    };
    let mut missing = ok.clone();
    missing.as_object_mut().expect("object").remove("reason");
    for (body, field) in [
        (with("from_seq", json!(0)), "from_seq"),
        (with("from_seq", json!("3")), "from_seq"),
        (with("reason", json!("")), "reason"),
        (with("reason", json!("a\u{7}b")), "reason"),
        (with("reason", json!("x".repeat(513))), "reason"),
        (with("key_id", json!("ed25519:0011")), "key_id"),
        (
            with("key_id", json!("ed25519:00112233445566778899AABBCCDDEEFF")),
            "key_id",
        ),
        (missing, "reason"),
    ] {
        let problem = assert_problem(&revoke(&server, &[], &body), 422, "validation_failed");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let extra = revoke(&server, &[], &with("extra", json!(1)));
    assert_eq!(extra.status, 422, "{}", extra.text());
    // Nothing of these was recorded: the next revocation is accepted.
    assert_eq!(revoke(&server, &[], &ok).status, 201);
}

/// A bundle that holds a revocation of a key from after its last
/// signature verifies; the revocation is there for the bundles after it.
#[test]
fn a_bundle_carries_the_revocation() {
    let (server, old) = restarted_with_a_new_key();
    let record = json!({"type": "orders.placed", "payload": {"n": 1}}).to_string();
    assert_eq!(server.post("/v1/envelopes", &[], &record).status, 201);
    let keys = server.get("/v1/keys", &[]).json();
    let listed = keys["keys"].as_array().expect("keys");
    let first_of_new = listed
        .iter()
        .find(|key| key["key_id"] == keys["current_key_id"])
        .and_then(|key| key["first_seq"].as_u64())
        .expect("the current key's first_seq");
    let revoked = revoke(
        &server,
        &[],
        &json!({"key_id": old, "from_seq": first_of_new, "reason": "incident 7"}),
    );
    assert_eq!(revoked.status, 201, "{}", revoked.text());
    assert_eq!(server.post("/v1/segments/seal", &[], "").status, 200);
    let id = build_all_sealed(&server);
    let download = server.get(&format!("/v1/bundles/download?id={id}"), &[]);
    assert_eq!(download.status, 200);
    let trusted: Vec<arxi_format::PublicKey> = listed
        .iter()
        .map(|key| {
            arxi_format::PublicKey::from_hex(key["public_key"].as_str().expect("hex")).expect("key")
        })
        .collect();
    let report = arxi_verify::verify_bundle(
        &download.body[..],
        &trusted,
        &arxi_verify::Options::default(),
        None,
    );
    assert!(report.is_valid(), "{:#?}", report.findings);
    let old = arxi_format::KeyId::parse(&old).expect("key id");
    assert_eq!(report.revoked.get(&old), Some(&first_of_new));
}

/// `arxi-sidecar revoke-key` against a running sidecar: over the Unix
/// socket it records the revocation; the signing key is refused (exit 1,
/// the problem on standard error); bad usage exits 64.
#[test]
fn the_operator_command() {
    let (server, old) = restarted_with_a_new_key();
    let bin = env!("CARGO_BIN_EXE_arxi-sidecar");
    let socket = server.socket.to_str().expect("utf8").to_owned();
    let run = |key_id: &str, from_seq: &str| {
        std::process::Command::new(bin)
            .args([
                "revoke-key",
                "--unix",
                &socket,
                "--key-id",
                key_id,
                "--from-seq",
                from_seq,
                "--reason",
                "incident 7",
            ])
            .output()
            .expect("runs")
    };
    let revoked = run(&old, "5");
    assert_eq!(revoked.status.code(), Some(0), "{revoked:?}");
    let answer: Value = serde_json::from_slice(&revoked.stdout).expect("json");
    assert_eq!(
        (answer["key_id"].as_str(), answer["from_seq"].as_u64()),
        (Some(old.as_str()), Some(5))
    );
    let refused = run(&current_key_id(&server), "5");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("key_in_use"));
    assert_eq!(run(&old, "five").status.code(), Some(64));
}
