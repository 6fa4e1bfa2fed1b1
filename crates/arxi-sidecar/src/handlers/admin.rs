//! Administration routes: the effective configuration (secrets redacted)
//! and its reload (a recorded mutation), the public keys, and Prometheus
//! metrics.

use http::StatusCode;
use serde_json::Value;

use crate::contract::{KeyInfo, KeyList, to_value};

use super::run_blocking;
use crate::call::json_reply;
use crate::call::{Call, Reply};
use crate::metrics;
use crate::problem::{Code, Problem};

/// `GET /v1/config`.
pub async fn config(call: Call) -> Result<Reply, Problem> {
    let config = &call.config;
    let mut value = config.redacted_json();
    value["source"] = Value::String(config.source().to_owned());
    value["config_sha256"] = Value::String(crate::reload::digest(config));
    Ok(json_reply(StatusCode::OK, &value))
}

/// `POST /v1/config/reload`: re-reads the configuration file (body `{}` or
/// empty). 200 with the changed key paths and the recording envelope; 409
/// `config_reload_refused` with `reasons` when the file is invalid or
/// changes a restart-only setting (the refusal is recorded too).
pub async fn reload(call: Call) -> Result<Reply, Problem> {
    let body = super::parse_body(&call, true)?;
    let key = super::idempotency_key(&call, &body)?;
    super::object(body, crate::members_of!(crate::contract::Empty))?;
    if let Some(replay) = super::replay_if_done(&call, key.as_ref()).await? {
        return Ok(replay);
    }
    let state = std::sync::Arc::clone(&call.state);
    let result = run_blocking(&call, move || {
        Ok(crate::reload::reload(
            &state,
            crate::reload::Trigger::Api,
            key,
        ))
    })
    .await?;
    match result {
        Ok(applied) => Ok(super::stored_reply(applied.response, applied.replayed)),
        Err(refused) => match refused.storage {
            Some(error) => Err(super::command_problem(error)),
            None => Err(Problem::new(Code::ConfigReloadRefused)
                .detail(refused.reasons.join("; "))
                .with("reasons", refused.reasons)
                .with("recorded_seq", refused.recorded_seq)),
        },
    }
}

/// `GET /v1/keys`.
pub async fn keys(call: Call) -> Result<Reply, Problem> {
    let engine = std::sync::Arc::clone(&call.state.engine);
    let rows = run_blocking(&call, move || {
        engine
            .keys()
            .map_err(|error| Problem::new(Code::StorageUnavailable).detail(error.to_string()))
    })
    .await?;
    let keys: Vec<KeyInfo> = rows
        .iter()
        .map(|key| KeyInfo {
            key_id: key.public_key.id().as_str().to_owned(),
            public_key: key.public_key.to_hex(),
            first_seq: key.first_seq,
            added_at: Some(key.added_at.to_string()),
            delegation: key.delegation.as_ref().map(|delegation| {
                serde_json::from_slice(&delegation.to_canonical_bytes())
                    .expect("a delegation record is JSON")
            }),
        })
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        &to_value(&KeyList {
            current_key_id: call.state.engine.key_id().as_str().to_owned(),
            current_public_key: call.state.engine.public_key().to_hex(),
            keys,
        }),
    ))
}

/// `GET /metrics`.
pub async fn metrics(call: Call) -> Result<Reply, Problem> {
    let state = &call.state;
    let mut out = String::with_capacity(16 * 1024);
    state.http.write(&mut out);
    let saturation = &state.saturation;
    metrics::gauge(
        &mut out,
        "arxi_http_requests_active",
        "Requests holding a handling slot.",
        saturation.active.load(std::sync::atomic::Ordering::Relaxed) as u64,
    );
    metrics::gauge(
        &mut out,
        "arxi_http_requests_waiting",
        "Requests waiting in the admission queue.",
        saturation
            .waiting
            .load(std::sync::atomic::Ordering::Relaxed) as u64,
    );
    let status = state.engine.status();
    let recorder = state.engine.metrics();
    metrics::write_recorder(&mut out, &recorder, status.head_seq);
    crate::witnessing::write_metrics(&mut out, &state.log, status.head_seq);
    crate::timestamping::write_metrics(&mut out, &state.timestamps);
    if let Some(archive) = &state.archive {
        metrics::write_archive(&mut out, archive);
    }
    // The operator's additions (crate::process_metrics): the build, the
    // process (read from /proc on the read pool), the recorder's timings.
    let ready = state.storage.get().is_ok()
        && !state
            .shutting_down
            .load(std::sync::atomic::Ordering::Acquire);
    let database = call.config.database_path();
    let (process, database_bytes) = run_blocking(&call, move || {
        Ok((
            crate::process_metrics::read_process(),
            crate::process_metrics::database_bytes(&database),
        ))
    })
    .await?;
    crate::process_metrics::write_build_info(&mut out);
    crate::process_metrics::write_readiness(&mut out, ready);
    crate::process_metrics::write_process(&mut out, &process);
    crate::process_metrics::write_database_bytes(&mut out, &database_bytes);
    crate::process_metrics::write_timings(&mut out, &recorder.timings);
    Ok(Reply {
        status: StatusCode::OK,
        content_type: "text/plain; version=0.0.4",
        body: crate::response_body::ResponseBody::whole(out.into()),
        headers: Vec::new(),
    })
}
