//! `lab models show`: one version with its run, dataset, metrics, the evaluations of its
//! bundle and its lineage (the parent models of its run, with their versions).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use serde::Serialize;

use super::VersionOut;
use crate::event::{DataRef, Event, Hash, fmt_time};
use crate::lab::Lab;
use crate::models;
use crate::store::StoreError;
use crate::store::views::Query;

/// One evaluation of a version's bundle.
#[derive(Debug, Serialize)]
pub struct EvalRow {
    pub seq: u64,
    pub time: String,
    pub model: String,
    pub dataset: String,
    pub metrics: BTreeMap<String, f64>,
}

/// A parent model of the version's run.
#[derive(Debug, Serialize)]
pub struct ParentRow {
    pub role: String,
    pub name: String,
    pub hash: Hash,
    /// The registry versions of the parent's bundle (`ocr_teacher@1`, `ocr_prod@2`).
    pub versions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ShowOut {
    #[serde(flatten)]
    pub version: VersionOut,
    pub recipe: Option<String>,
    pub datasets: Vec<DataRef>,
    /// The run's latest value of each metric.
    pub run_metrics: BTreeMap<String, f64>,
    pub evaluations: Vec<EvalRow>,
    pub parents: Vec<ParentRow>,
    /// Other versions of the same bundle.
    pub same_bundle: Vec<String>,
}

/// One version in full: run, dataset, metrics, evaluations, lineage.
pub fn show(lab: &Lab, reference: &str) -> Result<ShowOut> {
    let (reg, runs, datasets) = lab
        .store
        .read_views(|v| Ok((v.registry()?, v.runs_all()?, v.datasets()?)))?;
    let v = models::resolve_version(&reg, reference).map_err(|e| anyhow!(e))?;
    let run = v
        .run
        .as_deref()
        .and_then(|id| runs.iter().find(|r| r.id == id));
    let labels_of = |h: Hash| -> Vec<String> {
        reg.iter()
            .filter(|x| x.model == h)
            .map(|x| x.label())
            .collect()
    };
    let ds_label = |h: Hash| {
        datasets
            .iter()
            .find(|d| d.manifest == h)
            .map_or(h.short(), |d| format!("{}@{}", d.name, d.version))
    };
    let mut evaluations = Vec::new();
    lab.store.scan(0, |rec| {
        if let Event::Evaluated {
            model,
            model_hash,
            dataset,
            metrics,
            ..
        } = &rec.envelope.body
        {
            if *model_hash == v.model {
                evaluations.push(EvalRow {
                    seq: rec.envelope.seq,
                    time: fmt_time(rec.envelope.time_ns),
                    model: model.clone(),
                    dataset: ds_label(*dataset),
                    metrics: metrics.clone(),
                });
            }
        }
        Ok::<_, StoreError>(true)
    })?;
    let parents = run
        .map(|r| {
            r.inputs
                .iter()
                .filter(|i| matches!(i.role.as_str(), "teacher" | "base" | "init"))
                .map(|i| ParentRow {
                    role: i.role.clone(),
                    name: i.name.clone(),
                    hash: i.hash,
                    versions: labels_of(i.hash),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ShowOut {
        version: VersionOut::of(v),
        recipe: run.map(|r| r.recipe.clone()),
        datasets: run
            .map(|r| {
                r.inputs
                    .iter()
                    .filter(|i| i.role == "dataset")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
        run_metrics: run
            .map(|r| r.latest.iter().map(|(k, p)| (k.clone(), p.value)).collect())
            .unwrap_or_default(),
        evaluations,
        parents,
        same_bundle: labels_of(v.model)
            .into_iter()
            .filter(|l| *l != v.label())
            .collect(),
    })
}

pub fn show_text(s: &ShowOut) -> String {
    let v = &s.version;
    let mut t = format!(
        "{}@{}  stage {}  aliases {}\n  model    {}\n  source   {}{}\n",
        v.name,
        v.version,
        v.stage,
        if v.aliases.is_empty() {
            "-".to_string()
        } else {
            v.aliases.join(", ")
        },
        v.model,
        v.source,
        match (&v.run, &s.recipe) {
            (Some(r), Some(rc)) => format!(", run {r} ({rc})"),
            (Some(r), None) => format!(", run {r}"),
            _ => String::new(),
        }
    );
    if !v.description.is_empty() {
        t.push_str(&format!("  about    {}\n", v.description));
    }
    for (k, val) in &v.meta {
        t.push_str(&format!("  meta     {k} = {val}\n"));
    }
    for d in &s.datasets {
        t.push_str(&format!("  dataset  {} ({})\n", d.name, d.hash.short()));
    }
    if !s.same_bundle.is_empty() {
        t.push_str(&format!("  also     {}\n", s.same_bundle.join(", ")));
    }
    for p in &s.parents {
        t.push_str(&format!(
            "  parent   {} {} ({}){}\n",
            p.role,
            p.name,
            p.hash.short(),
            if p.versions.is_empty() {
                String::new()
            } else {
                format!(" = {}", p.versions.join(", "))
            }
        ));
    }
    if !s.run_metrics.is_empty() {
        t.push_str("  run metrics\n");
        for (k, val) in &s.run_metrics {
            t.push_str(&format!("    {k:<24} {val:.4}\n"));
        }
    }
    for e in &s.evaluations {
        t.push_str(&format!(
            "  evaluated #{} on {} ({})\n",
            e.seq, e.dataset, e.time
        ));
        for (k, val) in &e.metrics {
            t.push_str(&format!("    {k:<24} {val:.4}\n"));
        }
    }
    t.trim_end().to_string()
}
