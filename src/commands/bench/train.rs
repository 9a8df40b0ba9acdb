//! `lab bench train`: lab's training step (forward + backward + AdamW, as the training loop
//! runs it) and forward pass for the shipped configs — OCR teacher, OCR student (both from the
//! embedded `configs/*.toml`) and the document model (`configs/doc_base.toml`'s `[doc]`) — on
//! synthetic seeded inputs of the real shapes, beside the same architectures in PyTorch (2
//! threads) when a Python with torch is at hand (see `torch.rs`).
//!
//! Each measurement: warm-up steps untimed, then the median of several repetitions of a few
//! steps; samples/s = batch × steps / seconds. The PyTorch script runs the same schedule.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::torch::{self, Torch};
use super::{int, median};
use crate::commands::train::config::{Recipe, RecipeConfig};
use crate::ml::bench::{Bench, DocBench, OcrBench};
use crate::ml::doc::llama::LlamaConfig;
use crate::ml::ocr::OcrConfig;

const SEED: u64 = 0x7a1_be9c;
/// Classes of the OCR head (the default dataset's character set is about this size).
const OCR_VOCAB: usize = 80;
/// Training needs ≥ 0.5× PyTorch's samples/s, the forward pass ≥ 1.0× (issue 7).
const TRAIN_TARGET: f64 = 0.5;
const FORWARD_TARGET: f64 = 1.0;

/// One model to measure, as the PyTorch script reads it too.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Case {
    Ocr {
        name: String,
        height: usize,
        stem: usize,
        hidden: usize,
        layers: usize,
        heads: usize,
        ff: usize,
        vocab: usize,
        width: usize,
        target_len: usize,
        weight_decay: f64,
    },
    Doc {
        name: String,
        hidden: usize,
        intermediate: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
        vocab: usize,
        max_pos: usize,
        len: usize,
        weight_decay: f64,
    },
}

impl Case {
    fn name(&self) -> &str {
        match self {
            Case::Ocr { name, .. } | Case::Doc { name, .. } => name,
        }
    }
}

/// The measuring schedule and the cases; serialised as the PyTorch script's input.
#[derive(Debug, Serialize)]
pub struct Spec {
    pub batch: usize,
    pub warmup: usize,
    pub reps: usize,
    pub steps: usize,
    pub threads: usize,
    pub seed: u64,
    pub cases: Vec<Case>,
}

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
}

fn parse(r: Recipe) -> Result<RecipeConfig> {
    let (file, text) = r.default_config();
    toml::from_str(text).with_context(|| format!("the embedded {file} does not parse"))
}

/// The shipped configs (or tiny ones with `quick`) and the schedule.
pub fn spec(quick: bool) -> Result<Spec> {
    let mut cases = Vec::new();
    for (name, r) in [
        ("ocr_teacher", Recipe::OcrTeacher),
        ("ocr_student", Recipe::OcrDistill),
    ] {
        let c = parse(r)?;
        let m = c.model.with_context(|| format!("{name} has no [model]"))?;
        let q = |full: usize, tiny: usize| if quick { tiny } else { full };
        cases.push(Case::Ocr {
            name: name.into(),
            height: m.height,
            stem: q(m.stem, 16),
            hidden: q(m.hidden, 16),
            layers: q(m.layers, 1),
            heads: q(m.heads, 2),
            ff: q(m.ff, 32),
            vocab: q(OCR_VOCAB, 20),
            width: q(256, 32),
            target_len: q(12, 4),
            weight_decay: c.train.weight_decay,
        });
    }
    let c = parse(Recipe::DocBase)?;
    let d = c.doc.context("doc_base has no [doc]")?;
    let q = |full: usize, tiny: usize| if quick { tiny } else { full };
    cases.push(Case::Doc {
        name: "doc_base".into(),
        hidden: q(d.hidden_size, 16),
        intermediate: q(d.intermediate_size, 32),
        layers: q(d.num_hidden_layers, 1),
        heads: q(d.num_attention_heads, 2),
        kv_heads: q(d.num_key_value_heads, 2),
        vocab: q(d.vocab_size, 50),
        max_pos: d.max_position_embeddings,
        len: q(30, 10),
        weight_decay: c.train.weight_decay,
    });
    Ok(Spec {
        batch: if quick { 4 } else { 32 },
        warmup: if quick { 1 } else { 2 },
        reps: if quick { 1 } else { 5 },
        steps: if quick { 1 } else { 3 },
        threads: crate::ml::ocr_train::SHARDS,
        seed: SEED,
        cases,
    })
}

fn model(case: &Case, batch: usize) -> Result<Box<dyn Bench>> {
    Ok(match case {
        Case::Ocr {
            height,
            stem,
            hidden,
            layers,
            heads,
            ff,
            vocab,
            width,
            target_len,
            weight_decay,
            ..
        } => {
            let config = OcrConfig {
                height: *height,
                stem: *stem,
                hidden: *hidden,
                layers: *layers,
                heads: *heads,
                ff: *ff,
                vocab_size: *vocab,
            };
            Box::new(OcrBench::new(
                &config,
                batch,
                *width,
                *target_len,
                *weight_decay,
                SEED,
            )?)
        }
        Case::Doc {
            hidden,
            intermediate,
            layers,
            heads,
            kv_heads,
            vocab,
            max_pos,
            len,
            weight_decay,
            ..
        } => {
            let config: LlamaConfig = crate::commands::train::config::DocSection {
                hidden_size: *hidden,
                intermediate_size: *intermediate,
                num_hidden_layers: *layers,
                num_attention_heads: *heads,
                num_key_value_heads: *kv_heads,
                vocab_size: *vocab,
                max_position_embeddings: *max_pos,
            }
            .llama(*vocab);
            Box::new(DocBench::new(&config, batch, *len, *weight_decay, SEED)?)
        }
    })
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
pub fn train(root: &Path, quick: bool, install: bool, no_torch: bool, json: bool) -> Result<()> {
    let note = |m: &str| {
        if !json {
            eprintln!("{m}");
        }
    };
    let spec = spec(quick)?;
    let mut rows = Vec::new();
    for case in &spec.cases {
        note(&format!("lab: {}", case.name()));
        let mut m = model(case, spec.batch)?;
        let lab_train = rate(&spec, || m.train_step().map(|_| ()))?;
        let lab_forward = rate(&spec, || m.forward())?;
        rows.push(Row {
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
        });
    }
    let found = torch::find(root, install, no_torch, &note)?;
    let (comparison, torch_note, torch_version) = match found {
        Torch::Missing(why) => ("skipped", why, None),
        Torch::Found { python, version } => {
            note(&format!("PyTorch {version}: {}", python.display()));
            let out = torch::run(&python, &spec)?;
            for row in &mut rows {
                let r = &out["results"][&row.config];
                row.torch_train = r["train"].as_f64();
                row.torch_forward = r["forward"].as_f64();
                row.torch_params = r["params"].as_u64().map(|p| p as usize);
                row.train_ratio = row.torch_train.map(|t| row.lab_train / t);
                row.forward_ratio = row.torch_forward.map(|t| row.lab_forward / t);
                row.train_pass = row.train_ratio.map(|x| x >= TRAIN_TARGET);
                row.forward_pass = row.forward_ratio.map(|x| x >= FORWARD_TARGET);
            }
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
    };
    if json {
        serde_json::to_writer(std::io::stdout().lock(), &report)?;
        println!();
    } else {
        println!("{}", super::train_table::table(&report));
    }
    Ok(())
}

/// samples/s with thousands separators.
pub(super) fn sps(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        int(x.round() as u64)
    }
}
