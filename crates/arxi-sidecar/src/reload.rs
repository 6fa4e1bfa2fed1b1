//! Configuration reload without restart (SIGHUP and `POST
//! /v1/config/reload`).
//!
//! The file the sidecar started from is read again and validated whole.
//! A valid configuration whose changes are all live (tokens, limits that
//! are read per request, probes, enterprise settings, allowed hosts) is
//! recorded as `arxi.config.reloaded` and then swapped in with one atomic
//! pointer store: a request in flight keeps the snapshot it started with.
//! Anything else (an invalid file, a change to a setting only a restart
//! applies, such as the recorder id or a listener address) leaves the
//! running configuration untouched and is recorded as
//! `arxi.config.reload_refused`. A reload that cannot be recorded is not
//! applied: no configuration change goes unrecorded.
//!
//! The recorded payloads name key paths, never values: no token, path of a
//! secret or limit value reaches the evidence. The digest of the redacted
//! effective configuration ties an envelope to a configuration.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arxi_format::{CanonicalJson, Hash32};
use arxi_recorder::control_types;
use arxi_recorder::{
    CommandError, IdempotencyKey, IdempotencyRequest, Outcome, Receipt, StoredResponse,
};
use arxi_sidecar_config::ValidConfig;
use serde_json::{Value, json};

use crate::state::AppState;

/// What asked for the reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// `POST /v1/config/reload`.
    Api,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Self::Signal => "sighup",
            Self::Api => "api",
        }
    }
}

/// An applied reload.
#[derive(Debug)]
pub struct Applied {
    /// The answer: `{"reloaded": true, "changed", "config_sha256",
    /// "source", "seq", "hash"}` (or, for an idempotent retry, the stored
    /// answer of the reload that used the key first).
    pub response: StoredResponse,
    /// Whether `response` is a replay.
    pub replayed: bool,
    /// Key paths that changed (token contents appear as the key of their
    /// file).
    pub changed: Vec<String>,
    /// Digest of the new redacted configuration.
    pub config_sha256: String,
    /// From the start of the reload to the new configuration being in
    /// effect (reading, validating, recording, swapping).
    pub elapsed: Duration,
    /// The pointer swap alone.
    pub swap: Duration,
}

/// Why a reload was not applied.
#[derive(Debug)]
pub struct Refused {
    /// One line per problem, each naming its key.
    pub reasons: Vec<String>,
    /// The refusal was recorded (`arxi.config.reload_refused`) at this
    /// sequence number; `None` when the store could not record it.
    pub recorded_seq: Option<u64>,
    /// The store's error when the accepted reload could not be recorded
    /// (it is then not applied).
    pub storage: Option<CommandError>,
}

/// Settings only a restart applies, besides the limits the limits table
/// marks so (`arxi_sidecar_config::limits::restart_only`): a change under
/// any of these key paths refuses the reload. The recorder, listeners,
/// runtime threads, signer and the drain time (fixed when workers start).
const RESTART_ONLY: &[&str] = &[
    "config_version",
    "api",
    "recorder",
    "transport.tcp",
    "transport.unix",
    "transport.plane_sockets",
    "transport.probe_socket",
    "transport.workers",
    "transport.io_driver",
    "signer",
    "shutdown",
    "log",
    "witness",
    "timestamp",
    "archive",
    "retention",
    "web",
];

/// Reloads the configuration file. Blocks on the recorder: call it from a
/// thread that may block (the signal thread, the read pool). Reloads are
/// serialized.
pub fn reload(
    state: &AppState,
    trigger: Trigger,
    idempotency: Option<(IdempotencyKey, Hash32)>,
) -> Result<Applied, Refused> {
    let _serial = state.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let old = state.config.load_full();
    let source = old.source().to_owned();
    let new = match old.file() {
        None => Err(vec![format!(
            "(file): the sidecar runs on {source}; only a configuration file (--config) can be reloaded"
        )]),
        Some(path) => arxi_sidecar_config::load(path)
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect()),
    };
    let new = match new.and_then(|new| check_live(&old, new)) {
        Ok(new) => new,
        Err(reasons) => return Err(refuse(state, trigger, &source, reasons)),
    };
    let changed = changed_keys(&old, &new);
    let config_sha256 = digest(&new);
    let payload = json!({
        "trigger": trigger.name(),
        "source": source,
        "changed": changed,
        "config_sha256": config_sha256,
        "previous_config_sha256": digest(&old),
    });
    let answer = json!({
        "reloaded": true,
        "source": source,
        "changed": changed,
        "config_sha256": config_sha256,
    });
    let stored_answer = answer.clone();
    let idempotency = idempotency.map(|(key, request_hash)| IdempotencyRequest {
        key,
        request_hash,
        render: Box::new(move |receipt: &Receipt| {
            crate::call::stored_json(200, &with_receipt(&stored_answer, receipt))
        }),
    });
    let recorded = state
        .engine
        .record_control(control_types::CONFIG_RELOADED, &payload, idempotency)
        .map_err(|error| CommandError::Unavailable(error.to_string()))
        .and_then(arxi_recorder::Pending::wait);
    let outcome = match recorded {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%error, "configuration reload not applied: it could not be recorded");
            return Err(Refused {
                reasons: vec![format!(
                    "(store): the reload could not be recorded: {error}"
                )],
                recorded_seq: None,
                storage: Some(error),
            });
        }
    };
    let swap_started = Instant::now();
    let (response, replayed) = match outcome {
        Outcome::Done { value, response } => {
            state.config.store(Arc::new(new));
            let response = response
                .unwrap_or_else(|| crate::call::stored_json(200, &with_receipt(&answer, &value)));
            (response, false)
        }
        // The same key and request reloaded already: nothing new is applied.
        Outcome::Replayed(response) => (response, true),
    };
    let swap = swap_started.elapsed();
    let elapsed = started.elapsed();
    tracing::info!(
        trigger = trigger.name(),
        changed = %changed.join(","),
        config_sha256 = %config_sha256,
        elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        swap_ns = u64::try_from(swap.as_nanos()).unwrap_or(u64::MAX),
        "configuration reloaded"
    );
    Ok(Applied {
        response,
        replayed,
        changed,
        config_sha256,
        elapsed,
        swap,
    })
}

/// The answer plus the envelope that recorded the reload.
fn with_receipt(answer: &Value, receipt: &Receipt) -> Value {
    let mut answer = answer.clone();
    answer["seq"] = json!(receipt.seq);
    answer["hash"] = json!(receipt.hash.to_hex());
    answer
}

fn refuse(state: &AppState, trigger: Trigger, source: &str, reasons: Vec<String>) -> Refused {
    let payload = json!({
        "trigger": trigger.name(),
        "source": source,
        "reasons": reasons,
    });
    let recorded = state
        .engine
        .record_control(control_types::CONFIG_RELOAD_REFUSED, &payload, None)
        .map_err(|error| CommandError::Unavailable(error.to_string()))
        .and_then(arxi_recorder::Pending::wait);
    let recorded_seq = match recorded {
        Ok(Outcome::Done { value, .. }) => Some(value.seq),
        Ok(Outcome::Replayed(_)) => None,
        Err(error) => {
            tracing::error!(%error, "a refused reload could not be recorded");
            None
        }
    };
    tracing::warn!(
        trigger = trigger.name(),
        reasons = %reasons.join("; "),
        "configuration reload refused; the running configuration stays"
    );
    Refused {
        reasons,
        recorded_seq,
        storage: None,
    }
}

/// Refuses changes to settings only a restart applies.
fn check_live(old: &ValidConfig, new: ValidConfig) -> Result<ValidConfig, Vec<String>> {
    let restart_only: Vec<String> = RESTART_ONLY
        .iter()
        .map(|key| (*key).to_owned())
        .chain(arxi_sidecar_config::limits::restart_only())
        .collect();
    let reasons: Vec<String> = changed_keys(old, &new)
        .into_iter()
        .filter(|key| {
            restart_only
                .iter()
                .any(|prefix| key == prefix || key.starts_with(&format!("{prefix}.")))
        })
        .map(|key| format!("{key}: changes only on restart; the running value stays"))
        .collect();
    if reasons.is_empty() {
        Ok(new)
    } else {
        Err(reasons)
    }
}

/// Leaf key paths whose values differ, plus token files whose contents
/// changed under the same path. Names only, never values.
fn changed_keys(old: &ValidConfig, new: &ValidConfig) -> Vec<String> {
    let flatten = |config: &ValidConfig| {
        let mut leaves = BTreeMap::new();
        flatten_into(
            &serde_json::to_value(config.model()).unwrap_or(Value::Null),
            String::new(),
            &mut leaves,
        );
        leaves
    };
    let (before, after) = (flatten(old), flatten(new));
    let mut changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    let secrets = |config: &ValidConfig| -> Vec<(String, String)> {
        config
            .credentials()
            .iter()
            .map(|c| (c.grant.name.clone(), c.secret.expose().to_owned()))
            .collect()
    };
    if secrets(old) != secrets(new) {
        changed.push("security (token contents)".into());
    }
    if old.enterprise_token() != new.enterprise_token() {
        changed.push("enterprise.token_file (contents)".into());
    }
    changed.sort();
    changed.dedup();
    changed
}

fn flatten_into(value: &Value, prefix: String, leaves: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(members) => {
            for (key, child) in members {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_into(child, path, leaves);
            }
        }
        // Arrays (tokens, sockets, hosts) compare whole.
        other => {
            leaves.insert(prefix, other.clone());
        }
    }
}

/// SHA-256 of the canonical redacted configuration.
pub fn digest(config: &ValidConfig) -> String {
    CanonicalJson::from_value(&config.redacted_json())
        .map(|canonical| Hash32::of(canonical.as_bytes()).to_hex())
        .unwrap_or_default()
}
