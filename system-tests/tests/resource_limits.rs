//! Every resource a client can make the sidecar hold is bounded, each with
//! a test against the real binary: connections, slow bodies, a huge body
//! declared but never sent, deep nesting, long strings, and many requests
//! on one connection.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use arxi_system_tests::{Sidecar, eventually, http, rss_kib, test_config, wait_for};

fn start(limits: &str) -> (tempfile::TempDir, Sidecar) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sidecar = Sidecar::start(
        &test_config(dir.path(), &format!("[limits]\n{limits}"), "auto"),
        None,
    );
    (dir, sidecar)
}

/// Reads until the server closes or `wait` passes; true when it closed.
fn read_all(stream: &mut TcpStream, wait: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 8192];
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

fn status_of(answer: &[u8]) -> Option<u16> {
    String::from_utf8_lossy(answer).get(9..12)?.parse().ok()
}

#[test]
fn connections_beyond_the_cap_are_closed_and_the_cap_frees_up() {
    let (_dir, sidecar) = start("max_connections = 4\n");
    // Four connections, each shown accepted (and counted) by an answer on
    // it.
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = TcpStream::connect(&sidecar.tcp).expect("connect");
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .expect("send");
            let mut answer = [0_u8; 12];
            stream.read_exact(&mut answer).expect("an answer");
            assert_eq!(&answer, b"HTTP/1.1 200", "a held connection is served");
            stream
        })
        .collect();
    let mut extra = TcpStream::connect(&sidecar.tcp).expect("the kernel accepts");
    let _ = extra.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (answer, closed) = read_all(&mut extra, Duration::from_secs(3));
    assert!(
        closed && answer.is_empty(),
        "the fifth connection is closed unanswered"
    );
    held.pop();
    eventually(
        "a slot after one connection closed",
        Duration::from_secs(5),
        || http(&sidecar.tcp, "GET", "/health", &[], None).is_ok_and(|served| served.status == 200),
    );
    drop(held);
    let metrics = wait_for(
        "metrics once the held connections closed",
        Duration::from_secs(5),
        || http(&sidecar.tcp, "GET", "/metrics", &[], None).ok(),
    );
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("arxi_http_connections_refused_total") && !l.ends_with(" 0")),
        "refusals are counted"
    );
}

#[test]
fn slow_bodies_and_undelivered_bodies_time_out_without_holding_memory() {
    let (_dir, sidecar) = start(
        "request_timeout_ms = 500\nmax_attachment_request_bytes = 67108864\nattachment_bytes_max = 33554432\n",
    );
    let before = rss_kib(sidecar.pid());
    // 20 clients each declare a 60 MiB body (within the limit) and send
    // 10 bytes: nothing is allocated for what is not sent, and each times
    // out with a problem.
    let mut streams: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(&sidecar.tcp).expect("connect");
            stream
                .write_all(
                    b"POST /v1/envelopes/with-attachments HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 62914560\r\n\r\n{\"type\":\"",
                )
                .expect("send");
            stream
        })
        .collect();
    let started = Instant::now();
    let during = rss_kib(sidecar.pid());
    for stream in &mut streams {
        let (answer, _) = read_all(stream, Duration::from_secs(5));
        assert_eq!(
            status_of(&answer),
            Some(503),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        assert!(String::from_utf8_lossy(&answer).contains("request_timeout"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        during < before + 16 * 1024,
        "declared bodies are not preallocated: RSS {before} -> {during} KiB"
    );
    // A body sent a byte at a time is bounded by the same request time.
    let mut drip = TcpStream::connect(&sidecar.tcp).expect("connect");
    drip.write_all(b"POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n")
        .expect("send");
    let started = Instant::now();
    for byte in br#"{"type":"a.b","payload":"# {
        if drip.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let (answer, _) = read_all(&mut drip, Duration::from_secs(5));
    assert_eq!(status_of(&answer), Some(503));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn a_huge_declared_body_is_refused_before_it_is_read() {
    let (_dir, sidecar) = start("");
    for (path, length) in [
        ("/v1/envelopes", 10_u64 << 30),
        ("/v1/envelopes/with-attachments", 1 << 40),
        ("/v1/bundles/verify", 4 << 30),
    ] {
        let mut stream = TcpStream::connect(&sidecar.tcp).expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send");
        let started = Instant::now();
        let (answer, _) = read_all(&mut stream, Duration::from_secs(3));
        assert_eq!(
            status_of(&answer),
            Some(413),
            "{path}: {}",
            String::from_utf8_lossy(&answer)
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: answered at once"
        );
    }
}

#[test]
fn deep_nesting_and_long_strings_are_bounded() {
    let (_dir, sidecar) = start("max_request_body_bytes = 4194304\n");
    // 1,000,000 opening brackets: refused by depth, no stack overflow.
    let deep = format!(r#"{{"type":"a.b","payload":{}}}"#, "[".repeat(1_000_000));
    let refused = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &[],
        Some(deep.as_bytes()),
    )
    .expect("deep");
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["code"], "json_too_deep");
    // A 3 MiB string within the 4 MiB limit is recorded; 5 MiB is refused.
    let long = format!(r#"{{"type":"a.b","payload":"{}"}}"#, "x".repeat(3 << 20));
    let stored = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &[],
        Some(long.as_bytes()),
    )
    .expect("long");
    assert_eq!(stored.status, 201, "{:?}", stored.json());
    // Refused on the declared length, before the body is read (the write
    // may then fail: the server closed).
    let too_long = format!(r#"{{"type":"a.b","payload":"{}"}}"#, "x".repeat(5 << 20));
    let mut stream = TcpStream::connect(&sidecar.tcp).expect("connect");
    let head = format!(
        "POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        too_long.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(too_long.as_bytes());
    let (answer, _) = read_all(&mut stream, Duration::from_secs(5));
    assert_eq!(status_of(&answer), Some(413));
    assert_eq!(
        http(&sidecar.tcp, "GET", "/ready", &[], None)
            .expect("ready")
            .status,
        200
    );
}

#[test]
fn many_small_requests_on_one_connection_hold_no_memory() {
    let (_dir, sidecar) = start("");
    let mut stream = TcpStream::connect(&sidecar.tcp).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = b"GET /v1/segments/active HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut rss = Vec::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    for round in 0..20_000 {
        stream.write_all(request).expect("send");
        // Read one response: head, then Content-Length bytes.
        let mut answer = Vec::new();
        loop {
            let n = stream.read(&mut buffer).expect("read");
            assert!(n > 0, "closed after {round} requests");
            answer.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some(split) = text.find("\r\n\r\n") {
                let length: usize = text[..split]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("content-length");
                if answer.len() >= split + 4 + length {
                    break;
                }
            }
        }
        assert!(answer.starts_with(b"HTTP/1.1 200"), "round {round}");
        if round % 5_000 == 0 {
            rss.push(rss_kib(sidecar.pid()));
        }
    }
    let last = rss_kib(sidecar.pid());
    println!("RSS over 20,000 requests on one connection: {rss:?} -> {last} KiB");
    assert!(
        last < rss[0] + 8 * 1024,
        "RSS grew from {} to {last} KiB",
        rss[0]
    );
}
