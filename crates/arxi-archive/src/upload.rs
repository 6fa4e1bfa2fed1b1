//! Uploading one bundle file and confirming it in the bucket.
//!
//! A file up to `part_bytes` goes in one `PUT`; a larger one as a
//! multipart upload of `part_bytes` parts, read from the file one part at
//! a time into one buffer, so memory stays at one part whatever the
//! bundle's size. Every request carries `Content-MD5` and
//! `x-amz-checksum-sha256` of its body, which the server checks before it
//! stores anything (a corrupted transfer is refused with `BadDigest`).
//! With Object Lock configured, the object (or the multipart upload) is
//! created with `x-amz-object-lock-mode` and
//! `x-amz-object-lock-retain-until-date`.
//!
//! Afterwards the object is confirmed: `HEAD` must report the size, and
//! the stored SHA-256 checksum or the ETag must be the one computed here
//! (MD5 for one `PUT`; MD5 of the part MD5s, `-N`, for a multipart
//! upload); when the server offers neither in that form (some encryption
//! modes change the ETag), the object is read back and hashed. Only a
//! confirmed object is recorded as archived.

use std::io::Read;

use arxi_format::{Hash32, Timestamp};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::s3::{Headers, S3Client, S3Error};

/// Object Lock retention mode (the `x-amz-object-lock-mode` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// `GOVERNANCE`: users with a special permission may shorten it.
    Governance,
    /// `COMPLIANCE`: nobody may shorten it, the root account included.
    Compliance,
}

impl LockMode {
    /// The header value.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// Object Lock settings sent with every upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLock {
    /// The mode.
    pub mode: LockMode,
    /// Days from the upload until the object may be deleted.
    pub retention_days: u64,
}

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// Reading the spooled bundle failed.
    Io(std::io::Error),
    /// The bucket refused or did not answer.
    S3(S3Error),
    /// The object in the bucket is not what was uploaded.
    NotConfirmed(String),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(error) => write!(f, "reading the bundle: {error}"),
            Self::S3(error) => write!(f, "{error}"),
            Self::NotConfirmed(why) => write!(f, "upload not confirmed: {why}"),
        }
    }
}

impl std::error::Error for UploadError {}

impl From<S3Error> for UploadError {
    fn from(error: S3Error) -> Self {
        Self::S3(error)
    }
}

impl From<std::io::Error> for UploadError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The Object Lock headers for an upload made at `now_us`.
pub fn lock_headers(lock: &ObjectLock, now_us: i64) -> Headers {
    let days_us = i64::try_from(lock.retention_days)
        .ok()
        .and_then(|days| days.checked_mul(86_400_000_000))
        .expect("retention_days is validated to at most 36500");
    let until = Timestamp::from_unix_micros(now_us.saturating_add(days_us))
        .expect("now plus at most 100 years is a timestamp");
    // RFC 3339 in whole seconds, as the S3 API writes it.
    let text = until.to_string();
    let until = format!("{}Z", &text[..19]);
    vec![
        (
            "x-amz-object-lock-mode",
            lock.mode.header_value().to_owned(),
        ),
        ("x-amz-object-lock-retain-until-date", until),
    ]
}

/// What an upload expects the bucket to report.
struct Expected {
    etag: String,
    checksum_sha256: String,
}

/// Uploads `size` bytes of `file` (whose SHA-256 is `sha256`) as `key`
/// and confirms the object. `lock` holds the Object Lock headers, if any.
pub fn upload(
    client: &S3Client,
    key: &str,
    file: &mut std::fs::File,
    size: u64,
    sha256: &Hash32,
    part_bytes: u64,
    lock: &Headers,
) -> Result<(), UploadError> {
    let expected = if size <= part_bytes {
        single(client, key, file, size, lock)?
    } else {
        multipart(client, key, file, size, part_bytes, lock)?
    };
    confirm(client, key, size, sha256, &expected)
}

fn single(
    client: &S3Client,
    key: &str,
    file: &mut std::fs::File,
    size: u64,
    lock: &Headers,
) -> Result<Expected, UploadError> {
    let mut body = Vec::with_capacity(usize::try_from(size).expect("at most one part"));
    file.take(size).read_to_end(&mut body)?;
    if body.len() as u64 != size {
        return Err(UploadError::NotConfirmed(format!(
            "the spooled bundle has {} bytes, not {size}",
            body.len()
        )));
    }
    let md5 = Md5::digest(&body);
    let sha = Sha256::digest(&body);
    let mut headers: Headers = vec![
        ("content-md5", base64(&md5)),
        ("x-amz-checksum-sha256", base64(&sha)),
    ];
    headers.extend(lock.iter().cloned());
    client.put_object(key, &body, &headers)?;
    Ok(Expected {
        etag: hex(&md5),
        checksum_sha256: base64(&sha),
    })
}

fn multipart(
    client: &S3Client,
    key: &str,
    file: &mut std::fs::File,
    size: u64,
    part_bytes: u64,
    lock: &Headers,
) -> Result<Expected, UploadError> {
    let mut headers: Headers = vec![("x-amz-checksum-algorithm", "SHA256".to_owned())];
    headers.extend(lock.iter().cloned());
    let upload_id = client.create_multipart(key, &headers)?;
    let result = parts(client, key, &upload_id, file, size, part_bytes);
    if result.is_err()
        && let Err(error) = client.abort_multipart(key, &upload_id)
    {
        tracing::warn!(%error, key, "could not abort a failed multipart upload");
    }
    result
}

fn parts(
    client: &S3Client,
    key: &str,
    upload_id: &str,
    file: &mut std::fs::File,
    size: u64,
    part_bytes: u64,
) -> Result<Expected, UploadError> {
    let part_len = usize::try_from(part_bytes).expect("part sizes are validated below 4 GiB");
    let mut buffer = vec![0_u8; part_len];
    let mut done = Vec::new();
    let (mut md5s, mut shas) = (Md5::new(), Sha256::new());
    let mut sent = 0_u64;
    let mut number = 0_u16;
    while sent < size {
        let length =
            usize::try_from(part_bytes.min(size - sent)).expect("at most one part, below 4 GiB");
        file.read_exact(&mut buffer[..length])?;
        number = number
            .checked_add(1)
            .filter(|n| *n <= 10_000)
            .ok_or_else(|| UploadError::NotConfirmed("more than 10,000 parts".into()))?;
        let body = &buffer[..length];
        let md5 = Md5::digest(body);
        let sha = Sha256::digest(body);
        let headers: Headers = vec![
            ("content-md5", base64(&md5)),
            ("x-amz-checksum-sha256", base64(&sha)),
        ];
        let etag = client.upload_part(key, upload_id, number, body, &headers)?;
        md5s.update(md5);
        shas.update(sha);
        done.push((etag, base64(&sha)));
        sent += length as u64;
    }
    client.complete_multipart(key, upload_id, &done)?;
    Ok(Expected {
        etag: format!("{}-{number}", hex(&md5s.finalize())),
        checksum_sha256: format!("{}-{number}", base64(&shas.finalize())),
    })
}

/// Lowercase hex (an ETag is the MD5 in hex).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Confirms that `key` holds `size` bytes with SHA-256 `sha256`.
fn confirm(
    client: &S3Client,
    key: &str,
    size: u64,
    sha256: &Hash32,
    expected: &Expected,
) -> Result<(), UploadError> {
    let head = client
        .head_object(key)?
        .ok_or_else(|| UploadError::NotConfirmed(format!("{key} is not in the bucket")))?;
    if head.size != size {
        return Err(UploadError::NotConfirmed(format!(
            "{key} holds {} bytes, {size} were uploaded",
            head.size
        )));
    }
    if let Some(checksum) = &head.checksum_sha256 {
        if *checksum == expected.checksum_sha256 {
            return Ok(());
        }
        return Err(UploadError::NotConfirmed(format!(
            "{key} has SHA-256 checksum {checksum}, {} was uploaded",
            expected.checksum_sha256
        )));
    }
    if head.etag == expected.etag {
        return Ok(());
    }
    // The server keeps neither in a form we can compare: read it back.
    let found = sha256_of(client.get_object(key)?)?;
    if found == *sha256 {
        Ok(())
    } else {
        Err(UploadError::NotConfirmed(format!(
            "{key} reads back with SHA-256 {found}, {sha256} was uploaded"
        )))
    }
}

/// SHA-256 of a stream, read in 64 KiB pieces.
pub fn sha256_of(mut source: impl Read) -> Result<Hash32, std::io::Error> {
    let mut digest = Sha256::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = source.read(&mut buffer)?;
        if read == 0 {
            return Ok(Hash32(digest.finalize().into()));
        }
        digest.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_headers_follow_the_s3_contract() {
        // 2026-01-01T00:00:00Z plus 30 days.
        let now_us = 1_767_225_600_000_000;
        let headers = lock_headers(
            &ObjectLock {
                mode: LockMode::Compliance,
                retention_days: 30,
            },
            now_us,
        );
        assert_eq!(
            headers,
            vec![
                ("x-amz-object-lock-mode", "COMPLIANCE".to_owned()),
                (
                    "x-amz-object-lock-retain-until-date",
                    "2026-01-31T00:00:00Z".to_owned()
                ),
            ]
        );
        assert_eq!(LockMode::Governance.header_value(), "GOVERNANCE");
    }
}
