//! The payloads of control envelopes (`Docs/format.md` §10) that a forged
//! history would get wrong.
//!
//! Rules, for every envelope of the chain:
//!
//! - `arxi.segment.opened`: payload `reason` is `append` or `api`, else
//!   `segment_reason_unknown` (its `segment_id` and `prev_seal_hash` are
//!   the segment rules', see `chain`).
//! - `arxi.segment.sealed`: `reason` is `api`, `count`, `bytes` or `age`,
//!   else `segment_reason_unknown`.
//! - `arxi.recorder.started`: payload `key_id` is the key in force, else
//!   `recorder_started_key_mismatch`. When `previous_shutdown` is present
//!   it must fit the envelope before the start records, else
//!   `previous_shutdown_mismatch`. The start records are the
//!   `arxi.recorder.started`, the key event right before it (if any) and
//!   the `arxi.segment.opened` with reason `append` right before those (if
//!   any), "right before" meaning the envelope of the chain with the `seq`
//!   one lower. If the first of them has `seq` 1, it must be `none`; if
//!   the envelope of the chain with the `seq` one lower is in the bundle,
//!   `clean` when that is `arxi.recorder.stopped` and `unclean` otherwise;
//!   else (that envelope is outside the bundle or missing) `clean` or
//!   `unclean`.
//! - Key events: see `keys`; `arxi.key.revoked`: see `revocation`. Every
//!   other control type (`arxi.recorder
//!   .stopped`, `arxi.config.reloaded`, `arxi.config.reload_refused`,
//!   `arxi.bundle.built`, and types a later recorder may add) gets the
//!   rules of every envelope and nothing more.

use arxi_format::envelope::Envelope;
use serde_json::Value;

use super::chain::SEGMENT_OPENED;
use super::keys::{KEY_CHANGED, KEY_LOADED};
use super::{At, Verifier};
use crate::report::Code;

/// `arxi.segment.sealed`.
pub(super) const SEGMENT_SEALED: &str = "arxi.segment.sealed";
const RECORDER_STARTED: &str = "arxi.recorder.started";
const RECORDER_STOPPED: &str = "arxi.recorder.stopped";
const OPENED_REASONS: &[&str] = &["append", "api"];
const SEALED_REASONS: &[&str] = &["api", "count", "bytes", "age"];

/// What the start rule needs to know of an envelope of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Stopped,
    KeyEvent,
    OpenedForAppend,
    Other,
}

/// The last three envelopes of the chain: (seq, class).
#[derive(Debug, Default)]
pub(super) struct Recent {
    window: Vec<(u64, Class)>,
}

impl Recent {
    fn push(&mut self, seq: u64, class: Class) {
        if self.window.len() == 3 {
            self.window.remove(0);
        }
        self.window.push((seq, class));
    }

    /// The `previous_shutdown` values allowed for a start at `seq`.
    fn allowed_shutdown(&self, seq: u64) -> &'static [&'static str] {
        let mut first = seq;
        let mut window = self.window.iter().rev().peekable();
        for skippable in [Class::KeyEvent, Class::OpenedForAppend] {
            if window
                .peek()
                .is_some_and(|&&(before, class)| before + 1 == first && class == skippable)
            {
                first -= 1;
                window.next();
            }
        }
        if first == 1 {
            return &["none"];
        }
        match window.next() {
            Some(&(before, class)) if before + 1 == first => {
                if class == Class::Stopped {
                    &["clean"]
                } else {
                    &["unclean"]
                }
            }
            _ => &["clean", "unclean"],
        }
    }
}

impl Verifier<'_> {
    /// The control rules, for one envelope of the chain.
    pub(super) fn control_semantics(&mut self, envelope: &Envelope, at: At) {
        let body = &envelope.body;
        let class = match body.event_type.as_str() {
            SEGMENT_OPENED => {
                let payload = super::control_payload(body);
                self.reason(&payload, OPENED_REASONS, at);
                if payload["reason"] == "append" {
                    Class::OpenedForAppend
                } else {
                    Class::Other
                }
            }
            SEGMENT_SEALED => {
                self.reason(&super::control_payload(body), SEALED_REASONS, at);
                Class::Other
            }
            RECORDER_STARTED => {
                self.started(envelope, at);
                Class::Other
            }
            RECORDER_STOPPED => Class::Stopped,
            KEY_LOADED | KEY_CHANGED | arxi_format::delegation::KEY_DELEGATED => Class::KeyEvent,
            _ => Class::Other,
        };
        self.recent.push(body.seq, class);
    }

    fn reason(&mut self, payload: &Value, allowed: &[&str], at: At) {
        let reason = payload["reason"].as_str();
        if !reason.is_some_and(|reason| allowed.contains(&reason)) {
            self.find(
                Code::SegmentReasonUnknown,
                at,
                "a segment reason outside the documented set",
                Some(allowed.join("|")),
                Some(payload["reason"].to_string()),
            );
        }
    }

    fn started(&mut self, envelope: &Envelope, at: At) {
        let payload = super::control_payload(&envelope.body);
        if let Some(in_force) = self.keys.in_force.clone()
            && payload["key_id"].as_str() != Some(in_force.as_str())
        {
            self.find(
                Code::RecorderStartedKeyMismatch,
                at,
                "arxi.recorder.started names another key than the key in force",
                Some(in_force.to_string()),
                Some(payload["key_id"].to_string()),
            );
        }
        let Some(shutdown) = payload.get("previous_shutdown") else {
            return;
        };
        let allowed = self.recent.allowed_shutdown(envelope.body.seq);
        if !shutdown
            .as_str()
            .is_some_and(|value| allowed.contains(&value))
        {
            self.find(
                Code::PreviousShutdownMismatch,
                at,
                "previous_shutdown does not fit the envelope before the start",
                Some(allowed.join("|")),
                Some(shutdown.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, json_payload, key, story};

    #[test]
    fn control_rules() {
        let manual = story().rewrite(|body| {
            if body.seq == 12 {
                json_payload(body, |payload| payload["reason"] = "manual".into());
            }
        });
        check(&manual.bytes(), &["segment_reason_unknown"]);
        let a = key("a").id().to_string();
        let started_a = story().rewrite(move |body| {
            if body.event_type == "arxi.recorder.started" && body.seq > 12 {
                json_payload(body, |payload| payload["key_id"] = a.clone().into());
            }
        });
        check(&started_a.bytes(), &["recorder_started_key_mismatch"]);
        // Segment 4's start says the run before ended cleanly; the envelope
        // before it is segment 3's arxi.segment.sealed.
        let shutdown = |value: &'static str| {
            story().rewrite(move |body| {
                if body.event_type == "arxi.recorder.started" {
                    let value = if body.seq < 5 { "none" } else { value };
                    json_payload(body, |payload| payload["previous_shutdown"] = value.into());
                }
            })
        };
        check(&shutdown("unclean").bytes(), &[]);
        check(&shutdown("clean").bytes(), &["previous_shutdown_mismatch"]);
        check(&shutdown("none").bytes(), &["previous_shutdown_mismatch"]);
        // From segment 4 on, the envelope before the start is outside.
        check(&shutdown("clean").segments(4, 5).bytes(), &[]);
        check(
            &shutdown("none").segments(4, 5).bytes(),
            &["previous_shutdown_mismatch"],
        );
    }
}
