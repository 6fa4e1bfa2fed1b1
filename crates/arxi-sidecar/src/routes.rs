//! The route table: every route as data (method, path, operation id, kind,
//! privilege plane, body, media type, handler). The pipeline, the metrics
//! and the generated API description all read this one table. The types a
//! row is made of, and the contract between the pipeline and a handler,
//! are in `call.rs`, so handlers never import the table that names them.

use http::Method;

use crate::call::{Body, Kind, Limit, Plane, Route, SchemaFn, Timeout};
#[allow(clippy::wildcard_imports)]
use crate::contract::*;
use crate::handlers;

macro_rules! schema {
    (none) => {
        None
    };
    ($type:ty) => {
        Some(
            (|generator: &mut schemars::SchemaGenerator| generator.subschema_for::<$type>())
                as SchemaFn,
        )
    };
}

macro_rules! route {
    ($method:ident $path:literal, $operation:literal, $summary:literal, $kind:ident, $plane:expr, $body:ident, $limit:ident, $timeout:ident, $produces:literal, $success:literal, $request:tt => $response:tt, $handler:path) => {
        Route {
            method: Method::$method,
            path: $path,
            operation_id: $operation,
            summary: $summary,
            kind: Kind::$kind,
            plane: $plane,
            body: Body::$body,
            limit: Limit::$limit,
            timeout: Timeout::$timeout,
            produces: $produces,
            success: $success,
            request: schema!($request),
            response: schema!($response),
            handler: |call| Box::pin($handler(call)),
        }
    };
}

/// Every route.
pub static ROUTES: &[Route] = &[
    route!(GET "/health", "getHealth", "Liveness and process metadata", Probe, None, None, Standard, Standard, "application/json", 200, none => Health, handlers::probes::health),
    route!(GET "/startup", "getStartup", "Start-up completion, driver and verification depth", Probe, None, None, Standard, Standard, "application/json", 200, none => Startup, handlers::probes::startup),
    route!(GET "/ready", "getReady", "Readiness: storage (and the control plane, when configured)", Probe, None, None, Standard, Standard, "application/json", 200, none => Ready, handlers::probes::ready),
    route!(POST "/v1/segments", "openSegment", "Open a new segment", Mutation, Some(Plane::Control), OptionalJson, Standard, Standard, "application/json", 201, Empty => SegmentOpened, handlers::segments::open),
    route!(POST "/v1/segments/seal", "sealSegment", "Seal the open segment", Mutation, Some(Plane::Control), OptionalJson, Standard, Standard, "application/json", 200, Empty => Sealed, handlers::segments::seal),
    route!(GET "/v1/segments", "listSegments", "List segments", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => SegmentList, handlers::segments::list),
    route!(GET "/v1/segments/active", "getActiveSegment", "The open segment, if any", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => ActiveSegment, handlers::segments::active),
    route!(POST "/v1/envelopes", "recordEnvelope", "Record an event", Mutation, Some(Plane::Data), Json, Standard, Standard, "application/json", 201, RecordRequest => Receipt, handlers::envelopes::record),
    route!(GET "/v1/envelopes", "getEnvelope", "One envelope by its sequence number (?seq=N), the stored canonical JSON verbatim", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => StoredEnvelope, handlers::envelopes::get),
    route!(POST "/v1/envelopes/with-attachments", "recordEnvelopeWithAttachments", "Record an event with attachments (JSON, base64 content)", Mutation, Some(Plane::Data), Json, Attachments, Standard, "application/json", 201, RecordWithAttachmentsRequest => Receipt, handlers::envelopes::record_with_attachments),
    route!(POST "/v1/envelopes/batch", "recordEnvelopeBatch", "Record events together: consecutive sequence numbers, one transaction", Mutation, Some(Plane::Data), Json, Batch, Standard, "application/json", 201, BatchRequest => BatchReceipts, handlers::envelopes::record_batch),
    route!(GET "/v1/envelopes/proof", "getEnvelopeProof", "An envelope, its inclusion proof and the witnessed checkpoint it ends at (?seq=)", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => EnvelopeProof, handlers::log::proof),
    route!(GET "/v1/log", "getLog", "The log tree: origin, verifier key, checkpoint sizes, witnesses", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => LogInfo, handlers::log::info),
    route!(GET "/v1/log/checkpoint", "getLogCheckpoint", "The newest witnessed checkpoint (C2SP signed note)", Read, Some(Plane::Read), None, Standard, Standard, "text/plain; charset=utf-8", 200, none => none, handlers::log::checkpoint),
    route!(POST "/v1/query/envelopes", "queryEnvelopes", "Query envelopes with filters and a cursor", Read, Some(Plane::Read), OptionalJson, Standard, Standard, "application/json", 200, QueryRequest => QueryPage, handlers::query::envelopes),
    route!(POST "/v1/bundles/build", "buildBundle", "Build an audit bundle from sealed segments", Mutation, Some(Plane::Control), OptionalJson, Standard, Bundle, "application/json", 201, BuildRequest => BundleBuilt, handlers::bundles::build),
    route!(GET "/v1/bundles/download", "downloadBundle", "Download a built bundle (?id=)", Read, Some(Plane::Read), None, Standard, Bundle, "application/octet-stream", 200, none => none, handlers::bundles::download),
    route!(POST "/v1/bundles/verify", "verifyBundle", "Verify an audit bundle", Read, Some(Plane::Read), Json, BundleUpload, Bundle, "application/json", 200, BundleRequest => VerifyReport, handlers::bundles::verify),
    route!(POST "/v1/bundles/inspect", "inspectBundle", "Summarize an audit bundle", Read, Some(Plane::Read), Json, BundleUpload, Bundle, "application/json", 200, InspectRequest => InspectSummary, handlers::bundles::inspect),
    route!(POST "/v1/erasures", "erasePayloads", "Erase the committed payloads of a subject's or of given envelopes (recorded)", Mutation, Some(Plane::Control), Json, Standard, Standard, "application/json", 201, ErasureRequest => ErasureDone, handlers::erasures::erase),
    route!(GET "/v1/config", "getConfig", "The effective configuration, secrets redacted", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => EffectiveConfig, handlers::admin::config),
    route!(POST "/v1/config/reload", "reloadConfig", "Reload the configuration file (recorded)", Mutation, Some(Plane::Control), OptionalJson, Standard, Standard, "application/json", 200, Empty => Reloaded, handlers::admin::reload),
    route!(POST "/v1/keys/revoke", "revokeKey", "Revoke a key this recorder signed with from a sequence number on (recorded; not the current signing key)", Mutation, Some(Plane::Control), Json, Standard, Standard, "application/json", 201, KeyRevocationRequest => KeyRevoked, handlers::keys::revoke),
    route!(GET "/v1/keys", "listKeys", "Public keys this recorder signs with", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => KeyList, handlers::admin::keys),
    route!(GET "/v1/openapi.json", "getOpenApi", "This API's OpenAPI 3.1 document (as Docs/generated/arxi/apis/sidecar.openapi.json)", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => OpenApiDocument, handlers::web::openapi),
    route!(GET "/verify", "getVerifierPage", "The browser verifier: one HTML page that verifies bundles on the auditor's machine (web.verifier_page_file)", Read, Some(Plane::Read), None, Standard, Standard, "text/html; charset=utf-8", 200, none => none, handlers::web::verifier_page),
    route!(GET "/metrics", "getMetrics", "Prometheus metrics (the metrics plane; read tokens reach it too)", Read, Some(Plane::Metrics), None, Standard, Standard, "text/plain; version=0.0.4", 200, none => none, handlers::admin::metrics),
];

/// The outcome of matching a request line.
#[derive(Debug)]
pub enum Match {
    /// The route.
    Found(&'static Route),
    /// The path exists for these other methods.
    MethodNotAllowed(Vec<&'static str>),
    /// No route has this path.
    NotFound,
}

/// Finds the route for a method and path.
pub fn find(method: &Method, path: &str) -> Match {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if route.path == path {
            if route.method == *method {
                return Match::Found(route);
            }
            allowed.push(route.method.as_str());
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

/// The query parameters a route reads; a request naming any other (or one
/// of these twice) is refused before its handler runs. The API
/// description documents these names.
pub fn query_names(route: &Route) -> &'static [&'static str] {
    match route.operation_id {
        "downloadBundle" => &["id"],
        "listSegments" => &["after", "limit"],
        "getEnvelope" | "getEnvelopeProof" => &["seq"],
        _ => &[],
    }
}

/// The position of a route in [`ROUTES`] (for metrics).
pub fn index_of(route: &Route) -> usize {
    ROUTES
        .iter()
        .position(|candidate| std::ptr::eq(candidate, route))
        .unwrap_or(ROUTES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique_and_consistent() {
        let mut seen = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(
                seen.insert((route.method.clone(), route.path)),
                "{} {}",
                route.method,
                route.path
            );
            assert_eq!(
                route.kind == Kind::Probe,
                route.plane.is_none(),
                "{}",
                route.path
            );
            if route.kind == Kind::Mutation {
                assert_eq!(route.method, Method::POST, "{}", route.path);
            }
        }
        assert!(
            matches!(find(&Method::PUT, "/v1/envelopes"), Match::MethodNotAllowed(m) if m == ["POST", "GET"])
        );
        assert!(matches!(find(&Method::GET, "/nope"), Match::NotFound));
        assert!(
            matches!(find(&Method::GET, "/health"), Match::Found(r) if r.operation_id == "getHealth")
        );
    }
}
