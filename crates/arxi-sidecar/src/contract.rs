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
    /// The archive, when one is configured. Its state does not make the
    /// sidecar unready: the recorder keeps recording while the archive
    /// is unreachable, and the archiver catches up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveReadiness>,
    /// Each timestamp authority (`[[timestamp]]`), when any is
    /// configured. Their state does not make the sidecar unready: seals
    /// are written while a TSA is unreachable, and its tokens come later.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timestamps: Vec<TimestampReadiness>,
}

/// A timestamp authority's state in `/ready`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TimestampReadiness {
    /// The TSA's configured name.
    pub name: String,
    /// `ok` (the last request succeeded, or nothing failed yet) or
    /// `retrying` (the last request failed; it is tried again).
    pub state: &'static str,
    /// Seals waiting for its token.
    pub pending_seals: u64,
    /// Failed requests since its last token.
    pub failures_in_a_row: u64,
    /// Unix time of its last token stored, if any since start.
    pub last_success_unix_seconds: Option<u64>,
    /// The last failure, while it is not followed by a token.
    pub last_error: Option<String>,
}

/// The archive's state in `/ready`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ArchiveReadiness {
    /// `ok` (the last attempt succeeded, or nothing failed yet) or
    /// `retrying` (the last attempt failed; it is tried again).
    pub state: &'static str,
    /// Sealed segments not archived yet.
    pub lag_segments: u64,
    /// Failed attempts since the last success.
    pub failures_in_a_row: u64,
    /// Unix time of the last archived run, if any since start.
    pub last_success_unix_seconds: Option<u64>,
    /// The last failure, while it is not followed by a success.
    pub last_error: Option<String>,
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

/// `POST /v1/envelopes` and `/with-attachments`: the durable, signed
/// receipt. With the request it answers, it is everything needed to
/// rebuild the envelope and check the recorder's signature offline
/// (`arxi receipt verify`; Docs/api.md, "Receipts").
#[derive(Debug, Serialize, JsonSchema)]
pub struct Receipt {
    // Members in name order: serialized as declared, the answer is the
    // same bytes as the sorted object (`receipt_is_written_in_name_order`).
    /// Version 2: the request labels (`actor`, `subject`) that went into
    /// the committed content instead of the envelope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_labels: Option<Vec<String>>,
    /// Envelope hash (hex).
    pub hash: String,
    /// Signing key id.
    pub key_id: String,
    /// Version 2: the salted commitment the signed envelope carries
    /// instead of the payload (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_commitment: Option<String>,
    /// Version 2: the envelope's salt (hex). With the request it opens the
    /// commitment, so keep it as you keep the request body: whoever holds
    /// both can show what the envelope committed to, even after an
    /// erasure (`Docs/format.md` §14.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_salt: Option<String>,
    /// Previous envelope's hash (hex).
    pub prev_hash: String,
    /// Receive time (RFC 3339).
    pub received_at: String,
    /// The recorder's id.
    pub recorder_id: String,
    /// Segment holding it.
    pub segment_id: u64,
    /// Sequence number.
    pub seq: u64,
    /// The envelope's Ed25519 signature (hex) over its hash, domain
    /// `arxi.envelope.v1` (Docs/format.md).
    pub signature: String,
    /// Envelope version: 1 carries the payload, 2 commits to it
    /// (`Docs/format.md` §6.1).
    pub v: u64,
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

/// A receive time as envelopes carry it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`,
/// years 1970 to 9999, every real calendar day (30-day months, February's
/// 28 days and the 29th of leap years), exactly what the handler's
/// `Timestamp::parse` accepts (a test compares them day by day).
pub const TIMESTAMP: &str = concat!(
    "^(?:",
    "(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:",
    "(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])|[2468][048]00|[3579][26]00)-02-29",
    ")T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{6}Z$",
);

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

/// An attachment reference inside an envelope (`Docs/format.md` §6).
#[derive(Debug, JsonSchema)]
pub struct AttachmentRef {
    /// File name, unique within the envelope.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// Byte length.
    pub size: u64,
}

/// A stored envelope, verbatim (`Docs/format.md` §6): canonical JSON,
/// signed. Verify it offline with the recorder's public key; never
/// re-serialize it before hashing.
#[derive(Debug, JsonSchema)]
pub struct StoredEnvelope {
    /// Record version (1).
    pub v: u64,
    /// The recorder.
    pub recorder_id: String,
    /// The segment holding it.
    pub segment_id: u64,
    /// Sequence number (recorder-wide, gapless).
    pub seq: u64,
    /// Receive time (RFC 3339, microseconds, UTC).
    pub received_at: String,
    /// `data` or `control`.
    pub kind: EnvelopeKind,
    /// Event type (`arxi.*` for control envelopes).
    #[schemars(rename = "type")]
    pub event_type: String,
    /// Who acted (absent when not given).
    #[serde(default)]
    pub actor: Option<String>,
    /// What it concerns (absent when not given).
    #[serde(default)]
    pub subject: Option<String>,
    /// The event, canonical.
    pub payload: AnyJson,
    /// Attachment references.
    pub attachments: Vec<AttachmentRef>,
    /// Hash of the previous envelope (hex; zeros for seq 1).
    pub prev_hash: String,
    /// Signing key id.
    pub key_id: String,
    /// Envelope hash (hex).
    pub hash: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

/// `POST /v1/query/envelopes`.
#[derive(Debug, JsonSchema)]
pub struct QueryPage {
    /// Stored canonical envelopes, verbatim, in sequence order.
    pub envelopes: Vec<StoredEnvelope>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// For each version 2 envelope of the page, in order: its committed
    /// payload while it exists, else the erasure that removed it.
    pub payloads: Vec<PayloadEntry>,
}

/// The committed payload of one version 2 envelope, as a query shows it:
/// the content and salt that open its `payload_commitment`, or the
/// erasure that removed them (`Docs/format.md` §6.1, §11.6).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PayloadEntry {
    /// The envelope.
    pub seq: u64,
    /// `disclosed` or `erased`; `withheld` when the payload is sealed under
    /// a subject key that is gone (a database restored from a copy made
    /// before an erasure by subject).
    pub state: String,
    /// Disclosed: `{"payload": ..}` with `actor`/`subject` when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Disclosed: the salt (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Erased: the `arxi.payload.erased` envelope's sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_by: Option<u64>,
}

/// `POST /v1/erasures` body: the envelopes naming `subject`, or the
/// sequence numbers `seqs` (exactly one of the two), and why.
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields, transform = subject_or_seqs)]
pub struct ErasureRequest {
    /// Erase the committed payloads of the version 2 envelopes naming this
    /// subject (at most 10,000 per request; `more` says when to repeat).
    pub subject: Option<Label>,
    /// Erase the committed payloads of these envelopes.
    #[schemars(length(min = 1, max = 10000))]
    pub seqs: Option<Vec<SeqNumber>>,
    /// Why: recorded in the `arxi.payload.erased` envelope for good, so it
    /// must not itself hold the personal data.
    pub reason: ErasureReason,
}

/// `subject` or `seqs`, exactly one (null is absent): stated as
/// `x-arxi-exactly-one` and in the description (see [`one_selector`]).
fn subject_or_seqs(schema: &mut Schema) {
    schema.insert("x-arxi-exactly-one".into(), json!(["subject", "seqs"]));
}

/// `POST /v1/keys/revoke` body: the key no longer valid from `from_seq`
/// on, and why (`Docs/format.md` §10, rule C5).
#[derive(Debug, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct KeyRevocationRequest {
    /// The revoked key's id: a key this recorder has signed with (else 404
    /// `key_not_found`), not the one it signs with now (restart with a new
    /// key first; 409 `key_in_use`).
    pub key_id: KeyIdText,
    /// The first sequence number the key is no longer valid for: a
    /// verifier reports every envelope or seal the key signed from here
    /// on (`key_revoked_signature`).
    pub from_seq: SeqNumber,
    /// Why: recorded in the `arxi.key.revoked` envelope for good.
    pub reason: ErasureReason,
}

/// `POST /v1/keys/revoke`: the envelope recording the revocation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyRevoked {
    /// The `arxi.key.revoked` envelope.
    pub recorded: Recorded,
    /// The revoked key.
    pub key_id: String,
    /// The first sequence number it is no longer valid for.
    pub from_seq: u64,
}

/// A named envelope an erasure left.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErasureSkipped {
    /// The envelope named.
    pub seq: u64,
    /// `not_found`, `version_1` (its payload is in the signed envelope) or
    /// `already_erased`.
    pub why: String,
    /// `already_erased`: by which erasure envelope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_by: Option<u64>,
}

/// `POST /v1/erasures`: what was erased, and the envelope recording it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErasureDone {
    /// The `arxi.payload.erased` envelope.
    pub recorded: Recorded,
    /// The envelopes whose committed payload was erased, ascending.
    pub erased: Vec<u64>,
    /// Named envelopes left, and why.
    pub skipped: Vec<ErasureSkipped>,
    /// The subject has more envelopes to erase: send the request again.
    pub more: bool,
}

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
    /// Withhold every committed payload (version 2 envelopes): the bundle
    /// proves the history without its content.
    pub withhold_payloads: Option<bool>,
    /// Disclose only the committed payloads of envelopes naming this
    /// subject (a data subject's access request); withhold the others.
    pub disclose_subject: Option<Label>,
    /// Disclose only the committed payloads of envelopes of this type.
    pub disclose_type: Option<EventType>,
}

/// Segment members or sequence members, not both; at most one payload
/// selection (`withhold_payloads` true, `disclose_subject`,
/// `disclose_type`). Null is absent. Not stated as schema alternatives:
/// mainstream generators cannot compile `anyOf` members typed `null` (issue
/// 23); the rules are the description, `x-arxi-exclusive` and
/// `x-arxi-at-most-one`, and the server answers 422 naming the field.
fn one_selector(schema: &mut Schema) {
    schema.insert(
        "x-arxi-exclusive".into(),
        json!([["first_segment", "last_segment"], ["first_seq", "last_seq"]]),
    );
    schema.insert(
        "x-arxi-at-most-one".into(),
        json!(["withhold_payloads", "disclose_subject", "disclose_type"]),
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
    /// Version 2 envelopes whose payload it discloses, withholds, marks
    /// erased.
    pub payloads: PayloadCounts,
    /// The download path.
    pub download: String,
}

/// Version 2 envelopes of a bundle by what it carries of their payload.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PayloadCounts {
    /// Disclosed.
    pub disclosed: u64,
    /// Withheld by the selection.
    pub withheld: u64,
    /// Erased.
    pub erased: u64,
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

/// `bundle_id` or `bundle_base64`, exactly one (null is absent): stated
/// as `x-arxi-exactly-one` and in the description (see [`one_selector`]).
fn one_source(schema: &mut Schema) {
    schema.insert(
        "x-arxi-exactly-one".into(),
        json!(["bundle_id", "bundle_base64"]),
    );
}

/// One finding of the verifier (`arxi bundle verify --json`): what is
/// wrong, where, and the bytes that disagree.
#[derive(Debug, JsonSchema)]
pub struct Finding {
    /// Stable finding code (`Docs/format.md` §11.4).
    pub code: String,
    /// Record number in the file (from 0), when known.
    pub record: Option<u64>,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// Segment, when known.
    pub segment_id: Option<u64>,
    /// Sequence number, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
    /// What was expected (hex or text), when it applies.
    pub expected: Option<String>,
    /// What was found, when it applies.
    pub found: Option<String>,
}

/// What the verifier checked.
#[derive(Debug, JsonSchema)]
pub struct CheckedCounts {
    /// Records read.
    pub records: u64,
    /// Envelopes checked.
    pub envelopes: u64,
    /// Signatures verified.
    pub signatures_verified: u64,
    /// Seals checked.
    pub seals: u64,
    /// Attachments checked.
    pub attachments: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// `POST /v1/bundles/verify`: the verifier's report (as `arxi bundle
/// verify --json` prints it) plus the key ids trusted.
#[derive(Debug, JsonSchema)]
pub struct VerifyReport {
    /// True when nothing is wrong.
    pub valid: bool,
    /// The bundle could not be checked at all.
    pub could_not_check: bool,
    /// The recorder named by the manifest, when read.
    pub recorder_id: Option<String>,
    /// First sequence number covered, when read.
    pub first_seq: Option<u64>,
    /// Last sequence number covered, when read.
    pub last_seq: Option<u64>,
    /// What was checked.
    pub checked: CheckedCounts,
    /// The first bad record in file order, if any.
    pub first_bad_record: Option<Finding>,
    /// Every finding, in file order.
    pub findings: Vec<Finding>,
    /// Findings left out past the report's bound.
    pub findings_dropped: u64,
    /// Key ids trusted.
    pub trusted_keys: Vec<String>,
    /// What the bundle carries of each version 2 envelope's payload
    /// (`Docs/format.md` §11.4 P): counts per state (`disclosed`,
    /// `withheld`, `erased`, `unusable`) and `ranges` of consecutive
    /// envelopes in one state (`erased` ranges name their `erased_by`).
    pub payloads: Value,
}

/// A segment as a bundle manifest lists it.
#[derive(Debug, JsonSchema)]
pub struct ManifestSegment {
    /// Segment id.
    pub segment_id: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes.
    pub count: u64,
    /// Merkle root (hex).
    pub merkle_root: String,
    /// Seal hash (hex).
    pub seal_hash: String,
}

/// A bundle's manifest, as inspect shows it.
#[derive(Debug, JsonSchema)]
pub struct ManifestSummary {
    /// The recorder.
    pub recorder_id: String,
    /// When the bundle was made.
    pub created_at: String,
    /// First sequence number.
    pub first_seq: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Envelopes.
    pub envelope_count: u64,
    /// The segments.
    pub segments: Vec<ManifestSegment>,
    /// The key that signed the bundle.
    pub key_id: String,
}

/// A key record of a bundle.
#[derive(Debug, JsonSchema)]
pub struct BundleKey {
    /// Key id.
    pub key_id: String,
    /// Public key (hex).
    pub public_key: String,
    /// First envelope signed with it.
    pub first_seq: u64,
}

/// Record counts of a bundle.
#[derive(Debug, JsonSchema)]
pub struct RecordCounts {
    /// Envelopes.
    pub envelopes: u64,
    /// Data envelopes.
    pub data_envelopes: u64,
    /// Control envelopes.
    pub control_envelopes: u64,
    /// Seals.
    pub seals: u64,
    /// Attachments.
    pub attachments: u64,
    /// Attachment bytes.
    pub attachment_bytes: u64,
}

/// `POST /v1/bundles/inspect`: the summary `arxi bundle inspect --json`
/// prints (manifest, keys, record counts, signer); nothing is verified.
#[derive(Debug, JsonSchema)]
pub struct InspectSummary {
    /// `arxi.bundle`.
    pub format: String,
    /// Container version.
    pub version: u64,
    /// The manifest, when it could be read.
    pub manifest: Option<ManifestSummary>,
    /// Key records.
    pub keys: Vec<BundleKey>,
    /// Record counts.
    pub records: RecordCounts,
    /// The trailer's signing key id, when the trailer was read.
    pub signed_by: Option<String>,
    /// Bytes read.
    pub bytes: u64,
    /// What could not be read.
    pub problems: Vec<String>,
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
/// `"[redacted]"`), its `source` and `config_sha256`. Each section has the
/// keys of the TOML section of the same name (`Docs/api.md`,
/// `Docs/generated/arxi/config/limits.md`).
#[derive(Debug, JsonSchema)]
pub struct EffectiveConfig {
    /// Where it came from.
    pub source: String,
    /// SHA-256 of its canonical JSON.
    pub config_sha256: String,
    /// Configuration format version.
    pub config_version: u64,
    /// `[api]`.
    pub api: ConfigSection,
    /// `[recorder]`.
    pub recorder: ConfigSection,
    /// `[transport]`.
    pub transport: ConfigSection,
    /// `[security]` (token files redacted).
    pub security: ConfigSection,
    /// `[signer]` (key file redacted).
    pub signer: ConfigSection,
    /// `[limits]`.
    pub limits: ConfigSection,
    /// `[probes]`.
    pub probes: ConfigSection,
    /// `[enterprise]` (token file redacted).
    pub enterprise: ConfigSection,
    /// `[shutdown]`.
    pub shutdown: ConfigSection,
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
    /// For a delegated key: the delegation record by which the root
    /// (`current_key_id`) certified it (`Docs/format.md` §3.1), the file
    /// `arxi receipt verify` and `arxi proof verify` take with
    /// `--delegation` to check its receipts and proofs under the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation: Option<Value>,
}

/// `GET /v1/keys`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyList {
    /// The recorder's configured key: the key signing now, or, with
    /// `[signer] delegate`, the root that certifies the delegated keys
    /// signing envelopes and seals (an auditor trusts this key).
    pub current_key_id: String,
    /// The configured key's Ed25519 public key (hex).
    pub current_public_key: String,
    /// Every key, oldest first.
    pub keys: Vec<KeyInfo>,
}

/// One witness, as `GET /v1/log` shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WitnessInfo {
    /// The witness's name (its key's name).
    pub name: String,
    /// Its cosignature key (C2SP vkey).
    pub vkey: String,
    /// The largest tree size it has cosigned (0: none known).
    pub cosigned_size: u64,
    /// Envelopes in the newest checkpoint beyond what it has cosigned.
    pub lag_entries: u64,
    /// Seconds a checkpoint has waited for its cosignature.
    pub lag_seconds: f64,
    /// The last failure, until it cosigns again.
    pub last_error: Option<String>,
}

/// `GET /v1/log`: the log tree over every envelope, its checkpoints and
/// witnesses.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogInfo {
    /// The checkpoints' origin line (and the name of the key that signs
    /// them).
    pub origin: String,
    /// The C2SP verifier key of the checkpoints: configure witnesses and
    /// clients with it.
    pub vkey: String,
    /// Envelopes in the tree (committed).
    pub tree_size: u64,
    /// Size of the newest signed checkpoint.
    pub checkpoint_size: u64,
    /// Size of the newest witnessed checkpoint (0: none yet).
    pub witnessed_size: u64,
    /// Cosignatures that make a checkpoint witnessed.
    pub quorum: u64,
    /// Seconds the oldest checkpoint not covered by a witnessed one has
    /// waited.
    pub witness_lag_seconds: f64,
    /// The witnesses, in configuration order.
    pub witnesses: Vec<WitnessInfo>,
}

/// `GET /v1/envelopes/proof?seq=N`: an envelope, its inclusion proof in the
/// log tree and the witnessed checkpoint the proof ends at. `arxi proof
/// verify` checks it offline.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EnvelopeProof {
    /// The envelope's sequence number.
    pub seq: u64,
    /// The envelope's canonical JSON, exactly as recorded.
    pub envelope: String,
    /// Its leaf index in the log tree (`seq - 1`).
    pub leaf_index: u64,
    /// The tree size of the checkpoint.
    pub tree_size: u64,
    /// The RFC 6962 inclusion proof, leaf to root (hex).
    pub inclusion_proof: Vec<String>,
    /// The witnessed checkpoint: a C2SP signed note with the recorder's
    /// signature and the witnesses' cosignatures.
    pub checkpoint: String,
    /// The C2SP verifier key of the log's checkpoints.
    pub log_vkey: String,
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
    /// An erasure's reason: 1 to 512 characters, no control characters.
    ErasureReason {
        "type": "string",
        "minLength": 1,
        "maxLength": 512,
        "pattern": r"^[^\u0000-\u001f\u007f-\u009f]*$",
    }
}

rule! {
    /// A key id: `ed25519:` and 32 lowercase hex digits.
    KeyIdText {
        "type": "string",
        "pattern": "^ed25519:[0-9a-f]{32}$",
    }
}

rule! {
    /// A sequence number: 1 to 2^53-1.
    SeqNumber {
        "type": "integer",
        "minimum": 1,
        "maximum": SAFE_INTEGER_MAX,
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

rule! {
    /// Envelope kinds: `data` (events sent to the recorder) or `control`
    /// (the recorder's own actions). A plain string enumeration: generators
    /// mishandle `oneOf` of constants (issue 23).
    EnvelopeKind {
        "type": "string",
        "enum": ["data", "control"],
    }
}

rule! {
    /// Any JSON value (the `payload` of an event). Its numbers must lie
    /// within ±(2^53-1) (larger ones would be rounded: send them as
    /// strings), it nests at most 63 deep (the request body holding it at
    /// most 64, a batch's 66) and repeats no object key; the
    /// server refuses anything else with 422 naming the rule
    /// (`integer_out_of_range`, `json_too_deep`, `duplicate_json_key`). Not
    /// stated as a recursive schema: mainstream generators skip operations
    /// whose body refers to itself (issue 23); `x-arxi-number-range` keeps
    /// the bound for tools that read it.
    JsonValue {
        "x-arxi-number-range": [-9_007_199_254_740_991_i64, 9_007_199_254_740_991_u64],
    }
}

rule! {
    /// Any JSON value.
    AnyJson {}
}

rule! {
    /// A configuration section: the keys of the TOML section of this name.
    ConfigSection {
        "type": "object",
        "additionalProperties": {},
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

    /// The receipt is written straight from the struct (no JSON value in
    /// between): its members must be declared in name order, so that the
    /// answer is the same bytes as the sorted object.
    #[test]
    fn receipt_is_written_in_name_order() {
        for v2 in [false, true] {
            let text = |value: &str| v2.then(|| value.to_owned());
            let receipt = Receipt {
                committed_labels: v2.then(|| vec!["subject".to_owned()]),
                hash: "ab".repeat(32),
                key_id: "ed25519:00".into(),
                payload_commitment: text("cd"),
                payload_salt: text("ef"),
                prev_hash: "00".repeat(32),
                received_at: "2026-01-01T00:00:00.000000Z".into(),
                recorder_id: "rec-1".into(),
                segment_id: 2,
                seq: 3,
                signature: "01".repeat(64),
                v: if v2 { 2 } else { 1 },
            };
            let direct = serde_json::to_string(&receipt).expect("serializes");
            assert_eq!(direct, to_value(&receipt).to_string());
            let batch = BatchReceipts {
                receipts: vec![receipt],
            };
            let direct = serde_json::to_string(&batch).expect("serializes");
            assert_eq!(direct, to_value(&batch).to_string());
        }
    }

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
