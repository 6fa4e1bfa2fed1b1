//! `arxi-control-plane-stub`: a real control plane for the system tests
//! (never shipped). It serves the three routes the sidecar calls, does
//! what it is told, and records what it receives.
//!
//! ```text
//! arxi-control-plane-stub [--port N] [--token TOKEN]
//! ```
//!
//! Prints `listening 127.0.0.1:PORT` on stdout once bound. Every answer
//! goes out in one write on a socket with `TCP_NODELAY`: written as head
//! then body with Nagle on, the body waited for the sidecar's delayed ACK
//! (about 40 ms per call, which made enterprise mode look 20 times slower
//! than it is; issue 23).
//!
//! - `POST /v1/enterprise/ingress/check`: by mode `ingress`: `allow`
//!   (200 `{"decision":"allow"}`), `deny` (200 `{"decision":"deny",
//!   "reason":...}`), `fail` (500), `refuse` (401, as a control plane
//!   that refuses the sidecar's token), `hang` (no answer for 30 s),
//!   `ambiguous` (200 `{"decision":"deny","decision":"allow"}`: a member
//!   twice), `oversized` (200 `{"decision":"allow"}` padded past 64 KiB).
//! - `POST /v1/enterprise/sidecar/hooks`: by mode `hooks`: `ok` (204),
//!   `fail` (500), `hang`; `fail_result` fails result-phase hooks only.
//! - `GET /health` (and any other GET): by mode `health`: `ok`, `fail`,
//!   `hang`.
//! - `POST /_stub/mode` with `{"ingress"?, "hooks"?, "health"?,
//!   "deny_reason"?}` changes modes; `GET /_stub/requests` lists what the
//!   enterprise routes received (method, path, authorization, body);
//!   `GET /_stub/connections` counts the connections that carried them;
//!   `POST /_stub/reset` forgets them; `POST /_stub/down` answers and
//!   exits (the control plane goes down).
//!
//! With `--token`, the enterprise routes answer 401 to any other bearer.

#![forbid(unsafe_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug)]
struct Modes {
    ingress: String,
    hooks: String,
    health: String,
    deny_reason: String,
}

#[derive(Debug)]
struct Stub {
    modes: Mutex<Modes>,
    requests: Mutex<Vec<Value>>,
    token: Option<String>,
    /// Connections that carried at least one control-plane request.
    connections: std::sync::atomic::AtomicU64,
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

const USAGE: &str = "usage: arxi-control-plane-stub [--port N] [--token TOKEN]

A stand-in enterprise control plane for tests and benchmarks (never shipped).
Listens on 127.0.0.1:N (0 or absent: any free port) and prints
`listening 127.0.0.1:PORT` once bound. Serves POST /v1/enterprise/ingress/check,
POST /v1/enterprise/sidecar/hooks and GET /health; POST /_stub/mode with
{\"ingress\": allow|deny|fail|refuse|ambiguous|oversized|hang, \"hooks\": ok|fail|fail_result|hang,
\"health\": ok|fail|hang, \"deny_reason\": TEXT} changes what they answer;
GET /_stub/requests lists what they received. With --token, the enterprise
routes answer 401 to any other bearer token.";

fn main() {
    let mut port = 0_u16;
    let mut token = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(value) => port = value,
                None => {
                    eprintln!("arxi-control-plane-stub: --port needs a number\n\n{USAGE}");
                    std::process::exit(64);
                }
            },
            "--token" => token = args.next(),
            other => {
                eprintln!("arxi-control-plane-stub: unexpected argument {other:?}\n\n{USAGE}");
                std::process::exit(64);
            }
        }
    }
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("arxi-control-plane-stub: binding port {port}: {error}");
            std::process::exit(1);
        }
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("listening {address}");
    let _ = std::io::stdout().flush();
    let stub = Arc::new(Stub {
        modes: Mutex::new(Modes {
            ingress: "allow".into(),
            hooks: "ok".into(),
            health: "ok".into(),
            deny_reason: "policy says no".into(),
        }),
        requests: Mutex::new(Vec::new()),
        token,
        connections: std::sync::atomic::AtomicU64::new(0),
    });
    for stream in listener.incoming().flatten() {
        let stub = Arc::clone(&stub);
        std::thread::spawn(move || serve(&stub, stream));
    }
}

fn serve(stub: &Stub, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = writer;
    let mut counted = false;
    // Keep-alive: one request after another until the peer closes.
    while let Some(request) = read_request(&mut reader) {
        if !counted && !request.path.starts_with("/_stub/") {
            counted = true;
            stub.connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match answer(stub, &request) {
            Some((status, body)) => {
                // Head and body in one write (see the module comment).
                let whole = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                if writer.write_all(whole.as_bytes()).is_err() {
                    return;
                }
                if request.path == "/_stub/down" {
                    let _ = writer.flush();
                    std::process::exit(0);
                }
            }
            None => {
                // Hang: say nothing, then drop the connection.
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
        }
        if close {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if headers.len() > 100 {
            return None;
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0_u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// `POST /_stub/mode`: the members given replace the modes.
fn set_modes(stub: &Stub, body: &[u8]) {
    let update: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut guard = stub.modes.lock().unwrap_or_else(|e| e.into_inner());
    let modes = &mut *guard;
    for (key, slot) in [
        ("ingress", &mut modes.ingress),
        ("hooks", &mut modes.hooks),
        ("health", &mut modes.health),
    ] {
        if let Some(value) = update.get(key).and_then(Value::as_str) {
            *slot = value.to_owned();
        }
    }
    if let Some(value) = update.get("deny_reason").and_then(Value::as_str) {
        modes.deny_reason = value.to_owned();
    }
}

/// The ingress check's answer in mode `mode` (`None`: no answer).
fn ingress_answer(mode: &str, deny_reason: &str) -> Option<(u16, String)> {
    match mode {
        "allow" => Some((200, json!({"decision": "allow"}).to_string())),
        "deny" => Some((
            200,
            json!({"decision": "deny", "reason": deny_reason}).to_string(),
        )),
        "refuse" => Some((401, json!({"error": "bad token"}).to_string())),
        "ambiguous" => Some((200, r#"{"decision":"deny","decision":"allow"}"#.into())),
        "oversized" => Some((
            200,
            json!({"decision": "allow", "padding": "x".repeat(70_000)}).to_string(),
        )),
        "hang" => None,
        _ => fail(),
    }
}

/// The answer of a failing mode.
fn fail() -> Option<(u16, String)> {
    Some((500, json!({"error": "stub failure"}).to_string()))
}

/// `Some((status, body))`, or `None` to hang.
fn answer(stub: &Stub, request: &Request) -> Option<(u16, String)> {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/_stub/mode") => {
            set_modes(stub, &request.body);
            return Some((200, json!({"ok": true}).to_string()));
        }
        ("GET", "/_stub/connections") => {
            let count = stub.connections.load(std::sync::atomic::Ordering::Relaxed);
            return Some((200, json!({"connections": count}).to_string()));
        }
        ("GET", "/_stub/requests") => {
            let requests = stub.requests.lock().unwrap_or_else(|e| e.into_inner());
            return Some((200, Value::Array(requests.clone()).to_string()));
        }
        ("POST", "/_stub/reset") => {
            stub.requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            return Some((200, json!({"ok": true}).to_string()));
        }
        ("POST", "/_stub/down") => return Some((200, json!({"down": true}).to_string())),
        _ => {}
    }
    let body_text = String::from_utf8_lossy(&request.body).into_owned();
    let hook_phase = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|v| v.get("phase").and_then(Value::as_str).map(str::to_owned));
    stub.requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(json!({
            "method": request.method,
            "path": request.path,
            "authorization": request.header("authorization"),
            "content_type": request.header("content-type"),
            "host": request.header("host"),
            "body": body_text,
        }));
    let modes = stub.modes.lock().unwrap_or_else(|e| e.into_inner());
    let (ingress, hooks, health, deny_reason) = (
        modes.ingress.clone(),
        modes.hooks.clone(),
        modes.health.clone(),
        modes.deny_reason.clone(),
    );
    drop(modes);
    if request.method == "POST"
        && let Some(expected) = &stub.token
        && request.header("authorization") != Some(&format!("Bearer {expected}"))
    {
        return Some((401, json!({"error": "bad token"}).to_string()));
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v1/enterprise/ingress/check") => ingress_answer(&ingress, &deny_reason),
        ("POST", "/v1/enterprise/sidecar/hooks") => match hooks.as_str() {
            "ok" => Some((204, String::new())),
            "hang" => None,
            "fail_result" if hook_phase.as_deref() != Some("result") => Some((204, String::new())),
            _ => fail(),
        },
        ("GET", _) => match health.as_str() {
            "ok" => Some((200, json!({"status": "ok"}).to_string())),
            "hang" => None,
            _ => fail(),
        },
        _ => Some((404, json!({"error": "no such route"}).to_string())),
    }
}
