//! MLflow tracking and model registry semantics over lab's event log, for `lab ui`: each
//! operation validates against the in-memory picture (`state`), appends the same events the
//! native recipes write (`RunStarted`, `MetricsLogged`, `ArtifactLogged`, `RunFinished`,
//! `ModelRegistered`, `ModelPromoted`, `ModelAliased`) plus the MLflow-only ones
//! (`ExperimentSet`, `RunUpdated`, `ArtifactDeleted`, `RegisteredModelSet`, `ModelVersionSet`,
//! `ModelUnaliased`), and folds what it appended. No HTTP here: `serve::ui` maps requests to
//! these calls and `TrackingError` to MLflow's error JSON.

mod artifacts;
pub mod filter;
mod import;
mod registry;
pub mod search;
pub mod state;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::event::{Event, Hash, MetricBatch, MetricPoint, RunStatus};
use crate::lab::Lab;
pub use artifacts::{check_artifact_path, percent_decode, percent_decode_all};
pub use import::RunImport;
use search::page as search_page;
pub use state::{Experiment, Latest, RegModel, Run, State, Version};

/// MLflow's error codes (databricks.proto) that lab answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    NotFound,
    Invalid,
    Exists,
    BadRequest,
    InvalidState,
    Internal,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::NotFound => "RESOURCE_DOES_NOT_EXIST",
            Code::Invalid => "INVALID_PARAMETER_VALUE",
            Code::Exists => "RESOURCE_ALREADY_EXISTS",
            Code::BadRequest => "BAD_REQUEST",
            Code::InvalidState => "INVALID_STATE",
            Code::Internal => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status MLflow maps the code to.
    pub fn status(self) -> u16 {
        match self {
            Code::NotFound => 404,
            Code::Internal => 500,
            _ => 400,
        }
    }
}

/// An error the client sees as MLflow's `{"error_code", "message"}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TrackingError {
    pub code: Code,
    pub message: String,
}

pub type TResult<T> = Result<T, TrackingError>;

pub fn invalid(m: impl Into<String>) -> TrackingError {
    TrackingError {
        code: Code::Invalid,
        message: m.into(),
    }
}

pub fn not_found(m: impl Into<String>) -> TrackingError {
    TrackingError {
        code: Code::NotFound,
        message: m.into(),
    }
}

pub fn exists(m: impl Into<String>) -> TrackingError {
    TrackingError {
        code: Code::Exists,
        message: m.into(),
    }
}

fn internal(e: impl std::fmt::Display) -> TrackingError {
    TrackingError {
        code: Code::Internal,
        message: format!("{e:#}"),
    }
}

/// MLflow's limits (mlflow/utils/validation.py).
pub const MAX_KEY: usize = 250;
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;
pub const MAX_BATCH_TOTAL: usize = 1000;

/// Which lifecycle a search sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewType {
    Active,
    Deleted,
    All,
}

impl ViewType {
    pub fn parse(s: Option<&str>) -> TResult<ViewType> {
        match s.map(|s| s.to_ascii_uppercase()).as_deref() {
            None | Some("ACTIVE_ONLY") | Some("1") | Some("") => Ok(ViewType::Active),
            Some("DELETED_ONLY") | Some("2") => Ok(ViewType::Deleted),
            Some("ALL") | Some("3") => Ok(ViewType::All),
            Some(o) => Err(invalid(format!(
                "Invalid view_type '{o}': use ACTIVE_ONLY, DELETED_ONLY or ALL"
            ))),
        }
    }

    pub fn sees(self, lifecycle: &str) -> bool {
        match self {
            ViewType::Active => lifecycle == "active",
            ViewType::Deleted => lifecycle == "deleted",
            ViewType::All => true,
        }
    }
}

/// One metric value as MLflow logs it.
#[derive(Clone, Debug)]
pub struct MetricIn {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// The MLflow service over one project's log.
pub struct Tracking {
    pub lab: Lab,
    state: Mutex<State>,
    counter: std::sync::atomic::AtomicU64,
}

pub fn now_ms() -> i64 {
    crate::store::now_ns() / 1_000_000
}

pub(crate) fn check_key(what: &str, k: &str) -> TResult<()> {
    if k.is_empty() {
        return Err(invalid(format!(
            "Invalid {what} name: '' (a key cannot be empty)"
        )));
    }
    if k.len() > MAX_KEY {
        return Err(invalid(format!(
            "{what} name '{}…' had length {}, which exceeded length limit of {MAX_KEY}",
            &k[..k.char_indices().nth(40).map_or(k.len(), |(i, _)| i)],
            k.len()
        )));
    }
    if k.starts_with('/')
        || k.split('/').any(|c| c == ".." || c == ".")
        || k.contains("//")
        || k.contains('\0')
    {
        return Err(invalid(format!(
            "Invalid {what} name: '{k}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '{k}'"
        )));
    }
    Ok(())
}

/// A tag key and value within MLflow's limits.
pub fn check_tag(k: &str, v: &str) -> TResult<()> {
    check_key("tag", k)?;
    if v.len() > MAX_TAG_VALUE {
        return Err(invalid(format!(
            "Tag value '{}…' had length {}, which exceeded length limit of {MAX_TAG_VALUE}",
            v.chars().take(20).collect::<String>(),
            v.len()
        )));
    }
    Ok(())
}

impl Tracking {
    /// Folds the whole log into a fresh picture.
    pub fn open(lab: Lab) -> anyhow::Result<Tracking> {
        let t = Tracking {
            lab,
            state: Mutex::new(State::new()),
            counter: Default::default(),
        };
        drop(t.state().map_err(|e| anyhow::anyhow!("{e}"))?);
        Ok(t)
    }

    /// The picture, brought up to date with the log (events other processes appended too).
    pub fn state(&self) -> TResult<MutexGuard<'_, State>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from = s.seq + 1;
        self.lab
            .store
            .scan(from, |rec| {
                s.apply(&rec);
                Ok(true)
            })
            .map_err(internal)?;
        Ok(s)
    }

    /// Appends `events` and folds them (the caller holds the state lock).
    fn append(&self, s: &mut State, events: Vec<Event>) -> TResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let author = self.lab.author().map_err(internal)?;
        let from = s.seq + 1;
        self.lab.store.append(author, events).map_err(internal)?;
        self.lab
            .store
            .scan(from, |rec| {
                s.apply(&rec);
                Ok(true)
            })
            .map_err(internal)?;
        Ok(())
    }

    fn new_id(&self) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = format!(
            "{}\0{}\0{}\0{n}",
            crate::process::host(),
            std::process::id(),
            crate::store::now_ns()
        );
        Hash::of(seed.as_bytes()).to_hex()[..32].to_string()
    }

    // ---- experiments ----

    fn experiment_event(e: &Experiment) -> Event {
        Event::ExperimentSet {
            id: e.id.clone(),
            name: e.name.clone(),
            lifecycle: e.lifecycle.clone(),
            artifact_location: e.artifact_location.clone(),
            tags: e.tags.clone(),
            created_ms: e.created_ms,
        }
    }

    pub fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: BTreeMap<String, String>,
    ) -> TResult<String> {
        if name.trim().is_empty() {
            return Err(invalid(
                "Invalid experiment name: ''. Experiment name cannot be empty.",
            ));
        }
        if let Some(loc) = artifact_location {
            check_location(loc)?;
        }
        for k in tags.keys() {
            check_key("tag", k)?;
        }
        let mut s = self.state()?;
        if let Some(e) = s.experiment_by_name(name) {
            if e.recorded || e.id == state::DEFAULT_EXPERIMENT {
                return Err(exists(format!(
                    "Experiment(name={name}) already exists. Error: (sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name"
                )));
            }
        }
        // A name native runs used keeps its runs: it gets a recorded, numeric id now.
        let id = s.next_experiment_id();
        let loc = artifact_location
            .filter(|l| !l.is_empty())
            .map(absolute_location)
            .unwrap_or_else(|| format!("mlflow-artifacts:/{id}"));
        let now = now_ms();
        let e = Experiment {
            id: id.clone(),
            name: name.to_string(),
            lifecycle: "active".into(),
            artifact_location: loc,
            tags,
            created_ms: now,
            updated_ms: now,
            recorded: true,
        };
        self.append(&mut s, vec![Self::experiment_event(&e)])?;
        Ok(id)
    }

    pub fn get_experiment(&self, id: &str) -> TResult<Experiment> {
        let s = self.state()?;
        s.experiments
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("No Experiment with id={id} exists")))
    }

    pub fn get_experiment_by_name(&self, name: &str) -> TResult<Experiment> {
        let s = self.state()?;
        s.experiment_by_name(name)
            .cloned()
            .ok_or_else(|| not_found(format!("Could not find experiment with name '{name}'")))
    }

    /// Changes one experiment with `f` and records its new state.
    fn change_experiment(
        &self,
        id: &str,
        f: impl FnOnce(&mut Experiment) -> TResult<()>,
    ) -> TResult<()> {
        let mut s = self.state()?;
        let mut e = s
            .experiments
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("No Experiment with id={id} exists")))?;
        f(&mut e)?;
        self.append(&mut s, vec![Self::experiment_event(&e)])
    }

    pub fn rename_experiment(&self, id: &str, new_name: &str) -> TResult<()> {
        if new_name.trim().is_empty() {
            return Err(invalid(
                "Invalid experiment name: ''. Experiment name cannot be empty.",
            ));
        }
        {
            let s = self.state()?;
            if s.experiments
                .values()
                .any(|e| e.name == new_name && e.id != id)
            {
                return Err(exists(format!(
                    "Experiment(name={new_name}) already exists."
                )));
            }
        }
        self.change_experiment(id, |e| {
            if e.lifecycle != "active" {
                return Err(invalid(format!(
                    "Cannot rename a non-active experiment {id}: restore it first"
                )));
            }
            e.name = new_name.to_string();
            Ok(())
        })
    }

    pub fn set_experiment_lifecycle(&self, id: &str, deleted: bool) -> TResult<()> {
        let mut run_events = Vec::new();
        {
            let s = self.state()?;
            // MLflow deletes (restores) the experiment's runs with it.
            for r in s.runs.values().filter(|r| r.experiment_id == id) {
                let lc = if deleted { "deleted" } else { "active" };
                if r.lifecycle != lc {
                    run_events.push(attr_event(&r.id, "lifecycle_stage", lc));
                }
            }
        }
        self.change_experiment(id, |e| {
            if deleted && e.id == state::DEFAULT_EXPERIMENT {
                return Err(invalid(
                    "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
                ));
            }
            e.lifecycle = if deleted { "deleted" } else { "active" }.into();
            Ok(())
        })?;
        let mut s = self.state()?;
        self.append(&mut s, run_events)
    }

    pub fn set_experiment_tag(&self, id: &str, key: &str, value: Option<&str>) -> TResult<()> {
        check_key("tag", key)?;
        if value.is_some_and(|v| v.len() > MAX_TAG_VALUE) {
            return Err(invalid(format!(
                "Tag value exceeded length limit of {MAX_TAG_VALUE}"
            )));
        }
        self.change_experiment(id, |e| {
            if e.lifecycle != "active" {
                return Err(invalid(format!(
                    "The experiment {id} must be in the 'active' state. Current state is {}.",
                    e.lifecycle
                )));
            }
            match value {
                Some(v) => {
                    e.tags.insert(key.to_string(), v.to_string());
                }
                None => {
                    if e.tags.remove(key).is_none() {
                        return Err(not_found(format!(
                            "No tag with name: {key} in experiment {id}"
                        )));
                    }
                }
            }
            Ok(())
        })
    }

    // ---- runs ----

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

    fn active_run<'a>(s: &'a State, id: &str) -> TResult<&'a Run> {
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
            check_key("param", k)?;
            if v.len() > MAX_PARAM_VALUE {
                return Err(invalid(format!(
                    "Param value '{}…' had length {}, which exceeded length limit of {MAX_PARAM_VALUE}",
                    v.chars().take(20).collect::<String>(),
                    v.len()
                )));
            }
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
            check_key("tag", k)?;
            if v.len() > MAX_TAG_VALUE {
                return Err(invalid(format!(
                    "Tag value '{}…' had length {}, which exceeded length limit of {MAX_TAG_VALUE}",
                    v.chars().take(20).collect::<String>(),
                    v.len()
                )));
            }
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

    /// log-inputs: dataset inputs kept as MLflow sends them.
    pub fn log_inputs(&self, run: &str, datasets: Vec<serde_json::Value>) -> TResult<()> {
        let mut s = self.state()?;
        Self::active_run(&s, run)?;
        if datasets.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(&datasets).map_err(internal)?;
        self.append(&mut s, vec![attr_event(run, "inputs", &json)])
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
fn start_events(
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
fn metrics_event(run: &str, metrics: Vec<MetricIn>) -> Option<Event> {
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
fn native_status(st: &str) -> TResult<Option<RunStatus>> {
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

fn attr_event(run: &str, key: &str, value: &str) -> Event {
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
fn petname(id: &str) -> String {
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

/// An artifact location given to create-experiment: no `..`, no query or fragment tricks.
fn check_location(loc: &str) -> TResult<()> {
    let decoded = percent_decode_all(loc);
    if decoded.split(['/', '\\']).any(|c| c == "..") || loc.contains('#') {
        return Err(invalid(format!(
            "Invalid artifact location '{loc}': it must not contain '..' components or '#'"
        )));
    }
    Ok(())
}

/// A relative local artifact location becomes absolute against the server's working
/// directory, as MLflow does (`my_location` → `/srv/my_location`); URIs stay as given.
fn absolute_location(loc: &str) -> String {
    if loc.contains(':') || loc.starts_with('/') {
        return loc.to_string();
    }
    match std::env::current_dir() {
        Ok(d) => d.join(loc).to_string_lossy().into_owned(),
        Err(_) => loc.to_string(),
    }
}
