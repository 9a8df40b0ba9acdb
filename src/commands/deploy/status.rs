//! `lab deploy status|history|rollback`: what each environment runs (the deployments view),
//! the deployment events of the log, and going back to the version deployed before.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use super::check_env;
use crate::deploy::Task;
use crate::event::{Event, Hash, fmt_time};
use crate::lab::Lab;
use crate::models;
use crate::store::StoreError;
use crate::store::views::Query;

#[derive(Debug, Serialize)]
pub struct StatusRow {
    pub env: String,
    /// `ocr`, `doc` or `other`: an environment serves one model per task.
    pub task: Task,
    pub model: String,
    pub version: u32,
    pub hash: Hash,
    pub since: String,
    /// Earlier versions of the same name deployed there, oldest first.
    pub previous: Vec<u32>,
}

/// What each environment serves (or one environment): exactly what `lab serve` serves.
pub fn status(lab: &Lab, env: Option<&str>) -> Result<Vec<StatusRow>> {
    Ok(models::serving(&lab.store, env)?
        .into_iter()
        .map(|s| StatusRow {
            since: fmt_time(s.time_ns),
            env: s.env,
            task: s.task,
            model: s.model,
            version: s.version,
            hash: s.hash,
            previous: s.previous,
        })
        .collect())
}

pub fn status_text(rows: &[StatusRow]) -> String {
    if rows.is_empty() {
        return "nothing deployed yet — lab deploy NAME@V --env production".into();
    }
    let mut t =
        crate::table::Table::new(["ENV", "TASK", "MODEL", "VER", "HASH", "SINCE", "PREVIOUS"])
            .right(&[3]);
    for r in rows {
        t.row([
            r.env.to_string(),
            r.task.as_str().to_string(),
            r.model.to_string(),
            r.version.to_string(),
            r.hash.short().to_string(),
            r.since.to_string(),
            r.previous
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    t.render()
}

#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub seq: u64,
    pub time: String,
    pub env: String,
    pub model: String,
    pub version: u32,
    /// requested, validated, refused, deployed, undeployed, rolled-back.
    pub event: &'static str,
    pub detail: String,
}

/// Deployment events, newest first.
pub fn history(lab: &Lab, env: Option<&str>) -> Result<Vec<HistoryRow>> {
    let mut out = Vec::new();
    lab.store.scan_rev(|rec| {
        let (e, model, version, event, detail) = match &rec.envelope.body {
            Event::DeploymentRequested {
                env,
                model,
                version,
            } => (env, model, *version, "requested", String::new()),
            Event::DeploymentValidated {
                env,
                model,
                version,
                gates,
                passed,
            } => (
                env,
                model,
                *version,
                if *passed { "validated" } else { "refused" },
                gates
                    .iter()
                    .map(|g| {
                        format!(
                            "{} {} {} {} {}",
                            g.name,
                            g.value.map_or("?".into(), |v| format!("{v:.4}")),
                            g.op,
                            crate::report::html::fmt_value(g.threshold),
                            if g.passed { "ok" } else { "FAIL" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Event::Deployed {
                env,
                model,
                version,
            } => (env, model, *version, "deployed", String::new()),
            Event::Undeployed {
                env,
                model,
                version,
                reason,
            } => (env, model, *version, "undeployed", reason.clone()),
            Event::RolledBack {
                env,
                model,
                from_version,
                to_version,
            } => (
                env,
                model,
                *to_version,
                "rolled-back",
                format!("from {model}@{from_version}"),
            ),
            _ => return Ok(true),
        };
        if env.is_none_or(|x| x == e) {
            out.push(HistoryRow {
                seq: rec.envelope.seq,
                time: fmt_time(rec.envelope.time_ns),
                env: e.clone(),
                model: model.clone(),
                version,
                event,
                detail,
            });
        }
        Ok(true)
    })?;
    Ok(out)
}

pub fn history_text(rows: &[HistoryRow]) -> String {
    if rows.is_empty() {
        return "no deployments yet".into();
    }
    let mut s = String::new();
    for r in rows {
        s.push_str(&format!(
            "#{:<5} {}  {:<12} {:<12} {}@{}  {}\n",
            r.seq, r.time, r.env, r.event, r.model, r.version, r.detail
        ));
    }
    s.trim_end().to_string()
}

#[derive(Debug, Serialize)]
pub struct RollbackOut {
    pub env: String,
    pub task: Task,
    /// What served the task before the rollback, `NAME@N`.
    pub from: String,
    /// What serves it now.
    pub to: String,
    pub model: String,
    pub from_version: u32,
    pub to_version: u32,
}

impl RollbackOut {
    pub fn text(&self) -> String {
        format!(
            "rolled back {} in {}: {} → {}",
            self.task.as_str(),
            self.env,
            self.from,
            self.to
        )
    }
}

/// Per (environment, slot), the models deployed there in order, as rollbacks left them (the
/// last is what serves): read from the log, since what a task was served by before may be
/// another model name.
fn stacks(lab: &Lab) -> Result<Stacks> {
    let reg = lab.store.read_views(|v| v.registry())?;
    let mut kinds: HashMap<(String, u32), String> = HashMap::new();
    let mut slot_of = |model: &str, version: u32| -> Result<String> {
        let key = (model.to_string(), version);
        if !kinds.contains_key(&key) {
            let task = match reg.iter().find(|r| r.name == model && r.version == version) {
                Some(r) => Task::of_kind(&models::bundle(&lab.store.blobs, &r.model)?.kind),
                None => Task::Other,
            };
            kinds.insert(key.clone(), models::serving::slot(task, model));
        }
        Ok(kinds[&key].clone())
    };
    let mut events = Vec::new();
    lab.store.scan_rev(|rec| {
        if matches!(
            rec.envelope.body,
            Event::Deployed { .. } | Event::RolledBack { .. } | Event::Undeployed { .. }
        ) {
            events.push(rec.envelope.body.clone());
        }
        Ok(true)
    })?;
    let mut out = Stacks::new();
    for e in events.into_iter().rev() {
        match e {
            Event::Deployed {
                env,
                model,
                version,
            } => {
                let st = out.entry((env, slot_of(&model, version)?)).or_default();
                if st.last() != Some(&(model.clone(), version)) {
                    st.push((model, version));
                }
            }
            Event::RolledBack {
                env,
                model,
                from_version,
                to_version,
            } => {
                let st = out.entry((env, slot_of(&model, to_version)?)).or_default();
                if st.last() == Some(&(model.clone(), from_version)) {
                    st.pop();
                }
                if st.last() != Some(&(model.clone(), to_version)) {
                    st.push((model, to_version));
                }
            }
            Event::Undeployed {
                env,
                model,
                version,
                reason,
            } if reason.starts_with(ROLLED_BACK) => {
                let st = out.entry((env, slot_of(&model, version)?)).or_default();
                if st.last() == Some(&(model.clone(), version)) {
                    st.pop();
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// (environment, slot) → the `(model, version)`s deployed there, the last serving.
type Stacks = BTreeMap<(String, String), Vec<(String, u32)>>;

const ROLLED_BACK: &str = "rolled back to ";

/// Goes back to what served the task of `model` (or `task`; with neither, the one task `env`
/// serves) before the current model.
pub fn rollback(
    lab: &Lab,
    env: &str,
    model: Option<&str>,
    task: Option<Task>,
) -> Result<RollbackOut> {
    check_env(env)?;
    let serving = models::serving(&lab.store, Some(env))?;
    if serving.is_empty() {
        bail!("nothing is deployed in {env}: there is nothing to roll back");
    }
    let stacks = stacks(lab)?;
    let before = |s: &models::Served| -> Option<(String, u32)> {
        let st = stacks.get(&(env.to_string(), s.slot()))?;
        (st.len() >= 2).then(|| st[st.len() - 2].clone())
    };
    let cur = match (model, task) {
        (Some(m), _) => serving
            .iter()
            .find(|s| s.model == m)
            .ok_or_else(|| anyhow!("model {m} is not deployed in {env} — see lab deploy status"))?,
        (None, Some(t)) => serving
            .iter()
            .find(|s| s.task == t)
            .ok_or_else(|| anyhow!("{env} serves no {} model — see lab deploy status", t.noun()))?,
        (None, None) if serving.len() == 1 => &serving[0],
        (None, None) => {
            let what: Vec<String> = serving
                .iter()
                .map(|s| {
                    format!(
                        "{} ({}{})",
                        s.task.as_str(),
                        s.label(),
                        match before(s) {
                            Some((m, v)) => format!(", back to {m}@{v}"),
                            None => ", nothing earlier".into(),
                        }
                    )
                })
                .collect();
            bail!(
                "{env} serves {}: say which to roll back — lab deploy rollback --env {env} --task {}",
                what.join(" and "),
                serving[0].task.as_str()
            );
        }
    };
    let Some((to_model, to_version)) = before(cur) else {
        bail!(
            "{} is the first {} model deployed in {env}: there is no earlier one to roll back to",
            cur.label(),
            cur.task.noun()
        );
    };
    let reg = lab.store.read_views(|v| v.registry())?;
    let target = reg
        .iter()
        .find(|r| r.name == to_model && r.version == to_version)
        .cloned()
        .ok_or_else(|| anyhow!("{to_model}@{to_version} is no longer in the registry"))?;
    let mut events = Vec::new();
    if to_model == cur.model {
        events.push(Event::RolledBack {
            env: env.to_string(),
            model: cur.model.clone(),
            from_version: cur.version,
            to_version,
        });
    } else {
        events.push(Event::Undeployed {
            env: env.to_string(),
            model: cur.model.clone(),
            version: cur.version,
            reason: format!("{ROLLED_BACK}{to_model}@{to_version}"),
        });
        events.push(Event::Deployed {
            env: env.to_string(),
            model: to_model.clone(),
            version: to_version,
        });
    }
    if env == "production" {
        events.extend(super::production_stage(&reg, &target));
    }
    let expect = (cur.model.clone(), cur.version);
    lab.append_with(|v| {
        // Another process may have deployed meanwhile: roll back only what was current.
        let now = v
            .deployments()?
            .into_iter()
            .any(|d| d.env == env && d.model == expect.0 && d.version == expect.1);
        if !now {
            return Err(StoreError::Rejected(format!(
                "{}@{} stopped serving in {env} while the rollback was prepared — run it again",
                expect.0, expect.1
            )));
        }
        Ok((events, ()))
    })?;
    Ok(RollbackOut {
        env: env.to_string(),
        task: cur.task,
        from: cur.label(),
        to: format!("{to_model}@{to_version}"),
        model: to_model,
        from_version: cur.version,
        to_version,
    })
}
