//! Helpers the test suites share, so that no suite carries its own copy:
//! a raw HTTP/1.1 client over TCP or a Unix socket ([`http`]), polling
//! with a deadline instead of fixed sleeps ([`eventually`], [`wait_for`]),
//! secret files written as the configuration requires them, and a walk
//! over a binary's `--help` and every subcommand's ([`cli`]).
//!
//! What it does not do: start servers (the sidecar's in-process harness
//! and the system tests' process runner know their own setups), or
//! interpret responses beyond HTTP framing. Its own tests are the
//! workspace-wide tidy rules (`tests/tidy.rs`) and crate edges
//! (`tests/crate_edges.rs`).

#![forbid(unsafe_code)]

pub mod cli;
pub mod http;
pub mod tsa;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often polling looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds; panics naming `what` when `timeout`
/// passes first.
pub fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    wait_for(what, timeout, || condition().then_some(()));
}

/// Polls `probe` until it gives a value; panics naming `what` when
/// `timeout` passes first.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Writes a secret (token or key) file as the configuration requires it:
/// mode 0600.
pub fn write_secret(path: &Path, content: &str) {
    std::fs::write(path, content).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}
