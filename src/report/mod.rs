//! HTML + PNG reports (`lab report`): what the log knows about runs, evaluations and replays,
//! gathered from the store ([`collect`]) and written as static files ([`write`]):
//!
//! ```text
//! reports/index.html             runs table, model comparisons, replay verdicts
//! reports/compare/NN-….png       one bar chart per (snapshot, split) and metric
//! reports/runs/<run-id>.html     one page per run: params, inputs/outputs, metrics, charts
//! reports/runs/<run-id>/*.png    its training curves
//! ```
//!
//! Pages link to each other relatively, carry their CSS inline and load nothing else, so the
//! folder works offline and can be copied anywhere. Every file is written to a temporary name
//! in its folder and renamed, so a killed `lab report` never leaves a half-written file; the
//! index is written last. Reports are derived data: regenerate them at any time.

mod backend;
pub mod charts;
pub mod html;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::event::{Event, Hash, MetricPoint, ReplayVerdict, RunId, RunStatus};
use crate::store::views::Query;
use crate::store::{RunRow, Store, StoreError};

use charts::{Bar, BarChart, LineChart, Mark, Series};

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
    /// Model name (`NAME@N`) → the run that made it.
    pub producers: BTreeMap<String, RunId>,
    /// Runs whose page this report writes or an earlier one wrote.
    pub pages: BTreeSet<RunId>,
}

impl Report {
    /// Whether a page for run `id` exists once this report is written.
    pub fn has_page(&self, id: &str) -> bool {
        self.pages.contains(id)
    }
}

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
        .map(|m| (m.name.clone(), m.run.clone()))
        .collect();
    let by_hash: HashMap<Hash, RunId> = models.iter().map(|m| (m.hash, m.run.clone())).collect();
    let mut labels: HashMap<Hash, String> = HashMap::new();
    for d in &datasets {
        labels
            .entry(d.manifest)
            .or_insert_with(|| format!("{}@{}", d.name, d.version));
    }

    // The latest evaluation per (model, snapshot, split), and every replay.
    let mut latest: BTreeMap<(Hash, String, String), Evaluation> = BTreeMap::new();
    let mut replays = Vec::new();
    store.scan(1, |rec| {
        let env = &rec.envelope;
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
                    if let Some((split, name)) = k.rsplit_once('.') {
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
                    latest.insert(
                        (*dataset, split.to_string(), model.clone()),
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
    Ok(Report {
        project: req.project.to_string(),
        scope: req.scope,
        lab_version: crate::lab::version().to_string(),
        generated_ns: crate::store::now_ns(),
        head_seq,
        runs,
        groups,
        replays,
        producers,
        pages,
    })
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
            .map_or(true, |p| crate::lab::process_start(p).is_none());
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

/// One chart of a run: which metric keys, drawn how.
struct RunChart {
    file: String,
    title: String,
    y_desc: String,
    keys: Vec<(&'static str, Mark)>,
    y_include: Option<(f64, f64)>,
    log_y_above: Option<f64>,
    /// Draw dense per-step series as a moving average over the pale raw values.
    smooth: bool,
}

/// The charts of a run: the known training metrics grouped (loss, validation, lr, throughput),
/// then one chart per other key (metrics of external commands).
fn run_charts(r: &RunData) -> Vec<(String, LineChart)> {
    let known: Vec<RunChart> = vec![
        RunChart {
            file: "loss".into(),
            title: "Loss".into(),
            y_desc: "loss".into(),
            keys: vec![
                ("train_loss", Mark::Line),
                ("epoch_train_loss", Mark::Dots),
                ("val_loss", Mark::Dots),
            ],
            y_include: None,
            log_y_above: Some(20.0),
            smooth: true,
        },
        RunChart {
            file: "val".into(),
            title: "Validation metrics per epoch".into(),
            y_desc: "value (0–1)".into(),
            keys: vec![
                ("val_accuracy", Mark::Dots),
                ("val_cer", Mark::Dots),
                ("val_char_f1", Mark::Dots),
            ],
            y_include: Some((0.0, 1.0)),
            log_y_above: None,
            smooth: false,
        },
        RunChart {
            file: "lr".into(),
            title: "Learning rate".into(),
            y_desc: "learning rate".into(),
            keys: vec![("lr", Mark::Line)],
            y_include: None,
            log_y_above: None,
            smooth: false,
        },
        RunChart {
            file: "throughput".into(),
            title: "Throughput".into(),
            y_desc: "samples / s".into(),
            keys: vec![("samples_per_s", Mark::Line)],
            y_include: Some((0.0, 0.0)),
            log_y_above: None,
            smooth: true,
        },
    ];
    let points = |key: &str| -> Vec<(f64, f64)> {
        r.series
            .get(key)
            .map(|s| s.iter().map(|p| (p.step as f64, p.value)).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for c in known {
        let present: Vec<&(&str, Mark)> = c
            .keys
            .iter()
            .filter(|(k, _)| r.series.contains_key(*k))
            .collect();
        if present.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        for (k, m) in present {
            used.insert(*k);
            let pts = points(k);
            // A noisy per-step series: pale raw values under a moving average.
            if *m == Mark::Line && c.smooth && pts.len() > 60 {
                let window = (pts.len() / 40).clamp(5, 200) | 1;
                series.push(Series {
                    label: format!("{k} (moving average, {window} steps)"),
                    points: charts::smooth(&pts, window),
                    mark: Mark::Line,
                });
                series.push(Series {
                    label: format!("{k} (per step)"),
                    points: pts,
                    mark: Mark::Faint,
                });
            } else {
                series.push(Series {
                    label: k.to_string(),
                    points: pts,
                    mark: *m,
                });
            }
        }
        out.push((
            format!("{}.png", c.file),
            LineChart {
                title: c.title,
                x_desc: "step".into(),
                y_desc: c.y_desc,
                series,
                y_include: c.y_include,
                log_y_above: c.log_y_above,
            },
        ));
    }
    for (i, key) in r
        .series
        .keys()
        .filter(|k| !used.contains(k.as_str()))
        .enumerate()
    {
        let pts = points(key);
        let mark = if pts.len() <= 50 {
            Mark::Dots
        } else {
            Mark::Line
        };
        out.push((
            format!("metric-{:02}-{}.png", i + 1, file_stem(key)),
            LineChart {
                title: key.clone(),
                x_desc: "step".into(),
                y_desc: key.clone(),
                series: vec![Series {
                    label: key.clone(),
                    points: pts,
                    mark,
                }],
                y_include: None,
                log_y_above: None,
            },
        ));
    }
    out
}

/// The comparison charts of one group: (file name, chart).
fn group_charts(i: usize, g: &Group) -> Vec<(String, BarChart)> {
    let stem = format!(
        "{:02}-{}-{}",
        i + 1,
        file_stem(&g.dataset_label.replace('@', "-")),
        file_stem(&g.split)
    );
    let title_of = |what: &str| format!("{what} · {} · {}", g.dataset_label, g.split);
    let specs: [(&str, &str, String, usize, Option<f64>); 3] = [
        (
            "accuracy",
            "Accuracy",
            "line accuracy (higher is better)".into(),
            3,
            Some(1.0),
        ),
        (
            "cer",
            "CER",
            "character error rate (lower is better)".into(),
            4,
            None,
        ),
        (
            "latency_p50_ms",
            "Latency p50",
            "ms per line, median (lower is better)".into(),
            2,
            None,
        ),
    ];
    let mut out = Vec::new();
    for (key, what, x_desc, decimals, x_at_least) in specs {
        let bars: Vec<Bar> = g
            .evals
            .iter()
            .filter_map(|e| {
                e.metrics.get(key).map(|v| Bar {
                    label: e.model.clone(),
                    value: *v,
                })
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        out.push((
            format!("{stem}-{}.png", file_stem(key)),
            BarChart {
                title: title_of(what),
                x_desc,
                bars,
                decimals,
                x_at_least,
            },
        ));
    }
    out
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
            let charts = run_charts(r);
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
            for (name, chart) in group_charts(i, g) {
                let path = cmp_dir.join(&name);
                let png = charts::bar_chart(&chart).map_err(|source| ReportError::Chart {
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
    let charts = files.len() - run_pages;
    let index = dir.join("index.html");
    write_atomic(&index, html::index(report, &comparisons).as_bytes())?;
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
