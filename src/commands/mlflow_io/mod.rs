//! Moving between lab and MLflow: `lab import mlflow --from URI` reads a running MLflow server
//! (REST) or a local `mlruns` file store and records its experiments, runs (metrics with steps
//! and timestamps, params, tags, status, times, artifacts) and registered models as the same
//! events `lab ui` writes when the official client logs them (through `crate::tracking`);
//! `lab export mlflow --to URI` pushes lab's runs and registered models to an MLflow server.
//! Both are idempotent: an imported run keeps its MLflow id, an exported one carries the tag
//! `lab.run_id`, a version the tag `lab.source_version` / `lab.version`.
//!
//! - `rest`: the HTTP client and the server as a `Source`
//! - `mlruns`: the file store as a `Source`
//! - `import`: `Source` → events, per run in one append
//! - `export`: lab's MLflow picture → a server, in MLflow's batch limits

mod export;
mod import;
mod mlruns;
mod rest;

pub use export::{ExportOut, export};
pub use import::{ImportOut, import};
