//! What the sidecar logs about a request, captured in process: the
//! caller's W3C `traceparent` is logged with the server's correlation id
//! (so a trace in the caller's system finds the sidecar's lines), and a
//! malformed one is ignored, never refused. A test binary of its own: it
//! installs the process-wide log subscriber.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::*;

/// Log lines, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn traceparent_is_logged_with_the_correlation_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let filter = arxi_sidecar::logging::filter(Some("warn,arxi_sidecar::pipeline=debug"))
        .expect("a valid filter");
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(tracing_subscriber::layer::SubscriberExt::with(
        subscriber, filter,
    ))
    .expect("the only subscriber of this test binary");
    let server = Harness::start(Options::default());
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = server.get("/v1/segments", &[("traceparent", trace)]);
    assert_eq!(traced.status, 200);
    let correlation = traced
        .header("x-arxi-correlation-id")
        .expect("correlation id")
        .to_owned();
    let malformed = server.get("/v1/segments", &[("traceparent", "00-zz-not-a-trace")]);
    assert_eq!(malformed.status, 200, "a malformed traceparent is ignored");
    let other = malformed
        .header("x-arxi-correlation-id")
        .expect("correlation id")
        .to_owned();
    eventually(
        "both requests logged",
        std::time::Duration::from_secs(10),
        || {
            let text =
                String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|e| e.into_inner()))
                    .into_owned();
            text.lines().any(|line| line.contains(&correlation))
                && text.lines().any(|line| line.contains(&other))
        },
    );
    let text =
        String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let done = text
        .lines()
        .find(|line| line.contains("request done") && line.contains(&correlation))
        .unwrap_or_else(|| panic!("no 'request done' line for {correlation}:\n{text}"));
    assert!(
        done.contains("trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"")
            || done.contains("trace_id=4bf92f3577b34da6a3ce929d0e0e4736"),
        "{done}"
    );
    assert!(
        text.lines()
            .filter(|line| line.contains(&other))
            .all(|line| !line.contains("trace_id")),
        "{text}"
    );
}
