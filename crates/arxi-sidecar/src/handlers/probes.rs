//! Health probes. They bypass auth, enterprise policy and bounds, do no
//! IO of their own (readiness reads the storage watchdog's last verdict),
//! and so answer under overload.

use std::sync::atomic::Ordering;

use arxi_sidecar_config::model::ReadinessMode;
use http::StatusCode;

use crate::contract::{ArchiveReadiness, Health, Ready, Startup, TimestampReadiness, to_value};

use crate::call::json_reply;
use crate::call::{Call, Reply};
use crate::problem::{Code, Problem};

/// `GET /health`: liveness and process metadata.
pub async fn health(call: Call) -> Result<Reply, Problem> {
    let state = &call.state;
    let config = state.config.load();
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&Health {
            status: "ok",
            service: "arxi-sidecar",
            version: env!("CARGO_PKG_VERSION"),
            recorder_id: config.model().recorder.id.clone(),
            pid: std::process::id(),
            uptime_seconds: state.started_at.elapsed().as_secs(),
        }),
    ))
}

/// `GET /startup`: start-up is complete (the listeners only open after
/// recovery), with the driver and the verification that ran.
pub async fn startup(call: Call) -> Result<Reply, Problem> {
    let state = &call.state;
    let config = state.config.load();
    let recovery = state.engine.recovery();
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&Startup {
            started: true,
            io_driver: state.driver.name(),
            io_uring_refused: state.io_uring_refusal.clone(),
            startup_verification_depth: config.model().recorder.startup_verification_depth,
            verified_envelopes: recovery.verified_envelopes,
            verified_seals: recovery.verified_seals,
            completed_seal: recovery.completed_seal,
            previous_shutdown: recovery.previous_shutdown.to_owned(),
            key_id: state.engine.key_id().as_str().to_owned(),
        }),
    ))
}

/// `GET /ready`: `{"ready": true}`, or 503 `not_ready` whose `reason` is
/// `storage_unavailable` (the store failed its check), `signer_unavailable`
/// (the signing key's PKCS#11 token is not reachable), 503
/// `enterprise_control_unavailable` (readiness mode
/// `storage_and_enterprise` and the control plane's health failed),
/// `request_capacity_exhausted` (saturated, when configured to say so),
/// `witness_lag` (no checkpoint witnessed for `witness.max_lag_ms` while
/// newer envelopes wait) or `shutting_down`.
pub async fn ready(call: Call) -> Result<Reply, Problem> {
    let state = &call.state;
    if state.shutting_down.load(Ordering::Acquire) {
        return Err(not_ready("shutting_down"));
    }
    if let Err(reason) = state.storage.get() {
        return Err(not_ready("storage_unavailable").detail(reason));
    }
    if let Err(reason) = state.signer.get() {
        return Err(not_ready("signer_unavailable").detail(reason));
    }
    let config = state.config.load();
    let probes = &config.model().probes;
    if probes.readiness_mode == ReadinessMode::StorageAndEnterprise
        && let Err(reason) = state.control_plane.get()
    {
        return Err(Problem::new(Code::EnterpriseControlUnavailable)
            .detail(reason)
            .with("reason", "enterprise_control_unavailable"));
    }
    if let Err(reason) = state.log.readiness() {
        return Err(not_ready("witness_lag").detail(reason));
    }
    if probes.ready_fail_on_admission_saturation {
        let limits = &config.model().limits;
        let active = state.saturation.active.load(Ordering::Relaxed) as u64;
        let waiting = state.saturation.waiting.load(Ordering::Relaxed) as u64;
        if active >= limits.concurrent_requests_max && waiting >= limits.queued_requests_max {
            return Err(not_ready("request_capacity_exhausted"));
        }
    }
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&Ready {
            ready: true,
            archive: state.archive.as_deref().map(archive_readiness),
            timestamps: state
                .timestamps
                .authorities
                .iter()
                .map(timestamp_readiness)
                .collect(),
        }),
    ))
}

fn archive_readiness(archive: &crate::archiver::ArchiveMetrics) -> ArchiveReadiness {
    let failures_in_a_row = archive.failures_in_a_row.load(Ordering::Relaxed);
    let last_success = archive.last_success_unix_seconds.load(Ordering::Relaxed);
    ArchiveReadiness {
        state: if failures_in_a_row == 0 {
            "ok"
        } else {
            "retrying"
        },
        lag_segments: archive.lag_segments.load(Ordering::Relaxed),
        failures_in_a_row,
        last_success_unix_seconds: (last_success > 0).then_some(last_success),
        last_error: archive
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

fn timestamp_readiness(tsa: &crate::timestamping::TsaState) -> TimestampReadiness {
    let failures_in_a_row = tsa.failures_in_a_row.load(Ordering::Relaxed);
    let last_success = tsa.last_success_unix_seconds.load(Ordering::Relaxed);
    TimestampReadiness {
        name: tsa.name.clone(),
        state: if failures_in_a_row == 0 {
            "ok"
        } else {
            "retrying"
        },
        pending_seals: tsa.pending.load(Ordering::Relaxed),
        failures_in_a_row,
        last_success_unix_seconds: (last_success > 0).then_some(last_success),
        last_error: tsa
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

fn not_ready(reason: &'static str) -> Problem {
    Problem::new(Code::NotReady).with("reason", reason)
}
