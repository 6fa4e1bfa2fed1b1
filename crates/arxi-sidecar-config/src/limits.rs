//! Every numeric limit in one table: one row per limit, from which the
//! defaults ([`Limits::default`]), the validation bounds, the list of
//! limits only a restart applies, and the configuration reference in the
//! documentation (`Docs/generated/arxi/config/limits.md`) are all derived.
//! A limit's facts are stated here once and nowhere else.
//!
//! The TOML keys are the ones the specification and released
//! configurations use (`max_request_body_bytes`, ...); the Rust names put
//! the unit last (`request_body_bytes_max`).

use crate::model::Limits;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes.
    Bytes,
    /// A number of things (named in the description).
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    /// The unit as the reference writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Count => "count",
            Self::Milliseconds => "ms",
            Self::Seconds => "s",
        }
    }
}

/// When a changed value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// On a reload (read per request).
    Reload,
    /// Only on a restart (fixed when threads or queues are made); a reload
    /// that changes it is refused.
    Restart,
}

/// One limit.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// The key under `[limits]`.
    pub key: &'static str,
    /// The field of [`Limits`] (unit last).
    pub rust_name: &'static str,
    /// The value when the key is absent.
    pub default: u64,
    /// The smallest accepted value.
    pub min: u64,
    /// The largest accepted value (a hard cap).
    pub max: u64,
    /// What it counts.
    pub unit: Unit,
    /// When a change takes effect.
    pub applies: Applies,
    /// What it bounds.
    pub description: &'static str,
    /// Reads the field.
    pub get: fn(&Limits) -> u64,
    /// Writes the field.
    pub set: fn(&mut Limits, u64),
}

macro_rules! limits {
    ($($key:literal => $field:ident: $default:expr, ($min:expr, $max:expr), $unit:ident, $applies:ident, $description:literal;)*) => {
        /// Every limit, in the order of the reference.
        pub const LIMITS: &[Limit] = &[$(Limit {
            key: $key,
            rust_name: stringify!($field),
            default: $default,
            min: $min,
            max: $max,
            unit: Unit::$unit,
            applies: Applies::$applies,
            description: $description,
            get: |limits| limits.$field,
            set: |limits, value| limits.$field = value,
        }),*];
    };
}

limits! {
    "max_request_body_bytes" => request_body_bytes_max: 1 << 20, (1_024, 64 << 20), Bytes, Reload,
        "Largest request body.";
    "max_attachment_request_bytes" => attachment_request_bytes_max: 16 << 20, (1_024, crate::BODY_BYTES_CAP), Bytes, Reload,
        "Largest body of `POST /v1/envelopes/with-attachments`.";
    "batch_request_bytes_max" => batch_request_bytes_max: 16 << 20, (1_024, crate::BODY_BYTES_CAP), Bytes, Reload,
        "Largest body of `POST /v1/envelopes/batch`.";
    "batch_envelopes_max" => batch_envelopes_max: 1_000, (1, 10_000), Count, Restart,
        "Most envelopes in one batch (also at most `recorder.auto_seal.envelopes_max` - 2, so a batch fits in one segment).";
    "attachment_bytes_max" => attachment_bytes_max: 8 << 20, (1, 128 << 20), Bytes, Reload,
        "Largest single attachment (at most `max_attachment_request_bytes`).";
    "attachments_max" => attachments_max: 16, (1, 64), Count, Reload,
        "Most attachments on one envelope.";
    "max_header_bytes" => header_bytes_max: 16 << 10, (1_024, 64 << 10), Bytes, Reload,
        "Largest request head (request line and headers).";
    "max_headers" => headers_max: 64, (8, 256), Count, Reload,
        "Most request header fields.";
    "max_connections" => connections_max: 1_024, (1, 65_536), Count, Reload,
        "Open connections at once; more are closed on accept.";
    "max_concurrent_requests" => concurrent_requests_max: 256, (1, 65_536), Count, Restart,
        "Requests being handled at once (split between the workers at start).";
    "max_queued_requests" => queued_requests_max: 1_024, (0, 1 << 20), Count, Restart,
        "Requests waiting for a handling slot; beyond this, 429.";
    "request_timeout_ms" => request_timeout_ms: 10_000, (100, 300_000), Milliseconds, Reload,
        "Time to handle one request.";
    "header_read_timeout_ms" => header_read_timeout_ms: 10_000, (100, 300_000), Milliseconds, Reload,
        "Time to receive a request head; also bounds idle keep-alive.";
    "recorder_queue_capacity" => recorder_queue_commands_max: 4_096, (1, 1 << 20), Count, Restart,
        "Commands the recorder queues before refusing (429).";
    "recorder_queue_bytes_max" => recorder_queue_bytes_max: 64 << 20, (1 << 20, 4 << 30), Bytes, Restart,
        "Bytes the recorder queues before refusing (429).";
    "query_page_max" => query_page_envelopes_max: 1_000, (1, 10_000), Count, Restart,
        "Envelopes in one query page.";
    "idempotency_ttl_seconds" => idempotency_ttl_seconds: 24 * 3_600, (60, 30 * 86_400), Seconds, Restart,
        "How long an idempotency record replays.";
    "idempotency_max_entries" => idempotency_entries_max: 100_000, (1, 10_000_000), Count, Restart,
        "Idempotency records kept (oldest evicted first).";
    "idempotency_key_bytes_max" => idempotency_key_bytes_max: 255, (8, 255), Bytes, Reload,
        "Longest `Idempotency-Key`.";
    "bundle_upload_bytes_max" => bundle_upload_bytes_max: 64 << 20, (1_024, 1 << 30), Bytes, Reload,
        "Largest body of `POST /v1/bundles/verify` and `/inspect` (a bundle as base64 inside JSON).";
    "bundle_timeout_ms" => bundle_timeout_ms: 600_000, (1_000, 3_600_000), Milliseconds, Reload,
        "Time to build, verify, inspect or download a bundle (instead of `request_timeout_ms`).";
    "archive_part_bytes" => archive_part_bytes_max: 16 << 20, (5 << 20, 1 << 30), Bytes, Restart,
        "Part size of multipart archive uploads and largest single `PUT`: the archiver's upload buffer (S3 parts are at least 5 MiB).";
    "archive_request_timeout_ms" => archive_request_timeout_ms: 300_000, (1_000, 3_600_000), Milliseconds, Restart,
        "Time one archive request (one part, one `PUT`, one listing page) may take.";
    "archive_retry_min_ms" => archive_retry_min_ms: 1_000, (10, 60_000), Milliseconds, Restart,
        "Wait before the first retry of a failed archive attempt; doubles per failure.";
    "archive_retry_max_ms" => archive_retry_max_ms: 60_000, (10, 3_600_000), Milliseconds, Restart,
        "Longest wait between two archive attempts.";
    "retention_delete_rows_per_batch" => retention_delete_rows_max: 1_000, (1, 100_000), Count, Restart,
        "Rows deleted per transaction while a pruning's rows go (bounds the delay a pruning adds to the writes it shares a transaction with).";
    "retention_vacuum_pages_per_batch" => retention_vacuum_pages_max: 4_096, (1, 1 << 20), Count, Restart,
        "Free 4 KiB pages given back to the file system per transaction after a pruning.";
    "verifier_page_bytes_max" => verifier_page_bytes_max: 16 << 20, (1 << 20, 64 << 20), Bytes, Restart,
        "Largest browser verifier page (`web.verifier_page_file`), read once at start.";
}

impl Default for Limits {
    fn default() -> Self {
        let mut limits = Self::ZERO;
        for limit in LIMITS {
            (limit.set)(&mut limits, limit.default);
        }
        limits
    }
}

/// The limits a reload may not change, as `limits.<key>` paths.
pub fn restart_only() -> impl Iterator<Item = String> {
    LIMITS
        .iter()
        .filter(|limit| limit.applies == Applies::Restart)
        .map(|limit| format!("limits.{}", limit.key))
}

/// The configuration reference for `[limits]`, in Markdown.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# `[limits]`\n\nGenerated from the limits table \
         (`crates/arxi-sidecar-config/src/limits.rs`) by \
         `arxi-sidecar contract limits`; do not edit.\n\n\
         | key | default | min | max | unit | applies on | what it bounds |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for limit in LIMITS {
        let applies = match limit.applies {
            Applies::Reload => "reload",
            Applies::Restart => "restart only",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            limit.key,
            limit.default,
            limit.min,
            limit.max,
            limit.unit.name(),
            applies,
            limit.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of [`Limits`] has exactly one row: writing a distinct
    /// value through each row's setter shows up under that row's key, and
    /// the keys are exactly the struct's serialized keys.
    #[test]
    fn one_row_per_field() {
        let mut limits = Limits::ZERO;
        for (index, limit) in LIMITS.iter().enumerate() {
            (limit.set)(&mut limits, 1_000 + index as u64);
        }
        let table = toml::Table::try_from(limits).expect("serializes");
        assert_eq!(table.len(), LIMITS.len(), "fields without a row");
        for (index, limit) in LIMITS.iter().enumerate() {
            assert_eq!(
                table.get(limit.key).and_then(toml::Value::as_integer),
                Some(1_000 + i64::try_from(index).expect("a handful of rows")),
                "{}",
                limit.key
            );
            assert_eq!((limit.get)(&limits), 1_000 + index as u64, "{}", limit.key);
        }
    }

    #[test]
    fn defaults_lie_within_bounds_and_names_put_the_unit_last() {
        for limit in LIMITS {
            assert!(
                limit.min <= limit.default && limit.default <= limit.max,
                "{}",
                limit.key
            );
            let unit_last = match limit.unit {
                Unit::Bytes => limit.rust_name.ends_with("_bytes_max"),
                Unit::Count => limit.rust_name.ends_with("_max"),
                Unit::Milliseconds => limit.rust_name.ends_with("_ms"),
                Unit::Seconds => limit.rust_name.ends_with("_seconds"),
            };
            assert!(unit_last, "{}", limit.rust_name);
        }
    }
}
