//! The `arxi-sidecar` command line: a bad configuration exits 64 listing
//! every problem before anything is created or bound; the `healthcheck`
//! subcommand exits 0 on 2xx and 1 otherwise, over TCP and the Unix socket.

use std::process::Command;

use arxi_system_tests::{Sidecar, binary, test_config};

#[test]
fn bad_configuration_exits_64_listing_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read_to_string(test_config(dir.path(), "", "auto")).expect("config");
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        good.replace("port = 0", "port = 0\nsurprise = true"),
    )
    .expect("write");
    let output = Command::new(binary("arxi-sidecar"))
        .arg("--config")
        .arg(&unknown)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("transport.tcp.surprise: unknown key"),
        "{stderr}"
    );

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        good.replace("id = \"system-test\"", "id = \"Not Valid\"")
            .replace("shutdown_drain_seconds = 5", "shutdown_drain_seconds = 0"),
    )
    .expect("write");
    let output = Command::new(binary("arxi-sidecar"))
        .arg("--config")
        .arg(&rules)
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
    assert!(!dir.path().join("sock").exists(), "nothing was bound");

    let check = Command::new(binary("arxi-sidecar"))
        .args(["check-config", "--config"])
        .arg(&rules)
        .output()
        .expect("run");
    assert_eq!(check.status.code(), Some(64));
    let usage = Command::new(binary("arxi-sidecar"))
        .arg("--bogus")
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(64));
    let via_env = Command::new(binary("arxi-sidecar"))
        .arg("check-config")
        .env("ARXI_SIDECAR_CONFIG", &rules)
        .output()
        .expect("run");
    assert_eq!(
        via_env.status.code(),
        Some(64),
        "ARXI_SIDECAR_CONFIG names the file"
    );
}

#[test]
fn healthcheck_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let sidecar = Sidecar::start(&config, None);
    let url = format!("http://{}/ready", sidecar.tcp);
    let run = |args: &[&str]| {
        Command::new(binary("arxi-sidecar"))
            .args(args)
            .output()
            .expect("run")
    };
    let healthy = run(&["healthcheck", "--url", &url]);
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&healthy.stdout)
    );
    assert!(String::from_utf8_lossy(&healthy.stdout).starts_with("healthy: HTTP/1.1 200"));
    let socket = sidecar.socket.to_str().expect("utf8").to_owned();
    assert_eq!(
        run(&["healthcheck", "--unix", &socket, "--path", "/startup"])
            .status
            .code(),
        Some(0)
    );
    let missing = run(&[
        "healthcheck",
        "--url",
        &format!("http://{}/missing", sidecar.tcp),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("404"));
    assert_eq!(sidecar.terminate().code(), Some(0));
    let dead = run(&["healthcheck", "--url", &url, "--timeout-ms", "500"]);
    assert_eq!(dead.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dead.stdout).starts_with("unhealthy:"));
    assert_eq!(run(&["healthcheck"]).status.code(), Some(64));
}

/// Both binaries: `--help` on the binary and on every subcommand exits 0
/// with its usage (a walk over what each help lists); `--version` names the
/// commit and the build profile; `--option=value` reads as `--option
/// value`; the completions and man pages are generated from the same
/// command trees.
#[test]
fn every_subcommand_of_both_binaries_has_help() {
    for (name, expected) in [
        (
            "arxi-sidecar",
            &[
                "healthcheck",
                "check-config",
                "contract",
                "serve",
                "man-pages",
            ][..],
        ),
        (
            "arxi",
            &["bundle", "key", "keygen", "proof", "envelope"][..],
        ),
    ] {
        let (visited, problems) = arxi_testkit::cli::walk_help(&binary(name));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        for command in expected {
            assert!(
                visited
                    .iter()
                    .any(|path| path.first().map(String::as_str) == Some(command)),
                "{name} {command} not reached: {visited:?}"
            );
        }
        let version = Command::new(binary(name))
            .arg("--version")
            .output()
            .expect("run");
        assert_eq!(version.status.code(), Some(0));
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        assert!(
            version.starts_with(&format!("{name} 0."))
                && version.contains("(commit ")
                && version.contains(" build)"),
            "{version}"
        );
        let completions = Command::new(binary(name))
            .args(["completions", "bash"])
            .output()
            .expect("run");
        assert_eq!(completions.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&completions.stdout)
                .contains(&format!("_{}", name.replace('-', "__")))
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let pages = Command::new(binary(name))
            .args(["man-pages", "--out"])
            .arg(dir.path())
            .output()
            .expect("run");
        assert_eq!(pages.status.code(), Some(0));
        assert!(dir.path().join(format!("{name}.1")).is_file());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let equals = Command::new(binary("arxi-sidecar"))
        .arg("check-config")
        .arg(format!("--config={}", config.display()))
        .output()
        .expect("run");
    assert_eq!(
        equals.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&equals.stderr)
    );
}
