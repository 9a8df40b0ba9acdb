//! Gathering a report: runs and their metric series from the views, the latest evaluation of
//! each model per (snapshot, split) and the replay verdicts from the log.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::event::{Event, Hash, RunId};
use crate::store::Store;
use crate::store::views::Query;

use super::{Evaluation, Group, Replay, Report, ReportError, Request, RunData, html};

/// Gathers a report from the views (runs, metric series) and the log (evaluations, replays).
pub fn collect(store: &Store, req: Request) -> Result<Report, ReportError> {
    let (head_seq, _) = store.head()?;
    let ids: Vec<String> = req.runs.iter().map(|r| r.row.id.clone()).collect();
    let (series, datasets) = store.read_views(|v| {
        let mut all = Vec::with_capacity(ids.len());
        for id in &ids {
            let mut m = BTreeMap::new();
            for key in v.metric_keys(id)? {
                let points = v.metric_series(id, &key)?;
                m.insert(key, points);
            }
            all.push(m);
        }
        Ok((all, v.datasets()?))
    })?;
    let runs: Vec<RunData> = req
        .runs
        .into_iter()
        .zip(series)
        .map(|(run, series)| RunData { run, series })
        .collect();

    let models = crate::models::all(req.all_runs);
    let producers: BTreeMap<String, RunId> = models
        .iter()
        .filter_map(|m| Some((m.name.clone(), m.run.clone()?)))
        .collect();
    let by_hash: HashMap<Hash, RunId> = models
        .iter()
        .filter_map(|m| Some((m.hash, m.run.clone()?)))
        .collect();
    let mut labels: HashMap<Hash, String> = HashMap::new();
    for d in &datasets {
        labels
            .entry(d.manifest)
            .or_insert_with(|| format!("{}@{}", d.name, d.version));
    }

    // The latest evaluation per (model, snapshot, split), and every replay.
    let mut latest: BTreeMap<(Hash, String, String), Evaluation> = BTreeMap::new();
    let mut replays = Vec::new();
    let mut deployments = Vec::new();
    let mut drift = Vec::new();
    store.scan(1, |rec| {
        let env = &rec.envelope;
        if let Some(d) = super::deploys::of(env) {
            deployments.push(d);
        }
        match &env.body {
            Event::Evaluated {
                model,
                model_hash,
                dataset,
                metrics,
                ..
            } => {
                let mut splits: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
                for (k, v) in metrics {
                    // `SPLIT.METRIC`, the metric itself may hold dots (`test.subject.f1`).
                    if let Some((split, name)) = k.split_once('.') {
                        splits
                            .entry(split)
                            .or_default()
                            .insert(name.to_string(), *v);
                    }
                }
                for (split, m) in splits {
                    let run = by_hash
                        .get(model_hash)
                        .or_else(|| producers.get(model))
                        .cloned();
                    // A partial evaluation (`--limit`) never replaces a whole one: the one
                    // that read the most lines (cells) stands, the later one on ties.
                    let key = (*dataset, split.to_string(), model.clone());
                    if latest
                        .get(&key)
                        .is_some_and(|old| eval_size(&old.metrics) > eval_size(&m))
                    {
                        continue;
                    }
                    latest.insert(
                        key,
                        Evaluation {
                            seq: env.seq,
                            time_ns: env.time_ns,
                            model: model.clone(),
                            model_hash: *model_hash,
                            run,
                            metrics: m,
                        },
                    );
                }
            }
            Event::ReplayVerified {
                run,
                expected,
                actual,
                verdict,
            } => replays.push(Replay {
                seq: env.seq,
                time_ns: env.time_ns,
                run: run.clone(),
                expected: *expected,
                actual: *actual,
                verdict: verdict.clone(),
            }),
            Event::DriftChecked {
                model,
                metric,
                score,
                threshold,
                drifted,
            } => drift.push(super::ops::DriftCheck {
                seq: env.seq,
                time_ns: env.time_ns,
                model: model.clone(),
                metric: metric.clone(),
                score: *score,
                threshold: *threshold,
                drifted: *drifted,
            }),
            _ => {}
        }
        Ok(true)
    })?;
    let mut groups: BTreeMap<(Hash, String), Vec<Evaluation>> = BTreeMap::new();
    for ((dataset, split, _), e) in latest {
        groups.entry((dataset, split)).or_default().push(e);
    }
    let in_scope: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut groups: Vec<Group> = groups
        .into_iter()
        .filter(|(_, evals)| {
            req.all
                || evals
                    .iter()
                    .any(|e| e.run.as_deref().is_some_and(|r| in_scope.contains(r)))
        })
        .map(|((dataset, split), mut evals)| {
            let acc = |e: &Evaluation| e.metrics.get("accuracy").copied().unwrap_or(f64::NAN);
            evals.sort_by(|a, b| {
                acc(b)
                    .partial_cmp(&acc(a))
                    .unwrap_or_else(|| acc(a).is_nan().cmp(&acc(b).is_nan()))
                    .then_with(|| a.model.cmp(&b.model))
            });
            Group {
                dataset,
                dataset_label: labels
                    .get(&dataset)
                    .cloned()
                    .unwrap_or_else(|| format!("snapshot {}", dataset.short())),
                split,
                evals,
            }
        })
        .collect();
    groups.sort_by(|a, b| (&a.dataset_label, &a.split).cmp(&(&b.dataset_label, &b.split)));
    if !req.all {
        replays.retain(|r| in_scope.contains(r.run.as_str()));
    }

    let mut pages: BTreeSet<RunId> = ids.iter().cloned().collect();
    for r in req.all_runs {
        if req.dir.join(html::run_href(&r.id)).is_file() {
            pages.insert(r.id.clone());
        }
    }
    // What serves now, and the task of every model deployed (from its bundle's kind).
    let serving = crate::models::serving(store, None).unwrap_or_default();
    let (registry, ab, alerts) =
        store.read_views(|v| Ok((v.registry()?, v.ab_tests()?, v.alerts()?)))?;
    let mut tasks = BTreeMap::new();
    for d in &deployments {
        let label = format!("{}@{}", d.model, d.version);
        if tasks.contains_key(&label) {
            continue;
        }
        if let Some(r) = registry
            .iter()
            .find(|r| r.name == d.model && r.version == d.version)
        {
            if let Ok(b) = crate::models::bundle(&store.blobs, &r.model) {
                tasks.insert(label, crate::deploy::Task::of_kind(&b.kind));
            }
        }
    }
    Ok(Report {
        project: req.project.to_string(),
        scope: req.scope,
        lab_version: crate::process::version().to_string(),
        generated_ns: crate::store::now_ns(),
        head_seq,
        runs,
        groups,
        replays,
        deployments,
        producers,
        pages,
        serving,
        tasks,
        ab,
        drift,
        alerts,
    })
}

/// How much an evaluation read: its lines (OCR) or cells (document model); 0 when it does not
/// say (older logs).
pub(crate) fn eval_size(metrics: &BTreeMap<String, f64>) -> f64 {
    metrics
        .get("lines")
        .or_else(|| metrics.get("cells"))
        .copied()
        .unwrap_or(0.0)
}
