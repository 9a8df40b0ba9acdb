//! `lab import mlflow`: a `Source` (a server over REST, or an `mlruns` directory) read run by
//! run into `crate::tracking`, which appends each run's events in one go. A run lab already
//! has (its MLflow id, or a `lab.run_id` tag naming a lab run) is skipped, so importing again
//! appends nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::{mlruns::Mlruns, rest::RestSource};
use crate::lab::Lab;
use crate::tracking::{MetricIn, RunImport, Tracking};

/// An experiment of the source.
#[derive(Clone, Debug)]
pub struct ExpIn {
    pub id: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

/// A run of the source, without its metric history and artifacts.
#[derive(Clone, Debug, Default)]
pub struct RunIn {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub status: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The keys of the metrics it logged.
    pub metric_keys: Vec<String>,
    /// Where its artifacts are (the source's own form).
    pub artifact_uri: String,
}

#[derive(Clone, Debug)]
pub struct ModelIn {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub versions: Vec<VersionIn>,
}

#[derive(Clone, Debug)]
pub struct VersionIn {
    pub version: u32,
    pub source: String,
    pub run_id: Option<String>,
    pub stage: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
}

/// Where MLflow data comes from.
pub trait Source {
    fn experiments(&self) -> Result<Vec<ExpIn>>;
    fn runs(&self, exp: &ExpIn) -> Result<Vec<RunIn>>;
    /// Every point of every metric of the run.
    fn history(&self, run: &RunIn) -> Result<Vec<MetricIn>>;
    /// Each artifact file: its path under the run's artifact root and its bytes.
    fn artifacts(
        &self,
        run: &RunIn,
        each: &mut dyn FnMut(&str, Vec<u8>) -> Result<()>,
    ) -> Result<()>;
    fn models(&self) -> Result<Vec<ModelIn>>;
}

#[derive(Debug, Default, Serialize)]
pub struct ImportOut {
    pub from: String,
    pub experiments: usize,
    pub runs_imported: usize,
    pub runs_skipped: usize,
    pub metric_points: usize,
    pub artifacts: usize,
    pub models: usize,
    pub versions_imported: usize,
    pub versions_skipped: usize,
    /// What could not be brought over, said per item.
    pub warnings: Vec<String>,
    pub events_appended: u64,
    pub seconds: f64,
}

impl ImportOut {
    pub fn text(&self) -> String {
        let mut s = format!(
            "imported from {}: {} runs ({} already in lab), {} metric points, {} artifacts, {} model versions ({} already in lab) in {} experiments; {} events appended in {:.1} s",
            self.from,
            self.runs_imported,
            self.runs_skipped,
            self.metric_points,
            self.artifacts,
            self.versions_imported,
            self.versions_skipped,
            self.experiments,
            self.events_appended,
            self.seconds
        );
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}"));
        }
        s
    }
}

/// Opens `uri` as a source: `http://…` (a server), `sqlite:…` (refused, with what to do
/// instead), `file:…` or a path (an mlruns directory).
fn open_source(uri: &str) -> Result<Box<dyn Source>> {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return Ok(Box::new(RestSource::connect(uri)?));
    }
    if let Some(p) = uri.strip_prefix("sqlite:") {
        let path = p.trim_start_matches("///").trim_start_matches("//");
        bail!(
            "{uri}: lab does not read MLflow's SQLite store directly; serve it and import over REST:\n  \
             mlflow server --backend-store-uri sqlite:///{path} --host 127.0.0.1 --port 5000 &\n  \
             lab import mlflow --from http://127.0.0.1:5000"
        );
    }
    if uri.contains("://") && !uri.starts_with("file:") {
        bail!(
            "{uri}: not a source lab can import from; use http://HOST:PORT (a running `mlflow server`), \
             an mlruns directory, or file:///path/to/mlruns"
        );
    }
    let path = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("file:"))
        .unwrap_or(uri);
    Ok(Box::new(Mlruns::open(Path::new(path))?))
}

/// `lab import mlflow --from URI [--experiment NAME]…`.
pub fn import(lab: Lab, from: &str, only: &[String]) -> Result<ImportOut> {
    let started = std::time::Instant::now();
    let src = open_source(from)?;
    let t = Tracking::open(lab)?;
    let seq0 = t.state().map_err(|e| anyhow!("{e}"))?.seq;
    let mut out = ImportOut {
        from: from.to_string(),
        ..Default::default()
    };
    let exps = src.experiments()?;
    for want in only {
        if !exps.iter().any(|e| &e.name == want) {
            bail!(
                "{from} has no experiment named '{want}' (it has: {})",
                exps.iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let tr = |e: crate::tracking::TrackingError| anyhow!("{e}");
    for exp in exps
        .iter()
        .filter(|e| only.is_empty() || only.contains(&e.name))
    {
        let runs = src.runs(exp)?;
        out.experiments += 1;
        let lab_exp = t
            .ensure_experiment(&exp.name, exp.tags.clone())
            .map_err(tr)
            .with_context(|| format!("experiment '{}'", exp.name))?;
        for run in runs {
            if t.has_run(&run.id, &run.tags).map_err(tr)? {
                out.runs_skipped += 1;
                continue;
            }
            let metrics = src
                .history(&run)
                .with_context(|| format!("the metrics of run {} ({})", run.id, run.name))?;
            let mut artifacts = Vec::new();
            src.artifacts(&run, &mut |path, data| {
                let hash = t.lab.store.blobs.put(&data)?;
                artifacts.push((path.to_string(), hash, data.len() as u64));
                Ok(())
            })
            .with_context(|| format!("the artifacts of run {} ({})", run.id, run.name))?;
            let points = metrics.len();
            let n_art = artifacts.len();
            let added = t
                .import_run(RunImport {
                    id: run.id.clone(),
                    experiment_id: lab_exp.clone(),
                    name: run.name.clone(),
                    user_id: run.user_id.clone(),
                    status: run.status.clone(),
                    start_ms: run.start_ms,
                    end_ms: run.end_ms,
                    params: run.params.clone(),
                    tags: run.tags.clone(),
                    metrics,
                    artifacts,
                    deleted: false,
                })
                .map_err(tr)
                .with_context(|| format!("run {} ({})", run.id, run.name))?;
            if added {
                out.runs_imported += 1;
                out.metric_points += points;
                out.artifacts += n_art;
            } else {
                out.runs_skipped += 1;
            }
        }
    }
    import_models(&t, src.as_ref(), !only.is_empty(), &mut out)?;
    out.events_appended = t.state().map_err(tr)?.seq - seq0;
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The registered models: a version is imported once (lab's copy carries the tag
/// `lab.source_version`); its stage and aliases are brought up to date.
fn import_models(
    t: &Tracking,
    src: &dyn Source,
    filtered: bool,
    out: &mut ImportOut,
) -> Result<()> {
    let tr = |e: crate::tracking::TrackingError| anyhow!("{e}");
    for m in src.models()? {
        let mut versions = m.versions.clone();
        versions.sort_by_key(|v| v.version);
        if filtered {
            // With --experiment, only the versions of runs lab now has.
            let s = t.state().map_err(tr)?;
            versions.retain(|v| v.run_id.as_ref().is_some_and(|r| s.runs.contains_key(r)));
            if versions.is_empty() {
                continue;
            }
        }
        out.models += 1;
        if t.get_registered_model(&m.name).is_err() {
            t.create_registered_model(&m.name, m.tags.clone(), &m.description)
                .map_err(tr)
                .with_context(|| format!("registered model '{}'", m.name))?;
        }
        for v in versions {
            let have = {
                let s = t.state().map_err(tr)?;
                s.versions
                    .values()
                    .find(|x| {
                        x.name == m.name
                            && x.tags.get("lab.source_version") == Some(&v.version.to_string())
                    })
                    .map(|x| x.version)
                    // A version exported from this lab (`lab.version`) is lab's own.
                    .or_else(|| {
                        let n: u32 = v.tags.get("lab.version")?.parse().ok()?;
                        s.versions.contains_key(&(m.name.clone(), n)).then_some(n)
                    })
            };
            let n = match have {
                Some(n) => {
                    out.versions_skipped += 1;
                    n
                }
                None => {
                    let Some(source) = lab_source(&v) else {
                        out.warnings.push(format!(
                            "{} version {}: its source '{}' is outside any run's artifacts; not imported",
                            m.name, v.version, v.source
                        ));
                        continue;
                    };
                    let mut tags = v.tags.clone();
                    tags.insert("lab.source_version".into(), v.version.to_string());
                    let made = t
                        .create_version(
                            &m.name,
                            &source,
                            v.run_id.as_deref(),
                            tags,
                            &v.description,
                            None,
                        )
                        .map_err(tr)
                        .with_context(|| format!("{} version {}", m.name, v.version))?;
                    out.versions_imported += 1;
                    made.version
                }
            };
            let (stage, aliases) = {
                let s = t.state().map_err(tr)?;
                let cur = s.versions.get(&(m.name.clone(), n)).map(|x| x.stage);
                (
                    cur.map(crate::tracking::state::stage_name),
                    s.aliases.get(&m.name).cloned().unwrap_or_default(),
                )
            };
            if !v.stage.is_empty() && stage.is_some_and(|st| !st.eq_ignore_ascii_case(&v.stage)) {
                t.transition_stage(&m.name, &n.to_string(), &v.stage, false)
                    .map_err(tr)
                    .with_context(|| {
                        format!("{} version {}: stage {}", m.name, v.version, v.stage)
                    })?;
            }
            for a in &v.aliases {
                if aliases.get(a) != Some(&n) {
                    t.set_alias(&m.name, a, &n.to_string())
                        .map_err(tr)
                        .with_context(|| format!("{}@{a}", m.name))?;
                }
            }
        }
    }
    Ok(())
}

/// A version's source as lab resolves it: run artifacts become `runs:/RUN/PATH` (the
/// experiment part of a path differs between stores); `None` for a local path elsewhere.
fn lab_source(v: &VersionIn) -> Option<String> {
    if let Some(run) = &v.run_id {
        let marker = format!("/{run}/artifacts");
        if let Some(i) = v.source.find(&marker) {
            let rest = v.source[i + marker.len()..].trim_matches('/');
            return Some(format!("runs:/{run}/{rest}"));
        }
    }
    let local = v.source.starts_with("file:") || v.source.starts_with('/');
    if local { None } else { Some(v.source.clone()) }
}
