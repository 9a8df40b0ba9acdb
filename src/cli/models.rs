//! `lab models` (the registry) and `lab deploy` (gated deployment): clap structs only.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// The model registry: versions per name, stages, aliases, export
///
/// A training output NAME@N is version N of NAME; `register` adds versions (of any bundle,
/// under any name). Everywhere a model is named, NAME@N, NAME@production, NAME@staging,
/// NAME@archived and NAME@ALIAS resolve through the registry. Example:
///
///   lab models register ocr_lora@1 --name ocr_prod && lab models promote ocr_prod 1 --to production
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum ModelsCmd {
    /// Register a model as the next version of NAME
    ///
    /// WHAT is a training run (id, id prefix or name: its model output), a model reference
    /// (NAME@N, NAME@production, a bundle hash prefix) or the full hash of a bundle in the
    /// blob store. Example:
    ///
    ///   lab models register ocr_teacher@2 --name ocr_prod --description "first cut" --meta owner=me
    #[command(verbatim_doc_comment)]
    Register {
        /// RUN | MODEL_HASH | NAME@N.
        #[arg(value_name = "RUN|MODEL_HASH|NAME@N")]
        what: String,
        /// The registered name (letters, digits, `_`, `-`, `.`).
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// KEY=VALUE to record with the version (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
    },
    /// List model versions (all, or one name's): stage, aliases, source, bundle, run
    ///
    /// Example:
    ///
    ///   lab models ls ocr_prod --json
    #[command(verbatim_doc_comment)]
    Ls {
        /// Only this name's versions.
        name: Option<String>,
    },
    /// Show one version: run, dataset, run metrics, evaluations of its bundle, lineage
    ///
    /// Example:
    ///
    ///   lab models show ocr_prod@production
    #[command(verbatim_doc_comment)]
    Show {
        /// NAME@N, NAME@STAGE, NAME@ALIAS, NAME (newest) or a hash prefix.
        model: String,
    },
    /// Move a version to a stage: none, staging, production, archived
    ///
    /// Promoting to production archives the name's previous production version. Example:
    ///
    ///   lab models promote ocr_prod 3 --to production
    #[command(verbatim_doc_comment)]
    Promote {
        name: String,
        version: String,
        /// none, staging, production or archived.
        #[arg(long)]
        to: String,
    },
    /// Point a free alias (champion, candidate…) at a version; moves it from another version
    ///
    /// Then NAME@ALIAS names that version everywhere. Example:
    ///
    ///   lab models alias doc_base 2 champion && lab extract --model doc_base@champion tt.png
    #[command(verbatim_doc_comment)]
    Alias {
        name: String,
        version: String,
        alias: String,
    },
    /// Write a version's files in the Hugging Face layout into DIR
    ///
    /// config.json, model.safetensors and vocab.json (OCR) or tokenizer.json (document model);
    /// a LoRA adapter writes adapter_config.json + adapter.safetensors and its base's files in
    /// DIR/base/. Written to a temp directory, then renamed into place. Example:
    ///
    ///   lab models export ocr_prod@production /tmp/ocr
    #[command(verbatim_doc_comment)]
    Export {
        /// NAME@N, NAME@STAGE, NAME@ALIAS, NAME or a hash prefix.
        model: String,
        /// The directory to write (created; must be new or empty unless --force).
        #[arg(value_name = "DIR")]
        target: PathBuf,
        /// Replace a non-empty DIR.
        #[arg(long)]
        force: bool,
    },
}

/// Deploy a model version behind the gates of configs/deploy.toml
///
/// Evaluates the version on the validation snapshot, records each gate's result
/// (DeploymentRequested, DeploymentValidated) and deploys it (Deployed) only if every gate of
/// its task ([ocr], [doc], [extraction], [other]) passes; otherwise prints the table of gate /
/// value / threshold / pass and exits 1. An environment serves one model per task: the model
/// it served for the task is replaced (Undeployed). Deploying to production also moves the
/// version to the registry's production stage. --dry-run checks without deploying: the
/// candidate, or (no NAME@V) everything the environment serves — what CI and the pre-push
/// hook run. Examples:
///
///   lab deploy ocr_prod@3 --env production
///
///   lab deploy --dry-run --env production
///
///   lab deploy status --json
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub cmd: Option<DeployCmd>,
    /// The version to deploy: NAME@N, NAME@STAGE, NAME@ALIAS, NAME or a hash prefix.
    #[arg(value_name = "NAME@V", required_unless_present = "dry_run")]
    pub model: Option<String>,
    /// Check the gates without deploying (exit 1 when one fails).
    #[arg(long)]
    pub dry_run: bool,
    /// The environment.
    #[arg(long, default_value = "production")]
    pub env: String,
    /// The gates file (default: configs/deploy.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DeployCmd {
    /// What each environment serves (one model per task), exactly what `lab serve` serves
    ///
    /// Example:
    ///
    ///   lab deploy status --env production
    #[command(verbatim_doc_comment)]
    Status {
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
    },
    /// Deployment events, newest first: requested, validated / refused (gates), deployed,
    /// undeployed (replaced), rolled back
    ///
    /// Example:
    ///
    ///   lab deploy history --env production --json
    #[command(verbatim_doc_comment)]
    History {
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
    },
    /// Go back to what served a task before the current model (another version or another name)
    ///
    /// Name the task (--task ocr|doc) or the model serving it; with neither, the one task the
    /// environment serves. Example:
    ///
    ///   lab deploy rollback --env production --task ocr
    #[command(verbatim_doc_comment)]
    Rollback {
        /// The model now serving the task to roll back.
        model: Option<String>,
        /// The task: ocr, doc or other.
        #[arg(long, conflicts_with = "model")]
        task: Option<String>,
        #[arg(long, default_value = "production")]
        env: String,
    },
}
