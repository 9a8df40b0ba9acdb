//! `lab deploy`: a model version into an environment behind the gates of
//! `configs/deploy.toml` — evaluate it on the validation snapshot (`lab eval`'s evaluation for
//! OCR models, the document evaluation for document models), record each gate's result, deploy
//! only if all pass. `status` and `history` read the deployments view and the log; `rollback`
//! goes back to the version deployed before.
//!
//! An environment holds one deployed version per model name (`production` may run `ocr_lora@3`
//! and `doc_base@2` side by side); the regression gate compares with the version of the same
//! name deployed there (or, when none is, the name's production-stage version).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::eval::On;
use crate::deploy::{self, DeployConfig};
use crate::event::{Event, GateResult, Hash, Stage};
use crate::lab::Lab;
use crate::models;
use crate::progress::Reporter;
use crate::store::views::Query;

mod status;
pub use status::{
    HistoryRow, RollbackOut, StatusRow, history, history_text, rollback, status, status_text,
};

/// Reads `path`, or configs/deploy.toml (written from the embedded default when missing).
pub fn load_config(lab: &Lab, path: Option<&Path>) -> Result<DeployConfig> {
    let p = match path {
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
    Ok(DeployConfig::parse(&p, &text)?)
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
    pub dataset: String,
    pub split: String,
    /// What the regression gate compared with.
    pub baseline: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub gates: Vec<GateResult>,
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
            "{label} on {} ({}){}\n{}\n",
            self.dataset,
            self.split,
            self.baseline
                .as_deref()
                .map(|b| format!(", compared with {b}"))
                .unwrap_or_default(),
            deploy::table(&self.gates)
        );
        if self.deployed {
            s.push_str(&format!("deployed {label} to {}", self.env));
        } else {
            let failed = self.gates.iter().filter(|g| !g.passed).count();
            s.push_str(&format!(
                "NOT deployed: {failed} of {} gates failed (configs/deploy.toml)",
                self.gates.len()
            ));
        }
        s
    }
}

/// Evaluates `label` on the validation snapshot; metrics keyed without the split prefix, with
/// the gate names `accuracy` and `latency` (seconds) added.
fn measure(
    lab: &Lab,
    label: &str,
    doc: bool,
    cfg: &DeployConfig,
    reporter: &dyn Reporter,
) -> Result<(BTreeMap<String, f64>, String)> {
    let v = &cfg.validation;
    let on = On {
        dataset: v.dataset.as_deref(),
        split: &v.split,
        limit: v.limit,
    };
    let mut m = BTreeMap::new();
    let dataset;
    if doc {
        let e = super::extract::eval_doc(lab, label, &on, v.noise, reporter)?;
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
    } else {
        let e = super::eval::eval(lab, label, &on, reporter)?;
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
    Ok((m, dataset))
}

/// Deploys `reference` to `env` if every gate passes (see the module doc).
pub fn deploy(
    lab: &Lab,
    reference: &str,
    env: &str,
    config: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<DeployOut> {
    check_env(env)?;
    let cfg = load_config(lab, config)?;
    let (reg, deps) = lab
        .store
        .read_views(|v| Ok((v.registry()?, v.deployments()?)))?;
    let v = models::resolve_version(&reg, reference)
        .map_err(|e| anyhow!("cannot deploy `{reference}`: {e}"))?
        .clone();
    let current = deps.iter().find(|d| d.env == env && d.model == v.name);
    let mut out = DeployOut {
        env: env.to_string(),
        model: v.name.clone(),
        version: v.version,
        hash: v.model,
        dataset: String::new(),
        split: cfg.validation.split.clone(),
        baseline: None,
        metrics: BTreeMap::new(),
        gates: Vec::new(),
        passed: true,
        deployed: false,
        unchanged: false,
    };
    if current.is_some_and(|d| d.version == v.version) {
        out.unchanged = true;
        return Ok(out);
    }
    let doc = models::bundle(&lab.store.blobs, &v.model)?
        .kind
        .starts_with("doc");
    if let Some((m, known)) = cfg.unknown_metric(doc) {
        bail!(
            "configs/deploy.toml names metric `{m}`, which the validation of a {} model does not measure — use one of: {}",
            if doc { "document" } else { "OCR" },
            known.join(", ")
        );
    }
    let baseline = current.map(|d| d.version).or_else(|| {
        reg.iter()
            .filter(|r| r.name == v.name && r.stage == Stage::Production && r.version != v.version)
            .map(|r| r.version)
            .max()
    });
    if cfg.gates.is_empty() && baseline.is_none() {
        bail!(
            "configs/deploy.toml has only max_regression, and {} has no deployed or production version to compare with, so {} would go out unchecked — add a [[gate]] (e.g. metric = \"accuracy\", op = \">\", threshold = 0.90)",
            v.name,
            v.label()
        );
    }
    // Fail on a missing validation snapshot before anything is recorded.
    super::eval::snapshot_of(
        lab,
        &On {
            dataset: cfg.validation.dataset.as_deref(),
            split: &cfg.validation.split,
            limit: 0,
        },
    )
    .context("the validation snapshot of configs/deploy.toml")?;
    let label = v.label();
    lab.append(vec![Event::DeploymentRequested {
        env: env.to_string(),
        model: v.name.clone(),
        version: v.version,
    }])?;
    let (metrics, dataset) = measure(lab, &label, doc, &cfg, reporter)?;
    let base_value = match (cfg.max_regression, baseline) {
        (Some(_), Some(b)) => {
            let bl = format!("{}@{b}", v.name);
            let (m, _) = measure(lab, &bl, doc, &cfg, reporter)?;
            out.baseline = Some(bl);
            let key = cfg.regression_metric.clone();
            let key = key
                .strip_prefix(&format!("{}.", cfg.validation.split))
                .unwrap_or(&key);
            m.get(key).copied()
        }
        _ => None,
    };
    let gates = cfg.check(&metrics, base_value);
    let passed = gates.iter().all(|g| g.passed);
    let mut events = vec![Event::DeploymentValidated {
        env: env.to_string(),
        model: v.name.clone(),
        version: v.version,
        gates: gates.clone(),
        passed,
    }];
    if passed {
        events.push(Event::Deployed {
            env: env.to_string(),
            model: v.name.clone(),
            version: v.version,
        });
    }
    lab.append(events)?;
    out.dataset = dataset;
    out.metrics = metrics;
    out.gates = gates;
    out.passed = passed;
    out.deployed = passed;
    Ok(out)
}

/// A model deployed to production, re-checked against the gates of configs/deploy.toml.
#[derive(Debug, Serialize)]
pub struct GateCheck {
    /// `NAME@N`.
    pub model: String,
    pub gates: Vec<GateResult>,
    pub passed: bool,
}

/// Re-evaluates every model version deployed to `production` (or, where nothing is deployed
/// there, in the registry's Production stage) against the gates of configs/deploy.toml, as
/// `lab deploy` would, without deploying anything: what the pre-push hook runs. The
/// evaluations are recorded (`Evaluated`); no deployment event is.
pub fn check_production(lab: &Lab, reporter: &dyn Reporter) -> Result<Vec<GateCheck>> {
    let (reg, deps) = lab
        .store
        .read_views(|v| Ok((v.registry()?, v.deployments()?)))?;
    let mut versions: Vec<(String, u32)> = deps
        .iter()
        .filter(|d| d.env == "production")
        .map(|d| (d.model.clone(), d.version))
        .collect();
    if versions.is_empty() {
        versions = reg
            .iter()
            .filter(|r| r.stage == Stage::Production)
            .map(|r| (r.name.clone(), r.version))
            .collect();
    }
    if versions.is_empty() {
        return Ok(Vec::new());
    }
    let cfg = load_config(lab, None)?;
    let mut out = Vec::new();
    for (name, version) in versions {
        let Some(v) = reg.iter().find(|r| r.name == name && r.version == version) else {
            continue;
        };
        let doc = models::bundle(&lab.store.blobs, &v.model)?
            .kind
            .starts_with("doc");
        let label = v.label();
        let (metrics, _) = measure(lab, &label, doc, &cfg, reporter)
            .with_context(|| format!("re-evaluating {label} for the deployment gates"))?;
        let gates = cfg.check(&metrics, None);
        let passed = gates.iter().all(|g| g.passed);
        out.push(GateCheck {
            model: label,
            gates,
            passed,
        });
    }
    Ok(out)
}
