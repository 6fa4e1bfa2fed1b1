//! The operator's view of the real binary: a scraper's metrics-plane token
//! reaches `/metrics` and nothing that reads evidence; the exposition
//! carries `arxi_build_info` (naming the commit `--version` names), the
//! `process_*` metrics, readiness, the database size and the recorder's
//! timing histograms; and every metric the shipped alert rules and
//! dashboard (`Docs/ops/`) use is one the sidecar exports, so the
//! documents cannot drift from the code.

use std::collections::BTreeSet;
use std::path::Path;

use arxi_system_tests::{Sidecar, binary, http, test_config, write_secret};

const SCRAPER: &str = "Bearer metrics-token-0123456789";

/// Metric names (`arxi_*`, `process_*`) mentioned in a document.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices(['a', 'p']) {
        let rest = &text[start..];
        if !(rest.starts_with("arxi_") || rest.starts_with("process_")) {
            continue;
        }
        if start > 0 && text[..start].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

#[test]
fn a_scraper_sees_metrics_the_documents_use_and_no_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(dir.path(), "admin.token", "admin-token-0123456789ab");
    write_secret(dir.path(), "scraper.token", "metrics-token-0123456789");
    let extra = "[security]\nmode = \"token\"\ntoken_file = \"admin.token\"\n\
                 [[security.tokens]]\nname = \"scraper\"\nfile = \"scraper.token\"\nplanes = [\"metrics\"]\n";
    let sidecar = Sidecar::start(&test_config(dir.path(), extra, "auto"), None);
    let admin = [("Authorization", "Bearer admin-token-0123456789ab")];
    let recorded = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &admin,
        Some(br#"{"type":"a.b","payload":{}}"#),
    )
    .expect("record");
    assert_eq!(recorded.status, 201);
    let scraper = [("Authorization", SCRAPER)];
    for evidence in ["/v1/segments", "/v1/keys", "/v1/envelopes?seq=1"] {
        let refused = http(&sidecar.tcp, "GET", evidence, &scraper, None).expect("request");
        assert_eq!(refused.status, 403, "{evidence}");
    }
    let scraped = http(&sidecar.tcp, "GET", "/metrics", &scraper, None).expect("scrape");
    assert_eq!(scraped.status, 200);
    let exposition = String::from_utf8(scraped.body).expect("text");
    let version = std::process::Command::new(binary("arxi-sidecar"))
        .arg("--version")
        .output()
        .expect("--version");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let build = exposition
        .lines()
        .find(|line| line.starts_with("arxi_build_info{"))
        .unwrap_or_else(|| panic!("no arxi_build_info in\n{exposition}"));
    let commit = build
        .split("commit=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a commit label");
    assert!(version.contains(commit), "{build} / {version}");
    for line in [
        "arxi_ready 1",
        "arxi_recorder_commit_duration_seconds_count ",
        "arxi_recorder_commit_sync_duration_seconds_bucket{le=\"+Inf\"} ",
        "arxi_recorder_envelopes_per_commit_sum ",
        "arxi_recorder_checkpoint_duration_seconds_count ",
        "arxi_storage_database_bytes ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_cpu_seconds_total ",
    ] {
        assert!(
            exposition.contains(line),
            "{line:?} missing from\n{exposition}"
        );
    }
    let exported: BTreeSet<String> = names_in(&exposition);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for document in [
        "Docs/ops/prometheus/arxi-alerts.yml",
        "Docs/ops/grafana/arxi-dashboard.json",
    ] {
        let text = std::fs::read_to_string(root.join(document)).expect("document");
        let used = names_in(&text);
        assert!(!used.is_empty(), "{document} names no metric");
        let missing: Vec<&String> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{document} uses metrics the sidecar does not export: {missing:?}"
        );
    }
    assert_eq!(sidecar.terminate().code(), Some(0));
}
