//! MLflow tracking and model registry semantics over lab's event log, for `lab ui`: each
//! operation validates against the in-memory picture (`state`), appends the same events the
//! native recipes write (`RunStarted`, `MetricsLogged`, `ArtifactLogged`, `RunFinished`,
//! `ModelRegistered`, `ModelPromoted`, `ModelAliased`) plus the MLflow-only ones
//! (`ExperimentSet`, `RunUpdated`, `ArtifactDeleted`, `RegisteredModelSet`, `ModelVersionSet`,
//! `ModelUnaliased`), and folds what it appended. No HTTP here: `serve::ui` maps requests to
//! these calls and `TrackingError` to MLflow's error JSON.
//!
//! Here: errors, limits and the `Tracking` handle (its picture, appends); the calls by
//! subject in `experiments`, `runs`, `registry` (registered models, aliases), `versions`
//! (model versions), `logged_models`, `artifacts` and `import`; the picture in
//! `state`, search paging in `search`, MLflow's filter language in `filter`.

mod artifacts;
mod experiments;
pub mod filter;
mod import;
mod logged_models;
mod registry;
mod runs;
pub mod search;
pub mod state;
mod versions;

use std::sync::{Mutex, MutexGuard};

use crate::event::{Event, Hash};
use crate::lab::Lab;
pub use artifacts::{check_artifact_path, percent_decode, percent_decode_all};
pub use import::RunImport;
pub use logged_models::LoggedModel;
use runs::{attr_event, metrics_event, native_status, start_events};
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
    check_len("Tag", v, MAX_TAG_VALUE)
}

/// A param key and value within MLflow's limits.
pub fn check_param(k: &str, v: &str) -> TResult<()> {
    check_key("param", k)?;
    check_len("Param", v, MAX_PARAM_VALUE)
}

/// MLflow's message for a value longer than `limit` bytes.
fn check_len(what: &str, v: &str, limit: usize) -> TResult<()> {
    if v.len() > limit {
        return Err(invalid(format!(
            "{what} value '{}…' had length {}, which exceeded length limit of {limit}",
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
}
