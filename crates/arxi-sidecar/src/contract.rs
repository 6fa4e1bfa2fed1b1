//! The API's body types: what handlers serialize and the member lists they
//! parse, and from which the OpenAPI document's schemas are generated
//! (`openapi.rs`). A body changes here or nowhere.
//!
//! Responses are built from these structs and serialized; requests are
//! parsed strictly member by member (for typed errors naming the field),
//! with the accepted member names taken from these structs' schemas, so a
//! request type and its parser cannot drift apart.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// `GET /health`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
    /// `arxi-sidecar`.
    pub service: &'static str,
    /// The binary's version.
    pub version: &'static str,
    /// The recorder id.
    pub recorder_id: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since serving started.
    pub uptime_seconds: u64,
}

/// `GET /startup`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Startup {
    /// Always true (listeners open only after start-up).
    pub started: bool,
    /// `io_uring` or `epoll`.
    pub io_driver: &'static str,
    /// Why io_uring was refused, when it was.
    pub io_uring_refused: Option<String>,
    /// Newest envelopes verified at start (configured).
    pub startup_verification_depth: u64,
    /// Envelopes verified at start.
    pub verified_envelopes: u64,
    /// Seals verified at start.
    pub verified_seals: u64,
    /// A half-written seal completed at start, if any (segment id).
    pub completed_seal: Option<u64>,
    /// How the previous run ended (`clean`, `unclean`, `none`).
    pub previous_shutdown: String,
    /// The signing key in use.
    pub key_id: String,
}

/// `GET /ready`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Ready {
    /// Always true (otherwise the answer is a problem).
    pub ready: bool,
}

/// A segment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Segment {
    /// Segment id.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number so far (`first_seq - 1` while empty).
    pub last_seq: u64,
    /// Envelopes in it.
    pub envelope_count: u64,
    /// Bytes of envelopes and attachments.
    pub bytes: u64,
    /// When it was opened (RFC 3339).
    pub opened_at: String,
    /// When it was sealed, if it is.
    pub sealed_at: Option<String>,
}

/// `POST /v1/segments`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SegmentOpened {
    /// The new segment.
    pub segment: Segment,
}

/// A seal as answered.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SealInfo {
    /// Sealed segment.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes sealed.
    pub count: u64,
    /// RFC 6962 root over the envelope hashes (hex).
    pub merkle_root: String,
    /// Hash of the seal record (hex).
    pub seal_hash: String,
    /// Seal time (RFC 3339).
    pub sealed_at: String,
}

/// `POST /v1/segments/seal`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Sealed {
    /// The seal.
    pub seal: SealInfo,
}

/// `GET /v1/segments`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SegmentList {
    /// Segments in id order.
    pub segments: Vec<Segment>,
    /// Pass as `after` for the next page; null on the last.
    pub next_after: Option<u64>,
}

/// `GET /v1/segments/active`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActiveSegment {
    /// The open segment, or null.
    pub segment: Option<Segment>,
}

/// `POST /v1/envelopes` and `/with-attachments`: the durable receipt.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Receipt {
    /// Sequence number.
    pub seq: u64,
    /// Segment holding it.
    pub segment_id: u64,
    /// Envelope hash (hex).
    pub hash: String,
    /// Previous envelope's hash (hex).
    pub prev_hash: String,
    /// Receive time (RFC 3339).
    pub received_at: String,
    /// Signing key id.
    pub key_id: String,
}

/// `POST /v1/envelopes` body.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RecordRequest {
    /// Event type: `[A-Za-z0-9._:/-]`, not starting with `arxi.`.
    #[schemars(rename = "type")]
    pub event_type: String,
    /// Who acted.
    pub actor: Option<String>,
    /// What it concerns.
    pub subject: Option<String>,
    /// Any JSON value (no duplicate keys, integers within ±(2^53-1)).
    pub payload: Value,
}

/// An attachment in a request.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AttachmentInput {
    /// File name.
    pub name: String,
    /// Media type (`type/subtype`, lowercase).
    pub media_type: String,
    /// Content, standard base64 with padding.
    pub content_base64: String,
}

/// `POST /v1/envelopes/with-attachments` body.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RecordWithAttachmentsRequest {
    /// Event type.
    #[schemars(rename = "type")]
    pub event_type: String,
    /// Who acted.
    pub actor: Option<String>,
    /// What it concerns.
    pub subject: Option<String>,
    /// Any JSON value.
    pub payload: Value,
    /// The attachments.
    pub attachments: Vec<AttachmentInput>,
}

/// The largest integer a JSON number carries exactly (2^53-1).
pub const SAFE_INTEGER_MAX: u64 = 9_007_199_254_740_991;

/// A receive time as envelopes carry it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`
/// (the schema's pattern stops at day 28 of every month; later days are
/// accepted too).
const TIMESTAMP: &str = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{6}Z$";

/// Envelope kinds.
#[derive(Debug, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvelopeKind {
    /// Events sent to the recorder.
    Data,
    /// The recorder's own actions.
    Control,
}

/// `POST /v1/query/envelopes` body (every member optional).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct QueryRequest {
    /// Only this segment.
    #[schemars(range(max = SAFE_INTEGER_MAX))]
    pub segment_id: Option<u64>,
    /// From this sequence number.
    #[schemars(range(max = SAFE_INTEGER_MAX))]
    pub seq_from: Option<u64>,
    /// Up to this sequence number.
    #[schemars(range(max = SAFE_INTEGER_MAX))]
    pub seq_to: Option<u64>,
    /// Received at or after.
    #[schemars(regex(pattern = TIMESTAMP))]
    pub received_from: Option<String>,
    /// Received before.
    #[schemars(regex(pattern = TIMESTAMP))]
    pub received_before: Option<String>,
    /// `data` or `control`.
    pub kind: Option<EnvelopeKind>,
    /// Exact event type.
    #[schemars(rename = "type")]
    pub event_type: Option<String>,
    /// Exact actor.
    pub actor: Option<String>,
    /// From a previous page's `next_cursor`.
    #[schemars(regex(pattern = r"^c1\.[0-9a-f]{1,14}$"))]
    pub cursor: Option<String>,
    /// Page size: 1 to `limits.query_page_max` (1000 by default), default
    /// 100.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u64>,
}

/// `POST /v1/query/envelopes`.
#[derive(Debug, JsonSchema)]
pub struct QueryPage {
    /// Stored canonical envelopes, verbatim, in sequence order.
    pub envelopes: Vec<Value>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A body that must be `{}` (or empty).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Empty {}

/// `POST /v1/bundles/build` body.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BuildRequest {
    /// First sealed segment.
    pub first_segment: Option<u64>,
    /// Last sealed segment.
    pub last_segment: Option<u64>,
    /// The sealed segment holding this sequence number is the first.
    pub first_seq: Option<u64>,
    /// The sealed segment holding this sequence number is the last.
    pub last_seq: Option<u64>,
}

/// A built bundle.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BundleInfo {
    /// Bundle id: the first 32 hex digits of the file's SHA-256.
    pub id: String,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// Manifest hash (hex).
    pub manifest_hash: String,
    /// First segment.
    pub first_segment: u64,
    /// Last segment.
    pub last_segment: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes in it.
    pub envelopes: u64,
    /// Attachments in it.
    pub attachments: u64,
    /// The download path.
    pub download: String,
}

/// The envelope that recorded an action.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Recorded {
    /// Sequence number.
    pub seq: u64,
    /// Segment.
    pub segment_id: u64,
    /// Envelope hash (hex).
    pub hash: String,
}

/// `POST /v1/bundles/build`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BundleBuilt {
    /// The bundle.
    pub bundle: BundleInfo,
    /// Its `arxi.bundle.built` envelope.
    pub recorded: Recorded,
}

/// `POST /v1/bundles/verify` body: a stored bundle by id or an uploaded
/// one.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BundleRequest {
    /// A bundle in the bundle directory.
    pub bundle_id: Option<String>,
    /// A bundle uploaded as standard base64.
    pub bundle_base64: Option<String>,
    /// Trusted public keys (hex; verify only; default: this recorder's).
    pub keys: Option<Vec<String>>,
}

/// `POST /v1/bundles/inspect` body.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct InspectRequest {
    /// A bundle in the bundle directory.
    pub bundle_id: Option<String>,
    /// A bundle uploaded as standard base64.
    pub bundle_base64: Option<String>,
}

/// `POST /v1/bundles/verify`: the verifier's report (as `arxi bundle
/// verify --json` prints it) plus the key ids trusted.
#[derive(Debug, JsonSchema)]
pub struct VerifyReport {
    /// True when nothing is wrong.
    pub valid: bool,
    /// The bundle could not be checked at all.
    pub could_not_check: bool,
    /// Every finding, in file order.
    pub findings: Vec<Value>,
    /// Key ids trusted.
    pub trusted_keys: Vec<String>,
}

/// `POST /v1/bundles/inspect`: the summary `arxi bundle inspect --json`
/// prints (manifest, keys, record counts, signer).
#[derive(Debug, JsonSchema)]
pub struct InspectSummary {
    /// The manifest, when it could be read.
    pub manifest: Option<Value>,
}

/// `POST /v1/config/reload`.
#[derive(Debug, JsonSchema)]
pub struct Reloaded {
    /// Always true.
    pub reloaded: bool,
    /// The file read.
    pub source: String,
    /// Key paths that changed.
    pub changed: Vec<String>,
    /// SHA-256 of the canonical redacted configuration.
    pub config_sha256: String,
    /// Sequence number of `arxi.config.reloaded`.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
}

/// `GET /v1/config`: the effective configuration (secret-bearing paths
/// `"[redacted]"`), its `source` and `config_sha256`.
#[derive(Debug, JsonSchema)]
pub struct EffectiveConfig {
    /// Where it came from.
    pub source: String,
    /// SHA-256 of its canonical JSON.
    pub config_sha256: String,
}

/// A public key.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyInfo {
    /// Key id.
    pub key_id: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// First envelope signed with it.
    pub first_seq: u64,
    /// When it was added (RFC 3339).
    pub added_at: Option<String>,
}

/// `GET /v1/keys`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyList {
    /// The key signing now.
    pub current_key_id: String,
    /// Every key, oldest first.
    pub keys: Vec<KeyInfo>,
}

/// The members a request type accepts, from its schema (so the parser and
/// the documented type cannot drift).
pub fn members<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// The members of a request type, computed once per call site.
#[macro_export]
macro_rules! members_of {
    ($type:ty) => {{
        static MEMBERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        MEMBERS
            .get_or_init($crate::contract::members::<$type>)
            .as_slice()
    }};
}

/// A response as JSON.
pub fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_members_come_from_the_types() {
        assert_eq!(
            members::<RecordRequest>(),
            ["actor", "payload", "subject", "type"]
        );
        assert!(members::<Empty>().is_empty());
        assert_eq!(
            members::<BundleRequest>(),
            ["bundle_base64", "bundle_id", "keys"]
        );
    }
}
