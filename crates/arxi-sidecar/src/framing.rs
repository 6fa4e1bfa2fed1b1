//! Strict line endings below hyper.
//!
//! hyper (through httparse) accepts a bare LF as the end of a request-head
//! line, as RFC 9112 §2.2 allows. A proxy in front that does not would see
//! different request boundaries: a request smuggled behind one that looks
//! whole to one side. This guard reads the raw bytes before hyper does and
//! closes the connection (an `InvalidData` read error, so hyper answers
//! nothing more) when a line of a request head, of chunked framing or of a
//! trailer ends in anything but CRLF, or a CR stands alone.
//!
//! It follows the message framing just enough to skip bodies: a
//! `Content-Length` body is skipped by count, a chunked body by its chunk
//! sizes. Ambiguous framing (both headers, several lengths, other codings)
//! is refused by hyper itself; this guard need not decide it.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Bytes of each line kept for reading `Content-Length` and
/// `Transfer-Encoding`.
const LINE_KEPT: usize = 256;
/// Bytes read from the socket per call (a stack buffer).
const CHUNK: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a request head.
    Head,
    /// In a `Content-Length` body: bytes left.
    Body(u64),
    /// In a chunk-size line.
    ChunkSize,
    /// In chunk data: bytes left.
    ChunkData(u64),
    /// After chunk data: CRLF expected (bytes of it seen).
    ChunkEnd(u8),
    /// In the trailer section.
    Trailer,
}

/// The line-ending check as a state machine over the request bytes.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    previous_cr: bool,
    line: Vec<u8>,
    line_length: usize,
    head_lines: usize,
    content_length: Option<u64>,
    chunked: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            state: State::Head,
            previous_cr: false,
            line: Vec::with_capacity(LINE_KEPT),
            line_length: 0,
            head_lines: 0,
            content_length: None,
            chunked: false,
        }
    }
}

impl Scanner {
    /// Checks the next bytes of the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), &'static str> {
        while !bytes.is_empty() {
            match self.state {
                State::Body(left) | State::ChunkData(left) => {
                    let skip = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[skip..];
                    let left = left - skip as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => self.next_head(),
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkEnd(0),
                        _ => State::ChunkData(left),
                    };
                }
                State::ChunkEnd(seen) => {
                    let expected = if seen == 0 { b'\r' } else { b'\n' };
                    if bytes[0] != expected {
                        return Err("chunk data not followed by CRLF");
                    }
                    bytes = &bytes[1..];
                    self.state = if seen == 0 {
                        State::ChunkEnd(1)
                    } else {
                        State::ChunkSize
                    };
                }
                State::Head | State::ChunkSize | State::Trailer => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    self.line_byte(byte)?;
                }
            }
        }
        Ok(())
    }

    fn line_byte(&mut self, byte: u8) -> Result<(), &'static str> {
        if self.previous_cr && byte != b'\n' {
            return Err("a bare CR in a request head or chunked framing");
        }
        match byte {
            b'\r' => {
                self.previous_cr = true;
                Ok(())
            }
            b'\n' => {
                if !self.previous_cr {
                    return Err("a line ending in a bare LF in a request head or chunked framing");
                }
                self.previous_cr = false;
                self.end_of_line()
            }
            _ => {
                if self.line.len() < LINE_KEPT {
                    self.line.push(byte);
                }
                self.line_length += 1;
                Ok(())
            }
        }
    }

    fn end_of_line(&mut self) -> Result<(), &'static str> {
        let empty = self.line_length == 0;
        match self.state {
            State::Head if empty => {
                // An empty line before the request line is tolerated
                // (RFC 9112 §2.2); after it, the head is complete.
                if self.head_lines > 0 {
                    self.state = if self.chunked {
                        State::ChunkSize
                    } else {
                        match self.content_length {
                            Some(length) if length > 0 => State::Body(length),
                            _ => self.next_head(),
                        }
                    };
                }
            }
            State::Head => {
                self.head_lines += 1;
                self.read_header();
            }
            State::ChunkSize => {
                let digits = self
                    .line
                    .split(|b| *b == b';')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                if digits.is_empty() || digits.len() > 15 {
                    return Err("a chunk size that is missing or too large");
                }
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|text| u64::from_str_radix(text, 16).ok())
                    .ok_or("a chunk size that is not hexadecimal")?;
                self.state = if size == 0 {
                    State::Trailer
                } else {
                    State::ChunkData(size)
                };
            }
            State::Trailer if empty => self.state = self.next_head(),
            State::Trailer => {}
            State::Body(_) | State::ChunkData(_) | State::ChunkEnd(_) => {}
        }
        self.line.clear();
        self.line_length = 0;
        Ok(())
    }

    fn read_header(&mut self) {
        let Some(colon) = self.line.iter().position(|b| *b == b':') else {
            return;
        };
        let (name, value) = (&self.line[..colon], self.line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            if let Some(length) = std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
            {
                self.content_length.get_or_insert(length);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            && value
                .to_ascii_lowercase()
                .windows(7)
                .any(|window| window == b"chunked")
        {
            self.chunked = true;
        }
    }

    fn next_head(&mut self) -> State {
        self.head_lines = 0;
        self.content_length = None;
        self.chunked = false;
        State::Head
    }
}

/// A connection whose request bytes pass the [`Scanner`] before hyper sees
/// them.
#[derive(Debug)]
pub struct StrictLines<T> {
    inner: T,
    scanner: Scanner,
    refused: Option<&'static str>,
}

impl<T> StrictLines<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            scanner: Scanner::default(),
            refused: None,
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for StrictLines<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        mut buffer: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(reason) = this.refused {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                reason,
            )));
        }
        let mut storage = [0_u8; CHUNK];
        let want = buffer.remaining().min(CHUNK);
        let mut read = hyper::rt::ReadBuf::new(&mut storage[..want]);
        ready!(Pin::new(&mut this.inner).poll_read(context, read.unfilled()))?;
        let filled = read.filled();
        if let Err(reason) = this.scanner.feed(filled) {
            this.refused = Some(reason);
            tracing::debug!(reason, "request framing refused; closing the connection");
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                reason,
            )));
        }
        buffer.put_slice(filled);
        Poll::Ready(Ok(()))
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for StrictLines<T> {
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

    /// Feeds `input` whole and split at every position: the verdict must
    /// not depend on how the bytes arrive.
    fn check(input: &[u8], expected: Result<(), ()>) {
        let mut whole = Scanner::default();
        assert_eq!(
            whole.feed(input).map_err(drop),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        for split in 0..input.len() {
            let mut parts = Scanner::default();
            let verdict = parts
                .feed(&input[..split])
                .and_then(|()| parts.feed(&input[split..]));
            assert_eq!(verdict.map_err(drop), expected, "split at {split}");
        }
        let mut bytewise = Scanner::default();
        let verdict = input.iter().try_for_each(|b| bytewise.feed(&[*b]));
        assert_eq!(verdict.map_err(drop), expected, "byte by byte");
    }

    #[test]
    fn well_framed_requests_pass() {
        let cases: &[&[u8]] = &[
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            // A body with bare LFs is not a head.
            b"POST /v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\n\"a\":1\n}GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST / HTTP/1.1\r\ncontent-length:  3 \r\n\r\n\n\r\nGET / HTTP/1.1\r\n\r\n",
            // Chunked, with an extension, bare LF in data and a trailer.
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{\n}\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTRANSFER-ENCODING: Chunked\r\n\r\n0\r\n\r\n",
        ];
        for case in cases {
            check(case, Ok(()));
        }
    }

    #[test]
    fn bare_line_ends_are_refused() {
        let cases: &[&[u8]] = &[
            b"GET /health HTTP/1.1\nHost: x\n\n",
            b"GET /health HTTP/1.1\r\nHost: x\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\n\n",
            b"GET /health HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
            // After a body, the next head is checked again.
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\nHost: x\n\n",
            // Chunked framing lines.
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\n",
        ];
        for case in cases {
            check(case, Err(()));
        }
    }
}
