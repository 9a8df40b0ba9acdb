//! `lab replay RUN|MODEL|--all [--plan]`: rebuild a recorded training run from the log alone
//! and check the rebuild bit for bit.
//!
//! Everything comes from the blob store as the run recorded it: the dataset snapshot (every
//! file hash-checked as it is read), the effective settings, the parent model;
//! the recipe runs again with the recorded seed, and the output bundle's hash is compared with
//! the recorded one. Verdicts: identical; differs (largest absolute weight difference, metric
//! deltas, and the likely cause: lab version, CPU features, a dirty tree); cannot replay (which
//! blob is missing or damaged, or why the run is not replayable). Each verdict is a
//! `ReplayVerified` event. A parent model is used as recorded (replay it on its own, or use
//! `--all`, to check it too). An external command replays at its recorded git commit
//! (`cmd.rs`). `--all` also prints the replay's time against the original runs' durations.

mod cmd;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use super::train::config::{Recipe, RecipeConfig};
use super::train::{data, job};
use crate::event::{Event, Hash, ReplayVerdict, RunStatus};
use crate::lab::Lab;
use crate::ml::observe::{EpochInfo, Observer, StepInfo};
use crate::progress::Reporter;
use crate::store::RunRow;

#[derive(Debug, Serialize)]
pub struct ReplayRow {
    pub run: String,
    pub name: String,
    pub recipe: String,
    pub model: Option<String>,
    pub expected: Option<Hash>,
    pub actual: Option<Hash>,
    /// `identical`, `differs`, `cannot replay`, or `planned` (with --plan).
    pub verdict: String,
    pub detail: String,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct ReplayOut {
    pub rows: Vec<ReplayRow>,
    pub plan: bool,
    /// Seconds the replays took, and the recorded durations of the same runs (those that were
    /// rebuilt: not "cannot replay"); their ratio is the audit's cost.
    pub replay_seconds: f64,
    pub original_seconds: f64,
    /// Every replayed run was identical.
    pub ok: bool,
}

impl ReplayOut {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            s.push_str(&format!(
                "{}  {:<18} {:<18} {:<14} {}\n",
                &r.run[..r.run.len().min(8)],
                r.model.as_deref().unwrap_or(&r.name),
                r.recipe,
                r.verdict,
                r.detail
            ));
        }
        if self.rows.is_empty() {
            s.push_str("no finished training runs to replay\n");
        }
        if !self.plan && self.original_seconds > 0.0 {
            s.push_str(&format!(
                "replayed in {:.1}s; the original runs took {:.1}s: {:.2}× their time\n",
                self.replay_seconds,
                self.original_seconds,
                self.replay_seconds / self.original_seconds
            ));
        }
        s.trim_end().to_string()
    }
}

fn recipe_of(id: &str) -> Option<Recipe> {
    Recipe::ALL.into_iter().find(|r| r.id() == id)
}

/// The runs `what` names (a run or a model), or every finished recipe run with `--all`.
fn select(lab: &Lab, what: Option<&str>, all: bool) -> Result<Vec<RunRow>> {
    let runs = lab.store.read_views(|v| v.runs_all())?;
    if all || what.is_none() {
        if !all {
            bail!("name a run or a model to replay, or give --all");
        }
        let mut v: Vec<RunRow> = runs
            .into_iter()
            .filter(|r| r.status == RunStatus::Finished)
            .collect();
        v.sort_by_key(|r| r.started_seq);
        return Ok(v);
    }
    let what = what.unwrap();
    if let Ok(r) = super::runs::find(lab, what) {
        return Ok(vec![r]);
    }
    match crate::models::resolve_in(&lab.store, what) {
        Ok(m) if m.run.is_none() => {
            bail!(
                "model {} was registered without a run: there is nothing to replay",
                m.name
            )
        }
        Ok(m) => Ok(runs
            .into_iter()
            .filter(|r| Some(&r.id) == m.run.as_ref())
            .collect()),
        Err(e) => bail!("`{what}` is neither a run (see `lab runs ls`) nor a model: {e}"),
    }
}

impl ReplayRow {
    /// A row for `row` with its recorded model and no verdict yet.
    fn of(row: &RunRow) -> ReplayRow {
        let recorded = row.outputs.iter().find(|o| o.role == "model");
        ReplayRow {
            run: row.id.clone(),
            name: row.name.clone(),
            recipe: row.recipe.clone(),
            model: recorded.map(|m| m.name.clone()),
            expected: recorded.map(|m| m.hash),
            actual: None,
            verdict: String::new(),
            detail: String::new(),
            seconds: 0.0,
        }
    }
}

/// Why a run cannot be replayed, judged from its record alone (blobs are checked later).
fn unreplayable(row: &RunRow) -> Option<String> {
    if recipe_of(&row.recipe).is_none() && row.recipe != "cmd" {
        return Some(format!("unknown recipe `{}`", row.recipe));
    }
    if row.status != RunStatus::Finished {
        return Some(format!(
            "the run did not finish ({:?}): there is no output to compare",
            row.status
        ));
    }
    if row.recipe == "cmd" {
        return None;
    }
    if !row.inputs.iter().any(|i| i.role == "settings") {
        return Some("the run recorded no effective settings (it predates replay support)".into());
    }
    if !row.outputs.iter().any(|o| o.role == "model") {
        return Some("the run recorded no output model".into());
    }
    None
}

/// Why a run cannot be rebuilt, or the job that rebuilds it.
fn job_of(lab: &Lab, row: &RunRow) -> std::result::Result<job::Job, String> {
    if let Some(reason) = unreplayable(row) {
        return Err(reason);
    }
    let recipe = recipe_of(&row.recipe).expect("unreplayable checks the recipe");
    let input = |role: &str| row.inputs.iter().find(|i| i.role == role);
    let blob = |what: &str, h: &Hash| {
        lab.store
            .blobs
            .get(h)
            .map_err(|e| format!("{what} (blob {}) — {e}", h.short()))
    };
    let settings = input("settings").expect("unreplayable checks the settings");
    let cfg: RecipeConfig =
        serde_json::from_slice(&blob("its effective settings", &settings.hash)?)
            .map_err(|e| format!("its effective settings do not parse: {e}"))?;
    let ds = input("dataset").ok_or("the run recorded no dataset")?;
    let snap = data::snapshot_of(lab, &ds.name, ds.hash)
        .map_err(|e| format!("dataset {} manifest: {e:#}", ds.name))?;
    let load = |p: &crate::event::DataRef| {
        job::load_bundle(lab, &p.name, p.hash, None)
            .map_err(|e| format!("parent model {}: {e:#}", p.name))
    };
    let parent = match input("teacher").or(input("base")) {
        Some(p) => Some((
            if p.role == "teacher" {
                "teacher"
            } else {
                "base"
            },
            load(p)?,
        )),
        None => None,
    };
    let init = input("init").map(load).transpose()?;
    Ok(job::Job {
        recipe,
        seed: row.seed.unwrap_or(0),
        snap,
        parent,
        init,
        cfg,
    })
}

/// Progress only: a replay records its verdict, not metrics.
struct Quiet<'a> {
    reporter: &'a dyn Reporter,
    started: bool,
}

impl Observer for Quiet<'_> {
    fn step(&mut self, s: &StepInfo) {
        if !self.started {
            self.reporter.begin("replay", s.total_steps, false);
            self.started = true;
        }
        self.reporter.advance(1);
    }
    fn epoch(&mut self, _: &EpochInfo, _: Vec<u8>) -> Result<()> {
        Ok(())
    }
}

fn likely_cause(lab: &Lab, row: &RunRow) -> String {
    let mut causes = Vec::new();
    if let Ok(Some(rec)) = lab.store.get(row.started_seq) {
        if rec.envelope.lab_version != crate::lab::version() {
            causes.push(format!(
                "lab version {} then, {} now",
                rec.envelope.lab_version,
                crate::lab::version()
            ));
        }
    }
    let cpu = super::train::cpu_features();
    match row.params.get("host.cpu") {
        Some(c) if *c != cpu => causes.push(format!("CPU features `{c}` then, `{cpu}` now")),
        _ => {}
    }
    if matches!(row.git, crate::event::GitState::Repo { dirty: true, .. }) {
        causes.push("the project's tree was dirty at the original run".into());
    }
    if causes.is_empty() {
        "no recorded difference in lab version, CPU features or tree: non-determinism in lab — please report it".into()
    } else {
        causes.join("; ")
    }
}

/// Replays one run; returns its row and verdict.
fn replay_one(
    lab: &Lab,
    row: &RunRow,
    reporter: &dyn Reporter,
) -> (ReplayRow, Option<ReplayVerdict>) {
    let t0 = Instant::now();
    let recorded = row.outputs.iter().find(|o| o.role == "model");
    let mut out = ReplayRow::of(row);
    if row.recipe == "cmd" {
        if let Some(reason) = unreplayable(row) {
            out.verdict = "cannot replay".into();
            out.detail = reason.clone();
            out.seconds = t0.elapsed().as_secs_f64();
            return (out, Some(ReplayVerdict::CannotReplay { reason }));
        }
        let r = cmd::replay(lab, row);
        out.expected = Some(r.expected);
        out.actual = r.actual;
        out.verdict = match r.verdict {
            ReplayVerdict::Identical => "identical",
            ReplayVerdict::Differs { .. } => "differs",
            ReplayVerdict::CannotReplay { .. } => "cannot replay",
        }
        .into();
        out.detail = r.detail;
        out.seconds = t0.elapsed().as_secs_f64();
        return (out, Some(r.verdict));
    }
    let cannot = |out: &mut ReplayRow, reason: String| {
        out.verdict = "cannot replay".into();
        out.detail = reason.clone();
        Some(ReplayVerdict::CannotReplay { reason })
    };
    let verdict = match (recorded, job_of(lab, row)) {
        (_, Err(reason)) => cannot(&mut out, reason),
        (None, Ok(_)) => unreachable!("unreplayable checks the output model"),
        (Some(rec), Ok(job)) => {
            let rebuilt = (|| -> Result<(job::BundleFiles, Option<EpochInfo>)> {
                let data = job::load_data(lab, &job, reporter)?;
                let mut quiet = Quiet {
                    reporter,
                    started: false,
                };
                let trained = job::fit(&job, &data, None, &mut quiet);
                reporter.end();
                let trained = trained?;
                let (model, _) = job::outputs(&job, &data, &trained)?;
                Ok((model, trained.last))
            })();
            match rebuilt {
                // A damaged input surfaces here, named: every file is read through its blob.
                Err(e) => cannot(&mut out, format!("the rebuild failed: {e:#}")),
                Ok((model, last)) => {
                    let actual = model.hash();
                    out.actual = Some(actual);
                    if actual == rec.hash {
                        out.verdict = "identical".into();
                        out.detail = format!("model {} rebuilt bit for bit", rec.hash.short());
                        Some(ReplayVerdict::Identical)
                    } else {
                        let recorded_weights = crate::models::bundle(&lab.store.blobs, &rec.hash)
                            .ok()
                            .and_then(|b| {
                                let name = if b.kind == "ocr-lora" {
                                    "adapter.safetensors"
                                } else {
                                    "model.safetensors"
                                };
                                crate::models::file(&lab.store.blobs, &rec.hash, &b, name).ok()
                            });
                        let diff = recorded_weights
                            .map(|w| {
                                crate::ml::bundle::max_weight_diff(&w, model.weights())
                                    .unwrap_or(f64::INFINITY)
                            })
                            .unwrap_or(f64::INFINITY);
                        let mut deltas = BTreeMap::new();
                        if let Some(l) = &last {
                            let vals = l.val.iter().map(|(k, v)| (format!("val_{k}"), *v));
                            for (k, v) in vals.chain([("val_loss".to_string(), l.val_loss)]) {
                                if let Some(p) = row.latest.get(&k) {
                                    deltas.insert(k, v - p.value);
                                }
                            }
                        }
                        let cause = likely_cause(lab, row);
                        out.verdict = "differs".into();
                        out.detail = format!(
                            "model {} rebuilt as {}: largest weight difference {diff:.3e}; metric deltas {}; likely cause: {cause}",
                            rec.hash.short(),
                            actual.short(),
                            deltas
                                .iter()
                                .map(|(k, v)| format!("{k} {v:+.4}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        Some(ReplayVerdict::Differs {
                            max_abs_weight_diff: diff,
                            metric_deltas: deltas,
                            likely_cause: cause,
                        })
                    }
                }
            }
        }
    };
    out.seconds = t0.elapsed().as_secs_f64();
    (out, verdict)
}

/// What `--plan` says about a run: its inputs and what would run.
fn plan_row(row: &RunRow, runs: &[RunRow]) -> ReplayRow {
    let mut out = ReplayRow::of(row);
    match unreplayable(row) {
        Some(reason) => {
            out.verdict = "cannot replay".into();
            out.detail = reason;
        }
        None if row.recipe == "cmd" => {
            out.verdict = "planned".into();
            out.detail = format!(
                "would run `{}` at its recorded commit, from {} recorded dep{}",
                row.params.get("command").map_or("?", String::as_str),
                row.inputs.len(),
                if row.inputs.len() == 1 { "" } else { "s" }
            );
        }
        None => {
            let parts: Vec<String> = row
                .inputs
                .iter()
                .filter(|i| i.role != "settings")
                .map(|i| {
                    let from = runs
                        .iter()
                        .find(|r| {
                            r.outputs
                                .iter()
                                .any(|o| o.hash == i.hash && o.role == "model")
                        })
                        .map(|r| format!(" (from run {})", &r.id[..8]))
                        .unwrap_or_default();
                    format!("{} {}{from}", i.role, i.name)
                })
                .collect();
            out.verdict = "planned".into();
            out.detail = format!(
                "would train {} with seed {} from {}",
                row.recipe,
                row.seed.unwrap_or(0),
                parts.join(", ")
            );
        }
    }
    out
}

/// Replays (or, with `plan`, plans) the selected runs, recording each verdict.
pub fn replay(
    lab: &Lab,
    what: Option<&str>,
    all: bool,
    plan: bool,
    reporter: &dyn Reporter,
) -> Result<ReplayOut> {
    let selected = select(lab, what, all)?;
    if plan {
        let runs = lab.store.read_views(|v| v.runs_all())?;
        let rows = selected.iter().map(|r| plan_row(r, &runs)).collect();
        return Ok(ReplayOut {
            rows,
            plan: true,
            replay_seconds: 0.0,
            original_seconds: 0.0,
            ok: true,
        });
    }
    let mut rows = Vec::new();
    let mut ok = true;
    let (mut replay_seconds, mut original_seconds) = (0.0, 0.0);
    for row in &selected {
        let (out, verdict) = replay_one(lab, row, reporter);
        ok &= out.verdict == "identical";
        if out.verdict != "cannot replay" {
            if let Some(end) = row.finished_ns {
                replay_seconds += out.seconds;
                original_seconds += (end - row.started_ns).max(0) as f64 / 1e9;
            }
        }
        if let Some(v) = verdict {
            lab.append(vec![Event::ReplayVerified {
                run: row.id.clone(),
                // A run with no recorded output is compared against nothing: the zero hash.
                expected: out.expected.unwrap_or(Hash::ZERO),
                actual: out.actual,
                verdict: v,
            }])?;
        }
        rows.push(out);
    }
    Ok(ReplayOut {
        rows,
        plan: false,
        replay_seconds,
        original_seconds,
        ok,
    })
}
