//! `lab deploy`: a model version into an environment behind the gates of
//! `configs/deploy.toml` — evaluate it on the validation snapshot (`lab eval`'s evaluation for
//! OCR models, the document evaluation for document models, the pair end to end for
//! `[extraction]`, the run's recorded metrics for other models), record each gate's result,
//! deploy only if all of its task's gates pass. `status` and `history` read the deployments and
//! the log; `rollback` goes back to what the task was served by before; `--dry-run` checks
//! without deploying (what the pre-push hook and CI run).
//!
//! An environment serves one model per task ([`crate::models::serving`]): deploying
//! `ocr_lora@1` where `ocr_student@1` served OCR records `Undeployed` for the student, and the
//! regression gate compares with what was served, whatever its name. Deploying to
//! `production` also moves the version to the registry's Production stage (archiving the name's
//! earlier Production version), so the registry never calls another version of the name
//! production.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::eval::On;
use crate::deploy::{self, DeployConfig, Task};
use crate::event::{Event, GateResult, Hash, Stage};
use crate::lab::Lab;
use crate::models::{self, Served};
use crate::progress::Reporter;
use crate::store::VersionRow;
use crate::store::views::Query;

mod check;
mod status;
pub use check::{DryRun, GateCheck, dry_run};
pub use status::{
    HistoryRow, RollbackOut, StatusRow, history, history_text, rollback, status, status_text,
};

/// A parsed gates file and how to name it in messages.
pub struct Config {
    pub cfg: DeployConfig,
    /// `configs/deploy.toml`, or the `--config` file as given.
    pub shown: String,
}

/// Reads `path`, or configs/deploy.toml (written from the embedded default when missing).
pub fn load_config(lab: &Lab, path: Option<&Path>) -> Result<Config> {
    let p: PathBuf = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let p = lab.project.configs_dir().join(deploy::FILE);
            if !p.exists() {
                std::fs::create_dir_all(lab.project.configs_dir())?;
                std::fs::write(&p, deploy::DEFAULT)
                    .with_context(|| format!("cannot write {}", p.display()))?;
                eprintln!("wrote the default {}", lab.project.display_path(&p));
            }
            p
        }
    };
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(Config {
        cfg: DeployConfig::parse(&p, &text)?,
        shown: lab.project.display_path(&p),
    })
}

pub(crate) fn check_env(env: &str) -> Result<()> {
    if env.is_empty()
        || !env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        bail!("bad environment `{env}`: use letters, digits, `_` and `-` (e.g. production)");
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct DeployOut {
    pub env: String,
    pub model: String,
    pub version: u32,
    pub hash: Hash,
    pub task: Task,
    /// The gates file used.
    pub config: String,
    pub dataset: String,
    pub split: String,
    /// What the regression gate compared with.
    pub baseline: Option<String>,
    /// The model of the same task the environment served before, now replaced.
    pub replaced: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub gates: Vec<GateResult>,
    /// What could not be checked (e.g. `[extraction]` with no model to pair with).
    pub notes: Vec<String>,
    pub passed: bool,
    pub deployed: bool,
    /// Already the deployed version: nothing was evaluated or recorded.
    pub unchanged: bool,
}

impl DeployOut {
    pub fn text(&self) -> String {
        let label = format!("{}@{}", self.model, self.version);
        if self.unchanged {
            return format!(
                "{label} is already deployed in {} — nothing to do",
                self.env
            );
        }
        let mut s = format!(
            "{label} ({} model) on {} ({}){}, gates of {}\n{}\n",
            self.task.noun(),
            self.dataset,
            self.split,
            self.baseline
                .as_deref()
                .map(|b| format!(", compared with {b}"))
                .unwrap_or_default(),
            self.config,
            deploy::table(&self.gates)
        );
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        if self.deployed {
            s.push_str(&format!("deployed {label} to {}", self.env));
            if let Some(r) = &self.replaced {
                s.push_str(&format!(
                    " (it replaces {r}, which no longer serves {} there)",
                    self.task.as_str()
                ));
            }
        } else {
            let failed = self.gates.iter().filter(|g| !g.passed).count();
            s.push_str(&format!(
                "NOT deployed: {failed} of {} gates failed ({})",
                self.gates.len(),
                self.config
            ));
        }
        s
    }
}

/// A version's task (from its bundle's kind).
pub(crate) fn task_of(lab: &Lab, v: &VersionRow) -> Result<Task> {
    Ok(Task::of_kind(
        &models::bundle(&lab.store.blobs, &v.model)?.kind,
    ))
}

/// The final metrics the run of `v` recorded (what `[other]` gates read).
fn run_metrics(lab: &Lab, v: &VersionRow) -> Result<BTreeMap<String, f64>> {
    let Some(run) = &v.run else {
        return Ok(BTreeMap::new());
    };
    let row = lab.store.read_views(|q| q.run(run))?;
    Ok(row
        .map(|r| r.latest.into_iter().map(|(k, p)| (k, p.value)).collect())
        .unwrap_or_default())
}

/// Evaluates `label` (of `task`) on the validation snapshot; metrics keyed without the split
/// prefix, with the gate names `accuracy` and `latency` (seconds) added.
fn measure(
    lab: &Lab,
    v: &VersionRow,
    task: Task,
    cfg: &DeployConfig,
    reporter: &dyn Reporter,
) -> Result<(BTreeMap<String, f64>, String)> {
    let val = &cfg.validation;
    let on = On {
        dataset: val.dataset.as_deref(),
        split: &val.split,
        limit: val.limit,
    };
    let label = v.label();
    let mut m = BTreeMap::new();
    let dataset;
    match task {
        Task::Doc => {
            let e = super::extract::eval_doc(lab, &label, &on, val.noise, reporter)?;
            dataset = e.dataset.clone();
            for (k, x) in [
                ("field_f1", e.field_f1),
                ("exact", e.exact),
                ("invalid", e.invalid),
                ("cells_per_s", e.cells_per_s),
                ("accuracy", e.exact),
                ("latency", 1.0 / e.cells_per_s.max(1e-9)),
            ] {
                m.insert(k.to_string(), x);
            }
            for f in &e.fields {
                m.insert(format!("{}.f1", f.field), f.f1);
            }
        }
        Task::Ocr => {
            let e = super::eval::eval(lab, &label, &on, reporter)?;
            dataset = e.dataset.clone();
            for (k, x) in [
                ("accuracy", e.accuracy),
                ("cer", e.cer),
                ("char_f1", e.char_f1),
                ("latency_p50_ms", e.latency_p50_ms),
                ("latency_p95_ms", e.latency_p95_ms),
                ("lines_per_s", e.lines_per_s),
                ("latency", e.latency_p95_ms / 1e3),
            ] {
                m.insert(k.to_string(), x);
            }
        }
        Task::Other => {
            dataset = format!(
                "the metrics of its run {}",
                v.run.as_deref().map_or("(none)", |r| &r[..r.len().min(8)])
            );
            m = run_metrics(lab, v)?;
        }
    }
    Ok((m, dataset))
}

/// The pair end to end (`[extraction]`): `v` with the other model `env` serves (else the
/// default model of that task), on the validation split's images. `Err(note)` inside `Ok` when
/// there is no model to pair with: the gates are not checked, and the output says so.
fn measure_extraction(
    lab: &Lab,
    v: &VersionRow,
    task: Task,
    env: &str,
    cfg: &DeployConfig,
    reporter: &dyn Reporter,
) -> Result<std::result::Result<BTreeMap<String, f64>, String>> {
    let e = cfg
        .extraction_gates()
        .expect("called only with [extraction] gates");
    let other = match task {
        Task::Ocr => Task::Doc,
        _ => Task::Ocr,
    };
    let partner = match models::served(&lab.store, env, other)? {
        Some(s) => s.label(),
        None => {
            let fallback = match other {
                Task::Doc => super::extract::DEFAULT_DOC,
                _ => super::extract::DEFAULT_OCR,
            };
            let (p, _) = models::default_model(&lab.store, other, fallback)?;
            if models::resolve_in(&lab.store, &p).is_err() {
                return Ok(Err(format!(
                    "[extraction] gates not checked: there is no {} model to pair {} with \
                     (none served in {env}, no `{fallback}`)",
                    other.noun(),
                    v.label()
                )));
            }
            p
        }
    };
    let partner = Some(partner);
    let label = v.label();
    let (ocr, doc) = match task {
        Task::Ocr => (Some(label.as_str()), partner.as_deref()),
        _ => (partner.as_deref(), Some(label.as_str())),
    };
    let on = On {
        dataset: cfg.validation.dataset.as_deref(),
        split: &cfg.validation.split,
        limit: e.limit,
    };
    // A dry run of both served models measures the same pair twice: once is enough.
    static PAIRS: std::sync::Mutex<BTreeMap<String, BTreeMap<String, f64>>> =
        std::sync::Mutex::new(BTreeMap::new());
    let key = format!("{ocr:?}|{doc:?}|{:?}|{}|{}", on.dataset, on.split, on.limit);
    if let Some(m) = PAIRS.lock().ok().and_then(|p| p.get(&key).cloned()) {
        return Ok(Ok(m));
    }
    let r = super::extract::eval_extract(lab, &on, ocr, doc, reporter)
        .context("the end-to-end evaluation of the [extraction] gates")?;
    let mut m = BTreeMap::new();
    for (k, x) in [
        ("entry_f1", r.entry_f1),
        ("entry_precision", r.entry_precision),
        ("entry_recall", r.entry_recall),
        ("field_f1", r.field_f1),
        ("failed", r.failed as f64),
        ("invalid", r.invalid as f64),
        ("latency_p50_ms", r.latency_p50_ms),
        ("latency_p95_ms", r.latency_p95_ms),
        ("latency_per_page", r.latency_p95_ms / 1e3),
    ] {
        m.insert(k.to_string(), x);
    }
    if let Ok(mut p) = PAIRS.lock() {
        p.insert(key, m.clone());
    }
    Ok(Ok(m))
}

/// What a candidate's gates say, measured but not recorded as a deployment.
pub(crate) struct Judged {
    pub metrics: BTreeMap<String, f64>,
    pub gates: Vec<GateResult>,
    pub dataset: String,
    pub baseline: Option<String>,
    /// What could not be checked, said.
    pub notes: Vec<String>,
}

/// Checks that `cfg` can judge a `task` model, before anything is measured.
fn check_judgeable(
    lab: &Lab,
    conf: &Config,
    v: &VersionRow,
    task: Task,
    has_baseline: bool,
) -> Result<()> {
    let cfg = &conf.cfg;
    let extraction = task != Task::Other && cfg.extraction_gates().is_some();
    let Some(g) = cfg.task(task) else {
        if extraction {
            return Ok(());
        }
        bail!(
            "{} has no {} gates, so {} ({} model) would go out unchecked — add a {} section with \
             at least one [[{}.gate]] (e.g. metric = \"{}\", op = \">\", threshold = 0.9)",
            conf.shown,
            DeployConfig::section(task),
            v.label(),
            task.noun(),
            DeployConfig::section(task),
            task.as_str(),
            match task {
                Task::Doc => "field_f1",
                Task::Ocr => "accuracy",
                Task::Other => "val_accuracy",
            }
        );
    };
    let recorded: Vec<String> = if task == Task::Other {
        run_metrics(lab, v)?.into_keys().collect()
    } else {
        Vec::new()
    };
    if let Some((m, section, known)) = cfg.unknown_metric(task, &recorded) {
        bail!(
            "{} names metric `{m}` under {section}, which {} does not measure — use one of: {}",
            conf.shown,
            if section == "[extraction]" {
                "the end-to-end evaluation".to_string()
            } else if task == Task::Other {
                format!("the run of {}", v.label())
            } else {
                format!("the validation of a {} model", task.noun())
            },
            if known.is_empty() {
                "(its run recorded no metrics)".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    if g.gates.is_empty() && !has_baseline && !extraction {
        bail!(
            "{} has only max_regression under {}, and {} serves no {} model to compare with, so \
             {} would go out unchecked — add a [[{}.gate]]",
            conf.shown,
            DeployConfig::section(task),
            "the environment",
            task.noun(),
            v.label(),
            task.as_str()
        );
    }
    Ok(())
}

/// Measures `v` and judges it against its task's gates (and `[extraction]`'s), comparing with
/// `baseline` for the regression gate.
pub(crate) fn judge(
    lab: &Lab,
    conf: &Config,
    v: &VersionRow,
    task: Task,
    env: &str,
    baseline: Option<&VersionRow>,
    reporter: &dyn Reporter,
) -> Result<Judged> {
    let cfg = &conf.cfg;
    let (mut metrics, dataset) = measure(lab, v, task, cfg, reporter)?;
    let has_regression = cfg.task(task).is_some_and(|g| g.max_regression.is_some());
    let base_value = match (has_regression, baseline) {
        (true, Some(b)) => {
            let (m, _) = measure(lab, b, task, cfg, reporter)?;
            m.get(&cfg.regression_key(task)).copied()
        }
        _ => None,
    };
    let mut gates = cfg.check(task, &metrics, base_value);
    let mut notes = Vec::new();
    if task != Task::Other && cfg.extraction_gates().is_some() {
        match measure_extraction(lab, v, task, env, cfg, reporter)? {
            Ok(m) => {
                gates.extend(cfg.check_extraction(&m));
                metrics.extend(m.into_iter().map(|(k, x)| (format!("extraction.{k}"), x)));
            }
            Err(note) => notes.push(note),
        }
    }
    Ok(Judged {
        metrics,
        gates,
        dataset,
        baseline: baseline.filter(|_| has_regression).map(VersionRow::label),
        notes,
    })
}

/// The version the regression gate compares with: what `env` serves for the task, else the
/// name's newest production-stage version.
fn baseline_of(reg: &[VersionRow], current: Option<&Served>, v: &VersionRow) -> Option<VersionRow> {
    match current {
        Some(c) => reg
            .iter()
            .find(|r| r.name == c.model && r.version == c.version)
            .cloned(),
        None => reg
            .iter()
            .filter(|r| r.name == v.name && r.stage == Stage::Production && r.version != v.version)
            .max_by_key(|r| r.version)
            .cloned(),
    }
}

/// Deploys `reference` to `env` if every gate of its task passes (see the module doc).
pub fn deploy(
    lab: &Lab,
    reference: &str,
    env: &str,
    config: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<DeployOut> {
    check_env(env)?;
    let conf = load_config(lab, config)?;
    let reg = lab.store.read_views(|v| v.registry())?;
    let v = models::resolve_version(&reg, reference)
        .map_err(|e| anyhow!("cannot deploy `{reference}`: {e}"))?
        .clone();
    let task = task_of(lab, &v)?;
    let slot = models::serving::slot(task, &v.name);
    let current = models::serving(&lab.store, Some(env))?
        .into_iter()
        .find(|s| s.slot() == slot);
    let mut out = DeployOut {
        env: env.to_string(),
        model: v.name.clone(),
        version: v.version,
        hash: v.model,
        task,
        config: conf.shown.clone(),
        dataset: String::new(),
        split: conf.cfg.validation.split.clone(),
        baseline: None,
        replaced: None,
        metrics: BTreeMap::new(),
        gates: Vec::new(),
        notes: Vec::new(),
        passed: true,
        deployed: false,
        unchanged: false,
    };
    if current
        .as_ref()
        .is_some_and(|d| d.model == v.name && d.version == v.version)
    {
        out.unchanged = true;
        return Ok(out);
    }
    let baseline = baseline_of(&reg, current.as_ref(), &v);
    check_judgeable(lab, &conf, &v, task, baseline.is_some())?;
    if task != Task::Other {
        // Fail on a missing validation snapshot before anything is recorded.
        super::eval::snapshot_of(
            lab,
            &On {
                dataset: conf.cfg.validation.dataset.as_deref(),
                split: &conf.cfg.validation.split,
                limit: 0,
            },
        )
        .with_context(|| format!("the validation snapshot of {}", conf.shown))?;
    }
    lab.append(vec![Event::DeploymentRequested {
        env: env.to_string(),
        model: v.name.clone(),
        version: v.version,
    }])?;
    let j = judge(lab, &conf, &v, task, env, baseline.as_ref(), reporter)?;
    let passed = j.gates.iter().all(|g| g.passed);
    let mut events = vec![Event::DeploymentValidated {
        env: env.to_string(),
        model: v.name.clone(),
        version: v.version,
        gates: j.gates.clone(),
        passed,
    }];
    if passed {
        if let Some(c) = current.as_ref().filter(|c| c.model != v.name) {
            events.push(Event::Undeployed {
                env: env.to_string(),
                model: c.model.clone(),
                version: c.version,
                reason: format!("replaced by {}", v.label()),
            });
            out.replaced = Some(c.label());
        }
        events.push(Event::Deployed {
            env: env.to_string(),
            model: v.name.clone(),
            version: v.version,
        });
        if env == "production" {
            events.extend(production_stage(&reg, &v));
        }
    }
    lab.append(events)?;
    out.dataset = j.dataset;
    out.baseline = j.baseline;
    out.metrics = j.metrics;
    out.gates = j.gates;
    out.notes = j.notes;
    out.passed = passed;
    out.deployed = passed;
    Ok(out)
}

/// The registry events that make `v` its name's Production version (archiving the earlier one).
pub(crate) fn production_stage(reg: &[VersionRow], v: &VersionRow) -> Vec<Event> {
    let mut events: Vec<Event> = reg
        .iter()
        .filter(|r| r.name == v.name && r.version != v.version && r.stage == Stage::Production)
        .map(|r| Event::ModelPromoted {
            name: r.name.clone(),
            version: r.version,
            stage: Stage::Archived,
        })
        .collect();
    if reg
        .iter()
        .any(|r| r.name == v.name && r.version == v.version && r.stage != Stage::Production)
    {
        events.push(Event::ModelPromoted {
            name: v.name.clone(),
            version: v.version,
            stage: Stage::Production,
        });
    }
    events
}
