//! The MLflow REST API (`/api/2.0/mlflow/…`, the same under `/ajax-api/2.0/mlflow/…`) and the
//! `mlflow-artifacts` proxy: each endpoint parses its request (JSON body and/or query string,
//! as the official client sends them), makes one `Tracking` call and serialises the answer as
//! MLflow's protobuf JSON. Errors are `{"error_code": "...", "message": "..."}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::tracking::search::MAX_RESULTS;
use crate::tracking::{
    Code, Experiment, MetricIn, RegModel, Run, TResult, Tracking, TrackingError, Version, ViewType,
    invalid, not_found, percent_decode, state::stage_name,
};

/// An answer: status, content type, body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A download's file name (`Content-Disposition: attachment; filename=…`).
    pub filename: Option<String>,
}

impl Answer {
    pub fn json(v: Value) -> Answer {
        Answer {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec(&v).unwrap_or_default(),
            filename: None,
        }
    }

    pub fn error(e: &TrackingError) -> Answer {
        Answer {
            status: e.code.status(),
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"error_code": e.code.name(), "message": e.message}))
                .unwrap_or_default(),
            filename: None,
        }
    }

    pub fn code(status: u16, code: &str, msg: &str) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"error_code": code, "message": msg}))
                .unwrap_or_default(),
            filename: None,
        }
    }
}

/// A request's parameters: the JSON body, with the query string's keys added.
pub struct Params<'a> {
    /// The body's object, or one object inside it (borrowed: a log-batch's thousand metrics
    /// are read in place, not copied).
    v: std::borrow::Cow<'a, Map<String, Value>>,
}

fn missing(k: &str) -> TrackingError {
    invalid(format!(
        "Missing value for required parameter '{k}'. See the API docs for more information about request parameters."
    ))
}

fn bad_type(k: &str, want: &str, got: &Value) -> TrackingError {
    invalid(format!(
        "Invalid value {got} for parameter '{k}' supplied: expected {want}"
    ))
}

/// Parses `a=1&b=x%20y&b=z` (repeated keys become arrays).
pub fn parse_query(q: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(&k.replace('+', " "));
        let v = Value::String(percent_decode(&v.replace('+', " ")));
        match m.get_mut(&k) {
            Some(Value::Array(a)) => a.push(v),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, v]);
            }
            None => {
                m.insert(k, v);
            }
        }
    }
    m
}

impl Params<'_> {
    pub fn new(body: &[u8], query: Option<&str>) -> TResult<Params<'static>> {
        let mut v = if body.iter().all(|b| b.is_ascii_whitespace()) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(invalid("Malformed request: the body must be a JSON object")),
                Err(e) => {
                    return Err(TrackingError {
                        code: Code::BadRequest,
                        message: format!("Malformed request: the body is not valid JSON ({e})"),
                    });
                }
            }
        };
        if let Some(q) = query {
            for (k, x) in parse_query(q) {
                v.entry(k).or_insert(x);
            }
        }
        Ok(Params {
            v: std::borrow::Cow::Owned(v),
        })
    }

    fn get(&self, k: &str) -> Option<&Value> {
        self.v.get(k).filter(|x| !x.is_null())
    }

    pub fn opt_str(&self, k: &str) -> TResult<Option<String>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
                Ok(a[0].as_str().map(str::to_string))
            }
            Some(o) => Err(bad_type(k, "a string", o)),
        }
    }

    pub fn str(&self, k: &str) -> TResult<String> {
        self.opt_str(k)?.ok_or_else(|| missing(k))
    }

    /// A required string that may not be empty.
    pub fn nonempty(&self, k: &str) -> TResult<String> {
        let s = self.str(k)?;
        if s.is_empty() {
            return Err(missing(k));
        }
        Ok(s)
    }

    pub fn opt_i64(&self, k: &str) -> TResult<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| bad_type(k, "an integer", &Value::Number(n.clone()))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| bad_type(k, "an integer", &Value::String(s.clone()))),
            Some(o) => Err(bad_type(k, "an integer", o)),
        }
    }

    pub fn f64(&self, k: &str) -> TResult<f64> {
        match self.get(k) {
            None => Err(missing(k)),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| missing(k)),
            Some(Value::String(s)) => match s.as_str() {
                "NaN" | "nan" => Ok(f64::NAN),
                "Infinity" | "inf" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                t => t
                    .parse()
                    .map_err(|_| bad_type(k, "a number", &Value::String(s.clone()))),
            },
            Some(o) => Err(bad_type(k, "a number", o)),
        }
    }

    pub fn bool(&self, k: &str) -> TResult<bool> {
        match self.get(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => Ok(s.eq_ignore_ascii_case("true")),
            Some(o) => Err(bad_type(k, "a boolean", o)),
        }
    }

    pub fn strs(&self, k: &str) -> TResult<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    o => Err(bad_type(k, "a list of strings", o)),
                })
                .collect(),
            Some(o) => Err(bad_type(k, "a list of strings", o)),
        }
    }

    pub fn objs(&self, k: &str) -> TResult<Vec<Params<'_>>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::Object(m) => Ok(Params {
                        v: std::borrow::Cow::Borrowed(m),
                    }),
                    o => Err(bad_type(k, "a list of objects", o)),
                })
                .collect(),
            Some(o) => Err(bad_type(k, "a list of objects", o)),
        }
    }

    /// `[{"key": k, "value": v}]` → map.
    pub fn kv(&self, k: &str) -> TResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for t in self.objs(k)? {
            let key = t.str("key")?;
            let value = t.opt_str("value")?.unwrap_or_default();
            out.push((key, value));
        }
        Ok(out)
    }

    pub fn max_results(&self, default: usize) -> TResult<usize> {
        match self.opt_i64("max_results")? {
            None => Ok(default),
            Some(n) if n <= 0 => Err(invalid(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be a positive integer"
            ))),
            Some(n) => Ok(n as usize),
        }
    }
}

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

fn kv_json(m: &BTreeMap<String, String>) -> Value {
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

fn model_json(t: &Tracking, m: &RegModel) -> TResult<Value> {
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

fn versions_json(t: &Tracking, vs: &[Version]) -> TResult<Vec<Value>> {
    let s = t.state()?;
    Ok(vs
        .iter()
        .map(|v| version_json(v, &s.aliases_of(&v.name, v.version)))
        .collect())
}

fn runs_json(t: &Tracking, runs: &[Run]) -> TResult<Vec<Value>> {
    let s = t.state()?;
    Ok(runs
        .iter()
        .map(|r| run_json(r, &s.artifact_uri(&r.id)))
        .collect())
}

fn one_run(t: &Tracking, r: &Run) -> TResult<Value> {
    Ok(json!({"run": runs_json(t, std::slice::from_ref(r))?.remove(0)}))
}

/// One metric; `at` prefixes the names in errors (`metrics[0].`).
fn metric_in(p: &Params, at: &str) -> TResult<MetricIn> {
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

fn run_id(p: &Params) -> TResult<String> {
    match p.opt_str("run_id")? {
        Some(r) if !r.is_empty() => Ok(r),
        _ => match p.opt_str("run_uuid")? {
            Some(r) if !r.is_empty() => Ok(r),
            _ => Err(missing("run_id")),
        },
    }
}

fn paged(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut o = Map::new();
    o.insert(key.to_string(), Value::Array(items));
    if let Some(n) = next {
        o.insert("next_page_token".into(), Value::String(n));
    }
    Value::Object(o)
}

/// One `/api/2.0/mlflow/ENDPOINT` call.
pub fn call(t: &Tracking, method: &str, endpoint: &str, p: &Params) -> TResult<Value> {
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
        // MLflow 3 logged models are not kept apart from run artifacts here: none to find.
        "logged-models/search" => Ok(json!({"models": []})),
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
            let run = run_id(p)?;
            let key = p.str("metric_key")?;
            let pts = t.metric_history(&run, &key)?;
            let max = p.max_results(usize::MAX)?;
            let off = crate::tracking::search::parse_token(p.opt_str("page_token")?.as_deref())?;
            let page: Vec<Value> = pts
                .iter()
                .skip(off)
                .take(max)
                .map(|m| json!({"key": key, "value": num(m.value), "timestamp": m.time_ms, "step": m.step}))
                .collect();
            let next = (off + page.len() < pts.len()).then(|| (off + page.len()).to_string());
            Ok(paged("metrics", page, next))
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
        _ => Err(TrackingError {
            code: Code::NotFound,
            message: format!("ENDPOINT_NOT_FOUND: {method} /api/2.0/mlflow/{endpoint}"),
        }),
    }
}

/// The `mlflow-artifacts` proxy: `PUT|GET|DELETE /api/2.0/mlflow-artifacts/artifacts/PATH`,
/// `GET …/artifacts?path=DIR` (list).
pub fn artifacts(t: &Tracking, method: &str, path: &str, p: &Params, body: &[u8]) -> Answer {
    let r = (|| -> TResult<Answer> {
        match (method, path) {
            ("GET", "") => {
                let dir = p.opt_str("path")?.unwrap_or_default();
                let dir = dir.trim_end_matches('/');
                let files: Vec<Value> = t
                    .list_artifacts(dir)?
                    .into_iter()
                    .map(|(n, d, size)| {
                        let mut f = json!({"path": n, "is_dir": d});
                        if let Some(sz) = size {
                            f["file_size"] = json!(sz);
                        }
                        f
                    })
                    .collect();
                Ok(Answer::json(json!({"files": files})))
            }
            ("GET", p) => Ok(download(p, t.get_artifact(p)?)),
            ("PUT", p) => {
                t.put_artifact(p, body)?;
                Ok(Answer::json(json!({})))
            }
            ("DELETE", p) => {
                t.delete_artifact(p)?;
                Ok(Answer::json(json!({})))
            }
            (m, _) => Err(invalid(format!("{m} is not allowed on artifacts"))),
        }
    })();
    r.unwrap_or_else(|e| Answer::error(&e))
}

/// A file download: its type from its name, as an attachment.
pub fn download(path: &str, body: Vec<u8>) -> Answer {
    let name = path.rsplit('/').next().unwrap_or(path);
    Answer {
        status: 200,
        content_type: content_type(path),
        body,
        filename: Some(name.replace(['"', '\\', '\r', '\n'], "_")),
    }
}

/// A safe content type for a downloaded artifact (never HTML: nothing served runs script).
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.eq_ignore_ascii_case("MLmodel") || name.eq_ignore_ascii_case("MLproject") {
        return "text/plain";
    }
    let ext = match name.rsplit_once('.') {
        Some((_, e)) => e.to_ascii_lowercase(),
        None => return "application/octet-stream",
    };
    match ext.as_str() {
        "txt" | "log" | "yaml" | "yml" | "md" | "csv" | "toml" | "py" | "ini" | "cfg" => {
            "text/plain"
        }
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `GET /get-artifact?run_id=R&path=P` and `GET /model-versions/get-artifact?name&version&path`
/// (what MLflow's UI downloads with).
pub fn get_artifact(t: &Tracking, endpoint: &str, p: &Params) -> Answer {
    let r = (|| -> TResult<Answer> {
        let path = p.opt_str("path")?.unwrap_or_default();
        crate::tracking::check_artifact_path(&path)?;
        let root = if endpoint == "get-artifact" {
            let run = run_id(p)?;
            let s = t.state()?;
            if !s.runs.contains_key(&run) {
                return Err(not_found(format!("Run with id={run} not found")));
            }
            s.run_root(&run)
        } else {
            let v = t.get_version(&p.str("name")?, &p.str("version")?)?;
            match v.storage.strip_prefix("mlflow-artifacts:") {
                Some(r) => r.trim_start_matches('/').to_string(),
                None => return Err(invalid("this model version's files are not on this server")),
            }
        };
        let full = format!("{root}/{}", path.trim_matches('/'));
        Ok(download(&full, t.get_artifact(&full)?))
    })();
    r.unwrap_or_else(|e| Answer::error(&e))
}
