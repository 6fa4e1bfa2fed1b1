//! The epoll fallback for real: the sidecar runs under a seccomp filter that
//! refuses the io_uring system calls with EPERM (as Docker >= 25's default
//! profile does). With `io_driver = "auto"` it logs the refusal, serves on
//! epoll and says so in `/startup`; with `io_driver = "io_uring"` it refuses
//! to start.

use arxi_system_tests::{Sidecar, binary, http, test_config};

#[test]
fn auto_falls_back_to_epoll_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let wrapper = binary("arxi-no-io-uring");
    let sidecar = Sidecar::start(&config, Some(&wrapper));
    let startup = http(&sidecar.tcp, "GET", "/startup", &[], None)
        .expect("startup")
        .json();
    assert_eq!(startup["io_driver"], "epoll", "{startup}");
    assert!(
        startup["io_uring_refused"]
            .as_str()
            .is_some_and(|reason| reason.contains("os error 1")),
        "EPERM is reported: {startup}"
    );
    let logged = sidecar
        .log
        .lock()
        .expect("log")
        .iter()
        .any(|line| line.contains("io_uring refused; falling back to epoll"));
    assert!(logged, "the fallback is logged");
    let recorded = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &[],
        Some(br#"{"type":"fallback.works","payload":{"driver":"epoll"}}"#),
    )
    .expect("record");
    assert_eq!(recorded.status, 201);
    let over_unix = http(
        sidecar.socket.to_str().expect("utf8"),
        "GET",
        "/ready",
        &[],
        None,
    )
    .expect("ready");
    assert_eq!(over_unix.status, 200);
    assert_eq!(sidecar.terminate().code(), Some(0));
}

#[test]
fn io_uring_required_and_refused_stops_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "io_uring");
    let wrapper = binary("arxi-no-io-uring");
    let (status, log) = Sidecar::try_start(&config, Some(&wrapper)).expect_err("must not start");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log:?}");
    assert!(
        log.iter()
            .any(|line| line.contains("io_uring was required")),
        "{log:?}"
    );
}

#[test]
fn without_the_filter_io_uring_is_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let sidecar = Sidecar::start(&config, None);
    let startup = http(&sidecar.tcp, "GET", "/startup", &[], None)
        .expect("startup")
        .json();
    assert_eq!(
        startup["io_driver"], "io_uring",
        "io_uring works on this machine: {startup}"
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}
