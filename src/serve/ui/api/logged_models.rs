//! MLflow 3 logged models: `logged-models` (create), `logged-models/search`, and per model
//! `logged-models/ID` (get, finalize with PATCH, delete), `…/tags` (PATCH), `…/tags/KEY`
//! (DELETE), `…/params` (POST).

use serde_json::{Value, json};

use crate::tracking::{LoggedModel, TResult, Tracking};

use super::json::kv_json;
use super::params::Params;

/// MLflow's JSON of a logged model.
pub(super) fn logged_model_json(m: &LoggedModel) -> Value {
    json!({
        "info": {
            "model_id": m.id,
            "experiment_id": m.experiment_id,
            "name": m.name,
            "creation_timestamp_ms": m.created_ms,
            "last_updated_timestamp_ms": m.updated_ms,
            "artifact_uri": m.artifact_location,
            "status": m.status,
            "model_type": m.model_type,
            "source_run_id": m.source_run,
            "tags": kv_json(&m.tags),
        },
        "data": {"params": kv_json(&m.params), "metrics": []},
    })
}

/// One `logged-models…` endpoint.
pub(super) fn call(t: &Tracking, method: &str, endpoint: &str, p: &Params) -> TResult<Value> {
    let rest = endpoint.strip_prefix("logged-models").unwrap_or("");
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("POST", [""]) => {
            let m = t.create_logged_model(
                &p.str("experiment_id")?,
                &p.opt_str("name")?.unwrap_or_default(),
                &p.opt_str("model_type")?.unwrap_or_default(),
                &p.opt_str("source_run_id")?.unwrap_or_default(),
                p.kv("params")?.into_iter().collect(),
                p.kv("tags")?.into_iter().collect(),
            )?;
            Ok(json!({"model": logged_model_json(&m)}))
        }
        ("POST" | "GET", ["search"]) => {
            let models = t.search_logged_models(
                &p.strs("experiment_ids")?,
                &p.opt_str("filter")?.unwrap_or_default(),
            )?;
            let max = p.max_results(100)?;
            let token = p.opt_str("page_token")?;
            let (page, next) = crate::tracking::search::page(models, max, token.as_deref())?;
            let mut out = json!({"models": page.iter().map(logged_model_json).collect::<Vec<_>>()});
            if let Some(n) = next {
                out["next_page_token"] = json!(n);
            }
            Ok(out)
        }
        ("GET", [id]) => Ok(json!({"model": logged_model_json(&t.get_logged_model(id)?)})),
        ("PATCH", [id]) => {
            let m = t.finalize_logged_model(id, &p.str("status")?)?;
            Ok(json!({"model": logged_model_json(&m)}))
        }
        ("DELETE", [id]) => {
            t.delete_logged_model(id)?;
            Ok(json!({}))
        }
        ("PATCH", [id, "tags"]) => {
            let tags = p.kv("tags")?;
            let m = t.change_logged_model(id, |m| {
                m.tags.extend(tags);
                Ok(())
            })?;
            Ok(json!({"model": logged_model_json(&m)}))
        }
        ("DELETE", [id, "tags", key]) => {
            let key = crate::tracking::percent_decode(key);
            t.change_logged_model(id, |m| {
                m.tags.remove(&key).map(|_| ()).ok_or_else(|| {
                    crate::tracking::not_found(format!(
                        "No tag with key '{key}' on logged model {id}"
                    ))
                })
            })?;
            Ok(json!({}))
        }
        ("POST", [id, "params"]) => {
            let params = p.kv("params")?;
            t.change_logged_model(id, |m| {
                m.params.extend(params);
                Ok(())
            })?;
            Ok(json!({}))
        }
        _ => super::unknown(method, endpoint),
    }
}
