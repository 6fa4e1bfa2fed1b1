//! The bundle routes over real HTTP: build (idempotent, recorded as
//! evidence), download (streamed, byte-exact), verify and inspect (by id and
//! uploaded), and their problems.

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use support::*;

fn record(server: &Harness, n: u64) {
    let response = server.post(
        "/v1/envelopes",
        &[],
        &format!(r#"{{"type":"orders.placed","payload":{{"n":{n}}}}}"#),
    );
    assert_eq!(response.status, 201, "{}", response.text());
}

fn seal(server: &Harness) {
    let response = server.post("/v1/segments/seal", &[], "{}");
    assert_eq!(response.status, 200, "{}", response.text());
}

fn sha256_hex(bytes: &[u8]) -> String {
    arxi_format::Hash32::of(bytes).to_hex()
}

fn trusted_keys(server: &Harness) -> Vec<arxi_format::PublicKey> {
    server.get("/v1/keys", &[]).json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| {
            arxi_format::PublicKey::from_hex(key["public_key"].as_str().expect("hex")).expect("key")
        })
        .collect()
}

#[test]
fn build_download_verify_inspect() {
    let server = Harness::start(Options::default());
    let attachment = server.post(
        "/v1/envelopes/with-attachments",
        &[],
        r#"{"type":"docs.signed","payload":{},"attachments":[{"name":"a.txt","media_type":"text/plain","content_base64":"aGVsbG8="}]}"#,
    );
    assert_eq!(attachment.status, 201, "{}", attachment.text());
    for n in 0..5 {
        record(&server, n);
    }
    seal(&server);
    for n in 5..8 {
        record(&server, n);
    }
    seal(&server);
    record(&server, 99); // left in an open segment

    // Build, idempotently.
    let key = [("idempotency-key", "build-1")];
    let built = server.post("/v1/bundles/build", &key, "{}");
    assert_eq!(built.status, 201, "{}", built.text());
    let body = built.json();
    let bundle = &body["bundle"];
    let id = bundle["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (
            bundle["first_segment"].as_u64(),
            bundle["last_segment"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(bundle["attachments"], 1);
    let replay = server.post("/v1/bundles/build", &key, "{}");
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json(), body, "the replay is the stored answer");
    assert_problem(
        &server.post("/v1/bundles/build", &key, r#"{"first_segment":1}"#),
        409,
        "idempotency_conflict",
    );

    // The build is evidence, recorded once.
    let built_events = server
        .post(
            "/v1/query/envelopes",
            &[],
            r#"{"type":"arxi.bundle.built"}"#,
        )
        .json();
    let events = built_events["envelopes"].as_array().expect("envelopes");
    assert_eq!(events.len(), 1, "{built_events}");
    assert_eq!(events[0]["payload"]["bundle_id"], id.as_str());
    assert_eq!(events[0]["seq"], body["recorded"]["seq"]);

    // Download: byte-exact and valid offline.
    let download = server.get(&format!("/v1/bundles/download?id={id}"), &[]);
    assert_eq!(download.status, 200, "{}", download.text());
    assert_eq!(
        download.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        download.body.len() as u64,
        bundle["size"].as_u64().expect("size")
    );
    assert_eq!(
        sha256_hex(&download.body),
        bundle["sha256"].as_str().expect("sha256")
    );
    assert!(sha256_hex(&download.body).starts_with(&id));
    let report = arxi_verify::verify_bundle(
        &download.body[..],
        &trusted_keys(&server),
        &arxi_verify::Options::default(),
        None,
    );
    assert!(report.is_valid(), "{:?}", report.findings);
    assert_eq!(report.counts.seals, 2);

    // Verify over HTTP: by id, by upload, tampered, with other keys.
    let verified = server.post(
        "/v1/bundles/verify",
        &[],
        &json!({"bundle_id": id}).to_string(),
    );
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert_eq!(verified.json()["valid"], true, "{}", verified.text());
    let mut tampered = download.body.clone();
    let at = tampered
        .windows(6)
        .position(|w| w == b"\"n\":3}")
        .expect("an event")
        + 4;
    tampered[at] = b'4';
    let upload = |bytes: &[u8], extra: Value| {
        let mut request =
            json!({"bundle_base64": base64::engine::general_purpose::STANDARD.encode(bytes)});
        if let (Some(map), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            map.extend(extra.clone());
        }
        server.post("/v1/bundles/verify", &[], &request.to_string())
    };
    let good_upload = upload(&download.body, json!({}));
    assert_eq!(good_upload.json()["valid"], true, "{}", good_upload.text());
    let bad = upload(&tampered, json!({})).json();
    assert_eq!(bad["valid"], false);
    assert_eq!(
        bad["first_bad_record"]["code"], "envelope_hash_mismatch",
        "{bad}"
    );
    let stranger = arxi_format::SecretKey::from_seed(&[9; 32]).expect("key");
    let other = upload(
        &download.body,
        json!({"keys": [stranger.public().to_hex()]}),
    )
    .json();
    assert_eq!(other["valid"], false);
    assert!(
        other["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["code"] == "envelope_untrusted_key")
    );

    // Inspect.
    let inspected = server.post(
        "/v1/bundles/inspect",
        &[],
        &json!({"bundle_id": id}).to_string(),
    );
    assert_eq!(inspected.status, 200);
    assert_eq!(
        inspected.json()["manifest"]["segments"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // A bundle by sequence numbers: the sealed segment holding them.
    let by_seq = server.post(
        "/v1/bundles/build",
        &[],
        r#"{"first_seq":12,"last_seq":12}"#,
    );
    assert_eq!(by_seq.status, 201, "{}", by_seq.text());
    assert_eq!(by_seq.json()["bundle"]["first_segment"], 2);
}

#[test]
fn bundle_problems() {
    let server = Harness::start(Options {
        limits: "bundle_upload_bytes_max = 2048".into(),
        ..Options::default()
    });
    assert_problem(
        &server.post("/v1/bundles/build", &[], "{}"),
        404,
        "not_found",
    );
    record(&server, 1);
    // A range reaching past the recorded segments is not found (not "too
    // many segments"), and a missing first bound is 1.
    let builds: &[(&str, u16, &str)] = &[
        (
            r#"{"first_segment":1,"last_segment":1}"#,
            409,
            "segment_not_sealed",
        ),
        (
            r#"{"first_segment":2,"last_segment":1}"#,
            422,
            "validation_failed",
        ),
        (
            r#"{"first_segment":1,"first_seq":1}"#,
            422,
            "validation_failed",
        ),
        (r#"{"segments":[1]}"#, 422, "validation_failed"),
        (
            r#"{"first_segment":1,"last_segment":9007199254740991}"#,
            404,
            "not_found",
        ),
        (r#"{"last_segment":1.0}"#, 409, "segment_not_sealed"),
        (r#"{"first_segment":0}"#, 422, "validation_failed"),
    ];
    for (body, status, code) in builds {
        assert_problem(&server.post("/v1/bundles/build", &[], body), *status, code);
    }
    let missing = "0123456789abcdef0123456789abcdef";
    assert_problem(
        &server.get(&format!("/v1/bundles/download?id={missing}"), &[]),
        404,
        "bundle_not_found",
    );
    assert_problem(
        &server.get("/v1/bundles/download?id=../../etc/passwd", &[]),
        422,
        "validation_failed",
    );
    assert_problem(&server.get("/v1/bundles/download", &[]), 400, "bad_request");
    assert_problem(
        &server.post(
            "/v1/bundles/verify",
            &[],
            &json!({"bundle_id": missing}).to_string(),
        ),
        404,
        "bundle_not_found",
    );
    assert_problem(
        &server.post(
            "/v1/bundles/verify",
            &[],
            &json!({"bundle_id": missing, "bundle_base64": ""}).to_string(),
        ),
        422,
        "validation_failed",
    );
    assert_problem(
        &server.post("/v1/bundles/inspect", &[], r#"{"bundle_base64":"***"}"#),
        422,
        "validation_failed",
    );
    // Null is absent: one source given.
    assert_problem(
        &server.post(
            "/v1/bundles/inspect",
            &[],
            &json!({"bundle_id": missing, "bundle_base64": null}).to_string(),
        ),
        404,
        "bundle_not_found",
    );
    // Keys are exactly 64 lowercase hex digits of a full-order point.
    let key = trusted_keys(&server)[0].to_hex();
    for keys in [
        json!([key.to_uppercase()]),
        json!([format!(" {key}")]),
        json!([format!("{}{}", "0".repeat(63), "1")]),
        json!([]),
    ] {
        assert_problem(
            &server.post(
                "/v1/bundles/verify",
                &[],
                &json!({"bundle_base64": "aGVsbG8=", "keys": keys}).to_string(),
            ),
            422,
            "validation_failed",
        );
    }
    let big = json!({"bundle_base64": "A".repeat(4096)}).to_string();
    assert_problem(
        &server.post("/v1/bundles/verify", &[], &big),
        413,
        "payload_too_large",
    );
    // Not a bundle: a report, not an error.
    let junk = server
        .post("/v1/bundles/verify", &[], r#"{"bundle_base64":"aGVsbG8="}"#)
        .json();
    assert_eq!(
        (junk["valid"].as_bool(), junk["could_not_check"].as_bool()),
        (Some(false), Some(true))
    );
}

/// A bundle the recorder built and recorded: its id and the file's path.
fn built_bundle(server: &Harness) -> (String, std::path::PathBuf) {
    for n in 0..3 {
        record(server, n);
    }
    seal(server);
    let id = build_all_sealed(server);
    let path = bundle_dir(server).join(format!("{id}.arxb"));
    assert!(path.is_file(), "{} is built", path.display());
    (id, path)
}

fn bundle_dir(server: &Harness) -> std::path::PathBuf {
    server.dir.path().join("data").join("bundles")
}

/// A well-formed id no `arxi.bundle.built` envelope names.
const UNRECORDED: &str = "00000000000000000000000000c0ffee";

/// Issue 17: a complete bundle file that no `arxi.bundle.built` envelope
/// records (what a kill between the rename and the commit left) was
/// served. Only recorded bundles are served, verified or inspected by id.
#[test]
fn only_recorded_bundles_are_served_by_id() {
    let server = Harness::start(Options::default());
    let (id, path) = built_bundle(&server);
    let unrecorded = bundle_dir(&server).join(format!("{UNRECORDED}.arxb"));
    std::fs::copy(&path, &unrecorded).expect("plant an unrecorded bundle");
    assert_eq!(
        server
            .get(&format!("/v1/bundles/download?id={id}"), &[])
            .status,
        200
    );
    assert_problem(
        &server.get(&format!("/v1/bundles/download?id={UNRECORDED}"), &[]),
        404,
        "bundle_not_found",
    );
    for route in ["/v1/bundles/verify", "/v1/bundles/inspect"] {
        assert_problem(
            &server.post(route, &[], &json!({"bundle_id": UNRECORDED}).to_string()),
            404,
            "bundle_not_found",
        );
    }
}

/// Issue 17: temporary files of builds killed midway stayed forever, and
/// an unrecorded complete bundle stayed downloadable. At start, before
/// serving, temporary files are removed and unrecorded bundles are moved
/// to `quarantine/`; recorded bundles stay.
#[test]
fn start_up_cleans_the_bundle_directory() {
    let mut server = Harness::start(Options::default());
    let (id, path) = built_bundle(&server);
    server.shutdown();
    let dir = bundle_dir(&server);
    let partial = dir.join(".building-4242-0");
    std::fs::write(&partial, b"ARXI half a bundle").expect("plant a partial build");
    let unrecorded = dir.join(format!("{UNRECORDED}.arxb"));
    std::fs::copy(&path, &unrecorded).expect("plant an unrecorded bundle");
    let kept = std::mem::replace(&mut server.dir, tempfile::tempdir().expect("tempdir"));
    drop(server);
    let server = Harness::start_in(kept, &Options::default());
    assert!(!partial.exists(), "the partial build is removed");
    assert!(
        !unrecorded.exists(),
        "the unrecorded bundle left the directory"
    );
    let quarantined = dir.join("quarantine").join(format!("{UNRECORDED}.arxb"));
    assert_eq!(
        std::fs::read(&quarantined).expect("quarantined, not deleted"),
        std::fs::read(&path).expect("recorded bundle"),
    );
    assert_problem(
        &server.get(&format!("/v1/bundles/download?id={UNRECORDED}"), &[]),
        404,
        "bundle_not_found",
    );
    assert_eq!(
        server
            .get(&format!("/v1/bundles/download?id={id}"), &[])
            .status,
        200,
        "the recorded bundle stays"
    );
}
