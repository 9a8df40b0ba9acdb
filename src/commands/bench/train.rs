//! `lab bench train`: lab's training step (forward + backward + AdamW, as the training loop
//! runs it) and forward pass for the shipped configs — OCR teacher, OCR student (both from the
//! embedded `configs/*.toml`) and the document model (`configs/doc_base.toml`'s `[doc]`) — on
//! synthetic seeded inputs of the real shapes, beside the same architectures in PyTorch (2
//! threads) when a Python with torch is at hand (see `torch.rs`).
//!
//! Each measurement: warm-up steps untimed, then the median of several repetitions of a few
//! steps; samples/s = batch × steps / seconds. The PyTorch script runs the same schedule, one
//! config at a time right after lab's measurement of it, so that both sides of a ratio see the
//! machine in the same state.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::torch::{self, Torch};
pub use super::train_spec::{Case, Spec};
use super::train_spec::{model, spec};
use super::{int, median};

/// Training needs ≥ 0.5× PyTorch's samples/s, the forward pass ≥ 1.0× (issue 7).
const TRAIN_TARGET: f64 = 0.5;
const FORWARD_TARGET: f64 = 1.0;

/// One line of the table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub config: String,
    pub params: usize,
    /// samples/s
    pub lab_train: f64,
    pub lab_forward: f64,
    pub torch_train: Option<f64>,
    pub torch_forward: Option<f64>,
    pub torch_params: Option<usize>,
    /// lab / PyTorch (> 1: lab is faster)
    pub train_ratio: Option<f64>,
    pub forward_ratio: Option<f64>,
    pub train_pass: Option<bool>,
    pub forward_pass: Option<bool>,
}

/// What `lab bench train --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub spec: Spec,
    /// `measured` or `skipped`.
    pub comparison: &'static str,
    /// Why the comparison was skipped and how to enable it; or the Python used.
    pub torch_note: String,
    pub torch_version: Option<String>,
    pub train_target: f64,
    pub forward_target: f64,
    pub rows: Vec<Row>,
    /// Every target met (None when nothing was compared).
    pub pass: Option<bool>,
    /// The 1-minute load average before lab's measurements and after PyTorch's, and the
    /// cores: other processes' load skews the ratios (lab and PyTorch take turns per config).
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    pub cores: usize,
    /// The kernel path of this CPU (`avx512`, `avx2`, `baseline`): the same build runs at very
    /// different speeds on each, so a ratio means little without it.
    pub simd: &'static str,
}

fn load1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// samples/s of `f` (one batch per call) on the spec's schedule.
fn rate(s: &Spec, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..s.warmup {
        f()?;
    }
    let mut rates = Vec::new();
    for _ in 0..s.reps {
        let t = Instant::now();
        for _ in 0..s.steps {
            f()?;
        }
        rates.push((s.batch * s.steps) as f64 / t.elapsed().as_secs_f64());
    }
    Ok(median(&mut rates))
}

/// Runs the benchmark and prints its table (or one JSON object). `install`: make the venv
/// with torch when no Python has it; `no_torch`: skip the comparison.
/// Runs the training benchmark and prints it; `Ok(false)` when a measured comparison missed a
/// target (without PyTorch nothing is compared and nothing fails).
pub fn train(root: &Path, quick: bool, install: bool, no_torch: bool, json: bool) -> Result<bool> {
    let note = |m: &str| {
        if !json {
            eprintln!("{m}");
        }
    };
    let spec = spec(quick)?;
    let found = torch::find(root, install, no_torch, &note)?;
    if let Torch::Found { python, version } = &found {
        note(&format!("PyTorch {version}: {}", python.display()));
    }
    let load_before = load1();
    let mut rows = Vec::new();
    for case in &spec.cases {
        note(&format!("lab: {}", case.name()));
        let mut m = model(case, spec.batch)?;
        let lab_train = rate(&spec, || m.train_step().map(|_| ()))?;
        let lab_forward = rate(&spec, || m.forward())?;
        let mut row = Row {
            config: case.name().into(),
            params: m.params(),
            lab_train,
            lab_forward,
            torch_train: None,
            torch_forward: None,
            torch_params: None,
            train_ratio: None,
            forward_ratio: None,
            train_pass: None,
            forward_pass: None,
        };
        drop(m);
        // PyTorch right after lab on the same config: the speed of a shared machine drifts by
        // tens of percent over minutes, and back to back both sides see the same machine.
        if let Torch::Found { python, .. } = &found {
            note(&format!("PyTorch: {}", case.name()));
            let out = torch::run(python, &spec.only(case))?;
            let r = &out["results"][case.name()];
            row.torch_train = r["train"].as_f64();
            row.torch_forward = r["forward"].as_f64();
            row.torch_params = r["params"].as_u64().map(|p| p as usize);
            row.train_ratio = row.torch_train.map(|t| row.lab_train / t);
            row.forward_ratio = row.torch_forward.map(|t| row.lab_forward / t);
            row.train_pass = row.train_ratio.map(|x| x >= TRAIN_TARGET);
            row.forward_pass = row.forward_ratio.map(|x| x >= FORWARD_TARGET);
        }
        rows.push(row);
    }
    let (comparison, torch_note, torch_version) = match found {
        Torch::Missing(why) => ("skipped", why, None),
        Torch::Found { python, version } => {
            ("measured", python.display().to_string(), Some(version))
        }
    };
    let pass = (comparison == "measured").then(|| {
        rows.iter()
            .all(|r| r.train_pass != Some(false) && r.forward_pass != Some(false))
    });
    let report = Report {
        spec,
        comparison,
        torch_note,
        torch_version,
        train_target: TRAIN_TARGET,
        forward_target: FORWARD_TARGET,
        rows,
        pass,
        load_before,
        load_after: load1(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        simd: crate::ml::fastmath::simd_path(),
    };
    if json {
        serde_json::to_writer(std::io::stdout().lock(), &report)?;
        println!();
    } else {
        println!("{}", super::train_table::table(&report));
    }
    Ok(report.pass != Some(false))
}

/// samples/s with thousands separators.
pub(super) fn sps(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        int(x.round() as u64)
    }
}
