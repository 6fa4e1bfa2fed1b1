//! Request framing against the real binary, over raw sockets: each classic
//! ambiguous request is sent with a well-formed request pipelined behind
//! it (a write of a type named after the case). Each must be answered by a
//! rejection or a closed connection, with at most one response, and the
//! pipelined write must never be recorded. Plus: a slow-loris head is cut
//! off by the header timeout, and well-formed pipelining still works.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use arxi_system_tests::{Sidecar, http, test_config};

fn smuggled(case: &str) -> Vec<u8> {
    let body = format!(r#"{{"type":"smuggled.{case}","payload":{{}}}}"#);
    format!(
        "POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const POST: &str =
    "POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";

/// Every case: the bytes before the pipelined request.
fn cases(pipelined_len: usize) -> Vec<(&'static str, Vec<u8>)> {
    let many_headers: String = (0..300).map(|i| format!("X-{i}: v\r\n")).collect();
    vec![
        ("content_length_and_transfer_encoding", format!("{POST}Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 5 + pipelined_len).into_bytes()),
        ("transfer_encoding_and_content_length", format!("{POST}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n").into_bytes()),
        ("two_content_lengths", format!("{POST}Content-Length: 0\r\nContent-Length: {pipelined_len}\r\n\r\n").into_bytes()),
        ("content_length_with_sign", format!("{POST}Content-Length: +0\r\n\r\n").into_bytes()),
        ("content_length_with_spaces", format!("{POST}Content-Length: 0 0\r\n\r\n").into_bytes()),
        ("transfer_encoding_not_chunked", format!("{POST}Transfer-Encoding: gzip\r\n\r\n").into_bytes()),
        ("transfer_encoding_repeated", format!("{POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes()),
        ("transfer_encoding_chunked_then_identity", format!("{POST}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n").into_bytes()),
        ("chunk_size_with_junk", format!("{POST}Transfer-Encoding: chunked\r\n\r\n2x\r\n{{}}\r\n0\r\n\r\n").into_bytes()),
        ("chunk_size_overflow", format!("{POST}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\n{{}}\r\n0\r\n\r\n").into_bytes()),
        ("obsolete_line_folding", format!("{POST}X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n").into_bytes()),
        ("bare_lf_line_ends", b"GET /v1/segments HTTP/1.1\nHost: localhost\n\n".to_vec()),
        ("nul_in_header", b"GET /v1/segments HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n".to_vec()),
        ("control_byte_in_header", b"GET /v1/segments HTTP/1.1\r\nHost: localhost\r\nX-A: a\x01b\r\n\r\n".to_vec()),
        ("whitespace_before_colon", b"GET /v1/segments HTTP/1.1\r\nHost: localhost\r\nContent-Length : 5\r\n\r\n".to_vec()),
        ("absolute_form_with_conflicting_host", b"GET http://elsewhere.example/v1/segments HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("missing_host", b"GET /v1/segments HTTP/1.1\r\n\r\n".to_vec()),
        ("oversized_request_line", format!("GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(70_000)).into_bytes()),
        ("too_many_headers", format!("GET /v1/segments HTTP/1.1\r\nHost: localhost\r\n{many_headers}\r\n").into_bytes()),
        ("pipelined_after_an_error", b"POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi".to_vec()),
        // A framing value padded past what an earlier guard kept of a line
        // (256 bytes): the guard misread it and served a bare-LF request
        // pipelined behind.
        ("content_length_padded_past_256_bytes", format!("{POST}Content-Length: {}{}\r\n\r\n", "0".repeat(300), pipelined_len).into_bytes()),
        ("transfer_encoding_padded_past_256_bytes", format!("{POST}Transfer-Encoding:{}gzip, chunked\r\n\r\n0\r\n\r\n", " ".repeat(300)).into_bytes()),
        ("transfer_encoding_gzip_then_chunked", format!("{POST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n").into_bytes()),
        ("chunk_size_padded_past_256_bytes", format!("{POST}Transfer-Encoding: chunked\r\n\r\n{}{:x}\r\n", "0".repeat(300), pipelined_len).into_bytes()),
    ]
}

/// The status every case must be refused with (the rest: any 4xx/5xx).
const EXPECTED_STATUS: [(&str, u16); 8] = [
    ("two_content_lengths", 400),
    ("transfer_encoding_not_chunked", 501),
    ("transfer_encoding_gzip_then_chunked", 501),
    ("transfer_encoding_padded_past_256_bytes", 501),
    ("bare_lf_line_ends", 400),
    ("oversized_request_line", 431),
    ("too_many_headers", 431),
    ("content_length_and_transfer_encoding", 400),
];

/// Sends `bytes`, reads until the server closes (or 5 s pass).
fn exchange(address: &str, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // The server may close before reading everything: that is an answer.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (answer, true),
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return (answer, true);
            }
            Err(_) => return (answer, false),
        }
    }
}

/// One response read back from the stream.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Every response in the stream, in order (each is `Content-Length`
/// framed, as the sidecar answers).
fn responses(mut stream: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while let Some(end) = stream.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&stream[..end]).to_ascii_lowercase();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let field = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let length: usize = field("content-length:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_end = (end + 4 + length).min(stream.len());
        answers.push(Answer {
            status,
            content_type: field("content-type:").unwrap_or_default(),
            body: stream[end + 4..body_end].to_vec(),
        });
        stream = &stream[body_end..];
    }
    answers
}

fn statuses(answer: &[u8]) -> Vec<u16> {
    responses(answer).iter().map(|a| a.status).collect()
}

fn recorded_types(address: &str) -> Vec<String> {
    let answer = http(
        address,
        "POST",
        "/v1/query/envelopes",
        &[],
        Some(br#"{"limit":1000}"#),
    )
    .expect("query");
    answer.json()["envelopes"]
        .as_array()
        .expect("envelopes")
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn ambiguous_requests_are_refused_and_nothing_behind_them_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = Sidecar::start(&test_config(dir.path(), "", "auto"), None);
    let pipelined_len = smuggled("x").len();
    let cases = cases(pipelined_len);
    assert!(cases.len() >= 20);
    for (case, front) in &cases {
        let mut bytes = front.clone();
        bytes.extend_from_slice(&smuggled(case));
        let (answer, closed) = exchange(&sidecar.tcp, &bytes);
        let statuses = statuses(&answer);
        assert!(closed, "{case}: the connection stays open");
        assert!(
            statuses.len() <= 1,
            "{case}: more than one response: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|status| *status >= 400),
            "{case}: not refused: {statuses:?}"
        );
        if let Some((_, status)) = EXPECTED_STATUS.iter().find(|(name, _)| name == case) {
            assert_eq!(statuses, [*status], "{case}");
        }
        // Every error, including those of the head parser, is a problem.
        for answer in responses(&answer) {
            assert_eq!(answer.content_type, "application/problem+json", "{case}");
            let problem: serde_json::Value =
                serde_json::from_slice(&answer.body).expect("a JSON problem body");
            assert_eq!(problem["status"], answer.status, "{case}: {problem}");
            assert!(problem["code"].is_string(), "{case}: {problem}");
        }
    }
    let types = recorded_types(&sidecar.tcp);
    let served: Vec<_> = types
        .iter()
        .filter(|t| t.starts_with("smuggled."))
        .collect();
    assert!(
        served.is_empty(),
        "requests behind ambiguous ones were served: {served:?}"
    );
}

#[test]
fn well_formed_pipelining_and_bodies_with_line_feeds_still_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = Sidecar::start(&test_config(dir.path(), "", "auto"), None);
    let body = "{\n  \"type\": \"multi.line\",\n  \"payload\": {\"a\": 1}\n}";
    let chunked = format!(
        "{POST}Transfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{body}\r\n0\r\nX-Trailer: t\r\n\r\n",
        body.len()
    );
    let mut bytes = format!("{POST}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes();
    bytes.extend_from_slice(chunked.as_bytes());
    bytes.extend_from_slice(
        b"GET /v1/segments HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let (answer, closed) = exchange(&sidecar.tcp, &bytes);
    assert!(closed);
    assert_eq!(
        statuses(&answer),
        [201, 201, 200],
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let types = recorded_types(&sidecar.tcp);
    assert_eq!(types.iter().filter(|t| *t == "multi.line").count(), 2);
}

#[test]
fn a_slow_loris_head_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(
        dir.path(),
        "[limits]\nheader_read_timeout_ms = 1000\n",
        "auto",
    );
    let sidecar = Sidecar::start(&config, None);
    let mut slow = TcpStream::connect(&sidecar.tcp).expect("connect");
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let started = Instant::now();
    let head = b"GET /v1/segments HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let mut closed_after = None;
    'drip: for byte in head.iter().chain(std::iter::repeat(&b'a')) {
        if slow.write_all(&[*byte]).is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buffer = [0_u8; 1024];
        if let Ok(0) = slow.read(&mut buffer) {
            closed_after = Some(started.elapsed());
            break 'drip;
        }
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let closed_after = closed_after.expect("the slow head was never cut off");
    assert!(
        closed_after < Duration::from_secs(4),
        "cut off after {closed_after:?} (header_read_timeout_ms = 1000)"
    );
    assert_eq!(
        http(&sidecar.tcp, "GET", "/ready", &[], None)
            .expect("ready")
            .status,
        200
    );
}
