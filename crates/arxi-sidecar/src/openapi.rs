//! The API contract documents, generated from the code: the OpenAPI 3.1
//! description (from the route table and the body types of
//! `contract.rs`), the enums, and request/response examples built from the
//! same types. `arxi-sidecar contract NAME` prints them;
//! `scripts/ci/generate_all.sh` writes them to `Docs/generated/arxi/apis/`
//! and, with `check`, fails on any difference; a test compares them with
//! the released baseline and allows additive changes only.

use arxi_sidecar_config::Plane;
use arxi_sidecar_config::model::{EnterpriseMode, IoDriver, ReadinessMode, SecurityMode};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::call::{Body, Kind};
use crate::contract::{self, to_value};
use crate::problem::Code;
use crate::routes::ROUTES;

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas/".into())
        .into_generator();
    let mut paths = Map::new();
    for route in ROUTES {
        let mut operation = json!({
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": [route.plane.map_or("probes", Plane::name)],
            "x-arxi-plane": route.plane.map(Plane::name),
            "x-arxi-kind": match route.kind {
                Kind::Probe => "probe",
                Kind::Read => "read",
                Kind::Mutation => "mutation",
            },
        });
        operation["security"] = if route.kind == Kind::Probe {
            json!([])
        } else {
            // Bearer auth with `security.mode = "token"`, none otherwise.
            json!([{"bearer": []}, {}])
        };
        let mut parameters = Vec::new();
        if route.kind == Kind::Mutation {
            parameters.push(json!({
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "Replays the stored answer of an earlier request with the same key and body (1-255 visible ASCII).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            }));
        }
        parameters.extend(query_parameters(route.operation_id));
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(request) = route.request {
            operation["requestBody"] = json!({
                "required": route.body == Body::Json,
                "content": {"application/json": {"schema": request(&mut generator)}},
            });
        }
        let media = route.produces.split(';').next().unwrap_or_default().trim();
        let success = match (route.response, media) {
            (Some(response), _) => {
                json!({"application/json": {"schema": response(&mut generator)}})
            }
            (None, "application/octet-stream") => {
                json!({"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}})
            }
            (None, _) => json!({ route.produces: {"schema": {"type": "string"}} }),
        };
        operation["responses"] = json!({
            route.success.to_string(): {"description": "Success.", "content": success},
            "default": {
                "description": "An RFC 9457 problem; `code` names it (see sidecar.errors.json).",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            },
        });
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert("Problem".into(), problem_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "arxi sidecar",
            "version": "1",
            "description": "The evidence recorder's HTTP API (version 1). Generated from the route table and the body types; see Docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

/// The query parameters of an operation.
fn query_parameters(operation_id: &str) -> Vec<Value> {
    match operation_id {
        "downloadBundle" => vec![json!({
            "name": "id",
            "in": "query",
            "required": true,
            "description": "Bundle id (32 lowercase hex digits).",
            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        })],
        "getEnvelope" => vec![json!({
            "name": "seq",
            "in": "query",
            "required": true,
            "description": "The envelope's sequence number.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 9_007_199_254_740_991_u64},
        })],
        _ => Vec::new(),
    }
}

/// The problem body of every error.
fn problem_schema() -> Value {
    let codes: Vec<&str> = Code::ALL.iter().map(|code| code.info().code).collect();
    json!({
        "type": "object",
        "description": "RFC 9457 problem details with arxi's extensions.",
        "required": ["type", "title", "status", "code", "retryable", "correlation_id"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "code": {"type": "string", "enum": codes},
            "retryable": {"type": "boolean"},
            "retry_after_seconds": {"type": "integer", "minimum": 0},
            "correlation_id": {"type": "string"},
            "client_correlation_id": {"type": "string"},
        },
    })
}

/// Every enumeration the API exposes, from the code's own types.
pub fn enums() -> Value {
    let names = |values: Vec<Value>| Value::Array(values);
    json!({
        "planes": Plane::ALL.iter().map(|plane| plane.name()).collect::<Vec<_>>(),
        "problem_codes": Code::ALL.iter().map(|code| code.info().code).collect::<Vec<_>>(),
        "route_kinds": ["probe", "read", "mutation"],
        "envelope_kinds": ["data", "control"],
        "control_types": arxi_recorder::control_types::ALL,
        "security_modes": names([SecurityMode::None, SecurityMode::Token].iter().map(to_value).collect()),
        "io_drivers": names([IoDriver::Auto, IoDriver::IoUring, IoDriver::Epoll].iter().map(to_value).collect()),
        "readiness_modes": names([ReadinessMode::Storage, ReadinessMode::StorageAndEnterprise].iter().map(to_value).collect()),
        "enterprise_modes": names([EnterpriseMode::Disabled, EnterpriseMode::SelfHosted, EnterpriseMode::ManagedCloud].iter().map(to_value).collect()),
        "enterprise_hook_phases": ["admission", "result"],
        "enterprise_decisions": ["allow", "deny", "error"],
    })
}

/// Example bodies by operation id, built from the body types.
pub fn examples() -> Value {
    let segment = contract::Segment {
        segment_id: 3,
        first_seq: 41,
        last_seq: 57,
        envelope_count: 17,
        bytes: 18_432,
        opened_at: "2026-11-23T09:00:00.000000Z".into(),
        sealed_at: None,
    };
    let receipt = contract::Receipt {
        seq: 58,
        segment_id: 3,
        hash: "9f2c".repeat(16),
        prev_hash: "41ab".repeat(16),
        received_at: "2026-11-23T09:14:07.123456Z".into(),
        key_id: "ed25519:7cc94dfce6410dece2fda6e5a37d8363".into(),
    };
    json!({
        "recordEnvelope": {
            "request": {"type": "orders.placed", "actor": "svc-orders", "subject": "order/7f3a", "payload": {"order": "7f3a", "amount": 1250.75}},
            "response": to_value(&receipt),
        },
        "recordEnvelopeWithAttachments": {
            "request": {"type": "docs.signed", "payload": {"doc": "contract"}, "attachments": [{"name": "contract.txt", "media_type": "text/plain", "content_base64": "c2lnbmVkIGNvbnRyYWN0"}]},
            "response": to_value(&receipt),
        },
        "openSegment": {"request": {}, "response": to_value(&contract::SegmentOpened { segment })},
        "sealSegment": {
            "request": {},
            "response": to_value(&contract::Sealed { seal: contract::SealInfo {
                segment_id: 3, first_seq: 41, last_seq: 58, count: 18,
                merkle_root: "c0de".repeat(16), seal_hash: "5ea1".repeat(16),
                sealed_at: "2026-11-23T10:00:00.000000Z".into(),
            }}),
        },
        "queryEnvelopes": {"request": {"type": "orders.placed", "limit": 10}},
        "buildBundle": {"request": {"first_segment": 1, "last_segment": 3}},
        "verifyBundle": {"request": {"bundle_id": "0123456789abcdef0123456789abcdef"}},
        "inspectBundle": {"request": {"bundle_id": "0123456789abcdef0123456789abcdef"}},
        "reloadConfig": {"request": {}},
        "getReady": {"response": to_value(&contract::Ready { ready: true })},
    })
}
