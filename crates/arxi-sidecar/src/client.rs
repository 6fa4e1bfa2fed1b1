//! The operator commands that call a running sidecar (`arxi-sidecar erase`,
//! `arxi-sidecar revoke-key` and `arxi-sidecar bundle export`): their arguments, and one HTTP/1.1
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

/// Why an operator command did not do its work: the sidecar refused, or
/// the exchange failed (exit 1). Bad arguments never get here: clap
/// refuses them first (exit 64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

/// `--url` or `--unix`, exactly one.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Endpoint {
    /// The sidecar's URL, http://HOST:PORT
    #[arg(long, value_name = "URL", value_parser = url_authority)]
    url: Option<String>,
    /// The sidecar's Unix socket
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
}

/// Which sidecar to call, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// A file holding the bearer token, where the listener asks for one
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Makes a retry safe: the same key answers the stored answer
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

fn url_authority(url: &str) -> Result<String, String> {
    healthcheck::parse_url(url).map(|(authority, _)| authority)
}

impl TargetArgs {
    fn target(&self) -> Target {
        match (&self.endpoint.url, &self.endpoint.unix) {
            (Some(authority), _) => Target::Tcp(authority.clone()),
            (None, Some(path)) => Target::Unix(path.clone()),
            (None, None) => unreachable!("clap requires one of --url and --unix"),
        }
    }

    /// The bearer token from `--token-file`, trimmed.
    fn token(&self) -> Result<Option<String>, Failure> {
        self.token_file
            .as_ref()
            .map(|file| {
                std::fs::read_to_string(file)
                    .map(|text| text.trim().to_owned())
                    .map_err(|e| Failure(format!("--token-file {}: {e}", file.display())))
            })
            .transpose()
    }
}

/// A JSON call: the answer as JSON when it is 2xx, else the problem.
fn json_call(args: &TargetArgs, path: &str, body: &Value) -> Result<Value, Failure> {
    let token = args.token()?;
    let body = body.to_string();
    let mut answer = Vec::new();
    let outcome = call(
        &args.target(),
        &Request {
            method: "POST",
            path,
            token: token.as_deref(),
            idempotency_key: args.idempotency_key.as_deref(),
            body: Some(body.as_bytes()),
        },
        TIMEOUT,
        &mut answer,
    )
    .map_err(Failure)?;
    let value: Value = serde_json::from_slice(&answer).map_err(|e| {
        Failure(format!(
            "{path}: answer {} is not JSON: {e}",
            outcome.status
        ))
    })?;
    if (200..300).contains(&outcome.status) {
        Ok(value)
    } else {
        Err(Failure(format!(
            "{path}: {} {}",
            outcome.status,
            serde_json::to_string_pretty(&value).expect("a parsed value serializes")
        )))
    }
}

/// `arxi-sidecar erase`.
#[derive(Debug, Clone, clap::Args)]
pub struct EraseArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    selection: ErasureSelection,
    /// Why: recorded for good in the erasure envelope, so never the personal data itself
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

/// `--subject` or `--seqs`, exactly one.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ErasureSelection {
    /// Every version 2 envelope naming this subject
    #[arg(long, value_name = "SUBJECT")]
    subject: Option<String>,
    /// These sequence numbers, comma separated
    #[arg(long, value_name = "N,N,...", value_parser = sequence_numbers)]
    seqs: Option<SequenceNumbers>,
}

/// The numbers of `--seqs`.
#[derive(Debug, Clone)]
pub struct SequenceNumbers(Vec<u64>);

fn sequence_numbers(list: &str) -> Result<SequenceNumbers, String> {
    list.split(',')
        .map(|seq| seq.trim().parse::<u64>())
        .collect::<Result<Vec<u64>, _>>()
        .map(SequenceNumbers)
        .map_err(|_| format!("{list:?}: numbers, comma separated"))
}

/// `arxi-sidecar erase`: erases the committed payloads of a subject's
/// envelopes (`--subject`) or of given ones (`--seqs 4,9`), with a reason;
/// prints the answer (what was erased, what was left and why).
pub fn erase_command(args: &EraseArgs) -> Result<(), Failure> {
    let body = match (&args.selection.subject, &args.selection.seqs) {
        (Some(subject), _) => json!({"subject": subject, "reason": args.reason}),
        (None, Some(SequenceNumbers(seqs))) => json!({"seqs": seqs, "reason": args.reason}),
        (None, None) => unreachable!("clap requires one of --subject and --seqs"),
    };
    let answer = json_call(&args.target, "/v1/erasures", &body)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).expect("a parsed value serializes")
    );
    Ok(())
}

/// `arxi-sidecar revoke-key`.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeKeyArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The revoked key's id (ed25519:...); not the key the sidecar signs with (restart with a new key first)
    #[arg(long, value_name = "KEY_ID")]
    key_id: String,
    /// The first sequence number the key is no longer valid for
    #[arg(long, value_name = "N")]
    from_seq: u64,
    /// Why: recorded for good in the revocation envelope
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

/// `arxi-sidecar revoke-key`: records that a key is no longer valid from
/// `--from-seq` on (`POST /v1/keys/revoke`); prints the answer.
pub fn revoke_key_command(args: &RevokeKeyArgs) -> Result<(), Failure> {
    let body = json!({"key_id": args.key_id, "from_seq": args.from_seq, "reason": args.reason});
    let answer = json_call(&args.target, "/v1/keys/revoke", &body)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).expect("a parsed value serializes")
    );
    Ok(())
}

/// `arxi-sidecar bundle export`. The payload selections are not exclusive
/// here: the sidecar answers two of them with its own refusal.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The bundle file to write (through FILE.partial, renamed once whole)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// First sealed segment (default: the first)
    #[arg(long, value_name = "N")]
    first_segment: Option<u64>,
    /// Last sealed segment (default: the last)
    #[arg(long, value_name = "N")]
    last_segment: Option<u64>,
    /// Carry no payload of a version 2 envelope
    #[arg(long)]
    withhold_payloads: bool,
    /// Carry only the payloads of envelopes naming this subject
    #[arg(long, value_name = "SUBJECT")]
    disclose_subject: Option<String>,
    /// Carry only the payloads of envelopes of this type
    #[arg(long, value_name = "TYPE")]
    disclose_type: Option<String>,
}

/// The build body of `bundle export`: the segment range and the payload
/// selection.
fn build_body(args: &ExportArgs) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(first) = args.first_segment {
        body.insert("first_segment".into(), json!(first));
    }
    if let Some(last) = args.last_segment {
        body.insert("last_segment".into(), json!(last));
    }
    if args.withhold_payloads {
        body.insert("withhold_payloads".into(), json!(true));
    }
    if let Some(subject) = &args.disclose_subject {
        body.insert("disclose_subject".into(), json!(subject));
    }
    if let Some(event_type) = &args.disclose_type {
        body.insert("disclose_type".into(), json!(event_type));
    }
    Value::Object(body)
}

/// `arxi-sidecar bundle export`: builds a bundle of sealed segments with a
/// payload selection (recorded as `arxi.bundle.built`), downloads it to
/// `--out` and prints what was built.
pub fn bundle_export_command(args: &ExportArgs) -> Result<(), Failure> {
    let out = &args.out;
    let built = json_call(&args.target, "/v1/bundles/build", &build_body(args))?;
    let bundle = &built["bundle"];
    let download = bundle["download"]
        .as_str()
        .ok_or_else(|| Failure(format!("the build answered no download path: {built}")))?;
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .map_err(|e| Failure(format!("{}: {e}", partial.display())))?;
    let token = args.target.token()?;
    let answer = call(
        &args.target.target(),
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
    .map_err(Failure)?;
    file.sync_all()
        .map_err(|e| Failure(format!("{}: {e}", partial.display())))?;
    if answer.status != 200 || Some(answer.body_bytes) != bundle["size"].as_u64() {
        let _ = std::fs::remove_file(&partial);
        return Err(Failure(format!(
            "{download}: status {}, {} bytes (expected {})",
            answer.status, answer.body_bytes, bundle["size"]
        )));
    }
    std::fs::rename(&partial, out).map_err(|e| Failure(format!("{}: {e}", out.display())))?;
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
