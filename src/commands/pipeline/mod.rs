//! `lab pipeline [--force [STAGE]] [--plan]`: the stages of `lab.toml` (or, when it declares
//! none, the default flow: render the default timetables and the shifted domain → snapshot →
//! OCR teacher → distilled student → LoRA → document model → its LoRA → evaluations →
//! extraction end to end → report → verify), run in dependency order.
//!
//! Planning is apart from running (like DVC): each stage first asks whether an earlier
//! finished run had the same inputs — the content hashes of its dataset snapshot, config,
//! effective settings and parent models, lab's version (training); the model and snapshot
//! (evaluations); the command and its deps (external commands) — and is skipped, its outputs
//! reused, when one did, saying which. So changing one config reruns that stage and what is
//! downstream of it only; an unchanged project runs nothing.

mod out;
mod steps;

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

pub use out::{PipelineOut, Step};
use steps::{Cache, Ctx};

use crate::lab::Lab;
use crate::progress::Reporter;
use crate::project::{Project, ProjectError};
use crate::stages::Dag;

/// How many timetables the embedded default has.
pub const DEFAULT_COUNT: u32 = 400;
/// The OCR noise the document models are scored under (largest character error rate; each
/// cell draws its own from [0, this)).
pub const DOC_EVAL_NOISE: f64 = 0.1;

/// How many timetables the shifted domain (LoRA adaptation) has.
pub const SHIFTED_COUNT: u32 = 160;

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Seed of the generated datasets (default: each stage's, else lab.toml's project.seed).
    pub seed: Option<u64>,
    /// `--force`: `Some(empty)` reruns every stage, `Some(names)` those stages.
    pub force: Option<Vec<String>>,
    /// `--plan`: say what would run and why, run nothing.
    pub plan: bool,
    /// Run only these stages and what they need (none: all).
    pub only: Vec<String>,
}

/// Finds (or, for `pipeline`, makes) the project at `here` and runs its stages.
pub fn run(here: &Path, opts: &Options, reporter: &dyn Reporter) -> Result<PipelineOut> {
    let t = Instant::now();
    let (project, made) = match Project::discover(here) {
        Ok(p) => (p, None),
        Err(ProjectError::NotFound(_)) if !opts.plan => {
            let r = crate::project::init(here)?;
            let p = Project::open(&r.root)?;
            super::train::config::write_defaults(&p)?;
            let msg = format!("created a project in {}", r.root.display());
            (p, Some(msg))
        }
        Err(e) => return Err(e.into()),
    };
    let lab = Lab::open_project(project, "pipeline")?;
    let mut out = run_in(&lab, opts, reporter)?;
    if let Some(msg) = made {
        out.steps.insert(
            0,
            Step {
                name: "init".into(),
                seconds: t.elapsed().as_secs_f64(),
                status: "ran".into(),
                result: msg,
            },
        );
    }
    if !out.ok {
        bail!("{}", out.text());
    }
    Ok(out)
}

/// Runs (or plans) the stages of an opened project.
pub fn run_in(lab: &Lab, opts: &Options, reporter: &dyn Reporter) -> Result<PipelineOut> {
    let dag = Dag::of(&lab.project)?;
    let forced = |i: usize| match &opts.force {
        None => false,
        Some(names) => names.is_empty() || names.iter().any(|n| n == dag.stages[i].name()),
    };
    for n in opts.force.iter().flatten().chain(&opts.only) {
        if dag.index(n).is_none() {
            bail!(
                "there is no stage `{n}` — the stages are {} (lab.toml [[stages]])",
                dag.names()
            );
        }
    }
    // `only`: the named stages and everything upstream of them.
    let mut selected = vec![opts.only.is_empty(); dag.stages.len()];
    for n in &opts.only {
        let mut stack = vec![dag.index(n).expect("checked above")];
        while let Some(i) = stack.pop() {
            if !selected[i] {
                selected[i] = true;
                stack.extend(&dag.stages[i].upstream);
            }
        }
    }
    let mut ctx = Ctx::new(lab, opts.seed, reporter, dag.stages.len());
    let mut steps = Vec::new();
    // Per stage: whether it ran (or, planning, would run).
    let mut ran = vec![false; dag.stages.len()];
    let mut ok = true;
    for (i, stage) in dag.stages.iter().enumerate() {
        let t = Instant::now();
        let name = stage.name().to_string();
        if !selected[i] {
            continue;
        }
        let changed_upstream: Vec<&str> = stage
            .upstream
            .iter()
            .filter(|&&u| ran[u])
            .map(|&u| dag.stages[u].name())
            .collect();
        let (status, result) = if opts.plan && !changed_upstream.is_empty() {
            // Its inputs are not known until those run.
            ran[i] = true;
            (
                "pending",
                format!(
                    "runs if {} change{} its output",
                    changed_upstream.join(", "),
                    if changed_upstream.len() == 1 { "s" } else { "" }
                ),
            )
        } else {
            let cache = if forced(i) {
                Cache::Miss("forced (--force)".into())
            } else {
                ctx.check(stage)?
            };
            match cache {
                Cache::Hit { why, output } => {
                    ctx.outputs[i] = Some(output);
                    ("cached", format!("cached — {why}"))
                }
                Cache::Miss(why) if opts.plan => {
                    // A snapshot records nothing when nothing changed; the plan takes the
                    // latest snapshot as what the stages after it read.
                    let snapshot = matches!(stage.step, crate::stages::Step::Snapshot { .. });
                    ran[i] = !snapshot;
                    let note = if snapshot {
                        "; the plan compares the stages after it with the latest snapshot"
                    } else {
                        ""
                    };
                    ("planned", format!("would run: {why}{note}"))
                }
                Cache::Miss(why) => {
                    if !matches!(stage.step, crate::stages::Step::Snapshot { .. }) {
                        eprintln!("lab: {name}: running ({why})");
                    }
                    let (result, output, passed) = ctx
                        .exec(stage)
                        .map_err(|e| e.context(format!("stage `{name}` failed")))?;
                    ok &= passed;
                    ctx.outputs[i] = Some(output);
                    match result.strip_prefix(steps::UNCHANGED) {
                        Some(r) => ("cached", format!("cached — {r}")),
                        None => {
                            ran[i] = true;
                            ("ran", result)
                        }
                    }
                }
            }
        };
        if !opts.plan {
            eprintln!("lab: {name}: {}", result.lines().next().unwrap_or(""));
        }
        steps.push(Step {
            name,
            seconds: t.elapsed().as_secs_f64(),
            status: status.into(),
            result,
        });
    }
    Ok(PipelineOut {
        root: lab.project.root.display().to_string(),
        plan: opts.plan,
        steps,
        evals: std::mem::take(&mut ctx.evals),
        doc_evals: std::mem::take(&mut ctx.doc_evals),
        extract_evals: std::mem::take(&mut ctx.extract_evals),
        ok,
    })
}
