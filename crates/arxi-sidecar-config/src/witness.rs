//! `[log]` and `[witness]`: the checkpoint origin and intervals, and the
//! witnesses (their keys parsed here, so a bad vkey stops start-up).

use std::time::Duration;

use arxi_format::note::{SignatureType, VerifierKey, check_name};

use crate::model::Config;
use crate::validate::Problems;

/// Most witnesses.
pub const WITNESSES_MAX: usize = 32;

/// A witness as the sidecar uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPeer {
    /// Its cosignature key (the name names the witness).
    pub key: VerifierKey,
    /// The submission prefix, without a trailing `/`.
    pub url: String,
    /// Bound on one request.
    pub timeout: Duration,
}

/// The witnessing policy, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WitnessPolicy {
    /// The witnesses.
    pub peers: Vec<WitnessPeer>,
    /// Cosignatures that make a checkpoint witnessed.
    pub quorum: usize,
    /// `/ready` fails once witnessing lags this much (`None`: never).
    pub max_lag: Option<Duration>,
}

/// The default origin of a recorder's checkpoints.
pub fn default_origin(recorder_id: &str) -> String {
    format!("arxi/{recorder_id}")
}

/// Checks `[log]` and `[witness]`; answers the policy when it is valid.
pub(crate) fn check_witness(config: &Config, problems: &mut Problems) -> WitnessPolicy {
    check_log(config, problems);
    let witness = &config.witness;
    let peers = check_peers(config, problems);
    let count = witness.peers.len();
    let quorum = witness
        .quorum
        .map_or(if count == 0 { 0 } else { count / 2 + 1 }, |q| q as usize);
    if quorum > count {
        problems.add(
            "witness.quorum",
            format!("is {quorum} but only {count} witnesses are configured"),
        );
    }
    if witness.max_lag_ms > 0 && count == 0 {
        problems.add("witness.max_lag_ms", "needs at least one witness");
    }
    if witness.max_lag_ms > 0 && witness.max_lag_ms < 2 * config.log.checkpoint_interval_ms {
        problems.add(
            "witness.max_lag_ms",
            "must be 0 (off) or at least twice log.checkpoint_interval_ms",
        );
    }
    WitnessPolicy {
        peers,
        quorum,
        max_lag: (witness.max_lag_ms > 0).then(|| Duration::from_millis(witness.max_lag_ms)),
    }
}

fn check_log(config: &Config, problems: &mut Problems) {
    let log = &config.log;
    if let Some(origin) = &log.origin
        && let Err(reason) = check_name(origin)
    {
        problems.add("log.origin", reason.to_string());
    }
    if !(100..=3_600_000).contains(&log.checkpoint_interval_ms) {
        problems.add("log.checkpoint_interval_ms", "must be 100 to 3600000");
    }
    if !(1..=86_400).contains(&log.checkpoint_record_interval_seconds) {
        problems.add(
            "log.checkpoint_record_interval_seconds",
            "must be 1 to 86400",
        );
    }
}

/// `[[witness.peers]]`: each key a cosignature key of its own name, each
/// URL http(s), each timeout in range.
fn check_peers(config: &Config, problems: &mut Problems) -> Vec<WitnessPeer> {
    let configured = &config.witness.peers;
    if configured.len() > WITNESSES_MAX {
        problems.add(
            "witness.peers",
            format!("at most {WITNESSES_MAX} witnesses"),
        );
    }
    let mut peers: Vec<WitnessPeer> = Vec::new();
    for (index, peer) in configured.iter().enumerate() {
        let at = |key: &str| format!("witness.peers[{index}].{key}");
        let key = match VerifierKey::parse(&peer.vkey) {
            Ok(key) if key.kind() == SignatureType::Cosignature => Some(key),
            Ok(_) => {
                problems.add(at("vkey"), "must be a cosignature/v1 key (type 0x04)");
                None
            }
            Err(e) => {
                problems.add(at("vkey"), e.to_string());
                None
            }
        };
        if let Some(key) = &key
            && peers.iter().any(|seen| seen.key.name() == key.name())
        {
            problems.add(at("vkey"), format!("a second witness named {}", key.name()));
        }
        if !valid_url(&peer.url) {
            problems.add(at("url"), "must be an http:// or https:// URL with a host");
        }
        if !(100..=60_000).contains(&peer.timeout_ms) {
            problems.add(at("timeout_ms"), "must be 100 to 60000");
        }
        if let Some(key) = key {
            peers.push(WitnessPeer {
                key,
                url: peer.url.trim_end_matches('/').to_owned(),
                timeout: Duration::from_millis(peer.timeout_ms),
            });
        }
    }
    peers
}

pub(crate) fn valid_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', ':', '?', '#']).next().unwrap_or("");
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && url.bytes().all(|b| b.is_ascii_graphic())
}
