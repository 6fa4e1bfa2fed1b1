//! arxi-archive: arxi's evidence on S3-compatible object storage.
//!
//! - [`s3`]: the few S3 requests the archive makes, signed with rusty-s3
//!   (SigV4, sans IO) and sent with ureq, blocking, on the caller's
//!   thread (the sidecar runs them on its archiver thread, never on a
//!   runtime thread);
//! - [`keys`]: deterministic object keys (recorder, segment range, SHA-256);
//! - [`upload`]: one bundle file to one object, streamed in parts with
//!   end-to-end checksums, Object Lock headers, and confirmed afterwards;
//! - [`run`]: one run of segments to exactly one object, adopting what an
//!   earlier attempt uploaded;
//! - [`verify`]: a recorder's whole archive checked from the bucket (the
//!   `arxi-archive verify` command, `src/main.rs`).
//!
//! Not here: what to archive when, retries and metrics (the sidecar's
//! archiver), building bundles and recording them (the recorder). The
//! crate depends on the evidence format and the verifier only, so the
//! `arxi-archive` binary an auditor runs holds no SQLite and no recorder.

#![forbid(unsafe_code)]

pub mod keys;
pub mod run;
pub mod s3;
pub mod upload;
pub mod verify;
