//! Runs: create, read, update, delete and restore, params, tags, metrics (single, batched,
//! history), dataset inputs — over `RunStarted`, `RunUpdated`, `MetricsLogged` and
//! `RunFinished` events.

use std::collections::BTreeMap;

use crate::event::{Event, MetricBatch, MetricPoint, RunStatus};

use super::*;

impl Tracking {
    pub fn create_run(
        &self,
        experiment_id: &str,
        user_id: &str,
        run_name: Option<&str>,
        start_time: Option<i64>,
        tags: BTreeMap<String, String>,
    ) -> TResult<Run> {
        for (k, v) in &tags {
            check_key("tag", k)?;
            if v.len() > MAX_TAG_VALUE {
                return Err(invalid(format!(
                    "Tag value for '{k}' exceeded length limit of {MAX_TAG_VALUE}"
                )));
            }
        }
        let mut s = self.state()?;
        let e =
            s.experiments.get(experiment_id).cloned().ok_or_else(|| {
                not_found(format!("No Experiment with id={experiment_id} exists"))
            })?;
        if e.lifecycle != "active" {
            return Err(invalid(format!(
                "The experiment {experiment_id} must be in the 'active' state. Current state is {}.",
                e.lifecycle
            )));
        }
        let id = self.new_id();
        let tag_name = tags.get("mlflow.runName").cloned();
        let name = match (run_name.filter(|n| !n.is_empty()), tag_name) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{a}', mlflow.runName='{b}')."
                )));
            }
            (Some(a), _) => a.to_string(),
            (None, Some(b)) => b,
            (None, None) => petname(&id),
        };
        let start = start_time.unwrap_or_else(now_ms);
        let events = start_events(&id, &e, &name, start, user_id, tags);
        self.append(&mut s, events)?;
        s.runs
            .get(&id)
            .cloned()
            .ok_or_else(|| internal("the created run is missing"))
    }

    pub fn get_run(&self, id: &str) -> TResult<Run> {
        let s = self.state()?;
        s.runs
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("Run with id={id} not found")))
    }

    pub(super) fn active_run<'a>(s: &'a State, id: &str) -> TResult<&'a Run> {
        let r = s
            .runs
            .get(id)
            .ok_or_else(|| not_found(format!("Run with id={id} not found")))?;
        if r.lifecycle != "active" {
            return Err(invalid(format!(
                "The run {id} must be in the 'active' state. Current state is {}.",
                r.lifecycle
            )));
        }
        Ok(r)
    }

    pub fn update_run(
        &self,
        id: &str,
        status: Option<&str>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> TResult<Run> {
        let mut s = self.state()?;
        let r = Self::active_run(&s, id)?.clone();
        let mut attrs = BTreeMap::new();
        let mut events = Vec::new();
        if let Some(st) = status {
            let st = st.to_ascii_uppercase();
            let native = native_status(&st)?;
            attrs.insert("status".to_string(), st.clone());
            if let Some(ns) = native {
                if r.status == "RUNNING" || r.status == "SCHEDULED" {
                    events.push(Event::RunFinished {
                        run: id.to_string(),
                        status: ns,
                        outputs: Vec::new(),
                        error: None,
                    });
                }
            }
        }
        if let Some(t) = end_time {
            attrs.insert("end_time".to_string(), t.to_string());
        }
        if let Some(n) = run_name.filter(|n| !n.is_empty()) {
            attrs.insert("run_name".to_string(), n.to_string());
        }
        events.insert(
            0,
            Event::RunUpdated {
                run: id.to_string(),
                params: BTreeMap::new(),
                tags: BTreeMap::new(),
                deleted_tags: Vec::new(),
                attrs,
            },
        );
        // The status attribute last, so a RunFinished does not override e.g. KILLED→FINISHED.
        if let Some(st) = status {
            events.push(attr_event(id, "status", &st.to_ascii_uppercase()));
        }
        self.append(&mut s, events)?;
        Ok(s.runs.get(id).cloned().expect("the run exists"))
    }

    pub fn set_run_lifecycle(&self, id: &str, deleted: bool) -> TResult<()> {
        let mut s = self.state()?;
        let r = s
            .runs
            .get(id)
            .ok_or_else(|| not_found(format!("Run with id={id} not found")))?;
        if !deleted {
            let exp_active = s
                .experiments
                .get(&r.experiment_id)
                .is_none_or(|e| e.lifecycle == "active");
            if !exp_active {
                return Err(invalid(format!(
                    "Cannot restore run {id}: its experiment {} is deleted",
                    r.experiment_id
                )));
            }
        }
        let lc = if deleted { "deleted" } else { "active" };
        self.append(&mut s, vec![attr_event(id, "lifecycle_stage", lc)])
    }

    /// log-metric, log-parameter, set-tag and log-batch: one append.
    pub fn log_batch(
        &self,
        run: &str,
        metrics: Vec<MetricIn>,
        params: Vec<(String, String)>,
        tags: Vec<(String, String)>,
    ) -> TResult<()> {
        if metrics.len() > MAX_BATCH_METRICS {
            return Err(invalid(format!(
                "A batch logging request can contain at most {MAX_BATCH_METRICS} metrics. Got {} metrics. Please split up metrics across multiple requests and try again.",
                metrics.len()
            )));
        }
        if params.len() > MAX_BATCH_PARAMS {
            return Err(invalid(format!(
                "A batch logging request can contain at most {MAX_BATCH_PARAMS} params. Got {} params. Please split up params across multiple requests and try again.",
                params.len()
            )));
        }
        if tags.len() > MAX_BATCH_TAGS {
            return Err(invalid(format!(
                "A batch logging request can contain at most {MAX_BATCH_TAGS} tags. Got {} tags. Please split up tags across multiple requests and try again.",
                tags.len()
            )));
        }
        let total = metrics.len() + params.len() + tags.len();
        if total > MAX_BATCH_TOTAL {
            return Err(invalid(format!(
                "A batch logging request can contain at most {MAX_BATCH_TOTAL} total entities (metrics, params, and tags). Got {total} total entities."
            )));
        }
        for m in &metrics {
            check_key("metric", &m.key)?;
        }
        let mut pmap = BTreeMap::new();
        for (k, v) in &params {
            check_param(k, v)?;
            if let Some(old) = pmap.get(k) {
                if old != v {
                    return Err(invalid(format!(
                        "Duplicate parameter keys have been submitted: key '{k}' with values '{old}' and '{v}'"
                    )));
                }
            }
            pmap.insert(k.clone(), v.clone());
        }
        let mut tmap = BTreeMap::new();
        for (k, v) in &tags {
            check_tag(k, v)?;
            tmap.insert(k.clone(), v.clone());
        }
        let mut s = self.state()?;
        let r = Self::active_run(&s, run)?;
        for (k, v) in &pmap {
            if let Some(old) = r.params.get(k) {
                if old != v {
                    return Err(invalid(format!(
                        "Changing param values is not allowed. Param with key='{k}' was already logged with value='{old}' for run ID='{run}'. Attempted logging new value '{v}'."
                    )));
                }
            }
        }
        pmap.retain(|k, _| !r.params.contains_key(k));
        let mut events: Vec<Event> = metrics_event(run, metrics).into_iter().collect();
        let new_params = !pmap.is_empty();
        if !pmap.is_empty() || !tmap.is_empty() {
            let mut attrs = BTreeMap::new();
            if let Some(n) = tmap.get("mlflow.runName") {
                attrs.insert("run_name".to_string(), n.clone());
            }
            events.push(Event::RunUpdated {
                run: run.to_string(),
                params: pmap,
                tags: tmap,
                deleted_tags: Vec::new(),
                attrs,
            });
        }
        if !new_params {
            // Metrics and tags conflict with nothing a concurrent call may write: they are
            // appended after the picture's lock is released, so that the batches of concurrent
            // clients share one commit (`store::group`); the picture catches up on its next read.
            drop(s);
            let author = self.lab.author().map_err(internal)?;
            self.lab.store.append(author, events).map_err(internal)?;
            return Ok(());
        }
        self.append(&mut s, events)
    }

    pub fn delete_tag(&self, run: &str, key: &str) -> TResult<()> {
        let mut s = self.state()?;
        let r = Self::active_run(&s, run)?;
        if !r.tags.contains_key(key) {
            return Err(not_found(format!(
                "No tag with name: {key} in run with id {run}"
            )));
        }
        self.append(
            &mut s,
            vec![Event::RunUpdated {
                run: run.to_string(),
                params: BTreeMap::new(),
                tags: BTreeMap::new(),
                deleted_tags: vec![key.to_string()],
                attrs: BTreeMap::new(),
            }],
        )
    }

    /// log-inputs: dataset inputs kept as MLflow sends them; one whose digest is the start of
    /// a lab snapshot's manifest hash (8 hex digits or more) is also recorded as that
    /// snapshot's input (`LAB_INPUTS_ATTR`), so `lab runs show` and lineage name it.
    pub fn log_inputs(&self, run: &str, datasets: Vec<serde_json::Value>) -> TResult<()> {
        let mut s = self.state()?;
        Self::active_run(&s, run)?;
        if datasets.is_empty() {
            return Ok(());
        }
        let snapshots = self
            .lab
            .store
            .read_views(|v| crate::store::views::Query::datasets(v))
            .map_err(internal)?;
        let linked: Vec<crate::event::DataRef> = datasets
            .iter()
            .filter_map(|d| d["dataset"]["digest"].as_str())
            .filter_map(|digest| snapshot_of_digest(&snapshots, digest))
            .collect();
        let json = serde_json::to_string(&datasets).map_err(internal)?;
        let mut events = vec![attr_event(run, "inputs", &json)];
        if !linked.is_empty() {
            let refs = serde_json::to_string(&linked).map_err(internal)?;
            events.push(attr_event(run, crate::event::LAB_INPUTS_ATTR, &refs));
        }
        self.append(&mut s, events)
    }

    /// Every point of one metric, in the order logged.
    pub fn metric_history(&self, run: &str, key: &str) -> TResult<Vec<MetricPoint>> {
        {
            let s = self.state()?;
            if !s.runs.contains_key(run) {
                return Err(not_found(format!("Run with id={run} not found")));
            }
        }
        self.lab
            .store
            .read_views(|v| v.metric_series(run, key))
            .map_err(internal)
    }

    /// Metric keys of a run.
    pub fn metric_keys(&self, run: &str) -> TResult<Vec<String>> {
        self.lab
            .store
            .read_views(|v| v.metric_keys(run))
            .map_err(internal)
    }
}

/// The events that start an MLflow run: `RunStarted` (recipe `mlflow`) and the `RunUpdated`
/// that holds MLflow's attributes (experiment id, start time, name, user) and its tags.
pub(super) fn start_events(
    id: &str,
    e: &Experiment,
    name: &str,
    start_ms: i64,
    user_id: &str,
    tags: BTreeMap<String, String>,
) -> Vec<Event> {
    let mut attrs = BTreeMap::new();
    attrs.insert("experiment_id".to_string(), e.id.clone());
    attrs.insert("start_time".to_string(), start_ms.to_string());
    attrs.insert("run_name".to_string(), name.to_string());
    attrs.insert("user_id".to_string(), user_id.to_string());
    vec![
        Event::RunStarted {
            run: id.to_string(),
            name: name.to_string(),
            experiment: e.name.clone(),
            recipe: "mlflow".into(),
            params: BTreeMap::new(),
            inputs: Vec::new(),
            seed: None,
            pid: 0,
            host: "mlflow".into(),
            pid_start: 0,
        },
        Event::RunUpdated {
            run: id.to_string(),
            params: BTreeMap::new(),
            tags,
            deleted_tags: Vec::new(),
            attrs,
        },
    ]
}

/// One `MetricsLogged` of MLflow metric values, grouped by key in first-seen order.
pub(super) fn metrics_event(run: &str, metrics: Vec<MetricIn>) -> Option<Event> {
    if metrics.is_empty() {
        return None;
    }
    let mut by_key: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
    let mut order = Vec::new();
    for m in metrics {
        if !by_key.contains_key(&m.key) {
            order.push(m.key.clone());
        }
        by_key.entry(m.key).or_default().push(MetricPoint {
            step: m.step,
            value: m.value,
            time_ms: m.timestamp,
        });
    }
    Some(Event::MetricsLogged {
        run: run.to_string(),
        metrics: order
            .into_iter()
            .map(|k| MetricBatch {
                points: by_key.remove(&k).unwrap_or_default(),
                key: k,
            })
            .collect(),
    })
}

/// MLflow's run status as lab's terminal status (`None` for RUNNING / SCHEDULED).
pub(super) fn native_status(st: &str) -> TResult<Option<RunStatus>> {
    match st {
        "RUNNING" | "SCHEDULED" => Ok(None),
        "FINISHED" => Ok(Some(RunStatus::Finished)),
        "FAILED" => Ok(Some(RunStatus::Failed)),
        "KILLED" => Ok(Some(RunStatus::Killed)),
        o => Err(invalid(format!(
            "Invalid run status '{o}': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
        ))),
    }
}

pub(super) fn attr_event(run: &str, key: &str, value: &str) -> Event {
    let mut attrs = BTreeMap::new();
    attrs.insert(key.to_string(), value.to_string());
    Event::RunUpdated {
        run: run.to_string(),
        params: BTreeMap::new(),
        tags: BTreeMap::new(),
        deleted_tags: Vec::new(),
        attrs,
    }
}

/// A readable default run name from the id (MLflow makes `adjective-noun-N`).
pub(super) fn petname(id: &str) -> String {
    const A: [&str; 8] = [
        "brave", "calm", "eager", "gentle", "keen", "lucid", "merry", "swift",
    ];
    const N: [&str; 8] = ["owl", "fox", "lynx", "wren", "seal", "hare", "newt", "crow"];
    let b = id.as_bytes();
    let n = u32::from_str_radix(&id[..4.min(id.len())], 16).unwrap_or(0) % 1000;
    format!(
        "{}-{}-{n}",
        A[(b.first().copied().unwrap_or(0) % 8) as usize],
        N[(b.get(1).copied().unwrap_or(0) % 8) as usize]
    )
}

/// The lab snapshot an MLflow dataset digest names: the one whose manifest hash starts with it
/// (at least 8 hex digits, case ignored; the newest when several do).
pub(super) fn snapshot_of_digest(
    snapshots: &[crate::store::DatasetRow],
    digest: &str,
) -> Option<crate::event::DataRef> {
    let d = digest.trim().to_ascii_lowercase();
    if d.len() < 8 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    snapshots
        .iter()
        .filter(|s| s.manifest.to_hex().starts_with(&d))
        .max_by_key(|s| s.seq)
        .map(|s| crate::event::DataRef {
            role: "dataset".into(),
            name: format!("{}@{}", s.name, s.version),
            hash: s.manifest,
        })
}
