//! The contract between the pipeline and a handler: what a listener
//! serves, how the pipeline treats a route ([`Route`] and its parts), what a
//! handler gets ([`Call`]) and gives back ([`Reply`], or a problem). A
//! vocabulary module: it names no handler and no table, so the route table
//! (`routes.rs`), the handlers and the pipeline all import it and none of
//! them imports another.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arxi_recorder::StoredResponse;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;

use arxi_sidecar_config::{Grant, ValidConfig};

use crate::problem::Problem;
use crate::response_body::ResponseBody;
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
    /// `limits.batch_request_bytes_max`.
    Batch,
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

/// A reply with status and JSON body, for handlers.
pub fn json_reply(status: StatusCode, value: &Value) -> Reply {
    Reply::json(status, serde_json::to_vec(value).unwrap_or_default())
}

/// A body type serialized straight to a stored response (no JSON value in
/// between). Its members are written in declaration order: for answers
/// that must read as sorted objects, declare them in name order.
pub fn stored_json_of<T: serde::Serialize>(status: u16, body: &T) -> StoredResponse {
    StoredResponse {
        status,
        content_type: "application/json".into(),
        body: serde_json::to_string(body)
            .expect("body types have string keys only, so they always serialize"),
    }
}

/// A JSON value as a stored response.
pub fn stored_json(status: u16, value: &Value) -> StoredResponse {
    StoredResponse {
        status,
        content_type: "application/json".into(),
        body: value.to_string(),
    }
}
