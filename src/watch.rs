//! `lab watch`: keep the project's models up to date with its data and configs.
//!
//! A change under `datasets/` or `configs/` (inotify through the notify crate, debounced: the
//! pass starts once nothing changed for [`DEBOUNCE`]) starts one pipeline pass: `lab pipeline`
//! as a child process, which snapshots, reruns only the stages whose inputs changed (the stage
//! cache decides), evaluates and writes the report; then the models the pass made are compared
//! with the versions of the same names in production, if any, and the report is written again.
//!
//! One pass at a time: a change during a pass queues exactly one more. A failed pass is
//! reported and watching goes on. Ctrl-C (SIGINT) or SIGTERM stops cleanly: a running pass is
//! interrupted (the child gets the signal) and a run it left behind is marked killed
//! (`RunFinished` with status killed), so nothing is left "running". The pass runs in a child
//! so that a crash of a recipe cannot take the watcher down, and so that the log is only opened
//! for short moments here: `lab serve` and CLI commands use it at the same time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};

/// Quiet time after the last change before a pass starts.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// The signal that asked us to stop (0: none).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    STOP.store(sig, Ordering::SeqCst);
}

fn install_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// What a watcher reports as it goes (the CLI prints it; tests read it).
pub trait Sink {
    fn say(&self, line: &str);
}

/// What runs one pass and what follows it: given the project root, a child process to start,
/// and the work after a pass (compare with production, report), which returns lines to print.
pub struct Hooks<'a> {
    pub pass: &'a dyn Fn(&Path) -> Result<Child>,
    pub after: &'a dyn Fn(&Path) -> Result<Vec<String>>,
    /// Marks runs of dead processes killed; returns how many.
    pub reap: &'a dyn Fn(&Path) -> Result<usize>,
}

/// The file that says a watcher runs (pid), for the post-commit hook.
pub fn pid_file(lab_dir: &Path) -> PathBuf {
    lab_dir.join("watch.pid")
}

/// Whether a `lab watch` is running on this project (its pid file names a live process).
pub fn running(lab_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pid_file(lab_dir)).ok()?;
    let mut it = text.split_whitespace();
    let pid: u32 = it.next()?.parse().ok()?;
    let start: u64 = it.next()?.parse().ok()?;
    (crate::process::process_start(pid) == Some(start)).then_some(pid)
}

/// Whether a changed path is one a pass cares about: under a watched folder, not lab's own,
/// not an editor's swap, backup or probe file.
fn relevant(path: &Path, watched: &[PathBuf]) -> bool {
    watched.iter().any(|w| path.starts_with(w))
        && !path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with(".lab"))
        && !path
            .file_name()
            .map(|n| editor_temp(&n.to_string_lossy()))
            .unwrap_or(false)
}

/// Names editors write beside the file they save: vim's `.x.swp` and `4913` probe, emacs'
/// `#x#` and `.#x`, backups `x~`, `*.tmp`.
fn editor_temp(name: &str) -> bool {
    name == "4913"
        || name.ends_with('~')
        || (name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".#")
        || [".swp", ".swx", ".swo", ".tmp"]
            .iter()
            .any(|e| name.ends_with(e))
}

/// The changed paths to name, relative to `root`: those that still exist (a tool that saves
/// through a temporary file — `sed -i` writes `configs/sedXYZ` and renames it over the target —
/// leaves only the real one), else the first removed one; at most three, then a count.
fn describe(root: &Path, changed: &[PathBuf]) -> String {
    let rel = |p: &PathBuf| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut live: Vec<String> = Vec::new();
    for p in changed.iter().filter(|p| p.exists()) {
        let r = rel(p);
        if !live.contains(&r) {
            live.push(r);
        }
    }
    if live.is_empty() {
        return changed
            .first()
            .map(|p| format!("{} (removed)", rel(p)))
            .unwrap_or_default();
    }
    let n = live.len();
    live.truncate(3);
    let mut s = live.join(", ");
    if n > 3 {
        s.push_str(&format!(" and {} more", n - 3));
    }
    s
}

/// Watches `watched` under `root` until a signal; runs a pass at start and after changes.
pub fn watch(
    root: &Path,
    lab_dir: &Path,
    watched: &[PathBuf],
    hooks: &Hooks,
    sink: &dyn Sink,
) -> Result<()> {
    install_handlers();
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !matches!(ev.kind, notify::EventKind::Access(_)) {
                for p in ev.paths {
                    let _ = tx.send(p);
                }
            }
        }
    })
    .context("cannot start watching files (inotify)")?;
    for w in watched {
        std::fs::create_dir_all(w).with_context(|| format!("cannot create {}", w.display()))?;
        watcher
            .watch(w, RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", w.display()))?;
    }
    let pid = std::process::id();
    let start = crate::process::process_start(pid).unwrap_or(0);
    std::fs::write(pid_file(lab_dir), format!("{pid} {start}\n"))
        .with_context(|| format!("cannot write {}", pid_file(lab_dir).display()))?;
    let shown: Vec<String> = watched
        .iter()
        .map(|w| {
            w.strip_prefix(root)
                .unwrap_or(w)
                .to_string_lossy()
                .into_owned()
                + "/"
        })
        .collect();
    let result = run_loop(root, watched, &rx, hooks, sink, &shown.join(" and "));
    let _ = std::fs::remove_file(pid_file(lab_dir));
    drop(watcher);
    result
}

fn stopped() -> bool {
    STOP.load(Ordering::SeqCst) != 0
}

fn run_loop(
    root: &Path,
    watched: &[PathBuf],
    rx: &mpsc::Receiver<PathBuf>,
    hooks: &Hooks,
    sink: &dyn Sink,
    shown: &str,
) -> Result<()> {
    // A pass at start brings the project up to date (cached stages cost nothing).
    // The paths changed since the last pass (named once the changes settle), and whether a
    // pass is due: at start, or after changes.
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut start = true;
    // Whether the pending changes were already named (queued during a pass).
    let mut announced = false;
    let mut last_change = Instant::now();
    loop {
        if stopped() {
            sink.say("lab watch: stopped");
            return Ok(());
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(p) if relevant(&p, watched) => {
                changed.push(p);
                last_change = Instant::now();
                continue;
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let why = if start {
            "start".to_string()
        } else if changed.is_empty() || last_change.elapsed() < DEBOUNCE {
            continue;
        } else {
            let what = describe(root, &changed);
            if !announced {
                sink.say(&format!("lab watch: {what} changed"));
            }
            what
        };
        start = false;
        announced = false;
        changed.clear();
        // Changes during the pass queue exactly one more.
        let queued = pass(root, watched, rx, hooks, sink, &why)?;
        if stopped() {
            sink.say("lab watch: stopped");
            return Ok(());
        }
        if !queued.is_empty() {
            sink.say(&format!(
                "lab watch: {} changed during the pass — one more pass queued",
                describe(root, &queued)
            ));
            changed = queued;
            announced = true;
            last_change = Instant::now();
        } else {
            sink.say(&format!("lab watch: watching {shown} (Ctrl-C stops)"));
        }
    }
}

/// One pass; returns the relevant changes seen while it ran.
fn pass(
    root: &Path,
    watched: &[PathBuf],
    rx: &mpsc::Receiver<PathBuf>,
    hooks: &Hooks,
    sink: &dyn Sink,
    why: &str,
) -> Result<Vec<PathBuf>> {
    sink.say(&format!("lab watch: pass ({why})"));
    let mut queued = Vec::new();
    let mut child = match (hooks.pass)(root) {
        Ok(c) => c,
        Err(e) => {
            sink.say(&format!("lab watch: cannot start the pass: {e:#}"));
            return Ok(Vec::new());
        }
    };
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        let sig = STOP.load(Ordering::SeqCst);
        if sig != 0 {
            // Pass the signal on and wait: the child's run is reaped below.
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, sig);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if child.try_wait()?.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            break None;
        }
        while let Ok(p) = rx.try_recv() {
            if relevant(&p, watched) {
                queued.push(p);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    match (hooks.reap)(root) {
        Ok(0) => {}
        Ok(n) => sink.say(&format!(
            "lab watch: marked {n} interrupted run{} killed",
            if n == 1 { "" } else { "s" }
        )),
        Err(e) => sink.say(&format!("lab watch: cannot check for dangling runs: {e:#}")),
    }
    match status {
        None => return Ok(Vec::new()),
        Some(st) if !st.success() => {
            sink.say(&format!(
                "lab watch: the pass failed ({st}) — fix the cause; watching goes on"
            ));
        }
        Some(_) => match (hooks.after)(root) {
            Ok(lines) => {
                for l in lines {
                    sink.say(&l);
                }
            }
            Err(e) => sink.say(&format!(
                "lab watch: after the pass: {e:#} — watching goes on"
            )),
        },
    }
    Ok(queued)
}

/// Starts `lab pipeline` on `root` as a child (stdin closed, output inherited).
pub fn pipeline_child(root: &Path) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find lab's own executable")?;
    Command::new(exe)
        .arg("-C")
        .arg(root)
        .arg("pipeline")
        .stdin(Stdio::null())
        .spawn()
        .context("cannot start `lab pipeline`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temporaries_are_not_changes_and_renamed_temporaries_are_not_named() {
        let dir = tempfile::tempdir().unwrap();
        let configs = dir.path().join("configs");
        std::fs::create_dir_all(&configs).unwrap();
        let watched = vec![configs.clone()];
        for n in [
            ".ocr.toml.swp",
            "4913",
            "ocr.toml~",
            "#ocr.toml#",
            ".#ocr.toml",
        ] {
            assert!(!relevant(&configs.join(n), &watched), "{n}");
        }
        assert!(relevant(&configs.join("ocr_teacher.toml"), &watched));
        assert!(!relevant(&dir.path().join("src/x.rs"), &watched));
        // `sed -i` writes configs/sedAbC12 and renames it over configs/ocr_teacher.toml.
        std::fs::write(configs.join("ocr_teacher.toml"), "x").unwrap();
        let changed = vec![
            configs.join("sedAbC12"),
            configs.join("ocr_teacher.toml"),
            configs.join("sedAbC12"),
            configs.join("ocr_teacher.toml"),
        ];
        assert_eq!(describe(dir.path(), &changed), "configs/ocr_teacher.toml");
        assert_eq!(
            describe(dir.path(), &[configs.join("gone.toml")]),
            "configs/gone.toml (removed)"
        );
        for n in ["a", "b", "c", "d", "e"] {
            std::fs::write(configs.join(n), "x").unwrap();
        }
        let many: Vec<PathBuf> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| configs.join(n))
            .collect();
        assert_eq!(
            describe(dir.path(), &many),
            "configs/a, configs/b, configs/c and 2 more"
        );
    }
}
