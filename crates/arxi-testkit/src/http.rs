//! A raw HTTP/1.1 client for tests: one request per connection
//! (`Connection: close`), read to the end, parsed by `Content-Length`.
//! Raw on purpose: the suites check bytes on the wire (headers, framing,
//! problem bodies) that a full client would normalize.
//!
//! Every problem body it parses is read with arxi's strict JSON parser,
//! which refuses duplicate members: an extension must never overwrite an
//! RFC 9457 member, and every suite checks that for free.

use std::io::Write as _;
use std::time::Duration;

/// How long a response may take before the read gives up.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON; panics (naming the body) when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {}", self.text()))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request: `Host: localhost`, `Connection: close`, the headers given,
/// and with a body a `Content-Type: application/json` (unless the headers
/// name one) and its `Content-Length`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let mut has_type = false;
    for (name, value) in headers {
        has_type |= name.eq_ignore_ascii_case("content-type");
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut bytes = match body {
        Some(body) => {
            if !has_type {
                text.push_str("Content-Type: application/json\r\n");
            }
            text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(body);
            bytes
        }
        None => {
            text.push_str("\r\n");
            text.into_bytes()
        }
    };
    bytes.shrink_to_fit();
    bytes
}

/// Sends raw request bytes to a TCP address (`host:port`) or, when
/// `address` starts with `/`, a Unix socket, and reads the response.
pub fn send(address: &str, raw_request: &[u8]) -> std::io::Result<Response> {
    let raw = if address.starts_with('/') {
        let mut stream = std::os::unix::net::UnixStream::connect(address)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.write_all(raw_request)?;
        read_to_end(&mut stream)?
    } else {
        let mut stream = std::net::TcpStream::connect(address)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.write_all(raw_request)?;
        read_to_end(&mut stream)?
    };
    parse(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

/// One request ([`request`]) sent with [`send`].
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    send(address, &request(method, path, headers, body))
}

/// Reads until the peer closes (a reset after some bytes counts as the
/// end: the server closed after answering).
pub fn read_to_end(stream: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error)
                if error.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() =>
            {
                return Ok(raw);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Parses one response; `None` when the bytes hold no complete head.
/// Panics when a problem body repeats a member (see the module docs).
pub fn parse(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(length) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
    {
        body.truncate(length);
    }
    let response = Response {
        status,
        headers,
        body,
    };
    if response.header("content-type") == Some("application/problem+json")
        && let Err(error) = arxi_format::json::parse(&response.body)
    {
        panic!(
            "a problem body that a strict parser refuses ({error}): {}",
            response.text()
        );
    }
    Some(response)
}
