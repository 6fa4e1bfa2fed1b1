//! The configuration model: one struct per TOML section, with defaults.
//!
//! Names follow the specification where it names a key
//! (`max_request_body_bytes`, `startup_verification_depth`,
//! `shutdown_drain_seconds`, `idempotency_max_entries`, ...) and otherwise
//! put the unit last (`request_timeout_ms`, `age_seconds`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version of this file; must be 1.
    pub config_version: u32,
    /// API compatibility.
    pub api: Api,
    /// The recorder.
    pub recorder: Recorder,
    /// Listeners.
    pub transport: Transport,
    /// Authentication.
    #[serde(default)]
    pub security: Security,
    /// The signing key.
    pub signer: Signer,
    /// Bounds on everything.
    #[serde(default)]
    pub limits: Limits,
    /// Health probes.
    #[serde(default)]
    pub probes: Probes,
    /// The enterprise control-plane bridge.
    #[serde(default)]
    pub enterprise: Enterprise,
    /// Shutdown behaviour.
    #[serde(default)]
    pub shutdown: Shutdown,
    /// The log tree's checkpoints.
    #[serde(default)]
    pub log: Log,
    /// The witnesses that cosign the checkpoints.
    #[serde(default)]
    pub witness: Witness,
    /// RFC 3161 timestamp authorities every seal's hash is sent to
    /// (`[[timestamp]]`, at most 16; none: off).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timestamp: Vec<TimestampAuthority>,
    /// The archive on S3-compatible object storage (absent: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<Archive>,
    /// Local retention of archived segments (absent: everything is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Pages served to people (the browser verifier).
    #[serde(default)]
    pub web: Web,
}

/// `[archive]`: every sealed segment (or a run of them) becomes a bundle
/// uploaded to an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    /// `http://host:port` or `https://host` of the S3 API.
    pub endpoint: String,
    /// The signing region (`us-east-1`; Garage's default is `garage`).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// Prepended to every object key (`arxi/`); may be empty.
    #[serde(default)]
    pub key_prefix: String,
    /// Path-style URLs (`endpoint/bucket/key`, as MinIO and Garage
    /// serve them) instead of virtual-hosted ones (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Where the access keys come from: `file` (`credentials_file`) or
    /// `environment` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`).
    pub credentials: CredentialsSource,
    /// A hardened file (as token files) with `aws_access_key_id = ...`,
    /// `aws_secret_access_key = ...` and optionally `aws_session_token =
    /// ...` lines (the AWS shared-credentials form, one profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Object Lock mode sent with every object: `governance` or
    /// `compliance`. The bucket must have Object Lock enabled, or the
    /// sidecar refuses to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_mode: Option<ObjectLockMode>,
    /// Days each object is locked from its upload (with `object_lock_mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_retention_days: Option<u64>,
    /// Sealed segments per archived bundle.
    #[serde(default = "defaults::archive_segments_per_bundle")]
    pub segments_per_bundle: u64,
    /// Longest time a sealed segment waits for its run to fill before a
    /// shorter run is archived.
    #[serde(default = "defaults::archive_run_wait_seconds")]
    pub run_wait_seconds: u64,
}

impl Archive {
    /// An `[archive]` with every optional member present (for
    /// [`Config::reference`]).
    fn reference() -> Self {
        Self {
            endpoint: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            bucket: "arxi".into(),
            key_prefix: "arxi/".into(),
            path_style: true,
            credentials: CredentialsSource::File,
            credentials_file: Some("s3.credentials".into()),
            object_lock_mode: Some(ObjectLockMode::Compliance),
            object_lock_retention_days: Some(365),
            segments_per_bundle: defaults::archive_segments_per_bundle(),
            run_wait_seconds: defaults::archive_run_wait_seconds(),
        }
    }
}

/// Where the archive's access keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsSource {
    /// `archive.credentials_file`.
    File,
    /// The standard AWS environment variables.
    Environment,
}

/// S3 Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectLockMode {
    /// `GOVERNANCE`.
    Governance,
    /// `COMPLIANCE`.
    Compliance,
}

/// `[retention]`: envelope and attachment rows of archived segments are
/// deleted locally once the segment is older than both bounds; seals stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The newest sealed segments always kept (at least 1).
    pub keep_segments_min: u64,
    /// Segments sealed within this many days are kept.
    pub keep_days_min: u64,
    /// How often the policy is applied.
    #[serde(default = "defaults::retention_check_interval_seconds")]
    pub check_interval_seconds: u64,
}

/// `[web]`: pages the sidecar serves to people, off by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Web {
    /// The browser verifier, one HTML file (`scripts/build-verify-web.sh`
    /// makes it; release artifacts and the Docker image carry it), served
    /// at `GET /verify` on the read plane. Read once at start; unset, the
    /// route answers 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_page_file: Option<PathBuf>,
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// The HTTP API major version this file was written for; must be 1.
    pub major_version: u32,
}

/// `[recorder]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorder {
    /// Recorder id: 1-64 bytes of `[a-z0-9._-]`, fixed for a database.
    pub id: String,
    /// Directory of the database (`arxi.db`); created if missing.
    pub data_dir: PathBuf,
    /// Newest envelopes (and their segments' seals) verified at start.
    #[serde(default = "defaults::startup_verification_depth")]
    pub startup_verification_depth: u64,
    /// Automatic sealing.
    #[serde(default)]
    pub auto_seal: AutoSeal,
    /// Where built bundles are written (default `<data_dir>/bundles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_dir: Option<PathBuf>,
    /// Threads that sign envelopes (1 to 64; default: one per core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_threads: Option<u32>,
    /// The version data envelopes are written in: 1 carries the payload
    /// in the signed envelope, 2 carries a salted commitment to it and
    /// keeps the payload beside it, so it can be erased
    /// (`Docs/format.md` §6.1). A change takes effect at the next start
    /// and is recorded there (`arxi.envelope.version_changed`).
    #[serde(default = "defaults::envelope_version")]
    pub envelope_version: u64,
    /// Version 2: commit to the actor instead of writing it in clear (then
    /// erasable with the payload; queries by actor no longer find it).
    #[serde(default)]
    pub commit_actor: bool,
    /// Version 2: commit to the subject instead of writing it in clear
    /// (then erasable with the payload).
    #[serde(default)]
    pub commit_subject: bool,
    /// Crypto-shredding: a key file (created mode 0600; keep it off the
    /// database's volume and out of its backups) holding one key per
    /// subject. Version 2 payloads that name a subject are stored
    /// encrypted under that subject's key, and an erasure by subject
    /// destroys the key, which also makes that subject's payloads
    /// unreadable in copies of the database made before
    /// (`Docs/format.md` §10.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_keys_file: Option<PathBuf>,
}

/// `[recorder.auto_seal]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoSeal {
    /// Envelopes per segment (control envelopes included).
    #[serde(default = "defaults::auto_seal_envelopes_max")]
    pub envelopes_max: u64,
    /// Bytes per segment (envelopes plus attachments).
    #[serde(default = "defaults::auto_seal_bytes_max")]
    pub bytes_max: u64,
    /// Seconds a segment stays open.
    #[serde(default = "defaults::auto_seal_age_seconds")]
    pub age_seconds: u64,
}

impl Default for AutoSeal {
    fn default() -> Self {
        Self {
            envelopes_max: defaults::auto_seal_envelopes_max(),
            bytes_max: defaults::auto_seal_bytes_max(),
            age_seconds: defaults::auto_seal_age_seconds(),
        }
    }
}

/// `[transport]`: at least one of `tcp` and `unix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// A TCP listener.
    pub tcp: Option<TcpListener>,
    /// A Unix socket listener.
    pub unix: Option<UnixListener>,
    /// Runtime threads (one io_uring or epoll loop each).
    #[serde(default = "defaults::workers")]
    pub workers: usize,
    /// `auto` (io_uring, falling back to epoll when refused), `io_uring`
    /// (fail if refused) or `epoll`.
    #[serde(default)]
    pub io_driver: IoDriver,
    /// Accepted `Host` header names (without port); empty means the loopback
    /// names (`localhost`, `127.0.0.1`, `[::1]`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Unix sockets that serve one privilege plane each (and the probes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plane_sockets: Vec<PlaneSocket>,
    /// A Unix socket that serves the probes only, on a thread of its own,
    /// so health checks answer promptly under any load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_socket: Option<UnixListener>,
}

/// `[[transport.plane_sockets]]`: a listener restricted to one plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaneSocket {
    /// The plane this socket serves.
    pub plane: Plane,
    /// Socket path.
    pub path: PathBuf,
    /// File mode of the socket, octal text (`"0660"`).
    #[serde(default = "defaults::unix_mode")]
    pub mode: String,
}

/// A privilege plane: which routes a token (or a plane socket) reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    /// Administration: segments, seal, bundle build, reload.
    Control,
    /// Services writing envelopes.
    Data,
    /// Queries, inspection, verification, keys, config (and, since it
    /// reads everything, the metrics too).
    Read,
    /// Prometheus metrics only: what a scraper needs, and nothing that
    /// reads evidence.
    Metrics,
}

impl Plane {
    /// Every plane.
    pub const ALL: [Plane; 4] = [Plane::Control, Plane::Data, Plane::Read, Plane::Metrics];

    /// `control`, `data`, `read` or `metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::Data => "data",
            Self::Read => "read",
            Self::Metrics => "metrics",
        }
    }

    /// Whether a token (or a plane socket) of this plane reaches a route
    /// of `route_plane`: its own plane, and the read plane also the
    /// metrics plane (a reader sees every envelope, so the metrics tell it
    /// nothing more; a scraper's `metrics` token reaches the metrics only).
    pub fn reaches(self, route_plane: Plane) -> bool {
        self == route_plane || (self == Plane::Read && route_plane == Plane::Metrics)
    }
}

/// `[transport.tcp]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpListener {
    /// An IP address literal (`127.0.0.1`, `::1`, `0.0.0.0`).
    pub host: String,
    /// Port; 0 picks a free one (tests).
    pub port: u16,
}

/// `[transport.unix]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnixListener {
    /// Socket path.
    pub path: PathBuf,
    /// File mode of the socket, octal text (`"0660"`).
    #[serde(default = "defaults::unix_mode")]
    pub mode: String,
}

/// How the runtime talks to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IoDriver {
    /// io_uring, or epoll where io_uring is refused.
    #[default]
    Auto,
    /// io_uring only.
    IoUring,
    /// epoll only.
    Epoll,
}

/// `[security]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// `none` (loopback and Unix socket only) or `token`.
    #[serde(default)]
    pub mode: SecurityMode,
    /// Refuse to serve off loopback without token auth; must stay true.
    #[serde(default = "defaults::yes")]
    pub require_token_for_non_loopback: bool,
    /// A hardened file holding a bearer token valid on every plane.
    pub token_file: Option<PathBuf>,
    /// Bearer tokens scoped to planes (and, for writers, event types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenGrant>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            mode: SecurityMode::None,
            require_token_for_non_loopback: true,
            token_file: None,
            tokens: Vec::new(),
        }
    }
}

/// `[[security.tokens]]`: one bearer token and what it may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGrant {
    /// A label for logs and hooks: 1-64 bytes of `[a-z0-9._-]`, unique.
    pub name: String,
    /// A hardened file holding the token.
    pub file: PathBuf,
    /// The planes the token reaches.
    pub planes: Vec<Plane>,
    /// Event types the token may write: `approvals.*` (a prefix ending at
    /// a dot) or an exact type. Empty means every type. Data plane only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

/// Authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    /// No authentication.
    #[default]
    None,
    /// Bearer tokens (RFC 6750).
    Token,
}

/// `[signer]`: the key in a file (`key_file`) or in a PKCS#11 token
/// (`pkcs11_module` and the other `pkcs11_` keys), exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// File with the Ed25519 secret seed (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Create a new key when the file is missing (development only).
    #[serde(default)]
    pub generate_if_missing: bool,
    /// The PKCS#11 module (a shared library, absolute path) of the token
    /// that holds the key, instead of `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label (or `pkcs11_slot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_token_label: Option<String>,
    /// The slot id holding the token (or `pkcs11_token_label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_slot: Option<u64>,
    /// The label of the Ed25519 key pair in the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_key_label: Option<String>,
    /// File with the token's user PIN (hardened: mode 0600 or stricter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Delegated envelope keys: the configured key becomes the root, which
    /// certifies a short-lived key made in memory at every start and
    /// rotation; that key signs envelopes and seals, the root only
    /// delegations, checkpoints, bundles and the signed head.
    #[serde(default)]
    pub delegate: bool,
    /// With `delegate`: a new delegated key after this many envelopes.
    #[serde(default = "defaults::delegate_rotate_envelopes")]
    pub delegate_rotate_envelopes: u64,
    /// With `delegate`: a new delegated key after this many seconds.
    #[serde(default = "defaults::delegate_rotate_seconds")]
    pub delegate_rotate_seconds: u64,
}

impl Signer {
    /// The token and key the `pkcs11_` keys name, once `pkcs11_module`,
    /// `pkcs11_key_label` and `pkcs11_pin_file` are set (validation says
    /// which is missing).
    pub fn pkcs11(&self) -> Option<Pkcs11Signer> {
        Some(Pkcs11Signer {
            module: self.pkcs11_module.clone()?,
            token_label: self.pkcs11_token_label.clone(),
            slot: self.pkcs11_slot,
            key_label: self.pkcs11_key_label.clone()?,
            pin_file: self.pkcs11_pin_file.clone()?,
        })
    }
}

/// A key in a PKCS#11 token: the module, the token (by label or by slot:
/// exactly one), the key pair's label (its public key object carries the
/// same label) and the PIN file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Signer {
    /// The PKCS#11 module (a shared library), an absolute path.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: Option<String>,
    /// The slot id holding the token.
    pub slot: Option<u64>,
    /// The label of the Ed25519 key pair.
    pub key_label: String,
    /// File with the user PIN.
    pub pin_file: PathBuf,
}

/// `[limits]`: every bound. Defaults, bounds and when a change applies are
/// in the one table of `limits.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes.
    #[serde(rename = "max_request_body_bytes")]
    pub request_body_bytes_max: u64,
    /// Largest body of `POST /v1/envelopes/with-attachments`.
    #[serde(rename = "max_attachment_request_bytes")]
    pub attachment_request_bytes_max: u64,
    /// Largest body of `POST /v1/envelopes/batch`.
    pub batch_request_bytes_max: u64,
    /// Most envelopes in one batch.
    pub batch_envelopes_max: u64,
    /// Largest single attachment.
    pub attachment_bytes_max: u64,
    /// Most attachments on one envelope.
    pub attachments_max: u64,
    /// Largest request head (request line and headers), in bytes.
    #[serde(rename = "max_header_bytes")]
    pub header_bytes_max: u64,
    /// Most request headers.
    #[serde(rename = "max_headers")]
    pub headers_max: u64,
    /// Open connections at once.
    #[serde(rename = "max_connections")]
    pub connections_max: u64,
    /// Requests being handled at once.
    #[serde(rename = "max_concurrent_requests")]
    pub concurrent_requests_max: u64,
    /// Requests waiting for a handling slot; beyond this, 429.
    #[serde(rename = "max_queued_requests")]
    pub queued_requests_max: u64,
    /// Time to handle one request.
    pub request_timeout_ms: u64,
    /// Time to receive a request head; also bounds idle keep-alive.
    pub header_read_timeout_ms: u64,
    /// Commands the recorder queues before refusing (429).
    #[serde(rename = "recorder_queue_capacity")]
    pub recorder_queue_commands_max: u64,
    /// Bytes the recorder queues before refusing (429).
    pub recorder_queue_bytes_max: u64,
    /// Largest query page.
    #[serde(rename = "query_page_max")]
    pub query_page_envelopes_max: u64,
    /// Idempotency record lifetime.
    pub idempotency_ttl_seconds: u64,
    /// Idempotency records kept (oldest evicted first).
    #[serde(rename = "idempotency_max_entries")]
    pub idempotency_entries_max: u64,
    /// Longest `Idempotency-Key`.
    pub idempotency_key_bytes_max: u64,
    /// Largest body of `POST /v1/bundles/verify` and `/inspect` (a bundle
    /// uploaded as base64 inside JSON).
    pub bundle_upload_bytes_max: u64,
    /// Time to build, verify or inspect a bundle (instead of
    /// `request_timeout_ms`).
    pub bundle_timeout_ms: u64,
    /// Largest part of a multipart upload, and largest single `PUT`.
    #[serde(rename = "archive_part_bytes")]
    pub archive_part_bytes_max: u64,
    /// Time one archive request may take.
    pub archive_request_timeout_ms: u64,
    /// First wait before a failed archive attempt is tried again.
    pub archive_retry_min_ms: u64,
    /// Longest wait between two archive attempts.
    pub archive_retry_max_ms: u64,
    /// Rows deleted per transaction while pruned rows go.
    #[serde(rename = "retention_delete_rows_per_batch")]
    pub retention_delete_rows_max: u64,
    /// Free pages given back per transaction.
    #[serde(rename = "retention_vacuum_pages_per_batch")]
    pub retention_vacuum_pages_max: u64,
    /// Largest browser verifier page (`web.verifier_page_file`).
    pub verifier_page_bytes_max: u64,
}

impl Limits {
    /// Every limit 0: the base the table's defaults are written onto.
    pub(crate) const ZERO: Self = Self {
        request_body_bytes_max: 0,
        attachment_request_bytes_max: 0,
        batch_request_bytes_max: 0,
        batch_envelopes_max: 0,
        attachment_bytes_max: 0,
        attachments_max: 0,
        header_bytes_max: 0,
        headers_max: 0,
        connections_max: 0,
        concurrent_requests_max: 0,
        queued_requests_max: 0,
        request_timeout_ms: 0,
        header_read_timeout_ms: 0,
        recorder_queue_commands_max: 0,
        recorder_queue_bytes_max: 0,
        query_page_envelopes_max: 0,
        idempotency_ttl_seconds: 0,
        idempotency_entries_max: 0,
        idempotency_key_bytes_max: 0,
        bundle_upload_bytes_max: 0,
        bundle_timeout_ms: 0,
        archive_part_bytes_max: 0,
        archive_request_timeout_ms: 0,
        archive_retry_min_ms: 0,
        archive_retry_max_ms: 0,
        retention_delete_rows_max: 0,
        retention_vacuum_pages_max: 0,
        verifier_page_bytes_max: 0,
    };
}

/// `[probes]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probes {
    /// `/ready` answers 503 `request_capacity_exhausted` while saturated.
    #[serde(default)]
    pub ready_fail_on_admission_saturation: bool,
    /// What `/ready` depends on.
    #[serde(default)]
    pub readiness_mode: ReadinessMode,
    /// Path probed on the control plane in `storage_and_enterprise` mode.
    #[serde(default = "defaults::enterprise_health_path")]
    pub enterprise_health_path: String,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            ready_fail_on_admission_saturation: false,
            readiness_mode: ReadinessMode::Storage,
            enterprise_health_path: defaults::enterprise_health_path(),
        }
    }
}

/// What readiness depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessMode {
    /// The store only.
    #[default]
    Storage,
    /// The store and the enterprise control plane.
    StorageAndEnterprise,
}

/// `[enterprise]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enterprise {
    /// `disabled`, `self_hosted` or `managed_cloud`.
    #[serde(default)]
    pub mode: EnterpriseMode,
    /// Base URL of the control plane (`http://host:port`).
    pub control_plane_url: Option<String>,
    /// A hardened file holding the control plane's bearer token.
    pub token_file: Option<PathBuf>,
    /// In `managed_cloud`, every mutation must carry a writer lease.
    #[serde(default)]
    pub require_writer_lease_header: bool,
    /// Time allowed for each control-plane call.
    #[serde(default = "defaults::enterprise_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for Enterprise {
    fn default() -> Self {
        Self {
            mode: EnterpriseMode::Disabled,
            control_plane_url: None,
            token_file: None,
            require_writer_lease_header: false,
            timeout_ms: defaults::enterprise_timeout_ms(),
        }
    }
}

/// Enterprise bridge mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EnterpriseMode {
    /// No control plane.
    #[default]
    Disabled,
    /// A control plane the operator runs.
    SelfHosted,
    /// A managed control plane.
    ManagedCloud,
}

/// `[shutdown]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// Time in-flight requests get to finish after SIGTERM/SIGINT.
    #[serde(default = "defaults::shutdown_drain_seconds")]
    pub shutdown_drain_seconds: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            shutdown_drain_seconds: defaults::shutdown_drain_seconds(),
        }
    }
}

/// Default values referenced by serde.
/// `[log]`: checkpoints of the log tree over every envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// The origin line of the checkpoints and the name of the key that
    /// signs them (no spaces, no `+`); default `arxi/<recorder.id>`.
    pub origin: Option<String>,
    /// How often a checkpoint is signed when the tree grew (100 to
    /// 3,600,000 ms).
    #[serde(default = "defaults::checkpoint_interval_ms")]
    pub checkpoint_interval_ms: u64,
    /// Least time between two `arxi.log.checkpoint` control envelopes (1 to
    /// 86,400 s); see Docs/format.md for the rule.
    #[serde(default = "defaults::checkpoint_record_interval_seconds")]
    pub checkpoint_record_interval_seconds: u64,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            origin: None,
            checkpoint_interval_ms: defaults::checkpoint_interval_ms(),
            checkpoint_record_interval_seconds: defaults::checkpoint_record_interval_seconds(),
        }
    }
}

/// `[witness]`: who cosigns the checkpoints, and when a checkpoint counts
/// as witnessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    /// Cosignatures that make a checkpoint witnessed (default: a majority
    /// of the peers; 0 with no peers).
    pub quorum: Option<u32>,
    /// When positive, `/ready` answers 503 `witness_lag` once no checkpoint
    /// has been witnessed for this long while newer envelopes wait.
    #[serde(default)]
    pub max_lag_ms: u64,
    /// The witnesses (C2SP tlog-witness), at most 32.
    #[serde(default)]
    pub peers: Vec<WitnessPeer>,
}

/// `[[witness.peers]]`: one witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessPeer {
    /// The witness's cosignature key (C2SP vkey, type 0x04); its name
    /// names the witness.
    pub vkey: String,
    /// The submission prefix (`http://` or `https://`); requests go to
    /// `<url>/add-checkpoint`.
    pub url: String,
    /// Bound on one request (100 to 60,000 ms).
    #[serde(default = "defaults::witness_timeout_ms")]
    pub timeout_ms: u64,
}

/// `[[timestamp]]`: one RFC 3161 timestamp authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampAuthority {
    /// Its name: 1 to 64 characters of `A-Z a-z 0-9 . _ -`, unique; it
    /// labels its tokens in bundles, its metrics and its readiness entry.
    pub name: String,
    /// Where `TimeStampReq`s are POSTed (`http://` or `https://`).
    pub url: String,
    /// A PEM (or DER) file of the TSA's certificate or of the CA
    /// certificate that issues it; every token is checked against it
    /// before it is stored.
    pub ca_cert: String,
    /// Bound on one request (100 to 60,000 ms).
    #[serde(default = "defaults::timestamp_timeout_ms")]
    pub timeout_ms: u64,
    /// What it stamps: `"seals"` (every seal's hash, carried in bundles as
    /// `T` records) or `"checkpoints"` (a checkpoint of the log tree at
    /// most every `checkpoint_interval_seconds`, recorded in the chain as
    /// `arxi.log.timestamped`). To stamp both, configure the TSA twice
    /// under two names.
    #[serde(default = "defaults::timestamp_subject")]
    pub subject: String,
    /// With `subject = "checkpoints"`: the least time between two tokens
    /// (10 to 86,400 s); a checkpoint is stamped only when the log holds an
    /// envelope after the last `arxi.log.timestamped`.
    #[serde(default = "defaults::timestamp_checkpoint_interval_seconds")]
    pub checkpoint_interval_seconds: u64,
}

pub(crate) mod defaults {
    pub(crate) fn timestamp_timeout_ms() -> u64 {
        10_000
    }
    pub(crate) fn timestamp_subject() -> String {
        "seals".into()
    }
    pub(crate) fn timestamp_checkpoint_interval_seconds() -> u64 {
        600
    }
    pub(crate) fn checkpoint_interval_ms() -> u64 {
        1_000
    }
    pub(crate) fn checkpoint_record_interval_seconds() -> u64 {
        60
    }
    pub(crate) fn witness_timeout_ms() -> u64 {
        5_000
    }
    pub(crate) fn startup_verification_depth() -> u64 {
        1_000
    }
    pub(crate) fn envelope_version() -> u64 {
        1
    }
    pub(crate) fn auto_seal_envelopes_max() -> u64 {
        100_000
    }
    pub(crate) fn auto_seal_bytes_max() -> u64 {
        256 * 1024 * 1024
    }
    pub(crate) fn auto_seal_age_seconds() -> u64 {
        3_600
    }
    pub(crate) fn workers() -> usize {
        2
    }
    pub(crate) fn unix_mode() -> String {
        "0660".into()
    }
    pub(crate) fn yes() -> bool {
        true
    }
    pub(crate) fn enterprise_health_path() -> String {
        "/health".into()
    }
    pub(crate) fn delegate_rotate_envelopes() -> u64 {
        1_000_000
    }
    pub(crate) fn delegate_rotate_seconds() -> u64 {
        3_600
    }
    pub(crate) fn enterprise_timeout_ms() -> u64 {
        2_000
    }
    pub(crate) fn shutdown_drain_seconds() -> u64 {
        10
    }
    pub(crate) fn archive_segments_per_bundle() -> u64 {
        1
    }
    pub(crate) fn archive_run_wait_seconds() -> u64 {
        3_600
    }
    pub(crate) fn retention_check_interval_seconds() -> u64 {
        10
    }
}

impl Config {
    /// A configuration with every optional member present: the reference
    /// from which the set of known keys is derived.
    pub fn reference() -> Self {
        Self {
            config_version: 1,
            api: Api { major_version: 1 },
            recorder: Recorder {
                id: "reference".into(),
                data_dir: "data".into(),
                startup_verification_depth: defaults::startup_verification_depth(),
                auto_seal: AutoSeal::default(),
                bundle_dir: Some("bundles".into()),
                signing_threads: Some(2),
                envelope_version: defaults::envelope_version(),
                commit_actor: false,
                commit_subject: false,
                subject_keys_file: Some("keys/subject-keys.db".into()),
            },
            transport: Transport::reference(),
            security: Security {
                mode: SecurityMode::Token,
                require_token_for_non_loopback: true,
                token_file: Some("token".into()),
                tokens: vec![TokenGrant {
                    name: "writer".into(),
                    file: "writer-token".into(),
                    planes: vec![Plane::Data],
                    namespaces: vec!["approvals.*".into()],
                }],
            },
            signer: Signer {
                key_file: Some("signer.key".into()),
                generate_if_missing: false,
                pkcs11_module: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
                pkcs11_token_label: Some("arxi".into()),
                pkcs11_slot: Some(0),
                pkcs11_key_label: Some("recorder".into()),
                pkcs11_pin_file: Some("token.pin".into()),
                delegate: true,
                delegate_rotate_envelopes: defaults::delegate_rotate_envelopes(),
                delegate_rotate_seconds: defaults::delegate_rotate_seconds(),
            },
            limits: Limits::default(),
            probes: Probes::default(),
            enterprise: Enterprise {
                mode: EnterpriseMode::Disabled,
                control_plane_url: Some("http://127.0.0.1:9000".into()),
                token_file: Some("cp-token".into()),
                require_writer_lease_header: false,
                timeout_ms: defaults::enterprise_timeout_ms(),
            },
            shutdown: Shutdown::default(),
            log: Log {
                origin: Some("example.org/arxi".into()),
                ..Log::default()
            },
            witness: Witness::reference(),
            timestamp: vec![TimestampAuthority::reference()],
            archive: Some(Archive::reference()),
            retention: Some(Retention {
                keep_segments_min: 10,
                keep_days_min: 7,
                check_interval_seconds: defaults::retention_check_interval_seconds(),
            }),
            web: Web {
                verifier_page_file: Some("arxi-verify.html".into()),
            },
        }
    }
}

impl Transport {
    /// Every member present (see [`Config::reference`]).
    fn reference() -> Self {
        Self {
            tcp: Some(TcpListener {
                host: "127.0.0.1".into(),
                port: 7878,
            }),
            unix: Some(UnixListener {
                path: "arxi.sock".into(),
                mode: defaults::unix_mode(),
            }),
            workers: defaults::workers(),
            io_driver: IoDriver::Auto,
            allowed_hosts: vec!["localhost".into()],
            plane_sockets: vec![PlaneSocket {
                plane: Plane::Data,
                path: "data.sock".into(),
                mode: defaults::unix_mode(),
            }],
            probe_socket: Some(UnixListener {
                path: "probe.sock".into(),
                mode: defaults::unix_mode(),
            }),
        }
    }
}

impl TimestampAuthority {
    /// Every member present (see [`Config::reference`]).
    fn reference() -> Self {
        Self {
            name: "tsa-1".into(),
            url: "https://tsa.example/".into(),
            ca_cert: "tsa-ca.pem".into(),
            timeout_ms: defaults::timestamp_timeout_ms(),
            subject: defaults::timestamp_subject(),
            checkpoint_interval_seconds: defaults::timestamp_checkpoint_interval_seconds(),
        }
    }
}

impl Witness {
    /// Every member present (see [`Config::reference`]).
    fn reference() -> Self {
        Self {
            quorum: Some(1),
            max_lag_ms: 10_000,
            peers: vec![WitnessPeer {
                vkey: "witness.example/w1+00000000+BA==".into(),
                url: "https://witness.example".into(),
                timeout_ms: defaults::witness_timeout_ms(),
            }],
        }
    }
}
