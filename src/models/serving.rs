//! What each environment serves: one model per task (`ocr`, `doc`; every other model name is
//! its own slot). The deployments view holds one row per (environment, model name) — a log
//! written before deployments replaced each other can hold two OCR models in one environment —
//! so the model an environment serves for a task is its most recently deployed row of that task.
//! `lab deploy status`, `lab serve`, the pre-push hook, `lab watch`, and the default models of
//! `lab ocr` / `lab extract` all read it here, so "production" means one thing.

use serde::Serialize;

use super::{ModelsError, bundle};
use crate::deploy::Task;
use crate::event::Hash;
use crate::store::views::Query;
use crate::store::{DeploymentRow, Store, VersionRow};

/// The model an environment serves for one task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Served {
    pub env: String,
    pub task: Task,
    pub model: String,
    pub version: u32,
    pub hash: Hash,
    /// The bundle's kind (`ocr`, `ocr-lora`, `doc`, …).
    pub kind: String,
    /// The `Deployed` / `RolledBack` event that made it current.
    pub seq: u64,
    pub time_ns: i64,
    /// Earlier versions of the same name deployed there, oldest first.
    pub previous: Vec<u32>,
}

impl Served {
    /// `NAME@N`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.model, self.version)
    }

    /// The slot it fills: the task, or for other models the name.
    pub fn slot(&self) -> String {
        slot(self.task, &self.model)
    }
}

/// The slot a model of `task` named `name` fills in an environment.
pub fn slot(task: Task, name: &str) -> String {
    match task {
        Task::Other => format!("other:{name}"),
        t => t.as_str().to_string(),
    }
}

/// One [`Served`] per (environment, slot), ordered by (environment, task, model); `kind` reads a
/// bundle's kind (cached by the caller where it is called often).
pub fn serving_rows<E>(
    registry: &[VersionRow],
    deployments: &[DeploymentRow],
    mut kind: impl FnMut(&Hash) -> Result<String, E>,
) -> Result<Vec<Served>, E> {
    let mut rows: Vec<&DeploymentRow> = deployments.iter().collect();
    rows.sort_by_key(|d| std::cmp::Reverse(d.seq));
    let mut out: Vec<Served> = Vec::new();
    for d in rows {
        let Some(v) = registry
            .iter()
            .find(|r| r.name == d.model && r.version == d.version)
        else {
            continue;
        };
        let kind = kind(&v.model)?;
        let task = Task::of_kind(&kind);
        let s = slot(task, &d.model);
        if out.iter().any(|o| o.env == d.env && o.slot() == s) {
            continue;
        }
        out.push(Served {
            env: d.env.clone(),
            task,
            model: d.model.clone(),
            version: d.version,
            hash: v.model,
            kind,
            seq: d.seq,
            time_ns: d.time_ns,
            previous: d.previous.clone(),
        });
    }
    out.sort_by(|a, b| (&a.env, a.task, &a.model).cmp(&(&b.env, b.task, &b.model)));
    Ok(out)
}

/// What `env` serves (every environment when `None`).
pub fn serving(store: &Store, env: Option<&str>) -> Result<Vec<Served>, ModelsError> {
    let (reg, deps) = store.read_views(|v| Ok((v.registry()?, v.deployments()?)))?;
    let deps: Vec<DeploymentRow> = deps
        .into_iter()
        .filter(|d| env.is_none_or(|e| d.env == e))
        .collect();
    serving_rows(&reg, &deps, |h| bundle(&store.blobs, h).map(|b| b.kind))
}

/// The model `env` serves for `task` (OCR or document), if any.
pub fn served(store: &Store, env: &str, task: Task) -> Result<Option<Served>, ModelsError> {
    Ok(serving(store, Some(env))?
        .into_iter()
        .find(|s| s.task == task))
}

/// The model a verb uses for `task` when none is named (`lab ocr`, `lab extract`): what
/// production serves for the task, else `fallback` as [`super::pin`] reads a bare name — with
/// why, for the output to say.
pub fn default_model(
    store: &Store,
    task: Task,
    fallback: &str,
) -> Result<(String, Option<String>), ModelsError> {
    if let Some(s) = served(store, "production", task)? {
        return Ok((
            s.label(),
            Some(format!("what production serves for {}", task.as_str())),
        ));
    }
    Ok(super::pin(store, fallback)?)
}

/// A model named by the user (pinned as [`super::pin`] reads it), or the default of `task`.
pub fn named_or_default(
    store: &Store,
    named: Option<&str>,
    task: Task,
    fallback: &str,
) -> Result<(String, Option<String>), ModelsError> {
    match named {
        Some(n) => Ok(super::pin(store, n)?),
        None => default_model(store, task, fallback),
    }
}
