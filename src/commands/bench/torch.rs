//! The PyTorch side of `lab bench train`: finding a Python with torch (never a dependency of
//! lab), making one on request, and running the embedded script `bench/torch_train.py`.
//!
//! Where the Python comes from, first match wins: `LAB_BENCH_NO_TORCH=1` (or `--no-torch`)
//! skips the comparison; `LAB_BENCH_PYTHON` names an interpreter; the project's
//! `.lab/bench/venv` when it has torch; `python3` when `import torch` works there. With
//! `--torch`, when none has torch, `.lab/bench/venv` is made (`python3 -m venv`) and
//! `pip install torch` runs in it (the Linux wheel pulls several GB of CUDA packages).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::train::Spec;

const SCRIPT: &str = include_str!("../../../bench/torch_train.py");

/// How to get a comparison when it was skipped.
const HOW: &str = "run `lab bench train --torch` to make .lab/bench/venv with torch \
                   (pip install torch, several GB), or set LAB_BENCH_PYTHON to a Python that has it";

pub(super) enum Torch {
    Found {
        python: PathBuf,
        version: String,
    },
    /// Why there is no comparison, and how to get one.
    Missing(String),
}

/// torch's version under `python`, if it imports.
fn version(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The benchmark's venv: under the project around `here`, or under `here`.
pub(super) fn venv_dir(here: &Path) -> PathBuf {
    let root =
        crate::project::Project::discover(here).map_or_else(|_| here.to_path_buf(), |p| p.root);
    root.join(".lab/bench/venv")
}

pub(super) fn find(here: &Path, install: bool, skip: bool, note: &dyn Fn(&str)) -> Result<Torch> {
    if skip || std::env::var_os("LAB_BENCH_NO_TORCH").is_some_and(|v| v != "0" && !v.is_empty()) {
        return Ok(Torch::Missing(
            "turned off (--no-torch or LAB_BENCH_NO_TORCH); unset it to compare".into(),
        ));
    }
    if let Some(p) = std::env::var_os("LAB_BENCH_PYTHON") {
        let python = PathBuf::from(p);
        return Ok(match version(&python) {
            Some(version) => Torch::Found { python, version },
            None => Torch::Missing(format!(
                "LAB_BENCH_PYTHON={} cannot `import torch`",
                python.display()
            )),
        });
    }
    let venv = venv_dir(here);
    let venv_python = venv.join("bin/python");
    for python in [venv_python.clone(), PathBuf::from("python3")] {
        if let Some(version) = version(&python) {
            return Ok(Torch::Found { python, version });
        }
    }
    if !install {
        return Ok(Torch::Missing(format!(
            "no Python with torch ({} and python3 lack it); {HOW}",
            venv.display()
        )));
    }
    if !venv_python.exists() {
        note(&format!("making {} (python3 -m venv)", venv.display()));
        run_ok(
            Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .stdout(Stdio::from(std::io::stderr())),
        )
        .context("cannot make the venv (is python3 with its venv module installed?)")?;
    }
    note("pip install torch (the Linux wheel pulls several GB of CUDA packages; minutes)");
    run_ok(
        Command::new(&venv_python)
            .args(["-m", "pip", "install", "torch"])
            // pip's chatter goes to stderr: stdout holds the table or the JSON.
            .stdout(Stdio::from(std::io::stderr())),
    )
    .context("`pip install torch` failed (no network, or no wheel for this Python?)")?;
    match version(&venv_python) {
        Some(version) => Ok(Torch::Found {
            python: venv_python,
            version,
        }),
        None => bail!(
            "torch installed into {} but does not import",
            venv.display()
        ),
    }
}

fn run_ok(cmd: &mut Command) -> Result<()> {
    let status = cmd.stdin(Stdio::null()).status()?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// Runs the embedded script on `spec` under `python`; returns what it printed (JSON).
pub(super) fn run(python: &Path, spec: &Spec) -> Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    let script = dir.join("torch_train.py");
    let spec_path = dir.join("spec.json");
    std::fs::write(&script, SCRIPT)?;
    std::fs::write(&spec_path, serde_json::to_vec(spec)?)?;
    let out = Command::new(python)
        .arg(&script)
        .arg(&spec_path)
        .env("OMP_NUM_THREADS", spec.threads.to_string())
        .env("MKL_NUM_THREADS", spec.threads.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("the PyTorch script failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("the PyTorch script printed no JSON")
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("lab-bench-torch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
