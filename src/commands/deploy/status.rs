//! `lab deploy status|history|rollback`: what each environment runs (the deployments view),
//! the deployment events of the log, and going back to the version deployed before.

use anyhow::Result;
use serde::Serialize;

use super::check_env;
use crate::event::{Event, Hash, fmt_time};
use crate::lab::Lab;
use crate::store::StoreError;
use crate::store::views::Query;

#[derive(Debug, Serialize)]
pub struct StatusRow {
    pub env: String,
    pub model: String,
    pub version: u32,
    pub hash: Option<Hash>,
    pub since: String,
    /// Earlier deployed versions, oldest first (what rollback goes back to).
    pub previous: Vec<u32>,
}

/// What each environment runs (or one environment).
pub fn status(lab: &Lab, env: Option<&str>) -> Result<Vec<StatusRow>> {
    let (reg, deps) = lab
        .store
        .read_views(|v| Ok((v.registry()?, v.deployments()?)))?;
    Ok(deps
        .into_iter()
        .filter(|d| env.is_none_or(|e| d.env == e))
        .map(|d| StatusRow {
            hash: reg
                .iter()
                .find(|r| r.name == d.model && r.version == d.version)
                .map(|r| r.model),
            since: fmt_time(d.time_ns),
            env: d.env,
            model: d.model,
            version: d.version,
            previous: d.previous,
        })
        .collect())
}

pub fn status_text(rows: &[StatusRow]) -> String {
    if rows.is_empty() {
        return "nothing deployed yet — lab deploy NAME@V --env production".into();
    }
    let mut s = format!(
        "{:<12} {:<20} {:>4} {:<12} {:<19} {}\n",
        "ENV", "MODEL", "VER", "HASH", "SINCE", "PREVIOUS"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<12} {:<20} {:>4} {:<12} {:<19} {}\n",
            r.env,
            r.model,
            r.version,
            r.hash.map_or("-".into(), |h| h.short()),
            r.since,
            r.previous
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s.trim_end().to_string()
}

#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub seq: u64,
    pub time: String,
    pub env: String,
    pub model: String,
    pub version: u32,
    /// requested, validated, refused, deployed, rolled-back.
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
                            g.threshold,
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
    pub model: String,
    pub from_version: u32,
    pub to_version: u32,
}

/// Goes back to the version of `model` (default: the most recently deployed model of `env`)
/// deployed before the current one.
pub fn rollback(lab: &Lab, env: &str, model: Option<&str>) -> Result<RollbackOut> {
    check_env(env)?;
    let (_, out) = lab.append_with(|v| {
        let deps: Vec<_> = v
            .deployments()?
            .into_iter()
            .filter(|d| d.env == env)
            .collect();
        let row = match model {
            Some(m) => deps.iter().find(|d| d.model == m).ok_or_else(|| {
                StoreError::Rejected(format!(
                    "model {m} is not deployed in {env} — see lab deploy status"
                ))
            })?,
            None => deps.iter().max_by_key(|d| d.seq).ok_or_else(|| {
                StoreError::Rejected(format!(
                    "nothing is deployed in {env}: there is nothing to roll back"
                ))
            })?,
        };
        let Some(&to) = row.previous.last() else {
            return Err(StoreError::Rejected(format!(
                "{}@{} is the first version of {} deployed in {env}: there is no earlier one to roll back to",
                row.model, row.version, row.model
            )));
        };
        let out = RollbackOut {
            env: env.to_string(),
            model: row.model.clone(),
            from_version: row.version,
            to_version: to,
        };
        Ok((
            vec![Event::RolledBack {
                env: env.to_string(),
                model: row.model.clone(),
                from_version: row.version,
                to_version: to,
            }],
            out,
        ))
    })?;
    Ok(out)
}
