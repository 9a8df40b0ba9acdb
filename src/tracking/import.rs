//! A whole run from another MLflow store (`lab import mlflow`), recorded as the events `lab ui`
//! writes when the official client logs the same run — create-run, log-batch, the artifact
//! proxy, update-run, delete-run — but in one append, so an import stopped midway leaves each
//! run either whole or absent.

use std::collections::BTreeMap;

use super::{
    MetricIn, TResult, Tracking, attr_event, check_artifact_path, check_key, check_tag, internal,
    invalid, metrics_event, native_status, not_found, start_events,
};
use crate::event::{Event, Hash};

/// One MLflow run as another store holds it; artifacts are already blobs.
#[derive(Clone, Debug, Default)]
pub struct RunImport {
    /// The run's MLflow id, kept as lab's run id (so `runs:/ID/…` sources still resolve).
    pub id: String,
    /// lab's id of the experiment (see `ensure_experiment`).
    pub experiment_id: String,
    pub name: String,
    pub user_id: String,
    /// RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.
    pub status: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub deleted: bool,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub metrics: Vec<MetricIn>,
    /// (path relative to the run's artifact root, blob, size).
    pub artifacts: Vec<(String, Hash, u64)>,
}

impl Tracking {
    /// The id of experiment `name`, created as create-experiment does when lab has none.
    pub fn ensure_experiment(&self, name: &str, tags: BTreeMap<String, String>) -> TResult<String> {
        // Recorded, or a name only native runs used (its made-up id serves): nothing to append.
        if let Ok(e) = self.get_experiment_by_name(name) {
            if e.lifecycle != "active" {
                return Err(invalid(format!(
                    "lab's experiment '{name}' is deleted; restore it (lab ui: restore-experiment) before importing into it"
                )));
            }
            return Ok(e.id);
        }
        self.create_experiment(name, None, tags)
    }

    /// Whether lab already has this MLflow run: the same id, or a run exported from lab
    /// (`lab.run_id` tag) coming back.
    pub fn has_run(&self, id: &str, tags: &BTreeMap<String, String>) -> TResult<bool> {
        let s = self.state()?;
        Ok(s.runs.contains_key(id)
            || tags
                .get("lab.run_id")
                .is_some_and(|r| s.runs.contains_key(r)))
    }

    /// Records `r` in one append; false (and nothing appended) when lab already has it.
    pub fn import_run(&self, r: RunImport) -> TResult<bool> {
        for (k, v) in &r.tags {
            check_tag(k, v)?;
        }
        for k in r.params.keys() {
            check_key("param", k)?;
        }
        for m in &r.metrics {
            check_key("metric", &m.key)?;
        }
        for (p, _, _) in &r.artifacts {
            check_artifact_path(p)
                .map_err(|_| invalid(format!("run {}: invalid artifact path '{p}'", r.id)))?;
        }
        let status = r.status.to_ascii_uppercase();
        let native = native_status(&status)?;
        let mut s = self.state()?;
        if s.runs.contains_key(&r.id)
            || r.tags
                .get("lab.run_id")
                .is_some_and(|x| s.runs.contains_key(x))
        {
            return Ok(false);
        }
        let e = s
            .experiments
            .get(&r.experiment_id)
            .cloned()
            .ok_or_else(|| {
                not_found(format!("No Experiment with id={} exists", r.experiment_id))
            })?;
        let id = r.id.clone();
        let mut events = start_events(&id, &e, &r.name, r.start_ms, &r.user_id, r.tags);
        if !r.params.is_empty() {
            events.push(Event::RunUpdated {
                run: id.clone(),
                params: r.params,
                tags: BTreeMap::new(),
                deleted_tags: Vec::new(),
                attrs: BTreeMap::new(),
            });
        }
        events.extend(metrics_event(&id, r.metrics));
        for (path, hash, size) in r.artifacts {
            events.push(Event::ArtifactLogged {
                run: id.clone(),
                path,
                hash,
                size,
            });
        }
        if let Some(ns) = native {
            events.push(Event::RunFinished {
                run: id.clone(),
                status: ns,
                outputs: Vec::new(),
                error: None,
            });
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("status".to_string(), status);
        if let Some(t) = r.end_ms {
            attrs.insert("end_time".to_string(), t.to_string());
        }
        events.push(Event::RunUpdated {
            run: id.clone(),
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
            deleted_tags: Vec::new(),
            attrs,
        });
        if r.deleted {
            events.push(attr_event(&id, "lifecycle_stage", "deleted"));
        }
        self.append(&mut s, events)?;
        if !s.runs.contains_key(&id) {
            return Err(internal("the imported run is missing"));
        }
        Ok(true)
    }
}
