//! The `arxi` command line: exit codes, human and JSON output, keygen,
//! prove and proof verify, every case of the conformance suite run as an
//! implementer in another language would run it (from
//! `Docs/conformance/expected.json`), the findings registry, and the
//! dependency rule (arxi-format only).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../Docs/conformance")
        .join(name)
}

fn arxi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arxi"))
        .args(args)
        .output()
        .expect("runs arxi")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn verify_exit_codes_and_output() {
    let (a, b) = (data("keys/a.pub"), data("keys/b.pub"));
    let golden = data("bundles/golden.arxb");
    let ok = arxi(&[
        "bundle",
        "verify",
        path(&golden),
        "--key",
        path(&a),
        "--key",
        path(&b),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).starts_with("VALID:"), "{}", text(&ok));

    let tampered = data("bundles/tampered/segment-dropped.arxb");
    let bad = arxi(&[
        "bundle",
        "verify",
        path(&tampered),
        "--key",
        path(&a),
        "--key",
        path(&b),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let out = text(&bad);
    assert!(out.starts_with("INVALID:"), "{out}");
    assert!(
        out.contains("first bad record: [envelope_missing] record 12 segment 3 seq 13"),
        "{out}"
    );
    assert!(
        out.contains("[segment_missing] record 12 segment 3 seq 13: segment 2 is missing"),
        "{out}"
    );

    let json = arxi(&[
        "bundle",
        "verify",
        path(&tampered),
        "--key",
        path(&a),
        "--key",
        path(&b),
        "--json",
    ]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_bad_record"]["seq"], 13);
    assert!(report["findings"].as_array().expect("findings").len() >= 5);

    let version = arxi(&[
        "bundle",
        "verify",
        path(&data("bundles/tampered/unknown-format-version.arxb")),
        "--key",
        path(&a),
    ]);
    assert_eq!(version.status.code(), Some(2));
    assert!(
        text(&version).contains("unsupported_version"),
        "{}",
        text(&version)
    );

    // Could not check: no key, a missing file, a bad key, an unknown option.
    assert_eq!(
        arxi(&["bundle", "verify", path(&golden)]).status.code(),
        Some(2)
    );
    assert_eq!(
        arxi(&["bundle", "verify", "/nonexistent", "--key", path(&a)])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        arxi(&["bundle", "verify", path(&golden), "--key", "abcd"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        arxi(&[
            "bundle",
            "verify",
            path(&golden),
            "--key",
            path(&a),
            "--fast"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(arxi(&["frobnicate"]).status.code(), Some(2));

    // Hex keys work as well as files; --no-batch agrees.
    let hex_a = std::fs::read_to_string(&a).expect("key");
    let hex_b = std::fs::read_to_string(&b).expect("key");
    let hex = arxi(&[
        "bundle",
        "verify",
        path(&golden),
        "--key",
        hex_a.trim(),
        "--key",
        hex_b.trim(),
        "--no-batch",
    ]);
    assert_eq!(hex.status.code(), Some(0), "{}", text(&hex));
}

/// `--key KEY@FIRST..LAST`: a window trusts the key for those sequence
/// numbers only; a window that does not read is bad usage (exit 2) that
/// names the argument, in every command that takes `--key`.
#[test]
fn key_windows_on_the_command_line() {
    let (a, b) = (data("keys/a.pub"), data("keys/b.pub"));
    let golden = data("bundles/golden.arxb");
    let hex_a = std::fs::read_to_string(&a).expect("key");
    let verify = |key_a: &str, key_b: &str| {
        arxi(&[
            "bundle",
            "verify",
            path(&golden),
            "--key",
            key_a,
            "--key",
            key_b,
        ])
    };
    let b = path(&b).to_owned();
    let within = verify(&format!("{}@..17", hex_a.trim()), &format!("{b}@18.."));
    assert_eq!(within.status.code(), Some(0), "{}", text(&within));
    let past = verify(&format!("{}@1..16", path(&a)), &b);
    assert_eq!(past.status.code(), Some(1), "{}", text(&past));
    let out = text(&past);
    assert!(out.contains("[key_outside_window]"), "{out}");
    assert!(out.contains("trusted only for seq 1..16"), "{out}");
    for window in ["17", "..", "0..3", "9..3", "x.."] {
        let argument = format!("{}@{window}", hex_a.trim());
        let bad = verify(&argument, &b);
        assert_eq!(bad.status.code(), Some(2), "{window}: {}", text(&bad));
        let error = String::from_utf8_lossy(&bad.stderr);
        assert!(error.contains("key window"), "{window}: {error}");
    }
    let twice = verify(&format!("{}@..17", path(&a)), &format!("{}@..16", path(&a)));
    assert_eq!(twice.status.code(), Some(2));
    let error = String::from_utf8_lossy(&twice.stderr);
    assert!(error.contains("different windows"), "{error}");
    // The same syntax in the other commands that take --key.
    let proof = data("proofs/golden-proof-seq-10.json");
    let proof_out = arxi(&[
        "proof",
        "verify",
        path(&proof),
        "--key",
        &format!("{}@..9", path(&a)),
    ]);
    assert_eq!(proof_out.status.code(), Some(1), "{}", text(&proof_out));
    assert!(text(&proof_out).contains("key_outside_window"));
    let out_dir = tempfile::tempdir().expect("temp dir");
    let target = out_dir.path().join("export");
    let export = arxi(&[
        "bundle",
        "export",
        path(&golden),
        "--out",
        path(&target),
        "--key",
        &format!("{}@..10", path(&a)),
        "--key",
        &b,
    ]);
    assert_eq!(export.status.code(), Some(1), "{}", text(&export));
    let bad_export = arxi(&[
        "bundle",
        "export",
        path(&golden),
        "--out",
        path(&target),
        "--key",
        &format!("{}@..", path(&a)),
    ]);
    assert_eq!(bad_export.status.code(), Some(2));
}

#[test]
fn inspect_reads_without_keys() {
    let out = arxi(&[
        "bundle",
        "inspect",
        path(&data("bundles/golden.arxb")),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(summary["records"]["envelopes"], 27);
    assert_eq!(summary["records"]["control_envelopes"], 14);
    assert_eq!(summary["records"]["data_envelopes"], 13);
    assert_eq!(summary["records"]["seals"], 5);
    assert_eq!(
        summary["manifest"]["segments"].as_array().map(Vec::len),
        Some(5)
    );
    let human = arxi(&["bundle", "inspect", path(&data("bundles/golden.arxb"))]);
    assert!(text(&human).contains("golden-bundle"), "{}", text(&human));
    assert_eq!(
        arxi(&[
            "bundle",
            "inspect",
            path(&data("bundles/tampered/not-a-bundle.arxb"))
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn keygen_prove_and_proof_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret, public) = (dir.path().join("signer.key"), dir.path().join("signer.pub"));
    let made = arxi(&[
        "keygen",
        "--secret",
        path(&secret),
        "--public",
        path(&public),
    ]);
    assert_eq!(
        made.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&secret)
        .expect("secret")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let secret_key =
        arxi_format::SecretKey::from_hex(&std::fs::read_to_string(&secret).expect("read"))
            .expect("secret parses");
    let public_key =
        arxi_format::PublicKey::from_hex(std::fs::read_to_string(&public).expect("read").trim())
            .expect("public parses");
    assert_eq!(secret_key.public(), &public_key);
    // Never overwrites.
    assert_eq!(
        arxi(&[
            "keygen",
            "--secret",
            path(&secret),
            "--public",
            path(&public)
        ])
        .status
        .code(),
        Some(2)
    );

    let proof = dir.path().join("proof.json");
    let golden = data("bundles/golden.arxb");
    let proved = arxi(&[
        "envelope",
        "prove",
        path(&golden),
        "--seq",
        "18",
        "--out",
        path(&proof),
    ]);
    assert_eq!(
        proved.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&proved.stderr)
    );
    let (a, b) = (data("keys/a.pub"), data("keys/b.pub"));
    let checked = arxi(&[
        "proof",
        "verify",
        path(&proof),
        "--key",
        path(&a),
        "--key",
        path(&b),
    ]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    assert!(
        text(&checked).contains("VALID: envelope seq 18"),
        "{}",
        text(&checked)
    );

    // The proof of an envelope of segment 2 needs key A only.
    let published = data("proofs/golden-proof-seq-10.json");
    let only_b = arxi(&[
        "proof",
        "verify",
        path(&published),
        "--key",
        path(&b),
        "--json",
    ]);
    assert_eq!(only_b.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&only_b.stdout).expect("json");
    assert_eq!(report["failures"][0]["code"], "envelope_untrusted_key");

    // A proof whose envelope was edited.
    let text_proof = std::fs::read_to_string(&published).expect("proof");
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, text_proof.replacen("\"dave\"", "\"mallory\"", 1)).expect("write");
    let bad = arxi(&[
        "proof",
        "verify",
        path(&edited),
        "--key",
        path(&a),
        "--key",
        path(&b),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).contains("[envelope_hash_mismatch]"),
        "{}",
        text(&bad)
    );

    // Nothing to prove outside the bundle.
    assert_eq!(
        arxi(&["envelope", "prove", path(&golden), "--seq", "999"])
            .status
            .code(),
        Some(2)
    );
}

/// Every case of `Docs/conformance/expected.json`, through the binary:
/// the exit code, and with `--json` the code set.
#[test]
fn the_conformance_suite_through_the_cli() {
    let text = std::fs::read(data("expected.json")).expect("expected.json");
    let suite: serde_json::Value = serde_json::from_slice(&text).expect("json");
    let mut failures = Vec::new();
    for case in suite["cases"].as_array().expect("cases") {
        let strings = |member: &str| -> Vec<String> {
            case[member]
                .as_array()
                .expect(member)
                .iter()
                .map(|value| value.as_str().expect("string").to_owned())
                .collect()
        };
        let command = case["command"].as_str().expect("command");
        let mut args: Vec<String> = command.split(' ').map(str::to_owned).collect();
        for file in strings("files") {
            args.push(path(&data(&file)).to_owned());
        }
        for key in strings("keys") {
            args.push("--key".into());
            args.push(path(&data(&key)).to_owned());
        }
        if let Some(quorum) = case.get("quorum") {
            for witness in strings("witnesses") {
                args.push("--witness".into());
                args.push(path(&data(&witness)).to_owned());
            }
            args.push("--quorum".into());
            args.push(quorum.to_string());
        }
        if case.get("tsa_certs").is_some() {
            for certificate in strings("tsa_certs") {
                args.push("--tsa-cert".into());
                args.push(path(&data(&certificate)).to_owned());
            }
        }
        if case.get("require_timestamp").is_some() {
            args.push("--require-timestamp".into());
        }
        if let Some(tolerance) = case.get("timestamp_tolerance") {
            args.push("--timestamp-tolerance".into());
            args.push(tolerance.to_string());
        }
        args.push("--json".into());
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = arxi(&words);
        let exit = u64::from(
            output
                .status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(255),
        );
        let codes: Vec<String> = serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .ok()
            .and_then(|report| report["codes"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|code| code.as_str().expect("code").to_owned())
            .collect();
        let mut expected = strings("codes");
        expected.sort();
        let mut found = codes;
        found.sort();
        if exit != case["exit"].as_u64().expect("exit") || found != expected {
            failures.push(format!(
                "{}: expected exit {} {expected:?}, found exit {exit} {found:?}",
                case["name"], case["exit"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The loop `Docs/conformance/README.md` gives implementers, run as
/// written (its `sh` block, with this build's `arxi` in place of the
/// release binary): it reports no failure, and it ran `arxi` once per
/// case. A case member the loop does not pass on (as `witnesses` and
/// `quorum` once were) makes a case fail here.
#[test]
fn the_readme_loop_runs_every_conformance_case() {
    let readme = std::fs::read_to_string(data("README.md")).expect("README.md");
    let section = readme
        .split("## Running it against your verifier")
        .nth(1)
        .expect("the README's section on running the suite");
    let script = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("an sh block in that section");
    let work = std::env::temp_dir().join(format!("arxi-readme-loop-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work folder");
    // A stand-in for the release binary that counts its runs.
    let counter = work.join("runs");
    let stand_in = work.join("arxi");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\necho run >> '{}'\nexec '{}' \"$@\"\n",
            counter.display(),
            env!("CARGO_BIN_EXE_arxi")
        ),
    )
    .expect("stand-in");
    let mut permissions = std::fs::metadata(&stand_in)
        .expect("stand-in")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&stand_in, permissions).expect("stand-in mode");
    assert!(
        script.contains("../../target/release/arxi ") && script.starts_with("cargo build"),
        "the loop's form changed; update this test: {script}"
    );
    let script = script
        .lines()
        .filter(|line| !line.starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "../../target/release/arxi ",
            &format!("'{}' ", stand_in.display()),
        )
        .replace(
            "/tmp/out.json",
            &work.join("out.json").display().to_string(),
        );
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&repository)
        .output()
        .expect("bash runs the loop (jq: scripts/install-test-deps.sh installs it)");
    let runs = std::fs::read_to_string(&counter)
        .unwrap_or_default()
        .lines()
        .count();
    std::fs::remove_dir_all(&work).expect("remove the work folder");
    let stdout = text(&output);
    assert!(
        output.status.success() && !stdout.contains("FAIL"),
        "the README's loop: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let suite: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data("expected.json")).expect("expected.json"))
            .expect("json");
    let cases = suite["cases"].as_array().expect("cases").len();
    assert_eq!(runs, cases, "the loop ran arxi once per case");
}

/// `arxi findings` prints the registry published in the repository.
#[test]
fn findings_prints_the_published_registry() {
    let output = arxi(&["findings"]);
    assert_eq!(output.status.code(), Some(0));
    let published = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../Docs/generated/arxi/format/findings.json"),
    )
    .expect("Docs/generated/arxi/format/findings.json");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&published),
        "Docs/generated/arxi/format/findings.json is out of date; run scripts/ci/generate_all.sh"
    );
}

/// The verifier must stay independent of the recorder's machinery.
#[test]
fn depends_on_arxi_format_only() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "arxi-verify",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
            "--locked",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains("arxi-format"), "{tree}");
    let workspace: Vec<&&str> = crates
        .iter()
        .filter(|name| name.starts_with("arxi-"))
        .collect();
    assert_eq!(workspace, [&"arxi-format", &"arxi-verify"], "{tree}");
    for forbidden in [
        "rusqlite",
        "libsqlite3-sys",
        "monoio",
        "hyper",
        "tokio",
        "http",
        "arxi-store",
        "arxi-recorder",
    ] {
        assert!(
            !crates.contains(forbidden),
            "arxi-verify pulls in {forbidden}:\n{tree}"
        );
    }
}

/// `--help` on `arxi` and on every subcommand exits 0 with its usage;
/// `--version` names the commit and the build profile; `--key=VALUE` is
/// the same as `--key VALUE`.
#[test]
fn every_subcommand_has_help_and_the_version_names_the_build() {
    let (visited, problems) = arxi_testkit::cli::walk_help(Path::new(env!("CARGO_BIN_EXE_arxi")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for expected in [
        &["bundle", "verify"][..],
        &["bundle", "export"],
        &["key", "public"],
        &["envelope", "prove"],
        &["proof", "verify"],
        &["man-pages"],
    ] {
        assert!(
            visited.iter().any(|path| path == expected),
            "{expected:?} not reached: {visited:?}"
        );
    }
    let version = text(&arxi(&["--version"]));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    assert!(
        version.starts_with(&format!("arxi {} (commit ", env!("CARGO_PKG_VERSION")))
            && version.trim_end().ends_with(&format!(", {profile} build)")),
        "{version}"
    );
    let golden = data("bundles/golden.arxb");
    let equals = arxi(&[
        "bundle",
        "verify",
        path(&golden),
        &format!("--key={}", path(&data("keys/a.pub"))),
        &format!("--key={}", path(&data("keys/b.pub"))),
    ]);
    assert_eq!(equals.status.code(), Some(0), "{}", text(&equals));
}

#[test]
fn key_public_derives_what_keygen_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("signer.key");
    let public = dir.path().join("signer.pub");
    let made = arxi(&[
        "keygen",
        "--secret",
        path(&secret),
        "--public",
        path(&public),
    ]);
    assert_eq!(made.status.code(), Some(0));
    let derived = arxi(&["key", "public", "--secret", path(&secret)]);
    assert_eq!(derived.status.code(), Some(0));
    assert_eq!(
        text(&derived),
        std::fs::read_to_string(&public).expect("public key")
    );
    assert!(String::from_utf8_lossy(&derived.stderr).contains("key id ed25519:"));
    for bad in ["not hex at all", ""] {
        std::fs::write(dir.path().join("bad.key"), bad).expect("write");
        let refused = arxi(&[
            "key",
            "public",
            "--secret",
            path(&dir.path().join("bad.key")),
        ]);
        assert_eq!(refused.status.code(), Some(2), "{bad:?}");
    }
    let missing = arxi(&["key", "public", "--secret", "/nonexistent/key"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn export_writes_verified_envelopes_and_attachments_and_refuses_an_invalid_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (data("keys/a.pub"), data("keys/b.pub"));
    let keys = ["--key", path(&a), "--key", path(&b)];
    let export = |bundle: &Path, out: &Path, force: bool| {
        let mut args = vec!["bundle", "export", path(bundle), "--out", path(out)];
        args.extend(keys);
        if force {
            args.push("--force");
        }
        arxi(&args)
    };
    let out = dir.path().join("golden");
    let done = export(&data("bundles/golden.arxb"), &out, false);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let lines = std::fs::read_to_string(out.join("envelopes.jsonl")).expect("envelopes");
    let envelopes: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON envelope per line"))
        .collect();
    assert_eq!(envelopes.len(), 27);
    assert_eq!(envelopes[0]["seq"], 1);
    for envelope in &envelopes {
        for reference in envelope["attachments"].as_array().expect("attachments") {
            let sha = reference["sha256"].as_str().expect("sha256");
            let bytes = std::fs::read(out.join("attachments").join(sha)).expect("attachment");
            assert_eq!(
                bytes.len() as u64,
                reference["size"].as_u64().expect("size")
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(out.join("seals.jsonl"))
            .expect("seals")
            .lines()
            .count(),
        5
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["valid"], true);
    // Into a directory that is not empty: refused, nothing touched.
    let again = export(&data("bundles/golden.arxb"), &out, false);
    assert_eq!(again.status.code(), Some(2));
    // An invalid bundle: refused (exit 1, nothing written) unless --force.
    let tampered = data("bundles/tampered/segment-dropped.arxb");
    let refused_dir = dir.path().join("refused");
    let refused = export(&tampered, &refused_dir, false);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).starts_with("INVALID:"), "{}", text(&refused));
    assert!(!refused_dir.exists());
    let forced = export(&tampered, &refused_dir, true);
    assert_eq!(forced.status.code(), Some(1), "{}", text(&forced));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(refused_dir.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["valid"], false);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

/// A bundle with version 2 envelopes: the text report says, per run of
/// envelopes, whether each payload was disclosed and matched, withheld, or
/// erased (naming the erasure record), and `--json` carries the same.
#[test]
fn verify_reports_payload_states() {
    let conformance = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Docs/conformance");
    let key = conformance.join("keys/a.pub");
    let history = conformance.join("bundles/disclosures/v2-history.arxb");
    let output = arxi(&["bundle", "verify", path(&history), "--key", path(&key)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = text(&output);
    for line in [
        "payloads of version 2 envelopes: 1 disclosed and matching their commitments, 1 withheld, 1 erased, 0 unusable",
        "  seq 4: disclosed",
        "  seq 5: withheld",
        "  seq 6: erased (recorded by seq 8)",
    ] {
        assert!(report.lines().any(|l| l == line), "{line:?} in {report}");
    }
    let json = arxi(&[
        "bundle",
        "verify",
        path(&history),
        "--key",
        path(&key),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["payloads"]["erased"], 1);
    assert_eq!(value["payloads"]["ranges"][2]["erased_by"], 8);
    let mismatch = conformance.join("bundles/disclosures/v2-commitment-mismatch.arxb");
    let output = arxi(&["bundle", "verify", path(&mismatch), "--key", path(&key)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).lines().any(|l| l == "  seq 4: mismatched"),
        "{}",
        text(&output)
    );
}
