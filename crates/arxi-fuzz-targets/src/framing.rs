//! The differential framing target: the sidecar's framing gate and hyper's
//! own HTTP/1.1 server read the same pipelined bytes, and must agree on
//! where every request starts and ends.
//!
//! Three readings of one input:
//! 1. the gate alone ([`Gate`], recording): the messages it passes whole;
//! 2. hyper alone, serving the raw bytes over an in-memory connection: the
//!    requests its server dispatches, each with its whole body;
//! 3. hyper behind the gate ([`Gated`]), as the sidecar serves.
//!
//! The properties: the gate's messages are a prefix of hyper's (hyper
//! never reads a boundary differently from the gate, and never refuses a
//! head the gate passed, which hyper would answer with an empty body);
//! behind the gate, hyper sees exactly the gate's messages, then at most
//! the gate's refusal request (a refused head) or one body cut short (a
//! refused body); and the gate's verdict does not depend on how the bytes
//! are split.
//!
//! Inputs are either raw bytes or, when the first byte is odd, a pipeline
//! assembled from HTTP pieces chosen by the following bytes ([`assemble`]),
//! which reaches deep framing states far more often than raw mutation.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use arxi_sidecar::framing::{self, Gate, Gated, REFUSAL_HEAD, RefusalSlot};
use bytes::Bytes;
use http_body_util::BodyExt as _;

/// What hyper's server made of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Served {
    method: String,
    target: String,
    /// The whole body, or `None` when reading it failed.
    body: Option<Vec<u8>>,
}

/// The fuzz target.
pub fn http_framing(data: &[u8]) {
    let input = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => assemble(rest),
        _ => data.to_vec(),
    };
    let mut gate = Gate::recording();
    let verdict = gate
        .push(&input, &mut Vec::new())
        .map_err(|(place, _)| place);
    let split = data
        .get(1)
        .map_or(0, |b| usize::from(*b) % (input.len() + 1));
    let mut parts = Gate::recording();
    let split_verdict = parts
        .push(&input[..split], &mut Vec::new())
        .and_then(|()| parts.push(&input[split..], &mut Vec::new()))
        .map_err(|(place, _)| place);
    assert_eq!(verdict, split_verdict, "the verdict depends on the split");
    assert_eq!(
        gate.messages(),
        parts.messages(),
        "the messages depend on the split"
    );

    let expected: Vec<Served> = gate
        .messages()
        .iter()
        .map(|message| Served {
            method: message.head.method.clone(),
            target: message.head.target.clone(),
            body: Some(message.body.clone()),
        })
        .collect();

    let alone = serve(Memory::new(input.clone()));
    assert!(
        alone.len() >= expected.len() && alone[..expected.len()] == expected[..],
        "hyper reads other boundaries than the gate\n gate:  {expected:?}\n hyper: {alone:?}"
    );

    let slot = Rc::new(RefusalSlot::default());
    let behind = serve(Gated::new(Memory::new(input), Rc::clone(&slot)));
    assert!(
        behind.len() >= expected.len() && behind[..expected.len()] == expected[..],
        "behind the gate hyper saw other messages\n gate:  {expected:?}\n hyper: {behind:?}"
    );
    let extra = &behind[expected.len()..];
    assert!(
        extra.len() <= 1,
        "more than one message past the gate's: {extra:?}"
    );
    match (verdict, extra.first()) {
        (Err(framing::Place::Head), Some(served)) => {
            assert_eq!(
                (served.method.as_str(), served.target.as_str()),
                ("GET", "/"),
                "a refused head is replaced by the refusal request"
            );
            let number = u64::try_from(behind.len()).expect("a count fits in u64");
            assert!(
                slot.take_for(number).is_some(),
                "the refusal is not in the slot"
            );
        }
        (Err(framing::Place::Head), None) => {
            panic!("a refused head was not answered: {REFUSAL_HEAD:?} never reached hyper")
        }
        (_, Some(served)) => assert!(
            served.body.is_none(),
            "a message past the gate's is not a body cut short: {served:?}"
        ),
        (_, None) => {}
    }
}

/// Serves `connection` with hyper's HTTP/1.1 server as the sidecar
/// configures it, until it makes no more progress; returns the requests
/// it dispatched.
fn serve<T: hyper::rt::Read + hyper::rt::Write + Unpin>(connection: T) -> Vec<Served> {
    let served = Rc::new(RefCell::new(Vec::new()));
    let record = Rc::clone(&served);
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let record = Rc::clone(&record);
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.ok().map(|c| c.to_bytes().to_vec());
                record.borrow_mut().push(Served {
                    method: parts.method.to_string(),
                    target: parts.uri.to_string(),
                    body,
                });
                Ok::<_, Infallible>(hyper::Response::new(http_body_util::Empty::<Bytes>::new()))
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    framing::configure(&mut builder);
    builder.header_read_timeout(None);
    let mut connection = std::pin::pin!(builder.serve_connection(connection, service));
    let mut context = Context::from_waker(std::task::Waker::noop());
    // The memory connection never blocks: hyper makes progress on every
    // poll until the input is used up; then it waits for more.
    let mut quiet = 0;
    let mut last = usize::MAX;
    while quiet < 8 {
        if connection.as_mut().poll(&mut context).is_ready() {
            break;
        }
        let now = served.borrow().len();
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
    served.take()
}

/// An in-memory connection: reads the input (then waits for more, as an
/// open socket would), swallows writes.
struct Memory {
    input: Vec<u8>,
    at: usize,
}

impl Memory {
    fn new(input: Vec<u8>) -> Self {
        Self { input, at: 0 }
    }
}

impl hyper::rt::Read for Memory {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut buffer: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let rest = &this.input[this.at..];
        if rest.is_empty() {
            return Poll::Pending;
        }
        let count = rest.len().min(buffer.remaining());
        buffer.put_slice(&rest[..count]);
        this.at += count;
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Memory {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buffer.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Builds a pipeline of requests from `plan`: each request a request
/// line, header fields, the empty line and a body, with the choices (and
/// the rare fault: a bare LF, a lone CR, a padded or doubled framing
/// field, a body longer or shorter than declared) taken from the plan's
/// bytes in turn. Mostly well-formed, so boundaries deep in a pipeline are
/// reached.
pub fn assemble(plan: &[u8]) -> Vec<u8> {
    let mut plan = Plan(plan.iter().copied());
    let mut out = Vec::new();
    while plan.has_more() {
        request(&mut plan, &mut out);
    }
    out
}

/// The plan's bytes, one choice at a time (zeros once it is used up).
struct Plan<'a>(std::iter::Copied<std::slice::Iter<'a, u8>>);

impl Plan<'_> {
    fn has_more(&self) -> bool {
        self.0.len() > 0
    }

    fn next(&mut self) -> u8 {
        self.0.next().unwrap_or(0)
    }

    fn pick<'t>(&mut self, table: &[&'t str]) -> &'t str {
        table[usize::from(self.next()) % table.len()]
    }

    /// A line end: CRLF seven times in eight, else LF, CR or nothing.
    fn line_end(&mut self) -> &'static [u8] {
        match self.next() % 32 {
            0 => b"\n",
            1 => b"\r",
            2 => b"",
            _ => b"\r\n",
        }
    }
}

fn request(plan: &mut Plan<'_>, out: &mut Vec<u8>) {
    const REQUEST_LINES: [&str; 8] = [
        "GET / HTTP/1.1",
        "POST /v1/envelopes HTTP/1.1",
        "POST /v1/envelopes HTTP/1.1",
        "GET /x?y=1 HTTP/1.0",
        "PUT * HTTP/1.1",
        "GET http://a/b HTTP/1.1",
        "POST  / HTTP/1.1",
        "\r\nGET /again HTTP/1.1",
    ];
    out.extend_from_slice(plan.pick(&REQUEST_LINES).as_bytes());
    let line_end = plan.line_end();
    out.extend_from_slice(line_end);
    let mut framing = Framing::None;
    for _ in 0..plan.next() % 6 {
        header(plan, out, &mut framing);
        let line_end = plan.line_end();
        out.extend_from_slice(line_end);
    }
    let line_end = plan.line_end();
    out.extend_from_slice(line_end);
    body(plan, out, framing);
}

/// The framing the fields declared (the last one wins, as a reader that
/// takes the last would).
enum Framing {
    None,
    Length(usize),
    Chunked,
}

fn header(plan: &mut Plan<'_>, out: &mut Vec<u8>, framing: &mut Framing) {
    const CODINGS: [&str; 8] = [
        "chunked",
        "chunked",
        "Chunked",
        "gzip, chunked",
        "chunked, chunked",
        "identity",
        " chunked ",
        "chunked,",
    ];
    const OTHERS: [&str; 8] = [
        "Host: localhost",
        "Connection: close",
        "Connection: keep-alive",
        "Expect: 100-continue",
        "Content-Type: application/json",
        "X-Pad: a b",
        "Content-Length : 3",
        " folded",
    ];
    match plan.next() % 4 {
        0 => {
            let length = usize::from(plan.next() % 24);
            let zeros = match plan.next() % 8 {
                0 => 300,
                1 => 3,
                _ => 0,
            };
            out.extend_from_slice(b"Content-Length: ");
            out.extend(std::iter::repeat_n(b'0', zeros));
            out.extend_from_slice(length.to_string().as_bytes());
            *framing = Framing::Length(length);
        }
        1 => {
            let blanks = if plan.next().is_multiple_of(8) {
                300
            } else {
                1
            };
            out.extend_from_slice(b"Transfer-Encoding:");
            out.extend(std::iter::repeat_n(b' ', blanks));
            out.extend_from_slice(plan.pick(&CODINGS).as_bytes());
            *framing = Framing::Chunked;
        }
        _ => out.extend_from_slice(plan.pick(&OTHERS).as_bytes()),
    }
}

/// Body bytes, bare line ends included (a body is not a head).
const BODY: &[u8] = b"{\n\"a\":1}\r";

fn body(plan: &mut Plan<'_>, out: &mut Vec<u8>, framing: Framing) {
    match framing {
        Framing::None => {}
        Framing::Length(length) => {
            // Now and then a body off by a few bytes.
            let length = match plan.next() % 16 {
                0 => length + 3,
                1 => length.saturating_sub(2),
                _ => length,
            };
            out.extend(BODY.iter().copied().cycle().take(length));
        }
        Framing::Chunked => {
            for _ in 0..plan.next() % 4 {
                let size = 1 + usize::from(plan.next() % 20);
                chunk(plan, out, size);
            }
            chunk(plan, out, 0);
            for _ in 0..plan.next() % 3 {
                out.extend_from_slice(b"X-Trailer: t");
                let line_end = plan.line_end();
                out.extend_from_slice(line_end);
            }
            let line_end = plan.line_end();
            out.extend_from_slice(line_end);
        }
    }
}

fn chunk(plan: &mut Plan<'_>, out: &mut Vec<u8>, size: usize) {
    let shape = plan.next();
    if shape.is_multiple_of(8) {
        out.extend(std::iter::repeat_n(b'0', 40));
    }
    out.extend_from_slice(format!("{size:x}").as_bytes());
    match shape / 8 % 8 {
        0 => out.extend_from_slice(b";ext=1"),
        1 => out.extend_from_slice(b" \t"),
        2 => out.extend_from_slice(b" ;e"),
        _ => {}
    }
    let line_end = plan.line_end();
    out.extend_from_slice(line_end);
    if size > 0 {
        out.extend(BODY.iter().copied().cycle().take(size));
        let line_end = plan.line_end();
        out.extend_from_slice(line_end);
    }
}
