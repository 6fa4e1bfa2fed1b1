//! The audit bundle container, version 1 (`Docs/format.md` §11): framing,
//! and the manifest, key and trailer records.
//!
//! A bundle is one file: the preamble `ARXI-BUNDLE 1\n`, then records, each
//! `TAG SP LENGTH LF PAYLOAD LF` with a one-letter tag and the payload length
//! in decimal. Tags, in the order they appear:
//!
//! - `M` the manifest (canonical JSON), exactly once, first;
//! - `K` a public key record (canonical JSON), once per key;
//! - `D` a key delegation ([`crate::delegation`], container version 4
//!   only), once per delegated key, before the first envelope;
//! - per segment: `E` envelopes (their stored canonical bytes), each
//!   followed, when it is a version 2 envelope, by one `P` record (what the
//!   bundle discloses of its committed payload, [`crate::payload`]), then
//!   by one `A` record per attachment it references (the raw bytes), then
//!   `S` the segment's seal;
//!   followed by zero or more `T` records (container version 5 only), RFC
//!   3161 timestamp tokens over that seal's hash ([`crate::timestamp`]);
//! - `W` the witnessed anchor ([`crate::anchor`], container version 3
//!   only), at most once, right before the trailer: a checkpoint of the
//!   log tree and the inclusion proof of the bundle's last envelope in it;
//! - `Z` the trailer (canonical JSON), exactly once, last: the manifest's
//!   hash, SHA-256 over every byte before the `Z` record, and the bundle
//!   signature.
//!
//! This module encodes and decodes records from byte buffers; it does no IO
//! (the writer lives in the recorder, the streaming reader in the verifier).

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::digest::Hash32;
use crate::keys::{Domain, KeyId, PublicKey, SecretKey, Sign, Signature, SignatureInvalid};
use crate::record::{Fields, ObjectWriter, RecordError, check_recorder_id, invalid};
use crate::time::Timestamp;

/// The record version (member `v`) of the manifest, key and trailer
/// records, and the container version of a bundle without `P` records.
pub const BUNDLE_VERSION: u64 = 1;

/// The container version of a bundle that holds version 2 envelopes: the
/// version 1 container plus the `P` record.
pub const CONTAINER_VERSION_DISCLOSURES: u64 = 2;

/// The container version of a bundle that carries a witnessed anchor (`W`):
/// the version 2 container plus the `W` record.
pub const CONTAINER_VERSION_ANCHOR: u64 = 3;

/// The container version of a bundle that carries key delegations (`D`):
/// the version 3 container plus the `D` record.
pub const CONTAINER_VERSION_DELEGATIONS: u64 = 4;

/// The container version of a bundle that carries timestamp tokens (`T`):
/// the version 4 container plus the `T` record.
pub const CONTAINER_VERSION_TIMESTAMPS: u64 = 5;

/// The first bytes of every bundle, before the version number.
pub const MAGIC: &[u8] = b"ARXI-BUNDLE ";

/// The preamble of a version 1 bundle.
pub const PREAMBLE: &[u8] = b"ARXI-BUNDLE 1\n";

/// The preamble of a version 2 bundle.
pub const PREAMBLE_DISCLOSURES: &[u8] = b"ARXI-BUNDLE 2\n";

/// The preamble of a version 3 bundle.
pub const PREAMBLE_ANCHOR: &[u8] = b"ARXI-BUNDLE 3\n";

/// The preamble of a version 4 bundle.
pub const PREAMBLE_DELEGATIONS: &[u8] = b"ARXI-BUNDLE 4\n";

/// The preamble of a version 5 bundle.
pub const PREAMBLE_TIMESTAMPS: &[u8] = b"ARXI-BUNDLE 5\n";

/// Largest record payload, for every tag (the one record size limit of the
/// format: a verifier reads a JSON record of this size into memory, and
/// streams an attachment).
pub const RECORD_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Most key records a bundle may hold (bounds what a verifier keeps).
pub const KEY_RECORDS_MAX: usize = 1_024;

/// Most delegation records a bundle may hold (bounds what a verifier
/// keeps).
pub const DELEGATION_RECORDS_MAX: usize = 1_024;

/// Most segments one bundle may hold (bounds the manifest).
pub const SEGMENTS_MAX: usize = 100_000;

/// Record tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// `M`: manifest.
    Manifest,
    /// `K`: public key.
    Key,
    /// `E`: envelope.
    Envelope,
    /// `A`: attachment bytes.
    Attachment,
    /// `S`: seal.
    Seal,
    /// `P`: a payload disclosure (container version 2 and later).
    Payload,
    /// `W`: the witnessed anchor (container version 3 and later).
    Anchor,
    /// `D`: a key delegation (container version 4 and later).
    Delegation,
    /// `T`: a timestamp token of the seal before it (container version 5).
    Timestamp,
    /// `Z`: trailer.
    Trailer,
}

impl Tag {
    /// The tag byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Manifest => b'M',
            Self::Key => b'K',
            Self::Envelope => b'E',
            Self::Attachment => b'A',
            Self::Seal => b'S',
            Self::Payload => b'P',
            Self::Anchor => b'W',
            Self::Delegation => b'D',
            Self::Timestamp => b'T',
            Self::Trailer => b'Z',
        }
    }

    /// Parses a tag byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'M' => Some(Self::Manifest),
            b'K' => Some(Self::Key),
            b'E' => Some(Self::Envelope),
            b'A' => Some(Self::Attachment),
            b'S' => Some(Self::Seal),
            b'P' => Some(Self::Payload),
            b'W' => Some(Self::Anchor),
            b'D' => Some(Self::Delegation),
            b'T' => Some(Self::Timestamp),
            b'Z' => Some(Self::Trailer),
            _ => None,
        }
    }
}

/// The header of one record: `TAG SP LENGTH LF`.
pub fn record_header(tag: Tag, length: usize) -> Vec<u8> {
    let mut header = Vec::with_capacity(16);
    header.push(tag.byte());
    header.push(b' ');
    crate::canonical::write_u64(&mut header, length as u64);
    header.push(b'\n');
    header
}

/// Why framing could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The file does not start with `ARXI-BUNDLE `.
    NotABundle,
    /// A preamble with a version this build does not read.
    UnsupportedVersion(String),
    /// A header that is not `TAG SP LENGTH LF` with a known tag.
    BadHeader(String),
    /// A length over [`RECORD_BYTES_MAX`].
    TooLarge(u64),
    /// A payload not followed by LF.
    MissingTerminator,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotABundle => write!(f, "not an arxi bundle (no ARXI-BUNDLE preamble)"),
            Self::UnsupportedVersion(version) => {
                write!(
                    f,
                    "bundle format version {version:?} is not supported (this build reads 1 to 5)"
                )
            }
            Self::BadHeader(header) => write!(f, "bad record header {header:?}"),
            Self::TooLarge(length) => {
                write!(f, "record of {length} bytes exceeds {RECORD_BYTES_MAX}")
            }
            Self::MissingTerminator => write!(f, "record payload not followed by a newline"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Checks a preamble line (without its LF): `ARXI-BUNDLE 1` to `5`;
/// returns the container version.
pub fn check_preamble(line: &[u8]) -> Result<u64, FrameError> {
    let version = line.strip_prefix(MAGIC).ok_or(FrameError::NotABundle)?;
    if version == b"1" {
        Ok(BUNDLE_VERSION)
    } else if version == b"2" {
        Ok(CONTAINER_VERSION_DISCLOSURES)
    } else if version == b"3" {
        Ok(CONTAINER_VERSION_ANCHOR)
    } else if version == b"4" {
        Ok(CONTAINER_VERSION_DELEGATIONS)
    } else if version == b"5" {
        Ok(CONTAINER_VERSION_TIMESTAMPS)
    } else {
        Err(FrameError::UnsupportedVersion(
            String::from_utf8_lossy(version).chars().take(32).collect(),
        ))
    }
}

/// Parses a header line (without its LF) of a container of version
/// `container` into tag and length (`P` is a tag of versions 2 and later,
/// `W` of 3 and later, `D` of 4 and later, `T` of 5).
pub fn parse_header(line: &[u8], container: u64) -> Result<(Tag, u64), FrameError> {
    let bad = || FrameError::BadHeader(String::from_utf8_lossy(line).chars().take(40).collect());
    let (&tag, rest) = line.split_first().ok_or_else(bad)?;
    let tag = Tag::from_byte(tag)
        .filter(|tag| match tag {
            Tag::Payload => container >= CONTAINER_VERSION_DISCLOSURES,
            Tag::Anchor => container >= CONTAINER_VERSION_ANCHOR,
            Tag::Delegation => container >= CONTAINER_VERSION_DELEGATIONS,
            Tag::Timestamp => container >= CONTAINER_VERSION_TIMESTAMPS,
            _ => true,
        })
        .ok_or_else(bad)?;
    let digits = rest.strip_prefix(b" ").ok_or_else(bad)?;
    let canonical_digits = !digits.is_empty()
        && digits.len() <= 12
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0');
    if !canonical_digits {
        return Err(bad());
    }
    let length = digits
        .iter()
        .fold(0_u64, |acc, &digit| acc * 10 + u64::from(digit - b'0'));
    if length > RECORD_BYTES_MAX {
        return Err(FrameError::TooLarge(length));
    }
    Ok((tag, length))
}

/// Frames records and keeps the running SHA-256 the trailer signs. Does no
/// IO: the caller writes the bytes it is handed, in order.
#[derive(Debug, Clone)]
pub struct Encoder {
    digest: Sha256,
    records: u64,
    bytes: u64,
}

impl Encoder {
    /// Starts a version 1 bundle: returns the encoder and the preamble to
    /// write first.
    pub fn start() -> (Self, &'static [u8]) {
        Self::start_version(BUNDLE_VERSION)
    }

    /// Starts a bundle of container version `container` (1; 2 when it
    /// holds `P` records; 3 when it holds a `W` record; 4 when it holds
    /// `D` records).
    pub fn start_version(container: u64) -> (Self, &'static [u8]) {
        let preamble = match container {
            BUNDLE_VERSION => PREAMBLE,
            CONTAINER_VERSION_DISCLOSURES => PREAMBLE_DISCLOSURES,
            CONTAINER_VERSION_ANCHOR => PREAMBLE_ANCHOR,
            CONTAINER_VERSION_DELEGATIONS => PREAMBLE_DELEGATIONS,
            CONTAINER_VERSION_TIMESTAMPS => PREAMBLE_TIMESTAMPS,
            other => panic!("no container version {other}: the builder picks 1 to 5"),
        };
        let mut digest = Sha256::new();
        digest.update(preamble);
        let encoder = Self {
            digest,
            records: 0,
            bytes: preamble.len() as u64,
        };
        (encoder, preamble)
    }

    /// Frames one record: returns the header to write, then the caller
    /// writes `payload` and a single LF.
    pub fn frame(&mut self, tag: Tag, payload: &[u8]) -> Vec<u8> {
        assert!(tag != Tag::Trailer, "the trailer is written by finish");
        let header = record_header(tag, payload.len());
        self.digest.update(&header);
        self.digest.update(payload);
        self.digest.update(b"\n");
        self.records += 1;
        self.bytes += (header.len() + payload.len() + 1) as u64;
        header
    }

    /// Frames one record into `out` (header, payload, LF).
    pub fn encode(&mut self, tag: Tag, payload: &[u8], out: &mut Vec<u8>) {
        let header = self.frame(tag, payload);
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        out.push(b'\n');
    }

    /// Records framed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes framed so far, preamble included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Signs the trailer over everything framed and returns the `Z` record
    /// bytes (header, payload, LF) and the trailer.
    pub fn finish(self, manifest_hash: Hash32, key: &SecretKey) -> (Vec<u8>, Trailer) {
        let Ok(finished) = self.try_finish(manifest_hash, key);
        finished
    }

    /// [`Self::finish`] with any [`Sign`]er, which may refuse.
    pub fn try_finish<K: Sign + ?Sized>(
        self,
        manifest_hash: Hash32,
        key: &K,
    ) -> Result<(Vec<u8>, Trailer), K::Error> {
        let content_sha256 = Hash32(self.digest.finalize().into());
        let trailer = TrailerBody {
            manifest_hash,
            content_sha256,
            records: self.records,
            key_id: key.public().id().clone(),
        }
        .try_sign(key)?;
        let payload = trailer.to_canonical_bytes();
        let mut out = record_header(Tag::Trailer, payload.len());
        out.extend_from_slice(&payload);
        out.push(b'\n');
        Ok((out, trailer))
    }
}

/// One segment as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSegment {
    /// Segment id.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes.
    pub count: u64,
    /// The seal's Merkle root.
    pub merkle_root: Hash32,
    /// The seal's hash.
    pub seal_hash: Hash32,
}

/// The manifest (`M`): what the bundle claims to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The recorder.
    pub recorder_id: String,
    /// When the bundle was built.
    pub created_at: Timestamp,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes in all segments.
    pub envelope_count: u64,
    /// `prev_hash` of the first envelope (zeros when it is seq 1).
    pub prev_hash: Hash32,
    /// `prev_seal_hash` of the first seal (zeros for segment 1).
    pub prev_seal_hash: Hash32,
    /// The segments, in order.
    pub segments: Vec<ManifestSegment>,
    /// Key ids of the `K` records, in order.
    pub keys: Vec<KeyId>,
    /// The key that signs the trailer.
    pub key_id: KeyId,
}

impl Manifest {
    /// Canonical bytes (the `M` payload).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.segments.len() * 320);
        let mut object = ObjectWriter::new(&mut out);
        object.string("created_at", &self.created_at.to_string());
        object.u64("envelope_count", self.envelope_count);
        object.u64("first_seq", self.first_seq);
        object.string("format", "arxi.bundle");
        object.string("key_id", self.key_id.as_str());
        let mut keys = Vec::with_capacity(2 + self.keys.len() * 44);
        keys.push(b'[');
        for (index, key) in self.keys.iter().enumerate() {
            if index > 0 {
                keys.push(b',');
            }
            crate::canonical::write_string(&mut keys, key.as_str());
        }
        keys.push(b']');
        object.raw("keys", &keys);
        object.u64("last_seq", self.last_seq);
        object.string("prev_hash", &self.prev_hash.to_hex());
        object.string("prev_seal_hash", &self.prev_seal_hash.to_hex());
        object.string("recorder_id", &self.recorder_id);
        let mut segments = Vec::with_capacity(2 + self.segments.len() * 320);
        segments.push(b'[');
        for (index, segment) in self.segments.iter().enumerate() {
            if index > 0 {
                segments.push(b',');
            }
            let mut item = ObjectWriter::new(&mut segments);
            item.u64("count", segment.count);
            item.u64("first_seq", segment.first_seq);
            item.u64("last_seq", segment.last_seq);
            item.string("merkle_root", &segment.merkle_root.to_hex());
            item.string("seal_hash", &segment.seal_hash.to_hex());
            item.u64("segment_id", segment.segment_id);
            item.finish();
        }
        segments.push(b']');
        object.raw("segments", &segments);
        object.u64("v", BUNDLE_VERSION);
        object.finish();
        out
    }

    /// SHA-256 of the canonical bytes.
    pub fn hash(&self) -> Hash32 {
        Hash32::of(&self.to_canonical_bytes())
    }

    /// Reads a manifest (strict).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut fields = Fields::parse(bytes)?;
        fields.version(BUNDLE_VERSION)?;
        if fields.string("format")? != "arxi.bundle" {
            return Err(invalid("format", "must be \"arxi.bundle\""));
        }
        let keys = match fields.take("keys")? {
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => {
                        KeyId::parse(&text).map_err(|e| invalid("keys", e.to_string()))
                    }
                    _ => Err(invalid("keys", "must hold key ids")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(invalid("keys", "must be an array")),
        };
        let segments = match fields.take("segments")? {
            Value::Array(items) if items.len() <= SEGMENTS_MAX => items
                .into_iter()
                .map(|item| {
                    let mut segment = Fields::from_value(item)
                        .map_err(|_| invalid("segments", "must hold objects"))?;
                    let parsed = ManifestSegment {
                        segment_id: segment.u64("segment_id")?,
                        first_seq: segment.u64("first_seq")?,
                        last_seq: segment.u64("last_seq")?,
                        count: segment.u64("count")?,
                        merkle_root: segment.hash("merkle_root")?,
                        seal_hash: segment.hash("seal_hash")?,
                    };
                    segment.finish()?;
                    Ok(parsed)
                })
                .collect::<Result<Vec<_>, RecordError>>()?,
            Value::Array(_) => {
                return Err(invalid(
                    "segments",
                    format!("at most {SEGMENTS_MAX} segments"),
                ));
            }
            _ => return Err(invalid("segments", "must be an array")),
        };
        let manifest = Self {
            recorder_id: fields.string("recorder_id")?,
            created_at: fields.timestamp("created_at")?,
            first_seq: fields.u64("first_seq")?,
            last_seq: fields.u64("last_seq")?,
            envelope_count: fields.u64("envelope_count")?,
            prev_hash: fields.hash("prev_hash")?,
            prev_seal_hash: fields.hash("prev_seal_hash")?,
            segments,
            keys,
            key_id: fields.key_id("key_id")?,
        };
        fields.finish()?;
        check_recorder_id(&manifest.recorder_id)
            .map_err(|reason| invalid("recorder_id", reason))?;
        Ok(manifest)
    }
}

/// A public key record (`K`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key.
    pub public_key: PublicKey,
    /// The first envelope the recorder signed with it.
    pub first_seq: u64,
}

impl KeyRecord {
    /// Canonical bytes (the `K` payload).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        let mut object = ObjectWriter::new(&mut out);
        object.u64("first_seq", self.first_seq);
        object.string("key_id", self.public_key.id().as_str());
        object.string("public_key", &self.public_key.to_hex());
        object.u64("v", BUNDLE_VERSION);
        object.finish();
        out
    }

    /// Reads a key record (strict; the key id must match the key).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let (record, key_id) = Self::parse_stated(bytes)?;
        if record.public_key.id() != &key_id {
            return Err(invalid("key_id", "does not name the public key"));
        }
        Ok(record)
    }

    /// Reads a key record (strict) and returns the `key_id` it states
    /// beside it, whether or not that is the key id of its public key (the
    /// verifier reports the two disagreeing on their own).
    pub fn parse_stated(bytes: &[u8]) -> Result<(Self, KeyId), RecordError> {
        let mut fields = Fields::parse(bytes)?;
        fields.version(BUNDLE_VERSION)?;
        let first_seq = fields.u64("first_seq")?;
        let key_id = fields.key_id("key_id")?;
        let public_key = PublicKey::from_hex(&fields.string("public_key")?)
            .map_err(|e| invalid("public_key", e.to_string()))?;
        fields.finish()?;
        let record = Self {
            public_key,
            first_seq,
        };
        Ok((record, key_id))
    }
}

/// The trailer's signed part (`Z`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailerBody {
    /// SHA-256 of the manifest's canonical bytes.
    pub manifest_hash: Hash32,
    /// SHA-256 of every byte of the file before the `Z` record.
    pub content_sha256: Hash32,
    /// Records before the trailer (manifest included).
    pub records: u64,
    /// The signing key.
    pub key_id: KeyId,
}

/// The signed trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// The signed part.
    pub body: TrailerBody,
    /// SHA-256 of the canonical body.
    pub hash: Hash32,
    /// Ed25519 over [`Domain::Bundle`] and `hash`.
    pub signature: Signature,
}

impl TrailerBody {
    fn write(&self, out: &mut Vec<u8>, auth: Option<(&Hash32, &Signature)>) {
        let mut object = ObjectWriter::new(out);
        object.string("content_sha256", &self.content_sha256.to_hex());
        if let Some((hash, _)) = auth {
            object.string("hash", &hash.to_hex());
        }
        object.string("key_id", self.key_id.as_str());
        object.string("manifest_hash", &self.manifest_hash.to_hex());
        object.u64("records", self.records);
        if let Some((_, signature)) = auth {
            object.string("signature", &signature.to_hex());
        }
        object.u64("v", BUNDLE_VERSION);
        object.finish();
    }

    /// SHA-256 of the canonical body.
    pub fn compute_hash(&self) -> Hash32 {
        let mut out = Vec::with_capacity(300);
        self.write(&mut out, None);
        Hash32::of(&out)
    }

    /// Hashes and signs with the key `key_id` names.
    pub fn sign(self, key: &SecretKey) -> Trailer {
        let Ok(signed) = self.try_sign(key);
        signed
    }

    /// [`Self::sign`] with any [`Sign`]er, which may refuse.
    pub fn try_sign<K: Sign + ?Sized>(self, key: &K) -> Result<Trailer, K::Error> {
        assert_eq!(&self.key_id, key.public().id(), "trailer names another key");
        let hash = self.compute_hash();
        let signature = key.sign_hash(Domain::Bundle, &hash)?;
        Ok(Trailer {
            body: self,
            hash,
            signature,
        })
    }
}

impl Trailer {
    /// Canonical bytes (the `Z` payload).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(500);
        self.body
            .write(&mut out, Some((&self.hash, &self.signature)));
        out
    }

    /// Reads a trailer (strict; not its hash or signature).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut fields = Fields::parse(bytes)?;
        fields.version(BUNDLE_VERSION)?;
        let body = TrailerBody {
            manifest_hash: fields.hash("manifest_hash")?,
            content_sha256: fields.hash("content_sha256")?,
            records: fields.u64("records")?,
            key_id: fields.key_id("key_id")?,
        };
        let hash = fields.hash("hash")?;
        let signature = fields.signature("signature")?;
        fields.finish()?;
        Ok(Self {
            body,
            hash,
            signature,
        })
    }

    /// Verifies hash and signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureInvalid> {
        if self.body.compute_hash() != self.hash || key.id() != &self.body.key_id {
            return Err(SignatureInvalid);
        }
        key.verify(Domain::Bundle, &self.hash, &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_seed(&[4; 32]).expect("seed")
    }

    #[test]
    fn headers() {
        assert_eq!(record_header(Tag::Envelope, 1234), b"E 1234\n");
        assert_eq!(parse_header(b"E 1234", 1), Ok((Tag::Envelope, 1234)));
        assert_eq!(parse_header(b"A 0", 1), Ok((Tag::Attachment, 0)));
        assert_eq!(parse_header(b"P 12", 2), Ok((Tag::Payload, 12)));
        assert!(parse_header(b"P 12", 1).is_err(), "P is a version 2 tag");
        assert_eq!(parse_header(b"P 12", 3), Ok((Tag::Payload, 12)));
        assert_eq!(parse_header(b"W 7", 3), Ok((Tag::Anchor, 7)));
        assert!(parse_header(b"W 7", 2).is_err(), "W is a version 3 tag");
        assert!(parse_header(b"W 7", 1).is_err(), "W is a version 3 tag");
        for bad in [
            &b"E 01"[..],
            b"E",
            b"E -1",
            b"X 1",
            b"E  1",
            b"E 1 ",
            b"e 1",
            b"",
        ] {
            assert!(
                parse_header(bad, 2).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_header(b"A 999999999999", 1),
            Err(FrameError::TooLarge(999_999_999_999))
        );
        assert_eq!(check_preamble(b"ARXI-BUNDLE 1"), Ok(1));
        assert_eq!(check_preamble(b"ARXI-BUNDLE 2"), Ok(2));
        assert_eq!(check_preamble(b"ARXI-BUNDLE 3"), Ok(3));
        assert_eq!(check_preamble(b"ARXI-BUNDLE 4"), Ok(4));
        assert_eq!(check_preamble(b"ARXI-BUNDLE 5"), Ok(5));
        assert_eq!(
            check_preamble(b"ARXI-BUNDLE 6"),
            Err(FrameError::UnsupportedVersion("6".into()))
        );
        assert_eq!(parse_header(b"D 10", 4), Ok((Tag::Delegation, 10)));
        assert!(parse_header(b"D 10", 3).is_err(), "D is a tag of version 4");
        assert_eq!(parse_header(b"D 10", 5), Ok((Tag::Delegation, 10)));
        assert_eq!(parse_header(b"T 10", 5), Ok((Tag::Timestamp, 10)));
        assert!(parse_header(b"T 10", 4).is_err(), "T is a tag of version 5");
        assert_eq!(check_preamble(b"PK\x03\x04"), Err(FrameError::NotABundle));
    }

    #[test]
    fn records_round_trip() {
        let key = key();
        let manifest = Manifest {
            recorder_id: "rec".into(),
            created_at: Timestamp::from_unix_micros(1).expect("time"),
            first_seq: 1,
            last_seq: 9,
            envelope_count: 9,
            prev_hash: Hash32::ZERO,
            prev_seal_hash: Hash32::ZERO,
            segments: vec![ManifestSegment {
                segment_id: 1,
                first_seq: 1,
                last_seq: 9,
                count: 9,
                merkle_root: Hash32::of(b"root"),
                seal_hash: Hash32::of(b"seal"),
            }],
            keys: vec![key.id().clone()],
            key_id: key.id().clone(),
        };
        let bytes = manifest.to_canonical_bytes();
        assert_eq!(
            crate::canonical::canonicalize(&bytes).expect("canonical"),
            bytes
        );
        assert_eq!(Manifest::parse(&bytes), Ok(manifest.clone()));
        let record = KeyRecord {
            public_key: key.public().clone(),
            first_seq: 1,
        };
        assert_eq!(KeyRecord::parse(&record.to_canonical_bytes()), Ok(record));
        let trailer = TrailerBody {
            manifest_hash: manifest.hash(),
            content_sha256: Hash32::of(b"content"),
            records: 3,
            key_id: key.id().clone(),
        }
        .sign(&key);
        let parsed = Trailer::parse(&trailer.to_canonical_bytes()).expect("parses");
        assert_eq!(parsed, trailer);
        assert_eq!(parsed.verify(key.public()), Ok(()));
        let value = crate::json::parse(&trailer.to_canonical_bytes()).expect("json");
        assert_eq!(
            crate::envelope::generic_record_hash(&value),
            Ok(trailer.hash)
        );
        let other = SecretKey::from_seed(&[5; 32]).expect("seed");
        assert_eq!(parsed.verify(other.public()), Err(SignatureInvalid));
    }
}
