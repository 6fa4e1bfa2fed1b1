//! Start-up and shutdown: graceful drain of in-flight requests, stale Unix
//! socket handling, socket removal, and the recorder's stop record.

mod support;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use support::*;

#[test]
fn shutdown_drains_in_flight_requests_then_stops() {
    let mut server = Harness::start(Options {
        workers: 1,
        ..Options::default()
    });
    // A request whose body is still arriving when shutdown begins.
    let mut in_flight = std::net::TcpStream::connect(server.addr).expect("connect");
    in_flight
        .write_all(b"POST /v1/envelopes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 31\r\nConnection: close\r\n\r\n{\"type\":\"drain.me\",")
        .expect("send head");
    let state = std::sync::Arc::clone(server.server().state());
    eventually("the request to be admitted", Duration::from_secs(5), || {
        state
            .saturation
            .active
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    });
    let socket = server.socket.clone();
    let addr = server.addr;
    let handle = server.server.take().expect("running");
    let stopper = std::thread::spawn(move || handle.shutdown());
    eventually("shutdown to begin", Duration::from_secs(5), || {
        state
            .shutting_down
            .load(std::sync::atomic::Ordering::Acquire)
    });
    // New connections are no longer accepted (refused or closed at once).
    eventually(
        "the listener to stop accepting",
        Duration::from_secs(5),
        || match std::net::TcpStream::connect(addr) {
            Err(_) => true,
            Ok(mut late) => {
                let _ = late.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = late.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
                let mut buffer = [0_u8; 64];
                !matches!(late.read(&mut buffer), Ok(n) if n > 0 && buffer[..n].starts_with(b"HTTP/1.1 200"))
            }
        },
    );
    // The in-flight request still completes.
    in_flight.write_all(b"\"payload\":1}").expect("finish body");
    let mut raw = Vec::new();
    in_flight.read_to_end(&mut raw).expect("response");
    let response = parse_response(&raw);
    assert_eq!(response.status, 201, "{}", response.text());
    stopper.join().expect("thread").expect("clean shutdown");
    assert!(!socket.exists(), "the Unix socket is removed");
    // The recorder recorded its stop and the envelope.
    let database = server.dir.path().join("data/arxi.db");
    let (envelopes, _) = arxi_recorder::verify_database(&database, None).expect("verifies");
    assert!(envelopes >= 5);
    let store =
        arxi_store::Store::open(&database, &arxi_store::StoreOptions::default()).expect("open");
    let last = store.reader().last_envelope().expect("read").expect("some");
    assert_eq!(last.event_type, "arxi.recorder.stopped");
}

#[test]
fn a_stale_socket_is_replaced_but_nothing_else_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sock")).expect("dir");
    let path = dir.path().join("sock/arxi.sock");
    // A socket file nobody listens on (its listener is gone).
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let server = Harness::start_in(dir, &Options::default());
    assert_eq!(
        send_unix(&server.socket, &request("GET", "/health", &[], None)).status,
        200
    );
    drop(server);

    // A live socket: another process serves there, start-up refuses.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sock")).expect("dir");
    let live =
        std::os::unix::net::UnixListener::bind(dir.path().join("sock/arxi.sock")).expect("bind");
    let text = config_text(dir.path(), &Options::default());
    let config = arxi_sidecar_config::parse(&text, dir.path(), "test").expect("valid");
    let error = arxi_sidecar::start(config).expect_err("must refuse a live socket");
    assert!(error.to_string().contains("another process"), "{error}");
    drop(live);

    // A regular file: never removed.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sock")).expect("dir");
    let file = dir.path().join("sock/arxi.sock");
    std::fs::write(&file, b"precious").expect("write");
    let text = config_text(dir.path(), &Options::default());
    let config = arxi_sidecar_config::parse(&text, dir.path(), "test").expect("valid");
    let error = arxi_sidecar::start(config).expect_err("must refuse a non-socket");
    assert!(error.to_string().contains("not a socket"), "{error}");
    assert_eq!(std::fs::read(&file).expect("still there"), b"precious");
}

#[test]
fn the_socket_mode_comes_from_the_config() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = Harness::start(Options::default());
    let mode = std::fs::metadata(&server.socket)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_tampered_database_stops_start_up_naming_the_record() {
    let mut server = Harness::start(Options::default());
    assert_eq!(
        server
            .post(
                "/v1/envelopes",
                &[],
                r#"{"type":"a.b","payload":"original"}"#
            )
            .status,
        201
    );
    server.shutdown();
    let database = server.dir.path().join("data/arxi.db");
    // The stored bytes are packed (hex runs as binary): edit the envelope
    // as it reads, and store the edit (an unpacked body reads as it is).
    let stored = arxi_store::Store::open(&database, &arxi_store::StoreOptions::default())
        .expect("open")
        .reader()
        .envelope(4)
        .expect("read")
        .expect("envelope 4");
    let tampered = String::from_utf8(stored.body)
        .expect("utf-8")
        .replace("original", "tampered");
    assert!(tampered.contains("\"tampered\""), "{tampered}");
    arxi_store::fault::replace_envelope_body(&database, 4, tampered.as_bytes()).expect("tamper");
    let text = config_text(server.dir.path(), &Options::default());
    let config = arxi_sidecar_config::parse(&text, server.dir.path(), "test").expect("valid");
    let error = arxi_sidecar::start(config).expect_err("must refuse to start");
    let message = error.to_string();
    assert!(message.contains("seq 4"), "{message}");
}
