//! The real `arxi-sidecar` binary as a subprocess: configuration errors exit
//! 64 before anything is bound; `ARXI_SIDECAR_CONFIG`; the `healthcheck`
//! subcommand; SIGTERM exits 0 after draining; idempotency records survive a
//! restart (replay and conflict).

mod support;

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_arxi-sidecar");

/// A running sidecar process.
struct Sidecar {
    child: Child,
    port: u16,
    socket: std::path::PathBuf,
}

impl Sidecar {
    /// Starts the binary with `ARXI_SIDECAR_CONFIG` pointing at a config in
    /// `dir`, and waits until it logs its TCP address.
    fn spawn(dir: &Path) -> Self {
        let config = dir.join("sidecar.toml");
        std::fs::write(&config, config_text(dir, &Options::default())).expect("config");
        let mut child = Command::new(BINARY)
            .env("ARXI_SIDECAR_CONFIG", &config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut port = None;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match received.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(address) = line.split("address=").nth(1) {
                        port = address
                            .trim()
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.parse().ok());
                    }
                    let ready = line.contains(" ready");
                    seen.push(line);
                    if ready {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let port = port.unwrap_or_else(|| panic!("no TCP address logged:\n{}", seen.join("\n")));
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || while received.recv().is_ok() {});
        Self {
            child,
            port,
            socket: dir.join("sock/arxi.sock"),
        }
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        send_unix(&self.socket, &request("POST", path, headers, Some(body)))
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the sidecar did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bad_configuration_exits_64_listing_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        config_text(dir.path(), &Options::default())
            .replace("id = \"test-recorder\"", "id = \"Not Valid\"")
            .replace("port = 0", "port = 0\nsurprise = true"),
    )
    .expect("write");
    let output = Command::new(BINARY)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("transport.tcp.surprise: unknown key"),
        "{stderr}"
    );
    let fixed_unknown = dir.path().join("bad2.toml");
    std::fs::write(
        &fixed_unknown,
        config_text(dir.path(), &Options::default())
            .replace("id = \"test-recorder\"", "id = \"Not Valid\"")
            .replace("shutdown_drain_seconds = 5", "shutdown_drain_seconds = 0"),
    )
    .expect("write");
    let output = Command::new(BINARY)
        .arg("--config")
        .arg(&fixed_unknown)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("recorder.id:"), "{stderr}");
    assert!(
        stderr.contains("shutdown.shutdown_drain_seconds:"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created for a bad configuration"
    );
    let usage = Command::new(BINARY).arg("--bogus").output().expect("run");
    assert_eq!(usage.status.code(), Some(64));
    let check = Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(check.status.code(), Some(64));
}

#[test]
fn healthcheck_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = Sidecar::spawn(dir.path());
    let url = format!("http://127.0.0.1:{}/ready", sidecar.port);
    let healthy = Command::new(BINARY)
        .args(["healthcheck", "--url", &url])
        .output()
        .expect("run");
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&healthy.stdout)
    );
    assert!(String::from_utf8_lossy(&healthy.stdout).starts_with("healthy: HTTP/1.1 200"));
    let over_unix = Command::new(BINARY)
        .args(["healthcheck", "--unix"])
        .arg(&sidecar.socket)
        .args(["--path", "/startup"])
        .output()
        .expect("run");
    assert_eq!(over_unix.status.code(), Some(0));
    let missing = Command::new(BINARY)
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/missing", sidecar.port),
        ])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stdout).contains("404"),
        "{}",
        String::from_utf8_lossy(&missing.stdout)
    );
    drop(sidecar);
    let dead = Command::new(BINARY)
        .args(["healthcheck", "--url", &url, "--timeout-ms", "500"])
        .output()
        .expect("run");
    assert_eq!(dead.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dead.stdout).starts_with("unhealthy:"));
    let usage = Command::new(BINARY)
        .arg("healthcheck")
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(64));
}

#[test]
fn idempotency_survives_restart_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"{"type":"order.placed","payload":{"order":42}}"#;
    let key = ("Idempotency-Key", "order-42");
    let first = {
        let sidecar = Sidecar::spawn(dir.path());
        let first = sidecar.post("/v1/envelopes", &[key], body);
        assert_eq!(first.status, 201, "{}", first.text());
        let status = sidecar.terminate();
        assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
        assert!(
            !dir.path().join("sock/arxi.sock").exists(),
            "socket removed"
        );
        first
    };
    let sidecar = Sidecar::spawn(dir.path());
    let replay = sidecar.post("/v1/envelopes", &[key], body);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.body, first.body,
        "the stored response, byte for byte, after a restart"
    );
    let conflict = sidecar.post(
        "/v1/envelopes",
        &[key],
        r#"{"type":"order.placed","payload":{"order":43}}"#,
    );
    assert_problem(&conflict, 409, "idempotency_conflict");
    let startup = send_unix(&sidecar.socket, &request("GET", "/startup", &[], None)).json();
    assert_eq!(startup["previous_shutdown"], "clean");
    let recorded = sidecar
        .post("/v1/query/envelopes", &[], r#"{"type":"order.placed"}"#)
        .json()["envelopes"]
        .as_array()
        .map(Vec::len);
    assert_eq!(
        recorded,
        Some(1),
        "recorded exactly once across the restart"
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}
