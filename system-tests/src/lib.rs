//! Helpers for the system tests: find the workspace's built binaries, run
//! them with a configuration, and talk raw HTTP to them.

#![forbid(unsafe_code)]

pub mod garage;
pub mod token;
pub mod tsa;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A binary built by this workspace (debug profile unless
/// `ARXI_TEST_PROFILE=release`); panics with a hint when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let profile = std::env::var("ARXI_TEST_PROFILE").unwrap_or_else(|_| "debug".into());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let path = target.join(profile).join(name);
    assert!(
        path.is_file(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Writes a token file as the configuration requires it (mode 0600).
pub fn write_secret(dir: &Path, name: &str, token: &str) {
    arxi_testkit::write_secret(&dir.join(name), token);
}

/// A process's resident memory in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub use arxi_testkit::http::{Response, http};
pub use arxi_testkit::{eventually, wait_for};

pub mod witness;

/// A running `arxi-sidecar` process.
#[derive(Debug)]
pub struct Sidecar {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub tcp: String,
    /// The Unix socket path.
    pub socket: PathBuf,
    /// Every stderr line so far is also kept here (shared with a reader
    /// thread).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A development-style configuration for a test sidecar in `dir` (port 0,
/// `sock/arxi.sock`, a generated key file, or the shared token with
/// `ARXI_TEST_SIGNER=pkcs11`: [`token::shared`]); `extra` is appended
/// verbatim.
pub fn test_config(dir: &Path, extra_sections: &str, io_driver: &str) -> PathBuf {
    let signer = match token::shared() {
        // The token holds the root; delegated keys (rotated every 500
        // envelopes, so the load tests rotate) sign envelopes and seals.
        Some(token) => format!(
            "{}delegate = true\ndelegate_rotate_envelopes = 500\n",
            token.signer_section(token::KEY_LABEL)
        ),
        None => "[signer]\nkey_file = \"signer.key\"\ngenerate_if_missing = true\n".to_owned(),
    };
    test_config_with_signer(dir, &signer, extra_sections, io_driver)
}

/// As [`test_config`], with `signer` as the signer table(s).
pub fn test_config_with_signer(
    dir: &Path,
    signer: &str,
    extra_sections: &str,
    io_driver: &str,
) -> PathBuf {
    let text = format!(
        "config_version = 1\n[api]\nmajor_version = 1\n\
         [recorder]\nid = \"system-test\"\ndata_dir = \"data\"\n\
         [transport]\nworkers = 2\nio_driver = \"{io_driver}\"\n\
         [transport.tcp]\nhost = \"127.0.0.1\"\nport = 0\n\
         [transport.unix]\npath = \"sock/arxi.sock\"\nmode = \"0600\"\n\
         {signer}\
         [shutdown]\nshutdown_drain_seconds = 5\n{extra_sections}"
    );
    let path = dir.join("sidecar.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs `arxi-sidecar ARGUMENTS --config CONFIG` to the end (the operator
/// commands: backup, verify-data, restore-archive, a start that refuses).
pub fn run_sidecar(config: &Path, arguments: &[&str]) -> std::process::Output {
    sidecar_command(None)
        .args(arguments)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run arxi-sidecar")
}

/// The envelopes of `event_type` (`POST /v1/query/envelopes`, the first
/// page), as the query answers them.
pub fn query_by_type(sidecar: &Sidecar, event_type: &str) -> Vec<serde_json::Value> {
    let body = serde_json::json!({"type": event_type}).to_string();
    let answer = http(
        &sidecar.tcp,
        "POST",
        "/v1/query/envelopes",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
    .expect("query");
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["envelopes"]
        .as_array()
        .expect("envelopes")
        .clone()
}

/// Builds the bundle of segments `first..=last` over HTTP and downloads it
/// into `dir`.
pub fn build_bundle(sidecar: &Sidecar, dir: &Path, first: u64, last: u64) -> PathBuf {
    let body = format!(r#"{{"first_segment":{first},"last_segment":{last}}}"#);
    let built = http(
        &sidecar.tcp,
        "POST",
        "/v1/bundles/build",
        &[],
        Some(body.as_bytes()),
    )
    .expect("build");
    assert_eq!(
        built.status,
        201,
        "{}",
        String::from_utf8_lossy(&built.body)
    );
    let id = built.json()["bundle"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let download = http(
        &sidecar.tcp,
        "GET",
        &format!("/v1/bundles/download?id={id}"),
        &[],
        None,
    )
    .expect("download");
    assert_eq!(download.status, 200);
    let path = dir.join(format!("segments-{first}-{last}.arxb"));
    std::fs::write(&path, &download.body).expect("write bundle");
    path
}

/// `arxi bundle verify BUNDLE --key KEY_FILE`; panics with the CLI's
/// output unless the bundle verifies.
pub fn assert_bundle_verifies(bundle: &Path, key_file: &Path) {
    let verified = std::process::Command::new(binary("arxi"))
        .args(["bundle", "verify"])
        .arg(bundle)
        .arg("--key")
        .arg(key_file)
        .output()
        .expect("arxi runs");
    assert!(
        verified.status.success(),
        "{} does not verify: {}",
        bundle.display(),
        output_text(&verified)
    );
}

/// A finished command's stdout and stderr, as one text.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `arxi-sidecar`, run through `wrapper` when given (with the shared
/// token's `SOFTHSM2_CONF` when the suites sign through one).
fn sidecar_command(wrapper: Option<&Path>) -> std::process::Command {
    let sidecar = binary("arxi-sidecar");
    let mut command = match wrapper {
        Some(wrapper) => {
            let mut command = std::process::Command::new(wrapper);
            command.arg(&sidecar);
            command
        }
        None => std::process::Command::new(&sidecar),
    };
    if let Some(token) = token::shared() {
        command.env("SOFTHSM2_CONF", &token.conf);
    }
    command
}

impl Sidecar {
    /// Starts `arxi-sidecar --config CONFIG` (through `wrapper` when given)
    /// and waits until it logs that it is ready. Panics with the log when
    /// it does not start.
    pub fn start(config: &Path, wrapper: Option<&Path>) -> Self {
        Self::try_start(config, wrapper).unwrap_or_else(|(status, log)| {
            panic!(
                "the sidecar did not start ({status:?}):\n{}",
                log.join("\n")
            )
        })
    }

    /// As [`Self::start`], returning the exit status and log on failure.
    pub fn try_start(
        config: &Path,
        wrapper: Option<&Path>,
    ) -> Result<Self, (Option<std::process::ExitStatus>, Vec<String>)> {
        Self::try_start_with(config, wrapper, &[])
    }

    /// As [`Self::try_start`], with more arguments after `--config FILE`
    /// (e.g. `--accept-rollback SEQ`).
    pub fn try_start_with(
        config: &Path,
        wrapper: Option<&Path>,
        arguments: &[&str],
    ) -> Result<Self, (Option<std::process::ExitStatus>, Vec<String>)> {
        Self::try_start_env(config, wrapper, arguments, &[])
    }

    /// As [`Self::try_start_with`], with more environment variables for
    /// the sidecar (e.g. `SOFTHSM2_CONF`).
    pub fn try_start_env(
        config: &Path,
        wrapper: Option<&Path>,
        arguments: &[&str],
        env: &[(&str, &Path)],
    ) -> Result<Self, (Option<std::process::ExitStatus>, Vec<String>)> {
        use std::io::BufRead as _;
        let mut child = sidecar_command(wrapper)
            .envs(env.iter().copied())
            .arg("--config")
            .arg(config)
            .args(arguments)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn arxi-sidecar");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (ready_sender, ready) = std::sync::mpsc::channel();
        let reader_log = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let done = line.ends_with(" ready") || line.contains("start-up failed");
                let address = line.split("address=").nth(1).map(|a| a.trim().to_owned());
                reader_log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line);
                if let Some(address) = address {
                    let _ = ready_sender.send(Some(address));
                }
                if done {
                    let _ = ready_sender.send(None);
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut tcp = None;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match ready.recv_timeout(left) {
                Ok(Some(address)) => tcp = Some(address),
                Ok(None) | Err(_) => break,
            }
        }
        let lines = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match (tcp, lines.iter().any(|line| line.ends_with(" ready"))) {
            (Some(tcp), true) => {
                let socket = config
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("sock/arxi.sock");
                Ok(Self {
                    child,
                    tcp,
                    socket,
                    log,
                })
            }
            _ => {
                let status = child.wait().ok();
                let lines = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                Err((status, lines))
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills with SIGKILL (no clean shutdown).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `arxi-control-plane-stub` (see its module docs).
#[derive(Debug)]
pub struct ControlPlane {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl ControlPlane {
    /// Starts the stub on `port` (0 picks one) requiring `token`.
    pub fn start(token: &str, port: u16) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(binary("arxi-control-plane-stub"))
            .args(["--port", &port.to_string(), "--token", token])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn the control-plane stub");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("stub output");
        let address = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected stub output {line:?}"))
            .to_owned();
        Self { child, address }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or(0)
    }

    /// Sets modes: `{"ingress": "deny"}` and so on.
    pub fn set(&self, modes: &serde_json::Value) {
        let body = modes.to_string();
        let answer = http(
            &self.address,
            "POST",
            "/_stub/mode",
            &[],
            Some(body.as_bytes()),
        )
        .expect("stub mode");
        assert_eq!(answer.status, 200);
    }

    /// What the enterprise routes received, oldest first.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let answer = http(&self.address, "GET", "/_stub/requests", &[], None).expect("stub");
        answer.json().as_array().cloned().unwrap_or_default()
    }

    /// Connections that carried control-plane requests so far.
    pub fn connections(&self) -> u64 {
        let answer = http(&self.address, "GET", "/_stub/connections", &[], None).expect("stub");
        answer.json()["connections"].as_u64().unwrap_or(0)
    }

    /// Forgets the recorded requests.
    pub fn reset(&self) {
        let answer = http(&self.address, "POST", "/_stub/reset", &[], Some(b"{}")).expect("stub");
        assert_eq!(answer.status, 200);
    }

    /// Tells the stub to go down and waits until it has.
    pub fn down(mut self) {
        let _ = http(&self.address, "POST", "/_stub/down", &[], Some(b"{}"));
        let _ = self.child.wait();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
