//! The request pipeline, in the order R-HTTP fixes:
//!
//! 1. request body limit (a declared `Content-Length` over the limit is
//!    refused before anything else; bodies are read within the limit);
//! 2. a tracing span per request;
//! 3. correlation ids (server id always; client id sanitized and echoed);
//! 4. bearer auth (constant-time; 401 carries a `WWW-Authenticate`
//!    challenge);
//! 5. enterprise identity and 6. enterprise policy (`enterprise`: the
//!    ingress check and the admission and result hooks; the calls run
//!    inside the admission permit and the request deadline of step 7);
//! 7. bounds: header bytes and count, content negotiation (415/406),
//!    content-length checks (411), bounded admission and concurrency (429
//!    with `Retry-After`), and a request timeout (503).
//!
//! Probes (`/health`, `/startup`, `/ready`) skip auth, enterprise policy and
//! bounds so they answer under overload. Every response, error or not,
//! carries the correlation headers. Every error response closes the
//! connection (`Connection: close`).

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{self, HeaderValue};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use tracing::Instrument as _;

use crate::admission::{Admission, Admit};
use crate::auth::{self, AuthOutcome};
use crate::call::{Body, Call, Kind, Limit, Reply, Route, Serves, Timeout};
use crate::correlation;
use crate::enterprise;
use crate::framing::{Refusal, RefusalSlot};
use crate::io::{self, Peer};
use crate::problem::{self, Code, Correlation, Problem};
use crate::response_body::ResponseBody;
use crate::routes::{self, Match};
use crate::state::AppState;

/// Per-worker context.
#[derive(Debug)]
pub struct Worker {
    /// Shared state.
    pub state: Arc<AppState>,
    /// This worker's admission gate.
    pub admission: Rc<Admission>,
    /// This worker's client for the control plane.
    pub outbound: Rc<crate::outbound::Client>,
}

/// Which request of its connection a request is, and where the framing
/// gate leaves its refusals (`framing`).
#[derive(Debug, Clone)]
pub struct OnConnection {
    /// The connection's refusal slot.
    pub refusals: Rc<RefusalSlot>,
    /// This request's number on the connection, from 1.
    pub number: u64,
}

impl OnConnection {
    fn refusal(&self) -> Option<Refusal> {
        self.refusals.take_for(self.number)
    }
}

/// Handles one request end to end.
pub async fn handle(
    worker: Rc<Worker>,
    _peer: Peer,
    serves: Serves,
    request: hyper::Request<Incoming>,
    connection: OnConnection,
) -> hyper::Response<ResponseBody> {
    let started = Instant::now();
    let state = Arc::clone(&worker.state);
    let (parts, body) = request.into_parts();
    let server_id = state.ids.next();
    let (client_id, legacy_id) = client_correlation(&parts.headers);
    // A request the framing gate put in place of a refused head: answered
    // with the refusal, nothing else.
    let refused = connection.refusal();
    let path = match &refused {
        Some(refusal) => refusal.target.clone().unwrap_or_else(|| "/".to_owned()),
        None => parts.uri.path().to_owned(),
    };
    let matched = match &refused {
        Some(_) => Match::NotFound,
        None => routes::find(&parts.method, &path),
    };
    let route_index = match &matched {
        Match::Found(route) => routes::index_of(route),
        _ => routes::ROUTES.len(),
    };
    let (span, trace) = request_span(&parts, &path, &server_id);
    let outcome = async {
        refused.map_or(Ok(()), |refusal| Err(refusal.problem))?;
        check_target(&parts.uri)?;
        match matched {
            Match::Found(route) if serves != Serves::Probes || route.kind == Kind::Probe => {
                check_query(route, parts.uri.query())?;
                let request = Request {
                    parts,
                    body,
                    connection: &connection,
                };
                process(&worker, &server_id, serves, route, request).await
            }
            unrouted => Err(unrouted_problem(unrouted, &path)),
        }
    }
    .instrument(span)
    .await;
    let correlation = Correlation {
        server: &server_id,
        client: client_id.as_deref(),
        trace: trace.as_ref().map(|trace| trace.trace_id.as_str()),
    };
    let mut response = match outcome {
        Ok(reply) => reply_response(reply),
        Err(problem) => problem_response(&problem, correlation, &path),
    };
    correlation_headers(
        response.headers_mut(),
        &server_id,
        client_id.as_deref(),
        legacy_id,
    );
    let status = response.status().as_u16();
    state.http.record(route_index, status, started.elapsed());
    tracing::debug!(
        correlation_id = %server_id,
        trace_id = trace.as_ref().map(|trace| trace.trace_id.as_str()),
        status,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request done"
    );
    response
}

/// The request's span: method, path, the server's correlation id and, when
/// the caller sent a valid W3C `traceparent`, its trace and parent span
/// ids, so one search finds the request from either side.
fn request_span(
    parts: &http::request::Parts,
    path: &str,
    server_id: &str,
) -> (tracing::Span, Option<correlation::TraceParent>) {
    let trace = parts
        .headers
        .get("traceparent")
        .and_then(|value| correlation::traceparent(value.as_bytes()));
    let span = tracing::debug_span!(
        "request",
        method = %parts.method,
        path = %path,
        correlation_id = %server_id,
        trace_id = trace.as_ref().map(|trace| trace.trace_id.as_str()),
        parent_id = trace.as_ref().map(|trace| trace.parent_id.as_str()),
    );
    (span, trace)
}

/// Origin-form request targets only (RFC 9112 §3.2.1: a path and an
/// optional query), for every route, probes included: an absolute-form
/// (`http://host/path`), authority-form (`host:port`, as `CONNECT` sends)
/// or asterisk-form (`*`) target is malformed here.
fn check_target(uri: &http::Uri) -> Result<(), Problem> {
    if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
        return Err(Problem::new(Code::BadRequest)
            .detail("the request target must be a path (origin-form), not a URL, host:port or *"));
    }
    Ok(())
}

/// The query string names only the route's parameters
/// ([`routes::query_names`]), each at most once: an unknown or repeated
/// parameter makes the request malformed (400 naming it in `field`),
/// before any handler runs, so no route ignores one. Pieces are split on
/// `&`; a name is what comes before the first `=` (taken as written, not
/// percent-decoded); empty pieces are skipped.
fn check_query(route: &Route, query: Option<&str>) -> Result<(), Problem> {
    let names = routes::query_names(route);
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        let detail = if !names.contains(&name) {
            format!("unknown query parameter {name:?}")
        } else if seen.contains(&name) {
            format!("query parameter {name:?} given twice")
        } else {
            seen.push(name);
            continue;
        };
        return Err(Problem::new(Code::BadRequest)
            .detail(detail)
            .with("field", name));
    }
    Ok(())
}

/// The answer to a request no route of this listener takes.
fn unrouted_problem(matched: Match, path: &str) -> Problem {
    match matched {
        Match::NotFound => Problem::new(Code::NotFound).detail(format!("no route {path}")),
        Match::MethodNotAllowed(allowed) => {
            let allow = allowed.join(", ");
            let value = HeaderValue::from_str(&allow)
                .expect("route methods are tokens, so the Allow list is a valid header value");
            Problem::new(Code::MethodNotAllowed)
                .detail(format!("{path} allows {allow}"))
                .header(header::ALLOW, value)
        }
        Match::Found(_) => Problem::new(Code::NotFound)
            .detail(format!("this socket serves the probes only, not {path}")),
    }
}

/// A handler's reply as a response.
fn reply_response(reply: Reply) -> hyper::Response<ResponseBody> {
    let mut response = hyper::Response::new(reply.body);
    *response.status_mut() = reply.status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A problem as a response that closes the connection: whatever the client
/// pipelined behind a refused request (possibly framed differently than
/// the client meant) is never served. Server faults go to the log.
fn problem_response(
    problem: &Problem,
    correlation: Correlation<'_>,
    path: &str,
) -> hyper::Response<ResponseBody> {
    if problem.code.info().status >= 500 {
        tracing::error!(
            correlation_id = %correlation.server,
            trace_id = correlation.trace,
            code = problem.code.info().code,
            detail = problem.detail.as_deref().unwrap_or(""),
            "request failed"
        );
    }
    let mut response = problem::render(problem, correlation, path);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The correlation headers every response carries, and `no-store`.
fn correlation_headers(
    headers: &mut HeaderMap,
    server_id: &str,
    client_id: Option<&str>,
    legacy_id: bool,
) {
    if let Ok(value) = HeaderValue::from_str(server_id) {
        headers.insert("x-arxi-correlation-id", value);
    }
    if let Some(value) = client_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        let name = if legacy_id {
            "x-request-id"
        } else {
            "x-correlation-id"
        };
        headers.insert(name, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The client's correlation id (`x-correlation-id`, else the legacy
/// `x-request-id`), sanitized; and whether it came from the legacy header.
fn client_correlation(headers: &HeaderMap) -> (Option<String>, bool) {
    if let Some(value) = headers.get("x-correlation-id") {
        return (correlation::sanitize(value.as_bytes()), false);
    }
    if let Some(value) = headers.get("x-request-id") {
        return (correlation::sanitize(value.as_bytes()), true);
    }
    (None, false)
}

/// A request on its way through [`process`].
struct Request<'a> {
    parts: http::request::Parts,
    body: Incoming,
    connection: &'a OnConnection,
}

async fn process(
    worker: &Rc<Worker>,
    server_id: &str,
    serves: Serves,
    route: &'static Route,
    request: Request<'_>,
) -> Result<Reply, Problem> {
    let Request {
        mut parts,
        body,
        connection,
    } = request;
    let state = &worker.state;
    let config = state.config.load_full();
    let limits = config.model().limits;
    let call = |headers: HeaderMap, body: Bytes, credential: Option<usize>| Call {
        state: Arc::clone(state),
        config: Arc::clone(&config),
        credential,
        route,
        headers,
        query: parts.uri.query().map(str::to_owned),
        body,
    };

    let Some(plane) = route.plane else {
        // Probes: every listener, no auth, no policy, no bounds.
        return (route.handler)(call(parts.headers, Bytes::new(), None)).await;
    };
    if state.shutting_down.load(Ordering::Acquire) {
        return Err(Problem::new(Code::ShuttingDown));
    }
    // Single fields, 1. the body limit on the declared length, the target
    // and Host.
    let (body_limit, declared_length) = check_head(&parts, route, &config)?;

    // 4. Bearer auth, then the privilege planes: the listener's (a plane
    // socket serves one plane) and the token's.
    let credentials = config.credentials();
    let credential = authorize(&parts.headers, credentials, serves, route, plane)?;

    // 5. Enterprise identity (no IO). 6. Enterprise policy runs below,
    // inside the admission permit and the request deadline, so calls to
    // the control plane are bounded like any other work.
    let identity = enterprise::identity(&parts.headers, route, &config)?;

    // 7. Bounds.
    check_bounds(&parts, route, &limits, declared_length)?;
    let headers = std::mem::take(&mut parts.headers); // moved into the call, not cloned
    let timeout_ms = route_timeout_ms(route, &limits);
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let _permit = admit(&worker.admission, deadline).await?;
    let work = async {
        // A body cut short by the framing gate is answered with the gate's
        // refusal.
        let bytes = match route.body {
            Body::None => Bytes::new(),
            _ => read_body(body, body_limit)
                .await
                .map_err(|problem| connection.refusal().map_or(problem, |r| r.problem))?,
        };
        let handler = (route.handler)(call(headers, bytes, credential));
        match &identity {
            None => handler.await,
            Some(identity) => {
                let operation = enterprise::Operation {
                    route,
                    identity,
                    token_name: credential.map(|index| credentials[index].grant.name.as_str()),
                    correlation_id: server_id,
                };
                Box::pin(guarded(worker, &config, &operation, handler)).await
            }
        }
    };
    match io::timeout(remaining(deadline), work).await {
        Ok(result) => result,
        Err(io::Elapsed) => Err(Problem::new(Code::RequestTimeout)
            .detail(format!("the request did not finish within {timeout_ms} ms"))),
    }
}

/// Steps 6 and 7 under the enterprise bridge: the ingress check and the
/// admission hook before the handler, the result hook after it. Its future
/// (outbound calls to the control plane) is large: [`process`] boxes it,
/// so that every request's future, moved whole several times, stays small.
async fn guarded(
    worker: &Worker,
    config: &arxi_sidecar_config::ValidConfig,
    operation: &enterprise::Operation<'_>,
    handler: crate::call::Answer,
) -> Result<Reply, Problem> {
    let bridge = enterprise::Bridge {
        config,
        client: &worker.outbound,
        state: &worker.state,
    };
    bridge.guard(operation, handler).await
}

/// Step 4: the bearer token (when tokens are configured), then the planes
/// of the listener and of the token. Returns the credential's index.
fn authorize(
    headers: &HeaderMap,
    credentials: &[arxi_sidecar_config::Credential],
    serves: Serves,
    route: &Route,
    plane: crate::call::Plane,
) -> Result<Option<usize>, Problem> {
    let mut credential = None;
    if !credentials.is_empty() {
        let outcome = auth::check(
            headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
            credentials,
        );
        let AuthOutcome::Allowed(index) = outcome else {
            return Err(Problem::new(Code::Unauthorized)
                .detail(match outcome {
                    AuthOutcome::Missing => "send Authorization: Bearer <token>",
                    AuthOutcome::OtherScheme => {
                        "the Authorization scheme is not Bearer; send Authorization: Bearer <token>"
                    }
                    _ => "the bearer token is not valid",
                })
                .header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(auth::challenge(outcome)),
                ));
        };
        credential = Some(index);
    }
    if let Serves::Plane(only) = serves
        && !only.reaches(plane)
    {
        return Err(Problem::new(Code::WrongPlane)
            .detail(format!(
                "this socket serves the {} plane; {path} is on the {} plane",
                only.name(),
                plane.name(),
                path = route.path,
            ))
            .with("plane", plane.name()));
    }
    if let Some(grant) = credential.map(|index| &credentials[index].grant)
        && !grant.allows_plane(plane)
    {
        let planes: Vec<&str> = grant.planes.iter().map(|p| p.name()).collect();
        return Err(Problem::new(Code::WrongPlane)
            .detail(format!(
                "token {:?} reaches the {} plane(s); {} is on the {} plane",
                grant.name,
                planes.join(", "),
                route.path,
                plane.name(),
            ))
            .with("plane", plane.name()));
    }
    Ok(credential)
}

/// Step 7's admission: a slot now, or after waiting in the bounded queue
/// until the request's deadline; 429 otherwise.
async fn admit(
    admission: &Rc<Admission>,
    deadline: Instant,
) -> Result<crate::admission::Permit, Problem> {
    match admission.admit() {
        Err(_) => Err(Problem::new(Code::RequestCapacityExhausted)
            .detail("every request slot and the admission queue are full")
            .retry_after_ms(admission.retry_after_ms())),
        Ok(Admit::Ready(permit)) => Ok(permit),
        Ok(Admit::Wait(wait)) => match io::timeout(remaining(deadline), wait).await {
            Ok(permit) => Ok(permit),
            Err(io::Elapsed) => Err(Problem::new(Code::RequestCapacityExhausted)
                .detail("no request slot became free in time")
                .retry_after_ms(admission.retry_after_ms())),
        },
    }
}

/// The request checks that need no IO and no state, in pipeline order:
/// the declared length against the route's limit, the target and `Host`,
/// enterprise identity, then the bounds of [`check_bounds`]. The fuzz
/// target for the request path drives these with arbitrary parsed heads.
pub fn precheck(
    parts: &http::request::Parts,
    route: &'static Route,
    config: &arxi_sidecar_config::ValidConfig,
) -> Result<(), Problem> {
    let limits = config.model().limits;
    let (_, declared_length) = check_head(parts, route, config)?;
    enterprise::identity(&parts.headers, route, config)?;
    check_bounds(parts, route, &limits, declared_length)
}

/// Header fields a request may carry at most once. Two `Authorization`
/// fields are ambiguous credentials; two `Idempotency-Key` fields would
/// let a retry under the second key record a duplicate.
static SINGLE_FIELDS: [header::HeaderName; 5] = [
    header::AUTHORIZATION,
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::HOST,
    header::HeaderName::from_static("idempotency-key"),
];

/// 400 `duplicate_header` for a repeated [`SINGLE_FIELDS`] field; a
/// repeated `Authorization` also gets the RFC 6750 `invalid_request`
/// challenge.
fn check_single_fields(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(name) = SINGLE_FIELDS
        .iter()
        .find(|name| headers.get_all(*name).iter().nth(1).is_some())
    else {
        return Ok(());
    };
    let problem = Problem::new(Code::DuplicateHeader)
        .detail(format!("more than one {name} header field"))
        .with("header", name.as_str());
    Err(if *name == header::AUTHORIZATION {
        problem.header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(auth::INVALID_REQUEST_CHALLENGE),
        )
    } else {
        problem
    })
}

/// The checks on the head before auth: fields that must appear once (the
/// first would win silently), the declared length against the route's
/// limit (step 1), the target and `Host` (a DNS-rebinding guard). Returns
/// the body limit and the declared length.
fn check_head(
    parts: &http::request::Parts,
    route: &Route,
    config: &arxi_sidecar_config::ValidConfig,
) -> Result<(u64, Option<u64>), Problem> {
    check_single_fields(&parts.headers)?;
    let declared = check_declared_length(parts, route, &config.model().limits)?;
    check_host(parts, config)?;
    Ok(declared)
}

/// The route's body limit, and the declared length (refused when over the
/// limit, before any body byte is read).
fn check_declared_length(
    parts: &http::request::Parts,
    route: &Route,
    limits: &arxi_sidecar_config::model::Limits,
) -> Result<(u64, Option<u64>), Problem> {
    let body_limit = match route.limit {
        Limit::Standard => limits.request_body_bytes_max,
        Limit::Attachments => limits.attachment_request_bytes_max,
        Limit::BundleUpload => limits.bundle_upload_bytes_max,
        Limit::Batch => limits.batch_request_bytes_max,
    };
    let declared_length = content_length(&parts.headers)?;
    if let Some(length) = declared_length.filter(|length| *length > body_limit) {
        return Err(Problem::new(Code::PayloadTooLarge).detail(format!(
            "the body declares {length} bytes; this route accepts at most {body_limit}"
        )));
    }
    Ok((body_limit, declared_length))
}

/// Step 7 without IO: head size and header count, `Accept`,
/// `Content-Type` of a body, and a length for a required body.
fn check_bounds(
    parts: &http::request::Parts,
    route: &Route,
    limits: &arxi_sidecar_config::model::Limits,
    declared_length: Option<u64>,
) -> Result<(), Problem> {
    check_head_size(parts, limits)?;
    check_accept(&parts.headers, route)?;
    let chunked = is_chunked(&parts.headers);
    let has_body = declared_length.is_some_and(|length| length > 0) || chunked;
    if route.body != Body::None && has_body {
        check_content_type(&parts.headers)?;
    }
    if route.body == Body::Json && declared_length.is_none() && !chunked {
        return Err(Problem::new(Code::LengthRequired)
            .detail("send Content-Length (or Transfer-Encoding: chunked) with the body"));
    }
    Ok(())
}

/// The route's time limit.
fn route_timeout_ms(route: &Route, limits: &arxi_sidecar_config::model::Limits) -> u64 {
    match route.timeout {
        Timeout::Standard => limits.request_timeout_ms,
        Timeout::Bundle => limits.bundle_timeout_ms,
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    // hyper already refuses conflicting or malformed lengths; this is the
    // belt to its braces.
    if values.next().is_some() {
        return Err(Problem::new(Code::BadRequest).detail("more than one Content-Length"));
    }
    first
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .map(Some)
        .ok_or_else(|| Problem::new(Code::BadRequest).detail("Content-Length is not a number"))
}

fn is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .any(|value| {
            value
                .to_str()
                .is_ok_and(|text| text.to_ascii_lowercase().contains("chunked"))
        })
}

/// A `Host` the configuration allows (the target's form was checked
/// before routing: [`check_target`]).
fn check_host(
    parts: &http::request::Parts,
    config: &arxi_sidecar_config::ValidConfig,
) -> Result<(), Problem> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host,
        (None, _) => return Err(Problem::new(Code::BadRequest).detail("missing Host header")),
        (Some(_), Some(_)) => {
            return Err(Problem::new(Code::BadRequest).detail("more than one Host header"));
        }
    };
    let host = host.to_str().unwrap_or_default().to_ascii_lowercase();
    let name = strip_port(&host);
    let allowed = &config.model().transport.allowed_hosts;
    let accepted = if allowed.is_empty() {
        matches!(name, "localhost" | "127.0.0.1" | "[::1]" | "::1")
    } else {
        allowed
            .iter()
            .any(|candidate| candidate.eq_ignore_ascii_case(name))
    };
    if accepted {
        Ok(())
    } else {
        Err(Problem::new(Code::BadRequest).detail(format!(
            "Host {name:?} is not served here (transport.allowed_hosts)"
        )))
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split_once(']')
            .map_or(host, |(address, _)| &host[..address.len() + 2]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn check_head_size(
    parts: &http::request::Parts,
    limits: &arxi_sidecar_config::model::Limits,
) -> Result<(), Problem> {
    let count = parts.headers.len() as u64;
    if count > limits.headers_max {
        return Err(Problem::new(Code::HeadersTooLarge).detail(format!(
            "{count} headers; at most {} are accepted",
            limits.headers_max
        )));
    }
    let line = parts.method.as_str().len()
        + parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + 12;
    let bytes = parts.headers.iter().fold(line, |sum, (name, value)| {
        sum + name.as_str().len() + value.len() + 4
    }) as u64;
    if bytes > limits.header_bytes_max {
        return Err(Problem::new(Code::HeadersTooLarge).detail(format!(
            "the request head is {bytes} bytes; at most {} are accepted",
            limits.header_bytes_max
        )));
    }
    Ok(())
}

/// 406 unless `Accept` admits what the route produces (or problem+json).
fn check_accept(headers: &HeaderMap, route: &Route) -> Result<(), Problem> {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Ok(());
    }
    let produces = route.produces.split(';').next().unwrap_or_default().trim();
    let (kind, _) = produces.split_once('/').unwrap_or(("application", "json"));
    for value in values {
        let Ok(text) = value.to_str() else { continue };
        for range in text.split(',') {
            let mut pieces = range.split(';');
            let media = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if pieces.any(is_zero_weight) {
                continue;
            }
            if media == "*/*"
                || media == produces
                || media == format!("{kind}/*")
                || media == "application/problem+json"
            {
                return Ok(());
            }
        }
    }
    Err(Problem::new(Code::NotAcceptable).detail(format!("this route produces {produces}")))
}

/// Whether a media range's parameter is a weight of zero, "not
/// acceptable" (RFC 9110 §12.4.2: `q` in any case, and a qvalue of `0`,
/// `0.`, `0.0`, `0.00` or `0.000`).
fn is_zero_weight(parameter: &str) -> bool {
    let Some((name, value)) = parameter.split_once('=') else {
        return false;
    };
    let zero = |value: &str| {
        value.strip_prefix('0').is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix('.')
                    .is_some_and(|digits| digits.len() <= 3 && digits.bytes().all(|b| b == b'0'))
        })
    };
    name.trim().eq_ignore_ascii_case("q") && zero(value.trim())
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|text| {
            text.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match media.as_deref() {
        Some("application/json") => Ok(()),
        Some(other) => Err(Problem::new(Code::UnsupportedMediaType)
            .detail(format!("Content-Type {other:?}; send application/json"))),
        None => Err(Problem::new(Code::UnsupportedMediaType)
            .detail("missing Content-Type; send application/json")),
    }
}

async fn read_body(body: Incoming, limit: u64) -> Result<Bytes, Problem> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(Problem::new(Code::PayloadTooLarge)
                    .detail(format!("the body exceeds {limit} bytes")))
            } else {
                Err(Problem::new(Code::BadRequest).detail(format!("reading the body: {error}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future a function returns, without calling it.
    fn future_size<F: Future>(_make: impl FnOnce() -> F) -> usize {
        size_of::<F>()
    }

    /// Every request's future is moved whole a few times (into hyper's
    /// dispatcher, through the span and the deadline), so it is kept
    /// small: the enterprise bridge's future, large with its outbound
    /// calls, is boxed, not inline, and so is what a deadline wraps
    /// (`io::timeout`). Measured: 12,544 bytes with both inline; 4,224
    /// with the bridge boxed; 2,584 with the deadline's future boxed too.
    #[test]
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn a_requests_future_stays_small() {
        let request = future_size(|| {
            handle(
                unreachable!(),
                unreachable!(),
                Serves::All,
                unreachable!(),
                unreachable!(),
            )
        });
        let bridge = future_size(|| {
            guarded(
                unreachable!(),
                unreachable!(),
                unreachable!(),
                unreachable!(),
            )
        });
        assert!(request < 4 * 1024, "a request's future is {request} bytes");
        assert!(
            request < 2 * bridge,
            "a request's future ({request} bytes) holds the bridge's ({bridge}) inline"
        );
    }

    #[test]
    fn only_origin_form_targets_pass() {
        for target in ["/health", "/v1/envelopes?seq=1", "/"] {
            let uri: http::Uri = target.parse().expect("uri");
            assert!(check_target(&uri).is_ok(), "{target}");
        }
        for target in [
            "http://evil.example/health",
            "https://127.0.0.1/v1/envelopes",
            "127.0.0.1:8080",
            "*",
        ] {
            let uri: http::Uri = target.parse().expect("uri");
            let problem = check_target(&uri).expect_err(target);
            assert_eq!(problem.code, Code::BadRequest, "{target}");
        }
    }

    #[test]
    fn a_query_names_only_the_routes_parameters_once() {
        let route = |operation: &str| {
            routes::ROUTES
                .iter()
                .find(|route| route.operation_id == operation)
                .expect("route")
        };
        let refused = |operation: &str, query: &str| {
            let problem = check_query(route(operation), Some(query)).expect_err(query);
            assert_eq!(problem.code, Code::BadRequest, "{operation}?{query}");
            problem.extra["field"].as_str().expect("field").to_owned()
        };
        for (operation, query) in [
            ("recordEnvelope", ""),
            ("recordEnvelope", "&&"),
            ("listSegments", "after=3&limit=10"),
            ("listSegments", "limit=10&"),
            ("getEnvelope", "seq=7"),
            ("getHealth", ""),
        ] {
            assert!(
                check_query(route(operation), Some(query)).is_ok(),
                "{operation}?{query}"
            );
        }
        assert!(check_query(route("recordEnvelope"), None).is_ok());
        assert_eq!(refused("recordEnvelope", "bogus=1"), "bogus");
        assert_eq!(refused("recordEnvelopeBatch", "x"), "x");
        assert_eq!(refused("queryEnvelopes", "limit=5"), "limit");
        assert_eq!(refused("getActiveSegment", "bogus=1"), "bogus");
        assert_eq!(refused("getHealth", "nocache=1"), "nocache");
        assert_eq!(refused("listSegments", "limit=1&limit=2"), "limit");
        assert_eq!(refused("getEnvelope", "seq=1&seq=1"), "seq");
        assert_eq!(refused("getEnvelope", "seq=1&Seq=1"), "Seq");
        assert_eq!(refused("downloadBundle", "id=ab&%69d=cd"), "%69d");
    }

    #[test]
    fn a_zero_weight_refuses_a_media_range_however_spelled() {
        for zero in ["q=0", "Q=0", "q=0.", "q=0.0", "q=0.000", " q = 0 "] {
            assert!(is_zero_weight(zero), "{zero}");
        }
        for weight in ["q=0.001", "q=1", "q=0.0000", "q=00", "q=", "level=0", "q0"] {
            assert!(!is_zero_weight(weight), "{weight}");
        }
        let route = routes::ROUTES
            .iter()
            .find(|route| route.operation_id == "getHealth")
            .expect("route");
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            check_accept(&headers, route).map_err(|problem| problem.code)
        };
        assert_eq!(accept("application/json;Q=0"), Err(Code::NotAcceptable));
        assert_eq!(accept("application/json;q=0."), Err(Code::NotAcceptable));
        assert_eq!(accept("application/json;q=0.5"), Ok(()));
        assert_eq!(accept("text/html, */*;q=0.1"), Ok(()));
    }

    #[test]
    fn host_ports_are_stripped() {
        for (host, name) in [
            ("localhost:7878", "localhost"),
            ("localhost", "localhost"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("[::1]:7878", "[::1]"),
            ("[::1]", "[::1]"),
            ("example.com:x", "example.com:x"),
        ] {
            assert_eq!(strip_port(host), name, "{host}");
        }
    }
}
