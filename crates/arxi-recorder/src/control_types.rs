//! The control types: the `arxi.*` event types the recorder writes for its
//! own actions (`Docs/format.md` section 10). A leaf, so every module that
//! names a control type (the chain, recovery, the bundle builder) can
//! import it without importing the payload builders of `control.rs`.

/// First envelope of every segment.
pub const SEGMENT_OPENED: &str = "arxi.segment.opened";
/// Last envelope of every sealed segment.
pub const SEGMENT_SEALED: &str = "arxi.segment.sealed";
/// The recorder started.
pub const RECORDER_STARTED: &str = "arxi.recorder.started";
/// The recorder stopped cleanly.
pub const RECORDER_STOPPED: &str = "arxi.recorder.stopped";
/// The recorder opened a database behind its signed head, as the
/// operator acknowledged (a restore): names the lost range.
pub const RECORDER_ROLLED_BACK: &str = "arxi.recorder.rolled_back";
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
/// A run of sealed segments was uploaded to the archive and confirmed
/// there.
pub const SEGMENT_ARCHIVED: &str = "arxi.segment.archived";
/// The envelope and attachment rows of archived segments were deleted
/// locally (their seals stay).
pub const SEGMENT_PRUNED: &str = "arxi.segment.pruned";
/// A checkpoint of the log tree, witnessed (sidecar; at most one per
/// `log.checkpoint_record_interval_seconds`).
pub const LOG_CHECKPOINT: &str = "arxi.log.checkpoint";
/// A timestamp authority's token over a checkpoint of the log tree
/// (sidecar, `[[timestamp]]` with `subject = "checkpoints"`).
pub const LOG_TIMESTAMPED: &str = arxi_format::checkpoint_stamp::LOG_TIMESTAMPED;
/// A witness refused a checkpoint, or is ahead of this log (sidecar; once
/// per witness and kind of refusal until it cosigns again).
pub const WITNESS_REFUSED: &str = "arxi.witness.refused";
/// Committed payloads were erased (`Docs/format.md` §10, rule C4).
pub const PAYLOAD_ERASED: &str = "arxi.payload.erased";
/// Data envelopes are written in another version, or commit to other
/// labels, from here on.
pub const ENVELOPE_VERSION_CHANGED: &str = "arxi.envelope.version_changed";

/// A key is no longer valid from a sequence number on (`Docs/format.md`
/// §10, rule C5), recorded on the operator's request.
pub const KEY_REVOKED: &str = arxi_format::revocation::KEY_REVOKED;

/// A delegated key, certified by the root, signs from here on
/// (`Docs/format.md` §3.1); signed by that key.
pub const KEY_DELEGATED: &str = arxi_format::delegation::KEY_DELEGATED;

/// Every control type, in the order above.
pub const ALL: &[&str] = &[
    SEGMENT_OPENED,
    SEGMENT_SEALED,
    RECORDER_STARTED,
    RECORDER_STOPPED,
    RECORDER_ROLLED_BACK,
    KEY_LOADED,
    KEY_CHANGED,
    CONFIG_RELOADED,
    CONFIG_RELOAD_REFUSED,
    BUNDLE_BUILT,
    SEGMENT_ARCHIVED,
    SEGMENT_PRUNED,
    LOG_CHECKPOINT,
    LOG_TIMESTAMPED,
    WITNESS_REFUSED,
    PAYLOAD_ERASED,
    ENVELOPE_VERSION_CHANGED,
    KEY_REVOKED,
    KEY_DELEGATED,
];
