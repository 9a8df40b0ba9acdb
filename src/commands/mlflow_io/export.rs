//! `lab export mlflow`: lab's MLflow picture (the one `lab ui` serves: experiments, runs of
//! every recipe, metric histories, artifacts, registered models) pushed to an MLflow server
//! through its REST API, in MLflow's batch limits. An exported run carries the tag
//! `lab.run_id` and, once everything of it is there, `lab.exported=complete`: a second export
//! skips it; a run left incomplete by an interrupted export is deleted there and sent again.
//! A version carries `lab.version`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::rest::{Rest, api_code, kv, num};
use crate::event::MetricPoint;
use crate::lab::Lab;
use crate::tracking::{
    MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS, Run, Tracking, Version,
};

#[derive(Debug, Default, Serialize)]
pub struct ExportOut {
    pub to: String,
    pub experiments: usize,
    pub runs_exported: usize,
    pub runs_skipped: usize,
    pub metric_points: usize,
    pub artifacts: usize,
    pub versions_exported: usize,
    pub versions_skipped: usize,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

impl ExportOut {
    pub fn text(&self) -> String {
        let mut s = format!(
            "exported to {}: {} runs ({} already there), {} metric points, {} artifacts, {} model versions ({} already there) in {} experiments, in {:.1} s",
            self.to,
            self.runs_exported,
            self.runs_skipped,
            self.metric_points,
            self.artifacts,
            self.versions_exported,
            self.versions_skipped,
            self.experiments,
            self.seconds
        );
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}"));
        }
        s
    }
}

/// A metric value in proto JSON (NaN and the infinities as strings).
fn jnum(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

fn pairs<'a>(it: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<Value> {
    it.map(|(k, v)| json!({"key": k, "value": v})).collect()
}

/// A run on the server: its id and artifact URI.
struct Remote {
    id: String,
    artifact_uri: String,
}

struct Exporter<'a> {
    rest: Rest,
    t: &'a Tracking,
    out: ExportOut,
    /// Experiment name → id there.
    exps: BTreeMap<String, String>,
    /// lab run id → the run there.
    runs: BTreeMap<String, Remote>,
}

/// `lab export mlflow --to URI [--experiment NAME]…`.
pub fn export(lab: Lab, to: &str, only: &[String]) -> Result<ExportOut> {
    let started = std::time::Instant::now();
    let rest = Rest::connect(to)?;
    let t = Tracking::open(lab)?;
    let tr = |e: crate::tracking::TrackingError| anyhow!("{e}");
    let (runs, exp_names) = {
        let s = t.state().map_err(tr)?;
        let names: BTreeMap<String, String> = s
            .experiments
            .values()
            .map(|e| (e.id.clone(), e.name.clone()))
            .collect();
        let mut runs: Vec<Run> = s
            .runs
            .values()
            .filter(|r| r.lifecycle == "active")
            .cloned()
            .collect();
        runs.sort_by_key(|r| r.seq);
        (runs, names)
    };
    for want in only {
        if !exp_names.values().any(|n| n == want) {
            bail!("lab has no experiment named '{want}'");
        }
    }
    let mut x = Exporter {
        rest,
        t: &t,
        out: ExportOut {
            to: to.to_string(),
            ..Default::default()
        },
        exps: BTreeMap::new(),
        runs: BTreeMap::new(),
    };
    for r in &runs {
        let exp = exp_names
            .get(&r.experiment_id)
            .cloned()
            .unwrap_or_else(|| "Default".into());
        if !only.is_empty() && !only.contains(&exp) {
            continue;
        }
        x.run(r, &exp)
            .with_context(|| format!("run {} ({})", r.id, r.name))?;
    }
    x.models()?;
    x.out.experiments = x.exps.len();
    x.out.seconds = started.elapsed().as_secs_f64();
    Ok(x.out)
}

impl Exporter<'_> {
    /// The id there of experiment `name`, created when missing.
    fn experiment(&mut self, name: &str) -> Result<String> {
        if let Some(id) = self.exps.get(name) {
            return Ok(id.clone());
        }
        let id = match self
            .rest
            .get("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(v) => {
                let e = &v["experiment"];
                if e["lifecycle_stage"].as_str() == Some("deleted") {
                    bail!(
                        "experiment '{name}' is deleted on {}; restore it there (mlflow experiments restore) or rename lab's",
                        self.rest.base
                    );
                }
                e["experiment_id"].as_str().unwrap_or_default().to_string()
            }
            Err(e) if api_code(&e) == Some("RESOURCE_DOES_NOT_EXIST") => {
                let v = self
                    .rest
                    .post("experiments/create", &json!({"name": name}))?;
                v["experiment_id"].as_str().unwrap_or_default().to_string()
            }
            Err(e) => return Err(e),
        };
        self.exps.insert(name.to_string(), id.clone());
        Ok(id)
    }

    fn run(&mut self, r: &Run, exp: &str) -> Result<()> {
        let exp_id = self.experiment(exp)?;
        // A run imported from this very server is already there, under the same id.
        if let Ok(v) = self.rest.get("runs/get", &[("run_id", r.id.as_str())]) {
            let info = &v["run"]["info"];
            if info["lifecycle_stage"].as_str() == Some("active") {
                self.runs.insert(
                    r.id.clone(),
                    Remote {
                        id: r.id.clone(),
                        artifact_uri: info["artifact_uri"].as_str().unwrap_or("").to_string(),
                    },
                );
                self.out.runs_skipped += 1;
                return Ok(());
            }
        }
        let found = self.rest.post(
            "runs/search",
            &json!({
                "experiment_ids": [exp_id],
                "filter": format!("tags.`lab.run_id` = '{}'", r.id),
                "max_results": 10,
            }),
        )?;
        for there in found["runs"].as_array().cloned().unwrap_or_default() {
            let info = &there["info"];
            let id = info["run_id"].as_str().unwrap_or_default().to_string();
            let tags = kv(&there["data"]["tags"]);
            if tags.get("lab.exported").map(String::as_str) == Some("complete") {
                self.runs.insert(
                    r.id.clone(),
                    Remote {
                        id,
                        artifact_uri: info["artifact_uri"].as_str().unwrap_or("").to_string(),
                    },
                );
                self.out.runs_skipped += 1;
                return Ok(());
            }
            // Left incomplete by an interrupted export: sent again whole.
            self.rest.post("runs/delete", &json!({"run_id": id}))?;
        }
        let created = self.rest.post(
            "runs/create",
            &json!({
                "experiment_id": exp_id,
                "run_name": r.name,
                "start_time": r.start_ms,
                "user_id": r.user_id,
                "tags": [{"key": "lab.run_id", "value": r.id}],
            }),
        )?;
        let info = &created["run"]["info"];
        let remote = Remote {
            id: info["run_id"]
                .as_str()
                .ok_or_else(|| anyhow!("{}: runs/create answered no run_id", self.rest.base))?
                .to_string(),
            artifact_uri: info["artifact_uri"].as_str().unwrap_or("").to_string(),
        };
        let rid = remote.id.clone();
        // Params and tags, 100 of each per batch.
        let params: Vec<Value> = pairs(r.params.iter());
        let tags: Vec<Value> = pairs(
            r.tags
                .iter()
                .filter(|(k, _)| *k != "mlflow.runName" && *k != "lab.run_id"),
        );
        for c in params.chunks(MAX_BATCH_PARAMS) {
            self.rest
                .post("runs/log-batch", &json!({"run_id": rid, "params": c}))?;
        }
        for c in tags.chunks(MAX_BATCH_TAGS) {
            self.rest
                .post("runs/log-batch", &json!({"run_id": rid, "tags": c}))?;
        }
        // Metrics, every point with its step and timestamp, 1000 per batch.
        let keys = self.t.metric_keys(&r.id).map_err(|e| anyhow!("{e}"))?;
        let mut batch: Vec<Value> = Vec::with_capacity(MAX_BATCH_METRICS);
        for key in keys {
            let pts: Vec<MetricPoint> = self
                .t
                .metric_history(&r.id, &key)
                .map_err(|e| anyhow!("{e}"))?;
            for p in pts {
                batch.push(json!({"key": key, "value": jnum(p.value), "timestamp": p.time_ms, "step": p.step}));
                self.out.metric_points += 1;
                if batch.len() == MAX_BATCH_METRICS {
                    self.rest
                        .post("runs/log-batch", &json!({"run_id": rid, "metrics": batch}))?;
                    batch.clear();
                }
            }
        }
        if !batch.is_empty() {
            self.rest
                .post("runs/log-batch", &json!({"run_id": rid, "metrics": batch}))?;
        }
        // Artifacts, through the proxy.
        let files: Vec<(String, crate::event::Hash)> = {
            let s = self.t.state().map_err(|e| anyhow!("{e}"))?;
            let prefix = format!("{}/", s.run_root(&r.id));
            s.artifacts
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, (h, _))| (k[prefix.len()..].to_string(), *h))
                .collect()
        };
        for (rel, h) in files {
            let data = self.t.lab.store.blobs.get(&h)?;
            self.upload(&remote, &rel, &data)?;
        }
        // Status and end time last, then the mark that everything is there.
        if r.status != "RUNNING" {
            let mut upd = json!({"run_id": rid, "status": r.status});
            if let Some(e) = r.end_ms {
                upd["end_time"] = json!(e);
            }
            self.rest.post("runs/update", &upd)?;
        }
        self.rest.post(
            "runs/set-tag",
            &json!({"run_id": rid, "key": "lab.exported", "value": "complete"}),
        )?;
        self.runs.insert(r.id.clone(), remote);
        self.out.runs_exported += 1;
        Ok(())
    }

    /// One file into a run's artifacts there.
    fn upload(&mut self, remote: &Remote, rel: &str, data: &[u8]) -> Result<()> {
        let Some(rest) = remote.artifact_uri.strip_prefix("mlflow-artifacts:") else {
            bail!(
                "{} stores run artifacts at '{}', which lab cannot write to; start the server with the artifact proxy (the default of `mlflow server`, not --no-serve-artifacts)",
                self.rest.base,
                remote.artifact_uri
            );
        };
        let root = match rest.strip_prefix("//") {
            Some(r) => r.split_once('/').map_or("", |(_, p)| p),
            None => rest.trim_start_matches('/'),
        };
        self.rest
            .upload(&format!("{}/{rel}", root.trim_end_matches('/')), data)?;
        self.out.artifacts += 1;
        Ok(())
    }

    /// Registered models and their versions whose runs are there.
    fn models(&mut self) -> Result<()> {
        let tr = |e: crate::tracking::TrackingError| anyhow!("{e}");
        let (models, versions, aliases) = {
            let s = self.t.state().map_err(tr)?;
            (
                s.models.clone(),
                s.versions.values().cloned().collect::<Vec<Version>>(),
                s.aliases.clone(),
            )
        };
        for (name, m) in &models {
            let mine: Vec<&Version> = versions
                .iter()
                .filter(|v| &v.name == name)
                .filter(|v| v.run_id.as_ref().is_some_and(|r| self.runs.contains_key(r)))
                .collect();
            let skipped_no_run = versions
                .iter()
                .filter(|v| &v.name == name)
                .count()
                .saturating_sub(mine.len());
            if mine.is_empty() {
                continue;
            }
            if skipped_no_run > 0 {
                self.out.warnings.push(format!(
                    "{name}: {skipped_no_run} version(s) without an exported run were left out"
                ));
            }
            match self
                .rest
                .get("registered-models/get", &[("name", name.as_str())])
            {
                Ok(_) => {}
                Err(e) if api_code(&e) == Some("RESOURCE_DOES_NOT_EXIST") => {
                    self.rest.post(
                        "registered-models/create",
                        &json!({"name": name, "description": m.description, "tags": pairs(m.tags.iter())}),
                    )?;
                }
                Err(e) => return Err(e),
            }
            let filter = format!("name='{}'", name.replace('\'', "\\'"));
            let there = self.rest.get(
                "model-versions/search",
                &[("filter", filter.as_str()), ("max_results", "1000")],
            )?;
            // Versions there: by the lab version they came from, and by (number, run).
            let mut by_lab: BTreeMap<String, (String, String)> = BTreeMap::new();
            let mut by_number: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
            for v in there["model_versions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let n = num(&v["version"]).unwrap_or(0).to_string();
                let entry = (
                    n.clone(),
                    v["current_stage"].as_str().unwrap_or("None").to_string(),
                );
                if let Some(lv) = kv(&v["tags"]).get("lab.version") {
                    by_lab.insert(lv.clone(), entry.clone());
                }
                by_number.insert((n, v["run_id"].as_str().unwrap_or("").to_string()), entry);
            }
            for v in mine {
                // A version imported from this server is the one it came from.
                let remote_run = self.runs[v.run_id.as_ref().expect("filtered")].id.clone();
                let same = v
                    .tags
                    .get("lab.source_version")
                    .and_then(|n| by_number.get(&(n.clone(), remote_run)));
                let existing = by_lab.get(&v.version.to_string()).or(same);
                let (num_there, stage_there) = match existing {
                    Some(x) => {
                        self.out.versions_skipped += 1;
                        x.clone()
                    }
                    None => {
                        let Some(source) = self.version_source(v)? else {
                            continue;
                        };
                        let remote = &self.runs[v.run_id.as_ref().expect("filtered")];
                        let mut tags = v.tags.clone();
                        tags.insert("lab.version".into(), v.version.to_string());
                        let made = self.rest.post(
                            "model-versions/create",
                            &json!({
                                "name": name,
                                "source": source,
                                "run_id": remote.id,
                                "description": v.description,
                                "tags": pairs(tags.iter()),
                            }),
                        )?;
                        self.out.versions_exported += 1;
                        let n = num(&made["model_version"]["version"]).ok_or_else(|| {
                            anyhow!(
                                "{}: model-versions/create answered no version",
                                self.rest.base
                            )
                        })?;
                        (n.to_string(), "None".to_string())
                    }
                };
                let stage = crate::tracking::state::stage_name(v.stage);
                if !stage.eq_ignore_ascii_case(&stage_there) {
                    self.rest.post(
                        "model-versions/transition-stage",
                        &json!({"name": name, "version": num_there, "stage": stage, "archive_existing_versions": false}),
                    )?;
                }
                for (alias, ver) in aliases.get(name).into_iter().flatten() {
                    if *ver == v.version {
                        self.rest.post(
                            "registered-models/alias",
                            &json!({"name": name, "alias": alias, "version": num_there}),
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Where a version's files are there: under its run's artifacts when lab has them there
    /// (an MLflow-registered version), else its bundle's files uploaded to the run as
    /// `lab-models/NAME/vN/` (a version lab trained).
    fn version_source(&mut self, v: &Version) -> Result<Option<String>> {
        let run = v.run_id.clone().expect("filtered");
        let remote_uri = self.runs[&run].artifact_uri.clone();
        let root = {
            let s = self.t.state().map_err(|e| anyhow!("{e}"))?;
            format!("mlflow-artifacts:/{}", s.run_root(&run))
        };
        if let Some(rel) = v.storage.strip_prefix(&root) {
            return Ok(Some(format!("{remote_uri}{rel}")));
        }
        let bundle = match crate::models::bundle(&self.t.lab.store.blobs, &v.model) {
            Ok(b) => b,
            Err(e) => {
                self.out.warnings.push(format!(
                    "{} version {}: its model files cannot be read ({e}); not exported",
                    v.name, v.version
                ));
                return Ok(None);
            }
        };
        let dir = format!("lab-models/{}/v{}", v.name, v.version);
        let remote = Remote {
            id: self.runs[&run].id.clone(),
            artifact_uri: remote_uri.clone(),
        };
        for (file, h) in &bundle.files {
            let data = self.t.lab.store.blobs.get(h)?;
            self.upload(&remote, &format!("{dir}/{file}"), &data)?;
        }
        Ok(Some(format!("{remote_uri}/{dir}")))
    }
}
