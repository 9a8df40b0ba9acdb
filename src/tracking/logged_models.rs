//! MLflow 3 logged models: what `mlflow.<flavor>.log_model` creates before it uploads the
//! files (to `EXP_ROOT/models/ID/artifacts` through the artifact proxy) and then finalizes;
//! `models:/m-ID` names one, and registering it makes a version of its files. Each change is
//! one `LoggedModelSet` event with the model's whole state.

use std::collections::BTreeMap;

use super::{TResult, Tracking, invalid, not_found, now_ms};
use crate::event::Event;

/// An MLflow 3 logged model (see `Event::LoggedModelSet`).
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedModel {
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    pub model_type: String,
    pub source_run: String,
    pub status: String,
    pub artifact_location: String,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl LoggedModel {
    /// The event that records this state (`deleted`: its removal).
    pub fn event(&self, deleted: bool) -> Event {
        Event::LoggedModelSet {
            id: self.id.clone(),
            experiment_id: self.experiment_id.clone(),
            name: self.name.clone(),
            model_type: self.model_type.clone(),
            source_run: self.source_run.clone(),
            status: self.status.clone(),
            artifact_location: self.artifact_location.clone(),
            tags: self.tags.clone(),
            params: self.params.clone(),
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            deleted,
        }
    }
}

/// MLflow's status names a finalize may set.
const STATUSES: [&str; 3] = [
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
];

impl Tracking {
    pub fn create_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        model_type: &str,
        source_run: &str,
        params: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> TResult<LoggedModel> {
        let mut s = self.state()?;
        let e = s.experiments.get(experiment_id).ok_or_else(|| {
            not_found(format!("Could not find experiment with ID {experiment_id}"))
        })?;
        if e.lifecycle != "active" {
            return Err(invalid(format!(
                "The experiment {experiment_id} must be in the 'active' state."
            )));
        }
        if !source_run.is_empty() && !s.runs.contains_key(source_run) {
            return Err(not_found(format!("Run with id={source_run} not found")));
        }
        let id = format!("m-{}", self.new_id());
        let now = now_ms();
        let name = if name.is_empty() {
            id.clone()
        } else {
            name.to_string()
        };
        let m = LoggedModel {
            artifact_location: format!(
                "{}/models/{id}/artifacts",
                e.artifact_location.trim_end_matches('/')
            ),
            id,
            experiment_id: experiment_id.to_string(),
            name,
            model_type: model_type.to_string(),
            source_run: source_run.to_string(),
            status: STATUSES[0].into(),
            tags,
            params,
            created_ms: now,
            updated_ms: now,
        };
        self.append(&mut s, vec![m.event(false)])?;
        Ok(m)
    }

    pub fn get_logged_model(&self, id: &str) -> TResult<LoggedModel> {
        self.state()?
            .logged_models
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("Logged model with ID '{id}' not found.")))
    }

    /// Changes one logged model with `f` and records its new state.
    pub fn change_logged_model(
        &self,
        id: &str,
        f: impl FnOnce(&mut LoggedModel) -> TResult<()>,
    ) -> TResult<LoggedModel> {
        let mut s = self.state()?;
        let mut m = s
            .logged_models
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("Logged model with ID '{id}' not found.")))?;
        f(&mut m)?;
        m.updated_ms = now_ms();
        self.append(&mut s, vec![m.event(false)])?;
        Ok(m)
    }

    pub fn finalize_logged_model(&self, id: &str, status: &str) -> TResult<LoggedModel> {
        if !STATUSES.contains(&status) {
            return Err(invalid(format!(
                "Invalid value {status} for parameter 'status' supplied: expected one of {STATUSES:?}"
            )));
        }
        self.change_logged_model(id, |m| {
            m.status = status.to_string();
            Ok(())
        })
    }

    pub fn delete_logged_model(&self, id: &str) -> TResult<()> {
        let mut s = self.state()?;
        let m = s
            .logged_models
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("Logged model with ID '{id}' not found.")))?;
        self.append(&mut s, vec![m.event(true)])
    }

    /// The logged models of these experiments (all when none is named), newest first; a
    /// filter may only compare the name, `name = '…'` (MLflow's richer filters are refused).
    pub fn search_logged_models(
        &self,
        experiment_ids: &[String],
        filter: &str,
    ) -> TResult<Vec<LoggedModel>> {
        let name = match filter.trim() {
            "" => None,
            f => {
                let v = f
                    .strip_prefix("name")
                    .map(str::trim_start)
                    .and_then(|r| r.strip_prefix('='))
                    .map(str::trim)
                    .and_then(|r| r.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
                    .ok_or_else(|| {
                        invalid(format!(
                            "Unsupported logged-model filter '{f}': lab ui supports name = '…'"
                        ))
                    })?;
                Some(v.to_string())
            }
        };
        let s = self.state()?;
        let mut out: Vec<LoggedModel> = s
            .logged_models
            .values()
            .filter(|m| experiment_ids.is_empty() || experiment_ids.contains(&m.experiment_id))
            .filter(|m| name.as_ref().is_none_or(|n| &m.name == n))
            .cloned()
            .collect();
        out.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}
