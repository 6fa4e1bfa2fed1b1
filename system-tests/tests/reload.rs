//! Configuration reload against the real binary: token rotation and a
//! limit change applied live through the control route and SIGHUP; an
//! invalid file and a restart-only change refused with every reason while
//! the running configuration stays; every reload, applied or refused,
//! recorded as a control envelope; and no request failing while 50 reloads
//! run under load.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arxi_system_tests::{Response, Sidecar, eventually, http, test_config, write_secret};

const TOKEN_A: &str = "token-a-0123456789abcdef";
const TOKEN_B: &str = "token-b-0123456789abcdef";

/// Writes the configuration (atomically, as an operator's tooling would).
fn configure(dir: &Path, token_file: &str, timeout_ms: u64, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "[security]\nmode = \"token\"\ntoken_file = \"{token_file}\"\n\
         [limits]\nrequest_timeout_ms = {timeout_ms}\n{extra}"
    );
    let staging = dir.join("staging");
    std::fs::create_dir_all(&staging).expect("staging dir");
    let written = test_config(&staging, &text, "auto");
    let config = dir.join("sidecar.toml");
    std::fs::rename(written, &config).expect("rename config");
    config
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn reload(sidecar: &Sidecar, token: &str) -> Response {
    let auth = bearer(token);
    http(
        &sidecar.tcp,
        "POST",
        "/v1/config/reload",
        &[("Authorization", &auth)],
        None,
    )
    .expect("reload")
}

fn control_envelopes(sidecar: &Sidecar, token: &str, event_type: &str) -> Vec<serde_json::Value> {
    let auth = bearer(token);
    let body = format!(r#"{{"type":"{event_type}","limit":1000}}"#);
    let answer = http(
        &sidecar.tcp,
        "POST",
        "/v1/query/envelopes",
        &[("Authorization", &auth)],
        Some(body.as_bytes()),
    )
    .expect("query");
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    answer.json()["envelopes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `GET /v1/config` with a bearer header.
fn get_config(sidecar: &Sidecar, authorization: &str) -> Response {
    http(
        &sidecar.tcp,
        "GET",
        "/v1/config",
        &[("Authorization", authorization)],
        None,
    )
    .expect("config")
}

fn sighup(sidecar: &Sidecar) {
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &sidecar.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(sent.success());
}

#[test]
fn tokens_and_limits_swap_live_and_bad_reloads_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(dir.path(), "token-a", TOKEN_A);
    write_secret(dir.path(), "token-b", TOKEN_B);
    let config = configure(dir.path(), "token-a", 10_000, "");
    let sidecar = Sidecar::start(&config, None);
    let auth_a = bearer(TOKEN_A);
    let before = get_config(&sidecar, &auth_a);
    assert_eq!(before.json()["limits"]["request_timeout_ms"], 10_000);

    // Rotate the token and change a limit through the control route.
    configure(dir.path(), "token-b", 7_000, "");
    let applied = reload(&sidecar, TOKEN_A);
    assert_eq!(applied.status, 200, "{:?}", applied.json());
    let answer = applied.json();
    assert_eq!(answer["reloaded"], true);
    let changed: Vec<&str> = answer["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        changed.contains(&"limits.request_timeout_ms"),
        "{changed:?}"
    );
    assert!(changed.contains(&"security.token_file"), "{changed:?}");
    assert!(
        changed.contains(&"security (token contents)"),
        "{changed:?}"
    );
    assert!(answer["seq"].as_u64().is_some_and(|seq| seq > 0));
    let old = get_config(&sidecar, &auth_a);
    assert_eq!(old.status, 401, "the old token stops working");
    let auth_b = bearer(TOKEN_B);
    let after = get_config(&sidecar, &auth_b);
    assert_eq!(after.status, 200);
    assert_eq!(after.json()["limits"]["request_timeout_ms"], 7_000);
    assert_eq!(after.json()["config_sha256"], answer["config_sha256"]);

    // An invalid file: refused with every problem, nothing changes.
    std::fs::write(
        &config,
        "config_version = 1\nnonsense = 2\n[limits]\nfoo = 1\n",
    )
    .expect("write bad config");
    let invalid = reload(&sidecar, TOKEN_B);
    assert_eq!(invalid.status, 409);
    assert_eq!(invalid.json()["code"], "config_reload_refused");
    let reasons = invalid.json()["reasons"].to_string();
    assert!(
        reasons.contains("nonsense") && reasons.contains("limits.foo"),
        "{reasons}"
    );
    assert!(invalid.json()["recorded_seq"].as_u64().is_some());

    // A restart-only change: refused, named.
    configure(dir.path(), "token-b", 7_000, "");
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(
        &config,
        text.replace("id = \"system-test\"", "id = \"renamed\""),
    )
    .expect("write");
    let restart_only = reload(&sidecar, TOKEN_B);
    assert_eq!(restart_only.status, 409);
    assert!(
        restart_only.json()["reasons"]
            .to_string()
            .contains("recorder.id: changes only on restart"),
        "{:?}",
        restart_only.json()
    );
    let still = get_config(&sidecar, &auth_b);
    assert_eq!(still.json()["recorder"]["id"], "system-test");

    // SIGHUP applies a valid file.
    configure(dir.path(), "token-b", 5_000, "");
    sighup(&sidecar);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = get_config(&sidecar, &auth_b);
        if now.json()["limits"]["request_timeout_ms"] == 5_000 {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Every reload is evidence: two applied, two refused.
    let applied = control_envelopes(&sidecar, TOKEN_B, "arxi.config.reloaded");
    assert_eq!(applied.len(), 2, "{applied:?}");
    let triggers: Vec<_> = applied
        .iter()
        .map(|e| e["payload"]["trigger"].clone())
        .collect();
    assert_eq!(triggers, ["api", "sighup"]);
    let refused = control_envelopes(&sidecar, TOKEN_B, "arxi.config.reload_refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    let evidence = serde_json::to_string(&applied).expect("json")
        + &serde_json::to_string(&refused).expect("json");
    assert!(
        !evidence.contains(TOKEN_A) && !evidence.contains(TOKEN_B),
        "no token reaches the evidence"
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}

#[test]
fn no_request_fails_during_reloads_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(dir.path(), "token-a", TOKEN_A);
    let config = configure(dir.path(), "token-a", 10_000, "");
    let sidecar = Sidecar::start(&config, None);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (stop, done, failures) = (Arc::clone(&stop), Arc::clone(&done), Arc::clone(&failures));
        let address = sidecar.tcp.clone();
        clients.push(std::thread::spawn(move || {
            let auth = bearer(TOKEN_A);
            let mut n = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let response = if client % 2 == 0 {
                    let body = format!(
                        r#"{{"type":"load.tick","payload":{{"client":{client},"n":{n}}}}}"#
                    );
                    http(
                        &address,
                        "POST",
                        "/v1/envelopes",
                        &[("Authorization", &auth)],
                        Some(body.as_bytes()),
                    )
                } else {
                    http(
                        &address,
                        "GET",
                        "/v1/segments",
                        &[("Authorization", &auth)],
                        None,
                    )
                };
                match response {
                    Ok(response) if response.status < 300 => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => failures.lock().expect("lock").push(format!(
                        "{} {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    )),
                    Err(error) => failures.lock().expect("lock").push(error.to_string()),
                }
            }
        }));
    }
    let before = done.load(Ordering::Relaxed);
    for round in 0..50_u64 {
        configure(dir.path(), "token-a", 10_000 + round, "");
        if round % 2 == 0 {
            let applied = reload(&sidecar, TOKEN_A);
            assert_eq!(applied.status, 200, "round {round}: {:?}", applied.json());
        } else {
            sighup(&sidecar);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last round was a SIGHUP: wait until its value is in force.
    let auth = bearer(TOKEN_A);
    eventually("the last SIGHUP reload", Duration::from_secs(10), || {
        http(
            &sidecar.tcp,
            "GET",
            "/v1/config",
            &[("Authorization", &auth)],
            None,
        )
        .is_ok_and(|config| config.json()["limits"]["request_timeout_ms"] == 10_049)
    });
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client");
    }
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "requests failed during reloads: {failures:?}"
    );
    let served = done.load(Ordering::Relaxed) - before;
    assert!(
        served > 100,
        "load ran during the reloads ({served} requests)"
    );
    let applied = control_envelopes(&sidecar, TOKEN_A, "arxi.config.reloaded");
    assert_eq!(applied.len(), 50, "every reload recorded");
    let elapsed: Vec<u64> = sidecar
        .log
        .lock()
        .expect("log")
        .iter()
        .filter(|line| line.contains("configuration reloaded"))
        .filter_map(|line| {
            line.split("elapsed_us=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(elapsed.len(), 50);
    let mut sorted = elapsed.clone();
    sorted.sort_unstable();
    println!(
        "50 reloads under load ({served} requests served, 0 failed): reload p50 {} us, max {} us",
        sorted[25], sorted[49]
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}
