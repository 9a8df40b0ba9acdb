//! The command line: clap derive structs. Doc comments are the `--help` text. No logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod models;
mod monitor;
mod train;
pub use models::{DeployArgs, DeployCmd, ModelsCmd};
pub use monitor::MonitorCmd;
mod serve;
pub use serve::{AbCmd, ServeArgs, UiArgs};
mod bench;
mod data;
pub use data::{DataCmd, ImportKind, SynthDomain};
mod runs;
pub use bench::BenchCmd;
pub use runs::{ArtifactsCmd, LogArgs, ReportArgs, RunArgs, RunsCmd};
mod mlflow;
pub use mlflow::{ExportCmd, ImportCmd};
pub use train::{
    CommonTrain, CompareArgs, EvalArgs, EvalExtractArgs, EvalOn, ExtractArgs, LoraArgs, OcrArgs,
    SweepArgs, TrainCmd,
};

const HELP_TEMPLATE: &str = "\
{about-with-newline}
{usage-heading} {usage}

Start a project:
  init          Create lab.toml, the folders and .lab/ (idempotent)
  pipeline      Run the stages of lab.toml (by default the whole flow), skipping cached ones

Data:
  data          Render the default dataset; snapshot, list, diff, check out versions

Train and evaluate:
  train         Train a recipe: ocr-teacher, ocr-distill, ocr-lora, doc-base, doc-lora
  sweep         Grid or seeded random search over a recipe config; picks the best trial
  eval          Score a model on a snapshot's split (OCR: accuracy, CER; doc: field F1)
  compare       Score several models (and tesseract, if installed) in one table
  ocr           Read line images with a model
  extract       Timetable images in, entries {day, start, end, subject, room, teacher} out
  eval-extract  Score extraction end to end: entry and per-field F1, latency per image

Registry and deployment:
  models        Register versions, list, show lineage, promote to a stage, alias, export
  deploy        Deploy a version behind validation gates; status, history, rollback
  monitor       Input drift (PSI, KS), alert rules and alerts; track offline batches
  ci            Write a CI workflow: pipeline, verify, deploy --dry-run, reports kept

Serving:
  serve         Serve the deployed models over HTTP (OCR, extraction, feedback, metrics)
  ab            A/B tests on the server: start, ls, results (statistics), stop
  ui            The MLflow tracking + registry REST API over the log, and a live web UI

Runs and metrics:
  run           Run an external command as a tracked run (-- CMD ARGS)
  runs          List runs, show one, diff two (params, metrics, inputs, outputs)
  metrics       Print one metric's full series of a run
  artifacts     List a run's artifacts and outputs; write one back, hash checked
  report        Write an HTML + PNG report: runs, training curves, model comparisons
  import        Import experiments, runs and models from MLflow (a server or an mlruns folder)
  export        Push runs, metrics, artifacts and models to an MLflow server

The log:
  log           List events (filter by kind, time, run)
  show          Print one event in full
  verify        Check the hash chain and every blob the log references
  replay        Rebuild a model from the log alone and check it bit for bit
  hooks         Install git hooks: record commits, verify before a push
  watch         Rerun what a change under datasets/ or configs/ affects
  reindex       Rebuild the views from the log
  gc            Remove the blobs nothing refers to and old epoch checkpoints

Tools:
  bench         Measure lab's speed against baselines in the same run
  completions   Print shell completions (bash, zsh, fish)
  help          Print this message or the help of a verb

Options:
{options}

Run `lab VERB --help` for a verb's options and an example.
Exit codes: 0 success; 1 failure (the message says what and where; `lab verify` found damage);
2 bad command line.
";

/// lab — an offline-first, event-sourced ML lab: datasets, runs, models and deployments,
/// every action recorded in a hash-chained log.
#[derive(Debug, Parser)]
#[command(name = "lab", version, help_template = HELP_TEMPLATE, max_term_width = 100)]
pub struct Cli {
    /// Print machine-readable JSON instead of text (listing verbs print one object per line).
    #[arg(long, global = true)]
    pub json: bool,

    /// Run as if lab was started in DIR.
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a lab project: lab.toml (every key documented), datasets/, configs/, reports/, .lab/
    ///
    /// Running it again changes nothing. Outside a git repository it says what replay needs
    /// (--git creates one). Example:
    ///
    ///   lab init my-project --git && cd my-project
    #[command(verbatim_doc_comment)]
    Init {
        /// The directory to make a project of (created if missing).
        #[arg(default_value = ".", value_name = "DIR")]
        path: PathBuf,
        /// Also create a git repository there when it is not inside one (what `lab replay`
        /// needs: a run is rebuilt at the commit it was made from).
        #[arg(long)]
        git: bool,
    },
    /// Run the stages of lab.toml (by default the whole flow on the embedded default)
    ///
    /// The stages ([[stages]] in lab.toml; `lab init` writes the default ones) run in
    /// dependency order: render the default and shifted timetables, snapshot them, train the
    /// OCR teacher, distil the student, adapt with LoRA, train the document model and its LoRA,
    /// evaluate each, extract end to end, write the report, verify the log. A stage whose
    /// inputs (dataset snapshot, config, effective settings, parent models, lab's version; a
    /// command and its deps) match an earlier finished run is skipped and that run's outputs
    /// reused, saying which. Init if needed. Examples:
    ///
    ///   cargo run --release -- pipeline
    ///
    ///   lab pipeline --plan                  (what would run, and why)
    ///
    ///   lab pipeline --force ocr_student     (rerun one stage; --force alone reruns all)
    ///
    ///   lab pipeline eval_student            (that stage and the ones it needs)
    #[command(verbatim_doc_comment)]
    Pipeline(PipelineArgs),
    #[command(subcommand)]
    Data(DataCmd),
    /// Run an external command (any language) as a tracked run
    ///
    /// The command sees LAB_RUN_ID and LAB_METRICS, a file it may append JSON lines to,
    /// ingested into the log while it runs. lab exits with the command's exit code. Example:
    ///
    ///   lab run --name prep --param lr=0.1 --dep data/raw --out data/clean -- python prep.py
    ///
    /// where prep.py reports a metric with
    ///
    ///   open(os.environ["LAB_METRICS"], "a").write('{"key":"loss","value":0.3,"step":7}\n')
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
    #[command(subcommand)]
    Runs(RunsCmd),
    /// Read back what a run stored: epoch checkpoints, output tails, captured files and folders
    ///
    /// Examples:
    ///
    ///   lab artifacts ls prep
    ///   lab artifacts get prep data/clean /tmp/clean
    #[command(subcommand, verbatim_doc_comment)]
    Artifacts(ArtifactsCmd),
    /// Print the full series of one metric of a run, ordered by step
    ///
    /// Example:
    ///
    ///   lab metrics 3f2a train_loss --json
    #[command(verbatim_doc_comment)]
    Metrics {
        /// Run id, id prefix (≥ 4 characters) or run name.
        run: String,
        /// Metric key.
        key: String,
    },
    /// Write an HTML report with PNG charts into the reports folder (lab.toml [paths] reports)
    ///
    /// reports/index.html lists the runs, compares the models evaluated on the same snapshot
    /// and split (bar charts with values) and lists replay verdicts; reports/runs/RUN.html
    /// shows one run: params, inputs and outputs, metrics and its training curves. The pages
    /// work offline from the file system. Given RUN or MODEL, only that run's page is written
    /// and the index covers that run alone. Examples:
    ///
    ///   lab report                       (everything; same as --all)
    ///
    ///   lab report ocr_teacher@1         (the run that made a model)
    ///
    ///   lab report 3f2a --json           (one run, by id prefix or name)
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// List events of the log, newest first
    ///
    /// Examples:
    ///
    ///   lab log --kind dataset --limit 5
    ///
    ///   lab log --since 2h --json | jq .body
    #[command(verbatim_doc_comment)]
    Log(LogArgs),
    /// Print one event in full: envelope (time, actor, git state, hashes) and body
    ///
    /// Example:
    ///
    ///   lab show 12        (or a hash prefix: lab show 3fa9c2)
    #[command(verbatim_doc_comment)]
    Show {
        /// Sequence number (`12` or `#12`) or hash prefix (≥ 4 hex digits).
        what: String,
    },
    /// Check the whole hash chain and re-hash every blob the log references
    ///
    /// Exits 1 and names the first bad event or blob when anything was altered. Example:
    ///
    ///   lab verify
    #[command(verbatim_doc_comment)]
    Verify,
    /// Remove the blobs nothing refers to and old epoch checkpoints of finished training runs
    ///
    /// A blob is kept when the log names it, or a kept manifest or model bundle does; blobs
    /// younger than --grace are kept too (a running command writes its blobs before the event
    /// that names them). Of each finished training run, the newest --keep-checkpoints epoch
    /// checkpoints are kept (lab.toml [gc] keep_checkpoints, default 1) and the older ones
    /// dropped (recorded as deleted artifacts). lab replay needs none of them (it retrains
    /// from the recorded inputs); --resume needs only those of killed or failed runs, which
    /// are never dropped. Examples:
    ///
    ///   lab gc --dry-run                     (what would go, and what replay and --resume lose)
    ///
    ///   lab gc --keep-checkpoints 0 --grace 0
    #[command(verbatim_doc_comment)]
    Gc {
        /// Only say what would be removed; remove and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Minutes an unreferenced blob is kept after it was written.
        #[arg(long, value_name = "MINUTES", default_value_t = 60)]
        grace: u64,
        /// Epoch checkpoints kept of each finished training run, the newest ones (default:
        /// lab.toml's [gc] keep_checkpoints, else 1).
        #[arg(long, value_name = "N")]
        keep_checkpoints: Option<u32>,
    },
    /// Drop every view (runs, metrics, datasets…) and rebuild it from the log
    ///
    /// Views are caches of the log; this is always safe. Example:
    ///
    ///   lab reindex
    #[command(verbatim_doc_comment)]
    Reindex,
    #[command(subcommand)]
    Train(TrainCmd),
    Sweep(SweepArgs),
    Eval(EvalArgs),
    Compare(CompareArgs),
    Ocr(OcrArgs),
    Extract(ExtractArgs),
    EvalExtract(EvalExtractArgs),
    #[command(subcommand)]
    Models(ModelsCmd),
    Deploy(DeployArgs),
    #[command(subcommand)]
    Monitor(MonitorCmd),
    Serve(ServeArgs),
    #[command(subcommand)]
    Ab(AbCmd),
    Ui(UiArgs),
    #[command(subcommand)]
    Import(ImportCmd),
    #[command(subcommand)]
    Export(ExportCmd),
    /// Rebuild a recorded training run from the log alone and check it bit for bit
    ///
    /// Restores the dataset snapshot, effective settings and parent model from blobs, trains
    /// again with the recorded seed and compares the output model's hash. Verdicts: identical;
    /// differs (largest weight difference, metric deltas, likely cause); cannot replay (which
    /// blob is missing or damaged). Each verdict is a ReplayVerified event; exit 1 unless every
    /// replay is identical. Examples:
    ///
    ///   lab replay ocr_student@1
    ///
    ///   lab replay --all --plan
    #[command(verbatim_doc_comment)]
    Replay {
        /// A run (id, id prefix, name) or a model (NAME@N, NAME, hash prefix).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        what: Option<String>,
        /// Every finished run, oldest first.
        #[arg(long)]
        all: bool,
        /// Print what would run and from which inputs, without running.
        #[arg(long)]
        plan: bool,
    },
    #[command(subcommand)]
    Hooks(HooksCmd),
    #[command(subcommand)]
    Ci(CiCmd),
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Watch datasets/ and configs/ and keep the models up to date (Ctrl-C stops)
    ///
    /// On a change (debounced 500 ms) it runs one pipeline pass: snapshot, rerun only the
    /// stages whose inputs changed (the stage cache decides), evaluate, compare the new models
    /// with the versions in production, write the report. One pass at a time; a change during
    /// a pass queues one more; a failed pass is reported and watching goes on. Ctrl-C stops
    /// cleanly: a run it interrupts is marked killed. It runs beside `lab serve` and other
    /// commands. Example:
    ///
    ///   lab watch
    #[command(verbatim_doc_comment)]
    Watch,
    /// Print a shell completion script
    ///
    /// Example:
    ///
    ///   lab completions bash > ~/.local/share/bash-completion/completions/lab
    #[command(verbatim_doc_comment)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Seed of the generated default dataset (default: lab.toml's project.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Rerun stages even when an earlier run had the same inputs: every stage, or the one
    /// named (repeat for several).
    #[arg(long, value_name = "STAGE", num_args = 0..=1, default_missing_value = "")]
    pub force: Vec<String>,
    /// Print the stages in order, which are cached and why, and what would run; run nothing.
    #[arg(long)]
    pub plan: bool,
    /// Run only these stages and the ones they need.
    pub stages: Vec<String>,
}

/// CI: write a workflow that runs the pipeline, verifies the log and checks the gates
///
/// Example:
///
///   lab ci init github
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum CiCmd {
    /// Write .github/workflows/lab.yml: on a push that changes configs/ or datasets/, build
    /// lab, run the pipeline, verify the log, check production against the gates, keep reports/
    ///
    /// The workflow (GitHub Actions) runs on pushes touching the configs and datasets folders
    /// of lab.toml [paths] (and lab.toml itself): it builds lab (cargo build --release when the
    /// repository is lab's own source, else cargo install --git URL from --lab-git), then
    /// `lab pipeline`, `lab verify`, `lab deploy --dry-run --env production` (what production
    /// serves against configs/deploy.toml; nothing is deployed) and uploads the reports folder
    /// as an artifact (actions/upload-artifact), also when a step failed. It is written at the
    /// root of the git repository holding the project; an existing file is kept unless
    /// --force. Examples:
    ///
    ///   lab ci init github
    ///
    ///   lab ci init github --lab-git https://example.com/you/lab.git --force
    #[command(verbatim_doc_comment)]
    Init {
        /// The CI service (github: GitHub Actions).
        provider: CiProvider,
        /// Overwrite an existing workflow file.
        #[arg(long)]
        force: bool,
        /// Where CI installs lab from (`cargo install --locked --git URL lab`); needed unless the
        /// repository is lab's own source tree.
        #[arg(long, value_name = "URL")]
        lab_git: Option<String>,
    },
}

/// The CI services `lab ci init` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CiProvider {
    Github,
}

/// Git hooks: post-commit records each commit in the log, pre-push runs `lab verify`
///
/// Hooks already there keep running (first); uninstall puts them back. Example:
///
///   lab hooks install
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum HooksCmd {
    /// Install the post-commit and pre-push hooks
    ///
    /// Example:
    ///
    ///   lab hooks install
    #[command(verbatim_doc_comment)]
    Install,
    /// Remove lab's hooks and restore the ones they replaced
    ///
    /// Example:
    ///
    ///   lab hooks uninstall
    #[command(verbatim_doc_comment)]
    Uninstall,
    /// Run a hook's work now (what the installed scripts call)
    ///
    /// Example:
    ///
    ///   lab hooks run post-commit
    #[command(verbatim_doc_comment)]
    Run {
        /// post-commit or pre-push.
        hook: String,
        /// What git passes the hook (ignored).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The grouped listing of `lab --help` is written by hand: it must name every verb, and
    /// every verb's long help must carry an example.
    #[test]
    fn help_lists_every_verb_and_every_verb_has_an_example() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in c.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                if sub.has_subcommands() {
                    walk(sub, &p, missing);
                } else {
                    let long = sub
                        .get_long_about()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    if !long.contains("Example") {
                        missing.push(p);
                    }
                }
            }
        }
        let mut missing = Vec::new();
        walk(&cmd, "lab", &mut missing);
        assert!(missing.is_empty(), "verbs without an example: {missing:?}");
        for sub in cmd.get_subcommands() {
            let line = format!("\n  {:<14}", sub.get_name());
            assert!(
                HELP_TEMPLATE.contains(&line),
                "lab --help does not list `{}`",
                sub.get_name()
            );
        }
    }
}
