//! `lab run`, `lab runs`, `lab artifacts`, `lab report`, `lab log`: runs and what they left.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run's name (default: the program's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The experiment (default: lab.toml's project.experiment).
    #[arg(long)]
    pub experiment: Option<String>,
    /// A parameter to record, KEY=VALUE (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// A file or directory the command reads: stored and recorded as an input (repeatable).
    #[arg(long = "dep", value_name = "PATH")]
    pub deps: Vec<PathBuf>,
    /// A file or directory the command writes: stored and recorded as an output when it
    /// succeeds; missing, the run fails (repeatable).
    #[arg(long = "out", value_name = "PATH")]
    pub outs: Vec<PathBuf>,
    /// An environment variable the command reads: its value is stored and recorded as an input
    /// (`env:NAME`), and `lab replay` sets it again (repeatable; unset is an error).
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

/// Runs: list and show
///
/// A run is started with `lab run` (or a training verb). Example:
///
///   lab runs ls --json
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum RunsCmd {
    /// List runs, newest first (a run whose process died shows as killed)
    ///
    /// Example:
    ///
    ///   lab runs ls --experiment timetable-extraction
    ///   lab runs ls --filter "metrics.val_accuracy > 0.8" --sort "metrics.val_accuracy DESC"
    ///   lab runs ls --columns name,status,params.train.learning_rate,metrics.val_accuracy
    #[command(verbatim_doc_comment)]
    Ls {
        /// Only runs of this experiment.
        #[arg(long)]
        experiment: Option<String>,
        /// Only runs that match, in MLflow's search syntax (the one `lab ui` takes):
        /// `metrics.val_accuracy > 0.9 and params.train.epochs = '4' and attributes.status = 'FINISHED'`.
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Order by one clause: `metrics.val_loss ASC`, `attributes.start_time DESC`.
        #[arg(long, value_name = "CLAUSE")]
        sort: Option<String>,
        /// Show these columns, in this order (text and --json): keys as --filter writes them,
        /// comma-separated — `params.KEY`, `metrics.KEY`, `tags.KEY` and the attributes id,
        /// name, experiment, recipe, status, start_time, end_time, duration.
        #[arg(long, value_name = "KEYS")]
        columns: Option<String>,
    },
    /// Show one run: params, latest metrics, inputs, outputs, status, duration, git state
    ///
    /// Example:
    ///
    ///   lab runs show 3f2a
    #[command(verbatim_doc_comment)]
    Show {
        /// Run id, id prefix (≥ 4 characters) or run name.
        run: String,
    },
    /// Two runs side by side: params that differ, inputs that differ, git, every last metric
    ///
    /// Example:
    ///
    ///   lab runs diff 3f2a 9c1e
    #[command(verbatim_doc_comment)]
    Diff {
        /// The first run: id, id prefix (≥ 4 characters) or a name one run carries.
        a: String,
        /// The second run.
        b: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArtifactsCmd {
    /// List a run's artifacts and outputs (kind, name, size, hash)
    ///
    /// Example:
    ///
    ///   lab artifacts ls ocr_teacher
    #[command(verbatim_doc_comment)]
    Ls {
        /// Run id, id prefix (≥ 4 characters) or a name one run carries.
        run: String,
    },
    /// Write one artifact or output to DEST (a file, or a folder restored whole), hash checked
    ///
    /// Example:
    ///
    ///   lab artifacts get ocr_teacher checkpoint/epoch-1.safetensors /tmp/epoch-1.safetensors
    #[command(verbatim_doc_comment)]
    Get {
        /// Run id, id prefix (≥ 4 characters) or a name one run carries.
        run: String,
        /// The artifact's name as `lab artifacts ls` shows it.
        name: String,
        /// Where to write it (default: its file name here); never overwritten.
        dest: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this run (id, id prefix ≥ 4 characters, or name) or the run that made this model
    /// (NAME@N, NAME); default: everything.
    #[arg(value_name = "RUN|MODEL", conflicts_with = "all")]
    pub what: Option<String>,
    /// Report on every run and every evaluation (the default).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only these kinds (comma-separated or repeated): dataset, run-started, metrics, …
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<String>,
    /// Only events since a time (2026-11-27T10:00:00Z), a date (2026-11-27) or an age (2h).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events of this run (id or id prefix).
    #[arg(long)]
    pub run: Option<String>,
    /// At most N events (the newest).
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
}
