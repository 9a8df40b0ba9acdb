//! `lab train ocr-teacher|ocr-distill|ocr-lora`: a built-in recipe as a run in the log.
//! `RunStarted` records the config blob, the dataset snapshot, parent models, seed and every
//! effective hyperparameter; `MetricsLogged` carries per-step train_loss / lr / samples_per_s
//! and per-epoch val_loss / val_cer / val_accuracy / val_char_f1; every epoch's checkpoint is
//! an `ArtifactLogged` blob; `RunFinished` names the model bundle (`NAME@N`).
//! `--resume` continues the newest interrupted run of the same inputs from its last checkpoint;
//! the result is the same bytes as an uninterrupted run.

mod check;
pub mod config;
pub mod data;
pub mod job;
mod load;
mod observe;
mod reuse;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::event::{DataRef, Event, Hash, RunStatus};
use crate::lab::{Lab, host, process_start};
use crate::ml::train::Trained;
use crate::models;
use crate::progress::Reporter;
use crate::store::RunRow;
use crate::store::views::Query;
pub use config::Recipe;
pub use job::{DocModel, Job, OcrModel, Parent, load_any, load_bundle, load_doc_model, load_model};
pub use reuse::planned_inputs;
pub(crate) use reuse::same_run;

/// Command-line overrides of a recipe config.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub dataset: Option<String>,
    pub epochs: Option<u32>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub output: Option<String>,
    /// `train.init`; `none` clears it.
    pub init: Option<String>,
    pub teacher: Option<String>,
    pub temperature: Option<f64>,
    pub alpha: Option<f64>,
    pub base: Option<String>,
    pub rank: Option<usize>,
    pub lora_alpha: Option<f64>,
    pub target_modules: Option<Vec<String>>,
    pub merge: bool,
    /// A local Hugging Face checkpoint directory to start from (document model).
    pub init_from: Option<std::path::PathBuf>,
    /// Tags recorded as params (`sweep=…`).
    pub tags: BTreeMap<String, String>,
    /// `lab train` without `--force`: a finished run with the same inputs, settings, seed and
    /// lab version is reused instead of training again (`lab pipeline` has its own cache).
    pub reuse: bool,
}

#[derive(Debug, Serialize)]
pub struct TrainOut {
    pub run: String,
    pub recipe: String,
    pub model: String,
    pub model_hash: Hash,
    pub dataset: String,
    pub params: usize,
    pub trainable_params: usize,
    pub trainable_fraction: f64,
    /// Size of the saved adapter (LoRA) or weights file.
    pub weights_bytes: u64,
    pub merged: Option<String>,
    pub epochs: u32,
    pub steps: u64,
    pub seconds: f64,
    pub samples_per_s: f64,
    pub val_accuracy: f64,
    pub val_cer: f64,
    pub val_loss: f64,
    pub resumed_from: Option<String>,
    /// Every validation metric of the last epoch by name (`accuracy`, `cer`, `field_f1`, …).
    pub val: BTreeMap<String, f64>,
    /// Nothing was trained: `run` is the earlier finished run with identical inputs.
    pub cached: bool,
}

impl TrainOut {
    pub fn text(&self) -> String {
        let val: Vec<String> = self
            .val
            .iter()
            .map(|(k, v)| format!("val {} {v:.4}", k.replace('_', " ")))
            .collect();
        if self.cached {
            return format!(
                "{} cached: run {} had the same dataset, config, settings, seed and lab version → {} \
                 (model {}); nothing was trained (--force trains again)\n  {}",
                self.recipe,
                &self.run[..self.run.len().min(8)],
                self.model,
                self.model_hash.short(),
                val.join(", ")
            );
        }
        let mut s = format!(
            "{} {} → {} (model {})\n  dataset {}, {} epochs, {} steps in {:.1}s ({:.0} samples/s)\n  \
             {}, val loss {:.4}\n  parameters {} ({} trainable, {:.2}%), weights file {}",
            self.recipe,
            self.run,
            self.model,
            self.model_hash.short(),
            self.dataset,
            self.epochs,
            self.steps,
            self.seconds,
            self.samples_per_s,
            val.join(", "),
            self.val_loss,
            self.params,
            self.trainable_params,
            self.trainable_fraction * 100.0,
            crate::event::human_bytes(self.weights_bytes),
        );
        if let Some(m) = &self.merged {
            s.push_str(&format!("\n  merged weights → {m}"));
        }
        if let Some(r) = &self.resumed_from {
            s.push_str(&format!("\n  resumed from run {r}"));
        }
        s
    }
}

fn apply(c: &mut config::RecipeConfig, o: &Overrides) {
    let t = &mut c.train;
    if let Some(v) = &o.dataset {
        t.dataset = v.clone();
    }
    if let Some(v) = o.epochs {
        t.epochs = v;
    }
    if let Some(v) = o.batch_size {
        t.batch_size = v;
    }
    if let Some(v) = o.learning_rate {
        t.learning_rate = v;
    }
    if let Some(v) = o.seed {
        t.seed = Some(v);
    }
    if let Some(v) = &o.output {
        t.output = v.clone();
    }
    if let Some(v) = &o.init {
        t.init = Some(v.clone());
    }
    // `none`, in the file or on the command line: a seeded start.
    if t.init.as_deref() == Some("none") {
        t.init = None;
    }
    if let Some(d) = &mut c.distill {
        if let Some(v) = &o.teacher {
            d.teacher = v.clone();
        }
        if let Some(v) = o.temperature {
            d.temperature = v;
        }
        if let Some(v) = o.alpha {
            d.alpha = v;
        }
    }
    if let Some(l) = &mut c.lora {
        if let Some(v) = &o.base {
            l.base = v.clone();
        }
        if let Some(v) = o.rank {
            l.rank = v;
        }
        if let Some(v) = o.lora_alpha {
            l.alpha = v;
        }
        if let Some(v) = &o.target_modules {
            l.target_modules = v.clone();
        }
        if o.merge {
            l.merge = true;
        }
    }
}

/// The CPU features that decide floating-point results, recorded with each run so that a
/// replay that differs can say whether the machine did.
pub fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = vec!["x86_64"];
        for (name, on) in [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ] {
            if on {
                f.push(name);
            }
        }
        f.join(" ")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// Runs a training recipe.
pub fn train(
    lab: &Lab,
    recipe: Recipe,
    config_path: Option<&Path>,
    ov: &Overrides,
    resume: bool,
    reporter: &dyn Reporter,
) -> Result<TrainOut> {
    super::run::mark_dead_runs(lab)?;
    let mut loaded = config::load(&lab.project, Some(recipe), config_path)?;
    apply(&mut loaded.config, ov);
    let shown = lab.project.display_path(&loaded.path);
    job::check(
        &loaded.config,
        &format!("{shown} (after the command-line overrides)"),
    )?;
    if ov.reuse && !resume && ov.init_from.is_none() {
        if let Some(out) = reuse::reuse(lab, recipe, config_path, ov)? {
            return Ok(out);
        }
    }
    let cfg = loaded.config.clone();
    let seed = cfg.train.seed.unwrap_or(lab.project.config.project.seed);

    // Inputs: the dataset snapshot and the parent model.
    let rows = lab.store.read_views(|v| v.datasets())?;
    let ds = crate::dataset::resolve(&rows, &cfg.train.dataset).map_err(|e| {
        let hint = if cfg.train.dataset.ends_with("_shifted") {
            "\n  make it with `lab data synth timetables --domain shifted` then `lab data snapshot datasets/timetables_shifted`"
        } else {
            ""
        };
        anyhow!("dataset `{}` (train.dataset in {shown}): {e}{hint}", cfg.train.dataset)
    })?;
    let init = match (&ov.init_from, &cfg.train.init) {
        (Some(dir), _) => Some(import_checkpoint(lab, recipe, dir)?),
        (None, Some(r)) => {
            Some(job::load_init(lab, r, recipe.is_doc()).map_err(|e| anyhow!("{shown}: {e:#}"))?)
        }
        (None, None) => None,
    };
    let job = Job {
        recipe,
        seed,
        snap: data::snapshot(lab, ds)?,
        parent: Job::parent_of(lab, recipe, &cfg)?,
        init,
        cfg,
    };
    let data = job::load_data(lab, &job, reporter)?;
    let cfg = &job.cfg;

    // The run's record.
    let config_hash = lab.store.blobs.put(&loaded.bytes)?;
    let settings_hash = lab.store.blobs.put(&job.settings_json())?;
    let mut inputs = vec![
        DataRef {
            role: "dataset".into(),
            name: job.snap.label.clone(),
            hash: job.snap.manifest,
        },
        DataRef {
            role: "config".into(),
            name: shown.clone(),
            hash: config_hash,
        },
        DataRef {
            role: "settings".into(),
            name: "effective settings (config + overrides)".into(),
            hash: settings_hash,
        },
    ];
    for (role, p) in job.parents() {
        inputs.push(DataRef {
            role: role.to_string(),
            name: p.name().to_string(),
            hash: p.hash(),
        });
    }
    let mut params = flatten(cfg);
    params.insert("seed".into(), seed.to_string());
    params.extend(ov.tags.clone());
    let resume_from = if resume {
        Some(find_checkpoint(
            lab,
            recipe,
            &cfg.train.output,
            &inputs,
            &params,
        )?)
    } else {
        None
    };
    if let Some((run, _)) = &resume_from {
        params.insert("resumed_from".into(), run.clone());
    }
    params.insert("host.cpu".into(), cpu_features());
    let run_id = super::run::new_run_id(&cfg.train.output);
    let pid = std::process::id();
    lab.append(vec![Event::RunStarted {
        run: run_id.clone(),
        name: cfg.train.output.clone(),
        experiment: lab.project.config.project.experiment.clone(),
        recipe: recipe.id().into(),
        params,
        inputs,
        seed: Some(seed),
        pid,
        host: host(),
        pid_start: process_start(pid).unwrap_or(0),
    }])?;

    let t0 = Instant::now();
    let result = (|| -> Result<(Trained, u64)> {
        let checkpoint = match &resume_from {
            Some((_, h)) => Some(lab.store.blobs.get(h)?),
            None => None,
        };
        let mut obs = observe::LogObserver::new(lab, &run_id, reporter, cfg.train.epochs);
        let trained = job::fit(&job, &data, checkpoint.as_deref(), &mut obs);
        obs.finish()?;
        Ok((trained?, obs.steps))
    })();
    let (trained, steps) = match result {
        Ok(x) => x,
        Err(e) => {
            lab.append(vec![Event::RunFinished {
                run: run_id.clone(),
                status: RunStatus::Failed,
                outputs: Vec::new(),
                error: Some(format!("{e:#}")),
            }])?;
            return Err(e.context(format!("run {run_id} failed")));
        }
    };
    let seconds = t0.elapsed().as_secs_f64();

    // The model bundle(s).
    let (model, merged) = job::outputs(&job, &data, &trained)?;
    let hash = model.save(lab)?;
    let merged_hash = merged.as_ref().map(|m| m.save(lab)).transpose()?;
    let output = cfg.train.output.clone();
    let (_, (model_name, merged_name)) = lab.append_with(|v| {
        let registry = v.registry()?;
        let name = format!("{output}@{}", models::next_version(&registry, &output));
        let mut outs = vec![DataRef {
            role: "model".into(),
            name: name.clone(),
            hash,
        }];
        let mut merged_name = None;
        if let Some(mh) = merged_hash {
            let mo = format!("{output}_merged");
            let n = format!("{mo}@{}", models::next_version(&registry, &mo));
            outs.push(DataRef {
                role: "model".into(),
                name: n.clone(),
                hash: mh,
            });
            merged_name = Some(n);
        }
        Ok((
            vec![Event::RunFinished {
                run: run_id.clone(),
                status: RunStatus::Finished,
                outputs: outs,
                error: None,
            }],
            (name, merged_name),
        ))
    })?;
    let last = trained.last.as_ref();
    Ok(TrainOut {
        run: run_id,
        recipe: recipe.id().into(),
        model: model_name,
        model_hash: hash,
        dataset: job.snap.label.clone(),
        params: trained.total_params,
        trainable_params: trained.trainable_params,
        trainable_fraction: trained.trainable_params as f64 / trained.total_params.max(1) as f64,
        weights_bytes: trained.weights.len() as u64,
        merged: merged_name,
        epochs: cfg.train.epochs,
        steps,
        seconds,
        samples_per_s: (steps as f64 * cfg.train.batch_size as f64)
            .min(data.train_len() as f64 * cfg.train.epochs as f64)
            / seconds.max(1e-9),
        val_accuracy: last.map_or(0.0, |l| l.metric("accuracy")),
        val_cer: last.map_or(0.0, |l| l.metric("cer")),
        val_loss: last.map_or(0.0, |l| l.val_loss),
        resumed_from: resume_from.map(|r| r.0),
        val: last.map_or_else(BTreeMap::new, |l| {
            l.val.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        }),
        cached: false,
    })
}

/// Imports a local Hugging Face checkpoint directory (`config.json`, `model.safetensors`,
/// `tokenizer.json`) as a model bundle in the blob store, so the run records it as an input
/// and a replay finds it without the directory.
fn import_checkpoint(lab: &Lab, recipe: Recipe, dir: &Path) -> Result<Parent> {
    if recipe != Recipe::DocBase {
        bail!(
            "--init-from works with `lab train doc-base` (a Llama checkpoint): lab's OCR family is \
             its own CTC transformer, not TrOCR, so there is no Hugging Face layout to start it from"
        );
    }
    if !dir.is_dir() {
        bail!(
            "--init-from {}: not a directory — give a Hugging Face checkpoint directory with \
             config.json, model.safetensors and tokenizer.json",
            dir.display()
        );
    }
    let mut files = Vec::new();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        let p = dir.join(f);
        let bytes = std::fs::read(&p).map_err(|e| {
            anyhow!(
                "--init-from: {}: {e} — a checkpoint directory needs config.json, \
                 model.safetensors and tokenizer.json",
                p.display()
            )
        })?;
        files.push((f, bytes));
    }
    crate::ml::doc::model::load(&files[0].1, &files[1].1, &files[2].1, None)
        .map_err(|e| anyhow!("--init-from {}: {e}", dir.display()))?;
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
    let hash = models::save(&lab.store.blobs, "doc", &refs, None)?;
    let name = format!("checkpoint {}", dir.display());
    load_bundle(lab, &name, hash, None)
}

/// Every effective setting as a flat `section.key` map (recorded as the run's params).
fn flatten(c: &config::RecipeConfig) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let v = serde_json::to_value(c).expect("config serialises");
    if let serde_json::Value::Object(sections) = v {
        for (s, body) in sections {
            if let serde_json::Value::Object(kv) = body {
                for (k, x) in kv {
                    let val = match x {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => continue,
                        other => other.to_string(),
                    };
                    out.insert(format!("{s}.{k}"), val);
                }
            }
        }
    }
    out
}

/// The newest interrupted run of the same recipe, output and inputs with a checkpoint.
fn find_checkpoint(
    lab: &Lab,
    recipe: Recipe,
    output: &str,
    inputs: &[DataRef],
    params: &BTreeMap<String, String>,
) -> Result<(String, Hash)> {
    let runs: Vec<RunRow> = lab.store.read_views(|v| v.runs_all())?;
    // A run already carried to the end by a resumed run is not resumed twice.
    let done: Vec<&str> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .filter_map(|r| r.params.get("resumed_from").map(String::as_str))
        .collect();
    let mut cands: Vec<&RunRow> = runs
        .iter()
        .filter(|r| r.recipe == recipe.id() && r.name == output && !done.contains(&r.id.as_str()))
        .filter(|r| matches!(r.status, RunStatus::Killed | RunStatus::Failed))
        .filter(|r| {
            r.artifacts
                .iter()
                .any(|a| a.name.starts_with("checkpoint/"))
        })
        .collect();
    cands.sort_by_key(|r| r.started_seq);
    let Some(r) = cands.last() else {
        bail!(
            "nothing to resume: no interrupted {} run of `{output}` left a checkpoint — run without --resume",
            recipe.id()
        );
    };
    let same_inputs = r
        .inputs
        .iter()
        .map(|d| d.hash)
        .eq(inputs.iter().map(|d| d.hash));
    let mut theirs = r.params.clone();
    // Not settings: where the run came from and the machine it ran on.
    theirs.remove("resumed_from");
    theirs.remove("host.cpu");
    if !same_inputs || &theirs != params {
        bail!(
            "cannot resume run {}: it used other inputs or settings (dataset, config, parent model or \
             overrides differ) — rerun with the same ones, or without --resume",
            r.id
        );
    }
    let ck = r
        .artifacts
        .iter()
        .rfind(|a| a.name.starts_with("checkpoint/"))
        .unwrap();
    Ok((r.id.clone(), ck.hash))
}
