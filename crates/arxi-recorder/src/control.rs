//! Control envelopes: the recorder's own actions recorded in the same chain
//! (R-EV-6). Their types and payload shapes are part of the evidence format
//! (`Docs/format.md` §10); payloads are small JSON objects built here.

use arxi_format::{CanonicalJson, Hash32};
use serde_json::{Value, json};

/// The control envelope types this recorder writes.
pub mod control_types {
    /// First envelope of every segment.
    pub const SEGMENT_OPENED: &str = "arxi.segment.opened";
    /// Last envelope of every sealed segment.
    pub const SEGMENT_SEALED: &str = "arxi.segment.sealed";
    /// The recorder started.
    pub const RECORDER_STARTED: &str = "arxi.recorder.started";
    /// The recorder stopped cleanly.
    pub const RECORDER_STOPPED: &str = "arxi.recorder.stopped";
    /// A signing key was used for the first time by this recorder.
    pub const KEY_LOADED: &str = "arxi.key.loaded";
    /// The signing key differs from the one used before.
    pub const KEY_CHANGED: &str = "arxi.key.changed";
    /// A configuration reload was accepted.
    pub const CONFIG_RELOADED: &str = "arxi.config.reloaded";
    /// A configuration reload was refused.
    pub const CONFIG_RELOAD_REFUSED: &str = "arxi.config.reload_refused";
    /// An audit bundle was built.
    pub const BUNDLE_BUILT: &str = "arxi.bundle.built";

    /// Every control type, in the order above.
    pub const ALL: &[&str] = &[
        SEGMENT_OPENED,
        SEGMENT_SEALED,
        RECORDER_STARTED,
        RECORDER_STOPPED,
        KEY_LOADED,
        KEY_CHANGED,
        CONFIG_RELOADED,
        CONFIG_RELOAD_REFUSED,
        BUNDLE_BUILT,
    ];
}

/// Why a segment was opened or sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// An explicit API request.
    Api,
    /// An envelope arrived with no segment open.
    Append,
    /// The envelope count limit.
    Count,
    /// The byte limit.
    Bytes,
    /// The age limit.
    Age,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Append => "append",
            Self::Count => "count",
            Self::Bytes => "bytes",
            Self::Age => "age",
        }
    }
}

pub(crate) fn canonical(value: &Value) -> CanonicalJson {
    // Control payloads are built from strings and small integers only.
    CanonicalJson::from_value(value)
        .unwrap_or_else(|error| panic!("control payload without canonical form: {error}"))
}

pub(crate) fn segment_opened(
    segment_id: u64,
    reason: Reason,
    prev_seal_hash: &Hash32,
) -> CanonicalJson {
    canonical(&json!({
        "segment_id": segment_id,
        "reason": reason.as_str(),
        "prev_seal_hash": prev_seal_hash.to_hex(),
    }))
}

pub(crate) fn segment_sealed(segment_id: u64, reason: Reason) -> CanonicalJson {
    canonical(&json!({"segment_id": segment_id, "reason": reason.as_str()}))
}
