//! `lab bench store`: the store's speed against baselines measured in the same run.
//!
//! It generates a data set of deterministic bytes (ChaCha8, fixed seed, one stream per file),
//! makes a fresh project (`lab init`, plus `git init` so that an enclosing repository is not
//! scanned), warms the page cache, and then measures:
//!
//! - `sha256sum` over every file (the real command, fed 1,000 paths per call like `xargs`):
//!   the baseline of the first snapshot;
//! - the first `lab data snapshot` (blob store copy and both flushes included) and the
//!   re-snapshot of the unchanged tree, by spawning this very binary as a user would (process
//!   start included);
//! - 100,000 small events appended in batches of 1,000, in-process through `Store::append`:
//!   drift checks (which only the log holds; the target), then one-point metric events (which
//!   two views fold too); and small events one per durable commit;
//! - metric points logged in batches of 1,000 and read back as one series, in-process;
//! - the same million points from 8 threads at once, each into its own run, through one
//!   store: concurrent appends are committed together (`store::group`).
//!
//! The hashes `sha256sum` printed are checked against the snapshot's manifest, so the bench
//! also proves the snapshot right. dvc and MLflow are measured when installed (`dvc` on the
//! PATH; a Python with `mlflow`, `LAB_MLFLOW_PYTHON` or `python3`), else quoted and marked so;
//! only `sha256sum` is measured here. `--scale-down N` divides the file count and the large
//! files' size; event and point counts stay. With `--dir`, the data and the throwaway project
//! live there (pick the file system) and the data is kept and reused by the next run.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

use crate::event::{Event, MetricBatch, MetricPoint, human_bytes};
use crate::lab::Lab;
use crate::project::Project;
use dataset::{Shape, TempDir, create_cost, prepare_data, sha256sum, warm};

mod dataset;
pub mod doc;
pub mod layout;
pub mod ops;
mod peers;
mod torch;
pub mod train;
mod train_spec;
mod train_table;

const EVENTS: u64 = 100_000;
const POINTS: u64 = 1_000_000;
const BATCH: u64 = 1_000;
/// Concurrent writers of the group-commit measurement (the "8 client connections").
const WRITERS: u64 = 8;

/// One line of the result table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub measurement: String,
    /// lab's figure, in `unit`.
    pub lab: f64,
    /// `s` (less is better) or a rate such as `points/s` (more is better).
    pub unit: &'static str,
    /// The baseline's figure in the same unit, when there is one.
    pub baseline: Option<f64>,
    /// What the baseline is, and whether it was measured here or quoted.
    pub baseline_source: String,
    /// How many times better lab is than the baseline (> 1 is better).
    pub ratio: Option<f64>,
    pub target: &'static str,
    /// None for a line that only reports.
    pub pass: Option<bool>,
}

impl Row {
    fn new(measurement: String, lab: f64, unit: &'static str) -> Row {
        Row {
            measurement,
            lab,
            unit,
            baseline: None,
            baseline_source: String::new(),
            ratio: None,
            target: "report",
            pass: None,
        }
    }

    fn baseline(mut self, value: f64, source: impl Into<String>) -> Row {
        self.baseline = Some(value);
        self.baseline_source = source.into();
        self.ratio = Some(if self.unit == "s" {
            value / self.lab
        } else {
            self.lab / value
        });
        self
    }

    fn target(mut self, target: &'static str, pass: bool) -> Row {
        self.target = target;
        self.pass = Some(pass);
        self
    }
}

/// What `lab bench store --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scale_down: u32,
    pub files: u64,
    pub bytes: u64,
    /// Microseconds to create one empty file beside the project, measured before the first
    /// snapshot (which creates one blob file per data file): context for its figure.
    pub create_us: f64,
    pub rows: Vec<Row>,
    /// Every target met.
    pub pass: bool,
}

/// Runs the store benchmark and prints its table (or one JSON object).
/// Runs the store benchmark and prints it; `Ok(false)` when a target was missed.
pub fn store(dir: Option<&Path>, scale_down: u32, json: bool) -> Result<bool> {
    let scale = u64::from(scale_down.max(1));
    let shape = Shape::at(scale);
    let note = |m: &str| {
        if !json {
            eprintln!("{m}");
        }
    };
    let parent = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let (data, files) = prepare_data(dir, &shape, &note)?;
    let tree = data.path.join("tree");
    let proj = TempDir::new_in(&parent, "project")?;
    let exe = std::env::current_exe().context("cannot find the lab binary")?;
    lab_cmd(&exe, &proj.path, &["init", "."])?;
    let _ = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&proj.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let create_us = create_cost(&proj.path.join("probe"))?;
    warm(&files)?;
    // Write the generated data back now, so that the snapshot's flush does not pay for the
    // generator's writes; then wait out the racily-clean window (files changed in the last
    // 100 ms do not enter the stat cache).
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_secs(1));

    note("sha256sum over every file (baseline)");
    let (sha_time, sha_out) = sha256sum(&tree, &files)?;
    let root = tree.to_string_lossy().into_owned();
    let snap = ["data", "snapshot", root.as_str(), "--name", "bench"];
    note("first lab data snapshot");
    let t = Instant::now();
    let first = lab_cmd(&exe, &proj.path, &snap)?;
    let first_time = t.elapsed().as_secs_f64();
    ensure!(
        first["hashed_files"].as_u64() == Some(files.len() as u64),
        "the first snapshot read {} of {} files",
        first["hashed_files"],
        files.len()
    );
    note("re-snapshots of the unchanged tree");
    let mut again = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = lab_cmd(&exe, &proj.path, &snap)?;
        again.push(t.elapsed().as_secs_f64());
        ensure!(
            out["unchanged"] == true && out["hashed_files"] == 0,
            "the re-snapshot of an unchanged tree read files again: {out}"
        );
    }
    let again_time = median(&mut again);

    let lab = Lab::open_project(Project::open(&proj.path)?, "bench")?;
    check_manifest(&lab, &tree, &sha_out)?;
    note("event appends");
    let (batched, metric_events, single) = bench_events(&lab)?;
    note("metric points in and out");
    let (points_in, points_out) = bench_metrics(&lab)?;
    note("metric points from 8 writers at once");
    let concurrent_in = bench_writers(&lab, WRITERS)?;
    drop(lab);
    note("baselines: dvc and mlflow, where installed");
    let dvc = match peers::dvc_readd(&tree) {
        Some(s) => (s, "dvc add, measured here".to_string()),
        None => {
            note("dvc is not installed here: its figure is quoted");
            (2.5, "dvc add, quoted".to_string())
        }
    };
    let mlflow_n = 20_000 / scale.clamp(1, 10);
    let mlflow = match peers::mlflow_points(mlflow_n) {
        Some((i, o)) => {
            note(&format!("MLflow measured with {} points", int(mlflow_n)));
            (i, o, "MLflow + SQLite, measured here".to_string())
        }
        None => {
            note("no Python with mlflow (set LAB_MLFLOW_PYTHON): its figures are quoted");
            (
                4_054.0,
                11_800.0,
                "MLflow 3.17 + SQLite, quoted".to_string(),
            )
        }
    };

    let rows = vec![
        Row::new("first snapshot, blob copy included".into(), first_time, "s")
            .baseline(sha_time, "sha256sum, measured here")
            .target(">= 3x", sha_time / first_time >= 3.0),
        Row::new(
            "re-snapshot, unchanged (median of 5)".into(),
            again_time,
            "s",
        )
        .baseline(dvc.0, dvc.1)
        .target("<= 0.15 s", again_time <= 0.15),
        Row::new(
            format!("{} small events, batches of 1,000", int(EVENTS)),
            batched,
            "events/s",
        )
        .target(">= 200,000/s", batched >= 200_000.0),
        Row::new(
            "  the same, 1-point metric events".into(),
            metric_events,
            "events/s",
        ),
        Row::new(
            "small events, one per durable commit".into(),
            single,
            "events/s",
        ),
        Row::new(
            format!("{} points in, batches of 1,000", int(POINTS)),
            points_in,
            "points/s",
        )
        .baseline(mlflow.0, mlflow.2.clone())
        .target(">= 1,000,000/s", points_in >= 1_000_000.0),
        Row::new(
            format!(
                "{} points in from {WRITERS} writers at once, batches of 1,000",
                int(POINTS)
            ),
            concurrent_in,
            "points/s",
        )
        .target(">= 1,000,000/s", concurrent_in >= 1_000_000.0),
        Row::new(
            "points out, one series (median of 3)".into(),
            points_out,
            "points/s",
        )
        .baseline(mlflow.1, mlflow.2)
        .target(">= 5,000,000/s", points_out >= 5_000_000.0),
    ];
    let report = Report {
        scale_down: scale as u32,
        files: files.len() as u64,
        bytes: shape.bytes(),
        create_us,
        pass: rows.iter().all(|r| r.pass != Some(false)),
        rows,
    };
    if json {
        serde_json::to_writer(std::io::stdout().lock(), &report)?;
        println!();
    } else {
        println!("{}", table(&report));
    }
    Ok(report.pass)
}

/// Runs `lab --json -C DIR ARGS…` and parses what it prints. Its stderr is captured (no
/// progress bars mid-table, the same work on a terminal or not) and shown if it fails.
fn lab_cmd(exe: &Path, dir: &Path, args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new(exe)
        .arg("--json")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "`lab {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`lab {}` printed no JSON", args.join(" ")))
}

/// The snapshot's manifest must hold exactly the hashes `sha256sum` printed.
fn check_manifest(lab: &Lab, root: &Path, sha: &HashMap<PathBuf, String>) -> Result<()> {
    let (_, entries) = crate::commands::data::load(lab, "bench")?;
    for e in &entries {
        let rel = Path::new(std::ffi::OsStr::from_bytes(&e.path));
        let want = sha.get(rel).with_context(|| {
            format!(
                "{} is in the manifest but not in sha256sum's output",
                rel.display()
            )
        })?;
        ensure!(
            *want == e.hash.to_hex(),
            "{}: lab says {}, sha256sum says {want}",
            root.join(rel).display(),
            e.hash
        );
    }
    ensure!(
        entries.len() == sha.len(),
        "the manifest has {} of {} files",
        entries.len(),
        sha.len()
    );
    Ok(())
}

/// Starts a run to log into; returns its id.
fn start_run(lab: &Lab, n: u64) -> Result<String> {
    let run = format!("{:032x}", 0xbe9c_0000_0000_u64 + n);
    lab.append(vec![Event::RunStarted {
        run: run.clone(),
        name: format!("bench-{n}"),
        experiment: "bench".into(),
        recipe: "bench".into(),
        params: Default::default(),
        inputs: Vec::new(),
        seed: None,
        pid: std::process::id(),
        host: crate::lab::host(),
        pid_start: crate::lab::process_start(std::process::id()).unwrap_or(0),
    }])?;
    Ok(run)
}

fn point(step: u64) -> MetricPoint {
    MetricPoint {
        step: step as i64,
        value: 1.0 / (1.0 + step as f64),
        time_ms: 1_700_000_000_000 + step as i64,
    }
}

/// Appends `n` events made by `make`, `per` to a transaction; returns events/s.
fn append_rate(lab: &Lab, n: u64, per: u64, make: impl Fn(u64) -> Event) -> Result<f64> {
    let author = lab.author()?.clone();
    let t = Instant::now();
    for b in 0..n / per {
        let batch: Vec<Event> = (0..per).map(|i| make(b * per + i)).collect();
        lab.store.append(&author, batch)?;
    }
    Ok((n / per * per) as f64 / t.elapsed().as_secs_f64())
}

/// Small events in batches of 1,000: ones only the log holds (a drift check, about 100
/// bytes), then one-point metric events (which the runs and metrics views fold too); and
/// small events one per durable commit. Returns events/s for each.
fn bench_events(lab: &Lab) -> Result<(f64, f64, f64)> {
    let drift = |i: u64| Event::DriftChecked {
        model: "ocr_student@3".into(),
        metric: "confidence".into(),
        score: (i % 1000) as f64 / 1000.0,
        threshold: 0.25,
        drifted: false,
    };
    let small = append_rate(lab, EVENTS, BATCH, drift)?;
    let run = start_run(lab, 1)?;
    let metric = |step: u64| Event::MetricsLogged {
        run: run.clone(),
        metrics: vec![MetricBatch {
            key: "loss".into(),
            points: vec![point(step)],
        }],
    };
    let metrics = append_rate(lab, EVENTS, BATCH, metric)?;
    let single = append_rate(lab, 200, 1, drift)?;
    Ok((small, metrics, single))
}

/// Metric points in batches of 1,000 into one series, then the series read back (3 times).
/// Returns points/s in and out.
fn bench_metrics(lab: &Lab) -> Result<(f64, f64)> {
    let run = start_run(lab, 2)?;
    let author = lab.author()?.clone();
    let t = Instant::now();
    for b in 0..POINTS / BATCH {
        let batch = MetricBatch {
            key: "loss".into(),
            points: (0..BATCH).map(|i| point(b * BATCH + i)).collect(),
        };
        lab.store.append(
            &author,
            vec![Event::MetricsLogged {
                run: run.clone(),
                metrics: vec![batch],
            }],
        )?;
    }
    let n = POINTS / BATCH * BATCH;
    let rate_in = n as f64 / t.elapsed().as_secs_f64();
    let mut outs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let series = lab.store.read_views(|v| v.metric_series(&run, "loss"))?;
        outs.push(n as f64 / t.elapsed().as_secs_f64());
        ensure!(
            series.len() as u64 == n,
            "read {} of {n} points back",
            series.len()
        );
        ensure!(
            series.last() == Some(&point(n - 1)),
            "the series read back is wrong"
        );
    }
    Ok((rate_in, median(&mut outs)))
}

/// `writers` threads, each logging its share of [`POINTS`] in batches of 1,000 into its own
/// run through one shared store at once (what `lab ui` does with concurrent clients). Checks
/// that every point arrived; returns the aggregate points/s.
fn bench_writers(lab: &Lab, writers: u64) -> Result<f64> {
    let runs: Vec<String> = (0..writers)
        .map(|w| start_run(lab, 10 + w))
        .collect::<Result<_>>()?;
    let author = lab.author()?.clone();
    let per = POINTS / writers / BATCH;
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                let author = &author;
                s.spawn(move || -> Result<()> {
                    for b in 0..per {
                        let batch = MetricBatch {
                            key: "loss".into(),
                            points: (0..BATCH).map(|i| point(b * BATCH + i)).collect(),
                        };
                        lab.store.append(
                            author,
                            vec![Event::MetricsLogged {
                                run: run.clone(),
                                metrics: vec![batch],
                            }],
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a writer panicked"))?)
    })?;
    let secs = t.elapsed().as_secs_f64();
    for run in &runs {
        let series = lab.store.read_views(|v| v.metric_series(run, "loss"))?;
        ensure!(
            series.len() as u64 == per * BATCH,
            "a concurrent writer's run holds {} of {} points",
            series.len(),
            per * BATCH
        );
    }
    Ok((writers * per * BATCH) as f64 / secs)
}

fn median(v: &mut [f64]) -> f64 {
    crate::stats::median(v)
}

/// An integer with thousands separators.
fn int(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn figure(x: f64, unit: &str) -> String {
    match unit {
        "s" if x < 1.0 => format!("{x:.3} s"),
        "s" => format!("{x:.2} s"),
        _ => format!("{}/s", int(x.round() as u64)),
    }
}

fn table(r: &Report) -> String {
    let mut out = format!(
        "lab bench store: {} files, {} (scale 1/{}), page cache warm; creating a file takes {:.0} µs here\n",
        int(r.files),
        human_bytes(r.bytes),
        r.scale_down,
        r.create_us
    );
    if r.create_us > 100.0 {
        out.push_str(
            "  (slow: on ext4 without a journal, file creation crawls for minutes after many files were\n   \
             deleted nearby, e.g. by a previous run; the first snapshot creates one file per blob)\n",
        );
    }
    out.push('\n');
    let mut t = crate::table::Table::new([
        "MEASUREMENT",
        "LAB",
        "BASELINE",
        "(BASELINE IS)",
        "RATIO",
        "TARGET",
        "RESULT",
    ])
    .right(&[1, 2, 4]);
    for row in &r.rows {
        let baseline = row.baseline.map_or("-".into(), |b| figure(b, row.unit));
        let ratio = row.ratio.map_or("-".into(), |x| format!("{x:.1}x"));
        let result = match row.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "-",
        };
        t.row([
            row.measurement.clone(),
            figure(row.lab, row.unit),
            baseline,
            row.baseline_source.clone(),
            ratio,
            row.target.to_string(),
            result.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str(if r.pass {
        "\n\nevery target met"
    } else {
        "\n\nsome targets missed (FAIL)"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_numbers() {
        assert_eq!(int(1_000_000), "1,000,000");
        assert_eq!(int(999), "999");
        let r = Row::new("x".into(), 0.5, "s").baseline(2.0, "b");
        assert_eq!(r.ratio, Some(4.0));
        let r = Row::new("y".into(), 8_000.0, "points/s").baseline(4_000.0, "b");
        assert_eq!(r.ratio, Some(2.0));
        assert_eq!(figure(0.1234, "s"), "0.123 s");
        assert_eq!(figure(1_234_567.4, "points/s"), "1,234,567/s");
    }
}
