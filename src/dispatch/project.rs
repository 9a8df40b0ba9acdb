//! The project and its log: `lab init`, `pipeline`, `data …`, `gc`, `verify`, `replay`,
//! `hooks …`, `ci init`, `reindex`, `watch`, `completions`.

use std::path::Path;

use anyhow::{Result, bail};
use clap::CommandFactory;

use super::{Answer, Ctx};
use crate::cli::{CiCmd, Cli, DataCmd, HooksCmd, PipelineArgs, SynthDomain};
use crate::commands;
use crate::lab::Lab;

pub fn init(c: &Ctx, path: &Path, git: bool) -> Result<Answer> {
    let mut r = crate::project::init(&c.path(path))?;
    let git_note = crate::git::init_or_offer(&r.root, git)?;
    let project = crate::project::Project::open(&r.root)?;
    r.created
        .extend(commands::train::config::write_defaults(&project)?);
    // Open the store so .lab/lab.redb exists from the start.
    Lab::open_project(project, "init")?;
    let a = Answer::one(c.json, &r, || {
        if r.created.is_empty() {
            format!(
                "{} is already a lab project — nothing changed",
                r.root.display()
            )
        } else {
            format!(
                "initialised lab project in {} (created {})",
                r.root.display(),
                r.created.join(", ")
            )
        }
    })?;
    Ok(match git_note {
        Some(n) => a.note(format!("lab: {n}")),
        None => a,
    })
}

pub fn pipeline(c: &Ctx, args: PipelineArgs) -> Result<Answer> {
    let force = if args.force.is_empty() {
        None
    } else {
        Some(args.force.into_iter().filter(|f| !f.is_empty()).collect())
    };
    let opts = commands::pipeline::Options {
        seed: args.seed,
        force,
        plan: args.plan,
        only: args.stages,
    };
    let out = commands::pipeline::run(&c.here, &opts, &c.bars)?;
    Answer::one(c.json, &out, || out.text())
}

pub fn data(c: &Ctx, cmd: DataCmd) -> Result<Answer> {
    let lab = c.lab("data")?;
    match cmd {
        DataCmd::Synth {
            name,
            seed,
            count,
            text_lines,
            domain,
            out,
        } => {
            let domain = match domain {
                SynthDomain::Default => crate::dataset::synth::Domain::Default,
                SynthDomain::Shifted => crate::dataset::synth::Domain::Shifted,
            };
            let out_dir = out.map(|o| c.path(o));
            let out = commands::synth::synth(
                &lab,
                name.as_deref(),
                seed,
                count,
                text_lines,
                domain,
                out_dir.as_deref(),
                &c.bars,
            )?;
            let a = Answer::one(c.json, &out, || out.text())?;
            Ok(out
                .warnings
                .iter()
                .fold(a, |a, w| a.note(format!("lab: warning: {w}"))))
        }
        DataCmd::Snapshot { path, name } => {
            let out = commands::data::snapshot(&lab, &c.path(path), name.as_deref(), &c.bars)?;
            Answer::one(c.json, &out, || out.text())
        }
        DataCmd::Ls { name } => {
            let rows = commands::data::list(&lab, name.as_deref())?;
            Answer::lines(c.json, &rows, || commands::data::list_text(&rows))
        }
        DataCmd::Diff { a, b } => {
            let out = commands::data::diff(&lab, &a, &b)?;
            Answer::one(c.json, &out, || out.text())
        }
        DataCmd::Import {
            kind,
            folder,
            name,
            ocr,
            model,
        } => match kind {
            crate::cli::ImportKind::Lines => {
                if ocr.is_some() || model.is_some() {
                    bail!(
                        "--ocr and --model are for `lab data import timetables`: lines are imported as labelled"
                    );
                }
                let out =
                    commands::data::import_lines(&lab, &c.path(folder), name.as_deref(), &c.bars)?;
                Answer::one(c.json, &out, || out.text())
            }
            crate::cli::ImportKind::Timetables => {
                let out = commands::data::import_timetables(
                    &lab,
                    &c.path(folder),
                    name.as_deref(),
                    ocr.as_deref(),
                    model.as_deref(),
                    &c.bars,
                )?;
                Answer::one(c.json, &out, || out.text())
            }
        },
        DataCmd::Checkout { snapshot, target } => {
            let out = commands::data::checkout(&lab, &snapshot, &c.path(target), &c.bars)?;
            Answer::one(c.json, &out, || {
                format!(
                    "checked out {} into {}: {} files, {}",
                    out.snapshot,
                    out.dir.display(),
                    out.files,
                    crate::event::human_bytes(out.bytes)
                )
            })
        }
    }
}

pub fn gc(c: &Ctx, dry_run: bool, grace: u64, keep_checkpoints: Option<u32>) -> Result<Answer> {
    let lab = c.lab("gc")?;
    let grace = std::time::Duration::from_secs(grace.saturating_mul(60));
    let keep = keep_checkpoints.unwrap_or(lab.project.config.gc.keep_checkpoints);
    let out = commands::gc::gc(&lab, dry_run, grace, keep)?;
    Answer::one(c.json, &out, || out.text())
}

pub fn verify(c: &Ctx) -> Result<Answer> {
    let lab = c.lab("verify")?;
    let out = commands::verify::verify(&lab, &c.bars)?;
    Ok(Answer::one(c.json, &out, || out.text())?.failed_if(!out.ok))
}

pub fn replay(c: &Ctx, what: Option<&str>, all: bool, plan: bool) -> Result<Answer> {
    let lab = c.lab("replay")?;
    let out = commands::replay::replay(&lab, what, all, plan, &c.bars)?;
    Ok(Answer::one(c.json, &out, || out.text())?.failed_if(!out.ok))
}

pub fn hooks(c: &Ctx, cmd: HooksCmd) -> Result<Answer> {
    let lab = c.lab("hooks")?;
    match cmd {
        HooksCmd::Install => {
            let out = commands::hooks::install(&lab)?;
            Answer::one(c.json, &out, || out.text())
        }
        HooksCmd::Uninstall => {
            let out = commands::hooks::uninstall(&lab)?;
            Answer::one(c.json, &out, || out.text())
        }
        HooksCmd::Run { hook, args: _ } => {
            let out = commands::hooks::run(&lab, &hook, &c.bars)?;
            Ok(Answer::none().note(out.message).failed_if(!out.ok))
        }
    }
}

pub fn ci(c: &Ctx, cmd: CiCmd) -> Result<Answer> {
    let CiCmd::Init {
        provider: crate::cli::CiProvider::Github,
        force,
        lab_git,
    } = cmd;
    let project = crate::project::Project::discover(&c.here)?;
    let out = commands::ci::init_github(&project, force, lab_git.as_deref())?;
    Answer::one(c.json, &out, || out.text())
}

pub fn reindex(c: &Ctx) -> Result<Answer> {
    let lab = c.lab("reindex")?;
    let n = lab.store.reindex()?;
    Answer::one(c.json, &serde_json::json!({ "events": n }), || {
        format!("rebuilt the views from {n} events")
    })
}

pub fn watch(c: &Ctx) -> Result<Answer> {
    commands::watch::watch(&c.here)?;
    Ok(Answer::none())
}

pub fn completions(shell: clap_complete::Shell) -> Answer {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "lab", &mut buf);
    Answer::raw(buf)
}
