//! RFC 3161 timestamps against a real TSA: OpenSSL's `openssl ts -reply`
//! (ECDSA P-384 and RSA 2048) behind a small HTTP server.
//!
//! - The tokens OpenSSL issues to arxi's requests read and check as
//!   `Docs/format.md` §11.9 says (and OpenSSL accepts arxi's requests);
//!   a token is refused over another hash, with another nonce, or under
//!   another CA.
//! - A sidecar with a `[[timestamp]]` TSA stamps every seal; the bundle
//!   carries the tokens and `arxi bundle verify --tsa-cert CA
//!   --require-timestamp` accepts it; under another TSA's CA every token is
//!   `timestamp_untrusted`.
//! - A TSA that is down never blocks ingest: envelopes and seals are
//!   answered, `/ready` stays 200 with the TSA `retrying`, the failures are
//!   counted; when it is back, the waiting seals get their tokens.
//! - A TSA whose tokens do not chain to the configured certificate gets
//!   none of them stored (`untrusted` failures).
//! - A TSA with `subject = "checkpoints"` stamps checkpoints of the log
//!   tree into the chain (`arxi.log.timestamped`), no seal; a bundle holding
//!   such an envelope and the checkpoint's last envelope verifies with the
//!   checkpoint's root checked against the chain, and under another TSA's
//!   CA the token is `timestamp_untrusted`.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use arxi_format::tsp::{self, TsaTrust, TspError};
use arxi_format::{Hash32, SecretKey};
use arxi_system_tests::tsa::{KeyType, Mode, OpensslTsa, TsaServer};
use arxi_system_tests::{
    Response, Sidecar, binary, build_bundle, http, query_by_type, test_config_with_signer,
    wait_for, write_secret,
};
use serde_json::Value;

const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const WAIT: Duration = Duration::from_secs(30);

fn trust(path: &Path) -> TsaTrust {
    let mut trust = TsaTrust::new();
    trust
        .add(&std::fs::read(path).expect("certificate"))
        .expect("a certificate");
    trust
}

#[test]
fn openssl_tokens_read_and_check_as_the_format_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = OpensslTsa::new(&dir.path().join("other"), "other TSA", KeyType::EcP384);
    for key in [KeyType::EcP384, KeyType::Rsa2048] {
        let tsa = OpensslTsa::new(&dir.path().join(format!("{key:?}")), "arxi test TSA", key);
        let imprint = Hash32::of(format!("a seal under {key:?}").as_bytes());
        let nonce = 0x8000_0000_0000_0001;
        let query = tsp::request(&imprint, nonce);
        let reply = tsa.reply(&query);
        assert!(
            tsa.openssl_verifies(&query, &reply),
            "{key:?}: OpenSSL accepts its answer to arxi's request"
        );
        let token = tsp::read_response(&reply, &imprint, nonce).expect("a token over the hash");
        assert!(
            tsa.openssl_verifies_token(token.der(), &imprint.to_hex()),
            "{key:?}: the token as a T record carries it checks with openssl ts -verify -token_in"
        );
        assert!(
            !tsa.openssl_verifies_token(token.der(), &Hash32::of(b"x").to_hex()),
            "{key:?}: and not against another hash"
        );
        let subject = token
            .verify(&trust(&tsa.ca_pem()))
            .expect("chains to the CA");
        assert!(subject.contains("arxi test TSA"), "{key:?}: {subject}");
        token
            .verify(&trust(&tsa.tsa_pem()))
            .expect("the TSA's own certificate trusted also serves");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_micros();
        let skew =
            (i128::try_from(now).expect("fits") - i128::from(token.info().gen_time_micros)).abs();
        assert!(
            skew < 120_000_000,
            "{key:?}: genTime is now ({skew} µs off)"
        );
        assert_eq!(
            token.info().accuracy_micros,
            1_500_000,
            "{key:?}: secs 1, millis 500"
        );
        assert!(
            matches!(
                token.verify(&trust(&other.ca_pem())),
                Err(TspError::Untrusted(_))
            ),
            "{key:?}: another CA does not vouch for it"
        );
        let other_hash = Hash32::of(b"another seal");
        assert!(matches!(
            tsp::read_response(&reply, &other_hash, nonce),
            Err(TspError::Imprint(_))
        ));
        assert_eq!(
            tsp::read_response(&reply, &imprint, nonce + 1).err(),
            Some(TspError::Nonce)
        );
        let mut altered = token.der().to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 0x01;
        let refused = tsp::Token::parse(&altered).and_then(|t| t.verify(&trust(&tsa.ca_pem())));
        assert!(
            matches!(
                refused,
                Err(TspError::Signature(_) | TspError::Malformed(_))
            ),
            "{key:?}: an altered signature is refused: {refused:?}"
        );
    }
}

fn public_key_file(dir: &Path) -> std::path::PathBuf {
    let key = SecretKey::from_hex(SEED_HEX).expect("seed");
    let path = dir.join("recorder.pub");
    std::fs::write(&path, format!("{}\n", key.public().to_hex())).expect("public key");
    path
}

/// A sidecar in `dir` signing with [`SEED_HEX`], its seals stamped by the
/// TSA at `url` whose tokens must chain to `ca`.
fn sidecar(dir: &Path, url: &str, ca: &Path) -> Sidecar {
    sidecar_stamping(dir, (url, ca), "")
}

/// As [`sidecar`], with more members for the `[[timestamp]]` table.
fn sidecar_stamping(dir: &Path, (url, ca): (&str, &Path), more: &str) -> Sidecar {
    std::fs::create_dir_all(dir).expect("sidecar dir");
    write_secret(dir, "signer.key", SEED_HEX);
    let signer = "[signer]\nkey_file = \"signer.key\"\n";
    let extra = format!(
        "[[timestamp]]\nname = \"local-tsa\"\nurl = \"{url}\"\nca_cert = \"{}\"\ntimeout_ms = 5000\n{more}",
        ca.display()
    );
    Sidecar::start(&test_config_with_signer(dir, signer, &extra, "auto"), None)
}

fn get(sidecar: &Sidecar, path: &str) -> Response {
    http(&sidecar.tcp, "GET", path, &[], None).expect("GET")
}

fn record_and_seal(sidecar: &Sidecar, count: usize) {
    for n in 0..count {
        let body = format!(r#"{{"type":"orders.created","payload":{{"n":{n}}}}}"#);
        let response = http(
            &sidecar.tcp,
            "POST",
            "/v1/envelopes",
            &[],
            Some(body.as_bytes()),
        )
        .expect("POST");
        assert_eq!(response.status, 201, "{}", response.text());
    }
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(sealed.status, 200, "{}", sealed.text());
}

/// The TSA's entry of `/ready` (which answers 200 whatever the TSA does).
fn readiness(sidecar: &Sidecar) -> Value {
    let ready = get(sidecar, "/ready");
    assert_eq!(ready.status, 200, "{}", ready.text());
    ready.json()["timestamps"][0].clone()
}

fn metric(sidecar: &Sidecar, series: &str) -> f64 {
    get(sidecar, "/metrics")
        .text()
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The last sealed segment's id.
fn last_sealed(sidecar: &Sidecar) -> u64 {
    let segments = get(sidecar, "/v1/segments").json();
    segments["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .filter(|segment| segment["sealed_at"].is_string())
        .filter_map(|segment| segment["segment_id"].as_u64())
        .max()
        .expect("a sealed segment")
}

fn verify(bundle: &Path, key: &Path, extra: &[&Path], flags: &[&str]) -> Output {
    let mut command = std::process::Command::new(binary("arxi"));
    command
        .args(["bundle", "verify"])
        .arg(bundle)
        .arg("--key")
        .arg(key);
    for certificate in extra {
        command.arg("--tsa-cert").arg(certificate);
    }
    command
        .args(flags)
        .arg("--json")
        .output()
        .expect("arxi runs")
}

fn codes(output: &Output) -> Vec<String> {
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    report["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("a code").to_owned())
        .collect()
}

/// Which CA the sidecar is told its TSA's tokens chain to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trusting {
    TheTsa,
    AnotherCa,
}

/// Under `dir`: the TSA (ECDSA P-384) served over HTTP, another TSA
/// (RSA, another CA), and a sidecar stamping its seals with the first,
/// configured with the CA `trusting` names.
fn setup(dir: &Path, trusting: Trusting) -> (Arc<OpensslTsa>, OpensslTsa, TsaServer, Sidecar) {
    setup_stamping(dir, trusting, "")
}

/// As [`setup`], with more members for the `[[timestamp]]` table.
fn setup_stamping(
    dir: &Path,
    trusting: Trusting,
    more: &str,
) -> (Arc<OpensslTsa>, OpensslTsa, TsaServer, Sidecar) {
    let tsa = Arc::new(OpensslTsa::new(
        &dir.join("tsa"),
        "arxi test TSA",
        KeyType::EcP384,
    ));
    let other = OpensslTsa::new(&dir.join("other"), "other TSA", KeyType::Rsa2048);
    let server = TsaServer::start(Arc::clone(&tsa));
    let ca = match trusting {
        Trusting::TheTsa => tsa.ca_pem(),
        Trusting::AnotherCa => other.ca_pem(),
    };
    let sidecar = sidecar_stamping(&dir.join("sidecar"), (&server.url, &ca), more);
    (tsa, other, server, sidecar)
}

#[test]
fn seals_are_stamped_and_bundles_carry_tokens_an_auditor_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tsa, other, _server, sidecar) = setup(dir.path(), Trusting::TheTsa);
    record_and_seal(&sidecar, 5);
    record_and_seal(&sidecar, 3);
    let last = last_sealed(&sidecar);
    wait_for("every seal stamped", WAIT, || {
        let entry = readiness(&sidecar);
        (entry["pending_seals"] == 0
            && metric(&sidecar, "arxi_timestamp_tokens_total") >= last as f64)
            .then_some(())
    });
    let entry = readiness(&sidecar);
    assert_eq!(entry["name"], "local-tsa");
    assert_eq!(entry["state"], "ok");
    let bundle = build_bundle(&sidecar, dir.path(), 1, last);
    let key = public_key_file(dir.path());

    let checked = verify(&bundle, &key, &[&tsa.ca_pem()], &["--require-timestamp"]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let report: Value = serde_json::from_slice(&checked.stdout).expect("report");
    let tokens = report["timestamps"].as_array().expect("timestamps");
    assert_eq!(tokens.len() as u64, last, "one token per seal: {tokens:?}");
    for token in tokens {
        assert_eq!(token["trusted"], true, "{token}");
        assert_eq!(token["holds"], true, "{token}");
        assert_eq!(token["tsa"], "local-tsa");
        assert!(
            token["signer"]
                .as_str()
                .expect("signer")
                .contains("arxi test TSA")
        );
    }

    let untrusted = verify(&bundle, &key, &[&other.ca_pem()], &["--require-timestamp"]);
    assert_eq!(untrusted.status.code(), Some(1));
    assert_eq!(
        codes(&untrusted),
        ["timestamp_untrusted", "timestamp_missing"]
    );
    let plain = verify(&bundle, &key, &[], &[]);
    assert!(
        plain.status.success(),
        "without --tsa-cert the tokens are not judged on trust"
    );

    // A proof cut from the bundle carries its seal's token.
    let proof = dir.path().join("proof.json");
    let cut = std::process::Command::new(binary("arxi"))
        .args(["envelope", "prove"])
        .arg(&bundle)
        .args(["--seq", "2", "--out"])
        .arg(&proof)
        .output()
        .expect("arxi runs");
    assert!(
        cut.status.success(),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let check_proof = |ca: &Path| {
        std::process::Command::new(binary("arxi"))
            .args(["proof", "verify"])
            .arg(&proof)
            .arg("--key")
            .arg(&key)
            .arg("--tsa-cert")
            .arg(ca)
            .args(["--require-timestamp", "--json"])
            .output()
            .expect("arxi runs")
    };
    let held = check_proof(&tsa.ca_pem());
    assert!(
        held.status.success(),
        "{}",
        String::from_utf8_lossy(&held.stdout)
    );
    let report: Value = serde_json::from_slice(&held.stdout).expect("report");
    assert_eq!(report["timestamps"], 1);
    let refused = check_proof(&other.ca_pem());
    assert_eq!(
        codes(&refused),
        ["timestamp_untrusted", "timestamp_missing"]
    );
    sidecar.terminate();
}

#[test]
fn a_tsa_that_is_down_never_blocks_ingest_and_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tsa = Arc::new(OpensslTsa::new(
        &dir.path().join("tsa"),
        "arxi test TSA",
        KeyType::Rsa2048,
    ));
    let server = TsaServer::start(Arc::clone(&tsa));
    server.set_mode(Mode::Unavailable);
    let sidecar = sidecar(&dir.path().join("sidecar"), &server.url, &tsa.ca_pem());
    record_and_seal(&sidecar, 4);
    let last = last_sealed(&sidecar);
    wait_for("the outage counted", WAIT, || {
        let entry = readiness(&sidecar);
        (entry["state"] == "retrying" && entry["pending_seals"].as_u64() >= Some(1)).then_some(())
    });
    let failures = metric(
        &sidecar,
        "arxi_timestamp_failures_total{tsa=\"local-tsa\",reason=\"http_status\"}",
    );
    assert!(failures >= 1.0, "{failures}");
    assert!(
        readiness(&sidecar)["last_error"]
            .as_str()
            .expect("an error")
            .contains("503")
    );
    record_and_seal(&sidecar, 2);

    server.set_mode(Mode::Serve);
    wait_for("the waiting seals stamped", Duration::from_secs(90), || {
        let entry = readiness(&sidecar);
        (entry["state"] == "ok" && entry["pending_seals"] == 0).then_some(())
    });
    let newest = last_sealed(&sidecar);
    assert!(newest > last);
    let bundle = build_bundle(&sidecar, dir.path(), 1, newest);
    let key = public_key_file(dir.path());
    let checked = verify(&bundle, &key, &[&tsa.ca_pem()], &["--require-timestamp"]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    sidecar.terminate();
}

#[test]
fn tokens_that_do_not_chain_to_the_configured_certificate_are_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tsa, _other, _server, sidecar) = setup(dir.path(), Trusting::AnotherCa);
    record_and_seal(&sidecar, 3);
    let series = "arxi_timestamp_failures_total{tsa=\"local-tsa\",reason=\"untrusted\"}";
    wait_for("an untrusted token refused", WAIT, || {
        (metric(&sidecar, series) >= 1.0).then_some(())
    });
    assert_eq!(metric(&sidecar, "arxi_timestamp_tokens_total"), 0.0);
    let bundle = build_bundle(&sidecar, dir.path(), 1, last_sealed(&sidecar));
    let key = public_key_file(dir.path());
    let checked = verify(&bundle, &key, &[&tsa.ca_pem()], &["--require-timestamp"]);
    assert_eq!(
        codes(&checked),
        ["timestamp_missing"],
        "no token was stored"
    );
    sidecar.terminate();
}

/// The `arxi.log.timestamped` envelopes recorded so far (their payloads).
fn checkpoint_stamps(sidecar: &Sidecar) -> Vec<Value> {
    query_by_type(sidecar, "arxi.log.timestamped")
        .iter()
        .map(|envelope| envelope["payload"].clone())
        .collect()
}

#[test]
fn checkpoints_are_stamped_into_the_chain_and_checked_against_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoints = "subject = \"checkpoints\"\ncheckpoint_interval_seconds = 10\n";
    let (tsa, other, _server, sidecar) = setup_stamping(dir.path(), Trusting::TheTsa, checkpoints);
    let started = std::time::Instant::now();
    record_and_seal(&sidecar, 4);
    let stamps = wait_for("a checkpoint stamped", WAIT, || {
        let stamps = checkpoint_stamps(&sidecar);
        (!stamps.is_empty()).then_some(stamps)
    });
    let first = &stamps[0];
    assert_eq!(first["tsa"], "local-tsa");
    assert!(
        first["checkpoint"]
            .as_str()
            .expect("a note")
            .starts_with("arxi/"),
        "{first}"
    );
    record_and_seal(&sidecar, 2);
    record_and_seal(&sidecar, 1);
    // The log grew at every request and a checkpoint is signed every
    // second, but a token goes out at most every 10 s (the first at once).
    let stamped = checkpoint_stamps(&sidecar).len();
    let bound = 1 + started.elapsed().as_secs() / 10;
    assert!(
        stamped as u64 <= bound,
        "{stamped} stamps in {:?}",
        started.elapsed()
    );
    assert_eq!(
        metric(&sidecar, "arxi_timestamp_tokens_total"),
        stamped as f64
    );
    let last = last_sealed(&sidecar);
    let bundle = build_bundle(&sidecar, dir.path(), 1, last);
    let key = public_key_file(dir.path());

    let checked = verify(&bundle, &key, &[&tsa.ca_pem()], &[]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let report: Value = serde_json::from_slice(&checked.stdout).expect("report");
    let tokens = report["timestamps"].as_array().expect("timestamps");
    assert_eq!(tokens.len(), stamped, "{tokens:?}");
    for token in tokens {
        assert_eq!(token["trusted"], true, "{token}");
        assert_eq!(token["holds"], true, "{token}");
        assert_eq!(token["checkpoint_root_checked"], true, "{token}");
        assert!(
            token["checkpoint_size"].as_u64().expect("size") >= 1,
            "{token}"
        );
    }

    let untrusted = verify(&bundle, &key, &[&other.ca_pem()], &[]);
    assert_eq!(untrusted.status.code(), Some(1));
    assert_eq!(codes(&untrusted), ["timestamp_untrusted"]);
    // Seals are not this TSA's subject: under a policy they lack tokens.
    let required = verify(&bundle, &key, &[&tsa.ca_pem()], &["--require-timestamp"]);
    assert_eq!(codes(&required), ["timestamp_missing"]);

    // Idle: what was recorded since the last stamp gets one more once the
    // interval has passed, and then none (a stamp is an envelope: were it
    // counted as growth, an idle log would be stamped every interval).
    let activity = wait_for("the last activity stamped", WAIT, || {
        let now = checkpoint_stamps(&sidecar).len();
        (now > stamped).then_some(now)
    });
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(
        checkpoint_stamps(&sidecar).len(),
        activity,
        "no stamp of an idle log"
    );
    sidecar.terminate();
}
