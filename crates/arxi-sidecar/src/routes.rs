//! The route table: every route as data (method, path, operation id, kind,
//! privilege plane, body, media type, handler). The pipeline, the metrics
//! and the generated API description all read this one table.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};

use arxi_sidecar_config::{Grant, ValidConfig};

use crate::body::ResponseBody;
#[allow(clippy::wildcard_imports)]
use crate::contract::*;
use crate::handlers;
use crate::problem::Problem;
use crate::state::AppState;

pub use arxi_sidecar_config::Plane;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// Every route (`transport.tcp`, `transport.unix`).
    All,
    /// One plane's routes and the probes (`transport.plane_sockets`).
    Plane(Plane),
    /// The probes only, on a thread of their own
    /// (`transport.probe_socket`).
    Probes,
}

/// How the pipeline treats a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Health probes: no auth, no enterprise policy, no bounds.
    Probe,
    /// Reads.
    Read,
    /// Mutations: idempotent with `Idempotency-Key`.
    Mutation,
}

/// What a route accepts as a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// A JSON body is required.
    Json,
    /// A JSON body is optional (an empty body means `{}`).
    OptionalJson,
}

/// Which body limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `limits.max_request_body_bytes`.
    Standard,
    /// `limits.max_attachment_request_bytes`.
    Attachments,
    /// `limits.bundle_upload_bytes_max`.
    BundleUpload,
}

/// Which time limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// `limits.request_timeout_ms`.
    Standard,
    /// `limits.bundle_timeout_ms` (building, verifying, inspecting,
    /// downloading bundles).
    Bundle,
}

/// A handler's successful answer.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: ResponseBody,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: ResponseBody::whole(body.into()),
            headers: Vec::new(),
        }
    }
}

/// Everything a handler gets.
#[derive(Debug)]
pub struct Call {
    /// Shared state.
    pub state: Arc<AppState>,
    /// The configuration snapshot this request runs on, start to finish.
    pub config: Arc<ValidConfig>,
    /// The index of the caller's credential in `config.credentials()`
    /// (`None` when `security.mode` is `none`).
    pub credential: Option<usize>,
    /// The matched route.
    pub route: &'static Route,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The query string, if any.
    pub query: Option<String>,
    /// The body (already read within its limit).
    pub body: Bytes,
}

impl Call {
    /// What the caller's token may reach (`None` without token auth).
    pub fn grant(&self) -> Option<&Grant> {
        self.credential
            .and_then(|index| self.config.credentials().get(index))
            .map(|credential| &credential.grant)
    }
}

/// A handler's future (runs on the worker thread).
pub type Answer = Pin<Box<dyn Future<Output = Result<Reply, Problem>>>>;

/// A handler.
pub type Handler = fn(Call) -> Answer;

/// One route.
#[derive(Debug)]
pub struct Route {
    /// Method.
    pub method: Method,
    /// Exact path.
    pub path: &'static str,
    /// Stable operation id.
    pub operation_id: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Probe, read or mutation.
    pub kind: Kind,
    /// Privilege plane (probes have none).
    pub plane: Option<Plane>,
    /// Body expected.
    pub body: Body,
    /// Body limit.
    pub limit: Limit,
    /// Time limit.
    pub timeout: Timeout,
    /// Media type of success responses.
    pub produces: &'static str,
    /// Status of a success.
    pub success: u16,
    /// Schema of the request body (from its type in `contract.rs`).
    pub request: Option<SchemaFn>,
    /// Schema of the success body (`None` for text and binary bodies).
    pub response: Option<SchemaFn>,
    /// The handler.
    pub handler: Handler,
}

/// Produces a body type's schema (a `$ref` into the components).
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

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
    route!(POST "/v1/envelopes/with-attachments", "recordEnvelopeWithAttachments", "Record an event with attachments (JSON, base64 content)", Mutation, Some(Plane::Data), Json, Attachments, Standard, "application/json", 201, RecordWithAttachmentsRequest => Receipt, handlers::envelopes::record_with_attachments),
    route!(POST "/v1/query/envelopes", "queryEnvelopes", "Query envelopes with filters and a cursor", Read, Some(Plane::Read), OptionalJson, Standard, Standard, "application/json", 200, QueryRequest => QueryPage, handlers::query::envelopes),
    route!(POST "/v1/bundles/build", "buildBundle", "Build an audit bundle from sealed segments", Mutation, Some(Plane::Control), OptionalJson, Standard, Bundle, "application/json", 201, BuildRequest => BundleBuilt, handlers::bundles::build),
    route!(GET "/v1/bundles/download", "downloadBundle", "Download a built bundle (?id=)", Read, Some(Plane::Read), None, Standard, Bundle, "application/octet-stream", 200, none => none, handlers::bundles::download),
    route!(POST "/v1/bundles/verify", "verifyBundle", "Verify an audit bundle", Read, Some(Plane::Read), Json, BundleUpload, Bundle, "application/json", 200, BundleRequest => VerifyReport, handlers::bundles::verify),
    route!(POST "/v1/bundles/inspect", "inspectBundle", "Summarize an audit bundle", Read, Some(Plane::Read), Json, BundleUpload, Bundle, "application/json", 200, InspectRequest => InspectSummary, handlers::bundles::inspect),
    route!(GET "/v1/config", "getConfig", "The effective configuration, secrets redacted", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => EffectiveConfig, handlers::runtime::config),
    route!(POST "/v1/config/reload", "reloadConfig", "Reload the configuration file (recorded)", Mutation, Some(Plane::Control), OptionalJson, Standard, Standard, "application/json", 200, Empty => Reloaded, handlers::runtime::reload),
    route!(GET "/v1/keys", "listKeys", "Public keys this recorder signs with", Read, Some(Plane::Read), None, Standard, Standard, "application/json", 200, none => KeyList, handlers::runtime::keys),
    route!(GET "/metrics", "getMetrics", "Prometheus metrics", Read, Some(Plane::Read), None, Standard, Standard, "text/plain; version=0.0.4", 200, none => none, handlers::runtime::metrics),
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
            matches!(find(&Method::GET, "/v1/envelopes"), Match::MethodNotAllowed(m) if m == ["POST"])
        );
        assert!(matches!(find(&Method::GET, "/nope"), Match::NotFound));
        assert!(
            matches!(find(&Method::GET, "/health"), Match::Found(r) if r.operation_id == "getHealth")
        );
    }
}
