//! A small HTTP/1.1 server for the witness: `POST /add-checkpoint` and
//! `GET /health`, keep-alive, bodies framed by `Content-Length` only.
//!
//! One thread per connection, at most [`MAX_CONNECTIONS`] at once (more are
//! answered 503 and closed); heads up to [`MAX_HEAD_BYTES`]; bodies up to
//! [`crate::protocol::MAX_REQUEST_BYTES`]; a connection idle for
//! [`IDLE_TIMEOUT`] is closed.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::protocol::{ADD_CHECKPOINT_PATH, MAX_REQUEST_BYTES};
use crate::witness::{Answer, Witness};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Largest request head.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `witness` on `listener` until the process ends.
pub fn serve(listener: &TcpListener, witness: &Arc<Witness>) -> io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept");
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let busy = Answer {
                status: 503,
                content_type: "text/plain; charset=utf-8",
                body: "too many connections\n".into(),
            };
            // Best effort: the peer learns why before the close.
            let _ignored = write_answer(&mut stream, &busy, false);
            continue;
        }
        let witness = Arc::clone(witness);
        let open = Arc::clone(&open);
        std::thread::Builder::new()
            .name("witness-conn".into())
            .spawn(move || {
                if let Err(e) = connection(stream, &witness) {
                    tracing::debug!(error = %e, "connection ended");
                }
                open.fetch_sub(1, Ordering::SeqCst);
            })?;
    }
    Ok(())
}

/// One request as read off the wire.
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
    body: Vec<u8>,
}

fn connection(stream: TcpStream, witness: &Witness) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(refusal) => {
                write_answer(&mut writer, &refusal, false)?;
                return Ok(());
            }
        };
        let answer = route(witness, &request);
        write_answer(&mut writer, &answer, request.keep_alive)?;
        if !request.keep_alive {
            return Ok(());
        }
    }
}

fn route(witness: &Witness, request: &Request) -> Answer {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", ADD_CHECKPOINT_PATH) => witness.add_checkpoint(&request.body),
        ("GET", "/health") => plain(200, "ok"),
        (_, ADD_CHECKPOINT_PATH | "/health") => plain(405, "method not allowed"),
        _ => plain(404, "not found"),
    }
}

fn plain(status: u16, text: &str) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{text}\n"),
    }
}

/// Reads one request; `Ok(None)` when the peer closed between requests,
/// `Err(answer)` for a request refused before routing (then close).
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>, Answer> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = reader
            .by_ref()
            .take((MAX_HEAD_BYTES + 1 - before) as u64)
            .read_until(b'\n', &mut head)
            .map_err(|_| plain(408, "request timeout"))?;
        if read == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(plain(400, "connection closed inside the request head"));
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(plain(431, "request head too large"));
        }
        if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
            if head == b"\r\n" {
                // Tolerated before a request line (RFC 9112 section 2.2).
                head.clear();
                continue;
            }
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(plain(400, "malformed request head")),
    }
    let method = parsed.method.unwrap_or("").to_owned();
    let path = parsed.path.unwrap_or("").to_owned();
    let mut keep_alive = parsed.version == Some(1);
    let mut length: Option<usize> = None;
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| plain(400, "bad header"))?;
        if header.name.eq_ignore_ascii_case("content-length") {
            let value: usize = value
                .trim()
                .parse()
                .map_err(|_| plain(400, "bad Content-Length"))?;
            if length.is_some_and(|seen| seen != value) {
                return Err(plain(400, "conflicting Content-Length"));
            }
            length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(plain(501, "Transfer-Encoding is not supported"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            keep_alive = keep_alive && !value.to_ascii_lowercase().contains("close");
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_REQUEST_BYTES {
        return Err(plain(413, "request body too large"));
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|_| plain(400, "request body shorter than Content-Length"))?;
    Ok(Some(Request {
        method,
        path,
        keep_alive,
        body,
    }))
}

fn write_answer(stream: &mut TcpStream, answer: &Answer, keep_alive: bool) -> io::Result<()> {
    let reason = match answer.status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(answer.body.as_bytes())?;
    stream.flush()
}
