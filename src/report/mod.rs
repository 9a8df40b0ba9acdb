//! HTML + PNG reports (`lab report`): what the log knows about runs, evaluations and replays,
//! gathered from the store ([`collect`]) and written as static files ([`write`]):
//!
//! ```text
//! reports/index.html             runs table, model comparisons, replay verdicts
//! reports/compare/NN-….png       one bar chart per (snapshot, split) and metric
//! reports/curves/RECIPE.png      validation curves of a recipe's runs overlaid
//! reports/deployments.png        what each environment served per task over time
//! reports/runs/<run-id>.html     one page per run: params, inputs/outputs, metrics, charts
//! reports/runs/<run-id>/*.png    its training curves
//! ```
//!
//! Pages link to each other relatively, carry their CSS inline and load nothing else, so the
//! folder works offline and can be copied anywhere. Every file is written to a temporary name
//! in its folder and renamed, so a killed `lab report` never leaves a half-written file; the
//! index is written last. Reports are derived data: regenerate them at any time.

mod backend;
pub mod bars;
pub mod charts;
mod collect;
mod deploys;
pub mod html;
mod ops;
mod plan;

pub use collect::collect;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::event::{Hash, MetricPoint, ReplayVerdict, RunId, RunStatus};
use crate::store::{RunRow, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the log or the views failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or folder of the report could not be written.
    #[error(
        "cannot write {path}: {source} — check that the reports folder (lab.toml [paths] reports) is writable"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// plotters failed to draw a chart.
    #[error("cannot draw the chart {path}: {source}")]
    Chart {
        path: PathBuf,
        source: charts::ChartError,
    },
}

/// A run to report on, with its status as people should see it.
#[derive(Clone, Debug)]
pub struct RunIn {
    pub row: RunRow,
    pub status: RunStatus,
    pub duration_s: Option<f64>,
}

/// What to report on.
pub struct Request<'a> {
    /// The project's name (lab.toml `project.name`).
    pub project: &'a str,
    /// The reports folder (existing run pages there are linked to).
    pub dir: &'a Path,
    /// The runs in scope, in the order the index lists them.
    pub runs: Vec<RunIn>,
    /// Every run, to know which run made which model.
    pub all_runs: &'a [RunRow],
    /// Everything (`true`), or only what concerns `runs`.
    pub all: bool,
    /// How the scope reads on the index (`all runs`, `run 3f2a… (ocr_teacher)`).
    pub scope: String,
}

/// One run with its metric series.
#[derive(Clone, Debug)]
pub struct RunData {
    pub run: RunIn,
    /// Every metric key the run logged → its points by step.
    pub series: BTreeMap<String, Vec<MetricPoint>>,
}

/// The latest evaluation of one model on one (snapshot, split).
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub seq: u64,
    pub time_ns: i64,
    pub model: String,
    pub model_hash: Hash,
    /// The run that made the model, when known.
    pub run: Option<RunId>,
    /// Metric name (without the split) → value.
    pub metrics: BTreeMap<String, f64>,
}

/// Models evaluated on the same snapshot and split, best accuracy first.
#[derive(Clone, Debug)]
pub struct Group {
    pub dataset: Hash,
    /// `NAME@V` of the snapshot, or its short hash when no snapshot event names it.
    pub dataset_label: String,
    pub split: String,
    pub evals: Vec<Evaluation>,
}

/// One `ReplayVerified` event.
#[derive(Clone, Debug)]
pub struct Replay {
    pub seq: u64,
    pub time_ns: i64,
    pub run: RunId,
    pub expected: Hash,
    pub actual: Option<Hash>,
    pub verdict: ReplayVerdict,
}

/// Everything a report shows.
#[derive(Clone, Debug)]
pub struct Report {
    pub project: String,
    pub scope: String,
    pub lab_version: String,
    pub generated_ns: i64,
    /// The log's last sequence number when the report was gathered.
    pub head_seq: u64,
    pub runs: Vec<RunData>,
    pub groups: Vec<Group>,
    pub replays: Vec<Replay>,
    /// Every deployment event, oldest first (all of them, whatever the scope).
    pub deployments: Vec<deploys::DeployEvent>,
    /// Model name (`NAME@N`) → the run that made it.
    pub producers: BTreeMap<String, RunId>,
    /// Runs whose page this report writes or an earlier one wrote.
    pub pages: BTreeSet<RunId>,
    /// What each environment serves now (one model per task).
    pub serving: Vec<crate::models::Served>,
    /// The task of each deployed `NAME@N`.
    pub tasks: BTreeMap<String, crate::deploy::Task>,
    /// Every A/B test.
    pub ab: Vec<crate::store::AbRow>,
    /// Every drift check, oldest first.
    pub drift: Vec<ops::DriftCheck>,
    /// Every alert, open and resolved.
    pub alerts: Vec<crate::store::AlertRow>,
}

impl Report {
    /// Whether a page for run `id` exists once this report is written.
    pub fn has_page(&self, id: &str) -> bool {
        self.pages.contains(id)
    }
}

/// A name safe as a file name: ASCII letters, digits, `-` and `_` kept, anything else `_`; a
/// name that had to change gets a short hash of the original so two names never collide.
pub fn file_stem(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if clean == name && !clean.is_empty() {
        clean
    } else {
        format!("{clean}-{}", &Hash::of(name.as_bytes()).to_hex()[..8])
    }
}

/// The files of one run page.
#[derive(Clone, Debug, Default)]
pub struct RunFiles {
    /// Chart paths relative to the run page's folder (`<id>/loss.png`).
    pub charts: Vec<String>,
}

/// What [`write`] wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Written {
    pub index: PathBuf,
    /// Every file written, index last.
    pub files: Vec<PathBuf>,
    pub run_pages: usize,
    pub charts: usize,
}

/// Writes `path` whole or not at all: a temp file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(err)
}

/// Removes temp files a killed `lab report` left in `dir` (`.NAME.tmp-PID`).
fn sweep_tmp(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        // Only a dead writer's: another `lab report` may be writing right now.
        let Some((_, pid)) = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp-")) else {
            continue;
        };
        let dead = pid
            .parse::<u32>()
            .map_or(true, |p| crate::process::process_start(p).is_none());
        if dead {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn mkdir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes the report under `dir`: run pages and their charts, comparison charts, then the
/// index. Returns what was written.
pub fn write(dir: &Path, report: &Report) -> Result<Written, ReportError> {
    let runs_dir = dir.join("runs");
    let cmp_dir = dir.join("compare");
    for d in [dir, &runs_dir, &cmp_dir] {
        mkdir(d)?;
        sweep_tmp(d);
    }

    // Run pages, in parallel: each draws and writes its own files.
    let per_run: Vec<Vec<PathBuf>> = report
        .runs
        .par_iter()
        .map(|r| -> Result<Vec<PathBuf>, ReportError> {
            let stem = file_stem(&r.run.row.id);
            let charts = plan::run_charts(r);
            let mut files = Vec::new();
            let mut rel = Vec::new();
            if !charts.is_empty() {
                let cdir = runs_dir.join(&stem);
                mkdir(&cdir)?;
                sweep_tmp(&cdir);
                for (name, chart) in charts {
                    let path = cdir.join(&name);
                    let png = charts::line_chart(&chart, charts::LINE_SIZE).map_err(|source| {
                        ReportError::Chart {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    write_atomic(&path, &png)?;
                    rel.push(format!("{stem}/{name}"));
                    files.push(path);
                }
            }
            let page = html::run_page(report, r, &RunFiles { charts: rel });
            let path = dir.join(html::run_href(&r.run.row.id));
            write_atomic(&path, page.as_bytes())?;
            files.push(path);
            Ok(files)
        })
        .collect::<Result<_, _>>()?;

    let per_group: Vec<(usize, Vec<String>, Vec<PathBuf>)> = report
        .groups
        .par_iter()
        .enumerate()
        .map(|(i, g)| -> Result<_, ReportError> {
            let mut rel = Vec::new();
            let mut files = Vec::new();
            for (name, chart) in plan::group_charts(i, g) {
                let path = cmp_dir.join(&name);
                let png = bars::bar_chart(&chart).map_err(|source| ReportError::Chart {
                    path: path.clone(),
                    source,
                })?;
                write_atomic(&path, &png)?;
                rel.push(format!("compare/{name}"));
                files.push(path);
            }
            Ok((i, rel, files))
        })
        .collect::<Result<_, _>>()?;

    let mut files: Vec<PathBuf> = per_run.into_iter().flatten().collect();
    let run_pages = report.runs.len();
    let mut comparisons = Vec::new();
    for (i, rel, f) in per_group {
        comparisons.push((i, rel));
        files.extend(f);
    }
    let curves_dir = dir.join("curves");
    let mut curves = Vec::new();
    for (name, chart) in ops::recipe_charts(&report.runs) {
        mkdir(&curves_dir)?;
        let path = curves_dir.join(&name);
        let png =
            charts::line_chart(&chart, charts::LINE_SIZE).map_err(|source| ReportError::Chart {
                path: path.clone(),
                source,
            })?;
        write_atomic(&path, &png)?;
        curves.push(format!("curves/{name}"));
        files.push(path);
    }
    let deploy_chart = match deploys::chart(report) {
        Some(chart) => {
            let path = dir.join("deployments.png");
            let png = charts::line_chart(&chart, charts::LINE_SIZE).map_err(|source| {
                ReportError::Chart {
                    path: path.clone(),
                    source,
                }
            })?;
            write_atomic(&path, &png)?;
            files.push(path);
            Some("deployments.png".to_string())
        }
        None => None,
    };
    let charts = files.len() - run_pages;
    let index = dir.join("index.html");
    let page = html::index(report, &comparisons, &curves, deploy_chart.as_deref());
    write_atomic(&index, page.as_bytes())?;
    files.push(index.clone());
    Ok(Written {
        index,
        files,
        run_pages,
        charts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe_and_distinct() {
        assert_eq!(file_stem("3f2a9c"), "3f2a9c");
        let a = file_stem("../x");
        let b = file_stem(".._x");
        assert!(!a.contains('/') && !a.contains('.'), "{a}");
        assert_ne!(a, b);
        assert_ne!(file_stem(""), "");
    }

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("lab-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.html");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::write(dir.join(".a.html.tmp-4294967295"), b"half").unwrap();
        let mine = dir.join(format!(".b.html.tmp-{}", std::process::id()));
        std::fs::write(&mine, b"live").unwrap();
        sweep_tmp(&dir);
        assert!(mine.exists(), "a live writer's temp file stays");
        std::fs::remove_file(&mine).unwrap();
        sweep_tmp(&dir);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.html")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
