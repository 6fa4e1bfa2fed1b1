//! The API's body types: what handlers serialize and the member lists they
//! parse, and from which the OpenAPI document's schemas are generated
//! (`openapi.rs`). A body changes here or nowhere.
//!
//! Responses are built from these structs and serialized; requests are
//! parsed strictly member by member (for typed errors naming the field),
//! with the accepted member names taken from these structs' schemas, so a
//! request type and its parser cannot drift apart.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::{Value, json};

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
    /// Event type.
    #[schemars(rename = "type")]
    pub event_type: DataEventType,
    /// Who acted.
    pub actor: Option<Label>,
    /// What it concerns.
    pub subject: Option<Label>,
    /// The event.
    pub payload: JsonValue,
}

/// `POST /v1/envelopes/batch` body: envelopes recorded together, in order,
/// with consecutive sequence numbers (at most `limits.batch_envelopes_max`,
/// 1000 by default).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BatchRequest {
    /// The envelopes, each as the body of `POST /v1/envelopes` (the
    /// schema states the default `limits.batch_envelopes_max`).
    #[schemars(length(min = 1, max = 1000))]
    pub envelopes: Vec<RecordRequest>,
}

/// `POST /v1/envelopes/batch`: one durable receipt per envelope, in the
/// order sent.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchReceipts {
    /// The receipts.
    pub receipts: Vec<Receipt>,
}

/// An attachment in a request.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AttachmentInput {
    /// File name (unique within the envelope).
    pub name: Label,
    /// Media type.
    pub media_type: MediaType,
    /// Content, at most `limits.attachment_bytes_max` bytes (8 MiB by
    /// default).
    pub content_base64: Base64,
}

/// `POST /v1/envelopes/with-attachments` body.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RecordWithAttachmentsRequest {
    /// Event type.
    #[schemars(rename = "type")]
    pub event_type: DataEventType,
    /// Who acted.
    pub actor: Option<Label>,
    /// What it concerns.
    pub subject: Option<Label>,
    /// The event.
    pub payload: JsonValue,
    /// The attachments: at most `limits.attachments_max` (16 by default),
    /// names unique.
    #[schemars(length(max = 16))]
    pub attachments: Vec<AttachmentInput>,
}

/// The largest integer a JSON number carries exactly (2^53-1).
pub const SAFE_INTEGER_MAX: u64 = arxi_format::json::MAX_SAFE_INTEGER;

/// [`SAFE_INTEGER_MAX`] as a double (exact: 2^53-1 fits).
#[allow(clippy::cast_precision_loss)]
pub const SAFE_INTEGER_MAX_F64: f64 = SAFE_INTEGER_MAX as f64;

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
    pub event_type: Option<EventType>,
    /// Exact actor.
    pub actor: Option<Label>,
    /// From a previous page's `next_cursor`.
    #[schemars(regex(pattern = r"^c2\.[0-9a-f]{1,16}\.[0-9a-f]{32}$"))]
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

/// `GET /v1/envelopes?seq=N`: one stored canonical envelope, verbatim
/// (`Docs/format.md` §6).
pub type StoredEnvelope = serde_json::Map<String, Value>;

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document.
pub type OpenApiDocument = serde_json::Map<String, Value>;

/// A body that must be `{}` (or empty).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Empty {}

/// `POST /v1/bundles/build` body: `{}` (every sealed segment), a segment
/// range or a sequence range, not both (the sealed segments holding
/// `first_seq` to `last_seq`). A missing `first_*` is 1; a missing
/// `last_*` is the `first_*`; `first_*` must not exceed `last_*`.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields, transform = one_selector)]
pub struct BuildRequest {
    /// First sealed segment.
    #[schemars(range(min = 1, max = SAFE_INTEGER_MAX))]
    pub first_segment: Option<u64>,
    /// Last sealed segment.
    #[schemars(range(min = 1, max = SAFE_INTEGER_MAX))]
    pub last_segment: Option<u64>,
    /// The sealed segment holding this sequence number is the first.
    #[schemars(range(min = 1, max = SAFE_INTEGER_MAX))]
    pub first_seq: Option<u64>,
    /// The sealed segment holding this sequence number is the last.
    #[schemars(range(min = 1, max = SAFE_INTEGER_MAX))]
    pub last_seq: Option<u64>,
}

/// Segment members or sequence members, not both (null is absent).
fn one_selector(schema: &mut Schema) {
    schema.insert(
        "anyOf".into(),
        json!([
            {"properties": {"first_seq": {"type": "null"}, "last_seq": {"type": "null"}}},
            {"properties": {"first_segment": {"type": "null"}, "last_segment": {"type": "null"}}},
        ]),
    );
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
/// one (exactly one of the two).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields, transform = one_source)]
pub struct BundleRequest {
    /// A bundle in the bundle directory.
    pub bundle_id: Option<BundleId>,
    /// A bundle uploaded, at most `limits.bundle_upload_bytes_max` bytes
    /// (64 MiB by default).
    pub bundle_base64: Option<Base64>,
    /// Trusted public keys (verify only; default: every key this recorder
    /// has signed with).
    #[schemars(length(min = 1, max = 64))]
    pub keys: Option<Vec<PublicKeyHex>>,
}

/// `POST /v1/bundles/inspect` body (exactly one of the two).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields, transform = one_source)]
pub struct InspectRequest {
    /// A bundle in the bundle directory.
    pub bundle_id: Option<BundleId>,
    /// A bundle uploaded, at most `limits.bundle_upload_bytes_max` bytes.
    pub bundle_base64: Option<Base64>,
}

/// `bundle_id` or `bundle_base64`, exactly one (null is absent).
fn one_source(schema: &mut Schema) {
    schema.insert(
        "anyOf".into(),
        json!([
            {"required": ["bundle_id"], "properties": {"bundle_id": {"type": "string"}, "bundle_base64": {"type": "null"}}},
            {"required": ["bundle_base64"], "properties": {"bundle_base64": {"type": "string"}, "bundle_id": {"type": "null"}}},
        ]),
    );
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

/// A request member whose rules go beyond its JSON type, stated in JSON
/// Schema so that the schema allows exactly what the handler accepts.
/// These types only describe; handlers parse members themselves (with
/// the checks of `arxi_format::record` and the handlers).
macro_rules! rule {
    ($(#[doc = $doc:literal])* $name:ident $schema:tt) => {
        $(#[doc = $doc])*
        #[derive(Debug)]
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let mut schema = json_schema!($schema);
                let lines: &[&str] = &[$($doc),*];
                let text = lines.iter().map(|line| line.trim()).collect::<Vec<_>>().join(" ");
                schema.insert("description".into(), Value::String(text));
                schema
            }
        }
    };
}

/// `arxi_format::record::check_event_type` as a pattern.
const EVENT_TYPE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$";

rule! {
    /// An event type: 1 to 128 of `[A-Za-z0-9._:/-]`, starting with a
    /// letter or digit.
    EventType {
        "type": "string",
        "pattern": EVENT_TYPE_PATTERN,
    }
}

rule! {
    /// An event type a client may write: not starting with `arxi.` in any
    /// letter case (the recorder's own control types).
    DataEventType {
        "type": "string",
        "pattern": EVENT_TYPE_PATTERN,
        "not": {"pattern": "^[Aa][Rr][Xx][Ii]\\."},
    }
}

rule! {
    /// An actor, subject or attachment name: 1 to 256 characters, no
    /// control characters.
    Label {
        "type": "string",
        "minLength": 1,
        "maxLength": 256,
        "pattern": r"^[^\u0000-\u001f\u007f-\u009f]*$",
    }
}

rule! {
    /// A media type: lowercase `type/subtype` without parameters, at most
    /// 127 bytes.
    MediaType {
        "type": "string",
        "maxLength": 127,
        "pattern": "^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$",
    }
}

rule! {
    /// Standard base64 with padding, canonical (unused bits zero).
    Base64 {
        "type": "string",
        "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$",
    }
}

rule! {
    /// A bundle id: the first 32 hex digits of the bundle file's SHA-256.
    BundleId {
        "type": "string",
        "pattern": "^[0-9a-f]{32}$",
    }
}

rule! {
    /// An Ed25519 public key, lowercase hex: a canonical encoding of a
    /// point of full order (a rule JSON Schema cannot state).
    PublicKeyHex {
        "type": "string",
        "pattern": "^[0-9a-f]{64}$",
    }
}

/// Any JSON value whose numbers lie within ±(2^53-1) (larger ones would
/// be rounded; send them as strings), nested at most 64 deep, without
/// duplicate object keys.
#[derive(Debug)]
pub struct JsonValue;

impl JsonSchema for JsonValue {
    fn schema_name() -> Cow<'static, str> {
        "JsonValue".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let this = generator.subschema_for::<Self>();
        json_schema!({
            "description": "Any JSON value whose numbers lie within ±(2^53-1), nested at most 64 deep, without duplicate object keys.",
            "anyOf": [
                {"type": "null"},
                {"type": "boolean"},
                {"type": "string"},
                {"type": "number", "minimum": -SAFE_INTEGER_MAX.cast_signed(), "maximum": SAFE_INTEGER_MAX},
                {"type": "array", "items": this},
                {"type": "object", "additionalProperties": this},
            ],
        })
    }
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
