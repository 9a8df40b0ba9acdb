//! `lab deploy --dry-run`: the gates checked without deploying — a candidate as `lab deploy`
//! would judge it, or (no candidate) every model the environment serves, re-evaluated. The
//! pre-push hook and CI run the second. Evaluations are recorded (`Evaluated`); no deployment
//! event is.

use std::path::Path;

use anyhow::{Result, anyhow};
use serde::Serialize;

use super::{Config, baseline_of, check_env, check_judgeable, judge, load_config, task_of};
use crate::deploy::{self, Task};
use crate::event::GateResult;
use crate::lab::Lab;
use crate::models;
use crate::progress::Reporter;
use crate::store::views::Query;

/// One model judged by the gates.
#[derive(Debug, Serialize)]
pub struct GateCheck {
    /// `NAME@N`.
    pub model: String,
    pub task: Task,
    /// What the regression gate compared with.
    pub baseline: Option<String>,
    pub gates: Vec<GateResult>,
    pub passed: bool,
    /// Why it could not be judged, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What could not be checked.
    pub notes: Vec<String>,
}

/// What `lab deploy --dry-run` found.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub env: String,
    /// The gates file used.
    pub config: String,
    pub checks: Vec<GateCheck>,
    pub passed: bool,
}

impl DryRun {
    pub fn text(&self) -> String {
        if self.checks.is_empty() {
            return format!(
                "{} serves no model: no deployment gates to check ({})",
                self.env, self.config
            );
        }
        let mut s = String::new();
        for c in &self.checks {
            s.push_str(&format!(
                "{} ({} model) in {}{}:\n{}\n\n",
                c.model,
                c.task.noun(),
                self.env,
                c.baseline
                    .as_deref()
                    .map(|b| format!(", compared with {b}"))
                    .unwrap_or_default(),
                c.note.clone().unwrap_or_else(|| deploy::table(&c.gates))
            ));
            for n in &c.notes {
                s.push_str(&format!("note: {n}\n\n"));
            }
        }
        let failed: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.model.as_str())
            .collect();
        if failed.is_empty() {
            s.push_str(&format!(
                "dry run: every gate of {} passes — nothing was deployed",
                self.config
            ));
        } else {
            s.push_str(&format!(
                "dry run: {} fails the gates of {} — nothing was deployed",
                failed.join(", "),
                self.config
            ));
        }
        s
    }
}

/// Checks `candidate` (as `lab deploy CANDIDATE --env ENV` would), or everything `env` serves.
pub fn dry_run(
    lab: &Lab,
    env: &str,
    candidate: Option<&str>,
    config: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<DryRun> {
    check_env(env)?;
    let conf = load_config(lab, config)?;
    let reg = lab.store.read_views(|v| v.registry())?;
    let serving = models::serving(&lab.store, Some(env))?;
    let mut checks = Vec::new();
    match candidate {
        Some(reference) => {
            let v = models::resolve_version(&reg, reference)
                .map_err(|e| anyhow!("cannot check `{reference}`: {e}"))?
                .clone();
            let task = task_of(lab, &v)?;
            let slot = models::serving::slot(task, &v.name);
            let current = serving.iter().find(|s| s.slot() == slot);
            let baseline = baseline_of(&reg, current, &v)
                .filter(|b| !(b.name == v.name && b.version == v.version));
            check_judgeable(lab, &conf, &v, task, baseline.is_some())?;
            checks.push(one(lab, &conf, &v, task, env, baseline.as_ref(), reporter)?);
        }
        None => {
            for s in &serving {
                let Some(v) = reg
                    .iter()
                    .find(|r| r.name == s.model && r.version == s.version)
                else {
                    continue;
                };
                if conf.cfg.task(s.task).is_none()
                    && (s.task == Task::Other || conf.cfg.extraction_gates().is_none())
                {
                    checks.push(GateCheck {
                        model: s.label(),
                        task: s.task,
                        baseline: None,
                        gates: Vec::new(),
                        passed: false,
                        note: Some(format!(
                            "{} has no {} gates to judge a {} model by — add them",
                            conf.shown,
                            crate::deploy::DeployConfig::section(s.task),
                            s.task.noun()
                        )),
                        notes: Vec::new(),
                    });
                    continue;
                }
                checks.push(one(lab, &conf, v, s.task, env, None, reporter)?);
            }
        }
    }
    let passed = checks.iter().all(|c| c.passed);
    Ok(DryRun {
        env: env.to_string(),
        config: conf.shown,
        checks,
        passed,
    })
}

fn one(
    lab: &Lab,
    conf: &Config,
    v: &crate::store::VersionRow,
    task: Task,
    env: &str,
    baseline: Option<&crate::store::VersionRow>,
    reporter: &dyn Reporter,
) -> Result<GateCheck> {
    let j = judge(lab, conf, v, task, env, baseline, reporter).map_err(|e| {
        anyhow!(
            "re-evaluating {} for the deployment gates: {e:#}",
            v.label()
        )
    })?;
    let passed = j.gates.iter().all(|g| g.passed);
    Ok(GateCheck {
        model: v.label(),
        task,
        baseline: j.baseline,
        gates: j.gates,
        passed,
        note: None,
        notes: j.notes,
    })
}
