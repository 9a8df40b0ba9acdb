//! The MLflow REST API (`/api/2.0/mlflow/…`, the same under `/ajax-api/2.0/mlflow/…`) and the
//! `mlflow-artifacts` proxy: each endpoint parses its request (JSON body and/or query string,
//! as the official client sends them), makes one `Tracking` call and serialises the answer as
//! MLflow's protobuf JSON. Errors are `{"error_code": "...", "message": "..."}`.

//!
//! Files: `params` (reading a request), `json` (MLflow's shapes of lab's records), `runs`
//! (experiments, runs, metrics), `registry` (registered models and versions), `artifacts`
//! (the proxy and downloads).

mod artifacts;
mod json;
mod logged_models;
mod params;
mod registry;
mod runs;

pub use artifacts::{Answer, artifacts, content_type, download, get_artifact};
pub use json::{exp_json, num, run_info_json, run_json, version_json};
pub use params::{Params, parse_query};

use serde_json::Value;

use crate::tracking::{Code, TResult, Tracking, TrackingError};

/// One `/api/2.0/mlflow/ENDPOINT` call.
pub fn call(t: &Tracking, method: &str, endpoint: &str, p: &Params) -> TResult<Value> {
    if endpoint.starts_with("registered-models/") || endpoint.starts_with("model-versions/") {
        registry::call(t, method, endpoint, p)
    } else if endpoint == "logged-models" || endpoint.starts_with("logged-models/") {
        logged_models::call(t, method, endpoint, p)
    } else {
        runs::call(t, method, endpoint, p)
    }
}

/// One call's answer as JSON bytes: a metric history is written straight into them
/// (`runs::history_body`), every other answer is `call`'s value serialised.
pub fn call_bytes(t: &Tracking, method: &str, endpoint: &str, p: &Params) -> TResult<Vec<u8>> {
    if endpoint == "metrics/get-history" {
        return runs::history_body(t, p);
    }
    let v = call(t, method, endpoint, p)?;
    serde_json::to_vec(&v).map_err(|e| crate::tracking::invalid(e.to_string()))
}

/// What an endpoint lab does not know answers.
fn unknown(method: &str, endpoint: &str) -> TResult<Value> {
    Err(TrackingError {
        code: Code::NotFound,
        message: format!("ENDPOINT_NOT_FOUND: {method} /api/2.0/mlflow/{endpoint}"),
    })
}
