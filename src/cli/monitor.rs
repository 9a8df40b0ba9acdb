//! `lab monitor`: clap structs only.

use std::path::PathBuf;

use clap::Subcommand;

/// Monitoring: input drift (PSI, KS), alert rules, alerts; offline batches recorded like
/// served requests
///
/// Served inferences (`lab serve`) and tracked batches (`lab monitor track`) are recorded with
/// their input features, latency and confidence; ground truth sent back gives accuracy. Rules
/// in configs/monitoring.toml (accuracy_drop, latency_increase, drift_detected) are checked
/// over their windows; an alert is raised once when a rule starts firing and resolved once when
/// it stops. LAB_MONITOR_NOW (ms since the epoch or an RFC 3339 time) sets the time these verbs
/// take as now: for tests and for recording a batch as of another time. Example:
///
///   lab monitor track datasets/timetables_shifted/lines/test && lab monitor alerts
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum MonitorCmd {
    /// Read line images with an OCR model like served requests, record them, run the check
    ///
    /// Each image is decoded, its input features (width, height, aspect, brightness, contrast,
    /// ink) taken, read by the model and timed; the confidence is the mean top probability of
    /// the characters read. Recorded as InferencesRecorded (as `lab serve` records them), then
    /// `lab monitor check` runs. Exit 1 when an image could not be read. Example:
    ///
    ///   lab monitor track datasets/timetables/lines/test --env production
    #[command(verbatim_doc_comment)]
    Track {
        /// Line images (PNG, JPEG) or directories of them.
        #[arg(required = true, value_name = "IMAGE|DIR")]
        inputs: Vec<PathBuf>,
        /// The OCR model (NAME@N, NAME@production…; default: the one deployed in --env).
        #[arg(long, value_name = "REF")]
        model: Option<String>,
        /// The environment whose deployed OCR model reads the images.
        #[arg(long, default_value = "production", conflicts_with = "model")]
        env: String,
    },
    /// Compare the inputs recorded in a window with a reference snapshot: PSI and KS per feature
    ///
    /// Per model (OCR models against the snapshot's line crops, document models against its
    /// timetable images) and feature: PSI over the reference's deciles (< 0.1 none, 0.1–0.2
    /// moderate, > 0.2 significant) and the two-sample Kolmogorov–Smirnov statistic and p-value
    /// (differs when p < 0.05). Each is recorded as a DriftChecked event; the verdict is drift
    /// when the largest PSI is above the drift rule's threshold (0.1). Example:
    ///
    ///   lab monitor drift --reference timetables@1 --model ocr_prod --window 1h
    #[command(verbatim_doc_comment)]
    Drift {
        /// The reference snapshot: NAME (latest), NAME@N or a manifest hash prefix (default:
        /// [drift] reference in configs/monitoring.toml).
        #[arg(long, value_name = "SNAPSHOT")]
        reference: Option<String>,
        /// Only this model's inferences (NAME or NAME@N).
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
        /// How far back from now: 30s, 15m, 1h, 2days…
        #[arg(long, default_value = "1h")]
        window: String,
    },
    /// Evaluate every rule of configs/monitoring.toml over its window; raise and resolve alerts
    ///
    /// Prints each rule's value, samples and state. A rule firing with enough samples raises
    /// its alert (once) and runs its on_alert command; a rule back within its threshold
    /// resolves it. Exit status: 0 when no rule fires, 3 while a rule fires (so CI can gate
    /// on it), 1 when a rule could not be evaluated or a hook failed. Example:
    ///
    ///   lab monitor check --json
    #[command(verbatim_doc_comment)]
    Check,
    /// List open alerts (with --all, resolved ones too), newest first
    ///
    /// Example:
    ///
    ///   lab monitor alerts --all --json
    #[command(verbatim_doc_comment)]
    Alerts {
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
    },
}
