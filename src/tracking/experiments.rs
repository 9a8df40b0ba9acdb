//! Experiments: create, read, rename, delete and restore, tags — MLflow's rules over
//! `ExperimentSet` events.

use std::collections::BTreeMap;

use crate::event::Event;

use super::*;

impl Tracking {
    pub(super) fn experiment_event(e: &Experiment) -> Event {
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
    pub(super) fn change_experiment(
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
}

/// An artifact location given to create-experiment: no `..`, no query or fragment tricks.
pub(super) fn check_location(loc: &str) -> TResult<()> {
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
pub(super) fn absolute_location(loc: &str) -> String {
    if loc.contains(':') || loc.starts_with('/') {
        return loc.to_string();
    }
    match std::env::current_dir() {
        Ok(d) => d.join(loc).to_string_lossy().into_owned(),
        Err(_) => loc.to_string(),
    }
}
