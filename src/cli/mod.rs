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
pub use bench::BenchCmd;
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

/// Datasets: render the embedded default; snapshot, list, diff, check out versions
///
/// Versions count up per dataset name and are never overwritten. Example:
///
///   lab data synth && lab data snapshot datasets/timetables && lab data ls
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum DataCmd {
    /// Render the embedded default dataset from a seed: timetable images with ground truth
    /// and line crops for OCR, split into train / val / test (+ test_heldout)
    ///
    /// Images (PNG, some JPEG) of ruled timetable grids in varied sizes, fonts, colours, noise,
    /// blur and small rotations; beside each, JSON with the entries and the pixel box of every
    /// cell and text line; and 40 free text lines per timetable (words, names, codes, times,
    /// dates, numbers, random strings over the OCR alphabet, in 44 training faces, many sizes,
    /// polarities and degradations). Layout:
    ///
    ///   DIR/meta.json                      seed, count, domain, fonts per role, splits
    ///   DIR/images/tt_NNNN.png|jpg|json    timetable image and its ground truth
    ///   DIR/lines/SPLIT/tt_NNNN_rRR_cCC_lL.png, DIR/lines/SPLIT.jsonl   line crops, texts
    ///   DIR/lines/SPLIT/tt_NNNN_tKK.png    free text lines (field: time, name, words, …)
    ///
    /// The same seed gives byte-identical files, and files already right are not rewritten,
    /// so a following snapshot records nothing. test_heldout is drawn with 13 held-out faces
    /// (11 families never in training), held-out words and names, and its free lines by a
    /// second rasteriser (fontdue); --domain shifted (other fonts, heavier noise and blur)
    /// writes datasets/NAME_shifted. A non-empty DIR that synth did not make is refused.
    /// Example:
    ///
    ///   lab data synth timetables --seed 7 --count 50 && lab data snapshot datasets/timetables
    #[command(verbatim_doc_comment)]
    Synth {
        /// The dataset name (default: lab.toml's data.default); written to datasets/NAME.
        name: Option<String>,
        /// The seed (default: lab.toml's project.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// How many timetables.
        #[arg(long, default_value_t = crate::commands::pipeline::DEFAULT_COUNT,
              value_parser = clap::value_parser!(u32).range(1..=crate::commands::synth::MAX_COUNT as i64))]
        count: u32,
        /// Free text lines drawn beside each timetable (0 = only the timetables' own lines).
        #[arg(long, default_value_t = crate::commands::synth::TEXT_LINES,
              value_parser = clap::value_parser!(u32).range(0..=1000))]
        text_lines: u32,
        /// default: training fonts (and held-out ones for test_heldout); shifted: other fonts,
        /// heavier degradations, for adaptation.
        #[arg(long, value_enum, default_value_t = SynthDomain::Default)]
        domain: SynthDomain,
        /// Write here instead of datasets/NAME (datasets/NAME_shifted for --domain shifted).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Snapshot a directory tree: every file's bytes into the blob store, a manifest, an event
    ///
    /// Files are hashed in parallel; unchanged files (same size, mtime, ctime, inode) are not
    /// read again, and an unchanged tree records nothing. Example:
    ///
    ///   lab data snapshot datasets/timetables --name timetables
    #[command(verbatim_doc_comment)]
    Snapshot {
        /// The directory to snapshot.
        path: PathBuf,
        /// The dataset name (default: the directory's name). Versions count up per name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List snapshots (all, or the versions of one dataset)
    ///
    /// Example:
    ///
    ///   lab data ls timetables --json
    #[command(verbatim_doc_comment)]
    Ls {
        /// Only this dataset's versions.
        name: Option<String>,
    },
    /// Show what changed between two snapshots: added, removed, modified files
    ///
    /// Snapshots are named NAME@N, NAME@latest, NAME (= latest) or a manifest hash prefix.
    /// Example:
    ///
    ///   lab data diff timetables@1 timetables@latest
    #[command(verbatim_doc_comment)]
    Diff {
        /// The older snapshot (NAME@N, NAME@latest, NAME or a manifest hash prefix).
        a: String,
        /// The newer snapshot.
        b: String,
    },
    /// Restore a snapshot's exact bytes into a new or empty directory
    ///
    /// Every file's hash is checked while it is written. Example:
    ///
    ///   lab data checkout timetables@2 /tmp/timetables-v2
    #[command(verbatim_doc_comment)]
    Checkout {
        /// The snapshot: NAME@N, NAME@latest, NAME or a manifest hash prefix.
        snapshot: String,
        /// The directory to restore into (created if missing; must be empty).
        #[arg(value_name = "DIR")]
        target: PathBuf,
    },
    /// Import your own labelled images as a dataset, then snapshot it
    ///
    /// lines: DIR/labels.jsonl has one {"image": "a.png", "text": "…"} per line (what
    /// `lab ocr --json` writes; an optional "split": train|val|test|test_heldout). Every label
    /// is checked first — the image exists and is a PNG or JPEG of a sensible size, the text is
    /// not empty and uses only the OCR alphabet — and one bad label, named with its line
    /// number, means nothing is imported. Unsplit lines go 80/10/10 to train/val/test by a
    /// hash of their name. Writes datasets/NAME and snapshots it as NAME, ready for
    /// `lab train ocr-lora --dataset NAME` and `lab eval MODEL --dataset NAME`. Example:
    ///
    ///   lab data import lines scans/mylines --name mylines
    #[command(verbatim_doc_comment)]
    Import {
        /// What the folder holds (lines: text-line images with their texts).
        kind: ImportKind,
        /// The folder with labels.jsonl and the images. (Not named `dir`: that is the global
        /// `-C DIR`, and clap would merge the two.)
        #[arg(value_name = "DIR")]
        folder: PathBuf,
        /// The dataset name (default: the folder's name); written to datasets/NAME.
        #[arg(long)]
        name: Option<String>,
    },
}

/// What `lab data import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    Lines,
}

/// The look of synthesised timetables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynthDomain {
    Default,
    Shifted,
}

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
