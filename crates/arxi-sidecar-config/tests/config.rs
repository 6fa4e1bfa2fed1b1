//! Configuration rules, one case each: a valid base configuration is
//! mutated, and the expected key paths must be among the reported problems.
//! Also: the shipped example configurations validate, every problem is
//! reported at once, and secrets are redacted.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use arxi_sidecar_config::{ConfigErrors, parse};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Self { dir };
        files.write("token", "0123456789abcdef0123456789abcdef", 0o600);
        files.write("cp-token", "fedcba9876543210fedcba9876543210", 0o600);
        files.write(
            "signer.key",
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            0o600,
        );
        files
    }

    fn write(&self, name: &str, content: &str, mode: u32) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

const BASE: &str = r#"
config_version = 1
[api]
major_version = 1
[recorder]
id = "rec-1"
data_dir = "data"
[transport.tcp]
host = "127.0.0.1"
port = 0
[transport.unix]
path = "arxi.sock"
mode = "0660"
[security]
mode = "token"
token_file = "token"
[signer]
key_file = "signer.key"
"#;

fn check(files: &Files, text: &str) -> Result<(), Vec<String>> {
    parse(text, files.path(), "test")
        .map(drop)
        .map_err(|ConfigErrors(errors)| errors.into_iter().map(|e| e.to_string()).collect())
}

/// Replaces the first occurrence of `from` in the base (which must exist).
fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "base lacks {from:?}");
    BASE.replacen(from, to, 1)
}

#[test]
fn the_base_and_the_shipped_examples_are_valid() {
    let files = Files::new();
    check(&files, BASE).expect("base is valid");
    let dev = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/dev.toml"
    ))
    .expect("config/dev.toml");
    check(&files, &dev).expect("config/dev.toml is valid (its key is generated on first start)");
}

#[test]
fn the_production_example_is_valid_given_its_files() {
    let files = Files::new();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/token-auth.toml"
    ))
    .expect("config/token-auth.toml")
    .replace("/etc/arxi/token", "token")
    .replace("/etc/arxi/signer.key", "signer.key");
    check(&files, &text).expect("config/token-auth.toml is valid");
}

#[test]
fn each_rule_names_its_key() {
    let files = Files::new();
    files.write("token-0640", "0123456789abcdef0123456789abcdef", 0o640);
    files.write("short", "abc", 0o600);
    files.write("bad.key", "not a key", 0o600);
    files.write(
        "open.key",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        0o644,
    );
    std::os::unix::fs::symlink(files.path().join("token"), files.path().join("token-link"))
        .expect("symlink");
    let cases: Vec<(String, &str)> = vec![
        (
            base_with("config_version = 1", "config_version = 2"),
            "config_version",
        ),
        (
            base_with("major_version = 1", "major_version = 2"),
            "api.major_version",
        ),
        (
            base_with("id = \"rec-1\"", "id = \"Rec One\""),
            "recorder.id",
        ),
        (
            base_with(
                "data_dir = \"data\"",
                "data_dir = \"data\"\nenvelope_version = 3",
            ),
            "recorder.envelope_version",
        ),
        (
            base_with(
                "data_dir = \"data\"",
                "data_dir = \"data\"\ncommit_subject = true",
            ),
            "recorder.envelope_version",
        ),
        (
            base_with(
                "data_dir = \"data\"",
                "data_dir = \"data\"\n[recorder.auto_seal]\nenvelopes_max = 2",
            ),
            "recorder.auto_seal.envelopes_max",
        ),
        (
            base_with(
                "data_dir = \"data\"",
                "data_dir = \"data\"\n[recorder.auto_seal]\nbytes_max = 10",
            ),
            "recorder.auto_seal.bytes_max",
        ),
        (
            base_with(
                "data_dir = \"data\"",
                "data_dir = \"data\"\n[recorder.auto_seal]\nage_seconds = 0",
            ),
            "recorder.auto_seal.age_seconds",
        ),
        (
            base_with("host = \"127.0.0.1\"", "host = \"localhost\""),
            "transport.tcp.host",
        ),
        (
            base_with("mode = \"0660\"", "mode = \"0999\""),
            "transport.unix.mode",
        ),
        (
            base_with(
                "[transport.tcp]",
                "[transport]\nworkers = 0\n[transport.tcp]",
            ),
            "transport.workers",
        ),
        (
            base_with(
                "[transport.tcp]",
                "[transport]\nallowed_hosts = [\"bad host\"]\n[transport.tcp]",
            ),
            "transport.allowed_hosts[0]",
        ),
        (
            base_with("host = \"127.0.0.1\"", "host = \"0.0.0.0\"").replace(
                "mode = \"token\"\ntoken_file = \"token\"",
                "mode = \"none\"",
            ),
            "security.mode",
        ),
        (
            base_with("host = \"127.0.0.1\"", "host = \"0.0.0.0\"").replace(
                "mode = \"token\"",
                "mode = \"token\"\nrequire_token_for_non_loopback = false",
            ),
            "security.require_token_for_non_loopback",
        ),
        (
            base_with("token_file = \"token\"", ""),
            "security.token_file",
        ),
        (
            base_with("token_file = \"token\"", "token_file = \"token-0640\""),
            "security.token_file",
        ),
        (
            base_with("token_file = \"token\"", "token_file = \"token-link\""),
            "security.token_file",
        ),
        (
            base_with("token_file = \"token\"", "token_file = \"missing\""),
            "security.token_file",
        ),
        (
            base_with("token_file = \"token\"", "token_file = \"short\""),
            "security.token_file",
        ),
        (
            base_with("mode = \"token\"", "mode = \"none\""),
            "security.token_file",
        ),
        (
            base_with("key_file = \"signer.key\"", "key_file = \"missing.key\""),
            "signer.key_file",
        ),
        (
            base_with("key_file = \"signer.key\"", "key_file = \"bad.key\""),
            "signer.key_file",
        ),
        (
            base_with("key_file = \"signer.key\"", "key_file = \"open.key\""),
            "signer.key_file",
        ),
        (
            format!("{BASE}[limits]\nmax_request_body_bytes = 0\n"),
            "limits.max_request_body_bytes",
        ),
        (
            format!("{BASE}[limits]\nrequest_timeout_ms = 1000000000\n"),
            "limits.request_timeout_ms",
        ),
        (
            format!("{BASE}[limits]\nmax_headers = 100000\n"),
            "limits.max_headers",
        ),
        (
            format!(
                "{BASE}[limits]\nattachment_bytes_max = 20000000\nmax_attachment_request_bytes = 10000000\n"
            ),
            "limits.attachment_bytes_max",
        ),
        (
            format!("{BASE}[probes]\nenterprise_health_path = \"health\"\n"),
            "probes.enterprise_health_path",
        ),
        (
            format!("{BASE}[probes]\nenterprise_health_path = \"/a/../b\"\n"),
            "probes.enterprise_health_path",
        ),
        (
            format!("{BASE}[probes]\nreadiness_mode = \"storage_and_enterprise\"\n"),
            "probes.readiness_mode",
        ),
        (
            format!("{BASE}[enterprise]\nmode = \"self_hosted\"\ntoken_file = \"cp-token\"\n"),
            "enterprise.control_plane_url",
        ),
        (
            format!(
                "{BASE}[enterprise]\nmode = \"self_hosted\"\ncontrol_plane_url = \"https://cp\"\ntoken_file = \"cp-token\"\n"
            ),
            "enterprise.control_plane_url",
        ),
        (
            format!(
                "{BASE}[enterprise]\nmode = \"managed_cloud\"\ncontrol_plane_url = \"http://cp:9\"\n"
            ),
            "enterprise.token_file",
        ),
        (
            format!("{BASE}[enterprise]\nrequire_writer_lease_header = true\n"),
            "enterprise.require_writer_lease_header",
        ),
        (
            base_with(
                "mode = \"token\"\ntoken_file = \"token\"",
                "mode = \"none\"",
            ) + "[enterprise]\nmode = \"self_hosted\"\ncontrol_plane_url = \"http://cp:9\"\ntoken_file = \"cp-token\"\n",
            "enterprise.mode",
        ),
        (
            format!("{BASE}[shutdown]\nshutdown_drain_seconds = 0\n"),
            "shutdown.shutdown_drain_seconds",
        ),
        (
            format!("{BASE}[web]\nverifier_page_file = \"no-such-page.html\"\n"),
            "web.verifier_page_file",
        ),
        (
            format!("{BASE}[web]\nverifier_page_file = \".\"\n"),
            "web.verifier_page_file",
        ),
        (
            format!(
                "{BASE}[web]\nverifier_page_file = \"token\"\n[limits]\nverifier_page_bytes_max = 1\n"
            ),
            "limits.verifier_page_bytes_max",
        ),
        (
            BASE.replace("[transport.tcp]\nhost = \"127.0.0.1\"\nport = 0\n", "")
                .replace(
                    "[transport.unix]\npath = \"arxi.sock\"\nmode = \"0660\"\n",
                    "[transport]\nworkers = 1\n",
                ),
            "transport",
        ),
        (format!("surprise = 1\n{BASE}"), "surprise"),
        (
            base_with("port = 0", "port = 0\nbacklog = 5"),
            "transport.tcp.backlog",
        ),
        (base_with("port = 0", "port = \"seven\""), "transport"),
        (base_with("config_version = 1\n", ""), "config_version"),
        ("config_version = \n".to_owned(), "(toml)"),
    ];
    for (text, expected) in &cases {
        match check(&files, text) {
            Ok(()) => {
                panic!("expected a problem at {expected}, the configuration was accepted:\n{text}")
            }
            Err(problems) => assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&format!("{expected}:"))),
                "expected a problem at {expected}, got {problems:?}\n{text}"
            ),
        }
    }
    println!("{} rejection cases each named their key", cases.len());
}

#[test]
fn every_problem_is_reported_at_once() {
    let files = Files::new();
    let text = format!(
        "{}[limits]\nmax_headers = 1\nquery_page_max = 0\n[shutdown]\nshutdown_drain_seconds = 0\n",
        base_with("id = \"rec-1\"", "id = \"BAD\"")
    );
    let problems = check(&files, &text).expect_err("invalid");
    let paths: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "recorder.id",
            "limits.max_headers",
            "limits.query_page_max",
            "shutdown.shutdown_drain_seconds"
        ]
    );
    let unknown =
        check(&files, &format!("x = 1\n{BASE}[api2]\ny = 2\n")).expect_err("unknown keys");
    assert_eq!(unknown.len(), 2, "{unknown:?}");
    let types = check(
        &files,
        &base_with("port = 0", "port = \"seven\"")
            .replace("major_version = 1", "major_version = \"one\""),
    )
    .expect_err("type errors");
    assert!(
        types.iter().any(|p| p.starts_with("api:"))
            && types.iter().any(|p| p.starts_with("transport:")),
        "{types:?}"
    );
}

#[test]
fn secrets_are_loaded_and_redacted() {
    let files = Files::new();
    let config = parse(BASE, files.path(), "test").expect("valid");
    let credentials = config.credentials();
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].secret.expose().len(), 32);
    assert_eq!(credentials[0].grant.name, "default");
    assert_eq!(
        credentials[0].grant.planes,
        arxi_sidecar_config::Plane::ALL.to_vec()
    );
    assert_eq!(format!("{:?}", credentials[0].secret), "Secret([redacted])");
    let json = config.redacted_json();
    assert_eq!(json["security"]["token_file"], "[redacted]");
    assert_eq!(json["signer"]["key_file"], "[redacted]");
    assert_eq!(json["recorder"]["id"], "rec-1");
    assert!(
        json["recorder"].get("subject_keys_file").is_none(),
        "not set, not shown"
    );
    let keyed = parse(
        &BASE.replace(
            "[recorder]\n",
            "[recorder]\nsubject_keys_file = \"keys/subject-keys.db\"\n",
        ),
        files.path(),
        "test",
    )
    .expect("valid");
    assert_eq!(
        keyed.subject_keys_path(),
        Some(files.path().join("keys/subject-keys.db"))
    );
    assert_eq!(
        keyed.redacted_json()["recorder"]["subject_keys_file"],
        "[redacted]"
    );
    assert!(
        !json.to_string().contains("0123456789abcdef"),
        "the token never appears"
    );
    assert_eq!(
        config.database_path(),
        files.path().join("data").join("arxi.db")
    );
}

/// A key in a token (`[signer]` `pkcs11_` keys): exactly one signer, the
/// module an absolute path to a file, the token named one way, the key
/// label and the PIN file required, labels bounded, the PIN file
/// hardened; the PIN file's path is redacted like the key file's.
#[test]
fn a_key_in_a_token_is_configured_exactly_and_redacted() {
    let files = Files::new();
    files.write("token.pin", "2718\n", 0o600);
    files.write("open.pin", "2718\n", 0o644);
    let module = files.path().join("module.so");
    files.write("module.so", "", 0o644);
    let token = |body: &str| base_with("key_file = \"signer.key\"\n", body);
    let good = format!(
        "pkcs11_module = \"{}\"\npkcs11_token_label = \"arxi\"\n\
         pkcs11_key_label = \"recorder\"\npkcs11_pin_file = \"token.pin\"\n",
        module.display()
    );
    let config = parse(&token(&good), files.path(), "test").expect("valid");
    assert_eq!(config.signer_key_path(), None);
    let signer = config.pkcs11_signer().expect("a token");
    assert_eq!(signer.pin_file, files.path().join("token.pin"));
    assert_eq!(signer.key_label, "recorder");
    assert_eq!(signer.token_label.as_deref(), Some("arxi"));
    let json = config.redacted_json();
    assert_eq!(json["signer"]["pkcs11_pin_file"], "[redacted]");
    assert_eq!(json["signer"]["pkcs11_key_label"], "recorder");
    let by_slot = good.replace("pkcs11_token_label = \"arxi\"", "pkcs11_slot = 7");
    let config = parse(&token(&by_slot), files.path(), "test").expect("a slot names the token");
    assert_eq!(config.pkcs11_signer().expect("a token").slot, Some(7));

    let module_path = module.display().to_string();
    let cases = [
        (
            good.replace("token.pin", "open.pin"),
            "signer.pkcs11_pin_file",
        ),
        (
            good.replace("token.pin", "missing.pin"),
            "signer.pkcs11_pin_file",
        ),
        (
            good.replace("pkcs11_pin_file = \"token.pin\"\n", ""),
            "signer.pkcs11_pin_file",
        ),
        (
            good.replace(&module_path, "module.so"),
            "signer.pkcs11_module",
        ),
        (
            good.replace(&module_path, "/nonexistent/module.so"),
            "signer.pkcs11_module",
        ),
        (
            good.replace(&format!("pkcs11_module = \"{module_path}\"\n"), ""),
            "signer.pkcs11_module",
        ),
        (
            good.replace(
                "pkcs11_token_label = \"arxi\"",
                "pkcs11_token_label = \"arxi\"\npkcs11_slot = 1",
            ),
            "signer.pkcs11_token_label",
        ),
        (
            good.replace("pkcs11_token_label = \"arxi\"\n", ""),
            "signer.pkcs11_token_label",
        ),
        (
            good.replace("\"arxi\"", &format!("\"{}\"", "t".repeat(33))),
            "signer.pkcs11_token_label",
        ),
        (
            good.replace("\"recorder\"", "\"\""),
            "signer.pkcs11_key_label",
        ),
        (
            good.replace("pkcs11_key_label = \"recorder\"\n", ""),
            "signer.pkcs11_key_label",
        ),
    ];
    for (body, key) in cases {
        let problems = check(&files, &token(&body)).expect_err(key);
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "{key}: {problems:?}"
        );
    }
    let both = base_with(
        "key_file = \"signer.key\"\n",
        &format!("key_file = \"signer.key\"\n{good}"),
    );
    let problems = check(&files, &both).expect_err("two signers");
    assert!(
        problems.iter().any(|p| p.starts_with("signer:")),
        "{problems:?}"
    );
    let neither = base_with("key_file = \"signer.key\"\n", "");
    let problems = check(&files, &neither).expect_err("no signer");
    assert!(
        problems.iter().any(|p| p.starts_with("signer:")),
        "{problems:?}"
    );
    let generated = token(&format!("generate_if_missing = true\n{good}"));
    let problems = check(&files, &generated).expect_err("nothing to generate");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("signer.generate_if_missing")),
        "{problems:?}"
    );
}

#[test]
fn known_keys_cover_every_section() {
    let keys = arxi_sidecar_config::known_keys();
    for key in [
        "config_version",
        "api.major_version",
        "recorder.auto_seal.age_seconds",
        "recorder.bundle_dir",
        "recorder.subject_keys_file",
        "transport.unix.mode",
        "security.token_file",
        "security.tokens[].name",
        "security.tokens[].file",
        "security.tokens[].planes",
        "security.tokens[].namespaces",
        "transport.plane_sockets[].plane",
        "transport.plane_sockets[].path",
        "transport.plane_sockets[].mode",
        "transport.probe_socket.path",
        "transport.probe_socket.mode",
        "limits.idempotency_max_entries",
        "probes.enterprise_health_path",
        "enterprise.require_writer_lease_header",
        "shutdown.shutdown_drain_seconds",
    ] {
        assert!(keys.contains(key), "{key}");
    }
}

const SCOPED: &str = r#"
[[security.tokens]]
name = "admin"
file = "control-token"
planes = ["control", "read"]
[[security.tokens]]
name = "writer"
file = "writer-token"
planes = ["data"]
namespaces = ["approvals.*", "orders.placed"]
[[transport.plane_sockets]]
plane = "control"
path = "control.sock"
mode = "0600"
[[transport.plane_sockets]]
plane = "read"
path = "eval.sock"
mode = "0666"
"#;

#[test]
fn scoped_tokens_and_plane_sockets() {
    use arxi_sidecar_config::Plane;
    let files = Files::new();
    files.write("control-token", "control-0123456789abcdef", 0o600);
    files.write("writer-token", "writer-0123456789abcdef", 0o600);
    files.write("writer-open", "writer-0123456789abcdef-open", 0o644);
    let config = parse(&format!("{BASE}{SCOPED}"), files.path(), "test").expect("valid");
    let names: Vec<_> = config
        .credentials()
        .iter()
        .map(|c| (c.grant.name.as_str(), c.grant.planes.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("default", Plane::ALL.to_vec()),
            ("admin", vec![Plane::Control, Plane::Read]),
            ("writer", vec![Plane::Data]),
        ]
    );
    let writer = &config.credentials()[2].grant;
    for (event_type, allowed) in [
        ("approvals.granted", true),
        ("approvals.x.y", true),
        ("approvals", false),
        ("approvals.", false),
        ("approvalsx.granted", false),
        ("orders.placed", true),
        ("orders.placed.late", false),
        ("orders.cancelled", false),
    ] {
        assert_eq!(writer.allows_type(event_type), allowed, "{event_type}");
    }
    assert!(config.credentials()[1].grant.allows_type("anything"));
    let sockets = config.plane_sockets();
    assert_eq!(sockets.len(), 2);
    assert_eq!(
        sockets[0],
        (Plane::Control, files.path().join("control.sock"), 0o600)
    );
    assert_eq!(sockets[1].2, 0o666);
    let json = config.redacted_json();
    assert_eq!(json["security"]["tokens"][1]["file"], "[redacted]");
    assert_eq!(
        json["security"]["tokens"][1]["namespaces"][0],
        "approvals.*"
    );

    // Tokens alone are enough; plane sockets alone are a transport.
    let alone = format!("{BASE}{SCOPED}")
        .replace("token_file = \"token\"\n", "")
        .replace("[transport.tcp]\nhost = \"127.0.0.1\"\nport = 0\n", "")
        .replace(
            "[transport.unix]\npath = \"arxi.sock\"\nmode = \"0660\"\n",
            "",
        );
    let alone = parse(&alone, files.path(), "test").expect("tokens and plane sockets only");
    assert_eq!(alone.credentials().len(), 2);
    assert!(alone.model().transport.tcp.is_none());

    let cases: Vec<(String, &str)> = vec![
        (
            SCOPED.replace("planes = [\"data\"]", "planes = []"),
            "security.tokens[1].planes",
        ),
        (
            SCOPED.replace("planes = [\"data\"]", "planes = [\"data\", \"data\"]"),
            "security.tokens[1].planes",
        ),
        (
            SCOPED.replace("planes = [\"data\"]", "planes = [\"read\"]"),
            "security.tokens[1].namespaces",
        ),
        (
            SCOPED.replace("\"approvals.*\"", "\"approvals*\""),
            "security.tokens[1].namespaces[0]",
        ),
        (
            SCOPED.replace("\"approvals.*\"", "\"*\""),
            "security.tokens[1].namespaces[0]",
        ),
        (
            SCOPED.replace("name = \"writer\"", "name = \"admin\""),
            "security.tokens[1].name",
        ),
        (
            SCOPED.replace("name = \"writer\"", "name = \"default\""),
            "security.tokens[1].name",
        ),
        (
            SCOPED.replace("name = \"writer\"", "name = \"Writer One\""),
            "security.tokens[1].name",
        ),
        (
            SCOPED.replace("\"writer-token\"", "\"writer-open\""),
            "security.tokens[1].file",
        ),
        (
            SCOPED.replace("\"writer-token\"", "\"control-token\""),
            "security.tokens[1].file",
        ),
        (
            SCOPED.replace("\"writer-token\"", "\"token\""),
            "security.tokens[1].file",
        ),
        (
            SCOPED.replace("\"writer-token\"", "\"missing\""),
            "security.tokens[1].file",
        ),
        (
            SCOPED.replace("plane = \"read\"", "plane = \"control\""),
            "transport.plane_sockets[1].plane",
        ),
        (
            SCOPED.replace("\"eval.sock\"", "\"arxi.sock\""),
            "transport.plane_sockets[1].path",
        ),
        (
            SCOPED.replace("\"eval.sock\"", "\"control.sock\""),
            "transport.plane_sockets[1].path",
        ),
        (
            SCOPED.replace("\"0666\"", "\"0966\""),
            "transport.plane_sockets[1].mode",
        ),
        (
            SCOPED.replace("\"read\"\npath", "\"admin\"\npath"),
            "transport",
        ),
    ];
    for (scoped, key) in cases {
        let errors = check(&files, &format!("{BASE}{scoped}")).expect_err(key);
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{key}:"))),
            "{key} not among {errors:?}"
        );
    }
    let none = check(
        &files,
        &format!("{BASE}{SCOPED}").replace(
            "mode = \"token\"\ntoken_file = \"token\"\n",
            "mode = \"none\"\n",
        ),
    )
    .expect_err("tokens without token mode");
    assert!(
        none.iter().any(|e| e.starts_with("security.tokens:")),
        "{none:?}"
    );
    let many: String = (0..65)
        .map(|i| {
            format!("[[security.tokens]]\nname = \"t{i}\"\nfile = \"t{i}\"\nplanes = [\"read\"]\n")
        })
        .collect();
    for i in 0..65 {
        files.write(
            &format!("t{i}"),
            &format!("token-number-{i:04}-abcdef"),
            0o600,
        );
    }
    let errors = check(&files, &format!("{BASE}{many}")).expect_err("65 tokens");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("security.tokens: 65 tokens")),
        "{errors:?}"
    );
}

/// A cosignature vkey (type 0x04) and a log-style vkey (type 0x01) made for
/// the tests.
fn witness_vkeys() -> (String, String) {
    use arxi_format::SecretKey;
    use arxi_format::note::{SignatureType, VerifierKey};
    let key = SecretKey::from_seed(&[5; 32])
        .expect("seed")
        .public()
        .clone();
    (
        VerifierKey::new("w1.example", SignatureType::Cosignature, key.clone())
            .expect("name")
            .to_string(),
        VerifierKey::new("w1.example", SignatureType::Ed25519, key)
            .expect("name")
            .to_string(),
    )
}

#[test]
fn witness_rules_name_their_keys() {
    let files = Files::new();
    let (cosigner, note_key) = witness_vkeys();
    let peer =
        |vkey: &str, url: &str| format!("[[witness.peers]]\nvkey = \"{vkey}\"\nurl = \"{url}\"\n");
    let good = format!("{BASE}{}", peer(&cosigner, "http://127.0.0.1:9100/"));
    let valid = parse(&good, files.path(), "test").expect("a witness is valid");
    let policy = valid.witness_policy();
    assert_eq!(policy.quorum, 1, "a majority of one");
    assert_eq!(policy.peers[0].url, "http://127.0.0.1:9100");
    assert_eq!(valid.log_origin(), "arxi/rec-1");

    let cases: Vec<(String, &str)> = vec![
        (
            format!("{BASE}[log]\norigin = \"has space\"\n"),
            "log.origin",
        ),
        (
            format!("{BASE}[log]\ncheckpoint_interval_ms = 10\n"),
            "log.checkpoint_interval_ms",
        ),
        (
            format!("{BASE}[log]\ncheckpoint_record_interval_seconds = 0\n"),
            "log.checkpoint_record_interval_seconds",
        ),
        (
            format!("{BASE}{}", peer(&note_key, "http://w")),
            "witness.peers[0].vkey",
        ),
        (
            format!("{BASE}{}", peer("w+1+AAAA", "http://w")),
            "witness.peers[0].vkey",
        ),
        (
            format!("{BASE}{}", peer(&cosigner, "ftp://w")),
            "witness.peers[0].url",
        ),
        (
            format!(
                "{BASE}{}{}",
                peer(&cosigner, "http://a"),
                peer(&cosigner, "http://b")
            ),
            "witness.peers[1].vkey",
        ),
        (
            format!(
                "{BASE}[witness]\nquorum = 2\n{}",
                peer(&cosigner, "http://a")
            ),
            "witness.quorum",
        ),
        (
            format!("{BASE}[witness]\nmax_lag_ms = 5000\n"),
            "witness.max_lag_ms",
        ),
        (
            format!(
                "{BASE}[witness]\nmax_lag_ms = 1500\n{}",
                peer(&cosigner, "http://a")
            ),
            "witness.max_lag_ms",
        ),
    ];
    for (text, key) in &cases {
        let errors = check(&files, text).expect_err(key);
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{key}:"))),
            "{key} not among {errors:?}"
        );
    }
}

const ARCHIVE: &str = r#"
[archive]
endpoint = "http://127.0.0.1:3900"
region = "garage"
bucket = "arxi"
key_prefix = "arxi/"
path_style = true
credentials = "file"
credentials_file = "s3.credentials"
[retention]
keep_segments_min = 2
keep_days_min = 0
"#;

/// `[archive]` and `[retention]`: a valid pair, and one rejection per rule.
#[test]
fn archive_and_retention_rules_name_their_keys() {
    let files = Files::new();
    files.write(
        "s3.credentials",
        "[default]\naws_access_key_id = GK0123\naws_secret_access_key = secret0123\n",
        0o600,
    );
    files.write(
        "open.credentials",
        "aws_access_key_id = GK0123\naws_secret_access_key = secret0123\n",
        0o644,
    );
    files.write("bad.credentials", "aws_access_key_id = GK0123\n", 0o600);
    let valid = format!("{BASE}{ARCHIVE}");
    let config = parse(&valid, files.path(), "test").expect("valid");
    let credentials = config.archive_credentials().expect("read");
    assert_eq!(credentials.access_key_id.expose(), "GK0123");
    assert_eq!(
        config.redacted_json()["archive"]["credentials_file"],
        "[redacted]"
    );
    let with = |from: &str, to: &str| valid.replacen(from, to, 1);
    let cases: Vec<(String, &str)> = vec![
        (with("http://127.0.0.1:3900", "ftp://x"), "archive.endpoint"),
        (with("bucket = \"arxi\"", "bucket = \"\""), "archive.bucket"),
        (
            with("key_prefix = \"arxi/\"", "key_prefix = \"/a b\""),
            "archive.key_prefix",
        ),
        (
            with("\"s3.credentials\"", "\"open.credentials\""),
            "archive.credentials_file",
        ),
        (
            with("\"s3.credentials\"", "\"bad.credentials\""),
            "archive.credentials_file",
        ),
        (
            with("\"s3.credentials\"", "\"missing\""),
            "archive.credentials_file",
        ),
        (
            with("credentials_file = \"s3.credentials\"\n", ""),
            "archive.credentials_file",
        ),
        (
            with(
                "path_style = true",
                "path_style = true\nobject_lock_mode = \"compliance\"",
            ),
            "archive.object_lock_retention_days",
        ),
        (
            with(
                "path_style = true",
                "path_style = true\nobject_lock_retention_days = 7",
            ),
            "archive.object_lock_mode",
        ),
        (
            with(
                "path_style = true",
                "path_style = true\nobject_lock_mode = \"governance\"\nobject_lock_retention_days = 0",
            ),
            "archive.object_lock_retention_days",
        ),
        (
            with(
                "path_style = true",
                "path_style = true\nsegments_per_bundle = 0",
            ),
            "archive.segments_per_bundle",
        ),
        (with("path_style = true\n", ""), "archive"),
        (
            with("keep_segments_min = 2", "keep_segments_min = 0"),
            "retention.keep_segments_min",
        ),
        (
            with(
                "keep_days_min = 0",
                "keep_days_min = 0\ncheck_interval_seconds = 0",
            ),
            "retention.check_interval_seconds",
        ),
        (
            format!("{BASE}[retention]\nkeep_segments_min = 1\nkeep_days_min = 1\n"),
            "retention",
        ),
        (
            format!("{BASE}[limits]\narchive_part_bytes = 1024\n"),
            "limits.archive_part_bytes",
        ),
    ];
    for (text, expected) in &cases {
        match check(&files, text) {
            Ok(()) => panic!("expected a problem at {expected}, accepted:\n{text}"),
            Err(problems) => assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&format!("{expected}:"))),
                "expected a problem at {expected}, got {problems:?}\n{text}"
            ),
        }
    }
}

/// `[[timestamp]]`: what each TSA stamps, and one rejection per rule.
#[test]
fn timestamp_rules_name_their_keys() {
    use arxi_sidecar_config::timestamp::StampSubject;
    let files = Files::new();
    let root = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Docs/conformance/keys/tsa/root.pem"),
    )
    .expect("the conformance suite's TSA root");
    files.write("tsa-ca.pem", &root, 0o644);
    let tsa = |name: &str, more: &str| {
        format!(
            "[[timestamp]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9300/\"\nca_cert = \"tsa-ca.pem\"\n{more}"
        )
    };
    let good = format!(
        "{BASE}{}{}",
        tsa("seals", ""),
        tsa(
            "checkpoints",
            "subject = \"checkpoints\"\ncheckpoint_interval_seconds = 30\n"
        )
    );
    let valid = parse(&good, files.path(), "test").expect("two TSAs are valid");
    let subjects: Vec<StampSubject> = valid
        .timestamp_authorities()
        .iter()
        .map(|tsa| tsa.subject)
        .collect();
    assert_eq!(
        subjects,
        [
            StampSubject::Seals,
            StampSubject::Checkpoints {
                interval: std::time::Duration::from_secs(30)
            }
        ]
    );

    let cases: Vec<(String, &str)> = vec![
        (format!("{BASE}{}", tsa("a b", "")), "timestamp[0].name"),
        (
            format!("{BASE}{}{}", tsa("a", ""), tsa("a", "")),
            "timestamp[1].name",
        ),
        (
            format!("{BASE}{}", tsa("a", "timeout_ms = 50\n")),
            "timestamp[0].timeout_ms",
        ),
        (
            format!("{BASE}{}", tsa("a", "subject = \"envelopes\"\n")),
            "timestamp[0].subject",
        ),
        (
            format!(
                "{BASE}{}",
                tsa(
                    "a",
                    "subject = \"checkpoints\"\ncheckpoint_interval_seconds = 5\n"
                )
            ),
            "timestamp[0].checkpoint_interval_seconds",
        ),
        (
            format!(
                "{BASE}{}",
                tsa("a", "").replace("tsa-ca.pem", "missing.pem")
            ),
            "timestamp[0].ca_cert",
        ),
    ];
    for (text, key) in &cases {
        let errors = check(&files, text).expect_err(key);
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{key}:"))),
            "{key} not among {errors:?}"
        );
    }
}
