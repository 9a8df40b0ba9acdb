//! MLflow's file store (an `mlruns` directory) as an import source: `EXP/meta.yaml`,
//! `EXP/RUN/meta.yaml`, `metrics/KEY` (lines of `timestamp value step`), `params/KEY`,
//! `tags/KEY` (keys with `/` are folders), `artifacts/`, and the registry under `models/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_norway::Value as Yaml;

use super::import::{ExpIn, ModelIn, RunIn, Source, VersionIn};
use crate::tracking::MetricIn;

pub struct Mlruns {
    root: PathBuf,
}

/// A meta.yaml as a mapping; a damaged one is an error that names it.
fn meta(path: &Path) -> Result<BTreeMap<String, Yaml>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Yaml = serde_norway::from_str(&text).map_err(|e| {
        anyhow!(
            "{} is not valid YAML ({e}); it is damaged: repair it from a backup, or move its folder out of the mlruns directory to import the rest",
            path.display()
        )
    })?;
    let Yaml::Mapping(m) = v else {
        bail!(
            "{} is not an MLflow meta.yaml (not a mapping); repair it, or move its folder out of the mlruns directory",
            path.display()
        );
    };
    Ok(m.into_iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
        .collect())
}

fn text(m: &BTreeMap<String, Yaml>, k: &str) -> Option<String> {
    match m.get(k)? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int(m: &BTreeMap<String, Yaml>, k: &str) -> Option<i64> {
    match m.get(k)? {
        Yaml::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Yaml::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Files under `dir` as `relative/key` → contents (params and tags; keys may hold `/`).
fn key_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        if !e.file_type().is_file() {
            continue;
        }
        let key = e
            .path()
            .strip_prefix(dir)
            .map_err(|e| anyhow!("{e}"))?
            .to_string_lossy()
            .replace('\\', "/");
        let v = std::fs::read_to_string(e.path())
            .with_context(|| format!("cannot read {}", e.path().display()))?;
        out.insert(key, v);
    }
    Ok(out)
}

/// MLflow's RunStatus enum as the file store writes it.
fn status(m: &BTreeMap<String, Yaml>) -> String {
    match m.get("status") {
        Some(Yaml::Number(n)) => match n.as_i64() {
            Some(1) => "RUNNING",
            Some(2) => "SCHEDULED",
            Some(4) => "FAILED",
            Some(5) => "KILLED",
            _ => "FINISHED",
        }
        .to_string(),
        Some(Yaml::String(s)) => s.to_ascii_uppercase(),
        _ => "FINISHED".into(),
    }
}

impl Mlruns {
    pub fn open(root: &Path) -> Result<Mlruns> {
        if !root.is_dir() {
            bail!(
                "{}: no such directory; give an mlruns directory (the one `mlflow ui --backend-store-uri ./mlruns` reads) or a server as http://HOST:PORT",
                root.display()
            );
        }
        let looks = root.join("0").join("meta.yaml").is_file()
            || std::fs::read_dir(root)?
                .flatten()
                .any(|e| e.path().join("meta.yaml").is_file());
        if !looks {
            bail!(
                "{}: not an MLflow mlruns directory (no EXPERIMENT/meta.yaml inside); give the folder MLflow's file store wrote (often ./mlruns)",
                root.display()
            );
        }
        Ok(Mlruns {
            root: root.to_path_buf(),
        })
    }

    fn run_dir(&self, run: &RunIn) -> PathBuf {
        // RunIn.artifact_uri holds the run's folder for this source (see `runs`).
        PathBuf::from(&run.artifact_uri)
    }
}

impl Source for Mlruns {
    fn experiments(&self) -> Result<Vec<ExpIn>> {
        let mut out = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.root)
            .with_context(|| format!("cannot read {}", self.root.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("meta.yaml").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            let m = meta(&d.join("meta.yaml"))?;
            if text(&m, "lifecycle_stage").as_deref() == Some("deleted") {
                continue;
            }
            let (Some(id), Some(name)) = (text(&m, "experiment_id"), text(&m, "name")) else {
                bail!(
                    "{}: no experiment_id or name; the file is damaged (repair it, or move the folder out)",
                    d.join("meta.yaml").display()
                );
            };
            out.push(ExpIn {
                id,
                name,
                tags: key_files(&d.join("tags"))?
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("mlflow."))
                    .collect(),
            });
        }
        Ok(out)
    }

    fn runs(&self, exp: &ExpIn) -> Result<Vec<RunIn>> {
        let dir = self.root.join(&exp.id);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
        {
            let d = e.path();
            let mp = d.join("meta.yaml");
            if !mp.is_file() {
                continue;
            }
            let m = meta(&mp)?;
            if text(&m, "lifecycle_stage").as_deref() == Some("deleted") {
                continue;
            }
            let Some(id) = text(&m, "run_id").or_else(|| text(&m, "run_uuid")) else {
                // Not a run (an MLflow 3 logged model has its own meta.yaml).
                continue;
            };
            let tags = key_files(&d.join("tags"))?;
            let mut keys: Vec<String> = key_files(&d.join("metrics"))?.into_keys().collect();
            keys.sort();
            out.push(RunIn {
                name: text(&m, "run_name")
                    .filter(|n| !n.is_empty())
                    .or_else(|| tags.get("mlflow.runName").cloned())
                    .unwrap_or_else(|| id.clone()),
                id,
                user_id: text(&m, "user_id").unwrap_or_default(),
                status: status(&m),
                start_ms: int(&m, "start_time").unwrap_or(0),
                end_ms: int(&m, "end_time"),
                params: key_files(&d.join("params"))?,
                tags,
                metric_keys: keys,
                artifact_uri: d.to_string_lossy().into_owned(),
            });
        }
        out.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
        Ok(out)
    }

    fn history(&self, run: &RunIn) -> Result<Vec<MetricIn>> {
        let mut out = Vec::new();
        for key in &run.metric_keys {
            let f = self.run_dir(run).join("metrics").join(key);
            let body = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            for (i, line) in body.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let parts: Vec<&str> = line.split_whitespace().collect();
                let bad = || {
                    anyhow!(
                        "{}:{}: '{line}' is not 'timestamp value step'; the metric file is damaged",
                        f.display(),
                        i + 1
                    )
                };
                if parts.len() < 2 {
                    return Err(bad());
                }
                out.push(MetricIn {
                    key: key.clone(),
                    timestamp: parts[0].parse().map_err(|_| bad())?,
                    value: parts[1].parse().map_err(|_| bad())?,
                    step: parts
                        .get(2)
                        .map_or(Ok(0), |s| s.parse())
                        .map_err(|_| bad())?,
                });
            }
        }
        Ok(out)
    }

    fn artifacts(
        &self,
        run: &RunIn,
        each: &mut dyn FnMut(&str, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let dir = self.run_dir(run).join("artifacts");
        if !dir.is_dir() {
            return Ok(());
        }
        for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
            let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
            if !e.file_type().is_file() {
                continue;
            }
            let rel = e
                .path()
                .strip_prefix(&dir)
                .map_err(|e| anyhow!("{e}"))?
                .to_string_lossy()
                .replace('\\', "/");
            let data = std::fs::read(e.path())
                .with_context(|| format!("cannot read {}", e.path().display()))?;
            each(&rel, data)?;
        }
        Ok(())
    }

    fn models(&self) -> Result<Vec<ModelIn>> {
        let dir = self.root.join("models");
        let mut out = Vec::new();
        if !dir.is_dir() {
            return Ok(out);
        }
        let mut mdirs: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("meta.yaml").is_file())
            .collect();
        mdirs.sort();
        for d in mdirs {
            let m = meta(&d.join("meta.yaml"))?;
            let Some(name) = text(&m, "name") else {
                continue;
            };
            let mut aliases: BTreeMap<u32, Vec<String>> = BTreeMap::new();
            for (a, v) in key_files(&d.join("aliases"))? {
                if let Ok(n) = v.trim().parse::<u32>() {
                    aliases.entry(n).or_default().push(a);
                }
            }
            let mut versions = Vec::new();
            for e in std::fs::read_dir(&d)?.flatten() {
                let vd = e.path();
                let is_version = vd
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("version-"));
                if !is_version || !vd.join("meta.yaml").is_file() {
                    continue;
                }
                let vm = meta(&vd.join("meta.yaml"))?;
                let Some(n) = int(&vm, "version") else {
                    continue;
                };
                let n = n as u32;
                versions.push(VersionIn {
                    version: n,
                    source: text(&vm, "source").unwrap_or_default(),
                    run_id: text(&vm, "run_id").filter(|r| !r.is_empty()),
                    stage: text(&vm, "current_stage").unwrap_or_else(|| "None".into()),
                    description: text(&vm, "description").unwrap_or_default(),
                    tags: key_files(&vd.join("tags"))?,
                    aliases: aliases.remove(&n).unwrap_or_default(),
                });
            }
            out.push(ModelIn {
                name,
                description: text(&m, "description").unwrap_or_default(),
                tags: key_files(&d.join("tags"))?,
                versions,
            });
        }
        Ok(out)
    }
}
