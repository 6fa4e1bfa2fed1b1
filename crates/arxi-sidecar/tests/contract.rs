//! The error registry exported to Docs/generated/arxi/apis/sidecar.errors.json
//! equals the runtime registry (regenerate with scripts/ci/generate_all.sh).

#[test]
fn exported_error_registry_matches_runtime() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../Docs/generated/arxi/apis/sidecar.errors.json"
    );
    let text = std::fs::read_to_string(path).expect("Docs/generated/arxi/apis/sidecar.errors.json");
    let exported: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let runtime = arxi_sidecar::problem::registry_json();
    assert_eq!(
        exported, runtime,
        "the exported error registry differs from the code; run scripts/ci/generate_all.sh"
    );
    let codes = runtime["codes"].as_array().expect("codes");
    assert_eq!(codes.len(), arxi_sidecar::problem::Code::ALL.len());
}
