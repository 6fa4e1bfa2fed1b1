//! Static hardening checks of the Docker profile (`docker/sidecar/`), run in
//! every test run without an engine; `system-tests/docker/sidecar_docker.sh`
//! then builds and runs it for real and checks the compose file as the
//! engine resolves it.

use arxi_system_tests::workspace;

fn read(path: &str) -> String {
    let full = workspace().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The Dockerfile's instructions (continuation lines joined, comments
/// dropped), each split into the keyword and the rest.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        joined.push(std::mem::take(&mut current));
    }
    joined
        .into_iter()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
            (keyword.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

#[test]
fn dockerfile_is_hardened() {
    let text = read("docker/sidecar/Dockerfile");
    assert!(
        !text
            .lines()
            .any(|line| line.trim_start().starts_with("# syntax")),
        "no `# syntax` line (BuildKit would try to pull a frontend)"
    );
    let steps = instructions(&text);
    let first_from = steps.iter().position(|(k, _)| k == "FROM").expect("a FROM");
    for arg in ["BUILDER_IMAGE", "RUNTIME_IMAGE"] {
        let declared = steps[..first_from]
            .iter()
            .find(|(k, rest)| k == "ARG" && rest.starts_with(&format!("{arg}=")))
            .unwrap_or_else(|| panic!("ARG {arg} with a default before the first FROM"));
        assert!(
            declared.1.len() > arg.len() + 1,
            "{arg} has a public default"
        );
    }
    let froms: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(froms.len(), 2, "builder and runtime stages");
    assert_eq!(steps[froms[0]].1, "${BUILDER_IMAGE} AS build");
    assert_eq!(steps[froms[1]].1, "${RUNTIME_IMAGE}");
    let runtime = &steps[froms[1]..];
    assert!(
        !runtime.iter().any(|(k, _)| k == "RUN"),
        "the runtime stage runs nothing (no shell needed)"
    );
    let user = runtime
        .iter()
        .find(|(k, _)| k == "USER")
        .expect("USER in the runtime stage");
    let (uid, gid) = user.1.split_once(':').expect("USER uid:gid");
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u > 0) && gid.parse::<u32>().is_ok_and(|g| g > 0),
        "numeric non-root USER"
    );
    let health = runtime
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .expect("HEALTHCHECK");
    assert!(
        health
            .1
            .contains("CMD [\"/usr/local/bin/arxi-sidecar\", \"healthcheck\""),
        "exec-form health check: {}",
        health.1
    );
    let entrypoint = runtime
        .iter()
        .find(|(k, _)| k == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    assert!(entrypoint.1.starts_with('['), "exec-form ENTRYPOINT");
    assert!(
        runtime
            .iter()
            .any(|(k, rest)| k == "STOPSIGNAL" && rest == "SIGTERM")
    );
    for binary in ["arxi-sidecar", "arxi"] {
        assert!(
            text.contains(&format!("release/{binary}")),
            "the image carries {binary}"
        );
    }
    let copies_owned: Vec<&String> = runtime
        .iter()
        .filter(|(k, rest)| k == "COPY" && rest.contains("--chown"))
        .map(|(_, rest)| rest)
        .collect();
    assert!(
        copies_owned
            .iter()
            .all(|rest| rest.contains(&format!("--chown={}", user.1))),
        "writable dirs owned by the USER"
    );
}

#[test]
fn compose_file_is_hardened() {
    let text = read("docker/sidecar/docker-compose.yml");
    for needle in [
        "read_only: true",
        "cap_drop: [ALL]",
        "- no-new-privileges:true",
        "user: \"${ARXI_UID:-10001}:${ARXI_GID:-10001}\"",
        "stop_signal: SIGTERM",
        "test: [\"CMD\", \"/usr/local/bin/arxi-sidecar\", \"healthcheck\"",
        // The folder, so an editor's replace-by-rename is seen (issue 23).
        "${ARXI_CONFIG_DIR:-./config}:/etc/arxi:ro",
        ":/run/secrets/arxi-token:ro",
        ":/var/backups/arxi",
        // A copy of the folder elsewhere points the context at a checkout.
        "context: ${ARXI_BUILD_CONTEXT:-../..}",
        "name: ${ARXI_NETWORK:-arxi}",
    ] {
        assert!(text.contains(needle), "docker-compose.yml lacks {needle:?}");
    }
    let ports: Vec<&str> = text
        .lines()
        .skip_while(|line| line.trim() != "ports:")
        .skip(1)
        .take_while(|line| line.trim_start().starts_with("- "))
        .collect();
    assert!(!ports.is_empty(), "a published port");
    for port in ports {
        assert!(
            port.trim().starts_with("- \"127.0.0.1:"),
            "published on loopback only: {port}"
        );
    }
    // Every variable the compose file reads is documented in .env.example.
    let example = read("docker/sidecar/.env.example");
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let name: String = rest[start + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            example
                .lines()
                .any(|line| line.starts_with(&format!("{name}="))),
            ".env.example lacks {name}"
        );
        rest = &rest[start + 2..];
    }
}

#[test]
fn operator_secrets_never_reach_git_or_an_image() {
    let gitignore = read(".gitignore");
    let dockerignore = read(".dockerignore");
    for path in [
        "docker/sidecar/.env",
        "docker/sidecar/data/",
        "docker/sidecar/run/",
        "docker/sidecar/secrets/",
        "docker/sidecar/backups/",
    ] {
        assert!(
            gitignore.lines().any(|line| line == path),
            ".gitignore lacks {path}"
        );
        assert!(
            dockerignore.lines().any(|line| line == path),
            ".dockerignore lacks {path}"
        );
    }
    assert!(
        dockerignore.lines().any(|line| line == "target/"),
        "the build context leaves out target/"
    );
    // What operators keep beside the compose file: bundles, backups, keys.
    for pattern in [
        "docker/sidecar/*.arxb",
        "docker/sidecar/*.db",
        "docker/sidecar/*.key",
        "docker/sidecar/*.pub",
    ] {
        assert!(
            dockerignore.lines().any(|line| line == pattern),
            ".dockerignore lacks {pattern}"
        );
    }
    let config = read("docker/sidecar/config/sidecar.toml");
    assert!(
        config.contains("mode = \"token\"")
            && config.contains("require_token_for_non_loopback = true")
    );
    assert!(
        !config.contains("token ="),
        "tokens come from a file, never the config text"
    );
}

/// The operator README's examples keep the token out of `ps` (no token on
/// a command line) and out of other containers (the verify example mounts
/// the bundle and the public key, never the profile folder); the compose
/// service name is an allowed host, so other containers on the network are
/// served.
#[test]
fn operator_examples_keep_secrets_in_place() {
    let readme = read("docker/sidecar/README.md");
    for line in readme.lines() {
        assert!(
            !line.contains("Bearer $"),
            "a token on a command line: {line}"
        );
        assert!(
            !line.contains("-v \"$PWD:"),
            "the whole profile folder mounted into a container: {line}"
        );
    }
    assert!(readme.contains("-H @$HOME/.arxi-auth"));
    let config = read("docker/sidecar/config/sidecar.toml");
    let hosts = config
        .lines()
        .find(|line| line.starts_with("allowed_hosts"))
        .expect("allowed_hosts");
    assert!(hosts.contains("\"arxi-sidecar\""), "{hosts}");
}
