//! The one harness of the integration tests: a temporary lab project made by the real
//! `lab init`, and the real `lab` binary run in it with its stdout, stderr and exit code.
//!
//! Every module of the one test binary (`tests/it/main.rs`) does `use crate::common;` and
//! runs `lab` only through here: [`Project`] (or [`lab_in`] for a directory that is not a
//! project), [`lab_cmd`] for a child it drives itself. The environment of a child is cleaned
//! of what lab reads ([`LAB_ENV`]), so one test's settings never leak into another; nothing
//! here changes the test process's own environment or working directory (the tests run in
//! parallel threads of one process). Waiting is polling an observable state ([`wait_for`]);
//! a test that needs git says so loudly ([`require_git`]); permission failures are shown as
//! root too ([`lab_unprivileged`]).

#![allow(dead_code)] // each module uses a different part of the harness

pub mod server;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one `lab` process did.
#[derive(Debug)]
pub struct Out {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout exactly as written (for non-UTF-8 output).
    pub stdout_bytes: Vec<u8>,
    /// How it was invoked, for failure messages.
    pub cmd: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// The stdout lines parsed as JSON objects (one per line).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}: stdout line is not JSON ({e}): {l}", self.cmd))
            })
            .collect()
    }

    /// stdout parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}):\n{}", self.cmd, self.stdout))
    }

    /// Asserts that stderr contains every one of `parts`.
    #[track_caller]
    pub fn stderr_has(&self, parts: &[&str]) -> &Self {
        for p in parts {
            assert!(
                self.stderr.contains(p),
                "{}: stderr lacks {p:?}:\n{}",
                self.cmd,
                self.stderr
            );
        }
        self
    }

    /// Asserts that stdout contains every one of `parts`.
    #[track_caller]
    pub fn stdout_has(&self, parts: &[&str]) -> &Self {
        for p in parts {
            assert!(
                self.stdout.contains(p),
                "{}: stdout lacks {p:?}:\n{}",
                self.cmd,
                self.stdout
            );
        }
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} → exit {}\n--- stdout\n{}--- stderr\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

/// Every environment variable `lab` reads that would change what a test sees: its fault
/// hooks, the serve token, the monitor's clock, the benchmark's PyTorch settings. A child gets
/// none of them unless its test passes one ([`lab_env`]).
pub const LAB_ENV: &[&str] = &[
    "LAB_FAULT_ENOSPC_AFTER",
    "LAB_FAULT_KILL_AFTER_EPOCH",
    "LAB_FAULT_LOG_FULL",
    "LAB_SERVE_TOKEN",
    "LAB_MONITOR_NOW",
    "LAB_BENCH_NO_TORCH",
    "LAB_BENCH_PYTHON",
    "RUST_BACKTRACE",
];

/// A `lab` command in `dir` with a clean environment (no [`LAB_ENV`]), not yet run.
pub fn lab_cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lab"));
    c.current_dir(dir);
    for var in LAB_ENV {
        c.env_remove(var);
    }
    c.env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

/// Runs `lab ARGS` in `dir` with extra environment variables.
pub fn lab_env<S: AsRef<OsStr>>(dir: &Path, env: &[(&str, &str)], args: &[S]) -> Out {
    let mut c = lab_cmd(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    output(c, args)
}

/// Runs `lab ARGS` in `dir` bound by file permission bits even when the tests run as root
/// (as CI does): the child runs without the capabilities that let root read and write past
/// them (`CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`), so a mode-000 file is unreadable to it
/// and a mode-555 folder unwritable. As another user it runs as is.
pub fn lab_unprivileged<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Out {
    output(unprivileged(lab_cmd(dir)), args)
}

/// `c` with root's permission-bypassing capabilities dropped from its bounding set before
/// exec, so the exec'd program does not get them back. Spawning fails (and the test with it)
/// where they cannot be dropped.
fn unprivileged(mut c: Command) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return c;
    }
    const CAP_DAC_OVERRIDE: libc::c_ulong = 1;
    const CAP_DAC_READ_SEARCH: libc::c_ulong = 2;
    // SAFETY: the closure runs in the forked child before exec and only makes the prctl
    // system call (async-signal-safe); it allocates nothing.
    unsafe {
        c.pre_exec(|| {
            for cap in [CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH] {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    c
}

/// Runs `c` with `args`: what it did, and how it was invoked for failure messages.
fn output<S: AsRef<OsStr>>(mut c: Command, args: &[S]) -> Out {
    c.args(args);
    let cmd = format!(
        "lab {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let o = c.output().unwrap_or_else(|e| {
        panic!("cannot spawn {cmd}: {e} (a test run as root needs CAP_SETPCAP to drop privileges)")
    });
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        stdout_bytes: o.stdout,
        cmd,
    }
}

/// Runs `lab ARGS` in `dir`.
pub fn lab_in<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Out {
    lab_env(dir, &[], args)
}

/// Waits until `cond` holds, polling every 50 ms; panics with `what` after `within`.
#[track_caller]
pub fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temporary lab project, removed when dropped.
pub struct Project {
    _tmp: tempfile::TempDir,
    /// The project root (canonical).
    pub root: PathBuf,
}

impl Project {
    /// A fresh project made by `lab init` in a new temp directory.
    pub fn new() -> Project {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().canonicalize().unwrap();
        let out = lab_in(&root, &["init"]);
        assert!(out.ok(), "{out}");
        Project { _tmp: tmp, root }
    }

    /// A temp directory that is not a project (yet), for tests that set up git or the like
    /// before `lab init`.
    pub fn bare() -> Project {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().canonicalize().unwrap();
        Project { _tmp: tmp, root }
    }

    /// `root/rel`.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// `lab ARGS` in the project root.
    pub fn lab<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        lab_in(&self.root, args)
    }

    /// `lab ARGS` in the project root with extra environment variables.
    pub fn lab_env<S: AsRef<OsStr>>(&self, env: &[(&str, &str)], args: &[S]) -> Out {
        lab_env(&self.root, env, args)
    }

    /// `lab ARGS`, asserting exit 0.
    #[track_caller]
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let out = self.lab(args);
        assert!(out.ok(), "expected success:\n{out}");
        out
    }

    /// `lab ARGS`, asserting a non-zero exit, a `lab: error:` message, and that the log is
    /// exactly as it was before.
    #[track_caller]
    pub fn fails<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.fails_env(&[], args)
    }

    /// [`Project::fails`] with extra environment variables.
    #[track_caller]
    pub fn fails_env<S: AsRef<OsStr>>(&self, env: &[(&str, &str)], args: &[S]) -> Out {
        self.fails_as(|| self.lab_env(env, args))
    }

    /// [`Project::fails`] for `lab` bound by permission bits even as root
    /// ([`lab_unprivileged`]): for unreadable files and unwritable folders.
    #[track_caller]
    pub fn fails_unprivileged<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.fails_as(|| lab_unprivileged(&self.root, args))
    }

    #[track_caller]
    fn fails_as(&self, run: impl FnOnce() -> Out) -> Out {
        let before = self.log_json();
        let out = run();
        assert!(!out.ok(), "expected failure:\n{out}");
        assert!(
            out.stderr.contains("lab: error:"),
            "a failure must say why on stderr:\n{out}"
        );
        assert!(
            !out.stderr.contains("panicked"),
            "a user's mistake must not panic:\n{out}"
        );
        assert_eq!(
            before,
            self.log_json(),
            "a failed command changed the log:\n{out}"
        );
        out
    }

    /// `lab log --json` as text (newest first): equal before and after means the log is unchanged.
    pub fn log_json(&self) -> String {
        let out = self.lab(&["log", "--json"]);
        assert!(out.ok(), "{out}");
        out.stdout
    }

    /// Every event, oldest first, as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let out = self.ok(&["log", "--json"]);
        let mut v = out.json_lines();
        v.reverse();
        v
    }

    /// Writes `files` (relative path, bytes) under `root/dir`, creating folders.
    pub fn write_tree(&self, dir: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let base = self.path(dir);
        for (rel, bytes) in files {
            let p = base.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, bytes).unwrap();
        }
        base
    }

    /// Starts `lab ARGS` in the background (stdout and stderr discarded).
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Child {
        lab_cmd(&self.root)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lab")
    }
}

/// Every file under `dir` as (relative path bytes, mode bits, content), sorted.
pub fn tree(dir: &Path) -> Vec<(Vec<u8>, u32, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().as_os_str().as_bytes().to_vec();
                out.push((rel, m.permissions().mode() & 0o7777, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every file under `.lab/objects/sha256` as (hex name, content hash hex).
pub fn blobs(project: &Path) -> Vec<(String, String)> {
    let root = project.join(".lab/objects/sha256");
    let mut out = Vec::new();
    for fan in fs::read_dir(&root).unwrap() {
        let fan = fan.unwrap().path();
        for f in fs::read_dir(&fan).unwrap() {
            let f = f.unwrap().path();
            let name = format!(
                "{}{}",
                fan.file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            );
            let actual = lab::event::Hash::of(&fs::read(&f).unwrap()).to_hex();
            out.push((name, actual));
        }
    }
    out.sort();
    out
}

/// A tiny OCR teacher config on the `tt` dataset of [`Project::with_tiny_dataset`]: trains in
/// about a second, so tests can train, distil, adapt and replay for real.
pub const TINY_OCR: &str = r#"
[model]
height = 32
stem = 16
hidden = 16
layers = 1
heads = 2
ff = 32

[train]
dataset = "tt"
epochs = 2
batch_size = 32
learning_rate = 0.003
warmup_steps = 4
seed = 7
val_lines = 20
output = "ocr_teacher"
"#;

impl Project {
    /// Renders and snapshots the tiny dataset `tt@1` (8 timetables, seed 5, 4 free text lines
    /// each) in this project.
    pub fn tiny_dataset(&self) {
        self.ok(&[
            "data",
            "synth",
            "tt",
            "--seed",
            "5",
            "--count",
            "8",
            "--text-lines",
            "4",
        ]);
        self.ok(&["data", "snapshot", "datasets/tt"]);
    }

    /// A project with a tiny rendered dataset `tt@1` (8 timetables, seed 5, 4 free text lines
    /// each: 274 train and 46 val lines) and [`TINY_OCR`] as configs/ocr_teacher.toml.
    pub fn with_tiny_dataset() -> Project {
        let p = Project::new();
        p.tiny_dataset();
        fs::write(p.path("configs/ocr_teacher.toml"), TINY_OCR).unwrap();
        p
    }

    /// Where the blob named by `hash` (hex) lives.
    pub fn blob_path(&self, hash: &str) -> PathBuf {
        self.path(format!(".lab/objects/sha256/{}/{}", &hash[..2], &hash[2..]))
    }

    /// The bytes of blob `hash`.
    pub fn blob(&self, hash: &str) -> Vec<u8> {
        fs::read(self.blob_path(hash)).unwrap_or_else(|e| panic!("blob {hash}: {e}"))
    }
}

/// Overwrites a (read-only) file, as damage on disk would.
pub fn overwrite(path: &Path, bytes: &[u8]) {
    let mut perm = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    fs::set_permissions(path, perm).unwrap();
    fs::write(path, bytes).unwrap();
}

/// SHA-256 of `bytes` in hex: a blob's name.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Panics unless the git CLI runs: a test that needs git fails loudly without it, never
/// passes having checked nothing.
#[track_caller]
pub fn require_git() {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "this test needs the git CLI, which does not run here: install git"
    );
}

/// `git` in `dir` with a fixed identity and settings, the environment's repository variables
/// removed.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.args([
        "-c",
        "user.name=Lab Test",
        "-c",
        "user.email=lab@example.com",
    ])
    .args([
        "-c",
        "commit.gpgsign=false",
        "-c",
        "init.defaultBranch=main",
    ])
    .current_dir(dir)
    .env_remove("GIT_DIR")
    .env_remove("GIT_WORK_TREE");
    c
}

/// A document model small enough to train in seconds on `tt` (output `doc_base`).
pub const TINY_DOC: &str = r#"
[doc]
hidden_size = 16
intermediate_size = 32
num_hidden_layers = 1
num_attention_heads = 2
num_key_value_heads = 1
vocab_size = 300
max_position_embeddings = 128

[noise]
rate = 0.1

[train]
dataset = "tt"
epochs = 1
batch_size = 16
learning_rate = 0.003
warmup_steps = 5
val_lines = 20
output = "doc_base"
"#;
