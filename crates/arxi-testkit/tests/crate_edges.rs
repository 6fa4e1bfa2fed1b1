//! The crate graph as the architecture draws it, checked over
//! `cargo metadata`: which workspace crate may depend on which (normal
//! dependencies; tests and benches may reach further), and where the
//! heavy or risky third-party crates may enter: SQLite only through
//! `arxi-store`, monoio and hyper only through `arxi-sidecar` (and the
//! test-only crates that drive it), the S3 client only through
//! `arxi-archive`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Every workspace crate and the workspace crates it may depend on.
const ALLOWED_EDGES: &[(&str, &[&str])] = &[
    ("arxi-format", &[]),
    ("arxi-verify", &["arxi-format"]),
    // The browser verifier: the verifier compiled to WebAssembly, so it
    // may reach exactly what the verifier reaches.
    ("arxi-verify-web", &["arxi-format", "arxi-verify"]),
    ("arxi-store", &[]),
    ("arxi-recorder", &["arxi-format", "arxi-store"]),
    ("arxi-sidecar-config", &["arxi-format"]),
    // The archive client and the `arxi-archive` CLI: the format and the
    // verifier, never the store or the recorder, so an auditor's binary
    // holds no SQLite.
    ("arxi-archive", &["arxi-format", "arxi-verify"]),
    (
        "arxi-sidecar",
        &[
            "arxi-format",
            "arxi-recorder",
            "arxi-verify",
            "arxi-sidecar-config",
            "arxi-witness",
            "arxi-archive",
        ],
    ),
    (
        "arxi-fuzz-targets",
        &[
            "arxi-format",
            "arxi-verify",
            "arxi-sidecar",
            "arxi-sidecar-config",
        ],
    ),
    ("arxi-witness", &["arxi-format"]),
    ("arxi-testkit", &["arxi-format"]),
    // The archive suites list and read the bucket with the archive's client.
    (
        "arxi-system-tests",
        &["arxi-format", "arxi-testkit", "arxi-archive"],
    ),
];

/// Third-party crates that only these workspace crates may depend on
/// directly (normal dependencies).
const CONFINED: &[(&str, &[&str])] = &[
    ("rusqlite", &["arxi-store"]),
    ("libsqlite3-sys", &[]),
    ("monoio", &["arxi-sidecar"]),
    ("monoio-compat", &["arxi-sidecar"]),
    // The fuzz targets serve generated requests with hyper's own server to
    // check the framing gate against it (test-only, never shipped).
    ("hyper", &["arxi-sidecar", "arxi-fuzz-targets"]),
    // The S3 client's signing, only in the archive crate; the blocking HTTP
    // client that runs on the archiver's and the witness workers' own
    // threads, only in the archive and witness crates.
    ("rusty-s3", &["arxi-archive"]),
    ("ureq", &["arxi-archive", "arxi-witness"]),
];

/// The normal (non-dev, non-build) direct dependencies of every workspace
/// crate, by name.
fn normal_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|package| Some((package["id"].as_str()?, package["name"].as_str()?)))
        .collect();
    let mut graph = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().expect("resolve") {
        let id = node["id"].as_str().expect("id");
        if !members.contains(id) {
            continue;
        }
        let normal: BTreeSet<String> = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind["kind"].is_null()))
            })
            .filter_map(|dep| {
                name_of
                    .get(dep["pkg"].as_str()?)
                    .map(|name| (*name).to_owned())
            })
            .collect();
        graph.insert(name_of[id].to_owned(), normal);
    }
    graph
}

#[test]
fn workspace_crates_depend_only_along_the_allowed_edges() {
    let graph = normal_dependencies();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_EDGES.iter().copied().collect();
    for (name, dependencies) in &graph {
        let Some(allowed) = allowed.get(name.as_str()) else {
            panic!("workspace crate {name} has no row in ALLOWED_EDGES");
        };
        for dependency in dependencies.iter().filter(|d| graph.contains_key(*d)) {
            assert!(
                allowed.contains(&dependency.as_str()),
                "{name} depends on {dependency}, which ALLOWED_EDGES does not allow"
            );
        }
    }
    for (name, _) in ALLOWED_EDGES {
        assert!(
            graph.contains_key(*name),
            "ALLOWED_EDGES names {name}, which is gone"
        );
    }
}

#[test]
fn confined_third_party_crates_enter_only_where_allowed() {
    let graph = normal_dependencies();
    for (confined, owners) in CONFINED {
        for (name, dependencies) in &graph {
            if dependencies.contains(*confined) {
                assert!(
                    owners.contains(&name.as_str()),
                    "{name} depends on {confined}; only {owners:?} may"
                );
            }
        }
    }
    // The owners really do depend on them (the table is not stale).
    for (confined, owners) in CONFINED {
        for owner in *owners {
            assert!(
                graph[*owner].contains(*confined),
                "CONFINED says {owner} uses {confined}, but it does not"
            );
        }
    }
}
