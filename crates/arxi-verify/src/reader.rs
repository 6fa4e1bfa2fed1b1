//! Streaming bundle reader: preamble, then one record at a time.
//!
//! Every byte read goes through a running SHA-256 so the trailer's content
//! digest can be checked without a second pass. A JSON record is read into
//! memory (at most [`RECORD_BYTES_MAX`], the format's one record limit,
//! grown as bytes arrive so a header that lies about its length costs
//! nothing); attachment payloads are hashed as they stream and never held,
//! so memory stays flat whatever the bundle's size.

use std::io::{Read, Write};

use arxi_format::Hash32;
use arxi_format::bundle::{self, FrameError, Tag};
use sha2::{Digest as _, Sha256};

pub use arxi_format::bundle::RECORD_BYTES_MAX;

/// Longest preamble line read, without its LF.
pub const PREAMBLE_BYTES_MAX: usize = 32;

/// Longest record header line read, without its LF.
pub const HEADER_BYTES_MAX: usize = 24;

/// One record.
#[derive(Debug)]
pub enum Record {
    /// A JSON record (`M`, `K`, `E`, `P`, `S`, `Z`) with its payload.
    Json {
        /// The tag.
        tag: Tag,
        /// The payload bytes.
        payload: Vec<u8>,
    },
    /// An attachment (`A`): its SHA-256 and size, the bytes not kept.
    Attachment {
        /// SHA-256 of the payload.
        sha256: Hash32,
        /// Payload length.
        size: u64,
    },
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The file ended inside a record (or before the trailer).
    Truncated {
        /// Bytes read in all.
        offset: u64,
    },
    /// Framing that cannot be parsed.
    Frame {
        /// Byte offset of the header.
        offset: u64,
        /// What is wrong.
        error: FrameError,
    },
    /// The operating system failed the read (or, when copying an
    /// attachment out, the write).
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { offset } => {
                write!(f, "the file ends inside a record at byte {offset}")
            }
            Self::Frame { offset, error } => write!(f, "at byte {offset}: {error}"),
            Self::Io(error) => write!(f, "reading the bundle: {error}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads a bundle record by record.
pub struct BundleReader<R: Read> {
    source: std::io::BufReader<R>,
    digest: Sha256,
    offset: u64,
    /// The content digest as it stood before the record last returned.
    digest_before_record: Hash32,
    /// Offset of the record last returned.
    record_offset: u64,
    /// The container version the preamble names (1 or 2).
    container: u64,
}

impl<R: Read> std::fmt::Debug for BundleReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleReader")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BundleReader<R> {
    /// Reads and checks the preamble.
    pub fn open(source: R) -> Result<Self, ReadError> {
        let mut reader = Self {
            source: std::io::BufReader::with_capacity(256 * 1024, source),
            digest: Sha256::new(),
            offset: 0,
            digest_before_record: Hash32::ZERO,
            record_offset: 0,
            container: 0,
        };
        let not_a_bundle = ReadError::Frame {
            offset: 0,
            error: FrameError::NotABundle,
        };
        // No preamble line at all (empty, short or binary) is not a bundle.
        let line = match reader.read_line(PREAMBLE_BYTES_MAX) {
            Ok(Some(line)) => line,
            Ok(None) | Err(ReadError::Truncated { .. } | ReadError::Frame { .. }) => {
                return Err(not_a_bundle);
            }
            Err(error) => return Err(error),
        };
        reader.container =
            bundle::check_preamble(&line).map_err(|error| ReadError::Frame { offset: 0, error })?;
        Ok(reader)
    }

    /// The container version the preamble names (1, or 2 for a bundle
    /// that may hold `P` records).
    pub fn container_version(&self) -> u64 {
        self.container
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset of the header of the record last returned.
    pub fn record_offset(&self) -> u64 {
        self.record_offset
    }

    /// SHA-256 of every byte before the record last returned.
    pub fn digest_before_record(&self) -> Hash32 {
        self.digest_before_record
    }

    fn consume(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.offset += bytes.len() as u64;
    }

    /// Reads up to LF (at most `limit` bytes); `None` at a clean end of file.
    fn read_line(&mut self, limit: usize) -> Result<Option<Vec<u8>>, ReadError> {
        let mut line = Vec::with_capacity(16);
        let mut byte = [0_u8; 1];
        loop {
            match self.source.read(&mut byte) {
                Ok(0) if line.is_empty() => return Ok(None),
                Ok(0) => {
                    return Err(ReadError::Truncated {
                        offset: self.offset,
                    });
                }
                Ok(_) => {
                    self.consume(&byte);
                    if byte[0] == b'\n' {
                        return Ok(Some(line));
                    }
                    line.push(byte[0]);
                    if line.len() > limit {
                        return Err(ReadError::Frame {
                            offset: self.offset,
                            error: FrameError::BadHeader(
                                String::from_utf8_lossy(&line).into_owned(),
                            ),
                        });
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(ReadError::Io(error)),
            }
        }
    }

    fn read_exact_into(&mut self, buffer: &mut [u8]) -> Result<(), ReadError> {
        match self.source.read_exact(buffer) {
            Ok(()) => {
                self.consume(buffer);
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(ReadError::Truncated {
                    offset: self.offset,
                })
            }
            Err(error) => Err(ReadError::Io(error)),
        }
    }

    /// Streams `length` payload bytes through SHA-256 without keeping them
    /// (but handing each chunk to `copy`, when given).
    fn hash_payload(
        &mut self,
        length: u64,
        mut copy: Option<&mut dyn Write>,
    ) -> Result<(Hash32, u64), ReadError> {
        let mut hasher = Sha256::new();
        let mut left = length;
        let mut chunk = vec![0_u8; 64 * 1024];
        while left > 0 {
            let take = usize::try_from(left.min(chunk.len() as u64))
                .expect("at most the chunk's length, which is a usize");
            self.read_exact_into(&mut chunk[..take])?;
            hasher.update(&chunk[..take]);
            if let Some(copy) = copy.as_mut() {
                copy.write_all(&chunk[..take]).map_err(ReadError::Io)?;
            }
            left -= take as u64;
        }
        Ok((Hash32(hasher.finalize().into()), length))
    }

    /// Reads `length` payload bytes (at most [`RECORD_BYTES_MAX`], checked
    /// by the header parser) into memory, growing the buffer as they come.
    fn read_payload(&mut self, length: u64) -> Result<Vec<u8>, ReadError> {
        let mut payload = Vec::new();
        let mut left = length;
        let mut chunk = vec![0_u8; 64 * 1024];
        while left > 0 {
            let take = usize::try_from(left.min(chunk.len() as u64))
                .expect("at most the chunk's length, which is a usize");
            self.read_exact_into(&mut chunk[..take])?;
            payload.extend_from_slice(&chunk[..take]);
            left -= take as u64;
        }
        Ok(payload)
    }

    /// The next record, or `None` at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        self.read_record(None)
    }

    /// The next record, like [`Self::next_record`], with an attachment's
    /// bytes also written to `attachment` as they stream (for exporting;
    /// a failed write is returned as [`ReadError::Io`]).
    pub fn next_record_copying(
        &mut self,
        attachment: &mut dyn Write,
    ) -> Result<Option<Record>, ReadError> {
        self.read_record(Some(attachment))
    }

    fn read_record(&mut self, copy: Option<&mut dyn Write>) -> Result<Option<Record>, ReadError> {
        self.digest_before_record = Hash32(self.digest.clone().finalize().into());
        self.record_offset = self.offset;
        let header_offset = self.offset;
        let Some(header) = self.read_line(HEADER_BYTES_MAX)? else {
            return Ok(None);
        };
        let (tag, length) =
            bundle::parse_header(&header, self.container).map_err(|error| ReadError::Frame {
                offset: header_offset,
                error,
            })?;
        let record = if tag == Tag::Attachment {
            let (sha256, size) = self.hash_payload(length, copy)?;
            Record::Attachment { sha256, size }
        } else {
            Record::Json {
                tag,
                payload: self.read_payload(length)?,
            }
        };
        let mut terminator = [0_u8; 1];
        self.read_exact_into(&mut terminator)?;
        if terminator != *b"\n" {
            return Err(ReadError::Frame {
                offset: self.offset - 1,
                error: FrameError::MissingTerminator,
            });
        }
        Ok(Some(record))
    }

    /// True when nothing follows (reads at most one byte).
    pub fn at_end(&mut self) -> Result<bool, ReadError> {
        let mut byte = [0_u8; 1];
        loop {
            match self.source.read(&mut byte) {
                Ok(0) => return Ok(true),
                Ok(_) => {
                    self.consume(&byte);
                    return Ok(false);
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(ReadError::Io(error)),
            }
        }
    }
}
