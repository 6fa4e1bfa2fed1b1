//! The enterprise control-plane bridge (R-ENT): identity, ingress policy,
//! boundary hooks and the control plane's health for readiness.
//!
//! An adapter at the boundary only: it decides whether a request reaches
//! its handler and reports what happened; it never changes evidence.
//!
//! With `enterprise.mode` other than `disabled`, every request that is not
//! a probe goes through, in order:
//!
//! 1. identity ([`identity`]): `x-tenant-id`, `x-principal-id` and
//!    `x-authn-method` are required (401 `identity_required`),
//!    `x-namespace-id` is optional; in `managed_cloud` with
//!    `require_writer_lease_header`, mutations need `x-writer-lease` (428
//!    `writer_lease_required`);
//! 2. the ingress check, `POST {cp}/v1/enterprise/ingress/check`: the
//!    control plane answers `{"decision": "allow"}` or `{"decision":
//!    "deny", "reason": ...}` (403 `enterprise_denied`); no valid answer in
//!    `enterprise.timeout_ms` fails closed (503
//!    `enterprise_control_unavailable`, whose `reason` says down, timeout,
//!    refused our token, or an invalid answer: [`Unavailable`]);
//! 3. the admission hook, `POST {cp}/v1/enterprise/sidecar/hooks` with
//!    `phase = "admission"` and the decision (`allow`, `deny`, `error`);
//!    when the decision is `allow` and the hook is not accepted, the
//!    handler does not run (502 `enterprise_hook_failed`);
//! 4. the handler;
//! 5. the result hook, `phase = "result"`, with the status and the problem
//!    code: `allow` for a success, `deny` for a 4xx, `error` for a 5xx. A
//!    successful operation whose result hook is not accepted answers 502
//!    `enterprise_hook_failed` instead of an unaudited success (the
//!    operation itself is done; a retry with the same `Idempotency-Key`
//!    replays it and exports the hook again).
//!
//! Payloads are canonical JSON (RFC 8785) of fixed members, so the same
//! operation always produces the same bytes; `Docs/api.md` documents them.
//! The control plane gets the bearer token of `enterprise.token_file`.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use arxi_format::CanonicalJson;
use arxi_sidecar_config::ValidConfig;
use arxi_sidecar_config::model::{EnterpriseMode, ReadinessMode};
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Value, json};

use crate::call::{Kind, Reply, Route};
use crate::io::{self, LocalSignal};
use crate::outbound::{CallError, Client, Target};
use crate::problem::{Code, Problem};
use crate::state::AppState;

/// The ingress check route on the control plane.
pub const INGRESS_PATH: &str = "/v1/enterprise/ingress/check";
/// The hook route on the control plane.
pub const HOOKS_PATH: &str = "/v1/enterprise/sidecar/hooks";
/// Schema of ingress check bodies.
pub const INGRESS_SCHEMA: &str = "arxi.enterprise.ingress.v1";
/// Schema of hook bodies.
pub const HOOK_SCHEMA: &str = "arxi.enterprise.hook.v1";
/// The writer-lease header.
pub const WRITER_LEASE_HEADER: &str = "x-writer-lease";
/// How often readiness asks the control plane's health path.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);

const REQUIRED: [&str; 3] = ["x-tenant-id", "x-principal-id", "x-authn-method"];
const IDENTITY_VALUE_BYTES_MAX: usize = 256;

/// Who is calling, as the enterprise headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `x-tenant-id`.
    pub tenant_id: String,
    /// `x-principal-id`.
    pub principal_id: String,
    /// `x-authn-method`.
    pub authn_method: String,
    /// `x-namespace-id`.
    pub namespace_id: Option<String>,
    /// `x-writer-lease`.
    pub writer_lease: Option<String>,
}

/// Step 5: the caller's identity; `None` when the bridge is disabled.
pub fn identity(
    headers: &HeaderMap,
    route: &Route,
    config: &ValidConfig,
) -> Result<Option<Identity>, Problem> {
    let enterprise = &config.model().enterprise;
    if enterprise.mode == EnterpriseMode::Disabled {
        return Ok(None);
    }
    let value = |name: &str| -> Result<Option<String>, Problem> {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        let text = first.as_bytes();
        if values.next().is_some()
            || text.is_empty()
            || text.len() > IDENTITY_VALUE_BYTES_MAX
            || !text.iter().all(u8::is_ascii_graphic)
        {
            return Err(Problem::new(Code::BadRequest).detail(format!(
                "{name} must appear once, as 1 to {IDENTITY_VALUE_BYTES_MAX} visible ASCII characters"
            )));
        }
        Ok(Some(String::from_utf8_lossy(text).into_owned()))
    };
    let mut required = Vec::with_capacity(REQUIRED.len());
    let mut missing = Vec::new();
    for name in REQUIRED {
        match value(name)? {
            Some(found) => required.push(found),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        return Err(Problem::new(Code::IdentityRequired)
            .detail(format!("send {}", missing.join(", ")))
            .with("missing", missing));
    }
    let writer_lease = value(WRITER_LEASE_HEADER)?;
    if enterprise.mode == EnterpriseMode::ManagedCloud
        && enterprise.require_writer_lease_header
        && route.kind == Kind::Mutation
        && writer_lease.is_none()
    {
        return Err(Problem::new(Code::WriterLeaseRequired)
            .detail(format!("mutations need the {WRITER_LEASE_HEADER} header")));
    }
    let mut required = required.into_iter();
    Ok(Some(Identity {
        tenant_id: required.next().unwrap_or_default(),
        principal_id: required.next().unwrap_or_default(),
        authn_method: required.next().unwrap_or_default(),
        namespace_id: value("x-namespace-id")?,
        writer_lease,
    }))
}

/// What the control plane is told about one operation.
#[derive(Debug)]
pub struct Operation<'a> {
    /// The route.
    pub route: &'static Route,
    /// The caller.
    pub identity: &'a Identity,
    /// The caller's token name (`None` without token auth).
    pub token_name: Option<&'a str>,
    /// The server correlation id (joins ingress, admission and result).
    pub correlation_id: &'a str,
}

/// A hook phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the handler.
    Admission,
    /// After the handler.
    Result,
}

impl Phase {
    /// The `phase` member of a hook, and of a 502 `enterprise_hook_failed`.
    fn name(self) -> &'static str {
        match self {
            Self::Admission => "admission",
            Self::Result => "result",
        }
    }
}

/// A decision reported in a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed / succeeded.
    Allow,
    /// Denied / refused (4xx).
    Deny,
    /// Failed (control plane unavailable, or a 5xx).
    Error,
}

impl Decision {
    fn name(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Error => "error",
        }
    }

    /// The result-phase decision for a status.
    pub fn for_status(status: u16) -> Self {
        match status {
            0..=399 => Self::Allow,
            400..=499 => Self::Deny,
            _ => Self::Error,
        }
    }
}

fn operation_members(config: &ValidConfig, operation: &Operation<'_>, schema: &str) -> Value {
    let identity = operation.identity;
    json!({
        "schema": schema,
        "recorder_id": config.model().recorder.id,
        "operation_id": operation.route.operation_id,
        "method": operation.route.method.as_str(),
        "path": operation.route.path,
        "plane": operation.route.plane.map(|plane| plane.name()),
        "mutation": operation.route.kind == Kind::Mutation,
        "tenant_id": identity.tenant_id,
        "principal_id": identity.principal_id,
        "authn_method": identity.authn_method,
        "namespace_id": identity.namespace_id,
        "writer_lease": identity.writer_lease,
        "token_name": operation.token_name,
        "correlation_id": operation.correlation_id,
    })
}

fn canonical(value: &Value) -> Bytes {
    CanonicalJson::from_value(value)
        .map(|canonical| Bytes::copy_from_slice(canonical.as_bytes()))
        .unwrap_or_default()
}

/// The ingress check body.
pub fn ingress_body(config: &ValidConfig, operation: &Operation<'_>) -> Bytes {
    canonical(&operation_members(config, operation, INGRESS_SCHEMA))
}

/// A hook body. `status` and `code` are the handler's (result phase) or the
/// refusal's (admission phase, when denied or failed); `reason` is the
/// control plane's deny reason.
pub fn hook_body(
    config: &ValidConfig,
    operation: &Operation<'_>,
    phase: Phase,
    decision: Decision,
    status: Option<u16>,
    code: Option<&str>,
    reason: Option<&str>,
) -> Bytes {
    let mut members = operation_members(config, operation, HOOK_SCHEMA);
    members["phase"] = json!(phase.name());
    members["decision"] = json!(decision.name());
    members["status"] = json!(status);
    members["code"] = json!(code);
    members["reason"] = json!(reason);
    canonical(&members)
}

/// Why the control plane gave no decision: the `reason` member of a 503
/// `enterprise_control_unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No connection, or the connection failed (the control plane is down
    /// or unreachable).
    Down,
    /// No complete answer within `enterprise.timeout_ms`.
    Timeout,
    /// It answered 401 or 403 without a decision: it refused the
    /// sidecar's own token (`enterprise.token_file`).
    Refused,
    /// It answered something that is not a decision.
    InvalidAnswer,
}

impl Unavailable {
    /// Every reason, for the contract documents.
    pub const ALL: [Unavailable; 4] = [
        Self::Down,
        Self::Timeout,
        Self::Refused,
        Self::InvalidAnswer,
    ];

    /// The `reason` text.
    pub fn name(self) -> &'static str {
        match self {
            Self::Down => "control_plane_down",
            Self::Timeout => "control_plane_timeout",
            Self::Refused => "control_plane_refused",
            Self::InvalidAnswer => "control_plane_invalid_answer",
        }
    }
}

/// The control plane's ingress verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// Refused, with the control plane's reason.
    Deny(String),
}

/// Calls to the control plane from one worker.
#[derive(Debug)]
pub struct Bridge<'a> {
    /// The configuration snapshot of the request.
    pub config: &'a ValidConfig,
    /// The worker's client.
    pub client: &'a Client,
    /// Shared state (the resolver pool).
    pub state: &'a AppState,
}

impl Bridge<'_> {
    async fn post(&self, path: &str, body: Bytes) -> Result<crate::outbound::Answer, CallError> {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<crate::outbound::Answer, CallError> {
        let enterprise = &self.config.model().enterprise;
        let url = enterprise.control_plane_url.as_deref().unwrap_or_default();
        let target = Target::parse(url).map_err(CallError::Failed)?;
        let token = self.config.enterprise_token().map(|token| token.expose());
        self.client
            .call(
                &target,
                method,
                path,
                token,
                body,
                Duration::from_millis(enterprise.timeout_ms),
                &self.state.reads,
            )
            .await
    }

    /// The ingress check: allow, deny, or a problem when the control plane
    /// gives no valid answer in time (fail closed).
    pub async fn ingress(&self, operation: &Operation<'_>) -> Result<Verdict, Problem> {
        let unavailable = |reason: Unavailable, detail: String| {
            tracing::warn!(reason = reason.name(), %detail, correlation_id = operation.correlation_id, "ingress check failed");
            Problem::new(Code::EnterpriseControlUnavailable)
                .detail(detail)
                .with("reason", reason.name())
        };
        let answer = self
            .post(INGRESS_PATH, ingress_body(self.config, operation))
            .await
            .map_err(|error| {
                let reason = match error {
                    CallError::Timeout => Unavailable::Timeout,
                    CallError::Failed(_) => Unavailable::Down,
                    CallError::Oversized => Unavailable::InvalidAnswer,
                };
                unavailable(reason, format!("ingress check: {error}"))
            })?;
        // Read as strictly as a client's body: an answer with a member
        // twice (`{"decision":"deny","decision":"allow"}`) is no decision.
        let decision = arxi_format::json::parse(&answer.body).ok();
        let field = |name: &str| {
            decision
                .as_ref()
                .and_then(|value| value.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match (answer.status, field("decision").as_deref()) {
            (200..=299, Some("allow")) => Ok(Verdict::Allow),
            (200..=299 | 403, Some("deny")) => Ok(Verdict::Deny(
                field("reason").unwrap_or_else(|| "denied by the control plane".into()),
            )),
            (status @ (401 | 403), _) => Err(unavailable(
                Unavailable::Refused,
                format!(
                    "the control plane refused the sidecar's credentials ({status}); check enterprise.token_file"
                ),
            )),
            (status, _) => Err(unavailable(
                Unavailable::InvalidAnswer,
                format!("ingress check answered {status} without a valid decision"),
            )),
        }
    }

    /// Exports a hook; `Err` unless the control plane accepted it (2xx).
    pub async fn hook(&self, body: Bytes) -> Result<(), String> {
        match self.post(HOOKS_PATH, body).await {
            Ok(answer) if (200..300).contains(&answer.status) => Ok(()),
            Ok(answer) => Err(format!("the control plane answered {}", answer.status)),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Steps 2 and 3: the ingress check and the admission hook. `Ok` only
    /// when the control plane allowed the operation and took the hook.
    async fn admit(&self, operation: &Operation<'_>) -> Result<(), Problem> {
        let config = self.config;
        let admission = |decision, problem: Option<&Problem>, reason: Option<&str>| {
            hook_body(
                config,
                operation,
                Phase::Admission,
                decision,
                problem.map(|p| p.code.info().status),
                problem.map(|p| p.code.info().code),
                reason,
            )
        };
        match self.ingress(operation).await {
            Err(problem) => {
                // Best effort: the control plane is likely what failed.
                let _ = self
                    .hook(admission(Decision::Error, Some(&problem), None))
                    .await;
                Err(problem)
            }
            Ok(Verdict::Deny(reason)) => {
                let problem = Problem::new(Code::EnterpriseDenied)
                    .detail(reason.clone())
                    .with("reason", reason.clone());
                if let Err(error) = self
                    .hook(admission(Decision::Deny, Some(&problem), Some(&reason)))
                    .await
                {
                    tracing::warn!(%error, correlation_id = operation.correlation_id, "admission hook (deny) not exported");
                }
                Err(problem)
            }
            Ok(Verdict::Allow) => {
                self.hook(admission(Decision::Allow, None, None))
                    .await
                    .map_err(|error| {
                        tracing::warn!(%error, correlation_id = operation.correlation_id, "admission hook (allow) not exported: the handler does not run");
                        Problem::new(Code::EnterpriseHookFailed)
                            .detail(format!("admission hook: {error}"))
                            .with("phase", Phase::Admission.name())
                    })
            }
        }
    }

    /// Steps 2 to 5 around a handler.
    pub async fn guard(
        &self,
        operation: &Operation<'_>,
        handler: impl Future<Output = Result<Reply, Problem>>,
    ) -> Result<Reply, Problem> {
        self.admit(operation).await?;
        let config = self.config;
        let result = handler.await;
        let (status, code) = match &result {
            Ok(reply) => (reply.status.as_u16(), None),
            Err(problem) => (problem.code.info().status, Some(problem.code.info().code)),
        };
        let body = hook_body(
            config,
            operation,
            Phase::Result,
            Decision::for_status(status),
            Some(status),
            code,
            None,
        );
        match self.hook(body).await {
            Ok(()) => result,
            Err(error) if result.is_ok() => {
                tracing::error!(
                    %error,
                    correlation_id = operation.correlation_id,
                    status,
                    "result hook not exported: answering 502 instead of an unaudited success"
                );
                Err(Problem::new(Code::EnterpriseHookFailed)
                    .detail(format!(
                        "the operation completed ({status}) but its result hook was not exported: {error}; retry with the same Idempotency-Key"
                    ))
                    .with("phase", Phase::Result.name()))
            }
            Err(error) => {
                tracing::warn!(%error, correlation_id = operation.correlation_id, "result hook (failure) not exported");
                result
            }
        }
    }
}

/// Keeps `state.control_plane` current for readiness: every
/// [`HEALTH_INTERVAL`], `GET {cp}{probes.enterprise_health_path}` while
/// `probes.readiness_mode` is `storage_and_enterprise` (read from the
/// current configuration, so a reload takes effect). Runs on one worker.
pub async fn watch_health(state: Arc<AppState>, client: Rc<Client>, stop: Rc<LocalSignal>) {
    loop {
        let config = state.config.load_full();
        let model = config.model();
        if model.enterprise.mode != EnterpriseMode::Disabled
            && model.probes.readiness_mode == ReadinessMode::StorageAndEnterprise
        {
            let bridge = Bridge {
                config: &config,
                client: &client,
                state: &state,
            };
            let verdict = match bridge
                .send(Method::GET, &model.probes.enterprise_health_path, None)
                .await
            {
                Ok(answer) if (200..300).contains(&answer.status) => Ok(()),
                Ok(answer) => Err(format!(
                    "the control plane's health answered {}",
                    answer.status
                )),
                Err(error) => Err(format!("the control plane's health: {error}")),
            };
            match (&verdict, state.control_plane.get()) {
                (Err(reason), Ok(())) => {
                    tracing::error!(%reason, "control plane unavailable; /ready answers 503");
                }
                (Ok(()), Err(_)) => tracing::info!("control plane available"),
                _ => {}
            }
            state.control_plane.set(verdict);
        } else {
            state.control_plane.set(Ok(()));
        }
        if let io::Either::Right(()) = io::race(io::sleep(HEALTH_INTERVAL), stop.wait()).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_decisions_follow_the_status() {
        assert_eq!(Decision::for_status(200), Decision::Allow);
        assert_eq!(Decision::for_status(201), Decision::Allow);
        assert_eq!(Decision::for_status(404), Decision::Deny);
        assert_eq!(Decision::for_status(429), Decision::Deny);
        assert_eq!(Decision::for_status(500), Decision::Error);
        assert_eq!(Decision::for_status(503), Decision::Error);
    }
}
