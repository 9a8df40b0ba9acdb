//! `lab watch`: the use case around `crate::watch` — which folders, what a pass is (`lab
//! pipeline` in a child), and what follows a pass: the newest model of each name production serves
//! production compared with the deployed version on the snapshots both were evaluated on,
//! then the report.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::event::{Event, Hash};
use crate::lab::Lab;
use crate::project::Project;
use crate::store::views::Query;

struct Stderr;

impl crate::watch::Sink for Stderr {
    fn say(&self, line: &str) {
        eprintln!("{line}");
    }
}

/// Watches the project at `here` until Ctrl-C.
pub fn watch(here: &Path) -> Result<()> {
    let project = Project::discover(here)?;
    // Check the stages now: a mistake in lab.toml is better said before watching starts.
    crate::stages::Dag::of(&project)?;
    let watched = vec![project.datasets_dir(), project.configs_dir()];
    let reap = |root: &Path| -> Result<usize> {
        let lab = Lab::open(root, "watch")?;
        super::run::mark_dead_runs(&lab)
    };
    let after = |root: &Path| -> Result<Vec<String>> {
        let lab = Lab::open(root, "watch")?;
        let mut lines = compare_with_production(&lab)?;
        let r = super::report::report(&lab, None)?;
        lines.push(format!("lab watch: report {}", r.index.display()));
        Ok(lines)
    };
    let hooks = crate::watch::Hooks {
        pass: &crate::watch::pipeline_child,
        after: &after,
        reap: &reap,
    };
    crate::watch::watch(&project.root, &project.lab_dir(), &watched, &hooks, &Stderr)
}

/// Metric keys worth a line in the comparison.
fn headline(key: &str) -> bool {
    ["accuracy", "cer", "field_f1", "entry_f1"]
        .iter()
        .any(|k| key.ends_with(&format!(".{k}")))
}

/// A model's evaluations by (snapshot, split): per split its metrics (`SPLIT.KEY`) from the
/// evaluation that read the most lines (`SPLIT.lines`; a later one on ties), so a partial
/// evaluation (`--limit`) never stands in for a whole one, and one of the `val` split never
/// hides one of `test`.
type BySplit = BTreeMap<(Hash, String), (f64, BTreeMap<String, f64>)>;

/// Model hash → (dataset snapshot, metrics) of each of its evaluations, in log order.
type Evals = BTreeMap<Hash, Vec<(Hash, BTreeMap<String, f64>)>>;

fn by_split(evals: &Evals, model: &Hash) -> BySplit {
    let mut out = BySplit::new();
    for (ds, metrics) in evals.get(model).into_iter().flatten() {
        let mut splits: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
        for (k, v) in metrics {
            let split = k.split('.').next().unwrap_or(k);
            splits.entry(split).or_default().insert(k.clone(), *v);
        }
        for (split, m) in splits {
            let lines = m
                .get(&format!("{split}.lines"))
                .or_else(|| m.get(&format!("{split}.cells")))
                .copied()
                .unwrap_or(0.0);
            let key = (*ds, split.to_string());
            if out.get(&key).is_none_or(|(l, _)| lines >= *l) {
                out.insert(key, (lines, m));
            }
        }
    }
    out
}

/// For each model production serves (one per task): the newest model of that name against it,
/// metric by metric, on each snapshot both were evaluated on.
pub fn compare_with_production(lab: &Lab) -> Result<Vec<String>> {
    let (runs, reg) = lab
        .store
        .read_views(|v| Ok((v.runs_all()?, v.registry()?)))?;
    let prod = crate::models::serving(&lab.store, Some("production"))?;
    if prod.is_empty() {
        return Ok(vec![
            "lab watch: nothing deployed to production to compare with".into(),
        ]);
    }
    let mut evals: Evals = BTreeMap::new();
    lab.store.scan(1, |rec| {
        if let Event::Evaluated {
            model_hash,
            dataset,
            metrics,
            ..
        } = rec.envelope.body
        {
            evals
                .entry(model_hash)
                .or_default()
                .push((dataset, metrics));
        }
        Ok(true)
    })?;
    let models = crate::models::all(&runs);
    let mut lines = Vec::new();
    for d in &prod {
        let Some(live) = reg
            .iter()
            .find(|r| r.name == d.model && r.version == d.version)
        else {
            continue;
        };
        let prefix = format!("{}@", d.model);
        let Some(newest) = models.iter().rev().find(|m| m.name.starts_with(&prefix)) else {
            continue;
        };
        if newest.hash == live.model {
            lines.push(format!(
                "lab watch: {} in production is the newest {}",
                live.label(),
                d.model
            ));
            continue;
        }
        let (new, old) = (
            by_split(&evals, &newest.hash),
            by_split(&evals, &live.model),
        );
        let mut parts = Vec::new();
        let mut unequal = Vec::new();
        for (key, (n_lines, new)) in &new {
            let Some((o_lines, old)) = old.get(key) else {
                continue;
            };
            if n_lines != o_lines {
                unequal.push(format!("{} {n_lines:.0} vs {o_lines:.0} lines", key.1));
                continue;
            }
            for (k, v) in new.iter().filter(|(k, _)| headline(k)) {
                if let Some(o) = old.get(k) {
                    parts.push(format!("{k} {v:.4} vs {o:.4} ({:+.4})", v - o));
                }
            }
        }
        if parts.is_empty() && !unequal.is_empty() {
            lines.push(format!(
                "lab watch: {} vs {} in production: evaluated on different numbers of lines \
                 ({}) — evaluate both on the whole split to compare",
                newest.name,
                live.label(),
                unequal.join(", ")
            ));
            continue;
        }
        parts.sort();
        parts.dedup();
        lines.push(if parts.is_empty() {
            format!(
                "lab watch: {} vs {} in production: not evaluated on the same snapshot",
                newest.name,
                live.label()
            )
        } else {
            format!(
                "lab watch: {} vs {} in production: {}",
                newest.name,
                live.label(),
                parts.join(", ")
            )
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_newer_val_or_partial_evaluation_does_not_hide_the_whole_test_one() {
        let (model, ds) = (Hash([1; 32]), Hash([2; 32]));
        let mut evals = BTreeMap::new();
        evals.insert(
            model,
            vec![
                (ds, m(&[("test.accuracy", 0.988), ("test.lines", 1441.0)])),
                (ds, m(&[("val.accuracy", 0.97), ("val.lines", 300.0)])),
                (ds, m(&[("test.accuracy", 1.0), ("test.lines", 200.0)])),
            ],
        );
        let b = by_split(&evals, &model);
        assert_eq!(b.len(), 2);
        let (lines, test) = &b[&(ds, "test".to_string())];
        assert_eq!((*lines, test["test.accuracy"]), (1441.0, 0.988));
        assert_eq!(b[&(ds, "val".to_string())].1["val.accuracy"], 0.97);
        assert!(by_split(&evals, &Hash([9; 32])).is_empty());
    }
}
