//! MLflow's protobuf-JSON shapes of lab's experiments, runs, models and versions, and the
//! request fields every endpoint reads the same way.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::tracking::{
    Experiment, MetricIn, RegModel, Run, TResult, Tracking, TrackingError, Version,
    state::stage_name,
};

use super::params::*;

/// A float as protobuf JSON writes it: NaN and infinities as strings.
pub fn num(x: f64) -> Value {
    if x.is_nan() {
        Value::String("NaN".into())
    } else if x == f64::INFINITY {
        Value::String("Infinity".into())
    } else if x == f64::NEG_INFINITY {
        Value::String("-Infinity".into())
    } else {
        json!(x)
    }
}

pub(super) fn kv_json(m: &BTreeMap<String, String>) -> Value {
    Value::Array(
        m.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

pub fn exp_json(e: &Experiment) -> Value {
    json!({
        "experiment_id": e.id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle,
        "last_update_time": e.updated_ms,
        "creation_time": e.created_ms,
        "tags": kv_json(&e.tags),
    })
}

pub fn run_info_json(r: &Run, uri: &str) -> Value {
    let mut info = json!({
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": r.name,
        "experiment_id": r.experiment_id,
        "user_id": r.user_id,
        "status": r.status,
        "start_time": r.start_ms,
        "artifact_uri": uri,
        "lifecycle_stage": r.lifecycle,
    });
    if let Some(t) = r.end_ms {
        info["end_time"] = json!(t);
    }
    info
}

pub fn run_json(r: &Run, uri: &str) -> Value {
    let metrics: Vec<Value> = r
        .metrics
        .iter()
        .map(|(k, m)| json!({"key": k, "value": num(m.value), "timestamp": m.timestamp, "step": m.step}))
        .collect();
    json!({
        "info": run_info_json(r, uri),
        "data": {"metrics": metrics, "params": kv_json(&r.params), "tags": kv_json(&r.tags)},
        "inputs": {"dataset_inputs": r.inputs},
    })
}

pub fn version_json(v: &Version, aliases: &[String]) -> Value {
    let mut j = json!({
        "name": v.name,
        "version": v.version.to_string(),
        "creation_timestamp": v.created_ms,
        "last_updated_timestamp": v.updated_ms,
        "current_stage": stage_name(v.stage),
        "description": v.description,
        "source": v.source,
        "status": "READY",
        "tags": kv_json(&v.tags),
        "aliases": aliases,
    });
    if let Some(r) = &v.run_id {
        j["run_id"] = json!(r);
    }
    j
}

pub(super) fn model_json(t: &Tracking, m: &RegModel) -> TResult<Value> {
    let latest = t.latest_all(&m.name)?;
    let s = t.state()?;
    let aliases: Vec<Value> = s
        .aliases
        .get(&m.name)
        .map(|a| {
            a.iter()
                .map(|(k, v)| json!({"alias": k, "version": v.to_string()}))
                .collect()
        })
        .unwrap_or_default();
    let lv: Vec<Value> = latest
        .iter()
        .map(|v| version_json(v, &s.aliases_of(&v.name, v.version)))
        .collect();
    Ok(json!({
        "name": m.name,
        "creation_timestamp": m.created_ms,
        "last_updated_timestamp": m.updated_ms,
        "description": m.description,
        "latest_versions": lv,
        "tags": kv_json(&m.tags),
        "aliases": aliases,
    }))
}

pub(super) fn versions_json(t: &Tracking, vs: &[Version]) -> TResult<Vec<Value>> {
    let s = t.state()?;
    Ok(vs
        .iter()
        .map(|v| version_json(v, &s.aliases_of(&v.name, v.version)))
        .collect())
}

pub(super) fn runs_json(t: &Tracking, runs: &[Run]) -> TResult<Vec<Value>> {
    let s = t.state()?;
    Ok(runs
        .iter()
        .map(|r| run_json(r, &s.artifact_uri(&r.id)))
        .collect())
}

pub(super) fn one_run(t: &Tracking, r: &Run) -> TResult<Value> {
    Ok(json!({"run": runs_json(t, std::slice::from_ref(r))?.remove(0)}))
}

/// One metric; `at` prefixes the names in errors (`metrics[0].`).
pub(super) fn metric_in(p: &Params, at: &str) -> TResult<MetricIn> {
    let named = |e: TrackingError| TrackingError {
        code: e.code,
        message: e
            .message
            .replace("parameter '", &format!("parameter '{at}")),
    };
    Ok(MetricIn {
        key: p.str("key").map_err(named)?,
        value: p.f64("value").map_err(named)?,
        timestamp: p
            .opt_i64("timestamp")
            .map_err(named)?
            .ok_or_else(|| named(missing("timestamp")))?,
        step: p.opt_i64("step").map_err(named)?.unwrap_or(0),
    })
}

pub(super) fn run_id(p: &Params) -> TResult<String> {
    match p.opt_str("run_id")? {
        Some(r) if !r.is_empty() => Ok(r),
        _ => match p.opt_str("run_uuid")? {
            Some(r) if !r.is_empty() => Ok(r),
            _ => Err(missing("run_id")),
        },
    }
}

pub(super) fn paged(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut o = Map::new();
    o.insert(key.to_string(), Value::Array(items));
    if let Some(n) = next {
        o.insert("next_page_token".into(), Value::String(n));
    }
    Value::Object(o)
}
