//! SoftHSM2 tokens for the suites that sign through PKCS#11.
//!
//! [`SoftHsm::make`] makes a token in a directory (`softhsm2-util`) with an
//! Ed25519 key pair labelled [`KEY_LABEL`] (`pkcs11-tool`). With
//! `ARXI_TEST_SIGNER=pkcs11` in the environment, every sidecar the suites
//! start signs through one such token made once per test process
//! ([`shared`]): [`crate::test_config`] writes the `pkcs11_` signer keys
//! instead of a key file, and the sidecar gets `SOFTHSM2_CONF` (`scripts/test.sh` runs
//! the main suites once more that way).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Debian's SoftHSM2 module (package `softhsm2`, installed by
/// `scripts/install-test-deps.sh`).
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of the tokens made here.
pub const PIN: &str = "2718";
/// The label of the key pair made in each token.
pub const KEY_LABEL: &str = "recorder";

/// A SoftHSM2 token: its configuration file (for `SOFTHSM2_CONF`), the
/// directory of its files, its PIN file and the public key of its pair.
#[derive(Debug)]
pub struct SoftHsm {
    /// SoftHSM2's configuration file.
    pub conf: PathBuf,
    /// The token's own directory (moving it away unplugs the token).
    pub files: PathBuf,
    /// A file holding [`PIN`], mode 0600.
    pub pin_file: PathBuf,
    /// The Ed25519 public key, 64 hex digits.
    pub public_hex: String,
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{command:?}: {e} (scripts/install-test-deps.sh installs softhsm2 and opensc)")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?}:\n{text}");
    text
}

impl SoftHsm {
    /// Makes a token labelled `arxi` in `dir` with a new Ed25519 pair.
    pub fn make(dir: &Path) -> Self {
        assert!(
            Path::new(MODULE).is_file(),
            "{MODULE} is missing: install softhsm2 (scripts/install-test-deps.sh does)"
        );
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).expect("token directory");
        let conf = dir.join("softhsm2.conf");
        let settings = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        );
        std::fs::write(&conf, settings).expect("softhsm2.conf");
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
            .args(["--label", KEY_LABEL]));
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
        let pin_file = dir.join("token.pin");
        arxi_testkit::write_secret(&pin_file, &format!("{PIN}\n"));
        Self {
            conf,
            files,
            pin_file,
            public_hex,
        }
    }

    /// The `[signer]` table naming this token's pair labelled `key_label`.
    pub fn signer_section(&self, key_label: &str) -> String {
        format!(
            "[signer]\npkcs11_module = \"{MODULE}\"\npkcs11_token_label = \"arxi\"\n\
             pkcs11_key_label = \"{key_label}\"\npkcs11_pin_file = \"{}\"\n",
            self.pin_file.display()
        )
    }
}

/// With `ARXI_TEST_SIGNER=pkcs11`: the token every sidecar of this test
/// process signs with (made on first use, in the temporary directory);
/// otherwise none.
pub fn shared() -> Option<&'static SoftHsm> {
    static SHARED: OnceLock<Option<SoftHsm>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let mode = std::env::var("ARXI_TEST_SIGNER");
            match mode.as_deref() {
                Err(std::env::VarError::NotPresent) | Ok("" | "file") => None,
                Ok("pkcs11") => {
                    remove_stale_tokens();
                    let dir =
                        std::env::temp_dir().join(format!("arxi-softhsm-{}", std::process::id()));
                    let _fresh = std::fs::remove_dir_all(&dir);
                    Some(SoftHsm::make(&dir))
                }
                other => panic!("ARXI_TEST_SIGNER={other:?}: use file or pkcs11"),
            }
        })
        .as_ref()
}

/// Removes the shared tokens of test processes that have ended (a static
/// is never dropped, so each process leaves its token behind).
fn remove_stale_tokens() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix("arxi-softhsm-"));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _gone_already = std::fs::remove_dir_all(entry.path());
        }
    }
}
