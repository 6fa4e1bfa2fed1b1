//! Runtime inspection: the effective configuration (secrets redacted), the
//! public keys, and Prometheus metrics.

use http::StatusCode;
use serde_json::{Value, json};

use super::read;
use crate::metrics;
use crate::pipeline::json_reply;
use crate::problem::{Code, Problem};
use crate::routes::{Call, Reply};

/// `GET /v1/config`.
pub async fn config(call: Call) -> Result<Reply, Problem> {
    let config = call.state.config.load();
    let mut value = config.redacted_json();
    value["source"] = Value::String(config.source().to_owned());
    Ok(json_reply(StatusCode::OK, &value))
}

/// `GET /v1/keys`.
pub async fn keys(call: Call) -> Result<Reply, Problem> {
    let engine = std::sync::Arc::clone(&call.state.engine);
    let rows = read(&call, move || {
        engine
            .keys()
            .map_err(|error| Problem::new(Code::StorageUnavailable).detail(error.to_string()))
    })
    .await?;
    let keys: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "key_id": row.key_id,
                "public_key": arxi_format::digest::encode_hex(&row.public_key),
                "first_seq": row.first_seq,
                "added_at": arxi_format::Timestamp::from_unix_micros(row.added_at_us)
                    .map(|t| t.to_string()),
            })
        })
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        &json!({
            "current_key_id": call.state.engine.key_id().as_str(),
            "keys": keys,
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
    metrics::write_recorder(&mut out, &state.engine.metrics(), status.head_seq);
    Ok(Reply {
        status: StatusCode::OK,
        content_type: "text/plain; version=0.0.4",
        body: crate::body::ResponseBody::whole(out.into()),
        headers: Vec::new(),
    })
}
