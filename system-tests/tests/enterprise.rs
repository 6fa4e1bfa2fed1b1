//! The enterprise bridge against a real control plane (the
//! `arxi-control-plane-stub` process): allow with the exact ingress and
//! hook payloads at both phases, identity required, deny, control-plane
//! error, timeout (and no reuse of the timed-out connection), hook failure
//! on the success path (an error, never an unaudited success), admission
//! hook failure (the handler does not run), the writer lease in
//! `managed_cloud`, and readiness following the control plane down and
//! back up.

use std::path::Path;
use std::time::{Duration, Instant};

use arxi_system_tests::{ControlPlane, Response, Sidecar, http, test_config, write_secret};
use serde_json::{Value, json};

const TOKEN: &str = "sidecar-token-0123456789";
const CP_TOKEN: &str = "control-plane-token-0123456789";

fn start(dir: &Path, control_plane: &ControlPlane, mode: &str, extra: &str) -> Sidecar {
    write_secret(dir, "token", TOKEN);
    write_secret(dir, "cp-token", CP_TOKEN);
    let text = format!(
        "[security]\nmode = \"token\"\ntoken_file = \"token\"\n\
         [probes]\nreadiness_mode = \"storage_and_enterprise\"\n\
         [enterprise]\nmode = \"{mode}\"\ncontrol_plane_url = \"http://{}\"\n\
         token_file = \"cp-token\"\ntimeout_ms = 400\n{extra}",
        control_plane.address
    );
    Sidecar::start(&test_config(dir, &text, "auto"), None)
}

const IDENTITY: [(&str, &str); 4] = [
    ("x-tenant-id", "tenant-7"),
    ("x-principal-id", "alice@example.test"),
    ("x-authn-method", "oidc"),
    ("x-namespace-id", "payments"),
];

fn send(
    sidecar: &Sidecar,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(&IDENTITY);
    headers.extend_from_slice(extra);
    http(&sidecar.tcp, method, path, &headers, body).expect("request")
}

fn record(sidecar: &Sidecar, extra: &[(&str, &str)]) -> Response {
    send(
        sidecar,
        "POST",
        "/v1/envelopes",
        extra,
        Some(br#"{"type":"payments.settled","payload":{"amount":12}}"#),
    )
}

fn code(response: &Response) -> String {
    response.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn envelope_count(sidecar: &Sidecar, event_type: &str) -> usize {
    let body = format!(r#"{{"type":"{event_type}","limit":1000}}"#);
    let answer = send(
        sidecar,
        "POST",
        "/v1/query/envelopes",
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    answer.json()["envelopes"].as_array().map_or(0, Vec::len)
}

fn wait_for_ready(sidecar: &Sidecar, status: u16) -> Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = http(&sidecar.tcp, "GET", "/ready", &[], None).expect("ready");
        if ready.status == status {
            return ready;
        }
        assert!(Instant::now() < deadline, "/ready stayed {}", ready.status);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The canonical operation members, keys in RFC 8785 order.
fn expected_ingress(correlation: &str) -> String {
    format!(
        concat!(
            r#"{{"authn_method":"oidc","correlation_id":"{c}","method":"POST","mutation":true,"#,
            r#""namespace_id":"payments","operation_id":"recordEnvelope","path":"/v1/envelopes","#,
            r#""plane":"data","principal_id":"alice@example.test","recorder_id":"system-test","#,
            r#""schema":"arxi.enterprise.ingress.v1","tenant_id":"tenant-7","token_name":"default","#,
            r#""writer_lease":null}}"#
        ),
        c = correlation
    )
}

fn expected_hook(
    correlation: &str,
    phase: &str,
    decision: &str,
    status: &str,
    code: &str,
) -> String {
    format!(
        concat!(
            r#"{{"authn_method":"oidc","code":{code},"correlation_id":"{c}","decision":"{decision}","#,
            r#""method":"POST","mutation":true,"namespace_id":"payments","operation_id":"recordEnvelope","#,
            r#""path":"/v1/envelopes","phase":"{phase}","plane":"data","principal_id":"alice@example.test","#,
            r#""reason":null,"recorder_id":"system-test","schema":"arxi.enterprise.hook.v1","#,
            r#""status":{status},"tenant_id":"tenant-7","token_name":"default","writer_lease":null}}"#
        ),
        c = correlation,
        phase = phase,
        decision = decision,
        status = status,
        code = code,
    )
}

#[test]
fn allow_sends_exact_payloads_at_ingress_admission_and_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control_plane = ControlPlane::start(CP_TOKEN, 0);
    let sidecar = start(dir.path(), &control_plane, "self_hosted", "");
    wait_for_ready(&sidecar, 200);
    control_plane.reset();
    // Start-up says that requests go through a control plane, and which.
    let log = sidecar
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .join("\n");
    assert!(
        log.contains("enterprise mode") && log.contains(&control_plane.address),
        "{log}"
    );

    let recorded = record(&sidecar, &[]);
    assert_eq!(recorded.status, 201, "{:?}", recorded.json());
    let correlation = recorded
        .header("x-arxi-correlation-id")
        .expect("correlation id")
        .to_owned();
    let calls: Vec<Value> = control_plane
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    for call in &calls {
        assert_eq!(call["authorization"], format!("Bearer {CP_TOKEN}"));
        assert_eq!(call["content_type"], "application/json");
        assert_eq!(call["host"], control_plane.address);
    }
    assert_eq!(calls[0]["path"], "/v1/enterprise/ingress/check");
    assert_eq!(calls[0]["body"], expected_ingress(&correlation));
    assert_eq!(calls[1]["path"], "/v1/enterprise/sidecar/hooks");
    assert_eq!(
        calls[1]["body"],
        expected_hook(&correlation, "admission", "allow", "null", "null")
    );
    assert_eq!(calls[2]["path"], "/v1/enterprise/sidecar/hooks");
    assert_eq!(
        calls[2]["body"],
        expected_hook(&correlation, "result", "allow", "201", "null")
    );

    // A refused request still reports its result: deny with its code.
    control_plane.reset();
    let invalid = send(
        &sidecar,
        "POST",
        "/v1/envelopes",
        &[],
        Some(br#"{"type":"x"}"#),
    );
    assert_eq!(invalid.status, 422);
    let correlation = invalid
        .header("x-arxi-correlation-id")
        .expect("id")
        .to_owned();
    let result = control_plane.requests().pop().expect("result hook");
    assert_eq!(
        result["body"],
        expected_hook(
            &correlation,
            "result",
            "deny",
            "422",
            "\"validation_failed\""
        )
    );

    // Probes never reach the control plane; unauthenticated requests and
    // requests without identity neither.
    control_plane.reset();
    assert_eq!(
        http(&sidecar.tcp, "GET", "/health", &[], None)
            .expect("health")
            .status,
        200
    );
    let anonymous = http(&sidecar.tcp, "GET", "/v1/segments", &[], None).expect("anonymous");
    assert_eq!(anonymous.status, 401);
    let auth = format!("Bearer {TOKEN}");
    let no_identity = http(
        &sidecar.tcp,
        "GET",
        "/v1/segments",
        &[("Authorization", &auth)],
        None,
    )
    .expect("req");
    assert_eq!(
        (no_identity.status, code(&no_identity)),
        (401, "identity_required".into())
    );
    assert_eq!(
        no_identity.json()["missing"],
        json!(["x-tenant-id", "x-principal-id", "x-authn-method"])
    );
    let posts = control_plane
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 0, "nothing reached the control plane");
}

#[test]
fn deny_error_timeout_and_hook_failures_fail_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control_plane = ControlPlane::start(CP_TOKEN, 0);
    let sidecar = start(dir.path(), &control_plane, "self_hosted", "");
    wait_for_ready(&sidecar, 200);

    // Deny: 403 with the control plane's reason; nothing recorded; the
    // admission hook says deny.
    control_plane.set(&json!({"ingress": "deny", "deny_reason": "tenant suspended"}));
    control_plane.reset();
    let denied = record(&sidecar, &[]);
    assert_eq!(
        (denied.status, code(&denied)),
        (403, "enterprise_denied".into())
    );
    assert_eq!(denied.json()["reason"], "tenant suspended");
    let hook = control_plane.requests().pop().expect("admission hook");
    let hook: Value = serde_json::from_str(hook["body"].as_str().expect("body")).expect("json");
    assert_eq!(
        (
            hook["phase"].clone(),
            hook["decision"].clone(),
            hook["reason"].clone()
        ),
        (json!("admission"), json!("deny"), json!("tenant suspended"))
    );
    control_plane.set(&json!({"ingress": "allow"}));
    assert_eq!(
        envelope_count(&sidecar, "payments.settled"),
        0,
        "denied: not recorded"
    );

    // Control-plane error: fail closed; `reason` tells a bad answer from a
    // refusal of our token. An answer naming `decision` twice (deny, then
    // allow) is no decision, nor is one over the 64 KiB the sidecar reads.
    for (mode, reason) in [
        ("fail", "control_plane_invalid_answer"),
        ("refuse", "control_plane_refused"),
        ("ambiguous", "control_plane_invalid_answer"),
        ("oversized", "control_plane_invalid_answer"),
    ] {
        control_plane.set(&json!({ "ingress": mode }));
        let failed = record(&sidecar, &[]);
        assert_eq!(
            (
                failed.status,
                code(&failed),
                failed.json()["reason"].clone()
            ),
            (503, "enterprise_control_unavailable".into(), json!(reason)),
            "ingress mode {mode}"
        );
    }
    control_plane.set(&json!({"ingress": "allow"}));
    assert_eq!(
        envelope_count(&sidecar, "payments.settled"),
        0,
        "no decision: not recorded"
    );

    // Timeout (400 ms): fail closed, promptly; the hung connection is not
    // reused: the next call answers correctly on a fresh one.
    control_plane.set(&json!({"ingress": "hang"}));
    let started = Instant::now();
    let hung = record(&sidecar, &[]);
    assert_eq!(
        (hung.status, code(&hung), hung.json()["reason"].clone()),
        (
            503,
            "enterprise_control_unavailable".into(),
            json!("control_plane_timeout")
        )
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    control_plane.set(&json!({"ingress": "allow"}));
    let connections = control_plane.connections();
    for _ in 0..4 {
        assert_eq!(record(&sidecar, &[]).status, 201);
    }
    assert_eq!(envelope_count(&sidecar, "payments.settled"), 4);
    // 12 calls (ingress, admission, result per write) share pooled
    // connections: at most one new one per worker thread.
    let opened = control_plane.connections() - connections;
    assert!(opened <= 2, "{opened} new connections for 12 calls");

    // The admission hook fails: the handler never runs.
    control_plane.set(&json!({"hooks": "fail"}));
    let admission = record(&sidecar, &[]);
    assert_eq!(
        (
            admission.status,
            code(&admission),
            admission.json()["phase"].clone()
        ),
        (502, "enterprise_hook_failed".into(), json!("admission"))
    );
    control_plane.set(&json!({"hooks": "ok"}));
    assert_eq!(
        envelope_count(&sidecar, "payments.settled"),
        4,
        "not recorded"
    );

    // The result hook fails after a successful write: an error, not an
    // unaudited success. The write is durable; a retry with the same key
    // replays it once the hook is exported.
    control_plane.set(&json!({"hooks": "fail_result"}));
    let key = [("Idempotency-Key", "settle-5")];
    let unaudited = record(&sidecar, &key);
    assert_eq!(
        (
            unaudited.status,
            code(&unaudited),
            unaudited.json()["phase"].clone()
        ),
        (502, "enterprise_hook_failed".into(), json!("result"))
    );
    control_plane.set(&json!({"hooks": "ok"}));
    let retried = record(&sidecar, &key);
    assert_eq!(retried.status, 201);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        envelope_count(&sidecar, "payments.settled"),
        5,
        "recorded once"
    );

    // Hooks that hang: the same, within the timeout.
    control_plane.set(&json!({"hooks": "hang"}));
    let started = Instant::now();
    let hanging = record(&sidecar, &[]);
    assert_eq!(hanging.status, 502);
    assert!(started.elapsed() < Duration::from_secs(3));
    control_plane.set(&json!({"hooks": "ok"}));
    assert_eq!(record(&sidecar, &[]).status, 201);
}

#[test]
fn managed_cloud_requires_a_writer_lease_on_mutations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control_plane = ControlPlane::start(CP_TOKEN, 0);
    let sidecar = start(
        dir.path(),
        &control_plane,
        "managed_cloud",
        "require_writer_lease_header = true\n",
    );
    wait_for_ready(&sidecar, 200);
    let missing = record(&sidecar, &[]);
    assert_eq!(
        (missing.status, code(&missing)),
        (428, "writer_lease_required".into())
    );
    control_plane.reset();
    let leased = record(&sidecar, &[("x-writer-lease", "lease-42")]);
    assert_eq!(leased.status, 201, "{:?}", leased.json());
    let ingress = control_plane
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/v1/enterprise/ingress/check")
        .expect("ingress check");
    let ingress: Value =
        serde_json::from_str(ingress["body"].as_str().expect("body")).expect("json");
    assert_eq!(ingress["writer_lease"], "lease-42");
    let read = send(&sidecar, "GET", "/v1/segments", &[], None);
    assert_eq!(read.status, 200, "reads need no lease");
}

#[test]
fn readiness_follows_the_control_plane_down_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control_plane = ControlPlane::start(CP_TOKEN, 0);
    let port = control_plane.port();
    let sidecar = start(dir.path(), &control_plane, "self_hosted", "");
    wait_for_ready(&sidecar, 200);

    control_plane.set(&json!({"health": "fail"}));
    let failing = wait_for_ready(&sidecar, 503);
    assert_eq!(code(&failing), "enterprise_control_unavailable");
    control_plane.set(&json!({"health": "ok"}));
    wait_for_ready(&sidecar, 200);

    control_plane.down();
    let down = wait_for_ready(&sidecar, 503);
    assert_eq!(code(&down), "enterprise_control_unavailable");
    assert_eq!(
        http(&sidecar.tcp, "GET", "/health", &[], None)
            .expect("health")
            .status,
        200,
        "liveness does not depend on the control plane"
    );
    let refused = record(&sidecar, &[]);
    assert_eq!(
        (
            refused.status,
            code(&refused),
            refused.json()["reason"].clone()
        ),
        (
            503,
            "enterprise_control_unavailable".into(),
            json!("control_plane_down")
        ),
        "protected operations fail closed while it is down"
    );

    let back = ControlPlane::start(CP_TOKEN, port);
    wait_for_ready(&sidecar, 200);
    assert_eq!(record(&sidecar, &[]).status, 201);
    drop(back);
    assert_eq!(sidecar.terminate().code(), Some(0));
}

/// The stub documents itself: `--help` exits 0 with its usage, a bad
/// argument exits 64 with it.
#[test]
fn the_control_plane_stub_has_help() {
    let stub = arxi_system_tests::binary("arxi-control-plane-stub");
    let help = std::process::Command::new(&stub)
        .arg("--help")
        .output()
        .expect("run the stub");
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        text.contains("usage: arxi-control-plane-stub") && text.contains("refuse"),
        "{text}"
    );
    let bad = std::process::Command::new(&stub)
        .arg("--bogus")
        .output()
        .expect("run the stub");
    assert_eq!(bad.status.code(), Some(64));
}
