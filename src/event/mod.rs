//! Plain data at the bottom of lab: hashes, ids, the event envelope and the closed event enum.
//!
//! Nothing here does I/O. The store encodes these types with bincode (see `store::codec`)
//! and hashes the encoded bytes into the chain, so **a type here is part of the on-disk
//! format**: add new variants only at the end of an enum, and never change the fields of an
//! existing variant without bumping `store::codec::FORMAT_VERSION` and keeping a decoder for
//! the old shape (the versioning rule, DESIGN.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod hash;
mod summary;

pub use hash::Hash;

/// A run id: 32 lowercase hex digits, like MLflow's.
pub type RunId = String;

/// The state of the project's git repository when an event was appended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GitState {
    /// The project is not inside a git repository.
    NoRepo,
    Repo {
        /// HEAD's commit id (hex), `None` before the first commit.
        commit: Option<String>,
        /// The branch HEAD points at, `None` when detached.
        branch: Option<String>,
        /// Whether tracked files differ from HEAD or untracked files exist.
        dirty: bool,
        /// When dirty: the blob holding the diff of the work tree against HEAD.
        diff: Option<Hash>,
    },
}

/// What the chain hashes: everything about one event except its own hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// 1, 2, 3… with no gaps.
    pub seq: u64,
    /// Unix time in nanoseconds.
    pub time_ns: i64,
    /// Who appended it: `user@host (lab VERB, pid N)`.
    pub actor: String,
    pub git: GitState,
    /// lab's version and build, e.g. `0.1.0`.
    pub lab_version: String,
    /// The hash of the previous event, `Hash::ZERO` for the first.
    pub prev: Hash,
    pub body: Event,
}

/// One entry of the log: the envelope plus its hash
/// (SHA-256 over the previous hash and the encoded envelope).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub hash: Hash,
}

/// One file of a dataset snapshot manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative path with `/` separators. Non-UTF-8 names are kept byte-exact
    /// (see `dataset::manifest`).
    pub path: Vec<u8>,
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    pub hash: Hash,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    /// The process died without finishing the run (found by a later process).
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
        }
    }
}

/// The `RunUpdated` attribute holding JSON `DataRef`s a run consumed, added after it started
/// (an MLflow dataset input whose digest names a lab snapshot); the views add them to the
/// run's inputs.
pub const LAB_INPUTS_ATTR: &str = "lab_inputs";

/// Something a run consumed or produced, named by content hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    /// What it is to the run: `dataset`, `config`, `teacher`, `base`, `model`, a path…
    pub role: String,
    /// A human name: `timetables@3`, `configs/ocr_teacher.toml`, `ocr_lora@2`.
    pub name: String,
    pub hash: Hash,
}

/// One metric series' points within a `MetricsLogged` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricBatch {
    pub key: String,
    pub points: Vec<MetricPoint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub step: i64,
    pub value: f64,
    /// Unix time in milliseconds (MLflow's unit).
    pub time_ms: i64,
}

/// A model registry stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

/// The outcome of one deployment gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub name: String,
    pub metric: String,
    /// `>`, `<`, `>=`, `<=`.
    pub op: String,
    pub threshold: f64,
    pub value: Option<f64>,
    pub passed: bool,
}

/// One served inference, recorded in batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceRecord {
    pub request_id: String,
    pub model: String,
    pub version: u32,
    pub arm: Option<String>,
    pub time_ms: i64,
    pub latency_us: u64,
    pub features: BTreeMap<String, f64>,
    pub confidence: Option<f64>,
}

/// Ground truth sent back for a served inference (`POST /v1/feedback`), scored against what
/// the model answered for that request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub request_id: String,
    pub model: String,
    pub version: u32,
    pub arm: Option<String>,
    pub time_ms: i64,
    pub prediction: String,
    pub truth: String,
    /// The prediction equals the truth exactly.
    pub correct: bool,
}

/// The verdict of a replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReplayVerdict {
    Identical,
    Differs {
        max_abs_weight_diff: f64,
        metric_deltas: BTreeMap<String, f64>,
        likely_cause: String,
    },
    CannotReplay {
        reason: String,
    },
}

/// Every action lab records. Closed: one variant per action. Variants that consume or produce
/// data name it by content hash. Append new variants at the end only (the versioning rule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A directory tree was snapshotted; its manifest is a blob.
    DatasetSnapshotted {
        name: String,
        /// The version number within `name`: 1, 2, 3…
        version: u32,
        /// The snapshotted directory, relative to the project root where it is inside it.
        root: String,
        files: u64,
        bytes: u64,
        manifest: Hash,
    },
    RunStarted {
        run: RunId,
        name: String,
        experiment: String,
        /// The recipe (`train.ocr-teacher`) or `cmd` for an external command.
        recipe: String,
        params: BTreeMap<String, String>,
        inputs: Vec<DataRef>,
        seed: Option<u64>,
        /// The process running it, so that a dead one is found and marked killed.
        pid: u32,
        host: String,
        /// The process's start time (clock ticks since boot, from /proc), to tell a reused pid.
        pid_start: u64,
    },
    MetricsLogged {
        run: RunId,
        metrics: Vec<MetricBatch>,
    },
    ArtifactLogged {
        run: RunId,
        path: String,
        hash: Hash,
        size: u64,
    },
    RunFinished {
        run: RunId,
        status: RunStatus,
        outputs: Vec<DataRef>,
        error: Option<String>,
    },
    ModelRegistered {
        name: String,
        version: u32,
        /// The blob of the model's manifest (weights, config, vocabulary).
        model: Hash,
        run: Option<RunId>,
        description: String,
        meta: BTreeMap<String, String>,
    },
    ModelPromoted {
        name: String,
        version: u32,
        stage: Stage,
    },
    ModelAliased {
        name: String,
        version: u32,
        alias: String,
    },
    Evaluated {
        model: String,
        model_hash: Hash,
        dataset: Hash,
        metrics: BTreeMap<String, f64>,
        run: Option<RunId>,
    },
    DeploymentRequested {
        env: String,
        model: String,
        version: u32,
    },
    DeploymentValidated {
        env: String,
        model: String,
        version: u32,
        gates: Vec<GateResult>,
        passed: bool,
    },
    Deployed {
        env: String,
        model: String,
        version: u32,
    },
    RolledBack {
        env: String,
        model: String,
        from_version: u32,
        to_version: u32,
    },
    AbStarted {
        name: String,
        a: String,
        b: String,
        split: f64,
        metrics: Vec<String>,
        seed: u64,
    },
    AbConcluded {
        name: String,
        winner: Option<String>,
        promoted: bool,
    },
    InferencesRecorded {
        records: Vec<InferenceRecord>,
    },
    DriftChecked {
        model: String,
        metric: String,
        score: f64,
        threshold: f64,
        drifted: bool,
    },
    AlertRaised {
        rule: String,
        metric: String,
        value: f64,
        threshold: f64,
        condition: String,
    },
    AlertResolved {
        rule: String,
    },
    ReplayVerified {
        run: RunId,
        expected: Hash,
        actual: Option<Hash>,
        verdict: ReplayVerdict,
    },
    /// A commit was made in the project's repository (the post-commit hook).
    GitCommitted {
        commit: String,
        branch: Option<String>,
        /// Paths the commit changed against its first parent (all of them for a root commit).
        changed: Vec<String>,
    },
    /// Ground truth for served inferences, in batches (`POST /v1/feedback`).
    FeedbackRecorded {
        records: Vec<FeedbackRecord>,
    },
    /// An MLflow experiment's whole state after a change (`lab ui`): created, renamed,
    /// deleted / restored (`lifecycle` `active` or `deleted`), tagged.
    ExperimentSet {
        /// MLflow's experiment id: `0` (Default), `1`, `2`…
        id: String,
        name: String,
        lifecycle: String,
        artifact_location: String,
        tags: BTreeMap<String, String>,
        /// Unix time in milliseconds when it was created.
        created_ms: i64,
    },
    /// What MLflow records about a run beyond `RunStarted` / `RunFinished` (`lab ui`): params
    /// logged after the start, tags set or deleted, and MLflow attributes (`experiment_id`,
    /// `run_name`, `status`, `start_time`, `end_time`, `lifecycle_stage`, `user_id`).
    RunUpdated {
        run: RunId,
        params: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
        deleted_tags: Vec<String>,
        attrs: BTreeMap<String, String>,
    },
    /// An artifact of a run was deleted (`lab ui`, the `mlflow-artifacts` proxy); its blob stays.
    ArtifactDeleted {
        run: RunId,
        path: String,
    },
    /// An MLflow registered model's state after a change (`lab ui`): description and tags;
    /// `deleted` removes the name and all its versions (MLflow's hard delete).
    RegisteredModelSet {
        name: String,
        description: String,
        tags: BTreeMap<String, String>,
        created_ms: i64,
        deleted: bool,
    },
    /// MLflow fields of one model version after a change (`lab ui`): description, tags, source
    /// URI; `deleted` removes the version.
    ModelVersionSet {
        name: String,
        version: u32,
        description: String,
        tags: BTreeMap<String, String>,
        deleted: bool,
    },
    /// An alias was removed from a model.
    ModelUnaliased {
        name: String,
        alias: String,
    },
    /// A model stopped being served in an environment: another model of its task replaced it
    /// (`reason` names it) or a rollback went back past it.
    Undeployed {
        env: String,
        model: String,
        version: u32,
        reason: String,
    },
    /// An MLflow 3 logged model's whole state after a change (`lab ui`): created (`PENDING`),
    /// finalized (`READY` / `FAILED`), tagged, given params; `deleted` removes it. Its files
    /// are artifacts under `artifact_location`, like a run's.
    LoggedModelSet {
        /// `m-` and 32 hex digits.
        id: String,
        experiment_id: String,
        name: String,
        model_type: String,
        /// The run that logged it (may be empty).
        source_run: String,
        /// MLflow's `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY`, `LOGGED_MODEL_UPLOAD_FAILED`.
        status: String,
        artifact_location: String,
        tags: BTreeMap<String, String>,
        params: BTreeMap<String, String>,
        created_ms: i64,
        updated_ms: i64,
        deleted: bool,
    },
}

/// The kind names `lab log --kind` accepts, in enum order.
pub const KINDS: &[&str] = &[
    "dataset",
    "run-started",
    "metrics",
    "artifact",
    "run-finished",
    "model-registered",
    "model-promoted",
    "model-aliased",
    "evaluated",
    "deployment-requested",
    "deployment-validated",
    "deployed",
    "rolled-back",
    "ab-started",
    "ab-concluded",
    "inferences",
    "drift",
    "alert-raised",
    "alert-resolved",
    "replay",
    "commit",
    "feedback",
    "experiment",
    "run-updated",
    "artifact-deleted",
    "registered-model",
    "model-version",
    "model-unaliased",
    "undeployed",
    "logged-model",
];

impl Event {
    /// The short kind name (`dataset`, `run-started`, …), as `lab log --kind` takes it.
    pub fn kind(&self) -> &'static str {
        let i = match self {
            Event::DatasetSnapshotted { .. } => 0,
            Event::RunStarted { .. } => 1,
            Event::MetricsLogged { .. } => 2,
            Event::ArtifactLogged { .. } => 3,
            Event::RunFinished { .. } => 4,
            Event::ModelRegistered { .. } => 5,
            Event::ModelPromoted { .. } => 6,
            Event::ModelAliased { .. } => 7,
            Event::Evaluated { .. } => 8,
            Event::DeploymentRequested { .. } => 9,
            Event::DeploymentValidated { .. } => 10,
            Event::Deployed { .. } => 11,
            Event::RolledBack { .. } => 12,
            Event::AbStarted { .. } => 13,
            Event::AbConcluded { .. } => 14,
            Event::InferencesRecorded { .. } => 15,
            Event::DriftChecked { .. } => 16,
            Event::AlertRaised { .. } => 17,
            Event::AlertResolved { .. } => 18,
            Event::ReplayVerified { .. } => 19,
            Event::GitCommitted { .. } => 20,
            Event::FeedbackRecorded { .. } => 21,
            Event::ExperimentSet { .. } => 22,
            Event::RunUpdated { .. } => 23,
            Event::ArtifactDeleted { .. } => 24,
            Event::RegisteredModelSet { .. } => 25,
            Event::ModelVersionSet { .. } => 26,
            Event::ModelUnaliased { .. } => 27,
            Event::Undeployed { .. } => 28,
            Event::LoggedModelSet { .. } => 29,
        };
        KINDS[i]
    }

    /// The run this event belongs to, if any.
    pub fn run(&self) -> Option<&str> {
        match self {
            Event::RunStarted { run, .. }
            | Event::MetricsLogged { run, .. }
            | Event::ArtifactLogged { run, .. }
            | Event::RunFinished { run, .. }
            | Event::RunUpdated { run, .. }
            | Event::ArtifactDeleted { run, .. }
            | Event::ReplayVerified { run, .. } => Some(run),
            Event::ModelRegistered { run, .. } | Event::Evaluated { run, .. } => run.as_deref(),
            _ => None,
        }
    }

    /// Every blob this event references, for `lab verify`.
    pub fn blobs(&self) -> Vec<Hash> {
        match self {
            Event::DatasetSnapshotted { manifest, .. } => vec![*manifest],
            Event::RunStarted { inputs, .. } => inputs.iter().map(|d| d.hash).collect(),
            Event::ArtifactLogged { hash, .. } => vec![*hash],
            Event::RunFinished { outputs, .. } => outputs.iter().map(|d| d.hash).collect(),
            Event::ModelRegistered { model, .. } => vec![*model],
            _ => Vec::new(),
        }
    }
}

/// `2026-11-27 19:55:01` (UTC).
pub fn fmt_time(ns: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_cover_every_variant_once() {
        let mut seen = std::collections::BTreeSet::new();
        for k in KINDS {
            assert!(seen.insert(*k), "duplicate kind {k}");
        }
        assert_eq!(
            Event::AlertResolved { rule: "x".into() }.kind(),
            "alert-resolved"
        );
    }

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(506 * 1024 * 1024), "506.0 MiB");
    }
}
