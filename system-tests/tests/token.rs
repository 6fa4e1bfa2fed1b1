//! Signing through a PKCS#11 token (`[signer.pkcs11]`), against SoftHSM2.
//!
//! A token is made in a test directory (`softhsm2-util`), an Ed25519 key
//! pair generated in it (`pkcs11-tool`), and the sidecar started with the
//! token's key instead of a key file. Every envelope, seal and bundle is
//! signed by the token's key; when the token goes away (its directory
//! moved out of SoftHSM2's token directory) every write is refused with a
//! typed 503 `signer_unavailable` and nothing of it is recorded; when it
//! comes back the sidecar signs again without a restart, and the chain it
//! recorded across the outage verifies offline with no gap.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arxi_system_tests::{Response, Sidecar, binary, http, test_config, wait_for, write_secret};

/// Debian's SoftHSM2 module (package `softhsm2`, installed by
/// `scripts/ci/install-test-deps.sh`).
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "2718";

/// A SoftHSM2 token in `dir`: its configuration file, the directory that
/// holds its files, and the public key of the Ed25519 pair made in it.
struct Token {
    conf: PathBuf,
    files: PathBuf,
    public_hex: String,
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "{command:?}: {e} (softhsm2 and opensc are installed by the test dependencies script)"
        )
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?}:\n{text}");
    text
}

fn softhsm(dir: &Path) -> Token {
    assert!(
        Path::new(MODULE).is_file(),
        "{MODULE} is missing: install softhsm2 (scripts/ci/install-test-deps.sh does)"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token directory");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    run(Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", "arxi"])
        .args(["--so-pin", "31415", "--pin", PIN]));
    let made = run(Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--module", MODULE, "--token-label", "arxi", "--login"])
        .args([
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
        ])
        .args(["--label", "recorder"]));
    // `EC_POINT:   0420<32 bytes>`: a DER OCTET STRING around the key.
    let public_hex = made
        .lines()
        .find_map(|line| line.trim().strip_prefix("EC_POINT:"))
        .and_then(|point| point.trim().strip_prefix("0420"))
        .unwrap_or_else(|| panic!("no EC_POINT in:\n{made}"))
        .to_owned();
    assert_eq!(public_hex.len(), 64, "{made}");
    let files = std::fs::read_dir(&tokens)
        .expect("tokens")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.is_dir())
        .expect("the token's directory");
    write_secret(dir, "token.pin", &format!("{PIN}\n"));
    Token {
        conf,
        files,
        public_hex,
    }
}

/// A sidecar in `dir` whose key is the token's.
fn start(dir: &Path, token: &Token) -> Sidecar {
    let config = test_config(dir, "", "auto");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "[signer]\nkey_file = \"signer.key\"\ngenerate_if_missing = true\n",
        &format!(
            "[signer.pkcs11]\nmodule = \"{MODULE}\"\ntoken_label = \"arxi\"\n\
             key_label = \"recorder\"\npin_file = \"token.pin\"\n"
        ),
    );
    assert!(text.contains("[signer.pkcs11]"), "{text}");
    std::fs::write(&config, text).expect("config");
    Sidecar::try_start_env(&config, None, &[], &[("SOFTHSM2_CONF", &token.conf)])
        .unwrap_or_else(|(status, log)| panic!("not started ({status:?}):\n{}", log.join("\n")))
}

fn post(sidecar: &Sidecar, path: &str, body: Option<&str>) -> Response {
    http(&sidecar.tcp, "POST", path, &[], body.map(str::as_bytes)).expect("request")
}

fn record(sidecar: &Sidecar, n: u64) -> Response {
    let body = format!(r#"{{"type":"orders.placed","payload":{{"n":{n}}}}}"#);
    post(sidecar, "/v1/envelopes", Some(&body))
}

fn assert_signer_unavailable(response: &Response) {
    assert_eq!(response.status, 503, "{}", response.text());
    let problem = response.json();
    assert_eq!(problem["code"], "signer_unavailable", "{problem}");
    assert_eq!(problem["retryable"], true, "{problem}");
}

/// Builds and downloads the bundle of segment 1.
fn bundle(sidecar: &Sidecar, dir: &Path) -> PathBuf {
    let built = post(
        sidecar,
        "/v1/bundles/build",
        Some(r#"{"first_segment":1,"last_segment":1}"#),
    );
    assert_eq!(built.status, 201, "{}", built.text());
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
    let path = dir.join("segment-1.arxb");
    std::fs::write(&path, &download.body).expect("bundle");
    path
}

#[test]
fn a_token_signs_everything_and_an_outage_records_nothing_and_ends_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = softhsm(dir.path());
    let sidecar = start(dir.path(), &token);
    assert!(
        !dir.path().join("signer.key").exists(),
        "no key file is made"
    );
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None)
        .expect("keys")
        .json();
    assert_eq!(
        keys["keys"][0]["public_key"], token.public_hex,
        "the recorder signs with the token's key: {keys}"
    );
    let mut before = 0;
    for n in 0..5 {
        let recorded = record(&sidecar, n);
        assert_eq!(recorded.status, 201, "{}", recorded.text());
        before = recorded.json()["seq"].as_u64().expect("seq");
    }

    // The token goes away: every write is refused, nothing is recorded.
    let away = dir.path().join("away");
    std::fs::rename(&token.files, &away).expect("unplug");
    for n in 100..103 {
        assert_signer_unavailable(&record(&sidecar, n));
    }
    assert_signer_unavailable(&post(&sidecar, "/v1/segments/seal", None));
    let metrics = http(&sidecar.tcp, "GET", "/metrics", &[], None).expect("metrics");
    assert!(
        metrics.text().lines().any(
            |line| line.starts_with("arxi_recorder_signer_failures_total ")
                && !line.ends_with(" 0")
        ),
        "{}",
        metrics.text()
    );

    // It comes back: the sidecar signs again, without a restart.
    std::fs::rename(&away, &token.files).expect("plug back");
    let recorded = wait_for("the token to sign again", Duration::from_secs(30), || {
        let response = record(&sidecar, 200);
        (response.status == 201).then_some(response)
    });
    assert_eq!(
        recorded.json()["seq"].as_u64(),
        Some(before + 1),
        "nothing of a refused write is in the chain: it took no sequence number"
    );
    let sealed = post(&sidecar, "/v1/segments/seal", None);
    assert_eq!(sealed.status, 200, "{}", sealed.text());

    // The whole history verifies offline under the token's public key.
    let bundle = bundle(&sidecar, dir.path());
    let key = dir.path().join("recorder.pub");
    std::fs::write(&key, format!("{}\n", token.public_hex)).expect("key");
    let verified = Command::new(binary("arxi"))
        .args(["bundle", "verify"])
        .arg(&bundle)
        .arg("--key")
        .arg(&key)
        .output()
        .expect("arxi runs");
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    sidecar.terminate();
}

#[test]
fn a_token_that_does_not_hold_the_key_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = softhsm(dir.path());
    let config = test_config(dir.path(), "", "auto");
    let text = std::fs::read_to_string(&config).expect("config").replace(
        "[signer]\nkey_file = \"signer.key\"\ngenerate_if_missing = true\n",
        &format!(
            "[signer.pkcs11]\nmodule = \"{MODULE}\"\ntoken_label = \"arxi\"\n\
             key_label = \"no-such-key\"\npin_file = \"token.pin\"\n"
        ),
    );
    std::fs::write(&config, text).expect("config");
    let (_, log) = Sidecar::try_start_env(&config, None, &[], &[("SOFTHSM2_CONF", &token.conf)])
        .expect_err("no key, no start");
    let log = log.join("\n");
    assert!(
        log.contains("no Ed25519") && log.contains("no-such-key"),
        "{log}"
    );
    write_secret(dir.path(), "token.pin", "0000\n");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("no-such-key", "recorder");
    std::fs::write(&config, text).expect("config");
    let (_, log) = Sidecar::try_start_env(&config, None, &[], &[("SOFTHSM2_CONF", &token.conf)])
        .expect_err("a wrong PIN, no start");
    assert!(log.join("\n").contains("logging in"), "{}", log.join("\n"));
}
