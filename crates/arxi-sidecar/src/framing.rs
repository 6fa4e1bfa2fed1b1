//! The framing gate below hyper: where each request starts and ends,
//! decided once, exactly, before hyper sees a byte.
//!
//! hyper (through httparse) accepts a bare LF as the end of a request-head
//! line, several `Content-Length` lines with one value, `Transfer-Encoding:
//! gzip, chunked`, and both framing headers at once. A proxy in front that
//! reads the same bytes differently sees other request boundaries: a
//! request smuggled behind one that looks whole to one side. The gate reads
//! the raw bytes first and holds every request head back until the whole
//! head is there; it then parses it with the parser and settings hyper
//! uses ([`parse_head`]) and applies the framing rules of RFC 9112 §6 in
//! their strict form:
//!
//! - every line of a head, of chunked framing and of a trailer ends in
//!   CRLF; a bare LF or a lone CR is refused;
//! - at most one `Content-Length` line, of digits only;
//! - `Transfer-Encoding` at most once, and only `chunked` (any other coding
//!   is 501, RFC 9112 §6.1), never with `Content-Length`, never in HTTP/1.0;
//! - a head of at most [`HEAD_BYTES_CEILING`] bytes and [`HEADERS_CEILING`]
//!   fields (431).
//!
//! Only a head that passes reaches hyper, so hyper never answers a head
//! itself (its own answers have empty bodies). A body is passed on as it
//! arrives: a `Content-Length` body by count, a chunked body through a
//! decoder that mirrors hyper's chunk by chunk ([`Chunk`]). The gate keeps
//! hyper's keep-alive rule too, and after a message that ends the
//! connection it passes nothing more.
//!
//! A refused head is answered in order, after every request before it:
//! the gate hands hyper a fixed request of its own ([`REFUSAL_HEAD`]) and
//! leaves the [`Refusal`] in the connection's [`RefusalSlot`] under that
//! request's number; the pipeline answers that request with the problem
//! and closes the connection. A refusal inside a body ends the body early
//! (hyper sees the connection end); the handler reading it answers with
//! the refusal from the slot.
//!
//! What it does not do: read request semantics (routes, `Host`, auth,
//! limits below the ceilings): the pipeline does that on the head hyper
//! parsed.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::problem::{Code, Problem};

/// The largest request head accepted, leading empty lines included
/// (hyper's `max_header_size` is set to the same, so the gate, which
/// counts first, always answers first).
pub const HEAD_BYTES_CEILING: usize = 64 * 1024;
/// The most header fields in one head (hyper's `max_headers`).
pub const HEADERS_CEILING: usize = 256;
/// hyper's longest request target (`MAX_URI_LEN` in its `role.rs`).
const URI_BYTES_MAX: usize = u16::MAX as usize - 1;
/// hyper's largest body length (`DecodedLength::MAX_LEN`).
const LENGTH_MAX: u64 = u64::MAX - 2;
/// Bytes of chunk extensions in one body (hyper refuses at 16 KiB).
const EXTENSION_BYTES_MAX: usize = 4 * 1024;
/// Bytes of the trailer section (hyper refuses at its head-size limit).
const TRAILER_BYTES_MAX: usize = 16 * 1024;
/// Trailer fields in one body (hyper refuses at its `max_headers`).
const TRAILERS_MAX: usize = 64;
/// Bytes read from the socket per call (a stack buffer).
const READ_CHUNK: usize = 8 * 1024;

/// The request the gate hands hyper in place of a refused head: hyper
/// answers it in order, and it asks for the connection to close.
pub const REFUSAL_HEAD: &[u8] = b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";

/// Sets the hyper limits the gate relies on.
pub fn configure(builder: &mut hyper::server::conn::http1::Builder) {
    builder
        .keep_alive(true)
        .half_close(false)
        .max_buf_size(HEAD_BYTES_CEILING + 8 * 1024)
        .max_header_size(HEAD_BYTES_CEILING)
        .max_headers(HEADERS_CEILING);
}

/// Why the gate stopped a connection, and the answer it gets.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The answer (a problem; the connection closes after it).
    pub problem: Problem,
    /// The request target, when the head was read that far.
    pub target: Option<String>,
}

impl Refusal {
    fn new(code: Code, detail: &str) -> Self {
        Self {
            problem: Problem::new(code).detail(detail),
            target: None,
        }
    }

    fn bad(detail: &str) -> Self {
        Self::new(Code::BadRequest, detail).reason("framing")
    }

    fn reason(mut self, reason: &str) -> Self {
        self.problem = self.problem.with("reason", reason);
        self
    }
}

/// Where a refusal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A request head (nothing of it reached hyper).
    Head,
    /// The chunked framing of a body hyper is reading.
    Body,
}

/// A refusal and the number (from 1, per connection) of the request it
/// answers.
#[derive(Debug, Default)]
pub struct RefusalSlot(RefCell<Option<(u64, Refusal)>>);

impl RefusalSlot {
    /// Takes the refusal if it answers request `number`.
    pub fn take_for(&self, number: u64) -> Option<Refusal> {
        let mut slot = self.0.borrow_mut();
        match slot.as_ref() {
            Some((at, _)) if *at == number => slot.take().map(|(_, refusal)| refusal),
            _ => None,
        }
    }

    fn put(&self, number: u64, refusal: Refusal) {
        *self.0.borrow_mut() = Some((number, refusal));
    }
}

/// What a parsed head says about the body and the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method, as sent.
    pub method: String,
    /// The request target, as `http::Uri` prints it.
    pub target: String,
    /// How the body is framed.
    pub body: BodyFraming,
    /// Whether hyper keeps the connection open after this message.
    pub keep_alive: bool,
}

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Parses a complete head (leading empty lines included, ending with the
/// empty line) exactly as hyper's server does, then applies the strict
/// framing rules. Line endings are the caller's to check.
pub fn parse_head(bytes: &[u8]) -> Result<Head, Refusal> {
    let mut fields = [httparse::EMPTY_HEADER; HEADERS_CEILING];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) if length == bytes.len() => {}
        Ok(_) => {
            return Err(Refusal::bad(
                "the request head does not end where its lines do",
            ));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                Code::HeadersTooLarge,
                "the request head has more header fields than the server accepts",
            ));
        }
        Err(error) => return Err(Refusal::bad(&format!("malformed request head: {error}"))),
    }
    let (Some(method), Some(path), Some(version)) = (request.method, request.path, request.version)
    else {
        unreachable!("httparse fills method, path and version of a complete request");
    };
    if path.len() > URI_BYTES_MAX {
        return Err(Refusal::new(
            Code::UriTooLong,
            "the request target is too long",
        ));
    }
    http::Method::from_bytes(method.as_bytes())
        .map_err(|_| Refusal::bad("the method is not a token"))?;
    let target = http::Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(path.as_bytes()))
        .map_err(|_| Refusal::bad("the request target is not a URI"))?
        .to_string();
    if path.contains('#') {
        // `http::Uri` drops a fragment silently; a request target has none
        // (RFC 9112 §3.2), so one is a malformed request, not ignored.
        let mut refusal = Refusal::bad("a request target carries no fragment (#)");
        refusal.target = Some(target);
        return Err(refusal);
    }
    let framing = framing(request.headers, version == 1).map_err(|mut refusal| {
        refusal.target = Some(target.clone());
        refusal
    })?;
    Ok(Head {
        method: method.to_owned(),
        target,
        body: framing.0,
        keep_alive: framing.1,
    })
}

/// The body framing and keep-alive of a head's fields (hyper's rules, with
/// every ambiguity refused).
fn framing(fields: &[httparse::Header<'_>], http_11: bool) -> Result<(BodyFraming, bool), Refusal> {
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = http_11;
    let mut close = false;
    for field in fields {
        let name = http::HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| Refusal::bad("a header name is not a token"))?;
        if name == http::header::TRANSFER_ENCODING {
            if !http_11 {
                return Err(Refusal::bad("HTTP/1.0 has no Transfer-Encoding"));
            }
            if chunked {
                return Err(duplicate("Transfer-Encoding"));
            }
            transfer_coding(field.value)?;
            chunked = true;
        } else if name == http::header::CONTENT_LENGTH {
            if length.is_some() {
                return Err(duplicate("Content-Length"));
            }
            length = Some(content_length(field.value)?);
        } else if name == http::header::CONNECTION {
            // As hyper: a `close` anywhere wins; HTTP/1.0 keeps the
            // connection only on `keep-alive`.
            if close || has_token(field.value, "close") {
                close = true;
                keep_alive = false;
            } else if !keep_alive {
                keep_alive = has_token(field.value, "keep-alive");
            }
        }
    }
    let body = match (length, chunked) {
        (Some(_), true) => {
            return Err(Refusal::bad(
                "Content-Length and Transfer-Encoding together",
            ));
        }
        (Some(0) | None, false) => BodyFraming::Empty,
        (Some(length), false) => BodyFraming::Length(length),
        (None, true) => BodyFraming::Chunked,
    };
    Ok((body, keep_alive))
}

fn duplicate(name: &str) -> Refusal {
    let mut refusal = Refusal::new(Code::DuplicateHeader, &format!("more than one {name}"));
    refusal.problem = refusal.problem.with("header", name.to_ascii_lowercase());
    refusal
}

/// `Transfer-Encoding` must be exactly `chunked`: another coding is 501,
/// a malformed list 400.
fn transfer_coding(value: &[u8]) -> Result<(), Refusal> {
    let text =
        std::str::from_utf8(value).map_err(|_| Refusal::bad("Transfer-Encoding is not ASCII"))?;
    let codings: Vec<&str> = text.split(',').map(str::trim).collect();
    if let Some(other) = codings
        .iter()
        .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("chunked"))
    {
        let mut refusal = Refusal::new(
            Code::UnsupportedTransferCoding,
            "only the chunked transfer coding is implemented",
        );
        refusal.problem = refusal
            .problem
            .with("coding", other.chars().take(64).collect::<String>());
        return Err(refusal);
    }
    if codings.len() != 1 || codings[0].is_empty() {
        return Err(Refusal::bad(
            "Transfer-Encoding must name chunked exactly once",
        ));
    }
    Ok(())
}

/// `Content-Length`: digits only (as hyper reads it), within hyper's range.
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    let invalid = || Refusal::bad("Content-Length is not a number");
    if value.is_empty() {
        return Err(invalid());
    }
    let mut length = 0_u64;
    for byte in value {
        if !byte.is_ascii_digit() {
            return Err(invalid());
        }
        length = length
            .checked_mul(10)
            .and_then(|length| length.checked_add(u64::from(byte - b'0')))
            .ok_or_else(invalid)?;
    }
    if length > LENGTH_MAX {
        return Err(invalid());
    }
    Ok(length)
}

fn has_token(value: &[u8], token: &str) -> bool {
    std::str::from_utf8(value).is_ok_and(|text| {
        text.split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

/// The chunked decoder, state for state as hyper's (`ChunkedState` in its
/// `decode.rs`), with bare LF refused where hyper would take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The first digit of a chunk size.
    Start,
    /// More size digits.
    Size(u64),
    /// Blanks after the size.
    SizeBlank(u64),
    /// A chunk extension, up to CR.
    Extension(u64),
    /// The LF after a size line.
    SizeLf(u64),
    /// Chunk data: bytes left.
    Data(u64),
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// After the last chunk or a trailer field: CR ends the body, anything
    /// else starts a trailer field.
    EndCr,
    /// The LF that ends the body.
    EndLf,
    /// A trailer field, up to CR.
    Trailer,
    /// The LF after a trailer field.
    TrailerLf,
}

/// Where the gate is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a head into the hold buffer.
    Head,
    /// In a `Content-Length` body: bytes left.
    Length(u64),
    /// In a chunked body.
    Chunked(Chunk),
    /// After a message that ends the connection: nothing more passes.
    Closed,
    /// Refused: nothing more passes.
    Refused,
}

/// One message as the gate delimited it (recorded for tests and fuzzing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Method and target.
    pub head: Head,
    /// The body's data bytes (chunked framing removed).
    pub body: Vec<u8>,
}

/// The framing gate as a state machine over a connection's bytes.
#[derive(Debug)]
pub struct Gate {
    phase: Phase,
    /// The head held back so far.
    head: Vec<u8>,
    /// The previous byte of a line was CR.
    previous_cr: bool,
    /// Bytes in the current line (CR excluded).
    line_bytes: usize,
    /// A request line was seen in the held head.
    request_line: bool,
    /// The current head's keep-alive verdict.
    keep_alive: bool,
    /// Chunk extension bytes in the current body.
    extension_bytes: usize,
    /// The trailer section of the current body (checked whole at its end,
    /// as hyper parses it).
    trailer: Vec<u8>,
    trailers: usize,
    /// Heads passed on (the number of the request hyper is on).
    heads_passed: u64,
    /// Messages passed whole.
    messages_complete: usize,
    /// Messages, when recording.
    recorded: Option<Vec<Message>>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            phase: Phase::Head,
            head: Vec::new(),
            previous_cr: false,
            line_bytes: 0,
            request_line: false,
            keep_alive: true,
            extension_bytes: 0,
            trailer: Vec::new(),
            trailers: 0,
            heads_passed: 0,
            messages_complete: 0,
            recorded: None,
        }
    }
}

impl Gate {
    /// A gate that also records every message it passes whole.
    pub fn recording() -> Self {
        Self {
            recorded: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// The messages passed whole so far, bodies included (recording gates
    /// only).
    pub fn messages(&self) -> &[Message] {
        self.recorded
            .as_deref()
            .map_or(&[], |recorded| &recorded[..self.messages_complete])
    }

    /// The number of request heads passed on.
    pub fn heads_passed(&self) -> u64 {
        self.heads_passed
    }

    /// Whether part of a head is held (bytes of a request not yet passed).
    pub fn holds_partial_head(&self) -> bool {
        self.phase == Phase::Head && !self.head.is_empty()
    }

    /// Takes the next bytes of the connection and appends to `out` what
    /// may pass to hyper. After an error nothing more passes; what `out`
    /// got before it stands (complete requests ahead of the refused one).
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), (Place, Refusal)> {
        while !input.is_empty() {
            match self.phase {
                Phase::Closed | Phase::Refused => return Ok(()),
                Phase::Head => {
                    let taken = self.head_bytes(input, out).map_err(|refusal| {
                        self.phase = Phase::Refused;
                        (Place::Head, refusal)
                    })?;
                    input = &input[taken..];
                }
                Phase::Length(left) => {
                    let taken =
                        usize::try_from(left).map_or(input.len(), |left| left.min(input.len()));
                    self.pass_body(&input[..taken], out);
                    input = &input[taken..];
                    let left = left - taken as u64;
                    self.phase = if left == 0 {
                        self.message_end()
                    } else {
                        Phase::Length(left)
                    };
                }
                Phase::Chunked(Chunk::Data(left)) => {
                    let taken =
                        usize::try_from(left).map_or(input.len(), |left| left.min(input.len()));
                    self.pass_body(&input[..taken], out);
                    input = &input[taken..];
                    let left = left - taken as u64;
                    self.phase = Phase::Chunked(if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left)
                    });
                }
                Phase::Chunked(state) => {
                    let byte = input[0];
                    input = &input[1..];
                    out.push(byte);
                    self.phase = self.chunk_byte(state, byte).map_err(|detail| {
                        self.phase = Phase::Refused;
                        (Place::Body, Refusal::bad(detail))
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Holds head bytes until the empty line; then parses and passes the
    /// head. Returns the bytes of `input` taken.
    fn head_bytes(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Refusal> {
        for (index, byte) in input.iter().copied().enumerate() {
            self.head.push(byte);
            if self.head.len() > HEAD_BYTES_CEILING {
                return Err(Refusal::new(
                    Code::HeadersTooLarge,
                    "the request head is larger than the server accepts",
                ));
            }
            if !self.line_byte(byte)? {
                continue;
            }
            // A line ended.
            if self.line_bytes > 0 {
                self.request_line = true;
            } else if self.request_line {
                self.pass_head(out)?;
                return Ok(index + 1);
            }
            self.line_bytes = 0;
        }
        Ok(input.len())
    }

    /// Checks one byte of a line: CR only before LF, LF only after CR.
    /// Returns whether the byte ended the line.
    fn line_byte(&mut self, byte: u8) -> Result<bool, Refusal> {
        if self.previous_cr && byte != b'\n' {
            return Err(Refusal::bad("a CR not followed by LF in the request head"));
        }
        match byte {
            b'\r' => {
                self.previous_cr = true;
                Ok(false)
            }
            b'\n' if !self.previous_cr => Err(Refusal::bad(
                "a line of the request head ends in a bare LF; lines end in CRLF",
            )),
            b'\n' => {
                self.previous_cr = false;
                Ok(true)
            }
            _ => {
                self.line_bytes += 1;
                Ok(false)
            }
        }
    }

    fn pass_head(&mut self, out: &mut Vec<u8>) -> Result<(), Refusal> {
        let head = parse_head(&self.head)?;
        out.extend_from_slice(&self.head);
        self.head.clear();
        self.request_line = false;
        self.line_bytes = 0;
        self.heads_passed += 1;
        self.keep_alive = head.keep_alive;
        self.extension_bytes = 0;
        self.trailer.clear();
        self.trailers = 0;
        let body = head.body;
        if let Some(recorded) = &mut self.recorded {
            recorded.push(Message {
                head,
                body: Vec::new(),
            });
        }
        self.phase = match body {
            BodyFraming::Empty => self.message_end(),
            BodyFraming::Length(length) => Phase::Length(length),
            BodyFraming::Chunked => Phase::Chunked(Chunk::Start),
        };
        Ok(())
    }

    fn pass_body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(data);
        if let Some(message) = self.recorded.as_mut().and_then(|r| r.last_mut()) {
            message.body.extend_from_slice(data);
        }
    }

    fn message_end(&mut self) -> Phase {
        self.messages_complete += 1;
        if self.keep_alive {
            Phase::Head
        } else {
            Phase::Closed
        }
    }

    /// One byte of chunked framing (data excepted).
    fn chunk_byte(&mut self, state: Chunk, byte: u8) -> Result<Phase, &'static str> {
        let in_trailer = match state {
            Chunk::EndCr => byte != b'\r' || !self.trailer.is_empty(),
            Chunk::EndLf | Chunk::Trailer | Chunk::TrailerLf => !self.trailer.is_empty(),
            _ => false,
        };
        if in_trailer {
            self.trailer.push(byte);
            if self.trailer.len() > TRAILER_BYTES_MAX {
                return Err("the trailer section is too long");
            }
        }
        let next = match (state, byte) {
            (Chunk::Start, _) => {
                Chunk::Size(hex_digit(byte).ok_or("a chunk size must start with a hex digit")?)
            }
            (Chunk::Size(size), b'\t' | b' ') => Chunk::SizeBlank(size),
            (Chunk::Size(size) | Chunk::SizeBlank(size), b';') => Chunk::Extension(size),
            (Chunk::Size(size) | Chunk::SizeBlank(size) | Chunk::Extension(size), b'\r') => {
                Chunk::SizeLf(size)
            }
            (Chunk::Size(size), _) => {
                let digit = hex_digit(byte).ok_or("a chunk size is not hexadecimal")?;
                Chunk::Size(
                    size.checked_mul(16)
                        .and_then(|size| size.checked_add(digit))
                        .ok_or("a chunk size overflows")?,
                )
            }
            (Chunk::SizeBlank(size), b'\t' | b' ') => Chunk::SizeBlank(size),
            (Chunk::SizeBlank(_), _) => return Err("junk after a chunk size"),
            (Chunk::Extension(_), b'\n') => return Err("a chunk extension contains a bare LF"),
            (Chunk::Extension(size), _) => {
                self.extension_bytes += 1;
                if self.extension_bytes > EXTENSION_BYTES_MAX {
                    return Err("chunk extensions are too long");
                }
                Chunk::Extension(size)
            }
            (Chunk::SizeLf(0), b'\n') => Chunk::EndCr,
            (Chunk::SizeLf(size), b'\n') => Chunk::Data(size),
            (Chunk::DataCr, b'\r') => Chunk::DataLf,
            (Chunk::DataCr, _) => return Err("chunk data not followed by CRLF"),
            (Chunk::DataLf, b'\n') => Chunk::Start,
            (Chunk::EndCr, b'\r') => Chunk::EndLf,
            (Chunk::EndLf, b'\n') => {
                if !self.trailer.is_empty() {
                    check_trailers(&self.trailer, self.trailers)?;
                }
                return Ok(self.message_end());
            }
            (Chunk::TrailerLf, b'\n') => {
                self.trailers += 1;
                if self.trailers > TRAILERS_MAX {
                    return Err("too many trailer fields");
                }
                Chunk::EndCr
            }
            (Chunk::SizeLf(_) | Chunk::DataLf | Chunk::EndLf | Chunk::TrailerLf, _) => {
                return Err("a CR not followed by LF in chunked framing");
            }
            (Chunk::EndCr | Chunk::Trailer, b'\n') => {
                return Err("a trailer line ends in a bare LF");
            }
            (Chunk::Trailer, b'\r') => Chunk::TrailerLf,
            (Chunk::EndCr | Chunk::Trailer, _) => Chunk::Trailer,
            (Chunk::Data(_), _) => unreachable!("chunk data is passed by count, not byte by byte"),
        };
        Ok(Phase::Chunked(next))
    }
}

/// The trailer section as hyper reads it once the body ends: fields that
/// httparse accepts, names and values `http` accepts.
fn check_trailers(section: &[u8], fields: usize) -> Result<(), &'static str> {
    let mut parsed = vec![httparse::EMPTY_HEADER; fields];
    match httparse::parse_headers(section, &mut parsed) {
        Ok(httparse::Status::Complete((length, parsed))) if length == section.len() => {
            for field in parsed {
                http::HeaderName::from_bytes(field.name.as_bytes())
                    .map_err(|_| "a trailer field name is not a token")?;
                http::HeaderValue::from_bytes(field.value)
                    .map_err(|_| "a trailer field value holds a control byte")?;
            }
            Ok(())
        }
        _ => Err("a malformed trailer section"),
    }
}

fn hex_digit(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// What the connection does after the gate's last verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Still reading.
    Open,
    /// The refusal request was handed over: hyper answers it and closes;
    /// reads wait (an end of input now would abort that answer).
    AnswerRefusal,
    /// End of input once the passed bytes are read.
    EndOfInput,
}

/// A connection whose request bytes pass the [`Gate`] before hyper sees
/// them.
#[derive(Debug)]
pub struct Gated<T> {
    inner: T,
    gate: Gate,
    slot: Rc<RefusalSlot>,
    /// Bytes passed by the gate and not yet read by hyper.
    passed: Vec<u8>,
    passed_read: usize,
    ending: Ending,
}

impl<T> Gated<T> {
    /// Wraps a connection; refusals go to `slot`.
    pub fn new(inner: T, slot: Rc<RefusalSlot>) -> Self {
        Self {
            inner,
            gate: Gate::default(),
            slot,
            passed: Vec::new(),
            passed_read: 0,
            ending: Ending::Open,
        }
    }

    fn refuse(&mut self, place: Place, refusal: Refusal) {
        tracing::debug!(?place, detail = ?refusal.problem.detail, "request framing refused");
        match place {
            Place::Head => {
                self.slot.put(self.gate.heads_passed() + 1, refusal);
                self.passed.extend_from_slice(REFUSAL_HEAD);
                self.ending = Ending::AnswerRefusal;
            }
            Place::Body => {
                self.slot.put(self.gate.heads_passed(), refusal);
                self.ending = Ending::EndOfInput;
            }
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Gated<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        mut buffer: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.passed_read < this.passed.len() {
                let available = &this.passed[this.passed_read..];
                let count = available.len().min(buffer.remaining());
                buffer.put_slice(&available[..count]);
                this.passed_read += count;
                if this.passed_read == this.passed.len() {
                    this.passed.clear();
                    this.passed_read = 0;
                }
                return Poll::Ready(Ok(()));
            }
            match this.ending {
                // hyper is woken by its own work (the answer, then the
                // close); nothing more will arrive from here.
                Ending::AnswerRefusal => return Poll::Pending,
                Ending::EndOfInput => return Poll::Ready(Ok(())),
                Ending::Open => {}
            }
            let mut storage = [0_u8; READ_CHUNK];
            let mut read = hyper::rt::ReadBuf::new(&mut storage);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(context, read.unfilled()))?;
            let filled = read.filled();
            if filled.is_empty() {
                return Poll::Ready(Ok(()));
            }
            if let Err((place, refusal)) = this.gate.push(filled, &mut this.passed) {
                this.refuse(place, refusal);
            }
        }
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Gated<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` whole, split at every position and byte by byte: the
    /// passed bytes, the messages and the verdict must not depend on how
    /// the bytes arrive. Returns the verdict and the messages.
    fn run(input: &[u8]) -> (Result<(), Place>, Vec<Message>, Vec<u8>) {
        let mut whole = Gate::recording();
        let mut out = Vec::new();
        let verdict = whole.push(input, &mut out).map_err(|(place, _)| place);
        for split in 0..input.len() {
            let mut parts = Gate::recording();
            let mut parts_out = Vec::new();
            let parts_verdict = parts
                .push(&input[..split], &mut parts_out)
                .and_then(|()| parts.push(&input[split..], &mut parts_out))
                .map_err(|(place, _)| place);
            assert_eq!(parts_verdict, verdict, "split at {split}");
            assert_eq!(parts.messages(), whole.messages(), "split at {split}");
            assert_eq!(parts_out, out, "split at {split}");
        }
        let mut bytewise = Gate::recording();
        let mut bytewise_out = Vec::new();
        let bytewise_verdict = input
            .iter()
            .try_for_each(|b| bytewise.push(&[*b], &mut bytewise_out))
            .map_err(|(place, _)| place);
        assert_eq!(bytewise_verdict, verdict, "byte by byte");
        assert_eq!(bytewise.messages(), whole.messages(), "byte by byte");
        (verdict, whole.messages().to_vec(), out)
    }

    fn check(input: &[u8], expected: Result<(), Place>, bodies: &[&[u8]]) {
        let (verdict, messages, _) = run(input);
        assert_eq!(verdict, expected, "{:?}", String::from_utf8_lossy(input));
        let found: Vec<&[u8]> = messages.iter().map(|m| m.body.as_slice()).collect();
        assert_eq!(found, bodies, "{:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn well_framed_requests_pass_with_their_bodies() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", &[b""]),
            (b"\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", &[b""]),
            // A body with bare LFs is not a head.
            (
                b"POST /v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\n\"a\":1\n}GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                &[b"{\n\"a\":1\n}", b""],
            ),
            (b"POST / HTTP/1.1\r\ncontent-length:  3 \r\n\r\n\n\r\nGET / HTTP/1.1\r\n\r\n", &[b"\n\r\n", b""]),
            // Leading zeros are digits (hyper reads them so too).
            (b"POST / HTTP/1.1\r\nContent-Length: 0003\r\n\r\nabcGET / HTTP/1.1\r\n\r\n", &[b"abc", b""]),
            // Chunked, with an extension, blanks, bare LF in data and a trailer.
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{\n}\r\nA \t\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                &[b"{\n}0123456789", b""],
            ),
            (b"POST / HTTP/1.1\r\nTRANSFER-ENCODING: Chunked\r\n\r\n0\r\n\r\n", &[b""]),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000000003\r\nabc\r\n0\r\n\r\n", &[b"abc"]),
        ];
        for (input, bodies) in cases {
            check(input, Ok(()), bodies);
        }
    }

    #[test]
    fn nothing_passes_after_a_message_that_closes() {
        check(
            b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\nGET /x HTTP/1.1\n\n",
            Ok(()),
            &[b""],
        );
        check(
            b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            Ok(()),
            &[b""],
        );
        check(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            Ok(()),
            &[b"", b""],
        );
    }

    #[test]
    fn bad_heads_are_refused_before_any_byte_of_them_passes() {
        let cases: &[&[u8]] = &[
            b"GET /health HTTP/1.1\nHost: x\n\n",
            b"GET /health HTTP/1.1\r\nHost: x\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\n\n",
            b"GET /health HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
            b"GET /health#x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /v1/envelopes?#x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
        ];
        for input in cases {
            let (verdict, messages, out) = run(input);
            assert_eq!(
                verdict,
                Err(Place::Head),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert!(
                messages.is_empty() && out.is_empty(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// The defect this gate replaced: a length padded past what an older
    /// scanner kept of a line was misread, and a request behind it was
    /// served. Every padding gives the same boundaries as the short form.
    #[test]
    fn padded_framing_values_are_read_whole() {
        let smuggled = b"GET /smuggled HTTP/1.1\nHost: x\n\n";
        for padding in [0, 200, 255, 256, 257, 1_000, 30_000] {
            let zeros = "0".repeat(padding);
            let mut input = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {zeros}{}\r\n\r\n",
                smuggled.len()
            )
            .into_bytes();
            input.extend_from_slice(smuggled);
            let mut gate = Gate::recording();
            let mut out = Vec::new();
            assert!(gate.push(&input, &mut out).is_ok(), "padding {padding}");
            assert_eq!(gate.messages().len(), 1, "padding {padding}");
            assert_eq!(gate.messages()[0].body, smuggled, "padding {padding}");

            let blanks = " ".repeat(padding);
            let mut input = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:{blanks}chunked\r\n\r\n0\r\n\r\n"
            )
            .into_bytes();
            input.extend_from_slice(smuggled);
            let mut gate = Gate::recording();
            let verdict = gate.push(&input, &mut Vec::new());
            assert_eq!(
                verdict.map_err(|(place, _)| place),
                Err(Place::Head),
                "padding {padding}"
            );
            assert_eq!(gate.messages().len(), 1, "padding {padding}");
        }
    }

    #[test]
    fn bad_chunked_framing_is_refused_in_the_body() {
        let cases: &[&[u8]] = &[
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 2\r\n{}\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2 2\r\n{}\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;a\nb\r\n{}\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\nb\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\x01b\r\n\r\n",
        ];
        for input in cases {
            let (verdict, _, _) = run(input);
            assert_eq!(
                verdict,
                Err(Place::Body),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn heads_over_the_ceiling_are_refused() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(HEAD_BYTES_CEILING));
        let mut gate = Gate::default();
        let (place, refusal) = gate
            .push(long.as_bytes(), &mut Vec::new())
            .expect_err("refused");
        assert_eq!(
            (place, refusal.problem.code),
            (Place::Head, Code::HeadersTooLarge)
        );
        let many: String = (0..=HEADERS_CEILING)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        let (_, refusal) = Gate::default()
            .push(many.as_bytes(), &mut Vec::new())
            .expect_err("refused");
        assert_eq!(refusal.problem.code, Code::HeadersTooLarge);
    }

    #[test]
    fn codings_other_than_chunked_are_not_implemented() {
        for coding in ["gzip", "gzip, chunked", "chunked, gzip", "identity"] {
            let input = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {coding}\r\n\r\n");
            let (_, refusal) = Gate::default()
                .push(input.as_bytes(), &mut Vec::new())
                .expect_err(coding);
            assert_eq!(
                refusal.problem.code,
                Code::UnsupportedTransferCoding,
                "{coding}"
            );
        }
    }
}
