//! The model registry: registered models, versions, stages, aliases and tags.

use serde_json::{Value, json};

use crate::tracking::{TResult, Tracking, not_found};

use super::json::*;
use super::params::*;

/// One registry endpoint (`registered-models/…`, `model-versions/…`).
pub(super) fn call(t: &Tracking, method: &str, endpoint: &str, p: &Params) -> TResult<Value> {
    let empty = || Ok(json!({}));
    match endpoint {
        "registered-models/create" => {
            let m = t.create_registered_model(
                &p.str("name")?,
                p.kv("tags")?.into_iter().collect(),
                &p.opt_str("description")?.unwrap_or_default(),
            )?;
            Ok(json!({"registered_model": model_json(t, &m)?}))
        }
        "registered-models/get" => {
            let m = t.get_registered_model(&p.str("name")?)?;
            Ok(json!({"registered_model": model_json(t, &m)?}))
        }
        "registered-models/update" => {
            let d = p.opt_str("description")?;
            let m = t.change_registered_model(&p.str("name")?, |m| {
                if let Some(d) = d {
                    m.description = d;
                }
                Ok(())
            })?;
            Ok(json!({"registered_model": model_json(t, &m)?}))
        }
        "registered-models/rename" => {
            let m = t.rename_registered_model(&p.str("name")?, &p.str("new_name")?)?;
            Ok(json!({"registered_model": model_json(t, &m)?}))
        }
        "registered-models/delete" => {
            t.delete_registered_model(&p.str("name")?)?;
            empty()
        }
        "registered-models/search" | "registered-models/list" => {
            let (ms, next) = t.search_registered_models(
                &p.opt_str("filter")?.unwrap_or_default(),
                &p.strs("order_by")?,
                p.max_results(100)?,
                p.opt_str("page_token")?.as_deref(),
            )?;
            let items = ms
                .iter()
                .map(|m| model_json(t, m))
                .collect::<TResult<Vec<_>>>()?;
            Ok(paged("registered_models", items, next))
        }
        "registered-models/get-latest-versions" => {
            let vs = t.latest_versions(&p.str("name")?, &p.strs("stages")?)?;
            Ok(json!({"model_versions": versions_json(t, &vs)?}))
        }
        "registered-models/set-tag" => {
            let (k, v) = (p.str("key")?, p.opt_str("value")?.unwrap_or_default());
            crate::tracking::check_tag(&k, &v)?;
            t.change_registered_model(&p.str("name")?, |m| {
                m.tags.insert(k, v);
                Ok(())
            })?;
            empty()
        }
        "registered-models/delete-tag" => {
            let k = p.str("key")?;
            let name = p.str("name")?;
            t.change_registered_model(&name, |m| {
                m.tags.remove(&k).map(|_| ()).ok_or_else(|| {
                    not_found(format!("No tag with key '{k}' on registered model {name}"))
                })
            })?;
            empty()
        }
        "registered-models/alias" => match method {
            "DELETE" => {
                t.delete_alias(&p.str("name")?, &p.str("alias")?)?;
                empty()
            }
            "GET" => {
                let v = t.version_by_alias(&p.str("name")?, &p.str("alias")?)?;
                Ok(json!({"model_version": versions_json(t, &[v])?.remove(0)}))
            }
            _ => {
                t.set_alias(&p.str("name")?, &p.str("alias")?, &p.str("version")?)?;
                empty()
            }
        },
        "model-versions/create" => {
            let v = t.create_version(
                &p.str("name")?,
                &p.str("source")?,
                p.opt_str("run_id")?.as_deref(),
                p.kv("tags")?.into_iter().collect(),
                &p.opt_str("description")?.unwrap_or_default(),
                p.opt_str("run_link")?.as_deref(),
            )?;
            Ok(json!({"model_version": versions_json(t, &[v])?.remove(0)}))
        }
        "model-versions/get" => {
            let v = t.get_version(&p.str("name")?, &p.str("version")?)?;
            Ok(json!({"model_version": versions_json(t, &[v])?.remove(0)}))
        }
        "model-versions/update" => {
            let d = p.opt_str("description")?;
            let v = t.change_version(&p.str("name")?, &p.str("version")?, |v| {
                if let Some(d) = d {
                    v.description = d;
                }
                Ok(())
            })?;
            Ok(json!({"model_version": versions_json(t, &[v])?.remove(0)}))
        }
        "model-versions/delete" => {
            t.delete_version(&p.str("name")?, &p.str("version")?)?;
            empty()
        }
        "model-versions/search" => {
            let (vs, next) = t.search_versions(
                &p.opt_str("filter")?.unwrap_or_default(),
                &p.strs("order_by")?,
                p.max_results(10_000)?,
                p.opt_str("page_token")?.as_deref(),
            )?;
            Ok(paged("model_versions", versions_json(t, &vs)?, next))
        }
        "model-versions/transition-stage" => {
            let v = t.transition_stage(
                &p.str("name")?,
                &p.str("version")?,
                &p.str("stage")?,
                p.bool("archive_existing_versions")?,
            )?;
            Ok(json!({"model_version": versions_json(t, &[v])?.remove(0)}))
        }
        "model-versions/get-download-uri" => {
            let v = t.get_version(&p.str("name")?, &p.str("version")?)?;
            Ok(json!({"artifact_uri": v.storage}))
        }
        "model-versions/set-tag" => {
            let (k, v) = (p.str("key")?, p.opt_str("value")?.unwrap_or_default());
            crate::tracking::check_tag(&k, &v)?;
            t.change_version(&p.str("name")?, &p.str("version")?, |mv| {
                mv.tags.insert(k, v);
                Ok(())
            })?;
            empty()
        }
        "model-versions/delete-tag" => {
            let k = p.str("key")?;
            let name = p.str("name")?;
            t.change_version(&name, &p.str("version")?, |mv| {
                mv.tags.remove(&k).map(|_| ()).ok_or_else(|| {
                    not_found(format!("No tag with key '{k}' on model version {name}"))
                })
            })?;
            empty()
        }
        _ => super::unknown(method, endpoint),
    }
}
