//! Each kind of stage: whether an earlier run already made its outputs (`check`, read from the
//! log and the blob store; in `check.rs`) and running it (`exec`, the ordinary verb's use case).

mod check;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Result, anyhow};

use super::super::train::{Overrides, Recipe};
use crate::commands::{data, eval, extract, report, run, synth, train, verify};
use crate::dataset::synth::Domain;
use crate::event::{Event, Hash, RunStatus};
use crate::lab::Lab;
use crate::progress::Reporter;
use crate::stages::{STAGE_REF, Stage, Step};
use crate::store::RunRow;
use crate::store::views::Query;

/// What a stage made, for the stages after it.
#[derive(Clone, Debug, Default)]
pub struct StageOutput {
    /// Models (`NAME@N`, bundle hash), the first being the one `stage:NAME` means.
    pub models: Vec<(String, Hash)>,
}

/// Whether a stage can be skipped.
pub enum Cache {
    Hit { why: String, output: StageOutput },
    Miss(String),
}

pub struct Ctx<'a> {
    pub lab: &'a Lab,
    seed: Option<u64>,
    reporter: &'a dyn Reporter,
    pub outputs: Vec<Option<StageOutput>>,
    names: Vec<String>,
    /// (model hash, snapshot manifest, split) of every `Evaluated` event, read once.
    evaluated: Option<BTreeSet<(Hash, Hash, String)>>,
    pub evals: Vec<eval::EvalOut>,
    pub doc_evals: Vec<extract::DocEval>,
    pub extract_evals: Vec<extract::ExtractEval>,
}

impl<'a> Ctx<'a> {
    pub fn new(lab: &'a Lab, seed: Option<u64>, reporter: &'a dyn Reporter, n: usize) -> Self {
        Ctx {
            lab,
            seed,
            reporter,
            outputs: vec![None; n],
            names: Vec::new(),
            evaluated: None,
            evals: Vec::new(),
            doc_evals: Vec::new(),
            extract_evals: Vec::new(),
        }
    }

    /// A `with` value: `stage:NAME` becomes that stage's model (`NAME@N`).
    fn model_ref(&self, value: &str, dag_names: &[String]) -> Result<String> {
        self.model_ref_as(value, dag_names, false)
    }

    /// [`Ctx::model_ref`]; with `by_hash`, the model's bundle hash instead of its name: a
    /// parent named by content, so that the effective settings a training run records (and
    /// the stage cache compares) do not change when the same bytes get a new version number.
    fn model_ref_as(&self, value: &str, dag_names: &[String], by_hash: bool) -> Result<String> {
        match value.strip_prefix(STAGE_REF) {
            None => Ok(value.to_string()),
            Some(n) => {
                let i = dag_names.iter().position(|x| x == n);
                let out = i.and_then(|i| self.outputs[i].as_ref());
                out.and_then(|o| o.models.first())
                    .map(|(m, h)| if by_hash { h.to_hex() } else { m.clone() })
                    .ok_or_else(|| anyhow!("stage `{n}` made no model to use as `{value}`"))
            }
        }
    }

    fn runs(&self) -> Result<Vec<RunRow>> {
        Ok(self.lab.store.read_views(|v| v.runs_all())?)
    }

    fn evaluated(&mut self) -> Result<&BTreeSet<(Hash, Hash, String)>> {
        if self.evaluated.is_none() {
            let mut set = BTreeSet::new();
            self.lab.store.scan(1, |rec| {
                if let Event::Evaluated {
                    model_hash,
                    dataset,
                    metrics,
                    ..
                } = &rec.envelope.body
                {
                    for k in metrics.keys() {
                        if let Some((split, _)) = k.split_once('.') {
                            set.insert((*model_hash, *dataset, split.to_string()));
                        }
                    }
                }
                Ok(true)
            })?;
            self.evaluated = Some(set);
        }
        Ok(self.evaluated.as_ref().expect("just set"))
    }

    fn dataset(&self, name: Option<&str>) -> Result<(String, Hash)> {
        let name = name.unwrap_or(self.lab.project.config.data.default.as_str());
        let rows = self.lab.store.read_views(|v| v.datasets())?;
        let r =
            crate::dataset::resolve(&rows, name).map_err(|e| anyhow!("dataset `{name}`: {e}"))?;
        Ok((format!("{}@{}", r.name, r.version), r.manifest))
    }

    fn model(&self, reference: &str) -> Result<(String, Hash)> {
        let m = crate::models::resolve_in(&self.lab.store, reference)
            .map_err(|e| anyhow!("model `{reference}`: {e}"))?;
        Ok((m.name, m.hash))
    }

    fn train_args(&self, stage: &Stage) -> Result<(Recipe, Option<PathBuf>, Overrides)> {
        let Step::Train { uses, config, with } = &stage.step else {
            unreachable!("train_args of a training stage")
        };
        let recipe = Recipe::ALL
            .into_iter()
            .find(|r| r.id() == uses)
            .expect("checked by stages::Dag");
        let s = |k: &str| with.get(k).and_then(|v| v.as_str());
        let n = |k: &str| with.get(k).and_then(|v| v.as_integer());
        let bad = |k: &str| anyhow!("stage `{}`: with.{k} has the wrong type", stage.name());
        let mut ov = Overrides {
            dataset: s("dataset").map(str::to_string),
            output: s("output").map(str::to_string),
            ..Overrides::default()
        };
        for k in ["teacher", "base"] {
            if let Some(v) = s(k) {
                let m = self.model_ref_as(v, &self.names, true)?;
                if k == "teacher" {
                    ov.teacher = Some(m);
                } else {
                    ov.base = Some(m);
                }
            }
        }
        if with.contains_key("epochs") {
            ov.epochs = Some(n("epochs").ok_or_else(|| bad("epochs"))? as u32);
        }
        if with.contains_key("batch_size") {
            ov.batch_size = Some(n("batch_size").ok_or_else(|| bad("batch_size"))? as usize);
        }
        if with.contains_key("seed") {
            ov.seed = Some(n("seed").ok_or_else(|| bad("seed"))? as u64);
        }
        if let Some(v) = with.get("learning_rate") {
            ov.learning_rate = Some(v.as_float().ok_or_else(|| bad("learning_rate"))?);
        }
        let path = config.as_ref().map(|c| self.lab.project.root.join(c));
        Ok((recipe, path, ov))
    }

    /// Runs `stage`; returns its result line, its output and whether it passed (verify).
    pub fn exec(&mut self, stage: &Stage) -> Result<(String, StageOutput, bool)> {
        let lab = self.lab;
        let reporter = self.reporter;
        let none = StageOutput::default();
        Ok(match &stage.step {
            Step::Synth {
                dataset,
                count,
                text_lines,
                shifted,
                seed,
            } => {
                let domain = Domain::of(*shifted);
                let seed = self.seed.or(*seed);
                let out = synth::synth(
                    lab,
                    Some(dataset.as_str()),
                    seed,
                    *count,
                    *text_lines,
                    domain,
                    None,
                    reporter,
                )?;
                let s = &out.summary;
                (
                    format!(
                        "{count} timetables ({} domain), {} line crops; {} files written, {} \
                         unchanged, {} removed",
                        domain.as_str(),
                        s.lines.values().sum::<u64>(),
                        s.written,
                        s.unchanged,
                        s.removed
                    ),
                    none,
                    true,
                )
            }
            Step::Snapshot { dirs } => {
                let mut lines = Vec::new();
                let mut unchanged = true;
                for d in dirs {
                    let a = data::snapshot(lab, &lab.project.root.join(d), None, reporter)?;
                    unchanged &= a.unchanged;
                    lines.push(a.text());
                }
                if unchanged {
                    // Nothing recorded: as good as cached (the caller reports it so).
                    return Ok((format!("{UNCHANGED}{}", lines.join("\n")), none, true));
                }
                (lines.join("\n"), none, true)
            }
            Step::Train { .. } => {
                let (recipe, path, ov) = self.train_args(stage)?;
                let t = train::train(lab, recipe, path.as_deref(), &ov, false, reporter)?;
                let text = t.text().lines().next().unwrap_or("").to_string();
                let val = match (t.val.get("accuracy"), t.val.get("field_f1")) {
                    (Some(a), _) => format!("val accuracy {a:.4}"),
                    (None, Some(f)) => format!("val field F1 {f:.4}"),
                    _ => String::new(),
                };
                let mut models = vec![(t.model.clone(), t.model_hash)];
                if let Some(m) = &t.merged {
                    models.push((m.clone(), Hash::ZERO));
                }
                (
                    format!(
                        "{text}; {} params ({:.1}% trained), {val}, {:.0} samples/s",
                        t.params,
                        t.trainable_fraction * 100.0,
                        t.samples_per_s
                    ),
                    StageOutput { models },
                    true,
                )
            }
            Step::Eval {
                model,
                dataset,
                splits,
                noise,
            } => {
                let m = self.model_ref(model, &self.names.clone())?;
                let (mname, mhash) = self.model(&m)?;
                let doc = crate::models::bundle(&lab.store.blobs, &mhash)
                    .map(|b| b.kind.starts_with("doc"))
                    .unwrap_or(false);
                let mut lines = Vec::new();
                for split in splits {
                    let on = eval::On {
                        dataset: dataset.as_deref(),
                        split,
                        limit: 0,
                    };
                    if doc {
                        let e = extract::eval_doc(lab, &mname, &on, *noise, reporter)?;
                        lines.push(format!("{split}: field F1 {:.4}", e.field_f1));
                        self.doc_evals.push(e);
                    } else {
                        let e = eval::eval(lab, &mname, &on, reporter)?;
                        lines.push(format!("{split}: accuracy {:.4}", e.accuracy));
                        self.evals.push(e);
                    }
                }
                self.evaluated = None;
                (format!("{mname} — {}", lines.join(", ")), none, true)
            }
            Step::Extract {
                ocr,
                doc,
                dataset,
                splits,
            } => {
                let names = self.names.clone();
                let ocr = self.model_ref(ocr, &names)?;
                let doc = self.model_ref(doc, &names)?;
                let mut lines = Vec::new();
                for split in splits {
                    let on = eval::On {
                        dataset: dataset.as_deref(),
                        split,
                        limit: 0,
                    };
                    let e = extract::eval_extract(
                        lab,
                        &on,
                        Some(ocr.as_str()),
                        Some(doc.as_str()),
                        reporter,
                    )?;
                    lines.push(format!("{split}: entry F1 {:.4}", e.entry_f1));
                    self.extract_evals.push(e);
                }
                self.evaluated = None;
                (format!("{ocr} + {doc} — {}", lines.join(", ")), none, true)
            }
            Step::Report => {
                let r = report::report(lab, None)?;
                self.write_stamp(stage)?;
                (r.text().replace('\n', " — "), none, true)
            }
            Step::Verify => {
                let v = verify::verify(lab, reporter)?;
                if v.ok {
                    self.write_stamp(stage)?;
                }
                (v.text(), none, v.ok)
            }
            Step::Cmd { cmd } => {
                let root = &lab.project.root;
                let deps: Vec<PathBuf> = stage.dep_paths.iter().map(|d| root.join(d)).collect();
                let outs: Vec<PathBuf> = stage.decl.outs.iter().map(|d| root.join(d)).collect();
                let params = BTreeMap::from([("stage".to_string(), stage.name().to_string())]);
                let argv = ["sh".to_string(), "-c".to_string(), cmd.clone()];
                let r = run::run(
                    lab,
                    Some(stage.name()),
                    None,
                    params,
                    root,
                    &deps,
                    &outs,
                    &[],
                    &argv,
                )?;
                if r.status != RunStatus::Finished {
                    anyhow::bail!(
                        "`{cmd}` (run {}) failed: {}",
                        &r.run[..8],
                        r.error.unwrap_or_default()
                    );
                }
                (format!("run {} finished: `{cmd}`", &r.run[..8]), none, true)
            }
        })
    }
}

/// Why a snapshot stage runs: it is its own cache.
pub const SNAPSHOTS: &str = "snapshots what changed (nothing is recorded when nothing did)";

/// How a snapshot stage's result starts when no snapshot changed (reported as cached).
pub const UNCHANGED: &str = "unchanged — ";
