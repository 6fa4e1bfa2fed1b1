//! The deterministic generator of the conformance suite in
//! `Docs/conformance/`: the golden bundle, every tampered and crafted
//! bundle, series of bundles, the ed25519-speccheck bundles, inclusion
//! proofs, the test keys, and `expected.json` (per case: the command, the
//! files, the trusted keys, the verdict, the exit code and the exact code
//! set). Fixed keys, fixed clock, fixed content, built with `arxi-format`
//! alone. Shared by the `conformance` test (which fails on any difference
//! from the committed files and runs every case), the verifier's unit
//! tests and the `regenerate_conformance` example
//! (`scripts/regenerate-golden.sh`).
//!
//! The expected codes are written by hand, from the rules of
//! `Docs/format.md`; the tests check the verifier against them.

pub(crate) mod anchor;
pub(crate) mod bundle;
pub(crate) mod cases;
pub(crate) mod crafted;
pub(crate) mod delegations;
pub(crate) mod disclosures;
pub(crate) mod history;
pub(crate) mod proofs;
pub(crate) mod revocations;
pub(crate) mod speccheck;
pub(crate) mod timestamps;

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The codes that mean the input could not be checked (exit 2).
const COULD_NOT_CHECK: &[&str] = &["not_a_bundle", "unsupported_version", "manifest_missing"];

/// The path of test key `key` (`a`, `b`, ...), with the window it may
/// carry (`a@..17` is `keys/a.pub@..17`, Docs/format.md §11.8).
pub(crate) fn key_path(key: &str) -> String {
    match key.split_once('@') {
        Some((name, window)) => format!("keys/{name}.pub@{window}"),
        None => format!("keys/{key}.pub"),
    }
}

/// One case of the suite.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) description: String,
    /// `bundle verify` or `proof verify`.
    pub(crate) command: &'static str,
    /// Paths under `Docs/conformance/`, in command-line order.
    pub(crate) files: Vec<String>,
    /// Paths of the trusted public keys.
    pub(crate) keys: Vec<String>,
    /// Every code reported, bundles and series together.
    pub(crate) codes: Vec<&'static str>,
    /// The codes about consecutive bundles (a subset of `codes`).
    pub(crate) series_codes: Vec<&'static str>,
    pub(crate) exit: u8,
    /// Paths of the trusted witnesses' verifier keys (`--witness`).
    pub(crate) witnesses: Vec<String>,
    /// The witness policy's quorum (`--quorum`), with `witnesses`.
    pub(crate) quorum: Option<usize>,
    /// Paths of the trusted TSA certificates (`--tsa-cert`).
    pub(crate) tsa_certs: Vec<String>,
    /// `--require-timestamp`.
    pub(crate) require_timestamp: bool,
    /// `--timestamp-tolerance` (none: the default, 300 seconds).
    pub(crate) timestamp_tolerance: Option<u64>,
}

impl Case {
    fn to_json(&self) -> Value {
        let verdict = match self.exit {
            0 => "valid",
            1 => "invalid",
            _ => "could_not_check",
        };
        let mut codes = self.codes.clone();
        codes.sort_unstable();
        codes.dedup();
        let mut value = json!({
            "name": self.name,
            "description": self.description,
            "command": self.command,
            "files": self.files,
            "keys": self.keys,
            "verdict": verdict,
            "exit": self.exit,
            "codes": codes,
        });
        if let Some(quorum) = self.quorum {
            value["witnesses"] = json!(self.witnesses);
            value["quorum"] = json!(quorum);
        }
        if !self.tsa_certs.is_empty() {
            value["tsa_certs"] = json!(self.tsa_certs);
        }
        if self.require_timestamp {
            value["require_timestamp"] = json!(true);
        }
        if let Some(tolerance) = self.timestamp_tolerance {
            value["timestamp_tolerance"] = json!(tolerance);
        }
        if self.files.len() > 1 {
            let mut series = self.series_codes.clone();
            series.sort_unstable();
            value["series_codes"] = json!(series);
        }
        value
    }
}

/// The files and cases being assembled.
#[derive(Debug, Default)]
pub(crate) struct Suite {
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) cases: Vec<Case>,
}

impl Suite {
    pub(crate) fn file(&mut self, path: String, bytes: Vec<u8>) {
        let previous = self.files.insert(path.clone(), bytes);
        assert!(previous.is_none(), "{path} written twice");
    }

    /// A bundle file under `bundles/{dir}/` verified alone under keys A and
    /// B.
    pub(crate) fn bundle(
        &mut self,
        dir: &str,
        name: &str,
        description: &str,
        bytes: Vec<u8>,
        codes: &[&'static str],
    ) {
        let path = if dir.is_empty() {
            format!("bundles/{name}.arxb")
        } else {
            format!("bundles/{dir}/{name}.arxb")
        };
        self.file(path.clone(), bytes);
        self.verify(name, description, &[path.as_str()], &["a", "b"], codes);
    }

    /// A case verifying files already written.
    pub(crate) fn verify(
        &mut self,
        name: &str,
        description: &str,
        files: &[&str],
        keys: &[&str],
        codes: &[&'static str],
    ) {
        let exit = if codes.is_empty() {
            0
        } else if codes.iter().any(|code| COULD_NOT_CHECK.contains(code)) {
            2
        } else {
            1
        };
        self.cases.push(Case {
            name: name.to_owned(),
            description: description.to_owned(),
            command: "bundle verify",
            files: files.iter().map(|file| (*file).to_owned()).collect(),
            keys: keys.iter().map(|key| key_path(key)).collect(),
            codes: codes.to_vec(),
            series_codes: Vec::new(),
            exit,
            witnesses: Vec::new(),
            quorum: None,
            tsa_certs: Vec::new(),
            require_timestamp: false,
            timestamp_tolerance: None,
        });
    }

    /// A case verifying a file already written under keys A and B and the
    /// policy of witnesses `witnesses` (test witnesses by name) with
    /// `quorum`.
    pub(crate) fn verify_witnessed(
        &mut self,
        name: &str,
        description: &str,
        file: &str,
        witnesses: &[&str],
        quorum: usize,
        codes: &[&'static str],
    ) {
        self.verify(name, description, &[file], &["a", "b"], codes);
        let case = self.cases.last_mut().expect("just added");
        case.witnesses = witnesses
            .iter()
            .map(|name| format!("keys/witness-{name}.vkey"))
            .collect();
        case.quorum = Some(quorum);
    }

    /// A series of files already written, verified together under keys A
    /// and B.
    pub(crate) fn series(
        &mut self,
        name: &str,
        description: &str,
        files: &[&str],
        codes: &[&'static str],
        series_codes: &[&'static str],
    ) {
        let mut all = codes.to_vec();
        all.extend_from_slice(series_codes);
        self.verify(name, description, files, &["a", "b"], &all);
        let case = self.cases.last_mut().expect("just added");
        case.series_codes = series_codes.to_vec();
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("serializes");
    text.push(b'\n');
    text
}

/// Every generated file under `Docs/conformance/` (everything but the
/// hand-written README): (relative path, bytes), and the cases.
pub(crate) fn generate() -> (Vec<(String, Vec<u8>)>, Vec<Case>) {
    let mut suite = Suite::default();
    history::keys(&mut suite);
    cases::tampered(&mut suite);
    crafted::records(&mut suite);
    crafted::semantics(&mut suite);
    crafted::ranges_and_series(&mut suite);
    crafted::speccheck(&mut suite);
    disclosures::disclosures(&mut suite);
    anchor::anchors(&mut suite);
    proofs::proofs(&mut suite);
    revocations::revocations(&mut suite);
    delegations::delegations(&mut suite);
    timestamps::timestamps(&mut suite);
    let cases: Vec<Value> = suite.cases.iter().map(Case::to_json).collect();
    let expected = json!({
        "format": "arxi.conformance",
        "version": 1,
        "note": "Generated by scripts/regenerate-golden.sh; see README.md. Paths are relative to this file. TEST KEYS: never trust them for real evidence.",
        "cases": cases,
    });
    suite.file("expected.json".into(), pretty(&expected));
    (suite.files.into_iter().collect(), suite.cases)
}
