//! The operator commands that call a running sidecar (`arxi-sidecar erase`
//! and `arxi-sidecar bundle export`): their arguments, and one HTTP/1.1
//! request at a time over TCP or the Unix socket, `Connection: close`, the
//! answer's body streamed into a sink (a bundle goes straight to its file,
//! never whole into memory).
//!
//! Plain blocking std networking with a deadline, like the healthcheck it
//! shares its target with ([`crate::healthcheck::Target`]). Not a general
//! client: it reads a response framed by `Content-Length` (or by the end of
//! the connection) and refuses chunked answers, which no route it calls
//! sends.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::healthcheck::{self, Target};

/// How long one request may take (a bundle build and download included).
const TIMEOUT: Duration = Duration::from_secs(600);

/// Why an operator command did not do its work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments (exit 64).
    Usage(String),
    /// The sidecar refused, or the exchange failed (exit 1).
    Failed(String),
}

/// The arguments of an operator command: `--name value` pairs and flags.
struct Args {
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    fn parse(args: &[String], valued: &[&str], flags: &[&str]) -> Result<Self, Failure> {
        let mut parsed = Self {
            values: Vec::new(),
            flags: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if flags.contains(&arg.as_str()) {
                parsed.flags.push(arg.clone());
            } else if valued.contains(&arg.as_str()) {
                let value = rest
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("{arg} needs a value")))?;
                parsed.values.push((arg.clone(), value.clone()));
            } else {
                return Err(Failure::Usage(format!("unexpected argument {arg:?}")));
            }
        }
        Ok(parsed)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|flag| flag == name)
    }

    /// `--url` or `--unix`, exactly one.
    fn target(&self) -> Result<Target, Failure> {
        match (self.value("--url"), self.value("--unix")) {
            (Some(url), None) => healthcheck::parse_url(url)
                .map(|(authority, _)| Target::Tcp(authority))
                .map_err(Failure::Usage),
            (None, Some(path)) => Ok(Target::Unix(PathBuf::from(path))),
            _ => Err(Failure::Usage("give --url or --unix".into())),
        }
    }

    /// The bearer token from `--token-file`, trimmed.
    fn token(&self) -> Result<Option<String>, Failure> {
        self.value("--token-file")
            .map(|file| {
                std::fs::read_to_string(file)
                    .map(|text| text.trim().to_owned())
                    .map_err(|e| Failure::Failed(format!("--token-file {file}: {e}")))
            })
            .transpose()
    }
}

const TARGET_ARGS: [&str; 4] = ["--url", "--unix", "--token-file", "--idempotency-key"];

/// A JSON call: the answer as JSON when it is 2xx, else the problem.
fn json_call(args: &Args, path: &str, body: &Value) -> Result<Value, Failure> {
    let target = args.target()?;
    let token = args.token()?;
    let body = body.to_string();
    let mut answer = Vec::new();
    let outcome = call(
        &target,
        &Request {
            method: "POST",
            path,
            token: token.as_deref(),
            idempotency_key: args.value("--idempotency-key"),
            body: Some(body.as_bytes()),
        },
        TIMEOUT,
        &mut answer,
    )
    .map_err(Failure::Failed)?;
    let value: Value = serde_json::from_slice(&answer).map_err(|e| {
        Failure::Failed(format!(
            "{path}: answer {} is not JSON: {e}",
            outcome.status
        ))
    })?;
    if (200..300).contains(&outcome.status) {
        Ok(value)
    } else {
        Err(Failure::Failed(format!(
            "{path}: {} {}",
            outcome.status,
            serde_json::to_string_pretty(&value).expect("a parsed value serializes")
        )))
    }
}

/// `arxi-sidecar erase`: erases the committed payloads of a subject's
/// envelopes (`--subject`) or of given ones (`--seqs 4,9`), with a reason;
/// prints the answer (what was erased, what was left and why).
pub fn erase_command(args: &[String]) -> Result<(), Failure> {
    let mut valued = TARGET_ARGS.to_vec();
    valued.extend(["--subject", "--seqs", "--reason"]);
    let args = Args::parse(args, &valued, &[])?;
    let reason = args
        .value("--reason")
        .ok_or_else(|| Failure::Usage("erase needs --reason".into()))?;
    let body = match (args.value("--subject"), args.value("--seqs")) {
        (Some(subject), None) => json!({"subject": subject, "reason": reason}),
        (None, Some(list)) => {
            let seqs = list
                .split(',')
                .map(|seq| seq.trim().parse::<u64>())
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| {
                    Failure::Usage(format!("--seqs {list:?}: numbers, comma separated"))
                })?;
            json!({"seqs": seqs, "reason": reason})
        }
        _ => return Err(Failure::Usage("erase needs --subject or --seqs".into())),
    };
    let answer = json_call(&args, "/v1/erasures", &body)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).expect("a parsed value serializes")
    );
    Ok(())
}

/// The build body of `bundle export`: the segment range and the payload
/// selection.
fn build_body(args: &Args) -> Result<Value, Failure> {
    let mut body = serde_json::Map::new();
    for (flag, member) in [
        ("--first-segment", "first_segment"),
        ("--last-segment", "last_segment"),
    ] {
        if let Some(text) = args.value(flag) {
            let number: u64 = text
                .parse()
                .map_err(|_| Failure::Usage(format!("{flag} {text:?}: a segment number")))?;
            body.insert(member.into(), json!(number));
        }
    }
    if args.flag("--withhold-payloads") {
        body.insert("withhold_payloads".into(), json!(true));
    }
    if let Some(subject) = args.value("--disclose-subject") {
        body.insert("disclose_subject".into(), json!(subject));
    }
    if let Some(event_type) = args.value("--disclose-type") {
        body.insert("disclose_type".into(), json!(event_type));
    }
    Ok(Value::Object(body))
}

/// `arxi-sidecar bundle export`: builds a bundle of sealed segments with a
/// payload selection (recorded as `arxi.bundle.built`), downloads it to
/// `--out` and prints what was built.
pub fn bundle_export_command(args: &[String]) -> Result<(), Failure> {
    let mut valued = TARGET_ARGS.to_vec();
    valued.extend([
        "--out",
        "--first-segment",
        "--last-segment",
        "--disclose-subject",
        "--disclose-type",
    ]);
    let args = Args::parse(args, &valued, &["--withhold-payloads"])?;
    let out = PathBuf::from(
        args.value("--out")
            .ok_or_else(|| Failure::Usage("bundle export needs --out FILE".into()))?,
    );
    let built = json_call(&args, "/v1/bundles/build", &build_body(&args)?)?;
    let bundle = &built["bundle"];
    let download = bundle["download"]
        .as_str()
        .ok_or_else(|| Failure::Failed(format!("the build answered no download path: {built}")))?;
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .map_err(|e| Failure::Failed(format!("{}: {e}", partial.display())))?;
    let token = args.token()?;
    let answer = call(
        &args.target()?,
        &Request {
            method: "GET",
            path: download,
            token: token.as_deref(),
            idempotency_key: None,
            body: None,
        },
        TIMEOUT,
        &mut file,
    )
    .map_err(Failure::Failed)?;
    file.sync_all()
        .map_err(|e| Failure::Failed(format!("{}: {e}", partial.display())))?;
    if answer.status != 200 || Some(answer.body_bytes) != bundle["size"].as_u64() {
        let _ = std::fs::remove_file(&partial);
        return Err(Failure::Failed(format!(
            "{download}: status {}, {} bytes (expected {})",
            answer.status, answer.body_bytes, bundle["size"]
        )));
    }
    std::fs::rename(&partial, &out)
        .map_err(|e| Failure::Failed(format!("{}: {e}", out.display())))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&built).expect("a parsed value serializes")
    );
    Ok(())
}

/// Most bytes of a response head.
const HEAD_BYTES_MAX: usize = 64 * 1024;

/// One request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The path and query.
    pub path: &'a str,
    /// The bearer token, when the listener asks for one.
    pub token: Option<&'a str>,
    /// An `Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
    /// A JSON body.
    pub body: Option<&'a [u8]>,
}

/// What came back: the status and the head (the body went to the sink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Body bytes written to the sink.
    pub body_bytes: u64,
}

fn request_bytes(request: &Request<'_>) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: arxi-sidecar-client\r\nAccept: application/json, application/octet-stream\r\nConnection: close\r\n",
        request.method, request.path
    );
    if let Some(token) = request.token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(key) = request.idempotency_key {
        head.push_str(&format!("Idempotency-Key: {key}\r\n"));
    }
    if let Some(body) = request.body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(body) = request.body {
        bytes.extend_from_slice(body);
    }
    bytes
}

/// Sends `request` to `target` and streams the answer's body into `sink`,
/// all within `timeout`.
pub fn call(
    target: &Target,
    request: &Request<'_>,
    timeout: Duration,
    sink: &mut dyn Write,
) -> Result<Answer, String> {
    let deadline = Instant::now() + timeout;
    let bytes = request_bytes(request);
    match target {
        Target::Tcp(authority) => {
            use std::net::ToSocketAddrs as _;
            let address = authority
                .to_socket_addrs()
                .map_err(|e| format!("{authority}: {e}"))?
                .next()
                .ok_or_else(|| format!("{authority}: no address"))?;
            let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
                .map_err(|e| format!("connect {address}: {e}"))?;
            exchange(&mut stream, &bytes, deadline, sink, |s, t| {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            })
        }
        Target::Unix(path) => {
            let mut stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| format!("connect {}: {e}", path.display()))?;
            exchange(&mut stream, &bytes, deadline, sink, |s, t| {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            })
        }
    }
}

/// The status and the `Content-Length` of a response head; chunked
/// answers are refused.
fn parse_head(head: &str) -> Result<(u16, Option<u64>), String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("an empty response head")?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 response: {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("unexpected Transfer-Encoding {value:?}"));
        }
    }
    Ok((status, length))
}

fn exchange<S: Read + Write>(
    stream: &mut S,
    request: &[u8],
    deadline: Instant,
    sink: &mut dyn Write,
    set_timeouts: impl Fn(&S, Option<Duration>) -> std::io::Result<()>,
) -> Result<Answer, String> {
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    set_timeouts(stream, Some(left())).map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("send: {e}"))?;
    let mut buffer = Vec::new();
    let mut chunk = vec![0_u8; 64 * 1024];
    let mut head: Option<(u16, Option<u64>)> = None;
    let mut body_bytes = 0_u64;
    loop {
        if Instant::now() >= deadline {
            return Err("timed out".into());
        }
        set_timeouts(stream, Some(left())).map_err(|e| e.to_string())?;
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out".into());
            }
            Err(e) => return Err(format!("receive: {e}")),
        };
        if read == 0 {
            break;
        }
        let data = &chunk[..read];
        if head.is_some() {
            sink.write_all(data).map_err(|e| format!("write: {e}"))?;
            body_bytes += read as u64;
            continue;
        }
        buffer.extend_from_slice(data);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buffer[..end]).into_owned();
            head = Some(parse_head(&text)?);
            let rest = &buffer[end + 4..];
            sink.write_all(rest).map_err(|e| format!("write: {e}"))?;
            body_bytes += rest.len() as u64;
        } else if buffer.len() > HEAD_BYTES_MAX {
            return Err("response head too large".into());
        }
    }
    let (status, length) = head.ok_or("the connection closed before a response head")?;
    if let Some(length) = length
        && length != body_bytes
    {
        return Err(format!(
            "the body ended after {body_bytes} of {length} bytes"
        ));
    }
    sink.flush().map_err(|e| format!("write: {e}"))?;
    Ok(Answer { status, body_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(
            parse_head("HTTP/1.1 201 Created\r\ncontent-length: 12"),
            Ok((201, Some(12)))
        );
        assert_eq!(parse_head("HTTP/1.1 409 Conflict"), Ok((409, None)));
        assert!(parse_head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").is_err());
        assert!(parse_head("SSH-2.0").is_err());
        let bytes = request_bytes(&Request {
            method: "POST",
            path: "/v1/erasures",
            token: Some("t"),
            idempotency_key: Some("k"),
            body: Some(b"{}"),
        });
        let text = String::from_utf8(bytes).expect("ascii");
        assert!(text.starts_with("POST /v1/erasures HTTP/1.1\r\n"));
        assert!(text.contains("Authorization: Bearer t\r\n"));
        assert!(text.contains("Idempotency-Key: k\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\n\r\n{}"));
    }
}
