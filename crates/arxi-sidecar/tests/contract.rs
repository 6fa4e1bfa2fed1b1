//! The contract documents: the error registry exported to
//! Docs/generated/arxi/apis/sidecar.errors.json equals the runtime registry
//! (regenerate with scripts/ci/generate_all.sh, whose `check` compares all
//! four documents), and the compat gate against the released baseline.

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

/// The compat gate: against the released baseline
/// (`Docs/generated/arxi/apis/baseline/`), only additions are allowed. A
/// removed route or operation, a success status changed, a removed body
/// member or a member no longer allowed in a request, a removed enum value
/// or error code (or a code whose status changed) fails.
#[test]
fn changes_against_the_released_baseline_are_additive() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../Docs/generated/arxi/apis"
    );
    let load = |path: String| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let current = arxi_sidecar::openapi::document();
    let baseline = load(format!("{dir}/baseline/sidecar.openapi.json"));
    let problems = compat::openapi(&baseline, &current);
    let errors = compat::errors(
        &load(format!("{dir}/baseline/sidecar.errors.json")),
        &arxi_sidecar::problem::registry_json(),
    );
    let enums = compat::enums(
        &load(format!("{dir}/baseline/sidecar.enums.json")),
        &arxi_sidecar::openapi::enums(),
    );
    let all: Vec<String> = problems.into_iter().chain(errors).chain(enums).collect();
    assert!(
        all.is_empty(),
        "breaking changes against the baseline:\n{}",
        all.join("\n")
    );
}

#[test]
fn the_compat_gate_catches_each_kind_of_removal() {
    let current = arxi_sidecar::openapi::document();
    // A route removed.
    let mut fewer = current.clone();
    fewer["paths"]
        .as_object_mut()
        .expect("paths")
        .remove("/v1/keys");
    assert!(!compat::openapi(&current, &fewer).is_empty());
    // A response member removed.
    let mut narrower = current.clone();
    narrower["components"]["schemas"]["Receipt"]["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("hash");
    assert!(!compat::openapi(&current, &narrower).is_empty());
    // A request member no longer accepted.
    let mut stricter = current.clone();
    stricter["components"]["schemas"]["QueryRequest"]["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("cursor");
    assert!(!compat::openapi(&current, &stricter).is_empty());
    // An error code and an enum value removed.
    let registry = arxi_sidecar::problem::registry_json();
    let mut fewer_codes = registry.clone();
    fewer_codes["codes"].as_array_mut().expect("codes").pop();
    assert!(!compat::errors(&registry, &fewer_codes).is_empty());
    let enums = arxi_sidecar::openapi::enums();
    let mut fewer_values = enums.clone();
    fewer_values["planes"].as_array_mut().expect("planes").pop();
    assert!(!compat::enums(&enums, &fewer_values).is_empty());
    // Additions pass.
    let mut more = current.clone();
    more["paths"]["/v1/new"] =
        serde_json::json!({"get": {"operationId": "newThing", "responses": {}}});
    more["components"]["schemas"]["Receipt"]["properties"]["extra"] =
        serde_json::json!({"type": "string"});
    assert!(compat::openapi(&current, &more).is_empty());
}

mod compat {
    use serde_json::Value;

    fn keys(value: &Value) -> Vec<String> {
        value
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Routes, operation ids, success statuses, and every schema's
    /// properties (responses keep members; requests keep accepting them).
    pub(super) fn openapi(baseline: &Value, current: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        for path in keys(&baseline["paths"]) {
            for method in keys(&baseline["paths"][&path]) {
                let old = &baseline["paths"][&path][&method];
                let new = &current["paths"][&path][&method];
                if new.is_null() {
                    problems.push(format!("{method} {path} removed"));
                    continue;
                }
                if old["operationId"] != new["operationId"] {
                    problems.push(format!("{method} {path}: operationId changed"));
                }
                for status in keys(&old["responses"]) {
                    if new["responses"][&status].is_null() {
                        problems.push(format!("{method} {path}: response {status} removed"));
                    }
                }
                if new["requestBody"]["required"] == Value::Bool(true)
                    && old["requestBody"]["required"] != Value::Bool(true)
                {
                    problems.push(format!("{method} {path}: request body became required"));
                }
            }
        }
        for schema in keys(&baseline["components"]["schemas"]) {
            let old = &baseline["components"]["schemas"][&schema];
            let new = &current["components"]["schemas"][&schema];
            if new.is_null() {
                problems.push(format!("schema {schema} removed"));
                continue;
            }
            for property in keys(&old["properties"]) {
                if new["properties"][&property].is_null() {
                    problems.push(format!("schema {schema}: member {property} removed"));
                }
            }
            let required = |v: &Value| -> Vec<String> {
                v["required"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let old_required = required(old);
            for member in required(new) {
                if !old_required.contains(&member) && !old["properties"][&member].is_null() {
                    problems.push(format!("schema {schema}: member {member} became required"));
                }
            }
        }
        problems
    }

    /// Every code stays, with its status.
    pub(super) fn errors(baseline: &Value, current: &Value) -> Vec<String> {
        let index = |v: &Value| -> Vec<(String, Value)> {
            v["codes"]
                .as_array()
                .map(|codes| {
                    codes
                        .iter()
                        .map(|c| {
                            (
                                c["code"].as_str().unwrap_or_default().to_owned(),
                                c["status"].clone(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let now = index(current);
        index(baseline)
            .into_iter()
            .filter_map(
                |(code, status)| match now.iter().find(|(c, _)| *c == code) {
                    None => Some(format!("error code {code} removed")),
                    Some((_, s)) if *s != status => {
                        Some(format!("error code {code}: status changed"))
                    }
                    Some(_) => None,
                },
            )
            .collect()
    }

    /// Every enum value stays.
    pub(super) fn enums(baseline: &Value, current: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        for name in keys(baseline) {
            for value in baseline[&name].as_array().cloned().unwrap_or_default() {
                let present = current[&name]
                    .as_array()
                    .is_some_and(|values| values.contains(&value));
                if !present {
                    problems.push(format!("enum {name}: value {value} removed"));
                }
            }
        }
        problems
    }
}
