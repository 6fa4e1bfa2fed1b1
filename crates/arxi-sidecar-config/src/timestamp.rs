//! `[[timestamp]]`: the RFC 3161 timestamp authorities (TSAs) every seal's
//! hash, or a checkpoint of the log tree now and then, is sent to. Each TSA's certificate file is read here, so a
//! missing or unreadable certificate stops start-up.

use std::path::Path;
use std::time::Duration;

use arxi_format::timestamp::check_tsa_name;
use arxi_format::tsp::TsaTrust;

use crate::model::Config;
use crate::validate::{Problems, resolve};
use crate::witness::valid_url;

/// Most timestamp authorities (a seal carries at most 16 tokens).
pub const TIMESTAMP_AUTHORITIES_MAX: usize = arxi_format::timestamp::TIMESTAMPS_PER_SEAL_MAX;

/// Largest certificate file read.
const CERTIFICATE_FILE_MAX: u64 = 1024 * 1024;

/// A timestamp authority as the sidecar uses it.
#[derive(Debug, Clone)]
pub struct TimestampAuthority {
    /// Its name (labels its tokens, metrics and readiness entry).
    pub name: String,
    /// Where requests go.
    pub url: String,
    /// The certificates its tokens must chain to.
    pub trust: TsaTrust,
    /// Bound on one request.
    pub timeout: Duration,
    /// What it stamps.
    pub subject: StampSubject,
}

/// What a TSA stamps (`subject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampSubject {
    /// Every seal's hash (`T` records in bundles).
    Seals,
    /// A checkpoint of the log tree at most once per interval, when the
    /// log grew (`arxi.log.timestamped` envelopes).
    Checkpoints {
        /// The least time between two tokens.
        interval: Duration,
    },
}

/// Checks `[[timestamp]]`; answers the authorities that are valid.
pub(crate) fn check_timestamps(
    config: &Config,
    base_dir: &Path,
    problems: &mut Problems,
) -> Vec<TimestampAuthority> {
    let configured = &config.timestamp;
    if configured.len() > TIMESTAMP_AUTHORITIES_MAX {
        problems.add(
            "timestamp",
            format!("at most {TIMESTAMP_AUTHORITIES_MAX} timestamp authorities"),
        );
    }
    let mut authorities: Vec<TimestampAuthority> = Vec::new();
    for (index, tsa) in configured.iter().enumerate() {
        let at = |key: &str| format!("timestamp[{index}].{key}");
        let mut valid = true;
        if let Err(why) = check_tsa_name(&tsa.name) {
            problems.add(at("name"), why);
            valid = false;
        } else if configured[..index].iter().any(|seen| seen.name == tsa.name) {
            problems.add(
                at("name"),
                format!("a second timestamp authority named {}", tsa.name),
            );
            valid = false;
        }
        if !valid_url(&tsa.url) {
            problems.add(at("url"), "must be an http:// or https:// URL with a host");
            valid = false;
        }
        if !(100..=60_000).contains(&tsa.timeout_ms) {
            problems.add(at("timeout_ms"), "must be 100 to 60000");
            valid = false;
        }
        let subject = match tsa.subject.as_str() {
            "seals" => Some(StampSubject::Seals),
            "checkpoints" if (10..=86_400).contains(&tsa.checkpoint_interval_seconds) => {
                Some(StampSubject::Checkpoints {
                    interval: Duration::from_secs(tsa.checkpoint_interval_seconds),
                })
            }
            "checkpoints" => {
                problems.add(at("checkpoint_interval_seconds"), "must be 10 to 86400");
                None
            }
            _ => {
                problems.add(at("subject"), "must be \"seals\" or \"checkpoints\"");
                None
            }
        };
        let trust = match read_certificates(&resolve(base_dir, Path::new(&tsa.ca_cert))) {
            Ok(trust) => trust,
            Err(why) => {
                problems.add(at("ca_cert"), why);
                continue;
            }
        };
        if let (true, Some(subject)) = (valid, subject) {
            authorities.push(TimestampAuthority {
                name: tsa.name.clone(),
                url: tsa.url.clone(),
                trust,
                timeout: Duration::from_millis(tsa.timeout_ms),
                subject,
            });
        }
    }
    authorities
}

fn read_certificates(path: &Path) -> Result<TsaTrust, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(CERTIFICATE_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > CERTIFICATE_FILE_MAX {
        return Err(format!("{}: larger than 1 MiB", path.display()));
    }
    let mut trust = TsaTrust::new();
    trust
        .add(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(trust)
}
