//! The HTTP contract, in process, over raw HTTP on port 0 and a temp Unix
//! socket: every route's success and error shapes (problems validated
//! against the RFC 9457 schema), auth, bounds (413/415/406/411/431/429),
//! timeouts, correlation ids, probes under saturation, readiness, and
//! idempotency.

#![allow(clippy::cast_possible_truncation)]

mod support;

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

#[test]
fn schema_validator_agrees_with_the_samples() {
    let schema = problem_schema();
    let dir = vectors_dir().join("problem-details/samples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("samples") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let value: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let valid = validate_schema(&schema, &value).is_ok();
        assert_eq!(valid, name.starts_with("ok-"), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn records_seals_and_queries_over_tcp_and_unix() {
    let server = Harness::start(Options::default());
    let created = server.post(
        "/v1/envelopes",
        &[],
        r#"{"type":"orders.created","actor":"alice","subject":"order/1","payload":{"amount":12.5,"id":1}}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("content-type"), Some("application/json"));
    let receipt = created.json();
    assert_eq!(
        receipt["seq"], 4,
        "segment.opened, key.loaded, recorder.started come first"
    );
    for field in ["hash", "prev_hash", "received_at", "key_id", "segment_id"] {
        assert!(!receipt[field].is_null(), "{field}");
    }
    let over_unix = send_unix(
        &server.socket,
        &request(
            "POST",
            "/v1/envelopes",
            &[],
            Some(r#"{"type":"orders.paid","payload":{"id":1}}"#),
        ),
    );
    assert_eq!(over_unix.status, 201);
    assert_eq!(
        over_unix.json()["prev_hash"],
        receipt["hash"],
        "one chain across transports"
    );

    let active = server.get("/v1/segments/active", &[]).json();
    assert_eq!(active["segment"]["segment_id"], 1);
    let sealed = server.post("/v1/segments/seal", &[], "");
    assert_eq!(sealed.status, 200, "{}", sealed.text());
    assert_eq!(sealed.json()["seal"]["count"], 6);
    assert_eq!(
        server.get("/v1/segments/active", &[]).json()["segment"],
        Value::Null
    );
    assert_problem(
        &server.post("/v1/segments/seal", &[], ""),
        409,
        "no_open_segment",
    );
    let opened = server.post("/v1/segments", &[], "{}");
    assert_eq!(opened.status, 201, "{}", opened.text());
    assert_eq!(opened.json()["segment"]["segment_id"], 2);
    assert_problem(
        &server.post("/v1/segments", &[], "{}"),
        409,
        "segment_already_open",
    );

    let segments = server.get("/v1/segments?limit=1", &[]).json();
    assert_eq!(segments["segments"].as_array().map(Vec::len), Some(1));
    assert_eq!(segments["next_after"], 1);
    let rest = server.get("/v1/segments?after=1", &[]).json();
    assert_eq!(rest["segments"][0]["segment_id"], 2);
    // A parameter breaking its rule is a 422 naming it, as in a query body.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=-1", "after"),
        ("after=9007199254740992", "after"),
    ] {
        let response = server.get(&format!("/v1/segments?{query}"), &[]);
        let body = assert_problem(&response, 422, "validation_failed");
        assert_eq!(body["field"], field, "{query}");
    }
    let unknown = server.get("/v1/segments?page=2", &[]);
    assert_eq!(
        assert_problem(&unknown, 400, "bad_request")["field"],
        "page"
    );
    assert_problem(&server.get("/v1/segments?bogus=1", &[]), 400, "bad_request");

    let page = server
        .post("/v1/query/envelopes", &[], r#"{"type":"orders.created"}"#)
        .json();
    let envelopes = page["envelopes"].as_array().expect("array");
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["hash"], receipt["hash"]);
    assert_eq!(envelopes[0]["payload"], json!({"amount": 12.5, "id": 1}));
    let first = server
        .post("/v1/query/envelopes", &[], r#"{"limit":2}"#)
        .json();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let second = server
        .post(
            "/v1/query/envelopes",
            &[],
            &format!(r#"{{"limit":2,"cursor":"{cursor}"}}"#),
        )
        .json();
    assert_eq!(second["envelopes"][0]["seq"], 3);
    assert_problem(
        &server.post("/v1/query/envelopes", &[], r#"{"cursor":"nope"}"#),
        400,
        "invalid_cursor",
    );
    let controls = server
        .post("/v1/query/envelopes", &[], r#"{"kind":"control"}"#)
        .json();
    assert!(
        controls["envelopes"]
            .as_array()
            .expect("array")
            .iter()
            .all(|e| e["kind"] == "control")
    );
    assert_problem(
        &server.post("/v1/query/envelopes", &[], r#"{"kind":"other"}"#),
        422,
        "validation_failed",
    );
    assert_problem(
        &server.post(
            "/v1/query/envelopes",
            &[],
            r#"{"received_from":"yesterday"}"#,
        ),
        422,
        "validation_failed",
    );
    // Filters follow the rules of the members they match (a control type
    // may be named); a page size written as `2.0` is the integer 2.
    for body in [
        r#"{"type":""}"#,
        r#"{"type":"a b"}"#,
        r#"{"actor":"tab\t"}"#,
    ] {
        assert_problem(
            &server.post("/v1/query/envelopes", &[], body),
            422,
            "validation_failed",
        );
    }
    let sealed = server
        .post(
            "/v1/query/envelopes",
            &[],
            r#"{"type":"arxi.segment.sealed","limit":2.0}"#,
        )
        .json();
    assert!(!sealed["envelopes"].as_array().expect("array").is_empty());
}

#[test]
fn attachments_are_recorded_and_bounded() {
    let server = Harness::start(Options {
        limits: "attachment_bytes_max = 16\nattachments_max = 2".into(),
        ..Options::default()
    });
    let ok = server.post(
        "/v1/envelopes/with-attachments",
        &[],
        r#"{"type":"docs.signed","payload":{},"attachments":[{"name":"a.txt","media_type":"text/plain","content_base64":"aGVsbG8="}]}"#,
    );
    assert_eq!(ok.status, 201, "{}", ok.text());
    let seq = ok.json()["seq"].as_u64().expect("seq");
    let page = server
        .post(
            "/v1/query/envelopes",
            &[],
            &format!(r#"{{"seq_from":{seq},"seq_to":{seq}}}"#),
        )
        .json();
    let attachment = &page["envelopes"][0]["attachments"][0];
    assert_eq!(attachment["name"], "a.txt");
    assert_eq!(attachment["size"], 5);
    assert_eq!(
        attachment["sha256"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "sha256(\"hello\")"
    );
    let too_big = server.post(
        "/v1/envelopes/with-attachments",
        &[],
        r#"{"type":"docs.signed","payload":{},"attachments":[{"name":"b","media_type":"text/plain","content_base64":"MDEyMzQ1Njc4OTAxMjM0NTY3ODk="}]}"#,
    );
    assert_problem(&too_big, 413, "payload_too_large");
    let bad_base64 = server.post(
        "/v1/envelopes/with-attachments",
        &[],
        r#"{"type":"docs.signed","payload":{},"attachments":[{"name":"b","media_type":"text/plain","content_base64":"***"}]}"#,
    );
    assert_eq!(
        assert_problem(&bad_base64, 422, "validation_failed")["field"],
        "attachments[0].content_base64"
    );
    // Every attachment rule names the member the same way.
    let good = r#"{"name":"a","media_type":"text/plain","content_base64":""}"#;
    for (attachment, field) in [
        (
            r#"{"name":"b","media_type":"Text/Plain","content_base64":""}"#,
            "attachments[1].media_type",
        ),
        (
            r#"{"name":"","media_type":"text/plain","content_base64":""}"#,
            "attachments[1].name",
        ),
        (good, "attachments[1].name"),
        (
            r#"{"name":"c","media_type":"text/plain","content_base64":"","x":1}"#,
            "attachments[1].x",
        ),
        ("7", "attachments[1]"),
    ] {
        let response = server.post(
            "/v1/envelopes/with-attachments",
            &[],
            &format!(
                r#"{{"type":"docs.signed","payload":{{}},"attachments":[{good},{attachment}]}}"#
            ),
        );
        assert_eq!(
            assert_problem(&response, 422, "validation_failed")["field"],
            field,
            "{attachment}"
        );
    }
    let three = r#"{"name":"x","media_type":"text/plain","content_base64":""}"#;
    let too_many = server.post(
        "/v1/envelopes/with-attachments",
        &[],
        &format!(
            r#"{{"type":"docs.signed","payload":{{}},"attachments":[{three},{three},{three}]}}"#
        ),
    );
    assert_problem(&too_many, 422, "validation_failed");
}

#[test]
fn json_bodies_are_strict_and_typed() {
    let server = Harness::start(Options::default());
    let cases: &[(&str, u16, &str)] = &[
        ("{not json", 400, "malformed_json"),
        (
            r#"{"type":"a.b","payload":{"x":1,"x":2}}"#,
            422,
            "duplicate_json_key",
        ),
        (
            r#"{"type":"a.b","payload":9007199254740993}"#,
            422,
            "integer_out_of_range",
        ),
        (
            r#"{"type":"a.b","payload":1e400}"#,
            422,
            "number_out_of_range",
        ),
        // A double ECMAScript writes as an integer beyond 2^53-1 (found by
        // the json_canonical fuzz target): refused, never stored as bytes
        // a verifier could not read.
        (
            r#"{"type":"a.b","payload":{"n":1e20}}"#,
            422,
            "integer_out_of_range",
        ),
        (
            &format!(
                r#"{{"type":"a.b","payload":{}{}}}"#,
                "[".repeat(70),
                "]".repeat(70)
            ),
            422,
            "json_too_deep",
        ),
        (r#"{"type":"a.b"}"#, 422, "validation_failed"),
        (
            r#"{"type":"arxi.segment.sealed","payload":{}}"#,
            422,
            "validation_failed",
        ),
        (
            r#"{"type":"a.b","payload":{},"extra":1}"#,
            422,
            "validation_failed",
        ),
        (r#"{"type":"a b","payload":{}}"#, 422, "validation_failed"),
        (r#"[1,2]"#, 422, "validation_failed"),
        // One number range however a number is spelled: a double beyond
        // 2^53-1 is refused like the integer it equals.
        (
            r#"{"type":"a.b","payload":{"n":[1e30]}}"#,
            422,
            "integer_out_of_range",
        ),
        (
            r#"{"type":"a.b","payload":-9007199254740992.0}"#,
            422,
            "integer_out_of_range",
        ),
        // I-JSON: noncharacters, escaped or raw, in values and keys.
        (
            r#"{"type":"a.b","payload":"\uffff"}"#,
            422,
            "noncharacter_in_string",
        ),
        (
            "{\"type\":\"a.b\",\"payload\":{\"k\u{FDD0}\":1}}",
            422,
            "noncharacter_in_string",
        ),
        (
            r#"{"type":"a.b","actor":"\udbff\udfff","payload":1}"#,
            422,
            "noncharacter_in_string",
        ),
        // Underflow is refused like overflow (it would be stored as 0).
        (
            r#"{"type":"a.b","payload":1e-400}"#,
            422,
            "number_out_of_range",
        ),
        (
            r#"{"type":"a.b","payload":[-5e-999]}"#,
            422,
            "number_out_of_range",
        ),
        // The reserved prefix in any letter case.
        (
            r#"{"type":"ARXI.custom","payload":{}}"#,
            422,
            "validation_failed",
        ),
        (
            r#"{"type":"Arxi.segment.sealed","payload":{}}"#,
            422,
            "validation_failed",
        ),
        // A payload nested 64 deep makes a body 65 deep.
        (
            &format!(
                r#"{{"type":"a.b","payload":{}{}}}"#,
                "[".repeat(64),
                "]".repeat(64)
            ),
            422,
            "json_too_deep",
        ),
        // Labels count characters: 257 one-byte characters are too many.
        (
            &format!(
                r#"{{"type":"a.b","actor":"{}","payload":1}}"#,
                "a".repeat(257)
            ),
            422,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let response = server.post("/v1/envelopes", &[], body);
        assert_problem(&response, *status, code);
    }
    let keyed = server.post(
        "/v1/envelopes",
        &[("Idempotency-Key", "big-double")],
        r#"{"type":"a.b","payload":[9007199254740992.0]}"#,
    );
    assert_problem(&keyed, 422, "integer_out_of_range");
    // What the schema allows is accepted: the largest exact numbers, tiny
    // doubles, and 256 four-byte characters in a label.
    let accepted = server.post(
        "/v1/envelopes",
        &[],
        &serde_json::json!({
            "type": "a.b",
            "actor": "\u{1F600}".repeat(256),
            "payload": [9_007_199_254_740_991_i64, -9_007_199_254_740_991_i64, 1e-300, 9.0e15],
        })
        .to_string(),
    );
    assert_eq!(accepted.status, 201, "{}", accepted.text());
    // The documented depth: a payload nested 63 deep (its body 64), a zero
    // written with a tiny exponent, and a type that merely contains "arxi".
    let deepest = format!(
        r#"{{"type":"a.arxi.b","payload":[{}{},0e-400]}}"#,
        "[".repeat(62),
        "]".repeat(62)
    );
    let accepted = server.post("/v1/envelopes", &[], &deepest);
    assert_eq!(accepted.status, 201, "{}", accepted.text());
    let field = assert_problem(
        &server.post("/v1/envelopes", &[], r#"{"type":7,"payload":1}"#),
        422,
        "validation_failed",
    );
    assert_eq!(field["field"], "type");
}

#[test]
fn token_auth_challenges_and_spares_probes() {
    let server = Harness::start(Options {
        token: true,
        ..Options::default()
    });
    let missing = server.get("/v1/config", &[]);
    assert_problem(&missing, 401, "unauthorized");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"arxi\"")
    );
    let wrong = server.get(
        "/v1/config",
        &[("Authorization", "Bearer not-the-token-at-all")],
    );
    assert_problem(&wrong, 401, "unauthorized");
    assert!(
        wrong
            .header("www-authenticate")
            .is_some_and(|v| v.contains("error=\"invalid_token\"")),
        "{:?}",
        wrong.header("www-authenticate")
    );
    let bearer = format!("Bearer {TOKEN}");
    let ok = server.get("/v1/config", &[("Authorization", bearer.as_str())]);
    assert_eq!(ok.status, 200);
    let config = ok.json();
    assert_eq!(config["security"]["token_file"], "[redacted]");
    assert!(!ok.text().contains(TOKEN), "the token never appears");
    for probe in ["/health", "/startup", "/ready"] {
        assert_eq!(server.get(probe, &[]).status, 200, "{probe} needs no token");
    }
    let recorded = server.post(
        "/v1/envelopes",
        &[("Authorization", bearer.as_str())],
        r#"{"type":"a.b","payload":1}"#,
    );
    assert_eq!(recorded.status, 201);
}

#[test]
fn credentials_of_another_scheme_get_a_challenge_without_an_error_code() {
    let server = Harness::start(Options {
        token: true,
        ..Options::default()
    });
    let basic = server.get("/v1/config", &[("Authorization", "Basic czNjcmV0OnB3")]);
    assert_problem(&basic, 401, "unauthorized");
    assert_eq!(
        basic.header("www-authenticate"),
        Some("Bearer realm=\"arxi\"")
    );
}

/// A field that must appear once, sent twice: a typed 400 naming it, and
/// nothing recorded. Two `Authorization` fields get the RFC 6750
/// `invalid_request` challenge even when the first is valid; two
/// `Idempotency-Key` fields never record under either key.
#[test]
fn repeated_single_fields_are_refused() {
    let server = Harness::start(Options {
        token: true,
        ..Options::default()
    });
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    let body = r#"{"type":"dup.fields","payload":{}}"#;
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "authorization",
            vec![auth, ("Authorization", "Bearer someone-else-entirely")],
        ),
        (
            "idempotency-key",
            vec![
                auth,
                ("Idempotency-Key", "dup-1"),
                ("Idempotency-Key", "dup-2"),
            ],
        ),
        (
            "content-type",
            vec![
                auth,
                ("Content-Type", "application/json"),
                ("Content-Type", "text/plain"),
            ],
        ),
        ("host", vec![auth, ("Host", "localhost")]),
        ("content-length", vec![auth, ("Content-Length", "34")]),
    ];
    for (name, headers) in &cases {
        let response = server.send(&request("POST", "/v1/envelopes", headers, Some(body)));
        let problem = assert_problem(&response, 400, "duplicate_header");
        assert_eq!(problem["header"], *name, "{name}");
        if *name == "authorization" {
            let challenge = response.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.contains("error=\"invalid_request\""),
                "{challenge}"
            );
        }
    }
    let count = server
        .post("/v1/query/envelopes", &[auth], r#"{"type":"dup.fields"}"#)
        .json()["envelopes"]
        .as_array()
        .map(Vec::len);
    assert_eq!(count, Some(0), "nothing recorded");
    for key in ["dup-1", "dup-2"] {
        let once = server.post("/v1/envelopes", &[auth, ("Idempotency-Key", key)], body);
        assert_eq!(
            once.header("idempotent-replayed"),
            None,
            "{key} was never used"
        );
    }
}

#[test]
fn bounds_answer_with_problems() {
    let server = Harness::start(Options {
        limits: "max_request_body_bytes = 2048\nmax_header_bytes = 2048\nmax_headers = 16".into(),
        ..Options::default()
    });
    let big = format!(r#"{{"type":"a.b","payload":"{}"}}"#, "x".repeat(3000));
    assert_problem(
        &server.post("/v1/envelopes", &[], &big),
        413,
        "payload_too_large",
    );
    // A chunked body over the limit is cut off while reading.
    let chunk = "y".repeat(3000);
    let chunked = format!(
        "POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    assert_problem(&server.send(chunked.as_bytes()), 413, "payload_too_large");
    assert_problem(
        &server.post("/v1/envelopes", &[("Content-Type", "text/plain")], "{}"),
        415,
        "unsupported_media_type",
    );
    assert_problem(
        &server.post(
            "/v1/envelopes",
            &[("Accept", "text/html")],
            r#"{"type":"a.b","payload":1}"#,
        ),
        406,
        "not_acceptable",
    );
    assert_eq!(
        server
            .post(
                "/v1/envelopes",
                &[("Accept", "text/html, application/json;q=0.5")],
                r#"{"type":"a.b","payload":1}"#
            )
            .status,
        201
    );
    assert_problem(
        &server
            .send(b"POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        411,
        "length_required",
    );
    let long_header = "z".repeat(2100);
    assert_problem(
        &server.get("/v1/config", &[("X-Long", long_header.as_str())]),
        431,
        "headers_too_large",
    );
    let many: Vec<(String, String)> = (0..20).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_problem(&server.get("/v1/config", &many), 431, "headers_too_large");
    assert_problem(&server.get("/nowhere", &[]), 404, "not_found");
    let wrong_method = server.get("/v1/envelopes/batch", &[]);
    assert_problem(&wrong_method, 405, "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    // Probes answer whatever the Host (orchestrators probe by address).
    let probe = server.send(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(probe.status, 200);
}

#[test]
fn host_and_target_checks() {
    let server = Harness::start(Options::default());
    let cases: &[(&[u8], u16)] = &[
        (b"GET /v1/config HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
        (b"GET /v1/config HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", 400),
        (b"GET http://localhost/v1/config HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400),
        (b"GET /v1/config HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 200),
        (b"GET /v1/config HTTP/1.1\r\nHost: [::1]:9\r\nConnection: close\r\n\r\n", 200),
        // Origin-form only, probes included; authority-form is no route
        // lookup but a malformed target.
        (b"GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 400),
        (b"CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\nConnection: close\r\n\r\n", 400),
        (b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 400),
        (b"POST /v1/envelopes#x HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Type: application/json\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{\"type\":\"q.bogus\",\"payload\":1}", 400),
        // A query names the route's own parameters, once, on every route:
        // a write with an unknown one is refused before it is recorded.
        (b"POST /v1/envelopes?bogus=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Type: application/json\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{\"type\":\"q.bogus\",\"payload\":1}", 400),
        (b"GET /v1/segments/active?bogus=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 400),
        (b"GET /v1/segments?limit=1&limit=2 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 400),
        (b"GET /v1/segments?limit=1&after=0 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 200),
        (b"GET /health? HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 200),
        (b"GET /health?nocache=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 400),
        // Numbers in their one spelling: no sign, no leading zeros.
        (b"GET /v1/segments?limit=01 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 422),
        (b"GET /v1/envelopes?seq=+1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n", 422),
    ];
    for (raw, status) in cases {
        let response = server.send(raw);
        assert_eq!(response.status, *status, "{}", String::from_utf8_lossy(raw));
        if *status == 400 {
            assert_problem(&response, 400, "bad_request");
        }
    }
    let recorded = server.post("/v1/query/envelopes", &[], r#"{"type":"q.bogus"}"#);
    assert_eq!(
        recorded.json()["envelopes"].as_array().map(Vec::len),
        Some(0),
        "a refused write is not recorded"
    );
}

#[test]
fn correlation_ids_are_issued_sanitized_and_echoed() {
    let server = Harness::start(Options::default());
    let plain = server.get("/health", &[]);
    let first = plain
        .header("x-arxi-correlation-id")
        .expect("server id")
        .to_owned();
    assert!(first.starts_with("srv-"));
    assert_ne!(
        server.get("/health", &[]).header("x-arxi-correlation-id"),
        Some(first.as_str())
    );
    assert_eq!(plain.header("x-correlation-id"), None);
    let echoed = server.get("/health", &[("X-Correlation-Id", "trace-42.a:b_c")]);
    assert_eq!(echoed.header("x-correlation-id"), Some("trace-42.a:b_c"));
    let dirty = server.get("/health", &[("X-Correlation-Id", "bad<script> id\t!")]);
    assert_eq!(dirty.header("x-correlation-id"), Some("badscriptid"));
    let long = "a".repeat(300);
    let truncated = server.get("/health", &[("X-Correlation-Id", long.as_str())]);
    assert_eq!(
        truncated.header("x-correlation-id").map(str::len),
        Some(128)
    );
    let legacy = server.get("/health", &[("X-Request-Id", "legacy-7")]);
    assert_eq!(legacy.header("x-request-id"), Some("legacy-7"));
    let problem = server.post("/v1/envelopes", &[("X-Correlation-Id", "client-1")], "{");
    let body = assert_problem(&problem, 400, "malformed_json");
    assert_eq!(body["client_correlation_id"], "client-1");
    assert_eq!(body["instance"], "/v1/envelopes");
}

#[test]
fn idempotency_replays_conflicts_and_validates_keys() {
    let server = Harness::start(Options::default());
    let body = r#"{"type":"pay.made","payload":{"n":1}}"#;
    let key = ("Idempotency-Key", "pay-0001");
    let first = server.post("/v1/envelopes", &[key], body);
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same request with whitespace and key order changed is the same
    // request (its canonical form is hashed).
    let again = server.post(
        "/v1/envelopes",
        &[key],
        r#"{ "payload" : {"n":1}, "type":"pay.made" }"#,
    );
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the stored body, byte for byte");
    assert_problem(
        &server.post(
            "/v1/envelopes",
            &[key],
            r#"{"type":"pay.made","payload":{"n":2}}"#,
        ),
        409,
        "idempotency_conflict",
    );
    // The same key on another route is another scope.
    assert_eq!(server.post("/v1/segments/seal", &[key], "").status, 200);
    assert_problem(
        &server.post("/v1/envelopes", &[("Idempotency-Key", "has space")], body),
        400,
        "invalid_idempotency_key",
    );
    let long = "k".repeat(256);
    assert_problem(
        &server.post("/v1/envelopes", &[("Idempotency-Key", long.as_str())], body),
        400,
        "invalid_idempotency_key",
    );
    let count = server
        .post("/v1/query/envelopes", &[], r#"{"type":"pay.made"}"#)
        .json()["envelopes"]
        .as_array()
        .map(Vec::len);
    assert_eq!(count, Some(1), "recorded once");
    let sealed_again = server.post("/v1/segments/seal", &[key], "");
    assert_eq!(sealed_again.status, 200, "a replayed seal, not 409");
    assert_eq!(sealed_again.header("idempotent-replayed"), Some("true"));
}

#[test]
fn idempotency_fails_closed_when_its_store_fails() {
    let server = Harness::start(Options::default());
    // Break idempotency records on purpose: a stored record that names
    // envelopes the database does not hold means the store cannot be
    // trusted for this key.
    let database = server.dir.path().join("data/arxi.db");
    assert_eq!(
        server
            .post(
                "/v1/envelopes",
                &[("Idempotency-Key", "broken")],
                r#"{"type":"a.b","payload":1}"#
            )
            .status,
        201
    );
    arxi_store::fault::execute(&database, "UPDATE idempotency SET first_seq = 999999")
        .expect("damage");
    let response = server.post(
        "/v1/envelopes",
        &[("Idempotency-Key", "broken")],
        r#"{"type":"a.b","payload":1}"#,
    );
    let body = assert_problem(&response, 503, "idempotency_unavailable");
    assert_eq!(body["retryable"], true);
    assert_eq!(response.header("retry-after"), Some("1"));
}

#[test]
fn request_and_header_timeouts() {
    let server = Harness::start(Options {
        limits: "request_timeout_ms = 300\nheader_read_timeout_ms = 300".into(),
        ..Options::default()
    });
    // A body that never finishes: the request times out with a problem.
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(b"POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"type\"")
        .expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut raw);
    assert_problem(&parse_response(&raw), 503, "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A head that never finishes: the connection is closed.
    let mut slow = std::net::TcpStream::connect(server.addr).expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: local")
        .expect("send");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut slow, &mut rest);
    assert!(read.is_ok() || started.elapsed() < Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after the header timeout"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
}

/// Holds a request slot by sending a body slowly; returns the stream.
fn hold_slot(server: &Harness) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(b"POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{")
        .expect("send");
    stream
}

#[test]
fn overload_is_429_while_probes_still_answer() {
    let server = Harness::start(Options {
        workers: 1,
        limits: "max_concurrent_requests = 1\nmax_queued_requests = 0\nrequest_timeout_ms = 20000"
            .into(),
        probes: "ready_fail_on_admission_saturation = true".into(),
        ..Options::default()
    });
    let mut held = hold_slot(&server);
    eventually("the slot to be taken", Duration::from_secs(5), || {
        server
            .server()
            .state()
            .saturation
            .active
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    });
    let refused = server.post("/v1/envelopes", &[], r#"{"type":"a.b","payload":1}"#);
    let body = assert_problem(&refused, 429, "request_capacity_exhausted");
    // The hint in milliseconds comes from the admission queue; the header
    // is it in whole seconds, rounded up.
    let hint_ms = body["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=5_000).contains(&hint_ms), "{body}");
    let seconds = hint_ms.div_ceil(1_000).max(1);
    assert_eq!(
        refused.header("retry-after"),
        Some(seconds.to_string().as_str())
    );
    assert_eq!(body["retry_after_seconds"], seconds);
    assert_eq!(
        server.get("/health", &[]).status,
        200,
        "liveness answers under saturation"
    );
    assert_eq!(server.get("/startup", &[]).status, 200);
    let ready = server.get("/ready", &[]);
    assert_eq!(
        assert_problem(&ready, 503, "not_ready")["reason"],
        "request_capacity_exhausted"
    );
    // Finish the held request; the slot frees and readiness returns.
    held.write_all(br#""type":"a.b","payload":"0123456789abc"}"#)
        .expect("finish");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut held, &mut raw).expect("response");
    assert_eq!(parse_response(&raw).status, 201);
    eventually("readiness to return", Duration::from_secs(5), || {
        server.get("/ready", &[]).status == 200
    });
}

#[test]
fn admission_queue_waits_then_serves() {
    let server = Harness::start(Options {
        workers: 1,
        limits: "max_concurrent_requests = 1\nmax_queued_requests = 4\nrequest_timeout_ms = 20000"
            .into(),
        ..Options::default()
    });
    let mut held = hold_slot(&server);
    eventually("the slot to be taken", Duration::from_secs(5), || {
        server
            .server()
            .state()
            .saturation
            .active
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    });
    let addr = server.addr;
    let waiting = std::thread::spawn(move || {
        send_tcp(
            addr,
            &request(
                "POST",
                "/v1/envelopes",
                &[],
                Some(r#"{"type":"a.b","payload":2}"#),
            ),
        )
    });
    eventually(
        "the second request to queue",
        Duration::from_secs(5),
        || {
            server
                .server()
                .state()
                .saturation
                .waiting
                .load(std::sync::atomic::Ordering::Relaxed)
                == 1
        },
    );
    held.write_all(br#""type":"a.b","payload":"0123456789abc"}"#)
        .expect("finish");
    assert_eq!(
        waiting.join().expect("thread").status,
        201,
        "the queued request is served"
    );
}

#[test]
fn readiness_follows_storage() {
    let server = Harness::start(Options::default());
    assert_eq!(server.get("/ready", &[]).status, 200);
    let database = server.dir.path().join("data/arxi.db");
    let moved = server.dir.path().join("data/arxi.db.moved");
    std::fs::rename(&database, &moved).expect("move the database away");
    eventually("readiness to fail", Duration::from_secs(10), || {
        server.get("/ready", &[]).status == 503
    });
    let body = assert_problem(&server.get("/ready", &[]), 503, "not_ready");
    assert_eq!(body["reason"], "storage_unavailable");
    assert!(
        !body.to_string().contains("arxi.db"),
        "no internals in a 503 body: {body}"
    );
    assert_eq!(
        server.get("/health", &[]).status,
        200,
        "liveness is not readiness"
    );
    std::fs::rename(&moved, &database).expect("move it back");
    eventually("readiness to return", Duration::from_secs(10), || {
        server.get("/ready", &[]).status == 200
    });
}

#[test]
fn runtime_routes() {
    let server = Harness::start(Options::default());
    server.post("/v1/envelopes", &[], r#"{"type":"a.b","payload":1}"#);
    let keys = server.get("/v1/keys", &[]).json();
    let current = keys["current_key_id"].as_str().expect("id").to_owned();
    assert_eq!(keys["keys"][0]["key_id"], current);
    assert_eq!(
        keys["keys"][0]["public_key"].as_str().map(str::len),
        Some(64)
    );
    let config = server.get("/v1/config", &[]).json();
    assert_eq!(config["recorder"]["id"], "test-recorder");
    assert_eq!(config["signer"]["key_file"], "[redacted]");
    let metrics = server.get("/metrics", &[]);
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    let text = metrics.text();
    for needle in [
        "arxi_http_requests_total{route=\"recordEnvelope\",status=\"201\"} 1",
        "arxi_http_request_duration_seconds_bucket{route=\"recordEnvelope\",le=\"+Inf\"} 1",
        "arxi_recorder_queue_depth",
        "arxi_recorder_appends_total 1",
        "arxi_recorder_commits_total",
        "arxi_recorder_batch_commands_bucket",
        "arxi_recorder_seals_total",
        "arxi_http_connections_open",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    let startup = server.get("/startup", &[]).json();
    assert_eq!(startup["started"], true);
    assert_eq!(startup["startup_verification_depth"], 1000);
    assert!(matches!(
        startup["io_driver"].as_str(),
        Some("io_uring" | "epoll")
    ));
    let health = server.get("/health", &[]).json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["recorder_id"], "test-recorder");
}

#[test]
fn the_epoll_driver_serves() {
    let server = Harness::start(Options {
        io_driver: "epoll",
        ..Options::default()
    });
    assert_eq!(server.get("/startup", &[]).json()["io_driver"], "epoll");
    assert_eq!(
        server
            .post("/v1/envelopes", &[], r#"{"type":"a.b","payload":1}"#)
            .status,
        201
    );
    let over_unix = send_unix(&server.socket, &request("GET", "/ready", &[], None));
    assert_eq!(over_unix.status, 200);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = Harness::start(Options::default());
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    let one = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut all = Vec::new();
    for _ in 0..50 {
        all.extend_from_slice(one);
    }
    all.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(&all).expect("pipeline");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).expect("read");
    assert_eq!(
        String::from_utf8_lossy(&raw)
            .matches("HTTP/1.1 200 OK")
            .count(),
        51
    );
}

/// `POST /v1/envelopes/batch`: receipts in order with consecutive sequence
/// numbers once durable; the first bad envelope is named by index (and its
/// field) and nothing is recorded; one `Idempotency-Key` replays the whole
/// answer; the count and byte limits hold.
#[test]
fn batches_record_together_or_not_at_all() {
    let server = Harness::start(Options {
        limits: "batch_envelopes_max = 50\nbatch_request_bytes_max = 4096\n".into(),
        ..Options::default()
    });
    let items: Vec<Value> = (0..20)
        .map(|i| serde_json::json!({"type": "batch.item", "actor": "a", "payload": {"i": i}}))
        .collect();
    let body = serde_json::json!({"envelopes": items}).to_string();
    let key = ("Idempotency-Key", "batch-0001");
    let first = server.post("/v1/envelopes/batch", &[key], &body);
    assert_eq!(first.status, 201, "{}", first.text());
    let receipts = first.json()["receipts"]
        .as_array()
        .expect("receipts")
        .clone();
    assert_eq!(receipts.len(), 20);
    for pair in receipts.windows(2) {
        assert_eq!(pair[1]["seq"], pair[0]["seq"].as_u64().expect("seq") + 1);
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let again = server.post("/v1/envelopes/batch", &[key], &body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the stored answer, byte for byte");

    let mut bad = (0..5)
        .map(|i| serde_json::json!({"type": "batch.bad", "payload": i}))
        .collect::<Vec<_>>();
    bad[3] = serde_json::json!({"type": "batch.bad", "payload": 1, "extra": true});
    let refused = server.post(
        "/v1/envelopes/batch",
        &[],
        &serde_json::json!({"envelopes": bad}).to_string(),
    );
    let problem = assert_problem(&refused, 422, "validation_failed");
    assert_eq!(problem["index"], 3);
    assert_eq!(problem["field"], "envelopes[3].extra");
    let count = |event_type: &str| {
        server
            .post(
                "/v1/query/envelopes",
                &[],
                &format!(r#"{{"type":"{event_type}"}}"#),
            )
            .json()["envelopes"]
            .as_array()
            .map(Vec::len)
    };
    assert_eq!(count("batch.bad"), Some(0), "nothing of a refused batch");
    assert_eq!(count("batch.item"), Some(20), "the keyed batch once");

    let many: Vec<Value> = (0..51)
        .map(|i| serde_json::json!({"type": "batch.many", "payload": i}))
        .collect();
    let over_count = server.post(
        "/v1/envelopes/batch",
        &[],
        &serde_json::json!({"envelopes": many}).to_string(),
    );
    assert_eq!(
        assert_problem(&over_count, 422, "validation_failed")["field"],
        "envelopes"
    );
    let big =
        serde_json::json!({"envelopes": [{"type": "batch.big", "payload": "x".repeat(5000)}]});
    assert_problem(
        &server.post("/v1/envelopes/batch", &[], &big.to_string()),
        413,
        "payload_too_large",
    );
    assert_problem(
        &server.post("/v1/envelopes/batch", &[], r#"{"envelopes":[]}"#),
        422,
        "validation_failed",
    );

    // A payload nests 63 deep in a batch as in a single POST; 64 is too deep
    // in both.
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let single = |depth: usize| format!(r#"{{"type":"batch.deep","payload":{}}}"#, nested(depth));
    let batch = |depth: usize| format!(r#"{{"envelopes":[{}]}}"#, single(depth));
    assert_eq!(server.post("/v1/envelopes", &[], &single(63)).status, 201);
    let deep = server.post("/v1/envelopes/batch", &[], &batch(63));
    assert_eq!(deep.status, 201, "{}", deep.text());
    assert_problem(
        &server.post("/v1/envelopes", &[], &single(64)),
        422,
        "json_too_deep",
    );
    assert_problem(
        &server.post("/v1/envelopes/batch", &[], &batch(64)),
        422,
        "json_too_deep",
    );
}

/// The integrator's and the auditor's routes: one envelope by its
/// sequence number (the stored bytes, as the query returns them), the
/// OpenAPI document as generated, and the browser verifier page with its
/// no-network policy (404 naming the key while none is configured).
#[test]
fn envelope_by_seq_openapi_and_the_verifier_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = b"<!doctype html><title>arxi verifier</title>";
    std::fs::write(dir.path().join("verify.html"), page).expect("page");
    let server = Harness::start_in(
        dir,
        &Options {
            extra: "[web]\nverifier_page_file = \"verify.html\"\n".into(),
            ..Options::default()
        },
    );
    let recorded = server.post(
        "/v1/envelopes",
        &[],
        r#"{"type":"orders.placed","payload":{"n":1}}"#,
    );
    assert_eq!(recorded.status, 201);
    let seq = recorded.json()["seq"].as_u64().expect("seq");
    let one = server.get(&format!("/v1/envelopes?seq={seq}"), &[]);
    assert_eq!(one.status, 200);
    let queried = server.post(
        "/v1/query/envelopes",
        &[],
        &format!(r#"{{"seq_from":{seq},"seq_to":{seq}}}"#),
    );
    assert_eq!(one.json(), queried.json()["envelopes"][0]);
    assert_eq!(one.json()["type"], "orders.placed");
    let missing = server.get("/v1/envelopes?seq=999999", &[]);
    assert_problem(&missing, 404, "envelope_not_found");
    assert_eq!(missing.json()["seq"], 999_999);
    for bad in [
        "/v1/envelopes",
        "/v1/envelopes?seq=0",
        "/v1/envelopes?seq=x",
        "/v1/envelopes?seq=1&seq=2",
        "/v1/envelopes?id=1",
    ] {
        let refused = server.get(bad, &[]);
        assert!(
            matches!(refused.status, 400 | 422),
            "{bad}: {}",
            refused.status
        );
    }
    let openapi = server.get("/v1/openapi.json", &[]);
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.json(), arxi_sidecar::openapi::document());
    let served = server.get("/verify", &[("Accept", "text/html,*/*;q=0.8")]);
    assert_eq!(served.status, 200);
    assert_eq!(served.body, page);
    assert_eq!(
        served.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        served
            .header("content-security-policy")
            .is_some_and(|policy| policy.contains("connect-src 'none'"))
    );
    let plain = Harness::start(Options::default());
    let absent = plain.get("/verify", &[]);
    assert_problem(&absent, 404, "not_found");
    assert!(
        absent.json()["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("web.verifier_page_file"))
    );
}
