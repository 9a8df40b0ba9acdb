//! `lab import mlflow` and `lab export mlflow`.

use clap::{Args, Subcommand};

/// Bring runs and models into lab from another tool
///
/// Example:
///
///   lab import mlflow --from http://127.0.0.1:5000
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum ImportCmd {
    /// Import experiments, runs and registered models from MLflow (a server or an mlruns folder)
    ///
    /// Reads a running MLflow tracking server over its REST API (plain http: a loopback or LAN
    /// address) or a local `mlruns` file store, and records each run (params, tags, every
    /// metric point with its step and timestamp, status, start and end times, artifacts as
    /// blobs) in one append, as the same events `lab ui` writes when the MLflow client logs.
    /// Runs keep their MLflow ids; registered models, versions, stages and aliases come too.
    /// Importing again adds nothing. A `sqlite:///mlflow.db` store is served first
    /// (`mlflow server --backend-store-uri sqlite:///mlflow.db`) and imported over REST.
    /// Examples:
    ///
    ///   lab import mlflow --from http://127.0.0.1:5000
    ///
    ///   lab import mlflow --from ./mlruns --experiment ocr --json
    #[command(verbatim_doc_comment)]
    Mlflow(ImportMlflowArgs),
}

#[derive(Debug, Args)]
pub struct ImportMlflowArgs {
    /// http://HOST:PORT of an MLflow server, or an mlruns directory (a path or file:///path).
    #[arg(long, value_name = "URI")]
    pub from: String,
    /// Only this experiment (by name; repeat for several). Default: every active one.
    #[arg(long, value_name = "NAME")]
    pub experiment: Vec<String>,
}

/// Push runs and models from lab to another tool
///
/// Example:
///
///   lab export mlflow --to http://127.0.0.1:5000
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum ExportCmd {
    /// Push lab's runs, metrics, artifacts and registered models to an MLflow tracking server
    ///
    /// Creates the experiments and runs on the server and sends params, tags, every metric
    /// point (log-batch, in MLflow's limits of 1000 metrics / 100 params / 100 tags per call),
    /// artifacts (through the server's mlflow-artifacts proxy) and the registered versions of
    /// exported runs with their stages and aliases. Plain http only (a loopback or LAN
    /// address; tunnel a TLS server to a local port). Each exported run is tagged `lab.run_id`
    /// and, when complete, `lab.exported=complete`: exporting again skips it, and a run an
    /// interrupted export left incomplete is sent again whole. Example:
    ///
    ///   lab export mlflow --to http://mlflow.lan:5000 --experiment ocr
    #[command(verbatim_doc_comment)]
    Mlflow(ExportMlflowArgs),
}

#[derive(Debug, Args)]
pub struct ExportMlflowArgs {
    /// http://HOST:PORT of the MLflow tracking server.
    #[arg(long, value_name = "URI")]
    pub to: String,
    /// Only this experiment (by name; repeat for several). Default: every one.
    #[arg(long, value_name = "NAME")]
    pub experiment: Vec<String>,
}
