//! Idempotency across a restart of the real binary: the record written with
//! the mutation survives; the same key and request replay the stored
//! response byte for byte; another request with the key conflicts; the
//! event exists once. SIGTERM exits 0 and removes the socket.

use arxi_system_tests::{Sidecar, http, test_config};

#[test]
fn replay_and_conflict_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let body = br#"{"type":"order.placed","payload":{"order":42}}"#;
    let key = [("Idempotency-Key", "order-42")];

    let sidecar = Sidecar::start(&config, None);
    let socket = sidecar.socket.to_str().expect("utf8").to_owned();
    let first = http(&socket, "POST", "/v1/envelopes", &key, Some(body)).expect("record");
    assert_eq!(first.status, 201);
    let sealed = http(
        &sidecar.tcp,
        "POST",
        "/v1/segments/seal",
        &[("Idempotency-Key", "seal-1")],
        None,
    )
    .expect("seal");
    assert_eq!(sealed.status, 200);
    assert_eq!(sidecar.terminate().code(), Some(0), "SIGTERM exits 0");
    assert!(
        !dir.path().join("sock/arxi.sock").exists(),
        "the socket is removed"
    );

    let sidecar = Sidecar::start(&config, None);
    let replay = http(&socket, "POST", "/v1/envelopes", &key, Some(body)).expect("replay");
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.body, first.body,
        "the stored response, byte for byte"
    );
    let resealed = http(
        &sidecar.tcp,
        "POST",
        "/v1/segments/seal",
        &[("Idempotency-Key", "seal-1")],
        None,
    )
    .expect("seal");
    assert_eq!(
        resealed.status, 200,
        "a replayed seal, not 409 no_open_segment"
    );
    assert_eq!(resealed.body, sealed.body);
    let conflict = http(
        &socket,
        "POST",
        "/v1/envelopes",
        &key,
        Some(br#"{"type":"order.placed","payload":{"order":43}}"#),
    )
    .expect("conflict");
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json()["code"], "idempotency_conflict");
    let startup = http(&socket, "GET", "/startup", &[], None)
        .expect("startup")
        .json();
    assert_eq!(startup["previous_shutdown"], "clean");
    let found = http(
        &socket,
        "POST",
        "/v1/query/envelopes",
        &[],
        Some(br#"{"type":"order.placed"}"#),
    )
    .expect("query")
    .json();
    assert_eq!(
        found["envelopes"].as_array().map(Vec::len),
        Some(1),
        "recorded exactly once"
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}
