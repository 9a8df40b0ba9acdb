//! The MLflow picture of the log, in memory: experiments, runs (with params, tags, latest
//! metrics), artifacts by path, registered models and versions. Folded from every event, so
//! runs of native recipes (`lab train`, `lab run`) appear too; `lab ui` keeps it current by
//! folding what was appended since (by itself or by any other process).

use std::collections::BTreeMap;

mod registry;

use super::logged_models::LoggedModel;
use crate::event::{Event, Hash, Record, RunStatus, Stage};

/// The experiment every MLflow server has.
pub const DEFAULT_EXPERIMENT: &str = "0";

#[derive(Clone, Debug)]
pub struct Experiment {
    pub id: String,
    pub name: String,
    pub lifecycle: String,
    pub artifact_location: String,
    pub tags: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Known from events (else made up for a native experiment name or `0`).
    pub recorded: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latest {
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

#[derive(Clone, Debug)]
pub struct Run {
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    pub user_id: String,
    pub status: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub lifecycle: String,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Latest>,
    /// `lab train…`, `cmd` or `mlflow`.
    pub recipe: String,
    /// JSON of the dataset inputs logged with log-inputs.
    pub inputs: Vec<serde_json::Value>,
    /// Native inputs (datasets, configs) by content hash.
    pub lab_inputs: Vec<(String, String, Hash)>,
    pub seq: u64,
}

#[derive(Clone, Debug)]
pub struct RegModel {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug)]
pub struct Version {
    pub name: String,
    pub version: u32,
    pub model: Hash,
    pub run_id: Option<String>,
    pub source: String,
    pub storage: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub stage: Stage,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The event that made it.
    pub seq: u64,
}

/// Everything `lab ui` answers from.
#[derive(Default)]
pub struct State {
    /// The last event folded.
    pub seq: u64,
    pub experiments: BTreeMap<String, Experiment>,
    pub runs: BTreeMap<String, Run>,
    /// Artifact path under the proxy root (`EXP/RUN/artifacts/PATH`) → (blob, size).
    pub artifacts: BTreeMap<String, (Hash, u64)>,
    pub models: BTreeMap<String, RegModel>,
    /// (name, version) → version; deleted versions are gone.
    pub versions: BTreeMap<(String, u32), Version>,
    /// name → alias → version.
    pub aliases: BTreeMap<String, BTreeMap<String, u32>>,
    /// name → the highest version number ever given (numbers are never reused).
    pub last_version: BTreeMap<String, u32>,
    /// MLflow 3 logged models by id; deleted ones are gone.
    pub logged_models: BTreeMap<String, LoggedModel>,
}

pub fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "RUNNING",
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Killed => "KILLED",
    }
}

pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::None => "None",
        Stage::Staging => "Staging",
        Stage::Production => "Production",
        Stage::Archived => "Archived",
    }
}

impl State {
    pub fn new() -> State {
        let mut s = State::default();
        s.experiments.insert(
            DEFAULT_EXPERIMENT.into(),
            Experiment {
                id: DEFAULT_EXPERIMENT.into(),
                name: "Default".into(),
                lifecycle: "active".into(),
                artifact_location: "mlflow-artifacts:/0".into(),
                tags: BTreeMap::new(),
                created_ms: 0,
                updated_ms: 0,
                recorded: false,
            },
        );
        s
    }

    /// The experiment named `name` (active or deleted).
    pub fn experiment_by_name(&self, name: &str) -> Option<&Experiment> {
        self.experiments.values().find(|e| e.name == name)
    }

    /// The id of experiment `name`, made up (`lab-NAME`) for a name only native runs used.
    fn experiment_id_for(&mut self, name: &str, ms: i64) -> String {
        if let Some(e) = self.experiment_by_name(name) {
            return e.id.clone();
        }
        let id = format!("lab-{name}");
        self.experiments.insert(
            id.clone(),
            Experiment {
                id: id.clone(),
                name: name.to_string(),
                lifecycle: "active".into(),
                artifact_location: format!("mlflow-artifacts:/{id}"),
                tags: BTreeMap::new(),
                created_ms: ms,
                updated_ms: ms,
                recorded: false,
            },
        );
        id
    }

    /// The next numeric experiment id.
    pub fn next_experiment_id(&self) -> String {
        let max = self
            .experiments
            .keys()
            .filter_map(|k| k.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        (max + 1).to_string()
    }

    /// `EXP/RUN/artifacts`: where a run's artifacts live under the proxy root.
    pub fn run_root(&self, run: &str) -> String {
        match self.runs.get(run) {
            Some(r) => {
                let loc = self
                    .experiments
                    .get(&r.experiment_id)
                    .map(|e| e.artifact_location.clone())
                    .unwrap_or_else(|| format!("mlflow-artifacts:/{}", r.experiment_id));
                let base = loc
                    .strip_prefix("mlflow-artifacts:")
                    .map(|p| p.trim_start_matches('/').to_string())
                    .unwrap_or(loc);
                if base.is_empty() {
                    format!("{run}/artifacts")
                } else {
                    format!("{base}/{run}/artifacts")
                }
            }
            None => format!("unknown/{run}/artifacts"),
        }
    }

    /// The run's artifact URI.
    pub fn artifact_uri(&self, run: &str) -> String {
        let r = self.runs.get(run);
        let loc = r
            .and_then(|r| self.experiments.get(&r.experiment_id))
            .map(|e| e.artifact_location.clone())
            .unwrap_or_default();
        if loc.starts_with("mlflow-artifacts:") || loc.is_empty() {
            format!("mlflow-artifacts:/{}", self.run_root(run))
        } else {
            // Appended to the URI's path, before any query (`mysql://…/db?driver=x`).
            let (base, query) = match loc.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (loc.as_str(), String::new()),
            };
            format!("{}/{run}/artifacts{query}", base.trim_end_matches('/'))
        }
    }

    /// Folds one event.
    pub fn apply(&mut self, rec: &Record) {
        let env = &rec.envelope;
        self.seq = env.seq;
        let ms = env.time_ns / 1_000_000;
        match &env.body {
            Event::ExperimentSet {
                id,
                name,
                lifecycle,
                artifact_location,
                tags,
                created_ms,
            } => {
                // A native name that had a made-up id: its runs move to the recorded one.
                if let Some(old) = self
                    .experiments
                    .values()
                    .find(|e| e.name == *name && !e.recorded && e.id != *id)
                    .map(|e| e.id.clone())
                {
                    self.experiments.remove(&old);
                    for r in self.runs.values_mut() {
                        if r.experiment_id == old {
                            r.experiment_id = id.clone();
                        }
                    }
                }
                self.experiments.insert(
                    id.clone(),
                    Experiment {
                        id: id.clone(),
                        name: name.clone(),
                        lifecycle: lifecycle.clone(),
                        artifact_location: artifact_location.clone(),
                        tags: tags.clone(),
                        created_ms: *created_ms,
                        updated_ms: ms,
                        recorded: true,
                    },
                );
            }
            Event::RunStarted {
                run,
                name,
                experiment,
                recipe,
                params,
                inputs,
                ..
            } => {
                let experiment_id = self.experiment_id_for(experiment, ms);
                let user = env.actor.split('@').next().unwrap_or_default().to_string();
                let mut tags = BTreeMap::new();
                tags.insert("mlflow.runName".to_string(), name.clone());
                if recipe != "mlflow" {
                    tags.insert("lab.recipe".to_string(), recipe.clone());
                }
                if let crate::event::GitState::Repo {
                    commit: Some(c), ..
                } = &env.git
                {
                    tags.insert("mlflow.source.git.commit".to_string(), c.clone());
                }
                self.runs.insert(
                    run.clone(),
                    Run {
                        id: run.clone(),
                        experiment_id,
                        name: name.clone(),
                        user_id: user,
                        status: "RUNNING".into(),
                        start_ms: ms,
                        end_ms: None,
                        lifecycle: "active".into(),
                        params: params.clone(),
                        tags,
                        metrics: BTreeMap::new(),
                        recipe: recipe.clone(),
                        inputs: Vec::new(),
                        lab_inputs: inputs
                            .iter()
                            .map(|d| (d.role.clone(), d.name.clone(), d.hash))
                            .collect(),
                        seq: env.seq,
                    },
                );
            }
            Event::RunUpdated {
                run,
                params,
                tags,
                deleted_tags,
                attrs,
            } => {
                let Some(r) = self.runs.get_mut(run) else {
                    return;
                };
                r.params
                    .extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
                r.tags
                    .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                for k in deleted_tags {
                    r.tags.remove(k);
                }
                for (k, v) in attrs {
                    match k.as_str() {
                        "experiment_id" => r.experiment_id = v.clone(),
                        "run_name" => {
                            r.name = v.clone();
                            r.tags.insert("mlflow.runName".into(), v.clone());
                        }
                        "user_id" => r.user_id = v.clone(),
                        "status" => r.status = v.clone(),
                        "start_time" => r.start_ms = v.parse().unwrap_or(r.start_ms),
                        "end_time" => r.end_ms = v.parse().ok(),
                        "lifecycle_stage" => r.lifecycle = v.clone(),
                        "inputs" => {
                            if let Ok(serde_json::Value::Array(a)) = serde_json::from_str(v) {
                                r.inputs.extend(a);
                            }
                        }
                        crate::event::LAB_INPUTS_ATTR => {
                            let refs: Vec<crate::event::DataRef> =
                                serde_json::from_str(v).unwrap_or_default();
                            for d in refs {
                                let item = (d.role, d.name, d.hash);
                                if !r.lab_inputs.contains(&item) {
                                    r.lab_inputs.push(item);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(n) = tags.get("mlflow.runName") {
                    r.name = n.clone();
                }
            }
            Event::MetricsLogged { run, metrics } => {
                let Some(r) = self.runs.get_mut(run) else {
                    return;
                };
                for b in metrics {
                    for p in &b.points {
                        let new = Latest {
                            value: p.value,
                            timestamp: p.time_ms,
                            step: p.step,
                        };
                        match r.metrics.get_mut(&b.key) {
                            Some(l) => {
                                let newer = (p.step, p.time_ms) > (l.step, l.timestamp)
                                    || ((p.step, p.time_ms) == (l.step, l.timestamp)
                                        && (p.value > l.value || l.value.is_nan()));
                                if newer {
                                    *l = new;
                                }
                            }
                            None => {
                                r.metrics.insert(b.key.clone(), new);
                            }
                        }
                    }
                }
            }
            Event::RunFinished { run, status, .. } => {
                if let Some(r) = self.runs.get_mut(run) {
                    r.status = status_name(*status).into();
                    if r.end_ms.is_none() {
                        r.end_ms = Some(ms);
                    }
                }
            }
            Event::ArtifactLogged {
                run,
                path,
                hash,
                size,
            } => {
                let full = if self.runs.contains_key(run) {
                    format!("{}/{path}", self.run_root(run))
                } else {
                    path.clone()
                };
                self.artifacts.insert(full, (*hash, *size));
            }
            Event::ArtifactDeleted { run, path } => {
                let full = if self.runs.contains_key(run) {
                    format!("{}/{path}", self.run_root(run))
                } else {
                    path.clone()
                };
                let under = format!("{full}/");
                self.artifacts
                    .retain(|k, _| *k != full && !k.starts_with(&under));
            }
            Event::LoggedModelSet {
                id,
                experiment_id,
                name,
                model_type,
                source_run,
                status,
                artifact_location,
                tags,
                params,
                created_ms,
                updated_ms,
                deleted,
            } => {
                if *deleted {
                    self.logged_models.remove(id);
                } else {
                    self.logged_models.insert(
                        id.clone(),
                        LoggedModel {
                            id: id.clone(),
                            experiment_id: experiment_id.clone(),
                            name: name.clone(),
                            model_type: model_type.clone(),
                            source_run: source_run.clone(),
                            status: status.clone(),
                            artifact_location: artifact_location.clone(),
                            tags: tags.clone(),
                            params: params.clone(),
                            created_ms: *created_ms,
                            updated_ms: *updated_ms,
                        },
                    );
                }
            }
            _ => {}
        }
        self.fold_registry(&env.body, ms);
    }
}
