//! `lab run -- CMD ARGS`: an external command as a tracked run. The command sees `LAB_RUN_ID`
//! and `LAB_METRICS`, a file it may append JSON lines to
//! (`{"key":"loss","value":0.3,"step":7}`), which are ingested into the log while it runs.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::event::{Event, Hash, MetricBatch, MetricPoint, RunId, RunStatus};
use crate::lab::{Lab, host, process_start, run_process_dead};
use crate::store::now_ns;

/// A new run id: 32 hex digits from the host, pid, time and name (unique, not random).
pub fn new_run_id(name: &str) -> RunId {
    let seed = format!("{}\0{}\0{}\0{name}", host(), std::process::id(), now_ns());
    Hash::of(seed.as_bytes()).to_hex()[..32].to_string()
}

/// Marks runs whose process died as killed (a `RunFinished` with status killed).
/// Returns how many were marked.
pub fn mark_dead_runs(lab: &Lab) -> Result<usize> {
    let rows = lab.store.read_views(|v| v.runs_all())?;
    let dead: Vec<String> = rows
        .iter()
        .filter(|r| r.status == RunStatus::Running && run_process_dead(&r.host, r.pid, r.pid_start))
        .map(|r| r.id.clone())
        .collect();
    if dead.is_empty() {
        return Ok(0);
    }
    let (recs, _) = lab.append_with(|v| {
        use crate::store::views::Query;
        let mut evs = Vec::new();
        for id in &dead {
            // Re-check inside the transaction: another process may have marked it already.
            if let Some(r) = v.run(id)? {
                if r.status == RunStatus::Running {
                    evs.push(Event::RunFinished {
                        run: id.clone(),
                        status: RunStatus::Killed,
                        outputs: Vec::new(),
                        error: Some(format!("process {} on {} died", r.pid, r.host)),
                    });
                }
            }
        }
        Ok((evs, ()))
    })?;
    Ok(recs.len())
}

#[derive(Debug, Serialize)]
pub struct RunResult {
    pub run: RunId,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    /// The signal that killed the command, if one did.
    pub signal: Option<i32>,
    /// Why the run failed (`exit code 3`, `killed by signal 9`), if it did.
    pub error: Option<String>,
    pub points: u64,
    pub bad_lines: u64,
}

/// Parses `k=v` parameters.
pub fn parse_params(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for it in items {
        let Some((k, v)) = it.split_once('=') else {
            bail!("bad --param `{it}`: write KEY=VALUE");
        };
        out.insert(k.trim().to_string(), v.to_string());
    }
    Ok(out)
}

/// Runs `cmd` as a tracked run and waits for it.
pub fn run(
    lab: &Lab,
    name: Option<&str>,
    experiment: Option<&str>,
    params: BTreeMap<String, String>,
    cmd: &[String],
) -> Result<RunResult> {
    let Some((program, args)) = cmd.split_first() else {
        bail!("no command given: write `lab run -- COMMAND ARGS`");
    };
    mark_dead_runs(lab)?;
    let name = name.map(str::to_string).unwrap_or_else(|| {
        Path::new(program)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.clone())
    });
    let experiment = experiment
        .map(str::to_string)
        .unwrap_or_else(|| lab.project.config.project.experiment.clone());
    let id = new_run_id(&name);
    let run_dir = lab.project.lab_dir().join("runs").join(&id);
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let metrics_path = run_dir.join("metrics.jsonl");
    std::fs::write(&metrics_path, b"")
        .with_context(|| format!("cannot create {}", metrics_path.display()))?;
    let mut params = params;
    params.insert("command".into(), cmd.join(" "));
    let pid = std::process::id();
    lab.append(vec![Event::RunStarted {
        run: id.clone(),
        name,
        experiment,
        recipe: "cmd".into(),
        params,
        inputs: Vec::new(),
        seed: None,
        pid,
        host: host(),
        pid_start: process_start(pid).unwrap_or(0),
    }])?;
    let spawned = Command::new(program)
        .args(args)
        .env("LAB_RUN_ID", &id)
        .env("LAB_METRICS", &metrics_path)
        .env("LAB_PROJECT", &lab.project.root)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            lab.append(vec![Event::RunFinished {
                run: id.clone(),
                status: RunStatus::Failed,
                outputs: Vec::new(),
                error: Some(format!("cannot start `{program}`: {e}")),
            }])?;
            bail!("cannot start `{program}`: {e} — check the command name and PATH");
        }
    };
    let mut tail = Tail::new(metrics_path);
    let mut points = 0u64;
    let status = loop {
        let done = child.try_wait().context("waiting for the command")?;
        let batch = tail.read_new();
        if !batch.is_empty() {
            points += batch.iter().map(|b| b.points.len() as u64).sum::<u64>();
            lab.append(vec![Event::MetricsLogged {
                run: id.clone(),
                metrics: batch,
            }])?;
        }
        if let Some(st) = done {
            // One more read: lines written just before exit.
            let batch = tail.read_new();
            if !batch.is_empty() {
                points += batch.iter().map(|b| b.points.len() as u64).sum::<u64>();
                lab.append(vec![Event::MetricsLogged {
                    run: id.clone(),
                    metrics: batch,
                }])?;
            }
            break st;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (run_status, error) = if status.success() {
        (RunStatus::Finished, None)
    } else {
        use std::os::unix::process::ExitStatusExt;
        let why = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "failed".into(),
        };
        (RunStatus::Failed, Some(why))
    };
    lab.append(vec![Event::RunFinished {
        run: id.clone(),
        status: run_status,
        outputs: Vec::new(),
        error: error.clone(),
    }])?;
    use std::os::unix::process::ExitStatusExt;
    Ok(RunResult {
        run: id,
        status: run_status,
        exit_code: status.code(),
        signal: status.signal(),
        error,
        points,
        bad_lines: tail.bad_lines,
    })
}

/// Reads complete new lines of the metrics file.
struct Tail {
    path: PathBuf,
    offset: u64,
    line_no: u64,
    bad_lines: u64,
}

#[derive(serde::Deserialize)]
struct Line {
    key: String,
    value: f64,
    #[serde(default)]
    step: Option<i64>,
    #[serde(default)]
    timestamp: Option<i64>,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            line_no: 0,
            bad_lines: 0,
        }
    }

    fn read_new(&mut self) -> Vec<MetricBatch> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut r = std::io::BufReader::new(f);
        let mut by_key: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) if !line.ends_with('\n') => {
                    let _ = n; // an incomplete last line: read it next time
                    break;
                }
                Ok(n) => {
                    self.offset += n as u64;
                    self.line_no += 1;
                    let t = line.trim();
                    if t.is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Line>(t) {
                        Ok(l) => {
                            let v = by_key.entry(l.key).or_default();
                            let step = l.step.unwrap_or(v.len() as i64);
                            v.push(MetricPoint {
                                step,
                                value: l.value,
                                time_ms: l.timestamp.unwrap_or(now_ns() / 1_000_000),
                            });
                        }
                        Err(e) => {
                            self.bad_lines += 1;
                            eprintln!(
                                "lab: {}:{}: skipped a metrics line ({e}); write {{\"key\":\"loss\",\"value\":0.3,\"step\":7}}",
                                self.path.display(),
                                self.line_no
                            );
                        }
                    }
                }
            }
        }
        by_key
            .into_iter()
            .map(|(key, points)| MetricBatch { key, points })
            .collect()
    }
}
