//! Privilege planes against the real binary: an auth matrix over every
//! route of the route table x {no token, a bad token, each plane's token,
//! the all-planes token}; namespaces on the data plane; plane sockets that
//! serve one plane each (and the probes), created with their own modes; the
//! probe socket, which serves the probes only.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use arxi_sidecar::call::{Body, Kind};
use arxi_sidecar::routes::ROUTES;
use arxi_system_tests::{Response, Sidecar, http, test_config, write_secret};

const TOKENS: [(&str, &str, &str); 5] = [
    ("default", "default-token-0123456789", ""),
    ("admin", "control-token-0123456789", "control"),
    ("writer", "data-token-0123456789abc", "data"),
    ("auditor", "read-token-0123456789abc", "read"),
    ("scraper", "metrics-token-0123456789", "metrics"),
];

/// Whether a token of `token_plane` ("" for the all-planes token) reaches
/// a route of `route_plane`: its own plane; the read plane also reaches
/// the metrics plane.
fn reaches(token_plane: &str, route_plane: &str) -> bool {
    token_plane.is_empty()
        || token_plane == route_plane
        || (token_plane == "read" && route_plane == "metrics")
}

fn start(dir: &Path) -> Sidecar {
    let mut extra = String::from("[security]\nmode = \"token\"\ntoken_file = \"default.token\"\n");
    for (name, token, plane) in TOKENS {
        write_secret(dir, &format!("{name}.token"), token);
        if plane.is_empty() {
            continue;
        }
        extra.push_str(&format!(
            "[[security.tokens]]\nname = \"{name}\"\nfile = \"{name}.token\"\nplanes = [\"{plane}\"]\n"
        ));
        if plane == "data" {
            extra.push_str("namespaces = [\"approvals.*\", \"orders.placed\"]\n");
        }
    }
    for (plane, file, mode) in [
        ("control", "control.sock", "0600"),
        ("data", "data.sock", "0660"),
        ("read", "eval.sock", "0666"),
        ("metrics", "metrics.sock", "0666"),
    ] {
        extra.push_str(&format!(
            "[[transport.plane_sockets]]\nplane = \"{plane}\"\npath = \"sock/{file}\"\nmode = \"{mode}\"\n"
        ));
    }
    extra.push_str("[transport.probe_socket]\npath = \"sock/probe.sock\"\nmode = \"0666\"\n");
    Sidecar::start(&test_config(dir, &extra, "auto"), None)
}

fn send(address: &str, route: &arxi_sidecar::call::Route, token: Option<&str>) -> Response {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|value| vec![("Authorization", value)])
        .unwrap_or_default();
    let body: Option<&[u8]> = match route.body {
        Body::Json => Some(b"{}"),
        Body::OptionalJson | Body::None => None,
    };
    http(address, route.method.as_str(), route.path, &headers, body)
        .unwrap_or_else(|e| panic!("{} {}: {e}", route.method, route.path))
}

fn code(response: &Response) -> String {
    response.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_route_against_every_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = start(dir.path());
    let mut checked = 0;
    for route in ROUTES {
        let name = format!("{} {}", route.method, route.path);
        if route.kind == Kind::Probe {
            for (_, token, _) in TOKENS
                .iter()
                .map(|(n, t, p)| (n, Some(*t), p))
                .chain([(&"none", None, &"")])
            {
                let response = send(&sidecar.tcp, route, token);
                assert_eq!(response.status, 200, "{name} is a probe: no auth");
            }
            continue;
        }
        let plane = route.plane.expect("non-probe routes have a plane");
        let missing = send(&sidecar.tcp, route, None);
        assert_eq!(missing.status, 401, "{name} without a token");
        assert_eq!(code(&missing), "unauthorized", "{name}");
        assert_eq!(
            missing.header("www-authenticate"),
            Some("Bearer realm=\"arxi\""),
            "{name}"
        );
        let bad = send(&sidecar.tcp, route, Some("not-a-token-0123456789"));
        assert_eq!(bad.status, 401, "{name} with a bad token");
        assert!(
            bad.header("www-authenticate")
                .is_some_and(|h| h.contains("invalid_token")),
            "{name}"
        );
        for (token_name, token, token_plane) in TOKENS {
            let response = send(&sidecar.tcp, route, Some(token));
            if reaches(token_plane, plane.name()) {
                assert!(
                    ![401, 403].contains(&response.status),
                    "{name} with the {token_name} token: {} {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                );
            } else {
                assert_eq!(
                    (response.status, code(&response)),
                    (403, "wrong_plane".to_owned()),
                    "{name} with the {token_name} token"
                );
                assert_eq!(response.json()["plane"], plane.name(), "{name}");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 5 * 14,
        "every non-probe route checked ({checked})"
    );
}

#[test]
fn namespaces_limit_what_a_writer_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = start(dir.path());
    let writer = [("Authorization", "Bearer data-token-0123456789abc")];
    let record = |event_type: &str| {
        let body = format!(r#"{{"type":"{event_type}","payload":{{"n":1}}}}"#);
        http(
            &sidecar.tcp,
            "POST",
            "/v1/envelopes",
            &writer,
            Some(body.as_bytes()),
        )
        .expect("record")
    };
    assert_eq!(record("approvals.granted").status, 201);
    assert_eq!(record("orders.placed").status, 201);
    for outside in ["orders.cancelled", "approvals", "approvalsx.granted"] {
        let refused = record(outside);
        assert_eq!(
            (refused.status, code(&refused)),
            (403, "namespace_forbidden".to_owned()),
            "{outside}"
        );
        assert_eq!(refused.json()["event_type"], outside);
        assert_eq!(
            refused.json()["type"],
            "https://arxi.invalid/problems/namespace_forbidden",
            "the RFC 9457 type is not overwritten by the event type"
        );
    }
    // The all-planes token has no namespaces.
    let any = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &[("Authorization", "Bearer default-token-0123456789")],
        Some(br#"{"type":"orders.cancelled","payload":{}}"#),
    )
    .expect("record");
    assert_eq!(any.status, 201);
}

#[test]
fn plane_sockets_serve_their_plane_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = start(dir.path());
    let socket = |name: &str| dir.path().join("sock").join(name);
    for (name, mode) in [
        ("control.sock", 0o600),
        ("data.sock", 0o660),
        ("eval.sock", 0o666),
    ] {
        let meta = std::fs::metadata(socket(name)).expect("socket exists");
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    let all = [("Authorization", "Bearer default-token-0123456789")];
    let data = socket("data.sock");
    let data = data.to_str().expect("utf8");
    let written = http(
        data,
        "POST",
        "/v1/envelopes",
        &all,
        Some(br#"{"type":"a.b","payload":{}}"#),
    )
    .expect("record");
    assert_eq!(written.status, 201, "the data socket serves the data plane");
    let seal = http(data, "POST", "/v1/segments/seal", &all, None).expect("seal");
    assert_eq!((seal.status, code(&seal)), (403, "wrong_plane".to_owned()));
    assert!(
        seal.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("this socket serves the data plane")),
        "{:?}",
        seal.json()
    );
    assert_eq!(
        http(data, "GET", "/ready", &[], None)
            .expect("probe")
            .status,
        200
    );
    let eval = socket("eval.sock");
    let eval = eval.to_str().expect("utf8");
    assert_eq!(
        http(eval, "GET", "/v1/segments", &all, None)
            .expect("list")
            .status,
        200
    );
    let write = http(
        eval,
        "POST",
        "/v1/envelopes",
        &all,
        Some(br#"{"type":"a.b","payload":{}}"#),
    )
    .expect("write");
    assert_eq!(write.status, 403);
    let control = socket("control.sock");
    let control = control.to_str().expect("utf8");
    assert_eq!(
        http(control, "POST", "/v1/segments/seal", &all, None)
            .expect("seal")
            .status,
        200
    );
    // The metrics socket serves the metrics, to a scraper's token, and no
    // evidence; the read socket serves the metrics too.
    let metrics = socket("metrics.sock");
    let metrics = metrics.to_str().expect("utf8");
    let scraper = [("Authorization", "Bearer metrics-token-0123456789")];
    assert_eq!(
        http(metrics, "GET", "/metrics", &scraper, None)
            .expect("scrape")
            .status,
        200
    );
    let refused = http(metrics, "GET", "/v1/segments", &all, None).expect("list");
    assert_eq!(
        (refused.status, code(&refused)),
        (403, "wrong_plane".to_owned())
    );
    assert_eq!(
        http(eval, "GET", "/metrics", &all, None)
            .expect("scrape")
            .status,
        200
    );
    // The general listeners still serve every plane to the all-planes token.
    assert_eq!(
        http(&sidecar.tcp, "GET", "/v1/segments", &all, None)
            .expect("list")
            .status,
        200
    );
    // The probe socket answers the probes and nothing else.
    let probe = socket("probe.sock");
    let probe = probe.to_str().expect("utf8");
    for path in ["/health", "/startup", "/ready"] {
        assert_eq!(
            http(probe, "GET", path, &[], None).expect("probe").status,
            200,
            "{path}"
        );
    }
    let refused = http(probe, "GET", "/v1/segments", &all, None).expect("not a probe");
    assert_eq!(
        (refused.status, code(&refused)),
        (404, "not_found".to_owned())
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
    for name in ["control.sock", "data.sock", "eval.sock", "probe.sock"] {
        assert!(!socket(name).exists(), "{name} removed at shutdown");
    }
}
