//! `lab sweep CONFIG --grid KEY=V1,V2 … [--random N]`: trials of a recipe over a grid of
//! hyperparameters. Each trial is an ordinary training run, tagged `sweep=ID` and `trial=N`
//! in its params; the best trial is picked by a named metric of its last epoch.

use std::path::Path;

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::train::{self, Overrides, TrainOut};
use crate::lab::Lab;
use crate::progress::Reporter;

const KEYS: [&str; 4] = ["learning_rate", "batch_size", "epochs", "seed"];

#[derive(Debug, Serialize)]
pub struct Trial {
    pub trial: usize,
    pub settings: Vec<(String, String)>,
    pub run: String,
    pub model: String,
    pub val_accuracy: f64,
    pub val_cer: f64,
    pub val_loss: f64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct SweepOut {
    pub sweep: String,
    pub metric: String,
    pub trials: Vec<Trial>,
    pub best: usize,
}

impl SweepOut {
    pub fn text(&self) -> String {
        let mut s = format!("sweep {} — best by {}\n", self.sweep, self.metric);
        let mut table = crate::table::Table::new([
            "TRIAL", "SETTINGS", "VAL_ACC", "VAL_CER", "VAL_LOSS", "SECONDS", "MODEL",
        ])
        .right(&[2, 3, 4, 5]);
        for t in &self.trials {
            let set: Vec<String> = t.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            table.row([
                t.trial.to_string(),
                set.join(" "),
                format!("{:.4}", t.val_accuracy),
                format!("{:.4}", t.val_cer),
                format!("{:.4}", t.val_loss),
                format!("{:.1}", t.seconds),
                format!(
                    "{}{}",
                    t.model,
                    if t.trial == self.best {
                        "  ← best"
                    } else {
                        ""
                    }
                ),
            ]);
        }
        s.push_str(&table.render());
        s
    }
}

/// Parses `--grid KEY=V1,V2` items into (key, values), checking each value's type.
pub fn parse_grid(items: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for it in items {
        let Some((k, vs)) = it.split_once('=') else {
            bail!(
                "bad --grid `{it}`: write KEY=V1,V2 (keys: {})",
                KEYS.join(", ")
            );
        };
        let k = k.trim();
        if !KEYS.contains(&k) {
            bail!(
                "--grid {k}: unknown key — sweepable keys are {}",
                KEYS.join(", ")
            );
        }
        if out.iter().any(|(x, _)| x == k) {
            bail!("--grid {k} given twice: list every value in one --grid {k}=V1,V2");
        }
        let vals: Vec<String> = vs
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if vals.is_empty() {
            bail!("--grid {k}: no values");
        }
        for v in &vals {
            let ok = match k {
                "learning_rate" => v.parse::<f64>().is_ok_and(|x| x > 0.0 && x < 1.0),
                _ => v.parse::<u64>().is_ok_and(|x| k == "seed" || x > 0),
            };
            if !ok {
                bail!("--grid {k}: `{v}` is not a valid value");
            }
        }
        out.push((k.to_string(), vals));
    }
    if out.is_empty() {
        bail!(
            "no --grid given: name at least one KEY=V1,V2 (keys: {})",
            KEYS.join(", ")
        );
    }
    Ok(out)
}

/// Every combination of the grid, in order.
pub fn product(grid: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for (k, vs) in grid {
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<(String, String)>| {
                vs.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((k.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    out
}

/// The score by which `metric` ranks (higher is better).
fn score(metric: &str, t: &TrainOut, val_loss: f64) -> Result<f64> {
    Ok(match metric {
        "val_accuracy" => t.val_accuracy,
        "val_cer" => -t.val_cer,
        "val_loss" => -val_loss,
        m => bail!("--metric {m}: choose val_accuracy, val_cer or val_loss"),
    })
}

#[allow(clippy::too_many_arguments)]
pub fn sweep(
    lab: &Lab,
    config: &Path,
    grid: &[String],
    random: Option<usize>,
    seed: u64,
    metric: &str,
    epochs: Option<u32>,
    reporter: &dyn Reporter,
) -> Result<SweepOut> {
    let grid = parse_grid(grid)?;
    if !["val_accuracy", "val_cer", "val_loss"].contains(&metric) {
        bail!("--metric {metric}: choose val_accuracy, val_cer or val_loss");
    }
    let loaded = train::config::load(&lab.project, None, Some(config))?;
    let recipe = loaded.config.recipe();
    let mut combos = product(&grid);
    if let Some(n) = random {
        if n == 0 {
            bail!("--random 0: ask for at least one trial");
        }
        combos.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        combos.truncate(n);
    }
    let id = super::run::new_run_id("sweep")[..8].to_string();
    let output = format!("{}_sweep", loaded.config.train.output);
    let mut trials = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    for (i, combo) in combos.iter().enumerate() {
        let mut ov = Overrides {
            output: Some(output.clone()),
            epochs,
            ..Overrides::default()
        };
        for (k, v) in combo {
            match k.as_str() {
                "learning_rate" => ov.learning_rate = v.parse().ok(),
                "batch_size" => ov.batch_size = v.parse().ok(),
                "epochs" => ov.epochs = v.parse().ok(),
                "seed" => ov.seed = v.parse().ok(),
                _ => unreachable!("parse_grid checks keys"),
            }
        }
        ov.tags.insert("sweep".into(), id.clone());
        ov.tags.insert("trial".into(), (i + 1).to_string());
        let settings: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
        reporter.status(&format!(
            "trial {}/{}: {}",
            i + 1,
            combos.len(),
            settings.join(" ")
        ));
        let t = train::train(lab, recipe, Some(config), &ov, false, reporter)?;
        let sc = score(metric, &t, t.val_loss)?;
        if best.is_none_or(|(b, _)| sc > b) {
            best = Some((sc, i + 1));
        }
        trials.push(Trial {
            trial: i + 1,
            settings: combo.clone(),
            run: t.run.clone(),
            model: t.model.clone(),
            val_accuracy: t.val_accuracy,
            val_cer: t.val_cer,
            val_loss: t.val_loss,
            seconds: t.seconds,
        });
    }
    Ok(SweepOut {
        sweep: id,
        metric: metric.to_string(),
        trials,
        best: best.map_or(0, |b| b.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_product_and_errors() {
        let g = parse_grid(&["learning_rate=1e-3,3e-4".into(), "batch_size=16,32".into()]).unwrap();
        let p = product(&g);
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[1],
            vec![
                ("learning_rate".into(), "1e-3".into()),
                ("batch_size".into(), "32".into())
            ]
        );
        assert!(parse_grid(&["momentum=0.9".into()]).is_err());
        assert!(parse_grid(&["batch_size=x".into()]).is_err());
        assert!(parse_grid(&[]).is_err());
    }
}
