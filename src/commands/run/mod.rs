//! `lab run [--dep PATH]... [--out PATH]... -- CMD ARGS`: an external command as a tracked run.
//! The command sees `LAB_RUN_ID` and `LAB_METRICS`, a file it may append JSON lines to
//! (`{"key":"loss","value":0.3,"step":7}`), which are ingested into the log while it runs.
//! Its dependencies are stored as blobs and recorded as inputs before it starts, its outputs
//! after it ends (a directory becomes a manifest blob, like a dataset snapshot); the last
//! 4 KiB of its stdout and stderr are artifacts of the run.
//!
//! lab owns the command (`child`): it runs in its own process group, dies with lab even when
//! lab is SIGKILLed, and a SIGINT/SIGTERM/SIGHUP to lab stops the whole group, ingests its
//! last metrics and records the run as killed before lab exits.

mod child;
mod tail;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::event::{DataRef, Event, Hash, RunId, RunStatus};
use crate::lab::{Lab, host, process_start, run_process_dead};
use crate::store::now_ns;
use tail::Tail;

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

/// How long a command may take to stop after lab passed it a stop signal, before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How much of the end of stdout and stderr a run keeps.
const TAIL_BYTES: usize = 4096;

/// Stores a file, or every file of a directory plus a manifest naming them, as blobs; returns
/// the hash that names the content (the file's, or the manifest's).
pub fn store_path(lab: &Lab, path: &Path) -> Result<Hash> {
    hash_path_with(path, &mut |bytes: &[u8]| Ok(lab.store.blobs.put(bytes)?))
}

/// The hash [`store_path`] gives `path`, without storing anything.
pub fn hash_path(path: &Path) -> Result<Hash> {
    hash_path_with(path, &mut |bytes: &[u8]| Ok(Hash::of(bytes)))
}

fn hash_path_with(path: &Path, put: &mut dyn FnMut(&[u8]) -> Result<Hash>) -> Result<Hash> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read it — check the path", path.display()))?;
    if meta.is_file() {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        return put(&bytes);
    }
    let mut entries = Vec::new();
    for e in walkdir::WalkDir::new(path).sort_by_file_name() {
        let e = e.with_context(|| format!("cannot walk {}", path.display()))?;
        if !e.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(e.path())
            .with_context(|| format!("cannot read {}", e.path().display()))?;
        let rel = e.path().strip_prefix(path).unwrap_or(e.path());
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::PermissionsExt;
        entries.push(crate::event::ManifestEntry {
            path: rel.as_os_str().as_bytes().to_vec(),
            size: bytes.len() as u64,
            mode: e
                .metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(0o644),
            hash: put(&bytes)?,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    put(&crate::dataset::manifest::encode(&entries))
}

/// Writes what [`store_path`] stored as `hash` back to `path`: the file, or (when `hash` names
/// a manifest of a directory) every file of it. `Err` names the blob that is missing or damaged.
pub fn restore_path(lab: &Lab, hash: &Hash, path: &Path, dir: bool) -> Result<()> {
    let bytes = lab
        .store
        .blobs
        .get(hash)
        .map_err(|e| anyhow::anyhow!("blob {} of {}: {e}", hash.short(), path.display()))?;
    let write = |p: &Path, b: &[u8]| -> Result<()> {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        std::fs::write(p, b).with_context(|| format!("cannot write {}", p.display()))
    };
    if !dir {
        return write(path, &bytes);
    }
    let entries = crate::dataset::manifest::decode(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: manifest {} unreadable ({e})",
            path.display(),
            hash.short()
        )
    })?;
    for e in entries {
        use std::os::unix::ffi::OsStrExt;
        let p = path.join(std::ffi::OsStr::from_bytes(&e.path));
        let b =
            lab.store.blobs.get(&e.hash).map_err(|err| {
                anyhow::anyhow!("blob {} of {}: {err}", e.hash.short(), p.display())
            })?;
        write(&p, &b)?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(e.mode & 0o7777));
    }
    Ok(())
}

/// Whether `hash` names a directory manifest (as [`store_path`] writes for a directory).
pub fn is_manifest(lab: &Lab, hash: &Hash) -> bool {
    lab.store
        .blobs
        .get(hash)
        .ok()
        .and_then(|b| crate::dataset::manifest::decode(&b).ok())
        .is_some()
}

fn refs(lab: &Lab, role: &str, paths: &[PathBuf]) -> Result<Vec<DataRef>> {
    paths
        .iter()
        .map(|p| {
            Ok(DataRef {
                role: role.into(),
                name: lab
                    .project
                    .display_path(&std::path::absolute(p).unwrap_or(p.clone())),
                hash: store_path(lab, p)?,
            })
        })
        .collect()
}

/// Copies a child's stream to ours, keeping its last `TAIL_BYTES`.
fn tee(
    mut from: impl std::io::Read + Send + 'static,
    mut to: impl std::io::Write + Send + 'static,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = to.write_all(&buf[..n]);
                    let _ = to.flush();
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 2 * TAIL_BYTES {
                        tail.drain(..tail.len() - TAIL_BYTES);
                    }
                }
            }
        }
        if tail.len() > TAIL_BYTES {
            tail.drain(..tail.len() - TAIL_BYTES);
        }
        tail
    })
}

/// `path` relative to the repository's work tree containing `root` (or to `root` itself outside
/// a repository), `/`-separated; `.` for the top.
pub fn repo_relative(root: &Path, path: &Path) -> String {
    let top = crate::git::hooks_dir(root)
        .map(|(_, w)| w)
        .unwrap_or_else(|| root.to_path_buf());
    let top = top.canonicalize().unwrap_or(top);
    let path = path.canonicalize().unwrap_or(path.to_path_buf());
    match path.strip_prefix(&top) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// Appends what new lines of the metrics file said: metric points, params and tags
/// (`RunUpdated`), and the artifacts they name, captured now. Returns the metric points.
fn ingest(lab: &Lab, id: &str, tail: &mut Tail, cwd: &Path) -> Result<u64> {
    let i = tail.read_new();
    if i.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::new();
    if !i.metrics.is_empty() {
        events.push(Event::MetricsLogged {
            run: id.to_string(),
            metrics: i.metrics.clone(),
        });
    }
    if !i.params.is_empty() || !i.tags.is_empty() {
        events.push(Event::RunUpdated {
            run: id.to_string(),
            params: i.params.clone(),
            tags: i.tags.clone(),
            deleted_tags: Vec::new(),
            attrs: BTreeMap::new(),
        });
    }
    for (line, path) in &i.artifacts {
        let p = cwd.join(path);
        let stored = std::fs::metadata(&p)
            .map_err(anyhow::Error::from)
            .and_then(|m| Ok((store_path(lab, &p)?, m)));
        match stored {
            Ok((hash, m)) => events.push(Event::ArtifactLogged {
                run: id.to_string(),
                path: path.trim_start_matches("./").to_string(),
                hash,
                size: if m.is_file() { m.len() } else { 0 },
            }),
            Err(e) => tail.bad(
                *line,
                &format!("artifact {} not captured: {e:#}", p.display()),
            ),
        }
    }
    if !events.is_empty() {
        lab.append(events)?;
    }
    Ok(i.points())
}

/// Runs `cmd` in `cwd` as a tracked run and waits for it. Besides the command line it records
/// what `lab replay` needs to run it again: the exact argv (`cmd.argv`, JSON), the working
/// directory and the project relative to the repository (`cmd.cwd`, `cmd.project`), which deps
/// and outs are directories (`cmd.dirs`); the commit is the run's git state.
#[allow(clippy::too_many_arguments)]
pub fn run(
    lab: &Lab,
    name: Option<&str>,
    experiment: Option<&str>,
    params: BTreeMap<String, String>,
    cwd: &Path,
    deps: &[PathBuf],
    outs: &[PathBuf],
    envs: &[String],
    cmd: &[String],
) -> Result<RunResult> {
    let abs = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            cwd.join(p)
        }
    };
    let deps: Vec<PathBuf> = deps.iter().map(abs).collect();
    let outs: Vec<PathBuf> = outs.iter().map(abs).collect();
    for o in &outs {
        // A replay or a cached stage puts outputs back by replacing them.
        crate::fence::check(
            &lab.project,
            o,
            "record as an output (to be replaced on restore)",
        )?;
    }
    let (deps, outs) = (&deps[..], &outs[..]);
    let Some((program, args)) = cmd.split_first() else {
        bail!("no command given: write `lab run -- COMMAND ARGS`");
    };
    let name = name.map(str::to_string).unwrap_or_else(|| {
        Path::new(program)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.clone())
    });
    if name.is_empty() || name.chars().any(char::is_control) {
        bail!(
            "bad run name {:?}: give a name without newlines or other control characters",
            name
        );
    }
    mark_dead_runs(lab)?;
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
    params.insert("cmd.argv".into(), serde_json::to_string(cmd)?);
    params.insert("cmd.cwd".into(), repo_relative(&lab.project.root, cwd));
    params.insert(
        "cmd.project".into(),
        repo_relative(&lab.project.root, &lab.project.root),
    );
    let dirs: Vec<String> = deps
        .iter()
        .chain(outs)
        .filter(|p| p.is_dir())
        .map(|p| lab.project.display_path(p))
        .collect();
    if !dirs.is_empty() {
        params.insert("cmd.dirs".into(), serde_json::to_string(&dirs)?);
    }
    let mut inputs = refs(lab, "dep", deps)?;
    for name in envs {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            bail!("bad --env `{name}`: name one environment variable, e.g. --env BATCH_SIZE");
        }
        let value = std::env::var_os(name).ok_or_else(|| {
            anyhow::anyhow!(
                "--env {name}: it is not set — set it (export {name}=…) or drop --env {name}"
            )
        })?;
        use std::os::unix::ffi::OsStrExt;
        inputs.push(DataRef {
            role: "env".into(),
            name: name.clone(),
            hash: lab.store.blobs.put(value.as_bytes())?,
        });
    }
    let pid = std::process::id();
    lab.append(vec![Event::RunStarted {
        run: id.clone(),
        name,
        experiment,
        recipe: "cmd".into(),
        params,
        inputs,
        seed: None,
        pid,
        host: host(),
        pid_start: process_start(pid).unwrap_or(0),
    }])?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .env("LAB_RUN_ID", &id)
        .env("LAB_METRICS", &metrics_path)
        .env("LAB_PROJECT", &lab.project.root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let owned = child::own(&mut command);
    let signals = child::catch_signals();
    let spawned = command.spawn();
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
    let out_tail = tee(child.stdout.take().expect("piped"), std::io::stdout());
    let err_tail = tee(child.stderr.take().expect("piped"), std::io::stderr());
    let mut tail = Tail::new(metrics_path);
    let mut points = 0u64;
    // A stop signal to lab: passed to the command's group; after a grace period, SIGKILL.
    let mut stopping: Option<std::time::Instant> = None;
    let status = loop {
        if let Some(sig) = child::take_signal() {
            owned.pass_on(child.id(), sig);
            stopping.get_or_insert_with(std::time::Instant::now);
        }
        if stopping.is_some_and(|t| t.elapsed() > STOP_GRACE) {
            owned.kill(child.id(), libc::SIGKILL);
        }
        let done = child.try_wait().context("waiting for the command")?;
        points += ingest(lab, &id, &mut tail, cwd)?;
        if let Some(st) = done {
            // One more read: lines written just before exit.
            points += ingest(lab, &id, &mut tail, cwd)?;
            if stopping.is_some() {
                // What the command started is stopped with it.
                owned.kill_rest(child.id());
            }
            break st;
        }
        std::thread::sleep(Duration::from_millis(if stopping.is_some() {
            20
        } else {
            200
        }));
    };
    drop(signals);
    for (name, t) in [("stdout.tail", out_tail), ("stderr.tail", err_tail)] {
        let bytes = t.join().unwrap_or_default();
        if !bytes.is_empty() {
            let hash = lab.store.blobs.put(&bytes)?;
            lab.append(vec![Event::ArtifactLogged {
                run: id.clone(),
                path: name.into(),
                hash,
                size: bytes.len() as u64,
            }])?;
        }
    }
    // Outputs are recorded for a successful command; a missing one fails the run.
    let mut outputs = Vec::new();
    let mut out_error = None;
    if status.success() {
        match refs(lab, "out", outs) {
            Ok(o) => outputs = o,
            Err(e) => out_error = Some(format!("{e:#}")),
        }
    }
    let (run_status, error) = if let Some(e) = out_error {
        (
            RunStatus::Failed,
            Some(format!("declared output missing: {e}")),
        )
    } else if status.success() {
        (RunStatus::Finished, None)
    } else {
        use std::os::unix::process::ExitStatusExt;
        let why = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "failed".into(),
        };
        // Stopped because lab itself was told to stop: killed, as a run whose lab died is.
        let st = if stopping.is_some() {
            RunStatus::Killed
        } else {
            RunStatus::Failed
        };
        (st, Some(why))
    };
    lab.append(vec![Event::RunFinished {
        run: id.clone(),
        status: run_status,
        outputs,
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
