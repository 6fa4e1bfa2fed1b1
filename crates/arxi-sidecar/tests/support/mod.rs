//! Test harness: start an in-process sidecar on port 0 and a temp Unix
//! socket, speak raw HTTP/1.1 to it, and check problem bodies against the
//! RFC 9457 schema in `../shared/vectors/problem-details`.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// How to configure a test server.
#[derive(Debug, Clone)]
pub struct Options {
    pub token: bool,
    pub io_driver: &'static str,
    pub workers: usize,
    pub limits: String,
    pub probes: String,
    /// More `[recorder]` keys (e.g. `envelope_version = 2`).
    pub recorder: String,
    pub extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: false,
            io_driver: "auto",
            workers: 2,
            limits: String::new(),
            probes: String::new(),
            recorder: String::new(),
            extra: String::new(),
        }
    }
}

/// A running in-process server and its directory.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub server: Option<arxi_sidecar::ServerHandle>,
    pub addr: SocketAddr,
    pub socket: PathBuf,
}

pub use arxi_testkit::write_secret;

/// The configuration text for `options` in `dir`.
pub fn config_text(dir: &Path, options: &Options) -> String {
    let security = if options.token {
        write_secret(&dir.join("token"), TOKEN);
        "[security]\nmode = \"token\"\ntoken_file = \"token\"\n".to_owned()
    } else {
        "[security]\nmode = \"none\"\n".to_owned()
    };
    format!(
        "config_version = 1\n[api]\nmajor_version = 1\n\
         [recorder]\nid = \"test-recorder\"\ndata_dir = \"data\"\n{recorder}\n\
         [transport]\nworkers = {workers}\nio_driver = \"{driver}\"\n\
         [transport.tcp]\nhost = \"127.0.0.1\"\nport = 0\n\
         [transport.unix]\npath = \"sock/arxi.sock\"\nmode = \"0600\"\n\
         {security}\
         [signer]\nkey_file = \"signer.key\"\ngenerate_if_missing = true\n\
         [limits]\n{limits}\n[probes]\n{probes}\n[shutdown]\nshutdown_drain_seconds = 5\n{extra}",
        workers = options.workers,
        driver = options.io_driver,
        limits = options.limits,
        probes = options.probes,
        recorder = options.recorder,
        extra = options.extra,
    )
}

impl Harness {
    pub fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, &options)
    }

    pub fn start_in(dir: tempfile::TempDir, options: &Options) -> Self {
        let text = config_text(dir.path(), options);
        let config = arxi_sidecar_config::parse(&text, dir.path(), "test")
            .unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"));
        let server = arxi_sidecar::start(config).unwrap_or_else(|e| panic!("start: {e}"));
        let addr = server.tcp_addr().expect("tcp");
        let socket = server.unix_path().expect("unix").to_path_buf();
        Self {
            dir,
            server: Some(server),
            addr,
            socket,
        }
    }

    pub fn server(&self) -> &arxi_sidecar::ServerHandle {
        self.server.as_ref().expect("running")
    }

    /// Sends one request over TCP and reads the whole response.
    pub fn send(&self, request: &[u8]) -> Response {
        send_tcp(self.addr, request)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(&request("GET", path, headers, None))
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        self.send(&request("POST", path, headers, Some(body)))
    }

    pub fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().expect("clean shutdown");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.shutdown();
        }
    }
}

pub use arxi_testkit::http::Response;
pub use arxi_testkit::{eventually, wait_for};

/// Builds a request: Host localhost, Connection close, JSON body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Vec<u8> {
    arxi_testkit::http::request(method, path, headers, body.map(str::as_bytes))
}

/// Parses one response; panics when it is not one.
pub fn parse_response(raw: &[u8]) -> Response {
    arxi_testkit::http::parse(raw)
        .unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(raw)))
}

pub fn send_tcp(addr: SocketAddr, request: &[u8]) -> Response {
    arxi_testkit::http::send(&addr.to_string(), request).expect("a response over TCP")
}

pub fn send_unix(path: &Path, request: &[u8]) -> Response {
    let address = path.to_str().expect("a UTF-8 socket path");
    arxi_testkit::http::send(address, request).expect("a response over the Unix socket")
}

// ---- RFC 9457 schema (../shared/vectors/problem-details) ----

pub fn vectors_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARXI_VECTORS_DIR") {
        return PathBuf::from(dir);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for candidate in [
        workspace.join("../shared/vectors"),
        PathBuf::from("/work/shared/vectors"),
    ] {
        if candidate.join("README.md").is_file() {
            return candidate;
        }
    }
    panic!("third-party vectors not found; set ARXI_VECTORS_DIR");
}

pub fn problem_schema() -> Value {
    let path = vectors_dir().join("problem-details/rfc9457-appendix-a.schema.json");
    serde_json::from_slice(&std::fs::read(&path).expect("schema")).expect("schema JSON")
}

/// Validates `value` against the subset of JSON Schema the RFC 9457 schema
/// uses: `type`, `properties`, `minimum`, `maximum`, `format:
/// uri-reference`. Returns the first violation.
pub fn validate_schema(schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            other => {
                return Err(format!(
                    "schema type {other} not supported by this validator"
                ));
            }
        };
        if !ok {
            return Err(format!("{value} is not of type {kind}"));
        }
    }
    let number = value.as_f64();
    if let Some(minimum) = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .filter(|minimum| number.is_some_and(|v| v < *minimum))
    {
        return Err(format!("{value} < minimum {minimum}"));
    }
    if let Some(maximum) = schema
        .get("maximum")
        .and_then(Value::as_f64)
        .filter(|maximum| number.is_some_and(|v| v > *maximum))
    {
        return Err(format!("{value} > maximum {maximum}"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("uri-reference") {
        let text = value.as_str().unwrap_or_default();
        if !is_uri_reference(text) {
            return Err(format!("{text:?} is not a URI reference"));
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, subschema) in properties {
            if let Some(member) = object.get(name) {
                validate_schema(subschema, member).map_err(|e| format!("{name}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// RFC 3986 URI-reference: allowed characters, valid percent-escapes, and a
/// well-formed scheme when there is one.
fn is_uri_reference(text: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if !text.bytes().all(allowed) {
        return false;
    }
    let bytes = text.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'%'
            && !(bytes.get(index + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(index + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return false;
        }
    }
    match text.split_once(':') {
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            scheme
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        }
        _ => true,
    }
}

/// Checks a problem response: media type, the RFC 9457 schema, our
/// members, the correlation id, and returns the body.
/// Builds a bundle of every sealed segment (`POST /v1/bundles/build`
/// with an empty body) and answers its id.
pub fn build_all_sealed(server: &Harness) -> String {
    let built = server.post("/v1/bundles/build", &[], "{}");
    assert_eq!(built.status, 201, "{}", built.text());
    built.json()["bundle"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub fn assert_problem(response: &Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status, status, "status; body {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "media type of {code}"
    );
    let body = response.json();
    validate_schema(&problem_schema(), &body)
        .unwrap_or_else(|e| panic!("{code}: schema: {e}; {body}"));
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(
        body["type"],
        format!("https://arxi.invalid/problems/{code}"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert!(body["retryable"].is_boolean(), "{body}");
    let correlation = response
        .header("x-arxi-correlation-id")
        .expect("correlation header");
    assert_eq!(body["correlation_id"], correlation, "{body}");
    body
}
