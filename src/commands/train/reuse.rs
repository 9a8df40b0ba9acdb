//! Which earlier run has the inputs a run would have: the inputs a recipe would record,
//! computed without loading data (`planned_inputs`, what `lab pipeline`'s stage cache
//! compares), the one "finished run with these inputs" check (`same_run`), and `lab train`'s
//! reuse of such a run instead of training again.

use std::path::Path;

use anyhow::{Result, anyhow};

use super::{Job, Overrides, Recipe, TrainOut, apply, config, flatten, job};
use crate::event::{DataRef, Hash};
use crate::lab::Lab;
use crate::models;
use crate::store::RunRow;
use crate::store::views::Query;

/// Whether `r` is a finished run of `recipe` that read `inputs` (the same roles with the same
/// hashes; names may differ: `timetables@3` then, a label now) under this lab version: what the
/// pipeline's stage cache and `lab train`'s reuse both ask.
pub(crate) fn same_run(lab: &Lab, r: &RunRow, recipe: &str, inputs: &[DataRef]) -> bool {
    let key = |v: &[DataRef]| {
        let mut k: Vec<(String, Hash)> = v.iter().map(|d| (d.role.clone(), d.hash)).collect();
        k.sort();
        k
    };
    r.recipe == recipe
        && r.status == crate::event::RunStatus::Finished
        && key(&r.inputs) == key(inputs)
        && lab
            .store
            .get(r.started_seq)
            .ok()
            .flatten()
            .is_some_and(|rec| rec.envelope.lab_version == crate::lab::version())
}

/// The newest finished run of `recipe` with the inputs, settings, seed and lab version this
/// one would have, as a [`TrainOut`] (`cached`).
pub(super) fn reuse(
    lab: &Lab,
    recipe: Recipe,
    config_path: Option<&Path>,
    ov: &Overrides,
) -> Result<Option<TrainOut>> {
    let inputs = planned_inputs(lab, recipe, config_path, ov)?;
    let mut loaded = config::load(&lab.project, Some(recipe), config_path)?;
    apply(&mut loaded.config, ov);
    let cfg = &loaded.config;
    let seed = cfg.train.seed.unwrap_or(lab.project.config.project.seed);
    let mut params = flatten(cfg);
    params.insert("seed".into(), seed.to_string());
    params.extend(ov.tags.clone());
    let runs = lab.store.read_views(|v| v.runs_all())?;
    let Some(r) = runs
        .iter()
        .filter(|r| {
            same_run(lab, r, recipe.id(), &inputs)
                && r.seed == Some(seed)
                && params.iter().all(|(k, v)| r.params.get(k) == Some(v))
                && !r.params.contains_key("resumed_from")
                && r.outputs.iter().any(|o| o.role == "model")
        })
        .max_by_key(|r| r.started_seq)
    else {
        return Ok(None);
    };
    let model = r
        .outputs
        .iter()
        .find(|o| o.role == "model")
        .expect("filtered on a model output");
    let metric = |k: &str| r.latest.get(&format!("val_{k}")).map_or(0.0, |p| p.value);
    Ok(Some(TrainOut {
        run: r.id.clone(),
        recipe: recipe.id().into(),
        model: model.name.clone(),
        model_hash: model.hash,
        dataset: r
            .inputs
            .iter()
            .find(|i| i.role == "dataset")
            .map_or_else(String::new, |d| d.name.clone()),
        params: 0,
        trainable_params: 0,
        trainable_fraction: 0.0,
        weights_bytes: 0,
        merged: r
            .outputs
            .iter()
            .filter(|o| o.role == "model")
            .nth(1)
            .map(|o| o.name.clone()),
        epochs: cfg.train.epochs,
        steps: 0,
        seconds: 0.0,
        samples_per_s: 0.0,
        val_accuracy: metric("accuracy"),
        val_cer: metric("cer"),
        val_loss: metric("loss"),
        resumed_from: None,
        val: r
            .latest
            .iter()
            .filter_map(|(k, p)| k.strip_prefix("val_").map(|k| (k.to_string(), p.value)))
            .collect(),
        cached: true,
    }))
}

/// The inputs a run of `recipe` would record — dataset snapshot, config, effective settings,
/// parent model, by content hash — without loading data or training: what the stage cache of
/// `lab pipeline` compares with earlier runs (`train` records the same roles and hashes).
pub fn planned_inputs(
    lab: &Lab,
    recipe: Recipe,
    config_path: Option<&Path>,
    ov: &Overrides,
) -> Result<Vec<DataRef>> {
    let mut loaded = config::load(&lab.project, Some(recipe), config_path)?;
    apply(&mut loaded.config, ov);
    let shown = lab.project.display_path(&loaded.path);
    job::check(
        &loaded.config,
        &format!("{shown} (after the stage's settings)"),
    )?;
    let cfg = &loaded.config;
    let rows = lab.store.read_views(|v| v.datasets())?;
    let ds = crate::dataset::resolve(&rows, &cfg.train.dataset).map_err(|e| {
        anyhow!(
            "dataset `{}` (train.dataset in {shown}): {e}",
            cfg.train.dataset
        )
    })?;
    let settings = Job::settings_json_of(cfg);
    let mut inputs = vec![
        DataRef {
            role: "dataset".into(),
            name: format!("{}@{}", ds.name, ds.version),
            hash: ds.manifest,
        },
        DataRef {
            role: "config".into(),
            name: shown,
            hash: Hash::of(&loaded.bytes),
        },
        DataRef {
            role: "settings".into(),
            name: "effective settings (config + overrides)".into(),
            hash: Hash::of(&settings),
        },
    ];
    let parent = match (&cfg.distill, &cfg.lora) {
        (Some(d), _) => Some(("teacher", d.teacher.clone())),
        (_, Some(l)) => Some(("base", l.base.clone())),
        _ => None,
    };
    if let Some((role, reference)) = parent {
        let m = models::resolve_in(&lab.store, &reference)
            .map_err(|e| anyhow!("{role} `{reference}`: {e}"))?;
        inputs.push(DataRef {
            role: role.into(),
            name: m.name.clone(),
            hash: m.hash,
        });
    }
    if let Some(reference) = &cfg.train.init {
        let (name, hash, _) = job::resolve_init(lab, reference, false)?;
        inputs.push(DataRef {
            role: "init".into(),
            name,
            hash,
        });
    }
    Ok(inputs)
}
