//! Archiving one run of segments: its bundle (already spooled to a local
//! file by the recorder) becomes exactly one object, whatever happened
//! before. An object the bucket already holds for the run (a previous
//! attempt uploaded it and then died before recording it) is adopted once
//! its bytes hash to the SHA-256 its name carries; otherwise the bundle is
//! uploaded under its deterministic key and confirmed (`upload.rs`).
//!
//! Not here: the loop, retries and metrics (the sidecar's archiver), and
//! recording the result (the recorder's `record_archived`).

use arxi_format::Hash32;

use crate::keys::{ObjectName, object_key, parse_object_name, recorder_prefix, run_prefix};
use crate::s3::{Headers, S3Client};
use crate::upload::{UploadError, sha256_of, upload};

/// Where runs go and how they are uploaded.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Prepended to every key (`arxi/`, or empty).
    pub key_prefix: String,
    /// The recorder whose runs these are.
    pub recorder_id: String,
    /// Parts of a multipart upload, and the largest single `PUT`.
    pub part_bytes: u64,
}

/// A bundle spooled to a local file.
#[derive(Debug)]
pub struct Spooled {
    /// The file, readable from its start.
    pub file: std::fs::File,
    /// SHA-256 of the file.
    pub sha256: Hash32,
    /// Bytes.
    pub size: u64,
}

/// The object that holds a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedObject {
    /// Its key.
    pub key: String,
    /// What its name says (segment range and SHA-256, which was checked).
    pub name: ObjectName,
    /// Bytes.
    pub size: u64,
    /// True when an earlier attempt had uploaded it.
    pub adopted: bool,
}

/// Puts run `first..=last` in the bucket (or finds it there) and returns
/// the object, confirmed.
pub fn archive_run(
    client: &S3Client,
    settings: &RunSettings,
    first_segment: u64,
    last_segment: u64,
    spooled: &mut Spooled,
    lock: &Headers,
) -> Result<ArchivedObject, UploadError> {
    if let Some(existing) = find_existing(client, settings, first_segment)? {
        return Ok(existing);
    }
    let name = ObjectName {
        first_segment,
        last_segment,
        sha256: spooled.sha256,
    };
    let key = object_key(&settings.key_prefix, &settings.recorder_id, &name);
    upload(
        client,
        &key,
        &mut spooled.file,
        spooled.size,
        &spooled.sha256,
        settings.part_bytes,
        lock,
    )?;
    Ok(ArchivedObject {
        key,
        name,
        size: spooled.size,
        adopted: false,
    })
}

/// Aborts the multipart uploads an earlier process left under the
/// recorder's prefix (a kill between the first part and the completion):
/// they are not objects and never become one, but their parts take space
/// until aborted. Only one archiver writes a recorder's prefix (one
/// recorder id per database, one writer), so nothing in progress is
/// someone else's. Returns how many were aborted.
pub fn abort_stale_uploads(
    client: &S3Client,
    settings: &RunSettings,
) -> Result<usize, UploadError> {
    let prefix = recorder_prefix(&settings.key_prefix, &settings.recorder_id);
    let uploads = client.multipart_uploads(&prefix)?;
    for (key, upload_id) in &uploads {
        client.abort_multipart(key, upload_id)?;
        tracing::info!(%key, "aborted a multipart upload an earlier run left");
    }
    Ok(uploads.len())
}

/// An object of the run starting at `first_segment` that an earlier
/// attempt left, checked by reading it back.
fn find_existing(
    client: &S3Client,
    settings: &RunSettings,
    first_segment: u64,
) -> Result<Option<ArchivedObject>, UploadError> {
    let prefix = run_prefix(&settings.key_prefix, &settings.recorder_id, first_segment);
    let recorder = recorder_prefix(&settings.key_prefix, &settings.recorder_id);
    for listed in client.list_all(&prefix)? {
        let Some(name) = parse_object_name(&listed.key[recorder.len()..]) else {
            continue;
        };
        let found = sha256_of(client.get_object(&listed.key)?)?;
        if found != name.sha256 {
            // Not ours to trust, and not ours to delete: leave it and
            // upload under our own name.
            tracing::warn!(
                key = %listed.key,
                %found,
                "an object of this run does not hash to its name; it is ignored"
            );
            continue;
        }
        tracing::info!(key = %listed.key, "adopting the object an earlier attempt uploaded");
        return Ok(Some(ArchivedObject {
            key: listed.key,
            name,
            size: listed.size,
            adopted: true,
        }));
    }
    Ok(None)
}
