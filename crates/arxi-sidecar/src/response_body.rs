//! Response bodies: whole (JSON, problem details, metrics) or a file
//! streamed in chunks read on the blocking pool (bundle downloads), so a
//! large file never sits in memory and never blocks a runtime thread.

use std::fs::File;
use std::future::Future as _;
use std::io::Read as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::blocking::BlockingPool;

/// Bytes read per chunk of a streamed file.
const CHUNK_BYTES: u64 = 256 * 1024;

/// A response body.
#[derive(Debug)]
pub enum ResponseBody {
    /// All the bytes at once (taken when sent).
    Whole(Option<Bytes>),
    /// A file, streamed.
    File(FileBody),
}

impl ResponseBody {
    /// A whole body.
    pub fn whole(bytes: Bytes) -> Self {
        Self::Whole(Some(bytes))
    }
}

type ChunkResult = std::io::Result<(File, Bytes)>;

enum State {
    Idle(Option<File>),
    Reading(oneshot::Receiver<ChunkResult>),
    Done,
}

/// A file streamed in chunks of [`CHUNK_BYTES`], exactly `length` bytes.
pub struct FileBody {
    pool: Arc<BlockingPool>,
    state: State,
    remaining: u64,
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl FileBody {
    /// Streams `length` bytes of `file` (opened by the caller, so the file
    /// sent is the file that was checked).
    pub fn new(pool: Arc<BlockingPool>, file: File, length: u64) -> Self {
        Self {
            pool,
            state: State::Idle(Some(file)),
            remaining: length,
        }
    }
}

fn read_chunk(mut file: File, want: u64) -> ChunkResult {
    let mut buffer = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    (&mut file).take(want).read_to_end(&mut buffer)?;
    Ok((file, Bytes::from(buffer)))
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Self::Whole(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Self::File(body) => body.poll_chunk(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Self::File(body) => body.remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::File(body) => SizeHint::with_exact(body.remaining),
        }
    }
}

impl FileBody {
    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::Idle(file) => {
                    if self.remaining == 0 {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                    let Some(file) = file.take() else {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    };
                    let want = self.remaining.min(CHUNK_BYTES);
                    match self.pool.run(move || read_chunk(file, want)) {
                        Ok(receiver) => self.state = State::Reading(receiver),
                        Err(_) => {
                            self.state = State::Done;
                            return Poll::Ready(Some(Err(std::io::Error::other(
                                "the read pool is full",
                            ))));
                        }
                    }
                }
                State::Reading(receiver) => {
                    let result = match Pin::new(receiver).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(result)) => result,
                        Poll::Ready(Err(_)) => Err(std::io::Error::other("read worker stopped")),
                    };
                    match result {
                        Ok((_, chunk)) if chunk.is_empty() => {
                            self.state = State::Done;
                            return Poll::Ready(Some(Err(std::io::Error::from(
                                std::io::ErrorKind::UnexpectedEof,
                            ))));
                        }
                        Ok((file, chunk)) => {
                            self.remaining -= chunk.len() as u64;
                            self.state = State::Idle(Some(file));
                            return Poll::Ready(Some(Ok(Frame::data(chunk))));
                        }
                        Err(error) => {
                            self.state = State::Done;
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                }
            }
        }
    }
}
