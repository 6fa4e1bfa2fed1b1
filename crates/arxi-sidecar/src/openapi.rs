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
        let operation = operation(route, &mut generator);
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
            "responses": error_responses(),
            "headers": response_headers(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

/// One route's operation object.
fn operation(route: &crate::call::Route, generator: &mut schemars::SchemaGenerator) -> Value {
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
    operation["parameters"] = Value::Array(parameters(route));
    if let Some(request) = route.request {
        operation["requestBody"] = json!({
            "required": route.body == Body::Json,
            "content": {"application/json": {"schema": request(generator)}},
        });
    }
    let media = route.produces.split(';').next().unwrap_or_default().trim();
    let success = match (route.response, media) {
        (Some(response), _) => {
            json!({"application/json": {"schema": response(generator)}})
        }
        (None, "application/octet-stream") => {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}}})
        }
        (None, _) => json!({ route.produces: {"schema": {"type": "string"}} }),
    };
    let mut responses = Map::new();
    responses.insert(
        route.success.to_string(),
        json!({"description": "Success.", "headers": success_headers(route), "content": success}),
    );
    for status in error_statuses(route) {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/Problem{status}")}),
        );
    }
    responses.insert(
        "default".into(),
        json!({"$ref": "#/components/responses/ProblemDefault"}),
    );
    operation["responses"] = Value::Object(responses);
    operation
}

fn header_parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": description, "schema": schema})
}

/// The request headers and query parameters of a route.
fn parameters(route: &crate::call::Route) -> Vec<Value> {
    // Plain strings: the server sanitizes correlation ids and reads the
    // enterprise headers only in enterprise mode, so no value is refused
    // everywhere (a pattern would promise a refusal; schemathesis checks
    // that promise).
    let id = json!({"type": "string"});
    let mut parameters = vec![
        header_parameter(
            "x-correlation-id",
            "The client's correlation id, echoed in the answer and in problem bodies (sanitized; at most 128 characters).",
            id.clone(),
        ),
        header_parameter(
            "x-request-id",
            "Legacy name of x-correlation-id (used when x-correlation-id is absent; echoed under this name).",
            id.clone(),
        ),
    ];
    if route.kind != Kind::Probe {
        for (name, description) in [
            (
                "x-tenant-id",
                "Enterprise mode (self_hosted, managed_cloud): the tenant, 1-256 visible ASCII characters. Required there (401 identity_required; 400 when malformed), ignored otherwise.",
            ),
            (
                "x-principal-id",
                "Enterprise mode: who calls. Required there.",
            ),
            (
                "x-authn-method",
                "Enterprise mode: how the principal authenticated. Required there.",
            ),
            (
                "x-namespace-id",
                "Enterprise mode: the namespace, optional.",
            ),
        ] {
            parameters.push(header_parameter(name, description, id.clone()));
        }
    }
    if route.kind == Kind::Mutation {
        parameters.push(header_parameter(
            "Idempotency-Key",
            "Replays the stored answer of an earlier request with the same key and body (1-255 visible ASCII). Retry a mutation with the same key after a 429, 503 or a lost answer.",
            json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}),
        ));
        parameters.push(header_parameter(
            crate::enterprise::WRITER_LEASE_HEADER,
            "managed_cloud with require_writer_lease_header: the writer lease this mutation is made under (428 writer_lease_required without it). A lease is the control plane's grant that this sidecar is the one writer of its recorder; the sidecar forwards it to the control plane and does not interpret it.",
            id,
        ));
    }
    parameters.extend(query_parameters(route));
    parameters
}

/// The query-string parameters of a route: the names the pipeline lets
/// through ([`crate::routes::query_names`]), each described once.
fn query_parameters(route: &crate::call::Route) -> Vec<Value> {
    crate::routes::query_names(route)
        .iter()
        .map(|name| match *name {
            "id" => json!({
                "name": "id", "in": "query", "required": true,
                "description": "Bundle id (32 lowercase hex digits).",
                "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            }),
            "after" => json!({
                "name": "after", "in": "query", "required": false,
                "description": "Segments with ids after this one (the previous page's next_after); default 0.",
                "schema": {"type": "integer", "minimum": 0, "maximum": contract::SAFE_INTEGER_MAX},
            }),
            "limit" => json!({
                "name": "limit", "in": "query", "required": false,
                "description": "Page size: 1 to limits.query_page_max (1000 by default); default 100.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
            }),
            "seq" => json!({
                "name": "seq", "in": "query", "required": true,
                "description": "The envelope's sequence number (a positive decimal integer, no leading zeros).",
                "schema": {"type": "integer", "minimum": 1, "maximum": contract::SAFE_INTEGER_MAX},
            }),
            other => unreachable!("query parameter {other:?} has no description"),
        })
        .collect()
}

/// Headers a route's success answer carries.
fn success_headers(route: &crate::call::Route) -> Value {
    let mut headers = json!({
        "x-arxi-correlation-id": {"$ref": "#/components/headers/CorrelationId"},
        "x-correlation-id": {"$ref": "#/components/headers/ClientCorrelationId"},
    });
    if route.kind == Kind::Mutation {
        headers["idempotent-replayed"] = json!({"$ref": "#/components/headers/IdempotentReplayed"});
    }
    if route.operation_id == "downloadBundle" {
        headers["x-arxi-bundle-id"] = json!({"description": "The bundle id.", "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}});
        headers["content-disposition"] = json!({"description": "attachment; filename=\"<recorder>-<id>.arxb\"", "schema": {"type": "string"}});
    }
    headers
}

/// The error statuses a route can answer with (anything else: `default`).
fn error_statuses(route: &crate::call::Route) -> Vec<u16> {
    if route.kind == Kind::Probe {
        return if route.operation_id == "getReady" {
            vec![503]
        } else {
            vec![]
        };
    }
    let mut statuses = vec![400, 401, 403, 406, 429, 431, 500, 502, 503];
    if route.body != Body::None {
        statuses.extend([411, 413, 415, 422]);
    }
    if route.kind == Kind::Mutation {
        statuses.extend([409, 428]);
    }
    if matches!(
        route.operation_id,
        "downloadBundle" | "verifyBundle" | "inspectBundle"
    ) {
        statuses.push(404);
    }
    match route.operation_id {
        "getEnvelopeProof" => statuses.extend([404, 409, 410, 422]),
        "getEnvelope" => statuses.extend([404, 410, 422]),
        "revokeKey" => statuses.push(404),
        _ => {}
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// `components/headers`.
fn response_headers() -> Value {
    json!({
        "CorrelationId": {"description": "The server's correlation id of this request (also in problem bodies and server logs).", "schema": {"type": "string"}},
        "ClientCorrelationId": {"description": "The client's x-correlation-id, echoed (x-request-id when the request used that name).", "schema": {"type": "string"}},
        "IdempotentReplayed": {"description": "`true` when this answer is the stored answer of an earlier request with the same Idempotency-Key (nothing new was recorded).", "schema": {"type": "string", "enum": ["true"]}},
        "RetryAfter": {"description": "Whole seconds to wait before retrying (RFC 9110); the body's retry_after_ms is the finer hint.", "schema": {"type": "integer", "minimum": 1}},
        "WwwAuthenticate": {"description": "The bearer challenge (RFC 6750).", "schema": {"type": "string"}},
        "Allow": {"description": "The methods the route serves.", "schema": {"type": "string"}},
    })
}

/// `components/responses`: one problem response per status.
fn error_responses() -> Value {
    let mut responses = Map::new();
    let mut statuses: Vec<u16> = Code::ALL.iter().map(|code| code.info().status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let codes: Vec<&str> = Code::ALL
            .iter()
            .map(|code| code.info())
            .filter(|info| info.status == status)
            .map(|info| info.code)
            .collect();
        let mut headers =
            json!({"x-arxi-correlation-id": {"$ref": "#/components/headers/CorrelationId"}});
        match status {
            401 => {
                headers["www-authenticate"] =
                    json!({"$ref": "#/components/headers/WwwAuthenticate"});
            }
            405 => headers["allow"] = json!({"$ref": "#/components/headers/Allow"}),
            429 | 503 => {
                headers["retry-after"] = json!({"$ref": "#/components/headers/RetryAfter"});
            }
            _ => {}
        }
        responses.insert(
            format!("Problem{status}"),
            json!({
                "description": format!("An RFC 9457 problem; code is one of: {}.", codes.join(", ")),
                "headers": headers,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }),
        );
    }
    responses.insert(
        "ProblemDefault".into(),
        json!({
            "description": "An RFC 9457 problem; `code` names it (see sidecar.errors.json).",
            "headers": {"x-arxi-correlation-id": {"$ref": "#/components/headers/CorrelationId"}},
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }),
    );
    Value::Object(responses)
}

/// The problem body of every error.
fn problem_schema() -> Value {
    let codes: Vec<&str> = Code::ALL.iter().map(|code| code.info().code).collect();
    let text = |description: &str| json!({"type": "string", "description": description});
    let count =
        |description: &str| json!({"type": "integer", "minimum": 0, "description": description});
    json!({
        "type": "object",
        "description": "RFC 9457 problem details with arxi's extensions. Which extension members appear depends on `code` (Docs/api.md, \"Errors\").",
        "required": ["type", "title", "status", "code", "retryable", "correlation_id"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "code": {"type": "string", "enum": codes},
            "retryable": {"type": "boolean"},
            "retry_after_seconds": count("With 429 and 503: whole seconds to wait (as Retry-After)."),
            "retry_after_ms": count("With 429 and 503: milliseconds to wait, computed from the queue that refused the request where there is one; wait this long (plus jitter) before retrying with the same Idempotency-Key."),
            "correlation_id": {"type": "string"},
            "client_correlation_id": {"type": "string"},
            "field": text("validation_failed, payload_too_large: the member at fault, as a path (`type`, `attachments[2].media_type`, `limit`); bad_request: the query parameter unknown or given twice; invalid_cursor: `cursor`."),
            "reason": text("not_ready: storage_unavailable, request_capacity_exhausted, enterprise_control_unavailable or shutting_down; enterprise_control_unavailable: control_plane_down, control_plane_timeout, control_plane_refused or control_plane_invalid_answer; enterprise_denied: the control plane's reason."),
            "offset": count("malformed_json, noncharacter_in_string: byte offset in the body."),
            "segment_id": count("segment_already_open, segment_not_sealed: the segment."),
            "header": text("duplicate_header and framing refusals: the header field at fault (lowercase)."),
            "plane": text("wrong_plane: the plane of the route."),
            "phase": text("enterprise_hook_failed: the hook not accepted, `admission` (the operation did not run) or `result` (the operation was done)."),
            "event_type": text("namespace_forbidden: the event type refused."),
            "missing": {"type": "array", "items": {"type": "string"}, "description": "identity_required: the identity headers missing."},
            "coding": text("unsupported_transfer_coding: the transfer coding refused."),
            "reasons": {"type": "array", "items": {"type": "string"}, "description": "config_reload_refused: every problem, by key."},
            "recorded_seq": count("config_reload_refused: the sequence number of the arxi.config.reload_refused envelope."),
            "key_id": text("key_in_use: the key named, which the recorder signs with; key_not_found: the key named, which it never signed with."),
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
        recorder_id: "orders-eu-1".into(),
        seq: 58,
        segment_id: 3,
        hash: "9f2c".repeat(16),
        prev_hash: "41ab".repeat(16),
        received_at: "2026-11-23T09:14:07.123456Z".into(),
        key_id: "ed25519:7cc94dfce6410dece2fda6e5a37d8363".into(),
        v: 2,
        payload_commitment: Some("c0a1".repeat(16)),
        payload_salt: Some("5a17".repeat(16)),
        committed_labels: Some(vec!["subject".into()]),
        signature: "5d0e".repeat(32),
    };
    let mut examples = json!({
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
        "erasePayloads": {
            "request": {"subject": "person/7", "reason": "erasure request 2026-117 (GDPR Art. 17)"},
            "response": to_value(&contract::ErasureDone {
                recorded: contract::Recorded { seq: 95, segment_id: 3, hash: "e4a5".repeat(16) },
                erased: vec![58, 61, 77],
                skipped: vec![],
                more: false,
            }),
        },
        "reloadConfig": {"request": {}},
        "getReady": {"response": ready_example()},
    });
    examples["revokeKey"] = revoke_key_example();
    examples
}

/// The example of `POST /v1/keys/revoke`.
fn revoke_key_example() -> Value {
    json!({
        "request": {"key_id": "ed25519:7cc94dfce6410dece2fda6e5a37d8363", "from_seq": 1804, "reason": "signing key file found on a decommissioned host (incident 2026-31)"},
        "response": to_value(&contract::KeyRevoked {
            recorded: contract::Recorded { seq: 2210, segment_id: 41, hash: "7e70".repeat(16) },
            key_id: "ed25519:7cc94dfce6410dece2fda6e5a37d8363".into(),
            from_seq: 1804,
        }),
    })
}

/// The example answer of `GET /ready`: an archive and a TSA configured.
fn ready_example() -> Value {
    to_value(&contract::Ready {
        ready: true,
        archive: Some(contract::ArchiveReadiness {
            state: "ok",
            lag_segments: 0,
            failures_in_a_row: 0,
            last_success_unix_seconds: Some(1_795_380_078),
            last_error: None,
        }),
        timestamps: vec![contract::TimestampReadiness {
            name: "tsa-1".into(),
            state: "ok",
            pending_seals: 0,
            failures_in_a_row: 0,
            last_success_unix_seconds: Some(1_795_380_079),
            last_error: None,
        }],
    })
}
