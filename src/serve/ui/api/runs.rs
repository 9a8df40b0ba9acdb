//! Experiments, runs, metrics and artifact listings.

use serde_json::{Value, json};

use crate::tracking::search::MAX_RESULTS;
use crate::tracking::{TResult, Tracking, ViewType, invalid, not_found};

use super::json::*;
use super::params::*;

/// One tracking endpoint (`experiments/…`, `runs/…`, `metrics/…`, `artifacts/list`).
pub(super) fn call(t: &Tracking, method: &str, endpoint: &str, p: &Params) -> TResult<Value> {
    let empty = || Ok(json!({}));
    match endpoint {
        "experiments/create" => {
            let name = p.str("name")?;
            let tags = p.kv("tags")?.into_iter().collect();
            let loc = p.opt_str("artifact_location")?;
            let id = t.create_experiment(&name, loc.as_deref(), tags)?;
            Ok(json!({"experiment_id": id}))
        }
        "experiments/get" => {
            let e = t.get_experiment(&p.nonempty("experiment_id")?)?;
            Ok(json!({"experiment": exp_json(&e)}))
        }
        "experiments/get-by-name" => {
            let e = t.get_experiment_by_name(&p.str("experiment_name")?)?;
            Ok(json!({"experiment": exp_json(&e)}))
        }
        "experiments/search" | "experiments/list" => {
            let view = ViewType::parse(p.opt_str("view_type")?.as_deref())?;
            let max = p.max_results(1000)?;
            let (es, next) = t.search_experiments(
                view,
                &p.opt_str("filter")?.unwrap_or_default(),
                &p.strs("order_by")?,
                max,
                p.opt_str("page_token")?.as_deref(),
            )?;
            Ok(paged(
                "experiments",
                es.iter().map(exp_json).collect(),
                next,
            ))
        }
        "experiments/update" => {
            t.rename_experiment(&p.nonempty("experiment_id")?, &p.str("new_name")?)?;
            empty()
        }
        "experiments/delete" => {
            t.set_experiment_lifecycle(&p.nonempty("experiment_id")?, true)?;
            empty()
        }
        "experiments/restore" => {
            t.set_experiment_lifecycle(&p.nonempty("experiment_id")?, false)?;
            empty()
        }
        "experiments/set-experiment-tag" => {
            let v = p.opt_str("value")?.unwrap_or_default();
            t.set_experiment_tag(&p.nonempty("experiment_id")?, &p.str("key")?, Some(&v))?;
            empty()
        }
        "experiments/delete-experiment-tag" => {
            t.set_experiment_tag(&p.nonempty("experiment_id")?, &p.str("key")?, None)?;
            empty()
        }
        "runs/create" => {
            let exp = p
                .opt_str("experiment_id")?
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "0".into());
            let r = t.create_run(
                &exp,
                &p.opt_str("user_id")?.unwrap_or_default(),
                p.opt_str("run_name")?.as_deref(),
                p.opt_i64("start_time")?,
                p.kv("tags")?.into_iter().collect(),
            )?;
            one_run(t, &r)
        }
        "runs/get" => one_run(t, &t.get_run(&run_id(p)?)?),
        "runs/update" => {
            let r = t.update_run(
                &run_id(p)?,
                p.opt_str("status")?.as_deref(),
                p.opt_i64("end_time")?,
                p.opt_str("run_name")?.as_deref(),
            )?;
            let s = t.state()?;
            Ok(json!({"run_info": run_info_json(&r, &s.artifact_uri(&r.id))}))
        }
        "runs/delete" => {
            t.set_run_lifecycle(&run_id(p)?, true)?;
            empty()
        }
        "runs/restore" => {
            t.set_run_lifecycle(&run_id(p)?, false)?;
            empty()
        }
        "runs/log-metric" => {
            let run = run_id(p)?;
            let m = metric_in(p, "")?;
            t.log_batch(&run, vec![m], vec![], vec![])?;
            empty()
        }
        "runs/log-parameter" => {
            let run = run_id(p)?;
            let k = p.str("key")?;
            let v = p.opt_str("value")?.ok_or_else(|| missing("value"))?;
            t.log_batch(&run, vec![], vec![(k, v)], vec![])?;
            empty()
        }
        "runs/set-tag" => {
            let run = run_id(p)?;
            let k = p.str("key")?;
            let v = p.opt_str("value")?.ok_or_else(|| missing("value"))?;
            t.log_batch(&run, vec![], vec![], vec![(k, v)])?;
            empty()
        }
        "runs/delete-tag" => {
            t.delete_tag(&run_id(p)?, &p.str("key")?)?;
            empty()
        }
        "runs/log-batch" => {
            let run = run_id(p)?;
            let metrics = p
                .objs("metrics")?
                .iter()
                .enumerate()
                .map(|(i, m)| metric_in(m, &format!("metrics[{i}].")))
                .collect::<TResult<Vec<_>>>()?;
            t.log_batch(&run, metrics, p.kv("params")?, p.kv("tags")?)?;
            empty()
        }
        "runs/log-inputs" => {
            let ds = match p.get("datasets") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(o) => return Err(bad_type("datasets", "a list", o)),
            };
            t.log_inputs(&run_id(p)?, ds)?;
            empty()
        }
        "runs/log-model" | "runs/outputs" => {
            t.get_run(&run_id(p)?)?;
            empty()
        }
        "runs/search" => {
            let exps = p.strs("experiment_ids")?;
            let view = ViewType::parse(p.opt_str("run_view_type")?.as_deref())?;
            let max = p.max_results(1000)?;
            if max > MAX_RESULTS {
                return Err(invalid(format!(
                    "Invalid value {max} for parameter 'max_results' supplied. It must be at most {MAX_RESULTS}"
                )));
            }
            let (runs, next) = t.search_runs(
                &exps,
                &p.opt_str("filter")?.unwrap_or_default(),
                view,
                max,
                &p.strs("order_by")?,
                p.opt_str("page_token")?.as_deref(),
            )?;
            Ok(paged("runs", runs_json(t, &runs)?, next))
        }
        "metrics/get-history" => {
            let body = history_body(t, p)?;
            serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))
        }
        "metrics/get-history-bulk" => {
            let runs = p.strs("run_id")?;
            if runs.is_empty() {
                return Err(invalid(
                    "GetMetricHistoryBulk request must specify at least one run_id.",
                ));
            }
            if runs.len() > 100 {
                return Err(invalid(
                    "GetMetricHistoryBulk request cannot specify more than 100 run_ids.",
                ));
            }
            let key = p
                .opt_str("metric_key")?
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    invalid("GetMetricHistoryBulk request must specify a metric_key.")
                })?;
            let mut runs = runs;
            runs.sort();
            let mut out = Vec::new();
            for run in runs {
                for m in t.metric_history(&run, &key).unwrap_or_default() {
                    out.push(json!({"key": key, "value": num(m.value), "timestamp": m.time_ms, "step": m.step, "run_id": run}));
                }
            }
            Ok(json!({"metrics": out}))
        }
        "metrics/get-history-bulk-interval" => {
            let runs = p.strs("run_ids")?;
            if runs.is_empty() {
                return Err(missing("run_ids"));
            }
            if runs.len() > 100 {
                return Err(invalid(
                    "GetMetricHistoryBulkInterval request must specify at most 100 run_ids.",
                ));
            }
            let key = p.nonempty("metric_key")?;
            let max = p.opt_i64("max_results")?.unwrap_or(320);
            if !(1..=2500).contains(&max) {
                return Err(invalid(format!(
                    "max_results must be between 1 and 2500, got {max}."
                )));
            }
            let (start, end) = (p.opt_i64("start_step")?, p.opt_i64("end_step")?);
            if start.is_some() != end.is_some() {
                return Err(invalid(
                    "If either start step or end step are specified, both must be specified.",
                ));
            }
            if let (Some(a), Some(b)) = (start, end) {
                if b < a {
                    return Err(invalid(format!(
                        "end_step must be greater than start_step. Found start_step={a} and end_step={b}."
                    )));
                }
            }
            let inside = |s: i64| start.is_none_or(|a| s >= a) && end.is_none_or(|b| s <= b);
            let mut hist = Vec::new();
            for run in &runs {
                let pts: Vec<_> = t
                    .metric_history(run, &key)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| inside(m.step))
                    .collect();
                hist.push((run.clone(), pts));
            }
            // MLflow's sampling: every k-th of all the runs' steps, plus each run's last.
            let all: std::collections::BTreeSet<i64> = hist
                .iter()
                .flat_map(|(_, p)| p.iter().map(|m| m.step))
                .collect();
            let all: Vec<i64> = all.into_iter().collect();
            let stride = all.len().div_ceil(max as usize).max(1);
            let mut keep: std::collections::BTreeSet<i64> =
                all.iter().step_by(stride).copied().collect();
            for (_, p) in &hist {
                if let Some(m) = p.iter().map(|m| m.step).max() {
                    keep.insert(m);
                }
                if let Some(m) = p.iter().map(|m| m.step).min() {
                    keep.insert(m);
                }
            }
            let mut out = Vec::new();
            for (run, p) in hist {
                let mut p: Vec<_> = p.into_iter().filter(|m| keep.contains(&m.step)).collect();
                p.sort_by_key(|m| m.step);
                for m in p {
                    out.push(json!({"key": key, "value": num(m.value), "timestamp": m.time_ms, "step": m.step, "run_id": run}));
                }
            }
            Ok(json!({"metrics": out}))
        }
        "artifacts/list" => {
            let run = run_id(p)?;
            let path = p.opt_str("path")?.unwrap_or_default();
            crate::tracking::check_artifact_path(&path)?;
            let (root, uri) = {
                let s = t.state()?;
                if !s.runs.contains_key(&run) {
                    return Err(not_found(format!("Run with id={run} not found")));
                }
                (s.run_root(&run), s.artifact_uri(&run))
            };
            let path = path.trim_matches('/').to_string();
            let full = if path.is_empty() {
                root.clone()
            } else {
                format!("{root}/{path}")
            };
            let files: Vec<Value> = t
                .list_artifacts(&full)?
                .into_iter()
                .map(|(n, d, size)| {
                    let rel = if path.is_empty() {
                        n
                    } else {
                        format!("{path}/{n}")
                    };
                    let mut f = json!({"path": rel, "is_dir": d});
                    if let Some(sz) = size {
                        f["file_size"] = json!(sz);
                    }
                    f
                })
                .collect();
            Ok(json!({"root_uri": uri, "files": files}))
        }
        _ => super::unknown(method, endpoint),
    }
}

/// `metrics/get-history`'s answer written straight into bytes: a million-point history as
/// `serde_json::Value`s took ~300 bytes a point (a 125,000-point read grew `lab ui` by
/// ~40 MB); written directly it is the answer's own size. The same JSON as
/// `{"metrics": [{"key", "value" (see `num`), "timestamp", "step"}…], "next_page_token"?}`.
pub fn history_body(t: &Tracking, p: &Params) -> TResult<Vec<u8>> {
    use std::io::Write;
    let run = run_id(p)?;
    let key = p.str("metric_key")?;
    let pts = t.metric_history(&run, &key)?;
    let max = p.max_results(usize::MAX)?;
    let off = crate::tracking::search::parse_token(p.opt_str("page_token")?.as_deref())?;
    let page = &pts[off.min(pts.len())..(off.saturating_add(max)).min(pts.len())];
    let key_json = serde_json::to_string(&key).map_err(|e| invalid(e.to_string()))?;
    let mut out = Vec::with_capacity(16 + page.len() * (key_json.len() + 72));
    out.extend_from_slice(b"{\"metrics\":[");
    for (i, m) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let value = serde_json::to_string(&num(m.value)).unwrap_or_default();
        let _ = write!(
            out,
            "{{\"key\":{key_json},\"value\":{value},\"timestamp\":{},\"step\":{}}}",
            m.time_ms, m.step
        );
    }
    out.push(b']');
    if off + page.len() < pts.len() {
        let _ = write!(out, ",\"next_page_token\":\"{}\"", off + page.len());
    }
    out.push(b'}');
    Ok(out)
}
