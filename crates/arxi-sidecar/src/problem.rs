//! RFC 9457 problem details: the one registry of error codes and the one
//! place that turns an error into a response.
//!
//! Every error response is `application/problem+json` with a stable
//! snake_case `code` (the last segment of its `type` URI), `retryable` and (for overload and unavailability)
//! `retry_after_seconds` and `retry_after_ms` plus a `Retry-After` header,
//! and the correlation ids. `retry_after_ms` is the hint a millisecond
//! service needs: computed from the queue that refused the request where
//! there is one (the recorder's write queue, a worker's admission queue),
//! else the registry's seconds; `Retry-After` carries it rounded up to whole
//! seconds, as HTTP requires. Server faults (5xx) carry only the registry's generic text as
//! `detail`; the specific detail goes to the log with the correlation id. The registry is exported
//! to `Docs/generated/arxi/apis/sidecar.errors.json` and a test fails if the
//! file and this table differ.

use crate::response_body::ResponseBody;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri};
use problem_details::{JsonProblemDetails, ProblemDetails};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One registry entry.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// Stable snake_case code.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// Short human title.
    pub title: &'static str,
    /// Whether retrying the same request may succeed.
    pub retryable: bool,
    /// Suggested wait before retrying, in seconds.
    pub retry_after_seconds: Option<u32>,
    /// What it means, and what to do.
    pub description: &'static str,
}

macro_rules! registry {
    ($($variant:ident => ($code:literal, $status:literal, $title:literal, $retryable:literal, $retry_after:expr, $description:literal)),* $(,)?) => {
        /// Every error the sidecar answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(
                #[doc = $description]
                $variant,
            )*
        }

        impl Code {
            /// The whole registry, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// This code's entry.
            pub fn info(self) -> CodeInfo {
                match self {
                    $(Code::$variant => CodeInfo {
                        code: $code,
                        status: $status,
                        title: $title,
                        retryable: $retryable,
                        retry_after_seconds: $retry_after,
                        description: $description,
                    },)*
                }
            }
        }
    };
}

registry! {
    BadRequest => ("bad_request", 400, "Bad request", false, None,
        "The request is malformed (for example a missing or conflicting Host, an absolute-form target, or invalid query parameters)."),
    MalformedJson => ("malformed_json", 400, "Malformed JSON", false, None,
        "The body is not valid JSON; `detail` names the byte offset."),
    DuplicateJsonKey => ("duplicate_json_key", 422, "Duplicate JSON key", false, None,
        "An object in the body has the same key twice; canonical evidence cannot hold both."),
    IntegerOutOfRange => ("integer_out_of_range", 422, "Integer out of range", false, None,
        "A number lies outside ±(2^53-1), where JSON readers round; send it as a string."),
    NumberOutOfRange => ("number_out_of_range", 422, "Number out of range", false, None,
        "A number overflows an IEEE 754 double, or is not zero but too small for one (it would be stored as 0)."),
    NoncharacterInString => ("noncharacter_in_string", 422, "Unicode noncharacter in a string", false, None,
        "A string holds a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF), which I-JSON (RFC 7493 §2.1) forbids; `offset` is the string's byte offset."),
    JsonTooDeep => ("json_too_deep", 422, "JSON nested too deeply", false, None,
        "Arrays and objects are nested deeper than 64 levels in the body (so a payload, which the body holds, at most 63)."),
    ValidationFailed => ("validation_failed", 422, "Validation failed", false, None,
        "A field breaks a rule; `field` names it and `detail` says why."),
    DuplicateHeader => ("duplicate_header", 400, "Header field repeated", false, None,
        "A header field that must appear at most once (Authorization, Content-Length, Content-Type, Host, Idempotency-Key, Transfer-Encoding) appears more than once; `header` names it."),
    InvalidCursor => ("invalid_cursor", 400, "Invalid cursor", false, None,
        "The query cursor was not issued by this recorder."),
    InvalidIdempotencyKey => ("invalid_idempotency_key", 400, "Invalid Idempotency-Key", false, None,
        "The Idempotency-Key header must be 1 to 255 visible ASCII characters."),
    Unauthorized => ("unauthorized", 401, "Unauthorized", false, None,
        "A valid bearer token is required (RFC 6750); see the WWW-Authenticate header."),
    WrongPlane => ("wrong_plane", 403, "Token not valid for this plane", false, None,
        "The token is valid but belongs to another privilege plane (control, data, read)."),
    NamespaceForbidden => ("namespace_forbidden", 403, "Event type outside the token's namespaces", false, None,
        "The data token may only record event types in its configured namespaces."),
    EnterpriseDenied => ("enterprise_denied", 403, "Denied by the control plane", false, None,
        "The enterprise control plane refused the operation."),
    IdentityRequired => ("identity_required", 401, "Enterprise identity required", false, None,
        "Enterprise mode needs the x-tenant-id, x-principal-id and x-authn-method headers."),
    WriterLeaseRequired => ("writer_lease_required", 428, "Writer lease required", false, None,
        "In managed_cloud mode every mutation must carry the x-writer-lease header."),
    NotFound => ("not_found", 404, "Not found", false, None,
        "No such route or resource."),
    MethodNotAllowed => ("method_not_allowed", 405, "Method not allowed", false, None,
        "The route exists for other methods; see the Allow header."),
    NotAcceptable => ("not_acceptable", 406, "Not acceptable", false, None,
        "The Accept header excludes every media type this route produces."),
    IdempotencyConflict => ("idempotency_conflict", 409, "Idempotency key reused", false, None,
        "The Idempotency-Key was used before with a different request."),
    ConfigReloadRefused => ("config_reload_refused", 409, "Configuration reload refused", false, None,
        "The configuration file is invalid or changes a setting only a restart applies; the running configuration stays. `reasons` lists every problem by key."),
    SegmentAlreadyOpen => ("segment_already_open", 409, "A segment is already open", false, None,
        "Seal the open segment before opening another."),
    NoOpenSegment => ("no_open_segment", 409, "No open segment", false, None,
        "There is no open segment to seal."),
    NothingToErase => ("nothing_to_erase", 409, "Nothing to erase", false, None,
        "No envelope named has a committed payload left to erase: each is a version 1 envelope (its payload is in the signed envelope), already erased, or not found; `skipped` says which. Nothing was recorded."),
    KeyInUse => ("key_in_use", 409, "Key in use", false, None,
        "The key named is the one the recorder signs with: its revocation would be signed by the revoked key. Restart with a new signing key (a rotation), then revoke the old one. Nothing was recorded."),
    SegmentNotSealed => ("segment_not_sealed", 409, "Segment not sealed", false, None,
        "A bundle holds sealed segments only; seal the segment first (POST /v1/segments/seal)."),
    RangePruned => ("range_pruned", 410, "Pruned locally, archived", false, None,
        "The envelopes asked for (or the neighbouring envelopes an inclusion proof is computed from) were pruned locally after they were archived: `object_keys` names the archive objects that hold them (verify them with `arxi-archive verify`), `pruned_through_seq` the last pruned sequence number (a query from the next one answers locally)."),
    KeyNotFound => ("key_not_found", 404, "Key not found", false, None,
        "The key named is not one this recorder has signed with (`GET /v1/keys` lists them): a revocation names only this recorder's own keys. Nothing was recorded."),
    BundleNotFound => ("bundle_not_found", 404, "Bundle not found", false, None,
        "No bundle with this id is in the bundle directory."),
    EnvelopeNotFound => ("envelope_not_found", 404, "Envelope not found", false, None,
        "No envelope has this sequence number (yet)."),
    NotWitnessedYet => ("not_witnessed_yet", 409, "Not covered by a witnessed checkpoint yet", true, Some(1),
        "The envelope is recorded, but no witnessed checkpoint covers it yet (checkpoints are signed every log.checkpoint_interval_ms and then cosigned); retry after Retry-After."),
    LengthRequired => ("length_required", 411, "Length required", false, None,
        "A request body needs Content-Length (or chunked transfer encoding)."),
    PayloadTooLarge => ("payload_too_large", 413, "Payload too large", false, None,
        "The body, an attachment or the envelope exceeds its configured limit."),
    UnsupportedMediaType => ("unsupported_media_type", 415, "Unsupported media type", false, None,
        "The body must be application/json."),
    UriTooLong => ("uri_too_long", 414, "Request target too long", false, None,
        "The request target is longer than the server accepts."),
    HeadersTooLarge => ("headers_too_large", 431, "Request headers too large", false, None,
        "The request head exceeds max_header_bytes or max_headers."),
    RequestCapacityExhausted => ("request_capacity_exhausted", 429, "Too many requests", true, Some(1),
        "Every request slot and the admission queue are full; retry after Retry-After."),
    BundleBusy => ("bundle_busy", 429, "Bundle work queue full", true, Some(5),
        "Bundles are built, verified and inspected one at a time behind a short queue; retry after Retry-After (with the same Idempotency-Key for a build)."),
    RecorderOverloaded => ("recorder_overloaded", 429, "Recorder queue full", true, Some(1),
        "The recorder's write queue is full; retry after Retry-After with the same Idempotency-Key."),
    UnsupportedTransferCoding => ("unsupported_transfer_coding", 501, "Transfer coding not implemented", false, None,
        "The request uses a transfer coding other than chunked (RFC 9112 §6.1); nothing was recorded."),
    InternalError => ("internal_error", 500, "Internal error", true, Some(1),
        "An unexpected server fault; the log holds the details under the correlation id."),
    EnterpriseHookFailed => ("enterprise_hook_failed", 502, "Enterprise hook export failed", true, Some(1),
        "An enterprise audit hook was not accepted; `phase` says which. `admission`: the operation did not run and nothing was recorded. `result`: the operation was done; retry with the same Idempotency-Key to get its answer once the hook is exported."),
    StorageUnavailable => ("storage_unavailable", 503, "Storage unavailable", true, Some(1),
        "The store could not read or write; nothing of the request was recorded."),
    SignerUnavailable => ("signer_unavailable", 503, "Signer unavailable", true, Some(1),
        "The signing key (held in a PKCS#11 token) made no signature: the token refused, is gone or answered a signature that does not verify. Nothing of the request was recorded; the recorder tries the token again with the next request."),
    IdempotencyUnavailable => ("idempotency_unavailable", 503, "Idempotency store unavailable", true, Some(1),
        "The idempotency record could not be read or written, so the request was not performed (fail closed)."),
    ClockUnavailable => ("clock_unavailable", 503, "Clock out of range", true, Some(1),
        "The host clock reads a time outside what evidence can carry (1970-9999); nothing was recorded. Fix the clock."),
    RequestTimeout => ("request_timeout", 503, "Request timed out", true, Some(1),
        "The request did not finish within request_timeout_ms; a mutation may still complete, so retry with the same Idempotency-Key."),
    NotReady => ("not_ready", 503, "Not ready", true, Some(1),
        "Readiness failed; `reason` is storage_unavailable, signer_unavailable, request_capacity_exhausted, enterprise_control_unavailable, witness_lag or shutting_down."),
    CheckpointUnavailable => ("checkpoint_unavailable", 503, "No witnessed checkpoint", true, Some(1),
        "No checkpoint has reached witness.quorum cosignatures yet (or nothing is recorded yet); `GET /v1/log` shows each witness's state."),
    ShuttingDown => ("shutting_down", 503, "Shutting down", true, Some(5),
        "The sidecar is draining and accepts no new work."),
    EnterpriseControlUnavailable => ("enterprise_control_unavailable", 503, "Control plane unavailable", true, Some(1),
        "The enterprise control plane gave no decision; `reason` says why: control_plane_down (no connection), control_plane_timeout (no answer within enterprise.timeout_ms), control_plane_refused (it answered 401/403: it refused the sidecar's token) or control_plane_invalid_answer."),
}

impl Code {
    /// The `type` URI of this problem: an identifier on the reserved
    /// `.invalid` domain (RFC 6761), absolute as RFC 9457 recommends, never
    /// dereferenced. (`http::Uri`, which problem_details uses, cannot hold a
    /// `urn:` URI.)
    pub fn type_uri(self) -> String {
        format!("{TYPE_PREFIX}{}", self.info().code)
    }
}

/// The members [`render`] writes: the RFC 9457 ones and ours. Extensions
/// take other names.
pub const RESERVED_MEMBERS: [&str; 11] = [
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "code",
    "retryable",
    "retry_after_seconds",
    "retry_after_ms",
    "correlation_id",
    "client_correlation_id",
];

/// The common prefix of every problem `type`.
pub const TYPE_PREFIX: &str = "https://arxi.invalid/problems/";

/// The registry as exported to `Docs/generated/arxi/apis/sidecar.errors.json`.
pub fn registry_json() -> Value {
    let codes: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            let info = code.info();
            json!({
                "code": info.code,
                "type": code.type_uri(),
                "status": info.status,
                "title": info.title,
                "retryable": info.retryable,
                "retry_after_seconds": info.retry_after_seconds,
                "description": info.description,
            })
        })
        .collect();
    json!({
        "media_type": "application/problem+json",
        "type_prefix": TYPE_PREFIX,
        "codes": codes,
    })
}

/// An error on its way to becoming a response.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Which error.
    pub code: Code,
    /// Specific detail for the client (dropped for 5xx).
    pub detail: Option<String>,
    /// Extra members (`field`, `reason`, ...).
    pub extra: Map<String, Value>,
    /// Response headers beyond the defaults (`Allow`, ...).
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// The retry hint computed from the queue that refused the request;
    /// `None`: the registry's `retry_after_seconds`. (u32: hints are
    /// bounded to seconds, and a problem travels inside the framing gate's
    /// refusals, which must stay small.)
    pub retry_after_ms: Option<u32>,
}

impl Problem {
    /// A problem with no detail.
    pub fn new(code: Code) -> Self {
        Self {
            code,
            detail: None,
            extra: Map::new(),
            headers: Vec::new(),
            retry_after_ms: None,
        }
    }

    /// Sets the computed retry hint (only codes with a registry
    /// `retry_after_seconds` carry one).
    pub fn retry_after_ms(mut self, milliseconds: u64) -> Self {
        assert!(
            self.code.info().retry_after_seconds.is_some(),
            "{} carries no retry hint",
            self.code.info().code
        );
        self.retry_after_ms = Some(u32::try_from(milliseconds).unwrap_or(u32::MAX));
        self
    }

    /// The hint in milliseconds and the `Retry-After` seconds, when this
    /// code carries one.
    pub fn retry_after(&self) -> Option<(u64, u64)> {
        let seconds = u64::from(self.code.info().retry_after_seconds?);
        Some(match self.retry_after_ms {
            None => (seconds * 1_000, seconds),
            Some(ms) => (u64::from(ms), u64::from(ms).div_ceil(1_000).max(1)),
        })
    }

    /// Adds the detail text.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member. Its name is never one of the members the
    /// renderer writes itself ([`RESERVED_MEMBERS`]): the body would carry
    /// two members of one name.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        assert!(
            !RESERVED_MEMBERS.contains(&key),
            "problem extension {key:?} would repeat a member the renderer writes"
        );
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Correlation ids put on every problem.
#[derive(Debug, Clone, Copy)]
pub struct Correlation<'a> {
    /// The server's id for this request.
    pub server: &'a str,
    /// The client's sanitized id, if any.
    pub client: Option<&'a str>,
    /// The trace id of the caller's valid `traceparent`, if any (logged,
    /// not put in the body).
    pub trace: Option<&'a str>,
}

#[derive(Serialize)]
struct Extensions<'a> {
    code: &'static str,
    retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
    correlation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_correlation_id: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Renders a problem as an HTTP response.
pub fn render(
    problem: &Problem,
    correlation: Correlation<'_>,
    instance: &str,
) -> http::Response<ResponseBody> {
    let info = problem.code.info();
    let status = StatusCode::from_u16(info.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let server_fault = status.is_server_error();
    let mut details = ProblemDetails::new()
        .with_type(
            problem
                .code
                .type_uri()
                .parse::<Uri>()
                .unwrap_or_else(|_| Uri::from_static("about:blank")),
        )
        .with_status(status)
        .with_title(info.title);
    // 5xx bodies carry no internals: the registry text only.
    let detail = if server_fault {
        Some(info.description.to_owned())
    } else {
        problem.detail.clone()
    };
    if let Some(detail) = detail {
        details = details.with_detail(detail);
    }
    if let Ok(uri) = instance.parse::<Uri>() {
        details = details.with_instance(uri);
    }
    let retry_after = problem.retry_after();
    let extensions = Extensions {
        code: info.code,
        retryable: info.retryable,
        retry_after_seconds: retry_after.map(|(_, seconds)| seconds),
        retry_after_ms: retry_after.map(|(ms, _)| ms),
        correlation_id: correlation.server,
        client_correlation_id: correlation.client,
        // Extension members are facts chosen by the handler (`reason`,
        // `field`); internals only ever travel in `detail`.
        extra: &problem.extra,
    };
    let body = JsonProblemDetails::from(details.with_extensions(extensions))
        .to_body_string()
        .unwrap_or_else(|_| format!("{{\"status\":{},\"code\":\"{}\"}}", info.status, info.code));
    let mut response = http::Response::new(ResponseBody::whole(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some((_, seconds)) = retry_after {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    for (name, value) in &problem.headers {
        headers.insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[test]
    fn codes_are_unique_snake_case_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let info = code.info();
            assert!(seen.insert(info.code), "duplicate {}", info.code);
            assert!(
                info.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                info.code
            );
            assert!((400..600).contains(&info.status), "{}", info.code);
            if info.status == 429 || info.status == 503 {
                assert!(
                    info.retryable && info.retry_after_seconds.is_some(),
                    "{}",
                    info.code
                );
            }
        }
    }

    #[test]
    fn server_faults_hide_details() {
        let problem = Problem::new(Code::StorageUnavailable)
            .detail("disk I/O error at /var/lib/arxi/arxi.db")
            .with("reason", "storage_unavailable");
        let response = render(
            &problem,
            Correlation {
                server: "s-1",
                client: None,
                trace: None,
            },
            "/v1/envelopes",
        );
        let body = String::from_utf8(futures_body(response.into_body())).expect("utf8");
        assert!(!body.contains("/var/lib"), "{body}");
        assert!(body.contains("\"code\":\"storage_unavailable\""), "{body}");
        assert!(
            body.contains("\"reason\":\"storage_unavailable\""),
            "{body}"
        );
        assert!(
            body.contains("\"type\":\"https://arxi.invalid/problems/storage_unavailable\""),
            "{body}"
        );
    }

    /// The retry hint in the body and the header, for (code, computed
    /// hint) -> (retry_after_ms, Retry-After seconds).
    #[test]
    fn retry_hints_in_milliseconds_and_whole_seconds() {
        let check = |code: Code, computed: Option<u64>, expected: Option<(u64, u64)>| {
            let mut problem = Problem::new(code);
            if let Some(ms) = computed {
                problem = problem.retry_after_ms(ms);
            }
            let response = render(
                &problem,
                Correlation {
                    server: "s-1",
                    client: None,
                    trace: None,
                },
                "/v1/envelopes",
            );
            let header = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .map(|value| value.to_str().expect("ascii").to_owned());
            let body: Value = serde_json::from_slice(&futures_body(response.into_body()))
                .expect("a JSON problem");
            let found = body["retry_after_ms"]
                .as_u64()
                .zip(body["retry_after_seconds"].as_u64());
            assert_eq!(found, expected, "{code:?} {computed:?}: {body}");
            assert_eq!(
                header,
                expected.map(|(_, seconds)| seconds.to_string()),
                "{code:?} {computed:?}"
            );
        };
        check(Code::RecorderOverloaded, Some(3), Some((3, 1)));
        check(Code::RecorderOverloaded, Some(1_000), Some((1_000, 1)));
        check(Code::RecorderOverloaded, Some(2_500), Some((2_500, 3)));
        check(
            Code::RequestCapacityExhausted,
            Some(5_000),
            Some((5_000, 5)),
        );
        check(Code::StorageUnavailable, None, Some((1_000, 1)));
        check(Code::BundleBusy, None, Some((5_000, 5)));
        check(Code::ValidationFailed, None, None);
    }

    fn futures_body(body: ResponseBody) -> Vec<u8> {
        use http_body_util::BodyExt as _;
        let collected = futures_lite_block_on(body.collect());
        collected.map(|c| c.to_bytes().to_vec()).unwrap_or_default()
    }

    /// A minimal executor for an always-ready future.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }
}
