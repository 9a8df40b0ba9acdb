//! Each kind of stage: whether an earlier run already made its outputs (`check`, read from the
//! log and the blob store) and running it (`exec`, the ordinary verb's use case).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};

use super::super::train::{Overrides, Recipe};
use crate::commands::{data, eval, extract, report, run, synth, train, verify};
use crate::dataset::synth::Domain;
use crate::event::{DataRef, Event, Hash, RunStatus};
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

fn short(h: &Hash) -> String {
    format!("{}…", &h.to_hex()[..4])
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

    /// Whether `stage` can be skipped, and why (or why not).
    pub fn check(&mut self, stage: &Stage) -> Result<Cache> {
        if self.names.is_empty() {
            self.names = crate::stages::Dag::of(&self.lab.project)?
                .stages
                .iter()
                .map(|s| s.name().to_string())
                .collect();
        }
        match &stage.step {
            Step::Synth {
                dataset,
                count,
                shifted,
                seed,
            } => {
                let domain = if *shifted {
                    Domain::Shifted
                } else {
                    Domain::Default
                };
                let dir = synth::default_dir(self.lab, dataset, domain);
                let seed = self
                    .seed
                    .or(*seed)
                    .unwrap_or(self.lab.project.config.project.seed);
                let meta = dir.join("meta.json");
                let shown = self.lab.project.display_path(&meta);
                let Ok(bytes) = std::fs::read(&meta) else {
                    return Ok(Cache::Miss(format!("{shown} does not exist")));
                };
                let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let same = m["seed"].as_u64() == Some(seed)
                    && m["count"].as_u64() == Some(*count as u64)
                    && m["domain"].as_str() == Some(domain.as_str());
                Ok(if same {
                    Cache::Hit {
                        why: format!(
                            "{shown}: seed {seed}, {count} timetables, domain {} (edits to the \
                             files are kept; the snapshot records them)",
                            domain.as_str()
                        ),
                        output: StageOutput::default(),
                    }
                } else {
                    Cache::Miss(format!("{shown} was made with other settings"))
                })
            }
            // A snapshot is its own cache: unchanged files are not read again (stat cache)
            // and an unchanged tree records nothing.
            Step::Snapshot { .. } => Ok(Cache::Miss(SNAPSHOTS.into())),
            Step::Train { uses, .. } => {
                let (recipe, path, ov) = self.train_args(stage)?;
                let inputs = train::planned_inputs(self.lab, recipe, path.as_deref(), &ov)?;
                let runs = self.runs()?;
                let version = crate::lab::version();
                let same = |r: &RunRow| {
                    r.recipe == *uses
                        && r.status == RunStatus::Finished
                        && same_inputs(&r.inputs, &inputs)
                        && self
                            .lab
                            .store
                            .get(r.started_seq)
                            .ok()
                            .flatten()
                            .is_some_and(|rec| rec.envelope.lab_version == version)
                };
                if let Some(r) = runs
                    .iter()
                    .filter(|r| same(r))
                    .max_by_key(|r| r.started_seq)
                {
                    let output = StageOutput {
                        models: r
                            .outputs
                            .iter()
                            .filter(|o| o.role == "model")
                            .map(|o| (o.name.clone(), o.hash))
                            .collect(),
                    };
                    let parts: Vec<String> = inputs
                        .iter()
                        .map(|i| format!("{} {}", i.role, short(&i.hash)))
                        .collect();
                    let model = output.models.first().map_or("", |m| m.0.as_str());
                    return Ok(Cache::Hit {
                        why: format!(
                            "same {}, lab {version}, as run {} → {model}",
                            parts.join(", "),
                            &r.id[..8]
                        ),
                        output,
                    });
                }
                // Why not: what differs from the newest finished run of this recipe.
                let last = runs
                    .iter()
                    .filter(|r| r.recipe == *uses && r.status == RunStatus::Finished)
                    .max_by_key(|r| r.started_seq);
                Ok(Cache::Miss(match last {
                    None => format!("no finished {uses} run yet"),
                    Some(r) => {
                        let diff: Vec<String> = inputs
                            .iter()
                            .filter_map(|i| {
                                let old = r.inputs.iter().find(|o| o.role == i.role);
                                match old {
                                    Some(o) if o.hash == i.hash => None,
                                    Some(o) => Some(format!(
                                        "{} {} → {}",
                                        i.role,
                                        short(&o.hash),
                                        short(&i.hash)
                                    )),
                                    None => Some(format!("new {}", i.role)),
                                }
                            })
                            .collect();
                        if diff.is_empty() {
                            format!("lab's version changed since run {}", &r.id[..8])
                        } else {
                            format!("{} since run {}", diff.join(", "), &r.id[..8])
                        }
                    }
                }))
            }
            Step::Eval {
                model,
                dataset,
                splits,
                ..
            } => {
                let m = self.model_ref(model, &self.names.clone())?;
                let (mname, mhash) = self.model(&m)?;
                let (dname, dhash) = self.dataset(dataset.as_deref())?;
                self.evals_cached(&mname, mhash, &dname, dhash, splits)
            }
            Step::Extract {
                ocr,
                doc,
                dataset,
                splits,
            } => {
                let names = self.names.clone();
                let (on, oh) = self.model(&self.model_ref(ocr, &names)?)?;
                let (dn, dh) = self.model(&self.model_ref(doc, &names)?)?;
                let mut both = oh.0.to_vec();
                both.extend_from_slice(&dh.0);
                let (dname, dhash) = self.dataset(dataset.as_deref())?;
                self.evals_cached(
                    &format!("{on} + {dn}"),
                    Hash::of(&both),
                    &dname,
                    dhash,
                    splits,
                )
            }
            Step::Report | Step::Verify => {
                let stamp = self.stamp_path(stage);
                let (_, head) = self.lab.store.head()?;
                let outs_there = stage
                    .decl
                    .outs
                    .iter()
                    .all(|o| self.lab.project.root.join(o).exists());
                let was = std::fs::read_to_string(&stamp).unwrap_or_default();
                Ok(if was.trim() == head.to_hex() && outs_there {
                    Cache::Hit {
                        why: format!(
                            "nothing recorded since it last ran (log head {})",
                            short(&head)
                        ),
                        output: StageOutput::default(),
                    }
                } else {
                    Cache::Miss("the log changed since it last ran".into())
                })
            }
            Step::Cmd { cmd } => self.cmd_cached(stage, cmd),
        }
    }

    fn evals_cached(
        &mut self,
        model: &str,
        mhash: Hash,
        dname: &str,
        dhash: Hash,
        splits: &[String],
    ) -> Result<Cache> {
        let done = self.evaluated()?;
        let missing: Vec<&String> = splits
            .iter()
            .filter(|s| !done.contains(&(mhash, dhash, s.to_string())))
            .collect();
        Ok(if missing.is_empty() {
            Cache::Hit {
                why: format!(
                    "{model} ({}) already evaluated on {dname} ({}) {}",
                    short(&mhash),
                    short(&dhash),
                    splits.join(", ")
                ),
                output: StageOutput::default(),
            }
        } else {
            Cache::Miss(format!(
                "{model} not yet evaluated on {dname} {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn stamp_path(&self, stage: &Stage) -> PathBuf {
        self.lab
            .project
            .lab_dir()
            .join("stages")
            .join(format!("{}.head", stage.name()))
    }

    fn write_stamp(&self, stage: &Stage) -> Result<()> {
        let p = self.stamp_path(stage);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        let (_, head) = self.lab.store.head()?;
        std::fs::write(&p, head.to_hex()).with_context(|| format!("cannot write {}", p.display()))
    }

    fn cmd_cached(&self, stage: &Stage, cmd: &str) -> Result<Cache> {
        let root = &self.lab.project.root;
        let mut deps = Vec::new();
        for d in &stage.dep_paths {
            let h = run::hash_path(&root.join(d))
                .with_context(|| format!("stage `{}`: dep {d} (deps in lab.toml)", stage.name()))?;
            deps.push(h);
        }
        let runs = self.runs()?;
        let hit = runs
            .iter()
            .filter(|r| {
                r.recipe == "cmd"
                    && r.status == RunStatus::Finished
                    && r.params.get("stage").map(String::as_str) == Some(stage.name())
                    && r.params.get("command").map(String::as_str) == Some(cmd_line(cmd).as_str())
                    && r.inputs.iter().map(|i| i.hash).eq(deps.iter().copied())
            })
            .max_by_key(|r| r.started_seq);
        let Some(r) = hit else {
            return Ok(Cache::Miss(format!(
                "no finished run of `{cmd}` with these deps"
            )));
        };
        // Reuse its outputs: put back any that are missing or changed.
        let mut restored = Vec::new();
        for o in r.outputs.iter().filter(|o| o.role == "out") {
            let p = root.join(&o.name);
            if run::hash_path(&p).ok() != Some(o.hash) {
                let dir = run::is_manifest(self.lab, &o.hash);
                if dir && p.is_dir() {
                    std::fs::remove_dir_all(&p).ok();
                }
                run::restore_path(self.lab, &o.hash, &p, dir).map_err(|e| {
                    anyhow!("stage `{}`: cannot reuse {}: {e:#}", stage.name(), o.name)
                })?;
                restored.push(o.name.clone());
            }
        }
        let deps_s: Vec<String> = deps.iter().map(short).collect();
        Ok(Cache::Hit {
            why: format!(
                "same command and deps ({}) as run {}{}",
                if deps_s.is_empty() {
                    "none".into()
                } else {
                    deps_s.join(", ")
                },
                &r.id[..8],
                if restored.is_empty() {
                    String::new()
                } else {
                    format!("; restored {} from the blob store", restored.join(", "))
                }
            ),
            output: StageOutput::default(),
        })
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
                shifted,
                seed,
            } => {
                let domain = if *shifted {
                    Domain::Shifted
                } else {
                    Domain::Default
                };
                let seed = self.seed.or(*seed);
                let out = synth::synth(
                    lab,
                    Some(dataset.as_str()),
                    seed,
                    *count,
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

/// The `command` param `lab run` records for a stage's `sh -c CMD`.
fn cmd_line(cmd: &str) -> String {
    format!("sh -c {cmd}")
}

/// The same roles with the same hashes (names may differ: `timetables@3` then, a label now).
fn same_inputs(recorded: &[DataRef], planned: &[DataRef]) -> bool {
    let key = |v: &[DataRef]| {
        let mut k: Vec<(String, Hash)> = v.iter().map(|d| (d.role.clone(), d.hash)).collect();
        k.sort();
        k
    };
    key(recorded) == key(planned)
}
